"""`distgrad.nn.parallel`: data parallelism over the workers (DistributedDataParallel), and
DataParallel as torch's runs without GPUs."""
from ..data_parallel import DataParallel, data_parallel
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel"]
