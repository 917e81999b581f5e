"""Moving tensors between the driver and workers: `put` for new data, and `to_device`
(distgrad/moves.py), the differentiable copy whose VJP is the copy back (to^T = to)."""
from __future__ import annotations

import numpy as np

import sys

from .. import storage
from ..autograd import record
from ..tensor import Tensor
from .coordinator import holding


# A sharded tensor's device: a tensor made or moved "there" (an index, random values for
# it) stays a plain tensor, which acts as replicated next to a sharded one.
SHARDED = "sharded"


def put(array: np.ndarray, device: str) -> Tensor:
    """A new tensor on `device` holding `array` (copied now, sent with the worker's next run)."""
    from ..dtypes import from_numpy

    if device == SHARDED:
        return Tensor._make(array, array.shape, from_numpy(array.dtype), "cpu")
    ref = record.executor_for(device).put(array)
    return Tensor._make(ref, array.shape, from_numpy(array.dtype), device)


def move(t: Tensor, device: str) -> Tensor:
    if device == SHARDED and t._sharding is None:
        return t
    return record.call("to_device", t, device=device)


def transfer(t: Tensor, device: str):
    """The value of `t` on `device`: a driver array, or a handle on the target worker."""
    src = t.device_str
    if device == "cpu":
        return np.array(t._numpy_value(), order="C")  # a writeable row-major copy
    dst = record.executor_for(device)
    if src == "cpu":
        return dst.put(t._value)
    dst.counters.add_moved(t.numel() * t.dtype.itemsize)
    source = record.executor_for(src)
    ref = dst.receive(source.send_to(t._value, dst), t.shape, t.dtype.name)
    _start(source)
    return ref


def send_ahead(t: Tensor, device: str):
    """`t`'s value sent toward worker `device` now, taken there later: returns `take()`,
    which queues the receive and gives the tensor on `device` (no graph). A pipeline stage
    hands its output on as soon as it is made, and the next stage's worker waits for it
    only where its own run uses it, not at the point the driver recorded the send (where
    its run would stall on a later micro-batch's input before the work it could do).
    Between a worker and itself, the driver, or a strided tensor: moved at once."""
    src = t.device_str
    if src == device:
        return lambda: t
    if src == "cpu" or device in ("cpu", SHARDED) or t._sharding is not None or \
            t._layout is not None:
        moved = move(t, device)
        return lambda: moved
    source, dst = record.executor_for(src), record.executor_for(device)
    dst.counters.add_moved(t.numel() * t.dtype.itemsize)
    sent = source.send_to(t._value, dst)
    _start(source)
    shape, dtype = t.shape, t.dtype

    def take() -> Tensor:
        return Tensor._make(dst.receive(sent, shape, dtype.name), shape, dtype, device)
    return take


def _start(source) -> None:
    """The source worker starts now on what its sends need, while the driver goes on
    (unless the caller sends each worker's work as one run: coordinator.hold_runs). Even
    for small work: deferring it to one message per worker per step saved driver CPU but
    cost the overlap of the workers' compute with the driver's recording (a small
    data-parallel step 14% slower on a quiet machine)."""
    if not holding():
        source.flush_exports()


def exchange(moves) -> list:
    """`moves`, [(worker tensor, worker)], done at once without a graph: every send is
    queued before any receive, so workers that swap tensors (a collective) send both ways
    at the same time instead of one after the other."""
    sends = []
    for t, device in moves:
        source, dst = record.executor_for(t.device_str), record.executor_for(device)
        sends.append((source, dst, source.send_to(t._value, dst), t))
    out = []
    for source, dst, exp, t in sends:
        dst.counters.add_moved(t.numel() * t.dtype.itemsize)
        ref = dst.receive(exp, t.shape, t.dtype.name, swap=True)
        out.append(Tensor._make(ref, t.shape, t.dtype, dst.device))
    for source in {id(s): s for s, _, _, _ in sends}.values():
        _start(source)
    return out


def restore(t: Tensor, device: str, placement) -> Tensor:
    """A loaded tensor `t` (in the driver) placed where it was saved: on `device`, or sharded
    or replicated as `placement` records (distgrad.load)."""
    from ..serialization import not_placeable
    from . import runtime, sharding

    workers = (placement or {"workers": [device]})["workers"]
    if not runtime.is_initialized():
        raise not_placeable(device, placement, "distgrad.distributed is not initialized")
    if any(w not in runtime.workers() for w in workers):
        raise not_placeable(device, placement, f"this runtime has only {runtime.workers()}")
    if placement is None:
        return t.to(device)
    if placement["kind"] == "replicate":
        return sharding.replicate(t, workers)
    return sharding.shard(t, placement["dim"], workers)


storage.register_placement(sys.modules[__name__])
