"""Products of float16 and bfloat16 values as torch's CPU kernel takes them: in the input's
dtype, each product rounded to it (its vectorized multiply rounds each lane too), where a
float32 product rounded once is a few ulps off torch's.

Torch's order: the reduced values in memory order, one at a time; a reduction over
contiguous memory of at least four vectors (four times twice the float32 lanes of the AVX2
build, which AVX-512 CPUs run too) keeps four vector accumulators fed a block of four
vectors at a time, multiplies them together ((a0·a1)·(a2·a3)), then their lanes left to
right, then the values left over one at a time.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .vector_sum import float32_lanes


def low_float_prod(x: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    """The product of x (float16 or bfloat16) over `axis` (an int, a tuple or None)."""
    low = x.dtype
    axes = tuple(range(x.ndim)) if axis is None else (
        (axis,) if isinstance(axis, int) else tuple(axis))
    axes = tuple(a % x.ndim for a in axes) if x.ndim else ()
    order = sorted(axes, key=lambda a: -abs(x.strides[a]))  # (memory order)
    kept = [a for a in range(x.ndim) if a not in axes]
    n = math.prod(x.shape[a] for a in axes)
    rows = np.transpose(x, kept + order).reshape(tuple(x.shape[a] for a in kept) + (n,))
    rows = rows.astype(np.float32)
    lanes = float32_lanes()
    width = 2 * lanes if lanes else 0
    if width and n >= 4 * width and _contiguous(x, order):
        out = _blocked(rows, width, low)
    else:
        out = np.ones(rows.shape[:-1], np.float32)
        for k in range(n):
            out = dtypes.rounded_in(out * rows[..., k], low)
    if keepdims:
        out = out.reshape(tuple(1 if a in axes else d for a, d in enumerate(x.shape)))
    return out.astype(low)


def _contiguous(x, order) -> bool:
    """Whether the reduced dims (in memory order) cover one run of memory."""
    step = x.itemsize
    for a in reversed(order):
        if x.shape[a] != 1 and abs(x.strides[a]) != step:
            return False
        step *= x.shape[a]
    return True


def _blocked(rows, width, low):
    block = 4 * width
    count = rows.shape[-1] // block
    acc = rows[..., :block].reshape(rows.shape[:-1] + (4, width))
    for i in range(1, count):
        part = rows[..., i * block:(i + 1) * block].reshape(acc.shape)
        acc = dtypes.rounded_in(acc * part, low)
    first = dtypes.rounded_in(acc[..., 0, :] * acc[..., 1, :], low)
    second = dtypes.rounded_in(acc[..., 2, :] * acc[..., 3, :], low)
    lanes = dtypes.rounded_in(first * second, low)
    out = lanes[..., 0]
    for j in range(1, width):
        out = dtypes.rounded_in(out * lanes[..., j], low)
    for k in range(count * block, rows.shape[-1]):
        out = dtypes.rounded_in(out * rows[..., k], low)
    return out
