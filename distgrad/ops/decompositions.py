"""The linear algebra rows: det, slogdet, inv, solve, triangular solves, cholesky, qr, svd,
eigh, pinv, matrix_exp — forwards in numpy (ops/lapack.py where numpy has none), VJPs
formula for formula as torch's FunctionsManual.cpp, made of distgrad ops so they
differentiate again. The public functions are in distgrad/linalg.py."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from . import lapack
from .lapack import LinAlgError
from .rules import broadcast_shapes, not_implemented, unbroadcast, zeros_grad
from .table import Meta, defop


# torch's `info` and `pivots` outputs are int32.
_INFO = dtypes.int32


def mH(x):
    return x.transpose(-2, -1)


def _eye(n: int, like):
    return call("eye", n=n, m=n, dtype=like.dtype.name, _device=like.device_str)


def _diag(v):
    return call("diag_embed", v, offset=0, dim1=-2, dim2=-1)


def _tri(x, upper: bool, diagonal: int = 0):
    return call("triu" if upper else "tril", x, diagonal=diagonal if upper else -diagonal)


def _solve(a, b, left: bool = True):
    """linalg.solve inside a VJP: a singular A gives inf/nan (as torch's lu_solve), no error."""
    return call("linalg_solve_ex", a, b, left=left, check_errors=False)[0]


def _solve_tri(a, b, upper: bool, left: bool = True, unitriangular: bool = False):
    return call("linalg_solve_triangular", a, b, upper=upper, left=left,
                unitriangular=unitriangular)


# ---- argument checks with torch's words -------------------------------------------------------

# What torch says of a float16 or bfloat16 matrix, by function: its LAPACK kernel has neither
# (or the function refuses low precision first). Functions not named compute them (matrix_exp).
_NO_HALF_KERNEL = {
    "cholesky_inverse": "cholesky_inverse_out_cpu", "cholesky_solve": "cholesky_solve_cpu",
    "linalg.det": "lu_cpu", "linalg.lu": "lu_cpu", "torch.linalg.lu_factor_ex": "lu_cpu",
    "linalg.solve": "lu_cpu", "linalg.eigh": "linalg_eigh_cpu",
    "linalg.lu_solve": "linalg.lu_solve_cpu", "linalg.qr": "geqrf_cpu",
    "linalg.solve_triangular": "triangular_solve_cpu",
    "torch.triangular_solve": "triangular_solve_cpu", "linalg.svd": "linalg_svd_cpu",
    "linalg.cholesky": "cholesky_cpu", "cholesky": "cholesky_cpu"}
_NO_LOW_PRECISION = ("linalg.inv", "linalg.slogdet")
_FLOAT_AND_DOUBLE_ONLY = ("linalg.matrix_rank", "torch.linalg.lstsq")


def _refuse_float16(name: str, a) -> None:
    d = a.dtype
    if name == "linalg.pinv":
        raise RuntimeError(f"linalg.pinv({d.long_name}{{{list(a.shape)}}}): expected a tensor with "
                           "2 or more dimensions of float, double, cfloat or cdouble types")
    if name in _NO_HALF_KERNEL:
        raise not_implemented(_NO_HALF_KERNEL[name], d)
    if name in _NO_LOW_PRECISION:
        raise RuntimeError(f"{name}: Low precision dtypes not supported. Got {d.long_name}")
    if name in _FLOAT_AND_DOUBLE_ONLY:
        raise RuntimeError("This function doesn't handle types other than float and double")


def check_matrix(name: str, a, square: bool = True, floating: bool = True) -> None:
    if a.dtype in dtypes.LOW_FLOATS:
        _refuse_float16(name, a)
    if a.ndim < 2:
        raise RuntimeError(f"{name}: The input tensor A must have at least 2 dimensions.")
    if square and a.shape[-1] != a.shape[-2]:
        raise RuntimeError(f"{name}: A must be batches of square matrices, but they are "
                           f"{a.shape[-2]} by {a.shape[-1]} matrices")
    if floating and not a.dtype.is_floating_point:
        raise RuntimeError(f"{name}: Expected a floating point or complex tensor as input. "
                           f"Got {a.dtype.long_name}")


def _det_rule(a):
    check_matrix("linalg.det", a)
    return Meta(a.shape[:-2], a.dtype)


def _raise_singular(a, name: str, how: str) -> None:
    found = lapack.first_singular(a)
    if found is not None:
        b, k = found
        raise LinAlgError(f"{name}: {lapack.batch_prefix(a.shape, b)}" + how.format(k=k))


# ---- det, slogdet -----------------------------------------------------------------------------

def prod_safe_zeros_backward(g, x, dim: int = -1):
    """torch's prod_safe_zeros_backward along `dim`: ∂(Π x)/∂x_i = Π_{j≠i} x_j with
    exclusive cumulative products from both ends (no division, so zeros are fine), times
    g as torch multiplies them (which decides what an inf or a nan makes)."""
    n = x.shape[dim]
    if x.numel() == 0:
        return g.expand(*x.shape)
    shape = list(x.shape)
    shape[dim] = 1
    ones = call("full", shape=shape, value=1.0, dtype=x.dtype.name, _device=x.device_str)
    before = call("cat", ones, x.narrow(dim, 0, n - 1), dim=dim).cumprod(dim)
    rev = x.narrow(dim, 1, n - 1).flip(dim)
    after = call("cat", ones, rev, dim=dim).cumprod(dim).flip(dim)
    return g * (before * after)


def _det_singular(a, g):
    """torch's det gradient through the SVD (no inverse): for |det| < 100 eps."""
    u, s, vh = call("linalg_svd", a, full_matrices=True)
    alpha = call("linalg_det", u) * call("linalg_det", vh) * g
    d = prod_safe_zeros_backward(alpha.unsqueeze(-1), s)
    return (u * d.unsqueeze(-2)).matmul(vh)


def _det_vjp(c, g):
    a, det = c[0], c.out
    n = a.shape[-1]
    if a.numel() == 0:
        return call("full", shape=list(a.shape), value=0.0, dtype=a.dtype.name,
                    _device=a.device_str)
    d = _diag((g * det).unsqueeze(-1).expand(*det.shape, n))
    if not grad_mode.is_grad_enabled():
        # torch's first-order formula: A⁻ᴴ·(g det) by the LU of A (a zero pivot nudged to
        # eps, which only matters where det is 0 and so d is 0 too).
        eye = _eye(n, a)
        exact = (det == 0).unsqueeze(-1).unsqueeze(-1)
        return _solve(mH(call("where", exact, eye, a)), d)
    # Higher order: torch picks per matrix, the SVD formula where |det| < 100 eps.
    singular = det.abs() < 100 * np.finfo(a.dtype.np).eps
    flags = singular._numpy_value()
    if not flags.any():
        return _solve(mH(a), d)
    if flags.all():
        return _det_singular(a, g)
    mask = singular.unsqueeze(-1).unsqueeze(-1)
    regular = _solve(mH(call("where", mask, _eye(n, a), a)), d)
    return call("where", mask, _det_singular(a, g), regular)


def _det(a):
    """det as torch computes it: the product of getrf's pivots, signed by its row swaps (so a
    matrix getrf finds singular has det 0 exactly, as in torch)."""
    if a.shape[-1] == 0:
        return np.ones(a.shape[:-2], a.dtype)
    lu, piv, _ = lapack.lu_factor(a)
    swaps = np.sum(piv != np.arange(1, a.shape[-1] + 1), axis=-1)
    return np.where(swaps % 2, -1, 1) * np.prod(np.diagonal(lu, 0, -2, -1), axis=-1)


defop("linalg_det", _det, _det_rule, _det_vjp,
      node="LinalgDetBackward0", save=(0,), save_out=True)


def _slogdet_rule(a):
    check_matrix("linalg.slogdet", a)
    return Meta(a.shape[:-2], a.dtype), Meta(a.shape[:-2], a.dtype)


def _slogdet_vjp(c, g_sign, g_logabsdet):
    if g_logabsdet is None:  # the sign of a real matrix has a zero derivative
        return None
    a = c[0]
    n = a.shape[-1]
    return _solve(mH(a), _diag(g_logabsdet.unsqueeze(-1).expand(*g_logabsdet.shape, n)))


defop("linalg_slogdet", lambda a: np.linalg.slogdet(a), _slogdet_rule, _slogdet_vjp,
      node="LinalgSlogdetBackward0", save=(0,), save_out=(0,), n_out=2)


# ---- inv, solve -------------------------------------------------------------------------------

def _inv_ex_rule(a, check_errors=False):
    check_matrix("linalg.inv", a)
    return Meta(a.shape, a.dtype), Meta(a.shape[:-2], _INFO)


def _inv_ex(a, check_errors=False):
    _, _, info = lapack.lu_factor(a)
    info = info.astype(np.int64)
    if check_errors:
        _raise_singular(a, "linalg.inv", "The diagonal element {k} is zero, the inversion could "
                                         "not be completed because the input matrix is singular.")
    with np.errstate(all="ignore"):
        if not info.any():
            return np.linalg.inv(a), info
        eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
        lu, piv, _ = lapack.lu_factor(a)
        return lapack.lu_solve(lu, piv, eye), info


def _inv_vjp(c, g, _info=None):
    inv_h = mH(c.out)
    return -inv_h.matmul(g.matmul(inv_h))


defop("linalg_inv_ex", _inv_ex, _inv_ex_rule, _inv_vjp, node="LinalgInvExBackward0",
      save_out=(0,), n_out=2, nondiff_outputs=(1,))


def vector_case(a_shape, b_shape) -> bool:
    """torch's linalg_solve_is_vector_rhs: B is a vector (batch) rather than a matrix."""
    return len(b_shape) == 1 or (len(b_shape) == len(a_shape) - 1
                                 and tuple(b_shape) == tuple(a_shape[:-1]))


def _solve_rule(a, b, left=True, check_errors=False):
    check_matrix("linalg.solve", a)
    if a.dtype is not b.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found "
                           f"A of type {a.dtype.long_name} and B of type {b.dtype.long_name} "
                           f"instead")
    n = a.shape[-1]
    if vector_case(a.shape, b.shape):
        if b.shape[-1] != n:
            raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                               f"AX = B ({n}x{n} and {b.shape[-1]}x1)")
        batch = broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-1]))
        return (Meta(tuple(batch) + (n,), a.dtype),
                Meta(a.shape[:-2], _INFO))
    k = b.shape[-2] if left else b.shape[-1]
    if k != n:
        eq = "AX = B" if left else "XA = B"
        shown = f"{n}x{n} and {b.shape[-2]}x{b.shape[-1]}" if left else \
            f"{b.shape[-2]}x{b.shape[-1]} and {n}x{n}"
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"{eq} ({shown})")
    batch = broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    return (Meta(tuple(batch) + tuple(b.shape[-2:]), a.dtype),
            Meta(a.shape[:-2], _INFO))


