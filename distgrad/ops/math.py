"""Elementwise ops: forward in numpy, VJP in distgrad ops, shape rule — one entry each."""
from __future__ import annotations

import numpy as np

from . import layout, rounding, vector_sum
from .rules import (binary, binary_float, broadcast_shapes, cast_to, common_dtype, compare,
                    in_common_dtype, integral_scalar, not_implemented, number_as,
                    require_scalar_type, same, same_float, shape_of, unbroadcast, written,
                    zeros_grad)
from .table import ALWAYS, OPS, Meta, defop, elementwise, half_as_float, low_alpha, low_common
from .. import dtypes
from ..autograd.record import call


def _is_num(x) -> bool:
    return not hasattr(x, "shape")


def float_forward(fn):
    """The forward of a float op (exp, sin, ...): bool and integer inputs are computed in
    the default float dtype, as torch does (numpy would use float16 for bool)."""
    return in_common_dtype(fn, floating=True)


# ---- arithmetic -----------------------------------------------------------------------

def _scaled(b, alpha):
    return b * alpha if alpha != 1 else b


_CHUNK = 1 << 16  # elements of b·alpha computed at a time: they stay in the cache


def _scaled_into(ufunc):
    """An in-place `a ∘ b·alpha` written into `out` (SGD's `p.add_(g, alpha=-lr)`): for big
    arrays of one shape, in chunks, so b·alpha is never a whole temporary (three passes over
    memory instead of five: a 64 MB weight's update 20 -> 12 ms here). The same values."""

    def into(out, a, b, alpha=1):
        if alpha == 1 or out.size <= _CHUNK or not (
                type(a) is np.ndarray and type(b) is np.ndarray and
                a.shape == b.shape == out.shape and a.flags.c_contiguous and
                b.flags.c_contiguous and out.flags.c_contiguous and b.dtype == out.dtype):
            return ufunc(a, _scaled(b, alpha), out=out)
        flat_out, flat_a, flat_b = out.reshape(-1), a.reshape(-1), b.reshape(-1)
        scaled = np.empty(_CHUNK, out.dtype)
        for lo in range(0, out.size, _CHUNK):
            hi = min(lo + _CHUNK, out.size)
            part = scaled[:hi - lo]
            np.multiply(flat_b[lo:hi], alpha, out=part)
            ufunc(flat_a[lo:hi], part, out=flat_out[lo:hi])
        return out
    return into


_LOW_PAIR = 32  # float16/bfloat16 elements of two AVX2 vectors (its add kernel's build)


def _low_tail_rounded(forward):
    """add or sub of float16/bfloat16 operands as torch's x86 CPU kernel computes it with an
    alpha: its vectorized loop, two vectors at a time, computes a ± alpha·b in float32 and
    rounds once, but the elements after the last pair (of same-shape row-major operands: an
    optimizer's `p.add_(g, alpha=-lr)`) go through its scalar loop, whose c10::BFloat16 (or
    Half) arithmetic rounds alpha·b to the dtype first."""
    def run(a, b, alpha=1):
        low = low_common((a, b))
        if low is None:
            return forward(a, b, alpha=alpha)
        alpha = low_alpha((a, b), alpha)
        a, b = half_as_float((a, b), OPS["add"])
        out = forward(a, b, alpha=alpha)
        tail = out.size % _LOW_PAIR
        if alpha == 1 or not tail or vector_sum.float32_lanes() is None or not (
                type(a) is np.ndarray and type(b) is np.ndarray and a.shape == b.shape and
                a.flags.c_contiguous and b.flags.c_contiguous):
            return out
        out = np.array(out, order="C")
        scaled = dtypes.cast(b.reshape(-1)[-tail:] * np.float32(alpha), low.np).astype(np.float32)
        out.reshape(-1)[-tail:] = forward(a.reshape(-1)[-tail:], scaled)
        return out

    return run


