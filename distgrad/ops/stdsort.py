"""The order in which libstdc++'s std::sort, std::nth_element and std::partial_sort leave
equal keys, step for step.

torch's CPU mode sorts (value, index) pairs by value with std::sort, which is not stable
past 16 elements, and reports the index that lands last among the mode's copies; its topk
selects with std::partial_sort (k * 64 <= n) or std::nth_element then std::sort. To report
the same indices (and send the gradient there) distgrad runs the same algorithms: introsort
(median of three pivots, unguarded partitions, a heapsort below a depth limit, then an
insertion sort over runs of 16), introselect, heap selection. Plain Python, one row at a
time, on keys ordered by `<` (callers map torch's comparators onto keys: `ordering_keys`).
"""
from __future__ import annotations

import numpy as np

_THRESHOLD = 16


def argsort(keys) -> list:
    """The positions of `keys` in the order std::sort(..., a.first < b.first) leaves them."""
    keys = list(keys)
    a = list(range(len(keys)))
    sort_range(a, keys, 0, len(a))
    return a


def sort_range(a, keys, first, last) -> None:
    """std::sort of a[first:last] (positions into `keys`), in place."""
    n = last - first
    if n > 0:
        less = _less(a, keys)
        _introsort(a, keys, first, last, 2 * (n.bit_length() - 1), less)
        _final_insertion_sort(a, keys, first, last)


def nth_element(a, keys, nth) -> None:
    """std::nth_element(a, a + nth, a + len(a)), in place: introselect."""
    first, last = 0, len(a)
    if nth >= last:
        return
    less = _less(a, keys)
    depth = 2 * ((last - first).bit_length() - 1)
    while last - first > 3:
        if depth == 0:
            heap_select(a, keys, first, nth + 1, last)
            a[first], a[nth] = a[nth], a[first]  # (the nth best, in its place)
            return
        depth -= 1
        cut = _partition_pivot(a, keys, first, last, less)
        if cut <= nth:
            first = cut
        else:
            last = cut
    _insertion_sort(a, keys, first, last)


def partial_sort(a, keys, middle, candidates=None) -> None:
    """std::partial_sort(a, a + middle, a + len(a)), in place. `candidates`: the positions
    past `middle` that can beat the heap's first top (the others are skipped unread, as
    std's comparison with them fails)."""
    heap_select(a, keys, 0, middle, len(a), candidates)
    _sort_heap(a, keys, 0, middle)


def heap_select(a, keys, first, middle, last, candidates=None) -> None:
    _make_heap(a, keys, first, middle)
    for i in range(middle, last) if candidates is None else candidates:
        if keys[a[i]] < keys[a[first]]:
            value = a[i]
            a[i] = a[first]
            _adjust_heap(a, keys, first, 0, middle - first, value)


def _less(a, keys):
    def less(i, j):  # compare the keys of the items at positions i and j of `a`
        return keys[a[i]] < keys[a[j]]
    return less


def _introsort(a, keys, first, last, depth, less):
    while last - first > _THRESHOLD:
        if depth == 0:
            _heapsort(a, keys, first, last)
            return
        depth -= 1
        cut = _partition_pivot(a, keys, first, last, less)
        _introsort(a, keys, cut, last, depth, less)
        last = cut


def _partition_pivot(a, keys, first, last, less):
    mid = first + (last - first) // 2
    _median_to_first(a, first, first + 1, mid, last - 1, less)
    lo, hi, pivot = first + 1, last, first
    while True:
        while less(lo, pivot):
            lo += 1
        hi -= 1
        while less(pivot, hi):
            hi -= 1
        if not lo < hi:
            return lo
        a[lo], a[hi] = a[hi], a[lo]
        lo += 1


def _median_to_first(a, result, x, y, z, less):
    if less(x, y):
        pick = y if less(y, z) else z if less(x, z) else x
    else:
        pick = x if less(x, z) else z if less(y, z) else y
    a[result], a[pick] = a[pick], a[result]


