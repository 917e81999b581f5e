"""Reductions and normalisations over dims: sum, mean, max/min, var/std, softmax, norm."""
from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from . import cascade_sum, layout, rounding, stdsort, vector_sum
from .rules import (check_reduced_dims_nonempty, dims_of, first_empty_dim, float_dtype,
                    not_implemented, numel, reduced_shape, wrap_dim, written)
from .decompositions import prod_safe_zeros_backward
from .layers import in_float32
from .low_prod import low_float_prod
from .shape import scattered_into_zeros
from ..creation import zeros_like
from .table import Meta, defop, low_common


def expand_back(g, shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims (sum's VJP)."""
    if not keepdim:
        for d in dims:
            g = g.unsqueeze(d)
    return g.expand(tuple(shape))


def _axis(dims):
    return tuple(dims) if dims is not None else None


def _reduced(x, dim, keepdim):
    dims = dims_of(dim, x.ndim)
    return dims, reduced_shape(x.shape, dims, keepdim)


def _count(shape, dims) -> int:
    return numel([shape[d] for d in dims])


# ---- sum, mean --------------------------------------------------------------------------

def as_dtype(x, dtype):
    """x (an ndarray) in the dtype an op's dtype= names, or as it is: torch's kernels cast
    their input first, while the node keeps the input as given."""
    return x if dtype is None else x.astype(dtypes.from_name(dtype).np)


def in_grad_dtype(x, g):
    """A saved input in its gradient's dtype (torch's self.to(grad.scalar_type())): the
    input of an op given dtype= is saved as it was given."""
    return x if x.dtype is g.dtype else x.to(g.dtype)


def _sum_rule(x, dim=None, keepdim=False, dtype=None):
    _, shape = _reduced(x, dim, keepdim)
    if dtype is not None:
        return Meta(shape, dtypes.from_name(dtype))
    return Meta(shape, x.dtype if x.dtype.is_floating_point else dtypes.int64)


def _sum_forward(x, dim=None, keepdim=False, dtype=None):
    x = as_dtype(x, dtype)  # (torch casts the input first: 1.34 - 0.93 sums to 1 as int64)
    return cascade_sum.summed(x, _axis(dims_of(dim, x.ndim)), keepdims=keepdim)


defop("sum", _sum_forward, _sum_rule,
      lambda c, g: expand_back(g, c.shapes[0], dims_of(c.attrs.get("dim"), len(c.shapes[0])),
                               c.attrs.get("keepdim", False)),
      node=lambda inputs, attrs: "SumBackward1" if "dim" in attrs else "SumBackward0",
      sharding="reduction")


def _mean_rule(x, dim=None, keepdim=False, dtype=None):
    d = dtypes.from_name(dtype) if dtype is not None else x.dtype
    check_mean_dtype("mean", d, given=dtype is not None)
    _, shape = _reduced(x, dim, keepdim)
    return Meta(shape, d)


def check_mean_dtype(name: str, d, given: bool) -> None:
    """torch's error for a mean in a dtype that is not floating (the one asked for, or the
    input's)."""
    if not d.is_floating_point:
        which = "Optional" if given else "Input"
        raise RuntimeError(f"{name}(): could not infer output dtype. {which} dtype must be "
                           f"either a floating point or complex dtype. Got: {d.long_name}")


def _mean_vjp(c, g):
    shape = c.shapes[0]
    dims = dims_of(c.attrs.get("dim"), len(shape))
    return expand_back(g, shape, dims, c.attrs.get("keepdim", False)) / max(_count(shape, dims), 1)


def _mean_forward(x, dim=None, keepdim=False, dtype=None):
    axis = _axis(dims_of(dim, x.ndim))
    if x.size == 0:  # nan, without numpy's warning for an empty slice (torch has none)
        out_type = dtypes.from_name(dtype).np if dtype is not None else x.dtype
        return np.full(np.sum(x, axis=axis, keepdims=keepdim).shape, np.nan, out_type)
    if x.dtype in (np.float32, np.float64):  # (torch's: its sum, divided by the count)
        count = _count(x.shape, dims_of(dim, x.ndim))
        return cascade_sum.summed(x, axis, keepdims=keepdim) / count
    return np.mean(x, axis=axis, keepdims=keepdim)


defop("mean", _mean_forward, _mean_rule, _mean_vjp,
      node=lambda inputs, attrs: "MeanBackward1" if "dim" in attrs else "MeanBackward0",
      sharding="reduction")


# ---- max, min, amax, amin -----------------------------------------------------------------

def _no_dim_for_empty(name) -> RuntimeError:
    return RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                        "Specify the reduction dim with the 'dim' argument.")


def _full_extremum_rule(name):
    def rule(x):
        if x.numel() == 0:
            raise _no_dim_for_empty(name)
        return Meta((), x.dtype)

    return rule


def _evenly_distribute(c, g):
    # Ties share the gradient equally, as torch does for a full max/min; a nan result is
    # matched by the nan inputs, and none matched (the input written through .data since)
    # gives zeros, not nan.
    x, out = c[0], c.out
    mask = (x == out) | (x.isnan() & out.isnan())
    # (torch's: zeros with the share filled in where the mask holds, a MaskedFillBackward1)
    return written(call("masked_fill", zeros_like(x), mask, g / mask.sum()))  # (masked_fill_)


defop("max", lambda x: np.max(x), _full_extremum_rule("max"), _evenly_distribute,
      node="MaxBackward1", save=(0,), save_out=True, sharding="reduction")
defop("min", lambda x: np.min(x), _full_extremum_rule("min"), _evenly_distribute,
      node="MinBackward1", save=(0,), save_out=True, sharding="reduction")


def dim_extremum_rule(name):
    """(values, int64 indices) along one dim: max(dim), min(dim), median(dim), mode, ..."""
    def rule(x, dim, keepdim=False):
        d = wrap_dim(dim, x.ndim)
        check_reduced_dims_nonempty(x, (d,), f"{name}()")
        shape = reduced_shape(x.shape, (d,) if x.ndim else (), keepdim)
        return Meta(shape, x.dtype), Meta(shape, dtypes.int64)

    return rule


def _dim_extremum_forward(pick):
    def forward(x, dim, keepdim=False):
        if x.ndim == 0:
            return x.copy(), np.zeros((), np.int64)
        idx = pick(x, axis=dim, keepdims=True)
        vals = np.take_along_axis(x, idx, axis=dim)
        if not keepdim:
            idx = np.squeeze(idx, axis=dim)
            vals = np.squeeze(vals, axis=dim)
        return vals, idx

    return forward


# What the nodes of max/min/sort/... along a dim save, as torch names it: the indices
SAVES_INDICES = {"self": 0, "indices": ("out", 1)}


def _dim_extremum_vjp(c, g, _indices_grad=None):
    shape = c.shapes[0]
    dim = wrap_dim(c.attrs["dim"], len(shape))
    idx = c.outs[0]  # (the indices, the one output torch saves)
    if shape and not c.attrs.get("keepdim", False):
        g, idx = g.unsqueeze(dim), idx.unsqueeze(dim)
    return scattered_into_zeros(g, idx, dim, shape, "ScatterBackward0", writes=2)


defop("max_dim", _dim_extremum_forward(np.argmax), dim_extremum_rule("max"),
      _dim_extremum_vjp, node="MaxBackward0", save_out=(1,), saved_names=SAVES_INDICES, n_out=2,
      nondiff_outputs=(1,))
defop("min_dim", _dim_extremum_forward(np.argmin), dim_extremum_rule("min"),
      _dim_extremum_vjp, node="MinBackward0", save_out=(1,), saved_names=SAVES_INDICES, n_out=2,
      nondiff_outputs=(1,))


def _argext_rule(name):
    def rule(x, dim=None, keepdim=False):
        if x.dtype is dtypes.bool_:
            raise RuntimeError(f"{name}(): does not support bool input")
        if dim is None and x.numel() == 0:
            raise IndexError(f"{name}(): Expected reduction dim to be specified for "
                             f"input.numel() == 0.")
        if dim is not None:
            check_reduced_dims_nonempty(x, (wrap_dim(dim, x.ndim),), f"{name}()")
        return _argext_meta(x, dim, keepdim)

    return rule


def _argext_meta(x, dim=None, keepdim=False):
    if dim is None:
        return Meta((1,) * x.ndim if keepdim else (), dtypes.int64)
    d = wrap_dim(dim, x.ndim)
    return Meta(reduced_shape(x.shape, (d,) if x.ndim else (), keepdim), dtypes.int64)


def _argext_forward(pick):
    def forward(x, dim=None, keepdim=False):
        if dim is None:
            out = np.asarray(pick(x.reshape(-1)))
            return out.reshape((1,) * x.ndim) if keepdim else out
        return pick(x, axis=dim, keepdims=keepdim) if x.ndim else np.zeros((), np.int64)

    return forward


defop("argmax", _argext_forward(np.argmax), _argext_rule("argmax"))
defop("argmin", _argext_forward(np.argmin), _argext_rule("argmin"))


def _amax_rule(name):
    def rule(x, dim=(), keepdim=False):
        dims = [dim] if isinstance(dim, int) else list(dim)
        if x.numel() == 0 and not dims:
            raise _no_dim_for_empty(name)
        check_reduced_dims_nonempty(x, dims, f"{name}()")  # (the dims as given, as torch)
        _, shape = _reduced(x, dims or None, keepdim)
        return Meta(shape, x.dtype)

    return rule


def _amax_vjp(c, g):
    shape = c.shapes[0]
    dim = c.attrs.get("dim", ())
    dims = dims_of(dim if dim != () else None, len(shape))
    keep = c.attrs.get("keepdim", False)
    out = expand_back(c.out, shape, dims, keep)
    mask = c[0] == out
    if not keep:
        for d in dims:
            g = g.unsqueeze(d)
    # (torch's scale_grad_by_count: the share first, then the mask: a MulBackward0)
    return g / mask.sum(dim=dims, keepdim=True) * mask


def _amax_forward(fn):
    return lambda x, dim=(), keepdim=False: fn(x, axis=_axis(dims_of(dim if dim != () else None,
                                                                    x.ndim)), keepdims=keepdim)


defop("amax", _amax_forward(np.max), _amax_rule("amax"), _amax_vjp, node="AmaxBackward0",
      save=(0,), save_out=True, sharding="reduction")
defop("amin", _amax_forward(np.min), _amax_rule("amin"), _amax_vjp, node="AminBackward0",
      save=(0,), save_out=True, sharding="reduction")


# ---- var, std -----------------------------------------------------------------------------

def _var_rule(name):
    def rule(x, dim=None, correction=1, keepdim=False):
        if not x.dtype.is_floating_point:
            raise RuntimeError("std and var only support floating point and complex dtypes")
        return _var_meta(name, x, dim, correction, keepdim)

    return rule


def _degrees(correction) -> float:
    """What the correction takes off N: None is torch's default, 1 (the unbiased estimate)."""
    return 1 if correction is None else correction


def _var_meta(name, x, dim, correction, keepdim) -> Meta:
    return Meta(_reduced(x, dim, keepdim)[1], x.dtype)


def warn_without_degrees_of_freedom(name, x, dim, correction) -> None:
    """torch's warn_invalid_degrees_of_freedom, whose reduction factor is 0 for an empty
    result. Called once per call by the API, not by the op's rule, which runs again for each
    part of a sharded operand and on the worker that checks the op."""
    shape = _reduced(x, dim, False)[1]
    factor = x.numel() // numel(shape) if numel(shape) else 0
    if factor - _degrees(correction) <= 0:
        warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly less "
                      f"than the reduction factor (input numel divided by output numel).",
                      UserWarning, stacklevel=4)


