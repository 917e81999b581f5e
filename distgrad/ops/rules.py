"""Shape/dtype rules shared by many ops, with torch's error words, and VJP helpers."""
from __future__ import annotations

import re
import warnings

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from ..user_frames import user_stacklevel
from .table import ELEMENTWISE_RULES, Meta, Size, elementwise


def shape_of(x) -> tuple:
    return x.shape if hasattr(x, "shape") else ()


def numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def broadcast_shapes(a: tuple, b: tuple) -> Size:
    if a == b:
        return Size(a)
    nd = max(len(a), len(b))
    pa = (1,) * (nd - len(a)) + tuple(a)
    pb = (1,) * (nd - len(b)) + tuple(b)
    out = [0] * nd
    for i in reversed(range(nd)):  # torch reports the last mismatching dim
        da, db = pa[i], pb[i]
        if da == db or db == 1:
            out[i] = da
        elif da == 1:
            out[i] = db
        else:
            raise RuntimeError(
                f"The size of tensor a ({da}) must match the size of tensor b ({db}) "
                f"at non-singleton dimension {i}")
    return Size(out)


def _sizes(listed: str) -> tuple:
    return tuple(int(n) for n in listed.split(", ") if n)


# torch's CPU kernels' words for a mismatch (a matrix product's, an in-place op's output),
# and how its meta kernels word it
_META_WORDS = (
    (re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)"),
     lambda a, k, k2, b: f"a and b must have same reduction dim, but got [{a}, {k}] X [{k2}, {b}]."),
    (re.compile(r"size mismatch, got input \(\d+\), mat \((\d+x\d+)\), vec \((\d+)\)"),
     lambda mat, vec: f"size mismatch, got input ({mat}), vec ({vec})"),
    (re.compile(r"output with shape \[(.*)\] doesn't match the broadcast shape \[(.*)\]"),
     lambda out, shape: f"output with shape {Size(_sizes(out))!r} doesn't match the broadcast "
                        f"shape {_sizes(shape)}"),
)


def meta_kernel_error(error: RuntimeError, elementwise: bool, shapes) -> RuntimeError:
    """A shape rule's `error` (torch's CPU kernels' words) for operands of `shapes` (None: a
    number) as torch's meta kernels word it: an elementwise op's broadcasting error as its
    Python references do, a matrix product's or an in-place op's output's mismatch as its
    meta functions do."""
    if elementwise:
        return references_broadcast_error(shapes) or error
    for cpu_words, meta_words in _META_WORDS:
        found = cpu_words.fullmatch(str(error))
        if found:
            return RuntimeError(meta_words(*found.groups()))
    return error


def references_broadcast_error(shapes) -> RuntimeError | None:
    """The error torch's Python references (its meta kernels of elementwise ops) give for
    operands of `shapes` (None: a number) that do not broadcast: each operand in turn is
    broadcast against the shape of those before it. None if they broadcast."""
    common = [1] * max((len(s) for s in shapes if s is not None), default=0)
    for index, shape in enumerate(shapes):
        for dim in range(-1, -1 - len(shape or ()), -1):
            if common[dim] == 1:
                common[dim] = shape[dim]
            elif shape[dim] != 1 and common[dim] != shape[dim]:
                return RuntimeError(
                    f"Attempting to broadcast a dimension of length {shape[dim]} at {dim}! "
                    f"Mismatching argument at index {index} had torch.Size({list(shape)}); but "
                    f"expected shape should be broadcastable to {common}")
    return None


def wrap_dim(dim: int, ndim: int, op: str = "") -> int:
    """A dim in [-ndim, ndim) made non-negative; torch's IndexError otherwise."""
    lim = max(ndim, 1)
    if not -lim <= dim < lim:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-lim}, {lim - 1}], "
                         f"but got {dim})")
    return dim % lim


def wrap_dim_of_some(dim: int, ndim: int) -> int:
    """wrap_dim for a call that needs the dim to exist (size, stride): a 0-D tensor has none,
    in torch's words."""
    if ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    return wrap_dim(dim, ndim)


def dims_of(dim, ndim: int) -> tuple:
    """A reduction's dims as a sorted tuple; None or () means all."""
    if isinstance(dim, int):
        dim = (dim,)
    if dim is None or len(dim) == 0:  # torch: an empty dim list reduces every dim
        return tuple(range(ndim))
    seen = []
    for d in dim:
        w = wrap_dim(d, ndim)
        if w in seen:
            raise RuntimeError(f"dim {w} appears multiple times in the list of dims")
        seen.append(w)
    return tuple(sorted(seen)) if ndim else ()


