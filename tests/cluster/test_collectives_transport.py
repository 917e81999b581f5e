"""The collectives over both ways workers of one node exchange tensors, the Unix socket
alone and shared-memory segments (distgrad/distributed/shm.py, init(shared_memory=...)):
results equal to the bit on both, and to the in-process backend's; a worker's death on
a shared-memory link fails the run that waited for it and leaves no segment mapped."""
from __future__ import annotations

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import WorkerDiedError, collectives, shm
from distgrad.distributed.testhooks import pause_at
from watchdog import START_TIMEOUT_S, Killer, PhaseGate, within

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not shm.available(), reason="no memfd/eventfd (not Linux)")]

HANG_LIMIT_S = 60.0
# Bigger than a segment (so they stream through its slots), not a multiple of a slot.
SHAPE = (1100, 1201)


@pytest.fixture
def fresh_runtime(ray_session):
    """Start runtimes of a given shape and transport; afterwards the default one again."""
    def start(n, backend="ray", **kwargs):
        if dist.is_initialized():
            dist.shutdown()
        return dist.init(n, backend=backend, timeout_s=START_TIMEOUT_S, **kwargs)

    yield start
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)


def _parts(n: int, dtype) -> list:
    rng = np.random.default_rng(7)
    return [rng.standard_normal(SHAPE).astype(dtype) for _ in range(n)]


def _all_collectives(arrays: list) -> dict:
    """Every collective over `arrays` (one per worker of the current runtime), as numpy."""
    parts = [dg.tensor(a, device=w) for a, w in zip(arrays, dist.workers())]
    out = {"all_reduce": collectives.all_reduce(parts),
           "reduce_scatter": collectives.reduce_scatter(parts),
           "reduce_scatter_dim1": collectives.reduce_scatter(parts, dim=1),
           "all_gather": collectives.all_gather(parts, dim=1),
           "broadcast": collectives.broadcast(parts[-1], dist.workers())}
    return {k: [t.detach().cpu().numpy() for t in v] for k, v in out.items()}


def _in_worker_order(arrays: list) -> np.ndarray:
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    return total


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_collectives_are_bitwise_equal_over_socket_and_shared_memory(fresh_runtime, n, dtype):
    arrays = _parts(n, dtype)
    results, sent = {}, {}
    for how in ("local", "socket", "shared_memory"):
        if how == "local":
            fresh_runtime(n, backend="local")
        else:
            fresh_runtime(n, shared_memory=how == "shared_memory")
        results[how] = within(HANG_LIMIT_S * 5, _all_collectives, arrays)
        sent[how] = {w: s["sent_bytes"] for w, s in dist.stats().items()}
    # Each path carried the big tensors, and only it.
    for w in dist.workers():
        assert sent["shared_memory"][w]["shared_memory"] > 0 == sent["shared_memory"][w]["socket"]
        assert sent["socket"][w]["socket"] > 0 == sent["socket"][w]["shared_memory"]
    for kind, copies in results["shared_memory"].items():
        for how in ("socket", "local"):
            for got, want in zip(copies, results[how][kind]):
                assert got.dtype == want.dtype and got.shape == want.shape, (kind, how)
                assert got.tobytes() == want.tobytes(), (kind, how)
    # And what they compute: the sum in worker order, split and joined as numpy does it.
    total = _in_worker_order(arrays)
    for copy in results["shared_memory"]["all_reduce"]:
        np.testing.assert_allclose(copy, total, rtol=1e-6 if dtype == np.float32 else 1e-13)
    for k, chunk in enumerate(results["shared_memory"]["reduce_scatter_dim1"]):
        assert chunk.tobytes() == np.ascontiguousarray(
            np.array_split(total, n, axis=1)[k]).tobytes()
    for copy in results["shared_memory"]["all_gather"]:
        assert copy.tobytes() == np.concatenate(arrays, axis=1).tobytes()
    for copy in results["shared_memory"]["broadcast"]:
        assert copy.tobytes() == arrays[-1].tobytes()


def test_the_environment_turns_shared_memory_on_and_off(fresh_runtime, monkeypatch):
    x = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    for setting, path in (("1", "shared_memory"), ("0", "socket")):
        monkeypatch.setenv("DISTGRAD_SHARED_MEMORY", setting)
        fresh_runtime(2)
        moved = dg.tensor(x, device="worker:0").to("worker:1")
        assert within(HANG_LIMIT_S, lambda: moved.cpu().numpy()).tobytes() == x.tobytes()
        assert dist.stats()["worker:0"]["sent_bytes"][path] == x.nbytes


def _segments_mapped(pid: int) -> list:
    with open(f"/proc/{pid}/maps") as f:
        return [line.split()[-2] for line in f if "distgrad-shm" in line]


def test_a_worker_killed_before_its_send_fails_the_recv_and_its_segments_go(fresh_runtime):
    fresh_runtime(2, shared_memory=True, test_hooks=True)
    x = dg.randn(*SHAPE, device="worker:1")
    y = dg.ones(*SHAPE, device="worker:0")
    first = (x.to("worker:0") + y).sum()
    within(HANG_LIMIT_S, first.item)  # both directions' segments have been used
    pids = {w: s["pid"] for w, s in dist.stats().items()}
    mapped = _segments_mapped(pids["worker:0"])
    assert any("distgrad-shm-0-to-1-" in m for m in mapped), mapped  # its own, to send
    assert any("distgrad-shm-1-to-0-" in m for m in mapped), mapped  # its peer's
    gate = PhaseGate()
    try:
        pause_at("worker:1", "send", report_to=gate.address)
        killer = Killer(pids["worker:1"], gate=gate)  # killed as it is about to send x
        waits = (x.to("worker:0") + y).sum()
        with pytest.raises(WorkerDiedError, match="worker:1"):
            within(HANG_LIMIT_S, waits.item)
        killer.join()
    finally:
        gate.close()
    dist.stats()  # (worker:0 answers after the run that failed)
    assert _segments_mapped(pids["worker:0"]) == []  # neither its peer's nor its own
