"""clip_grad_norm_: scale gradients so their global norm is at most max_norm (get_total_norm
then clip_grads_with_norm_);
clip_grad_value_: clamp each gradient element into [-clip_value, clip_value].

Each gradient's norm is taken where it lives (on its worker, or shard by shard for a sharded
gradient); only those scalars move, to where torch reduces them (the first tensor's worker,
or the driver when a tensor is sharded or not on a worker), and each gradient is scaled in
place where it lives. (Reduced on a worker, it is all worker ops, which a compiled step
replays.)
"""
from __future__ import annotations

import math
import warnings
from typing import Iterable, Union

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor

_CPU = "cpu"


def _on_driver(t: Tensor) -> Tensor:
    """t in the driver: a meta tensor is (it has no data to move), as a CPU one is."""
    in_driver = t.device_str == _CPU or t.is_meta
    return t if in_driver and not getattr(t, "placements", None) else t.to(_CPU)


@no_grad()
def get_total_norm(tensors: Union[Tensor, Iterable[Tensor]], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The norm of the tensors viewed as one vector: each tensor's norm is taken where it
    lives and only those scalars move to where they are reduced (module doc)."""
    from ...creation import tensor
    from ...ops.functions import stack

    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return tensor(0.0)
    on_worker = all(t.device_str != _CPU and not t.is_meta and not getattr(t, "placements", None)
                    for t in tensors)
    gather = (lambda t: t.to(tensors[0].device_str)) if on_worker else _on_driver
    if math.isinf(norm_type):
        reduce = (lambda t: t.abs().max()) if norm_type > 0 else (lambda t: t.abs().min())
        total = reduce(stack([gather(reduce(t)) for t in tensors]))
    else:
        total = stack([gather(t.norm(norm_type)) for t in tensors]).norm(norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. To disable this error and "
                           "scale the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return _on_device_of(tensors[0], total)


def _on_device_of(first: Tensor, total: Tensor) -> Tensor:
    """The total norm where torch gives it: on the first tensor's device (a worker's), the
    driver for a sharded or meta first tensor."""
    if first.device_str == _CPU or first.is_meta or getattr(first, "placements", None):
        return total
    return total.to(first.device_str)


@no_grad()
def clip_grads_with_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float,
                          total_norm: Tensor, foreach=None) -> None:
    """Each gradient scaled in place by min(max_norm / (total_norm + 1e-6), 1)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [g for g in (p._leaf_grad() for p in parameters) if g is not None]
    if not grads:
        return
    # (computed where the norm is: a driver scalar scales a gradient wherever it lives, a
    # worker's moves to each gradient's worker, as torch's moves to each device)
    on_worker = total_norm.device_str != _CPU and not total_norm.is_meta and \
        not getattr(total_norm, "placements", None)
    coef = (float(max_norm) / ((total_norm if on_worker else _on_driver(total_norm)) + 1e-6)
            ).clamp(max=1.0)
    for g in grads:
        if not on_worker or coef.device_str == g.device_str:
            g.mul_(coef)
        else:
            g.mul_(_on_driver(coef) if getattr(g, "placements", None) else coef.to(g.device_str))


@no_grad()
def clip_grad_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Returns the total norm of the gradients (viewed as one vector), as torch does."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    grads = [g for g in (p._leaf_grad() for p in parameters) if g is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float,
                   norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """torch's deprecated name for clip_grad_norm_ (it warns, then clips)."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@no_grad()
def clip_grad_value_(parameters: Union[Tensor, Iterable[Tensor]], clip_value: float,
                     foreach=None) -> None:
    """Each gradient clamped into [-clip_value, clip_value] in place, where it lives. As
    torch's: unless foreach=False, by two writes (its foreach path's clamp_min_ then
    clamp_max_, which its version counter counts), else by one clamp_."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    for g in (p._leaf_grad() for p in parameters):
        if g is None:
            continue
        if foreach is False:
            g.clamp_(min=-clip_value, max=clip_value)
        else:
            g.clamp_min_(-clip_value).clamp_max_(clip_value)
