"""torch functions and methods that programs call, thin over distgrad's ops: rsub, the
out-of-place fill, frexp, the deprecated nuclear_norm and frobenius_norm, get_device,
empty_permuted, and the Tensor methods resize and resize_as (deprecated, out of place),
to_dense (of a dense tensor) and prelu.
"""
from __future__ import annotations

import functools
import operator
import warnings

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..creation import invalid_combination
from ..autograd.record import call
from ..tensor import Tensor, _warn_once
from .math import _is_num, _scaled, _sub_rule
from .overwrite import fill_vjp, fill_rule, filled
from .rules import unbroadcast
from .table import Meta, defop


# ---- rsub: other - alpha · input ---------------------------------------------------------------

# torch.rsub(tensor, tensor): its own node (RsubBackward0), its edges in (input, other) order; a
# number as other is sub's `2 - x` (RsubBackward1).
defop("rsub", lambda a, b, alpha=1: np.subtract(b, _scaled(a, alpha)),
      lambda a, b, alpha=1: _sub_rule(b, a),
      lambda c, g: (unbroadcast(-g * c.attrs["alpha"] if c.attrs.get("alpha", 1) != 1 else -g,
                                c.shapes[0]) if c.needs[0] else None,
                    unbroadcast(g, c.shapes[1]) if c.needs[1] else None),
      node="RsubBackward0", elementwise=True)


def rsub(input, other, alpha=1):
    from .functions import _checked_alpha, _not_a_number

    if not isinstance(input, Tensor):
        raise invalid_combination("rsub", (input, other), {})
    if _not_a_number(alpha):  # (torch's parser: its Number overload takes alpha by position)
        raise TypeError(str(invalid_combination("rsub", (input, other), {"alpha": alpha})) +
                        "      didn't match because some of the keywords were incorrect: alpha\n")
    alpha = _checked_alpha(input, other, alpha)
    scaled = {"alpha": alpha} if alpha != 1 else {}
    if _is_num(other):
        return call("sub", other, input, **scaled)
    return call("rsub", input, other, **scaled)


# ---- fill: a new tensor of input's shape and dtype, every element value ------------------------

defop("fill_new", filled, fill_rule, fill_vjp,
      node=lambda inputs, attrs: "FillBackward1" if hasattr(inputs[1], "_storage") else
      "FillBackward0", number_edges=False, sharding="elementwise")


def fill(input, value):
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                           f"{value.ndim} dimensions.")
    return call("fill_new", input, value)


# ---- frexp: input = mantissa · 2 ** exponent -----------------------------------------------------

def _frexp_rule(x):
    return Meta(x.shape, x.dtype), Meta(x.shape, dtypes.int32)


def _frexp_vjp(c, g, _):
    """torch's derivatives.yaml: grad / exponent.exp2() (the power in the default dtype)."""
    return (g / call("exp2", c.outs[0]),)


defop("frexp", lambda x: np.frexp(x), _frexp_rule, _frexp_vjp, node="FrexpBackward0",
      save_out=(1,), n_out=2, nondiff_outputs=(1,), elementwise=True)


def frexp(input):
    from .. import return_types

    if not input.dtype.is_floating_point:
        raise RuntimeError("torch.frexp() only supports floating-point dtypes")
    return return_types.frexp(call("frexp", input))


# ---- the deprecated matrix norms -------------------------------------------------------------

def nuclear_norm(input, dim=None, keepdim=False):
    """linalg.matrix_norm(input, 'nuc', dim, keepdim), with torch's warning (once)."""
    from .. import linalg

    _warn_once("at::nuclear_norm is deprecated and it is just left for JIT compatibility. It "
               "will be removed in a future PyTorch release. Please use "
               "`linalg.matrix_norm(A, 'nuc', dim, keepdim)` instead", "native/LinearAlgebra.cpp:3229")
    if isinstance(dim, bool):  # (the overload nuclear_norm(input, keepdim))
        dim, keepdim = None, dim
    return linalg.matrix_norm(input, "nuc", (-2, -1) if dim is None else dim, keepdim)


