"""A worker: a plain class that holds arrays by id and runs op-table forwards on them.

The Ray backend wraps it in an actor (runtime.py); the local backend calls it in the
driver process. Either way it is reached only through `handle(payload, *arrays)` with a
wire message, and it keeps serving after a bad one.

What counts as a malformed message (raised as `WireFormatError`, naming the field):
  - anything `wire.decode_request` rejects (not msgpack, wrong version or fields, ...);
  - a run that does not fit this worker: an unknown op, a tensor id used before it is
    defined, an array argument that is missing or not an array of distgrad's dtypes, or
    an op whose shape rule rejects its inputs and attrs (the driver runs the same rule
    before it sends, so a message from the driver always passes), or whose result would
    exceed `MAX_ELEMENTS`;
  - an op that passed those checks but then fails with an error that is not one of an
    op's own errors (TypeError, ValueError, KeyError, ...: attrs the rule ignored but the
    forward cannot use).
Every run is checked in full before any of it executes (a "replay" of a program that
distgrad.compile recorded is not checked again: its runs were, when they first ran here,
on tensors of the shapes the driver checks the replay's inputs against). An op's own
errors on the values it is given (torch's `IndexError: index 5 is out of bounds...` for bad index values,
`RuntimeError: Integers to negative integer powers...`) are not the message's fault: they
keep their type and message and reach the user as torch raises them. Nor is running
out of memory: an op whose results cannot be allocated, or a tensor from another worker
that cannot be, fails its run with MemoryError naming this worker and the bytes.

An op's own error does not stop its run (what a PyTorch user expects: only the failing
op, and what needs its result, is lost). Its results become failure records
(errors.py), and so does every tensor made from one: an op's output, a tensor received
from a worker whose run could not make it (or that died), and the memory an in-place
write with a failed value should have changed (the tensor and every view of it). The
rest of the run goes on. A failure record is kept like a tensor, under its id, so later
runs that use it fail the same way; reading it returns the record instead of an array,
and the reply lists the ops that failed in the run ("failed": [[instr index, record]]).

Whatever happens to a run once it decodes, its `free` / `free_node` instructions are
applied, so a failed run never leaks what it was told to release.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time

import numpy as np

from .. import dtypes
from ..autograd.profiler import input_shapes
from ..autograd.record import aten_name
from ..ops.table import OPS, Size, run_forward, run_into
from . import wire
from .channels import PeerLostError, PeerRunFailedError
from .errors import error_of, record_of
from .wire import WireFormatError

# An op's own errors, raised on the values it was given: these pass through unchanged.
OP_ERRORS = (IndexError, RuntimeError, NotImplementedError, ZeroDivisionError)

_NP_DTYPES = {d.np for d in dtypes.HELD}


class _Operand:
    """What a shape rule sees of a tensor on this worker: its shape and dtype."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = shape if type(shape) is Size else Size(shape)
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return self.shape.numel()

    def size(self, d=None):
        return self.shape if d is None else self.shape[d]


def _operand(arr: np.ndarray) -> _Operand:
    return _Operand(arr.shape, dtypes.from_numpy(arr.dtype))


_DTYPES = {d: dtypes.from_name(d) for d in dtypes.NAMES}


def _numel(shape) -> int:
    """Elements of a shape rule's result, or -1 if it is not a shape."""
    if not isinstance(shape, tuple):
        return -1
    n = 1
    for s in shape:
        if not isinstance(s, (int, np.integer)) or s < 0:
            return -1
        n *= int(s)
    return n


class _Failure:
    """What a tensor id holds when the op that made it failed (see the module doc):
    its shape and dtype as the run planned them, and the original error's record."""

    __slots__ = ("meta", "record")

    def __init__(self, meta, record: dict):
        self.meta = meta
        self.record = record


def _failed_input(values):
    for v in values:
        if type(v) is _Failure:
            return v
    return None


def _root(arr: np.ndarray) -> np.ndarray:
    """The outermost array whose memory `arr` views (itself when it owns it)."""
    while True:
        base = getattr(arr, "base", None)  # (a failure record has none)
        if not isinstance(base, np.ndarray):
            # as_strided's result views its array through a wrapper (numpy's DummyArray)
            base = getattr(base, "base", None)
            if not isinstance(base, np.ndarray):
                return arr
        arr = base


