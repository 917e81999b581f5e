"""Saved-tensor hooks, anomaly mode and multi-grad hooks with ops on a worker and on sharded
tensors (both backends), against torch on one device: the hooks run in the driver on the
worker tensors' handles, `save_on_cpu` moves what a worker op saved to the driver and back,
and a nan gradient a worker computes is reported with the node and the worker."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist

X = np.array([[0.5, 1.5, -0.25], [2.0, 0.25, -1.0]], np.float32)
PLACES = {"worker": lambda t: t.to("worker:1"), "rows": lambda t: dist.shard(t, 0)}


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return (t.full_tensor() if t.placements else t).detach().cpu().numpy()


def _program(T, place, hooks):
    x = T.tensor(X, requires_grad=True)
    h = place(x * 1)
    with hooks(T):
        y = (h.exp() * h.sin() / (h * h + 1)).sum()
    gx, = T.autograd.grad(y, x, create_graph=True)
    (gx * gx).sum().backward()
    return y, gx, x.grad


def test_pack_and_unpack_see_the_worker_tensors_in_torchs_order(backend):
    log = []

    def hooks(T):
        def pack(t):
            log.append(("pack", t.device_str, tuple(t.shape), t.grad_fn.name() if t.grad_fn
                        else None))
            return t

        def unpack(t):
            log.append(("unpack", t.device_str))
            return t

        return T.autograd.graph.saved_tensors_hooks(pack, unpack)

    got = _program(dg, PLACES["worker"], hooks)
    want = _program(torch, lambda t: t.clone(), lambda T: T.autograd.graph.saved_tensors_hooks(
        lambda t: t, lambda t: t))
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-5, atol=1e-6)
    packs = [e for e in log if e[0] == "pack"]
    # exp saves its result, sin its input h (moved there: ToCopyBackward0), ...
    assert {e[1] for e in log} == {"worker:1"}
    assert [e[3] for e in packs[:2]] == ["ExpBackward0", "ToCopyBackward0"]
    assert len([e for e in log if e[0] == "unpack"]) >= len(packs)


@pytest.mark.parametrize("where", ["worker", "rows"])
def test_save_on_cpu_keeps_worker_tensors_in_the_driver_with_the_same_gradients(where, backend):
    got = _program(dg, PLACES[where], lambda T: T.autograd.graph.save_on_cpu())
    want = _program(torch, lambda t: t.clone(), lambda T: T.autograd.graph.save_on_cpu())
    for g, w in zip(got, want):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-5, atol=1e-6)


def test_save_on_cpu_holds_nothing_on_the_worker(backend):
    h = dg.tensor(np.ones((64, 128), np.float32), device="worker:1", requires_grad=True)

    def held(hooks):
        dist.synchronize()
        before = dist.stats()["worker:1"]["bytes"]
        with hooks:
            y = h.exp().sin()
        dist.synchronize()
        packed = y.grad_fn._saved.get(0)
        after = dist.stats()["worker:1"]["bytes"] - before
        y.sum().backward()
        return after, packed

    plain, _ = held(dg.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t))
    on_cpu, packed = held(dg.autograd.graph.save_on_cpu())
    assert packed.packed[1].device_str == "cpu" and str(packed.packed[0]) == "worker:1"
    assert plain >= 2 * 64 * 128 * 4  # exp's result and sin's input
    assert on_cpu <= 64 * 128 * 4, (plain, on_cpu)  # only the result y


@pytest.mark.parametrize("where", ["worker", "rows"])
def test_anomaly_names_the_node_and_the_worker(where, backend):
    x = dg.tensor([0.0, 1.0, 4.0, 9.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with dg.autograd.detect_anomaly():
            y = (PLACES[where](x * 1).sqrt() * 0).sum()
            with pytest.raises(RuntimeError) as err:
                y.backward()
    assert str(err.value).startswith(
        "Function 'SqrtBackward0' returned nan values in its 0th output. (The gradient was "
        "computed on worker:")
    if where == "worker":
        assert str(err.value).endswith("worker:1.)")
    messages = [str(w.message) for w in caught]
    assert messages[1].startswith("Error detected in SqrtBackward0. Traceback of forward call")
    assert ".sqrt() * 0" in messages[1]


def test_anomaly_mode_off_and_multi_grad_hooks_on_a_worker(backend):
    x = dg.tensor([0.0, 1.0], requires_grad=True)
    (x.to("worker:1").sqrt() * 0).sum().backward()  # nan, no error
    assert np.isnan(x.grad.numpy()[0])
    a = dg.tensor(X, requires_grad=True)
    b = a.to("worker:1")
    c, d = b * b, b * 2
    seen = []
    dg.autograd.graph.register_multi_grad_hook(
        (a, c, d), lambda grads: seen.append([g is not None for g in grads]))
    dg.autograd.graph.register_multi_grad_hook((c, d), lambda g: seen.append(g.device_str),
                                               mode="any")
    c.sum().backward()
    assert seen == ["worker:1", [True, True, False]]
