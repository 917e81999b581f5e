"""Reads and writes at places: take and put (flat indices), index_put with accumulate,
masked_select, scatter_reduce, the *_scatter family (a select, slice or diagonal of a
copy replaced by a source), fill_diagonal_ and the in-place tril_, triu_, cumsum_ and cumprod_.

Each op has torch's node name; its VJP is made of distgrad ops (take and put are each
other's transpose, a *_scatter's gradient is the region of g and g with the region
zeroed), so gradients of gradients work.
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from ..tensor import Tensor
from . import layout
from .api import in_place
from .indexing import (_BYTE_FILL, _UINT8_KEY, _check_mask, _mask_to_indices, numpy_key,
                       require_put_dtype, write_in_order)
from .math import check_masked_fill_args
from .rules import (broadcast_shapes, not_implemented, same, unbroadcast, wrap_dim, written,
                    zeros_grad)
from .shape import _gather_key
from .table import Meta, defop


def _index_dtype(name: str, index) -> None:
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"{name}(): Expected a long tensor for index, but got "
                           f"{index.dtype.long_name}")


# ---- take / put: flat indices into the row-major order ---------------------------------------

def _flat_places(x, idx, name: str = "take"):
    n = x.size
    idx = np.asarray(idx)
    bad = (idx < -n) | (idx >= n)
    if bad.any():
        raise IndexError(f"out of range: tried to access index {int(idx[bad].flat[0])} on a tensor "
                         f"of {n} elements.")
    return np.where(idx < 0, idx + n, idx)


def _take(x, idx):
    return np.asarray(x).reshape(-1)[_flat_places(x, idx)]


def _take_rule(x, idx):
    _index_dtype("take", idx)
    if x.numel() == 0 and idx.numel():
        raise IndexError("take(): tried to take from an empty tensor")
    return Meta(idx.shape, x.dtype)


def _take_vjp(c, g):
    c[0]  # noqa: B018  (torch's take_backward(grad, self, index) saves and unpacks self)
    return written(call("put", zeros_grad(c.shapes[0], g.dtype, g.device_str), c[1], g,
                        accumulate=True)), None  # (torch's put_)


defop("take", _take, _take_rule, _take_vjp, node="TakeBackward0", save=(0, 1),
      differentiable=(0,))


def _put(x, idx, src, accumulate=False):
    out = np.array(x, order="C", copy=True)  # (row-major: `flat` must be a view of it)
    flat = out.reshape(-1)
    places = _flat_places(x, idx, "put").reshape(-1)
    values = np.asarray(src).reshape(-1)
    if accumulate:
        np.add.at(flat, places, values)
    else:
        flat[places] = values
    return out


def _put_rule(x, idx, src, accumulate=False):
    _index_dtype("put_", idx)
    if idx.numel() != src.numel():
        raise IndexError(f"put_(): Expected source and index to have the same number of "
                           f"elements, but got source.numel() = {src.numel()}, index.numel() = "
                           f"{idx.numel()}")
    if src.dtype is not x.dtype:
        raise RuntimeError(f"put_(): self and source expected to have the same dtype, but got "
                           f"self.dtype = {x.dtype.long_name} and source.dtype = "
                           f"{src.dtype.long_name}")
    return Meta(x.shape, x.dtype)


def _put_vjp(c, g):
    gx = gs = None
    if c.needs[0]:
        gx = g if c.attrs.get("accumulate") else call(
            "put", g, c[1], zeros_grad(c.shapes[2], g.dtype, g.device_str))
    if c.needs[2]:
        c[2]  # noqa: B018  (torch saves source for its gradient (reshape_as) and unpacks it)
        gs = call("take", g, c[1]).reshape(c.shapes[2])
    return gx, None, gs


# (torch's put is self.clone(preserve_format).put_(...): the result laid out as self)
defop("put", _put, _put_rule, _put_vjp, node="PutBackward0", save=(1, 2),
      save_for={0: (1,), 2: (1, 2)}, differentiable=(0, 2), layout_rule=layout.like_first)


def take(input, index):
    return call("take", input, index)


def put(input, index, source, accumulate=False):
    return call("put", input, index, source, accumulate=bool(accumulate))


def _put_(self, index, source, accumulate=False):
    self._check_no_partial_overlap(source, same_too=True)
    return in_place(self, put, index, source, accumulate)


def take_along_dim(input, indices, dim=None):
    """torch.take_along_dim: a gather along `dim` of indices broadcast against input (all
    but `dim`), or of the flattened input when dim is None."""
    if indices.dtype is not dtypes.int64:
        raise RuntimeError(f"torch.take_along_dim(): dtype of indices should be Long but got "
                           f"{indices.dtype.type_name.split('.')[-1][:-len('Tensor')]}")
    if dim is None:  # (torch takes no negative index here, and views both: no copy of either)
        return call("take_along_dim", input.view(-1), indices.view(-1), dim=0)
    if input.ndim != indices.ndim:
        raise RuntimeError(f"torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {input.ndim} dimensions for input, "
                           f"and {indices.ndim} dimensions for indices")
    d = wrap_dim(dim, input.ndim)
    shape_i, shape_x = list(indices.shape), list(input.shape)
    shape_i[d] = shape_x[d] = 1
    common = list(broadcast_shapes(tuple(shape_x), tuple(shape_i)))
    want_x = common[:d] + [input.shape[d]] + common[d + 1:]
    want_i = common[:d] + [indices.shape[d]] + common[d + 1:]
    input = call("expand", input, shape=want_x)  # (torch expands it even to its own shape)
    if list(indices.shape) != want_i:
        indices = indices.expand(*want_i)
    return call("take_along_dim", input, _wrapped(indices, input.shape[d]), dim=d)


def _wrapped(indices, size: int):
    """Negative indices counted from the end, as torch's take_along_dim along a dim counts
    them (gather, the op under it, refuses them; beyond -size it raises, where torch reads
    whatever memory is there)."""
    return indices.where(indices >= 0, indices + size)


# ---- index_put with accumulate ---------------------------------------------------------------

def _index_put_acc(x, v, *idx, key):
    from .indexing import _check_in_range

    _check_in_range(x.shape, idx, key)
    out = np.array(x, copy=True)
    k = numpy_key(key, idx)
    np.add.at(out, k, np.broadcast_to(v, out[k].shape))
    return out


def _index_put_acc_rule(x, v, *idx, key):
    from .indexing import _put_rule as rule

    return rule(x, v, *idx, key=key)


def _index_put_acc_vjp(c, g):
    idx = c._inputs[2:]
    gv = None
    if c.needs[1]:
        gv = unbroadcast(call("index", g, *idx, key=c.attrs["key"]), c.shapes[1])
    return (g if c.needs[0] else None, gv) + (None,) * len(idx)


defop("index_put_accumulate", _index_put_acc, _index_put_acc_rule, _index_put_acc_vjp,
      node="IndexPutBackward0", save=tuple(range(2, 66)), differentiable=(0, 1),
      layout_rule=layout.like_first)


def index_put(input, indices, values, accumulate=False):
    key, tensors = _index_put_key(input, indices, values, accumulate)
    if accumulate:
        return call("index_put_accumulate", input, values, *tensors, key=key)
    filled = _filled_by_0d_mask(indices, values, accumulate)
    tensors = _with_0d_mask(tensors, indices, filled, input.device_str)
    return call("index_put", input, values, *tensors, key=key, **filled)


def _filled_by_0d_mask(indices, values, accumulate) -> dict:
    """index_put's attrs for a put that fills one value by a lone 0-dim bool mask (whose
    gradient for the value torch reads by the mask alone: its assertion fails)."""
    given = [ix for ix in indices if ix is not None]
    lone = not accumulate and values.numel() == 1 and len(given) == 1
    return {"mask_0d": True} if lone and given[0].ndim == 0 and \
        given[0].dtype is dtypes.bool_ else {}


def _with_0d_mask(tensors, indices, filled: dict, device: str) -> list:
    """A put filled by a lone True 0-dim mask (no index tensor left) keeps the mask (as an
    index tensor) among its operands, which its key does not use: torch's IndexPutBackward0
    saves it, so a second backward through the node is refused as any other put's."""
    if not filled or tensors:
        return tensors
    mask = next(ix for ix in indices if ix is not None)
    return [mask.to(dtype=dtypes.int64, device=device)]


