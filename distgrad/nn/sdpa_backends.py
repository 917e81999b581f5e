"""torch.nn.attention's SDPBackend and sdpa_kernel: which kernels scaled_dot_product_attention
may choose, set through the backend flags (backends.cuda), as torch's context manager sets
them. On the CPU torch chooses its flash kernel where it applies and flash is enabled, else
the math path if enabled, else raises (functional.scaled_dot_product_attention)."""
from __future__ import annotations

import contextlib
import enum

from ..backends import cuda as _flags


class SDPBackend(enum.IntEnum):
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4

    def __str__(self) -> str:
        return f"SDPBackend.{self.name}"


_SWITCHES = {SDPBackend.MATH: "math", SDPBackend.FLASH_ATTENTION: "flash",
             SDPBackend.EFFICIENT_ATTENTION: "mem_efficient",
             SDPBackend.CUDNN_ATTENTION: "cudnn"}


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority: bool = False):
    """Within the block only `backends` (one or a list) are enabled; the flags as they
    were afterwards."""
    chosen = backends if isinstance(backends, list) else [backends]
    if not all(isinstance(b, SDPBackend) for b in chosen):
        raise AssertionError("Backend must be an instance of SDPBackend or a list of "
                             f"SDPBackend instances, got {type(backends).__name__}")
    before = dict(_flags._sdp_enabled)
    for backend, switch in _SWITCHES.items():
        _flags._sdp_enabled[switch] = backend in chosen
    try:
        yield {}
    finally:
        _flags._sdp_enabled.update(before)
