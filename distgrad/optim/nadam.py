"""NAdam: Adam with Nesterov momentum and torch's momentum-decay schedule (μ_t)."""
from __future__ import annotations

from typing import Iterable

from ..creation import zeros_like
from .optimizer import (_addcdiv_step, _check_betas, _check_nonnegative, _EachParam, _scalar_state,
                        _value)


def _decayed_grad(p, grad, group: dict):
    """NAdam's and RAdam's weight decay: decoupled (p shrinks, as AdamW's) or L2 (added to
    the gradient), after the gradient is negated to maximize."""
    if group["maximize"]:
        grad = -grad
    wd = group["weight_decay"]
    if wd != 0:
        if group["decoupled_weight_decay"]:
            p.mul_(1 - group["lr"] * wd)
        else:
            grad = grad.add(p, alpha=wd)
    return grad


class NAdam(_EachParam):
    """μ_t = β1·(1 − ½·0.96^(t·momentum_decay)); the step mixes the gradient, weighted
    (1 − μ_t)/(1 − Πμ), with the first moment, weighted μ_{t+1}/(1 − Πμ·μ_{t+1}), both over
    √(v / (1 − β2^t)) + eps."""

    _old_group_defaults = dict(maximize=False, foreach=None, capturable=False,
                               differentiable=False, decoupled_weight_decay=False)
    _old_scalar_state = ("step", "mu_product")
    _capturable_refusals = (("params, mu_products and state_steps", True),
                            ("params, mu_products, and state_steps", False))

    def __init__(self, params: Iterable, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach=None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        _check_nonnegative(lr=lr, eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay, momentum_decay=momentum_decay)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    def _new_state(self, p, group):
        return {"mu_product": _scalar_state(p, 1.0),  # float32, as torch's
                "exp_avg": zeros_like(p), "exp_avg_sq": zeros_like(p)}

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["momentum_decay"]
        step = _value(state["step"])
        grad = _decayed_grad(p, grad, group)
        bias_correction2 = 1 - beta2 ** step
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * decay)))
        mu_product = _value(state["mu_product"].mul_(mu))
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = exp_avg_sq.div(bias_correction2).sqrt()
        grad_weight = -lr * (1.0 - mu) / (1.0 - mu_product)
        exp_avg_weight = (-lr * mu_next) / (1.0 - mu_product * mu_next)
        if group["differentiable"]:  # (torch's ops, the root kept for its backward)
            denom = denom.add(group["eps"])
            p.addcdiv_(grad * grad_weight, denom)
            p.addcdiv_(exp_avg * exp_avg_weight, denom)
            return
        denom.add_(group["eps"])
        _addcdiv_step(p, grad, denom, grad_weight)
        _addcdiv_step(p, exp_avg, denom, exp_avg_weight)
