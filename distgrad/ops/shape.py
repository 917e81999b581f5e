"""Shape ops (views, joins, splits, selection) and tensor creation, with their transposes."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd import grad_mode
from ..autograd.record import call
from . import layout
from .overwrite import check_fill_value
from .rules import number_as, numel, wrap_dim, written, zeros_grad
from .table import Meta, Size, defop


# ---- reshape and views ----------------------------------------------------------------------

def infer_shape(shape, total: int) -> Size:
    """Resolve one -1 in a requested shape; torch's error when the sizes disagree."""
    shape = [int(d) for d in shape]
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = numel([d for d in shape if d != -1])
    if -1 in shape:
        if known == 0:
            raise RuntimeError(f"cannot reshape tensor of 0 elements into shape "
                               f"[{', '.join(map(str, shape))}] because the unspecified dimension "
                               "size -1 can be any value and is ambiguous")
        if total % known:
            raise RuntimeError(f"shape '[{', '.join(map(str, shape))}]' is invalid for input of size "
                               f"{total}")
        shape[shape.index(-1)] = total // known
    elif known != total:
        raise RuntimeError(f"shape '[{', '.join(map(str, shape))}]' is invalid for input of size "
                           f"{total}")
    return Size(shape)


defop("reshape", lambda x, shape: np.reshape(x, shape),
      lambda x, shape: Meta(infer_shape(shape, x.numel()), x.dtype),
      lambda c, g: g.reshape(c.shapes[0]), node="ViewBackward0", view=True,
      strides=layout.reshape, sharding="reshape")


# ---- view(dtype): the same memory read as another dtype ------------------------------------

def _itemsize_ratio(a) -> tuple:
    """(old, new) element sizes of a view as another dtype."""
    return dtypes.from_name(a["from_dtype"]).itemsize, dtypes.from_name(a["dtype"]).itemsize


def _view_dtype_rule(x, dtype, from_dtype):
    old, new = _itemsize_ratio({"dtype": dtype, "from_dtype": from_dtype})
    shape = list(x.shape)
    if shape and old != new:  # the last dim takes the change of element size
        shape[-1] = shape[-1] * old // new
    return Meta(shape, dtypes.from_name(dtype))


