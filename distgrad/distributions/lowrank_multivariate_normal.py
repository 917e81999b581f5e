"""LowRankMultivariateNormal: N(loc, W Wᵀ + diag(D)) with W of rank m, scored through the
m x m capacitance matrix C = I + Wᵀ D⁻¹ W (Woodbury and the determinant lemma), as torch."""
from __future__ import annotations

import math

import distgrad

from . import _random, constraints
from ._linalg import cholesky, solve_lower
from .distribution import CenteredAtLoc, Distribution
from .multivariate_normal import batch_mahalanobis
from .utils import lazy_property, size


def _batch_mv(matrix, vector):
    return (matrix @ vector.unsqueeze(-1)).squeeze(-1)


def _with_identity_added(k):
    return k + distgrad.eye(k.shape[-1], dtype=k.dtype, device=k.device_str)


def capacitance_tril(w, d):
    """The Cholesky factor of I + Wᵀ D⁻¹ W."""
    return cholesky(_with_identity_added((w.mT / d.unsqueeze(-2)) @ w))


def lowrank_logdet(w, d, capacitance):
    """log|W Wᵀ + D| = log|C| + log|D| (the matrix determinant lemma)."""
    return 2 * capacitance.diagonal(dim1=-2, dim2=-1).log().sum(-1) + d.log().sum(-1)


def lowrank_mahalanobis(w, d, x, capacitance):
    """xᵀ (W Wᵀ + D)⁻¹ x = xᵀ D⁻¹ x - |C⁻¹ᐟ² Wᵀ D⁻¹ x|² (Woodbury)."""
    wt_dinv_x = _batch_mv(w.mT / d.unsqueeze(-2), x)
    return (x.pow(2) / d).sum(-1) - batch_mahalanobis(capacitance, wt_dinv_x)


class LowRankMultivariateNormal(CenteredAtLoc, Distribution):
    """N(loc, cov_factor cov_factorᵀ + diag(cov_diag)).

    >>> d = LowRankMultivariateNormal(distgrad.zeros(3), distgrad.ones(3, 1), distgrad.ones(3))
    >>> d.event_shape
    torch.Size([3])
    """

    arg_constraints = {"loc": constraints.real_vector,
                       "cov_factor": constraints.independent(constraints.real, 2),
                       "cov_diag": constraints.independent(constraints.positive, 1)}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        event_shape = size(loc.shape[-1:])
        if cov_factor.dim() < 2:
            raise ValueError("cov_factor must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if size(cov_factor.shape[-2:-1]) != event_shape:
            raise ValueError(f"cov_factor must be a batch of matrices with shape "
                             f"{event_shape[0]} x m")
        if size(cov_diag.shape[-1:]) != event_shape:
            raise ValueError(f"cov_diag must be a batch of vectors with shape {event_shape}")
        try:
            loc_, self.cov_factor, cov_diag_ = distgrad.broadcast_tensors(
                loc.unsqueeze(-1), cov_factor, cov_diag.unsqueeze(-1))
        except RuntimeError as e:
            raise ValueError(f"Incompatible batch shapes: loc {loc.shape}, cov_factor "
                             f"{cov_factor.shape}, cov_diag {cov_diag.shape}") from e
        self.loc = loc_[..., 0]
        self.cov_diag = cov_diag_[..., 0]
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        self._capacitance_tril = capacitance_tril(cov_factor, cov_diag)
        super().__init__(self.loc.shape[:-1], event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LowRankMultivariateNormal, _instance)
        loc_shape = tuple(batch_shape) + tuple(self.event_shape)
        new.loc = self.loc.expand(loc_shape)
        new.cov_diag = self.cov_diag.expand(loc_shape)
        new.cov_factor = self.cov_factor.expand(loc_shape + tuple(self.cov_factor.shape[-1:]))
        new._unbroadcasted_cov_factor = self._unbroadcasted_cov_factor
        new._unbroadcasted_cov_diag = self._unbroadcasted_cov_diag
        new._capacitance_tril = self._capacitance_tril
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _full_shape(self, matrix):
        n = self._event_shape[0]
        return matrix.expand(tuple(self._batch_shape) + (n, n))

    @lazy_property
    def variance(self):
        return (self._unbroadcasted_cov_factor.pow(2).sum(-1)
                + self._unbroadcasted_cov_diag).expand(
            tuple(self._batch_shape) + tuple(self._event_shape))

    @lazy_property
    def scale_tril(self):
        # D^½ chol(I + D^-½ W Wᵀ D^-½), which is better conditioned than chol(W Wᵀ + D)
        cov_diag_sqrt = self._unbroadcasted_cov_diag.sqrt().unsqueeze(-1)
        dinvsqrt_w = self._unbroadcasted_cov_factor / cov_diag_sqrt
        k = _with_identity_added(dinvsqrt_w @ dinvsqrt_w.mT)
        return self._full_shape(cov_diag_sqrt * cholesky(k))

    @lazy_property
    def covariance_matrix(self):
        w = self._unbroadcasted_cov_factor
        return self._full_shape(w @ w.mT + distgrad.diag_embed(self._unbroadcasted_cov_diag))

    @lazy_property
    def precision_matrix(self):
        a = self._woodbury_factor()
        return self._full_shape(
            distgrad.diag_embed(self._unbroadcasted_cov_diag.reciprocal()) - a.mT @ a)

    def _woodbury_factor(self):
        """A = C^-½ Wᵀ D⁻¹, so that (W Wᵀ + D)⁻¹ = D⁻¹ - Aᵀ A."""
        wt_dinv = self._unbroadcasted_cov_factor.mT / self._unbroadcasted_cov_diag.unsqueeze(-2)
        return solve_lower(self._capacitance_tril, wt_dinv)

    def _logdet(self):
        return lowrank_logdet(self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag,
                              self._capacitance_tril)

    def _mahalanobis(self, x):
        return lowrank_mahalanobis(self._unbroadcasted_cov_factor,
                                   self._unbroadcasted_cov_diag, x, self._capacitance_tril)

    def rsample(self, sample_shape=()):
        shape = tuple(self._extended_shape(sample_shape))
        eps_w = _random.standard_normal(self.loc, shape[:-1] + tuple(self.cov_factor.shape[-1:]))
        eps_d = _random.standard_normal(self.loc, shape)
        return (self.loc + _batch_mv(self._unbroadcasted_cov_factor, eps_w)
                + self._unbroadcasted_cov_diag.sqrt() * eps_d)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        m = self._mahalanobis(value - self.loc)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + self._logdet() + m)

    def entropy(self):
        h = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + self._logdet())
        return h if len(self._batch_shape) == 0 else h.expand(tuple(self._batch_shape))
