"""More elementwise functions of torch, formula for formula as its derivatives.yaml: fmax,
fmin, logit, sinc, exp2, erfc, sgn, signbit, heaviside, float_power, hardshrink,
softshrink, tanhshrink, asinh, acosh, atanh, rad2deg, deg2rad, nan_to_num, positive,
polygamma, mvlgamma, i0 (with i1 for its derivative), copysign; and the in-place forms
torch has of existing ones (clamp_min_, clip_, square_, true_divide_). Composites of other
rows: bitwise_not, isposinf, isneginf, ldexp.

All rows here are elementwise: they run per shard and keep their inputs' layout.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..autograd.record import call
from ..tensor import Tensor
from . import layout, rounding, special
from .activations import _gradient_rule, _piecewise_linear_vjp
from .api import _in_place, in_place
from .math import _is_num, _not_implemented, _zero_vjp, float_forward, sign_forward
from .pointwise import _grads
from .rules import (binary, binary_float, float_dtype, in_common_dtype, not_implemented,
                    refuse_low_grad, require_tensor, same, same_float, warn_resized,
                    zeros_grad)
from .table import ALWAYS, Meta, defop, elementwise

__all__ = ["fmax", "fmin", "logit", "heaviside", "float_power", "hardshrink", "softshrink",
           "tanhshrink", "nan_to_num", "nan_to_num_", "positive", "polygamma", "mvlgamma",
           "clamp_min_", "clip_", "bitwise_not", "isposinf", "isneginf", "ldexp"]

_LN2 = 0.6931471805599453


# ---- fmax, fmin: the maximum that ignores nan (tensors only) ----------------------------------

def _nan_ignoring_vjp(wins):
    """torch: self's gradient where it wins (or other is nan), other's elsewhere."""
    def vjp(c, g):
        a, b = c[0], c[1]
        first = wins(a, b) | b.isnan()
        return _grads(c, lambda: g.masked_fill(first.logical_not(), 0.0),
                      lambda: g.masked_fill(first, 0.0))

    return vjp


def _nan_ignoring(wins):
    """torch's kernel: self where it wins or other is nan, else other; so at a tie self, and
    its sign of zero (numpy's fmax and fmin keep one operand or the other at a tie,
    depending on the CPU's vector instructions)."""
    return lambda a, b: np.where(wins(a, b) | np.isnan(b), a, b)


defop("fmax", in_common_dtype(_nan_ignoring(np.greater_equal)), elementwise(binary),
      _nan_ignoring_vjp(lambda a, b: a >= b), node="FmaxBackward0", save=(0, 1), api=("fmax",))
defop("fmin", in_common_dtype(_nan_ignoring(np.less_equal)), elementwise(binary),
      _nan_ignoring_vjp(lambda a, b: a <= b), node="FminBackward0", save=(0, 1), api=("fmin",))


def _tensors_only(name: str, arg: str = "other"):
    """torch.<name>(input, <arg>) and Tensor.<name>(<arg>), refusing a number as torch does
    (it is the function's argument 2, the method's argument 1)."""
    def function(input, other):
        require_tensor(name, arg, 2, other)
        return call(name, input, other)

    def method(self, other):
        require_tensor(name, arg, 1, other)
        return call(name, self, other)

    function.__name__ = function.__qualname__ = method.__name__ = method.__qualname__ = name
    function.__module__ = __name__
    return function, method


(fmax, _fmax_method), (fmin, _fmin_method) = _tensors_only("fmax"), _tensors_only("fmin")


# ---- logit, sinc, exp2, erfc, the inverse hyperbolics, rad2deg, deg2rad --------------------------

def _logit(x, eps=None):
    if eps is not None:
        x = np.clip(x, eps, 1 - eps)
    return np.log(x / (1 - x))


def _logit_vjp(c, g):
    """torch's logit_backward: nan outside [0, 1] (0 outside [eps, 1 - eps] with eps)."""
    x, eps = c[0], c.attrs.get("eps")
    outside = (x < 0) | (x > 1) if eps is None else (x < eps) | (x > 1 - eps)
    return call("where", outside, float("nan") if eps is None else 0.0, g / (x * (1 - x)))


defop("logit", float_forward(_logit), same_float, _logit_vjp, node="LogitBackward0", save=(0,),
      api=("logit",), inplace="logit_")


def logit(input, eps=None):
    return call("logit", input, eps=eps) if eps is not None else call("logit", input)


def _sinc_vjp(c, g):
    px = c[0] * math.pi
    slope = (px * px.cos() - px.sin()) / (px * c[0])
    return call("where", c[0] == 0.0, 0.0, g * slope)


defop("sinc", float_forward(lambda x: np.sinc(x.astype(np.float64)).astype(x.dtype)), same_float,
      _sinc_vjp, node="SincBackward0", save=(0,), api=("sinc",), inplace="sinc_")
defop("exp2", float_forward(rounding.rounded_once(np.exp2)), same_float, lambda c, g: g * (c.out * _LN2),
      node="Exp2Backward0", save_out=True, api=("exp2",), inplace="exp2_")
defop("erfc", float_forward(lambda x: np.vectorize(math.erfc, otypes=[np.float64])(x)
                            .astype(x.dtype) if x.size else x.copy()), same_float,
      lambda c, g: g * ((c[0] * c[0]).neg().exp() * -1.1283791670955126),  # -2/√π e^(-x²)
      node="ErfcBackward0", save=(0,), api=("erfc",), inplace="erfc_")
# Their in-place forms are torch's second nodes (AsinhBackward1, ...; see METHODS), which
# torch gives no derivative.
def _inverse_hyperbolic(name: str, fn, derivative):
    def vjp(c, g):
        if c.attrs.get("in_place"):
            raise NotImplementedError(f"the derivative for 'inplace version of {name}' is not "
                                      "implemented.")
        return derivative(c[0], g)

    defop(name, float_forward(lambda x, in_place=False: fn(x)), same_float, vjp, save=(0,),
          api=(name, "arc" + name[1:]),
          node=lambda inputs, attrs: f"{name.capitalize()}Backward{int(bool(attrs.get('in_place')))}")


_inverse_hyperbolic("asinh", np.arcsinh, lambda x, g: g * (x * x + 1).rsqrt())
_inverse_hyperbolic("acosh", np.arccosh, lambda x, g: g * (x * x - 1).rsqrt())
_inverse_hyperbolic("atanh", rounding.rounded_once(np.arctanh), lambda x, g: g / (1 - x * x))
_DEGREES = 180.0 / math.pi
defop("rad2deg", float_forward(lambda x: x * np.asarray(_DEGREES, x.dtype)), same_float,
      lambda c, g: g * _DEGREES, node="Rad2DegBackward0", api=("rad2deg",), inplace="rad2deg_")
defop("deg2rad", float_forward(lambda x: x * np.asarray(1 / _DEGREES, x.dtype)), same_float,
      lambda c, g: g * (1 / _DEGREES), node="Deg2RadBackward0", api=("deg2rad",),
      inplace="deg2rad_")


# ---- sgn, signbit, heaviside, copysign ---------------------------------------------------------

# angle of a real number: π below zero, else 0 (nan stays nan); integers give floats
defop("angle", float_forward(lambda x: np.where(np.isnan(x), x, np.where(x < 0, np.pi, 0))
                             .astype(x.dtype)),
      same_float, _zero_vjp, node="AngleBackward0", save=(0,), api=("angle",))
defop("sgn", sign_forward, same, _zero_vjp,  # (its node saves self and the result, as torch's)
      node="SgnBackward0", save=(0,), save_out=True, api=("sgn",), inplace="sgn_")
defop("signbit", np.signbit, lambda x: Meta(x.shape, dtypes.bool_), elementwise=True,
      api=("signbit",))


@elementwise
def _heaviside_rule(x, values):
    if x.dtype is not values.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes.")
    return binary(x, values)


defop("heaviside", lambda x, v: np.where(x == 0, v, x > 0).astype(x.dtype), _heaviside_rule,
      _not_implemented("heaviside"), node="torch::autograd::NotImplemented",
      api=("heaviside",), params=("input", "values"), inplace="heaviside_")

heaviside, _heaviside_method = _tensors_only("heaviside", "values")


def _copysign_vjp(c, g):
    return (g * (c.out / c[0]).masked_fill(c[0] == 0, 0.0) if c.needs[0] else None,
            zeros_grad(c.shapes[1], c.dtypes[1], g.device_str)
            if len(c.shapes) > 1 and c.needs[1] else None)


defop("copysign", float_forward(np.copysign), binary_float, _copysign_vjp, save=(0,),
      save_out=True, save_for={ALWAYS: ("out",), 0: (0,)}, number_edges=False,
      node=lambda inputs, attrs: "CopysignBackward1" if _is_num(inputs[1]) else "CopysignBackward0",
      api=("copysign",), inplace="copysign_")


# ---- float_power: pow in float64 ---------------------------------------------------------------

def _double(x):
    return x.to(dtypes.float64) if isinstance(x, Tensor) else float(x)


def float_power(input, exponent):
    return call("pow", _double(input), _double(exponent))


def _float_power_(self, exponent):
    if self.dtype is not dtypes.float64:
        raise RuntimeError(f"the base given to float_power_ has dtype {self.dtype.long_name} but "
                           "the operation's result requires dtype Double")
    self._check_no_partial_overlap(exponent)
    return in_place(self, float_power, exponent)


# ---- hardshrink, softshrink, tanhshrink ----------------------------------------------------------

def _shrink_vjp(name: str):
    return lambda c, g: call(f"{name}_backward", g, c[0], lambd=c.attrs.get("lambd", 0.5))


def _shrink_backward(g, x, lambd):
    return np.where((x >= -lambd) & (x <= lambd), np.zeros((), g.dtype), g)


def _float_kernel_rule(kernel: str):
    """`same`, for a kernel that takes only floating dtypes (torch's error names it)."""
    @elementwise
    def rule(x, **_):
        if not x.dtype.is_floating_point:
            raise not_implemented(kernel, x.dtype)
        return same(x)

    return rule


defop("hardshrink", lambda x, lambd=0.5: np.where((x >= -lambd) & (x <= lambd), 0, x).astype(x.dtype),
      _float_kernel_rule("hardshrink_cpu"), _shrink_vjp("hardshrink"), node="HardshrinkBackward0", save=(0,))
defop("hardshrink_backward", _shrink_backward, _gradient_rule,
      _piecewise_linear_vjp("hardshrink_backward"), node="HardshrinkBackwardBackward0", save=(1,))
# (x·0 in the middle: NaN stays NaN and -0.3 gives -0.0, as torch's kernel)
defop("softshrink", lambda x, lambd=0.5: np.where(x > lambd, x - lambd, np.where(
    x < -lambd, x + lambd, x * 0)).astype(x.dtype), _float_kernel_rule("softshrink_check"),
      _shrink_vjp("softshrink"),
      node="SoftshrinkBackward0", save=(0,))
defop("softshrink_backward", _shrink_backward, _gradient_rule,
      _piecewise_linear_vjp("softshrink_backward"), node="SoftshrinkBackwardBackward0", save=(1,))


def hardshrink(input, lambd=0.5):
    return call("hardshrink", input, lambd=lambd)


def softshrink(input, lambd=0.5):
    if lambd < 0:
        biggest = np.finfo(input.dtype.np).max if input.dtype.is_floating_point else 2 ** 63 - 1
        raise RuntimeError(f"lambda must be in range [0, {biggest:g}] for input dtype "
                           f"{input.dtype.long_name}, but found {lambd:g}")
    return call("softshrink", input, lambd=lambd)


def tanhshrink(input):
    return input - input.tanh()


# ---- nan_to_num, positive ----------------------------------------------------------------------

defop("nan_to_num", lambda x, nan=0.0, posinf=None, neginf=None:
      np.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf) if x.dtype.kind == "f" else x.copy(),
      same, lambda c, g: g * (c[0].isinf() | c[0].isnan()).logical_not(),
      node="NanToNumBackward0", save=(0,), api=("nan_to_num",), inplace="nan_to_num_",
      layout_rule=layout.like_first)  # (torch computes it into an empty_like of x)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    if input.dtype in dtypes.LOW_FLOATS:  # (the forward sees float32: name the dtype's limits)
        info = np.finfo(input.dtype.np)
        posinf = float(info.max) if posinf is None else posinf
        neginf = float(info.min) if neginf is None else neginf
    return call("nan_to_num", input, nan=nan, posinf=posinf, neginf=neginf)


