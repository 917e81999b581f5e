"""distgrad.optim.lr_scheduler against torch's: the same schedule on the same optimizer gives
the same lrs at every step (exactly: both compute them with Python floats in one order),
the same momentum or beta1 where a schedule cycles it, and the same after a state dict
round trip; constructor errors as torch's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad

STEPS = 30


def _optimizer(lib, kind="SGD"):
    """Two param groups (two lrs), so that per-group values are exercised."""
    a, b = (lib.zeros(2, requires_grad=True) for _ in range(2))
    groups = [{"params": [a]}, {"params": [b], "lr": 0.05}]
    if kind == "Adam":
        return lib.optim.Adam(groups, lr=0.1)
    return lib.optim.SGD(groups, lr=0.1, momentum=0.9)


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


SCHEDULES = [
    ("SGD", "StepLR", lambda s, lib: s.StepLR(lib, step_size=4, gamma=0.5)),
    ("SGD", "MultiStepLR", lambda s, o: s.MultiStepLR(o, milestones=[3, 7, 7, 20], gamma=0.3)),
    ("SGD", "ExponentialLR", lambda s, o: s.ExponentialLR(o, gamma=0.9)),
    ("SGD", "ConstantLR", lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=6)),
    ("SGD", "LinearLR", lambda s, o: s.LinearLR(o, start_factor=0.1, end_factor=0.8,
                                                total_iters=12)),
    ("SGD", "PolynomialLR", lambda s, o: s.PolynomialLR(o, total_iters=20, power=2.0)),
    ("SGD", "PolynomialLR", lambda s, o: s.PolynomialLR(o)),
    ("SGD", "MultiplicativeLR", lambda s, o: s.MultiplicativeLR(
        o, lr_lambda=[lambda e: 0.95, lambda e: 1.0 - 0.01 * e])),
    ("SGD", "CosineAnnealingWarmRestarts", lambda s, o: s.CosineAnnealingWarmRestarts(
        o, T_0=5, eta_min=0.001)),
    ("SGD", "CosineAnnealingWarmRestarts", lambda s, o: s.CosineAnnealingWarmRestarts(
        o, T_0=3, T_mult=2)),
    ("SGD", "OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=STEPS)),
    ("SGD", "OneCycleLR", lambda s, o: s.OneCycleLR(
        o, max_lr=0.3, epochs=6, steps_per_epoch=5, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0)),
    ("Adam", "OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=0.01, total_steps=STEPS + 1,
                                                     base_momentum=0.8, max_momentum=0.9)),
    ("SGD", "OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=0.2, total_steps=STEPS,
                                                    cycle_momentum=False)),
    ("SGD", "CyclicLR", lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("SGD", "CyclicLR", lambda s, o: s.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=[0.1, 0.3],
                                                step_size_up=3, step_size_down=5,
                                                mode="triangular2")),
    ("Adam", "CyclicLR", lambda s, o: s.CyclicLR(o, base_lr=0.001, max_lr=0.01, step_size_up=5,
                                                 mode="exp_range", gamma=0.95,
                                                 base_momentum=0.85, max_momentum=0.95)),
    ("SGD", "CyclicLR", lambda s, o: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=2,
                                                scale_fn=lambda x: 0.9 ** x,
                                                scale_mode="iterations", cycle_momentum=False)),
    ("SGD", "SequentialLR", lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.1, total_iters=5), s.ExponentialLR(o, gamma=0.9),
            s.StepLR(o, step_size=3, gamma=0.5)], milestones=[5, 15])),
    ("SGD", "SequentialLR", lambda s, o: s.SequentialLR(
        o, [s.ConstantLR(o, factor=0.5, total_iters=4), s.CosineAnnealingLR(o, T_max=10)],
        milestones=[8])),
    ("SGD", "ChainedScheduler", lambda s, o: s.ChainedScheduler(
        [s.ConstantLR(o, factor=0.2, total_iters=4), s.ExponentialLR(o, gamma=0.95)])),
    ("SGD", "ChainedScheduler", lambda s, o: s.ChainedScheduler(
        [s.MultiStepLR(o, milestones=[5, 10]), s.LinearLR(o, start_factor=0.5, total_iters=8)],
        optimizer=o)),
]


def _run(lib, kind, build, steps=STEPS):
    """get_last_lr() and the momenta after the constructor and after each step."""
    opt = _optimizer(lib, kind)
    sched = build(lib.optim.lr_scheduler, opt)
    seen = [(sched.get_last_lr(), _momenta(opt))]
    for _ in range(steps):
        opt.step()
        sched.step()
        seen.append((sched.get_last_lr(), _momenta(opt)))
    return seen, opt, sched


@pytest.mark.parametrize("kind,name,build", SCHEDULES,
                         ids=[f"{n}-{i}" for i, (_, n, _) in enumerate(SCHEDULES)])
def test_lrs_match_torch(kind, name, build):
    expected, topt, _ = _run(torch, kind, build)
    got, dopt, sched = _run(distgrad, kind, build)
    assert type(sched).__name__ == name
    assert len({tuple(lrs) for lrs, _ in expected}) > 1  # the schedule moves
    assert got == expected
    assert dopt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]


@pytest.mark.parametrize("kind,name,build", SCHEDULES,
                         ids=[f"{n}-{i}" for i, (_, n, _) in enumerate(SCHEDULES)])
def test_state_dict_keys_and_get_lr_warning_match_torch(kind, name, build):
    """The state dict has torch's keys (its within-step flag too); get_lr() called from
    outside step() warns as torch's does, once per schedule it asks."""
    import warnings

    seen = []
    for lib in (torch, distgrad):
        _, _, sched = _run(lib, kind, build, steps=3)
        state = sched.state_dict()
        inner = state.get("_schedulers") or []
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            if name not in ("SequentialLR", "ChainedScheduler"):  # (no get_lr of their own)
                sched.get_lr()
        seen.append((sorted(state), [sorted(s) for s in inner],
                     [(w.category.__name__, str(w.message)) for w in ws]))
    assert seen[1] == seen[0]


