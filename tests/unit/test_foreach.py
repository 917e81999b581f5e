"""torch._foreach_* against torch: each op over lists of tensors, out of place (a tuple)
and in place (the list given, written), with numbers, 0-dim tensors and lists as the
second operand; an EMA update as EMA code writes it; gradients through the out-of-place
form."""
from __future__ import annotations

import pytest
import torch

import distgrad
from distgrad.foreach import _BINARY, _TERNARY, _UNARY


def _values(r):
    if isinstance(r, (list, tuple)):
        return (type(r).__name__, [_values(v) for v in r])
    return (str(r.dtype), r.tolist()) if hasattr(r, "tolist") else r


def _run(f):
    def go(lib):
        try:
            return _values(f(lib))
        except Exception as e:  # noqa: BLE001 (type and text are compared)
            return (type(e).__name__, str(e))
    return go(distgrad), go(torch)


def _lists(lib):
    return ([lib.tensor([0.25, 0.5]), lib.tensor([0.75])],
            [lib.tensor([0.5, -1.0]), lib.tensor([2.0])])


@pytest.mark.parametrize("name", _UNARY)
def test_unary(name):
    def f(lib):
        a, _ = _lists(lib)
        out = getattr(lib, f"_foreach_{name}")(a)
        same = getattr(lib, f"_foreach_{name}_")(a)
        return out, same is a, a

    assert _close(*_run(f))


@pytest.mark.parametrize("other", ["list", "number", "tensor", "numbers"])
@pytest.mark.parametrize("name", _BINARY)
def test_binary(name, other):
    def f(lib):
        a, b = _lists(lib)
        o = {"list": b, "number": 2.0, "tensor": lib.tensor(3.0), "numbers": [2.0, 3.0]}[other]
        out = getattr(lib, f"_foreach_{name}")(a, o)
        return out, getattr(lib, f"_foreach_{name}_")(a, o) is a, a

    assert _close(*_run(f))


@pytest.mark.parametrize("name", _TERNARY)
def test_ternary_and_the_rest(name):
    def f(lib):
        a, b = _lists(lib)
        third = 0.3 if name == "lerp" else b
        kw = {} if name == "lerp" else {"value": 2.0}
        out = [getattr(lib, f"_foreach_{name}")(a, b, third, **kw),
               lib._foreach_add(a, b, alpha=2), lib._foreach_norm(a), lib._foreach_norm(a, 1),
               lib._foreach_max(a), lib._foreach_powsum(a, 2), lib._foreach_pow(2.0, a),
               lib._foreach_clone(a)]
        getattr(lib, f"_foreach_{name}_")(a, b, third, **kw)
        c = [t.clone() for t in a]
        lib._foreach_zero_(c)
        return out + [a, c, lib._foreach_copy_(c, b), lib._foreach_add(a, [b[0]])]

    assert _close(*_run(f))


def test_ema_update_and_gradients():
    def f(lib):
        ema, params = [lib.zeros(2), lib.zeros(1)], [lib.tensor([1.0, 2.0]), lib.tensor([3.0])]
        for _ in range(3):
            lib._foreach_mul_(ema, 0.9)
            lib._foreach_add_(ema, params, alpha=0.1)
        lib._foreach_lerp_(ema, params, 0.5)
        w = [lib.tensor([1.0, 2.0], requires_grad=True)]
        lib._foreach_mul(w, lib.tensor(3.0))[0].pow(2).sum().backward()
        return ema, w[0].grad

    assert _close(*_run(f))


def _close(ours, theirs) -> bool:
    if isinstance(ours, tuple) and len(ours) == 2 and isinstance(ours[1], list) and \
            ours[0] in ("list", "tuple"):
        return ours[0] == theirs[0] and len(ours[1]) == len(theirs[1]) and all(
            _close(a, b) for a, b in zip(ours[1], theirs[1]))
    if isinstance(ours, tuple) and len(ours) == 2 and isinstance(ours[0], str) and \
            ours[0].startswith("torch."):
        return ours[0] == theirs[0] and torch.allclose(
            torch.tensor(ours[1], dtype=torch.float64), torch.tensor(theirs[1], dtype=torch.float64),
            rtol=1e-6, atol=1e-7, equal_nan=True)
    return ours == theirs
