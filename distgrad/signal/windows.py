"""torch.signal.windows: scipy-style window functions of length M (sym=True: symmetric,
for filter design; sym=False: periodic, for spectral analysis), float32 or float64.

torch builds each from its ops (linspace over the window's points, then exp, sin, cos,
i0), so these are built from distgrad's the same way: the values are torch's, and a
window asked for with requires_grad=True has its graph (ExpBackward0, SumBackward1, ...).
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import distgrad as _torch  # (its functions, looked up when a window is made)

from .. import dtypes, layouts

__all__ = ["bartlett", "blackman", "cosine", "exponential", "gaussian", "general_cosine",
           "general_hamming", "hamming", "hann", "kaiser", "nuttall"]


def _checked(name: str, M: int, dtype, layout):
    """The dtype (the default one for None), after torch's checks of a window's arguments."""
    dtype = dtypes.get_default_dtype() if dtype is None else dtype
    if M < 0:
        raise ValueError(f"{name} requires non-negative window length, got M={M}")
    if layout is not layouts.strided:
        raise ValueError(f"{name} is implemented for strided tensors only, got: {layout}")
    if dtype not in (dtypes.float32, dtypes.float64):
        raise ValueError(f"{name} expects float32 or float64 dtypes, got: {dtype}")
    return dtype


def _trivial(M: int, dtype, device, requires_grad):
    """The window of 0 or 1 points (empty, or a one), else None."""
    if M > 1:
        return None
    make = _torch.ones if M == 1 else _torch.empty
    return make((M,), dtype=dtype, device=device, requires_grad=requires_grad)


def _points(start, end, M: int, dtype, device, requires_grad):
    return _torch.linspace(start, end, M, dtype=dtype, device=device, requires_grad=requires_grad)


def _span(M: int, sym: bool) -> int:
    """The distance the window's points spread over: M - 1, or M for a periodic one."""
    return M if not sym and M > 1 else M - 1


def exponential(M: int, *, center=None, tau: float = 1.0, sym: bool = True, dtype=None,
                layout=layouts.strided, device=None, requires_grad: bool = False):
    dtype = _checked("exponential", M, dtype, layout)
    if tau <= 0:
        raise ValueError(f"Tau must be positive, got: {tau} instead.")
    if sym and center is not None:
        raise ValueError("Center must be None for symmetric windows")
    if M == 0:
        return _trivial(M, dtype, device, requires_grad)
    center = _span(M, sym) / 2.0 if center is None else center
    k = _points(-center / tau, (-center + (M - 1)) / tau, M, dtype, device, requires_grad)
    return _torch.exp(-_torch.abs(k))


def cosine(M: int, *, sym: bool = True, dtype=None, layout=layouts.strided, device=None,
           requires_grad: bool = False):
    dtype = _checked("cosine", M, dtype, layout)
    if M == 0:
        return _trivial(M, dtype, device, requires_grad)
    step = math.pi / (M + 1 if not sym and M > 1 else M)
    return _torch.sin(_points(0.5 * step, (0.5 + (M - 1)) * step, M, dtype, device,
                           requires_grad))


def gaussian(M: int, *, std: float = 1.0, sym: bool = True, dtype=None,
             layout=layouts.strided, device=None, requires_grad: bool = False):
    dtype = _checked("gaussian", M, dtype, layout)
    if std <= 0:
        raise ValueError(f"Standard deviation must be positive, got: {std} instead.")
    if M == 0:
        return _trivial(M, dtype, device, requires_grad)
    start, scale = -_span(M, sym) / 2.0, 1 / (std * math.sqrt(2))
    k = _points(start * scale, (start + (M - 1)) * scale, M, dtype, device, requires_grad)
    return _torch.exp(-(k ** 2))


