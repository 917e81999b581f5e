"""lr schedulers stepped inside a compiled step (`opt.step(); sched.step()` at its end).

A replay runs none of the step's Python, so a scheduler's `last_epoch` and lrs would not
move. A recording in which schedulers step is replayed with their `step()` run in Python
after the program (as the eager call runs it after its last op), when that is the eager
call: nothing but their own step() touched them (`SchedulerWatch` sees every attribute
the step's code reads or sets on them outside it), their steps sent the workers nothing,
took only plain numbers, and nothing but frees followed the first of them. Their own
state then needs no guard (compile_state.fingerprint walks it last, and such a recording
compares the walk only up to there); the lrs they set are the optimizer's, which are
guarded: a step replays the recording made with the lrs it finds, so a schedule that
changes the lr now and then (StepLR, a warm-up then a constant) records once per lr.
"""
from __future__ import annotations

_PLAIN = (int, float, bool, str, type(None))
_SEEN_ALWAYS = ("step", "__class__")  # (what stepping it, or isinstance, look up)
_AFTER_STEPS = ("free", "free_node")  # (what may follow them: the step's frees)
_watch = None  # the SchedulerWatch of the recording under way
_spies: dict = {}  # scheduler class -> its watched subclass


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
        for s in self.found.values():
            self.classes.append((s, type(s)))
            s.__class__ = _spy(type(s))

    def stop(self) -> None:
        global _watch
        _watch = None
        for s, cls in self.classes:
            s.__class__ = cls
        self.classes = []

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
            if len(self.recorder.runs) != self.sent:
                self.refused = True  # it sent the workers something (an lr tensor's fill_)

    def used(self) -> None:
        if self.depth == 0:
            self.refused = True

    def result(self):
        """The steps a replay runs after its program, or None if it cannot (module doc)."""
        if self.refused or not self.steps:
            return None
        after = self.recorder.runs[self.first:]
        if any(ins[0] not in _AFTER_STEPS for _, instrs in after for ins in instrs):
            return None
        return self.steps


def run_steps(steps) -> None:
    """Step the schedulers as the recorded call stepped them."""
    for scheduler, args, kwargs in steps:
        scheduler.step(*args, **kwargs)


def _spy(cls):
    """`cls` but that the recording's watch hears of each attribute read or set outside
    its step() (which it hears of too)."""
    spy = _spies.get(cls)
    if spy is not None:
        return spy

    def __getattribute__(self, name):
        if _watch is not None and name not in _SEEN_ALWAYS:
            _watch.used()
        return super(spy, self).__getattribute__(name)

    def __setattr__(self, name, value):
        if _watch is not None:
            _watch.used()
        super(spy, self).__setattr__(name, value)

    def step(self, *args, **kwargs):
        watch = _watch
        if watch is None:
            return super(spy, self).step(*args, **kwargs)
        watch.entered(self, args, kwargs)
        try:
            return super(spy, self).step(*args, **kwargs)
        finally:
            watch.left()

    spy = _spies[cls] = type(cls.__name__, (cls,), {
        "__slots__": (), "__getattribute__": __getattribute__, "__setattr__": __setattr__,
        "step": step, "__qualname__": cls.__qualname__, "__module__": cls.__module__})
    return spy
