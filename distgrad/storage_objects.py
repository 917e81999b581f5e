"""torch's storage objects: `Tensor.untyped_storage()` (the bytes of a tensor's whole
memory) and the deprecated `Tensor.storage()` (the same memory as elements of the tensor's
dtype). Code reads them to tell whether two tensors share memory
(`a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()`) and how much there
is; every view of one memory gets the same object, as in torch.

A worker's tensor has its memory in another process: its storage tells its size and the
address the driver gave that memory (as `Tensor.data_ptr()` does), and reads its bytes
from the worker.
"""
from __future__ import annotations

import warnings
import weakref

import numpy as np

from .storage import root_array

_TYPED_WARNING = (
    "TypedStorage is deprecated. It will be removed in the future and UntypedStorage will be "
    "the only storage class. This should only matter to you if you are using storages "
    "directly.  To access UntypedStorage directly, use tensor.untyped_storage() instead of "
    "tensor.storage()")
_warned_typed = False


class UntypedStorage:
    """The bytes of one memory (see the module doc)."""

    def __init__(self, tensor):
        self.device = tensor.device
        self._nbytes_elsewhere = memory_nbytes(tensor)
        # The driver's memory itself; for a worker's, a tensor on it (without its graph).
        on_driver = tensor.device_str == "cpu"
        self._made_on = root_array(tensor) if on_driver else None
        self._elsewhere = None if on_driver else memory_tensor(tensor).detach()
        owner = memory_tensor(tensor)._storage
        self._tensor_memory = owner.memory or owner  # (its flags, and its array now)

    @property
    def _array(self):
        """The driver's memory as it is now (resized since, it is another array)."""
        if self._made_on is None:
            return None
        return self._tensor_memory.memory_array(self._made_on)

    @property
    def _nbytes(self) -> int:
        if self._made_on is None:
            return self._nbytes_elsewhere
        array = self._array
        return array.nbytes if array.size else 0

    def resize_(self, size):
        """torch's resize of the storage to `size` bytes, its first bytes kept: every
        tensor on it views the memory as it is then (past its end, torch's values are
        undefined: a tensor there keeps those it had)."""
        if not isinstance(size, int) or isinstance(size, bool):
            raise RuntimeError(f"resize_ expects an int, but got {type(size).__name__}")
        if size < 0:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:98] ((ptrdiff_t)nbytes) >= 0. "
                               "alloc_cpu() seems to have been called with negative number: "
                               f"{size % 2 ** 64}")
        if self._made_on is None:
            raise NotImplementedError("resize_ of a worker's storage is not supported")
        if size != self._nbytes:
            self._tensor_memory.resize_memory(self._array, size)
        return self

    def is_shared(self) -> bool:
        """Whether share_memory_() was called on a tensor of this memory (before or after
        this object was made)."""
        return self._tensor_memory.shared

    def _memory(self) -> np.ndarray:
        if self._array is None:  # (read from the worker each time: runs may write it)
            return _fetched_memory(self._elsewhere)
        return self._array

    def data_ptr(self) -> int:
        if self._nbytes == 0:
            return 0
        if self._array is None:  # (an address the driver gave it: distributed/storage.py)
            t = self._elsewhere
            return t.data_ptr() - t.storage_offset() * t.element_size()
        return self._array.__array_interface__["data"][0]

    def nbytes(self) -> int:
        return self._nbytes

    size = nbytes

    def __len__(self) -> int:
        return self._nbytes

    def element_size(self) -> int:
        return 1


    def tolist(self) -> list:
        return self._bytes().tolist()

    def __getitem__(self, index):
        return self._bytes()[index].tolist()

    def __iter__(self):
        return iter(self.tolist())

    def _bytes(self) -> np.ndarray:
        if self._nbytes == 0:
            return np.zeros(0, np.uint8)
        # (in memory order: a root may own its memory column-major)
        return self._memory().ravel(order="K").view(np.uint8)[:self._nbytes]

    def __repr__(self) -> str:
        return _listed(self.tolist(), f"torch.storage.UntypedStorage(device={self.device}) of "
                                      f"size {len(self)}")


class TypedStorage:
    """One memory as elements of a dtype: torch's deprecated `Tensor.storage()`."""

    def __init__(self, untyped: UntypedStorage, dtype):
        self._untyped, self.dtype = untyped, dtype

    @property
    def device(self):
        return self._untyped.device

    def untyped(self) -> UntypedStorage:
        return self._untyped

    def is_shared(self) -> bool:
        return self._untyped.is_shared()

    def data_ptr(self) -> int:
        return self._untyped.data_ptr()

    def nbytes(self) -> int:
        return self._untyped.nbytes()

    def element_size(self) -> int:
        return self.dtype.itemsize

    def size(self) -> int:
        return self._untyped.nbytes() // self.dtype.itemsize

    __len__ = size

    def tolist(self) -> list:
        return self._untyped._bytes().view(self.dtype.np).tolist()

    def __getitem__(self, index):
        return self._untyped._bytes().view(self.dtype.np)[index].tolist()

    def __iter__(self):
        return iter(self.tolist())

    def __repr__(self) -> str:
        return _listed(self.tolist(), f"torch.storage.TypedStorage(dtype={self.dtype}, "
                                      f"device={self.device}) of size {len(self)}")


def untyped_storage(tensor) -> UntypedStorage:
    """The storage object of tensor's memory: one per memory (Tensor.untyped_storage)."""
    owner = memory_tensor(tensor)._storage
    memory = owner.memory or owner
    cached = memory.python_storage and memory.python_storage()
    if cached is None or cached._nbytes != memory_nbytes(tensor):
        cached = UntypedStorage(tensor)
        # (weakly: a strong one would make a cycle through the memory, which kept a worker's
        # array until the driver's cyclic GC ran)
        memory.python_storage = weakref.ref(cached)
    return cached


def typed_storage(tensor) -> TypedStorage:
    """Tensor.storage(): warns once, as torch does."""
    global _warned_typed
    if not _warned_typed:
        _warned_typed = True
        warnings.warn(_TYPED_WARNING, UserWarning, stacklevel=3)
    return TypedStorage(untyped_storage(tensor), tensor.dtype)


def memory_nbytes(tensor) -> int:
    """The bytes of the memory tensor views: its driver array's whole buffer, or on a
    worker its base's elements (every view of which lies inside them)."""
    if tensor.device_str == "cpu":
        root = root_array(tensor)
        return root.nbytes if root.size else 0
    return memory_tensor(tensor).numel() * tensor.dtype.itemsize


def memory_tensor(t):
    """The tensor whose elements are t's whole memory: its base (every view lies inside;
    a sharded view's is the sharded tensor its parts view), or the whole its memory kept
    when a view's memory went to a handle that is no view (Storage.lend), or after it grew
    (a worker's: the base is then a part of it)."""
    memory = t._storage.memory or t._storage
    base = t._storage.view_base(t)
    if base is None or memory.grown is not None:
        whole = memory.lent_whole()
        base = base if whole is None else whole
    return t if base is None else base


def _fetched_memory(base) -> np.ndarray:
    """A worker's memory (a tensor of all of it), read into the driver with the strides it
    has there, so its bytes come in memory order as the driver's do."""
    values = base.cpu().numpy()
    order = sorted(range(base.dim()), key=lambda d: -base.stride(d))
    return np.ascontiguousarray(values.transpose(order)).transpose(np.argsort(order))


def _listed(values: list, title: str) -> str:
    return "\n".join([f" {v}" for v in values] + [f"[{title}]"])
