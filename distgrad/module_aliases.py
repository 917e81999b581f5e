"""Modules under torch's paths for names distgrad keeps elsewhere: code imports
`from torch.distributions.normal import Normal` or `from torch.optim.adam import Adam`, where
distgrad groups its classes by kind. Each alias is a small module holding the names, put
where the import system looks first (sys.modules) and as an attribute of its package."""
from __future__ import annotations

import sys
import types


def alias_modules(package: str, table: dict, sources=()) -> None:
    """For each {submodule: names} of `table`, the module `package.submodule` holding those
    names, found in the package or else in one of `sources` (modules of it); a submodule
    distgrad has itself is left as it is."""
    parent = sys.modules[package]
    for name, names in table.items():
        full = f"{package}.{name}"
        if full in sys.modules or hasattr(parent, name):
            continue
        module = types.ModuleType(full, f"torch's {full.replace('distgrad', 'torch', 1)}: "
                                  "the same names as distgrad holds them.")
        module.__all__ = []
        for n in names:
            holder = next((m for m in (parent, *sources) if hasattr(m, n)), None)
            if holder is not None:
                setattr(module, n, getattr(holder, n))
                module.__all__.append(n)
        sys.modules[full] = module
        setattr(parent, name, module)
