"""Order statistics and scans: median, nanmedian, quantile, nanquantile, mode, cummax, cummin,
logcumsumexp, aminmax, msort; and the counting functions histc, histogram, bincount, searchsorted,
bucketize (integer or count results, no gradient).

Which index a median or mode reports, as torch's CPU kernels: the median along a dim is the
lower one, at the index a stable sort puts there (the first nan when a slice has one); the
mode is the smallest of the most frequent values, at its last occurrence; cummax/cummin move
to a later equal value, and stay on nan. Their gradients go to that index (torch's
value_selecting_reduction_backward); a median of everything spreads it over the ties.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes, return_types
from ..autograd.record import call
from ..tensor import Tensor
from . import stdsort
from .math import _not_implemented
from .reduce import (SAVES_INDICES, _dim_extremum_vjp, _evenly_distribute, dim_extremum_rule,
                     expand_back)
from .rules import (check_reduced_dims_nonempty, dims_of, not_implemented, numel,
                    reduced_shape, require_tensor, shape_of, wrap_dim, written)
from .table import Meta, defop

__all__ = ["median", "nanmedian", "quantile", "nanquantile", "mode", "kthvalue", "cummax", "cummin",
           "logcumsumexp", "aminmax", "msort", "histc", "histogram", "bincount", "searchsorted",
           "bucketize"]


# ---- median, nanmedian -----------------------------------------------------------------------

def _median_position(x, ignore_nan: bool):
    """Per row of x (..., n): the index of the (lower) median and the stable sort order."""
    order = np.argsort(x, axis=-1, kind="stable")  # nan last, in their order
    valid = np.sum(~np.isnan(x), axis=-1, keepdims=True)
    n = x.shape[-1]
    if ignore_nan:
        k = np.maximum((valid - 1) // 2, 0)
    else:
        k = np.where(valid < n, valid, (n - 1) // 2)  # a nan: the first one
    return np.take_along_axis(order, k, axis=-1)


def _median_all(ignore_nan):
    def forward(x):
        flat = x.reshape(1, -1)
        if flat.size == 0:
            return np.asarray(np.nan, x.dtype)
        return flat[0, _median_position(flat, ignore_nan)[0, 0]]

    return forward


def _median_dim(ignore_nan):
    def forward(x, dim, keepdim=False):
        if x.ndim == 0:
            return x.copy(), np.zeros((), np.int64)
        moved = np.moveaxis(x, dim, -1)
        idx = _median_position(moved, ignore_nan)
        vals = np.take_along_axis(moved, idx, axis=-1)
        idx, vals = np.moveaxis(idx, -1, dim), np.moveaxis(vals, -1, dim)
        if not keepdim:
            idx, vals = np.squeeze(idx, dim), np.squeeze(vals, dim)
        return vals, idx.astype(np.int64)

    return forward


def _median_all_rule(x):
    if x.dtype is dtypes.bool_ and numel(x.shape):  # (an empty one returns before the kernel)
        raise not_implemented("median_cpu", x.dtype)
    return Meta((), x.dtype)


def _median_dim_rule(x, dim, keepdim=False):
    # (torch's nanmedian names itself median() when its dim is empty)
    metas = dim_extremum_rule("median")(x, dim, keepdim)
    if x.dtype is dtypes.bool_:
        raise not_implemented("median_out", x.dtype)
    return metas


for _name, _nan in (("median", False), ("nanmedian", True)):
    _node = _name.capitalize()
    defop(_name, _median_all(_nan), _median_all_rule, _evenly_distribute,
          node=f"{_node}Backward0", save=(0,), save_out=True)
    defop(f"{_name}_dim", _median_dim(_nan), _median_dim_rule, _dim_extremum_vjp,
          node=f"{_node}Backward1", save_out=(1,), saved_names=SAVES_INDICES, n_out=2,
          nondiff_outputs=(1,))


def median(input, dim=None, keepdim=False):
    """The lower median of all elements, or (values, indices) along `dim`."""
    if dim is None:
        return call("median", input)
    return return_types.median(call("median_dim", input, dim=dim, keepdim=keepdim))


def nanmedian(input, dim=None, keepdim=False):
    """median ignoring nan (nan only where a slice is all nan)."""
    if dim is None:
        return call("nanmedian", input)
    return return_types.nanmedian(call("nanmedian_dim", input, dim=dim, keepdim=keepdim))


# ---- mode ----------------------------------------------------------------------------------

def _mode_row(row):
    """torch's mode kernel: sort (value, index) pairs with std::sort, then the first longest
    run of equal values, reported at the index that ends it."""
    keys = row.tolist()
    order = stdsort.argsort(keys)
    best, best_count, count = 0, 0, 0
    for i, k in enumerate(order):
        count += 1
        if i == len(order) - 1 or keys[k] != keys[order[i + 1]]:
            if count > best_count:
                best, best_count = k, count
            count = 0
    return row[best], best


def _mode(x, dim=-1, keepdim=False):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    moved = np.moveaxis(x, dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    vals = np.empty(rows.shape[0], x.dtype)
    idx = np.empty(rows.shape[0], np.int64)
    for r, row in enumerate(rows):
        vals[r], idx[r] = _mode_row(row)
    shape = moved.shape[:-1]
    vals, idx = vals.reshape(shape), idx.reshape(shape)
    if keepdim:
        vals, idx = np.expand_dims(vals, dim), np.expand_dims(idx, dim)
    return vals, idx


defop("mode", _mode, dim_extremum_rule("mode"), _dim_extremum_vjp, node="ModeBackward0",
      save_out=(1,), saved_names=SAVES_INDICES, n_out=2,
      nondiff_outputs=(1,))


def mode(input, dim=-1, keepdim=False):
    return return_types.mode(call("mode", input, dim=dim, keepdim=keepdim))


# ---- kthvalue ---------------------------------------------------------------------------------

def _above(a, b) -> bool:
    """torch's order for selection: nan above every number."""
    return (a != a and b == b) or a > b


