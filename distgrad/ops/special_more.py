"""More special functions for numpy arrays (scipy is not a dependency), in float64, for
torch.special's ops (ops/special_ops.py): erfcx, log_ndtr, ndtri, the exponentially scaled
Bessel functions i0e and i1e, the Hurwitz zeta function and
the regularized incomplete gamma functions. Series, continued fractions and asymptotic
expansions, each where it converges to float64 precision, with torch's values at the edges
(inf, nan, poles)."""
from __future__ import annotations

import math

import numpy as np

from .special import _B2K, _P, _Q, _p1evl, _polevl, erf, erfinv, lgamma

_SQRT_PI = math.sqrt(math.pi)
_EPS = np.finfo(np.float64).eps


def _f64(x) -> np.ndarray:
    return np.asarray(x, np.float64)


# ---- erfcx, log_ndtr, ndtri --------------------------------------------------------------------

def _erfcx_of_positive(a) -> np.ndarray:
    """exp(a²) erfc(a) for a >= 0: directly below 1, cephes' P/Q (erfc's rational function
    without its exp(-a²)) up to 8, the asymptotic series 1/(a√π) Σ (-1)ⁿ (2n-1)!!/(2a²)ⁿ
    beyond (its terms are below 1e-19 by n = 20 there)."""
    with np.errstate(all="ignore"):
        near = np.exp(a * a) * (1.0 - erf(a))
        mid = _polevl(a, _P) / _p1evl(a, _Q)
        inv = 1.0 / (2.0 * a * a)
        term, total = np.ones_like(a), np.ones_like(a)
        for n in range(1, 25):
            term = -term * (2 * n - 1) * inv
            total = total + term
        far = np.where(np.isinf(a), 0.0, total / (a * _SQRT_PI))
    return np.where(a < 1.0, near, np.where(a < 8.0, mid, far))


def erfcx(x) -> np.ndarray:
    """exp(x²) erfc(x); for x < 0 it is 2 exp(x²) - erfcx(-x) (inf below about -26.6)."""
    x = _f64(x)
    positive = _erfcx_of_positive(np.abs(x))
    with np.errstate(over="ignore", invalid="ignore"):
        negative = 2.0 * np.exp(x * x) - positive
    return np.where(x >= 0, positive, np.where(np.isnan(x), np.nan, negative))


def log_ndtr(x) -> np.ndarray:
    """log Φ(x), as torch computes it: log(erfcx(-x/√2)/2) - x²/2 below -1, else
    log1p(-erfc(x/√2)/2)."""
    x = _f64(x)
    t = x * (1 / math.sqrt(2.0))
    with np.errstate(all="ignore"):
        low = np.log(erfcx(-t) / 2) - t * t
        high = np.log1p(-_erfc(t) / 2)
    return np.where(x < -1.0, low, high)


def _erfc(x) -> np.ndarray:
    """erfc to relative precision for x >= 0 (as erfcx·exp(-x²)), 1 - erf(x) below."""
    with np.errstate(all="ignore"):
        right = _erfcx_of_positive(np.abs(x)) * np.exp(-x * x)
    return np.where(x >= 0, right, 1.0 - erf(x))


def ndtri_of_log(log_q) -> np.ndarray:
    """Φ⁻¹(exp(log_q)) for log_q <= log ½, even where exp(log_q) underflows (for sampling far
    out in a tail): Abramowitz & Stegun 26.2.23, then Newton steps on log Φ, which converge
    from there to float64 precision."""
    log_q = _f64(log_q)
    with np.errstate(all="ignore"):
        t = np.sqrt(-2.0 * log_q)
        x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
              / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t ** 3))
        x = np.where(np.isfinite(x), x, 0.0)
        for _ in range(6):
            lp = log_ndtr(x)
            # d log Φ / dx = φ(x)/Φ(x) = exp(-x²/2 - log Φ(x)) / √(2π)
            slope = np.exp(-0.5 * x * x - lp) / math.sqrt(2 * math.pi)
            step = (lp - log_q) / slope
            x = np.where(np.isfinite(step), x - step, x)
    return np.where(log_q == -np.inf, -np.inf, x)


