"""`distgrad.nn.functional`: layers, activations and losses as functions, as torch's.

Each function does what torch's Python and C++ wrappers do around the op (argument checks,
broadcasting, the reduction), then calls the op, so its result carries torch's `grad_fn`
(`F.linear` on a matrix gives `AddmmBackward0`, `F.cross_entropy` gives `NllLossBackward0`).
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Optional

import numpy as np

from .. import creation, dtypes
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..autograd.function import captured_by_vmap
from ..autograd.record import call, recorded_around
from ..autograd.saved_args import note_given
from ..ops import functions as _f
from ..ops import layout
from ..ops.activations import SELU_ALPHA, SELU_SCALE
from ..ops.api import in_place
from ..ops.layers import check_batch_norm, check_normalized_shape, check_sdpa_dtypes
from ..ops.overloads import Param, Signature, parse
from ..ops.rules import not_implemented, require_float, written
from ..ops.table import lookup
from ..ops.grid_sample import affine_grid, grid_sample  # noqa: F401  (F.grid_sample)
from ..ops.pixel import channel_shuffle, pixel_shuffle, pixel_unshuffle  # noqa: F401
from ..tensor import Tensor

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "mse_loss", "l1_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
           "nll_loss"]

_REDUCTIONS = ("none", "mean", "sum")


# ---- reductions --------------------------------------------------------------------------

def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    """torch's `_Reduction.get_enum` checks, with the legacy size_average/reduce flags."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      "reduction='{}' instead.".format(
                          "none" if not reduce else "mean" if size_average else "sum"),
                      stacklevel=3)
        return "none" if not reduce else "mean" if size_average else "sum"
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", stacklevel=3)
        return "mean"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _apply_reduction(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _broadcast_pair(a: Tensor, b: Tensor):
    """torch.broadcast_tensors for two tensors (ExpandBackward0 only where a shape changes)."""
    from ..ops.rules import broadcast_shapes

    shape = broadcast_shapes(tuple(a.shape), tuple(b.shape))
    with recorded_around("aten::broadcast_tensors", ([a, b],)):
        a = a if tuple(a.shape) == tuple(shape) else a.expand(*shape)
        b = b if tuple(b.shape) == tuple(shape) else b.expand(*shape)
    return a, b


def _warn_size(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape!r}) that is different to the input size "
                      f"({input.shape!r}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=3)


# ---- layers and activations --------------------------------------------------------------

def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """y = x Wᵀ + b. With a bias the product is one `addmm` over the flattened batch."""
    with recorded_around("aten::linear", (input, weight, bias)):
        return _linear(input, weight, bias)


def _linear(input: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    if bias is None:
        return _f.matmul(input, weight.t())
    if input.ndim == 2:
        return call("addmm", bias, input, weight.t())
    if input.ndim == 0:
        raise RuntimeError("both arguments to linear need to be at least 1D, but they are 0D "
                           f"and {weight.ndim}D")
    if not input.is_contiguous():
        # torch multiplies (a 1-d input unsqueezed), then adds the bias in place
        # (AddBackward0; the product's dtype)
        return _f.matmul(input, weight.t()).add_(bias)
    # torch views the input as a matrix, runs addmm, and views the result back.
    rows = input.reshape(-1, input.shape[-1])
    out = call("addmm", bias, rows, weight.t())
    return call("reshape", out, shape=list(input.shape[:-1]) + [out.shape[-1]])


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return input.relu_() if inplace else call("relu", input)


def sigmoid(input: Tensor) -> Tensor:
    return call("sigmoid", input)


def tanh(input: Tensor) -> Tensor:
    return call("tanh", input)


def _get_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    if dim is None:
        dim = _get_softmax_dim("softmax", input.ndim, _stacklevel)
    return _f.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3,
                dtype=None) -> Tensor:
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.ndim, _stacklevel)
    return _f.log_softmax(input, dim, dtype=dtype)


# ---- regression losses -------------------------------------------------------------------

def _weighted(errors: Tensor, input: Tensor, weight: Tensor, reduction: str) -> Tensor:
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    weighted = errors * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / weight.sum()


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Optional[Tensor] = None) -> Tensor:
    _warn_size(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    x, y = _broadcast_pair(input, target)
    if weight is not None:
        return _weighted((x - y) ** 2, input, weight, reduction)
    return call("mse_loss", x, y, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight: Optional[Tensor] = None) -> Tensor:
    """|x - y| reduced: a composite, as in torch (MeanBackward0, SumBackward0, AbsBackward0)."""
    _warn_size(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    x, y = _broadcast_pair(input, target)
    if weight is not None:
        return _weighted((x - y).abs(), input, weight, reduction)
    return _apply_reduction((x - y).abs(), reduction)


# ---- binary classification ---------------------------------------------------------------

def binary_cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape!r}) that is different to the input "
                         f"size ({input.shape!r}) is deprecated. Please ensure they have the same "
                         "size.")
    if weight is not None:
        from ..ops.reshaping import broadcast_shapes  # (torch.broadcast_shapes' words)

        shape = broadcast_shapes(target.shape, weight.shape)
        if tuple(weight.shape) != tuple(shape):
            weight = weight.expand(*shape)
    return call("binary_cross_entropy", input, target, weight, reduction=reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Optional[Tensor] = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Optional[Tensor] = None) -> Tensor:
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape!r}) must be the same as input size "
                         f"({input.shape!r})")
    return call("binary_cross_entropy_with_logits", input, target, weight, pos_weight,
                reduction=reduction)


# ---- classification over C classes ---------------------------------------------------------

def nll_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of class indices; input (C), (N, C) or (N, C, d1, ...)."""
    reduction = _reduction(reduction, size_average, reduce)
    if input.ndim == 1 and target.ndim == 1 and target.shape[0] != 1:  # (torch's nll_loss_nd)
        raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: "
                         f"{target.shape[0]}")
    if input.ndim <= 2:
        return call("nll_loss", input, target, weight, reduction=reduction,
                    ignore_index=ignore_index)
    # (N, C, d1, ...): torch's nll_loss_nd checks the target, then runs nll_loss2d.
    n, c = input.shape[0], input.shape[1]
    if target.ndim == 0 or target.shape[0] != n:
        raise ValueError(f"Expected input batch_size ({n}) to match target batch_size "
                         f"({target.shape[0] if target.ndim else 1}).")
    if input.ndim == 4:  # (nll_loss2d checks the target's shape itself)
        return call("nll_loss", input, target, weight, reduction=reduction,
                    ignore_index=ignore_index, spatial=True)
    if tuple(target.shape[1:]) != tuple(input.shape[2:]):
        want = ", ".join(map(str, (n,) + tuple(input.shape[2:])))
        raise RuntimeError(f"Expected target size [{want}], got "
                           f"[{', '.join(map(str, target.shape))}]")
    # other dims: as (N, C, 1, d...) and (N, 1, d...), the "none" losses viewed back
    out = call("nll_loss", input.reshape(n, c, 1, -1), target.reshape(n, 1, -1), weight,
               reduction=reduction, ignore_index=ignore_index, spatial=True)
    return out.view(*target.shape) if reduction == "none" else out


def cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dim, then nll_loss (class indices) or -Σ p log q
    (class probabilities: a target of the input's shape), as torch's cross_entropy_loss."""
    reduction = _reduction(reduction, size_average, reduce)
    class_dim = 0 if input.ndim == 1 else 1
    if tuple(input.shape) == tuple(target.shape):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                    label_smoothing, class_dim)
    logp = log_softmax(input, class_dim)  # (nll_loss checks the target: shape, then dtype)
    if label_smoothing > 0.0:
        _check_label_smoothing(label_smoothing)
        return _cross_entropy_smoothed(logp, target, weight, ignore_index, reduction,
                                       label_smoothing, class_dim)
    return nll_loss(logp, target, weight, None, ignore_index, None, reduction)


