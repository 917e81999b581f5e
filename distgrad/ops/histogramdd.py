"""torch.histogramdd: the histogram of points, the input's innermost dimension their
coordinates, in a D-dimensional grid of bins (a count per dimension over its range or the
data's, or the edges given as tensors); weighted counts, densities. Like torch's, the
results require grad when the input does, through a node that refuses a backward.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes, return_types
from ..autograd.record import call
from ..tensor import Tensor
from .math import _not_implemented
from .order_stats import _outer_edges, bin_count, bin_positions, check_weight
from .rules import not_implemented
from .table import Meta, defop


def _edges(points, counts, edge_arrays, range):
    """Each dimension's edges: the given ones, or counts[k] equal bins over the range."""
    from .ranges import _linspace_forward

    given = iter(edge_arrays)
    out = []
    for k, count in enumerate(counts):
        if count < 0:
            out.append(np.asarray(next(given)))
            continue
        pair = None if range is None else range[2 * k:2 * k + 2]
        lo, hi = _outer_edges(points[:, k], pair, k)
        out.append(np.asarray(_linspace_forward(lo, hi, count + 1, points.dtype.name)))
    return out


def _histogramdd(x, *rest, bins, range=None, weighted=False, density=False):
    d = len(bins)
    points = x.reshape(-1, d)
    w = rest[-1].reshape(-1) if weighted else None
    edges = _edges(points, bins, rest[:len(rest) - weighted], range)
    keep = np.ones(len(points), bool)
    for k, e in enumerate(edges):
        keep &= bin_positions(points[:, k], e)[0]
    where = tuple(bin_positions(points[keep, k], e)[1] for k, e in enumerate(edges))
    hist = np.zeros(tuple(len(e) - 1 for e in edges), x.dtype)
    np.add.at(hist, where, 1 if w is None else w[keep])  # in x's dtype, in order, as torch adds
    if density:
        hist = hist / hist.sum(dtype=x.dtype)
        for k, e in enumerate(edges):
            widths = np.diff(e).astype(x.dtype)
            hist = hist / widths.reshape((-1,) + (1,) * (d - 1 - k))
    return (hist.astype(x.dtype), *(e.astype(x.dtype) for e in edges))


def _histogramdd_rule(x, *rest, bins, range=None, weighted=False, density=False):
    d = len(bins)
    searched = range is None and any(count >= 0 for count in bins)
    if not x.dtype.is_floating_point or (x.dtype in dtypes.LOW_FLOATS and searched):
        raise not_implemented("histogramdd", x.dtype)  # (its min-max search has no low floats)
    if x.ndim < 2:
        raise RuntimeError("torch.histogramdd: input tensor should have at least 2 dimensions")
    if x.shape[-1] != d:
        raise RuntimeError("histogramdd: The size of bins must be equal to the innermost "
                           "dimension of the input.")
    if range is not None and len(range) != 2 * d:
        raise RuntimeError(f"torch.histogramdd: for a {d}-dimensional histogram range should "
                           f"have {2 * d} elements, but got {len(range)}")
    given = iter(rest)
    counts = [bin_count(x, count, next(given) if count < 0 else None, k)
              for k, count in enumerate(bins)]
    if weighted:
        check_weight(x, rest[-1], x.shape[:-1], x.shape)
    return (Meta(tuple(counts), x.dtype), *(Meta((c + 1,), x.dtype) for c in counts))


defop("histogramdd", _histogramdd, _histogramdd_rule,
      lambda c, *grads: _not_implemented("_histogramdd_from_bin_cts")(c, grads), n_out=2,
      node="torch::autograd::NotImplemented")


def _refuse_out(args: tuple, kwargs: dict) -> TypeError:
    """torch documents out= but its parser takes it with no form of bins: with counts it
    reads them as edges, else it lists its overloads."""
    from .overloads import Param, Signature, _invalid_combination

    bins = kwargs.get("bins", args[1] if len(args) > 1 else None)
    if not (isinstance(bins, (list, tuple)) and bins and isinstance(bins[0], Tensor)):
        return TypeError("expected Tensor as element 0 in argument 1, but got int")
    tail = (Param("range", "tuple of floats", None), Param("weight", "Tensor", None),
            Param("density", "bool", False))
    overloads = [Signature("histogramdd", Param("input", "Tensor"), Param("bins", kind), *tail)
                 for kind in ("int", "tuple of ints", "tuple of Tensors")]
    return TypeError(_invalid_combination(overloads, args, kwargs))


def histogramdd(input, bins=10, *, range=None, weight=None, density=False, out=None):
    """(hist, bin_edges) of the points in input's rows: `bins` a count for every dimension, a
    count per dimension, or each dimension's edges as tensors. (out= is refused, as torch's
    parser refuses it.)"""
    if out is not None:
        given = {k: v for k, v in (("bins", bins), ("range", range), ("weight", weight),
                                   ("density", density or None), ("out", out)) if v is not None}
        raise _refuse_out((input,), given)
    if isinstance(bins, (list, tuple)) and any(isinstance(b, Tensor) for b in bins):
        for k, b in enumerate(bins):
            if not isinstance(b, Tensor):
                raise TypeError(f"expected Tensor as element {k} in argument 1, but got "
                                f"{type(b).__name__}")
        edges, counts = list(bins), [-1] * len(bins)
    else:
        counts = ([int(b) for b in bins] if isinstance(bins, (list, tuple))
                  else [int(bins)] * (input.shape[-1] if input.dim() else 1))
        edges = []
    rest = edges + ([weight] if weight is not None else [])
    result = call("histogramdd", input, *rest, bins=counts,
               range=None if range is None else [float(v) for v in range],
               weighted=weight is not None, density=bool(density))
    return return_types.histogramdd((result[0], tuple(result[1:])))
