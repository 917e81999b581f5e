"""Autocast's state and the casts it makes, as torch's CPU autocast (AutocastCPU) makes them.

torch casts at the dispatcher: an op on its autocast lists gets its floating inputs cast
(`lower`: float32 and float16/bfloat16 to the autocast dtype; `fp32`: the low-precision
ones to float32; `promote`: all to the widest of them), then runs with autocast turned off,
so its own steps are not cast again; an op on no list runs as it is, and the ops it is made
of meet autocast in turn. distgrad's public functions on torch's lists wear `policy(...)`
and do the same; a function whose torch twin is on no list, but whose distgrad
implementation calls listed ones (bilinear's matmuls), wears `policy(None)`: it runs as it
is, its steps uncast, as torch's single kernel does. float64 and integer tensors are never
cast. Backward passes run with autocast off (torch's backward ops run in the forward's
dtypes).

The state is per thread (as torch's): whether CPU autocast is on, its dtype, the nesting
depth and the cache of cast weights (leaf tensors that require grad, cast once per
outermost region while `cache_enabled`, as torch caches them: their gradient then reaches
the weight through one ToCopyBackward0).
"""
from __future__ import annotations

import functools
import threading
import weakref

from . import dtypes
from .autograd import grad_mode

_DEFAULT_DTYPE = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16}


class _State(threading.local):
    def __init__(self):
        self.enabled = {"cpu": False, "cuda": False}
        self.dtype = dict(_DEFAULT_DTYPE)
        self.cache_enabled = True
        self.nesting = 0
        self.cache = {}  # id(weight) -> (weakref to it, its cast)
        self.off = 0  # > 0: inside a listed op's body, or a backward pass


_state = _State()
_ever = [False]  # any thread ever turned autocast on (until then, calls skip the state)


def is_enabled(device_type: str = "cuda") -> bool:
    return bool(_state.enabled.get(device_type, False))


def set_enabled(device_type: str, enabled: bool) -> None:
    if enabled:
        _ever[0] = True
    _state.enabled[device_type] = bool(enabled)


def any_enabled() -> bool:
    """torch._C._is_any_autocast_enabled: autocast on for some device type."""
    return any(_state.enabled.values())


def get_dtype(device_type: str):
    return _state.dtype.get(device_type, _DEFAULT_DTYPE["cuda"])


def set_dtype(device_type: str, dtype) -> None:
    _state.dtype[device_type] = dtype


def is_cache_enabled() -> bool:
    return _state.cache_enabled


def set_cache_enabled(enabled: bool) -> None:
    _state.cache_enabled = bool(enabled)


def increment_nesting() -> int:
    _state.nesting += 1
    return _state.nesting


def decrement_nesting() -> int:
    _state.nesting -= 1
    return _state.nesting


def clear_cache() -> None:
    _state.cache.clear()


def snapshot() -> tuple:
    """What a checkpoint's recomputation restores: CPU autocast's on/off and dtype."""
    return (_state.enabled["cpu"], _state.dtype["cpu"], _state.cache_enabled)


class restored:
    """Run a block under a `snapshot()`'s CPU autocast state (a checkpoint's recompute). It
    is a region of its own, as torch's recompute enters torch.autocast: the weights it casts
    are dropped when it ends outside any other region (an optimizer step may write them
    before the next region casts them again)."""

    def __init__(self, snap: tuple):
        self.snap = snap

    def __enter__(self):
        st = _state
        self.prev = (st.enabled["cpu"], st.dtype["cpu"], st.cache_enabled, st.off)
        st.enabled["cpu"], st.dtype["cpu"], st.cache_enabled = self.snap
        if self.snap[0]:
            _ever[0] = True
        st.off = 0
        increment_nesting()
        return self

    def __exit__(self, *exc):
        st = _state
        if decrement_nesting() == 0:
            clear_cache()
        st.enabled["cpu"], st.dtype["cpu"], st.cache_enabled, st.off = self.prev


def lift_suspension() -> int:
    """A region entered inside a backward pass or a listed op's body casts again, as torch's
    autocast region sets the dispatch key those left out (custom_bwd's backward casts);
    returns what `restore_suspension` takes back when the region ends."""
    prev = _state.off
    _state.off = 0
    return prev


