"""distgrad.distributed.checkpoint and distgrad.save/load of tensors on workers, on both
backends: every resharding direction bit for bit, no array bytes through the driver,
atomic saves (a save failing midway leaves the previous checkpoint), checksums, async."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import distgrad as dg
import distgrad.distributed as dist
import distgrad.distributed.checkpoint as dcp
from distgrad.distributed import Replicate, Shard
from distgrad.distributed.checkpoint import files
from distgrad.distributed.sharding import is_sharded

RNG = np.random.default_rng(15)
W = RNG.standard_normal((7, 6)).astype(np.float32)  # 7 rows: uneven over 2 and 3 workers
B = RNG.standard_normal(5)  # float64
IDX = RNG.integers(-50, 50, (4, 3))
MASK = RNG.integers(0, 2, (6,)).astype(bool)


def _value(t) -> np.ndarray:
    t = t.detach()
    return (t.full_tensor() if is_sharded(t) else t).cpu().numpy()


def _parts_values(t) -> list:
    """Every part's values as the worker holds them (each copy of a replicated tensor)."""
    if not is_sharded(t):
        return [t.detach().cpu().numpy()]
    return [p.detach().cpu().numpy() for p in t._sharding.shards if p is not None]


def _saved_state():
    """Sharded over 2 workers, replicated, on a worker, in the driver; numbers."""
    return {"w": dist.shard(dg.tensor(W), 0, ["worker:0", "worker:1"]),
            "idx": dist.shard(dg.tensor(IDX), 1, ["worker:1", "worker:0"]),
            "b": dg.tensor(B).to("worker:1"),
            "mask": dist.replicate(dg.tensor(MASK), ["worker:0", "worker:1"]),
            "driver": {"scalar": dg.tensor(3.5)}, "step": 12, "lr": 0.25}


TARGETS = {
    "sharded dim 0 over 1 worker": lambda a: dist.shard(dg.zeros_like(a), 0, ["worker:2"]),
    "sharded dim 0 over 2 workers": lambda a: dist.shard(dg.zeros_like(a), 0,
                                                         ["worker:1", "worker:2"]),
    "sharded dim 0 over 3 workers": lambda a: dist.shard(dg.zeros_like(a), 0),
    "sharded on the last dim over 3 workers": lambda a: dist.shard(dg.zeros_like(a), -1),
    "replicated": lambda a: dist.replicate(dg.zeros_like(a)),
    "on a worker": lambda a: dg.zeros_like(a).to("worker:2"),
    "in the driver": lambda a: dg.zeros_like(a),
}


@pytest.fixture
def three(backend_name, switch_runtime):
    switch_runtime(backend_name, 3)
    return backend_name


@pytest.mark.parametrize("target", list(TARGETS))
def test_load_reshards_bit_for_bit(three, tmp_path, target):
    dcp.save(_saved_state(), checkpoint_id=tmp_path)
    make = TARGETS[target]
    state = {"w": make(dg.zeros(7, 6)), "idx": make(dg.zeros(4, 3, dtype=dg.int64)),
             "b": make(dg.zeros(5, dtype=dg.float64)),
             "mask": make(dg.zeros(6, dtype=dg.bool)),
             "driver": {"scalar": dg.tensor(0.0)}, "step": 0, "lr": 0.0}
    before = {k: (v._sharding.placement, v._sharding.workers) if is_sharded(v) else v.device
              for k, v in state.items() if isinstance(v, dg.Tensor)}
    dcp.load(state, checkpoint_id=tmp_path)
    for key, expected in (("w", W), ("idx", IDX), ("b", B), ("mask", MASK)):
        t = state[key]
        got = _value(t)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), key
        now = (t._sharding.placement, t._sharding.workers) if is_sharded(t) else t.device
        assert now == before[key], f"{key} changed placement"
        if is_sharded(t) and isinstance(t._sharding.placement, Replicate):
            assert all(p.tobytes() == expected.tobytes() for p in _parts_values(t))
    assert state["driver"]["scalar"].item() == 3.5
    assert state["step"] == 12 and state["lr"] == 0.25


