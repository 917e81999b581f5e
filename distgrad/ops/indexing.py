"""`tensor[key]` and `tensor[key] = value`.

Basic indexing becomes select/slice/unsqueeze views (torch's SelectBackward0,
SliceBackward0, ...); integer and boolean arrays become one `index` op whose transpose
is `index_backward` (a scatter-add). Keys travel as plain lists: ["s", start, stop, step]
for a slice, ["t", k] for the k-th index tensor input.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .. import dtypes
from ..autograd import grad_mode, record
from ..autograd.graph import COPY_SLICES
from ..autograd.record import call
from . import layout
from .rules import broadcasts_to, number_as, unbroadcast, wrap_dim, written
from .table import Meta, defop


# Index ops save every index tensor; `save` positions past the last input are skipped.
_REST_FROM_1 = tuple(range(1, 64))
_REST_FROM_2 = tuple(range(2, 64))


def _is_tensor(x) -> bool:
    return hasattr(x, "_storage")


def _as_index_tensor(item, like):
    from ..creation import tensor

    if _is_tensor(item):
        return item if item.device_str == like.device_str else item.to(like.device_str)
    if isinstance(item, (numbers.Number, np.bool_)):  # (ints and bools were taken before)
        kind = type(item)
        name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
        raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                         f"Variables are valid indices (got {name})")
    arr = np.asarray(item)
    if arr.dtype.kind == "f":  # torch makes a list or array of numbers a long index (truncated)
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "biu":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return tensor(arr, device=like.device_str)


_INT64_MAX = 2 ** 63 - 1  # a slice's end left open, as torch's node keeps it
_SEQUENCE_KEY = ("Using a non-tuple sequence for multidimensional indexing is deprecated and will "
                 "be changed in pytorch 2.9; use x[tuple(seq)] instead of x[seq]. In pytorch 2.9 "
                 "this will be interpreted as tensor index, x[torch.tensor(seq)], which will "
                 "result either in an error or a different result")


def _as_tuple_key(key):
    """torch's treatSequenceAsTuple (numpy's old rule): a short list (or other sequence) with a
    sequence, tensor, slice, ... or None in it is a tuple of indices, with a warning;
    otherwise it is one index."""
    if isinstance(key, tuple) or _is_tensor(key) or isinstance(key, (np.ndarray, str, bytes)):
        return key
    if not isinstance(key, (list, range)) or len(key) >= 32:
        return key
    for item in key:
        if _is_tensor(item) or isinstance(item, (list, tuple, range, np.ndarray, slice, str)) \
                or item is Ellipsis or item is None:
            warnings.warn(_SEQUENCE_KEY, UserWarning, stacklevel=3)
            return tuple(key)
    return key


def _is_bool_scalar(k) -> bool:
    """A Python bool or a 0-dim bool tensor (or array): torch indexes a new dim of size 1
    with it."""
    return isinstance(k, bool) or (_is_tensor(k) and k.ndim == 0 and k.dtype is dtypes.bool_) or (
        type(k) is np.ndarray and k.ndim == 0 and k.dtype == np.bool_)


def _dims_consumed(k) -> int:
    """How many of the indexed tensor's dims an index item takes: a boolean mask as many as
    it has; None, ... and bools none."""
    if k is None or k is Ellipsis or _is_bool_scalar(k):
        return 0
    if (_is_tensor(k) or isinstance(k, np.ndarray)) and getattr(k, "dtype", None) in (
            dtypes.bool_, np.bool_):
        return k.ndim
    return 1


def _refuse_for_a_0_dim_tensor(key) -> None:
    """torch's error for a key that takes a dim from a 0-dim tensor: a lone Python int or
    slice takes its own path (select, slice), any other key (a tuple, a tensor, a list) is
    too many indices."""
    if _is_index_int(key) and not _is_tensor(key):
        if int(key) == 0:
            raise IndexError("invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                             "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number")
        raise IndexError(f"index {int(key)} is out of bounds for dimension 0 with size 0")
    if isinstance(key, slice):
        raise IndexError("slice() cannot be applied to a 0-dim tensor.")
    raise IndexError("too many indices for tensor of dimension 0")


def _is_index_int(k) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)) or (
        _is_tensor(k) and k.ndim == 0 and k.dtype.category == 1)


_INLINE_SIZES = 5  # (the sizes a torch tensor keeps in place, strides after them)


def one_ellipsis(x, key):
    """The key without its second and later ellipses, selecting what torch's does: torch
    takes several, each moving its place in the dims by all the key leaves unspecified, so
    the items after them index further right (past the last dim: its errors, where a whole
    slice is nothing); the key is then given as one slice per dim skipped."""
    if not isinstance(key, tuple) or sum(k is Ellipsis for k in key) < 2:
        return key
    consumed = sum(_dims_consumed(k) for k in key)
    if consumed > x.ndim:
        return key  # (too many indices: _expand_key says so)
    skip = x.ndim - consumed
    origin = list(range(x.ndim))  # the original dim of each dim of the result so far
    out, dim, done = [], 0, 0  # done: the original dims the key has passed
    for place, k in enumerate(key):
        if k is Ellipsis:
            dim += skip
            continue
        if k is None or _is_bool_scalar(k):
            wrap_dim(dim, len(origin) + 1)
            after = next((d for d in origin[dim:] if d is not None), x.ndim)
            out.extend([slice(None)] * (after - done))
            done = after
            origin.insert(dim, None)
            dim += 1
            out.append(k)
            continue
        if isinstance(k, slice) and k == slice(None) and dim >= len(origin):
            dim += 1  # (a whole slice past the end: nothing to take)
            continue
        n = _dims_consumed(k)
        if dim + n > len(origin) and not isinstance(k, slice):
            if _is_index_int(k) and dim < _INLINE_SIZES:
                # (torch reads a size past its sizes: an unused one of the five it keeps in
                # place, 0; further on it reads a stride, and select refuses the dim)
                raise IndexError(f"index {int(k)} is out of bounds for dimension {place} with "
                                 "size 0")
            if _is_index_int(k):
                wrap_dim(dim, len(origin))
            raise IndexError(f"too many indices for tensor of dimension {len(origin)} "
                             f"(got {dim + 1})")
        wrap_dim(dim, len(origin))
        first = origin[dim]
        if _is_index_int(k) and not -x.shape[first] <= int(k) < x.shape[first]:
            raise IndexError(f"index {int(k)} is out of bounds for dimension {place} with size "
                             f"{x.shape[first]}")
        out.extend([slice(None)] * (first - done))
        out.append(k)
        done = first + n
        if _is_index_int(k):
            del origin[dim]
        else:
            dim += n
    return tuple(out)


def _expand_key(x, key):
    lone = key
    if not isinstance(key, tuple):
        key = (key,)
    consumed = sum(_dims_consumed(k) for k in key)
    if consumed > x.ndim:
        if x.ndim == 0:
            _refuse_for_a_0_dim_tensor(lone)
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    out, places = [], []  # places: each item's position in the key (torch names it in errors)
    seen_ellipsis = False
    for place, k in enumerate(key):
        if k is Ellipsis:
            if seen_ellipsis:
                raise IndexError("an index can only have a single ellipsis ('...')")
            seen_ellipsis = True
            out.extend([slice(None)] * (x.ndim - consumed))
            places.extend([place] * (x.ndim - consumed))
        else:
            out.append(k)
            places.append(place)
    return out, seen_ellipsis, places


_UINT8_KEY = ("indexing with dtype torch.uint8 is now deprecated, please use a dtype torch.bool "
              "instead.")


def _uint8_as_mask(key):
    """torch still reads a uint8 index tensor as a mask, with a deprecation warning (none for
    a 0-dim one)."""
    items = key if isinstance(key, tuple) else (key,)
    if not any(_is_tensor(k) and k.dtype is dtypes.uint8 for k in items):
        return key
    if any(_is_tensor(k) and k.ndim and k.dtype is dtypes.uint8 for k in items):
        warnings.warn(_UINT8_KEY, UserWarning, stacklevel=4)
    items = tuple(k.bool() if _is_tensor(k) and k.dtype is dtypes.uint8 else k for k in items)
    return items if isinstance(key, tuple) else items[0]


_BYTE_FILL = "masked_fill_ only supports boolean masks, but got mask with dtype unsigned char"


def _bytes_as_masks(key):
    """A write's key with its uint8 index tensors as bool masks (torch reads them so), and
    the ids of those masks."""
    items = key if isinstance(key, tuple) else (key,)
    if not any(_is_tensor(k) and k.ndim and k.dtype is dtypes.uint8 for k in items):
        return key, set()
    items = tuple(k.bool() if _is_tensor(k) and k.ndim and k.dtype is dtypes.uint8 else k
                  for k in items)
    byte = {id(k) for k, old in zip(items, key if isinstance(key, tuple) else (key,))
            if k is not old}
    return (items if isinstance(key, tuple) else items[0]), byte


def _mask_filled(items, value):
    """The mask torch's index_put_ writes by masked_fill_ (canDispatchToMaskedFill): the one
    index tensor of the key, a bool or uint8 mask, when the value has one element."""
    if not (not _is_tensor(value) or value.numel() == 1):
        return None
    tensors = [k for k in items if not _is_basic(k) and k is not Ellipsis]
    if len(tensors) == 1 and _is_tensor(tensors[0]) and tensors[0].dtype is dtypes.bool_:
        return tensors[0]
    return None


def getitem(x, key):
    key = _uint8_as_mask(one_ellipsis(x, _as_tuple_key(key)))
    # torch's get_item slices by a lone slice always; in a tuple it skips a slice from 0 (or
    # None) to the length or past it, step 1 (x[:, 0:] is an alias of x, x[:] a slice)
    lone_slice = isinstance(key, slice)
    items, _, places = _expand_key(x, key)
    out = x
    dim = 0
    advanced = []  # (dim in `out`, index) for array indices, applied after the views
    for k, place in zip(items, places):
        if k is None:
            out = call("unsqueeze", out, dim=dim)
            dim += 1
        elif _is_bool_scalar(k):
            # torch: unsqueeze, then a one-element mask on the new dim (IndexBackward0).
            out = call("unsqueeze", out, dim=dim)
            advanced.append((dim, np.array([bool(k)])))
            dim += 1
        elif isinstance(k, (int, np.integer)) or (_is_tensor(k) and k.ndim == 0 and
                                                 k.dtype.category == 1):
            k = int(k)
            size = out.shape[dim]
            if not -size <= k < size:
                raise IndexError(f"index {k} is out of bounds for dimension {place} with size {size}")
            out = call("select", out, dim=dim, index=k)
        elif isinstance(k, slice):
            start, stop, step = k.start, k.stop, k.step if k.step is not None else 1
            if step <= 0:
                raise ValueError("step must be greater than zero")
            whole = start in (None, 0) and (stop is None or stop >= out.shape[dim]) and step == 1
            if lone_slice or not whole:  # (the bounds as written, as torch's node keeps them)
                out = call("slice", out, dim=dim, start=0 if start is None else start,
                           stop=_INT64_MAX if stop is None else stop, step=step)
            dim += 1
        else:
            advanced.append((dim, k))
            is_bool = getattr(k, "dtype", None) in (dtypes.bool_, np.bool_)
            dim += k.ndim if is_bool else 1
    if advanced:
        return _advanced(out, advanced)
    if out is x:
        return call("alias", x)
    return out


def _advanced(x, advanced):
    key, tensors = [], []
    by_dim = dict(advanced)
    dim = 0
    while dim < x.ndim:
        if dim in by_dim:
            t = _as_index_tensor(by_dim[dim], x)
            if t.dtype is dtypes.bool_:
                _check_mask(t, x, dim)
            key.append(["t", len(tensors)])
            tensors.append(t)
            dim += t.ndim if t.dtype is dtypes.bool_ else 1
        else:
            key.append(["s", None, None, None])
            dim += 1
    while key and key[-1][0] == "s":
        key.pop()
    if any(t.dtype is dtypes.bool_ for t in tensors):
        # A mask's result size depends on its values: read them now (the one data-dependent shape).
        tensors = [_mask_to_indices(t) if t.dtype is dtypes.bool_ else t for t in tensors]
        key = _flatten_mask_key(key, tensors)
        tensors = [t for group in tensors for t in (group if isinstance(group, list) else [group])]
    return call("index", x, *tensors, key=key)


def _check_mask(mask, x, dim):
    for i, n in enumerate(mask.shape):
        if dim + i >= x.ndim or x.shape[dim + i] != n:
            raise IndexError(f"The shape of the mask [{', '.join(map(str, mask.shape))}] at index {i} "
                             f"does not match the shape of the indexed tensor "
                             f"[{', '.join(map(str, x.shape))}] at index {dim + i}")


def _mask_to_indices(mask):
    from ..creation import tensor

    nz = np.nonzero(mask._numpy_value())
    # (torch's node saves the mask itself: a write to it before backward makes them stale)
    return [tensor(ix.astype(np.int64), device=mask.device_str)._stand_for(mask) for ix in nz]


def _flatten_mask_key(key, tensors):
    out, k = [], 0
    for item in key:
        if item[0] == "t":
            group = tensors[item[1]]
            n = len(group) if isinstance(group, list) else 1
            out.extend(["t", k + i] for i in range(n))
            k += n
        else:
            out.append(item)
    return out


def numpy_key(key, arrays):
    return tuple(arrays[item[1]] if item[0] == "t" else slice(*item[1:]) for item in key)


def _index_rule(x, *idx, key):
    for t in idx:
        if t.dtype not in dtypes.INDEX:
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    try:
        np.broadcast_shapes(*(tuple(t.shape) for t in idx))
    except ValueError:
        shapes = ", ".join(f"[{', '.join(map(str, t.shape))}]" for t in idx)
        raise IndexError(f"shape mismatch: indexing tensors could not be broadcast together "
                         f"with shapes {shapes}") from None
    dummy = np.broadcast_to(np.empty((), x.dtype.np), x.shape)
    fake = [np.broadcast_to(np.zeros((), np.int64), t.shape) for t in idx]
    try:
        shape = dummy[numpy_key(key, fake)].shape if x.numel() else _empty_shape(x, idx, key)
    except IndexError as e:
        raise IndexError(str(e)) from None
    return Meta(shape, x.dtype)


def _empty_shape(x, idx, key):
    dummy = np.empty(x.shape, x.dtype.np)
    fake = [np.zeros(t.shape, np.int64) for t in idx]
    return dummy[numpy_key(key, fake)].shape


def _index_forward(x, *idx, key):
    _check_in_range(x.shape, idx, key)
    return x[numpy_key(key, idx)]


def _check_in_range(shape, idx, key):
    """torch's error for an index out of range names the index tensor's place among the
    key's index tensors (its kernel sees only those), not the dim it indexes."""
    for place, item in enumerate(key):
        if item[0] != "t":
            continue
        a, size = np.asarray(idx[item[1]]), shape[place]
        bad = (a < -size) | (a >= size)
        if bad.any():
            break
    else:
        return
    # the first element of the broadcast indices with a bad index, as torch's loop meets it
    arrays = np.broadcast_arrays(*idx)
    sizes = [shape[place] for place, item in enumerate(key) if item[0] == "t"]
    bad = np.stack([(a < -n) | (a >= n) for a, n in zip(arrays, sizes)]).reshape(len(idx), -1)
    first = int(np.argmax(bad.any(axis=0)))
    k = int(np.argmax(bad[:, first]))
    raise IndexError(f"index {arrays[k].reshape(-1)[first]} is out of bounds for dimension {k} "
                     f"with size {sizes[k]}")


