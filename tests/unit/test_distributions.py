"""distgrad.distributions against torch.distributions on the same parameters and points, in
float32 and float64: log_prob, entropy, mean/variance/stddev/mode, cdf/icdf, KL divergences,
and the gradients of each with respect to the parameters; shapes, broadcasting and expand;
validation errors (type and message). Samples are distgrad's own stream: their shapes,
dtypes, support, determinism under manual_seed, moments and pathwise gradients are checked."""
from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
import torch.distributions as TD

import distgrad
import distgrad.distributions as DD
from distribution_cases import BY_ID, CASES, INFINITE_KL_CASES, KL_CASES, draw_params

LIBS = {"torch": (torch, TD), "distgrad": (distgrad, DD)}
# torch's Wishart.rsample warns at every draw (see test_wishart_samples_are_torchs); the tests
# of that warning, and of the low-df one, record them themselves
pytestmark = [pytest.mark.filterwarnings("ignore:Singular sample detected"),
              pytest.mark.filterwarnings("ignore:Low df values detected")]
TOL = {"float32": dict(rtol=2e-4, atol=2e-5), "float64": dict(rtol=1e-7, atol=1e-10)}
STATS = ("mean", "variance", "stddev", "mode")


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return t.detach().numpy() if isinstance(t, distgrad.Tensor) else np.asarray(t)


def _close(ours, theirs, dtype, what):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch's {b.shape}"
    assert str(a.dtype) == str(b.dtype), f"{what}: dtype {a.dtype} vs torch's {b.dtype}"
    np.testing.assert_allclose(a, b, equal_nan=True, err_msg=what, **TOL[dtype])


def _params(case, lib, raw, dtype):
    T, _ = LIBS[lib]
    return {k: T.tensor(v, dtype=getattr(T, dtype), requires_grad=k not in case.no_grad)
            for k, v in raw.items()}


def _outputs(case, lib, raw, value, dtype):
    """What the case computes in one library: {name: tensor}, and the parameters."""
    T, D = LIBS[lib]
    p = _params(case, lib, raw, dtype)
    d = case.build(D, p)
    v = T.tensor(value, dtype=getattr(T, dtype))
    out = {"log_prob": d.log_prob(v), "entropy": None}
    try:
        out["entropy"] = d.entropy()
    except NotImplementedError:
        del out["entropy"]
    for stat in STATS:
        try:
            out[stat] = getattr(d, stat)
        except NotImplementedError:
            pass
    if case.cdf:
        out["cdf"] = d.cdf(v)
    if case.cdf and case.icdf:
        u = T.tensor(_rng(case.id, "u").uniform(0.05, 0.95, tuple(d.batch_shape)),
                     dtype=getattr(T, dtype))
        out["icdf"] = d.icdf(u)
    return d, p, out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_and_gradients_match_torch(case, dtype):
    if dtype == "float64" and not case.float64:
        pytest.skip("torch raises for float64 parameters")
    rng = _rng(case.id, dtype)
    raw, value = draw_params(case, rng), case.value(rng)
    td, tp, t_out = _outputs(case, "torch", raw, value, dtype)
    dd, dp, d_out = _outputs(case, "distgrad", raw, value, dtype)
    assert tuple(dd.batch_shape) == tuple(td.batch_shape)
    assert tuple(dd.event_shape) == tuple(td.event_shape)
    assert repr(dd.batch_shape) == repr(td.batch_shape)
    assert set(d_out) == set(t_out)
    for name in t_out:
        _close(d_out[name], t_out[name], dtype, f"{case.id}.{name}")
        t, d = t_out[name], d_out[name]
        if not (t.requires_grad and t.dtype.is_floating_point):
            continue
        weights = _rng(case.id, name).uniform(0.5, 1.5, tuple(t.shape))
        keys = [k for k in tp if tp[k].requires_grad]
        t_grads = torch.autograd.grad((t * torch.tensor(weights, dtype=t.dtype)).nansum(),
                                      [tp[k] for k in keys], allow_unused=True,
                                      retain_graph=True)
        d_grads = distgrad.autograd.grad(
            (d * distgrad.tensor(weights, dtype=d.dtype)).nansum(), [dp[k] for k in keys], retain_graph=True,
            allow_unused=True)
        for k, tg, dg in zip(keys, t_grads, d_grads):
            if tg is None:
                assert dg is None or not np.any(_np(dg)), f"{case.id}.{name}: d/d{k}"
                continue
            _close(dg, tg, dtype, f"{case.id}.{name}: d/d{k}")


def _kl_side(lib, case_id, raw, dtype):
    T, D = LIBS[lib]
    case = BY_ID[case_id]
    p = _params(case, lib, raw, dtype)
    return case.build(D, p), p


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kl_id, p_id, q_id", KL_CASES, ids=[c[0] for c in KL_CASES])
def test_kl_divergence_and_its_gradients_match_torch(kl_id, p_id, q_id, dtype):
    rng = _rng("kl", kl_id, dtype)
    raw_p, raw_q = draw_params(BY_ID[p_id], rng), draw_params(BY_ID[q_id], rng)
    results = {}
    for lib in LIBS:
        T, D = LIBS[lib]
        p, pp = _kl_side(lib, p_id, raw_p, dtype)
        q, qp = _kl_side(lib, q_id, raw_q, dtype)
        kl = D.kl_divergence(p, q)
        params = [t for t in list(pp.values()) + list(qp.values()) if t.requires_grad]
        grads = T.autograd.grad(kl.sum(), params, allow_unused=True)
        results[lib] = (kl, grads)
    (t_kl, t_grads), (d_kl, d_grads) = results["torch"], results["distgrad"]
    _close(d_kl, t_kl, dtype, f"kl {kl_id}")
    for i, (tg, dg) in enumerate(zip(t_grads, d_grads)):
        if tg is None:
            continue
        _close(dg, tg, dtype, f"kl {kl_id}: gradient {i}")


@pytest.mark.parametrize("p_id, q_id", INFINITE_KL_CASES, ids=["_".join(c) for c in INFINITE_KL_CASES])
def test_infinite_kl_divergences_match_torch(p_id, q_id):
    rng = _rng("kl_inf", p_id, q_id)
    raw_p, raw_q = draw_params(BY_ID[p_id], rng), draw_params(BY_ID[q_id], rng)
    kls = {lib: LIBS[lib][1].kl_divergence(_kl_side(lib, p_id, raw_p, "float32")[0],
                                           _kl_side(lib, q_id, raw_q, "float32")[0])
           for lib in LIBS}
    _close(kls["distgrad"], kls["torch"], "float32", f"kl {p_id} || {q_id}")


def test_kl_gradient_passes_finite_differences_in_float64():
    """d KL / d parameters by finite differences, for the closed forms of several pairs."""
    rng = _rng("fd")
    mu = distgrad.tensor(rng.uniform(-1, 1, 3), dtype=distgrad.float64, requires_grad=True)
    sigma = distgrad.tensor(rng.uniform(0.5, 2, 3), dtype=distgrad.float64, requires_grad=True)
    a = distgrad.tensor(rng.uniform(0.5, 3, 3), dtype=distgrad.float64, requires_grad=True)
    cov = distgrad.tensor(rng.standard_normal((3, 3)),
                          dtype=distgrad.float64, requires_grad=True)

    def kls(mu, sigma, a, m):
        spd = m @ m.t() + 3 * distgrad.eye(3, dtype=distgrad.float64)
        return (DD.kl_divergence(DD.Normal(mu, sigma), DD.Normal(0.5 * mu, sigma ** 2)).sum()
                + DD.kl_divergence(DD.Gamma(a, sigma), DD.Gamma(sigma, a)).sum()
                + DD.kl_divergence(DD.Dirichlet(a), DD.Dirichlet(sigma + a)).sum()
                + DD.kl_divergence(DD.MultivariateNormal(mu, covariance_matrix=spd),
                                   DD.MultivariateNormal(mu * 0, scale_tril=distgrad.diag(a))))

    assert distgrad.autograd.gradcheck(kls, (mu, sigma, a, cov))
    assert distgrad.autograd.gradgradcheck(kls, (mu, sigma, a, cov))


# ---- shapes, broadcasting, expand -------------------------------------------------------------

