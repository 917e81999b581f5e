"""The distributions under test, each written once for torch.distributions and
distgrad.distributions: `build(D, p)` makes the distribution from parameters `p` (tensors
of the library), `value(rng)` draws points of its support to score, `params` says how to
draw the parameters (shape, low, high)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass
class DistCase:
    id: str
    params: dict  # name -> (shape, low, high)
    build: Callable
    value: Callable  # rng -> numpy array of points of the support
    cdf: bool = False  # cdf and icdf exist in torch
    icdf: bool = True  # with cdf: icdf exists too
    float64: bool = True  # torch scores it in float64
    no_grad: tuple = ()  # parameters given without requires_grad (counts)
    extra: dict = field(default_factory=dict)


def _ints(shape, hi):
    return lambda rng: rng.integers(0, hi, size=shape).astype(np.float64)


def _counts(rng, shape, k, n):
    """Counts of k categories in n draws, for each of `shape`."""
    return rng.multinomial(n, np.full(k, 1.0 / k), size=shape).astype(np.float64)


def _corr_cholesky(shape):
    """Lower Cholesky factors of random correlation matrices, D x D from D(D-1)/2 reals."""
    def make(rng):
        import torch  # the oracle's own map makes valid points of the support
        x = torch.tensor(rng.standard_normal(shape))
        return torch.distributions.CorrCholeskyTransform()(x).numpy()
    return make


def _spd(rng, batch, n):
    a = rng.standard_normal(batch + (n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


def _simplex(shape):
    return lambda rng: (lambda g: g / g.sum(-1, keepdims=True))(rng.gamma(2.0, size=shape))


CASES = [
    DistCase("normal", {"loc": ((3, 4), -2, 2), "scale": ((4,), 0.5, 2)},
             lambda D, p: D.Normal(p["loc"], p["scale"]),
             lambda rng: rng.uniform(-3, 3, (2, 3, 4)), cdf=True),
    DistCase("uniform", {"low": ((3,), -2, -1), "high": ((3,), 1, 2)},
             lambda D, p: D.Uniform(p["low"], p["high"]),
             lambda rng: rng.uniform(-0.9, 0.9, (5, 3)), cdf=True),
    DistCase("exponential", {"rate": ((2, 3), 0.5, 2)},
             lambda D, p: D.Exponential(p["rate"]),
             lambda rng: rng.uniform(0, 3, (2, 3)), cdf=True),
    DistCase("laplace", {"loc": ((4,), -1, 1), "scale": ((4,), 0.5, 2)},
             lambda D, p: D.Laplace(p["loc"], p["scale"]),
             lambda rng: rng.uniform(-3, 3, (3, 4)), cdf=True),
    DistCase("bernoulli_probs", {"probs": ((5,), 0.1, 0.9)},
             lambda D, p: D.Bernoulli(probs=p["probs"]), _ints((2, 5), 2)),
    DistCase("bernoulli_logits", {"logits": ((5,), -2, 2)},
             lambda D, p: D.Bernoulli(logits=p["logits"]), _ints((5,), 2)),
    DistCase("categorical_probs", {"probs": ((3, 4), 0.1, 1)},
             lambda D, p: D.Categorical(probs=p["probs"]), _ints((2, 3), 4)),
    DistCase("categorical_logits", {"logits": ((3, 4), -2, 2)},
             lambda D, p: D.Categorical(logits=p["logits"]), _ints((3,), 4)),
    DistCase("one_hot_categorical", {"logits": ((3, 4), -2, 2)},
             lambda D, p: D.OneHotCategorical(logits=p["logits"]),
             lambda rng: np.eye(4)[rng.integers(0, 4, (2, 3))]),
    DistCase("gamma", {"concentration": ((4,), 0.5, 3), "rate": ((4,), 0.5, 2)},
             lambda D, p: D.Gamma(p["concentration"], p["rate"]),
             lambda rng: rng.uniform(0.1, 4, (3, 4))),
    DistCase("beta", {"concentration1": ((3,), 0.5, 3), "concentration0": ((3,), 0.5, 3)},
             lambda D, p: D.Beta(p["concentration1"], p["concentration0"]),
             lambda rng: rng.uniform(0.05, 0.95, (2, 3))),
    DistCase("dirichlet", {"concentration": ((2, 4), 0.5, 3)},
             lambda D, p: D.Dirichlet(p["concentration"]), _simplex((3, 2, 4))),
    DistCase("poisson", {"rate": ((4,), 0.5, 5)},
             lambda D, p: D.Poisson(p["rate"]), _ints((3, 4), 8)),
    DistCase("binomial", {"total_count": ((3,), 10, 10), "probs": ((3,), 0.1, 0.9)},
             lambda D, p: D.Binomial(p["total_count"], probs=p["probs"]), _ints((2, 3), 11),
             no_grad=("total_count",)),
    DistCase("binomial_logits", {"logits": ((3,), -2, 2)},
             lambda D, p: D.Binomial(6, logits=p["logits"]), _ints((3,), 7)),
    DistCase("geometric", {"probs": ((4,), 0.1, 0.9)},
             lambda D, p: D.Geometric(probs=p["probs"]), _ints((3, 4), 6)),
    DistCase("geometric_logits", {"logits": ((4,), -2, 2)},
             lambda D, p: D.Geometric(logits=p["logits"]), _ints((4,), 6)),
    DistCase("mvn_cov", {"loc": ((2, 3), -1, 1), "covariance_matrix": "spd"},
             lambda D, p: D.MultivariateNormal(p["loc"], covariance_matrix=p["covariance_matrix"]),
             lambda rng: rng.standard_normal((4, 2, 3))),
    DistCase("mvn_precision", {"loc": ((3,), -1, 1), "precision_matrix": "spd"},
             lambda D, p: D.MultivariateNormal(p["loc"], precision_matrix=p["precision_matrix"]),
             lambda rng: rng.standard_normal((2, 3))),
    DistCase("mvn_scale_tril", {"loc": ((2, 3), -1, 1), "scale_tril": "tril"},
             lambda D, p: D.MultivariateNormal(p["loc"], scale_tril=p["scale_tril"]),
             lambda rng: rng.standard_normal((2, 3))),
    DistCase("independent_normal", {"loc": ((3, 4), -2, 2), "scale": ((3, 4), 0.5, 2)},
             lambda D, p: D.Independent(D.Normal(p["loc"], p["scale"]), 1),
             lambda rng: rng.uniform(-3, 3, (2, 3, 4))),
    DistCase("lognormal", {"loc": ((4,), -1, 1), "scale": ((4,), 0.5, 1.5)},
             lambda D, p: D.LogNormal(p["loc"], p["scale"]),
             lambda rng: rng.uniform(0.1, 5, (3, 4)), cdf=True),
    DistCase("affine_tanh", {"loc": ((3,), -1, 1), "scale": ((3,), 0.5, 1.5)},
             lambda D, p: D.TransformedDistribution(
                 D.Normal(p["loc"], p["scale"]),
                 [D.AffineTransform(0.5, 2.0), D.TanhTransform()]),
             lambda rng: rng.uniform(-0.95, 0.95, (2, 3)), cdf=True),
    DistCase("sigmoid_affine", {"loc": ((3,), -1, 1), "scale": ((3,), 0.5, 1.5)},
             lambda D, p: D.TransformedDistribution(
                 D.Normal(p["loc"], p["scale"]),
                 [D.SigmoidTransform(), D.AffineTransform(1.0, -3.0)]),
             lambda rng: rng.uniform(-1.9, 0.9, (2, 3)), cdf=True),
    DistCase("cauchy", {"loc": ((3, 4), -2, 2), "scale": ((4,), 0.5, 2)},
             lambda D, p: D.Cauchy(p["loc"], p["scale"]),
             lambda rng: rng.uniform(-5, 5, (2, 3, 4)), cdf=True),
    DistCase("half_normal", {"scale": ((4,), 0.5, 2)},
             lambda D, p: D.HalfNormal(p["scale"]),
             lambda rng: rng.uniform(0, 3, (3, 4)), cdf=True),
    DistCase("half_cauchy", {"scale": ((4,), 0.5, 2)},
             lambda D, p: D.HalfCauchy(p["scale"]),
             lambda rng: rng.uniform(0, 5, (3, 4)), cdf=True),
    DistCase("gumbel", {"loc": ((4,), -1, 1), "scale": ((4,), 0.5, 2)},
             lambda D, p: D.Gumbel(p["loc"], p["scale"]),
             lambda rng: rng.uniform(-2, 4, (3, 4)), cdf=True),
    DistCase("gumbel_2x3", {"loc": ((2, 3), -1, 1), "scale": ((3,), 0.5, 2)},
             lambda D, p: D.Gumbel(p["loc"], p["scale"]),
             lambda rng: rng.uniform(-2, 4, (2, 3))),
    DistCase("student_t", {"df": ((5,), 0.5, 6), "loc": ((5,), -1, 1), "scale": ((5,), 0.5, 2)},
             lambda D, p: D.StudentT(p["df"], p["loc"], p["scale"]),
             lambda rng: rng.uniform(-4, 4, (3, 5))),
    DistCase("student_t_df", {"df": ((4,), 2.5, 6)},
             lambda D, p: D.StudentT(p["df"]),
             lambda rng: rng.uniform(-4, 4, (4,))),
    DistCase("chi2", {"df": ((4,), 0.5, 6)},
             lambda D, p: D.Chi2(p["df"]),
             lambda rng: rng.uniform(0.1, 6, (3, 4))),
    DistCase("weibull", {"scale": ((4,), 0.5, 2), "concentration": ((4,), 0.5, 3)},
             lambda D, p: D.Weibull(p["scale"], p["concentration"]),
             lambda rng: rng.uniform(0.1, 4, (3, 4)), cdf=True),
    DistCase("pareto", {"scale": ((4,), 0.5, 1), "alpha": ((4,), 0.5, 4)},
             lambda D, p: D.Pareto(p["scale"], p["alpha"]),
             lambda rng: rng.uniform(1.0, 5, (3, 4)), cdf=True),
    DistCase("inverse_gamma", {"concentration": ((4,), 0.5, 4), "rate": ((4,), 0.5, 2)},
             lambda D, p: D.InverseGamma(p["concentration"], p["rate"]),
             lambda rng: rng.uniform(0.1, 4, (3, 4)), cdf=False),
    DistCase("power_exp", {"rate": ((3,), 0.5, 2), "exponent": ((3,), 0.5, 2)},
             lambda D, p: D.TransformedDistribution(
                 D.Exponential(p["rate"]), [D.PowerTransform(p["exponent"]), D.ExpTransform()]),
             lambda rng: rng.uniform(1.1, 4, (2, 3))),
    DistCase("multinomial_probs", {"probs": ((3, 4), 0.1, 1)},
             lambda D, p: D.Multinomial(5, probs=p["probs"]),
             lambda rng: _counts(rng, (2, 3), 4, 5)),
    DistCase("multinomial_logits", {"logits": ((4,), -2, 2)},
             lambda D, p: D.Multinomial(3, logits=p["logits"]),
             lambda rng: _counts(rng, (2,), 4, 3)),
    DistCase("mixture_normal", {"logits": ((3,), -1, 1), "loc": ((2, 3), -2, 2),
                                "scale": ((2, 3), 0.5, 2)},
             lambda D, p: D.MixtureSameFamily(D.Categorical(logits=p["logits"]),
                                              D.Normal(p["loc"], p["scale"])),
             lambda rng: rng.uniform(-3, 3, (4, 2)), cdf=True, icdf=False),
    DistCase("mixture_mvn", {"probs": ((2, 3), 0.1, 1), "loc": ((2, 3, 2), -2, 2),
                             "scale": ((2, 3, 2), 0.5, 2)},
             lambda D, p: D.MixtureSameFamily(D.Categorical(probs=p["probs"]),
                                              D.Independent(D.Normal(p["loc"], p["scale"]), 1)),
             lambda rng: rng.uniform(-3, 3, (4, 2, 2))),
    DistCase("relaxed_bernoulli", {"temperature": ((), 0.3, 2), "probs": ((4,), 0.1, 0.9)},
             lambda D, p: D.RelaxedBernoulli(p["temperature"], probs=p["probs"]),
             lambda rng: rng.uniform(0.05, 0.95, (3, 4))),
    DistCase("relaxed_bernoulli_logits", {"temperature": ((4,), 0.3, 2), "logits": ((4,), -2, 2)},
             lambda D, p: D.RelaxedBernoulli(p["temperature"], logits=p["logits"]),
             lambda rng: rng.uniform(0.05, 0.95, (4,))),
    DistCase("relaxed_one_hot", {"temperature": ((), 0.3, 2), "logits": ((2, 4), -2, 2)},
             lambda D, p: D.RelaxedOneHotCategorical(p["temperature"], logits=p["logits"]),
             _simplex((3, 2, 4))),
    DistCase("relaxed_one_hot_probs", {"temperature": ((), 0.3, 2), "probs": ((3,), 0.1, 1)},
             lambda D, p: D.RelaxedOneHotCategorical(p["temperature"], probs=p["probs"]),
             _simplex((2, 3))),
    DistCase("kumaraswamy", {"concentration1": ((4,), 0.5, 3), "concentration0": ((4,), 0.5, 3)},
             lambda D, p: D.Kumaraswamy(p["concentration1"], p["concentration0"]),
             lambda rng: rng.uniform(0.05, 0.95, (3, 4)), cdf=True),
    DistCase("negative_binomial", {"total_count": ((4,), 0.5, 6), "probs": ((4,), 0.1, 0.9)},
             lambda D, p: D.NegativeBinomial(p["total_count"], probs=p["probs"]),
             _ints((3, 4), 8)),
    DistCase("negative_binomial_logits", {"logits": ((3,), -2, 2)},
             lambda D, p: D.NegativeBinomial(4, logits=p["logits"]), _ints((2, 3), 8)),
    # away from 1/2: the closed forms' float32 gradients lose digits as probs nears it
    DistCase("continuous_bernoulli", {"probs": ((6,), 0.6, 0.95)},
             lambda D, p: D.ContinuousBernoulli(probs=p["probs"]),
             lambda rng: rng.uniform(0.0, 1.0, (3, 6)), cdf=True),
    DistCase("continuous_bernoulli_logits", {"logits": ((4,), -3, 3)},
             lambda D, p: D.ContinuousBernoulli(logits=p["logits"]),
             lambda rng: rng.uniform(0.0, 1.0, (4,)), cdf=True),
    DistCase("continuous_bernoulli_near_half", {"probs": ((5,), 0.4995, 0.5005)},
             lambda D, p: D.ContinuousBernoulli(probs=p["probs"]),
             lambda rng: rng.uniform(0.0, 1.0, (5,)), cdf=True),
    DistCase("lowrank_mvn", {"loc": ((2, 3), -1, 1), "cov_factor": ((3, 2), -1, 1),
                             "cov_diag": ((2, 3), 0.5, 2)},
             lambda D, p: D.LowRankMultivariateNormal(p["loc"], p["cov_factor"], p["cov_diag"]),
             lambda rng: rng.standard_normal((4, 2, 3))),
    DistCase("lowrank_mvn_batched_factor", {"loc": ((3,), -1, 1), "cov_factor": ((2, 3, 1), -1, 1),
                                            "cov_diag": ((3,), 0.5, 2)},
             lambda D, p: D.LowRankMultivariateNormal(p["loc"], p["cov_factor"], p["cov_diag"]),
             lambda rng: rng.standard_normal((2, 3))),
    DistCase("stick_breaking", {"loc": ((2, 3), -1, 1), "scale": ((2, 3), 0.5, 1.5)},
             lambda D, p: D.TransformedDistribution(D.Normal(p["loc"], p["scale"]),
                                                    D.StickBreakingTransform()),
             _simplex((3, 2, 4))),
    DistCase("softplus", {"loc": ((3,), -1, 1), "scale": ((3,), 0.5, 1.5)},
             lambda D, p: D.TransformedDistribution(D.Normal(p["loc"], p["scale"]),
                                                    D.SoftplusTransform()),
             lambda rng: rng.uniform(0.1, 3, (2, 3)), cdf=True),
    DistCase("reshape_independent", {"loc": ((2, 6), -1, 1), "scale": ((2, 6), 0.5, 1.5)},
             lambda D, p: D.TransformedDistribution(
                 D.Normal(p["loc"], p["scale"]),
                 [D.IndependentTransform(D.SoftplusTransform(), 1),
                  D.ReshapeTransform((6,), (2, 3))]),
             lambda rng: rng.uniform(0.1, 3, (2, 2, 3))),
    DistCase("copula", {"loc": ((2,), -1, 1), "scale": ((2,), 0.5, 1.5)},
             lambda D, p: D.TransformedDistribution(
                 D.Normal(p["loc"], p["scale"]), D.CumulativeDistributionTransform(
                     D.Normal(0.0, 1.0))),
             lambda rng: rng.uniform(0.05, 0.95, (3, 2)), cdf=True),
    DistCase("fisher_snedecor", {"df1": ((5,), 0.5, 8), "df2": ((5,), 0.5, 8)},
             lambda D, p: D.FisherSnedecor(p["df1"], p["df2"]),
             lambda rng: rng.uniform(0.1, 4, (3, 5))),
    DistCase("logistic_normal", {"loc": ((2, 3), -1, 1), "scale": ((3,), 0.5, 1.5)},
             lambda D, p: D.LogisticNormal(p["loc"], p["scale"]), _simplex((4, 2, 4))),
    # torch's log_prob and cdf compare float64 parameters with a float32 0 and raise
    DistCase("generalized_pareto", {"loc": ((4,), -1, 1), "scale": ((4,), 0.5, 2),
                                    "concentration": ((4,), 0.05, 0.8)},
             lambda D, p: D.GeneralizedPareto(p["loc"], p["scale"], p["concentration"]),
             lambda rng: rng.uniform(1.0, 4, (3, 4)), cdf=True, float64=False),
    DistCase("generalized_pareto_bounded", {"loc": ((4,), -1, 1), "scale": ((4,), 2, 3),
                                            "concentration": ((4,), -0.8, -0.1)},
             lambda D, p: D.GeneralizedPareto(p["loc"], p["scale"], p["concentration"]),
             lambda rng: rng.uniform(1.0, 1.5, (3, 4)), cdf=True, float64=False),
    DistCase("von_mises", {"loc": ((2, 5), -3, 3), "concentration": ((5,), 0.1, 8)},
             lambda D, p: D.VonMises(p["loc"], p["concentration"]),
             lambda rng: rng.uniform(-7, 7, (3, 2, 5))),
    DistCase("corr_cholesky", {"loc": ((2, 6), -1, 1), "scale": ((2, 6), 0.5, 1.5)},
             lambda D, p: D.TransformedDistribution(D.Normal(p["loc"], p["scale"]),
                                                    D.CorrCholeskyTransform()),
             _corr_cholesky((3, 2, 6))),
    DistCase("lkj_cholesky", {"concentration": ((2,), 0.5, 3)},
             lambda D, p: D.LKJCholesky(3, p["concentration"]), _corr_cholesky((4, 2, 3))),
    # the second member of a KL pair, in the shape of the first
    DistCase("normal_4", {"loc": ((4,), -2, 2), "scale": ((4,), 0.5, 2)},
             lambda D, p: D.Normal(p["loc"], p["scale"]), lambda rng: rng.uniform(-3, 3, (4,))),
    DistCase("exponential_4", {"rate": ((4,), 0.5, 2)},
             lambda D, p: D.Exponential(p["rate"]), lambda rng: rng.uniform(0, 3, (4,))),
    DistCase("beta_4", {"concentration1": ((4,), 0.5, 3), "concentration0": ((4,), 0.5, 3)},
             lambda D, p: D.Beta(p["concentration1"], p["concentration0"]),
             lambda rng: rng.uniform(0.05, 0.95, (4,))),
    DistCase("uniform_unit_4", {"low": ((4,), 0.05, 0.3), "high": ((4,), 0.6, 0.95)},
             lambda D, p: D.Uniform(p["low"], p["high"]),
             lambda rng: rng.uniform(0.31, 0.59, (4,))),
    DistCase("uniform_wide_4", {"low": ((4,), -2, -0.1), "high": ((4,), 1.1, 3)},
             lambda D, p: D.Uniform(p["low"], p["high"]),
             lambda rng: rng.uniform(-0.09, 1.09, (4,))),
    DistCase("uniform_positive_4", {"low": ((4,), 1, 2), "high": ((4,), 2.5, 4)},
             lambda D, p: D.Uniform(p["low"], p["high"]),
             lambda rng: rng.uniform(2.01, 2.49, (4,))),
    DistCase("one_hot_straight_through", {"logits": ((3, 4), -2, 2)},
             lambda D, p: D.OneHotCategoricalStraightThrough(logits=p["logits"]),
             lambda rng: np.eye(4)[rng.integers(0, 4, (2, 3))]),
    DistCase("bernoulli_4", {"probs": ((4,), 0.1, 0.9)},
             lambda D, p: D.Bernoulli(probs=p["probs"]), _ints((4,), 2)),
    DistCase("binomial_count_8", {"total_count": ((3,), 8, 8), "probs": ((3,), 0.1, 0.9)},
             lambda D, p: D.Binomial(p["total_count"], probs=p["probs"]), _ints((3,), 9),
             no_grad=("total_count",)),
    # bounds in and out of [0, 1] and of [0, inf): some KLs against these are infinite
    DistCase("uniform_mixed_4", {"low": ((4,), -0.5, 0.5), "high": ((4,), 0.6, 1.6)},
             lambda D, p: D.Uniform(p["low"], p["high"]),
             lambda rng: rng.uniform(0.51, 0.59, (4,))),
    # Wishart: df above the dimension (between it and the dimension less one torch warns;
    # test_distributions tests that alone), the scale matrix as covariance, precision or
    # Cholesky factor, batched and broadcast
    DistCase("wishart_cov", {"df": ((2,), 3.5, 7), "covariance_matrix": ("spd", (2,), 3)},
             lambda D, p: D.Wishart(p["df"], covariance_matrix=p["covariance_matrix"]),
             lambda rng: _spd(rng, (4, 2), 3)),
    DistCase("wishart_precision", {"df": ((2,), 3.2, 6), "precision_matrix": ("spd", (), 3)},
             lambda D, p: D.Wishart(p["df"], precision_matrix=p["precision_matrix"]),
             lambda rng: _spd(rng, (2,), 3)),
    DistCase("wishart_scale_tril", {"df": ((3, 1), 2.1, 5), "scale_tril": ("tril", (2,), 2)},
             lambda D, p: D.Wishart(p["df"], scale_tril=p["scale_tril"]),
             lambda rng: _spd(rng, (3, 2), 2)),
    # (a number df with a batch of matrices: torch's mean, mode and variance raise)
    DistCase("wishart_df_number", {"covariance_matrix": ("spd", (), 2)},
             lambda D, p: D.Wishart(4.5, covariance_matrix=p["covariance_matrix"]),
             lambda rng: _spd(rng, (2,), 2)),
]


def draw_params(case: DistCase, rng) -> dict:
    out = {}
    for name, spec in case.params.items():
        if spec == "spd":
            batch = (2,) if case.id == "mvn_cov" else ()
            out[name] = _spd(rng, batch, 3)
        elif spec == "tril":
            out[name] = np.linalg.cholesky(_spd(rng, (2,), 3))
        elif isinstance(spec[0], str):  # ("spd" or "tril", batch shape, n)
            kind, batch, n = spec
            out[name] = _spd(rng, batch, n) / n
            if kind == "tril":
                out[name] = np.linalg.cholesky(out[name])
        else:
            shape, lo, hi = spec
            out[name] = rng.uniform(lo, hi, shape)
            if lo == hi:
                out[name] = np.full(shape, float(lo))
    return out


# KL pairs torch has among these: (id, builder of p, builder of q), each from its params
KL_CASES = [
    ("normal", "normal", "normal"), ("bernoulli", "bernoulli_probs", "bernoulli_logits"),
    ("categorical", "categorical_probs", "categorical_logits"), ("beta", "beta", "beta"),
    ("gamma", "gamma", "gamma"), ("dirichlet", "dirichlet", "dirichlet"),
    ("mvn", "mvn_cov", "mvn_scale_tril"), ("mvn_precision", "mvn_precision", "mvn_cov"),
    ("uniform", "uniform", "uniform"), ("exponential", "exponential", "exponential"),
    ("laplace", "laplace", "laplace"), ("poisson", "poisson", "poisson"),
    ("independent", "independent_normal", "independent_normal"),
    ("one_hot_categorical", "one_hot_categorical", "one_hot_categorical"),
    ("lognormal", "lognormal", "lognormal"), ("cauchy", "cauchy", "cauchy"),
    ("half_normal", "half_normal", "half_normal"), ("gumbel", "gumbel", "gumbel"),
    ("pareto", "pareto", "pareto"), ("exponential_gumbel", "exponential", "gumbel_2x3"),
    ("gumbel_normal", "gumbel", "normal"), ("normal_gumbel", "normal", "gumbel"),
    ("chi2", "chi2", "chi2"), ("lowrank_mvn", "lowrank_mvn", "lowrank_mvn_batched_factor"),
    ("mvn_lowrank", "mvn_cov", "lowrank_mvn"), ("gamma_gumbel", "gamma", "gumbel"),
    ("uniform_gumbel", "uniform_positive_4", "gumbel"),
    ("pareto_exponential", "pareto", "exponential_4"), ("pareto_gamma", "pareto", "gamma"),
    ("pareto_normal", "pareto", "normal_4"), ("uniform_pareto", "uniform_positive_4", "pareto"),
    ("beta_continuous_bernoulli", "beta_4", "continuous_bernoulli_logits"),
    ("uniform_continuous_bernoulli", "uniform_unit_4", "continuous_bernoulli_logits"),
    ("continuous_bernoulli_exponential", "continuous_bernoulli_logits", "exponential_4"),
    ("continuous_bernoulli_normal", "continuous_bernoulli_logits", "normal"),
    ("continuous_bernoulli_uniform", "continuous_bernoulli_logits", "uniform_wide_4"),
    ("lowrank_mvn_mvn", "lowrank_mvn", "mvn_scale_tril"),
    ("continuous_bernoulli", "continuous_bernoulli", "continuous_bernoulli"),
    ("inverse_gamma", "inverse_gamma", "inverse_gamma"),
    # the pairs torch registers among the families above that came later (torch's formulas;
    # a parameter of p or q alone broadcast against the other's batch shape)
    ("bernoulli_poisson", "bernoulli_4", "poisson"),
    ("beta_exponential", "beta_4", "exponential_4"), ("beta_gamma", "beta_4", "gamma"),
    ("beta_normal", "beta_4", "normal"), ("beta_uniform", "beta_4", "uniform_wide_4"),
    ("beta_uniform_mixed", "beta_4", "uniform_mixed_4"),
    ("binomial_binomial", "binomial", "binomial"),
    ("binomial_binomial_more", "binomial", "binomial_count_8"),
    ("exponential_gamma", "exponential_4", "gamma"),
    ("exponential_normal", "exponential_4", "normal"),
    ("gamma_exponential", "gamma", "exponential_4"), ("gamma_normal", "gamma", "normal"),
    ("geometric_geometric", "geometric", "geometric_logits"),
    ("laplace_normal", "laplace", "normal"), ("normal_laplace", "normal", "laplace"),
    ("uniform_beta", "uniform_unit_4", "beta_4"),
    ("uniform_beta_mixed", "uniform_mixed_4", "beta_4"),
    ("uniform_exponential", "uniform_positive_4", "exponential_4"),
    ("uniform_exponential_mixed", "uniform_mixed_4", "exponential_4"),
    ("uniform_gamma", "uniform_positive_4", "gamma"),
    ("uniform_gamma_mixed", "uniform_mixed_4", "gamma"),
    ("uniform_normal", "uniform_wide_4", "normal"),
    ("chi2_exponential", "chi2", "exponential_4"), ("exponential_chi2", "exponential_4", "chi2"),
    # two members of one exponential family by the Bregman divergence (Wishart's only route;
    # torch takes p's natural parameters as new leaves, so only q's get a gradient)
    ("wishart", "wishart_cov", "wishart_precision"),
    ("wishart_tril", "wishart_scale_tril", "wishart_df_number"),
]

BY_ID = {c.id: c for c in CASES}


def find(case_id: str) -> Optional[DistCase]:
    return BY_ID.get(case_id)

# pairs where p has mass outside q's support (KL is infinite, no gradient)
INFINITE_KL_CASES = [
    ("normal", "pareto"), ("gumbel", "beta_4"), ("laplace", "exponential_4"),
    ("exponential", "uniform"), ("gamma", "continuous_bernoulli_logits"), ("pareto", "beta"),
    ("beta", "pareto"), ("continuous_bernoulli", "pareto"), ("poisson", "bernoulli_probs"),
    ("poisson", "binomial"),
    ("binomial_count_8", "binomial_logits"),  # p.total_count > q.total_count
    ("exponential", "beta"), ("gamma", "uniform"),
]
