"""`distgrad.profiler`: torch.profiler's entry point over the same recording as
`distgrad.autograd.profiler` (the driver's ops and every worker's runs, ops, sends,
receives and idle time; see that module).

    with distgrad.profiler.profile(activities=[distgrad.profiler.ProfilerActivity.CPU]) as prof:
        with distgrad.profiler.record_function("train_step"):
            step()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")

`start()`/`stop()` work as the `with` block does; `on_trace_ready(prof)` is called at
`stop()`. A `schedule` is not supported.
"""
from __future__ import annotations

import enum

from .autograd import profiler as _autograd_profiler
from .autograd.profiler import EventList, record_function  # noqa: F401 (torch's names)


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1
    XPU = 2
    MTIA = 3
    HPU = 4
    PrivateUse1 = 5


def supported_activities() -> set:
    return {ProfilerActivity.CPU}


class profile(_autograd_profiler.profile):
    """torch.profiler.profile: the driver's and the workers' events (CPU activity only)."""

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None,
                 record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_flops: bool = False, with_modules: bool = False,
                 experimental_config=None, execution_trace_observer=None,
                 acc_events: bool = False, use_cuda=None, custom_trace_id_callback=None):
        if schedule is not None:
            raise NotImplementedError("distgrad.profiler.profile: schedule= is not supported; "
                                      "profile the steps you want inside the block")
        super().__init__(enabled=activities is None or ProfilerActivity.CPU in activities,
                         record_shapes=record_shapes, profile_memory=profile_memory)
        self.on_trace_ready = on_trace_ready
        self.step_num = 0

    def start(self) -> None:
        self.__enter__()

    def stop(self) -> None:
        self.__exit__(None, None, None)

    def __exit__(self, *exc):
        out = super().__exit__(*exc)
        if self.on_trace_ready is not None and self.function_events is not None:
            self.on_trace_ready(self)
        return out

    def key_averages(self, group_by_input_shape: bool = False, group_by_stack_n: int = 0):
        if self.function_events is None:
            raise AssertionError("Profiler must be initialized before getting key averages")
        return super().key_averages(group_by_input_shape, group_by_stack_n)

    def step(self) -> None:
        """Mark the end of a training step (counted; no schedule to advance)."""
        self.step_num += 1


__all__ = ["profile", "record_function", "ProfilerActivity", "supported_activities"]
