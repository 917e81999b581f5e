"""How many workers a Ray cluster can place: checked before any is started, so asking for
more fails at once instead of after timeout_s.

A worker is an actor asking for `num_cpus` CPUs (Ray places it on one node that has them
free) and is a process of its own, about `WORKER_BYTES` resident (measured: ~100 MB with
numpy loaded). Per alive node (`ray.nodes()`), the workers that fit are bounded by its
CPUs (when a worker asks for some) and by its memory for tasks (Ray's "memory" resource).
"""
from __future__ import annotations

WORKER_BYTES = 128 << 20


def places(nodes: list, num_cpus: float) -> int:
    """Workers of `num_cpus` CPUs each that the alive nodes hold at most."""
    total = 0
    for node in nodes:
        if not node.get("Alive", True):
            continue
        res = node.get("Resources", {})
        fit = int(res.get("memory", 0) // WORKER_BYTES)
        if num_cpus > 0:
            fit = min(fit, int(res.get("CPU", 0) // num_cpus))
        total += fit
    return total


def check(n: int, num_cpus: float, nodes: list) -> None:
    """ValueError, saying what the cluster has, when n workers cannot all be placed."""
    room = places(nodes, num_cpus)
    if n <= room:
        return
    alive = [node.get("Resources", {}) for node in nodes if node.get("Alive", True)]
    cpus = sum(r.get("CPU", 0) for r in alive)
    memory = sum(r.get("memory", 0) for r in alive)
    raise ValueError(
        f"distgrad.distributed.init: num_workers={n} workers do not fit this Ray cluster: each "
        f"asks for num_cpus={num_cpus:g} and is a process of about {WORKER_BYTES >> 20} MiB, "
        f"and the cluster's {len(alive)} node(s) have {cpus:g} CPUs and {memory / 2**30:.1f} GiB "
        f"of memory for tasks, room for {room} workers. Ask for fewer workers or a smaller "
        f"worker_num_cpus, or add nodes")
