"""The functions of ops/more_pointwise.py, ops/order_stats.py and ops/products.py on a
worker's tensors and on sharded ones (the ops without a sharding rule gather), in one program
against PyTorch on one device: values, integer results' dtypes, and gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from test_added_functions_on_workers import _np

RNG = np.random.default_rng(14)
X = RNG.standard_normal((6, 4)).astype(np.float32)
Y = RNG.standard_normal((5, 4)).astype(np.float32)


def _program(T, F, place, near=lambda t: t):
    """One program through the new functions; returns what it computed, the integer results
    and the gradients. `near` puts a driver tensor where the program's tensors are."""
    x = T.tensor(X, requires_grad=True)
    y = T.tensor(Y, requires_grad=True)
    h, k = place(x * 1), place(y * 1)
    pointwise = (T.fmax(h, h * 0.5) + T.logit(h.sigmoid()) + h.sinc() + T.exp2(h) + h.erfc()
                 + T.asinh(h) + T.copysign(h, -1.0) + F.hardshrink(h, 0.3) + F.softshrink(h)
                 + F.tanhshrink(h) + h.rad2deg() * 0.01 + T.nan_to_num(h) + T.i0(h)
                 + T.polygamma(1, h.abs() + 1) + T.mvlgamma(h.abs() + 2, 2))
    med = T.median(pointwise, 1)
    mode = T.mode((h * 2).round(), 0)
    q = T.quantile(pointwise, 0.3, dim=0, interpolation="midpoint")
    cmax = T.cummax(pointwise, 1)
    lse = T.logcumsumexp(pointwise, 0)
    lo, hi = T.aminmax(pointwise, dim=1)
    d = T.cdist(h, k) + T.cdist(h, k, p=1)
    mv = T.addmv(med.values, pointwise, q) + T.addr(q[:6], med.values, q[:4]).sum(1)
    bmm = T.baddbmm(d.unsqueeze(0), h.unsqueeze(0), k.t().unsqueeze(0)).squeeze(0)
    loss = (med.values.sum() + mode.values.sum() + q.sum() + cmax.values.sum() + lse.sum()
            + (hi - lo).sum() + d.sum() + mv.sum() + bmm.sum() + T.dist(h, h.flip(0), 3)
            + T.renorm(pointwise, 2, 0, 1.0).sum() + T.kron(q, q).sum() + T.pdist(h).sum()
            + T.median(pointwise) + T.nanmedian(pointwise))
    loss.backward()
    counts = [T.bincount((h.abs() * 3).long().flatten()), T.histc(h, bins=5),
              T.searchsorted(near(T.tensor([-1.0, 0.0, 1.0])), h.detach()),
              T.bucketize(h.detach(), near(T.tensor([-0.5, 0.5])), right=True),
              med.indices, mode.indices, cmax.indices]
    return [pointwise, med.values, mode.values, q, lse, d, mv, bmm, loss], counts, [x.grad, y.grad]


@pytest.mark.parametrize("where", ["worker", "rows", "columns"])
def test_more_math_in_a_program_on_workers_and_shards(where, backend):
    places = {"worker": lambda t: t.to("worker:1"), "rows": lambda t: dist.shard(t, 0),
              "columns": lambda t: dist.shard(t, 1)}
    near = (lambda t: t.to("worker:1")) if where == "worker" else (lambda t: t)
    got, got_counts, got_grads = _program(dg, dg.nn.functional, places[where], near)
    want, want_counts, want_grads = _program(torch, torch.nn.functional, lambda t: t.clone())
    for g, w in zip(got + got_grads, want + want_grads):
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=2e-4)
    for g, w in zip(got_counts, want_counts):
        assert str(g.dtype) == str(w.dtype)
        np.testing.assert_array_equal(_np(g), _np(w))


def test_inf_and_nan_on_a_worker_come_without_warnings(backend):
    # A worker's run computes with numpy's warnings off, as torch computes 0·inf and log(0)
    # (in-process workers warned in the caller's process)
    import warnings

    def program(T, device):
        x = T.tensor([0.0, 1.0, 2.0], requires_grad=True)
        h = x.to(device) if device else x
        y = h * h.log() + T.atan2(h * 0, h * 0) + h / (h * 0)
        y.sum().backward()
        return _np(y), x.grad.numpy()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = program(dg, "worker:1")
    want = program(torch, None)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