def restore_suspension(prev: int) -> None:
    _state.off = prev


class suspended:
    """No autocast inside (a backward pass)."""

    def __enter__(self):
        _state.off += 1

    def __exit__(self, *exc):
        _state.off -= 1


def active() -> bool:
    """Would a listed op cast its inputs here now?"""
    return _ever[0] and _state.enabled["cpu"] and not _state.off


# ---- the casts ------------------------------------------------------------------------------

def _eligible(x) -> bool:
    """torch's is_eligible: a floating tensor other than float64."""
    d = getattr(x, "dtype", None)
    return (hasattr(x, "_storage") and isinstance(d, dtypes.dtype) and d.is_floating_point
            and d is not dtypes.float64)


def _cast(x, to):
    """x cast to `to` as torch's cached_cast: eligible tensors only, lists element by element,
    a weight (a leaf that requires grad) once per region while the cache is on and
    inference_mode is off."""
    if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
        return type(x)(_cast(v, to) for v in x)
    if not _eligible(x) or x.dtype is to:
        return x
    st = _state
    if (st.cache_enabled and to is st.dtype["cpu"] and x.dtype is dtypes.float32
            and x.requires_grad and x.is_leaf and x._viewed is None
            and not grad_mode.is_inference_mode_enabled()):
        hit = st.cache.get(id(x))
        if hit is not None and hit[0]() is x and hit[1].dtype is to:
            return hit[1]
        # (made under no_grad too, as torch's: a later use with grad reaches the weight)
        with grad_mode.enable_grad():
            cast = x.to(to)
        st.cache[id(x)] = (weakref.ref(x), cast)
        return cast
    return x.to(to)


def _tensors(values):
    for v in values:
        if isinstance(v, (list, tuple)) and not hasattr(v, "_fields"):
            yield from _tensors(v)
        elif _eligible(v):
            yield v


def _promoted(args, kwargs, low):
    """torch's promote_type: the autocast dtype, widened to float32 by any float32 input;
    float64 inputs are left out; another low dtype is torch's error."""
    to = low
    for t in _tensors(list(args) + list(kwargs.values())):
        d = t.dtype
        if d is dtypes.float32 or to is dtypes.float32:
            to = dtypes.float32
        elif d is not low:
            raise RuntimeError("Unexpected floating ScalarType in at::autocast::prioritize")
    return to


def policy(kind):
    """Decorate a public function with its autocast policy: "lower" (torch's
    lower_precision_fp), "fp32", "promote", None (run as it is, steps uncast), or a
    function of the call's arguments giving one of them (F.pad: reflect is fp32, constant
    runs as it is)."""
    def decorate(fn):
        @functools.wraps(fn)
        def under_autocast(*args, **kwargs):
            st = _state
            if not (_ever[0] and st.enabled["cpu"] and not st.off):
                return fn(*args, **kwargs)
            how = kind(*args, **kwargs) if callable(kind) else kind
            if how == "composite":  # (torch's twin is no single op: its steps meet autocast)
                return fn(*args, **kwargs)
            if how is not None:
                low = st.dtype["cpu"]
                to = (low if how == "lower" else dtypes.float32 if how == "fp32"
                      else _promoted(args, kwargs, low))
                args = tuple(_cast(a, to) for a in args)
                kwargs = {k: _cast(v, to) for k, v in kwargs.items()}
            st.off += 1
            try:
                return fn(*args, **kwargs)
            finally:
                st.off -= 1

        under_autocast.autocast_policy = kind
        return under_autocast

    return decorate


def install(namespace, table: dict) -> None:
    """Wrap the functions `table` names ({policy: names}) in `namespace` (a module's dict
    or a class), each once."""
    for kind, names in table.items():
        for name in names:
            fn = namespace.get(name) if isinstance(namespace, dict) else \
                namespace.__dict__.get(name)
            if fn is None or hasattr(fn, "autocast_policy"):
                continue
            wrapped = policy(kind)(fn)
            if isinstance(namespace, dict):
                namespace[name] = wrapped
            else:
                setattr(namespace, name, wrapped)
