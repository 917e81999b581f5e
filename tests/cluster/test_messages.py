"""Message economy and data paths: runs of ops per message, gradients worker to worker."""
from __future__ import annotations

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist


def _delta(before, after, key):
    return [a - b for a, b in zip(after[key], before[key])]


def _settled_counters():
    """Counters after sending whatever earlier tests left queued (frees of dropped handles)."""
    import gc

    gc.collect()
    dist.current().flush_all()
    return dist.counters()


@pytest.mark.parametrize("n_ops", [5, 50])
def test_backward_of_a_chain_sends_constant_messages(backend, n_ops):
    x = dg.randn(64, device="worker:0", requires_grad=True)
    y = x
    for _ in range(n_ops):
        y = (y * 0.9).tanh()
    loss = y.sum()
    loss.item()  # forward sent and read
    before = _settled_counters()
    loss.backward()
    x.grad.sum().item()
    sent = _delta(before, dist.counters(), "messages")
    # backward's run, then the read of the gradient: O(1), not O(n_ops)
    assert sent[0] <= 2, sent
    assert sent[1] == 0


def test_forward_ops_are_batched_until_a_value_is_read(backend):
    before = _settled_counters()
    x = dg.ones(8, device="worker:1")
    for _ in range(30):
        x = x * 1.01 + 0.5
    assert _delta(before, dist.counters(), "messages") == [0, 0]
    x.sum().item()
    assert _delta(before, dist.counters(), "messages") == [0, 1]


def test_cross_worker_gradients_never_pass_through_the_driver(backend):
    w0 = dg.randn(256, 256, device="worker:0", requires_grad=True)
    w1 = dg.randn(256, 256, device="worker:1", requires_grad=True)
    x = dg.randn(32, 256, device="worker:0")
    h = (x.mm(w0) * 0.05).relu().to("worker:1")
    loss = (h.mm(w1) * 0.05).pow(2).mean()
    loss.item()
    before = _settled_counters()
    loss.backward()
    dist.current().flush_all()
    received = _delta(before, dist.counters(), "bytes_received")
    assert received == [0, 0], received
    assert w0.grad.device_str == "worker:0" and w1.grad.device_str == "worker:1"
    assert float(w0.grad.abs().sum()) > 0


@pytest.mark.parametrize("depth", [4, 16])
def test_training_step_message_budget(backend, depth):
    """Forward, read the loss, backward, SGD step: at most 3 messages per worker, whatever
    the number of layers (the first half of the layers on worker 0, the rest on worker 1)."""
    layers = []
    for k in range(depth):
        dev = f"worker:{2 * k // depth}"
        layers.append((dg.randn(32, 32, device=dev, requires_grad=True),
                       dg.zeros(32, device=dev, requires_grad=True)))
    params = [p for pair in layers for p in pair]
    opt = dg.optim.SGD(params, lr=0.01)
    x = dg.randn(16, 32, device="worker:0")
    target = dg.randn(16, 32, device="worker:1")

    def step():
        h = x
        for k, (w, b) in enumerate(layers):
            h = (h.to(w.device_str).mm(w) * 0.1 + b).relu()
        loss = ((h - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step()
    before = _settled_counters()
    for _ in range(3):
        step()
    per_step = [m / 3 for m in _delta(before, dist.counters(), "messages")]
    assert max(per_step) <= 3, per_step
    received = _delta(before, dist.counters(), "bytes_received")
    assert received[0] == 0 and received[1] <= 3 * 4, received  # only the three losses (float32)
