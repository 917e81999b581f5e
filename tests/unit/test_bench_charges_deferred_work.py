"""The bench charges a system for the work its steps leave running (issue: distgrad's
`loss.item()` returns while its workers still compute, and that work was timed in the
next system's chunk). Two stand-ins, in this process: one whose step hands its work to a
background thread and returns at once (as a distgrad step does), and one whose step is
done when it returns. No timing limits: the stand-in's figure is at least the work it
started (a spin of WORK_S per step), and none of that work runs during the other's steps.
"""
from __future__ import annotations

import queue
import threading
import time

from distgrad.cli import import_benchmark

bench = import_benchmark()  # benchmarks/bench.py of this checkout

WORK_S = 0.02
STEP_S = 0.005  # the synchronous stand-in's own work per step
STEPS = 6


def _spin(seconds: float) -> None:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pass  # CPU work, as a worker's weight gradients


class DeferredWork:
    """Each step queues WORK_S of CPU work for a background thread and returns at once."""

    def __init__(self, log):
        self.log = log
        self.todo = queue.Queue()
        self.thread = None

    def setup(self, params):
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.todo.get() is not None:
            t0 = time.perf_counter()
            _spin(WORK_S)
            self.log.append(("work", t0, time.perf_counter()))
            self.todo.task_done()
        self.todo.task_done()

    def step(self) -> float:
        self.todo.put(1)
        return 0.0

    def sync(self):
        self.todo.join()

    def teardown(self):
        if self.thread is not None:
            self.todo.put(None)
            self.thread.join()
            self.thread = None


class Synchronous:
    """A step whose work is done when it returns (as a torch RPC step)."""

    def __init__(self, log):
        self.log = log

    def setup(self, params):
        pass

    def step(self) -> float:
        t0 = time.perf_counter()
        _spin(STEP_S)
        self.log.append(("peer", t0, time.perf_counter()))
        return 0.0

    def sync(self):
        pass

    def teardown(self):
        pass


def test_a_step_that_returns_early_is_charged_for_its_work():
    log: list = []
    systems = {"deferred": DeferredWork(log), "synchronous": Synchronous(log)}
    rows = bench.run_size("S", systems, STEPS, 1, lambda msg: None)
    systems["deferred"].teardown()
    # Its figure covers the work its steps started...
    assert rows["deferred"]["median_ms"] >= WORK_S * 1e3, rows["deferred"]
    # ...and none of that work ran while the other system was timed.
    work = [(a, b) for kind, a, b in log if kind == "work"]
    peer = [(a, b) for kind, a, b in log if kind == "peer"]
    assert len(work) >= STEPS and len(peer) >= STEPS
    overlaps = [(w, p) for w in work for p in peer if w[0] < p[1] and p[0] < w[1]]
    assert not overlaps, f"{len(overlaps)} of the deferred work's spans ran during the peer's steps"
