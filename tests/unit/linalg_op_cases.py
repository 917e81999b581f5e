"""Op cases for distgrad.linalg and torch's matrix functions (det, inv, solve, cholesky, qr,
svd, eigh, pinv, matrix_exp, ...), added to op_cases.CASES and ERRORS: test_ops runs them
against torch (values, dtypes, grad_fn names and edges, first- and second-order gradients)
and against float64 finite differences. Eigen- and singular vectors enter only through
sign-invariant expressions (U Vh, V² column-wise, V f(Λ) Vᴴ), where torch's are not
determined; Q and R of QR are LAPACK's in both."""
from __future__ import annotations

from op_cases import F, I, K, case, error  # noqa: F401


def spd(T, x):
    """A well-conditioned symmetric positive-definite matrix (batch) from x."""
    n = x.shape[-1]
    return x @ x.mT + n * T.eye(n, dtype=x.dtype)


def well(T, x):
    """x moved away from singularity: x + n·I."""
    return x + x.shape[-1] * T.eye(x.shape[-1], dtype=x.dtype)


# ---- det, slogdet, logdet, inv ---------------------------------------------------------------------

case("linalg_det", lambda T, a: T.linalg.det(a), F(3, 3), covers="linalg_det")
case("linalg_det_batch", lambda T, a: T.det(a), F(2, 4, 4), covers="linalg_det")
case("det_method_1x1", lambda T, a: a.det(), F(2, 1, 1), covers="linalg_det")
case("linalg_slogdet", lambda T, a: tuple(T.linalg.slogdet(a)), F(2, 3, 3), covers="linalg_slogdet")
case("slogdet_method", lambda T, a: tuple(a.slogdet()), F(3, 3), covers="linalg_slogdet")
case("logdet", lambda T, a: T.logdet(spd(T, a)), F(2, 3, 3),
     covers=("linalg_slogdet", "where"))
case("linalg_inv", lambda T, a: T.linalg.inv(well(T, a)), F(2, 3, 3), covers="linalg_inv_ex")
case("inverse_method", lambda T, a: a.inverse(), F(3, 3), covers="linalg_inv_ex")
case("linalg_inv_ex", lambda T, a: (lambda r: (r.inverse, r.info))(T.linalg.inv_ex(well(T, a))), F(3, 3),
     covers="linalg_inv_ex")

# ---- solves --------------------------------------------------------------------------------------

case("linalg_solve", lambda T, a, b: T.linalg.solve(well(T, a), b), F(3, 3), F(3, 2),
     covers="linalg_solve_ex")
case("linalg_solve_bcast", lambda T, a, b: T.linalg.solve(well(T, a), b), F(2, 3, 3), F(3, 4),
     covers="linalg_solve_ex")
case("linalg_solve_vector", lambda T, a, b: T.linalg.solve(well(T, a), b), F(2, 3, 3), F(3),
     covers="linalg_solve_ex")
case("linalg_solve_batch_vector", lambda T, a, b: T.linalg.solve(well(T, a), b), F(2, 3, 3),
     F(2, 3), covers="linalg_solve_ex")
case("linalg_solve_right", lambda T, a, b: T.linalg.solve(well(T, a), b, left=False), F(3, 3),
     F(2, 3), covers="linalg_solve_ex")
case("linalg_solve_triangular_upper",
     lambda T, a, b: T.linalg.solve_triangular(well(T, a), b, upper=True), F(2, 3, 3), F(3, 2),
     covers="linalg_solve_triangular")
case("linalg_solve_triangular_lower_right_unit",
     lambda T, a, b: T.linalg.solve_triangular(a, b, upper=False, left=False, unitriangular=True),
     F(3, 3), F(2, 3), covers="linalg_solve_triangular")
case("triangular_solve", lambda T, b, a: tuple(T.triangular_solve(b, well(T, a))), F(3, 2),
     F(3, 3), covers="triangular_solve")
