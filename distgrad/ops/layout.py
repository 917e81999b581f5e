"""Memory layout: strides and storage offsets, as torch computes them for its views.

A tensor that is not a view owns a row-major (contiguous) buffer; a view's strides and
offset follow from its parent's by the view op's rule, declared on the op's row
(`defop(..., strides=rule)`). The driver computes them without asking a worker: they
decide whether `reshape` can alias, whether `view` is allowed, and whether a tensor may
be written in place.

A rule is `rule(shape, strides, offset, out_shape, k, attrs) -> (strides, offset)`: the
parent's layout, the view's shape, `k` the output's position (split, unbind), the op's attrs.
"""
from __future__ import annotations

import math

from .cpu_features import onednn_computes


def contiguous_strides(shape) -> tuple:
    """Row-major strides; a size-0 or size-1 dim steps as if it were 1 long (torch's)."""
    try:
        return _CONTIGUOUS[shape]  # asked for the same few shapes at every op of a step
    except (KeyError, TypeError):
        pass
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step *= max(d, 1)
    strides = tuple(reversed(strides))
    if isinstance(shape, tuple):
        if len(_CONTIGUOUS) > 4096:
            _CONTIGUOUS.clear()
        _CONTIGUOUS[shape] = strides
    return strides


_CONTIGUOUS: dict = {}


# channels_last (4 dims) and channels_last_3d (5): the dims from fastest to slowest
_LAST_ORDERS = {"channels_last": (1, 3, 2, 0), "channels_last_3d": (1, 4, 3, 2, 0)}


def memory_format_strides(shape, fmt: str) -> tuple:
    """Dense strides of `shape` in a memory format (torch's get_channels_last_strides_*d),
    with its error for a tensor of another rank."""
    if fmt not in _LAST_ORDERS:
        return contiguous_strides(shape)
    order = _LAST_ORDERS[fmt]
    if len(shape) != len(order):
        raise RuntimeError(f"required rank {len(order)} tensor to use {fmt} format")
    strides, step = [0] * len(shape), 1
    for d in order:
        strides[d] = step
        step *= max(shape[d], 1)
    return tuple(strides)


def suggested_format(shape, strides) -> str:
    """torch's suggest_memory_format: "channels_last" ("channels_last_3d") for a 4-dim
    (5-dim) tensor whose strides order its dims as that format does, else
    "contiguous_format"."""
    for fmt, order in _LAST_ORDERS.items():
        if len(shape) == len(order) and _strides_like(shape, strides, order):
            return fmt
    return "contiguous_format"


def _strides_like(shape, strides, order) -> bool:
    """torch's is_channels_last_strides_2d_s4 (_3d_s5): the strides grow along `order`; its
    ambiguous cases (a size-1 dim stepping as a neighbour does) are row-major."""
    if strides[1] == 0:
        return False
    least = 0
    for d in order:
        if shape[d] == 0 or strides[d] < least:
            return False
        if d == 0 and least == strides[1]:
            return False
        least = strides[d] * max(shape[d], 1)
    return True


def _in_format(out_shape, fmt: str):
    if fmt not in _LAST_ORDERS or len(out_shape) != len(_LAST_ORDERS[fmt]):
        return None
    return memory_format_strides(out_shape, fmt)


def in_suggested_format(out_shape, operands, attrs, k, dtype):
    """The layout of torch's kernels that allocate their result in the input's suggested
    memory format (pooling, upsampling, padding, batch and group norm, pixel shuffle, roll):
    a channels-last input gives a channels-last result."""
    return _in_format(out_shape, suggested_format(*operands[0]))


def convolution_format(out_shape, operands, attrs, k, dtype):
    """torch's convolution on the CPU: a 2-d one (mkldnn's or thnn's use_channels_last) is
    channels-last when its input or its weight is; a 3-d one only when mkldnn computes it
    (its slow_conv3d is row-major)."""
    formats = [suggested_format(*o) for o in operands[:2]]
    if "channels_last" in formats:
        return _in_format(out_shape, "channels_last")
    if "channels_last_3d" in formats and uses_mkldnn(operands[0][0], operands[1][0], attrs,
                                                      dtype):
        return _in_format(out_shape, "channels_last_3d")
    return None


