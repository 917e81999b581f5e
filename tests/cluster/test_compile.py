"""distgrad.compile on both backends: a compiled training step (layer-placed, sharded)
equals the eager one bit for bit over several steps, a replay is one message per worker,
and every guard (arguments, state changed outside the step, hooks, custom Functions,
values read, random draws) records again or runs eagerly, never replaying a wrong step."""
from __future__ import annotations

import contextlib
import itertools
import warnings

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn as nn
import distgrad.nn.functional as F
import distgrad.optim as optim
from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear

PLACES = ["worker:0", "worker:0", "worker:1", "worker:1"]
RNG = np.random.default_rng(7)
W = [(RNG.standard_normal((6, 6)) * 0.4).astype(np.float32) for _ in range(4)]
B = [(RNG.standard_normal(6) * 0.1).astype(np.float32) for _ in range(4)]


def _linear(w, b):
    lin = nn.Linear(6, 6)
    with dg.no_grad():
        lin.weight.copy_(dg.from_numpy(w))
        lin.bias.copy_(dg.from_numpy(b))
    return lin


def _model(make_opt=lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9)):
    layers = [_linear(w, b).to(d) for w, b, d in zip(W, B, PLACES)]
    return layers, make_opt([p for lin in layers for p in lin.parameters()])


def _forward(layers, x):
    h = x
    for i, lin in enumerate(layers):
        if i and PLACES[i] != PLACES[i - 1]:
            h = h.to(PLACES[i])
        h = lin(h)
        if i < len(layers) - 1:
            h = F.relu(h)
    return h


