"""torch's matrix functions at top level and as Tensor methods (`torch.det`, `A.inverse()`,
the deprecated `torch.svd`, `torch.qr`, `torch.cholesky`, `torch.triangular_solve`), over
distgrad.linalg as torch's are over torch.linalg."""
from __future__ import annotations

from .. import dtypes, linalg as _linalg, return_types
from ..autograd import grad_mode
from ..tensor import _warn_once
from ..autograd.record import call
from ..linalg import det, matrix_exp, matrix_power  # noqa: F401  (torch.det, ...)


def slogdet(input):
    return return_types.slogdet(_linalg.slogdet(input))


def logdet(input):
    """log det A: nan where det < 0 (torch's where over slogdet)."""
    if input.dtype in dtypes.LOW_FLOATS:
        raise RuntimeError(f"logdet: Low precision dtypes not supported. Got "
                           f"{input.dtype.long_name}")
    sign, logabsdet = _linalg.slogdet(input)
    return call("where", sign == -1, float("nan"), logabsdet)


def inverse(input):
    return _linalg.inv(input)


def cholesky(input, upper=False):
    _warn_once("torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be "
               "removed in a future PyTorch release.", "native/BatchLinearAlgebra.cpp:1765")
    return call("cholesky", input, upper=upper)


def cholesky_solve(input, input2, upper=False):
    return call("cholesky_solve", input, input2, upper=upper)


def cholesky_inverse(input, upper=False):
    return call("cholesky_inverse", input, upper=upper)


def svd(input, some=True, compute_uv=True):
    """torch.svd: V rather than Vh, and reduced unless some=False."""
    if not compute_uv:
        from ..creation import zeros

        s = _linalg.svdvals(input)
        m, n = input.shape[-2:]
        batch = tuple(input.shape[:-2])
        u_cols, v_cols = (min(m, n), min(m, n)) if some else (m, n)
        return return_types.svd((zeros(*batch, m, u_cols, dtype=input.dtype), s,
                                 zeros(*batch, n, v_cols, dtype=input.dtype)))
    u, s, vh = _linalg.svd(input, full_matrices=not some)
    return return_types.svd((u, s, vh.transpose(-2, -1)))


def qr(input, some=True):
    _warn_once("torch.qr is deprecated in favor of torch.linalg.qr and will be removed in a "
               "future PyTorch release.", "native/BatchLinearAlgebra.cpp:2505")
    return return_types.qr(_linalg.qr(input, "reduced" if some else "complete"))


def geqrf(input):
    """LAPACK's QR in its compact form: R on and above the diagonal, the Householder vectors
    below it, and their scales tau (linalg.householder_product makes Q of them)."""
    from .sets import without_derivative

    return return_types.geqrf(without_derivative(input, out, "geqrf", "GeqrfBackward0")
                              for out in call("geqrf", input))


def orgqr(input, input2):
    return _linalg.householder_product(input, input2)


def lu(A, pivot=True, get_infos=False):
    """The deprecated torch.lu: linalg.lu_factor_ex's LU and pivots (and infos), unchecked."""
    _warn_once("torch.lu is deprecated in favor of torch.linalg.lu_factor / "
               "torch.linalg.lu_factor_ex and will be removed in a future PyTorch release.\n"
               "LU, pivots = torch.lu(A, compute_pivots)\nshould be replaced with\n"
               "LU, pivots = torch.linalg.lu_factor(A, compute_pivots)\nand\n"
               "LU, pivots, info = torch.lu(A, compute_pivots, get_infos=True)\n"
               "should be replaced with\nLU, pivots, info = torch.linalg.lu_factor_ex(A, "
               "compute_pivots)", "native/BatchLinearAlgebra.cpp:2073")
    factors = return_types._lu_with_info(_linalg.lu_factor_ex(A, pivot=pivot))
    return factors if get_infos else tuple(factors[:2])