def _index_put_key(input, indices, values, accumulate=False):
    """index_put's checks, and its key and index tensors (a bool mask as its nonzero's; a
    uint8 one read as a mask, with torch's deprecation warning, or refused where torch
    writes it by masked_fill_: the one index, and a value of one element)."""
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put(): argument 'values' (position 3) must be Tensor, not "
                        f"{type(values).__name__}")
    if len(indices) > input.ndim:
        raise IndexError(f"too many indices for tensor of dimension {input.ndim} (got "
                         f"{len(indices)})")
    key, tensors = [], []
    dim = 0  # the dim of input the index starts at
    given = [ix for ix in indices if ix is not None]
    filled = not accumulate and values.numel() == 1 and len(given) == 1
    indices = _without_0d_masks(input, indices, filled)
    for ix in indices:
        if ix is None:
            key.append(["s", None, None, None])
            dim += 1
            continue
        byte = ix.dtype is dtypes.uint8
        if byte:  # (torch still reads it as a mask, deprecated)
            if not filled:
                warnings.warn(_UINT8_KEY, UserWarning, stacklevel=3)
            ix = ix.bool()
        if ix.dtype is dtypes.bool_:
            _check_mask(ix, input, dim)
            if byte and filled:
                raise RuntimeError(_BYTE_FILL)
        dim += max(ix.ndim, 1) if ix.dtype is dtypes.bool_ else 1
        parts = _mask_to_indices(ix) if ix.dtype is dtypes.bool_ else [ix]
        for p in parts:
            key.append(["t", len(tensors)])
            tensors.append(p)
    if not (filled and given[0].dtype in (dtypes.bool_, dtypes.uint8)):  # (masked_fill_ casts)
        require_put_dtype(input, values, tensors, key)
    return key, tensors