def _solve_ex(a, b, left=True, check_errors=False):
    vec = vector_case(a.shape, b.shape)
    if vec:
        b = b[..., None]
    if not left:
        a, b = np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2)
    lu, piv, info = lapack.lu_factor(a)
    if check_errors and info.any():
        b_index = int(np.nonzero(info.reshape(-1))[0][0])
        raise LinAlgError(f"torch.linalg.solve: {lapack.batch_prefix(a.shape, b_index)}The solver "
                          f"failed because the input matrix is singular.")
    with np.errstate(all="ignore"):
        if not info.any():
            batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            x = np.linalg.solve(np.broadcast_to(a, batch + a.shape[-2:]),
                                np.broadcast_to(b, batch + b.shape[-2:]))
        else:
            x = lapack.lu_solve(lu, piv, b)
    if not left:
        x = np.swapaxes(x, -1, -2)
    return (x[..., 0] if vec else x), info


def _solve_vjp(c, g, _info=None):
    a, x = c[0], c.out
    left = c.attrs.get("left", True)
    gb = _solve(mH(a), g, left)
    ga = None
    if c.needs[0]:
        if vector_case(c.shapes[0], c.shapes[1]):
            ga = -gb.unsqueeze(-1) * x.unsqueeze(-2)
        else:
            ga = -gb.matmul(mH(x)) if left else -mH(x).matmul(gb)
        ga = unbroadcast(ga, c.shapes[0])
    return ga, unbroadcast(gb, c.shapes[1]) if c.needs[1] else None


defop("linalg_solve_ex", _solve_ex, _solve_rule, _solve_vjp, node="LinalgSolveExBackward0",
      save=(0,), save_out=True, n_out=2, nondiff_outputs=(1,))


def _solve_triangular_rule(a, b, upper, left=True, unitriangular=False):
    check_matrix("linalg.solve_triangular", a)
    if b.ndim < 2:
        raise RuntimeError("linalg.solve_triangular: The input tensor B must have at least 2 "
                           "dimensions.")
    n = a.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        shown = (f"{n}x{n} and {b.shape[-2]}x{b.shape[-1]}" if left
                 else f"{b.shape[-2]}x{b.shape[-1]} and {n}x{n}")
        raise RuntimeError(f"linalg.solve_triangular: Incompatible shapes of A and B for the "
                           f"equation {'AX = B' if left else 'XA = B'} ({shown})")
    batch = broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2]))
    return Meta(tuple(batch) + tuple(b.shape[-2:]), dtypes.result_type((a, b)))


