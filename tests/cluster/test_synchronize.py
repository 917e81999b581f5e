"""`dist.synchronize()`: returns when every worker has run everything sent to it (and
everything queued for it in the driver), as `torch.cuda.synchronize()`; errors of that
work raise there. On both backends."""
from __future__ import annotations

import pytest

import distgrad as dg
import distgrad.distributed as dist


def _idle(rt) -> bool:
    return all(not q.instrs and q.busy_runs() == 0 and not q.pending for q in rt.queues)


def test_synchronize_waits_for_work_a_read_does_not(backend):
    x = dg.ones(3, device="worker:0")
    loss = (x * 2).sum()
    (x * 1).to("worker:1")  # worker:0's run goes now, the loss with it
    big = dg.ones(1000, 1000, device="worker:0")
    for _ in range(6):
        big = big.mm(big) * (1 / 1000)  # queued in the driver, not sent
    assert loss.item() == 6.0  # does not wait for (or send) the matmuls
    rt = dist.current()
    assert rt.queue("worker:0").instrs
    dist.synchronize()
    assert _idle(rt)
    assert float(big[0, 0]) == 1.0


def test_synchronize_after_a_training_step_leaves_no_work(backend):
    """The step's deferred tail (weight gradients, the update) is done when it returns."""
    w0 = dg.ones(64, 64, device="worker:0", requires_grad=True)
    w1 = dg.ones(64, 64, device="worker:1", requires_grad=True)
    x = dg.ones(8, 64, device="worker:0")
    loss = ((x @ w0).relu().to("worker:1") @ w1).mean()
    loss.backward()
    with dg.no_grad():
        for w in (w0, w1):
            w.sub_(0.1 * w.grad)
    loss.item()
    dist.synchronize()
    assert _idle(dist.current())
    dist.synchronize()  # nothing left: returns at once, sends nothing
    assert _idle(dist.current())


def test_synchronize_raises_the_error_of_the_work(backend):
    x = dg.ones(3, device="worker:1")
    bad = x[dg.tensor([5], device="worker:1")]  # out of bounds: found only on the worker
    del bad
    with pytest.raises(IndexError, match="out of bounds"):
        dist.synchronize()
    dist.synchronize()  # reported once; the runtime goes on
    assert (x * 2).sum().item() == 6.0