def lu_solve(input, LU_data, LU_pivots):
    """The deprecated torch.lu_solve: linalg.lu_solve with its arguments reversed."""
    _warn_once("torch.lu_solve is deprecated in favor of torch.linalg.lu_solveand will be "
               "removed in a future PyTorch release.\nNote that torch.linalg.lu_solve has its "
               "arguments reversed.\nX = torch.lu_solve(B, LU, pivots)\nshould be replaced "
               "with\nX = torch.linalg.lu_solve(LU, pivots, B)",  # (torch's words, space missing)
               "native/BatchLinearAlgebra.cpp:2230")
    return _linalg.lu_solve(LU_data, LU_pivots, input)


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    """P, L, U with A = P L U from linalg.lu_factor's packed LU and its pivots."""
    if LU_data.ndim < 2 and LU_data.requires_grad and grad_mode.is_grad_enabled():
        # (torch's autograd reads the sizes of dims -1 and -2 first, for the backward)
        raise IndexError("Dimension specified as -1 but tensor has no dimensions" if
                         LU_data.ndim == 0 else "Dimension out of range (expected to be in "
                         "range of [-1, 0], but got -2)")
    return return_types.lu_unpack(call("lu_unpack", LU_data, LU_pivots, unpack_data=unpack_data,
                                       unpack_pivots=unpack_pivots))


def pinverse(input, rcond=1e-15):
    return _linalg.pinv(input, atol=0.0, rtol=rcond)


def triangular_solve(input, A, upper=True, transpose=False, unitriangular=False):
    _warn_once("torch.triangular_solve is deprecated in favor of "
               "torch.linalg.solve_triangularand will be removed in a future PyTorch "
               "release.", "native/BatchLinearAlgebra.cpp:2273")  # (torch's words, space missing)
    return return_types.triangular_solve(call("triangular_solve", input, A, upper=upper,
                                              transpose=transpose, unitriangular=unitriangular))


# ---- randomized low-rank SVD and PCA (torch/_lowrank.py, Halko et al. 2009) -------------------

def _approximate_basis(A, q: int, niter, M=None):
    """q orthonormal columns Q with Q Qᴴ (A - M) ≈ A - M: a random projection, refined by
    niter subspace iterations (torch's draws, in its order)."""
    from ..creation import randn

    niter = 2 if niter is None else niter
    dtype = A.dtype if A.dtype in (dtypes.float16, dtypes.float32, dtypes.float64) \
        else dtypes.float32
    R = randn(A.shape[-1], q, dtype=dtype, device=A.device)

    def project(B, MB, X):
        out = B.matmul(X)
        return out if MB is None else out - MB.matmul(X)

    Q = _linalg.qr(project(A, M, R)).Q
    for _ in range(niter):
        Q = _linalg.qr(project(A.mH, None if M is None else M.mH, Q)).Q
        Q = _linalg.qr(project(A, M, Q)).Q
    return Q


def svd_lowrank(A, q=6, niter=2, M=None):
    """U, S, V with A - M ≈ U diag(S) Vᴴ, of rank q, by a randomized range finder."""
    q = 6 if q is None else q
    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(A.size())
    if m < n:
        A = A.mH
        M = None if M is None else M.mH
    Q = _approximate_basis(A, q, niter, M)
    B = Q.mH.matmul(A)
    if M is not None:
        B = B - Q.mH.matmul(M)
    U, S, Vh = _linalg.svd(B, full_matrices=False)
    V, U = Vh.mH, Q.matmul(U)
    return (V, S, U) if m < n else (U, S, V)


def pca_lowrank(A, q=None, center=True, niter=2):
    """svd_lowrank of A's columns less their means (center): V's columns are the principal
    directions, S ** 2 / (m - 1) the variances along them."""
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not (q >= 0 and q <= min(m, n)):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than "
                         f"min(m, n)={min(m, n)}")
    if not (niter >= 0):
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if not center:
        return svd_lowrank(A, q, niter=niter)
    return svd_lowrank(A - A.mean(dim=(-2,), keepdim=True), q, niter=niter)


METHODS = dict(det=det, logdet=logdet, slogdet=slogdet, inverse=inverse, cholesky=cholesky,
               cholesky_solve=cholesky_solve, cholesky_inverse=cholesky_inverse, svd=svd, qr=qr,
               geqrf=geqrf, orgqr=orgqr, lu=lu, lu_solve=lu_solve,
               pinverse=pinverse, matrix_power=matrix_power, matrix_exp=matrix_exp,
               triangular_solve=triangular_solve)
