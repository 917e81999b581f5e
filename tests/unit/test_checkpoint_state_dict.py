"""distgrad.distributed.checkpoint's state_dict helpers and Stateful values against torch's:
a model's and its optimizers' state keyed by parameter names, and the distributed
checkpoint tutorial's AppState saved and loaded through them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed.checkpoint.state_dict as tsd

import distgrad as dg
import distgrad.distributed.checkpoint as dcp
import distgrad.distributed.checkpoint.state_dict as dsd
from distgrad.distributed.checkpoint.stateful import Stateful

RNG = np.random.default_rng(5)
X = RNG.standard_normal((4, 3)).astype(np.float32)


def _model(lib, frozen_bias: bool = True):
    """Linear(3, 2) ReLU Linear(2, 1) with numpy's weights; the last bias frozen."""
    rng = np.random.default_rng(1)
    m = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.ReLU(), lib.nn.Linear(2, 1))
    with lib.no_grad():
        for p in m.parameters():
            p.copy_(lib.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    if frozen_bias:
        m[2].bias.requires_grad_(False)
    return m


def _step(lib, m, opt) -> None:
    opt.zero_grad()
    m(lib.from_numpy(X)).square().sum().backward()
    opt.step()


def _plain(value):
    """Tensors as arrays, through dicts, lists and tuples."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.detach().numpy() if hasattr(value, "detach") else value


def _same(got, want) -> None:
    got, want = _plain(got), _plain(want)
    if isinstance(want, dict):
        assert list(got) == list(want)
        for k in want:
            _same(got[k], want[k])
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
    elif isinstance(want, np.ndarray):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    else:
        assert got == want


@pytest.mark.parametrize("options", [None, {"flatten_optimizer_state_dict": True},
                                     {"ignore_frozen_params": True}])
def test_state_dicts_keyed_by_names_as_torchs(options):
    # a fresh Adam is given its state first (zero gradients, zero lr: the parameters
    # stay); then after two steps the same names, settings and state as torch's
    results = {}
    for lib, sd in ((torch, tsd), (dg, dsd)):
        m = _model(lib)
        opt = lib.optim.Adam(m.parameters(), lr=0.1)
        opts = sd.StateDictOptions(**options) if options else None
        fresh = sd.get_state_dict(m, opt, options=opts)
        grads = [p.grad for p in m.parameters()]
        for _ in range(2):
            _step(lib, m, opt)
        results[lib] = fresh, grads, sd.get_state_dict(m, opt, options=opts)
    _same(results[dg][0], results[torch][0])
    assert results[dg][1] == results[torch][1] == [None] * 4
    _same(results[dg][2], results[torch][2])


def test_set_state_dict_loads_by_name_whatever_the_parameters_order():
    # the optimizer of the model loaded into was given its parameters in another order:
    # by name, each parameter gets its own state; the next step is the original's
    results = {}
    for lib, sd in ((torch, tsd), (dg, dsd)):
        m = _model(lib, frozen_bias=False)
        opt = lib.optim.Adam([{"params": [m[0].weight, m[0].bias], "lr": 0.1},
                              {"params": [m[2].weight, m[2].bias], "lr": 0.05}])
        _step(lib, m, opt)
        model_sd, optim_sd = sd.get_state_dict(m, opt)
        other = _model(lib, frozen_bias=False)
        other_opt = lib.optim.Adam([{"params": [other[2].bias, other[2].weight], "lr": 1.0},
                                    {"params": [other[0].bias, other[0].weight], "lr": 1.0}])
        keys = sd.set_state_dict(other, other_opt, model_state_dict=model_sd,
                                 optim_state_dict=optim_sd)
        _step(lib, other, other_opt)
        results[lib] = (tuple(keys), [g["lr"] for g in other_opt.param_groups],
                        [p.detach().numpy().copy() for p in other.parameters()])
    assert results[dg][:2] == results[torch][:2] == (([], []), [0.05, 0.1])
    for got, want in zip(results[dg][2], results[torch][2]):
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_compiled_models_names_lose_orig_mod():
    m = _model(dg)
    compiled = dg.compile(m)
    assert list(compiled.state_dict())[0] == "_orig_mod.0.weight"
    assert list(dsd.get_model_state_dict(compiled)) == list(tsd.get_model_state_dict(
        torch.compile(_model(torch))))
    fresh = dg.compile(_model(dg, frozen_bias=False))
    with dg.no_grad():
        for p in fresh.parameters():
            p.zero_()
    dsd.set_model_state_dict(fresh, dsd.get_model_state_dict(compiled))
    for a, b in zip(fresh.parameters(), m.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


class _AppState(Stateful):
    """The distributed checkpoint tutorial's: the model and optimizer by get_state_dict."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer

    def state_dict(self):
        model_sd, optim_sd = dsd.get_state_dict(self.model, self.optimizer)
        return {"model": model_sd, "optim": optim_sd}

    def load_state_dict(self, state_dict):
        dsd.set_state_dict(self.model, self.optimizer, model_state_dict=state_dict["model"],
                           optim_state_dict=state_dict["optim"])


@pytest.mark.parametrize("by", ["checkpoint_id", "storage"])
def test_the_tutorials_app_state_saved_and_loaded(tmp_path, by):
    # dcp.save calls a Stateful value's state_dict(); dcp.load fills one in place and hands
    # it to its load_state_dict(); other values are replaced: the loaded model and Adam
    # take the same next step as the saved ones
    m = _model(dg)
    opt = dg.optim.Adam(m.parameters(), lr=0.1)
    _step(dg, m, opt)
    where = ({"checkpoint_id": str(tmp_path)} if by == "checkpoint_id" else
             {"storage_writer": dcp.FileSystemWriter(str(tmp_path))})
    dcp.save({"app": _AppState(m, opt), "epoch": 3}, **where)
    other = _model(dg)
    other_opt = dg.optim.Adam(other.parameters(), lr=0.5)
    state = {"app": _AppState(other, other_opt), "epoch": 0}
    where = ({"checkpoint_id": str(tmp_path)} if by == "checkpoint_id" else
             {"storage_reader": dcp.FileSystemReader(str(tmp_path))})
    dcp.load(state, **where)
    assert state["epoch"] == 3 and isinstance(state["app"], _AppState)
    assert other_opt.param_groups[0]["lr"] == 0.1
    _step(dg, m, opt)
    _step(dg, other, other_opt)
    for a, b in zip(other.parameters(), m.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_modules_and_optimizers_are_stateful_and_a_directory_is_needed(tmp_path):
    import torch.distributed.checkpoint as tdcp

    m = _model(dg)
    assert isinstance(m, Stateful) and isinstance(dg.optim.SGD(m.parameters(), 0.1), Stateful)
    dcp.save({"model": m}, checkpoint_id=str(tmp_path))
    other = _model(dg, frozen_bias=False)
    with dg.no_grad():
        other[0].weight.zero_()
    dcp.load({"model": other}, checkpoint_id=str(tmp_path))
    np.testing.assert_array_equal(other[0].weight.detach().numpy(),
                                  m[0].weight.detach().numpy())
    with pytest.raises(RuntimeError) as want:
        tdcp.save({"x": torch.ones(1)})
    with pytest.raises(RuntimeError) as got:
        dcp.save({"x": dg.ones(1)})
    assert str(got.value) == str(want.value)
