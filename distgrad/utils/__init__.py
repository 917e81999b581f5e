"""`distgrad.utils`: checkpoint (recompute in backward), data (datasets, DataLoader), hooks
(the handle type hooks return), swap_tensors."""
from __future__ import annotations

from . import checkpoint, data, hooks
from .swap import swap_tensors

__all__ = ["checkpoint", "data", "hooks", "swap_tensors"]
