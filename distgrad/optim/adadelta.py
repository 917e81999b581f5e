"""Adadelta: steps scaled by the ratio of running RMS of past updates to that of gradients."""
from __future__ import annotations

from typing import Iterable

from ..creation import zeros_like
from .optimizer import _check_nonnegative, _EachParam, _l2_grad


class Adadelta(_EachParam):
    """square_avg ← ρ·square_avg + (1−ρ)·g²; δ = √(acc_delta + eps) / √(square_avg + eps)·g;
    acc_delta ← ρ·acc_delta + (1−ρ)·δ²; p ← p − lr·δ."""

    _capturable_refusals = (("params and state_steps", False),) * 2  # (no xla in either)

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach=None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check_nonnegative(lr=lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_nonnegative(eps=eps, weight_decay=weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    def _new_state(self, p, group):
        return {"square_avg": zeros_like(p), "acc_delta": zeros_like(p)}

    def _update(self, p, grad, state, group):
        rho, eps = group["rho"], group["eps"]
        grad = _l2_grad(p, grad, group)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        std = square_avg.add(eps).sqrt_()
        delta = acc_delta.add(eps).sqrt_()
        if group["differentiable"]:  # (torch's: the root kept for its backward)
            delta = delta.clone()
        delta.div_(std).mul_(grad)
        acc_delta.mul_(rho).addcmul_(delta, delta, value=1 - rho)
        p.add_(delta, alpha=-group["lr"])
