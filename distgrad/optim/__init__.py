"""`distgrad.optim`: torch's optimizers with torch's update rules, step for step: SGD, Adam and
AdamW here, the others (RMSprop, Adagrad, Adadelta, Adafactor, Adamax, NAdam, RAdam, Rprop, ASGD,
LBFGS, Muon, SparseAdam) a module each; the base class in optimizer.py, learning-rate schedules in
lr_scheduler.py.

`step()` runs under no_grad (with grad mode on for a differentiable=True optimizer, whose
updates then record the graph torch's do) and changes each parameter with in-place tensor
ops (`p.add_(...)`), and keeps its state (momentum buffers, moments) as tensors created like
the parameter, so a parameter on a worker is updated where it lives.
"""
from __future__ import annotations

from typing import Iterable

from ..autograd.edges import increment_version
from ..autograd.record import call
from ..module_aliases import alias_modules as _alias_modules
from ..ops.functions import _checked_alpha
from ..tensor import Tensor
from .optimizer import (Optimizer, _addcdiv_step, _check_betas, _check_capturable,
                        _check_fused, _check_nonnegative, _grads, _on_workers, _scalar_state,
                        _value, _with_weight_decay)

__all__ = ["Optimizer", "SGD", "Adam"]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, dampening, weight decay and Nesterov,
    exactly torch's rule (the first momentum buffer is the gradient itself)."""

    _old_group_defaults = dict(nesterov=False, maximize=False, foreach=None,
                               differentiable=False, fused=False)

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach=None, differentiable: bool = False,
                 fused=None) -> None:
        _check_nonnegative(lr=lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        _check_fused(defaults)

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group: dict) -> None:
        lr, momentum = group["lr"], group["momentum"]
        dampening, wd = group["dampening"], group["weight_decay"]
        buffers = []
        for p, grad in _grads(group):
            if group["maximize"]:
                grad = -grad
            if wd != 0:
                grad = _with_weight_decay(grad, p, wd)
            if momentum != 0:
                buf = self.state[p].get("momentum_buffer")
                if buf is None:
                    buf = grad.detach().clone()
                else:
                    buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                buffers.append((p, buf))
                grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
            p.add_(grad, alpha=-lr)
        # (as torch's, a group's new buffers are kept once all its parameters have stepped:
        # none, if a differentiable step refuses a leaf)
        for p, buf in buffers:
            self.state[p]["momentum_buffer"] = buf


