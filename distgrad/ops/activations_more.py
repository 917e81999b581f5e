"""PReLU and GLU as one op each, with torch's nodes (PreluKernelBackward0, GluBackward0) and
VJPs made of distgrad ops (so gradients of gradients come by composition)."""
from __future__ import annotations

import numpy as np

from ..autograd.record import call
from . import layout
from .rules import broadcast_shapes, require_float, unbroadcast
from .table import Meta, defop


def _prelu_rule(x, w):
    require_float("prelu_cpu", x.dtype)
    return Meta(broadcast_shapes(tuple(x.shape), tuple(w.shape)), x.dtype)


def _prelu_vjp(c, g):
    x, w = c[0], c[1]
    positive = x > 0
    gx = call("where", positive, g, g * w) if c.needs[0] else None
    gw = (unbroadcast(call("where", positive, g * 0, g * x), c.shapes[1]) if c.needs[1]
          else None)
    return unbroadcast(gx, c.shapes[0]), gw


# torch's _prelu_kernel: x where x > 0, w·x elsewhere (w already shaped to broadcast)
defop("prelu_kernel", lambda x, w: np.where(x > 0, x, w * x).astype(x.dtype), _prelu_rule,
      _prelu_vjp, node="PreluKernelBackward0", save=(0, 1), sharding="batch")


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
    a, b = c[0].chunk(2, c.attrs["dim"])
    s = b.sigmoid()
    return call("cat", g * s, g * a * s * (1 - s), dim=c.attrs["dim"])


# (no sharding rule: halving the sharded dim would need both halves' shards)
defop("glu", _glu, _glu_rule, _glu_vjp, node="GluBackward0", save=(0,),
      layout_rule=layout.elementwise)  # (over the input's two halves)
