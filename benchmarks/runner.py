"""A system's timed chunk of steps, and the process it runs in.

A chunk is `steps` training steps followed by the system's own drain (`sync()`): a step
may return before its work is done (distgrad's `loss.item()` returns while the workers
still compute the weight gradients and the update), so the chunk's clock stops only when
that work is finished, and that work is charged to the system that started it.

Each group of systems (groups.GROUPS) runs in a process of its own, started as
`python -m benchmarks.runner GROUP OPTIONS CMD_FD REPLY_FD`: its driver, and the workers
it starts, are the only processes of that system, with the settings their own users
would run (one thread each; glibc's default memory settings except in distgrad's
workers, which set theirs). The bench process only sends commands (JSON lines on a pipe)
and watches the CPU time of every group's processes.

While another system is timed, a group's process stops the processes it started (Ray's
daemons and workers, the torch RPC workers: SIGSTOP, then SIGCONT), so that their
background work (an idle Ray runtime takes several % of a core here) is not charged to
that system. The group's own process stays awake and continues them before it exits.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import contextlib
import time

from . import cpu
from .model import params_for

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/'s parent
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def time_chunk(system, steps: int, counters=None) -> dict:
    """Run `steps` steps then `system.sync()`; the chunk's time covers all their work.

    `step_ms` is each step's own clock (until the step returned); `drain_ms` is the time
    `sync()` took after the last step; `counters` (a callable) is read before the drain,
    so a count covers the steps' own messages. A system with several ranks (torch_spmd.py)
    has `begin(steps)`, called before the clock starts, which tells its other ranks to run
    the same steps; its `sync()` returns the last step's global loss (a rank's own step
    may see only its share of the loss, or none), kept as `final_loss`. A system with a
    `timeline()` (the pipeline rows) has its workers' busy and idle time over the chunk
    measured (distributed.timeline), beside its `theoretical_bubble_fraction`."""
    sync = getattr(system, "sync", None)
    begin = getattr(system, "begin", None)
    timeline = getattr(system, "timeline", None)
    step_ms, losses = [], []
    before = counters() if counters else None
    if begin is not None:
        begin(steps)
    with timeline() if timeline is not None else contextlib.nullcontext() as tl:
        t0 = time.perf_counter()
        for _ in range(steps):
            s = time.perf_counter()
            losses.append(system.step())
            step_ms.append((time.perf_counter() - s) * 1e3)
        d = time.perf_counter()
        after = counters() if counters else None
        synced = sync() if sync is not None else None
        t1 = time.perf_counter()
    out = {"steps": steps, "chunk_ms": (t1 - t0) * 1e3, "drain_ms": (t1 - d) * 1e3,
           "step_ms": step_ms, "losses": losses}
    if tl is not None:
        out["timeline"] = {**tl.as_dict(), "theory": system.theoretical_bubble_fraction}
    if synced is not None:
        out["final_loss"] = synced
    if counters:
        out["counters"] = [[a - b for a, b in zip(ra, rb)] for ra, rb in zip(after, before)]
    return out


def warm_up(system, size: str, warmup: int) -> float:
    """Set a system up for a size and run its untimed steps; returns the seconds taken."""
    t0 = time.perf_counter()
    system.setup(params_for(size))
    begin = getattr(system, "begin", None)
    if begin is not None:
        begin(warmup)
    for _ in range(warmup):
        system.step()
    sync = getattr(system, "sync", None)
    if sync is not None:
        sync()
    return time.perf_counter() - t0


class InProcess:
    """A system object run in this process (tests' stand-ins; no CPU check)."""

    pids: tuple = ()
    group = None

    def __init__(self, system):
        self.system = system

    def setup(self, size: str, warmup: int) -> float:
        return warm_up(self.system, size, warmup)

    def chunk(self, steps: int) -> dict:
        return time_chunk(self.system, steps, getattr(self.system, "counters", None))

    def teardown(self) -> None:
        self.system.teardown()


class ChildGroup:
    """A process running one group of systems; `system(name)` is a proxy for one."""

    def __init__(self, group: str, names, options: dict, start_timeout_s: float = 300.0):
        self.group = group
        cmd_r, self._cmd_w = os.pipe()
        self._reply_r, reply_w = os.pipe()
        env = dict(os.environ, **ONE_THREAD_ENV)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [CHECKOUT, env.get("PYTHONPATH")]))
        spec = json.dumps({"names": list(names), "options": options})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.runner", group, spec, str(cmd_r), str(reply_w)],
            pass_fds=(cmd_r, reply_w), env=env)
        os.close(cmd_r)
        os.close(reply_w)
        self._out = os.fdopen(self._cmd_w, "w", buffering=1)
        self._in = os.fdopen(self._reply_r, "r")
        ready = self._reply()
        self.names = ready["names"]  # name -> None, or why that system is not available
        self.info = ready.get("info", {})

    @property
    def pids(self) -> tuple:
        return (self.proc.pid,)

    def call(self, **msg) -> dict:
        self._out.write(json.dumps(msg) + "\n")
        return self._reply()

    def _reply(self) -> dict:
        line = self._in.readline()
        if not line:
            code = self.proc.wait()
            raise RuntimeError(f"the {self.group} process exited (status {code})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def system(self, name: str) -> "ChildSystem":
        return ChildSystem(self, name)

    def pause(self) -> None:
        """Stop the processes this group started (not its own): another system is timed."""
        self.call(cmd="pause")

    def resume(self) -> None:
        self.call(cmd="resume")

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.call(cmd="close")
        except Exception as e:
            print(f"bench: closing the {self.group} process: {e}", file=sys.stderr)
        finally:
            for f in (self._out, self._in):
                try:
                    f.close()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


class ChildSystem:
    """One system of a ChildGroup, with InProcess's methods."""

    def __init__(self, group: ChildGroup, name: str):
        self.group, self.name = group, name

    @property
    def pids(self) -> tuple:
        return self.group.pids

    def setup(self, size: str, warmup: int) -> float:
        return self.group.call(cmd="setup", system=self.name, size=size, warmup=warmup)["seconds"]

    def chunk(self, steps: int) -> dict:
        return self.group.call(cmd="chunk", system=self.name, steps=steps)

    def teardown(self) -> None:
        self.group.call(cmd="teardown", system=self.name)


# ---- the child process --------------------------------------------------------------------------

def _limit_threads(group: str) -> dict:
    """One BLAS thread (and one torch intra-op thread) in this process."""
    info = {}
    if group.startswith("torch"):
        import torch

        torch.set_num_threads(1)
        info["torch"] = torch.get_num_threads()
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(1)
        info.update({d.get("internal_api"): d.get("num_threads") for d in threadpool_info()})
    except ImportError:
        info["threadpoolctl"] = "not installed (OMP/OPENBLAS/MKL_NUM_THREADS=1 only)"
    return info


class _Pauser:
    """Stops and continues the processes this one started (all its descendants)."""

    def __init__(self):
        self.stopped: list = []

    def pause(self) -> int:
        self.resume()
        for pid in sorted(cpu.process_tree([os.getpid()]) - {os.getpid()}):
            try:
                os.kill(pid, signal.SIGSTOP)
                self.stopped.append(pid)
            except ProcessLookupError:
                pass
        return len(self.stopped)

    def resume(self) -> None:
        stopped, self.stopped = self.stopped, []
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def _serve(group: str, spec: dict, cmd_in, reply_out) -> None:
    from . import groups as registry

    def reply(**msg):
        reply_out.write(json.dumps(msg) + "\n")
        reply_out.flush()

    threads = _limit_threads(group)
    try:
        systems, close, info = registry.open_group(group, spec["names"], spec["options"])
    except Exception as e:
        reply(error=f"failed to start: {type(e).__name__}: {e}")
        return
    info["driver_thread_pools"] = threads
    reply(names={n: s if isinstance(s, str) else None for n, s in systems.items()}, info=info)
    pauser = _Pauser()
    try:
        for line in cmd_in:  # EOF: the bench process is gone
            msg = json.loads(line)
            cmd = msg["cmd"]
            if cmd == "close":
                break
            if cmd == "pause":
                reply(stopped=pauser.pause())
                continue
            if cmd == "resume":
                pauser.resume()
                reply(ok=True)
                continue
            pauser.resume()
            system = systems[msg["system"]]
            try:
                if cmd == "setup":
                    reply(seconds=warm_up(system, msg["size"], msg["warmup"]))
                elif cmd == "chunk":
                    reply(**time_chunk(system, msg["steps"], getattr(system, "counters", None)))
                elif cmd == "teardown":
                    system.teardown()
                    reply(ok=True)
                else:
                    reply(error=f"unknown command {cmd!r}")
            except Exception as e:
                reply(error=f"{type(e).__name__}: {e}")
    finally:
        pauser.resume()
        for s in systems.values():
            if not isinstance(s, str):
                try:
                    s.teardown()
                except Exception:
                    pass
        close()
        reply(ok=True)


if __name__ == "__main__":
    # python -m benchmarks.runner GROUP SPEC_JSON CMD_FD REPLY_FD (started by ChildGroup)
    _group, _spec, _cmd_fd, _reply_fd = sys.argv[1:5]
    with os.fdopen(int(_cmd_fd), "r") as _in, os.fdopen(int(_reply_fd), "w") as _out:
        _serve(_group, json.loads(_spec), _in, _out)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's slow teardown of torch and Ray (seconds)