def _quick_select(values: list, k: int) -> int:
    """The index torch's CPU kthvalue reports: its quickselect (median-of-three pivot,
    Hoare partition) run on (value, index) pairs, which decides which of equal values wins."""
    idx = list(range(len(values)))

    def swap(a, b):
        values[a], values[b] = values[b], values[a]
        idx[a], idx[b] = idx[b], idx[a]

    lo, hi = 0, len(values) - 1
    while hi > lo:
        if hi == lo + 1:
            if _above(values[lo], values[hi]):
                swap(lo, hi)
            break
        swap(lo + (hi - lo) // 2, lo + 1)
        if _above(values[lo + 1], values[hi]):
            swap(lo + 1, hi)
        if _above(values[lo], values[hi]):
            swap(lo, hi)
        if _above(values[lo + 1], values[lo]):
            swap(lo + 1, lo)
        i, j, pivot = lo + 1, hi, values[lo]
        while True:
            i += 1
            while _above(pivot, values[i]):
                i += 1
            j -= 1
            while _above(values[j], pivot):
                j -= 1
            if j < i:
                break
            swap(i, j)
        swap(lo, j)
        if j <= k:
            lo = i
        if j >= k:
            hi = j - 1
    return idx[k]


def _kthvalue(x, k, dim=-1, keepdim=False):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    moved = np.moveaxis(x, dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    idx = np.array([_quick_select(row.tolist(), k - 1) for row in rows], np.int64)
    idx = idx.reshape(moved.shape[:-1] + (1,))
    vals = np.take_along_axis(moved, idx, axis=-1)
    idx, vals = np.moveaxis(idx, -1, dim), np.moveaxis(vals, -1, dim)
    if not keepdim:
        idx, vals = np.squeeze(idx, dim), np.squeeze(vals, dim)
    return vals, idx


def _kthvalue_rule(x, k, dim=-1, keepdim=False):
    metas = dim_extremum_rule("kthvalue")(x, dim, keepdim)  # (an empty dim is told first)
    d = wrap_dim(dim, x.ndim)
    if not 1 <= k <= (x.shape[d] if x.ndim else 1):
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    if x.dtype is dtypes.bool_ and x.ndim:  # (a 0-dim tensor is its own kth value)
        raise not_implemented("kthvalue_cpu", x.dtype)
    return metas


defop("kthvalue", _kthvalue, _kthvalue_rule, _dim_extremum_vjp, node="KthvalueBackward0",
      save_out=(1,), saved_names=SAVES_INDICES, n_out=2,
      nondiff_outputs=(1,))


def kthvalue(input, k, dim=-1, keepdim=False):
    return return_types.kthvalue(call("kthvalue", input, k=int(k), dim=dim, keepdim=keepdim))


# ---- cummax, cummin, logcumsumexp -----------------------------------------------------------

def _cumulative_extremum(better):
    def forward(x, dim):
        if x.ndim == 0:
            return x.copy(), np.zeros((), np.int64)
        moved = np.moveaxis(x, dim, 0)
        if moved.shape[0] == 0:
            return x.copy(), np.zeros(x.shape, np.int64)
        vals = np.empty_like(moved)
        idx = np.empty(moved.shape, np.int64)
        cur, at = moved[0].copy(), np.zeros(moved.shape[1:], np.int64)
        for i in range(moved.shape[0]):
            v = moved[i]
            take = np.isnan(v) | (~np.isnan(cur) & better(v, cur)) if i else np.ones(v.shape, bool)
            cur = np.where(take, v, cur)
            at = np.where(take, i, at)
            vals[i], idx[i] = cur, at
        return np.moveaxis(vals, 0, dim), np.moveaxis(idx, 0, dim)

    return forward


def _cum_rule(name):
    def rule(x, dim):
        wrap_dim(dim, x.ndim)
        return Meta(x.shape, x.dtype), Meta(x.shape, dtypes.int64)

    return rule


def _cummaxmin_vjp(c, g, _indices_grad=None):
    """torch's cummaxmin_backward: zeros with the gradient added at each index."""
    shape = c.shapes[0]
    zeros = call("full", shape=list(shape), value=0.0, dtype=g.dtype.name, _device=g.device_str)
    # (torch's zeros_like and scatter_add_ each count a write)
    return written(zeros.scatter_add(wrap_dim(c.attrs["dim"], len(shape)), c.outs[0], g), 2)


# (the input is saved, as torch's cummaxmin_backward(grad, self, indices, dim) saves and
# reads it: an in-place write to it before backward is an error there)
defop("cummax", _cumulative_extremum(np.greater_equal), _cum_rule("cummax"), _cummaxmin_vjp,
      node="CummaxBackward0", save=(0,), save_out=(1,), saved_names=SAVES_INDICES, n_out=2,
      nondiff_outputs=(1,))
defop("cummin", _cumulative_extremum(np.less_equal), _cum_rule("cummin"), _cummaxmin_vjp,
      node="CumminBackward0", save=(0,), save_out=(1,), saved_names=SAVES_INDICES, n_out=2,
      nondiff_outputs=(1,))


def cummax(input, dim):
    return return_types.cummax(call("cummax", input, dim=dim))


def cummin(input, dim):
    return return_types.cummin(call("cummin", input, dim=dim))


def _logcumsumexp(x, dim):
    """torch's CPU kernel: a running value from -inf, each next one _log_add_exp of the
    input's value and it, in the accumulate type (float64 for float32: each result rounded
    once, where numpy's float32 logaddexp was an ulp off a third of the time). A leading
    -0.0 gives +0.0 (log1p(0) + -0.0); a 0-dim input is copied."""
    if x.ndim == 0:
        return x.copy()
    acc = np.float64 if x.dtype in (np.float32, np.float64) else np.float32
    moved = np.moveaxis(x, dim, 0)
    out = np.empty(moved.shape, x.dtype)
    running = np.full(moved.shape[1:], -np.inf, acc)
    for i, values in enumerate(moved.astype(acc)):
        running = _log_add_exp(values, running)
        out[i] = running
    return np.moveaxis(out, 0, dim)


def _log_add_exp(x, y):
    """torch's _log_add_exp_helper: log1p(exp(min - max)) + max, a NaN running value kept,
    and x itself where both are the same infinity (whose difference is NaN)."""
    y_nan = np.isnan(y)
    lo = np.where(y_nan, y, np.where(y < x, y, x))  # (std::min and std::max: x unless ...)
    hi = np.where(y_nan, y, np.where(x < y, y, x))
    with np.errstate(invalid="ignore", over="ignore"):
        general = np.log1p(np.exp(lo - hi)) + hi
    return np.where((lo != hi) | np.isfinite(lo), general, x)


def _reverse_logcumsumexp(t, dim):
    return call("flip", call("logcumsumexp", call("flip", t, dims=[dim]), dim=dim), dims=[dim])


def _logcumsumexp_vjp(c, g):
    """torch's logcumsumexp_backward: the positive and negative parts of g apart, each by a
    reversed logcumsumexp of log|g| - result (stable where exp would overflow)."""
    x = c[0]
    if x.ndim == 0:
        return g
    dim = wrap_dim(c.attrs["dim"], x.ndim)
    lowest = float(np.finfo(x.dtype.np).min)
    log_abs = g.abs().log()
    pos = call("where", g > 0, log_abs, lowest)
    neg = call("where", g < 0, log_abs, lowest)
    return ((_reverse_logcumsumexp(pos - c.out, dim) + x).exp()
            - (_reverse_logcumsumexp(neg - c.out, dim) + x).exp())


def _logcumsumexp_rule(x, dim):
    wrap_dim(dim, x.ndim)
    if not x.dtype.is_floating_point:
        raise not_implemented("logcumsumexp_out_cpu", x.dtype)
    return Meta(x.shape, x.dtype)


def _logcumsumexp_jvp(inputs, tangents, outs, dim):
    """torch's logcumsumexp_jvp: the tangent's running mean weighted by exp(x) (shifted by
    the max, and 1e-13 added to the running sum). The VJP's log|g| has no derivative at
    g = 0, where forward-mode's double-vjp trick would take it."""
    x, t = inputs[0], tangents[0]
    if x.ndim == 0:
        return [t]
    e = (x - x.amax(dim, keepdim=True)).exp()
    return [(e * t).cumsum(dim) / (e.cumsum(dim) + 1e-13)]


defop("logcumsumexp", _logcumsumexp, _logcumsumexp_rule, _logcumsumexp_vjp,
      node="LogcumsumexpBackward0", save=(0,), save_out=True, jvp=_logcumsumexp_jvp)


def logcumsumexp(input, dim):
    return call("logcumsumexp", input, dim=dim)


# ---- aminmax, msort --------------------------------------------------------------------------

def _aminmax(x, dim=None, keepdim=False):
    axis = tuple(dims_of(dim, x.ndim))
    return np.min(x, axis=axis, keepdims=keepdim), np.max(x, axis=axis, keepdims=keepdim)


def _aminmax_rule(x, dim=None, keepdim=False):
    if x.numel() == 0 and dim is None:
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                           "operation has no identity.")
    if dim is not None:
        check_reduced_dims_nonempty(x, (wrap_dim(dim, x.ndim),), "aminmax")
    shape = reduced_shape(x.shape, dims_of(dim, x.ndim), keepdim)
    return Meta(shape, x.dtype), Meta(shape, x.dtype)


def _aminmax_vjp(c, g_min, g_max=None):
    """amin's and amax's gradients added: each spread evenly over its ties."""
    shape, x = c.shapes[0], c[0]
    dims = dims_of(c.attrs.get("dim"), len(shape))
    keep = c.attrs.get("keepdim", False)
    total = None
    for g, out in ((g_min, c.outs[0]), (g_max, c.outs[1])):
        if g is None:
            continue
        mask = x == expand_back(out, shape, dims, keep)
        count = expand_back(mask.sum(dim=dims, keepdim=True), shape, dims, True)
        part = expand_back(g, shape, dims, keep) * mask / count
        total = part if total is None else total + part
    return total


defop("aminmax", _aminmax, _aminmax_rule, _aminmax_vjp, node="AminmaxBackward0", save=(0,),
      save_out=True, n_out=2)


def aminmax(input, *, dim=None, keepdim=False):
    return return_types.aminmax(call("aminmax", input, dim=dim, keepdim=keepdim))


def msort(input):
    return input.sort(dim=0)[0]


# ---- quantile, nanquantile (torch's composite: sort, gather, lerp) -------------------------------

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile_checks(input, q, interpolation):
    """torch's, in its order (its words are quantile()'s for nanquantile too)."""
    q_is_tensor = isinstance(q, Tensor)
    if not q_is_tensor and not 0 <= q <= 1:
        raise RuntimeError(f"quantile() q must be in the range [0, 1] but got {q:g}")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError("quantile() interpolation must be one of linear, lower, higher, "
                           f"midpoint or nearest, but got {interpolation}")
    if input.numel() == 0:
        raise RuntimeError("quantile() input tensor must be non-empty")
    if q_is_tensor and q.ndim > 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    if not input.dtype.is_floating_point or input.dtype in dtypes.LOW_FLOATS:
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    if q_is_tensor and q.dtype is not input.dtype:
        raise RuntimeError("quantile() q tensor must be same dtype as the input tensor")
    if q_is_tensor and q.numel() and not bool(((q >= 0) & (q <= 1)).all()):
        raise RuntimeError("quantile() q values must be in the range [0, 1]")


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan):
    _quantile_checks(input, q, interpolation)
    from ..creation import tensor

    scalar_q = not isinstance(q, Tensor)
    qt = tensor(float(q), dtype=input.dtype, device=input.device_str) if scalar_q else q
    if dim is None:
        sorted_ = input.reshape(-1).sort()[0]
        out_shape = [1] * input.ndim if keepdim else []
    else:
        d = wrap_dim(dim, input.ndim)
        sorted_ = (input.sort()[0] if d == input.ndim - 1 or input.ndim == 0
                   else input.unsqueeze(-1).transpose(d, -1).sort()[0])
        out_shape = list(reduced_shape(input.shape, (d,) if input.ndim else (), keepdim))
    nq = qt.numel() if qt.ndim else None
    sorted_ = sorted_.reshape(*out_shape, sorted_.shape[-1] if sorted_.ndim else 1)
    qv = qt.reshape(-1) if qt.ndim else qt.reshape(1)
    if ignore_nan:
        ranks = qv * (sorted_.isnan().logical_not().sum(-1, keepdim=True) - 1)
        ranks = ranks.masked_fill(ranks < 0, 0.0)
    else:
        last = sorted_.shape[-1] - 1
        ranks = (qv * last).expand(*out_shape, qv.shape[0])
        ranks = ranks.masked_fill(sorted_.isnan().any(-1, keepdim=True).expand(ranks.shape), last)
    ranks = {"lower": ranks.floor, "higher": ranks.ceil, "nearest": ranks.round}.get(
        interpolation, lambda: ranks)()
    below = ranks.to(dtypes.int64)
    values = sorted_.gather(-1, below)
    if interpolation in ("linear", "midpoint"):
        weights = (ranks - below) if interpolation == "linear" else ranks * 0 + 0.5
        values = values.lerp(sorted_.gather(-1, ranks.ceil().to(dtypes.int64)), weights)
    if nq is not None:
        values = values.unsqueeze(0).transpose(0, -1)
    out = call("squeeze_last_in_place", values)
    # torch writes its gather's result in place: lerp_ (linear, midpoint), then squeeze_
    # (a tensor q's: unsqueeze_, transpose_ and squeeze_), each a version
    return written(out, (interpolation in ("linear", "midpoint")) + (1 if nq is None else 3))