def _step_fn(layers, opt, forward=_forward):
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(forward(layers, x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _batches(n, rows=4):
    rng = np.random.default_rng(3)
    return [(dg.tensor(rng.standard_normal((rows, 6)).astype(np.float32), device="worker:0"),
             dg.tensor(rng.standard_normal((rows, 6)).astype(np.float32), device="worker:1"))
            for _ in range(n)]


def _np(t):
    return t.detach().cpu().numpy()


def _same_params(a, b):
    for la, lb in zip(a, b):
        for pa, pb in zip(la.parameters(), lb.parameters()):
            assert np.array_equal(_np(pa), _np(pb))
            assert (pa.grad is None) == (pb.grad is None)
            if pa.grad is not None:
                assert np.array_equal(_np(pa.grad), _np(pb.grad))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_layer_placed_step_replays_bit_for_bit(backend, opt):
    make = (lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9)) if opt == "sgd" else \
        (lambda ps: optim.Adam(ps, lr=0.01))
    (ea, oa), (ca, ob) = _model(make), _model(make)
    eager, compiled = _step_fn(ea, oa), dg.compile(_step_fn(ca, ob))
    for x, y in _batches(6):
        assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes()
    _same_params(ea, ca)
    stats = compiled.stats()
    # The first call records; the second again (it finds gradients and optimizer state
    # the first made); the rest replay.
    assert stats["recorded"] == 2 and stats["replayed"] == 4 and stats["eager"] == 0

    # ... and the eager step is torch's step (checked once here, with its own tolerance)
    tl = [torch.nn.Linear(6, 6) for _ in W]
    with torch.no_grad():
        for lin, w, b in zip(tl, W, B):
            lin.weight.copy_(torch.from_numpy(w))
            lin.bias.copy_(torch.from_numpy(b))
    params = [p for lin in tl for p in lin.parameters()]
    topt = torch.optim.SGD(params, lr=0.05, momentum=0.9) if opt == "sgd" else \
        torch.optim.Adam(params, lr=0.01)
    for x, y in _batches(6):
        topt.zero_grad()
        h = torch.from_numpy(_np(x))
        for i, lin in enumerate(tl):
            h = lin(h)
            if i < 3:
                h = torch.relu(h)
        torch.nn.functional.mse_loss(h, torch.from_numpy(_np(y))).backward()
        topt.step()
    for lin, tlin in zip(ca, tl):
        np.testing.assert_allclose(_np(lin.weight), tlin.weight.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_sharded_step_replays_bit_for_bit(backend):
    workers = ["worker:0", "worker:1"]

    def build():
        layers = [(ColumnParallelLinear if i % 2 == 0 else RowParallelLinear).from_linear(
            _linear(w, b), workers=workers) for i, (w, b) in enumerate(zip(W, B))]
        opt = optim.SGD([q for m in layers for q in m.parameters()], lr=0.05)

        def step(x, y):
            opt.zero_grad()
            h = x
            for i, m in enumerate(layers):
                h = m(h)
                if i < 3:
                    h = F.relu(h)
            loss = F.mse_loss(h, y)
            loss.backward()
            opt.step()
            return loss
        return layers, step

    (la, eager), (lb, compiled) = build(), build()
    compiled = dg.compile(compiled)
    for x, y in _batches(5):
        x, y = dist.replicate(x, workers), dist.replicate(y, workers)
        assert _np(eager(x, y).full_tensor()).tobytes() == \
            _np(compiled(x, y).full_tensor()).tobytes()
    for ma, mb in zip(la, lb):
        for pa, pb in zip(ma.parameters(), mb.parameters()):
            assert np.array_equal(_np(pa.full_tensor()), _np(pb.full_tensor()))
    assert compiled.stats()["replayed"] == 3


def test_driver_tensor_inputs_moved_inside_the_step_are_sent_with_the_replay(backend):
    (ea, oa), (ca, ob) = _model(), _model()
    eager_step, compiled_step = _step_fn(ea, oa), _step_fn(ca, ob)

    def moved(step):
        return lambda x, y: step(x.to("worker:0"), y.to("worker:1"))

    eager, compiled = moved(eager_step), dg.compile(moved(compiled_step))
    for x, y in _batches(5):
        x, y = x.cpu(), y.cpu()  # driver tensors: each call's values travel with its replay
        assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes()
    _same_params(ea, ca)
    assert compiled.stats()["replayed"] == 3


def _replaying_step():
    """(layers, the compiled step, 4 batches), the step called on the first 3 (recorded,
    then replayed) and its work done."""
    layers, opt = _model()
    step = dg.compile(_step_fn(layers, opt))
    batches = _batches(4)
    for x, y in batches[:3]:
        step(x, y).item()
    dist.synchronize()
    return layers, step, batches


def test_a_replay_is_one_message_per_worker_and_its_loss_comes_first(backend):
    layers, step, batches = _replaying_step()
    before = dist.counters()["messages"]
    loss = step(*batches[3])
    loss.item()  # returned with the replay's reply: no message of its own
    after = dist.counters()["messages"]
    sent = [a - b for a, b in zip(after, before)]
    if backend == "ray":
        # the worker that computes the loss gets its part in two: the forward, the loss
        # and what it sends (whose reply brings the loss), then the weight gradients and
        # the update
        assert sent == [1, 2]
    else:  # in-process workers run each recorded run in its turn (a worker's runs that
        # follow each other in one message)
        from distgrad.distributed.program import _stretches

        assert sum(sent) == len(_stretches(step.recording.program.order)) < 8


def test_a_replay_counts_the_bytes_it_moves_worker_to_worker(backend):
    """A replayed step moves what its eager call moved (the activation forward, its
    gradient back), and the counters say so, as they do for an eager step."""
    layers, opt = _model()
    eager, step = _step_fn(layers, opt), None
    batches = _batches(5)
    moved = []
    for i, (x, y) in enumerate(batches):
        if i == 2:
            step = dg.compile(eager)
        before = dist.counters()
        (step or eager)(x, y).item()
        after = dist.counters()
        moved.append((after["bytes_moved"] - before["bytes_moved"],
                      after["transfers"] - before["transfers"]))
    assert moved[0] == (2 * 4 * 6 * 4, 2)  # one 4x6 float32 activation each way
    assert len(set(moved)) == 1, moved  # eager, recorded and replayed alike


def test_a_replays_loss_is_read_while_its_backward_still_runs(ray_with_hooks):
    # The loss's worker is held at its first weight-gradient matmul (after the two that
    # make the input gradient it sends to worker 0): reading the loss still returns (the
    # forward, the loss and the sends came back in a message of their own), and the caller
    # could send its next step meanwhile.
    from watchdog import PhaseGate

    from distgrad.distributed.testhooks import pause_at

    layers, step, batches = _replaying_step()
    gate = PhaseGate()
    try:
        pause_at("worker:1", "op", name="mm", skip=2, report_to=gate.address)
        loss = step(*batches[3])
        with dist.call_timeout(60):
            got = loss.item()
        assert gate.wait()["worker"] == 1  # held in the backward when the loss was read
        gate.release()
        dist.synchronize()
        layers2, opt2 = _model()
        eager = _step_fn(layers2, opt2)
        want = [float(_np(eager(x, y))) for x, y in batches][-1]
        assert got == want
        _same_params(layers, layers2)
    finally:
        gate.close()


def test_a_replay_failing_as_a_whole_fails_its_receivers_at_once(backend_name):
    """Worker 0's replay fails as a whole at its first send (a test hook): worker 1's
    replay, waiting for that tensor under the replay's keys, is told at once, and the
    step's loss raises worker 0's error. (Before, the failures went under the program's
    own keys, and worker 1 waited for the idle timeout, here an hour: the reads below
    would raise TimeoutError at the call deadline instead.)"""
    from watchdog import within

    from distgrad.distributed.testhooks import fail_at

    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend=backend_name, test_hooks=True, timeout_s=300,
              recv_idle_timeout_s=3600, call_timeout_s=60)
    try:
        layers, step, batches = _replaying_step()
        fail_at("worker:0", "send")
        loss = step(*batches[3])
        with pytest.raises(RuntimeError) as info:
            within(120, loss.item)
        msg = str(info.value)
        # worker 1's recv, told why: worker 0's own error
        assert msg == ("PeerRunFailedError: worker:0's run failed before it sent the tensor "
                       "this run needs: RuntimeError: test hook: worker:0's run fails as it "
                       "enters phase 'send' (op 'recv' on worker:1)"), msg
        try:  # every worker's run has ended (worker 1's did not wait for the tensor)
            within(120, dist.synchronize)
        except RuntimeError as e:
            assert "test hook" in str(e), e
        within(120, dist.stats)  # answers: no run is left waiting
    finally:
        dist.shutdown()


def test_a_replay_writes_new_gradients_into_the_old_ones_no_one_else_holds(backend):
    """A step whose zero_grad sets the gradients to None makes new ones at each eager call.
    Where nothing but its parameter holds the last call's gradient, nothing can tell the
    two apart: a replay writes the new values into it and sends no more than the step's
    own outputs. Where the caller holds it, a replay makes a new one (sending where to put
    it) and the held one keeps its values."""
    (ea, oa), (ca, ob) = _model(), _model()
    eager, step = _step_fn(ea, oa), dg.compile(_step_fn(ca, ob))
    sent, held = [], []
    for i, (x, y) in enumerate(_batches(9)):
        before = sum(dist.counters()["bytes_sent"])
        assert _np(eager(x, y)).tobytes() == _np(step(x, y)).tobytes(), i
        sent.append(sum(dist.counters()["bytes_sent"]) - before)
        _same_params(ea, ca)
        if i in (4, 5):
            held.append((ca[1].weight.grad, _np(ca[1].weight.grad)))
    for grad, values in held:
        assert np.array_equal(_np(grad), values)
    assert step.stats()["replayed"] == 7
    # Calls 2-8 replay, 5 and 6 with the last call's gradient held; the first replay of
    # each kind also sends its program: 3, 4 and 8 against 6.
    assert max(sent[3], sent[4], sent[8]) < sent[6], sent


def _same_state(a, opt_a, b, opt_b):
    """Parameters, gradients, their versions and the optimizers' state alike."""
    _same_params(a, b)
    pa = [p for lin in a for p in lin.parameters()]
    pb = [p for lin in b for p in lin.parameters()]
    assert [p._version for p in pa] == [p._version for p in pb]
    assert [p.grad._version for p in pa if p.grad is not None] == \
        [p.grad._version for p in pb if p.grad is not None]
    for x, y in zip(pa, pb):
        sa, sb = opt_a.state[x], opt_b.state[y]
        assert sorted(sa) == sorted(sb)
        for k in sa:
            assert np.array_equal(_np(sa[k]), _np(sb[k])) and sa[k]._version == sb[k]._version


def test_a_step_accumulating_gradients_replays_each_state(backend):
    """A step that updates every second call (its flag an argument) accumulates into the
    gradients the last call left: it reads each call's as an input, and after recording
    once from each state (no optimizer state yet, then some; an update or not) replays."""
    def make(layers, opt):
        def step(x, y, update):
            loss = F.mse_loss(_forward(layers, x), y)
            loss.backward()
            if update:
                opt.step()
                opt.zero_grad()
            return loss
        return step

    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = make(ea, oa), dg.compile(make(ca, ob))
    for i, (x, y) in enumerate(_batches(9)):
        assert _np(eager(x, y, i % 2 == 1)).tobytes() == \
            _np(compiled(x, y, i % 2 == 1)).tobytes(), i
        _same_state(ea, oa, ca, ob)
    assert compiled.stats()["recorded"] == 4 and compiled.stats()["replayed"] == 5, \
        compiled.stats()


_NORMS = {
    "batchnorm1d": lambda: (nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(),
                                          nn.Linear(8, 3)), (4, 6)),
    # (a cumulative average: the factor 1 / num_batches_tracked is computed on the worker)
    "batchnorm1d-cumulative": lambda: (nn.Sequential(nn.Linear(6, 8),
                                                     nn.BatchNorm1d(8, momentum=None),
                                                     nn.ReLU(), nn.Linear(8, 3)), (4, 6)),
    "batchnorm2d": lambda: (nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3),
                                          nn.ReLU(), nn.Flatten(), nn.Linear(48, 3)),
                            (2, 2, 4, 4)),
    "groupnorm": lambda: (nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.GroupNorm(2, 4),
                                        nn.Flatten(), nn.Linear(64, 3)), (2, 2, 4, 4)),
    "layernorm": lambda: (nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Tanh(),
                                        nn.Linear(8, 3)), (4, 6)),
}


