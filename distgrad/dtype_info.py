"""What torch tells about dtypes: finfo and iinfo (limits of a float and an integer
dtype), can_cast, the default float dtype (set_default_dtype), and the predicates
is_floating_point, is_complex, is_nonzero and isreal.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .tensor import Tensor


class _Info:
    """What finfo and iinfo share: equal when of one dtype (torch compares them so), and so
    unhashable, as torch's."""

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.dtype == self.dtype

    __hash__ = None


class finfo(_Info):
    """torch.finfo: a float dtype's limits (the default dtype's when given none)."""

    def __init__(self, type: dtypes.dtype = None) -> None:  # noqa: A002  (torch's name)
        d = dtypes.get_default_dtype() if type is None else dtypes.given(type)
        if not d.is_floating_point:
            raise TypeError("torch.finfo() requires a floating point input type. Use torch.iinfo "
                            "to handle 'torch.finfo'")
        info = np.finfo(d.np)
        self.bits = info.bits
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -info.precision  # (torch's, not rounded to the dtype)
        self.dtype = d.name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo(_Info):
    """torch.iinfo: an integer dtype's limits."""

    def __init__(self, type: dtypes.dtype) -> None:  # noqa: A002
        type = dtypes.given(type)  # noqa: A001
        if type is dtypes.bool_:
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if type.is_floating_point:
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo to "
                            "handle 'torch.iinfo'")
        info = np.iinfo(type.np)
        self.bits, self.max, self.min, self.dtype = info.bits, int(info.max), int(info.min), \
            type.name

    def __repr__(self) -> str:
        return f"iinfo(min={float(self.min):g}, max={float(self.max):g}, dtype={self.dtype})"


def can_cast(from_: dtypes.dtype, to: dtypes.dtype) -> bool:
    """Whether torch's casting rules let an op write a `from_` result into `to` (never to
    a lower category: float to integer, or anything but bool to bool)."""
    return dtypes.given(from_).category <= dtypes.given(to).category


def set_default_dtype(d: dtypes.dtype) -> None:
    """The dtype of factories given no dtype= and of tensor() of Python floats."""
    if not isinstance(d, dtypes.dtype):  # (Python's float too: torch takes no type here)
        raise TypeError("invalid dtype object: only floating-point types are supported as the "
                        "default type")
    if not d.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    dtypes.set_default_dtype(d)


def _tensor_arg(name: str, input) -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name}(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")


def is_floating_point(input) -> bool:
    _tensor_arg("is_floating_point", input)
    return input.dtype.is_floating_point


def is_complex(input) -> bool:
    _tensor_arg("is_complex", input)
    return False  # (distgrad has no complex dtype)


def is_nonzero(input) -> bool:
    _tensor_arg("is_nonzero", input)
    n = input.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.item())


def isreal(input):
    from .creation import ones_like

    _tensor_arg("isreal", input)
    return ones_like(input, dtype=dtypes.bool_)


def _is_complex(self) -> bool:
    return False


for _name, _fn in (("is_complex", _is_complex), ("is_nonzero", is_nonzero), ("isreal", isreal)):
    setattr(Tensor, _name, _fn)
