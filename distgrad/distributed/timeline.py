"""Each worker's busy and idle time over a stretch of work, from the runtime's counters.

Every run's reply says when it ran and how long it waited in recv for another worker's
tensor (worker.py); the driver's counters sum them per worker (coordinator.Counters).
Over a `with timeline() as tl:` block, a worker is busy while it runs a run and does not
wait in recv; the rest of the block's span (from the first run's start on any worker to
the last one's end) it is idle: waiting for a tensor, or with no run to run. The bubble
fraction is the idle share of the workers that ran something, what the pipeline
schedules' theory counts ((p - 1) / (m + p - 1) for GPipe).

Times are wall-clock seconds of the workers' processes: comparable on one machine.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from . import runtime


@dataclass
class Timeline:
    span_s: float = 0.0
    busy_s: dict = field(default_factory=dict)  # worker -> seconds busy
    recv_wait_s: dict = field(default_factory=dict)  # worker -> seconds waiting in recv
    runs: dict = field(default_factory=dict)  # worker -> runs in the block

    @property
    def idle_s(self) -> dict:
        return {w: max(0.0, self.span_s - b) for w, b in self.busy_s.items()}

    @property
    def bubble_fraction(self) -> float:
        if not self.busy_s or self.span_s <= 0:
            return 0.0
        return sum(self.idle_s.values()) / (len(self.busy_s) * self.span_s)

    def as_dict(self) -> dict:
        return {"span_ms": 1e3 * self.span_s, "bubble_fraction": self.bubble_fraction,
                "busy_ms": {w: 1e3 * b for w, b in self.busy_s.items()},
                "idle_ms": {w: 1e3 * b for w, b in self.idle_s.items()},
                "recv_wait_ms": {w: 1e3 * b for w, b in self.recv_wait_s.items()},
                "runs": dict(self.runs)}


@contextlib.contextmanager
def timeline():
    """Measure the workers' timeline of the work sent in this block (waits for it at the
    end, as synchronize()):

        with timeline() as tl:
            schedule.step(x, target=y)
        tl.bubble_fraction, tl.busy_s["worker:0"]
    """
    runtime.synchronize()  # earlier work is counted before, not in, the block
    counters = runtime.current().counters
    counters.restart_window()
    before = counters.snapshot()
    tl = Timeline()
    yield tl
    runtime.synchronize()
    after = counters.snapshot()
    starts = [s for s in after["first_run_start"] if s is not None]
    ends = [e for e in after["last_run_end"] if e is not None]
    tl.span_s = max(ends) - min(starts) if starts and ends else 0.0
    for i, n in enumerate(after["runs"]):
        runs = n - before["runs"][i]
        if not runs:
            continue
        w = f"worker:{i}"
        wait = after["recv_wait_s"][i] - before["recv_wait_s"][i]
        tl.busy_s[w] = after["run_s"][i] - before["run_s"][i] - wait
        tl.recv_wait_s[w] = wait
        tl.runs[w] = runs
