"""distgrad.linalg: torch.linalg's functions, batched over leading dims, for float32 and
float64. The factorisations are rows of the op table (ops/decompositions.py); the norms,
powers and products are built from them and other ops as torch builds them, so results
carry torch's grad_fn names.

    >>> A = distgrad.randn(3, 3, requires_grad=True)
    >>> distgrad.linalg.det(A).backward()
"""
from __future__ import annotations

import numpy as np

from . import dtypes, return_types
from .autograd.record import call
from .ops.decompositions import check_matrix, pinv_tolerances
from .ops.rules import wrap_dim
from .ops.lapack import LinAlgError, _LinAlgError  # noqa: F401  (pickle finds it here)
from .ops.linalg import check_chain
from .ops.products import multiplied_in_order

__all__ = ["LinAlgError", "vector_norm", "matrix_norm", "norm", "det", "slogdet", "inv", "inv_ex",
           "solve", "solve_ex", "solve_triangular", "cholesky", "cholesky_ex", "lu_factor", "lu_factor_ex", "lu", "lu_solve", "qr", "svd",
           "svdvals", "eigh", "eigvalsh", "pinv", "lstsq", "matrix_rank", "cond", "matrix_power",
           "matrix_exp", "multi_dot", "cross", "vecdot", "diagonal", "matmul", "vander",
           "tensorsolve", "householder_product"]

_INF = float("inf")


# ---- norms --------------------------------------------------------------------------------------

def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    if isinstance(dim, list):
        dim = tuple(dim)
    attrs = {} if dtype is None else {"dtype": dtypes.given(dtype).name}
    return call("norm", x, p=float(ord), dim=dim, keepdim=keepdim, **attrs)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    d0, d1 = _matrix_norm_dims(A, ord, dim)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim, dtype=dtype)
    if ord == "nuc" or abs(ord) == 2:
        if dtype is not None:  # (torch casts first for the singular values alone)
            A = A.to(dtype)
        # torch moves the two dims to the end, and a kept result back
        perm = [d for d in range(A.ndim) if d not in (d0, d1)] + [d0, d1]
        vals = svdvals(A.permute(*perm))
        if ord == "nuc":
            out = vals.sum(-1, keepdim=keepdim)
        else:
            out = vals.amax(-1, keepdim) if ord > 0 else vals.amin(-1, keepdim)
        if keepdim:
            out = out.unsqueeze(-1).permute(*[perm.index(d) for d in range(A.ndim)])
        return out
    if abs(ord) == _INF:
        d0, d1 = d1, d0
    if not keepdim and d0 < d1:
        d1 -= 1
    sums = vector_norm(A, 1.0, (d0,), keepdim, dtype=dtype)
    return sums.amax(d1, keepdim) if ord > 0 else sums.amin(d1, keepdim)


def _matrix_norm_dims(A, ord, dim) -> tuple:
    """torch's checks of matrix_norm's arguments, in its order; the two dims, wrapped."""
    if ord not in ("fro", "nuc") and (isinstance(ord, str) or abs(ord) not in (1, 2, _INF)):
        shown = ord if isinstance(ord, str) else f"{ord:g}"
        raise RuntimeError(f"linalg.matrix_norm: Order {shown} not supported.")
    check_matrix("linalg.matrix_norm", A, square=False)
    if ord in ("nuc", 2, -2) and A.dtype in dtypes.LOW_FLOATS:  # (its svd path refuses them)
        raise RuntimeError(f"linalg.matrix_norm: Low precision dtypes not supported. Got "
                           f"{A.dtype.long_name}")
    dim = list(dim)
    if len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got "
                           f"{' '.join(map(str, dim))}")
    d0, d1 = (wrap_dim(d, A.ndim) for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({d0}, {d1})")
    return d0, d1


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None and len(dim) not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                           f"Got {list(dim)}")
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None and A.ndim not in (1, 2):
        raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be "
                           f"1D or 2D. Got {A.ndim}D.")
    matrix = isinstance(ord, str) or (dim is not None and len(dim) == 2) or (dim is None
                                                                            and A.ndim == 2)
    if matrix:
        return matrix_norm(A, ord, dim if dim is not None else (-2, -1), keepdim, dtype=dtype)
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)


# ---- determinants, inverses, solves ---------------------------------------------------------------

def det(A):
    return call("linalg_det", A)


def slogdet(A):
    return return_types.linalg_slogdet(call("linalg_slogdet", A))


def inv_ex(A, *, check_errors=False):
    return return_types.linalg_inv_ex(call("linalg_inv_ex", A, check_errors=check_errors))


def inv(A):
    return call("linalg_inv_ex", A, check_errors=True)[0]