def kaiser(M: int, *, beta: float = 12.0, sym: bool = True, dtype=None,
           layout=layouts.strided, device=None, requires_grad: bool = False):
    dtype = _checked("kaiser", M, dtype, layout)
    if beta < 0:
        raise ValueError(f"beta must be non-negative, got: {beta} instead.")
    trivial = _trivial(M, dtype, device, requires_grad)
    if trivial is not None:
        return trivial
    beta = _torch.tensor(beta, dtype=dtype, device=device)  # (the dtype's: no NaN at the ends)
    step = 2.0 * beta / (M if not sym else M - 1)
    end = _torch.minimum(beta, -beta + (M - 1) * step)
    k = _points(-beta, end, M, dtype, device, requires_grad)
    return _torch.i0(_torch.sqrt(beta * beta - _torch.pow(k, 2))) / _torch.i0(beta)


def bartlett(M: int, *, sym: bool = True, dtype=None, layout=layouts.strided, device=None,
             requires_grad: bool = False):
    dtype = _checked("bartlett", M, dtype, layout)
    trivial = _trivial(M, dtype, device, requires_grad)
    if trivial is not None:
        return trivial
    step = 2 / (M if not sym else M - 1)
    return 1 - _torch.abs(_points(-1, -1 + (M - 1) * step, M, dtype, device, requires_grad))


def general_cosine(M, *, a: Iterable, sym: bool = True, dtype=None, layout=layouts.strided,
                   device=None, requires_grad: bool = False):
    """sum_i (-1)^i a_i cos(2π i n / span), summed as one reduction over i, as torch's."""
    dtype = _checked("general_cosine", M, dtype, layout)
    trivial = _trivial(M, dtype, device, requires_grad)
    if trivial is not None:
        return trivial
    if not isinstance(a, Iterable):
        raise TypeError("Coefficients must be a list/tuple")
    if not a:
        raise ValueError("Coefficients cannot be empty")
    step = 2 * math.pi / (M if not sym else M - 1)
    k = _points(0, (M - 1) * step, M, dtype, device, requires_grad)
    coefs = _torch.tensor([(-1) ** i * w for i, w in enumerate(a)], dtype=dtype, device=device,
                            requires_grad=requires_grad)
    order = _torch.arange(coefs.shape[0], dtype=coefs.dtype, device=coefs.device,
                            requires_grad=coefs.requires_grad)
    return (coefs.unsqueeze(-1) * _torch.cos(order.unsqueeze(-1) * k)).sum(0)


def general_hamming(M, *, alpha: float = 0.54, sym: bool = True, dtype=None,
                    layout=layouts.strided, device=None, requires_grad: bool = False):
    return general_cosine(M, a=[alpha, 1.0 - alpha], sym=sym, dtype=dtype, layout=layout,
                          device=device, requires_grad=requires_grad)


def hamming(M: int, *, sym: bool = True, dtype=None, layout=layouts.strided, device=None,
            requires_grad: bool = False):
    return general_hamming(M, sym=sym, dtype=dtype, layout=layout, device=device,
                           requires_grad=requires_grad)


def hann(M: int, *, sym: bool = True, dtype=None, layout=layouts.strided, device=None,
         requires_grad: bool = False):
    return general_hamming(M, alpha=0.5, sym=sym, dtype=dtype, layout=layout, device=device,
                           requires_grad=requires_grad)


def blackman(M: int, *, sym: bool = True, dtype=None, layout=layouts.strided, device=None,
             requires_grad: bool = False):
    _checked("blackman", M, dtype, layout)
    return general_cosine(M, a=[0.42, 0.5, 0.08], sym=sym, dtype=dtype, layout=layout,
                          device=device, requires_grad=requires_grad)


def nuttall(M: int, *, sym: bool = True, dtype=None, layout=layouts.strided, device=None,
            requires_grad: bool = False):
    return general_cosine(M, a=[0.3635819, 0.4891775, 0.1365995, 0.0106411], sym=sym,
                          dtype=dtype, layout=layout, device=device, requires_grad=requires_grad)