class Adam(Optimizer):
    """Adam (and AMSGrad) with torch's formula: bias-corrected moments, eps added after the
    square root; weight_decay is L2 added to the gradient (decoupled_weight_decay: AdamW)."""

    _old_group_defaults = dict(amsgrad=False, maximize=False, foreach=None, capturable=False,
                               differentiable=False, decoupled_weight_decay=False, fused=None)
    _old_scalar_state = ("step",)

    def __init__(self, params: Iterable, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused=None, decoupled_weight_decay: bool = False) -> None:
        if isinstance(lr, Tensor) and foreach and not capturable:
            raise ValueError("lr as a Tensor is not supported for capturable=False and "
                             "foreach=True")
        _check_nonnegative(lr=lr, eps=eps)
        _check_betas(betas)
        _check_nonnegative(weight_decay=weight_decay)
        _check_tensor_betas(betas, foreach and not capturable)
        # (torch's Adam keeps betas given as a list as a tuple, a 1-element tensor as 0-dim)
        betas = tuple(b.squeeze() if isinstance(b, Tensor) else b for b in betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        _check_fused(defaults)

    def _init_state(self, p: Tensor, amsgrad: bool) -> dict:
        from ..creation import zeros_like

        state = self.state[p]
        if not state:
            # torch keeps `step` as a float32 scalar on the cpu, the moments like the param;
            # a parameter on workers keeps its count beside its moments (a compiled step
            # replays them together).
            state["step"] = _scalar_state(p, 0.0)
            state["exp_avg"] = zeros_like(p)
            state["exp_avg_sq"] = zeros_like(p)
            if amsgrad:
                state["max_exp_avg_sq"] = zeros_like(p)
        return state

    def step(self, closure=None):
        loss = self._closure_loss(closure)
        with self._step_grad_mode():
            for group in self.param_groups:
                beta1, beta2 = (_number(b) for b in group["betas"])
                lr, eps, wd, amsgrad = _number(group["lr"]), group["eps"], \
                    group["weight_decay"], group["amsgrad"]
                stepped = [(p, grad, self._init_state(p, amsgrad)) for p, grad in _grads(group)]
                _check_capturable(group, stepped)
                for p, grad, state in stepped:
                    state["step"].add_(1)
                    if group["differentiable"]:
                        _differentiable_adam_update(p, grad, state, group)
                        continue
                    if wd != 0 and not group["decoupled_weight_decay"]:
                        # (torch's grad.add(p, alpha=wd) refuses a decay that is no Number)
                        _checked_alpha(grad, p, wd)
                    if not amsgrad:  # the whole update as one op (ops/optim.py)
                        on_worker = _on_workers(state["step"])
                        new = call("adam_update", p, grad, state["exp_avg"], state["exp_avg_sq"],
                                   state["step"] if on_worker else None,
                                   count=None if on_worker else state["step"].item(), lr=lr,
                                   beta1=beta1, beta2=beta2, eps=eps, weight_decay=_number(wd),
                                   decoupled=group["decoupled_weight_decay"],
                                   maximize=group["maximize"])
                        for t, value in zip((p, state["exp_avg"], state["exp_avg_sq"]), new):
                            t.copy_(value)
                        # (torch writes exp_avg_sq twice, mul_ then addcmul_, and AdamW's
                        # parameter too: its decay is a mul_ before the step's addcdiv_)
                        increment_version(state["exp_avg_sq"])
                        if wd != 0 and group["decoupled_weight_decay"]:
                            increment_version(p)
                        continue
                    if group["maximize"]:
                        grad = -grad
                    step = _value(state["step"])
                    if wd != 0:
                        if group["decoupled_weight_decay"]:
                            p.mul_(1 - lr * wd)
                        else:
                            grad = grad.add(p, alpha=wd)
                    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                    exp_avg.lerp_(grad, 1 - beta1)
                    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    bias_correction1 = 1 - beta1 ** step
                    bias_correction2 = 1 - beta2 ** step
                    step_size = lr / bias_correction1
                    bias_correction2_sqrt = bias_correction2 ** 0.5
                    if amsgrad:
                        max_sq = state["max_exp_avg_sq"]
                        max_sq.copy_(max_sq.maximum(exp_avg_sq))
                        denom = (max_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                    else:
                        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
                    _addcdiv_step(p, exp_avg, denom, -step_size)
        return loss


def _differentiable_adam_update(p: Tensor, grad: Tensor, state: dict, group: dict) -> None:
    """Adam's update as torch's differentiable step records it: its bias corrections from
    the step count tensor, the moments cloned where they are read before they change, and
    the parameter changed by addcdiv_ (a graph from the parameter's earlier values, and
    from a weight decay given as a tensor that requires grad)."""
    from ..ops.functions import maximum

    beta1, beta2 = group["betas"]
    lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
    if group["maximize"]:
        grad = -grad
    if wd != 0:
        if group["decoupled_weight_decay"]:
            p.mul_(1 - lr * wd)
        else:
            grad = _with_weight_decay(grad, p, wd)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    step = state["step"]
    step_size_neg = (lr / (1 - beta1 ** step)).neg()
    bias_correction2_sqrt = (1 - beta2 ** step).sqrt()
    if group["amsgrad"]:
        max_sq = state["max_exp_avg_sq"]
        max_sq.copy_(maximum(max_sq.clone(), exp_avg_sq))
        exp_avg_sq = max_sq
    denom = (exp_avg_sq.sqrt() / (bias_correction2_sqrt * step_size_neg)).add_(
        eps / step_size_neg)
    p.addcdiv_(exp_avg.clone(), denom)


def _check_tensor_betas(betas, foreach_without_capturable: bool) -> None:
    """torch's refusals of betas mixing floats and tensors, or given as tensors that hold
    more than one number or to a foreach Adam that is not capturable."""
    if not (all(isinstance(b, float) for b in betas[:2])
            or all(isinstance(b, Tensor) for b in betas[:2])):
        raise ValueError("betas must be either both floats or both Tensors")
    for i, beta in enumerate(betas[:2]):
        if isinstance(beta, Tensor):
            if foreach_without_capturable:
                raise ValueError(f"betas[{i}] as a Tensor is not supported for "
                                 "capturable=False and foreach=True")
            if beta.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")


def _number(hyperparameter):
    """An lr or beta given as a tensor, as the number torch's update reads from it."""
    if isinstance(hyperparameter, Tensor):
        return hyperparameter.item()
    return hyperparameter


class AdamW(Adam):
    """Adam with decoupled weight decay (p ← p·(1 − lr·wd) before the Adam step), torch's
    defaults: weight_decay=1e-2."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach=None, capturable: bool = False, differentiable: bool = False,
                 fused=None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:  # (even a loaded Adam's group, as torch's)
            group["decoupled_weight_decay"] = True


# The other optimizers, a module each (as torch's), built on the helpers in optimizer.py.
from .adadelta import Adadelta  # noqa: E402
from .adafactor import Adafactor  # noqa: E402
from .adagrad import Adagrad  # noqa: E402
from .adamax import Adamax  # noqa: E402
from .asgd import ASGD  # noqa: E402
from .lbfgs import LBFGS  # noqa: E402
from ._muon import Muon  # noqa: E402
from .nadam import NAdam  # noqa: E402
from .radam import RAdam  # noqa: E402
from .rmsprop import RMSprop  # noqa: E402
from .rprop import Rprop  # noqa: E402
from .sparse_adam import SparseAdam  # noqa: E402

__all__ += ["AdamW", "Adadelta", "Adafactor", "Adagrad", "Adamax", "ASGD", "LBFGS", "Muon",
            "NAdam", "RAdam", "RMSprop", "Rprop", "SparseAdam"]

from . import lr_scheduler  # noqa: E402  (optim.lr_scheduler, as in torch)
from . import swa_utils  # noqa: E402  (optim.swa_utils, as in torch)

# torch's module paths (`from torch.optim.adam import Adam`)
_alias_modules(__name__, {
    "sgd": ["SGD"], "adam": ["Adam"], "adamw": ["AdamW"]})
