"""Shape helpers torch has besides the basic views: narrow_copy, split_with_sizes,
sum_to_size, argwhere, ravel, diagflat, atleast_1d/2d/3d, cartesian_prod, combinations,
block_diag, broadcast_shapes, the index grids tril_indices/triu_indices and unravel_index,
and the factories logspace, empty_strided and randint_like. Most are compositions of
existing ops recorded as torch records them.
"""
from __future__ import annotations

import builtins
import itertools
import operator
from collections.abc import Sequence

import numpy as np

from .. import dtypes
from ..autograd.record import call
from .rules import broadcast_shapes as _broadcast2, wrap_dim
from .table import Meta, Size, defop


def _narrow_copy_rule(x, dim, start, stop, step=1):
    return Meta(x.shape[:dim] + (stop - start,) + x.shape[dim + 1:], x.dtype)


defop("narrow_copy",
      lambda x, dim, start, stop, step=1: np.array(
          x[(slice(None),) * dim + (slice(start, stop),)], copy=True),
      _narrow_copy_rule,
      lambda c, g: call("slice_backward", g, shape=list(c.shapes[0]), **c.attrs),
      node="NarrowCopyBackward0")


def narrow_range(input, dim, start, length, copy: bool = False) -> tuple:
    """(dim, start, stop) of narrow's part, checked as torch checks it, in its order
    (narrow_copy's kernel checks the dim its own way and a negative length with the bound)."""
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if length < 0 and not copy:
        raise RuntimeError("narrow(): length must be non-negative.")
    if copy and dim >= input.ndim:
        raise RuntimeError("Expected dim < static_cast<int64_t>(self_sizes.size()) to be true, "
                           "but got false.  (Could this error message be improved?  If so, "
                           "please report an enhancement request to PyTorch.)")
    d = wrap_dim(dim, input.ndim)
    size = input.shape[d]
    if not -size <= start <= size:
        raise IndexError(f"start out of range (expected to be in range of [{-size}, {size}], "
                         f"but got {start})")
    if start < 0:
        start += size
    if length < 0 or start + length > size:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size "
                           f"({size}).")
    return d, start, start + length


def narrow_copy(input, dim, start, length):
    d, start, stop = narrow_range(input, dim, start, length, copy=True)
    return call("narrow_copy", input, dim=d, start=start, stop=stop)


def split_with_sizes(input, split_sizes, dim=0):
    sizes = [int(s) for s in split_sizes]
    d = wrap_dim(dim, input.ndim)
    if builtins.sum(sizes) != input.shape[d]:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to "
                           f"{input.shape[d]} (input tensor's size at dimension {dim}), but got "
                           f"split_sizes=[{', '.join(map(str, sizes))}]")
    return call("split", input, split_size_or_sections=sizes, dim=dim)


def sum_to_size(input, *size):
    """Sum input down to `size` (a shape it broadcasts to): torch's SumBackward1 over the
    expanded dims, then a view without the leading ones."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    size = tuple(int(s) for s in size)
    try:
        ok = tuple(_broadcast2(size, tuple(input.shape))) == tuple(input.shape)
    except RuntimeError:
        ok = False
    if not ok:
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size "
                           f"{{{list(input.shape)}}}.")
    if size == tuple(input.shape):
        return input
    lead = input.ndim - len(size)
    dims = list(range(lead)) + [lead + i for i, n in enumerate(size)
                                if n == 1 and input.shape[lead + i] != 1]
    out = input.sum(dim=dims, keepdim=True) if dims else input
    return out.view(*size) if lead else out


def argwhere(input):
    return input.nonzero()


def ravel(input):
    """input flattened: a view when its layout allows, else a copy (torch's
    contiguous().view(-1): CloneBackward0 under ViewBackward0)."""
    return input.contiguous().view(-1)


def diagflat(input, offset=0):
    """input's elements, flattened, on the diagonal `offset` of a square matrix."""
    return call("diag_embed", ravel(input), offset=int(offset), dim1=0, dim2=1)