def first_empty_dim(x, dims):
    """The first of `dims`, as given, along which an empty x has no elements (None: there is
    none, or x has elements): what torch's reductions without an identity name."""
    if x.numel():
        return None
    return next((d for d in dims if x.shape[wrap_dim(d, x.ndim)] == 0), None)


def check_reduced_dims_nonempty(x, dims, op: str) -> None:
    """torch's zero_numel_check_dims: max, argmax, ... have no value over no elements."""
    d = first_empty_dim(x, dims)
    if d is not None:
        raise IndexError(f"{op}: Expected reduction dim {d} to have non-zero size.")


def reduced_shape(shape: tuple, dims: tuple, keepdim: bool) -> Size:
    if keepdim:
        return Size(1 if i in dims else d for i, d in enumerate(shape))
    return Size(d for i, d in enumerate(shape) if i not in dims)


def float_dtype(d: dtypes.dtype) -> dtypes.dtype:
    return d if d.is_floating_point else dtypes.get_default_dtype()


# ---- rules --------------------------------------------------------------------------

@elementwise
def same(x, **_):
    return Meta(x.shape, x.dtype)


@elementwise
def same_float(x, **_):
    """exp, log, sin, ...: integer inputs give the default float dtype."""
    return Meta(x.shape, float_dtype(x.dtype))


@elementwise
def binary(a, b, **_):
    return Meta(broadcast_shapes(shape_of(a), shape_of(b)), dtypes.result_type((a, b)))


@elementwise
def binary_float(a, b, **_):
    return Meta(broadcast_shapes(shape_of(a), shape_of(b)), float_dtype(dtypes.result_type((a, b))))


@elementwise
def compare(a, b, **_):
    for x in (a, b):
        if type(x) is np.ndarray:  # (torch takes tensors and numbers only)
            dtypes.scalar_dtype(x)
    return Meta(broadcast_shapes(shape_of(a), shape_of(b)), dtypes.bool_)


# ---- forwards that compute in torch's common dtype ------------------------------------

def common_dtype(values, floating: bool = False) -> dtypes.dtype:
    """The dtype torch computes an elementwise op in, from the forward's values (arrays and
    Python numbers); `floating` for ops whose integer inputs give the default float dtype."""
    common = dtypes.result_type(
        Meta(v.shape, dtypes.from_numpy(v.dtype)) if hasattr(v, "dtype") else v for v in values)
    return float_dtype(common) if floating else common


def cast_to(values, d: dtypes.dtype) -> list:
    """Arrays cast to `d`; Python numbers and None as they are (numpy takes a number in the
    array's dtype), but for those numpy would take otherwise than torch (see number_as)."""
    return [v.astype(d.np) if hasattr(v, "dtype") and v.dtype != d.np else number_as(v, d)
            for v in values]


def number_as(value, d):
    """A Python number as torch casts it into dtype `d` (a dtype, its name or its numpy
    dtype), where numpy would not: an int wrapped around into a narrower integer dtype
    (uint8 takes 300 as 44, numpy refuses it), a float into float16 through float32, a
    complex as its real part (what is left once its imaginary part was refused or 0)."""
    if type(value) is complex:
        value = bool(value) if d in (dtypes.bool_, "bool", np.bool_) else value.real
    if type(value) not in (int, float):
        return value
    if not isinstance(d, dtypes.dtype):
        d = dtypes.from_name(d) if isinstance(d, str) else dtypes.from_numpy(d)
    if type(value) is float:
        return np.float32(value) if d is dtypes.float16 else value
    if d.category != 1:
        return value
    if d is dtypes.int64:  # (an int past int64's range is a uint64 Scalar: torch wraps it)
        return value - 2 ** 64 if value >= 2 ** 63 else value
    info = np.iinfo(d.np)
    return value if info.min <= value <= info.max else np.array(value).astype(d.np)[()]


def _one_float_dtype(values) -> bool:
    """All arrays among the values share one floating dtype."""
    found = None
    for v in values:
        if type(v) is np.ndarray:
            if found is None:
                found = v.dtype
                if found.kind != "f":
                    return False
            elif v.dtype != found:
                return False
    return found is not None