def _var_forward(x, dim=None, correction=1, keepdim=False, root=False):
    """Σ(x - mean)² / max(N - correction, 0), as torch: inf (or nan for a zero sum) past N;
    `root`: its square root (std)."""
    return _spread_and_mean(x, dim, correction, keepdim, root)[0]


def _spread_and_mean(x, dim, correction, keepdim, root):
    """(var or std, mean). float32 is computed in float64 and rounded once, as torch's CPU
    kernel accumulates it (numpy's two float32 passes were a few ulps off: 3.9762006 for
    torch's 3.9762001; exp and sin of it after were 3e-5 apart)."""
    dims = dims_of(dim, x.ndim)
    n = _count(x.shape, dims)
    axis = _axis(dims)
    wide = x.astype(np.float64) if x.dtype == np.float32 else x
    with np.errstate(divide="ignore", invalid="ignore"):  # (nan and inf as torch, silently)
        mean = np.sum(wide, axis=axis, keepdims=True) / n  # (np.mean warns of empty slices)
        var = np.sum((wide - mean) ** 2, axis=axis, keepdims=keepdim) / max(n - _degrees(correction), 0)
    spread = np.sqrt(var) if root else var
    mean = _as_welfords_mean(wide, dims, mean)
    if not keepdim:
        mean = np.squeeze(mean, axis=axis) if axis is not None else mean.reshape(())
    return spread.astype(x.dtype, copy=False), mean.astype(x.dtype, copy=False)