defop("index", _index_forward, _index_rule,
      lambda c, g: (index_backward(g, c._inputs[1:], c.shapes[0], c.attrs["key"]),)
      + (None,) * (len(c.shapes) - 1),
      node="IndexBackward0", save=_REST_FROM_1, differentiable=(0,),
      layout_rule=layout.advanced_index)


def index_backward(g, idx, shape, key, node="IndexPutImplBackward0"):
    """g added into zeros of `shape` at the places `key` (with index tensors `idx`) selects,
    as torch's backward of an index (index_select's: `node` IndexAddBackward0) writes it
    into zeros in place: its node (`None` stands for the zeros, which no gradient reaches)
    and the version the write gives the result."""
    return written(call("index_backward", None, g, *idx, shape=list(shape), key=key, node=node))


def _index_backward(_zeros, g, *idx, shape, key, node):
    """g added into zeros at the indexed places in their order (float16 and bfloat16, given
    as they are, table.OWN_HALF: in that dtype, each add rounded, as torch's accumulating
    index_put_)."""
    out = np.zeros(shape, g.dtype)
    np.add.at(out, numpy_key(key, idx), g)
    return out


defop("index_backward", _index_backward,
      lambda _zeros, g, *idx, shape, key, node: Meta(shape, g.dtype),
      lambda c, g: (None, call("index", g, *c._inputs[2:], key=c.attrs["key"]))
      + (None,) * (len(c.shapes) - 2),
      node=lambda inputs, attrs: attrs["node"], save=_REST_FROM_2, differentiable=(0, 1),
      saved_names={})  # (its index tensors: `_saved_indices`, saved_args.py)

