"""The added shape, indexing and sampling functions (in-place shape ops, take/put,
index_put with accumulate, masked_select, scatter_reduce, the *_scatter family,
fill_diagonal_, pixel_shuffle, block_diag, ...) on a worker's tensor and on sharded ones
(which fall back to a gather where an op has no sharding rule), against PyTorch on one
device: values and gradients, on both backends."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist

RNG = np.random.default_rng(14)
X = RNG.standard_normal((4, 6)).astype(np.float32)
IDX = np.array([[0, 2, 2], [1, 1, 5], [3, 0, 0], [4, 4, 4]], np.int64)


def _program(T, place, idx):
    x = T.tensor(X, requires_grad=True)
    h = place(x * 1)
    a = h * 2
    a.t_()  # (6, 4) now, in place
    a.unsqueeze_(0)
    a.squeeze_(0)
    a.transpose_(0, 1)  # (4, 6) again, transposed twice
    b = T.take(a, idx.reshape(-1)[:4])
    c = T.put(a, idx.reshape(-1)[:3], a[0, :3] * 3, accumulate=True)
    d = T.index_put(c, (idx[:3, 0],), c[:3, 1:2] * 0 + 1.5, accumulate=True)
    e = T.masked_select(d, d > 0)
    f = T.scatter_reduce(d, 1, idx, a[:, :3], "amax", include_self=False)
    g = T.scatter_reduce(f, 1, idx, a[:, :3], "mean")
    s = T.slice_scatter(g, g[:, :2] * 2, 1, 4, 6)
    s = T.select_scatter(s, s[0] + 1, 0, 3)
    s = T.diagonal_scatter(s, s.diagonal() * 0, 1)
    w = s * 1
    w.fill_diagonal_(0.5)
    w.tril_(2)
    w.cumsum_(1)
    p = T.pixel_shuffle(w.reshape(1, 4, 2, 3), 2)
    bd = T.block_diag(w[:2, :2], w[2])
    tad = T.take_along_dim(w, idx[:, :2], dim=1)
    loss = (b.sum() + e.sum() + (p * p).sum() + bd.sum() + tad.sum()
            + T.narrow_copy(w, 1, 2, 3).sum() + w.sum_to_size(1, 6).sum())
    loss.backward()
    return [b, c, d, e, f, g, s, w, p, bd, tad, loss], x.grad


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return (t.full_tensor() if t.placements else t).detach().cpu().numpy()


def test_shape_functions_in_a_program_on_a_worker(backend):
    idx = dg.tensor(IDX, device="worker:1")
    got, got_grad = _program(dg, lambda t: t.to("worker:1"), idx)
    want, want_grad = _program(torch, lambda t: t.clone(), torch.tensor(IDX))
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(_np(got_grad), _np(want_grad), rtol=2e-4, atol=1e-4)


@pytest.mark.parametrize("dim", [0, 1])
def test_shape_functions_on_sharded_tensors(dim, backend):
    """Ops without a sharding rule on a sharded operand: gathered, computed, same values."""
    def program(T, place, idx):
        x = T.tensor(X, requires_grad=True)
        h = place(x * 1)
        outs = [T.masked_select(h, h > 0), T.take(h, idx.reshape(-1)[:5]),
                T.scatter_reduce(h, 1, idx, h[:, :3], "sum"),
                T.scatter_reduce(h, 1, idx, h[:, :3] * 2, "amin", include_self=False),
                T.pixel_shuffle(h.reshape(1, 4, 2, 3), 2), T.select_scatter(h, h[1], 0, 0),
                T.slice_scatter(h, h[:, :2], 1, 0, 2), T.narrow_copy(h, 1, 1, 3)]
        sum(o.sum() for o in outs).backward()
        return outs, x.grad

    got, got_grad = program(dg, lambda t: dist.shard(t, dim), dist.replicate(dg.tensor(IDX)))
    want, want_grad = program(torch, lambda t: t, torch.tensor(IDX))
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(_np(got_grad), _np(want_grad), rtol=2e-4, atol=1e-4)


@pytest.mark.parametrize("shape,wrap,dim", [((4, 6), False, 1), ((3, 3, 3), False, 0),
                                            ((10, 2), True, 0), ((8, 3), True, 1)])
def test_fill_diagonal_of_a_sharded_tensor_writes_through_a_view_as_torch(shape, wrap, dim,
                                                                          backend):
    # torch fills the diagonal (and a tall matrix's wrapped one, by a second write) through
    # strided views: grad_fn CopySlices, one version per write
    def program(T, place):
        x = T.arange(float(np.prod(shape)), dtype=T.float64).reshape(shape).requires_grad_()
        h = place(x * 1)
        before = h._version
        h.fill_diagonal_(-1.0, wrap=wrap)
        (h * h).sum().backward()
        return h, x.grad, h.grad_fn.name(), h._version - before

    got = program(dg, lambda t: dist.shard(t, dim))
    want = program(torch, lambda t: t)
    assert got[2:] == want[2:]
    for g, w in zip(got[:2], want[:2]):
        np.testing.assert_array_equal(_np(g), _np(w))


def test_sampling_on_a_worker(backend):
    dg.manual_seed(5)
    p = dg.full((4, 3), 0.5, device="worker:0")
    draws = [dg.bernoulli(p), dg.normal(p, 1.0), dg.poisson(p), dg.multinomial(p, 2),
             p.clone().exponential_(), p.clone().bernoulli_(0.5)]
    assert all(d.device == dg.device("worker:0") for d in draws)
    dg.manual_seed(5)
    again = [dg.bernoulli(p), dg.normal(p, 1.0), dg.poisson(p), dg.multinomial(p, 2),
             p.clone().exponential_(), p.clone().bernoulli_(0.5)]
    for a, b in zip(draws, again):
        assert np.array_equal(a.cpu().numpy(), b.cpu().numpy())


def _writes_in_torchs_order(T, device):
    """Index writes torch's kernel makes element by element: into an expanded tensor, and
    from a value sharing the written tensor's memory."""
    x = T.tensor([[0.32, 0.76, -0.26]], dtype=T.float64, device=device)
    x.expand(3, 3)[[2, 1]] = T.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=T.float64,
                                      device=device)
    y = T.tensor([[1.98], [-1.25], [2.0], [0.18]], device=device)
    every_other = y[::2]
    every_other[[1, 0]] = y[::2]  # (the same view, another tensor: torch reads it as it writes)
    return x, y


def test_index_writes_in_torchs_order_on_a_worker(backend):
    with pytest.warns(UserWarning, match="index_put_ on expanded tensors is deprecated"):
        got = _writes_in_torchs_order(dg, "worker:1")
    with pytest.warns(UserWarning, match="index_put_ on expanded tensors is deprecated"):
        want = _writes_in_torchs_order(torch, "cpu")
    for g, w in zip(got, want):
        assert g.device_str == "worker:1"
        np.testing.assert_array_equal(_np(g), _np(w))
