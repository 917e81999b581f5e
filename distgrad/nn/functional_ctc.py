"""`F.ctc_loss`: the Connectionist Temporal Classification loss, as torch's ctc_loss_impl
composes it: `_ctc_loss` (one op, CtcLossBackward0: ops/ctc.py), zeroed where infinite under
zero_infinity (WhereBackward0), then the reduction ("mean" divides each loss by its target
length, at least 1, before the batch mean)."""
from __future__ import annotations

from .. import dtypes
from ..autograd.record import call
from ..ops.rules import not_implemented
from ..tensor import Tensor
from .functional import _reduction

__all__ = ["ctc_loss"]

_CHECKED = " (while checking arguments for ctc_loss_allocate_outputs)"


def _lengths(lengths, name: str):
    """A tuple of ints from a tensor (integral, any shape) or a tuple/list of ints; and
    whether it was a tensor."""
    if isinstance(lengths, Tensor):
        if lengths.dtype.is_floating_point or lengths.dtype is dtypes.bool_:
            raise RuntimeError(f"{name} must be integral")
        return tuple(int(v) for v in lengths.detach().reshape(-1).tolist()), True
    if isinstance(lengths, (tuple, list)) and all(
            isinstance(v, int) and not isinstance(v, bool)
            or isinstance(v, Tensor) and v.numel() == 1 and not v.dtype.is_floating_point
            for v in lengths):
        return tuple(int(v) for v in lengths), False
    return None, False


def _signature_error(args) -> TypeError:
    got = ", ".join(type(a).__name__ if not isinstance(a, Tensor) else "Tensor" for a in args)
    return TypeError(
        f"ctc_loss() received an invalid combination of arguments - got ({got}), but expected "
        "one of:\n * (Tensor log_probs, Tensor targets, tuple of ints input_lengths, tuple of "
        "ints target_lengths, int blank = 0, int reduction = at::Reduction::Mean, bool "
        "zero_infinity = False)\n * (Tensor log_probs, Tensor targets, Tensor input_lengths, "
        "Tensor target_lengths, int blank = 0, int reduction = at::Reduction::Mean, bool "
        "zero_infinity = False)\n")


def _check(log_probs: Tensor, targets: Tensor, input_lengths: tuple, target_lengths: tuple,
           blank: int) -> None:
    """torch's ctc_loss_allocate_outputs checks, in its order."""
    if log_probs.ndim != 3:
        raise RuntimeError(f"Expected 3-dimensional tensor, but got {log_probs.ndim}-dimensional "
                           f"tensor for argument #1 'log_probs'{_CHECKED}")
    if not 1 <= targets.ndim <= 2:
        raise RuntimeError(f"Expected 1 to 2 dimensions, but got {targets.ndim}-dimensional "
                           f"tensor for argument #2 'targets'{_CHECKED}")
    _, batch, labels = log_probs.shape
    if not 0 <= blank < labels:
        raise RuntimeError("blank must be in label range")
    if len(input_lengths) != batch:
        raise RuntimeError("input_lengths must be of size batch_size")
    if len(target_lengths) != batch:
        raise RuntimeError("target_lengths must be of size batch_size")
    for n in target_lengths:
        if n < 0:
            raise RuntimeError("Expected target_lengths to have value at least 0, but got value "
                               f"{n}{_CHECKED}")
    if targets.ndim == 1:
        total = sum(target_lengths)
        if targets.shape[0] != total:
            raise RuntimeError(f"Expected tensor to have size {total} at dimension 0, but got "
                               f"size {targets.shape[0]} for argument #2 'targets'{_CHECKED}")
    else:
        if targets.shape[0] != batch:
            raise RuntimeError(f"Expected tensor to have size {batch} at dimension 0, but got "
                               f"size {targets.shape[0]} for argument #2 'targets'{_CHECKED}")
        longest = max(target_lengths, default=0)
        if targets.shape[1] < longest:
            raise RuntimeError(f"Expected tensor to have size at least {longest} at dimension 1, "
                               f"but got size {targets.shape[1]} for argument #2 'targets'"
                               f"{_CHECKED}")
    steps = log_probs.shape[0]
    for n in input_lengths:
        if n < 0:
            raise RuntimeError("Expected input_lengths to have value at least 0, but got value "
                               f"{n}{_CHECKED}")
        if n > steps:
            raise RuntimeError(f"Expected input_lengths to have value at most {steps}, but got "
                               f"value {n}{_CHECKED}")


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """The CTC loss of log-probabilities (T, N, C) (or unbatched (T, C)) against targets
    padded (N, S) or concatenated (sum of target_lengths); input_lengths and target_lengths
    are tensors or tuples of ints, one per batch element. reduction "mean" divides each
    loss by its target length (at least 1) and averages over the batch; zero_infinity zeroes
    the infinite losses of impossible alignments and their gradients."""
    reduction = _reduction(reduction)
    args = (log_probs, targets, input_lengths, target_lengths, blank, 1, zero_infinity)
    if isinstance(input_lengths, Tensor) != isinstance(target_lengths, Tensor):
        raise _signature_error(args)
    in_lengths, as_tensors = _lengths(input_lengths, "input_lengths")
    tg_lengths, _ = _lengths(target_lengths, "target_lengths")
    if in_lengths is None or tg_lengths is None:
        raise _signature_error(args)
    if log_probs.dtype not in (dtypes.float32, dtypes.float64):  # (its CPU kernel's dtypes)
        raise not_implemented("ctc_loss_cpu", log_probs.dtype)
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    _check(lp, targets, in_lengths, tg_lengths, blank)
    tg = targets
    if tg.dtype is not dtypes.int64:
        tg = tg.to(dtypes.int64)
    if tg.device != lp.device:
        tg = tg.to(lp.device)
    res, _ = call("ctc_loss", lp, tg, input_lengths=in_lengths, target_lengths=tg_lengths,
                  blank=int(blank), zero_infinity=bool(zero_infinity))
    if zero_infinity:
        from ..creation import zeros
        from ..ops.functions import where

        res = where(res == float("inf"), zeros((), dtype=res.dtype, device=res.device), res)
    if reduction == "mean":
        from ..creation import tensor

        if as_tensors:
            lengths = target_lengths.to(res.device).clamp_min(1)
        else:
            lengths = tensor(tg_lengths, dtype=res.dtype, device=res.device).clamp_min(1)
        return (res / lengths).mean()
    if reduction == "sum":
        return res.sum()
    return res if batched else res.squeeze(0)
