"""`distgrad.distributed.optim`: optimizers over distributed parameters."""
from .zero_redundancy_optimizer import ZeroRedundancyOptimizer

__all__ = ["ZeroRedundancyOptimizer"]
