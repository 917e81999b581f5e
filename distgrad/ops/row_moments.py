"""Each row's mean as torch's CPU norm kernels take it from a float16 or bfloat16 input
(RowwiseMoments: Welford's updates in float32, vectorized). A mean of a few low-precision
values is often exactly halfway between two of their dtype's numbers; torch's float32
Welford mean falls an ulp to one side, and the kernel's saved mean rounds that way.

Torch's order: the row's whole vectors (twice the float32 lanes of values each) in chunks of
16, each half-vector's lanes updated by m += (x - m) * 1/(j + 1) (a fused multiply-add), the
halves and chunks merged by m += (m' - m) * c; then the row's tail one value at a time by
m += (x - m) / k, and each lane merged into it by a fused m += c * (m' - m). The lane count
is torch's for this CPU (vector_sum.float32_lanes); elsewhere the float64 mean is kept.
A float32 row's mean and variance (float32_row_moments) go the same way, one vector a
lane's width.
"""
from __future__ import annotations

import numpy as np

from .vector_sum import float32_lanes

_CHUNK = 16
_f32 = np.float32


def low_float_row_means(rows: np.ndarray) -> np.ndarray:
    """The means of rows (M, N) of float16 or bfloat16 values (held as float32), float64."""
    lanes = float32_lanes()
    if lanes is None:
        return rows.mean(axis=1, dtype=np.float64)
    rows = rows.astype(_f32)
    width = 2 * lanes  # (a vector of 2-byte values)
    n = rows.shape[1] // width
    count, mean = _vector_means(rows[:, :n * width], n, lanes)
    tail_count, tail = 0, np.zeros(rows.shape[0], _f32)
    for x in rows[:, n * width:].T:
        tail_count += 1
        tail = (tail + (x - tail) / _f32(tail_count)).astype(_f32)
    for lane in mean.T:
        total = tail_count + count
        tail = _fma(_f32(count) / _f32(total), lane - tail, tail) if total else tail
        tail_count = total
    return tail.astype(np.float64)


def _vector_means(rows, n, lanes):
    """(each lane's count, the lanes' means (M, lanes)) of a row's n whole vectors."""
    empty = np.zeros((rows.shape[0], lanes), _f32)
    chunks = -(-n // _CHUNK)
    depth = (chunks - 1).bit_length() if chunks > 2 else 1
    stack = [(0, empty)] * depth  # (count, means) of merged chunks: torch's cascade
    for i in range(chunks):
        first, size = i * _CHUNK, min(_CHUNK, n - i * _CHUNK)
        for half in range(2):
            m = empty
            for j in range(size):
                start = (first + j) * 2 * lanes + half * lanes
                m = _fma(rows[:, start:start + lanes] - m, _f32(1) / _f32(j + 1), m)
            stack[0] = _merge(size, m, *stack[0])
        mask, level = i + 1, 1
        while level < depth and mask % 2 == 0:
            stack[level] = _merge(*stack[level - 1], *stack[level])
            stack[level - 1] = (0, empty)
            mask //= 2
            level += 1
    for level in range(1, depth):
        stack[0] = _merge(*stack[level], *stack[0])
    return stack[0]


def _merge(count_add, mean_add, count, mean):
    total = count + count_add
    c = _f32(count_add) / _f32(total) if total else _f32(0)
    return total, (mean + c * (mean_add - mean)).astype(_f32)


def _fma(a, b, c):
    """a * b + c rounded once to float32 (a product of float32s is exact in float64)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + c).astype(_f32)


# ---- float32 rows: the mean and the variance --------------------------------------------------

def float32_row_moments(rows: np.ndarray):
    """(mean, biased variance) of each row of float32 `rows` (M, N), float32 arrays (M,), as
    torch's RowwiseMoments takes them for a float32 layer or group norm; None where the
    lane count is unknown. Each lane runs Welford's updates over its values of a chunk of 16
    vectors (fused: m += (x - m) * 1/(j + 1), m2 += (x - m_old) * (x - m)), the chunks are
    merged by the same cascade as the mean's above (m += c * (m' - m), m2 summed with the
    merge's term fused in), then the tail one value at a time, and each lane merged into
    it (fused)."""
    lanes = float32_lanes()
    if lanes is None:
        return None
    rows = rows.astype(_f32)
    n = rows.shape[1] // lanes
    lane_count, lane_mean, lane_m2 = _vector_moments(rows[:, :n * lanes], n, lanes)
    count, mean, m2 = 0, np.zeros(rows.shape[0], _f32), np.zeros(rows.shape[0], _f32)
    for x in rows[:, n * lanes:].T:
        count += 1
        delta = x - mean
        mean = (mean + delta / _f32(count)).astype(_f32)
        m2 = (m2 + delta * (x - mean)).astype(_f32)
    for lane in range(lanes):
        total = count + lane_count
        c = _f32(lane_count) / _f32(total) if total else _f32(0)
        delta = lane_mean[:, lane] - mean
        term = ((delta * delta).astype(_f32) * c).astype(_f32)
        m2 = (m2 + _fma(term, _f32(count), lane_m2[:, lane])).astype(_f32)
        mean = _fma(c, delta, mean)
        count = total
    return mean, (m2 / _f32(rows.shape[1])).astype(_f32)


def _vector_moments(rows, n, lanes):
    """(each lane's count, means, m2s (M, lanes)) of a row's n whole vectors."""
    empty = (0, np.zeros((rows.shape[0], lanes), _f32), np.zeros((rows.shape[0], lanes), _f32))
    chunks = -(-n // _CHUNK)
    depth = (chunks - 1).bit_length() if chunks > 2 else 1
    stack = [empty] * depth
    for i, (size, mean, m2) in enumerate(_chunk_moments(rows, n, lanes)):
        stack[0] = _merge_moments((size, mean, m2), stack[0])
        mask, level = i + 1, 1
        while level < depth and mask % 2 == 0:
            stack[level] = _merge_moments(stack[level - 1], stack[level])
            stack[level - 1] = empty
            mask //= 2
            level += 1
    for level in range(1, depth):
        stack[0] = _merge_moments(stack[level], stack[0])
    return stack[0]


def _chunk_moments(rows, n, lanes):
    """(size, means, m2s (M, lanes)) of each chunk of 16 vectors, in order. The chunks'
    Welford updates are independent: they run side by side, one numpy step a vector of a
    chunk (the same float32 roundings as one chunk at a time, in a 16th of the steps)."""
    full = n // _CHUNK
    out = []
    for first, count, size in ((0, full, _CHUNK), (full * _CHUNK, 1 if n % _CHUNK else 0,
                                                   n % _CHUNK)):
        if not count:
            continue
        block = rows[:, first * lanes:(first + count * size) * lanes]
        block = block.reshape(rows.shape[0], count, size, lanes)
        mean = m2 = np.zeros((rows.shape[0], count, lanes), _f32)
        for j in range(size):
            x = block[:, :, j]
            delta = x - mean
            mean = _fma(delta, _f32(1) / _f32(j + 1), mean)
            m2 = _fma(delta, x - mean, m2)
        out += [(size, mean[:, k], m2[:, k]) for k in range(count)]
    return out


def _merge_moments(added, into):
    (count_add, mean_add, m2_add), (count, mean, m2) = added, into
    total = count + count_add
    c = _f32(count_add) / _f32(total) if total else _f32(0)
    delta = mean_add - mean
    weight = ((delta * c).astype(_f32) * _f32(count)).astype(_f32)
    return (total, (mean + c * delta).astype(_f32),
            _fma(delta, weight, (m2 + m2_add).astype(_f32)))
