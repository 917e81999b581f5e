"""A fused multiply-add over numpy arrays: `a * b + c` rounded once, which numpy lacks.

torch's CPU kernels are compiled with fused multiply-adds, so where they compute
`start + step * i` the result is rounded once; numpy's `a * b + c` rounds the product first.
float64's is emulated exactly in double arithmetic (Boldo and Melquiond's emulation through
rounding to odd); float32's product is exact in double, so one rounding to odd in double
before the rounding to float32 gives the same result.
"""
from __future__ import annotations

import numpy as np

_SPLITTER = 2.0 ** 27 + 1  # Veltkamp's: splits a double into two halves of 26 bits


def _two_sum(a, b):
    """(s, e): s = a + b rounded, and e its exact error."""
    s = a + b
    b_part = s - a
    return s, (a - (s - b_part)) + (b - b_part)


def _halves(a):
    scaled = _SPLITTER * a
    high = scaled - (scaled - a)
    return high, a - high


def _two_product(a, b):
    """(p, e): p = a * b rounded, and e its exact error (Dekker's product)."""
    p = a * b
    a_high, a_low = _halves(a)
    b_high, b_low = _halves(b)
    return p, ((a_high * b_high - p) + a_high * b_low + a_low * b_high) + a_low * b_low


def _add_rounded_to_odd(a, b):
    """a + b rounded to odd: exact if it can be, else the neighbour whose last bit is 1."""
    s, e = _two_sum(a, b)
    even = (s.view(np.int64) & 1) == 0
    return np.where((e != 0) & even, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)


def fma(a, b, c, dtype):
    """a * b + c rounded once to `dtype` (np.float32 or np.float64), elementwise, the operands
    first converted to it; where the result is not finite, as a * b + c gives it."""
    a, b, c = (np.asarray(x, dtype).astype(np.float64) for x in (a, b, c))  # as C++ converts
    with np.errstate(all="ignore"):
        if np.dtype(dtype) == np.float32:  # the inputs are float32's: a * b is exact here
            return _float32_fma(a * b, c)
        plain = a * b + c
        high, low = _two_product(a, b)
        s_high, s_low = _two_sum(c, high)
        once = s_high + _add_rounded_to_odd(s_low, low)
        return np.where(np.isfinite(plain), once, plain).astype(dtype)


# A double's fraction bits below a float's: a double halfway between two floats has them
# 1000...0. Under the floats' smallest normal number the halfway points have more bits.
_BELOW_FLOAT = (1 << 29) - 1
_HALFWAY = 1 << 28
_FLOAT_TINY = 2.0 ** -126


def _float32_fma(product, c):
    """product + c (a float32 product, exact in double) rounded once to float32. The double
    sum rounded again to float32 is that, unless the double's rounding landed on a point
    halfway between two floats (where the rounding to float32 would tie): only there, and
    under the floats' normal range, the sum is taken again rounded to odd."""
    total = np.asarray(product + c)
    bits = total.view(np.int64)
    suspect = ((bits & _BELOW_FLOAT) == _HALFWAY) | \
        ((np.abs(total) < _FLOAT_TINY) & (total != 0))
    if suspect.any():  # (total is an array of its own: written in place)
        total[suspect] = _add_rounded_to_odd(np.broadcast_to(product, total.shape)[suspect],
                                             np.broadcast_to(c, total.shape)[suspect])
    return total.astype(np.float32)