defop("add", _low_tail_rounded(in_common_dtype(lambda a, b, alpha=1: np.add(a, _scaled(b, alpha)))),
      binary,
      lambda c, g: (unbroadcast(g, c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(g * c.attrs.get("alpha", 1) if c.attrs.get("alpha", 1) != 1 else g,
                                c.shapes[1]) if c.needs[1] else None),
      node="AddBackward0", api=("add",), inplace="add_",
      into=_scaled_into(np.add))

defop("sub", _low_tail_rounded(in_common_dtype(
    lambda a, b, alpha=1: np.subtract(a, _scaled(b, alpha)))),
      lambda a, b, alpha=1: _sub_rule(a, b),
      lambda c, g: (unbroadcast(g, c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(-g * c.attrs.get("alpha", 1) if c.attrs.get("alpha", 1) != 1 else -g,
                                c.shapes[1]) if c.needs[1] else None),
      node=lambda inputs, attrs: "RsubBackward1" if _is_num(inputs[0]) else "SubBackward0",
      number_edges=lambda inputs: not _is_num(inputs[0]),  # t - 2 lists (None, 0); 2 - t not
      elementwise=True,
      api=("sub", "subtract"), inplace="sub_",
      into=_scaled_into(np.subtract))


def _sub_rule(a, b):
    meta = binary(a, b)
    if meta.dtype is dtypes.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if _is_bool(a) or _is_bool(b):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return meta


def _is_bool(x) -> bool:
    """A bool tensor or a Python bool."""
    return getattr(x, "dtype", None) is dtypes.bool_ or isinstance(x, (bool, np.bool_))


def _no_bool(kernel: str, rule=binary):
    """A binary rule that raises torch's error when both operands are bool (torch has no bool
    kernel for floor division, remainder or pow)."""
    @elementwise
    def checked(a, b, **attrs):
        meta = rule(a, b, **attrs)
        if meta.dtype is dtypes.bool_:
            raise not_implemented(kernel, meta.dtype)
        return meta

    return checked


def _check_divisor(a, b) -> None:
    """torch raises on an integer division by zero; numpy gives 0 (with a warning)."""
    if not common_dtype((a, b)).is_floating_point and np.any(np.equal(b, 0)):
        raise RuntimeError("ZeroDivisionError")


def _integer_division(fn):
    """The forward of floor_divide or remainder, computed in the common dtype."""
    def run(a, b):
        _check_divisor(a, b)
        with np.errstate(all="ignore"):
            return fn(*cast_to((a, b), common_dtype((a, b))))

    return run


defop("mul", in_common_dtype(np.multiply), binary,
      lambda c, g: (unbroadcast(g * c[1], c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(g * c[0], c.shapes[1]) if c.needs[1] else None),
      node="MulBackward0", save=(0, 1), save_for={0: (1,), 1: (0,)}, api=("mul", "multiply"),
      inplace="mul_",
      into=lambda out, a, b: np.multiply(a, b, out=out))

def _div_forward(a, b, rounding_mode=None):
    if rounding_mode is not None:
        _check_divisor(a, b)
    a, b = cast_to((a, b), common_dtype((a, b), floating=rounding_mode is None))
    if rounding_mode is None and _is_num(b) and b != 0:
        return np.true_divide(a, b)  # the common `g / n`: nothing to silence
    with np.errstate(all="ignore"):
        return _divide(a, b, rounding_mode)


def _divide(a, b, rounding_mode):
    if rounding_mode is None:
        return np.true_divide(a, b)
    if rounding_mode == "floor":
        return np.floor_divide(a, b)
    q = np.true_divide(a, b)
    return np.trunc(q) if np.result_type(a, b).kind == "f" else _trunc_int_div(a, b)


def _trunc_int_div(a, b):
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)  # np.sign has no bool loop
    q = np.floor_divide(np.abs(a), np.abs(b))
    return np.where(np.sign(a) * np.sign(b) < 0, -q, q)


@elementwise
def _div_rule(a, b, rounding_mode=None):
    if rounding_mode is None:
        return binary_float(a, b)
    if rounding_mode not in ("floor", "trunc"):
        raise RuntimeError("div expected rounding_mode to be one of None, 'trunc', or 'floor' but "
                           f"found '{rounding_mode}'")
    return _no_bool(f"div_{rounding_mode}_cpu")(a, b)


def _zero_vjp(c, g):
    """A piecewise-constant op's gradient: torch's zeros_like(grad) (zeros, not g * 0,
    which would carry g's inf and nan), laid out as g."""
    from ..creation import zeros_like

    return zeros_like(g)


def _div_vjp(c, g):
    if c.attrs.get("rounding_mode") is not None:
        # A rounded quotient is piecewise constant: torch's DivBackward2 gives zeros.
        return tuple(zeros_grad(c.shapes[i], g.dtype, g.device_str) if c.needs[i] else None
                     for i in (0, 1))
    # (torch's div_tensor_other_backward, formula for formula: its rounding, and what
    # cancels exactly in a second-order pass, are then the same)
    return (unbroadcast(g / c[1], c.shapes[0]) if c.needs[0] else None,
            unbroadcast(-g * ((c[0] / c[1]) / c[1]), c.shapes[1]) if c.needs[1] else None)


defop("div", _div_forward, _div_rule, _div_vjp, save=(0, 1), save_for={0: (1,), 1: (0, 1)},
      node=lambda inputs, attrs: "DivBackward2" if attrs.get("rounding_mode") else "DivBackward0",
      api=("div", "divide", "true_divide"), inplace="div_")


# ---- a tensor plus, times or over a number: what torch's C++ composites (cross_entropy's mean
# and label smoothing, trapezoid) compute through add, mul and div's Scalar overloads, whose
# nodes (AddBackward1, MulBackward1, DivBackward1) keep the number and save no tensor ----------

def _with_number_dtype(d: dtypes.dtype, other, true_divide: bool = False) -> dtypes.dtype:
    """The dtype of a tensor of dtype d with a number: d, unless the number's category is
    higher (an integer tensor times 0.5 is float); a true division's is a float."""
    number = dtypes.scalar_dtype(other)
    out = number if number.category > d.category else d
    return dtypes.get_default_dtype() if true_divide and out.category < 2 else out


def _by_number(ufunc, true_divide: bool = False):
    def forward(x, other):
        d = _with_number_dtype(dtypes.from_numpy(x.dtype), other, true_divide).np
        return ufunc(x.astype(d, copy=False), d.type(other))
    return forward


@elementwise
def _by_number_rule(x, other=1.0):
    return Meta(x.shape, _with_number_dtype(x.dtype, other))


@elementwise
def _div_number_rule(x, other=1.0):
    return Meta(x.shape, _with_number_dtype(x.dtype, other, true_divide=True))


defop("add_number", _by_number(np.add), _by_number_rule, lambda c, g: g, node="AddBackward1")
defop("mul_number", _by_number(np.multiply), _by_number_rule,
      lambda c, g: call("mul_number", g, other=c.attrs["other"]), node="MulBackward1")
defop("div_number", _by_number(np.true_divide, true_divide=True), _div_number_rule,
      lambda c, g: call("div_number", g, other=c.attrs["other"]), node="DivBackward1")

@elementwise
def _neg_rule(x):
    if x.dtype is dtypes.bool_:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If you "
                           "are trying to invert a mask, use the `~` or `logical_not()` operator "
                           "instead.")
    return same(x)


defop("neg", np.negative, _neg_rule, lambda c, g: -g, node="NegBackward0",
      api=("neg", "negative"), inplace="neg_")


def _pow_forward(a, b):
    if type(b) in (int, float) and getattr(a, "dtype", None) is not None and a.dtype.kind == "f":
        fast = _POW_BY_EXPONENT.get(b)
        if fast is not None:
            return fast(a)
    integer = np.result_type(a, b).kind in "iu"
    if integer and _is_num(b) and b < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    if integer and np.any(np.less(b, 0)):
        return _int_power(a, b)
    return np.power(a, b)


# The exponents torch's CPU kernel computes without pow (PowKernel: square, cube, sqrt, ...):
# the same arithmetic here, and many times faster than numpy's general power (51 us -> 2.5 us
# for x ** 3 of 2000 floats).
_POW_BY_EXPONENT = {
    2: lambda a: a * a,
    3: lambda a: a * a * a,
    0.5: np.sqrt,
    -0.5: lambda a: 1 / np.sqrt(a),
    -1: lambda a: 1 / a,
    -2: lambda a: 1 / (a * a),
}


@elementwise
def _pow_rule(a, b):
    if _is_num(b):  # a bool tensor to a Python bool power is fine (torch's Scalar overload)
        if type(b) is int and getattr(a, "dtype", None) is not None and a.dtype.category < 2:
            if b < 0:  # (numpy would wrap -1 into uint8 first)
                raise RuntimeError("Integers to negative integer powers are not allowed.")
            dtypes.check_fits(b, a.dtype, c_type=True)  # (its kernel takes it in a's dtype)
        if getattr(a, "dtype", None) in dtypes.LOW_FLOATS:  # (as a 2-byte float kernel does)
            dtypes.check_scalar_fits(b, a.dtype)
        return binary(a, b)
    return _no_bool("pow")(a, b)


def _int_power(a, b):
    """Integer powers with some negative exponents (numpy refuses them): torch gives 1 for
    a base of 1, +-1 for -1, and 0 for any other base."""
    negative = np.less(b, 0)
    power = np.power(a, np.where(negative, 0, b))
    odd = np.remainder(b, 2) == 1
    inverse = np.where(np.equal(a, 1), 1, np.where(np.equal(a, -1), np.where(odd, -1, 1), 0))
    return np.where(negative, inverse, power)


def _pow_vjp(c, g):
    """torch's pow_backward_self / pow_backward_exponent, formula for formula."""
    base, exp = c[0], c[1]
    gb = ge = None
    if c.needs[0]:
        if _is_num(exp):
            gb = (zeros_grad(g.shape, g.dtype, g.device_str) if exp == 0
                  else g * (exp * base ** (exp - 1)))
        else:
            gb = unbroadcast(call("where", exp == 0.0, 0.0, g * (exp * base ** (exp - 1))),
                             c.shapes[0])
    if c.needs[1]:
        out = c.out
        if _is_num(base):
            with np.errstate(divide="ignore", invalid="ignore"):
                log_base = float(np.log(np.float64(base)))
            ge = g * (call("where", exp >= 0, 0.0, out * log_base) if base == 0 else out * log_base)
        else:
            # torch masks the base == 0, exponent >= 0 corner, where log(0) would poison the
            # grad, and takes the log of the base in the dtype base and exponent promote to
            promoted = base.to(dtypes.result_type((base, exp)))
            ge = unbroadcast(g * call("where", (base == 0) & (exp >= 0), 0.0,
                                      out * promoted.log()), c.shapes[1])
    return gb, ge


def _pow_in_steps(forward):
    """pow of float16 and bfloat16 as torch's kernel computes it: in float32 and rounded
    once, but a bfloat16 x ** 3 and x ** -2, whose product x * x is rounded to bfloat16
    first."""
    def run(a, b):
        low = low_common((a, b))
        if low is None:
            return forward(a, b)
        a, b = half_as_float((a, b), OPS["pow"])
        if low is dtypes.bfloat16 and type(a) is np.ndarray and type(b) is float and \
                b in (3.0, -2.0):
            square = dtypes.cast(a * a, low.np).astype(np.float32)
            return square * a if b == 3.0 else 1 / square
        return forward(a, b)

    return run


def _pow_saves(inputs, attrs) -> dict:
    """PowBackward0 (a number exponent) saves no result; PowBackward1 and 2 do."""
    return {ALWAYS: (0, 1) if _is_num(inputs[1]) else (0, 1, "out")}


defop("pow", _pow_in_steps(in_common_dtype(_pow_forward)), _pow_rule, _pow_vjp, save=(0, 1),
      save_out=True, save_for=_pow_saves,
      node=lambda inputs, attrs: ("PowBackward2" if _is_num(inputs[0])
                                  else "PowBackward0" if _is_num(inputs[1]) else "PowBackward1"),
      number_edges=False, number_operands=False, api=("pow",), params=("input", "exponent"),
      inplace="pow_")

def _not_implemented(name: str):
    """The VJP of an op torch gives no derivative: its float results still require grad
    (torch's NotImplemented node), and a backward through them raises."""
    def vjp(c, g):
        raise RuntimeError(f"derivative for aten::{name} is not implemented")

    return vjp


defop("floor_divide", _integer_division(np.floor_divide), _no_bool("div_floor_cpu"),
      _not_implemented("floor_divide"), node="torch::autograd::NotImplemented",
      number_edges=False, api=("floor_divide",), inplace="floor_divide_")


def _remainder_vjp(c, g):
    if c.shapes[0] == () and c.dtypes[0] is None:  # remainder(number, tensor): torch has no rule
        _not_implemented("remainder")(c, g)
    # a - floor(a / b) * b: the quotient is piecewise constant.
    gb = None
    if c.needs[1]:
        gb = unbroadcast(-g * call("div", c[0], c[1], rounding_mode="floor"), c.shapes[1])
    return (unbroadcast(g, c.shapes[0]) if c.needs[0] else None), gb


def _remainder(a, b):
    """torch's remainder: numpy's, but a zero result keeps the sign fmod gives it (the
    dividend's: -2.0 % 1.0 is -0.0 in torch, 0.0 in numpy, which signs it as the divisor)."""
    if np.result_type(a, b).kind != "f":
        return np.remainder(a, b)
    mod = np.fmod(a, b)
    return np.where((mod != 0) & ((b < 0) != (mod < 0)), mod + b, mod)


defop("remainder", _integer_division(_remainder), _no_bool("remainder_cpu"),
      _remainder_vjp, save=(0, 1), save_for={1: (0, 1)},
      node=lambda inputs, attrs: ("torch::autograd::NotImplemented" if _is_num(inputs[0])
                                  else "RemainderBackward0" if _is_num(inputs[1])
                                  else "RemainderBackward1"),
      number_edges=False,
      api=("remainder",), inplace="remainder_")

# ---- unary ---------------------------------------------------------------------------

defop("exp", float_forward(rounding.exp), same_float,
      lambda c, g: g * c.out, node="ExpBackward0", save_out=True, api=("exp",), inplace="exp_")
defop("log", float_forward(rounding.log), same_float,
      lambda c, g: g / c[0], node="LogBackward0", save=(0,), api=("log",), inplace="log_")
defop("sqrt", float_forward(np.sqrt), same_float,
      lambda c, g: g / (2 * c.out), node="SqrtBackward0",
      save_out=True, api=("sqrt",), inplace="sqrt_")
defop("log1p", float_forward(rounding.log1p), same_float,
      lambda c, g: g / (c[0] + 1), node="Log1PBackward0", save=(0,),
      api=("log1p",), inplace="log1p_")
def _rsqrt(x):
    """1/sqrt(x); float16 and bfloat16 (given as they are, table.OWN_HALF) as torch's x86
    kernel computes them: its vectorized loop in float32, rounded once, but the elements
    after the last pair of vectors (of a row-major tensor) go through its scalar loop, whose
    c10::BFloat16 (or Half) sqrt rounds the root to the dtype before the division."""
    if x.dtype.char not in "eE":
        return 1 / np.sqrt(x)
    wide = x.astype(np.float32)
    out = (1 / np.sqrt(wide)).astype(x.dtype)
    tail = x.size % _LOW_PAIR
    if tail and vector_sum.float32_lanes() is not None and x.flags.c_contiguous:
        root = np.sqrt(wide.reshape(-1)[-tail:]).astype(x.dtype).astype(np.float32)
        out.reshape(-1)[-tail:] = (1 / root).astype(x.dtype)
    return out


defop("rsqrt", float_forward(_rsqrt), same_float,
      lambda c, g: call("mul_number", g, other=-0.5) * c.out.pow(3),
      node="RsqrtBackward0", save_out=True, api=("rsqrt",), inplace="rsqrt_")
defop("reciprocal", float_forward(np.reciprocal), same_float,
      lambda c, g: -g * c.out * c.out, node="ReciprocalBackward0", save_out=True,
      api=("reciprocal",), inplace="reciprocal_")
defop("sin", float_forward(rounding.rounded_once(np.sin)), same_float,
      lambda c, g: g * c[0].cos(), node="SinBackward0", save=(0,), api=("sin",), inplace="sin_")
defop("cos", float_forward(rounding.rounded_once(np.cos)), same_float,
      lambda c, g: g * -c[0].sin(), node="CosBackward0", save=(0,), api=("cos",), inplace="cos_")
defop("tanh", float_forward(rounding.tanh), same_float,
      lambda c, g: call("tanh_backward", g, c.out), node="TanhBackward0",
      save_out=True, api=("tanh",), inplace="tanh_")


# tanh's VJP as one op (torch's tanh_backward): g·(1 - y²) with 1 - y² rounded once, as
# torch's fused multiply-add makes it. Near y = ±1 (|x| > 3) a separately rounded y² leaves
# few digits of 1 - y² (float32: 2e-2 relative to torch's at |x| = 9).
def _tanh_backward(g, y):
    if y.dtype == np.float32:  # (y² is exact in float64)
        return g * (1 - np.square(y, dtype=np.float64)).astype(np.float32)
    return g * ((1 - y) * (1 + y))  # (1 - y is exact near 1: one rounding more, no loss)


def _backward_of_output_rule(g, y):
    """The rule of an op's derivative computed from its output (tanh_backward)."""
    return Meta(broadcast_shapes(g.shape, y.shape), dtypes.result_type((g, y)))


defop("tanh_backward", _tanh_backward, _backward_of_output_rule,
      lambda c, gg: (call("tanh_backward", gg, c[1]) if c.needs[0] else None,
                     gg * (-2 * c[1] * c[0]) if c.needs[1] else None),
      node="TanhBackwardBackward0", save=(0, 1), elementwise=True)


def _sigmoid(x):
    """torch's kernel: 1 / (1 + exp(-x)) (an exp of -x that overflows gives 0)."""
    with np.errstate(over="ignore"):
        e = rounding.exp(np.negative(x))
    return np.reciprocal(e + np.asarray(1, e.dtype), dtype=e.dtype)


defop("sigmoid", float_forward(_sigmoid), same_float,
      lambda c, g: call("sigmoid_backward", g, c.out),
      node="SigmoidBackward0", save_out=True, api=("sigmoid",), inplace="sigmoid_")
# sigmoid's VJP as one op (torch's sigmoid_backward): g·(1 - y)·y.
def _sigmoid_backward(g, y):
    """bfloat16's computed in float32 and rounded once; float16's kernel computes in
    c10::Half, each step rounded."""
    if g.dtype == np.float16:
        return (g * (np.float16(1) - y)) * y
    low = low_common((g, y))
    if low is not None:
        return dtypes.cast(_sigmoid_backward(*half_as_float((g, y))), low.np)
    return g * (1 - y) * y


defop("sigmoid_backward", _sigmoid_backward, _backward_of_output_rule,
      lambda c, gg: (call("sigmoid_backward", gg, c[1]) if c.needs[0] else None,
                     gg * c[0] * (-2 * c[1] + 1) if c.needs[1] else None),
      node="SigmoidBackwardBackward0", save=(0, 1), elementwise=True)


@elementwise
def _abs_rule(x):
    if x.dtype is dtypes.bool_:
        raise not_implemented("abs_cpu", x.dtype)
    return same(x)


def sign_forward(x):
    """torch's sign: (0 < x) - (x < 0), so 0 at NaN (numpy's is NaN)."""
    if x.dtype == np.bool_:
        return x.copy()
    return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


defop("abs", np.abs, _abs_rule, lambda c, g: g * c[0].sgn(), node="AbsBackward0", save=(0,),
      api=("abs", "absolute"), inplace="abs_")
defop("sign", sign_forward, same,
      _zero_vjp, node="SignBackward0", api=("sign",), inplace="sign_")


@elementwise
def _relu_rule(x):
    if x.dtype is dtypes.bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    return same(x)


defop("relu", lambda x: np.maximum(0, x).astype(x.dtype, copy=False), _relu_rule,
      lambda c, g: call("threshold_backward", g, c.out, threshold=0),
      node="ReluBackward0", save_out=True, api=("relu",), inplace="relu_")

# relu's VJP as one op (torch's threshold_backward): 0 where the result is at or below the
# threshold, else g (a nan result passes g, as torch's).
def _threshold_backward(g, out, threshold):
    keep = ~(out <= threshold)
    if np.isfinite(g).all():
        # A multiply by the mask is ~10x faster than np.where; inf or nan in g needs where
        # (inf * 0 is nan), and adding 0 turns the -0.0 of negative g into torch's 0.
        r = np.multiply(g, keep, dtype=np.result_type(g, out))
        r += 0
        return r
    return np.where(keep, g, np.zeros((), g.dtype))


defop("threshold_backward", _threshold_backward,
      lambda g, out, threshold: Meta(broadcast_shapes(g.shape, out.shape),
                                     dtypes.result_type((g, out))),
      lambda c, g: (call("threshold_backward", g, c[1], threshold=c.attrs["threshold"])
                    if c.needs[0] else None,
                    # torch's derivative for the result is zeros, not none: under create_graph
                    # the result's history (and its hooks) still takes part
                    zeros_grad(c.shapes[1], c.dtypes[1], g.device_str) if c.needs[1] else None),
      node="ThresholdBackwardBackward0", save=(1,), elementwise=True)


def _clamp_forward(x, min=None, max=None):
    # (in the result's dtype: an int tensor clamped to a float bound is compared as floats,
    # its int bound not wrapped into the tensor's dtype first)
    d = common_dtype([v for v in (x, min, max) if v is not None])
    x = x if x.dtype == d.np else x.astype(d.np)
    # (min above max: max everywhere but at a nan, which stays, as torch's min(max(x, lo), hi))
    return _clamped(x, number_as(min, d), number_as(max, d))


def _clamped(x, lo, hi):
    """x within [lo, hi] (either None: no bound) as torch's kernels keep it: x itself where
    it equals a bound (numpy's maximum and minimum give their second operand then: 0.0
    for a -0.0 that torch keeps)."""
    out = x if lo is None else np.maximum(lo, x)
    return out if hi is None else np.minimum(hi, out)


@elementwise
def _clamp_rule(x, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    meta = Meta(x.shape, dtypes.result_type([x] + [v for v in (min, max) if v is not None]))
    _check_numbers_fit([v for v in (min, max) if v is not None], meta.dtype)
    if meta.dtype is dtypes.bool_:  # torch's kernel is named by the bounds given
        kernel = "clamp" if min is not None and max is not None else (
            "clamp_min" if min is not None else "clamp_max")
        raise not_implemented(f"{kernel}_scalar_cpu", meta.dtype)
    return meta


def _clamp_vjp(c, g):
    x = c[0]
    lo, hi = c.attrs.get("min"), c.attrs.get("max")
    mask = None
    if lo is not None:
        mask = x >= lo
    if hi is not None:
        mask = (x <= hi) if mask is None else mask & (x <= hi)
    return call("where", mask, g, 0.0)


defop("clamp", _clamp_forward, _clamp_rule, _clamp_vjp, node="ClampBackward1", save=(0,),
      api=("clamp", "clip"), inplace="clamp_")
# torch.clamp_min / clamp_max: the same rule under their own node names.
defop("clamp_min", lambda x, min: _clamp_forward(x, min=min), lambda x, min: _clamp_rule(x, min=min),
      _clamp_vjp, node="ClampMinBackward0", save=(0,), elementwise=True)
defop("clamp_max", lambda x, max: _clamp_forward(x, max=max), lambda x, max: _clamp_rule(x, max=max),
      _clamp_vjp, node="ClampMaxBackward0", save=(0,), elementwise=True)


# clamp with tensor bounds (either may be None): torch's ClampBackward0.
def _clamp_tensor_forward(x, lo, hi):
    return _clamped(x, lo, hi)


@elementwise
def _clamp_tensor_rule(x, lo, hi):
    if lo is None and hi is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    shape = shape_of(x)
    for b in (lo, hi):
        if b is not None:
            shape = broadcast_shapes(shape, shape_of(b))
    meta = Meta(shape, dtypes.result_type([v for v in (x, lo, hi) if v is not None]))
    if meta.dtype is dtypes.bool_ and lo is not None and hi is not None:
        raise not_implemented("clamp_cpu", meta.dtype)  # one bool bound alone is fine in torch
    return meta


def _clamp_tensor_vjp(c, g):
    x, lo, hi = c[0], c[1], c[2]
    gx = glo = ghi = None
    if c.needs[0]:
        if lo is not None and hi is not None:
            keep = (x >= lo) & (x <= hi)
        else:
            keep = x >= lo if lo is not None else x <= hi
        gx = unbroadcast(call("where", keep, g, 0.0), c.shapes[0])
    if c.needs[1]:
        below = (x < lo) & (lo < hi) if hi is not None else x < lo
        glo = unbroadcast(call("where", below, g, 0.0), c.shapes[1])
    if c.needs[2]:
        above = (x > hi) | (hi < lo) if lo is not None else x > hi
        ghi = unbroadcast(call("where", above, g, 0.0), c.shapes[2])
    return gx, glo, ghi


defop("clamp_tensor", in_common_dtype(_clamp_tensor_forward), _clamp_tensor_rule, _clamp_tensor_vjp,
      node="ClampBackward0", save=(0, 1, 2))
# torch.clamp_min / clamp_max with a tensor bound: the same rule, one bound, their node names.
defop("clamp_min_tensor", in_common_dtype(lambda x, lo: _clamp_tensor_forward(x, lo, None)),
      lambda x, lo: _clamp_tensor_rule(x, lo, None),
      lambda c, g: _clamp_tensor_vjp(_OneBound(c, 1), g)[:2],
      node="ClampMinBackward1", save=(0, 1), elementwise=True)
defop("clamp_max_tensor", in_common_dtype(lambda x, hi: _clamp_tensor_forward(x, None, hi)),
      lambda x, hi: _clamp_tensor_rule(x, None, hi),
      lambda c, g: _clamp_tensor_vjp(_OneBound(c, 2), g)[::2],
      node="ClampMaxBackward1", save=(0, 1), elementwise=True)


class _OneBound:
    """A clamp_min/clamp_max context seen as clamp_tensor's (x, min, max)."""

    def __init__(self, c, slot):
        self._c, self._slot = c, slot
        self.shapes = [c.shapes[0], (), ()]
        self.shapes[slot] = c.shapes[1]
        self.needs = [c.needs[0], False, False]
        self.needs[slot] = c.needs[1]

    def __getitem__(self, i):
        return self._c[0] if i == 0 else self._c[1] if i == self._slot else None


def _extremum_vjp(wins):
    # As torch's maximum/minimum: ties split the gradient in half, the operand that loses
    # gets 0 (masked_fill_: a MaskedFillBackward0), and the rest g: both get all of it where
    # one is nan (no comparison holds).
    def vjp(c, g):
        a, b = c[0], c[1]
        ga = gb = None
        if c.needs[0]:
            ga = unbroadcast(written(call("where", a == b, g / 2, g).masked_fill(
                wins(b, a), 0.0)), c.shapes[0])
        if c.needs[1]:
            gb = unbroadcast(written(call("where", a == b, g / 2, g).masked_fill(
                wins(a, b), 0.0)), c.shapes[1])
        return ga, gb

    return vjp


# (torch.maximum refuses a Python number: functions.maximum says so. A number here is a
# zero-dim driver tensor sent to a worker as one, which torch lets take part.)
defop("maximum", in_common_dtype(lambda a, b: np.maximum(b, a)), elementwise(binary), _extremum_vjp(lambda a, b: a > b),
      node="MaximumBackward0", save=(0, 1))
defop("minimum", in_common_dtype(lambda a, b: np.minimum(b, a)), elementwise(binary), _extremum_vjp(lambda a, b: a < b),
      node="MinimumBackward0", save=(0, 1))


@elementwise
def _where_rule(cond, a, b):
    from .rules import broadcast_shapes

    if hasattr(cond, "dtype") and cond.dtype is not dtypes.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with "
                           f"dtype {cond.dtype.long_name}")
    shape = broadcast_shapes(broadcast_shapes(shape_of(cond), shape_of(a)), shape_of(b))
    result = dtypes.result_type((a, b))
    if result not in dtypes.LOW_FLOATS:  # (whose numbers torch rounds to inf unchecked)
        _check_numbers_fit((a, b), result)
    return Meta(shape, result)


def _check_numbers_fit(values, d: dtypes.dtype) -> None:
    """torch converts a number given to where, masked_fill or clamp to the result's dtype,
    checked (where `+` wraps it around or rounds it to inf)."""
    for v in values:
        if not hasattr(v, "shape"):
            dtypes.check_scalar_fits(v, d)


def _where_vjp(c, g):
    cond = c[0]
    return (None,
            unbroadcast(call("where", cond, g, 0.0), c.shapes[1]) if c.needs[1] else None,
            unbroadcast(call("where", cond, 0.0, g), c.shapes[2]) if c.needs[2] else None)


defop("where", lambda cond, a, b: np.where(cond, *cast_to((a, b), common_dtype((a, b)))),
      _where_rule, _where_vjp,
      node="WhereBackward0", save=(0,), differentiable=(1, 2))


# The fill value is an attr (a number), or a third input (a 0-dim tensor: MaskedFillBackward1).
def check_masked_fill_args(mask, value) -> None:
    """torch's masked_fill_ checks, in its order: the value's dimensions, then the mask's dtype."""
    if hasattr(value, "shape") and len(value.shape):
        raise RuntimeError("masked_fill_ only supports a 0-dimensional value tensor, but got tensor "
                           f"with {len(value.shape)} dimension(s).")
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.c_name}")


