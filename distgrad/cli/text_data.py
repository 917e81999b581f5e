"""Character-level text that every machine with Python has: the standard library's own
source files (the top-level `*.py` of the running interpreter's stdlib directory), split
into training and validation by file, so no file's text is on both sides.

The vocabulary is fixed (newline and printable ASCII, 96 characters), so a model trained
on one machine reads the same token ids on another; a tab becomes four spaces and any
other character is dropped.
"""
from __future__ import annotations

import glob
import os
import sysconfig
import zlib

import numpy as np

VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
_ID = {ch: i for i, ch in enumerate(VOCAB)}
_TABLE = np.full(256, -1, np.int64)
for _ch, _i in _ID.items():
    _TABLE[ord(_ch)] = _i


def stdlib_files() -> list:
    """The top-level Python source files of the running interpreter's standard library."""
    root = sysconfig.get_paths()["stdlib"]
    files = sorted(glob.glob(os.path.join(root, "*.py")))
    if not files:
        raise FileNotFoundError(f"no *.py files in the standard library directory {root}")
    return files


def is_validation(path: str, fraction: float) -> bool:
    """A fixed choice per file name (not per machine): crc32 of the base name."""
    return zlib.crc32(os.path.basename(path).encode()) % 1000 < fraction * 1000


def encode(text: str) -> np.ndarray:
    raw = np.frombuffer(text.replace("\t", "    ").encode("ascii", "ignore"), np.uint8)
    ids = _TABLE[raw]
    return ids[ids >= 0]


def decode(ids) -> str:
    return "".join(VOCAB[int(i)] for i in ids)


def load_stdlib_text(val_fraction: float = 0.1):
    """(train ids, validation ids, number of training files, number of validation files)."""
    train, val = [], []
    for path in stdlib_files():
        with open(path, encoding="utf-8", errors="replace") as f:
            ids = encode(f.read())
        (val if is_validation(path, val_fraction) else train).append(ids)
    if not train or not val:
        raise ValueError(f"the split of {len(train) + len(val)} standard library files left "
                         f"{len(train)} for training and {len(val)} for validation")
    return np.concatenate(train), np.concatenate(val), len(train), len(val)


def random_windows(data: np.ndarray, batch: int, context: int, rng):
    """(inputs, next-character targets), both (batch, context) int64, at random offsets."""
    starts = rng.integers(0, len(data) - context - 1, batch)
    x = np.stack([data[s:s + context] for s in starts])
    y = np.stack([data[s + 1:s + context + 1] for s in starts])
    return x, y
