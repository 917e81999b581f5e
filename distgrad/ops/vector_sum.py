"""Sums over the last dim in the order torch's vectorized CPU kernels add (vec::reduce_all,
which its softmax and log_softmax kernels use for each row's sum): one accumulator per SIMD
lane, fed a vector at a time, the row's tail into the first lanes, then the lanes folded
pairwise (lane i with lane i ^ w, w = lanes/2 ... 1); a row shorter than a vector is added
left to right. float32 sums in another order differ from torch's in the last bits, which a
log_softmax turns into 10% of its results an ulp off torch's (0.8% in this order).

The lane count is torch's softmax kernels' on this CPU: 16 float32 lanes with AVX-512 (they
have an AVX-512 build), 8 with AVX2 (torch's ATEN_CPU_CAPABILITY may lower it); on other
CPUs numpy's order is kept.
"""
from __future__ import annotations

import functools

import numpy as np

from .cpu_features import kernel_capability

_LANES = {"avx512": 16, "avx2": 8}


@functools.lru_cache(maxsize=2)
def float32_lanes(avx512_build: bool = False) -> int | None:
    """float32 lanes of torch's kernels on this CPU (8: the AVX2 build most of them run on
    an AVX-512 CPU too; 16 there for a kernel with an AVX-512 build), or None (not an x86
    torch knows)."""
    return _LANES.get(kernel_capability(avx512_build).lower())


def last_dim_sum(x: np.ndarray) -> np.ndarray:
    """x summed over its last dim (keepdims) in torch's vectorized order; float32 only, and
    numpy's sum for other dtypes or CPUs."""
    lanes = float32_lanes(avx512_build=True)
    n = x.shape[-1] if x.ndim else 0
    if x.dtype != np.float32 or lanes is None or n == 0:
        return np.sum(x, axis=-1, keepdims=True)
    if n < lanes:
        return np.cumsum(x, axis=-1)[..., -1:]
    full = n - n % lanes
    acc = x[..., :full].reshape(x.shape[:-1] + (full // lanes, lanes)).sum(axis=-2)
    if full < n:
        acc[..., :n - full] += x[..., full:]
    return folded(acc)[..., None]


def folded(acc: np.ndarray) -> np.ndarray:
    """Lane accumulators (..., lanes) summed as vec_reduce_all folds a vector: lane i with
    lane i ^ w, w = lanes/2 ... 1; lane 0's sum."""
    lane = np.arange(acc.shape[-1])
    w = acc.shape[-1] // 2
    while w:
        acc = acc + acc[..., lane ^ w]
        w //= 2
    return acc[..., 0]


def low_float_rows_sums_of_squares(rows: np.ndarray, lanes: int) -> np.ndarray:
    """Each row's sum of squares of float16 or bfloat16 values (held as float32), in float32
    as vec::map_reduce_all adds them: two vectors of `lanes` accumulators fed 2 * lanes
    values at a time (the tail into their first lanes), added together, then folded; a row
    shorter than 2 * lanes has its values past the first vector added into its lanes, which
    are then added left to right."""
    squares = rows * rows
    n, width = rows.shape[1], 2 * lanes
    if n < width:
        acc = squares[:, :lanes].copy()
        acc[:, :max(n - lanes, 0)] += squares[:, lanes:]
        return np.cumsum(acc, axis=1)[:, -1]  # (cumsum adds in order)
    full = n - n % width
    acc = squares[:, :full].reshape(len(rows), -1, width)
    acc = np.cumsum(acc, axis=1)[:, -1]
    acc[:, :n - full] += squares[:, full:]
    return folded(acc[:, :lanes] + acc[:, lanes:])
