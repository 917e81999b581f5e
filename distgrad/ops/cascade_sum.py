"""float32 and float64 sums in the order torch's CPU sum kernel adds (ATen's SumKernel.cpp,
one thread).

torch adds neither left to right nor pairwise as numpy does: it walks the tensor in
TensorIterator's order (the reduced dims innermost, by stride; neighbouring dims merged),
and sums each stretch with a cascade: runs of `step` (16 or more) elements added one by
one, the runs' sums added `step` at a time at the next level, and so on over four levels;
a contiguous stretch of a vector or more is summed as 256-bit vectors (8 float32 lanes:
its AVX2 build, which runs on AVX-512 machines too), four vectors abreast, its lanes then
added in order after its tail; columns summed side by side (a reduction over an outer dim)
take the cascade per column. In numpy's order 70-95% of float32 sums of random values
differ from torch's in the last bit; in this order they agree (and so do mean, sum / n,
and the gradients and losses made of them).

Covers the sums of one memory-dense array (any layout) over any dims, on x86 CPUs; others
(a strided view whose elements are not one block) are summed by numpy. Every helper sums
along one axis of a C-contiguous array: numpy adds such an axis in order, slice after
slice, when the axes after it hold two elements or more (its pairwise summation runs
only along the last axis).
"""
from __future__ import annotations

import math

import numpy as np

from .vector_sum import float32_lanes

_LEVELS = 4
_ILP = 4  # rows a row sum keeps apart (torch's ilp_factor)
_VECTOR_BYTES = 32  # torch's sum kernel is not dispatched to AVX-512: its AVX2 build runs


def _sequential(a: np.ndarray, axis: int) -> np.ndarray:
    """a summed along `axis`, one slice after another from zero (+ 0 makes a sum of -0.0s
    +0.0, as torch's zeroed accumulators do)."""
    zero = a.dtype.type(0)
    n = a.shape[axis]
    if n <= 1:
        return _at(a, axis, 0) + zero if n else np.zeros(a.shape[:axis] + a.shape[axis + 1:],
                                                          a.dtype)
    if math.prod(a.shape[axis + 1:]) >= 2:
        return np.ascontiguousarray(a).sum(axis=axis) + zero
    return _at(np.add.accumulate(a, axis=axis), axis, -1) + zero


