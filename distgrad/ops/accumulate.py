"""Sums that skip nan (nansum, and nanmean as torch composes it) and the cumulative product.

cumprod's gradient divides by the input where it can, as torch's: when an input has a zero
along the dim, each element's gradient is built from products of the others instead (an
n×n construction per row, differentiable again), also as torch.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.record import call
from .reduce import _cumsum_rule, _sum_rule, check_mean_dtype, expand_back
from .rules import dims_of, wrap_dim
from .table import defop


def _reduce_attrs(dim, keepdim, dtype) -> dict:
    attrs = {"dim": dim if dim is None or isinstance(dim, int) else list(dim),
             "keepdim": keepdim}
    if dtype is not None:
        attrs["dtype"] = dtype.name
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
    return g.masked_fill(c[0].isnan(), 0.0)


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
    if x.ndim == 0:
        return x.astype(np.int64) if x.dtype.kind in "biu" else x.copy()
    return np.cumprod(x, axis=dim, dtype=np.int64 if x.dtype.kind in "biu" else None)


def _reversed_cumsum(t, dim: int):
    return call("flip", call("cumsum", call("flip", t, dims=[dim]), dim=dim), dims=[dim])


def _cumprod_vjp(c, g):
    x, out = c[0], c.out  # (both unpacked, so versions checked, as torch's node does)
    if x.ndim == 0 or x.shape[wrap_dim(c.attrs["dim"], x.ndim)] == 1:
        return g
    dim = wrap_dim(c.attrs["dim"], x.ndim)
    if not bool((x == 0).any()):  # (read now, as torch reads it)
        return _reversed_cumsum(g * out, dim) / x
    return _cumprod_vjp_with_zeros(x, g, dim)


def _cumprod_vjp_with_zeros(x, g, dim: int):
    """dx_k = Σ_{j >= k} g_j · Π_{i <= j, i != k} x_i, for every k at once: row k of an n×n
    matrix is x with x_k set to 1, whose cumprod gives those products."""
    n = x.shape[dim]
    xm = x.movedim(dim, -1)
    gm = g.movedim(dim, -1)
    eye = call("eye", n=n, m=n, dtype="bool", _device=x.device_str)
    others = call("where", eye, 1.0, xm.unsqueeze(-2).expand(*xm.shape[:-1], n, n))
    products = call("cumprod", others, dim=-1)  # [..., k, j]
    later = call("triu", call("full", shape=[n, n], value=1.0, dtype=x.dtype.name,
                              _device=x.device_str), diagonal=0)  # j >= k
    gx = (products * later * gm.unsqueeze(-2)).sum(dim=-1)
    return gx.movedim(-1, dim)


defop("cumprod", _cumprod, _cumsum_rule, _cumprod_vjp, node="CumprodBackward0", save=(0,),
      save_out=True)


def cumprod(input, dim, *, dtype=None):
    if dtype is None:
        return call("cumprod", input, dim=dim)
    return call("cumprod", input.to(dtype), dim=dim, dtype=dtype.name)


METHODS = dict(nansum=nansum, nanmean=nanmean, cumprod=cumprod)
