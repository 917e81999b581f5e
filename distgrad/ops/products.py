"""Distances and products: dist, renorm, vdot, kron, cdist, pdist, and the fused
matrix-vector forms addmv, addr, baddbmm, addbmm, chain_matmul (with addmm_, baddbmm_).

cdist follows torch's two paths: for p = 2 with more than 25 rows on either side (or
compute_mode="use_mm_for_euclid_dist") the distances come from one matrix product
(EuclideanDistBackward0, differentiable twice), otherwise from the differences
(CdistBackward0, whose backward torch does not differentiate: nor does distgrad's).
"""
from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes
from ..autograd.record import call
from ..tensor import Tensor
from . import layout
from .api import _in_place
from .shape import expanded_shape
from .linalg import addmm_dtypes, addmv_dtypes, check_chain, dot_dtypes, mm_dtypes
from .reduce import _norm_forward, _norm_vjp
from .rules import (broadcast_shapes, dims_of, integral_scalar, not_implemented,
                    require_scalar_type, unbroadcast, wrap_dim)
from .table import Meta, defop

__all__ = ["dist", "renorm", "kron", "cdist", "pdist", "addmv", "addr", "baddbmm",
           "addbmm", "chain_matmul"]


class _NormOf:
    """A norm's VJP context (reduce._norm_vjp) for a norm computed inside another op."""

    def __init__(self, x, out, shape, p, dims, keepdim):
        self._x, self.out, self.shapes = x, out, [shape]
        self.attrs = {"p": p, "dim": list(dims), "keepdim": keepdim}

    def __getitem__(self, i):
        return self._x


def _scaled(t, s):
    return t if s == 1 else t * s  # torch's maybe_multiply


# ---- dist, renorm --------------------------------------------------------------------------------

def _dist_rule(a, b, p=2.0):
    d = dtypes.result_type((a, b))
    if not d.is_floating_point:
        raise RuntimeError(f"norm(): input dtype should be either floating point or complex. "
                           f"Got {d.long_name} instead.")
    return Meta((), d)


def _dist_vjp(c, g):
    diff = c[0] - c[1]
    shape = tuple(diff.shape)
    gd = _norm_vjp(_NormOf(diff, c.out, shape, c.attrs.get("p", 2.0), range(len(shape)), False), g)
    if gd is None:  # p = 0: a count, no gradient
        return None, None
    return (unbroadcast(gd, c.shapes[0]) if c.needs[0] else None,
            unbroadcast(-gd, c.shapes[1]) if c.needs[1] else None)


defop("dist", lambda a, b, p=2.0: _norm_forward(a - b, p), _dist_rule, _dist_vjp,
      node="DistBackward0", save=(0, 1), save_out=True)


def dist(input, other, p=2):
    broadcast_shapes(tuple(input.shape), tuple(other.shape))
    return call("dist", input, other, p=float(p))


def _renorm_norms(x, p, dim):
    dim = dim % x.ndim
    others = tuple(d for d in range(x.ndim) if d != dim)
    return _norm_forward(x, p, others, True)


def _renorm(x, p, dim, maxnorm):
    norm = _renorm_norms(x, p, dim)
    factor = np.where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0).astype(x.dtype)
    return x * factor


def _renorm_rule(x, p, dim, maxnorm):
    wrap_dim(dim, x.ndim)
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm:g}")
    if x.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {x.ndim} dimensions")
    if not x.dtype.is_floating_point:  # (its kernel's norms refuse it)
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {x.dtype.long_name}")
    return Meta(x.shape, x.dtype)


def _renorm_vjp(c, g):
    """torch's renorm_backward."""
    x, p, maxnorm = c[0], c.attrs["p"], c.attrs["maxnorm"]
    dim = wrap_dim(c.attrs["dim"], x.ndim)
    others = [d for d in range(x.ndim) if d != dim]
    norm = x.norm(p, others, True)
    gnorm = (x * g).sum(others, keepdim=True)
    nb = _norm_vjp(_NormOf(x, norm, tuple(x.shape), p, others, True), gnorm)
    factor = (norm + 1e-7).reciprocal() * maxnorm
    return call("where", norm > maxnorm, factor * g - (factor * (norm + 1e-7).reciprocal()) * nb, g)


