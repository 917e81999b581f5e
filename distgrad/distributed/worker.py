"""A worker: a plain class that holds arrays by id and runs op-table forwards on them.

The Ray backend wraps it in an actor (runtime.py); the local backend calls it in the
driver process. Either way it is reached only through `handle(payload, *arrays)` with a
wire message, and it keeps serving after a bad one.
"""
from __future__ import annotations

import os
import socket

import numpy as np

from .. import dtypes
from ..ops.table import OPS, run_forward
from . import wire
from .wire import WireFormatError


class Worker:
    def __init__(self, index: int, node: str | None = None):
        self.index = index
        self.node = node or socket.gethostname()
        self.tensors: dict[int, np.ndarray] = {}
        self.nodes: dict[int, list] = {}  # node id -> ids of the tensors it saved

    # ---- entry point -----------------------------------------------------------------------
    def handle(self, payload, *arrays):
        """Decode, validate and serve one message. Returns (reply bytes, *exported arrays)."""
        msg = wire.decode_request(payload)
        kind = msg["type"]
        if kind == "ping":
            return (wire.reply({"pid": os.getpid()}),)
        if kind == "stats":
            return (wire.reply(self.stats()),)
        args = list(arrays) + list(msg.get("arrays", []))
        self._check_refs(msg["instrs"], len(args))
        exported = self._run(msg["instrs"], args)
        return (wire.reply({"exports": len(exported)}),) + tuple(exported)

    def stats(self) -> dict:
        seen, total = set(), 0
        for arr in self.tensors.values():
            base = arr.base if isinstance(arr.base, np.ndarray) else arr
            if id(base) not in seen:
                seen.add(id(base))
                total += base.nbytes
        return {"pid": os.getpid(), "node": self.node, "tensors": len(self.tensors),
                "nodes": len(self.nodes), "bytes": int(total)}

    # ---- execution -------------------------------------------------------------------------
    def _check_refs(self, instrs, n_args) -> None:
        """Every op must be known and every id defined before use: checked before running."""
        known = set(self.tensors)
        for i, ins in enumerate(instrs):
            code = ins[0]
            if code == "op":
                if ins[1] not in OPS:
                    raise WireFormatError(f"field 'instrs[{i}][1]': unknown op {ins[1]!r}")
                for item in ins[2]:
                    if item[0] == 0 and item[1] not in known:
                        raise WireFormatError(f"field 'instrs[{i}][2]': unknown tensor id {item[1]}")
                if len(ins[4]) != len(ins[5]):
                    raise WireFormatError(f"field 'instrs[{i}][5]': one dtype per output id")
                known.update(ins[4])
            elif code == "import":
                if ins[2] >= n_args:
                    raise WireFormatError(f"field 'instrs[{i}][2]': no array argument {ins[2]}")
                known.add(ins[1])
            elif code in ("export", "assign"):
                for k in range(1, len(ins)):
                    if ins[k] not in known:
                        raise WireFormatError(f"field 'instrs[{i}][{k}]': unknown tensor id {ins[k]}")

    def _run(self, instrs, args) -> list:
        tensors = self.tensors
        exported = []
        for ins in instrs:
            code = ins[0]
            if code == "op":
                _, name, inputs, attrs, out_ids, out_dtypes = ins
                values = [tensors[x[1]] if x[0] == 0 else (x[1] if x[0] == 1 else None)
                          for x in inputs]
                outs = run_forward(OPS[name], values, attrs,
                                   [dtypes.from_name(d) for d in out_dtypes])
                for tid, value in zip(out_ids, outs):
                    tensors[tid] = value
            elif code == "import":
                tensors[ins[1]] = np.asarray(args[ins[2]])
            elif code == "export":
                exported.append(tensors[ins[1]])
            elif code == "assign":
                dst, src = tensors[ins[1]], tensors[ins[2]]
                if dst.flags.writeable and dst.shape == src.shape:
                    np.copyto(dst, src)
                else:  # arrays from the object store are read-only: take a copy
                    tensors[ins[1]] = np.array(np.broadcast_to(src, dst.shape), dtype=dst.dtype)
            elif code == "node":
                self.nodes[ins[1]] = ins[2]
            elif code == "free":
                for tid in ins[1]:
                    tensors.pop(tid, None)
            elif code == "free_node":
                for nid in ins[1]:
                    self.nodes.pop(nid, None)
        return exported
