"""Sums that skip nan (nansum, and nanmean as torch composes it) and the cumulative product.

cumprod's gradient divides by the input where it can, as torch's: when an input has a zero
along the dim, each element's gradient is built from products of the others instead (an
n×n construction per row, differentiable again), also as torch.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from .reduce import (_sum_rule, as_dtype, check_mean_dtype, cumulative_rule, expand_back,
                     in_grad_dtype)
from .rules import dims_of, wrap_dim
from .table import defop


def _reduce_attrs(dim, keepdim, dtype) -> dict:
    attrs = {"dim": dim if dim is None or isinstance(dim, int) else list(dim),
             "keepdim": keepdim}
    if dtype is not None:
        attrs["dtype"] = dtypes.given(dtype).name
    return attrs


# ---- nansum, nanmean -----------------------------------------------------------------------------

def _nansum(x, dim=None, keepdim=False, dtype=None):
    axis = dims_of(dim, x.ndim)
    if dtype is not None:
        if x.dtype.kind == "f" and dtypes.from_name(dtype).category < 2:
            x = np.where(np.isnan(x), 0, x)  # (torch: nan is 0 before the cast to an integer)
        x = x.astype(dtypes.from_name(dtype).np)
    return np.nansum(x, axis=tuple(axis), keepdims=keepdim)


def _nansum_vjp(c, g):
    shape = c.shapes[0]
    g = expand_back(g, shape, dims_of(c.attrs.get("dim"), len(shape)), c.attrs.get("keepdim"))
    if g.dtype is not c.dtypes[0]:
        g = g.to(c.dtypes[0])
    # (torch's product with the not-nan mask: an infinite g, as nanmean's of no numbers, gives
    # nan at a nan, not 0)
    return g * c[0].isnan().logical_not()


defop("nansum", _nansum, _sum_rule, _nansum_vjp, node="NansumBackward0", save=(0,),
      sharding="reduction")


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum of the elements that are not nan."""
    return call("nansum", input, **_reduce_attrs(dim, keepdim, dtype))


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the elements that are not nan: their nansum over their count, as torch."""
    if not input.dtype.is_floating_point:
        raise RuntimeError("nanmean(): expected input to have floating point or complex dtype "
                           f"but got {input.dtype.long_name}")
    if dtype is not None:
        check_mean_dtype("nanmean", dtype, given=True)
    count = input.isnan().logical_not().sum(**_reduce_attrs(dim, keepdim, None))
    return nansum(input, dim, keepdim, dtype=dtype) / count


# ---- cumprod -------------------------------------------------------------------------------------

def _cumprod(x, dim, dtype=None):
    x = as_dtype(x, dtype)
    if x.ndim == 0:
        return x.astype(np.int64) if x.dtype.kind in "biu" else x.copy()
    return np.cumprod(x, axis=dim, dtype=np.int64 if x.dtype.kind in "biu" else None)


def _reversed_cumsum(t, dim: int):
    return call("flip", call("cumsum", call("flip", t, dims=[dim]), dim=dim), dims=[dim])


def _cumprod_vjp(c, g):
    x, out = in_grad_dtype(c[0], g), c.out  # (both unpacked: versions checked, as torch's)
    if x.ndim == 0 or x.shape[wrap_dim(c.attrs["dim"], x.ndim)] == 1:
        return g
    dim = wrap_dim(c.attrs["dim"], x.ndim)
    if not bool((x == 0).any()):  # (read now, as torch reads it)
        return _reversed_cumsum(g * out, dim) / x
    if not grad_mode.is_grad_enabled():
        return _cumprod_vjp_to_first_zero(x, g, out, dim)
    return _cumprod_vjp_with_zeros(x, g, dim)


def _cumprod_vjp_to_first_zero(x, g, out, dim: int):
    """torch's gradient when none of it is wanted (O(n)): before the first zero as without
    zeros; at the first zero the sum of g_j times the products of x after it up to j (up
    to the second zero), times the product before it; 0 after it, whatever g is there."""
    cumsum = (x == 0).cumsum(dim)
    before = cumsum == 0
    w = (out * g).masked_fill(before.logical_not(), 0.0)
    gx = call("where", before, _reversed_cumsum(w, dim) / x, 0.0)
    ones = cumsum == 1
    first = ones.to(dtypes.int64).argmax(dim, keepdim=True)
    at_first = ones.logical_and(ones.cumsum(dim) == 1)
    between = ones.logical_and(at_first.logical_not())
    after = (x.masked_fill(between.logical_not(), 1.0).cumprod(dim)
             * g.masked_fill(ones.logical_not(), 0.0)).sum(dim, keepdim=True)
    before_first = out.gather(dim, (first - 1).clamp(min=0)).masked_fill(first == 0, 1.0)
    return call("where", at_first, after * before_first, gx)


def _cumprod_vjp_with_zeros(x, g, dim: int):
    """torch's O(n²) gradient, differentiable again: dx_k = Σ_{j >= k} g_j · Π_{i <= j,
    i != k} x_i, the products before k (a prod) times the cumprod after it, slice by slice
    as torch's loop (so an inf or a nan in g or x reaches what it reaches in torch), each
    copied into its slice of a zero gradient (its grad_fn CopySlices, as torch's)."""
    from .functions import cat

    n = x.shape[dim]
    grad_x = call("full", shape=list(x.shape), value=0.0, dtype=g.dtype.name,
                  _device=g.device_str)
    ones = call("full", shape=[1 if d == dim else s for d, s in enumerate(x.shape)],
                value=1.0, dtype=g.dtype.name, _device=g.device_str)
    for k in range(n):
        if k == 0:
            omitted = cat([ones, x.narrow(dim, 1, n - 1).cumprod(dim)], dim)
        elif k == n - 1:
            omitted = x.narrow(dim, 0, k).prod(dim, keepdim=True)
        else:
            until_k = x.narrow(dim, 0, k).prod(dim, keepdim=True)
            after_k = x.narrow(dim, k + 1, n - k - 1).cumprod(dim)
            omitted = cat([until_k, until_k.expand_as(after_k) * after_k], dim)
        grad_x.select(dim, k).copy_((g.narrow(dim, k, n - k) * omitted).sum(dim))
    return grad_x


defop("cumprod", _cumprod, cumulative_rule("cumprod"), _cumprod_vjp, node="CumprodBackward0", save=(0,),
      save_out=True)


def cumprod(input, dim, *, dtype=None):
    if dtype is None:
        return call("cumprod", input, dim=dim)
    return call("cumprod", input, dim=dim, dtype=dtypes.given(dtype).name)


METHODS = dict(nansum=nansum, nanmean=nanmean, cumprod=cumprod)
