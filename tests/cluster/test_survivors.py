"""After a worker dies, the surviving workers' values read normally (only what needed the
dead worker raises WorkerDiedError); an optimizer keeps a parameter's state beside it,
on its worker, so a step that fails there leaves parameters and state consistent."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import WorkerDiedError
from watchdog import START_TIMEOUT_S, Killer, process_alive, within

pytestmark = pytest.mark.cluster

HANG_LIMIT_S = 60.0


@pytest.fixture
def ray2(ray_session):
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
    yield dist.current()
    dist.shutdown()
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)


def _kill(k):
    pid = dist.stats()[f"worker:{k}"]["pid"]
    Killer(pid)
    while process_alive(pid):
        time.sleep(0.01)


def test_survivor_values_read_normally_after_a_death(ray2):
    a = dg.arange(3., device="worker:0")
    b = dg.ones(3, device="worker:1")
    before = a * 2
    within(HANG_LIMIT_S, before.tolist), within(HANG_LIMIT_S, b.tolist)
    _kill(1)
    needs_dead = b.to("worker:0") + a  # one run on worker 0: this needs worker 1 ...
    same_run = a * 5  # ... this does not
    a.add_(1)  # nor this in-place write after it
    assert within(HANG_LIMIT_S, same_run.tolist) == [0.0, 5.0, 10.0]
    with pytest.raises(WorkerDiedError, match="worker:1"):
        within(HANG_LIMIT_S, needs_dead.tolist)
    assert within(HANG_LIMIT_S, a.tolist) == [1.0, 2.0, 3.0]
    assert within(HANG_LIMIT_S, before.tolist) == [0.0, 2.0, 4.0]
    with pytest.raises(WorkerDiedError, match="worker:1"):
        within(HANG_LIMIT_S, b.tolist)


def _adam_run(mod, device, steps=4):
    rng = np.random.default_rng(3)
    w = mod.tensor(rng.standard_normal((4, 3)).astype(np.float32), device=device,
                   requires_grad=True)
    x = mod.tensor(rng.standard_normal((5, 4)).astype(np.float32), device=device)
    opt = mod.optim.Adam([w], lr=0.1)
    for _ in range(steps):
        opt.zero_grad()
        (x @ w).pow(2).mean().backward()
        opt.step()
    return w, opt


def test_adam_state_lives_on_its_parameters_worker(backend):
    w, opt = _adam_run(dg, "worker:1")
    ref, ref_opt = _adam_run(torch, "cpu")
    state = opt.state[w]
    assert {t.device_str for t in state.values()} == {"worker:1"}
    assert state["step"].item() == 4.0 and state["step"].dtype is dg.float32
    np.testing.assert_allclose(w.detach().cpu().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    for k in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_allclose(state[k].cpu().numpy(), ref_opt.state[ref][k].numpy(),
                                   rtol=1e-5, atol=1e-7)
    loaded = dg.optim.Adam([w], lr=0.1)
    loaded.load_state_dict(opt.state_dict())
    assert loaded.state[w]["step"].device_str == "worker:1"


def test_a_failed_step_leaves_parameters_and_state_consistent(ray2):
    w0, opt0 = _adam_run(dg, "worker:0", steps=1)
    w1 = dg.ones(3, device="worker:1", requires_grad=True)
    opt = dg.optim.Adam([w0, w1], lr=0.1)
    opt.load_state_dict({"state": {0: opt0.state_dict()["state"][0]},
                         "param_groups": opt.state_dict()["param_groups"]})
    w0.grad = None
    (w1 * 2).sum().backward()
    (w0 * 3).sum().backward()
    within(HANG_LIMIT_S, w1.grad.tolist)
    _kill(1)
    opt.step()  # worker 0's update happens; worker 1's is lost with it
    assert within(HANG_LIMIT_S, opt.state[w0]["step"].item) == 2.0
    ref, ref_opt = _adam_run(torch, "cpu", steps=1)
    ref.grad = None
    (ref * 3).sum().backward()
    ref_opt.step()
    np.testing.assert_allclose(within(HANG_LIMIT_S, w0.detach().cpu().numpy), ref.detach().numpy(),
                               rtol=1e-5, atol=1e-6)
    for t in (w1, opt.state[w1]["step"]):
        with pytest.raises(WorkerDiedError, match="worker:1"):
            within(HANG_LIMIT_S, t.detach().tolist)


def test_restart_worker_loses_only_its_tensors(backend):
    a = dg.ones(3, device="worker:0")
    b = dg.ones(3, device="worker:1") * 2
    made_from_b = b.to("worker:0") + a  # computed on worker 0 before the restart: kept
    assert within(HANG_LIMIT_S, made_from_b.tolist) == [3.0, 3.0, 3.0]
    within(HANG_LIMIT_S, dist.restart_worker, 1)
    with pytest.raises(WorkerDiedError, match="worker:1 was restarted"):
        b.tolist()
    with pytest.raises(WorkerDiedError, match="worker:1 was restarted"):
        b + 1  # not even queued: its value is gone
    assert within(HANG_LIMIT_S, made_from_b.tolist) == [3.0, 3.0, 3.0]
    c = dg.ones(3, device="worker:1")
    assert within(HANG_LIMIT_S, lambda: (c.to("worker:0") + a).to("worker:1").tolist()) == [2.0] * 3
    with pytest.raises(ValueError, match="no worker 5"):
        dist.restart_worker(5)