defop("renorm", _renorm, _renorm_rule, _renorm_vjp, node="RenormBackward0", save=(0,),
      api=("renorm",), params=("input",), inplace="renorm_")


def renorm(input, p, dim, maxnorm):
    return call("renorm", input, p=float(p), dim=dim, maxnorm=float(maxnorm))


# ---- vdot, kron ------------------------------------------------------------------------------

def _vdot_rule(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    dot_dtypes(a, b)
    if a.shape[0] != b.shape[0]:
        raise RuntimeError("inconsistent tensor size, expected tensor [" f"{a.shape[0]}] and src "
                           f"[{b.shape[0]}] to have the same number of elements, but got "
                           f"{a.shape[0]} and {b.shape[0]} elements respectively")
    return Meta((), a.dtype)


defop("vdot", lambda a, b: np.asarray(np.dot(a, b) + 0), _vdot_rule,  # (+0: as dot's)
      lambda c, g: (g * c[1] if c.needs[0] else None, g * c[0] if c.needs[1] else None),
      node="VdotBackward0", save=(0, 1), save_for={0: (1,), 1: (0,)}, api=("vdot",),
      params=("input", "other"))


def kron(input, other):
    """torch's kron: both reshaped with interleaved unit dims (_unsafe_views: the product
    saves aliases of their memory with counters of their own, so a later in-place write to
    an operand is no error, and its gradient reads the values written), multiplied, viewed
    flat."""
    nd = max(input.ndim, other.ndim)
    a_shape = [1] * (nd - input.ndim) + list(input.shape)
    b_shape = [1] * (nd - other.ndim) + list(other.shape)
    a_view, b_view = [], []
    for sa, sb in zip(a_shape, b_shape):
        a_view += [sa, 1]
        b_view += [1, sb]
    prod = call("unsafe_view", input, shape=a_view) * call("unsafe_view", other, shape=b_view)
    shape = [sa * sb for sa, sb in zip(a_shape, b_shape)]
    layout.require_view(prod.shape, prod.stride(), shape)  # (the product is laid out as its
    return call("unsafe_view", prod, shape=shape)          # operands: a transposed one's isn't)


# ---- cdist, pdist --------------------------------------------------------------------------------

def _pnorm_of_differences(diff, p):
    a = np.abs(diff)
    if p == 0:
        return np.sum(a != 0, axis=-1).astype(diff.dtype)
    if p == 1:
        return np.sum(a, axis=-1)
    if p == 2:
        return np.sqrt(np.sum(a * a, axis=-1))
    if p == np.inf:
        return np.max(a, axis=-1) if a.shape[-1] else np.zeros(a.shape[:-1], a.dtype)
    return np.sum(a ** p, axis=-1) ** (1.0 / p)


def _no_derivative(name: str):
    """The VJP of a backward torch does not differentiate (cdist's and pdist's): its node
    (CdistBackwardBackward0) raises when a backward reaches it."""
    def vjp(c, g):
        raise NotImplementedError(f"the derivative for '{name}' is not implemented.")

    return vjp


def _cdist(x1, x2, p):
    return _pnorm_of_differences(x1[..., :, None, :] - x2[..., None, :, :], p)


def _pair_gradient(g, diff, dist, p):
    """torch's _cdist_backward kernels: the gradient for each difference x1_i - x2_j."""
    g, dist = g[..., None], dist[..., None]
    sign = np.sign(diff)
    with np.errstate(all="ignore"):
        if p == 0:
            return np.zeros_like(diff)
        if p == 1:
            return g * sign
        if p == 2:
            return np.where(dist == 0, 0, g * diff / dist)
        if p == np.inf:
            return g * sign * (np.abs(diff) == dist)
        if p < 2:
            keep = (dist != 0) & ~((diff == 0) & (p < 1))
            return np.where(keep, sign * np.abs(diff) ** (p - 1) * g / dist ** (p - 1), 0)
        return np.where(dist == 0, 0, diff * np.abs(diff) ** (p - 2) * g / dist ** (p - 1))


def _cdist_backward(g, x1, x2, dist, p):
    """x1's gradient of cdist(x1, x2, p) (torch's _cdist_backward), over the broadcast batch:
    the autograd engine sums it to x1's shape, as torch's does."""
    diff = x1[..., :, None, :] - x2[..., None, :, :]
    return _pair_gradient(g, diff, dist, p).sum(axis=-2).astype(x1.dtype)


def _cdist_rule(x1, x2, p=2.0):
    require_scalar_type(x1.dtype, x2)
    batch = broadcast_shapes(tuple(x1.shape[:-2]), tuple(x2.shape[:-2]))
    return Meta(tuple(batch) + (x1.shape[-2], x2.shape[-2]), x1.dtype)


def _cdist_vjp(c, g):
    """torch's: _cdist_backward(grad.contiguous(), x1, x2, p, result) for x1, and for x2 the
    same with both operands swapped and grad and result transposed (made contiguous)."""
    p = c.attrs.get("p", 2.0)
    g1 = g2 = None
    if c.needs[0]:
        g1 = call("cdist_backward", g.contiguous(), c[0], c[1], c.out, p=p)
    if c.needs[1]:
        g2 = call("cdist_backward", g.mT.contiguous(), c[1], c[0], c.out.mT.contiguous(), p=p)
    return unbroadcast(g1, c.shapes[0]), unbroadcast(g2, c.shapes[1])


defop("cdist", _cdist, _cdist_rule, _cdist_vjp, node="CdistBackward0", save=(0, 1),
      save_out=True)
defop("cdist_backward", _cdist_backward,
      lambda g, x1, x2, dist, p: Meta(tuple(g.shape[:-1]) + (x1.shape[-1],), x1.dtype),
      _no_derivative("_cdist_backward"), node="CdistBackwardBackward0")


def _euclidean_dist(x1, x2):
    """torch's _euclidean_dist: |x1|² + |x2|² - 2 x1·x2 from one product, clamped at 0."""
    n1 = np.sum(x1 * x1, axis=-1, keepdims=True)
    n2 = np.sum(x2 * x2, axis=-1, keepdims=True)
    a = np.concatenate([x1 * -2, n1, np.ones_like(n1)], axis=-1)
    b = np.concatenate([x2, np.ones_like(n2), n2], axis=-1)
    return np.sqrt(np.maximum(np.matmul(a, np.swapaxes(b, -1, -2)), 0))


def _euclidean_dist_vjp(c, g):
    """torch's _euclidean_dist_backward (made of ops: differentiable again)."""
    x1, x2 = c[0], c[1]
    ratio = (g / c.out).masked_fill(c.out == 0, 0.0)
    return (x1 * ratio.sum(-1, keepdim=True) - ratio.matmul(x2) if c.needs[0] else None,
            x2 * ratio.sum(-2).unsqueeze(-1) - ratio.transpose(-1, -2).matmul(x1)
            if c.needs[1] else None)


def _euclidean_dist_rule(x1, x2):
    if x1.ndim == 2:  # torch multiplies with matmul: mm's check for matrices, bmm's for batches
        mm_dtypes(x1, x2)
    return _cdist_rule(x1, x2)


defop("euclidean_dist", _euclidean_dist, _euclidean_dist_rule,
      _euclidean_dist_vjp, node="EuclideanDistBackward0", save=(0, 1), save_out=True)

_MODES = {"use_mm_for_euclid_dist_if_necessary": 0, "use_mm_for_euclid_dist": 1,
          "donot_use_mm_for_euclid_dist": 2}


def _cdist_checks(x1, x2, p, compute_mode):
    if not x1.dtype.is_floating_point:
        raise RuntimeError(f"cdist only supports floating-point dtypes, X1 got: {x1.dtype.long_name}")
    if not x2.dtype.is_floating_point:
        raise RuntimeError(f"cdist only supports floating-point dtypes, X2 got: {x2.dtype.long_name}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    if x1.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D")
    if x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} "
                           f"X2: {x2.shape[-1]}")
    if compute_mode is not None and compute_mode not in _MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode")


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """Distances between the rows of x1 and of x2 (batched over leading dims)."""
    _cdist_checks(x1, x2, p, compute_mode)
    mode = _MODES[compute_mode or "use_mm_for_euclid_dist_if_necessary"]
    r1, r2 = x1.shape[-2], x2.shape[-2]
    if p == 2 and (mode == 1 or (mode == 0 and (r1 > 25 or r2 > 25))):
        batch = list(broadcast_shapes(tuple(x1.shape[:-2]), tuple(x2.shape[:-2])))
        n = int(np.prod(batch)) if batch else 1
        if n == 1 and x1.ndim == x2.ndim == 2:
            dist_ = call("euclidean_dist", x1, x2)
        else:
            # (as torch: contiguous copies of broadcast operands, which the node saves)
            a = x1.expand(*batch, r1, x1.shape[-1]).contiguous().view(n, r1, x1.shape[-1])
            b = x2.expand(*batch, r2, x2.shape[-1]).contiguous().view(n, r2, x2.shape[-1])
            dist_ = call("euclidean_dist", a, b)
        return dist_.view(*batch, r1, r2)
    for d in (x1.dtype, x2.dtype):  # (only the matrix-product path takes them)
        if d in dtypes.LOW_FLOATS:
            raise not_implemented("cdist", d)
    return call("cdist", x1, x2, p=float(p))