class Worker:
    # The largest tensor one op may make (elements); a message asking for more is malformed.
    MAX_ELEMENTS = 2 ** 28

    def __init__(self, index: int, node: str | None = None, hooks=None):
        self.index = index
        self.hooks = hooks  # test hooks (testhooks.py), None unless the runtime asked for them
        self.node = node or socket.gethostname()
        self.tensors: dict[int, np.ndarray] = {}
        self.nodes: dict[int, list] = {}  # node id -> ids of the tensors it saved
        self.channels = None  # to the other workers (channels.py): set by the runtime
        self._sent: set = set()  # keys the current run has sent
        self._saves: dict[int, "_BackgroundSave"] = {}  # checkpoint writes under way, by ticket
        self._planned: dict = {}  # the current run's tensors as _check saw them (id -> _Operand)
        self._recv_wait = 0.0  # seconds the current run has waited in recv so far
        self._peers = ()  # the current run's incarnation of each peer (see handle)
        self._runs = ()  # the runs each peer had been sent before the current run
        # While a profile is on: [kind, name, start ns, end ns(, key)] of each run, op, send
        # and receive, an op's with its input shapes and the bytes it allocated (autograd/profiler.py reads them); None when off.
        self.timeline = None
        self.programs: dict = {}  # program id -> its runs, recorded by distgrad.compile

    # ---- entry point -----------------------------------------------------------------------
    def handle(self, payload, *arrays):
        """Decode, validate and serve one message. Returns (reply bytes, *exported arrays)."""
        msg = wire.decode_request(payload)
        kind = msg["type"]
        if kind == "ping":
            return (wire.reply({"pid": os.getpid(), "node": self.node}),)
        if kind == "stats":
            return (wire.reply(self.stats()),)
        if kind == "save":
            return (wire.reply(self._save(msg["body"])),)
        if kind == "save_poll":
            return (wire.reply(self._save_poll(msg["body"]["ticket"])),)
        if kind == "hooks":
            self.configure_hooks(msg["body"])
            return (wire.reply({}),)
        if kind == "profile_start":
            self.timeline = []
            return (wire.reply({"now": time.time_ns()}),)
        if kind == "profile_stop":
            events, self.timeline = self.timeline or [], None
            return (wire.reply({"events": events, "now": time.time_ns()}),)
        timeline = self.timeline
        if timeline is not None:
            started_ns = time.time_ns()
        instrs = msg["instrs"]
        # Which process of each peer the driver sent this run for: a recv from one that was
        # restarted since then fails at once (its tensor will never come).
        self._peers = msg.get("peers", ())
        self._runs = msg.get("runs", ())  # and how many runs each had been sent before it
        started = time.time()  # wall clock: comparable between the workers of one machine
        self._sent = set()
        self._recv_wait = 0.0
        if self.channels is not None:
            self.channels.running(True)
        try:
            if self.hooks is not None:
                self.hooks.enter(self.index, "run")
            args = list(arrays) + list(msg.get("arrays", []))
            self._check(instrs, args)
            with np.errstate(all="ignore"):  # (inf and nan as torch makes them, unwarned)
                exported, failed = self._run(instrs, args)
        except BaseException as e:
            self._release(instrs)  # a failed run still frees what it was told to free
            self._fail_sends(instrs, e)  # and tells the workers waiting for its tensors
            raise
        finally:
            if self.channels is not None:
                self.channels.running(False)
            if timeline is not None:
                timeline.append(["run", "run", started_ns, time.time_ns()])
        # When the run ran and how long it waited for other workers' tensors: the driver's
        # counters sum these into each worker's timeline (busy and idle time).
        body = {"exports": len(exported), "timing": [started, time.time(), self._recv_wait]}
        if failed:
            body["failed"] = failed
        return (wire.reply(body),) + tuple(exported)

    def configure_hooks(self, settings: dict) -> None:
        if self.hooks is None:
            raise RuntimeError("test hooks are off: start the runtime with "
                               "distgrad.distributed.init(test_hooks=True)")
        self.hooks.configure(**settings)

    def stats(self) -> dict:
        seen, total = set(), 0
        for arr in self.tensors.values():
            if type(arr) is _Failure:
                continue
            base = arr.base if isinstance(arr.base, np.ndarray) else arr
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
        sent = dict(self.channels.sent_bytes) if self.channels is not None else {}
        return {"pid": os.getpid(), "node": self.node, "tensors": len(self.tensors),
                "nodes": len(self.nodes), "bytes": int(total), "sent_bytes": sent}

    # ---- validation ------------------------------------------------------------------------
    def _check(self, instrs, args) -> None:
        """The whole run must fit this worker before any of it runs (see the module doc).
        (Error messages are built only on error: this runs for every message.)"""
        known: dict = {}  # ids defined (an _Operand) or freed (None) so far in this run
        freed: dict = {}  # ids this run defines and frees again (a temporary's _Operand)
        tensors = self.tensors

        def operand(tid, i, k):
            found = known.get(tid, False)
            if found is False:
                arr = tensors.get(tid)
                found = None if arr is None else arr.meta if type(arr) is _Failure else \
                    _operand(arr)
            if found is None:
                raise WireFormatError(f"field 'instrs[{i}]{k}': unknown tensor id {tid}")
            return found

        for i, ins in enumerate(instrs):
            code = ins[0]
            if code == "op":
                _, name, inputs, attrs, out_ids, out_dtypes = ins
                op = OPS.get(name)
                if op is None or op.moves:
                    raise WireFormatError(f"field 'instrs[{i}][1]': unknown op {name!r}")
                if len(out_ids) != len(out_dtypes):
                    raise WireFormatError(f"field 'instrs[{i}][5]': one dtype per output id")
                operands = []
                for k, item in enumerate(inputs):
                    kind = item[0]
                    if kind == 0:
                        operands.append(operand(item[1], i, f"[2][{k}]"))
                    else:
                        operands.append(item[1] if kind == 1 else None)
                try:
                    metas = op.shape(*operands, **attrs)
                except Exception as e:
                    raise WireFormatError(f"field 'instrs[{i}]': op {name!r} does not accept these "
                                          f"inputs and attrs ({type(e).__name__}: {e})") from None
                if not isinstance(metas, (tuple, list)):
                    metas = (metas,)
                if len(metas) != len(out_ids):
                    raise WireFormatError(f"field 'instrs[{i}][4]': op {name!r} makes {len(metas)} "
                                          f"outputs, the message names {len(out_ids)}")
                for tid, m, d in zip(out_ids, metas, out_dtypes):
                    shape = getattr(m, "shape", None)
                    n = _numel(shape)
                    if n < 0:
                        raise WireFormatError(f"field 'instrs[{i}]': op {name!r} has no shape for "
                                              "these inputs and attrs")
                    if n > self.MAX_ELEMENTS:
                        raise WireFormatError(f"field 'instrs[{i}]': op {name!r} would make a tensor "
                                              f"of shape {list(shape)}, more than "
                                              f"{self.MAX_ELEMENTS} elements")
                    known[tid] = _Operand(shape, _DTYPES[d])
            elif code == "import":
                k = ins[2]
                if k >= len(args):
                    raise WireFormatError(f"field 'instrs[{i}][2]': no array argument {k}")
                a = args[k]
                if not isinstance(a, np.ndarray) or a.dtype not in _NP_DTYPES:
                    raise WireFormatError(f"field 'instrs[{i}][2]': argument {k} is not an array "
                                          f"of a distgrad dtype "
                                          f"({type(a).__name__} {getattr(a, 'dtype', '')})")
                known[ins[1]] = _operand(a)
            elif code == "export":
                operand(ins[1], i, "[1]")
            elif code == "assign":
                dst = operand(ins[1], i, "[1]")
                src = operand(ins[2], i, "[2]")
                try:
                    ok = np.broadcast_shapes(src.shape, dst.shape) == tuple(dst.shape)
                except ValueError:
                    ok = False
                if not ok or src.dtype is not dst.dtype:
                    raise WireFormatError(f"field 'instrs[{i}]': cannot assign a {src.dtype.name} "
                                          f"tensor of shape {list(src.shape)} to a {dst.dtype.name} "
                                          f"one of shape {list(dst.shape)}")
                known[ins[1]] = _Operand(dst.shape, dst.dtype)
            elif code == "send":
                operand(ins[1], i, "[1]")
                if self.channels is None or not self.channels.knows(ins[2]):
                    raise WireFormatError(f"field 'instrs[{i}][2]': no worker {ins[2]!r} to "
                                          "send to")
            elif code == "recv":
                _, tid, peer, key, shape, dtype = ins
                if self.channels is None or not self.channels.knows(peer):
                    raise WireFormatError(f"field 'instrs[{i}][2]': no worker {peer!r} to "
                                          "receive from")
                n = _numel(tuple(shape))
                if n < 0 or n > self.MAX_ELEMENTS or dtype not in _DTYPES:
                    raise WireFormatError(f"field 'instrs[{i}]': cannot receive a {dtype!r} "
                                          f"tensor of shape {shape!r}")
                known[tid] = _Operand(tuple(shape), _DTYPES[dtype])
            elif code == "read":
                _, tid, path, key, starts, stops, dtype, crc, size = ins
                shape = tuple(b - a for a, b in zip(starts, stops))
                n = _numel(shape)
                if len(starts) != len(stops) or n < 0 or n > self.MAX_ELEMENTS:
                    raise WireFormatError(f"field 'instrs[{i}]': rows {starts}..{stops} are "
                                          "not a region")
                known[tid] = _Operand(shape, _DTYPES[dtype])
            elif code == "free":
                for tid in ins[1]:
                    if known.get(tid):
                        freed[tid] = known[tid]
                    known[tid] = None
            elif code == "program":
                for k, seg in enumerate(ins[2]):
                    for j, item in enumerate(seg):
                        wire.check_instr(f"instrs[{i}][2][{k}][{j}]", item)
            elif code == "replay":
                _, pid, lo, hi, binds, moves, gen = ins
                if pid not in self.programs and not any(
                        x[0] == "program" and x[1] == pid for x in instrs[:i]):
                    raise WireFormatError(f"field 'instrs[{i}][1]': no program {pid}")
                for k, (_, tid) in enumerate(binds):
                    operand(tid, i, f"[4][{k}]")
                for _, tid, shape, dtype in moves:
                    known[tid] = _Operand(tuple(shape), _DTYPES[dtype])
        known.update(freed)  # what the run makes, freed in it or not: its results' sizes
        self._planned = known

    # ---- execution -------------------------------------------------------------------------
    def _run(self, instrs, args, key_offset: int = 0):
        """Run the instructions; returns the exported values (a failure record's reply in
        place of a failed tensor) and the ops that failed, [[instr index, record]].
        `key_offset` tells one replay's sends and receives from another's (_replay)."""
        tensors = self.tensors
        hooks = self.hooks
        timeline = self.timeline
        peers, runs = self._peers, self._runs
        exported, failed = [], []
        files: dict = {}  # checkpoint tensors read (and checked) by this run
        written = -1  # the "assign" an op already did by computing into its memory
        freed: dict = {}  # (_written_by's cache)
        for i, ins in enumerate(instrs):
            code = ins[0]
            if i == written:
                continue
            if code == "op":
                _, name, inputs, attrs, out_ids, out_dtypes = ins
                values = [tensors[x[1]] if x[0] == 0 else (x[1] if x[0] == 1 else None)
                          for x in inputs]
                bad = _failed_input(values)
                if bad is not None:  # made from a failed tensor: fails the same way
                    self._fail(out_ids, bad.record)
                    continue
                if hooks is not None:
                    hooks.enter(self.index, "op", name)
                if timeline is not None:
                    started = time.time_ns()
                try:
                    if hooks is not None:
                        hooks.allocate(self._result_bytes(out_ids, out_dtypes))
                    op, declared = OPS[name], [dtypes.from_name(d) for d in out_dtypes]
                    into = self._written_by(instrs, i, out_ids, freed)
                    if into is not None and self._kernel_into(op, into, values, attrs,
                                                              declared[0]):
                        outs, written = (into,), i + 1  # (its result is that memory)
                    else:
                        outs = self._kernel(op, values, attrs, declared)
                except (OP_ERRORS + (MemoryError,)) as e:
                    if isinstance(e, MemoryError):
                        # numpy says how much the allocation that failed asked for
                        nbytes = getattr(e, "_total_size", None) or self._result_bytes(
                            out_ids, out_dtypes)
                        e = MemoryError(f"worker:{self.index} is out of memory: op {name!r} "
                                        f"could not allocate {nbytes} bytes ({e})")
                    record = record_of(e, name, self.index, out_ids[0] if out_ids else -1)
                    failed.append([i, record])
                    self._fail(out_ids, record)
                    continue
                except Exception as e:  # the attrs passed the rule but the forward can't use them
                    raise WireFormatError(f"field 'instrs[{i}]': op {name!r} cannot run with these "
                                          f"attrs ({type(e).__name__}: {e})") from None
                for tid, value in zip(out_ids, outs):
                    tensors[tid] = value
                if timeline is not None:
                    made = 0 if written == i + 1 or op.shares_memory else self._result_bytes(
                        out_ids, out_dtypes)
                    aten = aten_name(name)
                    timeline.append(["op", aten, started, time.time_ns(),
                                     input_shapes(aten, values, attrs), made])
            elif code == "import":
                _, tid, arg = ins
                tensors[tid] = args[arg]
            elif code == "export":
                value = tensors[ins[1]]
                exported.append(wire.reply({"error": value.record}) if type(value) is _Failure
                                else value)
            elif code == "send":
                _, tid, peer, key = ins
                if hooks is not None:
                    hooks.enter(self.index, "send")
                value = tensors[tid]
                if timeline is not None:
                    started = time.time_ns()
                stamp = peers[peer] if peer < len(peers) else None
                try:
                    if type(value) is _Failure:
                        self.channels.send_failure(peer, key + key_offset,
                                                   json.dumps(value.record), stamp)
                    else:
                        self.channels.send(peer, key + key_offset, value, stamp)
                except PeerLostError:
                    pass  # the receiver is gone, and its run with it: the rest of ours goes on
                self._sent.add(key + key_offset)
                if timeline is not None:
                    timeline.append(["send", f"send to worker:{peer}", started, time.time_ns(),
                                     str(key)])
            elif code == "recv":
                _, tid, peer, key, shape, dtype = ins
                if hooks is not None:
                    hooks.enter(self.index, "recv")
                waited = time.perf_counter()
                if timeline is not None:
                    started = time.time_ns()
                try:
                    tensors[tid] = self.channels.recv(
                        peer, key + key_offset, shape, dtype,
                        peers[peer] if peer < len(peers) else None,
                        runs[peer] if peer < len(runs) else None)
                except (PeerRunFailedError, PeerLostError, MemoryError) as e:
                    self._fail([tid], _received_record(e, self.index, tid))
                self._recv_wait += time.perf_counter() - waited
                if timeline is not None:
                    timeline.append(["recv", f"recv from worker:{peer}", started,
                                     time.time_ns(), str(key)])
            elif code == "assign":
                _, dst_id, src_id = ins
                dst, src = tensors[dst_id], tensors[src_id]
                if type(src) is _Failure or type(dst) is _Failure:
                    self._fail_memory(dst_id, (src if type(src) is _Failure else dst).record)
                    continue
                if not dst.flags.writeable:
                    dst = self._writeable(dst_id)
                np.copyto(dst, src)
            elif code == "read":
                from .checkpoint.files import read_region

                _, tid, path, key, starts, stops, dtype, crc, size = ins
                tensors[tid] = read_region(path, key, starts, stops, crc, size, files)
            elif code == "node":
                _, nid, saved = ins
                self.nodes[nid] = saved
            elif code == "free":
                for tid in ins[1]:
                    tensors.pop(tid, None)
            elif code == "free_node":
                for nid in ins[1]:
                    self.nodes.pop(nid, None)
            elif code == "program":
                _, pid, runs = ins
                self.programs[pid] = runs
            elif code == "drop_program":
                self.programs.pop(ins[1], None)
            elif code == "replay":
                failed.extend([i, record] for _, record in self._replay(*ins[1:]))
        return exported, failed

    def _replay(self, pid, lo, hi, binds, moves, gen):
        """Runs lo..hi-1 of a program distgrad.compile recorded (they ran here once, on
        tensors of these shapes): the first binds this call's inputs to the ids the program
        reads them by, each hands the outputs in `moves` over to fresh ids, and the last
        lets go of the bound ones. Sends and receives take keys of this replay (`gen`), so
        a peer's next replay never meets this one's tensors."""
        tensors, segments = self.tensors, self.programs[pid]
        if lo == 0:
            for placeholder, tid in binds:
                tensors[placeholder] = tensors[tid]
        offset = _replay_offset(gen)
        failed = []
        for seg in segments[lo:hi]:
            exported, seg_failed = self._run(seg, (), offset)
            failed.extend(seg_failed)
        for src, dst, _, _ in moves:  # (the outputs these runs made: a cut replay's first
            tensors[dst] = tensors.pop(src)  # part hands its own over)
        if hi == len(segments):
            for placeholder, _ in binds:
                tensors.pop(placeholder, None)
        return failed

    # An op's forward (simulated.py's workers skip it), and the same writing into the memory
    # of the in-place write that follows it.
    _kernel = staticmethod(run_forward)
    _kernel_into = staticmethod(run_into)

    def _written_by(self, instrs, i: int, out_ids, freed: dict):
        """The memory the instruction after op `i` writes the op's one result into (an
        in-place op: its result is computed, then assigned), or None. Only for a result
        this run frees, a temporary: one that lives on (copy_'s source) keeps its memory.
        `freed` caches the run's freed ids (under the key "ids")."""
        if len(out_ids) != 1 or i + 1 >= len(instrs):
            return None
        nxt = instrs[i + 1]
        if nxt[0] != "assign" or nxt[2] != out_ids[0]:
            return None
        if "ids" not in freed:
            freed["ids"] = {t for ins in instrs if ins[0] == "free" for t in ins[1]}
        if out_ids[0] not in freed["ids"]:
            return None
        dst = self.tensors.get(nxt[1])
        return dst if type(dst) is np.ndarray else None

    def _fail(self, ids, record: dict) -> None:
        for tid in ids:
            self.tensors[tid] = _Failure(self._planned.get(tid), record)

    def _fail_memory(self, tid: int, record: dict) -> None:
        """An in-place write that could not be done: the memory it was to change holds a
        failure, seen through `tid` and every view sharing that memory."""
        tensors = self.tensors
        arr = tensors[tid]
        if type(arr) is _Failure:
            if arr.record is not record:
                tensors[tid] = _Failure(arr.meta, record)
            return
        root = _root(arr)
        for k, other in list(tensors.items()):
            if type(other) is not _Failure and _root(other) is root:
                tensors[k] = _Failure(_operand(other), record)

    # ---- checkpoints -----------------------------------------------------------------------
    def _save(self, body: dict) -> dict:
        """Write tensors to a checkpoint shard file: now, or (copy=True) from copies taken
        now, in a thread, so the runs after this message may change them meanwhile."""
        from .checkpoint.files import write_shard_file

        arrays = {}
        for key, tid in body["items"]:
            arr = self.tensors.get(tid)
            if arr is None:
                raise WireFormatError(f"field 'body.items': unknown tensor id {tid}")
            if type(arr) is _Failure:  # its op failed: saving it raises that error
                raise error_of(arr.record)
            arrays[key] = np.array(arr, copy=True) if body["copy"] else arr
        if not body["copy"]:
            return write_shard_file(body["path"], arrays)
        ticket = len(self._saves) + 1
        while ticket in self._saves:
            ticket += 1
        self._saves[ticket] = _BackgroundSave(write_shard_file, body["path"], arrays,
                                              self.hooks, self.index)
        return {"ticket": ticket}

    def _save_poll(self, ticket: int) -> dict:
        """{"done": False} while the write runs (at once: the runs behind this message must
        not wait for the disk); its result, or its error."""
        job = self._saves.get(ticket)
        if job is None:
            raise WireFormatError(f"field 'body.ticket': no checkpoint write {ticket}")
        if job.thread.is_alive():
            return {"done": False}
        del self._saves[ticket]
        if job.error is not None:
            raise job.error
        return dict(job.result, done=True)

    def _result_bytes(self, out_ids, out_dtypes) -> int:
        """The bytes an op's results take, from the shapes _check found for them."""
        total = 0
        for tid, d in zip(out_ids, out_dtypes):
            meta = self._planned.get(tid)
            if meta is not None:
                total += meta.shape.numel() * np.dtype(d).itemsize
        return total

    def _writeable(self, tid: int) -> np.ndarray:
        """Tensor `tid`, made writeable: arrays from the object store are read-only, so
        the memory it shares is copied once, and every tensor viewing that memory is
        moved to the copy (a view must see writes through its base, and the reverse)."""
        tensors = self.tensors
        root = _root(tensors[tid])
        fresh = root.copy(order="K")
        if fresh.strides != root.strides:  # cannot happen for contiguous roots
            fresh = np.array(tensors[tid])
            tensors[tid] = fresh
            return fresh
        start = root.__array_interface__["data"][0]
        for k, arr in tensors.items():
            if _root(arr) is root:
                offset = arr.__array_interface__["data"][0] - start
                tensors[k] = np.ndarray(arr.shape, arr.dtype, buffer=fresh, offset=offset,
                                        strides=arr.strides)
        return tensors[tid]

    def _fail_sends(self, instrs, error: BaseException) -> None:
        """A run that failed as a whole: its receivers get the reason, not a tensor (under
        the keys they wait for: a replay's sends are its program's, offset)."""
        if self.channels is None:
            return
        why = f"{type(error).__name__}: {error}"
        for peer, key in self._sends(instrs):
            if key not in self._sent and self.channels.knows(peer):
                self.channels.send_failure(peer, key, why, self._peers[peer]
                                           if peer < len(self._peers) else None)

    def _sends(self, instrs, key_offset: int = 0):
        """(peer, key) of every send of a run, those of the programs it replays included."""
        programs = None
        for ins in instrs:
            if ins[0] == "send":
                yield ins[2], ins[3] + key_offset
            elif ins[0] == "replay":
                _, pid, lo, hi, _, _, gen = ins
                if programs is None:  # (one the run itself records may not be filed yet)
                    programs = dict(self.programs)
                    programs.update({x[1]: x[2] for x in instrs if x[0] == "program"})
                for seg in programs.get(pid, ())[lo:hi]:
                    yield from self._sends(seg, _replay_offset(gen))

    def _release(self, instrs) -> None:
        for ins in instrs:
            if ins[0] == "free":
                for tid in ins[1]:
                    self.tensors.pop(tid, None)
            elif ins[0] == "free_node":
                for nid in ins[1]:
                    self.nodes.pop(nid, None)


class _BackgroundSave:
    """One checkpoint shard file written by a thread of the worker process."""

    def __init__(self, write, path, arrays, hooks=None, index=-1):
        self.result = self.error = None

        def run():
            try:
                if hooks is not None:
                    hooks.enter(index, "write")
                self.result = write(path, arrays)
            except BaseException as e:  # reported at the next poll
                self.error = e

        self.thread = threading.Thread(target=run, name="checkpoint-write", daemon=True)
        self.thread.start()


def _replay_offset(gen: int) -> int:
    """What a replay adds to its program's keys (`gen`: which replay): above every key the
    driver hands out, so a peer's next replay never meets this one's tensors."""
    return (gen + 1) << 40


def _received_record(error, index: int, tid: int) -> dict:
    """The failure a recv stores: the sender's own record when its run made one (the
    original error), else what the channel says (a failed run, or a peer gone)."""
    detail = getattr(error, "detail", None)
    if detail:
        try:
            record = json.loads(detail)
            if isinstance(record, dict) and "type" in record:
                return record
        except ValueError:
            pass
    return record_of(error, "recv", index, tid)
