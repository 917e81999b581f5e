"""lr schedulers stepped inside a compiled step (`opt.step(); sched.step()` at its end).

A replay runs none of the step's Python, so a scheduler's `last_epoch` and lrs would not
move. A recording in which schedulers step is replayed with their `step()` run in Python
after the program (as the eager call runs it after its last op), when that is the eager
call: nothing but their own step() touched them (`SchedulerWatch` sees every attribute
the step's code reads or sets on them outside it), their steps sent the workers nothing
(but frees of the step's garbage, collected meanwhile),
took only plain numbers, and nothing but frees followed the first of them. Their own
state then needs no guard (compile_state.fingerprint walks it last, and such a recording
compares the walk only up to there); the lrs they set are the optimizer's, which are
guarded: a step replays the recording made with the lrs it finds, so a schedule that
changes the lr now and then (StepLR, a warm-up then a constant) records once per lr.
"""
from __future__ import annotations

import functools

_PLAIN = (int, float, bool, str, type(None))
_SEEN_ALWAYS = ("step", "__class__")  # (what stepping it, or isinstance, look up)
_AFTER_STEPS = ("free", "free_node")  # (what may follow them: the step's frees)
_WATCHED = ("__getattribute__", "__setattr__", "step")  # (what a watched class's are)
_watch = None  # the SchedulerWatch of the recording under way


class SchedulerWatch:
    """Watches the schedulers `found` in a step's state while one call of it records."""

    def __init__(self, found: list, runtime):
        self.found = {id(s): s for s in found}
        self.runtime = runtime
        self.recorder = None
        self.depth = 0  # inside how many scheduler steps the step's code is
        self.steps: list = []  # (scheduler, args, kwargs) of each outermost step
        self.first = None  # runs the recording had sent when the first step began
        self.sent = 0
        self.refused = False  # a scheduler was used otherwise than by its step()
        self.classes: list = []

    def start(self, recorder) -> None:
        global _watch
        self.recorder, _watch = recorder, self
        for cls in dict.fromkeys(type(s) for s in self.found.values()):
            self.classes.append(_watched(cls))

    def stop(self) -> None:
        global _watch
        _watch = None
        for cls, own in reversed(self.classes):
            _unwatched(cls, own)
        self.classes = []

    def watches(self, scheduler) -> bool:
        return id(scheduler) in self.found

    def entered(self, scheduler, args, kwargs) -> None:
        self.depth += 1
        if self.depth > 1:
            return
        self.runtime.flush_all()  # (what the step sent before it, sent before it)
        self.sent = len(self.recorder.runs)
        if self.first is None:
            self.first = self.sent
        self.steps.append((scheduler, args, dict(kwargs)))
        if not all(type(a) in _PLAIN for a in (*args, *kwargs.values())):
            self.refused = True  # (a replay would pass the recording's objects again)

    def left(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.runtime.flush_all()
            if not only_frees(self.recorder.runs[self.sent:]):
                self.refused = True  # it sent the workers something (an lr tensor's fill_)

    def used(self) -> None:
        if self.depth == 0:
            self.refused = True

    def result(self):
        """The steps a replay runs after its program, or None if it cannot (module doc)."""
        if self.refused or not self.steps:
            return None
        if not only_frees(self.recorder.runs[self.first:]):
            return None
        return self.steps


def only_frees(runs) -> bool:
    """Do `runs` only free what the step let go of (a collection of its garbage may
    run at any point, inside a scheduler's step too)?"""
    return all(ins[0] in _AFTER_STEPS for _, instrs in runs for ins in instrs)


def run_steps(steps) -> None:
    """Step the schedulers as the recorded call stepped them."""
    for scheduler, args, kwargs in steps:
        scheduler.step(*args, **kwargs)


def _watched(cls):
    """(cls, what it defined of _WATCHED itself), `cls` now telling the recording's watch
    of each attribute a watched scheduler has read or set outside its step() (and of its
    step()). The class itself is patched for the recording's span, not the scheduler's
    class swapped: the step's code sees the scheduler's own class (`type(s) is StepLR`)."""
    own = {name: cls.__dict__[name] for name in _WATCHED if name in cls.__dict__}
    get, put, step = cls.__getattribute__, cls.__setattr__, cls.step

    def __getattribute__(self, name):
        watch = _watch
        if watch is not None and name not in _SEEN_ALWAYS and watch.watches(self):
            watch.used()
        return get(self, name)

    def __setattr__(self, name, value):
        watch = _watch
        if watch is not None and watch.watches(self):
            watch.used()
        put(self, name, value)

    @functools.wraps(step)
    def watched_step(self, *args, **kwargs):
        watch = _watch
        if watch is None or not watch.watches(self):
            return step(self, *args, **kwargs)
        watch.entered(self, args, kwargs)
        try:
            return step(self, *args, **kwargs)
        finally:
            watch.left()

    cls.__getattribute__, cls.__setattr__, cls.step = __getattribute__, __setattr__, watched_step
    return cls, own


def _unwatched(cls, own: dict) -> None:
    """`cls` as it was before _watched."""
    for name in _WATCHED:
        if name in own:
            setattr(cls, name, own[name])
        else:
            delattr(cls, name)