def solve_ex(A, B, *, left=True, check_errors=False):
    return return_types.linalg_solve_ex(call("linalg_solve_ex", A, B, left=left,
                                             check_errors=check_errors))


def solve(A, B, *, left=True):
    return call("linalg_solve_ex", A, B, left=left, check_errors=True)[0]


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    return call("linalg_solve_triangular", A, B, upper=upper, left=left,
                unitriangular=unitriangular)


# ---- factorisations ---------------------------------------------------------------------------------

def cholesky_ex(A, *, upper=False, check_errors=False):
    return return_types.linalg_cholesky_ex(call("linalg_cholesky_ex", A, upper=upper,
                                                check_errors=check_errors))


def cholesky(A, *, upper=False):
    return call("linalg_cholesky_ex", A, upper=upper, check_errors=True)[0]


def qr(A, mode="reduced"):
    return return_types.linalg_qr(call("linalg_qr", A, mode=mode))


def householder_product(input, tau):
    """The first n columns of the product of Householder reflectors I - τ_i v_i v_iᵀ whose
    vectors v_i are input's columns below the diagonal after a 1 (as geqrf leaves them).
    (torch documents the matrix as A but names the parameter input.)"""
    return call("linalg_householder_product", input, tau)


def svd(A, full_matrices=True, *, driver=None):
    return return_types.linalg_svd(call("linalg_svd", A, full_matrices=full_matrices))


def svdvals(A, *, driver=None):
    return call("linalg_svd", A, full_matrices=False)[1]


def lu_factor_ex(A, *, pivot=True, check_errors=False):
    return return_types.linalg_lu_factor_ex(call("linalg_lu_factor_ex", A, pivot=pivot,
                                                 check_errors=check_errors))


def lu_factor(A, *, pivot=True):
    return return_types.linalg_lu_factor(call("linalg_lu_factor_ex", A, pivot=pivot)[:2])


def lu(A, *, pivot=True):
    return return_types.linalg_lu(call("linalg_lu", A, pivot=pivot))


def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    return call("linalg_lu_solve", LU, pivots, B, left=left, adjoint=adjoint)


def eigh(A, UPLO="L"):
    return return_types.linalg_eigh(call("linalg_eigh", A, UPLO=UPLO))


def eigvalsh(A, UPLO="L"):
    return call("linalg_eigh", A, UPLO=UPLO)[0]


# ---- built from the above -------------------------------------------------------------------------

def pinv(A, *, atol=None, rtol=None, hermitian=False):
    return call("linalg_pinv", A, atol=_number(atol), rtol=_number(rtol), hermitian=hermitian)


def _number(v):
    return float(v.item()) if hasattr(v, "item") and v is not None else v


def lstsq(A, B, rcond=None, *, driver=None):
    return return_types.linalg_lstsq(call("linalg_lstsq", A, B, rcond=rcond, driver=driver))


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False):
    from .creation import tensor

    check_matrix("linalg.matrix_rank", A, square=False)
    a = A.detach()._numpy_value()
    m, n = a.shape[-2:]
    atol, rtol = pinv_tolerances(a.dtype, m, n, _number(atol), _number(rtol))
    if a.size == 0:
        return tensor(np.zeros(a.shape[:-2], np.int64), device=A.device_str)
    s = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    cut = np.maximum(atol, rtol * np.max(s, axis=-1, keepdims=True))
    return tensor(np.sum(s > cut, axis=-1).astype(np.int64), device=A.device_str)


def cond(A, p=None):
    """The condition number in the norm p, as torch computes it: for None or ±2 the ratio of
    the extreme singular values (of any matrices), for "nuc" sum(σ)·sum(1/σ), else
    ‖A‖·‖A⁻¹‖, inf where A is singular; 0 for each empty matrix."""
    if A.ndim < 2:
        raise RuntimeError("linalg.cond: The input tensor must have at least 2 dimensions.")
    if isinstance(p, str):
        check_matrix(f"linalg.cond(ord={p})", A, floating=False)
    _check_cond_ord(p)
    if A.numel() == 0:
        from .creation import zeros

        return zeros(A.shape[:-2], dtype=A.dtype, device=A.device_str)
    if p is None or p in (2, -2):
        s = svdvals(A)
        largest, smallest = s.narrow(-1, 0, 1), s.narrow(-1, s.shape[-1] - 1, 1)
        return (smallest / largest if p == -2 else largest / smallest).squeeze(-1)
    if p == "nuc":  # (matrix_norm's nuclear norm refuses infinities)
        s = svdvals(A)
        return s.sum(-1) * s.reciprocal().sum(-1)
    if not isinstance(p, str):  # (torch prints a float ord as C's %f)
        check_matrix(f"linalg.cond(ord={p:f})" if isinstance(p, float) else
                     f"linalg.cond(ord={p})", A, floating=False)
    return _norm_times_inverse_norm(A, p)