# torch ends quantile with an in-place `squeeze_(-1)` of its own temporary (SqueezeBackward4):
# the same node here, on a copy (nothing else sees the temporary).
defop("squeeze_last_in_place", lambda x: np.squeeze(x, -1).copy(),
      lambda x: Meta(x.shape[:-1], x.dtype), lambda c, g: g.unsqueeze(-1),
      node="SqueezeBackward4")


def _quantile_overloads(name: str, method: bool) -> tuple:
    """torch's two overloads of quantile and nanquantile: q a Tensor, or a float."""
    from .overloads import Param, Signature

    head = () if method else (Param("input", "Tensor"),)
    tail = () if method else (Param("out", "Tensor", None, True),)
    return tuple(Signature(name, *head, Param("q", kind), Param("dim", "int", None),
                           Param("keepdim", "bool", False),
                           Param("interpolation", "str", "linear", True), *tail)
                 for kind in ("Tensor", "float"))


_QUANTILES = {(name, method): _quantile_overloads(name, method)
              for name in ("quantile", "nanquantile") for method in (False, True)}


def _parsed_quantile(name: str, method: bool, args, kwargs):
    """The quantiles of a call parsed as torch parses it (a list q is its TypeError)."""
    from .overloads import parse

    _, v = parse(_QUANTILES[name, method], args[1:] if method else args, kwargs)
    return _quantile(args[0] if method else v["input"], v["q"], v["dim"], v["keepdim"],
                     v["interpolation"], name == "nanquantile")