def _view_dtype_strides(shape, strides, offset, out_shape, k, a):
    old, new = _itemsize_ratio(a)
    if old == new or not strides:
        return tuple(strides), offset
    scale = (lambda n: n * (old // new)) if old > new else (lambda n: n // (new // old))
    return tuple(scale(s) for s in strides[:-1]) + (1,), scale(offset)


# No VJP: torch's view.dtype has no differentiable output.
defop("view_dtype", lambda x, dtype, from_dtype: x.view(dtypes.from_name(dtype).np),
      _view_dtype_rule, view=True, strides=_view_dtype_strides)


def view_dtype(input, dtype):
    """Tensor.view(dtype): input's memory as `dtype`, sharing its version counter, as torch's
    a tensor of its own to autograd (no `_base`, no history), like detach()."""
    if dtype is input.dtype:
        return input.detach()
    old, new = input.dtype.itemsize, dtype.itemsize
    if old != new:
        _check_view_dtype(input, dtype, old, new)
    t = call("view_dtype", input.detach(), dtype=dtype.name, from_dtype=input.dtype.name)
    t._viewed = t._view_of = None
    return t


def _check_view_dtype(input, dtype, old: int, new: int) -> None:
    """torch's conditions for a view whose element size differs (view_dtype in ATen)."""
    what = f"to view {input.dtype.long_name} as {dtype.long_name} (different element sizes)"
    if not input.ndim:
        raise RuntimeError(f"self.dim() cannot be 0 {what}")
    ratio = max(old, new) // min(old, new)
    strides = input.stride()
    if new > old:
        if input.shape[-1] % ratio:
            raise RuntimeError(f"self.size(-1) must be divisible by {ratio} {what}, but got "
                               f"{input.shape[-1]}")
        if input.storage_offset() % ratio:
            raise RuntimeError(f"self.storage_offset() must be divisible by {ratio} {what}, but "
                               f"got {input.storage_offset()}")
    if strides[-1] != 1:
        raise RuntimeError(f"self.stride(-1) must be 1 {what}, but got {strides[-1]}")
    for d, s in enumerate(strides[:-1]):
        if new > old and s % ratio:
            raise RuntimeError(f"self.stride({d}) must be divisible by {ratio} {what}, but got {s}")


def _t_rule(x):
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return Meta(tuple(reversed(x.shape)), x.dtype)


def transposed(x):
    """xᵀ, for a backward's own use. When x is itself the transpose of a matrix (Linear's
    `w.t()`, or its weight's gradient as linalg._right_grad makes it), that matrix: the same
    values with no op, row-major and not a view (a weight keeps such a gradient as its
    .grad with no copy: engine._only_here); unless `.data =` gave that matrix other memory
    since (torch's saved `w.t()` keeps the memory it viewed)."""
    made = x._view_of
    if made is not None and made[1] == "t" and made[0]._viewed is None and x.ndim == 2 and \
            not grad_mode.is_grad_enabled() and made[0]._storage.same_memory(x._storage):
        return made[0]
    return x.t()


def _t_vjp(c, g):
    """gᵀ, a view of g's data as torch's TBackward returns: when transposed gives back the
    matrix g is the transpose of, a view of it (no op), so that the engine does not add a
    later gradient into it in place, as torch's does not into a view (engine._add)."""
    out = transposed(g)
    return out if out._is_view() else out._whole_view()


defop("t", lambda x: x.T, _t_rule, _t_vjp, node="TBackward0", view=True,
      strides=layout.t, sharding="transpose", api=("t",))


def _transpose_rule(x, dim0, dim1):
    d0, d1 = wrap_dim(dim0, x.ndim), wrap_dim(dim1, x.ndim)
    shape = list(x.shape)
    if shape:
        shape[d0], shape[d1] = shape[d1], shape[d0]
    return Meta(shape, x.dtype)


defop("transpose", lambda x, dim0, dim1: np.swapaxes(x, dim0, dim1) if x.ndim else x,
      _transpose_rule, lambda c, g: g.transpose(c.attrs["dim0"], c.attrs["dim1"]),
      node="TransposeBackward0", view=True, strides=layout.transpose, sharding="transpose")


def _permute_rule(x, dims):
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not "
                           f"match the length of the desired ordering of dimensions i.e. input.dim() "
                           f"= {x.ndim} is not equal to len(dims) = {len(dims)}")
    wrapped = [wrap_dim(d, x.ndim) for d in dims]
    if len(set(wrapped)) != len(wrapped):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return Meta([x.shape[d] for d in wrapped], x.dtype)


def _permute_vjp(c, g):
    n = len(c.shapes[0])
    dims = [wrap_dim(d, n) for d in c.attrs["dims"]]
    return g.permute(*[dims.index(i) for i in range(n)])


defop("permute", lambda x, dims: np.transpose(x, dims), _permute_rule, _permute_vjp,
      node="PermuteBackward0", view=True, strides=layout.permute, sharding="transpose")


def _squeeze_dims(x, dim):
    if dim is None:
        return [i for i, d in enumerate(x.shape) if d == 1]
    dims = [dim] if isinstance(dim, int) else list(dim)
    return [d for d in (wrap_dim(d, x.ndim) for d in dims) if x.ndim and x.shape[d] == 1]


def _squeeze_name(inputs, attrs):
    dim = attrs.get("dim")
    return "SqueezeBackward0" if dim is None else (
        "SqueezeBackward1" if isinstance(dim, int) else "SqueezeBackward2")


defop("squeeze", lambda x, dim=None: np.squeeze(x, axis=tuple(_squeeze_dims(x, dim))),
      lambda x, dim=None: Meta([d for i, d in enumerate(x.shape) if i not in _squeeze_dims(x, dim)],
                               x.dtype),
      lambda c, g: g.reshape(c.shapes[0]), node=_squeeze_name, view=True,
      strides=layout.squeeze, sharding="unsqueeze")


def _unsqueeze_rule(x, dim):
    d = wrap_dim(dim, x.ndim + 1)
    shape = list(x.shape)
    shape.insert(d, 1)
    return Meta(shape, x.dtype)


defop("unsqueeze", lambda x, dim: np.expand_dims(x, wrap_dim(dim, x.ndim + 1)), _unsqueeze_rule,
      lambda c, g: g.squeeze(c.attrs["dim"]), node="UnsqueezeBackward0", view=True,
      strides=layout.unsqueeze, sharding="unsqueeze")


def expanded_shape(x_shape, size, dtype=None) -> Size:
    size = [int(s) for s in size]
    if len(size) < len(x_shape):
        raise RuntimeError(f"expand({(dtype or dtypes.float32).message_name}{{[{', '.join(map(str, x_shape))}]}}, "
                           f"size=[{', '.join(map(str, size))}]): the number of sizes provided "
                           f"({len(size)}) must be greater or equal to the number of dimensions in "
                           f"the tensor ({len(x_shape)})")
    lead = len(size) - len(x_shape)
    out = []
    # from the last dim, as torch's inferExpandGeometry, so its first error is torch's
    for i in reversed(range(len(size))):
        s, have = size[i], (x_shape[i - lead] if i >= lead else 1)
        if s == -1:
            if i < lead:
                raise RuntimeError(f"The expanded size of the tensor ({s}) isn't allowed in a leading, "
                                   f"non-existing dimension {i}")
            s = have
        elif have != s and have != 1:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size "
                               f"({have}) at non-singleton dimension {i}.  Target sizes: "
                               f"[{', '.join(map(str, size))}].  Tensor sizes: "
                               f"[{', '.join(map(str, x_shape))}]")
        out.append(s)
    if any(s < 0 for s in out):  # (a size below -1 against a size-1 dim passes the checks)
        raise RuntimeError("numel: integer multiplication overflow")
    return Size(out[::-1])


