"""A backward in two parts: the gradients of some inputs now, the weights' later.

Zero-bubble pipeline schedules send a stage's input gradient upstream as soon as it is
computed and run the weight gradients when the stage would otherwise wait. Here the
graph from the outputs splits in three:
  - the weight side: the weights' own nodes and those that only pass a gradient on to
    them without reading a tensor (`w.t()`), run by the second part;
  - "frontier" nodes, with an edge into the weight side (a Linear's matmul): the first
    part records the gradients that reach them, and the second part applies their VJPs
    for the weight side's edges only (aᵀ·g);
  - the rest, which leads to an input or to the frontier (the activations' gradients,
    also within a first stage whose input needs none), run by the first part, which keeps
    their saved tensors for the second.
The first part is `engine.execute(..., capture=True)` on the inputs and the frontier; the
second is one more `engine.execute` on the weights, rooted at the frontier's edges. What a
part runs is the same ops a whole backward runs, in two runs of the engine.
"""
from __future__ import annotations

from . import differentiate, engine, grad_mode
from .differentiate import _make_root_grads, _roots
from .graph import AccumulateGrad, OpNode


class WeightGradients:
    """The second part: `run()` accumulates the weights' gradients into their `.grad` and
    frees what the first part kept."""

    def __init__(self, frontier, roots, weight_edges, kept, p_only, other_leaves=False):
        self._frontier = frontier  # [(node, grads that reached it)]
        self._roots = roots  # root gradients that go straight to weight-only nodes
        self._weight_edges = weight_edges
        self._kept = kept  # nodes the first part ran and kept for this part
        self._p_only = p_only  # the nodes of the weight-only part (sets the VJPs' needs)
        self.other_leaves = other_leaves  # leaves besides the weights given (every_leaf)
        self.done = False

    def run(self) -> None:
        run_together([self])


def run_together(parts, scale=None) -> None:
    """Run the weight parts of several backwards (a pipeline stage's micro-batches) as one:
    where the parts' graphs have the same shape and a frontier node's op can stack rows
    (`OpDef.stack_rows`: a Linear's weight gradient, aᵀ·g), that node's VJP runs once on the
    micro-batches' saved inputs and gradients stacked on dim 0, and the sum goes on through
    the first part's edges; every other node runs per part. Then one engine run takes the
    gradients on to the weights' `.grad`. When a hook watches the weight side, the parts
    run one by one instead (each backward's gradient is what the hook sees). `scale` (only
    where `scalable(parts)`): the weights' gradients come multiplied by it, applied to the
    gradients reaching the frontier, smaller than the weights' (a power of two: exact)."""
    if any(p.done for p in parts):
        raise RuntimeError("the weight gradients of this backward were computed already")
    for p in parts:
        p.done = True
    if len(parts) > 1 and _hooked(parts):  # hooks see each backward's gradient, as torch's
        for p in parts:
            _run_parts([p])
        return
    _run_parts(parts, scale)


def scalable(parts) -> bool:
    """Whether scaling these parts' weight gradients (run_together's `scale`) gives what
    scaling the weights' `.grad` after would: no hook sees them, and no other leaf is among
    the weights."""
    return not any(p.other_leaves for p in parts) and not _hooked(parts)


def _hooked(parts) -> bool:
    """Does a hook watch the weight side of any part (a weight's hooks, or a node's)?"""
    for p in parts:
        for node in p._p_only:
            if any(getattr(node, a, None) for a in _NODE_HOOKS):
                return True
            var = getattr(node, "variable", None)  # (an AccumulateGrad's leaf)
            if var is not None and (var._hooks or var._post_acc_hooks):
                return True
    return False


_NODE_HOOKS = ("_hooks", "_pre_hooks", "_tensor_pre_hooks", "_retain_grad")


def _run_parts(parts, scale=None) -> None:
    weight_edges = {}
    for p in parts:
        weight_edges.update(dict.fromkeys(p._weight_edges))
    roots = _frontier_gradients(parts, scale)
    for p in parts:
        for node in p._kept:
            node.release()
        p._frontier = p._kept = p._roots = None
    if roots and weight_edges:
        engine.execute(roots, False, False, list(weight_edges), capture=False,
                       part_of_whole=True)