def _norm_model(kind, train):
    dg.manual_seed(5)
    model, shape = _NORMS[kind]()
    model = model.to("worker:0").train(train)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, _step_fn(model, opt, lambda m, x: m(x)), shape


def _norm_state(model, opt) -> list:
    """Parameters, buffers (running statistics, num_batches_tracked), gradients, momentum
    buffers: values and versions."""
    out = []
    for t in [*model.parameters(), *model.buffers(),
              *(p.grad for p in model.parameters() if p.grad is not None),
              *(v for s in opt.state.values() for v in s.values())]:
        out.append((_np(t).tobytes(), t.dtype, t._version))
    return out


def _worker_tensors() -> int:
    """worker:0's live tensors, without the cyclic GC that dist.stats() runs first."""
    dist.current().flush_all()
    return dist.current().queues[0].request("stats")["tensors"]


@pytest.mark.parametrize("kind,train", [(kind, True) for kind in _NORMS] + [
    ("batchnorm1d", False), ("batchnorm2d", False)])
def test_a_step_through_a_norm_layer_replays_as_the_eager_step(backend, kind, train):
    """A batch norm's saved statistics (views of them, taken by its backward) are freed
    with the step, not left to the driver's cyclic GC: the recording's frees hold theirs,
    and the step replays, its running statistics, num_batches_tracked, gradients and
    momentum the eager step's, bit for bit and version for version."""
    import gc

    em, eo, eager, shape = _norm_model(kind, train)
    cm, co, compiled, _ = _norm_model(kind, train)
    rng = np.random.default_rng(11)
    batches = [(dg.tensor(rng.standard_normal(shape).astype(np.float32), device="worker:0"),
                dg.tensor(rng.standard_normal((shape[0], 3)).astype(np.float32),
                          device="worker:0")) for _ in range(5)]
    compiled = dg.compile(compiled)
    gc.collect()
    gc.disable()  # (what the eager step leaves to it stays on the workers)
    try:
        left = []
        for x, y in batches:
            assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes()
            assert _norm_state(em, eo) == _norm_state(cm, co)
            left.append(_worker_tensors())
    finally:
        gc.enable()
    assert len(set(left[2:])) == 1, left
    assert compiled.stats()["replayed"] == 3, compiled.stats()


def test_a_step_leaving_cyclic_garbage_replays(backend, monkeypatch):
    """A temporary held only by a reference cycle the step made is freed inside the
    recording, whenever the driver's automatic collection would have run: here while the
    recording is paused to make its outputs."""
    import gc

    from distgrad.distributed import program

    paused = program.paused

    @contextlib.contextmanager
    def collecting(rt):
        with paused(rt):
            gc.collect()  # (an automatic collection at this point)
            yield

    monkeypatch.setattr(program, "paused", collecting)
    layers, opt = _model()
    base = _step_fn(layers, opt)

    def step(x, y):
        cycle = [x * 2]
        cycle.append(cycle)
        return base(cycle[0], y)

    ea, oa = _model()
    eager, compiled = _step_fn(ea, oa), dg.compile(step)
    for x, y in _batches(4):
        assert _np(eager(x * 2, y)).tobytes() == _np(compiled(x, y)).tobytes()
    assert compiled.stats()["replayed"] == 2, compiled.stats()


def test_outputs_are_fresh_tensors_each_call(backend):
    layers, opt = _model()
    step = dg.compile(_step_fn(layers, opt))
    losses = [step(x, y) for x, y in _batches(5)]
    values = [float(_np(v)) for v in losses]
    assert len(set(values)) == 5  # an earlier call's loss was not overwritten by a replay
    layers2, opt2 = _model()
    eager = _step_fn(layers2, opt2)
    assert values == [float(_np(eager(x, y))) for x, y in _batches(5)]


def _run_both(change, n=6, expect_warning=None):
    """The step eagerly and compiled, with `change(layers, opt, i)` applied before call i to
    both; returns the compiled step (its stats say what happened)."""
    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = _step_fn(ea, oa), dg.compile(_step_fn(ca, ob))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for i, (x, y) in enumerate(_batches(n)):
            change(ea, oa, i, x, y)
            change(ca, ob, i, x, y)
            assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes(), i
    _same_params(ea, ca)
    if expect_warning:
        assert any(expect_warning in str(w.message) for w in seen), [str(w.message) for w in seen]
    return compiled


def test_a_step_returning_its_parameters_views_detaches_and_gradients_replays(backend):
    (ea, oa), (ca, ob) = _model(), _model()

    def make(layers, opt):
        step = _step_fn(layers, opt)
        return lambda x, y: (step(x, y), layers[0].weight, layers[0].weight[1],
                             layers[2].weight.t(), layers[1].weight.grad,
                             layers[3].bias.detach())

    eager, compiled = make(ea, oa), dg.compile(make(ca, ob))
    for x, y in _batches(5):
        a, b = eager(x, y), compiled(x, y)
        assert b[1] is ca[0].weight and b[2]._base is ca[0].weight
        assert b[3]._base is ca[2].weight and b[4] is ca[1].weight.grad
        assert b[5] is not ca[3].bias and b[5].untyped_storage().data_ptr() == \
            ca[3].bias.untyped_storage().data_ptr()
        for ta, tb in zip(a, b):
            assert _np(ta).tobytes() == _np(tb).tobytes()
            assert (ta.grad_fn is None) == (tb.grad_fn is None) and ta._version == tb._version
            assert ta.grad_fn is None or ta.grad_fn.name() == tb.grad_fn.name()
    _same_params(ea, ca)
    assert compiled.stats()["replayed"] == 3, compiled.stats()

