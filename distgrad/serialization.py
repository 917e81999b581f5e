"""`distgrad.save` / `distgrad.load`: tensors and nested containers of them, without pickle.

The file is one safetensors file: the arrays as its tensors, and the structure (dicts,
lists, tuples, sets, numbers, strings, None; each tensor's dtype, shape, requires_grad,
device and placement) as JSON in its metadata under the key "distgrad". It can be read
with nothing but numpy and safetensors:

    from safetensors import safe_open
    with safe_open("model.pt", framework="np") as f:
        structure = json.loads(f.metadata()["distgrad"])
        arrays = {k: f.get_tensor(k) for k in f.keys()}

Values round-trip bit for bit, with their dtypes, requires_grad and Parameter-ness. A
bfloat16 tensor is stored as safetensors' BF16 (which safetensors.numpy cannot read, having
no bfloat16; safetensors.torch and distgrad.load can).
Sharing: tensors of `obj` that share memory (a base and its views, or two views of
one base, on the driver or on one worker) are stored once, as their base's memory, and
come back sharing memory (as torch.load gives them: views in memory, not autograd views
of each other). A view saved alone is stored with its base's memory too, so it comes
back with its strides and storage offset, as torch's. Each loaded tensor has a version
counter of its own, at 1 (torch sets each one's storage with `set_`, which counts). A
sharded or replicated tensor is stored whole (gathered) with its placement, and comes
back placed the same way; its views saved with it come back viewing its memory (by their
strides and offset, as as_strided views placed as it is).

`map_location` as torch's: None (each tensor where it was saved: its worker, or its
placement over the same workers), a device ("cpu", "worker:1"), a dict from saved
location to new location, or a callable `(tensor_on_cpu, saved_location) -> tensor`
(whatever it returns is used; None leaves the tensor where it was saved).
"""
from __future__ import annotations

import json
import math
import os
import struct
from collections import Counter, OrderedDict

import numpy as np

from . import dtypes, storage
from .autograd.grad_mode import no_grad
from .creation import from_numpy
from .tensor import Tensor, device_str


def row_major(a) -> np.ndarray:
    """`a` as a C-contiguous array (np.ascontiguousarray would make a 0-d one 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")

FORMAT = "distgrad.save/1"
_KEY = "distgrad"

__all__ = ["save", "load"]


# ---- save --------------------------------------------------------------------------------------

def save(obj, f) -> None:
    """Write `obj` (a tensor, or dicts/lists/tuples of tensors, numbers, strings, None) to
    `f` (a path or a binary file object) as safetensors + JSON."""
    from safetensors.numpy import save as st_save

    writer = _Writer()
    structure = writer.encode(obj, "obj")
    writer.finish()
    meta = {_KEY: json.dumps({"format": FORMAT, "obj": structure,
                              "tensors": [rec for _, rec in writer.tensors],
                              "storages": writer.storages}, allow_nan=False)}
    data = st_save(writer.arrays, metadata=meta)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as out:
            out.write(data)
    else:
        f.write(data)


class _Writer:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.storages: dict[str, dict] = {}  # shared memory: its array key and device
        self.tensors: list = []  # (tensor, its JSON record) in order met
        self.seen: dict[int, dict] = {}  # id(tensor) -> its record (the same tensor twice)

    def encode(self, obj, where: str):
        if isinstance(obj, Tensor):
            return {"tensor": self._tensor(obj)}
        if isinstance(obj, bool) or obj is None or isinstance(obj, str):
            return obj
        if isinstance(obj, (int, np.integer)):
            return {"int": int(obj)}
        if isinstance(obj, (float, np.floating)):
            x = float(obj)
            return {"float": x if math.isfinite(x) else repr(x)}
        if isinstance(obj, dict):
            # (a Counter: MultiStepLR's milestones, which its closed form counts)
            kind = ("odict" if isinstance(obj, OrderedDict) else
                    "counter" if isinstance(obj, Counter) else "dict")
            return {kind: [[self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                           for k, v in obj.items()]}
        if isinstance(obj, (list, tuple, set)):  # (a namedtuple comes back a tuple)
            kind = "tuple" if isinstance(obj, tuple) else "set" if isinstance(obj, set) else "list"
            return {kind: [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        raise TypeError(f"distgrad.save: cannot save {type(obj).__name__} at {where}: only "
                        "tensors, numbers, strings, None and dicts/lists/tuples/sets of them "
                        "are saved (the file holds no pickle)")

    def _tensor(self, t: Tensor) -> dict:
        rec = self.seen.get(id(t))
        if rec is not None:  # the same tensor again: one record, one tensor when loaded
            return rec["id"]
        rec = {"id": len(self.tensors), "dtype": t.dtype.name, "shape": list(t.shape),
               "requires_grad": bool(t.requires_grad), "device": t.device_str}
        from .nn.parameter import Parameter

        if isinstance(t, Parameter):
            rec["parameter"] = True
        if t._sharding is not None:
            rec["placement"] = t._storage.placement_record(t)
        self.seen[id(t)] = rec
        self.tensors.append((t, rec))
        return rec["id"]

    def finish(self) -> None:
        """Store each tensor's values: once per shared memory, else its own."""
        groups: dict[int, list] = {}
        for t, rec in self.tensors:
            # (by memory: a handle with a counter of its own, `p.data = flat[i:j]`,
            # is in the same memory as torch's storage is the same)
            groups.setdefault(id(t._storage.memory or t._storage), []).append((t, rec))
        shared = {}
        for members in groups.values():
            if members[0][0]._sharding is not None:
                _as_views_of_the_whole(members)
                continue
            if len(members) > 1 or _is_view(members[0][0]):
                memory = _memory_of(members)
                if memory is not None:
                    key = f"storage{len(self.storages)}"
                    self.arrays[key], device = memory
                    self.storages[key] = {"device": device}
                    for t, rec in members:
                        shared[id(t)] = key
        for t, rec in self.tensors:
            key = shared.get(id(t))
            if "view_of" in rec:
                continue
            if key is not None:
                rec["storage"] = key
                rec["stride"] = list(t.stride())
                rec["offset"] = t.storage_offset()
            else:
                rec["key"] = key = f"tensor{rec['id']}"
                self.arrays[key] = row_major(t.detach()._numpy_value())


