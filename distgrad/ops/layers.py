"""Layer ops with torch's node names: embedding, layer norm, batch norm, GELU, SiLU, the
dropout mask and CPU flash attention.

Each forward is one numpy kernel; each VJP is written with distgrad ops (recomputing the
statistics it needs from the saved input), so gradients of gradients work everywhere.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..mersenne import MersenneStream
from ..autograd import grad_mode
from ..autograd.record import call
from ..settings import get_num_threads
from . import layout, rounding
from .fused import fma
from .row_moments import float32_row_moments, low_float_row_means
from .vector_sum import float32_lanes, low_float_rows_sums_of_squares
from .math import _erf, _not_implemented
from .rules import (float_dtype, require_castable, require_float, require_scalar_type, same,
                    scalar_types_error, unbroadcast, zeros_grad)
from .table import ALWAYS, Meta, defop, elementwise


def _dims(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


# ---- embedding -------------------------------------------------------------------------------

def _embedding_rule(weight, indices, padding_idx=-1, scale_grad_by_freq=False):
    if indices.dtype not in dtypes.INDEX:
        raise scalar_types_error("embedding", "indices", "Long, Int", indices.dtype)
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    return Meta(tuple(indices.shape) + (weight.shape[1],), weight.dtype)


def _embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False):
    if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
        raise IndexError("index out of range in self")
    return weight[indices]


def _embedding_backward(g, indices, num_weights, padding_idx=-1, scale_grad_by_freq=False):
    """The picked rows' gradients added up in the input's order: float16 and bfloat16, given
    as they are (table.OWN_HALF), in that dtype, each add rounded, as torch's index_add_
    (scaled by frequency: in float32, rounded once)."""
    if scale_grad_by_freq and g.dtype.char in "eE":
        g = g.astype(np.float32)
    out = np.zeros((num_weights, g.shape[-1]), g.dtype)
    flat, rows = indices.reshape(-1), g.reshape(-1, g.shape[-1])
    if scale_grad_by_freq:  # each row's gradient divided by how often the input picks it
        rows = rows / np.bincount(flat, minlength=num_weights)[flat, None].astype(g.dtype)
    np.add.at(out, flat, rows)
    if padding_idx >= 0:
        out[padding_idx] = 0
    return out


def _embedding_backward_vjp(c, gg):
    # torch's embedding_dense_double_backward: the rows picked again, padding positions zero
    # (not scaled by frequency even when the backward was: torch's is not).
    picked = call("embedding", gg, c[1])
    p = c.attrs.get("padding_idx", -1)
    if p >= 0:
        picked = picked.masked_fill((c[1] == p).unsqueeze(-1), 0.0)
    return picked, None


defop("embedding", _embedding, _embedding_rule,
      lambda c, g: (call("embedding_dense_backward", g, c[1], num_weights=c.shapes[0][0],
                         padding_idx=c.attrs.get("padding_idx", -1),
                         scale_grad_by_freq=c.attrs.get("scale_grad_by_freq", False)), None),
      node="EmbeddingBackward0", save=(1,), saved_names={"indices": 1}, differentiable=(0,),
      sharding="embedding")

defop("embedding_dense_backward", _embedding_backward,
      lambda g, indices, num_weights, padding_idx=-1, scale_grad_by_freq=False:
      Meta((num_weights, g.shape[-1]), g.dtype),
      _embedding_backward_vjp, node="EmbeddingDenseBackwardBackward0", save=(1,),
      differentiable=(0,))


# ---- embedding_bag -----------------------------------------------------------------------------
# One op, as torch's _embedding_bag (EmbeddingBagBackward0, with edges to the weight and the
# per-sample weights): nn.functional.embedding_bag checks its arguments and works out, for
# each index it keeps (padding_idx left out), the row `ids`, its bag `bag_of` and its place in
# the input `keep`. The second result is, in max mode, the place in `ids` of each bag's
# maximum per column (-1 for an empty bag): the VJP routes the gradient there.

def _embedding_bag_rule(weight, per_sample_weights, ids, bag_of, keep, n_bags, mode):
    picked = (n_bags, weight.shape[1]) if mode == "max" else (0,)
    return Meta((n_bags, weight.shape[1]), weight.dtype), Meta(picked, dtypes.int64)


def _embedding_bag(weight, per_sample_weights, ids, bag_of, keep, n_bags, mode):
    rows = weight[ids]
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[keep][:, None]
    if mode == "max":
        return _bag_max(rows, bag_of, n_bags)
    out = np.zeros((n_bags, weight.shape[1]), weight.dtype)
    np.add.at(out, bag_of, rows)
    if mode == "mean":
        out /= _bag_sizes(bag_of, n_bags)[:, None].astype(out.dtype)
    return out, np.zeros((0,), np.int64)


def _bag_sizes(bag_of, n_bags: int):
    """How many kept indices each bag has, at least 1 (an empty bag's mean is 0)."""
    return np.bincount(bag_of, minlength=n_bags).clip(min=1)


def _bag_max(rows, bag_of, n_bags: int):
    out = np.zeros((n_bags, rows.shape[1]), rows.dtype)
    picked = np.full((n_bags, rows.shape[1]), -1, np.int64)
    columns = np.arange(rows.shape[1])
    for b in range(n_bags):
        at = np.nonzero(bag_of == b)[0]
        if len(at):
            first = np.argmax(rows[at], axis=0)  # (torch's kernel keeps the first maximum)
            out[b] = rows[at[first], columns]
            picked[b] = at[first]
    return out, picked


def _embedding_bag_vjp(c, g, _):
    """torch's two backward kernels, whose own derivatives torch does not have."""
    psw, ids, bag_of, keep = c[1], c[2], c[3], c[4]
    gw = gpsw = None
    if c.needs[0]:
        gw = call("embedding_bag_backward", g, psw, ids, bag_of, keep, c.outs[0],
                  num_weights=c.shapes[0][0], mode=c.attrs["mode"])
    if psw is not None and c.needs[1]:
        gpsw = call("embedding_bag_per_sample_weights_backward", g, c[0], ids, bag_of, keep,
                    n=c.shapes[1][0])
    return gw, gpsw


def _embedding_bag_backward(g, psw, ids, bag_of, keep, picked, num_weights, mode):
    """The weight's gradient: each kept index's row gets its bag's gradient (divided by
    the bag's size in mean mode, times its per-sample weight); in max mode each bag's
    gradient goes to the row of its maximum, per column."""
    out = np.zeros((num_weights, g.shape[1]), g.dtype)
    if mode == "max":
        bags, columns = np.nonzero(picked >= 0)
        np.add.at(out, (ids[picked[bags, columns]], columns), g[bags, columns])
        return out
    per_row = g[bag_of]
    if mode == "mean":
        per_row = per_row / _bag_sizes(bag_of, g.shape[0])[bag_of, None].astype(g.dtype)
    if psw is not None:
        per_row = per_row * psw[keep][:, None]
    np.add.at(out, ids, per_row)
    return out


def _per_sample_weights_backward(g, weight, ids, bag_of, keep, n):
    """Each kept index's per-sample weight's gradient: its row · its bag's gradient."""
    out = np.zeros(n, g.dtype)
    np.add.at(out, keep, (g[bag_of] * weight[ids]).sum(1))
    return out


def _refuse_embedding_bag_double_backward(c, g):
    raise NotImplementedError("the derivative for '_embedding_bag_backward' is not implemented.")


defop("embedding_bag", _embedding_bag, _embedding_bag_rule, _embedding_bag_vjp,
      node="EmbeddingBagBackward0", save=(0, 1, 2, 3, 4), save_out=(1,), n_out=2,
      save_for={ALWAYS: (1, 2, 3, 4, "out"), 1: (0,)},
      differentiable=(0, 1), nondiff_outputs=(1,))
defop("embedding_bag_backward", _embedding_bag_backward,
      lambda g, psw, ids, bag_of, keep, picked, num_weights, mode: Meta(
          (num_weights, g.shape[1]), g.dtype),
      _refuse_embedding_bag_double_backward, node="EmbeddingBagBackwardBackward0",
      differentiable=(0, 1))
defop("embedding_bag_per_sample_weights_backward", _per_sample_weights_backward,
      lambda g, weight, ids, bag_of, keep, n: Meta((n,), g.dtype),
      _not_implemented("_embedding_bag_per_sample_weights_backward"),
      node="torch::autograd::NotImplemented", differentiable=(0, 1))


# ---- the norms' dtype checks (torch's CPU kernels) ----------------------------------------------

def mixed_norm_dtypes(x, params) -> bool:
    """A norm whose first parameter given (None: absent) is of another dtype than the input is
    a 'mixed' call, which torch takes only with float32 parameters and a float16 or bfloat16
    input (what autocast hands a norm): then it computes in float32 and gives the input's
    dtype. Returns whether the call is mixed."""
    given = [p for p in params if p is not None]
    if given and given[0].dtype is not x.dtype:
        if any(p.dtype is not dtypes.float32 for p in given):
            raise RuntimeError("mixed dtype (CPU): expect parameter to have scalar type of Float")
        if x.dtype not in dtypes.LOW_FLOATS:
            raise RuntimeError("mixed dtype (CPU): all inputs must share same datatype.")
        return True
    return False


def norm_kernel_dtypes(kernel: str, x, params, mixed: bool = False) -> None:
    """The checks of a norm's kernel, after the mixed call's: a floating input, and each
    parameter read as the input's type (float32 in a mixed call)."""
    require_float(kernel, x.dtype)
    require_scalar_type(dtypes.float32 if mixed else x.dtype, *params)


def stats_dtype(x, mixed: bool) -> dtypes.dtype:
    """The dtype of a norm's saved mean and rstd, torch's: the input's, float32 in a mixed
    call (the values are taken wider and rounded to it)."""
    return dtypes.float32 if mixed else x.dtype


def in_float32(*tensors):
    """A norm's VJP operands in float32 where the input is float16 or bfloat16 (torch's
    kernels compute them in float; the engine casts each gradient to its input's dtype)."""
    return [t.float() if t is not None and t.dtype in dtypes.LOW_FLOATS else t for t in tensors]


# ---- layer norm --------------------------------------------------------------------------------

def check_normalized_shape(normalized_shape) -> None:
    """layer_norm's and rms_norm's refusal of an empty normalized_shape."""
    if len(normalized_shape) == 0:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           "containing at least one element, but got normalized_shape = []")


