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


def _train_beside_torch(run, dm, tm, batch: int, steps: int = 3, gathers: bool = False) -> None:
    """`steps` Adam steps of `run(X)` (distgrad) and `tm` (torch) on the same batches, the
    losses equal at each; no op may gather a whole tensor (unless `gathers`)."""
    opt, topt = dg.optim.Adam(dm.parameters(), lr=0.05), torch.optim.Adam(tm.parameters(), lr=0.05)
    rng = np.random.default_rng(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if gathers else "error")
        for _ in range(steps):
            X = rng.standard_normal((batch, 6))
            opt.zero_grad()
            topt.zero_grad()
            loss = run(X).square().mean()
            tloss = tm(torch.tensor(X)).square().mean()
            loss.backward()
            tloss.backward()
            assert abs(loss.item() - tloss.item()) < 1e-12
            opt.step()
            topt.step()


def test_parallelize_module_column_then_row_trains_as_torch(backend):
    torch.manual_seed(0)
    tm, dm = _mlp(torch), _mlp(dg)
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    mesh = init_device_mesh("cpu", (2,))
    assert parallelize_module(dm, mesh, {"up": ColwiseParallel(), "down": RowwiseParallel()}) is dm
    assert dm.up.weight.placements == [Shard(0)] and dm.up.bias.placements == [Shard(0)]
    assert dm.down.weight.placements == [Shard(1)]
    _train_beside_torch(lambda X: dm(dg.tensor(X, device="worker:0")), dm, tm, batch=5)
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


def _copies_equal(p) -> bool:
    """Every copy of every tensor-parallel shard of `p` (or of `p`) holds the same bits."""
    parts = p._sharding.shards
    for part in parts if dist.sharding.groups_of(p) is not None else [p]:
        copies = [np.array(c.detach().tolist()) for c in part.shards]
        if not all(np.array_equal(copies[0], c) for c in copies[1:]):
            return False
    return True


