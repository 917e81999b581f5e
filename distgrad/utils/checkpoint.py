"""Activation checkpointing: run a piece of the model without keeping what its backward
needs, and run it again during backward to get it. Both of torch's variants:

    y = checkpoint(block, x, use_reentrant=False)  # the graph of block, its saved tensors not kept
    y = checkpoint(block, x, use_reentrant=True)   # y.grad_fn: CheckpointFunctionBackward

use_reentrant=False (torch's recommended one) records block's graph as usual, but under
saved-tensor hooks: each tensor an op saves is kept as a placeholder (`_Holder`). The first
unpack in a backward runs `function` again on the same inputs (with the random state it saw
the first time, grad enabled), and the tensors that run saves, in the same order, are the
values the placeholders stand for. So gradients, `autograd.grad`, retain_graph and nested
checkpoints work as for the plain function, and kwargs are passed on.

use_reentrant=True runs `function` under no_grad, so no op inside saves anything: on the
workers the piece runs on, the saved bytes (`distributed.stats()`) are only the piece's
inputs. In backward the inputs are detached, `function` runs again with grad enabled (with
the same random state), and a nested backward sends the gradients into the inputs and into
the parameters used inside, as torch's reentrant variant does.
"""
from __future__ import annotations

import contextlib
import itertools
import warnings
import weakref
from collections import defaultdict
from typing import Any

from .. import autocast_state
from ..autograd import saved_hooks
from ..autograd.engine import current_graph_task_id, is_checkpoint_valid
from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad, is_grad_enabled, no_grad
from ..autograd.graph import SavedTensor
from ..creation import restore_stream_state, stream_state
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "CheckpointFunction", "CheckpointError",
           "noop_context_fn", "set_checkpoint_early_stop", "set_checkpoint_debug_enabled",
           "detach_variable", "check_backward_validity"]

_NO_REENTRANT_FLAG = (
    "torch.utils.checkpoint: the use_reentrant parameter should be passed explicitly. Starting "
    "in PyTorch 2.9, calling checkpoint without use_reentrant will raise an exception. "
    "use_reentrant=False is recommended, but if you need to preserve the current default "
    "behavior, you can pass use_reentrant=True. Refer to docs for more details on the "
    "differences between the two variants.")


# What set_checkpoint_early_stop / set_checkpoint_debug_enabled set for the checkpoints
# whose forward runs inside them, over each call's own flag (None: the call's flag).
_OVERRIDES = {"early_stop": None, "debug": None}


@contextlib.contextmanager
def _overriding(flag: str, value):
    previous, _OVERRIDES[flag] = _OVERRIDES[flag], value
    try:
        yield
    finally:
        _OVERRIDES[flag] = previous


def _flag(flag: str, given):
    return given if _OVERRIDES[flag] is None else _OVERRIDES[flag]


def set_checkpoint_early_stop(enable: bool):
    """Whether the non-reentrant checkpoints whose forward runs inside stop recomputing once
    every saved tensor is back (over their early_stop; needed at forward only)."""
    return _overriding("early_stop", enable)


def set_checkpoint_debug_enabled(enabled):
    """debug=enabled for the checkpoints run inside (None: each call's own)."""
    return _overriding("debug", enabled)


def detach_variable(inputs: tuple) -> tuple:
    """The tensors of a tuple detached, each keeping whether it requires grad."""
    if not isinstance(inputs, tuple):
        raise RuntimeError("Only tuple of tensors is supported. Got Unsupported input type: "
                           f"{type(inputs).__name__}")
    out = []
    for inp in inputs:
        if isinstance(inp, Tensor):
            x = inp.detach()
            x.requires_grad = inp.requires_grad
            inp = x
        out.append(inp)
    return tuple(out)


def check_backward_validity(inputs) -> None:
    if not any(inp.requires_grad for inp in inputs if isinstance(inp, Tensor)):
        warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                      stacklevel=2)


