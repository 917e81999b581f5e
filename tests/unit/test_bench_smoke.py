"""`python -m distgrad bench` end to end, small: size S, a few steps, the in-process backend
(no Ray). No timing assertions: the JSON has every figure of SPEC section 4, every system
computes the same training (equal final losses), and no torch RPC process is left over."""
from __future__ import annotations

import importlib.util
import json
import os

import pytest

import distgrad.distributed as dist
from distgrad import bench

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(autouse=True)
def _no_runtime():
    if dist.is_initialized():  # the bench starts its own runtime
        dist.shutdown()
    yield
    assert not dist.is_initialized(), "bench left distgrad.distributed initialized"


def _bench_children() -> list:
    """Live processes started by this one that run the torch RPC bench workers."""
    me, found = str(os.getpid()), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = f.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == me and b"bench_torch_rpc" in cmd:
            found.append(int(pid))
    return found


def test_table_json_has_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    result = bench.main(["--sizes", "S", "--steps", "3", "--warmup", "1", "--backend", "local",
                         "--json", str(out), "--quiet"])
    data = json.loads(out.read_text())
    assert data["sizes"] == json.loads(json.dumps(result["sizes"]))
    rows = data["sizes"]["S"]
    for name in ("distgrad", "torch_local", "numpy") + (("torch_rpc",) if HAS_TORCH else ()):
        assert rows[name]["median_ms"] > 0 and rows[name]["p90_ms"] >= rows[name]["median_ms"]
        assert rows[name]["steps"] == 3
    for key in ("messages_per_step", "driver_bytes_sent_per_step", "driver_bytes_received_per_step"):
        assert rows["distgrad"][key] >= 0
    assert rows["distgrad"]["messages_per_step"] > 0
    assert rows["distgrad"]["ratio_to_numpy"] > 0
    if HAS_TORCH:
        assert rows["distgrad"]["ratio_to_torch_rpc"] > 0
    else:
        assert rows["torch_rpc"]["median_ms"] is None and "not installed" in rows["torch_rpc"]["status"]
    assert "distgrad_sharded" in rows  # measured, or says why not
    # One training, several systems: after the same number of steps the losses agree.
    assert rows["check"]["final_loss_rel_spread"] < 1e-4, rows["check"]
    for key in ("cpu", "cores", "numpy", "torch", "ray"):
        assert key in data["machine"]
    assert data["date"]
    assert _bench_children() == []


def test_numpy_floor_matches_torch():
    torch_mod = pytest.importorskip("torch")  # noqa: F841
    from distgrad.bench_torch_rpc import TorchLocal

    p = bench.make_params(8, 16)
    ours, theirs = bench.NumpyFloor(), TorchLocal()
    ours.setup(p)
    theirs.setup(p)
    for _ in range(3):
        assert ours.step() == pytest.approx(theirs.step(), rel=1e-5)


def test_scaling_and_profile_modes(capsys):
    result = bench.main(["--scaling", "--scaling-workers", "1,2", "--scaling-depths", "4",
                         "--profile", "--profile-top", "5", "--steps", "2", "--warmup", "1",
                         "--backend", "local", "--quiet"])
    rows = result["scaling"]
    assert [(r["workers"], r["depth"]) for r in rows] == [(1, 4), (2, 4)]
    for r in rows:
        assert r["graph_nodes"] >= 4 and r["messages_per_step"] > 0 and r["us_per_node"] > 0
    assert "cumulative" in result["profile"]["by_cumulative"]
    assert "Scaling at S" in capsys.readouterr().out
