"""Run one scenario under real torch and under distgrad, and compare what it saw.

A scenario is a function `fn(torch)` written once against the torch API; it returns (or
records through `rec`) plain values, tensors, grad_fn names and exceptions. `same(fn)`
runs it with `torch` bound to each module and asserts the results are equal: values to a
tolerance, dtypes, shapes, `requires_grad`, grad_fn names, and exception types and
messages.
"""
from __future__ import annotations

import math
import re
import warnings

import numpy as np
import torch

import distgrad

MODULES = {"torch": torch, "distgrad": distgrad}

_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


class Raised:
    """An exception a scenario raised: its type name and message."""

    def __init__(self, exc: BaseException):
        self.type = type(exc).__name__
        self.message = str(exc)

    def __repr__(self) -> str:
        return f"Raised({self.type}: {self.message[:200]!r})"


class Warned:
    def __init__(self, w):
        self.category = w.category.__name__
        self.message = str(w.message)

    def __repr__(self) -> str:
        return f"Warned({self.category}: {self.message[:120]!r})"


def node_name(node) -> str | None:
    """torch's name of a grad_fn, the same for both modules (AccumulateGrad by class)."""
    if node is None:
        return None
    name = node.name()
    return "AccumulateGrad" if name.endswith("AccumulateGrad") else name


def graph(t_or_node, depth: int = 50):
    """grad_fn.next_functions as a nested tuple of names."""
    node = getattr(t_or_node, "grad_fn", t_or_node)
    if node is None or depth == 0:
        return None
    kids = tuple((graph(child, depth - 1), nr) if child is not None else (None, nr)
                 for child, nr in node.next_functions)
    return (node_name(node), kids)


class Tensorish:
    """A tensor reduced to what we compare."""

    def __init__(self, t):
        self.dtype = str(t.dtype)
        self.shape = tuple(t.shape)
        self.requires_grad = bool(t.requires_grad)
        self.grad_fn = node_name(t.grad_fn)
        self.is_leaf = bool(t.is_leaf)
        self.value = np.array(t.detach().tolist(), dtype=np.float64 if t.dtype.is_floating_point
                              else None)

    def __repr__(self) -> str:
        return (f"T({self.dtype}, {self.shape}, rg={self.requires_grad}, fn={self.grad_fn}, "
                f"{self.value.tolist()})")


def plain(x):
    """Turn a scenario's result into comparable plain data."""
    if isinstance(x, (torch.Tensor, distgrad.Tensor)):
        return Tensorish(x)
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(plain(v) for v in x)
    if isinstance(x, (torch.Size, distgrad.Size)):
        return tuple(x)
    if isinstance(x, (torch.dtype, distgrad.dtype, torch.device, distgrad.device)):
        return repr(x)
    if isinstance(x, str):
        return _ADDR.sub(" at 0x?", x)
    return x


def run(fn, mod):
    """fn(mod) with warnings recorded; an exception becomes a `Raised`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = plain(fn(mod))
        except Exception as exc:  # the scenario's exception is part of its result
            out = Raised(exc)
    # (a ResourceWarning is the garbage collector finding what an earlier test left open,
    # whenever it happens to run: no scenario's)
    return out, [Warned(w) for w in caught
                 if w.category not in (DeprecationWarning, ResourceWarning)]


def assert_close(a, b, path="result", rtol=1e-5, atol=1e-6, prefix=None):
    if isinstance(a, Raised) or isinstance(b, Raised):
        assert isinstance(a, Raised) and isinstance(b, Raised), f"{path}: torch {a!r} vs ours {b!r}"
        assert a.type == b.type, f"{path}: torch raised {a!r}, ours {b!r}"
        n = prefix if prefix is not None else len(a.message)
        assert b.message[:n] == a.message[:n], f"{path}: message\n torch: {a.message}\n ours:  {b.message}"
        return
    if isinstance(a, Tensorish):
        assert isinstance(b, Tensorish), f"{path}: torch {a!r} vs ours {b!r}"
        for attr in ("dtype", "shape", "requires_grad", "grad_fn", "is_leaf"):
            assert getattr(a, attr) == getattr(b, attr), f"{path}.{attr}: torch {a!r} vs ours {b!r}"
        if a.value.dtype.kind == "f":
            np.testing.assert_allclose(b.value, a.value, rtol=rtol, atol=atol, err_msg=path,
                                       equal_nan=True)
        else:
            np.testing.assert_array_equal(b.value, a.value, err_msg=path)
        return
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{path}: torch {a!r} vs ours {b!r}"
        for k in a:
            assert_close(a[k], b[k], f"{path}[{k!r}]", rtol, atol, prefix)
        return
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: torch {a!r} vs ours {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]", rtol, atol, prefix)
        return
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=rtol, abs_tol=atol) or (a != a and b != b), \
            f"{path}: torch {a!r} vs ours {b!r}"
        return
    assert a == b, f"{path}: torch {a!r} vs ours {b!r}"
    assert type(a) is type(b), \
        f"{path}: torch {type(a).__name__} {a!r} vs ours {type(b).__name__} {b!r}"


def same(fn, *, rtol=1e-5, atol=1e-6, prefix=None, warnings_too=True):
    """Run fn under torch and distgrad; assert equal results (and warnings). Returns both."""
    expected, w_exp = run(fn, torch)
    got, w_got = run(fn, distgrad)
    assert_close(expected, got, rtol=rtol, atol=atol, prefix=prefix)
    if warnings_too:
        exp_w = [(w.category, w.message[:60]) for w in w_exp]
        got_w = [(w.category, w.message[:60]) for w in w_got]
        assert exp_w == got_w, f"warnings: torch {w_exp} vs ours {w_got}"
    return expected, got


class Recorder(list):
    """Scenarios append to it what their hooks saw: `rec("h1", grad)`."""

    def __call__(self, *items):
        self.append(tuple(items) if len(items) > 1 else items[0])


def attempt(f, *args, **kwargs):
    """f(...)'s result, or the exception it raised as a `Raised` (so a scenario goes on)."""
    try:
        return f(*args, **kwargs)
    except Exception as exc:
        return Raised(exc)


def grad_of(t):
    """t.grad without the non-leaf warning (for scenarios that read it on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return t.grad