def quantile(*args, **kwargs):
    """quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"): the q-th
    quantiles, as torch computes them (sort, gather, lerp): a tensor q (1-D) puts its dim
    first."""
    return _parsed_quantile("quantile", False, args, kwargs)


def nanquantile(*args, **kwargs):
    """nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear")."""
    return _parsed_quantile("nanquantile", False, args, kwargs)


def _quantile_method(*args, **kwargs):
    return _parsed_quantile("quantile", True, args, kwargs)


def _nanquantile_method(*args, **kwargs):
    return _parsed_quantile("nanquantile", True, args, kwargs)


# ---- histc, bincount, searchsorted, bucketize (counts and indices: no gradient) -----------------

def _histc_range(x, lo: float, hi: float) -> tuple:
    """torch's range for histc: min and max as given or, when equal, the data's (an inf or a
    nan among the data makes it), which must be finite; an empty range is widened by 1."""
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
        if np.isnan(lo):  # (torch's min and max of data with a nan print as C++'s -nan)
            raise RuntimeError("torch.histc: range of [-nan, -nan] is not finite")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{_g(lo)}, {_g(hi)}] is not finite")
    return (lo - 1, hi + 1) if lo == hi else (lo, hi)


def _histc(x, bins=100, min=0, max=0):
    lo, hi = _histc_range(x, float(min), float(max))
    inside = x[(x >= lo) & (x <= hi)]
    pos = ((inside - lo) * bins / (hi - lo)).astype(np.int64)
    pos = np.minimum(pos, bins - 1)
    return np.bincount(pos, minlength=bins).astype(x.dtype)