class CheckpointFunction(Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, *args):
        check_backward_validity(args)
        ctx.run_function = run_function
        ctx.preserve_rng_state = preserve_rng_state
        ctx.fwd_rng_state = stream_state() if preserve_rng_state else None
        ctx.fwd_autocast = autocast_state.snapshot()  # (the recompute runs under it, as torch)
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

        if not is_checkpoint_valid():
            raise RuntimeError(
                "When use_reentrant=True, torch.utils.checkpoint is incompatible with .grad() or "
                "passing an `inputs` parameter to .backward(). To resolve this error, you can "
                "either set use_reentrant=False, or call .backward() without passing the `inputs` "
                "argument.")
        inputs = list(ctx.inputs)
        for i, t in zip(ctx.tensor_indices, ctx.saved_tensors):
            inputs[i] = t
        detached = detach_variable(tuple(inputs))
        with _random_state(ctx.fwd_rng_state), enable_grad(), \
                autocast_state.restored(ctx.fwd_autocast):
            outputs = ctx.run_function(*detached)
        if isinstance(outputs, Tensor):
            outputs = (outputs,)
        with_grad = [(o, g) for o, g in zip(outputs, grads)
                     if isinstance(o, Tensor) and o.requires_grad]
        if not with_grad:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not "
                               "necessary")
        run_backward([o for o, _ in with_grad], [g for _, g in with_grad])
        return (None, None) + tuple(d.grad if isinstance(d, Tensor) else None for d in detached)


# ---- use_reentrant=False: saved tensors recomputed through saved-tensor hooks ------------

# torch's tail of its recomputation errors (its debug=True logs are not kept here)
_DEBUG_TIP = """
Tip: To see a more detailed error message, either pass `debug=True` to
`torch.utils.checkpoint.checkpoint(...)` or wrap the code block
with `with torch.utils.checkpoint.set_checkpoint_debug_enabled(True):` to
enable checkpoint‑debug mode globally.

If this error occurs under torch.compile with automatic_dynamic_shapes enabled,
it may be because the recomputation selected a different compiled graph than the
forward pass (e.g., a dynamic graph instead of the original static graph).
To fix this, either:
  - Use torch._dynamo.mark_dynamic() to explicitly mark varying dimensions as
    dynamic upfront, avoiding the static-to-dynamic transition.
  - Call torch._C._dynamo.eval_frame._set_lru_cache(False) to disable LRU cache
    reordering, which can change which graph is checked first between forward
    and recompute.
See https://github.com/pytorch/pytorch/issues/166926 for more details and
workaround examples.
"""


class CheckpointError(RuntimeError):
    """The recomputation in backward did not save what the original forward saved."""