def _sum_to(g, shape):
    """torch's sum_to: onto a 0-dim shape it always sums, even a 0-dim gradient (so
    expand's gradient taken with create_graph hangs on SumBackward0, as torch's)."""
    from .rules import unbroadcast

    return g.sum() if not shape else unbroadcast(g, shape)


def _expand(x, shape):
    out = np.broadcast_to(x, expanded_shape(x.shape, shape))
    if isinstance(x, np.ndarray) and x.flags.writeable:
        # numpy's broadcast is read-only; torch writes through an expanded tensor (fill_
        # and zero_; the other writes refuse its overlapping elements before they run)
        out = np.lib.stride_tricks.as_strided(x, out.shape, out.strides)
    return out


defop("expand", _expand,
      lambda x, shape: Meta(expanded_shape(x.shape, shape, x.dtype), x.dtype),
      lambda c, g: _sum_to(g, c.shapes[0]), node="ExpandBackward0", view=True,
      strides=layout.expand, sharding="expand")


# ---- joins and splits ----------------------------------------------------------------------

def _cat_rule(*xs, dim=0):
    if not xs:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    for i, x in enumerate(xs):
        if x.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be concatenated")
    dtype = dtypes.result_type(xs)  # over every input: a legacy empty one counts here too
    xs = [x for x in xs if not (x.ndim == 1 and x.shape[0] == 0)] or list(xs[:1])
    ref = xs[0]
    d = wrap_dim(dim, ref.ndim)
    for i, x in enumerate(xs):
        if x.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} and "
                               f"{x.ndim}")
        for k in range(ref.ndim):
            if k != d and x.shape[k] != ref.shape[k]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected "
                                   f"size {ref.shape[k]} but got size {x.shape[k]} for tensor "
                                   f"number {i} in the list.")
    shape = list(ref.shape)
    shape[d] = sum(x.shape[d] for x in xs)
    return Meta(shape, dtype)


def _cat_forward(*xs, dim=0):
    xs = [x for x in xs if not (x.ndim == 1 and x.shape[0] == 0)] or list(xs[:1])
    return np.concatenate(xs, axis=dim)


