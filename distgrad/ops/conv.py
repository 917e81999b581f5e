"""Convolution and pooling ops with torch's node names, over 1 or 2 spatial dims.

The forwards gather each output position's input window from a strided view of the padded
input: a convolution copies them once (im2col, output positions innermost) and makes one
batched matrix product over its groups; the pools reduce the view directly. A convolution is
bilinear in input and weight, so its two gradients are ops that are bilinear too, and
each one's VJP is made of the other two: gradients of gradients come for free. The
average pools are linear, their backward ops are each other's transposes.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd.record import call
from .table import Meta, defop


def _dims(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def out_size(size, kernel, stride, padding, dilation, ceil_mode=False) -> int:
    """Output length of a window sliding over `size` (torch's pooling_output_shape)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    n = -(-span // stride) + 1
    if (n - 1) * stride >= size + padding:  # the last window must start inside the input
        n -= 1
    return n


def _padded(x, spatial, padding, out, kernel, stride, dilation, value=0.0):
    """x padded on the left by `padding` and on the right as far as the windows reach."""
    pads = [(0, 0)] * (x.ndim - spatial)
    for d in range(spatial):
        size = x.shape[x.ndim - spatial + d]
        reach = (out[d] - 1) * stride[d] + dilation[d] * (kernel[d] - 1) + 1
        pads.append((padding[d], max(reach - size - padding[d], 0)))
    if not any(p != (0, 0) for p in pads):
        return x
    return np.pad(x, pads, constant_values=value)


def _windows(xp, spatial, out, kernel, stride, dilation):
    """View (..., *out, *kernel) of the padded input: element [.., o, k] = xp[.., o*s + k*d]."""
    lead = xp.shape[:xp.ndim - spatial]
    st = xp.strides
    lead_st, sp_st = st[:xp.ndim - spatial], st[xp.ndim - spatial:]
    shape = tuple(lead) + tuple(out) + tuple(kernel)
    strides = tuple(lead_st) + tuple(s * k for s, k in zip(sp_st, stride)) + \
        tuple(s * d for s, d in zip(sp_st, dilation))
    return as_strided(xp, shape, strides, writeable=False)


def _scatter_windows(cols, shape, spatial, padding, out, kernel, stride, dilation):
    """The transpose of gathering windows: add cols (..., *kernel, *out) into an array of
    `shape` (unpadded), one kernel offset at a time."""
    lead = shape[:len(shape) - spatial]
    full = [shape[len(lead) + d] + 2 * padding[d] for d in range(spatial)]
    for d in range(spatial):
        full[d] = max(full[d], (out[d] - 1) * stride[d] + dilation[d] * (kernel[d] - 1) + 1)
    xp = np.zeros(tuple(lead) + tuple(full), cols.dtype)
    n_lead = len(lead)
    for k in np.ndindex(*kernel):
        key = [slice(None)] * n_lead
        for d in range(spatial):
            start = k[d] * dilation[d]
            key.append(slice(start, start + (out[d] - 1) * stride[d] + 1, stride[d]))
        xp[tuple(key)] += cols[(slice(None),) * n_lead + k]
    crop = [slice(None)] * n_lead + [slice(padding[d], padding[d] + shape[n_lead + d])
                                     for d in range(spatial)]
    return xp[tuple(crop)]


def _im2col(x, spatial, padding, out, kernel, stride, dilation):
    """(N, C, *in) -> (N, C, *kernel, *out) in memory of its own: [.., k, o] = xp[.., o*s + k*d]
    (the output positions innermost, so a matrix product gives (N, O, *out) directly)."""
    xp = _padded(x, spatial, padding, out, kernel, stride, dilation)
    st = xp.strides
    lead, sp = st[:xp.ndim - spatial], st[xp.ndim - spatial:]
    view = as_strided(xp, tuple(xp.shape[:xp.ndim - spatial]) + tuple(kernel) + tuple(out),
                      tuple(lead) + tuple(s * d for s, d in zip(sp, dilation))
                      + tuple(s * k for s, k in zip(sp, stride)), writeable=False)
    return np.ascontiguousarray(view)


# ---- convolution ---------------------------------------------------------------------------------

def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    spatial = len(w_shape) - 2
    kernel = tuple(w_shape[2:])
    out = tuple(out_size(x_shape[2 + d], kernel[d], stride[d], padding[d], dilation[d])
                for d in range(spatial))
    return spatial, kernel, out


def _conv_rule(x, w, b, stride, padding, dilation, groups):
    spatial = w.ndim - 2
    if x.ndim != w.ndim:
        raise RuntimeError(f"Expected {w.ndim}D (batched) input to conv{spatial}d, but got input "
                           f"of size: {_dims(x.shape)}")
    if x.shape[1] != w.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {_dims(w.shape)}, expected "
                           f"input{_dims(x.shape)} to have {w.shape[1] * groups} channels, but "
                           f"got {x.shape[1]} channels instead")
    if w.shape[0] % groups:
        raise RuntimeError("Given groups={}, expected weight to be divisible by {} at dimension 0, "
                           "but got weight of size {} instead".format(groups, groups,
                                                                      _dims(w.shape)))
    padded = [x.shape[2 + d] + 2 * padding[d] for d in range(spatial)]
    reach = [dilation[d] * (w.shape[2 + d] - 1) + 1 for d in range(spatial)]
    if any(p < r for p, r in zip(padded, reach)):
        raise RuntimeError("Calculated padded input size per channel: ({}). Kernel size: ({}). "
                           "Kernel size can't be greater than actual input size".format(
                               " x ".join(map(str, padded)), " x ".join(map(str, reach))))
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise RuntimeError(f"Given weight of size {_dims(w.shape)}, expected bias to be 1-dimensional "
                           f"with {w.shape[0]} elements, but got bias of size {_dims(b.shape)} "
                           "instead")
    _, _, out = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    return Meta((x.shape[0], w.shape[0]) + out, x.dtype)


