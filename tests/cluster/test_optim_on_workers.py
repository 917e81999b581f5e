"""The optimizers beyond SGD and Adam with their parameters on workers, on both backends:
each parameter and its state stay on its worker, and the steps are torch's (the step-
dependent scalars, and RAdam's and ASGD's branches on them, computed on the worker)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
from distgrad.distributed.coordinator import WorkerQueue

SHAPES = [(6, 3), (6,), (2, 6), (2,)]
DEVICES = ["worker:0", "worker:0", "worker:1", "worker:1"]
STEPS = 6


def _grad(value, k, step):
    """A gradient from the parameter's own value (as the unit tests' `_grad`)."""
    rng = np.random.default_rng(100 * step + k)
    scale = np.where(np.arange(value.size).reshape(value.shape) % 3 == 0, -0.5, 2.0)
    noise = rng.standard_normal(value.shape).astype(np.float32) * np.float32(0.3)
    return (value - np.float32(0.25)) * scale.astype(np.float32) + noise


def _run(lib, name, kw, devices):
    rng = np.random.default_rng(0)
    init = [rng.uniform(-1, 1, s).astype(np.float32) for s in SHAPES]
    params = [lib.tensor(v, requires_grad=True, device=d) if lib is dg
              else lib.tensor(v, requires_grad=True) for v, d in zip(init, devices)]
    opt = getattr(lib.optim, name)(params, **kw)
    for step in range(STEPS):
        for k, (p, d) in enumerate(zip(params, devices)):
            g = _grad(np.array(p.detach().cpu().numpy()), k, step)
            p.grad = lib.tensor(g, device=d) if lib is dg else lib.tensor(g)
        opt.step()
    return [np.array(p.detach().cpu().numpy()) for p in params], opt, params


CASES = [
    ("NAdam", dict(lr=1e-2, weight_decay=0.1)),
    ("RAdam", dict(lr=1e-2, betas=(0.8, 0.5), weight_decay=0.1, decoupled_weight_decay=True)),
    ("RMSprop", dict(lr=1e-2, momentum=0.9, centered=True)),
    ("ASGD", dict(lr=0.05, lambd=0.1, t0=3)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Rprop", dict(lr=0.05)),
]


@pytest.mark.parametrize("name,kw", CASES, ids=[n for n, _ in CASES])
def test_steps_on_workers_match_torch(backend, name, kw):
    expected, _, _ = _run(torch, name, kw, DEVICES)
    got, opt, params = _run(dg, name, kw, DEVICES)
    for k, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=f"parameter {k}")
    for p, device in zip(params, DEVICES):
        assert p.device_str == device and p.is_leaf
        for key, value in opt.state[p].items():
            assert value.device_str == device, key  # the step count and scalars too


@pytest.mark.parametrize("name,kw", CASES, ids=[n for n, _ in CASES])
def test_a_step_reads_nothing_back(backend, name, kw, monkeypatch):
    """A step (after the first, which creates the state) sends its work to the workers and
    reads no value back: no round trip per parameter."""
    _, opt, params = _run(dg, name, kw, DEVICES)
    for k, (p, d) in enumerate(zip(params, DEVICES)):
        p.grad = dg.tensor(_grad(np.ones(p.shape, np.float32), k, 0), device=d)
    reads = []
    real = WorkerQueue.fetch
    monkeypatch.setattr(WorkerQueue, "fetch", lambda q, ref: reads.append(ref) or real(q, ref))
    opt.step()
    assert reads == []
    monkeypatch.undo()
    assert np.isfinite(params[0].detach().cpu().numpy()).all()


def test_state_dict_from_workers_resumes_on_the_driver(backend):
    """NAdam's state (with its 0-dim mu_product) saved from workers and loaded for driver
    parameters: the next steps are those of an unbroken run."""
    _, opt, params = _run(dg, "NAdam", dict(lr=1e-2), DEVICES)
    state = opt.state_dict()
    local = [dg.tensor(np.array(p.detach().cpu().numpy()), requires_grad=True) for p in params]
    opt2 = dg.optim.NAdam(local, lr=1e-2)
    opt2.load_state_dict(state)
    for p in local:
        assert all(v.device_str == "cpu" for v in opt2.state[p].values())
    for k, (p, q) in enumerate(zip(params, local)):
        g = _grad(np.array(q.detach().numpy()), k, STEPS)
        p.grad, q.grad = dg.tensor(g, device=DEVICES[k]), dg.tensor(g)
    opt.step()
    opt2.step()
    for p, q in zip(params, local):
        np.testing.assert_array_equal(p.detach().cpu().numpy(), q.detach().numpy())


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_on_a_worker_matches_torch(backend, line_search_fn):
    """LBFGS with its parameters on a worker: its step sizes are 0-dim tensors there, read
    as numbers where torch reads them (add_'s alpha), and the steps are torch's."""
    rng = np.random.default_rng(5)
    x0, y0 = rng.standard_normal((16, 4)), (rng.random(16) > 0.5).astype(np.float64)
    got = []
    for lib, dev in ((torch, None), (dg, "worker:1")):
        place = (lambda t: t.to(dev)) if dev else (lambda t: t)
        x, y = place(lib.tensor(x0)), place(lib.tensor(y0))
        w = place(lib.tensor([0.5, -1.0, 0.25, 2.0], dtype=lib.float64)).requires_grad_()
        opt = lib.optim.LBFGS([w], line_search_fn=line_search_fn)

        def closure():
            opt.zero_grad()
            loss = lib.nn.functional.binary_cross_entropy_with_logits(x @ w, y) + 0.1 * (w * w).sum()
            loss.backward()
            return loss
        for _ in range(2):
            opt.step(closure)
        got.append((w.detach().cpu().numpy(), opt.state[w]["func_evals"]))
    np.testing.assert_allclose(got[1][0], got[0][0], rtol=1e-9, atol=1e-12)
    assert got[1][1] == got[0][1]
