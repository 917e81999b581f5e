"""`distgrad.cpu`: torch.cpu's names that scripts use (`torch.cpu.amp`, deprecated)."""
from __future__ import annotations


def is_available() -> bool:
    return True


def __getattr__(name):
    if name == "amp":  # torch.cpu.amp.autocast / GradScaler, deprecated spellings
        from .amp import cpu_amp

        return cpu_amp
    raise AttributeError(f"module 'distgrad.cpu' has no attribute '{name}'")
