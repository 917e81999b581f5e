"""Location-scale and simple continuous distributions: Normal, Uniform, Exponential, Laplace,
Cauchy, GeneralizedPareto."""
from __future__ import annotations

import math
import numbers

import distgrad

from . import _random, constraints
from .distribution import CenteredAtLoc, Distribution, ExponentialFamily
from .utils import broadcast_all, finfo, size

nan = float("nan")
inf = float("inf")


def _batch_shape(*params, tensor):
    """torch's rule: scalar parameters give an empty batch shape, else the broadcast one."""
    return size() if all(isinstance(p, numbers.Number) for p in params) else size(tensor.shape)


def _constant(d, value, like):
    """`value` over d's batch and event shape, in like's dtype and place (an undefined mean,
    an infinite variance)."""
    return distgrad.full(d._extended_shape(), value, dtype=like.dtype, device=like.device_str)


class _LocationScale(CenteredAtLoc):
    """What Normal, Laplace and Cauchy share: real `loc`, positive `scale`, mean and mode at
    loc."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(_batch_shape(loc, scale, tensor=self.loc), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expanded(_LocationScale, batch_shape, _instance, ("loc", "scale"))


class Normal(_LocationScale, ExponentialFamily):
    """The normal distribution N(loc, scale²)."""

    _mean_carrier_measure = 0

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.stddev.pow(2)

    def rsample(self, sample_shape=()):
        eps = _random.standard_normal(self.loc, self._extended_shape(sample_shape))
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return (-(value - self.loc) ** 2 / (2 * var) - self.scale.log()
                - math.log(math.sqrt(2 * math.pi)))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + distgrad.erf((value - self.loc) * self.scale.reciprocal()
                                       / math.sqrt(2)))

    def icdf(self, value):
        return self.loc + self.scale * distgrad.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + distgrad.log(self.scale)

    @property
    def _natural_params(self):
        return (self.loc / self.scale.pow(2), -0.5 * self.scale.pow(2).reciprocal())

    def _log_normalizer(self, x, y):
        return -0.25 * x.pow(2) / y + 0.5 * distgrad.log(-math.pi / y)


class Uniform(Distribution):
    """The uniform distribution on [low, high)."""

    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        super().__init__(_batch_shape(low, high, tensor=self.low), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expanded(Uniform, batch_shape, _instance, ("low", "high"))

    @property
    def arg_constraints(self):
        return {"low": constraints.less_than(self.high),
                "high": constraints.greater_than(self.low)}

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def mode(self):
        return nan * self.high

    @property
    def stddev(self):
        return (self.high - self.low) / 12 ** 0.5

    @property
    def variance(self):
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape=()):
        u = _random.uniform(self.low, self._extended_shape(sample_shape))
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        lb = self.low.le(value).type_as(self.low)
        ub = self.high.gt(value).type_as(self.low)
        return distgrad.log(lb.mul(ub)) - distgrad.log(self.high - self.low)

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return distgrad.log(self.high - self.low)


class Exponential(ExponentialFamily):
    """The exponential distribution with the given rate."""

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(_batch_shape(rate, tensor=self.rate), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expanded(Exponential, batch_shape, _instance, ("rate",))

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return distgrad.zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=()):
        return _random.exponential(self.rate, self._extended_shape(sample_shape)) / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - distgrad.exp(-self.rate * value)

    def icdf(self, value):
        return -distgrad.log1p(-value) / self.rate

    def entropy(self):
        return 1.0 - distgrad.log(self.rate)

    @property
    def _natural_params(self):
        return (-self.rate,)

    def _log_normalizer(self, x):
        return -distgrad.log(-x)


class Laplace(_LocationScale, Distribution):
    """The Laplace distribution with location loc and scale scale."""

    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return 2 ** 0.5 * self.scale

    def rsample(self, sample_shape=()):
        eps = float(finfo(self.loc.dtype).eps)
        u = _random.uniform(self.loc, self._extended_shape(sample_shape), eps - 1, 1)
        return self.loc - self.scale * u.sign() * distgrad.log1p(-u.abs())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -distgrad.log(2 * self.scale) - distgrad.abs(value - self.loc) / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 - 0.5 * (value - self.loc).sign() * distgrad.expm1(
            -(value - self.loc).abs() / self.scale)

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * distgrad.log1p(-2 * term.abs())

    def entropy(self):
        return 1 + distgrad.log(2 * self.scale)


class Cauchy(_LocationScale, Distribution):
    """The Cauchy (Lorentz) distribution with median loc and half width scale; it has no mean
    (nan) and an infinite variance."""

    @property
    def mean(self):
        return _constant(self, nan, self.loc)

    @property
    def variance(self):
        return _constant(self, inf, self.loc)

    def rsample(self, sample_shape=()):
        eps = _random.standard_cauchy(self.loc, self._extended_shape(sample_shape))
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (-math.log(math.pi) - self.scale.log()
                - (((value - self.loc) / self.scale) ** 2).log1p())

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return distgrad.atan((value - self.loc) / self.scale) / math.pi + 0.5

    def icdf(self, value):
        return distgrad.tan(math.pi * (value - 0.5)) * self.scale + self.loc

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


class GeneralizedPareto(Distribution):
    """The generalized Pareto distribution: location `loc`, scale `scale`, tail index
    `concentration` (0 is the exponential tail, which every formula treats apart)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive,
                       "concentration": constraints.real}
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args=None):
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        super().__init__(_batch_shape(loc, scale, concentration, tensor=self.loc),
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expanded(GeneralizedPareto, batch_shape, _instance,
                              ("loc", "scale", "concentration"))

    def _zero_and_safe_concentration(self):
        """Where concentration is 0, and concentration with those entries set to 1 (so the
        formulas for the other entries stay finite there). torch compares with a float32 0,
        which fails for float64 parameters; a 0 of their dtype works for both."""
        c = self.concentration
        eq_zero = distgrad.isclose(c, distgrad.zeros_like(c))
        return eq_zero, distgrad.where(eq_zero, distgrad.ones_like(c), c)

    def rsample(self, sample_shape=()):
        return self.icdf(_random.uniform(self.loc, self._extended_shape(sample_shape)))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = self._z(value)
        eq_zero, safe_conc = self._zero_and_safe_concentration()
        y = 1 / safe_conc + distgrad.ones_like(z)
        where_nonzero = distgrad.where(y == 0, y, y * distgrad.log1p(safe_conc * z))
        return -self.scale.log() - distgrad.where(eq_zero, z, where_nonzero)

    def log_survival_function(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = self._z(value)
        eq_zero, safe_conc = self._zero_and_safe_concentration()
        return distgrad.where(eq_zero, -z, -distgrad.log1p(safe_conc * z) / safe_conc)

    def log_cdf(self, value):
        return distgrad.log1p(-distgrad.exp(self.log_survival_function(value)))

    def cdf(self, value):
        return distgrad.exp(self.log_cdf(value))

    def icdf(self, value):
        eq_zero, safe_conc = self._zero_and_safe_concentration()
        logu = distgrad.log1p(-value)
        where_nonzero = self.loc + self.scale / safe_conc * distgrad.expm1(-safe_conc * logu)
        return distgrad.where(eq_zero, self.loc - self.scale * logu, where_nonzero)

    def _z(self, x):
        return (x - self.loc) / self.scale

    @property
    def mean(self):
        valid = self.concentration < 1
        safe_conc = distgrad.where(valid, self.concentration, 0.5)
        return distgrad.where(valid, self.loc + self.scale / (1 - safe_conc), nan)

    @property
    def variance(self):
        valid = self.concentration < 0.5
        safe_conc = distgrad.where(valid, self.concentration, 0.25)
        result = self.scale ** 2 / ((1 - safe_conc) ** 2 * (1 - 2 * safe_conc))
        return distgrad.where(valid, result, nan)

    def entropy(self):
        return distgrad.broadcast_to(distgrad.log(self.scale) + self.concentration + 1,
                                     tuple(self._batch_shape))

    @property
    def mode(self):
        return self.loc

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        lower = self.loc
        upper = distgrad.where(self.concentration < 0, lower - self.scale / self.concentration,
                               inf)
        return constraints.interval(lower, upper)
