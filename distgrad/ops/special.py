"""erf for numpy arrays (numpy has none, and scipy is not a dependency): cephes' rational
approximations, to float64 precision (max relative error 5e-16 against math.erf), in a
few whole-array passes instead of math.erf element by element."""
from __future__ import annotations

import numpy as np

# erf(x) = x T(x²)/U(x²) for |x| <= 1
_T = (9.60497373987051638749E0, 9.00260197203842689217E1, 2.23200534594684319226E3,
      7.00332514112805075473E3, 5.55923013010394962768E4)
_U = (3.35617141647503099647E1, 5.21357949780152679795E2, 4.59432382970980127987E3,
      2.26290000613890934246E4, 4.92673942608635921086E4)
# erfc(x) = exp(-x²) P(x)/Q(x) for 1 < x < 8
_P = (2.46196981473530512524E-10, 5.64189564831068821977E-1, 7.46321056442269912687E0,
      4.86371970985681366614E1, 1.96520832956077098242E2, 5.26445194995477358631E2,
      9.34528527171957607540E2, 1.02755188689515710272E3, 5.57535335369399327526E2)
_Q = (1.32281951154744992508E1, 8.67072140885989742329E1, 3.54937778887819891062E2,
      9.75708501743205489753E2, 1.82390916687909736289E3, 2.24633760818710981792E3,
      1.65666309194161350182E3, 5.57535340817727675546E2)


def _polevl(x, coefs):
    r = np.full_like(x, coefs[0])
    for c in coefs[1:]:
        r = r * x + c
    return r


def _p1evl(x, coefs):  # leading coefficient 1
    r = x + coefs[0]
    for c in coefs[1:]:
        r = r * x + c
    return r


def erf(x) -> np.ndarray:
    """erf in float64 (cast the result back as needed)."""
    x = np.asarray(x, np.float64)
    a = np.minimum(np.abs(x), 8.0)  # erfc(8) < 1e-28: erf is ±1 in float64 beyond
    z = x * x
    with np.errstate(invalid="ignore", over="ignore"):
        near = x * _polevl(z, _T) / _p1evl(z, _U)
        far = 1.0 - np.exp(-a * a) * _polevl(a, _P) / _p1evl(a, _Q)
    return np.where(a <= 1.0, near, np.copysign(far, x))


# ---- lgamma, digamma, polygamma, erfinv ----------------------------------------------------

def lgamma(x) -> np.ndarray:
    """log|Γ(x)| in float64, element by element with math.lgamma (exact to the last bit or
    so; inf at the poles, as torch)."""
    import math

    x = np.asarray(x, np.float64)

    def one(v: float) -> float:
        try:
            return math.lgamma(v)
        except (ValueError, OverflowError):  # a pole: 0 and the negative integers
            return math.inf

    return np.vectorize(one, otypes=[np.float64])(x) if x.size else x.copy()


# Bernoulli numbers B2, B4, ..., B20 for the asymptotic series of ψ and its derivatives
_B2K = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510, 43867 / 798,
        -174611 / 330)
_ASYMPTOTIC_FROM = 10.0  # x shifted up to here by the recurrence, then the series


def _shifted_up(x, term):
    """Σ term(x + k) over k = 0, 1, ... while x + k < _ASYMPTOTIC_FROM, and that x + k."""
    total = np.zeros_like(x)
    x = x.copy()
    low = x < _ASYMPTOTIC_FROM
    while low.any():
        total[low] += term(x[low])
        x[low] += 1.0
        low = x < _ASYMPTOTIC_FROM
    return total, x


def digamma(x) -> np.ndarray:
    """ψ(x) = Γ'(x)/Γ(x) in float64: the reflection formula below 0, the recurrence up to 10,
    then the asymptotic series (relative error ~1e-15). -inf at 0 (inf at -0), nan at the
    negative integers and -inf, as torch. A float32 x gets torch's float32 kernel's values."""
    if getattr(x, "dtype", None) == np.float32:
        return _digamma_float32(x)
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        neg = x < 0
        v = np.where(neg, 1.0 - x, x)
        v = np.where(np.isfinite(v), v, np.where(np.isnan(v), np.nan, _ASYMPTOTIC_FROM))
        shift, v = _shifted_up(np.where(v == 0, 1.0, v), lambda t: -1.0 / t)
        inv2 = 1.0 / (v * v)
        series = np.zeros_like(v)
        for k in reversed(range(len(_B2K))):
            series = (series + _B2K[k] / (2 * k + 2)) * inv2
        psi = np.log(v) - 0.5 / v - series + shift
        psi = np.where(neg, psi - np.pi / np.tan(np.pi * x), psi)
        psi = np.where(x == np.inf, np.inf, psi)
        psi = np.where(np.isneginf(x) | (neg & (x == np.floor(x))), np.nan, psi)
        return np.where(x == 0, -np.copysign(np.inf, x), psi)