SHAPE_BUILDS = [
    ("normal_numbers", lambda T, D: D.Normal(0.0, 1.0)),
    ("normal_broadcast", lambda T, D: D.Normal(T.zeros(3, 1), T.ones(4))),
    ("normal_tensor_number", lambda T, D: D.Normal(T.zeros(2), 2.0)),
    ("bernoulli_number", lambda T, D: D.Bernoulli(0.3)),
    ("categorical", lambda T, D: D.Categorical(logits=T.zeros(2, 3, 5))),
    ("one_hot", lambda T, D: D.OneHotCategorical(probs=T.ones(2, 5))),
    ("dirichlet", lambda T, D: D.Dirichlet(T.ones(4, 3))),
    ("beta_numbers", lambda T, D: D.Beta(2.0, 3.0)),
    ("mvn_batch_loc", lambda T, D: D.MultivariateNormal(T.zeros(5, 3), T.eye(3))),
    ("mvn_batch_cov", lambda T, D: D.MultivariateNormal(T.zeros(3), T.eye(3).expand(2, 3, 3))),
    ("independent", lambda T, D: D.Independent(D.Normal(T.zeros(2, 3, 4), 1.0), 2)),
    ("lognormal", lambda T, D: D.LogNormal(T.zeros(2, 3), 1.0)),
    ("binomial", lambda T, D: D.Binomial(T.full((2,), 5.0), T.full((3, 1), 0.5))),
    ("affine_event", lambda T, D: D.TransformedDistribution(
        D.Normal(T.zeros(2, 3), 1.0), D.AffineTransform(T.zeros(3), T.ones(3), event_dim=1))),
    ("cauchy_numbers", lambda T, D: D.Cauchy(0.0, 1.0)),
    ("half_normal_number", lambda T, D: D.HalfNormal(2.0)),
    ("half_cauchy", lambda T, D: D.HalfCauchy(T.ones(2, 3))),
    ("gumbel_numbers", lambda T, D: D.Gumbel(1.0, 2.0)),
    ("gumbel_broadcast", lambda T, D: D.Gumbel(T.zeros(3, 1), T.ones(4))),
    ("student_t_number", lambda T, D: D.StudentT(3.0)),
    ("student_t_broadcast", lambda T, D: D.StudentT(T.full((2, 1), 3.0), T.zeros(3))),
    ("chi2", lambda T, D: D.Chi2(T.full((2, 3), 4.0))),
    ("weibull", lambda T, D: D.Weibull(T.ones(3), T.full((2, 1), 2.0))),
    ("pareto", lambda T, D: D.Pareto(T.ones(3), 3.0)),
    ("inverse_gamma", lambda T, D: D.InverseGamma(T.full((2,), 3.0), T.ones(2))),
    ("multinomial", lambda T, D: D.Multinomial(4, probs=T.ones(2, 3))),
    ("mixture", lambda T, D: D.MixtureSameFamily(D.Categorical(T.ones(2, 3)),
                                                 D.Normal(T.zeros(2, 3), 1.0))),
    ("mixture_events", lambda T, D: D.MixtureSameFamily(
        D.Categorical(T.ones(4, 3)), D.Independent(D.Normal(T.zeros(4, 3, 2), 1.0), 1))),
    ("relaxed_bernoulli_number", lambda T, D: D.RelaxedBernoulli(T.tensor(0.5), 0.3)),
    ("relaxed_bernoulli", lambda T, D: D.RelaxedBernoulli(T.tensor(0.5), T.full((2, 3), 0.3))),
    ("relaxed_one_hot", lambda T, D: D.RelaxedOneHotCategorical(T.tensor(0.5), T.ones(2, 3))),
    ("straight_through", lambda T, D: D.OneHotCategoricalStraightThrough(T.ones(2, 3))),
    ("kumaraswamy", lambda T, D: D.Kumaraswamy(T.ones(3), 2.0)),
    ("continuous_bernoulli_number", lambda T, D: D.ContinuousBernoulli(0.3)),
    ("fisher_snedecor_numbers", lambda T, D: D.FisherSnedecor(3.0, 5.0)),
    ("von_mises_numbers", lambda T, D: D.VonMises(0.0, 1.0)),
    ("lkj_cholesky_number", lambda T, D: D.LKJCholesky(3, 2.0)),
    ("lkj_cholesky", lambda T, D: D.LKJCholesky(4, T.full((2, 3), 0.5))),
    ("von_mises", lambda T, D: D.VonMises(T.zeros(2, 1), T.full((3,), 2.0))),
    ("generalized_pareto", lambda T, D: D.GeneralizedPareto(T.zeros(2, 1), 1.0, T.full((3,), 0.2))),
    ("fisher_snedecor", lambda T, D: D.FisherSnedecor(T.full((2, 1), 3.0), T.full((3,), 5.0))),
    ("logistic_normal_numbers", lambda T, D: D.LogisticNormal(0.0, 1.0)),
    ("logistic_normal", lambda T, D: D.LogisticNormal(T.zeros(2, 3), 1.0)),
    ("lowrank_mvn", lambda T, D: D.LowRankMultivariateNormal(T.zeros(2, 3), T.ones(3, 1),
                                                             T.ones(3))),
    ("lowrank_mvn_factor_batch", lambda T, D: D.LowRankMultivariateNormal(
        T.zeros(3), T.ones(4, 3, 2), T.ones(3))),
    ("continuous_bernoulli", lambda T, D: D.ContinuousBernoulli(logits=T.zeros(2, 3))),
    ("negative_binomial", lambda T, D: D.NegativeBinomial(T.full((2, 1), 3.0), T.full((3,), 0.4))),
    ("wishart", lambda T, D: D.Wishart(T.full((2,), 3.0), covariance_matrix=T.eye(2))),
    ("wishart_number", lambda T, D: D.Wishart(4.0, scale_tril=T.eye(3))),
    ("wishart_broadcast", lambda T, D: D.Wishart(T.full((3, 1), 3.0),
                                                 precision_matrix=T.eye(2).expand(2, 2, 2))),
]


@pytest.mark.parametrize("name, build", SHAPE_BUILDS, ids=[s[0] for s in SHAPE_BUILDS])
def test_shapes_samples_and_expand_match_torch(name, build):
    shapes = {}
    for lib, (T, D) in LIBS.items():
        d = build(T, D)
        e = d.expand((4,) + tuple(d.batch_shape))
        s = d.sample((2,))
        es = e.sample()
        shapes[lib] = (repr(d.batch_shape), repr(d.event_shape), repr(e.batch_shape),
                       repr(e.event_shape), tuple(s.shape), str(s.dtype).split(".")[-1],
                       tuple(es.shape), tuple(e.log_prob(es).shape), repr(d))
    assert shapes["distgrad"] == shapes["torch"]


@pytest.mark.parametrize("case_id", ["mvn_cov", "lowrank_mvn"])
def test_expanded_distribution_scores_as_torch(case_id):
    raw = draw_params(BY_ID[case_id], _rng("expand"))
    out = {}
    for lib, (T, D) in LIBS.items():
        d = BY_ID[case_id].build(D, _params(BY_ID[case_id], lib, raw, "float64"))
        e = d.expand((5, 2))
        x = T.tensor(_rng("x").standard_normal((5, 2, 3)))
        out[lib] = (e.log_prob(x), e.entropy(), e.covariance_matrix, e.precision_matrix,
                    e.scale_tril, e.variance)
    for ours, theirs in zip(out["distgrad"], out["torch"]):
        _close(ours, theirs, "float64", "expanded mvn")


# ---- validation errors -----------------------------------------------------------------------