@elementwise
def _masked_fill_rule(x, mask, value=0.0):
    # out of place, torch first expands the mask and self to each other, then fills in place
    shape = broadcast_shapes(mask.shape, x.shape)
    check_masked_fill_args(mask, value)
    _check_numbers_fit((value,), x.dtype)
    return Meta(shape, x.dtype)


def _masked_fill_vjp(c, g):
    mask = c[1]
    gv = None
    if len(c.shapes) > 2 and c.needs[2]:
        gv = call("where", mask, g, 0.0).sum()
    return (unbroadcast(g.masked_fill(mask, 0.0), c.shapes[0]) if c.needs[0] else None), None, gv


defop("masked_fill", lambda x, mask, value=0.0: np.where(mask, np.asarray(number_as(value, x.dtype),
                                                                         x.dtype), x),
      _masked_fill_rule, _masked_fill_vjp, save=(1,), saved_names={"mask": 1},
      differentiable=(0, 2),
      node=lambda inputs, attrs: "MaskedFillBackward1" if len(inputs) > 2 else "MaskedFillBackward0",
      api=("masked_fill",), inplace="masked_fill_",
      elementwise=False, sharding="elementwise")  # (torch's result: a contiguous clone)

# ---- comparisons and logic (no gradient) ------------------------------------------------