def test_a_step_returning_views_of_a_sharded_tensor_replays(backend):
    """Views of a sharded tensor the step makes (a slice, a reshape, a view of that) are
    taken again from the replay's sharded tensor, by the ops that made them: values, view
    flags, bases and versions as the eager call's."""
    def make():
        layers, opt = _model()
        base = _step_fn(layers, opt)

        def step(x, y):
            loss = base(x, y)
            rows = dist.shard((x * 2).detach(), 0)
            part = rows[1:]
            return loss, part, rows.view(2, 12), part.t()
        return step

    eager, compiled = make(), dg.compile(make())
    for i, (x, y) in enumerate(_batches(5)):
        got, want = compiled(x, y), eager(x, y)
        for a, b in zip(got, want):
            assert _np(a.full_tensor() if a._sharding is not None else a).tobytes() == \
                _np(b.full_tensor() if b._sharding is not None else b).tobytes(), i
            assert (a._is_view(), a.shape, a.stride(), a._version, a.requires_grad) == \
                (b._is_view(), b.shape, b.stride(), b._version, b.requires_grad), i
        assert got[3]._base is got[1]._base is not None and want[3]._base is want[1]._base, i
    assert compiled.stats()["replayed"] == 3, compiled.stats()


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode", "autocast"])
def test_a_step_called_in_another_mode_runs_as_the_eager_step(backend, mode):
    """The modes of the thread a step is called in (grad mode, inference mode, autocast)
    decide what it does, as its arguments do: a call in another mode than the recording's
    records again (its backward then raises as the eager one does, its ops run in
    autocast's dtypes), never replaying what the other mode recorded."""
    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = _step_fn(ea, oa), dg.compile(_step_fn(ca, ob))
    enter = {"no_grad": dg.no_grad, "inference_mode": dg.inference_mode,
             "autocast": lambda: dg.autocast("cpu")}[mode]
    for i, (x, y) in enumerate(_batches(5)):
        with enter() if i >= 3 else contextlib.nullcontext():
            results = []
            for step in (eager, compiled):
                try:
                    results.append(_np(step(x, y)).tobytes())
                except RuntimeError as e:
                    results.append(str(e))
        assert results[0] == results[1], i
    _same_params(ea, ca)

def test_a_global_named_as_an_attribute_the_step_reads_is_not_its_state(backend):
    # co_names holds the attributes a step reads too: a program's loop counter named `step`
    # (beside the step's opt.step()) was taken for state the step reads, and every call
    # recorded again.
    def change(layers, opt, i, x, y):
        globals()["step"] = i
    try:
        stats = _run_both(change).stats()
    finally:
        globals().pop("step", None)
    assert stats["recorded"] == 2 and stats["replayed"] == 4


def test_a_changed_learning_rate_records_again(backend):
    def change(layers, opt, i, x, y):
        if i == 4:
            opt.param_groups[0]["lr"] = 0.01
    stats = _run_both(change).stats()
    assert stats["recorded"] == 3 and stats["reasons"]["recorded again: state"] == 2


def _scheduled_step(layers, opt, sched):
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(_forward(layers, x), y)
        loss.backward()
        opt.step()
        sched.step()
        return loss
    return step


def _scheduler_state(opt, sched) -> tuple:
    return ([group["lr"] for group in opt.param_groups], sched.last_epoch, sched.get_last_lr(),
            sched._step_count)


@pytest.mark.parametrize("kind", ["step", "lambda warm-up"])
def test_a_step_stepping_an_lr_scheduler_at_its_end_replays_once_per_lr(backend, kind):
    """A replay runs the scheduler's step() in Python after its program, as the eager call
    runs it after its update: its epoch and lrs move as the eager ones, and a call replays
    the recording made with the lr it finds (one recording per lr the schedule sets)."""
    make = (lambda opt: optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)) \
        if kind == "step" else \
        (lambda opt: optim.lr_scheduler.LambdaLR(opt, lambda e: min(1.0, (e + 1) / 3)))
    (ea, oa), (ca, ob) = _model(), _model()
    sa, sb = make(oa), make(ob)
    eager, compiled = _scheduled_step(ea, oa, sa), dg.compile(_scheduled_step(ca, ob, sb))
    for i, (x, y) in enumerate(_batches(12)):
        assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes(), i
        assert _scheduler_state(oa, sa) == _scheduler_state(ob, sb), i
        _same_params(ea, ca)
    stats = compiled.stats()
    # StepLR: the first call (no momentum yet), then lrs 0.05, 0.025 and 0.0125; the
    # warm-up: lrs 1/3, 2/3 (its momentum made) and 3/3 of 0.05
    recorded = 4 if kind == "step" else 3
    assert stats["recorded"] == recorded and stats["replayed"] == 12 - recorded, stats


def test_a_scheduler_the_step_reads_is_not_stepped_around_a_replay(backend):
    """A step whose code reads the scheduler (here its epoch, to choose what it does) is
    recorded for the scheduler's state, as any state it reads: never replayed with the
    scheduler's state taken for granted."""
    (ea, oa), (ca, ob) = _model(), _model()
    sa, sb = (optim.lr_scheduler.StepLR(o, step_size=100) for o in (oa, ob))

    def make(layers, opt, sched):
        base = _scheduled_step(layers, opt, sched)

        def step(x, y):
            return base(x * 2 if sched.last_epoch % 2 else x, y)
        return step

    eager, compiled = make(ea, oa, sa), dg.compile(make(ca, ob, sb))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (x, y) in enumerate(_batches(6)):
            assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes(), i
            assert _scheduler_state(oa, sa) == _scheduler_state(ob, sb), i
    _same_params(ea, ca)
    assert compiled.stats()["replayed"] == 0, compiled.stats()


def test_a_replaced_parameter_records_again(backend):
    def change(layers, opt, i, x, y):
        if i == 4:  # a new tensor in the module and in the optimizer, made outside the step
            with dg.no_grad():
                fresh = nn.Parameter(layers[1].weight.detach() * 0.5)
            layers[1].weight = fresh
            opt.param_groups[0]["params"][2] = fresh
    stats = _run_both(change).stats()
    # Call 4 records (a new parameter), and call 5 (its momentum buffer is new).
    assert stats["recorded"] == 4 and stats["replayed"] == 2


def test_a_frozen_parameter_records_again(backend):
    def change(layers, opt, i, x, y):
        if i == 4:  # the step's backward no longer reaches it: another program
            layers[0].weight.requires_grad_(False)
    stats = _run_both(change, n=8).stats()
    # Call 4 records (the weight no longer requires grad), and call 5 (its old gradient,
    # cleared by zero_grad, is not made again): the step is a fixed point from then on.
    assert stats["recorded"] == 4 and stats["replayed"] == 4


def test_a_step_called_in_turn_from_two_states_replays_each(backend):
    def change(layers, opt, i, x, y):
        for lin in layers:  # (train() and eval() in turn: two states the step reads)
            lin.train(i % 2 == 0)
    stats = _run_both(change, n=8).stats()
    # Calls 0 (no momentum yet), 1 and 2 record; each later call replays the recording
    # made from its state, not recording again at every switch.
    assert stats["recorded"] == 3 and stats["replayed"] == 5, stats


