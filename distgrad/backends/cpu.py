"""torch.backends.cpu: which vectorized kernels torch runs on this CPU (distgrad adds and
rounds in their order where it matters: ops/vector_sum.py)."""
from __future__ import annotations

from ..ops.cpu_features import cpu_capability


def get_cpu_capability() -> str:
    return cpu_capability()
