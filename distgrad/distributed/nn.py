"""Megatron-style tensor-parallel layers over sharded weights.

`ColumnParallelLinear` splits the output features over the workers (its output is sharded
on the last dim); `RowParallelLinear` splits the input features, so it takes that sharded
output as it is, multiplies locally and all-reduces the partial sums once. The pair is an
MLP block with one all-reduce and no gather of weights or activations in between.

    block = nn.Sequential(ColumnParallelLinear(64, 256), nn.ReLU(), RowParallelLinear(256, 10))
"""
from __future__ import annotations

from .. import nn
from ..nn.parameter import Parameter
from .sharding import Shard, is_sharded, matmul_add_all_reduce, shard


def _init_linear(in_features, out_features, bias):
    # torch's nn.Linear initialisation, on the full weight, before it is split.
    return nn.Linear(in_features, out_features, bias=bias)


class ColumnParallelLinear(nn.Module):
    """y = x Wᵀ + b with W's rows (the output features) split over `workers`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, workers=None,
                 gather_output: bool = False, _from=None):
        super().__init__()
        full = _from if _from is not None else _init_linear(in_features, out_features, bias)
        self.in_features, self.out_features = in_features, out_features
        self.gather_output = gather_output
        self.weight = Parameter(shard(full.weight.detach(), 0, workers))
        self.bias = Parameter(shard(full.bias.detach(), 0, workers)) if full.bias is not None \
            else None
        self.workers = self.weight._sharding.workers

    @classmethod
    def from_linear(cls, linear, workers=None, gather_output=False):
        return cls(linear.in_features, linear.out_features, linear.bias is not None, workers,
                   gather_output, _from=linear)

    def forward(self, x):
        y = x.matmul(self.weight.t())  # replicated x @ column shards: sharded on the last dim
        if self.bias is not None:
            y = y + self.bias
        return y.full_tensor() if self.gather_output else y

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"workers={self.workers}")


class RowParallelLinear(nn.Module):
    """y = x Wᵀ + b with W's columns (the input features) split over `workers`; the
    partial products are summed once (all-reduce) and the result is replicated."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, workers=None,
                 _from=None):
        super().__init__()
        full = _from if _from is not None else _init_linear(in_features, out_features, bias)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(shard(full.weight.detach(), 1, workers))
        self.workers = self.weight._sharding.workers
        self.bias = Parameter(full.bias.detach().to(self.workers[0])) if full.bias is not None \
            else None

    @classmethod
    def from_linear(cls, linear, workers=None):
        return cls(linear.in_features, linear.out_features, linear.bias is not None, workers,
                   _from=linear)

    def forward(self, x):
        if not is_sharded(x):
            x = shard(x, -1, self.workers)  # a plain input is split to match the weight
        # partial products, the bias added to the first, one all-reduce
        return matmul_add_all_reduce(x, self.weight.t(), self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"workers={self.workers}")


__all__ = ["ColumnParallelLinear", "RowParallelLinear", "Shard"]
