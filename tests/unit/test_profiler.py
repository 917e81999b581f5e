"""The profiler against torch's: the events recorded for the same program (names and
counts), the table's layout, record_function, torch.profiler's entry point, the Chrome
trace; and that nothing is recorded outside a profile."""
from __future__ import annotations

import gzip
import json
import re

import numpy as np
import pytest
import torch

import distgrad
from distgrad.autograd import record

_TIME = re.compile(r"\d+\.\d+(%|us|ms|s)")


def _program(T, steps=4):
    """A few elementwise steps, a labelled reduction, and a backward."""
    x = T.tensor(np.linspace(0.5, 1.5, 6).reshape(2, 3), dtype=T.float32, requires_grad=True)
    y = T.tensor(np.linspace(-1.0, 1.0, 6).reshape(2, 3), dtype=T.float32, requires_grad=True)
    z = T.ones(2, 3, requires_grad=True)
    with T.autograd.profiler.profile() as prof:
        for _ in range(steps):
            z = (z / x) * y
        with T.autograd.profiler.record_function("reduce"):
            s = z.sum()
        s.backward()
    return prof


def _counts(prof, keep):
    return {e.key: e.count for e in prof.key_averages() if keep(e.key)}


def test_forward_ops_are_counted_as_torch_counts_them():
    def forward_only(T):
        x = T.ones(2, 3) * 2
        with T.autograd.profiler.profile() as prof:
            z = x
            for _ in range(7):
                z = (z / x) * x
        return _counts(prof, lambda k: True)

    assert forward_only(distgrad) == forward_only(torch) == {"aten::div": 7, "aten::mul": 7}


def test_graph_nodes_and_labels_are_counted_as_torch_counts_them():
    def wanted(key):
        return key.startswith("autograd::engine::evaluate_function") or key in (
            "reduce", "aten::sum")

    assert _counts(_program(distgrad), wanted) == _counts(_program(torch), wanted)


def test_table_is_laid_out_as_torch_lays_it_out():
    def layout(T):
        x, two = T.ones(2, 3), T.ones(2, 3) * 2  # tensors: torch records no number conversion
        with T.autograd.profiler.profile() as prof:
            for _ in range(3):
                x = (x / two) * two
        table = prof.key_averages().table(sort_by="count")
        lines = table.splitlines()
        # dashes and headers exactly; each row as its cells, times and shares as "T"
        return (lines[:3], [_TIME.sub("T", ln).split() for ln in lines[3:]],
                {len(ln) for ln in lines[:-1]}, table.endswith("\n"))

    assert layout(distgrad) == layout(torch)


@pytest.mark.parametrize("sort_by", ["self_cpu_time_total", "cpu_time_total", "cpu_time", "count",
                                     "cuda_time_total"])
def test_table_rows_sorted_and_limited(sort_by):
    prof = _program(distgrad)
    table = prof.key_averages().table(sort_by=sort_by, row_limit=3)
    rows = table.splitlines()[3:-2]
    assert len(rows) == 3
    top = sorted(prof.key_averages(), key=lambda e: getattr(e, sort_by), reverse=True)[:3]
    assert [r.split()[0] for r in rows] == [e.key.split()[0] for e in top]
    assert table.splitlines()[-1].startswith("Self CPU time total: ")


def test_record_function_encloses_what_ran_inside_it():
    prof = _program(distgrad)
    (block,) = [e for e in prof.function_events if e.name == "reduce"]
    assert [c.name for c in block.cpu_children] == ["aten::sum"]
    assert block.cpu_time_total >= block.cpu_children[0].cpu_time_total
    assert block.self_cpu_time_total == pytest.approx(
        block.cpu_time_total - block.cpu_children[0].cpu_time_total)