def _as_views_of_the_whole(members) -> None:
    """Sharded tensors of one memory (a sharded tensor and its views): the views are
    recorded by their strides and offset in the whole one's memory, which is stored once
    (placed as it was), so they come back viewing it as torch's come back. Views saved
    without their whole are stored each as its own."""
    whole = next((rec for t, rec in members if not t._is_view() and t._layout is None), None)
    if whole is None:
        return
    for t, rec in members:
        if rec is not whole:
            rec.update(view_of=whole["id"], stride=list(t.stride()), offset=t.storage_offset())


def _is_view(t: Tensor) -> bool:
    """Whether t is not its memory's whole, row-major from offset 0 (torch saves the
    whole memory it views, and its strides and offset in it)."""
    return t._viewed is not None or t._layout is not None


def _memory_of(members):
    """The values of the memory every member views, flat from offset 0, and its device:
    a base's that holds it (row-major from offset 0), or the driver array it is; or None."""
    for t, _ in members:
        base = t._viewed if t._viewed is not None else t
        if base._layout is None and base._storage.same_memory(t._storage):
            size = base.numel()
            if all(_extent(m) <= size for m, _ in members):
                return row_major(base.detach()._numpy_value()).reshape(-1), base.device_str
    return _driver_memory_of(members)


def _driver_memory_of(members):
    """The driver array the members view, where no member is its whole (a parameter given
    a view of a buffer by `p.data = flat[i:j]`, saved without the buffer), or None."""
    t = members[0][0]
    if t.device_str != "cpu" or not isinstance(t._value, np.ndarray):
        return None
    root = storage.root_array(t)
    if root.dtype != t._value.dtype or not root.flags.c_contiguous or \
            any(_extent(m) > root.size or _offset_in(m, root) != m.storage_offset()
                for m, _ in members if m.numel()):
        return None
    return root.reshape(-1), "cpu"


def _offset_in(t: Tensor, root: np.ndarray) -> int:
    """Where t's first element is in `root`, in elements."""
    start = t._value.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    return start // root.itemsize


def _extent(t: Tensor) -> int:
    """One past the last element of its storage that `t` reads."""
    if t.numel() == 0:
        return 0
    return t.storage_offset() + sum((n - 1) * s for n, s in zip(t.shape, t.stride())) + 1


# ---- load --------------------------------------------------------------------------------------

def load(f, map_location=None, *, weights_only=None, mmap=None):
    """Read what `save` wrote. `map_location` as torch's (see the module doc). The file
    holds no code, so every load is weights-only; `weights_only` and `mmap` are accepted
    for torch's signature and change nothing."""
    data = _read_bytes(f)
    meta = _metadata(data, f)
    arrays = _arrays(data)
    reader = _Reader(arrays, meta, map_location)
    return reader.decode(meta["obj"])


# safetensors' dtype names, bfloat16's too (safetensors.numpy reads no BF16: numpy has none)
_NUMPY_OF = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": dtypes.BF16,
             "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
             "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_}


def _arrays(data: bytes) -> dict:
    """The tensors of a safetensors file's bytes, by key, as (read-only) numpy arrays."""
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = memoryview(data)[8 + n:]
    out = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        start, stop = info["data_offsets"]
        out[key] = np.frombuffer(body[start:stop], _NUMPY_OF[info["dtype"]]).reshape(
            info["shape"])
    return out


def _read_bytes(f) -> bytes:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as inp:
            return inp.read()
    if isinstance(f, (bytes, bytearray)):
        return bytes(f)
    return f.read()