ERRORS = [
    ("normal_scale", lambda T, D: D.Normal(T.zeros(2), T.tensor([1.0, -1.0]))),
    ("uniform_bounds", lambda T, D: D.Uniform(T.tensor([0.0, 1.0]), T.tensor([1.0, 0.5]))),
    ("bernoulli_probs", lambda T, D: D.Bernoulli(probs=T.tensor([0.5, 1.5]))),
    ("bernoulli_both", lambda T, D: D.Bernoulli(probs=T.tensor(0.5), logits=T.tensor(0.0))),
    ("categorical_simplex", lambda T, D: D.Categorical(probs=T.tensor([0.5, -0.5, 1.0]))),
    ("categorical_0d", lambda T, D: D.Categorical(logits=T.tensor(1.0))),
    ("dirichlet_0d", lambda T, D: D.Dirichlet(T.tensor(1.0))),
    ("dirichlet_concentration", lambda T, D: D.Dirichlet(T.tensor([1.0, 0.0]))),
    ("gamma_rate", lambda T, D: D.Gamma(T.tensor([1.0]), T.tensor([-2.0]))),
    ("beta_numbers", lambda T, D: D.Beta(1.0, -1.0)),
    ("poisson_rate", lambda T, D: D.Poisson(T.tensor([-1.0]))),
    ("geometric_zero", lambda T, D: D.Geometric(T.tensor([0.0, 0.5]))),
    ("binomial_count", lambda T, D: D.Binomial(T.tensor([2.5]), T.tensor([0.5]))),
    ("mvn_two", lambda T, D: D.MultivariateNormal(T.zeros(2), T.eye(2), scale_tril=T.eye(2))),
    ("mvn_not_pd", lambda T, D: D.MultivariateNormal(T.zeros(2), T.tensor([[1.0, 2.0],
                                                                           [2.0, 1.0]]))),
    ("mvn_tril", lambda T, D: D.MultivariateNormal(T.zeros(2), scale_tril=T.ones(2, 2))),
    ("mvn_loc_0d", lambda T, D: D.MultivariateNormal(T.tensor(0.0), T.eye(2))),
    ("independent_ndims", lambda T, D: D.Independent(D.Normal(T.zeros(2), 1.0), 2)),
    ("normal_sample_nan", lambda T, D: D.Normal(0.0, 1.0).log_prob(T.tensor(float("nan")))),
    ("exponential_support", lambda T, D: D.Exponential(T.ones(2)).log_prob(T.tensor([1.0, -1.0]))),
    ("bernoulli_support", lambda T, D: D.Bernoulli(T.full((2,), 0.5)).log_prob(T.tensor([0.5, 1.0]))),
    ("categorical_support", lambda T, D: D.Categorical(T.ones(3)).log_prob(T.tensor(3))),
    ("event_shape", lambda T, D: D.MultivariateNormal(T.zeros(3), T.eye(3)).log_prob(T.zeros(2))),
    ("not_broadcastable", lambda T, D: D.Normal(T.zeros(3), 1.0).log_prob(T.zeros(2))),
    ("not_a_tensor", lambda T, D: D.Normal(0.0, 1.0).log_prob(0.5)),
    ("beta_support", lambda T, D: D.Beta(T.ones(2), T.ones(2)).log_prob(T.tensor([0.5, 2.0]))),
    ("dirichlet_support", lambda T, D: D.Dirichlet(T.ones(2)).log_prob(T.tensor([0.5, 0.6]))),
    ("uniform_support", lambda T, D: D.Uniform(0.0, 1.0).log_prob(T.tensor(2.0))),
    ("cauchy_scale", lambda T, D: D.Cauchy(T.zeros(2), T.tensor([1.0, 0.0]))),
    ("half_normal_scale", lambda T, D: D.HalfNormal(T.tensor([-1.0]))),
    ("half_normal_support", lambda T, D: D.HalfNormal(1.0).log_prob(T.tensor(-0.5))),
    ("half_cauchy_scale", lambda T, D: D.HalfCauchy(-1.0)),
    ("gumbel_scale", lambda T, D: D.Gumbel(T.zeros(2), T.tensor([1.0, -2.0]))),
    ("student_t_df", lambda T, D: D.StudentT(T.tensor([0.0, 1.0]))),
    ("chi2_df", lambda T, D: D.Chi2(T.tensor([-1.0]))),
    ("weibull_concentration", lambda T, D: D.Weibull(T.ones(1), T.tensor([0.0]))),
    ("pareto_alpha", lambda T, D: D.Pareto(T.ones(1), T.tensor([-1.0]))),
    ("pareto_support", lambda T, D: D.Pareto(T.full((2,), 2.0), 1.0).log_prob(T.tensor([3.0, 1.0]))),
    ("inverse_gamma_rate", lambda T, D: D.InverseGamma(T.ones(1), T.tensor([0.0]))),
    ("inverse_gamma_support", lambda T, D: D.InverseGamma(1.0, 1.0).log_prob(T.tensor(-1.0))),
    ("power_support", lambda T, D: D.TransformedDistribution(
        D.Exponential(T.ones(2)), D.PowerTransform(T.tensor(2.0))).log_prob(T.tensor([1.0, -1.0]))),
    ("multinomial_count", lambda T, D: D.Multinomial(2.5, T.ones(3))),
    ("multinomial_support", lambda T, D: D.Multinomial(2, T.ones(3)).log_prob(T.tensor([2.0, 1.0, 0.0]))),
    ("mixture_not_categorical", lambda T, D: D.MixtureSameFamily(D.Normal(0.0, 1.0),
                                                                 D.Normal(T.zeros(2), 1.0))),
    ("mixture_components", lambda T, D: D.MixtureSameFamily(D.Categorical(T.ones(3)),
                                                            D.Normal(T.zeros(2), 1.0))),
    ("mixture_batch", lambda T, D: D.MixtureSameFamily(D.Categorical(T.ones(3, 2)),
                                                       D.Normal(T.zeros(4, 2), 1.0))),
    ("mixture_support", lambda T, D: D.MixtureSameFamily(
        D.Categorical(T.ones(2)), D.HalfNormal(T.ones(2))).log_prob(T.tensor([1.0, -1.0]))),
    ("relaxed_bernoulli_probs", lambda T, D: D.RelaxedBernoulli(T.tensor(0.5), T.tensor([1.5]))),
    ("relaxed_bernoulli_both", lambda T, D: D.RelaxedBernoulli(T.tensor(0.5))),
    ("relaxed_bernoulli_support", lambda T, D: D.RelaxedBernoulli(
        T.tensor(0.5), T.full((2,), 0.5)).log_prob(T.tensor([0.5, 1.5]))),
    ("relaxed_one_hot_simplex", lambda T, D: D.RelaxedOneHotCategorical(
        T.tensor(0.5), T.tensor([0.5, -0.5, 1.0]))),
    ("relaxed_one_hot_support", lambda T, D: D.RelaxedOneHotCategorical(
        T.tensor(0.5), T.ones(3)).log_prob(T.tensor([0.5, 0.6, 0.1]))),
    ("kumaraswamy_concentration", lambda T, D: D.Kumaraswamy(T.ones(1), T.tensor([-1.0]))),
    ("kumaraswamy_support", lambda T, D: D.Kumaraswamy(1.0, 1.0).log_prob(T.tensor(1.5))),
    ("negative_binomial_probs", lambda T, D: D.NegativeBinomial(2.0, T.tensor([1.0]))),
    ("negative_binomial_count", lambda T, D: D.NegativeBinomial(T.tensor([-1.0]), T.tensor([0.5]))),
    ("negative_binomial_support", lambda T, D: D.NegativeBinomial(
        2.0, T.full((2,), 0.5)).log_prob(T.tensor([1.0, 1.5]))),
    ("continuous_bernoulli_checked", lambda T, D: D.ContinuousBernoulli(T.tensor([1.5]),
                                                                        validate_args=True)),
    ("continuous_bernoulli_support", lambda T, D: D.ContinuousBernoulli(0.3).log_prob(T.tensor(1.5))),
    ("lowrank_loc_0d", lambda T, D: D.LowRankMultivariateNormal(T.tensor(0.0), T.ones(1, 1),
                                                                T.ones(1))),
    ("lowrank_factor_1d", lambda T, D: D.LowRankMultivariateNormal(T.zeros(2), T.ones(2),
                                                                   T.ones(2))),
    ("lowrank_factor_rows", lambda T, D: D.LowRankMultivariateNormal(T.zeros(2), T.ones(3, 1),
                                                                     T.ones(2))),
    ("lowrank_diag_shape", lambda T, D: D.LowRankMultivariateNormal(T.zeros(2), T.ones(2, 1),
                                                                    T.ones(3))),
    ("lowrank_batches", lambda T, D: D.LowRankMultivariateNormal(T.zeros(2, 2), T.ones(3, 2, 1),
                                                                 T.ones(2))),
    ("lowrank_diag_positive", lambda T, D: D.LowRankMultivariateNormal(
        T.zeros(2), T.ones(2, 1), T.tensor([1.0, -1.0]))),
    ("lowrank_kl_events", lambda T, D: D.kl_divergence(
        D.LowRankMultivariateNormal(T.zeros(2), T.ones(2, 1), T.ones(2)),
        D.MultivariateNormal(T.zeros(3), T.eye(3)))),
    ("fisher_snedecor_df", lambda T, D: D.FisherSnedecor(T.tensor([1.0]), T.tensor([0.0]))),
    ("fisher_snedecor_support", lambda T, D: D.FisherSnedecor(1.0, 2.0).log_prob(T.tensor(-1.0))),
    ("logistic_normal_scale", lambda T, D: D.LogisticNormal(T.zeros(2), T.tensor([1.0, -1.0]))),
    ("logistic_normal_support", lambda T, D: D.LogisticNormal(T.zeros(2), 1.0).log_prob(
        T.tensor([0.5, 0.6, 0.1]))),
    ("generalized_pareto_scale", lambda T, D: D.GeneralizedPareto(0.0, T.tensor([-1.0]), 0.1)),
    ("generalized_pareto_support", lambda T, D: D.GeneralizedPareto(
        T.zeros(2), 1.0, T.full((2,), -0.5)).log_prob(T.tensor([1.0, 2.5]))),
    ("von_mises_concentration", lambda T, D: D.VonMises(T.zeros(2), T.tensor([1.0, 0.0]))),
    ("von_mises_value", lambda T, D: D.VonMises(0.0, 1.0).log_prob(T.tensor(float("nan")))),
    ("lkj_cholesky_dim", lambda T, D: D.LKJCholesky(1)),
    ("lkj_cholesky_concentration", lambda T, D: D.LKJCholesky(2, T.tensor([-1.0]))),
    ("lkj_cholesky_support", lambda T, D: D.LKJCholesky(2).log_prob(T.ones(2, 2))),
    ("no_kl", lambda T, D: D.kl_divergence(D.Categorical(T.ones(2)), D.Normal(0.0, 1.0))),
    ("wishart_two", lambda T, D: D.Wishart(3.0, covariance_matrix=T.eye(2), scale_tril=T.eye(2))),
    ("wishart_none", lambda T, D: D.Wishart(3.0)),
    ("wishart_1d", lambda T, D: D.Wishart(3.0, covariance_matrix=T.ones(2))),
    ("wishart_df", lambda T, D: D.Wishart(T.tensor([1.0, 3.0]), covariance_matrix=T.eye(3))),
    ("wishart_df_number", lambda T, D: D.Wishart(1.5, covariance_matrix=T.eye(3))),
    ("wishart_not_pd", lambda T, D: D.Wishart(3.0, covariance_matrix=T.tensor([[1.0, 2.0],
                                                                               [2.0, 1.0]]))),
    ("wishart_not_symmetric", lambda T, D: D.Wishart(3.0, precision_matrix=T.tensor(
        [[1.0, 0.5], [0.0, 1.0]]))),
    ("wishart_tril", lambda T, D: D.Wishart(3.0, scale_tril=T.tensor([[1.0, 0.5], [0.0, 1.0]]))),
    ("wishart_tril_diagonal", lambda T, D: D.Wishart(3.0, scale_tril=T.tensor([[-1.0, 0.0],
                                                                                [0.0, 1.0]]))),
    ("wishart_unchecked_not_pd", lambda T, D: D.Wishart(
        3.0, covariance_matrix=T.tensor([[1.0, 2.0], [2.0, 1.0]]), validate_args=False)),
    ("wishart_support", lambda T, D: D.Wishart(3.0, covariance_matrix=T.eye(2)).log_prob(
        T.tensor([[1.0, 2.0], [2.0, 1.0]]))),
    ("wishart_event", lambda T, D: D.Wishart(3.0, covariance_matrix=T.eye(2)).log_prob(T.eye(3))),
    ("wishart_not_broadcastable", lambda T, D: D.Wishart(
        T.tensor([3.0, 4.0]), covariance_matrix=T.eye(2)).log_prob(T.eye(2).expand(3, 2, 2))),
    ("wishart_number_df_mean", lambda T, D: D.Wishart(
        4.5, covariance_matrix=T.eye(2).expand(2, 2, 2)).mean),
    ("wishart_kl_other_family", lambda T, D: D.kl_divergence(
        D.Wishart(3.0, covariance_matrix=T.eye(2)), D.Gamma(1.0, 1.0))),
    ("wishart_kl_mvn", lambda T, D: D.kl_divergence(
        D.Wishart(3.0, covariance_matrix=T.eye(2)), D.MultivariateNormal(T.zeros(2), T.eye(2)))),
    ("wishart_kl_sizes", lambda T, D: D.kl_divergence(
        D.Wishart(3.0, covariance_matrix=T.eye(2)), D.Wishart(3.0, covariance_matrix=T.eye(3)))),
    ("kl_exponential_families", lambda T, D: D.kl_divergence(D.Dirichlet(T.ones(3)),
                                                             D.Gamma(1.0, 1.0))),
    ("kl_normal_poisson", lambda T, D: D.kl_divergence(D.Normal(0.0, 1.0), D.Poisson(T.tensor(2.0)))),
    ("kl_binomial_counts", lambda T, D: D.kl_divergence(
        D.Binomial(T.tensor([5.0, 4.0]), T.tensor([0.3, 0.4])),
        D.Binomial(T.tensor([5.0, 5.0]), T.tensor([0.3, 0.4])))),
    # torch writes its infinite entries with t[mask] = inf: a mask of q's batch shape alone
    # must match the result's leading dims
    ("kl_beta_uniform_mask", lambda T, D: D.kl_divergence(
        D.Beta(T.ones(2, 3), T.ones(2, 3)), D.Uniform(T.zeros(3), T.ones(3)))),
    ("kl_uniform_beta_mask", lambda T, D: D.kl_divergence(
        D.Uniform(T.zeros(3), 1.0), D.Beta(T.ones(2, 3), 2.0))),
    ("kl_uniform_exponential_mask", lambda T, D: D.kl_divergence(
        D.Uniform(T.tensor([[0.0], [-1.0]]), 1.0), D.Exponential(T.ones(3)))),
    ("kl_uniform_gamma_mask", lambda T, D: D.kl_divergence(
        D.Uniform(T.zeros(3), 1.0), D.Gamma(T.ones(2, 3), 1.0))),
    ("kl_bernoulli_mask", lambda T, D: D.kl_divergence(
        D.Bernoulli(T.full((2, 3), 0.5)), D.Bernoulli(T.full((3,), 0.5)))),
    ("kl_pareto_exponential_mask", lambda T, D: D.kl_divergence(
        D.Pareto(T.ones(3), T.tensor([0.5, 2.0, 3.0])), D.Exponential(T.ones(2, 3)))),
    ("poisson_entropy", lambda T, D: D.Poisson(T.tensor([2.0])).entropy()),
]


