"""Writes at indices: scatter and scatter_add (along a dim, at an index tensor's places),
index_add, index_copy, index_fill and index_reduce (whole slices at a vector's indices), and
masked_scatter (a source's elements, in order, where a mask is true).

Each is one op with torch's node name; its in-place form (`scatter_`, ...) is the row's
`inplace` method, so a write through a view, a leaf's refusal and version counting are
the in-place machinery's, as for `masked_fill_`. Each VJP reads the index again: the
gradient of what was written is gathered (`gather`, `index_select`, a mask's `index`),
and what was overwritten gets zeros.
"""
from __future__ import annotations


import numpy as np

from .. import dtypes
from ..autograd.record import call
from ..tensor import Tensor, _warn_once
from .math import _not_implemented
from . import layout, placing
from .rules import (broadcast_shapes, not_implemented, require_tensor, shape_of, unbroadcast,
                    wrap_dim)
from .shape import _gather_key
from .table import Meta, defop


def _sizes(shape) -> str:
    return f"[{', '.join(map(str, shape))}]"


def _size_or_1(t, d: int) -> int:
    """torch's ensure_nonempty_size: a 0-dim tensor counts as one element in dim 0."""
    return t.shape[wrap_dim(d, t.ndim)] if t.ndim else 1


# ---- scatter, scatter_add ----------------------------------------------------------------------