def _metadata(data: bytes, f) -> dict:
    """The JSON structure from the safetensors header (8-byte length, then JSON)."""
    name = f if isinstance(f, (str, os.PathLike)) else "the file"
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        meta = json.loads(header["__metadata__"][_KEY])
    except Exception:
        raise RuntimeError(f"distgrad.load: {name} is not a file distgrad.save wrote (no "
                           "safetensors header with distgrad's structure)") from None
    if meta.get("format") != FORMAT:
        raise RuntimeError(f"distgrad.load: {name} has format {meta.get('format')!r}, expected "
                           f"{FORMAT!r}")
    return meta


class _Reader:
    def __init__(self, arrays, meta, map_location):
        self.arrays = arrays
        self.records = meta["tensors"]
        self.storages = meta["storages"]
        self.placed_storages: dict = {}
        self.tensors: dict[int, Tensor] = {}
        self.map_location = map_location

    def decode(self, node):
        if node is None or isinstance(node, (bool, str)):
            return node
        (kind, value), = node.items()
        if kind == "tensor":
            return self._tensor(value)
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind in ("dict", "odict", "counter"):
            out = {"dict": dict, "odict": OrderedDict, "counter": Counter}[kind]()
            for k, v in value:
                out[self.decode(k)] = self.decode(v)
            return out
        if kind == "list":
            return [self.decode(v) for v in value]
        if kind == "tuple":
            return tuple(self.decode(v) for v in value)
        if kind == "set":
            return {self.decode(v) for v in value}
        raise RuntimeError(f"distgrad.load: unknown entry {kind!r} in the file's structure")

    def _tensor(self, index: int):
        t = self.tensors.get(index)
        if t is not None:
            return t
        rec = self.records[index]
        from .nn.parameter import Parameter

        with no_grad():
            if "view_of" in rec:
                t = self._view_of_whole(rec)
            elif "storage" in rec:
                t = self._view(rec)
            else:
                t = self._place(_from_array(self.arrays[rec["key"]], rec), rec)
            t = t.detach()
            t._storage = t._storage.renewed(version=1)  # (its own counter, as torch's set_)
        if rec.get("parameter"):
            t = Parameter(t, rec["requires_grad"])
        elif rec["requires_grad"]:
            t.requires_grad_(True)
        self.tensors[rec["id"]] = t
        return t

    def _view_of_whole(self, rec) -> Tensor:
        """A view saved with its sharded whole: the loaded whole's memory viewed by its
        strides and offset, under a counter of its own at 1 (a sharded view counts its
        whole's writes: here those of the whole's `.data`, not of the whole)."""
        whole = self._tensor(rec["view_of"]).data
        whole._storage.version = 1
        return whole.as_strided(rec["shape"], rec["stride"], rec["offset"])

    def _view(self, rec) -> Tensor:
        key = rec["storage"]
        flat = self.placed_storages.get(key)
        if flat is None:
            arr = self.arrays[key]
            flat = self._place(_from_array(arr, {"dtype": rec["dtype"]}),
                               {"device": self.storages[key]["device"]})
            self.placed_storages[key] = flat
        return flat.as_strided(rec["shape"], rec["stride"], rec["offset"])

    def _place(self, t: Tensor, rec) -> Tensor:
        """`t` (in the driver) where map_location says the saved tensor goes."""
        saved = rec["device"]  # its location ("sharded" for a sharded or replicated one)
        placement = rec.get("placement")
        ml = self.map_location
        if callable(ml) and not isinstance(ml, (str, dict)):
            out = ml(t, saved)
            return out if out is not None else _restore(t, saved, placement)
        if isinstance(ml, dict):
            target = ml.get(saved)
            return _restore(t, saved, placement) if target is None else t.to(device_str(target))
        if ml is not None:
            return t.to(device_str(ml))
        return _restore(t, saved, placement)


def _from_array(arr: np.ndarray, rec) -> Tensor:
    arr = np.array(arr, dtype=dtypes.from_name(rec["dtype"]).np, copy=True)
    return from_numpy(arr)


def _restore(t: Tensor, device: str, placement) -> Tensor:
    """`t` back where it was saved: its device, or its placement over the same workers."""
    if device == "cpu":
        return t
    try:
        places = storage.placement()  # what distgrad.distributed registers
    except RuntimeError:
        raise not_placeable(device, placement, "distgrad.distributed is not initialized") from None
    return places.restore(t, device, placement)


def not_placeable(device: str, placement, why: str) -> RuntimeError:
    """torch's error for a tensor saved where this process has no such device."""
    where = device if placement is None else f"{placement['kind']} over {placement['workers']}"
    return RuntimeError(f"Attempting to deserialize object on {where}, but {why}. Please use "
                        "distgrad.load with map_location='cpu' (or a dict or callable) to map "
                        "the saved tensors elsewhere")
