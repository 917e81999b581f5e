"""Rprop: each coordinate moves by its own step size, grown while its gradient keeps its sign
and shrunk when the sign flips; the gradient's size is not used (torch's rule)."""
from __future__ import annotations

from typing import Iterable

from ..autograd.edges import increment_version
from ..creation import full_like, zeros_like
from .optimizer import _check_nonnegative, _EachParam


class Rprop(_EachParam):
    """step_size ← clamp(step_size·η, step_sizes) with η = etaplus where g·prev > 0, etaminus
    where < 0, else 1; where the sign flipped the gradient counts as 0 (no move now, and
    none of the penalty next time); p ← p − sign(g)·step_size."""

    _capturable_refusals = (("params and state_steps", True),) * 2  # (xla in both)

    def __init__(self, params: Iterable, lr: float = 1e-2, etas=(0.5, 1.2),
                 step_sizes=(1e-6, 50), *, capturable: bool = False, foreach=None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        _check_nonnegative(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = dict(lr=lr, etas=etas, step_sizes=step_sizes, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    def _new_state(self, p, group):
        return {"prev": zeros_like(p), "step_size": full_like(p, group["lr"])}

    def _update(self, p, grad, state, group):
        etaminus, etaplus = group["etas"]
        if group["maximize"]:
            grad = -grad
        if group["differentiable"]:
            _differentiable_update(p, grad, state, group)
            return
        sign = grad.mul(state["prev"]).sign()
        flipped = sign.lt(0)
        # (etas are > 0, so filling one mask cannot change another's elements)
        eta = sign.masked_fill(sign.gt(0), etaplus).masked_fill(flipped, etaminus).masked_fill(
            sign.eq(0), 1)
        step_size = state["step_size"]
        step_size.mul_(eta).clamp_(*group["step_sizes"])
        grad = grad.masked_fill(flipped, 0)
        p.sub_(grad.sign() * step_size)  # param.addcmul_(grad.sign(), step_size, value=-1)
        state["prev"].copy_(grad)
        if group["foreach"]:  # (torch's foreach step writes prev twice, thrice to maximize)
            increment_version([state["prev"]] * (2 if group["maximize"] else 1))


def _differentiable_update(p, grad, state: dict, group: dict) -> None:
    """Rprop's step as torch's differentiable step records it: the sign's factors and the
    zeroed gradient chosen by `where`, the step by addcmul_ (a graph through the gradient
    and the step sizes)."""
    from ..ops.functions import where

    etaminus, etaplus = group["etas"]
    sign = grad.mul(state["prev"].clone()).sign()
    sign.copy_(where(sign.gt(0), etaplus, sign))
    sign.copy_(where(sign.lt(0), etaminus, sign))
    sign.copy_(where(sign.eq(0), 1, sign))
    step_size = state["step_size"]
    step_size.mul_(sign).clamp_(*group["step_sizes"])
    grad = grad.clone()
    grad.copy_(where(sign.eq(etaminus), 0, grad))
    p.addcmul_(grad.sign(), step_size, value=-1)
    state["prev"].copy_(grad)
