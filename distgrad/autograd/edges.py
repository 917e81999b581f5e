"""torch.autograd.graph's edges and version counter: `GradientEdge`, `get_gradient_edge`
(autograd.grad takes an edge as an input: the gradient flowing into that node's input,
what torch's pipelining uses to split a backward) and `increment_version`."""
from __future__ import annotations

from typing import NamedTuple


class GradientEdge(NamedTuple):
    """Where a gradient flows: into `node` (a grad_fn, or a leaf's AccumulateGrad), as the
    gradient of its output `output_nr`."""

    node: object
    output_nr: int
    ownership_token: object = None


def get_gradient_edge(tensor) -> GradientEdge:
    """The edge `tensor`'s gradient flows into (made for a leaf that has none yet)."""
    if not tensor.requires_grad:
        raise RuntimeError("It is not possible to get the gradient edge for a Tensor that does "
                           "not require gradients")
    return GradientEdge(*tensor._gradient_edge())


def increment_version(tensor) -> None:
    """Count an in-place change made outside distgrad's ops (a tensor or several): what an op
    saved of it is then stale, as after any in-place op."""
    for t in (tensor if isinstance(tensor, (list, tuple)) else (tensor,)):
        t._storage.wrote_outside(t)