case("triangular_solve_lower_transpose",
     lambda T, b, a: tuple(b.triangular_solve(well(T, a), upper=False, transpose=True)),
     F(2, 3, 2), F(3, 3), covers="triangular_solve")

# ---- cholesky ------------------------------------------------------------------------------------

case("linalg_cholesky", lambda T, a: T.linalg.cholesky(spd(T, a)), F(2, 3, 3),
     covers="linalg_cholesky_ex")
case("linalg_cholesky_upper", lambda T, a: T.linalg.cholesky(spd(T, a), upper=True), F(3, 3),
     covers="linalg_cholesky_ex")
case("linalg_cholesky_ex", lambda T, a: (lambda r: (r.L, r.info))(T.linalg.cholesky_ex(spd(T, a))), F(3, 3),
     covers="linalg_cholesky_ex")
case("cholesky", lambda T, a: T.cholesky(spd(T, a)), F(3, 3), covers="cholesky")
case("cholesky_method_upper", lambda T, a: spd(T, a).cholesky(upper=True), F(2, 3, 3),
     covers="cholesky")
case("cholesky_solve", lambda T, b, a: T.cholesky_solve(b, T.linalg.cholesky(spd(T, a))),
     F(3, 2), F(3, 3), covers=("cholesky_solve", "linalg_cholesky_ex"))
case("cholesky_solve_upper",
     lambda T, b, a: b.cholesky_solve(T.linalg.cholesky(spd(T, a), upper=True), upper=True),
     F(2, 3, 2), F(3, 3), covers="cholesky_solve")
case("cholesky_inverse", lambda T, a: T.cholesky_inverse(T.linalg.cholesky(spd(T, a))),
     F(2, 3, 3), covers="cholesky_inverse")
case("cholesky_inverse_upper",
     lambda T, a: T.linalg.cholesky(spd(T, a), upper=True).cholesky_inverse(upper=True),
     F(3, 3), covers="cholesky_inverse")

# ---- qr, svd, eigh -------------------------------------------------------------------------------

case("linalg_qr", lambda T, a: tuple(T.linalg.qr(a)), F(2, 4, 3), covers="linalg_qr")
case("linalg_qr_square", lambda T, a: tuple(T.linalg.qr(a)), F(3, 3), covers="linalg_qr")
case("linalg_qr_wide", lambda T, a: tuple(T.linalg.qr(a)), F(3, 5), covers="linalg_qr")
case("linalg_qr_complete_wide", lambda T, a: tuple(T.linalg.qr(a, mode="complete")), F(2, 4),
     covers="linalg_qr")
case("linalg_qr_r", lambda T, a: T.linalg.qr(a.detach(), mode="r")[1], K(4, 3), covers="linalg_qr")
case("qr_method", lambda T, a: tuple(a.qr()), F(4, 3), covers="linalg_qr")
case("linalg_householder_product", lambda T, a, t: T.linalg.householder_product(a, t), F(4, 3),
     F(2), covers="linalg_householder_product")
case("householder_product_batch_square", lambda T, a, t: T.linalg.householder_product(a, t),
     F(2, 3, 3), F(2, 3), covers="linalg_householder_product")
case("householder_product_no_reflectors", lambda T, a, t: T.linalg.householder_product(a, t),
     F(3, 2), F(0), covers="linalg_householder_product")
case("orgqr", lambda T, a, t: T.orgqr(input=a, input2=t), F(5, 2), F(2),
     covers="linalg_householder_product")
case("householder_product_keywords", lambda T, a, t: T.linalg.householder_product(input=a, tau=t),
     F(3, 2), F(1), covers="linalg_householder_product")
case("orgqr_method", lambda T, a, t: a.orgqr(t), F(2, 4, 4), F(2, 1),
     covers="linalg_householder_product")
case("householder_product_of_geqrf", lambda T, a: T.linalg.householder_product(*T.geqrf(a)),
     K(2, 4, 3), covers=("geqrf", "linalg_householder_product"))