def _split(a: np.ndarray, axis: int, size: int) -> np.ndarray:
    """a with `axis` (a multiple of size long) cut into (-1, size)."""
    return a.reshape(a.shape[:axis] + (a.shape[axis] // size, size) + a.shape[axis + 1:])


def _part(a: np.ndarray, axis: int, start: int, stop=None) -> np.ndarray:
    """a[..., start:stop, ...] along `axis` (a view)."""
    return a[(slice(None),) * axis + (slice(start, stop),)]


def _at(a: np.ndarray, axis: int, i: int) -> np.ndarray:
    return a[(slice(None),) * axis + (i,)]


def _cascade(a: np.ndarray, axis: int) -> np.ndarray:
    """torch's multi_row_sum along `axis`: runs of `step` summed in order, their sums at
    the next level `step` at a time, four levels, then the levels added up."""
    n = a.shape[axis]
    step = 1 << max(4, (n - 1).bit_length() // _LEVELS if n > 1 else 0)
    blocks = n // step
    if not blocks:  # (one run, not finished: the levels above hold zeros)
        return _sequential(a, axis)
    if blocks < step:  # (the runs' sums on one level: the levels above hold zeros)
        runs = _sequential(_split(_part(a, axis, 0, blocks * step), axis, step), axis + 1)
        if blocks * step == n:
            return _sequential(runs, axis)
        return _sequential(_part(a, axis, blocks * step), axis) + _sequential(runs, axis)
    level = _sequential(_split(_part(a, axis, 0, blocks * step), axis, step), axis + 1)
    sums = [_sequential(_part(a, axis, blocks * step), axis)]  # (what runs left over)
    for j in range(1, _LEVELS):
        if j == _LEVELS - 1:
            sums.append(_sequential(level, axis))
            break
        whole = level.shape[axis] // step
        sums.append(_sequential(_part(level, axis, whole * step), axis))
        level = _sequential(_split(_part(level, axis, 0, whole * step), axis, step), axis + 1)
    out = sums[0]
    for s in sums[1:]:
        out = out + s
    return out


def _row_sum(a: np.ndarray, axis: int) -> np.ndarray:
    """torch's row_sum along `axis`: seen as (-1, 4), each of the 4 cascaded, the tail
    added to the first, then the four added up."""
    n = a.shape[axis]
    whole = n // _ILP
    parts = _cascade(_split(_part(a, axis, 0, whole * _ILP), axis, _ILP), axis)
    out = _at(parts, axis, 0)
    for i in range(whole * _ILP, n):
        out = out + _at(a, axis, i)
    for k in range(1, _ILP):
        out = out + _at(parts, axis, k)
    return out


def _inner(a: np.ndarray, lanes: int) -> np.ndarray:
    """Sums along the last (contiguous) axis: torch's vectorized_inner_sum (a vector or
    more) or its row_sum."""
    n = a.shape[-1]
    if n < lanes:
        return _row_sum(a, a.ndim - 1)
    count = n // lanes
    vectors = a[..., :count * lanes].reshape(a.shape[:-1] + (count, lanes))
    lane_sums = _row_sum(vectors, a.ndim - 1)  # (..., lanes)
    tail = _sequential(a[..., count * lanes:], a.ndim - 1)[..., None]
    # the tail's sum, then each lane in turn (accumulate adds along the last axis in order)
    return np.add.accumulate(np.concatenate([tail, lane_sums], axis=-1), axis=-1)[..., -1]


def _outer(a: np.ndarray, lanes: int) -> np.ndarray:
    """a (..., n, m) summed over n, its m columns side by side: torch's
    vectorized_outer_sum (4 vectors of columns at once, then fewer) or, for fewer columns
    than a vector, scalar_outer_sum (4 columns at once, then one)."""
    m, axis = a.shape[-1], a.ndim - 2
    width = _ILP * lanes if m >= lanes else _ILP
    wide = m - m % width
    if wide == m:
        return _cascade(a, axis)
    out = np.empty(a.shape[:-2] + (m,), a.dtype)
    out[..., :wide] = _cascade(a[..., :wide], axis)
    out[..., wide:] = _row_sum(a[..., wide:], axis)
    return out


def summed(x: np.ndarray, axes, keepdims: bool = False) -> np.ndarray:
    """np.sum(x, axes, keepdims=...), float32 and float64 in torch's order."""
    every = tuple(range(x.ndim)) if axes is None else tuple(axes)
    out = cascade_sum(x, every)
    if out is None:
        return np.sum(x, axis=axes, keepdims=keepdims)
    if keepdims:
        gone = {a % x.ndim for a in every}
        out = out.reshape(tuple(1 if d in gone else n for d, n in enumerate(x.shape)))
    return out


def cascade_sum(x: np.ndarray, axes) -> np.ndarray | None:
    """x summed over `axes` in torch's order, the kept dims in x's order (no keepdims);
    None where torch's order is not known here (then numpy's is used)."""
    if x.dtype not in (np.float32, np.float64) or x.size == 0 or x.ndim == 0 \
            or float32_lanes() is None:
        return None
    lanes = _VECTOR_BYTES // x.itemsize
    gone = {a % x.ndim for a in axes}
    kept_shape = tuple(n for d, n in enumerate(x.shape) if d not in gone)
    if x.flags.c_contiguous:  # the common layouts, without working out the loop's dims
        k = len(gone)
        if gone == set(range(k)):  # leading dims: all of them, or columns side by side
            m = x.size // math.prod(x.shape[:k]) if k < x.ndim else 1
            rows = x.reshape(-1, m)
            if m == 1:
                return _inner(rows[:, 0], lanes).reshape(kept_shape)
            if rows.shape[0] > 1:
                return _outer(rows, lanes).reshape(kept_shape)
        elif gone == set(range(x.ndim - k, x.ndim)) and math.prod(x.shape[x.ndim - k:]) > 1:
            return _inner(x.reshape(-1, math.prod(x.shape[x.ndim - k:])), lanes).reshape(
                kept_shape)  # (trailing dims: rows)
    dims = _memory_dims(x, gone)
    if dims is None:
        return None
    if not any(r for _, r in dims):
        return np.array(x).reshape(kept_shape)  # (only size-1 dims reduced)
    # z: x in memory order, outermost dim first, neighbours of one kind merged.
    z = np.lib.stride_tricks.as_strided(x, tuple(n for n, _ in dims), _c_strides(
        [n for n, _ in dims], x.itemsize))
    reduced = [k for k, (_, r) in enumerate(dims) if r]
    first = reduced[-1]  # TensorIterator's innermost reduced dim: the one summed in stretches
    innermost = first == len(dims) - 1
    if len(reduced) == 1 and not innermost:  # a tile of (the dim, its columns) per outer index
        m = int(np.prod([n for n, _ in dims[first + 1:]]))
        out = _outer(z.reshape(-1, dims[first][0], m), lanes)
    elif innermost:
        stretches = _inner(z, lanes)
        out = stretches
        if len(reduced) > 1:  # stretches add up in the output, the next reduced dim fastest
            rest = [k for k in reduced[:-1]]
            kept = [k for k in range(len(dims) - 1) if k not in rest]
            moved = np.transpose(stretches, rest + kept)
            out = _sequential(moved.reshape((-1,) + moved.shape[len(rest):]), 0)
    else:  # several reduced dims, the innermost reduced one strided: summed row by row
        stretches = _row_sum(z, first)
        rest = reduced[:-1]
        kept = [k for k in range(len(dims)) if k not in reduced]
        kept_axes = [k - (k > first) for k in kept]
        moved = np.transpose(stretches, rest + kept_axes)
        out = _sequential(moved.reshape((-1,) + moved.shape[len(rest):]), 0)
    return _in_x_order(out, x, gone, kept_shape)


def _memory_dims(x: np.ndarray, gone: set):
    """(size, reduced) of x's dims from the outermost in memory, size-1 dims dropped and
    neighbours of one kind merged; None when x's elements are not one dense block."""
    item = x.itemsize
    dims = sorted(((x.strides[d], x.shape[d], d in gone) for d in range(x.ndim)
                   if x.shape[d] != 1), reverse=True)
    expect = item
    for stride, size, _ in reversed(dims):
        if stride != expect:
            return None
        expect *= size
    merged = []
    for _, size, reduced in dims:
        if merged and merged[-1][1] == reduced:
            merged[-1] = (merged[-1][0] * size, reduced)
        else:
            merged.append((size, reduced))
    return merged


def _c_strides(shape, item: int) -> tuple:
    strides, s = [], item
    for n in reversed(shape):
        strides.append(s)
        s *= n
    return tuple(reversed(strides))


def _in_x_order(out: np.ndarray, x: np.ndarray, gone: set, kept_shape) -> np.ndarray:
    """`out`, the kept dims in memory order (outermost first, merged), in x's dim order."""
    kept = [d for d in range(x.ndim) if d not in gone and x.shape[d] != 1]
    by_memory = sorted(kept, key=lambda d: -x.strides[d])
    arranged = np.reshape(out, [x.shape[d] for d in by_memory])
    arranged = np.transpose(arranged, [by_memory.index(d) for d in kept])
    return np.ascontiguousarray(arranged).reshape(kept_shape)
