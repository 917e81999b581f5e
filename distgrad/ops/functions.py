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
from . import indexing, linalg, math, nn, reduce, shape  # noqa: F401  (fill the op table)
from .rules import wrap_dim
from .table import Meta, defop

defop("reciprocal", np.reciprocal, lambda x: Meta(x.shape, x.dtype if x.dtype.is_floating_point
                                                  else dtypes.float32),
      lambda c, g: -g * c.out * c.out, node="ReciprocalBackward0", save_out=True)
defop("unsafe_view", lambda x, shape: np.reshape(x, shape),
      lambda x, shape: Meta(shape, x.dtype), lambda c, g: g.reshape(c.shapes[0]),
      node="UnsafeViewBackward0")
defop("squeeze_matmul", lambda x, dim: np.squeeze(x, axis=dim),
      lambda x, dim: Meta([d for i, d in enumerate(x.shape) if i != dim], x.dtype),
      lambda c, g: g.unsqueeze(c.attrs["dim"]), node="SqueezeBackward4", view=True)


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
    if rounding_mode == "floor":
        return call("floor_divide", input, other)
    if not isinstance(input, Tensor):
        # torch computes number / tensor as reciprocal(tensor) * number.
        return call("mul", call("reciprocal", other), input)
    return call("div", input, other)


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
    return call("reciprocal", call("sqrt", input))


def square(input):
    return call("pow", input, 2)


def log1p(input):
    return call("log", call("add", input, 1))


def clamp(input, min=None, max=None):
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input
        if min is not None:
            out = maximum(out, min if isinstance(min, Tensor) else _like(input, min))
        if max is not None:
            out = minimum(out, max if isinstance(max, Tensor) else _like(input, max))
        return out
    return call("clamp", input, min=min, max=max)


clip = clamp


def clamp_min(input, min):
    return clamp(input, min=min)


def clamp_max(input, max):
    return clamp(input, max=max)


def _like(t, value):
    return call("full", shape=list(t.shape), value=value, dtype=t.dtype.name, _device=t.device_str)


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
        return where(mask, value.to(input.dtype), input)
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


def addmm(input, mat1, mat2):
    return call("addmm", input, mat1, mat2)


def matmul(input, other):
    """torch.matmul's dispatch: dot, mv, mm, or folded/batched products (same node names)."""
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
        # Fold the batch into rows: one mm, as torch does.
        k = a.shape[-1]
        folded = call("reshape", a, shape=[-1, k])
        if b.ndim == 1:
            out = call("mv", folded, b)
            return call("unsafe_view", out, shape=list(a.shape[:-1]))
        if k != b.shape[0]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                               f"({folded.shape[0]}x{k} and {b.shape[0]}x{b.shape[1]})")
        out = call("mm", folded, b)
        return call("unsafe_view", out, shape=list(a.shape[:-1]) + [b.shape[1]])
    a2 = call("unsqueeze", a, dim=0) if a.ndim == 1 else a
    b2 = call("unsqueeze", b, dim=-1) if b.ndim == 1 else b
    out = call("bmm", a2, b2)
    if a.ndim == 1:
        out = call("squeeze", out, dim=-2)
    if b.ndim == 1:
        out = call("squeeze", out, dim=-1)
    return out


def outer(input, vec2):
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
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
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
    d = wrap_dim(dim, input.ndim)
    return tuple(call("select", input, dim=d, index=i) for i in range(input.shape[d]))


def narrow(input, dim, start, length):
    d = wrap_dim(dim, input.ndim)
    if start < 0:
        start += input.shape[d]
    if start + length > input.shape[d]:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                           f"({input.shape[d]}).")
    return call("slice", input, dim=d, start=start, stop=start + length, step=1)


def select(input, dim, index):
    d = wrap_dim(dim, input.ndim)
    return call("select", input, dim=d, index=index % input.shape[d] if input.shape[d] else index)


def index_select(input, dim, index):
    d = wrap_dim(dim, input.ndim)
    key = [(slice(None))] * d + [index]
    return input[tuple(key)]


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


def sum(input, dim=None, keepdim=False, *, dtype=None):
    attrs = {}
    if dim is not None:
        attrs["dim"] = _dim_arg(dim)
        attrs["keepdim"] = keepdim
    if dtype is not None:
        attrs["dtype"] = dtype.name
    return call("sum", input, **attrs)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    attrs = {}
    if dim is not None:
        attrs["dim"] = _dim_arg(dim)
        attrs["keepdim"] = keepdim
    if dtype is not None:
        attrs["dtype"] = dtype.name
    return call("mean", input, **attrs)


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