@pytest.mark.parametrize("name, fn", ERRORS, ids=[e[0] for e in ERRORS])
def test_validation_errors_match_torch(name, fn):
    caught = {}
    for lib, (T, D) in LIBS.items():
        with pytest.raises(Exception) as info:
            fn(T, D)
        caught[lib] = (type(info.value).__name__, str(info.value))
    assert caught["distgrad"] == caught["torch"]


def test_validate_args_false_skips_the_checks():
    d = DD.Normal(distgrad.zeros(2), distgrad.tensor([1.0, -1.0]), validate_args=False)
    assert d.log_prob(distgrad.zeros(2)).shape == (2,)


# ---- sampling --------------------------------------------------------------------------------

def _sampled(build, n=4000, seed=7):
    distgrad.manual_seed(seed)
    return build().sample((n,))


SAMPLERS = [
    ("normal", lambda: DD.Normal(distgrad.tensor([1.0, -2.0]), distgrad.tensor([0.5, 2.0]))),
    ("uniform", lambda: DD.Uniform(distgrad.tensor([0.0, 2.0]), distgrad.tensor([1.0, 5.0]))),
    ("exponential", lambda: DD.Exponential(distgrad.tensor([0.5, 2.0]))),
    ("laplace", lambda: DD.Laplace(distgrad.tensor([1.0, -1.0]), distgrad.tensor([0.5, 1.5]))),
    ("bernoulli", lambda: DD.Bernoulli(distgrad.tensor([0.2, 0.7]))),
    ("categorical", lambda: DD.Categorical(distgrad.tensor([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]]))),
    ("one_hot", lambda: DD.OneHotCategorical(distgrad.tensor([0.1, 0.6, 0.3]))),
    ("gamma", lambda: DD.Gamma(distgrad.tensor([0.5, 3.0, 12.0]), distgrad.tensor([1.0, 2.0, 3.0]))),
    ("beta", lambda: DD.Beta(distgrad.tensor([0.5, 2.0]), distgrad.tensor([1.5, 3.0]))),
    ("dirichlet", lambda: DD.Dirichlet(distgrad.tensor([0.5, 1.0, 3.0]))),
    ("poisson", lambda: DD.Poisson(distgrad.tensor([0.5, 4.0]))),
    ("binomial", lambda: DD.Binomial(distgrad.tensor([5.0, 10.0]), distgrad.tensor([0.3, 0.8]))),
    ("geometric", lambda: DD.Geometric(distgrad.tensor([0.3, 0.8]))),
    ("mvn", lambda: DD.MultivariateNormal(distgrad.tensor([1.0, -1.0]),
                                         distgrad.tensor([[2.0, 0.5], [0.5, 1.0]]))),
    ("lognormal", lambda: DD.LogNormal(distgrad.tensor([0.0, 0.5]), distgrad.tensor([0.3, 0.5]))),
    ("half_normal", lambda: DD.HalfNormal(distgrad.tensor([0.5, 2.0]))),
    ("gumbel", lambda: DD.Gumbel(distgrad.tensor([1.0, -1.0]), distgrad.tensor([0.5, 1.5]))),
    ("student_t", lambda: DD.StudentT(distgrad.tensor([5.0, 9.0]), 1.0, 2.0)),
    ("chi2", lambda: DD.Chi2(distgrad.tensor([1.0, 6.0]))),
    ("weibull", lambda: DD.Weibull(distgrad.tensor([1.0, 2.0]), distgrad.tensor([1.5, 3.0]))),
    ("pareto", lambda: DD.Pareto(distgrad.tensor([1.0, 2.0]), distgrad.tensor([5.0, 9.0]))),
    ("inverse_gamma", lambda: DD.InverseGamma(distgrad.tensor([5.0, 9.0]), distgrad.tensor([1.0, 2.0]))),
    ("multinomial", lambda: DD.Multinomial(6, distgrad.tensor([0.2, 0.5, 0.3]))),
    ("kumaraswamy", lambda: DD.Kumaraswamy(distgrad.tensor([0.5, 2.0]), distgrad.tensor([1.5, 3.0]))),
    ("negative_binomial", lambda: DD.NegativeBinomial(distgrad.tensor([2.0, 5.0]),
                                                      distgrad.tensor([0.3, 0.6]))),
    ("continuous_bernoulli", lambda: DD.ContinuousBernoulli(distgrad.tensor([0.2, 0.5, 0.9]))),
    ("lowrank_mvn", lambda: DD.LowRankMultivariateNormal(
        distgrad.tensor([1.0, -1.0]), distgrad.tensor([[1.0], [0.5]]), distgrad.tensor([0.5, 1.0]))),
    ("fisher_snedecor", lambda: DD.FisherSnedecor(distgrad.tensor([5.0, 9.0]),
                                                  distgrad.tensor([12.0, 20.0]))),
    ("generalized_pareto", lambda: DD.GeneralizedPareto(distgrad.tensor([0.0, 1.0]), 2.0,
                                                        distgrad.tensor([-0.3, 0.1]))),
    ("mixture", lambda: DD.MixtureSameFamily(DD.Categorical(distgrad.tensor([0.3, 0.7])),
                                             DD.Normal(distgrad.tensor([-1.0, 2.0]), 0.5))),
    ("wishart", lambda: DD.Wishart(distgrad.tensor([6.0, 9.0]), covariance_matrix=distgrad.tensor(
        [[1.0, 0.3], [0.3, 0.5]]))),
]


