"""The arange and linspace ops: their checks, lengths and values as torch's CPU kernels give
them, to the bit (RangeFactories.cpp and RangeFactoriesKernel.cpp, built for AVX2, where the
compiler fuses each `a + b * c` into one multiply-add: ops/fused.py).

arange computes in double for float32 (in int64 for int64): element i is start + step * i,
except that the kernel fills runs of two vectors (8 floats or 4 doubles each) at a time, each
vector from its first element, rounded to the dtype, plus j * step. The runs start again where
torch splits a range of more than 32768 elements among its threads; distgrad's values are
those of one thread.

linspace computes in the dtype (in double for int64): step = (end - start) / (steps - 1), the
first half start + step * i, the second end - step * (steps - 1 - i).
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .fused import fma
from .table import Meta, defop

_VECTOR = {"float32": 8, "float64": 4}  # the elements of an AVX2 vector
_INT64_RANGE = (-2 ** 63, 2 ** 63)


def _not_for_bool(kernel: str, dtype: str) -> None:
    if dtype == "bool":
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _to_int64(x) -> int:
    """A Scalar's int64 value, as C++ converts it: truncated, refused out of range."""
    if not _INT64_RANGE[0] <= x < _INT64_RANGE[1]:
        raise RuntimeError("value cannot be converted to type int64_t without overflow")
    return int(x)


# ---- arange ----------------------------------------------------------------------------------

def _check_arange_bounds(start, end, step) -> None:
    """torch's arange_check_bounds: in double, whatever the dtype."""
    start, end, step = float(start), float(end), float(step)
    if not (step > 0 or step < 0):
        raise RuntimeError("step must be nonzero")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise RuntimeError(f"unsupported range: {start:g} -> {end:g}")  # (C++'s way with a double)
    if not ((step > 0 and end >= start) or (step < 0 and end <= start)):
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")


def _int64_arange_length(start, end, step) -> int:
    first, last, by = _to_int64(start), _to_int64(end), _to_int64(step)
    if by == 0:  # a step below 1 in magnitude, truncated
        raise ValueError("step must be nonzero")
    return (last - first + by - (1 if by > 0 else -1)) // by  # (never negative: exact)


def _arange_length(start, end, step, dtype: str) -> int:
    _not_for_bool("arange_cpu", dtype)
    _check_arange_bounds(start, end, step)
    if dtype == "int64":
        return _int64_arange_length(start, end, step)
    length = np.ceil((float(end) - float(start)) / float(step))
    if not 0 <= length <= float(_INT64_RANGE[1] - 1):
        raise RuntimeError("invalid size, possible overflow?")
    return int(length)


def _arange_rule(start, end, step, dtype):
    return Meta((_arange_length(start, end, step, dtype),), dtypes.from_name(dtype))


def _arange_forward(start, end, step, dtype):
    n = _arange_length(start, end, step, dtype)
    if dtype == "int64":
        return _to_int64(start) + _to_int64(step) * np.arange(n, dtype=np.int64)
    out_type = dtypes.from_name(dtype).np
    i = np.arange(n)
    lanes = _VECTOR[dtype]
    in_runs = i < n - n % (2 * lanes)  # the tail past the last whole run goes one by one
    lane = np.where(in_runs, i % lanes, 0)
    first = fma(step, i - lane, start, np.float64).astype(out_type)  # each vector's first
    return fma(lane, step, first, np.float64).astype(out_type)


# ---- linspace ----------------------------------------------------------------------------------

def _linspace_rule(start, end, steps, dtype):
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    if steps > 1:
        _not_for_bool("linspace_cpu", dtype)
    return Meta((steps,), dtypes.from_name(dtype))


def _linspace_forward(start, end, steps, dtype):
    out_type = dtypes.from_name(dtype).np
    if steps <= 1:  # torch fills the start (no kernel)
        return np.full(steps, start).astype(out_type)
    if dtype == "int64":  # the ends as int64, the step and the values in double
        start, end, work = _to_int64(start), _to_int64(end), np.float64
    else:
        start, end, work = out_type.type(start), out_type.type(end), out_type.type
    step = work((work(end) - work(start)) / work(steps - 1))
    i = np.arange(steps)
    from_start = i < steps // 2
    values = np.where(from_start, fma(step, i, start, work), fma(-step, steps - 1 - i, end, work))
    return values.astype(out_type)  # (int64: truncated, as C++ converts)


defop("arange", _arange_forward, _arange_rule)
defop("linspace", _linspace_forward, _linspace_rule)