for _names, _fn in ((("eq",), np.equal), (("ne", "not_equal"), np.not_equal),
                    (("lt", "less"), np.less), (("le", "less_equal"), np.less_equal),
                    (("gt", "greater"), np.greater), (("ge", "greater_equal"), np.greater_equal)):
    # int64 against float32 compares in float32; torch's long names are aliases
    defop(_names[0], in_common_dtype(_fn), compare, api=_names)
for _name, _fn in (("logical_and", np.logical_and), ("logical_or", np.logical_or),
                   ("logical_xor", np.logical_xor)):
    defop(_name, _fn, compare)

defop("logical_not", np.logical_not, lambda x: Meta(x.shape, dtypes.bool_), elementwise=True,
      api=("logical_not",))
@elementwise
def _bitwise_not_rule(x):
    if x.dtype.is_floating_point:
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type tensors")
    return same(x)


defop("bitwise_not", np.invert, _bitwise_not_rule)
defop("isnan", np.isnan, lambda x: Meta(x.shape, dtypes.bool_), elementwise=True, api=("isnan",))


def _bitwise_rule(kernel):
    @elementwise
    def rule(a, b):
        meta = binary(a, b)
        if meta.dtype.is_floating_point:
            raise not_implemented(kernel, meta.dtype)
        return meta

    return rule


