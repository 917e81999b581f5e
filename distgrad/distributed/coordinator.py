"""The driver's side of the workers: one queue of instructions per worker.

Ops on a worker's tensors are not sent one by one: `record.call` asks the shape rule for
the result, gets a handle at once, and the op is queued here. A queue goes to its worker
as one message (a "run") when a value is read, when another worker's run needs a tensor
from it, or when backward ends with a lot of work queued. A tensor that crosses workers
is a "send" in one run and a "recv" in the other: the sender writes it straight to the
receiver (channels.py), never through the driver. Runs are ordered so that a run is sent
only after every run it receives from, so a run waiting in a recv never waits for one
that was sent after it.

Errors. An op that fails on a worker fails only what depends on it (worker.py): a read of
such a tensor raises the original error. Every instruction remembers the driver thread
that queued it, so the failures of a run go to the threads whose ops failed
(errors.ThreadErrors): `synchronize()` raises those no read has raised, in that thread
only. A run that fails as a whole (its worker died) is every one of its threads' error.

Deadlines. Every wait for a worker ends after `call_timeout_s` (runtime.init), or the
thread's own limit (`call_timeout`), with TimeoutError naming the worker and the run it
was running; the other workers are not affected (`restart_worker` replaces a stuck one).
"""
from __future__ import annotations

import contextlib
import itertools
import threading
import weakref
from collections import deque

from . import wire
from .errors import DeadlineExceeded, ThreadErrors, WorkerDiedError
from .worker import Worker


_ids = itertools.count(1)
_limits = threading.local()  # this thread's call_timeout(), if it set one
_holding = threading.local()  # this thread's hold_runs() depth
# distgrad.compile (distributed/program.py): the recording under way, which sees every run
# sent, array put and value read; and what to tell when the driver frees tensors.
recorder = None
free_watch = None


@contextlib.contextmanager
def hold_runs(queues):
    """Within this block, this thread's ops stay queued and each worker's go as one run at
    its end (or as few runs as the backend needs), instead of a message whenever a tensor
    crosses workers or a backward ends: a pipeline step's micro-batches then cost a few
    messages per worker, not one per micro-batch per op.

    On Ray, where workers run at once, two runs may then wait on each other's tensors (a
    stage's forward sends to the next stage, whose backward sends back): both are sent,
    and each worker's recv waits for the other's send. In-process workers run a run when
    it is sent, so there a run still goes before one that waits on it (`receive`).
    """
    depth = getattr(_holding, "depth", 0)
    _holding.depth = depth + 1
    try:
        yield
    finally:
        _holding.depth = depth
        if depth == 0:
            for q in queues:
                q.flush()


def holding() -> bool:
    """Is this thread inside hold_runs()?"""
    return getattr(_holding, "depth", 0) > 0


@contextlib.contextmanager
def call_timeout(seconds: float):
    """Within this block, this thread waits at most `seconds` for any worker (instead of
    init's call_timeout_s): `with dist.call_timeout(5): loss.item()`."""
    if not seconds > 0:
        raise ValueError(f"call_timeout: seconds must be positive, got {seconds!r}")
    before = getattr(_limits, "seconds", None)
    _limits.seconds = float(seconds)
    try:
        yield
    finally:
        _limits.seconds = before


def _takes_numbers(op, inputs, attrs, device) -> bool:
    """Whether the zero-dim driver tensors among `inputs` of an op on a worker go as the
    numbers they hold: when its shape rule takes them so, as the worker's check of the run
    will see them. Else they go as arrays sent with the run where torch takes a CPU scalar
    on another device (an elementwise op's operand, index_put's indices and value, which it
    moves there), and elsewhere (an index, a mask) they are refused with torch's error."""
    foreign = [hasattr(t, "_storage") and t.device_str != device for t in inputs]
    if not any(foreign):
        return True
    operands = [t._numpy_value().item() if f else t for t, f in zip(inputs, foreign)]
    try:
        op.shape(*operands, **attrs)
        return True
    except Exception:
        if op.elementwise or op.name in _MOVES_DRIVER_SCALARS:
            return False
    from ..autograd.record import _two_devices

    raise _two_devices(op.name, device, "cpu")