def _conv_cols(x, w_shape, stride, padding, dilation, groups):
    """x's windows as (N, groups, C/groups · kernel, positions), and the output size."""
    spatial, kernel, out = _conv_geometry(x.shape, w_shape, stride, padding, dilation)
    cols = _im2col(x, spatial, padding, out, kernel, stride, dilation)
    return cols.reshape(x.shape[0], groups, -1, math.prod(out)), out


def _convolution(x, w, b, stride, padding, dilation, groups):
    cols, out = _conv_cols(x, w.shape, stride, padding, dilation, groups)
    # one batched matrix product per group: (G, O/G, C/G·k) @ (N, G, C/G·k, P)
    y = np.matmul(w.reshape(groups, w.shape[0] // groups, -1), cols)
    y = y.reshape((x.shape[0], w.shape[0]) + out)
    if b is not None:
        y += b.reshape((1, -1) + (1,) * len(out))
    return y


def _conv_input_grad(g, w, input_size, stride, padding, dilation, groups):
    """d<g, conv(x, w)>/dx: each output's gradient spread back over its window."""
    spatial = w.ndim - 2
    kernel, out = tuple(w.shape[2:]), tuple(g.shape[2:])
    n, cout = g.shape[0], w.shape[0] // groups
    wg = w.reshape(groups, cout, -1).swapaxes(-1, -2)  # (G, C/G·k, O/G)
    cols = np.matmul(wg, g.reshape(n, groups, cout, -1))  # (N, G, C/G·k, P)
    cols = cols.reshape((n, w.shape[1] * groups) + kernel + out)
    return _scatter_windows(cols, (n, w.shape[1] * groups) + tuple(input_size[-spatial:]),
                            spatial, padding, out, kernel, stride, dilation)


def _conv_weight_grad(g, x, weight_size, stride, padding, dilation, groups):
    """d<g, conv(x, w)>/dw: each output's gradient times its input window, summed."""
    cols, _ = _conv_cols(x, weight_size, stride, padding, dilation, groups)
    n, cout = g.shape[0], weight_size[0] // groups
    gw = np.matmul(g.reshape(n, groups, cout, -1), cols.swapaxes(-1, -2)).sum(axis=0)
    return gw.reshape(tuple(weight_size))


def _geometry_attrs(attrs) -> dict:
    return {k: attrs[k] for k in ("stride", "padding", "dilation", "groups")}


def _conv_vjp(c, g):
    x, w = c[0], c[1]
    geo = _geometry_attrs(c.attrs)
    gx = call("conv_input_grad", g, w, input_size=list(c.shapes[0]), **geo) if c.needs[0] else None
    gw = call("conv_weight_grad", g, x, weight_size=list(c.shapes[1]), **geo) if c.needs[1] else None
    gb = g.sum([0] + list(range(2, len(c.shapes[0])))) if c.needs[2] else None
    return gx, gw, gb


def _conv_input_grad_vjp(c, u):
    # <u, Gx(g, w)> = <g, conv(u, w)>
    geo = _geometry_attrs(c.attrs)
    gg = call("convolution", u, c[1], None, **geo) if c.needs[0] else None
    gw = call("conv_weight_grad", c[0], u, weight_size=list(c.shapes[1]), **geo) \
        if c.needs[1] else None
    return gg, gw


def _conv_weight_grad_vjp(c, u):
    # <u, Gw(g, x)> = <g, conv(x, u)>
    geo = _geometry_attrs(c.attrs)
    gg = call("convolution", c[1], u, None, **geo) if c.needs[0] else None
    gx = call("conv_input_grad", c[0], u, input_size=list(c.shapes[1]), **geo) \
        if c.needs[1] else None
    return gg, gx


defop("convolution", _convolution, _conv_rule, _conv_vjp, node="ConvolutionBackward0",
      save=(0, 1), sharding="batch")
defop("conv_input_grad", _conv_input_grad,
      lambda g, w, input_size, **_: Meta((g.shape[0],) + tuple(input_size[1:]), g.dtype),
      _conv_input_grad_vjp, node="ConvolutionBackwardBackward0", save=(0, 1))
defop("conv_weight_grad", _conv_weight_grad,
      lambda g, x, weight_size, **_: Meta(tuple(weight_size), g.dtype),
      _conv_weight_grad_vjp, node="ConvolutionBackwardBackward0", save=(0, 1))


# ---- pooling over the last two dims -----------------------------------------------------------------

def _pool_geometry(shape, kernel, stride, padding, dilation, ceil_mode):
    return tuple(out_size(shape[-2 + d], kernel[d], stride[d], padding[d], dilation[d], ceil_mode)
                 for d in range(2))


def _pool_rule(name):
    def rule(x, kernel, stride, padding, dilation=(1, 1), ceil_mode=False, **_):
        if x.ndim not in (3, 4):
            raise RuntimeError(f"{name}: Expected 3D or 4D (batch mode) tensor for input, but got: "
                               f"{_dims(x.shape)}")
        for d in range(2):
            if padding[d] * 2 > kernel[d]:
                raise RuntimeError("pad should be at most half of effective kernel size, but got "
                                   f"pad={padding[d]}, kernel_size={kernel[d]} and dilation="
                                   f"{dilation[d]}" if name == "max_pool2d" else
                                   "pad should be smaller than or equal to half of kernel size, "
                                   f"but got padW = {padding[1]}, padH = {padding[0]}, kW = "
                                   f"{kernel[1]}, kH = {kernel[0]}")
        out = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
        if min(out) <= 0:
            raise RuntimeError(f"Given input size: ({'x'.join(map(str, x.shape[-3:]))}). "
                               f"Calculated output size: ({x.shape[-3]}x{out[0]}x{out[1]}). "
                               "Output size is too small")
        return Meta(tuple(x.shape[:-2]) + out, x.dtype)

    return rule


def _max_pool(x, kernel, stride, padding, dilation=(1, 1), ceil_mode=False):
    out = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
    xp = _padded(x, 2, padding, out, kernel, stride, dilation, value=-np.inf)
    win = _windows(xp, 2, out, kernel, stride, dilation).reshape(x.shape[:-2] + out + (-1,))
    # torch picks the first maximum, and the last NaN (a NaN always replaces the maximum)
    nan = np.isnan(win)
    last_nan = win.shape[-1] - 1 - nan[..., ::-1].argmax(-1)
    arg = np.where(nan.any(-1), last_nan, win.argmax(-1))
    values = np.take_along_axis(win, arg[..., None], -1)[..., 0]
    kh, kw = arg // kernel[1], arg % kernel[1]
    oh = np.arange(out[0]).reshape(-1, 1)
    ow = np.arange(out[1]).reshape(1, -1)
    row = oh * stride[0] + kh * dilation[0] - padding[0]
    col = ow * stride[1] + kw * dilation[1] - padding[1]
    return values, (row * x.shape[-1] + col).astype(np.int64)


def _max_pool_vjp(c, g, _):
    shape = c.shapes[0]
    plane = list(shape[:-2]) + [shape[-2] * shape[-1]]
    flat_g = g.reshape(*shape[:-2], -1)
    idx = c.outs[1].reshape(*shape[:-2], -1)
    return call("scatter_dim", flat_g, idx, dim=-1, size=plane).reshape(*shape)


def _max_pool_rule(x, kernel, stride, padding, dilation=(1, 1), ceil_mode=False):
    from .. import dtypes

    m = _pool_rule("max_pool2d")(x, kernel, stride, padding, dilation, ceil_mode)
    return m, Meta(m.shape, dtypes.int64)


defop("max_pool2d_with_indices", _max_pool, _max_pool_rule, _max_pool_vjp,
      node="MaxPool2DWithIndicesBackward0", n_out=2, nondiff_outputs=(1,), save_out=True,
      sharding="batch")


def _avg_divisor(shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override,
                 out):
    if divisor_override:
        return float(divisor_override)
    counts = []
    for d in range(2):
        size = shape[-2 + d]
        start = np.arange(out[d]) * stride[d] - padding[d]
        end = np.minimum(start + kernel[d], size + padding[d])
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, size) - np.maximum(start, 0))
    return np.outer(counts[0], counts[1]).astype(np.float64)