def _as_welfords_mean(x, dims, mean):
    """The mean (kept dims) as torch's var_mean kernel updates it element by element: once
    it is infinite, the next element makes it nan (inf - inf), so a slice holding an inf
    has that inf for its mean only when it is the only one and read last (the element at
    the end of every reduced dim), else nan."""
    infinite = np.isinf(x)
    if x.size == 0 or not infinite.any():
        return mean
    count = np.sum(infinite, axis=_axis(dims), keepdims=True)
    last = infinite[tuple(slice(-1, None) if d in dims else slice(None) for d in range(x.ndim))]
    return np.where((count == 0) | ((count == 1) & last), mean, np.nan)


def _var_backward(c, g):
    """torch's var_backward: (2 / (N - correction)) * g * (x - mean), g spread over the dims."""
    shape = c.shapes[0]
    dim = c.attrs.get("dim")
    dims = dims_of(dim, len(shape))
    n = _count(shape, dims) - _degrees(c.attrs.get("correction"))
    x = c[0]
    if n <= 0 and (dim is None or not shape):
        # torch's: over everything with no degrees of freedom, g times inf, or NaN where x
        # is its mean; no function of x, so no second order
        return g * call("where", x == x.mean(), float("nan"), float("inf"))
    centred = x - x.mean(dim=dims, keepdim=True)
    scale = 2.0 / n if n else float("inf")
    # (torch's order of products: a float16/bfloat16 gradient rounds at each)
    return expand_back(g * scale, shape, dims, c.attrs.get("keepdim", False)) * centred