_MOVES_DRIVER_SCALARS = frozenset({"index_put"})


class RemoteRef:
    """A driver-side handle on one array held by a worker; freeing it frees the array."""

    __slots__ = ("queue", "id", "exported", "base", "generation", "__weakref__")

    def __init__(self, queue: "WorkerQueue", tid: int, root=None):
        self.queue = queue
        self.id = tid
        self.generation = queue.generation  # which process of the worker holds it
        # A view's: the base's ref, whose memory it is. Not `self` for a base: that cycle
        # would keep the worker's array until the driver's cyclic GC ran.
        self.base = root
        # An _Export of this value kept for its read (a scalar returned with the run that
        # computes it), until a write to its memory.
        self.exported = None

    @property
    def root(self) -> "RemoteRef":
        """Whose memory it is: the base's ref for a view, else itself."""
        return self.base if self.base is not None else self

    def __del__(self):
        q = self.queue
        if q is not None and not q.closed:
            q.frees.append(self.id)  # deque.append is atomic: safe from any thread's GC


class NodeHandle:
    """A graph node's saved state on a worker; freed with the node (or its release)."""

    __slots__ = ("queue", "id")

    def __init__(self, queue, nid):
        self.queue = queue
        self.id = nid

    def __del__(self):
        q = self.queue
        if q is not None and not q.closed:
            q.node_frees.append(self.id)


class _Export:
    """A tensor one run returns (its Ray reference, or array, once that run is sent), or
    sends to another worker as `key` (`ref` is then True once that run is sent)."""

    __slots__ = ("queue", "ref", "key", "run")

    def __init__(self, queue, key=None):
        self.queue = queue
        self.ref = None
        self.key = key
        self.run = None  # the _Sent run that returns it

    @property
    def sent(self) -> bool:
        return self.ref is not None