def noop_context_fn():
    """The default context_fn: nothing around the forward nor around the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


def _tensor_metadata(x) -> dict:
    # what determinism_check="default" compares: cheap to read, also for a worker's tensor
    return {"shape": x.shape, "dtype": x.dtype, "device": x.device}


_DETERMINISM_CHECKS = {"default": _tensor_metadata, "none": lambda _: None}

_outside_backward_ids = itertools.count(-2, -1)  # an unpack outside any backward recomputes alone


class _StopRecomputation(Exception):
    """Every saved tensor the graph still holds is recomputed: the rest of `function` is not
    needed (torch's early stop)."""


class _Handle:
    """Key of one recomputed value: dropped once unpacked, and the value with it."""


class _Holder:
    """What the graph keeps instead of a saved tensor: per backward (graph task id), the
    handle of its recomputed value, None once given out."""

    def __init__(self) -> None:
        self.handles: dict = {}


class _Frame:
    """One checkpointed call: its inputs, the placeholders its forward left in the graph (in
    the order they were saved), and what each backward's recomputation saved for them."""

    def __init__(self, recompute, early_stop: bool, metadata_fn) -> None:
        self.recompute = recompute
        self.early_stop = early_stop
        self.metadata_fn = metadata_fn
        self.saved_args: list = []
        self.weak_holders: list = []  # (weak: a node freed by backward frees its placeholder)
        self.metadatas: list = []
        self.recomputed = defaultdict(weakref.WeakKeyDictionary)  # task id -> handle -> tensor
        self.counts = defaultdict(int)  # task id -> tensors its recomputation saved so far
        self.recomputed_for: set = set()
        self.forward_completed = False
        self.ignore_saved_mismatch = False

    def save_inputs(self, args) -> None:
        self.saved_args = [_kept_input(a) if isinstance(a, Tensor) else a for a in args]

    def inputs(self) -> list:
        return [a.unpack(None) if isinstance(a, SavedTensor) else a for a in self.saved_args]

    # the hooks around the original forward -----------------------------------------------
    def pack(self, x) -> _Holder:
        """A placeholder for x, which is not kept; its metadata is, for the check."""
        holder = _Holder()
        self.weak_holders.append(weakref.ref(holder))
        self.metadatas.append(self.metadata_fn(x))
        return holder

    def unpack(self, holder: _Holder):
        """The value recomputed for `holder` in this backward: the first unpack of a
        backward runs `function` again, so two backwards recompute twice (torch keeps
        nothing between them either)."""
        gid = current_graph_task_id()
        if gid == -1:
            gid = next(_outside_backward_ids)
        if gid not in self.recomputed_for:
            self.recompute_for(gid)
        handle = holder.handles[gid]
        if handle is None:
            raise CheckpointError(
                "torch.utils.checkpoint: Unpack is being triggered for a tensor that was already "
                "unpacked once. If you are calling ctx.saved_tensors in backward, make sure to do "
                "so only once. Otherwise please open an issue with details on your use case.")
        holder.handles[gid] = None
        return self.recomputed[gid][handle]

    # the recomputation ---------------------------------------------------------------------
    def recompute_for(self, gid) -> None:
        hooks = saved_hooks.saved_tensors_hooks(lambda x: self.pack_recomputed(gid, x),
                                                lambda x: x)
        try:
            with hooks, enable_grad():
                self.recompute(*self.inputs())
        except _StopRecomputation:
            pass
        self.recomputed_for.add(gid)
        self.check_recomputed(gid)

    def pack_recomputed(self, gid, x):
        """Give the recomputed tensor to the placeholder saved at the same position. It is
        also packed as itself, for a backward through the recomputed graph (one run inside
        `function`)."""
        x = x.detach() if x.requires_grad else x
        position = self.counts[gid]
        self.counts[gid] += 1
        if position >= len(self.weak_holders):
            if not self.forward_completed:  # (a backward inside the forward: its own tensors)
                self.ignore_saved_mismatch = True
                return x
            raise CheckpointError("torch.utils.checkpoint: trying to save more tensors during "
                                  "recomputation than during the original forward pass.\n"
                                  f"{_DEBUG_TIP}")
        holder = self.weak_holders[position]()
        if holder is not None:  # (else backward has freed its node: not needed again)
            handle = holder.handles[gid] = _Handle()
            self.recomputed[gid][handle] = x
        if self.early_stop and self.counts[gid] == len(self.weak_holders):
            raise _StopRecomputation
        return x

    def check_recomputed(self, gid) -> None:
        if self.ignore_saved_mismatch:
            return
        if len(self.weak_holders) != self.counts[gid]:
            raise CheckpointError(
                "torch.utils.checkpoint: A different number of tensors was saved during the "
                "original forward and recomputation.\n"
                f"Number of tensors saved during forward: {len(self.weak_holders)}\n"
                f"Number of tensors saved during recomputation: {self.counts[gid]}.\n"
                f"{_DEBUG_TIP}")
        different = ""
        for position, (ref, saved_meta) in enumerate(zip(self.weak_holders, self.metadatas)):
            holder = ref()
            if holder is None:
                continue
            meta = self.metadata_fn(self.recomputed[gid][holder.handles[gid]])
            if meta != saved_meta:
                different += (f"tensor at position {position}:\nsaved metadata: {saved_meta}\n"
                              f"recomputed metadata: {meta}\n")
        if different:
            raise CheckpointError(
                "torch.utils.checkpoint: Recomputed values for the following tensors have "
                f"different metadata than during the forward pass.\n{different}.\n{_DEBUG_TIP}")


def _kept_input(tensor: Tensor) -> SavedTensor:
    """An input kept as an op keeps one (its version checked at unpack), through the hooks
    set around this call, as torch does: an inner checkpoint's inputs are the outer one's
    saved tensors, recomputed by it too."""
    saved = SavedTensor(tensor)
    hooks = saved_hooks.current()
    if hooks is not None:
        saved.pack(hooks, tensor)
    return saved


@contextlib.contextmanager
def _random_state(state):
    """Draw from `state` inside (None: from the stream as it is), and go on from where the
    stream was after, as torch's fork_rng."""
    if state is None:
        yield
        return
    current = stream_state()
    restore_stream_state(state)
    try:
        yield
    finally:
        restore_stream_state(current)


def _recomputation(function, kwargs: dict, preserve_rng_state: bool, recompute_context):
    """`function` again on given inputs, with the random state it sees now."""
    state = stream_state() if preserve_rng_state else None
    autocast = autocast_state.snapshot()  # (the recompute runs under it, as torch)

    def recompute(*args) -> None:
        with _random_state(state), recompute_context, autocast_state.restored(autocast):
            function(*args, **kwargs)

    return recompute


def _checkpoint_without_reentrant(function, args, kwargs, preserve_rng_state, context_fn,
                                  determinism_check, debug, early_stop):
    if _flag("debug", debug) and context_fn is not noop_context_fn:
        raise ValueError("debug=True is incompatible with non-default context_fn")
    if determinism_check not in _DETERMINISM_CHECKS:
        raise ValueError(f"determinism_check should be one of {list(_DETERMINISM_CHECKS)}, "
                         f"but got {determinism_check}")
    forward_context, recompute_context = context_fn()
    if not is_grad_enabled():  # nothing is saved, so nothing to recompute
        return function(*args, **kwargs)
    frame = _Frame(_recomputation(function, kwargs, preserve_rng_state, recompute_context),
                   _flag("early_stop", early_stop), _DETERMINISM_CHECKS[determinism_check])
    frame.save_inputs(args)
    finished = False
    with saved_hooks.saved_tensors_hooks(frame.pack, frame.unpack), forward_context:
        out = function(*args, **kwargs)
        finished = True
    if not finished:
        raise RuntimeError(
            "torch.utils.checkpoint: the forward context provided by context_fn suppressed an "
            "exception raised during the checkpointed forward. This is not supported because "
            "checkpoint cannot return a value for a failed forward.")
    frame.forward_completed = True
    return out


def checkpoint(function, *args, use_reentrant: bool = None, context_fn=noop_context_fn,
               determinism_check: str = "default", debug: bool = False, early_stop: bool = True,
               preserve_rng_state: bool = True, **kwargs) -> Any:
    """`function(*args, **kwargs)` now, recomputed in backward instead of keeping what its
    ops save for backward.

    use_reentrant=False is torch's recommended variant (kwargs, autograd.grad, nested
    checkpoints); use_reentrant=True the reentrant one (the default when the flag is not
    given, with torch's warning). `debug` only adds torch's logs to errors in torch, and
    is accepted and ignored here.
    """
    if use_reentrant is None:
        warnings.warn(_NO_REENTRANT_FLAG, stacklevel=2)
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when "
                             "use_reentrant=False.")
        return CheckpointFunction.apply(function, preserve_rng_state, *args)
    return _checkpoint_without_reentrant(function, args, kwargs, preserve_rng_state, context_fn,
                                         determinism_check, debug, early_stop)


_NO_REENTRANT_FLAG_SEQUENTIAL = (
    "torch.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be passed "
    "explicitly. In version 2.9 we will raise an exception if use_reentrant is not passed. "
    "use_reentrant=False is recommended, but if you need to preserve the current default "
    "behavior, you can pass use_reentrant=True. Refer to docs for more details on the "
    "differences between the two variants.")


def checkpoint_sequential(functions, segments, input, use_reentrant=None, **kwargs):
    """Run `functions` (a Sequential or a list of callables) one after the other, in
    `segments` parts of which all but the last are checkpointed (torch's split: each part
    len // segments long, the rest in the last)."""
    from ..nn import Sequential

    if use_reentrant is None:
        warnings.warn(_NO_REENTRANT_FLAG_SEQUENTIAL, stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(kwargs))

    def run_function(start, end, functions):
        def forward(input):
            for j in range(start, end + 1):
                input = functions[j](input)
            return input
        return forward

    if isinstance(functions, Sequential):
        functions = list(functions.children())
    segment_size = len(functions) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input,
                           use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)
