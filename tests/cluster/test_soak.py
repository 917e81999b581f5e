"""A shorter soak (scripts/soak.py runs 2,000 steps): stats() flat from step 10 on and each
worker's resident memory grows by less than 5%."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import distgrad.distributed as dist
from watchdog import START_TIMEOUT_S, within

pytestmark = pytest.mark.cluster

_spec = importlib.util.spec_from_file_location(
    "soak", Path(__file__).resolve().parents[2] / "scripts" / "soak.py")
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)

STEPS = 200


def test_soak_ray_workers_flat(ray_session):
    if dist.is_initialized():
        dist.shutdown()
    # fresh workers: their memory is this test's alone
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
    lines = []
    result = within(300, soak.run, STEPS, every=10, flat_from=10, out=lines.append)
    print("\n" + "\n".join(lines))
    curve = result["curve"]
    assert [c[0] for c in curve][0] == 10 and curve[-1][0] == STEPS
    assert result["flat"], "\n".join(lines)
    for dev, growth in result["rss_growth"].items():
        assert growth is not None and growth < 0.05, (dev, growth, "\n".join(lines))
    assert curve[-1][3] < curve[0][3]  # and it trained


def test_soak_local_stats_flat(switch_runtime):
    switch_runtime("local", 2)
    result = within(300, soak.run, 100, every=10, flat_from=10, out=lambda s: None)
    assert result["flat"]
