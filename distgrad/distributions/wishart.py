"""The Wishart distribution over positive-definite matrices, parameterized as torch's by `df`
and one of a covariance matrix, a precision matrix or the covariance's lower Cholesky factor
(scale_tril). Draws are torch's Bartlett decomposition, from the same stream in the same
order: the Chi2 (gamma) draws of the diagonal, then the normals below it, so a seed gives
torch's samples; the Cholesky factor, solves and log-determinants are distgrad's linalg ops
(torch's gradients, on the parameters' worker)."""
from __future__ import annotations

import math
import warnings

import distgrad

from . import _random, constraints
from ._linalg import inverse_from_cholesky
from .distribution import ExponentialFamily
from .gamma_family import Chi2
from .utils import broadcast_shapes, finfo, lazy_property, size

__all__ = ["Wishart"]

nan = float("nan")
_log_2 = math.log(2)


def _mvdigamma(x, p: int):
    """The multivariate digamma function: sum over i < p of digamma(x - i / 2)."""
    if not x.gt((p - 1) / 2).all():
        raise AssertionError("Wrong domain for multivariate digamma function.")
    shifts = distgrad.arange(p, dtype=x.dtype, device=x.device_str).div(2)
    return distgrad.digamma(x.unsqueeze(-1) - shifts.expand(tuple(x.shape) + (-1,))).sum(-1)


def _clamp_above_eps(x):
    return x.clamp(min=float(finfo(x.dtype).eps))


def _precision_to_scale_tril(p):
    """The lower Cholesky factor of p⁻¹ (torch's: through the Cholesky factor of p flipped)."""
    lf = distgrad.linalg.cholesky(distgrad.flip(p, (-2, -1)))
    l_inv = distgrad.transpose(distgrad.flip(lf, (-2, -1)), -2, -1)
    eye = distgrad.eye(p.shape[-1], dtype=p.dtype, device=p.device_str)
    return distgrad.linalg.solve_triangular(l_inv, eye, upper=False)