@pytest.mark.parametrize("how", ["parameters dict", "module __dict__", "data", "grad"])
def test_a_change_made_around_setattr_records_again(backend, how):
    """A module's containers and the tensors a guard has seen count their changes
    (distgrad/watched.py), however they are made: the next call walks the state again."""
    def change(layers, opt, i, x, y):
        if i != 4:
            return
        if how == "parameters dict":  # written into the dict, not through the module
            with dg.no_grad():
                fresh = nn.Parameter(layers[1].weight.detach() * 0.5)
            layers[1]._parameters["weight"] = fresh  # (the optimizer keeps the old one)
        elif how == "module __dict__":
            layers[0].__dict__["note"] = "seen"
        elif how == "data":  # the same Parameter object over a new tensor
            layers[2].bias.data = layers[2].bias.detach() * 0.5
        else:  # (the gradient let go: the step no longer starts from the same state)
            layers[3].weight.grad = None
    stats = _run_both(change).stats()
    assert stats["recorded"] >= 3 and stats["reasons"]["recorded again: state"] >= 2, stats


def test_the_per_call_check_does_not_grow_with_the_model(backend):
    """What the cheap check before a replay compares one by one is the same for a model of
    2 layers and of 12: the modules and tensors count their own changes; the lists it
    holds (the optimizer's parameters) are compared as one array of addresses each."""
    def polled(depth):
        model = nn.Sequential(*[nn.Linear(6, 6) for _ in range(depth)]).to("worker:0")
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

        def step(x, y):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y.to("worker:0"))
            loss.backward()
            opt.step()
            return loss
        compiled = dg.compile(step)
        for x, y in _batches(5):
            compiled(x, y)
        assert compiled.stats()["replayed"] == 3
        g = compiled.recording.last[1]
        return (len(g.empty), len(g.dict_keys), len(g.tensor_attrs), len(g.numbers),
                len(g.places), len(g.lists))

    assert polled(2) == polled(12)


def test_a_parameter_written_in_place_outside_the_step_replays(backend):
    def change(layers, opt, i, x, y):
        if i == 4:  # the same tensor, new values: the program reads them
            with dg.no_grad():
                layers[2].bias.mul_(0.5)
    stats = _run_both(change).stats()
    assert stats["recorded"] == 2 and stats["replayed"] == 4


def test_a_replay_counts_its_writes_to_the_state_as_the_eager_step_does(backend):
    # A replay writes the parameters on the workers only: their version counters stood
    # still, so a graph that saved a parameter before the step ran backward with the new
    # values, silently, where torch (and the eager step) refuse.
    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = _step_fn(ea, oa), dg.compile(_step_fn(ca, ob))
    seen = []
    for x, y in _batches(4):
        for layers, step in ((ea, eager), (ca, compiled)):
            held = (layers[0].weight * layers[0].weight).sum()
            step(x, y)
            try:
                held.backward()
                refused = False
            except RuntimeError as e:
                refused = "modified by an inplace operation" in str(e)
            seen.append((refused, layers[0].weight._version, layers[3].bias._version))
    assert compiled.stats()["replayed"] == 2
    assert seen[0::2] == seen[1::2] and all(refused for refused, _, _ in seen)


@pytest.mark.parametrize("placed", ["worker", "sharded"])
def test_a_replay_counts_its_writes_to_its_arguments_as_the_eager_step_does(backend, placed):
    # A step that writes its argument (or a view of it) in place: a replay writes it on
    # the workers, and the argument's version counter counts it, as the eager call's does
    # (by the argument's place: each call may pass another tensor).
    def step(x, acc):
        acc.add_(x.sum(0).to("worker:0"))
        x[1:3].mul_(0.5)
        x.t()[0].sub_(1)
        return acc * 1

    place = (lambda t: t.to("worker:0")) if placed == "worker" else \
        (lambda t: dist.shard(t, 0))
    seen, compiled = [], dg.compile(step)
    p = place(dg.ones(4, 3)).requires_grad_()
    for fn in (step, compiled):
        acc = dg.zeros(3).to("worker:0")
        for i in range(4):
            x = place(dg.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3) + i))
            held = x * p  # saves x, which the step writes
            fn(x, acc)
            refused = "modified by an inplace operation" in str(pytest.raises(
                RuntimeError, held.sum().backward).value)
            seen.append((x._version, acc._version, refused, _np(x).tolist()))
    assert compiled.stats()["replayed"] == 3
    assert seen[:4] == seen[4:] and all(refused for _, _, refused, _ in seen)