def ndtri(p) -> np.ndarray:
    """Φ⁻¹(p): √2 erfinv(2p - 1) in the middle (2p - 1 is exact there); in the tails
    ndtri_of_log on q = min(p, 1 - p) (1 - p exact above 1/2), mirrored above 1/2; ±inf at 0
    and 1, nan outside."""
    p = _f64(p)
    with np.errstate(all="ignore"):
        x = ndtri_of_log(np.log(np.where(p > 0.5, 1.0 - p, p)))
    x = np.where(p > 0.5, -x, x)
    middle = np.abs(p - 0.5) < 0.25
    x = np.where(middle, math.sqrt(2.0) * erfinv(np.where(middle, 2.0 * p - 1.0, 0.0)), x)
    x = np.where(p == 0.0, -np.inf, np.where(p == 1.0, np.inf, x))
    return np.where((p < 0) | (p > 1) | np.isnan(p), np.nan, x)


# ---- Bessel functions: i0e, i1e (scaled modified, first kind) ----------------------------------

_ASYMPTOTIC_BESSEL = 30.0  # |x| from where the asymptotic expansions give float64 precision


def _hankel_terms(nu: int, x, count: int = 60):
    """The asymptotic series of I_ν in (-1)^m a_m(ν)/x^m, a_m(ν) =
    Π_{j<=m} (4ν² - (2j-1)²) / (m! 8^m), summed while the terms shrink, split by the parity
    of m (from even m, from odd m)."""
    mu = 4.0 * nu * nu
    term = np.ones_like(x)
    even, odd = np.ones_like(x), np.zeros_like(x)
    live = np.ones(x.shape, bool)
    for m in range(1, count):
        nxt = term * (mu - (2 * m - 1) ** 2) / (m * 8.0 * x)
        live &= np.abs(nxt) < np.abs(term)
        term = np.where(live, nxt, 0.0)
        sign = (-1) ** m
        if m % 2:
            odd = odd + sign * term
        else:
            even = even + sign * term
    return even, odd


def _scaled_i(nu: int, x) -> np.ndarray:
    """exp(-|x|) I_ν(|x|) for ν = 0, 1: the power series Σ (x/2)^(2k+ν)/(k!(k+ν)!) (terms of
    one sign) below 30, the asymptotic expansion 1/√(2πx) Σ (-1)^k a_k(ν)/x^k beyond."""
    a = np.abs(x)
    small = np.minimum(a, _ASYMPTOTIC_BESSEL)
    half = small / 2
    term = half ** nu / math.factorial(nu) * np.ones_like(a)
    total = term.copy()
    sq = half * half
    for k in range(1, 200):
        term = term * sq / (k * (k + nu))
        total = total + term
        if not np.any(term > 1e-17 * total):
            break
    series = total * np.exp(-small)
    big = np.maximum(a, _ASYMPTOTIC_BESSEL)
    even, odd = _hankel_terms(nu, big)
    with np.errstate(all="ignore"):
        far = np.where(np.isinf(big), 0.0, (even + odd) / np.sqrt(2 * math.pi * big))
    return np.where(a < _ASYMPTOTIC_BESSEL, series, far)


def i0e(x) -> np.ndarray:
    x = _f64(x)
    return np.where(np.isnan(x), np.nan, _scaled_i(0, x))


def i1e(x) -> np.ndarray:
    x = _f64(x)
    return np.where(np.isnan(x), np.nan, np.copysign(_scaled_i(1, x), x))


# ---- the Hurwitz zeta function -----------------------------------------------------------------

# (2k)!/B_2k for k = 1..12: the Euler-Maclaurin tail's coefficients (cephes' zeta)
_B2K_ALL = _B2K + (854513 / 138, -236364091 / 2730)
_EULER_MACLAURIN = tuple(math.factorial(2 * k + 2) / b for k, b in enumerate(_B2K_ALL))


