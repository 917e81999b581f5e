"""The public math API (`distgrad.add`, `Tensor.sum`, ...): argument handling in torch's
style over `call`, plus the composites torch also builds from smaller ops (matmul, outer,
flatten, chunk). Every function here is also bound as a `Tensor` method; the one-line
wrappers of single ops are made from the op table's rows (ops/api.py, at the end).
"""
from __future__ import annotations

import builtins
import functools
import numbers

import numpy as np

from .. import dtypes, layouts, linalg as _linalg, return_types
from ..autograd.record import call, in_device_words, recorded_around
from ..autograd.saved_args import note_given
from ..creation import _number  # (a Scalar given as a 0-dim tensor: LBFGS's alpha=t)
from ..tensor import Tensor
from . import indexing, linalg, math, nn, overwrite, reduce, shape, views  # noqa: F401  (fill the op table)
from . import ranges  # noqa: F401  (the arange and linspace ops)
from . import shifts  # noqa: F401  (<< and >>)
from . import conv, layers  # noqa: F401  (the layer ops: convolution, pooling, norms, attention)
from . import activations_more, conv_transpose, group_norm, resample  # noqa: F401  (more nn)
from . import activations  # noqa: F401  (nn.functional's one-node activations)
from . import optim  # noqa: F401  (the optimizers' fused update)
from . import special_ops  # noqa: F401  (torch.special's ops: erfcx, zeta, igamma, ...)
from . import ctc  # noqa: F401  (the CTC loss's forward and backward)
from . import recurrent  # noqa: F401  (torch's oneDNN LSTM layer)
from . import accumulate as _accumulate, arrange as _arrange, pointwise as _pointwise
from . import scatter as _scatter
from . import inplace_views as _inplace_views, placing as _placing, reshaping as _reshaping
from .placing import (diagonal_scatter, index_put, masked_select, put,  # noqa: F401
                      scatter_reduce, select_scatter, slice_scatter, take, take_along_dim)
from .reshaping import (argwhere, atleast_1d, atleast_2d, atleast_3d, block_diag,  # noqa: F401
                        broadcast_shapes, cartesian_prod, combinations, detach, diagflat,
                        empty_strided, logspace, narrow_copy, randint_like, ravel,
                        split_with_sizes, tril_indices, triu_indices, unravel_index)
from . import more_pointwise as _more_pointwise, order_stats as _order_stats, products as _products
from . import real_dense as _real_dense
from . import view_copies as _view_copies
from . import more_functions as _more_functions
from . import fake_quant as _fake_quant
from .more_pointwise import *  # noqa: F401,F403  (fmax, logit, ...: bound below)
from .order_stats import *  # noqa: F401,F403  (median, quantile, cummax, ...)
from .products import *  # noqa: F401,F403  (cdist, addmv, kron, ...)
from . import numerics as _numerics, sets as _sets  # (bound below)
from . import windows as _windows  # (Tensor.unfold: a view row and its backward)
from .numerics import *  # noqa: F401,F403  (cov, corrcoef, trapezoid, vander, ...)
from .sets import *  # noqa: F401,F403  (isin, unique_consecutive)
from . import decompositions, matrix_functions as _matrix_functions  # noqa: F401  (linear algebra)
from .matrix_functions import (cholesky, cholesky_inverse, cholesky_solve, det,  # noqa: F401
                               geqrf, inverse, logdet, lu, lu_solve, lu_unpack, matrix_exp,
                               matrix_power, orgqr,
                               pca_lowrank, pinverse, qr, slogdet, svd, svd_lowrank,
                               triangular_solve)
from .accumulate import cumprod, nanmean, nansum  # noqa: F401  (bound below)
from .pointwise import (arctan2, atan2, gcd, hypot, igamma, igammac, lcm,  # noqa: F401
                        logaddexp, logaddexp2, nextafter)
from .arrange import (column_stack, diff, dsplit, dstack, hsplit, hstack,  # noqa: F401
                      movedim, moveaxis, repeat_interleave, rot90, row_stack, tensor_split,
                      unflatten, vsplit, vstack)
from .scatter import (index_add, index_copy, index_fill, index_reduce,  # noqa: F401  (bound below)
                      scatter, scatter_add)
from . import api, layout
from .api import ALPHA_ERRORS
from .table import OPS
from .rules import tensor_list, wrap_dim, written
from . import shape as _shape
from .shape import infer_shape
from .views import as_strided_of, check_in_storage, memory_size, views_memory_beyond_itself

def _shape_args(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(a) for a in args[0])
    return tuple(int(a) for a in args)


# ---- elementwise ------------------------------------------------------------------------

def add(input, other, *, alpha=1):
    alpha = _checked_alpha(input, other, alpha, "add")
    return call("add", input, other, alpha=alpha) if alpha != 1 else call("add", input, other)


def sub(input, other, *, alpha=1):
    alpha = _checked_alpha(input, other, alpha, "sub")
    return call("sub", input, other, alpha=alpha) if alpha != 1 else call("sub", input, other)


def _checked_alpha(input, other, alpha, name="add"):
    """alpha as a number, checked as torch's alpha_check: a bool for a bool result only, a
    float for a floating result only (2.0 too); and as its kernel takes it in the result's
    dtype: fitting it (300 for int8, 1e5 for float16 are refused). A tensor is a Number to
    torch's argument parser only 0-dim and not requiring grad (an optimizer's weight decay
    given as one)."""
    if _not_a_number(alpha) or not isinstance(alpha, (numbers.Number, np.bool_, Tensor)):
        raise TypeError(f"{name}(): argument 'alpha' must be Number, not "
                        f"{type(alpha).__name__}")
    alpha = _number(alpha)
    if type(alpha) is int and alpha == 1:  # (the default: nothing to check)
        return alpha
    result = dtypes.result_type((input, other))
    if isinstance(alpha, (bool, np.bool_)) and result is not dtypes.bool_:
        OPS[name].shape(input, other)  # (torch checks the operands first: bools, shapes)
        raise RuntimeError(ALPHA_ERRORS[0])
    if isinstance(alpha, (float, complex, np.inexact)) and not result.is_floating_point:
        OPS[name].shape(input, other)
        raise RuntimeError(ALPHA_ERRORS[1])
    if isinstance(alpha, (complex, np.complexfloating)):  # (distgrad has no complex dtype)
        raise RuntimeError("For non-complex input tensors, argument alpha must not be a complex "
                           "number.")
    dtypes.check_scalar_fits(alpha, result)
    return alpha


def _not_a_number(value) -> bool:
    """A tensor torch's argument parser takes for no Number: one not 0-dim, or requiring
    grad."""
    return isinstance(value, Tensor) and (value.dim() != 0 or value.requires_grad)


def div(input, other, *, rounding_mode=None):
    if rounding_mode is not None:
        return call("div", input, other, rounding_mode=rounding_mode)
    return call("div", input, other)