@pytest.mark.parametrize("name, build", SAMPLERS, ids=[s[0] for s in SAMPLERS])
def test_samples_are_seeded_in_support_and_have_the_moments(name, build):
    d = build()
    s = _sampled(build)
    assert tuple(s.shape) == (4000,) + tuple(d.batch_shape) + tuple(d.event_shape)
    twin = {"categorical": torch.int64}.get(name, torch.float32)
    assert str(s.dtype) == str(twin)
    assert not s.requires_grad
    assert np.array_equal(s.numpy(), _sampled(build).numpy())  # the same seed, the same draws
    assert not np.array_equal(s.numpy(), _sampled(build, seed=8).numpy())
    assert bool(d.support.check(s).all())
    x = s.numpy().astype(np.float64)
    if name == "categorical":  # the frequencies of each category
        x = np.eye(3)[s.numpy()]
        mean, var = d.probs.numpy(), (d.probs * (1 - d.probs)).numpy()
    else:
        mean, var = d.mean.numpy(), d.variance.numpy()
    se = np.sqrt(var / len(x))
    assert np.all(np.abs(x.mean(0) - mean) <= 5 * se + 1e-6), (x.mean(0), mean)
    np.testing.assert_allclose(x.var(0), var, rtol=0.15, atol=1e-3)


def test_rsample_gradients_of_location_scale_families():
    loc = distgrad.tensor([0.5, -1.0], requires_grad=True)
    scale = distgrad.tensor([1.0, 2.0], requires_grad=True)
    distgrad.manual_seed(0)
    x = DD.Normal(loc, scale).rsample((1000,))
    x.mean().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [0.5, 0.5], rtol=1e-4)
    eps = (x.detach() - loc.detach()) / scale.detach()  # the noise: d x / d scale
    np.testing.assert_allclose(scale.grad.numpy(), eps.numpy().mean(0) / 2, rtol=1e-5)
    low, high = (distgrad.tensor(0.0, requires_grad=True), distgrad.tensor(2.0, requires_grad=True))
    u = DD.Uniform(low, high).rsample((500,))
    u.sum().backward()
    np.testing.assert_allclose(low.grad.item() + high.grad.item(), 500.0, rtol=1e-6)
    for d in (DD.Exponential(scale), DD.Laplace(loc, scale), DD.LogNormal(loc, scale)):
        assert d.has_rsample and d.rsample((3,)).requires_grad


def test_gamma_rsample_gradient_is_torchs_implicit_gradient():
    """With the draw held fixed, d x / d alpha is torch._standard_gamma_grad(alpha, x), over
    its three regimes (x < 0.8, alpha > 8, and the rational fit), in both float dtypes."""
    from distgrad.distributions._implicit import reparameterized_standard_gamma

    for dtype in ("float32", "float64"):
        alpha = np.array([0.3, 0.9, 2.0, 5.0, 10.0, 20.0, 50.0, 3.0, 9.0])
        x = np.array([0.1, 0.5, 1.5, 4.0, 9.5, 15.0, 60.0, 7.0, 1.0])
        a = distgrad.tensor(alpha, dtype=getattr(distgrad, dtype), requires_grad=True)
        draw = distgrad.tensor(x, dtype=getattr(distgrad, dtype))
        out = reparameterized_standard_gamma(a, draw)
        assert np.array_equal(out.detach().numpy(), draw.numpy())
        out.sum().backward()
        theirs = torch._standard_gamma_grad(torch.tensor(alpha, dtype=getattr(torch, dtype)),
                                           torch.tensor(x, dtype=getattr(torch, dtype)))
        _close(a.grad, theirs, dtype, f"standard gamma grad {dtype}")


def test_dirichlet_rsample_gradient_is_torchs_implicit_gradient():
    """With the draw held fixed, a Dirichlet draw's gradient is torch's _Dirichlet backward,
    _dirichlet_grad(x, alpha, total) * (g - <x, g>), over dirichlet_grad's regimes (near 0,
    near 1, both concentrations large, the rational correction)."""
    from distgrad.distributions._implicit import reparameterized_dirichlet

    alpha = np.array([[0.5, 1.0, 2.0], [10.0, 9.0, 8.0], [3.0, 0.3, 4.0], [0.4, 0.4, 0.4],
                      [1.5, 2.5, 0.7]])
    x = np.array([[0.05, 0.35, 0.6], [0.36, 0.33, 0.31], [0.4, 0.01, 0.59], [0.98, 0.01, 0.01],
                  [0.3, 0.6, 0.1]])
    g = _rng("g").uniform(-1, 1, x.shape)
    for dtype in ("float32", "float64"):
        a = distgrad.tensor(alpha, dtype=getattr(distgrad, dtype), requires_grad=True)
        draw = distgrad.tensor(x, dtype=getattr(distgrad, dtype))
        out = reparameterized_dirichlet(a, draw)
        assert np.array_equal(out.detach().numpy(), draw.numpy())
        (out * distgrad.tensor(g, dtype=a.dtype)).sum().backward()
        T = getattr(torch, dtype)
        ta, tx, tg = torch.tensor(alpha, dtype=T), torch.tensor(x, dtype=T), torch.tensor(g, dtype=T)
        grad = torch._dirichlet_grad(tx, ta, ta.sum(-1, True).expand_as(ta))
        _close(a.grad, grad * (tg - (tx * tg).sum(-1, True)), dtype, f"dirichlet grad {dtype}")


def test_reparameterized_draws_have_torchs_grad_fns():
    """A Gamma draw is the division's output (its clamp to tiny unrecorded) and a Dirichlet
    draw its Function's, which like torch's is once-differentiable; Beta selects from it."""
    c = distgrad.tensor([0.5, 2.0], requires_grad=True)
    assert DD.Gamma(c, 1.0).rsample().grad_fn.name() == "DivBackward0"
    x = DD.Dirichlet(c).rsample()
    assert x.grad_fn.name() == "_DirichletBackward"
    assert DD.Beta(c, c).rsample().grad_fn.name() == "SelectBackward0"
    g, = distgrad.autograd.grad(x[0], c, create_graph=True)
    assert not g.requires_grad


def test_gamma_draws_second_order_graph_is_torchs():
    """A standard Gamma draw hangs on StandardGammaBackward0, whose gradient (taken with
    create_graph) is recorded up to StandardGammaGradBackward0, which raises when
    differentiated, as torch's; StudentT scales X * rsqrt(Z / df), as torch's."""
    from torch_twin import attempt, graph, same

    def program(T):
        D = T.distributions
        out = []
        for make in (lambda c: D.Gamma(c, 1.0), lambda c: D.Chi2(c),
                     lambda c: D.StudentT(c, 0.5, 2.0), lambda c: D.Beta(c, 2.0)):
            T.manual_seed(0)
            c = T.tensor(2.5, requires_grad=True)
            x = make(c).rsample()
            g, = T.autograd.grad(x, c, create_graph=True)
            out.append((x, graph(x), g, graph(g),
                        attempt(lambda: T.autograd.grad(g, c)) if g.requires_grad else None))
        return out

    same(program)


def test_student_t_mean_and_variance_gradients_skip_the_undefined_entries():
    """Written into the entries with df > 1 (mean) and df > 2 (variance) by index, as
    torch's: df == 2 divides by zero in the formula, which must leave no nan gradient."""
    grads = {}
    for name, (lib, dist) in LIBS.items():
        df = lib.tensor([1.0, 2.0, 4.0], requires_grad=True)
        scale = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        loc = lib.tensor([0.5, 1.0, 3.0], requires_grad=True)
        d = dist.StudentT(df, loc, scale)
        assert d.variance.grad_fn.name() == d.mean.grad_fn.name() == "IndexPutBackward0"
        (d.variance[2] + d.mean[1:].sum()).backward()
        grads[name] = (df.grad, scale.grad, loc.grad)
    for ours, theirs in zip(grads["distgrad"], grads["torch"]):
        _close(ours, theirs, "float32", "StudentT variance/mean gradient")


def test_kl_divergences_and_modes_written_by_index_have_torchs_node():
    """torch writes a KL's infinite entries (and a FisherSnedecor's or batched Dirichlet's
    mode's special ones) into the result in place, `t[mask] = value`: its grad_fn is an
    IndexPutBackward0, with the same values and gradients as choosing them by where."""
    names = {}
    for name, (lib, dist) in LIBS.items():
        a = lib.tensor([0.5, 1.0, 3.0], requires_grad=True)
        b = lib.tensor([2.0, 0.5, 3.0], requires_grad=True)
        zeros, ones = lib.zeros(3), lib.ones(3)
        results = [
            dist.kl_divergence(dist.Beta(a, b), dist.Uniform(zeros, ones)),
            dist.kl_divergence(dist.Uniform(zeros, a), dist.Uniform(zeros - 1, b)),
            dist.kl_divergence(dist.Pareto(a, b), dist.Exponential(ones)),
            dist.kl_divergence(dist.Pareto(a, b + 2), dist.Normal(zeros, ones)),
            dist.kl_divergence(dist.Binomial(5, probs=a / 4), dist.Binomial(5, probs=b / 4)),
            dist.FisherSnedecor(a + 1, b).mode,
            dist.Dirichlet(lib.stack([a, b]).T).mode,
        ]
        names[name] = [r.grad_fn.name() for r in results]
        grads = lib.autograd.grad(sum(r.nan_to_num(0.0, 1.0).sum() for r in results), (a, b))
        names[name].append([_np(g) for g in grads])
    assert names["distgrad"][:-1] == names["torch"][:-1]
    for ours, theirs in zip(names["distgrad"][-1], names["torch"][-1]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_gamma_beta_dirichlet_rsample_gradients_are_unbiased():
    """E[d x/d theta] = d E[x]/d theta: the pathwise gradients average to the mean's gradient."""
    distgrad.manual_seed(3)
    c, r = (distgrad.tensor([0.7, 4.0], dtype=distgrad.float64, requires_grad=True),
            distgrad.tensor([1.5, 0.5], dtype=distgrad.float64, requires_grad=True))
    DD.Gamma(c, r).rsample((20000,)).mean(0).sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), 1 / r.detach().numpy(), rtol=0.05)
    np.testing.assert_allclose(r.grad.numpy(), -(c / r ** 2).detach().numpy(), rtol=0.05)
    a = distgrad.tensor([1.0, 2.0, 3.0], dtype=distgrad.float64, requires_grad=True)
    DD.Dirichlet(a).rsample((20000,)).mean(0)[0].backward()
    expected = np.array([5.0, -1.0, -1.0]) / 36  # d (a0 / sum a) / d a
    np.testing.assert_allclose(a.grad.numpy(), expected, atol=0.01)
    b1 = distgrad.tensor(2.0, dtype=distgrad.float64, requires_grad=True)
    DD.Beta(b1, 3.0).rsample((20000,)).mean().backward()
    np.testing.assert_allclose(b1.grad.item(), 3.0 / 25, atol=0.01)


