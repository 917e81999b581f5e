"""distgrad.save / distgrad.load in the driver, against torch.save / torch.load on the same
objects: values bit for bit, dtypes, requires_grad, containers, memory shared between a
base and its views; the file is safetensors + JSON, readable without distgrad."""
from __future__ import annotations

import io
import json
import math
import pickletools
from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors import safe_open

import distgrad
from torch_twin import same


def _roundtrip(mod, obj, **kw):
    f = io.BytesIO()
    mod.save(obj, f)
    f.seek(0)
    return mod.load(f, **kw)


def _bits(t):
    return np.asarray(t.detach().numpy()).tobytes()


def test_nested_containers_numbers_and_dtypes_as_torch():
    rng = np.random.default_rng(0)
    arrays = {"f32": rng.standard_normal((3, 4)).astype(np.float32),
              "f64": rng.standard_normal(5),
              "i64": rng.integers(-9, 9, (2, 3)),
              "b": rng.integers(0, 2, (4,)).astype(bool),
              "i32": rng.integers(-9, 9, (3,)).astype(np.int32),
              "i16": rng.integers(-9, 9, (3,)).astype(np.int16),
              "i8": rng.integers(-9, 9, (3,)).astype(np.int8),
              "u8": rng.integers(0, 255, (3,)).astype(np.uint8),
              "f16": rng.standard_normal((2, 2)).astype(np.float16),
              "scalar": np.array(2.5, np.float32), "empty": np.zeros((0, 3), np.float32)}

    def scenario(torch):
        ts = {k: torch.tensor(v) for k, v in arrays.items()}
        ts["leaf"] = torch.tensor(arrays["f32"], requires_grad=True)
        obj = {"t": ts, 3: [1, -2.5, None, True, "x", (ts["i64"], 7)],
               "od": OrderedDict([("b", 1), ("a", ts["b"])]), "inf": math.inf}
        out = _roundtrip(torch, obj)
        return (out["t"], out[3], type(out[3][5]).__name__, list(out["od"]),
                type(out["od"]).__name__, out["inf"], out["t"]["leaf"].requires_grad,
                out["t"]["leaf"].is_leaf, [out["t"][k].dtype for k in sorted(arrays)])

    same(scenario, rtol=0, atol=0)
    out = _roundtrip(distgrad, {k: distgrad.tensor(v) for k, v in arrays.items()})
    for k, v in arrays.items():  # bit for bit
        assert _bits(out[k]) == v.tobytes() and out[k].numpy().dtype == v.dtype


def test_counter_and_set_round_trip_as_torch():
    # a MultiStepLR's state dict holds its milestones as a Counter, which its step(epoch)
    # counts from; torch's (weights-only) load gives a Counter and a set back
    def scenario(torch):
        p = torch.nn.Parameter(torch.ones(2))
        opt = torch.optim.SGD([p], lr=0.1)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [2, 4, 4], gamma=0.5)
        out = _roundtrip(torch, {"sched": sched.state_dict(), "s": {3, "a"}})
        again = torch.optim.lr_scheduler.MultiStepLR(opt, [1])
        again.load_state_dict(out["sched"])
        with pytest.warns(UserWarning):
            again.step(5)  # (the epoch argument is deprecated)
        return (type(out["sched"]["milestones"]).__name__, out["sched"]["milestones"],
                type(out["s"]).__name__, sorted(out["s"], key=str), again.get_last_lr())

    same(scenario)


def test_views_share_memory_after_load_as_torch():
    def scenario(torch):
        base = torch.arange(12.0).reshape(3, 4)
        view = base.t()[1:]
        row = base[1]
        out = _roundtrip(torch, {"base": base, "view": view, "row": row, "again": base})
        out["base"][1, 1] = 100.0  # reaches both views, as the memory is shared
        out["view"][0, 2] = -1.0
        return (out["base"], out["view"], out["row"], out["view"].stride(),
                out["again"] is out["base"])

    same(scenario, rtol=0, atol=0)


def test_each_loaded_tensor_counts_its_own_writes_from_one_as_torch():
    # torch's load gives each tensor its memory by set_ (a write: version 1), each with a
    # counter of its own, so a write through one view counts only there
    def scenario(torch):
        base = torch.arange(6.0).reshape(2, 3)
        out = _roundtrip(torch, {"base": base, "row": base[1], "p": torch.nn.Parameter(base)})
        before = [t._version for t in out.values()]
        out["row"].mul_(2)
        return before, [t._version for t in out.values()], out["base"]

    same(scenario, rtol=0, atol=0)


def test_a_view_saved_alone_keeps_its_strides_and_offset_as_torch():
    def scenario(torch):
        base = torch.arange(12.0).reshape(3, 4)
        return [(t, t.stride(), t.storage_offset(), t.is_contiguous())
                for t in (_roundtrip(torch, base.t()), _roundtrip(torch, base[1:, 1:3]))]

    same(scenario, rtol=0, atol=0)


