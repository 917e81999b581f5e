"""The public math API (`distgrad.add`, `Tensor.sum`, ...): argument handling in torch's
style over `call`, plus the composites torch also builds from smaller ops (matmul, outer,
flatten, chunk). Every function here is also bound as a `Tensor` method.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import dtypes
from ..autograd.record import call
from ..tensor import Tensor
from . import indexing, linalg, math, nn, reduce, shape, views  # noqa: F401  (fill the op table)
from .rules import wrap_dim

def _shape_args(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(a) for a in args[0])
    return tuple(int(a) for a in args)


# ---- elementwise ------------------------------------------------------------------------

def add(input, other, *, alpha=1):
    return call("add", input, other, alpha=alpha) if alpha != 1 else call("add", input, other)


def sub(input, other, *, alpha=1):
    return call("sub", input, other, alpha=alpha) if alpha != 1 else call("sub", input, other)


subtract = sub


def mul(input, other):
    return call("mul", input, other)


multiply = mul


def div(input, other, *, rounding_mode=None):
    if rounding_mode is not None:
        return call("div", input, other, rounding_mode=rounding_mode)
    return call("div", input, other)


def _rdiv(input, other):
    """`number / tensor`: torch computes it as reciprocal(tensor) * number."""
    return call("mul", call("reciprocal", input), other)


divide = true_divide = div


def neg(input):
    return call("neg", input)


negative = neg


def pow(input, exponent):
    return call("pow", input, exponent)


def reciprocal(input):
    return call("reciprocal", input)


def _unary(name):
    def fn(input):
        return call(name, input)

    fn.__name__ = name
    return fn


exp, log, sqrt, sin, cos, tanh, sigmoid, relu, sign, floor, round, isnan = (
    _unary(n) for n in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "sign",
                        "floor", "round", "isnan"))


def abs(input):
    return call("abs", input)


absolute = abs


def rsqrt(input):
    return call("rsqrt", input)


def square(input):
    return call("pow", input, 2)


def log1p(input):
    return call("log1p", input)


def clamp(input, min=None, max=None):
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        return call("clamp_tensor", input, _bound(input, min), _bound(input, max))
    return call("clamp", input, min=min, max=max)


clip = clamp


def _bound(input, value):
    if value is None or isinstance(value, Tensor):
        return value
    from ..creation import tensor

    return tensor(value, dtype=input.dtype, device=input.device_str)


def clamp_min(input, min):
    if isinstance(min, Tensor):
        return call("clamp_min_tensor", input, min)
    return call("clamp_min", input, min=min)


def clamp_max(input, max):
    if isinstance(max, Tensor):
        return call("clamp_max_tensor", input, max)
    return call("clamp_max", input, max=max)


def maximum(input, other):
    return call("maximum", input, other)


def minimum(input, other):
    return call("minimum", input, other)


def where(condition, input=None, other=None):
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    return call("where", condition, input, other)


def masked_fill(input, mask, value):
    if isinstance(value, Tensor):
        return call("masked_fill", input, mask, value)
    return call("masked_fill", input, mask, value=value)


def eq(input, other):
    return call("eq", input, other)


def ne(input, other):
    return call("ne", input, other)


def lt(input, other):
    return call("lt", input, other)


def le(input, other):
    return call("le", input, other)


def gt(input, other):
    return call("gt", input, other)


def ge(input, other):
    return call("ge", input, other)


def logical_not(input):
    return call("logical_not", input)


def logical_and(input, other):
    return call("logical_and", input, other)


def logical_or(input, other):
    return call("logical_or", input, other)


def equal(input, other) -> bool:
    return tuple(input.shape) == tuple(other.shape) and builtins.bool(
        np.array_equal(input._numpy_value(), other._numpy_value()))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool:
    return builtins.bool(np.allclose(input._numpy_value(), other._numpy_value(), rtol, atol,
                                     equal_nan))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    from ..creation import tensor

    return tensor(np.isclose(input._numpy_value(), np.asarray(other), rtol, atol, equal_nan))


def nonzero(input, *, as_tuple=False):
    from ..creation import tensor

    nz = np.nonzero(input._numpy_value())
    if as_tuple:
        return tuple(tensor(ix.astype(np.int64), device=input.device_str) for ix in nz)
    return tensor(np.stack(nz, axis=1).astype(np.int64), device=input.device_str)


# ---- matrix products ----------------------------------------------------------------------

def mm(input, mat2):
    return call("mm", input, mat2)


def mv(input, vec):
    return call("mv", input, vec)


def dot(input, other):
    return call("dot", input, other)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    scale = {k: v for k, v in (("beta", beta), ("alpha", alpha)) if v != 1}
    return call("addmm", input, mat1, mat2, **scale)


def matmul(input, other):
    """torch.matmul's dispatch: dot, mv, mm, a batch folded into one mm, or bmm — with the
    views torch puts around them, so results carry the same grad_fn names."""
    a, b = input, other
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    if a.ndim == 1 and b.ndim == 1:
        return call("dot", a, b)
    if a.ndim == 2 and b.ndim == 1:
        return call("mv", a, b)
    if a.ndim == 1 and b.ndim == 2:
        return call("squeeze_matmul", call("mm", call("unsqueeze", a, dim=0), b), dim=0)
    if a.ndim == 2 and b.ndim == 2:
        return call("mm", a, b)
    if a.ndim >= 3 and b.ndim <= 2:
        return _matmul_folded(a, b)
    if b.ndim >= 3 and a.ndim <= 2 and a.requires_grad:
        # torch folds (a @ b) as (bᵀ @ aᵀ)ᵀ when a needs a gradient.
        if a.ndim == 1:
            return _matmul_folded(call("transpose", b, dim0=-1, dim1=-2), a)
        out = _matmul_folded(call("transpose", b, dim0=-1, dim1=-2), call("t", a))
        return call("clone", call("transpose", out, dim0=-1, dim1=-2))
    return _matmul_batched(a, b)


def _matmul_folded(a, b):
    """a (..., n, k) @ b (k, m) or (k,): the batch folded into the rows of one mm / mv."""
    k = a.shape[-1]
    folded = call("reshape", a, shape=[-1, k])
    if b.ndim == 1:
        if k != b.shape[0]:
            raise RuntimeError(f"size mismatch, got input ({folded.shape[0]}), mat "
                               f"({folded.shape[0]}x{k}), vec ({b.shape[0]})")
        return call("unsafe_view", call("mv", folded, b), shape=list(a.shape[:-1]))
    if k != b.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({folded.shape[0]}x{k} and {b.shape[0]}x{b.shape[1]})")
    return call("unsafe_view", call("mm", folded, b), shape=list(a.shape[:-1]) + [b.shape[1]])


def _matmul_batched(a, b):
    """The general case: a batched product over broadcast batch dims, viewed to the result."""
    a2 = call("unsqueeze", a, dim=0) if a.ndim == 1 else a
    b2 = call("unsqueeze", b, dim=-1) if b.ndim == 1 else b
    batch = _batch_numel(a2, b2)  # batch dims that do not broadcast fail first, as in torch
    if a2.shape[-1] != b2.shape[-2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{batch}, {a2.shape[-1]}] but got: [{batch}, {b2.shape[-2]}].")
    out = call("bmm", a2, b2)
    shape = list(out.shape)
    if b.ndim == 1:
        shape.pop(-1)
    if a.ndim == 1:
        shape.pop(-2 if b.ndim != 1 else -1)
    return call("unsafe_view", out, shape=shape)


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
    if input.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if mat2.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    return call("bmm", input, mat2)


# ---- shape ------------------------------------------------------------------------------

def reshape(input, *shape):
    return call("reshape", input, shape=list(_shape_args(shape)))


def view(input, *shape):
    if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
        raise NotImplementedError("view(dtype) is not supported")
    return call("reshape", input, shape=list(_shape_args(shape)))


def view_as(input, other):
    return view(input, *other.shape)


def reshape_as(input, other):
    return reshape(input, *other.shape)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return call("reshape", input, shape=[1])
    s, e = wrap_dim(start_dim, input.ndim), wrap_dim(end_dim, input.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input
    n = 1
    for d in input.shape[s:e + 1]:
        n *= d
    return call("reshape", input, shape=list(input.shape[:s]) + [n] + list(input.shape[e + 1:]))


def t(input):
    return call("t", input)


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
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    return call("cat", *tensors, dim=dim)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
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
    d = wrap_dim(dim, input.ndim)
    if start < 0:
        start += input.shape[d]
    if start + length > input.shape[d]:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                           f"({input.shape[d]}).")
    return call("slice", input, dim=d, start=start, stop=start + length, step=1)


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


def gather(input, dim, index):
    return call("take_along_dim", input, index, dim=wrap_dim(dim, input.ndim))


def clone(input, *, memory_format=None):
    return call("clone", input)


def contiguous(input, memory_format=None):
    return input


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
        attrs["dtype"] = dtype.name
    return attrs


def sum(input, dim=_UNSET, keepdim=False, *, dtype=None):
    return call("sum", input, **_reduce_attrs(dim, keepdim, dtype))


def mean(input, dim=_UNSET, keepdim=False, *, dtype=None):
    return call("mean", input, **_reduce_attrs(dim, keepdim, dtype))


class _MinMax(tuple):
    """torch.return_types.max: a (values, indices) pair with names."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def max(input, dim=None, keepdim=False, *, other=None):
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    if dim is None:
        return call("max", input)
    return _MinMax(call("max_dim", input, dim=dim, keepdim=keepdim))


