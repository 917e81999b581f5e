"""What distgrad.compile checks before it replays a step: a fingerprint of the driver
state the step's Python code reads, and of the call's arguments.

The fingerprint is two lists in the walk's order: `sigs`, what the Python code of a step
could branch on (types, lengths, dict keys, numbers, strings, tensor shapes, dtypes,
devices, requires_grad, whether a gradient or a shard exists), and `ids`, which worker
tensor sits at each place (None where none does). The walk starts at the step's
arguments, its defaults, the cells of its closure, the globals it names and its `self`
(and so on through the user's functions it reaches), and goes through containers (lists,
tuples, dicts, sets, deques) and objects' attributes and slots (modules, optimizers,
schedulers, the user's own objects, and the data attributes of the user's classes they
read through them), and the attributes the code reads of the program's own modules (a
config module), but not into other classes, modules, numpy arrays, bytearrays or
array.arrays (their values are compared, by a digest) or distgrad's runtime.
"""
from __future__ import annotations

import array
import collections
import ctypes
import dis
import functools
import hashlib
import operator
import struct
import sysconfig
import types
import weakref
from itertools import chain

import numpy as np

from . import autocast_state, dtypes
from .autograd import grad_mode, saved_hooks
from .tensor import Tensor
from .watched import WRITES, counts_writes, watch_tensor

_LIMIT = 100_000  # places walked at most (a bigger state is compared only so far)
_OPAQUE = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           type, weakref.ReferenceType)
_SKIP_MODULES = ("distgrad.distributed.coordinator", "distgrad.distributed.runtime",
                 "distgrad.distributed.channels", "distgrad.distributed.program",
                 "distgrad.compiled", "ray", "threading", "_thread", "numpy", "queue", "logging",
                 "builtins")
_SCALARS = (int, float, bool, str, bytes, complex, type(None))
_UNORDERED = (collections.deque, set, frozenset)  # (containers but lists, tuples, dicts)
_RUNTIME = "distgrad.distributed."


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
    for name in globals_named(code):
        if name in g:
            roots.append(g[name])
            roots.extend(value for _, value in module_data(g[name], code))
    return roots


_GLOBAL_OPS = {"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"}


@functools.lru_cache(maxsize=4096)
def globals_named(code) -> tuple:
    """The globals `code` (or code nested in it: a comprehension, a lambda) names, in the
    order it first names them. Its co_names also holds the attributes it reads: a global
    that shares a name with one (a loop's `step` beside `opt.step()`) is not the step's."""
    names = [i.argval for i in dis.get_instructions(code) if i.opname in _GLOBAL_OPS]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(globals_named(const))
    return tuple(dict.fromkeys(names))