def _scatter_checks(x, idx, src, dim) -> None:
    """torch's scatter_meta checks, in its order (src is None for a number value); its words
    say scatter() for scatter_add too."""
    d = wrap_dim(dim, x.ndim)
    if idx.dtype not in dtypes.INDEX:
        raise RuntimeError("scatter(): Expected dtype int32/int64 for index")
    if src is not None and src.dtype is not x.dtype:
        raise RuntimeError("scatter(): Expected self.dtype to be equal to src.dtype")
    if idx.numel() == 0:
        return
    if src is not None and src.ndim != idx.ndim:
        if 0 < src.ndim < idx.ndim:  # torch reads src.size(d) for each of index's dims first
            wrap_dim(src.ndim, src.ndim)
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    if max(idx.ndim, 1) != max(x.ndim, 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as self tensor")
    dims = range(max(x.ndim, 1))
    wrong = any(k != d and _size_or_1(idx, k) > _size_or_1(x, k) for k in dims)
    if not wrong and src is not None:
        wrong = any(_size_or_1(idx, k) > _size_or_1(src, k) for k in dims)
    if wrong:
        tail = f" and to be no larger size than src {_sizes(src.shape)}" if src is not None else ""
        raise RuntimeError(f"Expected index {_sizes(idx.shape)} to be no larger than self "
                           f"{_sizes(x.shape)} apart from dimension {d}{tail}")


def _scatter_rule(x, idx, src=None, *, dim, value=None):
    _scatter_checks(x, idx, src, dim)
    if value is not None:  # (a number, which its kernel takes in x's dtype)
        dtypes.check_scalar_fits(value, x.dtype)
    return Meta(x.shape, x.dtype)


def _scatter_add_rule(x, idx, src, *, dim):
    _scatter_checks(x, idx, src, dim)
    return Meta(x.shape, x.dtype)


def _scatter_places(x, idx, dim):
    """x (a copy, at least 1-d) and the key of the places idx names along dim, checked."""
    out = np.array(x, copy=True).reshape(x.shape or (1,))
    idx = idx.reshape(idx.shape or (1,))
    size = out.shape[dim]
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        raise RuntimeError(f"index {int(idx[bad][0])} is out of bounds for dimension {dim} with "
                           f"size {size}")
    return out, _gather_key(idx, dim), idx.shape


def _src_part(src, shape):
    """The part of src that idx reads: its leading `shape` block (src may be larger)."""
    src = np.asarray(src)
    return src.reshape(src.shape or (1,))[tuple(slice(0, n) for n in shape)]


def _scatter(x, idx, src=None, *, dim, value=None):
    out, key, shape = _scatter_places(x, idx, wrap_dim(dim, x.ndim))
    out[key] = _src_part(src, shape) if src is not None else value
    return out.reshape(x.shape)


def _scatter_add(x, idx, src, *, dim):
    out, key, shape = _scatter_places(x, idx, wrap_dim(dim, x.ndim))
    np.add.at(out, key, _src_part(src, shape))
    return out.reshape(x.shape)


def _gathered_for_src(c, g):
    """The gradient of src: g at the places written, zeros where src was not read."""
    gs = call("take_along_dim", g, c[1], dim=wrap_dim(c.attrs["dim"], g.ndim))
    src_shape = c.shapes[2]
    if tuple(gs.shape) != tuple(src_shape) and len(src_shape) == gs.ndim:
        pad = []
        for have, want in zip(reversed(gs.shape), reversed(src_shape)):
            pad += [0, want - have]
        gs = call("constant_pad_nd", gs, pad=pad)
    return gs


def _scatter_vjp(c, g):
    gx = call("scatter", g, c[1], dim=c.attrs["dim"], value=0.0) if c.needs[0] else None
    gs = _gathered_for_src(c, g) if len(c.shapes) > 2 and c.needs[2] else None
    return gx, None, gs


def _scatter_add_vjp(c, g):
    return (g if c.needs[0] else None), None, (_gathered_for_src(c, g) if c.needs[2] else None)


defop("scatter", _scatter, _scatter_rule, _scatter_vjp, save=(1,), differentiable=(0, 2),
      node=lambda inputs, attrs: "ScatterBackward0" if len(inputs) > 2 else "ScatterBackward1",
      api=("scatter",), inplace="scatter_")
defop("scatter_add", _scatter_add, _scatter_add_rule, _scatter_add_vjp, save=(1,),
      save_for={2: (1,)}, differentiable=(0, 2), node="ScatterAddBackward0", api=("scatter_add",),
      inplace="scatter_add_")


# scatter(reduce="add" | "multiply"): torch's older form, which has no derivative.
_REDUCE = {"add": np.add, "multiply": np.multiply}


def _scatter_reduce_rule(x, idx, src=None, *, dim, reduce, value=None):
    if reduce not in _REDUCE:
        raise RuntimeError("reduce argument must be either add or multiply.")
    return _scatter_rule(x, idx, src, dim=dim, value=value)


def _scatter_reduce(x, idx, src=None, *, dim, reduce, value=None):
    out, key, shape = _scatter_places(x, idx, wrap_dim(dim, x.ndim))
    part = _src_part(src, shape) if src is not None else np.asarray(value).astype(out.dtype)
    _REDUCE[reduce].at(out, key, part)
    return out.reshape(x.shape)


defop("scatter_reduce_legacy", _scatter_reduce, _scatter_reduce_rule, _not_implemented("scatter"),
      differentiable=(0, 2), node="torch::autograd::NotImplemented")


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """Out of place: input with src's values (or `value`) at index's places along dim;
    with `reduce`, added to or multiplied into them."""
    if src is None:
        src = value
    op, attrs = ("scatter", {}) if reduce is None else ("scatter_reduce_legacy", {"reduce": reduce})
    if isinstance(src, Tensor):
        if reduce is not None:
            _warn_once("The reduce argument of torch.scatter with Tensor src is deprecated and "
                       "will be removed in a future PyTorch release. Use torch.scatter_reduce "
                       "instead for more reduction options.",
                       "native/TensorAdvancedIndexing.cpp:225")
        return call(op, input, index, src, dim=dim, **attrs)
    return call(op, input, index, dim=dim, value=src, **attrs)


def scatter_add(input, dim, index, src):
    require_tensor("scatter_add", "src", 3, src)
    return call("scatter_add", input, index, src, dim=dim)


# ---- index_add, index_copy, index_fill ---------------------------------------------------------

def _out_of_bounds(idx, size: int, dim: int, prefix: str = "", negative_ok: bool = False):
    low = -size if negative_ok else 0
    bad = (idx < low) | (idx >= size)
    if bad.any():
        return (f"{prefix}index {int(idx[bad][0])} is out of bounds for dimension {dim} with "
                f"size {size}")
    return None


def _slices_at(dim: int, idx):
    """numpy's key for the slices at idx along dim."""
    return (slice(None),) * dim + (idx,)


def _index_add_rule(x, idx, source, *, dim, alpha=1):
    return _index_source_checks("index_add_", x, idx, source, dim)


def _index_source_checks(name: str, x, idx, source, dim) -> Meta:
    """torch's checks of index_add_ and index_reduce_, which take source's slices."""
    d = wrap_dim(dim, x.ndim)
    if idx.ndim > 1:
        raise IndexError(f"{name}(): Index is supposed to be a vector, but got dim: {idx.ndim} "
                         f"with type: {idx.dtype.long_name} and size: {_sizes(idx.shape)}")
    if idx.dtype not in dtypes.INDEX:
        raise RuntimeError(f"{name}(): Expected dtype int32/int64 for index but got: "
                           f"{idx.dtype.long_name}")
    if source.dtype is not x.dtype:
        raise RuntimeError(f"{name}(): self ({x.dtype.long_name}) and source "
                           f"({source.dtype.long_name}) must have the same scalar type")
    if x.ndim and source.ndim and idx.numel() != source.shape[d]:
        raise RuntimeError(f"{name}(): Number of indices ({idx.numel()}) should be equal to "
                           f"source.size(dim): ({source.shape[d]}), for dim: {d}")
    if (max(x.ndim, 1) != max(source.ndim, 1) or
            any(k != d and _size_or_1(x, k) != _size_or_1(source, k)
                for k in range(max(x.ndim, 1)))):
        raise RuntimeError("source tensor shape must match self tensor shape, excluding the "
                           f"specified dimension. Got self.shape = {_sizes(x.shape)} "
                           f"source.shape = {_sizes(source.shape)}")
    return Meta(x.shape, x.dtype)


def _index_add(x, idx, source, *, dim, alpha=1):
    out = np.array(x, copy=True).reshape(x.shape or (1,))
    d = wrap_dim(dim, x.ndim)
    idx = np.atleast_1d(idx)
    problem = _out_of_bounds(idx, out.shape[d], d)
    if problem:
        raise RuntimeError(problem)
    source = np.asarray(source).reshape(source.shape or (1,))
    if alpha != 1:
        source = source * np.asarray(alpha).astype(out.dtype)
    np.add.at(out, _slices_at(d, idx), source)
    return out.reshape(x.shape)


def _selected(c, g, source_shape):
    """g's slices at the index, shaped as the source (which may be 0-dim). The source is
    unpacked, so its version checked: torch saves it for the source's gradient (expand_as)."""
    c[2]  # noqa: B018
    gs = call("index_select", g, c[1], dim=c.attrs["dim"])
    if tuple(gs.shape) != tuple(source_shape):
        gs = gs.reshape(tuple(source_shape))
    # (torch's expand_as, an ExpandBackward0 node, for a source of one dim or more)
    return gs.expand(tuple(source_shape)) if source_shape else gs


def _index_add_vjp(c, g):
    gs = None
    if c.needs[2]:
        gs = _selected(c, g, c.shapes[2])
        alpha = c.attrs.get("alpha", 1)
        # (torch's maybe_multiply, by a Scalar: MulBackward1)
        gs = call("mul_number", gs, other=alpha) if alpha != 1 else gs
    return (g if c.needs[0] else None), None, gs


defop("index_add", _index_add, _index_add_rule, _index_add_vjp, save=(1, 2),
      save_for={2: (1, 2)}, differentiable=(0, 2), node="IndexAddBackward0", api=("index_add",),
      inplace="index_add_")


# index_reduce: scatter_reduce of source's slices (ops/placing.py), torch's IndexReduceBackward0
_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")


def _index_reduce_rule(x, idx, source, *, dim, reduce, include_self=True):
    meta = _index_source_checks("index_reduce_", x, idx, source, dim)
    # torch's kernel for at most one dim takes no bools; the other divides a mean by floor
    if x.dtype is dtypes.bool_ and (x.ndim <= 1 or reduce == "mean"):
        raise not_implemented("index_func_" if x.ndim <= 1 else "div_floor_cpu", x.dtype)
    return meta


def _index_reduce(x, idx, source, *, dim, reduce, include_self=True):
    d = wrap_dim(dim, np.ndim(x))
    out = np.asarray(x).reshape(np.shape(x) or (1,))
    idx = np.atleast_1d(idx)
    if ((idx < 0) | (idx >= out.shape[d])).any():
        raise IndexError("index out of range in self")
    source = np.asarray(source).reshape(np.shape(source) or (1,))
    places = np.broadcast_to(idx.reshape([-1 if k == d else 1 for k in range(source.ndim)]),
                             source.shape)
    return placing._scatter_reduce(out, places, source, dim=d, reduce=reduce,
                                   include_self=include_self).reshape(np.shape(x))


def _index_reduce_vjp(c, g):
    idx, d = c[1], wrap_dim(c.attrs["dim"], max(len(c.shapes[0]), 1))
    return placing.reduce_at_backward(
        c, g, lambda t: call("index_select", t, idx, dim=d),
        lambda t, s: call("index_add", t, idx, s, dim=d),
        lambda x, src: call("index_reduce", x, idx, src, **c.attrs),
        lambda t: call("index_fill", t, idx, dim=d, value=0.0), "index_reduce", "source")


defop("index_reduce", _index_reduce, _index_reduce_rule, _index_reduce_vjp, save=(0, 1, 2),
      save_out=True, differentiable=(0, 2), node="IndexReduceBackward0", api=("index_reduce",),
      inplace="index_reduce_")


def _index_copy_rule(x, idx, source, *, dim):
    d = wrap_dim(dim, x.ndim)  # torch's checks, in its order
    if idx.ndim > 1:
        raise IndexError(f"index_copy_(): Index should have dimension 1 or 0 (got {idx.ndim})")
    if source.ndim == 0 and idx.numel() != 1:
        raise IndexError("index_copy_(): When source is scalar, index should have one element "
                         f"(got {idx.numel()})")
    if source.ndim != x.ndim and source.ndim and x.ndim:
        raise IndexError("index_copy_(): When source and destination are not scalars, their "
                         f"dimensionality must match. Source dimensionality ({source.ndim}), "
                         f"destination dimensionality ({x.ndim})")
    if idx.dtype is not dtypes.int64:
        raise RuntimeError(f"index_copy_(): Expected a long tensor for index, but got "
                           f"{idx.dtype.long_name}")
    if x.dtype is not source.dtype:
        raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but "
                           f"got (self) {x.dtype.long_name} and (source) {source.dtype.long_name}")
    x_slice = [n for k, n in enumerate(x.shape) if k != d]
    source_slice = [n for k, n in enumerate(source.shape) if k != d]
    if x_slice != source_slice:
        raise RuntimeError("index_copy_(): Source/destination tensor must have same slice shapes. "
                           f"Destination slice shape: {' '.join(map(str, x_slice))} at dimension "
                           f"{d} and source slice shape: {' '.join(map(str, source_slice))} at "
                           "dimension 0.")
    if source.ndim and idx.numel() != source.shape[d]:
        raise IndexError(f"index_copy_(): Number of indices ({idx.numel()}) should be equal to "
                         f"source.size(dim) ({source.shape[d]})")
    return Meta(x.shape, x.dtype)