def zeta(x, q) -> np.ndarray:
    """ζ(x, q) = Σ_k (q + k)^-x, as cephes (torch's): the sum up to q + N > 9 (N >= 10), then
    the Euler-Maclaurin tail. inf at x = 1 and at the poles q = 0, -1, ...; nan for x < 1 and
    for q < 0 with x not an integer."""
    x, q = np.broadcast_arrays(_f64(x), _f64(q))
    x, q = x.copy(), q.copy()
    with np.errstate(all="ignore"):
        ok = (x > 1) & ~((q <= 0) & (q == np.floor(q))) & ~((q < 0) & (x != np.floor(x)))
        ok &= np.isfinite(q) & ~np.isnan(x)
        xs, qs = np.where(ok, x, 2.0), np.where(ok, q, 1.0)
        n = np.maximum(10, np.ceil(10.0 - qs)).astype(np.int64)
        total = np.zeros_like(xs)
        for k in range(int(n.max()) if n.size else 0):
            total = total + np.where(k < n, (qs + k) ** -xs, 0.0)
        w = qs + n
        b = w ** -xs
        total = total + b * w / (xs - 1.0) + 0.5 * b  # (w's own term: half of it)
        a, k = np.ones_like(xs), 0.0
        for coef in _EULER_MACLAURIN:
            a = a * (xs + k)
            b = b / w
            total = total + a * b / coef
            k += 1.0
            a = a * (xs + k)
            b = b / w
            k += 1.0
        out = np.where(ok, total, np.nan)
        out = np.where(x == 1, np.inf, out)
        out = np.where((x > 1) & (q <= 0) & (q == np.floor(q)), np.inf, out)
        return np.where(np.isnan(x) | np.isnan(q), np.nan, out)


# ---- the regularized incomplete gamma functions ------------------------------------------------

def _one_minus_log(d):
    """φ = λ - 1 - log λ for λ = 1 + d, without the cancellation near λ = 1 (a series there)."""
    small = np.abs(d) < 0.01
    ds = np.where(small, d, 0.0)
    series = np.zeros_like(ds)
    for k in range(12, 1, -1):  # d²/2 - d³/3 + d⁴/4 - ...
        series = (series + (-1) ** k / k) * ds
    series = series * ds
    with np.errstate(all="ignore"):
        return np.where(small, series, d - np.log1p(d))


def _log_prefix(a, x):
    """log(x^a e^-x / Γ(a+1)): directly for a < 20; beyond, as -a φ(x/a) less Stirling's
    ½ log(2πa) + 1/(12a) - ..., whose terms stay small (a·log x would carry a's rounding)."""
    with np.errstate(all="ignore"):
        direct = a * np.log(x) - x - lgamma(a + 1)
        big = np.maximum(a, 20.0)
        inv2 = 1.0 / (big * big)
        stirling = (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680))) / big
        large = -big * _one_minus_log((x - big) / big) - 0.5 * np.log(2 * math.pi * big) - stirling
    return np.where(a < 20.0, direct, large)


# Temme's uniform expansion (DLMF 8.12) for a >= 1e5: Q = ½ erfc(η√(a/2)) + R, P = ½ erfc(-η√(a/2))
# - R, R = e^(-aη²/2)/√(2πa) Σ C_k(η) a^-k; η² = 2φ(x/a). C_k's Taylor coefficients in η
# (cephes' igam d[k][n]); η is below 0.12 wherever e^(-aη²/2) does not underflow.
_TEMME_FROM = 1e5
_TEMME_C = ((-1 / 3, 1 / 12, -2 / 135, 1 / 864, 1 / 2835, -139 / 777600, 1 / 25515,
             -571 / 261273600, -281 / 151559100),
            (-1 / 540, -1 / 288, 1 / 378, -77 / 77760, 8 / 25515, -1 / 7776),
            (25 / 6048, -139 / 51840, 5 / 6804))


