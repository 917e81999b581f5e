"""Sampling at a grid of points: affine_grid_generator (the points of an affine map of the
[-1, 1] square or cube) and grid_sampler (an image read at those points, bilinearly or at the
nearest pixel, with zeros, border or reflection padding), as torch's CPU kernels compute them.

The forwards are numpy, step for step torch's (float32 arithmetic in float32). The VJPs are
distgrad ops: the same source coordinates, the gradient added back at the corners that were
read (scatter_add) and each coordinate's gradient from the corners' differences, so
gradients of gradients work.
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np

from .. import dtypes
from ..autograd.record import call
from .conv import merge_trailing
from .fused import fma
from .ranges import _linspace_forward
from .rules import require_float, require_scalar_type
from .table import Meta, defop

MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
PADDINGS = {"zeros": 0, "border": 1, "reflection": 2}


def _sizes(shape) -> str:
    return f"[{', '.join(map(str, shape))}]"


# ---- affine_grid_generator ----------------------------------------------------------------------

def _base_grid(size, align_corners: bool, dtype: str) -> np.ndarray:
    """torch's make_base_grid: (*spatial, d + 1) points, x (the last dim's) first, then 1."""
    spatial = tuple(size[2:])
    d = len(spatial)
    base = np.ones(spatial + (d + 1,), dtypes.from_name(dtype).np)
    for k in range(d):
        n = spatial[d - 1 - k]
        if n <= 1:  # (torch's linspace_from_neg_one: a single 0)
            axis = np.zeros(1, base.dtype)
        else:
            axis = _linspace_forward(-1, 1, n, dtype)
            if not align_corners:
                axis = axis * (n - 1) / n
        shape = [1] * d
        shape[d - 1 - k] = axis.size
        base[..., k] = axis.reshape(shape)
    return base


defop("affine_base_grid", _base_grid,
      lambda size, align_corners, dtype: Meta(tuple(size[2:]) + (len(size) - 1,),
                                              dtypes.from_name(dtype)))


def _affine_grid(theta, size, align_corners):
    base = _base_grid(size, align_corners, dtypes.from_numpy(theta.dtype).name)
    d = len(size) - 2
    grid = base.reshape(-1, d + 1) @ np.swapaxes(theta, 1, 2)
    return grid.reshape((size[0],) + tuple(size[2:]) + (d,))


def _affine_grid_vjp(c, g):
    """torch's affine_grid_generator_backward: base^T @ grad, transposed."""
    size, d = c.attrs["size"], len(c.attrs["size"]) - 2
    base = call("affine_base_grid", size=size, align_corners=c.attrs["align_corners"],
                dtype=g.dtype.name, _device=g.device_str)
    flat = g.reshape(size[0], -1, d)
    return (base.reshape(-1, d + 1).t().matmul(flat).transpose(1, 2),)


defop("affine_grid_generator", _affine_grid,
      lambda theta, size, align_corners: Meta((size[0],) + tuple(size[2:]) + (len(size) - 2,),
                                              theta.dtype),
      _affine_grid_vjp, node="AffineGridGeneratorBackward0")


def affine_grid_generator(theta, size, align_corners):
    return call("affine_grid_generator", theta, size=tuple(int(n) for n in size),
                align_corners=bool(align_corners))


# ---- grid_sampler: where each output point reads ------------------------------------------------

def _unnormalize_forward(coord, size: int, align_corners: bool):
    """torch's unnormalize: (coord + 1) * scale, less 0.5 without align_corners, as its
    kernels compute it: one fused multiply-add (which decides, at a pixel's centre, which
    pair of pixels a bilinear gradient is taken from)."""
    scale = (size - 1) / 2 if align_corners else size / 2
    kind = coord.dtype.type
    shifted = coord + kind(1)
    if align_corners:
        return shifted * kind(scale)
    if coord.dtype not in (np.float32, np.float64):  # (16-bit: rounded op by op, as before)
        return shifted * kind(scale) - kind(0.5)
    return fma(shifted, scale, -0.5, coord.dtype)


defop("grid_sampler_unnormalize", _unnormalize_forward,
      lambda coord, size, align_corners: Meta(coord.shape, coord.dtype),
      lambda c, g: g * ((c.attrs["size"] - 1) / 2 if c.attrs["align_corners"] else
                        c.attrs["size"] / 2),
      node="GridSamplerUnnormalizeBackward0", elementwise=True)


