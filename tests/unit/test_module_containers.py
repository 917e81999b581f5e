"""Module registration against torch: Sequential and ModuleList list operations (insert, pop,
del, +, *), bad names, nn.Buffer attributes."""
from __future__ import annotations

import re

import torch

import distgrad


def _run(mod, steps):
    out = []
    for step in steps:
        try:
            r = step(mod)
            out.append(r if isinstance(r, (int, list, bool)) else repr(r))
        except Exception as e:  # noqa: BLE001 (the type and text are what is compared)
            # class paths differ by package: compare the class names
            out.append((type(e).__name__, re.sub(r"<class '[\w.]*?(\w+)'>", r"<\1>", str(e))))
    return out


def _names(m):
    return [(k, type(v).__name__) for k, v in m.named_children()]


def _sequential_steps():
    nn = lambda mod: mod.nn  # noqa: E731
    s = {}

    def make(mod):
        s["a"] = nn(mod).Sequential(nn(mod).ReLU(), nn(mod).Tanh())
        s["b"] = nn(mod).Sequential(nn(mod).Sigmoid())
        return _names(s["a"])

    def iadd(mod):
        s["a"] += s["b"]
        return _names(s["a"])

    def imul(mod):
        s["a"] *= 2
        return _names(s["a"])

    return [make, lambda mod: _names(s["a"] + s["b"]), lambda mod: _names(s["a"] * 2),
            lambda mod: _names(3 * s["b"]), iadd, lambda mod: _names(s["a"].insert(-1, nn(mod).GELU())),
            lambda mod: s["a"].pop(0), lambda mod: _names(s["a"].extend([nn(mod).Identity()])),
            imul, lambda mod: s["a"] + [1], lambda mod: s["a"] * 0,
            lambda mod: s["a"].insert(99, nn(mod).ReLU()), lambda mod: "0" in dir(s["a"])]


def _module_list_steps():
    s = {}

    def make(mod):
        s["l"] = mod.nn.ModuleList([mod.nn.ReLU(), mod.nn.Tanh(), mod.nn.GELU(), mod.nn.SiLU()])
        return _names(s["l"])

    def delete(key):
        def step(mod):
            del s["l"][key]
            return _names(s["l"])
        return step

    def iadd(mod):
        s["l"] += [mod.nn.ReLU()]
        return _names(s["l"])

    def insert(mod):
        s["l"].insert(1, mod.nn.Identity())
        return _names(s["l"])

    return [make, delete(0), delete(slice(None, None, 2)), iadd, insert,
            lambda mod: _names(s["l"] + mod.nn.ModuleList([mod.nn.Tanh()])),
            lambda mod: s["l"].pop(-1), lambda mod: _names(s["l"]), delete(5),
            lambda mod: s["l"].extend(3), lambda mod: s["l"].__setitem__(7, mod.nn.ReLU()),
            lambda mod: "1" in dir(s["l"])]


def test_sequential_list_operations_match_torch():
    assert _run(distgrad, _sequential_steps()) == _run(torch, _sequential_steps())


def test_module_list_operations_match_torch():
    assert _run(distgrad, _module_list_steps()) == _run(torch, _module_list_steps())


def test_bad_names_are_refused_in_torchs_words():
    def run(mod):
        m = mod.nn.Module()
        calls = [lambda n: m.add_module(n, mod.nn.ReLU()), lambda n: m.register_module(n, None),
                 lambda n: m.register_buffer(n, mod.ones(1)), lambda n: m.register_parameter(n, None)]
        return _run(mod, [lambda _, c=c, n=n: c(n) for c in calls for n in ("a.b", "", 3)])

    assert run(distgrad) == run(torch)