def _index_select_rule(x, idx, dim):
    d = wrap_dim(dim, x.ndim)
    if idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector")
    if idx.dtype not in dtypes.INDEX:
        raise RuntimeError("index_select(): Expected dtype int32 or int64 for index")
    if x.ndim == 0 and idx.numel() > 1:
        raise RuntimeError("index_select(): Index to scalar can have only 1 value, got "
                           f"{idx.numel()} value(s)")
    shape = list(x.shape)
    if shape:
        shape[d] = idx.numel()
    return Meta(shape, x.dtype)


def _index_select(x, idx, dim):
    idx = np.atleast_1d(idx)
    if x.ndim == 0:
        if (idx != 0).any():
            raise IndexError("index out of range in self")
        return x.copy()
    d = dim % x.ndim
    size = x.shape[d]
    if x.ndim > 1 and idx.size and size == 0:
        raise RuntimeError("index_select(): self indexing axis dim should be positive")
    bad = (idx < 0) | (idx >= size)  # (torch takes no negative index here)
    if bad.any():
        if x.ndim > 1 and d == 1:  # torch's kernel for dim 1, in its words
            raise RuntimeError(f"INDICES element is out of DATA bounds, id={idx[bad][0]} "
                               f"axis_dim={size}")
        raise IndexError("index out of range in self")
    return np.take(x, idx, axis=d)


