"""RAdam: Adam whose adaptive step is switched on, and rectified, once the variance of the
adaptive learning rate is tractable (torch's rule: when ρ_t > 5)."""
from __future__ import annotations

from typing import Iterable

from ..creation import zeros_like
from ..tensor import Tensor
from .nadam import _decayed_grad
from .optimizer import _branch, _check_betas, _check_nonnegative, _EachParam, _value


class RAdam(_EachParam):
    """ρ_∞ = 2/(1−β2) − 1, ρ_t = ρ_∞ − 2t·β2^t/(1−β2^t); while ρ_t ≤ 5 the step is SGD with
    momentum on the bias-corrected first moment, after it Adam's times the rectification
    √((ρ_t−4)(ρ_t−2)ρ_∞ / ((ρ_∞−4)(ρ_∞−2)ρ_t))."""

    _old_group_defaults = dict(foreach=None, maximize=False, differentiable=False,
                               decoupled_weight_decay=False, capturable=False)

    def __init__(self, params: Iterable, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, decoupled_weight_decay: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_nonnegative(lr=lr, eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    def _new_state(self, p, group):
        return {"exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        step = _value(state["step"])
        grad = _decayed_grad(p, grad, group)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction2 = 1 - beta2 ** step
        corrected = exp_avg / (1 - beta1 ** step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2

        def rectified():
            # (on workers also computed for ρ_t ≤ 5, where the root may be of a negative
            # number and `where` drops it: the clamp keeps numpy quiet)
            r = rho_t.clamp(min=5.0) if isinstance(rho_t, Tensor) else rho_t
            rect = ((r - 4) * (r - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * r)) ** 0.5
            # (the root kept: a differentiable step's backward reads it, as torch's)
            adaptive_lr = (bias_correction2 ** 0.5) / exp_avg_sq.sqrt().add(eps)
            return corrected * lr * adaptive_lr * rect

        p.add_(_branch(rho_t > 5.0, rectified, lambda: corrected * lr), alpha=-1.0)
