"""The activations of torch.nn.functional that are one node in torch: leaky_relu, elu (and
selu) and celu, softplus, hardtanh (and relu6), log_sigmoid, hardsigmoid, hardswish, mish,
threshold.

Forwards are numpy; VJPs are distgrad ops. elu's and softplus's derivatives are ops of
their own, as torch's (EluBackwardBackward0): their first derivative takes one side of a
kink while their second masks it with a strict comparison (elu's `x < 0`, softplus's
`βx < threshold`), so at the kink the second derivative is 0.

An op with `in_place=True` is torch's in-place form (`F.elu(x, inplace=True)`): the same
values, and for leaky_relu, elu, celu and threshold the node torch names for it
(EluBackward1) and its refusal of a negative slope.
"""
from __future__ import annotations

import numpy as np

from ..autograd import grad_mode
from ..autograd.record import call
from .math import _not_implemented
from .. import dtypes
from . import layout, rounding
from .rules import not_implemented, number_as, require_float, same, zeros_grad
from .table import ALWAYS, Meta, defop, elementwise


def _float_only(kernel: str):
    """A shape rule for a kernel torch has for floating dtypes only (`"elu_cpu"`)."""
    @elementwise
    def rule(x, *_, **__):
        require_float(kernel, x.dtype)
        return same(x)

    return rule


def _named(out_of_place: str, in_place: str):
    return lambda inputs, attrs: in_place if attrs.get("in_place") else out_of_place


def _result_in_place(kept: tuple = ()):
    """What the node saves (save_for): self, or in the in-place form (torch's Backward1)
    the result, which the write leaves where self was; and `kept` either way."""
    return lambda inputs, attrs: {ALWAYS: kept + (("out",) if attrs.get("in_place") else (0,))}


def _self_or_result(c):
    """What _result_in_place saved: the gradient formula reads it as torch's self_or_result."""
    return c.out if c.attrs.get("in_place") else c[0]


def _refuse_negative_slope(c, slope: float, what: str, tail: str = "") -> None:
    if c.attrs.get("in_place") and slope < 0:
        raise RuntimeError(f"In-place {what} backward calculation is triggered with a negative "
                           "slope which is not supported. This is caused by calling in-place "
                           "forward function with a negative slope, please call out-of-place "
                           "version instead." + tail)


# The backward of a piecewise-linear op is an op of its own, as torch's: g times a slope
# that depends on x only through comparisons. Its gradient for x is zeros, not none, so
# that under create_graph it requires grad (and x's history takes part), as in torch.

@elementwise
def _gradient_rule(g, x, **_):
    return Meta(x.shape, x.dtype)


def _piecewise_linear_vjp(name: str):
    def vjp(c, gg):
        return (call(name, gg, c[1], **c.attrs) if c.needs[0] else None,
                zeros_grad(c.shapes[1], c.dtypes[1], gg.device_str) if c.needs[1] else None)

    return vjp


# ---- leaky_relu ----------------------------------------------------------------------------

def _leaky_relu(x, negative_slope=0.01, in_place=False):
    return np.where(x > 0, x, x * negative_slope)


def _leaky_relu_vjp(c, g):
    slope = c.attrs.get("negative_slope", 0.01)
    _refuse_negative_slope(c, slope, "leakyReLu",
                           " File an issue at https://github.com/pytorch/pytorch if you do "
                           "require supporting in-place leakRelu backward calculation with "
                           "negative slope")
    # (the result has self's signs: a negative slope, which would flip them, is refused)
    return call("leaky_relu_backward", g, _self_or_result(c), negative_slope=slope)


defop("leaky_relu", _leaky_relu, _float_only("leaky_relu_cpu"), _leaky_relu_vjp,
      node=_named("LeakyReluBackward0", "LeakyReluBackward1"), save=(0,), save_out=True,
      save_for=_result_in_place())
