"""`distgrad.utils.data`: datasets, samplers and the DataLoader, as torch.utils.data's.

Batches are made in the driver process; with `num_workers > 0` by stand-ins for torch's
worker processes, which draw what torch's workers draw (dataloader.py, workers.py).
Tensors keep their device, so a TensorDataset on worker:0 yields batches on worker:0.
Shuffles and splits draw torch's numbers from torch's seeds.
"""
from __future__ import annotations

from .collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .distributed import DistributedSampler
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, StackDataset,
                      Subset, TensorDataset, random_split)
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                      SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
           "DistributedSampler", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "default_collate", "default_convert",
           "get_worker_info", "random_split"]
