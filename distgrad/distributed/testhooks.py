"""Test hooks in the workers, for fault tests that must not depend on the machine's speed.

Off by default: a worker has them only when the runtime was started with
`init(test_hooks=True)`; otherwise setting one raises RuntimeError and the worker's run
pays one `is None` test per instruction.

  - `pause_at(worker, phase, name=None, skip=0, report_to=(host, port))`: the worker, when
    it next enters `phase` of a run ("run" as a run starts, "op" before an op (`name`, the
    op's), "send" / "recv" before a tensor goes to / is taken from another worker,
    "rejoin" before it takes in the connection of a restarted peer's new process, "lost"
    when a connection to a peer has ended, before that is filed; "write" before a
    background checkpoint write (async_save) writes its file; "start": the next
    process `restart_worker` starts for it, as it starts, on Ray; "hello": that process,
    once connected to a peer, before it sends its handshake), after
    `skip` earlier matches, connects to `report_to` on 127.0.0.1, writes one JSON line
    `{"worker", "pid", "phase", "name"}` and waits there until the other end writes a byte
    or closes: a test kills it while it waits, i.e. in that phase, however fast or slow
    the machine is. One pause per call; it applies to the messages the worker handles
    after those already sent to it.
  - `fail_at(worker, phase, name=None, skip=0)`: the worker's run, when it next enters
    `phase` (as for pause_at; not "start" or "hello"), after `skip` earlier matches, fails as a whole
    there with RuntimeError("test hook: ..."), as a run fails that the worker cannot go
    on with. One failure per call.
  - `limit_allocations(worker, nbytes)`: from then on, making a tensor of more than nbytes
    bytes on that worker (an op's result, or a tensor received from another worker)
    fails with MemoryError as numpy's allocation does when the machine has no memory
    left; `None` lifts the limit.
"""
from __future__ import annotations

from .errors import DeadlineExceeded
from .runtime import current
from .worker_hooks import WorkerHooks  # noqa: F401  (the worker's side)


PHASES = ("run", "op", "send", "recv", "rejoin", "lost", "write", "start", "hello")
_NEW_PROCESS = ("start", "hello")  # phases of a process restart_worker has yet to start


def pause_at(worker: str, phase: str, name=None, skip: int = 0, report_to=None) -> None:
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
    host, port = report_to
    if host != "127.0.0.1":
        raise ValueError("a pause reports to a listener on 127.0.0.1")
    pause = {"phase": phase, "name": name, "skip": int(skip), "report_to": [host, int(port)]}
    if phase in _NEW_PROCESS:  # for a process not started yet: the driver keeps it till then
        rt = current()
        arm = getattr(rt.endpoint, "arm_start", None)
        if arm is None:
            raise ValueError(f"the {phase!r} phase is the Ray backend's, not {rt.backend!r}'s")
        arm(rt.queue(worker).index, pause)
        return
    _configure(worker, {"pause": pause})


def fail_at(worker: str, phase: str, name=None, skip: int = 0) -> None:
    if phase not in PHASES or phase in _NEW_PROCESS:
        raise ValueError(f"phase must be one of {PHASES[:-2]}, got {phase!r}")
    _configure(worker, {"fail": {"phase": phase, "name": name, "skip": int(skip)}})


def limit_allocations(worker: str, nbytes) -> None:
    _configure(worker, {"alloc_limit_bytes": None if nbytes is None else int(nbytes),
                        "set_limit": True})


def _configure(worker: str, settings: dict) -> None:
    """Within the worker's call timeout, as any wait for it (a stuck one: TimeoutError)."""
    rt = current()
    q = rt.queue(worker)
    try:
        rt.endpoint.configure_hooks(q.index, settings, q.timeout())
    except DeadlineExceeded:
        raise q._timed_out() from None
