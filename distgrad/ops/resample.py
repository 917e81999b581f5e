"""Linear resampling of trailing dims, one dim at a time: each output position along a dim is
(1 - λ)·x[lo] + λ·x[hi], or a weighted sum of a few taps (bicubic's four). F.interpolate's
nearest, (bi/tri)linear and bicubic modes and F.pad's reflect
and replicate modes are this op (torch's node names, from attrs["node"]); its transpose
(`resample_backward`) adds each output's gradient back into its two sources, and each is the
other's VJP. Also unfold's im2col and fold's col2im, the same kind of linear pair over a
convolution's windows (ops/conv.py's helpers).
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.record import call
from . import layout
from .conv import _im2col, _scatter_windows
from .rules import zeros_grad
from .table import Meta, defop

# attrs["maps"]: per resampled dim, [dim, input size, lo, hi, lam] (lam None: lo alone; hi
# None: lo[j] and lam[j] list output j's taps and their weights).
# Dim 0 (the batch, or an unbatched input's channels) is never resampled, so the op runs on
# each row shard alone ("batch"), as im2col does (its rows are channel-major); col2im's rows
# of an unbatched input would split a channel's kernel offsets, so it gathers.


def _matrix(size: int, lo, hi, lam, dtype) -> np.ndarray:
    """(len(lo), size) rows of the map: row j takes 1 - λ of lo[j] and λ of hi[j] (or, with
    taps, lam[j][t] of lo[j][t]; a tap clamped onto another adds to it)."""
    m = np.zeros((len(lo), size), np.float64)
    rows = np.arange(len(lo))
    if hi is None:
        taps = np.asarray(lo, np.int64).reshape(len(lo), -1)
        np.add.at(m, (np.repeat(rows, taps.shape[1]), taps.ravel()),
                  np.asarray(lam, np.float64).ravel())
        return m.astype(dtype)
    lam = np.zeros(len(lo)) if lam is None else np.asarray(lam, np.float64)
    np.add.at(m, (rows, np.asarray(lo)), 1 - lam)
    np.add.at(m, (rows, np.asarray(hi)), lam)
    return m.astype(dtype)


def _apply(x, dim, m):
    return np.moveaxis(np.tensordot(x, m, axes=([dim], [1])), -1, dim)


def _taps(lo, hi, lam):
    """(indices, weights), each (outputs, taps): the input places each output reads, and
    their weights (None for a copy)."""
    if lam is None:
        return np.asarray(lo, np.int64).reshape(len(lo), 1), None
    if hi is None:
        taps = np.asarray(lo, np.int64).reshape(len(lo), -1)
        return taps, np.asarray(lam, np.float64).reshape(taps.shape)
    lam = np.asarray(lam, np.float64)
    return np.stack([lo, hi], 1).astype(np.int64), np.stack([1 - lam, lam], 1)


def _apply_by_taps(x, dim, lo, hi, lam):
    """The map applied as torch's kernels apply it, output by output: a copy copies, a
    weighted output sums its taps. The matrix product's zero weights would make a nan or
    an inf of one place the nan of every output."""
    taps, weights = _taps(lo, hi, lam)
    rows = np.moveaxis(x, dim, 0)
    if weights is None:
        out = rows[taps[:, 0]]
    else:
        w = weights.astype(x.dtype).reshape(weights.shape + (1,) * (rows.ndim - 1))
        out = sum(rows[taps[:, t]] * w[:, t] for t in range(taps.shape[1]))
    return np.moveaxis(out, 0, dim)


def _apply_transposed_by_taps(g, dim, size, lo, hi, lam):
    """The transposed map as torch's backward kernels apply it: each output's gradient added
    to the places it read (weighted)."""
    taps, weights = _taps(lo, hi, lam)
    rows = np.moveaxis(g, dim, 0)
    out = np.zeros((size,) + rows.shape[1:], g.dtype)
    for t in range(taps.shape[1]):
        part = rows if weights is None else rows * weights[:, t].astype(g.dtype).reshape(
            (-1,) + (1,) * (rows.ndim - 1))
        np.add.at(out, taps[:, t], part)
    return np.moveaxis(out, 0, dim)


def _resample(x, maps, node=""):
    if x.dtype.kind in "biu" and any(lam is not None for *_, lam in maps):
        return _resample_fixed_point(x, maps)
    finite = x.dtype.kind != "f" or np.isfinite(x).all()
    for dim, size, lo, hi, lam in maps:
        x = _apply(x, dim, _matrix(size, lo, hi, lam, x.dtype)) if finite else \
            _apply_by_taps(x, dim, lo, hi, lam)
    return np.ascontiguousarray(x)


def _resample_fixed_point(x, maps):
    """uint8 images as torch's separable uint8 kernels resample them: the last dim first,
    each pass with int16 weights (the float weights scaled by 2**precision, the most bits
    that keep the largest below 2**15) summed in integers, rounded, shifted back and
    saturated into the dtype."""
    info = np.iinfo(x.dtype)
    for dim, size, lo, hi, lam in reversed(maps):
        weights = _matrix(size, lo, hi, lam, np.float64)
        precision = 0
        while precision < 22 and int(0.5 + weights.max() * 2 ** (precision + 1)) < 2 ** 15:
            precision += 1
        scaled = weights * 2 ** precision
        ints = np.trunc(np.where(scaled < 0, scaled - 0.5, scaled + 0.5)).astype(np.int64)
        sums = _apply(x.astype(np.int64), dim, ints) + (1 << (precision - 1))
        x = np.clip(sums >> precision, info.min, info.max).astype(x.dtype)
    return np.ascontiguousarray(x)


def _resample_backward(g, maps, node=""):
    finite = np.isfinite(g).all()
    for dim, size, lo, hi, lam in reversed(maps):
        g = _apply(g, dim, _matrix(size, lo, hi, lam, g.dtype).T) if finite else \
            _apply_transposed_by_taps(g, dim, size, lo, hi, lam)
    return np.ascontiguousarray(g)


def _resample_rule(x, maps, node=""):
    shape = list(x.shape)
    for dim, size, lo, _, _ in maps:
        shape[dim] = len(lo)
    return Meta(tuple(shape), x.dtype)


def _resample_backward_rule(g, maps, node=""):
    shape = list(g.shape)
    for dim, size, _, _, _ in maps:
        shape[dim] = size
    return Meta(tuple(shape), g.dtype)


def _resample_vjp(c, g):
    if c.attrs["node"].startswith(("Reflection", "Replication")):
        # torch's padding backward takes self (saved and unpacked), a differentiable input
        # of zero gradient; upsampling's keeps its sizes only
        return call("pad_backward", g, c[0], maps=c.attrs["maps"], node=c.attrs["node"])
    return call("resample_backward", g, maps=c.attrs["maps"], node=c.attrs["node"])


def _resample_saves(inputs, attrs):
    """Padding's node saves self; upsampling's nothing (its sizes only)."""
    return None if attrs["node"].startswith(("Reflection", "Replication")) else {}


defop("resample", _resample, _resample_rule, _resample_vjp, save=(0,), save_for=_resample_saves,
      node=lambda inputs, attrs: attrs["node"], sharding="batch",
      layout_rule=layout.in_suggested_format)
# The upsampling backward kernels that allocate the input's gradient in the suggested
# format of the output's (torch's bicubic and 3-d nearest ones: row-major)
_BACKWARD_IN_G_FORMAT = ("UpsampleNearest2D", "UpsampleNearestExact2D", "UpsampleBilinear2D",
                         "UpsampleTrilinear3D")


def _resample_backward_layout(out_shape, operands, attrs, k, dtype):
    if not attrs["node"].startswith(_BACKWARD_IN_G_FORMAT):
        return None
    return layout.in_suggested_format(out_shape, operands, attrs, k, dtype)


defop("resample_backward", _resample_backward, _resample_backward_rule,
      lambda c, g: call("resample", g, maps=c.attrs["maps"], node=c.attrs["node"]),
      node=lambda inputs, attrs: attrs["node"].replace("Backward0", "BackwardBackward0"),
      sharding="batch", layout_rule=_resample_backward_layout)
defop("pad_backward", lambda g, x, maps, node="": _resample_backward(g, maps),
      lambda g, x, maps, node="": _resample_backward_rule(g, maps),
      lambda c, g: (call("resample", g, maps=c.attrs["maps"], node=c.attrs["node"])
                    if c.needs[0] else None,
                    zeros_grad(c.shapes[1], c.dtypes[1], g.device_str) if c.needs[1] else None),
      node=lambda inputs, attrs: attrs["node"].replace("Backward0", "BackwardBackward0"),
      layout_rule=layout.in_input_format)


# ---- im2col / col2im: (N, C, H, W) <-> (N, C·kh·kw, L) ----------------------------------------

_GEOMETRY = ("kernel", "dilation", "padding", "stride")


def _blocks(size, kernel, dilation, padding, stride):
    return tuple((size[d] + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1) // stride[d] + 1
                 for d in range(2))


def _batched(fn):
    """fn of a batched array, also taking one unbatched (no leading N), as torch's kernels."""
    def run(x, *args, unbatched_ndim, **kw):
        if x.ndim == unbatched_ndim:
            return fn(x[None], *args, **kw)[0]
        return fn(x, *args, **kw)

    return run