defop("leaky_relu_backward",
      lambda g, x, negative_slope: np.where(x > 0, g, g * negative_slope),
      _gradient_rule, _piecewise_linear_vjp("leaky_relu_backward"),
      node="LeakyReluBackwardBackward0", save=(1,))


# ---- rrelu: x times its noise (1 above 0; the slope drawn in training, the mean in eval) ------

def _rrelu_vjp(c, g):
    # (torch's backward takes self with the noise: see _rrelu_backward_vjp)
    return call("rrelu_with_noise_backward", g, _self_or_result(c), c[1]), None


def _rrelu_backward_vjp(c, gg):
    # the gradient is linear in g; self, taken unread, gets zeros (torch's zeros_like(self)),
    # so under create_graph it requires grad when self does
    return (gg * c[2] if c.needs[0] else None,
            zeros_grad(c.shapes[1], c.dtypes[1], gg.device_str) if c.needs[1] else None, None)


defop("rrelu_with_noise", lambda x, noise, in_place=False: x * noise,
      _float_only("rrelu_with_noise_out_cpu"), _rrelu_vjp,
      node=_named("RreluWithNoiseBackward0", "RreluWithNoiseBackward1"), save=(0, 1),
      save_out=True, save_for=_result_in_place(kept=(1,)),
      differentiable=(0,), refuses_grad={1: "noise"}, elementwise=False,
      sharding="elementwise")  # (contiguous, as torch's)
defop("rrelu_with_noise_backward", lambda g, _x, noise: g * noise,
      lambda g, x, noise: Meta(x.shape, x.dtype), _rrelu_backward_vjp,
      node="RreluWithNoiseBackwardBackward0", save=(2,), differentiable=(0, 1),
      elementwise=False, sharding="elementwise")


# ---- elu, selu, celu ----------------------------------------------------------------------
# elu(x) = scale·x above 0, scale·alpha·(exp(input_scale·x) - 1) at or below it; selu is elu
# with fixed alpha and scale (torch names its node EluBackward0), celu is elu with
# input_scale = 1/alpha under a node of its own.

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _elu(x, alpha=1.0, scale=1.0, input_scale=1.0, in_place=False):
    negative = scale * alpha * rounding.expm1(np.minimum(x, 0) * input_scale)
    return np.where(x > 0, x * scale, negative)


def _elu_vjp(c, g):
    alpha = c.attrs.get("alpha", 1.0)
    _refuse_negative_slope(c, alpha, "elu")
    result = {"is_result": True} if c.attrs.get("in_place") else {}
    return call("elu_backward", g, _self_or_result(c), alpha=alpha,
                scale=c.attrs.get("scale", 1.0), input_scale=c.attrs.get("input_scale", 1.0),
                **result)


def _elu_backward(g, x, alpha, scale, input_scale, is_result=False):
    """torch's kernel: the lower side's slope at 0; NaN takes the linear side. Its
    coefficients are in x's dtype (float32 for a 2-byte float), alpha·scale rounded too.
    With is_result, x is the result (the in-place form's): the lower slope from it."""
    in_dtype = x.dtype.type
    input_scale, scale = in_dtype(input_scale), in_dtype(scale)
    negcoef = in_dtype(alpha) * scale
    if is_result:
        return np.where(x <= 0, g * input_scale * (x + negcoef), g * scale).astype(x.dtype)
    with np.errstate(over="ignore"):  # (a large x's exp, in the branch not taken)
        below = rounding.exp(x * input_scale)
    lower = g * input_scale * negcoef * below
    return np.where(x <= 0, lower, g * scale).astype(x.dtype)


def _elu_backward_vjp(c, gg):
    """torch's elu_double_backward: the second derivative masked with a strict x < 0 (of
    the result, is_result: gg·g·input_scale there)."""
    g, x = c[0], c[1]
    scales = {k: c.attrs[k] for k in ("alpha", "scale", "input_scale", "is_result")
              if k in c.attrs}
    if c.needs[1]:
        inner = gg * g * scales["input_scale"]
        gx = (inner if scales.get("is_result") else call("elu_backward", inner, x, **scales)) \
            * (x < 0)
    return (call("elu_backward", gg, x, **scales) if c.needs[0] else None,
            gx if c.needs[1] else None)


