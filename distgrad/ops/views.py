"""Writing through a view: the base's new value when a view of it is changed in place.

Each view op has an inverse on values: shape views are undone by a reshape or a
transpose, and selections by scattering the new part back into the parent. The result is
built from ordinary ops, so it is differentiable (the gradient of the untouched part goes
to the old base's history, that of the written part to the in-place op's).
"""
from __future__ import annotations

import numpy as np

from ..autograd.graph import COPY_SLICES
from ..autograd.record import call
from ..storage import array_root
from . import layout
from .rules import wrap_dim, written, zeros_grad
from .shape import split_sizes
from .table import Meta, defop

def _copy_slices_vjp(c, g):
    """The written base's gradient; with the old base as a second input (a write through a
    view that covers all of it), that old history gets zeros, as torch's CopySlices gives it
    (zeros that require grad when a graph of the gradient is being built)."""
    if len(c.needs) == 1:
        return (g,)
    return g, call("zero", g) if c.needs[1] else None


defop("copy_slices", lambda x, *old: x, lambda x, *old: Meta(x.shape, x.dtype),
      _copy_slices_vjp, node=COPY_SLICES)

_SHAPE_VIEWS = ("reshape", "squeeze", "unsqueeze", "squeeze_matmul", "alias")


_SELECTIONS = ("select", "slice", "diagonal")
# The view ops `unview` undoes.
UNDOABLE = _SHAPE_VIEWS + _SELECTIONS + ("t", "transpose", "permute")


def one_output(op: str, attrs: dict, k: int, parent_shape) -> tuple:
    """Output k of a view op with several (unbind, split) as the view op of one output
    that makes it (select, slice): what `unview` undoes."""
    if op not in ("unbind", "split"):
        return op, attrs
    dim = wrap_dim(attrs.get("dim", 0), len(parent_shape))
    if op == "unbind":
        return "select", {"dim": dim, "index": k}
    sizes = split_sizes(parent_shape[dim], attrs["split_size_or_sections"])
    start = sum(sizes[:k])
    return "slice", {"dim": dim, "start": start, "stop": start + sizes[k]}


def unview(op: str, attrs: dict, parent, new_child):
    """The parent's value once its view (made by `op`) holds `new_child`."""
    if op in _SHAPE_VIEWS:
        return new_child.reshape(list(parent.shape))
    if op == "t":
        return call("t", new_child)
    if op == "transpose":
        return call("transpose", new_child, dim0=attrs["dim0"], dim1=attrs["dim1"])
    if op == "permute":
        dims = [d % parent.ndim for d in attrs["dims"]]
        return call("permute", new_child, dims=[dims.index(i) for i in range(len(dims))])
    placed = call(f"{op}_backward", new_child, shape=list(parent.shape), **attrs)
    covered = call(f"{op}_backward", _ones_like(new_child), shape=list(parent.shape), **attrs)
    return _replaced(parent, covered, placed)


def unexpand(parent, old_child, new_child):
    """The parent's value once a copy of its expanded view (`old_child`) holds
    `new_child`: each of the parent's elements takes what was written into its copies
    (torch's copies are one memory, so the elements written together hold one value; here
    their mean); an element none of whose copies changed keeps its value."""
    from .reshaping import sum_to_size  # (reshaping imports the op table, which imports this)

    both_nan = call("logical_and", call("isnan", new_child), call("isnan", old_child))
    changed = call("logical_and", call("ne", new_child, old_child), call("logical_not", both_nan))
    count = sum_to_size(changed.to(new_child.dtype if new_child.is_floating_point() else
                                   _float32()), list(parent.shape))
    written = sum_to_size(call("where", changed, new_child, 0), list(parent.shape))
    mean = (written / call("clamp", count, min=1)).to(parent.dtype)
    return _replaced(parent, count, mean)


def _float32():
    from .. import dtypes

    return dtypes.float32


def _ones_like(t):
    from .. import creation, dtypes  # (creation imports the op table, which imports this)

    return creation.ones_like(t, dtype=dtypes.float32)  # (placed as t is, sharded too)


def _replaced(parent, covered, placed):
    """`parent` with the places `covered` counts (> 0) taken from `placed`: chosen, not
    added as a change (parent + (new - old) loses the new value next to a large or an inf
    or nan old one); the gradient is the same, split between the two."""
    return call("where", call("gt", covered, 0.0), placed, parent)