def _pdist(x, p=2.0):
    i, j = np.triu_indices(x.shape[0], 1)
    return _pnorm_of_differences(x[i] - x[j], p)


def _pdist_vjp(c, g):
    return call("pdist_backward", g, c[0], c.out, p=c.attrs.get("p", 2.0))


def _pdist_backward(g, x, dist, p):
    i, j = np.triu_indices(x.shape[0], 1)
    pair = _pair_gradient(g, x[i] - x[j], dist, p)
    grad = np.zeros_like(x)
    np.add.at(grad, i, pair)
    np.add.at(grad, j, -pair)
    return grad


def _pdist_rule(x, p=2.0):
    if x.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {x.ndim}D")
    if not x.dtype.is_floating_point:
        raise RuntimeError("pdist only supports floating-point dtypes")
    if x.dtype in dtypes.LOW_FLOATS:  # (its CPU kernel has neither)
        raise not_implemented("pdist", x.dtype)
    if p < 0:
        raise RuntimeError("pdist only supports non-negative p values")
    n = x.shape[0]
    return Meta((n * (n - 1) // 2,), x.dtype)


defop("pdist", _pdist, _pdist_rule, _pdist_vjp, node="PdistBackward0", save=(0,),
      save_out=True)
defop("pdist_backward", _pdist_backward, lambda g, x, dist, p: Meta(x.shape, x.dtype),
      _no_derivative("_pdist_backward"), node="PdistBackwardBackward0")


def pdist(input, p=2):
    return call("pdist", input, p=float(p))


# ---- addmv, addr, baddbmm, addbmm ------------------------------------------------------------------

def _plus(beta, x, alpha, prod):
    """beta·x + alpha·prod; x ignored (nan and inf too) when beta is 0, as torch."""
    beta, alpha = integral_scalar(beta, prod.dtype), integral_scalar(alpha, prod.dtype)
    scaled = prod * alpha if alpha != 1 else prod
    if beta == 0:
        return scaled + np.zeros((), scaled.dtype)
    return (x * beta if beta != 1 else x) + scaled


def _addmv_rule(x, mat, vec, beta=1, alpha=1):
    if mat.ndim != 2 or vec.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {x.ndim}, {mat.ndim}, {vec.ndim}")
    if mat.shape[1] != vec.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({x.shape[0] if x.ndim else 1}), mat "
                           f"({mat.shape[0]}x{mat.shape[1]}), vec ({vec.shape[0]})")
    addmv_dtypes(x.dtype, mat, vec)
    return Meta(broadcast_shapes(tuple(x.shape), (mat.shape[0],)), mat.dtype)


def _addmv_vjp(c, g):
    alpha = c.attrs.get("alpha", 1)
    return (unbroadcast(_scaled(g, c.attrs.get("beta", 1)), c.shapes[0]) if c.needs[0] else None,
            _scaled(g.outer(c[2]), alpha) if c.needs[1] else None,
            _scaled(c[1].t().mv(g), alpha) if c.needs[2] else None)


defop("addmv", lambda x, m, v, beta=1, alpha=1: _plus(beta, x, alpha, m @ v), _addmv_rule,
      _addmv_vjp, node="AddmvBackward0", save=(1, 2), save_for={1: (2,), 2: (1,)})


def _addr_rule(x, v1, v2, beta=1, alpha=1):
    if v1.ndim != 1 or v2.ndim != 1:
        raise RuntimeError(f"addr: Expected 1-D argument vec1, but got {v1.ndim}-D")
    dtype = dtypes.result_type((x, v1, v2))
    if not dtype.is_floating_point:  # (addr refuses what addmm and addmv truncate)
        for name, scale in (("beta", beta), ("alpha", alpha)):
            if isinstance(scale, (float, np.floating)):
                raise RuntimeError(f"For integral input tensors, argument {name} must not be a "
                                   "floating point number.")
    return Meta(broadcast_shapes(tuple(x.shape), (v1.shape[0], v2.shape[0])), dtype)


def _addr_vjp(c, g):
    alpha = c.attrs.get("alpha", 1)
    return (unbroadcast(_scaled(g, c.attrs.get("beta", 1)), c.shapes[0]) if c.needs[0] else None,
            _scaled(g.mv(c[2]), alpha) if c.needs[1] else None,
            _scaled(g.t().mv(c[1]), alpha) if c.needs[2] else None)


defop("addr", lambda x, a, b, beta=1, alpha=1: _plus(beta, x, alpha, np.outer(a, b)), _addr_rule,
      _addr_vjp, node="AddrBackward0", save=(1, 2), save_for={1: (2,), 2: (1,)})


def bmm_shapes(name, b1, b2):
    """torch's checks of the batches, in its order and words (addbmm's are its own)."""
    if name == "addbmm":  # (torch reads the result's sizes first)
        wrap_dim(1, b1.ndim)
        wrap_dim(2, b2.ndim)
    if b1.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if name == "addbmm":
        if b1.shape[0] != b2.shape[0]:
            raise RuntimeError(f"batch1 and batch2 must have same number of batches, got "
                               f"{b1.shape[0]} and {b2.shape[0]}")
        if b1.shape[2] != b2.shape[1]:
            raise RuntimeError(f"Incompatible matrix sizes for bmm ({b1.shape[1]}x{b1.shape[2]} "
                               f"and {b2.shape[1]}x{b2.shape[2]})")
    elif b1.shape[0] != b2.shape[0] or b1.shape[2] != b2.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{b1.shape[0]}, {b1.shape[2]}] but got: [{b2.shape[0]}, "
                           f"{b2.shape[1]}].")


