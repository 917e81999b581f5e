"""Adamax: Adam with the infinity norm in place of the second moment (torch's rule)."""
from __future__ import annotations

from typing import Iterable

from ..creation import zeros_like
from .optimizer import _addcdiv_step, _check_betas, _check_nonnegative, _EachParam, _l2_grad, _value


class Adamax(_EachParam):
    """exp_avg ← lerp(exp_avg, g, 1−β1); exp_inf ← max(β2·exp_inf, |g| + eps);
    p ← p − lr / (1 − β1^step) · exp_avg / exp_inf."""

    def __init__(self, params: Iterable, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, foreach=None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        _check_nonnegative(lr=lr, eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _new_state(self, p, group):
        return {"exp_avg": zeros_like(p), "exp_inf": zeros_like(p)}

    def _update(self, p, grad, state, group):
        beta1, beta2 = group["betas"]
        grad = _l2_grad(p, grad, group)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg.lerp_(grad, 1 - beta1)
        clr = group["lr"] / (1 - beta1 ** _value(state["step"]))
        if group["differentiable"]:
            _differentiable_update(p, grad, exp_avg, exp_inf, beta2, group["eps"], clr)
            return
        exp_inf.copy_(exp_inf.mul_(beta2).maximum(grad.abs().add_(group["eps"])))
        _addcdiv_step(p, exp_avg, exp_inf, -clr)


def _differentiable_update(p, grad, exp_avg, exp_inf, beta2, eps, clr) -> None:
    """The infinity norm's update and the step as torch's differentiable Adamax records them:
    the larger of the two as an amax over them stacked, the step by addcdiv_."""
    from ..ops.functions import amax, cat

    both = cat([exp_inf.mul_(beta2).unsqueeze(0), grad.abs().add_(eps).unsqueeze(0)], 0)
    exp_inf.copy_(amax(both, 0, keepdim=False))
    p.addcdiv_(exp_avg, exp_inf, value=-clr)