def covers_its_base(view) -> bool:
    """Whether `view` is all of its base seen otherwise (reshapes and transposes only): a
    write through it leaves nothing of the base's old value."""
    return all(op in _SHAPE_VIEWS or op in ("t", "transpose", "permute")
               for _, op, _, _ in view_chain(view))


def view_chain(t) -> list:
    """(parent, op, attrs, output nr) for each view step from the base down to `t`."""
    chain = []
    while t._view_of is not None:
        chain.append(t._view_of)
        t = t._view_of[0]
    return chain[::-1]


def scatter_through_view(view, new_value):
    """The base of `view` with `view`'s elements replaced by `new_value`: step by step up
    the chain of views where each step can be undone (reshapes, transposes, selections),
    else at once by the view's place in its base's memory (as torch's CopySlices does)."""
    chain = view_chain(view)
    if any(op not in UNDOABLE for _, op, _, _ in chain) or _relaid_since(view) or any(
            parent._viewed is not None and parent._views_hooked() for parent, _, _, _ in chain):
        # (undoing step by step reads the views between: a hook or retained grad on one of
        # them would see the write's gradient, which torch's CopySlices sends past them)
        return _scatter_by_layout(view, new_value)
    new = new_value
    for parent, op, attrs, _ in reversed(chain):
        new = unview(op, attrs, parent, new)
    return new


def _relaid_since(view) -> bool:
    """Whether a tensor on the chain of views down to `view` took another layout in place
    (resize, set_, t_, ...) after the view of it was made: that view op no longer makes the
    next step from it, its place in the memory does."""
    t = view
    while t._view_of is not None:
        parent = t._view_of[0]
        if parent.__dict__.get("_relayouts", 0) != t.__dict__.get("_parent_relayouts", 0):
            return True
        t = parent
    return False


def _scatter_by_layout(view, new_value):
    return scatter_by_place(view._viewed, place_of(view), new_value)


def scatter_by_place(base, place: dict, new_value, overlapping: bool | None = None):
    """`base` with the elements of its view at `place` (as_strided's attrs: placed_in)
    replaced by `new_value`, as torch's CopySlices writes them; `overlapping`: whether two
    of the view's elements are one place (None: told from `place`)."""
    if overlapping is None:
        places = _positions(place["size"], place["stride"], 0)
        overlapping = np.unique(places).size < places.size
    if overlapping:
        times = call("as_strided_backward", _ones_like(new_value), shape=list(base.shape),
                     **place)
        return call("overlapping_write", new_value, times, base, shape=list(base.shape), **place)
    return _written_at(base, place, new_value)


def last_copied(part, place: dict):
    """`part` with each of its elements that are one place of the view at `place` holding
    the one torch's copy_ into that view writes last (ops/overlapping.py); the same
    `part` for a view without such elements."""
    from . import overlapping  # (it imports creation, which imports the op table)

    last = overlapping.last_writes(place["size"], place["stride"],
                                   [(tuple(part.shape), part.stride())])
    if last is None:
        return part
    from ..creation import tensor

    return part.reshape(-1).take(tensor(last, device=part.device_str)).reshape(part.shape)


def reaches_outside(shape, place: dict) -> bool:
    """Whether the view at `place` (as_strided's attrs) in a base of `shape` has elements
    before the base's first place or past its last: torch's kernel writes them all the
    same (they are the memory's), but its CopySlices cannot lay them out in the base."""
    size, stride, offset = place["size"], place["stride"], place.get("storage_offset", 0)
    if not all(size):
        return False
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    return offset < 0 or last >= _base_places(shape, place)


def _base_places(shape, place: dict) -> int:
    """How many places of memory a base of `shape` (its strides in `place`) spans."""
    base_stride = place.get("base_stride")
    return _places(tuple(shape), base_stride)[0] if _not_a_block(tuple(shape), base_stride) \
        else int(np.prod(shape))


def place_of(view) -> dict:
    """as_strided's attrs for `view` in its base."""
    strides, offset = view._strides_offset()
    return placed_in(view._viewed, list(view.shape), list(strides), offset)


def _written_at(whole, place: dict, part):
    """`whole` with the elements of its view at `place` (as_strided's attrs) replaced by
    `part`."""
    times = call("as_strided_backward", _ones_like(part), shape=list(whole.shape), **place)
    spread = call("as_strided_backward", part, shape=list(whole.shape), **place)
    return _replaced(whole, times, spread)


