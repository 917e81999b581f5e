"""distgrad.func with its tensors on a worker, on both backends: grad (nested too), vmap and
per-sample gradients by vmap(grad(...)) with functional_call, against torch.func; the
results stay on the worker."""
from __future__ import annotations

import numpy as np
import torch

import distgrad as dg
from distgrad.func import grad, hessian, vmap

W = "worker:0"


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _np(t):
    return np.asarray(t.detach().cpu().numpy())


def test_grad_and_vmap_on_a_worker(backend):
    x, a = _arr(3), _arr(4, 3, seed=1)

    def f(lib, x):
        return (x.sin() * x ** 2).sum()

    dx, da = dg.tensor(x, device=W), dg.tensor(a, device=W)
    tx, ta = torch.tensor(x), torch.tensor(a)
    got = [grad(lambda x: f(dg, x))(dx), hessian(lambda x: f(dg, x))(dx),
           vmap(lambda r, v: (r * v).sum())(da, da), vmap(dg.mul, in_dims=(0, None))(da, dx)]
    want = [torch.func.grad(lambda x: f(torch, x))(tx),
            torch.func.hessian(lambda x: f(torch, x))(tx),
            torch.func.vmap(lambda r, v: (r * v).sum())(ta, ta),
            torch.func.vmap(torch.mul, in_dims=(0, None))(ta, tx)]
    for g, w in zip(got, want):
        assert str(g.device) == W and not g.requires_grad
        np.testing.assert_allclose(_np(g), w.numpy(), rtol=1e-5, atol=1e-6)
    assert dx.grad is None and not dx.requires_grad


def test_per_sample_gradients_on_a_worker(backend):
    xs, ys = _arr(5, 3, seed=2), np.array([0, 1, 1, 0, 1])

    def run(lib, device):
        nn, F = lib.nn, lib.nn.functional
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        model.load_state_dict({k: lib.tensor(_arr(*v.shape, seed=i))
                               for i, (k, v) in enumerate(model.state_dict().items())})
        model.to(device)
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss(p, x, y):
            return F.cross_entropy(lib.func.functional_call(model, p, (x[None],)), y[None])

        return lib.func.vmap(lib.func.grad(loss), in_dims=(None, 0, 0))(
            params, lib.tensor(xs, device=device), lib.tensor(ys, device=device))

    got, want = run(dg, W), run(torch, "cpu")
    assert got.keys() == want.keys()
    for k in want:
        assert str(got[k].device) == W and tuple(got[k].shape) == tuple(want[k].shape)
        np.testing.assert_allclose(_np(got[k]), want[k].numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=k)


def test_grad_of_a_sharded_argument_is_detached(backend):
    # (fuzzer seed 22047118) func.grad's result requires no grad when nothing outside the
    # transform does; a sharded or replicated argument's graph has its parts as leaves,
    # which counted as tensors of the caller's
    import distgrad.distributed as dist

    x = _arr(1, 3)
    want = torch.func.grad(lambda u, w: (u * w).tanh().sum(), argnums=1)(torch.tensor(x),
                                                                       torch.tensor(x))
    for place in (lambda t: dist.shard(t, 1), dist.replicate):
        g = grad(lambda u, w: (u * w).tanh().sum(), argnums=1)(dg.tensor(x), place(dg.tensor(x)))
        assert not g.requires_grad and g.is_leaf
        np.testing.assert_allclose(_np(g.full_tensor()), want.numpy(), rtol=1e-5, atol=1e-6)
