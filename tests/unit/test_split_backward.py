"""A backward in two parts (autograd/split_backward.py), against torch: the input
gradients first (and nothing accumulated yet), then the weight gradients, equal to one
whole backward; saved tensors freed after the second part."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
from distgrad.autograd.split_backward import backward_input, run_together


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


def _mlp(lib, seed=20):
    lins = [lib.nn.Linear(4, 6), lib.nn.Linear(6, 3)]
    with lib.no_grad():
        for k, lin in enumerate(lins):
            lin.weight.copy_(lib.from_numpy(_arr(*lin.weight.shape, seed=seed + k)))
            lin.bias.copy_(lib.from_numpy(_arr(*lin.bias.shape, seed=seed + 10 + k)))
    return lins


def _mlp_out(lins, x):
    return lins[1](lins[0](x).relu())


@pytest.mark.parametrize("input_needs_grad", [True, False])
def test_weight_parts_of_micro_batches_run_as_one_matmul_per_linear(input_needs_grad):
    """Three micro-batches (of 2, 3 and 1 rows) through Linear-ReLU-Linear: their weight
    parts together make one matmul per Linear (rows stacked), and the gradients are the
    whole batch's, as torch gives them; a first stage (input needing no gradient) splits
    too, its activations' gradient in the first part."""
    x = _arr(6, 4, seed=3)
    lins, tlins = _mlp(dg), _mlp(torch)
    tx = torch.from_numpy(x).requires_grad_(input_needs_grad)
    _mlp_out(tlins, tx).square().sum().backward()
    params = [q for lin in lins for q in lin.parameters()]
    parts, got = [], []
    with dg.profiler.profile() as first:
        for rows in ((0, 2), (2, 5), (5, 6)):
            xi = dg.tensor(x[slice(*rows)], requires_grad=input_needs_grad)
            out = _mlp_out(lins, xi)
            (gx,), part = backward_input([out.square().sum()], [None], [xi], params) if \
                input_needs_grad else ((None,), backward_input([out.square().sum()], [None],
                                                              [], params)[1])
            parts.append(part)
            got.append(gx)
    assert all(q.grad is None for q in params)
    with dg.profiler.profile() as second:
        run_together(parts)
    assert _matmuls(second) == 2  # a·g per Linear, over all the rows
    # each weight takes its gradient as computed, no copy (a root gradient the engine
    # still held was copied into .grad)
    assert not [e for e in second.key_averages() if e.key == "aten::clone"]
    # first part: each micro-batch's gradient back through the second Linear (and the
    # first's, to the input)
    assert _matmuls(first) == 3 * (2 if input_needs_grad else 1)
    for q, tq in zip(params, [q for lin in tlins for q in lin.parameters()]):
        np.testing.assert_allclose(q.grad.numpy(), tq.grad.numpy(), rtol=1e-5, atol=1e-6)
    if input_needs_grad:
        np.testing.assert_allclose(np.concatenate([g.numpy() for g in got]), tx.grad.numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_weight_parts_stack_whatever_comes_before_the_weights():
    """The second micro-batch skips the ReLU: the Linear nodes next to the weights are the
    same, so their weight gradients still stack (each reads only its own input and the
    gradient that reached it)."""
    x = _arr(4, 4, seed=5)
    lins, tlins = _mlp(dg), _mlp(torch)
    params = [q for lin in lins for q in lin.parameters()]
    (_mlp_out(tlins, torch.from_numpy(x[:2])).sum() +
     tlins[1](tlins[0](torch.from_numpy(x[2:]))).sum()).backward()
    parts = [backward_input([_mlp_out(lins, dg.tensor(x[:2])).sum()], [None], [], params)[1],
             backward_input([lins[1](lins[0](dg.tensor(x[2:]))).sum()], [None], [], params)[1]]
    with dg.profiler.profile() as prof:
        run_together(parts)
    assert _matmuls(prof) == 2
    for q, tq in zip(params, [q for lin in tlins for q in lin.parameters()]):
        np.testing.assert_allclose(q.grad.numpy(), tq.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_weight_parts_whose_weight_nodes_differ_run_one_by_one():
    """The second micro-batch writes its first Linear as x·wᵀ + b (an mm and an add, not
    one addmm): the parts' weight nodes differ, so each part runs its own VJPs."""
    x = _arr(4, 4, seed=6)
    lins, tlins = _mlp(dg), _mlp(torch)
    params = [q for lin in lins for q in lin.parameters()]

    def by_hand(lib, ls, xb):
        return ls[1]((xb @ ls[0].weight.t() + ls[0].bias).relu())

    (_mlp_out(tlins, torch.from_numpy(x[:2])).sum() +
     by_hand(torch, tlins, torch.from_numpy(x[2:])).sum()).backward()
    parts = [backward_input([_mlp_out(lins, dg.tensor(x[:2])).sum()], [None], [], params)[1],
             backward_input([by_hand(dg, lins, dg.tensor(x[2:])).sum()], [None], [], params)[1]]
    with dg.profiler.profile() as prof:
        run_together(parts)
    assert _matmuls(prof) == 4
    for q, tq in zip(params, [q for lin in tlins for q in lin.parameters()]):
        np.testing.assert_allclose(q.grad.numpy(), tq.grad.numpy(), rtol=1e-5, atol=1e-6)
