"""`Parameter`: a leaf tensor that a `Module` registers as one of its parameters; `Buffer`:
a tensor marked to be registered as one of its buffers."""
from __future__ import annotations

import os as _os
import sys as _sys

from ..tensor import Tensor, _arg_type_name


class Parameter(Tensor):
    """A Tensor that requires grad and that `Module.__setattr__` registers.

    It shares `data`'s value (no copy), as torch's does; ops on it return plain tensors.

    >>> p = distgrad.nn.Parameter(distgrad.ones(2))
    >>> p
    Parameter containing:
    tensor([1., 1.], requires_grad=True)
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            from ..creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not "
                            f"{type(data).__name__}")
        if not isinstance(requires_grad, bool):  # (torch's _make_subclass takes a bool only)
            raise TypeError("_make_subclass(): argument 'require_grad' (position 3) must be bool, "
                            f"not {_arg_type_name(requires_grad)}")
        if requires_grad and not data.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        p = cls._make(data._value, data.shape, data.dtype, data.device_str)
        p._storage = data._storage  # shares storage with `data`, as a detached alias does
        # (a sharded one's parts are p's from now on: a view of p has p as its base)
        p._sharding = data._sharding.held_by(p) if data._sharding is not None else None
        p._layout = data._layout  # (a transposed or sliced `data` keeps its strides)
        p._set_requires_grad(requires_grad)
        return p

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        # (torch's copy of a Parameter leaves its .grad behind, unlike a plain tensor's)
        out = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach(), self.requires_grad))


def _rebuild_parameter(data: Tensor, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)


class _BufferMeta(type):
    # isinstance(t, Buffer) holds for a tensor Buffer() marked, as torch's does
    def __instancecheck__(cls, instance) -> bool:
        if cls is Buffer and isinstance(instance, Tensor) and \
                instance.__dict__.get("_is_buffer", False):
            return True
        return super().__instancecheck__(instance)


class Buffer(Tensor, metaclass=_BufferMeta):
    """Marks a tensor so that assigning it to a Module attribute registers a buffer
    (persistent: in the state_dict). As torch's, it returns the tensor detached (sharing its
    value), not an instance of a subclass::

        self.scale = distgrad.nn.Buffer(distgrad.ones(3), persistent=False)
    """

    __slots__ = ()

    def __new__(cls, data: Tensor | None = None, *, persistent: bool = True):
        if data is None:
            from ..creation import empty

            data = empty(0)
        t = data.detach().requires_grad_(data.requires_grad)
        t.persistent = persistent
        t._is_buffer = True
        return t


# ---- uninitialized parameters and buffers (torch.nn.parameter's, for lazy modules) -----------
#
# torch refuses every torch function given one (its __torch_function__) but a few methods and
# the attribute getters. distgrad has no __torch_function__: the mixin below overrides each
# public method of Tensor (a refusal naming it as torch's message does, or, for the methods
# torch allows, the method itself), runs the property getters and setters, and makes `shape`
# refuse. A distgrad function given one reads its shape (or a getter, or calls a method); that
# refusal names the public function the caller called (torch names the first function that
# dispatched), found on the stack: the outermost frame of distgrad's function files under the
# caller's, a frame of user code or of distgrad's own Python layers (nn modules, optimizers,
# nn.init's Python helpers) standing for the caller. Called by the caller itself, a getter or
# an allowed method runs; reading `.shape` raises torch's RuntimeError (as Module.
# load_state_dict does, loading an uninitialized value into an initialized module).

_ALLOWED = 0  # > 0 while an allowed method or a getter runs: shape reads pass

_PACKAGE = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))) + _os.sep
_NN = _PACKAGE + "nn" + _os.sep
# distgrad's files of public functions (torch's dispatching entry points)
_ENTRY_FILES = tuple(_PACKAGE + f for f in (
    "tensor.py", "creation.py", "linalg.py", "special.py", "sampling.py", "foreach.py",
    "inplace_functions.py", "functional_aliases.py", "dtype_info.py", "signal_windows.py",
    "nn" + _os.sep + "functional.py", "nn" + _os.sep + "functional_layers.py",
    "nn" + _os.sep + "functional_losses.py", "nn" + _os.sep + "init.py"))
_ENTRY_DIRS = (_PACKAGE + "ops" + _os.sep,)
# distgrad's machinery under those functions: passed over
_INTERNAL_DIRS = (_PACKAGE + "autograd" + _os.sep,)
_INTERNAL_FILES = tuple(_PACKAGE + f for f in (
    "storage.py", "storage_objects.py", "out_param.py", "dtypes.py", "layouts.py", "mersenne.py",
    "generator.py", "settings.py", "_format.py", "nn" + _os.sep + "parameter.py"))
_INIT = _NN + "init.py"
# the nn.init functions that refuse on entry in torch (the others are Python over Tensor
# methods, which refuse)
_INIT_ENTRIES = frozenset(("constant_", "kaiming_uniform_", "normal_", "uniform_"))
_PUBLIC_NAMES: set = set()  # the names of distgrad's public functions, methods included


def _public_names() -> set:
    if not _PUBLIC_NAMES:
        import distgrad

        from .. import linalg, special
        from . import functional, init

        for space in (distgrad, functional, init, linalg, special, Tensor):
            _PUBLIC_NAMES.update(n for n in dir(space) if not n.startswith("_")
                                 or (n.startswith("__") and n.endswith("__")))
    return _PUBLIC_NAMES

# How torch names its functions in the refusal, where not `<method 'NAME' of
# 'torch._C.TensorBase' objects>` (a Tensor method) or `<built-in method NAME of type object
# at 0x...>` (a torch function); "0x" stands for an address.
_METHOD_FORMS = {
    "__abs__": "<method 'abs' of 'torch._C.TensorBase' objects>",
    "__add__": "<method 'add' of 'torch._C.TensorBase' objects>",
    "__array__": "<function Tensor.__array__ at 0x>",
    "__floordiv__": "<function Tensor.__floordiv__ at 0x>",
    "__ge__": "<method 'ge' of 'torch._C.TensorBase' objects>",
    "__getitem__": "<slot wrapper '__getitem__' of 'torch._C.TensorBase' objects>",
    "__gt__": "<method 'gt' of 'torch._C.TensorBase' objects>",
    "__iadd__": "<method 'add_' of 'torch._C.TensorBase' objects>",
    "__ifloordiv__": "<method 'floor_divide_' of 'torch._C.TensorBase' objects>",
    "__imod__": "<method 'remainder_' of 'torch._C.TensorBase' objects>",
    "__imul__": "<method 'mul_' of 'torch._C.TensorBase' objects>",
    "__ipow__": "<function TensorBase.pow_ at 0x>",
    "__isub__": "<method 'sub_' of 'torch._C.TensorBase' objects>",
    "__iter__": "<method 'dim' of 'torch._C.TensorBase' objects>",
    "__itruediv__": "<method 'div_' of 'torch._C.TensorBase' objects>",
    "__le__": "<method 'le' of 'torch._C.TensorBase' objects>",
    "__len__": "<function Tensor.__len__ at 0x>",
    "__lt__": "<method 'lt' of 'torch._C.TensorBase' objects>",
    "__matmul__": "<method 'matmul' of 'torch._C.TensorBase' objects>",
    "__mod__": "<method 'remainder' of 'torch._C.TensorBase' objects>",
    "__mul__": "<method 'mul' of 'torch._C.TensorBase' objects>",
    "__ne__": "<method 'ne' of 'torch._C.TensorBase' objects>",
    "__neg__": "<method 'neg' of 'torch._C.TensorBase' objects>",
    "__pos__": "<method 'positive' of 'torch._C.TensorBase' objects>",
    "__pow__": "<function TensorBase.pow at 0x>",
    "__radd__": "<method 'add' of 'torch._C.TensorBase' objects>",
    "__rand__": "<method 'bitwise_and' of 'torch._C.TensorBase' objects>",
    "__rfloordiv__": "<function Tensor.__rfloordiv__ at 0x>",
    "__rlshift__": "<function Tensor.__rlshift__ at 0x>",
    "__rmatmul__": "<function Tensor.__rmatmul__ at 0x>",
    "__rmod__": "<function Tensor.__rmod__ at 0x>",
    "__rmul__": "<method 'mul' of 'torch._C.TensorBase' objects>",
    "__ror__": "<method 'bitwise_or' of 'torch._C.TensorBase' objects>",
    "__rpow__": "<function Tensor.__rpow__ at 0x>",
    "__rrshift__": "<function Tensor.__rrshift__ at 0x>",
    "__rsub__": "<function Tensor.__rsub__ at 0x>",
    "__rtruediv__": "<function Tensor.__rdiv__ at 0x>",
    "__rxor__": "<method 'bitwise_xor' of 'torch._C.TensorBase' objects>",
    "__setitem__": "<slot wrapper '__setitem__' of 'torch._C.TensorBase' objects>",
    "__sub__": "<method 'sub' of 'torch._C.TensorBase' objects>",
    "__truediv__": "<method 'div' of 'torch._C.TensorBase' objects>",
    "__deepcopy__": "<function Tensor.__deepcopy__ at 0x>",
    "backward": "<function Tensor.backward at 0x>",
    "is_shared": "<function Tensor.is_shared at 0x>",
    "norm": "<function Tensor.norm at 0x>",
    "register_hook": "<function Tensor.register_hook at 0x>",
    "register_post_accumulate_grad_hook":
        "<function Tensor.register_post_accumulate_grad_hook at 0x>",
    "share_memory_": "<function Tensor.share_memory_ at 0x>",
    "split": "<function Tensor.split at 0x>",
    "storage": "<function Tensor.storage at 0x>",
    "unflatten": "<function Tensor.unflatten at 0x>",
    "unique": "<function Tensor.unique at 0x>",
    "unique_consecutive": "<function Tensor.unique_consecutive at 0x>",
}
# torch.nn.functional's functions that are C builtins of torch._C._nn (`<built-in function
# NAME>`) or torch's own (`<built-in method NAME of type object at 0x...>`); the others are
# Python functions (`<function NAME at 0x...>`)
_F_BUILTINS = frozenset((
    "avg_pool2d avg_pool3d elu_ gelu hardtanh_ leaky_relu_ linear logsigmoid one_hot "
    "scaled_dot_product_attention softplus softshrink").split())
_F_TORCH_BUILTINS = frozenset((
    "adaptive_avg_pool1d avg_pool1d bilinear celu_ channel_shuffle conv1d conv2d conv3d "
    "conv_transpose1d conv_transpose2d conv_transpose3d cosine_similarity hardshrink "
    "pairwise_distance pdist pixel_shuffle pixel_unshuffle prelu relu_ rrelu_ selu_ "
    "threshold_").split())
# torch's top-level functions that are Python functions (the rest are C builtins)
_TORCH_PY_FUNCTIONS = frozenset((
    "atleast_1d atleast_2d atleast_3d block_diag broadcast_shapes broadcast_tensors "
    "cartesian_prod cdist chain_matmul einsum is_tensor is_storage meshgrid norm save split "
    "tensordot unique unique_consecutive unravel_index").split())


class _allowed:
    """Within it, an uninitialized tensor's shape reads and methods run as a tensor's."""

    __slots__ = ()

    def __enter__(self):
        global _ALLOWED
        _ALLOWED += 1

    def __exit__(self, *exc):
        global _ALLOWED
        _ALLOWED -= 1


_ALLOW = _allowed()


def _address(form: str, obj) -> str:
    return form.replace("0x", f"{id(obj):#x}")


def _method_form(name: str, obj) -> str:
    return _address(_METHOD_FORMS.get(name, f"<method '{name}' of 'torch._C.TensorBase' "
                                            "objects>"), obj)


def _entry_form(frame) -> str:
    """How torch names the public function `frame` runs."""
    code = frame.f_code
    name, path = code.co_name, code.co_filename
    qualname = getattr(code, "co_qualname", name)
    if qualname.startswith("Tensor."):
        return _method_form(name, code)
    if path.startswith(_NN) and "functional" in _os.path.basename(path):
        if name in _F_BUILTINS:
            return f"<built-in function {name}>"
        if name not in _F_TORCH_BUILTINS:
            return f"<function {name} at {id(code):#x}>"
    if path == _NN + "init.py" or name in _TORCH_PY_FUNCTIONS:
        return f"<function {name} at {id(code):#x}>"
    return f"<built-in method {name} of type object at {id(_PACKAGE):#x}>"


def _entry_frame(frame):
    """The outermost frame of distgrad's public functions between `frame` and the first frame
    of the caller (user code or distgrad's Python layers), or None."""
    best = None
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(_INTERNAL_DIRS) or path in _INTERNAL_FILES:
            frame = frame.f_back
            continue
        if not (path in _ENTRY_FILES or path.startswith(_ENTRY_DIRS) or path == "<string>"):
            break  # (functions the op table makes are compiled from "<string>")
        name = frame.f_code.co_name
        if name in _public_names() and (path != _INIT or name in _INIT_ENTRIES):
            best = frame
        frame = frame.f_back
    return best


def _refusal(cls, func: str) -> ValueError:
    return ValueError(
        f"Attempted to use an uninitialized parameter in {func}. This error happens when you are "
        "using a `LazyModule` or explicitly manipulating "
        f"`torch.nn.parameter.{cls.__name__}` objects. When using LazyModules Call `forward` "
        "with a dummy batch to initialize the parameters before calling torch functions")


def _refused_method(name: str):
    def refused(self, *args, **kwargs):
        if _ALLOWED:
            return getattr(Tensor, name)(self, *args, **kwargs)
        entry = _entry_frame(_sys._getframe(1))
        raise _refusal(type(self), _entry_form(entry) if entry is not None
                       else _method_form(name, refused))

    refused.__name__ = refused.__qualname__ = name
    return refused


def _check_entry(self) -> None:
    """Refuse a use from inside one of distgrad's public functions (torch's refused it on
    entry); a use from user code or distgrad's Python layers is let through."""
    entry = _entry_frame(_sys._getframe(2))
    if entry is not None:
        raise _refusal(type(self), _entry_form(entry))


def _allowed_method(name: str):
    def allowed(self, *args, **kwargs):
        if not _ALLOWED:
            _check_entry(self)
        with _ALLOW:
            out = getattr(Tensor, name)(self, *args, **kwargs)
        return self._converted(out)

    allowed.__name__ = allowed.__qualname__ = name
    return allowed


def _allowed_property(prop: property) -> property:
    def fget(self):
        if not _ALLOWED:
            _check_entry(self)
        with _ALLOW:
            out = prop.fget(self)
        return self._converted(out)

    def fset(self, value):
        with _ALLOW:
            prop.fset(self, value)

    def fdel(self):
        with _ALLOW:
            prop.fdel(self)

    return property(fget, fset if prop.fset else None, fdel if prop.fdel else None, prop.__doc__)


# the methods torch lets an uninitialized tensor run (its _allowed_methods)
_ALLOWED_METHODS = ("size", "copy_", "is_complex", "is_floating_point", "half", "float",
                    "double", "char", "short", "int", "long", "cuda", "cpu", "to", "get_device")
# Tensor's own protocol, left as Tensor has it or given below
_KEPT = {"__new__", "__init__", "__repr__", "__str__", "__hash__", "__reduce__", "__reduce_ex__",
         "__getattr__", "__getattribute__", "__setattr__", "__delattr__", "__dir__",
         "__init_subclass__", "__subclasshook__", "__sizeof__", "__getstate__", "__setstate__",
         "__class_getitem__", "__format__", "__deepcopy__", "__eq__", "__ne__"}
_SHAPE = Tensor.__dict__["shape"]  # the slot


class UninitializedTensorMixin:
    """What UninitializedParameter and UninitializedBuffer share: no shape yet, most uses
    refused (torch's ValueError), `materialize(shape)` makes the tensor it becomes."""

    __slots__ = ()

    cls_to_become = None

    def materialize(self, shape, device=None, dtype=None) -> None:
        """The tensor of `shape` (uninitialized values) that it becomes, on its device and
        of its dtype unless given; its class becomes `cls_to_become`."""
        from ..creation import empty

        with _ALLOW:
            if device is None:
                device = self.data.device
            if dtype is None:
                dtype = self.data.dtype
            self.data = empty(tuple(shape), device=device, dtype=dtype)
        self.__class__ = self.cls_to_become

    @property
    def shape(self):
        if _ALLOWED:
            return _SHAPE.__get__(self)
        caller = _sys._getframe(1)
        entry = _entry_frame(caller)
        if entry is not None:
            raise _refusal(type(self), _entry_form(entry))
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually "
            "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
            "initialized one. Call `forward` to initialize the parameters before accessing their "
            "attributes.")

    @shape.setter
    def shape(self, value) -> None:
        _SHAPE.__set__(self, value)

    def share_memory_(self):
        raise RuntimeError("Can't share memory on an uninitialized parameter or buffer. Call "
                           "`forward` to initialize the parameters before calling "
                           "`module.share_memory()`.")

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__}>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __hash__(self) -> int:
        return id(self)

    def __reduce_ex__(self, proto):
        return (self.__class__, (self.requires_grad,))

    def _converted(self, out):
        """A method's result as torch gives it (a buffer's tensors stay uninitialized)."""
        return out


