"""ContinuousBernoulli (Loaiza-Ganem and Cunningham, 2019): the density on [0, 1]
proportional to p^x (1 - p)^(1 - x). Near p = 1/2 its closed forms divide 0 by 0, so there,
as in torch, Taylor expansions take over (`lims` bounds that region)."""
from __future__ import annotations

import math

import distgrad
import distgrad.nn.functional as F

from . import _random, constraints
from .discrete import _BinaryParams
from .distribution import ExponentialFamily
from .utils import broadcast_all, clamp_probs, lazy_property, logits_to_probs


class ContinuousBernoulli(_BinaryParams, ExponentialFamily):
    """The continuous Bernoulli distribution with `probs` in (0, 1) or real `logits` (not a
    probability and log-odds, but named as Bernoulli's)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    _mean_carrier_measure = 0
    has_rsample = True

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        batch_shape = self._one_param(probs, logits)
        if probs is not None:
            if validate_args is not None and \
                    not self.arg_constraints["probs"].check(self.probs).all():
                raise ValueError("The parameter probs has invalid values")
            self.probs = self._param = clamp_probs(self.probs)
        self._lims = lims
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._expanded(ContinuousBernoulli, batch_shape, _instance, ("probs", "logits"))
        new._param = new.__dict__.get("logits", new.__dict__.get("probs"))
        new._lims = self._lims
        return new

    @lazy_property
    def probs(self):
        return clamp_probs(logits_to_probs(self.logits, is_binary=True))

    def _outside_unstable_region(self):
        return distgrad.maximum(distgrad.le(self.probs, self._lims[0]),
                                distgrad.gt(self.probs, self._lims[1]))

    def _cut_probs(self):
        return distgrad.where(self._outside_unstable_region(), self.probs,
                              self._lims[0] * distgrad.ones_like(self.probs))

    def _cont_bern_log_norm(self):
        """The log normalizing constant, by the probs."""
        cut_probs = self._cut_probs()
        below_half = distgrad.where(distgrad.le(cut_probs, 0.5), cut_probs,
                                    distgrad.zeros_like(cut_probs))
        above_half = distgrad.where(distgrad.ge(cut_probs, 0.5), cut_probs,
                                    distgrad.ones_like(cut_probs))
        log_ratio = distgrad.log1p(-cut_probs) - distgrad.log(cut_probs)
        log_norm = distgrad.log(distgrad.abs(log_ratio)) \
            - distgrad.where(distgrad.le(cut_probs, 0.5), distgrad.log1p(-2.0 * below_half),
                             distgrad.log(2.0 * above_half - 1.0))
        x = distgrad.pow(self.probs - 0.5, 2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return distgrad.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self):
        cut_probs = self._cut_probs()
        mus = cut_probs / (2.0 * cut_probs - 1.0) \
            + 1.0 / (distgrad.log1p(-cut_probs) - distgrad.log(cut_probs))
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * distgrad.pow(x, 2)) * x
        return distgrad.where(self._outside_unstable_region(), mus, taylor)

    @property
    def stddev(self):
        return distgrad.sqrt(self.variance)

    @property
    def variance(self):
        cut_probs = self._cut_probs()
        variances = cut_probs * (cut_probs - 1.0) / distgrad.pow(1.0 - 2.0 * cut_probs, 2) \
            + 1.0 / distgrad.pow(distgrad.log1p(-cut_probs) - distgrad.log(cut_probs), 2)
        x = distgrad.pow(self.probs - 0.5, 2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return distgrad.where(self._outside_unstable_region(), variances, taylor)

    def sample(self, sample_shape=()):
        u = _random.uniform(self.probs, self._extended_shape(sample_shape))
        with distgrad.no_grad():
            return self.icdf(u)

    def rsample(self, sample_shape=()):
        return self.icdf(_random.uniform(self.probs, self._extended_shape(sample_shape)))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return (-F.binary_cross_entropy_with_logits(logits, value, reduction="none")
                + self._cont_bern_log_norm())

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        cut_probs = self._cut_probs()
        cdfs = (distgrad.pow(cut_probs, value) * distgrad.pow(1.0 - cut_probs, 1.0 - value)
                + cut_probs - 1.0) / (2.0 * cut_probs - 1.0)
        unbounded_cdfs = distgrad.where(self._outside_unstable_region(), cdfs, value)
        return distgrad.where(distgrad.le(value, 0.0), distgrad.zeros_like(value),
                              distgrad.where(distgrad.ge(value, 1.0), distgrad.ones_like(value),
                                             unbounded_cdfs))

    def icdf(self, value):
        cut_probs = self._cut_probs()
        inverse = (distgrad.log1p(-cut_probs + value * (2.0 * cut_probs - 1.0))
                   - distgrad.log1p(-cut_probs)) \
            / (distgrad.log(cut_probs) - distgrad.log1p(-cut_probs))
        return distgrad.where(self._outside_unstable_region(), inverse, value)

    def entropy(self):
        log_probs0 = distgrad.log1p(-self.probs)
        log_probs1 = distgrad.log(self.probs)
        return self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm() - log_probs0

    @property
    def _natural_params(self):
        return (self.logits,)

    def _log_normalizer(self, x):
        """The log normalizing constant as a function of the natural parameter (a Taylor
        expansion near 0, as torch's)."""
        out_unst_reg = distgrad.maximum(distgrad.le(x, self._lims[0] - 0.5),
                                        distgrad.gt(x, self._lims[1] - 0.5))
        cut_nat_params = distgrad.where(out_unst_reg, x,
                                        (self._lims[0] - 0.5) * distgrad.ones_like(x))
        log_norm = distgrad.log(distgrad.abs(distgrad.special.expm1(cut_nat_params))) \
            - distgrad.log(distgrad.abs(cut_nat_params))
        taylor = 0.5 * x + distgrad.pow(x, 2) / 24.0 - distgrad.pow(x, 4) / 2880.0
        return distgrad.where(out_unst_reg, log_norm, taylor)
