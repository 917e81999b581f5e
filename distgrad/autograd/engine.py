"""The one backward loop.

`execute` first works out which nodes to run (torch's exec_info): with no inputs given,
every node reachable from the roots; with inputs, only the nodes that lead to one of them
(SMART mode), so nodes that do not lead to a requested input never run. It counts each
node's dependencies (edges into it from the reachable graph), then runs ready nodes in
topological order, newest first, with AccumulateGrad nodes as soon as they are ready, as
torch's ready queue does. The nodes sharding adds in front of an op's operands (moves,
slices, gathers: `OpNode._inline`) run inside the step of the node that made them ready, so
the leaves behind them become ready in torch's edge order. A node's VJP is written in
distgrad ops, so when its saved tensors live on a worker the VJP's ops are queued for that
worker; the coordinator sends each worker its run of ops in one message. The loop itself
never looks at gradient values.

Per node, in torch's order: tensor hooks (`Tensor.register_hook`), retain_grad, node
pre-hooks, the VJP (or the accumulation into a leaf's `.grad`), node post-hooks.
"""
from __future__ import annotations

import heapq
import itertools
import sys
import threading
import time
from contextlib import contextmanager

from .. import autocast_state
from ..layouts import contiguous_format
from . import anomaly_mode, grad_mode, record, saved_hooks
from .function import BackwardCFunction
from .graph import AccumulateGrad, OpNode

_tasks = threading.local()  # the backward calls under way in this thread, innermost last
_task_ids = itertools.count()


class _GraphTask:
    """One backward call, as hooks ask after it (torch's graph task)."""

    __slots__ = ("id", "deps", "roots", "wanted", "captures", "part_of_whole")

    def __init__(self, deps, roots, wanted, captures, part_of_whole=False):
        self.id = next(_task_ids)
        self.deps, self.roots, self.wanted, self.captures = deps, roots, wanted, captures
        self.part_of_whole = part_of_whole  # (a split backward's part: see execute)


def current_graph_task_id() -> int:
    """The id of the backward this thread runs now, or -1."""
    stack = getattr(_tasks, "stack", None)
    return stack[-1].id if stack else -1


def will_engine_execute_node(node) -> bool:
    """Will the backward under way run `node` (or capture its gradient)?"""
    stack = getattr(_tasks, "stack", None)
    if not stack:
        raise RuntimeError("_will_engine_execute_node should only be called during the backward "
                           "pass")
    task = stack[-1]
    in_graph = node in task.deps or node in task.roots
    if task.wanted is not None and in_graph:
        if isinstance(node, AccumulateGrad) and node in task.captures:
            raise RuntimeError("A leaf node was passed to _will_engine_execute_node but we are "
                               "currently running autograd.grad(). This is currently not "
                               "supported.")
        return node in task.wanted
    return in_graph


def is_checkpoint_valid() -> bool:
    """torch.autograd._is_checkpoint_valid: False inside a backward asked for some inputs only
    (autograd.grad, backward(inputs=)), which a reentrant checkpoint cannot serve."""
    stack = getattr(_tasks, "stack", None)
    return not stack or stack[-1].wanted is None or stack[-1].part_of_whole


def _discover(root_nodes):
    """Every node reachable from the roots, parents before children, and how many edges
    point at each (its dependency count)."""
    deps = {}
    seen = set(root_nodes)
    stack = list(root_nodes)
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is None:
                continue
            deps[child] = deps.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    remaining = dict(deps)
    order = []
    frontier = [n for n in root_nodes if remaining.get(n, 0) == 0]
    while frontier:
        node = frontier.pop()
        order.append(node)
        for child, _ in node.next_functions:
            if child is None:
                continue
            remaining[child] -= 1
            if remaining[child] == 0:
                frontier.append(child)
    return deps, order