def _std_vjp(c, g):
    # torch: var_backward of g / (2 std), with a zero std giving a zero gradient.
    return _var_backward(c, (g / (c.out * 2)).masked_fill(c.out == 0, 0.0))


defop("var", _var_forward, _var_rule("var"), _var_backward, node="VarBackward0", save=(0,))
defop("std", lambda x, **a: _var_forward(x, root=True, **a), _var_rule("std"), _std_vjp,
      node="StdBackward0", save=(0,), save_out=True)


# ---- softmax family -----------------------------------------------------------------------

def _softmax_rule(kernel):
    def rule(x, dim, dtype=None):
        last = wrap_dim(dim, x.ndim) == max(x.ndim - 1, 0)
        d = dtypes.from_name(dtype) if dtype is not None else x.dtype
        if not d.is_floating_point:  # torch's kernel names say whether dim was the last
            raise not_implemented(f"{kernel}_lastdim_kernel_impl" if last else
                                  f"{kernel}_kernel_impl", d)
        return Meta(x.shape, d)

    return rule


def _softmax(x, dim, dtype=None):
    x = as_dtype(x, dtype)
    m = np.max(x, axis=dim, keepdims=True) if x.size else x
    e = rounding.exp(x - m)
    return e * np.reciprocal(_row_sums(e, dim), dtype=e.dtype)  # (torch's: one division a row)


def _log_softmax(x, dim, dtype=None):
    x = as_dtype(x, dtype)
    low = low_common((x,))
    if low is not None:
        x = x.astype(np.float32)
    m = np.max(x, axis=dim, keepdims=True) if x.size else x
    shifted = x - m
    sums = _row_sums(rounding.exp(shifted), dim)
    if low is not None and x.ndim and dim in (-1, x.ndim - 1):
        # (torch's kernel for the last dim keeps the sums and their logs in the input's dtype)
        return shifted - dtypes.rounded_in(rounding.log(dtypes.rounded_in(sums, low.np)), low.np)
    return shifted - rounding.log(sums)


def _row_sums(e, dim):
    """The sums of softmax's exponentials along dim, in torch's order (its kernel for the
    last dim adds by SIMD lanes; for another dim, element by element, as numpy does)."""
    if e.ndim and dim in (-1, e.ndim - 1):
        return vector_sum.last_dim_sum(e)
    return np.sum(e, axis=dim, keepdims=True)


def _softmax_vjp(c, g):
    return call("softmax_backward_data", g, c.out, dim=c.attrs["dim"])


def _log_softmax_vjp(c, g):
    return call("log_softmax_backward_data", g, c.out, dim=c.attrs["dim"])


defop("softmax", _softmax, _softmax_rule("softmax"), _softmax_vjp,
      node="SoftmaxBackward0", save_out=True, sharding="class_softmax")
defop("log_softmax", _log_softmax, _softmax_rule("log_softmax"), _log_softmax_vjp,
      node="LogSoftmaxBackward0", save_out=True, sharding="class_softmax")


def _safe_softmax(x, dim, dtype=None):
    """torch's _safe_softmax (attention's math path): softmax, with 0 for a row that is -inf
    throughout (a query that may attend to no key) where softmax gives NaN."""
    void = np.all(np.isneginf(x), axis=dim, keepdims=True)
    return np.where(void, 0, _softmax(x, dim, dtype))


# (its backward is softmax's on the result: a void row's zeros give it no gradient)
defop("safe_softmax", _safe_softmax, _softmax_rule("softmax"), _softmax_vjp,
      node="SafeSoftmaxBackward0", save_out=True, sharding="softmax")


# Their VJPs as ops of their own (torch's _softmax_backward_data and
# _log_softmax_backward_data): a gradient taken with create_graph=True shows their nodes,
# and its gradient follows torch's formulas for them.

def _softmax_backward_data(g, out, dim):
    return out * (g - _row_sums(g * out, dim))


def _log_softmax_backward_data(g, out, dim):
    return g - rounding.exp(out) * _row_sums(g, dim)


def _softmax_backward_rule(g, out, dim):
    return Meta(out.shape, out.dtype)


def _softmax_backward_data_vjp(c, gg):
    g, out = in_float32(c[0], c[1])
    dim = c.attrs["dim"]
    return (call("softmax_backward_data", gg, c[1], dim=dim) if c.needs[0] else None,
            gg * g - (out * g).sum(dim, keepdim=True) * gg - g * (out * gg).sum(dim, keepdim=True)
            if c.needs[1] else None)