# geqrf has no derivative (its node's backward raises: test_linalg.py)
case("geqrf", lambda T, a: tuple(T.geqrf(a)), K(2, 4, 3), covers="geqrf")
case("geqrf_wide_method", lambda T, a: tuple(a.geqrf()), K(3, 5), covers="geqrf")
case("linalg_svd_reconstruct",
     lambda T, a: (lambda u, s, vh: (u @ vh, s))(*T.linalg.svd(a, full_matrices=False)),
     F(2, 4, 3), covers="linalg_svd")
case("linalg_svd_wide",
     lambda T, a: (lambda u, s, vh: (u @ vh, s))(*T.linalg.svd(a, full_matrices=False)),
     F(3, 5), covers="linalg_svd")
case("linalg_svd_full_projector",
     lambda T, a: (lambda u, s, vh: (u[..., :3] @ vh[..., :3, :], s))(*T.linalg.svd(a)),
     F(5, 3), covers="linalg_svd")
case("linalg_svdvals", lambda T, a: T.linalg.svdvals(a), F(2, 3, 4), covers="linalg_svd")
case("svd_method", lambda T, a: (lambda u, s, v: (u @ v.mT, s))(*a.svd()), F(4, 3),
     covers=("linalg_svd", "transpose"))
case("linalg_eigh",
     lambda T, a: (lambda w, v: (w, v * v, v @ (w.exp().unsqueeze(-1) * v.mT)))(
         *T.linalg.eigh(a + a.mT)), F(2, 3, 3), covers="linalg_eigh")
case("linalg_eigh_upper",
     lambda T, a: (lambda w, v: (w, v * v))(*T.linalg.eigh(a + a.mT, UPLO="U")), F(4, 4),
     covers="linalg_eigh")
case("linalg_eigvalsh", lambda T, a: T.linalg.eigvalsh(a + a.mT), F(2, 3, 3),
     covers="linalg_eigh")

# ---- pinv, matrix_exp, powers, norms, products ---------------------------------------------------

case("linalg_pinv", lambda T, a: T.linalg.pinv(a), F(2, 4, 3), covers="linalg_pinv")
case("linalg_pinv_wide", lambda T, a: T.linalg.pinv(a), F(3, 5), covers="linalg_pinv")
case("linalg_pinv_hermitian", lambda T, a: T.linalg.pinv(spd(T, a), hermitian=True), F(3, 3),
     covers="linalg_pinv")
case("pinverse", lambda T, a: a.pinverse(), F(4, 3), covers="linalg_pinv")
case("linalg_matrix_exp", lambda T, a: T.linalg.matrix_exp(a), F(2, 3, 3),
     covers="linalg_matrix_exp")
case("matrix_exp_method_large", lambda T, a: (a * 4).matrix_exp(), F(3, 3),
     covers="linalg_matrix_exp", rtol=1e-4)
case("linalg_matrix_power", lambda T, a: T.linalg.matrix_power(a, 5), F(2, 3, 3), covers="bmm")
case("matrix_power_negative", lambda T, a: well(T, a).matrix_power(-2), F(3, 3),
     covers="linalg_inv_ex")
case("matrix_power_one", lambda T, a: T.matrix_power(a, 1), F(3, 3), covers="clone")
case("matrix_power_zero", lambda T, a: T.linalg.matrix_power(a, 0), F(2, 3, 3),
     covers=("clone", "copy"))
case("linalg_vector_norm_0", lambda T, a: T.linalg.vector_norm(a, 0, dim=-1), F(3, 4, ties=True),
     covers="norm")
case("linalg_vector_norm_1", lambda T, a: T.linalg.vector_norm(a, 1), F(3, 4, away=0.1),
     covers="norm")
case("linalg_vector_norm", lambda T, a: T.linalg.vector_norm(a, 3, dim=(0, 2), keepdim=True),
     F(2, 3, 4), covers="norm")
case("linalg_vector_norm_inf", lambda T, a: T.linalg.vector_norm(a, float("-inf"), dim=1),
     F(3, 4), covers="norm")
