"""`distgrad.utils`: checkpoint (recompute in backward), data (datasets, DataLoader)."""
from __future__ import annotations

from . import checkpoint, data

__all__ = ["checkpoint", "data"]
