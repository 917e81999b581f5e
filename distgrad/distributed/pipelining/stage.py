"""One stage of a pipeline: a submodule on one device, and what it keeps per micro-batch.

A stage's input is a fresh leaf on its device (the previous stage's output, detached and
moved worker to worker), as in PyTorch's pipelining: each stage's graph ends at its
inputs, so its backward can run on its own, in schedule order, and hand its input
gradients to the stages that made those inputs.
"""
from __future__ import annotations

import functools
import operator

from ...autograd import grad_mode
from ...autograd.split_backward import backward_input, run_together, scalable
from ...tensor import Tensor
from ..placement import send_ahead


class PipelineStage:
    """`submodule` run on `device` as stage `stage_index` of `num_stages`.

    Its forward takes the previous stage's outputs (a tensor or a tuple of them), then the
    outputs of each stage in `skip_from` (earlier stages whose outputs come straight to
    this one, worker to worker, and whose gradients go straight back: a skip connection
    that the stages between need not carry).

    PyTorch's example tensors (`input_args`, `output_args`, `output_grads`, `input_grads`)
    are taken and not needed: a stage's shapes are whatever each micro-batch brings.

    >>> stages = [PipelineStage(block0, 0, 2, "worker:0"), PipelineStage(block1, 1, 2, "worker:1")]
    """

    def __init__(self, submodule, stage_index: int, num_stages: int, device, input_args=None,
                 output_args=None, output_grads=None, input_grads=None, group=None, *,
                 skip_from=()):
        if group is not None:
            raise ValueError("PipelineStage: group must be None (stages talk worker to worker "
                             "over the runtime's channels, not over a process group)")
        if not 0 <= stage_index < num_stages:
            raise ValueError(f"Stage index {stage_index} is out of range of {num_stages}")
        skip_from = tuple(skip_from)
        for s in skip_from:
            if not 0 <= s < stage_index - 1:
                raise ValueError(f"stage {stage_index}: skip_from names stage {s}; a skip "
                                 f"connection comes from a stage before {stage_index - 1} (the "
                                 "previous stage's outputs come anyway)")
        self.submod = submodule
        self.stage_index = stage_index
        self.num_stages = num_stages
        self.device = str(device)
        self.skip_from = skip_from
        self.is_first = stage_index == 0
        self.is_last = stage_index == num_stages - 1
        if any(q.device_str != self.device for q in submodule.parameters()):
            submodule.to(self.device)
        # (torch's stage given examples of its inputs and outputs infers no shapes from a
        # first forward of its own)
        self.declared = input_args is not None and output_args is not None
        self.clear_runtime_states()

    def __repr__(self) -> str:
        return (f"PipelineStage(stage_index={self.stage_index}, num_stages={self.num_stages}, "
                f"device={self.device!r})")

    @property
    def sources(self) -> list:
        """The stages whose outputs this one takes, in the order its forward takes them."""
        return ([] if self.is_first else [self.stage_index - 1]) + list(self.skip_from)

    def clear_runtime_states(self) -> None:
        self.grad_scale = None  # what this step's weight gradients are scaled by on the way
        # (what other stages hand this one arrives as `take()`s: sent when made, received
        # here when this stage's action uses it; placement.send_ahead)
        self._arrived: dict = {}  # mb -> {source stage: its outputs' takes (leaves here)}
        self._inputs: dict = {}  # mb -> the forward's inputs on this device
        self._origins: dict = {}  # mb -> per input, (stage, output index) it came from
        self._outputs: dict = {}  # mb -> tuple of outputs
        self._returned: dict = {}  # mb -> the last stage's output as its forward returned it
        self._losses: dict = {}  # mb -> loss (last stage)
        self._output_grads: dict = {}  # mb -> {output index: its gradients' takes}
        self._weight_parts: dict = {}  # mb -> the deferred weight gradients

    # ---- the schedule's actions -----------------------------------------------------------
    # A stage hands on what it makes as soon as it makes it: its outputs to the stages that
    # take them, its input gradients to the stages they came from. The send then comes
    # right after the ops that make the tensor in its worker's run, not after whatever that
    # worker is given next (the 1F1B forward of the next micro-batch, say).

    def forward_one_chunk(self, mb: int, args: tuple, stages: list, kwargs=None,
                          with_backward: bool = True, inferring: bool = False) -> tuple:
        """Forward of micro-batch `mb`: `args` for the first stage; otherwise the outputs
        of the source stages, which arrived as leaves on this device (that require grad
        when a backward follows, as torch's); `kwargs` (this micro-batch's keyword arguments
        for this stage) moved to this device. An error of the submodule comes as torch's
        stage gives it: a RuntimeError naming the stage and its inputs, caused by the
        error; unwrapped if `inferring` (the forward torch's first step runs on its own,
        outside that wrapper, to infer the stage's shapes)."""
        if self.is_first:
            inputs = [_to(a, self.device) for a in args]
            origins = [None] * len(inputs)
        else:
            inputs, origins = [], []
            arrived = self._arrived.pop(mb)
            for src in self.sources:
                for k, take in enumerate(arrived[src]):
                    inputs.append(take())
                    origins.append((src, k))
        kwargs = {k: _to(v, self.device) for k, v in (kwargs or {}).items()}
        try:
            out = self.submod(*inputs, **kwargs)
        except Exception as e:
            if inferring:
                raise
            raise RuntimeError(_forward_failed(self.stage_index, tuple(inputs), kwargs)) from e
        outs = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        self._inputs[mb], self._origins[mb], self._outputs[mb] = inputs, origins, outs
        if self.is_last:  # (what the loss takes and the step returns, as torch's)
            self._returned[mb] = out
        for stage in stages:
            if self.stage_index in stage.sources:
                stage._arrived.setdefault(mb, {})[self.stage_index] = [
                    _send_leaf(o, stage.device, with_backward) for o in outs]
        return outs

    def compute_loss(self, mb: int, loss_fn, target, loss_kwargs=None) -> Tensor:
        loss = loss_fn(self._returned[mb], _to(target, self.device), **(loss_kwargs or {}))
        self._losses[mb] = loss
        return loss

    def backward_input_one_chunk(self, mb: int, stages: list) -> None:
        """The input gradients of micro-batch `mb`, sent on to the stages its inputs came
        from; its weight gradients wait for `backward_weight_one_chunk`."""
        if self.is_last:
            loss = self._losses[mb]
            outputs = [loss]
            grads = [_full_like_scalar(loss, 1.0)]
        else:
            outputs, grads = [], []
            arrived = self._output_grads.pop(mb, {})
            for k, out in enumerate(self._outputs[mb]):
                takes = arrived.get(k)
                if takes and out._requires_grad:
                    outputs.append(out)
                    grads.append(functools.reduce(operator.add, (take() for take in takes)))
        inputs, origins = [], []
        for a, o in zip(self._inputs.pop(mb), self._origins.pop(mb)):
            if o is not None and isinstance(a, Tensor) and a._requires_grad:
                inputs.append(a)
                origins.append(o)
        weights = [q for q in self.submod.parameters() if q._requires_grad]
        if outputs:
            # (a first stage's input, or a keyword argument, that requires grad gets its
            # gradient as autograd.backward gives torch's stages)
            got, part = backward_input(outputs, grads, inputs, weights, every_leaf=True)
        else:  # nothing downstream used this micro-batch's outputs
            got, part = [None] * len(inputs), None
        self._weight_parts[mb] = part
        if not self.is_last:
            self._outputs.pop(mb)
        else:  # (the step hands the caller this micro-batch's loss, with its graph)
            _hold_shapes_only(inputs)
        for (src, k), g in zip(origins, got):
            if g is not None:
                source = stages[src]
                with grad_mode.no_grad():
                    take = send_ahead(g, source.device)
                source._output_grads.setdefault(mb, {}).setdefault(k, []).append(take)

    def backward_weight_one_chunk(self, mb: int) -> None:
        self.backward_weight_chunks([mb])

    def backward_weight_chunks(self, mbs) -> None:
        """The weight gradients of micro-batches `mbs` at once: a Linear's over all of them
        is one matmul on their rows stacked (split_backward.run_together); scaled by
        `grad_scale` on the way where the schedule set one (see `_PipelineSchedule`)."""
        parts = [self._weight_parts.pop(mb) for mb in mbs]
        parts = [p for p in parts if p is not None]
        if not parts:
            return
        if self.grad_scale is not None and not scalable(parts):
            self._stop_scaling()
        run_together(parts, self.grad_scale)

    def _stop_scaling(self) -> None:
        """The step's weight gradients from here on come unscaled, to be divided after the
        step: undo the scale of those accumulated so far (a power of two: exactly)."""
        with grad_mode.no_grad():
            for q in self.submod.parameters():
                if q.grad is not None:
                    q.grad.mul_(1.0 / self.grad_scale)
        self.grad_scale = None


