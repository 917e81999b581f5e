"""The shifts of integers, `<<` and `>>` (torch.bitwise_left_shift, bitwise_right_shift), as
torch's CPU kernels compute them: where C leaves a shift by a negative amount or by the width
or more undefined, torch gives 0 for a left shift and the sign (0 or -1) for a right one; a
left shift wraps around in the dtype. Each integer dtype has a kernel (no bool, no float:
torch's error)."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .rules import binary, in_common_dtype, not_implemented
from .table import defop, elementwise

_BITS = 64  # shifts compute in int64; the result is cast back to the dtype (wrapping)


def _width(a, b) -> int:
    """The bits of the dtype the operands were cast to (one of them is an array)."""
    return 8 * next(v.dtype.itemsize for v in (a, b) if hasattr(v, "dtype"))


def _left_shift(a, b):
    bits = _width(a, b)
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    in_range = (b >= 0) & (b < bits)
    shifted = np.left_shift(a.astype(np.uint64), np.where(in_range, b, 0).astype(np.uint64))
    return np.where(in_range, shifted.astype(np.int64), 0)


def _right_shift(a, b):
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    most = _BITS - 1  # the sign bit stays (an unsigned value is below 2**63 here: 0)
    return np.right_shift(a, np.where((b >= 0) & (b < most), b, most))


def _shift_rule(kernel):
    @elementwise
    def rule(a, b):
        meta = binary(a, b)
        if meta.dtype.category != 1:
            raise not_implemented(kernel, meta.dtype)
        return meta

    return rule


defop("bitwise_left_shift", in_common_dtype(_left_shift), _shift_rule("lshift_cpu"),
      api=("bitwise_left_shift",))
defop("bitwise_right_shift", in_common_dtype(_right_shift), _shift_rule("rshift_cpu"),
      api=("bitwise_right_shift",))
