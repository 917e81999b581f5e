"""`distgrad.utils.hooks`: torch.utils.hooks's RemovableHandle (the type every
`register_*hook` returns) and `unserializable_hook`."""
from __future__ import annotations

from ..hook_handles import RemovableHandle, unserializable_hook

__all__ = ["RemovableHandle", "unserializable_hook"]
