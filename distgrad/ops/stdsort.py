"""The order in which libstdc++'s std::sort leaves equal keys, step for step.

torch's CPU mode sorts (value, index) pairs by value with std::sort, which is not stable
past 16 elements, and reports the index that lands last among the mode's copies; to report
the same index (and send the gradient there) distgrad sorts the same way: introsort (median
of three pivots, unguarded partitions, a heapsort below a depth limit), then an insertion
sort over runs of 16. Plain Python: one row at a time.
"""
from __future__ import annotations

_THRESHOLD = 16


def argsort(keys) -> list:
    """The positions of `keys` in the order std::sort(..., a.first < b.first) leaves them."""
    keys = list(keys)
    a = list(range(len(keys)))

    def less(i, j):  # compare the keys of the items at positions i and j of `a`
        return keys[a[i]] < keys[a[j]]

    n = len(a)
    if n:
        _introsort(a, keys, 0, n, 2 * (n.bit_length() - 1), less)
        _final_insertion_sort(a, keys, 0, n)
    return a


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
    n = last - first
    if n >= 2:
        for parent in range((n - 2) // 2, -1, -1):
            _adjust_heap(a, keys, first, parent, n, a[first + parent])
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
