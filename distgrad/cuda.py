"""`distgrad.cuda`: there is no GPU here, so code written for torch takes its CPU path.

>>> import distgrad as torch
>>> device = "cuda" if torch.cuda.is_available() else "cpu"
"""
from __future__ import annotations


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No CUDA generator to seed (a no-op, as torch's when CUDA is absent)."""


def manual_seed_all(seed: int) -> None:
    """No CUDA generators to seed (a no-op)."""


def __getattr__(name):
    if name == "amp":  # torch.cuda.amp.autocast / GradScaler, deprecated spellings
        from .amp import cuda_amp

        return cuda_amp
    raise AttributeError(f"module 'distgrad.cuda' has no attribute '{name}'")