_F32 = np.float32
_PSI_10 = _F32(2.25175258906672110764)  # ψ(10)
# the asymptotic series' coefficients in z = 1/x², highest power first (cephes' psi)
_PSI_SERIES = tuple(_F32(a) for a in (
    8.33333333333333333333E-2, -2.10927960927960927961E-2, 7.57575757575757575758E-3,
    -4.16666666666666666667E-3, 3.96825396825396825397E-3, -8.33333333333333333333E-3,
    8.33333333333333333333E-2))


def _digamma_float32(x) -> np.ndarray:
    """torch's float32 digamma, step for step in float32 (its error of a few ulps
    included): the reflection formula below 0 (its cotangent in float64), the recurrence up
    to 10, ψ(10) at 10, then log(x) - 1/(2x) and the series in 1/x², with the C library's
    logf."""
    x = np.asarray(x, _F32)
    with np.errstate(all="ignore"):
        neg = x < 0
        v = np.where(neg, _F32(1) - x, x).astype(_F32)
        shift = np.zeros_like(v)
        low = v < 10
        while low.any():
            shift[low] -= _F32(1) / v[low]
            v[low] += _F32(1)
            low = v < 10
        z = _F32(1) / (v * v)
        series = np.full_like(v, _PSI_SERIES[0])
        for a in _PSI_SERIES[1:]:
            series = series * z + a
        series = np.where(v < _F32(1e17), z * series, _F32(0))
        psi = ((shift + _logf(v)) - _F32(0.5) / v) - series
        psi = np.where(v == 10, shift + _PSI_10, psi)
        cot = (np.pi / np.tan(np.pi * np.modf(x.astype(np.float64))[0])).astype(_F32)
        psi = np.where(neg, psi - cot, psi)
        psi = np.where(neg & (x == np.trunc(x)), _F32(np.nan), psi)
        return np.where(x == 0, -np.copysign(_F32(np.inf), x), psi).astype(_F32)


def _trigamma_float32(x) -> np.ndarray:
    """torch's float32 polygamma(1, x), step for step in float32: the reflection term
    -(π/sin(πx))² below 0.5 (the C library's sinf), six steps of the recurrence, then the
    series in 1/x², whose products and sums its compiled kernel fuses (each a*b + c
    rounded once)."""
    x = np.asarray(x, _F32)
    with np.errstate(all="ignore"):
        small = x < _F32(0.5)
        pi = _F32(np.pi)
        sin = _libm_apply("sinf", (pi * x).astype(_F32), np.sin)
        total = np.where(small, -((pi * pi) / (sin * sin)), _F32(0)).astype(_F32)
        v = np.where(small, _F32(1) - x, x).astype(_F32)
        for _ in range(6):
            total = total + _F32(1) / (v * v)
            v = v + _F32(1)
        ixx = _F32(1) / (v * v)
        inner = _fused(-ixx, _F32(1.0 / 42), _F32(1.0 / 30))
        inner = _fused(-ixx, inner, _F32(1.0 / 6))
        inner = _fused(ixx, inner, _F32(1) + _F32(1) / (_F32(2) * v))
        total = total + inner / v
        return np.where(small, -total, total).astype(_F32)


def _fused(a, b, c) -> np.ndarray:
    """a * b + c rounded once to float32 (a fused multiply-add: the float64 product of two
    float32 values is exact)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + c).astype(_F32)


def _logf(v) -> np.ndarray:
    """The C library's logf of each element (torch's scalar kernels call it; it is not
    always the correctly rounded log)."""
    return _libm_apply("logf", v, np.log)


def libm_float32(name: str, v, fallback):
    """`fallback(v)`, or for a float32 array the C library's float function `name` of each
    element, as torch's scalar (not vectorized) float32 kernels compute it."""
    if getattr(v, "dtype", None) == np.float32:
        return _libm_apply(name, v, fallback)
    return fallback(v)