NO_INDEX_LEFT = ('ntensor >= 3 INTERNAL ASSERT FAILED at "/__w/pytorch/pytorch/aten/src/ATen/'
                  'native/cpu/IndexKernelUtils.h":8, please report a bug to PyTorch. ')


def _without_0d_masks(input, indices, filled: bool) -> list:
    """index_put's indices as torch's kernel takes a 0-dim bool mask: as masked_fill_'s mask
    when it fills one value (True: everything, False: nothing), else as no index at all,
    whatever its value; a kernel left with no index tensor fails torch's assertion."""
    zero_d = [ix is not None and ix.ndim == 0 and ix.dtype in (dtypes.bool_, dtypes.uint8)
              for ix in indices]
    if not any(zero_d):
        return list(indices)
    if filled:
        mask = next(ix for ix, z in zip(indices, zero_d) if z)
        if mask.dtype is dtypes.uint8:  # (refused below, as masked_fill_ refuses it)
            return list(indices)
        if bool(mask) or input.ndim == 0:
            return []
        from ..creation import tensor

        return [tensor([], dtype=dtypes.int64, device=input.device_str)]  # (selects nothing)
    kept = [ix for ix, z in zip(indices, zero_d) if not z]
    if all(ix is None for ix in kept):
        raise RuntimeError(NO_INDEX_LEFT)
    return kept


def _index_put_(self, indices, values, accumulate=False):
    self._check_no_partial_overlap(values, same_too=True)
    self._check_write_to_stale_view()
    key, tensors = _index_put_key(self, indices, values, accumulate)
    filled = _filled_by_0d_mask(indices, values, accumulate)
    write_in_order(self, values, _with_0d_mask(tensors, indices, filled, self.device_str), key,
                   accumulate=accumulate, **filled)
    return self


def _masked_fill_(self, mask, value):
    """torch's masked_fill_; into an expanded tensor (torch warns that this is deprecated)
    as `self[mask] = value`: each memory place a masked element shows takes the value."""
    from . import functions

    if isinstance(mask, Tensor):
        self._check_no_partial_overlap(mask)
        check_masked_fill_args(mask, value)
        broadcast_shapes(self.shape, mask.shape)  # (in place, self is the first to broadcast)
    if not (isinstance(mask, Tensor) and self._has_internal_overlap()):
        return in_place(self, functions.masked_fill, mask, value)
    with grad_mode.no_grad():
        functions.masked_fill(self.detach(), mask, value)  # (its checks and errors)
    self._check_write_to_stale_view()
    tensors = _mask_to_indices(mask.expand(self.shape))
    write_in_order(self, value, tensors, [["t", k] for k in range(len(tensors))],
                   op="masked_fill_")
    return self


