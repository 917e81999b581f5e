"""The profiler over workers: each worker's runs, ops, sends, receives and idle time on one
timeline with the driver's events, in the table and in the Chrome trace."""
from __future__ import annotations

import json

import numpy as np

import distgrad as dg
import distgrad.distributed as dist


def _step(seed=0):
    """One model-parallel training step: a layer on each worker, the loss on worker 1."""
    dg.manual_seed(seed)
    l1 = dg.nn.Linear(8, 16).to("worker:0")
    l2 = dg.nn.Linear(16, 3).to("worker:1")
    opt = dg.optim.SGD(list(l1.parameters()) + list(l2.parameters()), lr=0.1)
    x, y = dg.randn(4, 8), dg.tensor([0, 2, 1, 0])

    def step():
        with dg.profiler.record_function("forward"):
            h = l1(x.to("worker:0")).relu()
            loss = dg.nn.functional.cross_entropy(l2(h.to("worker:1")), y.to("worker:1"))
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss.item(), l1.weight.detach().cpu().numpy()

    return step


def test_profiled_step_gives_the_same_numbers(backend):
    plain = _step()()
    with dg.profiler.profile():
        profiled = _step()()
    assert plain[0] == profiled[0]
    np.testing.assert_array_equal(plain[1], profiled[1])


def test_each_worker_has_its_runs_ops_and_transfers(backend, tmp_path):
    step = _step()
    step()
    with dg.autograd.profiler.profile() as prof:
        step()
    keys = {e.key for e in prof.key_averages()}
    for w, other in (("worker:0", "worker:1"), ("worker:1", "worker:0")):
        assert f"{w} run" in keys
        assert f"{w} send to {other}" in keys and f"{w} recv from {other}" in keys
    assert "worker:0 aten::addmm" in keys and "worker:1 aten::log_softmax" in keys
    assert "forward" in keys and "autograd::engine::evaluate_function: AddmmBackward0" in keys
    # a worker's op is nested in the run that ran it
    ops = [e for e in prof.function_events if e.device != "cpu" and e.cat == "op"]
    assert ops and all(e.cpu_parent is not None and e.cpu_parent.cat == "run" for e in ops)

    path = tmp_path / "step.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in trace
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert names == {0: "driver", 1: "worker:0", 2: "worker:1"}
    for pid in (1, 2):
        cats = {e.get("cat") for e in trace if e["pid"] == pid and e["ph"] == "X"}
        assert {"run", "op", "send", "recv", "idle"} <= cats
        runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in trace
                      if e["pid"] == pid and e.get("cat") == "run")
        idle = sorted((e["ts"], e["ts"] + e["dur"]) for e in trace
                      if e["pid"] == pid and e.get("cat") == "idle")
        # idle time fills the gaps between runs, and never overlaps one
        assert all(ie <= rs + 1e-3 or ist >= re - 1e-3 for ist, ie in idle for rs, re in runs)
    starts = {e["id"] for e in trace if e["ph"] == "s"}
    ends = {e["id"] for e in trace if e["ph"] == "f"}
    assert starts and starts == ends  # every send has its receive


def test_workers_record_only_during_a_profile(backend):
    rt = dist.current()
    step = _step()
    with dg.profiler.profile() as first:
        step()
    step()  # not profiled: nothing kept for the next profile
    with dg.profiler.profile() as second:
        pass
    assert any(e.device != "cpu" for e in first.function_events)
    assert not any(e.device != "cpu" and e.cat == "op" for e in second.function_events)
    if rt.backend == "local":
        assert all(w.timeline is None for w in rt.endpoint.workers)


def test_workers_ops_record_their_input_shapes_and_memory(backend):
    step = _step()
    step()
    with dg.profiler.profile(record_shapes=True, profile_memory=True) as prof:
        step()
    addmm = [e for e in prof.key_averages(group_by_input_shape=True)
             if e.key == "worker:0 aten::addmm"]
    # (torch lists beta and alpha, numbers, as [])
    assert [str(e.input_shapes) for e in addmm] == ["[[16], [4, 8], [8, 16], [], []]"]
    assert addmm[0].self_cpu_memory_usage == 4 * 16 * 4  # its float32 result's bytes
    views = [e for e in prof.function_events if e.key == "worker:0 aten::t"]
    assert views and all(e.self_cpu_memory_usage == 0 for e in views)
    with dg.profiler.profile() as prof:  # (without the options: neither, as torch)
        step()
    assert all(e.input_shapes == [] and e.cpu_memory_usage == 0 for e in prof.function_events)
