"""state_dict / load_state_dict of tensor-parallel modules and of their optimizers: values
bit for bit, each loaded value placed as the tensor it goes into (no gather fallback),
through memory and through distgrad.save / distgrad.load, on both backends."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear
from distgrad.distributed.sharding import is_sharded


def _value(t) -> np.ndarray:
    t = t.detach()
    return (t.full_tensor() if is_sharded(t) else t).cpu().numpy()


def _layout(t):
    return (t._sharding.placement, t._sharding.workers) if is_sharded(t) else t.device


def _block(workers, seed):
    dg.manual_seed(seed)
    return dg.nn.Sequential(ColumnParallelLinear(6, 8, workers=workers), dg.nn.ReLU(),
                            RowParallelLinear(8, 3, workers=workers))


def _through_file(obj, **kw):
    f = io.BytesIO()
    dg.save(obj, f)
    f.seek(0)
    return dg.load(f, **kw)


@pytest.fixture
def three(backend_name, switch_runtime):
    switch_runtime(backend_name, 3)
    return backend_name


@pytest.mark.parametrize("route", ["memory", "file", "file to cpu"])
@pytest.mark.parametrize("assign", [False, True])
def test_parallel_block_loads_into_any_layout(three, route, assign):
    """Copied, each value is placed as the entry it goes into; assigned, the entry is the
    value, where it is (torch's assign sets the loaded tensor itself)."""
    src = _block(["worker:0", "worker:1"], 0)
    state = src.state_dict()
    if route == "file":
        state = _through_file(state)
    elif route == "file to cpu":
        state = _through_file(state, map_location="cpu")
    for workers in (["worker:0", "worker:1"], ["worker:2", "worker:0"], None):
        dst = _block(workers, 1)
        layouts = {k: _layout(v) for k, v in dst.state_dict().items()}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no op falls back to a gather
            dst.load_state_dict(state, assign=assign)
        for k, v in dst.state_dict().items():
            assert _value(v).tobytes() == _value(src.state_dict()[k]).tobytes(), k
            assert _layout(v) == (_layout(state[k]) if assign else layouts[k]), k


def test_plain_module_loads_a_sharded_state_dict(backend):
    src = _block(None, 0)
    dst = dg.nn.Sequential(dg.nn.Linear(6, 8), dg.nn.ReLU(), dg.nn.Linear(8, 3)).to("worker:1")
    dst.load_state_dict(src.state_dict())
    for k, v in dst.state_dict().items():
        assert v.device == dg.device("worker:1") and _value(v).tobytes() == \
            _value(src.state_dict()[k]).tobytes()


@pytest.mark.parametrize("make_opt", [lambda p: dg.optim.Adam(p, lr=0.01),
                                      lambda p: dg.optim.SGD(p, lr=0.01, momentum=0.9)],
                         ids=["adam", "sgd"])
@pytest.mark.parametrize("to_cpu", [False, True], ids=["as saved", "to cpu"])
def test_optimizer_state_takes_its_parameters_placement(three, make_opt, to_cpu):
    x = dg.tensor(np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32))

    def train(model, opt):
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()

    src = _block(["worker:0", "worker:1"], 0)
    opt = make_opt(src.parameters())
    train(src, opt)
    snapshot = {"model": src.state_dict(), "optim": opt.state_dict()}

    def saved():  # read afresh for each optimizer: as torch's, one steps the tensors it loaded
        return _through_file(snapshot, map_location="cpu" if to_cpu else None)

    expected = [{k: _value(v).tobytes() for k, v in opt.state[p].items()}
                for p in src.parameters()]
    for workers in (None, ["worker:0", "worker:1"]):
        dst = _block(workers, 1)
        opt2 = make_opt(dst.parameters())
        dst.load_state_dict(saved()["model"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no gather fallback, now or at the next step
            opt2.load_state_dict(saved()["optim"])
            train(dst, opt2)
        for p2, state in zip(dst.parameters(), expected):
            assert set(opt2.state[p2]) == set(state)
            for k, v2 in opt2.state[p2].items():
                if k != "step":
                    assert _layout(v2) == _layout(p2), k
        if workers is None:
            continue
        # the same layout resumes bit for bit
        dst = _block(workers, 1)
        opt2 = make_opt(dst.parameters())
        dst.load_state_dict(saved()["model"])
        opt2.load_state_dict(saved()["optim"])
        for p2, state in zip(dst.parameters(), expected):
            for k, v2 in opt2.state[p2].items():
                assert _value(v2).tobytes() == state[k], k
        for _ in range(2):
            train(src, opt)
            train(dst, opt2)
        for p, p2 in zip(src.parameters(), dst.parameters()):
            assert _value(p2).tobytes() == _value(p).tobytes()