def test_handles_with_their_own_counters_share_memory_after_load_as_torch():
    # `.data`, and a parameter given a view of a flat buffer by `p.data =`, have version
    # counters of their own but are in the buffer's memory: torch saves one storage
    def scenario(torch):
        flat = torch.zeros(10)
        p = torch.nn.Parameter(torch.ones(2, 3))
        p.data = flat[2:8].view(2, 3)
        out = _roundtrip(torch, {"flat": flat, "p": p, "data": flat.data})
        out["flat"][3:5].fill_(7.0)
        alone = _roundtrip(torch, p)  # (the whole memory it views is saved with it)
        return (out["p"], out["data"], out["p"].storage_offset(), out["p"]._version, alone,
                alone.storage_offset(), alone.stride())

    same(scenario, rtol=0, atol=0)


def test_module_and_optimizer_state_dicts_resume_bit_for_bit():
    def train(model, opt, steps, seed):
        gen = np.random.default_rng(seed)
        for _ in range(steps):
            x = distgrad.tensor(gen.standard_normal((4, 3)).astype(np.float32))
            opt.zero_grad()
            model(x).pow(2).sum().backward()
            opt.step()

    for make_opt in (lambda p: distgrad.optim.Adam(p, lr=0.01),
                     lambda p: distgrad.optim.SGD(p, lr=0.01, momentum=0.9)):
        distgrad.manual_seed(0)
        model = distgrad.nn.Sequential(distgrad.nn.Linear(3, 5), distgrad.nn.Tanh(),
                                       distgrad.nn.Linear(5, 2))
        opt = make_opt(model.parameters())
        train(model, opt, 3, seed=1)
        saved = _roundtrip(distgrad, {"model": model.state_dict(), "optim": opt.state_dict()})

        distgrad.manual_seed(5)
        model2 = distgrad.nn.Sequential(distgrad.nn.Linear(3, 5), distgrad.nn.Tanh(),
                                        distgrad.nn.Linear(5, 2))
        opt2 = make_opt(model2.parameters())
        model2.load_state_dict(saved["model"])
        opt2.load_state_dict(saved["optim"])
        train(model, opt, 2, seed=2)
        train(model2, opt2, 2, seed=2)
        for (name, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
            assert _bits(a) == _bits(b), name


def test_parameter_stays_a_parameter():
    p = distgrad.nn.Parameter(distgrad.randn(3))
    out = _roundtrip(distgrad, [p, p])
    assert type(out[0]).__name__ == "Parameter" and out[0].requires_grad
    assert out[1] is out[0] and _bits(out[0]) == _bits(p)


def test_file_is_safetensors_with_json_and_no_pickle(tmp_path):
    path = tmp_path / "obj.pt"
    t = distgrad.tensor([[1.0, 2.0]], requires_grad=True)
    distgrad.save({"w": t, "n": [1, 2]}, path)
    with safe_open(str(path), framework="np") as f:  # numpy and safetensors only
        structure = json.loads(f.metadata()["distgrad"])
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    (rec,) = structure["tensors"]
    assert rec["dtype"] == "float32" and rec["shape"] == [1, 2] and rec["requires_grad"]
    np.testing.assert_array_equal(arrays[rec["key"]], [[1.0, 2.0]])
    raw = path.read_bytes()
    with pytest.raises(Exception):  # not a pickle stream
        list(pickletools.genops(io.BytesIO(raw)))
    assert b"\x80\x04" not in raw[:2] and b"\x80\x02" not in raw[:2]


def test_map_location_callable_and_dict_in_the_driver():
    t = distgrad.tensor([1.0, 2.0])
    seen = []
    out = _roundtrip(distgrad, {"a": t}, map_location=lambda x, loc: seen.append(loc) or x * 2)
    assert seen == ["cpu"] and out["a"].tolist() == [2.0, 4.0]
    assert _roundtrip(distgrad, t, map_location={"cpu": "cpu"}).tolist() == [1.0, 2.0]
    assert _roundtrip(distgrad, t, map_location="cpu").tolist() == [1.0, 2.0]


def test_errors_name_what_cannot_be_saved_or_loaded():
    with pytest.raises(TypeError, match=r"cannot save frozenset at obj\['s'\]"):
        distgrad.save({"s": frozenset({1})}, io.BytesIO())
    with pytest.raises(RuntimeError, match="not a file distgrad.save wrote"):
        distgrad.load(io.BytesIO(b"\x00" * 16))
    f = io.BytesIO()
    torch.save(torch.ones(2), f)  # a pickle-based file
    f.seek(0)
    with pytest.raises(RuntimeError, match="not a file distgrad.save wrote"):
        distgrad.load(f)
