"""In-place shape ops (`t_`, `transpose_`, `swapdims_`, `unsqueeze_`, `squeeze_`,
`as_strided_`): the tensor itself takes the view's shape and strides.

torch records them as in-place ops on the tensor: its version goes up, its grad_fn becomes
the view's node under the in-place overload's name (TBackward1, SqueezeBackward3, ...),
and a leaf that requires grad refuses them. Each is the out-of-place view computed from a
handle on the tensor as it was, whose metadata and history the tensor then takes.
"""
from __future__ import annotations

import copy

import numpy as np

from .. import storage
from ..autograd import grad_mode, record
from ..autograd.function import refuse_captured_write
from ..autograd.record import call
from ..tensor import Tensor, device_str
from . import layout
from .rules import wrap_dim
from .table import OPS, Meta, Size, defop
from .views import (check_in_storage, memory_size, place_of, strided_place,
                    views_memory_beyond_itself)


def _in_place_row(view_op: str, node) -> str:
    """A row like the view op's (same forward, rule, VJP, layout) named as torch names the
    in-place overload's node."""
    row = OPS[view_op]
    name = view_op + "_"
    defop(name, row.forward, row.shape, row.vjp, node=node, view=True, strides=row.strides)
    return name


def _squeeze_name(inputs, attrs) -> str:
    dim = attrs.get("dim")
    return "SqueezeBackward3" if dim is None else (
        "SqueezeBackward4" if isinstance(dim, int) else "SqueezeBackward5")


_T = _in_place_row("t", "TBackward1")
_TRANSPOSE = _in_place_row("transpose", "TransposeBackward1")
_UNSQUEEZE = _in_place_row("unsqueeze", "UnsqueezeBackward1")
_SQUEEZE = _in_place_row("squeeze", _squeeze_name)
_AS_STRIDED = _in_place_row("as_strided", "AsStridedBackward1")

_FIELDS = [s for s in Tensor.__slots__ if s not in ("__weakref__", "__dict__")]


def _handle(t: Tensor) -> Tensor:
    """A second Tensor object that is `t` as it is now (metadata, history, view chain)."""
    old = object.__new__(Tensor)
    for f in _FIELDS:
        setattr(old, f, getattr(t, f))
    old.__dict__.update(t.__dict__)
    return old


def _check(self: Tensor, op: str) -> None:
    refuse_captured_write(self, f"aten::{op}")
    self._check_write_to_stale_view()
    base = self._viewed
    if base is not None and grad_mode.is_grad_enabled() and (
            self._requires_grad or base._requires_grad):  # (as any in-place op on a view)
        self._check_view_rebasable()
    if (base is not None and self._requires_grad and self._grad_fn is None
            and grad_mode.is_grad_enabled()):
        raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                           "in-place operation.")
    self._check_inplace(overlap_ok=True)
    if self._storage.runs_ops and (self._sharding is None or op == _AS_STRIDED):
        raise NotImplementedError(f"{op} of a {'sharded' if self._sharding else 'remote'} "
                                  f"tensor is not supported; use the out-of-place "
                                  f"{op.rstrip('_')}")


def _restride(self: Tensor, op: str, of_base: bool = False, **attrs) -> Tensor:
    """self takes the shape, strides and history of the view `op` makes of it (of its
    base, `of_base`: as_strided's layout is the base's memory's)."""
    _check(self, op)
    old = _handle(self)
    if self._sharding is not None:
        new = _sharded_restride(self, old, op, attrs)
    else:
        new = call(op, self._viewed if of_base and self._viewed is not None else old, **attrs)
    _take_view(self, new, old.stride())
    if record.forward_ad is not None:  # (a dual: its tangent takes the same view)
        self.__dict__.pop("_fw_tangent", None)
        record.forward_ad.keep_tangent(new, self)
    self._count_write()
    if self._viewed is None or grad_mode.is_grad_enabled():
        # (without grad mode a view's history is made anew from its base's when next
        # read, as after any in-place op on it then: AsStridedBackward0)
        self._view_version = self._storage.version
    return self


