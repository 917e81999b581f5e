"""SparseAdam: Adam over the rows a sparse gradient touches. distgrad's gradients are all
dense, so a step with one refuses it in torch's words (torch's advice: Adam)."""
from __future__ import annotations

from typing import Iterable

from ..tensor import Tensor
from .optimizer import Optimizer, _check_betas, _grads


class SparseAdam(Optimizer):
    def __init__(self, params: Iterable, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 maximize: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < lr:  # (strictly positive, unlike the other optimizers' checks)
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_betas(betas)
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        for group in self.param_groups:
            for _ in _grads(group):
                raise RuntimeError("SparseAdam does not support dense gradients, please "
                                   "consider Adam instead")
        return loss
