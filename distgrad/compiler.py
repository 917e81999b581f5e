"""torch.compiler's functions that model code calls: whether it runs inside a compiled
call's recording (distgrad/compiled.py), and the markers that tell torch's compiler what
to leave alone, which a recording of the workers' runs has no use for.
"""
from __future__ import annotations

from .compiled import compile  # noqa: F401,A001  (torch.compiler's own name for it too)


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