def _take_view(self: Tensor, new: Tensor, strides) -> None:
    """self (laid out by `strides` until now) takes the layout and history of `new`, a
    view of a handle on it."""
    self._value, self.shape, self._layout = new._value, new.shape, new._layout
    self._relaid_from(strides)
    if self._viewed is not None:  # still a view of the same base, one step further
        self._view_of = new._view_of
    if new._requires_grad and (grad_mode.is_grad_enabled() or self._viewed is not None):
        # (under no_grad a tensor that is no view keeps its history, as torch's)
        self._requires_grad = True
        self._grad_fn, self._output_nr = new._grad_fn, new._output_nr


def _sharded_restride(self: Tensor, old: Tensor, op: str, attrs: dict) -> Tensor:
    """The view of a sharded tensor by the out-of-place op's sharding rule, under the
    in-place op's node name. Its parts are restrided in place as self is (views taken of
    them before still view them, and a write through one is theirs), which was a write:
    what an op saved of them is stale, as in torch."""
    parts = self._sharding.shards
    old._sharding = copy.copy(self._sharding)
    old._sharding.shards = [_handle(p) if p is not None else None for p in parts]
    new = call(op[:-1], old, **attrs)
    if new._grad_fn is not None:
        new._grad_fn._name = OPS[op].node_name([old], attrs)
    made = new._sharding.shards
    for k, (part, was) in enumerate(zip(parts, old._sharding.shards)):
        if part is None or made[k] is None:
            continue
        _take_view(part, made[k], was.stride())
        part._storage.wrote()
        part._view_version = part._storage.version  # (its history is this op's)
        made[k] = part
    self._sharding = new._sharding.held_by(self)
    return new


def t_(self):
    if self.ndim > 2:
        raise RuntimeError(f"t_() expects a tensor with <= 2 dimensions, but self is "
                           f"{self.ndim}D")
    return _restride(self, _T)


def transpose_(self, dim0, dim1):
    return _restride(self, _TRANSPOSE, dim0=dim0, dim1=dim1)


def unsqueeze_(self, dim):
    wrap_dim(dim, self.ndim + 1)
    return _restride(self, _UNSQUEEZE, dim=dim)


def squeeze_(self, dim=None):
    if dim is None:
        return _restride(self, _SQUEEZE)
    return _restride(self, _SQUEEZE, dim=list(dim) if isinstance(dim, (tuple, list)) else dim)


def as_strided_(self, size, stride, storage_offset=None):
    base = self if self._viewed is None else self._viewed
    offset = self.storage_offset() if storage_offset is None else int(storage_offset)
    size, stride = [int(n) for n in size], [int(n) for n in stride]
    if base.device_str == "cpu" and views_memory_beyond_itself(base):  # (as as_strided:
        # bounded by the memory a detached view views, not by its own elements)
        check_in_storage(size, stride, offset, self.dtype.itemsize, memory_size(base))
    return _restride(self, _AS_STRIDED, of_base=True, **strided_place(base, size, stride,
                                                                      offset))


METHODS = dict(t_=t_, transpose_=transpose_, swapdims_=transpose_, swapaxes_=transpose_,
               unsqueeze_=unsqueeze_, squeeze_=squeeze_, as_strided_=as_strided_)


# ---- set_: the tensor takes another's memory ------------------------------------------------

_SET_OVERLOADS = (
    " * ()\n * (torch.Storage source)\n * (torch.Storage source, int storage_offset, tuple of "
    "ints size, tuple of ints stride = None)\n * (Tensor source)\n * (Tensor source, int "
    "storage_offset, tuple of ints size, tuple of ints stride = None)\n")


