"""torch's mkldnn_rnn_layer: one LSTM layer in one direction over a whole (L, N, I)
sequence, the op through which torch's CPU build runs an LSTM on oneDNN (node
MkldnnRnnLayerBackward0). Its VJP backpropagates through time with differentiable ops, as
torch's does in grad mode, so a graph built from the gradients differentiates again."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from .table import Meta, defop

_PARAMS = ("input", "weight0", "weight1", "weight2", "weight3", "hx_", "cx_")


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _rnn_layer(x, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode, hidden_size,
               num_layers, has_biases, bidirectional, batch_first, train):
    """The outputs h_t (L, N, H), the last h and c (N, H), and an empty workspace."""
    acc = np.promote_types(x.dtype, np.float32)
    gi = x.astype(acc) @ w_ih.astype(acc).T  # (the input's projection for all steps at once)
    if has_biases:
        gi = gi + (b_ih.astype(acc) + b_hh.astype(acc))
    h, c = hx.astype(acc), cx.astype(acc)
    out = np.empty(x.shape[:2] + (hidden_size,), acc)
    for t in (range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])):
        i, f, g, o = np.split(gi[t] + h @ w_hh.astype(acc).T, 4, axis=-1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        out[t] = h
    return out, h, c, np.empty((0,), np.uint8)


def _rnn_layer_rule(x, w_ih, w_hh, b_ih, b_hh, hx, cx, **attrs):
    n, hidden = x.shape[1], attrs["hidden_size"]
    return (Meta((x.shape[0], n, hidden), x.dtype), Meta((n, hidden), x.dtype),
            Meta((n, hidden), x.dtype), Meta((0,), dtypes.uint8))


def _gate_grads(da_steps, xs):
    """Σ_t da_tᵀ x_t, each step's term added in place to the first, as torch's backward
    accumulates them."""
    total = da_steps[0].transpose(0, 1).matmul(xs[0])
    for da, inp in zip(da_steps[1:], xs[1:]):
        total.add_(da.transpose(0, 1).matmul(inp))
    return total


def _rnn_layer_vjp(c, g_out, g_hy, g_cy, _g_ws=None):
    """Backpropagation through time: each step's gates and states recomputed from the saved
    input, weights and initial states, then walked from the last step processed to the
    first."""
    from .functions import cat  # (functions imports this module to fill the op table)

    x, w_ih, w_hh, b_ih, b_hh, hx, cx = (c[k] for k in range(7))
    reverse, has_biases = c.attrs["reverse"], c.attrs["has_biases"]
    steps = list(range(x.shape[0]))
    order = steps[::-1] if reverse else steps
    prev_h, prev_c, gates, cells, prevs = hx, cx, {}, {}, {}
    for t in order:  # (forward again: the gates and cells of each step)
        a = x[t].matmul(w_ih.t()) + prev_h.matmul(w_hh.t())
        if has_biases:
            a = a + b_ih + b_hh
        i, f, g, o = a.chunk(4, -1)
        i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
        cell = f * prev_c + i * g
        gates[t], cells[t], prevs[t] = (i, f, g, o), cell, (prev_h, prev_c)
        prev_h, prev_c = o * cell.tanh(), cell
    dh, dc = g_hy, g_cy
    das = {}
    for t in reversed(order):
        i, f, g, o = gates[t]
        if g_out is not None:
            dh = g_out[t] if dh is None else dh + g_out[t]
        tanh_c = cells[t].tanh()
        if dh is not None:
            dc_here = dh * o * (1 - tanh_c * tanh_c)
            dc = dc_here if dc is None else dc + dc_here
            do = dh * tanh_c
        else:
            do = None
        if dc is None:  # (no gradient reaches this step yet)
            das[t] = None
            continue
        di, dg, df = dc * g, dc * i, dc * prevs[t][1]
        do = o.mul(0) if do is None else do
        da = cat([di * i * (1 - i), df * f * (1 - f), dg * (1 - g * g), do * o * (1 - o)], -1)
        das[t] = da
        dh = da.matmul(w_hh)
        dc = dc * f
    live = [t for t in order if das[t] is not None]
    if not live:
        return (None,) * 7
    zero = das[live[0]].mul(0)
    da_steps = [das[t] if das[t] is not None else zero for t in steps]
    grad_x = cat([da.matmul(w_ih).unsqueeze(0) for da in da_steps], 0)
    walked = order[::-1]  # (the weights' sums in the order the backward walks the steps)
    da_walked = [da_steps[t] for t in walked]
    grad_w_ih = _gate_grads(da_walked, [x[t] for t in walked])
    grad_w_hh = _gate_grads(da_walked, [prevs[t][0] for t in walked])
    grad_b = None
    if has_biases:
        grad_b = da_walked[0].sum(0)
        for da in da_walked[1:]:
            grad_b.add_(da.sum(0))
    # (one tensor for both biases when the graph is built, as torch's differentiable
    # backward returns; its kernel's otherwise gives each its own)
    grad_b_hh = grad_b if grad_b is None or grad_mode.is_grad_enabled() else grad_b.clone()
    return grad_x, grad_w_ih, grad_w_hh, grad_b, grad_b_hh, dh, dc


defop("mkldnn_rnn_layer", _rnn_layer, _rnn_layer_rule, _rnn_layer_vjp,
      node="MkldnnRnnLayerBackward0", save=tuple(range(7)), save_out=(0,), n_out=4,
      nondiff_outputs=(3,), params=_PARAMS)