def _celu_rule(x, alpha=1.0, in_place=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    require_float("elu_cpu", x.dtype)
    return same(x)


class _AsElu:
    """A celu context seen as elu's (input_scale = 1/alpha)."""

    def __init__(self, c):
        self.attrs = dict(c.attrs, input_scale=1.0 / c.attrs.get("alpha", 1.0))
        self._c = c

    def __getitem__(self, i):
        return self._c[i]

    @property
    def out(self):
        return self._c.out


defop("elu", _elu, _float_only("elu_cpu"), _elu_vjp,
      node=_named("EluBackward0", "EluBackward1"), save=(0,), save_out=True,
      save_for=_result_in_place())
defop("elu_backward", _elu_backward, _gradient_rule, _elu_backward_vjp,
      node="EluBackwardBackward0", save=(0, 1))
defop("celu", lambda x, alpha=1.0, in_place=False: _elu(x, alpha, 1.0, 1.0 / alpha),
      elementwise(_celu_rule), lambda c, g: _elu_vjp(_AsElu(c), g),
      node=_named("CeluBackward0", "CeluBackward1"), save=(0,), save_out=True,
      save_for=_result_in_place())


# ---- softplus -------------------------------------------------------------------------------

def _softplus(x, beta=1.0, threshold=20.0):
    bx = x * beta
    with np.errstate(over="ignore"):  # (where it overflows, the result is x)
        return np.where(bx > threshold, x, rounding.log1p(rounding.exp(bx)) / beta)


def _softplus_vjp(c, g):
    return call("softplus_backward", g, c[0], beta=c.attrs.get("beta", 1.0),
                threshold=c.attrs.get("threshold", 20.0))


def _softplus_backward(g, x, beta, threshold):
    """torch's kernel: linear above the threshold, the soft side's slope at it (NaN: NaN)."""
    bx = x * x.dtype.type(beta)
    with np.errstate(over="ignore", invalid="ignore"):  # (exp's inf, in the branch not taken)
        z = rounding.exp(bx)
        return np.where(bx > threshold, g, g * z / (z + 1)).astype(x.dtype)


def _softplus_backward_vjp(c, gg):
    """torch's softplus_double_backward: sigmoid's derivative masked with a strict
    βx < threshold."""
    g, x = c[0], c[1]
    beta, threshold = c.attrs["beta"], c.attrs["threshold"]
    gx = None
    if c.needs[1]:
        bx = x * beta
        gx = call("sigmoid_backward", gg * g, bx.sigmoid()) * (bx < threshold)
        gx = call("mul_number", gx, other=beta)  # (torch's Scalar product: MulBackward1)
    return (call("softplus_backward", gg, x, beta=beta, threshold=threshold)
            if c.needs[0] else None, gx)


defop("softplus", _softplus, _float_only("softplus_cpu"), _softplus_vjp,
      node="SoftplusBackward0", save=(0,))
defop("softplus_backward", _softplus_backward, _gradient_rule, _softplus_backward_vjp,
      node="SoftplusBackwardBackward0", save=(0, 1))


# ---- hardtanh (relu6) -----------------------------------------------------------------------

def _hardtanh(x, min_val=-1.0, max_val=1.0, in_place=False):
    if x.dtype.kind in "iu":  # torch truncates the bounds of an integer input
        min_val, max_val = int(min_val), int(max_val)
    return np.clip(x, min_val, max_val)


@elementwise
def _hardtanh_rule(x, min_val=-1.0, max_val=1.0, in_place=False):
    if x.dtype is dtypes.bool_:
        raise RuntimeError("Bool inputs not supported for hardtanh")
    if x.dtype is dtypes.uint8 and min_val < 0:
        raise RuntimeError("cannot do hardtanh on an unsigned type with negative limits")
    for bound in (min_val, max_val):  # (its kernel clamps with them in x's dtype)
        dtypes.check_scalar_fits(bound, x.dtype)
    return same(x)


defop("hardtanh", _hardtanh, _hardtanh_rule,
      lambda c, g: call("hardtanh_backward", g, c[0], min_val=c.attrs.get("min_val", -1.0),
                        max_val=c.attrs.get("max_val", 1.0)),
      node="HardtanhBackward0", save=(0,),
      layout_rule=layout.like_first)  # (torch computes it into an empty_like of x)
defop("hardtanh_backward",
      lambda g, x, min_val, max_val: np.where((x <= min_val) | (x >= max_val), 0, g).astype(g.dtype),
      _gradient_rule, _piecewise_linear_vjp("hardtanh_backward"),
      node="HardtanhBackwardBackward0", save=(1,))


# ---- log_sigmoid ---------------------------------------------------------------------------

def _log_sigmoid(x):
    """torch's log_sigmoid_forward: the result, and the buffer exp(-|x|) its backward
    reads (what the forward saw, where the input it saves may be written since: `.data`)."""
    buffer = rounding.exp(-np.abs(x))
    return np.minimum(x, 0) - rounding.log1p(buffer), buffer


def _log_sigmoid_rule(x):
    meta = _float_only("log_sigmoid_cpu")(x)
    return meta, meta


def _log_sigmoid_backward(g, x, buffer):
    """torch's kernel: (1 or 0) - (±1)·buffer/(1 + buffer), the signs x's now."""
    negative = x < 0
    one = x.dtype.type(1)
    return ((np.where(negative, one, 0) - np.where(negative, one, -one) * (buffer / (one + buffer)))
            * g).astype(x.dtype, copy=False)


def _log_sigmoid_backward_vjp(c, gg):
    """torch's log_sigmoid_double_backward: (gg·g)·(σ(x) - 1)·σ(x)."""
    g, x, buffer = c[0], c[1], c[2]
    gx = None
    if c.needs[1]:
        z = x.sigmoid()
        gx = gg * g * (z - 1) * z
    return call("log_sigmoid_backward", gg, x, buffer) if c.needs[0] else None, gx


defop("log_sigmoid", _log_sigmoid, _log_sigmoid_rule,
      lambda c, g, _buffer_grad=None: call("log_sigmoid_backward", g, c[0], c.outs[0]),
      node="LogSigmoidBackward0", save=(0,), save_out=(1,), n_out=2, nondiff_outputs=(1,),
      saved_names={"self": 0, "buffer": ("out", 1)},
      elementwise=False, sharding="elementwise")  # (torch's result is contiguous)
defop("log_sigmoid_backward", _log_sigmoid_backward,
      lambda g, x, buffer: _gradient_rule(g, x), _log_sigmoid_backward_vjp,
      node="LogSigmoidBackwardBackward0", save=(0, 1, 2), differentiable=(0, 1),
      saved_names={"grad_output": 0, "self": 1, "buffer": 2}, elementwise=True)


# ---- hardsigmoid, hardswish -------------------------------------------------------------------

def _relu6_of_x_plus_3(x):
    return np.minimum(np.maximum(x + 3, 0), 6)


defop("hardsigmoid", lambda x, in_place=False: _relu6_of_x_plus_3(x) / 6, _float_only("hardsigmoid_cpu"),
      lambda c, g: call("hardsigmoid_backward", g, c[0]), node="HardsigmoidBackward0",
      save=(0,))
# torch gives hardsigmoid's derivative no derivative of its own: a double backward raises.
# Its kernel multiplies by `scalar_t(1.0f / 6.0f)`: a float32 sixth, in float64 too.
_FLOAT32_SIXTH = float(np.float32(1.0) / np.float32(6.0))
defop("hardsigmoid_backward",
      lambda g, x: np.where((x > -3) & (x < 3), g * x.dtype.type(_FLOAT32_SIXTH), 0).astype(x.dtype),
      lambda g, x: Meta(x.shape, x.dtype), _not_implemented("hardsigmoid_backward"),
      node="torch::autograd::NotImplemented", elementwise=True)


def _hardswish_backward(g, x):
    """torch's kernel: 0 up to -3, g·(x/3 + 1/2) below 3, g from there (and at nan)."""
    three, half = x.dtype.type(3), x.dtype.type(0.5)
    inside = g * (x / three + half)
    return np.where(x <= -three, x.dtype.type(0), np.where(x < three, inside, g)).astype(x.dtype)


def _hardswish_backward_vjp(c, gg):
    """torch's: g/3 inside (-3, 3), strictly, for x; the same derivative for g."""
    g, x = c[0], c[1]
    gx = call("where", (x > -3.0) & (x < 3.0), gg * g / 3.0, 0.0) if c.needs[1] else None
    return call("hardswish_backward", gg, x) if c.needs[0] else None, gx


defop("hardswish", lambda x, in_place=False: x * _relu6_of_x_plus_3(x) / 6, _float_only("hardswish_cpu"),
      lambda c, g: call("hardswish_backward", g, c[0]), node="HardswishBackward0", save=(0,))
defop("hardswish_backward", _hardswish_backward, _gradient_rule, _hardswish_backward_vjp,
      node="HardswishBackwardBackward0", save=(0, 1))


# ---- mish -------------------------------------------------------------------------------------

def _mish(x, in_place=False):
    return x * rounding.tanh(np.logaddexp(0, x).astype(x.dtype, copy=False))


def _mish_vjp(c, g):
    x = c[0]
    if not grad_mode.is_grad_enabled():
        return call("mish_backward", g, x)  # (torch's kernel: float16 rounded once)
    # torch's infinitely_differentiable_mish_backward, a gradient to differentiate again
    t = call("softplus", x).tanh()
    return g * (t + x * x.sigmoid() * (1 - t * t))


def _mish_backward(g, x):
    """torch's mish_backward kernel: g·(t + x·sigmoid(x)·(1 - t²)), t = tanh(softplus(x)),
    float16 and bfloat16 computed in float32 (table.half_as_float) and rounded once."""
    with np.errstate(over="ignore"):
        s = 1 / (1 + np.exp(-x))
        t = np.tanh(np.log1p(np.exp(x)))
    return g * (t + x * s * (1 - t * t))


defop("mish", _mish, _float_only("mish_cpu"), _mish_vjp, node="MishBackward0", save=(0,))
defop("mish_backward", _mish_backward, _gradient_rule, _not_implemented("mish_backward"),
      node="MishBackwardBackward0", save=(0, 1), elementwise=True)


# ---- threshold ---------------------------------------------------------------------------------

def _threshold(x, threshold, value, in_place=False):
    if x.dtype.kind in "iu":  # torch truncates the scalars for an integer input, and wraps
        d = dtypes.from_numpy(x.dtype)  # them into its dtype (uint8 takes -1 as 255)
        threshold, value = number_as(int(threshold), d), number_as(int(value), d)
    return np.where(x <= threshold, np.asarray(value, x.dtype), x)


@elementwise
def _threshold_rule(x, threshold, value, in_place=False):
    if x.dtype is dtypes.bool_:
        raise not_implemented("threshold_cpu", x.dtype)
    # its kernel takes both numbers in x's dtype, the threshold of a 2-byte float in float32
    dtypes.check_scalar_fits(threshold, dtypes.float32 if x.dtype in dtypes.LOW_FLOATS else x.dtype)
    dtypes.check_scalar_fits(value, x.dtype)
    return same(x)


defop("threshold", _threshold, _threshold_rule,
      lambda c, g: call("threshold_backward", g, c[0], threshold=c.attrs["threshold"]),
      node=_named("ThresholdBackward0", "ThresholdBackward1"), save=(0,))

