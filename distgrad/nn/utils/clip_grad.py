"""clip_grad_norm_: scale gradients so their global norm is at most max_norm;
clip_grad_value_: clamp each gradient element into [-clip_value, clip_value].

Each gradient's norm is taken where it lives (on its worker, or shard by shard for a sharded
gradient), only those scalars come to the driver for the global norm, and each gradient is
scaled in place where it lives.
"""
from __future__ import annotations

import math
from typing import Iterable, Union

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor

_CPU = "cpu"


def _on_driver(t: Tensor) -> Tensor:
    return t if t.device_str == _CPU and not getattr(t, "placements", None) else t.to(_CPU)


@no_grad()
def clip_grad_norm_(parameters: Union[Tensor, Iterable[Tensor]], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Returns the total norm of the gradients (viewed as one vector), as torch does."""
    from ...creation import tensor
    from ...ops.functions import stack

    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [g for g in (p._leaf_grad() for p in parameters) if g is not None]
    max_norm, norm_type = float(max_norm), float(norm_type)
    if not grads:
        return tensor(0.0)
    if math.isinf(norm_type):
        norms = [_on_driver(g.abs().max()) for g in grads]
        total = stack(norms).max()
    else:
        norms = [_on_driver(g.norm(norm_type)) for g in grads]
        total = stack(norms).norm(norm_type)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` "
                           "is non-finite, so it cannot be clipped. To disable this error and "
                           "scale the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef)
    return total


@no_grad()
def clip_grad_value_(parameters: Union[Tensor, Iterable[Tensor]], clip_value: float,
                     foreach=None) -> None:
    """Each gradient clamped into [-clip_value, clip_value] in place, where it lives."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    for g in (p._leaf_grad() for p in parameters):
        if g is not None:
            g.clamp_(min=-clip_value, max=clip_value)
