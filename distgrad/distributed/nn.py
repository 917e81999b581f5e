"""Megatron-style tensor-parallel layers: nn.Linear parallelized by the plan's styles
(distgrad.distributed.tensor.parallel), kept as classes for code that builds them directly.

`ColumnParallelLinear` splits the output features over the workers (its output is sharded
on the last dim); `RowParallelLinear` splits the input features, so it takes that sharded
output as it is, multiplies locally, and its output is a pending sum that the next op
all-reduces once. The pair is an MLP block with one all-reduce and no gather of weights.

    block = nn.Sequential(ColumnParallelLinear(64, 256), nn.ReLU(), RowParallelLinear(256, 10))
"""
from __future__ import annotations

from .. import nn
from . import runtime
from .sharding import Shard
from .tensor.parallel import ColwiseParallel, RowwiseParallel


class _ParallelLinear(nn.Linear):
    style = None

    def __init__(self, in_features: int, out_features: int, bias: bool = True, workers=None,
                 _from=None):
        super().__init__(in_features, out_features, bias=bias)  # torch's initialisation
        if _from is not None:
            self.load_state_dict(_from.state_dict())
        self.workers = list(workers) if workers is not None else runtime.workers()
        self.style._apply(self, [self.workers])  # one tensor-parallel group

    @classmethod
    def from_linear(cls, linear, workers=None, **kwargs):
        return cls(linear.in_features, linear.out_features, linear.bias is not None, workers,
                   _from=linear, **kwargs)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"workers={self.workers}")


class ColumnParallelLinear(_ParallelLinear):
    """y = x Wᵀ + b with W's rows (the output features) split over `workers`
    (ColwiseParallel); `gather_output` returns y whole in the driver."""

    style = ColwiseParallel()

    def __init__(self, in_features: int, out_features: int, bias: bool = True, workers=None,
                 gather_output: bool = False, _from=None):
        super().__init__(in_features, out_features, bias, workers, _from)
        self.gather_output = gather_output

    def forward(self, x):
        y = super().forward(x)
        return y.full_tensor() if self.gather_output else y


class RowParallelLinear(_ParallelLinear):
    """y = x Wᵀ + b with W's columns (the input features) split over `workers`
    (RowwiseParallel): a pending sum of the workers' products, the bias in the first."""

    style = RowwiseParallel()


__all__ = ["ColumnParallelLinear", "RowParallelLinear", "Shard"]