def _check_cond_ord(p) -> None:
    if p in ("fro", "nuc") or p is None or (not isinstance(p, str) and abs(p) in (1, 2, _INF)):
        return
    shown = p if isinstance(p, str) else f"{p:g}"
    raise RuntimeError(f"linalg.cond got an invalid norm type: {shown}")


def _norm_times_inverse_norm(A, p):
    inverse, info = inv_ex(A)
    inverse.masked_fill_((info > 0)[..., None, None], _INF)  # a singular A: its inverse inf
    product = matrix_norm(A, p) * matrix_norm(inverse, p)
    return product.nan_to_num_(_INF, _INF, -_INF)  # 0 · inf is inf here, as in NumPy


def matrix_power(A, n: int):
    """torch's binary decomposition of n (n < 0: of A's inverse)."""
    check_matrix("linalg.matrix_power", A, floating=False)
    if n == 0:
        where = "cpu" if A.device_str == "sharded" else A.device_str  # (copy_ places it)
        eye = call("eye", n=A.shape[-1], m=A.shape[-1], dtype=A.dtype.name, _device=where)
        return A.clone().copy_(eye.expand(*A.shape))  # (torch's: CopyBackwards to A)
    if n < 0:
        A, n = inv(A), -n
    if n == 1:
        return A.clone()
    if n == 2:
        return A.matmul(A)
    if n == 3:
        return A.matmul(A).matmul(A)
    z = result = None
    while n > 0:
        bit, n = n % 2, n // 2
        z = A if z is None else z.matmul(z)
        if bit:
            result = z if result is None else result.matmul(z)
    return result


def matrix_exp(A):
    return call("linalg_matrix_exp", A)


def multi_dot(tensors):
    """The chain multiplied in torch's order (ops/products.multiplied_in_order); a 1-D
    first or last operand is a row or column vector."""
    tensors = list(tensors)
    check_chain(tensors)
    first, last = tensors[0].ndim == 1, tensors[-1].ndim == 1
    mats = list(tensors)
    if first:
        mats[0] = mats[0].unsqueeze(0)
    if last:
        mats[-1] = mats[-1].unsqueeze(-1)
    out = multiplied_in_order(mats)
    shape = ([] if first else [out.shape[0]]) + ([] if last else [out.shape[1]])
    return out.view(*shape)


def cross(input, other, *, dim=-1):
    return call("cross", input, other, dim=dim)


def vecdot(x, y, *, dim=-1):
    if x.dtype is not y.dtype:
        raise RuntimeError(f"linalg.vecdot: Expected x and y to have the same dtype, but found x "
                           f"of type {x.dtype.long_name} and y of type {y.dtype.long_name} instead")
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"linalg.vecdot: Expected a floating point or complex tensor as input. "
                           f"Got {x.dtype.long_name}")
    return (x * y).sum(dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return call("diagonal", A, offset=offset, dim1=dim1, dim2=dim2)


def matmul(input, other):
    return input.matmul(other)


def vander(x, *, N=None):
    """Powers x^0 ... x^(N-1) along a new last dim (increasing, unlike torch.vander): torch's
    cat of ones and a cumprod of x expanded."""
    if x.dtype is dtypes.bool_:
        raise RuntimeError("linalg.vander supports floating point, complex, and integer tensors, "
                           f"but got {x.dtype.long_name}")
    x = x.unsqueeze(-1) if x.ndim == 0 else x
    n = x.shape[-1] if N is None else int(N)
    if n <= 1:
        raise RuntimeError("N must be greater than 1.")
    powers = x.unsqueeze(-1).expand(*x.shape, n - 1).cumprod(-1)
    return call("cat", powers.new_ones(*x.shape, 1), powers, dim=-1)


def tensorsolve(A, B, dims=None):
    """X with tensordot(A, X, X.ndim) = B: A's dims (after `dims` moved last) as one square
    matrix, solved for B flattened (torch's linalg_tensorsolve)."""
    if dims is not None:
        dims = list(dims)
        A = A.movedim(dims, list(range(A.ndim - len(dims), A.ndim)))
    shape = list(A.shape[B.ndim:])
    n, m = int(np.prod(shape, dtype=np.int64)), int(np.prod(B.shape, dtype=np.int64))
    if n != m:
        raise RuntimeError("Expected self to satisfy the requirement prod(self.shape[other.ndim:]) "
                           f"== prod(self.shape[:other.ndim]), but got {n} != {m}")
    return solve(A.reshape(n, n), B.flatten()).reshape(shape)
