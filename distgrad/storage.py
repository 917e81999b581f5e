"""Storage: the memory that a tensor and all its views share.

A Tensor is autograd metadata plus a view (shape, strides, offset, its own handle on the
memory) on a storage. The storage holds what all the views share: the version counter,
bumped by every in-place write through any of them (torch's), and the kind of memory,
which knows how to read it and write it in place. The driver's numpy memory is the kind
defined here; `distgrad.distributed` registers the worker and sharded kinds with
`register_kind`, so the tensor, the recorder and the engine never ask which kind they hold.
"""
from __future__ import annotations

import itertools
import weakref

import numpy as np

from .ops import layout


def root_array(tensor) -> np.ndarray:
    """The numpy array of the memory the driver tensor views (as it is now, if it was
    resized past the tensor's end)."""
    return tensor._storage.memory_array(array_root(tensor._value))


def array_root(arr: np.ndarray) -> np.ndarray:
    """The outermost numpy array whose memory `arr` views."""
    while True:
        base = getattr(arr, "base", None)
        if not isinstance(base, np.ndarray):
            # as_strided's result views its array through a wrapper (numpy's DummyArray)
            base = getattr(base, "base", None)
            if not isinstance(base, np.ndarray):
                return arr
        arr = base


_SERIALS = itertools.count()
# While a compiled step records: every storage written, once per write (a replay, which
# writes on the workers only, counts the same writes again: distgrad/compiled.py).
WRITTEN = None
# Told of each driver tensor whose values Python reads while a compiled step records
# (distributed/program.py), if one does
READ_WATCH = None


def serial_now() -> int:
    """A number below the serial of every storage made from now on (torch.func tells the
    tensors a transformed function captured from the ones it made by it)."""
    return next(_SERIALS)


class VersionCounter:
    """torch's version counter: the in-place writes seen by the tensors that share it (a
    tensor, its views and detached handles), whatever memory each of them holds now."""

    __slots__ = ("count",)

    def __init__(self, count: int = 0):
        self.count = count


