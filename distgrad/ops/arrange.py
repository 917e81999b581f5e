"""torch's helpers that move, split, stack, difference and repeat, built from the ops torch
builds them from, so their results have torch's grad_fn names and views stay views:
movedim is a permute, unflatten a view, tensor_split (hsplit, vsplit, dsplit) slices,
hstack and friends a cat, diff slices and a sub, repeat_interleave an expand and a copy
(or an index_select for a tensor of repeats). rot90 is one op, as in torch.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.record import call
from ..tensor import Tensor
from . import layout
from .rules import not_implemented, tensor_list, wrap_dim
from .table import Meta, defop


def _ints(dims) -> list:
    return [int(dims)] if isinstance(dims, int) else [int(d) for d in dims]


# ---- movedim, unflatten (views) ------------------------------------------------------------------

def movedim(input, source, destination):
    """input with its dims `source` moved to `destination`, the others in their order."""
    src, dst = _ints(source), _ints(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) "
                           f"should contain the same number of dims as destination ({dst} dims)")
    n = input.ndim
    src_w = [wrap_dim(d, n) for d in src]
    dst_w = [wrap_dim(d, n) for d in dst]
    for name, given, wrapped in (("source", src, src_w), ("destination", dst, dst_w)):
        if len(set(wrapped)) != len(wrapped):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({given})")
    if n == 0:
        return call("alias", input)
    order = [-1] * n
    for s, d in zip(src_w, dst_w):
        order[d] = s
    rest = iter(d for d in range(n) if d not in src_w)
    order = [d if d != -1 else next(rest) for d in order]
    return call("permute", input, dims=order)


moveaxis = movedim


def unflatten(input, dim, sizes):
    """Dim `dim` of input viewed as `sizes` (one may be -1)."""
    d = wrap_dim(dim, input.ndim)
    sizes = _ints(sizes)
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    if sizes.count(-1) > 1:
        raise RuntimeError("unflatten got an unexpected error:\nonly one dimension can be inferred")
    size = input.shape[d] if input.ndim else 1
    resolved = list(sizes)
    if sizes.count(-1) == 1:
        known = int(np.prod([n for n in sizes if n != -1]))
        if known and size % known == 0:
            resolved[sizes.index(-1)] = size // known
    if int(np.prod(resolved)) != size or -1 in resolved:
        raise RuntimeError(f"unflatten: Provided sizes {sizes} don't multiply up to the size of "
                           f"dim {dim} ({size}) in the input tensor")
    return input.view(*input.shape[:d], *resolved, *input.shape[d + 1:])


# ---- tensor_split, hsplit, vsplit, dsplit (slices: views) ----------------------------------------

def tensor_split(input, indices_or_sections, dim=0):
    """Views of input along dim: `n` near-equal parts (the first ones one longer), or the
    parts between the given indices."""
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")
    split = indices_or_sections
    if isinstance(split, Tensor):
        if split.dtype is not dtypes.int64:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to have dtype of "
                               f"long, but got {split.dtype.long_name}")
        if split.ndim > 1:
            raise RuntimeError("tensor_split expected tensor_indices_or_sections to be a "
                               "zero-dimensional or one-dimensional tensor, but got a tensor with "
                               f"{split.ndim} dims")
        split = int(split.item()) if split.ndim == 0 else [int(i) for i in split.tolist()]
    d = wrap_dim(dim, input.ndim)
    size = input.shape[d]
    if isinstance(split, int):
        if split <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {split}")
        base, longer = divmod(size, split)
        bounds, start = [], 0
        for k in range(split):
            start += base + (k < longer)
            bounds.append(start)
        bounds = bounds[:-1]
    else:
        bounds = _ints(split)
    parts, start = [], 0
    for stop in bounds + [size]:
        begin = min(max(start, 0), size)
        end = max(begin, min(stop, size))
        parts.append(call("slice", input, dim=d, start=begin, stop=end, step=1))
        start = stop
    return tuple(parts)


def _split_along(name: str, least: int, dim: int):
    def split(input, indices_or_sections):
        if input.ndim < least:
            raise RuntimeError(f"torch.{name} requires a tensor with at least {least} dimension, "
                               f"but got a tensor with {input.ndim} dimensions!")
        d = dim if input.ndim > 1 or name != "hsplit" else 0
        if isinstance(indices_or_sections, int):
            size = input.shape[d]
            if indices_or_sections == 0 or size % indices_or_sections:
                raise RuntimeError(f"torch.{name} attempted to split along dimension {d}, but the "
                                   f"size of the dimension {size} is not divisible by the "
                                   f"split_size {indices_or_sections}!")
        return tensor_split(input, indices_or_sections, d)

    split.__name__ = split.__qualname__ = name
    return split


hsplit = _split_along("hsplit", 1, 1)
vsplit = _split_along("vsplit", 2, 0)
dsplit = _split_along("dsplit", 3, 2)


# ---- hstack, vstack, dstack, column_stack (a cat) ------------------------------------------------

def _at_least(t, ndim: int):
    """torch's atleast_1d/2d/3d: a 0-dim tensor reshaped, a 1-d (2-d) one unsqueezed."""
    if t.ndim >= ndim:
        return t
    if t.ndim == 0:
        return t.reshape((1,) * ndim)
    if t.ndim == 1:
        t = t.unsqueeze(0)
        return t.unsqueeze(-1) if ndim == 3 else t
    return t.unsqueeze(-1)


def _stacked(name: str, tensors, ndim: int, dim):
    tensors = [_at_least(t, ndim) for t in tensor_list(name, tensors)]
    if not tensors:
        raise RuntimeError(f"{name} expects a non-empty TensorList")
    return call("cat", *tensors, dim=dim(tensors))


