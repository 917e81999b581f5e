"""`Tensor`: a value (a numpy array in the driver, or a handle to an array on a worker)
plus its autograd metadata. Every math method goes through `record.call`.
"""
from __future__ import annotations

import numbers
import re
import warnings
import weakref

import numpy as np

from . import dtypes, layouts, storage, storage_objects
from ._format import format_metas, format_tensor
from .autograd import differentiate, grad_mode, record, saved_hooks
from .autograd.function import refuse_captured_write, refuse_requires_grad_in_transform
from .autograd.graph import AccumulateGrad, _short_name
from .hook_handles import RemovableHandle
from .ops import layout, overlapping
from .ops.rules import broadcast_shapes, require_castable, triggered_internally
from .user_frames import user_stacklevel
from .ops.views import (as_strided_of, copy_slices_owning, covers_its_base, place_of,
                        reaches_outside, scatter_by_place, scatter_through_view, view_history)
from .ops.table import Size

call = record.call


# torch's device types (a `torch.device("cuda")` can be named on a machine without one), and
# distgrad's own: a worker.
_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                 "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                 "privateuseone", "worker", "sharded")


# a type, and an index without leading zeros (torch's device string grammar)
_DEVICE_STRING = re.compile(r"[A-Za-z_]+(?::(?:0|[1-9][0-9]*))?")


class device:
    """Where a tensor lives: `device(type='cpu')` or `device(type='worker', index=1)`.

    Any of torch's device strings names a device (`device("cuda:0")`), as in torch.
    """

    __slots__ = ("type", "index")

    def __init__(self, spec, index=None):
        if isinstance(spec, device):
            spec, index = spec.type, spec.index
        elif isinstance(spec, int) and not isinstance(spec, bool):
            raise RuntimeError("Cannot access accelerator device when none is available.")
        spec = str(spec)
        if not spec:
            raise RuntimeError("Device string must not be empty")
        if not _DEVICE_STRING.fullmatch(spec):
            hint = "; a worker is 'worker:K', K its index: worker:0, worker:1, ..." \
                if spec.startswith("worker") else ""
            raise RuntimeError(f"Invalid device string: '{spec}'{hint}")
        if ":" in spec:
            spec, idx = spec.split(":", 1)
            index = int(idx)
        if spec not in _DEVICE_TYPES:
            raise RuntimeError(f"Expected one of {', '.join(_DEVICE_TYPES)} device type at start "
                               f"of device string: {spec}")
        if index is not None and int(index) < 0:
            raise RuntimeError("Device index must not be negative")
        self.type = spec
        self.index = None if index is None else int(index)

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other):
        # (a device equals a device only: torch's `t.device == "cpu"` is False)
        if not isinstance(other, device):
            return NotImplemented
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    # `with distgrad.device("meta"):` is the default device of the factories given no
    # device= (a new layer's parameters too) until the block ends, as torch's.
    def __enter__(self):
        from . import creation

        _outer_devices.append(creation._default_device)
        creation.set_default_device(self)
        return self

    def __exit__(self, *exc) -> None:
        from . import creation

        creation.set_default_device(_outer_devices.pop())


_outer_devices: list = []  # the default device outside each `with device(...)` block


def device_str(d) -> str:
    """Normalise a device argument to its string form ('cpu', 'worker:1'), refused in
    torch's words if it names no device (device's checks)."""
    if d is None:
        return "cpu"
    key = d if isinstance(d, str) else str(device(d))
    known = _DEVICE_STRS.get(key)
    if known is None:
        parsed = device(key)
        # (torch's CPU and meta tensors have no device index, whatever was asked)
        known = parsed.type if parsed.type in ("cpu", "meta") else str(parsed)
        _DEVICE_STRS[key] = known
    return known


_DEVICE_STRS: dict = {}  # device string given -> its normal form


def _operator(op: str, reflected: bool = False):
    """Tensor's operator for a binary op of the table (`x op y`; reflected: `y op x`, a
    number first). Where the op refuses the other operand (a list, None, a numpy array) it
    returns NotImplemented, as torch's operators do: Python then gives the other operand its
    turn (a numpy array computes the op in numpy, its result a tensor by __array_wrap__)."""
    if reflected:
        def method(self, other):
            try:
                return call(op, other, self)
            except TypeError:
                return NotImplemented
    else:
        def method(self, other):
            try:
                return call(op, self, other)
            except TypeError:
                return NotImplemented
    return method


def _in_place_operator(method: str):
    """`x op= y` by Tensor's in-place `method`; where it refuses y, NotImplemented (Python
    then tries `x = x op y`, as with torch's)."""
    def in_place(self, other):
        try:
            return getattr(self, method)(other)
        except TypeError:
            return NotImplemented
    return in_place


def _in_place_binary_operator(op: str):
    """`x op= y` for a binary op of the table checked as TensorIterator checks it (as
    _in_place_operator's otherwise)."""
    def in_place(self, other):
        try:
            return self._in_place_binary(op, other)
        except TypeError:
            return NotImplemented
    return in_place


def _operators(op: str):
    """Tensor's operator methods for a binary op of the table: `x op y`, `y op x` (a number
    first) and `x op= y`."""
    return _operator(op), _operator(op, reflected=True), _in_place_binary_operator(op)


def _arg_type_name(value) -> str:
    """A value's type as torch's argument errors name it (its C type name): int, numpy.bool."""
    kind = type(value)
    return f"numpy.{kind.__name__}" if kind.__module__ == "numpy" else kind.__name__


def _read_only(prop: property, name: str) -> property:
    """`prop` refusing to be set or deleted in torch's words (its attribute of C++'s)."""
    def refuse(self, *value):
        raise AttributeError(f"attribute '{name}' of 'torch._C.TensorBase' objects is not "
                             "writable")
    return property(prop.fget, refuse, refuse, prop.__doc__)


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


