"""`distgrad.nn.parallel`: data parallelism over the workers (DistributedDataParallel)."""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
