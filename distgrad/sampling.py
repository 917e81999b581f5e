"""Random sampling as torch has it: multinomial, bernoulli, normal's overloads, poisson,
binomial, the in-place fills exponential_, geometric_, log_normal_, cauchy_ and bernoulli_,
and `default_generator` (the stream `manual_seed` seeds).

Values are drawn on the driver from distgrad's stream (or a `generator=`), then placed
where the parameters live; the numbers are torch's (mersenne.py). As in torch, a sample has
a node whose gradient for its parameters is zero (no reparameterization).
"""
from __future__ import annotations

import numpy as np

from . import creation, dtypes
from .autograd.record import call
from .generator import Generator
from .ops.math import _RANDOM_NODES
from .ops import stdsort
from .ops.rules import zeros_grad
from .ops.table import Meta, defop
from .tensor import Tensor

_RANDOM_NODES.update(exponential="ExponentialBackward0", geometric="GeometricBackward0",
                     log_normal="LogNormalBackward0", cauchy="CauchyBackward0",
                     bernoulli_float="BernoulliBackward2", bernoulli_tensor="BernoulliBackward1")


class _DefaultGenerator(Generator):
    """torch.default_generator: the stream manual_seed and the factories draw from."""

    def __init__(self) -> None:
        self.device = creation.get_default_device()

    @property
    def _rng(self):
        return creation._rng

    def manual_seed(self, seed: int) -> "Generator":
        creation.manual_seed(seed)
        return self


default_generator = _DefaultGenerator()


# ---- a sample from parameter tensors: one node, zero gradients for them ----------------------

_SAMPLE_NODES = {"bernoulli": "BernoulliBackward0", "normal_tensor_float": "NormalBackward1",
                 "normal_float_tensor": "NormalBackward2",
                 "normal_tensor_tensor": "NormalBackward3", "poisson": "PoissonBackward0"}


def _sample_vjp(c, g):
    return (None,) + tuple(zeros_grad(s, g.dtype, g.device_str) if need else None
                           for s, need in zip(c.shapes[1:], c.needs[1:]))


defop("sample", lambda values, *params, kind: values,
      lambda values, *params, kind: Meta(values.shape, values.dtype), _sample_vjp,
      node=lambda inputs, attrs: _SAMPLE_NODES[attrs["kind"]], differentiable=(1, 2))


def _sampled(kind: str, values: np.ndarray, dtype, params, device):
    drawn = creation.tensor(np.asarray(values).astype(dtype.np), device=device)
    return call("sample", drawn, *params, kind=kind)


def _value(t: Tensor) -> np.ndarray:
    return t.detach()._numpy_value().astype(np.float64)


def bernoulli(input, p=None, *, generator=None):
    """0/1 draws with probabilities `input` (or `p` for every element)."""
    rng = creation.random_stream(generator)
    if p is not None:
        values = rng.bernoulli(tuple(input.shape), float(p))
        return creation.tensor(values.astype(input.dtype.np), device=input.device_str)
    probs = _value(input)
    if ((probs < 0) | (probs > 1)).any() or np.isnan(probs).any():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  (Could "
                           "this error message be improved?  If so, please report an "
                           "enhancement request to PyTorch.)")
    values = rng.bernoulli(probs.shape, probs.astype(input.dtype.np))
    return _sampled("bernoulli", values, input.dtype, (input,), input.device_str)


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False):
    """torch.normal's overloads: tensor mean and/or std (broadcast), or floats with a size."""
    rng = creation.random_stream(generator)
    m_t, s_t = isinstance(mean, Tensor), isinstance(std, Tensor)
    if not (m_t or s_t):
        if size is None:
            raise TypeError("normal() received an invalid combination of arguments - got "
                            "(float, float), but expected one of size=(tuple of ints)")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        d = dtype or dtypes.get_default_dtype()
        size = tuple(size) if not isinstance(size, int) else (size,)
        values = rng.normal_values(size, d.np, float(mean), float(std))
        return creation._finish(creation.tensor(values, device=device), requires_grad)
    like = mean if m_t else std
    d = like.dtype.np
    m = _value(mean).astype(d) if m_t else d.type(mean)
    s = _value(std).astype(d) if s_t else d.type(std)
    if (s < 0).any():
        what = "all elements of std >= 0.0" if s_t else f"std >= 0.0, but found std {float(s)}"
        raise RuntimeError(f"normal expects {what}")
    shape = np.broadcast_shapes(np.shape(m), np.shape(s))
    # torch: normal_(0, std) then add mean for a number std, else normal_(0, 1) * std + mean
    if s_t:
        values = rng.normal_values(shape, d) * s + m
    else:
        values = rng.normal_values(shape, d, 0.0, float(std)) + m
    kind = "normal_" + ("tensor" if m_t else "float") + "_" + ("tensor" if s_t else "float")
    params = tuple(t for t in (mean, std) if isinstance(t, Tensor))
    return _sampled(kind, values, like.dtype, params, like.device_str)


