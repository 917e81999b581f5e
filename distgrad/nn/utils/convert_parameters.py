"""parameters_to_vector and vector_to_parameters: all parameters as one flat vector, and
back (as torch.nn.utils)."""
from __future__ import annotations

from typing import Iterable

from ...tensor import Tensor


def _check(t) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {type(t).__name__}")


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and concatenated (differentiable: CatBackward0)."""
    from ...ops.functions import cat

    return cat([p.view(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Each parameter's `.data` set to its slice of vec, in order."""
    _check(vec)
    start = 0
    for param in parameters:
        _check(param)
        n = param.numel()
        param.data = vec[start:start + n].view_as(param).data
        start += n
