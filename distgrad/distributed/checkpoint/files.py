"""A checkpoint's shard files: safetensors files with a crc32 per tensor, written and read
by whoever holds the data (a worker, or the driver for its own tensors).

Plain functions on numpy arrays and paths, so the worker process runs them as they are.
"""
from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np

from ...serialization import row_major


# safetensors' names of distgrad's dtypes
_SAFETENSORS_DTYPES = {"float16": "F16", "bfloat16": "BF16", "float32": "F32", "float64": "F64", "int8": "I8",
                       "int16": "I16", "int32": "I32", "int64": "I64", "uint8": "U8",
                       "bool": "BOOL"}


def write_shard_file(path: str, arrays: dict) -> dict:
    """Write `arrays` ({key: array}) to `path` in the safetensors format and flush it to
    disk. Returns per key its crc32 and byte count, and the file's size (which the manifest
    records). The arrays' memory is written as it is: no serialised copy of it is made."""
    arrays = {k: row_major(a) for k, a in arrays.items()}
    if not os.path.isdir(os.path.dirname(path)):
        raise FileNotFoundError(f"checkpoint directory {os.path.dirname(path)} does not exist "
                                "here: on a cluster it must be a path every node can write "
                                "(a shared file system)")
    header, offset = {}, 0
    for key, a in arrays.items():
        header[key] = {"dtype": _SAFETENSORS_DTYPES[a.dtype.name], "shape": list(a.shape),
                       "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads its header to 8 bytes with spaces
    with open(path, "wb", buffering=0) as f:
        _write_all(f, struct.pack("<Q", len(raw)) + raw)
        for a in arrays.values():
            if a.nbytes:
                _write_all(f, _bytes_of(a))
        # the manifest that names this file is renamed in only after it is durable
        os.fsync(f.fileno())
    return {"crc32": {k: checksum(a) for k, a in arrays.items()},
            "nbytes": {k: int(a.nbytes) for k, a in arrays.items()},
            "file_bytes": os.path.getsize(path)}


def _bytes_of(a: np.ndarray) -> memoryview:
    return memoryview(a.reshape(-1).view(np.uint8))


def _write_all(f, data) -> None:
    view = memoryview(data)
    while view.nbytes:
        n = f.write(view)
        view = view[n:]


def checksum(a: np.ndarray) -> int:
    """crc32 of an array's bytes in row-major order (zlib releases the GIL on large ones)."""
    a = row_major(a)
    return zlib.crc32(_bytes_of(a)) if a.nbytes else 0


def read_region(path: str, key: str, starts, stops, crc32: int, file_bytes: int,
                cache: dict | None = None) -> np.ndarray:
    """Rows [starts, stops) of tensor `key` in shard file `path`, after checking the file's
    size and the tensor's checksum against the manifest's (RuntimeError naming the file)."""
    whole = cache.get((path, key)) if cache is not None else None
    if whole is None:
        whole = _read_checked(path, key, crc32, file_bytes)
        if cache is not None:
            cache[(path, key)] = whole
    if list(starts) == [0] * whole.ndim and list(stops) == list(whole.shape) and cache is None:
        return whole  # (read for this caller alone: no copy needed)
    region = tuple(slice(a, b) for a, b in zip(starts, stops))
    return np.array(whole[region], copy=True)


def _read_checked(path: str, key: str, crc32: int, file_bytes: int) -> np.ndarray:
    try:
        size = os.path.getsize(path)
    except OSError as e:
        raise RuntimeError(f"checkpoint shard file {path} cannot be read ({e}): the "
                           "checkpoint directory must be reachable from every worker") from None
    if size != file_bytes:
        raise RuntimeError(f"checkpoint shard file {path} is truncated or was overwritten: it "
                           f"has {size} bytes, the manifest says {file_bytes}")
    from safetensors import safe_open

    try:
        with safe_open(path, framework="np") as f:
            whole = f.get_tensor(key)
    except Exception as e:
        raise RuntimeError(f"checkpoint shard file {path} is corrupted: tensor {key!r} cannot "
                           f"be read ({type(e).__name__}: {e})") from None
    got = checksum(whole)
    if got != crc32:
        raise RuntimeError(f"checkpoint shard file {path} is corrupted: tensor {key!r} has "
                           f"crc32 {got:#010x}, the manifest says {crc32:#010x}")
    return whole
