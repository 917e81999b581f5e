"""Tensor parallelism against PyTorch in one process: DeviceMesh, distribute_tensor,
pending sums (Partial) and parallelize_module with ColwiseParallel / RowwiseParallel,
values and gradients over several optimizer steps, and what a block moves, on both
backends."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import DeviceMesh, Partial, Replicate, Shard, init_device_mesh
from distgrad.distributed.tensor import distribute_tensor
from distgrad.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,
                                                  parallelize_module)


def _whole(t) -> np.ndarray:
    t = t.detach()
    return (t.full_tensor() if t._sharding is not None else t).cpu().numpy()


def _mlp(T):
    class MLP(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = T.nn.Linear(6, 10)
            self.down = T.nn.Linear(10, 4)

        def forward(self, x):
            return self.down(T.relu(self.up(x)))
    return MLP().double()


def test_init_device_mesh_lays_workers_out_row_major(switch_runtime):
    switch_runtime("local", 4)
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    assert mesh.shape == (2, 2) and mesh.ndim == 2 and mesh.size() == 4
    assert [m.workers for m in mesh["tp"]] == [["worker:0", "worker:1"], ["worker:2", "worker:3"]]
    assert [m.workers for m in mesh["dp"]] == [["worker:0", "worker:2"], ["worker:1", "worker:3"]]
    assert init_device_mesh((2,), workers=[3, 1]).workers == ["worker:3", "worker:1"]
    with pytest.raises(RuntimeError, match="needs 8 workers"):
        init_device_mesh((2, 4))
    with pytest.raises(ValueError, match="distinct workers"):
        DeviceMesh("cpu", [0, 0])
    w = distribute_tensor(dg.ones(4, 3, requires_grad=True), mesh)  # replicated over all 4
    assert w.placements == [Replicate()] and len(w.shards) == 4 and w.is_leaf


def test_distribute_tensor_and_redistribute_keep_values_and_gradients(backend):
    mesh = init_device_mesh((2,))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4))
    x = dg.tensor(a, requires_grad=True)
    xs = distribute_tensor(x, mesh, [Shard(1)])
    assert xs.is_leaf and xs.placements == [Shard(1)]
    y = xs.redistribute(mesh, [Replicate()])
    assert y.placements == [Replicate()]
    (y * y).sum().backward()
    np.testing.assert_allclose(_whole(xs.grad), 2 * a, rtol=1e-12)
    with pytest.raises(ValueError, match="same length as `device_mesh.ndim`"):
        distribute_tensor(x, mesh, [Shard(0), Shard(1)])


def _row_parallel_product(rng):
    """x @ w1 (column-split) -> relu -> @ w2 (row-split): a pending sum, and torch's twin."""
    X, W1, W2 = rng.standard_normal((4, 6)), rng.standard_normal((6, 8)), rng.standard_normal((8, 5))
    x = dg.tensor(X, requires_grad=True)
    w1 = dist.shard(dg.tensor(W1, requires_grad=True), 1)
    w2 = dist.shard(dg.tensor(W2, requires_grad=True), 0)
    tx, tw1, tw2 = (torch.tensor(v, requires_grad=True) for v in (X, W1, W2))
    return (x, w1, w2), (x @ w1).relu() @ w2, (tx, tw1, tw2), (tx @ tw1).relu() @ tw2


