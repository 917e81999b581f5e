"""Adagrad: each coordinate's step divided by the root of its summed squared gradients."""
from __future__ import annotations

from typing import Iterable

from ..creation import full_like
from .optimizer import _addcdiv_step, _check_fused, _check_nonnegative, _EachParam, _l2_grad, _value


class Adagrad(_EachParam):
    """sum ← sum + g²; p ← p − clr·g / (√sum + eps), clr = lr / (1 + (step − 1)·lr_decay).
    As torch's, its state (step, sum) exists from the constructor on."""

    _old_group_defaults = dict(foreach=None, maximize=False, differentiable=False, fused=None)

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, fused=None) -> None:
        _check_nonnegative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        _check_fused(defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._state(p, group)

    def _new_state(self, p, group):
        # (torch reads the constructor's value here, not the group's)
        return {"sum": full_like(p, self.defaults["initial_accumulator_value"])}

    def _update(self, p, grad, state, group):
        step = _value(state["step"])
        grad = _l2_grad(p, grad, group)
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        state["sum"].addcmul_(grad, grad, value=1)
        if group["differentiable"]:  # (torch's ops, the root kept for its backward)
            p.addcdiv_(grad, state["sum"].sqrt() + group["eps"], value=-clr)
            return
        std = state["sum"].sqrt().add_(group["eps"])
        _addcdiv_step(p, grad, std, -clr)