def _index_copy(x, idx, source, *, dim):
    out = np.array(x, copy=True).reshape(x.shape or (1,))
    d = wrap_dim(dim, x.ndim)
    idx = np.atleast_1d(idx)
    problem = _out_of_bounds(idx, out.shape[d], d, "index_copy_(): ")
    if problem:
        raise IndexError(problem)
    out[_slices_at(d, idx)] = np.asarray(source).reshape(source.shape or (1,))
    return out.reshape(x.shape)


def _index_copy_vjp(c, g):
    gx = call("index_fill", g, c[1], dim=c.attrs["dim"], value=0.0) if c.needs[0] else None
    return gx, None, (_selected(c, g, c.shapes[2]) if c.needs[2] else None)


defop("index_copy", _index_copy, _index_copy_rule, _index_copy_vjp, save=(1, 2),
      save_for={0: (1,), 2: (1, 2)}, differentiable=(0, 2), node="IndexCopyBackward0",
      api=("index_copy",), inplace="index_copy_")


# The fill value is an attr (a number: IndexFillBackward0) or a 0-dim tensor (IndexFillBackward1).
def _index_fill_rule(x, idx, value=None, *, dim):
    wrap_dim(dim, x.ndim)
    if idx.dtype is not dtypes.int64:
        raise IndexError("index_fill_(): Expected dtype int64 for index.")
    if hasattr(value, "shape") and value.ndim:
        raise RuntimeError("index_fill_ only supports a 0-dimensional value tensor, but got tensor "
                           f"with {value.ndim} dimension(s).")
    if idx.ndim > 1:
        raise RuntimeError("Index has to be a vector/scalar")
    if not hasattr(value, "shape"):  # (a number, which its kernel takes in x's dtype)
        dtypes.check_scalar_fits(value, x.dtype)
    return Meta(x.shape, x.dtype)


