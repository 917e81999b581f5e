"""Sharded tensors against PyTorch on the unsharded computation, on both backends."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import Replicate, Shard
from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear

RNG = np.random.default_rng(7)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _close(a, b, tol=1e-5):
    a = a.full_tensor() if a.placements else a
    np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().numpy(), rtol=tol, atol=tol)


def _check(fn, arrays, shard_dims, tfn=None):
    """fn on sharded leaves (dim None: a driver tensor) vs torch on the full tensors."""
    leaves = [dg.tensor(a, requires_grad=True) for a in arrays]
    inputs = [dist.shard(x, d) if d is not None else x for x, d in zip(leaves, shard_dims)]
    out = fn(dg, *inputs)
    tleaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    tout = (tfn or fn)(torch, *tleaves)
    _close(out, tout)
    g = _arr(*tout.shape)
    (out * dg.tensor(g)).sum().backward() if out.ndim else out.backward()
    (tout * torch.tensor(g)).sum().backward() if tout.ndim else tout.backward()
    for x, t, d in zip(inputs, tleaves, shard_dims):
        grad = x.grad
        if d is not None:
            assert grad.placements == [Shard(d)]
            assert [s.device_str for s in grad.shards] == dist.workers()
        _close(grad, t.grad)
    return out


CASES = {
    "add_sharded_sharded": (lambda m, a, b: a + b, [(6, 4), (6, 4)], [0, 0]),
    "mul_sharded_plain": (lambda m, a, b: a * b, [(6, 4), (6, 4)], [0, None]),
    "add_broadcast_bias": (lambda m, a, b: a + b, [(6, 4), (4,)], [0, None]),
    "sub_sharded_dim1": (lambda m, a, b: (a - b).tanh(), [(3, 8), (3, 8)], [1, 1]),
    "exp_sigmoid_relu": (lambda m, a: a.exp().sigmoid() + a.relu(), [(5, 3)], [0]),
    "sum_over_sharded": (lambda m, a: a.sum(), [(7, 3)], [0]),
    "sum_dim_sharded": (lambda m, a: a.sum(0), [(7, 3)], [0]),
    "sum_dim_unsharded": (lambda m, a: a.sum(1), [(7, 3)], [0]),
    "mean_over_sharded": (lambda m, a: a.mean(), [(7, 3)], [0]),
    "mean_dim_keep": (lambda m, a: a.mean(1, keepdim=True), [(7, 3)], [0]),
    "amax_sharded": (lambda m, a: a.amax(0), [(6, 3)], [0]),
    "max_full": (lambda m, a: a.max(), [(6, 3)], [0]),
    "softmax_unsharded_dim": (lambda m, a: a.softmax(1), [(6, 5)], [0]),
    "log_softmax_unsharded_dim": (lambda m, a: a.log_softmax(-1), [(6, 5)], [0]),
    "logsumexp_sharded_dim": (lambda m, a: a.logsumexp(0), [(6, 3)], [0]),
    "column_parallel_matmul": (lambda m, x, w: x @ w, [(4, 6), (6, 8)], [None, 1]),
    "row_parallel_matmul": (lambda m, x, w: x @ w, [(4, 6), (6, 5)], [1, 0]),
    "batch_sharded_matmul": (lambda m, x, w: x @ w, [(8, 6), (6, 5)], [0, None]),
    "t_of_sharded": (lambda m, a: a.t() * 2, [(6, 4)], [0]),
    "reshape_keeps_sharded_dim": (lambda m, a: a.reshape(6, 2, 2).sum(-1), [(6, 4)], [0]),
    "index_unsharded_dim": (lambda m, a: a[:, 1:3] * 3, [(6, 4)], [0]),
    "select_unsharded_dim": (lambda m, a: a[:, 2], [(6, 4)], [0]),
    # each shard is (1, 1, 4): squeeze() must keep the sharded dim all the same
    "squeeze_keeps_sharded_dim": (lambda m, a: a.squeeze() * 2, [(2, 1, 4)], [0]),
    "unsqueeze_before_sharded_dim": (lambda m, a: a.unsqueeze(0).sum(-1), [(6, 4)], [0]),
    "mse_sharded_batch": (lambda m, a, b: m.nn.functional.mse_loss(a, b), [(8, 3), (8, 3)],
                          [0, None]),
    "bce_logits_sharded_batch": (lambda m, a, b: m.nn.functional.binary_cross_entropy_with_logits(
        a, b.sigmoid()), [(8, 3), (8, 3)], [0, 0]),
    "norm_sharded": (lambda m, a: a.norm(), [(6, 3)], [0]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule_matches_torch(backend, case):
    fn, shapes, dims = CASES[case]
    _check(fn, [_arr(*s) for s in shapes], dims)


def test_cross_entropy_on_sharded_batch(backend):
    logits = _arr(10, 4)
    target = RNG.integers(0, 4, size=10)
    x = dg.tensor(logits, requires_grad=True)
    xs = dist.shard(x, 0)
    loss = dg.nn.functional.cross_entropy(xs, dg.tensor(target))
    tx = torch.tensor(logits, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(tx, torch.tensor(target))
    loss.backward()
    tloss.backward()
    assert loss.placements == [Replicate()]
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    _close(xs.grad, tx.grad)


def _torch_mlp(lin1, lin2):
    t1 = torch.nn.Linear(lin1.in_features, lin1.out_features)
    t2 = torch.nn.Linear(lin2.in_features, lin2.out_features)
    with torch.no_grad():
        for t, d in ((t1, lin1), (t2, lin2)):
            t.weight.copy_(torch.tensor(d.weight.detach().numpy()))
            t.bias.copy_(torch.tensor(d.bias.detach().numpy()))
    return t1, t2


def test_column_then_row_mlp_matches_torch(backend):
    dg.manual_seed(0)
    lin1, lin2 = dg.nn.Linear(6, 10), dg.nn.Linear(10, 3)
    t1, t2 = _torch_mlp(lin1, lin2)
    col, row = ColumnParallelLinear.from_linear(lin1), RowParallelLinear.from_linear(lin2)
    model = dg.nn.Sequential(col, dg.nn.ReLU(), row)
    x, y = _arr(5, 6), _arr(5, 3)
    loss = dg.nn.functional.mse_loss(model(dg.tensor(x)), dg.tensor(y))
    tloss = torch.nn.functional.mse_loss(t2(t1(torch.tensor(x)).relu()), torch.tensor(y))
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    assert col.weight.grad.placements == [Shard(0)]
    assert row.weight.grad.placements == [Shard(1)]
    _close(col.weight.grad, t1.weight.grad)
    _close(col.bias.grad, t1.bias.grad)
    _close(row.weight.grad, t2.weight.grad)
    _close(row.bias.grad, t2.bias.grad)
    for p in model.parameters():
        assert p.requires_grad and p.is_leaf


def test_sharded_training_with_optimizer(backend):
    dg.manual_seed(1)
    lin1, lin2 = dg.nn.Linear(4, 8), dg.nn.Linear(8, 2)
    t1, t2 = _torch_mlp(lin1, lin2)
    model = dg.nn.Sequential(ColumnParallelLinear.from_linear(lin1), dg.nn.Tanh(),
                             RowParallelLinear.from_linear(lin2))
    opt = dg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(list(t1.parameters()) + list(t2.parameters()), lr=0.1, momentum=0.9)
    x, y = _arr(6, 4), _arr(6, 2)
    for _ in range(5):
        opt.zero_grad()
        loss = dg.nn.functional.mse_loss(model(dg.tensor(x)), dg.tensor(y))
        loss.backward()
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.mse_loss(t2(t1(torch.tensor(x)).tanh()), torch.tensor(y))
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-4)
    w = model[0].weight
    assert [s.device_str for s in w.shards] == ["worker:0", "worker:1"]
    _close(w, t1.weight, tol=1e-4)


def test_second_order_through_sharded_matmul(backend):
    x_np, w_np = _arr(3, 4), _arr(4, 6)
    x = dg.tensor(x_np, requires_grad=True)
    w = dg.tensor(w_np, requires_grad=True)
    ws = dist.shard(w, 1)
    out = (x @ ws).tanh().sum()
    (gx,) = dg.autograd.grad(out, x, create_graph=True)
    (gw,) = dg.autograd.grad((gx * gx).sum(), ws)
    tx = torch.tensor(x_np, requires_grad=True)
    tw = torch.tensor(w_np, requires_grad=True)
    tout = (tx @ tw).tanh().sum()
    (tgx,) = torch.autograd.grad(tout, tx, create_graph=True)
    (tgw,) = torch.autograd.grad((tgx * tgx).sum(), tw)
    _close(gx, tgx)
    assert gw.placements == [Shard(1)]
    _close(gw, tgw, tol=1e-4)


@pytest.mark.parametrize("x_list", [[0.0, 0.0, 1.02, -1.31], [0.0, 0.0, 0.0, 0.0]])
def test_second_order_through_the_norm_of_a_tensor_with_an_all_zero_shard(x_list, backend):
    # The norm of the shards' norms made 0/0 in a second-order pass through a shard that
    # is all zeros: NaN where torch's norm has a gradient (differential fuzzer seed 9784496).
    # A Hessian-vector product checks the second order itself; an all-zero whole has
    # torch's zero first-order gradient.
    w_np = np.array([0.5, -2.0, 1.5, 3.0])
    got = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t * 1)):
        x = T.tensor(x_list, dtype=T.float64, requires_grad=True)
        n = place(x * 1).norm()
        (g,) = T.autograd.grad(n * n + n, [x], create_graph=True)
        hv = None
        if n.item() != 0:
            (hv,) = T.autograd.grad((g * T.tensor(w_np)).sum(), [x])
        got.append((n, g, hv))
    for d, t in zip(*got):
        if t is None:
            assert d is None
        else:
            _close(d, t)


def test_mlp_moves_only_one_all_reduce_of_activations(backend):
    batch, d_in, hidden, d_out = 16, 32, 64, 8
    dg.manual_seed(2)
    col = ColumnParallelLinear(d_in, hidden)
    row = RowParallelLinear(hidden, d_out, bias=False)
    x = dg.randn(batch, d_in, device="worker:0")
    xr = dist.replicate(x)  # the input on both workers, as a data loader would place it
    y = dist.replicate(dg.randn(batch, d_out, device="worker:0"))
    (row(col(xr).relu()) - y).pow(2).mean().item()
    before = dist.counters()
    loss = (row(col(xr).relu()) - y).pow(2).mean()
    loss.backward()
    dist.current().flush_all()
    moved = dist.counters()["bytes_moved"] - before["bytes_moved"]
    act = batch * d_out * 4  # one partial sum of the row-parallel layer
    # forward: worker 1's partial goes to worker 0, where the loss is computed (its copy on
    # worker 1 would be made only if an op there needed it); backward: its gradient comes
    # back. Nothing else crosses: no weight, no hidden activation.
    assert moved == 2 * act, (moved, act)
    weight_bytes = (d_in * hidden + hidden * d_out) * 4
    assert moved < weight_bytes / 4  # a gather of either weight alone would be more


def test_row_parallel_forward_sends_each_partial_with_the_run_that_computes_it(backend):
    """The bias is added to the first worker's partial (it never moves), and each worker's
    partial leaves in the run that computes it: two runs per worker for the forward (the
    partial, then the sum), and only the two partials cross (the sum is wanted on both:
    `.shards` makes worker 1's copy)."""
    import gc

    batch, d_in, hidden, d_out = 16, 32, 64, 8
    dg.manual_seed(3)
    lin1, lin2 = dg.nn.Linear(d_in, hidden), dg.nn.Linear(hidden, d_out)
    t1, t2 = _torch_mlp(lin1, lin2)
    col, row = ColumnParallelLinear.from_linear(lin1), RowParallelLinear.from_linear(lin2)
    x_np = _arr(batch, d_in)
    xr = dist.replicate(dg.tensor(x_np, device="worker:0"))
    row(col(xr).relu()).sum().item()  # the input's copies are made once
    gc.collect()
    dist.current().flush_all()
    before = dist.counters()
    out = row(col(xr).relu())
    assert out.placements == [dist.Partial()]  # a pending sum until its value is wanted
    copies = dist.redistribute(out, dist.Replicate()).shards
    dist.current().flush_all()
    after = dist.counters()
    assert after["bytes_moved"] - before["bytes_moved"] == 2 * batch * d_out * 4
    sent = [a - b for a, b in zip(after["messages"], before["messages"])]
    assert sent == [2, 2], sent
    expected = t2(t1(torch.tensor(x_np)).relu()).detach().numpy()
    for copy in copies:
        np.testing.assert_allclose(copy.detach().cpu().numpy(), expected, rtol=1e-5, atol=1e-6)


def test_uncovered_op_falls_back_to_gather_warned_once_and_counted(backend, monkeypatch):
    from distgrad.distributed import sharding

    monkeypatch.setattr(sharding, "_warned_ops", set())
    before = dist.stats()["worker:0"]["fallbacks"].get("add", 0)
    with pytest.warns(UserWarning, match=r"op 'add'.*Shard\(dim=0\).*Shard\(dim=1\).*gathers"):
        _check(lambda m, a, b: a + b, [_arr(6, 4), _arr(6, 4)], [0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per op
        _check(lambda m, a, b: a * 2 + b, [_arr(6, 4), _arr(6, 4)], [0, 1])
    assert dist.stats()["worker:0"]["fallbacks"]["add"] == before + 2
    with pytest.warns(UserWarning, match="cumsum"):  # (softmax over it has a rule now)
        out = _check(lambda m, a: a.cumsum(0), [_arr(6, 4)], [0])
    assert out.placements == [Shard(0)]  # the result is placed as the operand was


def test_redistribute_then_softmax_over_the_formerly_sharded_dim(backend):
    a_np = _arr(6, 4)
    a = dg.tensor(a_np, requires_grad=True)
    rows = dist.shard(a, 0)
    cols = dist.redistribute(rows, Shard(1))
    assert cols.placements == [Shard(1)]
    out = cols.softmax(0)
    g = _arr(6, 4)
    (out * dg.tensor(g)).sum().backward()
    ta = torch.tensor(a_np, requires_grad=True)
    tout = ta.softmax(0)
    (tout * torch.tensor(g)).sum().backward()
    _close(out, tout)
    assert rows.grad.placements == [Shard(0)]
    _close(rows.grad, ta.grad)


def test_shard_errors(backend):
    with pytest.raises(IndexError, match="Dimension out of range"):
        dist.shard(dg.ones(4, 2), 2)
    with pytest.raises(RuntimeError, match="fewer rows than"):
        dist.shard(dg.ones(1, 2), 0)


def test_shard_keeps_leaf_and_requires_grad(backend):
    w = dg.randn(5, 3, requires_grad=True)
    ws = dist.shard(w, 0)
    assert ws.is_leaf and ws.requires_grad
    assert [tuple(s.shape) for s in ws.shards] == [(3, 3), (2, 3)]
    assert all(s.is_leaf for s in ws.shards)
    np.testing.assert_allclose(ws.full_tensor().detach().numpy(), w.detach().numpy())


@pytest.mark.parametrize("n", [3, 4])
def test_uneven_shards_in_process(n, switch_runtime):
    switch_runtime("local", n)
    try:
        x_np, w1_np, w2_np = _arr(7, 5), _arr(11, 5), _arr(3, 11)
        lin1 = dg.nn.Linear(5, 11)
        lin2 = dg.nn.Linear(11, 3)
        with dg.no_grad():
            lin1.weight.copy_(dg.tensor(w1_np))
            lin2.weight.copy_(dg.tensor(w2_np))
        t1, t2 = _torch_mlp(lin1, lin2)
        col, row = ColumnParallelLinear.from_linear(lin1), RowParallelLinear.from_linear(lin2)
        assert [s.shape[0] for s in col.weight.shards] == [len(p) for p in
                                                          np.array_split(np.arange(11), n)]
        xs = dist.shard(dg.tensor(x_np, requires_grad=True), 0)
        loss = row(col(xs.full_tensor()).sigmoid()).sum()
        tx = torch.tensor(x_np, requires_grad=True)
        tloss = t2(t1(tx).sigmoid()).sum()
        loss.backward()
        tloss.backward()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
        _close(xs.grad, tx.grad)
        _close(col.weight.grad, t1.weight.grad)
        _close(row.weight.grad, t2.weight.grad)
    finally:
        dist.shutdown()
