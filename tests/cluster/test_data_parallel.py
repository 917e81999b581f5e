"""Data parallelism against PyTorch in one process: replicated leaves (every copy a leaf on
its worker, gradients summed worker to worker) and DistributedDataParallel, with SGD and
Adam over several steps, with and without no_sync, on both backends."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.nn.parallel import DistributedDataParallel


def _copies(p) -> list:
    return [c.detach().cpu().numpy() for c in p._sharding.shards]


def _twin_mlp(seed: int = 0):
    torch.manual_seed(seed)
    tm = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 6),
                             torch.nn.ReLU(), torch.nn.Linear(6, 3)).double()
    dm = dg.nn.Sequential(dg.nn.Linear(5, 8), dg.nn.Tanh(), dg.nn.Linear(8, 6), dg.nn.ReLU(),
                          dg.nn.Linear(6, 3)).double()
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return dm, tm


def _assert_params_match(ddp_module, tm):
    for (name, p), tp in zip(ddp_module.named_parameters(), tm.parameters()):
        copies = _copies(p)
        np.testing.assert_allclose(copies[0], tp.detach().numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=name)
        for c in copies[1:]:  # the copies are equal to the bit
            assert np.array_equal(c, copies[0]), name


def test_a_replicated_leaf_is_a_leaf_with_a_leaf_on_every_worker(backend):
    w = dg.randn(3, 4, dtype=dg.float64, requires_grad=True)
    r = dist.replicate(w)
    assert r.is_leaf and r.requires_grad and r.grad_fn is None
    assert [c.device for c in r._sharding.shards] == [dg.device(k) for k in dist.workers()]
    assert all(c.is_leaf and c.requires_grad for c in r._sharding.shards)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_replicated_leaf_gradient_is_the_sum_over_copies_on_every_copy(backend, opt):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 4))
    r = dist.replicate(dg.tensor(W, requires_grad=True))
    tw = torch.tensor(W, requires_grad=True)
    make = (lambda ps: dg.optim.SGD(ps, lr=0.1, momentum=0.9)) if opt == "sgd" else \
        (lambda ps: dg.optim.Adam(ps, lr=0.05))
    tmake = (lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)) if opt == "sgd" else \
        (lambda ps: torch.optim.Adam(ps, lr=0.05))
    o, to = make([r]), tmake([tw])
    for _ in range(3):
        X = rng.standard_normal((6, 3))
        o.zero_grad()
        to.zero_grad()
        (dist.shard(dg.tensor(X), 0) @ r).tanh().sum().backward()
        (torch.tensor(X) @ tw).tanh().sum().backward()
        grads = _copies(r.grad)
        np.testing.assert_allclose(grads[0], tw.grad.numpy(), rtol=1e-12, atol=1e-12)
        assert all(np.array_equal(g, grads[0]) for g in grads[1:])
        o.step()
        to.step()
        copies = _copies(r)
        np.testing.assert_allclose(copies[0], tw.detach().numpy(), rtol=1e-12, atol=1e-12)
        assert all(np.array_equal(c, copies[0]) for c in copies[1:])


def test_the_gradient_all_reduce_sums_into_the_received_copies(backend, monkeypatch):
    """Each worker adds its own part into the copy it received (an in-place add the worker
    computes in that memory): one write per gradient and worker, no new sum buffer; the
    copies stay bitwise equal."""
    from distgrad.distributed.coordinator import WorkerQueue

    writes = []
    assign = WorkerQueue.assign
    monkeypatch.setattr(WorkerQueue, "assign",
                        lambda q, dst, src: (writes.append(q.device), assign(q, dst, src))[1])
    rng = np.random.default_rng(1)
    params = [dist.replicate(dg.tensor(rng.standard_normal(s), requires_grad=True))
              for s in ((4, 3), (3,), (3, 2))]
    h = dist.shard(dg.tensor(rng.standard_normal((6, 4))), 0)
    (((h @ params[0] + params[1]).tanh() @ params[2]) ** 2).sum().backward()
    assert sorted(writes) == sorted(dist.workers() * len(params))
    for p in params:
        grads = _copies(p.grad)
        assert np.array_equal(grads[0], grads[1])


def test_autograd_grad_of_a_replicated_leaf_sums_its_copies(backend):
    rng = np.random.default_rng(1)
    W, X = rng.standard_normal((3, 2)), rng.standard_normal((4, 3))
    r = dist.replicate(dg.tensor(W, requires_grad=True))
    tw = torch.tensor(W, requires_grad=True)
    g, = dg.autograd.grad((dist.shard(dg.tensor(X), 0) @ r).square().sum(), r)
    tg, = torch.autograd.grad((torch.tensor(X) @ tw).square().sum(), tw)
    np.testing.assert_allclose(g.full_tensor().numpy(), tg.numpy(), rtol=1e-12)


@pytest.mark.parametrize("bucket_cap_mb", [25, 0.0001])  # one bucket, or one per layer
def test_ddp_trains_as_one_process_on_the_full_batch(backend, bucket_cap_mb):
    dm, tm = _twin_mlp()
    ddp = DistributedDataParallel(dm, bucket_cap_mb=bucket_cap_mb)
    assert len(ddp._buckets) == (1 if bucket_cap_mb == 25 else 3)  # (a bias is under 0.0001 MB)
    opt, topt = dg.optim.Adam(ddp.parameters(), lr=0.01), torch.optim.Adam(tm.parameters(), lr=0.01)
    rng = np.random.default_rng(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no op may fall back to a gather
        for _ in range(4):
            X, Y = rng.standard_normal((7, 5)), rng.standard_normal((7, 3))
            opt.zero_grad()
            topt.zero_grad()
            loss = dg.nn.functional.mse_loss(ddp(dg.tensor(X)), dg.tensor(Y))
            loss.backward()
            tloss = torch.nn.functional.mse_loss(tm(torch.tensor(X)), torch.tensor(Y))
            tloss.backward()
            assert abs(loss.item() - tloss.item()) < 1e-12
            opt.step()
            topt.step()
    _assert_params_match(ddp.module, tm)


def test_a_ddp_recurrent_layer_trains_as_one_process_and_its_tensors_name_a_device(backend):
    """LSTM makes its initial state with device=input.device: a sharded batch (and a
    replicated parameter) is on the "sharded" device, where a factory makes a tensor that
    acts as replicated beside it."""
    torch.manual_seed(3)
    tm = torch.nn.LSTM(3, 4, batch_first=True).double()
    dm = dg.nn.LSTM(3, 4, batch_first=True).double()
    dm.load_state_dict({k: dg.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    ddp = DistributedDataParallel(dm)
    assert next(ddp.parameters()).device == dg.device("sharded")
    X = np.random.default_rng(4).standard_normal((4, 5, 3))
    x = dist.shard(dg.tensor(X), 0)
    assert x.device == dg.device("sharded") and x.get_device() == -1 and not x.is_cpu
    out, (h, c) = ddp(x)
    tout, (th, tc) = tm(torch.tensor(X))
    out.square().sum().backward()
    tout.square().sum().backward()
    np.testing.assert_allclose(out.full_tensor().detach().numpy(), tout.detach().numpy(),
                               rtol=1e-12)
    for (name, p), tp in zip(ddp.module.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_copies(p.grad)[0], tp.grad.numpy(), rtol=1e-10,
                                   err_msg=name)


def test_a_write_through_a_view_of_a_ddp_parameter_reaches_every_copy(backend):
    # (pruning a row, scaling a column under no_grad between steps): the view's copy on
    # each worker is a view of the parameter's copy there, not a move of the first
    dm, tm = _twin_mlp()
    ddp = DistributedDataParallel(dm)
    X = np.random.default_rng(3).standard_normal((6, 5))
    ddp(dg.tensor(X)).sum().backward()
    for m in (dm, tm):
        with dg.no_grad(), torch.no_grad():
            m[2].weight[0].zero_()
            m[2].weight.t()[1].mul_(2)
            m[4].bias[1:].fill_(0.5)
    _assert_params_match(dm, tm)
    out = ddp(dg.tensor(X)).detach().cpu().numpy()
    np.testing.assert_allclose(out, tm(torch.tensor(X)).detach().numpy(), rtol=1e-12)


def test_ddp_no_sync_accumulates_and_the_next_backward_sums_it_in(backend):
    dm, tm = _twin_mlp(1)
    ddp = DistributedDataParallel(dm)
    opt, topt = dg.optim.SGD(ddp.parameters(), lr=0.1), torch.optim.SGD(tm.parameters(), lr=0.1)
    rng = np.random.default_rng(3)
    for _ in range(2):
        X, Y = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
        opt.zero_grad()
        topt.zero_grad()
        for lo, hi in ((0, 4), (4, 8)):
            context = ddp.no_sync() if lo == 0 else _nothing()
            with context:
                dg.nn.functional.mse_loss(ddp(dg.tensor(X[lo:hi])), dg.tensor(Y[lo:hi])).backward()
            torch.nn.functional.mse_loss(tm(torch.tensor(X[lo:hi])),
                                         torch.tensor(Y[lo:hi])).backward()
        for p, tp in zip(ddp.module.parameters(), tm.parameters()):
            grads = _copies(p.grad)
            np.testing.assert_allclose(grads[0], tp.grad.numpy(), rtol=1e-12, atol=1e-14)
            assert all(np.array_equal(g, grads[0]) for g in grads[1:])
        opt.step()
        topt.step()
    _assert_params_match(ddp.module, tm)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_ddp_backward_sends_no_gradient_through_the_driver(backend):
    dg.manual_seed(0)
    ddp = DistributedDataParallel(dg.nn.Sequential(dg.nn.Linear(64, 128), dg.nn.ReLU(),
                                                   dg.nn.Linear(128, 64)).double())
    X, Y = dg.randn(8, 64, dtype=dg.float64), dg.randn(8, 64, dtype=dg.float64)
    loss = dg.nn.functional.mse_loss(ddp(X), Y)
    dist.synchronize()
    before = dist.counters()
    loss.backward()
    dist.synchronize()
    after = dist.counters()
    sent = sum(after["bytes_sent"]) - sum(before["bytes_sent"])
    received = sum(after["bytes_received"]) - sum(before["bytes_received"])
    grad_bytes = sum(p.numel() * 8 for p in ddp.parameters())
    assert received == 0
    assert sent < grad_bytes  # instructions only: no gradient goes out from the driver
    assert after["collectives"]["all_reduce"] - before["collectives"]["all_reduce"] == 1


def test_zero_redundancy_adam_trains_as_torch_with_half_the_state_per_worker(backend):
    from distgrad.distributed.optim import ZeroRedundancyOptimizer

    dm, tm = _twin_mlp(4)
    ddp = DistributedDataParallel(dm)
    opt = ZeroRedundancyOptimizer(ddp.parameters(), dg.optim.Adam, lr=0.01)
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    rng = np.random.default_rng(5)
    for _ in range(3):
        X, Y = rng.standard_normal((6, 5)), rng.standard_normal((6, 3))
        opt.zero_grad()
        topt.zero_grad()
        dg.nn.functional.mse_loss(ddp(dg.tensor(X)), dg.tensor(Y)).backward()
        torch.nn.functional.mse_loss(tm(torch.tensor(X)), torch.tensor(Y)).backward()
        opt.step()
        topt.step()
    _assert_params_match(ddp.module, tm)
    assert sorted(opt.state_dict()["state"]) == list(range(6))


def _state_bytes_per_worker(make_optimizer) -> list:
    """Bytes each worker holds after a step, less those it held before it (the state)."""
    dg.manual_seed(0)
    ddp = DistributedDataParallel(dg.nn.Sequential(dg.nn.Linear(32, 32, bias=False),
                                                   dg.nn.Linear(32, 32, bias=False)))
    opt = make_optimizer(ddp.parameters())
    ddp(dg.randn(4, 32)).sum().backward()
    before = dist.stats()
    opt.step()
    after = dist.stats()
    return [after[w]["bytes"] - before[w]["bytes"] for w in dist.workers()]


def test_zero_redundancy_keeps_each_parameters_state_on_its_owner_only(backend):
    from distgrad.distributed.optim import ZeroRedundancyOptimizer

    plain = _state_bytes_per_worker(lambda ps: dg.optim.Adam(ps, lr=0.01))
    zero = _state_bytes_per_worker(lambda ps: ZeroRedundancyOptimizer(ps, dg.optim.Adam, lr=0.01))
    moments = 2 * 32 * 32 * 4  # Adam's two moments of one 32x32 weight
    assert all(p >= 2 * moments for p in plain), plain
    assert all(abs(z - moments) <= 64 for z in zero), (zero, plain)  # (and its step count)


def test_ddp_module_and_optimizer_state_round_trip_through_a_file_and_a_checkpoint(backend,
                                                                                     tmp_path):
    import io

    import distgrad.distributed.checkpoint as dcp

    def trained(seed):
        dm, _ = _twin_mlp(seed)
        ddp = DistributedDataParallel(dm)
        opt = dg.optim.Adam(ddp.parameters(), lr=0.01)
        X, Y = dg.randn(6, 5, dtype=dg.float64), dg.randn(6, 3, dtype=dg.float64)
        dg.nn.functional.mse_loss(ddp(X), Y).backward()
        opt.step()
        return ddp, opt

    src, src_opt = trained(0)
    dst, dst_opt = trained(1)
    f = io.BytesIO()
    dg.save({"model": src.state_dict(), "optim": src_opt.state_dict()}, f)
    f.seek(0)
    state = dg.load(f)
    dst.load_state_dict(state["model"])
    dst_opt.load_state_dict(state["optim"])
    for (name, a), b in zip(src.named_parameters(), dst.parameters()):
        assert b._sharding is not None  # still replicated over the workers
        for ca, cb in zip(_copies(a), _copies(b)):  # every copy, to the bit
            assert np.array_equal(ca, cb), name
    for a, b in zip(src.parameters(), dst.parameters()):
        for key in ("exp_avg", "exp_avg_sq"):
            sa, sb = src_opt.state[a][key], dst_opt.state[b][key]
            assert np.array_equal(sa.full_tensor().numpy(), sb.full_tensor().numpy())

    other, other_opt = trained(2)  # and through a distributed checkpoint
    dcp.save({"model": src.state_dict(), "optim": src_opt.state_dict()},
             checkpoint_id=str(tmp_path / "ckpt"))
    state = {"model": other.state_dict(), "optim": other_opt.state_dict()}
    dcp.load(state, checkpoint_id=str(tmp_path / "ckpt"))
    other.load_state_dict(state["model"])
    other_opt.load_state_dict(state["optim"])
    for a, b in zip(src.parameters(), other.parameters()):
        for ca, cb in zip(_copies(a), _copies(b)):
            assert np.array_equal(ca, cb)


def _stepped_in_backward(params, sgd) -> None:
    """One optimizer per parameter, stepped (and its .grad dropped) by its hook."""
    steppers = {id(p): sgd([p], lr=0.1) for p in params}

    def step(p):
        steppers[id(p)].step()
        steppers[id(p)].zero_grad()
    for p in params:
        p.register_post_accumulate_grad_hook(step)


def test_an_optimizer_step_in_a_post_accumulate_grad_hook_of_a_ddp_parameter(backend):
    # The pattern of torch's "optimizer step in backward" tutorial. The replicated
    # parameters' copies are summed by a reduce node, which never called the parameters'
    # hooks: nothing stepped.
    dm, tm = _twin_mlp(3)
    model = DistributedDataParallel(dm)
    _stepped_in_backward(list(dm.parameters()), dg.optim.SGD)
    _stepped_in_backward(list(tm.parameters()), torch.optim.SGD)
    x = np.random.default_rng(3).standard_normal((6, 5))
    for _ in range(2):
        model(dg.tensor(x)).pow(2).sum().backward()
        tm(torch.tensor(x)).pow(2).sum().backward()
    _assert_params_match(model, tm)
    assert all(p.grad is None for p in model.parameters())