@functools.lru_cache(maxsize=4096)
def names_read(code) -> frozenset:
    """The names `code` (or code nested in it) reads as globals or attributes."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= names_read(const)
    return frozenset(names)


def module_data(module, code) -> list:
    """(name, value) of each attribute of `module`, a module a step's `code` names (a
    config module), that the code may read as data (`config.scale`): its value is state
    the step reads. None of distgrad's or the libraries' the walk leaves alone."""
    if type(module) is not types.ModuleType or not _users(module):
        return []
    values = module.__dict__
    return [(name, values[name]) for name in sorted(names_read(code) & values.keys())
            if not isinstance(values[name], _OPAQUE)]


_LIBRARIES = tuple(sorted({path for key, path in sysconfig.get_paths().items()
                           if key in ("stdlib", "platstdlib", "purelib", "platlib")}))


def _users(module) -> bool:
    """Is `module` the program's own (not Python's, a library's or distgrad's)?"""
    if (getattr(module, "__name__", None) or "").startswith(("distgrad", *_SKIP_MODULES)):
        return False
    path = getattr(module, "__file__", None)
    if path is None:  # (built in, or made by the program: types.ModuleType)
        return getattr(module, "__spec__", None) is None
    return not path.startswith(_LIBRARIES)


def tensor_sig(t: Tensor):
    s = t._sharding
    value = t._value
    number = value.item() if t.device_str == "cpu" and not t.shape and \
        isinstance(value, np.ndarray) else None  # a 0-dim driver tensor is read as a number
    return ("T", t.device_str, tuple(t.shape), t.dtype.name, t._requires_grad,
            t._grad_fn is None, number,
            None if s is None else (repr(s.placement), tuple(s.workers),
                                    tuple(x is not None for x in s.shards)))


def fingerprint(roots, inputs=frozenset(), guards=None, held=None, fresh=None,
                objects=None, grads=None, tensors=None, schedulers=None, places=None):
    """(sigs, ids) of everything reachable from `roots` (see the module doc); the call's
    input tensors (`inputs`, by id()) count as places, whatever they hold. With a list
    `guards`, also what `unchanged` checks to tell that nothing it walked has changed;
    with a set `held`, the ids of the memory its worker tensors view (a view keeps its
    base alive on the worker: gradients that are views of one reduced bucket). With
    `fresh`, a `Fresh` of the tensors a step made (storages of serials from
    `fresh.since` on): it is told each place it finds them at. With a dict `objects`, the
    id() of the object (not a tensor or a scalar) at each position of the walk from the
    third root on (the first two are a call's own argument lists). With a list `grads`,
    (tensor, first, end) of each tensor's .grad the walk went through, by its positions
    (a gradient's own .grad is in its span). With a dict `tensors`, id() -> tensor of each
    tensor it went through; with a dict `places`, walk position -> tensor of each tensor it
    went through the first time. An lr scheduler's own state (all but its optimizer) is walked
    last, after a SCHEDULERS mark (a step that steps it may run it in Python around each
    replay: compile_schedulers.py); with a list `schedulers`, those are put in it."""
    sigs, ids, seen, deferred, classes = [], [], {}, [], set()
    scheduler_class = _scheduler_class()
    in_grad = False
    guard = guards.append if guards is not None else None

    def walk(obj, get=None, where=None, at=None, place=None):
        nonlocal noting, in_grad
        if len(sigs) >= _LIMIT:
            return
        t = type(obj)
        key = id(obj)
        if guard is not None and get is not None:  # a place a container does not cover
            guard((get, where, at, obj))
        if fresh is not None and isinstance(obj, Tensor):
            fresh.found(obj, place or (get, where, at), len(sigs))
        if t in _SCALARS:
            sigs.append(obj)
            ids.append(None)
            return
        if key in seen:
            sigs.append(("seen", seen[key]))
            ids.append(None)
            return
        seen[key] = len(sigs)
        if noting and not isinstance(obj, Tensor):
            objects[len(sigs)] = key
        if key in inputs:
            sigs.append("input")
            ids.append(None)
        elif isinstance(obj, Tensor):
            if tensors is not None:
                tensors[key] = obj
            if places is not None:
                places[len(sigs)] = obj
            sig = tensor_sig(obj)
            sigs.append(sig)
            ids.append(getattr(obj._value, "id", None))
            if held is not None and ids[-1] is not None:
                held.add(obj._value.root.id)
            if guard is not None:
                watch_tensor(obj)  # its attribute writes are counted from now on
                guard((_TENSOR, obj, sig[6], (obj._value, obj._grad, obj._grad_fn,
                                               obj._sharding, obj.shape, obj._requires_grad)))
            start, was_in = len(sigs), in_grad
            in_grad = True
            walk(obj._grad, place=(_GRAD, obj, None))
            in_grad = was_in
            if grads is not None and not was_in:
                grads.append((obj, start, len(sigs)))
            if obj._sharding is not None:  # (its parts are its own: no place of the state)
                walk(obj._sharding.shards, place=_PARTS)
        elif t is dict or isinstance(obj, dict):
            sigs.append(("dict", len(obj)))
            ids.append(None)
            if guard is not None:
                guard((_DICT, obj, tuple(obj), tuple(obj.values())))
            for k, v in obj.items():
                sigs.append(k if type(k) in _SCALARS else ("key", type(k).__name__))
                ids.append(None)
                walk(v, place=(_KEY, obj, k))
        elif t in (list, tuple) or isinstance(obj, (list, tuple)):
            sigs.append((t.__name__, len(obj)))
            ids.append(None)
            if guard is not None and t is not tuple:
                guard((_LIST, obj, None, tuple(obj)))
            for i, v in enumerate(obj):
                walk(v, place=(_ITEM, obj, i) if t is list and place is not _PARTS else None)
        elif isinstance(obj, _UNORDERED):  # (sets, deques: their items, in their order)
            sigs.append((t.__name__, len(obj), getattr(obj, "maxlen", None)))
            ids.append(None)
            # (an empty set is not compared at each call: every module holds one, its
            # non-persistent buffers' names, and the check must not grow with the model)
            if guard is not None and (obj or not isinstance(obj, (set, frozenset))):
                guard((_ITEMS, obj, None, tuple(obj)))
            for i, v in enumerate(tuple(obj)):
                walk(v, place=(_ITEM, obj, i) if isinstance(obj, collections.deque) else None)
        elif isinstance(obj, _BUFFERS):
            # (its values too: the step may read them, and a write in place changes them)
            digest = values_digest(obj)
            sigs.append(("nd", getattr(obj, "shape", len(obj)), t.__name__,
                         str(getattr(obj, "dtype", getattr(obj, "typecode", ""))), key, digest))
            ids.append(None)
            if guard is not None:
                guard((_ARRAY, obj, None, digest))
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
            for name in globals_named(obj.__code__):
                if name in g:
                    walk(g[name], _KEY, g, name)
                    for attr, value in module_data(g[name], obj.__code__):
                        walk(value, _ATTR, g[name], attr)
        elif t is types.MethodType:
            sigs.append("method")
            ids.append(None)
            walk(obj.__self__)
            walk(obj.__func__)
        elif isinstance(obj, _OPAQUE) or (t.__module__ or "").startswith(_SKIP_MODULES):
            sigs.append(("ref", key))
            ids.append(None)
        else:
            sigs.append(("obj", t.__qualname__))
            ids.append(None)
            if isinstance(obj, scheduler_class):
                walk(getattr(obj, "optimizer", None))  # (the state a step's program reads)
                deferred.append((obj, noting))
                return
            walk_attributes(obj, noting)

    def walk_attributes(obj, noting_before):
        nonlocal noting
        t = type(obj)
        # (the runtime's own bookkeeping, which its backward renews: a replay's engine runs
        # none of it, nor needs to)
        noting = noting_before and not (t.__module__ or "").startswith(_RUNTIME)
        attrs = getattr(obj, "__dict__", None)
        if attrs is not None:
            walk(attrs)
        for name in _slots(t):
            walk(getattr(obj, name, None), _ATTR, obj, name)
        for cls in _user_classes(t):  # (what it reads as its class's: a shared counter)
            if cls not in classes:
                classes.add(cls)
                for name, value in list(cls.__dict__.items()):
                    if (type(value) in _SCALARS or isinstance(value, _CLASS_DATA)) and \
                            not (name.startswith("__") and name.endswith("__")):
                        walk(value, _ATTR, cls, name)
        noting = noting_before

    noting = False
    for k, r in enumerate(roots):
        noting = objects is not None and k >= 2
        walk(r)
    if deferred:
        sigs.append(SCHEDULERS)
        ids.append(None)
        for obj, noted in deferred:  # (a scheduler of schedulers adds its own as it goes)
            if schedulers is not None:
                schedulers.append(obj)
            walk_attributes(obj, noted)
    # (walk refers to itself: until a collection, the cycle would hold all it was given,
    # the tensors the step made among them, which a replay may write into if only the
    # state holds them)
    del walk, walk_attributes
    return sigs, ids


def kept_arguments(roots, storages, before=frozenset()) -> set:
    """The ids of the tensors the state (what `roots` reaches past a call's own argument
    lists) holds on the memory of the call's tensor arguments (`storages`: id(storage) ->
    ..., the arguments' and their parts'): the arguments themselves, their views and
    detach()es; but those in `before` (ids: the state held them as the call began)."""
    found: dict = {}
    fingerprint(roots[2:], tensors=found)
    return {k for k, t in found.items() if id(t._storage) in storages and k not in before}


def argument_attributes(tensors) -> list:
    """What a step's code can change on its tensor arguments themselves: their memory,
    gradient, node, shards, requires_grad and the attributes the user gave them (distgrad's
    own begin with "_"). A replay, which runs no Python, leaves those as they are."""
    return [(t._value, t._grad, t._grad_fn, t._sharding, t._requires_grad,
             *(v for k, v in t.__dict__.items() if not k.startswith("_")))
            for t in tensors]


def same_objects(a: list, b: list) -> bool:
    """Do two argument_attributes() hold the very same objects?"""
    return len(a) == len(b) and all(len(x) == len(y) and all(map(operator.is_, x, y))
                                    for x, y in zip(a, b))


# Where a walk's schedulers' own state begins (fingerprint)
SCHEDULERS = ("the state of the schedulers",)


def state_length(sigs: list) -> int:
    """How much of a walk comes before its schedulers' own state."""
    return sigs.index(SCHEDULERS) if SCHEDULERS in sigs else len(sigs)


def _scheduler_class():
    from .optim.lr_scheduler import LRScheduler

    return LRScheduler


def replay_from_start(before, after, renewed: set, reads: set):
    """Whether a replay can start from the state a recorded step started from, though the
    step left another (before, after: the walks' (sigs, ids, grads, objects)): it can if
    the two differ only in gradients a replay puts anew (walk positions `renewed`) or
    drops (a zero_grad setting one to None, where the step made none), in which tensor
    sits where it puts a new one, and in whether tensors require grad (a layer frozen or
    thawed by the step: a replay sets the flags as it did). Returns (positions of the
    start's walk whose tensor a replay does not read, the places of the gradients it
    drops, (position of the start's walk, requires_grad) of each flag it sets), or None."""
    (sigs_in, ids_in, grads_in, objects_in), (sigs_out, ids_out, grads_out, objects_out) = \
        before, after
    if len(grads_in) != len(grads_out) or any(a is not b for (a, _, _), (b, _, _) in zip(
            grads_in, grads_out)):
        return None
    outside_in, outside_out = _outside(len(sigs_in), grads_in), _outside(len(sigs_out), grads_out)
    rank_in, rank_out = _ranks(outside_in, grads_in), _ranks(outside_out, grads_out)
    if list(map(_flagless, _renumbered_sigs(sigs_in, outside_in, rank_in))) != \
            list(map(_flagless, _renumbered_sigs(sigs_out, outside_out, rank_out))) or \
            _renumbered(objects_in, rank_in) != _renumbered(objects_out, rank_out):
        return None
    loose, dropped = set(), []
    for k_in, k_out in zip(outside_in, outside_out):
        if ids_in[k_in] != ids_out[k_out]:
            if k_out not in renewed:
                return None
            if ids_in[k_in] not in reads:
                loose.add(k_in)
    for (t, a, b), (_, c, d) in zip(grads_in, grads_out):
        if sigs_out[c:d] == [None]:
            if sigs_in[a:b] != [None]:  # (one that was None stays so)
                dropped.append((_GRAD, t, None))
        elif c not in renewed:
            if sigs_in[a:b] != sigs_out[c:d] or ids_in[a:b] != ids_out[c:d]:
                return None
            continue
        if not reads.intersection(ids_in[a:b]):
            loose.update(range(a, b))
    flags = [(k_in, sigs_out[k_out][4]) for k_in, k_out in zip(outside_in, outside_out)
             if is_tensor_sig(sigs_in[k_in]) and sigs_in[k_in][4] != sigs_out[k_out][4]]
    return loose, dropped, flags


def is_tensor_sig(sig) -> bool:
    return type(sig) is tuple and sig[:1] == ("T",)


def _flagless(sig):
    """A walk's sig but whether a tensor requires grad."""
    return sig[:4] + sig[5:] if is_tensor_sig(sig) else sig


def _outside(n: int, grads) -> list:
    """The positions of a walk of `n` that are in none of the gradients' spans."""
    inside = set()
    for _, a, b in grads:
        inside.update(range(a, b))
    return [k for k in range(n) if k not in inside]


def _ranks(outside: list, grads) -> dict:
    """Walk position -> where it is, told alike in two walks whose gradients' spans differ
    in length: its rank among the positions `outside` them, or the span it is in."""
    rank = {k: j for j, k in enumerate(outside)}
    for j, (_, a, b) in enumerate(grads):
        rank.update((k, ("grad", j)) for k in range(a, b))
    return rank


def _renumbered_sigs(sigs: list, outside: list, rank: dict) -> list:
    """The sigs at positions `outside`, a ("seen", position) one's position by its rank."""
    return [("seen", rank[sigs[k][1]]) if type(sigs[k]) is tuple and len(sigs[k]) == 2 and
            sigs[k][0] == "seen" else sigs[k] for k in outside]


def _renumbered(objects: dict, rank: dict) -> dict:
    """`objects` (walk position -> id) by each position's rank."""
    return {rank[k]: v for k, v in objects.items()}


# What a guard checks: a dict's keys and values, a list's items, a tensor's mutable
# attributes (all by identity), or one place: a dict key, an attribute, a closure cell.
_DICT, _LIST, _TENSOR, _KEY, _ATTR, _CELL = 1, 2, 3, 4, 5, 6
_GRAD, _ITEM = 7, 8  # (places only: a tensor's .grad, a list's or a deque's item)
_ITEMS = 9  # (a set's or a deque's items, by identity)
_ARRAY = 10  # (a numpy array's, a bytearray's or an array.array's values, by digest)
_PARTS = (None, None, None)  # (the place of a sharded tensor's list of parts)
_MISSING = object()


class Fresh:
    """The tensors a recorded step made and left in the state (a gradient its zero_grad
    set to None and its backward made anew), and where: each eager call makes new ones
    there, so a replay puts new ones there too (compiled.py), and a caller holding an
    earlier call's keeps its values."""

    def __init__(self, since: int):
        self.since = since  # storages of serials from here on were made by the step
        self.places: dict = {}  # id(tensor) -> (tensor, [places], [walk positions])
        self.viewed: set = set()  # ids of the worker memory tensors of the state view

    def found(self, t, place, position: int) -> None:
        ref = t._value
        if t.device_str.startswith("worker:") and ref.base is not None:
            self.viewed.add(ref.root.id)
        if t._storage.serial < self.since:
            return
        entry = self.places.setdefault(id(t), (t, [], []))
        entry[1].append(place)
        entry[2].append(position)

    def renewable(self, can_make) -> list:
        """(tensor, places, positions) of each tensor found that a replay can put anew at
        every place it was found (`can_make(tensor)`: a replay can hand one like it
        over), and whose memory no tensor of the state views."""
        return [(t, places, positions) for t, places, positions in self.places.values()
                if all(kind is not None for kind, _, _ in places) and can_make(t)
                and t._value.id not in self.viewed]


def put(place, value) -> None:
    """Put `value` at `place` (as Fresh found it) with the write the user's code makes."""
    kind, obj, at = place
    if kind == _GRAD:
        obj._grad = value
    elif kind in (_KEY, _ITEM):
        obj[at] = value
    elif kind == _ATTR:
        setattr(obj, at, value)
    else:
        obj.cell_contents = value


def held_at(place):
    """What `place` (as Fresh found it) holds now, or None."""
    kind, obj, at = place
    if kind == _GRAD:
        return obj._grad
    if kind == _KEY:
        return obj.get(at)
    if kind == _ITEM:
        return obj[at] if at < len(obj) else None
    if kind == _ATTR:
        return getattr(obj, at, None)
    try:
        return obj.cell_contents
    except ValueError:  # an empty cell
        return None


_TENSOR_ATTRS = operator.attrgetter("_value", "_grad", "_grad_fn", "_sharding", "shape",
                                    "_requires_grad")


_BUFFERS = (np.ndarray, bytearray, array.array)  # (mutable values the walk cannot watch)


def values_digest(obj) -> bytes:
    """A digest of the values of a numpy array (of an object array, which objects it
    holds), a bytearray or an array.array."""
    if not isinstance(obj, np.ndarray):
        data = memoryview(obj).cast("B")
    elif obj.size and obj.dtype.kind != "O":
        data = np.ascontiguousarray(obj).view(np.uint8).data
    else:
        data = obj.tobytes()
    return hashlib.blake2b(data, digest_size=16).digest()


def unchanged(guards) -> bool:
    """Does every place `fingerprint(..., guards=)` walked still hold the very objects it
    held? The containers and tensors that count their changes (watched.py): by that count
    alone; every other place by identity, each kind of container checked in one pass at C
    speed (a number set again to an equal value, or this call's input found in the state,
    send the caller back to a full walk, which tells them apart)."""
    g = guards if type(guards) is _Grouped else _Grouped(guards)
    is_ = operator.is_
    if g.writes is not None and WRITES.n != g.writes:
        return False
    if any(map(len, g.empty)) or list(map(len, g.dicts)) != g.dict_lens:
        return False
    if not all(map(is_, chain.from_iterable(map(dict.values, g.dicts)), g.dict_values)) or \
            not all(map(is_, chain.from_iterable(g.dicts), g.dict_keys)) or \
            not all(map(_ListSnapshot.same, g.list_snapshots, g.lists)) or \
            not all(map(is_, chain.from_iterable(map(_TENSOR_ATTRS, g.tensors)),
                        g.tensor_attrs)):
        return False
    for t, number in g.numbers:
        if t._value.item() != number:
            return False
    for arr, digest in g.arrays:
        if values_digest(arr) != digest:
            return False
    for kind, obj, at, was in g.places:
        if kind == _ITEMS:
            if len(obj) != len(was) or not all(map(is_, obj, was)):
                return False
            continue
        if kind == _KEY:
            now = obj.get(at, _MISSING)
        elif kind == _ATTR:
            now = getattr(obj, at, _MISSING)
        else:
            try:
                now = obj.cell_contents
            except ValueError:  # emptied
                return False
        if now is not was:
            return False
    return True


class _Grouped:
    """Guards sorted by what checks them, flattened for `unchanged`'s one-pass checks;
    `writes`: the count of watched objects' changes when the walk began."""

    def __init__(self, guards, writes=None):
        self.writes = writes
        self.empty, self.dicts, self.lists, self.tensors = [], [], [], []
        self.numbers, self.places, self.arrays = [], [], []
        keys, values, items, attrs = [], [], [], []
        for guard in guards:
            kind, obj, at, was = guard
            if writes is not None and counts_writes(obj):  # WRITES tells of its changes
                if kind == _TENSOR and at is not None:
                    self.numbers.append((obj, at))  # (its values are not attributes)
                continue
            if kind in (_DICT, _LIST) and not was:
                self.empty.append(obj)
            elif kind == _DICT:
                self.dicts.append(obj)
                keys.extend(at)
                values.extend(was)
            elif kind == _LIST:
                self.lists.append(obj)
                items.extend(was)
            elif kind == _ARRAY:
                self.arrays.append((obj, was))
            elif kind == _TENSOR:
                self.tensors.append(obj)
                attrs.extend(was)
                if at is not None:
                    self.numbers.append((obj, at))
            else:
                self.places.append(guard)
        self.dict_lens = [len(d) for d in self.dicts]
        self.dict_keys, self.dict_values = tuple(keys), tuple(values)
        self.list_items, self.tensor_attrs = tuple(items), tuple(attrs)  # (kept alive)
        self.list_snapshots = [_ListSnapshot(x) for x in self.lists]


class _ListSnapshot:
    """Which objects a list holds, as the addresses in its item array, compared as one
    block of bytes: iterating the list would touch every item (its reference count), a
    cache miss each once the workers' run has been through memory. CPython's list keeps
    the pointer to that array after its header and size; where that does not hold
    (checked once, at import), the addresses are taken one by one."""

    __slots__ = ("items_at", "nbytes", "addresses")

    def __init__(self, lst: list):
        self.items_at = ctypes.c_void_p.from_address(id(lst) + _OB_ITEM) if _RAW else None
        self.nbytes = len(lst) * _POINTER
        self.addresses = self._read(lst)

    def _read(self, lst: list) -> bytes:
        if not lst:
            return b""
        if self.items_at is None:
            return struct.pack(f"{len(lst)}N", *map(id, lst))
        return ctypes.string_at(self.items_at.value, self.nbytes)

    def same(self, lst: list) -> bool:
        """Does `lst` (the list it was taken of, kept alive with its items by the guards,
        so that no other object takes their addresses) hold the same objects?"""
        return len(lst) * _POINTER == self.nbytes and self._read(lst) == self.addresses


def _raw_item_array_readable() -> bool:
    sample = [object(), 1.5, "x"]
    raw = ctypes.string_at(ctypes.c_void_p.from_address(id(sample) + _OB_ITEM).value,
                           len(sample) * _POINTER)
    return raw == struct.pack("3N", *map(id, sample))


_POINTER = ctypes.sizeof(ctypes.c_void_p)
_OB_ITEM = 3 * _POINTER  # after the reference count, the type and the size
_RAW = _raw_item_array_readable()


def grouped(guards, writes) -> _Grouped:
    """The guards of a walk that began when WRITES.n was `writes`."""
    return _Grouped(guards, writes)


_CLASS_DATA = (dict, list, tuple, set, frozenset, collections.deque, Tensor)
_user_class_list: dict = {}


def _user_classes(cls) -> tuple:
    """The classes of cls's MRO that the user wrote (not distgrad's, Python's or a
    library's the walk leaves alone): their data attributes are state an object reads."""
    found = _user_class_list.get(cls)
    if found is None:
        found = _user_class_list[cls] = tuple(
            c for c in cls.__mro__ if c is not object and
            not (c.__module__ or "").startswith(("distgrad.", *_SKIP_MODULES)))
    return found


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


def modes() -> tuple:
    """What the thread a step is called in decides beside its arguments and state: grad
    mode and inference mode (whether it records a graph, and its backward's error),
    autocast (which dtypes its ops run in), the saved-tensor hooks set around it (a
    replay would not run them) and the default dtype (what its constants are made as)."""
    hooks = saved_hooks.current()
    return (grad_mode.grad_flag(), grad_mode.is_inference_mode_enabled(),
            autocast_state.active() and autocast_state.snapshot(),
            None if hooks is None else tuple(map(id, hooks)), dtypes.get_default_dtype().name)


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
