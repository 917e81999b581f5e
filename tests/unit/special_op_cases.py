"""Op cases for torch.special's ops of ops/special_ops.py (erfcx, i0e, i1e, ndtri, log_ndtr,
entr, xlog1py, zeta, igamma, igammac, bessel_j0, bessel_j1, round with decimals), added to
op_cases.CASES and ERRORS: test_ops runs them against torch (values, dtypes, grad_fn names and
edges, first- and second-order gradients) and against float64 finite differences; torch's
errors where it gives no derivative (zeta's x, igamma's a)."""
from __future__ import annotations

from op_cases import INF, Arg, F, I, K, P, case, error  # noqa: F401

case("special_erfcx", lambda T, x: T.special.erfcx(x), F(3, 4, lo=-2, hi=5), covers="special_erfcx")
case("special_erfcx_far", lambda T, x: T.special.erfcx(x), Arg("f", (4,), 8.0, 40.0),
     covers="special_erfcx")
case("special_i0e", lambda T, x: T.special.i0e(x), F(3, 4, lo=-5, hi=5, away=0.05),
     covers=("special_i0e", "special_i1e"))
case("special_i1e", lambda T, x: T.special.i1e(x), F(3, 4, lo=-5, hi=5, away=0.05),
     covers=("special_i1e", "special_i0e"))
case("special_i1", lambda T, x: T.special.i1(x), F(3, 4, lo=-4, hi=4, away=0.05), covers="i1")
case("special_ndtri", lambda T, p: T.special.ndtri(p), Arg("f", (3, 4), 0.05, 0.95),
     covers="special_ndtri")
case("special_log_ndtr", lambda T, x: T.special.log_ndtr(x), F(3, 4, lo=-6, hi=4),
     covers="special_log_ndtr")
case("special_entr", lambda T, x: T.special.entr(x), P(3, 4), covers="special_entr")
case("special_entr_int", lambda T, i: T.special.entr(i), I(4, lo=-1, hi=3), covers="special_entr")
case("special_xlog1py", lambda T, x, y: T.special.xlog1py(x, y), F(3, 4), F(4, lo=-0.5, hi=2),
     covers="special_xlog1py")
case("special_xlog1py_numbers",
     lambda T, x: T.special.xlog1py(x, 2.5) + T.special.xlog1py(3.0, x.abs()),
     F(3, 4), covers=("special_xlog1py", "abs", "add"))
case("special_zeta_q", lambda T, x, q: T.special.zeta(x, q), K(3, 4, lo=1.5, hi=4), P(4),
     covers=("special_zeta", "add"))
case("special_zeta_number", lambda T, q: T.special.zeta(3.0, q), P(3, 4), covers="special_zeta")
case("special_gammainc", lambda T, a, x: T.special.gammainc(a, x), K(3, 4, lo=0.5, hi=3), P(4),
     covers="igamma")
case("special_gammaincc", lambda T, a, x: T.special.gammaincc(a, x), K(3, 4, lo=0.5, hi=3),
     P(3, 4), covers="igammac")
case("igamma_method", lambda T, a, x: a.igamma(x) + a.igammac(x), K(3, 4, lo=0.5, hi=3), P(3, 4),
     covers=("igamma", "igammac", "add"))
case("igamma_", lambda T, a, x: a.clone().igamma_(x), K(4, lo=0.5, hi=3), P(4),
     covers=("clone", "igamma"))
case("special_bessel_j", lambda T, x: T.special.bessel_j0(x) + T.special.bessel_j1(x),
     K(3, 4, lo=-40, hi=40), covers=("special_bessel_j0", "special_bessel_j1", "add"))
case("special_round", lambda T, x: T.special.round(x * 10, decimals=1), F(3, 4),
     covers=("round_decimals", "mul"))
case("round_decimals", lambda T, x: T.round(x * 10, decimals=1), F(3, 4),
     covers=("round_decimals", "mul"))
case("round_decimals_method", lambda T, x: (x * 100).round(decimals=-1), F(3, 4),
     covers=("round_decimals", "mul"))
case("round_decimals_zero", lambda T, x: T.round(x * 3, decimals=0), F(3, 4),
     covers=("round_decimals", "mul"))
case("special_round_negative", lambda T, x: T.special.round(x * 100, decimals=-1), F(3, 4),
     covers=("round_decimals", "mul"))

error("special_zeta_x_grad", lambda T, x, q: T.special.zeta(x, q).sum().backward(),
      Arg("f", (3,), 1.5, 3.0), P(3))