class WorkerQueue:
    """Instructions waiting for one worker, and the accounting of what was sent."""

    def __init__(self, index: int, endpoint, counters):
        self.index = index
        self.device = f"worker:{index}"
        self.endpoint = endpoint
        self.counters = counters
        self.lock = threading.RLock()
        self.instrs: list = []
        self.args: list = []  # arrays from the driver: ndarray or Ray object reference
        self.exports: list = []  # _Export per "export" instruction, in order
        self.sends: list = []  # _Export per "send" instruction
        self.waits: dict = {}  # key -> the _Export of the send a "recv" instruction takes
        self.frees: deque = deque()
        self.node_frees: deque = deque()
        self.pending: list = []  # replies of sent runs not yet checked
        self.scalars: list = []  # weakrefs to 0-dim results of the unsent run (see flush)
        self.work = 0  # elements the unsent run's ops produce: a cheap measure of its compute
        self.sizes: list = []  # per instruction, the elements it produces (for self.work)
        self.kept_exports = weakref.WeakSet()  # refs whose .exported is set
        self.owners: list = []  # per instruction, the driver thread that queued it
        self.peers: list = []  # every worker's queue, this one's included (set by the runtime)
        self.errors = ThreadErrors()  # shared by all the queues (set by the runtime)
        self.call_timeout_s = None  # how long a wait for this worker may take (None: no limit)
        self.generation = 0  # counts restarts: a tensor of an earlier one is lost
        self.closed = False
        self._flushing = False  # a flush under way (one waited on by the runs it flushes first)

    # ---- queueing ------------------------------------------------------------------------
    def run(self, op, inputs, attrs, metas, device):
        """Queue an op; returns handles for its results at once."""
        encoded = []
        as_numbers = _takes_numbers(op, inputs, attrs, self.device)
        for t in inputs:
            if t is None:
                encoded.append([2])
            elif hasattr(t, "_storage"):
                if t.device_str == self.device:
                    encoded.append([0, self._own(t._value).id])
                elif as_numbers:  # a zero-dim driver tensor taking part as a number
                    encoded.append([1, t._numpy_value().item()])
                else:  # (one the op reads as a tensor: a mask, an index) sent as an array
                    encoded.append([0, self.put(t._numpy_value()).id])
            else:
                encoded.append([1, t])
        sizes = [m.shape.numel() for m in metas]
        for m, n in zip(metas, sizes):
            if n > Worker.MAX_ELEMENTS:
                _over_the_cap(op.name, m, self.device)
        out_ids = [next(_ids) for _ in metas]
        # A view's (an alias's) result shares its input's memory: a write to either reaches both.
        root = inputs[0]._value.root if op.shares_memory and encoded[0][0] == 0 else None
        refs = [RemoteRef(self, i, root) for i in out_ids]
        with self.lock:
            self.instrs.append(["op", op.name, encoded, attrs, out_ids, [m.dtype.name for m in metas]])
            self.owners.append(threading.get_ident())
            if len(metas) == 1 and not metas[0].shape:
                self.scalars.append(weakref.ref(refs[0]))
            size = sum(sizes)
            self.sizes.append(size)
            self.work += size
            self._maybe_flush()
        return refs

    def put(self, array) -> RemoteRef:
        """Queue an array from the driver (sent with the run, as a Ray object or inline)."""
        tid = next(_ids)
        if recorder is not None:
            recorder.imported(self, tid, array)
        staged = self.endpoint.stage(array)  # copied now: later in-place writes don't leak in
        with self.lock:
            self._append(["import", tid, len(self.args)])
            self.args.append(staged)
            self.counters.add_sent(self.index, array.nbytes, 0)
        return RemoteRef(self, tid)

    def _own(self, ref: RemoteRef) -> RemoteRef:
        if ref.queue is not self:  # a tensor of a runtime that was shut down
            raise RuntimeError(f"this tensor lived on {self.device} of a distgrad.distributed "
                               "runtime that was shut down, and its value went with it; create it "
                               "again (or copy it to the driver with .cpu() before shutdown())")
        if ref.generation != self.generation:
            raise WorkerDiedError(f"{self.device} was restarted (restart_worker) after this "
                                  "tensor was made there, and its value went with the old "
                                  "process; create it again", self.index)
        return ref

    def export(self, ref: RemoteRef, keep: bool = False) -> _Export:
        """`ref`'s value, returned to the driver by the run: the kept export if there is
        one, else a new one (kept on `ref` for a later read if `keep`)."""
        self._own(ref)
        if ref.exported is not None:
            return ref.exported
        exp = _Export(self)
        with self.lock:
            self._append(["export", ref.id])
            self.exports.append(exp)
            if keep:
                ref.exported = exp
                self.kept_exports.add(ref)
        return exp

    def send_to(self, ref: RemoteRef, dst: "WorkerQueue") -> _Export:
        """Queue sending `ref`'s value straight to worker `dst` (channels.py)."""
        self._own(ref)
        exp = _Export(self, key=next(_ids))
        with self.lock:
            self._append(["send", ref.id, dst.index, exp.key])
            self.sends.append(exp)
        return exp

    def receive(self, exp: _Export, shape, dtype: str, swap: bool = False) -> RemoteRef:
        """Queue taking the tensor another worker's run sends (`send_to`). The run may go
        before that tensor exists: it waits for it on the worker, at that instruction.
        `swap`: part of an exchange, whose runs are sent together just after."""
        tid = next(_ids)
        with self.lock:
            # Workers that run at once may hold runs that wait on each other (both are sent
            # together later) when the caller holds runs, or in an exchange.
            may_wait_on_each_other = self.endpoint.concurrent and (holding() or swap)
            if not exp.sent and not may_wait_on_each_other and exp.queue.depends_on(self):
                self.flush()  # the sending run waits on this queue's run: send ours first
            self._append(["recv", tid, exp.queue.index, exp.key, list(shape), dtype])
            self.waits[exp.key] = exp
        return RemoteRef(self, tid)

    def read_file(self, path: str, key: str, starts, stops, dtype: str, crc32: int,
                  file_bytes: int) -> RemoteRef:
        """Queue reading rows [starts, stops) of a checkpoint shard file's tensor `key`: the
        worker reads the file itself (checkpoint/files.py)."""
        tid = next(_ids)
        if recorder is not None:
            recorder.cannot_replay("request")
        with self.lock:
            self._append(["read", tid, path, key, list(starts), list(stops), dtype, crc32,
                          file_bytes])
        return RemoteRef(self, tid)

    def assign(self, dst: RemoteRef, src: RemoteRef) -> None:
        self._own(dst), self._own(src)
        with self.lock:
            self._append(["assign", dst.id, src.id])
            # The kept values in the memory written (through a view too) are exported anew.
            for ref in list(self.kept_exports):
                if ref.root is dst.root:
                    ref.exported = None
                    self.kept_exports.discard(ref)

    def note_node(self, nid: int, saved_ids: list) -> NodeHandle:
        with self.lock:
            self._append(["node", nid, saved_ids])
        return NodeHandle(self, nid)

    def add_instruction(self, ins) -> None:
        """Queue an instruction that makes no tensor the driver tracks (compile's program,
        replay and drop_program: distributed/program.py)."""
        with self.lock:
            self._append(ins)

    def _append(self, ins) -> None:  # an instruction that computes nothing
        self.instrs.append(ins)
        self.sizes.append(0)
        self.owners.append(threading.get_ident())

    # Runs producing at least this many elements (a 512x512 matrix) are sent at the end of
    # a backward so the worker computes while the driver goes on; smaller ones wait for the
    # next message, saving a Ray call (~0.5 ms of driver time) per step.
    EAGER_WORK = 1 << 18

    def worth_sending(self) -> bool:
        return self.work >= self.EAGER_WORK

    def depends_on(self, other: "WorkerQueue", seen=None) -> bool:
        """Does this queue's unsent run need a tensor from `other`'s unsent run?"""
        seen = seen or set()
        if self in seen:
            return False
        seen.add(self)
        for exp in self.waits.values():
            if not exp.sent and (exp.queue is other or exp.queue.depends_on(other, seen)):
                return True
        return False

    # ---- sending -------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        # Bound the queue so a loop that never reads a value still makes progress.
        if len(self.instrs) >= 4096:
            self.flush()

    def flush(self) -> None:
        """Send the queued run (after the runs it receives from)."""
        with self.lock:
            if self._flushing:
                # Two held runs that wait on each other (hold_runs): this queue's run is
                # being sent already, after the one whose flush asked for it here.
                return
            frees = _drain(self.frees)
            node_frees = _drain(self.node_frees)
            if not self.instrs and not frees and not node_frees:
                return
            self._prefetch_scalars()
            run = _Run(self.instrs, self.args, self.sizes, self.waits, self.owners)
            exports, sends = self.exports, self.sends
            self.instrs, self.args, self.exports, self.sizes, self.work = [], [], [], [], 0
            self.sends, self.waits, self.owners = [], {}, []
            self._flushing = True
            try:
                self._send(run, exports, sends, frees, node_frees)
            finally:
                self._flushing = False

    def flush_exports(self) -> None:
        """Send now only what the queued sends and exports need; the rest stays queued.

        Another worker waits for a sent tensor, so work it does not depend on (a backward's
        weight gradients, typically) should not delay it: that work goes with the queue's
        next message and runs while the other worker computes.
        """
        with self.lock:
            if not self.exports and not self.sends:
                return  # nothing waits on this queue
            self._prefetch_scalars()
            take = self._needed_by_exports()
            if take is None:
                self.flush()
                return
            now, later = _Run(), _Run()
            for ins, size, owner, t in zip(self.instrs, self.sizes, self.owners, take):
                (now if t else later).add(ins, size, owner, self.args, self.waits)
            later_ids = set()
            for ins in later.instrs:
                later_ids.update(wire.ids_of(ins))
            # A free of an id the deferred work still uses waits for that work.
            frees = _drain(self.frees)
            self.frees.extend(f for f in frees if f in later_ids)
            frees = [f for f in frees if f not in later_ids]
            self.instrs, self.args, self.sizes = later.instrs, later.args, later.sizes
            self.owners = later.owners
            self.waits, self.work = later.waits, sum(later.sizes)
            exports, sends = self.exports, self.sends
            self.exports, self.sends = [], []
            # A run this one waits on may wait on this queue too (runs that wait on each
            # other, below): its flush must not send the deferred rest ahead of this part.
            self._flushing = True
            try:
                self._send(now, exports, sends, frees, _drain(self.node_frees))
            finally:
                self._flushing = False

    def _needed_by_exports(self):
        """Per queued instruction, whether the queued exports need it; None if all do.

        Everything up to the last in-place write ("assign") keeps its place, so deferring
        never moves a read of some memory (or of a view of it) across a write to it; after
        that write an op is needed when a needed instruction reads what it makes.
        """
        instrs = self.instrs
        last_write = max((i for i, ins in enumerate(instrs) if ins[0] == "assign"), default=-1)
        needed, take = set(), [True] * len(instrs)
        for i in range(len(instrs) - 1, last_write, -1):
            ins = instrs[i]
            code = ins[0]
            if code == "op":
                if any(o in needed for o in wire.makes(ins)):
                    needed.update(wire.reads(ins))
                else:
                    take[i] = False
            elif code in ("import", "recv"):
                take[i] = not needed.isdisjoint(wire.makes(ins))
            elif code in ("export", "send"):
                needed.update(wire.reads(ins))
            # "node" (bookkeeping) goes now
        return None if all(take) else take

    def _send(self, run: "_Run", exports, sends, frees, node_frees) -> None:
        instrs = run.instrs
        for exp in run.waits.values():  # the runs this one receives from go first
            if not exp.sent:
                exp.queue.flush()
        if frees:
            instrs.append(["free", frees])
        if node_frees:
            instrs.append(["free_node", node_frees])
        if frees and free_watch is not None:
            free_watch(self, frees)
        if recorder is not None:
            recorder.sent(self, instrs)
        payload_size, refs = self.endpoint.submit(instrs, run.args, len(exports))
        self.counters.add_sent(self.index, payload_size, 1)
        sent = _Sent(refs[0], instrs, run.owners)
        self.pending.append(sent)
        for exp, ref in zip(exports, refs[1:]):
            exp.ref = ref
            exp.run = sent
        for exp in sends:
            exp.ref = True
        if len(self.pending) > 16:  # replies are checked when a value is read: bound them
            self.check(block=False)

    def _prefetch_scalars(self) -> None:
        # A 0-dim result the driver still holds when its run is sent (a loss, typically) is
        # returned with the run: reading it later (`loss.item()`) then costs no message.
        scalars, self.scalars = self.scalars, []
        for wr in scalars[-4:]:
            ref = wr()
            if ref is not None:
                self.export(ref, keep=True)

    def fetch(self, ref: RemoteRef):
        """The value of a tensor, as a numpy array in the driver (waits for it).

        Waits for the run that made the value, not for the runs sent after it (a loss read
        after backward returns while the workers still compute, so the driver records the
        next step meanwhile). If the op that made the value failed, or one it was computed
        from, its original error is raised (worker.py); if the run failed as a whole (its
        worker died), that run's error."""
        if recorder is not None:
            recorder.cannot_replay("read")
        exp = self.export(ref)
        if not exp.sent:
            self.flush()
        try:
            arr = self.endpoint.get(exp.ref, self.index, self.timeout())
        except DeadlineExceeded:  # (not a TimeoutError the worker raised)
            raise self._timed_out(exp.run) from None
        except BaseException:
            self.check(block=False)
            if exp.run is not None:
                self.errors.reported(threading.get_ident(), exp.run.key)
            raise
        self.check(block=False)  # route the failures of the runs that are done
        if isinstance(arr, bytes):  # a failure record (worker.py)
            record = wire.decode_reply(arr)["error"]
            self.errors.reported(threading.get_ident(), _key(record))
            raise self.endpoint.error_of(record, self.index)
        self.counters.add_received(self.index, arr.nbytes)
        return arr

    def timeout(self):
        """How long this thread may wait for this worker (None: no limit)."""
        own = getattr(_limits, "seconds", None)
        return own if own is not None else self.call_timeout_s

    def _timed_out(self, run=None) -> TimeoutError:
        """The error of a wait that ran out of time: the worker, and the run it is on (its
        oldest unfinished one: a worker runs its runs one at a time)."""
        running = run
        with self.lock:
            pending = list(self.pending)
        for sent in pending:
            if self.endpoint.busy(sent.ref):
                running = sent
                break
        what = running.describe() if running is not None else "nothing the driver knows of"
        err = TimeoutError(f"{self.device} did not answer within {self.timeout()} s "
                           f"(call_timeout_s): it is running {what}. The other workers are "
                           f"not affected; distgrad.distributed.restart_worker({self.index}) "
                           "replaces this one (its tensors are lost)")
        err.worker, err.index = self.device, self.index  # as WorkerDiedError's: who to restart
        return err

    def busy_runs(self) -> int:
        """How many sent runs have not finished yet (checks none of them)."""
        return sum(1 for r in self.pending if self.endpoint.busy(r.ref))

    def check(self, block: bool) -> None:
        """Look at the replies of the sent runs that are done (all of them: `block`), and
        hand their failures to the threads whose ops failed (errors.ThreadErrors)."""
        with self.lock:
            pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            outcomes = self.endpoint.check([p.ref for p in pending], self.index,
                                           self.timeout() if block else 0.0)
        except DeadlineExceeded:
            with self.lock:
                self.pending = pending + self.pending
            raise self._timed_out() from None
        unfinished = []
        for sent, outcome in zip(pending, outcomes):
            if outcome is None:
                unfinished.append(sent)
            elif isinstance(outcome, BaseException):
                self.errors.add(set(sent.owners), sent.key, outcome)
            else:
                if "timing" in outcome:
                    self.counters.add_timing(self.index, *outcome["timing"])
                for i, record in outcome.get("failed", ()):
                    owner = sent.owners[i] if i < len(sent.owners) else None
                    self.errors.add((owner,), _key(record),
                                    self.endpoint.error_of(record, self.index))
        with self.lock:
            self.pending = unfinished + self.pending

    def synchronize(self) -> None:
        """Wait for every run sent to this worker (the queued ones go now), then raise the
        calling thread's first error no read has raised, as runtime.synchronize() does."""
        self.flush()
        self.check(block=True)
        err = self.errors.take(threading.get_ident())
        if err is not None:
            raise err

    def restarted(self) -> None:
        """The worker is being replaced (runtime.restart_worker): what is queued for it
        goes to the old process (and fails there, for whoever reads it), and the tensors
        made so far are lost (`_own`)."""
        with self.lock:
            self.flush()
            # The old process's runs are not checked: what they made is lost with it (a read
            # of it says so), which restart_worker's caller asked for: no one's error.
            self.pending = []
            self.generation += 1
            for ref in list(self.kept_exports):
                ref.exported = None
            self.kept_exports = weakref.WeakSet()

    def request(self, kind: str) -> dict:
        if recorder is not None:
            recorder.cannot_replay("request")
        self.flush()
        self.check(block=True)
        try:
            return self.endpoint.request(kind, self.index, self.timeout())
        except DeadlineExceeded:
            raise self._timed_out() from None