def _layer_norm_rule(x, weight, bias, normalized_shape, eps=1e-5, low_stats=None):
    mixed = mixed_norm_dtypes(x, (weight, bias))  # (torch's first check)
    check_normalized_shape(normalized_shape)
    n = len(normalized_shape)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != tuple(normalized_shape):
            raise RuntimeError(f"Expected {name} to be of same shape as normalized_shape, but got "
                               f"{name} of shape {_dims(p.shape)} and normalized_shape = "
                               f"{_dims(normalized_shape)}")
    if x.ndim < n or tuple(x.shape[x.ndim - n:]) != tuple(normalized_shape):
        raise RuntimeError(f"Given normalized_shape={_dims(normalized_shape)}, expected input with "
                           f"shape [*, {', '.join(map(str, normalized_shape))}], but got input of "
                           f"size{_dims(x.shape)}")
    norm_kernel_dtypes("LayerNormKernelImpl", x, (weight, bias), mixed)
    # (float64, not torch's dtype: the backward's difference of large terms needs them wide)
    rows = Meta(tuple(x.shape[:x.ndim - n]) + (1,) * n, dtypes.float64)
    return Meta(x.shape, x.dtype), rows, rows


def _layer_norm(x, weight, bias, normalized_shape, eps=1e-5, low_stats=None):
    """(result, mean, rstd), torch's native_layer_norm's: the statistics are per row, kept
    for the backward (in float64: see _layer_norm_input_grad). The mean in float64
    (rounded to x's dtype for the result): torch's kernel takes each row's moments by
    Welford's updates, which keep a row of equal values' mean exact (its result then 0),
    where a sum may be an ulp off (times 1/sqrt(eps)): see welford_exact_mean. `low_stats`: x is a float16
    or bfloat16 input (that dtype's name) whose parameters are of its dtype too, whose
    kernel keeps the statistics it saves in that dtype (the result is of float32 ones)."""
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    if any(x.shape[a] == 0 for a in axes):
        return (x.copy(),) + empty_rows_stats(x.shape[:x.ndim - len(axes)] + (1,) * len(axes))
    mean = welford_exact_mean(x, axes)
    out = _float32_layer_norm(x, weight, bias, axes, eps) if x.dtype == np.float32 else None
    if out is None:
        xc = x - mean.astype(x.dtype)
        out = xc / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
        if weight is not None:
            out = out * weight
        if bias is not None:
            out = out + bias
    if bias is None:  # (torch's kernel adds a zero bias: a -0.0 result is +0.0)
        out = out + out.dtype.type(0)
    stats = mean, _wide_rstd(x, mean, axes, eps)
    if low_stats:
        stats = _low_stats(x, stats, axes, dtypes.from_name(low_stats).np)
    return (out,) + stats


def _float32_layer_norm(x, weight, bias, axes, eps):
    """A float32 input's result as torch's kernel rounds it (None on a CPU whose lanes are
    unknown): each row's mean and rstd = 1/sqrt(var + eps) taken in float32 as it takes them
    (float32_row_moments), then (x - mean) * rstd, times the weight and plus the bias; the
    kernel's loop fuses the last multiply and add (without a weight, the rstd's)."""
    if not x.size:  # (the plain formula gives an empty result)
        return None
    rows = x.reshape(-1, math.prod(x.shape[d] for d in axes))
    moments = float32_row_moments(rows)
    if moments is None:
        return None
    keep = x.shape[:x.ndim - len(axes)] + (1,) * len(axes)
    mean, var = (m.reshape(keep) for m in moments)
    rstd = np.float32(1) / np.sqrt(var + np.float32(eps))  # (float32s: float32)
    centered = x - mean
    if weight is None and bias is not None:
        return fma(centered, rstd, bias, np.float32)
    out = centered * rstd
    if weight is None:
        return out
    return fma(out, weight, bias, np.float32) if bias is not None else \
        (out * weight).astype(np.float32, copy=False)


def _low_stats(x, stats, axes, low):
    """A float16 or bfloat16 input's saved (mean, rstd): the mean torch's kernel takes (a
    float32 Welford mean: often an exact mean halfway between two of the dtype's numbers,
    which it rounds one way) and the rstd, each rounded to the input's dtype."""
    rows = x.reshape(-1, math.prod(x.shape[d] for d in axes))
    mean = low_float_row_means(rows).reshape(stats[0].shape)
    return tuple(dtypes.rounded_in(s.astype(np.float32), low).astype(np.float64)
                 for s in (mean, stats[1]))


def empty_rows_stats(shape) -> tuple:
    """(mean, rstd) of rows of no values, as torch's kernels leave them: Welford's moments
    of nothing (mean 0, variance 0/0), where numpy's mean would warn."""
    return np.zeros(shape), np.full(shape, np.nan)


