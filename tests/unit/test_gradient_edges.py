"""torch.autograd.graph's GradientEdge, get_gradient_edge and increment_version, against
torch: a gradient asked for at an edge (a non-leaf's node, a leaf's AccumulateGrad), the
errors, and a version bump that makes what an op saved stale."""
from __future__ import annotations

from torch_twin import attempt, same


def test_grad_at_a_gradient_edge():
    def program(T):
        from importlib import import_module

        graph = import_module(T.__name__ + ".autograd.graph")
        x = T.tensor([1.0, 2.0], requires_grad=True)
        h = x * 2
        y = (h ** 2).sum() + (x * 3).sum()
        e = graph.get_gradient_edge(h)
        at_edge = T.autograd.grad(y, e, retain_graph=True)
        both = T.autograd.grad(y, [x, e, graph.get_gradient_edge(x)], retain_graph=True)
        unused = T.autograd.grad(y, [graph.get_gradient_edge(x * 5)], allow_unused=True,
                                 retain_graph=True)
        used = T.autograd.grad(y, [e], materialize_grads=True, retain_graph=True)
        refused = attempt(lambda: T.autograd.grad(y, [graph.get_gradient_edge(x * 5)],
                                                  materialize_grads=True))
        no_grad = attempt(lambda: graph.get_gradient_edge(T.ones(2)))
        return (at_edge, both, unused, used, refused, no_grad, type(e.node).__name__,
                e.output_nr, isinstance(e, tuple))

    same(program)


def test_increment_version_makes_saved_tensors_stale():
    def program(T):
        from importlib import import_module

        graph = import_module(T.__name__ + ".autograd.graph")
        x = T.tensor([1.0, 2.0], requires_grad=True)
        y = x * 1
        z = y * y
        before = y._version
        graph.increment_version(y)
        graph.increment_version([y, y])
        return before, y._version, attempt(lambda: z.sum().backward())

    same(program)
