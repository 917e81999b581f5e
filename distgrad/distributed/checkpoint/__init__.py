"""`distgrad.distributed.checkpoint`: save a state dict in parallel, load it onto any layout.

    import distgrad.distributed.checkpoint as dcp
    state = {"model": model.state_dict(), "optim": opt.state_dict()}
    dcp.save(state, checkpoint_id="ckpt/")          # every worker writes its own shards
    dcp.load(state, checkpoint_id="ckpt/")          # fills state's tensors in place
    model.load_state_dict(state["model"]); opt.load_state_dict(state["optim"])
    future = dcp.async_save(state, checkpoint_id="ckpt/"); ...; future.result()

A top-level value that is `Stateful` (stateful.py: a module, an optimizer, an object with
state_dict() and load_state_dict()) is saved as its state_dict(), and loaded by filling
that in place and handing it to its load_state_dict(), as torch's. state_dict.py names an
optimizer's state by its parameters' names (torch's get_state_dict / set_state_dict).

The directory holds one safetensors file per writer of a save (each worker, and the
driver for its own tensors), named by the save, and `manifest.json`: per tensor its
global shape, dtype, requires_grad and placement, and per part (shard) its file, key,
offsets, shape and crc32; other values (numbers, strings) as JSON. Arrays never pass
through the driver: a worker writes its shards itself, and on load each worker reads
from the files the boxes of the saved parts that its own parts overlap.

A checkpoint is there only when complete: the manifest is written last, to a temporary
name and renamed, after every shard file was flushed to disk; the files of the previous
checkpoint in the same directory are deleted only after that rename. A save that fails
midway (a worker's error, a full disk, the driver killed) leaves the previous checkpoint
whole. A truncated or corrupted shard file is detected by its size and checksum when it
is loaded, and the error names it.

`load` fills the given state dict's tensors in place, whatever their placement is now
(resharding: saved over 2 workers, loaded onto 1, 2 or 3, split on another dim,
replicated, on one worker or in the driver), bit for bit; values that are not tensors
are replaced in their dict or list. Keys of the checkpoint the state dict lacks are
ignored; a tensor the state dict has and the checkpoint lacks is an error. As with
torch's, an optimizer's state must exist to be filled (take one step, or load its state
dict from `distgrad.load` first), and it keeps its parameter's placement.

On a multi-node cluster, DIR must be a path every node can read and write at the same
place (a shared file system): each worker writes and reads its files there itself.
One save at a time per directory: a save waits for the async saves started before it.
"""
from __future__ import annotations

import json
import os
import secrets
import threading
import time
from concurrent.futures import Future

import numpy as np

from ... import dtypes
from ...autograd import record
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from .. import runtime, wire
from ..errors import DeadlineExceeded, WorkerDiedError
from . import files
from .plan import container_kinds, flatten, overlap, parts, path_key, placement_record
from .stateful import Stateful

__all__ = ["save", "load", "async_save", "FileSystemWriter", "FileSystemReader"]

MANIFEST = "manifest.json"
FORMAT = "distgrad.checkpoint/1"
_SHARD_PREFIX = "shard-"

_pending: list[Future] = []  # async saves not yet finished, waited for by the next save
_pending_lock = threading.Lock()


# ---- save --------------------------------------------------------------------------------------

class FileSystemWriter:
    """Where a save writes (torch's storage_writer for a directory): `save(state,
    storage_writer=FileSystemWriter(path))` is `save(state, checkpoint_id=path)`."""

    def __init__(self, path, *args, **kwargs):
        self.path = os.fspath(path)

    def reset(self, checkpoint_id=None) -> None:
        if checkpoint_id is not None:
            self.path = os.fspath(checkpoint_id)


class FileSystemReader(FileSystemWriter):
    """Where a load reads (torch's storage_reader for a directory)."""


