"""`distgrad.utils`: checkpoint (recompute in backward), data (datasets, DataLoader), hooks
(the handle type hooks return)."""
from __future__ import annotations

from . import checkpoint, data, hooks

__all__ = ["checkpoint", "data", "hooks"]