def _histc_rule(x, bins=100, min=0, max=0):
    if not x.dtype.is_floating_point:  # (bool fails earlier, making the bin edges)
        raise not_implemented("linspace_cpu" if x.dtype is dtypes.bool_ else "histogram_cpu",
                              x.dtype)
    if bins <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {bins} for dimension 0")
    if min > max:
        raise RuntimeError("torch.histc: max must be larger than min")
    return Meta((bins,), x.dtype)


defop("histc", _histc, _histc_rule)


def histc(input, bins=100, min=0, max=0):
    return call("histc", input, bins=int(bins), min=min, max=max)


def _g(v: float) -> str:
    """A double as C++'s stream prints it (torch's messages): 3, 1.5, inf."""
    return f"{v:g}"


def _outer_edges(x, range, dim: int = 0):
    """torch's select_outer_bin_edges: the range given, else the data's min and max (0 and 1
    with no data), checked finite and widened by 0.5 each way when empty (`dim`: the
    dimension of a histogramdd, for the messages)."""
    if range is not None:
        lo, hi = float(range[0]), float(range[1])
    elif x.size:
        lo, hi = float(x.min()), float(x.max())
    else:
        lo, hi = 0.0, 1.0
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histogramdd: dimension {dim}'s range [{_g(lo)}, {_g(hi)}] is "
                           "not finite")
    if lo > hi:
        raise RuntimeError(f"torch.histogramdd: min should not exceed max, but got min {_g(lo)} "
                           f"max {_g(hi)} for dimension {dim}")
    return (lo - 0.5, hi + 0.5) if lo == hi else (lo, hi)