def _frontier_gradients(parts, scale=None) -> list:
    """The parts' frontier VJPs for the weight side's edges, as the roots of its run (the
    gradients reaching them multiplied by `scale`, if given)."""
    def scaled(g):
        return g if scale is None or g is None else g * scale

    roots = []
    for p in parts:
        roots.extend((edge, scaled(g)) for edge, g in p._roots)
    with grad_mode.no_grad():  # (a backward without create_graph: its VJPs record nothing)
        for group in _aligned(parts):
            nodes = [node for node, _, _ in group]
            weight_side = group[0][2]._p_only
            stacked = _stacked_rows(nodes, weight_side)
            if stacked is not None and all(grads[0] is not None for _, grads, _ in group):
                out = _stacked_vjp(nodes, [grads for _, grads, _ in group], stacked, scaled)
                _collect(nodes[0], out, weight_side, roots)
                continue
            for node, grads, part in group:
                if all(g is None for g in grads):
                    continue
                grads = [scaled(g) for g in grads]
                # (a custom Function's node computes all its gradients; the others dropped)
                out = (node.apply(list(grads), part._p_only) if isinstance(node, OpNode)
                       else node.apply(list(grads)))
                _collect(node, out, part._p_only, roots)
    return roots


def _collect(node, out, p_only, roots) -> None:
    """A frontier node's gradients for the weight-only part, as roots of its engine run."""
    for i, (child, nr) in enumerate(node.next_functions):
        if child is None or child not in p_only:
            continue
        g = out[i] if i < len(out) else None
        if g is not None:
            roots.append(((child, nr), engine.validated(node, i, g)))


def _aligned(parts) -> list:
    """The parts' frontier entries side by side, [(node, grads, part) per part] per
    position, when every part's frontier has the same nodes in the same order (by name);
    else each entry alone."""
    frontiers = [[(n, grads, p) for n, grads in p._frontier] for p in parts]
    names = [[n.name() for n, _, _ in f] for f in frontiers]
    if len(parts) > 1 and all(x == names[0] for x in names):
        return [list(entries) for entries in zip(*frontiers)]
    return [[entry] for f in frontiers for entry in f]


def _stacked_rows(nodes, p_only):
    """The input positions to stack on dim 0 for one VJP over all `nodes`, or None."""
    if len(nodes) < 2 or not all(type(n) is type(nodes[0]) and isinstance(n, OpNode)
                                 for n in nodes):
        return None
    first = nodes[0]
    if first.op.stack_rows is None or first.n_outputs != 1 or not all(
            _same_attrs(n.attrs, first.attrs) for n in nodes):
        return None
    needs = [False] * len(first._metas)
    for slot, (child, _) in zip(first._slots, first.next_functions):
        needs[slot] = child is not None and child in p_only
    rows = first.op.stack_rows(needs, [m[0] if m else () for m in first._metas])
    if rows is None or any(n._slots != first._slots or [
            m for i, m in enumerate(n._metas) if i not in rows] != [
            m for i, m in enumerate(first._metas) if i not in rows] for n in nodes):
        return None  # (only the stacked inputs may differ, in their rows)
    for k, slot in enumerate(first._slots):  # the sum goes on through the first node's edge
        if needs[slot] and not _same_map([n.next_functions[k] for n in nodes]):
            return None
    return rows, needs


def _stacked_vjp(nodes, grads, stacked, scaled) -> list:
    from ..ops.functions import cat

    rows, needs = stacked
    first = nodes[0]
    ctx = first.context()
    contexts = [n.context() for n in nodes]
    items = [ctx._inputs._items[i] for i in range(len(ctx._inputs))]
    for i in rows:
        items[i] = cat([c[i] for c in contexts], dim=0)
    ctx._inputs = type(ctx._inputs)(items, first)
    ctx.needs = needs
    g = scaled(cat([gs[0] for gs in grads], dim=0))
    result = first.op.vjp(ctx, g)
    if not isinstance(result, (tuple, list)):
        result = (result,)
    return [result[slot] if slot < len(result) else None for slot in first._slots]


