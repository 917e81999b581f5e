"""torch.nn.utils.parametrizations: weight_norm, spectral_norm and orthogonal as
parametrizations (nn.utils.parametrize), so the originals live at
`parametrizations.<name>.original0/1` (weight_norm's g and v) or
`parametrizations.<name>.original`, with spectral_norm's power-iteration vectors as buffers
`parametrizations.<name>.0._u` and `._v` and orthogonal's base as `parametrizations.<name>.0.base`."""
from __future__ import annotations

from typing import Optional

from ...autograd.grad_mode import no_grad
from ...tensor import Tensor
from .. import functional as F
from ..modules import Module
from . import parametrize
from .spectral_norm import random_unit_vectors, weight_matrix
from .weight_norm import _weight_norm, norm_except_dim

__all__ = ["orthogonal", "weight_norm", "spectral_norm"]


_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


def _make_orthogonal(a: Tensor) -> Tensor:
    """The Q of a's QR decomposition with R's diagonal made positive (torch's, from geqrf)."""
    from ...linalg import householder_product
    from ...ops.functions import geqrf

    x, tau = geqrf(a)
    return householder_product(x, tau) * x.diagonal(dim1=-2, dim2=-1).sgn().unsqueeze(-2)


def _is_orthogonal(q: Tensor) -> bool:
    from ...creation import eye
    from ...dtype_info import finfo
    from ...ops.functions import allclose

    n, k = q.shape[-2], q.shape[-1]
    return allclose(q.mT @ q, eye(k, dtype=q.dtype, device=q.device),
                    atol=10.0 * n * finfo(q.dtype).eps)


class _Orthogonal(Module):
    """Q = base · map(original) for a tall (n > k) original, map a skew-symmetric matrix's
    exponential or Cayley transform (first k columns) or a product of Householder
    reflectors; a wide original is mapped transposed."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *,
                 use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x = x.mT
        if self.orthogonal_map == "householder":
            q = self._householder(x)
        else:
            q = self._skew_map(x)
        if hasattr(self, "base"):
            q = self.base @ q
        return q.mT if transposed else q

    def _skew_map(self, x: Tensor) -> Tensor:
        """matrix_exp or cayley of the skew-symmetric A made from x's lower triangle (x tall,
        embedded into a square), then its first k columns."""
        from ...creation import eye
        from ...linalg import matrix_exp, solve
        from ...ops.functions import cat

        n, k = x.shape[-2], x.shape[-1]
        x = x.tril()
        if n != k:
            x = cat([x, x.new_zeros(n, n - k).expand(*x.shape[:-2], -1, -1)], dim=-1)
        a = x - x.mT
        if self.orthogonal_map == "matrix_exp":
            q = matrix_exp(a)
        else:
            identity = eye(n, dtype=a.dtype, device=a.device)
            q = solve(identity - 0.5 * a, identity + 0.5 * a)
        return q[..., :k] if n != k else q

    @staticmethod
    def _householder(x: Tensor) -> Tensor:
        """The reflectors below x's diagonal, each scaled to reflect (τ = 2 / ‖v‖²), times the
        signs on x's diagonal (cast to int: neither differentiated nor updated)."""
        from ...linalg import householder_product

        a = x.tril(diagonal=-1)
        tau = 2.0 / (1.0 + (a * a).sum(dim=-2))
        q = householder_product(a, tau)
        return q * x.diagonal(dim1=-2, dim2=-1).int().unsqueeze(-2)

    @no_grad()
    def right_inverse(self, q: Tensor) -> Tensor:
        from ...creation import randn, zeros_like
        from ...ops.functions import cat

        if q.shape != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. "
                             f"Got a tensor of shape {q.shape}.")
        q_init = q
        n, k = q.shape[-2], q.shape[-1]
        transposed = n < k
        if transposed:
            q, n, k = q.mT, k, n
        if not hasattr(self, "base"):
            return self._householder_inverse(q, transposed)
        if n == k:
            q = q.clone() if _is_orthogonal(q) else _make_orthogonal(q)
        else:
            noise = randn(*q.shape[:-2], n, n - k, dtype=q.dtype, device=q.device)
            q = _make_orthogonal(cat([q, noise], dim=-1))
        self.base = q
        neg_id = zeros_like(q_init)
        neg_id.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
        return neg_id

    def _householder_inverse(self, q: Tensor, transposed: bool) -> Tensor:
        """Without a base only householder can be assigned: geqrf's reflectors of q, with
        the signs of R's diagonal on the diagonal (flipped where LAPACK used no reflection,
        tau exactly 0), so that forward gives back the Q of q's QR with R's diagonal > 0."""
        from ...ops.functions import geqrf

        if self.orthogonal_map != "householder":
            raise NotImplementedError("It is not possible to assign to the matrix exponential or "
                                      "the Cayley parametrizations when "
                                      "use_trivialization=False.")
        a, tau = geqrf(q)
        a.diagonal(dim1=-2, dim2=-1).sign_()
        a.diagonal(dim1=-2, dim2=-1)[tau == 0.0] *= -1
        return a.mT if transposed else a


def orthogonal(module: Module, name: str = "weight", orthogonal_map: Optional[str] = None, *,
               use_trivialization: bool = True) -> Module:
    """`module.<name>` constrained to an orthogonal matrix (or batch of them), through
    orthogonal_map "matrix_exp" or "cayley" of a skew-symmetric matrix, or "householder"
    (a product of reflectors); the default is matrix_exp for a square weight, else
    householder."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError("Expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.ndim} dimensions.")
    if orthogonal_map is None:
        square = weight.shape[-2] == weight.shape[-1]
        orthogonal_map = "matrix_exp" if square else "householder"
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


class _WeightNorm(Module):
    def __init__(self, dim: Optional[int] = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: Optional[int] = 0) -> Module:
    """`module.<name>` = g · v / ‖v‖ (norm over every dimension but dim, or the whole tensor
    with dim=None), with g = `parametrizations.<name>.original0` and
    v = `parametrizations.<name>.original1`."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError("Dimension out of range (expected to be in range of "
                             f"[-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = self._reshape_weight_to_matrix(weight)
            u, v = random_unit_vectors(weight_mat, eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        return weight_matrix(weight, self.dim)

    @no_grad()
    def _power_method(self, weight_mat: Tensor, n_power_iterations: int) -> None:
        """Update the buffers u and v in place toward the top singular vectors."""
        from ...ops.functions import mv

        for _ in range(n_power_iterations):
            self._u.copy_(F.normalize(mv(weight_mat, self._v), dim=0, eps=self.eps))
            self._v.copy_(F.normalize(mv(weight_mat.mT, self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        from ...ops.functions import mv, vdot

        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        sigma = vdot(self._u.clone(), mv(weight_mat, self._v.clone()))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: Optional[int] = None) -> Module:
    """`module.<name>` = original / σ, σ its largest singular value estimated by power
    iteration (in training mode, n_power_iterations steps per access; eval mode uses the
    stored vectors). dim defaults to 1 for ConvTranspose, else 0."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
