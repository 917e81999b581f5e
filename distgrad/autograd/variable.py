"""`Variable`: torch's name from before tensors recorded their own history, kept as torch
keeps it: every Tensor is a Variable, and `Variable(t, requires_grad=True)` is `t` detached
(sharing its memory and version counter) with requires_grad set.
"""
from __future__ import annotations

import warnings


class _VariableMeta(type):
    def __instancecheck__(cls, other) -> bool:
        from ..tensor import Tensor

        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    def __new__(cls, data=None, requires_grad: bool = False, volatile: bool = False):
        from ..creation import empty
        from ..tensor import Tensor

        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` "
                          "instead.", UserWarning, stacklevel=2)
            if requires_grad:
                raise ValueError("Variable can't be volatile and require_grad at the same time!")
        if data is None:
            return empty(0, requires_grad=requires_grad)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        if requires_grad and not data.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        out = data.detach()
        if requires_grad:
            out._set_requires_grad(True)
        return out
