"""`to_device`, the differentiable copy between devices (its VJP is the copy back:
to^T = to), and the moves that need no runtime: to and from the meta device, whose tensors
have no data (a move there copies only the metas; one out of it has nothing to copy).
Moves between the driver and workers are distgrad.distributed's (distributed/placement.py).
"""
from __future__ import annotations

import sys

import numpy as np

from . import storage
from .autograd import record
from .dtypes import from_numpy
from .ops.table import Meta, defop
from .tensor import Tensor

defop("to_device", lambda x, device: x, lambda x, device: Meta(x.shape, x.dtype),
      lambda c, g: g.to(c.devices[0]), node="ToCopyBackward0", moves=True, sharding="move")


def put(array: np.ndarray, device: str) -> Tensor:
    """A tensor on the meta device with `array`'s metas."""
    return Tensor._make(None, array.shape, from_numpy(array.dtype), device)


def move(t: Tensor, device: str) -> Tensor:
    return record.call("to_device", t, device=device)


def transfer(t: Tensor, device: str):
    """The value of `t` on `device`: none on the meta device; out of it, torch's error."""
    if not storage.holds_data(device):
        return None
    return np.array(t._numpy_value(), order="C")  # (a meta tensor's read raises)


storage.register_placement(sys.modules[__name__], device_type="meta")