class Wishart(ExponentialFamily):
    """The Wishart distribution with `df` degrees of freedom (more than the dimension less
    one) and scale matrix Σ, given as covariance_matrix, precision_matrix (Σ⁻¹) or
    scale_tril (Σ = L Lᵀ).

    >>> m = Wishart(distgrad.tensor(4.0), covariance_matrix=distgrad.eye(2))
    >>> m.mean
    tensor([[4., 0.],
            [0., 4.]])
    """

    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def arg_constraints(self):
        return {"covariance_matrix": constraints.positive_definite,
                "precision_matrix": constraints.positive_definite,
                "scale_tril": constraints.lower_cholesky,
                "df": constraints.greater_than(self.event_shape[-1] - 1)}

    def __init__(self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None,
                 validate_args=None):
        if ((covariance_matrix is not None) + (scale_tril is not None)
                + (precision_matrix is not None)) != 1:
            raise AssertionError("Exactly one of covariance_matrix or precision_matrix or "
                                 "scale_tril may be specified.")
        param = next(p for p in (covariance_matrix, precision_matrix, scale_tril)
                     if p is not None)
        if param.dim() < 2:
            raise ValueError("scale_tril must be at least two-dimensional, with optional "
                             "leading batch dimensions")
        if isinstance(df, (bool, int, float)):
            batch_shape = size(param.shape[:-2])
            self.df = distgrad.tensor(df, dtype=param.dtype, device=param.device_str)
        else:
            batch_shape = broadcast_shapes(param.shape[:-2], df.shape)
            self.df = df.expand(tuple(batch_shape))
        event_shape = size(param.shape[-2:])

        if self.df.le(event_shape[-1] - 1).any():
            raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = "
                             f"{event_shape[-1] - 1}.")
        matrix_shape = tuple(batch_shape) + (-1, -1)
        if scale_tril is not None:
            self.scale_tril = param.expand(matrix_shape)
        elif covariance_matrix is not None:
            self.covariance_matrix = param.expand(matrix_shape)
        else:
            self.precision_matrix = param.expand(matrix_shape)

        if self.df.lt(event_shape[-1]).any():
            warnings.warn("Low df values detected. Singular samples are highly likely to occur "
                          "for ndim - 1 < df < ndim.", stacklevel=2)

        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        self._batch_dims = [-(x + 1) for x in range(len(self._batch_shape))]

        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = distgrad.linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(precision_matrix)
        self._dist_chi2 = self._bartlett_chi2(self.df, batch_shape)

    def _bartlett_chi2(self, df, batch_shape):
        """Chi2(df - i) for i < p: the squares of the Bartlett factor's diagonal."""
        steps = distgrad.arange(self._event_shape[-1], dtype=self._unbroadcasted_scale_tril.dtype,
                                device=self._unbroadcasted_scale_tril.device_str)
        return Chi2(df=df.unsqueeze(-1) - steps.expand(tuple(batch_shape) + (-1,)))

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Wishart, _instance)
        batch_shape = size(batch_shape)
        cov_shape = tuple(batch_shape) + tuple(self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(cov_shape)
        new.df = self.df.expand(tuple(batch_shape))
        new._batch_dims = [-(x + 1) for x in range(len(batch_shape))]
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                setattr(new, name, self.__dict__[name].expand(cov_shape))
        new._event_shape = self._event_shape  # the Chi2's width reads it
        new._dist_chi2 = new._bartlett_chi2(new.df, batch_shape)
        ExponentialFamily.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _matrix_shape(self):
        return tuple(self._batch_shape) + tuple(self._event_shape)

    @lazy_property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(self._matrix_shape())

    @lazy_property
    def covariance_matrix(self):
        l = self._unbroadcasted_scale_tril
        return (l @ l.transpose(-2, -1)).expand(self._matrix_shape())

    @lazy_property
    def precision_matrix(self):
        return inverse_from_cholesky(self._unbroadcasted_scale_tril).expand(self._matrix_shape())

    def _df_matrix(self):
        return self.df.view(tuple(self._batch_shape) + (1, 1))

    @property
    def mean(self):
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self):
        factor = self.df - self.covariance_matrix.shape[-1] - 1
        factor = distgrad.where(factor <= 0, distgrad.full_like(factor, nan), factor)
        return factor.view(tuple(self._batch_shape) + (1, 1)) * self.covariance_matrix

    @property
    def variance(self):
        v = self.covariance_matrix
        diag_v = v.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix() * (v.pow(2) + diag_v.unsqueeze(-1) * diag_v.unsqueeze(-2))

    def _bartlett_sampling(self, sample_shape=()):
        """L A Aᵀ Lᵀ with A lower triangular: sqrt(Chi2(df - i)) on the diagonal (drawn
        first), standard normals below it (drawn next, in tril_indices' order)."""
        p = self._event_shape[-1]
        diagonal = _clamp_above_eps(self._dist_chi2.rsample(sample_shape).sqrt())
        noise = diagonal.diag_embed(dim1=-2, dim2=-1)
        i, j = distgrad.tril_indices(p, p, offset=-1, device=noise.device_str)
        normals = _random.standard_normal(
            noise, tuple(sample_shape) + tuple(self._batch_shape) + (p * (p - 1) // 2,))
        noise[..., i, j] = normals
        chol = self._unbroadcasted_scale_tril @ noise
        return chol @ chol.transpose(-2, -1)

    def rsample(self, sample_shape=(), max_try_correction=None):
        """A draw by the Bartlett decomposition, then torch's correction of singular draws:
        as torch 2.13 does it, the draws the support check passes are the ones drawn again
        (with its warning "Singular sample detected."), up to `max_try_correction` (10) times
        while a redraw fails the check; so a seed gives torch's samples."""
        if max_try_correction is None:
            max_try_correction = 10
        sample_shape = size(sample_shape)
        sample = self._bartlett_sampling(sample_shape)

        # torch's code, its first check included (is_singular holds where the check passes)
        is_singular = self.support.check(sample)
        if self._batch_shape:
            is_singular = is_singular.amax(self._batch_dims)
        if is_singular.any():
            warnings.warn("Singular sample detected.", stacklevel=2)
            for _ in range(max_try_correction):
                sample_new = self._bartlett_sampling(is_singular[is_singular].shape)
                # a copy indexes: torch's backward of a draw with a sample_shape raises
                # (the mask its index_put saved is written below); distgrad's gives the
                # gradient of the draws kept
                sample[is_singular.clone()] = sample_new
                is_singular_new = ~self.support.check(sample_new)
                if self._batch_shape:
                    is_singular_new = is_singular_new.amax(self._batch_dims)
                is_singular[is_singular.clone()] = is_singular_new
                if not is_singular.any():
                    break
        return sample

    def _log_det_scale(self):
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        return (-nu * (p * _log_2 / 2 + self._log_det_scale())
                - distgrad.mvlgamma(nu / 2, p=p)
                + (nu - p - 1) / 2 * distgrad.linalg.slogdet(value).logabsdet
                - distgrad.cholesky_solve(value, self._unbroadcasted_scale_tril)
                .diagonal(dim1=-2, dim2=-1).sum(dim=-1) / 2)

    def entropy(self):
        nu = self.df
        p = self._event_shape[-1]
        return ((p + 1) * (p * _log_2 / 2 + self._log_det_scale())
                + distgrad.mvlgamma(nu / 2, p=p)
                - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p=p)
                + nu * p / 2)

    @property
    def _natural_params(self):
        nu = self.df
        p = self._event_shape[-1]
        return -self.precision_matrix / 2, (nu - p - 1) / 2

    def _log_normalizer(self, x, y):
        p = self._event_shape[-1]
        return ((y + (p + 1) / 2) * (-distgrad.linalg.slogdet(-2 * x).logabsdet + _log_2 * p)
                + distgrad.mvlgamma(y + (p + 1) / 2, p=p))
