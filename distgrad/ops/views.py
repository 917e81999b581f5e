"""Writing through a view: the base's new value when a view of it is changed in place.

Each view op has an inverse on values: shape views are undone by a reshape or a
transpose, and selections by scattering the new part back into the parent. The result is
built from ordinary ops, so it is differentiable (the gradient of the untouched part goes
to the old base's history, that of the written part to the in-place op's).
"""
from __future__ import annotations

from ..autograd.record import call
from .table import Meta, defop

defop("copy_slices", lambda x: x, lambda x: Meta(x.shape, x.dtype), lambda c, g: g,
      node="torch::autograd::CopySlices")

_SHAPE_VIEWS = ("reshape", "squeeze", "unsqueeze", "squeeze_matmul", "alias")


def _unview(op: str, attrs: dict, parent, new_child):
    """The parent's value once its view (made by `op`) holds `new_child`."""
    if op in _SHAPE_VIEWS:
        return call("reshape", new_child, shape=list(parent.shape))
    if op == "t":
        return call("t", new_child)
    if op == "transpose":
        return call("transpose", new_child, dim0=attrs["dim0"], dim1=attrs["dim1"])
    if op == "permute":
        dims = [d % parent.ndim for d in attrs["dims"]]
        return call("permute", new_child, dims=[dims.index(i) for i in range(len(dims))])
    if op in ("select", "slice", "diagonal"):
        old_child = call(op, parent, **attrs)
        delta = call(f"{op}_backward", call("sub", new_child, old_child),
                     shape=list(parent.shape), **attrs)
        return call("add", parent, delta)
    if op == "expand":
        raise RuntimeError("unsupported operation: more than one element of the written-to tensor "
                           "refers to a single memory location. Please clone() the tensor before "
                           "performing the operation.")
    raise RuntimeError(f"in-place operation on a view made by '{op}' of a tensor that requires "
                       "grad is not supported; clone() the view first")


def scatter_through_view(view, new_value):
    """The base of `view` with `view`'s elements replaced by `new_value`."""
    from ..tensor import _view_chain

    new = new_value
    for parent, op, attrs in reversed(_view_chain(view)):
        new = _unview(op, attrs, parent, new)
    return new