def in_common_dtype(forward, floating: bool = False):
    """A forward run on its inputs cast to torch's common dtype, as torch's kernels run.

    numpy would pick its own: float16 for exp of a bool array, float64 for an int64 array
    with a float32 one (int64 values above 2**24 then round differently).
    """
    def run(*values, **attrs):
        if _one_float_dtype(values):  # numpy computes in it too (Python numbers are weak)
            return forward(*values, **attrs)
        return forward(*cast_to(values, common_dtype(values, floating)), **attrs)

    run.__name__ = getattr(forward, "__name__", "forward")
    return run


def require_float(name: str, d: dtypes.dtype) -> None:
    if not d.is_floating_point:
        raise not_implemented(name, d)


def require_tensor(name: str, arg: str, position: int, value) -> None:
    """torch's TypeError for a number where a function takes only a tensor."""
    if not hasattr(value, "_storage"):
        from .overloads import typename

        raise TypeError(f"{name}(): argument '{arg}' (position {position}) must be Tensor, not "
                        f"{typename(value)}")


def require_scalar_type(expected: dtypes.dtype, *tensors) -> None:
    """torch's check in a kernel that reads each tensor (None: absent) as `expected`'s type:
    the first of another dtype is named (`expected scalar type Double but found Float`)."""
    for t in tensors:
        if t is not None and t.dtype is not expected:
            raise RuntimeError(f"expected scalar type {expected.long_name} but found "
                               f"{t.dtype.long_name}")


def require_one_dtype(expected: dtypes.dtype, found: dtypes.dtype) -> None:
    """torch's check of a kernel that computes all its operands in one dtype (a
    TensorIterator with check_all_same_dtype): `Found dtype Float but expected Double`."""
    if found is not expected:
        raise RuntimeError(f"Found dtype {found.long_name} but expected {expected.long_name}")


def triggered_internally(source: str) -> str:
    """The end torch gives the text of a warning its C++ raised: where (`source`, a file
    under ATen and its line, or one under torch/ from there)."""
    path = source if source.startswith("torch/") else f"aten/src/ATen/{source}"
    return f" (Triggered internally at /__w/pytorch/pytorch/{path}.)"


def warn_resized(old_shape, new_shape) -> None:
    """torch's warning for an output with elements resized to another shape (out=), shown
    at the user's call."""
    warnings.warn(
        f"An output with one or more elements was resized since it had shape "
        f"{list(old_shape)}, which does not match the required output shape "
        f"{list(new_shape)}. This behavior is deprecated, and in a future PyTorch "
        "release outputs will not be resized unless they have zero elements. You can "
        "explicitly reuse an out tensor t by resizing it, inplace, to zero elements "
        "with t.resize_(0)." + triggered_internally("native/Resize.cpp:30"), UserWarning,
        stacklevel=user_stacklevel())


def warn_range_resized(old_shape, old_numel: int, numel: int) -> None:
    """torch's arange warning for an out of another number of elements than its result."""
    warnings.warn(
        f"The number of elements in the out tensor of shape {list(old_shape)} is {old_numel} "
        f"which does not match the computed number of elements {numel}. Note that this may "
        f"occur as a result of rounding error. The out tensor will be resized to a tensor of "
        f"shape ({numel},)." + triggered_internally("native/RangeFactories.cpp:199"),
        UserWarning, stacklevel=user_stacklevel())


def integral_scalar(value, np_dtype):
    """A float alpha, beta or value as torch's kernels for an integer tensor take it: in the
    tensor's type, truncated toward zero (addmm's alpha=1.5 multiplies by 1), checked to
    fit it."""
    if np_dtype.kind not in "iu" or not isinstance(value, (float, np.floating)):
        return value
    dtypes.check_fits(value, dtypes.from_numpy(np_dtype), c_type=True)
    return int(value)


def require_castable(result: dtypes.dtype, out: dtypes.dtype, c_type: bool = False) -> None:
    """torch's check of a result written into a tensor (an in-place op): not into a lower
    category (a float result into a long tensor). `c_type`: the check names out's C++ type
    ("long int"), as torch's checks that print a tensor's TypeMeta (self.dtype()) do."""
    if result.category > out.category:
        raise RuntimeError(f"result type {result.long_name} can't be cast to the desired output "
                           f"type {out.c_name if c_type else out.long_name}")