def _baddbmm_rule(x, b1, b2, beta=1, alpha=1):
    if not (x.dtype is b1.dtype and b1.dtype is b2.dtype):  # torch checks before the shapes
        raise RuntimeError(f"Input dtypes must be the same, got: input {x.dtype.c_name}, "
                           f"batch1: {b1.dtype.c_name}, batch2: {b2.dtype.c_name}")
    bmm_shapes("baddbmm", b1, b2)
    return Meta(expanded_shape(x.shape, (b1.shape[0], b1.shape[1], b2.shape[2]), x.dtype),
                b1.dtype)


def _baddbmm_vjp(c, g):
    alpha = c.attrs.get("alpha", 1)
    return (unbroadcast(_scaled(g, c.attrs.get("beta", 1)), c.shapes[0]) if c.needs[0] else None,
            _scaled(g.bmm(c[2].transpose(1, 2)), alpha) if c.needs[1] else None,
            _scaled(c[1].transpose(1, 2).bmm(g), alpha) if c.needs[2] else None)


defop("baddbmm", lambda x, a, b, beta=1, alpha=1: _plus(beta, x, alpha, np.matmul(a, b)),
      _baddbmm_rule, _baddbmm_vjp, node="BaddbmmBackward0", save=(1, 2),
      save_for={1: (2,), 2: (1,)})