class Storage:
    """The driver's memory: each view's handle is a numpy array over it."""

    __slots__ = ("counter", "memory", "memory_writes", "inference", "shared", "python_storage",
                 "serial", "handed_to_numpy", "grown")
    holds_data = True  # False: a kind of tensors with metas only (meta), whose ops skip values

    def __init__(self, memory=None):
        self.counter = VersionCounter()
        self.memory = memory  # the storage that first held this memory (None: this one)
        self.memory_writes = 0  # on the first storage: writes under any version counter
        # Made under inference_mode: torch's inference tensors (it and every view of it)
        # cannot be saved for backward or written in place outside it.
        self.inference = False
        self.shared = False  # share_memory_() was called on a tensor of it (first storage's)
        # its torch storage object (a weak reference: that object holds this memory), made
        # when first asked for
        self.python_storage = None
        self.serial = next(_SERIALS)  # (the first storage's tells when the memory was made)
        # numpy holds this memory too (first storage's): it may be written there, unseen
        self.handed_to_numpy = False
        self.grown = None  # a Growth, once this memory (first storage's) grew in place

    @property
    def version(self) -> int:
        return self.counter.count

    @version.setter
    def version(self, count: int) -> None:
        self.counter.count = count

    def renewed(self, version: int = 0) -> "Storage":
        """The same memory under a new version counter (torch's `.data`), at `version`."""
        renewed = type(self)(self.memory or self)
        renewed.inference = self.inference
        renewed.version = version
        return renewed

    def counted_by(self, other: "Storage") -> "Storage":
        """The same memory under `other`'s version counter: a tensor given this memory
        (`.data =`, set_) keeps its counter, shared with its views and detached handles."""
        renewed = self.renewed()
        renewed.counter = other.counter
        return renewed

    def wrote(self, counted: bool = True) -> None:
        """An in-place write through a tensor on this storage: its version counter counts
        it (unless not `counted`: an inference tensor's write in inference_mode), and so
        does the memory's count, which `.data` handles (own counters) share."""
        self.counter.count += counted  # (not .version: this runs at every in-place op)
        (self.memory or self).memory_writes += 1
        if WRITTEN is not None:
            WRITTEN.append(self)

    def memory_stamp(self) -> tuple:
        """What tells whether this memory was written since: by any handle on it."""
        root = self.memory or self
        return root, root.memory_writes

    def hand_to_numpy(self) -> None:
        """A numpy array on this memory was given out (numpy(), from_numpy): writes through
        it are counted nowhere."""
        (self.memory or self).handed_to_numpy = True

    def written_unseen(self) -> bool:
        """Whether this memory may have been written where no count sees it (numpy)."""
        return (self.memory or self).handed_to_numpy

    def same_memory(self, other: "Storage") -> bool:
        return (self.memory or self) is (other.memory or other)

    def writes(self, t) -> int:
        """t's version: the in-place writes through any view of this memory (a kind of
        parts also counts those through views of its parts)."""
        return self.counter.count

    def read(self, t) -> np.ndarray:
        """View `t`'s values as a numpy array in the driver."""
        if READ_WATCH is not None:
            READ_WATCH(t)
        return t._value

    def shown_as(self, t):
        """The tensor torch's errors name for `t` (a kind of parts names their whole)."""
        return t

    def data_ptr(self, t) -> int:
        """The address of t's first element (t has elements): its numpy view's, which starts
        there in the memory every view of it shares; after the memory was resized, the new
        memory's plus t's offset, as torch's (0 plus the offset when it has no bytes), also
        for a tensor that does not fit in it."""
        grown = (self.memory or self).grown
        if grown is None:
            return t._value.__array_interface__["data"][0]
        start = grown.root.__array_interface__["data"][0] if grown.root.nbytes else 0
        return start + t.storage_offset() * t.element_size()

    def resized_in_memory(self, t, shape, strides=None) -> bool:
        """torch's resize of t to `shape` in its memory: t becomes row-major at its offset
        in the memory it views (or laid out by `strides`, dense: an out= result takes its
        op's layout, as torch restrides it), so its other views see what is written to it.
        Memory too small grows first (`resize_memory`), as torch's storage does. False where
        the memory is not a driver array's, or not one block."""
        held = t._value
        if held is None:
            return False
        own = array_root(held)
        if not (own.flags.c_contiguous or own.flags.f_contiguous):
            return False
        start = held.__array_interface__["data"][0] - own.__array_interface__["data"][0]
        if held.size == 0:  # (an empty slice's array may point anywhere: its offset says)
            start = t.storage_offset() * held.itemsize
        root = self.memory_array(own)
        nbytes = start + int(np.prod(shape, dtype=np.int64)) * held.itemsize
        if nbytes > root.nbytes:
            root = self.resize_memory(root, nbytes)
        if strides is None or not layout.is_non_overlapping_and_dense(shape, strides):
            strides = layout.contiguous_strides(shape)
        t._value = np.ndarray(shape, held.dtype, buffer=root.ravel(order="K"), offset=start,
                              strides=[k * held.itemsize for k in strides])
        t.shape = type(t.shape)(shape)
        t._layout = (tuple(strides), t.storage_offset())
        return True

    def memory_array(self, root: np.ndarray) -> np.ndarray:
        """The array this memory is now, for `root`, the array a tensor on it views (one it
        was before it was resized, for a tensor that does not fit in it now)."""
        grown = (self.memory or self).grown
        return root if grown is None else grown.current(root)

    def resize_memory(self, root: np.ndarray, nbytes: int) -> np.ndarray:
        """torch's resize of this storage to `nbytes` (root: its array now): the memory
        becomes a new array that begins with root's bytes, which every tensor on it views
        from then on, at the same offsets (Growth); torch's storage object is the same."""
        memory = self.memory or self
        if memory.handed_to_numpy:
            raise RuntimeError("Trying to resize storage that is not resizable")
        dtype = root.dtype if nbytes % root.itemsize == 0 else np.dtype(np.uint8)
        resized = np.zeros(nbytes // dtype.itemsize, dtype)
        kept = min(nbytes, root.nbytes)
        resized.view(np.uint8)[:kept] = root.ravel(order="K").view(np.uint8)[:kept]
        before = [] if memory.grown is None else memory.grown.before
        memory.grown = Growth(resized, [r for r in before if r() is not None] +
                              [weakref.ref(root)])
        return resized

    def item(self, t):
        """The value of `t`, one element, as a Python number."""
        return self.read(t).reshape(()).item()  # (a bfloat16's too is a Python float)

    # What a tensor asks of its memory beyond reading and writing: a kind whose tensors are
    # made of other tensors (sharded) answers these for its parts.
    runs_ops = False  # whether ops on its tensors go to `run_op` instead of the recorder

    def run_op(self, name: str, inputs, attrs: dict):
        raise NotImplementedError

    def grad(self, t):
        return t._grad

    def set_grad(self, t, value) -> None:
        """`t.grad = value`, checked as torch checks it."""
        t._check_assigned_grad(value)
        t._grad = value

    def set_leaf_grad(self, t, value) -> None:
        """The engine's accumulation into a leaf (already checked)."""
        t._grad = value

    def full(self, t, device: str):
        """The whole tensor on one device (differentiable)."""
        return t.to(device)

    def place_like(self, t, value):
        """`value` placed as `t` is (a state dict's value before it is loaded into t)."""
        return value.to(t.device_str)

    def place_beside(self, t, value):
        """A small value that goes with t (an optimizer's step count) where t's memory is:
        on t's device, so that the ops that read it run there (as `place_like`, for one
        device; parts differ)."""
        return self.place_like(t, value)

    def parts_edges(self, t):
        """The gradient edges of t's parts, for a kind whose history is its parts' (saved
        through hooks: the unpacked tensor's parts take them back); None for one device."""
        return None

    def with_parts_edges(self, t, edges):
        """A tensor of t's values whose parts have `edges` (parts_edges), or None when t is
        not split as they were."""
        return None

    def placement_record(self, t):
        """How t is spread over workers, as distgrad.save records it (None: on one device)."""
        return None

    def make_like(self, t, make):
        """A `*_like` of t placed as t is: `make(t)` here; a kind of parts, part by part."""
        return make(t)

    def view_base(self, t):
        """The tensor whose memory view `t` views (None for no view): its `_base`."""
        return t._viewed

    def lend(self, t) -> None:
        """`t`'s memory is given to a handle that is no view of it (detach(), .data, .data =):
        a kind whose memory is not a driver array remembers what all of it is (memory_tensor)."""

    def lent_whole(self):
        """A tensor of all of this memory, as `lend` remembered it (None if it did not)."""
        return None

    def make_new(self, t, make, make_part):
        """A `new_*` of t: `make(device)` on t's device; a kind of parts places it by their
        placement (`make_part(part)` one alike each part)."""
        return make(t.device_str)

    def place_as(self, t, value):
        """`value`, a driver tensor of t's shape, placed as t is: on t's device."""
        return value if value.device_str == t.device_str else value.to(t.device_str)

    def watch_leaf_hooks(self, t) -> None:
        """`t`, a leaf, was given a hook: a kind whose backward runs elsewhere notes it."""

    def hooks_node(self, t, node):
        """The node of the backward under way that runs the hooks of `t` (its gradient edge's
        `node`): a kind whose graph runs in parts has a node of its own that joins them."""
        return node

    def check_view_write(self, t, result) -> None:
        """Before `result` is written into `t`: a kind whose views are copies standing for
        views refuses the writes torch's autograd refuses through a view (these come before
        the kernel's own checks)."""

    def wrote_outside(self, t) -> None:
        """`t`'s memory was changed outside distgrad's ops (increment_version): counted as
        an in-place write, on every part of a kind made of parts (what ops saved of them is
        stale too)."""
        self.wrote()

    def took_write(self, t) -> None:
        """`t` was written in place and took the writing op's history: a kind made of
        parts that are views gives it theirs (a view's history is regenerated after the
        write, as torch's)."""

    def apply_function(self, function, args, kwargs):
        """A custom autograd.Function applied to t's kind of tensors (runs_ops kinds only)."""
        raise NotImplementedError

    def write(self, t, result) -> None:
        """Write `result`'s values into view `t` (same shape and dtype)."""
        values = result._storage.read(result)  # (a sharded result is gathered)
        target = t._value
        if not target.flags.writeable and t._viewed is not None and t._viewed._value.flags.writeable:
            target = _writable_view(t)  # a view of an expanded tensor: numpy's is read-only
        if target.flags.writeable:
            np.copyto(target, values)
        else:  # memory numpy will not write (a buffer it was handed): take a private copy
            t._value = np.array(values)


class Growth:
    """A driver memory grown in place: the array it is now, and those it was (weakly: the
    tensors still on one keep it until they are moved onto the new one)."""

    __slots__ = ("root", "before")

    def __init__(self, root: np.ndarray, before: list):
        self.root = root
        self.before = before

    def current(self, root: np.ndarray) -> np.ndarray:
        """The memory's array now, for `root` if it is one the memory was (else root: an
        array of its own)."""
        return self.root if any(r() is root for r in self.before) else root

    def moved(self, t):
        """t's values on the memory as it is now: its array, moved there if it views one
        the memory was (at the same byte offset and strides, as torch's views are; one
        that does not fit in it stays where it was, its values torch's undefined ones)."""
        held = t._held
        if not isinstance(held, np.ndarray):
            return held
        old = array_root(held)
        if old is self.root or not any(r() is old for r in self.before):
            return held  # (on the memory now, or on memory of its own)
        offset = held.__array_interface__["data"][0] - old.__array_interface__["data"][0]
        if held.size == 0:
            offset = min(t.storage_offset() * held.itemsize, self.root.nbytes)
        try:
            moved = np.ndarray(held.shape, held.dtype, buffer=self.root, offset=offset,
                               strides=held.strides)
        except ValueError:  # (past the end of the memory, after it shrank)
            return held
        moved.flags.writeable = held.flags.writeable
        t._held = moved
        return moved


def _writable_view(t) -> np.ndarray:
    """t's elements in its base's memory, as a view numpy lets one write (t._value itself, if
    the base's memory is not one dense block)."""
    base = t._viewed._value
    root = base.ravel(order="K")  # the memory in its order: a view when it is dense
    if not np.may_share_memory(root, base):
        return t._value
    strides, offset = t._strides_offset()
    return np.lib.stride_tricks.as_strided(root[offset:], tuple(t.shape),
                                           tuple(s * root.itemsize for s in strides))


class MetaStorage(Storage):
    """torch's "meta" device: tensors with a shape, dtype and strides but no memory. Ops on
    them compute only their results' metas (autograd/record.py), in-place ones only check;
    reading values raises torch's errors."""

    __slots__ = ()
    holds_data = False

    def read(self, t) -> np.ndarray:
        raise NotImplementedError("Cannot copy out of meta tensor; no data!")

    def item(self, t):
        raise RuntimeError("Tensor.item() cannot be called on meta tensors")

    def data_ptr(self, t) -> int:
        return 0

    def resized_in_memory(self, t, shape, strides=None) -> bool:
        return False  # (resize_ gives it a result of its own: no memory to keep)

    def write(self, t, result) -> None:
        """Nothing to write: the op's checks (shapes, dtypes, devices) were made."""

    def place_like(self, t, value):
        """A state dict's value for t stays where it is: a meta tensor, with no data to keep,
        takes another's place as it is (load_state_dict(..., assign=True) materializes it)."""
        return value


_KINDS: dict[str, type] = {"cpu": Storage, "meta": MetaStorage}
_BY_DEVICE: dict[str, type] = {}  # the kind of each device string seen (a lookup per op)
_placement = None  # distgrad.distributed.placement, once it registered itself
_PLACEMENTS: dict = {}  # device type -> the means of moves to and from it (moves.py: meta)
_backward_expander = None  # distgrad.distributed.sharding, once it registered itself


def register_kind(device_type: str, kind: type) -> None:
    """Tensors on devices of this type ("worker", "sharded") keep their memory in `kind`."""
    _KINDS[device_type] = kind
    _BY_DEVICE.clear()


def register_backward(expander) -> None:
    """A kind whose tensors stand for their parts in a backward gives
    `expander.expand_outputs(outputs, grads)` and `expander.expand_inputs(inputs)`."""
    global _backward_expander
    _backward_expander = expander


def backward_expander():
    """What registered with `register_backward`, or None."""
    return _backward_expander


def register_placement(placement, device_type: str | None = None) -> None:
    """distgrad.distributed gives the means to place tensors on its devices:
    `put(array, device)` (a new tensor there), `move(t, device)` (a differentiable copy) and
    `transfer(t, device)` (a value's handle there, for the copy op). With `device_type`: the
    means of moves to and from devices of that type (distgrad/moves.py: "meta")."""
    global _placement
    if device_type is None:
        _placement = placement
    else:
        _PLACEMENTS[device_type] = placement


def placement(*devices: str):
    """The means to place tensors on and between `devices`: a device type's own where one
    of them has them (meta), else distgrad.distributed's."""
    for d in devices:
        own = _PLACEMENTS.get(d.partition(":")[0])
        if own is not None:
            return own
        refuse_absent_backend(d)
    if _placement is None:
        raise RuntimeError("distgrad.distributed is not initialized (call "
                           "distgrad.distributed.init() first)")
    return _placement


def holds_data(device: str) -> bool:
    """Whether tensors on `device` have values (not on the meta device; a device of no
    registered kind is taken to, for the error it gives where it is used)."""
    return getattr(_KINDS.get(device.partition(":")[0]), "holds_data", True)


def kind_of(device: str) -> type:
    """The storage kind of memory on `device` ("cpu", "meta", "worker:1", "sharded")."""
    kind = _BY_DEVICE.get(device)
    if kind is None:
        kind = _KINDS.get(device.partition(":")[0])
        if kind is not None:
            _BY_DEVICE[device] = kind
    if kind is None:
        refuse_absent_backend(device)
        raise RuntimeError(f"device '{device}' names no worker: distgrad.distributed is not "
                           "initialized (call distgrad.distributed.init() first)")
    return kind


_OWN_DEVICE_TYPES = ("cpu", "meta", "worker", "sharded")


def refuse_absent_backend(device: str) -> None:
    """torch's error for memory on a device type that a CPU-only build has no backend for
    (`.to("cuda")` on a machine without one)."""
    kind = device.partition(":")[0]
    if kind in _OWN_DEVICE_TYPES:
        return
    if kind in ("cuda", "xpu"):
        raise AssertionError(f"Torch not compiled with {kind.upper()} enabled")
    raise RuntimeError(f"PyTorch is not linked with support for {kind} devices")


def for_device(device: str) -> Storage:
    """A new storage for memory on `device`."""
    return kind_of(device)()