def _key(record: dict):
    return ("op", record.get("worker"), record.get("key"))


class _Sent:
    """A run sent to a worker: its reply, and what it was (for errors and time-outs)."""

    __slots__ = ("ref", "instrs", "owners", "key")

    def __init__(self, ref, instrs, owners):
        self.ref = ref
        self.instrs = instrs
        self.owners = owners
        self.key = ("run", next(_ids))  # names its failure, if it fails as a whole

    def describe(self) -> str:
        ops, peers = {}, set()
        for ins in self.instrs:
            if ins[0] == "op":
                _, name, *_ = ins
                ops[name] = ops.get(name, 0) + 1
            elif ins[0] in ("send", "recv"):
                code, _, peer, *_ = ins
                peers.add(f"{code} {'to' if code == 'send' else 'from'} worker:{peer}")
        names = ", ".join(f"{n} x{c}" if c > 1 else n for n, c in list(ops.items())[:8])
        more = ", ..." if len(ops) > 8 else ""
        moves = f"; {', '.join(sorted(peers))}" if peers else ""
        return f"a run of {len(self.instrs)} instructions (ops: {names or 'none'}{more}{moves})"


class _Run:
    """Instructions to send together: their array arguments (numbered as the "import"
    instructions say) and the sends their "recv" instructions wait for, by key."""

    def __init__(self, instrs=None, args=None, sizes=None, waits=None, owners=None):
        self.instrs = instrs if instrs is not None else []
        self.args = args if args is not None else []
        self.sizes = sizes if sizes is not None else []
        self.waits = waits if waits is not None else {}
        self.owners = owners if owners is not None else []

    def add(self, ins, size, owner, args, waits) -> None:
        """Append an instruction of another run (whose `args` and `waits` it refers to)."""
        if ins[0] == "import":
            _, tid, arg = ins
            self.args.append(args[arg])
            ins = ["import", tid, len(self.args) - 1]
        elif ins[0] == "recv":
            _, _, _, key, _, _ = ins
            self.waits[key] = waits[key]
        self.instrs.append(ins)
        self.sizes.append(size)
        self.owners.append(owner)