def hstack(tensors):
    return _stacked("hstack", tensors, 1, lambda ts: 0 if ts[0].ndim == 1 else 1)


def vstack(tensors):
    return _stacked("vstack", tensors, 2, lambda ts: 0)


row_stack = vstack


def dstack(tensors):
    return _stacked("dstack", tensors, 3, lambda ts: 2)


def column_stack(tensors):
    columns = [t.reshape(t.numel(), 1) if t.ndim <= 1 else t
               for t in tensor_list("column_stack", tensors)]
    if not columns:
        raise RuntimeError("column_stack expects a non-empty TensorList")
    return hstack(columns)


# ---- diff ----------------------------------------------------------------------------------------

def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along dim (xor for bools), after prepend and append."""
    if n < 0:
        raise RuntimeError(f"order must be non-negative but got {n}")
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    d = wrap_dim(dim, input.ndim)
    ends = []
    for name, t in (("prepend", prepend), ("append", append)):
        if t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"diff(): argument '{name}' must be Tensor, not {type(t).__name__}")
        if t.ndim != input.ndim:
            raise RuntimeError("diff expects prepend or append to be the same dimension as input")
        for k in range(input.ndim):
            if k != d and t.shape[k] != input.shape[k]:
                raise RuntimeError("diff expects the shape of tensor to prepend or append to match "
                                   "that of input except along the differencing dimension; "
                                   f"input.size({k}) = {input.shape[k]}, but got "
                                   f"tensor.size({k}) = {t.shape[k]}")
        ends.append((name, t))
    if ends:
        parts = [t for name, t in ends if name == "prepend"] + [input] + \
            [t for name, t in ends if name == "append"]
        input = call("cat", *parts, dim=d)
    if n == 0:  # torch: zeros_like(input).copy_(input)
        from ..creation import zeros_like

        return zeros_like(input).copy_(input)
    out = input
    length = input.shape[d] - 1
    for _ in range(min(n, input.shape[d])):
        later = call("slice", out, dim=d, start=1, stop=1 + length, step=1)
        earlier = call("slice", out, dim=d, start=0, stop=length, step=1)
        out = call("logical_xor" if out.dtype is dtypes.bool_ else "sub", later, earlier)
        length -= 1
    return out


# ---- repeat_interleave ---------------------------------------------------------------------------

def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each element (or slice along dim) repeated `repeats` times; with repeats alone, the
    indices 0, 1, ... each repeated as often as repeats says."""
    if repeats is None:
        return _repeated_indices(input)
    flat = input if dim is not None else input.flatten()
    d = 0 if dim is None else wrap_dim(dim, input.ndim)
    if not isinstance(repeats, Tensor):
        if repeats < 0:
            raise RuntimeError("Repeats must be non-negative")
        if flat.ndim == 0:
            flat = flat.reshape(1)
        shape = list(flat.shape)
        expanded = flat.unsqueeze(d + 1).expand(*shape[:d + 1], int(repeats), *shape[d + 1:])
        return call("contiguous", expanded).flatten(d, d + 1)
    size = flat.shape[d] if flat.ndim else 1
    if repeats.ndim == 0 or (repeats.ndim == 1 and repeats.shape[0] == 1):
        repeats = repeats.reshape(1).expand(size)
    elif repeats.ndim == 1:
        if repeats.shape[0] != size:
            raise RuntimeError("repeats must have the same size as input along dim, but got "
                               f"repeats.size(0) = {repeats.shape[0]} and input.size("
                               f"{0 if dim is None else dim}) = {size}")
    else:
        raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
    return flat.index_select(d, _repeated_indices(repeats))


def _repeated_indices(repeats):
    """torch.repeat_interleave(repeats): 0, 1, ... each repeated as repeats says (read now:
    the result's size depends on the values)."""
    from ..creation import tensor

    if repeats.ndim != 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    if repeats.dtype not in dtypes.INDEX:
        raise not_implemented("repeat_interleave_cpu", repeats.dtype)
    counts = repeats._numpy_value()
    if (counts < 0).any():
        raise RuntimeError("repeats can not be negative")
    return tensor(np.repeat(np.arange(len(counts), dtype=repeats.dtype.np), counts),
                  device=repeats.device_str)


# ---- rot90 ---------------------------------------------------------------------------------------

def _rot90_rule(x, k, dims):
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {x.ndim}")
    if len({wrap_dim(d, x.ndim) for d in dims}) == 1:  # (torch names the dims as given)
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {dims[0]} and "
                           f"dim1 = {dims[1]}")
    return Meta(x.shape if k % 2 == 0 else _swapped(x.shape, dims), x.dtype)


def _swapped(shape, dims) -> list:
    shape = list(shape)
    a, b = (wrap_dim(d, len(shape)) for d in dims)
    shape[a], shape[b] = shape[b], shape[a]
    return shape


defop("rot90", lambda x, k, dims: np.rot90(x, k % 4, axes=tuple(dims)).copy(), _rot90_rule,
      lambda c, g: call("rot90", g, k=-c.attrs["k"], dims=c.attrs["dims"]), node="Rot90Backward0",
      layout_rule=layout.rot90)


def rot90(input, k=1, dims=(0, 1)):
    """input turned by k quarter turns in the plane of dims (from dims[0] towards dims[1])."""
    return call("rot90", input, k=int(k), dims=_ints(dims))


# Methods torch has for these (torch has no Tensor.hstack and friends).
METHODS = dict(movedim=movedim, moveaxis=moveaxis, unflatten=unflatten, tensor_split=tensor_split,
               hsplit=hsplit, vsplit=vsplit, dsplit=dsplit, diff=diff,
               repeat_interleave=repeat_interleave, rot90=rot90)
