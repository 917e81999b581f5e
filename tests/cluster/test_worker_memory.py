"""A worker process keeps the memory its ops free (distributed/memory.py): an array as big
as a 4096x4096 float32 gradient, made and freed again every step, stays in the process for
the next step instead of going back to the kernel (and being faulted in again, page by
page). Read from the kernel's count of the process's resident memory, so on Linux and on
the Ray backend, whose workers are processes."""
from __future__ import annotations

import os

import pytest

import distgrad as dg
import distgrad.distributed as dist

BIG = 4096  # a 64 MB float32 square: more than a thread's own glibc arena holds
MB = 1 << 20


def _resident_bytes(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="memory read from /proc")
def test_a_big_array_freed_on_a_worker_stays_for_the_next_step(ray_session, switch_runtime):
    switch_runtime("ray")
    pid = dist.stats()["worker:0"]["pid"]
    x = dg.ones(BIG, BIG, device="worker:0")
    x.sum().item()
    before = _resident_bytes(pid)
    (x * 2).sum().item()  # a 64 MB result, freed when its run ends
    kept = _resident_bytes(pid) - before
    assert kept >= 60 * MB, f"{kept / MB:.1f} MB kept"