def test_discrete_distributions_have_no_rsample():
    for d in (DD.Bernoulli(0.5), DD.Categorical(distgrad.ones(3)), DD.Poisson(1.0)):
        assert not d.has_rsample
        with pytest.raises(NotImplementedError):
            d.rsample()


def test_enumerate_support_and_perplexity_match_torch():
    for build in (lambda T, D: D.Bernoulli(T.full((2,), 0.3)),
                  lambda T, D: D.Categorical(T.ones(2, 3)),
                  lambda T, D: D.OneHotCategorical(T.ones(2, 3)),
                  lambda T, D: D.Binomial(4, T.full((2,), 0.3))):
        ours, theirs = build(distgrad, DD), build(torch, TD)
        for expand in (True, False):
            assert np.array_equal(ours.enumerate_support(expand).numpy(),
                                  theirs.enumerate_support(expand).numpy())
        _close(ours.perplexity(), theirs.perplexity(), "float32", "perplexity")


def test_relaxed_and_straight_through_rsamples_carry_gradients():
    """A relaxed draw is differentiable in its logits and temperature; a straight-through
    draw is one-hot with the probabilities' gradient, as in torch."""
    grads = {}
    for lib, (T, D) in LIBS.items():
        T.manual_seed(5)
        logits = T.tensor([[0.2, -1.0, 0.5], [1.0, 0.0, -0.5]], requires_grad=True)
        temperature = T.tensor(0.7, requires_grad=True)
        weights = T.tensor([1.0, 2.0, 3.0])
        x = D.RelaxedOneHotCategorical(temperature, logits=logits).rsample((4,))
        b = D.RelaxedBernoulli(temperature, logits=logits).rsample()
        st = D.OneHotCategoricalStraightThrough(logits=logits).rsample((2,))
        ((x * weights).sum() + (b * weights).sum() + (st * weights).sum()).backward()
        grads[lib] = (x, b, st, logits.grad, temperature.grad)
    for ours, theirs in zip(grads["distgrad"], grads["torch"]):
        _close(ours, theirs, "float32", "relaxed rsample")


# ---- transforms ------------------------------------------------------------------------------

TRANSFORMS = [  # (id, build(T, D), input shape, input sampler)
    ("abs", lambda T, D: D.AbsTransform(), (2, 3), "real"),
    ("power", lambda T, D: D.PowerTransform(T.tensor([0.5, 2.0, -1.5])), (2, 3), "positive"),
    ("softplus", lambda T, D: D.SoftplusTransform(), (2, 3), "real"),
    ("softmax", lambda T, D: D.SoftmaxTransform(), (2, 4), "real"),
    ("stick_breaking", lambda T, D: D.StickBreakingTransform(), (2, 3), "real"),
    ("lower_cholesky", lambda T, D: D.LowerCholeskyTransform(), (2, 3, 3), "real"),
    ("positive_definite", lambda T, D: D.PositiveDefiniteTransform(), (2, 3, 3), "real"),
    ("reshape", lambda T, D: D.ReshapeTransform((2, 3), (6,)), (4, 2, 3), "real"),
    ("independent_softplus", lambda T, D: D.IndependentTransform(D.SoftplusTransform(), 2),
     (4, 2, 3), "real"),
    ("cdf", lambda T, D: D.CumulativeDistributionTransform(D.Normal(1.0, 2.0)), (2, 3), "real"),
    ("cat", lambda T, D: D.CatTransform([D.ExpTransform(), D.SoftplusTransform()], dim=1,
                                        lengths=[1, 2]), (2, 3), "real"),
    ("cat_events", lambda T, D: D.CatTransform(
        [D.IndependentTransform(D.ExpTransform(), 1), D.SoftplusTransform()], dim=0,
        lengths=[2, 2]), (4, 3), "real"),
    ("corr_cholesky", lambda T, D: D.CorrCholeskyTransform(), (2, 6), "real"),
    ("stack", lambda T, D: D.StackTransform([D.ExpTransform(), D.TanhTransform(),
                                             D.SoftplusTransform()], dim=-1), (2, 3), "real"),
]


def _outcome(fn):
    """fn()'s value, or the type of what it raised (torch's Cat constraint cannot check
    parts of different event dims)."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - compared with torch's
        return type(e).__name__


@pytest.mark.parametrize("tid, build, shape, kind", TRANSFORMS, ids=[t[0] for t in TRANSFORMS])
def test_transforms_match_torch(tid, build, shape, kind):
    """Forward, inverse (round trip), log|det J|, shapes and attributes, and the gradients of
    each with respect to the input, as torch's, in float64."""
    x_np = _rng(tid).standard_normal(shape)
    if kind == "positive":
        x_np = np.abs(x_np) + 0.1
    out = {}
    for lib, (T, D) in LIBS.items():
        t = build(T, D)
        x = T.tensor(x_np, requires_grad=True)
        y = t(x)
        results = [y, t.inv(y)]
        try:
            results.append(t.log_abs_det_jacobian(x, y))
        except NotImplementedError:
            pass
        total = sum((r * T.tensor(_rng(tid, i).uniform(0.5, 1.5, tuple(r.shape)))).sum()
                    for i, r in enumerate(results))
        grad, = T.autograd.grad(total, [x])
        facts = (tuple(t.forward_shape(shape)), tuple(t.inverse_shape(tuple(y.shape))),
                 t.bijective, repr(t.domain), repr(t.codomain), t == build(T, D),
                 _outcome(lambda: _np(t.codomain.check(y)).tolist()),
                 _outcome(lambda: _np(t.domain.check(x)).tolist()))
        out[lib] = (results + [grad], facts)
    (ours, our_facts), (theirs, their_facts) = out["distgrad"], out["torch"]
    assert our_facts == their_facts
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        _close(a, b, "float64", f"{tid}: output {i}")


def test_transform_shape_errors_match_torch():
    for build in (lambda T, D: D.ReshapeTransform((2, 3), (5,)),
                  lambda T, D: D.ReshapeTransform((2, 3), (6,)).forward_shape((3, 2)),
                  lambda T, D: D.StickBreakingTransform().forward_shape(()),
                  lambda T, D: D.IndependentTransform(D.ExpTransform(), 2)(T.zeros(3)),
                  lambda T, D: D.CatTransform([D.ExpTransform()], dim=2)(T.zeros(3)),
                  lambda T, D: D.CatTransform([D.ExpTransform()], lengths=[2])(T.zeros(3)),
                  lambda T, D: D.StackTransform([D.ExpTransform()]).log_abs_det_jacobian(
                      T.zeros(2), T.zeros(2)),
                  lambda T, D: D.CatTransform([D.ExpTransform()], lengths=[1, 2]),
                  lambda T, D: D.CorrCholeskyTransform().forward_shape((2, 5)),
                  lambda T, D: D.CorrCholeskyTransform().inverse_shape((3, 4)),
                  lambda T, D: D.CorrCholeskyTransform()(T.zeros(2, 5))):
        caught = {}
        for lib, (T, D) in LIBS.items():
            with pytest.raises(Exception) as info:
                build(T, D)
            caught[lib] = (type(info.value).__name__, str(info.value))
        assert caught["distgrad"] == caught["torch"]


def test_generalized_pareto_scores_float64_parameters():
    """torch raises for float64 parameters (it compares them with a float32 0); distgrad
    scores them, agreeing with torch's float32 numbers, the exponential tail (0) included."""
    raw = dict(loc=[0.0, 1.0, -1.0], scale=[1.0, 2.0, 0.5], concentration=[0.0, 0.3, -0.2])
    x = [0.5, 2.0, -0.5]
    theirs = TD.GeneralizedPareto(*(torch.tensor(v) for v in raw.values()))
    ours = DD.GeneralizedPareto(*(distgrad.tensor(v, dtype=distgrad.float64)
                                  for v in raw.values()))
    for name in ("log_prob", "cdf"):
        got = getattr(ours, name)(distgrad.tensor(x, dtype=distgrad.float64)).numpy()
        np.testing.assert_allclose(got, getattr(theirs, name)(torch.tensor(x)).numpy(),
                                   rtol=1e-6, err_msg=name)


