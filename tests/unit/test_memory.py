"""distgrad.distributed.memory: a worker keeps freed memory instead of page-faulting it in
again every step. Checked in a fresh process through glibc's own accounting."""
from __future__ import annotations

import subprocess
import sys

PROBE = r"""
import ctypes, sys
import numpy as np

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "keep":
    from distgrad.distributed.memory import keep_freed_memory
    assert keep_freed_memory()
a = np.ones((2048, 2048), np.float32)  # 16 MB: over glibc's default mmap threshold
info = libc.mallinfo2()
print(info.hblkhd, info.arena)
"""


def _probe(mode):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), int(out[1])


def test_big_arrays_come_from_the_heap_once_memory_is_kept():
    mapped, _ = _probe("default")
    assert mapped >= 16 << 20  # glibc's default: a fresh mmap, unmapped again when freed
    mapped, heap = _probe("keep")
    assert mapped < 16 << 20 and heap >= 16 << 20, (mapped, heap)
