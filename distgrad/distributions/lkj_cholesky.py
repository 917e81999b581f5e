"""LKJCholesky: the Cholesky factor of an LKJ-distributed correlation matrix (density
proportional to det(M)^(concentration - 1)), sampled by torch's onion method: a Beta draw
for each row's squared length, a normal draw for its direction."""
from __future__ import annotations

import math

import distgrad

from . import _random, constraints
from .distribution import Distribution
from .gamma_family import Beta
from .utils import broadcast_all, finfo, size


class LKJCholesky(Distribution):
    """LKJ over `dim` x `dim` correlation matrices, given by their lower Cholesky factor."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim: int, concentration=1.0, validate_args=None):
        if dim < 2:
            raise ValueError("Expected dim to be an integer greater than or equal to 2. "
                             f"Found dim={dim}.")
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        # row i's squared length off the diagonal is Beta(i / 2, marginal - i / 2)
        marginal_conc = self.concentration + 0.5 * (self.dim - 2)
        offset = distgrad.arange(self.dim - 1, dtype=self.concentration.dtype,
                                 device=self.concentration.device_str)
        offset = distgrad.cat([offset.new_zeros((1,)), offset])
        self._beta = Beta(offset + 0.5, marginal_conc.unsqueeze(-1) - 0.5 * offset)
        super().__init__(self.concentration.size(), (dim, dim), validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._expanded(LKJCholesky, batch_shape, _instance, ("concentration",),)
        new.dim = self.dim
        new._beta = self._beta.expand(tuple(size(batch_shape)) + (self.dim,))
        return new

    def sample(self, sample_shape=()):
        with distgrad.no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            u_normal = _random.standard_normal(y, self._extended_shape(sample_shape)).tril(-1)
            u_hypersphere = u_normal / u_normal.norm(dim=-1, keepdim=True)
            first_row = (distgrad.arange(self.dim, device=y.device_str) == 0).unsqueeze(-1)
            u_hypersphere = distgrad.where(first_row, 0.0, u_hypersphere)  # was 0 / 0
            w = distgrad.sqrt(y) * u_hypersphere
            tiny = float(finfo(w.dtype).tiny)
            diag_elems = distgrad.clamp(1 - distgrad.sum(w ** 2, dim=-1), min=tiny).sqrt()
            return w + distgrad.diag_embed(diag_elems)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diag_elems = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = distgrad.arange(2, self.dim + 1, device=self.concentration.device_str)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized_log_pdf = distgrad.sum(order * diag_elems.log(), dim=-1)
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        denominator = distgrad.lgamma(alpha) * dm1
        numerator = distgrad.mvlgamma(alpha - 0.5, dm1)
        pi_constant = 0.5 * dm1 * math.log(math.pi)
        return unnormalized_log_pdf - (pi_constant + numerator - denominator)