def _final_insertion_sort(a, keys, first, last):
    if last - first > _THRESHOLD:
        _insertion_sort(a, keys, first, first + _THRESHOLD)
        for i in range(first + _THRESHOLD, last):
            _linear_insert(a, keys, i)
    else:
        _insertion_sort(a, keys, first, last)


def _insertion_sort(a, keys, first, last):
    for i in range(first + 1, last):
        if keys[a[i]] < keys[a[first]]:
            a[first:i + 1] = [a[i]] + a[first:i]
        else:
            _linear_insert(a, keys, i)


def _linear_insert(a, keys, last):
    val = a[last]
    nxt = last - 1
    while keys[val] < keys[a[nxt]]:
        a[last] = a[nxt]
        last, nxt = nxt, nxt - 1
    a[last] = val


# ---- heapsort (std::make_heap, then std::sort_heap) ----------------------------------------------

def _heapsort(a, keys, first, last):
    _make_heap(a, keys, first, last)
    _sort_heap(a, keys, first, last)


def _make_heap(a, keys, first, last):
    n = last - first
    if n >= 2:
        for parent in range((n - 2) // 2, -1, -1):
            _adjust_heap(a, keys, first, parent, n, a[first + parent])


def _sort_heap(a, keys, first, last):
    while last - first > 1:
        last -= 1
        value = a[last]
        a[last] = a[first]
        _adjust_heap(a, keys, first, 0, last - first, value)


def _adjust_heap(a, keys, first, hole, length, value):
    top = hole
    child = hole
    while child < (length - 1) // 2:
        child = 2 * (child + 1)
        if keys[a[first + child]] < keys[a[first + child - 1]]:
            child -= 1
        a[first + hole] = a[first + child]
        hole = child
    if (length & 1) == 0 and child == (length - 2) // 2:
        child = 2 * (child + 1)
        a[first + hole] = a[first + child - 1]
        hole = child - 1
    parent = (hole - 1) // 2
    while hole > top and keys[a[first + parent]] < keys[value]:
        a[first + hole] = a[first + parent]
        hole = parent
        parent = (hole - 1) // 2
    a[first + hole] = value


# ---- torch's topk (aten's topk_impl_loop) -----------------------------------------------------

def topk_positions(row, k: int, largest: bool, sorted_: bool) -> list:
    """The positions of `row` (a 1-D numpy array) that torch's CPU topk reports, in its
    order: std::partial_sort of (value, index) pairs when k * 64 <= len(row), else
    std::nth_element and (sorted) std::sort of the first k - 1; nan ranks first."""
    keys, numeric = ordering_keys(row, largest)
    a = list(range(len(keys)))
    if k == 0:
        return []
    if k * 64 <= len(a):
        candidates = None
        if numeric is not None:  # (a position that cannot beat the heap's first top is skipped)
            candidates = (k + np.nonzero(numeric[k:] < numeric[:k].max())[0]).tolist()
        partial_sort(a, keys, k, candidates)
    else:
        nth_element(a, keys, k - 1)
        if sorted_:
            sort_range(a, keys, 0, k - 1)
    return a[:k]


def ordering_keys(row, largest: bool):
    """Keys whose `<` is torch's sort and topk comparator on `row` (largest first or
    smallest first; nan counts as the largest, equal nans tie), as a list, and as an array
    when no nan needs the tuples."""
    if row.dtype.kind == "f" and np.isnan(row).any():
        nan_rank = 0 if largest else 1
        keys = [(nan_rank, 0.0) if v != v else (1 - nan_rank, -v if largest else v)
                for v in row.tolist()]
        return keys, None
    if largest:  # (~ on integers: decreasing, without -x's overflow at the type's minimum)
        numeric = -row if row.dtype.kind == "f" else ~row
    else:
        numeric = row
    return numeric.tolist(), numeric
