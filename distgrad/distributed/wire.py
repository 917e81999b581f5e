"""The driver↔worker message format: msgpack maps with a version and a type, checked on
receipt. Arrays travel beside the message as Ray objects, or inside it as msgpack ext
(dtype, shape, bytes) where Ray is absent. Nothing here is pickled.

A `run` message carries a worker's queued instructions, executed in order:
  ["op", name, inputs, attrs, out_ids, out_dtypes]   inputs: [0, id] tensor, [1, x] number, [2] None
  ["import", id, arg]      store array argument `arg` (a Ray object or inline ext) as tensor `id`
  ["export", id]           return tensor `id` to the driver (a read)
  ["assign", dst, src]     in-place: tensor dst takes src's values
  ["send", id, worker, key]    write tensor `id` to worker `worker` (channels.py)
  ["recv", id, worker, key, shape, dtype]  tensor `id` is the one `worker` sends as `key`
  ["node", node_id, ids]   a graph node on this worker saved these tensors
  ["free", ids] / ["free_node", node_ids]
  ["read", id, path, key, starts, stops, dtype, crc32, file_bytes]
                           tensor `id` is rows [starts, stops) of tensor `key` of the
                           checkpoint shard file `path` (its size and checksum checked)
  ["program", pid, runs]   keep `runs` (lists of instructions) as program `pid` (compile.py)
  ["replay", pid, lo, hi, binds, moves, gen]
                           run runs lo..hi-1 of program `pid`: the first binds [[id the
                           program reads, id of this call's tensor], ...], the last moves
                           [[program's id, fresh id, shape, dtype], ...] and unbinds; `gen`
                           numbers the replay (its send/recv keys are its own)
  ["drop_program", pid]

Its reply: {"exports": n, "timing": [start, end, recv_wait]} (wall-clock seconds; the
seconds it waited in "recv"), and "failed": [[instr index, record], ...] for the ops that
failed in it (errors.py). An exported tensor that holds a failure comes back as a reply
{"error": record} (bytes) in place of its array.

A `save` message (body: path, items [[key, id], ...], copy) has the worker write those
tensors to a checkpoint shard file; with copy=True it copies them and writes in the
background, and `save_poll` (body: ticket) asks whether that write is done. A `hooks`
message (body: the settings) configures a worker's test hooks (worker_hooks.py), in its
place among the runs.
"""
from __future__ import annotations

import math

import msgpack
import numpy as np

from .. import dtypes

VERSION = 1
_ARRAY_EXT = 1
_DTYPES = dtypes.NAMES


class WireFormatError(ValueError):
    """A message that does not follow the wire format; names the offending field."""


# ---- arrays as msgpack ext -------------------------------------------------------------------

def _default(obj):
    if isinstance(obj, np.ndarray):
        arr = obj if obj.flags.c_contiguous else obj.copy()  # (ascontiguousarray makes 0-d 1-d)
        return msgpack.ExtType(_ARRAY_EXT, msgpack.packb(
            [arr.dtype.name, list(arr.shape), arr.tobytes()], use_bin_type=True))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} on the wire")