def _index_select_vjp(c, g):
    shape = c.shapes[0]
    if not shape:
        return g, None
    d = wrap_dim(c.attrs["dim"], len(shape))
    key = [["s", None, None, None]] * d + [["t", 0]]
    return index_backward(g, [c[1].reshape(-1)], shape, key, "IndexAddBackward0"), None


defop("index_select", _index_select, _index_select_rule, _index_select_vjp,
      node="IndexSelectBackward0", save=(1,), differentiable=(0,))
def _pack_padded(x, rows, batch_sizes, batch_first):
    """The rows of x (its first two dims flattened) that `rows` lists, in that order."""
    return np.take(x.reshape(-1, *x.shape[2:]), np.atleast_1d(rows), axis=0)


def _pack_padded_rule(x, rows, batch_sizes, batch_first):
    return Meta([rows.numel(), *x.shape[2:]], x.dtype)


def _pack_padded_vjp(c, g):
    """torch's _pack_padded_sequence_backward: each time step's rows copied into zeros of
    the (T, B, *) batch, transposed back for batch_first (its nodes and version)."""
    from ..creation import zeros  # (creation imports the op table, which imports this)

    shape = list(c.shapes[0])
    if c.attrs["batch_first"]:
        shape[0], shape[1] = shape[1], shape[0]
    grad = written(zeros(shape, dtype=g.dtype, device=g.device))  # (torch's zero_)
    offset = 0
    for t, n in enumerate(c.attrs["batch_sizes"]):
        grad[t, :n].copy_(g[offset:offset + n])
        offset += n
    return (grad.transpose(0, 1) if c.attrs["batch_first"] else grad), None


# pack_padded_sequence's gathering of the time steps' rows of a padded (T, B, *) or
# (B, T, *) batch: torch's own op, one node from the batch (its name, no view between)
defop("_pack_padded_sequence", _pack_padded, _pack_padded_rule, _pack_padded_vjp,
      node="PackPaddedSequenceBackward0", save=(1,), differentiable=(0,))

defop("alias", lambda x: x, lambda x: Meta(x.shape, x.dtype), lambda c, g: g,
      node="AliasBackward0", view=True, strides=layout.same, sharding="elementwise")


# ---- assignment -------------------------------------------------------------------------------

def _put_forward(x, v, *idx, key, view_shape=None, through_view=False, mask_0d=False):
    _check_in_range(x.shape, idx, key)
    out = np.array(x, copy=True)
    at = numpy_key(key, idx)
    if view_shape is not None:  # (the value fits torch's view: reshaped to the put's target)
        v = np.broadcast_to(v, tuple(view_shape)).reshape(out[at].shape)
    out[at] = number_as(v, x.dtype)
    return out


def _put_rule(x, v, *idx, key, view_shape=None, through_view=False, mask_0d=False):
    target = _index_rule(x, *idx, key=key)
    if not hasattr(v, "shape"):  # (a number: torch's fill_ of the selection checks it)
        dtypes.check_fits(v, x.dtype, c_type=True)
    from .rules import broadcast_shapes, shape_of

    if view_shape is not None:
        target = Meta(tuple(view_shape), target.dtype)
    if not any(item[0] == "t" for item in key):
        from .shape import expanded_shape

        expanded_shape(shape_of(v), target.shape, getattr(v, "dtype", x.dtype))  # torch's words
    else:
        try:
            fits = broadcast_shapes(target.shape, shape_of(v)) == target.shape
        except RuntimeError:  # (not even broadcastable: torch names it the same way)
            fits = False
        if not fits:
            raise RuntimeError("shape mismatch: value tensor of shape "
                               f"[{', '.join(map(str, shape_of(v)))}] cannot be broadcast to "
                               f"indexing result of shape [{', '.join(map(str, target.shape))}]")
    return Meta(x.shape, x.dtype)


