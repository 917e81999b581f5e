"""distgrad.distributions with parameters on a worker: a Normal and a Categorical built from
worker:0 tensors give torch's log_prob, entropy and KL, and their gradients reach the
worker's leaves; rsample draws land on the worker with the pathwise gradient torch's formula
gives; a MultivariateNormal (its Cholesky factor composed on the worker) scores as torch;
families built from others (HalfNormal, StudentT, Weibull, a Gumbel mixture, the relaxed
categorical, the low-rank normal) score, differentiate and sample as torch's there too, as do
Poisson, Binomial and NegativeBinomial."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributions as TD

import distgrad as dg
import distgrad.distributions as DD

RNG = np.random.default_rng(14)
LOC = RNG.uniform(-1, 1, (3, 4)).astype(np.float32)
SCALE = RNG.uniform(0.5, 2, (3, 4)).astype(np.float32)
LOGITS = RNG.uniform(-2, 2, (3, 5)).astype(np.float32)
X = RNG.uniform(-3, 3, (2, 3, 4)).astype(np.float32)
K = RNG.integers(0, 5, (2, 3))


def _program(T, D, device):
    kw = {} if device is None else {"device": device}
    loc = T.tensor(LOC, requires_grad=True, **kw)
    scale = T.tensor(SCALE, requires_grad=True, **kw)
    logits = T.tensor(LOGITS, requires_grad=True, **kw)
    normal, cat = D.Normal(loc, scale), D.Categorical(logits=logits)
    out = [normal.log_prob(T.tensor(X, **kw)), normal.entropy(), normal.cdf(T.tensor(X, **kw)),
           cat.log_prob(T.tensor(K, **kw)), cat.entropy(), cat.probs,
           D.kl_divergence(normal, D.Normal(loc * 0.5, scale + 1)),
           D.kl_divergence(cat, D.Categorical(logits=logits.flip(-1)))]
    loss = sum((o * (i + 1)).sum() for i, o in enumerate(out))
    loss.backward()
    return out, [loc.grad, scale.grad, logits.grad]


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, dg.Tensor) else t.detach().numpy()


def test_normal_and_categorical_on_a_worker_match_torch(backend):
    got, got_grads = _program(dg, DD, "worker:0")
    want, want_grads = _program(torch, TD, None)
    for g, w in zip(got + got_grads, want + want_grads):
        if isinstance(g, dg.Tensor):
            assert g.device_str == "worker:0"
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-5, atol=2e-5)


def test_rsample_on_a_worker_has_the_pathwise_gradient(backend):
    loc = dg.tensor(LOC, requires_grad=True, device="worker:0")
    scale = dg.tensor(SCALE, requires_grad=True, device="worker:0")
    dg.manual_seed(5)
    x = DD.Normal(loc, scale).rsample((6,))
    assert x.device_str == "worker:0" and tuple(x.shape) == (6, 3, 4)
    x.mean().backward()
    np.testing.assert_allclose(_np(loc.grad), np.full((3, 4), 1 / 12), rtol=1e-5)
    eps = (_np(x) - LOC) / SCALE  # d x / d scale, the noise of each draw
    np.testing.assert_allclose(_np(scale.grad), eps.mean(0) / 12, rtol=1e-4, atol=1e-6)
    dg.manual_seed(5)
    again = DD.Normal(dg.tensor(LOC), dg.tensor(SCALE)).rsample((6,))
    np.testing.assert_array_equal(_np(again), _np(x))  # the same draws, wherever placed
    c = DD.Categorical(logits=dg.tensor(LOGITS, device="worker:0")).sample((7,))
    assert c.device_str == "worker:0" and str(c.dtype) == "torch.int64"
    assert (_np(c) >= 0).all() and (_np(c) < 5).all()


def test_multivariate_normal_on_a_worker_matches_torch(backend):
    a = RNG.standard_normal((3, 3))
    cov = a @ a.T + 3 * np.eye(3)
    value = RNG.standard_normal((2, 3))
    results = {}
    for T, D, kw in ((dg, DD, {"device": "worker:0"}), (torch, TD, {})):
        c = T.tensor(cov, requires_grad=True, **kw)
        mu = T.tensor(np.zeros(3), requires_grad=True, **kw)
        d = D.MultivariateNormal(mu, covariance_matrix=c)
        lp = d.log_prob(T.tensor(value, **kw)).sum() + d.entropy()
        lp.backward()
        results[T.__name__] = (lp, c.grad, mu.grad)
    for g, w in zip(results["distgrad"], results["torch"]):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-9, atol=1e-12)


def _derived_program(T, D, device):
    """Families built from others (through transforms, a Categorical, a capacitance matrix)
    with their parameters on the worker: values, gradients and seeded samples."""
    kw = {} if device is None else {"device": device}
    scale = T.tensor(SCALE, requires_grad=True, **kw)
    logits = T.tensor(LOGITS, requires_grad=True, **kw)
    x = T.tensor(np.abs(X), **kw)
    mixture = D.MixtureSameFamily(D.Categorical(logits=logits[:, :4]), D.Gumbel(scale, scale + 1))
    lowrank = D.LowRankMultivariateNormal(scale[0], scale.t()[:, :2], scale[1])
    out = [D.HalfNormal(scale).log_prob(x), D.StudentT(scale + 1, scale, scale).entropy(),
           D.Weibull(scale, scale + 0.5).log_prob(x), mixture.log_prob(x[:, :, 0]),
           D.RelaxedOneHotCategorical(T.tensor(0.5, **kw), logits=logits).log_prob(
               D.Categorical(logits=logits).probs),
           lowrank.log_prob(x[:, 0]), D.kl_divergence(lowrank, D.MultivariateNormal(
               scale[2], scale_tril=T.diag(scale[0])))]
    loss = sum((o * (i + 1)).sum() for i, o in enumerate(out))
    loss.backward()
    T.manual_seed(3)
    draws = [D.Cauchy(scale, 1.0).sample(), D.StudentT(scale + 1).sample((2,)),
             D.Multinomial(5, logits=logits).sample(), D.Poisson(scale * 8).sample((2,)),
             D.Binomial(30, logits=logits).sample(),
             D.NegativeBinomial(scale * 3, logits=logits[:, :4]).sample()]
    return out + draws, [scale.grad, logits.grad]


def test_derived_families_on_a_worker_match_torch(backend):
    got, got_grads = _derived_program(dg, DD, "worker:0")
    want, want_grads = _derived_program(torch, TD, None)
    for g, w in zip(got + got_grads, want + want_grads):
        assert g.device_str == "worker:0"
        np.testing.assert_allclose(_np(g), _np(w), rtol=2e-4, atol=2e-5)


def _wishart_program(T, D, device):
    """A Wishart and the later KL pairs with their parameters on the worker: log_prob,
    entropy, the Bregman KL of two Wisharts (autograd.grad of the log normalizer, on the
    worker), closed-form KLs, their gradients, and a seeded draw (torch's Bartlett draws)."""
    kw = {} if device is None else {"device": device}
    a = A_WISHART
    df = T.tensor([4.0, 5.5], dtype=T.float64, requires_grad=True, **kw)
    cov = T.tensor(a @ a.transpose(0, 2, 1) + 3 * np.eye(3), requires_grad=True, **kw)
    scale = T.tensor(SCALE[0].astype(np.float64), requires_grad=True, **kw)
    w = D.Wishart(df, covariance_matrix=cov)
    q = D.Wishart(df + 1, precision_matrix=cov[0])
    x = T.tensor(a @ a.transpose(0, 2, 1) + np.eye(3), **kw)
    out = [w.log_prob(x), w.entropy(), w.variance, D.kl_divergence(q, w),
           D.kl_divergence(D.Gamma(scale, scale + 1), D.Normal(scale, 2.0)),
           D.kl_divergence(D.Uniform(scale - 1, scale + 1), D.Normal(scale * 0, scale)),
           D.kl_divergence(D.Beta(scale, scale + 1), D.Exponential(scale))]
    loss = sum((o * (i + 1)).sum() for i, o in enumerate(out))
    grads = list(T.autograd.grad(loss, [df, cov, scale]))
    T.manual_seed(6)
    draws = [D.Wishart(df, covariance_matrix=cov).sample((2,))]
    return out + grads + draws


A_WISHART = np.random.default_rng(15).standard_normal((2, 3, 3))


@pytest.mark.filterwarnings("ignore:Singular sample detected")
def test_wishart_and_later_kl_pairs_on_a_worker_match_torch(backend):
    got = _wishart_program(dg, DD, "worker:0")
    want = _wishart_program(torch, TD, None)
    for g, w in zip(got, want):
        assert g.device_str == "worker:0"
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-7, atol=1e-9)
