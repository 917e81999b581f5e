"""`distgrad.amp`: autocast and GradScaler as torch 2.13's behave on a machine without CUDA.

CPU autocast is torch's: `torch.autocast("cpu")` (bfloat16) or `dtype=torch.float16` casts
the inputs of the ops on torch's CPU lists (autocast_state.py): matmul, linear, the
convolutions, prelu, scaled_dot_product_attention, ... compute in the autocast dtype; the
losses, prod, the 3-d poolings, reflection and replication padding, linear algebra, ... in
float32; cat, stack and index_copy in the widest of their inputs' dtypes. Every other op
runs in its inputs' dtypes. The casts are differentiable (ToCopyBackward0), so float32
parameters get float32 gradients. Regions nest, `enabled=False` turns autocast off inside
one, and an autocast object decorates a function as torch's does. "cuda" turns itself off
with torch's warning (no CUDA here), and so does a CPU autocast to another dtype.

`amp.GradScaler("cpu")` is enabled, as torch's: it scales the loss, unscales the gradients
(finding infs and nans), skips the optimizer's step when it found one, and grows or backs
off its scale. `GradScaler("cuda")` (the default) turns itself off with torch's warning::

    scaler = torch.amp.GradScaler("cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
"""
from __future__ import annotations

import collections.abc
import functools
import sys
import types
import warnings
from collections import defaultdict

from . import autocast_state as _state, dtypes
from .tensor import Tensor, device

__all__ = ["autocast", "GradScaler", "is_autocast_enabled", "get_autocast_dtype",
           "set_autocast_dtype", "set_autocast_enabled", "is_autocast_available",
           "custom_fwd", "custom_bwd"]

_SUPPORTED = (dtypes.bfloat16, dtypes.float16)


def _device_type(device_type) -> str:
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    return device(device_type).type  # (torch's error for a string naming no device)


def is_autocast_available(device_type: str) -> bool:
    return _device_type(device_type) in ("cpu", "cuda")


def is_autocast_enabled(device_type: str = None) -> bool:
    """torch.is_autocast_enabled(device_type); with no argument, CUDA's (as torch)."""
    return _state.is_enabled("cuda" if device_type is None else _device_type(device_type))


def set_autocast_enabled(device_type, enabled=None) -> None:
    if enabled is None:  # (torch's old one-argument form: CUDA's)
        device_type, enabled = "cuda", device_type
    _state.set_enabled(_device_type(device_type), enabled)


def get_autocast_dtype(device_type: str):
    return _state.get_dtype(_device_type(device_type))


def set_autocast_dtype(device_type: str, dtype) -> None:
    _state.set_dtype(_device_type(device_type), dtype)


def is_autocast_cpu_enabled() -> bool:
    warnings.warn("torch.is_autocast_cpu_enabled() is deprecated. Please use "
                  "torch.is_autocast_enabled('cpu') instead.", DeprecationWarning, stacklevel=2)
    return _state.is_enabled("cpu")


def get_autocast_cpu_dtype():
    warnings.warn("torch.get_autocast_cpu_dtype() is deprecated. Please use "
                  "torch.get_autocast_dtype('cpu') instead.", DeprecationWarning, stacklevel=2)
    return _state.get_dtype("cpu")


def is_autocast_cache_enabled() -> bool:
    return _state.is_cache_enabled()


def set_autocast_cache_enabled(enabled: bool) -> None:
    _state.set_cache_enabled(enabled)


def clear_autocast_cache() -> None:
    _state.clear_cache()


def autocast_increment_nesting() -> int:
    return _state.increment_nesting()


def autocast_decrement_nesting() -> int:
    return _state.decrement_nesting()


