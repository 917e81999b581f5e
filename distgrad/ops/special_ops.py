"""torch.special's functions that distgrad had no op for, formula for formula as torch's
derivatives.yaml: erfcx, i0e, i1e, ndtri, log_ndtr, xlog1py, zeta, entr, igamma and igammac
(special.gammainc, gammaincc); and those torch gives no derivative (their results never
require grad): the Bessel family (bessel_j0 ... airy_ai, ops/cephes_bessel.py) and the
orthogonal polynomials (chebyshev_polynomial_t ... legendre_polynomial_p,
ops/orthogonal_polynomials.py). Forwards in ops/special_more.py; where torch gives no
derivative for an argument (zeta's x, igamma's a) the VJP raises torch's error.

All rows here are elementwise: they run per shard and keep their inputs' layout.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..autograd.record import call
from . import cephes_bessel as bessel, orthogonal_polynomials as poly, special_more as sm
from .math import _is_num, float_forward, x_log_vjp
from .rules import (binary_float, no_low_float, not_implemented, refuse_low_grad, same_float,
                    unbroadcast, zeros_grad)
from .table import defop, elementwise

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)


def _no_derivative(name: str) -> NotImplementedError:
    return NotImplementedError(f"the derivative for '{name}' is not implemented.")


def _by_numbers(name: str):
    """torch's node for a binary special function: ...Backward1 when the first argument is a
    number (its Scalar self overload), ...Backward2 when the second is, else ...Backward0."""
    return lambda inputs, attrs: (f"{name}1" if _is_num(inputs[0]) else
                                  f"{name}2" if _is_num(inputs[1]) else f"{name}0")


# ---- erfcx, ndtri, log_ndtr, entr ----------------------------------------------------------------

defop("special_erfcx", float_forward(sm.erfcx), no_low_float("erfcx_cpu", same_float),
      lambda c, g: g * (2 * c[0] * c.out - _TWO_OVER_SQRT_PI),
      node="SpecialErfcxBackward0", save=(0,), save_out=True)
defop("special_ndtri", float_forward(sm.ndtri), no_low_float("ndtri_cpu", same_float),
      lambda c, g: g * (c.out * c.out / 2).exp() * _SQRT_2PI,
      node="SpecialNdtriBackward0", save_out=True)
defop("special_log_ndtr", float_forward(sm.log_ndtr), no_low_float("log_ndtr_cpu", same_float),
      lambda c, g: g / _SQRT_2PI * (c.out + c[0] * c[0] / 2).neg().exp(),
      node="SpecialLogNdtrBackward0", save=(0,), save_out=True)


def _entr(x):
    with np.errstate(all="ignore"):
        return np.where(x > 0, -x * np.log(x), np.where(x == 0, 0.0, np.where(x < 0, -np.inf, x)))


defop("special_entr", float_forward(_entr), same_float, lambda c, g: g * (-(1 + c[0].log())),
      node="SpecialEntrBackward0", save=(0,))

# ---- i0e, i1e (i1 is ops/more_pointwise.py's), bessel_j0, bessel_j1 -----------------------------

defop("special_i0e", float_forward(sm.i0e), same_float,
      lambda c, g: g * (call("special_i1e", c[0]) - c[0].sgn() * c.out),
      node="SpecialI0EBackward0", save=(0,), save_out=True)


def _i1e_vjp(c, g):
    refuse_low_grad("i1e_backward", c.dtypes[0])
    return g * call("where", c[0] == 0, 0.5, call("special_i0e", c[0])
                    - c.out * (c[0].sgn() + c[0].reciprocal()))


defop("special_i1e", float_forward(sm.i1e), same_float, _i1e_vjp,
      node="SpecialI1EBackward0", save=(0,), save_out=True)

# ---- without a derivative in torch: the Bessel family, the orthogonal polynomials ---------------

BESSEL = ("bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
          "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
          "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "spherical_bessel_j0",
          "airy_ai")
for _name in BESSEL:
    defop(f"special_{_name}", float_forward(getattr(bessel, _name)),
          no_low_float(f"{_name}_cpu", same_float))

# torch's name (x, n) -> the forward's
POLYNOMIALS = {
    "chebyshev_polynomial_t": poly.chebyshev_t, "chebyshev_polynomial_u": poly.chebyshev_u,
    "chebyshev_polynomial_v": poly.chebyshev_v, "chebyshev_polynomial_w": poly.chebyshev_w,
    "shifted_chebyshev_polynomial_t": poly.shifted_chebyshev_t,
    "shifted_chebyshev_polynomial_u": poly.shifted_chebyshev_u,
    "shifted_chebyshev_polynomial_v": poly.shifted_chebyshev_v,
    "shifted_chebyshev_polynomial_w": poly.shifted_chebyshev_w,
    "hermite_polynomial_h": poly.hermite_h, "hermite_polynomial_he": poly.hermite_he,
    "laguerre_polynomial_l": poly.laguerre_l, "legendre_polynomial_p": poly.legendre_p,
}
for _name, _forward in POLYNOMIALS.items():
    defop(f"special_{_name}", float_forward(_forward), no_low_float(f"{_name}_cpu", binary_float))

# ---- xlog1py, zeta ------------------------------------------------------------------------------


def _xlog1py(x, y):
    from .special import libm_float32

    with np.errstate(all="ignore"):
        log1p = libm_float32("log1pf", y, np.log1p)  # (torch's scalar kernel: log1pf)
        return np.where(np.isnan(y), np.nan, np.where(np.equal(x, 0), 0, x * log1p))


defop("special_xlog1py", float_forward(_xlog1py), binary_float, x_log_vjp("special_xlog1py", 1.0),
      save=(0, 1), node=_by_numbers("SpecialXlog1PyBackward"), number_edges=False)


def _zeta_vjp(c, g):
    """torch gives ζ(x, q) no derivative in x; in q it is -x ζ(x + 1, q)."""
    if c.needs[0]:
        raise _no_derivative("zeta")
    x = c[0]
    return None, unbroadcast(g * -x * call("special_zeta", x + 1.0, c[1]), c.shapes[1])


defop("special_zeta", float_forward(sm.zeta), no_low_float("zeta_cpu", binary_float), _zeta_vjp, save=(0, 1),
      node=_by_numbers("SpecialZetaBackward"), number_edges=False)

# ---- igamma, igammac: the regularized incomplete gamma functions ---------------------------------


@elementwise
def _igamma_rule(a, x, kernel="igamma_cpu"):
    meta = binary_float(a, x)
    common = dtypes.result_type((a, x))
    if not common.is_floating_point:
        raise not_implemented(kernel, common)
    return meta


def _igamma_vjp(name: str, sign: float):
    """torch: no derivative in a; in x it is ±x^(a-1) e^-x / Γ(a)."""
    def vjp(c, g):
        if c.needs[0]:
            raise _no_derivative(f"{name}: input")
        a, x = c[0], c[1]
        density = ((a - 1) * x.log() - x - a.lgamma()).exp()
        return None, unbroadcast(g * density * sign, c.shapes[1])

    return vjp


defop("igamma", float_forward(sm.gammainc), _igamma_rule, _igamma_vjp("igamma", 1.0), save=(0, 1),
      node="IgammaBackward0", api=("igamma",), inplace="igamma_")
defop("igammac", float_forward(sm.gammaincc),
      elementwise(lambda a, x: _igamma_rule(a, x, "igammac_cpu")), _igamma_vjp("igammac", -1.0),
      save=(0, 1), node="IgammacBackward0", api=("igammac",), inplace="igammac_")

# ---- round(input, decimals=): torch's round.decimals overload (RoundBackward1) -------------------


def _round_decimals(x, decimals=0):
    """torch's kernel: nearbyint(x·10^d)/10^d, or nearbyint(x/10^-d)·10^-d for d < 0."""
    if decimals == 0:
        return np.rint(x)
    scale = np.asarray(10.0 ** abs(decimals), x.dtype)
    return np.rint(x * scale) / scale if decimals > 0 else np.rint(x / scale) * scale


@elementwise
def _round_decimals_rule(x, decimals=0):
    if not x.dtype.is_floating_point:
        raise not_implemented("round_vml_cpu" if decimals == 0 else "round_cpu", x.dtype)
    return same_float(x)


defop("round_decimals", _round_decimals, _round_decimals_rule,
      lambda c, g: zeros_grad(g.shape, g.dtype, g.device_str), node="RoundBackward1")
