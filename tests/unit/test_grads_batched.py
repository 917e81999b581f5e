"""autograd.grad(..., is_grads_batched=True) against torch: each grad_output's dim 0 is a batch
of vectors and the result has it first (values, and through create_graph=True the gradients of
the batched result), with torch's errors for batches that do not match."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad

RNG = np.random.default_rng(20261205)
X = RNG.standard_normal((3, 4))
W = RNG.standard_normal((4, 2))


def _program(T, x, w):
    h = (x @ w).tanh()
    return h * h.sum(0), (x.exp() * 0.5).sum(1)


def _both(fn):
    out = []
    for T in (distgrad, torch):
        x = T.tensor(X, requires_grad=True)
        w = T.tensor(W, requires_grad=True)
        out.append(fn(T, x, w))
    return out


def _close(d, t):
    if t is None:
        assert d is None
        return
    assert tuple(d.shape) == tuple(t.shape)
    np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_batched_vjps_of_two_outputs_match_torch():
    v1, v2 = RNG.standard_normal((5, 3, 2)), RNG.standard_normal((5, 3))

    def fn(T, x, w):
        y, z = _program(T, x, w)
        return T.autograd.grad((y, z), (x, w), (T.tensor(v1), T.tensor(v2)),
                               is_grads_batched=True)

    (dx, dw), (tx, tw) = _both(fn)
    assert dx.shape == (5, 3, 4) and dw.shape == (5, 4, 2)
    _close(dx, tx)
    _close(dw, tw)


def test_the_jacobian_by_batched_identity_matches_torch():
    def fn(T, x, w):
        y = (x @ w).sin().flatten()
        return T.autograd.grad(y, x, T.eye(6, dtype=T.float64), is_grads_batched=True)[0]

    d, t = _both(fn)
    _close(d, t)


def test_create_graph_gives_a_differentiable_batched_result():
    v = RNG.standard_normal((4, 3, 2))

    def fn(T, x, w):
        y, _ = _program(T, x, w)
        gx, = T.autograd.grad(y, x, T.tensor(v), is_grads_batched=True, create_graph=True)
        assert gx.requires_grad
        second = T.autograd.grad((gx * gx).sum(), (x, w))
        return (gx,) + second

    d, t = _both(fn)
    for a, b in zip(d, t):
        _close(a, b)


def test_unused_input_gives_none_or_unbatched_zeros():
    v = RNG.standard_normal((2, 3))

    def fn(T, x, w):
        z = (x * 2).sum(1)
        unused = T.autograd.grad(z, (x, w), T.tensor(v), is_grads_batched=True,
                                 allow_unused=True, retain_graph=True)
        zeros = T.autograd.grad(z, (x, w), T.tensor(v), is_grads_batched=True,
                                materialize_grads=True, allow_unused=True)
        return unused + zeros

    d, t = _both(fn)
    for a, b in zip(d, t):
        _close(a, b)


def test_the_graph_is_freed_after_the_last_entry_unless_retained():
    def fn(T, x, w):
        z = (x.exp()).sum(1)
        T.autograd.grad(z, x, T.ones(2, 3, dtype=T.float64), is_grads_batched=True)
        try:
            T.autograd.grad(z, x, T.ones(2, 3, dtype=T.float64), is_grads_batched=True)
        except RuntimeError as e:
            return str(e)[:60]

    d, t = _both(fn)
    assert d == t and d.startswith("Trying to backward through the graph a second time")


@pytest.mark.parametrize("grads", [
    lambda T: (T.ones(2, 3, 2), T.ones(3, 3)),  # batch sizes 2 and 3
    # (a wrong shape at grad_output[0]: for a later one torch's message compares the tensors
    # with `==` (grads.index) and fails on their shapes instead)
    lambda T: (T.ones(2, 3, 3), T.ones(2, 3)),
    lambda T: (T.ones(2, 2, 3), T.ones(2, 3)),  # transposed
    lambda T: (T.ones(2, 3, 2), T.tensor(1.0)),  # no batch dim to index
    lambda T: (T.ones(2, 3, 2), None),
], ids=["batch_sizes", "shape", "transposed", "zero_dim", "none"])
def test_errors_match_torch(grads):
    def fn(T, x, w):
        y, z = _program(T, x, w)
        if grads(T)[1] is None:
            z = z.sum()
        try:
            T.autograd.grad((y, z), x, [None if g is None else g.double() for g in grads(T)],
                            is_grads_batched=True)
        except Exception as e:  # noqa: BLE001 (the type is compared)
            return type(e), str(e)
        return None

    d, t = _both(fn)
    assert t is not None and d == t
