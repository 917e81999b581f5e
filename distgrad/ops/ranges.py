"""The arange, range and linspace ops: their checks, lengths and values as torch's CPU kernels give
them, to the bit (RangeFactories.cpp and RangeFactoriesKernel.cpp, built for AVX2, where the
compiler fuses each `a + b * c` into one multiply-add: ops/fused.py).

arange computes in double for float32 (in int64 for the integer dtypes, in float for float16
and bfloat16):
element i is start + step * i,
except that the kernel fills runs of two vectors (8 floats or 4 doubles each) at a time, each
vector from its first element, rounded to the dtype, plus j * step. The runs start again where
torch splits a range of more than 32768 elements among its threads; distgrad's values are
those of one thread.

linspace computes in the dtype (in double for the integer dtypes; float16 and bfloat16 round
each step):
step = (end - start) / (steps - 1), the first half start + step * i, the second
end - step * (steps - 1 - i).
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from .fused import fma
from .table import Meta, defop

_VECTOR = {"float16": 16, "bfloat16": 16, "float32": 8, "float64": 4}  # an AVX2 vector's
_ACCUMULATE = {"float16": np.float32, "bfloat16": np.float32, "float32": np.float64,
               "float64": np.float64}
_INT64_RANGE = (-2 ** 63, 2 ** 63)


def _not_for_bool(kernel: str, dtype: str) -> None:
    if dtype == "bool":
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _to_int64(x) -> int:
    """A Scalar's int64 value, as C++ converts it: truncated, refused out of range."""
    if not _INT64_RANGE[0] <= x < _INT64_RANGE[1]:
        raise RuntimeError("value cannot be converted to type int64_t without overflow")
    return int(x)


def _in_dtype(x, dtype: str) -> int:
    """An end of an integer linspace as C++ converts it to the dtype: truncated, wrapped, refused
    beyond the range (see dtypes.check_fits)."""
    d = dtypes.from_name(dtype)
    if math.isfinite(x) and float(x).is_integer():  # (creation passes an int end as a float)
        x = int(x)
    dtypes.check_fits(x, d, c_type=True)
    return int(np.array(_to_int64(x)).astype(d.np))


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


def _is_integer(dtype: str) -> bool:
    return dtypes.from_name(dtype).category == 1


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
    if _is_integer(dtype):  # (cast to a narrower dtype afterwards, wrapping as C++ does)
        return _to_int64(start) + _to_int64(step) * np.arange(n, dtype=np.int64)
    out_type = dtypes.from_name(dtype).np
    work = _ACCUMULATE[dtype]
    i = np.arange(n)
    lanes = _VECTOR[dtype]
    in_runs = i < n - n % (2 * lanes)  # the tail past the last whole run goes one by one
    lane = np.where(in_runs, i % lanes, 0)
    first = fma(step, i - lane, start, work).astype(out_type)  # each vector's first
    return fma(lane, step, first, work).astype(out_type)


# ---- range (torch's deprecated one: the end included) -------------------------------------------

def _range_length(start, end, step, dtype: str) -> int:
    """torch's range_out: in the accumulate type (int64 for the integer dtypes, double for
    float32 and float64, float for float16 and bfloat16), ((end - start) / step) + 1, truncated."""
    _not_for_bool("range_cpu", dtype)
    work = np.int64 if _is_integer(dtype) else _ACCUMULATE[dtype]
    if _is_integer(dtype):
        start, end, step = _to_int64(start), _to_int64(end), _to_int64(step)
    _check_arange_bounds(start, end, step)
    if _is_integer(dtype):
        return int(np.trunc((end - start) / step)) + 1  # (C++'s int64 division truncates)
    return int((work(end) - work(start)) / work(step) + work(1))


def _range_forward(start, end, step, dtype):
    n = _range_length(start, end, step, dtype)
    if _is_integer(dtype):
        return _to_int64(start) + _to_int64(step) * np.arange(n, dtype=np.int64)
    work = _ACCUMULATE[dtype]
    return fma(step, np.arange(n), start, work).astype(dtypes.from_name(dtype).np)


defop("range", _range_forward, lambda start, end, step, dtype: Meta(
    (_range_length(start, end, step, dtype),), dtypes.from_name(dtype)))


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
    if _is_integer(dtype):  # the ends in the dtype, the step and the values in double
        start, end, work = _in_dtype(start, dtype), _in_dtype(end, dtype), np.float64
    else:  # (a bfloat16 is made from a float)
        work = out_type.type
        start, end = (work(np.float32(start)), work(np.float32(end))) if \
            out_type == dtypes.BF16 else (work(start), work(end))
    step = work(np.float32(work(end) - work(start)) / np.float32(steps - 1)) if \
        out_type == dtypes.BF16 else work((work(end) - work(start)) / work(steps - 1))
    i = np.arange(steps)
    from_start = i < steps // 2
    if out_type.itemsize == 2:  # (c10::Half rounds the product, then the sum: no fused op)
        values = np.where(from_start, start + step * i.astype(work),
                          end - step * (steps - 1 - i).astype(work))
    else:
        values = np.where(from_start, fma(step, i, start, work),
                          fma(-step, steps - 1 - i, end, work))
    return values.astype(out_type)  # (integers: truncated, as C++ converts)


defop("arange", _arange_forward, _arange_rule)
defop("linspace", _linspace_forward, _linspace_rule)