PLATEAU = [
    dict(patience=5),  # torch's defaults otherwise
    dict(mode="max", factor=0.5, patience=2, threshold=0.05, cooldown=2, min_lr=0.01),
    dict(factor=0.3, patience=1, threshold=0.1, threshold_mode="abs", min_lr=[0.02, 0.0],
         eps=1e-3),
    dict(mode="max", patience=0, threshold_mode="abs", threshold=0.0),
]
METRICS = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.8, 0.85, 0.84, 0.86, 0.87, 0.88, 0.89, 0.79,
           0.795, 0.9, 1.0, 1.1, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.6]


@pytest.mark.parametrize("kw", PLATEAU)
def test_reduce_lr_on_plateau_matches_torch(kw):
    seen = []
    for lib in (torch, distgrad):
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
        lrs = [sched.get_last_lr()]
        for i, m in enumerate(METRICS):
            opt.step()
            sched.step(lib.tensor(m) if i % 2 else m)  # a 0-dim tensor or a number
            lrs.append(sched.get_last_lr())
        state = {k: v for k, v in sched.state_dict().items()}
        seen.append((lrs, state))
    assert seen[1][0] == seen[0][0]
    assert len({tuple(x) for x in seen[0][0]}) > 1
    assert seen[1][1] == seen[0][1]


ROUND_TRIPS = [SCHEDULES[1], SCHEDULES[9], SCHEDULES[10], SCHEDULES[16], SCHEDULES[18],
               SCHEDULES[21]]


@pytest.mark.parametrize("kind,name,build", ROUND_TRIPS,
                         ids=[f"{n}-{i}" for i, (_, n, _) in enumerate(ROUND_TRIPS)])
def test_state_dict_round_trip(kind, name, build):
    """Twelve steps, the optimizer's and the schedule's state dicts loaded into new ones, the
    rest of the run: its lrs as torch's, and as those of the run without a break."""
    runs = []
    for lib in (torch, distgrad):
        _, opt, sched = _run(lib, kind, build, steps=12)
        opt2 = _optimizer(lib, kind)
        sched2 = build(lib.optim.lr_scheduler, opt2)
        opt2.load_state_dict(opt.state_dict())
        sched2.load_state_dict(sched.state_dict())
        assert sched2.get_last_lr() == sched.get_last_lr()
        lrs = []
        for _ in range(STEPS - 12):
            opt2.step()
            sched2.step()
            lrs.append((sched2.get_last_lr(), _momenta(opt2)))
        runs.append(lrs)
    whole, _, _ = _run(distgrad, kind, build)
    assert runs[1] == runs[0] == whole[13:]


def test_plateau_state_dict_round_trip():
    for lib in (torch, distgrad):
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, cooldown=1)
        for m in METRICS[:10]:
            sched.step(m)
        sched2 = lib.optim.lr_scheduler.ReduceLROnPlateau(_optimizer(lib), mode="max")
        sched2.load_state_dict(sched.state_dict())
        assert sched2.mode == "min" and sched2.mode_worse == float("inf")
        assert sched2.best == sched.best and sched2.num_bad_epochs == sched.num_bad_epochs


@pytest.mark.parametrize("kind,name,build", SCHEDULES,
                         ids=[f"{n}-{i}" for i, (_, n, _) in enumerate(SCHEDULES)])
def test_an_lr_given_as_a_tensor_is_written_in_place(kind, name, build):
    """torch's schedules fill a tensor lr in place (the optimizer's tensor is the group's
    still) and keep clones of it as the lrs they report."""
    def run(lib):
        a, b = (lib.zeros(2, requires_grad=True) for _ in range(2))
        groups = [{"params": [a]}, {"params": [b], "lr": lib.tensor(0.05)}]
        opt = (lib.optim.Adam(groups, lr=lib.tensor(0.1)) if kind == "Adam"
               else lib.optim.SGD(groups, lr=lib.tensor(0.1), momentum=0.9))
        held = [g["lr"] for g in opt.param_groups]
        sched = build(lib.optim.lr_scheduler, opt)
        seen = []
        for _ in range(6):
            opt.step()
            sched.step()
            last = sched.get_last_lr()
            seen.append(([float(lr) for lr in last], [type(lr).__name__ for lr in last],
                         [g["lr"] is h for g, h in zip(opt.param_groups, held)],
                         any(lr is h for lr in last for h in held)))
        return seen

    got, expected = run(distgrad), run(torch)
    assert [s[1:] for s in got] == [s[1:] for s in expected]
    np.testing.assert_allclose([s[0] for s in got], [s[0] for s in expected], rtol=1e-6)