# ---- KL: the registry and its dispatch ---------------------------------------------------------

def _families(D):
    return {n: getattr(D, n) for n in TD.__all__
            if isinstance(getattr(TD, n), type) and issubclass(getattr(TD, n), TD.Distribution)}


def test_kl_registry_has_torchs_pairs():
    """Every (type_p, type_q) torch 2.13 registers is registered here, and no other."""
    theirs = {(p.__name__, q.__name__) for p, q in TD.kl._KL_REGISTRY}
    ours = {(p.__name__, q.__name__) for p, q in DD.kl._KL_REGISTRY}
    assert set(_families(DD)) == set(_families(TD))
    assert ours == theirs


def _chosen(kl_module, fun):
    """The registered pairs (by name) whose function `fun` is."""
    return {(p.__name__, q.__name__) for (p, q), f in kl_module._KL_REGISTRY.items() if f is fun}


def _subclasses(D):
    """Subclasses a user might write: of a family with a pair of its own, of a derived
    family, and of the exponential family base."""
    class MyNormal(D.Normal):
        pass

    class MyChi2(D.Chi2):
        pass

    class MyHalfNormal(D.HalfNormal):
        pass

    class MyWishart(D.Wishart):
        pass

    return {"MyNormal": MyNormal, "MyChi2": MyChi2, "MyHalfNormal": MyHalfNormal,
            "MyWishart": MyWishart}


def test_kl_dispatch_picks_torchs_pair_for_every_pair_of_types():
    """For each pair of families (and of subclasses of them), the most specific registered
    pair torch's rule picks is the one picked here, or neither has one."""
    theirs = {**_families(TD), **_subclasses(TD)}
    ours = {**_families(DD), **_subclasses(DD)}
    for a in theirs:
        for b in theirs:
            t = TD.kl._dispatch_kl(theirs[a], theirs[b])
            d = DD.kl._dispatch_kl(ours[a], ours[b])
            assert (t is NotImplemented) == (d is NotImplemented), (a, b)
            if t is not NotImplemented:
                assert _chosen(TD.kl, t) & _chosen(DD.kl, d), (a, b)


def test_kl_of_subclasses_is_the_most_specific_pairs():
    """Subclasses (user-written, Chi2 as a Gamma) take the closed form of their nearest
    registered ancestors: values and gradients as torch's."""
    out = {}
    for lib, (T, D) in LIBS.items():
        sub = _subclasses(D)
        df = T.tensor([2.5, 4.0], dtype=T.float64, requires_grad=True)
        loc = T.tensor([0.3, -0.2], dtype=T.float64, requires_grad=True)
        kls = [D.kl_divergence(sub["MyChi2"](df), D.Exponential(loc.exp())),
               D.kl_divergence(D.Exponential(loc.exp()), sub["MyChi2"](df)),
               D.kl_divergence(sub["MyNormal"](loc, df), D.Laplace(loc * 2, df)),
               D.kl_divergence(D.Uniform(loc - 1, df), sub["MyNormal"](loc, df)),
               D.kl_divergence(sub["MyChi2"](df), sub["MyNormal"](loc, df)),
               D.kl_divergence(sub["MyHalfNormal"](df), D.HalfNormal(df + loc))]
        total = sum((k * (i + 1)).sum() for i, k in enumerate(kls))
        out[lib] = kls + list(T.autograd.grad(total, [df, loc]))
    for i, (ours, theirs) in enumerate(zip(out["distgrad"], out["torch"])):
        _close(ours, theirs, "float64", f"subclass kl {i}")


def test_kl_of_numbers_and_broadcast_batches_match_torch():
    """Parameters given as numbers (batch shape ()), and p and q of different batch shapes
    that broadcast (where torch's masked writes allow it)."""
    builds = [lambda T, D: (D.Beta(2.0, 3.0), D.Exponential(1.0)),
              lambda T, D: (D.Beta(2.0, 3.0), D.Uniform(0.0, 1.0)),
              lambda T, D: (D.Beta(2.0, 3.0), D.Uniform(0.1, 1.0)),
              lambda T, D: (D.Uniform(0.0, 1.0), D.Beta(2.0, 3.0)),
              lambda T, D: (D.Uniform(T.tensor([[0.0], [-1.0]]), 1.0), D.Normal(T.ones(3), 2.0)),
              lambda T, D: (D.Uniform(T.tensor([[0.0, 0.1, 0.2], [0.5, -0.1, 0.3]]), 1.0),
                            D.Gamma(T.ones(3), 2.0)),
              lambda T, D: (D.Uniform(T.full((2, 3), 0.2), 0.7), D.Beta(T.ones(3), 2.0)),
              lambda T, D: (D.Beta(T.ones(3), T.full((3,), 2.0)),
                            D.Uniform(T.tensor([[0.0, -0.1, 0.2], [0.0, -1.0, -0.5]]), 1.0)),
              lambda T, D: (D.Gamma(T.ones(2, 1), 2.0), D.Normal(T.zeros(3), 1.5)),
              lambda T, D: (D.Laplace(0.0, 1.0), D.Normal(T.zeros(2, 2), 1.5)),
              lambda T, D: (D.Normal(T.zeros(2, 1), 1.0), D.Laplace(T.zeros(3), 1.5)),
              lambda T, D: (D.Exponential(T.ones(2, 1)), D.Gamma(T.ones(3), 1.5)),
              lambda T, D: (D.Geometric(T.tensor([0.2, 0.7])), D.Geometric(0.5)),
              lambda T, D: (D.Bernoulli(0.3), D.Poisson(T.tensor([1.0, 2.0]))),
              lambda T, D: (D.Binomial(6, T.tensor([[0.2], [0.7]])),
                            D.Binomial(T.tensor([6.0, 4.0, 6.0]), T.tensor([0.5, 0.1, 0.9])))]
    for i, build in enumerate(builds):
        kls = {lib: D.kl_divergence(*build(T, D)) for lib, (T, D) in LIBS.items()}
        _close(kls["distgrad"], kls["torch"], "float32", f"kl {i}")


_COV3 = [[2.0, 0.3, 0.1], [0.3, 1.0, 0.2], [0.1, 0.2, 1.5]]
FAMILIES = [  # (name, build(D, *parameters), p's parameters, q's): members of one family
    ("bernoulli", lambda D, p: D.Bernoulli(p), [[0.2, 0.6, 0.9]], [[0.5, 0.3, 0.95]]),
    ("beta", lambda D, a, b: D.Beta(a, b), [[0.5, 2.0], [1.5, 3.0]], [[1.5, 3.0], [1.0, 2.5]]),
    ("continuous_bernoulli", lambda D, p: D.ContinuousBernoulli(p), [[0.2, 0.4999, 0.8]],
     [[0.7, 0.1, 0.5001]]),
    ("dirichlet", lambda D, c: D.Dirichlet(c), [[[0.5, 2.0, 1.0], [3.0, 1.0, 0.7]]],
     [[[1.5, 3.0, 2.0], [4.0, 2.0, 1.7]]]),
    ("exponential", lambda D, r: D.Exponential(r), [[0.5, 2.0]], [[1.5, 3.0]]),
    ("gamma", lambda D, c, r: D.Gamma(c, r), [[0.5, 2.0], [1.5, 0.5]], [[1.5, 3.0], [1.5, 0.5]]),
    ("normal", lambda D, m, s: D.Normal(m, s), [[0.0, 0.0], [1.5, 0.5]],
     [[0.5, -1.0], [2.5, 1.5]]),
    ("poisson", lambda D, r: D.Poisson(r), [[0.5, 2.0]], [[1.5, 3.0]]),
    ("wishart", lambda D, df, c: D.Wishart(df, covariance_matrix=c), [[3.5, 5.0], _COV3],
     [[4.5, 6.0], np.array(_COV3) + np.diag([0.0, 1.0, 0.0])]),
]