def _hold_shapes_only(leaves) -> None:
    """The accumulator nodes of these received inputs, which a loss's graph reaches, hold
    a tensor of their shape without memory (on "meta") from now on: the loss a step hands
    over keeps its graph, as torch's, and must not keep the activations on the worker
    (torch's graph reaches the receive buffers its stage keeps anyway)."""
    from ...creation import empty

    for t in leaves:
        acc = t._acc() if t._acc is not None else None
        if acc is not None and acc.variable is t:
            acc.variable = empty(tuple(t.shape), dtype=t.dtype, device="meta",
                                 requires_grad=True)


def _forward_failed(stage_index: int, args: tuple, kwargs: dict) -> str:
    """torch's message for a stage whose forward raised (its lines indented as its source)."""
    return (f"\n            [Stage {stage_index}] failed to run forward:"
            f"\n            args: {_debug_info(args)}"
            f"\n            kwargs: {_debug_info(kwargs)}\n            ")


def _debug_info(v):
    """torch's `map_debug_info`: each tensor in tuples, lists and dicts described."""
    if isinstance(v, tuple):
        items = tuple(_debug_info(x) for x in v)
        return type(v)(*items) if hasattr(v, "_fields") else items
    if isinstance(v, list):
        return [_debug_info(x) for x in v]
    if isinstance(v, dict):
        return {k: _debug_info(x) for k, x in v.items()}
    if isinstance(v, Tensor):
        return f"Tensor({v.shape}, grad={v.requires_grad}, dtype={v.dtype})"
    return str(v)


def _to(x, device):
    if isinstance(x, Tensor) and x.device_str != device:
        return x.to(device)
    return x


def _send_leaf(t, device, with_backward=True):
    """`t` sent toward `device` now; its `take()` gives it there as a new leaf that
    requires grad when `t` does and a backward follows (a stage input)."""
    if not isinstance(t, Tensor):
        return lambda: t
    with grad_mode.no_grad():
        take = send_ahead(t.detach(), device)

    def leaf():
        x = take()
        if t._requires_grad and with_backward:
            x._set_requires_grad(True)
        return x
    return leaf


def _full_like_scalar(loss, value: float):
    from ...creation import full

    return full(tuple(loss.shape), value, dtype=loss.dtype, device=loss.device_str)
