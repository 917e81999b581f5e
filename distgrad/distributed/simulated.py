"""A simulated cluster, for measuring the driver at scale on one machine:
`init(n, backend="simulated")` gives n in-process workers that run every message as a
worker does (decode, check, bookkeeping of tensor ids, graph nodes, frees, programs) but
skip the kernels: an op's results are zeros of the shapes its rule gives, a send goes
nowhere and a receive gives zeros. Workers that exchange nothing need no order, so the
backend runs as Ray's does (`concurrent`: held runs and compiled replays go one message
per worker). Values are meaningless; messages, bytes and the driver's own CPU time are
what an n-worker cluster would cost it. `worker_cpu_s` is the CPU time the workers took
in this process, for the caller to subtract from its own.
"""
from __future__ import annotations

import time

import numpy as np

from .runtime import LocalEndpoint, add_in_process_backend
from .worker import Worker, _operand


class SimulatedChannels:
    """Channels that move nothing: a receive is zeros of the announced shape."""

    hooks = None

    def __init__(self):
        self.sent_bytes: dict = {}  # (stats(): nothing is sent)

    def knows(self, peer: int) -> bool:
        return True

    def running(self, busy: bool) -> None:
        pass

    def send(self, peer: int, key: int, arr, incarnation=None) -> None:
        pass

    def send_failure(self, peer: int, key: int, message: str, incarnation=None) -> None:
        pass

    def recv(self, peer: int, key: int, shape, dtype: str, incarnation=None, runs=None):
        return np.zeros(shape, dtype=dtype)


def _blank_forward(op, values, attrs, out_dtypes):
    """Zeros shaped as the op's rule says, in place of its forward."""
    operands = [_operand(v) if isinstance(v, np.ndarray) else v for v in values]
    metas = op.shape(*operands, **attrs)
    if not isinstance(metas, (tuple, list)):
        metas = (metas,)
    return [np.zeros(tuple(m.shape), dtype=d.np) for m, d in zip(metas, out_dtypes)]


class SimulatedWorker(Worker):
    _kernel = staticmethod(_blank_forward)
    _kernel_into = staticmethod(lambda *args: False)  # (no kernel runs here)

    def __init__(self, index: int, clock: list):
        super().__init__(index, node="simulated")
        self.channels = SimulatedChannels()
        self.clock = clock  # [CPU seconds the workers took], shared

    def handle(self, payload, *arrays):
        start = time.thread_time()
        try:
            return super().handle(payload, *arrays)
        finally:
            self.clock[0] += time.thread_time() - start


class SimulatedEndpoint(LocalEndpoint):
    concurrent = True  # (nothing is exchanged, so no run waits for another)

    def __init__(self, n: int):
        super().__init__(n)
        self.clock = [0.0]
        self.workers = [SimulatedWorker(i, self.clock) for i in range(n)]

    @property
    def worker_cpu_s(self) -> float:
        return self.clock[0]


add_in_process_backend("simulated", SimulatedEndpoint)
