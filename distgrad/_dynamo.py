"""torch._dynamo's names that model code and libraries call (is_compiling, reset, the
markers, `config`); see distgrad.compiler."""
from __future__ import annotations

import types

from . import control_flow as _control_flow
from .compiler import allow_in_graph, assume_constant_result, disable, is_compiling, \
    reset  # noqa: F401

# Settings code sets before compiling; they choose nothing for a recording of the
# workers' runs, and are kept so what code reads back is what it set.
config = types.SimpleNamespace(cache_size_limit=8, accumulated_cache_size_limit=256,
                               suppress_errors=False, verbose=False,
                               capture_scalar_outputs=False, optimize_ddp=True)

# torch._dynamo.exc: the errors torch.cond and torch.while_loop raise for what they refuse
exc = types.SimpleNamespace(**{name: getattr(_control_flow, name) for name in (
    "TorchDynamoException", "UncapturedHigherOrderOpError", "TorchRuntimeError")})
