"""`distgrad.autograd.profiler`: what the driver and every worker did, and when.

    with distgrad.autograd.profiler.profile() as prof:
        with distgrad.autograd.profiler.record_function("step"):
            loss = model(x).sum()
            loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total"))
    prof.export_chrome_trace("step.json")      # open in https://ui.perfetto.dev

The driver records each op it dispatches (`aten::mul`: for a tensor on a worker, the time to
queue it), each graph node the engine runs (`autograd::engine::evaluate_function:
MulBackward0`) and each `record_function` block. Every worker records its runs, the ops in
them, its sends and its receives (a receive lasts from when the run asks for the tensor
to when it has it); the gaps between its runs are its idle time. Workers stamp events with
their own clock; the offset to the driver's is measured when profiling starts (half a
round trip), so one timeline holds them all.

`key_averages().table()` prints torch's table, a worker's events named after it
(`worker:0 aten::mm`, `worker:1 recv from worker:0`). `export_chrome_trace(path)` writes
the Chrome trace format (Perfetto, chrome://tracing): the driver's track, one track per
worker with its runs, ops, sends, receives and idle time, and an arrow from each send to
its receive.

Recording is off by default and costs one test of a module global per op when off; the
workers record only between a profile's start and its end.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import json
import threading
import time
import warnings
import weakref

from ..storage import array_root
from . import record


class record_function:
    """Label a block (or a function, as a decorator) in the profile: `with
    record_function("forward"): ...`. Outside a profile it does nothing."""

    def __init__(self, name: str, args: str | None = None):
        self.name = name
        self.args = args
        self._start = None

    def __enter__(self):
        if record.profiling is not None:
            self._start = time.time_ns()
        return self

    def __exit__(self, *exc):
        rec = record.profiling
        if rec is not None and self._start is not None:
            rec.add(self.name, self._start, time.time_ns(), "user_annotation")
        self._start = None
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with record_function(self.name, self.args):
                return fn(*args, **kwargs)

        return wrapper


class Recorder:
    """The driver's events while a profile is on: (name, start ns, end ns, thread, category,
    input shapes, bytes allocated); `shapes` and `memory`: whether ops record them
    (record_shapes, profile_memory)."""

    __slots__ = ("events", "_passing", "_inside", "shapes", "memory")

    def __init__(self, shapes: bool = False, memory: bool = False):
        self.events = []
        self._passing = set()  # threads whose next op call is the one being timed
        self._inside = set()  # threads inside an op timed as one (`one_op`)
        self.shapes = shapes
        self.memory = memory

    def pass_once(self) -> None:
        self._passing.add(threading.get_ident())

    def passes(self) -> bool:
        """Is this call the one `record._recorded` is timing, or inside a `one_op` (so not
        to be timed again)?"""
        if not self._passing and not self._inside:
            return False
        tid = threading.get_ident()
        if tid in self._inside:
            return True
        if tid in self._passing:
            self._passing.discard(tid)
            return True
        return False

    @contextlib.contextmanager
    def one_op(self, name: str, inputs, made=None):
        """An op made of others (an in-place one: computed, then written into inputs[0])
        timed as one event, as torch's kernel is: the ops it calls are not recorded. An op
        that makes a new tensor appends it to the list it yields (its memory is the op's)."""
        tid = threading.get_ident()
        if tid in self._inside:
            yield []
            return
        shapes = self.shapes_of(name, inputs)  # (before the op: resize_ changes them)
        start = time.time_ns()
        self._inside.add(tid)
        made = []
        try:
            yield made
        finally:
            self._inside.discard(tid)
            self.add(name, start, time.time_ns(), inputs=inputs,
                     outputs=made[0] if made else inputs[0], shapes=shapes)

    @contextlib.contextmanager
    def enclosing(self, name: str, inputs):
        """An op that torch records around the ops it calls (aten::linear around aten::t
        and aten::addmm): its event encloses theirs, and allocates nothing itself."""
        start = time.time_ns()
        try:
            yield
        finally:
            self.add(name, start, time.time_ns(), inputs=inputs)

    def shapes_of(self, name: str, inputs, attrs=None):
        return input_shapes(name, inputs, attrs or {}) if self.shapes else ()

    def add(self, name: str, start: int, end: int, cat: str = "cpu_op", inputs=(),
            outputs=None, attrs=None, shapes=None) -> None:
        """An event; an op's with its `inputs`' shapes (its `attrs` tell torch's overload;
        or `shapes` as they were before it) and the driver memory its `outputs` allocated,
        when the profile records them."""
        if shapes is None:
            shapes = self.shapes_of(name, inputs, attrs)
        made = self.allocated(inputs, outputs) if self.memory and outputs is not None else 0
        self.events.append((name, start, end, threading.get_ident(), cat, shapes, made))

    def allocated(self, inputs, outputs) -> int:
        """The bytes of driver memory an op's results took: none for a view, an alias or an
        in-place result (memory an input has already). Each new memory's free is recorded
        when it comes while the profile still records (`freed`)."""
        outs = outputs if isinstance(outputs, tuple) else (outputs,)
        held = [x._storage for x in inputs if hasattr(x, "_storage")]
        total = 0
        for t in outs:
            if hasattr(t, "_storage") and t.device_str == "cpu" \
                    and not any(t._storage.same_memory(m) for m in held):
                nbytes = t.numel() * t.element_size()
                total += nbytes
                memory = array_root(t._value)
                if nbytes:
                    weakref.finalize(memory, self.freed, nbytes).atexit = False
        return total

    def freed(self, nbytes: int) -> None:
        """torch's `[memory]` event of memory freed while the profile records (its bytes
        negative); one that comes inside an op's run counts as that op's own."""
        if record.profiling is self:
            now = time.time_ns()
            self.events.append(("[memory]", now, now, threading.get_ident(), _FREED, (),
                                -nbytes))


_FREED = "cpu_instant_event"  # (the category of torch's memory events)


# torch's schema's number of arguments of each op whose record lists more than its tensors
# (or for which the overload, told by the op's attrs, decides); an argument that is no
# tensor is listed as []
_ARGUMENTS = {
    "aten::add": 3, "aten::sub": 3, "aten::add_": 3, "aten::sub_": 3, "aten::addmm": 5,
    "aten::addmm_": 5, "aten::addcmul_": 4, "aten::addcdiv_": 4, "aten::addcmul": 4,
    "aten::addcdiv": 4, "aten::softmax": 3, "aten::log_softmax": 3, "aten::mse_loss": 3,
    "aten::clamp": 3, "aten::clamp_": 3, "aten::view": 2, "aten::reshape": 2,
    "aten::transpose": 3, "aten::select": 3, "aten::slice": 5, "aten::unsqueeze": 2,
    "aten::permute": 2, "aten::expand": 3, "aten::flatten": 3, "aten::clone": 2,
    "aten::contiguous": 2, "aten::argmax": 3, "aten::argmin": 3, "aten::linear": 3,
    "aten::fill_": 2, "aten::copy_": 3, "aten::index_put_": 4, "aten::masked_fill_": 3,
    "aten::masked_scatter_": 3, "aten::uniform_": 4, "aten::normal_": 4,
    "aten::bernoulli_": 3, "aten::exponential_": 3, "aten::geometric_": 3,
    "aten::log_normal_": 4, "aten::cauchy_": 4, "aten::tril_": 2, "aten::triu_": 2,
    "aten::cumsum_": 3, "aten::cumprod_": 3, "aten::put_": 4, "aten::fill_diagonal_": 3,
    "aten::resize_": 3, "aten::unsqueeze_": 2, "aten::transpose_": 3, "aten::index_add_": 5,
    "aten::lerp_": 3, "aten::threshold_backward": 3, "aten::to": 5,
    "aten::zeros": 5, "aten::ones": 5, "aten::randn": 5, "aten::rand": 5, "aten::empty": 6,
    "aten::full": 6, "aten::zeros_like": 6, "aten::ones_like": 6, "aten::empty_like": 6,
    "aten::rand_like": 6, "aten::randn_like": 6, "aten::full_like": 7, "aten::rsub": 3,
    "aten::dropout": 3, "aten::layer_norm": 6, "aten::cross_entropy_loss": 6,
    "aten::linalg_vector_norm": 5, "aten::gelu": 2,
    # (the dim overloads take dim, keepdim and dtype; the others self and dtype)
    "aten::max": lambda attrs: 3 if "dim" in attrs else 1,
    "aten::min": lambda attrs: 3 if "dim" in attrs else 1,
    "aten::sum": lambda attrs: 4 if "dim" in attrs else 2,
    "aten::mean": lambda attrs: 4 if "dim" in attrs else 2,
    "aten::div_": lambda attrs: 3 if attrs.get("rounding_mode") else 2,
}


# ops whose tensors are one argument of torch's, a list (listed as []), then the dim
_TENSOR_LISTS = frozenset({"aten::cat", "aten::stack"})


def input_shapes(name: str, inputs, attrs: dict) -> list:
    """torch's `input_shapes` of an op: each argument of its schema in order, a tensor's
    shape as a list, [] for anything else (a number, a list, an argument left out)."""
    if name in _TENSOR_LISTS:
        return [[], []]
    shapes = [list(x.shape) if hasattr(x, "shape") else [] for x in inputs]
    count = _ARGUMENTS.get(name, 0)
    count = count(attrs) if callable(count) else count
    return shapes + [[] for _ in range(count - len(shapes))]


# ---- methods made of other ops (or of none), timed as one op while a profile records ------

# (torch records aten::zero_ where distgrad computes zeros and writes them: aten::zero;
# aten::view where distgrad reshapes; aten::detach where distgrad runs no op)
_TIMED_AS_ONE_OP = ("zero_", "fill_", "copy_", "index_put_", "masked_fill_", "masked_scatter_",
                   "uniform_", "normal_", "random_", "bernoulli_", "exponential_", "geometric_",
                   "log_normal_", "cauchy_", "tril_", "triu_", "cumsum_", "cumprod_", "put_",
                   "fill_diagonal_", "resize_", "set_", "detach_", "detach", "view", "flatten")


# (methods whose sizes, given one by one or as one list, are one argument of torch's)
_SIZES = frozenset({"view", "resize_"})


def _timed_as_one_op(name: str, method):
    aten = "aten::" + name
    sizes = name in _SIZES

    @functools.wraps(method)
    def timed(self, *args, **kwargs):
        rec = record.profiling
        if rec is None:
            return method(self, *args, **kwargs)
        given = (args if len(args) != 1 else args[0],) if sizes and args else args
        with rec.one_op(aten, (self, *given, *kwargs.values())):
            return method(self, *args, **kwargs)
    return timed


# Functions (module, name) and Tensor methods whose result torch's profile shows as one op
# of its own, under its name (its own ops inside, aten::empty and the like, are not shown):
# a factory that distgrad fills with aten::full, a dropout made of a mask and a product.
# "listed": the positional arguments are the first of torch's schema's (a factory's
# sizes are one list argument: none listed).
_MADE_AS_ONE_OP = {
    ("distgrad", "zeros"): ("aten::zeros", False), ("distgrad", "ones"): ("aten::ones", False),
    ("distgrad", "empty"): ("aten::empty", False), ("distgrad", "randn"): ("aten::randn", False),
    ("distgrad", "rand"): ("aten::rand", False),
    **{("distgrad", f"{kind}_like"): (f"aten::{kind}_like", True)
       for kind in ("zeros", "ones", "empty", "full", "rand", "randn")},
    ("distgrad.nn.functional", "dropout"): ("aten::dropout", True),
    ("distgrad.nn.functional", "layer_norm"): ("aten::layer_norm", True),
    ("distgrad.nn.functional", "cross_entropy"): ("aten::cross_entropy_loss", True),
    ("Tensor", "__rsub__"): ("aten::rsub", True), ("Tensor", "item"): ("aten::item", True),
    # (torch's norm of a tensor, and every vector norm, is linalg_vector_norm)
    ("Tensor", "norm"): ("aten::linalg_vector_norm", True),
    ("distgrad", "norm"): ("aten::linalg_vector_norm", True),
    ("distgrad.linalg", "vector_norm"): ("aten::linalg_vector_norm", True),
}


def _made_as_one_op(aten: str, listed: bool, fn):
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        rec = record.profiling
        if rec is None:
            return fn(*args, **kwargs)
        with rec.one_op(aten, args if listed else ()) as made:
            out = fn(*args, **kwargs)
            made.append(out)
            return out
    return timed


@contextlib.contextmanager
def _methods_timed_as_one_op():
    """Tensor's methods of `_TIMED_AS_ONE_OP`, and the functions and methods of
    `_MADE_AS_ONE_OP`, recorded under torch's names while a profile records (themselves
    the rest of the time: no frame added then)."""
    import importlib

    from ..tensor import Tensor

    patched = [(Tensor, name, Tensor.__dict__[name], _timed_as_one_op(name, Tensor.__dict__[name]))
               for name in _TIMED_AS_ONE_OP if name in Tensor.__dict__]
    for (where, name), (aten, listed) in _MADE_AS_ONE_OP.items():
        owner = Tensor if where == "Tensor" else importlib.import_module(where)
        fn = getattr(owner, name)
        patched.append((owner, name, fn, _made_as_one_op(aten, listed, fn)))
    for owner, name, _, timed in patched:
        setattr(owner, name, timed)
    try:
        yield
    finally:
        for owner, name, fn, _ in patched:
            setattr(owner, name, fn)


# ---- events and their table -------------------------------------------------------------------

class _NoDevice:
    """No accelerator time is recorded: code that sorts or reads by it gets 0, as torch
    gives on a machine without one."""

    cuda_time_total = self_cuda_time_total = 0.0
    device_time_total = self_device_time_total = 0.0
    cpu_memory_usage = self_cpu_memory_usage = 0


class FunctionEvent(_NoDevice):
    """One recorded interval. Times in microseconds from the profile's start, as torch's."""

    def __init__(self, id, name, device, thread, start_us, end_us, cat, input_shapes=(),
                 allocated=0):
        self.id = id
        self.trace_name = name
        if name.startswith("ProfilerStep#"):  # (torch's table adds the steps up as one)
            name = "ProfilerStep*"
        self.name = name
        self.key = name if device == "cpu" else f"{device} {name}"
        self.device = device
        self.thread = thread
        self.start_us = start_us
        self.end_us = end_us
        self.cat = cat
        self.input_shapes = list(input_shapes)
        self.self_cpu_memory_usage = allocated  # (bytes its own results took)
        self.count = 1
        self.cpu_parent = None
        self.cpu_children = []

    @property
    def cpu_time_total(self) -> float:
        return self.end_us - self.start_us

    @property
    def self_cpu_time_total(self) -> float:
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children)

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total

    @property
    def cpu_memory_usage(self) -> int:
        """Bytes allocated inside it: its own results' and those of what ran inside it."""
        return self.self_cpu_memory_usage + sum(c.cpu_memory_usage for c in self.cpu_children)

    def __repr__(self) -> str:
        return (f"<FunctionEvent id={self.id} name={self.name} device={self.device} "
                f"cpu_time_total={self.cpu_time_total:.3f}us>")


