"""torch.utils.hooks.RemovableHandle: the type every register_*hook returns, and a class
code uses itself for its own hookable objects (the hook put at handle.id by the caller)."""
from __future__ import annotations

import pickle
import sys
from collections import OrderedDict

import pytest
import torch

import distgrad


def _registrations(mod):
    x = mod.ones(2, requires_grad=True)
    m = mod.nn.Linear(2, 2)
    opt = mod.optim.SGD(m.parameters(), lr=0.1)
    return {
        "tensor": lambda: x.register_hook(lambda g: None),
        "leaf_post_accumulate": lambda: x.register_post_accumulate_grad_hook(lambda t: None),
        "grad_fn": lambda: (x * 2).grad_fn.register_hook(lambda *a: None),
        "grad_fn_pre": lambda: (x * 2).grad_fn.register_prehook(lambda g: None),
        "module_forward": lambda: m.register_forward_hook(lambda *a: None),
        "module_full_backward": lambda: m.register_full_backward_hook(lambda *a: None),
        "module_state_dict": lambda: m.register_state_dict_pre_hook(lambda *a: None),
        "optimizer_step": lambda: opt.register_step_post_hook(lambda *a: None),
        "multi_grad": lambda: mod.autograd.graph.register_multi_grad_hook(
            (x,), lambda grads: None),
    }


@pytest.mark.parametrize("name", sorted(_registrations(torch)))
def test_every_register_hook_returns_a_removable_handle(name):
    shown = {}
    for mod in (torch, distgrad):
        handle = _registrations(mod)[name]()
        assert isinstance(handle, mod.utils.hooks.RemovableHandle), (mod.__name__, name)
        # the very class torch's is, where torch's is: printed as <torch.utils.hooks....>
        kind = type(handle)
        shown[mod] = (kind.__module__.replace(mod.__name__, "torch", 1), kind.__qualname__,
                      repr(handle).split(" at ")[0].replace(mod.__name__, "torch", 1),
                      hasattr(handle, "id"))
        assert kind is getattr(sys.modules[kind.__module__], kind.__qualname__)
        with handle:
            pass
        handle.remove()  # (twice: nothing left to take out)
    assert shown[distgrad] == shown[torch]


def test_saved_tensors_hooks_live_where_torchs_do():
    for name in ("saved_tensors_hooks", "save_on_cpu", "GradientEdge"):
        kinds = [getattr(mod.autograd.graph, name) for mod in (torch, distgrad)]
        assert [k.__module__.split(".", 1)[1] for k in kinds] == ["autograd.graph"] * 2


def _own_hooks(mod):
    hooks, flags = OrderedDict(), OrderedDict()
    first = mod.utils.hooks.RemovableHandle(hooks, extra_dict=flags)
    hooks[first.id], flags[first.id] = "first", True
    second = mod.utils.hooks.RemovableHandle(hooks, extra_dict=[flags])
    hooks[second.id] = "second"
    seen = [list(hooks.values()), second.id - first.id]
    with first:
        seen.append((list(hooks.values()), len(flags)))
    seen.append((list(hooks.values()), len(flags)))
    copy = pickle.loads(pickle.dumps(second))
    copy.remove()  # (a copy's dicts are copies)
    seen.append(list(hooks.values()))
    del hooks
    second.remove()  # (its dict is gone: nothing to do)
    try:
        mod.utils.hooks.RemovableHandle({})
    except TypeError as e:
        seen.append(str(e))
    return seen


def test_a_handle_made_by_hand_works_as_torchs():
    assert _own_hooks(distgrad) == _own_hooks(torch)


def test_unserializable_hook_marks_the_function():
    for mod in (torch, distgrad):
        hook = mod.utils.hooks.unserializable_hook(lambda g: g)
        assert hook.__torch_unserializable__ is True
