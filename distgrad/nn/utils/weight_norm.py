"""torch.nn.utils.weight_norm and remove_weight_norm, the older hook-based weight
normalization: `weight` is recomputed as g · v / ‖v‖ before each forward from the parameters
`weight_g` and `weight_v`. (parametrizations.weight_norm is the newer form.)"""
from __future__ import annotations

import warnings
from typing import Any, Optional

from ...autograd.record import call
from ...tensor import Tensor
from ..modules import Module
from ..parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm", "norm_except_dim"]


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:
    """torch.norm_except_dim: the norm over every dimension but dim, shaped to broadcast
    against v (size 1 elsewhere); dim=-1 is the norm of the whole tensor."""
    if dim == -1:
        return v.norm(pow)
    dim = dim % v.ndim
    others = [d for d in range(v.ndim) if d != dim]
    return v.norm(pow, dim=others, keepdim=True) if others else v.abs()


def _weight_norm(v: Tensor, g: Tensor, dim: int = 0) -> Tensor:
    """torch._weight_norm: v scaled so that its norm over every dimension but dim is g;
    over the first or last dim by torch's fused kernel and its node
    (WeightNormInterfaceBackward0)."""
    if dim in (0, v.ndim - 1):
        return call("weight_norm_interface", v, g, dim=dim)[0]
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that recomputes `<name>` from `<name>_g` and `<name>_v`."""

    def __init__(self, name: str, dim: Optional[int]) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Any:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"),
                            self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: Optional[int]) -> "WeightNorm":
        warnings.warn("`torch.nn.utils.weight_norm` is deprecated in favor of "
                      "`torch.nn.utils.parametrizations.weight_norm`.", FutureWarning,
                      stacklevel=3)
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError("Cannot register two weight_norm hooks on the same parameter "
                                   f"{name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, 2, fn.dim).data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim: Optional[int] = 0) -> Module:
    """Replace parameter `name` by `name_g` (its norm over every dimension but dim, or of the
    whole tensor with dim=None) and `name_v` (its direction); returns the module."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo weight_norm: `name` becomes one parameter again, with its current value."""
    return remove_norm_hook(module, WeightNorm, name, "weight_norm")


def remove_norm_hook(module: Module, kind: type, name: str, label: str) -> Module:
    """Take out the forward pre-hook of class `kind` that computes `name`, undoing what it
    did (hook.remove); torch's ValueError when there is none."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"{label} of '{name}' not found in {module}")
