"""The added nn layers, functional ops and losses on workers, on both backends, against torch
on one device: a small model (ConvTranspose2d, GroupNorm, InstanceNorm2d, PReLU, Upsample,
reflection padding, Conv3d, adaptive max pooling, Bilinear) with its parameters
and inputs on worker:0 (results, input and parameter gradients), EmbeddingBag with
per-sample weights there, and a program of the
functional forms on a worker's tensor and on tensors sharded by rows (the ops without a
sharding rule gather), and the 3d pooling forms there too."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit"))
from module_twin import arr, assert_match, run_pair  # noqa: E402


def _model(nn):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1)
            self.gn = nn.GroupNorm(2, 4)
            self.inorm = nn.InstanceNorm2d(4, affine=True)
            self.act = nn.PReLU(4)
            self.pad = nn.ReflectionPad2d(1)
            self.resize = nn.Upsample(size=(5, 7), mode="bilinear")
            self.pool = nn.AdaptiveMaxPool2d((2, 3))
            self.conv3 = nn.Conv3d(1, 2, 2)
            self.bil = nn.Bilinear(12, 6, 3)

        def forward(self, x):
            h = self.act(self.inorm(self.gn(self.up(x))))
            h = self.pool(self.resize(self.pad(h)))  # (N, 4, 2, 3)
            v = self.conv3(h.unsqueeze(1)).flatten(1)  # (N, 2·3·1·2)
            return self.bil(v, h.flatten(2).mean(1)), v

    return Net()


def test_model_on_a_worker(backend):
    pairs = run_pair(_model, {"x": arr(2, 2, 3, 3, seed=3)},
                     lambda m, lib, t: m(t["x"]), device="worker:0")
    assert_match(pairs, rtol=1e-4, atol=1e-5)


def test_embedding_bag_on_a_worker(backend):
    def call(m, lib, t):
        dev = "worker:0" if lib is dg else "cpu"
        idx = lib.tensor([1, 2, 4, 4, 3, 0, 2], device=dev)
        return m(idx, lib.tensor([0, 2, 2, 5], device=dev), t["w"])

    pairs = run_pair(lambda nn: nn.EmbeddingBag(5, 3, mode="sum"), {"w": arr(7, seed=1)}, call,
                     device="worker:0")
    assert_match(pairs)


def _program(T, F, place, put):
    """place: where the data goes (a worker, or shards); put: where its operands go."""
    x = T.tensor(arr(4, 3, 6, seed=5), requires_grad=True)
    w = T.tensor(arr(3, 2, 3, seed=6), requires_grad=True)
    h = place(x * 1)
    out = [F.conv_transpose1d(h, put(w * 1), stride=2), F.pad(h, (2, 1), mode="circular"),
           F.pad(h, (1, 2), mode="replicate"), F.interpolate(h, 9, mode="linear"),
           F.max_pool1d(h, 2), F.avg_pool1d(h, 3), F.adaptive_avg_pool1d(h, 4),
           F.glu(h, -1), F.group_norm(h, 3), F.local_response_norm(h, 2),
           F.prelu(h, put(w[:, 0, 0] * 1)), F.pad(h, (2, 0), mode="reflect"),
           F.fold(F.unfold(h.unsqueeze(1), 2), (3, 6), 2)]
    flat = h.flatten(1)
    losses = [F.triplet_margin_loss(flat, flat * 0.5, -flat), F.soft_margin_loss(flat, flat.sign().detach()),
              F.multi_margin_loss(flat, put(T.tensor([0, 3, 5, 17]))),
              F.poisson_nll_loss(flat, flat.abs()), F.gaussian_nll_loss(flat, flat * 0, flat ** 2 + 1),
              F.cosine_embedding_loss(flat, flat.flip(0), put(T.tensor([1, -1, 1, -1])))]
    total = sum((o * o).sum() for o in out) + sum(losses)
    total.backward()
    return out + losses, x.grad, w.grad


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return (t.full_tensor() if t.placements else t).detach().cpu().numpy()


@pytest.mark.parametrize("where", ["worker", "rows"])
def test_functional_program_on_workers_and_shards(where, backend):
    places = {"worker": lambda t: t.to("worker:1"), "rows": lambda t: dist.shard(t, 0)}
    puts = {"worker": lambda t: t.to("worker:1"), "rows": dist.replicate}
    got = _program(dg, dg.nn.functional, places[where], puts[where])
    want = _program(torch, torch.nn.functional, lambda t: t, lambda t: t)
    for g, w in zip(got[0], want[0]):
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=2e-5)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=1e-4)


def _pools_3d(T, F, place):
    """The 3d pooling forms on (N, C, T, H, W) data placed on a worker or sharded by rows."""
    x = T.tensor(arr(4, 2, 4, 5, 3, seed=7), requires_grad=True)
    h = place(x * 1)
    out = [F.max_pool3d(h, 2, 1, 1), F.avg_pool3d(h, (2, 3, 2), ceil_mode=True),
           F.adaptive_avg_pool3d(h, (3, 2, 2)), F.adaptive_max_pool3d(h, (2, 2, 3)),
           F.max_pool3d(h, 2, return_indices=True)[1]]
    total = sum((o * o).sum() for o in out[:-1])
    total.backward()
    return out, x.grad


@pytest.mark.parametrize("where", ["worker", "rows"])
def test_3d_pooling_on_workers_and_shards(where, backend):
    places = {"worker": lambda t: t.to("worker:1"), "rows": lambda t: dist.shard(t, 0)}
    got = _pools_3d(dg, dg.nn.functional, places[where])
    want = _pools_3d(torch, torch.nn.functional, lambda t: t)
    for g, w in zip(got[0] + [got[1]], want[0] + [want[1]]):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-5, atol=1e-6)
