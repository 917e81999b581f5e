"""make_tensor, as torch.testing's: a tensor of uniform random values in [low, high)
(defaults by dtype), drawn from distgrad's default stream."""
from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np

from .. import dtypes
from ..creation import random_stream, tensor

__all__ = ["make_tensor"]


def _bounds(low, high, dtype, lowest: float, highest: float, default_low: float,
            default_high: float) -> tuple:
    low = default_low if low is None else low
    high = default_high if high is None else high
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
    if low == high and dtype.is_floating_point:
        warnings.warn("Passing `low==high` to `torch.testing.make_tensor` for floating or complex "
                      "types is deprecated since 2.1 and will be removed in 2.3. Use "
                      "`torch.full(...)` instead.", FutureWarning, stacklevel=3)
    elif low >= high:
        raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
    elif high < lowest or low >= highest:
        raise ValueError(f"The value interval specified by `low` and `high` is [{low}, {high}), "
                         f"but {dtype} only supports [{lowest}, {highest})")
    low, high = min(max(low, lowest), highest), min(max(high, lowest), highest)
    if not dtype.is_floating_point:
        return math.ceil(low), math.ceil(high)
    return low, high


def make_tensor(*shape, dtype, device, low: Optional[float] = None,
                high: Optional[float] = None, requires_grad: bool = False,
                noncontiguous: bool = False, exclude_zero: bool = False, memory_format=None):
    """Random values in [low, high): bool in [0, 2), integers in [-9, 10), floats in [-9, 9)
    unless given; `exclude_zero` replaces zeros (by 1, or the dtype's tiny for floats).

    >>> make_tensor(2, 3, dtype=distgrad.float32, device="cpu", low=-1, high=1).shape
    torch.Size([2, 3])
    """
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = tuple(int(s) for s in shape)
    if noncontiguous and memory_format is not None:
        raise ValueError("The parameters `noncontiguous` and `memory_format` are mutually "
                         f"exclusive, but got noncontiguous={noncontiguous} and "
                         f"memory_format={memory_format}")
    if requires_grad and not dtype.is_floating_point:
        raise ValueError("`requires_grad=True` is not supported for boolean and integral dtypes, "
                         f"but got dtype={dtype}")
    noncontiguous = noncontiguous and math.prod(shape) > 1
    if noncontiguous:  # twice the last dim, every other element taken below (from the 2nd)
        shape = (*shape[:-1], 2 * shape[-1])
    rng = random_stream()
    if dtype is dtypes.bool_:
        low, high = _bounds(low, high, dtype, 0, 2, 0, 2)
        values = rng.integers(low, high, shape).astype(np.bool_)
    elif not dtype.is_floating_point:
        info = np.iinfo(dtype.np)
        low, high = _bounds(low, high, dtype, info.min, info.max, -9, 10)
        values = rng.integers(low, high, shape, dtype=dtype.np)
    else:
        info = np.finfo(dtype.np)
        low, high = _bounds(low, high, dtype, float(info.min), float(info.max), -9, 9)
        values = rng.uniform(low, high, shape).astype(dtype.np)
    if exclude_zero:
        values[values == 0] = 1 if not dtype.is_floating_point else np.finfo(dtype.np).tiny
    result = tensor(values, device=device)
    if noncontiguous:
        result = result[..., 1::2]
    if dtype.is_floating_point:
        result.requires_grad = requires_grad
    return result