def uses_mkldnn(input_shape, weight_shape, attrs, dtype) -> bool:
    """torch's ConvParams::use_mkldnn, one thread (as the tests run torch: with more, mkldnn
    takes the 1x1 kernels too): float32 of the sizes it is worth it for, and float16 or
    bfloat16 of any size where this CPU's oneDNN computes in them."""
    if not onednn_computes(dtype.name):
        return False  # (the slow kernels' float64, and float16/bfloat16 on most CPUs)
    stride, dilation = attrs["stride"], attrs["dilation"]
    if any(p >= s for p, s in zip(attrs.get("output_padding", ()), stride)):
        return False  # (a transposed conv's output_padding past its stride)
    if dtype.name != "float32":
        return True  # (float16 and bfloat16 whatever their sizes)
    batch, k_h, k_w = input_shape[0], weight_shape[-2], weight_shape[-1]
    not_1x1 = (any(s != 1 for s in stride) or any(d != 1 for d in dilation) or batch >= 16
               or k_w != 1 or k_h != 1)
    worth_it = (attrs["groups"] > 1 or (k_w > 3 and k_h > 3) or batch > 1
                or math.prod(input_shape[:4]) > 20480)
    return not_1x1 and worth_it


def convolution_input_grad_format(out_shape, operands, attrs, k, dtype):
    """torch's convolution backward: the input's gradient laid out as the forward's result
    was, by the input's and weight's formats (operands g, weight and, but in a double
    backward, the input)."""
    weight, given = operands[1], operands[2:3]
    input = given[0] if given else (tuple(out_shape), contiguous_strides(out_shape))
    return convolution_format(out_shape, [input, weight], attrs, k, dtype)


def in_input_format(out_shape, operands, attrs, k, dtype):
    """A pooling or padding backward's gradient in the suggested format of the forward's
    input, which it takes after the gradient (torch's kernels allocate it so)."""
    return _in_format(out_shape, suggested_format(*operands[1])) if len(operands) > 1 else None


def in_input_2d_format(out_shape, operands, attrs, k, dtype):
    """in_input_format for the backwards that are channels-last in 2-d only."""
    return in_input_format(out_shape, operands, attrs, k, dtype) if len(out_shape) < 5 else None


def in_suggested_2d_format(out_shape, operands, attrs, k, dtype):
    """in_suggested_format for the pools whose CPU kernels are channels-last in 2-d only
    (torch's 3-d average, adaptive and unpooling kernels allocate row-major results)."""
    return (in_suggested_format(out_shape, operands, attrs, k, dtype) if len(out_shape) < 5
            else None)


def cat_format(out_shape, operands, attrs, k, dtype):
    """torch's cat_compute_output_memory_format: its inputs' suggested format when they all
    suggest the same one."""
    formats = {suggested_format(*o) for o in operands}
    return _in_format(out_shape, formats.pop()) if len(formats) == 1 else None


def stack_format(out_shape, operands, attrs, k, dtype):
    """torch's stack along an existing dim: a cat along it, viewed with the new dim split out
    of it (stacked channels-last images stay channels-last); after the last dim, a cat of
    the inputs unsqueezed there (each new dim stepping 1)."""
    ndim = len(out_shape) - 1
    d = attrs.get("dim", 0) % (ndim + 1)
    if d == ndim:
        return cat_format(out_shape, [(tuple(shape) + (1,), tuple(strides) + (1,))
                                      for shape, strides in operands], attrs, k, dtype)
    cat_shape = list(operands[0][0])
    cat_shape[d] *= len(operands)
    cat_strides = (cat_format(cat_shape, operands, attrs, k, dtype)
                   or contiguous_strides(tuple(cat_shape)))
    strides = view_strides(cat_shape, cat_strides, out_shape)
    return None if is_contiguous(out_shape, strides) else tuple(strides)


def is_contiguous_in(shape, strides, fmt: str) -> bool:
    """torch's is_contiguous(memory_format=...): size-1 dims may have any stride."""
    if fmt not in _LAST_ORDERS:
        return is_contiguous(shape, strides)
    order = _LAST_ORDERS[fmt]
    if len(shape) != len(order):
        return False
    expected = 1
    for d in order:
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def is_contiguous(shape, strides) -> bool:
    """torch's test: size-1 dims may have any stride; an empty tensor is contiguous."""
    if 0 in shape:
        return True
    expected = 1
    for d, s in zip(reversed(shape), reversed(strides)):
        if d != 1:
            if s != expected:
                return False
            expected *= d
    return True


