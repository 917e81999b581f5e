"""Gamma, Dirichlet and Beta, reparameterized as torch does: a Gamma draw and a Dirichlet
draw (normalized Gamma draws) carry torch's implicit gradients (_implicit.py); Beta is the
first coordinate of a two-category Dirichlet. Chi2 is a Gamma, StudentT divides a normal
draw by a Chi2 one, and FisherSnedecor one Gamma draw by another."""
from __future__ import annotations

import math
import numbers

import distgrad
import distgrad.nn.functional as F

from . import _random, constraints
from ._implicit import reparameterized_dirichlet, reparameterized_standard_gamma
from .continuous import _batch_shape
from .distribution import Distribution, ExponentialFamily
from .utils import broadcast_all, finfo, size

nan = float("nan")
inf = float("inf")


def _standard_gamma(concentration):
    return reparameterized_standard_gamma(concentration, _random.standard_gamma(concentration))


class Gamma(ExponentialFamily):
    """The Gamma distribution with shape `concentration` and `rate`."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _mean_carrier_measure = 0

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(_batch_shape(concentration, rate, tensor=self.concentration),
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expanded(Gamma, batch_shape, _instance, ("concentration", "rate"))

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        value.detach().clamp_(min=float(finfo(value.dtype).tiny))  # (unrecorded, as torch's)
        return value

    def log_prob(self, value):
        value = distgrad.as_tensor(value, dtype=self.rate.dtype, device=self.rate.device_str)
        if self._validate_args:
            self._validate_sample(value)
        return (distgrad.xlogy(self.concentration, self.rate)
                + distgrad.xlogy(self.concentration - 1, value)
                - self.rate * value - distgrad.lgamma(self.concentration))

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return distgrad.special.gammainc(self.concentration, self.rate * value)

    def entropy(self):
        c = self.concentration
        return c - distgrad.log(self.rate) + distgrad.lgamma(c) + (1.0 - c) * distgrad.digamma(c)

    @property
    def _natural_params(self):
        return (self.concentration - 1, -self.rate)

    def _log_normalizer(self, x, y):
        return distgrad.lgamma(x + 1) + (x + 1) * distgrad.log(-y.reciprocal())


class Chi2(Gamma):
    """The chi-squared distribution with `df` degrees of freedom: Gamma(df / 2, 1 / 2)."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args=None):
        super().__init__(0.5 * df, 0.5, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Chi2, _instance)
        return super().expand(batch_shape, new)

    @property
    def df(self):
        return self.concentration * 2


