"""Module.state_dict / load_state_dict step by step against torch: a module overriding
_save_to_state_dict / _load_from_state_dict, extra state, state-dict hooks, BatchNorm
loading a checkpoint without num_batches_tracked, and the _metadata that says so."""
from __future__ import annotations

import pytest
import torch

import distgrad
from test_added_surface import local_workers  # noqa: F401  (two in-process workers)


def _out(x):
    if isinstance(x, (torch.Tensor, distgrad.Tensor)):
        return ("tensor", x.tolist())
    if isinstance(x, (list, tuple)):
        return [_out(v) for v in x]
    if isinstance(x, dict):
        return {k: _out(v) for k, v in x.items()}
    return x


def _try(f):
    try:
        return _out(f())
    except Exception as e:  # noqa: BLE001 (the type and text are what is compared)
        return (type(e).__name__, str(e))


def renamed_key(lib):
    class M(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = lib.nn.Parameter(lib.zeros(2))

        def _load_from_state_dict(self, state_dict, prefix, *args):
            if prefix + "old_w" in state_dict:  # a checkpoint from before the rename
                state_dict[prefix + "w"] = state_dict.pop(prefix + "old_w")
            super()._load_from_state_dict(state_dict, prefix, *args)

    m = lib.nn.Sequential(M())
    return [repr(m.load_state_dict({"0.old_w": lib.tensor([1.0, 2.0])})), m[0].w]


def saved_extra(lib):
    class M(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = lib.nn.Parameter(lib.ones(2))

        def _save_to_state_dict(self, destination, prefix, keep_vars):
            super()._save_to_state_dict(destination, prefix, keep_vars)
            destination[prefix + "scale"] = lib.tensor(3.0)

    return list(lib.nn.Sequential(M()).state_dict())


def extra_state(lib):
    class M(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = lib.nn.Linear(1, 1)
            self.k = 3

        def get_extra_state(self):
            return {"k": self.k}

        def set_extra_state(self, state):
            self.k = state["k"]

    m = M()
    sd = m.state_dict()
    out = [list(sd), sd["_extra_state"]]
    sd["_extra_state"] = {"k": 9}
    m.load_state_dict(sd)
    del sd["_extra_state"]
    out += [m.k, _try(lambda: m.load_state_dict(sd)), repr(m.load_state_dict(sd, strict=False))]
    lin = lib.nn.Linear(1, 1)
    return out + [_try(lambda: lin.load_state_dict({**lin.state_dict(), "_extra_state": 1}))]


def batchnorm_old_checkpoint(lib):
    bn = lib.nn.BatchNorm1d(2)
    bn(lib.tensor([[1.0, 2.0], [3.0, 0.0]]))
    sd = bn.state_dict()
    out = [dict(sd._metadata)]
    del sd["num_batches_tracked"]
    out.append(_try(lambda: lib.nn.BatchNorm1d(2).load_state_dict(sd)))  # version 2 says so
    fresh = lib.nn.BatchNorm1d(2)
    out += [repr(fresh.load_state_dict(dict(sd))), fresh.num_batches_tracked, fresh.running_mean]
    return out


def hooks(lib):
    seen = []
    m = lib.nn.Sequential(lib.nn.Linear(1, 1))
    m[0].register_state_dict_pre_hook(lambda mod, prefix, keep: seen.append(("pre", prefix)))
    m[0].register_state_dict_post_hook(
        lambda mod, sd, prefix, meta: sd.__setitem__(prefix + "z", lib.zeros(1)))
    h = m[0].register_load_state_dict_pre_hook(
        lambda mod, sd, prefix, meta, strict, missing, unexpected, errors:
        seen.append(("load", type(mod).__name__, prefix, sorted(sd), strict)))
    m.register_load_state_dict_post_hook(lambda mod, keys: keys.unexpected_keys.clear())
    sd = m.state_dict()
    out = [list(sd), repr(m.load_state_dict(sd))]  # "0.z" is unexpected, then forgiven
    h.remove()
    m.load_state_dict(sd)
    bad = lib.nn.Linear(1, 1)
    bad.register_state_dict_post_hook(lambda mod, sd, prefix, meta: {})
    private = lib.nn.Linear(1, 1)
    private._register_state_dict_hook(lambda mod, sd, prefix, meta: {"only": lib.ones(1)})
    returns = lib.nn.Linear(1, 1)
    returns.register_load_state_dict_post_hook(lambda mod, keys: 5)
    return out + [seen, _try(bad.state_dict), list(private.state_dict()),
                  _try(lambda: returns.load_state_dict(returns.state_dict()))]


def nested_unexpected(lib):
    m = lib.nn.Sequential(lib.nn.Linear(1, 1), lib.nn.Sequential(lib.nn.Linear(1, 1)))
    sd = m.state_dict()
    for k in ("1.0.extra", "1.zz.w", "top", "5.weight"):
        sd[k] = lib.ones(1)
    out = [_try(lambda: m.load_state_dict(sd)), repr(m.load_state_dict(sd, strict=False))]
    del sd["0.bias"]
    return out + [repr(m.load_state_dict(sd, strict=False))]


def scalar_from_one_element(lib):
    class M(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("s", lib.tensor(0.0))

    m = M()
    return [repr(m.load_state_dict({"s": lib.tensor([5.0])})), m.s]


def assign(lib):
    m = lib.nn.Linear(1, 1)
    m.bias.requires_grad_(False)
    p = lib.nn.Parameter(lib.ones(1))
    m.load_state_dict({"weight": lib.ones(1, 1) * 3, "bias": p}, assign=True)
    return [m.bias is p, m.bias.requires_grad, type(m.weight).__name__, m.weight.requires_grad]


@pytest.mark.parametrize("program", [renamed_key, saved_extra, extra_state,
                                     batchnorm_old_checkpoint, hooks, nested_unexpected,
                                     scalar_from_one_element, assign])
def test_state_dict_steps_match_torch(program):
    assert _try(lambda: program(distgrad)) == _try(lambda: program(torch))


def test_load_state_dict_with_assign_takes_the_values_where_they_are(local_workers):
    """assign=True puts the state's tensors in the module as they are, on their own device
    (torch's moves none of them); without it the values are copied where the module is.
    (A state dict loaded with assign keeps saying so in its _metadata, as torch's: each
    load here has a state dict of its own.)"""
    source = distgrad.nn.BatchNorm1d(3).to("worker:0")
    state = source.state_dict()
    assigned, copied = distgrad.nn.BatchNorm1d(3), distgrad.nn.BatchNorm1d(3)
    assigned.load_state_dict(state, assign=True)
    copied.load_state_dict(source.state_dict())
    assert [t.device_str for t in [*assigned.parameters(), *assigned.buffers()]] == ["worker:0"] * 5
    assert assigned.running_mean is state["running_mean"]
    assert type(assigned.weight).__name__ == "Parameter" and assigned.weight.requires_grad
    assert [t.device_str for t in [*copied.parameters(), *copied.buffers()]] == ["cpu"] * 5