# ---- torch's CopySlices: the base's node after an in-place op on its view -------------------
#
# It owns the op's node (`fn`): its edges are the base's old history and the op's edges but
# the first (the view's own history, which it passes by); its gradient runs `fn` on the
# gradient's part at the view, whose result for the view goes back into that part.
# Inputs: (the written base's values, the base, the op's result) and then one position per
# edge of `fn` after its first.

_OWNED_FROM = 3  # the position of fn's second edge among the node's inputs


def _copy_slices_owning_vjp(c, g):
    if c.attrs.get("overlapping"):  # (the base's elements overlap: torch's copy of the
        # gradient into the base's layout refuses it)
        raise RuntimeError(layout.OVERLAPPING_WRITE)
    fn, nr = c.attrs["fn"], c.attrs["nr"]
    place = {k: v for k, v in c.attrs.items() if k not in ("fn", "nr", "overlapping")}
    if reaches_outside(c.shapes[1], place):  # (torch's CopySlices reads the view's part of
        # a gradient laid out as the base: as_strided's errors for what lies outside it)
        if place["storage_offset"] < 0:
            raise RuntimeError(f"Tensor: invalid storage offset {place['storage_offset']}")
        check_in_storage(place["size"], place["stride"], place["storage_offset"],
                         g.dtype.itemsize, _base_places(c.shapes[1], place))
    edges = fn.next_functions
    needed = [c.needs[1]] + [c.needs[_OWNED_FROM + i] for i in range(len(edges) - 1)]
    wanted = {child for (child, _), need in zip(edges, needed) if need and child is not None}
    from ..autograd import grad_mode

    if grad_mode.is_grad_enabled() and "base_stride" not in place and \
            "base_offset" not in place:
        return _recorded_copy_slices_backward(g, fn, nr, place, wanted)
    grads = [None] * fn.n_outputs
    grads[nr] = read_at(g, place)
    got = _run_owned(fn, grads, wanted)
    g_base = None
    if c.needs[1]:
        part = got[0] if got and got[0] is not None else call("zero", grads[nr])
        g_base = _laid_out_as_base(scatter_by_place(g, place, last_copied(part, place)), place)
        _count_copies_into(g_base)
    return (None, g_base, None, *got[1:])


def _count_copies_into(g_base) -> None:
    """torch's CopySlices writes the base's gradient twice (the gradient copied into a new
    tensor, then the view's part into it): its version counter shows both."""
    for _ in range(2 - g_base._version):
        g_base._storage.wrote()


def _laid_out_as_base(g, place: dict):
    """`g` with the strides of the base at `place`, as torch's CopySlices makes the base's
    gradient (empty_strided of the base's layout, then copies into it)."""
    base_stride = place.get("base_stride")
    if base_stride is None or g._sharding is not None or list(g.stride()) == base_stride:
        return g
    from .reshaping import empty_strided

    out = empty_strided(list(g.shape), base_stride, dtype=g.dtype, device=g.device_str)
    return out.copy_(g)


def _run_owned(fn, grads, wanted) -> list:
    """fn's gradients per edge (a custom Function's node computes them all)."""
    from ..autograd.engine import validated  # (the engine imports the op table)
    from ..autograd.graph import OpNode

    got = fn.apply(grads, wanted) if isinstance(fn, OpNode) else fn.apply(grads)
    return [validated(fn, i, r) if r is not None else None for i, r in enumerate(got)]


def _recorded_copy_slices_backward(g, fn, nr: int, place: dict, wanted) -> tuple:
    """CopySlices's backward as torch's records it when a graph of the gradient is built
    (a row-major base): g copied into a new tensor, the op's node run on a clone of its
    part at the view, whose result for the view is copied into that part in place."""
    from ..creation import empty

    whole = empty(list(g.shape), dtype=g.dtype, device=g.device_str)
    whole.copy_(g)
    part = call("as_strided", whole, size=place["size"], stride=place["stride"],
                storage_offset=place.get("storage_offset", 0))
    grads = [None] * fn.n_outputs
    grads[nr] = part.clone()
    got = _run_owned(fn, grads, wanted)
    if got and got[0] is not None:
        part.copy_(got[0])
    else:
        part.zero_()
    return (None, whole, None, *got[1:])


defop("copy_slices_owning", lambda written, base, result, **attrs: written,
      lambda written, base, result, **attrs: Meta(written.shape, written.dtype),
      _copy_slices_owning_vjp, node=COPY_SLICES, differentiable=(1, 2))