def filling_expanded(generated):
    """index_fill_ (`generated`, the op table's method) also into an expanded tensor, which
    torch allows (it warns that this is deprecated): as masked_fill_ there, by the mask of the
    filled slices, each memory place a filled element shows takes the value."""
    from . import functions

    def index_fill_(self, *args, **kwargs):
        if not self._has_internal_overlap():
            return generated(self, *args, **kwargs)
        with grad_mode.no_grad():
            functions.index_fill(self.detach(), *args, **kwargs)  # (its checks and errors)
        dim, index, value = _fill_arguments(*args, **kwargs)
        unfilled = call("full", shape=list(self.shape), value=False, dtype="bool",
                        _device=self.device_str)
        mask = call("index_fill", unfilled, index, dim=dim, value=True)
        self._check_write_to_stale_view()
        tensors = _mask_to_indices(mask)
        write_in_order(self, value, tensors, [["t", k] for k in range(len(tensors))],
                       op="index_fill_")
        return self
    return index_fill_


def _fill_arguments(dim, index, value):
    return dim, index, value


def _masked_scatter_(self, mask, source):
    """torch's masked_scatter_: its mask expanded to self (expand's errors), never self
    broadcast to the mask."""
    from . import functions
    from .scatter import masked_scatter_dtypes
    from .shape import expanded_shape

    if isinstance(mask, Tensor) and isinstance(source, Tensor):
        masked_scatter_dtypes(self, mask, source)
        expanded_shape(mask.shape, self.shape, mask.dtype)
    return in_place(self, functions.masked_scatter, mask, source)


# ---- masked_select --------------------------------------------------------------------------

def _masked_select_vjp(c, g):
    c[0]  # noqa: B018  (torch's masked_select_backward(grad, self, mask) saves and unpacks self)
    shape = tuple(broadcast_shapes(tuple(c.shapes[0]), tuple(c.shapes[1])))
    mask = c[1] if tuple(c.shapes[1]) == shape else call("expand", c[1], shape=list(shape))
    zeros = zeros_grad(shape, g.dtype, g.device_str)
    return unbroadcast(written(call("masked_scatter", zeros, mask, g)),  # (masked_scatter_)
                       c.shapes[0]), None


def masked_select(input, mask):
    """The elements of input (broadcast with mask) where mask is true, as a 1-d tensor."""
    if mask.dtype is not dtypes.bool_:
        raise RuntimeError("masked_select: expected BoolTensor for mask")
    # (mask first: torch's expand_outplace(mask, input) names the mask "tensor a")
    shape = tuple(broadcast_shapes(tuple(mask.shape), tuple(input.shape)))
    m = mask._numpy_value()
    n = int(np.count_nonzero(np.broadcast_to(m, shape)))
    return call("masked_select", input, mask, n=n)


def _masked_select(x, m, n):
    shape = np.broadcast_shapes(np.shape(x), np.shape(m))
    return np.broadcast_to(x, shape)[np.broadcast_to(m, shape)]


defop("masked_select", _masked_select, lambda x, m, n: Meta((n,), x.dtype), _masked_select_vjp,
      node="MaskedSelectBackward0", save=(0, 1), differentiable=(0,))


# ---- scatter_reduce -------------------------------------------------------------------------

_UFUNC = {"sum": np.add, "prod": np.multiply, "mean": np.add, "amax": np.maximum,
          "amin": np.minimum}
# torch's forward takes "max" and "min" for amax and amin; its backward refuses them
_ALIAS = {"max": "amax", "min": "amin"}


def _identity(reduce: str, dtype):
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    if np.dtype(dtype).kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is None:
        return reduce == "amin"
    return info.min if reduce == "amax" else info.max


def _scatter_reduce(x, idx, src, *, dim, reduce, include_self=True):
    reduce = _ALIAS.get(reduce, reduce)
    out = np.array(x, copy=True).reshape(x.shape or (1,))
    idx = np.asarray(idx).reshape(idx.shape or (1,))
    size = out.shape[dim]
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        raise RuntimeError(f"index {int(idx[bad][0])} is out of bounds for dimension {dim} with "
                           f"size {size}")
    key = _gather_key(idx, dim)
    part = np.asarray(src).reshape(np.shape(src) or (1,))[tuple(slice(0, n) for n in idx.shape)]
    if not include_self:
        out[key] = _identity(reduce, out.dtype)
    _UFUNC[reduce].at(out, key, part)
    if reduce == "mean":
        counts = np.ones(out.shape, np.int64) if include_self else np.zeros(out.shape, np.int64)
        np.add.at(counts, key, 1)
        counts = np.maximum(counts, 1)
        out = out / counts if out.dtype.kind == "f" else out // counts
    return out.reshape(np.shape(x)).astype(np.asarray(x).dtype)


