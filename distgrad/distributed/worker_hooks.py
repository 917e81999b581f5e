"""The worker's side of the test hooks (testhooks.py, off by default): a pause in a phase of
a run, reported to a test that kills the worker there, and a limit on allocations."""
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
        self.alloc_limit_bytes = None

    def configure(self, pause=None, alloc_limit_bytes=None, set_limit=False) -> None:
        with self.lock:
            if pause is not None:
                self.pause = dict(pause)
            if set_limit:
                self.alloc_limit_bytes = alloc_limit_bytes

    def enter(self, index: int, phase: str, name=None) -> None:
        """Called by the worker as it enters a phase: report and wait when armed for it."""
        with self.lock:
            p = self.pause
            if p is None or p["phase"] != phase or p["name"] not in (None, name):
                return
            if p["skip"] > 0:
                p["skip"] -= 1
                return
            self.pause = None
        host, port = p["report_to"]
        with socket.create_connection((host, port)) as s:
            line = {"worker": index, "pid": os.getpid(), "phase": phase, "name": name}
            s.sendall(json.dumps(line).encode() + b"\n")
            s.recv(1)  # a byte, or the test closing: go on

    def allocate(self, nbytes: int) -> None:
        """Called before a tensor of nbytes is made: fails as numpy does, over the limit."""
        limit = self.alloc_limit_bytes
        if limit is not None and nbytes > limit:
            raise MemoryError(f"Unable to allocate {nbytes} bytes (the test limit is {limit})")