def _solve_triangular(a, b, upper, left=True, unitriangular=False):
    if left:
        return lapack.solve_triangular(a, b, upper, unitriangular)
    x = lapack.solve_triangular(np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2), not upper,
                                unitriangular)
    return np.swapaxes(x, -1, -2)


def _solve_triangular_vjp(c, g):
    """torch's linalg_solve_triangular_backward."""
    a, x = c[0], c.out
    upper, left, unit = c.attrs["upper"], c.attrs.get("left", True), c.attrs.get("unitriangular",
                                                                                  False)
    gb = _solve_tri(mH(a), g, not upper, left, unit)
    ga = None
    if c.needs[0]:
        ga = -gb.matmul(mH(x)) if left else -mH(x).matmul(gb)
        ga = unbroadcast(_tri(ga, upper, 1 if unit else 0), c.shapes[0])
    return ga, unbroadcast(gb, c.shapes[1]) if c.needs[1] else None


defop("linalg_solve_triangular", _solve_triangular, _solve_triangular_rule,
      _solve_triangular_vjp, node="LinalgSolveTriangularBackward0", save=(0,), save_out=True)


def _triangular_solve_rule(b, a, upper=True, transpose=False, unitriangular=False):
    if b.ndim < 2 or a.ndim < 2:
        raise RuntimeError(f"torch.triangular_solve: Expected b to have at least 2 dimensions, "
                           f"but it has {b.ndim} dimensions instead")
    check_matrix("torch.triangular_solve", a, floating=False)
    batch = tuple(broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-2])))
    return Meta(batch + tuple(b.shape[-2:]), b.dtype), Meta(batch + tuple(a.shape[-2:]), a.dtype)


def _triangular_solve(b, a, upper=True, transpose=False, unitriangular=False):
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    m = np.swapaxes(a, -1, -2) if transpose else a
    x = lapack.solve_triangular(m, b, upper != transpose, unitriangular)
    return x, np.array(np.broadcast_to(a, batch + a.shape[-2:]))


def _triangular_solve_vjp(c, g_x, g_m):
    """torch's triangular_solve_backward."""
    a, x = c[1], c.out
    upper, trans = c.attrs.get("upper", True), c.attrs.get("transpose", False)
    unit = c.attrs.get("unitriangular", False)
    gb = ga = None
    if g_x is not None:
        gb = call("triangular_solve", g_x, a, upper=upper, transpose=not trans,
                  unitriangular=unit)[0]
        if c.needs[1]:
            ga = -x.matmul(mH(gb)) if trans else -gb.matmul(mH(x))
            ga = _tri(ga, upper, 1 if unit else 0)
    if g_m is not None and c.needs[1]:
        ga = g_m if ga is None else ga + g_m
    return (unbroadcast(gb, c.shapes[0]) if c.needs[0] else None,
            unbroadcast(ga, c.shapes[1]) if c.needs[1] and ga is not None else None)


defop("triangular_solve", _triangular_solve, _triangular_solve_rule, _triangular_solve_vjp,
      node="TriangularSolveBackward0", save=(0, 1), save_out=(0,), n_out=2)


# ---- cholesky ---------------------------------------------------------------------------------

def _cholesky_rule(name: str, info: bool):
    def rule(a, upper=False, check_errors=False):
        check_matrix(name, a)
        meta = Meta(a.shape, a.dtype)
        return (meta, Meta(a.shape[:-2], _INFO)) if info else meta

    return rule


def _cholesky(a, upper=False, check_errors=True, name="linalg.cholesky"):
    n = a.shape[-1]
    info = np.zeros(a.shape[:-2], np.int32)
    try:
        low = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        low = np.zeros_like(a)
        flat_a, flat_l, flat_i = a.reshape(-1, n, n), low.reshape(-1, n, n), info.reshape(-1)
        for i in range(flat_a.shape[0]):
            found = lapack.first_not_positive_definite(flat_a[i])
            if found is None:
                flat_l[i] = np.linalg.cholesky(flat_a[i])
            else:
                flat_i[i] = found[1]
                if check_errors:
                    raise LinAlgError(
                        f"{name}: {lapack.batch_prefix(a.shape, i)}The factorization could not "
                        f"be completed because the input is not positive-definite (the leading "
                        f"minor of order {found[1]} is not positive-definite).") from None
    low = np.tril(low)
    return np.swapaxes(low, -1, -2) if upper else low, info


def _cholesky_vjp(c, g, _info=None):
    """torch's cholesky_backward: L⁻ᴴ Φ(Lᴴ gL) L⁻¹, Φ taking the lower triangle with the
    diagonal halved and mirrored."""
    low, gl = c.out, g
    if c.attrs.get("upper", False):
        low, gl = mH(low), mH(gl)
    ga = mH(low).matmul(gl).tril()
    ga = 0.5 * (ga + mH(ga.tril(-1)))
    ga = _solve_tri(mH(low), ga, upper=True, left=True)
    return _solve_tri(low, ga, upper=False, left=False)


defop("linalg_cholesky_ex", lambda a, upper=False, check_errors=False: _cholesky(a, upper, check_errors),
      _cholesky_rule("linalg.cholesky", True), _cholesky_vjp, node="LinalgCholeskyExBackward0",
      save_out=(0,), n_out=2, nondiff_outputs=(1,))
defop("cholesky", lambda a, upper=False: _cholesky(a, upper, True, "cholesky")[0],
      _cholesky_rule("cholesky", False), _cholesky_vjp, node="CholeskyBackward0", save_out=True)


def _cholesky_solve_rule(b, low, upper=False):
    if b.ndim < 2:
        raise RuntimeError(f"b should have at least 2 dimensions, but has {b.ndim} dimensions "
                           f"instead")
    check_matrix("cholesky_solve", low, floating=False)
    batch = tuple(broadcast_shapes(tuple(b.shape[:-2]), tuple(low.shape[:-2])))
    return Meta(batch + tuple(b.shape[-2:]), b.dtype)


def _cholesky_solve(b, low, upper=False):
    if upper:
        low = np.swapaxes(low, -1, -2)
    y = lapack.solve_triangular(low, b, upper=False)
    return lapack.solve_triangular(np.swapaxes(low, -1, -2), y, upper=True)