class FunctionEventAvg(_NoDevice):
    """The events of one name added up (`key_averages()`)."""

    def __init__(self, key: str, input_shapes=""):
        self.key = key
        self.input_shapes = input_shapes  # (torch's: "" unless grouped by input shape)
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0

    def add(self, e) -> "FunctionEventAvg":
        self.count += e.count
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total
        self.cpu_memory_usage += e.cpu_memory_usage
        self.self_cpu_memory_usage += e.self_cpu_memory_usage
        return self

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / self.count if self.count else 0.0

    def __repr__(self) -> str:
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={self.self_cpu_time_total:.3f}us "
                f"cpu_time={self.cpu_time_total:.3f}us count={self.count}>")


# torch's table columns: (header, attribute, how it is printed)
_TIME_COLUMNS = (("Self CPU %", "self_cpu_time_total", "percent"),
                 ("Self CPU", "self_cpu_time_total", "time"),
                 ("CPU total %", "cpu_time_total", "percent"),
                 ("CPU total", "cpu_time_total", "time"), ("CPU time avg", "cpu_time", "time"))
_MEMORY_COLUMNS = (("CPU Mem", "cpu_memory_usage", "memory"),
                   ("Self CPU Mem", "self_cpu_memory_usage", "memory"))
_COUNT_COLUMN = (("# of Calls", "count", "count"),)