def _cat_vjp(c, g):
    dim = c.attrs.get("dim", 0)
    out, start = [], 0
    nd = len(g.shape)
    d = wrap_dim(dim, nd)
    for shape, need in zip(c.shapes, c.needs):
        if len(shape) == 1 and shape[0] == 0 and nd != 1:
            out.append(None)
            continue
        n = shape[d]
        out.append(g.narrow(d, start, n) if need else None)
        start += n
    return tuple(out)


defop("cat", _cat_forward, _cat_rule, _cat_vjp, node="CatBackward0", layout_rule=layout.cat_format)


def _stack_rule(*xs, dim=0):
    if not xs:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, x in enumerate(xs):
        if tuple(x.shape) != tuple(xs[0].shape):
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"[{', '.join(map(str, xs[0].shape))}] at entry 0 and "
                               f"[{', '.join(map(str, x.shape))}] at entry {i}")
    d = wrap_dim(dim, xs[0].ndim + 1)
    shape = list(xs[0].shape)
    shape.insert(d, len(xs))
    return Meta(shape, dtypes.result_type(xs))


defop("stack", lambda *xs, dim=0: np.stack(xs, axis=dim), _stack_rule,
      lambda c, g: tuple(g.select(c.attrs.get("dim", 0), i) if need else None
                         for i, need in enumerate(c.needs)),
      node="StackBackward0", layout_rule=layout.stack_format)


def split_sizes(length: int, split_size_or_sections, dim=0) -> list:
    """The sizes of the parts; `dim` (as the caller gave it) is only for the error."""
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension "
                               f"size of {length}" if step == 0 else
                               f"split expects split_size be non-negative, but got split_size={step}")
        return [min(step, length - i) for i in range(0, length, step)] or [0]
    sizes = list(split_size_or_sections)
    if sum(sizes) != length:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {length} (input "
                           f"tensor's size at dimension {dim}), but got split_sizes="
                           f"[{', '.join(map(str, sizes))}]")
    return sizes


def _split_rule(x, split_size_or_sections, dim=0):
    d = wrap_dim(dim, x.ndim)
    metas = []
    for n in split_sizes(x.shape[d], split_size_or_sections, dim):
        shape = list(x.shape)
        shape[d] = n
        metas.append(Meta(shape, x.dtype))
    return tuple(metas)


def _split_forward(x, split_size_or_sections, dim=0):
    sizes = split_sizes(x.shape[dim], split_size_or_sections)
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=dim))


def _split_vjp(c, *grads):
    dim = wrap_dim(c.attrs.get("dim", 0), len(c.shapes[0]))
    sizes = split_sizes(c.shapes[0][dim], c.attrs["split_size_or_sections"])
    ref = next(g for g in grads if g is not None)
    parts = []
    for g, n in zip(grads, sizes):
        if g is None:
            shape = list(c.shapes[0])
            shape[dim] = n
            g = call("full", shape=shape, value=0.0, dtype=ref.dtype.name, _device=ref.device_str)
        parts.append(g)
    return call("cat", *parts, dim=dim)


defop("split", _split_forward, _split_rule, _split_vjp, view=True, strides=layout.split,
      node=lambda inputs, attrs: ("SplitBackward0" if isinstance(attrs["split_size_or_sections"], int)
                                  else "SplitWithSizesBackward0"), sharding="split")


def _unbind_rule(x, dim=0):
    if x.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    d = wrap_dim(dim, x.ndim)
    shape = [s for i, s in enumerate(x.shape) if i != d]
    return tuple(Meta(shape, x.dtype) for _ in range(x.shape[d]))


def _unbind_vjp(c, *grads):
    shape = c.shapes[0]
    d = wrap_dim(c.attrs.get("dim", 0), len(shape))
    ref = next(g for g in grads if g is not None)
    part = [s for i, s in enumerate(shape) if i != d]
    grads = [g if g is not None else
             call("full", shape=part, value=0.0, dtype=ref.dtype.name, _device=ref.device_str)
             for g in grads]
    return call("stack", *grads, dim=d)


def _unbind(x, dim=0):
    moved = np.moveaxis(x, dim, 0)
    return tuple(moved[i, ...] for i in range(moved.shape[0]))  # 0-dim parts stay views


