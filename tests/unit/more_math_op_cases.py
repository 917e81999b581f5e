"""Op cases for the functions of ops/more_pointwise.py, ops/order_stats.py and
ops/products.py (fmax ... copysign, median ... bucketize, dist ... addbmm), added to
op_cases.CASES and ERRORS: test_ops runs them against torch (values, dtypes, grad_fn names and
edges, first- and second-order gradients) and against float64 finite differences."""
from __future__ import annotations

import warnings

import numpy as np

from op_cases import Arg, B, F, I, K, P, case, error, is_torch, nnf  # noqa: F401

NAN, INF = float("nan"), float("inf")

# ---- fmax, fmin, copysign, heaviside, sgn, angle, signbit ------------------------------------------


def _some_nan(T, x):
    return T.where(x > 1.2, NAN, x)


case("fmax", lambda T, a, b: T.fmax(_some_nan(T, a), b), F(3, 4), F(4),
     covers=("fmax", "gt", "where"))
case("fmin_method", lambda T, a, b: a.fmin(_some_nan(T, b)), F(3, 1), F(3, 4),
     covers=("fmin", "where"))
case("fmax_ties", lambda T, a: T.fmax(a, a.detach()), F(4, ties=True), covers="fmax", fd=False)
case("copysign", lambda T, a, b: T.copysign(a, b), F(3, 4, away=0.1), F(4, away=0.1),
     covers="copysign")
case("copysign_number", lambda T, a: a.copysign(-1.0), F(3, 4, away=0.1), covers="copysign")
case("copysign_int", lambda T, i: T.copysign(i, -2), I(4, lo=-3, hi=3), covers="copysign")
case("copysign_", lambda T, a, b: a.clone().copysign_(b), F(3, 4, away=0.1), F(3, 4),
     covers=("clone", "copysign"))
case("copysign_zero", lambda T, a: (a * 0).copysign(-1.0), F(3), covers=("mul", "copysign"),
     fd=False)
case("heaviside", lambda T, a, b: T.heaviside(a * (a > 0.5), b),
     K(3, 4), K(4), covers=("heaviside", "gt", "mul"))
case("heaviside_", lambda T, a, b: (a * 1).heaviside_(b), K(3, 4, ties=True), K(3, 4),
     covers=("mul", "heaviside"))
case("sgn", lambda T, x: T.sgn(x), F(3, 4, away=0.1), covers="sgn")
case("sgn_", lambda T, x: x.clone().sgn_(), F(4, away=0.1), covers=("clone", "sgn"))
case("sgn_int", lambda T, i: i.sgn(), I(5, lo=-3, hi=3), covers="sgn")
case("angle", lambda T, x: T.angle(x), F(3, 4, away=0.1), covers="angle")
case("angle_int", lambda T, i: i.angle(), I(5, lo=-3, hi=3), covers="angle")
case("signbit", lambda T, x: T.signbit(x), K(3, 4), covers="signbit")
case("signbit_zeros", lambda T: T.tensor([0.0, -0.0, -INF, NAN]).signbit(), covers="signbit")

error("fmax_number", lambda T, a: T.fmax(a, 2.0), K(3))
error("fmin_method_number", lambda T, a: a.fmin(2.0), K(3))
error("heaviside_dtypes", lambda T, a, i: T.heaviside(a, i), K(3), I(3))

# ---- logit, sinc, exp2, erfc, asinh, acosh, atanh, rad2deg, deg2rad -------------------------------

case("logit", lambda T, x: T.logit(x), Arg("f", (3, 4), 0.05, 0.95), covers="logit")
case("logit_eps", lambda T, x: x.logit(eps=0.2), Arg("f", (3, 4), 0.01, 0.99), covers="logit",
     fd=False)
case("logit_eps_inside", lambda T, x: x.logit(0.01), Arg("f", (3, 4), 0.05, 0.95), covers="logit")
case("logit_outside", lambda T, x: T.logit(x), Arg("f", (4,), 1.1, 1.5), covers="logit", fd=False)
case("logit_", lambda T, x: (x * 0.5 + 0.5).logit_(), Arg("f", (4,), -0.9, 0.9),
     covers=("mul", "add", "logit"))
case("sinc", lambda T, x: T.sinc(x), F(3, 4, away=0.05), covers="sinc")
case("sinc_zero", lambda T, x: (x * 0).sinc(), F(3), covers=("mul", "sinc"), fd=False)
case("sinc_", lambda T, x: x.clone().sinc_(), F(4, away=0.05), covers=("clone", "sinc"))
case("exp2", lambda T, x: T.exp2(x), F(3, 4), covers="exp2")
case("exp2_int", lambda T, i: i.exp2(), I(4, lo=-2, hi=5), covers="exp2")
case("exp2_", lambda T, x: x.clone().exp2_(), F(4), covers=("clone", "exp2"))
case("erfc", lambda T, x: T.erfc(x), F(3, 4, lo=-3, hi=3), covers="erfc")
case("erfc_tail", lambda T, x: x.erfc(), Arg("f", (4,), 5.0, 9.0), covers="erfc", rtol=1e-4)
case("erfc_", lambda T, x: x.clone().erfc_(), F(4), covers=("clone", "erfc"))
case("asinh", lambda T, x: T.asinh(x), F(3, 4), covers="asinh")
case("arcsinh_method", lambda T, x: x.arcsinh(), F(4), covers="asinh")
case("acosh", lambda T, x: T.acosh(x), Arg("f", (3, 4), 1.2, 3.0), covers="acosh")
case("arccosh", lambda T, x: T.arccosh(x), Arg("f", (4,), 1.2, 3.0), covers="acosh")
case("atanh", lambda T, x: x.atanh(), Arg("f", (3, 4), -0.9, 0.9), covers="atanh")
case("arctanh", lambda T, x: T.arctanh(x), Arg("f", (4,), -0.9, 0.9), covers="atanh")
# (torch's in-place asinh_, acosh_, atanh_ have no derivative: see the errors below)
case("asinh_", lambda T, x: x.clone().asinh_(), K(4), covers=("clone", "asinh"))
case("acosh_", lambda T, x: (x + 3).acosh_(), K(4), covers=("add", "acosh"))
case("atanh_", lambda T, x: (x * 0.4).atanh_(), K(4), covers=("mul", "atanh"))
case("rad2deg", lambda T, x: T.rad2deg(x), F(3, 4), covers="rad2deg")
case("deg2rad", lambda T, x: x.deg2rad(), F(3, 4, lo=-200, hi=200), covers="deg2rad")
case("rad2deg_int", lambda T, i: i.rad2deg(), I(3, lo=-3, hi=3), covers="rad2deg")
case("deg2rad_", lambda T, x: x.clone().deg2rad_(), F(4), covers=("clone", "deg2rad"))

