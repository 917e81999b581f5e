"""Helpers the distributions share (torch.distributions.utils): broadcasting parameters,
probabilities <-> logits, lazily computed parameters, and float limits by dtype."""
from __future__ import annotations

import numbers
from functools import update_wrapper

import numpy as np

import distgrad
from distgrad.tensor import Tensor

euler_constant = 0.5772156649015329


def finfo(dtype):
    """numpy's float limits (eps, tiny, min) for a distgrad dtype (torch.finfo's numbers)."""
    return np.finfo(dtype.np)


def broadcast_all(*values):
    """Tensors and Python numbers broadcast to one shape; numbers take the first tensor's dtype
    and device (the default dtype if there is none)."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ValueError("Input arguments must all be instances of Number, torch.Tensor or "
                         "objects implementing __torch_function__.")
    if not all(isinstance(v, Tensor) for v in values):
        options = dict(dtype=distgrad.get_default_dtype())
        for v in values:
            if isinstance(v, Tensor):
                options = dict(dtype=v.dtype, device=v.device_str)
                break
        values = [v if isinstance(v, Tensor) else distgrad.tensor(v, **options) for v in values]
    return distgrad.broadcast_tensors(*values)


def sum_rightmost(value, dim: int):
    """Sum out the `dim` rightmost dimensions."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:value.dim() - dim]) + (-1,)).sum(-1)


def logits_to_probs(logits, is_binary: bool = False):
    if is_binary:
        return distgrad.sigmoid(logits)
    return distgrad.softmax(logits, dim=-1)


def clamp_probs(probs):
    eps = float(finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary: bool = False):
    ps = clamp_probs(probs)
    if is_binary:
        return distgrad.log(ps) - distgrad.log1p(-ps)
    return distgrad.log(ps)


class lazy_property:
    """A parameter computed from another on first use (`probs` from `logits`), then stored
    on the instance, computed with grad enabled as torch does."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with distgrad.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


def _tril_mask(n: int, diag: int, device):
    """Where a row-major walk of an n x n matrix is on or below diagonal `diag`."""
    arange = distgrad.arange(n, device=device)
    return arange < arange.view(-1, 1) + (diag + 1)


def tril_matrix_to_vec(mat, diag: int = 0):
    """The entries of mat on or below diagonal `diag`, in row order."""
    n = mat.shape[-1]
    if diag < -n or diag >= n:
        raise ValueError(f"diag ({diag}) provided is outside [{-n}, {n - 1}].")
    return mat[..., _tril_mask(n, diag, mat.device_str)]


def vec_to_tril_matrix(vec, diag: int = 0):
    """The D x D lower triangular matrix (below diagonal `diag`) with vec's entries in row
    order; D solves D² + (1 + 2 diag) D - |diag| (diag + 1) = 2 len(vec)."""
    n = (-(1 + 2 * diag) + ((1 + 2 * diag) ** 2 + 8 * vec.shape[-1]
                            + 4 * abs(diag) * (diag + 1)) ** 0.5) / 2
    if round(n) - n > float(finfo(vec.dtype).eps):
        raise ValueError(f"The size of last dimension is {vec.shape[-1]} which cannot be "
                         "expressed as the lower triangular part of a square D x D matrix.")
    n = round(n)
    mat = vec.new_zeros(tuple(vec.shape[:-1]) + (n, n))
    mat[..., _tril_mask(n, diag, vec.device_str)] = vec
    return mat


def size(shape=()) -> "distgrad.Size":
    return distgrad.Size(tuple(int(d) for d in shape))


def is_all_true(check) -> bool:
    return bool(check.all().item()) if isinstance(check, Tensor) else bool(check)


def broadcast_shapes(*shapes) -> "distgrad.Size":
    return size(np.broadcast_shapes(*(tuple(s) for s in shapes)))