def welford_exact_mean(x, axes):
    """The float64 mean over `axes` (dims kept), taken about each row's first value: a row
    of equal values' mean is that value exactly, as torch's kernels' Welford updates keep
    it (a plain sum / n is often an ulp off, which the norms' backward terms scale by
    rstd³, about 3e7 at eps=1e-5)."""
    first = x[tuple(slice(0, 1) if d in axes else slice(None) for d in range(x.ndim))]
    first = first.astype(np.float64)
    return first + (x.astype(np.float64) - first).mean(axis=axes, keepdims=True)


def _wide_rstd(x, mean, axes, eps):
    """1/sqrt(var + eps) over `axes`, in float64, around `mean` (float64, dims kept)."""
    wide = x.astype(np.float64) - mean
    return 1 / np.sqrt((wide * wide).mean(axis=axes, keepdims=True) + eps)


def _norm_input_grad(gy, xhat, rstd, dims):
    """d/dx of (x - mean) * rstd with batch statistics over `dims`, given d/dxhat = gy."""
    return rstd * (gy - gy.mean(dims, keepdim=True) - xhat * (gy * xhat).mean(dims, keepdim=True))


def _layer_norm_input_grad(gy, x, stats, dims):
    """torch's LayerNormBackward kernel's terms: with ds = Σ gy·x, db = Σ gy over each row
    of n, dx = rstd·gy + b·x + c, b = (db·mean - ds)·rstd³/n, c = -b·mean - db·rstd/n
    (differentiable again), in float64 for lower precisions: a row's gradient is a
    difference of large terms, which float32 rounds to torch's float64 result only by
    torch's very sums."""
    dtype = x.dtype
    wide = dtype in (dtypes.float32, dtypes.float16)
    if wide:
        gy, x = gy.to(dtypes.float64), x.to(dtypes.float64)
    n = 1
    for d in dims:
        n *= x.shape[d]
    mean, rstd = _saved_stats(x, stats)
    ds = (gy * x).sum(dims, keepdim=True)
    db = gy.sum(dims, keepdim=True)
    per_value = 1.0 / n if n else 0.0  # (rows of no values: an empty gradient)
    b = (db * mean - ds) * rstd * rstd * rstd * per_value
    gx = rstd * gy + b * x + (-b * mean - db * rstd * per_value)
    return gx.to(dtype) if wide else gx


def _saved_stats(x, stats):
    """A norm's forward's mean and rstd (torch's saved result1 and result2: a write into x's
    `.data` since changes x, not them), in x's dtype. Only values: with a graph of the
    gradients, the norms' backward nodes (native_*_norm_backward) give the derivatives."""
    return tuple(s.detach().to(x.dtype) for s in stats)


def _layer_norm_vjp(c, g, _mean_grad=None, _rstd_grad=None):
    c[2]  # noqa: B018  (torch saves and unpacks the bias too: a write to it is an error)
    if grad_mode.is_grad_enabled():
        return _layer_norm_backward_node(c, g)
    return _layer_norm_grads(c, g, c.needs)


def _layer_norm_grads(c, g, needs):
    """Layer norm's (gx, gw, gb), those `needs` asks for, of values only."""
    x, weight, g = in_float32(c[0], c[1], g)
    shape = tuple(c.attrs["normalized_shape"])
    dims = tuple(range(len(c.shapes[0]) - len(shape), len(c.shapes[0])))
    gx = gw = gb = None
    if needs[0]:
        gx = _layer_norm_input_grad(g if weight is None else g * weight, x, c.outs, dims)
    low = c[0].dtype if c[0].dtype in dtypes.LOW_FLOATS else None
    if needs[1]:
        mean, rstd = _saved_stats(x, c.outs)
        gw = _parameter_grad(g * (x * rstd - mean * rstd), shape, low)
    if needs[2]:
        gb = _parameter_grad(g, shape, low)
    return gx, gw, gb


def _parameter_grad(terms, shape, low):
    """The sum of a layer norm's per-element terms over its rows, for a parameter of `shape`.
    A float16 or bfloat16 input's kernel adds each row's float32 terms into a buffer of the
    input's dtype (rounded at each row, torch's single-threaded order)."""
    if low is None:
        return unbroadcast(terms, shape)
    rows = terms.reshape(-1, math.prod(shape))
    return call("rows_summed_in", rows, dtype=low.name).reshape(*shape)


def _rows_summed_in(rows, dtype):
    low = dtypes.from_name(dtype).np
    total = np.zeros(rows.shape[1], np.float32)
    for row in rows.astype(np.float32):
        total = dtypes.rounded_in(total + row, low)
    return total


defop("rows_summed_in", _rows_summed_in,
      lambda rows, dtype: Meta((rows.shape[1],), dtypes.float32))


def _layer_norm_backward_node(c, g):
    """Layer norm's gradients when a graph of them is built: torch's
    native_layer_norm_backward, one node (NativeLayerNormBackwardBackward0) with edges to
    the incoming gradient, the input, the saved statistics, the weight and the bias, whose
    gradients are torch's layer_norm_double_backward."""
    with grad_mode.no_grad():
        values = _in_dtypes(c, _layer_norm_grads(c, g, (True, True, True)))
    gx, gw, gb = call("native_layer_norm_backward", *values, g, c[0], *c.outs, c[1], c[2],
                      normalized_shape=tuple(c.attrs["normalized_shape"]))
    return gx if c.needs[0] else None, gw if c.needs[1] else None, gb if c.needs[2] else None


def _layer_norm_double_vjp(c, ggx, ggw, ggb):
    """torch's layer_norm_double_backward: the gradients of layer norm's (gx, gw, gb) for the
    incoming gradient, the input and the weight, on rows of the normalized size, with the
    saved statistics held constant (what torch differentiates for the third order)."""
    g, x, weight = c[3], c[4], c[7]
    n = math.prod(c.attrs["normalized_shape"])
    rows = (-1, n)
    xmu = x.reshape(*rows) - c[5].to(x.dtype).reshape(-1, 1)
    isd = c[6].to(x.dtype).reshape(-1, 1)
    terms = _NormTerms(xmu, isd, lambda t: t.sum(1, keepdim=True), n)
    gamma = None if weight is None else weight.reshape(1, n)
    g2, ggx2 = g.reshape(*rows), None if ggx is None else ggx.reshape(*rows)
    ggw2 = None if ggw is None else ggw.reshape(1, n)
    g_x = g_w = g_g = None
    if c.needs[4]:
        if ggx2 is not None:
            g_x = terms.input_grad_of_input_term(ggx2, g2, gamma)
        if ggw2 is not None and gamma is not None:
            g_term = terms.input_grad_of_weight_term(g2, ggw2)
            g_x = g_term if g_x is None else g_x + g_term
        g_x = None if g_x is None else g_x.reshape(*c.shapes[4])
    if c.needs[7] and ggx2 is not None and gamma is not None:
        g_w = (g2 * terms.first_input_grad(ggx2, None)).sum(0).reshape(*c.shapes[7])
    if c.needs[3]:
        if ggx2 is not None:
            g_g = terms.first_input_grad(ggx2, gamma)
        for term in (None if ggw2 is None else ggw2 * xmu * isd,
                     None if ggb is None else ggb.reshape(1, n)):
            if term is not None:
                g_g = term if g_g is None else g_g + term
        g_g = None if g_g is None else g_g.expand(xmu.shape[0], n).reshape(*c.shapes[3])
    return (None, None, None, g_g, g_x, None, None, g_w, None)


