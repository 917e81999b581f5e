"""`distgrad.compile(fn)`: record a training step once, then replay it with one small
message per worker.

    @distgrad.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

The first call runs `fn` eagerly while every run sent to the workers is recorded
(distributed/program.py). A later call whose arguments have the same shapes, dtypes and
placements, and whose module and optimizer state is as the recording left it
(compile_state.py), runs none of fn's Python: each worker gets one instruction, "run
your program again on these inputs", and the returned tensors come from that replay,
bit for bit what the eager call computes, handed back as the eager call returns them
(compile_outputs.py): an output whose graph holds nothing of the step (its loss, whose
backward freed it) comes back with a node like the eager one's, which raises torch's
error when differentiated again; sharded outputs are wrapped anew around their parts, and
views of outputs are taken anew from them. A call given a tensor that requires grad, or
one that returns a tensor whose graph still holds what a backward needs (torch.compile(
model): the caller differentiates the forward's output; a step whose backward kept its
graph), runs eagerly, its outputs keeping the graph the caller differentiates through; so
do calls whose outputs a replay could not make as the eager call returns them.

Guards. A call records again when its arguments' signature differs from the recording's,
when the state fn reads differs (a parameter replaced, a hyperparameter such as lr
changed, optimizer state created: the second call of a typical step records once more
for that reason), or when a tensor the program reads was freed or its worker restarted.
The recordings made from other states are kept (up to MAX_RECORDINGS in all): a step
called in turn from a few states (train() and eval(), a parameter frozen and not)
replays, after recording once from each, the recording made from the state it finds.
A replay starts from the state its recording ended in, or from the one it started from
where the two differ only in gradients the step made anew or dropped (a zero_grad outside
the step, a parameter frozen between calls) and in the requires_grad flags it set (a layer
it freezes itself): the replay puts new ones there, or drops them, and sets the flags, as
the eager call does. A new gradient whose place holds the last call's, which
nothing else holds or watches, is written into that one instead (nothing can tell them
apart, and the replay makes, hands over and frees no tensor for it). A gradient the state
holds as the step starts and the step reads (one it accumulates into over calls) is an
input of its program, bound at each replay to the tensor there, as its arguments are.
A recording that cannot be replayed (a user's hook or custom Function ran, a value was
read with .item()/bool(), random numbers were drawn, driver tensors other than constants
made from numbers, such as `arange(T)`, were computed on or written, ...) makes the
calls that match it run eagerly. Each outcome is counted (`stats()`), and
each reason warned about once. After MAX_RECORDINGS recordings the step runs eagerly.
"""
from __future__ import annotations

import collections
import functools
import gc
import warnings
import weakref

from . import storage
from .autograd import differentiate
from .compile_outputs import (flatten_outputs, keeps_saved, meta, parts, plan_outputs,
                              replayed, same_as_made, writable_in_place)
from .compile_schedulers import SchedulerWatch, run_steps
from .compile_state import (Fresh, argument_attributes, fingerprint, flatten_inputs,
                            grouped, held_at, kept_arguments, modes, is_tensor_sig, put,
                            replay_from_start, roots_of, same_objects, state_length,
                            unchanged)
from .tensor import Tensor
from .watched import WRITES

_AGAIN = {
    "inputs": "the arguments' shapes, dtypes or placements changed, or the modes it is "
              "called in (grad mode, inference mode, autocast, saved-tensor hooks, the "
              "default dtype)",
    "state": "module or optimizer state changed outside the step (a tensor replaced or "
             "freed, a hyperparameter changed, state created)",
    "runtime": "the workers changed (restart_worker, a new runtime)",
}


NOT_REPLAYED = object()  # (what _Recording.replay returns when it could not start)