def _exec_info(order, input_nodes, run_inputs: bool):
    """(runs, wanted): the nodes whose function runs, and those the loop visits at all.

    A node runs when one of its children is wanted; a wanted node is one that runs or an
    input. Inputs themselves run only for backward(inputs=) (torch runs a non-leaf
    input's grad_fn there, and only captures its gradient in autograd.grad).
    """
    runs, wanted = set(), set()
    for node in reversed(order):  # children before parents
        if any(c in wanted for c, _ in node.next_functions if c is not None) or (
                run_inputs and node in input_nodes):
            runs.add(node)
            wanted.add(node)
        elif node in input_nodes:
            wanted.add(node)
    return runs, wanted


def execute(roots, keep_graph: bool, create_graph: bool, inputs=None, capture: bool = False,
            part_of_whole: bool = False):
    """Run backward from `roots`, a list of ((node, input_nr), grad), which it empties.

    inputs: the gradient edges (node, input_nr) asked for, or None for all leaves.
    capture=False (backward): leaf gradients accumulate into `.grad`; with inputs only
      those inputs' (non-leaf inputs have been given retain_grad by the caller).
    capture=True (autograd.grad): returns one gradient (or None) per input; nothing
      accumulates.
    part_of_whole: this run is a part of one whole backward split in two (a pipeline
      stage's, split_backward.py), which a reentrant checkpoint serves as a backward.
    """
    root_nodes = list(dict.fromkeys(node for (node, _), _g in roots))
    deps, order = _discover(root_nodes)
    runs = wanted = None
    captures = {}
    if inputs is not None:
        for k, (node, nr) in enumerate(inputs):
            captures.setdefault(node, []).append((nr, k))
        runs, wanted = _exec_info(order, captures, run_inputs=not capture)
        if not capture:
            captures = {}
    captured = [None] * (len(inputs) if inputs is not None else 0)

    # the roots torch's graph counts among its nodes: with one root edge the graph starts
    # at that node itself and counts only what it leads to (a dummy root joins several)
    graph_roots = root_nodes if len(roots) > 1 else ()
    buffers = _buffers_of(roots)

    counter = itertools.count()
    ready = []

    def push(node):
        heapq.heappush(ready, (-node._seq, next(counter), node))

    for node in root_nodes:
        if deps.get(node, 0) == 0 and (wanted is None or node in wanted):
            push(node)

    if getattr(_tasks, "stack", None) is None:
        _tasks.stack = []
    _tasks.stack.append(_GraphTask(deps, graph_roots, wanted, captures, part_of_whole))
    unseen = grad_mode._set_gradients_unseen(
        not capture and not create_graph and _gradients_unseen(order))
    try:
        with autocast_state.suspended():  # (backward ops run in the forward's dtypes)
            _run(ready, push, buffers, deps, runs, wanted, captures, captured, keep_graph,
                 create_graph)
    finally:
        grad_mode._set_gradients_unseen(unseen)
        _tasks.stack.pop()
    return captured


def _gradients_unseen(order) -> bool:
    """Can no user code see a gradient passed between these nodes: every one a built-in
    op's or a leaf's, none with a hook? (Then a leaf's .grad, no view in torch either, is
    the only place one ends up.)"""
    for node in order:
        if isinstance(node, AccumulateGrad):
            hooked = node.variable._hooks
        elif isinstance(node, OpNode):
            hooked = node._tensor_pre_hooks
        else:
            return False
        if hooked or node._pre_hooks or node._hooks:
            return False
    return True


def _buffers_of(roots) -> dict:
    """The roots' gradients summed per node, `roots` emptied: the buffers hold them now,
    and nothing else (not even a loop variable in `execute`'s frame), so one that reaches
    a leaf can be its .grad, not a copy (a weight gradient computed apart: split_backward)."""
    buffers = {}
    for (node, nr), g in roots:
        _add(buffers, node, nr, g)
    roots.clear()
    return buffers


