"""distgrad.special against torch.special: every name the namespace has, values over wide
ranges in float32 and float64 (tails, poles, inf and nan in torch's places), gradients
against torch and float64 finite differences, and torch's type errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
from distgrad.autograd.gradcheck import gradcheck

NAMES = ["expit", "logit", "erf", "erfc", "erfinv", "erfcx", "gammaln", "digamma", "psi",
         "polygamma", "multigammaln", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri", "log_ndtr",
         "log1p", "expm1", "exp2", "xlogy", "xlog1py", "zeta", "entr", "sinc", "logsumexp",
         "softmax", "log_softmax", "round", "gammainc", "gammaincc", "bessel_j0", "bessel_j1"]

RNG = np.random.default_rng(20261204)
EDGES = [0.0, -0.0, 1e-300, -1e-300, 1.0, -1.0, 0.5, 30.0, -30.0, 1e5, np.inf, -np.inf, np.nan]
REAL = np.concatenate([RNG.uniform(-40, 40, 3000), 10.0 ** RNG.uniform(-8, 3, 1500),
                       -(10.0 ** RNG.uniform(-8, 3, 1500)), EDGES])
UNIT = np.concatenate([RNG.uniform(0, 1, 3000), 10.0 ** RNG.uniform(-300, 0, 1000),
                       1 - 10.0 ** RNG.uniform(-16, -1, 1000), [0.0, 1.0, 0.5, -0.1, 1.1, np.nan]])
POSITIVE = np.concatenate([10.0 ** RNG.uniform(-3, 3, 3000), RNG.uniform(0, 30, 2000)])


def test_the_namespace_has_torchs_names():
    for name in NAMES:
        assert hasattr(torch.special, name)
        assert callable(getattr(distgrad.special, name)), name


def _agree(ours, theirs, rtol, atol=1e-300):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    infinite = np.isinf(theirs)
    assert np.array_equal(ours[infinite], theirs[infinite])
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=rtol, atol=atol)


# rtol in float64: ours are float64-accurate; torch's own approximations are looser for some
# (cephes' j0/j1 and its asymptotic incomplete gamma near a ≈ x, to ~1e-9)
UNARY = [("erfcx", REAL, 1e-13), ("i0e", REAL, 1e-13), ("i1e", REAL, 1e-13),
         ("i1", REAL[np.abs(REAL) < 80], 1e-13), ("ndtr", REAL, 1e-11), ("ndtri", UNIT, 1e-12),
         ("log_ndtr", REAL, 1e-12), ("entr", REAL, 1e-15)]


@pytest.mark.parametrize("name, inputs, rtol", UNARY, ids=[u[0] for u in UNARY])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_values_match_torch(name, inputs, rtol, dtype):
    x = inputs.astype(dtype)
    ours = getattr(distgrad.special, name)(distgrad.tensor(x))
    theirs = getattr(torch.special, name)(torch.tensor(x))
    assert str(ours.dtype) == str(theirs.dtype)
    # (torch's float32 kernels compute in float32: a few ulp off, and ndtr's 1 + erf rounds)
    _agree(ours.numpy(), theirs.numpy(), *((rtol,) if dtype == "float64" else (1e-5, 1e-7)))


@pytest.mark.parametrize("name", ["bessel_j0", "bessel_j1"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bessel_j_matches_torch(name, dtype):
    """torch's values, not the exact ones: its Cephes approximations are off by up to 5e-7
    for 5 < |x| < 25, and distgrad computes them as torch does (absolute agreement: relative
    near the zeros means nothing; where torch reduces x - π/4 well, below 1e5, 1e4 in
    float32)."""
    x = REAL[np.abs(REAL) < (1e5 if dtype == "float64" else 1e4)].astype(dtype)
    ours = getattr(distgrad.special, name)(distgrad.tensor(x)).numpy()
    theirs = getattr(torch.special, name)(torch.tensor(x)).numpy()
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    ok = ~np.isnan(theirs)
    tol = 1e-12 if dtype == "float64" else 1e-6
    assert (np.abs(ours[ok] - theirs[ok]) <= tol).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zeta_matches_torch(dtype):
    x = np.concatenate([1 + POSITIVE, [1.0, 0.5, 2.0, 2.0, 3.0, 2.5, np.nan, 2.0, 4.0]])
    q = np.concatenate([POSITIVE, [1.0, 1.0, -1.0, 0.0, -2.5, -0.5, 1.0, np.inf, -np.inf]])
    x, q = x.astype(dtype), q.astype(dtype)
    ours = distgrad.special.zeta(distgrad.tensor(x), distgrad.tensor(q))
    theirs = torch.special.zeta(torch.tensor(x), torch.tensor(q))
    _agree(ours.numpy(), theirs.numpy(), *((1e-12,) if dtype == "float64" else (1e-5, 1e-40)))


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_incomplete_gamma_matches_torch(name, dtype):
    edges_a = [0, 0, 1, np.inf, np.inf, 2, -1, 1, np.nan]
    edges_x = [0, 1, 0, 1, np.inf, np.inf, 1, -1, 1]
    a = np.concatenate([POSITIVE, RNG.uniform(1, 1e5, 200), edges_a]).astype(dtype)
    x = np.concatenate([RNG.permutation(POSITIVE), RNG.uniform(1, 1e5, 200), edges_x]).astype(dtype)
    ours = getattr(distgrad.special, name)(distgrad.tensor(a), distgrad.tensor(x))
    theirs = getattr(torch.special, name)(torch.tensor(a), torch.tensor(x))
    ours, theirs = ours.numpy(), theirs.numpy()
    # (relative where the value is not far below 1e-300; absolute 1e-12 for the tiny ones)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    ok = ~np.isnan(theirs)
    # (torch's float32 kernel sums its large-a series in float32: up to ~1e-4 relative off
    # the float64 value, where distgrad's float32 is within 3e-8 of it)
    tol = 1e-8 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(ours[ok], theirs[ok], rtol=tol,
                               atol=1e-12 if dtype == "float64" else 1e-6)


def test_values_of_the_aliases_match_torch():
    x = RNG.uniform(0.05, 0.95, 20)
    for name, args in [("expit", ()), ("logit", ()), ("erf", ()), ("erfc", ()), ("erfinv", ()),
                       ("gammaln", ()), ("psi", ()), ("digamma", ()), ("i0", ()), ("log1p", ()),
                       ("expm1", ()), ("exp2", ()), ("sinc", ())]:
        _agree(getattr(distgrad.special, name)(distgrad.tensor(x), *args).numpy(),
               getattr(torch.special, name)(torch.tensor(x), *args).numpy(), 1e-12)
    for call in [lambda S, T: S.polygamma(2, T.tensor(x)),
                 lambda S, T: S.multigammaln(T.tensor(x) + 2, 3),
                 lambda S, T: S.xlogy(T.tensor(x), T.tensor(x[::-1].copy())),
                 lambda S, T: S.logsumexp(T.tensor(x).reshape(4, 5), 1),
                 lambda S, T: S.softmax(T.tensor(x).reshape(4, 5), 0),
                 lambda S, T: S.log_softmax(T.tensor(x).reshape(4, 5), dim=1),
                 lambda S, T: S.round(T.tensor(x * 1000), decimals=-2)]:
        _agree(call(distgrad.special, distgrad).numpy(), call(torch.special, torch).numpy(), 1e-12)


def _a(x):
    """Fixed shape parameters for the incomplete gammas (no gradient: torch has none)."""
    T = torch if isinstance(x, torch.Tensor) else distgrad
    return T.tensor([0.5, 1.0, 1.5, 2.0, 3.0, 0.7, 4.0, 2.5], dtype=T.float64)


GRADS = [
    ("erfcx", lambda S, x: S.erfcx(x * 4)),
    ("i0e", lambda S, x: S.i0e(x * 6)),
    ("i1e", lambda S, x: S.i1e(x * 6)),
    ("i1", lambda S, x: S.i1(x * 6)),
    ("ndtr", lambda S, x: S.ndtr(x * 3)),
    ("ndtri", lambda S, x: S.ndtri(x.abs() * 0.45 + 0.05)),
    ("log_ndtr", lambda S, x: S.log_ndtr(x * 8)),
    ("entr", lambda S, x: S.entr(x.abs() + 0.1)),
    ("xlog1py", lambda S, x: S.xlog1py(x, x.abs() + 0.1)),
    ("zeta_q", lambda S, x: S.zeta(2.5, x.abs() + 0.5)),
    ("gammainc_x", lambda S, x: S.gammainc(_a(x), x.abs() + 0.2)),
    ("gammaincc_x", lambda S, x: S.gammaincc(_a(x) * 3, x.abs() * 3 + 0.2)),
]


@pytest.mark.parametrize("name, fn", GRADS, ids=[g[0] for g in GRADS])
def test_gradients_match_torch_and_finite_differences(name, fn):
    x0 = np.concatenate([RNG.uniform(-1, 1, 6), [0.3, -0.7]])
    x = distgrad.tensor(x0, requires_grad=True)
    assert gradcheck(lambda t: fn(distgrad.special, t), (x,))
    g = distgrad.autograd.grad(fn(distgrad.special, x).sum(), x, create_graph=True)[0]
    g2 = distgrad.autograd.grad((g * g).sum(), x)[0]
    tx = torch.tensor(x0, requires_grad=True)
    tg = torch.autograd.grad(fn(torch.special, tx).sum(), tx, create_graph=True)[0]
    tg2 = torch.autograd.grad((tg * tg).sum(), tx)[0]
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g2.numpy(), tg2.numpy(), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("call", [
    lambda S, T: S.bessel_j0(1.0),
    lambda S, T: S.ndtr(1.0),
    lambda S, T: S.xlog1py(1.0, 2.0),
    lambda S, T: S.gammaincc(T.ones(2), 2.0),
], ids=["bessel_j0_number", "ndtr_number", "xlog1py_numbers", "gammaincc_number"])
def test_type_errors_match_torch(call):
    got = []
    for S, T in ((distgrad.special, distgrad), (torch.special, torch)):
        with pytest.raises(TypeError) as e:
            call(S, T)
        got.append(str(e.value))
    assert got[0] == got[1]


def test_bessel_j_has_no_gradient_as_in_torch():
    x = distgrad.tensor([0.5, 2.0], requires_grad=True)
    assert not distgrad.special.bessel_j0(x).requires_grad
    assert not distgrad.special.bessel_j1(x).requires_grad


@pytest.mark.parametrize("a", [3.5, 300.0, 5e3, 9e4, 2e5])
def test_incomplete_gamma_to_float64_precision(a):
    """Against mpmath near x = a, where torch's own expansion is ~1e-9 off; from 1e5 on ours is
    Temme's expansion too, carried to float64 precision."""
    mpmath = pytest.importorskip("mpmath")  # (installed with torch, through sympy)
    x = np.maximum(a + np.sqrt(a) * np.array([-6.0, -2.0, -0.3, 0.0, 0.7, 3.0, 7.0]), 0.2)
    p = distgrad.special.gammainc(distgrad.full((7,), a, dtype=distgrad.float64),
                                  distgrad.tensor(x)).numpy()
    q = distgrad.special.gammaincc(distgrad.full((7,), a, dtype=distgrad.float64),
                                   distgrad.tensor(x)).numpy()
    exact_p = [float(mpmath.gammainc(a, 0, v, regularized=True)) for v in x]
    exact_q = [float(mpmath.gammainc(a, v, mpmath.inf, regularized=True)) for v in x]
    np.testing.assert_allclose(p, exact_p, rtol=1e-12)
    np.testing.assert_allclose(q, exact_q, rtol=1e-12)
