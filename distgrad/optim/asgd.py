"""ASGD: SGD with a decaying step size and a running average of the iterates (`ax`), which
averaging starts after t0 steps (torch's rule)."""
from __future__ import annotations

from typing import Iterable

from ..creation import zeros_like
from ..tensor import Tensor
from .optimizer import (_branch, _check_nonnegative, _EachParam, _l2_grad, _scalar_state,
                        _value)


class ASGD(_EachParam):
    """p ← p·(1 − λ·η) − η·g; ax ← p while μ = 1, else ax + μ·(p − ax); then
    η ← lr / (1 + λ·lr·t)^α and μ ← 1 / max(1, t − t0). η and μ are float32 0-dim state,
    as torch's."""

    _old_scalar_state = ("step", "eta", "mu")
    _capturable_refusals = (("params, mus, etas, and state_steps", True),
                            ("params, mus, etas, and state_steps", False))

    def __init__(self, params: Iterable, lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0, foreach=None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_nonnegative(lr=lr, weight_decay=weight_decay)
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    def _new_state(self, p, group):
        # (float(): an lr given as a tensor starts eta as its number, quietly, as torch's)
        return {"eta": _scalar_state(p, float(group["lr"])), "mu": _scalar_state(p, 1.0),
                "ax": zeros_like(p)}

    def _update(self, p, grad, state, group):
        lr, lambd = group["lr"], group["lambd"]
        grad = _l2_grad(p, grad, group)
        eta = _value(state["eta"])
        ax, mu = state["ax"], _value(state["mu"])
        if group["foreach"] and not group["differentiable"]:
            # torch's foreach step: p ← p − η·(g + λ·p) and ax ← ax + μ·(p − ax), one
            # addcmul_ each (its rounding, and one write to each version counter)
            p.addcmul_(grad.add(p, alpha=lambd), state["eta"], value=-1)
            ax.addcmul_(p - ax, state["mu"])
        else:
            p.mul_(1 - lambd * eta)
            if isinstance(eta, Tensor):  # (on workers: a tensor, which alpha cannot be)
                p.sub_(grad * eta)
            else:
                p.add_(grad, alpha=-eta)
            ax.copy_(_branch(mu != 1, lambda: ax + (p - ax) * mu, lambda: p))
        step = _value(state["step"])
        state["eta"].fill_(lr / ((1 + lambd * lr * step) ** group["alpha"]))
        late = step - group["t0"]
        state["mu"].fill_(1 / (late.clamp(min=1) if isinstance(late, Tensor) else max(1, late)))
