"""DataLoader as torch.utils.data's: batches of a dataset's samples, in the order of a
sampler, collated by `collate_fn`.

Loading runs in the driver process. With `num_workers > 0` the batches are still made
in-process, one after the other, by stand-ins for torch's worker processes (workers.py):
each with its own seeded random streams and WorkerInfo, so a program gets the batches and
the random augmentations torch's workers give it; `persistent_workers` keeps them (and
their streams) from one pass to the next, as torch keeps its processes. The samples'
tensors stay where they live, so a dataset of worker tensors gives batches on that worker.
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Any, Callable, Iterable, Optional

from ...creation import random_stream
from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from .workers import LoaderWorker, get_worker_info

__all__ = ["DataLoader", "get_worker_info"]


class _InfiniteConstantSampler(Sampler):
    """The index sampler of an iterable dataset: None forever (the dataset knows its order)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterate over `dataset` in batches of `batch_size` (None: one sample at a time,
    unbatched), shuffled with `shuffle=True` (from `generator` if given), or in the order of
    `sampler` / `batch_sampler`.

    >>> ds = TensorDataset(distgrad.arange(5.), distgrad.arange(5))
    >>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    """

    _initialized = False

    def __init__(self, dataset: Dataset, batch_size: Optional[int] = 1,
                 shuffle: Optional[bool] = None, sampler: Optional[Sampler | Iterable] = None,
                 batch_sampler: Optional[Sampler | Iterable] = None, num_workers: int = 0,
                 collate_fn: Optional[Callable] = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Optional[Callable] = None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor: Optional[int] = None,
                 persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order
        self._iterable = isinstance(dataset, IterableDataset)

        if self._iterable:
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._IterableDataset_len_called = None
        self._iterator = None  # persistent workers' iterator, reset for each pass
        self._initialized = True
        self._check_worker_number_rationality()

    def __setattr__(self, attr: str, val) -> None:
        if self._initialized and attr in ("batch_size", "batch_sampler", "sampler", "drop_last",
                                          "dataset", "persistent_workers"):
            raise ValueError(f"{attr} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self) -> "_DataLoaderIter":
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def _get_iterator(self) -> "_DataLoaderIter":
        if self.num_workers > 0:
            self._check_worker_number_rationality()
        return _DataLoaderIter(self)

    def _check_worker_number_rationality(self) -> None:
        """torch's warning for more workers than the CPUs this process may use."""
        if not self.num_workers:
            return
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            os.cpu_count()
        if usable is not None and self.num_workers <= usable:
            return
        suggested = ("DataLoader is not able to compute a suggested max number of worker in "
                     "current system." if usable is None else
                     f"Our suggested max number of worker in current system is {usable}"
                     f"{'' if hasattr(os, 'sched_getaffinity') else ' (`cpuset` is not taken into account)'}"
                     ", which is smaller than what this DataLoader is going to create.")
        warnings.warn(f"This DataLoader will create {self.num_workers} worker processes in "
                      f"total. {suggested} Please be aware that excessive worker creation might "
                      "get DataLoader running slow or even freeze, lower the worker number to "
                      "avoid potential slowness/freeze if necessary.", stacklevel=3)

    def __len__(self) -> int:
        if not self._iterable:
            return len(self._index_sampler)
        length = self._IterableDataset_len_called = len(self.dataset)
        if self.batch_size is not None:
            length = length // self.batch_size if self.drop_last else \
                math.ceil(length / self.batch_size)
        return length


def _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers) -> None:
    if num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                         "disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                         "let num_workers > 0 to enable multiprocessing, otherwise set "
                         "prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")