defop("unbind", _unbind, _unbind_rule, _unbind_vjp,
      node="UnbindBackward0", view=True, strides=layout.unbind, sharding="split")


# ---- selection (basic indexing) and its transposes -------------------------------------------

def _select_rule(x, dim, index):
    if x.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, x.ndim)
    if not -x.shape[d] <= index < x.shape[d]:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"[{', '.join(map(str, x.shape))}] at dimension {d}")
    return Meta([s for i, s in enumerate(x.shape) if i != d], x.dtype)


# The trailing Ellipsis keeps a 0-dim result a view (numpy gives a copied scalar for x[i]).
defop("select", lambda x, dim, index: x[(slice(None),) * (dim % x.ndim) + (index, Ellipsis)],
      _select_rule,
      lambda c, g: call("select_backward", g, shape=list(c.shapes[0]), dim=c.attrs["dim"],
                        index=c.attrs["index"]),
      node="SelectBackward0", view=True, strides=layout.select, sharding="select")


def _select_backward(g, shape, dim, index):
    out = np.zeros(shape, g.dtype)
    out[(slice(None),) * (dim % len(shape)) + (index,)] = g
    return out


defop("select_backward", _select_backward, lambda g, shape, dim, index: Meta(shape, g.dtype),
      lambda c, g: g.select(c.attrs["dim"], c.attrs["index"]), node="SelectBackwardBackward0")


def _slice_rule(x, dim, start, stop, step=1):
    d = wrap_dim(dim, x.ndim)
    if step <= 0:
        raise ValueError("step must be greater than zero")
    shape = list(x.shape)
    shape[d] = len(range(*slice(start, stop, step).indices(x.shape[d])))
    return Meta(shape, x.dtype)


def _slice_key(ndim, dim, start, stop, step):
    return (slice(None),) * (dim % ndim) + (slice(start, stop, step),)


defop("slice", lambda x, dim, start, stop, step=1: x[_slice_key(x.ndim, dim, start, stop, step)],
      _slice_rule,
      lambda c, g: call("slice_backward", g, shape=list(c.shapes[0]), **c.attrs),
      node="SliceBackward0", view=True, strides=layout.slice_, sharding="select")


def _slice_backward(g, shape, dim, start, stop, step=1):
    out = np.zeros(shape, g.dtype)
    out[_slice_key(len(shape), dim, start, stop, step)] = g
    return out


defop("slice_backward", _slice_backward,
      lambda g, shape, dim, start, stop, step=1: Meta(shape, g.dtype),
      lambda c, g: call("slice", g, dim=c.attrs["dim"], start=c.attrs["start"],
                        stop=c.attrs["stop"], step=c.attrs.get("step", 1)),
      node="SliceBackwardBackward0")


# take_along_dim (torch.gather) and scatter_dim (a scatter-add) are each other's transpose;
# max(dim)'s VJP scatters too. out[i][j] = x[i][idx[i][j]] for dim 1, as torch.gather.
def _gather_key(idx, dim):
    grid = list(np.indices(idx.shape, sparse=True))
    grid[dim] = idx
    return tuple(grid)


def _take_along_dim(x, idx, dim):
    if x.ndim == 0:
        return x[()] if idx.ndim == 0 else x.reshape(1)[idx]
    size = x.shape[dim]
    bad = (idx < 0) | (idx >= size)
    if bad.any():
        raise RuntimeError(f"index {int(idx[bad][0])} is out of bounds for dimension {dim} with "
                           f"size {size}")
    return x[_gather_key(idx, dim)]


