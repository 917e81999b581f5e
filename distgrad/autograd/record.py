"""Recording: run one op where its data lives and, in grad mode, record its graph node.

`call("mul", x, y)` is the single entry point every op goes through: it checks devices,
asks the op's shape rule for the result's shape and dtype (so errors come before any
compute and a remote result gets a handle at once), hands the values to the device's
executor, and wraps the results as tensors with an `OpNode` as their grad_fn.
"""
from __future__ import annotations

import contextlib
import itertools
import time
import weakref

import numpy as np

from .. import storage
from ..ops import layout
from ..ops.table import lookup, number_operands, run_forward
from . import anomaly_mode, grad_mode, saved_hooks
from .graph import edgeless, node_class

Tensor = None  # set by distgrad.tensor (the class is defined there)

CPU = "cpu"
_runtime = None  # the distributed runtime: .queue(device) and .flush_all()
_node_ids = itertools.count(1)
profiling = None  # the Recorder of the profile under way (autograd/profiler.py), if any
# The recording of a distgrad.compile call under way (distributed/program.py), if any: it
# is told of what a replay could not repeat (Python code in hooks, driver computations).
capturing = None
# The trace of a forward `pipeline()` is cutting into stages (distributed/pipelining/
# trace.py), if any: it records each op the forward issues.
tracing = None
# autograd.forward_ad while a dual level is open: its push gives an op's outputs tangents
forward_ad = None


def note_python(what: str, functions=()) -> None:
    """Tell a compile recording that Python code it cannot replay runs in the step: a
    user's hook or custom Function (distgrad's own only issue ops, which it records)."""
    rec = capturing
    if rec is not None and any(not getattr(f, "__module__", None) or
                               not f.__module__.startswith("distgrad.") for f in functions):
        rec.cannot_replay(what)


def register_runtime(runtime) -> None:
    """The distributed runtime installs itself here (None on shutdown)."""
    global _runtime
    _runtime = runtime


def executor_for(device: str):
    """The queue of the worker that `device` names."""
    if _runtime is None:
        storage.refuse_absent_backend(device)
        raise RuntimeError(f"device '{device}' names no worker: distgrad.distributed is not "
                           "initialized (call distgrad.distributed.init() first)")
    return _runtime.queue(device)


def common_device(name: str, inputs, device=None) -> str:
    """The device the op runs on; torch's error when tensors live on two devices."""
    found = None
    for t in inputs:
        if t is None or not hasattr(t, "_storage"):
            continue
        d = t.device_str
        if found is None:
            found = d
        elif d != found:
            # A zero-dim driver tensor can take part like a Python number, as in torch.
            if d == CPU and not t.shape:
                continue
            if found == CPU and _only_scalar_cpu(inputs, found):
                found = d
                continue
            raise _two_devices(name, found, d)
    return found if found is not None else (device or CPU)


def _two_devices(name: str, found: str, other: str) -> RuntimeError:
    """torch's error for an op given tensors on two devices (its meta kernels' words where
    one is the meta device)."""
    if not (storage.holds_data(found) and storage.holds_data(other)):
        return RuntimeError(f"Tensor on device {other} is not on the expected device {found}!")
    return RuntimeError("Expected all tensors to be on the same device, but found at least two "
                        f"devices, {found} and {other}! (when checking argument for op {name})")


def in_device_words(error: RuntimeError, elementwise: bool, inputs, device: str) -> RuntimeError:
    """A shape rule's error (for an op on `inputs`) as torch words it on `device`: its meta
    kernels word some of them their own way (ops/rules.meta_kernel_error)."""
    if storage.holds_data(device):
        return error
    from ..ops.rules import meta_kernel_error  # (rules records its ops here)

    return meta_kernel_error(error, elementwise, [getattr(t, "shape", None) for t in inputs])


def _only_scalar_cpu(inputs, cpu) -> bool:
    return all(not t.shape for t in inputs if hasattr(t, "_storage") and t.device_str == cpu)


def _refresh_stale_views(op, inputs) -> None:
    """A view whose base was written since its history was made gets it made anew when an
    op records a node that reads it: torch does so as it collects the node's edges, so not
    for a comparison (no node) nor when no differentiable input requires grad."""
    diff = op.differentiable
    ins = [t for i, t in enumerate(inputs)
           if (diff is None or i in diff) and hasattr(t, "_storage")]
    if any(t.requires_grad for t in ins):
        for t in ins:
            if t._viewed is not None and t._view_version != t._storage.counter.count:
                t._refresh_view()


