"""The torch functions added in round 2's session 13 (nn.functional's activations and losses,
the index writes, shape helpers, elementwise math) on a worker's tensor and on sharded ones,
in programs that take views and write in place, against PyTorch on one device: values and
gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist

RNG = np.random.default_rng(13)
X = RNG.standard_normal((4, 6)).astype(np.float32)
IDX = np.array([2, 0, 2], np.int64)


def _program(T, F, place, idx):
    """One program through the new functions; returns what it computed and x's gradient."""
    x = T.tensor(X, requires_grad=True)
    h = place(x * 1)
    acts = (F.leaky_relu(h, 0.2) + F.elu(h) + F.softplus(h, beta=2.0) + F.hardtanh(h, -0.5, 0.5)
            + F.mish(h) + F.hardswish(h) + F.logsigmoid(h) + F.celu(h, 0.7))
    acts = acts + T.atan2(h, h * h + 1) + T.logaddexp(h, -h) + T.hypot(h, h + 1)
    view = acts.t()  # a transposed view of the sharded result, then in-place writes on it
    view.mul_(0.5)
    F.leaky_relu(view, 0.1, inplace=True)
    rows = acts.index_add(0, idx, acts[:3] * 2)
    scattered = rows.scatter_add(1, idx.unsqueeze(0).expand(4, 3), acts[:, :3])
    cum = scattered.cumprod(1)
    loss = (cum.diff(dim=1) ** 2).sum() + F.smooth_l1_loss(acts, h * 0) + F.huber_loss(acts, h)
    loss = loss + F.normalize(acts, dim=1).sum() + T.movedim(acts, 0, 1).unflatten(0, (2, 3)).sum()
    loss.backward()
    return [acts, rows, scattered, cum, loss], x.grad


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return (t.full_tensor() if t.placements else t).detach().cpu().numpy()


@pytest.mark.parametrize("where", ["worker", "rows", "columns"])
def test_added_functions_in_a_program_on_workers_and_shards(where, backend):
    places = {"worker": lambda t: t.to("worker:1"), "rows": lambda t: dist.shard(t, 0),
              "columns": lambda t: dist.shard(t, 1)}
    idx = dg.tensor(IDX, device="worker:1") if where == "worker" else dg.tensor(IDX)
    if where != "worker":
        idx = dist.replicate(idx)
    got, got_grad = _program(dg, dg.nn.functional, places[where], idx)
    want, want_grad = _program(torch, torch.nn.functional, lambda t: t.clone(),
                               torch.tensor(IDX))
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(_np(got_grad), _np(want_grad), rtol=2e-4, atol=1e-4)
