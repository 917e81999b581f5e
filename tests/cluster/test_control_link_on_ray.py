"""The driver reaches its Ray workers over its own connections (control.py), not by Ray
actor calls; Ray's calls remain, as `DISTGRAD_CONTROL=ray`, and give the same results."""
from __future__ import annotations

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import control
from watchdog import START_TIMEOUT_S


def _step():
    """Forward over both workers, backward, an optimizer step, a read and stats."""
    rng = np.random.default_rng(0)
    w0 = dg.tensor(rng.standard_normal((8, 8)), device="worker:0", requires_grad=True)
    w1 = dg.tensor(rng.standard_normal((8, 3)), device="worker:1", requires_grad=True)
    x = dg.tensor(rng.standard_normal((4, 8)))  # from the driver: an array sent with a run
    opt = dg.optim.SGD([w0, w1], lr=0.1)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = ((x.to("worker:0") @ w0).tanh().to("worker:1") @ w1).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    stats = dist.stats()
    assert all(not v.get("dead") for v in stats.values())
    return losses, w0.detach().cpu().numpy(), w1.grad.cpu().numpy()


def test_a_training_step_makes_no_ray_actor_call(switch_runtime, monkeypatch):
    rt = switch_runtime("ray")
    assert rt.endpoint.links is not None
    import ray.actor

    def refuse(*a, **k):
        raise AssertionError("a Ray actor call")

    monkeypatch.setattr(ray.actor.ActorMethod, "_remote", refuse)
    losses, _, _ = _step()
    assert losses[2] < losses[0]


def test_ray_actor_calls_remain_and_agree(switch_runtime, monkeypatch):
    switch_runtime("ray")
    direct = _step()
    dist.shutdown()
    monkeypatch.setenv("DISTGRAD_CONTROL", "ray")
    try:
        rt = dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
        assert rt.endpoint.links is None
        by_ray = _step()
    finally:
        dist.shutdown()
    assert direct[0] == by_ray[0]
    for a, b in zip(direct[1:], by_ray[1:]):
        np.testing.assert_array_equal(a, b)


def test_a_restarted_worker_gets_a_new_link_and_the_old_one_is_retired(switch_runtime):
    rt = switch_runtime("ray")
    old = rt.endpoint.links[1]
    x = dg.ones(3, device="worker:1")
    x.sum().item()
    dist.restart_worker(1)
    assert rt.endpoint.links[1] is not old and isinstance(old.lost, control.LinkLost)
    assert old.lost.retired
    with pytest.raises(dist.WorkerDiedError, match="worker:1 was restarted"):
        x.sum().item()
    assert dg.ones(3, device="worker:1").sum().item() == 3.0


def test_a_driver_that_cannot_reach_its_workers_fails_at_init_naming_the_way_out(
        switch_runtime, monkeypatch):
    switch_runtime("ray")
    dist.shutdown()

    def refused(self, index, address, secret, same_node, timeout_s):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(control.ControlLink, "__init__", refused)
    with pytest.raises(TimeoutError, match="DISTGRAD_CONTROL=ray") as info:
        dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)
    assert "could not connect to its 2 workers" in str(info.value)
    assert not dist.is_initialized()