def _addbmm_rule(x, b1, b2, beta=1, alpha=1):
    bmm_shapes("addbmm", b1, b2)
    shape = expanded_shape(x.shape, (b1.shape[1], b2.shape[2]), x.dtype)
    addmm_dtypes(x, b1, b2)  # (torch sums the batch, then checks as addmm)
    return Meta(shape, b1.dtype)


def _addbmm_vjp(c, g):
    alpha, (batches, rows, _), columns = c.attrs.get("alpha", 1), c.shapes[1], c.shapes[2][2]
    spread = g.unsqueeze(0).expand(batches, rows, columns)
    return (unbroadcast(_scaled(g, c.attrs.get("beta", 1)), c.shapes[0]) if c.needs[0] else None,
            _scaled(spread.bmm(c[2].transpose(1, 2)), alpha) if c.needs[1] else None,
            _scaled(c[1].transpose(1, 2).bmm(spread), alpha) if c.needs[2] else None)


defop("addbmm", lambda x, a, b, beta=1, alpha=1:
      _plus(beta, x, alpha, np.matmul(a, b).sum(axis=0)), _addbmm_rule, _addbmm_vjp,
      node="AddbmmBackward0", save=(1, 2), save_for={1: (2,), 2: (1,)})


def _scales(beta, alpha) -> dict:
    attrs = {}
    if beta != 1:
        attrs["beta"] = beta
    if alpha != 1:
        attrs["alpha"] = alpha
    return attrs