def _scatter_reduce_rule(x, idx, src, *, dim, reduce, include_self=True):
    from .scatter import _scatter_checks

    _scatter_checks(x, idx, src, dim)
    if src.dtype is not x.dtype:
        raise RuntimeError(f"scatter(): Expected self.dtype to be equal to src.dtype")
    return Meta(x.shape, x.dtype)


def _delayed_error_vjp(c, g):
    raise RuntimeError(c.attrs["message"])


# torch's DelayedError: its input's data, through a node whose backward raises `message`
# (a gradient formula valid once, not twice)
defop("delayed_error", lambda x, message: x, same, _delayed_error_vjp,
      node="torch::autograd::Error", alias=True, strides=layout.same)


def reduce_at_backward(c, g, gather, add_at, again, zero_at, name="scatter_reduce",
                       source="src"):
    """torch's scatter_reduce_backward and index_reduce_backward, one formula over their
    places: gather(t) reads t where the source went (take_along_dim, index_select), add_at
    (t, s) adds s there (scatter_add, index_add), again(x, src) is the forward with other
    operands and zero_at(t) zeroes those places of t (scatter, index_fill); `name` and
    `source` word the error of a double backward through a product's source gradient."""
    x, src, reduce, include_self = c[0], c[2], c.attrs["reduce"], c.attrs["include_self"]
    result = c.out
    if reduce == "sum":
        gx, gs = g, gather(g)
    elif reduce == "mean":
        n = call("full", shape=list(g.shape), value=1.0 if include_self else 0.0,
                 dtype=g.dtype.name, _device=g.device_str)
        n = add_at(n, call("full", shape=list(src.shape), value=1.0, dtype=g.dtype.name,
                           _device=g.device_str))
        n = call("masked_fill", n, call("eq", n, 0.0), value=1.0)
        gx, gs = g / n, gather(g) / gather(n)
    elif reduce == "prod":
        masked_x = call("masked_fill", x, call("eq", x, 0.0), value=1.0)
        gx = g * again(masked_x, src) / masked_x
        src_zero = call("eq", src, 0.0)
        zeros_at = add_at(zeros_grad(c.shapes[0], g.dtype, g.device_str), src_zero.to(g.dtype))
        single = call("logical_and", src_zero, call("eq", gather(zeros_at), 1.0))
        masked_src = call("masked_fill", src, single, value=1.0)
        gs = call("where", single, gather(g * again(x, masked_src)),
                  gather(g * result) / call("masked_fill", src, src_zero, value=1.0))
        if gs.requires_grad and bool(call("gt", gather(zeros_at), 1.0).any()):
            gs = call("delayed_error", gs, message=(
                f"{name}(): Double backward is unsupported for {source} when >1 zeros in "
                f"{source} are scattered to the same position in self"))
    else:  # amax, amin: the gradient shared evenly among the places that hold the result
        value = gather(result)
        x_is = call("eq", x, result).to(g.dtype)
        src_is = call("eq", src, value).to(g.dtype)
        shared = g / add_at(x_is, src_is)
        gx, gs = x_is * shared, src_is * gather(shared)
    if not include_self:
        gx = zero_at(gx)
    return (gx if c.needs[0] else None), None, (gs if c.needs[2] else None)


def _scatter_reduce_vjp(c, g):
    if c.attrs["reduce"] in _ALIAS:
        raise RuntimeError("Expected 'reduce' to be one of 'sum', 'prod', 'mean', 'amax', 'amin' "
                           f"but got {c.attrs['reduce']}.")
    idx, d = c[1], wrap_dim(c.attrs["dim"], max(len(c.shapes[0]), 1))
    return reduce_at_backward(
        c, g, lambda t: call("take_along_dim", t, idx, dim=d),
        lambda t, s: call("scatter_add", t, idx, s, dim=d),
        lambda x, src: call("scatter_reduce", x, idx, src, **c.attrs),
        lambda t: call("scatter", t, idx, dim=d, value=0.0))