def test_buffer_assigned_as_an_attribute_registers_a_buffer():
    def run(mod):
        class M(mod.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = mod.nn.Buffer(mod.ones(2))
                self.b = mod.nn.Buffer(mod.zeros(1), persistent=False)

        m = M()
        out = [[n for n, _ in m.named_buffers()], list(m.state_dict()), type(m.a).__name__,
               isinstance(m.a, mod.nn.Buffer), isinstance(mod.ones(1), mod.nn.Buffer),
               m.a.persistent, mod.nn.Buffer(mod.ones(1, requires_grad=True)).requires_grad]
        m.a, m.b = mod.ones(3), mod.ones(1)  # plain tensors keep each one's persistence
        out += [m.a.tolist(), list(m.state_dict())]

        class Early(mod.nn.Module):
            def __init__(self):
                self.x = mod.nn.Buffer(mod.ones(1))

        return out + _run(mod, [lambda _: setattr(m, "a", [1, 2]), lambda _: Early()])

    assert run(distgrad) == run(torch)


def test_a_name_is_registered_again_only_as_the_same_kind():
    # register_buffer("weight") on a Linear is refused; a buffer, parameter or child may be
    # registered again under its own name
    def run(mod):
        m = mod.nn.Linear(1, 1)
        steps = [lambda m: m.register_buffer("weight", mod.ones(1)),
                 lambda m: m.register_parameter("bias", mod.nn.Parameter(mod.ones(1))),
                 lambda m: m.register_buffer("b", mod.ones(1)),
                 lambda m: m.register_parameter("b", mod.nn.Parameter(mod.ones(1))),
                 lambda m: m.add_module("b", mod.nn.ReLU()),
                 lambda m: m.add_module("weight", mod.nn.ReLU()),
                 lambda m: m.add_module("r", mod.nn.ReLU()),
                 lambda m: m.add_module("r", mod.nn.Tanh()),
                 lambda m: m.register_buffer("r", mod.ones(1)),
                 lambda m: m.register_buffer("b", None)]
        out = _run(m, steps)
        m.weight = mod.nn.Parameter(mod.ones(1, 1))  # assignment moves a name between kinds
        m.r = mod.nn.Parameter(mod.ones(1))
        return out + [[n for n, _ in m.named_parameters()], [n for n, _ in m.named_buffers()],
                      [n for n, _ in m.named_children()]]

    assert run(distgrad) == run(torch)


def test_torch_nn_modules_layout():
    # torch.nn.modules.batchnorm._BatchNorm in a weight-decay filter, _pair in a custom conv
    import importlib

    import torch.nn.modules as theirs

    import distgrad.nn.modules as ours

    for sub in ("activation", "batchnorm", "container", "conv", "dropout", "flatten", "linear",
                "loss", "module", "normalization", "pooling", "rnn", "sparse", "utils"):
        mine = importlib.import_module(f"distgrad.nn.modules.{sub}")
        assert getattr(ours, sub) is mine
        for name in getattr(importlib.import_module(f"torch.nn.modules.{sub}"), "__all__", []):
            if hasattr(distgrad.nn, name):
                assert getattr(mine, name) is getattr(distgrad.nn, name), (sub, name)
    assert isinstance(distgrad.nn.BatchNorm2d(2), ours.batchnorm._BatchNorm)
    assert issubclass(distgrad.nn.Conv2d, ours.conv._ConvNd)
    assert issubclass(distgrad.nn.HuberLoss, ours.loss._WeightedLoss) == \
        issubclass(torch.nn.HuberLoss, theirs.loss._WeightedLoss)
    assert ours.Conv2d is distgrad.nn.Conv2d and ours.module.Module is distgrad.nn.Module
    for f in ("_single", "_pair", "_triple", "_quadruple"):
        for value in (3, [1, 2]):
            assert getattr(ours.utils, f)(value) == getattr(theirs.utils, f)(value)
    assert ours.utils._reverse_repeat_tuple((1, 2), 2) == \
        theirs.utils._reverse_repeat_tuple((1, 2), 2)


def test_consume_prefix_in_state_dict_if_present():
    def run(mod):
        m = mod.nn.Sequential(mod.nn.Linear(1, 1))
        sd = mod.nn.Module.state_dict(m, prefix="module.")  # as a DDP wrapper saves it
        mod.nn.modules.utils.consume_prefix_in_state_dict_if_present(sd, "module.")
        return list(sd), dict(sd._metadata), repr(m.load_state_dict(sd))

    assert run(distgrad) == run(torch)
