"""Op cases for the elementwise math (atan2, hypot, logaddexp, fmod, frac, lgamma, digamma,
erfinv), the nan-skipping sums, cumprod and the in-place addcmul_, addcdiv_ and lerp_,
added to op_cases.CASES and ERRORS: test_ops runs them against torch (values, dtypes,
grad_fn names and edges, first- and second-order gradients) and against float64 finite
differences."""
from __future__ import annotations

from op_cases import Arg, B, F, I, K, P, case, error  # noqa: F401

NAN = float("nan")

# ---- atan2, hypot, logaddexp ---------------------------------------------------------------------

case("atan2", lambda T, a, b: T.atan2(a, b), F(3, 4), F(4), covers="atan2")
case("arctan2_method", lambda T, a, b: a.arctan2(b), F(3, 1), F(3, 4), covers="atan2")
case("arctan2_fn", lambda T, a, b: T.arctan2(a, b), F(4), F(3, 4), covers="atan2")
case("atan2_int", lambda T, i, j: T.atan2(i, j), I(4, lo=-3, hi=3), I(4, lo=1, hi=3),
     covers="atan2")
case("atan2_", lambda T, a, b: a.clone().atan2_(b), F(3, 4), F(3, 4), covers=("clone", "atan2"))
case("hypot", lambda T, a, b: T.hypot(a, b), F(3, 4, away=0.1), F(3, 1, away=0.1), covers="hypot")
case("hypot_", lambda T, a, b: a.clone().hypot_(b), F(3, 4, away=0.1), F(4, away=0.1),
     covers=("clone", "hypot"))
case("logaddexp", lambda T, a, b: a.logaddexp(b), F(3, 4, lo=-30, hi=30), F(4, lo=-30, hi=30),
     covers="logaddexp")
case("logaddexp_fn_int_and_float", lambda T, i, b: T.logaddexp(i, b), I(3, 4, lo=-3, hi=3), F(4),
     covers="logaddexp")
case("logaddexp2", lambda T, a, b: T.logaddexp2(a, b), F(3, 4, lo=-30, hi=30), F(4, lo=-30, hi=30),
     covers="logaddexp2")
case("logaddexp2_method_int_and_float", lambda T, i, b: i.logaddexp2(b), I(3, 4, lo=-3, hi=3),
     F(3, 1), covers="logaddexp2")
case("nextafter", lambda T, a, b: T.nextafter(a, b), F(3, 4), F(4), covers="nextafter")
case("nextafter_toward_itself_and_f64", lambda T, a: a.nextafter(T.where(a > 0, a, a.double())),
     F(3, 4), covers=("nextafter", "where", "to_dtype", "gt"), fd=False)  # torch: 0 where equal
case("nextafter_", lambda T, a, b: (a * 1).nextafter_(b), F(3, 4), F(3, 4),
     covers=("mul", "nextafter"))

error("atan2_number", lambda T, a: T.atan2(a, 2.0), K(3))
error("atan2_method_number", lambda T, a: a.atan2(2.0), K(3))
error("hypot_int", lambda T, i, j: T.hypot(i, j), I(3), I(3))
error("hypot_number", lambda T, a: T.hypot(a, 2.0), K(3))
error("logaddexp_int", lambda T, i, j: T.logaddexp(i, j), I(3), I(3))
error("logaddexp_method_number", lambda T, a: a.logaddexp(1.0), K(3))
error("logaddexp2_int", lambda T, i, j: T.logaddexp2(i, j), I(3), I(3))
error("logaddexp2_number", lambda T, a: T.logaddexp2(a, 1.0), K(3))
error("nextafter_int", lambda T, i, j: i.nextafter(j), I(3), I(3))
# gcd, lcm, igamma and igammac have only a Tensor overload of `other` (function, method and
# in-place form alike)
error("gcd_number", lambda T, i: T.gcd(i, 6), I(3))
error("lcm_method_number", lambda T, i: i.lcm(6), I(3))
error("gcd_in_place_number", lambda T, i: i.gcd_(6), I(3))
error("lcm_in_place_number", lambda T, i: i.lcm_(6), I(3))
error("igamma_number", lambda T, a: T.igamma(a, 2.0), K(3))
error("igammac_method_number", lambda T, a: a.igammac(2.0), K(3))
error("igamma_in_place_number", lambda T, a: a.clone().igamma_(2.0), K(3))
error("nextafter_bool", lambda T, i, j: T.nextafter(i, j), B(3), B(3))
error("nextafter_method_number", lambda T, a: a.nextafter(1.0), K(3))
error("atan2_shape", lambda T, a, b: T.atan2(a, b), K(3), K(4))