class CompiledFunction:
    MAX_RECORDINGS = 8

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn, updated=())  # (a module's __dict__ is its own)
        self.recording = None  # the latest _Recording
        # every recording a later call may still replay, the latest first: a step called
        # in turn from a few states (train() and eval(), a parameter frozen and not) has
        # one for each
        self.recordings: list = []
        self.counters = collections.Counter()  # calls "recorded", "replayed", "eager"
        self.reasons = collections.Counter()  # "<what happened>: <why>" -> calls
        self._warned = set()
        self._methods = weakref.WeakKeyDictionary()

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        bound = self._methods.get(obj)
        if bound is None:
            bound = self._methods[obj] = CompiledFunction(self.fn.__get__(obj, objtype))
        return bound

    def stats(self) -> dict:
        """Calls recorded, replayed and run eagerly, and why each recording or eager run
        happened ("recorded again: state", "eager: read", ...)."""
        return {"recorded": self.counters["recorded"], "replayed": self.counters["replayed"],
                "eager": self.counters["eager"], "reasons": dict(self.reasons)}

    def __call__(self, *args, **kwargs):
        from .distributed import program, runtime

        if program.recording():  # inside another compiled step: part of its recording
            program.coordinator.recorder.cannot_replay("nested")
            return self._eager("nested", args, kwargs)
        if not runtime.is_initialized():
            return self._eager("no workers", args, kwargs)
        rt = runtime.current()
        tensors, sig, objects = flatten_inputs(args, kwargs)
        sig.append(modes())  # (the thread's modes: a replay runs as its recording ran)
        if any(t._requires_grad for t in tensors):
            # (the caller differentiates through it: its output keeps the graph, as
            # torch's does, which a replay could not make)
            return self._eager("input-grad", args, kwargs)
        inputs = {id(t) for t in tensors}
        roots = roots_of(self.fn, objects, {})
        for rec in self.recordings:
            if rec.same_as_last(rt, sig, roots, inputs):
                derived = rec.derived_values(tensors)
                if derived is not NOT_REPLAYED:
                    self.counters["replayed"] += 1
                    return rec.replay(tensors, rt, derived)
        guards, writes, objects, grads, walked, found, at = [], WRITES.n, {}, [], {}, [], {}
        sigs, ids = fingerprint(roots, inputs, guards, objects=objects, grads=grads,
                                tensors=walked, schedulers=found, places=at)
        whys = [rec.mismatch(rt, sig, sigs, ids) for rec in self.recordings]
        for rec, why in zip(self.recordings, whys):
            if why is None:
                if rec.reasons:
                    return self._eager(rec.reasons, args, kwargs)
                derived = rec.derived_values(tensors)
                if derived is NOT_REPLAYED:
                    continue  # (its driver values shaped otherwise: recorded again)
                # the next call checks this first (a replay from the state the step started
                # from leaves another: the next call walks it)
                rec.last = (roots, grouped(guards, writes)) if rec.at_end(ids) else None
                # (they hold what it walked: the replay counts who else does)
                flagged = [at[k] for k, _ in rec.start[2]] if rec.start is not None else []
                del guards, walked, at
                self.counters["replayed"] += 1
                return rec.replay(tensors, rt, derived, flagged)
        if self.counters["recorded"] >= self.MAX_RECORDINGS:
            return self._eager("limit", args, kwargs)  # (not recorded: counted so only)
        if whys:  # (why the latest recording does not fit)
            why = whys[0] or "inputs"
            self._note("recorded again", why, _AGAIN[why],
                       quiet=self.counters["recorded"] < 2)
        return self._record(rt, args, kwargs, tensors, sig, roots, inputs,
                            (sigs, ids, grads, objects), walked, found)

    # ---- the three ways a call goes ---------------------------------------------------------
    def _eager(self, reasons, args, kwargs):
        from .distributed.program import REASONS

        for r in [reasons] if isinstance(reasons, str) else reasons:
            self._note("eager", r, REASONS.get(r, {
                "limit": f"it was recorded {self.MAX_RECORDINGS} times already",
                "no workers": "distgrad.distributed is not initialized",
                "nested": "it runs inside another compiled step"}.get(r, r)))
        self.counters["eager"] += 1
        return self.fn(*args, **kwargs)

    def _record(self, rt, args, kwargs, tensors, sig, roots, inputs, before, walked, found):
        from .distributed import program

        sigs_in, ids_in, _, objects_in = before
        rt.flush_all()  # what was queued before the call is not part of it
        cpu_inputs = [(k, t._value) for k, t in enumerate(tensors) if t.device_str == "cpu"]
        # The gradients the state holds as it starts: a step that reads them (it
        # accumulates over calls) reads each call's, bound as its arguments are.
        held = [(t, t._grad) for t, _, _ in before[2] if _bindable(t._grad)]
        grad_places = [t for t, _ in held]
        grad_inputs = [(("grad", i), rt.queue(g.device_str), g._value.id)
                       for i, (_, g) in enumerate(held)]
        grad_storages = {id(g._storage): (("grad", i), g._storage)
                         for i, (_, g) in enumerate(held)}
        del held  # (the step may let go of them)
        argument_storages = _argument_places(tensors)
        kept_before = kept_arguments(roots, argument_storages)
        attributes_before = argument_attributes(tensors)
        recorder = program.start(cpu_inputs)
        schedulers = SchedulerWatch(found, rt)
        schedulers.start(recorder)
        made_before, storage.WRITTEN = storage.serial_now(), []
        try:
            passes = differentiate.passes
            out = self.fn(*args, **kwargs)
            flat, rebuild, plain = flatten_outputs(out)
            # A call that ran no backward and returns a graph (a compiled model's forward),
            # or returns one whose saved state a backward could still use (its backward
            # kept it, retain_graph=True, or never ran through it), leaves the caller to
            # differentiate it: the outputs keep it, which a replay could not make. Other
            # outputs a replay makes as the eager call returns them (compile_outputs.py),
            # or the calls run eagerly.
            graph_out = differentiate.passes == passes and any(t.requires_grad for t in flat)
            graph_out = graph_out or any(t.requires_grad and keeps_saved(t) for t in flat)
            # (a tensor of the state the step did not make: a replay returns it itself)
            plan, handed = (None, None) if graph_out else plan_outputs(
                flat, lambda t: id(t) in walked and t._storage.serial < made_before,
                lambda t: _detached_from(t, walked, made_before))
            outs = flat
            if plan is not None:
                # (what the step dropped, cycles too, is freed here, inside the recording: an
                # automatic collection while it is paused would send those frees outside it)
                gc.collect()
                with program.paused(rt):  # (views taken anew: not part of the step)
                    made = plan.make(handed)
                outs, plan = (made, plan) if same_as_made(made, flat) else (flat, None)
                del made
            del out, flat
            gc.collect()  # the step's temporaries are freed inside the recording
            rt.flush_all()
            if modes() != sig[-1]:
                # (grad mode, the default dtype, ... set by the step and left so: each eager
                # call sets them again, which a replay would not)
                recorder.cannot_replay("modes")
        finally:
            schedulers.stop()
            program.stop()
            written, storage.WRITTEN = storage.WRITTEN, None
        # what it wrote in place that was there before (parameters, optimizer state, its
        # arguments): a replay writes them again, and their version counters count it, as
        # torch's would (an argument's by its place: a later call's may be another tensor)
        arguments = {**argument_storages,
                     **{k: place for k, (place, _) in grad_storages.items()}}
        state_writes = [(arguments.get(id(s), s), n) for s, n in collections.Counter(
            s for s in written if s.serial < made_before).items()]
        self.counters["recorded"] += 1
        worker_inputs = []
        for k, t in enumerate(tensors):
            for j, part in parts(t):
                if part.device_str.startswith("worker:"):
                    worker_inputs.append(((k, j), rt.queue(part.device_str), part._value.id))
        # The tensors it made and left in the state (a gradient made anew): a replay hands
        # them over as it does its outputs, to be put where the eager call puts new ones.
        held, fresh, objects, grads = set(), Fresh(made_before), {}, []
        sigs_out, ids_out = fingerprint(roots, inputs, held=held, fresh=fresh, objects=objects,
                                        grads=grads)
        renewed = fresh.renewable(lambda t: meta(t) is not None)
        if any(t.device_str == "cpu" and recorder.derived_value(t._value)
               for t, _, _ in fresh.places.values()):
            # (a driver value made from its arguments, left in the state: a replay, which
            # computes them on the driver only to send them, would leave the old one)
            recorder.cannot_replay("driver-data")
        # Schedulers stepped in Python around each replay: the walks are compared up to
        # their own state, which their steps make anew (compile_schedulers.py).
        steps = schedulers.result()
        after = (sigs_out, ids_out, grads, objects)
        if steps is not None:
            trimmed = _before_schedulers(before), _before_schedulers(after)
            if None in trimmed:
                steps = None
            else:
                before, after = trimmed
                (sigs_in, ids_in, _, objects_in), (sigs_out, ids_out, _, objects) = trimmed
        # (one it also returns, p.grad, is the output a replay makes: the same tensor)
        output_at = {id(t): j for j, t in enumerate(handed or ())}
        out_specs = [(rt.queue(t.device_str), t._value.id, list(t.shape), t.dtype.name)
                     for t in [*(handed or ()), *(t for t, _, _ in renewed
                                                   if id(t) not in output_at)]]
        if graph_out:
            recorder.cannot_replay("output-grad")
        elif plan is None or not plain:
            recorder.cannot_replay("output")
        prog, reasons = program.Program.build(recorder, worker_inputs, out_specs)
        read_grads = [entry for entry in grad_inputs if entry[2] in prog.reads]
        if read_grads:
            prog, reasons = program.Program.build(recorder, worker_inputs + read_grads,
                                                  out_specs)
        on_workers = {t._value.id for t in handed or ()} - {
            t._value.id for t, _, _ in renewed}
        if on_workers & set(ids_out):
            reasons.append("output")  # kept by the state too: a replay would not update it
        if prog.kept - set(ids_out) - held:
            # It leaves tensors behind that the state walk does not reach: each replay would
            # make them again, and nothing would free them once their holder lets go.
            reasons.append("unseen")
        if kept_arguments(roots, argument_storages, kept_before) or \
                not same_objects(argument_attributes(tensors), attributes_before):
            # (an argument, or a view or detach() of one, that the step put in its state, or
            # an argument's attribute it set: a replay would leave the recording's there, or
            # set none)
            reasons.append("argument")
        if sigs_out == sigs_in and objects != objects_in:
            reasons.append("objects")  # (a list, a dict, ... it made and left in the state)
        if prog.reads - set(ids_in):
            # It reads tensors the state walk does not reach: nothing would tell if they
            # were replaced before a replay.
            reasons.append("unseen")
        reasons = list(dict.fromkeys(reasons))
        start = replay_from_start(before, after,
                                  {k for _, _, positions in renewed for k in positions},
                                  prog.reads)
        self.recording = _Recording(rt, sig, sigs_in, ids_in, sigs_out, ids_out, prog, reasons,
                                    rebuild, plan, [k for k, _ in cpu_inputs],
                                    state_writes, [(("output", output_at[id(t)]) if id(t) in
                                                    output_at else meta(t), places, positions)
                                                   for t, places, positions in renewed], start,
                                    grad_places, steps)
        self._keep(self.recording)
        if not reasons:
            prog.watch()
        return rebuild(outs)

    def _keep(self, new) -> None:
        """Keep `new` first among the recordings, and let go of those no call can replay
        any more (made on other workers, or reading a tensor freed since) and of one made
        from the same state (its arguments' signature, its state's): `new` replaces it."""
        kept = [new]
        for rec in self.recordings:
            if rec.runtime is new.runtime and rec.program.valid(new.runtime) and not (
                    rec.sig == new.sig and rec.sigs_in == new.sigs_in):
                kept.append(rec)
            else:
                rec.drop()
        self.recordings = kept

    def _note(self, what, reason, words, quiet=False) -> None:
        self.reasons[f"{what}: {reason}"] += 1
        if quiet or (what, reason) in self._warned:
            return
        self._warned.add((what, reason))
        name = getattr(self.fn, "__qualname__", None) or type(self.fn).__name__
        action = "calls that match the recording run eagerly" if what == "eager" else \
            "the call was recorded again"
        warnings.warn(f"distgrad.compile({name}): {action}: {words}", stacklevel=4)


