"""RMSprop: the step divided by a running root-mean-square of the gradient (torch's rule)."""
from __future__ import annotations

from typing import Iterable

from ..creation import zeros_like
from .optimizer import _check_nonnegative, _EachParam, _l2_grad


class RMSprop(_EachParam):
    """square_avg ← α·square_avg + (1−α)·g²; p ← p − lr·g / (√square_avg + eps), with
    momentum (a buffer of those steps) and centered (the variance: minus the squared
    running mean of g)."""

    _old_group_defaults = dict(momentum=0, centered=False, foreach=None, maximize=False,
                               differentiable=False, capturable=False)
    _capturable_refusals = (("params and state_steps", True),) * 2  # (xla in both)

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0, momentum: float = 0,
                 centered: bool = False, capturable: bool = False, foreach=None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check_nonnegative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay,
                           alpha=alpha)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _new_state(self, p, group):
        state = {"square_avg": zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = zeros_like(p)
        return state

    def _update(self, p, grad, state, group):
        lr, alpha, momentum = group["lr"], group["alpha"], group["momentum"]
        grad = _l2_grad(p, grad, group)
        square_avg = state["square_avg"]
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"].lerp_(grad, 1 - alpha)
            avg = (square_avg - grad_avg * grad_avg).sqrt_()
        else:
            avg = square_avg.sqrt()
        # (a differentiable step keeps the root its backward reads, as torch's)
        avg = avg.add(group["eps"]) if group["differentiable"] else avg.add_(group["eps"])
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf.mul_(momentum).add_(grad / avg)
            p.add_(buf, alpha=-lr)
        else:
            p.addcdiv_(grad, avg, value=-lr)
