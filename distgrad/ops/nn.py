"""Losses with torch's node names: mse, smooth L1, Huber, binary cross entropy (with logits), nll."""
from __future__ import annotations

import operator

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from . import layout, rounding
from .math import _neg_rule, _not_implemented, _sub_rule
from .rules import (broadcast_shapes, float_dtype, not_implemented, numel, require_castable,
                    require_float, require_one_dtype, require_scalar_type, unbroadcast,
                    zeros_grad)
from .activations import _log_sigmoid
from .table import Meta, defop, half_as_float, low_common

_REDUCTIONS = ("none", "mean", "sum")


def _reduce(loss, reduction):
    if reduction == "mean":  # (nan for nothing, without numpy's warning: torch has none)
        return np.mean(loss) if loss.size else loss.dtype.type(np.nan)
    if reduction == "sum":
        return np.sum(loss)
    return loss


def _loss_rule(name):
    def rule(x, y, reduction="mean"):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{reduction} is not a valid value for reduction")
        if tuple(x.shape) != tuple(y.shape):
            raise ValueError(f"Target size (torch.Size([{', '.join(map(str, y.shape))}])) must be "
                             f"the same as input size (torch.Size([{', '.join(map(str, x.shape))}]))"
                             if name != "mse" else
                             f"Using a target size (torch.Size([{', '.join(map(str, y.shape))}])) "
                             f"that is different to the input size (torch.Size("
                             f"[{', '.join(map(str, x.shape))}])).")
        return Meta(x.shape if reduction == "none" else (), x.dtype)

    return rule


def _mse_vjp(c, g):
    """torch's mse_loss_backward, for the target with the operands swapped."""
    return _backward_pair(c, "mse_loss_backward", g)


def _backward_pair(c, backward: str, g, **width):
    """(grad input, grad target) of a loss whose backward is an op of its own (torch's
    <loss>_backward): its target's gradient is that op with input and target swapped."""
    attrs = dict(norm=_mean_count(c), reduction=c.attrs.get("reduction", "mean"), **width)
    return (call(backward, g, c[0], c[1], **attrs) if c.needs[0] else None,
            call(backward, g, c[1], c[0], **attrs) if c.needs[1] else None)


def _loss_backward_rule(g, x, y, **_):
    return Meta(broadcast_shapes(x.shape, y.shape), dtypes.result_type((x, y)))


def _per(k: float, norm: int) -> float:
    """k / N as torch's kernels compute it, in double: inf for the mean of nothing (whose
    gradient, empty, it scales)."""
    return k / norm if norm else k * float("inf")


def _mse_backward(g, x, y, norm, reduction):
    """2/N (a mean of N elements; else 2) · (input - target) · g; float16 and bfloat16 given as
    they are (table.OWN_HALF), each step rounded to them as torch's scalar_t kernel does."""
    return x.dtype.type(_per(2.0, norm)) * (x - y) * g


