"""`distgrad.nn.functional`: layers, activations and losses as functions, as torch's.

Each function does what torch's Python and C++ wrappers do around the op (argument checks,
broadcasting, the reduction), then calls the op, so its result carries torch's `grad_fn`
(`F.linear` on a matrix gives `AddmmBackward0`, `F.cross_entropy` gives `NllLossBackward0`).
"""
from __future__ import annotations

import warnings
from typing import Optional

from ..autograd.record import call
from ..ops import functions as _f
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
    if bias is None:
        return _f.matmul(input, weight.t())
    if input.ndim == 2:
        return call("addmm", bias, input, weight.t())
    if input.ndim == 0:
        raise RuntimeError("both arguments to linear need to be at least 1D, but they are 0D "
                           f"and {weight.ndim}D")
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
        from ..ops.rules import broadcast_shapes

        shape = broadcast_shapes(tuple(target.shape), tuple(weight.shape))
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
    if input.ndim <= 2:
        return call("nll_loss", input, target, weight, reduction=reduction,
                    ignore_index=ignore_index)
    # (N, C, d1, ...): torch's nll_loss_nd checks the target, then sees it as (N * d..., C).
    n, c = input.shape[0], input.shape[1]
    if target.ndim == 0 or target.shape[0] != n:
        raise ValueError(f"Expected input batch_size ({n}) to match target batch_size "
                         f"({target.shape[0] if target.ndim else 1}).")
    if tuple(target.shape[1:]) != tuple(input.shape[2:]):
        want = ", ".join(map(str, (n,) + tuple(input.shape[2:])))
        raise RuntimeError(f"Expected target size [{want}], got "
                           f"[{', '.join(map(str, target.shape))}]")
    dims = [0] + list(range(2, input.ndim)) + [1]
    rows = input.permute(*dims).reshape(-1, c)
    out = call("nll_loss", rows, target.reshape(-1), weight, reduction=reduction,
               ignore_index=ignore_index)
    return out.reshape(*target.shape) if reduction == "none" else out


def cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """log_softmax over the class dim, then nll_loss (class indices) or -Σ p log q
    (class probabilities: a target of the input's shape), as torch's cross_entropy_loss."""
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    if tuple(input.shape) == tuple(target.shape):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                    label_smoothing, class_dim)
    if target.dtype.is_floating_point:
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                           f"{target.dtype.long_name}")
    logp = log_softmax(input, class_dim)
    if label_smoothing > 0.0:
        return _cross_entropy_smoothed(logp, target, weight, ignore_index, reduction,
                                       label_smoothing, class_dim)
    return nll_loss(logp, target, weight, None, ignore_index, None, reduction)


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
        target = target * (1 - label_smoothing) + (label_smoothing / n_classes)
    prod = logp * target
    if weight is not None:
        prod = prod * _class_view(weight, input.ndim, class_dim)
    if reduction == "mean":
        return -prod.sum() / (input.numel() / n_classes)
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
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / n_classes)