def _over_the_cap(name: str, meta, device: str):
    """A result the worker would refuse: raised here, at the call, not at a later read."""
    n = meta.shape.numel()
    raise MemoryError(f"{name}: cannot allocate {n * meta.dtype.itemsize} bytes on {device} for a "
                      f"{meta.dtype.name} tensor of shape {list(meta.shape)}: a worker makes "
                      f"tensors of at most {Worker.MAX_ELEMENTS} elements")


def _drain(dq: deque) -> list:
    out = []
    while True:
        try:
            out.append(dq.popleft())
        except IndexError:
            return out


class Counters:
    """Messages and bytes the driver sent to / received from each worker."""

    def __init__(self, n: int):
        self.lock = threading.Lock()
        self.messages = [0] * n
        self.sent = [0] * n
        self.received = [0] * n
        self.moved = 0  # bytes sent worker to worker (directly, never via the driver)
        self.transfers = 0
        # Each worker's timeline, from its runs' replies (checked ones: after synchronize(),
        # all): seconds running runs, of which waiting in recv for another worker's tensor,
        # and the wall-clock span from the first run's start to the last one's end (since
        # init, or restart_window).
        self.run_s = [0.0] * n
        self.recv_wait_s = [0.0] * n
        self.runs = [0] * n
        self.first_start = [None] * n
        self.last_end = [None] * n

    def add_sent(self, i: int, nbytes: int, messages: int) -> None:
        with self.lock:
            self.sent[i] += nbytes
            self.messages[i] += messages

    def add_received(self, i: int, nbytes: int) -> None:
        with self.lock:
            self.received[i] += nbytes

    def add_timing(self, i: int, start: float, end: float, recv_wait: float) -> None:
        with self.lock:
            self.run_s[i] += end - start
            self.recv_wait_s[i] += recv_wait
            self.runs[i] += 1
            if self.first_start[i] is None or start < self.first_start[i]:
                self.first_start[i] = start
            if self.last_end[i] is None or end > self.last_end[i]:
                self.last_end[i] = end

    def restart_window(self) -> None:
        """The timeline's span starts again with the next run (timeline.py)."""
        with self.lock:
            self.first_start = [None] * len(self.first_start)
            self.last_end = [None] * len(self.last_end)

    def add_moved(self, nbytes: int, transfers: int = 1) -> None:
        with self.lock:
            self.moved += nbytes
            self.transfers += transfers

    def snapshot(self) -> dict:
        with self.lock:
            return {"messages": list(self.messages), "bytes_sent": list(self.sent),
                    "bytes_received": list(self.received), "bytes_moved": self.moved,
                    "transfers": self.transfers, "runs": list(self.runs),
                    "run_s": list(self.run_s), "recv_wait_s": list(self.recv_wait_s),
                    "first_run_start": list(self.first_start),
                    "last_run_end": list(self.last_end)}

