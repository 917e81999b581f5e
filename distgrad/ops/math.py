"""Elementwise ops: forward in numpy, VJP in distgrad ops, shape rule — one entry each."""
from __future__ import annotations

import numpy as np

from .rules import binary, binary_float, compare, same, same_float, shape_of, unbroadcast
from .table import Meta, defop
from .. import dtypes
from ..autograd.record import call


def _is_num(x) -> bool:
    return not hasattr(x, "shape")


# ---- arithmetic -----------------------------------------------------------------------

defop("add", lambda a, b, alpha=1: np.add(a, b * alpha if alpha != 1 else b),
      binary,
      lambda c, g: (unbroadcast(g, c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(g * c.attrs.get("alpha", 1) if c.attrs.get("alpha", 1) != 1 else g,
                                c.shapes[1]) if c.needs[1] else None),
      node="AddBackward0")

defop("sub", lambda a, b, alpha=1: np.subtract(a, b * alpha if alpha != 1 else b),
      lambda a, b, alpha=1: _sub_rule(a, b),
      lambda c, g: (unbroadcast(g, c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(-g * c.attrs.get("alpha", 1) if c.attrs.get("alpha", 1) != 1 else -g,
                                c.shapes[1]) if c.needs[1] else None),
      node=lambda inputs, attrs: "RsubBackward1" if _is_num(inputs[0]) else "SubBackward0")


def _sub_rule(a, b):
    meta = binary(a, b)
    if meta.dtype is dtypes.bool_:
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    return meta


defop("mul", np.multiply, binary,
      lambda c, g: (unbroadcast(g * c[1], c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(g * c[0], c.shapes[1]) if c.needs[1] else None),
      node="MulBackward0", save=(0, 1))

defop("div", np.true_divide, binary_float,
      lambda c, g: (unbroadcast(g / c[1], c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(-g * c[0] / (c[1] * c[1]), c.shapes[1]) if c.needs[1] else None),
      node="DivBackward0", save=(0, 1))

defop("neg", np.negative, same, lambda c, g: -g, node="NegBackward0")


def _pow_forward(a, b):
    if isinstance(a, np.ndarray) and a.dtype.kind in "iu" and not isinstance(b, np.ndarray) \
            and isinstance(b, (int, np.integer)) and b < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return np.power(a, b)


def _pow_vjp(c, g):
    base, exp = c[0], c[1]
    gb = ge = None
    if c.needs[0]:
        if _is_num(exp):
            gb = g * 0.0 if exp == 0 else g * (exp * base ** (exp - 1))
        else:
            gb = unbroadcast(g * (exp * base ** (exp - 1)), c.shapes[0])
    if c.needs[1]:
        out = c.out
        if _is_num(base):
            ge = g * (out * float(np.log(base))) if base != 0 else g * 0.0
        else:
            # torch masks the base==0, exponent>=0 corner where log(0) would poison the grad.
            lg = base.log()
            ge_full = g * out * lg
            mask = (base == 0) & (exp >= 0)
            ge = unbroadcast(ge_full.masked_fill(mask, 0.0), c.shapes[1])
    return gb, ge


defop("pow", _pow_forward, binary, _pow_vjp, save=(0, 1), save_out=True,
      node=lambda inputs, attrs: ("PowBackward2" if _is_num(inputs[0])
                                  else "PowBackward0" if _is_num(inputs[1]) else "PowBackward1"))

defop("floor_divide", lambda a, b: np.floor_divide(a, b), binary, None)
defop("remainder", lambda a, b: np.remainder(a, b), binary, None)

# ---- unary ---------------------------------------------------------------------------

defop("exp", np.exp, same_float, lambda c, g: g * c.out, node="ExpBackward0", save_out=True)
defop("log", np.log, same_float, lambda c, g: g / c[0], node="LogBackward0", save=(0,))
defop("sqrt", np.sqrt, same_float, lambda c, g: g / (2 * c.out), node="SqrtBackward0",
      save_out=True)
defop("sin", np.sin, same_float, lambda c, g: g * c[0].cos(), node="SinBackward0", save=(0,))
defop("cos", np.cos, same_float, lambda c, g: g * -c[0].sin(), node="CosBackward0", save=(0,))
defop("tanh", np.tanh, same_float, lambda c, g: g * (1 - c.out * c.out), node="TanhBackward0",
      save_out=True)


def _sigmoid(x):
    # exp of -|x| never overflows; both branches agree with 1/(1+exp(-x)).
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


defop("sigmoid", _sigmoid, same_float, lambda c, g: g * (c.out * (1 - c.out)),
      node="SigmoidBackward0", save_out=True)


def _abs_rule(x):
    if x.dtype is dtypes.bool_:
        raise RuntimeError("\"abs_cpu\" not implemented for 'Bool'")
    return same(x)


defop("abs", np.abs, _abs_rule, lambda c, g: g * c[0].sign(), node="AbsBackward0", save=(0,))
defop("sign", np.sign, same, lambda c, g: g * 0, node="SignBackward0")


def _relu_rule(x):
    if x.dtype is dtypes.bool_:
        raise RuntimeError("\"clamp_min_cpu\" not implemented for 'Bool'")
    return same(x)


defop("relu", lambda x: np.maximum(x, 0).astype(x.dtype, copy=False), _relu_rule,
      lambda c, g: g * (c.out > 0), node="ReluBackward0", save_out=True)


def _clamp_forward(x, min=None, max=None):
    if min is not None and max is not None and min > max:
        return np.full_like(x, max)
    return np.clip(x, min, max)


def _clamp_rule(x, min=None, max=None):
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    return Meta(x.shape, dtypes.result_type([x] + [v for v in (min, max) if v is not None]))


def _clamp_vjp(c, g):
    x = c[0]
    lo, hi = c.attrs.get("min"), c.attrs.get("max")
    mask = None
    if lo is not None:
        mask = x >= lo
    if hi is not None:
        mask = (x <= hi) if mask is None else mask & (x <= hi)
    return g * mask


defop("clamp", _clamp_forward, _clamp_rule, _clamp_vjp, node="ClampBackward1", save=(0,))


def _extremum_vjp(wins):
    # Ties split the gradient in half, as torch's maximum/minimum do.
    def vjp(c, g):
        a, b = c[0], c[1]
        half, zero = g / 2, g * 0
        ga = gb = None
        if c.needs[0]:
            ga = unbroadcast(call("where", a == b, half, call("where", wins(a, b), g, zero)),
                             c.shapes[0])
        if c.needs[1]:
            gb = unbroadcast(call("where", a == b, half, call("where", wins(b, a), g, zero)),
                             c.shapes[1])
        return ga, gb

    return vjp


def _extremum_rule(a, b):
    if _is_num(a) or _is_num(b):
        raise TypeError("maximum(): argument 'other' (position 2) must be Tensor, not "
                        f"{type(b).__name__}")
    return binary(a, b)


defop("maximum", np.maximum, _extremum_rule, _extremum_vjp(lambda a, b: a > b),
      node="MaximumBackward0", save=(0, 1))
defop("minimum", np.minimum, _extremum_rule, _extremum_vjp(lambda a, b: a < b),
      node="MinimumBackward0", save=(0, 1))


def _where_rule(cond, a, b):
    from .rules import broadcast_shapes

    if hasattr(cond, "dtype") and cond.dtype is not dtypes.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with "
                           f"dtype {cond.dtype.name.capitalize() if cond.dtype.name != 'int64' else 'Long'}")
    shape = broadcast_shapes(broadcast_shapes(shape_of(cond), shape_of(a)), shape_of(b))
    return Meta(shape, dtypes.result_type((a, b)))


def _where_vjp(c, g):
    cond = c[0]
    zero = g * 0
    return (None,
            unbroadcast(call("where", cond, g, zero), c.shapes[1]) if c.needs[1] else None,
            unbroadcast(call("where", cond, zero, g), c.shapes[2]) if c.needs[2] else None)


defop("where", lambda cond, a, b: np.where(cond, a, b), _where_rule, _where_vjp,
      node="WhereBackward0", save=(0,), differentiable=(1, 2))


def _masked_fill_rule(x, mask, value=0.0):
    from .rules import broadcast_shapes

    if broadcast_shapes(x.shape, mask.shape) != x.shape:
        raise RuntimeError(f"The size of tensor a ({x.shape[-1]}) must match the size of tensor b "
                           f"({mask.shape[-1]}) at non-singleton dimension {x.ndim - 1}")
    return same(x)


defop("masked_fill", lambda x, mask, value=0.0: np.where(mask, np.asarray(value, x.dtype), x),
      _masked_fill_rule,
      lambda c, g: (g.masked_fill(c[1], 0.0), None),
      node="MaskedFillBackward0", save=(1,), differentiable=(0,))

# ---- comparisons and logic (no gradient) ------------------------------------------------

for _name, _fn in (("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
                   ("gt", np.greater), ("ge", np.greater_equal), ("logical_and", np.logical_and),
                   ("logical_or", np.logical_or), ("logical_xor", np.logical_xor)):
    defop(_name, _fn, compare)

defop("logical_not", np.logical_not, lambda x: Meta(x.shape, dtypes.bool_))
defop("bitwise_not", np.invert, same)
defop("isnan", np.isnan, lambda x: Meta(x.shape, dtypes.bool_))
defop("floor", np.floor, same, lambda c, g: g * 0, node="FloorBackward0")
defop("round", np.round, same, lambda c, g: g * 0, node="RoundBackward0")


# ---- dtype conversion and copies ---------------------------------------------------------

defop("to_dtype", lambda x, dtype: x.astype(dtypes.from_name(dtype).np),
      lambda x, dtype: Meta(x.shape, dtypes.from_name(dtype)),
      lambda c, g: g.to(c.dtypes[0]), node="ToCopyBackward0")

defop("clone", lambda x: np.array(x, copy=True), same, lambda c, g: g, node="CloneBackward0")
