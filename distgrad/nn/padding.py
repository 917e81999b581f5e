"""Padding modules, as torch.nn's, over F.pad: ConstantPad1d/2d/3d and ZeroPad1d/2d/3d
(constant mode), ReflectionPad, ReplicationPad and CircularPad 1d/2d/3d."""
from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .conv import _ntuple
from .modules import Module

__all__ = ["ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d"]
__all__ += ["ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
            "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d",
            "CircularPad3d"]


class _ConstantPadNd(Module):
    """Pads the last `_dims` dims by `padding` (an int for every side, or (left, right, top,
    bottom, front, back) as far as there are dims) with `value`."""

    _dims = 0

    def __init__(self, padding, value: float) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._dims)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    _dims = 1


class ConstantPad2d(_ConstantPadNd):
    _dims = 2


class ConstantPad3d(_ConstantPadNd):
    _dims = 3


class _ZeroPad:
    """ZeroPadNd: ConstantPadNd with value 0.0, printed by its padding alone."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPad, ConstantPad1d):
    pass


class ZeroPad2d(_ZeroPad, ConstantPad2d):
    pass


class ZeroPad3d(_ZeroPad, ConstantPad3d):
    pass


class _ModePadNd(Module):
    """Pads the last `_dims` dims by `padding` in F.pad's `_mode`."""

    _dims = 0
    _mode = ""

    def __init__(self, padding) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._dims)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_ModePadNd):
    _dims, _mode = 1, "reflect"


class ReflectionPad2d(_ModePadNd):
    _dims, _mode = 2, "reflect"


class ReflectionPad3d(_ModePadNd):
    _dims, _mode = 3, "reflect"


class ReplicationPad1d(_ModePadNd):
    _dims, _mode = 1, "replicate"


class ReplicationPad2d(_ModePadNd):
    _dims, _mode = 2, "replicate"


class ReplicationPad3d(_ModePadNd):
    _dims, _mode = 3, "replicate"


class CircularPad1d(_ModePadNd):
    _dims, _mode = 1, "circular"


class CircularPad2d(_ModePadNd):
    _dims, _mode = 2, "circular"


class CircularPad3d(_ModePadNd):
    _dims, _mode = 3, "circular"