def _index_fill(x, idx, value=None, *, dim):
    out = np.array(x, copy=True).reshape(x.shape or (1,))
    d = wrap_dim(dim, x.ndim)
    idx = np.atleast_1d(idx)
    problem = _out_of_bounds(idx, out.shape[d], d, negative_ok=True)
    if problem:
        raise IndexError(problem)
    out[_slices_at(d, idx)] = np.asarray(value).astype(out.dtype)
    return out.reshape(x.shape)


def _index_fill_vjp(c, g):
    gx = call("index_fill", g, c[1], dim=c.attrs["dim"], value=0.0) if c.needs[0] else None
    gv = None
    if len(c.shapes) > 2 and c.needs[2]:
        # each filled place once, however often the index names it (torch: unique indices)
        filled = call("full", shape=list(g.shape), value=False, dtype="bool", _device=g.device_str)
        filled = call("index_fill", filled, c[1], dim=c.attrs["dim"], value=True)
        gv = call("where", filled, g, 0.0).sum()
    return gx, None, gv


# (torch's index_fill is clone(preserve_format).index_fill_(...): the result laid out as x)
defop("index_fill", _index_fill, _index_fill_rule, _index_fill_vjp, save=(1,),
      differentiable=(0, 2), layout_rule=layout.like_first,
      node=lambda inputs, attrs: "IndexFillBackward1" if len(inputs) > 2 else "IndexFillBackward0",
      api=("index_fill",), inplace="index_fill_")


