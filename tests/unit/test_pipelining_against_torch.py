"""Pipeline schedules (distgrad.distributed.pipelining) on in-process workers against torch
run micro-batch by micro-batch, as torch's pipelining runs a step: each micro-batch's loss
backward unscaled, then every stage parameter's `.grad` divided by n_microbatches
(`PipelineStage.scale_grads`). Stages mixing views and in-place ops, LayerNorm, BatchNorm,
tuple outputs, a skip connection, several stages per worker; hooks, accumulation across
steps, frozen parameters, optimizers, and the errors of misuse."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch
from torch.distributed import pipelining as tpp

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed.pipelining import (PipelineStage, Schedule1F1B, ScheduleGPipe,
                                             ScheduleZeroBubble)
from distgrad.distributed.pipelining._utils import PipeliningMetadataError

SCHEDULES = [ScheduleGPipe, Schedule1F1B, ScheduleZeroBubble]


@pytest.fixture
def workers(request):
    if dist.is_initialized():
        dist.shutdown()
    n = getattr(request, "param", 2)
    dist.init(n, backend="local")
    yield n
    dist.shutdown()


def _arr(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


def _set(lib, module, seed, dtype=np.float32):
    """The module's parameters from numpy (the same in both libraries)."""
    with lib.no_grad():
        for k, (_, q) in enumerate(sorted(module.named_parameters())):
            q.copy_(lib.from_numpy(_arr(*q.shape, seed=seed + k, dtype=dtype)))
    return module