@pytest.mark.parametrize("build", [
    lambda s, o: s.StepLR(o, 2, last_epoch=3),  # (resuming with no initial_lr in the groups)
    lambda s, o: s.ConstantLR(o, factor=1.5),
    lambda s, o: s.MultiplicativeLR(o, lr_lambda=0.5),
    lambda s, o: s.MultiplicativeLR(o, lr_lambda=[lambda e: 1.0]),
    lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=0),
    lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0),
    lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0"),
    lambda s, o: s.OneCycleLR(o, max_lr=0.1),
    lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=0),
    lambda s, o: s.OneCycleLR(o, max_lr=0.1, epochs=0, steps_per_epoch=2),
    lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1),
    lambda s, o: s.OneCycleLR(o, max_lr=0.1, total_steps=5, anneal_strategy="exp"),
    lambda s, o: s.OneCycleLR(o, max_lr=[0.1], total_steps=5),
    lambda s, o: s.CyclicLR(o, base_lr=0.1, max_lr=1.0, mode="square"),
    lambda s, o: s.ReduceLROnPlateau(o, factor=1.0),
    lambda s, o: s.ReduceLROnPlateau(o, mode="middle"),
    lambda s, o: s.ReduceLROnPlateau(o, threshold_mode="pct"),
    lambda s, o: s.ReduceLROnPlateau(o, min_lr=[0.1]),
    lambda s, o: s.SequentialLR(o, [], milestones=[]),
    lambda s, o: s.SequentialLR(o, [s.StepLR(o, 2), s.StepLR(o, 3)], milestones=[]),
    lambda s, o: s.SequentialLR(o, [s.StepLR(o, 2), s.ReduceLROnPlateau(o)], milestones=[3]),
    lambda s, o: s.ChainedScheduler([]),
    lambda s, o: s.ChainedScheduler([s.StepLR(o, 2), 3]),
])
def test_errors_match_torch(build):
    seen = []
    for lib in (torch, distgrad):
        opt = _optimizer(lib)
        with pytest.raises(Exception) as info:
            build(lib.optim.lr_scheduler, opt)
        seen.append((type(info.value).__name__, str(info.value)))
    assert seen[1] == seen[0]


def test_cycle_momentum_needs_momentum():
    seen = []
    for lib in (torch, distgrad):
        opt = lib.optim.Rprop([lib.zeros(2, requires_grad=True)])
        with pytest.raises(ValueError) as info:
            lib.optim.lr_scheduler.CyclicLR(opt, base_lr=0.01, max_lr=0.1)
        seen.append(str(info.value))
    assert seen[1] == seen[0]


def test_one_cycle_past_its_steps():
    seen = []
    for lib in (torch, distgrad):
        opt = _optimizer(lib)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
        for _ in range(3):
            opt.step()
            sched.step() if _ < 2 else None
        with pytest.raises(ValueError) as info:
            sched.step()
            sched.step()
        seen.append(str(info.value))
    assert seen[1] == seen[0]


def test_a_scheduler_written_on_the_old_base_class():
    # class WarmupInvSqrt(torch.optim.lr_scheduler._LRScheduler), as older code writes it
    def run(lib):
        class WarmupInvSqrt(lib.optim.lr_scheduler._LRScheduler):
            def __init__(self, optimizer, warmup, last_epoch=-1):
                self.warmup = warmup
                super().__init__(optimizer, last_epoch)

            def get_lr(self):
                s = max(1, self.last_epoch)
                return [base * min(s ** -0.5, s * self.warmup ** -1.5) for base in self.base_lrs]

        opt = _optimizer(lib)
        sched = WarmupInvSqrt(opt, 3)
        lrs = []
        for _ in range(6):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr())
        return lrs, sched.state_dict(), type(sched).__mro__[1].__name__

    assert run(distgrad) == run(torch)


def test_step_order_warnings_as_torch():
    # scheduler.step() before optimizer.step() warns; so (in other words) does a first
    # scheduler.step() after optimizer.step was replaced since the scheduler was made
    import warnings

    def run(lib):
        seen = []
        for replace, step_first in [(False, False), (False, True), (True, True)]:
            opt = _optimizer(lib)
            sched = lib.optim.lr_scheduler.StepLR(opt, step_size=1)
            if replace:
                opt.step = lambda closure=None: None
            if step_first:
                opt.step()
            with warnings.catch_warnings(record=True) as warned:
                warnings.simplefilter("always")
                sched.step()
                sched.step()
            seen.append([str(w.message) for w in warned])
        return seen

    assert run(distgrad) == run(torch)