def index_add(input, dim, index, source, *, alpha=1):
    require_tensor("index_add", "source", 3, source)
    scale = {"alpha": alpha} if alpha != 1 else {}
    return call("index_add", input, index, source, dim=dim, **scale)


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    require_tensor("index_reduce", "source", 3, source)
    _warn_once("index_reduce() is in beta and the API may change at any time.",
               "native/TensorAdvancedIndexing.cpp:1523")
    if reduce not in _INDEX_REDUCTIONS:
        raise RuntimeError("index_reduce(): Expected reduce to be one of prod, mean, amax or amin "
                           f"but got {reduce}.")
    return call("index_reduce", input, index, source, dim=dim, reduce=reduce,
                include_self=bool(include_self))


def index_copy(input, dim, index, source):
    return call("index_copy", input, index, source, dim=dim)


def index_fill(input, dim, index, value):
    if isinstance(value, Tensor):
        return call("index_fill", input, index, value, dim=dim)
    return call("index_fill", input, index, dim=dim, value=value)


# ---- masked_scatter ------------------------------------------------------------------------------

def _masked_scatter_rule(x, mask, source):
    masked_scatter_dtypes(x, mask, source)
    return Meta(broadcast_shapes(shape_of(mask), shape_of(x)), x.dtype)


def masked_scatter_dtypes(x, mask, source) -> None:
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError("masked_scatter_ only supports boolean masks, but got mask with dtype "
                           f"{mask.dtype.long_name}")
    if source.dtype is not x.dtype:
        raise RuntimeError("masked_scatter: expected self and source to have same dtypes but got"
                           f"{x.dtype.long_name} and {source.dtype.long_name}")


def _masked_scatter(x, mask, source):
    shape = np.broadcast_shapes(x.shape, mask.shape)
    out = np.array(np.broadcast_to(x, shape), copy=True)
    mask = np.broadcast_to(mask, shape)
    n = int(mask.sum())
    if n > source.size:
        raise RuntimeError("Number of elements of source < number of ones in mask")
    out[mask] = np.asarray(source).reshape(-1)[:n]
    return out


def _masked_scatter_vjp(c, g):
    mask = c[1]
    gx = unbroadcast(g.masked_fill(mask, 0.0), c.shapes[0]) if c.needs[0] else None
    gs = None
    if c.needs[2]:
        # g where the mask is set, in order, then zeros for the source's unread tail
        read = g[mask.expand(tuple(g.shape))]
        size = 1
        for n in c.shapes[2]:
            size *= n
        if read.shape[0] != size:
            read = call("constant_pad_nd", read, pad=[0, size - read.shape[0]])
        # (torch's masked_scatter_backward is an op of its own: its result is no view)
        gs = call("reshape_copy", read, shape=list(c.shapes[2]))
    return gx, None, gs


defop("masked_scatter", _masked_scatter, _masked_scatter_rule, _masked_scatter_vjp, save=(1,),
      differentiable=(0, 2), node="MaskedScatterBackward0", api=("masked_scatter",),
      params=("input", "mask", "source"), inplace="masked_scatter_")
