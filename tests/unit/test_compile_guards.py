"""distgrad.compile's recording as the step's code sees it and what its replays leave: an lr
scheduler the step steps is of its own class while the step records, and its steps, run
after each replay (a collection of the step's garbage during them too), leave the lrs and
counts the eager step leaves; a numpy array (a bytearray, an array.array) the step reads,
written in place between calls, is read again; and stats() counts each call once, as what happened to it."""
from __future__ import annotations

import array
import gc
import warnings

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn.functional as F
from distgrad.optim.lr_scheduler import StepLR


@pytest.fixture
def runtime():
    if dist.is_initialized():
        dist.shutdown()
    dist.init(num_workers=2, backend="local")
    yield
    dist.shutdown()


def _training(steps_per_lr=2):
    dg.manual_seed(0)
    model = dg.nn.Linear(3, 2).to("worker:0")
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    return model, opt, StepLR(opt, step_size=steps_per_lr, gamma=0.5)


def _batch(k):
    return dg.full((4, 3), float(k)).to("worker:0"), dg.zeros(4, 2).to("worker:0")


def _stepping(model, opt, sched, look=lambda: None):
    """A training step that steps `sched` after the update (and calls `look` first)."""
    def step(x, y):
        look()
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sched.step()
        return loss
    return step


def test_a_scheduler_is_of_its_own_class_while_a_step_that_steps_it_records(runtime):
    model, opt, sched = _training()
    seen = {}

    def look():
        seen["class"] = (type(sched) is StepLR, sched.__class__ is StepLR,
                         type(sched).__name__, isinstance(sched, StepLR))

    step = dg.compile(_stepping(model, opt, sched, look))
    before = dict(vars(StepLR))
    step(*_batch(1))
    assert step.stats()["recorded"] == 1
    assert seen["class"] == (True, True, "StepLR", True)
    assert type(sched) is StepLR and dict(vars(StepLR)) == before  # (as it was after it)


def test_scheduler_steps_after_replays_leave_what_the_eager_steps_leave(runtime):
    def run(compiled):
        model, opt, sched = _training(steps_per_lr=4)
        step = _stepping(model, opt, sched)
        step = dg.compile(step) if compiled else step
        losses = [step(*_batch(k)).item() for k in range(8)]
        return losses, sched.last_epoch, sched.get_last_lr(), model.weight.sum().item(), step

    *eager, _ = run(False)
    *replayed, step = run(True)
    assert replayed == eager
    assert step.stats()["replayed"] >= 2


def test_a_scheduler_the_step_reads_is_not_stepped_around_a_replay(runtime):
    def run(compiled):
        model, opt, sched = _training(steps_per_lr=100)
        base = _stepping(model, opt, sched)

        def step(x, y):
            return base(x * 2 if sched.last_epoch % 2 else x, y)

        step = dg.compile(step) if compiled else step
        losses = [step(*_batch(k)).item() for k in range(5)]
        return losses, sched.last_epoch, sched.get_last_lr(), model.weight.sum().item(), step

    *eager, _ = run(False)
    *recorded, step = run(True)
    assert recorded == eager
    assert step.stats()["replayed"] == 0, step.stats()


class _CollectingLR(StepLR):
    """A StepLR during whose step a garbage collection runs (as an automatic one may)."""

    def step(self, *args, **kwargs):
        gc.collect()
        super().step(*args, **kwargs)


def test_scheduler_steps_during_which_garbage_is_freed_are_run_after_replays(runtime):
    def run(compiled):
        dg.manual_seed(0)
        model = dg.nn.Linear(3, 2).to("worker:0")
        opt = dg.optim.SGD(model.parameters(), lr=0.1)
        sched = _CollectingLR(opt, step_size=4, gamma=0.5)

        def step(x, y):
            opt.zero_grad()
            loss = F.mse_loss(model(x), y)
            loss.backward()
            opt.step()
            cycle = [loss * 2]
            cycle.append(cycle)  # (freed only by a collection: here, the scheduler's)
            del cycle
            sched.step()
            return loss

        step = dg.compile(step) if compiled else step
        losses = [step(*_batch(k)).item() for k in range(8)]
        return losses, sched.last_epoch, sched.get_last_lr(), model.weight.sum().item(), step

    *eager, _ = run(False)
    *replayed, step = run(True)
    assert replayed == eager
    assert step.stats()["replayed"] >= 2, step.stats()


def test_calls_past_the_recording_limit_count_as_eager_only(runtime):
    model = dg.nn.Linear(3, 2).to("worker:0")
    opt = dg.optim.SGD(model.parameters(), lr=0.1)
    seen = {"calls": 0}

    @dg.compile
    def step(x, y):
        seen["calls"] += 1  # (a number in its state that each call changes)
        opt.zero_grad()
        loss = F.mse_loss(model(x) * seen["calls"], y)
        loss.backward()
        opt.step()
        return loss.detach()

    x, y = dg.ones(4, 3).to("worker:0"), dg.zeros(4, 2).to("worker:0")
    calls = step.MAX_RECORDINGS + 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(calls):
            step(x, y)
    stats = step.stats()
    assert (stats["recorded"], stats["replayed"], stats["eager"]) == (
        step.MAX_RECORDINGS, 0, 3), stats
    assert stats["reasons"] == {"recorded again: state": step.MAX_RECORDINGS - 1,
                                "eager: limit": 3}, stats
    assert seen["calls"] == calls


@pytest.mark.parametrize("make", [lambda: np.ones(1), lambda: bytearray([1]),
                                  lambda: array.array("d", [1.0])],
                         ids=["numpy", "bytearray", "array"])
def test_values_the_step_reads_written_in_place_are_read_again(runtime, make):
    def run(compiled):
        model, opt, _ = _training()
        scale = make()

        def step(x, y):
            opt.zero_grad()
            loss = F.mse_loss(model(x) * float(scale[0]), y)
            loss.backward()
            opt.step()
            return loss.detach()

        step = dg.compile(step) if compiled else step
        losses = []
        for k in range(6):
            scale[0] = 1 + (k >= 3)  # (the same array, new values)
            losses.append(step(*_batch(k)).item())
        return losses, model.weight.sum().item(), step

    *eager, _ = run(False)
    *compiled, step = run(True)
    assert compiled == eager
    assert step.stats()["replayed"] >= 2, step.stats()