def bin_positions(x, edges):
    """(which elements fall in the edges, each one's bin): an element at or past the last
    edge goes in the last bin; outside the edges (nan too), in none."""
    keep = (x >= edges[0]) & (x <= edges[-1])
    return keep, np.minimum(np.searchsorted(edges, x[keep], side="right") - 1, len(edges) - 2)


def _histogram(x, *rest, bins, range=None, weighted=False, density=False):
    from .ranges import _linspace_forward

    x = x.reshape(-1)
    edges = rest[0] if bins < 0 else None
    w = rest[-1].reshape(-1) if weighted else None
    if edges is None:
        lo, hi = _outer_edges(x, range)
        edges = _linspace_forward(lo, hi, bins + 1, x.dtype.name)
    n = len(edges) - 1
    keep, pos = bin_positions(x, edges)
    hist = np.zeros(n, x.dtype)
    np.add.at(hist, pos, 1 if w is None else w[keep])  # in x's dtype, in order, as torch adds
    if density:
        hist = hist / hist.sum(dtype=x.dtype) / np.diff(edges).astype(x.dtype)
    return hist.astype(x.dtype), np.asarray(edges, x.dtype)


def _histogram_rule(x, *rest, bins, range=None, weighted=False, density=False):
    if not x.dtype.is_floating_point or (x.dtype in dtypes.LOW_FLOATS and bins >= 0 and
                                         range is None):  # (its min-max search has neither)
        raise not_implemented("histogramdd", x.dtype)
    if bins >= 0 and range is not None and len(range) != 2:
        raise RuntimeError("torch.histogramdd: for a 1-dimensional histogram range should have 2 "
                           f"elements, but got {len(range)}")
    bins = bin_count(x, bins, rest[0] if bins < 0 else None, 0)
    if weighted:
        check_weight(x, rest[-1], (x.numel(),), (x.numel(), 1))
    return Meta((bins,), x.dtype), Meta((bins + 1,), x.dtype)