for _name in ("asinh", "acosh", "atanh"):
    error(f"{_name}__backward", lambda T, x, n=_name: T.autograd.grad(
        getattr(x * 0.3 + 1.5 * (n == "acosh"), n + "_")().sum(), x), F(4))
error("logit_method_bad_eps", lambda T, x: x.logit("a"), K(3), prefix=0)

# ---- float_power, positive, nan_to_num, polygamma, mvlgamma, i0 -----------------------------------

case("float_power", lambda T, x, y: T.float_power(x, y), P(3, 4), F(4),
     covers=("to_dtype", "pow"))
case("float_power_number", lambda T, x: x.float_power(2), F(3, 4), covers=("to_dtype", "pow"))
case("float_power_number_base", lambda T, x: T.float_power(2, x), F(3), covers=("to_dtype", "pow"))
case("float_power_", lambda T, x: (x * 1).double().float_power_(3), F(4),
     covers=("mul", "to_dtype", "pow"))
case("float_power__tensor", lambda T, x, y: (x * 1).double().float_power_(y), P(4), F(4),
     covers=("mul", "to_dtype", "pow"))
case("positive", lambda T, x: T.positive(x) * 2, F(3, 4), covers="mul")
case("nan_to_num", lambda T, x: T.nan_to_num(x / (x > 0.5) + T.where(x < -1.5, NAN, 0.0)),
     F(3, 4, away=0.05), covers=("nan_to_num", "div", "gt", "where", "add"), fd=False)
case("nan_to_num_values", lambda T, x: (T.log(x) + T.where(x > 1.2, NAN, 0.0)).nan_to_num(
    nan=1.5, posinf=9.0, neginf=-9.0), F(3, 4), covers=("nan_to_num", "log"), fd=False)
case("nan_to_num_smooth", lambda T, x: T.nan_to_num(x), F(3, 4), covers="nan_to_num")
case("nan_to_num_", lambda T, x: (x / (x > 0)).nan_to_num_(posinf=3.0), F(4, away=0.1),
     covers=("div", "nan_to_num"), fd=False)
case("nan_to_num_fn_", lambda T, x: T.nan_to_num_(T.log(x * 1)), F(4, away=0.1),
     covers=("mul", "log", "nan_to_num"), fd=False)
case("nan_to_num_int", lambda T, i: i.nan_to_num(), I(4), covers="nan_to_num")
case("polygamma", lambda T, x: T.polygamma(2, x), P(3, 4), covers="polygamma")
case("polygamma_0", lambda T, x: T.polygamma(0, x), P(3, 4), covers="polygamma")
case("polygamma_method", lambda T, x: x.polygamma(1), P(4), covers="polygamma")
case("polygamma_", lambda T, x: x.clone().polygamma_(1), P(4), covers=("clone", "polygamma"))
case("mvlgamma", lambda T, x: T.mvlgamma(x + 2, 3), P(3, 4), covers=("add", "mvlgamma", "digamma"))
case("mvlgamma_method", lambda T, x: (x + 1).mvlgamma(p=1), P(4), covers=("add", "mvlgamma"))
case("mvlgamma_", lambda T, x: (x + 2).mvlgamma_(2), P(4), covers=("add", "mvlgamma"))
case("i0", lambda T, x: T.i0(x), F(3, 4, lo=-4, hi=4), covers=("i0", "i1"))
case("i0_", lambda T, x: x.clone().i0_(), F(4), covers=("clone", "i0", "i1"))
case("i0_zero", lambda T, x: (x * 0).i0(), F(3), covers=("mul", "i0", "i1"), fd=False)
case("i0_int", lambda T, i: i.i0(), I(4, lo=-3, hi=9), covers="i0")

error("positive_bool", lambda T, b: T.positive(b), B(3))
error("mvlgamma_p0", lambda T, x: T.mvlgamma(x, 0), K(3))
case("mvlgamma_poles", lambda T: T.mvlgamma(T.tensor([0.0, 0.5, 1.0, 1.2, -0.7]), 3), covers="mvlgamma")
error("polygamma_negative", lambda T, x: T.polygamma(-1, x), K(3))
error("float_power__float", lambda T, x: x.float_power_(2), K(3))

# ---- in-place forms --------------------------------------------------------------------------------

case("clamp_min_", lambda T, x: x.clone().clamp_min_(0.1), F(3, 4, away=0.2),
     covers=("clone", "clamp_min"))
case("clamp_min_fn_", lambda T, x: T.clamp_min_(x.clone(), -0.5), F(3, 4, away=0.2),
     covers=("clone", "clamp_min"), fd=False)
case("clamp_max_", lambda T, x: x.clone().clamp_max_(0.1), F(3, 4, away=0.2),
     covers=("clone", "clamp_max"), fd=False)