class _Numpy:
    where, floor, abs, fmod, clip = np.where, np.floor, np.abs, np.fmod, np.clip
    unnormalize = staticmethod(_unnormalize_forward)


class _Ops:
    """The same steps as distgrad ops (the VJP's, differentiable)."""
    where = staticmethod(lambda cond, a, b: call("where", cond, a, b))
    floor = staticmethod(lambda x: x.floor())
    abs = staticmethod(lambda x: x.abs())
    fmod = staticmethod(lambda x, s: x.fmod(s))
    clip = staticmethod(lambda x, lo, hi: x.clamp(lo, hi))
    @staticmethod
    def unnormalize(coord, size, align):
        if coord.dtype in (dtypes.float32, dtypes.float64):
            return call("grid_sampler_unnormalize", coord, size=size, align_corners=align)
        scale = (size - 1) / 2 if align else size / 2  # (16-bit: rounded op by op)
        return (coord + 1) * scale if align else (coord + 1) * scale - 0.5


def _unnormalized(coord, size: int, align: bool, lib):
    """torch's grid_sampler_unnormalize: a grid coordinate in [-1, 1] as a pixel coordinate,
    and its slope."""
    return lib.unnormalize(coord, size, align), (size - 1) / 2 if align else size / 2


def _source(coord, size: int, padding: int, align: bool, lib):
    """torch's ComputeLocation: the pixel coordinate a grid coordinate in [-1, 1] reads, and
    (for the ops) d(pixel)/d(grid coordinate), or None from numpy."""
    x, scale = _unnormalized(coord, size, align, lib)
    slope = None
    if lib is _Ops:
        slope = call("full", shape=list(coord.shape), value=scale, dtype=coord.dtype.name,
                     _device=coord.device_str)
    return _padded(x, slope, size, padding, align, lib)


def _padded(x, slope, size: int, padding: int, align: bool, lib):
    """torch's compute_coordinates: a pixel coordinate reflected and clipped into the image
    by the padding mode (and the slope through it, when given)."""
    if padding == PADDINGS["reflection"]:
        low, high = (0, 2 * (size - 1)) if align else (-1, 2 * size - 1)
        if low == high:
            x = x * 0
            slope = None if slope is None else slope * 0
        else:
            least, span = low / 2, (high - low) / 2
            shifted = x - least
            folded = lib.abs(shifted)
            extra = lib.fmod(folded, span)
            even = lib.fmod(lib.floor(folded / span), 2) == 0
            if slope is not None:  # the reflection's sign: -1 where it folded once
                slope = slope * lib.where(shifted < 0, -1.0, 1.0) * lib.where(even, 1.0, -1.0)
            x = lib.where(even, extra + least, span - extra + least)
    if padding != PADDINGS["zeros"]:
        if slope is not None:  # (torch's clip_coordinates_set_grad: 0 at and past the ends)
            slope = lib.where((x > 0) & (x < size - 1), slope, 0.0)
        x = lib.clip(x, 0, size - 1)
    return x, slope


def _corners(d: int):
    """The 2^d corners around a point, the last dim's (x) bit changing fastest, as torch
    sums them (nw, ne, sw, se; then the bottom plane's)."""
    return list(itertools.product((0, 1), repeat=d))


# ---- the forward (numpy) -------------------------------------------------------------------------