def bin_count(x, count: int, edges, dim: int) -> int:
    """A histogram dimension's number of bins (from its edges when given), checked as torch's
    histogramdd checks it."""
    if edges is not None:
        if edges.ndim != 1:
            raise RuntimeError("torch.histogramdd: bins tensor should have one dimension, but got "
                               f"{edges.ndim} dimensions in the bins tensor for dimension {dim}")
        if edges.dtype is not x.dtype:
            raise RuntimeError("torch.histogramdd: input tensor and bins tensors should have the "
                               f"same dtype, but got input with dtype {x.dtype.c_name} and bins "
                               f"for dimension {dim} with dtype {edges.dtype.c_name}")
        count = edges.shape[0] - 1
    if count <= 0:
        raise RuntimeError(f"torch.histogram(): bins must be > 0, but got {count} for dimension "
                           f"{dim}")
    return count


def check_weight(x, w, shape: tuple, points_shape: tuple) -> None:
    """torch's checks of a histogram's weight: x's dtype, one per point (`shape`)."""
    if w.dtype is not x.dtype:
        raise RuntimeError("torch.histogramdd: if weight tensor is provided, input tensor and "
                           f"weight tensor should have the same dtype, but got "
                           f"input({x.dtype.c_name}), and weight({w.dtype.c_name})")
    if tuple(w.shape) != tuple(shape):
        raise RuntimeError("torch.histogramdd: if weight tensor is provided it should have the "
                           "same shape as the input tensor excluding its innermost dimension, "
                           f"but got input with shape [{', '.join(map(str, points_shape))}] and "
                           f"weight with shape [{', '.join(map(str, w.shape))}]")


defop("histogram", _histogram, _histogram_rule,
      lambda c, *grads: _not_implemented("histogram")(c, grads), n_out=2,
      node="torch::autograd::NotImplemented")


def histogram(input, bins=100, *, range=None, weight=None, density=False):
    """(hist, bin_edges) of input's values: `bins` equal bins over `range` (default: the data's
    min to max), or the bins between the given edges; weighted counts with `weight`."""
    edges = isinstance(bins, Tensor)
    rest = ([bins] if edges else []) + ([weight] if weight is not None else [])
    out = call("histogram", input, *rest, bins=-1 if edges else int(bins),
               range=None if range is None else [float(v) for v in range],
               weighted=weight is not None, density=bool(density))
    return return_types.histogram(out)


def _bincount_dtype(x, w=None, minlength=0) -> dtypes.dtype:
    if x.dtype.is_floating_point or x.dtype is dtypes.bool_:
        raise not_implemented("bincount_cpu", x.dtype)
    if x.ndim != 1:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise RuntimeError("minlength should be >= 0")
    if w is not None and (w.ndim != 1 or w.shape[0] != x.shape[0]):
        raise RuntimeError("weights should be 1-d and have the same length as input")
    if w is None:
        return dtypes.int64
    return w.dtype if w.dtype is dtypes.float32 else dtypes.float64


# The length is the data's (max + 1): bincount reads it, then the op knows its shape.
defop("bincount", lambda x, w=None, length=0: np.bincount(x, weights=w, minlength=length),
      lambda x, w=None, length=0: Meta((length,), _bincount_dtype(x, w)),
      _not_implemented("bincount"), node="torch::autograd::NotImplemented",
      differentiable=(1,))


def bincount(input, weights=None, minlength=0):
    """Counts of each value of a 1-d non-negative integer tensor (weighted sums with weights):
    max(input) + 1 of them, at least minlength (the max and min are read to know that)."""
    _bincount_dtype(input, weights, minlength)
    length = minlength
    if input.numel():
        if input.min().item() < 0:
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        length = max(length, int(input.max().item()) + 1)
    if weights is None:
        return call("bincount", input, length=length)
    return call("bincount", input, weights, length=length)


