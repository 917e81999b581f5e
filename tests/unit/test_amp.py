"""torch.autocast and torch.amp.GradScaler as a training script with an --amp switch uses
them for CUDA: on this machine (no CUDA) both turn off with torch's warnings and the loop
gives torch's numbers. (CPU autocast and GradScaler("cpu"): tests/unit/test_cpu_autocast.py.)"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad


def _messages(caught):
    return [(w.category.__name__, str(w.message)) for w in caught]


@pytest.mark.parametrize("spelling", ["off", "amp", "cuda.amp", "decorator"])
def test_training_loop_with_amp_switch(spelling):
    def run(lib):
        m = lib.nn.Linear(2, 1)
        with lib.no_grad():
            m.weight.copy_(lib.tensor([[0.5, -0.25]]))
            m.bias.fill_(0.1)
        opt = lib.optim.SGD(m.parameters(), lr=0.1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if spelling == "off":
                scaler = lib.amp.GradScaler("cuda", enabled=False)
                region = lambda: lib.autocast(device_type="cuda", dtype=lib.float32,  # noqa
                                              enabled=False)
            elif spelling == "amp":
                scaler, region = lib.amp.GradScaler(), lambda: lib.autocast("cuda")
            elif spelling == "cuda.amp":
                scaler, region = lib.cuda.amp.GradScaler(), lambda: lib.cuda.amp.autocast()
            else:
                scaler = lib.amp.GradScaler("cuda", enabled=False)
                region = None
            forward = lib.autocast("cuda", enabled=False)(m) if region is None else None
            out = []
            for _ in range(3):
                opt.zero_grad()
                if region is None:
                    loss = forward(lib.tensor([[1.0, 2.0]])).pow(2).sum()
                else:
                    with region():
                        loss = m(lib.tensor([[1.0, 2.0]])).pow(2).sum()
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                out.append((scaler.step(opt), scaler.update(), loss.item()))
        return (out, str(loss.dtype), scaler.get_scale(), scaler.is_enabled(),
                scaler.state_dict(), lib.is_autocast_enabled(), m.weight.tolist(),
                _messages(caught))

    ours, theirs = run(distgrad), run(torch)
    np.testing.assert_allclose([o[2] for o in ours[0]], [t[2] for t in theirs[0]], rtol=1e-6)
    np.testing.assert_allclose(ours[6], theirs[6], rtol=1e-6)
    assert [o[:2] for o in ours[0]] == [t[:2] for t in theirs[0]]
    assert ours[1:6] == theirs[1:6] and ours[7] == theirs[7]


def test_cpu_autocast_to_an_unsupported_dtype_turns_off():
    got = []
    for lib in (distgrad, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with lib.autocast("cpu", dtype=lib.float64):
                y = lib.ones(2, 2) @ lib.ones(2, 2)
        got.append((str(y.dtype), _messages(caught)))
    assert got[0] == got[1]


def test_device_type_must_be_a_string():
    for lib in (distgrad, torch):
        with pytest.raises(ValueError, match="Expected `device_type` of type `str`"):
            lib.autocast(3)