def copy_slices_owning(view, written, result):
    """The base's new value `written` (no history) with torch's CopySlices as its node,
    owning the node of `result`, the in-place op's on `view`."""
    base, fn, nr = view._viewed, result._grad_fn, result._output_nr
    copied = call("copy_slices_owning", written, base, result, **place_of(view))
    node = copied._grad_fn
    node.attrs = {**node.attrs, "fn": fn, "nr": nr}
    node.next_functions = (base._gradient_edge() if base._requires_grad else (None, 0),
                           *fn.next_functions[1:])
    rest = range(_OWNED_FROM, _OWNED_FROM + len(fn.next_functions) - 1)
    node._slots = (1, *rest)
    node._metas = node._metas[:_OWNED_FROM] + tuple(fn._metas[fn._slots[i]]
                                                    for i in range(1, len(fn.next_functions)))
    node._wraps = fn  # (freed with it)
    return copied


def _overlapping_write(x, times, base, shape, **place):
    """The base once its view `x` (several of whose elements are one place of the base: an
    expanded view written by index_put_ or masked_fill_) is written: the copies of a place
    hold one value, which it takes once, not their sum (summed wider than x: the mean of
    equal copies is then that value exactly)."""
    if x.dtype.kind == "f":
        x = x.astype(np.longdouble if x.dtype == np.float64 else np.float64)
    spread = _as_strided_backward(x, shape, **place) / np.maximum(times, 1)
    return np.where(times > 0, spread.astype(base.dtype), base)


def _overlapping_write_vjp(c, g):
    """torch's CopySlices: each of the view's elements gets the whole gradient of its place
    (the gradient read through the view's layout), and the base's old value none: torch
    refuses to write its gradient back through the overlapping view."""
    if c.needs[2]:
        raise RuntimeError(layout.OVERLAPPING_WRITE)
    return _as_strided_backward_vjp(c, g) if c.needs[0] else None, None, None


defop("overlapping_write", _overlapping_write,
      lambda x, times, base, shape, **place: Meta(base.shape, base.dtype),
      _overlapping_write_vjp, node=COPY_SLICES)


def placed_in(base, size, stride, storage_offset) -> dict:
    """as_strided's attrs for a view of `base`'s memory: the view's layout from the base's
    first place, and the base's own strides when its memory is not row-major (a transposed
    clone: its elements sit in memory in another order than its index order; a detached
    slice or expanded tensor: not one block)."""
    place = {"size": size, "stride": stride, "storage_offset": storage_offset}
    if base._layout is not None:
        base_strides, base_offset = base._layout
        place["base_stride"] = list(base_strides)
        place["storage_offset"] = storage_offset - base_offset  # (from the base's first place)
    return place


def view_history(view, base):
    """A tensor with the history `view` takes from `base` (torch's AsStridedBackward0 of
    its layout), whose values are not used. A view given memory of its own (`.data =`)
    keeps its layout there, which may reach past the base's memory: torch makes that
    node without reading the base (as_strided's `past_end`)."""
    strides, offset = view._strides_offset()
    if view._storage.same_memory(base._storage):
        return as_strided_of(base, list(view.shape), list(strides), offset)
    return call("as_strided", base, past_end=True,
                **placed_in(base, list(view.shape), list(strides), offset))


def as_strided_of(base, size, stride, storage_offset):
    return call("as_strided", base, **strided_place(base, size, stride, storage_offset))


def strided_place(base, size, stride, storage_offset) -> dict:
    """as_strided's attrs for a layout of `base` (no view): read in the memory it views
    when that holds more than its elements (a detached view), else placed from its first
    place (`placed_in`)."""
    if base.device_str == "cpu" and views_memory_beyond_itself(base):
        strides, offset = base._strides_offset()
        return dict(size=size, stride=stride, storage_offset=storage_offset,
                    base_stride=list(strides), base_offset=offset)
    return placed_in(base, size, stride, storage_offset)


def views_memory_beyond_itself(t) -> bool:
    """Whether t, no view, has a layout no copy of its own has (an offset, gaps, shared
    places) or memory past its last element: a detached view or `.data` of one, whose
    memory holds more than its elements, which as_strided may read (torch's reads the
    storage)."""
    if t._viewed is not None or t._value is None:
        return False
    return t._layout is not None and (
        t._layout[1] != 0 or layout.preserved(t.shape, t._layout[0]) != tuple(t._layout[0])) \
        or isinstance(t._value, np.ndarray) and memory_size(t) > t.numel()  # (a driver's)