def _directory(checkpoint_id, storage) -> str:
    if storage is not None:
        storage.reset(checkpoint_id)
        return storage.path
    if not checkpoint_id:
        raise RuntimeError("`checkpoint_id` must be specified if "
                           "storage_reader/storage_writer is None.")
    return os.fspath(checkpoint_id)


def _states_of(state_dict: dict) -> dict:
    """`state_dict` with each top-level Stateful value as its state_dict()."""
    return {k: v.state_dict() if isinstance(v, Stateful) else v for k, v in state_dict.items()}


def save(state_dict, checkpoint_id=None, *, storage_writer=None, planner=None,
         process_group=None, no_dist: bool = False):
    """Write `state_dict` to directory `checkpoint_id`: each worker writes its shards, the
    driver its own tensors, then the manifest is renamed in. Returns the manifest (a dict)."""
    return _start_save(_states_of(state_dict), _directory(checkpoint_id, storage_writer),
                       copy=False).finish()


def async_save(state_dict, checkpoint_id=None, *, storage_writer=None, planner=None,
               process_group=None, no_dist: bool = False) -> Future:
    """As `save`, but returns at once: each worker copies its shards (in its own memory)
    before it runs anything sent after this call, and writes them in the background; the
    driver's own tensors are copied before it returns. `.result()` waits and returns the
    manifest; training may change the tensors meanwhile."""
    job = _start_save(_states_of(state_dict), _directory(checkpoint_id, storage_writer),
                      copy=True)
    future = Future()

    def finish():
        try:
            future.set_result(job.finish())
        except BaseException as e:
            future.set_exception(e)
        finally:
            with _pending_lock:
                if future in _pending:
                    _pending.remove(future)

    with _pending_lock:
        _pending.append(future)
    threading.Thread(target=finish, name="distgrad-async-save", daemon=True).start()
    return future


def _wait_for_pending_saves() -> None:
    with _pending_lock:
        pending = list(_pending)
    for f in pending:
        try:
            f.result()
        except BaseException:
            pass  # its caller sees its error; this save goes on


def _start_save(state_dict, checkpoint_id, copy: bool) -> "_SaveJob":
    _wait_for_pending_saves()
    directory = os.fspath(checkpoint_id)
    os.makedirs(directory, exist_ok=True)
    save_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    job = _SaveJob(directory, save_id)
    for n, (path, value, _, _) in enumerate(flatten(state_dict)):
        if isinstance(value, Tensor):
            job.add_tensor(n, path, value, copy)
        else:
            job.entries.append({"path": list(path), "value": _encode_value(value, path)})
        job.entries[-1]["containers"] = container_kinds(state_dict, path)
    job.start(copy)
    return job