def nan_to_num_(input, nan=0.0, posinf=None, neginf=None):
    return in_place(input, nan_to_num, nan=nan, posinf=posinf, neginf=neginf)


def positive(input):
    if input.dtype is dtypes.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


# ---- polygamma, mvlgamma, i0 ---------------------------------------------------------------------

def polygamma(n, input):
    """ψ⁽ⁿ⁾(input); n = 0 is digamma (the op behind digamma's derivatives, ops/pointwise.py;
    its in-place form is PolygammaBackward1)."""
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return call("polygamma", input, n=int(n))


def _mvlgamma(x, p):
    total = sum(special.lgamma(x - j / 2) for j in range(p))
    return total + p * (p - 1) / 4 * math.log(math.pi)


def _mvlgamma_vjp(c, g):
    x, p = c[0], c.attrs["p"]
    total = x.digamma()
    for j in range(1, p):
        total = total + (x - j / 2).digamma()
    return g * total


@elementwise
def _mvlgamma_rule(x, p):
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    return same_float(x)


# (torch's mvlgamma ends in a sum over a new last dim: its result is row-major, whatever
# the input's layout)
defop("mvlgamma", float_forward(_mvlgamma), _mvlgamma_rule, _mvlgamma_vjp,
      node="MvlgammaBackward0", save=(0,), layout_rule=layout.row_major)