def is_non_overlapping_and_dense(shape, strides) -> bool:
    """torch's test: the elements fill a block of memory once each, in some dim order (a
    transpose or a permutation of a whole buffer; not an expanded or a strided slice)."""
    expected = 1
    for d, s in sorted(((d, s) for d, s in zip(shape, strides) if d > 1), key=lambda ds: ds[1]):
        if s != expected:
            return False
        expected *= d
    return True


def preserved(shape, strides):
    """The strides of a copy made as torch's `empty_like` makes it (preserve_format: clone,
    `.to()`, flip, sort): a non-overlapping and dense tensor's very strides (a size-1 dim's
    too: x[1:2, 3:] keeps (4, 1), whose transpose then partly overlaps it), else its dims'
    order packed densely (a slice of a transpose stays transposed); None when row-major."""
    strides = tuple(strides)
    if is_non_overlapping_and_dense(shape, strides):
        return None if strides == contiguous_strides(tuple(shape)) else strides
    return elementwise_strides(shape, [(shape, strides)])


OVERLAPPING_WRITE = ("unsupported operation: more than one element of the written-to tensor "
                     "refers to a single memory location. Please clone() the tensor before "
                     "performing the operation.")


def has_internal_overlap(shape, strides) -> bool:
    """Whether two elements share one memory location (an expanded dim): such a tensor
    cannot be written in place."""
    return any(s == 0 and d > 1 for d, s in zip(shape, strides))


def view_strides(shape, strides, new_shape):
    """The strides of `new_shape` viewing memory laid out as (shape, strides), or None when
    no view exists (a dim of the new shape would span two separately strided chunks).

    Walks the old dims from the last, grouping those that form one contiguous chunk, and
    lays the new dims over each chunk in turn.
    """
    new_shape = tuple(new_shape)
    if not shape:
        return (1,) * len(new_shape)
    numel = 1
    for d in shape:
        numel *= d
    if numel == 0:
        return contiguous_strides(new_shape) if tuple(shape) != new_shape else tuple(strides)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = strides[-1] if strides else 1
    tensor_numel, view_numel = 1, 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        # A chunk ends where the next (outer) dim does not continue it.
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base_stride = strides[d - 1]
                tensor_numel, view_numel = 1, 1
    if view_d != -1:
        return None
    return tuple(new_strides)


def elementwise_strides(out_shape, operands):
    """The strides torch's TensorIterator gives a new elementwise result, from its tensor
    operands' (shape, strides): its dims in iteration order, packed densely. None when that
    is row-major."""
    n = len(out_shape)
    perm = iteration_order(out_shape, operands)
    if perm == list(range(n - 1, -1, -1)):
        return None
    strides, step = [0] * n, 1
    for d in perm:
        strides[d] = step
        step *= max(out_shape[d], 1)
    return tuple(strides)


def iteration_order(out_shape, operands) -> list:
    """The dims of torch's TensorIterator over tensor operands (shape, strides), fastest
    first: as the operands' strides order them, the first operand deciding first (a
    broadcast dim says nothing, a size-1 dim of a size-1 result dim does; equal strides put
    the shorter dim first)."""
    n = len(out_shape)
    seen = []
    for shape, strides in operands:
        lead = n - len(shape)
        if lead >= 0:
            seen.append([0] * lead + [s if d != 1 or out_shape[lead + i] == 1 else 0
                                      for i, (d, s) in enumerate(zip(shape, strides))])

    def order(d0, d1) -> int:  # 1: d1 steps faster than d0
        for s in seen:
            a, b = s[d0], s[d1]
            if a == 0 or b == 0:
                continue
            if a != b:
                return 1 if a > b else -1
            if out_shape[d0] > out_shape[d1]:
                return 1
        return 0

    perm = list(range(n - 1, -1, -1))  # fastest first: row-major
    for i in range(1, n):
        moving = i
        for j in range(i - 1, -1, -1):
            c = order(perm[j], perm[moving])
            if c > 0:
                perm[j], perm[moving] = perm[moving], perm[j]
                moving = j
            elif c < 0:
                break
    return perm


# ---- where a non-view op's result goes: rule(out_shape, operands, attrs, k, dtype) -> strides

def elementwise(out_shape, operands, attrs, k, dtype):
    """TensorIterator's layout over all tensor operands (broadcast as the result is)."""
    if all(tuple(shape) == tuple(out_shape) for shape, _ in operands):
        fast = _same_shape_layout(out_shape, operands)
        if fast is not False:
            return fast
    return elementwise_strides(out_shape, operands)