_FILLED = []


def _fill_mixin() -> None:
    """Give the mixin its overrides of Tensor's methods and properties: once, when the first
    uninitialized tensor is made (distgrad has bound all of Tensor's methods by then)."""
    if _FILLED:
        return
    _FILLED.append(True)
    seen = set()
    for klass in Tensor.__mro__[:-1]:
        for name, attr in vars(klass).items():
            if name in seen or name in vars(UninitializedTensorMixin) or name == "shape":
                continue
            seen.add(name)
            if isinstance(attr, property):
                setattr(UninitializedTensorMixin, name, _allowed_property(attr))
                continue
            if not callable(attr) or isinstance(attr, (type, staticmethod, classmethod)):
                continue
            dunder = name.startswith("__") and name.endswith("__")
            if name in _KEPT or (name.startswith("_") and not dunder):
                continue
            if name in _ALLOWED_METHODS:
                setattr(UninitializedTensorMixin, name, _allowed_method(name))
            else:
                setattr(UninitializedTensorMixin, name, _refused_method(name))
    # == and != are refused too (torch), the hash kept
    UninitializedTensorMixin.__eq__ = _refused_method("__eq__")
    UninitializedTensorMixin.__ne__ = _refused_method("__ne__")


def is_lazy(param) -> bool:
    """Whether `param` is an UninitializedParameter or an UninitializedBuffer."""
    return isinstance(param, UninitializedTensorMixin)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A Parameter whose shape is not known yet (a lazy module's, until its first forward):
    it can change dtype or device, and `materialize(shape)` makes it a Parameter."""

    __slots__ = ()

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device=None, dtype=None):
        from ..creation import empty

        _fill_mixin()
        with _ALLOW:
            return Parameter.__new__(cls, empty(0, device=device, dtype=dtype), requires_grad)

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        with _ALLOW:
            result = type(self)(self.requires_grad, self.data.device, self.data.dtype)
        memo[id(self)] = result
        return result


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet: `materialize(shape)` makes it a Tensor."""

    __slots__ = ()

    cls_to_become = Tensor

    def __new__(cls, requires_grad: bool = False, device=None, dtype=None,
                persistent: bool = True):
        from ..creation import empty

        _fill_mixin()
        with _ALLOW:
            data = empty(0, device=device, dtype=dtype)
            ret = cls._make(data._value, data.shape, data.dtype, data.device_str)
            ret._set_requires_grad(requires_grad)
        ret.persistent = persistent
        ret._is_buffer = True
        return ret

    def _converted(self, out):
        # (torch's Tensor.__torch_function__ makes a result of the subclass)
        if isinstance(out, Tensor) and not isinstance(out, UninitializedBuffer):
            out.__class__ = UninitializedBuffer
        return out
