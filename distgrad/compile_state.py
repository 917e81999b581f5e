"""What distgrad.compile checks before it replays a step: a fingerprint of the driver
state the step's Python code reads, and of the call's arguments.

The fingerprint is two lists in the walk's order: `sigs`, what the Python code of a step
could branch on (types, lengths, dict keys, numbers, strings, tensor shapes, dtypes,
devices, requires_grad, whether a gradient or a shard exists), and `ids`, which worker
tensor sits at each place (None where none does). The walk starts at the step's
arguments, its defaults, the cells of its closure, the globals it names and its `self`
(and so on through the user's functions it reaches), and goes
through containers and objects' attributes (modules, optimizers, schedulers, the user's
own objects), but not into functions, classes, modules or distgrad's runtime.
"""
from __future__ import annotations

import types
import weakref

import numpy as np

from .tensor import Tensor

_LIMIT = 100_000  # places walked at most (a bigger state is compared only so far)
_OPAQUE = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           type, weakref.ReferenceType)
_SKIP_MODULES = ("distgrad.distributed.coordinator", "distgrad.distributed.runtime",
                 "distgrad.distributed.channels", "distgrad.distributed.program", "distgrad.compiled",
                 "ray",
                 "threading", "_thread", "numpy", "queue", "logging", "builtins")
_SCALARS = (int, float, bool, str, bytes, complex, type(None))


def roots_of(fn, args, kwargs) -> list:
    """Where the walk starts: what the step can reach besides its tensor arguments."""
    roots = [args, kwargs]
    target = fn
    self = getattr(fn, "__self__", None)
    if self is not None:
        roots.append(self)
        target = fn.__func__
    code = getattr(target, "__code__", None)
    if code is None:  # a callable object: its attributes
        return roots + [fn]
    roots.extend(target.__defaults__ or ())
    roots.extend((target.__kwdefaults__ or {}).values())
    for cell in target.__closure__ or ():
        try:
            roots.append(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    g = getattr(target, "__globals__", {})
    for name in code.co_names:
        if name in g:
            roots.append(g[name])
    return roots


def tensor_sig(t: Tensor):
    s = t._sharding
    value = t._value
    number = value.item() if t.device_str == "cpu" and not t.shape and \
        isinstance(value, np.ndarray) else None  # a 0-dim driver tensor is read as a number
    return ("T", t.device_str, tuple(t.shape), t.dtype.name, t._requires_grad,
            t._grad_fn is None, number,
            None if s is None else (repr(s.placement), tuple(s.workers),
                                    tuple(x is not None for x in s.shards)))


def fingerprint(roots, inputs=frozenset()):
    """(sigs, ids) of everything reachable from `roots` (see the module doc); the call's
    input tensors (`inputs`, by id()) count as places, whatever they hold."""
    sigs, ids, seen = [], [], {}

    def walk(obj):
        if len(sigs) >= _LIMIT:
            return
        t = type(obj)
        if t in _SCALARS:
            sigs.append(obj)
            ids.append(None)
            return
        key = id(obj)
        if key in seen:
            sigs.append(("seen", seen[key]))
            ids.append(None)
            return
        seen[key] = len(sigs)
        if key in inputs:
            sigs.append("input")
            ids.append(None)
        elif isinstance(obj, Tensor):
            sigs.append(tensor_sig(obj))
            ids.append(getattr(obj._value, "id", None))
            walk(obj._grad)
            if obj._sharding is not None:
                for part in obj._sharding.shards:
                    walk(part)
        elif t is dict or isinstance(obj, dict):
            sigs.append(("dict", len(obj)))
            ids.append(None)
            for k, v in obj.items():
                sigs.append(k if type(k) in _SCALARS else ("key", type(k).__name__))
                ids.append(None)
                walk(v)
        elif t in (list, tuple) or isinstance(obj, (list, tuple)):
            sigs.append((t.__name__, len(obj)))
            ids.append(None)
            for v in obj:
                walk(v)
        elif isinstance(obj, np.ndarray):
            sigs.append(("nd", obj.shape, obj.dtype.str, key))
            ids.append(None)
        elif t is types.FunctionType and not (obj.__module__ or "").startswith("distgrad."):
            # A function of the user's: what its closure and the globals it names hold
            # (a step calling a helper that closes over the model and the optimizer).
            sigs.append(("fn", id(obj.__code__)))
            ids.append(None)
            walk(obj.__defaults__)
            walk(obj.__kwdefaults__)
            for cell in obj.__closure__ or ():
                try:
                    walk(cell.cell_contents)
                except ValueError:  # an empty cell
                    sigs.append("empty")
                    ids.append(None)
            g = obj.__globals__
            for name in obj.__code__.co_names:
                if name in g:
                    walk(g[name])
        elif t is types.MethodType:
            sigs.append("method")
            ids.append(None)
            walk(obj.__self__)
            walk(obj.__func__)
        elif isinstance(obj, _OPAQUE) or (t.__module__ or "").startswith(_SKIP_MODULES):
            sigs.append(("ref", key))
            ids.append(None)
        else:
            attrs = getattr(obj, "__dict__", None)
            sigs.append(("obj", t.__qualname__))
            ids.append(None)
            if attrs is not None:
                walk(attrs)
            for name in _slots(t):
                walk(getattr(obj, name, None))

    for r in roots:
        walk(r)
    return sigs, ids


_slot_names: dict = {}


def _slots(cls) -> tuple:
    """The __slots__ attributes of a class and its bases (but __dict__, __weakref__)."""
    names = _slot_names.get(cls)
    if names is None:
        found = []
        for c in cls.__mro__:
            slots = c.__dict__.get("__slots__", ())
            for n in (slots,) if isinstance(slots, str) else slots:
                if n not in ("__dict__", "__weakref__") and n not in found:
                    found.append(n)
        names = _slot_names[cls] = tuple(found)
    return names


def flatten_inputs(args, kwargs):
    """(tensors, sig, objects): the call's tensors in order, a signature of the arguments'
    structure (tensor shapes, dtypes, placements, which ones are the same tensor, other
    values), and the non-tensor objects among them."""
    tensors, sig, objects, where = [], [], [], {}

    def walk(obj):
        t = type(obj)
        if isinstance(obj, Tensor):
            sig.append(tensor_sig(obj))
            sig.append(where.setdefault(id(obj), len(tensors)))
            tensors.append(obj)
        elif t in _SCALARS:
            sig.append(obj)
        elif t in (list, tuple):
            sig.append((t.__name__, len(obj)))
            for v in obj:
                walk(v)
        elif t is dict:
            sig.append(("dict", tuple(obj)))
            for v in obj.values():
                walk(v)
        else:
            sig.append(("obj", id(obj)))
            objects.append(obj)

    walk(args)
    walk(kwargs)
    return tensors, sig, objects