def _same_shape_layout(shape, operands):
    """TensorIterator's fast set-up, for operands all of the result's shape (a Python number
    torch wraps as a tensor is a 0-dim operand, which rules it out): row-major when all are
    contiguous, channels-last when all are, the operands' very strides (a size-1 dim's too)
    when all are dense with the same strides; False: none of those."""
    layouts = [tuple(strides) for _, strides in operands]
    if all(is_contiguous(shape, s) for s in layouts):
        return None
    for fmt, order in _LAST_ORDERS.items():
        if len(shape) == len(order) and all(is_contiguous_in(shape, s, fmt) for s in layouts):
            return memory_format_strides(shape, fmt)
    if len(set(layouts)) == 1 and is_non_overlapping_and_dense(shape, layouts[0]):
        return layouts[0]
    return False


def row_major(out_shape, operands, attrs, k, dtype):
    """An elementwise op torch computes through a reduction (mvlgamma): row-major whatever
    its operands' layouts."""
    return None


def like_first(out_shape, operands, attrs, k, dtype):
    """The layout of an `empty_like(input)` of torch's (clone, `.to(dtype)`, flip, sort, an
    out-of-place index_put)."""
    return preserved(*operands[0])


def rot90(out_shape, operands, attrs, k, dtype):
    """torch's rot90 is a flip, transposed in place for an odd turn: a row-major input
    gives a transposed result."""
    turns, dims = attrs["k"] % 4, attrs["dims"]
    if turns == 0:
        return None  # (a contiguous clone)
    shape, strides = operands[0]
    flipped = list(elementwise_strides(shape, operands[:1]) or contiguous_strides(shape))
    if turns != 2:
        d0, d1 = (d % len(shape) for d in dims)
        flipped[d0], flipped[d1] = flipped[d1], flipped[d0]
    return None if is_contiguous(out_shape, flipped) else tuple(flipped)


def advanced_index(out_shape, operands, attrs, k, dtype):
    """torch's `index` runs a TensorIterator over the input restrided to the result's shape
    (the indexed dims stepping 0, the index tensors' broadcast shape in their place, or in
    front when they are not adjacent) and the index tensors laid over those dims."""
    over = _over_indexed(out_shape, operands[0], operands[1:], attrs["key"])
    return None if over is None else elementwise_strides(out_shape, over)


def index_put_order(out_shape, target, value, indices, key) -> list:
    """The dims of torch's index_put_ kernel's TensorIterator, fastest first: over the
    written tensor restrided as `advanced_index` has it, the value, then the indices (each
    operand a (shape, strides))."""
    over = _over_indexed(out_shape, target, indices, key)
    if over is None:
        return list(range(len(out_shape) - 1, -1, -1))
    return iteration_order(out_shape, over[:1] + [value] + over[1:])


def _over_indexed(out_shape, indexed_operand, indices, key):
    """The operands of an advanced-indexing TensorIterator as (out_shape, strides): the
    indexed tensor restrided to the result, then each index tensor; None without indices."""
    shape, strides = indexed_operand
    indexed = [d for d, item in enumerate(key) if item[0] == "t"]
    if not indexed:
        return None
    n_index = len(out_shape) - (len(shape) - len(indexed))
    adjacent = indexed == list(range(indexed[0], indexed[-1] + 1))
    first = indexed[0] if adjacent else 0
    kept = [d for d in range(len(shape)) if d not in indexed]
    src = [strides[d] for d in kept]
    src[first:first] = [0] * n_index
    over = [(out_shape, src)]
    for ishape, istrides in indices:
        lead = n_index - len(ishape)
        steps = [0] * lead + [s if n != 1 else 0 for n, s in zip(ishape, istrides)]
        over.append((out_shape, [0] * first + steps + [0] * (len(kept) - first)))
    return over


# ---- one rule per view op ------------------------------------------------------------------

def same(shape, strides, offset, out_shape, k, a):
    return tuple(strides), offset


def require_view(shape, strides, new_shape) -> tuple:
    """view_strides, or torch's error where there are none (view, _unsafe_view)."""
    found = view_strides(shape, strides, new_shape)
    if found is None:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                           "least one dimension spans across two contiguous subspaces). Use "
                           ".reshape(...) instead.")
    return found