def min(input, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    if dim is None:
        return call("min", input)
    return _MinMax(call("min_dim", input, dim=dim, keepdim=keepdim))


def argmax(input, dim=None, keepdim=False):
    return call("argmax", input, dim=dim, keepdim=keepdim)


def argmin(input, dim=None, keepdim=False):
    return call("argmin", input, dim=dim, keepdim=keepdim)


def amax(input, dim=(), keepdim=False):
    return call("amax", input, dim=_dim_arg(dim) if dim != () else (), keepdim=keepdim)


def amin(input, dim=(), keepdim=False):
    return call("amin", input, dim=_dim_arg(dim) if dim != () else (), keepdim=keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 1 if unbiased is None or unbiased else 0


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return call("var", input, dim=_dim_arg(dim), correction=_correction(unbiased, correction),
                keepdim=keepdim)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return call("std", input, dim=_dim_arg(dim), correction=_correction(unbiased, correction),
                keepdim=keepdim)


def softmax(input, dim, dtype=None):
    return call("softmax", input, dim=dim, dtype=dtype.name if dtype is not None else None)


def log_softmax(input, dim, dtype=None):
    return call("log_softmax", input, dim=dim, dtype=dtype.name if dtype is not None else None)


def logsumexp(input, dim, keepdim=False):
    return call("logsumexp", input, dim=_dim_arg(dim), keepdim=keepdim)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    if p == "fro" or p is None:
        p = 2.0
    if p == "nuc":
        raise NotImplementedError("nuclear norm is not supported")
    return call("norm", input, p=float(p), dim=_dim_arg(dim), keepdim=keepdim)


def prod(input, dim=None, keepdim=False):
    raise NotImplementedError("prod is not in distgrad's op table yet")


# ---- binding as Tensor methods ---------------------------------------------------------------

_METHODS = dict(
    add=add, sub=sub, subtract=sub, mul=mul, multiply=mul, div=div, divide=div, true_divide=div,
    neg=neg, negative=neg, pow=pow, exp=exp, log=log, sqrt=sqrt, rsqrt=rsqrt, sin=sin, cos=cos,
    tanh=tanh, sigmoid=sigmoid, relu=relu, abs=abs, absolute=abs, sign=sign, reciprocal=reciprocal,
    square=square, log1p=log1p, floor=floor, round=round, isnan=isnan,
    clamp=clamp, clip=clamp, clamp_min=clamp_min, clamp_max=clamp_max, maximum=maximum,
    minimum=minimum, where=lambda self, condition, other: where(condition, self, other),
    masked_fill=masked_fill, eq=eq, ne=ne, lt=lt, le=le, gt=gt, ge=ge, logical_not=logical_not,
    logical_and=logical_and, logical_or=logical_or, equal=equal, allclose=allclose,
    isclose=isclose, nonzero=nonzero,
    mm=mm, mv=mv, dot=dot, matmul=matmul, outer=outer, ger=outer, bmm=bmm, addmm=addmm,
    reshape=reshape, view=view, view_as=view_as, reshape_as=reshape_as, flatten=flatten, t=t,
    transpose=transpose, swapaxes=transpose, swapdims=transpose, permute=permute,
    squeeze=squeeze, unsqueeze=unsqueeze, expand=expand, expand_as=expand_as,
    broadcast_to=broadcast_to, split=split, chunk=chunk, unbind=unbind, narrow=narrow,
    select=select, index_select=index_select, gather=gather, clone=clone, contiguous=contiguous,
    sum=sum, mean=mean, max=max, min=min, argmax=argmax, argmin=argmin, amax=amax, amin=amin,
    var=var, std=std, softmax=softmax, log_softmax=log_softmax, logsumexp=logsumexp, norm=norm,
)

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)

__all__ = [n for n, v in list(globals().items())
           if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == __name__]