def scalar_types_error(op: str, arg: str, names: str, d: dtypes.dtype,
                       position: int = 1) -> RuntimeError:
    """torch's checkScalarTypes error: `arg` of dtype `d` is none of the types `names` lists."""
    return RuntimeError(f"Expected tensor for argument #{position} '{arg}' to have one of the "
                        f"following scalar types: {names}; but got {d.message_name} instead "
                        f"(while checking arguments for {op})")


def not_implemented(kernel: str, d: dtypes.dtype) -> NotImplementedError:
    """torch's error for a kernel without this dtype: `"abs_cpu" not implemented for 'Bool'`."""
    return NotImplementedError(f"\"{kernel}\" not implemented for '{d.long_name}'")


def no_low_float(kernel: str, rule):
    """`rule` refusing float16 and bfloat16 results with torch's words for a CPU kernel that
    has neither (erfcx_cpu, zeta_cpu, ...)."""
    def checked(*operands, **attrs):
        meta = rule(*operands, **attrs)
        if meta.dtype in dtypes.LOW_FLOATS:
            raise not_implemented(kernel, meta.dtype)
        return meta

    return elementwise(checked) if rule in ELEMENTWISE_RULES else checked


def refuse_low_grad(kernel: str, d: dtypes.dtype) -> None:
    """torch's error from a backward kernel that has no float16 or bfloat16 (i1_backward)."""
    if d in dtypes.LOW_FLOATS:
        raise not_implemented(kernel, d)


# ---- VJP helpers ---------------------------------------------------------------------

def zeros_grad(shape, dtype, device: str):
    """A zero gradient (torch's zeros_like in a backward formula): zeros, not `g * 0`,
    which would carry g's nan and inf, and requiring no grad."""
    return call("full", shape=list(shape), value=0.0, dtype=dtype.name, _device=device)


def broadcasts_to(shape: tuple, to: tuple) -> bool:
    """Whether a value of `shape` broadcasts to `to` (torch's is_expandable_to: an index
    put's value fits the selection; an input's gradient may be summed down to it)."""
    try:
        return np.broadcast_shapes(shape, to) == to
    except ValueError:
        return False


def written(t, writes: int = 1):
    """`t`, which torch makes by writing in place where distgrad computes it at once (a
    gradient made by index_put_ or scatter_ into zeros, an init drawn in several steps):
    its version counts those writes, as torch's does."""
    for _ in range(writes):
        t._count_write()
    return t


def unbroadcast(g, shape: tuple):
    """Sum g down to `shape`, undoing numpy/torch broadcasting (differentiable)."""
    if g is None or tuple(g.shape) == tuple(shape):
        return g
    if not shape:  # torch's sum_to onto a 0-dim shape: one full sum (SumBackward0)
        return g.sum()
    lead = len(g.shape) - len(shape)
    ones = tuple(lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1)
    if lead and not ones and grad_mode.gradients_unseen() and not grad_mode.is_grad_enabled():
        # nothing can see the view below: the same sum without the kept dims (one op fewer,
        # and a bias's gradient becomes its .grad as it is, no view to detach). (With size-1
        # dims to sum too, torch's one sum over all of them adds in another order than two.)
        return g.sum(dim=tuple(range(lead)))
    # torch's sum_to: one sum, its dims kept, then a view without the leading ones (so a
    # gradient taken with create_graph hangs on ViewBackward0 <- SumBackward1, as torch's,
    # and one autograd.grad returns is a view, made in no_grad mode)
    dims = tuple(range(lead)) + ones
    g = g.sum(dim=dims, keepdim=True) if dims else g
    return g.view(tuple(shape)) if lead else g


def tensor_list(name: str, tensors) -> list:
    """A TensorList argument (cat's, stack's) as torch's parser takes it: a tuple or list of
    tensors, with its TypeErrors (a tensor itself is not one, though it iterates)."""
    if not isinstance(tensors, (tuple, list)):
        raise TypeError(f"{name}(): argument 'tensors' (position 1) must be tuple of Tensors, "
                        f"not {type(tensors).__name__}")
    for i, t in enumerate(tensors):
        if not hasattr(t, "_storage"):
            raise TypeError(f"expected Tensor as element {i} in argument 0, but got "
                            f"{type(t).__name__}")
    return list(tensors)