def require_put_dtype(x, value, tensors, key, view_shape=None) -> None:
    """torch's index_put_ writes a value of x's dtype only (after checking its shape)."""
    if value.dtype is not x.dtype:
        _put_rule(x, value, *tensors, key=key, view_shape=view_shape)
        raise RuntimeError(f"Index put requires the source and destination dtypes match, got "
                           f"{x.dtype.long_name} for the destination and "
                           f"{value.dtype.long_name} for the source.")


def _put_vjp(c, g):
    idx = c._inputs[2:]
    gx = call("index_put", g, 0.0, *idx, key=c.attrs["key"]) if c.needs[0] else None
    gv = None
    if c.needs[1] and c.attrs.get("mask_0d"):  # (torch's index by its 0-dim mask alone)
        from .placing import NO_INDEX_LEFT

        raise RuntimeError(NO_INDEX_LEFT)
    if c.needs[1]:
        gv = call("index", g, *idx, key=c.attrs["key"])
        view_shape = c.attrs.get("view_shape")
        gv = unbroadcast(gv if view_shape is None else gv.reshape(view_shape), c.shapes[1])
    return (gx, gv) + (None,) * len(idx)


def _put_name(inputs, attrs) -> str:
    # Assigning through basic indexing (ints and slices only), or by index tensors into a
    # view the key's basic indices select first, is torch's CopySlices.
    if (any(item[0] == "t" for item in attrs["key"]) or attrs.get("mask_0d")) and \
            not attrs.get("through_view"):
        return "IndexPutBackward0"
    return COPY_SLICES


defop("index_put", _put_forward, _put_rule, _put_vjp, node=_put_name,
      save=_REST_FROM_2, differentiable=(0, 1), layout_rule=layout.like_first)


def setitem(x, key, value):
    if key is False:  # (torch writes nothing and checks nothing)
        return
    if key is True:  # (torch copies into x's view with a new dim of size 1, as for None)
        key = None
    key = one_ellipsis(x, _as_tuple_key(key))
    if not (_is_tensor(value) or isinstance(value, (bool, int, float, complex))):
        kind = type(value)
        name = kind.__qualname__ if kind.__module__ == "builtins" else \
            f"{kind.__module__}.{kind.__qualname__}"
        raise TypeError(f"can't assign a {name} to a {x.type()}")
    if not _key_makes_view(key, x.shape):  # a write to x itself (torch: x.copy_(value))
        x._check_write_to_stale_view()
    if x._requires_grad and x.grad_fn is None and grad_mode.is_grad_enabled():
        # torch writes through a view unless the key selects all of x
        what = "a view of a leaf Variable" if _key_makes_view(key, x.shape) else "a leaf Variable"
        raise RuntimeError(f"{what} that requires grad is being used in an in-place operation.")
    key, byte = _bytes_as_masks(key)
    items, _, places = _expand_key(x, key)
    whole = key if isinstance(key, tuple) else (key,)
    selects_all = all(i is Ellipsis or isinstance(i, slice) for i in whole) and \
        not _key_makes_view(key, x.shape)
    if not selects_all and _is_tensor(value) and value._storage.same_memory(x._storage):
        _refuse_overlap(x, items, value)  # (all of x: copy_ checks it)
        if _copied_into_itself(x, key, items, value):
            return
    if x._has_internal_overlap() and all(_is_basic(i) for i in items):
        # An expanded tensor: write through the view the key selects, which may not overlap
        # itself (torch checks the written view, not its base; all of x is x itself).
        (x if selects_all else getitem(x, key)).copy_(value)
        return
    if _is_tensor(key) and _is_bool_scalar(key) and not bool(key):
        # torch indexes with a 0-dim mask through a view with a dim of size 1 for it: a write
        # of nothing into that view, which x's version and node (CopySlices) still record
        setitem(x.unsqueeze(0), key.reshape(1), value)
        return
    if x.ndim == 0 and any(_is_bool_scalar(item) and not bool(item) for item in items):
        _write_nothing(x, key, items, value)
        return
    if selects_all:
        _write_whole(x, value)
        return
    filled = _mask_filled(items, value)
    if byte and filled is None:  # (a mask filled by masked_fill_ is no index: no warning)
        for _ in byte:
            warnings.warn(_UINT8_KEY, UserWarning, stacklevel=3)
    k, tensors = [], []
    squeeze_ints = []  # positions in `k` of int indices (each drops a dim in torch)
    dim = 0
    for item, place in zip(items, places):
        if item is None or _is_bool_scalar(item):  # True selects everything, adds no dim
            continue
        if isinstance(item, (int, np.integer)):
            size = x.shape[dim]
            if not -size <= item < size:
                raise IndexError(f"index {item} is out of bounds for dimension {place} with size {size}")
            squeeze_ints.append(len(k))
            k.append(["s", int(item) % size, int(item) % size + 1, 1])
            dim += 1
        elif isinstance(item, slice):
            k.append(["s", item.start, item.stop, item.step])
            dim += 1
        else:
            t = _as_index_tensor(item, x)
            if t.dtype is dtypes.bool_:
                _check_mask(t, x, dim)
                if item is filled and id(item) in byte:
                    raise RuntimeError(_BYTE_FILL)
                for ix in _mask_to_indices(t):
                    k.append(["t", len(tensors)])
                    tensors.append(ix)
                dim += t.ndim
            else:
                k.append(["t", len(tensors)])
                tensors.append(t)
                dim += 1
    view_shape = None
    if _is_tensor(value) and value.device_str != x.device_str and value.ndim:
        value = value.to(x.device_str)
    if any(_is_bool_scalar(item) for item in items):
        put = _put_by_bool_scalars(x, key, value, tensors, k)
        if put is None:
            _write_through_new_dims(x, key, value)
            return
        value, tensors, k, view_shape = put
    elif _is_tensor(value):
        target = tuple(_index_rule(x, *tensors, key=k).shape)
        # torch writes into the view the key's basic indices select (an int drops a dim, a
        # None adds one); the put here keeps an int's dim as size 1 and adds no None's, so
        # it reshapes a value of the view's shape itself (`view_shape`): the put's edge is
        # the value's own history, as torch's.
        if tensors:  # (index_put_, no copy_to)
            selected = tuple(d for i, d in enumerate(target) if i not in squeeze_ints)
            value = _strip_leading_ones(value)
        else:
            selected = _basic_shape(x, items)
            value = _copy_to_source(value, selected)
        if selected != target:
            if broadcasts_to(tuple(value.shape), selected):
                view_shape = list(selected)
            else:  # (the put's rule says how it does not fit, in torch's words)
                value = value.expand(selected if len(selected) >= value.ndim else value.shape)
                value = value.reshape(target) if value.numel() == int(np.prod(target)) else value
    by_index = bool(tensors) or any(_is_bool_scalar(item) for item in items)
    if _is_tensor(value) and value.dtype is not x.dtype and by_index:
        if filled is None:  # torch's index_put_ casts nothing (masked_fill_ does)
            require_put_dtype(x, value, tensors, k, view_shape)
        value = value.to(x.dtype)  # (without index tensors the put casts, as copy_ does)
    write_in_order(x, value, tensors, k, in_a_part=_key_makes_view(key, x.shape),
                   view_shape=view_shape)