def _grid_sampler(input, grid, *, interpolation_mode, padding_mode, align_corners):
    n, ch, *spatial = input.shape
    d = len(spatial)
    out_spatial = grid.shape[1:-1]
    # coords[k]: the pixel coordinate along spatial dim k (grid's last axis lists x first)
    coords = [_source(grid[..., d - 1 - k], spatial[k], padding_mode, align_corners, _Numpy)[0]
              for k in range(d)]
    flat = merge_trailing(input, 2)
    batch = np.arange(n).reshape((n,) + (1,) * d)

    def read(points):
        inside = np.ones(points[0].shape, bool)
        place = np.zeros(points[0].shape, np.int64)
        for k, p in enumerate(points):
            inside &= (p >= 0) & (p < spatial[k])
            place = place * spatial[k] + np.clip(p, 0, spatial[k] - 1)
        values = flat[batch, :, place]  # (n, *out_spatial, ch)
        return np.where(inside[..., None], values, 0)

    if interpolation_mode == MODES["bicubic"]:
        out = _bicubic(grid, spatial, padding_mode, align_corners, read, input.dtype)
        return np.moveaxis(out, -1, 1).reshape((n, ch) + tuple(out_spatial))
    if interpolation_mode == MODES["nearest"]:
        out = read([np.rint(c).astype(np.int64) for c in coords])
    else:
        low = [np.floor(c) for c in coords]
        far = [c - f for c, f in zip(coords, low)]  # the weight of the upper corner
        near = [1 - f for f in far]
        out = np.zeros(tuple(grid.shape[:-1]) + (ch,), input.dtype)
        for bits in _corners(d):
            weight = None
            for k in reversed(range(d)):  # (x's weight first, as torch multiplies)
                w = far[k] if bits[k] else near[k]
                weight = w if weight is None else weight * w
            points = [low[k].astype(np.int64) + bits[k] for k in range(d)]
            out = out + read(points) * weight[..., None]
    return np.moveaxis(out, -1, 1).reshape((n, ch) + tuple(out_spatial))


_CUBIC_A = -0.75  # torch's bicubic (Keys' cubic convolution)


def _cubic_coefficients(t):
    """torch's get_cubic_coefficients: the weights of the taps at -1, 0, 1, 2 from t."""
    a = _CUBIC_A
    near = lambda x: ((a + 2) * x - (a + 3)) * x * x + 1  # noqa: E731
    far = lambda x: ((a * x - 5 * a) * x + 8 * a) * x - 4 * a  # noqa: E731
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _cubic_slopes(t):
    """d/dt of _cubic_coefficients (torch's get_cubic_coefficients_grad, negated)."""
    a = _CUBIC_A
    near = lambda x: (3 * (a + 2) * x - 2 * (a + 3)) * x  # noqa: E731
    far = lambda x: (3 * a * x - 10 * a) * x + 8 * a  # noqa: E731
    return [far(t + 1), near(t), -near(1 - t), -far(2 - t)]


def _bicubic_taps(grid, spatial, padding_mode, align_corners, lib):
    """The 4 x 4 taps around each point (x's index fastest) as [(row, col) pixel indices after
    padding], with the fractional offsets (tx, ty) and the slopes d(pixel)/d(grid)."""
    (h, w) = spatial
    x, sx = _unnormalized(grid[..., 0] if lib is _Numpy else grid.select(-1, 0), w,
                          align_corners, lib)
    y, sy = _unnormalized(grid[..., 1] if lib is _Numpy else grid.select(-1, 1), h,
                          align_corners, lib)
    ix, iy = lib.floor(x), lib.floor(y)
    taps = [[(_padded(iy + (j - 1), None, h, padding_mode, align_corners, lib)[0],
              _padded(ix + (i - 1), None, w, padding_mode, align_corners, lib)[0])
             for i in range(4)] for j in range(4)]
    return taps, x - ix, y - iy, (sx, sy)


def _bicubic(grid, spatial, padding_mode, align_corners, read, dtype):
    """torch's bicubic sampling: each row of 4 taps weighed by x's coefficients, then the 4
    rows by y's (float32 arithmetic in float32)."""
    taps, tx, ty, _ = _bicubic_taps(grid, spatial, padding_mode, align_corners, _Numpy)
    cx, cy = _cubic_coefficients(tx), _cubic_coefficients(ty)
    out = None
    for j in range(4):
        row = None
        for i in range(4):
            r, c = taps[j][i]
            term = read([np.rint(r).astype(np.int64), np.rint(c).astype(np.int64)]) * \
                cx[i][..., None]
            row = term if row is None else row + term
        term = row * cy[j][..., None]
        out = term if out is None else out + term
    return out.astype(dtype)


