"""Two driver threads on the same workers at once: both get PyTorch's gradients, and grad
mode is each thread's own."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from watchdog import within

pytestmark = pytest.mark.cluster

STEPS = 15
# A wait that must end (a read, another thread's event): longer than a loaded machine
# takes, only so that a hang fails the test instead of stalling it.
HANG_LIMIT_S = 300.0


def _data(seed):
    rng = np.random.default_rng(seed)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return {"x": f(8, 16), "w0": f(16, 16) * 0.3, "b0": f(16) * 0.1, "w1": f(16, 4) * 0.3,
            "y": f(8, 4)}


def _train(mod, d, device0, device1, barrier=None):
    """STEPS forward+backward passes accumulating into the leaves' .grad; returns grads."""
    t = lambda k, dev, rg=False: mod.tensor(d[k], device=dev, requires_grad=rg)  # noqa: E731
    x, y = t("x", device0), t("y", device1)
    w0, b0, w1 = t("w0", device0, True), t("b0", device0, True), t("w1", device1, True)
    if barrier is not None:
        barrier.wait()
    losses = []
    for k in range(STEPS):
        h = (x @ w0 + b0).tanh().to(device1) * (1.0 + k / STEPS)
        loss = ((h @ w1 - y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
    return losses, [p.grad.to("cpu").numpy() for p in (w0, b0, w1)]


def _run_threads(fns):
    out, errors = [None] * len(fns), []

    def run(i, fn):
        try:
            out[i] = fn()
        except BaseException as e:  # noqa: BLE001 -- reported in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(HANG_LIMIT_S)
    assert not any(th.is_alive() for th in threads), "hung: a driver thread did not finish"
    if errors:
        raise errors[0]
    return out


def test_two_threads_get_torchs_gradients(backend):
    data = [_data(1), _data(2)]
    barrier = threading.Barrier(2)
    got = _run_threads([lambda d=d: _train(dg, d, "worker:0", "worker:1", barrier) for d in data])
    for d, (losses, grads) in zip(data, got):
        ref_losses, ref_grads = _train(torch, d, "cpu", "cpu")
        np.testing.assert_allclose(losses, ref_losses, rtol=1e-5, atol=1e-6)
        for g, r in zip(grads, ref_grads):
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)


def test_threads_on_crossed_workers(backend):
    """One thread goes worker:0 -> worker:1, the other worker:1 -> worker:0, so each
    worker's queue gets both threads' ops and imports in both directions."""
    data = [_data(3), _data(4)]
    barrier = threading.Barrier(2)
    got = _run_threads([lambda: _train(dg, data[0], "worker:0", "worker:1", barrier),
                        lambda: _train(dg, data[1], "worker:1", "worker:0", barrier)])
    for d, (losses, grads) in zip(data, got):
        ref_losses, ref_grads = _train(torch, d, "cpu", "cpu")
        np.testing.assert_allclose(losses, ref_losses, rtol=1e-5, atol=1e-6)
        for g, r in zip(grads, ref_grads):
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-6)


def test_threads_leave_no_state_behind(backend):
    import gc

    gc.collect()
    before = {k: (v["tensors"], v["nodes"]) for k, v in dist.stats().items()}
    data = [_data(5), _data(6)]
    _run_threads([lambda d=d: _train(dg, d, "worker:0", "worker:1") for d in data])
    gc.collect()
    after = {k: (v["tensors"], v["nodes"]) for k, v in dist.stats().items()}
    assert after == before


def test_two_threads_accumulate_into_one_leaf(backend):
    w = dg.ones(4, device="worker:1", requires_grad=True)
    barrier = threading.Barrier(2)

    def job(scale):
        barrier.wait()
        for _ in range(STEPS):
            (w * scale).sum().backward()

    _run_threads([lambda: job(2.0), lambda: job(3.0)])
    assert within(HANG_LIMIT_S, w.grad.tolist) == [STEPS * 5.0] * 4


def test_grad_mode_is_per_thread(backend):
    w = dg.ones(3, device="worker:1", requires_grad=True)
    inside, entered, leave = {}, threading.Event(), threading.Event()

    def no_grad_thread():
        with dg.no_grad():
            entered.set()
            leave.wait(HANG_LIMIT_S)
            inside["no_grad"] = ((w * 2).requires_grad, dg.is_grad_enabled())

    def grad_thread():
        entered.wait(HANG_LIMIT_S)  # the other thread is inside no_grad() now
        y = (w * 3).sum()
        inside["grad"] = (y.requires_grad, dg.is_grad_enabled())
        y.backward()
        leave.set()

    _run_threads([no_grad_thread, grad_thread])
    assert inside == {"no_grad": (False, False), "grad": (True, True)}
    assert within(HANG_LIMIT_S, w.grad.tolist) == [3.0, 3.0, 3.0]
    assert dg.is_grad_enabled()
