"""torch.special's new ops, the new nn.init fills and grad(is_grads_batched=True) on a
worker's tensors and on sharded ones, on both backends, against PyTorch on one device."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist

RNG = np.random.default_rng(14)
X = RNG.uniform(0.1, 0.9, (4, 6))


def _special_program(T, place):
    x = T.tensor(X, requires_grad=True)
    h = place(x * 1)
    S = T.special
    a = place(T.tensor(X * 3 + 0.5))
    out = (S.erfcx(h) + S.i0e(h * 4) + S.i1e(h * 4) + S.ndtri(h) + S.log_ndtr(h * 5 - 3)
           + S.entr(h) + S.xlog1py(h, h) + S.zeta(2.5, h) + S.gammainc(a, h * 2)
           + S.gammaincc(a, h * 3) + S.ndtr(h) + S.round(h * 10, decimals=1)
           + S.bessel_j0(h.detach() * 9) + S.bessel_j1(h.detach() * 9) + S.i1(h))
    out.sum().backward()
    return out, x.grad


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return (t.full_tensor() if t.placements else t).detach().cpu().numpy()


@pytest.mark.parametrize("where", ["worker", "rows", "columns"])
def test_special_functions_on_workers_and_shards(where, backend):
    place = {"worker": lambda t: t.to("worker:1"), "rows": lambda t: dist.shard(t, 0),
             "columns": lambda t: dist.shard(t, 1)}[where]
    got, got_grad = _special_program(dg, place)
    want, want_grad = _special_program(torch, lambda t: t)
    np.testing.assert_allclose(_np(got), _np(want), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(_np(got_grad), _np(want_grad), rtol=1e-8, atol=1e-10)


def test_init_fills_a_parameter_on_a_worker(backend):
    conv = dg.nn.Conv2d(4, 4, 3, groups=2).to("worker:0")
    dg.nn.init.dirac_(conv.weight, groups=2)
    want = torch.nn.init.dirac_(torch.empty(4, 2, 3, 3), groups=2).numpy()
    assert conv.weight.device_str == "worker:0" and conv.weight.requires_grad
    assert conv.weight.grad_fn is None
    np.testing.assert_array_equal(conv.weight.detach().cpu().numpy(), want)
    lin = dg.nn.Linear(6, 3).to("worker:1")
    dg.nn.init.eye_(lin.weight)
    np.testing.assert_array_equal(lin.weight.detach().cpu().numpy(), np.eye(3, 6))
    dg.manual_seed(0)
    dg.nn.init.orthogonal_(lin.weight, gain=2.0)
    w = lin.weight.detach().cpu().numpy().astype(np.float64)
    np.testing.assert_allclose(w @ w.T, 4 * np.eye(3), atol=1e-5)
    for fill in (lambda t: dg.nn.init.trunc_normal_(t, 0.0, 1.0, -0.5, 0.5),
                 lambda t: dg.nn.init.kaiming_normal_(t, mode="fan_out"),
                 dg.nn.init.xavier_normal_, lambda t: dg.nn.init.sparse_(t, 0.34)):
        fill(lin.weight)
        assert lin.weight.device_str == "worker:1" and lin.weight.grad_fn is None
    assert ((lin.weight.detach().cpu().numpy() == 0).sum(0) == 2).all()  # ceil(0.34 * 3) per column
    (lin(dg.ones(2, 6, device="worker:1")).sum()).backward()
    assert lin.weight.grad is not None


def test_grads_batched_on_a_worker(backend):
    def fn(T, place):
        x = T.tensor(X, requires_grad=True)
        y = (place(x) * 2).sin()
        v = place(T.tensor(RNG_V))
        g, = T.autograd.grad(y, x, v, is_grads_batched=True, create_graph=True)
        second, = T.autograd.grad((g * g).sum(), x)
        return g, second

    got = fn(dg, lambda t: t.to("worker:0"))
    want = fn(torch, lambda t: t)
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-10, atol=1e-12)


RNG_V = RNG.standard_normal((3, 4, 6))


@pytest.mark.filterwarnings("ignore:no sharding rule covers op 'stack'")
def test_grads_batched_on_a_sharded_leaf(backend):
    """The batch of a sharded input's gradients: stacked by the gather fallback (stack has no
    sharding rule), with torch's values through a second derivative."""
    def fn(T, x):
        y = (x * 2).sin()
        g, = T.autograd.grad(y, x, T.tensor(RNG_V), is_grads_batched=True, create_graph=True)
        second, = T.autograd.grad((g * g).sum(), x)
        return g, second

    got = fn(dg, dist.shard(dg.tensor(X), 0).requires_grad_())
    want = fn(torch, torch.tensor(X, requires_grad=True))
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-10, atol=1e-12)