def _im2col_forward(x, kernel, dilation, padding, stride):
    out = _blocks(x.shape[-2:], kernel, dilation, padding, stride)
    cols = _im2col(x, 2, padding, out, kernel, stride, dilation)
    return cols.reshape(x.shape[0], x.shape[1] * math.prod(kernel), math.prod(out))


def _col2im_forward(cols, output_size, kernel, dilation, padding, stride):
    out = _blocks(output_size, kernel, dilation, padding, stride)
    n, c = cols.shape[0], cols.shape[1] // math.prod(kernel)
    full = cols.reshape((n, c) + tuple(kernel) + out)
    return _scatter_windows(full, (n, c) + tuple(output_size), 2, padding, out, kernel, stride,
                            dilation)


def _im2col_rule(x, kernel, dilation, padding, stride):
    out = _blocks(x.shape[-2:], kernel, dilation, padding, stride)
    if min(out) <= 0:
        raise RuntimeError(f"Given input with spatial size ({x.shape[-2]}, {x.shape[-1]}), "
                           f"kernel_size=({kernel[0]}, {kernel[1]}), dilation=({dilation[0]}, "
                           f"{dilation[1]}), padding=({padding[0]}, {padding[1]}), calculated "
                           f"shape of the array of sliding blocks as ({out[0]}, {out[1]}), but "
                           "its components must be at least one.")
    return Meta(tuple(x.shape[:-3]) + (x.shape[-3] * math.prod(kernel), math.prod(out)),
                x.dtype)


def _col2im_rule(cols, output_size, kernel, **_):
    return Meta(tuple(cols.shape[:-2]) + (cols.shape[-2] // math.prod(kernel),)
                + tuple(output_size), cols.dtype)


def _geometry(attrs) -> dict:
    return {k: attrs[k] for k in _GEOMETRY}


def _im2col_op(x, kernel, dilation, padding, stride):
    return _batched(_im2col_forward)(x, kernel, dilation, padding, stride, unbatched_ndim=3)


def _col2im_op(cols, output_size, kernel, dilation, padding, stride):
    return _batched(_col2im_forward)(cols, output_size, kernel, dilation, padding, stride,
                                     unbatched_ndim=2)


defop("im2col", _im2col_op, _im2col_rule,
      lambda c, g: call("col2im", g, output_size=list(c.shapes[0][-2:]), **_geometry(c.attrs)),
      node="Im2ColBackward0", sharding="batch")
defop("col2im", _col2im_op, _col2im_rule,
      lambda c, g: call("im2col", g, **_geometry(c.attrs)), node="Col2ImBackward0")
