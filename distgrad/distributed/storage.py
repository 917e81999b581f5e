"""The storage kinds of distributed tensors, registered with `distgrad.storage`.

A worker's memory is reached through its instruction queue (a read waits for the run that
made the value; a write is queued like any op); a sharded tensor's is its shards', each
where it lives.
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import storage
from ..autograd import record
from ..autograd.grad_mode import no_grad
from ..ops import layout
from ..storage_objects import memory_nbytes, memory_tensor


# The addresses the driver gives workers' memories: a space of their own, as a cuda
# device's is (nothing in the driver reads them), 64-byte aligned as torch's allocations.
_ALIGN = 64
_next_address = 1 << 40


def _no_resize_in_memory(self, t, shape, strides=None) -> bool:
    return False  # (resize_ refuses a sharded tensor; out= gives it a result of its own)


def _data_ptr(self, t) -> int:
    """Where t's first element is in its memory, by an address the driver gave that memory
    when first asked (a worker's own addresses are in its process; a sharded tensor's
    memory is its parts', on several): views of one memory compare as torch's, and no two
    live memories share an address."""
    owner = memory_tensor(t)._storage
    memory = owner.memory or owner
    if getattr(memory, "address", None) is None:
        memory.address = _address_for(memory_nbytes(t))
    return memory.address + t.storage_offset() * t.element_size()


def _same_handle(a, b) -> bool:
    return a._value is b._value and a.shape == b.shape and a.dtype is b.dtype and \
        a._layout == b._layout


def _worker_resized_in_memory(self, t, shape, strides=None) -> bool:
    """torch's resize of t to `shape` where its memory holds it, as the driver's
    (storage.Storage.resized_in_memory): t becomes a view, on its worker, of the memory it
    views, at its offset, so its other views see what is written to it. False where the
    memory is too small (torch grows it) or not one dense block."""
    from ..ops.views import as_strided_of

    whole = memory_tensor(t)
    if t._value is None or whole.storage_offset() != 0 or \
            not layout.is_non_overlapping_and_dense(whole.shape, whole.stride()):
        return False
    offset = t.storage_offset()
    memory = self.memory or self
    needed = offset + int(np.prod(shape, dtype=np.int64))
    if needed > whole.numel():
        whole = _grown(memory, whole, needed)
    if strides is None or not layout.is_non_overlapping_and_dense(shape, strides):
        strides = layout.contiguous_strides(shape)
    if whole is t and getattr(memory, "whole", None) is None:  # (what all of the memory is,
        # once t, its handle, holds less of it or in another shape)
        memory.whole = (t._value, t.shape, t.dtype, t.device_str, t._layout)
    with no_grad():
        placed = as_strided_of(whole, list(shape), list(strides), offset)
    t._value, t.shape, t._layout = placed._held, type(t.shape)(shape), (tuple(strides), offset)
    if memory.grown is not None:
        memory.grown.handles.add(placed._held)
    return True


def _grown(memory, whole, numel: int):
    """torch's growth of a storage too small for a resize: the memory becomes a new array
    on the worker that begins with its elements (zeros after), of which every tensor on it
    is a view from then on, at the same place (WorkerGrowth); a new address, as torch's
    reallocated memory has. Returns a tensor of all of it."""
    from ..autograd.record import call

    with no_grad():
        grown = call("resize", whole, shape=[numel])
    memory.whole = (grown._value, grown.shape, grown.dtype, grown.device_str, None)
    memory.grown = WorkerGrowth(memory, grown._value)
    memory.address = None
    return memory.lent_whole()


class WorkerGrowth:
    """A worker memory grown in place (torch's resize of its storage): the memory's `whole`
    is all of it now, and `handles` the handles already on it. A tensor still on the memory
    it was is moved onto it when next used: a view of the new memory at the tensor's place,
    made on the worker (as_strided)."""

    __slots__ = ("memory", "handles")

    def __init__(self, memory, handle):
        self.memory = memory
        self.handles = weakref.WeakSet([handle])  # those on the memory as it is now

    def moved(self, t):
        held = t._held
        if held is None or held in self.handles:
            return held
        from ..ops.views import as_strided_of

        self.handles.add(held)  # (while moving: reading the whole does not move it again)
        try:
            strides, offset = t._strides_offset()
            with no_grad():
                placed = as_strided_of(self.memory.lent_whole(), list(t.shape), list(strides),
                                       offset)
        finally:
            self.handles.discard(held)
        t._held = placed._held
        self.handles.add(t._held)
        return t._held


class WorkerStorage(storage.Storage):
    # whole: what a handle on all of the memory is made of, once a handle that is no view (a
    # view's detach()) holds part of it: its storage is all of the memory, as torch's. Not
    # that handle itself: its storage is this one, and the cycle would keep the worker's
    # array until the driver's cyclic GC ran (after a compiled step's recording ended).
    __slots__ = ("address", "whole")
    data_ptr = _data_ptr
    resized_in_memory = _worker_resized_in_memory

    def lend(self, t) -> None:
        memory = self.memory or self
        if t._viewed is not None and getattr(memory, "whole", None) is None:
            base = memory_tensor(t)
            if _same_handle(base, t):  # (a view of all of it as it is: the handle is the whole)
                return
            memory.whole = (base._value, base.shape, base.dtype, base.device_str, base._layout)

    def lent_whole(self):
        from ..tensor import Tensor

        whole = getattr(self, "whole", None)
        if whole is None:
            return None
        value, shape, dtype, device, layout = whole
        t = Tensor._make(value, shape, dtype, device, memory=self)
        t._layout = layout
        return t

    def read(self, t) -> np.ndarray:
        return record.executor_for(t.device_str).fetch(t._value)

    def write(self, t, result) -> None:
        if result._sharding is not None:  # a sharded result: gathered here first
            from .sharding import full_tensor

            with no_grad():
                result = full_tensor(result, t.device_str)
        record.executor_for(t.device_str).assign(t._value, result._value)

    def shown_as(self, t):
        """A part of a sharded tensor is named as that tensor in torch's errors."""
        from .sharding import whole_of

        whole = whole_of(t)
        return t if whole is None else whole


class ShardedStorage(storage.Storage):
    """A sharded or replicated tensor's memory is its parts': ops go to the sharding rules,
    its gradient is its parts' gradients."""

    __slots__ = ("address",)
    runs_ops = True
    data_ptr = _data_ptr
    resized_in_memory = _no_resize_in_memory

    def run_op(self, name: str, inputs, attrs: dict):
        from . import sharding

        return sharding.dispatch(name, inputs, attrs)

    def grad(self, t):
        from . import sharding

        return sharding.sharded_grad(t)

    def set_grad(self, t, value) -> None:
        t._check_assigned_grad(value, any_device=True)
        self.set_leaf_grad(t, value)

    def set_leaf_grad(self, t, value) -> None:
        from . import sharding

        sharding.set_sharded_grad(t, value)

    def full(self, t, device: str):
        from . import sharding

        return sharding.full_tensor(t, device)

    def place_like(self, t, value):
        from . import sharding

        return sharding.placed_like(value, t._sharding)

    def place_beside(self, t, value):
        from . import sharding

        return sharding.replicate(value, t._sharding.workers)  # a copy beside every part

    def parts_edges(self, t):
        from . import sharding

        return sharding.parts_edges(t)

    def with_parts_edges(self, t, edges):
        from . import sharding

        return sharding.with_parts_edges(t, edges)

    def placement_record(self, t):
        from .sharding import Shard

        s = t._sharding
        if isinstance(s.placement, Shard):
            return {"kind": "shard", "dim": s.placement.dim, "workers": list(s.workers)}
        return {"kind": "replicate", "workers": list(s.workers)}

    def make_like(self, t, make):
        from . import sharding

        return sharding.like_shards(t, make)

    def view_base(self, t):
        from . import sharding

        base = sharding._view_base(t) if t._is_view() else t
        return base if base is not t else None

    def make_new(self, t, make, make_part):
        from . import sharding

        return sharding.new_placed(t, make, make_part)

    def place_as(self, t, value):
        from . import sharding

        return sharding.placed_like(value, t._sharding)

    def writes(self, t) -> int:
        copied = t._sharding.copied_view_of
        if copied is not None:  # torch's view shares its base's version counter
            return copied.inputs[0]._version
        return max(self.version, t._sharding.writes())

    def wrote_outside(self, t) -> None:
        self.wrote()
        for part in t._sharding.shards:
            if part is not None:
                part._storage.wrote_outside(part)

    def apply_function(self, function, args, kwargs):
        from . import sharding

        return sharding.apply_gathered(function, args, kwargs)  # as an op without a rule

    def watch_leaf_hooks(self, t) -> None:
        from . import sharding

        sharding.watch_leaf_hooks(t)

    def hooks_node(self, t, node):
        from . import sharding

        return sharding.hooks_node(t, node)

    def check_view_write(self, t, result) -> None:
        from . import sharding

        sharding.check_view_write(t, result)

    def read(self, t) -> np.ndarray:
        return t._sharding.gather_value(t)

    def write(self, t, result) -> None:
        from .sharding import assign_inplace

        assign_inplace(t, result)

    def took_write(self, t) -> None:
        from .sharding import take_views_history

        take_views_history(t)


def _address_for(nbytes: int) -> int:
    """The next free address for a memory of `nbytes`; the space is never reused (2**64
    bytes outlast any run)."""
    global _next_address
    address = _next_address
    _next_address += max(_ALIGN, -(-nbytes // _ALIGN) * _ALIGN)
    return address


storage.register_kind("worker", WorkerStorage)
storage.register_kind("sharded", ShardedStorage)