defop("scatter_reduce", _scatter_reduce, _scatter_reduce_rule, _scatter_reduce_vjp,
      node="ScatterReduceBackward0", save=(0, 1, 2), save_out=True, differentiable=(0, 2))


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    if reduce not in _UFUNC and reduce not in _ALIAS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    return call("scatter_reduce", input, index, src, dim=dim, reduce=reduce,
                include_self=bool(include_self))


def _scatter_reduce_(self, dim, index, src, reduce, *, include_self=True):
    self._check_no_partial_overlap(src, same_too=True)
    return in_place(self, scatter_reduce, dim, index, src, reduce, include_self=include_self)


# ---- select_scatter, slice_scatter, diagonal_scatter -----------------------------------------

def _region(kind: str, x, attrs):
    """The numpy view of x that a select / slice / diagonal of these attrs reads."""
    if kind == "select":  # (the Ellipsis: a 0-d view, not a scalar copy, of a 1-d x)
        return x[(slice(None),) * attrs["dim"] + (attrs["index"], Ellipsis)]
    if kind == "slice":
        return x[(slice(None),) * attrs["dim"] + (slice(attrs["start"], attrs["end"],
                                                        attrs["step"]),)]
    return np.diagonal(x, attrs["offset"], attrs["dim1"], attrs["dim2"])


def _region_view(kind: str, g, attrs):
    if kind == "select":
        return call("select", g, dim=attrs["dim"], index=attrs["index"])
    if kind == "slice":
        return call("slice", g, dim=attrs["dim"], start=attrs["start"], stop=attrs["end"],
                    step=attrs["step"])
    return call("diagonal", g, offset=attrs["offset"], dim1=attrs["dim1"], dim2=attrs["dim2"])


def _region_scatter(x, src, *, kind, **attrs):
    out = np.array(x, copy=True)
    target = _diagonal_target(out, attrs) if kind == "diagonal" else _region(kind, out, attrs)
    target[...] = src
    return out


def _diagonal_target(out, attrs):
    """A writable view of out's diagonal (np.diagonal's is read-only)."""
    d1, d2, off = attrs["dim1"], attrs["dim2"], attrs["offset"]
    moved = np.moveaxis(out, (d1, d2), (-2, -1))
    rows, cols = moved.shape[-2:]
    start_r, start_c = (0, off) if off >= 0 else (-off, 0)
    n = max(0, min(rows - start_r, cols - start_c))
    base = moved[..., start_r:, start_c:]
    s = moved.strides
    return np.lib.stride_tricks.as_strided(base, moved.shape[:-2] + (n,),
                                           s[:-2] + (s[-2] + s[-1],), writeable=True)


def _region_scatter_rule(x, src, *, kind, **attrs):
    view = _region_shape(kind, x, attrs)
    if tuple(src.shape) != tuple(view):
        raise RuntimeError(f"expected src to have a size equal to the slice of self. src size = "
                           f"[{', '.join(map(str, src.shape))}], slice size = "
                           f"[{', '.join(map(str, view))}]")
    return Meta(x.shape, x.dtype)


def _region_shape(kind, x, attrs):
    return _region(kind, np.broadcast_to(np.zeros((), np.int8), tuple(x.shape)), attrs).shape


def _region_scatter_vjp(c, g):
    kind = c.attrs["kind"]
    attrs = {k: v for k, v in c.attrs.items() if k != "kind"}
    gx = gs = None
    if c.needs[0]:
        gx = call("region_scatter", g, zeros_grad(c.shapes[1], g.dtype, g.device_str), **c.attrs)
    if c.needs[1]:
        gs = _region_view(kind, g, attrs)
    return gx, gs


# (torch's *_scatter copy self by clone_preserve_strides: a dense self's layout kept)
defop("region_scatter", _region_scatter, _region_scatter_rule, _region_scatter_vjp,
      layout_rule=layout.like_first,
      node=lambda inputs, attrs: {"select": "SelectScatterBackward0",
                                  "slice": "SliceScatterBackward0",
                                  "diagonal": "DiagonalScatterBackward0"}[attrs["kind"]])