def _run(ready, push, buffers, deps, runs, wanted, captures, captured, keep_graph, create_graph):
    """execute's loop: run ready nodes until none is left."""
    wrapped = []  # the in-place ops' nodes of the CopySlices run (freed with them, at the end)
    parts = {}  # node -> {output nr: sum of the parts of one torch gradient for it}

    def step(node):
        if node in parts:
            _add_parts(buffers, node, parts.pop(node))
        grads = buffers.pop(node, None) or [None] * node.n_outputs
        if node in captures:
            if node in runs:  # torch captures what arrived, before the tensor hooks
                seen = grads
            else:
                seen = _tensor_pre_hooks(node, list(grads), create_graph)
            for nr, k in captures[node]:
                captured[k] = seen[nr]
        if runs is not None and node not in runs:
            return
        if anomaly_mode._enabled:
            input_grads = anomaly_mode.checked(node, lambda: _run_node(
                node, grads, create_graph, wanted))
        else:
            input_grads = _run_node(node, grads, create_graph, wanted)
        grads = None
        if not keep_graph:
            node.release()
            if getattr(node, "_wraps", None) is not None:
                wrapped.append(node._wraps)
        for i, (child, nr) in enumerate(node.next_functions):
            if child is None:
                continue
            deps[child] -= 1
            if wanted is not None and child not in wanted:
                continue
            g = input_grads[i] if i < len(input_grads) else None
            if g is not None:
                if node._inline:  # (a sharded op's copy of an operand: where torch has one
                    # gradient for the operand, each copy sends a part; added up apart first)
                    _add_part(parts.setdefault(child, {}), nr, validated(node, i, g))
                else:
                    _add(buffers, child, nr, validated(node, i, g))
                input_grads[i] = g = None
            if deps[child] == 0:
                if child._inline:
                    step(child)  # (before the next edge: what it leads to is ready in order)
                else:
                    push(child)
        # (the buffers hold the gradients now: a leaf's may be taken as its .grad, which
        # _call tells by counting references)

    try:
        with grad_mode.set_grad_enabled(create_graph):
            while ready:
                step(heapq.heappop(ready)[2])
    finally:
        del step  # (it calls itself: the cycle would hold the graph it ran until a collection)
    # torch's CopySlices runs the written op's node inside it and frees it with itself: here
    # that node is a child, which a backward that stops at the CopySlices (backward(inputs=)
    # of the base) never runs; a later pass through it then finds it freed, as in torch
    for node in wrapped:
        node.release()


def _run_node(node, grads, create_graph, wanted):
    if record.profiling is None:
        return _call(node, grads, create_graph, wanted)
    return _profiled_call(node, grads, create_graph, wanted)


def _add(buffers, node, nr, g):
    """Sum gradients arriving for output `nr` of `node` (torch's InputBuffer): into the
    first one in place when nothing else can see it (so a leaf's .grad made of several
    gradients has been written once per gradient added, as torch's `_version` shows)."""
    buf = buffers.setdefault(node, [None] * node.n_outputs)
    if g is None:
        return
    if buf[nr] is None:
        buf[nr] = g
    elif not grad_mode.is_grad_enabled() and _held_only_by(buf, nr):
        buf[nr].add_(g)
    else:
        buf[nr] = buf[nr] + g


def _add_part(sums: dict, nr: int, g) -> None:
    sums[nr] = g if nr not in sums else sums[nr] + g


def _add_parts(buffers, node, sums: dict) -> None:
    """Add each output's parts, summed, as one gradient (then only the buffer holds it)."""
    for nr in list(sums):
        _add(buffers, node, nr, sums.pop(nr))


@contextmanager
def sums_of_wrapped_gradients():
    """A torch.func transform's backward: its gradients are functorch wrappers there, which
    torch's InputBuffer (as for any tensor subclass) never adds into in place."""
    depth = getattr(_tasks, "wrapped", 0)
    _tasks.wrapped = depth + 1
    try:
        yield
    finally:
        _tasks.wrapped = depth