case("clip_", lambda T, x: x.clone().clip_(-0.5, 0.7), F(3, 4), covers=("clone", "clamp"),
     fd=False)
case("clip_fn_", lambda T, x: T.clip_(x.clone(), max=0.7), F(3, 4), covers=("clone", "clamp"),
     fd=False)
case("square_", lambda T, x: x.clone().square_(), F(3, 4), covers=("clone", "pow"))
case("true_divide_", lambda T, x, y: x.clone().true_divide_(y), F(3, 4), P(4),
     covers=("clone", "div"))

# ---- hardshrink, softshrink, tanhshrink -----------------------------------------------------------

case("hardshrink", lambda T, x: T.hardshrink(x, 0.3), F(3, 4, away=0.35),
     covers=("hardshrink", "hardshrink_backward"))
case("hardshrink_method", lambda T, x: x.hardshrink(), F(3, 4, away=0.55), covers="hardshrink")
case("F_hardshrink", lambda T, x: nnf(T).hardshrink(x, lambd=1.0), F(3, 4), covers="hardshrink",
     fd=False)
case("nn_Hardshrink", lambda T, x: T.nn.Hardshrink(0.7)(x), F(3, 4), covers="hardshrink",
     fd=False)
case("softshrink", lambda T, x: nnf(T).softshrink(x, 0.3), F(3, 4, away=0.35),
     covers=("softshrink", "softshrink_backward"))
case("nn_Softshrink", lambda T, x: T.nn.Softshrink()(x), F(3, 4), covers="softshrink", fd=False)
case("tanhshrink", lambda T, x: nnf(T).tanhshrink(x), F(3, 4), covers=("tanh", "sub"))
case("nn_Tanhshrink", lambda T, x: T.nn.Tanhshrink()(x), F(3, 4), covers=("tanh", "sub"))

error("softshrink_negative", lambda T, x: nnf(T).softshrink(x, -1.0), K(3))
error("softshrink_negative_f64", lambda T, x: nnf(T).softshrink(x.double(), -0.5), K(3))

# ---- median, nanmedian, mode ---------------------------------------------------------------------

case("median", lambda T, x: T.median(x), F(3, 5), covers="median")
case("median_even", lambda T, x: x.median(), F(4, 2), covers="median")
case("median_ties", lambda T, x: x.median(), F(3, 4, ties=True), covers="median", fd=False)
case("median_dim", lambda T, x: T.median(x, 1), F(3, 5), covers="median_dim")
case("median_dim_keepdim", lambda T, x: x.median(dim=0, keepdim=True), F(4, 3), covers="median_dim")
case("median_dim_ties", lambda T, x: x.median(-1), F(5, 6, ties=True), covers="median_dim",
     fd=False)
case("median_dim_nan", lambda T, x: _some_nan(T, x).median(1), F(4, 5),
     covers=("median_dim", "where"), fd=False)
case("median_nan", lambda T, x: _some_nan(T, x).median(), F(4, 5),
     covers=("median", "where"), fd=False)
case("median_values_indices", lambda T, x: (lambda r: (r.values * 2, r.indices))(x.median(0)),
     F(5, 3), covers=("median_dim", "mul"))
case("median_int", lambda T, i: i.median(0), I(5, 3, hi=9), covers="median_dim")
case("median_0d", lambda T, x: x.median(0), F(), covers="median_dim")
case("nanmedian", lambda T, x: T.nanmedian(_some_nan(T, x)), F(4, 5),
     covers=("nanmedian", "where"))
case("nanmedian_dim", lambda T, x: _some_nan(T, x).nanmedian(1), F(4, 5),
     covers=("nanmedian_dim", "where"))
# (a row all nan: the value, nan; torch's index there depends on its selection algorithm)
case("nanmedian_all_nan_row", lambda T, x: T.nanmedian(x * T.tensor([[NAN], [1.0]]), 1)[0],
     F(2, 4), covers=("nanmedian_dim", "mul"), fd=False)
case("mode", lambda T, x: T.mode(x), F(4, 6, ties=True), covers="mode", fd=False)
case("mode_dim_keepdim", lambda T, x: x.mode(0, keepdim=True), F(6, 3, ties=True), covers="mode",
     fd=False)
case("mode_distinct", lambda T, x: x.mode(1), F(3, 4), covers="mode")
case("mode_int", lambda T, i: T.mode(i, 0), I(7, 3, hi=4), covers="mode")
case("kthvalue", lambda T, x: T.kthvalue(x, 2, 1), F(3, 5), covers="kthvalue")
case("kthvalue_keepdim", lambda T, x: x.kthvalue(3, dim=0, keepdim=True), F(4, 3),
     covers="kthvalue")
case("kthvalue_ties", lambda T, x: x.kthvalue(2), F(5, 6, ties=True), covers="kthvalue", fd=False)
case("kthvalue_nan", lambda T, x: _some_nan(T, x).kthvalue(4, 1), F(4, 5),
     covers=("kthvalue", "where"), fd=False)
case("kthvalue_int", lambda T, i: i.kthvalue(1, 0), I(5, 3, hi=9), covers="kthvalue")
case("kthvalue_0d", lambda T, x: x.kthvalue(1), F(), covers="kthvalue")

error("median_dim_range", lambda T, x: x.median(2), K(3, 4))
error("mode_empty", lambda T, x: x[:, :0].mode(1), K(3, 4))
error("kthvalue_k_zero", lambda T, x: x.kthvalue(0, 1), K(3, 4))
error("kthvalue_k_past_end", lambda T, x: x.kthvalue(5, 1), K(3, 4))

# ---- quantile, nanquantile ------------------------------------------------------------------------