def _take_along_dim_rule(x, idx, dim):
    if idx.dtype not in dtypes.INDEX:
        raise RuntimeError("gather(): Expected dtype int32/int64 for index")
    if max(idx.ndim, 1) != max(x.ndim, 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    d = wrap_dim(dim, x.ndim)
    for i in range(idx.ndim):
        if i != d and idx.shape[i] > x.shape[i]:
            raise RuntimeError(f"Size does not match at dimension {i} expected index "
                               f"[{', '.join(map(str, idx.shape))}] to be no larger than self "
                               f"[{', '.join(map(str, x.shape))}] apart from dimension {d}")
    return Meta(idx.shape, x.dtype)


def _take_along_dim_vjp(c, g):
    c[0]  # noqa: B018  (torch's gather_backward(grad, self, dim, index) saves and unpacks self)
    return scattered_into_zeros(g, c[1], c.attrs["dim"], c.shapes[0]), None


defop("take_along_dim", _take_along_dim, _take_along_dim_rule, _take_along_dim_vjp,
      node="GatherBackward0", save=(0, 1), differentiable=(0,))


def scattered_into_zeros(g, idx, dim, shape, node="ScatterAddBackward0", writes=1):
    """g added into zeros of `shape` at `idx` along `dim`, as torch's backward of a gather
    (a value-selecting reduction's: `node` ScatterBackward0, after the 2 writes of its
    zeros and scatter_) writes it into zeros in place: its node (`None` stands for the
    zeros, which no gradient reaches) and the version the writes give the result."""
    return written(call("scatter_dim", None, g, idx, dim=dim, size=list(shape), node=node),
                   writes)


def _scatter_dim(g, idx, dim, size):
    out = np.zeros(size, g.dtype)
    if len(size) == 0:
        out[()] = np.sum(g)
        return out
    np.add.at(out, _gather_key(idx, dim), g)
    return out


defop("scatter_dim", lambda _zeros, g, idx, dim, size, node: _scatter_dim(g, idx, dim, size),
      lambda _zeros, g, idx, dim, size, node: Meta(size, g.dtype),
      lambda c, g: (None, call("take_along_dim", g, c[2], dim=c.attrs["dim"]), None),
      node=lambda inputs, attrs: attrs["node"], save=(2,), differentiable=(0, 1),
      saved_names={"index": 2})


# ---- creation (no tensor inputs; the device comes from the call) -----------------------------

def _check_size(shape) -> list:
    shape = [int(d) for d in shape]
    for d in shape:
        if d < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {d}: "
                               f"[{', '.join(map(str, shape))}]")
    return shape


def _eye_rule(n, m, dtype):
    for name, v in (("n", n), ("m", m)):
        if v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    return Meta((n, m), dtypes.from_name(dtype))


def _full_rule(shape, value, dtype):
    d = dtypes.from_name(dtype)
    shape = _check_size(shape)
    check_fill_value(value, d, shape)
    return Meta(shape, d)


def _full(shape, value, dtype):
    d = dtypes.from_name(dtype)
    if d is dtypes.bfloat16:  # (a number becomes a float first, as c10::BFloat16 is made)
        return dtypes.cast(np.full(shape, value, np.float32), d.np)
    return np.full(shape, number_as(value, dtype), d.np)


defop("full", _full, _full_rule)
defop("eye", lambda n, m, dtype: np.eye(n, m, dtype=dtypes.from_name(dtype).np), _eye_rule)
defop("one_hot", lambda idx, num_classes, dtype: (np.arange(num_classes) == idx[..., None]).astype(
      dtypes.from_name(dtype).np),
      lambda idx, num_classes, dtype: Meta(tuple(idx.shape) + (num_classes,),
                                           dtypes.from_name(dtype)))


# ---- flip, roll, repeat (copies, each the transpose of its own kind) ---------------------------

def _flip_dims(x, dims) -> list:
    from .rules import dims_of

    return list(dims_of(list(dims), x.ndim)) if len(dims) else []


def _flip_rule(x, dims):
    _flip_dims(x, dims)  # torch's errors for a dim out of range or repeated
    return Meta(x.shape, x.dtype)


defop("flip", lambda x, dims: np.flip(x, axis=tuple(_flip_dims(x, dims))).copy(), _flip_rule,
      lambda c, g: call("flip", g, dims=c.attrs["dims"]), node="FlipBackward0",
      layout_rule=layout.like_first)


def _roll_rule(x, shifts, dims=None):
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0")
    else:
        if len(shifts) != len(dims):
            raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, "
                               f"dims:{len(dims)}")
        for d in dims:
            wrap_dim(d, x.ndim)
    return Meta(x.shape, x.dtype)