case("linalg_vector_norm_dtype",
     lambda T, a: T.linalg.vector_norm(a.float(), dtype=T.float64), F(3, 4), covers="norm",
     f64=False)
case("linalg_matrix_norm_fro", lambda T, a: T.linalg.matrix_norm(a), F(2, 3, 4), covers="norm")
case("linalg_matrix_norm_nuc", lambda T, a: T.linalg.matrix_norm(a, "nuc", keepdim=True),
     F(2, 3, 4), covers=("linalg_svd", "sum"))
for _ord, _op in ((1, "amax"), (-1, "amin"), (float("inf"), "amax"), (float("-inf"), "amin")):
    case(f"linalg_matrix_norm_{_ord}", lambda T, a, o=_ord: T.linalg.matrix_norm(a, o),
         F(2, 3, 4), covers=("norm", _op))
case("linalg_matrix_norm_2", lambda T, a: T.linalg.matrix_norm(a, 2, dim=(0, 2)), F(3, 2, 4),
     covers=("linalg_svd", "amax"))
case("linalg_matrix_norm_-2", lambda T, a: T.linalg.matrix_norm(a, -2, keepdim=True), F(3, 4),
     covers=("linalg_svd", "amin"))
case("norm_nuc_method", lambda T, a: a.norm(p="nuc"), F(3, 4), covers=("linalg_svd", "sum"))
case("norm_nuc_dims_keepdim", lambda T, a: T.norm(a, "nuc", dim=(2, 0), keepdim=True),
     F(3, 2, 4), covers=("linalg_svd", "sum"))
# linalg.cond: the singular values' ratio (its other norms: test_linalg.py)
case("linalg_cond", lambda T, a: T.linalg.cond(well(T, a)), F(2, 3, 3),
     covers=("linalg_svd", "div"))
case("linalg_cond_rect_-2", lambda T, a: T.linalg.cond(a, -2), F(3, 4),
     covers=("linalg_svd", "div"))
case("linalg_cond_nuc", lambda T, a: T.linalg.cond(well(T, a), "nuc"), F(3, 3),
     covers=("linalg_svd", "sum", "mul"))
case("linalg_norm_vector", lambda T, a: T.linalg.norm(a, 3), F(5), covers="norm")
case("linalg_norm_matrix", lambda T, a: T.linalg.norm(a, float("inf")), F(3, 4), covers="amax")
case("linalg_norm_flat", lambda T, a: T.linalg.norm(a), F(2, 3, 4), covers="norm")
case("linalg_multi_dot", lambda T, a, b, c, d: T.linalg.multi_dot([a, b, c, d]), F(4), F(4, 2),
     F(2, 5), F(5), covers="mm")
case("linalg_multi_dot_matrices", lambda T, a, b, c: T.linalg.multi_dot([a, b, c]), F(2, 6),
     F(6, 3), F(3, 4), covers="mm")
case("linalg_cross", lambda T, a, b: T.linalg.cross(a, b), F(2, 3), F(2, 3), covers="cross")
case("linalg_vecdot", lambda T, a, b: T.linalg.vecdot(a, b, dim=0), F(3, 4), F(3, 4),
     covers="sum")
case("linalg_diagonal", lambda T, a: T.linalg.diagonal(a, offset=1), F(2, 3, 4),
     covers="diagonal")

# ---- torch's errors -------------------------------------------------------------------------------

error("linalg_inv_not_square", lambda T, a: T.linalg.inv(a), K(2, 3))
error("linalg_det_not_square", lambda T, a: T.linalg.det(a), K(3, 2, 3))
error("linalg_inv_vector", lambda T, a: T.linalg.inv(a), K(3))
error("linalg_eigh_not_square", lambda T, a: T.linalg.eigh(a), K(2, 3))
error("linalg_solve_shapes", lambda T, a, b: T.linalg.solve(a, b), K(2, 2), K(3))
error("linalg_solve_matrix_shapes", lambda T, a, b: T.linalg.solve(a, b), K(2, 2), K(3, 2))
error("linalg_qr_mode", lambda T, a: T.linalg.qr(a, mode="x"), K(3, 3))
error("householder_product_vector", lambda T, a, t: T.linalg.householder_product(a, t), K(3),
      K(1))