# ---- fmod, frac ----------------------------------------------------------------------------------

case("fmod", lambda T, a, b: T.fmod(a, b), F(3, 4), Arg("f", (4,), 0.3, 0.9), covers="fmod")
case("fmod_negative_divisor", lambda T, a, b: a.fmod(b), F(3, 4), Arg("f", (3, 1), -0.9, -0.3),
     covers="fmod")
case("fmod_number", lambda T, a: a.fmod(0.7), F(3, 4), covers="fmod")
case("fmod_int", lambda T, i, j: T.fmod(i, j), I(6, lo=-9, hi=9), I(6, lo=1, hi=4), covers="fmod")
case("fmod_int_by_float", lambda T, i: i.fmod(1.5), I(5, lo=-6, hi=6), covers="fmod")
case("fmod_", lambda T, a: a.clone().fmod_(0.6), F(3, 4), covers=("clone", "fmod"))
case("frac", lambda T, x: x.frac(), F(3, 4, lo=-3, hi=3), covers="frac")
case("frac_", lambda T, x: T.frac(x * 2).frac_(), F(3, 4), covers=("mul", "frac"))

error("fmod_int_by_zero", lambda T, i: T.fmod(i, 0), I(3))
error("fmod_bool", lambda T, a, b: T.fmod(a, b), B(3), B(3))
error("frac_int", lambda T, i: i.frac(), I(3))
error("fmod_shape", lambda T, a, b: T.fmod(a, b), K(3), K(2))

# ---- lgamma, digamma, erfinv ---------------------------------------------------------------------

case("lgamma", lambda T, x: T.lgamma(x), P(3, 4), covers=("lgamma", "digamma"))
case("lgamma_negative", lambda T, x: x.lgamma(), Arg("f", (5,), -2.9, -2.1),
     covers=("lgamma", "digamma"))
case("lgamma_int", lambda T, i: i.lgamma(), I(4, lo=1, hi=6), covers="lgamma")
case("lgamma_", lambda T, x: x.clone().lgamma_(), P(4), covers=("clone", "lgamma"))
case("digamma", lambda T, x: T.digamma(x), P(3, 4), covers=("digamma", "polygamma"))
case("digamma_negative", lambda T, x: x.digamma(), Arg("f", (5,), -0.9, -0.1),
     covers=("digamma", "polygamma"))
case("digamma_large", lambda T, x: x.digamma(), Arg("f", (4,), 20.0, 200.0),
     covers=("digamma", "polygamma"))
case("digamma_", lambda T, x: x.clone().digamma_(), P(4), covers=("clone", "digamma"))
case("erfinv", lambda T, x: T.erfinv(x), Arg("f", (3, 4), -0.95, 0.95), covers="erfinv")
case("erfinv_tails", lambda T, x: x.erfinv(), Arg("f", (4,), 0.999, 0.99999), covers="erfinv")
case("erfinv_", lambda T, x: (x * 0.5).erfinv_(), F(4), covers=("mul", "erfinv"))
case("erfinv_int", lambda T, i: i.erfinv(), I(3, lo=-1, hi=2), covers="erfinv")
# at the poles and out of range, as torch: ±inf and nan
case("special_edges", lambda T: (T.tensor([0.0, -1.0, -2.5, 1.0]).lgamma(),
                                 T.tensor([0.0, -1.0, -0.5, 2.0]).digamma(),
                                 T.tensor([1.0, -1.0, 1.5, 0.0]).erfinv()), covers=())

# ---- nansum, nanmean -----------------------------------------------------------------------------

def _with_nans(T, x):
    return T.where(x > 1, NAN, x)


