"""Hooks for saved tensors: torch's `saved_tensors_hooks`, `save_on_cpu` and
`disable_saved_tensors_hooks` (public in `distgrad.autograd.graph`).

While hooks are set, a node keeps `pack_hook(tensor)` instead of each tensor it saves
(an op's inputs and outputs, a custom Function's `save_for_backward`), and gives
`unpack_hook(packed)` back when backward (or `grad_fn._saved_self`, `ctx.saved_tensors`)
reads it. The hooks are per thread; nested blocks use the innermost pair. As in torch,
pack runs in no_grad, and a saved tensor that went through hooks is not version-checked.

The hooks always run in the driver. A tensor an op on a worker saves reaches pack_hook as
the handle it is (device "worker:K"), so `save_on_cpu` brings it to the driver and back to
its worker at backward; a hook that returns the handle keeps the data on the worker.
"""
from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def current():
    """(pack_hook, unpack_hook) of the innermost block, or None."""
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else None


def _disabled_message():
    return getattr(_state, "disabled", None)


@contextlib.contextmanager
def suspended():
    """No hooks in this block: for graphs of distgrad's own (a tangent's double vjp), whose
    saved tensors torch never makes, so a user's hooks must not see them."""
    stack = getattr(_state, "stack", None)
    _state.stack = []
    try:
        yield
    finally:
        _state.stack = stack


class _Waiting(list):
    """Saved outputs waiting for the write: (saved, hooks, output) each; `written` maps an
    output (by id) to the tensor it was written into; `target` is the tensor written, and
    `inputs` the saved inputs that are it, waiting too (see defers)."""

    def __init__(self, target=None):
        super().__init__()
        self.written = {}
        self.target = target
        self.inputs = []


@contextlib.contextmanager
def outputs_packed_after_write(target=None):
    """In this block ops compute what an in-place op writes into `target`: a node packs
    its outputs once they are written (the written tensor, at its version after the write,
    as torch's in-place op packs its self: Tensor._save_output_as_self), or at the block's
    end: the tensor an output was written into (`wrote`), else the output as it was made."""
    outer = getattr(_state, "waiting", None)
    _state.waiting = waiting = _Waiting(target)
    try:
        yield
    finally:
        _state.waiting = outer
        pack_waiting_inputs(waiting)
        for saved, hooks, output in waiting:
            if saved.pack_after_write is not None:
                saved.pack_after_write = None
                saved.pack(hooks, waiting.written.get(id(output), output))


def defers(saved, hooks) -> bool:
    """Whether `saved`, an op's saved input, waits to be packed: it is the tensor an
    in-place op is about to write, whose node then saves a copy of its value instead
    (OpNode.save_original), packed once, as torch packs its `original_self`."""
    waiting = waiting_for_write()
    if waiting is None or waiting.target is None or saved.tensor is not waiting.target:
        return False
    saved.pack_after_write = hooks
    waiting.inputs.append(saved)
    return True


def pack_waiting_inputs(waiting=None) -> None:
    """Pack the saved inputs still waiting (of ops other than the one whose result is
    written: before the write, their values as the ops read them)."""
    waiting = waiting or waiting_for_write()
    for saved in waiting.inputs if waiting is not None else ():
        if saved.pack_after_write is not None:
            hooks, saved.pack_after_write = saved.pack_after_write, None
            saved.pack(hooks, saved.tensor)
    if waiting is not None:
        waiting.inputs.clear()


def wrote(result, target) -> None:
    """`result` was written into `target`: an output of it still waiting packs `target`
    (a sharded result, whose parts' nodes cannot take the write themselves)."""
    waiting = waiting_for_write()
    if waiting is not None:
        waiting.written[id(result)] = target


def waiting_for_write():
    """The list of saved outputs waiting to be packed after a write, or None."""
    return getattr(_state, "waiting", None)


class saved_tensors_hooks:
    """Pack and unpack hooks for the tensors ops save in this block::

        def pack(x): return x.cpu()            # kept in the graph instead of x
        def unpack(x): return x                # given to backward instead of x
        with distgrad.autograd.graph.saved_tensors_hooks(pack, unpack):
            y = a * b
    """

    def __init__(self, pack_hook, unpack_hook) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> None:
        message = _disabled_message()
        if message is not None:
            raise RuntimeError(message)
        if getattr(_state, "stack", None) is None:
            _state.stack = []
        _state.stack.append((self.pack_hook, self.unpack_hook))

    def __exit__(self, *exc) -> None:
        _state.stack.pop()


class save_on_cpu(saved_tensors_hooks):
    """Saved tensors are kept in the driver's memory and moved back where they were for
    backward (from a worker: to the driver, then back to that worker). `pin_memory` has no
    effect (no CUDA), as in torch without it."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        def pack_to_cpu(tensor):
            return (tensor.device, tensor.cpu())

        def unpack_from_cpu(packed):
            device, tensor = packed
            return tensor.to(device, non_blocking=pin_memory)

        super().__init__(pack_to_cpu, unpack_from_cpu)


class disable_saved_tensors_hooks(contextlib.ContextDecorator):
    """In this block setting saved-tensor hooks raises RuntimeError(error_message); so does
    entering it while hooks are set."""

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message

    def __enter__(self) -> None:
        self.prev = _disabled_message()
        if current() is not None:
            raise RuntimeError(self.error_message)
        _state.disabled = self.error_message

    def __exit__(self, *exc) -> None:
        _state.disabled = self.prev


_mutation_allowed = []  # the one allow_mutation_on_saved_tensors block under way, if any
_OUTSIDE = ("Trying to backward outside of the 'allow_mutation_on_saved_tensors' context"
            "in which the graph was originally recorded.")  # (torch's words, space missing)


class _AllowMutationOnSavedContext:
    """What an allow_mutation_on_saved_tensors block keeps: per saved tensor, the tensor,
    its version when saved and a copy of it then; cleared when the block ends."""

    def __init__(self) -> None:
        self.saved: list = []

    def clear(self) -> None:
        self.saved.clear()


@contextlib.contextmanager
def allow_mutation_on_saved_tensors():
    """Tensors saved for backward in this block may be written in place afterwards: backward
    gets them as they were when saved. Forward and backward must both run in the block.

    torch copies a saved tensor when it is first written; distgrad copies each one when it
    is saved (where it lives), and backward gets the tensor itself while it is unwritten.
    """
    ctx = _AllowMutationOnSavedContext()

    def pack(tensor):
        entry = (tensor, tensor._version, tensor.clone())
        ctx.saved.append(entry)
        return entry

    def unpack(entry):
        if not _mutation_allowed or not ctx.saved:
            raise AssertionError(_OUTSIDE)
        tensor, version, copy = entry
        return tensor if tensor._version == version else copy

    with saved_tensors_hooks(pack, unpack):
        try:
            if _mutation_allowed:
                raise RuntimeError("allow_mutation_on_saved_tensors contexts cannot be nested")
            _mutation_allowed.append(ctx)
            yield ctx
        finally:
            ctx.clear()
            _mutation_allowed.clear()  # (as torch: a nested block's error ends the outer too)