def _held_by_python() -> bool:
    """Are torch's gradients held by more than its InputBuffer now: functorch wrappers (a
    torch.func transform's backward), or Python objects a TorchDispatchMode's calls made
    (allow_mutation_on_saved_tensors runs one)?"""
    return bool(getattr(_tasks, "wrapped", 0) or saved_hooks._mutation_allowed)


def _held_only_by(buf, nr) -> bool:
    """torch's can_accumulate_inplace: is buf[nr] a plain tensor (not sharded: torch's
    DTensor is a subclass; not while `_held_by_python`) that only `buf` holds, whose memory
    only it holds (no view, alias or `.data` of it), laid out densely with no element twice?"""
    old = buf[nr]
    if _held_by_python() or old._sharding is not None or old._viewed is not None or \
            old._grad_fn is not None:
        return False
    sole = _sole_counts()[1]
    return sys.getrefcount(buf[nr]) == sole + 1 and sys.getrefcount(old._storage) == sole \
        and old._dense_block()


def validated(node, i, g):
    """Make a VJP's gradient match the input it is for (shape, dtype, device), as torch does.
    The shape is the one the node it goes to gave that output when it was made (a tensor
    resized by out= since keeps it in torch's node); dtype and device as `node` saw its input
    (an in-place op's node records the result it computed, before the cast into the written
    tensor)."""
    meta = node._metas[node._slots[i]] if hasattr(node, "_slots") else None
    if meta is None:
        return g
    shape, dtype, device = meta
    edges = node.next_functions
    child, nr = edges[i] if i < len(edges) else (None, 0)
    made = getattr(child, "_out_metas", None)
    if made and nr < len(made) and made[nr] is not None:
        shape = made[nr][0]
    if tuple(g.shape) != tuple(shape):
        from ..ops.rules import broadcasts_to, unbroadcast

        if not broadcasts_to(tuple(shape), tuple(g.shape)):  # (then summed down to it)
            raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {i} - "
                               f"got [{', '.join(map(str, g.shape))}] but expected shape "
                               f"compatible with [{', '.join(map(str, shape))}]")
        g = unbroadcast(g, shape)
    if g.dtype is not dtype:
        g = g.to(dtype)
    if g.device_str != device and "sharded" not in (device, g.device_str):
        if g.ndim and isinstance(node, BackwardCFunction):  # (a built-in's is a 0-dim driver
            # tensor used with a worker's: it gets its gradient home)
            raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {i} - "
                               f"expected device {device} but got {g.device_str}")
        g = g.to(device)
    return g


def _tensor_pre_hooks(node, grads, create_graph):
    """Tensor hooks, then retain_grad, for each output of `node`. As in torch, a hook of an
    output that got no gradient is called with None (and may return one)."""
    if isinstance(node, AccumulateGrad):
        hooks = node.variable._hooks
        if hooks:
            record.note_python("hook", hooks)
            grads[0] = _run_tensor_hooks(hooks, grads[0])
        return grads
    if node._tensor_pre_hooks:
        record.note_python("hook", [h for _, h in node._tensor_pre_hooks])
        for nr, hook in list(node._tensor_pre_hooks):
            new = hook(grads[nr])
            if new is not None:
                grads[nr] = _hook_result(hook, grads[nr], new)
    if node._retain_grad:
        for nr, ref in list(node._retain_grad.items()):
            t = ref()
            if t is not None and grads[nr] is not None:
                _retain(t, grads[nr])
    return grads


def _run_tensor_hooks(hooks, g):
    for hook in list(hooks):
        new = hook(g)
        if new is not None:
            g = _hook_result(hook, g, new)
    return g