def test_partial_stays_pending_through_linear_ops_and_sums_once(backend):
    rng = np.random.default_rng(1)
    leaves, p, tleaves, tp = _row_parallel_product(rng)
    assert p.placements == [Partial()]
    before = dist.counters()["collectives"].get("all_reduce", 0)
    q = (p * 2 + dg.ones(5, dtype=dg.float64) - p.neg()).transpose(0, 1) / 3
    assert q.placements == [Partial()]  # linear in the pending sum: still pending
    assert dist.counters()["collectives"].get("all_reduce", 0) == before
    out = q.tanh().sum()  # tanh needs the value: one all-reduce
    assert dist.counters()["collectives"].get("all_reduce", 0) == before + 1
    tout = ((tp * 2 + torch.ones(5, dtype=torch.float64) - tp.neg()).transpose(0, 1) / 3).tanh().sum()
    assert abs(out.item() - tout.item()) < 1e-12
    out.backward()
    tout.backward()
    for a, b in zip(leaves, tleaves):
        np.testing.assert_allclose(_whole(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("placement", [Replicate(), Shard(0), Shard(1)])
def test_partial_redistributes_by_all_reduce_or_reduce_scatter(backend, placement):
    rng = np.random.default_rng(2)
    leaves, p, tleaves, tp = _row_parallel_product(rng)
    r = dist.redistribute(p, placement)
    assert r.placements == [placement]
    np.testing.assert_allclose(_whole(r), tp.detach().numpy(), rtol=1e-12)
    for copy in (r.shards if placement == Replicate() else []):  # equal to the bit
        assert np.array_equal(copy.detach().cpu().numpy(), r.shards[0].detach().cpu().numpy())
    (r * r).sum().backward()
    (tp * tp).sum().backward()
    for a, b in zip(leaves, tleaves):
        np.testing.assert_allclose(_whole(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_parallelize_module_column_then_row_trains_as_torch(backend):
    torch.manual_seed(0)
    tm, dm = _mlp(torch), _mlp(dg)
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    mesh = init_device_mesh("cpu", (2,))
    assert parallelize_module(dm, mesh, {"up": ColwiseParallel(), "down": RowwiseParallel()}) is dm
    assert dm.up.weight.placements == [Shard(0)] and dm.up.bias.placements == [Shard(0)]
    assert dm.down.weight.placements == [Shard(1)]
    opt, topt = dg.optim.Adam(dm.parameters(), lr=0.05), torch.optim.Adam(tm.parameters(), lr=0.05)
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no op may gather a whole tensor
        for _ in range(3):
            X = rng.standard_normal((5, 6))
            opt.zero_grad()
            topt.zero_grad()
            loss = dm(dg.tensor(X, device="worker:0")).square().mean()
            tloss = tm(torch.tensor(X)).square().mean()
            loss.backward()
            tloss.backward()
            assert abs(loss.item() - tloss.item()) < 1e-12
            opt.step()
            topt.step()
    for (name, p), tp in zip(dm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_whole(p), tp.detach().numpy(), rtol=1e-10, err_msg=name)


def test_a_column_then_row_block_moves_one_all_reduce_each_way(backend):
    """Forward: the input to the second worker and one all-reduce of the output (only the
    copy the loss needs is made); backward: the output's gradient to the second worker and
    the input's gradient back. No weight moves either way."""
    batch, d_in, d_out = 5, 6, 4
    dm = _mlp(dg)
    parallelize_module(dm, init_device_mesh((2,)), {"up": ColwiseParallel(),
                                                     "down": RowwiseParallel()})
    x = dg.randn(batch, d_in, dtype=dg.float64, device="worker:0", requires_grad=True)
    dm(x).square().sum().backward()  # warm: the parameters' first use
    dist.synchronize()
    c0 = dist.counters()
    loss = dm(x).square().sum()
    dist.synchronize()
    c1 = dist.counters()
    loss.backward()
    dist.synchronize()
    c2 = dist.counters()
    assert c1["collectives"]["all_reduce"] - c0["collectives"]["all_reduce"] == 1
    assert c1["bytes_moved"] - c0["bytes_moved"] == (batch * d_in + batch * d_out) * 8
    assert c2["bytes_moved"] - c1["bytes_moved"] == (batch * d_out + batch * d_in) * 8


def test_parallelize_module_rejects_what_it_cannot_split(backend):
    mesh = init_device_mesh((2,))
    with pytest.raises(ValueError, match="no submodule matches"):
        parallelize_module(_mlp(dg), mesh, {"middle": ColwiseParallel()})
    with pytest.raises(NotImplementedError, match="applies to nn.Linear"):
        parallelize_module(dg.nn.ReLU(), mesh, ColwiseParallel())