def test_record_function_as_a_decorator_and_outside_a_profile():
    @distgrad.autograd.profiler.record_function("double")
    def double(t):
        return t * 2

    x = distgrad.ones(2)
    double(x)  # no profile: nothing recorded, no error
    with distgrad.autograd.profiler.profile() as prof:
        double(x)
    assert _counts(prof, lambda k: True) == {"double": 1, "aten::mul": 1}


def test_torch_profiler_entry_point():
    def run(T):
        seen = []
        prof = T.profiler.profile(activities=[T.profiler.ProfilerActivity.CPU],
                                  on_trace_ready=seen.append)
        prof.start()
        with T.profiler.record_function("step"):
            (T.ones(3) * 2).sum()
        prof.stop()
        return _counts(prof, lambda k: k in ("step", "aten::mul", "aten::sum")), seen == [prof]

    assert run(distgrad) == run(torch)


def test_reading_before_the_start_as_torch():
    def read(T):
        try:
            from_profiler = T.profiler.profile().key_averages()
        except AssertionError as e:
            from_profiler = str(e)
        return list(T.autograd.profiler.profile().key_averages()), from_profiler

    assert read(distgrad) == read(torch) == (
        [], "Profiler must be initialized before getting key averages")


def test_disabled_profile_and_off_by_default():
    assert record.profiling is None
    with distgrad.autograd.profiler.profile(enabled=False) as prof:
        assert record.profiling is None
        distgrad.ones(2) * 2
    assert prof.function_events is None
    with distgrad.autograd.profiler.profile():
        assert record.profiling is not None
    assert record.profiling is None