class Tensor:
    """A multi-dimensional array that can record the ops applied to it.

    >>> x = distgrad.ones(2, requires_grad=True)
    >>> (x * 3).sum().backward(); x.grad
    tensor([3., 3.])
    """

    __slots__ = ("_held", "shape", "dtype", "device_str", "_requires_grad", "_grad_fn", "_grad",
                 "_output_nr", "_storage", "_viewed", "_acc", "_hooks", "_retains_grad",
                 "_post_acc_hooks", "_sharding", "_layout", "_view_of", "_view_version",
                 "_view_kind", "_no_accumulator", "_stands_for", "__weakref__", "__dict__")

    __array_priority__ = 1000  # numpy defers to Tensor's reflected operators

    @property
    def _value(self):
        """Its values: a numpy array over its memory in the driver (a handle elsewhere). A
        memory grown in place (torch's resize of its storage) is a new array: a tensor
        still on the old one is moved onto it when next read (storage.Growth)."""
        held = self._held
        memory = self._storage
        memory = memory.memory or memory
        return held if memory.grown is None else memory.grown.moved(self)

    @_value.setter
    def _value(self, value) -> None:
        self._held = value

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def _make(cls, value, shape, dtype, device_s="cpu", memory=None):
        t = object.__new__(cls)
        t._value = value
        t.shape = shape if type(shape) is Size else Size(shape)
        t.dtype = dtype
        t.device_str = device_s
        t._requires_grad = False
        t._grad_fn = None
        t._grad = None
        t._output_nr = 0
        if memory is None:
            memory = storage.for_device(device_s)
            memory.inference = grad_mode.is_inference_mode_enabled()
        t._storage = memory
        t._viewed = None
        t._layout = None  # (strides, storage offset); None: row-major from offset 0
        t._view_of = None  # (parent, op, attrs, output nr) for a view: how to replay it
        t._view_version = 0  # the version its grad_fn was made at (stale after a write)
        t._view_kind = None  # why a view may not be written in place (torch's rules)
        t._no_accumulator = False  # requires grad through its base, gets no .grad (no_grad view)
        t._stands_for = None  # the tensor whose copy an op took this for (see _version)
        t._acc = None
        t._hooks = None
        t._retains_grad = False
        t._post_acc_hooks = None
        t._sharding = None
        return t

    def _alias(self, keep_graph: bool = True):
        """A second handle on the same data and version counter (no copy)."""
        if self._sharding is not None:
            self._sharding.refresh(self)
        t = Tensor._make(self._value, self.shape, self.dtype, self.device_str)
        t._storage = self._storage
        t._sharding = self._sharding if keep_graph or self._sharding is None \
            else self._sharding.detached().held_by(t)  # detach() detaches every shard
        t._layout = self._layout
        if keep_graph:
            t._requires_grad = self._requires_grad
            t._grad_fn = self.grad_fn
            t._output_nr = self._output_nr
        return t

    def _snapshot(self):
        """A copy of the current value with its own version counter, whose history is a
        clone of self's (torch's `original_self`, for an op about to overwrite self: its
        gradient reaches self's history through CloneBackward0)."""
        if self._requires_grad and self.grad_fn is not None:
            with grad_mode.enable_grad():
                return call("clone", self)
        with grad_mode.no_grad():
            t = call("clone", self)
        t._requires_grad = self._requires_grad
        t._grad_fn = self.grad_fn
        t._output_nr = self._output_nr
        return t

    # ---- basic attributes --------------------------------------------------------------
    @property
    def device(self) -> device:
        return device(self.device_str)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    ndimension = dim

    def get_device(self) -> int:
        """-1 on the cpu, as torch; on `worker:K` the worker's number K (the index a
        `cuda:K` tensor gives)."""
        index = self.device.index
        return -1 if self.device.type == "cpu" or index is None else index

    def size(self, dim=None):
        if dim is None:
            return self.shape
        from .ops.rules import wrap_dim_of_some

        return self.shape[wrap_dim_of_some(dim, self.ndim)]

    def numel(self) -> int:
        return self.shape.numel()

    nelement = numel

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        """Its elements' bytes (an expanded tensor's counted per element, as torch's)."""
        return self.numel() * self.dtype.itemsize

    @property
    def is_cpu(self) -> bool:
        return self.device.type == "cpu"

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def layout(self):
        return layouts.strided  # every distgrad tensor is dense

    @property
    def is_meta(self) -> bool:
        return not self._storage.holds_data

    # What a dense tensor of distgrad's (on the CPU, the meta device or a worker) is not:
    # sparse, quantized, nested, pinned, or on another kind of accelerator.
    is_sparse = is_sparse_csr = is_quantized = is_nested = is_mkldnn = False
    is_mps = is_xpu = is_xla = is_ipu = is_vulkan = is_mtia = is_maia = False

    def is_pinned(self, device=None) -> bool:
        return False

    def is_distributed(self) -> bool:
        return False

    def data_ptr(self) -> int:
        """The address of its first element: equal for tensors that share memory at the same
        offset; 0 for a tensor without elements, as torch's."""
        return 0 if self.numel() == 0 else self._storage.data_ptr(self)

    const_data_ptr = data_ptr

    def untyped_storage(self):
        """Its memory's bytes, one object for every view of it (storage_objects.py)."""
        return storage_objects.untyped_storage(self)

    def storage(self):
        """Its memory as elements of its dtype (torch's deprecated TypedStorage)."""
        return storage_objects.typed_storage(self)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    # torch moves a CPU tensor's memory to shared memory for its worker processes; distgrad's
    # workers get tensors by their own channels, so only the mark (the memory's) is kept.
    def share_memory_(self):
        memory = self._storage.memory or self._storage
        memory.shared = True
        return self

    def is_shared(self) -> bool:
        return (self._storage.memory or self._storage).shared

    # ---- layout: strides and storage offset (ops/layout.py) -------------------------------
    def _strides_offset(self) -> tuple:
        if self._layout is None:
            return layout.contiguous_strides(self.shape), 0
        return self._layout

    def stride(self, dim=None):
        strides = self._strides_offset()[0]
        if dim is None:
            return strides
        from .ops.rules import wrap_dim_of_some

        return strides[wrap_dim_of_some(dim, self.ndim)]

    def storage_offset(self) -> int:
        return self._strides_offset()[1]

    def _stride_slots(self) -> tuple:
        """Its strides, then those of the dims it lost in place: torch keeps a tensor's
        strides in slots that outlive its dims, and its gradient layout check reads them."""
        return self.stride() + self.__dict__.get("_lost_strides", ())

    def _relaid_from(self, strides) -> None:
        """After it took another layout in place (out='s resize, set_, squeeze_, ...) from
        one of `strides`: the slots past its new dims keep those strides."""
        slots = tuple(strides) + self.__dict__.get("_lost_strides", ())
        self.__dict__["_lost_strides"] = slots[self.dim():]
        self._count_relayout()

    def _count_relayout(self) -> None:
        """Its layout changed in place: the view ops its views were made by, from its old
        layout, no longer make them from it (ops/views.py: `view_chain`)."""
        self.__dict__["_relayouts"] = self.__dict__.get("_relayouts", 0) + 1

    def is_set_to(self, tensor) -> bool:
        """Whether both are the same places of the same memory: its offset, sizes and
        strides (not the dtype, as torch's)."""
        if not isinstance(tensor, Tensor):
            raise TypeError("is_set_to(): argument 'tensor' (position 1) must be Tensor, not "
                            f"{type(tensor).__name__}")
        return (self._storage.same_memory(tensor._storage) and self.shape == tensor.shape and
                tuple(self.stride()) == tuple(tensor.stride()) and
                self.storage_offset() == tensor.storage_offset())

    def is_contiguous(self, memory_format=None) -> bool:
        if memory_format is not None:
            from .ops.functions import memory_format_name

            fmt = memory_format_name("is_contiguous", memory_format)
            return layout.is_contiguous_in(self.shape, self._strides_offset()[0], fmt)
        return self._layout is None or layout.is_contiguous(self.shape, self._layout[0])

    def _whole_view(self):
        """A new tensor viewing all of self's data, a view of self's base (torch's alias),
        made without an op."""
        out = self._alias(keep_graph=False)
        out._viewed = self if self._viewed is None else self._viewed
        out._view_version = self._storage.version  # made now: after any write to self
        return out

    def _is_view(self) -> bool:
        return self._viewed is not None or self.__dict__.get("_sharded_view", False)

    @property
    def _base(self):
        """torch's base of a view: the tensor whose memory it views (a sharded view's, the
        sharded tensor its parts view), None for a tensor that is no view. (`_viewed` is
        the driver's own link, which a sharded view's parts hold instead.)"""
        return self._storage.view_base(self)

    def module_load(self, other, assign: bool = False):
        """What load_state_dict swaps into this tensor under torch.__future__'s swap switch:
        `other` detached (assign), else this tensor's copy of it, detached."""
        if assign:
            return other.detach()
        return self.copy_(other).detach()

    def type(self, dtype=None, non_blocking=False):
        """`t.type()` is torch's legacy name ('torch.FloatTensor'); `t.type(dtype)` converts."""
        if dtype is None:
            return self.dtype.type_name
        if isinstance(dtype, type):  # a legacy type (torch.IntTensor); not Python's (float)
            if not hasattr(dtype, "dtype"):
                raise ValueError(f"invalid type: '{dtype.__name__}'")
            dtype = dtype.dtype
        if isinstance(dtype, str):
            by_name = {d.type_name: d for d in dtypes.ALL}
            if dtype not in by_name:
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = by_name[dtype]
        return self.to(dtype)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    is_leaf = _read_only(is_leaf, "is_leaf")

    @property
    def grad_fn(self):
        if self._viewed is not None and self._view_version != self._storage.counter.count:
            self._refresh_view()
        elif self._sharding is not None:
            self._sharding.current(self)
        return self._grad_fn

    @grad_fn.setter
    def grad_fn(self, node) -> None:
        self._grad_fn = node

    def _refresh_view(self) -> None:
        """Its base (or a view of the same base) was written in place since this view's
        history was made: the view's history becomes an as_strided of the base's new one,
        as torch regenerates it (AsStridedBackward0), making the node itself: whatever the
        grad mode, inference_mode too (its ops would record nothing)."""
        base = self._viewed
        if self._forbids_rebase():
            raise self._rebase_error(stale=True)  # each time it is read, as torch
        self._view_version = self._storage.counter.count
        if base._sharding is not None:
            return
        if not base._requires_grad:
            if self._grad_fn is not None:
                # The base's history was cut in place (detach_): torch's view made anew
                # still requires grad, through a node whose gradient goes nowhere.
                strides, offset = self._strides_offset()
                with grad_mode.inference_mode(False):
                    fresh = as_strided_of(base.detach()._set_requires_grad(), list(self.shape),
                                          list(strides), offset)
                fresh._grad_fn.next_functions = ((None, 0),)
                # (it requires grad through the base still: a func transform of the view
                # gives results that require grad, as torch's)
                fresh._grad_fn._edgeless = (weakref.ref(base),)
                self._take_history(fresh)
            return
        with grad_mode.inference_mode(False):
            fresh = view_history(self, base)
        self._take_history(fresh)

    def _forbids_rebase(self) -> bool:
        """A view whose history torch will not rebuild once its base requires grad, or it
        has a history of its own (made under no_grad, one of several outputs, in a custom
        Function)."""
        return self._view_kind is not None and (self._viewed._requires_grad or
                                                 self._grad_fn is not None)

    @property
    def requires_grad(self) -> bool:
        base = self._viewed
        if base is None:
            # (a sharded view: its parts are the views)
            return self._requires_grad or (self._sharding is not None and
                                           self._sharding.parts_require_grad())
        # As torch: a view's is its base's too, and reading it does not rebuild a stale
        # view's history (grad_fn does; see _check_write_to_stale_view).
        return self._requires_grad or base._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag) -> None:
        if not isinstance(flag, bool):  # (torch takes a Python bool only, as the method does)
            raise RuntimeError("requires_grad must be a bool")
        if flag and self.grad_fn is None and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point and complex dtype can require "
                               "gradients")
        self._set_requires_grad(flag)

    def requires_grad_(self, requires_grad: bool = True):
        if not isinstance(requires_grad, bool):
            raise TypeError("requires_grad_(): argument 'requires_grad' (position 1) must be bool, "
                            f"not {_arg_type_name(requires_grad)}")
        refuse_requires_grad_in_transform()
        return self._set_requires_grad(requires_grad)

    def _set_requires_grad(self, requires_grad: bool = True):
        """requires_grad_ as distgrad's own code sets it (torch's C++ does: factories,
        Parameters, a transform's inputs), which torch.func's transforms allow."""
        if self.grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use "
                    "a computed variable in a subgraph that doesn't require differentiation use "
                    "var_no_grad = var.detach().")
            return self
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if requires_grad and self._storage.inference and \
                not grad_mode.is_inference_mode_enabled():
            raise RuntimeError("Setting requires_grad=True on inference tensor outside "
                               "InferenceMode is not allowed.")
        if not requires_grad and self._viewed is not None and self._viewed._requires_grad:
            # a view made under no_grad of a tensor that requires grad: torch's still does,
            # through its base, and has no accumulator of its own (as when it was made)
            self._requires_grad, self._no_accumulator = True, True
            return self
        self._requires_grad = bool(requires_grad)
        self._no_accumulator = False
        if self._sharding is not None:
            for part in self._sharding.shards:
                # (a replicated copy not made yet, or moved from the first, follows it)
                if part is not None and part.grad_fn is None:
                    part._set_requires_grad(requires_grad)
        return self

    @property
    def grad(self):
        # The node it had, not one made anew: reading .grad never raises for a stale view.
        # (torch warns of a non-leaf's .grad only while none was assigned to it)
        grad = self._storage.grad(self)
        if grad is None and self._grad_fn is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its "
                ".grad attribute won't be populated during autograd.backward(). If you indeed want "
                "the .grad field to be populated for a non-leaf Tensor, use .retain_grad() on the "
                "non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure you access "
                "the leaf Tensor instead. See github.com/pytorch/pytorch/pull/30531 for more "
                "informations.", UserWarning, stacklevel=2)
        return grad

    @grad.setter
    def grad(self, value) -> None:
        self._storage.set_grad(self, value)

    def _check_assigned_grad(self, value, any_device: bool = False) -> None:
        """torch's checks of `t.grad = value`; `any_device`: value is placed as self is
        (a sharded tensor's gradient, split as it is)."""
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if tuple(value.shape) != tuple(self.shape):
                raise RuntimeError(f"attempting to assign a gradient of size '{list(value.shape)}' to "
                                   f"a tensor of size '{list(self.shape)}'. Please ensure that the "
                                   "gradient and the tensor are the same size")
            if value.dtype is not self.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype '{value.dtype.c_name}' to a "
                    f"tensor with grad_dtype '{self.dtype.long_name}'. The gradient must match the "
                    "tensor's grad_dtype (defaults to the tensor's dtype). You can set the tensor's "
                    "grad_dtype attribute with a specific dtype, or None to allow any dtype. Set "
                    "grad_dtype with caution. Diverging the dtypes of a tensor and its gradient may "
                    "break downstream systems that assume they match.")
            if value.device_str != self.device_str and not any_device:
                raise RuntimeError("assigned grad has data located on a different device")

    @grad.deleter
    def grad(self) -> None:
        self._grad = None

    def _leaf_grad(self):
        """`.grad` without the non-leaf warning (a sharded tensor's grad is its shards')."""
        return self._storage.grad(self)

    def _set_leaf_grad(self, value) -> None:
        self._storage.set_leaf_grad(self, value)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    # ---- sharded tensors (distgrad.distributed.shard) -------------------------------------
    @property
    def placements(self) -> list:
        """[Shard(dim)] or [Replicate()] for a sharded tensor; [] for a plain one."""
        return [self._sharding.placement] if self._sharding is not None else []

    @property
    def shards(self) -> list:
        """The per-worker tensors of a sharded tensor ([self] for a plain one); a replicated
        tensor's copies not made yet are made (each is made when first needed)."""
        s = self._sharding
        if s is None:
            return [self]
        return [s.replica(k) if p is None else p for k, p in enumerate(s.shards)]

    def full_tensor(self, device: str = "cpu"):
        """The whole tensor gathered on one device (differentiable)."""
        return self._storage.full(self, device)

    @property
    def data(self):
        """The same values, untracked: unlike detach(), with its own version counter."""
        self._storage.lend(self)
        t = self._alias(keep_graph=False)
        t._storage = self._storage.renewed()
        if self._sharding is not None:  # (its parts' own counters too)
            t._sharding = self._sharding.detached(own_versions=True).held_by(t)
        _give_own_counter(t)
        return t

    @data.setter
    def data(self, other) -> None:
        placed = self._sharding is not None or other._sharding is not None
        grad = self._storage.grad(self) if placed else None  # (a sharded one's is its parts')
        carriers = other._sharding.data_with_history_of(self) if other._sharding is not None \
            and self.grad_fn is not None and self.shape == other.shape else None
        self._value = other._value
        self.shape = other.shape
        self.dtype = other.dtype
        self.device_str = other.device_str
        self._sharding = None
        if carriers is not None:  # (a non-leaf's parts go on with its history)
            self._sharding = carriers.held_by(self)
        elif other._sharding is not None:  # other's memory in parts of self's own (as .data):
            # other's grads and history stay other's
            self._sharding = other._sharding.detached(own_versions=True).held_by(self)
            self._set_requires_grad(self._requires_grad)  # (its parts are its leaves)
        self._layout = other._layout
        other._storage.lend(other)
        self._take_memory_counted(other._storage)
        if placed:  # .grad stays what it was, as torch's
            self._keep_grad(grad)
        self._give_followers_memory()

    def _give_followers_memory(self) -> None:
        """The aliases that are this tensor to torch (record.note_memory_follower) take its
        new memory, each keeping its own version counter."""
        for ref in self.__dict__.get("_memory_followers", ()):
            alias = ref()
            if alias is not None and alias._sharding is None and self._sharding is None:
                alias._value, alias.shape, alias.dtype = self._value, self.shape, self.dtype
                alias.device_str, alias._layout = self.device_str, self._layout
                alias._take_memory_counted(self._storage)

    def _take_memory_counted(self, memory) -> None:
        """Self views `memory` (a storage) from now on, under its own version counter, if it
        has one: torch's set_data keeps the tensor's counter (or its lack of one, an
        inference tensor's) and takes the memory's inference keys."""
        counted = self._has_version_counter()
        self._storage = memory.counted_by(self._storage)
        if counted == (not memory.inference):
            self.__dict__.pop("_own_counter", None)
        else:
            self.__dict__["_own_counter"] = counted

    def _keep_grad(self, grad) -> None:
        """`grad` as self's .grad after self's memory changed kind. One whose shape no
        longer fits a sharded self cannot be split over its parts: torch keeps it, to fail
        at the next backward (accumulating the new shape's gradient); distgrad raises that
        error now."""
        if grad is not None and self._sharding is not None and grad.shape != self.shape:
            broadcast_shapes(tuple(grad.shape), tuple(self.shape))  # (torch's words)
            self._check_assigned_grad(grad)
        self._storage.set_leaf_grad(self, grad)

    @property
    def T(self):
        if self.ndim not in (0, 2):
            _warn_once("The use of `x.T` on tensors of dimension other than 2 to reverse their "
                       "shape is deprecated and it will throw an error in a future release. "
                       "Consider `x.mT` to transpose batches of matrices or "
                       "`x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the "
                       "dimensions of a tensor.", "native/TensorShape.cpp:4314")
        if self.ndim == 0:
            _warn_once("Tensor.T is deprecated on 0-D tensors. This function is the identity in "
                       "these cases.", "native/TensorShape.cpp:4321")
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        return self._matrices_transposed("mT", "Tensor.mT")

    # H and mH: the conjugate transposes, plain transposes for distgrad's real dtypes.
    @property
    def H(self):
        if self.ndim == 0:
            _warn_once("Tensor.H is deprecated on 0-D tensors. Consider using x.conj().",
                       "native/TensorShape.cpp:4335")
            return self
        if self.ndim != 2:
            hint = " For batches of matrices, consider using tensor.mH" if self.ndim > 2 else ""
            raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                               f"{self.ndim}-D tensor.{hint}")
        return self.transpose(-2, -1)

    @property
    def mH(self):
        return self._matrices_transposed("mH", "Tensor.mH")

    def adjoint(self):
        return self._matrices_transposed("adjoint()", "adjoint()")

    def _matrices_transposed(self, name: str, deprecated: str):
        """mT, mH and adjoint(): the last two dims swapped (a view); a 0-dim tensor itself."""
        if self.ndim == 0:
            _warn_once(f"{deprecated} is deprecated on 0-D tensors. " + (
                "This function is the identity in these cases." if name == "mT" else
                "Consider using x.conj()."), _DEPRECATED_0D[name])
            return self
        if self.ndim < 2:
            raise RuntimeError(f"tensor.{name} is only supported on matrices or batches of "
                               f"matrices. Got {self.ndim}-D tensor.")
        return self.transpose(-2, -1)

    @property
    def output_nr(self) -> int:
        return self.__dict__.get("_named_as", (None, self._output_nr))[1]

    output_nr = _read_only(output_nr, "output_nr")

    @property
    def _version(self) -> int:
        """How many in-place writes its storage has seen (through any view of it); for a
        copy distgrad made to run an op where the tensor is not (_stand_for), plus its
        original's count: torch would have saved the original itself. An inference
        tensor has no count (torch raises), but for a handle with a counter of its own
        (see _give_own_counter)."""
        if not self._has_version_counter():
            raise RuntimeError("Inference tensors do not track version counter.")
        if self._stands_for is None:
            return self._storage.writes(self)
        return self._storage.writes(self) + self._stands_for._version

    _version = _read_only(_version, "_version")

    def _copied_into(self, out: "Tensor") -> "Tensor":
        """`out`, a copy of self (clone, contiguous, to): torch writes it with a copy_,
        which counts a write on it when self is an inference tensor read outside
        inference_mode (self has no autograd keys for the copy to skip the count)."""
        if out is not self and self._storage.inference and \
                not grad_mode.is_inference_mode_enabled():
            out._storage.wrote()
        return out

    def _stand_for(self, original, copied_from=None, shown=None, taken=None) -> "Tensor":
        """Mark self as the copy of `original` an op runs on (see _version): a saved copy
        is checked, and named in the error, as the original (as `shown`, if given: a
        view's copy counts its base's writes, but torch names the view). `copied_from`:
        the tensor (original or a view of it, `taken(original)`) whose values self
        copies, which `_copy_if_rewritten` copies again once its memory is written without
        a version count (`.data`, or numpy's array on it), or taken anew once `.data =`
        gave the original other memory."""
        self._stands_for = original
        if copied_from is not None:
            self.__dict__["_copied_from"] = (copied_from, copied_from._storage.memory_stamp(),
                                             taken)
        if shown is not None:
            self.__dict__["_shown_as"] = shown
        return self

    def _copy_if_rewritten(self) -> "Tensor":
        """Self, or a new copy of what it copies if that memory was written since through
        a handle with its own version counter (`.data`), or the original was given other
        memory (`.data =`): torch saved the original itself, so its saved value shows
        either."""
        source = self.__dict__.get("_copied_from")
        if source is None:
            return self
        copied, stamp, taken = source
        if taken is not None and not copied._storage.same_memory(self._stands_for._storage):
            copied = taken(self._stands_for)
        elif copied._storage.memory_stamp() == stamp and not copied._storage.written_unseen():
            return self  # (memory numpy holds is copied again: it may have been written)
        return copied.to(self.device_str)

    # ---- autograd plumbing -------------------------------------------------------------
    def _gradient_edge(self):
        """The (node, input_nr) a gradient for this tensor flows into."""
        if self.grad_fn is not None:
            return (self.grad_fn, self._output_nr)
        if self._no_accumulator:
            return (None, 0)
        acc = self._acc() if self._acc is not None else None
        if acc is None:
            acc = AccumulateGrad(self)
            self._acc = weakref.ref(acc)
        return (acc, acc.input_nr_for(self))  # a replicated leaf's copies share one node

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None, called when this tensor's gradient is computed."""
        self._check_hookable()
        node = self._hooks_node()
        if node is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            self._storage.watch_leaf_hooks(self)
            return RemovableHandle.listing(self._hooks, hook)
        if node._tensor_pre_hooks is None:
            node._tensor_pre_hooks = []
        entry = (self._output_nr, hook)  # one list per node: torch calls them in this order
        node._tensor_pre_hooks.append(entry)
        return RemovableHandle.listing(node._tensor_pre_hooks, entry)

    def _hooks_node(self):
        """The node a hook of this tensor goes to. torch keeps a tensor's hooks in one dict,
        handed to its grad_fn at the first register_hook, and starts a new one only when
        its grad_fn changes: a view whose base was written since, its history not read
        again, still gives later hooks to its old node."""
        ref = self.__dict__.get("_hooked_node")
        node = ref() if ref is not None else None
        if node is not None and node is self._grad_fn:
            return node
        node = self.grad_fn
        if node is not None:
            self.__dict__["_hooked_node"] = weakref.ref(node)
        return node

    def register_post_accumulate_grad_hook(self, hook):
        self._check_hookable()
        if self.grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        if self._post_acc_hooks is None:
            self._post_acc_hooks = []
        self._post_acc_hooks.append(hook)
        self._storage.watch_leaf_hooks(self)
        return RemovableHandle.listing(self._post_acc_hooks, hook)

    def _check_hookable(self) -> None:
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")

    def retain_grad(self) -> None:
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is None or self._retains_grad:  # a leaf, to torch (a view too,
            return  # made before its base needed a gradient: its history is not looked at)
        node = self.grad_fn
        if node._retain_grad is None:
            node._retain_grad = {}
        node._retain_grad[self._output_nr] = weakref.ref(self)
        self._retains_grad = True

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        differentiate.backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    def detach(self):
        self._storage.lend(self)
        t = self._alias(keep_graph=False)
        _give_own_counter(t)
        return t

    def detach_(self):
        if self._is_view():  # (torch: any view, whatever its grad mode)
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set as "
                "True, gradients are views of DDP buckets, and hence detach_() cannot be called on "
                "these gradients. To fix this error, please refer to the Optimizer.zero_grad() "
                "function in torch/optim/optimizer.py as the solution.")
        refuse_captured_write(self, "aten::detach_")
        if self._grad_fn is not None:  # (a leaf's saved slices are no history to torch)
            self._detach_stand_ins()
        self.grad_fn = None
        self._requires_grad = False
        self.__dict__.pop("_fw_tangent", None)  # (a dual's tangent goes too, as torch's)
        self._end_no_grad_views()
        if self._sharding is not None:  # its parts lose their histories too (same memory),
            for part in self._sharding.shards:  # in place: what an op saved of one sees it
                if part is not None:
                    part._grad_fn, part._requires_grad = None, False
                    part._end_no_grad_views()
            self._sharding = self._sharding.detached().held_by(self)
        return self

    def _detach_stand_ins(self) -> None:
        """The tensors a transform ran a function on in this one's place (record.
        note_stand_in) lose their histories with this tensor's, as this tensor torch saved
        in their place does: an op that saved one then refuses it as detached in place."""
        for ref in self.__dict__.pop("_stand_ins", ()):
            piece = ref()
            if piece is not None:
                piece._grad_fn, piece._requires_grad = None, False

    def _end_no_grad_views(self) -> None:
        """The views made of this tensor under no_grad required grad through it (record.
        note_no_grad_view); after its detach_ they do not (a sharded one: nor its parts)."""
        for ref in self.__dict__.pop("_no_grad_views", ()):
            view = ref()
            if view is None or view._grad_fn is not None:
                continue
            view._requires_grad = False
            if view._sharding is not None:
                for part in view._sharding.shards:
                    if part is not None and part._grad_fn is None:
                        part._requires_grad = False

    # ---- values ------------------------------------------------------------------------
    def _numpy_value(self) -> np.ndarray:
        """The data as a numpy array in the driver (fetched if it lives elsewhere)."""
        return self._storage.read(self)

    def numpy(self, force: bool = False) -> np.ndarray:
        if self._requires_grad and not force and grad_mode.is_grad_enabled():  # (torch's test)
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        if self.device_str != "cpu" and not force:
            raise TypeError(f"can't convert {self.device_str} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        if self.dtype is dtypes.bfloat16:  # (numpy has no bfloat16: torch refuses)
            raise TypeError("Got unsupported ScalarType BFloat16")
        self._storage.hand_to_numpy()
        return self._numpy_value()

    def __array__(self, dtype=None, copy=None):
        if self._requires_grad and grad_mode.is_grad_enabled():  # (torch's numpy() check)
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        if self.dtype is dtypes.bfloat16:
            raise TypeError("Got unsupported ScalarType BFloat16")
        self._storage.hand_to_numpy()
        arr = self._numpy_value()
        return arr if dtype is None else arr.astype(dtype)

    def __array_wrap__(self, array, context=None, return_scalar=False):
        """A numpy ufunc's result on tensors (`tensor + array` computes in numpy) as a
        tensor, a bool one as uint8 (torch's workaround, kept from before its bool dtype)."""
        from .creation import from_numpy

        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        return from_numpy(np.asarray(array))

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._storage.item(self)

    def tolist(self):
        arr = self._numpy_value()
        return (arr.astype(np.float32) if self.dtype is dtypes.bfloat16 else arr).tolist()

    def apply_(self, callable):
        """Each element replaced by `callable(element)`, in Python (torch's apply_: no
        autograd, so refused for a tensor that requires grad, and no version count)."""
        return self._map_elements("apply_", callable)

    def map_(self, tensor, callable):
        """Each element replaced by `callable(element, tensor's element)`, `tensor`
        broadcast to self's shape (torch's map_)."""
        return self._map_elements("map_", callable, tensor)

    def _map_elements(self, name, callable, other=None):
        if self._requires_grad:
            raise RuntimeError(f"Can't call {name}() on Variable that requires grad. Use "
                               f"var.detach().{name}() instead.")
        columns = [self._numpy_value().ravel().tolist()]
        if other is not None:
            columns.append(np.broadcast_to(other._numpy_value(), tuple(self.shape)).ravel().tolist())
        results = [callable(*args) for args in zip(*columns)]
        for r in results:
            if not isinstance(r, numbers.Number) and not hasattr(r, "__float__"):
                raise TypeError(f"must be real number, not {type(r).__name__}")
        values = dtypes.cast(np.array(results), self.dtype.np).reshape(self.shape)
        self.data.copy_(Tensor._make(values, tuple(self.shape), self.dtype))
        return self

    def __float__(self) -> float:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        if self._requires_grad and grad_mode.is_grad_enabled() and not _warned_float:
            _warned_float.append(True)  # torch warns once per process (not under no_grad)
            warnings.warn("Converting a tensor with requires_grad=True to a scalar may lead to "
                          "unexpected behavior.\nConsider using tensor.detach() first." +
                          triggered_internally("torch/csrc/autograd/generated/"
                                               "python_variable_methods.cpp:822"),
                          UserWarning, stacklevel=2)
        return float(self.item())

    def __int__(self) -> int:
        if self.numel() != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.category == 2 or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __repr__(self, *, tensor_contents=None) -> str:
        suffixes = []
        if self._sharding is not None:
            suffixes.append(f"placements={self.placements}")
        elif self.device_str != "cpu":
            suffixes.append(f"device='{self.device_str}'")
        try:
            node = self.grad_fn
            name = None if node is None else node.name().rpartition("::")[2]
        except RuntimeError:  # (a custom Function's view whose base was written since)
            name = "Invalid"  # torch's _tensor_str prints it so
        if name is not None:
            suffixes.append(f"grad_fn=<{name}>")
        elif self._requires_grad:
            suffixes.append("requires_grad=True")
        tangent = self.__dict__.get("_fw_tangent")  # (a dual tensor: autograd.forward_ad)
        if tangent is not None:
            suffixes.append(f"tangent={tangent!r}")
        if not self._storage.holds_data:
            return format_metas(self.shape, self.dtype.name, suffixes)
        return format_tensor(self._numpy_value(), self.dtype.name, suffixes)

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if self.ndim == 0 and not self.is_meta:  # torch formats a 0-dim tensor as its number
            return self.item().__format__(spec)
        return object.__format__(self, spec) if spec else repr(self)

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __contains__(self, element) -> bool:
        """`x in t`: whether any element equals x (a tensor or a number only, as torch)."""
        if isinstance(element, (Tensor, numbers.Number)):
            return bool((element == self).any().item())
        raise RuntimeError("Tensor.__contains__ only supports Tensor or scalar, but you passed in "
                           f"a {type(element)}.")

    def __deepcopy__(self, memo):
        if not self.is_leaf:  # (torch's refusal: a copy could not carry the graph)
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment.  If you were attempting to deepcopy a module, this may "
                "be because of a torch.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001")
        out = self.detach().clone()
        out._requires_grad = self._requires_grad
        if self._grad is not None:
            out._grad = self._grad.detach().clone()
        memo[id(self)] = out
        return out

    # ---- placement ---------------------------------------------------------------------
    def to(self, *args, **kwargs):
        """`to(device)`, `to(dtype)`, `to(other)`: a differentiable copy (or self, unless
        copy=True); with memory_format, a copy laid out in it unless self already is."""
        from .ops.functions import memory_format_name

        copy = kwargs.get("copy", False)
        fmt = memory_format_name("to", kwargs.get("memory_format")) or "preserve_format"
        target_device, target_dtype = to_args(args, kwargs)
        out = self
        recast = target_dtype is not None and target_dtype is not self.dtype or copy and (
            target_device is None or device_str(target_device) == self.device_str)
        if fmt != "preserve_format" and (recast or layout.suggested_format(
                self.shape, self._strides_offset()[0]) != fmt):
            layout.memory_format_strides(self.shape, fmt)  # (torch's error for another rank)
            out = call("to_format", out, dtype=(target_dtype or self.dtype).name,
                       memory_format=fmt)
        elif recast:
            out = call("to_dtype", out, dtype=(target_dtype or self.dtype).name)
        if target_device is not None and device_str(target_device) != self.device_str:
            target = device_str(target_device)
            moved = storage.placement(self.device_str, target).move(out, target)
            if copy and out is self and self._sharding is not None and any(
                    moved is part for part in self._sharding.shards):
                # (a replicated tensor's copy already there is its own memory: copy it)
                moved = call("to_dtype", moved, dtype=moved.dtype.name)
            out = moved
        return self._copied_into(out)

    def cpu(self):
        return self.to("cpu")

    def type_as(self, other):
        """As torch's `self.to(other.options())`: other's dtype and device too."""
        return self.to(other)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def short(self):
        return self.to(dtypes.int16)

    def char(self):
        return self.to(dtypes.int8)

    def byte(self):
        return self.to(dtypes.uint8)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def bool(self):
        return self.to(dtypes.bool_)

    # ---- in place ----------------------------------------------------------------------
    def is_inference(self) -> bool:
        """Whether its memory was made under inference_mode (torch's inference tensor)."""
        return self._storage.inference

    def _has_version_counter(self) -> bool:
        """Whether torch's tensor has a version counter: one made outside inference_mode
        has, an inference tensor has none, but for a handle with a counter of its own
        (_give_own_counter); one given other memory (`.data =`) keeps what it had."""
        return self.__dict__.get("_own_counter", not self._storage.inference)

    def _count_write(self) -> None:
        """Bump the version counter after an in-place write. An inference tensor has none
        (outside inference_mode torch raises here, after its kernel wrote), but for a
        handle with a counter of its own (_give_own_counter), which counts only the writes
        made outside inference_mode (inside, torch bumps only tensors with autograd keys:
        not inference ones)."""
        inference = self._storage.inference
        if inference or "_own_counter" in self.__dict__:
            inside = grad_mode.is_inference_mode_enabled()
            counted = self._has_version_counter()
            if inside or counted:
                self._storage.wrote(counted=counted and not (inside and inference))
                return
            raise RuntimeError("Inplace update to inference tensor outside InferenceMode is not "
                               "allowed.You can make a clone to get a normal tensor before doing "
                               "inplace update.See https://github.com/pytorch/rfcs/pull/17 for "
                               "more details.")
        self._storage.wrote()

    def _check_inplace(self, overlap_ok: bool = False) -> None:
        if (self._requires_grad and self._grad_fn is None and not self._is_view()
                and grad_mode.is_grad_enabled()):  # (a view has its own checks; a sharded
            # one's parts are views, checked as such when written: made under no_grad)
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        if not overlap_ok and self._has_internal_overlap():
            raise RuntimeError(layout.OVERLAPPING_WRITE)

    def _check_write_to_stale_view(self) -> None:
        """Before an in-place op computes: torch still takes a view made while its base
        needed no gradient for a leaf, once the base was written with a value that needs one,
        until the view's history is looked at (grad_fn, is_leaf, an op using it); a write to
        it then is a write to a leaf that requires grad."""
        if grad_mode.is_grad_enabled():
            self._refuse_writing_forbidden_view()
        base = self._viewed
        if (base is not None and self._grad_fn is None and not self._requires_grad
                and self._view_kind is None and self._view_version != self._storage.counter.count
                and base._requires_grad and base._grad_fn is not None
                and grad_mode.is_grad_enabled()):
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")

    def _refuse_writing_forbidden_view(self) -> None:
        """torch checks an in-place write before it reads the view's history: a view it
        forbids writing, its base written since, is refused as written itself (not with the
        error of its stale history). A sharded tensor's parts are the views."""
        parts = self._sharding.shards if self._sharding is not None else (self,)
        for part in parts:
            if (part is not None and part._viewed is not None
                    and part._view_version != part._storage.counter.count
                    and part._forbids_rebase()):
                raise part._rebase_error(stale=False)

    def _has_internal_overlap(self) -> bool:
        return self._layout is not None and layout.has_internal_overlap(self.shape, self._layout[0])

    def _check_no_partial_overlap(self, *operands, same_too: bool = False) -> None:
        """An operand that shares memory with self, but is not the same view of it, would be
        read while it is written (torch refuses). As torch, only told for two tensors that
        are each a dense block: an expanded or a strided one is too hard to tell.
        `same_too`: the same view (or self itself) is refused too (index_put_)."""
        for o in operands:
            if not isinstance(o, Tensor) or not o._storage.same_memory(self._storage):
                continue
            if o is self:
                overlap = same_too
            elif self._dense_block() and o._dense_block():
                mine, theirs = self._extent(), o._extent()
                same_view = (self.shape == o.shape and self.stride() == o.stride()
                             and self.storage_offset() == o.storage_offset())
                overlap = (same_too or not same_view) and mine[0] <= theirs[1] \
                    and theirs[0] <= mine[1]
            else:
                overlap = False
            if overlap:
                raise RuntimeError("unsupported operation: some elements of the input tensor "
                                   "and the written-to tensor refer to a single memory "
                                   "location. Please clone() the tensor before performing "
                                   "the operation.")

    def _dense_block(self) -> bool:
        return layout.is_non_overlapping_and_dense(self.shape, self._strides_offset()[0])

    def _extent(self) -> tuple:
        """The first and last element of its storage this view can reach."""
        strides, offset = self._strides_offset()
        if not self.numel():
            return offset, offset - 1
        return offset, offset + sum((n - 1) * s for n, s in zip(self.shape, strides))

    def _inplace(self, result, overlap_ok: bool = False, in_a_part: bool = False,
                 op: str = "aten::copy_", redo=None, order_by=()):
        """Write `result` (computed out of place from self) into self, and take over its
        history; through a view, the base takes the write (torch's CopySlices). `in_a_part`:
        torch writes a view of self (`self[1:] = v`), so self, a view, gets its history
        made anew when next read, as any other view of the base. `op`: the in-place op as
        torch's errors name it. `redo(current)`: the result again from other values of
        self, and `order_by`: its other tensor operands, for a self whose elements overlap
        (_in_kernel_order)."""
        refuse_captured_write(self, op)
        base = self._viewed
        if base is not None and grad_mode.is_grad_enabled() and (
                result._requires_grad or base._requires_grad):
            return self._inplace_through_view(result, overlap_ok, in_a_part, redo, order_by)
        self._storage.check_view_write(self, result)
        self._check_inplace(overlap_ok)
        node = result._grad_fn
        if hasattr(node, "save_original"):  # a recorded op (not a custom Function's)
            node.save_original(self)  # before self's value is overwritten
        result = self._in_kernel_order(self._as_written(result), redo, order_by)
        self._write(result)
        self._count_write()
        if result._requires_grad:
            self._take_history(result)
            self._storage.took_write(self)
        if record.forward_ad is not None:  # (a dual level is open: the tangent follows)
            record.forward_ad.took_write(self, result)
        return self

    def _inplace_through_view(self, result, overlap_ok: bool = False, in_a_part: bool = False,
                              redo=None, order_by=()):
        """An in-place op on a view of a tensor in a graph: the base takes the new values
        through the view (CopySlices), and the view's history is regenerated from it.
        (torch's autograd checks come before its kernel's overlap check.)"""
        self._check_view_rebasable()
        base = self._viewed
        self._check_inplace(overlap_ok)
        node, nr = result._grad_fn, result._output_nr
        owned = self._copy_slices_can_own(node)
        if hasattr(node, "save_original"):
            node.save_original(self)  # before the base's values are overwritten
            if not owned:
                self._bypass_own_node(node)
        result = self._in_kernel_order(self._as_written(result), redo, order_by)
        apart = self._sharding is None and not self._storage.same_memory(base._storage)
        # (a base whose elements overlap takes the write through the view's memory alone:
        # torch's CopySlices then refuses to lay the base's gradient out, in backward)
        overlapping = owned and base._has_internal_overlap()
        outside = owned and not apart and (
            overlapping or reaches_outside(tuple(base.shape), place_of(self)))
        if outside:  # (torch's kernel writes the view's memory, the base's part of it too)
            self._write(result)
        if owned:
            with grad_mode.no_grad():  # (values the base takes only if it holds the view's)
                written = base.detach() if apart else base.detach().clone() if outside \
                    else scatter_through_view(self, result.detach())
            copied = copy_slices_owning(self, written, result)
        else:
            with saved_hooks.suspended():  # (distgrad's own ops: torch's CopySlices saves
                written = scatter_by_place(base, place_of(self), result) if apart else \
                    scatter_through_view(self, result)  # nothing a user's hooks would see)
            # (torch's CopySlices keeps an edge to the base's old history even when the
            # view is all of the base: that history then gets zeros)
            copied = call("copy_slices", written, base) if covers_its_base(self) else \
                call("copy_slices", written)
            if hasattr(copied._grad_fn, "_wraps") and hasattr(node, "release"):
                copied._grad_fn._wraps = node  # (torch's CopySlices owns it)
        if apart:  # `.data =` gave one of them other memory: torch writes the view's alone,
            # and the base takes the write's history (at the view's layout) and its count
            self._write(result)
            base._count_write()
            base._take_history(copied)
        else:
            base._inplace(copied, overlap_ok=overlapping)
        if overlapping:
            base._grad_fn.attrs = {**base._grad_fn.attrs, "overlapping": True}
        if in_a_part:
            return self
        retained = self._retains_grad
        self._refresh_view()
        if node is not None and result._grad_fn is node:
            self._save_output_as_self(node, nr, on_view=True)
        if retained and not self._retains_grad:
            self.retain_grad()
        return self

    def _in_kernel_order(self, result, redo, order_by):
        """`result` as torch's kernel leaves it in self when elements of self overlap
        without an expanded dim (ops/overlapping.py): with the values of each place's
        last write, and the op's node."""
        if self._layout is None or self._sharding is not None or result._sharding is not None \
                or self._has_internal_overlap():  # (an expanded self: refused or its own rules)
            return result
        rounds = overlapping.write_rounds(self.shape, self._layout[0], [
            (tuple(t.shape), t._strides_offset()[0]) for t in order_by if isinstance(t, Tensor)])
        if rounds is None:
            return result
        with grad_mode.no_grad():
            written = overlapping.written_in_rounds(self, result.detach(), redo, rounds)
        return _keeping_node(written, result)

    def _copy_slices_can_own(self, node) -> bool:
        """Whether the base's CopySlices takes over `node`, the in-place op's on this view,
        as torch's: a recorded op's or a custom Function's, whose first edge is this view's
        history, on a view not overlapping itself, none of them sharded (their nodes route
        gradients themselves), outside a dual level (the write's tangent follows the
        written values' ops)."""
        own = self._gradient_edge() if self._requires_grad else (None, 0)
        return (record.forward_ad is None and hasattr(node, "_slots")
                and bool(node.next_functions)
                and node.next_functions[0] == own and not self._has_internal_overlap()
                and self._sharding is None and self._viewed._sharding is None)

    def _bypass_own_node(self, node) -> None:
        """The written op's gradient for its `self` goes to the base's old history, not
        through this view's own node (torch's CopySlices): hooks and retain_grad on the view,
        or on the views it was taken through, from before the write do not see it. Only done
        when one of their nodes has them."""
        old = self._grad_fn
        if old is None or not self._views_hooked() or not hasattr(node, "_slots"):
            return  # (a sharded tensor's nodes route their gradients themselves)
        with grad_mode.enable_grad():
            fresh = view_history(self, self._viewed)
        own = (old, self._output_nr)
        node.next_functions = tuple(
            fresh._gradient_edge() if slot == 0 and edge == own else edge
            for edge, slot in zip(node.next_functions, node._slots))

    def _views_hooked(self) -> bool:
        """Whether this view's node, or that of a view it was taken through (x[0] of
        x = base[1:]), has tensor hooks or a retained grad."""
        t = self
        while t is not None and t._viewed is not None:
            node = t._grad_fn
            if node is not None and (getattr(node, "_tensor_pre_hooks", None) or
                                     getattr(node, "_retain_grad", None)):
                return True
            t = t._view_of[0] if t._view_of is not None else None
        return False

    def _rebase_view(self, result) -> bool:
        """Self, a view, already holds `result`'s values (a custom Function wrote them and
        marked it dirty): the base's history takes them through the view, as after an
        in-place op on the view (CopySlices), without writing again. True when the base's
        CopySlices owns result's node (then no gradient passes through its first edge)."""
        base = self._viewed
        # (set_ gave the view memory apart from its base's: the base takes the history only)
        apart = self._sharding is None and not self._storage.same_memory(base._storage)
        owns = self._copy_slices_can_own(result._grad_fn)
        if owns:
            with grad_mode.no_grad():
                written = base.detach() if apart else scatter_through_view(self, result.detach())
            base._take_history(copy_slices_owning(self, written, result))
        else:
            with saved_hooks.suspended():  # (distgrad's own ops: torch's CopySlices saves
                written = scatter_by_place(base, place_of(self), result) if apart else \
                    scatter_through_view(self, result)  # nothing a user's hooks would see)
            base._take_history(call("copy_slices", written))
        self._refresh_view()
        return owns

    def _check_view_rebasable(self) -> None:
        """torch's checks before an in-place op on this view, in grad mode, rebases its
        history on its base's: a view it allows to be, of a base not a leaf."""
        self._check_view_writable()
        base = self._viewed
        if base._grad_fn is None and (base._requires_grad or self._grad_fn is not None
                                      or self._requires_grad):
            # (the second: a view with a history of a base detached in place since; the
            # third: a view made to require grad itself, of a detached base)
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")

    def _check_view_writable(self) -> None:
        """torch forbids rebasing the history of some views (their backward would be lost)."""
        if self._view_kind is not None:
            raise self._rebase_error(stale=False)

    def _rebase_error(self, stale: bool) -> RuntimeError:
        """Why this view's history may not be rebased: written in place itself, or (stale)
        its base or a sibling was."""
        kind = self._view_kind
        # (a part of a sharded Function output is named as the output is: sharding.py)
        node, nr = self.__dict__.get("_named_as", (self._grad_fn, self._output_nr))
        what = ("its base or another view of its base has been modified inplace" if stale
                else "is being modified inplace")
        if node is None:
            head = f"A view was created in no_grad mode and {what} with grad mode enabled."
        elif kind == "no_grad":  # (taken with grad mode on from a view made without)
            head = (f"Output {nr} of {_short_name(node.name())} is a view of a view "
                    f"which was created in no_grad mode and {what} with grad mode enabled.")
        else:
            head = (f"Output {nr} of {_short_name(node.name())} is a view and {what}.")
        if kind == "function":
            return RuntimeError(
                f"{head} This view was created inside a custom Function (or because an input was "
                "returned as-is) and the autograd logic to handle view+inplace would override the "
                "custom backward associated with the custom Function, leading to incorrect "
                "gradients. This behavior is forbidden. You can fix this by cloning the output of "
                "the custom Function.")
        if kind == "multi":
            return RuntimeError(
                f"{head} This view is the output of a function that returns multiple views. Such "
                "functions do not allow the output views to be modified inplace. You should "
                "replace the inplace operation by an out-of-place one.")
        return RuntimeError(
            f"{head} Given that this use case is ambiguous and error-prone, it is forbidden. You "
            "can clarify your code by moving both the view and the inplace either both inside the "
            "no_grad block (if you don't want the inplace to be tracked) or both outside (if you "
            "want the inplace to be tracked).")

    def _as_written(self, result):
        """`result` in self's dtype (torch casts what an in-place op writes), its shape
        checked first (as TensorIterator does: `t0 += t4` of another dtype is a shape error)."""
        self._check_write_shape(result.shape)
        if result.dtype is not self.dtype:
            self._check_can_hold(result.dtype)
            node = result._grad_fn
            if hasattr(node, "save_original") and record.forward_ad is None:
                return self._as_written(_cast_keeping_node(result, self.dtype))
            with grad_mode.enable_grad() if result._requires_grad else grad_mode.no_grad():
                result = result.to(self.dtype)
        return result

    def _check_write_shape(self, shape) -> None:
        """An in-place op writes a result of self's shape (it broadcasts to self only)."""
        if tuple(shape) != tuple(self.shape):
            raise record.in_device_words(RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{list(shape)}"), False, (), self.device_str)

    def _check_can_hold(self, result_dtype) -> None:
        """What an in-place op writes is cast to self's dtype, if torch casts it."""
        require_castable(result_dtype, self.dtype)

    def _check_elementwise_write(self, operands, promotes: bool = True) -> None:
        """TensorIterator's checks of `self op= operands` (tensors and numbers), in its
        order: their broadcast shape is self's, then (for an op that promotes) their common
        dtype fits self's."""
        shape = tuple(self.shape)
        for t in operands:
            if isinstance(t, Tensor):
                shape = broadcast_shapes(shape, tuple(t.shape))
        self._check_write_shape(shape)
        if promotes:
            self._check_can_hold(dtypes.result_type((self, *operands)))

    def _write(self, result) -> None:
        """Copy result's values into self's memory, wherever it lives."""
        if record.capturing is not None and self.device_str == "cpu":
            record.capturing.wrote_on_driver(self, result)
        self._storage.write(self, result)

    def _take_history(self, result) -> None:
        """Self now holds what `result` computed: its grad_fn is result's; a retained grad
        and a saved copy of the result follow self, as in torch."""
        old, old_nr = self._grad_fn, self._output_nr
        node = result._grad_fn
        self._requires_grad = result._requires_grad
        self._grad_fn = node
        self._output_nr = result._output_nr
        self._view_version = self._storage.counter.count
        if node is not None:
            self._save_output_as_self(node, result._output_nr)
        self._move_retained_grad(old, old_nr)

    def _move_retained_grad(self, old, old_nr: int) -> None:
        """After an in-place write gave self a new grad_fn: a retained grad is the new
        version's, as in torch (the retain moves from `old`, output `old_nr`)."""
        node = self._grad_fn
        if self._retains_grad and old is not node:
            if old is not None and old._retain_grad:
                old._retain_grad.pop(old_nr, None)
            self._retains_grad = False
            if self._requires_grad and node is not None:
                self.retain_grad()

    def _save_output_as_self(self, node, nr: int, on_view: bool = False) -> None:
        """A node that saved its result now saves self (same values, after the write), so a
        later write to self is caught by the version check; `on_view`: self is a view
        written through, whose history the saved result takes (SavedTensor)."""
        from .autograd.graph import SavedTensor

        outs = getattr(node, "_saved_outs", None) or ()
        for k, saved in enumerate(outs):
            # (one packed by saved-tensor hooks stays packed: the hooks' unpack gives it,
            # unchecked, as torch's; one whose hooks waited for the write packs self)
            if saved.output_nr == nr and saved.hooks is None:
                outs[k] = SavedTensor(self, True, nr, on_view)
                hooks, saved.pack_after_write = saved.pack_after_write, None
                if hooks is not None:
                    outs[k].pack(hooks, self)

    # Overwriting writes: the old values get a zero gradient (ops/overwrite.py); fill_ (with a
    # number) and zero_ may write an expanded tensor, as in torch.
    def zero_(self):
        self._check_write_to_stale_view()
        return self._inplace(call("zero", self), overlap_ok=True, op="aten::zero_")

    def fill_(self, value):
        if isinstance(value, Tensor) and value.ndim:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        self._check_write_to_stale_view()
        # (torch fills an expanded tensor with a number, not with a tensor's value)
        by_tensor = isinstance(value, Tensor)
        return self._inplace(call("fill", self, value), overlap_ok=not by_tensor,
                             op="aten::fill_." + ("Tensor" if by_tensor else "Scalar"))

    def copy_(self, src, non_blocking=False):
        self._check_write_to_stale_view()
        if not isinstance(src, Tensor):
            if not isinstance(src, numbers.Number):
                raise TypeError(f"copy_(): argument 'other' (position 1) must be Tensor, not "
                                f"{type(src).__name__}")
            return self._inplace(call("copy", self, src))
        if src.device_str != self.device_str and src._sharding is None and self._sharding is None:
            src = src.to(self.device_str)
        # torch's kernel writes nothing when src is self's very data (the same view, even of
        # an expanded tensor): no overlap to refuse; autograd still records the copy.
        same_data = src is self or (
            src._sharding is None and self._sharding is None and
            src._storage.same_memory(self._storage) and src.dtype is self.dtype and
            src.shape == self.shape and src._strides_offset() == self._strides_offset())
        self._check_no_partial_overlap(src)
        if tuple(src.shape) == tuple(self.shape) and src.dtype is self.dtype and not (
                grad_mode.is_grad_enabled() and (self.requires_grad or src.requires_grad)) \
                and "_fw_tangent" not in src.__dict__:
            # Nothing to record (an optimizer's update): src's values are written as they
            # are, with no copy op to make them first (a dual src's copy carries its tangent).
            return self._inplace(src.detach(), overlap_ok=same_data, order_by=(src,))
        return self._inplace(call("copy", self, src), overlap_ok=same_data, order_by=(src,))

    # ---- operators ---------------------------------------------------------------------
    # (each gives Python the other operand's turn where the op refuses it, as torch's do)
    __add__ = _operator("add")
    # A reflected operator lists self first in next_functions, as torch's `2 * t` (= t.mul(2))
    __radd__ = _operator("add")
    __sub__ = _operator("sub")
    __rsub__ = _operator("sub", reflected=True)
    __mul__ = __rmul__ = _operator("mul")
    __truediv__ = _operator("div")

    def __rtruediv__(self, other):
        try:  # (torch's: reciprocal() * other, so an array multiplies in numpy)
            return call("reciprocal", self) * other
        except TypeError:
            return NotImplemented

    __floordiv__ = _operator("floor_divide")
    __rfloordiv__ = _operator("floor_divide", reflected=True)
    __mod__ = _operator("remainder")
    __rmod__ = _operator("remainder", reflected=True)
    __pow__ = _operator("pow")
    __rpow__ = _operator("pow", reflected=True)

    __iadd__, __isub__ = _in_place_operator("add_"), _in_place_operator("sub_")
    __imul__, __itruediv__ = _in_place_operator("mul_"), _in_place_operator("div_")
    __ifloordiv__ = _in_place_binary_operator("floor_divide")
    __imod__ = _in_place_binary_operator("remainder")
    __ipow__ = _in_place_operator("pow_")

    def __neg__(self):
        return call("neg", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return call("abs", self)

    def __eq__(self, other):
        if not isinstance(other, _COMPARABLE):  # (Python then compares identities, as torch)
            return NotImplemented
        if type(other) is np.ndarray:  # (torch's == takes an array as a tensor, != does not)
            from .creation import from_numpy

            other = from_numpy(other)
        return call("eq", self, other)

    def __ne__(self, other):
        if not isinstance(other, _COMPARABLE) or type(other) is np.ndarray:
            return NotImplemented
        return call("ne", self, other)

    __lt__, __le__ = _operator("lt"), _operator("le")
    __gt__, __ge__ = _operator("gt"), _operator("ge")

    def __invert__(self):
        return call("logical_not", self) if self.dtype is dtypes.bool_ else call("bitwise_not", self)

    # &, |, ^ are bitwise (logical on bools), as torch's operators; <<, >> shift integers
    __and__, __rand__, __iand__ = _operators("bitwise_and")
    __or__, __ror__, __ior__ = _operators("bitwise_or")
    __xor__, __rxor__, __ixor__ = _operators("bitwise_xor")
    __lshift__, __rlshift__, __ilshift__ = _operators("bitwise_left_shift")
    __rshift__, __rrshift__, __irshift__ = _operators("bitwise_right_shift")
    bitwise_left_shift_, bitwise_right_shift_ = __ilshift__, __irshift__

    def _in_place_binary(self, op: str, other):
        """`self op= other`: torch checks that self can hold the result's dtype before its
        kernel is looked for (`int &= float` is a cast error, not a missing kernel); an
        `other` that partly overlaps self is refused (TensorIterator's check)."""
        self._check_no_partial_overlap(other)
        self._check_write_to_stale_view()
        self._check_elementwise_write((other,))
        return self._inplace(call(op, self, other), op=f"aten::{op}_.Tensor", order_by=(other,),
                             redo=lambda current: call(op, current,
                                                       current if other is self else other))


_warned_float = []
_warned_once: set = set()


def _give_own_counter(t: Tensor) -> None:
    """A handle on an inference tensor that detach() or .data makes outside inference_mode
    gets a version counter of its own from torch: it may be written outside inference_mode,
    and counts those writes (not the ones inside, nor its views, which have none)."""
    if t._storage.inference and not grad_mode.is_inference_mode_enabled():
        t._storage = t._storage.renewed()
        if t._sharding is not None:  # (its parts: handles of their own too)
            t._sharding = t._sharding.detached(own_versions=True).held_by(t)
        t.__dict__["_own_counter"] = True


def _cast_keeping_node(result: Tensor, dtype) -> Tensor:
    """An in-place op's result cast to the written tensor's dtype, with the op's own node
    (torch's in-place op keeps it: AddBackward0 for x += double; the engine casts each
    input's gradient to its dtype). A sharded result's parts are the nodes: each is cast."""
    if result._sharding is not None:
        return result._sharding.map_parts(lambda part: _cast_keeping_node(part, dtype))
    with grad_mode.no_grad():
        cast = result.to(dtype)
    return _keeping_node(cast, result)


def _keeping_node(values: Tensor, result: Tensor) -> Tensor:
    """`values` (made without a graph) as the output of `result`'s node, in its place."""
    if result._grad_fn is not None:
        values._requires_grad, values._grad_fn = True, result._grad_fn
        values._output_nr = result._output_nr
    return values


def _warn_once(message: str, source: str | None = None) -> None:
    """torch's TORCH_WARN_ONCE: the first time in the process only, at the user's line;
    `source`: where under ATen (or torch/csrc, given from there) torch's C++ raises it."""
    if message not in _warned_once:
        _warned_once.add(message)
        if source is not None:
            message += triggered_internally(source)
        warnings.warn(message, UserWarning, stacklevel=user_stacklevel())


# Where torch raises the 0-dim deprecation of mT, mH and adjoint().
_DEPRECATED_0D = {"mT": "native/TensorShape.cpp:4373", "mH": "native/TensorShape.cpp:4382",
                  "adjoint()": "native/TensorShape.cpp:4390"}


def _to_refused(args, kwargs) -> TypeError:
    """torch's TypeError for arguments of to() that fit none of its overloads (a dtype given
    as a string or a numpy type)."""
    from .ops.overloads import Param, Signature, _invalid_combination

    tail = (Param("non_blocking", "bool", False), Param("copy", "bool", False),
            Param("memory_format", "torch.memory_format", None, True))
    overloads = [Signature("to", *head, *tail) for head in (
        (Param("device", "torch.device", None), Param("dtype", "torch.dtype", None)),
        (Param("dtype", "torch.dtype"),), (Param("tensor", "Tensor"),))]
    return TypeError(_invalid_combination(overloads, args, kwargs))


def to_args(args, kwargs):
    """(device, dtype) from the arguments of `to(...)`, as torch reads them (Tensor.to and
    Module.to); either may be None. Unknown keywords raise torch's TypeError."""
    given = dict(kwargs)
    device, dtype = kwargs.pop("device", None), dtypes.given(kwargs.pop("dtype", None))
    for name in ("non_blocking", "copy", "memory_format"):
        kwargs.pop(name, None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument '{next(iter(kwargs))}'")
    if dtype is not None and not isinstance(dtype, dtypes.dtype):
        raise _to_refused(args, given)
    for a in args:
        if isinstance(a, type) and a not in (float, int, bool):  # (a numpy type, ...)
            raise _to_refused(args, given)
        if isinstance(a, dtypes.dtype) or a in (float, int, bool):
            dtype = dtypes.given(a)
        elif isinstance(a, Tensor):
            device, dtype = a.device_str, a.dtype
        elif a is not None:
            device = a
    return device, dtype


# What == and != compare a tensor with; anything else is not equal (torch's NotImplemented).
_COMPARABLE = (Tensor, numbers.Number, np.ndarray, np.generic)

record.Tensor = Tensor