def _put_by_bool_scalars(x, key, value, tensors, k):
    """(value, tensors, k, view_shape) of a put whose key holds True or False. torch indexes
    by them as by an index tensor ([0], or [] for False) on a new dim of size 1: index_put_
    into the view of x with that dim, the value (without its leading 1s) broadcast to that
    indexing result. The put here has no such dims: it takes the value of that result's
    shape reshaped (`view_shape`); a False writes nothing (an empty index), still recorded.
    None when that result's dims are in another order than the put's (the new dim parts
    the index tensors: theirs go first)."""
    with grad_mode.no_grad():
        result = tuple(getitem(x.detach(), key).shape)
    if _is_tensor(value):
        value = _strip_leading_ones(value)
    require_value_fits(value, result)
    if 0 in result:
        from ..creation import tensor

        return value, [tensor(np.zeros(0, np.int64), device=x.device_str)], [["t", 0]], \
            list(result)
    target = tuple(_index_rule(x, *tensors, key=k).shape)
    if [n for n in result if n != 1] != [n for n in target if n != 1]:
        return None
    return value, tensors, k, (list(result) if result != target else None)


def _write_through_new_dims(x, key, value) -> None:
    """x[key] = value as torch writes it for a key with True or False: into the view of x
    with a new dim of size 1 for each, indexed there by [0] (or [])."""
    from ..creation import tensor

    view_key, put_key = [], []
    for item in (key if isinstance(key, tuple) else (key,)):
        if _is_bool_scalar(item):
            view_key.append(None)
            put_key.append(tensor([0] if bool(item) else [], dtype=dtypes.int64,
                                  device=x.device_str))
            continue
        if item is Ellipsis:
            view_key.append(item)
        elif item is not None:
            view_key.extend([slice(None)] * _dims_consumed(item))
        put_key.append(item)
    setitem(getitem(x, tuple(view_key)), tuple(put_key), value)


def require_value_fits(value, target: tuple) -> None:
    """torch's index_put_ check: the value broadcasts to the indexing result."""
    from .rules import shape_of

    value_shape = tuple(shape_of(value))
    if not broadcasts_to(value_shape, tuple(target)):
        raise RuntimeError(f"shape mismatch: value tensor of shape "
                           f"[{', '.join(map(str, value_shape))}] cannot be broadcast to indexing "
                           f"result of shape [{', '.join(map(str, target))}]")


def _copied_into_itself(x, key, items, value) -> bool:
    """x[k] = x[k] (what `x[k] += v` ends with, the view written in place already): torch
    copies the value into the view the key selects, as any basic write, recording it
    (CopySlices whose edge is the value's history). Whether the key selected that view."""
    if not all(i is None or isinstance(i, (int, np.integer, slice)) and not isinstance(
            i, (bool, np.bool_)) for i in items):
        return False
    view = getitem(x, key)
    if (view.shape, view.stride(), view.storage_offset()) != (
            value.shape, value.stride(), value.storage_offset()):
        return False
    view.copy_(value)
    return True


def _basic_shape(x, items) -> tuple:
    """The shape of the view of x that basic indices (ints, slices, None, Ellipsis, bools)
    select, as numpy's basic indexing gives it."""
    dummy = np.broadcast_to(np.empty((), np.int8), tuple(x.shape))
    return np.shape(dummy[tuple(items)])