_Q = ("sort", "take_along_dim", "squeeze_last_in_place")
for _mode in ("linear", "lower", "higher", "midpoint", "nearest"):
    case(f"quantile_{_mode}", lambda T, x, m=_mode: T.quantile(x, 0.37, interpolation=m),
         F(3, 5), covers=_Q)
    case(f"quantile_dim_{_mode}", lambda T, x, m=_mode: x.quantile(
        0.6, dim=1, keepdim=True, interpolation=m), F(3, 6), covers=_Q)


def _qs(T, x, *q):
    return T.tensor(q, dtype=x.dtype)


case("quantile_q_tensor", lambda T, x: T.quantile(x, _qs(T, x, 0.1, 0.5, 0.95), dim=0),
     F(5, 3), covers=_Q + ("lerp", "transpose"))
case("quantile_q_tensor_keepdim", lambda T, x: T.quantile(
    x, _qs(T, x, 0.25, 0.75), dim=-1, keepdim=True), F(2, 3, 4), covers=_Q + ("lerp",))
case("quantile_q_tensor_all", lambda T, x: x.quantile(_qs(T, x, 0.0, 1.0, 0.5)), F(3, 4),
     covers=_Q + ("lerp",))
case("quantile_ties", lambda T, x: T.quantile(x, 0.5, dim=1), F(4, 6, ties=True), covers=_Q,
     fd=False)
case("quantile_nan", lambda T, x: T.quantile(_some_nan(T, x), 0.4, dim=1), F(4, 5),
     covers=_Q + ("where",), fd=False)
case("nanquantile", lambda T, x: T.nanquantile(_some_nan(T, x), 0.4, dim=1), F(4, 5),
     covers=_Q + ("where", "isnan"))
case("nanquantile_q_tensor", lambda T, x: _some_nan(T, x).nanquantile(
    _qs(T, x, 0.3, 0.9), interpolation="midpoint"), F(4, 5), covers=_Q + ("where",))
case("nanquantile_all_nan_row", lambda T, x: T.nanquantile(
    x * T.tensor([[NAN], [1.0]]), 0.5, dim=1), F(2, 4), covers=_Q + ("mul",), fd=False)

error("quantile_q_range", lambda T, x: T.quantile(x, 1.5), K(3))
error("quantile_q_tensor_range", lambda T, x: T.quantile(x, T.tensor([0.5, -0.1])), K(3))
error("quantile_int", lambda T, i: T.quantile(i, 0.5), I(3))
error("quantile_interpolation", lambda T, x: T.quantile(x, 0.5, interpolation="cubic"), K(3))
error("quantile_q_dtype", lambda T, x: T.quantile(x, T.tensor([0.5], dtype=T.float64)), K(3))
error("quantile_q_2d", lambda T, x: T.quantile(x, T.tensor([[0.5]])), K(3))

# ---- cummax, cummin, logcumsumexp, aminmax, msort ---------------------------------------------------

case("cummax", lambda T, x: T.cummax(x, 1), F(3, 5), covers=("cummax", "scatter_add", "full"))
case("cummax_ties", lambda T, x: x.cummax(0), F(6, 3, ties=True), covers="cummax", fd=False)
case("cummax_nan", lambda T, x: _some_nan(T, x).cummax(1), F(3, 6),
     covers=("cummax", "where"), fd=False)
case("cummin", lambda T, x: x.cummin(-1), F(3, 5), covers=("cummin", "scatter_add"))
case("cummin_ties", lambda T, x: T.cummin(x, 1), F(3, 6, ties=True), covers="cummin", fd=False)
case("cummin_int", lambda T, i: i.cummin(0), I(5, 2, hi=9), covers="cummin")
case("cummax_0d", lambda T, x: x.cummax(0), F(), covers="cummax")
case("logcumsumexp", lambda T, x: T.logcumsumexp(x, 1), F(3, 5),
     covers=("logcumsumexp", "flip", "abs", "log", "where", "exp"))
case("logcumsumexp_large", lambda T, x: x.logcumsumexp(0), F(4, 3, lo=50, hi=90),
     covers="logcumsumexp", rtol=1e-4)
case("logcumsumexp_neg_dim", lambda T, x: x.logcumsumexp(-3), F(3, 2, 2), covers="logcumsumexp")
case("aminmax", lambda T, x: T.aminmax(x), F(3, 4), covers="aminmax")
case("aminmax_dim", lambda T, x: (lambda r: (r.min, r.max))(x.aminmax(dim=1, keepdim=True)),
     F(3, 4), covers="aminmax")
case("aminmax_ties", lambda T, x: T.aminmax(x, dim=0), F(5, 3, ties=True), covers="aminmax",
     fd=False)
case("aminmax_int", lambda T, i: T.aminmax(i, dim=-1), I(3, 4, hi=9), covers="aminmax")
case("msort", lambda T, x: T.msort(x), F(4, 3), covers="sort")
case("msort_method", lambda T, x: x.msort(), F(5), covers="sort")

error("logcumsumexp_int", lambda T, i: T.logcumsumexp(i, 0), I(3))
error("cummax_dim", lambda T, x: x.cummax(2), K(3, 4))
error("aminmax_empty", lambda T, x: T.aminmax(x[:0]), K(3))
error("histogram_int", lambda T, i: T.histogram(i, 2), I(3))
error("histogram_bins", lambda T, x: T.histogram(x, 0), K(3))
error("histogram_range_order", lambda T, x: T.histogram(x, 2, range=(3.0, 1.0)), K(3))
error("histogram_not_finite", lambda T: T.histogram(T.tensor([1.0, float("inf")]), 2))
error("histogram_edges_dtype", lambda T, x: T.histogram(x, T.tensor([0.0, 1.0], dtype=T.float64)),
      K(3))
