"""The worker's side of the test hooks (testhooks.py, off by default): a pause in a phase of
a run, reported to a test that kills the worker there, a failure of the whole run in a
phase, and a limit on allocations."""
from __future__ import annotations

import json
import os
import socket
import threading


class WorkerHooks:
    """One worker's hooks (see the module doc); set from the driver with `configure`."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pause = None  # {"phase", "name", "skip", "report_to"} while armed
        self.fail = None  # {"phase", "name", "skip"} while armed
        self.alloc_limit_bytes = None

    def configure(self, pause=None, fail=None, alloc_limit_bytes=None, set_limit=False) -> None:
        with self.lock:
            if pause is not None:
                self.pause = dict(pause)
            if fail is not None:
                self.fail = dict(fail)
            if set_limit:
                self.alloc_limit_bytes = alloc_limit_bytes

    def enter(self, index: int, phase: str, name=None) -> None:
        """Called by the worker as it enters a phase: fail the run, or report and wait,
        when armed for it."""
        with self.lock:
            f = self._take("fail", phase, name)
            p = self._take("pause", phase, name) if f is None else None
        if f is not None:
            raise RuntimeError(f"test hook: worker:{index}'s run fails as it enters phase "
                               f"{phase!r}" + (f" ({name})" if name else ""))
        if p is None:
            return
        host, port = p["report_to"]
        with socket.create_connection((host, port)) as s:
            line = {"worker": index, "pid": os.getpid(), "phase": phase, "name": name}
            s.sendall(json.dumps(line).encode() + b"\n")
            s.recv(1)  # a byte, or the test closing: go on

    def _take(self, which: str, phase: str, name):
        """The armed `which` ("pause", "fail") if this entry is the one it waits for
        (then disarmed), else None. (Holds self.lock.)"""
        armed = getattr(self, which)
        if armed is None or armed["phase"] != phase or armed["name"] not in (None, name):
            return None
        if armed["skip"] > 0:
            armed["skip"] -= 1
            return None
        setattr(self, which, None)
        return armed

    def allocate(self, nbytes: int) -> None:
        """Called before a tensor of nbytes is made: fails as numpy does, over the limit."""
        limit = self.alloc_limit_bytes
        if limit is not None and nbytes > limit:
            raise MemoryError(f"Unable to allocate {nbytes} bytes (the test limit is {limit})")
