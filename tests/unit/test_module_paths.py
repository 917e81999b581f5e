"""Classes imported by torch's module paths (`from torch.distributions.normal import
Normal`, `from torch.optim.adam import Adam`) come from distgrad's same paths, though distgrad
groups them otherwise (module_aliases.py)."""
from __future__ import annotations

import importlib

import pytest

DISTRIBUTIONS = [
    "bernoulli", "beta", "binomial", "categorical", "cauchy", "chi2", "dirichlet",
    "exp_family", "exponential", "fishersnedecor", "gamma", "generalized_pareto", "geometric",
    "gumbel", "half_cauchy", "half_normal", "inverse_gamma", "kumaraswamy", "laplace",
    "log_normal", "logistic_normal", "multinomial", "negative_binomial", "normal",
    "one_hot_categorical", "pareto", "poisson", "relaxed_bernoulli", "relaxed_categorical",
    "studentT", "uniform", "weibull", "independent", "mixture_same_family",
    "multivariate_normal", "lowrank_multivariate_normal", "transformed_distribution",
    "von_mises", "wishart", "lkj_cholesky", "continuous_bernoulli", "kl", "distribution"]


@pytest.mark.parametrize("path", [f"distributions.{m}" for m in DISTRIBUTIONS] +
                         ["optim.sgd", "optim.adam", "optim.adamw", "optim.optimizer",
                          "optim.lr_scheduler"])
def test_torchs_module_paths_hold_its_names(path):
    theirs = importlib.import_module(f"torch.{path}")
    ours = importlib.import_module(f"distgrad.{path}")
    # (not the optimizers' functional forms, torch.optim.adam.adam: distgrad has none)
    names = [n for n in getattr(theirs, "__all__", [])
             if not (path.startswith("optim.") and n[0].islower())]
    missing = [n for n in names if not hasattr(ours, n)]
    assert not missing, (path, missing)
    package = importlib.import_module(f"distgrad.{path.rsplit('.', 1)[0]}")
    assert getattr(package, path.rsplit(".", 1)[1]) is ours


def test_an_aliased_class_is_the_packages_own():
    import distgrad
    from distgrad.distributions.normal import Normal
    from distgrad.distributions.relaxed_bernoulli import LogitRelaxedBernoulli
    from distgrad.optim.adam import Adam

    assert Normal is distgrad.distributions.Normal and Adam is distgrad.optim.Adam
    assert LogitRelaxedBernoulli is distgrad.distributions.relaxed.LogitRelaxedBernoulli