error("histogram_weight_shape", lambda T, x: T.histogram(x, 2, weight=T.ones(2)), K(3))

# ---- histc, bincount, searchsorted, bucketize ------------------------------------------------------

case("histc", lambda T, x: T.histc(x, bins=7), F(4, 5), covers="histc")
case("histc_range", lambda T, x: x.histc(5, min=-1, max=1), F(30), covers="histc")
case("histc_edges", lambda T: T.tensor([0.0, 1.0, 2.0, 2.0, 3.0]).histc(3, 0, 2), covers="histc")
case("histc_constant", lambda T: T.histc(T.tensor([2.0, 2.0]), bins=4), covers="histc")
case("histogram", lambda T, x: tuple(T.histogram(x, bins=7)), K(4, 5), covers="histogram")
case("histogram_range_weight_density",
     lambda T, x, w: tuple(x.histogram(5, range=(-1.0, 1.5), weight=w, density=True)), K(30),
     K(30, lo=0.0, hi=1.0), covers="histogram")
case("histogram_edges",
     lambda T, x: tuple(T.histogram(x, T.tensor([-2.0, -0.5, 0.0, 2.0], dtype=x.dtype))),
     K(3, 4), covers="histogram")
case("histogram_constant", lambda T: tuple(T.histogram(T.tensor([1.0, 1.0]), 2)),
     covers="histogram")


def _histogramdd(T, *args, **kwargs):
    """histogramdd's hist and edges as one flat tuple; and its result type's fields."""
    r = T.histogramdd(*args, **kwargs)
    assert type(r).__name__ == "histogramdd" and r.hist is r[0] and r.bin_edges is r[1]
    assert type(r.bin_edges) is tuple
    return (r.hist, *r.bin_edges)


case("histogramdd", lambda T, x: _histogramdd(T, x, bins=[3, 4]), K(20, 2), covers="histogramdd")
case("histogramdd_3d", lambda T, x: _histogramdd(T, x.reshape(2, 5, 3), bins=2), K(10, 3),
     covers=("histogramdd", "reshape"))
case("histogramdd_range_weight_density",
     lambda T, x, w: _histogramdd(T, x, bins=(2, 3, 4), range=[-1.0, 1.0, 0.0, 1.5, -2, 2],
                                  weight=w, density=True),
     K(30, 3), K(30, lo=0.0, hi=1.0), covers="histogramdd")
case("histogramdd_edges",
     lambda T, x: _histogramdd(T, x, bins=[T.tensor([-2.0, -0.5, 0.0, 2.0], dtype=x.dtype),
                                           T.tensor([-1.0, 1.0], dtype=x.dtype)]),
     K(12, 2), covers="histogramdd")
case("histogramdd_constant", lambda T: _histogramdd(T, T.ones(3, 2), bins=2),
     covers="histogramdd")
error("histogramdd_bins_size", lambda T, x: T.histogramdd(x, bins=[2]), K(4, 2))
error("histogramdd_range_size", lambda T, x: T.histogramdd(x, bins=[2, 2], range=[0.0, 1.0]),
      K(4, 2))
error("histogramdd_int", lambda T, i: T.histogramdd(i, bins=[2, 2]), I(4, 2))
error("histogramdd_1d", lambda T, x: T.histogramdd(x, bins=[2]), K(4))
error("histogramdd_weight_shape",
      lambda T, x: T.histogramdd(x, bins=[2, 2], weight=T.ones(3)), K(4, 2))
error("histogramdd_zero_bins", lambda T, x: T.histogramdd(x, bins=[2, 0]), K(4, 2))
error("histogramdd_range_order",
      lambda T, x: T.histogramdd(x, bins=[2, 2], range=[0.0, 1.0, 1.0, 0.0]), K(4, 2))
error("histogramdd_mixed_bins", lambda T, x: T.histogramdd(x, bins=[T.tensor([0.0, 1.0]), 2]),
      K(4, 2))
error("histogramdd_out_counts",
      lambda T, x: T.histogramdd(x, bins=[2, 2], out=(T.empty(0), [T.empty(0), T.empty(0)])),
      K(4, 2))
error("histogramdd_out_edges",
      lambda T, x: T.histogramdd(x, bins=[T.tensor([-2.0, 0.0, 2.0])],
                                 out=(T.empty(0), [T.empty(0)])), K(6, 1))
error("histogramdd_backward", lambda T, x: T.histogramdd(x, bins=[2, 2]).hist.sum().backward(),
      F(4, 2))
# ---- torch's words for arguments its parser refuses -------------------------------------------

error("clamp_bounds_mixed", lambda T, x: T.clamp(x, min=T.tensor([0.0]), max=2.0), K(3), prefix=200)
error("clamp_bounds_mixed_positional", lambda T, x: T.clamp(x, 0.0, T.tensor([2.0])), K(3),
      prefix=200)
error("clamp_method_bounds_mixed", lambda T, x: x.clamp(min=T.tensor([0.0]), max=2.0), K(3),
      prefix=200)
error("clamp_method_bounds_mixed_positional", lambda T, x: x.clamp(0.0, T.tensor([2.0])), K(3),
      prefix=200)
error("clamp__bounds_mixed", lambda T, x: x.clone().clamp_(min=T.tensor([0.0]), max=2.0), K(3),
      prefix=200)