def _log_softmax_backward_data_vjp(c, gg):
    g, out = in_float32(c[0], c[1])
    dim = c.attrs["dim"]
    return (gg - (gg * out.exp()).sum(dim, keepdim=True) if c.needs[0] else None,
            -g.sum(dim, keepdim=True) * out.exp() * gg if c.needs[1] else None)


defop("softmax_backward_data", _softmax_backward_data, _softmax_backward_rule,
      _softmax_backward_data_vjp, node="SoftmaxBackwardDataBackward0", save=(0, 1),
      sharding="softmax_backward")
defop("log_softmax_backward_data", _log_softmax_backward_data, _softmax_backward_rule,
      _log_softmax_backward_data_vjp, node="LogSoftmaxBackwardDataBackward0", save=(0, 1),
      sharding="softmax_backward")


def _logsumexp_rule(x, dim, keepdim=False):
    _, shape = _reduced(x, dim, keepdim)
    if not keepdim and x.shape and isinstance(dim, (tuple, list)) and not dim:
        # torch's: dim=() sums every dim, and adding back the max (kept with its dims, one
        # per input dim) to that 0-dim result in place cannot broadcast
        raise RuntimeError("output with shape [] doesn't match the broadcast shape "
                           f"[{', '.join('1' * len(x.shape))}]")
    return Meta(shape, float_dtype(x.dtype))


def _logsumexp(x, dim, keepdim=False):
    if x.dtype.kind in "biu":  # (x - max would wrap around in an unsigned dtype)
        x = x.astype(np.float64)
    low = low_common((x,))
    if low is not None:
        x = x.astype(np.float32)
    # (torch's is composed of ops: in float16 or bfloat16 each step's result is rounded)
    step = (lambda v: v) if low is None else (lambda v: dtypes.rounded_in(v, low.np))
    dims = _axis(dims_of(dim, x.ndim))
    if x.size == 0:
        return np.log(np.sum(np.exp(x), axis=dims, keepdims=keepdim))
    m = np.max(x, axis=dims, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    # (torch's: the exponentials added by its sum kernel, then log, then the max back)
    sums = step(cascade_sum.summed(step(rounding.exp(step(x - m))), dims, keepdims=True))
    out = step(step(rounding.log(sums)) + m)
    return out if keepdim else np.squeeze(out, axis=dims)


def _logsumexp_vjp(c, g):
    shape = c.shapes[0]
    dims = dims_of(c.attrs["dim"], len(shape))
    keep = c.attrs.get("keepdim", False)
    return expand_back(g, shape, dims, keep) * (c[0] - expand_back(c.out, shape, dims, keep)).exp()


defop("logsumexp", _logsumexp, _logsumexp_rule, _logsumexp_vjp, node="LogsumexpBackward0",
      save=(0,), save_out=True, sharding="reduction")


# ---- norm ---------------------------------------------------------------------------------

def _norm_rule(x, p=2.0, dim=None, keepdim=False, aten=False, dtype=None):
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {x.dtype.long_name}")
    result = x.dtype if dtype is None else dtypes.from_name(dtype)
    if dtypes.promote(x.dtype, result) is not result:
        raise RuntimeError(f"linalg.vector_norm: the dtype of the input ({x.dtype.long_name}) "
                           f"should be convertible without narrowing to the specified dtype "
                           f"({result.long_name})")
    if p < 0 or p == float("inf"):  # a max or min, or 1 / 0, over no elements
        _check_norm_has_elements(x, p, dim)
    _, shape = _reduced(x, dim, keepdim)
    return Meta(shape, result)


def _check_norm_has_elements(x, p, dim) -> None:
    dims = [] if dim is None else [dim] if isinstance(dim, int) else list(dim)
    if x.numel() == 0 and not dims:
        raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on an empty tensor "
                           f"because the operation does not have an identity")
    d = first_empty_dim(x, dims)
    if d is not None:  # (torch's words, a space missing)
        raise RuntimeError(f"linalg.vector_norm cannot compute the {p:g} norm on the dimension "
                           f"{d}because this dimension is empty and the operation does not have "
                           f"an identity")


def _norm_forward(x, p=2.0, dim=None, keepdim=False, aten=False, dtype=None):
    x = as_dtype(x, dtype)
    dims = _axis(dims_of(dim, x.ndim))
    a = np.abs(x)
    if p == float("inf"):
        return np.max(a, axis=dims, keepdims=keepdim)
    if p == -float("inf"):
        return np.min(a, axis=dims, keepdims=keepdim)
    if p == 0:
        return np.sum(a != 0, axis=dims, keepdims=keepdim).astype(x.dtype)
    if p == 1:
        return np.sum(a, axis=dims, keepdims=keepdim)
    if p == 2:
        return np.sqrt(np.sum(a * a, axis=dims, keepdims=keepdim))
    return np.sum(a ** p, axis=dims, keepdims=keepdim) ** (1.0 / p)


