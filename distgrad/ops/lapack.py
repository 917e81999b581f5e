"""numpy kernels for the linear algebra ops that numpy.linalg lacks (scipy is not a
dependency): an LU factorisation with partial pivoting as LAPACK's getrf computes it (its
`info`, the first zero pivot, is what torch's errors report), triangular solves, the
matrix exponential, and torch's LinAlgError with its words. All batched over leading dims.
"""
from __future__ import annotations

import numpy as np


class _LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a matrix the factorisation cannot handle (singular, not
    positive-definite); a RuntimeError, as torch's is, and named as torch's class is."""


_LinAlgError.__module__ = "distgrad.linalg"  # (where pickle finds it: a worker sends it)
LinAlgError = _LinAlgError


def batch_prefix(shape, index: int) -> str:
    """torch names the failing matrix of a batch: "(Batch element 2): "."""
    return f"(Batch element {index}): " if len(shape) > 2 else ""


def lu_factor(a: np.ndarray):
    """(LU, pivots, info) of a batch of m×n matrices, as getrf: L unit lower and U in one
    matrix, min(m, n) 1-based int32 row pivots, and info = the 1-based index of the first
    exactly zero pivot of U (0 if none) per matrix."""
    lu = np.array(a, copy=True)
    m, n = lu.shape[-2:]
    k_all = min(m, n)
    batch = lu.shape[:-2]
    flat = lu.reshape(-1, m, n)
    pivots = np.zeros((flat.shape[0], k_all), np.int32)
    info = np.zeros(flat.shape[0], np.int32)
    rows = np.arange(flat.shape[0])
    for k in range(k_all):
        p = k + np.argmax(np.abs(flat[:, k:, k]), axis=1)
        pivots[:, k] = p + 1
        swap = flat[rows, p].copy()
        flat[rows, p] = flat[:, k]
        flat[:, k] = swap
        piv = flat[:, k, k]
        zero = piv == 0
        info = np.where((info == 0) & zero, k + 1, info)
        safe = np.where(zero, 1, piv)
        flat[:, k + 1:, k] = np.where(zero[:, None], flat[:, k + 1:, k],
                                      flat[:, k + 1:, k] / safe[:, None])
        flat[:, k + 1:, k + 1:] -= flat[:, k + 1:, k, None] * flat[:, k, None, k + 1:]
    return flat.reshape(lu.shape), pivots.reshape(batch + (k_all,)), info.reshape(batch)


def unpack(lu, pivots):
    """(P, L, U) from getrf's factors: A = P L U."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    low = np.tril(lu[..., :, :k], -1) + np.eye(m, k, dtype=lu.dtype)
    up = np.triu(lu[..., :k, :])
    perm = permutation(pivots, m)
    p = np.zeros(lu.shape[:-2] + (m, m), lu.dtype)
    np.put_along_axis(p, perm[..., None, :], 1, axis=-2)  # P[perm[j], j] = 1
    return p, low, up


def first_singular(a: np.ndarray):
    """(batch index, 1-based pivot index) of the first matrix getrf finds singular, or None."""
    _, _, info = lu_factor(a)
    flat = info.reshape(-1)
    bad = np.nonzero(flat)[0]
    return (int(bad[0]), int(flat[bad[0]])) if bad.size else None


def first_not_positive_definite(a: np.ndarray):
    """(batch index, order of the first leading minor that is not positive-definite) of the
    first matrix potrf fails on, or None."""
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    for b, m in enumerate(flat):
        for k in range(1, n + 1):
            try:
                np.linalg.cholesky(m[:k, :k])
            except np.linalg.LinAlgError:
                return b, k
            if not np.all(np.isfinite(m[:k, :k])):
                return b, k
    return None


