"""`distgrad.testing`: assert_close and make_tensor, as torch.testing's."""
from __future__ import annotations

from .comparison import assert_close
from .creation import make_tensor

__all__ = ["assert_close", "make_tensor"]
