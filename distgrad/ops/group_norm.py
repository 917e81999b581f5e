"""Group normalisation as one op (torch's native_group_norm, NativeGroupNormBackward0): each
sample's channels split into groups, each group normalised over its channels and positions,
then a per-channel affine. The VJP is layer norm's over the group (ops/layers.py's helpers),
made of distgrad ops."""
from __future__ import annotations

import numpy as np

from .layers import (_norm_input_grad, _normalized, in_float32, mixed_norm_dtypes,
                     norm_kernel_dtypes)
from .table import Meta, defop


def _channel(p, ndim):
    return p.reshape((1, -1) + (1,) * (ndim - 2))


def _group_norm(x, weight, bias, num_groups, eps=1e-5):
    groups = x.reshape(x.shape[0], num_groups, -1)
    xc = groups - groups.mean(axis=2, keepdims=True)
    out = (xc / np.sqrt((xc * xc).mean(axis=2, keepdims=True) + eps)).reshape(x.shape)
    if weight is not None:
        out = out * _channel(weight, x.ndim)
    if bias is not None:
        out = out + _channel(bias, x.ndim)
    return out.astype(x.dtype)


def _group_norm_rule(x, weight, bias, num_groups, eps=1e-5):
    c = x.shape[1]
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and (p.ndim != 1 or p.shape[0] != c):
            raise RuntimeError(f"Expected {name} to be a vector of size equal to the number of "
                               f"channels in input, but got {name} of shape "
                               f"[{', '.join(map(str, p.shape))}] and input of shape "
                               f"[{', '.join(map(str, x.shape))}]")
    mixed = mixed_norm_dtypes(x, (weight, bias))
    norm_kernel_dtypes("GroupNormKernelImpl", x, (weight, bias), mixed)
    return Meta(x.shape, x.dtype)


def _group_norm_vjp(c, g):
    x, weight, g = in_float32(c[0], c[1], g)
    shape, groups = tuple(c.shapes[0]), c.attrs["num_groups"]
    xhat, rstd = _normalized(x.reshape(shape[0], groups, -1), (2,), c.attrs.get("eps", 1e-5))
    reduce = [0] + list(range(2, len(shape)))
    gx = gw = gb = None
    if c.needs[0]:
        gy = g if weight is None else g * weight.reshape(1, -1, *([1] * (len(shape) - 2)))
        gx = _norm_input_grad(gy.reshape(shape[0], groups, -1), xhat, rstd, (2,)).reshape(*shape)
    if c.needs[1]:
        gw = (g * xhat.reshape(*shape)).sum(reduce)
    if c.needs[2]:
        gb = g.sum(reduce)
    return gx, gw, gb


defop("native_group_norm", _group_norm, _group_norm_rule, _group_norm_vjp,
      node="NativeGroupNormBackward0", save=(0, 1), sharding="batch")
