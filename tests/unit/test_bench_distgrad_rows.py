"""The bench's distgrad_pp and distgrad_pp_zb rows (benchmarks/distgrad_parallel.py), written
against SPEC section 5's `distgrad.distributed.pipelining` before it exists: with the API
missing the row says why; with a stand-in that has SPEC's names and PyTorch's semantics
(micro-batches run one after the other, each loss's gradient scaled by 1/n) the row
trains the same model as the numpy floor. In-process backend, no Ray."""
from __future__ import annotations

import sys
import types

import pytest

import distgrad.distributed as dist
from distgrad.cli import import_benchmark

import_benchmark()  # puts this checkout's benchmarks/ on the path
from benchmarks import distgrad_parallel as par  # noqa: E402
from benchmarks.model import make_params  # noqa: E402
from benchmarks.systems import NumpyFloor  # noqa: E402


class _Stage:
    def __init__(self, submodule, stage_index, num_stages, device):
        self.submod, self.stage_index, self.num_stages, self.device = (
            submodule, stage_index, num_stages, device)


class _Schedule:
    """SPEC's schedule signature; the micro-batches run in turn (no overlap): the same
    gradients as any schedule's."""

    def __init__(self, stages, n_microbatches, loss_fn):
        assert [s.stage_index for s in stages] == list(range(len(stages)))
        self.stages, self.n, self.loss_fn = stages, n_microbatches, loss_fn

    def step(self, *args, target=None, losses=None):
        (x,) = args
        for xm, tm in zip(x.chunk(self.n, 0), target.chunk(self.n, 0)):
            h = xm
            for s in self.stages:
                h = s.submod(h.to(s.device))
            loss = self.loss_fn(h, tm)
            (loss / self.n).backward()
            if losses is not None:
                losses.append(loss.detach())


def _stand_in() -> types.ModuleType:
    mod = types.ModuleType("distgrad.distributed.pipelining")
    mod.PipelineStage = _Stage
    mod.Schedule1F1B = type("Schedule1F1B", (_Schedule,), {})
    mod.ScheduleZeroBubble = type("ScheduleZeroBubble", (_Schedule,), {})
    return mod


@pytest.fixture
def local_runtime():
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="local")
    yield
    dist.shutdown()


def test_missing_pipelining_reads_not_available(monkeypatch):
    monkeypatch.setitem(sys.modules, "distgrad.distributed.pipelining", None)  # import fails
    why = par.pp_available()
    assert why.startswith("not available: ") and "distgrad.distributed.pipelining" in why


@pytest.mark.parametrize("row", [par.DistgradPP, par.DistgradPPZeroBubble])
def test_pipeline_row_trains_as_the_numpy_floor(monkeypatch, local_runtime, row):
    monkeypatch.setitem(sys.modules, "distgrad.distributed.pipelining", _stand_in())
    assert par.pp_available() is None
    p = make_params(8, 16)
    ours, floor = row(), NumpyFloor()
    ours.setup(p)
    floor.setup(p)
    assert type(ours.schedule).__name__ == row.schedule_name
    assert [s.device for s in ours.stages] == ["worker:0", "worker:1"]
    for _ in range(3):
        assert ours.step() == pytest.approx(floor.step(), rel=1e-5)
    ours.sync()
    ours.teardown()