def _same_map(edges, depth: int = 4) -> bool:
    """Do these edges take a gradient on the same way (one node, or nodes of one kind with
    nothing saved and the same attrs leading on the same way: each micro-batch's `w.t()`),
    so that their sum can go through the first alone?"""
    nodes = [n for n, _ in edges]
    if any(nr != edges[0][1] for _, nr in edges):
        return False
    if all(n is nodes[0] for n in nodes):
        return True
    if depth == 0 or not all(isinstance(n, OpNode) and type(n) is type(nodes[0]) and
                             not n.has_saved() and _same_attrs(n.attrs, nodes[0].attrs)
                             for n in nodes):
        return False
    return all(_same_map(list(column), depth - 1)
               for column in zip(*[n.next_functions for n in nodes]))


def _same_attrs(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # (attrs holding arrays: not compared, not stacked)
        return False


def backward_input(outputs, grad_outputs, inputs, weights, every_leaf=False):
    """d(outputs)/d(inputs) now (a tuple, None for an input the outputs do not reach), and
    a `WeightGradients` whose `run()` accumulates d(outputs)/d(weights) into the weights'
    `.grad` later. `outputs` with `grad_outputs` as in autograd.backward; `inputs` and
    `weights` are tensors that require grad (weights: leaves). With `every_leaf`, every
    other leaf the outputs reach is a weight too (as autograd.backward accumulates into
    each)."""
    differentiate.passes += 1  # (a backward pass, as distgrad.compile counts them)
    outputs, grad_outputs = list(outputs), list(grad_outputs)
    roots = _roots(outputs, _make_root_grads(outputs, grad_outputs))
    root_nodes = list(dict.fromkeys(node for (node, _), _g in roots))
    _deps, order = engine._discover(root_nodes)
    input_edges = [t._gradient_edge() for t in inputs]
    weight_edges = [w._gradient_edge() for w in weights if w._requires_grad]
    others = []
    if every_leaf:
        known = {n for n, _ in input_edges + weight_edges}
        others = [(n, 0) for n in order if isinstance(n, AccumulateGrad) and n not in known]
        weight_edges += others
    weight_side = _weight_side(order, {n for n, _ in weight_edges})
    frontier = [n for n in order if n not in weight_side and any(
        c in weight_side for c, _ in n.next_functions if c is not None)]
    # The first part: every node that leads to an input or to the frontier, each VJP
    # computing only the gradients on those ways; the frontier's gradients are recorded
    # as they arrive (by a pre-hook where the node runs, else captured as an input's).
    edges = input_edges + [(n, nr) for n in frontier for nr in range(n.n_outputs)]
    direct = [r for r in roots if r[0][0] in weight_side]  # outputs reached only by weights
    seen = {}
    handles = [n.register_prehook(_recorder(seen, n)) for n in frontier]
    try:
        got = engine.execute(roots, True, False, edges, capture=True,
                             part_of_whole=True) if edges else []
    finally:
        for h in handles:
            h.remove()
    runs, _ = engine._exec_info(order, {n for n, _ in edges}, run_inputs=False)
    at_frontier = iter(got[len(input_edges):])
    for n in frontier:
        arrived = tuple(next(at_frontier) for _ in range(n.n_outputs))
        seen.setdefault(n, arrived)
    part = WeightGradients([(n, seen[n]) for n in frontier], direct, weight_edges,
                           [n for n in order if n in runs or n in seen], weight_side,
                           other_leaves=bool(others))
    return tuple(got[:len(input_edges)]), part


def _weight_side(order, weight_nodes) -> set:
    """The weights' own nodes, and the nodes that only carry a gradient on to them without
    reading any tensor (`w.t()`, a view of a weight): what the second part runs after the
    frontier's weight-gradient VJPs (a Linear's aᵀ·g)."""
    side = set(weight_nodes)
    for node in reversed(order):  # children before parents
        if node in side or not isinstance(node, OpNode) or node._saved or node._saved_outs:
            continue
        children = [c for c, _ in node.next_functions if c is not None]
        if children and all(c in side for c in children):
            side.add(node)
    return side


def _recorder(seen, node):
    def record(grads):
        seen[node] = tuple(grads)
    return record
