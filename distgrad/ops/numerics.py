"""numpy's numerical helpers that torch has too, composed of existing ops as torch's ATen
composes them (Correlation.cpp, Integration.cpp, vander, ReduceOps.cpp): cov, corrcoef,
trapezoid (trapz), cumulative_trapezoid, vander and gradient. Being compositions, they are differentiable and run where
their operands are.

Their values and gradients are torch's; the last node may differ by name (torch's C++
multiplies by a number through MulBackward1, distgrad's Python through MulBackward0).
"""
from __future__ import annotations

import warnings

from .. import dtypes
from ..autograd.record import call
from ..tensor import Tensor
from .rules import wrap_dim, wrap_dim_of_some

__all__ = ["cov", "corrcoef", "trapezoid", "trapz", "cumulative_trapezoid", "vander", "gradient"]


# ---- cov and corrcoef ---------------------------------------------------------------------------

def _check_weights(name: str, w: Tensor, observations: int, integral: bool) -> None:
    if w.ndim > 1:
        raise RuntimeError(f"cov(): expected {name} to have one or fewer dimensions but got {name} "
                           f"with {w.ndim} dimensions")
    kind_ok = (not w.dtype.is_floating_point and w.dtype is not dtypes.bool_) if integral \
        else w.dtype.is_floating_point
    if not kind_ok:
        kind = "integral" if integral else "floating point"
        raise RuntimeError(f"cov(): expected {name} to have {kind} dtype but got {name} with "
                           f"{w.dtype.long_name} dtype")
    if w.numel() != observations:
        raise RuntimeError(f"cov(): expected {name} to have the same numel as there are "
                           f"observations in the input but got {w.numel()} != {observations}")
    if observations and w.min().item() < 0:
        raise RuntimeError(f"cov(): {name} cannot be negative")


def cov(input, *, correction=1, fweights=None, aweights=None):
    """The covariance of the rows (variables) over the columns (observations), weighted by
    the observations' frequencies and importances; a 0-dim result for one variable."""
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an "
                           f"input with {input.ndim} dimensions")
    if input.dtype is dtypes.bool_:
        raise RuntimeError("cov(): bool dtype is not supported for input")
    x = input.view(1, -1) if input.ndim < 2 else input
    observations = x.shape[1]
    w = None
    if fweights is not None:
        _check_weights("fweights", fweights, observations, integral=True)
        w = fweights
    if aweights is not None:
        _check_weights("aweights", aweights, observations, integral=False)
        w = aweights if w is None else w * aweights
    if w is None:
        total = observations
        norm = observations - correction
    else:
        total = w.sum()
        if total.item() == 0:
            raise RuntimeError("cov(): weights sum to zero, can't be normalized")
        if correction == 0:
            norm = total
        elif aweights is None:
            norm = total - correction
        elif fweights is None and observations == 1 and correction == 1:
            norm = 0  # (torch's exact 0 here, where the formula below rounds)
        else:
            norm = total - correction * (w * aweights).sum() / total
    if (norm.item() if isinstance(norm, Tensor) else norm) <= 0:
        warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less "
                      "than the number of observations.", UserWarning, stacklevel=2)
        norm = 0
    if observations == 1 and (fweights is None) != (aweights is None):
        # one observation and one kind of weight: its mean is itself, exactly (torch's case)
        centred = x * 0 if x.dtype.is_floating_point else x.to(dtypes.float32) * 0
    else:
        mean = (x if w is None else x * w).sum(1) / total
        centred = x - mean.unsqueeze(1)
    products = centred.mm((centred if w is None else centred * w).t())
    return (products / norm).squeeze()


def corrcoef(input):
    """Pearson's correlation of the rows: cov scaled by the standard deviations, clipped to
    [-1, 1] as numpy does (rounding may leave it just outside)."""
    if input.ndim > 2:
        raise RuntimeError(f"corrcoef(): expected input to have two or fewer dimensions but got "
                           f"an input with {input.ndim} dimensions")
    c = cov(input)
    if c.ndim == 0:
        return c / c  # (nan for a variable that does not vary, else 1)
    std = c.diagonal().sqrt()
    c = c / std.view(-1, 1)
    c = c / std.view(1, -1)
    return c.clip(-1, 1)


