"""torch.nn.utils.skip_init: a module made without initializing its parameters (made on the
meta device, then given empty memory where it is to live), for code that initializes them
itself; no random numbers are drawn for it."""
from __future__ import annotations

import inspect


def skip_init(module_cls, *args, **kwargs):
    from ..modules import Module

    if not issubclass(module_cls, Module):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    final_device = kwargs.pop("device", "cpu")
    return module_cls(*args, **kwargs, device="meta").to_empty(device=final_device)