def _format_time(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


def _format_memory(nbytes: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(nbytes) >= size:
            return f"{nbytes / size:.2f} {unit}"
    return f"{nbytes} B"


def _cell(v, how: str, total: float) -> str:
    if how == "percent":
        return f"{100 * v / total:.2f}%" if total else "0.00%"
    if how == "time":
        return _format_time(v)
    if how == "memory":
        return _format_memory(v)
    return str(v)


class EventList(list):
    """Events (or their averages), with torch's `table`, `key_averages`, `total_average`."""

    def __init__(self, *args, trace=None):
        super().__init__(*args)
        self._trace = trace

    @property
    def self_cpu_time_total(self) -> float:
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shapes: bool = False, group_by_stack_n: int = 0):
        """The events added up per name (and per input shapes when grouped by them)."""
        groups: dict = {}
        for e in self:
            if group_by_input_shapes:
                key = (e.key, str(e.input_shapes))
                avg = groups.get(key) or groups.setdefault(key, FunctionEventAvg(
                    e.key, e.input_shapes))
            else:
                avg = groups.get(e.key) or groups.setdefault(e.key, FunctionEventAvg(e.key))
            avg.add(e)
        return EventList(groups.values(), trace=self._trace)

    def total_average(self) -> FunctionEventAvg:
        total = FunctionEventAvg("Total")
        for e in self:
            total.add(e)
        return total

    def table(self, sort_by: str | None = None, row_limit: int = 100,
              max_src_column_width: int = 75, max_name_column_width: int = 55,
              max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False, time_unit: str | None = None) -> str:
        """The events as torch prints them: one row each, sorted by `sort_by` (largest
        first), at most `row_limit` rows (-1: all)."""
        rows = [e for e in self if not top_level_events_only or
                getattr(e, "cpu_parent", None) is None]
        if sort_by is not None:
            rows = sorted(rows, key=lambda e: getattr(e, sort_by), reverse=True)
        if row_limit is not None and row_limit >= 0:
            rows = rows[:row_limit]
        total = self.self_cpu_time_total
        width = min(max([len(e.key) for e in self] or [0]) + 4, max_name_column_width)
        # (torch's: a column of input shapes when any event has them, as wide as the widest)
        with_shapes = any(e.input_shapes for e in self)
        shapes_width = min(max([len(str(e.input_shapes)) for e in self] or [0]) + 4,
                           max_shapes_column_width)
        memory = self._trace is not None and self._trace.profile_memory
        columns = _TIME_COLUMNS + (_MEMORY_COLUMNS if memory else ()) + _COUNT_COLUMN
        line = "-" * width + "  " + ("-" * 12 + "  ") * len(columns)
        heads = "Name".rjust(width) + "  " + "".join(h.rjust(12) + "  " for h, _, _ in columns)
        if with_shapes:
            line += "-" * shapes_width + "  "
            heads += "Input Shapes".rjust(shapes_width) + "  "
        out = []
        if header is not None:
            out += ["=" * len(line), header]
        out += [line, heads, line]
        for e in rows:
            name = e.key if len(e.key) <= width else e.key[:width - 3] + "..."
            cells = [_cell(getattr(e, attr), how, total) for _, attr, how in columns]
            row = name.rjust(width) + "  " + "".join(c.rjust(12) + "  " for c in cells)
            if with_shapes:
                row += str(e.input_shapes)[:shapes_width].rjust(shapes_width) + "  "
            out.append(row)
        out += [line, f"Self CPU time total: {_format_time(total)}"]
        return "\n".join(out) + "\n"

    def export_chrome_trace(self, path: str) -> None:
        if self._trace is None:
            raise RuntimeError("these events were not recorded by a profile")
        self._trace.export_chrome_trace(path)

    def __str__(self) -> str:
        return self.table()


# ---- the profile ------------------------------------------------------------------------------

class profile:
    """Record what the driver and every worker do inside the `with` block (see the module
    doc); with `record_shapes`, each op's input shapes too (`key_averages(group_by_input_shape=
    True)`); with `profile_memory`, the bytes each op's results took (the driver's memory for
    its ops, a worker's for its own: "CPU Mem" and "Self CPU Mem"), and the driver's frees
    of that memory while it records (torch's `[memory]` events).
    torch's other options are accepted; stacks and FLOPs are not recorded."""

    def __init__(self, enabled: bool = True, *, use_cuda: bool = False, use_device=None,
                 record_shapes: bool = False, with_flops: bool = False,
                 profile_memory: bool = False, with_stack: bool = False,
                 with_modules: bool = False, use_kineto: bool = False, use_cpu: bool = True,
                 experimental_config=None, acc_events: bool = False,
                 custom_trace_id_callback=None):
        self.enabled = enabled
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.function_events = None
        self._recorder = None
        self._start_ns = self._end_ns = 0
        self._workers: dict = {}  # device -> [clock offset ns, events]
        self._methods_timed = None

    # -- recording --
    def __enter__(self):
        if not self.enabled:
            return self
        if record.profiling is not None:
            raise RuntimeError("Profiler is already enabled on this thread")
        self._recorder = Recorder(self.record_shapes, self.profile_memory)
        self._start_ns = time.time_ns()
        self._workers = {}
        for q in _queues():
            before = time.time_ns()
            body = q.request("profile_start")
            after = time.time_ns()
            self._workers[q.device] = [body["now"] - (before + after) // 2, []]
        self._methods_timed = _methods_timed_as_one_op()
        self._methods_timed.__enter__()
        record.profiling = self._recorder
        return self

    def __exit__(self, *exc):
        if not self.enabled or self._recorder is None:
            return False
        record.profiling = None
        self._methods_timed.__exit__(None, None, None)
        for q in _queues():
            if q.device not in self._workers:
                continue
            try:
                self._workers[q.device][1] = q.request("profile_stop")["events"]
            except Exception as e:  # a dead or stuck worker: the rest of the profile stands
                warnings.warn(f"profiler: no events from {q.device} ({type(e).__name__}: {e})")
        self._end_ns = time.time_ns()
        self.function_events = EventList(self._events(), trace=self)
        return False

    # -- reading --
    def _check_finished(self):
        if self.function_events is None:
            raise RuntimeError("Profiler didn't finish running")

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0):
        if self.function_events is None:  # not run yet: nothing recorded, as torch
            return EventList(trace=self)
        return self.function_events.key_averages(group_by_input_shape, group_by_stack_n)

    def events(self):
        self._check_finished()
        return self.function_events

    def table(self, *args, **kwargs) -> str:
        self._check_finished()
        return self.function_events.table(*args, **kwargs)

    def total_average(self):
        self._check_finished()
        return self.function_events.total_average()

    @property
    def self_cpu_time_total(self) -> float:
        self._check_finished()
        return self.function_events.self_cpu_time_total

    def __str__(self) -> str:
        return self.table() if self.function_events is not None else "<unfinished profile>"

    def _events(self) -> list:
        """FunctionEvents of the driver and the workers, each nested in the event of its
        track that encloses it."""
        start = self._start_ns
        threads: dict = {}
        raw = [("cpu", threads.setdefault(tid, len(threads)), name, t0, t1, cat, shapes, made)
               for name, t0, t1, tid, cat, shapes, made in self._recorder.events]
        for device, (offset, events) in self._workers.items():
            for kind, name, t0, t1, *rest in events:
                # (a worker's op ends with its input shapes and the bytes it allocated, a send
                # or receive with its key)
                shapes, made = rest if kind == "op" else ((), 0)
                raw.append((device, 0, name, t0 - offset, t1 - offset, kind,
                            shapes if self.record_shapes else (),
                            made if self.profile_memory else 0))
        raw.sort(key=lambda r: (r[0] != "cpu", r[0], r[1], r[3], -r[4]))
        out, stacks = [], {}
        for device, thread, name, t0, t1, cat, shapes, made in raw:
            e = FunctionEvent(len(out) + 1, name, device, thread, (t0 - start) / 1e3,
                              (t1 - start) / 1e3, cat, shapes, made)
            stack = stacks.setdefault((device, thread), [])
            while stack and stack[-1].end_us < e.end_us:
                stack.pop()
            if cat == _FREED:  # (torch's: the op running then frees it, else an event)
                if stack:
                    stack[-1].self_cpu_memory_usage += made
                else:
                    out.append(e)
                continue
            if stack:
                e.cpu_parent = stack[-1]
                stack[-1].cpu_children.append(e)
            stack.append(e)
            out.append(e)
        out.sort(key=lambda e: e.start_us)
        return out

    # -- the timeline --
    def export_chrome_trace(self, path: str) -> None:
        """Write the Chrome trace format: process 0 the driver, process K+1 worker:K, each
        with its events; a worker's idle time between runs; an arrow per send to its
        receive. Times in microseconds from the profile's start; gzipped for a path ending .gz."""
        self._check_finished()
        with (gzip.open(path, "wt") if path.endswith(".gz") else open(path, "w")) as f:
            json.dump(self.chrome_trace(), f)

    def chrome_trace(self) -> dict:
        self._check_finished()
        busy = {e.device for e in self.function_events}  # a worker that ran nothing: no track
        devices = ["cpu"] + sorted((d for d in self._workers if d in busy),
                                   key=lambda d: int(d.split(":")[1]))
        pid = {d: k for k, d in enumerate(devices)}
        trace = []
        for d in devices:
            trace.append({"ph": "M", "name": "process_name", "pid": pid[d], "tid": 0,
                          "args": {"name": "driver" if d == "cpu" else d}})
            trace.append({"ph": "M", "name": "process_sort_index", "pid": pid[d], "tid": 0,
                          "args": {"sort_index": pid[d]}})
        end_us = (self._end_ns - self._start_ns) / 1e3
        flows: dict = {}
        for e in self.function_events:
            if e.cat == _FREED:  # (an instant, as torch's memory events)
                trace.append({"ph": "i", "s": "t", "cat": e.cat, "name": e.trace_name,
                              "pid": pid[e.device], "tid": e.thread, "ts": round(e.start_us, 3),
                              "args": {"Bytes": e.self_cpu_memory_usage}})
                continue
            trace.append({"ph": "X", "cat": e.cat, "name": e.trace_name, "pid": pid[e.device],
                          "tid": e.thread, "ts": round(e.start_us, 3),
                          "dur": round(e.cpu_time_total, 3)})
        for d in devices[1:]:
            trace.extend(self._idle(d, pid[d], end_us))
            trace.append({"ph": "M", "name": "thread_name", "pid": pid[d], "tid": 0,
                          "args": {"name": "runs"}})
            trace.extend(self._flows(d, pid, flows))
        trace.append({"ph": "M", "name": "thread_name", "pid": 0, "tid": 0,
                      "args": {"name": "main thread"}})
        return {"traceEvents": trace, "displayTimeUnit": "ms",
                "otherData": {"producer": "distgrad.autograd.profiler",
                              "devices": devices}}

    def _idle(self, device, pid, end_us) -> list:
        runs = sorted((e.start_us, e.end_us) for e in self.function_events
                      if e.device == device and e.cat == "run")
        idle, t = [], 0.0
        for s, e in runs + [(end_us, end_us)]:
            if s > t:
                idle.append({"ph": "X", "cat": "idle", "name": "idle", "pid": pid, "tid": 0,
                             "ts": round(t, 3), "dur": round(s - t, 3)})
            t = max(t, e)
        return idle

    def _flows(self, device, pid, flows) -> list:
        """An arrow from a send (start) to the receive of the same key (end)."""
        offset, events = self._workers[device]
        out = []
        for kind, name, t0, t1, *rest in events:
            if kind not in ("send", "recv") or not rest:
                continue
            key = rest[0]
            ident = flows.setdefault(key, len(flows) + 1)
            ts = ((t0 if kind == "send" else t1) - offset - self._start_ns) / 1e3
            ev = {"ph": "s" if kind == "send" else "f", "cat": "transfer", "name": "tensor",
                  "id": ident, "pid": pid[device], "tid": 0, "ts": round(ts, 3)}
            if kind == "recv":
                ev["bp"] = "e"
            out.append(ev)
        return out


def _queues() -> list:
    """The live runtime's worker queues (none without distgrad.distributed.init)."""
    runtime = record._runtime
    return list(getattr(runtime, "queues", ())) if runtime is not None else []


__all__ = ["profile", "record_function", "EventList", "FunctionEvent", "FunctionEventAvg"]
