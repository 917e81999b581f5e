"""Group normalisation as one op (torch's native_group_norm, NativeGroupNormBackward0): each
sample's channels split into groups, each group normalised over its channels and positions,
then a per-channel affine. The VJP is layer norm's over the group (ops/layers.py's helpers),
made of distgrad ops."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from . import layout
from .fused import fma
from .layers import (_norm_input_grad, _wide_rstd, empty_rows_stats, in_float32, stats_dtype,
                     mixed_norm_dtypes, norm_kernel_dtypes, welford_exact_mean)
from .row_moments import float32_row_moments
from .table import Meta, defop


def _channel(p, ndim):
    return p.reshape((1, -1) + (1,) * (ndim - 2))


def _by_group(x, groups: int):
    """x (an array or a tensor) as (N, groups, the group's values), its length spelled out
    (a reshape's -1 cannot tell it for an empty batch)."""
    return x.reshape(x.shape[0], groups, x.shape[1] // groups * math.prod(x.shape[2:]))


def _group_norm(x, weight, bias, num_groups, eps=1e-5):
    """(result, mean, rstd), torch's native_group_norm's: each sample's groups' statistics
    (N, G), kept for the backward, in float64."""
    groups = _by_group(x, num_groups)
    if groups.shape[2] == 0:
        return (x.copy(),) + tuple(s[..., 0] for s in empty_rows_stats(groups.shape[:2] + (1,)))
    out = _float32_group_norm(x, weight, bias, num_groups, eps) \
        if x.dtype == np.float32 and x.flags.c_contiguous else None
    if out is None:
        xc = groups - welford_exact_mean(groups, (2,)).astype(x.dtype)
        out = (xc / np.sqrt((xc * xc).mean(axis=2, keepdims=True) + eps)).reshape(x.shape)
        if weight is not None:
            out = out * _channel(weight, x.ndim)
        if bias is not None:
            out = out + _channel(bias, x.ndim)
        elif weight is not None:  # (torch's kernel adds a zero bias: a -0.0 result is +0.0)
            out = out + out.dtype.type(0)
    mean = welford_exact_mean(groups, (2,))
    rstd = _wide_rstd(groups, mean, (2,), eps)
    return out.astype(x.dtype), mean[..., 0], rstd[..., 0]


def _float32_group_norm(x, weight, bias, num_groups, eps):
    """A contiguous float32 input's result as torch's kernel rounds it (None on a CPU whose
    lanes are unknown): each group's float32 moments as layer norm's (float32_row_moments),
    rstd = 1/sqrt(var + eps) in double; then (x - mean) * rstd, or with a weight or a bias
    x * scale + (-scale * mean + bias), scale = rstd * weight, each fused."""
    n, c = x.shape[:2]
    groups = _by_group(x, num_groups)
    moments = float32_row_moments(groups.reshape(n * num_groups, groups.shape[2])) \
        if x.size else None
    if moments is None:  # (an empty input too: the plain formula gives its empty result)
        return None
    mean, var = (m.reshape(n, num_groups, 1, 1) for m in moments)
    rstd = (1 / np.sqrt(np.maximum(var, 0).astype(np.float64) + eps)).astype(np.float32)
    per_channel = x.reshape(n, num_groups, c // num_groups, -1)
    if weight is None and bias is None:
        out = (per_channel - mean) * rstd
    else:
        shape = (1, num_groups, c // num_groups, 1)
        w = np.ones(shape, np.float32) if weight is None else weight.reshape(shape)
        b = np.zeros(shape, np.float32) if bias is None else bias.reshape(shape)
        scale = (rstd * w).astype(np.float32)
        out = fma(per_channel, scale, fma(-scale, mean, b, np.float32), np.float32)
    return out.astype(np.float32).reshape(x.shape)


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
    stats = Meta((x.shape[0], num_groups), stats_dtype(x, mixed))
    return Meta(x.shape, x.dtype), stats, stats


def _group_stats(x, saved):
    """The statistics the forward saved (torch's result1 and result2: a write into x's
    `.data` since changes x, not them), in x's dtype. In a graph of the gradient they are
    in their own (a mixed call's float32, as torch's composite reads them) and functions of
    x to every order, as in torch's infinitely differentiable group norm backward:
    d mean = mean(dx), d rstd = -rstd³ mean((x - x's mean now) dx), which
    (var(x) + k)^-1/2 satisfies, k set to give the saved rstd at x."""
    mean, rstd = (s.detach() for s in saved)
    if not grad_mode.is_grad_enabled():
        return mean.to(x.dtype), rstd.to(x.dtype)
    if not x.requires_grad:
        return mean, rstd
    mean_now = x.mean(2, keepdim=True)
    centred = x - mean_now
    var_now = (centred * centred).mean(2, keepdim=True)
    rstd_now = (var_now + (rstd.pow(-2) - var_now.detach())).rsqrt()
    return mean + (mean_now - mean_now.detach()), rstd + (rstd_now - rstd_now.detach())


def _group_norm_vjp(c, g, _mean_grad=None, _rstd_grad=None):
    if grad_mode.is_grad_enabled():  # (in the operands' dtypes, as torch's composite)
        return _differentiable_group_norm_grads(c, c[0], c[1], g)
    x, weight, g = in_float32(c[0], c[1], g)
    shape, groups = tuple(c.shapes[0]), c.attrs["num_groups"]
    x = _by_group(x, groups)
    mean, rstd = _group_stats(x, [s.unsqueeze(2) for s in c.outs])
    xhat = (x - mean) * rstd
    reduce = [0] + list(range(2, len(shape)))
    gx = gw = gb = None
    if c.needs[0]:
        gy = g if weight is None else g * weight.reshape(1, -1, *([1] * (len(shape) - 2)))
        # (torch's kernel writes a tensor of its own: no view a later write would refuse)
        gx = call("unsafe_view", _norm_input_grad(_by_group(gy, groups), xhat, rstd, (2,)),
                  shape=list(shape))
    if c.needs[1]:
        gw = (g * xhat.reshape(*shape)).sum(reduce)
        if x.shape[2] == 0:  # (torch's Σ (ds - db·mean)·rstd: 0·rstd, nan for groups of nothing)
            gw = gw + (rstd[..., 0] * 0).sum(0).repeat_interleave(shape[1] // groups)
    if c.needs[2]:
        gb = g.sum(reduce)
    return gx, gw, gb


def _differentiable_group_norm_grads(c, x, weight, g):
    """The gradients when a graph of them is built, as torch's
    infinitely_differentiable_native_group_norm_backward writes them (so its nodes, their
    order and its roundings): on (N, G, D, HxW) blocks, dx = a·dy + b·x + c with per-group
    b and c from the sums ds = Σ dy·x and db = Σ dy."""
    n, channels, groups = c.shapes[0][0], c.shapes[0][1], c.attrs["num_groups"]
    blocks = (n, groups, channels // groups, math.prod(c.shapes[0][2:]))
    xb, gy = x.reshape(*blocks), g.reshape(*blocks)
    mean, rstd = (s.reshape(n, groups, 1, 1) for s in
                  _group_stats(_by_group(x, groups), [s.unsqueeze(2) for s in c.outs]))
    ds = (gy * xb).sum(3).unsqueeze_(-1)  # (in place, as torch's: UnsqueezeBackward1)
    db = gy.sum(3).unsqueeze_(-1)
    gx = gw = gb = None
    if c.needs[0]:
        s = 1.0 / (blocks[2] * blocks[3]) if blocks[2] * blocks[3] else 0.0  # (no values)
        gamma = None if weight is None else weight.reshape(1, groups, blocks[2], 1)
        a = rstd if gamma is None else rstd * gamma
        b = (ds if gamma is None else ds * gamma).sum(2).unsqueeze_(-2)
        cc = (db if gamma is None else db * gamma).sum(2).unsqueeze_(-2)
        b = (cc * mean - b) * (rstd * rstd * rstd) * s
        cc = -b * mean - cc * rstd * s
        gx = (a * gy + b * xb + cc).reshape(*c.shapes[0])
    if c.needs[1]:
        gw = ((ds - db * mean) * rstd).sum(0).reshape(*c.shapes[1])
    if c.needs[2]:
        gb = db.sum(0).reshape(*c.shapes[2])
    return gx, gw, gb


defop("native_group_norm", _group_norm, _group_norm_rule, _group_norm_vjp,
      node="NativeGroupNormBackward0", save=(0, 1), pack_order=(0, 1), save_out=(1, 2), n_out=3,
      saved_names={"input": 0, "weight": 1},
      nondiff_outputs=(1, 2), sharding="batch", layout_rule=layout.in_suggested_format)