def test_zero_grad_outside_the_step_replays_with_new_gradients(backend):
    """The step leaves new gradients in p.grad; zero_grad() outside it takes them away
    before each call. A replay starts from the state the recording started from (no
    gradients) and puts new ones where the eager step makes them: p.grad is the eager
    one's after every call, and a gradient held from an earlier call keeps its values."""
    (ea, oa), (ca, ob) = _model(), _model()

    def make(layers, opt):
        def step(x, y):
            loss = F.mse_loss(_forward(layers, x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = make(ea, oa), dg.compile(make(ca, ob))
    held = []
    for x, y in _batches(5):
        oa.zero_grad()
        ob.zero_grad()
        assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes()
        _same_params(ea, ca)  # gradients included
        held.append((ca[0].weight.grad, _np(ca[0].weight.grad)))
    assert all(np.array_equal(_np(g), values) for g, values in held)
    assert len({id(g) for g, _ in held}) == len(held)
    assert compiled.stats()["replayed"] == 3, compiled.stats()


def test_a_parameter_frozen_every_other_call_replays(backend):
    def change(layers, opt, i, x, y):
        # (the gradient the thawed calls make is dropped by the frozen calls' zero_grad)
        layers[0].weight.requires_grad_(i % 2 == 0)
    stats = _run_both(change, n=8).stats()
    assert stats["recorded"] == 3 and stats["replayed"] == 5, stats


def test_a_layer_frozen_inside_the_step_replays_each_state(backend):
    """The step sets requires_grad itself (an argument says whether to freeze the first
    layer): a replay sets the flags as the eager call does, so each state the calls go
    through is recorded once and replayed after."""
    def make(layers, opt):
        def step(x, y, freeze):
            layers[0].weight.requires_grad_(not freeze)
            opt.zero_grad()
            loss = F.mse_loss(_forward(layers, x), y)
            loss.backward()
            opt.step()
            return loss
        return step

    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = make(ea, oa), dg.compile(make(ca, ob))
    for i, (x, y) in enumerate(_batches(12)):
        freeze = i % 3 == 0
        assert _np(eager(x, y, freeze)).tobytes() == _np(compiled(x, y, freeze)).tobytes(), i
        _same_params(ea, ca)
        assert [p.requires_grad for lin in ea for p in lin.parameters()] == \
            [p.requires_grad for lin in ca for p in lin.parameters()], i
    # Recorded: the first call, a thawing call after a frozen one, one from a thawed
    # state (momentum made), a freezing call from there, a thawing call with momentum.
    stats = compiled.stats()
    assert stats["recorded"] == 5 and stats["replayed"] == 7, stats


def test_a_changed_shape_records_again(backend):
    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = _step_fn(ea, oa), dg.compile(_step_fn(ca, ob))
    batches = _batches(3) + _batches(3, rows=5)
    for x, y in batches:
        assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes()
    assert compiled.stats()["reasons"]["recorded again: inputs"] == 1
    assert compiled.stats()["replayed"] == 3


@pytest.mark.parametrize("kind", ["tensor hook", "forward hook", "custom function", "read",
                                  "random", "saved tensor hooks"])
def test_what_a_replay_cannot_repeat_runs_eagerly(backend, kind):
    (ea, oa), (ca, ob) = _model(), _model()
    # Counts the Python code's runs (a list would do, but its growing length is state the
    # step can see: every call would record again).
    calls = itertools.count()

    class Twice(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            next(calls)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    def hook(g):
        next(calls)
        return g * 0.5

    for layers in (ea, ca):
        if kind == "tensor hook":
            layers[0].weight.register_hook(hook)
        elif kind == "forward hook":
            layers[0].register_forward_hook(lambda m, args, out: (next(calls), None)[1])

    def make(layers, opt):
        def step(x, y):
            opt.zero_grad()
            h = x
            if kind == "custom function":
                h = Twice.apply(h)
            if kind == "random":
                h = F.dropout(h, 0.5)
            with dg.autograd.graph.saved_tensors_hooks(lambda t: (next(calls), t)[1],
                                                       lambda t: t) \
                    if kind == "saved tensor hooks" else contextlib.nullcontext():
                out = _forward(layers, h)
            loss = F.mse_loss(out, y)
            if kind == "read" and loss.item() > 1e9:  # a value that steers the step
                loss = loss * 0
            loss.backward()
            opt.step()
            return loss
        return step

    eager, compiled = make(ea, oa), dg.compile(make(ca, ob))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for i, (x, y) in enumerate(_batches(5)):
            if kind == "random":
                dg.manual_seed(i)
            le = _np(eager(x, y))
            if kind == "random":
                dg.manual_seed(i)
            assert le.tobytes() == _np(compiled(x, y)).tobytes()
    _same_params(ea, ca)
    stats = compiled.stats()
    reason = {"tensor hook": "hook", "forward hook": "hook", "custom function": "function",
              "read": "read", "random": "random", "saved tensor hooks": "hook"}[kind]
    assert stats["replayed"] == 0 and stats["eager"] == 3, stats
    assert stats["reasons"][f"eager: {reason}"] == 3
    if kind in ("tensor hook", "forward hook", "custom function"):
        assert next(calls) == 10  # the Python code ran in every call of both steps
    warned = [str(w.message) for w in seen if "distgrad.compile" in str(w.message)]
    assert len([w for w in warned if "run eagerly" in w]) == 1  # once, not per call


def test_constants_the_step_makes_on_the_driver_replay(backend):
    """Driver tensors made from numbers (arange, full, and what is computed from them
    alone) have the same values in every call: moved to a worker, they replay."""
    def scaled(step):
        def run(x, y):
            rows = dg.arange(x.shape[1]).float() * 0.1 + dg.full((6,), 0.5)
            mask = (dg.arange(6) % 2 == 0).to("worker:1")
            return step(x * rows.to("worker:0"), y.masked_fill(mask, 0.0))
        return run

    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = scaled(_step_fn(ea, oa)), dg.compile(scaled(_step_fn(ca, ob)))
    for x, y in _batches(5):
        assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes()
    _same_params(ea, ca)
    assert compiled.stats()["replayed"] == 3, compiled.stats()


@pytest.mark.parametrize("kind", ["written", "random"])
def test_driver_tensors_the_step_writes_or_draws_are_never_replayed(backend, kind):
    """A write into the driver's own tensors (state the replay would not touch), or a
    driver tensor filled with random numbers, makes the step run eagerly."""
    seen = dg.zeros(6)  # the driver's state: the last batch's first row, kept by the step

    def make(layers, opt):
        base = _step_fn(layers, opt)

        def step(x, y):
            if kind == "written":
                seen.copy_(dg.ones(6) * 0)  # made from numbers, written into the state
                seen.copy_(first_rows.pop())  # a value made outside: not a constant
                return base(x, y)
            first_rows.pop()
            noise = dg.zeros(6).uniform_(0.0, 0.01)
            return base(x + noise.to("worker:0"), y)
        return step

    batches = _batches(5)
    first_rows = []
    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = make(ea, oa), dg.compile(make(ca, ob))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (x, y) in enumerate(batches):
            row = dg.from_numpy(_np(x)[0].copy()) if kind == "written" else None
            first_rows.append(row)
            dg.manual_seed(i)
            le = _np(eager(x, y))
            first_rows.append(row)
            dg.manual_seed(i)
            assert le.tobytes() == _np(compiled(x, y)).tobytes()
            if kind == "written":
                assert np.array_equal(seen.numpy(), _np(x)[0])  # the compiled call wrote it
    _same_params(ea, ca)
    stats = compiled.stats()
    assert stats["replayed"] == 0 and stats["eager"] == 3, stats
    reason = "driver-op" if kind == "written" else "random"
    assert stats["reasons"][f"eager: {reason}"] == 3, stats


def test_a_step_on_the_driver_alone_runs_eagerly(backend):
    """A model, its batch and its loss all on the driver: nothing to replay on the workers,
    so every call runs eagerly and gives the eager step's numbers."""
    def driver_model():
        layers = [_linear(w, b) for w, b in zip(W, B)]
        return layers, optim.SGD([p for lin in layers for p in lin.parameters()], lr=0.05)

    def step_fn(layers, opt):
        def step(x, y):
            opt.zero_grad()
            h = x
            for lin in layers:
                h = lin(h)
            loss = F.mse_loss(h, y)
            loss.backward()
            opt.step()
            return loss
        return step

    (ea, oa), (ca, ob) = driver_model(), driver_model()
    eager, compiled = step_fn(ea, oa), dg.compile(step_fn(ca, ob))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, y in _batches(3):
            x, y = x.cpu(), y.cpu()
            assert _np(eager(x, y)).tobytes() == _np(compiled(x, y)).tobytes()
    _same_params(ea, ca)
    assert compiled.stats()["replayed"] == 0, compiled.stats()


def test_a_step_returning_a_driver_tensor_runs_eagerly(backend):
    """The total norm of clip_grad_norm_, brought to the driver: a step that returns it
    cannot be replayed (its recording failed while telling its outputs from the state)."""
    def make(layers, opt):
        def step(x, y):
            opt.zero_grad()
            loss = F.mse_loss(_forward(layers, x), y)
            loss.backward()
            norm = nn.utils.clip_grad_norm_([p for lin in layers for p in lin.parameters()], 0.5)
            opt.step()
            return loss, norm.cpu()
        return step

    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = make(ea, oa), dg.compile(make(ca, ob))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, y in _batches(4):
            assert [_np(t).tobytes() for t in eager(x, y)] == \
                [_np(t).tobytes() for t in compiled(x, y)]
    _same_params(ea, ca)
    stats = compiled.stats()
    assert stats["replayed"] == 0 and stats["reasons"]["eager: output"] == 2, stats


@pytest.mark.parametrize("norm_type", [2.0, "inf"])
def test_a_step_clipping_its_gradients_replays(backend, norm_type):
    """clip_grad_norm_ over gradients on workers reduces their norms on the first one's
    worker, as torch on its first device: all worker ops, which a replay repeats."""
    def make(layers, opt):
        def step(x, y):
            opt.zero_grad()
            F.mse_loss(_forward(layers, x), y).backward()
            norm = nn.utils.clip_grad_norm_([p for lin in layers for p in lin.parameters()],
                                            0.5, float(norm_type))
            opt.step()
            return norm
        return step

    (ea, oa), (ca, ob) = _model(), _model()
    eager, compiled = make(ea, oa), dg.compile(make(ca, ob))
    for x, y in _batches(4):
        a, b = eager(x, y), compiled(x, y)
        assert _np(a).tobytes() == _np(b).tobytes() and a.device == b.device == dg.device(
            "worker:0")
        _same_state(ea, oa, ca, ob)
    assert compiled.stats()["replayed"] == 2, compiled.stats()


def test_a_tensor_replaced_in_an_object_the_step_reads_records_again(backend):
    layers, opt = _model()
    box = _Box()
    box.scale = dg.tensor(np.float32(2.0), device="worker:1")
    base = _step_fn(layers, opt)

    def step(x, y):
        return base(x, y * box.scale)

    compiled = dg.compile(step)
    batches = _batches(5)
    for x, y in batches[:3]:
        compiled(x, y)
    box.scale = dg.tensor(np.float32(3.0), device="worker:1")  # a new tensor in the same slot
    layers2, opt2 = _model()
    eager = _step_fn(layers2, opt2)
    expect = [_np(eager(x, y * (2.0 if i < 3 else 3.0))) for i, (x, y) in enumerate(batches)]
    got = [None] * 3 + [_np(compiled(x, y)) for x, y in batches[3:]]
    assert got[3].tobytes() == expect[3].tobytes() and got[4].tobytes() == expect[4].tobytes()
    assert compiled.stats()["recorded"] == 3


def test_a_step_whose_loss_is_over_sharded_classes_replays(backend):
    """Cross-entropy over logits sharded on their classes (a vocabulary-parallel loss): its
    log-softmax's node frees what it saved in the backward, so the loss a call returns
    holds nothing of the step and the step replays."""
    workers = ["worker:0", "worker:1"]
    labels = dist.replicate(dg.tensor(np.array([1, 5, 0, 3])), workers)

    def build():
        head = ColumnParallelLinear.from_linear(_linear(W[0], B[0]), workers=workers)
        opt = optim.SGD(head.parameters(), lr=0.05, momentum=0.9)

        def step(x):
            opt.zero_grad()
            loss = F.cross_entropy(head(x), labels)
            loss.backward()
            opt.step()
            return loss
        return head, step

    (ha, eager), (hb, compiled) = build(), build()
    compiled = dg.compile(compiled)
    for x, _ in _batches(4):
        x = dist.replicate(x, workers)
        a, b = eager(x), compiled(x)
        assert _np(a.full_tensor()).tobytes() == _np(b.full_tensor()).tobytes()
        assert b.grad_fn.name() == a.grad_fn.name()
    for pa, pb in zip(ha.parameters(), hb.parameters()):
        assert np.array_equal(_np(pa.full_tensor()), _np(pb.full_tensor()))
    assert compiled.stats()["replayed"] == 2, compiled.stats()


class _Box:
    __slots__ = ("scale",)  # no __dict__: the state walk reads its slots


def test_a_tensor_the_state_walk_cannot_reach_makes_the_step_eager(backend):
    layers, opt = _model()
    hidden = np.empty(1, dtype=object)  # an array: the walk does not look inside
    hidden[0] = dg.tensor(np.float32(2.0), device="worker:1")
    base = _step_fn(layers, opt)
    compiled = dg.compile(lambda x, y: base(x, y * hidden[0]))
    layers2, opt2 = _model()
    eager = _step_fn(layers2, opt2)
    with pytest.warns(UserWarning, match="do not reach"):
        for i, (x, y) in enumerate(_batches(5)):
            if i == 3:
                hidden[0] = dg.tensor(np.float32(3.0), device="worker:1")
            scale = 2.0 if i < 3 else 3.0
            assert _np(compiled(x, y)).tobytes() == _np(eager(x, y * scale)).tobytes()
    stats = compiled.stats()
    assert stats["replayed"] == 0
    # (the array's values are guarded: the call after it changed records again, sees the
    # unseen tensor, and runs eagerly as the others do)
    assert stats["reasons"] == {"recorded again: state": 2, "eager: unseen": 2}, stats


@pytest.mark.parametrize("mode", ["distgrad_dp", "distgrad_pp", "distgrad_pp_zb"])
def test_data_parallel_and_pipelined_steps_replay_bit_for_bit(backend, mode):
    """The bench's DistributedDataParallel and pipeline-schedule steps (their setup is
    the user's code), their loss returned instead of read."""
    from benchmarks.distgrad_parallel import DistgradDP, DistgradPP, DistgradPPZeroBubble
    from benchmarks.model import make_params

    cls = {"distgrad_dp": DistgradDP, "distgrad_pp": DistgradPP,
           "distgrad_pp_zb": DistgradPPZeroBubble}[mode]
    params = make_params(8, 6)
    eager, comp = cls(), cls()
    eager.setup(params)
    comp.setup(params)

    def whole_step(s=comp):
        s.opt.zero_grad()
        loss = s.F.mse_loss(s.model(s.x), s.y)
        loss.backward()
        s.opt.step()
        return loss

    compiled = dg.compile(whole_step if mode == "distgrad_dp" else comp.whole_step)
    try:
        for _ in range(5):
            want = eager.step()
            got = compiled()
            got = got.full_tensor() if got._sharding is not None else got
            assert np.float32(want).tobytes() == _np(got).tobytes()
        assert compiled.stats()["replayed"] == 3, compiled.stats()
    finally:
        eager.teardown()
        comp.teardown()


def _ddp_step():
    from distgrad.nn.parallel import DistributedDataParallel

    dg.manual_seed(0)
    model = DistributedDataParallel(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, _step_fn(model, opt, lambda m, x: m(x))


def _cpu_batches(n, rows=4):
    rng = np.random.default_rng(5)
    return [(dg.tensor(rng.standard_normal((rows, 6)).astype(np.float32)),
             dg.tensor(rng.standard_normal((rows, 3)).astype(np.float32))) for _ in range(n)]


def test_data_parallel_fed_driver_batches_replays_bit_for_bit(backend):
    """DistributedDataParallel splits a driver batch on the driver: a replay splits each
    call's batch again by the same ops and sends the pieces, as the eager call does."""
    (em, eager), (cm, compiled) = _ddp_step(), _ddp_step()
    compiled = dg.compile(compiled)
    for i, (x, y) in enumerate(_cpu_batches(6)):
        assert _np(eager(x, y).full_tensor()).tobytes() == \
            _np(compiled(x, y).full_tensor()).tobytes(), i
        for a, b in zip(em.parameters(), cm.parameters()):
            assert _np(a).tobytes() == _np(b).tobytes(), i
    assert compiled.stats()["replayed"] == 4, compiled.stats()


@pytest.mark.parametrize("kind", ["branch", "data-shaped"])
def test_what_a_step_reads_of_its_driver_arguments_is_never_replayed(backend, kind):
    """A step whose Python reads values computed from its driver argument (to branch on
    them) runs eagerly; one whose driver op's result is shaped by its values (a mask's
    selection) records again for a batch that selects another number of rows."""
    layers, opt = _model()

    def loss_of(x, y):
        if kind == "branch":
            x = x * 2 if x.sum() > 0 else x
        else:
            x = x[x[:, 0] > 0]
            y = y[: x.shape[0]]
        return F.mse_loss(_forward(layers, x.to("worker:0")), y.to("worker:1"))

    def step(x, y):
        loss = loss_of(x, y)
        loss.backward()
        return loss

    compiled = dg.compile(step)
    rng = np.random.default_rng(9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(6):
            x = dg.tensor(rng.standard_normal((4, 6)).astype(np.float32) * (-1) ** i)
            y = dg.tensor(rng.standard_normal((4, 6)).astype(np.float32))
            with dg.no_grad():
                want = loss_of(x, y)
            assert _np(compiled(x, y)).tobytes() == _np(want).tobytes(), i
    stats = compiled.stats()
    assert stats["replayed"] == 0 and stats["reasons"]["eager: read"] >= 1, stats


@pytest.mark.parametrize("kind", ["layer-placed", "sharded"])
def test_nothing_is_left_on_the_workers_once_the_step_and_its_model_are_dropped(backend, kind):
    """Placeholders are let go after each replay (in-process workers too, whose replay comes
    in several messages), and whatever a replay makes again is freed with its holder: the
    recorded call's output holds none of the step's graph."""
    import gc

    gc.collect()
    dist.current().flush_all()
    before = {k: v["tensors"] for k, v in dist.stats().items() if k.startswith("worker")}
    workers = ["worker:0", "worker:1"]
    if kind == "layer-placed":
        layers, opt = _model()
        step = dg.compile(_step_fn(layers, opt))
    else:
        layers = [(ColumnParallelLinear if i % 2 == 0 else RowParallelLinear).from_linear(
            _linear(w, b), workers=workers) for i, (w, b) in enumerate(zip(W, B))]
        opt = optim.SGD([q for m in layers for q in m.parameters()], lr=0.05)
        step = dg.compile(_step_fn(layers, opt))
    batches = _batches(5)
    for x, y in batches:
        if kind == "sharded":
            x, y = dist.replicate(x, workers), dist.replicate(y, workers)
        step(x, y)
    assert step.stats()["replayed"] == 3
    del layers, opt, step, batches, x, y
    gc.collect()
    dist.current().flush_all()
    after = {k: v["tensors"] for k, v in dist.stats().items() if k.startswith("worker")}
    assert after == before


def test_an_op_failing_inside_a_replay_fails_as_it_does_eagerly(backend):
    """A replay whose input makes an op fail (an index out of range) raises the op's error,
    naming it and its worker, where the eager step does: reading the loss, and reading the
    parameter its update poisoned. What does not depend on it is untouched, and the
    runtime goes on."""
    def run(compiled):
        w = dg.tensor(np.arange(12., dtype=np.float32).reshape(4, 3), device="worker:0",
                      requires_grad=True)
        opt = optim.SGD([w], lr=0.1)
        other = dg.ones(3, device="worker:1")

        def step(idx):
            opt.zero_grad()
            loss = (w[idx].to("worker:1") * 2).sum()
            loss.backward()
            opt.step()
            return loss

        step = dg.compile(step) if compiled else step
        losses = [step(dg.tensor([0, 2], device="worker:0")).item() for _ in range(4)]
        loss = step(dg.tensor([0, 99], device="worker:0"))
        errors = []
        for read in (loss.item, lambda: w.detach().cpu()):
            with pytest.raises(IndexError) as e:
                read()
            errors.append(str(e.value))
        return step, losses, errors, other.tolist()

    _, eager_losses, eager_errors, eager_other = run(False)
    step, losses, errors, other = run(True)
    stats = step.stats()
    assert (stats["recorded"], stats["replayed"]) == (2, 3)  # the failing call was a replay
    assert losses == eager_losses
    assert errors == eager_errors
    assert "out of bounds" in errors[0] and "'index' on worker:0" in errors[0]
    assert other == eager_other == [1.0, 1.0, 1.0]
    assert float(dg.ones(2, device="worker:0").sum().item()) == 2.0


def test_a_loss_the_rest_of_the_step_reads_is_not_sent_back_early(backend):
    # After its update the step adds its loss into a running total it keeps: the loss's
    # worker keeps its part in one message (the first would hand the loss over before the
    # rest read it), and the replays match the eager calls.
    def make():
        layers, opt = _model()
        total = dg.zeros((), device="worker:1")

        def step(x, y):
            opt.zero_grad()
            loss = F.mse_loss(_forward(layers, x), y)
            loss.backward()
            opt.step()
            total.add_(loss.detach())
            return loss
        return layers, total, step

    (la, ta, eager), (lb, tb, stepped) = make(), make()
    compiled = dg.compile(stepped)
    for x, y in _batches(5):
        assert _np(compiled(x, y)).tobytes() == _np(eager(x, y)).tobytes()
    assert compiled.stats()["replayed"] == 3
    assert _np(tb).tobytes() == _np(ta).tobytes()
    _same_params(la, lb)