error("clamp_method_no_bounds", lambda T, x: x.clamp(min=None, max=None), K(3))
error("zeros_dtype_str", lambda T: T.zeros(2, dtype="float32"))
error("ones_dtype_numpy", lambda T: T.ones(2, dtype=np.float32))
error("empty_dtype_str", lambda T: T.empty(2, dtype="int64"))
error("full_dtype_numpy", lambda T: T.full((2,), 1.0, dtype=np.float64))
error("tensor_dtype_str", lambda T: T.tensor([1.0], dtype="float32"))
error("tensor_dtype_numpy", lambda T: T.tensor([1.0], dtype=np.float64))
error("arange_dtype_str", lambda T: T.arange(3, dtype="int64"))
error("add_ndarray_input", lambda T, x: T.add(np.ones(3), x), K(3))
error("add_ndarray_other", lambda T, x: T.add(x, np.ones(3)), K(3))
error("mul_list_other", lambda T, x: T.mul(x, [1.0, 2.0, 3.0]), K(3))
error("sub_ndarray_input", lambda T, x: T.sub(np.ones(3), x), K(3))
error("maximum_ndarray", lambda T, x: T.maximum(np.ones(3), x), K(3))
error("atan2_ndarray_other", lambda T, x: T.atan2(x, np.ones(3)), K(3))
case("add_numpy_number", lambda T, x: T.add(np.float64(2.0), x) + T.mul(x, np.float32(3.0)),
     F(3), covers=("add", "mul"))
case("bincount", lambda T, i: T.bincount(i), I(12, hi=6), covers="bincount")
case("bincount_minlength", lambda T, i: i.bincount(minlength=9), I(5, hi=4), covers="bincount")
case("bincount_empty", lambda T: T.bincount(T.tensor([], dtype=T.int64), minlength=3),
     covers="bincount")
case("bincount_weights", lambda T, i, w: T.bincount(i, weights=w), I(8, hi=5), K(8),
     covers="bincount")
case("bincount_weights_f64", lambda T, i: T.bincount(i, T.arange(8.0, dtype=T.float64)), I(8),
     covers=("arange", "bincount"))
case("bincount_weights_int", lambda T, i, j: T.bincount(i, j), I(8, hi=5), I(8, hi=9),
     covers="bincount")
case("searchsorted", lambda T, s, x: T.searchsorted(s.sort()[0], x), K(6), K(3, 4),
     covers=("searchsorted", "sort"))
case("searchsorted_right", lambda T: T.searchsorted(T.tensor([1.0, 2.0, 2.0, 3.0]),
                                                    T.tensor([2.0, 0.0, 5.0]), right=True),
     covers="searchsorted")
case("searchsorted_side", lambda T: T.searchsorted(T.tensor([1, 2, 2, 3]), T.tensor([[2, 3]]),
                                                   side="right"),
     covers="searchsorted")
case("searchsorted_nd", lambda T, s, x: T.searchsorted(s.sort()[0], x), K(2, 3, 5), K(2, 3, 4),
     covers=("searchsorted", "sort"))
case("searchsorted_sorter", lambda T, s, x: T.searchsorted(s, x, sorter=s.argsort()), K(6),
     K(4), covers=("searchsorted", "sort"))
case("searchsorted_number", lambda T: T.searchsorted(T.tensor([1.0, 2.0, 3.0]), 2.5),
     covers="searchsorted")
case("bucketize", lambda T, x: T.bucketize(x, T.tensor([-1.0, 0.0, 0.5, 1.0])), K(3, 4),
     covers="searchsorted")
case("bucketize_right_int32", lambda T: T.bucketize(T.tensor([[0, 1, 2, 3]]), T.tensor([1, 2]),
                                                    right=True),
     covers="searchsorted")

error("histc_int", lambda T, i: T.histc(i), I(3))
error("histc_min_max", lambda T, x: T.histc(x, min=2, max=1), K(3))
# the range is the data's when min == max: an inf or a nan there makes it not finite
error("histc_nan_data", lambda T: T.histc(T.tensor([1.0, 2.0, float("nan")]), bins=2))
error("histc_inf_data", lambda T: T.histc(T.tensor([1.0, float("inf")]), bins=2))
error("histc_inf_max", lambda T: T.histc(T.tensor([1.0, 2.0]), bins=2, min=0, max=float("inf")))
error("bincount_2d", lambda T, i: T.bincount(i), I(2, 3))
error("bincount_weights_shape", lambda T, i, w: T.bincount(i, w), I(3), K(4))
error("bincount_minlength", lambda T, i: T.bincount(i, minlength=-1), I(3))
error("bincount_backward", lambda T, i, w: T.bincount(i, w).sum().backward(), I(8, hi=5), F(8))
error("bincount_negative", lambda T, i: T.bincount(i - 5), I(3))
error("bincount_float", lambda T, x: T.bincount(x), K(3))
error("bincount_bool", lambda T, b: T.bincount(b), B(3))
error("searchsorted_opposites", lambda T, s, x: T.searchsorted(s, x, right=True, side="left"),
      K(3), K(2))
error("searchsorted_shapes", lambda T, s, x: T.searchsorted(s, x), K(2, 3), K(3, 2))
error("bucketize_2d", lambda T, x, s: T.bucketize(x, s), K(3), K(2, 2))

# ---- dist, renorm, vdot, kron -----------------------------------------------------------------------

for _p in (2, 1, 3, 0.5, INF):
    case(f"dist_p{_p}", lambda T, a, b, p=_p: T.dist(a, b, p), F(3, 4), F(4), covers="dist")