def _atleast(n: int, tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(_atleast(n, (t,)) for t in tensors[0])
    if len(tensors) != 1:
        return tuple(_atleast(n, (t,)) for t in tensors)
    t = tensors[0]
    if t.ndim >= n:
        return t
    if t.ndim == 0:
        return t.reshape(*([1] * n))
    if n == 2:
        return t.unsqueeze(0)
    if t.ndim == 1:
        return t.unsqueeze(0).unsqueeze(-1)
    return t.unsqueeze(-1)


def atleast_1d(*tensors):
    return _atleast(1, tensors)


def atleast_2d(*tensors):
    return _atleast(2, tensors)


def atleast_3d(*tensors):
    return _atleast(3, tensors)


def cartesian_prod(*tensors):
    from .functions import meshgrid, stack

    for t in tensors:
        if t.ndim != 1:
            raise RuntimeError(f"Expect a 1D vector, but got shape "
                               f"[{', '.join(map(str, t.shape))}]")
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.flatten() for g in grids], dim=1)


def combinations(input, r=2, with_replacement=False):
    """The r-element combinations of a vector's elements, in itertools' order, one per row
    (a stack of index_selects, so the gradient reaches the elements picked)."""
    from .functions import stack

    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape "
                           f"[{', '.join(map(str, input.shape))}]")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        from ..creation import empty

        return empty(0, dtype=input.dtype, device=input.device_str)
    choose = (itertools.combinations_with_replacement if with_replacement
              else itertools.combinations)
    picks = np.array(list(choose(range(input.shape[0]), r)), np.int64).reshape(-1, r)
    return stack([input.index_select(0, _positions(column, input)) for column in picks.T], 1)


def _positions(values, like):
    from ..creation import tensor

    return tensor(np.ascontiguousarray(values, np.int64), device=like.device_str)


def _block_diag(*xs):
    mats = [x.reshape(1, -1) if x.ndim < 2 else x for x in (np.asarray(v) for v in xs)]
    rows = builtins.sum(m.shape[0] for m in mats)
    cols = builtins.sum(m.shape[1] for m in mats)
    dtype = np.result_type(*mats) if mats else np.float32
    out = np.zeros((rows, cols), dtype)
    r = c = 0
    for m in mats:
        out[r:r + m.shape[0], c:c + m.shape[1]] = m
        r, c = r + m.shape[0], c + m.shape[1]
    return out


def _block_shape(x):
    return (1, x.numel()) if x.ndim < 2 else tuple(x.shape)


def _block_diag_rule(*xs):
    for i, x in enumerate(xs):
        if x.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                               f"Input {i} has {x.ndim} dimensions")
    shapes = [_block_shape(x) for x in xs]
    out = dtypes.result_type(xs) if xs else dtypes.get_default_dtype()
    return Meta((builtins.sum(s[0] for s in shapes), builtins.sum(s[1] for s in shapes)), out)


def _block_diag_vjp(c, g):
    grads, r, col = [], 0, 0
    for shape, need in zip(c.shapes, c.needs):
        rows, cols = (1, int(np.prod(shape))) if len(shape) < 2 else shape
        if need:
            part = g[r:r + rows, col:col + cols]
            grads.append(part.reshape(shape) if len(shape) < 2 else part)
        else:
            grads.append(None)
        r, col = r + rows, col + cols
    return tuple(grads)


defop("block_diag", _block_diag, _block_diag_rule, _block_diag_vjp, node="BlockDiagBackward0")


def block_diag(*tensors):
    return call("block_diag", *tensors)


def broadcast_shapes(*shapes):
    """The shape tensors of these shapes broadcast to (torch's checks and words)."""
    given, shapes = shapes, [(s,) if isinstance(s, int) else tuple(s) for s in shapes]
    for s in shapes:
        for n in s:
            if n < 0:
                raise RuntimeError(f"Trying to create tensor with negative dimension {n}: "
                                   f"{list(s)}")
    out = [1] * builtins.max((len(s) for s in shapes), default=0)
    for k, s in enumerate(shapes):
        for i in range(-1, -1 - len(s), -1):
            if s[i] == 1 or s[i] == out[i]:
                continue
            if out[i] != 1:
                raise RuntimeError(f"Attempting to broadcast a dimension of length {s[i]} at {i}! "
                                   f"Mismatching argument at index {k} had "
                                   f"{s if isinstance(given[k], int) else given[k]}; but expected "
                                   f"shape should be broadcastable to {out}")
            out[i] = s[i]
    return Size(out)