def addmv(input, mat, vec, *, beta=1, alpha=1):
    return call("addmv", input, mat, vec, **_scales(beta, alpha))


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    return call("addr", input, vec1, vec2, **_scales(beta, alpha))


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return call("baddbmm", input, batch1, batch2, **_scales(beta, alpha))


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    return call("addbmm", input, batch1, batch2, **_scales(beta, alpha))


# ---- chain_matmul ----------------------------------------------------------------------------------

_warned = False


def chain_matmul(*matrices):
    """The product of the matrices (deprecated in torch for linalg.multi_dot, which torch
    runs for it: multiplied in its order)."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch "
                      "release. Use torch.linalg.multi_dot instead, which accepts a list of two "
                      "or more tensors rather than multiple parameters.", UserWarning, stacklevel=2)
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for m in matrices:
        if m.ndim != 2:
            raise RuntimeError(f"Tensor dimension is {m.ndim}, expected 2 instead.")
    if len(matrices) == 1:
        return matrices[0].clone()
    check_chain(matrices)  # torch's chain_matmul is a multi_dot
    out = multiplied_in_order(matrices)
    return out.view(matrices[0].shape[0], matrices[-1].shape[1])


def multiplied_in_order(mats):
    """The product of a chain of matrices in torch's multi_dot order: for three the cheaper
    side first (the left on a tie), for more the order of fewest scalar products (its
    dynamic programme, the first split of least cost)."""
    if len(mats) == 2:
        return call("mm", mats[0], mats[1])
    dims = [m.shape[0] for m in mats] + [mats[-1].shape[1]]
    if len(mats) == 3:
        a, b, c, d = dims
        if a * c * (b + d) > b * d * (a + c):
            return call("mm", mats[0], call("mm", mats[1], mats[2]))
        return call("mm", call("mm", mats[0], mats[1]), mats[2])
    k = len(mats)
    cost = [[0] * k for _ in range(k)]
    split = [[0] * k for _ in range(k)]
    for length in range(1, k):
        for i in range(k - length):
            j = i + length
            cost[i][j] = None
            for s in range(i, j):
                c = cost[i][s] + cost[s + 1][j] + dims[i] * dims[s + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, s

    def chain(i, j):
        if i == j:
            return mats[i]
        return call("mm", chain(i, split[i][j]), chain(split[i][j] + 1, j))

    return chain(0, k - 1)


def in_place_forms(namespace: dict) -> dict:
    """addmm_ and baddbmm_: the functions' results written into self."""
    return dict(addmm_=_in_place(namespace["addmm"], "addmm_", Tensor),
                baddbmm_=_in_place(baddbmm, "baddbmm_", Tensor),
                addmv_=_in_place(addmv, "addmv_", Tensor),
                addr_=_in_place(addr, "addr_", Tensor),
                addbmm_=_in_place(addbmm, "addbmm_", Tensor))


METHODS = dict(dist=dist, kron=kron, addmv=addmv, addr=addr, baddbmm=baddbmm, addbmm=addbmm)
