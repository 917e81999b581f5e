"""Activation checkpointing: run a piece of the model without keeping what its backward
needs, and run it again during backward to get it.

    y = checkpoint(block, x, use_reentrant=True)   # y.grad_fn: CheckpointFunctionBackward

Forward runs `function` under no_grad, so no op inside saves anything: on the workers the
piece runs on, the saved bytes (`distributed.stats()`) are only the piece's inputs. In
backward the inputs are detached, `function` runs again with grad enabled (with the random
state it saw the first time, so dropout draws the same masks), and a nested backward sends
the gradients into the inputs and into the parameters used inside, as torch's reentrant
variant does.
"""
from __future__ import annotations

import warnings
from typing import Any

from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad, no_grad
from ..creation import get_rng_state, set_rng_state
from ..tensor import Tensor

__all__ = ["checkpoint", "CheckpointFunction"]

_NO_REENTRANT_FLAG = (
    "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting "
    "in PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. "
    "use_reentrant=False is recommended, but if you need to preserve the current default "
    "behavior, you can pass use_reentrant=True. Refer to docs for more details on the "
    "differences between the two variants.")


class CheckpointFunction(Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        if not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                          stacklevel=4)
        ctx.run_function = run_function
        ctx.preserve_rng_state = preserve_rng_state
        if preserve_rng_state:
            ctx.fwd_rng_state = get_rng_state()
        ctx.inputs, ctx.tensor_indices, tensors = [], [], []
        for i, arg in enumerate(args):
            if isinstance(arg, Tensor):
                tensors.append(arg)
                ctx.tensor_indices.append(i)
                ctx.inputs.append(None)
            else:
                ctx.inputs.append(arg)
        ctx.save_for_backward(*tensors)
        with no_grad():
            return run_function(*args)

    @staticmethod
    def backward(ctx, *grads):
        from ..autograd import backward as run_backward

        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            inputs[i] = t
        detached = []
        for a in inputs:
            if isinstance(a, Tensor):
                d = a.detach()
                d.requires_grad_(a.requires_grad)
                a = d
            detached.append(a)
        current = get_rng_state() if ctx.preserve_rng_state else None
        try:
            if ctx.preserve_rng_state:
                set_rng_state(ctx.fwd_rng_state)
            with enable_grad():
                outputs = ctx.run_function(*detached)
        finally:
            if current is not None:
                set_rng_state(current)
        if isinstance(outputs, Tensor):
            outputs = (outputs,)
        with_grad = [(o, g) for o, g in zip(outputs, grads)
                     if isinstance(o, Tensor) and o.requires_grad]
        if not with_grad:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not "
                               "necessary")
        run_backward([o for o, _ in with_grad], [g for _, g in with_grad])
        return (None, None) + tuple(d.grad if isinstance(d, Tensor) else None for d in detached)


def checkpoint(function, *args, use_reentrant: bool = None, context_fn=None,
               determinism_check: str = "default", debug: bool = False,
               preserve_rng_state: bool = True, **kwargs) -> Any:
    """`function(*args)` now, recomputed in backward instead of keeping its saved tensors.

    Only torch's reentrant variant is built (use_reentrant=True, the default when the flag is
    not given, with torch's warning); use_reentrant=False raises NotImplementedError.
    """
    if use_reentrant is None:
        warnings.warn(_NO_REENTRANT_FLAG, stacklevel=2)
        use_reentrant = True
    if not use_reentrant:
        raise NotImplementedError("checkpoint(use_reentrant=False) is not supported by distgrad "
                                  "(it needs saved-tensor hooks); pass use_reentrant=True")
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
    return CheckpointFunction.apply(function, preserve_rng_state, *args)
