"""The one backward loop.

It counts the exact dependencies of the subgraph that leads from the roots to what was
asked for (torch's SMART mode: nodes that do not lead to a requested input never run),
then runs ready nodes in topological order, newest first. A node's VJP is written in
distgrad ops, so when its saved tensors live on a worker the VJP's ops are queued for
that worker; the coordinator sends each worker its run of ops in one message. The loop
itself never looks at gradient values.
"""
from __future__ import annotations

import heapq
import itertools

from . import grad_mode
from .graph import AccumulateGrad


def _discover(root_nodes):
    """For each node reachable from the roots, how many edges point at it."""
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
    return deps


def _needed(root_nodes, deps, targets):
    """Nodes from which some target can be reached (these, and only these, run)."""
    remaining = dict(deps)
    topo = []
    frontier = [n for n in root_nodes if remaining.get(n, 0) == 0]
    while frontier:
        node = frontier.pop()
        topo.append(node)
        for child, _ in node.next_functions:
            if child is None:
                continue
            remaining[child] -= 1
            if remaining[child] == 0:
                frontier.append(child)
    needed = set()
    for node in reversed(topo):  # children before parents
        if node in targets or any(c in needed for c, _ in node.next_functions if c is not None):
            needed.add(node)
    return needed


def _validate(node, i, g):
    """Make a VJP's gradient match the input it is for (shape, dtype), as torch does."""
    meta = node._metas[node._slots[i]] if hasattr(node, "_slots") else None
    if meta is None or g is None:
        return g
    shape, dtype, _ = meta
    if tuple(g.shape) != tuple(shape):
        from ..ops.rules import unbroadcast

        try:
            g = unbroadcast(g, shape)
        except Exception:
            g = None
        if g is None or tuple(g.shape) != tuple(shape):
            raise RuntimeError(f"Function {node.name()} returned an invalid gradient at index {i} - "
                               f"got [{', '.join(map(str, g.shape if g is not None else ()))}] but "
                               f"expected shape compatible with [{', '.join(map(str, shape))}]")
    if g.dtype is not dtype:
        g = g.to(dtype)
    return g


def _run_tensor_hooks(hooks, g):
    for hook in list(hooks):
        new = hook(g)
        if new is not None:
            g = new
    return g


def execute(roots, keep_graph: bool, create_graph: bool, targets=None, accumulate: bool = True):
    """Run backward from `roots`, a list of ((node, input_nr), grad).

    targets: {(node, input_nr): key} to capture (autograd.grad, or backward(inputs=)).
    With accumulate, leaf gradients go to `.grad` (restricted to targets when given);
    without, the captured gradients are returned as {key: grad}.
    """
    captured = {}
    root_nodes = []
    for (node, _), _g in roots:
        if node not in root_nodes:
            root_nodes.append(node)
    deps = _discover(root_nodes)
    needed = _needed(root_nodes, deps, {edge[0] for edge in targets}) if targets is not None else None

    buffers = {}
    for (node, nr), g in roots:
        buf = buffers.setdefault(node, [None] * node.n_outputs)
        buf[nr] = g if buf[nr] is None else buf[nr] + g

    counter = itertools.count()
    ready = []
    for node in root_nodes:
        if deps.get(node, 0) == 0:
            heapq.heappush(ready, (-node._seq, next(counter), node))

    with grad_mode.set_grad_enabled(create_graph):
        while ready:
            _, _, node = heapq.heappop(ready)
            grads = buffers.pop(node, None) or [None] * node.n_outputs
            if isinstance(node, AccumulateGrad):
                _accumulate(node, grads[0], targets, captured, accumulate, create_graph)
                continue
            grads = _pre_hooks(node, grads, targets, captured, accumulate, create_graph)
            runs = needed is None or node in needed
            if runs:
                input_grads = _apply(node, grads)
                if not keep_graph:
                    node.release()
            for i, (child, nr) in enumerate(node.next_functions):
                if child is None or (needed is not None and child not in needed):
                    continue
                if runs:
                    g = input_grads[i] if i < len(input_grads) else None
                    if g is not None:
                        g = _validate(node, i, g)
                        buf = buffers.setdefault(child, [None] * child.n_outputs)
                        buf[nr] = g if buf[nr] is None else buf[nr] + g
                deps[child] -= 1
                if deps[child] == 0:
                    heapq.heappush(ready, (-child._seq, next(counter), child))
    return captured


def _apply(node, grads):
    if node._pre_hooks:
        for hook in node._pre_hooks:
            new = hook(tuple(grads))
            if new is not None:
                grads = list(new)
    if all(g is None for g in grads):
        out = [None] * len(node.next_functions)
    else:
        out = list(node.apply(grads))
    if node._hooks:
        for hook in node._hooks:
            new = hook(tuple(out), tuple(grads))
            if new is not None:
                out = list(new)
    return out


def _pre_hooks(node, grads, targets, captured, accumulate, create_graph):
    """Tensor hooks, retain_grad and capture for each output of a non-leaf node."""
    for nr in range(node.n_outputs):
        g = grads[nr]
        if g is None:
            continue
        if node._tensor_pre_hooks and nr in node._tensor_pre_hooks:
            g = _run_tensor_hooks(node._tensor_pre_hooks[nr], g)
        if node._retain_grad and nr in node._retain_grad:
            t = node._retain_grad[nr]()
            if t is not None and t.grad_fn is node:
                _store_grad(t, g, create_graph)
        if targets and (node, nr) in targets:
            key = targets[(node, nr)]
            if accumulate:
                _store_grad(key, g, create_graph)
            else:
                captured[key] = g
        grads[nr] = g
    return grads


def _accumulate(acc, g, targets, captured, accumulate, create_graph):
    var = acc.variable
    if g is None:
        return
    if var._hooks:
        g = _run_tensor_hooks(var._hooks, g)
    if targets is not None:
        key = targets.get((acc, 0))
        if key is None:
            return
        if not accumulate:
            captured[key] = g
            return
    _store_grad(var, g, create_graph)
    if var._post_acc_hooks:
        for hook in list(var._post_acc_hooks):
            hook(var)


def _store_grad(t, g, create_graph):
    """torch's AccumulateGrad: first gradient is stored (detached unless create_graph),
    later ones are added, in place unless building a graph."""
    if t._grad is None:
        if create_graph:
            t._grad = g
        else:
            with grad_mode.no_grad():
                t._grad = g.detach().clone()
    elif create_graph or t._grad._requires_grad:
        with grad_mode.enable_grad() if create_graph else grad_mode.no_grad():
            t._grad = t._grad + g
    else:
        with grad_mode.no_grad():
            t._grad.add_(g)