@pytest.mark.parametrize("name, build, raw_p, raw_q", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_exponential_families_bregman_kl_and_entropy_match_torch(name, build, raw_p, raw_q):
    """Each exponential family's natural parameters and log normalizer give torch's Bregman
    KL (as the closed form, where one is registered) and, where torch has the carrier
    measure, its Bregman entropy; with q's gradients (p's natural parameters are new leaves,
    so p's parameters get none)."""
    out = {}
    for lib, (T, D) in LIBS.items():
        p_params = [T.tensor(v, dtype=T.float64, requires_grad=True) for v in raw_p]
        q_params = [T.tensor(v, dtype=T.float64, requires_grad=True) for v in raw_q]
        p, q = build(D, *p_params), build(D, *q_params)
        kl = D.kl._kl_expfamily_expfamily(p, q)
        grads = T.autograd.grad(kl.sum(), p_params + q_params, allow_unused=True)
        assert all(g is None for g in grads[:len(p_params)])
        got = [kl, D.kl_divergence(p, q)] + list(grads[len(p_params):])
        try:
            got.append(D.ExponentialFamily.entropy(p))
        except NotImplementedError:
            got.append(None)
        out[lib] = got
    for i, (ours, theirs) in enumerate(zip(out["distgrad"], out["torch"])):
        assert (ours is None) == (theirs is None)
        if theirs is not None:
            _close(ours, theirs, "float64", f"{name}: {i}")
    _close(out["torch"][0], out["torch"][1], "float64", f"{name}: Bregman vs closed form")


# ---- Wishart -----------------------------------------------------------------------------------

def _wishart_draws(T, D, dtype, seed):
    """Draws of several Wisharts, then a few uniforms from the stream after them."""
    dt = getattr(T, dtype)
    cov = T.tensor([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]], dtype=dt)
    T.manual_seed(seed)
    draws = [D.Wishart(T.tensor([4.0, 5.5], dtype=dt), covariance_matrix=cov).rsample((2,)),
             D.Wishart(T.tensor([4.0, 5.5], dtype=dt), covariance_matrix=cov).sample(),
             D.Wishart(3.5, scale_tril=T.linalg.cholesky(cov)).sample((3,)),
             D.Wishart(T.tensor([[2.5], [7.0]], dtype=dt), precision_matrix=cov[:2, :2]).sample(),
             D.Wishart(T.tensor(8.0, dtype=dt), covariance_matrix=cov).expand((2,)).sample((2,)),
             D.Wishart(6.0, covariance_matrix=cov).rsample((2,), max_try_correction=0)]
    return draws, T.rand(4, dtype=dt)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_wishart_samples_are_torchs(dtype):
    """Bartlett's draws are torch's: the Chi2 (gamma) draws of the diagonal, then the normals
    below it, from the same stream; torch 2.13's correction step draws everything again
    (it redraws the draws its positive-definiteness check passes, with a warning) unless
    max_try_correction=0, and so does distgrad; the stream after them is torch's, bit for
    bit. The values agree to the rounding of the two matrix products."""
    out = {}
    for lib, (T, D) in LIBS.items():
        with pytest.warns(UserWarning, match="Singular sample detected") as record:
            out[lib] = _wishart_draws(T, D, dtype, seed=21)
        out[lib] += ([str(w.message) for w in record],)
    (ours, our_next, our_warnings), (theirs, their_next, their_warnings) = \
        out["distgrad"], out["torch"]
    assert our_warnings == their_warnings
    np.testing.assert_array_equal(our_next.numpy(), their_next.numpy())
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == "float32" else dict(rtol=1e-13, atol=1e-13)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape and str(a.dtype) == str(b.dtype)
        np.testing.assert_allclose(_np(a), _np(b), err_msg=f"draw {i}", **tol)


@pytest.mark.parametrize("which", ["covariance_matrix", "precision_matrix", "scale_tril"])
def test_wishart_rsample_gradients_match_torch(which):
    """A draw (sample_shape ()) is reparameterized: its gradient with respect to df (through
    the gamma draws' implicit gradient) and to the scale matrix is torch's."""
    cov = np.array([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 1.5]])
    raw = np.linalg.cholesky(cov) if which == "scale_tril" else cov
    weights = _rng("wishart rsample").uniform(0.5, 1.5, (2, 3, 3))
    out = {}
    for lib, (T, D) in LIBS.items():
        df = T.tensor([3.5, 6.0], dtype=T.float64, requires_grad=True)
        m = T.tensor(raw, requires_grad=True)
        T.manual_seed(4)
        x = D.Wishart(df, **{which: m}).rsample()
        out[lib] = [x] + list(T.autograd.grad((x * T.tensor(weights)).sum(), [df, m]))
    for i, (a, b) in enumerate(zip(out["distgrad"], out["torch"])):
        _close(a, b, "float64", f"{which}: {i}")


def test_wishart_rsample_with_a_sample_shape_has_the_redraws_gradient():
    """torch 2.13's backward through rsample(sample_shape) raises (its correction writes in
    place the mask its index_put saved); distgrad's gives the gradient of the draws kept,
    which are torch's second Bartlett draws."""
    cov = np.array([[2.0, 0.5], [0.5, 1.0]])
    T, D = torch, TD
    df = T.tensor([3.5, 6.0], dtype=T.float64, requires_grad=True)
    m = T.tensor(cov, requires_grad=True)
    w = D.Wishart(df, covariance_matrix=m)
    T.manual_seed(8)
    w._bartlett_sampling((3,))
    theirs = w._bartlett_sampling((3,))
    with pytest.warns(UserWarning, match="Singular sample detected"), \
            pytest.raises(RuntimeError, match="modified by an inplace operation"):
        T.manual_seed(8)
        D.Wishart(df, covariance_matrix=m).rsample((3,)).sum().backward()
    their_grads = T.autograd.grad(theirs.sum(), [df, m])
    df_d = distgrad.tensor([3.5, 6.0], dtype=distgrad.float64, requires_grad=True)
    m_d = distgrad.tensor(cov, requires_grad=True)
    distgrad.manual_seed(8)
    ours = DD.Wishart(df_d, covariance_matrix=m_d).rsample((3,))
    our_grads = distgrad.autograd.grad(ours.sum(), [df_d, m_d])
    for i, (a, b) in enumerate(zip([ours, *our_grads], [theirs, *their_grads])):
        _close(a, b, "float64", f"output {i}")


def test_wishart_low_df_warns_and_scores_as_torch():
    """df between the dimension less one and the dimension: torch's warning, and log_prob,
    entropy and mode (nan where df - p - 1 <= 0) as torch's."""
    out = {}
    for lib, (T, D) in LIBS.items():
        with pytest.warns(UserWarning, match="Low df values detected") as record:
            w = D.Wishart(T.tensor([2.2, 2.9, 6.0]), covariance_matrix=T.eye(3))
        x = T.tensor(_rng("low df").standard_normal((3, 3)), dtype=T.float32)
        out[lib] = ([str(r.message) for r in record],
                    [w.log_prob(x @ x.mT + T.eye(3)), w.entropy(), w.mode, w.variance])
    assert out["distgrad"][0] == out["torch"][0]
    for i, (a, b) in enumerate(zip(out["distgrad"][1], out["torch"][1])):
        _close(a, b, "float32", f"low df {i}")


def test_wishart_expand_and_matrices_match_torch():
    """expand keeps whichever matrix was given and broadcasts df; the other two matrices
    are computed from the Cholesky factor (torch's cholesky_solve for the precision)."""
    raw = draw_params(BY_ID["wishart_precision"], _rng("wishart expand"))
    out = {}
    for lib, (T, D) in LIBS.items():
        d = BY_ID["wishart_precision"].build(D, _params(BY_ID["wishart_precision"], lib, raw,
                                                        "float64"))
        e = d.expand((4, 2))
        assert "precision_matrix" in e.__dict__ and "covariance_matrix" not in e.__dict__
        assert e._batch_dims == [-1, -2]
        x = T.tensor(_rng("x").standard_normal((4, 2, 3, 3)))
        x = x @ x.mT + T.eye(3, dtype=x.dtype)
        out[lib] = (e.log_prob(x), e.entropy(), e.covariance_matrix, e.precision_matrix,
                    e.scale_tril, e.mean, e.variance, e.df, e._dist_chi2.df)
    for i, (ours, theirs) in enumerate(zip(out["distgrad"], out["torch"])):
        _close(ours, theirs, "float64", f"expanded wishart {i}")


def test_wishart_constraints_match_torch():
    facts = {}
    for lib, (T, D) in LIBS.items():
        w = D.Wishart(3.0, covariance_matrix=T.eye(2))
        facts[lib] = ({k: repr(v) for k, v in w.arg_constraints.items()}, repr(w.support),
                      w.has_rsample, w.has_enumerate_support, w._mean_carrier_measure,
                      issubclass(D.Wishart, D.ExponentialFamily),
                      _np(w.support.check(T.stack([T.eye(2), -T.eye(2)]))).tolist())
    assert facts["distgrad"] == facts["torch"]


def test_gamma_cdf_is_torchs_regularized_incomplete_gamma():
    """Gamma.cdf (and Chi2's) is gammainc of the rate-scaled value: its gradient flows to the
    rate; torch has none for the concentration."""
    out = {}
    for lib, (T, D) in LIBS.items():
        rate = T.tensor([1.0, 3.0, 0.5], requires_grad=True)
        conc = T.tensor([0.5, 2.0, 4.0], requires_grad=True)
        cdf = D.Gamma(conc, rate).cdf(T.tensor([0.1, 0.9, 6.0]))
        rate_grad, = T.autograd.grad(cdf.sum(), rate, retain_graph=True)
        with pytest.raises(NotImplementedError) as error:
            cdf.sum().backward()
        out[lib] = (_np(cdf), _np(rate_grad), cdf.grad_fn.name(), str(error.value),
                    _np(D.Chi2(T.tensor(3.0)).cdf(T.tensor(2.0))))
    for ours, theirs in zip(out["distgrad"], out["torch"]):
        if isinstance(theirs, str):
            assert ours == theirs
        else:
            np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_sample_n_warns_as_torch_and_draws_n():
    from torch_twin import same

    def program(T):
        T.manual_seed(0)
        return (T.distributions.Normal(T.zeros(2), 1.0).sample_n(3),
                T.distributions.Categorical(logits=T.zeros(4)).sample_n(2))

    same(program)


def test_register_kl_checks_its_types_as_torch_does():
    """torch's test lets any class through (the KL is registered for it) and fails on
    anything else with issubclass's own TypeError."""
    from torch_twin import attempt, same

    def program(T):
        D = T.distributions
        return (callable(D.register_kl(int, D.Normal)), attempt(D.register_kl, 3, D.Normal),
                attempt(D.register_kl, D.Normal, "Normal"))

    same(program)
