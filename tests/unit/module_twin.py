"""Run a torch module and its distgrad twin (torch's state_dict loaded into it) on the same
arrays, and gather what to compare: every result, and the gradients of the inputs and of
every parameter after backward of a fixed weighting of the results."""
from __future__ import annotations

import numpy as np
import torch

import distgrad

RTOL, ATOL = 1e-5, 1e-6


def arr(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def as_np(t):
    return None if t is None else np.array(t.detach().cpu().numpy())


def load_torch_state(tmod, dmod) -> None:
    dmod.load_state_dict({k: distgrad.tensor(v.detach().numpy().copy())
                          for k, v in tmod.state_dict().items()})


def _tensors(result) -> list:
    """The tensors of a (nested) tuple of results, in order."""
    if isinstance(result, (tuple, list)):
        return [t for r in result for t in _tensors(r)]
    return [result]


def run_pair(make, arrays: dict, call, train: bool = False, device: str = "cpu") -> dict:
    """make(nn) builds each library's module; call(module, lib, tensors) runs it, tensors being
    `arrays` as tensors that require grad. Returns {name: (distgrad's, torch's)} arrays of the
    results, the inputs' gradients (grad_<name>) and the parameters' (grad_<parameter>).
    With a device ("worker:0"), distgrad's module and tensors live there, and so must every
    result and gradient."""
    torch.manual_seed(0)
    tmod, dmod = make(torch.nn), make(distgrad.nn)
    load_torch_state(tmod, dmod)
    dmod.to(device)
    got = {}
    for lib, mod, dev in ((torch, tmod, "cpu"), (distgrad, dmod, device)):
        mod.train(train)
        lib.manual_seed(0)
        tensors = {k: lib.tensor(a, requires_grad=True, device=dev) for k, a in arrays.items()}
        results = _tensors(call(mod, lib, tensors))
        loss = sum((r * lib.tensor(arr(*r.shape, seed=10 + k), device=dev)).sum()
                   for k, r in enumerate(results))
        loss.backward()
        named = {f"result{k}": r for k, r in enumerate(results)}
        named.update({f"grad_{k}": t.grad for k, t in tensors.items()})
        named.update({f"grad_{n}": p.grad for n, p in mod.named_parameters()})
        if lib is distgrad:
            placed = {k: t.device_str for k, t in named.items() if t is not None}
            assert set(placed.values()) == {device}, placed
        for name, t in named.items():
            got.setdefault(name, []).append(as_np(t))
    return {k: (v[1], v[0]) for k, v in got.items()}


def assert_match(pairs: dict, rtol: float = RTOL, atol: float = ATOL) -> None:
    """atol is scaled by the tensor's largest magnitude: a float32 sum of terms that large
    rounds by about that much, differently on each BLAS kernel."""
    for name, (mine, theirs) in pairs.items():
        assert (mine is None) == (theirs is None), name
        if mine is not None:
            assert mine.shape == theirs.shape, name
            scale = max(1.0, float(np.abs(theirs).max(initial=0.0)))
            np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=atol * scale, err_msg=name)