def solve_triangular(a, b, upper: bool, unitriangular: bool = False) -> np.ndarray:
    """X with A X = B for triangular A (the other triangle ignored), by substitution so
    singular A gives inf/nan as LAPACK's trtrs does; batch dims broadcast."""
    n = a.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    x = np.array(np.broadcast_to(b, batch + b.shape[-2:]), dtype=np.result_type(a, b))
    order = range(n - 1, -1, -1) if upper else range(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in order:
            rest = slice(i + 1, n) if upper else slice(0, i)
            acc = x[..., i, :] - np.einsum("...k,...kj->...j", a[..., i, rest], x[..., rest, :])
            x[..., i, :] = acc if unitriangular else acc / a[..., i, i, None]
    return x


def lu_solve(lu, pivots, b, adjoint: bool = False) -> np.ndarray:
    """X with A X = B (Aᴴ X = B) from getrf's factors (singular U gives inf/nan, as getrs)."""
    if adjoint:  # Uᴴ Lᴴ Pᵀ X = B
        y = solve_triangular(np.swapaxes(lu, -1, -2), b, upper=False)
        y = solve_triangular(np.swapaxes(lu, -1, -2), y, upper=True, unitriangular=True)
        inverse = np.argsort(permutation(pivots), axis=-1)
        return np.take_along_axis(y, np.broadcast_to(inverse[..., None], y.shape[:-1] + (1,)),
                                  axis=-2)
    x = np.array(np.broadcast_to(b, np.broadcast_shapes(lu.shape[:-2], b.shape[:-2]) + b.shape[-2:]),
                 dtype=np.result_type(lu, b))
    perm = permutation(pivots)
    x = np.take_along_axis(x, np.broadcast_to(perm[..., None], x.shape[:-1] + (1,)), axis=-2)
    x = solve_triangular(lu, x, upper=False, unitriangular=True)
    return solve_triangular(lu, x, upper=True)


def permutation(pivots, m: int = None) -> np.ndarray:
    """The row order getrf's sequential 1-based swaps amount to (over m rows): row i of Pᵀ·A
    is row perm[i] of A."""
    k_all = pivots.shape[-1]
    m = k_all if m is None else m
    perm = np.broadcast_to(np.arange(m), pivots.shape[:-1] + (m,)).copy()
    flat, piv = perm.reshape(-1, m), pivots.reshape(-1, k_all) - 1
    rows = np.arange(flat.shape[0])
    for k in range(k_all):
        p = piv[:, k]
        a, b = flat[rows, k].copy(), flat[rows, p].copy()
        flat[rows, k], flat[rows, p] = b, a
    return perm


# ---- the matrix exponential: scaling and squaring with a degree-13 Padé approximant ---------

_PADE13 = (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800.,
           129060195264000., 10559470521600., 670442572800., 33522128640., 1323241920.,
           40840800., 960960., 16380., 182., 1.)
_THETA13 = 5.371920351148152


def matrix_exp(a: np.ndarray) -> np.ndarray:
    """exp(A) per matrix (Higham 2005): A scaled by 2^-s to a norm below θ13, the [13/13]
    Padé approximant, then squared s times."""
    if a.shape[-1] == 0:
        return a.copy()
    work = a.astype(np.float64)
    norm = np.max(np.sum(np.abs(work), axis=-2), axis=-1)
    with np.errstate(divide="ignore"):
        s = np.maximum(0, np.ceil(np.log2(np.maximum(norm, 1e-300) / _THETA13))).astype(int)
    s = np.where(np.isfinite(norm), s, 0)
    work = work / (2.0 ** s)[..., None, None]
    b = _PADE13
    eye = np.broadcast_to(np.eye(a.shape[-1]), work.shape)
    a2 = work @ work
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = work @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
                + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    r = np.linalg.solve(v - u, v + u)
    flat, steps = r.reshape((-1,) + r.shape[-2:]), s.reshape(-1)
    for i in range(flat.shape[0]):
        for _ in range(int(steps[i])):
            flat[i] = flat[i] @ flat[i]
    return flat.reshape(r.shape).astype(a.dtype)
