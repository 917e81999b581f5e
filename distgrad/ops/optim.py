"""The optimizers' update as one op: Adam's (and AdamW's) step for one parameter.

Adam written as tensor ops is about fifteen ops per parameter; on a sharded parameter each
is dispatched per shard, and the driver's time goes into recording them. One op gives the
new parameter and moments at once (the optimizer copies them in place); its forward is
torch's formula in torch's order, so the numbers are the same as the ops it replaces.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .table import OPS, Meta, defop, half_as_float, low_common


def _adam_update(p, g, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay=0.0,
                 decoupled=False, maximize=False, count=None):
    # The step count: a tensor beside a parameter on a worker (no round trip to read it),
    # else the number (`count`), so that nothing is sent for it. A number, as torch reads
    # it: a 0-dim float64 array would promote float32 arithmetic.
    step = float(step) if step is not None else float(count)
    r = _rounding_to(low_common((p,)))
    if maximize:
        g = -g
    if weight_decay and not decoupled:  # (grad.add(p, alpha=weight_decay), as add rounds it)
        g = r(OPS["add"].forward(g, p, alpha=weight_decay))
    p, g, exp_avg, exp_avg_sq = half_as_float((p, g, exp_avg, exp_avg_sq))
    if weight_decay and decoupled:
        p = r(p * (1 - lr * weight_decay))
    exp_avg = r(OPS["lerp"].forward(exp_avg, g, 1 - beta1))
    exp_avg_sq = r(OPS["addcmul"].forward(r(exp_avg_sq * beta2), g, g, value=1 - beta2))
    step_size = lr / (1 - beta1 ** step)
    denom = r(r(r(np.sqrt(exp_avg_sq)) / (1 - beta2 ** step) ** 0.5) + r(eps))
    return r(p + exp_avg * (-step_size) / denom), exp_avg, exp_avg_sq


def _rounding_to(low):
    """Rounding to float16/bfloat16 `low` (an array as float32, a number as a float): each of
    the ops torch's optimizer runs one after another rounds to the parameter's dtype; the
    identity for another dtype (numpy's float32 and float64 ops round as torch's)."""
    def rounded(value):
        in_low = dtypes.rounded_in(value, low.np)
        return in_low if isinstance(value, np.ndarray) else float(in_low)

    return (lambda value: value) if low is None else rounded


def _adam_update_rule(p, g, exp_avg, exp_avg_sq, step=None, **_):
    for name, t in (("grad", g), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)):
        if tuple(t.shape) != tuple(p.shape):
            raise RuntimeError(f"adam_update: {name} of shape {list(t.shape)} for a parameter "
                               f"of shape {list(p.shape)}")
    meta = Meta(p.shape, p.dtype)
    return meta, meta, meta


# Each shard (or copy) of a parameter is updated where it lives, from its own gradient and
# moments: the elementwise rule.
defop("adam_update", _adam_update, _adam_update_rule, n_out=3, sharding="elementwise")