def round(input, *, decimals=None):  # noqa: A001  (torch.round)
    """torch's two overloads: round(x) (RoundBackward0) and round(x, decimals=d)
    (RoundBackward1, even for d = 0)."""
    if decimals is None:
        return call("round", input)
    return call("round_decimals", input, decimals=int(decimals))


def square(input):
    return call("pow", input, 2)


def clamp(input, min=None, max=None):
    min, max = _bounds_of_one_kind(min, max)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return call("clamp_tensor", input, min, max)
    return call("clamp", input, min=min, max=max)


def _bounds_of_one_kind(min, max, refuse=None):
    """torch's clamp has a Tensor overload and a Number one: a tensor bound with a number
    bound takes the Number one, which reads a 0-dim tensor that needs no gradient as its
    number; any other tensor there matches neither (`refuse()`: its TypeError)."""
    # (this module's any and all are torch's)
    tensors = [b for b in (min, max) if isinstance(b, Tensor)]
    if not tensors or len(tensors) + [min, max].count(None) == 2:
        return min, max
    if not [t for t in tensors if t.dim() != 0 or t.requires_grad]:
        return tuple(b.item() if isinstance(b, Tensor) else b for b in (min, max))
    raise (refuse or (lambda: _clamp_refused("clamp", False, (None, min, max), {})))()


def _clamp_refused(name: str, method: bool, args: tuple, kwargs: dict) -> TypeError:
    """torch's TypeError for bounds of both kinds, listing the overloads of the function
    (input, min, max, out) or of the method (min, max; the call's arguments as given)."""
    from .overloads import Param, Signature, _invalid_combination

    head = () if method else (Param("input", "Tensor"),)
    tail = () if method else (Param("out", "Tensor?", None, True),)
    overloads = [Signature(name, *head, Param("min", kind, None), Param("max", kind, None), *tail)
                 for kind in ("Tensor", "Number")]
    return TypeError(_invalid_combination(overloads, args, kwargs))


def _clamp_checked(name: str, method: bool, bound):
    """`bound` (clamp, clamp_ as methods; clamp as a function) refusing mixed bounds with
    torch's words for the call as it was written."""
    @functools.wraps(bound)
    def checked(*args, **kwargs):
        shown = args[1:] if method else args
        at = 0 if method else 1
        min = shown[at] if len(shown) > at else kwargs.get("min")
        max = shown[at + 1] if len(shown) > at + 1 else kwargs.get("max")
        _bounds_of_one_kind(min, max, lambda: _clamp_refused(name, method, shown, kwargs))
        return bound(*args, **kwargs)
    return checked


def clamp_min(input, min):
    if isinstance(min, Tensor):
        return call("clamp_min_tensor", input, min)
    return call("clamp_min", input, min=min)


def clamp_max(input, max):
    if isinstance(max, Tensor):
        return call("clamp_max_tensor", input, max)
    return call("clamp_max", input, max=max)


def maximum(input, other):
    _tensors_only("maximum", input, other)
    return call("maximum", input, other)


def minimum(input, other):
    _tensors_only("minimum", input, other)
    return call("minimum", input, other)


def where(condition, input=None, other=None):
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    return call("where", condition, input, other)


def masked_fill(input, mask, value):
    if isinstance(value, Tensor):
        return call("masked_fill", input, mask, value)
    return call("masked_fill", input, mask, value=value)


def _tensors_only(name: str, *args) -> None:
    """torch's TypeError for a number where a function has only a Tensor overload; a
    method's `other` is its argument 1."""
    names = ("input", "other")[-len(args):]
    for position, (arg, x) in enumerate(zip(names, args), 1):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}(): argument '{arg}' (position {position}) must be Tensor, "
                            f"not {type(x).__name__}")


def _tensor_only_method(fn):
    """`t.maximum(other)` and friends: `other` must be a tensor (argument 1 of a method)."""
    def method(self, other):
        _tensors_only(fn.__name__, other)
        return fn(self, other)

    method.__name__ = fn.__name__
    return method


def logical_and(input, other):
    _tensors_only("logical_and", input, other)
    return call("logical_and", input, other)


def logical_or(input, other):
    _tensors_only("logical_or", input, other)
    return call("logical_or", input, other)


def logical_xor(input, other):
    _tensors_only("logical_xor", input, other)
    return call("logical_xor", input, other)


def equal(input, other) -> bool:
    return tuple(input.shape) == tuple(other.shape) and builtins.bool(
        np.array_equal(input._numpy_value(), other._numpy_value()))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    _check_closeness("allclose", input, other, rtol, atol)
    return builtins.bool(_close(input, other, rtol, atol, equal_nan).all().item())


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    _check_closeness("isclose", input, other, rtol, atol)
    return _close(input, other, rtol, atol, equal_nan)


def _close(input, other, rtol, atol, equal_nan):
    """torch's isclose in its steps, so in its dtypes (bfloat16 tensors compare in bfloat16,
    integer ones' error against a float allowance) and on the tensors' device."""
    from ..autograd.grad_mode import no_grad

    with no_grad():
        close = input == other
        if equal_nan and input.dtype.is_floating_point:
            close = close | (input.isnan() & other.isnan())
        if rtol == 0 and atol == 0:  # (an equality: no inf is close to another)
            return close
        a, b = (t.to(dtypes.get_default_dtype()) if t.dtype is dtypes.bool_ else t
                for t in (input, other))
        allowed = (b * rtol).abs() + atol
        actual = (a - b).abs()
        return close | (actual.isfinite() & (actual <= allowed))


def _check_closeness(name: str, input, other, rtol, atol) -> None:
    """torch's checks of isclose's arguments: a tensor of input's dtype (no promotion: an
    integer tensor against a float one is refused), tolerances not below zero."""
    if not isinstance(other, Tensor):
        raise TypeError(f"{name}(): argument 'other' (position 2) must be Tensor, not "
                        f"{type(other).__name__}")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"{input.dtype.long_name} did not match {other.dtype.long_name}")
    for what, tolerance in (("rtol", rtol), ("atol", atol)):
        if tolerance < 0:
            raise RuntimeError(f"{what} must be greater than or equal to zero, but got "
                               f"{tolerance:g}")


def nonzero(input, *, as_tuple=False):
    from ..creation import tensor

    value = input._numpy_value()
    if value.ndim == 0:  # torch: as a 1-element vector for as_tuple, else no columns
        if as_tuple:
            return (tensor(np.nonzero(value.reshape(1))[0].astype(np.int64),
                           device=input.device_str),)
        return tensor(np.zeros((int(value != 0), 0), np.int64), device=input.device_str)
    nz = np.nonzero(value)
    if as_tuple:
        return tuple(tensor(ix.astype(np.int64), device=input.device_str) for ix in nz)
    return tensor(np.stack(nz, axis=1).astype(np.int64), device=input.device_str)


# ---- matrix products ----------------------------------------------------------------------


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    scale = {k: _number(v) for k, v in (("beta", beta), ("alpha", alpha)) if v != 1}
    return call("addmm", input, mat1, mat2, **scale)


