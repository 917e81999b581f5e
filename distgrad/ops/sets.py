"""Membership and runs: isin (by sorting the test elements and a binary search, so it is
ops on the tensors' own devices) and unique_consecutive (torch.unique's neighbour in
ops/functions.py: like it, a result whose shape depends on the values, read on the driver,
with no derivative: torch's node that refuses a backward).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..autograd.record import call
from ..tensor import Tensor
from .rules import wrap_dim
from .table import Meta, defop

__all__ = ["isin", "unique_consecutive"]

_ISIN_OVERLOADS = (
    "isin() received an invalid combination of arguments - got ({}, {}), but expected one of:\n"
    " * (Tensor elements, Tensor test_elements, *, bool assume_unique = False, bool invert = "
    "False, Tensor out = None)\n"
    " * (Number element, Tensor test_elements, *, bool assume_unique = False, bool invert = "
    "False, Tensor out = None)\n"
    " * (Tensor elements, Number test_element, *, bool assume_unique = False, bool invert = "
    "False, Tensor out = None)\n")


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each of `elements` is one of `test_elements` (compared in their common dtype;
    nan is in nothing). `assume_unique` only let torch skip a step: the answer is the same."""
    from ..creation import tensor

    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError(_ISIN_OVERLOADS.format(type(elements).__name__,
                                               type(test_elements).__name__))
    like = elements if isinstance(elements, Tensor) else test_elements
    if not isinstance(elements, Tensor):
        elements = tensor(elements, device=like.device_str)
    if not isinstance(test_elements, Tensor):
        test_elements = tensor(test_elements, device=like.device_str)
    for t in (elements, test_elements):
        if t.dtype is dtypes.bool_:
            raise RuntimeError("Unsupported input type encountered for isin(): Bool")
    common = dtypes.result_type((elements, test_elements))
    with no_grad():
        values = elements.to(common)
        pool = test_elements.reshape(-1).to(common).sort().values
        if pool.numel() == 0:
            from ..creation import zeros_like

            found = zeros_like(values, dtype=dtypes.bool_)
        else:
            from .order_stats import searchsorted

            at = searchsorted(pool, values).clamp_max(pool.numel() - 1)
            found = pool.take(at) == values
    return found.logical_not() if invert else found


def _refuse_backward(c, g):
    raise NotImplementedError(f"the derivative for '{c.attrs['of']}' is not implemented.")


# Values computed from x without a derivative: with x requiring grad they carry torch's node
# for them (Unique2Backward0, ...), whose backward raises, as torch's does.
defop("without_derivative", lambda x, values, of, node: values,
      lambda x, values, of, node: Meta(values.shape, values.dtype), _refuse_backward,
      node=lambda inputs, attrs: attrs["node"], differentiable=(0,))


def without_derivative(input, values, name: str, node: str):
    """`values` (computed from `input`) with torch's node `node` for op `name` when input
    requires grad."""
    return call("without_derivative", input, values, of=name, node=node)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """The first of each run of equal values (or of equal slices along dim), with each
    element's run (inverse) and the runs' lengths (counts) when asked."""
    from ..creation import tensor

    arr = input._numpy_value()
    if dim is None:
        rows = arr.reshape(-1, 1)
        inverse_shape = tuple(input.shape)
    else:
        d = wrap_dim(dim, input.ndim)
        if arr.size == 0 and arr.shape[d] != 0:
            raise RuntimeError("There are 0 sized dimensions, and they aren't selected, so "
                               "unique cannot be applied")
        rows = np.moveaxis(arr, d, 0).reshape(arr.shape[d], arr.size // max(arr.shape[d], 1))
        inverse_shape = (input.shape[d],)
    starts = np.ones(len(rows), bool)
    starts[1:] = np.any(rows[1:] != rows[:-1], axis=1)
    first = np.flatnonzero(starts)
    values = arr.reshape(-1)[first] if dim is None else np.take(arr, first, axis=d)
    out = [without_derivative(input, tensor(values.astype(arr.dtype), device=input.device_str),
                              "unique_consecutive", "UniqueConsecutiveBackward0")]
    if return_inverse:
        inverse = (np.cumsum(starts) - 1).astype(np.int64).reshape(inverse_shape)
        out.append(tensor(inverse, device=input.device_str))
    if return_counts:
        counts = np.diff(np.append(first, len(rows))).astype(np.int64)
        out.append(tensor(counts, device=input.device_str))
    return out[0] if len(out) == 1 else tuple(out)


METHODS = dict(unique_consecutive=unique_consecutive)
