"""Starting the Ray runtime a test session shares (tests/cluster's conftest, and the fuzz
tests' Ray programs when they run in a session of their own).

The suite runs in several processes at once (pytest-xdist), each with a runtime of its own.
Their starts take turns: on a fresh machine the first `ray.init` writes Ray's
authentication token (~/.ray/auth_token), and two writing it at once could leave one
runtime's processes holding the other's token.
"""
from __future__ import annotations

import fcntl
import os
import signal
import tempfile


def start_ray(ray, num_cpus: int, attempts: int = 3) -> None:
    """ray.init, again when the node did not come up: Ray waits 30 s (not settable) for its
    node to register, and on a busy machine its processes may take longer to start."""
    lock_path = os.path.join(tempfile.gettempdir(), f"distgrad-tests-ray-start-{os.getuid()}.lock")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # (released when the file closes)
        for attempt in range(attempts):
            before = _children()
            try:
                ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level="WARNING")
                return
            except Exception as e:
                if "timed out during startup" not in str(e) or attempt == attempts - 1:
                    raise
                ray.shutdown()
                _stop(_children() - before)


def _children() -> set:
    """This process's children, by pid."""
    me, found = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == me:
                    found.add(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return found


def _stop(pids) -> None:
    """What a failed ray.init leaves running (its GCS server, monitors: ray.shutdown does
    not stop them then): the children that attempt started."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
