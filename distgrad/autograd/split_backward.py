"""A backward in two parts: the gradients of some inputs now, the weights' later.

Zero-bubble pipeline schedules send a stage's input gradient upstream as soon as it is
computed and run the weight gradients when the stage would otherwise wait. Here the
graph from the outputs splits in three:
  - the nodes that lead to an input (run by the first part, which keeps their saved
    tensors for the second);
  - the nodes that lead only to weights (run by the second part);
  - "frontier" nodes, of the first kind with an edge into the second: the first part
    records the gradients that reach them, and the second part applies their VJPs again
    for those edges only (a Linear's matmul node gives its input's gradient in the first
    part, its weight's in the second).
The first part is `engine.execute(..., capture=True)` on the inputs; the second is one
more `engine.execute` on the weights, rooted at the frontier's edges. What a part runs is
the same ops a whole backward runs, in two runs of the engine.
"""
from __future__ import annotations

from . import engine
from .differentiate import _make_root_grads, _roots
from .graph import Node


class WeightGradients:
    """The second part: `run()` accumulates the weights' gradients into their `.grad` and
    frees what the first part kept."""

    def __init__(self, frontier, roots, weight_edges, kept, p_only):
        self._frontier = frontier  # [(node, grads that reached it)]
        self._roots = roots  # root gradients that go straight to weight-only nodes
        self._weight_edges = weight_edges
        self._kept = kept  # nodes the first part ran and kept for this part
        self._p_only = p_only  # the nodes of the weight-only part (sets the VJPs' needs)
        self.done = False

    def run(self) -> None:
        if self.done:
            raise RuntimeError("the weight gradients of this backward were computed already")
        self.done = True
        roots = list(self._roots)
        for node, grads in self._frontier:
            if all(g is None for g in grads):
                continue
            # (a custom Function's node computes all its gradients; the others are dropped)
            out = (node.apply(list(grads), self._p_only) if isinstance(node, Node)
                   else node.apply(list(grads)))
            for i, (child, nr) in enumerate(node.next_functions):
                if child is None or child not in self._p_only:
                    continue
                g = out[i] if i < len(out) else None
                if g is not None:
                    roots.append(((child, nr), engine._validate(node, i, g)))
        for node in self._kept:
            node.release()
        self._frontier = self._kept = None
        if roots and self._weight_edges:
            engine.execute(roots, False, False, self._weight_edges, capture=False)


def backward_input(outputs, grad_outputs, inputs, weights):
    """d(outputs)/d(inputs) now (a tuple, None for an input the outputs do not reach), and
    a `WeightGradients` whose `run()` accumulates d(outputs)/d(weights) into the weights'
    `.grad` later. `outputs` with `grad_outputs` as in autograd.backward; `inputs` and
    `weights` are tensors that require grad (weights: leaves)."""
    outputs, grad_outputs = list(outputs), list(grad_outputs)
    roots = _roots(outputs, _make_root_grads(outputs, grad_outputs))
    root_nodes = list(dict.fromkeys(node for (node, _), _g in roots))
    _deps, order = engine._discover(root_nodes)
    input_edges = [t._gradient_edge() for t in inputs]
    weight_edges = [w._gradient_edge() for w in weights if w._requires_grad]
    runs_i, wanted_i = engine._exec_info(order, {n for n, _ in input_edges}, run_inputs=False)
    _, wanted_w = engine._exec_info(order, {n for n, _ in weight_edges}, run_inputs=True)
    p_only = wanted_w - wanted_i

    frontier = [n for n in order if n in runs_i and any(
        c in p_only for c, _ in n.next_functions if c is not None)]
    seen = {}
    handles = [n.register_prehook(_recorder(seen, n)) for n in frontier]
    try:
        grads = engine.execute(roots, True, False, input_edges, capture=True) if inputs else []
    finally:
        for h in handles:
            h.remove()
    direct = [r for r in roots if r[0][0] in p_only]  # outputs reached only by weights
    part = WeightGradients([(n, seen[n]) for n in frontier if n in seen], direct, weight_edges,
                           [n for n in order if n in runs_i], p_only)
    return tuple(grads), part


def _recorder(seen, node):
    def record(grads):
        seen[node] = tuple(grads)
    return record
