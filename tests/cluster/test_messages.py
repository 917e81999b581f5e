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


def _queued_ops(device):
    q = dist.current().queue(device)
    return [ins[1] for ins in q.instrs if ins[0] == "op"]


def test_a_transfer_sends_only_what_the_receiving_worker_needs(backend):
    """Work the receiver does not wait for (here a big matmul) stays queued for the
    sender's next message, so the receiver's run is not held up by it."""
    rng = np.random.default_rng(0)
    a_np, x_np = rng.standard_normal((64, 64)), rng.standard_normal(8)
    a = dg.tensor(a_np, device="worker:1")
    x = dg.tensor(x_np, device="worker:1")
    a.sum().item(), x.sum().item()  # both on the worker, queue empty
    unrelated = a.mm(a).tanh()
    h = (x * 2).exp()
    moved = h.to("worker:0")
    assert _queued_ops("worker:1") == ["mm", "tanh"]
    np.testing.assert_allclose(moved.cpu().numpy(), np.exp(x_np * 2))
    np.testing.assert_allclose(unrelated.cpu().numpy(), np.tanh(a_np @ a_np))


def test_work_before_an_in_place_write_is_not_moved_past_it(backend):
    w_np = np.arange(6.0)
    w = dg.tensor(w_np, device="worker:1")
    w.sum().item()
    before = w * 3  # read before the write: must see the old values
    view = w[2:]
    w.add_(1)
    after = view * 10  # read after the write, through a view
    moved = after.to("worker:0")
    np.testing.assert_allclose(moved.cpu().numpy(), (w_np[2:] + 1) * 10)
    np.testing.assert_allclose(before.cpu().numpy(), w_np * 3)
    np.testing.assert_allclose(w.cpu().numpy(), w_np + 1)


def test_a_dropped_intermediate_of_deferred_work_is_freed_after_it(backend):
    """`(a * 3)` is dropped before the transfer, but the deferred `exp` still reads it: its
    free must travel with the deferred work, not with the run sent now."""
    a_np = np.linspace(-1, 1, 5)
    a = dg.tensor(a_np, device="worker:1")
    b = dg.tensor(a_np[::-1].copy(), device="worker:1")
    a.sum().item()
    deferred = (a * 3).exp()
    import gc

    gc.collect()
    moved = (b * 2).to("worker:0")
    np.testing.assert_allclose(moved.cpu().numpy(), a_np[::-1] * 2)
    np.testing.assert_allclose(deferred.cpu().numpy(), np.exp(a_np * 3))
    gc.collect()
    dist.current().flush_all()
    stats = dist.stats()["worker:1"]
    assert stats["tensors"] <= 6, stats  # nothing leaked: a, b, deferred and the copies


def test_backward_sends_the_input_gradient_before_the_weight_gradients(backend):
    """Model-parallel backward: the run worker:0 waits for computes the gradient that
    crosses to it; worker:1's weight gradient waits for the next message."""
    w0 = dg.randn(32, 32, device="worker:0", requires_grad=True)
    w1 = dg.randn(32, 32, device="worker:1", requires_grad=True)
    x = dg.randn(8, 32, device="worker:0")
    h = x.mm(w0).relu().to("worker:1")
    loss = h.mm(w1).pow(2).mean()
    loss.item()
    from distgrad.autograd import engine

    queued_at_transfer = []
    real = dist.current().queue("worker:1").flush_exports

    def spy():
        real()
        queued_at_transfer.append(_queued_ops("worker:1"))

    q = dist.current().queue("worker:1")
    q.flush_exports = spy
    try:
        loss.backward()
    finally:
        del q.flush_exports
    assert engine is not None and queued_at_transfer, "no transfer in backward"
    assert "mm" in queued_at_transfer[0], queued_at_transfer  # w1's gradient, deferred
    expected_w1 = h.detach().cpu().numpy().T @ (2 * h.detach().cpu().numpy()
                                                  @ w1.detach().cpu().numpy() / (8 * 32))
    np.testing.assert_allclose(w1.grad.cpu().numpy(), expected_w1, rtol=1e-5, atol=1e-6)
    assert float(w0.grad.abs().sum()) > 0


@pytest.mark.parametrize("through_view", [False, True])
def test_a_value_sent_ahead_is_read_again_after_an_in_place_write(backend, through_view):
    """A 0-dim result goes back with its run (so `.item()` costs no message), but a write
    after that makes the copy stale: the read must see the write, as in torch."""
    x = dg.ones(3, device="worker:0")
    s = x.sum() if not through_view else x[1]
    (x * 2).to("worker:1")  # sends worker:0's run, and `s` with it
    if through_view:
        x.mul_(5)
    else:
        s.add_(1)
    assert s.item() == (5.0 if through_view else 4.0)


def test_a_write_elsewhere_keeps_the_value_sent_ahead(backend):
    """An optimizer step after backward writes the parameters, not the loss: reading the
    loss afterwards still costs no message."""
    w = dg.ones(4, device="worker:0", requires_grad=True)
    x = dg.ones(3, device="worker:0")
    loss = (w * 2).sum()
    (x * 2).to("worker:1")  # sends worker:0's run, and the loss with it
    before = _settled_counters()
    with dg.no_grad():
        w.sub_(0.5)
    assert loss.item() == 8.0
    assert _delta(before, dist.counters(), "messages") == [0, 0]


def test_a_read_waits_for_the_run_that_made_the_value_only(backend):
    """`loss.item()` after a long backward run was sent returns the loss while that run
    still computes (the driver can record the next step meanwhile); the run's result and
    errors come with later reads."""
    x = dg.ones(3, device="worker:0")
    loss = (x * 2).sum()
    (x * 1).to("worker:1")  # worker:0's run (and the loss with it) goes now
    big = dg.ones(1500, 1500, device="worker:0")
    for _ in range(12):
        big = big.mm(big) * (1 / 1500)  # ~0.5 s of work on one core, sent next
    dist.current().flush_all()
    assert loss.item() == 6.0
    q = dist.current().queue("worker:0")
    if backend == "ray":
        assert q.busy_runs() >= 1  # the matmuls were still running when the loss came back
    assert float(big[0, 0]) == 1.0


def test_a_copy_outside_a_graph_is_one_write(backend):
    """`p.copy_(new)` with nothing to record (an optimizer's update) queues one write of
    `new`'s values, not a copy op making them first; the two stay separate tensors."""
    w = dg.zeros(3, device="worker:0")
    src = dg.ones(3, device="worker:0")
    w.sum().item(), src.sum().item()
    with dg.no_grad():
        w.copy_(src)
    assert _queued_ops("worker:0") == []
    assert [ins[0] for ins in dist.current().queue("worker:0").instrs] == ["assign"]
    w.add_(1)
    assert w.tolist() == [2.0, 2.0, 2.0] and src.tolist() == [1.0, 1.0, 1.0]
    assert w._version == 2 and src._version == 0
