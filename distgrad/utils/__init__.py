"""`distgrad.utils`: checkpoint (recompute in backward)."""
from __future__ import annotations

from . import checkpoint

__all__ = ["checkpoint"]
