"""`distgrad.backends`: torch.backends as a CPU-only torch build answers it. The flags
(cudnn.deterministic, cudnn.benchmark, cuda.matmul.allow_tf32, ...) can be set and read,
as programs written for GPUs do; nothing here runs on a GPU, so they change nothing."""
from __future__ import annotations

from . import cpu, cuda, cudnn, mha, mkldnn, mps, openmp  # noqa: F401

__all__ = ["cpu", "cuda", "cudnn", "mha", "mkldnn", "mps", "openmp"]