def select_scatter(input, src, dim, index):
    d = wrap_dim(dim, input.ndim)
    size = input.shape[d]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"[{', '.join(map(str, input.shape))}] at dimension {d}")
    return call("region_scatter", input, src, kind="select", dim=d, index=index % size)


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    d = wrap_dim(dim, input.ndim)
    start, end, step = slice(start, end, step).indices(input.shape[d])
    return call("region_scatter", input, src, kind="slice", dim=d, start=start, end=end,
                step=step)


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    return call("region_scatter", input, src, kind="diagonal", offset=offset,
                dim1=wrap_dim(dim1, input.ndim), dim2=wrap_dim(dim2, input.ndim))


# ---- in-place forms that are a function's result written into self --------------------------

def _tril_(self, diagonal=0):
    return in_place(self, lambda x: call("tril", x, diagonal=diagonal))


def _triu_(self, diagonal=0):
    return in_place(self, lambda x: call("triu", x, diagonal=diagonal))


def _cumulative_in_place(name: str):
    """cumsum_ and cumprod_: computed in self's dtype, as torch's (another dtype= is refused,
    and bool has no kernel but for a 0-dim tensor)."""
    def method(self, dim, *, dtype=None):
        if dtype is not None and dtype is not self.dtype:
            raise RuntimeError(f"Bad in-place call: input tensor dtype {self.dtype.c_name} and "
                               f"output tensor dtype {dtype.c_name} should match")
        if self.dtype is dtypes.bool_:
            if self.dim() != 0:
                raise not_implemented(f"{name}_out_cpu", self.dtype)
            # (a 0-dim tensor's scan is a copy of itself: torch runs no kernel for it)
            call(name, self, dim=dim)  # (its dim checked as the scan checks it)
            return in_place(self, lambda x: call("clone", x))
        return in_place(self, lambda x: call(name, x, dim=dim))

    method.__name__ = method.__qualname__ = f"{name}_"
    return method


def fill_diagonal_(self, fill_value, wrap=False):
    """Fill the main diagonal through a strided view of self, as torch does (so the
    result's grad_fn is CopySlices); `wrap`: a tall matrix's diagonal starts again below
    every N+1 rows."""
    if self.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    n = min(self.shape)
    step = sum(self.stride())
    # a tall matrix's wrapped diagonal: torch fills it by a second write, below the first
    height, width = self.shape[:2]
    wrapped = -(-self.numel() // (width + 1)) - n if wrap and self.ndim == 2 and \
        height > width + 1 else 0
    if self._sharding is not None:  # (its parts are no one memory to stride through)
        return _fill_diagonal_through_views(self, fill_value, wrapped if self.is_contiguous()
                                            else 0)
    self.as_strided((n,), (step,), self.storage_offset()).fill_(fill_value)
    if wrapped > 0:
        self.as_strided((wrapped,), (step,), self.storage_offset() + self.stride(0) * (width + 1)
                        ).fill_(fill_value)
    return self


def _fill_diagonal_through_views(t, fill_value, wrapped: int):
    """fill_diagonal_ of a sharded tensor by writes through its diagonal views (CopySlices, as
    torch's strided one): the diagonal of the diagonal... down to one dim. A contiguous tall
    matrix's `wrapped` elements, by a second write as torch's: every (width + 1)-th element
    of its rows below the first width + 1."""
    diag = t
    while diag.ndim > 1:
        diag = diag.diagonal(0, 0, -1)
    diag.fill_(fill_value)
    if wrapped:
        step = t.shape[1] + 1
        t[step:].view(-1)[::step][:wrapped].fill_(fill_value)
    return t


METHODS = dict(take=take, put=put, put_=_put_, take_along_dim=take_along_dim,
               index_put=index_put, index_put_=_index_put_, masked_fill_=_masked_fill_,
               masked_scatter_=_masked_scatter_,
               masked_select=masked_select,
               scatter_reduce=scatter_reduce, scatter_reduce_=_scatter_reduce_,
               select_scatter=select_scatter, slice_scatter=slice_scatter,
               diagonal_scatter=diagonal_scatter, tril_=_tril_, triu_=_triu_,
               cumsum_=_cumulative_in_place("cumsum"), cumprod_=_cumulative_in_place("cumprod"),
               fill_diagonal_=fill_diagonal_)