defop("native_layer_norm", _layer_norm, _layer_norm_rule, _layer_norm_vjp,
      node="NativeLayerNormBackward0", save=(0, 1, 2), pack_order=(2, 0, 1), save_out=(1, 2),
      saved_names={"input": 0, "weight": 1, "bias": 2}, n_out=3,
      nondiff_outputs=(1, 2), sharding="layer_norm")

# (inputs: the gradients' values, then grad_out, input, mean, rstd, weight, bias, as torch's
# node has its edges)
defop("native_layer_norm_backward", lambda gx, gw, gb, *rest, normalized_shape: (gx, gw, gb),
      lambda gx, gw, gb, *rest, normalized_shape: (Meta(gx.shape, gx.dtype),
                                                   Meta(gw.shape, gw.dtype),
                                                   Meta(gb.shape, gb.dtype)),
      _layer_norm_double_vjp, node="NativeLayerNormBackwardBackward0", save=(3, 4, 5, 6, 7),
      n_out=3, differentiable=(3, 4, 5, 6, 7, 8),
      saved_names={"grad_out": 3, "input": 4, "mean": 5, "rstd": 6, "weight": 7})


# ---- batch norm (training: batch statistics; eval: the running ones) ----------------------------

def check_batch_norm(x, weight, bias, running_mean, running_var) -> None:
    """torch's checks of batch norm's operands (None: absent): their sizes, then dtypes."""
    c = x.shape[1] if x.ndim > 1 else 0
    for name, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != (c,):
            raise RuntimeError(f"{name} should contain {c} elements not {p.shape[0] if p.ndim else 1}")
    params = (weight, bias, running_mean, running_var)
    require_float("batch_norm", x.dtype)  # (before the mixed call's check, unlike the others)
    mixed = mixed_norm_dtypes(x, params)
    require_scalar_type(dtypes.float32 if mixed else x.dtype, *params)


def _batch_norm_rule(x, weight, bias, running_mean, running_var, training, eps=1e-5,
                     low_stats=None):
    check_batch_norm(x, weight, bias, running_mean, running_var)
    mixed = mixed_norm_dtypes(x, (weight, bias, running_mean, running_var))
    channels = Meta((x.shape[1] if training else 0,),  # (torch's: empty in eval)
                    stats_dtype(x, mixed))
    return Meta(x.shape, x.dtype), channels, channels