class StudentT(Distribution):
    """Student's t-distribution with `df` degrees of freedom, location `loc` and `scale`."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real,
                       "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df)
        super().__init__(size(self.df.shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._expanded(StudentT, batch_shape, _instance, ("df", "loc", "scale"))
        new._chi2 = self._chi2.expand(batch_shape)
        return new

    @property
    def mean(self):
        m = self.loc.clone(memory_format=distgrad.contiguous_format)
        m[self.df <= 1] = nan
        return m

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        # written into the kept entries only, as torch's: a df <= 2 (whose formula divides
        # by zero or goes negative) leaves no nan in the gradients of the others
        m = self.df.clone(memory_format=distgrad.contiguous_format)
        finite = self.df > 2
        m[finite] = self.scale[finite].pow(2) * self.df[finite] / (self.df[finite] - 2)
        m[(self.df <= 2) & (self.df > 1)] = inf
        m[self.df <= 1] = nan
        return m

    def rsample(self, sample_shape=()):
        # X ~ Normal(0, 1), Z ~ Chi2(df), X / sqrt(Z / df) ~ StudentT(df); drawn in that order
        x = _random.standard_normal(self.df, self._extended_shape(sample_shape))
        z = self._chi2.rsample(sample_shape)
        return self.loc + self.scale * (x * distgrad.rsqrt(z / self.df))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * self.df.log() + 0.5 * math.log(math.pi)
             + distgrad.lgamma(0.5 * self.df) - distgrad.lgamma(0.5 * (self.df + 1.0)))
        return -0.5 * (self.df + 1.0) * distgrad.log1p(y ** 2.0 / self.df) - z

    def entropy(self):
        half_df, half_df_1 = 0.5 * self.df, 0.5 * (self.df + 1)
        lbeta = distgrad.lgamma(half_df) + math.lgamma(0.5) - distgrad.lgamma(half_df_1)
        return (self.scale.log()
                + 0.5 * (self.df + 1) * (distgrad.digamma(half_df_1) - distgrad.digamma(half_df))
                + 0.5 * self.df.log() + lbeta)


class FisherSnedecor(Distribution):
    """The F-distribution with `df1` and `df2` degrees of freedom: the ratio of two scaled
    chi-squared draws."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args=None):
        self.df1, self.df2 = broadcast_all(df1, df2)
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2)
        super().__init__(_batch_shape(df1, df2, tensor=self.df1), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._expanded(FisherSnedecor, batch_shape, _instance, ("df1", "df2"))
        new._gamma1 = self._gamma1.expand(batch_shape)
        new._gamma2 = self._gamma2.expand(batch_shape)
        return new

    @property
    def mean(self):
        df2 = distgrad.where(self.df2 <= 2, nan, self.df2)
        return df2 / (df2 - 2)

    @property
    def mode(self):
        mode = (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2)
        mode[self.df1 <= 2] = nan  # (in place, as torch's: an IndexPutBackward0)
        return mode

    @property
    def variance(self):
        df2 = distgrad.where(self.df2 <= 4, nan, self.df2)
        return 2 * df2.pow(2) * (self.df1 + df2 - 2) / (self.df1 * (df2 - 2).pow(2) * (df2 - 4))

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        x1 = self._gamma1.rsample(sample_shape).view(shape)
        x2 = self._gamma2.rsample(sample_shape).view(shape)
        tiny = float(finfo(x2.dtype).tiny)
        return (x1 / x2.clamp(min=tiny)).clamp(min=tiny)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        ct1, ct2, ct3 = self.df1 * 0.5, self.df2 * 0.5, self.df1 / self.df2
        t1 = (ct1 + ct2).lgamma() - ct1.lgamma() - ct2.lgamma()
        t2 = ct1 * ct3.log() + (ct1 - 1) * distgrad.log(value)
        t3 = (ct1 + ct2) * distgrad.log1p(ct3 * value)
        return t1 + t2 - t3


class Dirichlet(ExponentialFamily):
    """The Dirichlet distribution over the simplex, with the given concentration."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        super().__init__(concentration.shape[:-1], concentration.shape[-1:],
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return self._expanded(Dirichlet, batch_shape, _instance, ("concentration",),
                              event_shape=self._event_shape)

    def rsample(self, sample_shape=()):
        concentration = self.concentration.expand(tuple(self._extended_shape(sample_shape)))
        return reparameterized_dirichlet(concentration, _random.dirichlet(concentration))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return (distgrad.xlogy(c - 1.0, value).sum(-1) + distgrad.lgamma(c.sum(-1))
                - distgrad.lgamma(c).sum(-1))

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self):
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, True)
        # all concentrations below 1: the mode is the corner of the largest (torch's choice),
        # written in place as torch's (an IndexPutBackward0)
        below = (self.concentration < 1).all(dim=-1)
        mode[below] = F.one_hot(mode[below].argmax(dim=-1), cm1.shape[-1]).to(mode)
        return mode

    @property
    def variance(self):
        con0 = self.concentration.sum(-1, True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def entropy(self):
        c = self.concentration
        k, a0 = c.size(-1), c.sum(-1)
        return (distgrad.lgamma(c).sum(-1) - distgrad.lgamma(a0) - (k - a0) * distgrad.digamma(a0)
                - ((c - 1.0) * distgrad.digamma(c)).sum(-1))

    @property
    def _natural_params(self):
        return (self.concentration,)

    def _log_normalizer(self, x):
        return x.lgamma().sum(-1) - distgrad.lgamma(x.sum(-1))


class Beta(ExponentialFamily):
    """The Beta distribution with concentration1 (alpha) and concentration0 (beta)."""

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        if isinstance(concentration1, numbers.Number) and isinstance(concentration0,
                                                                     numbers.Number):
            both = distgrad.tensor([float(concentration1), float(concentration0)])
        else:
            concentration1, concentration0 = broadcast_all(concentration1, concentration0)
            both = distgrad.stack([concentration1, concentration0], -1)
        self._dirichlet = Dirichlet(both, validate_args=validate_args)
        super().__init__(self._dirichlet._batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Beta, _instance)
        batch_shape = size(batch_shape)
        new._dirichlet = self._dirichlet.expand(batch_shape)
        ExponentialFamily.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape).select(-1, 0)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self._dirichlet.log_prob(distgrad.stack([value, 1.0 - value], -1))

    def entropy(self):
        return self._dirichlet.entropy()

    @property
    def _natural_params(self):
        return (self.concentration1, self.concentration0)

    def _log_normalizer(self, x, y):
        return distgrad.lgamma(x) + distgrad.lgamma(y) - distgrad.lgamma(x + y)

    @property
    def concentration1(self):
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self):
        return self._dirichlet.concentration[..., 1]
