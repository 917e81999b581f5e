"""torch.backends.openmp: torch's CPU build has OpenMP."""
from __future__ import annotations


def is_available() -> bool:
    return True