def _cholesky_solve_vjp(c, g):
    """torch's cholesky_solve_backward."""
    low, x, upper = c[1], c.out, c.attrs.get("upper", False)
    gb = call("cholesky_solve", g, low, upper=upper)
    gl = None
    if c.needs[1]:
        common = gb.matmul(mH(x))
        common = common + mH(common)
        gl = unbroadcast(-low.matmul(common) if upper else -common.matmul(low), c.shapes[1])
    return unbroadcast(gb, c.shapes[0]) if c.needs[0] else None, gl


defop("cholesky_solve", _cholesky_solve, _cholesky_solve_rule, _cholesky_solve_vjp,
      node="CholeskySolveBackward0", save=(0, 1), save_out=True)


def _cholesky_inverse(low, upper=False):
    factor = np.swapaxes(low, -1, -2) if upper else low
    eye = np.broadcast_to(np.eye(low.shape[-1], dtype=low.dtype), low.shape)
    return _cholesky_solve(eye, factor, False)


def _cholesky_inverse_vjp(c, g):
    """torch's cholesky_inverse_backward."""
    low, inv = c[0], c.out
    common = inv.matmul((g + mH(g)).matmul(inv))
    return -low.matmul(common) if c.attrs.get("upper", False) else -common.matmul(low)


def _cholesky_inverse_rule(low, upper=False):
    check_matrix("cholesky_inverse", low, floating=False)
    return Meta(low.shape, low.dtype)


defop("cholesky_inverse", _cholesky_inverse, _cholesky_inverse_rule, _cholesky_inverse_vjp,
      node="CholeskyInverseBackward0", save=(0,), save_out=True)


# ---- qr -----------------------------------------------------------------------------------------

def _qr_rule(a, mode="reduced"):
    check_matrix("linalg.qr", a, square=False)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"qr received unrecognized mode '{mode}' but expected one of "
                           f"'reduced' (default), 'r', or 'complete'")
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    batch = tuple(a.shape[:-2])
    if mode == "r":
        return Meta((0,), a.dtype), Meta(batch + (k, n), a.dtype)
    if mode == "complete":
        return Meta(batch + (m, m), a.dtype), Meta(batch + (m, n), a.dtype)
    return Meta(batch + (m, k), a.dtype), Meta(batch + (k, n), a.dtype)


def _qr(a, mode="reduced"):
    if mode == "r":
        return np.zeros((0,), a.dtype), np.linalg.qr(a, mode="r")
    q, r = np.linalg.qr(a, mode=mode)
    return q, r


def _qr_square_vjp(q, r, gq, gr):
    """torch's linalg_qr_backward for m >= n (reduced): gA = [gQ + Q syminvadj(triu(M))] R⁻ᴴ,
    M = gR Rᴴ - Qᴴ gQ."""
    if gq is not None:
        m = -mH(q).matmul(gq)
        if gr is not None:
            m = gr.matmul(mH(r)) + m
    else:
        m = gr.matmul(mH(r))
    m = m.triu()
    m = m + mH(m)
    m = m - 0.5 * _diag(m.diagonal(0, -2, -1))
    ga = q.matmul(m)
    if gq is not None:
        ga = ga + gq
    return _solve_tri(mH(r), ga, upper=False, left=False)


def _qr_vjp(c, gq, gr):
    mode = c.attrs.get("mode", "reduced")
    if mode == "r":
        raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when "
                           "mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to "
                           "differentiate through linalg.qr.")
    q, r = c.outs
    m, n = c.shapes[0][-2], c.shapes[0][-1]
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and "
                           "nrows > ncols.")
    if m >= n:
        return _qr_square_vjp(q, r, gq, gr)
    # A = Q [R1 R2] with A's first m columns X = Q R1 and the rest Y = Q R2 (R2 = Qᴴ Y); as
    # torch, Y from Q and R, the node's only saved tensors
    y = q.matmul(r.narrow(-1, m, n - m))
    gq_all = gq
    gy = None
    if gr is not None:
        gr2 = gr.narrow(-1, m, n - m)
        gy = q.matmul(gr2)
        extra = y.matmul(mH(gr2))
        gq_all = extra if gq is None else gq + extra
        gr1 = gr.narrow(-1, 0, m)
    else:
        gr1 = None
    gx = _qr_square_vjp(q, r.narrow(-1, 0, m), gq_all, gr1)
    if gy is None:
        gy = call("full", shape=list(y.shape), value=0.0, dtype=y.dtype.name, _device=y.device_str)
    return call("cat", gx, gy, dim=-1)


defop("linalg_qr", _qr, _qr_rule, _qr_vjp, node="LinalgQrBackward0", save_out=True,
      n_out=2)


# ---- geqrf, householder_product (orgqr) ---------------------------------------------------------

def _geqrf_rule(a):
    if a.ndim < 2:
        raise RuntimeError("torch.geqrf: input must have at least 2 dimensions.")
    if not a.dtype.is_floating_point or a.dtype in dtypes.LOW_FLOATS:
        raise not_implemented("geqrf_cpu", a.dtype)
    k = min(a.shape[-2], a.shape[-1])
    return Meta(a.shape, a.dtype), Meta(tuple(a.shape[:-2]) + (k,), a.dtype)


def _geqrf(a):
    """LAPACK's geqrf (numpy's raw QR, which returns the factors transposed)."""
    if a.size == 0:
        return a.copy(), np.zeros(a.shape[:-2] + (min(a.shape[-2:]),), a.dtype)
    h, tau = np.linalg.qr(a, mode="raw")
    return np.ascontiguousarray(np.swapaxes(h, -1, -2)), tau


# (no VJP: torch has none; matrix_functions.geqrf gives the results torch's refusing node)
defop("geqrf", _geqrf, _geqrf_rule, n_out=2)


def _householder_rule(a, tau):
    name = "torch.linalg.householder_product"
    if a.ndim < 2:
        raise RuntimeError(f"{name}: input must have at least 2 dimensions.")
    if a.shape[-2] < a.shape[-1]:
        raise RuntimeError(f"{name}: input.shape[-2] must be greater than or equal to "
                           "input.shape[-1]")
    if a.shape[-1] < tau.shape[-1]:
        raise RuntimeError(f"{name}: input.shape[-1] must be greater than or equal to "
                           "tau.shape[-1]")
    if a.ndim - tau.ndim != 1:
        raise RuntimeError(f"{name}: Expected tau to have one dimension less than input, but "
                           f"got tau.ndim equal to {tau.ndim} and input.ndim is equal to {a.ndim}")
    if tuple(tau.shape[:-1]) != tuple(a.shape[:-2]):
        raise RuntimeError(f"{name}: Expected batch dimensions of tau to be equal to "
                           f"input.shape[:-2], but got {list(tau.shape[:-1])}")
    if tau.dtype != a.dtype:
        raise RuntimeError(f"{name}: tau dtype {tau.dtype.long_name} does not match input "
                           f"dtype {a.dtype.long_name}")
    if not a.dtype.is_floating_point or a.dtype in dtypes.LOW_FLOATS:
        raise not_implemented("orgqr_cpu", a.dtype)
    return Meta(a.shape, a.dtype)