def _grid_sampler_rule(input, grid, *, interpolation_mode, padding_mode, align_corners):
    """torch's checks (check_grid_sampler_common, then _2d or _3d by input's dims, then its
    kernel's dtypes), in its order."""
    sizes = f"input with sizes {_sizes(input.shape)} and grid with sizes {_sizes(grid.shape)}"
    if input.shape[0] != grid.shape[0]:
        raise RuntimeError(f"grid_sampler(): expected grid and input to have same batch size, "
                           f"but got {sizes}")
    if grid.shape[-1] != input.ndim - 2:
        raise RuntimeError(f"grid_sampler(): expected grid to have size {input.ndim - 2} in last "
                           f"dimension, but got grid with sizes {_sizes(grid.shape)}")
    for k in range(2, input.ndim):
        if input.shape[k] <= 0:
            raise RuntimeError(f"grid_sampler(): expected input to have non-empty spatial "
                               f"dimensions, but input has sizes {_sizes(input.shape)} with "
                               f"dimension {k} being empty")
    d = 2 if input.ndim == 4 else 3
    if input.ndim != d + 2 or grid.ndim != input.ndim:
        raise RuntimeError(f"grid_sampler(): expected {d + 2}D input and grid with same number "
                           f"of dimensions, but got {sizes}")
    if d == 3 and interpolation_mode == MODES["bicubic"]:
        raise RuntimeError("grid_sampler(): bicubic interpolation only supports 4D input")
    require_float("grid_sampler_2d_cpu_kernel_impl" if d == 2 else "grid_sampler3d_cpu",
                  input.dtype)
    require_scalar_type(input.dtype, grid)
    return Meta((input.shape[0], input.shape[1]) + tuple(grid.shape[1:-1]), input.dtype)


# ---- the VJP (distgrad ops) ----------------------------------------------------------------------

def _grid_sampler_vjp(c, g):
    x, grid = c[0], c[1]
    n, ch, *spatial = x.shape
    d = len(spatial)
    points_shape = list(grid.shape[:-1])
    n_points = math.prod(points_shape[1:])  # (spelled out: a reshape's -1 fails an empty batch)
    located = [_source(grid.select(-1, d - 1 - k), spatial[k], c.attrs["padding_mode"],
                       c.attrs["align_corners"], _Ops) for k in range(d)]
    coords, slopes = [p for p, _ in located], [s for _, s in located]
    flat, g_flat = merge_trailing(x, 2), merge_trailing(g, 2)
    grad_x = None
    if c.needs[0]:
        grad_x = call("full", shape=[n, ch, math.prod(spatial)], value=0.0,
                              dtype=g.dtype.name, _device=g.device_str)

    def place_of(points):
        """(the flat index of each point, clamped in range, expanded over channels; 1.0
        where the point is inside the image, else 0.0)."""
        inside = place = None
        for k, p in enumerate(points):
            ok = (p >= 0) & (p < spatial[k])
            inside = ok if inside is None else inside & ok
            step = p.clamp(0, spatial[k] - 1)
            place = step if place is None else place * spatial[k] + step
        index = place.reshape(n, 1, n_points).expand(n, ch, n_points)
        return index, inside.to(g.dtype).reshape(n, 1, n_points)

    if c.attrs["interpolation_mode"] == MODES["bicubic"]:
        return _bicubic_vjp(c, g, grad_x, place_of)
    if c.attrs["interpolation_mode"] == MODES["nearest"]:
        index, inside = place_of([p.round().to(dtypes.int64) for p in coords])
        if c.needs[0]:
            grad_x = grad_x.scatter_add(2, index, g_flat * inside)
        grad_grid = call("full", shape=list(grid.shape), value=0.0, dtype=g.dtype.name,
                         _device=g.device_str) if c.needs[1] else None
        return (grad_x.reshape(x.shape) if grad_x is not None else None), grad_grid

    low = [p.floor() for p in coords]
    far = [p - f for p, f in zip(coords, low)]
    near = [1 - f for f in far]
    pull = [None] * d  # the gradient of each coordinate: sum over corners and channels
    for bits in _corners(d):
        weights = [(far[k] if bits[k] else near[k]).reshape(n, 1, n_points) for k in range(d)]
        index, inside = place_of([low[k].to(dtypes.int64) + bits[k] for k in range(d)])
        if c.needs[0]:
            grad_x = grad_x.scatter_add(2, index, g_flat * (math.prod(weights) * inside))
        if c.needs[1]:
            value = flat.gather(2, index) * inside * g_flat
            for k in range(d):
                others = math.prod(w for j, w in enumerate(weights) if j != k)
                term = value * others if bits[k] else -(value * others)
                pull[k] = term if pull[k] is None else pull[k] + term
    grad_grid = None
    if c.needs[1]:
        axes = [(pull[d - 1 - k].sum(1).reshape(points_shape) * slopes[d - 1 - k])
                for k in range(d)]  # x (the last spatial dim) first
        grad_grid = call("stack", *axes, dim=-1)
    return (grad_x.reshape(x.shape) if grad_x is not None else None), grad_grid


