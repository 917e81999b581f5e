"""torch's window functions (hann_window, hamming_window, blackman_window, bartlett_window,
kaiser_window): new tensors, as a creation function makes them (dtype=, device=,
requires_grad=). Computed in the dtype, op by op in ATen's order (a float32 Blackman
window starts at -2.98e-08, a float64 one at 0, as torch prints them); a periodic window
is the symmetric window one longer, without its last point."""
from __future__ import annotations

import functools
import inspect

import numpy as np

from . import dtypes


def _window(name: str, window_length, periodic, dtype, device, requires_grad, values):
    from .creation import _check_args, _from_array

    _check_args(name, (window_length,), requires_grad=requires_grad)
    if not isinstance(window_length, int) or isinstance(window_length, bool):
        raise TypeError(f"{name}(): argument 'window_length' (position 1) must be int, not "
                        f"{type(window_length).__name__}")
    dtype = dtype or dtypes.get_default_dtype()
    if not dtype.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: TensorOptions(dtype="
                           f"{dtype.c_name}, device=cpu, layout=Strided (default), "
                           "requires_grad=false (default), pinned_memory=false, "
                           "memory_format=(nullopt))")
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length="
                           f"{window_length}")
    if window_length <= 1:
        arr = np.ones(window_length)
    else:
        n = window_length + 1 if periodic else window_length
        arr = values(np.arange(n, dtype=_computed_in(dtype)), n)[:window_length]
    return _from_array(arr.astype(dtype.np), device, requires_grad)


def _torchs_overloads(fn):
    """torch's parser matches a window's parameters after window_length only as a prefix of
    (periodic, alpha, beta), each an overload of its own: one given by keyword without
    those before it (kaiser_window(8, beta=5.0)) matches none, and torch says so."""
    params = inspect.signature(fn).parameters.values()
    names = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD][1:]

    @functools.wraps(fn)
    def parsed(*args, **kwargs):
        given = names[:max(len(args) - 1, 0)] + [k for k in names if k in kwargs]
        if sorted(given, key=names.index) != names[:len(given)]:
            raise TypeError(_invalid_combination(fn.__name__, args, kwargs))
        return fn(*args, **kwargs)

    return parsed


def _invalid_combination(name: str, args, kwargs) -> str:
    from .creation import _OVERLOADS, _parser_type

    # (torch keeps the keywords in a hash map: it lists them in reverse)
    got = [_parser_type(a) for a in args] + [
        f"{k}={_parser_type(kwargs[k])}" for k in reversed(kwargs)]
    return (f"{name}() received an invalid combination of arguments - got "
            f"({', '.join(got)}{')' if args else ', )'}, but expected one of:\n" +
            "".join(f" * ({o})\n" for o in _OVERLOADS[name]))


def _computed_in(dtype) -> np.dtype:
    """numpy's type for the dtype's arithmetic: a Python float with it stays in it, as a
    scalar does with torch's tensors (ml_dtypes' bfloat16 included)."""
    return np.dtype(dtype.np)


def _hamming(alpha, beta):
    """alpha - beta cos(2πk/(n-1)), in ATen's order: ((k * step).cos() * -beta) + alpha."""
    return lambda k, n: np.cos(k * (2 * np.pi / (n - 1))) * -beta + alpha


@_torchs_overloads
def hann_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                requires_grad=False):
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad,
                   _hamming(0.5, 0.5))


@_torchs_overloads
def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None,
                   layout=None, device=None, requires_grad=False):
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   _hamming(alpha, beta))


def _blackman(k, n):
    """0.42 - 0.5 cos(2πk/(n-1)) + 0.08 cos(4πk/(n-1)), summed in ATen's order."""
    phase = k * (np.pi / (n - 1))
    return np.cos(phase * 4) * 0.08 - np.cos(phase * 2) * 0.5 + 0.42


@_torchs_overloads
def blackman_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    requires_grad=False):
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   _blackman)


def _bartlett(k, n):
    """2k/(n-1) rising, then 2 - 2k/(n-1) from the middle on."""
    ramp = k * (2 / (n - 1))
    middle = (n - 1) // 2 + 1
    ramp[middle:] = 2 - ramp[middle:]
    return ramp


@_torchs_overloads
def bartlett_window(window_length, periodic=True, *, dtype=None, layout=None, device=None,
                    requires_grad=False):
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   _bartlett)


@_torchs_overloads
def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, layout=None,
                  device=None, requires_grad=False):
    def values(k, n):  # (in float32 for a 16-bit dtype, as ATen's kernel computes it)
        k = k.astype(np.float64 if k.dtype == np.float64 else np.float32)
        half = (n - 1) / 2
        return np.i0(beta * np.sqrt(np.clip(1 - ((k - half) / half) ** 2, 0, None))) / np.i0(beta)

    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad, values)


__all__ = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]