def _copy_to_source(value, selected: tuple):
    """The value torch's copy_to writes into a view of shape `selected`: the value itself
    when it has that shape or none (copy_, fill_), else a view of it without its leading
    size-1 dims, expanded to the shape when it differs."""
    if tuple(value.shape) == selected or value.ndim == 0:
        return value
    stripped = value.view(_without_leading_ones(tuple(value.shape)))
    return stripped if tuple(stripped.shape) == selected else stripped.expand(selected)


_EXPANDED_WRITE = ("Use of {} on expanded tensors is deprecated. Please clone() the tensor "
                   "before performing this operation. This also applies to advanced indexing "
                   "e.g. tensor[{}] = {}")


def write_in_order(x, value, tensors, key, in_a_part: bool = False, accumulate: bool = False,
                   op: str = "index_put_", view_shape=None, mask_0d: bool = False) -> None:
    """x[key] = value (`accumulate`: x[key] += value) by index_put, as torch's kernel
    writes: element by element. When the value shares x's memory, an element reads what the
    write has already put there; into an expanded x, the last write to a memory location
    (accumulating: the sum of every write to it) is what all its elements show (torch warns
    that this is deprecated, in the words of `op`, the in-place method called). Otherwise
    that is the plain out-of-place put."""
    aliased = _is_tensor(value) and value._storage.same_memory(x._storage)
    put = "index_put_accumulate" if accumulate else "index_put"
    if not (aliased or x._has_internal_overlap()):
        # (written through a view torch takes first: its node is CopySlices, tensors or not)
        attrs = {} if view_shape is None else dict(view_shape=view_shape)
        if mask_0d:  # (index_put_ filling by a 0-dim mask: its node is torch's)
            attrs["mask_0d"] = True
        if in_a_part and tensors and not accumulate:
            attrs["through_view"] = True
        return x._inplace(call(put, x, value, *tensors, key=key, **attrs), in_a_part=in_a_part,
                          redo=lambda current: call(put, current, value, *tensors, key=key,
                                                    **attrs))
    from ..creation import tensor

    target = _index_rule(x, *tensors, key=key).shape
    if view_shape is not None:  # (the value's dims as the put's target has them)
        value = value.expand(view_shape).reshape(target)
    if _is_tensor(value) and value.dtype is not x.dtype:
        value = value.to(x.dtype)
    at = numpy_key(key, [t._numpy_value() for t in tensors])
    x_value = x.detach()._numpy_value()
    v_value = np.broadcast_to(value.detach()._numpy_value() if _is_tensor(value) else value,
                              target)
    written = _written_in_order(x, value, x_value, v_value, at, tensors, key, aliased,
                                accumulate)
    if grad_mode.is_grad_enabled() and (x.requires_grad or
                                        (_is_tensor(value) and value.requires_grad)) \
            or _has_tangent(x, value):
        # Those values, with the put's own history: its (float) operands shifted by
        # constants, so the gradients are the put's, as torch's IndexPutBackward0 gives them
        # (and in a dual level, its tangent: x[1:] *= 2 writes a view back into itself).
        if accumulate:  # (the put adds the value to each element it writes, once)
            added = np.zeros(x_value.shape, x_value.dtype)
            np.add.at(added, at, v_value)
            x_moved = _moved_to(x, written - added, x_value)
            result = call(put, x_moved, value, *tensors, key=key)
        else:
            x_moved = _moved_to(x, written, x_value)
            v_moved = _moved_to(value.expand(target) if _is_tensor(value) else value,
                                np.asarray(written[at], dtype=x.dtype.np), v_value,
                                x.device_str)
            result = call(put, x_moved, v_moved, *tensors, key=key)
    else:
        result = tensor(written, dtype=x.dtype, device=x.device_str)
    x._inplace(result, overlap_ok=True, in_a_part=in_a_part)
    if x._has_internal_overlap():  # (torch's kernel says it, after autograd's checks passed)
        words = ("mask", "scalar") if op in ("masked_fill_", "index_fill_") else ("indices", "tensor")
        warnings.warn(_EXPANDED_WRITE.format(op, *words), UserWarning, stacklevel=3)


def _has_tangent(*tensors) -> bool:
    """Whether a dual level is open and one of `tensors` carries a tangent in it."""
    fw = record.forward_ad
    return fw is not None and any(_is_tensor(t) and fw.tangent_of(t) is not None
                                  for t in tensors)


def _moved_to(t, values, t_value, device=None):
    """`values`, with t's gradient passed through: t - t.detach() + values (t - t is 0
    exactly), or the values alone where t is an inf or a nan (those take no gradient)."""
    from ..creation import tensor

    values = tensor(np.asarray(values), device=device or t.device_str)
    if not _is_tensor(t):  # (a number: no gradient to pass)
        return values
    moved = t - t.detach() + values
    stuck = ~np.isfinite(np.asarray(t_value))
    if not stuck.any():
        return moved
    return call("where", tensor(stuck, device=values.device_str), values, moved)


