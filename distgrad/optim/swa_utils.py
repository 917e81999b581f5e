"""torch.optim.swa_utils: a running average of a model's weights (SWA, or an EMA with
`get_ema_multi_avg_fn`), its learning-rate schedule, and recomputing BatchNorm statistics
for the averaged weights::

    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    ...
    opt.step(); ema.update_parameters(model)
"""
from __future__ import annotations

import itertools
import math
from copy import deepcopy

from .. import creation, dtypes
from ..autograd.grad_mode import no_grad
from ..dtype_info import is_complex, is_floating_point
from ..foreach import _foreach_add_, _foreach_addcdiv_, _foreach_lerp_, _foreach_sub
from ..nn.modules import Module
from ..nn.normalization import _BatchNorm
from ..tensor import Tensor
from ._cyclic_lr import _per_group
from .lr_scheduler import LRScheduler, _warn_get_lr_called_within_step

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn",
           "get_swa_multi_avg_fn", "get_ema_avg_fn", "get_swa_avg_fn"]


def _lerps(tensors: list) -> bool:
    """Whether foreach lerp takes these (floating and complex tensors only)."""
    return is_floating_point(tensors[0]) or is_complex(tensors[0])


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] "
                         "range.")


def get_ema_multi_avg_fn(decay: float = 0.999):
    """ema <- decay * ema + (1 - decay) * current, for lists of tensors."""
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_params, current_params, _) -> None:
        if _lerps(ema_params):
            _foreach_lerp_(ema_params, current_params, 1 - decay)
        else:
            for p_ema, p_model in zip(ema_params, current_params):
                p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn():
    """The running mean of every version seen so far, for lists of tensors."""
    @no_grad()
    def swa_update(averaged, current, num_averaged) -> None:
        if _lerps(averaged):
            _foreach_lerp_(averaged, current, 1 / (num_averaged + 1))
        elif isinstance(num_averaged, Tensor):  # (integral: refused, as torch's addcdiv)
            _foreach_addcdiv_(averaged, _foreach_sub(current, averaged),
                              [num_averaged + 1] * len(averaged))
        else:
            _foreach_add_(averaged, _foreach_sub(current, averaged),
                          alpha=1.0 / (num_averaged + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999):
    _check_decay(decay)

    @no_grad()
    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    @no_grad()
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of `model` whose parameters (and, with use_buffers, buffers) become the
    average of the model's, one `update_parameters(model)` at a time."""

    def __init__(self, model: Module, device=None, avg_fn=None, multi_avg_fn=None,
                 use_buffers: bool = False) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", creation.tensor(0, dtype=dtypes.int64,
                                                           device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        mine = (itertools.chain(self.module.parameters(), self.module.buffers())
                if self.use_buffers else self.parameters())
        theirs = (itertools.chain(model.parameters(), model.buffers())
                  if self.use_buffers else model.parameters())
        averaged, current = [], []
        first = bool(self.n_averaged == 0)
        for p_averaged, p_model in zip(mine, theirs):
            p_model = p_model.detach().to(p_averaged.device)
            averaged.append(p_averaged.detach())
            current.append(p_model)
            if first:
                p_averaged.detach().copy_(p_model)
        if self.n_averaged > 0:
            if self.multi_avg_fn is not None:  # (torch groups by device and dtype)
                for group in _by_device_and_dtype(averaged, current):
                    self.multi_avg_fn(*group, self.n_averaged.to(group[0][0].device))
            else:  # one tensor at a time, as torch on the CPU (no foreach kernels there)
                avg_fn = self.avg_fn or get_swa_avg_fn()
                for p_averaged, p_model in zip(averaged, current):
                    n = self.n_averaged.to(p_averaged.device)
                    p_averaged.copy_(avg_fn(p_averaged, p_model, n))
        if not self.use_buffers:  # the buffers are the model's latest (BN: see update_bn)
            for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                b_swa.detach().copy_(b_model.detach().to(b_swa.device))
        self.n_averaged += 1


def _by_device_and_dtype(averaged: list, current: list) -> list:
    groups: dict = {}
    for a, c in zip(averaged, current):
        pair = groups.setdefault((a.device_str, a.dtype), ([], []))
        pair[0].append(a)
        pair[1].append(c)
    return list(groups.values())


@no_grad()
def update_bn(loader, model: Module, device=None) -> None:
    """One pass over `loader` in train mode with cumulative averages (momentum None), so
    that BatchNorm's running statistics fit the averaged weights."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    for input in loader:
        if isinstance(input, (list, tuple)):
            input = input[0]
        if device is not None:
            input = input.to(device)
        model(input)
    for module, momentum in momenta.items():
        module.momentum = momentum
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each group's lr to its swa_lr over anneal_epochs ("cos" or "linear"),
    then holds it."""

    def __init__(self, optimizer, swa_lr, anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1) -> None:
        for value, group in zip(_per_group("swa_lr", optimizer, swa_lr),
                                optimizer.param_groups):
            group["swa_lr"] = value
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError("anneal_strategy must be one of 'cos' or 'linear', "
                             f"instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got "
                             f"{anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def get_lr(self):
        _warn_get_lr_called_within_step(self)
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
                    for group in self.optimizer.param_groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [group["swa_lr"] * alpha + lr * (1 - alpha)
                for group, lr in zip(self.optimizer.param_groups, prev_lrs)]

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = (self._cosine_anneal if anneal_strategy == "cos"
                            else self._linear_anneal)

    def state_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items()
                if key not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