def test_saved_from_any_placement_loads_sharded(three, tmp_path):
    saved = {"plain": dg.tensor(W), "worker": dg.tensor(W).to("worker:2"),
             "replicated": dist.replicate(dg.tensor(W))}
    dcp.save(saved, checkpoint_id=tmp_path)
    state = {k: dist.shard(dg.zeros(7, 6), 1, ["worker:0", "worker:1"]) for k in saved}
    dcp.load(state, checkpoint_id=tmp_path)
    for k, t in state.items():
        assert _value(t).tobytes() == W.tobytes(), k
        assert t._sharding.placement == Shard(1)


def test_manifest_describes_every_shard(three, tmp_path):
    manifest = dcp.save(_saved_state(), checkpoint_id=tmp_path)
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    (w,) = [e for e in on_disk["entries"] if e["path"] == ["w"]]
    assert w["shape"] == [7, 6] and w["dtype"] == "float32"
    assert w["placement"] == {"kind": "shard", "dim": 0, "workers": ["worker:0", "worker:1"]}
    assert [c["offsets"] for c in w["chunks"]] == [[0, 0], [4, 0]]
    assert [c["shape"] for c in w["chunks"]] == [[4, 6], [3, 6]]
    for c, rows in zip(w["chunks"], (W[:4], W[4:])):  # each file was written by its worker
        assert c["file"].endswith(("worker0.safetensors", "worker1.safetensors"))
        assert c["crc32"] == files.checksum(rows)
    assert sorted(on_disk["files"]) == sorted(n for n in os.listdir(tmp_path)
                                              if n.endswith(".safetensors"))


def test_no_array_bytes_through_the_driver(three, tmp_path):
    big = RNG.standard_normal((512, 256))  # 1 MiB
    state = {"w": dist.shard(dg.tensor(big), 0)}
    target = {"w": dist.shard(dg.zeros(512, 256, dtype=dg.float64), 1)}
    dist.synchronize()
    before = dist.counters()
    dcp.save(state, checkpoint_id=tmp_path)
    mid = dist.counters()
    dcp.load(target, checkpoint_id=tmp_path)
    after = dist.counters()
    for a, b in ((before, mid), (mid, after)):
        moved = sum(b["bytes_sent"]) - sum(a["bytes_sent"]) + \
            sum(b["bytes_received"]) - sum(a["bytes_received"])
        assert moved < big.nbytes // 50, moved
    assert _value(target["w"]).tobytes() == big.tobytes()


def _parallel_mlp(workers, seed):
    """Column- then row-parallel Linear layers split over `workers` (None: all)."""
    from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear

    dg.manual_seed(seed)
    return dg.nn.Sequential(ColumnParallelLinear(6, 8, workers=workers), dg.nn.ReLU(),
                            RowParallelLinear(8, 3, workers=workers))


def _train(model, opt, x):
    opt.zero_grad()
    model(x).pow(2).sum().backward()
    opt.step()


