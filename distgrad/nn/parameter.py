"""`Parameter`: a leaf tensor that a `Module` registers as one of its parameters; `Buffer`:
a tensor marked to be registered as one of its buffers."""
from __future__ import annotations

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
        p._sharding = data._sharding
        p._layout = data._layout  # (a transposed or sliced `data` keeps its strides)
        p.requires_grad_(requires_grad)
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