def _written_in_order(x, value, x_value, v_value, at, tensors, key, aliased,
                      accumulate=False) -> np.ndarray:
    """x's values after torch's index_put_ kernel wrote v_value (the value broadcast to the
    put's shape; `accumulate`: added it) at the positions `at`, one element at a time in its
    TensorIterator's order, reading the value's element as it then is when `aliased`."""
    x_loc = _memory_locations(x)
    to = x_loc[at]  # the memory location each element of the put writes
    v_layout = (tuple(value.shape), value._strides_offset()[0]) if _is_tensor(value) else ((), ())
    order = layout.index_put_order(
        v_value.shape, (tuple(x.shape), x._strides_offset()[0]), v_layout,
        [(tuple(t.shape), t._strides_offset()[0]) for t in tensors], key)
    seq = np.arange(to.size).reshape(v_value.shape).transpose(order[::-1]).ravel().tolist()
    memory = dict(zip(x_loc.ravel().tolist(), x_value.ravel().tolist()))
    to, v_flat = to.ravel().tolist(), v_value.ravel().tolist()
    if aliased:
        v_loc = np.broadcast_to(_memory_locations(value), v_value.shape).ravel().tolist()
        memory.update(zip(v_loc, v_flat))
        for e in seq:
            memory[to[e]] = memory[v_loc[e]] + (memory[to[e]] if accumulate else 0)
    elif accumulate:
        for e in seq:
            memory[to[e]] += v_flat[e]
    else:
        for e in seq:
            memory[to[e]] = v_flat[e]
    return np.array([memory[loc] for loc in x_loc.ravel().tolist()],
                    dtype=x.dtype.np).reshape(x.shape)


def _memory_locations(t) -> np.ndarray:
    """Where each element of `t` is in its memory (storage offset), in t's shape."""
    strides, offset = t._strides_offset()
    loc = np.full(tuple(t.shape), offset, dtype=np.int64)
    for d, (n, step) in enumerate(zip(t.shape, strides)):
        loc += (np.arange(n, dtype=np.int64) * step).reshape((n,) + (1,) * (t.ndim - d - 1))
    return loc


def _is_basic(item) -> bool:
    """An index item that selects a view (not a list, array or tensor of indices)."""
    return item is None or isinstance(item, (int, np.integer, slice)) or _is_bool_scalar(item)


def _refuse_overlap(x, items, value):
    """torch's __setitem__ writes through the view the key's basic indices select: by copy_
    (a value partly overlapping it is refused) or, with index tensors, by index_put_ on it
    (any overlap is refused, the same view too)."""
    basic, advanced = [], False
    for item in items:
        if _is_basic(item):
            basic.append(item)
            continue
        t = _as_index_tensor(item, x)
        advanced = True
        basic.extend([slice(None)] * (t.ndim if t.dtype is dtypes.bool_ else 1))
    if all(b == slice(None) for b in basic):
        target = x  # (torch's index_put_ then writes x itself: x as its own value overlaps)
    else:
        with grad_mode.no_grad():
            target = getitem(x, tuple(basic))
    if advanced:
        target._check_no_partial_overlap(value, same_too=True)
    elif tuple(value.shape) == tuple(target.shape):  # (a broadcast value is too hard to tell)
        target._check_no_partial_overlap(value)


def _write_whole(x, value):
    """x[key] = value for a key that selects all of x: as torch, a write to x itself (its
    copy_to: fill_ from a 0-dim value, else copy_), not through a view: x's old value gets
    fill_'s or copy_'s zeros, which require no grad even when a graph is being built."""
    if not _is_tensor(value):  # (torch's valueToTensor: a 0-dim tensor of x's dtype)
        from ..creation import tensor

        if isinstance(value, complex):  # (no complex dtypes here) a real value is kept
            if value.imag and x.dtype is not dtypes.bool_:
                raise RuntimeError(f"value cannot be converted to type {x.dtype.c_name} "
                                   "without overflow")
            value = bool(value) if x.dtype is dtypes.bool_ else value.real
        value = tensor(value, dtype=x.dtype)
    if tuple(value.shape) == tuple(x.shape):
        return x.copy_(value)
    if value.ndim == 0:  # (torch: from a CPU value; every device here is a CPU)
        return x.fill_(value if value.device_str == x.device_str else value.to(x.device_str))
    return x.copy_(_copy_to_source(value, tuple(x.shape)))


def _strip_leading_ones(value):
    """torch drops a value's leading size-1 dims before it writes (`x[0] = v[None]`)."""
    shape = _without_leading_ones(tuple(value.shape))
    return value.reshape(shape) if len(shape) < value.ndim else value


def _without_leading_ones(shape: tuple) -> list:
    lead = 0
    while lead < len(shape) and shape[lead] == 1:
        lead += 1
    return list(shape[lead:])


def _write_nothing(x, key, items, value):
    """A False bool index into a 0-dim tensor selects nothing: no write. torch still checks
    that a value fits the empty selection when the False is a tensor (an index_put), not a
    Python bool."""
    if not any(_is_tensor(item) and item.dtype is dtypes.bool_ for item in items):
        return
    target = tuple(getitem(x.detach(), key).shape)
    require_value_fits(_strip_leading_ones(value) if _is_tensor(value) else value, target)


def _key_makes_view(key, shape) -> bool:
    """Whether indexing with `key` takes a view (an int, None, or a slice that is not the
    whole dim) before any advanced indexing, as torch's __setitem__ does."""
    items = key if isinstance(key, tuple) else (key,)
    if any(i is Ellipsis for i in items):
        k = next(n for n, i in enumerate(items) if i is Ellipsis)
        used = sum(1 for i in items if i is not None and i is not Ellipsis)
        dims = list(range(k)) + [len(shape) - used + k + j for j in range(len(items) - k - 1)]
        items = items[:k] + items[k + 1:]
    else:
        dims = range(len(items))
    for item, d in zip(items, dims):
        if item is None or _is_bool_scalar(item) or isinstance(item, numbers.Integral):
            return True  # (a bool: torch indexes a new dim of size 1 for it)
        if isinstance(item, slice) and 0 <= d < len(shape):
            if item.indices(shape[d]) != (0, shape[d], 1):
                return True
    return False
