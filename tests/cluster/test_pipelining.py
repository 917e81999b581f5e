"""Pipeline schedules (distgrad.distributed.pipelining) on both backends, against torch:
every schedule's gradients equal the unsplit model's for an even split; micro-batches of
different shapes in one step; a skip connection from stage 0 to stage 2; several stages
per worker; the step's output and losses; one run per worker per step on Ray; each
worker's timeline."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed.pipelining import (PipelineStage, Schedule1F1B, ScheduleDualPipeV,
                                             ScheduleGPipe, ScheduleInterleaved1F1B,
                                             ScheduleInterleavedZeroBubble, ScheduleLoopedBFS,
                                             ScheduleZBVZeroBubble, ScheduleZeroBubble)
from distgrad.distributed.timeline import timeline

SCHEDULES = [ScheduleGPipe, Schedule1F1B, ScheduleZeroBubble]
WIDTH = 6


def _arr(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def _linear(lib, seed, n_in=WIDTH, n_out=WIDTH):
    lin = lib.nn.Linear(n_in, n_out)
    with lib.no_grad():
        lin.weight.copy_(lib.from_numpy(_arr(n_out, n_in, seed=seed)))
        lin.bias.copy_(lib.from_numpy(_arr(n_out, seed=seed + 100)))
    return lin


def _blocks(lib, n):
    """n blocks of Linear + Tanh, the last one a Linear alone."""
    out = []
    for s in range(n):
        mods = [_linear(lib, 2 * s), lib.nn.Tanh(), _linear(lib, 2 * s + 1)]
        if s < n - 1:
            mods.append(lib.nn.Tanh())
        out.append(lib.nn.Sequential(*mods))
    return out


def _grads(modules):
    return [q.grad.detach().cpu().numpy() for m in modules for q in m.parameters()]


def _close(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)


def _stages(blocks, devices, **skips):
    n = len(blocks)
    return [PipelineStage(b, s, n, d, **({"skip_from": skips[f"s{s}"]} if f"s{s}" in skips
                                         else {}))
            for s, (b, d) in enumerate(zip(blocks, devices))]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_even_split_gradients_equal_the_unsplit_model(backend, schedule):
    x, y = _arr(8, WIDTH, seed=50), _arr(8, WIDTH, seed=51)
    tblocks = _blocks(torch, 2)
    tout = torch.nn.Sequential(*tblocks)(torch.from_numpy(x))
    torch.nn.functional.mse_loss(tout, torch.from_numpy(y)).backward()

    # distgrad unsplit, the layers placed on the workers as the stages are
    ublocks = [b.to(f"worker:{k}") for k, b in enumerate(_blocks(dg, 2))]
    h = ublocks[0](dg.tensor(x, device="worker:0")).to("worker:1")
    dg.nn.functional.mse_loss(ublocks[1](h), dg.tensor(y, device="worker:1")).backward()

    blocks = _blocks(dg, 2)
    example = dg.zeros(2, WIDTH)  # PyTorch's shape hints: taken, not needed
    stages = [PipelineStage(blocks[0], 0, 2, "worker:0", input_args=example),
              PipelineStage(blocks[1], 1, 2, "worker:1", example, example)]
    sched = schedule(stages, 4, loss_fn=dg.nn.functional.mse_loss)
    losses = []
    out = sched.step(dg.tensor(x, device="worker:0"), target=dg.tensor(y, device="worker:1"),
                     losses=losses)
    assert out.device == dg.device("worker:1")
    np.testing.assert_allclose(out.cpu().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    want = [torch.nn.functional.mse_loss(tout[i:i + 2], torch.from_numpy(y[i:i + 2])).item()
            for i in range(0, 8, 2)]
    np.testing.assert_allclose([l.item() for l in losses], want, rtol=1e-5)
    assert [q.grad.device for q in blocks[1].parameters()] == [dg.device("worker:1")] * 4
    _close(_grads(blocks), _grads(tblocks))
    _close(_grads(blocks), _grads(ublocks))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_microbatches_of_different_shapes_in_one_step(backend, schedule):
    # Sequences of different lengths, nothing declared up front (PyTorch's pipelining needs
    # static shapes); the loss of each is scaled by 1/n, as scale_grads does.
    xs = [_arr(2, t, WIDTH, seed=60 + t) for t in (3, 5, 1)]
    ys = [_arr(2, t, WIDTH, seed=70 + t) for t in (3, 5, 1)]
    tblocks = _blocks(torch, 2)
    tmodel = torch.nn.Sequential(*tblocks)
    total = sum(torch.nn.functional.mse_loss(tmodel(torch.from_numpy(a)), torch.from_numpy(b))
                for a, b in zip(xs, ys)) / 3
    total.backward()

    blocks = _blocks(dg, 2)
    sched = schedule(_stages(blocks, ["worker:0", "worker:1"]), 3,
                     loss_fn=dg.nn.functional.mse_loss)
    sched.step_microbatches([(dg.tensor(a, device="worker:0"),) for a in xs],
                            [dg.tensor(b, device="worker:1") for b in ys])
    _close(_grads(blocks), _grads(tblocks))


def test_uneven_split_is_tensor_split(backend):
    x, y = _arr(10, WIDTH, seed=80), _arr(10, WIDTH, seed=81)
    tblocks = _blocks(torch, 2)
    tmodel = torch.nn.Sequential(*tblocks)
    chunks = zip(torch.tensor_split(torch.from_numpy(x), 4),
                 torch.tensor_split(torch.from_numpy(y), 4))
    (sum(torch.nn.functional.mse_loss(tmodel(a), b) for a, b in chunks) / 4).backward()
    blocks = _blocks(dg, 2)
    sched = ScheduleZeroBubble(_stages(blocks, ["worker:0", "worker:1"]), 4,
                               loss_fn=dg.nn.functional.mse_loss)
    sched.step(dg.tensor(x), target=dg.tensor(y))  # driver tensors: moved to the stages
    _close(_grads(blocks), _grads(tblocks))


class _SkipIn(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, h, skip):
        return self.inner(h) + skip


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_skip_connection_from_stage_0_to_stage_2(backend, schedule):
    x, y = _arr(6, WIDTH, seed=90), _arr(6, WIDTH, seed=91)
    tb = _blocks(torch, 3)
    h0 = tb[0](torch.from_numpy(x))
    out = tb[2](tb[1](h0)) + h0
    torch.nn.functional.mse_loss(out, torch.from_numpy(y)).backward()

    db = _blocks(dg, 3)

    class Last(dg.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, h, skip):
            return self.inner(h) + skip

    last = Last(db[2])
    stages = _stages([db[0], db[1], last], ["worker:0", "worker:1", "worker:0"], s2=(0,))
    sched = schedule(stages, 3, loss_fn=dg.nn.functional.mse_loss)
    sched.step(dg.tensor(x, device="worker:0"), target=dg.tensor(y, device="worker:0"))
    _close(_grads(db), _grads(tb))


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_eval_runs_the_forwards_only(backend, schedule):
    # PyTorch's `schedule.eval`: the outputs and the micro-batches' losses, no gradient.
    x, y = _arr(8, WIDTH, seed=52), _arr(8, WIDTH, seed=53)
    tout = torch.nn.Sequential(*_blocks(torch, 2))(torch.from_numpy(x)).detach()
    blocks = _blocks(dg, 2)
    sched = schedule(_stages(blocks, ["worker:0", "worker:1"]), 4,
                     loss_fn=dg.nn.functional.mse_loss)
    xd, yd = dg.tensor(x, device="worker:0"), dg.tensor(y, device="worker:1")
    for grad_mode in (dg.enable_grad, dg.no_grad):
        losses = []
        with grad_mode():
            out = sched.eval(xd, target=yd, losses=losses)
        np.testing.assert_allclose(out.detach().cpu().numpy(), tout.numpy(), rtol=1e-5,
                                   atol=1e-6)  # (under grad mode it keeps its graph: torch's)
        want = [torch.nn.functional.mse_loss(tout[i:i + 2], torch.from_numpy(y[i:i + 2]))
                for i in range(0, 8, 2)]
        np.testing.assert_allclose([l.item() for l in losses], want, rtol=1e-5)
        assert all(q.grad is None for b in blocks for q in b.parameters())
    np.testing.assert_allclose(sched.eval(xd).detach().cpu().numpy(), tout.numpy(), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(RuntimeError, match="Expecting 4 losses but got 0"):
        sched.eval(xd, losses=[])
    sched.step(xd, target=yd)  # and the training step after it still has its backward
    assert all(q.grad is not None for b in blocks for q in b.parameters())


def _gated(lib, seed):
    """Linear + Tanh whose forward takes keywords: a per-row `mask` tensor and a `gain`."""
    class Gated(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = _linear(lib, seed)

        def forward(self, h, mask=None, gain=1.0):
            h = lib.tanh(self.lin(h)) * gain
            return h * mask if mask is not None else h
    return Gated()


def _weighted_mse(out, target, weight=1.0):
    return ((out - target) ** 2).mean() * weight


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_keyword_arguments_go_to_the_stages_that_take_them(backend, schedule):
    # step(x, mask=..., gain=...): the tensor split per micro-batch as the positional
    # arguments are, the float given whole; each stage gets the keywords its forward takes
    # (the second stage takes `mask` only). loss_kwargs go to the loss.
    x, y, mask = _arr(8, WIDTH, seed=54), _arr(8, WIDTH, seed=55), _arr(8, 1, seed=56)
    t0, t1 = _gated(torch, 3), _linear(torch, 4)

    class TorchSecond(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = t1

        def forward(self, h, mask):
            return self.lin(h) * mask
    tsecond = TorchSecond()
    tx, ty, tm = (torch.from_numpy(a) for a in (x, y, mask))
    chunks = zip(*(torch.tensor_split(a, 4) for a in (tx, ty, tm)))
    (sum(_weighted_mse(tsecond(t0(a, mask=m, gain=0.5), mask=m), b, weight=3.0)
         for a, b, m in chunks) / 4).backward()

    class Second(dg.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = _linear(dg, 4)

        def forward(self, h, mask):
            return self.lin(h) * mask
    d0, d1 = _gated(dg, 3), Second()
    sched = schedule(_stages([d0, d1], ["worker:0", "worker:1"]), 4, loss_fn=_weighted_mse)
    losses = []
    sched.step(dg.tensor(x, device="worker:0"), target=dg.tensor(y, device="worker:1"),
               losses=losses, loss_kwargs={"weight": 3.0}, mask=dg.tensor(mask), gain=0.5)
    _close(_grads([d0, d1]), _grads([t0, tsecond]))
    with pytest.raises(TypeError, match="unexpected keyword argument 'masks'"):
        sched.step(dg.tensor(x), target=dg.tensor(y), masks=dg.tensor(mask))


def test_several_stages_per_worker(backend):
    # (also torch's schedules for it, each worker's actions in torch's order for its rank)
    x, y = _arr(8, WIDTH, seed=40), _arr(8, WIDTH, seed=41)
    tblocks = _blocks(torch, 4)
    out = torch.nn.Sequential(*tblocks)(torch.from_numpy(x))
    torch.nn.functional.mse_loss(out, torch.from_numpy(y)).backward()
    blocks = _blocks(dg, 4)
    looped = ["worker:0", "worker:1", "worker:0", "worker:1"]
    for schedule, devices in [*((s, looped) for s in SCHEDULES), (ScheduleLoopedBFS, looped),
                              (ScheduleInterleaved1F1B, looped),
                              (ScheduleInterleavedZeroBubble, looped),
                              *((s, ["worker:0", "worker:1", "worker:1", "worker:0"])
                                for s in (ScheduleZBVZeroBubble, ScheduleDualPipeV))]:
        for b in blocks:
            b.zero_grad()
        stages = _stages(blocks, devices)
        schedule(stages, 4, loss_fn=dg.nn.functional.mse_loss).step(
            dg.tensor(x, device="worker:0"), target=dg.tensor(y, device="worker:1"))
        _close(_grads(blocks), _grads(tblocks))


def test_one_run_per_worker_per_step_and_a_timeline(backend):
    x, y = _arr(8, WIDTH, seed=30), _arr(8, WIDTH, seed=31)
    blocks = _blocks(dg, 2)
    sched = Schedule1F1B(_stages(blocks, ["worker:0", "worker:1"]), 4,
                         loss_fn=dg.nn.functional.mse_loss)
    xd, yd = dg.tensor(x, device="worker:0"), dg.tensor(y, device="worker:1")
    sched.step(xd, target=yd)
    dist.synchronize()
    before = dist.counters()["messages"]
    with timeline() as tl:
        sched.step(xd, target=yd, return_outputs=False)
    sent = [b - a for a, b in zip(before, dist.counters()["messages"])]
    if backend == "ray":
        assert sent == [1, 1]  # the whole step, 8 actions per worker, as one run each
    else:
        # in-process workers run a run when it is sent: a run is cut where it would wait
        # for a tensor of the other worker's unsent run
        assert 1 <= max(sent) <= 8
    assert set(tl.busy_s) == {"worker:0", "worker:1"}
    assert tl.span_s > 0 and all(b > 0 for b in tl.busy_s.values())
    assert 0.0 <= tl.bubble_fraction < 1.0
    assert tl.runs == dict(zip(["worker:0", "worker:1"], sent))
    assert sched.theoretical_bubble_fraction == pytest.approx(1 / 5)


def test_schedule_errors(backend):
    blocks = _blocks(dg, 2)
    stages = _stages(blocks, ["worker:0", "worker:1"])
    with pytest.raises(ValueError, match="takes all the stages"):
        Schedule1F1B(stages[:1], 2, loss_fn=dg.nn.functional.mse_loss)
    with pytest.raises(ValueError, match="out of range"):
        PipelineStage(blocks[0], 2, 2, "worker:0")
    with pytest.raises(ValueError, match="group must be None"):
        PipelineStage(blocks[0], 0, 2, "worker:0", group=object())
    sched = Schedule1F1B(stages, 2, loss_fn=dg.nn.functional.mse_loss)
    with dg.no_grad(), pytest.raises(RuntimeError, match="requires gradients to be enabled"):
        sched.step(dg.tensor(_arr(4, WIDTH)), target=dg.tensor(_arr(4, WIDTH)))


def test_a_stage_never_waits_on_a_send(ray_with_hooks):
    # Worker 1 is held before its run starts, so it takes none of the activations: worker 0
    # still runs all its forwards and sends (4 MB, more than a socket buffer holds), as
    # its connection reader on worker 1 takes them whatever worker 1's run is doing.
    from watchdog import PhaseGate

    from distgrad.distributed.testhooks import pause_at

    width, rows = 512, 2048
    lin0, lin1 = _linear(dg, 1, width, width), _linear(dg, 2, width, width)
    stages = _stages([lin0, lin1], ["worker:0", "worker:1"])
    sched = ScheduleGPipe(stages, 4)  # no loss_fn: forwards only
    x = dg.tensor(_arr(rows, width, seed=3), device="worker:0")
    probe = dg.ones(3, device="worker:0")
    dist.synchronize()
    gate = PhaseGate()
    try:
        pause_at("worker:1", "run", report_to=gate.address)
        out = sched.step(x)
        assert gate.wait()["worker"] == 1  # worker 1 is held at its run's start
        with dist.call_timeout(120):  # worker 0's run finished: its later reads answer
            assert (probe * 2).sum().item() == 6.0
        gate.release()
        tlin0, tlin1 = _linear(torch, 1, width, width), _linear(torch, 2, width, width)
        want = tlin1(tlin0(torch.from_numpy(_arr(rows, width, seed=3)))).detach().numpy()
        np.testing.assert_allclose(out.detach().cpu().numpy(), want, rtol=1e-4,
                                   atol=1e-5 * abs(want).max())  # (forwards only: a graph)
    finally:
        gate.close()


def test_a_stage_takes_each_input_where_it_uses_it(ray_with_hooks):
    # Worker 0 is held before it sends micro-batch 1's activations; worker 1 still starts
    # on micro-batch 0 (its run receives each input just before the forward that uses it,
    # not all of them where the driver recorded the sends).
    from watchdog import PhaseGate

    from distgrad.distributed.testhooks import pause_at

    lin0, lin1 = _linear(dg, 1), _linear(dg, 2)
    sched = ScheduleGPipe(_stages([lin0, lin1], ["worker:0", "worker:1"]), 2)  # forwards only
    x = dg.tensor(_arr(4, WIDTH, seed=4), device="worker:0")
    dist.synchronize()
    held, started = PhaseGate(), PhaseGate()
    try:
        pause_at("worker:0", "send", skip=1, report_to=held.address)
        pause_at("worker:1", "op", name="addmm", report_to=started.address)
        out = sched.step(x)
        assert held.wait()["worker"] == 0  # micro-batch 1 is not sent
        assert started.wait()["name"] == "addmm"  # worker 1 computes micro-batch 0 anyway
        held.release()
        started.release()
        tlin0, tlin1 = _linear(torch, 1), _linear(torch, 2)
        want = tlin1(tlin0(torch.from_numpy(_arr(4, WIDTH, seed=4)))).detach().numpy()
        np.testing.assert_allclose(out.detach().cpu().numpy(), want, rtol=1e-5, atol=1e-6)
    finally:
        held.close()
        started.close()


def _unsplit_gpt():
    """A small GPT (seeded), a batch of 4 and its targets, and the GPT's loss on them with
    its gradients: (cfg, x, y, gpt, loss)."""
    from distgrad.cli.models import GPT, GPTConfig

    cfg = GPTConfig(vocab_size=11, block_size=5, n_layer=2, n_head=2, n_embd=8)
    rng = np.random.default_rng(7)
    x, y = rng.integers(0, 11, (4, 5)), rng.integers(0, 11, (4, 5))
    dg.manual_seed(0)
    whole = GPT(cfg)
    loss = _gpt_loss(whole(dg.tensor(x)), dg.tensor(y))
    loss.backward()
    return cfg, x, y, whole, loss


def _gpt_loss(logits, targets):
    return dg.nn.functional.cross_entropy(logits, targets.reshape(-1))


@pytest.mark.parametrize("schedule", [Schedule1F1B, ScheduleZeroBubble])
def test_the_gpt_as_a_pipeline_gives_the_unsplit_gpts_gradients(backend, schedule):
    # `train --model gpt --parallel pp`'s stages (embeddings and a block on worker 0, a
    # block, the norm and the head on worker 1), the batch in two micro-batches.
    from distgrad.cli.models import GPT, gpt_pipeline

    cfg, x, y, whole, loss = _unsplit_gpt()
    dg.manual_seed(0)
    piped = gpt_pipeline(GPT(cfg), ["worker:0", "worker:1"])
    losses = []
    schedule(piped.stages, 2, loss_fn=_gpt_loss
             ).step(dg.tensor(x, device="worker:0"), target=dg.tensor(y, device="worker:1"),
                    losses=losses)
    assert dg.stack(losses).mean().item() == pytest.approx(loss.item(), rel=1e-6)
    _close([p.grad.cpu().numpy() for p in piped.parameters()],
           [p.grad.numpy() for p in whole.parameters()])
    with dg.no_grad():  # the forward for evaluation and sampling, through the stages
        np.testing.assert_allclose(piped(dg.tensor(x)).numpy(), whole(dg.tensor(x)).numpy(),
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("schedule", [Schedule1F1B, ScheduleZeroBubble])
def test_the_gpt_traced_and_cut_by_pipeline_gives_the_unsplit_gpts_gradients(backend,
                                                                            schedule):
    # torch's tracer frontend: the GPT's forward cut before its second block; the
    # positions' arange, made in the traced forward, runs on the first stage's worker.
    from distgrad.cli.models import GPT
    from distgrad.distributed.pipelining import SplitPoint, pipeline

    cfg, x, y, whole, _ = _unsplit_gpt()
    dg.manual_seed(0)
    model = GPT(cfg)
    pipe = pipeline(model, (dg.tensor(x[:2]),), split_spec={"blocks.1": SplitPoint.BEGINNING})
    stages = [pipe.build_stage(i, f"worker:{i}") for i in range(pipe.num_stages)]
    schedule(stages, 2, loss_fn=_gpt_loss
             ).step(dg.tensor(x, device="worker:0"), target=dg.tensor(y, device="worker:1"))
    _close([p.grad.cpu().numpy() for p in model.parameters()],
           [p.grad.numpy() for p in whole.parameters()])


class _TiedHalf:
    """A block whose second product uses a view of its first weight (w[:, :WIDTH] again)
    and an in-place ReLU between: the weight gradients of several micro-batches, stacked,
    must still sum the two uses and see the ReLU's saved mask."""

    @staticmethod
    def make(lib, seed):
        class Block(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = _linear(lib, seed)
                self.act = lib.nn.ReLU(inplace=True)

            def forward(self, x):
                h = self.act(self.lin(x))
                return h @ self.lin.weight[:, :WIDTH].t() + x
        return Block()


@pytest.mark.parametrize("schedule", [Schedule1F1B, ScheduleZeroBubble])
def test_views_and_in_place_ops_inside_stages(backend, schedule):
    x, y = _arr(7, WIDTH, seed=80), _arr(7, WIDTH, seed=81)  # 3 micro-batches: 3, 2, 2 rows
    tblocks = [_TiedHalf.make(torch, 1), _TiedHalf.make(torch, 2)]
    tout = tblocks[1](tblocks[0](torch.from_numpy(x)))
    chunks = [slice(0, 3), slice(3, 5), slice(5, 7)]
    (sum(torch.nn.functional.mse_loss(tout[c], torch.from_numpy(y[c])) for c in chunks) / 3
     ).backward()
    blocks = [_TiedHalf.make(dg, 1), _TiedHalf.make(dg, 2)]
    schedule(_stages(blocks, ["worker:0", "worker:1"]), 3, loss_fn=dg.nn.functional.mse_loss
             ).step(dg.tensor(x, device="worker:0"), target=dg.tensor(y, device="worker:1"))
    _close(_grads(blocks), _grads(tblocks))
