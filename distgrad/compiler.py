"""torch.compiler's functions that model code calls: `compile` itself (distgrad.compile,
torch.compile's name too; what it returns records and replays, distgrad/compiled.py),
whether code runs inside a compiled call's recording, and the markers that tell torch's
compiler what to leave alone, which a recording of the workers' runs has no use for.
"""
from __future__ import annotations

import functools

from .compiled import CompiledFunction

_MODES = ("default", "lite", "reduce-overhead", "max-autotune-no-cudagraphs", "max-autotune")


def compile(model=None, *, fullgraph: bool = False, dynamic=None, backend="inductor",
            mode=None, options=None, disable: bool = False):
    """`model` (a function, method or nn.Module) recorded on its first call and replayed on
    the workers after (compiled.py's module doc); also a decorator, with or without torch.compile's
    arguments. A module comes back as torch's does, an `OptimizedModule` holding it as
    `_orig_mod`. The arguments that choose torch's code generation (backend, mode,
    options, dynamic, fullgraph) are checked as torch checks them and have nothing to
    choose here: the recording is of the runs the workers were sent."""
    if mode is not None and options is not None:
        raise RuntimeError("Either mode or options can be specified, but both can't be "
                           "specified at the same time.")
    if mode is not None and mode not in _MODES:
        raise RuntimeError(f"Unrecognized mode={mode}, should be one of: {', '.join(_MODES)}")
    if model is None:
        return functools.partial(compile, fullgraph=fullgraph, dynamic=dynamic,
                                 backend=backend, mode=mode, options=options, disable=disable)
    if not callable(model):
        raise AssertionError(f"A callable function is expected, but {type(model)} is provided.")
    if disable:
        return model
    from .nn.modules.module import Module
    from .optimized_module import OptimizedModule

    if isinstance(model, Module):
        return OptimizedModule(model)
    return CompiledFunction(model)


def is_compiling() -> bool:
    """True while a compiled function's first call is recorded (what a replay then repeats
    is what ran under True), as torch's is True while its compiler traces."""
    from .distributed import program

    return program.recording()


is_dynamo_compiling = is_compiling


def disable(fn=None, recursive: bool = True, *, reason=None):
    """torch's marker for code its compiler must not trace: here `fn` itself (what it sends
    the workers is recorded like the rest of the call). Also a decorator."""
    if fn is None:
        return lambda f: f
    return fn


def allow_in_graph(fn):
    return fn


def assume_constant_result(fn):
    return fn


def reset() -> None:
    """torch's clears its compiled code caches; each compiled function here keeps its own
    recording, dropped with it."""