def _libm_apply(name: str, v, fallback) -> np.ndarray:
    """The C library's float function `name` of each element, or `fallback` in float64
    rounded once where there is no such library."""
    fn = _libm(name)
    if fn is None:
        return fallback(np.asarray(v, np.float64)).astype(_F32)
    v = np.asarray(v, _F32)
    return np.array([fn(a) for a in v.ravel().tolist()], _F32).reshape(v.shape)


_LIBM = {}


def _libm(name: str):
    if name not in _LIBM:
        try:
            import ctypes

            fn = getattr(ctypes.CDLL("libm.so.6"), name)
            fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        except (OSError, AttributeError):
            fn = None
        _LIBM[name] = fn
    return _LIBM[name]


def polygamma(n: int, x) -> np.ndarray:
    """ψ⁽ⁿ⁾(x) for n >= 1 in float64: the recurrence up to 10, then the asymptotic series
    (negative x by the recurrence too; inf at the poles). A float32 x gets torch's float32
    trigamma for n = 1."""
    import math

    if n == 1 and getattr(x, "dtype", None) == np.float32:
        return _trigamma_float32(x)
    x = np.asarray(x, np.float64)
    sign = 1.0 if n % 2 else -1.0
    with np.errstate(all="ignore"):
        v = np.where(np.isfinite(x), x, _ASYMPTOTIC_FROM)
        pole = (v <= 0) & (v == np.floor(v))
        v = np.where(pole, 1.0, v)
        shift, v = _shifted_up(v, lambda t: math.factorial(n) / t ** (n + 1))
        series = math.factorial(n - 1) / v ** n + math.factorial(n) / (2 * v ** (n + 1))
        for k, b in enumerate(_B2K, start=1):
            series = series + b * math.factorial(2 * k + n - 1) / (math.factorial(2 * k) *
                                                                  v ** (2 * k + n))
        out = sign * (series + shift)
        out = np.where(pole, np.inf, out)
        out = np.where(x == np.inf, 0.0 if n == 1 else np.nan, out)  # (torch's values at inf)
        return np.where(np.isnan(x) | (x == -np.inf), np.nan, out)


def _erfc_of_positive(a) -> np.ndarray:
    """erfc(a) for a >= 0 to float64's relative precision (for a < 8, all erfinv needs)."""
    a = np.minimum(a, 8.0)
    with np.errstate(over="ignore", under="ignore"):
        far = np.exp(-a * a) * _polevl(a, _P) / _p1evl(a, _Q)
    return np.where(a <= 1.0, 1.0 - erf(a), far)


def erfinv(x) -> np.ndarray:
    """The inverse of erf in float64: Giles' approximation, then Newton steps on erf near 0
    and on log erfc (against 1 - |x|, exact in float64) in the tails, where erf rounds to ±1;
    ±inf at ±1, nan outside [-1, 1]."""
    x = np.asarray(x, np.float64)
    with np.errstate(all="ignore"):
        w = -np.log((1.0 - x) * (1.0 + x))
        central = w < 5.0
        wc, wt = w - 2.5, np.sqrt(w) - 3.0
        pc = 2.81022636e-08
        for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                  -0.00125372503, -0.00417768164, 0.246640727, 1.50140941):
            pc = c + pc * wc
        pt = -0.000200214257
        for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682):
            pt = c + pt * wt
        y = np.abs(np.where(central, pc, pt) * x)  # solve for |x|, then give back the sign
        ax = np.abs(x)
        tail = ax > 0.5
        q = 1.0 - ax
        for _ in range(4):
            slope = 1.1283791670955126 * np.exp(-y * y)
            # (in the tails on log erfc, which is near -y²: Newton converges from far out)
            c = _erfc_of_positive(y)
            step = np.where(tail, (np.log(q) - np.log(c)) * c / slope, (erf(y) - ax) / slope)
            y = np.where(np.isfinite(step), y - step, y)
        y = np.copysign(y, x)
        y = np.where(ax == 1.0, np.copysign(np.inf, x), y)
        return np.where((ax > 1.0) | np.isnan(x), np.nan, y)