def _avg_pool(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
    out = _pool_geometry(x.shape, kernel, stride, padding, (1, 1), ceil_mode)
    xp = _padded(x, 2, padding, out, kernel, stride, (1, 1))
    sums = _windows(xp, 2, out, kernel, stride, (1, 1)).sum(axis=(-2, -1))
    div = _avg_divisor(x.shape, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override, out)
    return (sums / div).astype(x.dtype)


def _avg_pool_backward(g, input_size, kernel, stride, padding, ceil_mode=False,
                       count_include_pad=True, divisor_override=None):
    out = tuple(g.shape[-2:])
    div = _avg_divisor(input_size, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override, out)
    share = (g / div).astype(g.dtype)
    cols = np.broadcast_to(share[..., None, None, :, :],
                           share.shape[:-2] + tuple(kernel) + share.shape[-2:])
    return _scatter_windows(cols, tuple(input_size), 2, padding, out, kernel, stride, (1, 1))


_AVG_ATTRS = ("kernel", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")


def _avg_attrs(attrs) -> dict:
    return {k: attrs[k] for k in _AVG_ATTRS if k in attrs}


defop("avg_pool2d", _avg_pool,
      lambda x, kernel, stride, padding, ceil_mode=False, **_:
          _pool_rule("avg_pool2d")(x, kernel, stride, padding, (1, 1), ceil_mode),
      lambda c, g: call("avg_pool2d_backward", g, input_size=list(c.shapes[0]),
                        **_avg_attrs(c.attrs)),
      node="AvgPool2DBackward0", sharding="batch")
defop("avg_pool2d_backward", _avg_pool_backward,
      lambda g, input_size, **_: Meta(tuple(input_size), g.dtype),
      lambda c, gg: call("avg_pool2d", gg, **_avg_attrs(c.attrs)),
      node="AvgPool2DBackwardBackward0")


# ---- adaptive average pooling: out = Ph x Pwᵀ with averaging matrices ----------------------------

def _averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    """Row i averages input [floor(i*size/out), ceil((i+1)*size/out))."""
    m = np.zeros((out, size), dtype)
    for i in range(out):
        start = (i * size) // out
        end = -(-((i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def _adaptive_rule(x, output_size):
    if x.ndim not in (3, 4) or any(d == 0 for d in x.shape[-2:]):
        raise RuntimeError("adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got "
                           f"{_dims(x.shape)}")
    return Meta(tuple(x.shape[:-2]) + tuple(output_size), x.dtype)


def _adaptive(x, output_size):
    ph = _averaging_matrix(x.shape[-2], output_size[0], x.dtype)
    pw = _averaging_matrix(x.shape[-1], output_size[1], x.dtype)
    return np.matmul(np.matmul(ph, x), pw.T)


def _adaptive_backward(g, input_size):
    ph = _averaging_matrix(input_size[-2], g.shape[-2], g.dtype)
    pw = _averaging_matrix(input_size[-1], g.shape[-1], g.dtype)
    return np.matmul(np.matmul(ph.T, g), pw)


defop("adaptive_avg_pool2d", _adaptive, _adaptive_rule,
      lambda c, g: call("adaptive_avg_pool2d_backward", g, input_size=list(c.shapes[0])),
      node="AdaptiveAvgPool2DBackward0", sharding="batch")
defop("adaptive_avg_pool2d_backward", _adaptive_backward,
      lambda g, input_size: Meta(tuple(input_size), g.dtype),
      lambda c, gg: call("adaptive_avg_pool2d", gg, output_size=list(c.shapes[0][-2:])),
      node="AdaptiveAvgPool2DBackwardBackward0")
