"""CPU time of process trees, from /proc (Linux): the bench's check that a system's
processes ran alone while it was timed, and how busy the rest of the machine was."""
from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    return os.path.exists("/proc/stat")


def _stat_fields(pid: int):
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def process_tree(roots) -> set:
    """`roots` and every live descendant (Ray's daemons and workers descend from the
    driver that started them; torch RPC workers from theirs)."""
    children: dict = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = int(_stat_fields(int(name))[1])
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
        children.setdefault(ppid, []).append(int(name))
    tree, stack = set(), [r for r in roots if r]
    while stack:
        pid = stack.pop()
        if pid not in tree:
            tree.add(pid)
            stack.extend(children.get(pid, ()))
    return tree


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes (all their threads); exited ones count 0."""
    return sum(per_process(pids).values())


def per_process(pids) -> dict:
    """{pid: its user + system CPU seconds} of the live ones."""
    out = {}
    for pid in pids:
        try:
            f = _stat_fields(pid)
            out[pid] = (int(f[11]) + int(f[12])) / _TICK  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return out


def name(pid: int) -> str:
    """The process's short name (Ray names its processes: raylet, gcs_server, ray::...)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def machine_busy_seconds() -> float:
    """CPU time every core spent running anything (not idle, not waiting on I/O)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0
    return (user + nice + system + irq + softirq + steal) / _TICK