def mvlgamma(input, p):
    return call("mvlgamma", input, p=int(p))


def _i1(x):
    """The modified Bessel function I₁ in float64: its power series Σ (x/2)^(2k+1)/(k!(k+1)!),
    whose terms are all of one sign (no cancellation), summed until they stop counting."""
    x = np.asarray(x, np.float64)
    half = x / 2
    term = half.copy()
    total = term.copy()
    sq = half * half
    k = 0
    with np.errstate(over="ignore", invalid="ignore"):
        while np.any(np.abs(term) > 1e-17 * np.abs(total)) and k < 2000:
            k += 1
            term = term * sq / (k * (k + 1))
            total = total + term
    return np.where(np.isinf(x), np.nan, total)  # (torch's nan at ±inf)


defop("i0", float_forward(lambda x: np.i0(x.astype(np.float64))), same_float,
      lambda c, g: g * call("i1", c[0]), node="I0Backward0", save=(0,), api=("i0",),
      inplace="i0_")
# (torch.special.i1: here for i0's derivative; I₁' = I₀ - I₁/x, 1/2 at 0)
def _i1_vjp(c, g):
    refuse_low_grad("i1_backward", c.dtypes[0])
    return g * call("where", c[0] == 0, 0.5, c[0].i0() - c.out / c[0])


