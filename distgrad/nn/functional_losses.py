"""More losses of nn.functional, composed of differentiable ops as torch's kernels compute
them: cosine embedding, margin ranking, hinge embedding, soft margin, multi-label soft margin,
multi-margin, multi-label margin, triplet margin (with a p-norm or any distance function),
Gaussian and Poisson NLL.

The values and gradients are torch's, and so are the nodes: soft margin, multi-margin and
multi-label margin are ops of their own (ops/nn.py), as torch's kernels are; the others are
composites in torch too.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Union

from .. import dtypes
from ..autograd.grad_mode import is_grad_enabled, no_grad
from ..autograd.record import call
from ..ops.functions import where
from ..ops.rules import not_implemented, require_float, require_scalar_type, require_tensor
from ..ops.table import lookup
from ..tensor import Tensor
from .functional import (_apply_reduction, _reduction, logsigmoid, pairwise_distance)

__all__ = ["cosine_embedding_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
           "multilabel_margin_loss", "triplet_margin_loss", "gaussian_nll_loss",
           "poisson_nll_loss", "triplet_margin_with_distance_loss"]


def _zeros_like(t: Tensor) -> Tensor:
    from ..creation import zeros_like

    return zeros_like(t)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos - margin) where it is -1."""
    reduction = _reduction(reduction, size_average, reduce)
    if target.ndim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if target.ndim == 1 and (input1.ndim != 2 or input2.ndim != 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with "
                           f"sizes {list(input1.shape)} and {list(input2.shape)}.")
    if target.ndim == 0 and (input1.ndim != 1 or input2.ndim != 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with "
                           f"sizes {list(input1.shape)} and {list(input2.shape)}.")
    dim = 1 if input1.ndim == 2 else 0
    eps = 1e-12
    prod_sum = (input1 * input2).sum(dim)
    mag1 = (input1 * input1).sum(dim) + eps
    mag2 = (input2 * input2).sum(dim) + eps
    cos = prod_sum / (mag1 * mag2).sqrt()
    zeros = _zeros_like(cos)
    pos = 1 - cos
    neg = (cos - margin).clamp_min(0)
    out = where(target == 1, pos, zeros) + where(target == -1, neg, zeros)
    return _apply_reduction(out, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -target · (x1 - x2) + margin)."""
    reduction = _reduction(reduction, size_average, reduce)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape!r}, input2: {input2.shape!r}, target: {target.shape!r} ")
    # (clamped in place, as torch: its result's version counts the write)
    return _apply_reduction((-target * (input1 - input2) + margin).clamp_min_(0), reduction)


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average=None,
                         reduce=None, reduction: str = "mean") -> Tensor:
    """x where target is 1, max(0, margin - x) where it is -1 (both where it is neither)."""
    reduction = _reduction(reduction, size_average, reduce)
    zeros = _zeros_like(input)
    out = (where(target != 1, (margin - input).clamp_min(0), zeros)
           + where(target != -1, input, zeros))
    return _apply_reduction(out, reduction)


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target · x)), in a tensor like the input (its dtype and shape)."""
    reduction = _reduction(reduction, size_average, reduce)
    if target.requires_grad and is_grad_enabled():  # (torch's kernel has no target gradient)
        raise RuntimeError("The function 'soft_margin_loss' is not differentiable with respect "
                           "to argument 'target'. This input cannot have requires_grad True.")
    return call("soft_margin_loss", input, target, reduction=reduction)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """-(y log σ(x) + (1 - y) log σ(-x)), weighted, averaged over the classes (last dim)."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    loss = loss.sum(class_dim) / input.shape[class_dim]
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    return _apply_reduction(loss, reduction)


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Optional[Tensor] = None, size_average=None, reduce=None,
                      reduction: str = "mean") -> Tensor:
    """Σ_{i≠y} max(0, margin - x[y] + x[i])^p · w[y] / C per sample."""
    reduction = _reduction(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    if is_grad_enabled():  # (torch refuses a weight that requires grad before its kernel checks)
        lookup("multi_margin_loss").check_grad_refused((input, target, weight), {})
    _multi_margin_checks(input, target, weight)
    return call("multi_margin_loss", input, target, weight, p=p, margin=margin,
                reduction=reduction)


def _check_vector_or_matrix(input: Tensor) -> None:
    """The margin losses' first check: one sample's scores, or a batch's."""
    if input.ndim > 2 or (input.ndim > 0 and input.shape[-1] == 0):
        raise RuntimeError(f"Expected non-empty vector or matrix with optional 0-dim batch size, "
                           f"but got: {list(input.shape)}")


