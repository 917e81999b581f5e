"""Draws for the samplers: numbers from distgrad's generator (`distgrad.manual_seed`), made
in the driver and placed where the distribution's parameters live, as every distgrad random
op is, and torch's numbers (normal, uniform, exponential, Cauchy, gamma, Dirichlet, Poisson
and binomial draws)."""
from __future__ import annotations

import numpy as np

from distgrad import creation, dtypes
from distgrad.ops.rules import not_implemented


def draw(make, like, shape=None):
    """A tensor of `make(rng, shape)` in like's dtype, on like's device (no gradient)."""
    shape = tuple(like.shape if shape is None else shape)
    values = np.asarray(make(creation.random_stream(), shape)).astype(like.dtype.np)
    return creation._from_array(values.reshape(shape), like.device_str, False)


def values(t) -> np.ndarray:
    """A parameter's values in the driver, as float64 (for the draws that depend on them)."""
    return t.detach().cpu().double().numpy()


def standard_normal(like, shape):
    return draw(lambda rng, s: rng.normal_values(s, like.dtype.np), like, shape)


def uniform(like, shape, low=0.0, high=1.0):
    return draw(lambda rng, s: rng.uniform_values(s, like.dtype.np, low, high), like, shape)


def exponential(like, shape):
    return draw(lambda rng, s: rng.exponential(s, 1.0), like, shape)


def standard_gamma(concentration):
    """Gamma(concentration, 1) draws of concentration's shape (torch's)."""
    alpha = _own_values(concentration, "gamma_cpu")
    return draw(lambda rng, s: rng.standard_gamma(alpha), concentration)


def dirichlet(concentration):
    """A Dirichlet draw for each row (last dim) of concentration (torch's)."""
    alpha = _own_values(concentration, "dirichlet")
    return draw(lambda rng, s: rng.dirichlet(alpha), concentration)


def _own_values(t, kernel: str) -> np.ndarray:
    """A parameter's values in the driver, in its own dtype (torch's samplers compute in
    it): float32 or float64, as torch's CPU kernel has them."""
    if t.dtype in dtypes.LOW_FLOATS:
        raise not_implemented(kernel, t.dtype)
    return np.ascontiguousarray(t.detach().cpu().numpy())


def poisson(rate):
    lam = values(rate)
    return draw(lambda rng, s: rng.poisson(lam), rate)


def binomial(total_count, probs):
    """torch.binomial(total_count, probs): in probs' dtype (total_count is cast to it)."""
    p = _own_values(probs, "binomial_cpu")
    n = _own_values(total_count, "binomial_cpu").astype(probs.dtype.np)
    return draw(lambda rng, s: rng.binomial(n, p), probs)


def standard_cauchy(like, shape):
    return draw(lambda rng, s: rng.cauchy(s, 0.0, 1.0), like, shape)