def _norm_vjp(c, g):
    """torch's norm_backward, formula for formula (so double backward matches it too): the
    gradient and the norm unsqueezed at the reduced dims and broadcast, not expanded."""
    shape = c.shapes[0]
    p = c.attrs.get("p", 2.0)
    dim = c.attrs.get("dim")
    dims = dims_of(dim, len(shape))
    x = in_grad_dtype(c[0], g)
    if p == 0:
        return None
    ge, out = g, c.out
    if not c.attrs.get("keepdim", False) and len(shape) != 0 and dim not in (None, [], ()):
        for d in sorted(dims):
            ge, out = ge.unsqueeze(d), out.unsqueeze(d)
    if p == 1:
        return x.sgn() * ge
    if p == 2:  # (torch fills in place: x's layout kept)
        return ge * (x / out).masked_fill_(out == 0, 0.0)
    if p in (float("inf"), -float("inf")):
        x_abs = x.abs()  # (the max's places, and a NaN's: the norm of a NaN is NaN)
        mask = (x_abs == out).logical_or(x_abs.isnan())
        return x.sgn() * ((ge / mask.sum(dim=dims, keepdim=True)) * mask)
    if p < 1:
        scaled = x.sgn() * (x.abs() ** (p - 1)).masked_fill(x == 0, 0.0)
        return scaled * ge * out ** (1 - p)
    scaled = x.sgn() * x.abs() ** (p - 1) if p < 2 else x * x.abs() ** (p - 2)
    return scaled * (ge / out ** (p - 1)).masked_fill(out == 0, 0.0)


# (aten: called as ATen's own norm, as pairwise_distance's kernel calls it: NormBackward1)
defop("norm", _norm_forward, _norm_rule, _norm_vjp,
      node=lambda inputs, attrs: "NormBackward1" if attrs.get("aten") else
      "LinalgVectorNormBackward0", save=(0,), save_out=True, sharding="reduction")


# The 2-norm of a sharded tensor is this root of the shards' summed squares (its gradient
# is 0 where the norm is, as norm's; an all-zero shard is no 0/0 in a second order, as the
# norm of the shards' norms made it). As norm's, the gradient multiplies the masked
# quotient: at a zero norm a NaN gradient (a second order's, from the masked quotient's
# own derivative there) stays NaN, as torch's does.
defop("norm_of_squares", lambda s: np.sqrt(s), lambda s: Meta(s.shape, s.dtype),
      lambda c, g: g * (0.5 / c.out).masked_fill(c.out == 0, 0.0),
      node="LinalgVectorNormBackward0", save_out=True, sharding="elementwise")


# ---- cumsum, prod ---------------------------------------------------------------------------

def _int_to_long(d: dtypes.dtype) -> dtypes.dtype:
    return d if d.is_floating_point else dtypes.int64


def cumulative_rule(kernel: str):
    """cumsum's and cumprod's: integers give int64, unless dtype= names the result's dtype
    (x was cast to it: the int64 sums cast back wrap around as the dtype's would); torch
    has no kernel for a bool result."""
    def rule(x, dim, dtype=None):
        wrap_dim(dim, x.ndim)
        result = dtypes.from_name(dtype) if dtype else _int_to_long(x.dtype)
        if result is dtypes.bool_:
            raise not_implemented(f"{kernel}_out_cpu", result)
        return Meta(x.shape, result)

    return rule


def _cumsum_forward(x, dim, dtype=None):
    x = as_dtype(x, dtype)
    if x.ndim == 0:
        return x.astype(np.int64) if x.dtype.kind in "biu" else x.copy()
    return np.cumsum(x, axis=dim, dtype=np.int64 if x.dtype.kind in "biu" else None)


def _cumsum_vjp(c, g):
    """torch's cumsum_backward: the gradient summed from the end (a reversed cumsum); the
    gradient itself when there is nothing to sum (as torch: the same tensor)."""
    dim = wrap_dim(c.attrs["dim"], max(len(c.shapes[0]), 1))
    if g.numel() <= 1 or g.shape[dim] == 1:
        return g
    return call("flip", call("cumsum", call("flip", g, dims=[dim]), dim=dim), dims=[dim])


defop("cumsum", _cumsum_forward, cumulative_rule("cumsum"), _cumsum_vjp, node="CumsumBackward0")


def _zeros_in(x) -> int:
    return int(call("sum", x == 0).item())


def _prod_vjp(c, g):
    """torch's prod_backward: grad * result / input; with zeros, the zero-safe products
    (with two or more, zeros unless a graph of the gradient is being built)."""
    shape = c.shapes[0]
    x = in_grad_dtype(c[0], g)
    if not shape:
        return g
    zeros = _zeros_in(x)
    if not zeros:
        return g * (c.out / x)
    if zeros > 1 and not grad_mode.is_grad_enabled():
        return zeros_like(x)
    return prod_safe_zeros_backward(g, x.reshape(-1), 0).reshape(shape)