def _roll_forward(x, shifts, dims=None):
    if dims is None:
        return np.roll(x, shifts[0])
    return np.roll(x, tuple(shifts), axis=tuple(dims)) if x.ndim else x.copy()


def _roll_layout(out_shape, operands, attrs, k, dtype):
    """torch rolls along each dim in turn by a cat of two narrows: in the input's suggested
    format, but row-major once a shift is whole turns (one narrow is empty, and an empty
    tensor suggests row-major), and over all dims (rolled flat)."""
    dims = attrs.get("dims")
    if dims is None:
        return None
    for shift, d in zip(attrs["shifts"], dims):
        if shift % max(out_shape[d], 1) == 0:
            return None
    return layout.in_suggested_format(out_shape, operands, attrs, k, dtype)


defop("roll", _roll_forward, _roll_rule,
      lambda c, g: call("roll", g, shifts=[-s for s in c.attrs["shifts"]],
                        dims=c.attrs.get("dims")),
      node="RollBackward0", layout_rule=_roll_layout)


def _repeat_rule(x, repeats):
    if len(repeats) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of "
                           "dimensions of tensor")
    padded = (1,) * (len(repeats) - x.ndim) + tuple(x.shape)
    return Meta(_check_size([r * s for r, s in zip(repeats, padded)]), x.dtype)


def _repeat_forward(x, repeats):
    padded = (1,) * (len(repeats) - x.ndim) + tuple(x.shape)
    return np.array(np.tile(x.reshape(padded), repeats), copy=True)


def _repeat_vjp(c, g):
    """torch's repeat_backward: each output block is a copy of the input, so the dims
    repeat added in front are summed away one at a time, then the gradient is viewed as
    (repeat, size) pairs where a dim repeats and summed over the repeats at once (no dim
    repeating: the gradient itself; a repeat of 0: zeros)."""
    shape, reps = tuple(c.shapes[0]), c.attrs["repeats"]
    if 0 in reps:
        return zeros_grad(shape, g.dtype, g.device_str)
    for _ in range(len(reps) - len(shape)):
        g = g.sum(0)
    sizes, summed = [], []
    for r, n in zip(reps[len(reps) - len(shape):], shape):
        if r != 1:
            summed.append(len(sizes))
            sizes.append(r)
        sizes.append(n)
    return g.reshape(sizes).sum(summed) if summed else g


defop("repeat", _repeat_forward, _repeat_rule, _repeat_vjp, node="RepeatBackward0")


# ---- constant padding (a negative pad crops); its transpose is the opposite padding -------------