# ---- the trapezoid rule -------------------------------------------------------------------------

def _both_given(name: str, y, x, dx):
    return TypeError(
        f"{name}() received an invalid combination of arguments - got (Tensor, "
        f"{type(x).__name__}, dx={type(dx).__name__}), but expected one of:\n"
        " * (Tensor y, Tensor x, *, int dim = -1)\n"
        " * (Tensor y, *, Number dx = 1, int dim = -1)\n")


def _ends(t, d: int):
    """t without its last place along d, and without its first."""
    lead = (slice(None),) * d
    return t[lead + (slice(None, -1),)], t[lead + (slice(1, None),)]


def _spacings(name: str, y, x, d: int):
    """x's differences along d, shaped to broadcast against y's (torch's views of x)."""
    if y.dtype is dtypes.bool_ or x.dtype is dtypes.bool_:
        raise RuntimeError(f"{name}: received a bool input for `x` or `y`, but bool is not "
                           "supported")
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point")
        sizes = [1] * y.ndim
        sizes[d] = x.shape[0]
        x = x.view(*sizes)
    elif x.ndim < y.ndim:
        x = x.view(*([1] * (y.ndim - x.ndim) + list(x.shape)))
    left, right = _ends(x, d)
    return right - left


def _real_step(name: str, dx):
    if isinstance(dx, (bool, complex)):
        raise RuntimeError(f"{name}: Currently, we only support dx as a real number.")
    return float(dx)


def _no_bool(name: str, y) -> None:
    if y.dtype is dtypes.bool_:
        raise RuntimeError(f"{name}: received a bool input for `y`, but bool is not supported")


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """∫ y along dim by the trapezoid rule, at the points x (or dx apart; 1 by default)."""
    return _trapezoid("trapezoid", y, x, dx, dim)


def trapz(y, x=None, *, dx=None, dim=-1):
    return _trapezoid("trapz", y, x, dx, dim)