class _SaveJob:
    """One save: its manifest entries, what each writer writes, and the writes under way."""

    def __init__(self, directory: str, save_id: str):
        self.directory = directory
        self.save_id = save_id
        self.entries: list = []
        self.by_writer: dict[str, list] = {}  # "driver" / "worker:K" -> [(key, tensor or array)]
        self.chunks: dict[str, list] = {}  # writer -> the chunk records its file's keys fill
        self.posted: dict = {}  # worker -> its queue and posted save message (or _Ticket)
        self.endpoint = None  # the runtime's, which carries the save messages
        self.keys: set = set()

    def file_of(self, writer: str) -> str:
        who = "driver" if writer == "driver" else writer.replace(":", "")
        return f"{_SHARD_PREFIX}{self.save_id}-{who}.safetensors"

    def path_of(self, writer: str) -> str:
        return os.path.abspath(os.path.join(self.directory, self.file_of(writer)))

    def add_tensor(self, n: int, path, t: Tensor, copy: bool) -> None:
        entry = {"path": list(path), "dtype": t.dtype.name, "shape": list(t.shape),
                 "requires_grad": bool(t.requires_grad), "placement": placement_record(t),
                 "chunks": []}
        for k, (part, offsets) in enumerate(parts(t)):
            writer = "driver" if part.device_str == "cpu" else part.device_str
            key = f"{_dotted(path)}#{k}"  # (named so that an error about it says which)
            if key in self.keys:  # paths whose dotted forms collide
                key = f"{n}:{key}"
            self.keys.add(key)
            chunk = {"offsets": offsets, "shape": list(part.shape), "file": self.file_of(writer),
                     "key": key}
            entry["chunks"].append(chunk)
            if writer == "driver":  # the driver's own memory: copied now for an async save
                value = part.detach()._numpy_value()
                self.by_writer.setdefault(writer, []).append(
                    (key, np.array(value, copy=True) if copy else value))
            else:
                self.by_writer.setdefault(writer, []).append((key, part))
            self.chunks.setdefault(writer, []).append(chunk)
        self.entries.append(entry)

    def start(self, copy: bool) -> None:
        """Send every worker its save message (they write, or copy, at once, in parallel)."""
        rt = runtime.current() if any(w != "driver" for w in self.by_writer) else None
        self.endpoint = rt.endpoint if rt is not None else None
        for writer, items in self.by_writer.items():
            if writer == "driver":
                continue
            q = rt.queue(writer)
            q.flush()  # the runs that compute these tensors go first
            body = {"path": self.path_of(writer),
                    "items": [[key, q._own(t._value).id] for key, t in items], "copy": copy}
            message = wire.body_message("save", body)
            q.counters.add_sent(q.index, len(message), 1)  # (names and ids: no array bytes)
            self.posted[writer] = (q, rt.endpoint.post(q.index, message))
        if copy:
            self.posted = {w: (q, _Ticket(self.endpoint, q, p, self.path_of(w)))
                           for w, (q, p) in self.posted.items()}
        # The tensors' memory may now change: a worker takes its copies (or writes) before
        # it runs anything sent after this message.
        self.by_writer = {w: items for w, items in self.by_writer.items() if w == "driver"}

    def finish(self) -> dict:
        """Write the driver's file, wait for the workers', then rename the manifest in."""
        results = {}
        driver_items = self.by_writer.get("driver")
        if driver_items:
            results["driver"] = write_driver_file(
                os.path.join(self.directory, self.file_of("driver")), dict(driver_items))
        first_error = None
        for writer, (q, posted) in self.posted.items():
            try:
                if isinstance(posted, _Ticket):
                    results[writer] = posted.wait()
                else:
                    timeout = q.timeout()
                    try:
                        results[writer] = self.endpoint.collect(posted, q.index, timeout)
                    except DeadlineExceeded:
                        raise _write_timed_out(q, self.path_of(writer), timeout) from None
            except BaseException as e:
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        files_ = {}
        for writer, chunks in self.chunks.items():
            result = results[writer]
            files_[self.file_of(writer)] = {"writer": writer, "bytes": result["file_bytes"]}
            for chunk in chunks:
                chunk["crc32"] = result["crc32"][chunk["key"]]
                chunk["nbytes"] = result["nbytes"][chunk["key"]]
                chunk["file_bytes"] = result["file_bytes"]
        manifest = {"format": FORMAT, "save_id": self.save_id, "files": files_,
                    "entries": self.entries}
        write_manifest(self.directory, manifest)
        _remove_other_saves(self.directory, set(files_))
        return manifest


def _write_timed_out(q, path: str, timeout) -> TimeoutError:
    err = TimeoutError(f"{q.device} did not finish writing its checkpoint file {path} within "
                       f"{timeout} s (call_timeout_s): the save fails, and the checkpoint "
                       "before it is kept. A write that takes longer needs a larger "
                       "call_timeout_s (or a call_timeout block around the save)")
    err.worker, err.index = q.device, q.index  # as a stuck worker's: who to restart
    return err


