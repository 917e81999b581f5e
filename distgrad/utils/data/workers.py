"""torch's DataLoader worker processes, stood for in the driver.

distgrad loads data in-process, but a program written for `num_workers > 0` sees what
torch's workers do, and gets torch's numbers:
- each worker has its own global random streams (distgrad's, Python's `random`, numpy's
  legacy one), seeded as torch seeds a worker process: `base_seed + id`, numpy's from a
  SeedSequence of (id, base_seed's two halves), so a random augmentation draws what it
  draws in torch's worker;
- `get_worker_info()` gives its WorkerInfo while it fetches, and `worker_init_fn(id)` runs
  once in it;
- a map-style dataset's batches go to the workers in turn (batch i to worker i % n) and
  come back in the sampler's order; an iterable dataset is iterated once per worker (each
  yields its whole stream unless it splits by worker info, as in torch) and the workers'
  batches come back in turn until each is exhausted;
- an exception in a worker is raised again in torch's words ("Caught ValueError in
  DataLoader worker process 1. Original Traceback ...").
The dataset is the driver's own object, not a copy per worker: a dataset that changes its
own state while fetching shares that state between workers here.
"""
from __future__ import annotations

import dataclasses
import random
import sys
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Optional

import numpy as np

from ... import creation
from ...mersenne import MersenneStream


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerInfo:
    """The loader worker running now (torch.utils.data.get_worker_info())."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    rng: Any = None
    worker_method: Optional[str] = "multiprocessing"


_current: Optional[WorkerInfo] = None


def get_worker_info() -> Optional[WorkerInfo]:
    """The WorkerInfo of the loader worker fetching now; None outside one."""
    return _current


class LoaderWorker:
    """One stand-in worker: its streams and info, and the init function's failure (raised
    at its first fetch, as torch's worker sends it)."""

    def __init__(self, worker_id: int, num_workers: int, base_seed: int, dataset,
                 init_fn: Optional[Callable[[int], None]]) -> None:
        seed = base_seed + worker_id
        self.info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                               dataset=dataset)
        self._stream = MersenneStream(seed)
        self._python = random.Random(seed).getstate()
        entropy = [worker_id, base_seed & 0xFFFFFFFF, base_seed >> 32, 0]
        self._numpy = np.random.RandomState(
            np.random.SeedSequence(entropy).generate_state(4)).get_state()
        self.batches = None  # an iterable dataset's iterator in this worker
        self._init_failure = None
        if init_fn is not None:
            try:
                self.run(init_fn, worker_id)
            except Exception:  # noqa: BLE001  (torch's worker sends it with its first batch)
                self._init_failure = _Caught(worker_id)

    def run(self, fn: Callable, *args) -> Any:
        """fn(*args) inside this worker: its streams and info in place of the driver's."""
        global _current
        outer = (creation._rng, random.getstate(), np.random.get_state(), _current)
        creation._rng, _current = self._stream, self.info
        random.setstate(self._python)
        np.random.set_state(self._numpy)
        try:
            return fn(*args)
        finally:
            self._python, self._numpy = random.getstate(), np.random.get_state()
            creation._rng, _current = outer[0], outer[3]
            random.setstate(outer[1])
            np.random.set_state(outer[2])

    def fetch(self, fn: Callable, *args) -> Any:
        """fn(*args) in this worker; an exception it raises comes back as torch's worker's
        does, its type kept and its message saying where (StopIteration as it is)."""
        failure, self._init_failure = self._init_failure, None
        if failure is None:
            try:
                return self.run(fn, *args)
            except StopIteration:
                raise
            except Exception:  # noqa: BLE001
                failure = _Caught(self.info.id)
        failure.reraise()


class _Caught:
    """An exception caught in a worker, raised again in torch's words."""

    def __init__(self, worker_id: int) -> None:
        kind, value, tb = sys.exc_info()
        self.kind = kind
        self.message = (f"Caught {kind.__name__} in DataLoader worker process {worker_id}.\n"
                        f"Original {''.join(traceback.format_exception(kind, value, tb))}")

    def reraise(self):
        if self.kind is KeyError:
            raise KeyError(_KeyErrorMessage(self.message))
        try:
            exception = self.kind(self.message)
        except Exception:  # noqa: BLE001  (a type that takes other arguments)
            exception = RuntimeError(self.message)
        raise exception


class _KeyErrorMessage(str):
    """A KeyError's message shown as it is (KeyError shows its argument's repr)."""

    def __repr__(self):
        return self