# `&`, `|`, `^`: bitwise on integers, logical on bools; no float kernel.
for _name, _fn in (("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or),
                   ("bitwise_xor", np.bitwise_xor)):
    defop(_name, in_common_dtype(_fn), _bitwise_rule(f"{_name}_cpu"), api=(_name,))


# ---- dtype conversion and copies ---------------------------------------------------------

defop("to_dtype", lambda x, dtype: dtypes.cast(x, dtypes.from_name(dtype).np),
      lambda x, dtype: Meta(x.shape, dtypes.from_name(dtype)),
      lambda c, g: g.to(c.dtypes[0]), node="ToCopyBackward0", elementwise=True,
      layout_rule=layout.like_first)

defop("clone", lambda x: np.array(x, order="C", copy=True), same, lambda c, g: g,
      node="CloneBackward0", layout_rule=layout.like_first)
# clone(memory_format=torch.contiguous_format): a row-major copy, whatever x's layout; with
# memory_format="channels_last" (or "channels_last_3d") a copy in that dim order.
defop("contiguous", lambda x, memory_format=None: np.array(x, order="C", copy=True), same,
      lambda c, g: g, node="CloneBackward0", elementwise=False, sharding="elementwise",
      layout_rule=lambda out_shape, operands, attrs, k, dtype: layout.memory_format_strides(
          out_shape, attrs["memory_format"]) if "memory_format" in attrs else None)

# to(memory_format=...): a copy in that format, cast to dtype (torch's _to_copy)
defop("to_format", lambda x, dtype, memory_format: dtypes.cast(x, dtypes.from_name(dtype).np),
      lambda x, dtype, memory_format: Meta(x.shape, dtypes.from_name(dtype)),
      lambda c, g: g.to(c.dtypes[0]), node="ToCopyBackward0", elementwise=False,
      sharding="elementwise", layout_rule=lambda out_shape, operands, attrs, k, dtype:
      layout.memory_format_strides(out_shape, attrs["memory_format"]))


# ---- more unary functions (torch's derivatives.yaml, formula for formula) -------------------

_LN2, _LN10 = 0.6931471805599453, 2.3025850929940456
def _erf(x):
    from .special import erf  # numpy has no erf (no scipy here)

    return erf(x).astype(x.dtype)


defop("log2", float_forward(rounding.rounded_once(np.log2)), same_float,
      lambda c, g: g / (c[0] * _LN2), node="Log2Backward0",
      save=(0,), api=("log2",), inplace="log2_")
defop("log10", float_forward(rounding.rounded_once(np.log10)), same_float,
      lambda c, g: g / (c[0] * _LN10), node="Log10Backward0",
      save=(0,), api=("log10",), inplace="log10_")
defop("expm1", float_forward(rounding.expm1), same_float,
      lambda c, g: g * (c.out + 1), node="Expm1Backward0",
      save_out=True, api=("expm1",), inplace="expm1_")
defop("erf", float_forward(_erf), same_float,
      lambda c, g: g * ((c[0] * c[0]).neg().exp() * 1.1283791670955126),
      node="ErfBackward0", save=(0,), api=("erf",), inplace="erf_")
defop("tan", float_forward(np.tan), same_float,
      lambda c, g: g * (c.out * c.out + 1), node="TanBackward0",
      save_out=True, api=("tan",), inplace="tan_")
defop("sinh", float_forward(rounding.rounded_once(np.sinh)), same_float,
      lambda c, g: g * c[0].cosh(), node="SinhBackward0",
      save=(0,), api=("sinh",), inplace="sinh_")
defop("cosh", float_forward(rounding.rounded_once(np.cosh)), same_float,
      lambda c, g: g * c[0].sinh(), node="CoshBackward0",
      save=(0,), api=("cosh",), inplace="cosh_")
defop("asin", float_forward(rounding.rounded_once(np.arcsin)), same_float, lambda c, g: g * (1 - c[0] * c[0]).rsqrt(),
      node="AsinBackward0", save=(0,), api=("asin", "arcsin"), inplace="asin_")
defop("acos", float_forward(rounding.rounded_once(np.arccos)), same_float, lambda c, g: g * -(1 - c[0] * c[0]).rsqrt(),
      node="AcosBackward0", save=(0,), api=("acos", "arccos"), inplace="acos_")
defop("atan", float_forward(rounding.rounded_once(np.arctan)), same_float,
      lambda c, g: g / (c[0] * c[0] + 1), node="AtanBackward0",
      save=(0,), api=("atan", "arctan"), inplace="atan_")


def _rounding_rule(kernel):
    @elementwise
    def rule(x):
        if x.dtype is dtypes.bool_:
            raise not_implemented(kernel, x.dtype)
        return same(x)

    return rule


defop("floor", np.floor, _rounding_rule("floor_vml_cpu"), _zero_vjp,
      node="FloorBackward0", api=("floor",), inplace="floor_")
defop("round", np.round, _rounding_rule("round_vml_cpu"), _zero_vjp,
      node="RoundBackward0", api=("round",), inplace="round_")
defop("ceil", np.ceil, _rounding_rule("ceil_vml_cpu"), _zero_vjp, node="CeilBackward0",
      api=("ceil",), inplace="ceil_")
defop("trunc", np.trunc, _rounding_rule("trunc_vml_cpu"), _zero_vjp,
      node="TruncBackward0", api=("trunc", "fix"), inplace="trunc_")
defop("isinf", np.isinf, lambda x: Meta(x.shape, dtypes.bool_), elementwise=True, api=("isinf",))
defop("isfinite", np.isfinite, lambda x: Meta(x.shape, dtypes.bool_), elementwise=True,
      api=("isfinite",))


# ---- xlogy: x·log(y), 0 where x is 0 (unless y is nan) -----------------------------------------

def _xlogy(x, y):
    """x·log(y); float32's log is the C library's logf, as torch's scalar kernel takes it;
    in float16 and bfloat16 (the common dtype in which `in_common_dtype` gives them) each
    step is rounded to it, as torch's kernel computes its log and product in the tensors'
    own dtype."""
    low = next((v.dtype for v in (x, y) if hasattr(v, "dtype") and dtypes.is_low_float(v.dtype)),
               None)
    if low is not None:  # (a number operand too, as TensorIterator casts it)
        x, y = np.asarray(x, low), np.asarray(y, low)
    log = np.log if low is not None else _log_as_torchs
    return np.where(np.equal(x, 0) & ~np.isnan(y), 0, x * log(y))


def _log_as_torchs(y):
    """log(y) as torch's scalar xlogy kernel takes it: the C library's logf for float32."""
    from .special import libm_float32

    return libm_float32("logf", y, np.log)


def x_log_vjp(op: str, shift: float = 0.0):
    """The VJP of x·log(y + shift) (xlogy; special.xlog1py with shift 1), torch's formula:
    op(g, y) for x, 0 where x is 0 and log(y + shift) is not finite; g·x/(y + shift) for y."""
    def vjp(c, g):
        x, y = c[0], c[1]
        gx = gy = None
        if c.needs[0]:
            gx = call(op, g, y)
            if not _is_num(y):
                gx = gx.masked_fill((x == 0) & (y <= -shift), 0.0)
            elif y <= -shift:
                gx = gx.masked_fill(x == 0, 0.0)
            gx = unbroadcast(gx, c.shapes[0])
        if c.needs[1]:
            gy = unbroadcast(g * x / (y + shift) if shift else g * x / y, c.shapes[1])
        return gx, gy

    return vjp


_xlogy_vjp = x_log_vjp("xlogy")


defop("xlogy", float_forward(_xlogy), binary_float, _xlogy_vjp, save=(0, 1),
      node=lambda inputs, attrs: ("XlogyBackward1" if _is_num(inputs[0])
                                  else "XlogyBackward2" if _is_num(inputs[1])
                                  else "XlogyBackward0"),
      number_edges=False, api=("xlogy",), inplace="xlogy_")


# ---- lerp, addcmul, addcdiv, cross --------------------------------------------------------

def _fused(a, b, c):
    """a·b + c as torch's vectorized kernels compute it: one fused multiply-add, rounded
    once. For float32 through float64, which holds the product exactly (a sum rounded twice
    on the way is rare; fused.fma's exact emulation costs 20x a plain product here, too
    much for an optimizer's step); other dtypes as numpy computes them (float64 rounded
    twice: an ulp off torch's for some)."""
    if np.result_type(a, b, c) != np.float32:
        return a * b + c
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.asarray(a, np.float32).astype(np.float64) * b + c).astype(np.float32)