class _Recording:
    """One recorded call, and what must hold for a later call to replay it."""

    def __init__(self, rt, sig, sigs_in, ids_in, sigs_out, ids_out, prog, reasons, rebuild,
                 plan, cpu_positions, state_writes, renewed, start, grad_places, steps):
        self.runtime = rt
        # (scheduler, args, kwargs) of the scheduler steps each replay runs after its
        # program, or None; with them, a call's walk is compared up to their own state
        self.steps = steps
        # the tensors whose .grad the program reads as an input, ("grad", i) its key
        self.grad_places = grad_places
        self.sig = sig
        # (meta, or ("output", k) for the k-th tensor its program hands over, places, walk
        # positions) of each tensor the step made anew in the state; which tensor sits at
        # those positions is each replay's own
        self.renewed = renewed
        self.anew = {k for _, _, positions in renewed for k in positions}
        self.sigs_in, self.ids_in = sigs_in, ids_in
        self.ids_out = self._masked(ids_out)
        self.program = prog
        self.reasons = reasons
        self.rebuild = rebuild
        self.plan = plan  # how it makes its outputs (compile_outputs.OutputPlan)
        self.cpu_positions = cpu_positions
        # (storage, writes) of the state the step wrote; an argument's storage as its
        # place (_argument_places)
        self.state_writes = state_writes
        self.last = None  # (roots, guards) of the last call the full check let replay
        self.fixed_point = sigs_out == sigs_in and not any(
            before != after and before in prog.reads for before, after in zip(ids_in, ids_out))
        # A step that leaves another state than it started from (new gradients where a
        # zero_grad outside it dropped them) replays from the state it started from, if
        # what differs is only what a replay puts anew or drops (compile_state.
        # replay_from_start): (walk positions whose tensor it does not read, the places of
        # the gradients it drops), or None
        self.start = start
        self.into = None  # (ids, the program writing into them: _program_into)
        self.writable = None  # (see _overwritable)

    def same_as_last(self, rt, sig, roots, inputs) -> bool:
        """The cheap check: the arguments' signature is the recording's and every place the
        last replayed call's walk saw holds what it held then (a replay changes none of
        the driver's objects, so that call's state is still one the program replays from)."""
        last = self.last
        if last is None or rt is not self.runtime or sig != self.sig:
            return False
        before, guards = last
        # (roots[:2] are this call's argument lists, new each call: the signature holds
        # which objects they are.)
        if len(roots) != len(before) or any(
                a is not b and not (type(a) is type(b) and type(a) in (int, float, bool, str)
                                    and a == b) for a, b in zip(roots[2:], before[2:])):
            return False
        return unchanged(guards) and self.program.valid(rt)

    def mismatch(self, rt, sig, sigs, ids):
        """None if a call with this signature and state replays the recording, else why
        it must record again ("inputs", "state", "runtime")."""
        if rt is not self.runtime:
            return "runtime"
        if sig != self.sig:
            return "inputs"
        if self._state(sigs, state_length(sigs)) != self.sigs_in or \
                self.plan is not None and not self.plan.alive():
            return "state"
        if self.reasons:
            return None  # it runs eagerly anyway: which tensors sit where does not matter
        if not (self.at_end(ids) or self.at_start(ids)):
            return "state"
        if not self.program.valid(rt):
            return "state" if self.program.stale else "runtime"
        return None

    def at_end(self, ids) -> bool:
        """Whether a call whose state's tensors are `ids` (its walk's like the recording's)
        starts from the state the recording ended in. A replay changes only the driver
        objects it puts anew (a gradient the step made), so it can start from there, when
        the step started from one like it: a place whose tensor the step replaced (a new
        gradient) must not have been read by it."""
        return self.fixed_point and self._masked(self._state(ids)) == self.ids_out

    def at_start(self, ids) -> bool:
        """Whether a call whose state's tensors are `ids` starts from the state the
        recording started from, where a replay can start (self.start)."""
        if self.start is None:
            return False
        loose = self.start[0]
        return all(a == b or k in loose for k, (a, b) in enumerate(zip(self._state(ids),
                                                                         self.ids_in)))

    def derived_values(self, tensors):
        """The driver values the program computes from the call's driver tensors
        (program.derive), or NOT_REPLAYED if they are not shaped as recorded."""
        from .distributed import program

        if not self.program.derived:
            return None
        derived = program.derive(self.program.derived, self._cpu_arrays(tensors))
        return NOT_REPLAYED if derived is None else derived

    def _cpu_arrays(self, tensors) -> dict:
        return {k: tensors[k]._value for k in self.cpu_positions}

    def replay(self, tensors, rt, derived=None, flagged=()):
        """Run the program on this call's `tensors` (`derived`: derived_values(tensors));
        `flagged`: the tensors at the places whose requires_grad the step sets (self.start),
        in the call's state."""
        cpu_arrays = self._cpu_arrays(tensors)
        input_ids = {}
        for key in {key for ph_keys in self.program.binds.values() for _, key in ph_keys}:
            if key[0] == "grad":
                input_ids[key] = self.grad_places[key[1]]._grad._value.id
                continue
            k, j = key
            input_ids[key] = dict(parts(tensors[k]))[j]._value.id
        targets, overwritten = self._overwritable()
        program = self._program_into(targets) if targets else self.program
        refs = list(program.replay(input_ids, cpu_arrays, rt.endpoint.concurrent, derived))
        for written, n in self.state_writes:
            if isinstance(written, tuple):  # (an argument's or a gradient's, by its place)
                written = self.grad_places[written[1]]._grad._storage if \
                    written[0] == "grad" else _storage_at(tensors, written)
            for _ in range(n):
                written.wrote()
        for t, version in overwritten or ():
            t._storage.counter.count = version  # (the new tensor's, as the eager step's)
        handed = [replayed(facts, ref) for facts, ref in zip(self.plan.metas, refs)]
        outputs = self.rebuild(self.plan.make(handed))
        writes = WRITES.n
        others = iter(refs[len(handed):])
        for facts, places, _ in self.renewed:
            if facts[0] == "output":
                anew = handed[facts[1]]
            elif targets:  # (the program wrote it into the tensor already there)
                continue
            else:
                anew = replayed(facts, next(others))
            for place in places:
                put(place, anew)
        for place in self.start[1] if self.start is not None else ():
            put(place, None)  # (dropped by the step's zero_grad, made anew by none)
        for t, (_, flag) in zip(flagged, self.start[2] if self.start is not None else ()):
            t._set_requires_grad(flag)  # (a layer the step froze or thawed)
        if self.last is not None and self.last[1].writes == writes:
            self.last[1].writes = WRITES.n  # (its own writes leave the state as checked)
        if self.steps is not None:
            run_steps(self.steps)  # (after the program, as the eager call's end)
        return outputs

    def _overwritable(self):
        """({placeholder: id}, [(tensor, version)]) of the tensors the step makes anew in
        the state, if a replay may write each into the tensor an earlier call left at its
        place, as no one else holds or watches those (compile_outputs.writable_in_place):
        the common step, whose caller lets go of each call's gradients, then costs no new
        tensors, hand-overs or frees. (None, None) if that does not hold for each."""
        if self.writable is None:  # (placeholder, places, their number, facts) of each
            made = [(places, facts) for facts, places, _ in self.renewed
                    if facts[0] != "output"]
            self.writable = [(ph, places, len(places), facts) for (_, ph, _, _), (places, facts)
                             in zip(self.program.outputs[len(self.plan.metas):], made)]
        targets, overwritten = {}, []
        for placeholder, places, n, facts in self.writable:
            t = held_at(places[0])
            if t is None or n > 1 and any(held_at(p) is not t for p in places) or \
                    not writable_in_place(t, facts, n):
                return None, None
            targets[placeholder] = t._value.id
            overwritten.append((t, facts[5]))
        return (targets, overwritten) if targets else (None, None)

    def _program_into(self, targets: dict):
        """The program that writes into `targets` (_overwritable), kept while the tensors
        there stay the same."""
        key = tuple(targets.values())
        if self.into is None or self.into[0] != key:
            if self.into is not None:
                self.into[1].drop()
            self.into = (key, self.program.writing_into(targets))
        return self.into[1]

    def _state(self, walked: list, n=None) -> list:
        """A call's walk (its sigs or ids) as far as this recording compares it: up to
        its schedulers' own state (`n` places of sigs), if it steps them."""
        if self.steps is None:
            return walked
        return walked[:len(self.ids_in) if n is None else n]

    def _masked(self, ids: list) -> list:
        """`ids` but at the places a replay fills anew."""
        return [None if k in self.anew else v for k, v in enumerate(ids)] if self.anew else ids

    def drop(self) -> None:
        self.program.drop()
        if self.into is not None:
            self.into[1].drop()