def _temme(a, x):
    """(P, Q) for large a by Temme's expansion."""
    phi = _one_minus_log((x - a) / a)
    eta = np.copysign(np.sqrt(2 * phi), x - a)
    with np.errstate(all="ignore"):
        total = np.zeros_like(a)
        for k, coefs in enumerate(_TEMME_C):
            c = np.zeros_like(a)
            for coef in reversed(coefs):
                c = c * eta + coef
            total = total + c / a ** k
        r = np.exp(-a * phi) / np.sqrt(2 * math.pi * a) * total
        z = eta * np.sqrt(a / 2)
    return 0.5 * _erfc(-z) - r, 0.5 * _erfc(z) + r


def _gamma_series(a, x):
    """P(a, x) = x^a e^-x / Γ(a+1) Σ_n x^n / ((a+1)...(a+n)) (for x < a + 1)."""
    term = np.ones_like(a)
    total = np.ones_like(a)
    live = np.ones(a.shape, bool)
    n = 0
    while live.any() and n < 100000:
        n += 1
        term = np.where(live, term * x / (a + n), 0.0)
        total = total + term
        live &= term > _EPS / 4 * total
    return total * np.exp(_log_prefix(a, x))


def _gamma_fraction(a, x):
    """Q(a, x) = x^a e^-x / Γ(a) · 1/(x+1-a- 1(1-a)/(x+3-a- 2(2-a)/(x+5-a- ...))) by Lentz's
    method (for x >= a + 1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = np.full_like(a, 1 / tiny)
    d = 1.0 / b
    h = d.copy()
    live = np.ones(a.shape, bool)
    i = 0
    while live.any() and i < 100000:
        i += 1
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < tiny, tiny, d)
        c = b + an / c
        c = np.where(np.abs(c) < tiny, tiny, c)
        d = 1.0 / d
        delta = np.where(live, d * c, 1.0)
        h = h * delta
        live &= np.abs(delta - 1.0) > _EPS / 4
    return np.exp(_log_prefix(a, x)) * a * h  # (x^a e^-x / Γ(a) = that over Γ(a+1), times a)


def _incomplete_gamma(a, x, upper: bool) -> np.ndarray:
    a, x = np.broadcast_arrays(_f64(a), _f64(x))
    with np.errstate(all="ignore"):
        ok = (a > 0) & (x > 0) & np.isfinite(a) & np.isfinite(x)
        aa, xx = np.where(ok, a, 1.0), np.where(ok, x, 1.0)
        temme = aa >= _TEMME_FROM
        series = (xx < aa + 1.0) & ~temme
        p = np.ones_like(aa)
        q = np.ones_like(aa)
        if temme.any():
            p[temme], q[temme] = _temme(aa[temme], xx[temme])
        if series.any():
            p[series] = _gamma_series(aa[series], xx[series])
            q[series] = 1.0 - p[series]
        fraction = ~series & ~temme
        if fraction.any():
            q[fraction] = _gamma_fraction(aa[fraction], xx[fraction])
            p[fraction] = 1.0 - q[fraction]
        out = q if upper else p
        lower_edge, upper_edge = (1.0, 0.0) if upper else (0.0, 1.0)
        # torch's values off the interior: P(0, x > 0) = 1, P(a, 0) = 0, P(inf, x) = 0,
        # P(a, inf) = 1; nan for negative arguments and for (inf, inf)
        out = np.where(x == 0, lower_edge, out)
        out = np.where(np.isinf(x), upper_edge, out)
        out = np.where(np.isinf(a), lower_edge, out)
        out = np.where((a == 0) & (x > 0), upper_edge, out)
        out = np.where((a == 0) & (x == 0), np.nan, out)
        out = np.where(np.isinf(a) & np.isinf(x), np.nan, out)
        return np.where((a < 0) | (x < 0) | np.isnan(a) | np.isnan(x), np.nan, out)


def gammainc(a, x) -> np.ndarray:
    """The regularized lower incomplete gamma function P(a, x) (torch.igamma)."""
    return _incomplete_gamma(a, x, upper=False)


def gammaincc(a, x) -> np.ndarray:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x) (torch.igammac)."""
    return _incomplete_gamma(a, x, upper=True)