error("special_zeta_number_q_grad", lambda T, x: T.special.zeta(x, 2.0).sum().backward(),
      Arg("f", (3,), 1.5, 3.0))
error("special_gammainc_a_grad", lambda T, a, x: T.special.gammainc(a, x).sum().backward(),
      P(3), P(3))
error("special_gammaincc_a_grad", lambda T, a, x: T.special.gammaincc(a, x).sum().backward(),
      P(3), K(3))
error("special_gammainc_int", lambda T, a, x: T.special.gammainc(a, x), I(3), I(3))
error("special_gammainc_number", lambda T, x: T.special.gammainc(2.0, x), K(3))
error("special_zeta_numbers", lambda T: T.special.zeta(2.0, 3.0))
error("special_round_int", lambda T, i: T.special.round(i, decimals=1), I(3))
error("special_round_int_0", lambda T, i: T.special.round(i), I(3))
error("special_erfcx_number", lambda T: T.special.erfcx(1.0))

# the Bessel family and the orthogonal polynomials: torch gives them no derivative (their
# results never require grad, even of inputs that do); values at their edges (0, below 0,
# the branch points of torch's approximations, inf and nan; n < 0, |x| = 1, large n)
_BESSEL_EDGES = (0.0, -0.0, 1e-6, 2.0, 5.0, 8.0, 2.09, -2.09, 8.3203353, 104.0, -30.0, 30.0,
                 INF, -INF, float("nan"))


def _with_edges(T, x, edges):
    return T.cat([x.flatten(), T.tensor(edges, dtype=x.dtype)])


for _name in ("bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
              "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
              "scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "spherical_bessel_j0",
              "airy_ai"):
    case(f"special_{_name}",
         lambda T, x, _n=_name: getattr(T.special, _n)(_with_edges(T, x, _BESSEL_EDGES)),
         F(3, 8, lo=-12, hi=12), covers=(f"special_{_name}", "cat"),
         rtol=2e-5, atol=1e-6)
    error(f"special_{_name}_number", lambda T, _n=_name: getattr(T.special, _n)(1.5))
    error(f"special_{_name}_half", lambda T, x, _n=_name: getattr(T.special, _n)(x.half()), K(3))
case("special_bessel_int", lambda T, i: T.special.bessel_y1(i) + T.special.airy_ai(i > 1),
     I(6, lo=-2, hi=6), covers=("special_bessel_y1", "special_airy_ai", "gt", "add"))

_POLY_X = (0.0, 1.0, -1.0, 0.5, 2.0, -2.0, INF, -INF, 1e-8)
_POLY_N = (-2.0, 0.0, 1.0, 2.0, 3.0, 5.0, 7.0, 9.0, 12.0, 40.0, 129.0, 513.0, 2.5, INF)

for _name in ("chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
              "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t",
              "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
              "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
              "laguerre_polynomial_l", "legendre_polynomial_p"):
    case(f"special_{_name}",
         lambda T, x, _n=_name: getattr(T.special, _n)(
             _with_edges(T, x, _POLY_X).reshape(-1, 1),
             T.tensor(_POLY_N, dtype=x.dtype)),
         F(10, lo=-1.2, hi=1.2), covers=(f"special_{_name}", "cat", "reshape"),
         rtol=1e-4, atol=1e-4)
    case(f"special_{_name}_numbers",
         lambda T, x, i, _n=_name: getattr(T.special, _n)(x, 4) + getattr(T.special, _n)(0.25, i)
         + getattr(T.special, _n)(i, i), F(3), I(3, lo=-1, hi=9), covers=(f"special_{_name}", "add"))
    error(f"special_{_name}_numbers", lambda T, _n=_name: getattr(T.special, _n)(0.5, 2))
    error(f"special_{_name}_half", lambda T, x, _n=_name: getattr(T.special, _n)(x.half(), 2),
          K(3))
    error(f"special_{_name}_grad",
          lambda T, x, _n=_name: getattr(T.special, _n)(x, 3).sum().backward(), F(3))
case("special_bessel_out", lambda T, x: T.special.modified_bessel_k1(
         x, out=T.empty(3, 4, dtype=T.float64)), F(3, 4), covers="special_modified_bessel_k1")
case("special_polynomial_out", lambda T, x: T.special.legendre_polynomial_p(
         x, 5, out=T.empty(0)), F(3, 4), covers="special_legendre_polynomial_p")
error("special_polynomial_out_int", lambda T, x: T.special.hermite_polynomial_he(
          x, 5, out=T.empty(3, dtype=T.int64)), K(3))