error("householder_product_wide", lambda T, a, t: T.orgqr(a, t), K(3, 4), K(2))
error("householder_product_long_tau", lambda T, a, t: T.linalg.householder_product(a, t),
      K(4, 3), K(4))
error("householder_product_tau_ndim", lambda T, a, t: T.linalg.householder_product(a, t),
      K(4, 3), K(2, 2))
error("householder_product_tau_batch", lambda T, a, t: T.linalg.householder_product(a, t),
      K(2, 4, 3), K(3, 2))
error("householder_product_tau_dtype",
      lambda T, a, t: T.linalg.householder_product(a.double(), t), K(4, 3), K(2))
error("householder_product_int", lambda T, a, t: T.orgqr(a, t), I(4, 3), I(2))
error("householder_product_half", lambda T, a, t: T.orgqr(a.half(), t.half()), K(4, 3), K(2))
error("geqrf_vector", lambda T, a: T.geqrf(a), K(3))
error("geqrf_int", lambda T, a: T.geqrf(a), I(4, 3))

# ---- lstsq: the solution, and per driver the residuals, rank and singular values torch gives --------

case("linalg_lstsq", lambda T, a, b: tuple(T.linalg.lstsq(a, b)), F(5, 3), F(5, 2),
     covers="linalg_lstsq")
case("linalg_lstsq_wide_batch", lambda T, a, b: tuple(T.linalg.lstsq(a, b)), F(2, 3, 5), F(1, 3, 2),
     covers="linalg_lstsq")
case("linalg_lstsq_gelsd", lambda T, a, b: tuple(T.linalg.lstsq(a, b, driver="gelsd")), F(2, 5, 3),
     F(2, 5, 2), covers="linalg_lstsq")
case("linalg_lstsq_gels_vector", lambda T, a, b: tuple(T.linalg.lstsq(a, b, driver="gels")),
     F(5, 3), F(5), covers="linalg_lstsq")
case("linalg_lstsq_gelsd_batch_vector",
     lambda T, a, b: tuple(T.linalg.lstsq(a, b, driver="gelsd")), F(2, 5, 3), F(2, 5),
     covers="linalg_lstsq")
case("linalg_lstsq_gelss_rank_deficient",
     lambda T, a, b: tuple(T.linalg.lstsq(a @ a.mT, b, driver="gelss")), F(4, 2), F(4, 3),
     covers="linalg_lstsq", fd=False, grad2=False)

# ---- lu_factor, lu, lu_solve ---------------------------------------------------------------------

case("linalg_lu_factor", lambda T, a: (lambda r: (r.LU, r.pivots))(T.linalg.lu_factor(a)),
     F(2, 4, 4), covers=("linalg_lu_factor_ex", "lu_unpack_p"))
case("linalg_lu_factor_wide", lambda T, a: T.linalg.lu_factor(a)[0], F(3, 5),
     covers="linalg_lu_factor_ex")
case("linalg_lu_factor_tall", lambda T, a: T.linalg.lu_factor(a)[0], F(2, 5, 3),
     covers="linalg_lu_factor_ex")
case("linalg_lu", lambda T, a: tuple(T.linalg.lu(a)), F(2, 4, 4), covers="linalg_lu")
case("linalg_lu_wide", lambda T, a: tuple(T.linalg.lu(a)), F(3, 5), covers="linalg_lu")
case("linalg_lu_tall", lambda T, a: tuple(T.linalg.lu(a)), F(5, 3), covers="linalg_lu")
for _shape in ((2, 4, 4), (3, 5), (2, 5, 3)):
    case(f"lu_unpack_{'x'.join(map(str, _shape))}",
         lambda T, a: tuple(T.lu_unpack(*T.linalg.lu_factor(a))), F(*_shape),
         covers=("lu_unpack", "linalg_lu_factor_ex"))
