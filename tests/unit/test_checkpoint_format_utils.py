"""distgrad.distributed.checkpoint.format_utils against torch's: a checkpoint directory
converted to one save file nests its values as torch's conversion does (dict keys as
strings, lists and tuples kept, tensors whole and without grad), and a save file goes
back to a checkpoint or is loaded directly, into tensors sharded over workers too."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.distributed.checkpoint as tdcp
import torch.distributed.checkpoint.format_utils as tfu

import distgrad as dg
import distgrad.distributed as dist
import distgrad.distributed.checkpoint as dcp
import distgrad.distributed.checkpoint.format_utils as fu


def _state(lib):
    rng = np.random.default_rng(3)
    m = lib.nn.Linear(3, 2)
    with lib.no_grad():
        for p in m.parameters():
            p.copy_(lib.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    opt = lib.optim.Adam(m.parameters(), lr=0.01)
    m(lib.ones(4, 3)).sum().backward()
    opt.step()
    return {"model": m.state_dict(), "optim": opt.state_dict(), "epoch": 3,
            "names": ["a", "b"], "pair": (lib.arange(3.0), 5)}


def _structure(value):
    """Types, keys and values, tensors as (dtype, requires_grad, values)."""
    if isinstance(value, dict):
        return {k: _structure(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_structure(v) for v in value])
    if hasattr(value, "detach"):
        return (str(value.dtype).split(".")[-1], value.requires_grad,
                value.detach().numpy().round(6).tolist())
    return value


def test_a_checkpoint_made_one_file_nests_as_torchs_conversion(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tdcp.save(_state(torch), checkpoint_id=str(tmp_path / "t"), no_dist=True)
    tfu.dcp_to_torch_save(tmp_path / "t", tmp_path / "t.pt")
    dcp.save(_state(dg), checkpoint_id=str(tmp_path / "d"))
    fu.dcp_to_torch_save(tmp_path / "d", tmp_path / "d.pt")
    want = torch.load(tmp_path / "t.pt", weights_only=False)
    got = dg.load(tmp_path / "d.pt", weights_only=False)
    assert _structure(got) == _structure(want)


@pytest.fixture
def workers():
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="local")
    yield 2
    dist.shutdown()


def _sharded(values):
    return dist.shard(dg.from_numpy(values), 0, ["worker:0", "worker:1"])


def test_sharded_tensors_through_a_file_and_back(workers, tmp_path):
    values = np.arange(20, dtype=np.float32).reshape(5, 4)
    dcp.save({"w": _sharded(values), "step": 7}, checkpoint_id=str(tmp_path / "a"))
    fu.dcp_to_torch_save(str(tmp_path / "a"), str(tmp_path / "a.pt"))
    whole = dg.load(str(tmp_path / "a.pt"))
    assert whole["step"] == 7 and whole["w"].device.type == "cpu"
    np.testing.assert_array_equal(whole["w"].numpy(), values)

    fu.torch_save_to_dcp(str(tmp_path / "a.pt"), str(tmp_path / "b"))
    target = {"w": _sharded(np.zeros((5, 4), np.float32)), "step": 0}
    dcp.load(target, checkpoint_id=str(tmp_path / "b"))
    assert target["step"] == 7 and target["w"]._sharding is not None
    np.testing.assert_array_equal(target["w"].full_tensor().numpy(), values)

    direct = {"w": _sharded(np.zeros((5, 4), np.float32)), "step": 0}
    dcp.load(direct, checkpoint_id=str(tmp_path / "a.pt"),
             storage_reader=fu.BroadcastingTorchSaveReader(),
             planner=fu.DynamicMetaLoadPlanner())
    assert direct["step"] == 7
    np.testing.assert_array_equal(direct["w"].full_tensor().numpy(), values)
    with pytest.raises(RuntimeError, match="Missing key in checkpoint state_dict: other."):
        dcp.load({"other": dg.zeros(2)}, checkpoint_id=str(tmp_path / "a.pt"),
                 storage_reader=fu.BroadcastingTorchSaveReader())


def test_the_command_line_converts_as_torchs(tmp_path, capsys):
    dg.save({"x": dg.ones(2)}, str(tmp_path / "x.pt"))
    fu._main(["torch_to_dcp", str(tmp_path / "x.pt"), str(tmp_path / "c")])
    fu._main(["dcp_to_torch", str(tmp_path / "nowhere"), str(tmp_path / "y.pt")])
    out = capsys.readouterr().out.splitlines()
    assert out == [f"Converting checkpoint from {tmp_path / 'x.pt'} to {tmp_path / 'c'} using "
                   "method: 'torch_to_dcp'",
                   f"Converting checkpoint from {tmp_path / 'nowhere'} to {tmp_path / 'y.pt'} "
                   "using method: 'dcp_to_torch'",
                   f"No checkpoint found at {tmp_path / 'nowhere'}. Skipping conversion."]
    got = {"x": dg.zeros(2)}
    dcp.load(got, checkpoint_id=str(tmp_path / "c"))
    assert got["x"].tolist() == [1.0, 1.0]