def _before_schedulers(walk):
    """A walk's (sigs, ids, grads, objects) up to its schedulers' own state, or None if
    that holds a tensor (a replay's program would not see it)."""
    sigs, ids, grads, objects = walk
    n = state_length(sigs)
    if any(map(is_tensor_sig, sigs[n:])):
        return None
    return (sigs[:n], ids[:n], [g for g in grads if g[2] <= n],
            {k: v for k, v in objects.items() if k < n})


def _argument_places(tensors) -> dict:
    """id(storage) -> (argument index, part index or None for the whole) of each storage
    a step's tensor arguments hold."""
    places = {}
    for k, t in enumerate(tensors):
        places.setdefault(id(t._storage), (k, None))
        if t._sharding is not None:
            for j, part in parts(t):
                places.setdefault(id(part._storage), (k, j))
    return places


def _detached_from(t, walked: dict, made_before: int):
    """The tensor of the state (walked, not made by the step) that `t` is a detach() of:
    its handle on the same memory and version counter, or None."""
    for s in walked.values():
        if s._value is t._value and s._storage is t._storage and s is not t and \
                s._sharding is None and s._storage.serial < made_before:
            return s
    return None


def _bindable(grad) -> bool:
    """Whether a step can read gradient `grad` as an input (an unsharded worker tensor)."""
    return grad is not None and grad._sharding is None and \
        grad.device_str.startswith("worker:")


def _storage_at(tensors, place):
    """The storage at `place` (_argument_places) among a later call's arguments."""
    k, j = place
    t = tensors[k]
    return t._storage if j is None else t._sharding.shards[j]._storage