def _matmul_operator(self, other):
    """`self @ other`; NotImplemented for an operand matmul refuses, as torch's operator
    (`t @ array` multiplies in numpy)."""
    try:
        return matmul(self, other)
    except TypeError:
        return NotImplemented


def matmul(input, other):
    """torch.matmul's dispatch: dot, mv, mm, a batch folded into one mm, or bmm — with the
    views torch puts around them, so results carry the same grad_fn names."""
    with recorded_around("aten::matmul", (input, other)):
        return _matmul(input, other)


def _matmul(input, other):
    from .rules import require_tensor

    a, b = input, other
    require_tensor("matmul", "input", 1, a)
    require_tensor("matmul", "other", 2, b)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    if a.ndim == 1 and b.ndim == 1:
        return call("dot", a, b)
    if a.ndim == 2 and b.ndim == 1:
        return call("mv", a, b)
    if a.ndim == 1 and b.ndim == 2:
        # (torch squeezes the product in place: its version is 1)
        return written(call("squeeze_matmul", call("mm", call("unsqueeze", a, dim=0), b), dim=0))
    if a.ndim == 2 and b.ndim == 2:
        return call("mm", a, b)
    if a.ndim >= 3 and b.ndim <= 2 and (b.requires_grad or _foldable(a)):
        return _matmul_folded(a, b)
    if b.ndim >= 3 and a.ndim <= 2 and (a.requires_grad or (
            a.ndim == 1 and _foldable(call("transpose", b, dim0=-1, dim1=-2)))):
        # torch folds (a @ b) as (bᵀ @ aᵀ)ᵀ when a needs a gradient.
        if a.ndim == 1:
            return _matmul_folded(call("transpose", b, dim0=-1, dim1=-2), a)
        out = _matmul_folded(call("transpose", b, dim0=-1, dim1=-2), call("t", a))
        return call("clone", call("transpose", out, dim0=-1, dim1=-2))
    return _matmul_batched(a, b)


def _foldable(a) -> bool:
    """torch's should_fold for a tensor that needs no copy to be one matrix (its batch dims
    and rows contiguous with each other), or is empty; torch folds only such a tensor when
    the other factor needs no gradient (otherwise always)."""
    shape, strides = a.shape, a.stride()
    return a.numel() == 0 or builtins.all(strides[i] == strides[i + 1] * shape[i + 1]
                                          for i in range(a.ndim - 2))


def _matmul_folded(a, b):
    """a (..., n, k) @ b (k, m) or (k,): the batch folded into the rows of one mm / mv."""
    k = a.shape[-1]
    folded = reshape(a, _numel(a.shape[:-1]), k)  # (sizes, not -1: k may be 0)
    # (checked before a sharded operand's fallback would gather it; worded as mv's and mm's
    # shape rules, on the operands' device)
    if b.ndim == 1:
        if k != b.shape[0]:
            raise in_device_words(RuntimeError(
                f"size mismatch, got input ({folded.shape[0]}), mat ({folded.shape[0]}x{k}), "
                f"vec ({b.shape[0]})"), False, (folded, b), a.device_str)
        return call("unsafe_view", call("mv", folded, b), shape=list(a.shape[:-1]))
    if k != b.shape[0]:
        raise in_device_words(RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({folded.shape[0]}x{k} and "
            f"{b.shape[0]}x{b.shape[1]})"), False, (folded, b), a.device_str)
    return call("unsafe_view", call("mm", folded, b), shape=list(a.shape[:-1]) + [b.shape[1]])


def _matmul_batched(a, b):
    """The general case: a batched product over broadcast batch dims, viewed to the result.
    As torch's: a batch of one that needs a gradient against another batch is squeezed
    (then folded); else each operand is expanded to the broadcast batch and reshaped to
    3 dims (a view where it can be, else a copy: what bmm saves), and the product viewed."""
    if a.ndim == 3 and b.ndim == 3 and a.shape[0] != b.shape[0]:
        if a.shape[0] == 1 and a.requires_grad:
            return matmul(squeeze(a, 0), b)
        if b.shape[0] == 1 and b.requires_grad:
            return matmul(a, squeeze(b, 0))
    a2 = call("unsqueeze", a, dim=0) if a.ndim == 1 else a
    b2 = call("unsqueeze", b, dim=-1) if b.ndim == 1 else b
    batch = _batch_numel(a2, b2)  # batch dims that do not broadcast fail first, as in torch
    if a2.shape[-1] != b2.shape[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{batch}, {a2.shape[-1]}] but got: [{batch}, {b2.shape[-2]}].")
    if a._storage.runs_ops or b._storage.runs_ops:  # (sharded: bmm's rule takes the batches)
        out = call("bmm", a2, b2)
    else:
        out = call("bmm", *_expanded_batches(a, b))
        if b.ndim == 1:
            out = squeeze(out, -1)
    shape = list(broadcast_shapes(a2.shape[:-2], b2.shape[:-2]))
    shape += ([a.shape[-2]] if a.ndim > 1 else []) + ([b.shape[-1]] if b.ndim > 1 else [])
    return call("unsafe_view", out, shape=shape)


def _expanded_batches(a, b):
    """a and b expanded to their broadcast batch and reshaped to (batch, rows, columns), a
    vector b to (batch, length, 1), as torch's matmul gives them to bmm."""
    from .rules import broadcast_shapes

    n, m1 = (a.shape[-2] if a.ndim > 1 else 1), a.shape[-1]
    m2, p = (b.shape[-2], b.shape[-1]) if b.ndim > 1 else (b.shape[0], None)
    batch = list(broadcast_shapes(a.shape[:-2], b.shape[:-2]))
    count = _numel(batch)
    a3 = reshape(a.expand(*batch, n, m1), count, n, m1)
    if p is None:
        return a3, unsqueeze(reshape(b.expand(*batch, m2), count, m2), 2)
    return a3, reshape(b.expand(*batch, m2, p), count, m2, p)


def _batch_numel(a, b) -> int:
    from .rules import broadcast_shapes

    n = 1
    for d in broadcast_shapes(a.shape[:-2], b.shape[:-2]):
        n *= d
    return n


