"""Time limits for tests that must never hang (there is no pytest-timeout here).

`within(seconds, fn, *args)` runs fn in a daemon thread and returns its result or raises
its exception; if it has not finished in time the test fails with "hung", and the stuck
thread is left behind (a daemon, so it cannot keep the session alive). `started` is the
same for a test that acts while fn runs.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import pytest

# What a test gives init (and restart_worker) to start its Ray workers: starting workers is
# not what the tests time, and on a busy machine one Ray worker process has taken over a
# minute to start (init's default, 60 s, is for a user's machine).
START_TIMEOUT_S = 300.0


def within(seconds: float, fn, *args, **kwargs):
    return started(seconds, fn, *args, **kwargs)()


def started(seconds: float, fn, *args, **kwargs):
    """fn started in a daemon thread; calling what is returned waits for it as `within`
    does (for a test that acts while fn runs)."""
    box = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the test's thread
            box["error"] = e

    t = threading.Thread(target=run, daemon=True, name=f"within-{getattr(fn, '__name__', 'fn')}")
    t.start()

    def result():
        t.join(seconds)
        if t.is_alive():
            pytest.fail(f"hung: {getattr(fn, '__name__', fn)} did not finish within {seconds} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    return result


class PhaseGate:
    """Where a worker paused by `distgrad.distributed.testhooks.pause_at` reports: a
    listener on 127.0.0.1. The worker waits in its phase until `release()` (or until it is
    killed there). Close it when done."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.address = ("127.0.0.1", self.server.getsockname()[1])
        self.conn = None

    def wait(self, timeout_s: float = 60.0) -> dict:
        """The report of the worker that entered the phase: {"worker", "pid", "phase", "name"}."""
        self.server.settimeout(timeout_s)
        try:
            self.conn, _ = self.server.accept()
        except socket.timeout:
            raise AssertionError(f"no worker reported the phase within {timeout_s} s") from None
        self.conn.settimeout(timeout_s)
        with self.conn.makefile("rb") as f:
            return json.loads(f.readline())

    def release(self) -> None:
        if self.conn is not None:
            self.conn.sendall(b"g")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


class Killer:
    """SIGKILL a process from a thread: at once, or (gate) once the worker reports to
    `gate` that it is in the phase it was paused at, so it dies there however fast the
    machine is. `.at` is when the signal was sent, `.report` the worker's report."""

    def __init__(self, pid: int, gate: PhaseGate | None = None, give_up_s: float = 60.0):
        self.pid = pid
        self.at = None
        self.report = None
        self.error = None
        self._thread = threading.Thread(target=self._run, args=(gate, give_up_s), daemon=True)
        self._thread.start()
        if gate is None:
            self._thread.join()

    def _run(self, gate, give_up_s):
        if gate is not None:
            try:
                self.report = gate.wait(give_up_s)
            except BaseException as e:  # the test sees it at join()
                self.error = e
                return
            if self.report["pid"] != self.pid:
                self.error = AssertionError(f"pid {self.report['pid']} reported, not {self.pid}")
                return
        self.at = time.monotonic()
        os.kill(self.pid, signal.SIGKILL)

    def join(self):
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.at


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def process_state(pid: int) -> str:
    """The process's state letter (R, S, D, T for stopped, Z, ...), or "gone"."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split()[1]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return "gone"


def wait_stopped(pid: int, seconds: float = 30.0) -> None:
    """Return once a SIGSTOPped process is stopped: kill() returns before every thread of
    it has taken the signal, and a test that then sends it work must find it stopped."""
    deadline = time.monotonic() + seconds
    while process_state(pid) != "T":
        if time.monotonic() > deadline:
            raise AssertionError(f"pid {pid} is not stopped {seconds} s after SIGSTOP "
                                 f"(state {process_state(pid)})")
        time.sleep(0.01)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
