"""In-place writes that replace a tensor's values (fill_, zero_, copy_).

They are ops of their own, with the old values as input 0, so that writing them in place
cuts the old history as torch does: the old values get a zero gradient (not none), and a
copied source gets the gradient of what it became.
"""
from __future__ import annotations

import numpy as np

from ..autograd.record import call
from .rules import unbroadcast, zeros_grad
from .shape import expanded_shape
from .table import Meta, defop


def _zeros_like(g):
    return zeros_grad(g.shape, g.dtype, g.device_str)


def _keep(x, *_, **__):
    return Meta(x.shape, x.dtype)


defop("fill", lambda x, value: np.full(x.shape, value, x.dtype), _keep,
      lambda c, g: (_zeros_like(g) if c.needs[0] else None, g.sum() if c.needs[1] else None),
      node=lambda inputs, attrs: "FillBackward3" if hasattr(inputs[1], "_storage") else "FillBackward2",
      number_edges=False, sharding="elementwise")
defop("zero", np.zeros_like, _keep, lambda c, g: _zeros_like(g), node="ZeroBackward0",
      sharding="elementwise")


def _copy_rule(x, src):
    if hasattr(src, "shape"):  # a number copies as a 0-dim tensor
        expanded_shape(src.shape, x.shape, src.dtype)  # torch's error when src does not broadcast
    return Meta(x.shape, x.dtype)


def _copy_vjp(c, g):
    grad_src = None
    if c.needs[1]:
        grad_src = unbroadcast(g, c.shapes[1])
        if c.dtypes[1] is not g.dtype:
            grad_src = grad_src.to(c.dtypes[1])
    return _zeros_like(g) if c.needs[0] else None, grad_src


defop("copy", lambda x, src: np.broadcast_to(src, x.shape).astype(x.dtype), _copy_rule, _copy_vjp,
      node="torch::autograd::CopyBackwards", sharding="elementwise")