def _householder_product(a, tau):
    """The first n columns of H_1 ⋯ H_k, H_i = I - τ_i v_i v_iᵀ with v_i the i-th column of
    a below its diagonal after a 1 (LAPACK's orgqr, applied to the identity from the right
    end)."""
    m, n = a.shape[-2:]
    k = tau.shape[-1]
    v = np.tril(a[..., :k], -1) + np.eye(m, k, dtype=a.dtype)
    q = np.broadcast_to(np.eye(m, n, dtype=a.dtype), a.shape).copy()
    for i in reversed(range(k)):
        vi = v[..., i:i + 1]
        q -= tau[..., i, None, None] * (vi @ (np.swapaxes(vi, -1, -2) @ q))
    return q


def _householder_vjp(c, g):
    """Back through Q = H_1 ⋯ H_k E one reflector at a time: for Y = H_i X, with
    H_i = I - τ vvᵀ, gX = H_i gY, gτ = -vᵀ gY Xᵀ v and gv = -τ (gY Xᵀ v + X gYᵀ v); a's
    gradient is gv below the diagonal (the rest of a is not read)."""
    a, tau = c[0], c[1]
    m, n = a.shape[-2], a.shape[-1]
    k = tau.shape[-1]
    if k == 0:  # (no reflectors: torch gives neither input a gradient)
        return None, None
    eye = call("eye", n=m, m=n, dtype=a.dtype.name, _device=a.device_str)
    v = (a.tril(-1) + eye).narrow(-1, 0, k)
    vs = [v.narrow(-1, i, 1) for i in range(k)]
    taus = [tau.narrow(-1, i, 1).unsqueeze(-1) for i in range(k)]
    reflected = [None] * k  # reflected[i]: the matrix H_i multiplies, H_{i+1} ⋯ H_k E
    x = eye
    for i in reversed(range(k)):
        reflected[i] = x
        x = x - taus[i] * vs[i].matmul(mH(vs[i]).matmul(x))
    gvs, gtaus = [], []
    for vi, ti, xi in zip(vs, taus, reflected):
        g_xv = g.matmul(mH(xi).matmul(vi))
        x_gv = xi.matmul(mH(g).matmul(vi))
        gtaus.append(-mH(vi).matmul(g_xv))
        gvs.append(-ti * (g_xv + x_gv))
        g = g - ti * vi.matmul(mH(vi).matmul(g))
    ga = call("cat", *gvs, dim=-1)
    if k < n:
        ga = call("cat", ga, zeros_grad(a.shape[:-1] + (n - k,), a.dtype, a.device_str), dim=-1)
    return ga.tril(-1), call("cat", *gtaus, dim=-1).squeeze(-2)


defop("linalg_householder_product", _householder_product, _householder_rule, _householder_vjp,
      node="LinalgHouseholderProductBackward0", save=(0, 1), save_out=True,
      params=("input", "tau"))


# ---- svd, eigh ----------------------------------------------------------------------------------

def _svd_rule(a, full_matrices=True):
    check_matrix("linalg.svd", a, square=False)
    m, n = a.shape[-2], a.shape[-1]
    k = min(m, n)
    batch = tuple(a.shape[:-2])
    mu, nv = (m, n) if full_matrices else (k, k)
    return (Meta(batch + (m, mu), a.dtype), Meta(batch + (k,), a.dtype),
            Meta(batch + (nv, n), a.dtype))


def _svd(a, full_matrices=True):
    if a.size == 0:
        m, n = a.shape[-2:]
        k = min(m, n)
        batch = a.shape[:-2]
        eye = lambda d: np.broadcast_to(np.eye(d, dtype=a.dtype), batch + (d, d)).copy()  # noqa: E731
        return ((eye(m) if full_matrices else np.zeros(batch + (m, k), a.dtype)),
                np.zeros(batch + (k,), a.dtype),
                (eye(n) if full_matrices else np.zeros(batch + (k, n), a.dtype)))
    return np.linalg.svd(a, full_matrices=full_matrices)


def _svd_vjp(c, gu, gs, gvh):
    """torch's svd_backward (real inputs: the singular vectors are defined up to sign, which
    no real loss can depend on smoothly, so torch raises nothing here)."""
    u, s, vh = c.outs
    m, n = c.shapes[0][-2], c.shapes[0][-1]
    k = s.shape[-1]
    if c.attrs.get("full_matrices", True):
        u, vh = u.narrow(-1, 0, k), vh.narrow(-2, 0, k)
        gu = gu.narrow(-1, 0, k) if gu is not None else None
        gvh = gvh.narrow(-2, 0, k) if gvh is not None else None
    if gu is None and gvh is None:
        return (u.matmul(gs.unsqueeze(-1) * vh) if m >= n else (u * gs.unsqueeze(-2)).matmul(vh))
    v = mH(vh)
    gv = mH(gvh) if gvh is not None else None
    uhgu = None
    if gu is not None:
        uhgu = mH(u).matmul(gu)
        uhgu = uhgu - mH(uhgu)
    vhgv = None
    if gv is not None:
        vhgv = vh.matmul(gv)
        vhgv = vhgv - mH(vhgv)
    s2 = s * s
    e = s2.unsqueeze(-2) - s2.unsqueeze(-1)
    e = e + _diag(call("full", shape=list(s.shape), value=1.0, dtype=s.dtype.name,
                       _device=s.device_str))
    if uhgu is not None and vhgv is not None:
        ga = (uhgu * s.unsqueeze(-2) + s.unsqueeze(-1) * vhgv) / e
    elif uhgu is not None:
        ga = (uhgu / e) * s.unsqueeze(-2)
    else:
        ga = s.unsqueeze(-1) * (vhgv / e)
    if gs is not None:
        ga = ga + _diag(gs)
    if m > n and gu is not None:
        ga = u.matmul(ga)
        gusinv = gu / s.unsqueeze(-2)
        ga = ga + gusinv - u.matmul(mH(u).matmul(gusinv))
        return ga.matmul(vh)
    if m < n and gv is not None:
        ga = ga.matmul(vh)
        gvsinv = gv / s.unsqueeze(-2)
        ga = ga + mH(gvsinv) - mH(gvsinv).matmul(v).matmul(vh)
        return u.matmul(ga)
    return u.matmul(ga.matmul(vh)) if m >= n else u.matmul(ga).matmul(vh)