def test_data_times_tensor_parallel_on_a_2x2_mesh_trains_as_torch(backend_name, switch_runtime):
    """parallelize_module over mesh["tp"], then DistributedDataParallel over mesh["dp"]: each
    group of two workers runs half the batch tensor-parallel; after several Adam steps the
    parameters are those of one torch process on the whole batch, every copy the same bits."""
    from distgrad.nn.parallel import DistributedDataParallel

    switch_runtime(backend_name, 4)
    torch.manual_seed(0)
    tm, dm = _mlp(torch), _mlp(dg)
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    parallelize_module(dm, mesh["tp"], {"up": ColwiseParallel(), "down": RowwiseParallel()})
    ddp = DistributedDataParallel(dm, device_mesh=mesh["dp"])
    assert [s.device_str for p in dm.up.weight.shards for s in p.shards] == \
        ["worker:0", "worker:2", "worker:1", "worker:3"]
    _train_beside_torch(lambda X: ddp(dg.tensor(X)), ddp, tm, batch=6)
    for (name, p), tp in zip(dm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_whole(p), tp.detach().numpy(), rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(_whole(p.grad), tp.grad.numpy(), rtol=1e-10, err_msg=name)
        assert _copies_equal(p), name


def test_a_2x2_mesh_block_with_a_replicated_norm_trains_as_torch(backend_name, switch_runtime):
    """A norm after the row-parallel layer (ReplicateParallel: a copy on every worker of
    every group): its copies' gradients are summed over all four workers."""
    from distgrad.distributed.tensor_parallel_layers import ReplicateParallel
    from distgrad.nn.parallel import DistributedDataParallel

    switch_runtime(backend_name, 4)

    def block(T):
        return T.nn.Sequential(T.nn.Linear(6, 10), T.nn.ReLU(), T.nn.Linear(10, 4),
                               T.nn.LayerNorm(4)).double()

    torch.manual_seed(1)
    tm, dm = block(torch), block(dg)
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    mesh = init_device_mesh((2, 2), mesh_dim_names=("dp", "tp"))
    parallelize_module(dm, mesh["tp"], {"0": ColwiseParallel(), "2": RowwiseParallel(),
                                        "3": ReplicateParallel()})
    assert len(dm[3].weight.shards) == 4
    ddp = DistributedDataParallel(dm, device_mesh=mesh["dp"])
    _train_beside_torch(lambda X: ddp(dg.tensor(X)), ddp, tm, batch=6)
    for (name, p), tp in zip(dm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_whole(p), tp.detach().numpy(), rtol=1e-10, err_msg=name)
        assert _copies_equal(p), name


def test_a_module_over_several_groups_is_run_by_data_parallel(backend_name, switch_runtime):
    from distgrad.nn.parallel import DistributedDataParallel

    switch_runtime(backend_name, 4)
    mesh = init_device_mesh((2, 2), mesh_dim_names=("dp", "tp"))
    dm = parallelize_module(_mlp(dg), mesh["tp"], {"up": ColwiseParallel(),
                                                   "down": RowwiseParallel()})
    with pytest.raises(RuntimeError, match=r"wrap it in DistributedDataParallel"):
        dm(dg.randn(4, 6, dtype=dg.float64))
    with pytest.raises(ValueError, match="data-parallel groups"):
        DistributedDataParallel(dm, device_mesh=mesh["tp"])


@pytest.mark.parametrize("placements", [[Replicate(), Shard(0)], [Shard(1), Replicate()]])
def test_distribute_tensor_on_a_2x2_mesh_splits_one_dim_and_copies_the_other(
        backend_name, switch_runtime, placements):
    switch_runtime(backend_name, 4)
    mesh = init_device_mesh((2, 2))
    a = np.random.default_rng(5).standard_normal((4, 6))
    w = distribute_tensor(dg.tensor(a, requires_grad=True), mesh, placements)
    assert w.is_leaf and w.requires_grad
    np.testing.assert_array_equal(_whole(w), a)
    split_over = [[0, 1], [2, 3]] if isinstance(placements[1], Shard) else [[0, 2], [1, 3]]
    assert dist.sharding.groups_of(w) == [[f"worker:{k}" for k in g] for g in split_over]
    with dg.no_grad():
        w.mul_(2).add_(1)
    np.testing.assert_array_equal(_whole(w), 2 * a + 1)
    assert _copies_equal(w)


def test_a_2x2_mesh_model_and_its_adam_state_round_trip_through_checkpoints(
        backend_name, switch_runtime, tmp_path):
    """distgrad.save/load and a distributed checkpoint give back every copy of every shard
    to the bit, and training goes on as if never stopped."""
    import distgrad.distributed.checkpoint as dcp
    from distgrad.nn.parallel import DistributedDataParallel

    switch_runtime(backend_name, 4)

    def make():
        dg.manual_seed(0)
        mesh = init_device_mesh((2, 2), mesh_dim_names=("dp", "tp"))
        m = parallelize_module(_mlp(dg), mesh["tp"], {"up": ColwiseParallel(),
                                                      "down": RowwiseParallel()})
        ddp = DistributedDataParallel(m, device_mesh=mesh["dp"])
        return ddp, dg.optim.Adam(ddp.parameters(), lr=0.1)

    def step(model, opt, x):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()

    x = dg.tensor(np.random.default_rng(2).standard_normal((6, 6)))
    a, opt_a = make()
    step(a, opt_a, x)
    dg.save({"model": a.state_dict(), "opt": opt_a.state_dict()}, tmp_path / "one.st")
    dcp.save({"model": a.state_dict()}, checkpoint_id=tmp_path / "dcp")
    b, opt_b = make()
    saved = dg.load(tmp_path / "one.st")
    b.load_state_dict(saved["model"])
    opt_b.load_state_dict(saved["opt"])
    c, _ = make()
    state = {"model": c.state_dict()}
    dcp.load(state, checkpoint_id=tmp_path / "dcp")
    for p, q, r in zip(a.parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(_whole(q), _whole(p))
        np.testing.assert_array_equal(_whole(r), _whole(p))
        assert _copies_equal(q) and _copies_equal(r)
    step(a, opt_a, x)
    step(b, opt_b, x)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(_whole(q), _whole(p))


def test_the_norms_a_plan_copies_are_reduced_in_one_bucket(backend):
    """Three norms copied to both workers (ReplicateParallel): their copies' gradients are
    summed by one all-reduce per backward, as data parallelism's buckets are, not one per
    parameter; the values are torch's."""
    from distgrad.distributed.tensor_parallel_layers import ReplicateParallel

    def net(T):
        return T.nn.Sequential(T.nn.LayerNorm(6), T.nn.Linear(6, 8), T.nn.Linear(8, 6),
                               T.nn.LayerNorm(6), T.nn.LayerNorm(6)).double()

    torch.manual_seed(2)
    tm, dm = net(torch), net(dg)
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    parallelize_module(dm, init_device_mesh((2,)), {"1": ColwiseParallel(), "2": RowwiseParallel(),
                                                    "[034]": ReplicateParallel()})
    X = np.random.default_rng(4).standard_normal((5, 6))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no op may gather a whole tensor
        dm(dg.tensor(X)).square().sum().backward()  # warm: the copies are made
        dm.zero_grad()
        dist.synchronize()
        before = dist.counters()["collectives"]["all_reduce"]
        dm(dg.tensor(X)).square().sum().backward()
        dist.synchronize()
    tm(torch.tensor(X)).square().sum().backward()
    norms_and_partials = dist.counters()["collectives"]["all_reduce"] - before
    assert norms_and_partials == 1 + 1  # the norms' bucket, and the row layer's pending sum
    for (name, p), tp in zip(dm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_whole(p.grad), tp.grad.numpy(), rtol=1e-10, atol=1e-14,
                                   err_msg=name)


def _sequence_parallel_block(T):
    """The tutorial's shape: norm, feed-forward with a residual, norm, a vocabulary head."""
    class FeedForward(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.w1, self.w2 = T.nn.Linear(8, 12), T.nn.Linear(12, 8)

        def forward(self, x):
            return self.w2(T.nn.functional.silu(self.w1(x)))

    class Block(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.ff = T.nn.LayerNorm(8), FeedForward()
            self.out_norm, self.head = T.nn.LayerNorm(8), T.nn.Linear(8, 6)

        def forward(self, x):
            return self.head(self.out_norm(x + self.ff(self.norm(x))))
    return Block().double()


def test_sequence_parallel_plan_of_torchs_tutorial_trains_as_torch(backend):
    # norms on the activation split on the sequence dim (their weights copied), the
    # feed-forward's input gathered by PrepareModuleInput, its output reduce-scattered back
    # onto the sequence (RowwiseParallel(output_layouts=Shard(1))), the head's input
    # gathered and its logits split on the classes for cross_entropy under loss_parallel:
    # torch's losses and parameters over three SGD steps, and no op gathers on its own
    from distgrad.distributed.tensor.parallel import (PrepareModuleInput, SequenceParallel,
                                                      loss_parallel)

    torch.manual_seed(3)
    tm, dm = _sequence_parallel_block(torch), _sequence_parallel_block(dg)
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    parallelize_module(dm, init_device_mesh("cpu", (2,)), {
        "norm": SequenceParallel(),
        "ff": PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
        "ff.w1": ColwiseParallel(), "ff.w2": RowwiseParallel(output_layouts=Shard(1)),
        "out_norm": SequenceParallel(),
        "head": ColwiseParallel(input_layouts=Shard(1), use_local_output=False)})
    assert dm.norm.weight.placements == [Replicate()]
    rng = np.random.default_rng(6)
    opt, topt = dg.optim.SGD(dm.parameters(), lr=0.1), torch.optim.SGD(tm.parameters(), lr=0.1)
    seen = []
    dm.ff.register_forward_hook(lambda m, a, out: seen.append((a[0].placements,
                                                               out.placements)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            X, Y = rng.standard_normal((2, 4, 8)), rng.integers(0, 6, (2, 4))
            out = dm(dg.tensor(X))  # (a whole input, laid out on the sequence by the norm)
            assert out.placements == [Shard(2)]
            with loss_parallel():
                loss = dg.nn.functional.cross_entropy(out.flatten(0, 1), dg.tensor(Y).flatten())
                loss.backward()
            tloss = torch.nn.functional.cross_entropy(tm(torch.tensor(X)).flatten(0, 1),
                                                      torch.tensor(Y).flatten())
            tloss.backward()
            assert abs(loss.item() - tloss.item()) < 1e-12
            for o in (opt, topt):
                o.step()
                o.zero_grad()
    assert seen[0] == ([Replicate()], [Shard(1)])
    for (name, p), tp in zip(dm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_whole(p), tp.detach().numpy(), rtol=1e-10, err_msg=name)


def test_prepare_module_output_lays_outputs_out_and_checks_lengths(backend):
    from distgrad.distributed.tensor.parallel import PrepareModuleInput, PrepareModuleOutput
    from torch.distributed.tensor.parallel import PrepareModuleInput as TorchInput

    m = dg.nn.Linear(4, 4).double()
    parallelize_module(m, init_device_mesh("cpu", (2,)), PrepareModuleOutput(
        output_layouts=Replicate(), desired_output_layouts=Shard(0)))
    X = np.random.default_rng(7).standard_normal((4, 4))
    out = m(dg.tensor(X))
    assert out.placements == [Shard(0)]
    np.testing.assert_allclose(_whole(out), X @ m.weight.detach().numpy().T
                               + m.bias.detach().numpy(), rtol=1e-12)
    with pytest.raises(AssertionError) as want:
        TorchInput(input_layouts=(Shard(0), None), desired_input_layouts=(Replicate(),))
    with pytest.raises(AssertionError) as got:
        PrepareModuleInput(input_layouts=(Shard(0), None), desired_input_layouts=(Replicate(),))
    assert str(got.value) == str(want.value)


def test_dtensor_names_factories_and_distribute_module_as_torchs(backend):
    # isinstance(t, DTensor) tells a distributed tensor; the factories take the global size
    # and lay it out; distribute_module replicates what partition_fn did not lay out, and
    # trains as torch's module does
    import torch.distributed.tensor as tdt

    import distgrad.distributed.tensor as dt

    mesh = init_device_mesh("cpu", (2,))
    a = dt.full((4, 3), 2.5, device_mesh=mesh, placements=[Shard(1)], requires_grad=True)
    assert isinstance(a, dt.DTensor) and not isinstance(dg.ones(2), dt.DTensor)
    assert a.placements == [Shard(1)] and a.is_leaf and a.requires_grad
    assert isinstance(Shard(0), dt.Placement) and not isinstance(0, dt.Placement)
    for name in ("ones", "zeros"):
        made = getattr(dt, name)(3, 2, dtype=dg.float64, device_mesh=mesh,
                                 placements=[Replicate()])
        np.testing.assert_array_equal(_whole(made), getattr(torch, name)(3, 2).numpy())
    assert dt.randn(5, 2, device_mesh=mesh, placements=[Shard(0)]).shape == (5, 2)
    assert set(tdt.__all__) <= set(dir(dt))

    torch.manual_seed(5)
    tm, dm = _mlp(torch), _mlp(dg)
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    calls = []

    def shard_up(name, module, device_mesh):
        if name == "up":
            module.weight = dg.nn.Parameter(dt.distribute_tensor(module.weight.detach(),
                                                                 device_mesh, [Shard(0)]))

    with pytest.warns(FutureWarning, match="Deprecating input_fn"):
        dt.distribute_module(dm, mesh, shard_up, lambda inputs, m: calls.append("in"),
                             lambda module, outputs, m: calls.append("out"))
    assert dm.up.weight.placements == [Shard(0)] and dm.down.weight.placements == [Replicate()]
    # (the replicated second layer's matmul with the split activation gathers it)
    _train_beside_torch(lambda X: dm(dg.tensor(X)), dm, tm, batch=5, gathers=True)
    assert calls[:2] == ["in", "out"]
    with pytest.raises(RuntimeError, match="only be called once"):
        dt.distribute_module(dm, mesh)