class _DataLoaderIter:
    """One pass over a DataLoader (or, with persistent workers, each pass: `_reset`):
    torch's single-process iterator (fetch, then collate), or its multi-process one with
    its workers stood for in-process (workers.py)."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._dataset = loader.dataset
        self._collate_fn = loader.collate_fn
        self._auto_collation = loader._auto_collation
        self._index_sampler = loader._index_sampler
        self._sampler_iter = iter(self._index_sampler)
        if loader.pin_memory and loader.pin_memory_device:
            warnings.warn("pin_memory_device is deprecated, the current accelerator will be "
                          "used as the device,ignore pin_memory_device="
                          f"'{loader.pin_memory_device}'.", stacklevel=3)
        if loader.pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, "
                          "then device pinned memory won't be used.", stacklevel=3)
        # torch draws each pass's base seed (for its worker processes) here, before the
        # sampler's first draw: drawn too, so the shuffles that follow are torch's
        self._base_seed = int(random_stream(loader.generator).randint(0, 2 ** 63, ()))
        self._workers = [LoaderWorker(k, loader.num_workers, self._base_seed, self._dataset,
                                      loader.worker_init_fn)
                         for k in range(loader.num_workers)]
        self._reset(loader, first_iter=True)

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        if not first_iter:
            self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._tasks = 0  # batches handed to the workers in turn this pass
        if not loader._iterable:
            return
        if not self._workers:
            self._stream = _StreamFetcher(iter(self._dataset), loader.drop_last)
            return
        for w in self._workers:  # each worker iterates the dataset from its start
            w.batches = None
            w.batches = w.fetch(lambda: _StreamFetcher(iter(self._dataset), loader.drop_last))

    def __iter__(self) -> "_DataLoaderIter":
        return self

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __next__(self) -> Any:
        if not self._workers:
            index = next(self._sampler_iter)
            data = self._collate_fn(self._stream.fetch(index, self._auto_collation)
                                    if self._loader._iterable else self._fetch_map(index))
        elif self._loader._iterable:
            data = self._next_from_streams()
        else:
            index = next(self._sampler_iter)
            worker = self._workers[self._tasks % len(self._workers)]
            self._tasks += 1
            data = worker.fetch(lambda: self._collate_fn(self._fetch_map(index)))
        self._num_yielded += 1
        self._warn_past_len()
        return data

    def _next_from_streams(self):
        """The next batch of an iterable dataset: from the workers in turn, skipping those
        whose streams ended (torch's order, its results taken in the order it asked)."""
        n = len(self._workers)
        for _ in range(n):
            worker = self._workers[self._tasks % n]
            self._tasks += 1
            if worker.batches is None:
                continue
            index = next(self._sampler_iter)
            try:
                return worker.fetch(lambda: self._collate_fn(
                    worker.batches.fetch(index, self._auto_collation)))
            except StopIteration:
                worker.batches = None
        raise StopIteration

    def _fetch_map(self, index):
        if not self._auto_collation:
            return self._dataset[index]
        if getattr(self._dataset, "__getitems__", None):
            return self._dataset.__getitems__(index)
        return [self._dataset[i] for i in index]

    def _warn_past_len(self) -> None:
        reported = self._loader._IterableDataset_len_called
        if self._loader._iterable and reported is not None and self._num_yielded > reported:
            more = ("For multiprocessing data-loading, this could be caused by not properly "
                    "configuring the IterableDataset replica at each worker. Please see "
                    "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset "
                    "for examples.") if self._workers else ""
            warnings.warn(f"Length of IterableDataset {self._dataset} was reported to be "
                          f"{reported}(when accessing len(dataloader)), but {self._num_yielded} "
                          f"samples have been fetched. {more}", stacklevel=3)


class _StreamFetcher:
    """An iterable dataset's samples in batches (torch's _IterableDatasetFetcher): a short
    last batch unless drop_last, and nothing more once the stream has ended."""

    def __init__(self, stream, drop_last: bool) -> None:
        self._stream, self._drop_last, self._ended = stream, drop_last, False

    def fetch(self, index, batched: bool):
        if self._ended:
            raise StopIteration
        if not batched:
            return next(self._stream)
        data = []
        for _ in index:
            try:
                data.append(next(self._stream))
            except StopIteration:
                self._ended = True
                break
        if not data or (self._drop_last and len(data) < len(index)):
            raise StopIteration
        return data