def set_(self, source=None, storage_offset=None, size=None, stride=None):
    """torch's Tensor.set_: self views the memory of `source` (a tensor: its layout too; a
    storage object: all of it, or `size` and `stride` from `storage_offset`), or new empty
    memory (no source). self keeps its version counter, which counts the write, and a view
    stays one; a write through either is seen by the other, as torch's."""
    if self._storage.runs_ops:
        raise NotImplementedError(f"set_ of a tensor on device '{self.device_str}' is not "
                                  "supported (a sharded tensor's memory is its parts')")
    given = [a for a in (source, storage_offset, size, stride) if a is not None]
    if given:
        kept, value, shape, strides_offset = _set_target(self, source, storage_offset, size,
                                                         stride)
    elif self.device_str == "cpu":
        kept, value, shape, strides_offset = (storage.for_device("cpu"),
                                              np.empty(0, self.dtype.np), (0,), None)
    else:
        with grad_mode.no_grad():
            empty = self.new_empty(0)
        kept, value, shape, strides_offset = empty._storage, empty._value, (0,), None
    _check(self, "set_")
    inference = self._storage.inference  # (an inference tensor or not as it was: torch's
    # is the tensor's, not its memory's)
    was = _handle(self)
    self._value, self.shape, self._layout = value, Size(shape), strides_offset
    self._relaid_from(was.stride())
    self._storage = kept.counted_by(self._storage)
    self._storage.inference = inference
    source = source if isinstance(source, Tensor) else None
    if self._viewed is not None:  # (torch's stays a view of its base, as after `.data =`;
        # its view ops no longer make it: it is replayed, and written through, by its place
        # in the base's memory, as torch's AsStrided)
        self._view_of = (self._viewed, "as_strided", place_of(self), 0)
        return _set_view(self, was, source)
    self._count_write()
    self._acc = None  # (torch resets its grad accumulator: what was made of it before leads
    # to the old one, which still sums into .grad; autograd.grad by it finds a new one)
    self._view_version = self._storage.version
    if grad_mode.is_grad_enabled() and (self._requires_grad or (
            source is not None and source.requires_grad)):
        _record_set(self, source)
    return self


def _set_view(self: Tensor, was: Tensor, source) -> Tensor:
    """set_ of a view (`was` before it): torch writes it as any in-place op on a view. Its
    history is made anew from its base's when next read (AsStridedBackward0, or the error
    of a view it forbids rebuilding); in grad mode the base takes the write's history
    (CopySlices of set_'s node, which has no derivative)."""
    if not grad_mode.is_grad_enabled() or not (
            self.requires_grad or (source is not None and source.requires_grad)):
        self._count_write()
        return self
    if self.device_str == "cpu":  # (what the node reads: nothing)
        was._value = np.zeros(tuple(was.shape), self.dtype.np)
    result = call("set_", was, *([source] if source is not None else []),
                  shape=list(self.shape))
    result._value = self._value  # (the values the view now holds: its new memory's)
    return self._inplace_through_view(result)


def _set_target(self, source, storage_offset, size, stride):
    """(the storage kept, self's new value (an array, or a worker's handle), its shape, its
    (strides, offset) or None) for set_'s arguments, refused in torch's words."""
    from ..storage_objects import TypedStorage, UntypedStorage

    whole = storage_offset is None and size is None and stride is None
    if not isinstance(source, (Tensor, TypedStorage, UntypedStorage)) or not whole and (
            storage_offset is None or size is None):
        got = ", ".join(_type_name(a) for a in (source, storage_offset, size, stride)
                        if a is not None)
        raise TypeError(f"set_() received an invalid combination of arguments - got ({got}), "
                        f"but expected one of:\n{_SET_OVERLOADS}")
    if isinstance(source, Tensor):
        _require_device(self, source.device_str)
        if source.dtype is not self.dtype:
            raise RuntimeError(f"Could not set tensor of type {source.dtype.c_name} to a "
                               f"tensor of type {self.dtype.c_name}")
        if whole:  # (its very value: the same places of the same memory)
            return source._storage, source._value, tuple(source.shape), source._layout
        untyped, kept = source.untyped_storage(), source._storage
    else:
        untyped = source.untyped() if isinstance(source, TypedStorage) else source
        _require_device(self, device_str(untyped.device))
        if isinstance(source, TypedStorage) and source.dtype is not self.dtype:
            raise RuntimeError(f"Expected a Storage of type {self.dtype.c_name} or an "
                               f"UntypedStorage, but got type {source.dtype.long_name} for "
                               "argument 1 'storage'")
        kept = untyped._tensor_memory
    places = untyped.nbytes() // self.dtype.itemsize
    offset = 0 if whole else int(storage_offset)
    size = [places] if whole else [int(n) for n in size]
    stride = layout.contiguous_strides(size) if stride is None else [int(n) for n in stride]
    _check_layout(size, stride, offset, places, self.dtype.itemsize)
    if untyped._array is None:  # a worker's memory: the view is made there
        view = _view_of_memory(untyped._elsewhere, self.dtype, size, stride, offset)
        return kept, view._value, tuple(size), view._layout
    array = _elements(untyped, self.dtype)
    value = np.lib.stride_tricks.as_strided(array[offset:], tuple(size),
                                            tuple(s * array.itemsize for s in stride),
                                            writeable=array.flags.writeable)
    row_major = offset == 0 and tuple(stride) == tuple(layout.contiguous_strides(size))
    return kept, value, tuple(size), None if row_major else (tuple(stride), offset)