case("lu_unpack_data_only", lambda T, a: T.lu_unpack(*T.linalg.lu_factor(a),
                                                     unpack_pivots=False).U,
     F(4, 3), covers=("lu_unpack", "linalg_lu_factor_ex"))
for _left in (True, False):
    for _adjoint in (False, True):
        case(f"linalg_lu_solve_left{_left}_adjoint{_adjoint}",
             lambda T, a, b, l=_left, ad=_adjoint: T.linalg.lu_solve(
                 *T.linalg.lu_factor(well(T, a)), b if l else b.mT, left=l, adjoint=ad),
             F(2, 3, 3), F(3, 2), covers=("linalg_lu_solve", "linalg_lu_factor_ex"))

error("linalg_svd_int", lambda T, i: T.linalg.svd(i), I(3, 3))
error("linalg_cholesky_int", lambda T, i: T.linalg.cholesky(i), I(3, 3))
error("linalg_det_int", lambda T, i: T.linalg.det(i), I(2, 2))
error("linalg_solve_triangular_vector", lambda T, a, b: T.linalg.solve_triangular(a, b, upper=True),
      K(3, 3), K(3))
error("linalg_solve_triangular_shapes",
      lambda T, a, b: T.linalg.solve_triangular(a, b, upper=False), K(3, 3), K(2, 2))
error("linalg_lstsq_dims", lambda T, a, b: T.linalg.lstsq(a, b), K(3, 2), K(2, 3, 2))
error("linalg_lstsq_rows", lambda T, a, b: T.linalg.lstsq(a, b), K(3, 2), K(4, 2))
error("linalg_lu_solve_shapes", lambda T, a, b: T.linalg.lu_solve(*T.linalg.lu_factor(a), b),
      K(3, 3), K(2, 2))
error("linalg_matrix_norm_ord", lambda T, a: T.linalg.matrix_norm(a, 3), K(3, 3))
error("linalg_norm_dims", lambda T, a: T.linalg.norm(a, 2, dim=(0, 1, 2)), K(2, 2, 2))
error("linalg_norm_3d_ord", lambda T, a: T.linalg.norm(a, 2), K(2, 2, 2))
error("linalg_eigh_uplo", lambda T, a: T.linalg.eigh(a, UPLO="X"), K(3, 3))
error("norm_nuc_3d", lambda T, a: a.norm("nuc"), K(2, 2, 2))
error("norm_nuc_one_dim", lambda T, a: a.norm("nuc", 1), K(2, 2, 2))
error("norm_fro_3_dims", lambda T, a: T.norm(a, "fro", dim=(0, 1, 2)), K(2, 2, 2))
error("norm_by_unknown_name", lambda T, a: T.norm(a, "abc"), K(2, 2))
error("linalg_matrix_norm_one_dim", lambda T, a: T.linalg.matrix_norm(a, dim=(0,)), K(2, 2))
error("linalg_matrix_norm_same_dims", lambda T, a: T.linalg.matrix_norm(a, dim=(1, -2)),
      K(2, 2, 2))
error("linalg_matrix_norm_int", lambda T, i: T.linalg.matrix_norm(i, "nuc"), I(2, 2))
error("linalg_cond_vector", lambda T, a: T.linalg.cond(a), K(3))
error("linalg_cond_rect_1", lambda T, a: T.linalg.cond(a, 1), K(2, 3))
error("linalg_cond_rect_float_1", lambda T, a: T.linalg.cond(a, 1.0), K(2, 3))
error("linalg_cond_rect_inf", lambda T, a: T.linalg.cond(a, float("-inf")), K(2, 3))
error("linalg_cond_rect_fro", lambda T, a: T.linalg.cond(a, "fro"), K(0, 3))
error("linalg_cond_ord", lambda T, a: T.linalg.cond(a, 2.5), K(2, 2))
error("linalg_cond_ord_name", lambda T, a: T.linalg.cond(a, "abc"), K(2, 2))
error("linalg_cond_int", lambda T, i: T.linalg.cond(i, 1), I(2, 2))