defop("linalg_svd", _svd, _svd_rule, _svd_vjp, node="LinalgSvdBackward0", save_out=True, n_out=3)


def _eigh_rule(a, UPLO="L"):
    check_matrix("linalg.eigh", a)
    if UPLO not in ("L", "U", "l", "u"):
        raise RuntimeError(f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return Meta(a.shape[:-1], a.dtype), Meta(a.shape, a.dtype)


def _eigh_vjp(c, gl, gv):
    """torch's linalg_eig_backward for Hermitian A: V (diag(gL) + (Vᴴ gV)/E) Vᴴ with
    E_ij = λ_j - λ_i (the diagonal of Vᴴ gV dropped)."""
    lam, v = c.outs
    if gv is None:
        return v.matmul(gl.unsqueeze(-1) * mH(v))
    vhgv = mH(v).matmul(gv)
    vhgv = 0.5 * (vhgv - mH(vhgv))  # onto the skew-symmetric matrices (the tangent space)
    e = lam.unsqueeze(-2) - lam.unsqueeze(-1)
    n = lam.shape[-1]
    eye = call("eye", n=n, m=n, dtype="bool", _device=lam.device_str)
    ret = call("where", eye, call("full", shape=[], value=0.0, dtype=lam.dtype.name,
                                  _device=lam.device_str), vhgv / call("where", eye, 1.0, e))
    if gl is not None:
        ret = ret + _diag(gl)
    return v.matmul(ret.matmul(mH(v)))


defop("linalg_eigh", lambda a, UPLO="L": np.linalg.eigh(a, UPLO=UPLO.upper()), _eigh_rule,
      _eigh_vjp, node="LinalgEighBackward0", save_out=True, n_out=2)


# ---- pinv, matrix_exp -----------------------------------------------------------------------------

def _pinv_rule(a, atol=None, rtol=None, hermitian=False):
    check_matrix("linalg.pinv", a, square=False)
    return Meta(tuple(a.shape[:-2]) + (a.shape[-1], a.shape[-2]), a.dtype)


def pinv_tolerances(a_dtype, m: int, n: int, atol, rtol):
    """torch's defaults: rtol = eps·max(m, n) when neither is given, else 0 for the missing one."""
    if rtol is None:
        rtol = np.finfo(a_dtype).eps * max(m, n) if atol is None or atol <= 0 else 0.0
    return atol or 0.0, rtol


def _pinv(a, atol=None, rtol=None, hermitian=False):
    m, n = a.shape[-2:]
    atol, rtol = pinv_tolerances(a.dtype, m, n, atol, rtol)
    if a.size == 0:
        return np.zeros(a.shape[:-2] + (n, m), a.dtype)
    if hermitian:
        w, v = np.linalg.eigh(a)
        aw = np.abs(w)
        cut = np.maximum(atol, rtol * np.max(aw, axis=-1, keepdims=True))
        inv = np.where(aw > cut, 1 / np.where(aw > cut, w, 1), 0)
        return (v * inv[..., None, :]) @ np.swapaxes(v, -1, -2)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    cut = np.maximum(atol, rtol * np.max(s, axis=-1, keepdims=True))
    inv = np.where(s > cut, 1 / np.where(s > cut, s, 1), 0)
    return (np.swapaxes(vh, -1, -2) * inv[..., None, :]) @ np.swapaxes(u, -1, -2)


def _pinv_vjp(c, g):
    return _pinv_vjp_of(c[0], c.out, g)


def _pinv_vjp_of(a, p, g):
    """torch's pinv_backward."""
    m, n = a.shape[-2], a.shape[-1]
    ph, gh = mH(p), mH(g)
    if m <= n:
        k = gh.matmul(p)
        kph = k.matmul(ph)
        return (-mH(p.matmul(k)) + kph - a.matmul(p).matmul(kph)
                + ph.matmul(p).matmul(gh - k.matmul(a)))
    k = p.matmul(gh)
    phk = ph.matmul(k)
    return (-mH(k.matmul(p)) + (gh - a.matmul(k)).matmul(p).matmul(ph) + phk
            - phk.matmul(p).matmul(a))


defop("linalg_pinv", _pinv, _pinv_rule, _pinv_vjp, node="LinalgPinvBackward0", save=(0,),
      save_out=True)


def _matrix_exp_rule(a):
    check_matrix("linalg.matrix_exp", a)
    return Meta(a.shape, a.dtype)


def _matrix_exp_vjp(c, g):
    """torch's linalg_matrix_exp_differential(A, g, adjoint): the top-right block of
    exp([[Aᴴ, g], [0, Aᴴ]])."""
    ah = mH(c[0])
    n = ah.shape[-1]
    zero = call("full", shape=list(ah.shape), value=0.0, dtype=ah.dtype.name,
                _device=ah.device_str)
    top = call("cat", ah, g, dim=-1)
    bottom = call("cat", zero, ah, dim=-1)
    big = call("linalg_matrix_exp", call("cat", top, bottom, dim=-2))
    return big.narrow(-2, 0, n).narrow(-1, n, n)


defop("linalg_matrix_exp", lapack.matrix_exp, _matrix_exp_rule, _matrix_exp_vjp,
      node="LinalgMatrixExpBackward0", save=(0,))


# ---- lstsq ----------------------------------------------------------------------------------------

_LSTSQ_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def _lstsq_rule(a, b, rcond=None, driver=None):
    check_matrix("torch.linalg.lstsq", a, square=False)
    if driver not in (None,) + _LSTSQ_DRIVERS:
        raise RuntimeError(f"torch.linalg.lstsq: parameter `driver` should be one of "
                           f"(gels, gelsy, gelsd, gelss)")
    if a.dtype is not b.dtype:
        raise RuntimeError(f"torch.linalg.lstsq: Expected input and other to have the same "
                           f"dtype, but got input's dtype {a.dtype.long_name} and other's "
                           f"dtype {b.dtype.long_name}")
    m, n = a.shape[-2:]
    if not 0 <= a.ndim - b.ndim <= 1:
        raise RuntimeError("torch.linalg.lstsq: input.dim() must be greater or equal to "
                           "other.dim() and (input.dim() - other.dim()) <= 1")
    vec = a.ndim - b.ndim == 1
    if (b.shape[-1] if vec else b.shape[-2]) != m:
        raise RuntimeError(f"torch.linalg.lstsq: input.size(-2) should match other.size(-"
                           f"{1 if vec else 2})")
    batch = tuple(broadcast_shapes(tuple(a.shape[:-2]), tuple(b.shape[:-1 if vec else -2])))
    x = batch + ((n,) if vec else (n, b.shape[-1]))
    driver = driver or "gelsy"
    k = (1,) if vec else (b.shape[-1],)
    residuals = batch + k if driver != "gelsy" and m > n else (0,)
    rank = batch if driver != "gels" else (0,)
    sv = batch + (min(m, n),) if driver in ("gelsd", "gelss") else (0,)
    return (Meta(x, a.dtype), Meta(residuals, a.dtype), Meta(rank, dtypes.int64),
            Meta(sv, a.dtype))


def _lstsq(a, b, rcond=None, driver=None):
    """The minimum-norm least-squares solution (what every driver gives for a full-rank A, and
    gelsy/gelsd/gelss for any), with the extras each driver reports as torch does on CPU:
    residuals only for m > n when every matrix has full rank (not from gelsy), the rank
    (not from gels), the singular values (gelsd and gelss)."""
    driver = driver or "gelsy"
    m, n = a.shape[-2:]
    vec = a.ndim - b.ndim == 1
    if vec:
        b = b[..., None]
    if rcond is None or rcond < 0:
        rcond = np.finfo(a.dtype).eps * max(m, n)
    s = np.linalg.svd(a, compute_uv=False) if a.size else np.zeros(a.shape[:-2] + (0,), a.dtype)
    x = _pinv(a, 0.0, rcond) @ b
    top = np.max(s, axis=-1, keepdims=True) if s.shape[-1] else np.zeros(s.shape[:-1] + (1,))
    rank = np.sum(s > rcond * top, axis=-1).astype(np.int64)
    batch = x.shape[:-2]
    residuals = np.zeros((0,), a.dtype)
    if driver != "gelsy" and m > n:
        residuals = np.zeros(batch + x.shape[-1:], a.dtype)
        if np.all(rank == n):
            residuals = np.sum((a @ x - b) ** 2, axis=-2)  # (a vector B's keeps its 1)
    rank = np.broadcast_to(rank, batch).copy() if driver != "gels" else np.zeros((0,), np.int64)
    sv = (np.broadcast_to(s, batch + s.shape[-1:]).copy() if driver in ("gelsd", "gelss")
          else np.zeros((0,), a.dtype))
    return (x[..., 0] if vec else x), residuals, rank, sv


def _lstsq_vjp(c, gx, gres, _rank=None, _sv=None):
    """torch's linalg_lstsq_backward: through pinv(A) (the solution is pinv(A) B), and for
    the residuals ‖AX - B‖² the gradient at the optimum, 2 r gL Xᴴ and -2 r gL."""
    a, b = c[0], c[1]
    x = c.out
    vec = len(c.shapes[0]) - len(c.shapes[1]) == 1
    if vec:
        b, x = b.unsqueeze(-1), x.unsqueeze(-1)
        gx = gx.unsqueeze(-1) if gx is not None else None
    ga = gb = None
    if gx is not None:
        p = call("linalg_pinv", a)
        if c.needs[0]:
            ga = _pinv_vjp_of(a, p, gx.matmul(mH(b)))
        if c.needs[1]:
            gb = mH(p).matmul(gx)
    if gres is not None and gres.numel():
        r = (a.matmul(x) - b) * (2 * gres.unsqueeze(-2))
        if c.needs[0]:
            ga = _add(ga, r.matmul(mH(x)))
        if c.needs[1]:
            gb = _add(gb, -r)
    if vec and gb is not None:
        gb = gb.squeeze(-1)
    return (unbroadcast(ga, c.shapes[0]) if c.needs[0] else None,
            unbroadcast(gb, c.shapes[1]) if c.needs[1] else None)


def _add(a, b):
    return b if a is None else a + b


defop("linalg_lstsq", _lstsq, _lstsq_rule, _lstsq_vjp, node="LinalgLstsqBackward0",
      save=(0, 1), save_out=(0,), n_out=4, nondiff_outputs=(2, 3))


# ---- lu_factor, lu, lu_solve ---------------------------------------------------------------------

def _lu_shapes(a):
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = tuple(a.shape[:-2])
    return m, n, k, batch


def _lu_factor_rule(a, pivot=True, check_errors=False):
    check_matrix("torch.linalg.lu_factor_ex", a, square=False)
    m, n, k, batch = _lu_shapes(a)
    return Meta(a.shape, a.dtype), Meta(batch + (k,), _INFO), Meta(batch, _INFO)


def _lu_factor(a, pivot=True, check_errors=False):
    if not pivot:
        raise RuntimeError("linalg.lu_factor: LU without pivoting is not implemented on the CPU")
    return lapack.lu_factor(a)


def _lu_backward(gl, gu, p, low, up):
    """torch's linalg_lu_backward: A = P L U. Square: P L⁻ᴴ [tril₋₁(Lᴴ gL) + triu(gU Uᴴ)] U⁻ᴴ;
    a wide A's trailing columns and a tall A's trailing rows through the square part."""
    m, n = low.shape[-2], up.shape[-1]
    k = min(m, n)
    zeros = lambda x: call("full", shape=list(x.shape), value=0.0, dtype=x.dtype.name,  # noqa: E731
                           _device=x.device_str)
    gl = gl if gl is not None else zeros(low)
    gu = gu if gu is not None else zeros(up)
    if m < n:
        u1, u2 = up.narrow(-1, 0, k), up.narrow(-1, k, n - k)
        gu2 = _solve_tri(mH(low), gu.narrow(-1, k, n - k), upper=True, unitriangular=True)
        gl = (gl - gu2.matmul(mH(u2))).tril(-1)
        ga = _lu_backward_square(gl, gu.narrow(-1, 0, k), low, u1)
        return p.matmul(call("cat", ga, gu2, dim=-1))
    if m > n:
        l1, l2 = low.narrow(-2, 0, k), low.narrow(-2, k, m - k)
        gl2 = _solve_tri(mH(up), gl.narrow(-2, k, m - k), upper=False, left=False)
        gu = (gu - mH(l2).matmul(gl2)).triu()
        ga = _lu_backward_square(gl.narrow(-2, 0, k), gu, l1, up)
        return p.matmul(call("cat", ga, gl2, dim=-2))
    return p.matmul(_lu_backward_square(gl, gu, low, up))


def _lu_backward_square(gl, gu, low, up):
    ga = mH(low).matmul(gl).tril(-1) + gu.matmul(mH(up)).triu()
    ga = _solve_tri(mH(low), ga, upper=True, left=True, unitriangular=True)
    return _solve_tri(mH(up), ga, upper=False, left=False)


def _unpacked(lu, pivots):
    """P (a constant), L and U (differentiable in LU) from getrf's factors."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    p = call("lu_unpack_p", lu.detach(), pivots)
    eye = call("eye", n=m, m=k, dtype=lu.dtype.name, _device=lu.device_str)
    return p, lu.narrow(-1, 0, k).tril(-1) + eye, lu.narrow(-2, 0, k).triu()


defop("lu_unpack_p", lambda lu, pivots: lapack.unpack(lu, pivots)[0],
      lambda lu, pivots: Meta(tuple(lu.shape[:-1]) + (lu.shape[-2],), lu.dtype))


def _lu_unpack_rule(lu, pivots, unpack_data=True, unpack_pivots=True):
    if lu.ndim < 2:
        raise RuntimeError(f"torch.lu_unpack: Expected tensor with 2 or more dimensions. Got "
                           f"size: {list(lu.shape)} instead")
    if unpack_pivots and pivots.dtype is not _INFO:
        raise RuntimeError("torch.lu_unpack: LU_pivots is expected to be a contiguous tensor of "
                           "torch.int32 dtype.\nNote: this function is intended to be used with "
                           "the output produced by torch.linalg.lu_factor")
    m, n, k, batch = _lu_shapes(lu)
    empty = Meta((0,), lu.dtype)
    return (Meta(batch + (m, m), lu.dtype) if unpack_pivots else empty,
            Meta(batch + (m, k), lu.dtype) if unpack_data else empty,
            Meta(batch + (k, n), lu.dtype) if unpack_data else empty)


def _lu_unpack(lu, pivots, unpack_data=True, unpack_pivots=True):
    if not unpack_pivots:  # (pivots unread: no swaps)
        pivots = np.arange(1, min(lu.shape[-2:]) + 1, dtype=np.int32)
    pivots = np.broadcast_to(pivots, lu.shape[:-2] + pivots.shape[-1:])
    p, low, up = lapack.unpack(lu, pivots)
    empty = np.zeros((0,), lu.dtype)
    return (p if unpack_pivots else empty, low if unpack_data else empty,
            up if unpack_data else empty)


def _lu_unpack_vjp(c, _gp, gl, gu):
    """torch's lu_unpack_backward: L's gradient below the diagonal and U's on and above it,
    each where its factor was read from the packed (m, n) matrix."""
    m, n = c.shapes[0][-2:]
    k = min(m, n)
    parts = []
    if gl is not None:
        parts.append(call("constant_pad_nd", gl.tril(-1), pad=[0, n - k]))
    if gu is not None:
        parts.append(call("constant_pad_nd", gu.triu(), pad=[0, 0, 0, m - k]))
    return (parts[0] if len(parts) == 1 else parts[0] + parts[1]) if parts else None, None


defop("lu_unpack", _lu_unpack, _lu_unpack_rule, _lu_unpack_vjp, node="LuUnpackBackward0",
      n_out=3, nondiff_outputs=(0,), differentiable=(0,), params=("LU_data", "LU_pivots"))


def _lu_factor_vjp(c, g, _pivots=None, _info=None):
    """torch's lu_factor_ex_backward: the packed gradient split into L's and U's."""
    lu, pivots = c.outs[0], c.outs[1]
    p, low, up = _unpacked(lu, pivots)
    m, n = lu.shape[-2:]
    k = min(m, n)
    return _lu_backward(g.narrow(-1, 0, k).tril(-1), g.narrow(-2, 0, k).triu(), p, low, up)


defop("linalg_lu_factor_ex", _lu_factor, _lu_factor_rule, _lu_factor_vjp,
      node="LinalgLuFactorExBackward0", save_out=True, n_out=3, nondiff_outputs=(1, 2))


def _lu_rule(a, pivot=True):
    check_matrix("linalg.lu", a, square=False)
    m, n, k, batch = _lu_shapes(a)
    return Meta(batch + (m, m), a.dtype), Meta(batch + (m, k), a.dtype), Meta(batch + (k, n), a.dtype)


def _lu(a, pivot=True):
    lu, piv, _ = _lu_factor(a, pivot)
    return lapack.unpack(lu, piv)


defop("linalg_lu", _lu, _lu_rule, lambda c, gp, gl, gu: _lu_backward(gl, gu, *c.outs),
      node="LinalgLuBackward0", save_out=True, n_out=3, nondiff_outputs=(0,))


def _lu_solve_rule(lu, pivots, b, left=True, adjoint=False):
    check_matrix("linalg.lu_solve", lu)
    n = lu.shape[-1]
    if (b.shape[-2] if left else b.shape[-1]) != n:
        raise RuntimeError(f"linalg.lu_solve: Incompatible shapes of A and B for the equation "
                           f"{'AX = B' if left else 'XA = B'} ({n}x{n} and "
                           f"{b.shape[-2]}x{b.shape[-1]})")
    batch = tuple(broadcast_shapes(tuple(lu.shape[:-2]), tuple(b.shape[:-2])))
    return Meta(batch + tuple(b.shape[-2:]), b.dtype)


def _lu_solve(lu, pivots, b, left=True, adjoint=False):
    if left:
        return lapack.lu_solve(lu, pivots, b, adjoint)
    # X A = B  <=>  Aᴴ Xᴴ = Bᴴ
    return np.swapaxes(lapack.lu_solve(lu, pivots, np.swapaxes(b, -1, -2), not adjoint), -1, -2)


def _lu_solve_vjp(c, g):
    """B's gradient is a solve with the adjoint system; LU's is A's gradient (-gB Xᴴ and its
    three siblings) pulled back through A = P L U onto L's strict lower and U's upper part."""
    lu, pivots, x = c[0], c[1], c.out
    left, adjoint = c.attrs.get("left", True), c.attrs.get("adjoint", False)
    gb = call("linalg_lu_solve", lu, pivots, g, left=left, adjoint=not adjoint)
    glu = None
    if c.needs[0]:
        if left:
            ga = -x.matmul(mH(gb)) if adjoint else -gb.matmul(mH(x))
        else:
            ga = -mH(gb).matmul(x) if adjoint else -mH(x).matmul(gb)
        ga = unbroadcast(ga, c.shapes[0])
        p, low, up = _unpacked(lu, pivots)
        pga = mH(p).matmul(ga)
        glu = pga.matmul(mH(up)).tril(-1) + mH(low).matmul(pga).triu()
    return glu, None, unbroadcast(gb, c.shapes[2]) if c.needs[2] else None


defop("linalg_lu_solve", _lu_solve, _lu_solve_rule, _lu_solve_vjp, node="LinalgLuSolveBackward0",
      save=(0, 1), save_out=True, differentiable=(0, 2))
