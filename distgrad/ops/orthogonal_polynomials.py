"""torch.special's orthogonal polynomials for numpy arrays, as torch's CPU kernels evaluate
them: in the common dtype of x and n (float32 arithmetic for float32), n truncated to an
integer, each family's special cases first (n < 0 gives 0; |x| = 1, or x in {0, 1} for
the shifted Chebyshev ones, gives the closed value; the trigonometric form for n past a
small bound and |x| < 1), the three-term recurrence otherwise.

Every function takes (x, n) already cast to one float dtype and broadcasts them. Each
recurrence step a·q - b·p is rounded once (torch's compiled kernels fuse it), exactly so in
float32. The trigonometric forms' float32 acos, cos and sin are the C library's (torch's
scalar kernels call them; numpy's own, on an AVX-512 CPU, are a few ulps off them).
"""
from __future__ import annotations

import numpy as np

from .cephes_bessel import _mul_add
from .special import libm_float32


def _operands(x, n):
    """x and n as arrays of their common float dtype, broadcast, and n as torch's
    static_cast<int64_t>: truncated; nan, inf and values past int64 count as negative."""
    dt = np.result_type(*(v.dtype for v in (x, n) if hasattr(v, "dtype")))
    x, n = np.broadcast_arrays(np.asarray(x, dt), np.asarray(n, dt))
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(n) & (np.abs(n) < 2.0 ** 63)
    k = np.where(ok, np.trunc(np.where(ok, n, 0)), -1).astype(np.int64)
    return x, k, dt


def _recurrence(first, steps, step, *args):
    """q after `steps` (per element) applications of q_next = step(j, p, q, *args) from
    p = 1, q = first (j = 1, 2, ...); an element whose q turns nan stops there (nan)."""
    out = first.copy()
    idx = np.flatnonzero(steps >= 1)
    if not idx.size:
        return out
    flat = [a.ravel()[idx] for a in args]
    p, q, left = np.ones_like(first.ravel()[idx]), first.ravel()[idx], steps.ravel()[idx]
    result = out.ravel()
    j = 1
    while idx.size:
        p, q = q, step(j, p, q, *flat)
        done = (left <= j) | np.isnan(q)
        if done.any():
            result[idx[done]] = q[done]
            keep = ~done
            idx, p, q, left = idx[keep], p[keep], q[keep], left[keep]
            flat = [a[keep] for a in flat]
        j += 1
    return result.reshape(out.shape)


def _acos(v):
    return libm_float32("acosf", v, np.arccos)


def _cos(v):
    return libm_float32("cosf", v, np.cos)


def _sin(v):
    return libm_float32("sinf", v, np.sin)


def _pick(cases, default):
    """cases: (condition, value) pairs, the first true one wins."""
    out = default
    for cond, value in reversed(cases):
        out = np.where(cond, value, out)
    return out


def _parity(k, even, odd):
    return np.where(k % 2 == 0, even, odd)


def _chebyshev(x, k, dt, first, bound, trig, ends):
    """The Chebyshev family in y (x itself, or 2x - 1 for the shifted ones): the recurrence
    r = 2y q - p from q = first(y); trig(y, k, acos y) past `bound` where |y| < 1; ends: the
    cases before it (n < 0 included by the caller)."""
    one = dt.type(1)
    with np.errstate(all="ignore"):
        y = x
        q1 = first(y)
        rec = _recurrence(q1, k - 1, lambda j, p, q, y: _mul_add(y + y, q, -p), y)
        inside = (k > bound) & (np.abs(y) < one)
        acos = _acos(np.where(inside, y, 0)).astype(dt)
        cases = [(k < 0, dt.type(0)), *ends, (inside, trig(y, k, acos)), (k == 0, one),
                 (k == 1, q1)]
        return _pick(cases, rec).astype(dt)


def _f(k, dt):
    return k.astype(dt)


def chebyshev_t(x, n):
    x, k, dt = _operands(x, n)
    one = dt.type(1)
    ends = [(np.abs(x) == one, np.where((x > 0) | (k % 2 == 0), one, -one))]
    return _chebyshev(x, k, dt, lambda y: y, 6, lambda y, k, a: _cos(_f(k, dt) * a), ends)


def _u_trig(dt):
    def trig(y, k, a):
        m = _f(k + 1, dt)
        s = _sin(a)
        return np.where(s != 0, _sin(m * a) / s, m * _cos(m * a) / y)
    return trig


def chebyshev_u(x, n):
    x, k, dt = _operands(x, n)
    m = _f(k + 1, dt)
    ends = [(np.abs(x) == 1, np.where((x > 0) | (k % 2 == 0), m, -m))]
    return _chebyshev(x, k, dt, lambda y: y + y, 8, _u_trig(dt), ends)


def _v_trig(dt):
    def trig(y, k, a):
        odd = _f(k + k + 1, dt)
        half = a / dt.type(2)
        return np.where(_sin(half) != 1, _cos((_f(k, dt) + dt.type(0.5)) * a) / _cos(half),
                        _parity(k, odd, -odd))
    return trig