# The weight is an attr (a number: LerpBackward0) or a third input (LerpBackward1).
def _lerp_forward(start, end, weight):
    """torch's two forms, each one fused multiply-add: start + w·(end - start) for a small
    weight, end - (end - start)·(1 - w) for a large one."""
    w = np.asarray(weight, start.dtype)  # (a number in the tensors' dtype, as the kernel's)
    diff = end - start
    if w.ndim == 0:  # (one form for all: the other is not computed)
        return _fused(w, diff, start) if abs(w) < 0.5 else _fused(-diff, 1 - w, end)
    return np.where(np.abs(w) < 0.5, _fused(w, diff, start), _fused(-diff, 1 - w, end))


@elementwise
def _lerp_rule(start, end, weight):
    # (torch's meta function checks the dtypes before its kernel is looked for)
    for name, t in (("end", end), ("weight", weight)):
        if hasattr(t, "dtype") and (name == "end" or t.ndim) and t.dtype is not start.dtype:
            raise RuntimeError(f"expected dtype {start.dtype.c_name} for `{name}` but got dtype "
                               f"{t.dtype.c_name}")
    if not start.dtype.is_floating_point:
        raise not_implemented("lerp_kernel_scalar", start.dtype)
    shape = broadcast_shapes(start.shape, end.shape)
    return Meta(broadcast_shapes(shape, shape_of(weight)), start.dtype)