def _hook_result(hook, old, new):
    """A gradient a hook returned in place of `old` (not None), checked as torch does."""
    if new is old:
        return new
    if old is None:
        raise RuntimeError("can't replace a None gradient with a non-None value")
    if not hasattr(new, "_storage"):
        raise TypeError(f"expected Variable, but hook returned '{type(new).__name__}'")
    name = getattr(hook, "__name__", "<unknown>")
    if new.dtype is not old.dtype:
        raise RuntimeError(f"hook '{name}' has changed the type of value (was {old.type()} got "
                           f"{new.type()})")
    was, got = _device_kind(old), _device_kind(new)
    if was != got and "sharded" not in (was, got):  # (torch's DTensor passes as a tensor)
        raise RuntimeError(f"hook '{name}' has changed the type of value (was {was} tensor got "
                           f"{got} tensor)")
    if tuple(new.shape) != tuple(old.shape):
        raise RuntimeError(f"hook '{name}' has changed the size of value")
    return new


def _device_kind(t) -> str:
    """What torch's hook check compares of a device, its type (cuda:0 and cuda:1 pass): the
    driver's (CPU, as torch names it there), a worker's, or sharded."""
    return "CPU" if t.device_str == "cpu" else t.device_str.partition(":")[0]


def _node_hook_result(hook, old: tuple, new) -> list:
    """The gradients a node hook returned in place of `old`, checked as torch does."""
    if not isinstance(new, tuple):
        raise TypeError(f"expected tuple, but hook returned '{type(new).__name__}'")
    if len(new) != len(old):
        raise RuntimeError(f"hook '{getattr(hook, '__name__', '<unknown>')}' has returned an "
                           f"incorrect number of values (got {len(new)}, but expected {len(old)})")
    return [g if g is None else _hook_result(hook, o, g) for o, g in zip(old, new)]


def _call(node, grads, create_graph, wanted=None):
    """Run one node: hooks around its VJP (or its accumulation, for a leaf). With `wanted`
    (autograd.grad, backward(inputs=)), a VJP computes only the input gradients that lead
    to a wanted node, so it reads (and version-checks) only what those need, as torch."""
    leaf = isinstance(node, AccumulateGrad)
    # (a leaf's list is the engine's own, used for nothing after: no copy, so that the
    # reference count below sees every holder of the gradient)
    grads = _tensor_pre_hooks(node, grads if leaf else list(grads), create_graph)
    if node._pre_hooks:
        record.note_python("hook", node._pre_hooks)
        for hook in list(node._pre_hooks):
            new = hook(tuple(grads))
            if new is not None:
                grads = _node_hook_result(hook, tuple(grads), new)
    if leaf:
        g = grads[0]
        if node._hooks:
            accumulate_grad(node.variable, g, create_graph)
        else:
            grads[0] = None  # (this frame's `g` is then the engine's only reference to it)
            steal = _only_here(g)  # (not in the call below: its arguments hold `g` too)
            accumulate_grad(node.variable, g, create_graph, steal)
        out = []
    elif all(g is None for g in grads):
        out = [None] * len(node.next_functions)
    else:
        out = list(node.apply(grads, wanted) if isinstance(node, OpNode) else node.apply(grads))
    if node._hooks:
        record.note_python("hook", node._hooks)
        for hook in list(node._hooks):
            new = hook(tuple(out), tuple(grads))
            if new is not None:
                out = _node_hook_result(hook, tuple(out), new)
    return out


def _profiled_call(node, grads, create_graph, wanted):
    """_call, recorded as torch's profiler names a node's run."""
    start = time.time_ns()
    try:
        return _call(node, grads, create_graph, wanted)
    finally:
        rec = record.profiling
        if rec is not None:
            rec.add(f"autograd::engine::evaluate_function: {node.name()}", start, time.time_ns())


_accumulate_lock = threading.RLock()


def _only_here(g) -> bool:
    """Is `g` held by nothing but the caller's frame, and its memory by no other tensor
    (no view, alias or `.data` of it)? Then a leaf can keep it as its .grad, as torch's
    AccumulateGrad steals a gradient nothing else uses, instead of copying it. A view
    counts whatever else holds its base (sum_to's gradient of a broadcast operand, a part
    of cat's or of a gathered gradient): torch counts the uses of the view alone, and
    stores it detached; the engine then adds no gradient into that base in place, as its
    memory is held twice (_held_only_by)."""
    if g is None or g._sharding is not None or g._grad_fn is not None or g._requires_grad:
        return False
    sole = _sole_counts()  # (measured now: torch's compiler, run in this process, shifts them)
    if sys.getrefcount(g) != sole[0]:
        return False
    if g._viewed is None:
        return sys.getrefcount(g._storage) == sole[1]
    return g._viewed._grad_fn is None