def _check_label_smoothing(label_smoothing: float) -> None:
    """torch's check, made only when there is smoothing to do (a negative one is none)."""
    if label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")


def _class_view(weight: Tensor, ndim: int, class_dim: int) -> Tensor:
    """The per-class weight shaped to broadcast along the class dim of an ndim input."""
    if ndim <= 1:
        return weight
    shape = [1] * ndim
    shape[class_dim] = weight.shape[0]
    return weight.view(*shape)


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing,
                         class_dim):
    if not target.dtype.is_floating_point:
        raise RuntimeError(f"Expected floating point type for target with class probabilities, "
                           f"got {target.dtype.long_name}")
    if ignore_index >= 0:
        raise RuntimeError("ignore_index is not supported for floating point target")
    n_classes = input.shape[class_dim]
    logp = log_softmax(input, class_dim)
    if label_smoothing > 0.0:
        _check_label_smoothing(label_smoothing)
        target = call("add_number", call("mul_number", target, other=1 - label_smoothing),
                      other=label_smoothing / n_classes)
    prod = logp * target
    if weight is not None:
        prod = prod * _class_view(weight, input.ndim, class_dim)
    if reduction == "mean":
        return call("div_number", -prod.sum(), other=input.numel() // n_classes)
    if reduction == "sum":
        return -prod.sum()
    return -prod.sum(class_dim)


def _cross_entropy_smoothed(logp, target, weight, ignore_index, reduction, label_smoothing,
                            class_dim):
    n_classes = logp.shape[class_dim]
    nll = nll_loss(logp, target, weight, None, ignore_index, None, reduction)
    ignore_mask = target == ignore_index
    if weight is not None:
        smooth = -(logp * _class_view(weight, logp.ndim, class_dim)).sum(class_dim)
    else:
        smooth = -logp.sum(class_dim)
    smooth = smooth.masked_fill(ignore_mask, 0.0)
    if reduction == "mean":
        if weight is not None:
            picked = weight[target.masked_fill(ignore_mask, 0)].masked_fill(ignore_mask, 0.0)
            smooth = smooth.sum() / picked.sum()
        else:
            smooth = smooth.sum() / (~ignore_mask).sum()
    elif reduction == "sum":
        smooth = smooth.sum()
    return call("mul_number", nll, other=1 - label_smoothing) + \
        call("mul_number", smooth, other=label_smoothing / n_classes)


# =============================================================================================
# Layers of real models: embedding, norms, GELU/SiLU, dropout, attention, convolution, pooling
# =============================================================================================

__all__ += ["embedding", "layer_norm", "rms_norm", "batch_norm", "gelu", "silu", "dropout",
            "scaled_dot_product_attention", "multi_head_attention_forward", "conv1d", "conv2d",
            "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


def _tuple(value, n: int, name: str = "") -> tuple:
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise RuntimeError(f"expected {name} to be a single integer value or a list of {n} "
                               "values to match the convolution dimensions, but got "
                               f"{name}={list(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def embedding(input: Tensor, weight: Tensor, padding_idx: Optional[int] = None,
              max_norm: Optional[float] = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` picked by the integer `input`; the row at padding_idx gets no gradient."""
    if padding_idx is not None:
        if padding_idx > 0:
            if padding_idx >= weight.shape[0]:
                raise AssertionError("Padding_idx must be within num_embeddings")
        elif padding_idx < 0:
            if padding_idx < -weight.shape[0]:
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = weight.shape[0] + padding_idx
    else:
        padding_idx = -1
    if sparse:
        raise NotImplementedError("embedding: sparse is not supported by distgrad")
    if max_norm is not None:
        embedding_renorm_(weight, input, max_norm, norm_type)
    if scale_grad_by_freq:
        return call("embedding", weight, input, padding_idx=padding_idx, scale_grad_by_freq=True)
    return call("embedding", weight, input, padding_idx=padding_idx)


def embedding_renorm_(weight: Tensor, input: Tensor, max_norm: float, norm_type: float) -> Tensor:
    """The rows of `weight` that `input` picks, each scaled in place to a norm of at most
    max_norm (by max_norm / (norm + 1e-7), computed in double as torch does); not recorded
    for autograd, as torch's, but a write all the same (the weight's version counts it).
    torch's kernel takes int32 or int64 ids, and selects the rows in ascending order of id
    (a negative one wrapping): at the first it cannot select it stops, the rows before it
    renormed."""
    from ..ops.rules import scalar_types_error

    if input.dtype not in (dtypes.int64, dtypes.int32):
        raise scalar_types_error("embedding_renorm_", "indices", "Long, Int", input.dtype, 2)
    num = weight.shape[0]
    ids = sorted(set(int(v) for v in input.reshape(-1).tolist()))
    bad = next((v for v in ids if not -num <= v < num), None)
    wanted = sorted(set(v % num for v in ids if bad is None or v < bad))
    if wanted:
        _renorm_rows(weight, creation.tensor(wanted, device=weight.device), max_norm, norm_type)
    if bad is not None:
        raise IndexError(f"select(): index {bad} out of range for tensor of size "
                         f"{list(weight.shape)} at dimension 0")
    return weight


def _renorm_rows(weight: Tensor, rows: Tensor, max_norm: float, norm_type: float) -> None:
    with no_grad():
        w = weight.detach()
        picked = w.index_select(0, rows)
        norms = picked.norm(p=norm_type, dim=1, keepdim=True).double()
        scale = (max_norm / (norms + 1e-7)).where(norms > max_norm, 1.0).to(w.dtype)
        w.index_copy_(0, rows, picked * scale)


def layer_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    if not isinstance(normalized_shape, (tuple, list)):
        raise TypeError("layer_norm(): argument 'normalized_shape' (position 2) must be tuple of "
                        f"ints, not {type(normalized_shape).__name__}")
    shape = [int(d) for d in normalized_shape]
    # (torch's float16/bfloat16 kernel saves the rows' statistics in its parameters' dtype)
    low_stats = input.dtype in dtypes.LOW_FLOATS and all(
        p is None or p.dtype is input.dtype for p in (weight, bias))
    return call("native_layer_norm", input, weight, bias, normalized_shape=shape, eps=eps,
                low_stats=input.dtype.name if low_stats else None)[0]


def rms_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None,
             eps: Optional[float] = None) -> Tensor:
    """x / sqrt(mean(x²) + eps) (* weight): a composite in torch too (MulBackward0)."""
    if not isinstance(normalized_shape, (tuple, list)):
        raise TypeError("rms_norm(): argument 'normalized_shape' (position 2) must be tuple of "
                        f"ints, not {type(normalized_shape).__name__}")
    shape = [int(d) for d in normalized_shape]
    n = len(shape)
    # torch's checks, in its order and words ("[*3, 4]": its message has no comma there)
    check_normalized_shape(shape)
    if weight is not None and list(weight.shape) != shape:
        raise RuntimeError(f"Expected weight to be of same shape as normalized_shape, but got "
                           f"weight of shape {list(weight.shape)} and normalized_shape = {shape}")
    if input.ndim < n:
        raise ValueError(f"Input tensor must have at least {n} dimensions, but got {input.ndim}")
    if tuple(input.shape[input.ndim - n:]) != tuple(shape):
        raise RuntimeError(f"Given normalized_shape={shape}, expected input with shape "
                           f"[*{', '.join(map(str, shape))}], but got input of size"
                           f"{list(input.shape)}")
    require_float("rms_norm", input.dtype)
    low = input.dtype in dtypes.LOW_FLOATS  # (computed in float32, cast back at the end)
    x = input.to(dtypes.float32) if low else input
    if eps is None:
        eps = float(np.finfo(x.dtype.np).eps)
    dims = tuple(range(input.ndim - n, input.ndim))
    out = x * (x.pow(2).mean(dims, keepdim=True) + eps).rsqrt()
    if weight is not None and weight.dtype is not input.dtype:
        _warn_rms_norm_dtypes(input.dtype, weight.dtype)
    if weight is not None:
        out = out * weight
    if layout.suggested_format(input.shape, input.stride()) == "contiguous_format":
        out = out.contiguous()  # (torch's composite: a channels-last input's result is kept)
    return out.to(input.dtype) if low or out.dtype is not input.dtype else out  # (input's)


_warned_rms_norm = False


def _warn_rms_norm_dtypes(input_dtype, weight_dtype) -> None:
    """torch warns once in a process (whichever dtypes) that it cannot fuse the norm."""
    global _warned_rms_norm
    if not _warned_rms_norm:
        _warned_rms_norm = True
        warnings.warn(f"Mismatch dtype between input and weight: input dtype = "
                      f"{input_dtype.c_name}, weight dtype = {weight_dtype.c_name}, Cannot "
                      "dispatch to fused implementation.", UserWarning, stacklevel=3)


def _update_running_stats(x: Tensor, running_mean: Optional[Tensor],
                          running_var: Optional[Tensor], momentum: float) -> None:
    """Move batch norm's running statistics toward the batch's (in place, unbiased variance).
    A float16 or bfloat16 batch's are taken in float32, as torch's CPU kernel takes them,
    and the update is float32's (rounded once to the running statistics' dtype), but for
    bfloat16 running statistics: the kernel computes those in c10::BFloat16 arithmetic,
    which rounds the batch's mean, the momentum and each product to bfloat16. The kernel
    writes them below autograd: their version counters do not count it (written through
    `.data` here)."""
    running_mean = running_mean.data if running_mean is not None else None
    running_var = running_var.data if running_var is not None else None
    dims = [0] + list(range(2, x.ndim))
    if x.dtype not in dtypes.LOW_FLOATS:
        if running_mean is not None:
            running_mean.mul_(1 - momentum).add_(x.mean(dims) * momentum)
        if running_var is not None:
            running_var.mul_(1 - momentum).add_(x.var(dims, correction=1) * momentum)
        return
    wide = x.float()
    mean = wide.mean(dims)
    var_sum = (wide - mean.reshape([1, -1] + [1] * (x.ndim - 2))).square().sum(dims)
    unbiased_divisor = x.numel() // x.shape[1] - 1
    stats = running_mean if running_mean is not None else running_var
    rounded = _rounding_to(stats.dtype)
    momentum = rounded(momentum)
    keep = rounded(1 - momentum)
    if running_mean is not None:
        running_mean.copy_(rounded(rounded(mean) * momentum) + rounded(running_mean.float() * keep))
    if running_var is not None:
        unbiased = rounded(rounded(var_sum) / rounded(unbiased_divisor))
        running_var.copy_(unbiased * momentum + rounded(running_var.float() * keep))


def _rounding_to(d: dtypes.dtype):
    """A float32 tensor's or a number's value rounded to bfloat16 (as c10::BFloat16's
    arithmetic rounds each result), or, for another dtype, as it is."""
    def rounded(value):
        if d is not dtypes.bfloat16:
            return value
        if isinstance(value, Tensor):  # (a float64 factor stays one, as a number would)
            return value.to(d).to(value.dtype)
        return float(dtypes.cast(np.array(value, np.float64), d.np))

    return rounded


def _refuse_unbatched_running_stats(input, running_mean, running_var) -> None:
    """torch's vmap cannot write a batched input's statistics into running statistics the
    function took from outside the mapped inputs (a module's buffers)."""
    stats = [t for t in (running_mean, running_var) if t is not None]
    if any(map(captured_by_vmap, stats)) and not captured_by_vmap(input):
        raise RuntimeError(
            "Batch norm got a batched tensor as input while the running_mean or running_var, "
            "which will be updated in place, were not batched.\nIf you are using a module and "
            "do not need eval mode, please set `track_running_stats` to be False.If you are "
            "using a prebuilt module and do not need eval mode, please see the functorch "
            "website for resources on how to patch your module to work with vmap")


_BATCH_NORM = lookup("native_batch_norm")


def batch_norm(input: Tensor, running_mean: Optional[Tensor], running_var: Optional[Tensor],
               weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise over every dim but the channels (dim 1). Training uses the batch's statistics
    and moves the running ones toward them (in place, unbiased variance), as torch."""
    if training:
        size = input.numel() // input.shape[1] if input.ndim > 1 else input.numel()
        if size == 1:
            raise ValueError("Expected more than 1 value per channel when training, got input "
                             f"size {input.shape!r}")
    if input.numel() == 0:
        return _empty_batch_norm(input, weight, bias)
    if training:
        # (torch's op checks its operands before it moves the running statistics)
        check_batch_norm(input, weight, bias, running_mean, running_var)
        if is_grad_enabled():
            _BATCH_NORM.check_grad_refused((input, weight, bias, running_mean, running_var), {})
        _refuse_unbatched_running_stats(input, running_mean, running_var)
        if running_mean is not None or running_var is not None:
            with no_grad():
                _update_running_stats(input.detach(), running_mean, running_var, momentum)
    elif running_mean is None:
        raise RuntimeError("running_mean must be defined in evaluation mode")
    elif running_var is None:
        raise RuntimeError("running_var must be defined in evaluation mode")
    # (torch's float16/bfloat16 kernel keeps the batch's statistics in its parameters' dtype)
    low_stats = bool(training) and input.dtype in dtypes.LOW_FLOATS and all(
        p is None or p.dtype is input.dtype for p in (weight, bias, running_mean, running_var))
    return call("native_batch_norm", input, weight, bias, running_mean, running_var,
                training=bool(training), eps=eps,
                low_stats=input.dtype.name if low_stats else None)[0]


def _empty_batch_norm(input: Tensor, weight, bias) -> Tensor:
    """An empty batch, as torch's batch_norm takes it before any check or statistic: a
    copy (not a view, which would cut the gradient's way), scaled and shifted by the first
    channel's weight and bias; the running statistics are left as they are."""
    out = input.clone()
    if weight is not None:
        out = out * weight[0]
    if bias is not None:
        out = out + bias[0]
    return out


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return call("gelu", input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    if inplace:
        return in_place(input, lambda x: call("silu", x))
    return call("silu", input)


def _mask_stream(like: Tensor, p: float) -> tuple:
    """The default stream's words for a dropout mask shaped as `like`, drawn where it lives;
    the driver's stream skips the float64 uniform per element the mask takes (none for
    p == 1, as torch)."""
    stream = creation.random_stream()
    words = stream.words()
    if p < 1:
        stream.random64(like.numel())
    return words


def _check_dropout_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout_mask(like: Tensor, p: float) -> Tensor:
    """0 or 1/(1-p) per element of `like`, drawn where it lives and laid out as torch's
    empty_like(like).bernoulli_(1 - p) draws it: in memory order (a transpose's mask takes
    the words along its columns), then viewed back in like's dims."""
    strides = layout.preserved(tuple(like.shape), like.stride())
    if strides is None:
        return call("dropout_mask", like, p=float(p), stream=_mask_stream(like, p))
    outer_first = sorted(range(like.ndim), key=lambda d: -strides[d])
    packed = like.detach().permute(outer_first)
    mask = call("dropout_mask", packed, p=float(p), stream=_mask_stream(packed, p))
    return mask.permute(np.argsort(outer_first).tolist())


def _masked(input: Tensor, mask_like: Tensor, p: float, inplace: bool) -> Tensor:
    """input * mask (MulBackward0): the mask shaped as mask_like; a mask smaller than input
    is broadcast (channel dropout)."""
    mask = dropout_mask(mask_like, p)
    return input.mul_(mask) if inplace else input * mask


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p)."""
    _check_dropout_p(p)
    if p == 0 or not training or input.numel() == 0:
        return input
    return _masked(input, input, p, inplace)


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool,
                     batched: bool) -> Tensor:
    """Zero whole channels (dim 1, or dim 0 unbatched), as torch's feature_dropout: one mask
    value per (sample, channel), broadcast over the rest. An unbatched input is unsqueezed
    and squeezed back, as torch does, so the result's node is torch's."""
    if not batched and not inplace:
        return _feature_dropout(input.unsqueeze(0), p, training, False, True).squeeze(0)
    if p == 0 or not training or input.numel() == 0:
        return input
    lead = 2 if batched else 1
    mask_like = input.new_zeros(tuple(input.shape[:lead]) + (1,) * (input.ndim - lead))
    return _masked(input, mask_like, p, inplace)


def _warn_channel_dims(name: str, ndim: int, spatial: int) -> None:
    """torch's deprecation warning when dropout2d/3d gets other than (N, C, *spatial) or
    (C, *spatial) input."""
    if ndim not in (spatial + 1, spatial + 2):
        warnings.warn(f"{name}: Received a {ndim}-D input to {name}, which is deprecated and "
                      "will result in an error in a future release. To retain the behavior and "
                      "silence this warning, please use dropout instead. Note that "
                      f"{name} exists to provide channel-wise dropout on inputs with {spatial} "
                      "spatial dimensions, a channel dimension, and an optional batch dimension "
                      f"(i.e. {spatial + 1}D or {spatial + 2}D inputs).", stacklevel=3)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Channel dropout of (N, C, L) or unbatched (C, L) input."""
    _check_dropout_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D "
                           "input. Note that dropout1d exists to provide channel-wise dropout on "
                           "inputs with 1 spatial dimension, a channel dimension, and an optional "
                           "batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, batched=input.ndim == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Channel dropout of (N, C, H, W) input; a 3D input is taken as (N, C, L), as torch."""
    _check_dropout_p(p)
    _warn_channel_dims("dropout2d", input.ndim, 2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
                      "1D dropout behavior is desired - input is interpreted as shape (N, C, L), "
                      "where C is the channel dim. This behavior will change in a future release "
                      "to interpret the input as one without a batch dimension, i.e. shape (C, H, "
                      "W). To maintain the 1D channel-wise dropout behavior, please switch to "
                      "using dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, batched=True)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Channel dropout of (N, C, D, H, W) or unbatched (C, D, H, W) input."""
    _check_dropout_p(p)
    _warn_channel_dims("dropout3d", input.ndim, 3)
    return _feature_dropout(input, p, training, inplace, batched=input.ndim == 5)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Optional[Tensor] = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: Optional[float] = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q kᵀ · scale + mask) v. A boolean mask keeps where True; a float mask is added.
    Without dropout it is one op (torch's CPU flash kernel); with dropout, torch's math path."""
    check_sdpa_dtypes(query, key, value, attn_mask)
    if 0 in (query.numel(), key.numel(), value.numel()):
        # torch's answer for empty inputs: zeros, still joined to the inputs' graphs
        # (made from the query, so placed as it is: on its worker, or sharded like it; a
        # sum over none of its features, so an inf or nan in it stays out)
        zeros = query.detach()[..., :0].sum(-1, keepdim=True).expand(*query.shape[:-1],
                                                                    value.shape[-1])
        return zeros.contiguous() + (query.sum() + key.sum() + value.sum()) * 0
    if _flash_chosen(query, key, value, attn_mask, dropout_p, enable_gqa):
        if dropout_p != 0.0:
            raise RuntimeError("scaled_dot_product_attention_flash_attention: Currently do not "
                               "support dropout > 0")
        gqa = {"enable_gqa": True} if enable_gqa else {}
        # the kernel applies a mask and is_causal together; a boolean mask made additive,
        # in the query's dtype, first (torch's convert_boolean_attn_mask: what its node saves)
        return call("scaled_dot_product_attention", query, key, value,
                    _additive(attn_mask, query.dtype), is_causal=bool(is_causal), scale=scale,
                    **gqa)[0]
    if is_causal and attn_mask is not None:  # only torch's math path refuses both
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set "
                           "when is_causal=True")
    if enable_gqa:  # grouped-query attention: each key/value head serves a group of heads
        key, value = (_heads_repeated(t, query.shape[-3]) for t in (key, value))
    origin = query.dtype
    if origin in dtypes.LOW_FLOATS:  # (torch's math path computes them in float32)
        query, key, value = (t.to(dtypes.float32) for t in (query, key, value))
    # torch's math path: q and k each scaled by sqrt(scale), a boolean mask made additive.
    factor = math.sqrt(1 / math.sqrt(query.shape[-1]) if scale is None else abs(scale))
    # (by a number: MulBackward1)
    q = call("mul_number", query, other=-factor if scale is not None and scale < 0 else factor)
    scores = q.matmul(call("mul_number", key.transpose(-2, -1), other=factor))
    if is_causal:
        attn_mask = creation.ones_like(scores, dtype=dtypes.bool_).tril()  # made where scores live
    if attn_mask is not None:
        scores = scores.add_(_additive(attn_mask, query.dtype))  # in place, as torch: a mask cannot widen the scores
    weights = call("safe_softmax", scores, dim=-1)  # a query with no key to attend to: zeros
    if dropout_p > 0.0:
        if dropout_p > 1.0:  # aten's dropout, in C++'s words
            raise RuntimeError(f"dropout probability has to be between 0 and 1, but got "
                               f"{dropout_p:g}")
        weights = dropout(weights, dropout_p, True)
    out = weights.matmul(value)
    return out.to(origin) if origin is not out.dtype else out


def _additive(mask: Optional[Tensor], dtype) -> Optional[Tensor]:
    """A boolean attention mask as the float one torch adds to the scores: 0 where it keeps,
    -inf where it masks; any other mask (or None) as it is."""
    if mask is None or mask.dtype is not dtypes.bool_:
        return mask
    return creation.zeros_like(mask, dtype=dtype).masked_fill(mask.logical_not(), -math.inf)


def _heads_repeated(t: Tensor, heads: int) -> Tensor:
    """`t`'s heads (dim -3) each repeated for its group of `heads` (torch's enable_gqa)."""
    if t.ndim < 3 or heads % t.shape[-3]:
        raise RuntimeError("Number of heads in key and value must divide the number of heads in ")
    return t.repeat_interleave(heads // t.shape[-3], dim=-3) if heads != t.shape[-3] else t


def _flash_chosen(q, k, v, mask, dropout_p, enable_gqa) -> bool:
    """Whether torch runs its CPU flash kernel rather than the math composite, among the
    kernels sdpa_kernel enabled: flash where it applies, else math; with neither, torch's
    errors (and its warnings saying why flash did not apply)."""
    from ..backends import cuda

    flags = cuda._sdp_flags()
    if not (flags["math"] or flags["flash"]):
        raise RuntimeError("No viable backend for scaled_dot_product_attention was found. This "
                           "is likely due to turning off both the math kernel and the fused "
                           "kernels.")
    why_not = _why_not_flash(q, k, v, mask, dropout_p, enable_gqa)
    if flags["flash"] and why_not is None:
        return True
    if flags["math"]:
        return False
    warnings.warn("Flash attention kernel not used because:", stacklevel=3)
    if why_not:
        warnings.warn(why_not, stacklevel=3)
    raise RuntimeError("No available kernel.  Aborting execution.")


def _why_not_flash(q, k, v, mask, dropout_p, enable_gqa=False) -> Optional[str]:
    """Why torch's CPU flash kernel does not take these inputs (its checks in their order,
    its words; "" where it gives none), None when it does. Grouped-query attention is
    taken: a key/value head may serve several query heads. A mask is 2-D or 4-D, each dim
    the query's, the key's or 1."""
    if dropout_p > 0.0:
        return "Both fused kernels do not support non-zero dropout."
    if not q.ndim == k.ndim == v.ndim == 4:
        return (f"All fused kernels requires query, key and value to be 4 dimensional, but got "
                f"Query dim: {q.ndim}, Key dim: {k.ndim}, Value dim: {v.ndim} instead.")
    sizes = [list(t.shape) for t in (q, k, v)]
    broadcast = ("instead. To broadcast dense inputs, try using unsqueeze and expand_to before "
                 "passing them into the kernel.")
    if not q.shape[0] == k.shape[0] == v.shape[0]:
        return (f"For dense inputs, both fused kernels require query, key and value to have the "
                f"same batch_size. Query.sizes(): {sizes[0]}, Key.sizes(): {sizes[1]}, "
                f"Value.sizes(): {sizes[2]} {broadcast}")
    if enable_gqa and k.shape[1] == v.shape[1] and q.shape[1] != k.shape[1]:
        if q.shape[1] % k.shape[1]:
            return (f"The number of heads in key/value must divide number of heads in query.Got "
                    f"input Key sizes(): {k.shape[1]}, Value sizes(): {v.shape[1]}, Query "
                    f"sizes(): {q.shape[1]} instead.")
    elif not q.shape[1] == k.shape[1] == v.shape[1]:
        return (f"For dense input, both fused kernels require query, key and value to have the "
                f"same num_heads. Query.sizes(): {sizes[0]}, Key sizes(): {sizes[1]}, Value "
                f"sizes(): {sizes[2]} {broadcast}")
    if mask is not None:
        if mask.requires_grad:
            return ""
        if mask.size(-2) not in (q.shape[2], 1) or mask.size(-1) not in (k.shape[2], 1) or (
                mask.ndim != 2 and not (mask.ndim == 4 and mask.shape[0] in (1, q.shape[0])
                                        and mask.shape[1] in (1, q.shape[1]))):
            return ("Please use the following attn mask shapes: 2d - ({Q_seq_len, 1}  x "
                    "{KV_seq_len, 1}); 4d - ({Batch, 1} x {Num_heads, 1} x {Q_seq_len, 1}  x "
                    "{KV_seq_len, 1})")
    if not q.shape[-1] == k.shape[-1] == v.shape[-1]:
        return (f"Flash attention requires q,k,v to have the same last dimension. Got "
                f"Query.size(-1): {q.shape[-1]}, Key.size(-1): {k.shape[-1]}, Value.size(-1): "
                f"{v.shape[-1]} instead.")
    if not q.stride(-1) == k.stride(-1) == v.stride(-1) == 1:
        return (f"All fused kernels require the last dimension of the input to have stride 1. "
                f"Got Query.stride(-1): {q.stride(-1)}, Key.stride(-1): {k.stride(-1)}, "
                f"Value.stride(-1): {v.stride(-1)}")
    if not q.dtype.is_floating_point:
        return (f"Expected query, key and value to all be of dtype: {{Float, Double, BFloat16, "
                f"Half}}. Got Query dtype: {q.dtype.c_name}, Key dtype: {k.dtype.c_name}, and "
                f"Value dtype: {v.dtype.c_name} instead.")
    return None


def _canonical_mask(mask: Optional[Tensor], mask_name: str, other_type, other_name: str,
                    target_type, check_other: bool = True) -> Optional[Tensor]:
    """A boolean attention mask (True: masked out) as the float mask torch adds (-inf); a
    float mask as it is. torch's checks and warning."""
    if mask is None:
        return None
    if mask.dtype is not dtypes.bool_ and not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype is not other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use "
                      "same type for both instead.", stacklevel=3)
    if mask.dtype.is_floating_point:
        return mask
    return creation.zeros_like(mask, dtype=target_type).masked_fill(mask, float("-inf"))


def _none_or_dtype(input: Optional[Tensor]):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    """torch's checks of the inputs' dims; whether the input is batched."""
    if query.ndim not in (2, 3):
        raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.ndim}-D query tensor")
    batched = query.ndim == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise AssertionError(f"For {kind} `query`, expected `key` and `value` to be "
                             f"{query.ndim}-D but found {key.ndim}-D and {value.ndim}-D "
                             "tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise AssertionError(f"For {kind} `query`, expected `key_padding_mask` to be `None` or "
                             f"{query.ndim - 1}-D but found {key_padding_mask.ndim}-D tensor "
                             "instead")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise AssertionError(f"For {kind} `query`, expected `attn_mask` to be `None`, 2-D "
                                 f"or 3-D but found {attn_mask.ndim}-D tensor instead")
        expected = (num_heads, query.shape[0], key.shape[0])
        if not batched and attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
            raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                 f"{attn_mask.shape!r}")
    return batched


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
                                 out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """torch's multi_head_attention_forward for (L, N, E) inputs (or unbatched (L, E))."""
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       _none_or_dtype(attn_mask), "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to create "
                           "this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype,
                                    check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, but got "
                             f"{embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:  # (keys and values may have widths of their own)
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {key.shape[:2]!r} do not match "
                                 f"value's {value.shape[:2]!r}")
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {key.shape!r} does not match value shape "
                             f"{value.shape!r}")
    q, k, v = _mha_in_projection(query, key, value, in_proj_weight, in_proj_bias,
                                 use_separate_proj_weight, q_proj_weight, k_proj_weight,
                                 v_proj_weight)
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape!r}, but "
                                   f"should be {(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise RuntimeError(f"The shape of the 3D attn_mask is {attn_mask.shape!r}, but "
                                   f"should be {(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
    if bias_k is not None and bias_v is not None:  # one more key and value for every query
        if static_k is not None:
            raise AssertionError("bias cannot be added to static key.")
        if static_v is not None:
            raise AssertionError("bias cannot be added to static value.")
        k = _f.cat([k, bias_k.repeat(1, bsz, 1)])
        v = _f.cat([v, bias_v.repeat(1, bsz, 1)])
        attn_mask, key_padding_mask = _one_more_key(attn_mask, key_padding_mask)
    elif bias_k is not None:
        raise AssertionError("bias_k is set but bias_v is None")
    elif bias_v is not None:
        raise AssertionError("bias_v is set but bias_k is None")
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = _mha_heads(k, static_k, "static_k", bsz * num_heads, head_dim)
    v = _mha_heads(v, static_v, "static_v", bsz * num_heads, head_dim)
    if add_zero_attn:  # and a key and value of zeros
        k, v = (_f.cat([x, creation.zeros(bsz * num_heads, 1, head_dim, dtype=x.dtype,
                                          device=x.device)], dim=1) for x in (k, v))
        attn_mask, key_padding_mask = _one_more_key(attn_mask, key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                                 f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                                 f"{key_padding_mask.shape[1]}")
        key_padding_mask = key_padding_mask.view(bsz, 1, 1, src_len).expand(
            -1, num_heads, -1, -1).reshape(bsz * num_heads, 1, src_len)
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0
    if need_weights:
        q_scaled = q * math.sqrt(1.0 / float(head_dim))
        if attn_mask is not None:  # (a mask of another dtype fails there, as in torch;
            # the method, as torch.baddbmm, meets autocast, which casts the mask too)
            weights = attn_mask.baddbmm(q_scaled, k.transpose(-2, -1))
        else:
            weights = q_scaled.bmm(k.transpose(-2, -1))
        weights = softmax(weights, dim=-1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = weights.bmm(v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = linear(out, out_proj_weight, out_proj_bias).view(tgt_len, bsz, -1)
        weights = weights.view(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights
    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.ndim == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.view(bsz, num_heads, -1, src_len)
    q = q.view(bsz, num_heads, tgt_len, head_dim)  # (views, as torch's: ViewBackward0)
    k = k.view(bsz, num_heads, src_len, head_dim)
    v = v.view(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).view(tgt_len, bsz, -1)
    return (out if batched else out.squeeze(1)), None


def _mha_in_projection(query, key, value, in_proj_weight, in_proj_bias, separate: bool,
                       w_q, w_k, w_v):
    """q, k and v: projected by the packed weight, or (separate) by one weight each."""
    if not separate:
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        if key is value:  # (one projection for what is the same tensor, as torch's)
            return _mha_packed_projection(query, key, in_proj_weight, in_proj_bias)
        w_q, w_k, w_v = in_proj_weight.chunk(3)
    else:
        for name, w in (("q", w_q), ("k", w_k), ("v", w_v)):
            if w is None:
                raise AssertionError(f"use_separate_proj_weight is True but {name}_proj_weight "
                                     "is None")
        e_q, e_k, e_v = query.shape[-1], key.shape[-1], value.shape[-1]
        for what, w, shape in (("query", w_q, (e_q, e_q)), ("key", w_k, (e_q, e_k)),
                               ("value", w_v, (e_q, e_v))):
            if tuple(w.shape) != shape:
                raise AssertionError(f"expecting {what} weights shape of {shape}, but got "
                                     f"{w.shape!r}")
    b_q, b_k, b_v = in_proj_bias.chunk(3) if in_proj_bias is not None else (None,) * 3
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def _mha_packed_projection(query, key, weight, bias):
    """torch's _in_projection_packed where key is value: self-attention projects the query
    once by the whole packed weight; otherwise the query by its third and the key by the
    other two at once. The packed result is split as (n, ..., E) and made contiguous."""
    e = query.shape[-1]

    def parts(x, w, b, n):
        packed = linear(x, w, b).unflatten(-1, (n, e)).unsqueeze(0).transpose(0, -2)
        return packed.squeeze(-2).contiguous()

    if query is key:
        qkv = parts(query, weight, bias, 3)
        return qkv[0], qkv[1], qkv[2]
    w_q, w_kv = weight.split([e, 2 * e])
    b_q, b_kv = bias.split([e, 2 * e]) if bias is not None else (None, None)
    q = linear(query, w_q, b_q)
    kv = parts(key, w_kv, b_kv, 2)
    return q, kv[0], kv[1]


def _mha_heads(x, static, name: str, batch_heads: int, head_dim: int):
    """Keys (or values) as (batch * heads, S, head_dim); `static` ones are taken as given."""
    if static is None:
        return x.reshape(x.shape[0], batch_heads, head_dim).transpose(0, 1)
    if static.shape[0] != batch_heads:
        raise AssertionError(f"expecting {name}.size(0) of {batch_heads}, but got "
                             f"{static.shape[0]}")
    if static.shape[2] != head_dim:
        raise AssertionError(f"expecting {name}.size(2) of {head_dim}, but got {static.shape[2]}")
    return static


def _one_more_key(attn_mask, key_padding_mask):
    """The masks with a column for a key added after the others (not masked)."""
    return tuple(None if m is None else pad(m, (0, 1)) for m in (attn_mask, key_padding_mask))


def _conv(n: int, input, weight, bias, stride, padding, dilation, groups):
    stride, dilation = _tuple(stride, n, "stride"), _tuple(dilation, n, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0,) * n
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            total = [d * (k - 1) for d, k in zip(dilation, weight.shape[2:])]
            padding = tuple(t // 2 for t in total)
            if any(t % 2 for t in total):
                input = _pad_same_right(input, total)
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    padding = _tuple(padding, n, "padding")
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to "
                           f"conv{n}d, but got input of size: {list(input.shape)}")
    spatial = weight.ndim - 2
    if n == 1 and spatial > 1:  # (torch expands one value to the weight's dims)
        stride, padding, dilation = (v * spatial if len(v) == 1 else v
                                     for v in (stride, padding, dilation))
    unbatched = input.ndim == n + 1
    if unbatched:
        input = input.unsqueeze(0)
    out = call("convolution", input, weight, bias, stride=list(stride), padding=list(padding),
               dilation=list(dilation), groups=int(groups))
    return out.squeeze(0) if unbatched else out


_warned_same_padding = False


def _pad_same_right(input, total):
    """padding='same' where a dim's total padding is odd: its extra zero goes on the right,
    as torch pads it (a zero-padded copy of the input, which torch warns of once)."""
    global _warned_same_padding
    if not _warned_same_padding:
        _warned_same_padding = True
        warnings.warn("Using padding='same' with even kernel lengths and odd dilation may "
                      "require a zero-padded copy of the input be created", stacklevel=4)
    pad = []
    for t in reversed(total):  # (pad lists the last dim first)
        pad += [0, t % 2]
    return call("constant_pad_nd", input, pad=pad)


def parsed_as_conv(fn):
    """conv1d, conv2d, conv3d taking their arguments as torch's parser does: anything that
    fits neither of its overloads (padding as numbers, or as a string) is its TypeError."""
    head = (Param("input", "Tensor"), Param("weight", "Tensor"), Param("bias", "Tensor?", None),
            Param("stride", "tuple of ints", 1))
    tail = (Param("dilation", "tuple of ints", 1), Param("groups", "int", 1))
    overloads = [Signature(fn.__name__, *head, padding, *tail)
                 for padding in (Param("padding", "tuple of ints", 0),
                                 Param("padding", "str", "valid"))]

    @functools.wraps(fn)
    def parsed(*args, **kwargs):
        parse(overloads, args, kwargs)
        return fn(*args, **kwargs)
    return parsed


@parsed_as_conv
def conv1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


@parsed_as_conv
def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


_INTEGERS = tuple(d for d in dtypes.ALL if d.category == 1)


def check_pool_dtype(kernel: str, d, integers=(), half: bool = True) -> None:
    """torch's dtype dispatch of a pooling kernel: the floating dtypes (float16 and bfloat16
    unless `half` is False) and the integer dtypes listed; any other raises its
    NotImplementedError."""
    if not (d.is_floating_point and (half or d not in dtypes.LOW_FLOATS)) and d not in integers:
        raise not_implemented(kernel, d)


def _max_pool(n: int, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    """max_pool2d or max_pool3d (n spatial dims)."""
    name = f"max_pool{n}d"
    kernel = _pool_tuple(name, "kernel_size", kernel_size, n)
    omitted = stride is None or stride == []
    stride = kernel if omitted else _pool_tuple(name, "stride", stride, n)
    padding = _pool_tuple(name, "padding", padding, n)
    dilation = _pool_tuple(name, "dilation", dilation, n)
    check_pool_dtype(name, input.dtype, _INTEGERS)
    out, indices = call(f"max_pool{n}d_with_indices", input, kernel=list(kernel),
                        stride=list(stride), padding=list(padding), dilation=list(dilation),
                        ceil_mode=bool(ceil_mode))
    if omitted:
        note_given(out, stride=())  # (torch's node keeps the stride given: none)
    return (out, indices) if return_indices else out


_POOL_ARGUMENT = {"kernel_size": "either be a single int", "padding": "either be a single int",
                  "stride": "either be omitted, a single int", "dilation": "be either a single int"}


def _pool_tuple(op: str, name: str, value, n: int) -> tuple:
    """A pool's kernel_size, stride, padding or dilation as n ints: one int, or one or n in a
    sequence, else torch's error ('max_pool2d: stride must either be omitted, ...')."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(values) not in (1, n):
        must = _POOL_ARGUMENT[name]
        if op == "avg_pool3d":  # (its words lack the either)
            must = must.replace("either be", "be")
        raise RuntimeError(f"{op}: {name} must {must}, or a tuple of {('two', 'three')[n - 2]} "
                           "ints")
    return tuple(int(v) for v in values) * (n // len(values))


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Optional[int] = None) -> Tensor:
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _avg_pool(n: int, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override) -> Tensor:
    """avg_pool2d or avg_pool3d (n spatial dims)."""
    name = f"avg_pool{n}d"
    kernel = _pool_tuple(name, "kernel_size", kernel_size, n)
    omitted = stride is None or stride == []
    stride = kernel if omitted else _pool_tuple(name, "stride", stride, n)
    padding = _pool_tuple(name, "padding", padding, n)
    check_pool_dtype("avg_pool2d" if n == 2 else "avg_pool3d_out_frame", input.dtype,
                     (dtypes.int64,), half=n == 2)
    out = call(name, input, kernel=list(kernel), stride=list(stride), padding=list(padding),
               ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad),
               divisor_override=divisor_override)
    if omitted:
        note_given(out, stride=())  # (torch's node keeps the stride given: none)
    return out


def _adaptive_mean(input: Tensor, n: int) -> Tensor:
    """An adaptive average pool to one position over the last n dims: torch takes the mean
    (MeanBackward1), laid out channels-last in place when its input is (AsStridedBackward1)."""
    out = input.mean(tuple(range(-1, -n - 1, -1)), keepdim=True)
    channels_last = "channels_last" if n == 2 else "channels_last_3d"
    if layout.suggested_format(input.shape, input.stride()) == channels_last:
        batch, c = input.shape[0], input.shape[1]
        out.as_strided_((batch, c) + (1,) * n, (c, 1) + (c,) * n)
    return out


def adaptive_output_size(input: Tensor, output_size, n: int) -> list:
    """An adaptive pool's output_size as n ints, as torch's functional passes it on: an int
    for every dim, or a sequence whose Nones take the input's sizes (_list_with_default)."""
    if not isinstance(output_size, (tuple, list)):
        return [int(output_size)] * n
    if input.ndim <= len(output_size):
        raise ValueError(f"Input dimension should be at least {len(output_size) + 1}")
    tail = input.shape[input.ndim - len(output_size):]
    return [int(d) if s is None else int(s) for s, d in zip(output_size, tail)]


def _adaptive_avg_size(input: Tensor, output_size, n: int) -> list:
    """adaptive_avg_pool{n}d's output_size, with its kernel's checks."""
    size = adaptive_output_size(input, output_size, n)
    name = f"adaptive_avg_pool{n}d"
    if len(size) != n:
        raise RuntimeError(f"{name}: output_size must be {n}")
    if min(size) < 0:  # (torch's braces lack the last space of three)
        received = ", ".join(map(str, size[:2])) + "".join(f",{s}" for s in size[2:])
        raise RuntimeError(f"{name}: elements of output_size must be greater than or equal to 0 "
                           f"but received {{{received}}}")
    return size


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    size = _adaptive_avg_size(input, output_size, 2)
    if size == [1, 1]:
        return _adaptive_mean(input, 2)
    check_pool_dtype("adaptive_avg_pool2d", input.dtype)
    return call("adaptive_avg_pool2d", input, output_size=size)


# =============================================================================================
# More activations, losses and helpers: leaky_relu ... mish, smooth L1, Huber, KL divergence,
# normalize, one_hot, cosine_similarity, pad
# =============================================================================================

__all__ += ["leaky_relu", "elu", "selu", "celu", "softplus", "hardtanh", "relu6", "logsigmoid",
            "softsign", "hardsigmoid", "hardswish", "mish", "threshold", "softmin",
            "smooth_l1_loss", "huber_loss", "kl_div", "normalize", "one_hot",
            "cosine_similarity", "pad", "pairwise_distance", "dropout1d", "dropout2d",
            "dropout3d"]


def _activation(op: str, input: Tensor, inplace: bool, **attrs) -> Tensor:
    """The op on input; with inplace, torch's in-place form written into input (ops/api.py)."""
    if inplace:
        return in_place(input, lambda x: call(op, x, in_place=True, **attrs))
    return call(op, input, **attrs)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _activation("leaky_relu", input, inplace, negative_slope=negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _activation("elu", input, inplace, alpha=alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """elu with torch's fixed alpha and scale (its node is EluBackward0 too)."""
    return _activation("elu", input, inplace, alpha=SELU_ALPHA, scale=SELU_SCALE)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _activation("celu", input, inplace, alpha=alpha)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(βx)) / β, and x itself where βx > threshold."""
    return call("softplus", input, beta=beta, threshold=threshold)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _activation("hardtanh", input, inplace, min_val=min_val, max_val=max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return _activation("hardtanh", input, inplace, min_val=0.0, max_val=6.0)


def logsigmoid(input: Tensor) -> Tensor:
    return call("log_sigmoid", input)[0]


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|): a composite in torch too (DivBackward0)."""
    return input / (input.abs() + 1)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    return _activation("hardsigmoid", input, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return _activation("hardswish", input, inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return _activation("mish", input, inplace)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """value where input <= threshold, input elsewhere."""
    if inplace:
        return _threshold_in_place(input, threshold, value)
    return call("threshold", input, threshold=threshold, value=value)


def _threshold_in_place(input: Tensor, threshold: float, value: float) -> Tensor:
    """An input whose elements share memory (expanded) is written too: torch's kernel skips
    that check, as the op gives each of them one value whichever write is last."""
    input._check_write_to_stale_view()
    result = call("threshold", input, in_place=True, threshold=threshold, value=value)
    return input._inplace(result, overlap_ok=True, op="aten::threshold_")


# torch's in-place activations under their own names (rrelu_ is with rrelu).
__all__ += ["relu_", "elu_", "leaky_relu_", "hardtanh_", "selu_", "celu_", "threshold_"]


def relu_(input: Tensor) -> Tensor:
    return relu(input, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0, scale: float = 1.0,
         input_scale: float = 1.0) -> Tensor:
    extra = {k: v for k, v in (("scale", scale), ("input_scale", input_scale)) if v != 1.0}
    return _activation("elu", input, True, alpha=alpha, **extra)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    # (torch's kernel itself: no check of min_val <= max_val, unlike F.hardtanh)
    return _activation("hardtanh", input, True, min_val=min_val, max_val=max_val)


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return _threshold_in_place(input, threshold, value)


def softmin(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3,
            dtype=None) -> Tensor:
    if dim is None:
        dim = _get_softmax_dim("softmin", input.ndim, _stacklevel)
    return _f.softmax(-input, dim, dtype=dtype)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    _warn_size(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    x, y = _broadcast_pair(input, target)
    if beta == 0.0:  # torch's l1_loss then (a composite: MeanBackward0, AbsBackward0)
        return _apply_reduction((x - y).abs(), reduction)
    return call("smooth_l1_loss", x, y, reduction=reduction, beta=beta)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Optional[Tensor] = None) -> Tensor:
    _warn_size(input, target)
    x, y = _broadcast_pair(input, target)
    if weight is None:
        return call("huber_loss", x, y, reduction=_reduction(reduction), delta=delta)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    weighted = call("huber_loss", x, y, reduction="none", delta=delta) * weight
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', "
                         "'sum'.")
    return _apply_reduction(weighted, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Σ target · (log target - input), input being log-probabilities: a composite in torch
    too. 'batchmean' divides the sum by the batch size (dim 0), 'mean' by every element."""
    if size_average is not None or reduce is not None:
        summed = _reduction(reduction, size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                          "support size.'batchmean' divides only by the batch size, and aligns "
                          "with the KL div math definition.'mean' will be changed to behave the "
                          "same as 'batchmean' in the next major release.", stacklevel=2)
        summed = "sum" if reduction == "batchmean" else _reduction(reduction)
    loss = kl_div_reduced(input, target, summed, log_target)
    if reduction == "batchmean" and input.ndim != 0:
        return loss / input.shape[0]
    return loss


def kl_div_reduced(input: Tensor, target: Tensor, reduction: str, log_target: bool) -> Tensor:
    """The pointwise divergence, reduced by "none", "mean" or "sum" (torch.kl_div's)."""
    if not (input.dtype.is_floating_point and target.dtype.is_floating_point):
        raise RuntimeError("kl_div: Integral inputs not supported.")
    # (torch's C++ expression makes its right operand first: the order its nodes run
    # backward in, which orders the sum of a target's gradient terms in its own dtype)
    if log_target:
        difference = target - input
        loss = target.exp() * difference
    else:
        product = target * input
        loss = target.xlogy(target) - product
    return _apply_reduction(loss, reduction)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Optional[Tensor] = None) -> Tensor:
    """input divided by its p-norm along dim (at least eps); into out, as torch.div writes
    it (a table normalized in place: `normalize(w.data, out=w.data)`)."""
    denom = input.norm(p, dim, keepdim=True).clamp_min(eps).expand_as(input)
    if out is None:
        return input / denom
    from .. import div

    return div(input, denom, out=out)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 rows of zeros with a one at each class index; num_classes=-1: max + 1.
    Reads the indices' extremes, as torch does (from a worker too)."""
    if tensor.dtype is not dtypes.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel() == 0:
        if num_classes <= 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
    else:
        if tensor.min().item() < 0:
            raise RuntimeError("Class values must be non-negative.")
        top = tensor.max().item()
        if num_classes == -1:
            num_classes = top + 1
        elif num_classes <= top:
            raise RuntimeError("Class values must be smaller than num_classes.")
    out = call("one_hot", tensor, num_classes=int(num_classes), dtype="int64")
    # (torch writes its zeros in place: zero_, then scatter_)
    return written(out, 2) if tensor.numel() else out


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """Σ (x1/|x1|)(x2/|x2|) along dim, as torch's kernel: each divided by its norm first (the
    result stays in [-1, 1]), the norms clamped at eps in place without being recorded, so the
    gradient flows as through the unclamped norm."""
    common = dtypes.result_type((x1, x2))
    if not common.is_floating_point:
        raise RuntimeError("expected common dtype to be floating point, yet common dtype is "
                           f"{common.long_name}")
    x1 = x1 if x1.dtype.is_floating_point else x1.to(common)
    x2 = x2 if x2.dtype.is_floating_point else x2.to(common)
    x1, x2 = _broadcast_pair(x1, x2)
    n1 = x1.norm(2, dim, keepdim=True).clone()
    n2 = x2.norm(2, dim, keepdim=True).clone()
    with no_grad():
        n1.clamp_(min=eps)
        n2.clamp_(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps over the last dim, as torch's kernel (eps keeps the norm's
    gradient finite where x1 == x2), whose node is ATen's norm's (NormBackward1)."""
    return call("norm", x1 - x2 + eps, p=float(p), dim=max(x1.ndim, x2.ndim) - 1,
                keepdim=keepdim, aten=True)


def pad(input: Tensor, pad, mode: str = "constant", value: Optional[float] = None) -> Tensor:
    """Pad (or, by a negative amount, crop) the last len(pad) // 2 dims, the last dim's
    (before, after) first. mode "constant", "reflect", "replicate" or "circular"."""
    if mode != "constant":
        if mode in ("reflect", "replicate", "circular"):
            if value is not None and value != 0:
                raise RuntimeError(f"Padding mode \"{mode}\" doesn't take in value argument")
            from .functional_layers import pad_by_mode

            return pad_by_mode(input, pad, mode)
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    for k, p in enumerate(pad):
        if not isinstance(p, (int, np.integer)):
            raise TypeError("pad(): argument 'pad' (position 2) must be tuple of ints, but found "
                            f"element of type {type(p).__name__} at pos {k}")
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError("Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pad)} and input of dimension "
                           f"{input.ndim}")
    return call("constant_pad_nd", input, pad=[int(p) for p in pad],
                value=0.0 if value is None else value)


# The shrink activations and pdist (ops/more_pointwise.py, ops/products.py).
__all__ += ["hardshrink", "softshrink", "tanhshrink", "pdist"]
hardshrink, softshrink, tanhshrink, pdist = _f.hardshrink, _f.softshrink, _f.tanhshrink, _f.pdist

# the CTC loss (functional_ctc.py; its ops in ops/ctc.py)
from .functional_ctc import ctc_loss  # noqa: E402,F401

__all__ += ["ctc_loss"]

# the losses and layers of functional_losses.py and functional_layers.py, under F's name
from .functional_losses import *  # noqa: E402,F401,F403
from .functional_losses import __all__ as _losses
from .functional_layers import *  # noqa: E402,F401,F403
from .functional_layers import __all__ as _layers

__all__ += _losses + _layers

from ..autocast_lists import install_functional as _install_autocast  # noqa: E402

_install_autocast(globals())  # (torch's CPU autocast lists: distgrad/autocast_lists.py)
