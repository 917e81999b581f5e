"""torch's *_copy functions (permute_copy, select_copy, split_copy, ...) and the unsafe
splits (unsafe_chunk, unsafe_split, unsafe_split_with_sizes).

Each is its view op's values as a new, row-major tensor: a row like the view's (same rule
and VJP) whose forward copies, its node named as torch names it (PermuteBackward0_copy,
UnsafeSplitBackward0). The public functions read the view's arguments by taking the view
of a stand-in on the meta device (one place checks them, with torch's errors), then
record the copy.
"""
from __future__ import annotations

import numpy as np

from ..autograd import grad_mode
from ..autograd.record import call
from . import shape as _shape  # noqa: F401  (the view rows copied below)
from . import indexing, views, windows  # noqa: F401  (alias, as_strided, unfold rows)
from .math import _not_implemented
from .table import OPS, Meta, defop


def _copied(forward):
    def run(*values, **attrs):
        out = forward(*values, **attrs)
        if isinstance(out, (tuple, list)):
            return tuple(np.array(v, order="C", copy=True) for v in out)
        return np.array(out, order="C", copy=True)

    return run


def _named(node, suffix: str):
    if callable(node):
        return lambda inputs, attrs: node(inputs, attrs) + suffix
    return node + suffix


def _copy_row(view_op: str, name: str, node) -> None:
    row = OPS[view_op]
    defop(name, _copied(row.forward), row.shape, row.vjp, node=node, save=row.save,
          save_out=row.save_out, n_out=row.n_out, differentiable=row.differentiable,
          nondiff_outputs=row.nondiff_outputs, number_edges=row.number_edges,
          params=row.params, jvp=row.jvp)


# (diagonal_copy is shape.py's own row: torch.diag(matrix) records it too)
VIEWS = ("reshape", "permute", "transpose", "t", "expand", "squeeze", "unsqueeze", "select",
         "slice", "split", "unbind", "alias", "as_strided", "unfold")
for _op in VIEWS:
    _copy_row(_op, _op + "_copy", _named(OPS[_op].node, "_copy"))


def _unsafe_split_row(name: str, node: str) -> None:
    """split's row, its pieces aliases of the input that autograd sees as no views (torch's
    unsafe_split: the input's strides, no _base, a version counter of their own)."""
    row = OPS["split"]
    defop(name, row.forward, row.shape, row.vjp, node=node, alias=True, strides=row.strides)


_unsafe_split_row("unsafe_split", "UnsafeSplitBackward0")
_unsafe_split_row("unsafe_split_with_sizes", "UnsafeSplitWithSizesBackward0")

defop("detach_copy", lambda x: np.array(x, order="C", copy=True),
      lambda x: Meta(x.shape, x.dtype), _not_implemented("detach_copy"),
      node="torch::autograd::NotImplemented")


def _copy_of(view_fn, op_names=None):
    """A *_copy function: view_fn's view of input, recorded as its row's copy. The view is
    taken of a stand-in on the meta device (input's shape, dtype and strides, no data), so
    its checks and attrs come from the one place, whatever input's device or sharding."""
    def copy_fn(input, *args, **kwargs):
        view = view_fn(_stand_in(input), *args, **kwargs)
        first = view[0] if isinstance(view, (tuple, list)) else view
        _, op, attrs, _ = first._view_of
        return call((op_names or {}).get(op, op + "_copy"), input, **attrs)

    return copy_fn


def _stand_in(input):
    from .reshaping import empty_strided

    return empty_strided(input.shape, input.stride(), dtype=input.dtype, device="meta")


def _as_strided_copy(input, size, stride, storage_offset=None):
    """as_strided's view reads input's memory: it is taken of input itself (under no_grad),
    then copied from the tensor it was made of."""
    if getattr(input, "placements", None):  # (its parts have no one memory to read)
        raise RuntimeError("as_strided_copy of a sharded tensor is not supported")
    with grad_mode.no_grad():
        view = input.as_strided(size, stride, storage_offset)
    parent, _, attrs, _ = view._view_of
    return call("as_strided_copy", parent, **attrs)


def functions(F) -> dict:
    """The public functions, from the view functions of `F` (ops/functions.py's globals)."""
    def view_copy(input, size):
        return call("reshape_copy", input, shape=list(F["infer_shape"](list(size),
                                                                        input.numel())))

    def unsafe_split(input, split_size, dim=0):
        return _copy_of(F["split"], {"split": "unsafe_split"})(input, split_size, dim)

    def unsafe_chunk(input, chunks, dim=0):
        return _copy_of(F["chunk"], {"split": "unsafe_split"})(input, chunks, dim)

    def unsafe_split_with_sizes(input, split_sizes, dim=0):
        return _copy_of(F["split_with_sizes"], {"split": "unsafe_split_with_sizes"})(
            input, split_sizes, dim)

    def split_copy(input, split_size, dim=0):
        if not isinstance(split_size, int):
            raise TypeError(f"split_copy(): argument 'split_size' (position 2) must be int, "
                            f"not {type(split_size).__name__}")
        return _copy_of(F["split"])(input, split_size, dim)

    made = {name + "_copy": _copy_of(F[name]) for name in (
        "permute", "transpose", "t", "expand", "squeeze", "unsqueeze", "select", "diagonal",
        "split_with_sizes", "unbind")}
    made["as_strided_copy"] = _as_strided_copy
    made["unfold_copy"] = _copy_of(windows.unfold)
    made["slice_copy"] = _copy_of(_slice)
    made.update(view_copy=view_copy, split_copy=split_copy, unsafe_split=unsafe_split, unsafe_chunk=unsafe_chunk,
                unsafe_split_with_sizes=unsafe_split_with_sizes,
                alias_copy=lambda input: call("alias_copy", input),
                detach_copy=lambda input: call("detach_copy", input))
    return made


def _slice(input, dim=0, start=None, end=None, step=1):
    """torch.slice_copy's view: input[start:end:step] along dim."""
    index = [slice(None)] * input.ndim
    index[dim] = slice(start, end, step)
    return input[tuple(index)]


# Tensor methods torch has among them
METHOD_NAMES = ("unsafe_split", "unsafe_chunk", "unsafe_split_with_sizes")
