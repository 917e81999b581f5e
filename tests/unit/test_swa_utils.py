"""torch.optim.swa_utils against torch: AveragedModel as SWA and as EMA (multi_avg_fn,
avg_fn, use_buffers) over a few training steps, update_bn, and the SWALR schedule."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad


def _model(lib):
    m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.ReLU(),
                          lib.nn.Linear(4, 1))
    with lib.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(lib.linspace(-1, 1, p.numel()).reshape(p.shape) * (i + 1) / 4)
    return m


X = np.linspace(-2, 2, 24, dtype=np.float32).reshape(8, 3)


@pytest.mark.parametrize("kind", ["swa", "swa_buffers", "ema_multi", "ema_fn", "ema_buffers"])
def test_averaged_model_over_training(kind):
    def run(lib):
        su = lib.optim.swa_utils
        m = _model(lib)
        kw = {"swa": {}, "swa_buffers": {"use_buffers": True}, "ema_multi": {"multi_avg_fn": su.get_ema_multi_avg_fn(0.9)},
              "ema_fn": {"avg_fn": su.get_ema_avg_fn(0.8)},
              "ema_buffers": {"multi_avg_fn": su.get_ema_multi_avg_fn(0.7),
                              "use_buffers": True}}[kind]
        avg = su.AveragedModel(m, **kw)
        opt = lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        x = lib.tensor(X)
        for _ in range(4):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
            opt.step()
            avg.update_parameters(m)
        avg.eval()
        out = [avg(x)] + [t for t in avg.state_dict().values()]
        if kind == "swa":
            su.update_bn([(x[:4], 0), (x[4:], 1)], avg)
            out += [avg.module[1].running_mean, avg.module[1].running_var, avg.training]
        return list(avg.state_dict()), [np.asarray(t.detach().numpy(), np.float64)
                                        if hasattr(t, "numpy") else t for t in out]

    (keys, ours), (tkeys, theirs) = run(distgrad), run(torch)
    assert keys == tkeys
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_swalr_schedule_and_state():
    def run(lib):
        p = lib.nn.Parameter(lib.ones(1))
        opt = lib.optim.SGD([{"params": [p]}, {"params": [], "lr": 0.5}], lr=1.0)
        sched = lib.optim.swa_utils.SWALR(opt, swa_lr=[0.05, 0.1], anneal_epochs=3,
                                          anneal_strategy="linear")
        lrs = []
        for _ in range(5):
            opt.step()
            sched.step()
            lrs.append(sched.get_last_lr())
        state = {k: v for k, v in sched.state_dict().items() if k != "_last_lr"}
        errors = []
        for kw in ({"anneal_strategy": "exp"}, {"anneal_epochs": -1}):
            try:
                lib.optim.swa_utils.SWALR(opt, 0.1, **kw)
            except ValueError as e:
                errors.append(str(e))
        return lrs, sorted(state), errors

    ours, theirs = run(distgrad), run(torch)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    assert ours[1:] == theirs[1:]


def test_decay_out_of_range():
    for lib in (distgrad, torch):
        with pytest.raises(ValueError, match=r"Invalid decay value 1.5 provided"):
            lib.optim.swa_utils.get_ema_multi_avg_fn(1.5)


def test_swa_of_integer_buffers_with_a_counted_tensor():
    """The default SWA averages integral buffers one at a time (truncated, as torch on the
    CPU); get_swa_multi_avg_fn divides them with addcdiv, which torch refuses for integers."""
    for lib in (distgrad, torch):
        su = lib.optim.swa_utils
        m = lib.nn.BatchNorm1d(2)
        avg = su.AveragedModel(m, use_buffers=True)
        for _ in range(3):
            m(lib.ones(4, 2))
            avg.update_parameters(m)
        assert avg.module.num_batches_tracked.item() == 1  # 1, then 1 + 1/2, then 1 + 2/3
        with pytest.raises(RuntimeError, match=r"Integer division with addcdiv"):
            su.get_swa_multi_avg_fn()([lib.tensor(1)], [lib.tensor(2)], lib.tensor(1))
