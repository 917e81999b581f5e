"""DistributedSampler, as torch.utils.data's: each of `num_replicas` ranks takes every
num_replicas-th index of one shuffle (seeded `seed + epoch`), padded or cut to an even share.

distgrad has one driver feeding every worker: DistributedDataParallel splits the driver's
batch over its workers itself. So a sampler made without `num_replicas` and `rank` while
distgrad.distributed runs is the whole dataset's (1 replica, rank 0), and outside it raises
torch's error for a missing process group.
"""
from __future__ import annotations

import math
from typing import Iterator, Optional

from ...creation import randperm
from ...generator import Generator
from .sampler import Sampler

__all__ = ["DistributedSampler"]


def _one_driver() -> int:
    from ... import distributed

    if not distributed.is_initialized():
        raise ValueError("Default process group has not been initialized, please make sure to "
                         "call init_process_group.")
    return 1


class DistributedSampler(Sampler[int]):
    """This rank's share of the indices; `set_epoch(e)` before each pass reshuffles."""

    def __init__(self, dataset, num_replicas: Optional[int] = None, rank: Optional[int] = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None:
            num_replicas = _one_driver()
        if rank is None:
            rank = _one_driver() - 1
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas
        self.shuffle, self.seed = shuffle, seed

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            g = Generator().manual_seed(self.seed + self.epoch)
            indices = randperm(n, generator=g).tolist()
        else:
            indices = list(range(n))
        if self.drop_last:
            indices = indices[:self.total_size]
        else:  # (repeated from the start to an even share)
            padding = self.total_size - n
            indices += (indices * math.ceil(padding / n))[:padding] if padding > n else \
                indices[:padding]
        return iter(indices[self.rank:self.total_size:self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
