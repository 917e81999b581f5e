"""bfloat16 tensors on workers, on both backends: moved to a worker and between workers
(the wire carries its 2-byte bits), computed on there, brought back, sharded, differentiated,
saved and loaded (distgrad.save/load and distributed.checkpoint's BF16 safetensors) bit for
bit, and a CPU-autocast training step of a model on a worker, against torch on one device."""
from __future__ import annotations

import json

import numpy as np
import torch

import distgrad as dg
import distgrad.distributed as dist
import distgrad.distributed.checkpoint as dcp

VALUES = [[1.5, -2.25, 0.1], [60000.0, 3e38, -1e-39]]


def _bits(t) -> list:
    T = torch if isinstance(t, torch.Tensor) else dg
    return t.detach().cpu().contiguous().view(T.int16).tolist()


def _program(T, place):
    h = place(T.tensor(VALUES).to(T.bfloat16))
    return [h + 0.1, h * h, h / 3, h.sum(), h.cumsum(1), h.max(1).values, h.exp(), h.float(),
            h.to(T.float16), T.cat([h, h]), h.t().contiguous(), h @ h.t(), h.softmax(1),
            h.view(T.int16), h.mean(), h.norm()]


def test_a_tensor_moved_to_a_worker_computed_on_and_brought_back(backend):
    expected = _program(torch, lambda t: t)
    got = _program(dg, lambda t: t.to("worker:0"))
    for e, g in zip(expected, got):
        assert g.device == dg.device("worker:0")
        assert str(g.dtype) == str(e.dtype)
        if e.dtype is torch.bfloat16:
            assert _bits(g) == _bits(e)
        else:
            np.testing.assert_allclose(np.array(g.cpu().tolist()), np.array(e.tolist()),
                                       rtol=1e-6)


def test_between_workers_sharded_and_printed(backend):
    x = dg.tensor(VALUES, dtype=dg.bfloat16)
    there = x.to("worker:0").to("worker:1")
    assert there.device == dg.device("worker:1") and there.dtype is dg.bfloat16
    assert _bits(there) == _bits(x)
    assert repr(there.cpu()) == repr(torch.tensor(VALUES, dtype=torch.bfloat16))
    assert "device='worker:1',\n       dtype=torch.bfloat16)" in repr(there)
    sharded = dist.shard(x, 0, ["worker:0", "worker:1"])
    both = (sharded * 2).full_tensor()
    assert both.dtype is dg.bfloat16
    assert _bits(both) == _bits(torch.tensor(VALUES, dtype=torch.bfloat16) * 2)


def test_bfloat16_gradients_on_a_worker(backend):
    def grads(T, place):
        w = T.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=T.bfloat16, requires_grad=True)
        y = (place(w).exp() * 3).sum()
        y.backward()
        return y, w.grad

    (ey, eg), (gy, gg) = grads(torch, lambda t: t), grads(dg, lambda t: t.to("worker:1"))
    assert _bits(gy) == _bits(ey) and gg.dtype is dg.bfloat16
    assert _bits(gg) == _bits(eg)


def test_save_load_and_checkpoint_keep_the_bits(backend, tmp_path):
    x = dg.tensor(VALUES, dtype=dg.bfloat16).to("worker:1")
    dg.save({"x": x}, tmp_path / "obj.pt")
    out = dg.load(tmp_path / "obj.pt")["x"]
    assert out.device == x.device and out.dtype is dg.bfloat16 and _bits(out) == _bits(x)
    state = {"s": dist.shard(dg.tensor(VALUES, dtype=dg.bfloat16), 1, ["worker:0", "worker:1"])}
    dcp.save(state, checkpoint_id=tmp_path / "ckpt")
    seen = set()
    for path in (tmp_path / "ckpt").glob("*.safetensors"):
        data = path.read_bytes()
        header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
        seen |= {entry["dtype"] for key, entry in header.items() if key != "__metadata__"}
    assert "BF16" in seen
    target = {"s": dg.zeros(2, 3, dtype=dg.bfloat16).to("worker:0")}
    dcp.load(target, checkpoint_id=tmp_path / "ckpt")
    assert _bits(target["s"]) == _bits(dg.tensor(VALUES, dtype=dg.bfloat16))


def test_an_autocast_training_step_on_a_worker(backend):
    def step(T, device):
        T.manual_seed(0)
        model = T.nn.Sequential(T.nn.Linear(4, 8), T.nn.ReLU(), T.nn.Linear(8, 2)).to(device)
        x, y = T.randn(6, 4).to(device), T.tensor([0, 1, 1, 0, 1, 0]).to(device)
        with T.autocast("cpu"):
            logits = model(x)
            loss = T.nn.functional.cross_entropy(logits, y)
        loss.backward()
        return logits.dtype, loss, [p.grad for p in model.parameters()]

    e_dtype, e_loss, e_grads = step(torch, "cpu")
    g_dtype, g_loss, g_grads = step(dg, "worker:0")
    assert str(g_dtype) == str(e_dtype) == "torch.bfloat16"
    assert g_loss.device == dg.device("worker:0")
    np.testing.assert_allclose(g_loss.item(), e_loss.item(), rtol=1e-2)
    for g, e in zip(g_grads, e_grads):
        assert g.dtype is dg.float32 and g.device == dg.device("worker:0")
        np.testing.assert_allclose(np.array(g.cpu().tolist()), e.numpy(), rtol=3e-2, atol=3e-2)
