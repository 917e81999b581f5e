"""torch's tracer frontend (`pipeline`, `pipe_split`, `SplitPoint`, `Pipe.build_stage`):
the stage modules hold what torch's do, under the same names, and the schedules train
the traced stages as the unsplit model, skip connections, factory ops and keyword
tensors read by later stages included."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.distributed import pipelining as tpp

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed.pipelining import (Schedule1F1B, ScheduleGPipe, ScheduleZeroBubble,
                                             SplitPoint, pipe_split, pipeline)


@pytest.fixture
def workers():
    if dist.is_initialized():
        dist.shutdown()
    dist.init(3, backend="local")
    yield 3
    dist.shutdown()


def _arr(*shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _net(lib, split_in_block=None):
    """Linear, a positional parameter added in the forward itself, 4 pre-norm residual
    blocks, an arange from the forward, and the first activation skipping to the head.
    `split_in_block`: the block that calls pipe_split() between its norm and its linear."""
    nn = lib.nn
    split = tpp.pipe_split if lib is torch else pipe_split

    class Block(nn.Module):
        def __init__(self, d, splits):
            super().__init__()
            self.norm, self.ff, self.splits = nn.LayerNorm(d), nn.Linear(d, d), splits

        def forward(self, h):
            z = self.norm(h)
            if self.splits:
                split()
            return h + lib.tanh(self.ff(z))

    class Net(nn.Module):
        def __init__(self, d=8):
            super().__init__()
            self.inp, self.pos = nn.Linear(4, d), nn.Parameter(lib.zeros(6, d))
            self.blocks = nn.ModuleList([Block(d, i == split_in_block) for i in range(4)])
            self.head = nn.Linear(d, 3)

        def forward(self, x, mask=None):
            h = self.inp(x) + self.pos[: x.shape[1]]
            first = h
            for b in self.blocks:
                h = b(h)
            h = h + lib.arange(h.shape[-1], dtype=h.dtype) * 0.01
            if mask is not None:
                h = h * mask
            return self.head(h + first)

    net = Net()
    with lib.no_grad():
        for k, (_, q) in enumerate(sorted(net.named_parameters())):
            q.copy_(lib.from_numpy(_arr(*q.shape, seed=k)))
    return net


SPEC = {"blocks.1": "BEGINNING", "blocks.3": "BEGINNING"}
X, Y, MASK = _arr(8, 6, 4, seed=10), _arr(8, 6, 3, seed=11), _arr(8, 6, 8, seed=12)


def _pipes(split_in_block=None, spec=SPEC, mask=False):
    """(torch's Pipe and model, distgrad's Pipe and model), traced on one micro-batch."""
    out = []
    for lib, pp, points in ((torch, tpp, tpp.SplitPoint), (dg, None, SplitPoint)):
        net = _net(lib, split_in_block)
        make = tpp.pipeline if lib is torch else pipeline
        kwargs = {"mask": lib.from_numpy(MASK[:2])} if mask else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch's export deprecation notices)
            pipe = make(net, (lib.from_numpy(X[:2]),), mb_kwargs=kwargs,
                        split_spec={k: getattr(points, v) for k, v in (spec or {}).items()}
                        or None)
        out += [pipe, net]
    return out


def _names(pipe):
    return [[n for n, _ in pipe.get_stage_module(i).named_parameters()]
            for i in range(pipe.num_stages)]


@pytest.mark.parametrize("split_in_block,spec", [(None, SPEC), (2, None)])
def test_stage_modules_hold_torchs_parameters_under_torchs_names(split_in_block, spec):
    tpipe, _, dpipe, _ = _pipes(split_in_block, spec)
    assert dpipe.num_stages == tpipe.num_stages
    assert _names(dpipe) == _names(tpipe)


def test_the_pipe_run_whole_gives_the_models_outputs_as_a_tuple():
    tpipe, tnet, dpipe, dnet = _pipes()
    got, want = dpipe(dg.from_numpy(X)), tpipe(torch.from_numpy(X))
    assert isinstance(got, tuple) and len(got) == len(want) == 1
    np.testing.assert_allclose(got[0].detach().numpy(), want[0].detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(got[0].detach().numpy(), dnet(dg.from_numpy(X)).detach().numpy())


def _torch_grads(net, mask=False):
    out = net(torch.from_numpy(X), mask=torch.from_numpy(MASK) if mask else None)
    torch.nn.functional.mse_loss(out, torch.from_numpy(Y)).backward()
    return {n: q.grad.numpy() for n, q in net.named_parameters()}


@pytest.mark.parametrize("schedule", [ScheduleGPipe, Schedule1F1B, ScheduleZeroBubble])
@pytest.mark.parametrize("split_in_block,spec,mask", [(None, SPEC, False), (2, None, True)])
def test_traced_stages_train_as_the_unsplit_model(workers, schedule, split_in_block, spec,
                                                  mask):
    _, tnet, dpipe, dnet = _pipes(split_in_block, spec, mask)
    want = _torch_grads(tnet, mask)
    stages = [dpipe.build_stage(i, f"worker:{i}") for i in range(dpipe.num_stages)]
    opt = dg.optim.SGD(dnet.parameters(), lr=0.1)
    sched = schedule(stages, 4, loss_fn=dg.nn.functional.mse_loss)
    last = f"worker:{dpipe.num_stages - 1}"
    kwargs = {"mask": dg.from_numpy(MASK).to("worker:0")} if mask else {}
    losses: list = []
    sched.step(dg.from_numpy(X).to("worker:0"), target=dg.from_numpy(Y).to(last),
               losses=losses, **kwargs)
    got = {n: q for n, q in dnet.named_parameters()}
    assert set(got) == set(want)
    for n, q in got.items():
        np.testing.assert_allclose(q.grad.cpu().numpy(), want[n], rtol=1e-5, atol=1e-6,
                                   err_msg=n)
    before = {n: q.detach().cpu().numpy() for n, q in got.items()}
    opt.step()  # (the model's own parameters are the stages')
    for n, q in dnet.named_parameters():
        np.testing.assert_allclose(q.detach().cpu().numpy(), before[n] - 0.1 * want[n],
                                   rtol=1e-5, atol=1e-6)
    assert len(losses) == 4


def test_the_trace_leaves_buffers_and_the_random_state_as_they_were():
    net = dg.nn.Sequential(dg.nn.Linear(4, 4), dg.nn.BatchNorm1d(4), dg.nn.Dropout(0.5),
                           dg.nn.Linear(4, 2))
    dg.manual_seed(0)
    x = dg.randn(5, 4)
    state = dg.get_rng_state()
    pipe = pipeline(net, (x,), split_spec={"2": SplitPoint.END})
    assert pipe.num_stages == 2
    assert dg.equal(dg.get_rng_state(), state)
    assert dg.equal(net[1].running_mean, dg.zeros(4))
    assert int(net[1].num_batches_tracked) == 0


def test_misuse_raises_torchs_errors():
    net = _net(dg)
    with pytest.raises(AttributeError, match="Specified target zz.q referenced nonexistent "
                                             "module zz"):
        pipeline(net, (dg.from_numpy(X[:2]),), split_spec={"zz.q": SplitPoint.END})
    with pytest.raises(ValueError, match="Cannot specify both `split_spec` and "
                                         "`split_policy`"):
        pipeline(net, (dg.from_numpy(X[:2]),), split_spec={"head": SplitPoint.END},
                 split_policy=lambda g: g)
    pipe = pipeline(_net(dg), (dg.from_numpy(X[:2]),),
                    split_spec={"blocks.2": SplitPoint.BEGINNING})
    with pytest.raises(ValueError, match="Invalid stage index 5!"):
        pipe.get_stage_module(5)
    assert pipe_split() is None  # (eagerly, nothing)


def test_a_parameter_two_stages_use_is_refused():
    class Tied(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = dg.nn.Linear(4, 4), dg.nn.Linear(4, 4)

        def forward(self, x):
            h = self.a(x)
            pipe_split()
            return self.b(h) + self.a.weight.sum()

    with pytest.raises(NotImplementedError, match="used by stages 0 and 1"):
        pipeline(Tied(), (dg.randn(2, 4),))


def _detaching(lib, split, data=False):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = lib.nn.Linear(4, 4), lib.nn.Linear(4, 4)

        def forward(self, x):
            h = self.a(x)
            g = (h.data if data else h.detach()) * 2  # (no gradient through g)
            split()
            return self.b(h) + g

    net = Net()
    with lib.no_grad():
        for k, (_, q) in enumerate(sorted(net.named_parameters())):
            q.copy_(lib.from_numpy(_arr(*q.shape, seed=k)))
    return net


def test_a_detach_in_the_forward_is_replayed_not_kept():
    tnet, dnet = _detaching(torch, lambda: None), _detaching(dg, pipe_split)
    pipe = pipeline(dnet, (dg.from_numpy(X[:2, 0]),))
    for x in (X[:3, 1], X[4:, 2]):  # (other inputs than the traced one)
        tnet.zero_grad()
        dnet.zero_grad()
        tnet(torch.from_numpy(x)).square().sum().backward()
        out = pipe(dg.from_numpy(x))[0]
        np.testing.assert_allclose(out.detach().numpy(),
                                   tnet(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)
        out.square().sum().backward()
        for (n, q), tq in zip(dnet.named_parameters(), tnet.parameters()):
            np.testing.assert_allclose(q.grad.numpy(), tq.grad.numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=n)


def test_data_of_a_value_of_the_forward_is_refused_not_kept():
    with pytest.raises(RuntimeError, match="shares memory with .* made by no op the trace"):
        pipeline(_detaching(dg, pipe_split, data=True), (dg.from_numpy(X[:2, 0]),))


class _Noisy(dg.nn.Module):
    """In-place ops and random draws in the forward itself, outside any submodule."""

    def __init__(self, item=False):
        super().__init__()
        self.a, self.b, self.item = dg.nn.Linear(4, 6), dg.nn.Linear(6, 4), item

    def forward(self, x):
        h = self.a(x)
        h.mul_(2).clamp_(-1.5, 1.5)
        h[0].zero_()
        h = h + dg.randn_like(h) * 0.1
        h = dg.nn.functional.dropout(h, 0.3)
        if self.item:
            h = h * h.sum().item()
        pipe_split()
        return self.b(h + dg.rand(6)[dg.randperm(6)])


def test_in_place_ops_and_random_draws_in_the_forward_are_replayed():
    model = _Noisy()
    pipe = pipeline(model, (dg.from_numpy(X[:2, 0]),))
    for seed, x in ((3, X[:2, 1]), (4, X[2:4, 2])):  # (other inputs, other draws)
        dg.manual_seed(seed)
        got = pipe(dg.from_numpy(x))[0]
        dg.manual_seed(seed)
        np.testing.assert_array_equal(got.detach().numpy(),
                                      model(dg.from_numpy(x)).detach().numpy())


def test_reading_a_value_of_the_forward_outside_a_submodule_is_refused():
    with pytest.raises(RuntimeError, match="reads the values of a tensor it computes"):
        pipeline(_Noisy(item=True), (dg.from_numpy(X[:2, 0]),))


class _Scaled(dg.nn.Module):
    """A scale computed in a no_grad block of the forward itself: no gradient through it."""

    def __init__(self):
        super().__init__()
        self.a, self.b = dg.nn.Linear(4, 6), dg.nn.Linear(6, 4)

    def forward(self, x):
        h = self.a(x)
        with dg.no_grad():
            scale = h.norm() + 1
        pipe_split()
        return self.b(h / scale)


def test_a_no_grad_block_in_the_forward_stays_without_gradient():
    model = _Scaled()
    pipe = pipeline(model, (dg.from_numpy(X[:2, 0]),))
    x = dg.from_numpy(X[:2, 1])
    model(x).square().sum().backward()
    want = {n: q.grad.numpy().copy() for n, q in model.named_parameters()}
    model.zero_grad()
    pipe(x)[0].square().sum().backward()
    for n, q in model.named_parameters():
        np.testing.assert_allclose(q.grad.numpy(), want[n], rtol=1e-6, err_msg=n)


def _writing_through_views(lib):
    """In-place writes through views, a detach and a no_grad block in the forward itself,
    cut in two: the program a schedule runs on two workers."""
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 3)

        def forward(self, x):
            h = self.a(x) + 0.5
            h[:, :2].mul_(3)
            h.t()[1].add_(h[:, 0].detach())
            with lib.no_grad():
                scale = h.abs().amax(1, keepdim=True) + 1  # (per row: a micro-batch's own)
            if lib is dg:
                pipe_split()
            return self.b(h / scale)

    net = Net()
    with lib.no_grad():
        for k, (_, q) in enumerate(sorted(net.named_parameters())):
            q.copy_(lib.from_numpy(_arr(*q.shape, seed=20 + k)))
    return net


@pytest.mark.parametrize("schedule", [Schedule1F1B, ScheduleZeroBubble])
def test_writes_through_views_in_a_traced_forward_train_as_torch_on_workers(workers, schedule):
    x, y = _arr(8, 4, seed=30), _arr(8, 3, seed=31)
    tnet = _writing_through_views(torch)
    torch.nn.functional.mse_loss(tnet(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    dnet = _writing_through_views(dg)
    pipe = pipeline(dnet, (dg.from_numpy(x[:2]),))
    stages = [pipe.build_stage(i, f"worker:{i}") for i in range(pipe.num_stages)]
    schedule(stages, 4, loss_fn=dg.nn.functional.mse_loss).step(
        dg.from_numpy(x).to("worker:0"), target=dg.from_numpy(y).to("worker:1"))
    for (n, q), tq in zip(dnet.named_parameters(), tnet.parameters()):
        np.testing.assert_allclose(q.grad.cpu().numpy(), tq.grad.numpy(), rtol=1e-5,
                                   atol=1e-6, err_msg=n)