def _pad_pairs(ndim: int, pad) -> list:
    """(dim, before, after) for each padded dim: pad lists the last dim's pair first."""
    return [(ndim - 1 - k, pad[2 * k], pad[2 * k + 1]) for k in range(len(pad) // 2)]


def _constant_pad_nd_rule(x, pad, value=0.0):
    if len(pad) % 2:
        raise RuntimeError("Length of pad must be even but instead it equals " + str(len(pad)))
    if len(pad) // 2 > x.ndim:
        raise RuntimeError("Length of pad should be no more than twice the number of dimensions "
                           f"of the input. Pad length is {len(pad)} while the input has {x.ndim} "
                           "dimensions.")
    shape = list(x.shape)
    for dim, before, after in _pad_pairs(x.ndim, pad):
        if shape[dim] + min(before, 0) + min(after, 0) < 0:  # torch narrows first
            raise RuntimeError("narrow(): length must be non-negative.")
        shape[dim] += before + after
    return Meta(shape, x.dtype)


def _constant_pad_nd(x, pad, value=0.0):
    crop = [slice(None)] * x.ndim
    widths = [(0, 0)] * x.ndim
    for dim, before, after in _pad_pairs(x.ndim, pad):
        crop[dim] = slice(max(-before, 0), x.shape[dim] - max(-after, 0))
        widths[dim] = (max(before, 0), max(after, 0))
    return np.pad(x[tuple(crop)], widths, constant_values=np.asarray(value).astype(x.dtype))


defop("constant_pad_nd", _constant_pad_nd, _constant_pad_nd_rule,
      lambda c, g: call("constant_pad_nd", g, pad=[-p for p in c.attrs["pad"]]),
      node="ConstantPadNdBackward0", layout_rule=layout.in_suggested_format)


# ---- triangles and diagonals ------------------------------------------------------------------

def _triangle(name, fn):
    def rule(x, diagonal=0):
        if x.ndim < 2:
            raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
        return Meta(x.shape, x.dtype)

    defop(name, lambda x, diagonal=0: fn(x, diagonal), rule,
          lambda c, g: call(name, g, diagonal=c.attrs.get("diagonal", 0)),
          node=f"{name.capitalize()}Backward0")


_triangle("tril", np.tril)
_triangle("triu", np.triu)


def _diagonal_rule(x, offset=0, dim1=0, dim2=1):
    d1, d2 = wrap_dim(dim1, x.ndim), wrap_dim(dim2, x.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Meta(_diagonal_shape(x.shape, offset, d1, d2), x.dtype)


def _diagonal_shape(shape, offset, d1, d2) -> list:
    n1, n2 = shape[d1], shape[d2]
    n = max(0, min(n1, n2 - offset) if offset >= 0 else min(n1 + offset, n2))
    return [s for i, s in enumerate(shape) if i not in (d1, d2)] + [n]


def _diagonal_view(x, offset=0, dim1=0, dim2=1):
    """The diagonal as a writable view of x (numpy's own is read-only), so writing to it in
    place writes x, as in torch."""
    d1, d2 = dim1 % x.ndim, dim2 % x.ndim
    ref = np.diagonal(x, offset, d1, d2)
    if ref.size == 0:
        return ref.copy()
    start = [0] * x.ndim
    start[d2 if offset >= 0 else d1] = abs(offset)
    first = x[tuple(slice(s, None) for s in start)]
    return np.lib.stride_tricks.as_strided(first, ref.shape, ref.strides,
                                           writeable=x.flags.writeable)


def _diagonal_vjp(c, g):
    return call("diagonal_backward", g, shape=list(c.shapes[0]), **c.attrs)


defop("diagonal", _diagonal_view, _diagonal_rule, _diagonal_vjp, node="DiagonalBackward0",
      view=True, strides=layout.diagonal)
# torch.diag(matrix) copies: DiagonalBackward0_copy.
defop("diagonal_copy", lambda x, offset=0, dim1=0, dim2=1: np.diagonal(x, offset, dim1, dim2).copy(),
      _diagonal_rule, _diagonal_vjp, node="DiagonalBackward0_copy")


def _diagonal_backward(g, shape, offset=0, dim1=0, dim2=1):
    out = np.zeros(shape, g.dtype)
    _diagonal_view(out, offset, dim1, dim2)[...] = g
    return out


defop("diagonal_backward", _diagonal_backward,
      lambda g, shape, offset=0, dim1=0, dim2=1: Meta(shape, g.dtype),
      lambda c, g: call("diagonal", g, offset=c.attrs.get("offset", 0),
                        dim1=c.attrs.get("dim1", 0), dim2=c.attrs.get("dim2", 1)),
      node="DiagonalBackwardBackward0")


def _diag_embed_shape(v, offset, dim1, dim2):
    nd = v.ndim + 1
    d1, d2 = wrap_dim(dim1, nd), wrap_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n = (v.shape[-1] if v.ndim else 1) + abs(offset)
    rest = iter(v.shape[:-1])
    return [n if i in (d1, d2) else next(rest) for i in range(nd)]


defop("diag_embed", lambda v, offset=0, dim1=-2, dim2=-1: _diagonal_backward(
          v, _diag_embed_shape(v, offset, dim1, dim2), offset, dim1, dim2),
      lambda v, offset=0, dim1=-2, dim2=-1: Meta(_diag_embed_shape(v, offset, dim1, dim2),
                                                 v.dtype),
      lambda c, g: call("diagonal", g, offset=c.attrs.get("offset", 0),
                        dim1=c.attrs.get("dim1", -2), dim2=c.attrs.get("dim2", -1)),
      node="DiagEmbedBackward0")
