"""Objects that count their own changes, so that distgrad.compile need not look at them.

Before a replay, a compiled step checks that the driver state it reads (parameters,
gradients, the modules holding them, ...) is what it was. Comparing every place by
identity costs time in proportion to the model. Instead, the containers a Module keeps
(its `__dict__`, parameters, buffers, submodules and hooks), an optimizer's per-parameter
state and the tensors a guard has seen add one to `WRITES.n` whenever they change, and the
guard compares that one number. Anything else the step reads (the user's own dicts, lists
and objects, an optimizer's param groups) is still compared place by place
(compile_state.py).

A write that goes around these (`dict.__setitem__(module.__dict__, ...)`,
`object.__setattr__` on a watched tensor) is not seen; distgrad itself makes none after
a module's `__init__`.
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict


class _Count:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


WRITES = _Count()  # changes to watched objects so far


class WatchedDict(dict):
    """A dict that counts its changes (a Module's `__dict__`)."""

    __slots__ = ()


class WatchedOrderedDict(OrderedDict):
    """An OrderedDict that counts its changes (a Module's parameters, submodules, ...)."""

    __repr__ = dict.__repr__  # printed as torch's plain dicts are


class WatchedHooks(WatchedOrderedDict):
    """A Module's hooks by id, which torch keeps (and prints) in an OrderedDict."""

    def __repr__(self) -> str:
        return repr(OrderedDict(self))


class WatchedDefaultDict(defaultdict):
    """A defaultdict that counts its changes (an optimizer's per-parameter state, whose
    new entries are WatchedDicts)."""

    def __repr__(self) -> str:  # printed as torch's defaultdict(dict)
        factory = dict if self.default_factory is WatchedDict else self.default_factory
        return f"defaultdict({factory!r}, {dict.__repr__(self)})"


def _counting(method):
    def counted(self, *args, **kwargs):
        WRITES.n += 1
        return method(self, *args, **kwargs)
    counted.__name__ = counted.__qualname__ = method.__name__
    return counted


def _count_changes(cls: type, names) -> None:
    """cls's mutating methods `names` count the change first."""
    for name in names:
        setattr(cls, name, _counting(getattr(cls.__mro__[1], name)))


_DICT_WRITES = ("__setitem__", "__delitem__", "__ior__", "pop", "popitem", "clear", "update",
                "setdefault")
_count_changes(WatchedDict, _DICT_WRITES)
_count_changes(WatchedOrderedDict, _DICT_WRITES + ("move_to_end",))
_count_changes(WatchedDefaultDict, _DICT_WRITES)
WATCHED_CONTAINERS = (WatchedDict, WatchedOrderedDict, WatchedHooks, WatchedDefaultDict)
_watched_tensor_classes: dict = {}  # Tensor or Parameter -> its counting subclass
_watched_classes: set = set()


def watch_tensor(t) -> bool:
    """From now on, every attribute write on tensor `t` is counted: its class becomes a
    subclass of it (same name, same slots) whose `__setattr__` counts first. Only plain
    Tensors and Parameters (a user's subclass keeps its class: False)."""
    cls = type(t)
    if cls in _watched_classes:
        return True
    watched = _watched_tensor_classes.get(cls)
    if watched is None:
        if cls.__qualname__ not in ("Tensor", "Parameter") or \
                not cls.__module__.startswith("distgrad."):
            return False
        watched = _watched_tensor_classes[cls] = _watched_class(cls)
        _watched_classes.add(watched)
    t.__class__ = watched
    return True


def _watched_class(cls: type) -> type:
    base_set, base_del = cls.__setattr__, cls.__delattr__

    def __setattr__(self, name, value):
        WRITES.n += 1
        base_set(self, name, value)

    def __delattr__(self, name):
        WRITES.n += 1
        base_del(self, name)

    return type(cls.__name__, (cls,), {
        "__slots__": (), "__setattr__": __setattr__, "__delattr__": __delattr__,
        "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__})


def counts_writes(obj) -> bool:
    """Does `obj` count its changes (a watched container or tensor)?"""
    t = type(obj)
    return t in WATCHED_CONTAINERS or t in _watched_classes
