"""Keeping freed memory in a worker process, so big arrays do not page-fault every step.

glibc serves allocations over its mmap threshold (128 KB, growing to at most 32 MB) with
fresh mmap()s and returns them to the kernel when freed, so every new activation or
gradient of a training step is faulted in page by page again (about 1 ms per 4 MB here,
as much as computing a 256x1024 layer's ReLU ten times). A worker runs the same step
over and over: raising both thresholds makes freed blocks stay in the heap for the next
step, as PyTorch's caching allocators do on GPUs. The cost: a worker's resident memory
stays at its peak (memory above `TRIM_BYTES` free at the heap's top is still returned).

That holds in glibc's main arena only. Each thread that allocates gets an arena of its
own, and outside the main one a heap holds at most 64 MB: anything bigger (a 4096x4096
float32 weight's gradient) is a fresh mmap whatever the thresholds, faulted in again at
every step (16,384 page faults, ~170 ms of CPU in a 2 s pipeline step here). A worker runs
its ops on its connection's thread, so its process starts with a single arena
(`WORKER_ENV`: glibc reads it once, when the process starts).
"""
from __future__ import annotations

import ctypes
import ctypes.util

MMAP_THRESHOLD_BYTES = 1 << 30  # allocations below this come from the heap
TRIM_BYTES = 2 << 30  # free memory kept at the heap's top before it is returned

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters

WORKER_ENV = {"MALLOC_ARENA_MAX": "1"}  # a worker process's environment from its start


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds in this process. False where there is no
    glibc (macOS, musl): nothing changes there."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES))