# ---- index grids and factories ----------------------------------------------------------------

def _tri_indices(row, col, offset, upper, dtype, device):
    from ..creation import tensor

    dtype = dtype or dtypes.int64
    if dtype.is_floating_point:
        name = "triu_indices" if upper else "tril_indices"
        raise NotImplementedError(f"\"{name}\" not implemented for '{dtype.long_name}'")
    r, c = np.indices((row, col)).reshape(2, -1)
    keep = (c - r >= offset) if upper else (c - r <= offset)
    arr = np.stack([r[keep], c[keep]]).astype(dtype.np)
    return tensor(arr, device=device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices(row, col, offset, False, dtype, device)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices(row, col, offset, True, dtype, device)


def unravel_index(indices, shape):
    """The coordinates, in a tensor of `shape`, of each flat index: one tensor per dim
    (floor division and remainder, as torch's Python computes them)."""
    if indices.dtype.is_floating_point or indices.dtype is dtypes.bool_:
        raise TypeError(f"expected 'indices' to be integer dtype, but got {indices.dtype}")
    if not isinstance(shape, (int, Sequence)):
        raise TypeError(f"expected 'shape' to be int or sequence of ints, but got {type(shape)}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    for d in shape:
        if not isinstance(d, int):
            raise TypeError(f"expected 'shape' sequence to only contain ints, but got {type(d)}")
    if any(d < 0 for d in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {shape}")
    steps = list(itertools.accumulate(reversed(shape[1:] + (1,)), operator.mul))[::-1]
    coordinates = (indices.unsqueeze(-1).floor_divide(_positions(steps, indices))
                   % _positions(shape, indices))
    return coordinates.unbind(-1)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    from ..creation import _finish, tensor

    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dtype = dtypes.given(dtype) or dtypes.get_default_dtype()
    exps = np.linspace(float(start), float(end), int(steps), dtype=np.float64)
    arr = np.power(float(base), exps).astype(dtype.np)
    return _finish(tensor(arr, device=device), requires_grad)


def empty_strided(size, stride, *, dtype=None, device=None, requires_grad=False):
    """A tensor of `size` laid out with `stride` (in elements), on fresh memory."""
    from ..creation import zeros

    size, stride = [int(n) for n in size], [int(n) for n in stride]
    if len(size) != len(stride):
        raise RuntimeError(f"mismatch in length of strides and shape")
    places = (builtins.sum((n - 1) * s for n, s in zip(size, stride)) + 1
              if all(size) else 0)
    return strided_on(zeros(places, dtype=dtype, device=device), size, stride, requires_grad)


def strided_on(memory, size, stride, requires_grad=False):
    """`memory` (a fresh 1-D tensor) as a tensor of `size` laid out with `stride` that owns
    that memory (not a view of it)."""
    from ..creation import _finish

    if size == [] or list(stride) == _row_major(size):
        # (a copy: a view of `memory` would take writes as a view does, through its base)
        out = (memory.as_strided(size, stride) if size != [] else memory.reshape(())).clone()
        return _finish(out, requires_grad)
    from ..autograd.grad_mode import no_grad

    with no_grad():
        out = memory.as_strided(size, stride)
    out._viewed = out._view_of = None  # (fresh memory of its own, not a view)
    return _finish(out, requires_grad)


def _row_major(size) -> list:
    out, n = [], 1
    for d in reversed(size):
        out.insert(0, n)
        n *= d
    return out


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False,
                 generator=None):
    from ..creation import randint

    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), generator=generator,
                   dtype=dtype or input.dtype, device=device if device is not None else
                   input.device_str, requires_grad=requires_grad)


def detach(input):
    return input.detach()


METHODS = dict(narrow_copy=narrow_copy, split_with_sizes=split_with_sizes,
               sum_to_size=sum_to_size, argwhere=argwhere, ravel=ravel, diagflat=diagflat)