class _Ticket:
    """A worker's background write, polled until it is done: within the call timeout
    (taken as the save starts), as any wait for a worker, or TimeoutError naming the
    worker and its file (a write stuck in a live worker would otherwise be polled for
    ever)."""

    def __init__(self, endpoint, queue, posted, path: str):
        self.endpoint = endpoint
        self.queue = queue
        self.generation = queue.generation  # the worker's process that writes it
        self.posted = posted  # the save message, whose reply names the write
        self.path = path
        self.timeout = queue.timeout()  # for the whole write (None: no limit)
        self.deadline = None if self.timeout is None else time.monotonic() + self.timeout

    POLL_S = 0.02  # between asks; each costs the worker a message, not a wait

    def wait(self) -> dict:
        try:
            return self._poll()
        except DeadlineExceeded:  # the wait's own, not a TimeoutError of the write
            raise _write_timed_out(self.queue, self.path, self.timeout) from None

    def _left(self):
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded
        return left

    def _poll(self) -> dict:
        endpoint, q = self.endpoint, self.queue
        ticket = endpoint.collect(self.posted, q.index, self._left())["ticket"]
        message = wire.body_message("save_poll", {"ticket": ticket})
        while True:
            # Asked of the process that writes it, never of one restarted in its place (whose
            # tickets count from 1 again): under the lock restart_worker holds throughout.
            with q.lock:
                if q.generation != self.generation:
                    raise WorkerDiedError(f"{q.device} was restarted (restart_worker) while it "
                                          "wrote its part of the checkpoint: that part is lost",
                                          q.index)
                posted = endpoint.post(q.index, message)
            reply = endpoint.collect(posted, q.index, self._left())
            if reply.get("done"):
                return reply
            time.sleep(self.POLL_S if self.deadline is None else min(self.POLL_S, self._left()))


def write_driver_file(path: str, arrays: dict) -> dict:
    """The driver's shard file (a seam a test may make fail midway)."""
    return files.write_shard_file(path, arrays)


