"""What `torch.compile(module)` returns: an nn.Module holding the original as `_orig_mod`
(so its state dict's keys start with "_orig_mod.", as torch's do) whose calls are the
original's, compiled (distgrad/compiled.py). An attribute it does not have is the
original's (`compiled.weight`, `compiled.some_method()`), as torch's OptimizedModule.
"""
from __future__ import annotations

from .compiled import CompiledFunction
from .nn.modules.module import Module


class OptimizedModule(Module):
    def __init__(self, mod: Module):
        super().__init__()
        self._orig_mod = mod
        # (the module itself is what is compiled: its hooks run in the call, and its
        # parameters and buffers are the state the recording's guards watch)
        self.forward = CompiledFunction(mod)

    def __getstate__(self) -> dict:
        # (a copy compiles its own original: a recording belongs to the objects it saw)
        return {k: v for k, v in self.__dict__.items() if k != "forward"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.forward = CompiledFunction(self._orig_mod)

    def __getattr__(self, name: str):
        original = self.__dict__.get("_modules", {}).get("_orig_mod")
        if original is None:  # (not made yet: a copy being filled in)
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        return original if name == "_orig_mod" else getattr(original, name)