# ---- as_strided of a detached view: the memory it views read directly ----------------------

def _in_memory(x, size, stride, storage_offset, base_offset):
    """The view of the memory x views (x's element 0 at `base_offset` in it)."""
    root = array_root(x)
    flat = root.ravel(order="K")
    if not np.may_share_memory(flat, root) or root.dtype != x.dtype:
        raise NotImplementedError("as_strided of a detached view of memory that is not one "
                                  "block of its dtype is not supported; clone() it")
    start = (x.__array_interface__["data"][0] - flat.__array_interface__["data"][0]) \
        // x.itemsize - base_offset
    return np.lib.stride_tricks.as_strided(flat[start + storage_offset:], tuple(size),
                                           tuple(n * x.itemsize for n in stride),
                                           writeable=x.flags.writeable)


def memory_size(x) -> int:
    """How many elements of x's dtype the memory x views holds."""
    return array_root(x._value).nbytes // x.dtype.itemsize


def _positions(size, stride, offset: int) -> np.ndarray:
    """The memory place of each element of a layout, in row-major order."""
    places = np.full(tuple(size), offset, np.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        places = places + (np.arange(n, dtype=np.int64) * s).reshape(
            (1,) * d + (n,) + (1,) * (len(size) - d - 1))
    return places.ravel()


def _places_of_both(shape, base_stride, base_offset, size, stride, storage_offset):
    """The places of the base's elements and of the view's, numbered from the first either
    reaches, how many there are, and how many of the base's elements share each place."""
    mine = _positions(shape, base_stride, base_offset)
    theirs = _positions(size, stride, storage_offset)
    first = int(min(mine.min(initial=0), theirs.min(initial=0)))
    mine, theirs = mine - first, theirs - first
    n = int(max(mine.max(initial=0), theirs.max(initial=0))) + 1
    return mine, theirs, n, np.maximum(np.bincount(mine, minlength=n), 1), first


def _in_memory_backward(g, shape, size, stride, storage_offset, base_stride, base_offset):
    """The base's gradient: g added into the places of the view's elements, read back at
    the base's elements' places (each shared place's sum divided among those sharing it,
    as torch's; a place outside the base gives nothing)."""
    mine, theirs, n, sharing, _ = _places_of_both(shape, base_stride, base_offset, size,
                                                  stride, storage_offset)
    summed = np.zeros(n, g.dtype)
    np.add.at(summed, theirs, g.ravel())
    return (summed / sharing.astype(g.dtype))[mine].reshape(tuple(shape))


# ---- as_strided: a view by explicit layout (also how a stale view's history is regenerated) --

def _flat_positions(numel: int, size, stride, storage_offset: int):
    """The position in a row-major buffer of `numel` elements of each element of the view."""
    positions = np.arange(numel, dtype=np.int64)[storage_offset:]
    return np.lib.stride_tricks.as_strided(positions, tuple(size),
                                           tuple(s * 8 for s in stride))


def _memory(base, base_stride):
    """The base's elements in the order they sit in memory (a view of them: a base's array
    is laid out as its strides say)."""
    if base_stride is None:
        return base.reshape(-1)
    order = sorted(range(base.ndim), key=lambda d: -base_stride[d])
    return base.transpose(order).reshape(-1)


def _not_a_block(shape, base_stride) -> bool:
    """Whether the base's elements are not one block of memory: they share places (a
    detached expanded tensor) or leave gaps (a detached slice)."""
    return base_stride is not None and not layout.is_non_overlapping_and_dense(shape,
                                                                              base_stride)


def _places(shape, base_stride) -> tuple:
    """Such a base's memory from its first place to its last: how many places, where each
    of its elements sits, and how many of them share each place."""
    n = sum((d - 1) * s for d, s in zip(shape, base_stride)) + 1 if int(np.prod(shape)) else 0
    at = _flat_positions(n, tuple(shape), base_stride, 0).ravel()
    sharing = np.zeros(n, np.int64)
    np.add.at(sharing, at, 1)
    return n, at, np.maximum(sharing, 1)  # (a gap's count: never read)


def _storage(base, base_stride):
    """Such a base's memory, each place holding its element's value."""
    n, at, _ = _places(base.shape, base_stride)
    out = np.empty(n, base.dtype)
    out[at] = base.ravel()
    return out


def _as_strided(base, size, stride, storage_offset=0, base_stride=None, base_offset=None,
                past_end=False):
    """`past_end`: the layout may reach past the base's memory, which reads zeros there
    (a view's history regenerated at the layout of memory of its own: view_history)."""
    if base_offset is not None:  # (the base is a detached view: storage_offset is absolute)
        return _in_memory(base, size, stride, storage_offset, base_offset)
    flat = _storage(base, base_stride) if _not_a_block(base.shape, base_stride) else \
        _memory(base, base_stride)
    if past_end:  # (zeros past either end: a view's layout in memory of its own may begin
        # before its base's first place too)
        positions = _positions(size, stride, storage_offset)
        before = max(-int(positions.min(initial=0)), 0)
        reach = int(positions.max(initial=-1)) + 1
        flat = np.concatenate([np.zeros(before, flat.dtype), flat,
                               np.zeros(max(reach - flat.size, 0), flat.dtype)])
        storage_offset += before
    return np.lib.stride_tricks.as_strided(flat[storage_offset:], tuple(size),
                                           tuple(s * base.itemsize for s in stride),
                                           writeable=base.flags.writeable)


def _as_strided_rule(base, size, stride, storage_offset=0, base_stride=None, base_offset=None,
                     past_end=False):
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape")
    if any(s < 0 for s in stride):
        raise RuntimeError("as_strided: Negative strides are not supported at the moment, got "
                           f"strides: [{', '.join(map(str, stride))}]")
    places = base.numel()
    if _not_a_block(tuple(base.shape), base_stride):
        places = _places(tuple(base.shape), base_stride)[0]
    if base_offset is None and not past_end:  # (else the memory's bounds, which as_strided()
        # checked)
        check_in_storage(size, stride, storage_offset, base.dtype.itemsize, places,
                         base.numel())
    return Meta(size, base.dtype)


def check_in_storage(size, stride, storage_offset, itemsize, places, told=None) -> None:
    """torch's refusal of a layout reaching past the storage's `places` elements (`told`:
    the size its message gives, if another)."""
    needed = storage_offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if all(size) and needed > places:
        raise RuntimeError(f"setStorage: sizes [{', '.join(map(str, size))}], strides "
                           f"[{', '.join(map(str, stride))}], storage offset {storage_offset}, and "
                           f"itemsize {itemsize} requiring a storage size of "
                           f"{needed * itemsize} are out of bounds for storage of size "
                           f"{(places if told is None else told) * itemsize}")


def _as_strided_backward(g, shape, size, stride, storage_offset=0, base_stride=None,
                         base_offset=None):
    """The base's gradient: g added into the memory places of the view's elements, then
    read back in the base's index order (its strides, when its memory is not row-major)."""
    if base_offset is not None:
        return _in_memory_backward(g, shape, size, stride, storage_offset, base_stride,
                                   base_offset)
    numel = int(np.prod(shape))
    if _not_a_block(shape, base_stride):
        # torch's: summed into the memory places, each divided by how many of the base's
        # elements share it, then read back by the base's layout
        n, at, sharing = _places(shape, base_stride)
        out = _summed_at_places(g, n, size, stride, storage_offset)
        return (out / sharing.astype(g.dtype))[at].reshape(shape)
    out = _summed_at_places(g, numel, size, stride, storage_offset)
    if base_stride is None:
        return out.reshape(shape)
    return np.array(np.lib.stride_tricks.as_strided(
        out, tuple(shape), tuple(s * out.itemsize for s in base_stride)), order="C")


def _summed_at_places(g, n: int, size, stride, storage_offset: int) -> np.ndarray:
    """The first `n` memory places with g's elements added at the view's: a place outside
    them gives nothing (torch's as_strided_backward sums into a storage as large as both
    reach, then reads the base's part: the layout of a view with memory of its own may
    reach past its base's, or begin before it)."""
    places = _positions(size, stride, storage_offset)
    inside = (places >= 0) & (places < n)
    out = np.zeros(n, g.dtype)
    np.add.at(out, places[inside], g.ravel()[inside.ravel()])
    return out


def _as_strided_vjp(c, g):
    """torch's as_strided_backward: g added into a storage of the base's memory (each place
    divided by how many of the base's elements share it), and the base's gradient a view
    of that storage with the base's layout; so a gradient written in place later is a view
    made in no_grad mode, as torch's. An empty view gives zeros that do not depend on g
    (torch's returns them before reading g)."""
    shape = list(c.shapes[0])
    if not all(c.attrs["size"]):
        return zeros_grad(shape, g.dtype, g.device_str)
    if c.attrs.get("base_offset") is not None:  # (a detached view's: read from its memory)
        return call("as_strided_backward", g, shape=shape, **c.attrs)
    attrs = dict(c.attrs)
    attrs.pop("past_end", None)
    base_stride = attrs.pop("base_stride", None)
    stride = list(base_stride) if base_stride is not None else \
        list(layout.contiguous_strides(shape))
    # (the storage's version counts torch's writes into its zeros: g copied or added in,
    # then divided in place by the sharing)
    if not _not_a_block(tuple(shape), base_stride):
        storage = written(call("as_strided_backward", g, shape=[int(np.prod(shape))], **attrs))
    else:
        from ..creation import tensor

        n, _, sharing = _places(shape, stride)
        storage = call("as_strided_backward", g, shape=[n], **attrs)
        storage = written(call("div", storage, tensor(sharing, dtype=g.dtype,
                                                      device=g.device_str)), 2)
    return call("as_strided", storage, size=shape, stride=stride, storage_offset=0)


defop("as_strided", _as_strided, _as_strided_rule, _as_strided_vjp,
      node="AsStridedBackward0", view=True, strides=layout.as_strided)
def _as_strided_backward_vjp(c, g):
    # (torch differentiates its as_strided_backward, which sums into a storage as large as
    # both layouts reach: a view given memory of its own reads zeros past its base's)
    return read_at(g, c.attrs, past_end=True)


def read_at(g, place: dict, past_end: bool = False):
    """The elements of `g` (a tensor of the base's shape) that the view at `place`
    (as_strided's attrs in the base) reads, whatever g's own layout; `past_end`: zeros
    where the view reaches past g's elements (else torch's out-of-bounds error)."""
    # The adjoint gathers from g's elements in row-major order: as_strided reads a storage,
    # so a g laid out otherwise (an expanded or transposed gradient) is copied first.
    if g._layout is not None:
        g = call("contiguous", g)
    if place.get("base_offset") is not None:
        return _gathered_from_memory(place, g)
    base_stride = place.get("base_stride")
    if _not_a_block(tuple(g.shape), base_stride):
        # (the adjoint of the forward's read-back and division: summed into the places,
        # divided by how many of the base's elements share each)
        from ..creation import tensor

        n, _, sharing = _places(tuple(g.shape), base_stride)
        g = call("as_strided_backward", g, shape=[n], size=list(g.shape), stride=base_stride)
        g = call("div", g, tensor(sharing, dtype=g.dtype, device=g.device_str))
    elif base_stride is not None:  # g's elements put where the base's sit in memory
        g = call("as_strided_backward", g, shape=[g.numel()], size=list(g.shape),
                 stride=base_stride)
    size, stride, offset = place["size"], place["stride"], place.get("storage_offset", 0)
    past_end = past_end and bool(all(size)) and \
        offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1 > g.numel()
    return call("as_strided", g, size=size, stride=stride, storage_offset=offset,
                **({"past_end": True} if past_end else {}))


def _gathered_from_memory(a: dict, g):
    """The adjoint of a detached view's as_strided gradient: g (the view's base's) put at
    the places its elements sit (a shared place's divided among them), read at the view's."""
    from ..creation import tensor

    shape = a["shape"]
    mine, _, n, sharing, first = _places_of_both(shape, a["base_stride"], a["base_offset"],
                                                 a["size"], a["stride"], a["storage_offset"])
    if (sharing > 1).any():
        g = call("div", g, tensor(sharing[mine].reshape(shape), dtype=g.dtype,
                                  device=g.device_str))
    spread = call("as_strided_backward", g, shape=[n], size=list(shape),
                  stride=a["base_stride"], storage_offset=a["base_offset"] - first)
    return call("as_strided", spread, size=a["size"], stride=a["stride"],
                storage_offset=a["storage_offset"] - first)


defop("as_strided_backward", _as_strided_backward,
      lambda g, shape, size, stride, storage_offset=0, base_stride=None, base_offset=None:
      Meta(shape, g.dtype), _as_strided_backward_vjp, node="AsStridedBackwardBackward0")
