"""`distgrad.jit`: the parts of torch.jit that model code calls while running eagerly, with
what they do then in torch: `is_scripting()` and `is_tracing()` are False, `ignore`, `unused`
and `export` leave a function as it is (a decorator with or without arguments),
`annotate(type, value)` is the value, `Final` is typing's. distgrad has no TorchScript:
`script`, `trace`, `save` and `load` are not here, so code that compiles a model fails at
once instead of running something else."""
from __future__ import annotations

import warnings
from typing import Final  # noqa: F401  (torch.jit.Final, in modules' annotations)

__all__ = ["Final", "annotate", "export", "ignore", "interface", "is_scripting",
           "is_tracing", "unused"]


def is_scripting() -> bool:
    return False


def is_tracing() -> bool:
    return False


def ignore(drop=False, **kwargs):
    """`@ignore` or `@ignore(drop=True)`: the function itself (the latter deprecated)."""
    if callable(drop):
        return drop
    if not isinstance(drop, bool):
        raise RuntimeError(f"Argument to @torch.jit.ignore must be a bool or a function but "
                           f"got {drop}")
    old_name = "drop_on_export=True" if kwargs.get("drop_on_export") else "True" if drop else None
    if old_name:
        warnings.warn(f"ignore({old_name}) has been deprecated. TorchScript will now drop the "
                      "function call on compilation. Use torch.jit.unused now. {}",
                      FutureWarning, stacklevel=2)
    return lambda fn: fn


def unused(fn):
    return fn


def export(fn):
    return fn


def interface(obj):
    return obj


def annotate(the_type, the_value):
    return the_value
