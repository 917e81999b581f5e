"""distgrad.linalg on a worker's tensor and on sharded ones (no sharding rule: the operands
are gathered), against PyTorch on one device: values and gradients of one program through
det, inv, solve, cholesky, qr, svd, eigh, pinv, matrix_exp, lstsq, lu, the norms, geqrf and
householder_product."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist

RNG = np.random.default_rng(14)
X = RNG.standard_normal((4, 4)).astype(np.float64)


def _program(T, place):
    x = T.tensor(X, requires_grad=True)
    h = place(x * 1)
    L = T.linalg
    eye = T.eye(4, dtype=T.float64, device=h.device if T is torch else None)
    a = h + 4 * (eye if T is torch else place(dg.eye(4, dtype=dg.float64)))
    spd = a @ a.mT
    q, r = L.qr(a)
    u, s, vh = L.svd(a)
    w, v = L.eigh(spd)
    outs = [L.det(a), L.inv(a), L.solve(a, h[:, :2]), L.cholesky(spd), q, r, u @ vh, s, w,
            v @ (w.unsqueeze(-1) * v.mT), L.pinv(h), L.matrix_exp(h / 4), L.matrix_norm(a, "nuc"),
            L.norm(h, 2), T.logdet(spd), L.solve_triangular(r, h, upper=True),
            L.lstsq(a, h).solution, L.lu_solve(*L.lu_factor(a), h), L.lu(a).U,
            L.householder_product(h, h[0, :3] / 4), L.householder_product(*T.geqrf(a.detach()))]
    loss = sum((o * (k + 1)).sum() for k, o in enumerate(outs))
    loss.backward()
    return outs, x.grad


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return (t.full_tensor() if t.placements else t).detach().cpu().numpy()


@pytest.mark.parametrize("where", ["worker", "rows", "columns"])
def test_linalg_on_workers_and_shards(where, backend):
    places = {"worker": lambda t: t.to("worker:1"), "rows": lambda t: dist.shard(t, 0),
              "columns": lambda t: dist.shard(t, 1)}
    got, got_grad = _program(dg, places[where])
    want, want_grad = _program(torch, lambda t: t.clone())
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(_np(got_grad), _np(want_grad), rtol=1e-7, atol=1e-9)


def test_linalg_error_from_a_worker(backend):
    with pytest.raises(RuntimeError, match="the inversion could not be completed"):
        dg.linalg.inv(dg.zeros(2, 2, device="worker:0")).cpu()
