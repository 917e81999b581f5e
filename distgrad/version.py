"""`distgrad.version`, as torch.version of a CPU build answers: no CUDA, no ROCm."""
from __future__ import annotations

__version__ = "0.1.0"
cuda = None
hip = None
debug = False
git_version = None
