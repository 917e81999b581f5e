"""A few chaos runs (chaos.py) in the suite: a 200-step training over two Ray workers with
workers SIGKILLed and SIGSTOPped at random (seeded) moments. Every step completes with
the undisturbed run's values or raises WorkerDiedError / TimeoutError; none hangs, none
gives a silently different value. `make chaos` runs a hundred."""
from __future__ import annotations

import pytest

import distgrad.distributed as dist
from chaos import chaos
from watchdog import START_TIMEOUT_S

pytestmark = pytest.mark.cluster

RUNS = 2  # about 20 s each on a busy two-core machine


def test_training_under_random_kills_and_stops(ray_session):
    try:
        figures = chaos(RUNS, seed=1000)
    finally:
        if not dist.is_initialized():
            dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
    print(f"\n[chaos] {figures.line()}")
    assert figures.runs == RUNS
    assert figures.hangs == 0, figures.notes
    assert figures.mismatches == 0, figures.notes
    assert figures.unexpected == 0, figures.notes
    assert figures.kills + figures.stops == RUNS * 3
    assert figures.steps == RUNS * 200  # every run got to its end
    dist.shutdown()  # the next tests get a runtime with the default call timeout
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