def _ext_hook(code, data):
    if code != _ARRAY_EXT:
        raise WireFormatError(f"unknown msgpack ext type {code}")
    try:
        dtype, shape, raw = msgpack.unpackb(data, raw=False)
    except Exception as e:
        raise WireFormatError(f"array ext: undecodable ({e})") from None
    if dtype not in _DTYPES or not isinstance(shape, list) or not isinstance(raw, bytes):
        raise WireFormatError("array ext: expected [dtype, shape, bytes] with a known dtype")
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise WireFormatError("array ext: shape must be non-negative ints")
    n = math.prod(shape)  # exact: numpy's product could wrap around
    if n * np.dtype(dtype).itemsize != len(raw):
        raise WireFormatError(f"array ext: {len(raw)} bytes do not hold {dtype}{shape}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def pack(msg: dict) -> bytes:
    return msgpack.packb(msg, default=_default, use_bin_type=True)


def unpack(payload) -> dict:
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise WireFormatError(f"message: expected bytes, got {type(payload).__name__}")
    try:
        msg = msgpack.unpackb(bytes(payload), raw=False, ext_hook=_ext_hook, strict_map_key=True)
    except WireFormatError:
        raise
    except Exception as e:
        raise WireFormatError(f"message: not valid msgpack ({type(e).__name__}: {e})") from None
    if not isinstance(msg, dict):
        raise WireFormatError(f"message: expected a map, got {type(msg).__name__}")
    v = msg.get("v")
    if type(v) is not int or v != VERSION:
        raise WireFormatError(f"field 'v': expected version {VERSION}, got {v!r}")
    if not isinstance(msg.get("type"), str):
        raise WireFormatError("field 'type': expected a string")
    return msg


# ---- requests --------------------------------------------------------------------------------

def run_message(instrs: list, inline_arrays: list | None = None, peers=None,
                runs=None) -> bytes:
    """peers: per worker, which of its processes the run is sent for (1: its first);
    runs: per worker, how many runs that process had been sent before this one."""
    msg = {"v": VERSION, "type": "run", "instrs": instrs}
    if inline_arrays:
        msg["arrays"] = inline_arrays
    if peers:
        msg["peers"] = peers
    if runs:
        msg["runs"] = runs
    return pack(msg)


def simple_message(kind: str) -> bytes:
    return pack({"v": VERSION, "type": kind})


def body_message(kind: str, body: dict) -> bytes:
    return pack({"v": VERSION, "type": kind, "body": body})


_REQUEST_TYPES = ("run", "stats", "ping", "save", "save_poll", "profile_start", "profile_stop",
                  "hooks")
_WITH_BODY = ("save", "save_poll", "hooks")


def decode_request(payload) -> dict:
    """Decode and validate a request; WireFormatError names the bad field."""
    msg = unpack(payload)
    kind = msg["type"]
    if kind not in _REQUEST_TYPES:
        raise WireFormatError(f"field 'type': unknown message type {kind!r}")
    extra = set(msg) - {"v", "type", "instrs", "arrays", "body", "peers", "runs"}
    if extra:
        raise WireFormatError(f"field {sorted(extra)[0]!r}: not part of a {kind} message")
    if ("body" in msg) != (kind in _WITH_BODY):
        raise WireFormatError(f"field 'body': {'required in' if 'body' not in msg else 'not part of'} "
                              f"a {kind} message")
    if kind == "save":
        _check_save_body(msg["body"])
    elif kind == "save_poll":
        if not isinstance(msg["body"], dict) or not _is_id(msg["body"].get("ticket")):
            raise WireFormatError("field 'body.ticket': expected an id")
    elif kind == "hooks" and not isinstance(msg["body"], dict):
        raise WireFormatError("field 'body': expected a map of test hook settings")
    if kind == "run":
        instrs = msg.get("instrs")
        if not isinstance(instrs, list):
            raise WireFormatError("field 'instrs': expected a list")
        for i, ins in enumerate(instrs):
            _check_instr(i, ins)
        arrays = msg.get("arrays", [])
        if not isinstance(arrays, list) or not all(isinstance(a, np.ndarray) for a in arrays):
            raise WireFormatError("field 'arrays': expected a list of array ext values")
        if not _ids(msg.get("peers", [])):
            raise WireFormatError("field 'peers': expected a list of incarnations")
        if not _ids(msg.get("runs", [])):
            raise WireFormatError("field 'runs': expected a list of run counts")
    else:
        for field in ("peers", "runs"):
            if field in msg:
                raise WireFormatError(f"field {field!r}: not part of a {kind} message")
    return msg


def _check_save_body(body) -> None:
    if not isinstance(body, dict) or set(body) != {"path", "items", "copy"}:
        raise WireFormatError("field 'body': expected a map of path, items and copy")
    if not isinstance(body["path"], str) or not isinstance(body["copy"], bool):
        raise WireFormatError("field 'body.path' / 'body.copy': expected a string and a bool")
    items = body["items"]
    if not isinstance(items, list) or not all(
            isinstance(it, list) and len(it) == 2 and isinstance(it[0], str) and _is_id(it[1])
            for it in items):
        raise WireFormatError("field 'body.items': expected a list of [key, id]")


def _is_id(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _ids(x) -> bool:
    return isinstance(x, list) and all(_is_id(i) for i in x)


def _op_ok(ins) -> bool:
    """The common case, an op instruction, checked in one pass (the slow path names the field)."""
    if len(ins) != 6:
        return False
    _, name, inputs, attrs, out_ids, out_dtypes = ins
    if type(name) is not str or type(attrs) is not dict or type(inputs) is not list \
            or type(out_ids) is not list or type(out_dtypes) is not list:
        return False
    for item in inputs:
        if type(item) is not list or not item or type(item[0]) is not int:
            return False
        kind = item[0]
        if kind == 0:
            if len(item) != 2 or type(item[1]) is not int or item[1] < 0:
                return False
        elif kind == 1:
            if len(item) != 2 or type(item[1]) not in (int, float, bool):
                return False
        elif kind != 2 or len(item) != 1:
            return False
    for tid in out_ids:
        if type(tid) is not int or tid < 0:
            return False
    for d in out_dtypes:
        if type(d) is not str or d not in _DTYPES:
            return False
    return True


def _check_instr(i: int, ins) -> None:
    check_instr(f"instrs[{i}]", ins)


def check_instr(where: str, ins) -> None:
    """One instruction's fields (WireFormatError names the first bad one)."""
    if type(ins) is list and ins and type(ins[0]) is str and ins[0] == "op" and _op_ok(ins):
        return
    if not isinstance(ins, list) or not ins or not isinstance(ins[0], str):
        raise WireFormatError(f"field '{where}': expected [code, ...]")
    code = ins[0]
    shape = _INSTR_SHAPES.get(code)
    if shape is None:
        raise WireFormatError(f"field '{where}[0]': unknown instruction {code!r}")
    if len(ins) != len(shape) + 1:
        raise WireFormatError(f"field '{where}': {code} takes {len(shape)} fields, got {len(ins) - 1}")
    for k, (check, what) in enumerate(shape, start=1):
        if not check(ins[k]):
            raise WireFormatError(f"field '{where}[{k}]': expected {what}, got "
                                  f"{type(ins[k]).__name__}")


def _inputs_ok(x) -> bool:
    if not isinstance(x, list):
        return False
    for item in x:
        if not isinstance(item, list) or not item or type(item[0]) is not int \
                or item[0] not in (0, 1, 2):
            return False
        if item[0] == 0 and (len(item) != 2 or not _is_id(item[1])):
            return False
        if item[0] == 1 and (len(item) != 2 or not isinstance(item[1], (int, float, bool))):
            return False
        if item[0] == 2 and len(item) != 1:
            return False
    return True


_INSTR_SHAPES = {
    "op": [(lambda x: isinstance(x, str), "an op name"), (_inputs_ok, "a list of inputs"),
           (lambda x: isinstance(x, dict), "a map of attrs"), (_ids, "a list of ids"),
           (lambda x: isinstance(x, list) and all(isinstance(d, str) and d in _DTYPES for d in x),
            "a list of dtypes")],
    "import": [(_is_id, "an id"), (_is_id, "an argument index")],
    "export": [(_is_id, "an id")],
    "assign": [(_is_id, "an id"), (_is_id, "an id")],
    "send": [(_is_id, "an id"), (_is_id, "a worker index"), (_is_id, "a key")],
    "recv": [(_is_id, "an id"), (_is_id, "a worker index"), (_is_id, "a key"),
             (lambda x: isinstance(x, list) and all(_is_id(d) for d in x), "a shape"),
             (lambda x: isinstance(x, str) and x in _DTYPES, "a dtype")],
    "node": [(_is_id, "a node id"), (_ids, "a list of ids")],
    "free": [(_ids, "a list of ids")],
    "free_node": [(_ids, "a list of node ids")],
    "program": [(_is_id, "a program id"),
                (lambda x: isinstance(x, list) and all(isinstance(r, list) for r in x),
                 "a list of runs")],
    "replay": [(_is_id, "a program id"), (_is_id, "a run index"), (_is_id, "a run index"),
               (lambda x: isinstance(x, list) and all(_ids(b) and len(b) == 2 for b in x),
                "a list of [id, id]"),
               (lambda x: isinstance(x, list) and all(
                   isinstance(m, list) and len(m) == 4 and _is_id(m[0]) and _is_id(m[1])
                   and _ids(m[2]) and m[3] in _DTYPES for m in x),
                "a list of [id, id, shape, dtype]"),
               (_is_id, "a replay number")],
    "drop_program": [(_is_id, "a program id")],
    "read": [(_is_id, "an id"), (lambda x: isinstance(x, str), "a path"),
             (lambda x: isinstance(x, str), "a key"), (_ids, "a list of starts"),
             (_ids, "a list of stops"), (lambda x: isinstance(x, str) and x in _DTYPES, "a dtype"),
             (_is_id, "a crc32"), (_is_id, "a file size")],
}


# ---- what an instruction names ---------------------------------------------------------------
# The driver's bookkeeping (which ids a run needs, makes or frees; a compiled program's
# renaming) reads instructions only through these, so the layout above is read in one place
# on the driver (the worker unpacks it where it runs each kind).

def op_tensor_inputs(inputs) -> list:
    """The tensor ids among an "op" instruction's inputs ([0, id] items)."""
    return [x[1] for x in inputs if x[0] == 0]


def reads(ins) -> list:
    """The tensor ids an instruction reads (or writes in place)."""
    code = ins[0]
    if code == "op":
        return op_tensor_inputs(ins[2])
    if code in ("export", "send"):
        return [ins[1]]
    if code == "assign":
        return [ins[1], ins[2]]
    return []


def makes(ins) -> list:
    """The tensor ids an instruction makes."""
    code = ins[0]
    if code == "op":
        return ins[4]
    if code in ("import", "recv", "read"):
        return [ins[1]]
    return []


def ids_of(ins) -> list:
    """The tensor ids an instruction reads or makes."""
    return reads(ins) + list(makes(ins))


def touched(ins) -> set:
    """Every tensor id an instruction names: read, made, freed or saved by a graph node."""
    code = ins[0]
    if code == "free":
        return set(ins[1])
    if code == "node":
        return set(ins[2])
    return set(ids_of(ins))


def renamed(ins, mapping: dict):
    """The instruction with its tensor ids renamed by `mapping` (an id not in it stays)."""
    if not mapping:
        return ins
    code, g = ins[0], mapping.get
    if code == "op":
        _, name, inputs, attrs, out_ids, out_dtypes = ins
        inputs = [[0, g(x[1], x[1])] if x[0] == 0 else x for x in inputs]
        return ["op", name, inputs, attrs, [g(t, t) for t in out_ids], out_dtypes]
    if code in ("import", "export", "send", "recv", "read"):
        return [code, g(ins[1], ins[1])] + list(ins[2:])
    if code == "assign":
        return ["assign", g(ins[1], ins[1]), g(ins[2], ins[2])]
    if code == "node":
        return ["node", ins[1], [g(t, t) for t in ins[2]]]
    if code == "free":
        return ["free", [g(t, t) for t in ins[1]]]
    return ins


# ---- replies ---------------------------------------------------------------------------------

def reply(body: dict) -> bytes:
    return pack({"v": VERSION, "type": "reply", **body})


def decode_reply(payload) -> dict:
    msg = unpack(payload)
    if msg["type"] != "reply":
        raise WireFormatError(f"field 'type': expected a reply, got {msg['type']!r}")
    return msg
