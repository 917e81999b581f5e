"""The few linear-algebra steps MultivariateNormal needs (a Cholesky factor, a lower
triangular solve), composed of distgrad ops, so they are differentiable to any order and
run wherever their operands live. Column by column and row by row: O(n) ops for an n x n
matrix, batched over the leading dimensions, meant for the small event sizes of a
distribution, not as a general linalg."""
from __future__ import annotations

import distgrad
from distgrad import dtypes
from distgrad.ops.rules import not_implemented

from .utils import broadcast_shapes


def _refuse_low_floats(t, kernel: str) -> None:
    """torch's CPU linear algebra has no float16 or bfloat16 kernels: its error."""
    if t.dtype in dtypes.LOW_FLOATS:
        raise not_implemented(kernel, t.dtype)


def cholesky(a):
    """The lower Cholesky factor L of a symmetric positive-definite a (a = L Lᵀ)."""
    _refuse_low_floats(a, "cholesky_cpu")
    n = a.shape[-1]
    a = (a + a.transpose(-2, -1)) / 2  # torch's gradient is symmetric: read both triangles
    rows = distgrad.arange(n, device=a.device_str)
    cols = []
    for j in range(n):
        v = a[..., :, j]
        for c in cols:
            v = v - c * c[..., j:j + 1]
        below = (rows >= j).to(a.dtype)  # entries above the diagonal are zero
        cols.append(v / v[..., j:j + 1].sqrt() * below)
    return distgrad.stack(cols, -1)


def solve_lower(l, b):
    """X with l X = b, l lower triangular (..., n, n), b (..., n, m); batches broadcast."""
    _refuse_low_floats(l, "triangular_solve_cpu")
    n = l.shape[-1]
    batch = broadcast_shapes(tuple(l.shape[:-2]), tuple(b.shape[:-2]))
    l = l.expand(tuple(batch) + tuple(l.shape[-2:]))
    b = b.expand(tuple(batch) + tuple(b.shape[-2:]))
    x = b[..., 0:1, :] / l[..., 0:1, 0:1]
    for i in range(1, n):
        row = (b[..., i:i + 1, :] - l[..., i:i + 1, :i] @ x) / l[..., i:i + 1, i:i + 1]
        x = distgrad.cat([x, row], -2)
    return x


def inverse_from_cholesky(l):
    """(l lᵀ)⁻¹ from its Cholesky factor l (torch.cholesky_inverse)."""
    _refuse_low_floats(l, "cholesky_inverse_out_cpu")
    eye = distgrad.eye(l.shape[-1], dtype=l.dtype, device=l.device_str)
    l_inv = solve_lower(l, eye)
    return l_inv.transpose(-2, -1) @ l_inv