class autocast:
    """torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None): a
    context manager and decorator; on "cpu" it casts as torch's CPU autocast."""

    def __init__(self, device_type: str, dtype=None, enabled: bool = True,
                 cache_enabled=None) -> None:
        kind = _device_type(device_type)
        self.fast_dtype = _state.get_dtype(kind) if dtype is None else dtype
        self.device = device_type
        self._cache_enabled = (_state.is_cache_enabled() if cache_enabled is None
                               else cache_enabled)
        if enabled and kind == "cuda":
            warnings.warn("CUDA is not available or torch_xla is imported. Disabling autocast.",
                          stacklevel=2)
            enabled = False
        elif enabled and kind == "cpu" and self.fast_dtype not in _SUPPORTED:
            warnings.warn("In CPU autocast, but the target dtype is not supported. Disabling "
                          "autocast.\nCPU Autocast only supports dtypes of torch.bfloat16, "
                          "torch.float16 currently.", stacklevel=2)
            enabled = False
        elif kind not in ("cpu", "cuda"):
            raise RuntimeError(f"User specified an unsupported autocast device_type "
                               f"'{device_type}'")
        self._enabled = enabled
        self._kind = kind

    def __enter__(self):
        self.prev_cache_enabled = _state.is_cache_enabled()
        self.prev = _state.is_enabled(self._kind)
        self.prev_fastdtype = _state.get_dtype(self._kind)
        _state.set_enabled(self._kind, self._enabled)
        _state.set_dtype(self._kind, self.fast_dtype)
        _state.increment_nesting()
        _state.set_cache_enabled(self._cache_enabled)
        self.prev_suspension = _state.lift_suspension()
        return self

    def __exit__(self, *exc) -> bool:
        # the cache goes when the outermost region ends
        if _state.decrement_nesting() == 0:
            _state.clear_cache()
        _state.set_enabled(self._kind, self.prev)
        _state.set_dtype(self._kind, self.prev_fastdtype)
        _state.set_cache_enabled(self.prev_cache_enabled)
        _state.restore_suspension(self.prev_suspension)
        return False

    def __call__(self, func):
        if not callable(func):
            raise TypeError(f"autocast()(func) requires a callable, but got "
                            f"{type(func).__name__}. Did you mean to use autocast as a context "
                            "manager? For example:\n    with torch.autocast(device_type=...):\n"
                            "        output = model(input)")

        @functools.wraps(func)
        def decorate_autocast(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        return decorate_autocast


def custom_fwd(fwd=None, *, device_type: str, cast_inputs=None):
    """torch.amp.custom_fwd: a custom Function's forward run under the autocast state its
    caller had (cast_inputs: its floating inputs cast to it, autocast off inside)."""
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        args[0]._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None:
            args[0]._fwd_used_autocast = is_autocast_enabled(device_type)
            return fwd(*args, **kwargs)
        autocast_context = is_autocast_enabled(device_type)
        args[0]._fwd_used_autocast = False
        if autocast_context:
            with autocast(device_type=device_type, enabled=False):
                return fwd(*_cast_all(args, cast_inputs), **_cast_all(kwargs, cast_inputs))
        return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd=None, *, device_type: str):
    """torch.amp.custom_bwd: a custom Function's backward under its forward's autocast state."""
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        with autocast(device_type=device_type, enabled=args[0]._fwd_used_autocast,
                      dtype=args[0]._dtype):
            return bwd(*args, **kwargs)

    return decorate_bwd