def _w_trig(dt, at_one):
    """W's trigonometric form; where cos(acos(y)/2) rounds to 1, its values at y = 1
    (`at_one(y, k)`)."""
    def trig(y, k, a):
        half = a / dt.type(2)
        return np.where(_cos(half) != 1, _sin((_f(k, dt) + dt.type(0.5)) * a) / _sin(half),
                        at_one(y, k))
    return trig


def chebyshev_v(x, n):
    x, k, dt = _operands(x, n)
    odd = _f(k + k + 1, dt)
    ends = [(np.abs(x) == 1, np.where(x > 0, dt.type(1), _parity(k, odd, -odd)))]
    return _chebyshev(x, k, dt, lambda y: y + y - dt.type(1), 8, _v_trig(dt), ends)


def chebyshev_w(x, n):
    x, k, dt = _operands(x, n)
    one = dt.type(1)

    def at_one(y, k):
        return np.where(y > 0, _f(k + k + 1, dt), _parity(k, one, -one))

    ends = [(np.abs(x) == one, at_one(x, k))]
    return _chebyshev(x, k, dt, lambda y: y + y + one, 8, _w_trig(dt, at_one), ends)


def _shifted(x, n, first, bound, trig, at_one, at_zero):
    x, k, dt = _operands(x, n)
    y = x + x - dt.type(1)
    ends = [(x == 1, at_one(k, dt)), (x == 0, at_zero(k, dt))]
    return _chebyshev(y, k, dt, first(dt), bound, trig(dt), ends)


def _signed(value):
    return lambda k, dt: _parity(k, value(k, dt), -value(k, dt))


def _ones(k, dt):
    return np.ones(k.shape, dt)


def _k_plus_one(k, dt):
    return _f(k + 1, dt)


def _two_k_plus_one(k, dt):
    return _f(k + k + 1, dt)


def shifted_chebyshev_t(x, n):
    def trig(dt):
        return lambda y, k, a: _cos(_f(k, dt) * a)
    return _shifted(x, n, lambda dt: (lambda y: y), 6, trig, _ones, _signed(_ones))


def shifted_chebyshev_u(x, n):
    return _shifted(x, n, lambda dt: (lambda y: y + y), 6, _u_trig, _k_plus_one,
                    _signed(_k_plus_one))


def shifted_chebyshev_v(x, n):
    return _shifted(x, n, lambda dt: (lambda y: y + y - dt.type(1)), 6, _v_trig, _ones,
                    _signed(_two_k_plus_one))


def shifted_chebyshev_w(x, n):
    def trig(dt):
        return _w_trig(dt, lambda y, k: _parity(k, dt.type(1), dt.type(-1)))
    return _shifted(x, n, lambda dt: (lambda y: y + y + dt.type(1)), 4, trig, _two_k_plus_one,
                    _signed(_ones))


# torch gives nan past these degrees (its hermite kernels' limit per dtype)
_HERMITE_LIMIT = {np.dtype(np.float32): 128, np.dtype(np.float64): 512}


def _hermite(x, n, first, step):
    x, k, dt = _operands(x, n)
    with np.errstate(all="ignore"):
        q1 = first(x)
        limit = _HERMITE_LIMIT.get(dt, 1024)
        rec = _recurrence(q1, np.where(k > limit, 0, k - 1), step(dt), x)
        cases = [(k < 0, dt.type(0)), (k == 0, dt.type(1)), (k == 1, q1),
                 (k > limit, dt.type(np.nan))]
        return _pick(cases, rec).astype(dt)


def hermite_h(x, n):
    """The physicists' Hermite polynomials: r = 2x q - 2j p."""
    return _hermite(x, n, lambda x: x + x,
                    lambda dt: lambda j, p, q, x: _mul_add(x + x, q, -(dt.type(2 * j) * p)))


def hermite_he(x, n):
    """The probabilists' Hermite polynomials: r = x q - j p."""
    return _hermite(x, n, lambda x: x,
                    lambda dt: lambda j, p, q, x: _mul_add(x, q, -(dt.type(j) * p)))


def laguerre_l(x, n):
    x, k, dt = _operands(x, n)
    one = dt.type(1)
    with np.errstate(all="ignore"):
        q1 = one - x
        rec = _recurrence(q1, k - 1, lambda j, p, q, x: _mul_add(
            dt.type(2 * j) + (one - x), q, -(dt.type(j) * p)) / dt.type(j + 1), x)
        cases = [(k < 0, dt.type(0)), (x == 0, one), (k == 0, one), (k == 1, q1)]
        return _pick(cases, rec).astype(dt)


def legendre_p(x, n):
    x, k, dt = _operands(x, n)
    one = dt.type(1)
    with np.errstate(all="ignore"):
        rec = _recurrence(x, k - 1, lambda j, p, q, x: _mul_add(
            dt.type(2 * j + 1) * x, q, -(dt.type(j) * p)) / dt.type(j + 1), x)
        cases = [(k < 0, dt.type(0)),
                 (np.abs(x) == one, np.where((x > 0) | (k % 2 == 0), one, -one)),
                 (k == 0, one), (k == 1, x)]
        return _pick(cases, rec).astype(dt)
