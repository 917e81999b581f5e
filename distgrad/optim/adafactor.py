"""Adafactor: the second moment of a matrix kept as its row and column means (torch's rule)."""
from __future__ import annotations

import math
from typing import Iterable

from ..creation import zeros, zeros_like
from ..dtype_info import finfo
from ..tensor import Tensor
from .optimizer import _EachParam


class Adafactor(_EachParam):
    """ρ = min(lr, 1/√step), α = max(eps2, rms(p))·ρ; the variance of g (for a matrix:
    row_var @ col_var / mean(row_var), from the lerped row and column means of g²) with
    weight 1 − β2_t = step^beta2_decay; u = g / √var, p ← p − α·u / max(1, rms(u)/d)."""

    _old_group_defaults = dict(foreach=None)

    def __init__(self, params: Iterable, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps=(None, 1e-3), d: float = 1.0, weight_decay: float = 0.0, *,
                 foreach=None, maximize: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        for ok, what, value in [(0.0 <= lr, "Learning rate should be >= 0", lr),
                                (0.0 >= beta2_decay, "beta2_decay should be <= 0", beta2_decay),
                                (eps[0] is None or 0.0 <= eps[0], "epsilon1 should be >= 0",
                                 eps[0]),
                                (0.0 <= eps[1], "epsilon2 should be >= 0", eps[1]),
                                (1.0 <= d, "Clipping threshold d should be >= 1", d),
                                (0.0 <= weight_decay, "weight_decay should be >= 0",
                                 weight_decay)]:
            if not ok:
                raise ValueError(f"{what} but is: {value}")
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize)
        super().__init__(params, defaults)

    def _new_state(self, p, group):
        if p.dim() > 1:  # the last two dimensions factored
            return {"row_var": zeros(*p.shape[:-1], 1, dtype=p.dtype, device=p.device),
                    "col_var": zeros(*p.shape[:-2], 1, p.shape[-1], dtype=p.dtype,
                                     device=p.device)}
        return {"variance": zeros_like(p)}

    def _update(self, p, grad, state, group):
        if group["maximize"]:
            grad = -grad
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = finfo(p.dtype).eps
        lr, step = float(group["lr"]), state["step"].item()
        weight = step ** group["beta2_decay"]
        alpha = max(eps2, p.norm(2).item() / math.sqrt(p.numel())) * min(lr, 1 / step ** 0.5)
        if group["weight_decay"] != 0:
            p.mul_(1 - lr * group["weight_decay"])
        if grad.dim() > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            row_var.lerp_(grad.norm(dim=-1, keepdim=True).square_().div_(grad.shape[-1]),
                   weight)
            col_var.lerp_(grad.norm(dim=-2, keepdim=True).square_().div_(grad.shape[-2]),
                   weight)
            var = (row_var @ col_var).div_(row_var.mean(dim=-2, keepdim=True).clamp_(min=eps1))
        else:
            var = state["variance"].lerp_(grad * grad, weight).clone()
        update = var.clamp_(min=eps1 * eps1).rsqrt_().mul_(grad)
        denom = max(1.0, update.norm(2).item() / (math.sqrt(update.numel()) * group["d"]))
        p.add_(update, alpha=-alpha / denom)