def _cast_all(value, dtype):
    if isinstance(value, Tensor):
        return value.to(dtype) if value.dtype.is_floating_point and \
            value.dtype is not dtypes.float64 else value
    if isinstance(value, dict):
        return {k: _cast_all(v, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_all(v, dtype) for v in value)
    return value


# ---- GradScaler -----------------------------------------------------------------------------

_READY, _UNSCALED, _STEPPED = 0, 1, 2


def _fresh_state() -> dict:
    return {"stage": _READY, "found_inf_per_device": {}}


class GradScaler:
    """torch.amp.GradScaler: on "cpu" enabled, as torch 2.13's (scale, unscale_, step that
    skips an update whose gradients have an inf or nan, update growing or backing off the
    scale); "cuda" turns itself off with torch's warning, and then, as any disabled scaler,
    scale() returns its argument, step() is the optimizer's and update() does nothing."""

    def __init__(self, device: str = "cuda", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled:
            warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  "
                          "Disabling.", stacklevel=2)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale = None  # made on the first scale(), where the output lives
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker = None
            self._per_optimizer_states = defaultdict(_fresh_state)

    def is_enabled(self) -> bool:
        return self._enabled

    def _lazy_init_scale_growth_tracker(self, dev) -> None:
        from .creation import full

        self._scale = full((), self._init_scale, dtype=dtypes.float32, device=dev)
        self._growth_tracker = full((), self._init_growth_tracker, dtype=dtypes.int32,
                                    device=dev)

    def _check_scale_growth_tracker(self, funcname: str):
        fix = ("This may indicate your script did not use scaler.scale(loss or outputs) earlier "
               "in the iteration.")
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + fix)
        if self._growth_tracker is None:
            raise AssertionError(f"Attempted {funcname} but _growth_tracker is None.  " + fix)
        return self._scale, self._growth_tracker

    def scale(self, outputs):
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            if self._scale is None:
                self._lazy_init_scale_growth_tracker(outputs.device)
            return outputs * self._scale.to(device=outputs.device)

        def apply_scale(val):
            if isinstance(val, Tensor):
                if self._scale is None:
                    self._lazy_init_scale_growth_tracker(val.device)
                return val * self._scale.to(device=val.device)
            if isinstance(val, collections.abc.Iterable):
                scaled = map(apply_scale, val)
                return type(val)(scaled) if isinstance(val, (list, tuple)) else scaled
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def _unscale_grads_(self, optimizer, inv_scale, found_inf, allow_fp16: bool) -> dict:
        """torch's _amp_foreach_non_finite_check_and_unscale_: per device, found_inf is 1.0
        if any gradient there has an inf or nan; every gradient is multiplied by inv_scale."""
        from .autograd.grad_mode import no_grad

        found = {}
        with no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    if not isinstance(param, Tensor):
                        raise AssertionError(f"expected param to be torch.Tensor, got "
                                             f"{type(param).__name__}")
                    g = param.grad
                    if g is None:
                        continue
                    if not allow_fp16 and g.dtype is dtypes.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    dev = g.device
                    if dev not in found:
                        found[dev] = found_inf.to(device=dev).clone()
                    bad = g.isfinite().logical_not().any().to(dtypes.float32)
                    found[dev] = found[dev].maximum(bad)
                    # (through .data: torch's kernel writes the gradients uncounted by
                    # their version counters)
                    g.data.mul_(inv_scale.to(device=dev))
        return found

    def unscale_(self, optimizer) -> None:
        if not self._enabled:
            return
        self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == _UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        if state["stage"] == _STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        # (the reciprocal in float64, then float32, as torch)
        inv_scale = self._scale.double().reciprocal().float()
        from .creation import full

        found_inf = full((), 0.0, dtype=dtypes.float32, device=self._scale.device)
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, found_inf,
                                                             False)
        state["stage"] = _UNSCALED

    def _maybe_opt_step(self, optimizer, state, *args, **kwargs):
        if not sum(v.item() for v in state["found_inf_per_device"].values()):
            return optimizer.step(*args, **kwargs)
        return None

    def step(self, optimizer, *args, **kwargs):
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is "
                               "enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] == _STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = self._maybe_opt_step(optimizer, state, *args, **kwargs)
        state["stage"] = _STEPPED
        return retval

    def update(self, new_scale=None) -> None:
        if not self._enabled:
            return
        scale, tracker = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, float):
                scale.fill_(new_scale)
            else:
                reason = ("new_scale should be a float or a 1-element torch.cuda.FloatTensor or "
                          "torch.FloatTensor with requires_grad=False.")
                if (new_scale.device.type != self._device or new_scale.numel() != 1
                        or new_scale.requires_grad):
                    raise AssertionError(reason)
                scale.copy_(new_scale)
        else:
            found_infs = [found.item() for state in self._per_optimizer_states.values()
                          for found in state["found_inf_per_device"].values()]
            if len(found_infs) == 0:
                raise AssertionError("No inf checks were recorded prior to update.")
            self._update_scale(scale, tracker, sum(found_infs))
        self._per_optimizer_states = defaultdict(_fresh_state)

    def _update_scale(self, scale, tracker, found_inf: float) -> None:
        """torch's _amp_update_scale_ (in float32, the scale never grown to inf). As its
        kernel, it writes the scale once whether or not it changes (its version counter
        counts it) and the growth tracker uncounted."""
        import numpy as np

        new_scale = current = np.float32(scale.item())
        successful = 0
        if found_inf:
            new_scale = np.float32(float(current) * self._backoff_factor)
        elif int(tracker.item()) + 1 == self._growth_interval:
            grown = np.float32(float(current) * self._growth_factor)
            new_scale = grown if np.isfinite(grown) else current
        else:
            successful = int(tracker.item()) + 1
        scale.fill_(float(new_scale))
        tracker.data.fill_(successful)

    def get_scale(self) -> float:
        if self._enabled:
            return self._init_scale if self._scale is None else float(self._scale.item())
        return 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if self._enabled:
            return (self._init_growth_tracker if self._growth_tracker is None
                    else int(self._growth_tracker.item()))
        return 0

    def state_dict(self) -> dict:
        if self._enabled:
            return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                    "backoff_factor": self._backoff_factor,
                    "growth_interval": self._growth_interval,
                    "_growth_tracker": self._get_growth_tracker()}
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale.fill_(state_dict["scale"])
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker.fill_(state_dict["_growth_tracker"])


# ---- torch.cuda.amp and torch.cpu.amp: the deprecated spellings ------------------------------

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


class _CpuAutocast(autocast):
    def __init__(self, enabled: bool = True, dtype=dtypes.bfloat16,
                 cache_enabled: bool = True) -> None:
        warnings.warn("`torch.cpu.amp.autocast(args...)` is deprecated. Please use "
                      "`torch.amp.autocast('cpu', args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__("cpu", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class _CpuGradScaler(GradScaler):
    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000,
                 enabled: bool = True) -> None:
        warnings.warn("`torch.cpu.amp.GradScaler(args...)` is deprecated. Please use "
                      "`torch.amp.GradScaler('cpu', args...)` instead.", FutureWarning,
                      stacklevel=2)
        super().__init__("cpu", init_scale, growth_factor, backoff_factor, growth_interval,
                         enabled)


cuda_amp = types.ModuleType("distgrad.cuda.amp", "torch.cuda.amp's deprecated names")
cpu_amp = types.ModuleType("distgrad.cpu.amp", "torch.cpu.amp's deprecated names")
for _mod, _pairs in ((cuda_amp, ((_CudaAutocast, "autocast"), (_CudaGradScaler, "GradScaler"))),
                     (cpu_amp, ((_CpuAutocast, "autocast"), (_CpuGradScaler, "GradScaler")))):
    for _cls, _name in _pairs:
        _cls.__name__ = _cls.__qualname__ = _name
        _cls.__module__ = _mod.__name__
        setattr(_mod, _name, _cls)
    sys.modules[_mod.__name__] = _mod