def _prod_dim_vjp(c, g):
    shape = c.shapes[0]
    if not shape:
        return g
    dim = wrap_dim(c.attrs["dim"], len(shape))
    out = c.out
    if not c.attrs.get("keepdim", False):
        g, out = g.unsqueeze(dim), out.unsqueeze(dim)
    x = in_grad_dtype(c[0], g)
    if not _zeros_in(x):
        return g * (out / x)
    return prod_safe_zeros_backward(g, x, dim)


def _prod_dtype(x, dtype):
    return dtypes.from_name(dtype) if dtype else _int_to_long(x.dtype)


def _prod_dim_rule(x, dim, keepdim=False, dtype=None):
    d = wrap_dim(dim, x.ndim)
    return Meta(reduced_shape(x.shape, (d,) if x.ndim else (), keepdim), _prod_dtype(x, dtype))


def _prod_int(x):
    return np.int64 if x.dtype.kind in "biu" else None


def _prod_forward(x, dim=None, keepdim=False, dtype=None):
    x = as_dtype(x, dtype)
    if dtypes.is_low_float(x.dtype):  # (table.OWN_HALF: given in its own dtype)
        return low_float_prod(x, dim if x.ndim else None, keepdim and x.ndim > 0)
    return np.prod(x, axis=dim if x.ndim else None, keepdims=keepdim and x.ndim > 0,
                   dtype=_prod_int(x))


defop("prod", _prod_forward, lambda x, dtype=None: Meta((), _prod_dtype(x, dtype)), _prod_vjp,
      node="ProdBackward0", save=(0,), save_out=True)
defop("prod_dim", _prod_forward,
      _prod_dim_rule, _prod_dim_vjp, node="ProdBackward1", save=(0,), save_out=True)


# ---- all, any, count_nonzero (no gradient) ---------------------------------------------------

def _bool_reduce_rule(x, dim=None, keepdim=False):
    _, shape = _reduced(x, dim, keepdim)
    return Meta(shape, dtypes.uint8 if x.dtype is dtypes.uint8 else dtypes.bool_)  # (as torch)


defop("all", lambda x, dim=None, keepdim=False:
      np.all(x, axis=_axis(dims_of(dim, x.ndim)), keepdims=keepdim), _bool_reduce_rule)
defop("any", lambda x, dim=None, keepdim=False:
      np.any(x, axis=_axis(dims_of(dim, x.ndim)), keepdims=keepdim), _bool_reduce_rule)
defop("count_nonzero", lambda x, dim=None:
      np.count_nonzero(x, axis=_axis(dims_of(dim, x.ndim))),
      lambda x, dim=None: Meta(_reduced(x, dim, False)[1], dtypes.int64))


# ---- var_mean, std_mean: one node, two outputs ------------------------------------------------

def _var_mean_rule(name):
    def rule(x, dim=None, correction=1, keepdim=False):
        if not x.dtype.is_floating_point:
            raise RuntimeError(f"{name} only support floating point and complex dtypes")
        meta = _var_meta(name, x, dim, correction, keepdim)
        return meta, Meta(meta.shape, meta.dtype)

    return rule


def _var_mean_forward(std):
    def forward(x, dim=None, correction=1, keepdim=False):
        return _spread_and_mean(x, dim, correction, keepdim, std)

    return forward


def _var_mean_vjp(std):
    """torch's var_std_mean_backward: the var (or std) gradient plus the mean's."""
    def vjp(c, g_var, g_mean=None):
        out = None
        if g_var is not None:
            out = _std_vjp(c, g_var) if std else _var_backward(c, g_var)
        if g_mean is not None:
            shape = c.shapes[0]
            dims = dims_of(c.attrs.get("dim"), len(shape))
            gm = expand_back(g_mean, shape, dims, c.attrs.get("keepdim", False))
            gm = gm / max(_count(shape, dims), 1)
            out = gm if out is None else out + gm
        return out

    return vjp


defop("var_mean", _var_mean_forward(False), _var_mean_rule("var_mean"), _var_mean_vjp(False),
      node="VarMeanBackward0", save=(0,), n_out=2)
defop("std_mean", _var_mean_forward(True), _var_mean_rule("std_mean"), _var_mean_vjp(True),
      node="StdMeanBackward0", save=(0,), save_out=(0,), n_out=2)


# ---- sort, topk: values and int64 indices; the gradient scatters back by index ----------------

def _argsort(x, dim, descending):
    """A stable argsort; descending keeps equal values in their original order, as torch."""
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    n = x.shape[dim]
    idx = np.flip(np.argsort(np.flip(x, axis=dim), axis=dim, kind="stable"), axis=dim)
    return (n - 1) - idx


