"""`distgrad.profiler`: torch.profiler's entry point over the same recording as
`distgrad.autograd.profiler` (the driver's ops and every worker's runs, ops, sends,
receives and idle time; see that module).

    with distgrad.profiler.profile(activities=[distgrad.profiler.ProfilerActivity.CPU]) as prof:
        with distgrad.profiler.record_function("train_step"):
            step()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")

`start()`/`stop()` work as the `with` block does. With `schedule=schedule(wait=1,
warmup=1, active=3)` and `prof.step()` after each training step, only the active steps are
recorded and `on_trace_ready(prof)` (`tensorboard_trace_handler(dir)`, say) is called at
the end of each cycle; without a schedule, at `stop()`.
"""
from __future__ import annotations

import enum
import os
import socket
import time
import warnings

from .autograd import profiler as _autograd_profiler
from .autograd.profiler import EventList, record_function  # noqa: F401 (torch's names)
from .tensor import _warn_once


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1
    XPU = 2
    MTIA = 3
    HPU = 4
    PrivateUse1 = 5


def supported_activities() -> set:
    return {ProfilerActivity.CPU}


class ProfilerAction(enum.Enum):
    """What a profile does at a step of its `schedule`."""
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


_RECORDING = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0,
             skip_first_wait: int = 0):
    """torch.profiler.schedule: after `skip_first` steps, cycles of `wait` steps not
    recorded, `warmup` steps not recorded either, then `active` steps recorded (the last
    one saves: `on_trace_ready`); `repeat` cycles (0: no end). With `skip_first_wait`, the
    first cycle has no wait."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), warmup="
            f"{warmup} (need >= 0), active={active} (need > 0), repeat={repeat} (need >= 0), "
            f"skip_first={skip_first} (need >= 0).")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results",
                      stacklevel=2)
    cycle = wait + warmup + active

    def action_at(step: int) -> ProfilerAction:
        if step < 0:
            raise AssertionError(f"Step must be non-negative. Got {step}.")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait:  # (as if the first wait were already over)
            step += wait
        if repeat > 0 and step >= repeat * cycle:
            return ProfilerAction.NONE
        at = step % cycle
        if at < wait:
            return ProfilerAction.NONE
        if at < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if at < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return action_at


def _always_record(step: int) -> ProfilerAction:
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None,
                              use_gzip: bool = False, use_python_export: bool = False):
    """An `on_trace_ready` that writes each cycle's Chrome trace into `dir_name` as
    `{worker_name}.{ns}.pt.trace.json` (`.gz` with `use_gzip`); the worker name is
    `{hostname}_{pid}` unless given."""
    def write(prof) -> None:
        try:
            os.makedirs(dir_name, exist_ok=True)
        except Exception as e:
            raise RuntimeError("Can't create directory: " + dir_name) from e
        name = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        file_name = f"{name}.{time.time_ns()}.pt.trace.json" + (".gz" if use_gzip else "")
        prof.export_chrome_trace(os.path.join(dir_name, file_name))
    return write


class profile(_autograd_profiler.profile):
    """torch.profiler.profile: the driver's and the workers' events (CPU activity only).

    With a `schedule`, `step()` moves it on: it records only in the schedule's active
    steps, each step labelled `ProfilerStep#N` (`ProfilerStep*` in `key_averages()`), and
    calls `on_trace_ready(prof)` at each cycle's end, its events then being that cycle's.
    Without one it records from start to stop, and calls `on_trace_ready` at stop."""

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None,
                 record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_flops: bool = False, with_modules: bool = False,
                 experimental_config=None, execution_trace_observer=None,
                 acc_events: bool = False, use_cuda=None, custom_trace_id_callback=None):
        super().__init__(enabled=activities is None or ProfilerActivity.CPU in activities,
                         record_shapes=record_shapes, profile_memory=profile_memory)
        self.acc_events = acc_events
        self.schedule = schedule or _always_record
        self.record_steps = schedule is not None
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.current_action = self.schedule(0)
        self._step_label = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self) -> None:
        self._move(ProfilerAction.NONE, self.current_action)
        self._label_step()

    def stop(self) -> None:
        self._end_step_label()
        self._move(self.current_action, None)

    def step(self) -> None:
        """The next step begins: do what the schedule says for it."""
        self._end_step_label()
        before = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        self._move(before, self.current_action)
        self._label_step()

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0):
        if self.function_events is None:
            raise AssertionError("Profiler must be initialized before getting key averages")
        return super().key_averages(group_by_input_shape, group_by_stack_n)

    # (what a move from one action to the next does, as torch's profiler does it;
    # `now` None: the profile stops)
    def _move(self, before, now) -> None:
        if before in _RECORDING:
            if before is ProfilerAction.RECORD and now in _RECORDING:
                return  # (the same cycle goes on)
            if before is ProfilerAction.RECORD and now is not None:
                warnings.warn(f"Incorrect schedule: RECORD followed by {now.name}")
            self._stop_recording()
            if before is ProfilerAction.RECORD_AND_SAVE or now is None:
                self._trace_ready()
            if now in _RECORDING:
                self._start_recording()
        elif now in _RECORDING:
            self._start_recording()
        elif before is ProfilerAction.WARMUP and now is not ProfilerAction.WARMUP:
            if now is ProfilerAction.NONE:
                warnings.warn("Incorrect schedule: WARMUP followed by NONE")
            self._start_recording()  # (a warm-up cut short: an empty trace, not saved)
            self._stop_recording()

    def _start_recording(self) -> None:
        if self.function_events is not None and not self.acc_events:
            _warn_once("Warning: Profiler clears events at the end of each cycle. Only events "
                       "from the current cycle will be reported. To keep events across "
                       "cycles, set acc_events=True.")
        super().__enter__()

    def _stop_recording(self) -> None:
        before = self.function_events if self.acc_events else None
        super().__exit__(None, None, None)
        if before is not None and self.function_events is not None:
            self.function_events = _autograd_profiler.EventList(
                before + self.function_events, trace=self)

    def _trace_ready(self) -> None:
        if self.on_trace_ready is not None and self.function_events is not None:
            self.on_trace_ready(self)

    def _label_step(self) -> None:
        if self.record_steps:
            self._step_label = record_function(f"ProfilerStep#{self.step_num}")
            self._step_label.__enter__()

    def _end_step_label(self) -> None:
        if self._step_label is not None:
            self._step_label.__exit__(None, None, None)
            self._step_label = None


__all__ = ["profile", "record_function", "ProfilerActivity", "ProfilerAction", "schedule",
           "tensorboard_trace_handler", "supported_activities"]