def _lerp_vjp(c, g):
    w = c[2] if len(c.shapes) > 2 else c.attrs["weight"]
    gw = None
    if len(c.shapes) > 2 and c.needs[2]:
        gw = unbroadcast(g * (c[1] - c[0]), c.shapes[2])
    return (unbroadcast(g * (1 - w), c.shapes[0]) if c.needs[0] else None,
            unbroadcast(g * w, c.shapes[1]) if c.needs[1] else None, gw)


defop("lerp", _lerp_forward, _lerp_rule, _lerp_vjp, save=(0, 1, 2),
      save_for={ALWAYS: (2,), 2: (0, 1)},
      node=lambda inputs, attrs: "LerpBackward1" if len(inputs) > 2 else "LerpBackward0",
      saved_names={"self": 0, "end": 1, "weight": 2}, api=("lerp",), inplace="lerp_")


def _addc_rule(x, t1, t2, value=1):
    shape = broadcast_shapes(broadcast_shapes(shape_of(x), shape_of(t1)), shape_of(t2))
    result = dtypes.result_type((x, t1, t2))
    if isinstance(value, complex):  # (its kernel takes value in float for a 2-byte float)
        dtypes.check_scalar_fits(value, dtypes.float32 if result in dtypes.LOW_FLOATS else result)
    return Meta(shape, result)