def test_optimizer_state_keeps_its_parameters_placement(three, tmp_path):
    build, train = _parallel_mlp, _train
    x = dg.tensor(RNG.standard_normal((4, 6)).astype(np.float32))
    for make_opt in (lambda p: dg.optim.Adam(p, lr=0.01),
                     lambda p: dg.optim.SGD(p, lr=0.01, momentum=0.9)):
        model = build(["worker:0", "worker:1"], 0)
        opt = make_opt(model.parameters())
        for _ in range(2):
            train(model, opt, x)
        dcp.save({"model": model.state_dict(), "optim": opt.state_dict()},
                 checkpoint_id=tmp_path)
        # the same layout: state bit for bit, and the next steps too
        model2 = build(["worker:0", "worker:1"], 1)
        opt2 = make_opt(model2.parameters())
        train(model2, opt2, x)  # (its state exists now, to be filled)
        state = {"model": model2.state_dict(), "optim": opt2.state_dict()}
        dcp.load(state, checkpoint_id=tmp_path)
        model2.load_state_dict(state["model"])
        opt2.load_state_dict(state["optim"])
        for p, p2 in zip(model.parameters(), model2.parameters()):
            for k, v in opt.state[p].items():
                v2 = opt2.state[p2][k]
                assert _value(v2).tobytes() == _value(v).tobytes(), k
                if k != "step":  # moments and momentum where their parameter is
                    assert (v2._sharding.placement, v2._sharding.workers) == \
                        (p2._sharding.placement, p2._sharding.workers) if is_sharded(p2) \
                        else v2.device == p2.device
        for _ in range(2):
            train(model, opt, x)
            train(model2, opt2, x)
        for p, p2 in zip(model.parameters(), model2.parameters()):
            assert _value(p2).tobytes() == _value(p).tobytes()
        # another layout (3 workers): the state follows the new parameters' sharding
        model3 = build(None, 2)
        opt3 = make_opt(model3.parameters())
        train(model3, opt3, x)
        state3 = {"model": model3.state_dict(), "optim": opt3.state_dict()}
        dcp.load(state3, checkpoint_id=tmp_path)
        opt3.load_state_dict(state3["optim"])
        p3 = model3[0].weight
        for k, v in opt3.state[p3].items():
            if k != "step":
                assert v._sharding.workers == ["worker:0", "worker:1", "worker:2"]


def test_a_save_failing_midway_leaves_the_previous_checkpoint(three, tmp_path, monkeypatch):
    dcp.save(_saved_state(), checkpoint_id=tmp_path)
    old_manifest = (tmp_path / "manifest.json").read_bytes()
    newer = {"w": dist.shard(dg.tensor(W * 2), 0, ["worker:0", "worker:1"]),
             "driver": dg.tensor([1.0, 2.0])}

    def fail_midway(path, arrays):  # half a file, then the disk fails
        with open(path, "wb") as f:
            f.write(b"\x00" * 64)
        raise OSError(28, "No space left on device", path)

    # the driver's own file fails after the workers wrote theirs (both backends) ...
    monkeypatch.setattr(dcp, "write_driver_file", fail_midway)
    with pytest.raises(OSError, match="No space left"):
        dcp.save(newer, checkpoint_id=tmp_path)
    monkeypatch.undo()
    if dist.current().backend == "local":  # ... and a worker's own write (in this process)
        monkeypatch.setattr(files, "write_shard_file", fail_midway)
        with pytest.raises(OSError, match="No space left"):
            dcp.save(newer, checkpoint_id=tmp_path)
        monkeypatch.undo()
    assert (tmp_path / "manifest.json").read_bytes() == old_manifest
    state = {"w": dist.shard(dg.zeros(7, 6), 0)}
    dcp.load(state, checkpoint_id=tmp_path)
    assert _value(state["w"]).tobytes() == W.tobytes()
    # the next save that completes removes what the failed ones left
    manifest = dcp.save(newer, checkpoint_id=tmp_path)
    assert sorted(n for n in os.listdir(tmp_path) if n != "manifest.json") == \
        sorted(manifest["files"])