def test_chrome_trace_of_the_driver(tmp_path):
    prof = _program(distgrad)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    spans = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(spans) == len(prof.function_events)
    assert {e["name"] for e in spans} == {e.name for e in prof.function_events}
    assert all(e["pid"] == 0 and e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    names = {e["pid"]: e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert names == {0: "driver"}


def test_optimizer_steps_are_labelled_as_torch_labels_them():
    def run(T):
        w = T.ones(3, requires_grad=True)
        opts = [T.optim.SGD([w], lr=0.1, momentum=0.9), T.optim.Adam([w]), T.optim.AdamW([w])]
        with T.autograd.profiler.profile() as prof:
            for opt in opts:
                (w * w).sum().backward()
                opt.step()
                opt.zero_grad()
        return _counts(prof, lambda k: k.startswith("Optimizer."))

    assert run(distgrad) == run(torch)


def test_an_ops_warning_names_the_callers_line_outside_a_profile():
    """The profiler's hook adds no frame to an op call: a warning an op's rule raises with a
    stacklevel still points at the user's line."""
    import warnings

    x = distgrad.ones(1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x.var()
    assert [w.filename for w in caught] == [__file__]


def _shapes_profile(T, **kwargs):
    """A Linear's forward and backward profiled with torch.profiler's options `kwargs`."""
    T.manual_seed(0)
    model = T.nn.Sequential(T.nn.Linear(8, 16), T.nn.ReLU(), T.nn.Linear(16, 4))
    x = T.randn(5, 8)
    with T.profiler.profile(activities=[T.profiler.ProfilerActivity.CPU], **kwargs) as prof:
        model(x).sum().backward()
    return prof


def _tensor_shapes(shapes):
    return [s for s in shapes if s]  # (torch lists a number argument as [])


def test_record_shapes_groups_ops_by_their_inputs_shapes_as_torch():
    def grouped(T):
        prof = _shapes_profile(T, record_shapes=True)
        return sorted((e.key, str(_tensor_shapes(e.input_shapes)), e.count)
                      for e in prof.key_averages(group_by_input_shape=True)
                      if e.key in ("aten::addmm", "aten::mm", "aten::relu"))

    assert grouped(distgrad) == grouped(torch)
    assert ("aten::addmm", "[[16], [5, 8], [8, 16]]", 1) in grouped(distgrad)


@pytest.mark.parametrize("record_shapes,by_shape", [(True, True), (True, False), (False, True)])
def test_input_shapes_column_as_torch(record_shapes, by_shape):
    def header_and_shapes(T):
        prof = _shapes_profile(T, record_shapes=record_shapes)
        averages = prof.key_averages(group_by_input_shape=by_shape)
        relu = [e for e in averages if e.key == "aten::relu"][0]
        heads = averages.table(row_limit=2).splitlines()[1].split("  ")
        return [h.strip() for h in heads if h.strip()], _tensor_shapes(relu.input_shapes)

    assert header_and_shapes(distgrad) == header_and_shapes(torch)


def test_profile_memory_counts_what_each_op_allocates_as_torch():
    def memory(T):
        T.manual_seed(0)
        model = T.nn.Sequential(T.nn.Linear(8, 16), T.nn.ReLU(), T.nn.Linear(16, 4))
        x, two = T.randn(5, 8), T.full((5, 4), 2.0)
        with T.profiler.profile(activities=[T.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
            y = model(x)
            y.t()  # a view: nothing allocated
            y.mul_(two)  # in place: nothing allocated
            T.cat([y, y])
        averages = prof.key_averages()
        used = {e.key: (e.cpu_memory_usage, e.self_cpu_memory_usage) for e in averages
                if e.key in ("aten::addmm", "aten::t", "aten::mul_", "aten::cat")}
        heads = averages.table(sort_by="self_cpu_memory_usage", row_limit=1).splitlines()[1]
        return used, [h.strip() for h in heads.split("  ") if h.strip()]

    assert memory(distgrad) == memory(torch)
    assert memory(distgrad)[0]["aten::addmm"] == (5 * 16 * 4 + 5 * 4 * 4,) * 2


def test_in_place_ops_are_recorded_under_their_own_names_as_torch():
    def in_place(T):
        x = T.ones(3, 4)
        with T.profiler.profile(activities=[T.profiler.ProfilerActivity.CPU]) as prof:
            x.add_(1)
            x.mul_(2)
            x.clamp_(max=3)
        return _counts(prof, lambda k: k in ("aten::add_", "aten::mul_", "aten::clamp_",
                                             "aten::add", "aten::mul", "aten::clamp"))

    assert in_place(distgrad) == in_place(torch) == {"aten::add_": 1, "aten::mul_": 1,
                                                      "aten::clamp_": 1}


def _top_events(T, program, **options):
    """The events of `program(T, x, y, more)` that no other encloses: name, input shapes
    and the bytes each allocated itself (a free negative). (`more`: operands made before
    the profile, whose making torch would record.)"""
    x = T.arange(12.0).reshape(3, 4) / 10
    y = T.full((3, 4), 2.0)
    more = dict(rows=T.tensor([0, 2]), mask=T.tensor([True, False, True, False]),
                w=T.ones(5, 4), b=T.ones(5), classes=T.tensor([0, 1, 3]))
    with T.profiler.profile(activities=[T.profiler.ProfilerActivity.CPU], **options) as prof:
        program(T, x, y, more)
    return [(e.name, e.input_shapes, e.self_cpu_memory_usage) for e in prof.events()
            if e.cpu_parent is None]


_WRITES = {  # (no number operands: torch's wrapped numbers add memory events of their own)
    "zero_": lambda T, x, y, m: x.zero_(),
    "fill_": lambda T, x, y, m: x.fill_(1.5),
    "copy_": lambda T, x, y, m: x.copy_(y),
    "add_ with alpha": lambda T, x, y, m: x.add_(y, alpha=2),
    "div_ with a rounding mode": lambda T, x, y, m: x.div_(y, rounding_mode="floor"),
    "index_put_": lambda T, x, y, m: x.index_put_((m["rows"],), y[:2]),
    "masked_fill_": lambda T, x, y, m: x.masked_fill_(m["mask"], 0.5),
    "masked_scatter_": lambda T, x, y, m: x.masked_scatter_(m["mask"], y),
    "clamp_ by min": lambda T, x, y, m: x.clamp_(min=0.5),
    "relu_": lambda T, x, y, m: x.relu_(),
    "uniform_ and normal_": lambda T, x, y, m: (x.uniform_(), y.normal_()),
    "tril_ and cumsum_": lambda T, x, y, m: (x.tril_(), y.cumsum_(0)),
    "fill_diagonal_": lambda T, x, y, m: x.fill_diagonal_(0.0),
    "resize_": lambda T, x, y, m: x.resize_(12),
    "detach_ and detach": lambda T, x, y, m: (x.detach_(), y.detach()),
}


@pytest.mark.parametrize("write", sorted(_WRITES))
def test_in_place_ops_made_of_others_are_recorded_as_torchs_own(write):
    # (each was the out-of-place op it is computed by, aten::zero allocating its result,
    # or nothing; its numbers were not listed)
    def events(T):
        return _top_events(T, _WRITES[write], record_shapes=True, profile_memory=True)

    assert events(distgrad) == events(torch)


_CALLS = {
    "add a number": lambda T, x, y, m: x + 1,
    "mul": lambda T, x, y, m: x * y,
    "sum and sum over a dim": lambda T, x, y, m: (x.sum(), x.sum(1), x.mean(0, keepdim=True)),
    "view and flatten": lambda T, x, y, m: (x.view(12), x.view(4, 3), x.flatten()),
    "linear": lambda T, x, y, m: (T.nn.functional.linear(x, m["w"], m["b"]),
                                  T.nn.functional.linear(x, m["w"])),
    "addmm and mm": lambda T, x, y, m: (T.addmm(m["b"], x, m["w"].t()), T.mm(x, y.t())),
    "matmul": lambda T, x, y, m: T.matmul(x, y.t()),
    "relu and softmax": lambda T, x, y, m: (T.relu(x), T.softmax(x, 1), x.log_softmax(0)),
    "mse_loss": lambda T, x, y, m: T.nn.functional.mse_loss(x, y),
    "cat and max over a dim": lambda T, x, y, m: (T.cat([x, y]), x.max(1)),
    "views": lambda T, x, y, m: (x.t(), x.transpose(0, 1), x[0], x[:, 1:], x.expand(2, 3, 4)),
    # (made of other ops in distgrad, or of none that was recorded: each one op in torch)
    "factories": lambda T, x, y, m: (T.zeros(2, 3), T.ones((2,)), T.empty(3), T.randn(2, 2),
                                     T.rand(4), T.full((2,), 1.5)),
    "factories like a tensor": lambda T, x, y, m: (T.zeros_like(x), T.ones_like(x),
                                                   T.empty_like(x), T.rand_like(x),
                                                   T.randn_like(x), T.full_like(x, 2.0)),
    "a number minus a tensor, and item": lambda T, x, y, m: (1 - x, x.sum().item()),
    "dropout, gelu and layer_norm": lambda T, x, y, m: (
        T.nn.functional.dropout(x, 0.5), T.nn.functional.gelu(x),
        T.nn.functional.layer_norm(x, (4,)), T.nn.functional.layer_norm(y, (4,), m["w"][0])),
    "cross_entropy": lambda T, x, y, m: (T.nn.functional.cross_entropy(x, m["classes"]),
                                         T.nn.CrossEntropyLoss()(y, m["classes"])),
    "norms": lambda T, x, y, m: (x.norm(), T.norm(y), x.norm(p=1), T.linalg.vector_norm(x)),
}


@pytest.mark.parametrize("call", sorted(_CALLS))
def test_record_shapes_lists_each_argument_as_torch(call):
    # torch lists every argument of the op's schema: a tensor's shape, [] for a number,
    # a list of tensors, an option or an argument left to its default
    def events(T):
        return [(name, shapes) for name, shapes, _ in
                _top_events(T, _CALLS[call], record_shapes=True)]

    assert events(distgrad) == events(torch)


def test_profile_memory_records_frees_as_torch():
    # memory an op allocated while the profile records, freed outside any op: a [memory]
    # event of its bytes, negative (in the table too)
    def program(T, x, y, more):
        a = x * y
        b = a + y
        del a
        (b * b).sum()
        del b
        T.mm(x, y.t()).sum()

    def recorded(T):
        events = _top_events(T, program, profile_memory=True)
        x = T.ones(2)
        with T.profiler.profile(profile_memory=True) as prof:
            for _ in range(3):
                x * x
        freed = [e for e in prof.key_averages() if e.key == "[memory]"]
        row = [ln.split() for ln in prof.key_averages().table().splitlines()
               if ln.strip().startswith("[memory]")]
        return (events, [(e.count, e.cpu_memory_usage, e.self_cpu_memory_usage) for e in freed],
                row)

    assert recorded(distgrad) == recorded(torch)
    assert recorded(distgrad)[1] == [(3, -24, -24)]


def test_schedule_actions_as_torch():
    def actions(T):
        cycles = T.profiler.schedule(wait=1, warmup=1, active=2, repeat=2, skip_first=1)
        no_first_wait = T.profiler.schedule(wait=2, warmup=1, active=1, skip_first_wait=1)
        return ([cycles(i).name for i in range(12)], [no_first_wait(i).name for i in range(9)])

    assert actions(distgrad) == actions(torch)


def test_schedule_arguments_checked_as_torch():
    def refused(T):
        with pytest.raises(AssertionError) as e:
            T.profiler.schedule(wait=-1, warmup=0, active=0)
        with pytest.warns(UserWarning, match="Profiler won't be using warmup"):
            T.profiler.schedule(wait=1, warmup=0, active=1)
        return str(e.value)

    assert refused(distgrad) == refused(torch)


def test_scheduled_profile_records_the_active_steps_of_each_cycle_as_torch():
    def cycles(T, **kwargs):
        seen = []

        def ready(prof):
            seen.append((prof.step_num, _counts(prof, lambda k: k in ("aten::mul",
                                                                      "ProfilerStep*"))))
        x = T.ones(3)
        with T.profiler.profile(activities=[T.profiler.ProfilerActivity.CPU],
                                on_trace_ready=ready, **kwargs) as prof:
            for i in range(10):
                for _ in range(i + 1):  # (step i: i + 1 multiplications)
                    x = x * 1.0
                prof.step()
        return seen

    with pytest.warns(UserWarning, match="Profiler clears events at the end of each cycle"):
        scheduled = cycles(distgrad, schedule=distgrad.profiler.schedule(
            wait=1, warmup=1, active=2, repeat=2))
    assert scheduled == [(4, {"ProfilerStep*": 2, "aten::mul": 7}),
                         (8, {"ProfilerStep*": 2, "aten::mul": 15})]
    with pytest.warns(UserWarning, match="Profiler clears events at the end of each cycle"):
        assert scheduled == cycles(torch, schedule=torch.profiler.schedule(
            wait=1, warmup=1, active=2, repeat=2))
    assert cycles(distgrad) == cycles(torch) == [(10, {"aten::mul": 55})]  # (ready at stop)


def test_tensorboard_trace_handler_writes_each_cycles_trace(tmp_path):
    x = distgrad.ones(3)
    with distgrad.profiler.profile(
            schedule=distgrad.profiler.schedule(wait=0, warmup=1, active=1),
            on_trace_ready=distgrad.profiler.tensorboard_trace_handler(
                str(tmp_path), worker_name="w", use_gzip=True)) as prof:
        for _ in range(4):
            x = x * 2.0
            prof.step()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and all(re.fullmatch(r"w\.\d+\.pt\.trace\.json\.gz", f) for f in files)
    with gzip.open(tmp_path / files[0], "rt") as f:
        names = {e["name"] for e in json.load(f)["traceEvents"]}
    assert {"ProfilerStep#1", "aten::mul"} <= names