@elementwise
def _addcmul_rule(x, t1, t2, value=1):
    meta = _addc_rule(x, t1, t2, value)
    if meta.dtype is dtypes.bool_:
        raise not_implemented("addcmul_cpu_out", meta.dtype)
    return meta


@elementwise
def _addcdiv_rule(x, t1, t2, value=1):
    if not (t1.dtype.is_floating_point or t2.dtype.is_floating_point):
        raise RuntimeError(
            "Integer division with addcdiv is no longer supported, and in a future  release "
            "addcdiv will perform a true division of tensor1 and tensor2. The historic addcdiv "
            "behavior can be implemented as (input + value * torch.trunc(tensor1 / tensor2))"
            ".to(input.dtype) for integer inputs and as (input + value * tensor1 / tensor2) for "
            "float inputs. The future addcdiv behavior is just the latter implementation: "
            "(input + value * tensor1 / tensor2), for all dtypes.")
    return _addc_rule(x, t1, t2, value)


def _addcmul_vjp(c, g):
    v = c.attrs.get("value", 1)
    gv = g * v if v != 1 else g
    return (unbroadcast(g, c.shapes[0]) if c.needs[0] else None,
            unbroadcast(gv * c[2], c.shapes[1]) if c.needs[1] else None,
            unbroadcast(gv * c[1], c.shapes[2]) if c.needs[2] else None)


def _addcdiv_vjp(c, g):
    v = c.attrs.get("value", 1)
    gv = g * v if v != 1 else g
    # (tensor1 unpacked first, as torch's node does: a step that changed both in place is
    # refused for tensor1)
    t1 = c[1] if c.needs[2] else None
    t2 = c[2] if c.needs[1] or c.needs[2] else None
    return (unbroadcast(g, c.shapes[0]) if c.needs[0] else None,
            unbroadcast(gv / t2, c.shapes[1]) if c.needs[1] else None,
            unbroadcast(-gv * t1 / (t2 * t2), c.shapes[2]) if c.needs[2] else None)


def _addcmul_forward(x, t1, t2, value=1):
    """x + value·t1·t2 as torch's kernel: (value·t1)·t2 + x, one fused multiply-add."""
    return _fused(integral_scalar(value, x.dtype) * t1, t2, x)


defop("addcmul", in_common_dtype(_addcmul_forward),
      _addcmul_rule, _addcmul_vjp, node="AddcmulBackward0", save=(1, 2),
      save_for={1: (2,), 2: (1,)}, saved_names={"tensor1": 1, "tensor2": 2}, api=("addcmul",),
      inplace="addcmul_")
defop("addcdiv", in_common_dtype(lambda x, t1, t2, value=1: x + value * t1 / t2),
      _addcdiv_rule, _addcdiv_vjp, node="AddcdivBackward0", save=(1, 2),
      save_for={ALWAYS: (2,), 2: (1,)}, saved_names={"tensor1": 1, "tensor2": 2}, api=("addcdiv",),
      inplace="addcdiv_")


def _cross_rule(a, b, dim):
    from .rules import wrap_dim

    if a.ndim != b.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    shape = broadcast_shapes(a.shape, b.shape)
    d = wrap_dim(dim, len(shape))
    sizes = [t.shape[d] for t in (a, b)]
    if sizes != [3, 3]:
        raise RuntimeError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                           f"{sizes[0]} and {sizes[1]}")
    require_scalar_type(a.dtype, b)
    return Meta(shape, a.dtype)


def _cross_forward(a, b, dim):
    """a_i b_j - a_j b_i as torch's kernel computes it: compiled with fused multiply-adds,
    for float32 and float64 the first product is not rounded apart (so the cross product
    of parallel vectors is their rounding error, 1e-8, not 0: a normal then normalized is a
    unit vector, not 0); a 16-bit float's products and difference are each rounded."""
    from .fused import fma

    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = (np.moveaxis(np.broadcast_to(t, shape), dim, 0) for t in (a, b))
    pairs = ((1, 2), (2, 0), (0, 1))
    if a.dtype in (np.float32, np.float64):
        out = [fma(a[i], b[j], -(a[j] * b[i]), a.dtype) for i, j in pairs]
    else:
        out = [a[i] * b[j] - a[j] * b[i] for i, j in pairs]
    return np.moveaxis(np.stack(out), 0, dim)


defop("cross", _cross_forward, _cross_rule,
      lambda c, g: (unbroadcast(call("cross", c[1], g, dim=c.attrs["dim"]), c.shapes[0])
                    if c.needs[0] else None,
                    unbroadcast(call("cross", g, c[0], dim=c.attrs["dim"]), c.shapes[1])
                    if c.needs[1] else None),
      node="LinalgCrossBackward0", save=(0, 1), save_for={0: (1,), 1: (0,)})


# ---- filling with random values in place (normal_, uniform_, random_) ------------------------

# The values are drawn by the driver's generator and come in as input 1; the result has no
# gradient path to the old values (torch's NormalBackward0 gives zeros).
_RANDOM_NODES = {"normal": "NormalBackward0", "uniform": "UniformBackward0",
                 "random": "RandomBackward0"}

defop("random_fill", lambda x, values, kind: values,
      lambda x, values, kind: Meta(x.shape, x.dtype),
      lambda c, g: (zeros_grad(g.shape, g.dtype, g.device_str), None), differentiable=(0,),
      node=lambda inputs, attrs: _RANDOM_NODES[attrs["kind"]], sharding="elementwise")
