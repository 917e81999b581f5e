"""torch's `register_multi_grad_hook`: one hook over the gradients of several tensors.

mode="all": `fn(grads)` once per backward, after the gradient of every tensor that this
backward computes (None for the others: not in the graph, or not leading to the inputs
asked for). mode="any": `fn(grad)` with the first of them to be computed.
"""
from __future__ import annotations

import functools
import threading
import weakref

from . import engine
from ..hook_handles import RemovableHandle


class _MultiHandle(RemovableHandle):
    """Removes every tensor hook it holds (torch's has no id of its own)."""

    def __init__(self, handles) -> None:
        self.handles = handles

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _running(ref, node):
    """The node the backward under way runs for the tensor `ref` (its kind's: a sharded
    tensor's hooks run at a node joining its parts')."""
    t = ref()
    return node if t is None or node is None else t._storage.hooks_node(t, node)


def _grad_fn_or_acc(t):
    """The node a gradient for `t` flows into; torch asserts there is one (a tensor that
    requires no grad, or a view made under no_grad that has no edge, has none)."""
    node = t._gradient_edge()[0] if t.requires_grad else None
    if node is None:
        raise AssertionError("Expected gradient function to be set")
    return node


def register_multi_grad_hook(tensors, fn, *, mode: str = "all") -> _MultiHandle:
    """Register `fn` over the gradients of `tensors`; returns a handle with `.remove()`::

        register_multi_grad_hook((a, b), lambda grads: print([g is not None for g in grads]))
    """
    supported = ("all", "any")
    if mode not in supported:
        raise ValueError(f"Expects mode to be one of {supported} but got {mode}")
    lock = threading.Lock()
    if mode == "all":
        count: dict = {}
        buffer: dict = {}
        expected: dict = {}
        nodes = [_grad_fn_or_acc(t) for t in tensors]
        held = [weakref.ref(t) for t in tensors]
        n = len(tensors)

        def inner_hook_for(idx: int):
            def inner_hook(grad) -> None:
                task = engine.current_graph_task_id()
                if task == -1:
                    raise AssertionError("expected this hook to be called inside a backward call")
                with lock:
                    seen = count.get(task, 0)
                    count[task] = seen + 1
                    if seen == 0:
                        expected[task] = sum(map(engine.will_engine_execute_node,
                                                 map(_running, held, nodes)))
                        buffer[task] = [None] * n
                buffer[task][idx] = grad
                if seen == expected[task] - 1:
                    grads = buffer.pop(task)
                    del count[task], expected[task]
                    fn(grads)

            return inner_hook

        handles = tuple(t.register_hook(inner_hook_for(i)) for i, t in enumerate(tensors))
    else:
        ran: dict = {}

        @functools.wraps(fn)
        def wrapped_fn(grad) -> None:
            task = engine.current_graph_task_id()
            if task == -1:
                raise AssertionError("expected this hook to be called inside a backward call")
            with lock:
                prev, ran[task] = ran.get(task, False), True
            if not prev:
                fn(grad)

        handles = tuple(t.register_hook(wrapped_fn) for t in tensors if t.requires_grad)
    return _MultiHandle(handles)