def _channel_view(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _low_batch_norm(x, weight, bias, axes, eps, low):
    """Training batch norm of a float16 or bfloat16 batch (`low`, its dtype's name) with
    parameters of that dtype (or none), as torch's CPU kernel: its mean and 1/std are in that
    dtype (the mean of float32 sums; the sum of squares about the float32 mean, and its
    quotient by the count, rounded), and the result is x * alpha + beta with
    alpha = rstd * weight, beta = bias - mean * alpha in float32."""
    wide_mean = x.mean(axis=axes, keepdims=True, dtype=np.float64).astype(np.float32)
    centred = x - wide_mean
    low_np = dtypes.from_name(low).np
    squares = (centred * centred).sum(axis=axes, keepdims=True, dtype=np.float64)
    if low == "bfloat16":
        var_sum = dtypes.rounded_in(squares, low_np)
        var = dtypes.rounded_in(var_sum / dtypes.rounded_in(x.size // x.shape[1], low_np),
                                low_np).astype(np.float64)
    else:  # (float16's variance stays in float)
        var = squares / (x.size // x.shape[1])
    mean = dtypes.rounded_in(wide_mean, low_np)
    rstd = dtypes.rounded_in(1 / np.sqrt(var + eps), low_np)
    alpha = rstd if weight is None else rstd * _channel_view(weight, x.ndim)
    beta = (0 if bias is None else _channel_view(bias, x.ndim)) - mean * alpha
    stats = (mean.reshape(-1).astype(np.float64), rstd.reshape(-1).astype(np.float64))
    return (x * alpha + beta,) + stats


def _batch_norm(x, weight, bias, running_mean, running_var, training, eps=1e-5,
                low_stats=None):
    """(result, mean, rstd), torch's native_batch_norm's: in training the channels'
    statistics (kept for the backward, in float64), else none. `low_stats`: x is a float16
    or bfloat16 batch (that dtype's name) whose parameters are of its dtype too (its kernel's
    statistics are)."""
    axes = (0,) + tuple(range(2, x.ndim))
    stats = (np.zeros(0), np.zeros(0))
    if training and low_stats:
        return _low_batch_norm(x, weight, bias, axes, eps, low_stats)
    if training:
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        out = xc / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
        wide_mean = _channel_means_in_order(x) if x.size else \
            x.mean(axis=axes, keepdims=True, dtype=np.float64)
        stats = (wide_mean.reshape(-1), _wide_rstd(x, wide_mean, axes, eps).reshape(-1))
    else:
        out = (x - _channel_view(running_mean, x.ndim)) / np.sqrt(
            _channel_view(running_var, x.ndim) + eps)
    if weight is not None:
        out = out * _channel_view(weight, x.ndim)
    # (torch's kernel: x * alpha + (bias - mean * alpha), bias 0 without one: a -0.0
    # result is +0.0)
    out = out + (out.dtype.type(0) if bias is None else _channel_view(bias, x.ndim))
    return (out,) + stats


def _channel_means_in_order(x):
    """Each channel's float64 mean (dims kept) as torch's batch norm kernel adds it up, then
    divides by the count: a channel of equal values' mean is then often an ulp off, which
    the backward's terms scale by rstd³ and torch's double backward's values carry. Its
    contiguous kernel adds a channel's values one at a time, batch by batch; with one value
    per sample and channel, or channels last, each thread sums its share of the positions
    (in the input's dtype) and the threads' sums are added (see _threads_sums)."""
    count = x.size // x.shape[1]
    strides = tuple(s // x.itemsize for s in x.strides)
    if count > x.shape[0] and layout.suggested_format(x.shape, strides) == "contiguous_format":
        per_channel = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1).astype(np.float64)
        sums = np.cumsum(per_channel, axis=1)[:, -1]
    else:
        sums = _threads_sums(np.moveaxis(x, 1, -1).reshape(count, x.shape[1]))
    return _channel_view(sums / count, x.ndim)


def _threads_sums(rows, buffers_added_in=np.float64):
    """The column sums of `rows` as torch's parallel_for over them adds them: each of its
    threads (settings.get_num_threads, at most one a row) takes the next ceil(rows/threads)
    rows and adds them in order into a buffer of their dtype; the buffers are then added in
    `buffers_added_in`, in order."""
    threads = min(get_num_threads(), len(rows))
    share = -(-len(rows) // threads)
    total = np.zeros(rows.shape[1], buffers_added_in)
    for first in range(0, len(rows), share):
        total = total + np.cumsum(rows[first:first + share], axis=0)[-1]
    return total


def _low_batch_norm_input_grad(g, x, weight, mean, rstd, dims, shape):
    """torch's backward kernel for a float16 batch with parameters of its dtype, in its
    order of operations: (g - Σg/N - (x - mean)·k)·(rstd·w), k = Σ g·(x - mean) · rstd²/N."""
    n = g.numel() // g.shape[1]
    centred = x - mean
    k = (g * centred).sum(dims, keepdim=True) * rstd * rstd / n
    w_rstd = rstd if weight is None else rstd * weight.view(*shape)
    return (g - g.sum(dims, keepdim=True) / n - centred * k) * w_rstd


def _batch_norm_vjp(c, g, _mean_grad=None, _rstd_grad=None):
    if grad_mode.is_grad_enabled():
        return _batch_norm_backward_node(c, g)
    return _batch_norm_grads(c, g, c.needs)


def _batch_norm_grads(c, g, needs):
    """Batch norm's (gx, gw, gb), those `needs` asks for, of values only."""
    x, weight, rm, rv, g = in_float32(c[0], c[1], c[3], c[4], g)
    ndim = len(c.shapes[0])
    dims = (0,) + tuple(range(2, ndim))
    shape = (1, -1) + (1,) * (ndim - 2)
    eps = c.attrs.get("eps", 1e-5)
    if c.attrs["training"]:
        mean, rstd = _saved_stats(x, [s.view(*shape) for s in c.outs])
        xhat = (x - mean) * rstd
    else:
        rstd = (rv.view(*shape) + eps).rsqrt()
        xhat = (x - rm.view(*shape)) * rstd
    gx = gw = gb = None
    if needs[0] and c.attrs["training"] and c.attrs.get("low_stats") == "float16":
        gx = _low_batch_norm_input_grad(g, x, weight, mean, rstd, dims, shape)
    elif needs[0]:
        gy = g if weight is None else g * weight.view(*shape)
        gx = _norm_input_grad(gy, xhat, rstd, dims) if c.attrs["training"] else gy * rstd
    if needs[1]:
        gw = (g * xhat).sum(dims)
    if needs[2]:
        gb = g.sum(dims)
    return gx, gw, gb, None, None


def _batch_norm_backward_node(c, g):
    """Batch norm's gradients when a graph of them is built: torch's
    native_batch_norm_backward, one node (NativeBatchNormBackwardBackward0) with edges to
    the incoming gradient, the input, the weight and the saved statistics, whose gradients
    are torch's batchnorm_double_backward (eval mode: its input gradient does not read the
    input, yet has that edge)."""
    with grad_mode.no_grad():
        values = _in_dtypes(c, _batch_norm_grads(c, g, (True, True, True))[:3])
    gx, gw, gb = call("native_batch_norm_backward", *values, g, c[0], c[1], *c.outs, c[3],
                      c[4], training=c.attrs["training"], eps=c.attrs.get("eps", 1e-5))
    return (gx if c.needs[0] else None, gw if c.needs[1] else None,
            gb if c.needs[2] else None, None, None)


def _in_dtypes(c, grads):
    """A norm's (gx, gw, gb) in the dtypes torch's backward kernel gives them: the input's,
    and the weight's (the input's when there is none)."""
    want = (c.dtypes[0], c.dtypes[1] or c.dtypes[0], c.dtypes[2] or c.dtypes[1] or c.dtypes[0])
    return [t if t.dtype is d else t.to(d) for t, d in zip(grads, want)]


def _batch_norm_double_vjp(c, ggx, ggw, ggb):
    """torch's batchnorm_double_backward: the gradients of batch norm's (gx, gw, gb) for the
    incoming gradient, the input and the weight, with the statistics (the saved batch ones
    in training, the running ones in eval) held constant: exact at second order (its terms
    carry the statistics' derivatives), and what torch differentiates for the third."""
    g, x, weight = c[3], c[4], c[5]
    ndim = len(c.shapes[4])
    dims = (0,) + tuple(range(2, ndim))
    shape = (1, -1) + (1,) * (ndim - 2)
    if c.attrs["training"]:
        mu, isd = (s.to(x.dtype).view(*shape) for s in (c[6], c[7]))
    else:
        mu, isd = c[8].view(*shape), (c[9].view(*shape) + c.attrs["eps"]).rsqrt()
    terms = _NormTerms(x - mu, isd, lambda t: t.sum(dims, keepdim=True),
                       math.prod(c.shapes[4]) // c.shapes[4][1])
    gamma = None if weight is None else weight.view(*shape)
    training = c.attrs["training"]
    g_x = g_w = g_g = None
    if c.needs[4]:
        if ggx is not None and training:  # (torch's weight, or a ones, times the terms)
            g_x = (x.new_ones(()) if gamma is None else gamma) * \
                terms.input_grad_of_input_term(ggx, g, None)
        if ggw is not None and gamma is not None:
            g_term = ggw.view(*shape) * (terms.input_grad_per_weight(g) if training else
                                         isd * g)
            g_x = g_term if g_x is None else g_x + g_term
    if c.needs[5] and ggx is not None and gamma is not None:
        g_w = ggx * (terms.first_input_grad(g, None) if training else g * isd)
        g_w = g_w.sum(dims)
    if c.needs[3]:
        if ggx is not None:
            g_g = terms.first_input_grad(ggx, gamma) if training else (
                ggx * isd if gamma is None else ggx * isd * gamma)
        for term in (None if ggw is None else ggw.view(*shape) * terms.xmu * isd,
                     None if ggb is None else ggb.view(*shape).expand(*c.shapes[3])):
            if term is not None:
                g_g = term if g_g is None else g_g + term
    return (None, None, None, g_g, g_x, g_w, None, None, None, None)


class _NormTerms:
    """The terms torch's batch and layer norm double backwards share, over the groups a
    norm takes its statistics from: xmu = x - mean, isd = 1/std (constants), `total(t)`
    sums t over each group (dims kept), n values in each."""

    def __init__(self, xmu, isd, total, n: int):
        self.xmu, self.isd, self.total, self.n = xmu, isd, total, n

    def first_input_grad(self, gy, gamma):
        """The first backward's input gradient for an incoming gy (gamma: the weight, or
        None), as torch writes it: gamma·isd/n · (n·gy - Σgy - xmu·isd²·Σ gy·xmu)."""
        isd = self.isd
        h0 = (isd if gamma is None else gamma * isd) / self.n
        h1 = gy * self.n - self.total(gy) - self.xmu * (isd * isd) * self.total(gy * self.xmu)
        return h0 * h1

    def input_grad_of_input_term(self, ggx, g, gamma):
        """The input's gradient from the input gradient's cotangent ggx, given gxhat = the
        incoming gradient times the weight (torch: all_sub, gI_0t, gI_1t, gI_2t)."""
        n, isd, xmu, total = self.n, self.isd, self.xmu, self.total
        gxhat = g if gamma is None else g * gamma
        isd2, isd3 = isd * isd, isd * isd * isd
        gxhat_mu_sum, gxhat_sum = total(gxhat * xmu), total(gxhat)
        ggx_sum, ggx_mu_sum = total(ggx), total(ggx * xmu)
        all_sub = ggx_sum * gxhat_sum / n - total(ggx * gxhat) + \
            isd2 * gxhat_mu_sum * ggx_mu_sum * (3.0 / n)
        return xmu * isd3 * all_sub / n + ggx_mu_sum * isd3 / n * (gxhat_sum / n - gxhat) + \
            gxhat_mu_sum * isd3 / n * (ggx_sum / n - ggx)

    def input_grad_per_weight(self, g):
        """The input's gradient from a per-group weight's cotangent, before that factor, as
        torch's batch norm writes it: g·isd - isd·Σg/n - xmu·isd³·Σ g·xmu/n."""
        n, isd, xmu, total = self.n, self.isd, self.xmu, self.total
        return g * isd + isd * total(g) / -n + xmu * (isd * isd * isd) * total(g * xmu) / -n

    def input_grad_of_weight_term(self, g, ggw):
        """The input's gradient from the weight gradient's cotangent ggw (broadcast)."""
        n, isd, xmu, total = self.n, self.isd, self.xmu, self.total
        return ggw * g * isd - isd * total(g * ggw) / n - \
            xmu * (isd * isd * isd) * total(g * ggw * xmu) / n


# (inputs: the gradients' values, then grad_out, input, weight, save_mean, save_invstd, as
# torch's node has its edges, and the running statistics)
defop("native_batch_norm_backward", lambda gx, gw, gb, *rest, training, eps: (gx, gw, gb),
      lambda gx, gw, gb, *rest, training, eps: (Meta(gx.shape, gx.dtype),
                                                Meta(gw.shape, gw.dtype),
                                                Meta(gb.shape, gb.dtype)),
      _batch_norm_double_vjp, node="NativeBatchNormBackwardBackward0",
      save=(3, 4, 5, 6, 7, 8, 9), n_out=3, differentiable=(3, 4, 5, 6, 7),
      saved_names={"grad_out": 3, "input": 4, "weight": 5, "save_mean": 6, "save_invstd": 7,
                   "running_mean": 8, "running_var": 9})


defop("native_batch_norm", _batch_norm, _batch_norm_rule, _batch_norm_vjp,
      node="NativeBatchNormBackward0", save=(0, 1, 3, 4), pack_order=(0, 3, 4, 1),
      saved_names={"input": 0, "weight": 1, "running_mean": 3, "running_var": 4},
      save_out=(1, 2), n_out=3,
      nondiff_outputs=(1, 2), differentiable=(0, 1, 2),
      refuses_grad={3: "running_mean", 4: "running_var"}, layout_rule=layout.in_suggested_format)


# ---- GELU (exact and tanh) and SiLU --------------------------------------------------------------

_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_INV_SQRT_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_GELU_C = 0.044715


def _gelu_rule(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    require_float("GeluKernelImpl", x.dtype)
    return same(x)


def _exp_minus_2u(x, capped=True):
    """exp(-2u), u = sqrt(2/pi) (x + c x³), on one new array (a GPT's MLP is the biggest
    activation: whole-array temporaries cost more than the arithmetic). The tanh GELU is
    computed through it, as x sigmoid(2u) = 0.5 x (1 + tanh u): numpy's exp is vectorised
    where its tanh is not, and 1 + tanh u loses digits that the sigmoid keeps. `capped`: a
    finite x's at exp(80), so far out on the negative side the backward's sigmoid underflows
    to 0 without inf * 0; x = -inf's stays inf, its gradient nan as torch's."""
    e = np.multiply(x, x, out=np.empty_like(x))  # an array even when x is 0-d
    e *= -2 * _GELU_C * _SQRT_2_OVER_PI
    e -= 2 * _SQRT_2_OVER_PI
    e *= x
    if capped:
        np.minimum(e, 80.0, out=e, where=e != np.inf)
    return np.exp(e, out=e)


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        # not capped: x / (1 + inf) is torch's -0.0 far out on the negative side, nan at -inf
        e = _exp_minus_2u(x, capped=False)
        e += 1
        return np.divide(x, e, out=e)
    return 0.5 * x * (1 + _erf(x * _INV_SQRT_2))


def _gelu_backward(g, x, approximate="none"):
    """g times d gelu / dx. For tanh, with s = sigmoid(2u) and 1 - s = exp(-2u) s:
    s (1 + 2 x u' (1 - s))."""
    if approximate != "tanh":
        return g * (0.5 * (1 + _erf(x * _INV_SQRT_2)) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x))
    e = _exp_minus_2u(x)
    s = np.add(e, 1, out=np.empty_like(x))
    np.reciprocal(s, out=s)
    e *= s  # 1 - s
    out = np.multiply(x, x, out=np.empty_like(x))
    out *= 6 * _GELU_C * _SQRT_2_OVER_PI
    out += 2 * _SQRT_2_OVER_PI
    out *= x  # 2 x u'
    out *= e
    out += 1
    out *= s
    if np.shape(g) == out.shape and np.result_type(g, out) == out.dtype:
        return np.multiply(out, g, out=out)
    return out * g


def _gelu_second_derivative(x, approximate):
    """d² gelu / dx², as distgrad ops on the tensor x."""
    if approximate == "tanh":
        t = (_SQRT_2_OVER_PI * (x + _GELU_C * x * x * x)).tanh()
        du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * x * x)
        ddu = 6 * _SQRT_2_OVER_PI * _GELU_C * x
        return (1 - t * t) * (du - x * t * du * du + 0.5 * x * ddu)
    return _INV_SQRT_2PI * (-0.5 * x * x).exp() * (2 - x * x)


defop("gelu", _gelu, _gelu_rule,
      lambda c, g: call("gelu_backward", g, c[0], approximate=c.attrs.get("approximate", "none")),
      node="GeluBackward0", save=(0,), elementwise=True)

defop("gelu_backward", _gelu_backward,
      lambda g, x, approximate="none": Meta(x.shape, x.dtype),
      lambda c, gg: (call("gelu_backward", gg, c[1], approximate=c.attrs.get("approximate", "none"))
                     if c.needs[0] else None,
                     gg * c[0] * _gelu_second_derivative(c[1], c.attrs.get("approximate", "none"))
                     if c.needs[1] else None),
      node="GeluBackwardBackward0", save=(0, 1), elementwise=True)


def _silu(x):
    """torch's kernel: x / (1 + exp(-x))."""
    with np.errstate(over="ignore"):
        e = rounding.exp(np.negative(x))
    return x / (e + np.asarray(1, e.dtype))


def _silu_vjp(c, g):
    if not grad_mode.is_grad_enabled():
        return call("silu_backward", g, c[0])  # (torch's kernel: float16 rounded once)
    # torch's infinitely_differentiable_silu_backward, a gradient to differentiate again (its
    # order of products: its roundings)
    s = c[0].sigmoid()
    return g * s * (1 + c[0] * (1 - s))


def _silu_backward(g, x):
    """torch's silu_backward kernel: g·s·(1 + x·(1 - s)), s = sigmoid(x), in float32 for
    float16 and bfloat16 (table.half_as_float) and rounded once."""
    with np.errstate(over="ignore"):
        s = np.reciprocal(rounding.exp(np.negative(x)) + x.dtype.type(1))
    return g * s * (1 + x * (1 - s))


def _silu_backward_vjp(c, gg):
    g, x = c[0], c[1]
    s = x.sigmoid()
    return (call("silu_backward", gg, x) if c.needs[0] else None,
            gg * g * s * (1 - s) * (2 + x * (1 - 2 * s)) if c.needs[1] else None)


@elementwise
def _silu_rule(x):
    require_float("silu_cpu", x.dtype)
    return same(x)


defop("silu", _silu, _silu_rule, _silu_vjp, node="SiluBackward0", save=(0,))
defop("silu_backward", _silu_backward, lambda g, x: Meta(x.shape, x.dtype), _silu_backward_vjp,
      node="SiluBackwardBackward0", save=(0, 1), elementwise=True)


# ---- dropout's mask ------------------------------------------------------------------------------
# The mask is drawn where x lives, from `stream`: the default stream's words as the driver had
# them (it skips past the words the mask takes), so a seeded run gives torch's masks whatever
# the placement: torch's bernoulli_(1 - p) (a float64 uniform per element), divided by 1 - p.

def _dropout_mask(x, p, stream):
    if p == 1:
        return np.zeros(x.shape, x.dtype)
    keep = MersenneStream.from_words(stream).bernoulli(x.shape, 1 - p)
    return keep.astype(x.dtype) / x.dtype.type(1 - p)


def _dropout_mask_rule(x, p, stream):
    if p < 1:  # torch scales its mask in place by 1 / (1 - p): not into an integer mask
        require_castable(float_dtype(x.dtype), x.dtype)
    return Meta(x.shape, x.dtype)


defop("dropout_mask", _dropout_mask, _dropout_mask_rule)


# ---- scaled dot-product attention (torch's CPU flash kernel) --------------------------------------

def check_sdpa_dtypes(q, k, v, mask=None) -> None:
    """torch's first checks of attention, whichever kernel runs it: one dtype for query, key
    and value; at least 2 dims each; a mask of bool, float32 or the query's dtype."""
    if not (q.dtype is k.dtype and q.dtype is v.dtype):
        raise RuntimeError(f"Expected query, key, and value to have the same dtype, but got "
                           f"query.dtype: {q.dtype.c_name} key.dtype: {k.dtype.c_name} and "
                           f"value.dtype: {v.dtype.c_name} instead.")
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise RuntimeError(f"Expected query, key, and value to all be  at least 2 dimensional, "
                           f"but got query.dim: {q.ndim} key.dim: {k.ndim} and value.dim: "
                           f"{v.ndim} instead.")
    if mask is not None and mask.dtype not in (dtypes.bool_, dtypes.float32, q.dtype):
        raise RuntimeError(f"Expected attn_mask dtype to be bool or float or to match query "
                           f"dtype, but got attn_mask.dtype: {mask.dtype.c_name} and  "
                           f"query.dtype: {q.dtype.c_name} instead.")


def _sdpa_rule(q, k, v, mask=None, is_causal=False, scale=None, enable_gqa=False):
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise RuntimeError("scaled_dot_product_attention: query, key and value must have the same "
                           f"number of dimensions (got {q.ndim}, {k.ndim} and {v.ndim})")
    if enable_gqa and q.ndim >= 3:
        for t in (k, v):
            if q.shape[-3] % t.shape[-3]:
                raise RuntimeError("Number of heads in key and value must divide the number of "
                                   "heads in ")
        k, v = (Meta(_grouped(t.shape, q.shape[-3]), t.dtype) for t in (k, v))
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] or \
            tuple(q.shape[:-2]) != tuple(k.shape[:-2]) or tuple(k.shape[:-2]) != tuple(v.shape[:-2]):
        raise RuntimeError(f"scaled_dot_product_attention: shapes do not match: query "
                           f"{_dims(q.shape)}, key {_dims(k.shape)}, value {_dims(v.shape)}")
    # the result, and the kernel's logsumexp of each query's scores (in float for a 2-byte
    # float), which its node saves
    lse_dtype = dtypes.float32 if q.dtype in dtypes.LOW_FLOATS else q.dtype
    return Meta(tuple(q.shape[:-1]) + (v.shape[-1],), q.dtype), Meta(q.shape[:-1], lse_dtype)


def _grouped(shape, heads: int) -> tuple:
    """A key's or value's shape with its heads (dim -3) repeated for `heads` query heads."""
    return tuple(shape[:-3]) + (heads,) + tuple(shape[-2:])


def _scale(q_shape, scale):
    return 1 / math.sqrt(q_shape[-1]) if scale is None else scale


def _sdpa_scores(q, k, mask, is_causal, scale):
    s = np.matmul(q, np.swapaxes(k, -1, -2))
    if is_causal:  # (masked before the scaling, as the kernel: a scale <= 0 makes those NaN)
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    with np.errstate(invalid="ignore"):
        s = s * _scale(q.shape, scale)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == np.bool_ else s + mask
    return s


def _sdpa(q, k, v, mask=None, is_causal=False, scale=None, enable_gqa=False):
    if enable_gqa and q.ndim >= 3:  # each key/value head serves a group of query heads
        k, v = (np.repeat(t, q.shape[-3] // t.shape[-3], axis=-3) for t in (k, v))
    if q.dtype.itemsize == 2:  # float16, bfloat16: the kernel computes in float
        low = q.dtype
        q, k, v = (t.astype(np.float32) for t in (q, k, v))
        mask = mask.astype(np.float32) if mask is not None and mask.dtype == low else mask
        e, total, top = _sdpa_exps(q, k, mask, is_causal, scale)
        # ... with the exponentials rounded to the dtype for their product with v
        out = (np.matmul(e.astype(low).astype(np.float32), v) / _nonzero(total)).astype(low)
    else:
        e, total, top = _sdpa_exps(q, k, mask, is_causal, scale)
        out = np.matmul(e / _nonzero(total), v)
    with np.errstate(divide="ignore"):  # (a row masked out entirely: 0, as the kernel's)
        lse = np.where(total == 0, 0, top + np.log(total))
    return out, lse[..., 0].astype(top.dtype)


def _sdpa_exps(q, k, mask, is_causal, scale):
    """exp(scores - their row's max), the rows' sums (0 for a row masked out entirely) and
    their maxima."""
    s = _sdpa_scores(q, k, mask, is_causal, scale)
    top = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isneginf(top), 0, top))
    return e, e.sum(axis=-1, keepdims=True), top


def _nonzero(total):
    return np.where(total == 0, 1, total)


def _sdpa_probs(q, k, mask, is_causal, scale):
    """softmax(q kᵀ * scale + mask), a row masked out entirely giving zeros (the kernel's)."""
    e, total, _ = _sdpa_exps(q, k, mask, is_causal, scale)
    return e / _nonzero(total)


def _sdpa_backward(g, q, k, v, out, mask=None, is_causal=False, scale=None, enable_gqa=False):
    """The kernel's gradients of q, k and v, from its saved output as torch's (a key/value
    head's: the sum over the query heads of its group). float16 and bfloat16 in float, the
    probabilities and the scores' gradient rounded to the dtype for their products."""
    low = q.dtype if q.dtype.itemsize == 2 else None
    if low is not None:
        g, q, k, v, out = (t.astype(np.float32) for t in (g, q, k, v, out))
        mask = mask.astype(np.float32) if mask is not None and mask.dtype == low else mask
    groups = [q.shape[-3] // t.shape[-3] if enable_gqa and q.ndim >= 3 else 1 for t in (k, v)]
    kr, vr = (np.repeat(t, r, axis=-3) if r > 1 else t for t, r in zip((k, v), groups))
    p = _sdpa_probs(q, kr, mask, is_causal, scale)
    gp = np.matmul(g, np.swapaxes(vr, -1, -2))
    gs = _rounded(p * (gp - (g * out).sum(-1, keepdims=True)), low)
    factor = _scale(q.shape, scale)
    gq, gk = np.matmul(gs, kr) * factor, np.matmul(np.swapaxes(gs, -1, -2), q) * factor
    gv = np.matmul(np.swapaxes(_rounded(p, low), -1, -2), g)
    gk, gv = (_summed_groups(t, r) if r > 1 else t for t, r in zip((gk, gv), groups))
    return tuple(t.astype(like.dtype if low is None else low)
                 for t, like in ((gq, q), (gk, k), (gv, v)))


def _rounded(a, low):
    """a's values rounded to the dtype `low` (kept in float32), or a when there is none."""
    return a if low is None else a.astype(low).astype(np.float32)


def _summed_groups(t, r: int):
    return t.reshape(t.shape[:-3] + (t.shape[-3] // r, r) + t.shape[-2:]).sum(-3)


def _sdpa_vjp(c, g, _lse_grad=None):
    out = c.outs[1]  # (saved after the logsumexp, as torch's node: save_out's order)
    grads = call("scaled_dot_product_attention_backward", g, c[0], c[1], c[2], out, c[3],
                 **c.attrs)
    return tuple(t if need else None for t, need in zip(grads, c.needs[:3])) + (None,)


# torch gives its CPU kernel's backward no derivative: a gradient of a gradient through
# attention fails (a gradient made with create_graph has the NotImplemented node)
defop("scaled_dot_product_attention_backward", _sdpa_backward,
      lambda g, q, k, v, out, mask=None, **attrs: tuple(Meta(t.shape, t.dtype)
                                                        for t in (q, k, v)),
      lambda c, *grads: _not_implemented(
          "_scaled_dot_product_flash_attention_for_cpu_backward")(c, grads),
      node="torch::autograd::NotImplemented", n_out=3, differentiable=(0, 1, 2, 3, 4))


def _sdpa_layout(out_shape, operands, attrs, k, dtype):
    """The result laid out as the query (empty_like), the logsumexp row-major."""
    return layout.like_first(out_shape, operands, attrs, k, dtype) if k == 0 else None


def _sdpa_no_forward_ad(inputs, tangents, outs, **attrs):
    raise NotImplementedError(
        "Trying to use forward AD with _scaled_dot_product_flash_attention_for_cpu that does "
        "not support it because it has not been implemented yet.\nPlease file an issue to "
        "PyTorch at https://github.com/pytorch/pytorch/issues/new?template=feature-request.yml "
        "so that we can prioritize its implementation or submit a PR adding the "
        "implementation to derivatives.yaml")


# the kernel writes its result into an empty_like(query): the query's layout; torch's
# node saves the inputs, the result and the logsumexp (a write to one fails the backward),
# passed to saved-tensor hooks by name: attn_mask, key, query, value, logsumexp, output.
# torch gives the kernel no forward-mode derivative
defop("scaled_dot_product_attention", _sdpa, _sdpa_rule, _sdpa_vjp,
      node="ScaledDotProductFlashAttentionForCpuBackward0", save=(0, 1, 2, 3),
      pack_order=(3, 1, 0, 2), n_out=2, nondiff_outputs=(1,), save_out=(1, 0),
      saved_names={"query": 0, "key": 1, "value": 2, "attn_mask": 3, "output": ("out", 0),
                   "logsumexp": ("out", 1)},
      differentiable=(0, 1, 2), sharding="attention", layout_rule=_sdpa_layout,
      jvp=_sdpa_no_forward_ad)


# ---- bilinear's product: torch's _trilinear, as an einsum of three operands ------------------------

def _trilinear_rule(a, b, c, spec):
    sizes = {}
    for t, letters in zip((a, b, c), spec.split("->")[0].split(",")):
        sizes.update(zip(letters, t.shape))
    return Meta(tuple(sizes[k] for k in spec.split("->")[1]), a.dtype)


def _trilinear_vjp(c, g):
    """torch's _trilinear_backward: each operand's gradient is a _trilinear product again,
    of the output's gradient and the other two (so is each gradient's gradient), and each
    operand is saved only for the others' gradients."""
    inputs, out = c.attrs["spec"].split("->")
    letters = inputs.split(",")
    grads = []
    for k in range(3):
        i, j = (m for m in range(3) if m != k)
        grads.append(call("trilinear", g, c[i], c[j],
                          spec=f"{out},{letters[i]},{letters[j]}->{letters[k]}")
                     if c.needs[k] else None)
    return tuple(grads)


# bilinear's: out[b, o] = Σ_ij x1[b, i] · w[o, i, j] · x2[b, j] (spec "bi,oij,bj->bo")
defop("trilinear", lambda a, b, c, spec: np.einsum(spec, a, b, c, optimize=True),
      _trilinear_rule, _trilinear_vjp, node="TrilinearBackward0", save=(0, 1, 2),
      save_for={0: (1, 2), 1: (0, 2), 2: (0, 1)})


# ---- weight norm: torch's fused _weight_norm_interface (dim first or last) ---------------------

def _weight_norm_norms(v, dim):
    """‖v‖ over every dim but `dim`, kept as size-1 dims: a float16 or bfloat16 v's in
    float32, added in the order of torch's kernel (`_low_float_weight_norms`); others
    accumulated in float64."""
    kept = tuple(n if d == dim else 1 for d, n in enumerate(v.shape))
    lanes = float32_lanes()
    if dtypes.is_low_float(v.dtype) and lanes is not None:
        return np.sqrt(_low_float_squares_summed(v.astype(np.float32), dim, lanes)).reshape(kept)
    axes = tuple(d for d in range(v.ndim) if d != dim)
    wide = v.astype(np.float64)
    norms = np.sqrt(np.sum(wide * wide, axis=axes, keepdims=True))
    return norms.astype(np.float32 if dtypes.is_low_float(v.dtype) else v.dtype)


def _low_float_squares_summed(v, dim, lanes):
    """torch's weight norm kernel's float32 sums of squares: over the first dim, each row's
    by vec::map_reduce_all; over the last, the rows added in order by its threads."""
    if dim == 0:
        return low_float_rows_sums_of_squares(v.reshape(len(v), -1), lanes)
    rows = v.reshape(-1, v.shape[-1])
    return _threads_sums(rows * rows, buffers_added_in=np.float32)


def _weight_norm_interface(v, g, dim):
    norms = _weight_norm_norms(v, dim)
    # (a float16 or bfloat16 v is scaled in float32 and rounded once, as torch's kernel does)
    scale = np.reshape(g, norms.shape).astype(norms.dtype, copy=False) / norms
    return (v.astype(norms.dtype, copy=False) * scale).astype(v.dtype, copy=False), norms


def _weight_norm_interface_rule(v, g, dim):
    shape = tuple(n if d == dim else 1 for d, n in enumerate(v.shape))
    kept = dtypes.float32 if g.dtype in dtypes.LOW_FLOATS else g.dtype
    return Meta(v.shape, v.dtype), Meta(shape, kept)


def _weight_norm_interface_vjp(c, gw, _norms_grad=None):
    """torch's weight norm backward: its fused kernel's order without a graph (float16 and
    bfloat16 taken in float32, rounded once), else _weight_norm_differentiable_backward.
    Taken with create_graph, the norms are v's again, not the saved ones: torch's double
    backward takes those as constants, which leaves out their derivative (its
    gradgradcheck fails); ours is the derivative."""
    v, g, norms = c[0], c[1], c.outs[0]
    dims = [d for d in range(v.ndim) if d != c.attrs["dim"]]
    if not grad_mode.is_grad_enabled():
        v, g, gw = in_float32(v, g, gw)
    elif v.requires_grad:
        norms = v.norm(2, dim=dims, keepdim=True) if dims else v.abs()
    else:
        norms = norms.to(g.dtype)
    per_dim_sums = (gw * v).sum(dims, keepdim=True) if dims else gw * v
    flat = tuple(c.shapes[1]) != tuple(norms.shape)  # (a g of the right size, any shape)
    g = g.reshape(norms.shape) if flat else g
    gg = per_dim_sums / norms
    gv = None
    if c.needs[0] and grad_mode.is_grad_enabled():
        gv = (g / norms) * (gw - v * (per_dim_sums / (norms * norms)))
    elif c.needs[0]:  # (the kernel: a = g / norm, b = a * grad_g / norm)
        a = g / norms
        gv = a * gw - a * gg / norms * v
    return gv, (gg.reshape(c.shapes[1]) if flat else gg) if c.needs[1] else None


defop("weight_norm_interface", _weight_norm_interface, _weight_norm_interface_rule,
      _weight_norm_interface_vjp, node="WeightNormInterfaceBackward0", save=(0, 1),
      save_out=(1,), n_out=2, nondiff_outputs=(1,))