def _mixed_stages(lib, dtype=np.float32):
    """Four blocks: views written in place, transpose/contiguous, expand/reshape, LayerNorm,
    Dropout(p=0) and a tuple out of the first; BatchNorm in the second; the third takes
    the first's outputs too (a skip connection); a keyword argument in the last."""
    nn = lib.nn

    class First(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.norm, self.drop = nn.Linear(4, 6), nn.LayerNorm(6), nn.Dropout(0.0)

        def forward(self, x):
            h = self.lin(x)
            h[:, :2].mul_(2)
            t = h.transpose(0, 1).contiguous().transpose(0, 1)
            wide = h.unsqueeze(1).expand(-1, 2, -1).reshape(h.shape[0], 12)
            return self.drop(self.norm(t)), wide

    class Second(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.bn = nn.Linear(6, 6), nn.Linear(12, 6), nn.BatchNorm1d(6)

        def forward(self, a, wide):
            return self.bn(self.a(a) + self.b(wide)).tanh()

    class Third(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 6)

        def forward(self, h, skip_a, skip_wide):
            out = self.lin(h) + skip_a
            out[:, 1:3] += skip_wide[:, 4:6]
            return out

    class Last(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3)

        def forward(self, h, scale=None):
            out = self.lin(h)
            return out if scale is None else out * scale

    mods = [First(), Second(), Third(), Last()]
    for k, m in enumerate(mods):
        _set(lib, m, 10 * k, dtype)
        if dtype == np.float64:
            m.double()
    return mods


def _torch_step(mods, xs, ys, loss_fn, scale_grads=True, sources=None, kwargs=None,
                backward=True):
    """torch's pipeline step, one micro-batch after another: outputs, losses."""
    sources = sources or {}
    outs, losses = [], []
    for i, (x, y) in enumerate(zip(xs, ys)):
        made = []
        h = (x,)
        for s, m in enumerate(mods):
            args = list(h) + [t for src in sources.get(s, ()) for t in made[src]]
            kw = {k: v[i] for k, v in (kwargs or {}).get(s, {}).items()}
            out = m(*args, **kw)
            h = out if isinstance(out, tuple) else (out,)
            made.append(h)
        loss = loss_fn(h[0], y)
        if backward:
            loss.backward()
        outs.append(h[0].detach())
        losses.append(loss.detach())
    if scale_grads:  # (a parameter two stages share, once: the unsplit model's gradient)
        with torch.no_grad():
            for q in {id(q): q for m in mods for q in m.parameters()}.values():
                if q.grad is not None:
                    q.grad.div_(len(xs))
    return torch.cat(outs), losses


def _pipeline(mods, devices, schedule, n, loss_fn, **kw):
    skips = {2: (0,)} if len(mods) == 4 else {}
    stages = [PipelineStage(m, s, len(mods), d, skip_from=skips.get(s, ()))
              for s, (m, d) in enumerate(zip(mods, devices))]
    return schedule(stages, n, loss_fn=loss_fn, **kw)


def _np(t):
    return t.detach().cpu().numpy()


def _same_grads(dmods, tmods, rtol=1e-5, atol=1e-6):
    for dm, tm in zip(dmods, tmods):
        for (name, dq), tq in zip(dm.named_parameters(), tm.parameters()):
            assert (dq.grad is None) == (tq.grad is None), name
            if tq.grad is not None:
                assert dq.grad.dtype == getattr(dg, str(tq.grad.dtype).split(".")[1]), name
                np.testing.assert_allclose(_np(dq.grad), tq.grad.numpy(), rtol=rtol,
                                           atol=atol, err_msg=name)


PLACEMENTS = {2: ["worker:0", "worker:1", "worker:0", "worker:1"],
              3: ["worker:0", "worker:1", "worker:2", "worker:0"],
              4: ["worker:0", "worker:1", "worker:2", "worker:3"]}


@pytest.mark.parametrize("workers,schedule", [(2, ScheduleGPipe), (3, Schedule1F1B),
                                              (4, ScheduleZeroBubble), (2, ScheduleZeroBubble)],
                         indirect=["workers"])
def test_mixed_stages_give_torchs_step(workers, schedule):
    devices = PLACEMENTS[workers]
    x, y = _arr(16, 4, seed=1), _arr(16, 3, seed=2)
    tmods = _mixed_stages(torch)
    F = torch.nn.functional
    tout, tlosses = _torch_step(tmods, torch.from_numpy(x).tensor_split(4),
                                torch.from_numpy(y).tensor_split(4), F.mse_loss,
                                sources={2: (0,)})
    dmods = _mixed_stages(dg)
    losses = []
    out = _pipeline(dmods, devices, schedule, 4, dg.nn.functional.mse_loss).step(
        dg.from_numpy(x), target=dg.from_numpy(y), losses=losses)
    assert out.device_str == devices[-1] and out.dtype == dg.float32
    assert not out.requires_grad  # (torch's last stage detaches its outputs after backward)
    np.testing.assert_allclose(_np(out), tout.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([l.item() for l in losses], [l.item() for l in tlosses],
                               rtol=1e-5)
    _same_grads(dmods, tmods)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(_np(getattr(dmods[1].bn, name)),
                                   getattr(tmods[1].bn, name).numpy(), rtol=1e-5, atol=1e-7)


def _two_blocks(lib, dtype=np.float32):
    nn = lib.nn
    mods = [nn.Sequential(nn.Linear(4, 5), nn.Tanh()), nn.Sequential(nn.Linear(5, 3))]
    for k, m in enumerate(mods):
        _set(lib, m, 10 * k, dtype)
        if dtype == np.float64:
            m.double()
    return mods


def _steps(lib, x, y, n=4):
    return lib.from_numpy(x).tensor_split(n), lib.from_numpy(y).tensor_split(n)


def _hooked(mods):
    """Each parameter's hook gradients and .grad after each accumulation, in order; and
    a hook that changes the gradient other than linearly."""
    seen: dict = {}
    for k, m in enumerate(mods):
        for name, q in m.named_parameters():
            key = f"{k}.{name}"
            q.register_hook(lambda g, key=key: seen.setdefault(key, []).append(_np(g).copy()))
            q.register_hook(lambda g: g.clamp(-0.05, 0.05))
            q.register_post_accumulate_grad_hook(
                lambda q, key=key: seen.setdefault(key + ".grad", []).append(_np(q.grad).copy()))
    return seen


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_hooks_see_each_microbatchs_unscaled_gradient(workers, schedule):
    # torch's stages run each micro-batch's backward on its loss, then divide .grad by n:
    # a hook sees each micro-batch's gradient unscaled, once per micro-batch (the weight
    # parts of zero bubble too, which run together when nothing watches them).
    x, y = _arr(8, 4, seed=3), _arr(8, 3, seed=4)
    tmods = _two_blocks(torch)
    tseen = _hooked(tmods)
    _torch_step(tmods, *_steps(torch, x, y), torch.nn.functional.mse_loss)
    dmods = _two_blocks(dg)
    dseen = _hooked(dmods)
    _pipeline(dmods, ["worker:0", "worker:1"], schedule, 4, dg.nn.functional.mse_loss).step(
        dg.from_numpy(x), target=dg.from_numpy(y))
    assert dseen.keys() == tseen.keys()
    for key in tseen:
        assert len(dseen[key]) == len(tseen[key]) == 4, key
        for got, want in zip(dseen[key], tseen[key]):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7, err_msg=key)
    _same_grads(dmods, tmods)


@pytest.mark.parametrize("schedule", [ScheduleGPipe, ScheduleZeroBubble])
def test_two_steps_without_zero_grad_divide_what_was_there(workers, schedule):
    # (torch's scale_grads divides the whole .grad: the first step's gradient too)
    x, y = _arr(8, 4, seed=5), _arr(8, 3, seed=6)
    tmods = _two_blocks(torch)
    for _ in range(2):
        _torch_step(tmods, *_steps(torch, x, y), torch.nn.functional.mse_loss)
    dmods = _two_blocks(dg)
    sched = _pipeline(dmods, ["worker:0", "worker:1"], schedule, 4, dg.nn.functional.mse_loss)
    for _ in range(2):
        sched.step(dg.from_numpy(x), target=dg.from_numpy(y))
    _same_grads(dmods, tmods)


@pytest.mark.parametrize("schedule", [Schedule1F1B, ScheduleZeroBubble])
def test_frozen_stage_sum_loss_without_scaling(workers, schedule):
    # The first stage frozen (its output needs no gradient), the last one's weight frozen;
    # a summed loss with scale_grads=False: the gradients of the whole batch's sum.
    x, y = _arr(6, 4, seed=7), _arr(6, 3, seed=8)
    mods = {}
    for lib in (torch, dg):
        mods[lib] = _two_blocks(lib)
        for q in [*mods[lib][0].parameters(), mods[lib][1][0].weight]:
            q.requires_grad_(False)
    loss = torch.nn.MSELoss(reduction="sum")
    tout, tlosses = _torch_step(mods[torch], *_steps(torch, x, y, 3), loss,
                                scale_grads=False)
    losses = []
    out = _pipeline(mods[dg], ["worker:0", "worker:1"], schedule, 3,
                    dg.nn.MSELoss(reduction="sum"), scale_grads=False).step(
        dg.from_numpy(x), target=dg.from_numpy(y), losses=losses)
    np.testing.assert_allclose(_np(out), tout.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([l.item() for l in losses], [l.item() for l in tlosses],
                               rtol=1e-5)
    _same_grads(mods[dg], mods[torch])


@pytest.mark.parametrize("make_opt", [lambda p: p.SGD, lambda p: p.Adam])
def test_three_optimizer_steps_in_float64_with_an_uneven_split_and_keywords(workers,
                                                                           make_opt):
    # 7 rows in 3 micro-batches (3, 2, 2, as tensor_split), a keyword argument split as the
    # batch, zero_grad between steps, the parameters compared after the third step.
    x, y, scale = (_arr(7, 4, seed=9, dtype=np.float64), _arr(7, 3, seed=10, dtype=np.float64),
                   _arr(7, 1, seed=11, dtype=np.float64))

    def last(lib, inner):
        class Last(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = inner

            def forward(self, h, scale):
                return self.inner(h) * scale
        return Last()

    tmods = _two_blocks(torch, np.float64)
    tmods[1] = last(torch, tmods[1])
    dmods = _two_blocks(dg, np.float64)
    dmods[1] = last(dg, dmods[1])
    topt = make_opt(torch.optim)([q for m in tmods for q in m.parameters()], lr=0.1)
    dopt = make_opt(dg.optim)([q for m in dmods for q in m.parameters()], lr=0.1)
    sched = _pipeline(dmods, ["worker:0", "worker:1"], Schedule1F1B, 3,
                      dg.nn.functional.mse_loss)
    for _ in range(3):
        topt.zero_grad()
        tout, _ = _torch_step(tmods, *_steps(torch, x, y, 3), torch.nn.functional.mse_loss,
                              kwargs={1: {"scale": torch.from_numpy(scale).tensor_split(3)}})
        topt.step()
        dopt.zero_grad()
        out = sched.step(dg.from_numpy(x), target=dg.from_numpy(y), scale=dg.from_numpy(scale))
        dopt.step()
        assert out.dtype == dg.float64
        np.testing.assert_allclose(_np(out), tout.numpy(), rtol=1e-10)
    for dm, tm in zip(dmods, tmods):
        for dq, tq in zip(dm.parameters(), tm.parameters()):
            np.testing.assert_allclose(_np(dq), tq.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_eval_runs_forwards_and_losses_only(workers):
    x, y = _arr(8, 4, seed=12), _arr(8, 3, seed=13)
    tmods = _mixed_stages(torch)
    tout, tlosses = _torch_step(tmods, torch.from_numpy(x).tensor_split(2),
                                torch.from_numpy(y).tensor_split(2),
                                torch.nn.functional.mse_loss, sources={2: (0,)}, backward=False)
    dmods = _mixed_stages(dg)
    losses = []
    out = _pipeline(dmods, PLACEMENTS[2], ScheduleGPipe, 2, dg.nn.functional.mse_loss).eval(
        dg.from_numpy(x), target=dg.from_numpy(y), losses=losses)
    np.testing.assert_allclose(_np(out), tout.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([l.item() for l in losses], [l.item() for l in tlosses],
                               rtol=1e-5)
    assert all(q.grad is None for m in dmods for q in m.parameters())
    # (torch's eval keeps the last stage's graph in its output and losses: no backward
    # detached them; its stages' inputs, received without one, need no gradient)
    assert type(out.grad_fn).__name__ == "CatBackward0" and not out.is_leaf
    assert [type(l.grad_fn).__name__ for l in losses] == ["MseLossBackward0"] * 2
    out.sum().backward()
    assert [q.grad is not None for m in dmods for q in m.parameters()] == \
        [False] * sum(1 for m in dmods[:3] for _ in m.parameters()) + [True, True]
    np.testing.assert_allclose(_np(dmods[1].bn.running_mean),
                               tmods[1].bn.running_mean.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_microbatches_of_different_lengths_through_tuple_outputs(workers, schedule):
    xs = [_arr(r, 4, seed=20 + r) for r in (3, 1, 4, 2)]
    ys = [_arr(r, 3, seed=30 + r) for r in (3, 1, 4, 2)]
    tmods = _mixed_stages(torch)
    tmods[1].bn = torch.nn.LayerNorm(6)  # (BatchNorm refuses a one-row micro-batch)
    _set(torch, tmods[1], 10)
    tout, _ = _torch_step(tmods, [torch.from_numpy(a) for a in xs],
                          [torch.from_numpy(b) for b in ys], torch.nn.functional.mse_loss,
                          sources={2: (0,)})
    dmods = _mixed_stages(dg)
    dmods[1].bn = dg.nn.LayerNorm(6)
    _set(dg, dmods[1], 10)
    outs = _pipeline(dmods, PLACEMENTS[2], schedule, 4, dg.nn.functional.mse_loss
                     ).step_microbatches([(dg.from_numpy(a),) for a in xs],
                                         [dg.from_numpy(b) for b in ys])
    np.testing.assert_allclose(np.concatenate([_np(o) for o in outs]), tout.numpy(),
                               rtol=1e-5, atol=1e-6)
    _same_grads(dmods, tmods)


def _one_stage(n=4, **kw):
    return ScheduleGPipe(PipelineStage(dg.nn.Linear(3, 3), 0, 1, "worker:0"), n,
                         loss_fn=dg.nn.functional.mse_loss, **kw)


def test_misuse_raises_torchs_errors(workers):
    # (the errors of torch's schedules over one stage, first and last, on one rank)
    x8, y8, x3, y3 = dg.ones(8, 3), dg.zeros(8, 3), dg.ones(3, 3), dg.zeros(3, 3)
    with pytest.raises(AssertionError, match="^Tensor size 3 is smaller than num_chunks$"):
        _one_stage().step(x3, target=y3)
    with pytest.raises(AssertionError, match="^Tensor size 3 is smaller than num_chunks$"):
        _one_stage().step(x8, target=y3)
    with pytest.raises(ValueError, match="^Expecting 4 arg_mbs but got 3$"):
        _one_stage().step(x3, target=y8)
    with pytest.raises(ValueError, match="^Expecting 4 arg_mbs but got 3$"):
        _one_stage().eval(x3)
    with pytest.raises(PipeliningMetadataError, match="^Stage 0: loss_fn and target required for last "
                                           "stage$"):
        _one_stage().step(x8)
    with pytest.raises(IndexError, match="^Dimension specified as 0 but tensor has no "
                                         "dimensions$"):
        _one_stage().step(dg.tensor(1.0), target=y8)
    with pytest.raises(ValueError, match="^Expecting 4 target_mbs but got 3$"):
        _one_stage().step_microbatches([(x3,)] * 4, [y3] * 3)
    with pytest.raises(TypeError, match="^arg_mbs must be a list but got a <class 'tuple'>$"):
        _one_stage().step_microbatches(((x3,),) * 4, [y3] * 4)
    with pytest.raises(AttributeError, match="^'tuple' object has no attribute 'size'$"):
        _one_stage().step(x8, target=(y8, y8))  # (not given whole to each micro-batch)
    with pytest.raises(TypeError, match="^losses must be a list but got a <class 'tuple'>$"):
        _one_stage().step(x8, target=y8, losses=())
    with dg.no_grad(), pytest.raises(RuntimeError, match="^step\\(\\) requires gradients"):
        _one_stage().step(x3, target=y3)  # (before the batch is split)
    with pytest.raises(ValueError, match="^Stage index 2 is out of range of 2$"):
        PipelineStage(dg.nn.Linear(3, 3), 2, 2, "worker:0")
    stages = [PipelineStage(dg.nn.Linear(3, 3), s, 3, "worker:0") for s in range(3)]
    with pytest.raises(ValueError, match=r"^Number of microbatches \(2\) must be greater than "
                                         r"or equal to the number of stages \(3\)\.$"):
        Schedule1F1B(stages, 2)
    ScheduleGPipe(stages, 2)



@pytest.mark.parametrize("schedule", SCHEDULES)
def test_leaves_outside_the_stages_get_their_unscaled_gradients(workers, schedule):
    # An input, a keyword argument and a tensor a stage holds (not a parameter), each a leaf
    # that requires grad: autograd.backward accumulates into them too, and scale_grads
    # divides the stages' parameters alone.
    x, y, w = _arr(8, 4, seed=40), _arr(8, 3, seed=41), _arr(8, 3, seed=42)
    grads = {}
    for lib in (torch, dg):
        mods = _two_blocks(lib)
        gain = lib.tensor(_arr(5, seed=43), requires_grad=True,
                          **({} if lib is torch else {"device": "worker:1"}))

        def last(lib, inner):
            class Last(lib.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.inner, self.gain = inner, gain  # (a plain attribute, no parameter)

                def forward(self, h, weight):
                    return self.inner(h * self.gain) * weight
            return Last()
        mods[1] = last(lib, mods[1])
        xt, wt = lib.from_numpy(x).requires_grad_(), lib.from_numpy(w).requires_grad_()
        if lib is torch:
            _torch_step(mods, xt.tensor_split(4), torch.from_numpy(y).tensor_split(4),
                        torch.nn.functional.mse_loss, kwargs={1: {"weight": wt.tensor_split(4)}})
        else:
            _pipeline(mods, ["worker:0", "worker:1"], schedule, 4,
                      dg.nn.functional.mse_loss).step(xt, target=dg.from_numpy(y), weight=wt)
        grads[lib] = [_np(t.grad) for t in (xt, wt, gain)] + [
            _np(q.grad) for m in mods for q in m.parameters()]
    for got, want in zip(grads[dg], grads[torch]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("schedule", [ScheduleGPipe, ScheduleZeroBubble])
def test_a_last_stage_returning_a_structure_gives_it_to_the_loss_and_back(workers, schedule):
    # torch's last stage may return anything: the loss takes it as returned, and step
    # merges each tensor in it on dim 0 (merge_chunks), keeping tuples of one, lists, dicts.
    from torch.distributed.pipelining.microbatch import merge_chunks

    x, y = _arr(6, 4, seed=44), _arr(6, 3, seed=45)
    results = {}
    for lib in (torch, dg):
        mods = _two_blocks(lib)

        class Last(lib.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, h):
                out = self.inner(h)
                return {"out": (out,), "parts": [out[:, :1], out.exp()]}

        def loss_fn(got, target, lib=lib):
            return lib.nn.functional.mse_loss(got["out"][0], target) + got["parts"][1].mean()
        mods[1] = Last(mods[1])
        if lib is torch:
            chunks, losses = [], []
            for xm, ym in zip(*_steps(torch, x, y, 3)):
                got = mods[1](mods[0](xm))
                loss = loss_fn(got, ym)
                loss.backward()
                chunks.append(got)
                losses.append(loss)
            out = merge_chunks(chunks, None)
        else:
            losses = []
            out = _pipeline(mods, ["worker:0", "worker:1"], schedule, 3, loss_fn).step(
                dg.from_numpy(x), target=dg.from_numpy(y), losses=losses)
        results[lib] = out, [l.item() for l in losses]
    (dout, dlosses), (tout, tlosses) = results[dg], results[torch]
    assert type(dout["out"]) is tuple and len(dout["out"]) == 1 and type(dout["parts"]) is list
    for got, want in [(dout["out"][0], tout["out"][0]), *zip(dout["parts"], tout["parts"])]:
        np.testing.assert_allclose(_np(got), _np(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dlosses, tlosses, rtol=1e-5)


def _checkpointed_tied_stages(lib, use_reentrant):
    """An embedding whose weight the last stage reuses (both stages on one worker), and a
    checkpointed block in between."""
    nn = lib.nn
    emb = nn.Embedding(7, 4)

    class Embed(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = emb

        def forward(self, tok):
            return self.emb(tok).mean(1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.norm = nn.Linear(4, 4), nn.LayerNorm(4)

        def inner(self, h):
            return self.norm(self.lin(h)).tanh() + h

        def forward(self, h):
            return lib.utils.checkpoint.checkpoint(self.inner, h, use_reentrant=use_reentrant)

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = emb

        def forward(self, h):
            return h @ self.emb.weight.t()
    mods = [Embed(), Block(), nn.Sequential(nn.Linear(4, 4), nn.ReLU()), Head()]
    for k, m in enumerate(mods):
        _set(lib, m, 10 * k)
    return mods


@pytest.mark.parametrize("use_reentrant", [True, False])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_a_checkpointed_stage_and_a_weight_tied_across_stages(workers, schedule,
                                                             use_reentrant):
    # (a reentrant checkpoint runs its own backward: torch's stages run a whole backward)
    rng = np.random.default_rng(0)
    tok, tgt = rng.integers(0, 7, (8, 3)), rng.integers(0, 7, (8,))
    tmods = _checkpointed_tied_stages(torch, use_reentrant)
    _torch_step(tmods, torch.from_numpy(tok).tensor_split(4),
                torch.from_numpy(tgt).tensor_split(4), torch.nn.functional.cross_entropy)
    dmods = _checkpointed_tied_stages(dg, use_reentrant)
    stages = [PipelineStage(m, s, 4, d) for s, (m, d) in enumerate(
        zip(dmods, ["worker:0", "worker:1", "worker:1", "worker:0"]))]
    schedule(stages, 4, loss_fn=dg.nn.functional.cross_entropy).step(
        dg.from_numpy(tok), target=dg.from_numpy(tgt))
    _same_grads(dmods, tmods)


@pytest.mark.parametrize("schedule", [Schedule1F1B, ScheduleZeroBubble])
def test_chunk_specs_split_and_merge_on_their_dims(workers, schedule):
    # A sequence-first batch split on dim 1, a keyword argument given whole (_Replicate),
    # the outputs merged on dim 1: torch's own split and merge are the reference.
    from torch.distributed.pipelining import microbatch as tmb

    from distgrad.distributed.pipelining import microbatch as dmb

    x, y, gain = _arr(3, 8, 4, seed=46), _arr(8, 3, 3, seed=47), _arr(5, seed=48)
    results = {}
    for lib, mb in ((torch, tmb), (dg, dmb)):
        mods = _two_blocks(lib)

        class Gained(lib.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, h, gain):
                return self.inner(h) * gain
        mods[0] = Gained(mods[0])
        specs = dict(args_chunk_spec=mb.TensorChunkSpec.from_tuple((1,)),
                     kwargs_chunk_spec={"gain": mb._Replicate()},
                     output_merge_spec=mb.TensorChunkSpec(1))

        def loss_fn(out, target, lib=lib):
            return lib.nn.functional.mse_loss(out.transpose(0, 1), target)
        xt, gt = lib.from_numpy(x), lib.from_numpy(gain)
        if lib is torch:
            arg_mbs, kwarg_mbs = tmb.split_args_kwargs_into_chunks(
                (xt,), {"gain": gt}, 4, specs["args_chunk_spec"], specs["kwargs_chunk_spec"])
            _, tlosses = _torch_step(mods, [a[0] for a in arg_mbs],
                                     torch.from_numpy(y).tensor_split(4), loss_fn,
                                     kwargs={0: {"gain": [k["gain"] for k in kwarg_mbs]}})
            chunks = [mods[1](mods[0](a[0], **k)).detach() for a, k in zip(arg_mbs, kwarg_mbs)]
            out = tmb.merge_chunks(chunks, specs["output_merge_spec"])
            losses = [l.item() for l in tlosses]
        else:
            dlosses = []
            out = _pipeline(mods, ["worker:0", "worker:1"], schedule, 4, loss_fn, **specs).step(
                xt, target=dg.from_numpy(y), losses=dlosses, gain=gt)
            losses = [l.item() for l in dlosses]
        results[lib] = _np(out), losses, [_np(q.grad) for m in mods for q in m.parameters()]
    for got, want in zip(results[dg], results[torch]):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert results[dg][0].shape == (3, 8, 3)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_gradients_scaled_on_the_way_stop_where_another_leaf_joins(workers, schedule):
    """With n a power of two and no .grad held, the stages' weight gradients are divided
    by n as they are made; a micro-batch whose graph reaches a leaf that is no parameter
    (here only the last, of 3 rows) makes its stage undo that and divide after, as torch's
    scale_grads: parameters divided by n, the other leaf's gradient undivided."""
    def stages(lib, extra):
        class First(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = lib.nn.Linear(4, 5)

            def forward(self, x):
                h = self.lin(x).tanh()
                return h * extra if x.shape[0] == 3 else h

        return [_set(lib, First(), 1), _set(lib, lib.nn.Linear(5, 2), 7)]

    x, y = _arr(11, 4, seed=3), _arr(11, 2, seed=4)
    rows = [slice(0, 2), slice(2, 4), slice(4, 8), slice(8, 11)]  # (the last: 3 rows)
    extra_t = torch.tensor(1.5, requires_grad=True)
    first_t, last_t = stages(torch, extra_t)
    for r in rows:  # torch's stages: each micro-batch's loss backward unscaled
        loss = torch.nn.functional.mse_loss(last_t(first_t(torch.from_numpy(x[r]))),
                                            torch.from_numpy(y[r]))
        loss.backward()
    expected = [q.grad / 4 for q in [*first_t.parameters(), *last_t.parameters()]]

    extra = dg.tensor(1.5, device="worker:0", requires_grad=True)
    first, last = stages(dg, extra)
    sched = schedule([PipelineStage(first.to("worker:0"), 0, 2, "worker:0"),
                      PipelineStage(last.to("worker:1"), 1, 2, "worker:1")], 4,
                     loss_fn=dg.nn.functional.mse_loss)
    sched.step_microbatches([(dg.tensor(x[r]).to("worker:0"),) for r in rows],
                            [dg.tensor(y[r]).to("worker:1") for r in rows])
    got = [q.grad.cpu().numpy() for q in [*first.parameters(), *last.parameters()]]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(extra.grad.cpu().numpy(), extra_t.grad.numpy(), rtol=1e-5)


@contextlib.contextmanager
def _one_rank_group():
    """A one-process gloo group: torch's own schedules run every stage on this rank."""
    import torch.distributed as torch_dist

    torch_dist.init_process_group("gloo", store=torch_dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


def _raised(fn):
    """(type, message, the cause's type and message) of what fn raises."""
    try:
        fn()
    except Exception as e:
        cause = e.__cause__
        return type(e), str(e), type(cause), str(cause)
    raise AssertionError("nothing raised")


def _failing_stages(lib):
    """Two stages, the second raising on a one-row micro-batch (a 3-row batch in 2
    micro-batches: 2 rows, then 1), after counting its calls."""
    class Picky(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.calls = lib.nn.Linear(5, 3), 0

        def forward(self, h):
            self.calls += 1
            if h.shape[0] == 1:
                raise ValueError(f"one row on call {self.calls}")
            return self.lin(h)
    return [_set(lib, lib.nn.Linear(4, 5), 0), _set(lib, Picky(), 10)]


@pytest.mark.parametrize("rows", [3, 2])
def test_a_stage_forward_that_raises_as_torchs_stage_wraps_it(workers, rows):
    # torch wraps a stage's error in a RuntimeError naming the stage and its inputs; the
    # forward its first step runs first to infer the stage's shapes is not wrapped (here
    # two micro-batches of one row: that forward raises)
    x, y = _arr(rows, 4, seed=1), _arr(rows, 3, seed=2)
    with _one_rank_group():
        tstages = [tpp.PipelineStage(m, s, 2, torch.device("cpu"))
                   for s, m in enumerate(_failing_stages(torch))]
        sched = tpp.ScheduleLoopedBFS(tstages, 2, loss_fn=torch.nn.functional.mse_loss)
        want = _raised(lambda: sched.step(torch.from_numpy(x), target=torch.from_numpy(y)))
    # (torch's first step runs the first micro-batch's forward twice: once to infer)
    want = want[:3] + (want[3].replace("call 3", "call 2"),)
    dstages = _failing_stages(dg)
    sched = _pipeline(dstages, ["worker:0", "worker:1"], ScheduleGPipe, 2,
                      dg.nn.functional.mse_loss)
    assert _raised(lambda: sched.step(dg.from_numpy(x), target=dg.from_numpy(y))) == want


def _graph_names(t):
    """The names of the nodes of t's graph, breadth first (a leaf's node: its shape too)."""
    names, todo, seen = [], [t.grad_fn], set()
    while todo:
        n = todo.pop(0)
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        names.append((n.name(), tuple(n.variable.shape)) if hasattr(n, "variable") else n.name())
        todo.extend(c for c, _ in n.next_functions)
    return names


def _seen_by_caller(out, losses):
    """What a caller sees of a step's output and losses, and of a second backward."""
    first = losses[0]
    return ([(l.requires_grad, l.is_leaf, type(l.grad_fn).__name__, round(l.item(), 5))
             for l in losses], out.requires_grad, out.grad_fn, _graph_names(first),
            _raised(lambda: first.backward())[:2])


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_the_losses_keep_their_graph_freed_by_the_backward(workers, schedule):
    # torch's schedule hands over the losses as computed: they require grad and show their
    # node, whose graph its backward freed (a second backward raises); its output is
    # detached. distgrad's keep no more of the workers' memory than detached ones would.
    x, y = _arr(8, 4, seed=3), _arr(8, 3, seed=4)
    with _one_rank_group():
        tstages = [tpp.PipelineStage(m, s, 2, torch.device("cpu"))
                   for s, m in enumerate(_two_blocks(torch))]
        tlosses = []
        tout = tpp.ScheduleLoopedBFS(tstages, 4, loss_fn=torch.nn.functional.mse_loss).step(
            torch.from_numpy(x), target=torch.from_numpy(y), losses=tlosses)
    losses, dmods = [], _two_blocks(dg)  # (the graph holds the parameters, as torch's)
    out = _pipeline(dmods, ["worker:0", "worker:1"], schedule, 4,
                    dg.nn.functional.mse_loss).step(dg.from_numpy(x), target=dg.from_numpy(y),
                                                    losses=losses)
    assert _seen_by_caller(out, losses) == _seen_by_caller(tout, tlosses)
    assert {l.device_str for l in losses} == {"worker:1"}
    held = dist.stats()["worker:1"]["bytes"]
    values = [l.detach() for l in losses]
    losses.clear()
    assert dist.stats()["worker:1"]["bytes"] == held and len(values) == 4


MULTI = ["ScheduleLoopedBFS", "ScheduleInterleaved1F1B", "ScheduleInterleavedZeroBubble",
         "ScheduleZBVZeroBubble", "ScheduleDualPipeV"]
V_SHAPED = ("ScheduleZBVZeroBubble", "ScheduleDualPipeV")


def _multi_devices(name, n_stages=4, p=2):
    """Stage s's worker in torch's placement for the schedule: s % p, or a V for ZBV and
    DualPipeV."""
    if name in V_SHAPED:  # (down the workers, back up, down again, ...)
        return [f"worker:{s % p if s // p % 2 == 0 else p - 1 - s % p}" for s in range(n_stages)]
    return [f"worker:{s % p}" for s in range(n_stages)]


def _torchs_orders(name, n_microbatches, p, n_stages):
    """Every rank's order (or the error) that torch's schedule computes for p ranks, given
    rank 0's stages (torch computes all the ranks' orders from the stages' group size)."""
    cls = getattr(tpp, name)
    ranks = [int(d.split(":")[1]) for d in _multi_devices(name, n_stages, p)]
    with _one_rank_group():
        stages = [tpp.PipelineStage(torch.nn.Linear(2, 2), s,
                                                            n_stages, torch.device("cpu"))
                  for s in range(n_stages) if ranks[s] == 0]
        for st in stages:
            st.group_size = p
        try:
            order = cls(stages, n_microbatches).pipeline_order
        except ValueError as e:
            return ValueError, str(e)
    # ("0I1": stage 0's input gradients of micro-batch 1, B here)
    split = name not in MULTI[:2]
    return {f"worker:{r}": [step for a in acts if a is not None for step in _flat(a, split)]
            for r, acts in order.items()}


def _flat(action, split: bool) -> list:
    """A torch action as distgrad's pipeline_order lists it: a forward paired with a
    backward (DualPipeV's OVERLAP_F_B) as the two; in a schedule that splits backwards, a
    whole one as its two parts, B then W."""
    if action.sub_actions is not None:
        return [step for a in action.sub_actions for step in _flat(a, split)]
    name = repr(action)
    if split and action.computation_type == tpp.schedules.FULL_BACKWARD:
        return [name, name.replace("B", "W")]
    return [name.replace("I", "B")]


@pytest.mark.parametrize("name", MULTI)
@pytest.mark.parametrize("p,n_stages", [(2, 4), (3, 6), (2, 6)])
def test_several_stages_per_worker_run_in_torchs_order_with_its_errors(workers, name, p,
                                                                       n_stages):
    # torch's order for each rank (a whole backward's weight part, W, comes right after
    # its B here), and its error for a number of micro-batches its schedule cannot split
    # in rounds (or for ZBV, other than two stages per rank)
    import distgrad.distributed.pipelining as pp

    if dist.num_workers() < p:
        dist.shutdown()
        dist.init(p, backend="local")
    for m in (1, 2, 4, 5, 6, 8):
        want = _torchs_orders(name, m, p, n_stages)
        stages = [PipelineStage(dg.nn.Linear(2, 2), s, n_stages, d)
                  for s, d in enumerate(_multi_devices(name, n_stages, p))]
        try:
            got = getattr(pp, name)(stages, m, dg.nn.functional.mse_loss).pipeline_order
        except ValueError as e:
            got = ValueError, str(e)
        if isinstance(got, dict) and name in MULTI[:2]:
            got = {w: [a for a in acts if "W" not in a] for w, acts in got.items()}
        assert got == want, (m, got, want)
    stages = [PipelineStage(dg.nn.Linear(2, 2), s, n_stages, f"worker:{s * p // n_stages}")
              for s in range(n_stages)]  # (in blocks: not the schedule's placement)
    with pytest.raises(ValueError, match="the worker of stage ranks"):
        getattr(pp, name)(stages, 4, dg.nn.functional.mse_loss)


@pytest.mark.parametrize("name", MULTI)
@pytest.mark.parametrize("n", [4, 6])
def test_several_stages_per_worker_give_the_unsplit_models_gradients(workers, name, n):
    # the mixed stages (a skip connection from stage 0 to 2, BatchNorm, tuple outputs,
    # views written in place) two per worker in the schedule's placement
    import distgrad.distributed.pipelining as pp

    x, y = _arr(4 * n, 4, seed=14), _arr(4 * n, 3, seed=15)
    tmods = _mixed_stages(torch)
    tout, tlosses = _torch_step(tmods, torch.from_numpy(x).tensor_split(n),
                                torch.from_numpy(y).tensor_split(n),
                                torch.nn.functional.mse_loss, sources={2: (0,)})
    dmods = _mixed_stages(dg)
    losses = []
    out = _pipeline(dmods, _multi_devices(name), getattr(pp, name), n,
                    dg.nn.functional.mse_loss).step(dg.from_numpy(x), target=dg.from_numpy(y),
                                                    losses=losses)
    np.testing.assert_allclose(_np(out), tout.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([l.item() for l in losses], [l.item() for l in tlosses],
                               rtol=1e-5)
    _same_grads(dmods, tmods)
    np.testing.assert_allclose(_np(dmods[1].bn.running_mean), tmods[1].bn.running_mean.numpy(),
                               rtol=1e-5, atol=1e-7)


def _four_blocks(lib):
    nn = lib.nn
    mods = [nn.Sequential(nn.Linear(4, 6), nn.Tanh()), nn.Sequential(nn.Linear(6, 6), nn.ReLU()),
            nn.Sequential(nn.Linear(6, 5), nn.Tanh()), nn.Linear(5, 3)]
    return [_set(lib, m, 10 * k) for k, m in enumerate(mods)]


@pytest.mark.parametrize("name", MULTI)
def test_several_stages_per_worker_step_as_torchs_schedule(workers, name):
    # torch's schedule of that name with every stage on its one rank against distgrad's
    # over two workers (ZBV: two stages, on one): the same outputs, losses and gradients
    # over two steps; distgrad's eval then gives the step's outputs and losses
    import distgrad.distributed.pipelining as pp

    x, y = _arr(8, 4, seed=16), _arr(8, 3, seed=17)
    v = name in V_SHAPED
    results = {}
    for lib in (torch, dg):
        mods = _four_blocks(lib)
        mods = [mods[0], lib.nn.Sequential(*mods[1:])] if v else mods
        with (_one_rank_group() if lib is torch else contextlib.nullcontext()):
            if lib is torch:
                stages = [tpp.PipelineStage(m, s, len(mods), torch.device("cpu"))
                          for s, m in enumerate(mods)]
                sched = getattr(tpp, name)(stages, 4, loss_fn=torch.nn.functional.mse_loss)
            else:
                devices = ["worker:0"] * 2 if v else _multi_devices(name)
                stages = [PipelineStage(m, s, len(mods), d)
                          for s, (m, d) in enumerate(zip(mods, devices))]
                sched = getattr(pp, name)(stages, 4, loss_fn=dg.nn.functional.mse_loss)
            seen = []
            for _ in range(2):
                losses = []
                out = sched.step(lib.from_numpy(x), target=lib.from_numpy(y), losses=losses)
                seen += [_np(out), [l.item() for l in losses]]
            results[lib] = seen, [_np(q.grad) for m in mods for q in m.parameters()]
    for got, want in zip(results[dg][0] + results[dg][1], results[torch][0] + results[torch][1]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    losses = []
    out = sched.eval(dg.from_numpy(x), target=dg.from_numpy(y), losses=losses)
    np.testing.assert_allclose(_np(out), results[torch][0][-2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([l.item() for l in losses], results[torch][0][-1], rtol=1e-5)


def test_a_step_after_one_whose_forward_raised_gives_the_unsplit_models_gradients(
        workers):
    # a step that raised part way leaves what it had set for its own scaling nowhere: the
    # next (with a .grad set before it, here) divides .grad by n as torch's scale_grads.
    # (torch's own schedule is no reference here: its next step reuses the losses its
    # failed step left)
    x, y = _arr(3, 4, seed=18), _arr(3, 3, seed=19)
    x4, y4 = _arr(4, 4, seed=20), _arr(4, 3, seed=21)
    tmods = _failing_stages(torch)
    for q in tmods[0].parameters():
        q.grad = torch.ones_like(q)
    _torch_step(tmods, *_steps(torch, x4, y4, 2), torch.nn.functional.mse_loss)
    dmods = _failing_stages(dg)
    sched = _pipeline(dmods, ["worker:0", "worker:1"], ScheduleGPipe, 2,
                      dg.nn.functional.mse_loss)
    assert _raised(lambda: sched.step(dg.from_numpy(x), target=dg.from_numpy(y)))[0] is \
        RuntimeError
    for q in dmods[0].parameters():
        q.grad = dg.ones_like(q)
    sched.step(dg.from_numpy(x4), target=dg.from_numpy(y4))
    _same_grads(dmods, tmods)


def _view_out(lib):
    """A last stage whose output is a view of its result (torch's stage cannot detach it)."""
    class Narrow(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(5, 6)

        def forward(self, h):
            return self.lin(h)[:, :3]
    return _set(lib, Narrow(), 10)


@pytest.mark.parametrize("one_stage", [True, False])
def test_a_step_output_keeps_its_graph_where_torchs_stage_does_not_detach_it(workers,
                                                                            one_stage):
    # torch detaches a last stage's outputs after its backward, unless the stage is also
    # the first, or the output is a view: those keep their graph, which the backward freed
    x, y = _arr(4, 4, seed=22), _arr(4, 3, seed=23)
    seen = {}
    for lib in (torch, dg):
        mods = [_set(lib, lib.nn.Linear(4, 3), 0)] if one_stage else \
            [_set(lib, lib.nn.Linear(4, 5), 0), _view_out(lib)]
        with (_one_rank_group() if lib is torch else contextlib.nullcontext()):
            if lib is torch:
                stages = [tpp.PipelineStage(m, s, len(mods), torch.device("cpu"))
                          for s, m in enumerate(mods)]
                schedule = tpp.ScheduleGPipe if one_stage else tpp.ScheduleLoopedBFS
                sched = schedule(stages[0] if one_stage else stages, 2,
                                 loss_fn=torch.nn.functional.mse_loss)
            else:
                sched = _pipeline(mods, ["worker:0", "worker:1"][:len(mods)], ScheduleGPipe,
                                  2, dg.nn.functional.mse_loss)
            out = sched.step(lib.from_numpy(x), target=lib.from_numpy(y))
        seen[lib] = (out.requires_grad, out.is_leaf, _graph_names(out),
                     _raised(lambda: out.sum().backward())[:2]), _np(out)
    assert seen[dg][0] == seen[torch][0]
    np.testing.assert_allclose(seen[dg][1], seen[torch][1], rtol=1e-5, atol=1e-6)


def test_schedule_classes_by_name_as_torchs():
    # torch's names, in any case, give the schedule class of that name; isinstance of
    # torch's two base classes holds for the schedules of one or several stages per worker
    import distgrad.distributed.pipelining.schedules as dsched
    import torch.distributed.pipelining.schedules as tsched

    for name in ("1F1B", "interleaved1f1b", "GPipe", "LoopedBFS", "InterleavedZeroBubble",
                 "PipelineScheduleSingle", "PipelineScheduleMulti", "zbvzerobubble",
                 "DUALPIPEV"):
        want, got = tsched.get_schedule_class(name), dsched.get_schedule_class(name)
        assert got.__name__ == want.__name__
        for base in ("PipelineScheduleSingle", "PipelineScheduleMulti"):
            assert issubclass(got, getattr(dsched, base)) == issubclass(want,
                                                                        getattr(tsched, base))
    assert dsched.get_schedule_class("ZeroBubble") is dsched.ScheduleZeroBubble
    with pytest.raises(ValueError) as want:
        tsched.get_schedule_class("2F2B")
    with pytest.raises(ValueError) as got:
        dsched.get_schedule_class("2F2B")
    prefix = "Unknown schedule name '2F2B'. The valid options are ["
    assert str(want.value).startswith(prefix) and str(got.value).startswith(prefix)
