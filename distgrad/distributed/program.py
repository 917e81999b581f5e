"""distgrad.compile's programs: what each worker ran in one recorded call, kept on that
worker and run again by one small instruction.

A call of a compiled step runs eagerly once while a `Recorder` sees every run the queues
send (coordinator.py). `Program.build` turns those runs into one program per worker:
  - the ids of the call's inputs (tensors on workers, or driver tensors the step moved to
    one) are renamed to placeholders that each replay binds to that call's tensors;
  - the ids of its outputs are renamed too, and each replay hands them over to fresh ids
    (the caller may still hold an earlier call's outputs);
  - every other id the program makes is made again, under the same id, by each replay:
    temporaries are freed by the program's own frees (the recording ends with a garbage
    collection and a flush, so the driver's frees of them are in it), and the state the
    step leaves behind (gradients, optimizer moments) is written where the driver's
    tensors already point;
  - values it read back ("export") are dropped: a step that reads a value is not replayed;
  - driver tensors the step made from numbers alone (`arange(T)`, `full`, `zeros` and
    what it computed from those only) are constants: their values follow from the Python
    numbers the step passed, as an op's numeric arguments do, which the program keeps
    too. One moved to a worker is sent again, as recorded, with each replay. Driver
    values the step computed from its driver tensor arguments (and constants) by ops
    alone, a DistributedDataParallel's split of a batch it was given, are computed again
    by each replay from that call's arguments, by the same ops, and sent as recorded.
    Anything else computed on the driver cannot be replayed.
A replay sends each worker one instruction (with its queued work, in one message) on the
Ray backend, where workers run at once and wait for each other's tensors; in-process
workers run a run when it is sent, so there the recorded runs go one by one in the order
they were first sent. The ops, their order and their reduction order are the recorded
ones: a replay's values are the eager call's, bit for bit.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import threading
import weakref

import numpy as np

from .. import storage
from ..autograd import record
from . import coordinator, wire
from .coordinator import RemoteRef

_program_ids = itertools.count(1)
_replays = itertools.count()
_live = weakref.WeakSet()  # programs that replay: the driver's frees are checked against them

# What a recording cannot replay, by reason: what a warning says about it.
REASONS = {
    "hook": "a hook (register_hook, a forward hook, ...) ran Python code in the step",
    "function": "a custom autograd.Function ran Python code in the step",
    "read": "the step read a tensor's value (.item(), bool(), .tolist(), printing)",
    "random": "the step drew random numbers (dropout, rand): a replay would draw the same, "
              "or seeded a stream (manual_seed, set_rng_state): a replay would not seed it",
    "driver-op": "the step computed on or wrote to driver (cpu) tensors other than the "
                 "constants it made (arange, full, ... and what is computed from them)",
    "driver-data": "the step moved driver data made inside it to a worker (pass it as an "
                   "argument instead)",
    "request": "the step asked the workers for stats, a checkpoint or a file",
    "output": "the step returns something other than worker tensors it computed (or a "
              "tensor it also keeps)",
    "input-grad": "an input of the step requires grad",
    "output-grad": "the step returns a tensor whose graph still holds what a backward "
                   "needs (its caller differentiates through it; a replay would make no "
                   "graph)",
    "frees-read": "the step frees a tensor it reads that was made before it",
    "nested": "the step calls another compiled step",
    "argument": "the step keeps a tensor argument (or a view or detach() of one) in the "
                "state it reads, or sets an attribute of one: a replay runs no Python, and "
                "would leave the recording's there, not the call's, or set nothing",
    "modes": "the step sets a mode it leaves set (grad mode, the default dtype, ...): a "
             "replay runs no Python, and would not set it again",
    "objects": "the step leaves Python objects it made (a list, a dict, a tuple, ...) in the "
               "state it reads: a replay runs no Python, and would leave the old ones there",
    "unseen": "the step reads (or leaves behind) worker tensors that its arguments, closure, "
              "globals and self do not reach (their replacement could not be told, or their "
              "end)",
}


class Recorder:
    """Sees what one call sends while it runs (in the thread that started it)."""

    def __init__(self, cpu_inputs):
        self.thread = threading.get_ident()
        self.runs: list = []  # (queue, instructions), in the order they were sent
        self.reasons: list = []
        self.cpu_inputs = cpu_inputs  # [(input position, ndarray)]: driver tensor inputs
        self.imports: dict = {}  # tensor id -> input position, for inputs moved to a worker
        self.constants: dict = {}  # id(array) -> array: driver values made from numbers
        self.imported_constants: dict = {}  # ("constant", tensor id) -> a copy of its array
        # id(array) -> (array, recipe) of driver values made from the driver inputs by ops
        # (_derive): an input's ("input", position), an op's ("op", op, attrs, [recipe or
        # ("value", a constant's copy or a number)], output index, output dtypes)
        self.derived: dict = {id(arr): (arr, ("input", pos)) for pos, arr in cpu_inputs}
        # ("derived", tensor id) -> (its recipe, shape, dtype)
        self.imported_derived: dict = {}

    def cannot_replay(self, reason: str) -> None:
        if threading.get_ident() == self.thread and reason not in self.reasons:
            self.reasons.append(reason)

    def sent(self, queue, instrs) -> None:
        if threading.get_ident() == self.thread:
            self.runs.append((queue, list(instrs)))

    def imported(self, queue, tid: int, array) -> None:
        if threading.get_ident() != self.thread:
            return
        for pos, arr in self.cpu_inputs:
            if array is arr:
                self.imports[tid] = pos
                return
        if self.constants.get(id(array)) is array:
            key = ("constant", tid)
            self.imports[tid] = key
            self.imported_constants[key] = array.copy()  # as it is now: a replay sends this
            return
        recipe = self._recipe(array)
        if recipe is not None and recipe[0] == "op":
            key = ("derived", tid)
            self.imports[tid] = key
            self.imported_derived[key] = (recipe, array.shape, array.dtype)
            return
        self.cannot_replay("driver-data")

    def computed_on_driver(self, op, inputs, attrs, values, dtypes) -> None:
        """A driver op ran: its results are constants if its tensor inputs all are and it
        took no array (a random fill's draw), derived from the step's driver inputs if
        each of those is a constant or so derived; else the replay could not repeat it."""
        if threading.get_ident() != self.thread:
            return
        if any(hasattr(v, "__array__") for v in attrs.values()):
            self.cannot_replay("driver-op")
        elif all(self._constant(t) for t in inputs if hasattr(t, "_storage")):
            for v in values:
                self.constants[id(v)] = v
        else:
            parts = [self._part(t) for t in inputs]
            if any(part is None for part in parts):
                self.cannot_replay("driver-op")
                return
            for k, v in enumerate(values):
                self.derived[id(v)] = (v, ("op", op, dict(attrs), parts, k, list(dtypes)))

    def _part(self, x):
        """How a replay gets op input `x` (_derive), or None if it cannot."""
        if not hasattr(x, "_storage"):
            return ("value", x)
        if self._constant(x):
            return ("value", x._value.copy())  # (as it is now)
        return self._recipe(x._value)

    def _recipe(self, array):
        entry = self.derived.get(id(array))
        return entry[1] if entry is not None and entry[0] is array else None

    def read_on_driver(self, t) -> None:
        """Python reads driver tensor `t`'s values: of a value derived from the step's
        driver arguments (theirs too, but a 0-dim one's, which the call's signature holds)
        a replay would take the recorded values for its own."""
        if threading.get_ident() != self.thread:
            return
        recipe = self._recipe(t._value)
        if (t.ndim or recipe is None or recipe[0] != "input") and self.derived_value(t._value):
            self.cannot_replay("read")

    def derived_value(self, array) -> bool:
        """Whether driver `array` (or the memory it views) was derived from an input."""
        while array is not None:
            if self._recipe(array) is not None:
                return True
            array = getattr(array, "base", None)
        return False

    def wrote_on_driver(self, target, result) -> None:
        """Values are written into a driver tensor: fine into a constant from a constant
        (it stays one), else a change of the driver's state the replay would not make."""
        if not (self._constant(target) and self._constant(result)):
            self.cannot_replay("driver-op")

    def _constant(self, t) -> bool:
        v = t._value
        return v is not None and self.constants.get(id(v)) is v


def derive(recipes: dict, cpu_arrays: dict) -> dict:
    """The driver values `recipes` (Recorder.imported_derived) stand for, computed again
    from this call's driver inputs `cpu_arrays` by the recorded ops; None if one's shape
    or dtype is not the recorded one's (an op whose result's shape its values decide)."""
    from ..ops.table import run_forward

    memo = {}

    def value(recipe):
        if recipe[0] == "value":
            return recipe[1]
        if recipe[0] == "input":
            return cpu_arrays[recipe[1]]
        key = id(recipe)
        if key not in memo:
            _, op, attrs, parts, k, dtypes = recipe
            with np.errstate(all="ignore"):  # (as the driver ran it: record._run_local)
                memo[key] = run_forward(op, [value(p) for p in parts], attrs, dtypes)
        return memo[key][recipe[4]]

    out = {}
    for key, (recipe, shape, dtype) in recipes.items():
        out[key] = value(recipe)
        if out[key].shape != shape or out[key].dtype != dtype:
            return None
    return out


def start(cpu_inputs) -> Recorder:
    rec = Recorder(cpu_inputs)
    coordinator.recorder = rec
    record.capturing = rec
    storage.READ_WATCH = rec.read_on_driver
    return rec


def stop() -> None:
    coordinator.recorder = None
    record.capturing = None
    storage.READ_WATCH = None


def recording() -> bool:
    return coordinator.recorder is not None


@contextlib.contextmanager
def paused(runtime):
    """Work sent inside it is not part of the recording (what a replay does after the
    program: compile_outputs' views of its outputs). The work queued before it is sent
    first, and the work queued in it before the recording goes on."""
    runtime.flush_all()
    rec, capturing = coordinator.recorder, record.capturing
    coordinator.recorder = record.capturing = None
    try:
        yield
        runtime.flush_all()
    finally:
        coordinator.recorder, record.capturing = rec, capturing


class Program:
    """One recorded call's runs, per worker, ready to replay."""

    def __init__(self):
        self.id = next(_program_ids)
        self.queues: list = []  # the workers' queues it runs on
        self.runs: dict = {}  # queue index -> [instructions per run]
        self.order: list = []  # (queue index, run index) in the order first sent
        self.binds: dict = {}  # queue index -> [(placeholder, input key)]
        # queue index -> [(placeholder, input position or a key of `constants`)]
        self.cpu_binds: dict = {}
        self.outputs: list = []  # (queue, placeholder, shape, dtype name)
        self.reads: set = set()  # ids made before the call that it reads (state)
        self.kept: set = set()  # ids it makes that outlive it (the state it leaves)
        self.generations: dict = {}  # queue index -> the worker's generation recorded on
        self.stored: set = set()  # queue indexes that have the program
        self.stale = False  # a tensor it reads was freed since
        self.constants: dict = {}  # ("constant", id) -> array, sent as recorded by a replay
        self.derived: dict = {}  # ("derived", id) -> recipe, computed by each replay (derive)
        # queue index -> (run index its second message starts at, the outputs made before)
        self.cuts: dict = {}
        self.laid_out = False  # cuts decided (at the first replay on workers that run at once)
        self.moved = (0, 0)  # (bytes, tensors) each replay sends worker to worker

    @classmethod
    def build(cls, rec: Recorder, worker_inputs, outputs):
        """(program, reasons it cannot replay). worker_inputs: [(input key, queue, id)];
        outputs: [(queue, id, shape, dtype name)]."""
        prog, reasons = cls(), list(rec.reasons)
        prog.constants, prog.derived = rec.imported_constants, rec.imported_derived
        rename = {}
        for key, q, tid in worker_inputs:
            if tid not in rename:
                rename[tid] = next(coordinator._ids)
                prog.binds.setdefault(q.index, []).append((rename[tid], key))
        for q, tid, shape, dtype in outputs:
            if tid in rename:
                reasons.append("output")
                continue
            rename[tid] = next(coordinator._ids)
            prog.outputs.append((q, rename[tid], list(shape), dtype))
        queues = {}
        for q, instrs in rec.runs:
            kept = []
            for ins in instrs:
                code = ins[0]
                if code == "export":
                    continue  # a value read (the step is not replayed) or a prefetched loss
                if code == "import" and ins[1] in rec.imports:
                    placeholder = rename.setdefault(ins[1], next(coordinator._ids))
                    prog.cpu_binds.setdefault(q.index, []).append(
                        (placeholder, rec.imports[ins[1]]))
                    continue
                kept.append(wire.renamed(ins, rename))
            if not kept:
                continue
            queues[q.index] = q
            runs = prog.runs.setdefault(q.index, [])
            prog.order.append((q.index, len(runs)))
            runs.append(kept)
        prog.queues = [queues[k] for k in sorted(queues)]
        nbytes = count = 0
        for ins in (ins for runs in prog.runs.values() for run in runs for ins in run):
            if ins[0] == "recv":
                _, _, _, _, shape, dtype = ins
                nbytes += math.prod(shape) * np.dtype(dtype).itemsize
                count += 1
        prog.moved = (nbytes, count)
        prog.generations = {k: q.generation for k, q in queues.items()}
        placeholders = set(rename.values())
        made_all = set()
        for k, runs in prog.runs.items():
            made, freed = set(), set()
            for instrs in runs:
                for ins in instrs:
                    for tid in wire.reads(ins):
                        if tid not in made and tid not in placeholders:
                            prog.reads.add(tid)
                    made.update(wire.makes(ins))
                    if ins[0] == "free":
                        freed.update(ins[1])
            if prog.reads & freed - made:
                reasons.append("frees-read")
            made_all |= made
            prog.kept |= made - freed - placeholders
        if any(ph not in made_all for _, ph, _, _ in prog.outputs):
            reasons.append("output")  # not made by the step (a tensor it was given, state)
        return prog, list(dict.fromkeys(reasons))

    def writing_into(self, targets: dict) -> "Program":
        """This program but that the outputs at `targets`' placeholders are made under the
        ids it maps them to (tensors of the state the caller lets the replay overwrite)
        instead of being handed over. Its reads, inputs and validity are this one's."""
        prog = Program()
        prog.queues, prog.order, prog.binds, prog.cpu_binds = (
            self.queues, list(self.order), self.binds, self.cpu_binds)
        prog.runs = {k: [[wire.renamed(ins, targets) for ins in run] for run in runs]
                     for k, runs in self.runs.items()}
        prog.outputs = [out for out in self.outputs if out[1] not in targets]
        prog.reads, prog.kept = self.reads, self.kept | set(targets.values())
        prog.generations, prog.constants = self.generations, self.constants
        prog.derived = self.derived
        prog.cuts, prog.laid_out, prog.moved = dict(self.cuts), self.laid_out, self.moved
        return prog

    def valid(self, runtime) -> bool:
        """Can it still run where it was recorded (no worker restarted, no runtime
        started anew, no tensor it reads freed)?"""
        if self.stale:
            return False
        for q in self.queues:
            if q.frees and not self.reads.isdisjoint(q.frees):  # freed, not yet told
                self.stale = True
                return False
            if q.closed or runtime.queues[q.index] is not q or \
                    q.generation != self.generations[q.index]:
                return False
        return True

    def watch(self) -> None:
        """From now on, a free of a tensor it reads makes it stale."""
        _live.add(self)
        coordinator.free_watch = _freed

    def replay(self, input_ids: dict, cpu_arrays: dict, concurrent: bool, derived=None) -> list:
        """Run the program once more: input_ids (input key -> this call's tensor id) and
        cpu_arrays (input position -> array) are this call's inputs, `derived` the values
        derive() computed from them. Returns the outputs' RemoteRefs, in the recorded order."""
        gen = next(_replays) % (1 << 20)
        binds, moves, keep = {}, {}, []
        for k, pairs in self.binds.items():
            binds[k] = [[ph, input_ids[key]] for ph, key in pairs]
        by_index = {q.index: q for q in self.queues}
        if self.constants:
            cpu_arrays = {**cpu_arrays, **self.constants}
        if self.derived:
            cpu_arrays = {**cpu_arrays, **derived}
        for k, pairs in self.cpu_binds.items():
            for ph, pos in pairs:
                ref = by_index[k].put(cpu_arrays[pos])
                keep.append(ref)  # (freed with the worker's next message)
                binds.setdefault(k, []).append([ph, ref.id])
        out_refs = []
        for q, ph, shape, dtype in self.outputs:
            ref = RemoteRef(q, next(coordinator._ids))
            out_refs.append(ref)
            moves.setdefault(q.index, []).append([ph, ref.id, shape, dtype])
        if self.moved[1]:  # (counted as an eager step's moves are)
            self.queues[0].counters.add_moved(*self.moved)
        if concurrent and not self.laid_out:
            self._cut_after_early_outputs()
        for q in self.queues:
            if q.index not in self.stored:
                q.add_instruction(["program", self.id, self.runs[q.index]])
                self.stored.add(q.index)
        if concurrent:
            for q in self.queues:
                k, n = q.index, len(self.runs[q.index])
                cut, early = self.cuts.get(k, (n, ()))
                if cut < n:  # the outputs made first come back with a message of their own
                    q.add_instruction(["replay", self.id, 0, cut, binds.get(k, []),
                                       [m for m in moves.get(k, []) if m[0] in early], gen])
                    self._prefetch(q, out_refs, early)
                    q.flush()
                q.add_instruction(["replay", self.id, 0 if cut == n else cut, n,
                                   binds.get(k, []),
                                   [m for m in moves.get(k, []) if m[0] not in early], gen])
                self._prefetch(q, out_refs, None if cut == n else
                               {ph for _, ph, _, _ in self.outputs} - set(early))
            for q in self.queues:
                q.flush()
        else:
            for k, lo, hi in _stretches(self.order):
                q, n = by_index[k], len(self.runs[k])
                # (the first stretch binds the inputs, the last lets go of them)
                q.add_instruction(["replay", self.id, lo, hi,
                                   binds.get(k, []) if lo == 0 or hi == n else [],
                                   moves.get(k, []) if hi == n else [], gen])
                if hi == n:
                    self._prefetch(q, out_refs)
                q.flush()
        return out_refs

    def _prefetch(self, q, out_refs, placeholders=None) -> None:
        # A 0-dim output (the loss) comes back with the replay's reply, as an eager run
        # returns it (coordinator._prefetch_scalars): reading it costs no message.
        for ref, (oq, ph, shape, _) in zip(out_refs, self.outputs):
            if oq is q and not shape and (placeholders is None or ph in placeholders):
                q.export(ref, keep=True)

    def _cut_after_early_outputs(self) -> None:
        """On workers that run at once: a worker's 0-dim outputs (the loss), its sends and
        the ops they need are moved as early in its program as their inputs allow, and its
        replay is cut after them into two messages. Reading the loss then waits only for
        the first: the caller's next step is sent while this one's backward and update
        still run, as an eager step's runs overlap (a pipeline's last stage computes the
        loss before its weight gradients and update). The sends go in the first message
        because other workers wait for them: a second message starts a fraction of a
        millisecond after the first ends, which a pipeline's previous stage would wait."""
        self.laid_out = True
        for q in self.queues:
            k = q.index
            scalars = {ph for oq, ph, shape, _ in self.outputs if oq is q and not shape}
            if not scalars:
                continue
            instrs = [ins for run in self.runs[k] for ins in run]
            ordered, cut = _early_first(instrs, scalars, sends=True)
            if cut is None or cut >= len(ordered) or any(
                    scalars & wire.touched(ins) for ins in ordered[cut:]):
                continue  # (the first message hands the outputs over: the rest must not use them)
            self.runs[k] = [ordered[:cut], ordered[cut:]]
            self.cuts[k] = (1, scalars)
            self.order = [(i, r) for i, r in self.order if i != k] + [(k, 0), (k, 1)]

    def drop(self) -> None:
        """The workers let go of it (with their next message)."""
        _live.discard(self)
        for q in self.queues:
            if q.index in self.stored and not q.closed:
                q.add_instruction(["drop_program", self.id])
        self.stored = set()


def _freed(queue, frees) -> None:
    for prog in list(_live):
        if not prog.stale and not prog.reads.isdisjoint(frees):
            prog.stale = True


def _early_first(instrs, wanted: set, sends: bool = False):
    """(instructions, cut): the ops that make the ids `wanted` (with `sends`, every send
    too), and the ops those need, each moved up to just after the last instruction it must
    follow, and the index after the last of them. An op must follow any instruction that
    makes, reads, frees or saves an id it touches, and every assign into memory its inputs
    share (views are followed to the tensor they view); anything else it may pass (ops on
    other tensors, sends and receives of others, frees). Values are unchanged: each op
    still sees what it saw. (None, if an id wanted is not made by an op of this program.)"""
    from ..ops.table import OPS

    makers = {}
    for i, ins in enumerate(instrs):
        for tid in wire.makes(ins):
            makers[tid] = i
    need, todo = set(), [makers.get(t) for t in wanted]
    if None in todo or any(instrs[i][0] != "op" for i in todo):
        return instrs, None
    if sends:
        todo += [i for i, ins in enumerate(instrs) if ins[0] == "send"]
    while todo:
        i = todo.pop()
        if i in need or instrs[i][0] not in ("op", "send"):
            continue
        need.add(i)
        todo.extend(makers[t] for t in wire.reads(instrs[i]) if t in makers)
    root: dict = {}  # a view's id -> the id of the memory it shares
    for ins in instrs:
        if ins[0] != "op":
            continue
        _, name, inputs, _, out_ids, _ = ins
        if OPS[name].shares_memory and inputs and inputs[0][0] == 0:
            base = inputs[0][1]
            for t in out_ids:
                root[t] = root.get(base, base)
    out: list = []
    for i, ins in enumerate(instrs):
        if i not in need:
            out.append(ins)
            continue
        touched = wire.touched(ins)
        memory = {root.get(t, t) for t in touched}
        at = len(out)
        while at > 0 and not _must_follow(out[at - 1], touched, memory, root):
            at -= 1
        out.insert(at, ins)
    last = max(k for k, ins in enumerate(out) if ins[0] == "op" and set(wire.makes(ins)) & wanted
               or sends and ins[0] == "send")
    return out, last + 1


def _must_follow(prev, touched: set, memory: set, root: dict) -> bool:
    code = prev[0]
    if code == "assign":
        return root.get(prev[1], prev[1]) in memory or bool(touched & wire.touched(prev))
    if code == "free_node":  # (a graph node's record on the worker: no tensor)
        return False
    if code in ("op", "import", "recv", "read", "export", "send", "free", "node"):
        return bool(touched & wire.touched(prev))
    return True  # anything else: stay after it


def _stretches(order):
    """(queue index, first run, end run) for each stretch of one worker's runs in order."""
    out = []
    for k, i in order:
        if out and out[-1][0] == k and out[-1][2] == i:
            out[-1][2] = i + 1
        else:
            out.append([k, i, i + 1])
    return out