def _multi_margin_checks(input: Tensor, target: Tensor, weight: Optional[Tensor]) -> None:
    """torch's checks of multi_margin_loss: the shapes, then the dtypes its kernel reads."""
    _check_vector_or_matrix(input)
    samples, classes = input.shape if input.ndim == 2 else (1, input.numel())
    if target.ndim > 1 or target.numel() != samples:
        raise RuntimeError(f"multi_margin_loss: target tensor should be 1-D with size equal to the "
                           f"number of input samples (batch size). Expected target size "
                           f"[{samples}], but got {list(target.shape)}. Input has shape "
                           f"{list(input.shape)}.")
    if weight is not None and weight.numel() != classes:
        raise RuntimeError(f"inconsistent weight size, expected {classes} but got "
                           f"{list(weight.shape)}")
    require_float("multi_margin_loss_cpu_kernel", input.dtype)
    if input.dtype in dtypes.LOW_FLOATS:  # (its CPU kernel has none)
        raise not_implemented("multi_margin_loss_cpu_kernel", input.dtype)
    require_scalar_type(dtypes.int64, target)
    require_scalar_type(input.dtype, weight)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                           reduction: str = "mean") -> Tensor:
    """Σ_{j target, i not target} max(0, 1 - (x[j] - x[i])) / C per sample; the targets of a
    row are its class indices up to the first -1."""
    reduction = _reduction(reduction, size_average, reduce)
    _check_vector_or_matrix(input)
    squeeze = input.ndim <= 1
    x = input.reshape(1, -1) if squeeze else input
    t = target.reshape(1, -1) if target.ndim <= 1 else target
    if tuple(t.shape) != tuple(x.shape):
        raise RuntimeError(f"inconsistent target size: {list(target.shape)} for input of size: "
                           f"{list(input.shape)}")
    classes = x.shape[1]
    if target.numel() and (int(target.min()) < -1 or int(target.max()) >= classes):
        raise RuntimeError("argument #2 'target' is out of range")
    require_float("multilabel_margin_loss_forward_out_frame", input.dtype)
    if input.dtype in dtypes.LOW_FLOATS:  # (its CPU kernel has none)
        raise not_implemented("multilabel_margin_loss_forward_out_frame", input.dtype)
    require_scalar_type(dtypes.int64, target)
    return call("multilabel_margin_loss", input, target, reduction=reduction)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 1.0,
                        p: float = 2, eps: float = 1e-6, swap: bool = False, size_average=None,
                        reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, margin + d(a, p) - d(a, n)), d the pairwise p-distance (with swap, d(a, n) is
    at most d(p, n))."""
    reduction = _reduction(reduction, size_average, reduce)
    _check_margin(margin)
    for position, (arg, t) in enumerate(zip(("anchor", "positive", "negative"),
                                            (anchor, positive, negative)), 1):
        require_tensor("triplet_margin_loss", arg, position, t)  # (torch's op takes no other)
    _check_triplet(margin, anchor, positive, negative)
    d_p = pairwise_distance(anchor, positive, p, eps)
    d_n = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_n = d_n.minimum(pairwise_distance(positive, negative, p, eps))
    return _apply_reduction((margin + d_p - d_n).clamp_min(0), reduction)


def _check_margin(margin: float) -> None:
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")


def _check_triplet(margin: float, anchor: Tensor, positive: Tensor, negative: Tensor) -> None:
    _check_margin(margin)
    dims = (anchor.ndim, positive.ndim, negative.ndim)
    if len(set(dims)) != 1:
        raise RuntimeError("The anchor, positive, and negative tensors are expected to have the "
                           f"same number of dimensions, but got: anchor {dims[0]}D, positive "
                           f"{dims[1]}D, and negative {dims[2]}D inputs")


def triplet_margin_with_distance_loss(anchor: Tensor, positive: Tensor, negative: Tensor, *,
                                      distance_function: Optional[Callable] = None,
                                      margin: float = 1.0, swap: bool = False,
                                      reduction: str = "mean") -> Tensor:
    """triplet_margin_loss with d any function of two tensors (pairwise_distance by
    default)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    _check_triplet(margin, anchor, positive, negative)
    distance = distance_function if distance_function is not None else pairwise_distance
    d_p = distance(anchor, positive)
    d_n = distance(anchor, negative)
    if swap:
        d_n = d_n.minimum(distance(positive, negative))
    return _apply_reduction((margin + d_p - d_n).clamp_min(0), reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Union[Tensor, float],
                      full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """0.5 (log var + (x - y)² / var), var clamped at eps without passing that to the
    gradient (as torch)."""
    from ..creation import ones_like

    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = var * ones_like(input)
    elif bool((var < 0).any().item()):
        raise ValueError("var has negative entry/entries")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(
                y for x, y in zip(input.shape, var.shape) if x != y) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var.clone()
    with no_grad():
        var.clamp_(min=eps)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _apply_reduction(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """exp(x) - y·x (log_input), or x - y·log(x + eps); with full, Stirling's term of y > 1."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not a valid value for reduction")
    if log_input:
        product = target * input  # (torch's build records it before the exp)
        loss = input.exp() - product
    else:
        loss = input - target * (input + eps).log()
    if full:
        stirling = target * target.log() - target + 0.5 * (2 * math.pi * target).log()
        loss += stirling.masked_fill(target <= 1, 0)  # (in place, as torch: a version)
    return _apply_reduction(loss, reduction)