@pytest.mark.parametrize("damage", ["flip", "truncate"])
@pytest.mark.parametrize("where", ["worker:2", "cpu"])
def test_a_damaged_shard_file_is_named(three, tmp_path, damage, where):
    manifest = dcp.save(_saved_state(), checkpoint_id=tmp_path)
    (w,) = [e for e in manifest["entries"] if e["path"] == ["w"]]
    name = w["chunks"][1]["file"]
    path = tmp_path / name
    data = bytearray(path.read_bytes())
    if damage == "flip":  # one bit inside w's rows, found from the safetensors header
        n = int.from_bytes(data[:8], "little")
        start, stop = json.loads(data[8:8 + n])[w["chunks"][1]["key"]]["data_offsets"]
        data[8 + n + (start + stop) // 2] ^= 0x10
    else:
        del data[len(data) // 2:]
    path.write_bytes(bytes(data))
    state = {"w": dg.zeros(7, 6).to(where), "idx": dg.zeros(4, 3, dtype=dg.int64).to(where)}
    words = "crc32" if damage == "flip" else "truncated"
    with pytest.raises(RuntimeError, match=f"{name}.*{words}|{words}.*{name}") as info:
        dcp.load(state, checkpoint_id=tmp_path)
    assert name in str(info.value)


def test_async_save_copies_first_and_writes_in_the_background(three, tmp_path):
    state = _saved_state()
    future = dcp.async_save(state, checkpoint_id=tmp_path)
    with dg.no_grad():  # training goes on: the checkpoint keeps the values it was given
        state["w"].add_(1.0)
        state["b"].mul_(0.0)
        state["driver"]["scalar"].add_(1.0)
    manifest = future.result()
    assert manifest["save_id"] and (tmp_path / "manifest.json").exists()
    target = {"w": dist.shard(dg.zeros(7, 6), 1), "b": dg.zeros(5, dtype=dg.float64),
              "driver": {"scalar": dg.tensor(0.0)}}
    dcp.load(target, checkpoint_id=tmp_path)
    assert _value(target["w"]).tobytes() == W.tobytes()
    assert _value(target["b"]).tobytes() == B.tobytes()
    assert target["driver"]["scalar"].item() == 3.5


def test_an_async_save_whose_writer_is_restarted_fails_naming_it(switch_runtime, tmp_path,
                                                               monkeypatch):
    """worker 1 is restarted while it writes its part of an async save in the background
    (held here until then): the save fails with WorkerDiedError naming it, and does not
    ask the new process about a write it never had. (Before, it failed with the new
    process's WireFormatError, "no checkpoint write 1".)"""
    import threading

    switch_runtime("local", 2)
    go = threading.Event()
    write = files.write_shard_file

    def held(path, arrays):
        go.wait(30)  # (a limit for a hang only: the test releases it)
        return write(path, arrays)

    monkeypatch.setattr(files, "write_shard_file", held)
    future = dcp.async_save({"a": dg.ones(3, device="worker:1")}, checkpoint_id=tmp_path)
    dist.restart_worker(1)
    try:
        with pytest.raises(dist.WorkerDiedError, match="worker:1 was restarted") as info:
            future.result(30)
        assert info.value.worker == "worker:1"
    finally:
        go.set()
    dist.shutdown()


def test_an_async_save_whose_write_raises_timeout_error_says_so(switch_runtime, tmp_path,
                                                              monkeypatch):
    """A worker's background write fails with TimeoutError of its own (a network disk
    that timed out, errno ETIMEDOUT) long before the call deadline: the save raises that
    error, not one saying the worker did not finish within call_timeout_s (which would
    send its caller to raise the deadline, or restart a healthy worker)."""
    switch_runtime("local", 2)

    def timed_out(path, arrays):
        raise TimeoutError(110, "Connection timed out", path)

    monkeypatch.setattr(files, "write_shard_file", timed_out)
    future = dcp.async_save({"a": dg.ones(3, device="worker:1")}, checkpoint_id=tmp_path)
    with pytest.raises(TimeoutError) as info:
        future.result(30)
    msg = str(info.value)
    assert "Connection timed out" in msg and "worker1.safetensors" in msg, msg
    assert "call_timeout_s" not in msg, msg
    assert not (tmp_path / "manifest.json").exists()


def test_an_async_save_whose_write_hangs_fails_at_its_deadline(backend_name, tmp_path):
    """A worker's background write held in its "write" phase (a stuck disk): the save
    fails with TimeoutError naming the worker and its file once the call deadline taken
    as the save started is up (before, it was polled for ever), and leaves no checkpoint."""
    from watchdog import PhaseGate, within

    from distgrad.distributed.testhooks import pause_at

    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend=backend_name, test_hooks=True, timeout_s=300)
    gate = PhaseGate()
    try:
        a = dg.ones(3, device="worker:1")
        a.tolist()
        pause_at("worker:1", "write", report_to=gate.address)
        with dist.call_timeout(1):
            future = dcp.async_save({"a": a}, checkpoint_id=tmp_path)
        assert gate.wait()["phase"] == "write"  # held in it, whatever the machine's speed
        with pytest.raises(TimeoutError) as info:
            within(60, future.result)
        msg = str(info.value)
        assert msg.startswith("worker:1 did not finish writing its checkpoint file ") and \
            f"{tmp_path}" in msg and "worker1.safetensors within 1.0 s" in msg, msg
        assert info.value.worker == "worker:1"
        assert not (tmp_path / "manifest.json").exists()
        gate.release()
    finally:
        gate.close()
        dist.shutdown()


def test_load_errors_name_the_entry(three, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        dcp.load({"w": dg.zeros(2)}, checkpoint_id=tmp_path)
    dcp.save({"w": dg.tensor(W).to("worker:0")}, checkpoint_id=tmp_path)
    with pytest.raises(RuntimeError, match="Missing key in checkpoint state_dict: v"):
        dcp.load({"v": dg.zeros(2)}, checkpoint_id=tmp_path)
    with pytest.raises(RuntimeError, match=r"Size mismatch for w.*\[7, 6\].*\[6, 7\]"):
        dcp.load({"w": dg.zeros(6, 7)}, checkpoint_id=tmp_path)


# ---- distgrad.save / load of tensors on workers ----------------------------------------------

def test_save_load_restores_workers_and_placements(three, tmp_path):
    base = dg.tensor(W).to("worker:1")
    obj = {"base": base, "view": base[2:, 1:4], "sharded": dist.shard(dg.tensor(W), 1),
           "replicated": dist.replicate(dg.tensor(B), ["worker:2", "worker:0"]),
           "leaf": dg.tensor(B, requires_grad=True).to("worker:2").detach().requires_grad_()}
    dg.save(obj, tmp_path / "obj.pt")
    out = dg.load(tmp_path / "obj.pt")
    assert out["base"].device == dg.device("worker:1") and out["view"].device == dg.device("worker:1")
    assert _value(out["view"]).tobytes() == W[2:, 1:4].tobytes()
    with dg.no_grad():  # the view and its base share memory on the worker
        out["base"][3, 2] = 100.0
    assert out["view"][1, 1].item() == 100.0
    assert out["sharded"]._sharding.placement == Shard(1)
    assert out["sharded"]._sharding.workers == ["worker:0", "worker:1", "worker:2"]
    assert out["replicated"]._sharding.workers == ["worker:2", "worker:0"]
    assert _value(out["sharded"]).tobytes() == W.tobytes()
    assert out["leaf"].requires_grad and out["leaf"].is_leaf and out["leaf"].device == dg.device("worker:2")

    moved = dg.load(tmp_path / "obj.pt", map_location="cpu")
    assert {v.device.type for v in moved.values()} == {"cpu"}
    assert _value(moved["sharded"]).tobytes() == W.tobytes()
    mapped = dg.load(tmp_path / "obj.pt", map_location={"worker:1": "worker:0"})
    assert mapped["base"].device == dg.device("worker:0") and mapped["leaf"].device == dg.device("worker:2")


def test_load_onto_missing_workers_says_to_map_them(backend_name, switch_runtime, tmp_path):
    switch_runtime(backend_name, 3)
    dg.save({"t": dg.ones(2).to("worker:2")}, tmp_path / "t.pt")
    switch_runtime(backend_name, 2)
    with pytest.raises(RuntimeError, match="worker:2.*map_location"):
        dg.load(tmp_path / "t.pt")
    assert dg.load(tmp_path / "t.pt", map_location="worker:1")["t"].device == dg.device("worker:1")


_KILLED_MIDWAY = """
import os, signal, sys
import numpy as np
import distgrad as dg, distgrad.distributed as dist
import distgrad.distributed.checkpoint as dcp
dist.init(2, backend="local")
directory = sys.argv[1]
dcp.save({"w": dist.shard(dg.tensor(np.arange(12.0).reshape(6, 2)), 0)}, checkpoint_id=directory)
print("first saved", flush=True)
def killed(path, arrays):  # the workers' files are written; the driver dies before the manifest
    os.kill(os.getpid(), signal.SIGKILL)
dcp.write_driver_file = killed
dcp.save({"w": dist.shard(dg.tensor(-np.ones((6, 2))), 0), "d": dg.ones(2)},
         checkpoint_id=directory)
"""


def test_a_driver_killed_mid_save_leaves_the_previous_checkpoint(tmp_path, backend):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _KILLED_MIDWAY, str(tmp_path)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
    assert proc.returncode == -9 and "first saved" in proc.stdout, proc.stderr
    assert len([n for n in os.listdir(tmp_path) if n.startswith("shard-")]) == 4  # 2 + 2 left
    state = {"w": dist.shard(dg.zeros(6, 2), 1)}
    dcp.load(state, checkpoint_id=tmp_path)
    assert _value(state["w"]).tolist() == np.arange(12.0).reshape(6, 2).tolist()


def test_state_dicts_by_name_load_a_fresh_optimizer_on_another_layout(three, tmp_path):
    # get_state_dict names the optimizer's state by parameter (a DDP model's without its
    # "module."), gives a fresh optimizer its state, gathers sharded tensors whole with
    # full_state_dict; saved from layers split over 2 workers, loaded by name into the
    # same layers over 3 with an optimizer that never stepped: the next step is the same
    from distgrad.distributed.checkpoint.state_dict import (StateDictOptions,
                                                            get_state_dict, set_state_dict)
    from distgrad.nn.parallel import DistributedDataParallel

    build, train = _parallel_mlp, _train
    x = dg.tensor(RNG.standard_normal((4, 6)).astype(np.float32))
    model = build(["worker:0", "worker:1"], 0)
    opt = dg.optim.Adam(model.parameters(), lr=0.01)
    train(model, opt, x)
    model_sd, optim_sd = get_state_dict(model, opt)
    assert list(optim_sd["state"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=tmp_path)
    full, _ = get_state_dict(model, opt, options=StateDictOptions(full_state_dict=True))
    assert [t.device_str for t in full.values()] == ["cpu"] * 3 + [model[2].bias.device_str]
    np.testing.assert_array_equal(full["0.weight"].numpy(), _value(model[0].weight))

    model2 = build(None, 1)  # (over every worker)
    opt2 = dg.optim.Adam(model2.parameters(), lr=0.5)
    state = dict(zip(("model", "optim"), get_state_dict(model2, opt2)))
    dcp.load(state, checkpoint_id=tmp_path)
    set_state_dict(model2, opt2, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])
    train(model, opt, x)
    train(model2, opt2, x)
    for a, b in zip(model2.parameters(), model.parameters()):
        np.testing.assert_allclose(_value(a), _value(b), rtol=1e-6, atol=1e-7)

    plain = dg.nn.Linear(3, 2)
    ddp = DistributedDataParallel(plain)
    assert list(ddp.state_dict()) == ["module.weight", "module.bias"]
    ddp_sd, ddp_optim_sd = get_state_dict(ddp, dg.optim.SGD(ddp.parameters(), lr=0.1))
    assert list(ddp_sd) == ["weight", "bias"]
    assert ddp_optim_sd["param_groups"][0]["params"] == ["weight", "bias"]