def _view_of_memory(memory: Tensor, dtype, size, stride, offset: int) -> Tensor:
    """A view, on its worker, of the memory `memory` (a tensor of all of it) holds, read as
    `dtype` at torch's places."""
    if memory.dtype.itemsize != dtype.itemsize:
        raise NotImplementedError(f"set_ of a {dtype} tensor to the memory of a {memory.dtype} "
                                  f"tensor on {memory.device_str} is not supported")
    with grad_mode.no_grad():
        view = memory.as_strided(size, stride, offset)
        return view if view.dtype is dtype else view.view(dtype)


def _require_device(self, device: str) -> None:
    if device != self.device_str:
        raise RuntimeError(f'Attempted to set the storage of a tensor on device '
                           f'"{self.device_str}" to a storage on different device "{device}".'
                           '  This is no longer allowed; the devices must match.')


def _type_name(value) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ in ("builtins", "distgrad.tensor") else \
        "torch.storage." + kind.__name__


def _elements(untyped, dtype) -> np.ndarray:
    """The memory of a storage object as a flat array of `dtype` (a view of it)."""
    data = untyped._bytes()
    if data.size and not np.may_share_memory(data, untyped._memory()):
        raise NotImplementedError("set_ to memory that is not one block is not supported")
    return data[:data.size - data.size % dtype.itemsize].view(dtype.np)


def _check_layout(size, stride, offset: int, places: int, itemsize: int) -> None:
    if offset < 0:
        raise RuntimeError(f"Tensor: invalid storage offset {offset}")
    if len(size) != len(stride):
        raise RuntimeError(f"unequal size length ({len(size)}) and stride length "
                           f"({len(stride)})")
    needed = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if all(size) and needed > places:
        # (torch grows the storage; distgrad's memory is shared as it was made)
        raise NotImplementedError(
            f"set_ past the end of the storage is not supported: sizes {list(size)}, strides "
            f"{list(stride)}, storage offset {offset}, and itemsize {itemsize} need "
            f"{needed * itemsize} bytes of a storage of {places * itemsize}")


def _record_set(self, source) -> None:
    """torch gives set_ no derivative: self requires grad through a node whose backward
    raises, with edges to self's old history and to the source's."""
    old = _handle(self)
    if self.device_str == "cpu":  # (what the node reads: nothing)
        old._value = np.zeros(tuple(old.shape), self.dtype.np)
    result = call("set_", old, *([source] if source is not None else []),
                  shape=list(self.shape))
    self._requires_grad = True
    self._grad_fn, self._output_nr = result._grad_fn, 0


def _no_derivative(c, g):
    raise RuntimeError("derivative for set_ is not implemented")


defop("set_", lambda x, *source, shape: np.zeros(tuple(shape), x.dtype),
      lambda x, *source, shape: Meta(shape, x.dtype), _no_derivative,
      node="torch::autograd::NotImplemented")

METHODS["set_"] = set_
