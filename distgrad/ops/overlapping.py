"""An in-place write to a view some of whose elements are one place in memory (an unfold,
an as_strided with small strides), as torch's kernel makes it.

torch refuses to write such a view only when a dim of it has stride 0 (an expanded one);
other overlaps its check does not see, and its kernel writes element by element in
TensorIterator's order, each element reading what the elements before it wrote to its
place: `a.unfold(1, 2, 1).mul_(2)` doubles the middle column twice. (Its vectorised inner
loop changes nothing here: the elements of one inner row are distinct places.)

So the write is done in rounds: round t makes every place's t-th write, from what the
rounds before it left there; the elements of one place then all hold its last value.
"""
from __future__ import annotations

import numpy as np

from . import layout


def _may_overlap(shape, strides) -> bool:
    """False when no two elements can be one place: the dims, by stride, each step past
    the whole extent of the smaller ones."""
    extent = 0
    for stride, n in sorted((abs(s), n) for n, s in zip(shape, strides) if n > 1):
        if stride <= extent:
            return True
        extent += stride * (n - 1)
    return False


def _visits(shape, strides, others):
    """(each element's place, the elements in torch's visiting order), or None when no two
    elements (row-major flat indices) are one place. `others`: the (shape, strides) of the
    op's other tensor operands, which break ties in that order."""
    shape, strides = tuple(shape), tuple(strides)
    numel = int(np.prod(shape, dtype=np.int64))
    if numel < 2 or not _may_overlap(shape, strides):
        return None
    places = np.zeros(shape, np.int64)
    for d, (n, s) in enumerate(zip(shape, strides)):
        places = places + (np.arange(n) * s).reshape((n,) + (1,) * (len(shape) - 1 - d))
    places = places.reshape(-1)
    if np.unique(places).size == numel:
        return None
    fastest_first = layout.iteration_order(shape, [(shape, strides), (shape, strides), *others])
    order = np.arange(numel).reshape(shape).transpose(fastest_first[::-1]).reshape(-1)
    return places, order


def write_rounds(shape, strides, others=()) -> list | None:
    """For each round t, the element whose value each element's place takes in it (its
    t-th visitor; -1: the place has no t-th visit); None when no two elements are one place."""
    seen = _visits(shape, strides, others)
    if seen is None:
        return None
    places, order = seen
    visited = places[order]
    by_place = np.argsort(visited, kind="stable")  # (each place's visits in their order)
    _, group, counts = np.unique(visited[by_place], return_inverse=True, return_counts=True)
    rank = np.arange(by_place.size) - np.repeat(np.cumsum(counts) - counts, counts)
    visitor = order[by_place]
    group_of = np.empty(places.size, np.int64)
    group_of[visitor] = group
    rounds = []
    for t in range(int(counts.max())):
        writer = np.full(counts.size, -1, np.int64)
        writer[group[rank == t]] = visitor[rank == t]
        rounds.append(writer[group_of])
    return rounds


def last_writes(shape, strides, others=()):
    """Each element's place's last visitor (flat indices), or None when no two elements
    are one place: what a copy into the view leaves at each place."""
    rounds = write_rounds(shape, strides, others)
    if rounds is None:
        return None
    last = rounds[0]
    for writer in rounds[1:]:
        last = np.where(writer >= 0, writer, last)
    return last


def written_in_rounds(target, first, redo, rounds):
    """`target`'s values once written in `rounds` (write_rounds): `first` is the op's result
    from target's values as they were; `redo(current)` is it again from the values the
    rounds so far left (None: the result does not read them). Run without a graph."""
    from ..autograd.record import call  # (record imports the op table, which imports this)
    from ..creation import tensor

    shape, device = list(target.shape), target.device_str
    result = first.reshape(-1)
    current = None
    for t, writer in enumerate(rounds):
        if t and redo is not None:
            result = redo(current.reshape(shape)).to(target.dtype).reshape(-1)
        taken = result.take(tensor(np.maximum(writer, 0), device=device))
        # (every place has a first visit: round 0 writes all)
        current = taken if current is None else call(
            "where", tensor(writer >= 0, device=device), taken, current)
    return current.reshape(shape)