defop("i1", float_forward(_i1), same_float, _i1_vjp, node="SpecialI1Backward0", save=(0,),
      save_out=True)


# ---- bitwise_not, isposinf, isneginf, ldexp: other rows under torch's names -------------------

def bitwise_not(input):
    """~input on integers, logical not on bools; torch has no float kernel (the `~`
    operator's TypeError is the row's own)."""
    if input.dtype.is_floating_point:
        raise not_implemented("bitwise_not_cpu", input.dtype)
    return call("bitwise_not", input)


def isposinf(input):
    return call("eq", input, math.inf)  # (never true of an integer or a bool)


def isneginf(input):
    return call("eq", input, -math.inf)


def _ldexp_forward(x, e, power):
    """torch's kernels: std::ldexp of a float by an integer exponent (taken as a C int, as
    torch casts it); else input · pow(2.0, other), the power in dtype `power`."""
    if x.dtype.kind == "f" and e.dtype.kind in "iu":
        return np.ldexp(x, e.astype(np.int32))
    p = np.power(np.asarray(2.0, power), e.astype(power))
    if x.dtype.kind == "f":
        p = p.astype(np.result_type(x, p))
    return x.astype(p.dtype) * p


@elementwise
def _ldexp_rule(x, e, power=None):
    if x.dtype.is_floating_point and e.dtype is dtypes.bool_:
        raise not_implemented("ldexp_cpu_exp", e.dtype)
    return binary_float(x, e)


def _ldexp_vjp(c, g):
    """torch's derivatives.yaml, its int pow included: with an integer exponent 2 ** other
    is an integer, 0 where other < 0 (so is self's gradient there)."""
    return _grads(c, lambda: g * call("pow", 2, c[1]), lambda: g * c.out * _LN2)


defop("ldexp", _ldexp_forward, _ldexp_rule, _ldexp_vjp, node="LdexpBackward0", save=(1,),
      save_out=True, save_for={ALWAYS: ("out",), 0: (1,)})


def ldexp(input, other):
    """input · 2^other, in the operands' common floating dtype: one node (LdexpBackward0)
    that saves other and the result, as torch's."""
    require_tensor("ldexp", "input", 1, input)
    require_tensor("ldexp", "other", 2, other)
    power = other.dtype if other.dtype.is_floating_point else dtypes.get_default_dtype()
    out = call("ldexp", input, other, power=power.name)
    if input.dtype.is_floating_point and not other.dtype.is_floating_point and \
            out.shape != input.shape and input.numel():
        warn_resized(input.shape, out.shape)  # (torch's kernel writes into a clone of
    return out                                # self, resized)


