"""Time limits for tests that must never hang (there is no pytest-timeout here).

`within(seconds, fn, *args)` runs fn in a daemon thread and returns its result or raises
its exception; if it has not finished in time the test fails with "hung", and the stuck
thread is left behind (a daemon, so it cannot keep the session alive).
"""
from __future__ import annotations

import os
import signal
import threading
import time

import pytest


def within(seconds: float, fn, *args, **kwargs):
    box = {}

    def run():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the test's thread
            box["error"] = e

    t = threading.Thread(target=run, daemon=True, name=f"within-{getattr(fn, '__name__', 'fn')}")
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"hung: {getattr(fn, '__name__', fn)} did not finish within {seconds} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Killer:
    """SIGKILL a process from a thread: after `delay` seconds, or (busy_cpu_s) once it has
    used that much more CPU time than when the killer started, i.e. in the middle of a run
    that is known to take longer. `.at` is when the signal was sent."""

    def __init__(self, pid: int, delay: float = 0.0, busy_cpu_s: float | None = None,
                 give_up_s: float = 60.0):
        self.pid = pid
        self.at = None
        self.cpu_at_kill = None
        self._thread = threading.Thread(target=self._run, args=(delay, busy_cpu_s, give_up_s),
                                        daemon=True)
        self._thread.start()
        if delay == 0 and busy_cpu_s is None:
            self._thread.join()

    def _run(self, delay, busy_cpu_s, give_up_s):
        if busy_cpu_s is not None:
            start, t0 = cpu_seconds(self.pid), time.monotonic()
            while time.monotonic() - t0 < give_up_s:
                used = cpu_seconds(self.pid) - start
                if used >= busy_cpu_s:
                    self.cpu_at_kill = used
                    break
                time.sleep(0.01)
        time.sleep(delay)
        self.at = time.monotonic()
        os.kill(self.pid, signal.SIGKILL)

    def join(self):
        self._thread.join()
        return self.at


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