case("dist_method", lambda T, a, b: a.dist(b), F(3, 1), F(3, 4), covers="dist")
case("dist_p0", lambda T, a, b: T.dist(a, b, 0), K(3, 4), K(3, 4), covers="dist")
case("renorm", lambda T, x: T.renorm(x, 2, 0, 1.0), F(4, 3), covers=("renorm", "norm"))
case("renorm_p1_dim1", lambda T, x: x.renorm(1, 1, 2.5), F(3, 4, 2), covers="renorm")
case("renorm_some_below", lambda T, x: x.renorm(3, -1, 1.5), F(4, 3), covers="renorm")
case("renorm_", lambda T, x: x.clone().renorm_(2, 1, 0.8), F(3, 4), covers=("clone", "renorm"))
case("vdot", lambda T, a, b: T.vdot(a, b), F(5), F(5), covers="vdot")
case("vdot_method", lambda T, a, b: a.vdot(b), F(4), F(4), covers="vdot")
case("kron", lambda T, a, b: T.kron(a, b), F(2, 3), F(3, 2), covers=("mul", "unsafe_view"))
case("kron_mixed_dims", lambda T, a, b: a.kron(b), F(3), F(2, 2), covers=("mul", "unsafe_view"))
case("kron_3d", lambda T, a, b: T.kron(a, b), F(2, 1, 2), F(2, 2), covers=("mul", "unsafe_view"))

error("renorm_p0", lambda T, x: T.renorm(x, 0, 0, 1.0), K(3, 2))
error("renorm_maxnorm", lambda T, x: T.renorm(x, 2, 0, -1.0), K(3, 2))
error("vdot_2d", lambda T, a, b: T.vdot(a, b), K(2, 2), K(4))
error("vdot_sizes", lambda T, a, b: T.vdot(a, b), K(3), K(4))
error("dist_shapes", lambda T, a, b: T.dist(a, b), K(3), K(4))

# ---- cdist, pdist ---------------------------------------------------------------------------------

for _p in (2, 1, 3, 0.5, INF, 0):
    case(f"cdist_p{_p}", lambda T, a, b, p=_p: T.cdist(a, b, p=p), F(4, 3), F(5, 3),
         covers=("cdist", "cdist_backward"), grad2=False)
case("cdist_batched", lambda T, a, b: T.cdist(a, b), F(2, 4, 3), F(1, 5, 3),
     covers=("cdist", "cdist_backward"), grad2=False)
# torch's gradient at zero distance: 0 for p = 2 (the same rows on both sides)
case("cdist_zero_distance", lambda T, a: T.cdist(a, a * 1, compute_mode="donot_use_mm_for_euclid_dist"),
     F(4, 3), covers=("cdist", "cdist_backward", "mul"), grad2=False, fd=False)
case("cdist_mm", lambda T, a, b: T.cdist(a, b), F(30, 3), F(4, 3),
     covers=("euclidean_dist", "reshape"), rtol=1e-4, atol=1e-4)
case("cdist_mm_mode", lambda T, a, b: T.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
     F(3, 4), F(2, 4), covers="euclidean_dist", rtol=1e-4, atol=1e-4)
case("cdist_mm_batched", lambda T, a, b: T.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
     F(2, 3, 4), F(1, 2, 4), covers=("euclidean_dist", "expand"), rtol=1e-4, atol=1e-4)
case("pdist", lambda T, x: nnf(T).pdist(x), F(5, 3), covers=("pdist", "pdist_backward"),
     grad2=False)
case("pdist_p1", lambda T, x: T.pdist(x, 1), F(4, 3), covers="pdist", grad2=False)
case("pdist_p3", lambda T, x: T.pdist(x, p=3), F(4, 2), covers="pdist", grad2=False)
case("pdist_inf", lambda T, x: T.pdist(x, INF), F(4, 3), covers="pdist", grad2=False)


def _cdist_double_backward(T, a, b):
    d = T.cdist(a, b)
    (g,) = T.autograd.grad(d.sum(), a, create_graph=True)
    return T.autograd.grad(g.sum(), a)


error("cdist_double_backward", _cdist_double_backward, F(3, 2), F(2, 2))
error("pdist_double_backward", lambda T, x: T.autograd.grad(T.autograd.grad(
    T.pdist(x).sum(), x, create_graph=True)[0].sum(), x), F(3, 2))
error("cdist_1d", lambda T, a, b: T.cdist(a, b), K(3), K(2, 3))
error("cdist_columns", lambda T, a, b: T.cdist(a, b), K(2, 3), K(2, 4))
error("cdist_negative_p", lambda T, a, b: T.cdist(a, b, p=-1), K(2, 3), K(2, 3))
error("cdist_int", lambda T, a, b: T.cdist(a, b), I(2, 3), I(2, 3))
error("pdist_3d", lambda T, x: T.pdist(x), K(2, 3, 2))

# ---- addmv, addr, baddbmm, addbmm, chain_matmul, addmm_, baddbmm_ -----------------------------------

case("addmv", lambda T, x, m, v: T.addmv(x, m, v), F(3), F(3, 4), F(4), covers="addmv")
case("addmv_scaled_bcast", lambda T, x, m, v: x.addmv(m, v, beta=0.5, alpha=2), F(1), F(3, 4),
     F(4), covers="addmv")
case("addmv_beta0", lambda T, x, m, v: T.addmv(x * NAN, m, v, beta=0), F(3), F(3, 4), F(4),
     covers=("addmv", "mul"), fd=False)
case("addmv_", lambda T, x, m, v: x.clone().addmv_(m, v, alpha=3), F(3), F(3, 2), F(2),
     covers=("clone", "addmv"))
case("addr", lambda T, x, a, b: T.addr(x, a, b), F(3, 4), F(3), F(4), covers="addr")
case("addr_scaled", lambda T, x, a, b: x.addr(a, b, beta=2, alpha=-1), F(4), F(3), F(4),
     covers="addr")
case("addr_", lambda T, x, a, b: x.clone().addr_(a, b), F(3, 4), F(3), F(4),
     covers=("clone", "addr"))
case("baddbmm", lambda T, x, a, b: T.baddbmm(x, a, b), F(2, 3, 5), F(2, 3, 4), F(2, 4, 5),
     covers="baddbmm")
