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


def fingerprint(roots, inputs=frozenset(), guards=None):
    """(sigs, ids) of everything reachable from `roots` (see the module doc); the call's
    input tensors (`inputs`, by id()) count as places, whatever they hold. With a list
    `guards`, also what `unchanged` checks to tell that nothing it walked has changed."""
    sigs, ids, seen = [], [], {}
    guard = guards.append if guards is not None else None

    def walk(obj, get=None, where=None, at=None):
        if len(sigs) >= _LIMIT:
            return
        t = type(obj)
        key = id(obj)
        if guard is not None and get is not None:  # how to find it again, and what it was
            check = _EQ if t in _SCALARS else _INPUT if key in inputs else _IS
            guard((get, where, at, check, obj))
        if t in _SCALARS:
            sigs.append(obj)
            ids.append(None)
            return
        if key in seen:
            sigs.append(("seen", seen[key]))
            ids.append(None)
            return
        seen[key] = len(sigs)
        if key in inputs:
            sigs.append("input")
            ids.append(None)
        elif isinstance(obj, Tensor):
            sig = tensor_sig(obj)
            sigs.append(sig)
            ids.append(getattr(obj._value, "id", None))
            if guard is not None:
                guard((None, obj, None, _TENSOR, _tensor_state(obj, sig[6])))
            walk(obj._grad)
            if obj._sharding is not None:
                walk(obj._sharding.shards)
        elif t is dict or isinstance(obj, dict):
            sigs.append(("dict", len(obj)))
            ids.append(None)
            if guard is not None:
                guard((None, obj, None, _LEN, len(obj)))
            for k, v in obj.items():
                sigs.append(k if type(k) in _SCALARS else ("key", type(k).__name__))
                ids.append(None)
                walk(v, _DICT, obj, k)
        elif t in (list, tuple) or isinstance(obj, (list, tuple)):
            sigs.append((t.__name__, len(obj)))
            ids.append(None)
            if guard is not None:
                guard((None, obj, None, _LEN, len(obj)))
            for i, v in enumerate(obj):
                walk(v, _ITEM, obj, i)
        elif isinstance(obj, np.ndarray):
            sigs.append(("nd", obj.shape, obj.dtype.str, key))
            ids.append(None)
        elif t is types.FunctionType and not (obj.__module__ or "").startswith("distgrad."):
            # A function of the user's: what its closure and the globals it names hold
            # (a step calling a helper that closes over the model and the optimizer).
            sigs.append(("fn", id(obj.__code__)))
            ids.append(None)
            walk(obj.__defaults__, _ATTR, obj, "__defaults__")
            walk(obj.__kwdefaults__, _ATTR, obj, "__kwdefaults__")
            for cell in obj.__closure__ or ():
                try:
                    walk(cell.cell_contents, _CELL, cell)
                except ValueError:  # an empty cell
                    sigs.append("empty")
                    ids.append(None)
            g = obj.__globals__
            for name in obj.__code__.co_names:
                if name in g:
                    walk(g[name], _DICT, g, name)
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
                walk(getattr(obj, name, None), _ATTR, obj, name)

    for r in roots:
        walk(r)
    return sigs, ids


# How a guard finds a place again (`unchanged`), and what it checks there.
_DICT, _ITEM, _ATTR, _CELL = 1, 2, 3, 4
_IS, _EQ, _INPUT, _LEN, _TENSOR = 1, 2, 3, 4, 5
_MISSING = object()


def _tensor_state(t: Tensor, number) -> tuple:
    """What of a tensor object can change without it being replaced."""
    return (t._value, t._grad, t._grad_fn, t._sharding, t.shape, t._requires_grad, number)


def unchanged(guards, inputs) -> bool:
    """Does every place `fingerprint(..., guards=)` walked still hold what it held (the
    same objects, equal numbers, this call's inputs where inputs were)? Much cheaper than
    a new walk; False sends the caller back to one."""
    for get, where, at, check, was in guards:
        if get is None:
            now = where
        elif get == _DICT:
            now = where.get(at, _MISSING)
        elif get == _ITEM:
            now = where[at] if at < len(where) else _MISSING
        elif get == _ATTR:
            now = getattr(where, at, _MISSING)
        else:
            try:
                now = where.cell_contents
            except ValueError:
                return False
        if check == _IS:
            if now is not was:
                return False
        elif check == _EQ:
            if type(now) is not type(was) or now != was:
                return False
        elif check == _INPUT:
            if id(now) not in inputs:
                return False
        elif check == _LEN:
            if len(now) != was:
                return False
        elif now._value is not was[0] or now._grad is not was[1] or \
                now._grad_fn is not was[2] or now._sharding is not was[3] or \
                now.shape != was[4] or now._requires_grad != was[5] or \
                (was[6] is not None and now._value.item() != was[6]):
            return False  # (compared one by one: a tensor's == is an op)
    return True


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