def call(name: str, *inputs, _device=None, **attrs):
    """Run op `name` on `inputs` (tensors, Python numbers or None) with `attrs`."""
    # (No frame of its own between the caller and this body: warnings raised below name the
    # user's line by their stacklevel.)
    rec = profiling
    if rec is not None and not rec.passes():
        return _recorded(rec, name, inputs, _device, attrs)
    if tracing is not None and tracing.records():
        return tracing.op(name, inputs, _device, attrs)
    strided = False  # an input that is not row-major from offset 0
    for t in inputs:
        memory = getattr(t, "_storage", None)
        if memory is None:
            continue
        if memory.runs_ops:  # a sharded tensor: its kind runs the op on its parts
            result = memory.run_op(name, inputs, attrs)
            if forward_ad is not None:
                forward_ad.push(lookup(name), inputs, attrs,
                                result if isinstance(result, tuple) else (result,))
            return result
        strided = strided or t._layout is not None
    op = lookup(name)
    if op.vjp is not None and grad_mode.is_grad_enabled():  # (no history is read under no_grad)
        _refresh_stale_views(op, inputs)
    device = attrs["device"] if op.moves else common_device(name, inputs, _device)
    try:
        metas = op.shape(*inputs, **attrs)
    except RuntimeError as error:
        raise in_device_words(error, op.elementwise, inputs, device)
    multi = isinstance(metas, (tuple, list))
    metas = tuple(metas) if multi else (metas,)

    requires_grad = False
    if op.vjp is not None and grad_mode.is_grad_enabled():
        if op.refuses_grad:
            op.check_grad_refused(inputs, attrs)
        diff = op.differentiable
        for i, t in enumerate(inputs):
            if (diff is None or i in diff) and getattr(t, "_requires_grad", False):
                requires_grad = True
                break

    moved_layout = None
    remote = False
    if op.moves:
        value, moved_layout = _moved(inputs[0], device)
        values = [value]
    elif device == CPU:
        values = _run_local(op, inputs, attrs, metas)
        if capturing is not None:
            capturing.computed_on_driver(op, inputs, attrs, values,
                                         [m.dtype for m in metas])
    elif not storage.holds_data(device):
        values = [None] * len(metas)  # the meta device: the metas are the whole result
    else:
        values = executor_for(device).run(op, inputs, attrs, metas, device)
        remote = True

    outs = []
    for k, (v, m) in enumerate(zip(values, metas)):
        t = Tensor._make(v, m.shape, m.dtype, device, inputs[0]._storage if op.view else
                         inputs[0]._storage.renewed() if op.alias else None)
        if op.view:
            _make_view(t, op, inputs[0], attrs, k, multi)
        elif op.alias:
            t._layout = op.strides(inputs[0].shape, *inputs[0]._strides_offset(), t.shape, k,
                                   attrs)
        elif op.layout is not None and (strided or not op.elementwise):
            _lay_out_by_rule(t, op, inputs, attrs, k)
        elif moved_layout is not None:
            t._layout = (moved_layout, 0)
        outs.append(t)

    if requires_grad:
        # (a view made under no_grad of a leaf requires grad but has no gradient edge: no
        # gradient of the node's goes to it, so nothing is saved for one)
        needs = tuple(getattr(t, "_requires_grad", False) and not edgeless(t) for t in inputs)
        name = op.node_name(inputs, attrs)
        node = node_class(name)(op, name, attrs, inputs, outs, needs, device)
        for k, t in enumerate(outs):
            if k in op.nondiff_outputs or not t.dtype.is_floating_point:
                continue
            t._requires_grad = True
            t._grad_fn = node
            t._output_nr = k
        hooks = saved_hooks.current()
        if hooks is not None and node.has_saved():
            node.pack_saved(hooks, outs)
        if anomaly_mode._enabled:
            anomaly_mode.note(node)
        if remote:
            _note_remote_node(node, device)
    if forward_ad is not None:
        forward_ad.push(op, inputs, attrs, outs)
    return tuple(outs) if multi else outs[0]


_NOT_RECORDING = contextlib.nullcontext()


def recorded_around(name: str, inputs):
    """Under a profile, an event `name` (aten::linear) around the ops run inside (as torch
    records an op that calls others); nothing otherwise."""
    rec = profiling
    return _NOT_RECORDING if rec is None else rec.enclosing(name, inputs)


def _recorded(rec, name, inputs, device, attrs):
    """`call` under a profile: the op timed as torch names it (aten::mul)."""
    start = time.time_ns()
    rec.pass_once()
    out = None
    try:
        out = call(name, *inputs, _device=device, **attrs)
        return out
    finally:
        rec.add(aten_name(name), start, time.time_ns(), inputs=inputs, outputs=out,
                attrs=attrs)


# ops torch's profiler names otherwise (by the function, not by its overload)
_ATEN_NAMES = {"max_dim": "max", "min_dim": "min", "to_dtype": "to"}


def aten_name(op: str) -> str:
    """The name torch's profiler gives op `op` (aten::mul)."""
    return "aten::" + _ATEN_NAMES.get(op, op)