def _searchsorted(seq, x, sorter=None, right=False, out_int32=False):
    if sorter is not None:
        if sorter.size and (sorter.min() < 0 or sorter.max() >= sorter.shape[-1]):
            raise RuntimeError("torch.searchsorted(): sorter index out of range")
        seq = np.take_along_axis(seq, sorter, axis=-1)
    x = np.asarray(x)
    lead = int(np.prod(seq.shape[:-1], dtype=np.int64))  # (1 for one row of boundaries)
    rows = seq.reshape(lead, seq.shape[-1])
    values = x.reshape(lead, x.size // lead if lead else 0)
    return _binary_search(rows, values, right).reshape(x.shape)


def _binary_search(rows, values, right: bool):
    """torch's bisection of each row for its values, vectorised: a NaN compares false both
    ways, so a NaN value goes past every boundary and a NaN boundary met counts as below
    the value (NumPy's searchsorted orders NaN last instead)."""
    n = rows.shape[-1]
    start = np.zeros(values.shape, np.int64)
    end = np.full(values.shape, n, np.int64)
    row = np.arange(rows.shape[0])[:, None]
    with np.errstate(invalid="ignore"):
        while (active := start < end).any():
            mid = start + ((end - start) >> 1)
            at = rows[row, np.minimum(mid, n - 1)]
            below = ~(at > values) if right else ~(at >= values)
            start = np.where(active & below, mid + 1, start)
            end = np.where(active & ~below, mid, end)
    return start


def _searchsorted_rule(seq, x, sorter=None, right=False, out_int32=False):
    if sorter is not None:
        if tuple(sorter.shape) != tuple(seq.shape):  # (torch's words, a space missing)
            raise RuntimeError(f"torch.searchsorted(): boundary and sorter must have the same "
                               f"size, but got boundary tensor {list(seq.shape)}and got sorter "
                               f"tensor {list(sorter.shape)}")
        if sorter.dtype is not dtypes.int64:
            raise RuntimeError(f"torch.searchsorted(): sorter must be a tensor of long dtype but "
                               f"got dtype {sorter.dtype.long_name}")
    if not shape_of(x) and seq.ndim != 1:
        raise RuntimeError("torch.searchsorted(): input value can be a scalar only when "
                           f"boundaries tensor dimension is 1, but we got boundaries tensor "
                           f"dim({seq.ndim}) and input value's dim(0) numel(1)")
    if seq.ndim == 0:
        raise RuntimeError("torch.searchsorted(): boundaries tensor should have positive "
                           "dimension, but got 0 dimension")
    if seq.dtype is dtypes.bool_ and getattr(x, "dtype", None) is dtypes.bool_:
        raise not_implemented("searchsorted_out_cpu", dtypes.bool_)
    if seq.ndim > 1 and (len(shape_of(x)) != seq.ndim or tuple(shape_of(x))[:-1] !=
                         tuple(seq.shape)[:-1]):
        raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or the "
                           "first N-1 dimensions of boundaries tensor and input value tensor "
                           f"must match, but we got boundaries tensor {list(seq.shape)} and "
                           f"input value tensor {list(shape_of(x))}")
    return Meta(shape_of(x), dtypes.int32 if out_int32 else dtypes.int64)


defop("searchsorted", _searchsorted, _searchsorted_rule)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Indices where `input`'s values would go in the last dim of `sorted_sequence`."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError("torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, "
                               "got side of left while right was True")
        right = side == "right"
    attrs = dict(right=right, out_int32=bool(out_int32))
    if sorter is not None:
        return call("searchsorted", sorted_sequence, input, sorter, **attrs)
    return call("searchsorted", sorted_sequence, input, **attrs)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    if boundaries.ndim != 1:
        raise RuntimeError("boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries.ndim})")
    return call("searchsorted", boundaries, input, right=right, out_int32=bool(out_int32))


METHODS = dict(median=median, nanmedian=nanmedian, quantile=_quantile_method,
               nanquantile=_nanquantile_method,
               mode=mode, kthvalue=kthvalue, cummax=cummax, cummin=cummin, logcumsumexp=logcumsumexp,
               aminmax=aminmax, msort=msort, histc=histc, histogram=histogram, bincount=bincount)
