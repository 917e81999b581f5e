"""`distgrad.amp`: autocast and GradScaler as torch's behave on a machine without CUDA, so
that a training script with an `--amp` switch runs unchanged.

distgrad's autocast casts nothing (and distgrad has no bfloat16), so mixed precision never
turns on: `enabled=False` is torch's no-op; "cuda" turns itself off with torch's warning; a
CPU autocast to a dtype torch refuses is turned off with torch's warning; and what torch
would compute in bfloat16 or float16 on the CPU raises NotImplementedError rather than give
other numbers (a model made float16 with `.half()` computes in float16 as torch's)::

    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
        loss = model(x).sum()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
"""
from __future__ import annotations

import functools
import sys
import types
import warnings

from . import dtypes
from .tensor import device

__all__ = ["autocast", "GradScaler", "is_autocast_enabled"]

_NO_LOW_PRECISION = ("distgrad's autocast casts nothing (and distgrad has no bfloat16 dtype), "
                     "so it cannot compute in mixed precision: pass enabled=False (torch "
                     "computes in {} here)")


def is_autocast_enabled(device_type=None) -> bool:
    """Never: no autocast region turns on here."""
    return False


class autocast:
    """torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None): a
    context manager and decorator that, here, always leaves ops in their own dtypes."""

    def __init__(self, device_type: str, dtype=None, enabled: bool = True,
                 cache_enabled=None) -> None:
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        kind = device(device_type).type  # (torch's error for a string naming no device)
        self.device = device_type
        self.fast_dtype = dtype
        if enabled and kind == "cuda":
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.",
                          stacklevel=2)
        elif enabled and kind == "cpu" and dtype is dtypes.float16:
            raise NotImplementedError(_NO_LOW_PRECISION.format("float16"))
        elif enabled and kind == "cpu" and dtype is not None:  # no other of distgrad's dtypes is
            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                          "autocast.\nCPU Autocast only supports dtypes of torch.bfloat16, "
                          "torch.float16 currently.", stacklevel=2)  # (one of torch's two)
        elif enabled and kind == "cpu":
            raise NotImplementedError(_NO_LOW_PRECISION.format("bfloat16"))
        self._enabled = False  # (other devices hold no tensors here to cast)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def __call__(self, func):
        @functools.wraps(func)
        def decorated(*args, **kwargs):
            with self:
                return func(*args, **kwargs)
        return decorated


class GradScaler:
    """torch.amp.GradScaler: disabled here (no CUDA, no autocast), so scale() returns its
    argument, step() is the optimizer's step and update() does nothing, as torch's own
    when disabled."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        if enabled and device == "cuda":
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", stacklevel=2)
            enabled = False
        elif enabled:
            raise NotImplementedError(_NO_LOW_PRECISION.format("float16 with a scaled loss"))
        self._enabled = enabled
        self._init_scale = init_scale
        self._growth_factor = growth_factor
        self._backoff_factor = backoff_factor
        self._growth_interval = growth_interval

    def is_enabled(self) -> bool:
        return self._enabled

    def scale(self, outputs):
        return outputs

    def unscale_(self, optimizer) -> None:
        return None

    def step(self, optimizer, *args, **kwargs):
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        return None

    def get_scale(self) -> float:
        return 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        return None


# ---- torch.cuda.amp: the deprecated spellings of the two ------------------------------------

class _CudaAutocast(autocast):
    def __init__(self, enabled: bool = True, dtype=None, cache_enabled: bool = True) -> None:
        warnings.warn("`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cuda', args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class _CudaGradScaler(GradScaler):
    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:
        warnings.warn("`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler('cuda', args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__("cuda", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)


cuda_amp = types.ModuleType("distgrad.cuda.amp", "torch.cuda.amp's deprecated names")
for _cls, _name in ((_CudaAutocast, "autocast"), (_CudaGradScaler, "GradScaler")):
    _cls.__name__ = _cls.__qualname__ = _name
    _cls.__module__ = cuda_amp.__name__
cuda_amp.autocast, cuda_amp.GradScaler = _CudaAutocast, _CudaGradScaler
sys.modules[cuda_amp.__name__] = cuda_amp
