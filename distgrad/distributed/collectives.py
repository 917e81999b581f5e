"""Collectives over tensors that live one per worker: all-reduce, reduce-scatter,
all-gather and broadcast, as recorded ops (moves worker to worker and adds), so they run
in each worker's queue between its other ops, never through the driver, and are
differentiable like any other op.

Every reduction adds the parts in worker order, once, where its result is first made:
every copy of a result is either computed in that same order or moved from where it was,
so replicated results are bitwise equal on every worker.

Two workers exchange their parts directly (each sends its whole part once: the same bytes
as a ring). More workers use reduce-scatter then all-gather on 1/n chunks, so each
worker sends 2(n-1)/n of the tensor however many there are.

runtime.collectives tallies the collectives recorded, by kind (distgrad.distributed.counters()).
"""
from __future__ import annotations

from ..autograd import grad_mode, record
from . import placement
from .runtime import collectives as counts


def _recording(parts) -> bool:
    """A graph is recorded through the parts (create_graph): use the differentiable moves."""
    return grad_mode.is_grad_enabled() and any(p._requires_grad for p in parts)


def _on(t, worker: str):
    return t if t.device_str == worker else t.to(worker)


def _sum_in_order(parts, worker: str):
    total = None
    for p in parts:
        q = _on(p, worker)
        total = q if total is None else record.call("add", total, q)
    return total


def all_reduce(parts: list) -> list:
    """The sum of `parts` (one tensor per worker, same shape) on each of their workers."""
    counts["all_reduce"] += 1
    workers = [p.device_str for p in parts]
    if len(parts) == 2 and not _recording(parts):  # both send first, then both add
        first_there, second_here = placement.exchange([(parts[0], workers[1]),
                                                        (parts[1], workers[0])])
        return [record.call("add", parts[0], second_here),
                record.call("add", first_there, parts[1])]
    if len(parts) <= 2:
        return [_sum_in_order(parts, w) for w in workers]
    chunks = reduce_scatter([p.reshape(-1) for p in parts], _count_collective=False)
    shape = list(parts[0].shape)
    return [g.view(shape) for g in all_gather(chunks, _count_collective=False)]


def all_reduce_coalesced(parts: list) -> list:
    """all_reduce of several tensors at once: parts[k] is worker k's list of them; returns
    each worker's list of sums. Two workers swap every tensor (all sends queued before any
    receive) with no copy into one flat buffer; more workers reduce one flat buffer."""
    workers = [p[0].device_str for p in parts]
    if len(parts) == 2 and not _recording([t for p in parts for t in p]):
        counts["all_reduce"] += 1
        moved = placement.exchange([(t, workers[1]) for t in parts[0]] +
                                   [(t, workers[0]) for t in parts[1]])
        m = len(parts[0])
        first_there, second_here = moved[:m], moved[m:]
        # Each sum is made in the received copy's memory (a + b == b + a exactly, so both
        # workers' sums stay bitwise equal): no new buffer per gradient.
        with grad_mode.no_grad():
            return [[b.add_(a) for a, b in zip(parts[0], second_here)],
                    [a.add_(b) for a, b in zip(first_there, parts[1])]]
    sizes = [t.numel() for t in parts[0]]
    flat = [p[0].reshape(-1) if len(p) == 1 else
            record.call("cat", *[t.reshape(-1) for t in p], dim=0) for p in parts]
    out = []
    for total, p in zip(all_reduce(flat), parts):
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        out.append([total.narrow(0, o, n).view(list(t.shape))
                    for o, n, t in zip(offsets, sizes, p)])
    return out


def reduce_scatter(parts: list, dim: int = 0, _count_collective: bool = True) -> list:
    """Worker k's chunk (np.array_split's k-th along `dim`) of the sum of `parts`."""
    if _count_collective:
        counts["reduce_scatter"] += 1
    n = len(parts)
    size = parts[0].shape[dim]
    bounds = _split_bounds(size, n)
    out = []
    for k, p in enumerate(parts):
        pieces = [q.narrow(dim, bounds[k], bounds[k + 1] - bounds[k]) for q in parts]
        out.append(_sum_in_order(pieces, p.device_str))
    return out


def all_gather(parts: list, dim: int = 0, _count_collective: bool = True) -> list:
    """The concatenation of `parts` along `dim`, on each of their workers."""
    if _count_collective:
        counts["all_gather"] += 1
    out = []
    for p in parts:
        w = p.device_str
        out.append(record.call("cat", *[_on(q, w) for q in parts], dim=dim))
    return out


def broadcast(t, workers: list) -> list:
    """`t` on each of `workers` (its own tensor where it already lives)."""
    counts["broadcast"] += 1
    return [_on(t, w) for w in workers]


def _split_bounds(size: int, n: int) -> list:
    """Chunk bounds as np.array_split makes them (the first size % n chunks one longer)."""
    base, extra = divmod(size, n)
    bounds = [0]
    for k in range(n):
        bounds.append(bounds[-1] + base + (1 if k < extra else 0))
    return bounds