def _trapezoid(name: str, y, x, dx, dim):
    if x is not None and dx is not None:
        raise _both_given(name, y, x, dx)
    d = wrap_dim_of_some(dim, y.ndim)
    if y.shape[d] == 0:  # numpy's 0 for no samples
        from ..creation import zeros

        return zeros(*(n for i, n in enumerate(y.shape) if i != d), dtype=y.dtype,
                     device=y.device_str)
    # (torch's C++ multiplies and divides by numbers through the Scalar overloads: their
    # nodes are MulBackward1 and DivBackward1)
    if x is not None:
        left, right = _ends(y, d)
        return call("div_number", ((left + right) * _spacings("trapezoid", y, x, d)).sum(d),
                    other=2.0)
    _no_bool("trapezoid", y)
    step = _real_step("trapezoid", 1 if dx is None else dx)
    ends = call("mul_number", y.select(d, 0) + y.select(d, -1), other=0.5)
    return call("mul_number", y.sum(d) - ends, other=step)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoid-rule integral along dim (one place shorter than y there)."""
    name = "cumulative_trapezoid"
    if x is not None and dx is not None:
        raise _both_given(name, y, x, dx)
    d = wrap_dim_of_some(dim, y.ndim)
    left, right = _ends(y, d)
    if x is not None:
        return call("div_number", ((left + right) * _spacings(name, y, x, d)).cumsum(d),
                    other=2.0)
    _no_bool(name, y)
    step = _real_step(name, 1 if dx is None else dx)
    return call("mul_number", left + right, other=step / 2.0).cumsum(d)


# ---- vander -------------------------------------------------------------------------------------

def vander(x, N=None, increasing=False):
    """The Vandermonde matrix: column j holds x ** (N - 1 - j) (x ** j when increasing), the
    powers as a running product (integers stay int64)."""
    from ..creation import ones
    from .functions import cat

    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    dtype = dtypes.promote(x.dtype, dtypes.int64)
    result = ones(x.shape[0], min(n, 1), dtype=dtype, device=x.device_str)
    if n > 1:
        powers = x.to(dtype).unsqueeze(1).expand(-1, n - 1).cumprod(1)
        result = cat([result, powers], 1)
    return result if increasing else result.flip(1)


# ---- gradient: central differences inside, one-sided at the edges (torch's gradient_helper) ----

def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """The derivative estimate along each of `dim` (all dims by default), one tensor each:
    spacing a number (the same step everywhere), one number per dim, or one coordinate
    tensor per dim."""
    dims = list(range(input.ndim)) if dim is None else [dim] if isinstance(dim, int) else \
        list(dim)
    if isinstance(spacing, (list, tuple)):
        if dim is None and len(spacing) != input.ndim:
            raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar, or "
                               f"a list of length equal to 'self.dim() = {input.ndim}', since dim "
                               f"argument was not given, but got a list of length {len(spacing)}")
        if dim is not None and len(spacing) != len(dims):
            raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or "
                               f"it's spacing and dim arguments to have the same length, but got "
                               f"a spacing argument of length {len(spacing)} and a dim argument "
                               f"of length {len(dims)}.")
        steps = list(spacing)
    else:
        steps = [spacing] * len(dims)
    if edge_order not in (1, 2):
        raise RuntimeError("torch.gradient only supports edge_order=1 and edge_order=2.")
    for d in dims:
        if input.shape[wrap_dim(d, input.ndim)] < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least "
                               "edge_order+1")
    return tuple(_gradient_along(input, wrap_dim(d, input.ndim), step, edge_order)
                 for d, step in zip(dims, steps))


def _gradient_along(x, d: int, step, edge_order: int):
    def cut(start=None, stop=None):  # (torch's at::slice along d)
        return x[(slice(None),) * d + (slice(start, stop),)]

    if isinstance(step, Tensor):
        return _gradient_at_coordinates(x, d, step, edge_order, cut)
    center = (cut(2) - cut(0, -2)) / step / 2
    if edge_order == 1:
        before, after = (cut(1, 2) - cut(0, 1)) / step, (cut(-1) - cut(-2, -1)) / step
    else:
        before = (cut(0, 1) * -1.5 + cut(1, 2) * 2.0 + cut(2, 3) * -0.5) / step
        after = (cut(-3, -2) * 0.5 + cut(-2, -1) * -2.0 + cut(-1) * 1.5) / step
    return call("cat", before, center, after, dim=d)


def _gradient_at_coordinates(x, d: int, coords, edge_order: int, cut):
    """Second-order differences for uneven steps (the coordinates' differences)."""
    if coords.ndim != 1:
        raise RuntimeError(f"torch.gradient expected each element of spacing to have one "
                           f"dimension, but got an element with {coords.ndim} dimensions!")
    h = coords.diff()
    h1, h2 = h[:-1], h[1:]
    shape = [1] * x.ndim
    shape[d] = -1
    a = (-h2 / (h1 * (h1 + h2))).reshape(shape)
    b = ((h2 - h1) / (h1 * h2)).reshape(shape)
    c = (h1 / (h2 * (h1 + h2))).reshape(shape)
    center = a * cut(0, -2) + b * cut(1, -1) + c * cut(2)
    if edge_order == 1:
        before, after = (cut(1, 2) - cut(0, 1)) / h[0], (cut(-1) - cut(-2, -1)) / h[-1]
    else:
        a = -(2.0 * h[0] + h[1]) / (h[0] * (h[0] + h[1]))
        b = (h[0] + h[1]) / (h[0] * h[1])
        c = -h[0] / (h[1] * (h[0] + h[1]))
        before = a * cut(0, 1) + b * cut(1, 2) + c * cut(2, 3)
        a = h[-1] / (h[-2] * (h[-1] + h[-2]))
        b = -(h[-1] + h[-2]) / (h[-1] * h[-2])
        c = (2 * h[-1] + h[-2]) / (h[-1] * (h[-1] + h[-2]))
        after = a * cut(-3, -2) + b * cut(-2, -1) + c * cut(-1)
    return call("cat", before, center, after, dim=d)


METHODS = dict(cov=cov, corrcoef=corrcoef)
