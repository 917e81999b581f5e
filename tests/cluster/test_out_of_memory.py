"""A worker that runs out of memory fails that run with MemoryError naming it and the
bytes; the sender of a tensor it could not take is not left blocked, and the runtime
stays usable. Allocation failure is made deterministic with the workers' test hook
(testhooks.limit_allocations), not by exhausting the machine. Both backends."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed.testhooks import limit_allocations
from watchdog import within

HANG_LIMIT_S = 60.0


@pytest.fixture
def hooked(backend_name):
    """Two workers with test hooks on (the next test's fixture restores a plain runtime)."""
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend=backend_name, test_hooks=True, timeout_s=300)
    yield backend_name
    dist.shutdown()


def _usable():
    a = dg.ones(3, device="worker:0", requires_grad=True)
    (a * 2).to("worker:1").sum().backward()
    assert a.grad.tolist() == [2.0, 2.0, 2.0]
    assert all(not v.get("dead") for v in within(HANG_LIMIT_S, dist.stats).values())


def test_a_tensor_the_receiver_cannot_allocate_fails_the_run(hooked):
    x = dg.randn(1024, 1024, dtype=dg.float64, device="worker:0")  # 8 MB
    x.sum().item()
    limit_allocations("worker:1", 1 << 20)
    y = x.to("worker:1") * 2
    with pytest.raises(MemoryError, match=r"worker:1 is out of memory.* 8388608 bytes") as info:
        within(HANG_LIMIT_S, y.sum().item)
    assert "worker:0" in str(info.value)  # who sent it
    # the sender finished its run: worker 0 answers, and so does stats()
    assert within(HANG_LIMIT_S, lambda: dg.ones(4, device="worker:0").sum().item()) == 4.0
    _usable()
    limit_allocations("worker:1", None)
    got = within(HANG_LIMIT_S, (x.to("worker:1") * 2).tolist)
    np.testing.assert_allclose(got, (torch.tensor(x.tolist(), dtype=torch.float64) * 2).numpy())


def test_an_op_whose_result_cannot_be_allocated_fails_the_run(hooked):
    x = dg.randn(512, 512, device="worker:0")  # 1 MB
    x.sum().item()
    limit_allocations("worker:0", 1 << 19)
    with pytest.raises(MemoryError, match=r"worker:0 is out of memory: op 'mm' could not "
                                          r"allocate 1048576 bytes"):
        within(HANG_LIMIT_S, lambda: (x @ x).sum().item())
    _usable()
    limit_allocations("worker:0", None)
    want = torch.tensor(x.tolist()) @ torch.tensor(x.tolist())
    np.testing.assert_allclose(within(HANG_LIMIT_S, (x @ x).tolist), want.numpy(), rtol=1e-5,
                               atol=1e-4)


def test_hooks_are_off_by_default(backend):
    with pytest.raises(RuntimeError, match=r"test hooks are off.*init\(test_hooks=True\)"):
        limit_allocations("worker:0", 1)


@pytest.mark.parametrize("make", [
    lambda: dg.zeros(2 ** 28 + 1, device="worker:0"),
    lambda: dg.ones(2 ** 15, 1, device="worker:0") * dg.ones(2 ** 14, device="worker:0"),
], ids=["creation", "broadcast"])
def test_a_result_over_the_size_cap_raises_at_the_call(backend, make):
    with pytest.raises(MemoryError, match=r"cannot allocate \d+ bytes on worker:0.*at most "
                                          r"268435456 elements"):
        make()  # here, not at a later read
    _usable()
