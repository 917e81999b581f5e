"""Op cases for torch.special's ops of ops/special_ops.py (erfcx, i0e, i1e, ndtri, log_ndtr,
entr, xlog1py, zeta, igamma, igammac, bessel_j0, bessel_j1, round with decimals), added to
op_cases.CASES and ERRORS: test_ops runs them against torch (values, dtypes, grad_fn names and
edges, first- and second-order gradients) and against float64 finite differences; torch's
errors where it gives no derivative (zeta's x, igamma's a)."""
from __future__ import annotations

from op_cases import Arg, F, I, K, P, case, error  # noqa: F401

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