def _clipped_backward(g, x, y, norm, reduction, width, unit):
    """torch's smooth L1 and Huber backward kernels: the difference (over beta: unit False)
    within the width, else its sign (times delta: unit True), · 1/N · g."""
    d = x - y
    sign = np.where(d > 0, 1, -1).astype(d.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = d if unit else d / d.dtype.type(width)
    adjusted = np.where(np.abs(d) >= width, sign * d.dtype.type(width) if unit else sign, inner)
    return d.dtype.type(_per(1.0, norm)) * adjusted * g


def _loss_backward_vjp(backward: str, second):
    """The VJP of a loss's backward op (torch's formulas): for grad_output, the op again (a
    reduced loss: its ones-gradient times gg, summed); for input and target, ±second(gg · g)
    (the loss's second derivative), / N for a mean."""
    def vjp(c, gg):
        g, x, y = c[0], c[1], c[2]
        reduction, norm = c.attrs["reduction"], c.attrs["norm"]
        ggo = None
        if c.needs[0]:
            if reduction == "none":
                ggo = call(backward, gg, x, y, **c.attrs)
            else:
                ones = call("full", shape=list(g.shape), value=1.0, dtype=g.dtype.name,
                            _device=gg.device_str)
                ggo = (call(backward, ones, x, y, **c.attrs) * gg).sum()
        gx = None
        if c.needs[1] or c.needs[2]:
            gx = second(gg * g, x, y, c.attrs)
            if reduction == "mean":
                gx = call("div_number", gx, other=norm)
        return ggo, gx if c.needs[1] else None, -gx if c.needs[2] else None

    return vjp


def _mse_second(t, x, y, attrs):
    return t * 2


def _within(x, y, width):
    return ((x - y).abs() < width)


def _smooth_l1_second(t, x, y, attrs):
    beta = attrs["width"]
    if beta == 0:  # (torch's guard against dividing by it)
        return zeros_grad(t.shape, t.dtype, t.device_str)
    return t * _within(x, y, beta).to(t.dtype) / beta


def _huber_second(t, x, y, attrs):
    return t * _within(x, y, attrs["width"])


# (torch's loss backward kernels write into a zeros_like(input, contiguous): row-major)
defop("mse_loss_backward", _mse_backward, _loss_backward_rule,
      _loss_backward_vjp("mse_loss_backward", _mse_second), node="MseLossBackwardBackward0",
      save=(0, 1, 2), sharding="elementwise")
defop("smooth_l1_loss_backward",
      lambda g, x, y, **a: _clipped_backward(g, x, y, unit=False, **a), _loss_backward_rule,
      _loss_backward_vjp("smooth_l1_loss_backward", _smooth_l1_second),
      node="SmoothL1LossBackwardBackward0", save=(0, 1, 2), sharding="elementwise")
defop("huber_loss_backward",
      lambda g, x, y, **a: _clipped_backward(g, x, y, unit=True, **a), _loss_backward_rule,
      _loss_backward_vjp("huber_loss_backward", _huber_second),
      node="HuberLossBackwardBackward0", save=(0, 1, 2), sharding="elementwise")


def _mse_rule(x, y, reduction="mean"):
    meta = _loss_rule("mse")(x, y, reduction=reduction)
    d = dtypes.result_type((x, y))  # (torch's loss promotes, as a difference does)
    require_float("mse_cpu", d)
    return Meta(meta.shape, d)


def _mse_loss(x, y, reduction="mean"):
    """A 2-byte float's squared differences rounded to its dtype, as torch's kernel writes
    them (the difference, then its square), before they are reduced in float32."""
    low = low_common((x, y))
    if low is None:
        return _reduce((x - y) ** 2, reduction)
    x, y = half_as_float((x, y))
    difference = dtypes.cast(x - y, low.np).astype(np.float32)
    return _reduce(dtypes.cast(difference * difference, low.np).astype(np.float32), reduction)


defop("mse_loss", _mse_loss, _mse_rule, _mse_vjp, node="MseLossBackward0", save=(0, 1), sharding="batch_loss",
      layout_rule=layout.elementwise)


# ---- smooth L1 and Huber: quadratic within a width of the target, linear beyond ---------------
# huber(d; delta) = delta · smooth_l1(d; beta=delta). Their gradients are the difference
# clipped to ±width; torch's double backward masks with a strict |d| < width, so at the
# width the clipped value is the sign's (no derivative), not the difference's.

def _robust_rule(kernel, width_name, check, into_input=False):
    """`into_input`: torch computes the loss into a tensor of the input's dtype (Huber's), not
    in the promoted one (smooth L1's)."""
    def rule(x, y, reduction="mean", **attrs):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{reduction} is not a valid value for reduction")
        check(attrs[width_name])
        d = dtypes.result_type((x, y))
        if into_input:
            require_castable(d, x.dtype)
        require_float(kernel, d)
        shape = broadcast_shapes(x.shape, y.shape) if reduction == "none" else ()
        return Meta(shape, x.dtype if into_input else d)

    return rule


def _negative_beta(beta):
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")


def _nonpositive_delta(delta):
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")


def _huber(x, y, delta):
    z = np.abs(x - y)
    return np.where(z < delta, 0.5 * z * z, delta * (z - 0.5 * delta))


def _smooth_l1_vjp(c, g):
    return _backward_pair(c, "smooth_l1_loss_backward", g, width=c.attrs["beta"])


def _huber_vjp(c, g):
    # torch's backward kernel takes only operands of one dtype (its forward takes two)
    first, other = c.dtypes[:2] if c.needs[0] else c.dtypes[1::-1]
    require_one_dtype(first, other)
    return _backward_pair(c, "huber_loss_backward", g, width=c.attrs["delta"])


defop("smooth_l1_loss",
      lambda x, y, reduction="mean", beta=1.0: _reduce(_huber(x, y, beta) / beta, reduction),
      _robust_rule("smooth_l1_cpu", "beta", _negative_beta), _smooth_l1_vjp,
      node="SmoothL1LossBackward0", save=(0, 1), sharding="batch_loss",
      layout_rule=layout.elementwise)
defop("huber_loss", lambda x, y, reduction="mean", delta=1.0: _reduce(_huber(x, y, delta), reduction),
      _robust_rule("huber_cpu", "delta", _nonpositive_delta, into_input=True), _huber_vjp,
      node="HuberLossBackward0", save=(0, 1), sharding="batch_loss",
      layout_rule=layout.elementwise)


def _check_probabilities(x, y):
    """torch's kernel checks each element's input, then its target, in turn."""
    bad_x = ~((x >= 0) & (x <= 1))  # (NaN too)
    bad = bad_x | ~((y >= 0) & (y <= 1))
    if bad.any():
        first = np.argmax(bad.reshape(-1))
        which = "input" if bad_x.reshape(-1)[first] else "target"
        raise RuntimeError(f"all elements of {which} should be between 0 and 1")


def _bce_forward(x, y, weight=None, reduction="mean"):
    _check_probabilities(x, y)
    # torch clamps the logs at -100 so a prediction of exactly 0 or 1 stays finite.
    with np.errstate(divide="ignore"):
        loss = -(y * np.maximum(rounding.log(x), -100)
                 + (1 - y) * np.maximum(rounding.log1p(-x), -100))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


_BCE_EPS = 1e-12  # torch's, for every dtype


def _bce_vjp(c, g):
    x, y, w = c[0], c[1], c[2]
    n = _mean_count(c)
    gx = gy = None
    if c.needs[0]:
        gx = call("binary_cross_entropy_backward", g, x, y, w, count=n)
    if c.needs[1]:  # torch's binary_cross_entropy_target_backward: -logit(x)
        gy = _weighted_mean(-x.logit() * g, w, n)
    return gx, gy, None


def _mean_count(c) -> int:
    """N for a mean over input 0's elements (the whole tensor's, if it is sharded), else 1."""
    if c.attrs.get("reduction", "mean") != "mean":
        return 1
    return int(np.prod(c.shapes[0], dtype=np.int64))


def _weighted_mean(t, w, n: int):
    """t times the weight, / N: the last steps of torch's loss backward formulas (a
    division by a number, DivBackward1)."""
    if w is not None:
        t = t * w
    return call("div_number", t, other=n) if n != 1 else t


def _bce_backward(g, x, y, w=None, count=1):
    """torch's binary_cross_entropy_backward kernel: g (x - y) / max((1 - x) x, eps),
    times the weight, / N for a mean."""
    gx = g * (x - y) / np.maximum((1 - x) * x, x.dtype.type(_BCE_EPS))
    if w is not None:
        gx = gx * w
    return (gx / count if count != 1 else gx).astype(x.dtype, copy=False)


def _bce_backward_vjp(c, grad):
    """torch's double backward of binary cross entropy (its FunctionsManual formulas, eps
    added to x and 1 - x where the first-order kernel takes a max)."""
    g, x, y, w = c[0], c[1], c[2], c[3]
    n = c.attrs["count"]
    gg = gx = gy = None
    if c.needs[0]:
        ggo = (x - y) / ((x + _BCE_EPS) * (1 - x + _BCE_EPS)) * grad
        gg = unbroadcast(_weighted_mean(ggo, w, n), c.shapes[0])
    if c.needs[1]:
        curve = (x * x - 2 * x * y + y) / ((x + _BCE_EPS).pow(2) * (1 - x + _BCE_EPS).pow(2))
        gx = _weighted_mean(curve * (grad * g), w, n)
    if c.needs[2]:
        denominator = (1 - x) * x
        with grad_mode.no_grad():  # (torch clamps it in place, unrecorded)
            denominator.clamp_(min=_BCE_EPS)
        gy = _weighted_mean(_weighted_mean(-grad * g, w, 1) / denominator, None, n)
    return gg, gx, gy, None


def _bce_rule(x, y, weight=None, reduction="mean"):
    meta = _loss_rule("bce")(x, y, reduction=reduction)
    if weight is not None:
        _into_loss(x.shape, broadcast_shapes(x.shape, weight.shape))
    require_one_dtype(x.dtype, y.dtype)
    require_float("binary_cross_entropy", x.dtype)
    return meta  # (a weight of another dtype multiplies the loss in place)


def _unreduced_like_input(out_shape, operands, attrs, k, dtype):
    """A loss torch computes into an empty_like of its input (binary_cross_entropy, then
    times the weight in place): laid out as the input when not reduced."""
    if attrs.get("reduction", "mean") != "none":
        return None
    return layout.like_first(out_shape, operands, attrs, k, dtype)


def _unreduced_as_input(out_shape, operands, attrs, k, dtype):
    """A loss torch starts from an op of its input alone (soft_margin_loss's neg): laid out
    as the input when not reduced."""
    if attrs.get("reduction", "mean") != "none":
        return None
    return layout.elementwise(out_shape, operands[:1], attrs, k, dtype)


def _unreduced_as_target(out_shape, operands, attrs, k, dtype):
    """binary_cross_entropy_with_logits starts from 1 - target and works in place: laid out
    as the target when not reduced."""
    if attrs.get("reduction", "mean") != "none":
        return None
    return layout.elementwise(out_shape, [operands[1], ((), ())], attrs, k, dtype)


defop("binary_cross_entropy", _bce_forward, _bce_rule, _bce_vjp,
      node="BinaryCrossEntropyBackward0", save=(0, 1, 2), differentiable=(0, 1),
      refuses_grad={2: "weight"}, sharding="batch_loss", layout_rule=_unreduced_like_input)
defop("binary_cross_entropy_backward", _bce_backward,
      lambda g, x, y, w=None, count=1: Meta(x.shape, x.dtype), _bce_backward_vjp,
      node="BinaryCrossEntropyBackwardBackward0", save=(0, 1, 2, 3), differentiable=(0, 1, 2),
      elementwise=True)


def _bce_logits_forward(x, y, weight=None, pos_weight=None, reduction="mean"):
    """torch's steps, each rounded to its result's dtype: log_sigmoid(input), times
    1 + (pos_weight - 1)·target in place (so in the input's dtype); (1 - target) times the
    input in place (the target's dtype), minus that; times the weight in place."""
    log_sigmoid = _kernel(lambda v: _log_sigmoid(v)[0], x)
    if pos_weight is not None:
        log_weight = _kernel(np.multiply, _kernel(lambda w: w - 1, pos_weight), y)
        log_weight = _kernel(lambda w: w + 1, log_weight, into=log_weight)
        log_sigmoid = _kernel(np.multiply, log_sigmoid, log_weight, into=log_sigmoid)
    loss = _kernel(lambda t: 1 - t, y)
    loss = _kernel(np.multiply, loss, x, into=loss)
    loss = _kernel(np.subtract, loss, log_sigmoid, into=loss)
    if weight is not None:
        loss = _kernel(np.multiply, loss, weight, into=loss)
    return _reduce(half_as_float((loss,))[0], reduction)


def _kernel(fn, *arrays, into=None):
    """`fn` of arrays as torch's CPU kernel computes it: in the arrays' result type (float16
    and bfloat16 in float32), rounded once to that type, or to `into`'s (an in-place op)."""
    common = dtypes.result_type([Meta(a.shape, dtypes.from_numpy(a.dtype)) for a in arrays])
    computed = fn(*(a.astype(np.float32 if common in dtypes.LOW_FLOATS else common.np,
                             copy=False) for a in arrays))
    return dtypes.cast(np.asarray(computed), common.np if into is None else into.dtype)


def _bce_logits_vjp(c, g):
    """torch's formulas: the derivative, times g, then the weight and 1/N, each in-place step
    kept in the dtype of the tensor it writes (a float16 input's log_sigmoid rounds)."""
    x, y, w, pw = c[0], c[1], c[2], c[3]
    n = _mean_count(c)
    gx = gy = None
    if c.needs[0]:
        out_of_place = grad_mode.is_grad_enabled()  # (torch's formula is, to be differentiated)
        if pw is None:
            gx = (x.sigmoid() - y) * g if out_of_place else \
                _in_place(_in_place(x.sigmoid(), operator.sub, y), operator.mul, g)
        else:
            t = pw * y
            gx = (t + 1 - y) * x.sigmoid() if out_of_place else \
                _in_place(_in_place(t + 1, operator.sub, y), operator.mul, x.sigmoid())
            gx = _in_place(_in_place(gx, operator.sub, t), operator.mul, g)
        gx = _scaled_in_place(gx, w, n)
    if c.needs[1]:  # (log_sigmoid, finite where 1 - sigmoid(x) rounds to 0)
        if pw is None:
            gy = -x * g
        else:
            weighted = _in_place(call("log_sigmoid", x)[0], operator.mul, pw)
            gy = _in_place(call("log_sigmoid", -x)[0], operator.sub, weighted)
            gy = _in_place(gy, operator.mul, g)
        gy = _scaled_in_place(gy, w, n)
    return gx, gy, None, None


def _in_place(t, op, other):
    """torch's in-place `t.op_(other)` as a VJP writes it: computed in the operands' dtype,
    rounded to t's."""
    return op(t, other).to(t.dtype)


def _scaled_in_place(t, w, n: int):
    """t times the weight, / N, each kept in t's dtype as torch's mul_ and div_ keep it (a
    float32 input's gradient times a 0-dim float64 one is float32, and stays so)."""
    if w is not None:
        t = (t * w).to(t.dtype)
    return call("div_number", t, other=n) if n != 1 else t


def _bce_logits_rule(x, y, weight=None, pos_weight=None, reduction="mean"):
    """torch's loss is log_sigmoid(input), then (1 - target) of the target's dtype multiplied
    by the input in place: the target's dtype."""
    meta = _loss_rule("bce")(x, y, reduction=reduction)
    if pos_weight is not None:  # torch's (pos_weight - 1) * target, added into the loss
        _into_loss(y.shape, broadcast_shapes(pos_weight.shape, y.shape))
    if weight is not None:  # the loss multiplied by it in place
        _into_loss(y.shape, broadcast_shapes(y.shape, weight.shape))
    require_float("log_sigmoid_cpu", x.dtype)
    loss = _sub_rule(Meta(y.shape, y.dtype), y)
    require_castable(x.dtype, loss.dtype)
    return Meta(meta.shape, loss.dtype)


def _into_loss(shape, broadcast) -> None:
    """torch's in-place step into the loss: what it writes has the loss's shape."""
    if tuple(broadcast) != tuple(shape):
        raise RuntimeError(f"output with shape {list(shape)} doesn't match the broadcast shape "
                           f"{list(broadcast)}")


defop("binary_cross_entropy_with_logits", _bce_logits_forward, _bce_logits_rule, _bce_logits_vjp,
      node="BinaryCrossEntropyWithLogitsBackward0", save=(0, 1, 2, 3), differentiable=(0, 1),
      refuses_grad={2: "weight", 3: "pos_weight"}, sharding="batch_loss",
      layout_rule=_unreduced_as_target)


# ---- nll_loss: log-probabilities (N, C) or (C,), class indices (N,) or () ---------------------
# With spatial=True (torch's nll_loss2d): log-probabilities (N, C, H, W), class indices
# (N, H, W); F.nll_loss brings other (N, C, d...) inputs to that form, as torch does.

def _nll_rule(logp, target, weight=None, reduction="mean", ignore_index=-100, spatial=False):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if spatial:
        _nll2d_check(logp, target, weight)
    else:
        _nll_check(logp, target, weight)
    require_scalar_type(logp.dtype, weight)  # (the kernel's, before the targets' values)
    if spatial and target.dtype is not dtypes.int64:  # (nll_loss2d's kernel reads no Byte)
        raise RuntimeError(f"expected scalar type Long but found {target.dtype.long_name}")
    shape = target.shape if reduction == "none" and logp.ndim >= 2 else ()
    return Meta(shape, logp.dtype)


def _nll_check(logp, target, weight):
    if logp.ndim == 0:
        raise ValueError("Expected 1 or more dimensions (got 0)")
    if logp.ndim > 2:
        raise ValueError(f"Expected 1 or 2 dimensions (got {logp.ndim})")
    if logp.ndim == 2 and (target.ndim == 0 or logp.shape[0] != target.shape[0]):
        raise ValueError(f"Expected input batch_size ({logp.shape[0]}) to match target batch_size "
                         f"({target.shape[0] if target.ndim else 1}).")
    if target.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    _require_class_target(target)
    _require_float_logp(logp, "nll_loss_out_frame")
    classes = logp.shape[-1]
    if weight is not None and tuple(weight.shape) != (classes,):
        raise RuntimeError(f"weight tensor should be defined either for all {classes} classes "
                           "or no classes but got weight tensor of shape: "
                           f"[{', '.join(map(str, weight.shape))}]")


def _nll2d_check(logp, target, weight):
    """torch's nll_loss2d checks, in its order (a weight of any shape with C elements)."""
    if target.ndim != 3:
        raise RuntimeError("only batches of spatial targets supported (3D tensors) but got "
                           f"targets of dimension: {target.ndim}")
    if logp.ndim != 4:
        raise RuntimeError("only batches of spatial inputs supported (4D tensors), but got "
                           f"input of dimension: {logp.ndim}")
    _require_class_target(target)
    if weight is not None and numel(weight.shape) != logp.shape[1]:
        raise RuntimeError("weight tensor should be defined either for all or no classes")
    if (logp.shape[0],) + tuple(logp.shape[2:]) != tuple(target.shape):
        raise RuntimeError(f"size mismatch (got input: {list(logp.shape)} , target: "
                           f"{list(target.shape)}")
    _require_float_logp(logp, "nll_loss2d_forward_out_frame")


def _require_class_target(target):
    if target.dtype not in (dtypes.int64, dtypes.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                           f"{target.dtype.long_name}")


def _require_float_logp(logp, kernel: str):
    if not logp.dtype.is_floating_point:
        raise not_implemented(kernel, logp.dtype)


def _nll_classes(logp_shape, spatial: bool) -> int:
    return logp_shape[1] if spatial else logp_shape[-1]


def _nll_weights(classes: int, dtype, target, weight, ignore_index):
    """Each target's class weight (0 for ignore_index); raises for a class out of range."""
    t = np.atleast_1d(target)
    if np.any(((t < 0) | (t >= classes)) & (t != ignore_index)):
        bad = int(t[((t < 0) | (t >= classes)) & (t != ignore_index)][0])
        raise IndexError(f"Target {bad} is out of bounds.")
    w = np.ones(classes, dtype) if weight is None else weight.reshape(-1)  # (2d: any shape)
    return np.where(t == ignore_index, 0, w[np.clip(t, 0, classes - 1)]).astype(dtype)


def _nll_forward(logp, target, weight=None, reduction="mean", ignore_index=-100, spatial=False):
    low = low_common((logp,))
    logp, weight = half_as_float((logp, weight))
    classes = _nll_classes(logp.shape, spatial)
    w = _nll_weights(classes, logp.dtype, target, weight, ignore_index).reshape(-1)
    lp = np.moveaxis(logp, 1, -1).reshape(-1, classes) if spatial else np.atleast_2d(logp)
    t = np.clip(np.atleast_1d(target).reshape(-1), 0, classes - 1)
    ignored = np.atleast_1d(target).reshape(-1) == ignore_index
    # (torch's kernel skips an ignored sample: 0, though its input be inf or nan)
    picked = np.where(ignored, 0, -lp[np.arange(lp.shape[0]), t] * w).astype(lp.dtype)
    if reduction == "none":  # (one sample's loss is 0-dim, whether its target is or not)
        return picked.reshape(np.shape(target) if logp.ndim >= 2 else ())
    if low is not None:
        kept = np.atleast_1d(target).reshape(-1) != ignore_index
        loss, total = _cascade_in_low(lp[np.arange(len(t)), t], None if weight is None else w,
                                      kept, low.np)
        with np.errstate(divide="ignore", invalid="ignore"):  # (0 / 0: nan, as torch)
            return np.float32(loss) if reduction == "sum" else np.float32(loss) / np.float32(total)
    if reduction == "sum":
        return picked.sum()
    return picked.sum() / w.sum()


def _cascade_in_low(values, weights, kept, low):
    """torch's nll_loss sum of -values (times weights) over the kept samples, and the
    weights' sum (else the kept count), for a float16/bfloat16 input: its kernel adds in
    that dtype (each step rounded) into eight levels, a level folded into the next when the
    sample's index is a multiple of its step (16 at least), then adds up the levels."""
    def rounded(v):  # (a float32 result in the input's dtype, as a Python float)
        return float(low.type(np.float32(v)))

    def add(a, b):
        return rounded(np.float32(a) + np.float32(b))

    n = len(values)
    power = max(4, (n - 1).bit_length() // 8)
    mask = (1 << power) - 1
    losses, totals = [0.0] * 8, [0.0] * 8
    for b in np.flatnonzero(kept).tolist():
        if weights is None:
            losses[0] = add(losses[0], -values[b])
        else:
            losses[0] = add(losses[0], -rounded(np.float32(values[b]) * np.float32(weights[b])))
            totals[0] = add(totals[0], weights[b])
        for j in range(7):
            if b & (mask << (j * power)):
                break
            losses[j + 1] = add(losses[j + 1], losses[j])
            totals[j + 1] = add(totals[j + 1], totals[j])
            losses[j] = totals[j] = 0.0
    loss = total = 0.0
    for level in range(8):
        loss, total = add(loss, losses[level]), add(total, totals[level])
    return loss, (rounded(int(kept.sum())) if weights is None else total)


def _nll_vjp(c, g):
    logp_shape = c.shapes[0]
    if len(logp_shape) == 1 and len(c.shapes[1]) == 1:  # torch's forward takes it, not this
        raise RuntimeError(f"size mismatch (got input: [{logp_shape[0]}], target: [1])")
    if "sharded" in g.device_str or "sharded" in c[0].device_str:
        return _nll_vjp_by_ops(c, g)  # (ops with sharding rules: classes or samples apart)
    # one op of (g, self, target, weight), as torch's nll_loss_backward: under create_graph
    # the gradient requires grad when self does (NllLossBackwardBackward0)
    return call("nll_loss_backward", g, c[0], c[1], c[2], dtype=c.dtypes[0].name,
                **c.attrs), None, None


def _nll_vjp_by_ops(c, g):
    target, weight = c[1], c[2]
    spatial = c.attrs.get("spatial", False)
    classes = _nll_classes(c.shapes[0], spatial)
    ignored = target == c.attrs.get("ignore_index", -100)
    onehot = call("one_hot", target.masked_fill(ignored, 0),
                  num_classes=classes, dtype=c.dtypes[0].name)
    w = call("nll_weights", target, weight, classes=classes, dtype=c.dtypes[0].name,
             ignore_index=c.attrs.get("ignore_index", -100))
    reduction = c.attrs.get("reduction", "mean")
    scale = g.unsqueeze(-1) if reduction == "none" else g
    if reduction == "mean":
        scale = scale / w.sum()
    # torch writes only each kept sample's target entry: the others stay +0 (not the -0
    # of a product), also when the incoming gradient is nan (a mean over no targets)
    written = (onehot != 0) & ~ignored.unsqueeze(-1)
    grad = (-(scale * (w.unsqueeze(-1) * onehot))).masked_fill(~written, 0)
    return (grad.movedim(-1, 1) if spatial else grad), None, None  # (classes last, then 1)


def _nll_backward(g, logp, target, weight=None, reduction="mean", ignore_index=-100,
                  spatial=False, dtype="float32"):
    """torch's nll_loss_backward kernel: row-major zeros, but -w·g (over the total weight
    for a mean) at each kept sample's target class, each step rounded to the input's dtype
    (the kernel computes in it); the other entries stay +0, also for a nan g."""
    low = dtypes.from_name(dtype).np

    def rounded(v):
        return np.asarray(v, np.float32).astype(low).astype(np.float32) if low != logp.dtype \
            else np.asarray(v, logp.dtype)

    classes = _nll_classes(logp.shape, spatial)
    w = rounded(_nll_weights(classes, logp.dtype, target, weight, ignore_index).reshape(-1))
    t = np.clip(np.atleast_1d(target).reshape(-1), 0, classes - 1)
    scale = np.broadcast_to(np.asarray(g, logp.dtype).reshape(-1), w.shape)
    kept = np.atleast_1d(target).reshape(-1) != ignore_index
    if reduction == "mean":  # (over the forward's total weight, added as it adds it)
        total = rounded(w.sum()) if low == logp.dtype else np.float32(
            _cascade_in_low(np.zeros(w.size, np.float32), w, kept, low)[1])
        scale = rounded(scale / total)
    out = np.zeros((w.size, classes), logp.dtype)
    with np.errstate(invalid="ignore"):
        out[np.arange(w.size)[kept], t[kept]] = rounded(-(scale * w))[kept]
    if spatial:  # (samples were (N, d1, ...) flattened: classes back to dim 1)
        lead = (logp.shape[0],) + tuple(logp.shape[2:])
        return np.ascontiguousarray(np.moveaxis(out.reshape(lead + (classes,)), -1, 1))
    return out.reshape(logp.shape)


def _nll_backward_vjp(c, u):
    # torch's formulas: grad_output's is nll_loss of the incoming gradient, self's zeros
    attrs = {k: v for k, v in c.attrs.items() if k != "dtype"}
    gg = call("nll_loss", u, c[2], c[3], **attrs) if c.needs[0] else None
    gx = zeros_grad(c.shapes[1], c.dtypes[1], u.device_str) if c.needs[1] else None
    return gg, gx, None, None


defop("nll_loss_backward", _nll_backward,
      lambda g, logp, target, weight=None, **_: Meta(tuple(logp.shape), logp.dtype),
      _nll_backward_vjp, save=(2, 3),
      node=lambda inputs, attrs: "NllLoss2DBackwardBackward0" if attrs.get("spatial") else
      "NllLossBackwardBackward0",
      differentiable=(0, 1))


defop("nll_loss", _nll_forward, _nll_rule, _nll_vjp,
      node=lambda inputs, attrs: "NllLoss2DBackward0" if attrs.get("spatial") else
      "NllLossBackward0", save=(0, 1, 2), pack_order=(0, 1, 2), differentiable=(0,),
      refuses_grad={2: "weight"}, aten=lambda inputs, attrs: "nll_loss2d_forward"
      if attrs.get("spatial") else "nll_loss_forward", sharding="class_loss")


def _nll_weights_op(target, weight, classes, dtype, ignore_index=-100):
    return _nll_weights(classes, dtypes.from_name(dtype).np, target, weight,
                        ignore_index).reshape(np.shape(target))


defop("nll_weights", _nll_weights_op,
      lambda target, weight, classes, dtype, ignore_index=-100: Meta(target.shape,
                                                                    dtypes.from_name(dtype)))


# ---- soft margin: log(1 + exp(-y·x)), in a tensor like the input ------------------------------

def _soft_margin_rule(x, y, reduction="mean"):
    """torch's steps into a tensor like the input: -x, times y, exp, log1p."""
    _neg_rule(x)
    _into_loss(x.shape, broadcast_shapes(x.shape, y.shape))
    require_castable(float_dtype(dtypes.result_type((x, y))), x.dtype)
    return Meta(x.shape if reduction == "none" else (), x.dtype)


def _soft_margin_forward(x, y, reduction="mean"):
    loss = rounding.log1p(rounding.exp(-x * y)).astype(x.dtype)
    return _reduce(loss, reduction).astype(x.dtype)


def _soft_margin_backward(g, x, y, norm, reduction):
    """torch's kernel: -1/N · y · z / (1 + z) · g, z = exp(-y·x)."""
    z = rounding.exp(-y * x).astype(x.dtype)
    return (y * z * x.dtype.type(_per(-1.0, norm)) / (z + 1) * g).astype(x.dtype)


def _soft_margin_vjp(c, g):
    attrs = dict(norm=_mean_count(c), reduction=c.attrs.get("reduction", "mean"))
    return call("soft_margin_loss_backward", g, c[0], c[1], **attrs), None


def _soft_margin_second(t, x, y, attrs):
    z = (x * -y).exp()
    return t * (y * y) * z / ((z + 1) * (z + 1))


defop("soft_margin_loss", _soft_margin_forward, _soft_margin_rule, _soft_margin_vjp,
      node="SoftMarginLossBackward0", save=(0, 1), differentiable=(0,),
      layout_rule=_unreduced_as_input)
defop("soft_margin_loss_backward", _soft_margin_backward,
      lambda g, x, y, **_: Meta(x.shape, x.dtype),
      _loss_backward_vjp("soft_margin_loss_backward", _soft_margin_second),
      node="SoftMarginLossBackwardBackward0", save=(0, 1, 2), differentiable=(0, 1))


# ---- multi-class margins: torch's kernels, whose gradients torch does not differentiate --------

def _rows(x, target):
    """A sample's scores as a batch of one, and the class indices as a vector."""
    return np.atleast_2d(x).reshape(-1, max(x.shape[-1] if x.ndim else 1, 1)), \
        np.atleast_1d(target).reshape(-1)


def _per_sample(loss, x, target, reduction):
    if reduction == "none":
        return loss.reshape(np.shape(target) if x.ndim <= 1 else (len(loss),))
    return _reduce(loss, reduction).astype(x.dtype)


def _multi_margin_terms(x, target, p, margin, weight):
    """Each sample's margin violations max(0, margin - x[y] + x[i]) over i ≠ y, and the
    derivative of their p-th power (times the class weight)."""
    rows, t = _rows(x, target)
    n, c = rows.shape
    if np.any((t < 0) | (t >= c)):
        raise RuntimeError("target out of range")
    picked = rows[np.arange(n), t][:, None]
    z = rows.dtype.type(margin) - picked + rows
    z[np.arange(n), t] = 0
    active = z > 0
    h = np.where(active, z if p == 1 else z * z, 0).astype(rows.dtype)
    dh = np.where(active, 1 if p == 1 else 2 * z, 0).astype(rows.dtype)
    if weight is not None:
        w = np.ravel(weight)[t][:, None]
        h, dh = h * w, dh * w
    return h, dh, t


def _multi_margin_forward(x, target, weight=None, p=1, margin=1.0, reduction="mean"):
    h, _, _ = _multi_margin_terms(x, target, p, margin, weight)
    c = h.shape[1]
    return _per_sample(h.sum(1) / h.dtype.type(c), x, target, reduction)


def _multi_margin_backward(g, x, target, weight=None, p=1, margin=1.0, reduction="mean"):
    """torch's multi_margin_loss_backward: each violation's derivative / C (/ N for a
    mean) on its class, minus their sum on the target's, times g."""
    _, dh, t = _multi_margin_terms(x, target, p, margin, weight)
    n, c = dh.shape
    dh = dh * dh.dtype.type(1.0 / (n * c) if reduction == "mean" else 1.0 / c)
    dh[np.arange(n), t] = 0 - dh.sum(1)  # (+0 where nothing was taken off, as torch's)
    g = np.asarray(g)
    dh = dh * (g.reshape(-1, 1) if reduction == "none" and g.ndim else g)
    return dh.reshape(x.shape)


def _multi_margin_vjp(c, g):
    return call("multi_margin_loss_backward", g, c[0], c[1], c[2], **c.attrs), None, None


def _multi_margin_rule(x, target, weight=None, p=1, margin=1.0, reduction="mean"):
    shape = (tuple(target.shape) if x.ndim <= 1 else (x.shape[0],)) if reduction == "none" \
        else ()
    return Meta(shape, x.dtype)


defop("multi_margin_loss", _multi_margin_forward, _multi_margin_rule, _multi_margin_vjp,
      node="MultiMarginLossBackward0", save=(0, 1, 2), differentiable=(0,),
      refuses_grad={2: "weight"})
defop("multi_margin_loss_backward", _multi_margin_backward,
      lambda g, x, target, weight=None, **_: Meta(x.shape, x.dtype),
      _not_implemented("multi_margin_loss_backward"), node="torch::autograd::NotImplemented",
      number_edges=False)


def _multilabel_terms(x, target):
    """Each sample's violations 1 - x[j] + x[i] > 0 over its targets j (the indices before
    the first -1) and the classes i that are none of them, as [sample, j slot, i]."""
    rows, _ = _rows(x, target)
    n, c = rows.shape
    t = np.reshape(target, (n, c))
    valid = np.cumprod(t >= 0, axis=1).astype(bool)
    picks = np.where(valid, t, 0)
    is_target = np.zeros((n, c + 1), bool)  # (column c: where the slots past -1 go)
    np.put_along_axis(is_target, np.where(valid, t, c), True, axis=1)
    z = 1 - np.take_along_axis(rows, picks, 1)[:, :, None] + rows[:, None, :]
    active = valid[:, :, None] & ~is_target[:, None, :c] & (z > 0)
    return z, active, picks


def _multilabel_margin_forward(x, target, reduction="mean"):
    z, active, _ = _multilabel_terms(x, target)
    c = z.shape[2]
    loss = np.where(active, z, 0).sum((1, 2)).astype(x.dtype) / x.dtype.type(c)
    return _per_sample(loss, x, np.zeros(()) if x.ndim <= 1 else target, reduction)


def _multilabel_margin_backward(g, x, target, reduction="mean"):
    """torch's multilabel_margin_loss_backward: 1/C (/ N for a mean) for each violation,
    added on its class and taken off its target's, times g."""
    _, active, picks = _multilabel_terms(x, target)
    n, _, c = active.shape
    unit = x.dtype.type(1.0 / (n * c) if reduction == "mean" else 1.0 / c)
    grad = active.sum(1) * unit
    np.add.at(grad, (np.arange(n)[:, None], picks), -active.sum(2) * unit)
    g = np.asarray(g)
    grad = grad * (g.reshape(-1, 1) if reduction == "none" and g.ndim else g)
    return grad.astype(x.dtype).reshape(x.shape)


def _multilabel_margin_rule(x, target, reduction="mean"):
    shape = (x.shape[0],) if reduction == "none" and x.ndim == 2 else ()
    return Meta(shape, x.dtype)


defop("multilabel_margin_loss", _multilabel_margin_forward, _multilabel_margin_rule,
      lambda c, g: (call("multilabel_margin_loss_backward", g, c[0], c[1], **c.attrs), None),
      node="MultilabelMarginLossBackward0", save=(0, 1), differentiable=(0,))
defop("multilabel_margin_loss_backward", _multilabel_margin_backward,
      lambda g, x, target, **_: Meta(x.shape, x.dtype),
      _not_implemented("multilabel_margin_loss_backward"), node="torch::autograd::NotImplemented",
      number_edges=False)