def poisson(input, generator=None):
    """A Poisson draw per rate, in memory order as torch's serial kernel (a negative or NaN
    rate raises when reached, the elements before it drawn)."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"poisson_cpu" not implemented for '
                                  f"'{input.dtype.long_name}'")
    values = creation.random_stream(generator).poisson(_value(input))
    return _sampled("poisson", values, input.dtype, (input,), input.device_str)


def binomial(count, prob, generator=None):
    """A binomial draw per element of count and prob (broadcast), both of one float dtype."""
    for name, t in (("count", count), ("prob", prob)):
        if not t.dtype.is_floating_point:
            raise ValueError(f"binomial only supports floating-point dtypes for {name}, got: "
                             f"{t.dtype.long_name}")
    if prob.dtype != count.dtype:
        raise RuntimeError(f"Found dtype {prob.dtype.long_name} but expected "
                           f"{count.dtype.long_name}")
    d = count.dtype.np
    shape = np.broadcast_shapes(tuple(count.shape), tuple(prob.shape))
    n, p = (np.broadcast_to(_value(t).astype(d), shape) for t in (count, prob))
    values = creation.random_stream(generator).binomial(n, p)
    return creation.tensor(values, device=count.device_str)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """Indices drawn by the weights in each row of `input` (1-d or 2-d); int64."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{input.dtype.long_name}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    weights = _value(input).reshape(-1, n)
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (weights.sum(axis=1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rng = creation.random_stream(generator)
    weights = weights.astype(input.dtype.np)
    if replacement and num_samples > 1:
        out = np.stack([_inverse_cdf_samples(rng, w, num_samples) for w in weights])
    else:
        out = _exponential_race(rng, weights, num_samples)
    if input.ndim == 1:
        out = out[0]
    return creation.tensor(out, device=input.device_str)


def _exponential_race(rng, weights, num_samples):
    """torch's draw without replacement (or of one sample): the top num_samples of
    weight / Exp(1), an Exp(1) per weight (Gumbel's trick). A row with fewer nonzero
    weights than samples ends in zero-weight categories (torch's CPU kernel does not refuse
    it), in the order its topk leaves the tied zeros."""
    race = weights / rng.exponential(weights.shape, 1.0).astype(weights.dtype)
    out = np.argsort(-race, axis=1, kind="stable")[:, :num_samples]
    for r in np.nonzero(np.count_nonzero(weights, axis=1) < num_samples)[0]:
        out[r] = stdsort.topk_positions(race[r], num_samples, largest=True, sorted_=True)
    return out


def _inverse_cdf_samples(rng, weights, num_samples):
    """torch's draw with replacement: float64 uniforms looked up in the row's cumulative
    sum (accumulated and normalised in the weights' dtype, its last entry set to 1)."""
    cdf = np.cumsum(weights, dtype=weights.dtype)
    cdf = cdf / cdf[-1]
    cdf[-1] = 1
    return np.searchsorted(cdf.astype(np.float64), rng.uniform01(num_samples, np.float64))


# ---- in-place fills ---------------------------------------------------------------------------

def _exponential_(self, lambd=1.0, *, generator=None):
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={float(lambd)}")
    return creation._random_fill(self, "exponential",
                                 lambda rng, shape: rng.exponential(shape, lambd), generator)


def _geometric_(self, p, *, generator=None):
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return creation._random_fill(self, "geometric", lambda rng, shape: rng.geometric(shape, p),
                                 generator)


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={float(std)}")
    return creation._random_fill(self, "log_normal",
                                 lambda rng, shape: rng.log_normal(shape, mean, std), generator)


def _cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    return creation._random_fill(
        self, "cauchy", lambda rng, shape: rng.cauchy(shape, median, sigma), generator)


def _bernoulli_(self, p=0.5, *, generator=None):
    if isinstance(p, Tensor):
        probs = _value(p)
        return creation._random_fill(
            self, "bernoulli_tensor",
            lambda rng, shape: rng.bernoulli(shape, np.broadcast_to(probs.astype(p.dtype.np),
                                                                    shape)), generator)
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return creation._random_fill(self, "bernoulli_float",
                                 lambda rng, shape: rng.bernoulli(shape, float(p)), generator)


METHODS = dict(exponential_=_exponential_, geometric_=_geometric_, log_normal_=_log_normal_,
               cauchy_=_cauchy_, bernoulli_=_bernoulli_, bernoulli=bernoulli,
               multinomial=multinomial)
for _name, _method in METHODS.items():
    _method.__name__ = _method.__qualname__ = _name
    setattr(Tensor, _name, _method)
get_rng_state = creation.get_rng_state
set_rng_state = creation.set_rng_state