def _sort_forward(x, dim=-1, descending=False, stable=False):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    if x.strides[dim] == 0:  # (an expanded dim: torch keeps its order, 0, 1, 2, ...)
        idx = np.broadcast_to(np.expand_dims(np.arange(x.shape[dim]), tuple(
            d for d in range(x.ndim) if d != dim % x.ndim)), x.shape).copy()
        return x.copy(), idx
    idx = _argsort(x, dim, descending)
    if not stable and x.size and not _radix_sorted(x, descending):
        idx = _std_sorted(x, idx, dim, descending)
    return np.take_along_axis(x, idx, axis=dim), idx


def _radix_sorted(x, descending: bool) -> bool:
    """Whether torch's CPU sort takes fbgemm's radix sort (stable): a 1-D integer tensor of
    at least 32768 elements (aten's GRAIN_SIZE), ascending."""
    return x.ndim == 1 and not descending and x.dtype.kind in "iu" and x.size >= 32768


def _std_sorted(x, idx, dim, descending: bool):
    """`idx` (a stable argsort) where each row's values are distinct; std::sort's order of
    equal values (torch's unstable sort) where they are not, row by row."""
    moved = np.moveaxis(x, dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    order = np.moveaxis(idx, dim, -1).reshape(rows.shape).copy()
    ordered = np.take_along_axis(rows, order, axis=1)
    tied = ordered[:, 1:] == ordered[:, :-1]
    if ordered.dtype.kind == "f":
        tied |= np.isnan(ordered[:, 1:]) & np.isnan(ordered[:, :-1])
    for r in _within_budget(np.nonzero(tied.any(axis=1))[0], rows.shape[1]):
        order[r] = stdsort.argsort(stdsort.ordering_keys(rows[r], descending)[0])
    return np.moveaxis(order.reshape(moved.shape), -1, dim)


# How many elements an op redoes in Python as torch's std algorithms order them (~0.3 s):
# when its tied rows hold more, they all keep the stable order (the same values; equal
# ones may sit elsewhere than torch puts them).
EXACT_TIES_BUDGET = 1 << 16


def _within_budget(rows, n: int):
    return rows if len(rows) * n <= EXACT_TIES_BUDGET else rows[:0]


def _sort_rule(x, dim=-1, descending=False, stable=False):
    wrap_dim(dim, x.ndim)
    return Meta(x.shape, x.dtype), Meta(x.shape, dtypes.int64)


def _scatter_back_vjp(c, g, _indices_grad=None):
    shape = c.shapes[0]
    dim = wrap_dim(c.attrs.get("dim", -1), len(shape))
    return scattered_into_zeros(g, c.outs[0], dim, shape,  # (the indices)
                                "ScatterBackward0", writes=2)


# (torch's sort.stable, the overload that takes `stable`, is SortBackward1)
defop("sort", _sort_forward, _sort_rule, _scatter_back_vjp,
      node=lambda inputs, attrs: "SortBackward1" if "stable" in attrs else "SortBackward0",
      save_out=(1,), saved_names=SAVES_INDICES, n_out=2, nondiff_outputs=(1,),
      layout_rule=layout.like_first)


def _topk_rule(x, k, dim=-1, largest=True, sorted=True):
    if x.dtype is dtypes.bool_:
        raise RuntimeError("topk does not support bool dtypes on CPU")
    d = wrap_dim(dim, x.ndim)
    size = x.shape[d] if x.ndim else 1
    if not 0 <= k <= size:
        raise RuntimeError("selected index k out of range")
    shape = list(x.shape)
    if shape:
        shape[d] = k
    return Meta(shape, x.dtype), Meta(shape, dtypes.int64)


def _topk_forward(x, k, dim=-1, largest=True, sorted=True):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    if x.size == 0:
        idx = np.take(_argsort(x, dim, largest), np.arange(k), axis=dim)
        return np.take_along_axis(x, idx, axis=dim), idx
    moved = np.moveaxis(x, dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    n = rows.shape[1]
    order = _argsort(rows, -1, largest)
    idx = order[:, :k].copy()
    # Where the k best (and the next) are all distinct, any correct selection gives these
    # indices in this order; ties (and an unsorted nth_element selection) take torch's
    # algorithm, row by row.
    best = np.take_along_axis(rows, order[:, :k + 1], axis=1)
    tied = best[:, 1:] == best[:, :-1]
    if best.dtype.kind == "f":
        tied |= np.isnan(best[:, 1:]) & np.isnan(best[:, :-1])
    redo = tied.any(axis=1)
    if not sorted and k * 64 > n:
        redo[:] = True
    for r in _within_budget(np.nonzero(redo)[0], n):
        idx[r] = stdsort.topk_positions(rows[r], k, largest, sorted)
    idx = np.moveaxis(idx.reshape(moved.shape[:-1] + (k,)), -1, dim)
    return np.take_along_axis(x, idx, axis=dim), idx


defop("topk", _topk_forward, _topk_rule, _scatter_back_vjp, node="TopkBackward0",
      save_out=(1,), saved_names=SAVES_INDICES, n_out=2,
      nondiff_outputs=(1,))
