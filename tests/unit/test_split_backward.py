"""A backward in two parts (autograd/split_backward.py), against torch: the input
gradients first (and nothing accumulated yet), then the weight gradients, equal to one
whole backward; saved tensors freed after the second part."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
from distgrad.autograd.split_backward import backward_input


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _model(lib, x, params, grad):
    w1, b1, w2, w3 = params
    h = lib.nn.functional.linear(x, w1, b1).relu()
    h = h @ w2.t()  # the weight through a view (t) node
    h = lib.tanh(h) * (h @ w3)  # w3 used by a node that also leads to the input
    return h


def _leaves(lib):
    x = lib.tensor(_arr(5, 4, seed=1), requires_grad=True)
    params = [lib.tensor(_arr(*s, seed=k + 2), requires_grad=True)
              for k, s in enumerate([(6, 4), (6,), (3, 6), (3, 3)])]
    return x, params


def test_input_then_weight_gradients_equal_torch():
    tx, tparams = _leaves(torch)
    g = _arr(5, 3, seed=9)
    tout = _model(torch, tx, tparams, g)
    tout.backward(torch.from_numpy(g))

    x, params = _leaves(dg)
    out = _model(dg, x, params, g)
    (gx,), part = backward_input([out], [dg.tensor(g)], [x], params)
    np.testing.assert_allclose(gx.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert all(q.grad is None for q in params)  # nothing accumulated before the second part
    assert x.grad is None
    part.run()
    for q, tq in zip(params, tparams):
        np.testing.assert_allclose(q.grad.numpy(), tq.grad.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.backward(dg.tensor(g))
    with pytest.raises(RuntimeError, match="computed already"):
        part.run()


def test_without_inputs_the_weight_gradients_wait_for_the_second_part():
    tx, tparams = _leaves(torch)
    tloss = _model(torch, tx.detach(), tparams, None).sum()
    tloss.backward()
    x, params = _leaves(dg)
    loss = _model(dg, x.detach(), params, None).sum()
    grads, part = backward_input([loss], [None], [], params)
    assert grads == () and all(q.grad is None for q in params)
    part.run()
    for q, tq in zip(params, tparams):
        np.testing.assert_allclose(q.grad.numpy(), tq.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_weight_gradients_accumulate_over_two_backwards():
    tx, tparams = _leaves(torch)
    x, params = _leaves(dg)
    for k in range(2):
        _model(torch, tx * (k + 1), tparams, None).sum().backward()
        loss = _model(dg, x * (k + 1), params, None).sum()
        _, part = backward_input([loss], [None], [x], params)
        part.run()
    for q, tq in zip(params, tparams):
        np.testing.assert_allclose(q.grad.numpy(), tq.grad.numpy(), rtol=1e-5, atol=1e-6)


def _matmuls(prof) -> int:
    return sum(e.count for e in prof.key_averages() if e.key == "aten::mm")


def test_each_part_computes_only_its_own_gradients():
    """Three weights reached through matrix products: the first part makes only the
    input's gradient (three products back to x), the second only the weights' (one each);
    neither repeats the other's (a weight part that re-ran whole VJPs did six)."""
    x, params = _leaves(dg)
    out = _model(dg, x, params, None)
    with dg.profiler.profile() as first:
        _, part = backward_input([out], [dg.ones(5, 3)], [x], params)
    with dg.profiler.profile() as second:
        part.run()
    assert _matmuls(first) == 3
    assert _matmuls(second) == 3
