"""The torch names added in session 28 (the *_copy functions and unsafe splits, rsub, fill,
frexp, frobenius_norm, kl_div, embedding_bag's 4-tuple, the power and fractional max pools,
CrossMapLRN2d, AdaptiveLogSoftmaxWithLoss) on a worker's tensor and on sharded ones, in one
program, against PyTorch on one device: values and gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from test_added_functions_on_workers import _np

RNG = np.random.default_rng(28)
X = RNG.standard_normal((4, 6)).astype(np.float32)
SAMPLES = RNG.random((1, 4, 2)).astype(np.float32)


def _program(T, place, where):
    x = T.tensor(X, requires_grad=True)
    h = place(x * 1)
    pieces = T.unsafe_chunk(h, 2, 1)
    copies = [T.permute_copy(h, [1, 0]), T.select_copy(h, 1, 2), T.view_copy(h, [-1])]
    mantissa, exponent = T.frexp(h)
    loss = (sum((p * p).sum() for p in pieces) + sum(c.sum() for c in copies)
            + T.rsub(h, 2.0).sum() + T.fill(h, 0.5).sum() + mantissa.sum()
            + T.frobenius_norm(h, [1]).sum()
            + T.kl_div(h.log_softmax(1), h.softmax(1).detach(), 2))
    grid = h.reshape(1, 4, 2, 3)
    samples = T.tensor(SAMPLES, device=where) if where else T.tensor(SAMPLES)
    pooled = T.nn.functional.fractional_max_pool2d(grid, 2, output_size=(1, 2),
                                                   _random_samples=samples)
    lp = T.nn.functional.lp_pool3d(grid.unsqueeze(0), 2, (1, 2, 2))
    lrn = T.nn.CrossMapLRN2d(3, 0.1)(grid)
    loss = loss + pooled.sum() + lp.sum() + (lrn * lrn).sum()
    loss.backward()
    return [c.detach() for c in copies] + [exponent, loss.detach()], x.grad


@pytest.mark.parametrize("where", ["worker", "rows", "columns"])
def test_added_surface_in_a_program_on_workers_and_shards(where, backend):
    places = {"worker": lambda t: t.to("worker:1"), "rows": lambda t: dist.shard(t, 0),
              "columns": lambda t: dist.shard(t, 1)}
    got, got_grad = _program(dg, places[where], "worker:1" if where == "worker" else None)
    want, want_grad = _program(torch, lambda t: t.clone(), None)
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(_np(got_grad), _np(want_grad), rtol=2e-4, atol=1e-4)
