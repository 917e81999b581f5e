"""distgrad/watched.py: the containers and tensors that count their own changes, which a
compiled step's check before a replay relies on instead of looking at them."""
from __future__ import annotations

import copy
import pickle

import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.watched import (WRITES, WatchedDefaultDict, WatchedDict, WatchedOrderedDict,
                              counts_writes, watch_tensor)

CHANGES = [
    ("setitem", lambda d: d.__setitem__("k", 1)),
    ("delitem", lambda d: d.__delitem__("a")),
    ("pop", lambda d: d.pop("a")),
    ("popitem", lambda d: d.popitem()),
    ("clear", lambda d: d.clear()),
    ("update", lambda d: d.update(k=1)),
    ("update a key named like an argument", lambda d: d.update(_method=1, method=2)),
    ("setdefault", lambda d: d.setdefault("k", 1)),
    ("ior", lambda d: d.__ior__({"k": 1})),
]


@pytest.mark.parametrize("kind", [WatchedDict, WatchedOrderedDict,
                                  lambda *a: WatchedDefaultDict(list, *a)])
@pytest.mark.parametrize("name,change", CHANGES, ids=[c[0] for c in CHANGES])
def test_every_change_of_a_watched_dict_is_counted(kind, name, change):
    d = kind({"a": 0})
    before = WRITES.n
    change(d)
    assert WRITES.n > before
    assert counts_writes(d)


def test_reads_are_not_counted():
    d = WatchedOrderedDict(a=1)
    before = WRITES.n
    d.get("a"), d["a"], list(d.items()), "a" in d, len(d)
    assert WRITES.n == before


def test_a_new_key_of_a_watched_defaultdict_is_a_change():
    state = WatchedDefaultDict(WatchedDict)
    before = WRITES.n
    inner = state["p"]  # made by the factory, inserted
    assert WRITES.n > before and type(inner) is WatchedDict


def test_a_modules_writes_are_counted_however_they_are_made():
    m = nn.Linear(2, 3)
    for change in (lambda: setattr(m, "note", 1), lambda: delattr(m, "note"),
                   lambda: m.__dict__.__setitem__("x", 1),
                   lambda: m._parameters.__setitem__("weight", nn.Parameter(dg.ones(3, 2))),
                   lambda: m.register_forward_hook(lambda *a: None), lambda: m.train(False)):
        before = WRITES.n
        change()
        assert WRITES.n > before


def test_a_watched_tensor_counts_its_attribute_writes_and_stays_what_it_was():
    p = nn.Parameter(dg.ones(2))
    assert watch_tensor(p) and counts_writes(p)
    assert isinstance(p, nn.Parameter) and type(p).__name__ == "Parameter"
    before = WRITES.n
    p.grad = dg.zeros(2)
    assert WRITES.n > before
    before = WRITES.n
    p.requires_grad_(False)
    assert WRITES.n > before
    for other in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert type(other) is nn.Parameter and other.tolist() == [1.0, 1.0]
    t = dg.ones(2) * 2
    watch_tensor(t)
    assert type(t).__name__ == "Tensor" and type(pickle.loads(pickle.dumps(t))) is dg.Tensor


def test_a_users_tensor_subclass_keeps_its_class():
    class Mine(dg.Tensor):
        __slots__ = ()

    t = Mine._make(dg.ones(2)._value, dg.Size([2]), dg.float32, "cpu")
    assert not watch_tensor(t) and type(t) is Mine and not counts_writes(t)