def _ldexp_method(self, other):
    require_tensor("ldexp", "other", 1, other)
    return ldexp(self, other)


def _ldexp_(self, other):
    require_tensor("ldexp_", "other", 1, other)
    out = float_dtype(dtypes.result_type((self, other)))
    if out.category > self.dtype.category:
        raise RuntimeError(f"ldexp can't be cast to the desired output type {self.dtype.long_name}")
    return in_place(self, ldexp, other)


# ---- in-place forms of existing functions ------------------------------------------------------

def clamp_min_(input, min):
    return input.clamp_min_(min)


def clip_(input, min=None, max=None):
    return input.clamp_(min, max)


def in_place_forms(namespace: dict) -> dict:
    """Methods writing existing functions' results into self (namespace: ops/functions.py's)."""
    return {name: _in_place(namespace[of], name, Tensor) for name, of in (
        ("clamp_min_", "clamp_min"), ("clamp_max_", "clamp_max"), ("clip_", "clamp"),
        ("square_", "square"), ("true_divide_", "div"),
        # logical ops: their bool result cast into self's dtype, unrecorded, as torch's
        ("logical_and_", "logical_and"),
        ("logical_or_", "logical_or"), ("logical_xor_", "logical_xor"),
        ("logical_not_", "logical_not"),
        # torch's other names of in-place methods that exist under their first name
        ("absolute_", "abs"), ("arccos_", "acos"), ("arcsin_", "asin"), ("arctan_", "atan"),
        ("negative_", "neg"), ("divide_", "div"),
        ("multiply_", "mul"), ("subtract_", "sub"), ("fix_", "trunc"))
    } | {name: _in_place(_compared_into(namespace[of], node), name, Tensor) for name, of, node in (
        ("eq_", "eq", "Eq"), ("ne_", "ne", "Ne"), ("lt_", "lt", "Lt"), ("le_", "le", "Le"),
        ("gt_", "gt", "Gt"), ("ge_", "ge", "Ge"), ("greater_", "gt", "Gt"),
        ("greater_equal_", "ge", "Ge"), ("less_", "lt", "Lt"), ("less_equal_", "le", "Le"),
        ("not_equal_", "ne", "Ne"))} | {
        # (as &=, |=, ^=: torch refuses a float result before it looks for a float kernel)
        "bitwise_and_": Tensor.__iand__, "bitwise_or_": Tensor.__ior__,
        "bitwise_xor_": Tensor.__ixor__}


def _compared_into(compare, node: str):
    """x.eq_(y)'s result: the comparison cast into x's dtype, recorded (when x requires
    grad) as torch's EqBackward0/1, which gives x's old history, and y, zeros."""
    return lambda x, other: call("compared_into", x, other, compare(x, other), of=node)


defop("compared_into", lambda x, other, value, of: value.astype(x.dtype),
      lambda x, other, value, of: Meta(value.shape, x.dtype),
      lambda c, g: tuple(zeros_grad(c.shapes[i], g.dtype, g.device_str) if c.needs[i] else None
                         for i in (0, 1)),
      node=lambda inputs, attrs: attrs["of"] + ("Backward1" if isinstance(inputs[1], Tensor)
                                                else "Backward0"),
      differentiable=(0, 1), number_edges=False, sharding="elementwise")


METHODS = dict(
    fmax=_fmax_method, fmin=_fmin_method, heaviside=_heaviside_method,
    hardshrink=hardshrink, logit=logit, nan_to_num=nan_to_num,
    positive=positive, float_power=float_power, float_power_=_float_power_,
    polygamma=lambda self, n: polygamma(n, self),
    polygamma_=lambda self, n: in_place(self, lambda x: call("polygamma", x, n=int(n),
                                                             in_place=True)),

    mvlgamma=mvlgamma, mvlgamma_=lambda self, p: in_place(self, mvlgamma, p),
    bitwise_not=bitwise_not, bitwise_not_=lambda self: in_place(self, bitwise_not),
    isposinf=isposinf, isneginf=isneginf,
    ldexp=_ldexp_method, ldexp_=_ldexp_,
)
for _name in ("asinh", "acosh", "atanh"):
    METHODS[_name + "_"] = METHODS["arc" + _name[1:] + "_"] = (
        lambda self, name=_name: in_place(self, lambda x: call(name, x, in_place=True)))