case("baddbmm_bcast_scaled", lambda T, x, a, b: x.baddbmm(a, b, beta=0.5, alpha=1.5), F(3, 1),
     F(2, 3, 4), F(2, 4, 5), covers="baddbmm")
case("baddbmm_", lambda T, x, a, b: x.clone().baddbmm_(a, b), F(2, 3, 5), F(2, 3, 4),
     F(2, 4, 5), covers=("clone", "baddbmm"))
case("addbmm", lambda T, x, a, b: T.addbmm(x, a, b), F(3, 5), F(2, 3, 4), F(2, 4, 5),
     covers="addbmm")
case("addbmm_scaled", lambda T, x, a, b: x.addbmm(a, b, beta=2, alpha=0.5), F(5), F(2, 3, 4),
     F(2, 4, 5), covers="addbmm")
case("addbmm_", lambda T, x, a, b: x.clone().addbmm_(a, b), F(3, 5), F(2, 3, 4), F(2, 4, 5),
     covers=("clone", "addbmm"))
case("addmm_", lambda T, x, a, b: x.clone().addmm_(a, b, beta=0.5), F(3, 5), F(3, 4), F(4, 5),
     covers=("clone", "addmm"))


def _chain(T, *ms):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return T.chain_matmul(*ms)


case("chain_matmul_2", lambda T, a, b: _chain(T, a, b), F(3, 4), F(4, 2), covers=("mm", "reshape"))
case("chain_matmul_3", lambda T, a, b, c: _chain(T, a, b, c), F(3, 4), F(4, 2), F(2, 5),
     covers="mm")
case("chain_matmul_3_right", lambda T, a, b, c: _chain(T, a, b, c), F(5, 2), F(2, 4), F(4, 1),
     covers="mm")
case("chain_matmul_4", lambda T, a, b, c, d: _chain(T, a, b, c, d), F(2, 3), F(3, 3), F(3, 2),
     F(2, 2), covers="mm")
case("chain_matmul_1", lambda T, a: _chain(T, a), F(2, 3), covers="clone")

error("addmv_shapes", lambda T, x, m, v: T.addmv(x, m, v), K(3), K(3, 4), K(5))
error("baddbmm_shapes", lambda T, x, a, b: T.baddbmm(x, a, b), K(2, 3, 5), K(2, 3, 4), K(2, 3, 5))
error("chain_matmul_3d", lambda T, a: _chain(T, a, a), K(2, 2, 2))

# ldexp: one node (LdexpBackward0) saving other and the result
case("ldexp", lambda T, a, b: T.ldexp(a, b), F(3, 4), F(4), covers="ldexp")
# (no finite differences: torch's gradient of self takes 2 ** other as an integer power,
# 0 where other < 0)
case("ldexp_int_exponent", lambda T, a, b: a.ldexp(b), F(3, 4), I(3, 1, lo=-2, hi=3),
     covers="ldexp", fd=False)

# ---- torch.range, rsub, the out-of-place fill and frexp (ops/ranges.py, more_functions.py) -----

case("range", lambda T: T.range(-1.5, 2, 0.5), covers="range")
case("range_int", lambda T: T.range(0, 10, 3, dtype=T.int32), covers="range")
case("rsub_tensors", lambda T, x, y: T.rsub(x, y, alpha=2), F(3, 4), F(4), covers="rsub")
case("rsub_number", lambda T, x: T.rsub(x, 2), F(3, 4), covers="sub")
case("fill_number", lambda T, x: T.fill(x, 1.5) * x, F(3, 4), covers="fill_new")
case("fill_tensor", lambda T, x, v: T.fill(x, v), F(3, 4), F(), covers="fill_new")
case("frexp", lambda T, x: T.frexp(x)[0], F(3, 4, lo=-9, hi=9), covers="frexp")
case("frexp_exponent", lambda T, x: T.frexp(x)[1], K(3, 4, lo=-9, hi=9), covers="frexp")
case("cumsum__0d_bool", lambda T: (T.tensor(True).cumsum_(0), T.tensor(False).cumprod_(-1)),
     covers=("cumsum", "cumprod", "clone"))
error("cumsum__0d_bool_dim", lambda T: T.tensor(True).cumsum_(1))
error("cumsum__bool", lambda T: T.tensor([True]).cumsum_(0))
error("conv2d_list_input", lambda T, w: nnf(T).conv2d([[1.0]], w), K(1, 1, 1, 1), prefix=200)
error("conv2d_number_weight", lambda T, x: nnf(T).conv2d(x, 3), K(1, 1, 2, 2), prefix=200)
error("conv1d_ndarray_input", lambda T, w: nnf(T).conv1d(np.ones((1, 1, 2)), w), K(1, 1, 1),
      prefix=200)
error("conv2d_number_bias", lambda T, x, w: nnf(T).conv2d(x, w, bias=1.0), K(1, 1, 2, 2),
      K(1, 1, 1, 1), prefix=200)
error("conv3d_stride_str", lambda T, x, w: nnf(T).conv3d(x, w, stride="a"), K(1, 1, 2, 2, 2),
      K(1, 1, 1, 1, 1), prefix=200)
error("conv2d_keywords", lambda T, x: nnf(T).conv2d(input=x, weight=3), K(1, 1, 2, 2), prefix=200)
error("to_dtype_str", lambda T, x: x.to(dtype="float32"), K(2), prefix=200)
error("to_numpy_type", lambda T, x: x.to(np.float32), K(2), prefix=200)
error("to_dtype_numpy", lambda T, x: x.to(dtype=np.float64), K(2), prefix=200)
error("to_device_dtype_str", lambda T, x: x.to("cpu", dtype="float32"), K(2), prefix=200)
error("module_to_dtype_str", lambda T: T.nn.Linear(2, 2).to(dtype="float32"), prefix=200)