def outer(input, vec2):
    for name, v in (("self", input), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {v.ndim}-D")
    return call("mul", call("reshape", input, shape=[input.shape[0], 1]), vec2)


ger = outer


def bmm(input, mat2):
    _products.bmm_shapes("bmm", input, mat2)  # (the op broadcasts batches, for matmul)
    return call("bmm", input, mat2)


# ---- shape ------------------------------------------------------------------------------

def reshape(input, *shape):
    """A view when input's layout allows one (torch's view), else a copy (a clone, then an
    unsafe_view of it, as torch records it)."""
    shape = list(_shape_args(shape))
    new_shape = infer_shape(shape, input.numel())
    if layout.view_strides(input.shape, input.stride(), new_shape) is not None:
        out = call("reshape", input, shape=shape)
        if not input.is_contiguous() and out._grad_fn is not None:
            # (torch views a contiguous input; any other it aliases: _reshape_alias)
            out._grad_fn._name = "ReshapeAliasBackward0"
        return out
    return call("unsafe_view", call("contiguous", input), shape=list(new_shape))


def view(input, *shape, dtype=None):
    if dtype is not None and not shape:
        shape = (dtype,)
    if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
        return _shape.view_dtype(input, shape[0])
    shape = list(_shape_args(shape))
    new_shape = infer_shape(shape, input.numel())
    layout.require_view(input.shape, input.stride(), new_shape)
    return call("reshape", input, shape=shape)


def as_strided(input, size, stride, storage_offset=None):
    """A view of input's storage with the given layout (offset and strides in elements)."""
    base = input._storage.view_base(input)
    base = input if base is None else base
    offset = input.storage_offset() if storage_offset is None else int(storage_offset)
    size, stride = [int(n) for n in size], [int(n) for n in stride]
    if views_memory_beyond_itself(base):  # (read in the memory it views: bounded by it)
        if base.device_str != "cpu":
            raise NotImplementedError(
                f"as_strided of a detached view on device '{base.device_str}' is not "
                "supported; clone() it")
        check_in_storage(size, stride, offset, input.dtype.itemsize, memory_size(base))
    if base is not input and input._requires_grad and input._sharding is None:
        # torch's node leads to the view itself (its hooks run; a view made to require grad
        # is a leaf its base's history does not reach): read in the memory it views (a
        # sharded view's parts hold no one memory to read).
        strides, start = input._layout if input._layout is not None else \
            (list(input.stride()), input.storage_offset())
        out = call("as_strided", input, size=size, stride=stride, storage_offset=offset,
                   base_stride=list(strides), base_offset=start)
    else:
        out = as_strided_of(base, size, stride, offset)
    if storage_offset is None:
        note_given(out, storage_offset=None)  # (torch's node keeps the offset given: none)
    if out._view_kind is None:  # (made from input's base, forbidden to write as input is:
        # torch's creation_meta goes on to views of views)
        out._view_kind = input._view_kind or (
            input._sharding.parts_view_kind() if input._sharding is not None else None)
    return out


def view_as(input, other):
    return view(input, *other.shape)


def reshape_as(input, other):
    return reshape(input, *other.shape)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = wrap_dim(start_dim, input.ndim), wrap_dim(end_dim, input.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    n = 1
    for d in input.shape[s:e + 1]:
        n *= d
    return reshape(input, list(input.shape[:s]) + [n] + list(input.shape[e + 1:]))


def transpose(input, dim0, dim1):
    return call("transpose", input, dim0=dim0, dim1=dim1)


swapaxes = swapdims = transpose


def permute(input, *dims):
    return call("permute", input, dims=list(_shape_args(dims)))


def squeeze(input, dim=None):
    if isinstance(dim, (tuple, list)):
        return call("squeeze", input, dim=list(dim))
    return call("squeeze", input, dim=dim) if dim is not None else call("squeeze", input)


def unsqueeze(input, dim):
    return call("unsqueeze", input, dim=dim)


def expand(input, *sizes):
    return call("expand", input, shape=list(_shape_args(sizes)))


def expand_as(input, other):
    return expand(input, *other.shape)


def broadcast_to(input, size):
    return expand(input, *size)


def cat(tensors, dim=0):
    tensors = tensor_list("cat", tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    return call("cat", *tensors, dim=dim)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = tensor_list("stack", tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    return call("stack", *tensors, dim=dim)


def split(tensor, split_size_or_sections, dim=0):
    if not isinstance(split_size_or_sections, int):
        split_size_or_sections = [int(s) for s in split_size_or_sections]
    return call("split", tensor, split_size_or_sections=split_size_or_sections, dim=dim)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    size = input.shape[wrap_dim(dim, input.ndim)]
    step = -(-size // chunks) if size else 1
    return split(input, builtins.max(step, 1), dim)


def unbind(input, dim=0):
    return call("unbind", input, dim=dim)


def narrow(input, dim, start, length):
    if isinstance(start, Tensor):  # (torch's narrow.Tensor overload reads it first)
        if start.ndim != 0 or start.dtype.category != 1:  # (an integer dtype, not bool)
            raise RuntimeError("start must be an 0-dim integral Tensor.")
        start = int(start.item())
    d, start, stop = _reshaping.narrow_range(input, dim, start, length)
    return call("slice", input, dim=d, start=start, stop=stop, step=1)


def select(input, dim, index):
    if input.ndim == 0:
        return call("select", input, dim=dim, index=index)  # the rule raises torch's error
    d = wrap_dim(dim, input.ndim)
    size = input.shape[d]
    if not -size <= index < size:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"[{', '.join(map(str, input.shape))}] at dimension {d}")
    return call("select", input, dim=d, index=index % size)


def index_select(input, dim, index):
    return call("index_select", input, index, dim=dim)


def gather(input, dim, index, *, sparse_grad=False):
    if sparse_grad:
        raise NotImplementedError("gather: sparse_grad is not supported by distgrad")
    return call("take_along_dim", input, index, dim=wrap_dim(dim, input.ndim))


def memory_format_name(fn: str, memory_format):
    """A memory_format argument's name (None: not given), with torch's TypeError."""
    if memory_format is None:
        return None
    if not isinstance(memory_format, layouts.memory_format):
        raise TypeError(f"{fn}(): argument 'memory_format' must be torch.memory_format, not "
                        f"{type(memory_format).__name__}")
    return memory_format.name


def _copy_in(input, fmt: str):
    """A copy of input laid out in a memory format (torch: CloneBackward0)."""
    if fmt == "contiguous_format":
        return call("contiguous", input)
    layout.memory_format_strides(input.shape, fmt)  # (torch's error for another rank)
    return call("contiguous", input, memory_format=fmt)


def clone(input, *, memory_format=None):
    fmt = memory_format_name("clone", memory_format)
    return input._copied_into(call("clone", input) if fmt in (None, "preserve_format")
                              else _copy_in(input, fmt))


def contiguous(input, memory_format=None):
    fmt = memory_format_name("contiguous", memory_format) or "contiguous_format"
    if input.is_contiguous(memory_format=memory_format):
        return input
    if fmt == "preserve_format":
        raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
    return input._copied_into(_copy_in(input, fmt))


# ---- reductions -------------------------------------------------------------------------

def _dim_arg(dim):
    if dim is None or isinstance(dim, int):
        return dim
    return list(dim)


class _Unset:
    """The default of an argument whose absence differs from None (torch's overloads)."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


def _reduce_attrs(dim, keepdim, dtype) -> dict:
    # sum(x) is SumBackward0; any dim argument, even None or (), picks the dim overload
    # (SumBackward1), which reduces every dim when the list is empty.
    attrs = {}
    if dim is not _UNSET or keepdim:
        attrs["dim"] = _dim_arg(None if dim is _UNSET else dim)
        attrs["keepdim"] = keepdim
    if dtype is not None:
        attrs["dtype"] = dtypes.given(dtype).name
    return attrs


def sum(input, dim=_UNSET, keepdim=False, *, dtype=None):
    return call("sum", input, **_reduce_attrs(dim, keepdim, dtype))


def mean(input, dim=_UNSET, keepdim=False, *, dtype=None):
    return call("mean", input, **_reduce_attrs(dim, keepdim, dtype))


def max(input, dim=None, keepdim=False, *, other=None):
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    if dim is None:
        return call("max", input)
    return return_types.max(call("max_dim", input, dim=dim, keepdim=keepdim))


def min(input, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    if dim is None:
        return call("min", input)
    return return_types.min(call("min_dim", input, dim=dim, keepdim=keepdim))


def argmax(input, dim=None, keepdim=False):
    return call("argmax", input, dim=dim, keepdim=keepdim)


def argmin(input, dim=None, keepdim=False):
    return call("argmin", input, dim=dim, keepdim=keepdim)


def amax(input, dim=(), keepdim=False):
    return call("amax", input, dim=_dim_arg(dim) if dim != () else (), keepdim=keepdim)


def amin(input, dim=(), keepdim=False):
    return call("amin", input, dim=_dim_arg(dim) if dim != () else (), keepdim=keepdim)


def _correction(dim, unbiased, correction):
    """The correction as torch saves it: as given, 1 or 0 from `unbiased`, 1 when only a dim
    is given (its overload's default), None (meaning 1) when nothing is."""
    if correction is not _UNSET:
        return correction
    if unbiased is not None:
        return 1 if unbiased else 0
    return None if dim is _UNSET else 1


def var(input, dim=_UNSET, unbiased=None, keepdim=False, *, correction=_UNSET):
    return _spread("var", input, dim, unbiased, keepdim, correction)


def std(input, dim=_UNSET, unbiased=None, keepdim=False, *, correction=_UNSET):
    return _spread("std", input, dim, unbiased, keepdim, correction)


def _spread(name, input, dim, unbiased, keepdim, correction):
    """var, std, var_mean or std_mean, warning as torch does when there is nothing to spread
    over (after the op's own checks, which raise first)."""
    if isinstance(dim, builtins.bool):
        dim, unbiased = _UNSET, dim
    correction = _correction(dim, unbiased, correction)
    dim = _dim_arg(None if dim is _UNSET else dim)
    out = call(name, input, dim=dim, correction=correction, keepdim=keepdim)
    reduce.warn_without_degrees_of_freedom(name, input, dim, correction)
    return out


def softmax(input, dim, dtype=None):
    # (torch casts the input first, a node of its own: ToCopyBackward0)
    return call("softmax", input if dtype is None else input.to(dtype), dim=dim)


def log_softmax(input, dim, dtype=None):
    return call("log_softmax", input if dtype is None else input.to(dtype), dim=dim)


def logsumexp(input, dim, keepdim=False):
    return call("logsumexp", input, dim=_dim_arg(dim), keepdim=keepdim)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm, as torch routes it: a vector norm, except for a norm by name ("nuc", or
    "fro" over more than two dims), which is linalg.matrix_norm's."""
    dims = [dim] if isinstance(dim, int) else dim
    if isinstance(p, str) and not (p == "fro" and (dims is None or len(dims) <= 2)):
        dims = list(range(input.ndim)) if dims is None else dims
        return _linalg.matrix_norm(input, p, dims, keepdim, dtype=dtype)
    p = 2.0 if p is None or p == "fro" else p
    return _linalg.vector_norm(input, p, dims, keepdim, dtype=dtype)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """torch.prod: ProdBackward0 over everything, ProdBackward1 along `dim` (zeros handled
    as torch does: the gradient at a zero is the product of the others)."""
    attrs = {} if dtype is None else {"dtype": dtypes.given(dtype).name}
    if dim is None:
        return call("prod", input, **attrs)
    return call("prod_dim", input, dim=dim, keepdim=keepdim, **attrs)


def cumsum(input, dim, *, dtype=None):
    if dtype is None:
        return call("cumsum", input, dim=dim)
    return call("cumsum", input, dim=dim, dtype=dtypes.given(dtype).name)


def all(input, dim=None, keepdim=False):
    return call("all", input, dim=_dim_arg(dim), keepdim=keepdim)


def any(input, dim=None, keepdim=False):
    return call("any", input, dim=_dim_arg(dim), keepdim=keepdim)


def count_nonzero(input, dim=None):
    return call("count_nonzero", input, dim=_dim_arg(dim))


def var_mean(input, dim=_UNSET, unbiased=None, keepdim=False, *, correction=_UNSET):
    """(var, mean) from one node (VarMeanBackward0)."""
    return _spread("var_mean", input, dim, unbiased, keepdim, correction)


def std_mean(input, dim=_UNSET, unbiased=None, keepdim=False, *, correction=_UNSET):
    """(std, mean) from one node (StdMeanBackward0)."""
    return _spread("std_mean", input, dim, unbiased, keepdim, correction)


def _sort_overloads(name: str, method: bool, out: str):
    """torch's two overloads of sort and argsort: `stable` by keyword with every other
    argument by keyword, or dim and descending by position (and then no `stable`)."""
    from .overloads import REQUIRED, Param, Signature

    head = () if method else (Param("input", "Tensor"),)
    tail = () if method or not out else (Param("out", out + "?", None, True),)
    return (Signature(name, *head, Param("stable", "bool?", REQUIRED, True),
                      Param("dim", "int", -1, True), Param("descending", "bool", False, True),
                      *tail),
            Signature(name, *head, Param("dim", "int", -1), Param("descending", "bool", False),
                      *(tail if name == "sort" else ())))


_SORTS = {(name, method): _sort_overloads(name, method, out)
          for name, out in (("sort", "tuple of Tensors"), ("argsort", "Tensor"))
          for method in (False, True)}


def _sorted(name: str, method: bool, args, kwargs):
    """(input, the sort op's attrs, out) of a call of sort or argsort, parsed as torch
    parses it (`stable` given names the node as torch's overload that takes it; without
    it the sort is torch's unstable one, std::sort's order of equal values)."""
    from .overloads import parse

    k, v = parse(_SORTS[name, method], args[1:] if method else args, kwargs)
    attrs = {"dim": v["dim"], "descending": v["descending"]}
    if k == 0:
        attrs["stable"] = bool(v["stable"])
    return args[0] if method else v["input"], attrs, v.get("out")


def sort(*args, **kwargs):
    """(values, indices), in torch's overloads: sort(input, dim=-1, descending=False) or
    sort(input, *, stable, dim=-1, descending=False)."""
    input, attrs, _ = _sorted("sort", False, args, kwargs)
    return return_types.sort(call("sort", input, **attrs))


def argsort(*args, **kwargs):
    input, attrs, out = _sorted("argsort", False, args, kwargs)
    if out is not None:
        from ..out_param import _taking_out

        return _taking_out(argsort, "argsort")(input, **attrs, out=out)
    return call("sort", input, **attrs)[1]


def _sort_method(*args, **kwargs):
    input, attrs, _ = _sorted("sort", True, args, kwargs)
    return return_types.sort(call("sort", input, **attrs))


def _argsort_method(*args, **kwargs):
    input, attrs, _ = _sorted("argsort", True, args, kwargs)
    return call("sort", input, **attrs)[1]


def topk(input, k, dim=-1, largest=True, sorted=True):
    """(values, indices) of the k largest (or smallest), chosen and ordered as torch's CPU
    kernel does (equal values too; unsorted: in its selection's order)."""
    return return_types.topk(call("topk", input, k=int(k), dim=dim, largest=largest,
                                  sorted=bool(sorted)))


def _unique_of_sorted(input):
    """(values, inverse, counts) as torch's CPU kernel finds them: it sorts the flattened
    input (its sort's order of equal values) and keeps the first of each run, so of 0.0
    and -0.0 the one its sort puts first (np.unique's sort may put the other); every NaN
    stays apart (NaN != NaN)."""
    from ..autograd.grad_mode import no_grad

    with no_grad():
        ordered, order = call("sort", input.detach().reshape(-1), dim=0, descending=False)
    ordered, order = ordered._numpy_value(), order._numpy_value()
    starts = np.ones(len(ordered), bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(ordered), np.int64)
    inverse[order] = np.cumsum(starts) - 1
    counts = np.diff(np.append(np.flatnonzero(starts), len(ordered)))
    return ordered[starts], inverse, counts


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The sorted distinct values (no derivative: the result's shape depends on the data)."""
    from ..creation import tensor

    arr = input._numpy_value()
    d = None if dim is None else wrap_dim(dim, input.ndim)
    if d is None and input.dtype.is_floating_point:
        vals, inverse, counts = _unique_of_sorted(input)
    else:
        vals, inverse, counts = np.unique(arr, return_inverse=True, return_counts=True, axis=d)
    values = tensor(vals.astype(arr.dtype), device=input.device_str)
    out = [_sets.without_derivative(input, values, "_unique2", "Unique2Backward0") if d is None
           else _sets.without_derivative(input, values, "unique_dim", "UniqueDimBackward0")]
    if return_inverse:
        shape = tuple(input.shape) if d is None else (input.shape[d],)
        out.append(tensor(inverse.astype(np.int64).reshape(shape), device=input.device_str))
    if return_counts:
        out.append(tensor(counts.astype(np.int64), device=input.device_str))
    return out[0] if len(out) == 1 else tuple(out)


def flip(input, *dims):
    return call("flip", input, dims=list(_shape_args(dims)))


def fliplr(input):
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, 1)


def flipud(input):
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, 0)


def roll(input, shifts, dims=None):
    shifts = [int(shifts)] if isinstance(shifts, int) else [int(s) for s in shifts]
    if dims is not None:
        dims = [int(dims)] if isinstance(dims, int) else [int(d) for d in dims]
    return call("roll", input, shifts=shifts, dims=dims)


def _repeat(input, *sizes):
    """Tensor.repeat (torch has no torch.repeat)."""
    return call("repeat", input, repeats=list(_shape_args(sizes)))


def tile(input, *dims):
    dims = _shape_args(dims)
    return _repeat(input, *((1,) * (input.ndim - len(dims)) + tuple(dims)))


def tril(input, diagonal=0):
    return call("tril", input, diagonal=diagonal)


def triu(input, diagonal=0):
    return call("triu", input, diagonal=diagonal)


def diagonal(input, offset=0, dim1=0, dim2=1):
    return call("diagonal", input, offset=offset, dim1=dim1, dim2=dim2)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    return call("diag_embed", input, offset=offset, dim1=dim1, dim2=dim2)


def diag(input, diagonal=0):
    """A vector to a diagonal matrix, or a matrix's diagonal (a copy) as a vector."""
    if input.ndim == 1:
        return call("diag_embed", input, offset=diagonal, dim1=0, dim2=1)
    if input.ndim == 2:
        return call("diagonal_copy", input, offset=diagonal, dim1=0, dim2=1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def lerp(input, end, weight):
    _refuse_number_end("lerp", False, end, (input, end, weight), {})
    if isinstance(weight, Tensor):
        return call("lerp", input, end, weight)
    return call("lerp", input, end, weight=weight)


def _refuse_number_end(name: str, method: bool, end, args, kwargs) -> None:
    """torch's TypeError for lerp's `end` given as a number: its overloads take a tensor
    (the weight alone may be a number)."""
    if not isinstance(end, Tensor):
        from .overloads import Param, Signature, _invalid_combination

        head = () if method else (Param("input", "Tensor"),)
        tail = () if method else (Param("out", "Tensor?", None, True),)
        overloads = [Signature(name, *head, Param("end", "Tensor"), Param("weight", kind), *tail)
                     for kind in ("Tensor", "Number")]
        raise TypeError(_invalid_combination(overloads, args, kwargs))


def _lerp_method(name: str, fn):
    def method(self, *args, **kwargs):
        _refuse_number_end(name, True, args[0] if args else kwargs.get("end"), args, kwargs)
        return fn(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def addcmul(input, tensor1, tensor2, *, value=1):
    scale = {"value": _number(value)} if value != 1 else {}
    return call("addcmul", input, tensor1, tensor2, **scale)


def addcdiv(input, tensor1, tensor2, *, value=1):
    scale = {"value": _number(value)} if value != 1 else {}
    return call("addcdiv", input, tensor1, tensor2, **scale)


def cross(input, other, dim=None):
    if dim is None:
        import warnings

        warnings.warn("Using torch.cross without specifying the dim arg is deprecated.\nPlease "
                      "either pass the dim explicitly or simply use torch.linalg.cross.\nThe "
                      "default value of dim will change to agree with that of linalg.cross in a "
                      "future release.", UserWarning, stacklevel=2)
        dim = next((i for i, s in enumerate(input.shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    return call("cross", input, other, dim=dim)


def broadcast_tensors(*tensors):
    """Each tensor expanded to the common shape (a tensor already of that shape is returned
    as it is, as torch does)."""
    from .rules import broadcast_shapes

    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    shape = ()
    for t in tensors:
        shape = broadcast_shapes(shape, tuple(t.shape))
    return tuple(t if tuple(t.shape) == tuple(shape) else expand(t, *shape) for t in tensors)


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 0-d or 1-d tensors: each is a view expanded over the others'
    sizes; indexing='xy' swaps the first two, as torch.meshgrid does."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        import warnings

        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the "
                      "indexing argument.", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("xy", "ij"):
        raise RuntimeError(f'torch.meshgrid: indexing must be one of "xy" or "ij", but received: '
                           f'{indexing}')
    if not tensors:
        raise RuntimeError("torch.meshgrid: Expected at least one tensor")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                               f"got: {t!r}")
        if t.dtype is not tensors[0].dtype:
            raise RuntimeError("torch.meshgrid: Expected all tensors in the tensor list to have "
                               "the same dtype")
    ts = list(tensors)
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.numel() for t in ts]
    grids = []
    for i, t in enumerate(ts):
        view_shape = [1] * len(ts)
        view_shape[i] = -1
        grids.append(expand(reshape(t, *view_shape), *shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def tensordot(a, b, dims=2):
    """Contract `dims` of a with `dims` of b: a permute, a reshape to one mm, and a view,
    as torch does (so the result's grad_fn is ViewBackward0)."""
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        if dims > builtins.min(a.ndim, b.ndim):
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={dims}")
        dims_a, dims_b = list(range(-dims, 0)), list(range(dims))
    else:
        dims_a, dims_b = dims
        dims_a = [dims_a] if isinstance(dims_a, int) else list(dims_a)
        dims_b = [dims_b] if isinstance(dims_b, int) else list(dims_b)
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    if a.dtype is not b.dtype:
        raise RuntimeError("both inputs should have same dtype")
    ca = [wrap_dim(d, a.ndim) for d in dims_a]
    cb = [wrap_dim(d, b.ndim) for d in dims_b]
    for da, db, ia, ib in zip(dims_a, dims_b, ca, cb):
        if a.shape[ia] != b.shape[ib]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[ia]} in dim {da} and second has size {b.shape[ib]} in "
                               f"dim {db}")
    fa = [i for i in range(a.ndim) if i not in ca]
    fb = [i for i in range(b.ndim) if i not in cb]
    k = _numel(a.shape[i] for i in ca)
    a2 = reshape(permute(a, *(fa + ca)), _numel(a.shape[i] for i in fa), k)
    b2 = reshape(permute(b, *(cb + fb)), k, _numel(b.shape[i] for i in fb))
    return reshape(mm(a2, b2), *([a.shape[i] for i in fa] + [b.shape[i] for i in fb]))


def _numel(sizes) -> int:
    n = 1
    for s in sizes:
        n *= s
    return n


def inner(input, other):
    if input.ndim == 0 or other.ndim == 0:
        return mul(input, other)
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but got "
                           f"shapes {list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def einsum(*args):
    """Einstein summation as torch computes it: `einsum(equation, *operands)`, or torch's
    sublist form `einsum(a, [0, 1], b, [1, 2], [0, 2])` (each operand followed by its dims'
    numbers, the output's last).

    torch's steps, so results carry its dtypes, values and grad_fn names: each operand is
    permuted (repeated letters to their diagonal, missing ones unsqueezed) to the output's
    dims then the summed ones; operands are contracted left to right, a dim only one side
    has non-1 summed first, a pair's shared summed dims by one bmm between views, a pair
    with none by mul (which promotes dtypes where bmm requires one; a summed dim of length 1
    everywhere is no bmm). The summed dims, length 1 by then, are viewed away at the end.
    """
    if len(args) < 2:
        raise ValueError("einsum(): must specify the equation string and at least one operand, "
                         "or at least one operand and its subscripts list")
    if isinstance(args[0], Tensor):
        equation, operands = _sublist_equation(args)
    else:
        equation, operands = args[0], args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) > len(operands):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(operands):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation")
    # '...' becomes fresh letters (right-aligned, so ellipsis dims broadcast).
    n_ell = builtins.max([x.ndim - len(t) + 3 for t, x in zip(terms, operands) if "..." in t],
                         default=0)
    ell = "".join(chr(0x3B1 + i) for i in range(n_ell))
    subs = []
    for i, (t, x) in enumerate(zip(terms, operands)):
        if "..." in t:
            t = t.replace("...", ell[n_ell - (x.ndim - len(t) + 3):])
        if len(t) != x.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(t)}) "
                               f"does not match the number of dimensions ({x.ndim}) for operand "
                               f"{i} and no ellipsis was given")
        subs.append(t)
    letters = "".join(subs)
    if arrow:
        out = rhs.replace("...", ell)
        for k, c in enumerate(out):
            if c not in letters or c in out[:k]:
                raise RuntimeError(f"einsum(): output subscript {c} " + (
                    "appears more than once in the output" if c in out[:k]
                    else "does not appear in the equation for any input operand"))
    else:
        out = ell + "".join(builtins.sorted(c for c in set(letters)
                                            if letters.count(c) == 1 and c not in ell))
    # torch's order of dims: the output's, then the summed ones (ellipsis dims, then A-Z a-z)
    order = out + "".join(c for c in ell if c not in out) + "".join(
        builtins.sorted(c for c in set(letters) if c not in out and c not in ell))
    n_out = len(out)
    counts = dict.fromkeys(order, 0)  # operands in which a letter's length is not 1
    sizes = {}
    ops = []
    for i, (x, s) in enumerate(zip(operands, subs)):
        x, where = _einsum_align(x, s, i, sizes, counts, ell)
        for c in order:
            if c not in where:
                where[c] = x.ndim
                x = unsqueeze(x, x.ndim)
        ops.append(permute(x, *[where[c] for c in order]))
    dims = range(n_out, len(order))
    counts = [counts[c] for c in order]
    while len(ops) > 1:
        a, b = ops[0], ops[1]
        both, a_only, b_only = [], [], []
        for d in dims:
            if a.shape[d] != 1 and b.shape[d] != 1:
                counts[d] -= 1
                if counts[d] == 1:
                    both.append(d)
                    counts[d] = 0
            elif counts[d] == 1 and (a.shape[d] != 1 or b.shape[d] != 1):
                (a_only if a.shape[d] != 1 else b_only).append(d)
                counts[d] = 0
        if a_only:
            a = sum(a, dim=a_only, keepdim=True)
        if b_only:
            b = sum(b, dim=b_only, keepdim=True)
        ops[:2] = [_sumproduct_pair(a, b, both)]
    res = ops[0]
    if len(order) > n_out:
        if len(operands) > 1:
            return view(res, *res.shape[:n_out])
        return sum(res, dim=list(dims))
    return res


def _sublist_equation(args) -> tuple:
    """(equation, operands) of torch's sublist form: dims 0-25 are the letters A-Z, 26-51
    a-z, and Ellipsis is '...'; an odd count of arguments ends with the output's list."""
    def letter(n) -> str:
        if n is Ellipsis:
            return "..."
        if not 0 <= n < 52:
            raise ValueError("einsum(): subscript in subscript list is not within the valid "
                             "range [0, 52)")
        return chr(ord("A") + n) if n < 26 else chr(ord("a") + n - 26)

    equation = ",".join("".join(letter(n) for n in dims) for dims in args[1::2])
    if len(args) % 2:
        return equation + "->" + "".join(letter(n) for n in args[-1]), args[:-1:2]
    return equation, args[::2]


def _einsum_align(x, s, i, sizes, counts, ell):
    """Operand i with letters s: repeated letters to their diagonal (where the letter first
    stood, as torch puts it), each letter's length checked against the others' and counted
    where it is not 1; the operand and each letter's dim in it."""
    where = {}
    for c in s:
        d = len(where)
        if c in where:
            p = where[c]
            if x.shape[d] != x.shape[p]:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {i} but the "
                                   f"sizes don't match, {x.shape[d]} != {x.shape[p]}")
            x = movedim(diagonal(x, 0, p, d), -1, p)
            continue
        n = x.shape[d]
        if n != 1:
            seen = sizes.get(c, 1)
            if seen != 1 and seen != n:
                if c in ell:
                    raise RuntimeError(f"einsum(): dimension {d} covered by ellipsis in operand "
                                       f"{i}has size {n} which does not broadcast with "
                                       f"previously seen ellipsis with size {seen} for the "
                                       "respective dimension")
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {i} which "
                                   f"does not broadcast with previously seen size {seen}")
            sizes[c] = n
            counts[c] += 1
        where[c] = d
    return x, where


def _sumproduct_pair(a, b, summed):
    """torch's sumproduct_pair of two aligned operands (keepdim): their product summed over
    `summed` (dims both have of the same length), by one bmm, or a mul when there are none.
    The bmm is (a, b), or (b, a) transposed when all of a's own dims come after b's in the
    result (so torch's bmm writes the result in its order)."""
    if not summed:
        return mul(a, b)
    both, left, right = [], [], []
    for d in range(a.ndim):
        if d in summed:
            continue
        if a.shape[d] != 1 and b.shape[d] != 1:
            both.append(d)
        else:
            (left if a.shape[d] != 1 else right).append(d)
    if left and right and left[0] > right[-1]:
        a, b, left, right = b, a, right, left
    n_both = _numel(a.shape[d] for d in both)
    n_left = _numel(a.shape[d] for d in left)
    n_right = _numel(b.shape[d] for d in right)
    k = _numel(a.shape[d] for d in summed)
    a2 = reshape(permute(a, *(both + left + summed + right)), n_both, n_left, k)
    b2 = reshape(permute(b, *(both + summed + right + left)), n_both, k, n_right)
    placed = both + left + summed + right
    res = view(bmm(a2, b2), *([a.shape[d] for d in both + left] + [1] * len(summed)
                              + [b.shape[d] for d in right]))
    return permute(res, *[placed.index(d) for d in range(a.ndim)])


# ---- binding as Tensor methods ---------------------------------------------------------------

# The op table's public names: the one-line wrappers (mul, exp, mm, eq, ...) are made there,
# the functions above with more than operands are bound under their rows' names, and the
# rows' in-place methods (add_, exp_, ...) are made from them.
api.bind(globals(), Tensor)

# Functions of more than one op, or methods whose arguments differ from the function's.
_METHODS = dict(
    square=square, clamp_min=clamp_min, clamp_max=clamp_max,
    maximum=_tensor_only_method(maximum), minimum=_tensor_only_method(minimum),
    where=lambda self, condition, other: where(condition, self, other),
    logical_and=_tensor_only_method(logical_and), logical_or=_tensor_only_method(logical_or),
    logical_xor=_tensor_only_method(logical_xor), equal=equal, allclose=allclose,
    isclose=isclose, nonzero=nonzero, matmul=matmul, outer=outer, ger=outer, bmm=bmm,
    addmm=addmm, reshape=reshape, view=view, as_strided=as_strided, view_as=view_as,
    reshape_as=reshape_as, flatten=flatten,
    transpose=transpose, swapaxes=transpose, swapdims=transpose, permute=permute,
    squeeze=squeeze, unsqueeze=unsqueeze, expand=expand, expand_as=expand_as,
    broadcast_to=broadcast_to, split=split, chunk=chunk, unbind=unbind, narrow=narrow,
    select=select, index_select=index_select, gather=gather, clone=clone, contiguous=contiguous,
    sum=sum, mean=mean, max=max, min=min, argmax=argmax, argmin=argmin, amax=amax, amin=amin,
    var=var, std=std, softmax=softmax, log_softmax=log_softmax, logsumexp=logsumexp, norm=norm,
    prod=prod, cumsum=cumsum, all=all, any=any, count_nonzero=count_nonzero, sort=_sort_method,
    argsort=_argsort_method, topk=topk, unique=unique, flip=flip, fliplr=fliplr, flipud=flipud, roll=roll,
    repeat=_repeat, tile=tile, tril=tril, triu=triu, diagonal=diagonal, diag_embed=diag_embed,
    diag=diag, lerp=_lerp_method("lerp", lerp), lerp_=_lerp_method("lerp_", Tensor.lerp_),
    addcmul=addcmul, addcdiv=addcdiv, cross=cross, inner=inner,
    __matmul__=_matmul_operator, __rmatmul__=lambda self, other: _matmul_operator(other, self),
    __getitem__=indexing.getitem, __setitem__=indexing.setitem,
)

for _name, _fn in {**_METHODS, **_arrange.METHODS, **_pointwise.METHODS,
                   **_accumulate.METHODS, **_inplace_views.METHODS, **_placing.METHODS,
                   **_reshaping.METHODS, **_more_pointwise.METHODS, **_order_stats.METHODS,
                   **_products.METHODS, **_more_pointwise.in_place_forms(globals()),
                   **_products.in_place_forms(globals()), **_matrix_functions.METHODS,
                   **_numerics.METHODS, **_sets.METHODS, **_windows.METHODS,
                   **_real_dense.METHODS, **overwrite.METHODS,
                   **_more_functions.METHODS}.items():
    setattr(Tensor, _name, _fn)
# (clamp's errors for bounds of both kinds: torch's words for each form of the call)
Tensor.clamp = _clamp_checked("clamp", True, Tensor.clamp)
Tensor.clamp_ = _clamp_checked("clamp_", True, Tensor.clamp_)
Tensor.index_fill_ = _placing.filling_expanded(Tensor.index_fill_)
clamp = _clamp_checked("clamp", False, clamp)
globals().update(_real_dense.FUNCTIONS)
globals().update(_more_functions.FUNCTIONS)
globals().update(_fake_quant.FUNCTIONS)
globals().update(_view_copies.functions(globals()))
for _name in _view_copies.METHOD_NAMES:
    setattr(Tensor, _name, globals()[_name])

# modules whose public functions are distgrad's
_HOMES = (__name__, _scatter.__name__, _arrange.__name__, _pointwise.__name__,
          _accumulate.__name__, _placing.__name__, _reshaping.__name__,
          _more_pointwise.__name__, _order_stats.__name__, _products.__name__,
          _matrix_functions.__name__, _numerics.__name__, _sets.__name__, _real_dense.__name__,
          _view_copies.__name__, _more_functions.__name__, _fake_quant.__name__,
          "distgrad.linalg")
__all__ = [n for n, v in list(globals().items())
           if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) in _HOMES]