def _moved(x, device: str):
    """(value, strides) of `x` copied to `device` as torch's `.to()` copies it: a dense
    strided tensor (a transpose) keeps its strides, any other arrives row-major (strides
    None). The bytes travel in the order they sit in memory: x permuted slowest dim first
    is row-major, and a permute back on `device` gives x's strides again."""
    strides = layout.preserved(x.shape, x._layout[0]) if x._layout is not None else None
    if strides is None:
        return storage.placement(x.device_str, device).transfer(x, device), None
    order = sorted(range(x.ndim), key=lambda d: (-strides[d], d))
    with grad_mode.no_grad():
        in_memory_order = call("permute", x, dims=order)
        arrived = storage.placement(x.device_str, device).transfer(in_memory_order, device)
        there = Tensor._make(arrived, in_memory_order.shape, x.dtype, device)
        back = call("permute", there, dims=sorted(range(x.ndim), key=order.__getitem__))
    return back._value, strides


def _make_view(t, op, parent, attrs, k: int, multi: bool) -> None:
    """`t` (output k of view op `op`, made on parent's storage) shares parent's memory: its
    base, version counter, layout, and how to replay it from its parent (CopySlices)."""
    t._view_version = parent._storage.counter.count
    t._viewed = parent if parent._viewed is None else parent._viewed
    t._view_of = (parent, op.name, attrs, k)
    if "_relayouts" in parent.__dict__:  # (made from the layout it has now: views.view_chain)
        t.__dict__["_parent_relayouts"] = parent.__dict__["_relayouts"]
    strides, offset = parent._strides_offset()
    t._layout = op.strides(parent.shape, strides, offset, t.shape, k, attrs)
    # torch forbids an in-place write through these later (Tensor._check_view_writable).
    kind = "multi" if multi else None if grad_mode.is_grad_enabled() else "no_grad"
    t._view_kind = kind or parent._view_kind
    if not grad_mode.is_grad_enabled() and t._viewed._requires_grad:
        t._requires_grad = True  # as in torch: a leaf that requires grad but gets no .grad
        t._no_accumulator = True  # (through its base: a detach_ of the base ends it)
        note_no_grad_view(t._viewed, t)


def note_no_grad_view(base, view) -> None:
    """`view`, made under no_grad of `base` (which requires grad), requires grad through
    it until a detach_ of `base` ends that (Tensor.detach_)."""
    _keep_weakly(base, "_no_grad_views", view)


def note_stand_in(arg, t) -> None:
    """`t` stands for `arg` in what a transformed function's ops save: a slice vmap runs
    the function on (torch saves the batched tensor, `arg` itself), or the alias func.grad
    differentiates (torch saves `arg` unwrapped). A detach_ of `arg` detaches it too
    (Tensor.detach_)."""
    _keep_weakly(arg, "_stand_ins", t)


def note_memory_follower(arg, t) -> None:
    """`t`, the alias func.grad differentiates in `arg`'s place, is `arg` itself to torch
    (its wrapper holds arg): a `.data =` of arg gives t the new memory too (Tensor.data),
    so what the transform's ops saved of it reads the new values, as torch's."""
    _keep_weakly(arg, "_memory_followers", t)


def _keep_weakly(owner, key: str, t) -> None:
    refs = owner.__dict__.setdefault(key, [])
    if len(refs) >= 32:  # (ones made each step come and go: no growth)
        refs[:] = [r for r in refs if r() is not None]
    refs.append(weakref.ref(t))


def _lay_out_by_rule(t, op, inputs, attrs, k) -> None:
    """Output k laid out as torch lays it out, by the op's layout rule (OpDef.layout; the
    forward, here or on a worker, gives its array the same layout: ops/table.run_forward)."""
    operands = [(x.shape, x._strides_offset()[0]) for x in inputs if hasattr(x, "_layout")]
    strides = op.layout(t.shape, operands + number_operands(op, inputs), attrs, k, t.dtype)
    if strides is not None:
        t._layout = (strides, 0)


def _note_remote_node(node, device) -> None:
    """Tell the worker which of its tensors this node saved (its `stats()` counts them)."""
    # (a tensor passed through saved-tensor hooks is kept as the pack hook chose)
    ids = [s.tensor._value.id for s in node._saved.values()
           if s.tensor is not None and s.tensor.device_str == device]
    if node._saved_outs:
        ids += [s.tensor._value.id for s in node._saved_outs if s.tensor is not None]
    if ids:
        node._remote = executor_for(device).note_node(next(_node_ids), ids)


def flush_remote(eager_only: bool = False) -> None:
    """Send every worker its queued run. With eager_only (the end of a backward), only the
    runs with enough work to be worth a message of their own now; small ones ride along
    with the worker's next message (a value read, a cross-worker move)."""
    if _runtime is not None:
        _runtime.flush_all(eager_only)


def _run_local(op, inputs, attrs, metas):
    args = [t._value if hasattr(t, "_storage") else t for t in inputs]
    with np.errstate(all="ignore"):  # (inf and nan as torch makes them, without warnings)
        return run_forward(op, args, attrs, [m.dtype for m in metas])