case("nansum", lambda T, x: _with_nans(T, x).nansum(), F(3, 4),
     covers=("gt", "where", "nansum"))
case("nansum_dim_keepdim", lambda T, x: T.nansum(_with_nans(T, x), (0, -1), keepdim=True),
     F(2, 3, 4), covers="nansum")
case("nansum_dim", lambda T, x: _with_nans(T, x).nansum(1), F(3, 4), covers="nansum")
case("nansum_int", lambda T, i: i.nansum(0), I(3, 4, hi=9), covers="nansum")
case("nansum_bool", lambda T, b: T.nansum(b), B(5), covers="nansum")
case("nansum_dtype", lambda T, x: x.nansum(dtype=T.float64), F(3, 4), covers="nansum", f64=False)
case("nanmean", lambda T, x: _with_nans(T, x).nanmean(), F(3, 4),
     covers=("nansum", "isnan", "logical_not", "sum", "div"))
case("nanmean_dim", lambda T, x: T.nanmean(_with_nans(T, x), dim=-1, keepdim=True), F(3, 4),
     covers=("nansum", "div"))
case("nanmean_all_nan_row", lambda T, x: (x * NAN).nanmean(1), F(2, 3), covers=("nansum", "div"),
     fd=False)

error("nanmean_int", lambda T, i: i.nanmean(), I(3))
error("nanmean_int_dtype", lambda T, x: x.nanmean(dtype=T.int64), K(3))
error("nansum_dim", lambda T, x: x.nansum(2), K(3, 4))

# ---- cumprod -------------------------------------------------------------------------------------

_ZEROS = [[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]

case("cumprod", lambda T, x: T.cumprod(x, 1), F(3, 4, away=0.2),
     covers=("cumprod", "flip", "cumsum", "div"))
case("cumprod_neg_dim", lambda T, x: x.cumprod(-3), F(2, 3, 4, away=0.2), covers="cumprod")
# zeros in the input: the gradient from products of the others (torch's second path)
case("cumprod_zeros", lambda T, x: (x * T.tensor(_ZEROS)).cumprod(1), F(3, 4),
     covers=("cumprod", "where", "full", "cat", "prod_dim", "select", "copy"))
case("cumprod_zeros_dim0", lambda T, x: (x * T.tensor(_ZEROS)).cumprod(dim=0), F(3, 4),
     covers=("cumprod", "where", "prod_dim"))
case("cumprod_one_element_dim", lambda T, x: x.cumprod(0), F(1, 3), covers="cumprod")
case("cumprod_0d", lambda T, x: x.cumprod(0), F(), covers="cumprod")
case("cumprod_int", lambda T, i: i.cumprod(1), I(3, 4, lo=-3, hi=4), covers="cumprod")
case("cumprod_bool", lambda T, b: b.cumprod(0), B(5), covers="cumprod")
case("cumprod_dtype", lambda T, x: x.cumprod(1, dtype=T.float64), F(3, 4, away=0.2),
     covers=("to_dtype", "cumprod"), f64=False)

error("cumprod_dim", lambda T, x: x.cumprod(2), K(3, 4))

# ---- addcmul_, addcdiv_, lerp_ -------------------------------------------------------------------

case("addcmul_", lambda T, x, a, b: x.clone().addcmul_(a, b, value=0.5), F(3, 4), F(4), F(3, 1),
     covers=("clone", "addcmul"))
case("addcdiv_", lambda T, x, a, b: x.clone().addcdiv_(a, b), F(3, 4), F(3, 4), P(4),
     covers=("clone", "addcdiv"))
case("lerp_", lambda T, a, b: a.clone().lerp_(b, 0.3), F(3, 4), F(4), covers=("clone", "lerp"))
case("lerp_tensor_weight_", lambda T, a, b, w: a.clone().lerp_(b, w), F(3, 4), F(3, 4),
     F(4, lo=0, hi=1), covers=("clone", "lerp"))

error("addcmul_broadcast_self", lambda T, x, a, b: x.addcmul_(a, b), K(3), K(2, 3), K(3))
error("lerp_leaf", lambda T, a, b: a.lerp_(b, 0.5), F(3), K(3))