def frobenius_norm(input, dim, keepdim=False):
    """ATen's norm(input, 2, dim, keepdim) over at most two dims (NormBackward1), with torch's
    warning (once)."""
    _warn_once("at::frobenius_norm is deprecated and it is just left for JIT compatibility. "
               "It will be removed in a future PyTorch release. Please use "
               "`linalg.vector_norm(A, 2., dim, keepdim)` instead", "native/LinearAlgebra.cpp:3175")
    dims = [dim] if isinstance(dim, int) else list(dim)
    if len(dims) > 2:
        raise RuntimeError(f"Expected at most 2 dimensions, but got {len(dims)} dimensions "
                           f"instead.")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"norm(): input dtype should be either floating point or complex. "
                           f"Got {input.dtype.long_name} instead.")
    return call("norm", input, p=2.0, dim=dims, keepdim=keepdim, aten=True)


# ---- devices and layouts ---------------------------------------------------------------------

def get_device(input) -> int:
    return input.get_device()


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None,
                   requires_grad=False, pin_memory=False):
    """An empty tensor of `size` whose dims lie in memory in the order physical_layout gives
    (outermost first)."""
    from .reshaping import empty_strided

    size, order = [int(n) for n in size], [int(d) for d in physical_layout]
    if len(size) != len(order):
        raise RuntimeError(f"Number of dimensions in size does not match the length of the "
                           f"physical_layout; i.e. len(size) = {len(size)} is not equal to "
                           f"len(physical_layout) = {len(order)}")
    if len(set(order)) != len(order):
        raise RuntimeError("Duplicate dim not allowed")
    stride, step = [0] * len(size), 1
    for d in reversed(order):
        stride[d] = step
        step *= max(size[d], 1)
    return empty_strided(size, stride, dtype=dtype, device=device, requires_grad=requires_grad)


# ---- Tensor methods --------------------------------------------------------------------------

class Resize(Function):
    """torch.autograd._functions.Resize: the deprecated out-of-place resize, a view of the
    values in another shape of as many elements (ResizeBackward)."""

    @staticmethod
    def forward(ctx, tensor, sizes):
        ctx.sizes = sizes
        ctx.numel = functools.reduce(operator.mul, sizes, 1)
        if tensor.numel() != ctx.numel:
            raise RuntimeError(
                f"requested resize to {'x'.join(map(str, sizes))} ({ctx.numel} elements in "
                f"total), but the given tensor has a size of "
                f"{'x'.join(map(str, tensor.size()))} ({tensor.numel()} elements). autograd's "
                f"resize can only change the shape of a given tensor, while preserving the "
                f"number of elements. ")
        ctx.input_sizes = tensor.size()
        return tensor.contiguous().view(*sizes)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.contiguous().view(ctx.input_sizes), None


def resize(self, *sizes):
    warnings.warn("non-inplace resize is deprecated", stacklevel=2)
    return Resize.apply(self, sizes)


def resize_as(self, tensor):
    warnings.warn("non-inplace resize_as is deprecated", stacklevel=2)
    return Resize.apply(self, tensor.size())


def to_dense(self, dtype=None, *, masked_grad=None):
    """A dense tensor is its own dense form (in another dtype: a copy)."""
    return self if dtype is None or dtype is self.dtype else self.to(dtype)


def prelu(self, weight):
    from ..nn.functional import prelu as _prelu

    return _prelu(self, weight)


FUNCTIONS = dict(rsub=rsub, fill=fill, frexp=frexp, nuclear_norm=nuclear_norm,
                 frobenius_norm=frobenius_norm, get_device=get_device,
                 empty_permuted=empty_permuted)
METHODS = dict(frexp=frexp, resize=resize, resize_as=resize_as, to_dense=to_dense, prelu=prelu)