def write_manifest(directory: str, manifest: dict) -> None:
    """Write the manifest to a temporary name, flush it, and rename it in (atomic)."""
    final = os.path.join(directory, MANIFEST)
    tmp = f"{final}.tmp-{manifest['save_id']}"
    with open(tmp, "w") as f:
        json.dump(manifest, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    try:  # the rename itself made durable
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def _remove_other_saves(directory: str, keep: set) -> None:
    """Shard files and temporary manifests of other saves (older, or failed) go."""
    for name in os.listdir(directory):
        if (name.startswith(_SHARD_PREFIX) and name not in keep) or \
                name.startswith(MANIFEST + ".tmp-"):
            try:
                os.remove(os.path.join(directory, name))
            except OSError:
                pass


def _encode_value(value, path):
    from ...serialization import _Writer

    writer = _Writer()
    encoded = writer.encode(value, f"state_dict{''.join(f'[{k!r}]' for k in path)}")
    if writer.tensors:  # (flatten leaves no tensor inside a value)
        raise TypeError("distgrad.distributed.checkpoint: a tensor inside a value")
    return encoded


# ---- load --------------------------------------------------------------------------------------

def load(state_dict, checkpoint_id=None, *, storage_reader=None, planner=None,
         process_group=None, no_dist: bool = False) -> None:
    """Fill `state_dict`'s tensors in place from checkpoint directory `checkpoint_id`,
    whatever their placement now; replace its other values with the saved ones. A
    Stateful value's state_dict() is filled, then given to its load_state_dict()."""
    from .format_utils import BroadcastingTorchSaveReader, fill_from_save_file

    directory = _directory(checkpoint_id, storage_reader)
    states = _states_of(state_dict)
    if isinstance(storage_reader, BroadcastingTorchSaveReader):
        fill_from_save_file(states, directory)
    else:
        _load_into(states, directory)
    for key, value in state_dict.items():
        if isinstance(value, Stateful):
            value.load_state_dict(states[key])
        else:
            state_dict[key] = states[key]


def _load_into(state_dict, directory: str) -> None:
    _wait_for_pending_saves()
    manifest = read_manifest(directory)
    saved = {path_key(e["path"]): e for e in manifest["entries"]}
    fills = []
    for path, value, container, key in flatten(state_dict):
        entry = saved.get(path_key(path))
        if entry is None:
            raise RuntimeError(f"Missing key in checkpoint state_dict: {_dotted(path)} (the "
                               f"checkpoint at {directory} has no such entry)")
        if not isinstance(value, Tensor):
            if "value" in entry:
                if not isinstance(container, tuple):
                    container[key] = _decode_value(entry["value"])
                continue
            raise RuntimeError(f"checkpoint entry {_dotted(path)} is a tensor, the state dict "
                               f"holds {type(value).__name__} there")
        if "value" in entry:
            raise RuntimeError(f"checkpoint entry {_dotted(path)} is a {type(entry['value'])}, "
                               "the state dict holds a tensor there")
        if list(value.shape) != entry["shape"]:
            raise RuntimeError(f"Size mismatch for {_dotted(path)}: the checkpoint holds shape "
                               f"{entry['shape']}, the state dict's tensor has shape "
                               f"{list(value.shape)}")
        fills.append((value, entry))
    touched = set()
    with no_grad():
        for t, entry in fills:
            touched |= _fill(t, entry, directory)
    for device in sorted(touched):  # the workers' reads ran (a bad shard file raises here)
        record.executor_for(device).synchronize()


def read_manifest(directory: str) -> dict:
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {directory}: {MANIFEST} is missing (a save "
                                "that did not finish writes none)") from None
    if manifest.get("format") != FORMAT:
        raise RuntimeError(f"{path} is not a distgrad checkpoint manifest (format "
                           f"{manifest.get('format')!r}, expected {FORMAT!r})")
    return manifest


def _fill(t: Tensor, entry: dict, directory: str) -> set:
    """Write the saved values into every part of `t`, each read where the part lives.
    Returns the workers it queued reads on."""
    dtype = entry["dtype"]
    touched = set()
    for part, offsets in parts(t, every_copy=True):
        device = part.device_str
        shape = list(part.shape)
        if device != "cpu":
            record.executor_for(device)._own(part._value)
            touched.add(device)
        for chunk in entry["chunks"]:
            box = overlap(offsets, shape, chunk["offsets"], chunk["shape"])
            if box is None:
                continue
            starts, stops = box
            local = [a - o for a, o in zip(starts, chunk["offsets"])]
            local_stops = [b - o for b, o in zip(stops, chunk["offsets"])]
            path = os.path.abspath(os.path.join(directory, chunk["file"]))
            piece = _read(device, path, chunk, local, local_stops, dtype)
            region = tuple(slice(a - o, b - o) for a, b, o in zip(starts, stops, offsets))
            whole = all(s.start == 0 and s.stop == n for s, n in zip(region, shape))
            target = part if whole else part[region]
            target.copy_(piece)
    return touched


def _read(device: str, path: str, chunk: dict, starts, stops, dtype: str) -> Tensor:
    """Rows of a saved part, read on `device` (the driver, or a worker from its disk)."""
    shape = [b - a for a, b in zip(starts, stops)]
    if device == "cpu":
        from ...creation import from_numpy

        return from_numpy(files.read_region(path, chunk["key"], starts, stops, chunk["crc32"],
                                            chunk["file_bytes"]))
    ref = record.executor_for(device).read_file(path, chunk["key"], starts, stops, dtype,
                                                chunk["crc32"], chunk["file_bytes"])
    return Tensor._make(ref, shape, dtypes.from_name(dtype), device)


def _decode_value(encoded):
    from ...serialization import _Reader

    return _Reader({}, {"tensors": [], "storages": {}}, None).decode(encoded)


def _dotted(path) -> str:
    return ".".join(str(k) for k in path)
