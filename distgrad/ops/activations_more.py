"""PReLU and GLU as one op each, with torch's nodes (PreluKernelBackward0, GluBackward0) and
VJPs made of distgrad ops (so gradients of gradients come by composition; PReLU's through a
backward op of (grad, self, weight), as torch's PreluKernelBackwardBackward0)."""
from __future__ import annotations

import numpy as np

from ..autograd.record import call
from . import cascade_sum, layout
from .rules import broadcast_shapes, require_float, unbroadcast, zeros_grad
from .table import Meta, defop


def _prelu_rule(x, w):
    require_float("prelu_cpu", x.dtype)
    return Meta(broadcast_shapes(tuple(x.shape), tuple(w.shape)), x.dtype)


def _prelu_vjp(c, g):
    # one op of (g, x, w) for both gradients, as torch's _prelu_kernel_backward: under
    # create_graph each requires grad when any of the three does
    gx, gw = call("prelu_kernel_backward", g, c[0], c[1])
    return unbroadcast(gx, c.shapes[0]) if c.needs[0] else None, gw if c.needs[1] else None


def _prelu_backward(g, x, w):
    """The input's gradient (g above 0, w·g elsewhere) and the weight's (x·g at or below 0,
    summed down to w's shape)."""
    positive = x > 0
    gx = np.where(positive, g, w * g).astype(g.dtype)
    gw = np.where(positive, 0, x * g)
    lead = gw.ndim - w.ndim
    ones = tuple(lead + i for i, d in enumerate(w.shape) if d == 1 and gw.shape[lead + i] != 1)
    # (each product in the input's dtype, as torch's kernel gives them; their sum, the
    # engine's reduction to w's shape, accumulates a float16/bfloat16 one in float32)
    axes = tuple(range(lead)) + ones
    if gw.dtype.itemsize < 4:
        gw = gw.sum(axis=axes, keepdims=True, dtype=np.float32)
    else:  # (in torch's sum kernel's order: numpy's differs in the last bits)
        gw = cascade_sum.summed(gw, axes, keepdims=True)
    return gx, gw.reshape(w.shape).astype(w.dtype)


def _prelu_backward_vjp(c, ugx, ugw):
    """Made of distgrad ops (so higher gradients come by composition); x, read only for its
    sign, gets a gradient only through the weight's gradient (x·g), as torch's."""
    g, x, w = c[0], c[1], c[2]
    positive = x > 0
    zero = zeros_grad((), c.dtypes[0], g.device_str)  # (torch's 0 above it: not -0)
    ugw = ugw.expand(c.shapes[0]) if ugw is not None else None  # (over g's shape)
    dg = dx = dw = None
    if ugx is not None:
        dg = call("where", positive, ugx, ugx * w)
        dw = unbroadcast(call("where", positive, zero, ugx * g), c.shapes[2])
    if ugw is not None:
        below_x = call("where", positive, zero, ugw * x)
        dg = below_x if dg is None else dg + below_x
        dx = unbroadcast(call("where", positive, zero, ugw * g), c.shapes[1])
    if dx is None and c.needs[1]:
        dx = zeros_grad(c.shapes[1], c.dtypes[1], g.device_str)
    return (dg if c.needs[0] else None, dx if c.needs[1] else None,
            dw if c.needs[2] else None)


def _prelu_backward_rule(g, x, w):
    return Meta(tuple(g.shape), x.dtype), Meta(tuple(w.shape), w.dtype)


def _prelu_backward_layout(out_shape, operands, attrs, k, dtype):
    """torch's _prelu_kernel_backward is a TensorIterator over (x, w, g): the input's
    gradient laid out as they are; the weight's, summed down, row-major."""
    if k:
        return None
    g, x, w = operands
    return layout.elementwise(out_shape, [x, w, g], attrs, k, dtype)


# torch's _prelu_kernel: x where x > 0, w·x elsewhere (w already shaped to broadcast); a
# TensorIterator's result, laid out as x (a channels-last activation stays channels-last)
defop("prelu_kernel", lambda x, w: np.where(x > 0, x, w * x).astype(x.dtype), _prelu_rule,
      _prelu_vjp, node="PreluKernelBackward0", save=(0, 1), sharding="batch",
      layout_rule=layout.elementwise)
defop("prelu_kernel_backward", _prelu_backward, _prelu_backward_rule, _prelu_backward_vjp,
      node="PreluKernelBackwardBackward0", n_out=2, save=(0, 1, 2),
      layout_rule=_prelu_backward_layout)


def _halves(x, dim):
    return np.split(x, 2, axis=dim)


def _glu(x, dim):
    a, b = _halves(x, dim)
    return (a / (1 + np.exp(-b))).astype(x.dtype)


def _glu_rule(x, dim):
    require_float("glu_cpu", x.dtype)
    shape = list(x.shape)
    shape[dim] //= 2
    return Meta(tuple(shape), x.dtype)


def _glu_vjp(c, g):
    # one op of (g, x), as torch's glu_backward (GluBackwardBackward0 under create_graph)
    return call("glu_backward", g, c[0], dim=c.attrs["dim"])


def _glu_backward(g, x, dim):
    """The input's gradient: (g·s, g·a·s·(1 - s)) over x's halves (a, b), s = sigmoid(b),
    row-major as torch's kernel writes it."""
    a, b = _halves(x, dim)
    if x.dtype.char in "eE":  # (given as they are, table.OWN_HALF)
        return _low_glu_backward(g, a, b, dim)
    s = 1 / (1 + np.exp(-b))
    return np.concatenate([g * s, g * a * s * (1 - s)], axis=dim).astype(x.dtype)


def _low_glu_backward(g, a, b, dim):
    """float16/bfloat16 as torch's kernel: sigmoid(b) is written (rounded) into the first
    half, the second half is (1 - s)·s·a·g in float32, then the first is multiplied by g."""
    low = a.dtype
    g, a, b = (t.astype(np.float32) for t in (g, a, b))
    s = (1 / (1 + np.exp(-b))).astype(low).astype(np.float32)
    second = ((1 - s) * s * a * g).astype(low)
    return np.concatenate([(s * g).astype(low), second], axis=dim)


def _glu_backward_vjp(c, u):
    """Made of distgrad ops (higher gradients by composition): with u's halves (ua, ub)
    and s' = s·(1 - s), d/dg = ua·s + ub·a·s', d/da = ub·g·s', d/db = (ua + ub·a·(1 - 2s))·g·s'."""
    g, x, dim = c[0], c[1], c.attrs["dim"]
    a, b = x.chunk(2, dim)
    ua, ub = u.chunk(2, dim)
    s = b.sigmoid()
    slope = s * (1 - s)
    gg = ua * s + ub * a * slope if c.needs[0] else None
    gx = None
    if c.needs[1]:
        gx = call("cat", ub * g * slope, (ua + ub * a * (1 - 2 * s)) * g * slope, dim=dim)
    return gg, gx


# (no sharding rule: halving the sharded dim would need both halves' shards)
defop("glu", _glu, _glu_rule, _glu_vjp, node="GluBackward0", save=(0,),
      layout_rule=layout.elementwise)  # (over the input's two halves)
defop("glu_backward", _glu_backward, lambda g, x, dim: Meta(tuple(x.shape), x.dtype),
      _glu_backward_vjp, node="GluBackwardBackward0", save=(0, 1))
