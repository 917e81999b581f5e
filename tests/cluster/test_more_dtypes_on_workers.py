"""int32, uint8, int16, int8 and float16 tensors on workers, on both backends: moved to a
worker and between workers, computed on there, brought back, sharded, and saved and loaded
(distgrad.save/load and distributed.checkpoint's safetensors files) bit for bit, against
torch on one device."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
import distgrad.distributed.checkpoint as dcp

ARRAYS = {"int32": np.array([[3, -7], [2 ** 31 - 1, 0]], np.int32),
          "uint8": np.array([[0, 7], [200, 255]], np.uint8),
          "int16": np.array([[300, -7], [32767, 0]], np.int16),
          "int8": np.array([[3, -7], [127, -128]], np.int8),
          "float16": np.array([[1.5, -2.25], [0.1, 60000.0]], np.float16)}
SAFETENSORS = {"int32": "I32", "uint8": "U8", "int16": "I16", "int8": "I8", "float16": "F16"}


def _program(T, x, place):
    """Integer and float16 ops where `place` put x; results keep torch's dtypes."""
    h = place(x)
    out = [h + 1, h * h, h // 3, h.sum(), h.cumsum(0), h.max(1).values, h.argmax(), h == h.flip(0),
           h.to(T.float32) / 3, h.clamp(0, 100), T.cat([h, h]), h.t().contiguous(), h @ h]
    if h.dtype.is_floating_point:
        out += [h.exp(), h.mean(), h.norm()]
    else:
        out += [h & 6, h << 1, h.abs()]
    return out


@pytest.mark.parametrize("name", list(ARRAYS))
def test_a_tensor_moved_to_a_worker_computed_on_and_brought_back(backend, name):
    x = ARRAYS[name]
    expected = _program(torch, torch.tensor(x), lambda t: t)
    got = _program(dg, dg.tensor(x), lambda t: t.to("worker:0"))
    for e, g in zip(expected, got):
        assert g.device == dg.device("worker:0")
        assert str(g.dtype) == str(e.dtype)
        back = g.cpu().numpy()
        assert back.dtype == e.numpy().dtype
        np.testing.assert_array_equal(back, e.numpy())


@pytest.mark.parametrize("name", list(ARRAYS))
def test_between_workers_and_sharded(backend, name):
    x = dg.tensor(ARRAYS[name])
    there = x.to("worker:0").to("worker:1")  # worker to worker
    assert there.device == dg.device("worker:1") and there.dtype is x.dtype
    assert there.cpu().numpy().tobytes() == ARRAYS[name].tobytes()
    sharded = dist.shard(x, 0, ["worker:0", "worker:1"])
    both = (sharded * 2).full_tensor()
    assert both.dtype is x.dtype
    np.testing.assert_array_equal(both.numpy(), (torch.tensor(ARRAYS[name]) * 2).numpy())


def test_float16_gradients_on_a_worker(backend):
    def grads(T, place):
        w = T.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=T.float16, requires_grad=True)
        y = (place(w).exp() * 3).sum()
        y.backward()
        return y.item(), w.grad

    (ey, eg), (gy, gg) = grads(torch, lambda t: t), grads(dg, lambda t: t.to("worker:1"))
    assert gy == ey and gg.dtype is dg.float16
    np.testing.assert_array_equal(gg.numpy(), eg.numpy())


def test_save_and_load_keep_each_dtype(backend, tmp_path):
    state = {k: dg.tensor(v).to(f"worker:{i % 2}") for i, (k, v) in enumerate(ARRAYS.items())}
    dg.save(state, tmp_path / "obj.pt")
    out = dg.load(tmp_path / "obj.pt")
    for k, v in ARRAYS.items():
        assert out[k].device == state[k].device
        got = out[k].cpu().numpy()
        assert got.dtype == v.dtype and got.tobytes() == v.tobytes(), k


def test_checkpoint_writes_safetensors_dtypes_and_reads_them_back(backend, tmp_path):
    state = {k: dist.shard(dg.tensor(v), 0, ["worker:0", "worker:1"]) for k, v in ARRAYS.items()}
    state["driver"] = dg.tensor(ARRAYS["uint8"])
    dcp.save(state, checkpoint_id=tmp_path)
    seen = set()
    for path in tmp_path.glob("*.safetensors"):
        data = path.read_bytes()
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
        seen |= {entry["dtype"] for key, entry in header.items() if key != "__metadata__"}
    assert set(SAFETENSORS.values()) <= seen
    target = {k: dg.zeros(2, 2, dtype=getattr(dg, k)).to("worker:1") for k in ARRAYS}
    target["driver"] = dg.zeros(2, 2, dtype=dg.uint8)
    dcp.load(target, checkpoint_id=tmp_path)
    for k, v in list(ARRAYS.items()) + [("driver", ARRAYS["uint8"])]:
        got = target[k].cpu().numpy()
        assert got.dtype == v.dtype and got.tobytes() == v.tobytes(), k