def reshape(shape, strides, offset, out_shape, k, a):
    found = view_strides(shape, strides, out_shape)
    if found is None:  # the recorder copies instead of viewing, so reaching this is a bug
        raise AssertionError(f"reshape of {list(shape)} with strides {list(strides)} to "
                             f"{list(out_shape)} is not a view")
    return found, offset


def transpose(shape, strides, offset, out_shape, k, a):
    s = list(strides)
    if s:
        d0, d1 = a["dim0"] % len(s), a["dim1"] % len(s)
        s[d0], s[d1] = s[d1], s[d0]
    return tuple(s), offset


def t(shape, strides, offset, out_shape, k, a):
    return tuple(reversed(strides)), offset


def permute(shape, strides, offset, out_shape, k, a):
    n = len(strides)
    return tuple(strides[d % n] for d in a["dims"]), offset


def squeeze(shape, strides, offset, out_shape, k, a):
    n, dim = len(shape), a.get("dim")
    if dim is None:
        drop = {i for i, d in enumerate(shape) if d == 1}
    else:
        dims = [dim] if isinstance(dim, int) else list(dim)
        drop = {d % n for d in dims if n and shape[d % n] == 1}
    return tuple(s for i, s in enumerate(strides) if i not in drop), offset


def unsqueeze(shape, strides, offset, out_shape, k, a):
    n = len(shape)
    d = a["dim"] % (n + 1)
    s = list(strides)
    s.insert(d, shape[d] * strides[d] if d < n else 1)
    return tuple(s), offset


def expand(shape, strides, offset, out_shape, k, a):
    """torch's inferExpandGeometry: a dim that grows gets stride 0; a new leading dim of
    size 1 gets the stride that steps over the dims after it (as a contiguous tensor's
    would), and every new dim of a 0-dim tensor's expand gets 0."""
    lead = len(out_shape) - len(shape)
    s = [0] * len(out_shape)
    for i in reversed(range(len(out_shape))):
        if i >= lead:
            have, st = shape[i - lead], strides[i - lead]
        else:
            have = 1
            st = out_shape[i + 1] * s[i + 1] if shape and i + 1 < len(out_shape) else 0
        s[i] = 0 if have != out_shape[i] else st
    return tuple(s), offset


def select(shape, strides, offset, out_shape, k, a):
    d = a["dim"] % len(shape)
    i = a["index"] % shape[d] if shape[d] else 0
    return tuple(s for j, s in enumerate(strides) if j != d), offset + i * strides[d]


def slice_(shape, strides, offset, out_shape, k, a):
    d = a["dim"] % len(shape)
    # (torch's start, clamped into the dim: an empty slice starts there too)
    start = slice(a["start"], a["stop"], a.get("step", 1)).indices(shape[d])[0]
    s = list(strides)
    s[d] = strides[d] * a.get("step", 1)
    return tuple(s), offset + start * strides[d]


def split(shape, strides, offset, out_shape, k, a):
    d = a.get("dim", 0) % len(shape)
    sections = a["split_size_or_sections"]  # (checked by split's shape rule)
    start = k * sections if isinstance(sections, int) else sum(sections[:k])
    return tuple(strides), offset + start * strides[d]


def unbind(shape, strides, offset, out_shape, k, a):
    return select(shape, strides, offset, out_shape, 0, {"dim": a.get("dim", 0), "index": k})


def diagonal(shape, strides, offset, out_shape, k, a):
    n, diag = len(shape), a.get("offset", 0)
    d1, d2 = a.get("dim1", 0) % n, a.get("dim2", 1) % n
    rest = tuple(s for i, s in enumerate(strides) if i not in (d1, d2))
    start = 0 if out_shape[-1] == 0 else (diag * strides[d2] if diag >= 0 else -diag * strides[d1])
    return rest + (strides[d1] + strides[d2],), offset + start


def as_strided(shape, strides, offset, out_shape, k, a):
    return tuple(a["stride"]), a.get("storage_offset", 0)


def unfold(shape, strides, offset, out_shape, k, a):
    """Tensor.unfold: `dimension` steps from window to window (step places), and a new last
    dim steps within one; a 0-dim tensor is one place."""
    if not shape:
        return (1,), offset
    d = a["dimension"] % len(shape)
    s = list(strides)
    s[d] = strides[d] * a["step"]
    return tuple(s) + (strides[d],), offset