def _bicubic_vjp(c, g, grad_x, place_of):
    """torch's bicubic backward: g spread over the 16 taps by their weights, and each grid
    coordinate's gradient from the taps' values and the coefficients' slopes."""
    x, grid = c[0], c[1]
    n, ch = x.shape[0], x.shape[1]
    n_points = math.prod(grid.shape[1:-1])
    taps, tx, ty, (sx, sy) = _bicubic_taps(grid, list(x.shape[2:]), c.attrs["padding_mode"],
                                           c.attrs["align_corners"], _Ops)
    flat, g_flat = merge_trailing(x, 2), merge_trailing(g, 2)
    cx, cy = _cubic_coefficients(tx), _cubic_coefficients(ty)
    dx, dy = _cubic_slopes(tx), _cubic_slopes(ty)
    pull_x = pull_y = None
    for j in range(4):
        for i in range(4):
            r, col = taps[j][i]
            index, inside = place_of([r.round().to(dtypes.int64), col.round().to(dtypes.int64)])
            if c.needs[0]:
                w = (cx[i] * cy[j]).reshape(n, 1, n_points)
                grad_x = grad_x.scatter_add(2, index, g_flat * (w * inside))
            if c.needs[1]:
                value = (flat.gather(2, index) * inside * g_flat).sum(1)
                px = value * (dx[i] * cy[j]).reshape(n, n_points)
                py = value * (cx[i] * dy[j]).reshape(n, n_points)
                pull_x = px if pull_x is None else pull_x + px
                pull_y = py if pull_y is None else pull_y + py
    grad_grid = None
    if c.needs[1]:
        shape = list(grid.shape[:-1])
        grad_grid = call("stack", pull_x.reshape(shape) * sx, pull_y.reshape(shape) * sy, dim=-1)
    return (grad_x.reshape(x.shape) if grad_x is not None else None), grad_grid


defop("grid_sampler", _grid_sampler, _grid_sampler_rule, _grid_sampler_vjp, save=(0, 1),
      node=lambda inputs, attrs: f"GridSampler{inputs[0].ndim - 2}DBackward0")


def grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners):
    return call("grid_sampler", input, grid, interpolation_mode=int(interpolation_mode),
                padding_mode=int(padding_mode), align_corners=bool(align_corners))


def _sampler_of(d: int):
    """torch.grid_sampler_2d / _3d: grid_sampler for inputs of d spatial dims only."""
    def sampler(input, grid, interpolation_mode, padding_mode, align_corners):
        if input.ndim != d + 2 or grid.ndim != input.ndim:
            raise RuntimeError(f"grid_sampler(): expected {d + 2}D input and grid with same "
                               f"number of dimensions, but got input with sizes "
                               f"{_sizes(input.shape)} and grid with sizes {_sizes(grid.shape)}")
        return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)

    sampler.__name__ = sampler.__qualname__ = f"grid_sampler_{d}d"
    return sampler


grid_sampler_2d, grid_sampler_3d = _sampler_of(2), _sampler_of(3)


# ---- nn.functional's grid_sample and affine_grid ------------------------------------------------

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to align_corners=False "
                  "since 1.3.0. Please specify align_corners=True if the old behavior is desired. "
                  "See the documentation of grid_sample for details.")


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    if mode not in MODES:
        raise ValueError(f"nn.functional.grid_sample(): expected mode to be 'bilinear', "
                         f"'nearest' or 'bicubic', but got: '{mode}'")
    if padding_mode not in PADDINGS:
        raise ValueError(f"nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    return grid_sampler(input, grid, MODES[mode], PADDINGS[padding_mode], align_corners)


def affine_grid(theta, size, align_corners=None):
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.is_floating_point():
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = list(size)
    if len(size) in (4, 5):
        d = len(size) - 2
        if theta.ndim != 3 or tuple(theta.shape[-2:]) != (d, d + 1):
            raise ValueError(f"Expected a batch of {d}D affine matrices of shape Nx{d}x{d + 1} "
                             f"for size {size}. Got {theta.shape!r}.")
    else:
        raise NotImplementedError(f"affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {size}.")
    if align_corners and min(size[2:]) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids "
                      "when align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    return affine_grid_generator(theta, size, align_corners)