class _Slot:
    __slots__ = ("value",)


def _count_in_callee(x) -> int:
    return sys.getrefcount(x)


def _sole_counts() -> tuple:
    """What _only_here counts for an object held only by its caller's variable, and for
    one held only by an object's slot, on this interpreter (the same shapes of call)."""
    held, slot = object(), _Slot()
    slot.value = object()
    return _count_in_callee(held), sys.getrefcount(slot.value)


def accumulate_grad(var, g, create_graph, steal=False):
    """torch's AccumulateGrad: the first gradient is stored (a copy, or `g` itself when
    `steal` says nothing else uses it and it is laid out as the leaf), later ones added, in
    place unless a graph of the gradient is being built; then post-accumulate hooks."""
    if g is None:
        return
    if var._grad_fn is not None:  # (a leaf written in place after detach_, as torch says)
        raise RuntimeError("leaf variable has been moved into the graph interior")
    if not var._requires_grad:  # (nothing to accumulate; torch still runs the hooks)
        run_post_accumulate_hooks(var)
        return
    with _accumulate_lock:  # two threads' backward into one leaf: neither sum is lost
        if var._grad is None:
            if steal and not create_graph and _obeys_layout(g, var):
                var._grad = g.detach() if g._is_view() else g  # (torch's: no view)
            else:
                var._grad = _copy_laid_out(g if create_graph else g.detach(), var)
        elif not create_graph:
            with grad_mode.no_grad():
                var._grad.add_(g)
        else:
            var._grad = var._grad + g
    run_post_accumulate_hooks(var)


def run_post_accumulate_hooks(var) -> None:
    """A leaf's post-accumulate-grad hooks, once its .grad holds the backward's gradient."""
    if var._post_acc_hooks:
        record.note_python("hook", var._post_acc_hooks)
        for hook in list(var._post_acc_hooks):
            if hook(var) is not None:
                raise RuntimeError("Tensor post accumulate grad hooks should return None.")


def _obeys_layout(g, var) -> bool:
    """torch's gradient layout contract: the .grad of a leaf whose elements fill a block of
    memory once each has the leaf's strides (a size-1 dim's aside, unless 0); any other
    leaf's .grad is row-major. Dims are the gradient's, as torch's check walks them: a leaf
    given another shape under no_grad (out=, set_, squeeze_) after its graph was made gets
    a gradient of its old shape, whose
    dims past the leaf's own meet the strides it lost (_stride_slots)."""
    if var._sharding is not None or g._sharding is not None:
        return True  # (a sharded gradient is laid out as its shards are)
    if not var._dense_block():
        return g.is_contiguous()
    var_strides = var._stride_slots()
    if g.dim() > len(var_strides):
        return False
    return all((a == b) if d != 1 else a != 0
               for d, a, b in zip(g.shape, g.stride(), var_strides))


def _copy_laid_out(g, var):
    """A copy of `g` that keeps the layout contract (_obeys_layout), as torch's
    AccumulateGrad stores a gradient it cannot steal (a copy_ when a graph is built)."""
    if var._sharding is not None or g._sharding is not None:
        return g.clone()
    if not var._dense_block():
        return g.clone(memory_format=contiguous_format)
    out = g.new_empty_strided(var.shape, var.stride(), dtype=var.dtype, device=var.device)
    return out.copy_(g)


def _retain(t, g):
    """torch's retain_grad hook on a non-leaf: store a copy, add out of place after."""
    if t._grad is None:
        t._grad = g.clone()
    else:
        t._grad = t._grad + g
