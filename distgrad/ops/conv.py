"""Convolution and pooling ops with torch's node names, over 1 or 2 spatial dims.

The forwards gather each output position's input window from a strided view of the padded
input: a convolution copies them once (im2col, output positions innermost) and makes one
batched matrix product over its groups; the pools reduce the view directly. A convolution is
bilinear in input and weight, so its two gradients are ops that are bilinear too, and
each one's VJP is made of the other two: gradients of gradients come for free. The
average pools are linear, their backward ops are each other's transposes.
"""
from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import dtypes
from ..autograd.record import call
from . import layout
from .rules import not_implemented, require_scalar_type, wrap_dim_of_some, zeros_grad
from .table import Meta, defop


def merge_trailing(a, keep: int):
    """a (an array or a tensor) with its dims after the first `keep` merged into one (a
    reshape's -1 cannot tell that length when the array is empty, an empty batch's)."""
    return a.reshape(tuple(a.shape[:keep]) + (math.prod(a.shape[keep:]),))


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


def _scatter_windows(cols, shape, spatial, padding, out, kernel, stride, dilation,
                     reverse=False):
    """The transpose of gathering windows: add cols (..., *kernel, *out) into an array of
    `shape` (unpadded), one kernel offset at a time (the last first with `reverse`: the order
    torch's channels-last col2im adds them in, which a float16 sum rounds by)."""
    lead = shape[:len(shape) - spatial]
    full = [shape[len(lead) + d] + 2 * padding[d] for d in range(spatial)]
    for d in range(spatial):
        full[d] = max(full[d], (out[d] - 1) * stride[d] + dilation[d] * (kernel[d] - 1) + 1)
    xp = np.zeros(tuple(lead) + tuple(full), cols.dtype)
    n_lead = len(lead)
    offsets = list(np.ndindex(*kernel))
    for k in reversed(offsets) if reverse else offsets:
        key = [slice(None)] * n_lead
        for d in range(spatial):
            start = k[d] * dilation[d]
            key.append(slice(start, start + (out[d] - 1) * stride[d] + 1, stride[d]))
        xp[tuple(key)] += cols[(slice(None),) * n_lead + k]
    crop = [slice(None)] * n_lead + [slice(padding[d], padding[d] + shape[n_lead + d])
                                     for d in range(spatial)]
    return xp[tuple(crop)]


def _im2col(x, spatial, padding, out, kernel, stride, dilation, batch_inner=False):
    """(N, C, *in) -> (N, C, *kernel, *out) in memory of its own: [.., k, o] = xp[.., o*s + k*d]
    (the output positions innermost, so a matrix product gives (N, O, *out) directly);
    batch_inner: laid out (C, *kernel, N, *out), one matrix (C·k, N·P) for all the batch."""
    xp = _padded(x, spatial, padding, out, kernel, stride, dilation)
    st = xp.strides
    lead, sp = st[:xp.ndim - spatial], st[xp.ndim - spatial:]
    view = as_strided(xp, tuple(xp.shape[:xp.ndim - spatial]) + tuple(kernel) + tuple(out),
                      tuple(lead) + tuple(s * d for s, d in zip(sp, dilation))
                      + tuple(s * k for s, k in zip(sp, stride)), writeable=False)
    if batch_inner:  # (N, C, *k, *o) -> (C, *k, N, *o)
        view = np.moveaxis(view, 0, 1 + spatial)
    return np.ascontiguousarray(view)


# ---- convolution ---------------------------------------------------------------------------------

def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    spatial = len(w_shape) - 2
    kernel = tuple(w_shape[2:])
    out = tuple(out_size(x_shape[2 + d], kernel[d], stride[d], padding[d], dilation[d])
                for d in range(spatial))
    return spatial, kernel, out


def check_conv_params(groups, stride, padding, output_padding=()) -> None:
    """ATen's checks of a convolution's parameters, in its order (before the shapes')."""
    for bad, message in ((groups <= 0, "non-positive groups"),
                         (min(padding) < 0, "negative padding"),
                         (min(output_padding, default=0) < 0, "negative output_padding"),
                         (min(stride) <= 0, "non-positive stride")):
        if bad:
            raise RuntimeError(f"{message} is not supported")


def check_dilation(dilation) -> None:
    """(ATen's, after the shapes' checks but the kernel's size)"""
    if min(dilation) <= 0:
        raise RuntimeError("non-positive dilation is not supported")


def check_weight_groups(w_shape, groups: int) -> None:
    """ATen's checks of the weight's first dimension against groups, before the input's
    channels (the second prints the sizes in brackets twice, as torch does)."""
    if w_shape[0] < groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be at least {groups} at "
                           f"dimension 0, but got weight of size {_dims(w_shape)} instead")
    if w_shape[0] % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{_dims(w_shape)}] instead")


def _conv_rule(x, w, b, stride, padding, dilation, groups):
    spatial = w.ndim - 2
    if b is not None and b.dtype is not x.dtype:  # (torch's first check)
        raise RuntimeError(f"Input type ({x.dtype.c_name}) and bias type ({b.dtype.c_name}) "
                           "should be the same")
    if spatial < 1:
        raise RuntimeError("weight should have at least three dimensions")
    for name, values in (("stride", stride), ("padding", padding), ("dilation", dilation)):
        if len(values) != spatial:  # (conv2d's pairs with a 3-D weight, say)
            raise RuntimeError(f"expected {name} to be a single integer value or a list of "
                               f"{spatial} values to match the convolution dimensions, but got "
                               f"{name}={list(values)}")
    check_conv_params(groups, stride, padding)
    if x.ndim != w.ndim:
        raise RuntimeError(f"Expected {w.ndim}-dimensional input for {w.ndim}-dimensional weight "
                           f"{_dims(w.shape)}, but got {x.ndim}-dimensional input of size "
                           f"{_dims(x.shape)} instead")
    check_weight_groups(w.shape, groups)
    if x.shape[1] != w.shape[1] * groups:
        raise RuntimeError(f"Given groups={groups}, weight of size {_dims(w.shape)}, expected "
                           f"input{_dims(x.shape)} to have {w.shape[1] * groups} channels, but "
                           f"got {x.shape[1]} channels instead")
    if b is not None and tuple(b.shape) != (w.shape[0],):
        raise RuntimeError(f"Given weight of size {_dims(w.shape)}, expected bias to be 1-dimensional "
                           f"with {w.shape[0]} elements, but got bias of size {_dims(b.shape)} "
                           "instead")
    check_dilation(dilation)
    padded = [x.shape[2 + d] + 2 * padding[d] for d in range(spatial)]
    reach = [dilation[d] * (w.shape[2 + d] - 1) + 1 for d in range(spatial)]
    if any(p < r for p, r in zip(padded, reach)):
        raise RuntimeError("Calculated padded input size per channel: ({}). Kernel size: ({}). "
                           "Kernel size can't be greater than actual input size".format(
                               " x ".join(map(str, padded)), " x ".join(map(str, reach))))
    require_scalar_type(x.dtype, w)  # (its kernel's, after the shapes)
    _check_conv_kernel_dtype(x.dtype, spatial, dilation)
    _, _, out = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    return Meta((x.shape[0], w.shape[0]) + out, x.dtype)


def _check_conv_kernel_dtype(d, spatial: int, dilation) -> None:
    """The dtypes of the CPU kernel torch picks: a dilated convolution's (slow_conv_dilated)
    takes floating dtypes and int64; the others every dtype but bool."""
    if any(v != 1 for v in dilation):
        if not (d.is_floating_point or d is dtypes.int64):
            raise not_implemented("slow_conv_dilated<>", d)
    elif d is dtypes.bool_:
        raise not_implemented("compute_columns3d" if spatial == 3 else "slow_conv2d_cpu", d)


def _conv_cols(x, w_shape, stride, padding, dilation, groups):
    """x's windows as one matrix per group, (groups, C/groups · kernel, N · positions), and
    the output size: a convolution, or a gradient of one, is then one matrix product per
    group for the whole batch (not one per sample, each a BLAS call)."""
    spatial, kernel, out = _conv_geometry(x.shape, w_shape, stride, padding, dilation)
    cols = _im2col(x, spatial, padding, out, kernel, stride, dilation, batch_inner=True)
    rows = x.shape[1] // groups * math.prod(kernel)  # (-1 is ambiguous for an empty batch)
    return cols.reshape(groups, rows, x.shape[0] * math.prod(out)), out


def _by_group(g, groups):
    """(N, G·O, *out) -> (G, O, N·P) in memory of its own."""
    n, c = g.shape[:2]
    positions = math.prod(g.shape[2:])
    per = g.reshape(n, groups, c // groups, positions).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(per).reshape(groups, c // groups, n * positions)


def _convolution(x, w, b, stride, padding, dilation, groups):
    cols, out = _conv_cols(x, w.shape, stride, padding, dilation, groups)
    y = np.matmul(w.reshape(groups, w.shape[0] // groups, -1), cols)  # (G, O/G, N·P)
    y = y.reshape(w.shape[0], x.shape[0], math.prod(out)).transpose(1, 0, 2)
    y = np.ascontiguousarray(y).reshape((x.shape[0], w.shape[0]) + out)
    if b is not None:
        y += b.reshape((1, -1) + (1,) * len(out))
    return y


def _conv_input_grad(g, w, input_size, stride, padding, dilation, groups, low=None,
                     reverse=False):
    """d<g, conv(x, w)>/dx: each output's gradient spread back over its window. With `low`
    (slow_kernel_dtype's), as torch's slow kernels: each window's values rounded to it,
    then added in it (col2im), one kernel offset after another (the last first with
    `reverse`)."""
    spatial = w.ndim - 2
    kernel, out = tuple(w.shape[2:]), tuple(g.shape[2:])
    n, cout = g.shape[0], w.shape[0] // groups
    wg = w.reshape(groups, cout, -1).swapaxes(-1, -2)  # (G, C/G·k, O/G)
    cols = np.matmul(wg, _by_group(g, groups))  # (G, C/G·k, N·P)
    if low is not None:
        cols = dtypes.cast(cols, low)
    cols = cols.reshape((w.shape[1] * groups,) + kernel + (n,) + out)
    cols = np.moveaxis(cols, 1 + spatial, 0)  # (N, C, *k, *out), a view
    return _scatter_windows(cols, (n, w.shape[1] * groups) + tuple(input_size[-spatial:]),
                            spatial, padding, out, kernel, stride, dilation, reverse)


def _conv_weight_grad(g, x, weight_size, stride, padding, dilation, groups, low=None):
    """d<g, conv(x, w)>/dw: each output's gradient times its input window, summed. With
    `low` (slow_kernel_dtype's), as torch's slow kernels: one sample's sum at a time added
    to the gradient in that dtype (a gemm per sample, its result rounded)."""
    cols, _ = _conv_cols(x, weight_size, stride, padding, dilation, groups)
    per_group = _by_group(g, groups)  # (G, O/G, N·P), sample-major
    if low is None:
        gw = np.matmul(per_group, cols.swapaxes(-1, -2))  # (G, O/G, C/G·k)
        return gw.reshape(tuple(weight_size))
    positions = cols.shape[-1] // max(g.shape[0], 1)
    gw = np.zeros(per_group.shape[:2] + cols.shape[1:2], low)
    for n in range(g.shape[0]):
        at = slice(n * positions, (n + 1) * positions)
        gw = dtypes.cast(gw.astype(np.float32) + np.matmul(
            per_group[..., at], cols[..., at].swapaxes(-1, -2)), low)
    return gw.reshape(tuple(weight_size))


def slow_kernel_dtype(dtype, input_shape, weight_shape, attrs):
    """float16 or bfloat16 (numpy's) when torch convolves in it with its slow kernels here,
    whose roundings differ from oneDNN's one rounding of a float32 sum: None for oneDNN
    (layout.uses_mkldnn) and for the other dtypes."""
    if dtype.char not in "eE":
        return None
    low = dtypes.from_numpy(dtype)
    return None if layout.uses_mkldnn(input_shape, weight_shape, attrs, low) else dtype


def thnn_channels_last(*arrays) -> bool:
    """torch's thnn_conv_use_channels_last: a 2-d slow kernel walks channels-last (its col2im
    adding the kernel offsets last first) when its input or its weight is channels-last."""
    return any(a is not None and a.ndim == 4 and layout.suggested_format(
        a.shape, tuple(st // a.itemsize for st in a.strides)) == "channels_last" for a in arrays)


def low_precision(array) -> bool:
    """Is this a float16 or bfloat16 array, given as it is (table.OWN_HALF)?"""
    return array.dtype.char in "eE"


def as_float32(*arrays):
    """float16 and bfloat16 arrays as float32 (what the convolutions compute in)."""
    return [a.astype(np.float32) if a is not None and a.dtype.char in "eE" else a
            for a in arrays]


def _input_grad_forward(g, w, x, input_size, **geo):
    low = slow_kernel_dtype(g.dtype, input_size, w.shape, geo)
    return _conv_input_grad(*as_float32(g, w), input_size, low=low, **geo,
                            reverse=low is not None and thnn_channels_last(x, w, g))


def _weight_grad_forward(g, x, _w, weight_size, transposed=False, **geo):
    # (a transposed convolution's weight gradient takes its input first: the input its
    # kernel choice reads)
    low = slow_kernel_dtype(g.dtype, (g if transposed else x).shape, weight_size, geo)
    return _conv_weight_grad(*as_float32(g, x), weight_size, low=low, **geo)


def _geometry_attrs(attrs) -> dict:
    return {k: attrs[k] for k in ("stride", "padding", "dilation", "groups")}


def _conv_vjp(c, g):
    x, w = c[0], c[1]
    geo = _geometry_attrs(c.attrs)
    # Each gradient also takes the operand it does not read, as torch's one
    # convolution_backward takes (grad, input, weight): under create_graph, each requires
    # grad when any of the three does (and a gradient of it reaches that operand as none).
    gx = call("conv_input_grad", g, w, x, input_size=list(c.shapes[0]), **geo) \
        if c.needs[0] else None
    gw = call("conv_weight_grad", g, x, w, weight_size=list(c.shapes[1]), **geo) \
        if c.needs[1] else None
    gb = call("conv_bias_grad", g, x, w, **geo) if c.needs[2] else None
    return gx, gw, gb


def _conv_input_grad_vjp(c, u):
    # <u, Gx(g, w)> = <g, conv(u, w)> (nothing reaches the input it takes unread)
    geo = _geometry_attrs(c.attrs)
    gg = call("convolution", u, c[1], None, **geo) if c.needs[0] else None
    gw = call("conv_weight_grad", c[0], u, None, weight_size=list(c.shapes[1]), **geo) \
        if c.needs[1] else None
    return gg, gw, None


def _conv_weight_grad_vjp(c, u):
    # <u, Gw(g, x)> = <g, conv(x, u)> (nothing reaches the weight it takes unread)
    geo = _geometry_attrs(c.attrs)
    gg = call("convolution", c[1], u, None, **geo) if c.needs[0] else None
    gx = call("conv_input_grad", c[0], u, None, input_size=list(c.shapes[1]), **geo) \
        if c.needs[1] else None
    return gg, gx, None


def _conv_bias_grad(g, x, w, **geo):
    """g summed over all but the channels. Given the convolution's geometry (not for a
    transposed one), as a dilated convolution's slow kernel in float16 or bfloat16: each
    sample's sum rounded to that dtype, and added to the others' in it."""
    low = slow_kernel_dtype(g.dtype, x.shape, w.shape, geo) if geo and any(
        d != 1 for d in geo["dilation"]) else None
    g, = as_float32(g)
    if low is None:
        return g.sum(axis=(0,) + tuple(range(2, g.ndim)))
    per_sample = dtypes.cast(g.sum(axis=tuple(range(2, g.ndim))), low)  # (each rounded)
    gb = np.zeros(g.shape[1], low)
    for row in per_sample.astype(np.float32):
        gb = dtypes.cast(gb.astype(np.float32) + row, low)
    return gb


def _conv_bias_grad_vjp(c, u):
    # the bias gradient sums g over all but the channels: u spread back over them
    shape = (1, -1) + (1,) * (len(c.shapes[0]) - 2)
    gg = u.reshape(shape).expand(c.shapes[0]) if c.needs[0] else None
    return gg, None, None


defop("convolution", _convolution, _conv_rule, _conv_vjp, node="ConvolutionBackward0",
      save=(0, 1), pack_order=(0, 1), saved_names={"input": 0, "weight": 1}, sharding="batch",
      layout_rule=layout.convolution_format)
defop("conv_input_grad", _input_grad_forward,
      lambda g, w, _x, input_size, **_: Meta((g.shape[0],) + tuple(input_size[1:]), g.dtype),
      _conv_input_grad_vjp, node="ConvolutionBackwardBackward0", save=(0, 1),
      layout_rule=layout.convolution_input_grad_format)
defop("conv_weight_grad", _weight_grad_forward,
      lambda g, x, _w, weight_size, **_: Meta(tuple(weight_size), g.dtype),
      _conv_weight_grad_vjp, node="ConvolutionBackwardBackward0", save=(0, 1))
defop("conv_bias_grad", _conv_bias_grad, lambda g, _x, _w, **_: Meta((g.shape[1],), g.dtype),
      _conv_bias_grad_vjp, node="ConvolutionBackwardBackward0")


# ---- pooling over the last two or three dims (the kernel's length says which) -------------

def _pool_geometry(shape, kernel, stride, padding, dilation, ceil_mode):
    n = len(kernel)
    return tuple(out_size(shape[-n + d], kernel[d], stride[d], padding[d], dilation[d], ceil_mode)
                 for d in range(n))


def _pool_rule(name):
    """The output Meta of a max or average pool over the last 2 or 3 dims, after torch's
    checks in its order: the input's rank, each dim's pooling_output_shape, then its
    pool{n}d_shape_check."""
    def rule(x, kernel, stride, padding, dilation=None, ceil_mode=False, divisor_override=None,
             **_):
        n = len(kernel)
        dilation = dilation or (1,) * n
        if name.startswith("avg") and n == 2:
            if divisor_override == 0:
                raise RuntimeError("divisor must be not zero")
            wrap_dim_of_some(-3, x.ndim)  # (torch's kernel reads the channels as size(-3))
        elif x.ndim not in (n + 1, n + 2):
            raise RuntimeError(f"non-empty {n + 1}D or {n + 2}D (batch mode) tensor expected "
                               "for input")
        elif divisor_override == 0:
            raise RuntimeError("divisor must be not zero")
        for k, st, p, d in zip(kernel, stride, padding, dilation):
            _check_pooling_output_shape(k, st, p, d)
        out = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
        (_pool2d_shape_check if n == 2 else _pool3d_shape_check)(
            name, x.shape, kernel, stride, padding, dilation, out)
        return Meta(tuple(x.shape[:-n]) + out, x.dtype)

    return rule


def _c_div(a: int, b: int) -> int:
    """a / b as C's integers divide: toward zero."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _check_pooling_output_shape(kernel, stride, pad, dilation) -> None:
    """torch's pooling_output_shape checks of one dim."""
    if stride == 0:
        raise RuntimeError("stride should not be zero")
    if pad < 0:
        raise RuntimeError(f"pad must be non-negative, but got pad: {pad}")
    if pad > _c_div((kernel - 1) * dilation + 1, 2):
        raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                           f"pad={pad}, kernel_size={kernel} and dilation={dilation}")


def _per_axis(prefix: str, values) -> str:
    """torch's naming of a pool's per-dim values: 'kT: 2 kH: 2 kW: 2'."""
    axes = "THW"[3 - len(values):]
    return " ".join(f"{prefix}{a}: {v}" for a, v in zip(axes, values))


def _check_positive_geometry(kernel, stride, dilation) -> None:
    if min(kernel) <= 0:
        raise RuntimeError("kernel size should be greater than zero, but got "
                           + _per_axis("k", kernel))
    if min(stride) <= 0:
        raise RuntimeError("stride should be greater than zero, but got "
                           + _per_axis("d", stride))
    if min(dilation) <= 0:
        raise RuntimeError("dilation should be greater than zero, but got "
                           + _per_axis("dilation", dilation))


def _output_too_small(shape, out) -> RuntimeError:
    n = len(out)
    planes = shape[-n - 1]
    return RuntimeError(f"Given input size: ({'x'.join(map(str, shape[-n - 1:]))}). "
                        f"Calculated output size: ({'x'.join(map(str, (planes,) + out))}). "
                        "Output size is too small")


def _pool2d_shape_check(_name, shape, kernel, stride, padding, dilation, out) -> None:
    _check_positive_geometry(kernel, stride, dilation)
    valid = shape[-3] != 0 and shape[-2] != 0 and shape[-1] != 0
    if not (valid and (len(shape) == 4 or len(shape) == 3)):
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with optional 0 dim batch "
                           f"size for input, but got:{_dims(shape)}")
    (k_h, k_w), (p_h, p_w) = kernel, padding
    if k_w // 2 < p_w or k_h // 2 < p_h:
        raise RuntimeError(f"pad should be smaller than or equal to half of kernel size, but got "
                           f"padW = {p_w}, padH = {p_h}, kW = {k_w}, kH = {k_h}")
    if min(out) < 1:
        raise _output_too_small(shape, out)


def _pool3d_shape_check(name, shape, kernel, stride, padding, dilation, out) -> None:
    _check_positive_geometry(kernel, stride, dilation)
    where = "avg_pool3d()" if name.startswith("avg") else \
        "max_pool3d_with_indices_out_cpu_template()"
    for i, size in enumerate(shape):
        if size <= 0 and not (len(shape) == 5 and i == 0):
            raise RuntimeError(f"{where}: Expected input's non-batch dimensions to have positive "
                               f"length, but input has a shape of {_dims(shape)} and non-batch "
                               f"dimension {size} has length zero!")
    (k_t, k_h, k_w), (p_t, p_h, p_w) = kernel, padding
    if name.startswith("avg") and any(s < k for s, k in zip(shape[-3:], kernel)):
        # (torch compares the unpadded input with the kernel)
        t, h, w = shape[-3:]
        raise RuntimeError(f"input image (T: {t} H: {h} W: {w}) smaller than kernel size "
                           f"(kT: {k_t} kH: {k_h} kW: {k_w})")
    if k_t // 2 < p_t or k_w // 2 < p_w or k_h // 2 < p_h:
        raise RuntimeError(f"pad should be smaller than or equal to half of kernel size, but got "
                           f"kT: {k_t} kW: {k_w} kH: {k_h} padT: {p_t} padW: {p_w} padH: {p_h}")
    if min(out) < 1:
        raise _output_too_small(shape, out)


def _first_max(win):
    """The maximum over the last dim and where it is, as torch's pooling picks it: the
    first maximum, and the last NaN (a NaN always replaces the maximum)."""
    nan = np.isnan(win)
    last_nan = win.shape[-1] - 1 - nan[..., ::-1].argmax(-1)
    arg = np.where(nan.any(-1), last_nan, win.argmax(-1))
    return np.take_along_axis(win, arg[..., None], -1)[..., 0], arg


def _max_pool(x, kernel, stride, padding, dilation=None, ceil_mode=False):
    """torch's scan of each window in kernel order: a larger value, or any NaN, takes the
    place (so the first maximum, the last NaN); an all-lowest window answers its first
    position inside the input. One pass per kernel offset over the whole output."""
    n = len(kernel)
    dilation = dilation or (1,) * n
    out = _pool_geometry(x.shape, kernel, stride, padding, dilation, ceil_mode)
    lowest = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min
    xp = _padded(x, n, padding, out, kernel, stride, dilation, value=lowest)
    win = _windows(xp, n, out, kernel, stride, dilation)  # (..., *out, *kernel), a view
    plane = x.shape[-n:]
    starts = [np.arange(out[d]) * stride[d] - padding[d] for d in range(n)]
    # the first position of each window inside the input (past the padding, by dilations)
    first = [s + -(np.minimum(s, 0) // dilation[d]) * dilation[d] for d, s in enumerate(starts)]
    values = np.full(x.shape[:-n] + out, lowest, x.dtype)
    index = np.broadcast_to(_flat_index(first, plane), values.shape).astype(np.int64)
    with_nan = x.dtype.kind == "f" and bool(np.isnan(x).any())
    for k in np.ndindex(*kernel):
        v = win[(Ellipsis,) + k]
        take = v > values
        if with_nan:
            take |= np.isnan(v)
        np.copyto(values, v, where=take)
        at = _flat_index([starts[d] + k[d] * dilation[d] for d in range(n)], plane)
        np.copyto(index, np.broadcast_to(at, index.shape), where=take)
    return values, index


def _flat_index(positions, plane):
    """The flat index in `plane` of the grid of per-dim positions (each a 1-D array)."""
    n = len(plane)
    index = 0
    for d in range(n):
        index = index * plane[d] + positions[d].reshape((-1,) + (1,) * (n - 1 - d))
    return index


def _max_pool_vjp(c, g, _):
    # (the backward takes self with the indices, as torch's: see _zeros_like_input)
    adaptive = "output_size" in c.attrs
    n = len(c.attrs["output_size"] if adaptive else c.attrs["kernel"])
    name = f"adaptive_max_pool{n}d_backward" if adaptive else f"max_pool{n}d_with_indices_backward"
    return call(name, g, c[0], c.outs[0], n=n)  # (the indices, the one output saved)


def _max_pool_backward(g, x, idx, n):
    """g added into a zero input at each window's maximum (the indices flat over the plane)."""
    from .shape import _scatter_dim

    lead = x.shape[:-n]
    plane = lead + (math.prod(x.shape[-n:]),)
    flat = _scatter_dim(merge_trailing(g, len(lead)), merge_trailing(idx, len(lead)), -1, plane)
    return flat.reshape(x.shape)


def _max_pool_backward_vjp(c, gg):
    # torch's max_pool_double_backward: gg read back at each window's maximum
    n = c.attrs["n"]
    g_shape = c.shapes[0]
    flat, idx = merge_trailing(gg, len(g_shape) - n), merge_trailing(c[2], len(g_shape) - n)
    return (call("take_along_dim", flat, idx, dim=flat.ndim - 1).reshape(*g_shape)
            if c.needs[0] else None), _zeros_like_input(c, gg), None


def _zeros_like_input(c, gg):
    """The gradient a pooling backward gives the input it takes (torch's zeros_like(self)):
    under create_graph the pool's gradient requires grad when its input does, as torch's."""
    return zeros_grad(c.shapes[1], c.dtypes[1], gg.device_str) if c.needs[1] else None


def _max_pool_rule(x, kernel, stride, padding, dilation=None, ceil_mode=False):
    m = _pool_rule(f"max_pool{len(kernel)}d")(x, kernel, stride, padding, dilation, ceil_mode)
    return m, Meta(m.shape, dtypes.int64)


for _n in (2, 3):
    defop(f"max_pool{_n}d_with_indices", _max_pool, _max_pool_rule, _max_pool_vjp,
          node=f"MaxPool{_n}DWithIndicesBackward0", n_out=2, nondiff_outputs=(1,),
          save=(0,), save_out=(1,), sharding="batch", layout_rule=layout.in_suggested_format)
    # (the gradient's layout as torch's kernels give it: see layout.in_input_format)
    for _name, _node, _layout in (
            (f"max_pool{_n}d_with_indices_backward", f"MaxPool{_n}DWithIndices",
             layout.in_input_format),
            (f"adaptive_max_pool{_n}d_backward", f"AdaptiveMaxPool{_n}D",
             layout.in_input_2d_format),
            (f"fractional_max_pool{_n}d_backward", f"FractionalMaxPool{_n}D", None)):
        defop(_name, _max_pool_backward, lambda g, x, idx, n: Meta(tuple(x.shape), g.dtype),
              _max_pool_backward_vjp, node=f"{_node}BackwardBackward0", save=(2,),
              differentiable=(0, 1), layout_rule=_layout)


# ---- fractional max pooling (Graham): windows placed by a random sample per plane and dim ---

def _fractional_intervals(sample, input_size: int, output_size: int, pool_size: int):
    """torch's generate_intervals, in the input's dtype: each window's first position."""
    t = type(sample)
    sequence = np.empty(output_size, np.int64)
    if output_size > 1:
        alpha = t(input_size - pool_size) / t(output_size - 1)
        for i in range(output_size - 1):
            sequence[i] = int((t(i) + sample) * alpha) - int(sample * alpha)
    if output_size > 0:
        sequence[output_size - 1] = input_size - pool_size
    return sequence


# Which of a plane's samples places the windows along each spatial dim (torch's kernels: in 2d
# the first is the width's, in 3d the time's).
_SAMPLE_OF = {2: (1, 0), 3: (0, 1, 2)}


def _fractional_max_pool(x, samples, kernel, output_size):
    """Each output's window of `kernel` from the intervals of its plane's samples (torch's:
    the first maximum, the last NaN)."""
    n = len(kernel)
    batched = x.ndim == n + 2
    xb = x if batched else x[None]
    out = np.empty(xb.shape[:2] + tuple(output_size), x.dtype)
    index = np.empty(out.shape, np.int64)
    spatial = xb.shape[2:]
    for b, c in np.ndindex(*xb.shape[:2]):
        plane = xb[b, c].reshape(-1)
        starts = [_fractional_intervals(samples[b, c, _SAMPLE_OF[n][d]], spatial[d],
                                        output_size[d], kernel[d]) for d in range(n)]
        # every window's flat positions: (*output_size, prod(kernel))
        at = 0
        for d in range(n):
            pos = starts[d][:, None] + np.arange(kernel[d])  # (out_d, k_d)
            shape = [1] * (2 * n)
            shape[d], shape[n + d] = output_size[d], kernel[d]
            at = at * spatial[d] + pos.reshape(shape)
        at = at.reshape(tuple(output_size) + (-1,))
        values = plane[at]
        pick = np.argmax(values, axis=-1)
        nan = np.isnan(values)
        last_nan = values.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
        pick = np.where(nan.any(-1), last_nan, pick)
        index[b, c] = np.take_along_axis(at, pick[..., None], -1)[..., 0]
        out[b, c] = np.take_along_axis(values, pick[..., None], -1)[..., 0]
    return (out, index) if batched else (out[0], index[0])


def _fractional_max_pool_rule(x, samples, kernel, output_size):
    shape = tuple(x.shape[:-len(kernel)]) + tuple(output_size)
    return Meta(shape, x.dtype), Meta(shape, dtypes.int64)


def _fractional_max_pool_vjp(c, g, _):
    n = len(c.attrs["kernel"])
    return call(f"fractional_max_pool{n}d_backward", g, c[0], c.outs[0], n=n), None


for _n in (2, 3):
    defop(f"fractional_max_pool{_n}d", _fractional_max_pool, _fractional_max_pool_rule,
          _fractional_max_pool_vjp, node=f"FractionalMaxPool{_n}DBackward0", n_out=2,
          nondiff_outputs=(1,), save=(0,), save_out=(1,), differentiable=(0,))


# ---- max unpooling: each value put back at its max pooling index, zeros elsewhere -------------

def _max_unpool(x, indices, output_size):
    n = len(output_size)
    lead, plane = x.shape[:-n], math.prod(output_size)
    flat_index = merge_trailing(indices, len(lead))
    _check_unpool_indices(x, indices, plane, output_size)
    out = np.zeros(lead + (plane,), x.dtype)
    np.put_along_axis(out, flat_index, merge_trailing(x, len(lead)), axis=-1)
    return out.reshape(lead + tuple(output_size))


def _check_unpool_indices(x, indices, plane, output_size) -> None:
    """torch's error for an index outside the output: the last one its kernel's scan meets
    (channels innermost for a channels-last input)."""
    itemsize = x.dtype.itemsize
    channels_last = x.ndim == 4 and layout.suggested_format(
        x.shape, [st // itemsize for st in x.strides]) == "channels_last"
    scan = indices.transpose(0, 2, 3, 1) if channels_last else indices
    bad = scan[(scan < 0) | (scan >= plane)]
    if bad.size:
        raise RuntimeError(f"Found an invalid max index: {bad.flat[-1]} (output volumes are of "
                           f"size {'x'.join(map(str, output_size))})")


def _max_unpool_rule(x, indices, output_size):
    n = len(output_size)
    if tuple(indices.shape) != tuple(x.shape):
        raise RuntimeError(f"Expected shape of indices to be same as that of the input tensor "
                           f"({_dims(x.shape)}) but got indices tensor with shape: "
                           f"{_dims(indices.shape)}")
    if not x.dtype.is_floating_point:
        raise not_implemented(f"max_unpool{n}d", x.dtype)
    return Meta(tuple(x.shape[:-n]) + tuple(output_size), x.dtype)


def _max_unpool_vjp(c, g):
    # torch's max_pool_double_backward: g read back at each value's index
    n = len(c.attrs["output_size"])
    keep = len(c.shapes[0]) - n
    flat, idx = merge_trailing(g, keep), merge_trailing(c[1], keep)
    return call("take_along_dim", flat, idx, dim=flat.ndim - 1).reshape(*c.shapes[0]), None


defop("max_unpool", _max_unpool, _max_unpool_rule, _max_unpool_vjp,
      node=lambda inputs, attrs: f"MaxUnpool{len(attrs['output_size'])}DBackward0", save=(1,),
      differentiable=(0,), sharding="batch", layout_rule=layout.in_suggested_2d_format)


# ---- adaptive max pooling: each window's maximum, picked as max pooling picks it ------------

def window_bounds(size: int, out: int) -> list:
    """torch's adaptive windows: output i reads input [⌊i·size/out⌋, ⌈(i+1)·size/out⌉)."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _adaptive_max_pool(x, output_size):
    n = len(output_size)
    spatial, lead = x.shape[-n:], x.shape[:-n]
    values = np.empty(lead + tuple(output_size), x.dtype)
    index = np.empty(lead + tuple(output_size), np.int64)
    bounds = [window_bounds(spatial[d], output_size[d]) for d in range(n)]
    for at in itertools.product(*[range(o) for o in output_size]):
        window = [bounds[d][i] for d, i in enumerate(at)]
        win = merge_trailing(x[(Ellipsis,) + tuple(slice(a, b) for a, b in window)], len(lead))
        values[(Ellipsis,) + at], arg = _first_max(win)
        where = np.unravel_index(arg, [b - a for a, b in window])
        flat = 0  # the maximum's index over the whole plane (or volume)
        for d, (a, _) in enumerate(window):
            flat = flat * spatial[d] + where[d] + a
        index[(Ellipsis,) + at] = flat
    return values, index


def _adaptive_max_pool_rule(x, output_size):
    shape = tuple(x.shape[:-len(output_size)]) + tuple(output_size)
    return Meta(shape, x.dtype), Meta(shape, dtypes.int64)


for _n in (2, 3):
    defop(f"adaptive_max_pool{_n}d", _adaptive_max_pool, _adaptive_max_pool_rule, _max_pool_vjp,
          node=f"AdaptiveMaxPool{_n}DBackward0", n_out=2, nondiff_outputs=(1,), save=(0,),
          save_out=(1,), sharding="batch", layout_rule=layout.in_suggested_2d_format)


def _avg_divisor(shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override,
                 out):
    if divisor_override:
        return float(divisor_override)
    n = len(kernel)
    counts = []
    for d in range(n):
        size = shape[-n + d]
        start = np.arange(out[d]) * stride[d] - padding[d]
        end = np.minimum(start + kernel[d], size + padding[d])
        if count_include_pad:
            counts.append(end - start)
        else:
            counts.append(np.minimum(end, size) - np.maximum(start, 0))
    return functools.reduce(np.multiply.outer, counts).astype(np.float64)


def _avg_pool(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
    n = len(kernel)
    out = _pool_geometry(x.shape, kernel, stride, padding, (1,) * n, ceil_mode)
    xp = _padded(x, n, padding, out, kernel, stride, (1,) * n)
    sums = _windows(xp, n, out, kernel, stride, (1,) * n).sum(axis=tuple(range(-n, 0)))
    div = _avg_divisor(x.shape, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override, out)
    return (sums / div).astype(x.dtype)


def _avg_pool_backward(g, _x, input_size, kernel, stride, padding, ceil_mode=False,
                       count_include_pad=True, divisor_override=None):
    n = len(kernel)
    out = tuple(g.shape[-n:])
    div = _avg_divisor(input_size, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override, out)
    # (float16 and bfloat16 given as they are, table.OWN_HALF: torch's kernel rounds each
    # output's share to the dtype and adds the shares up in it, the first output first)
    low = low_precision(g)
    share = ((g.astype(np.float32) / np.asarray(div, np.float32)) if low else g / div).astype(
        g.dtype)
    lead = share.shape[:-n]
    cols = np.broadcast_to(share.reshape(lead + (1,) * n + out), lead + tuple(kernel) + out)
    return _scatter_windows(cols, tuple(input_size), n, padding, out, kernel, stride, (1,) * n,
                            reverse=low)


_AVG_ATTRS = ("kernel", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")


def _avg_attrs(attrs) -> dict:
    return {k: attrs[k] for k in _AVG_ATTRS if k in attrs}


def _avg_pool_rule(x, kernel, stride, padding, ceil_mode=False, divisor_override=None, **_):
    return _pool_rule(f"avg_pool{len(kernel)}d")(x, kernel, stride, padding, None, ceil_mode,
                                                 divisor_override)


def _avg_pool_vjp(c, g):
    # (the backward takes self, as torch's: see _zeros_like_input)
    n = len(c.attrs["kernel"])
    return call(f"avg_pool{n}d_backward", g, c[0], input_size=list(c.shapes[0]),
                **_avg_attrs(c.attrs))


for _n in (2, 3):
    defop(f"avg_pool{_n}d", _avg_pool, _avg_pool_rule, _avg_pool_vjp,
          node=f"AvgPool{_n}DBackward0", save=(0,), sharding="batch",
          layout_rule=layout.in_suggested_2d_format)
    defop(f"avg_pool{_n}d_backward", _avg_pool_backward,
          lambda g, _x, input_size, **_: Meta(tuple(input_size), g.dtype),
          lambda c, gg, n=_n: (call(f"avg_pool{n}d", gg, **_avg_attrs(c.attrs))
                               if c.needs[0] else None, _zeros_like_input(c, gg)),
          node=f"AvgPool{_n}DBackwardBackward0", layout_rule=layout.in_input_2d_format)


# ---- adaptive average pooling: out = Ph x Pwᵀ with averaging matrices ----------------------------

def _averaging_matrix(size: int, out: int, dtype) -> np.ndarray:
    """Row i averages input window i (window_bounds)."""
    m = np.zeros((out, size), dtype)
    for i, (start, end) in enumerate(window_bounds(size, out)):
        m[i, start:end] = 1.0 / (end - start)
    return m


def _adaptive_rule(x, output_size):
    n = len(output_size)
    if x.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"adaptive_avg_pool{n}d(): Expected {n + 1}D or {n + 2}D tensor, but "
                           f"got {_dims(x.shape)}")
    for d in range(x.ndim - n, x.ndim):
        if x.shape[d] == 0:
            raise RuntimeError(f"adaptive_avg_pool{n}d(): Expected input to have non-zero size for "
                               f"non-batch dimensions, but input has sizes {_dims(x.shape)} with "
                               f"dimension {d} being empty")
    return Meta(tuple(x.shape[:-n]) + tuple(output_size), x.dtype)


def _averaged(x, sizes, transpose: bool = False):
    """x with each of its last len(sizes) dims multiplied by the averaging matrix from that
    dim's size to sizes[d] (its transpose with `transpose`: from sizes[d] to the dim's)."""
    n = len(sizes)
    finite = np.isfinite(x).all()
    for d in range(n):
        axis = x.ndim - n + d
        if not finite:
            x = _averaged_by_windows(x, axis, sizes[d], transpose)
            continue
        m = _averaging_matrix(sizes[d], x.shape[axis], x.dtype) if transpose else \
            _averaging_matrix(x.shape[axis], sizes[d], x.dtype).T
        x = np.moveaxis(np.matmul(np.moveaxis(x, axis, -1), m), -1, axis)
    return x


def _averaged_by_windows(x, axis: int, size: int, transpose: bool):
    """One dim of _averaged window by window, as torch's kernels: a nan or an inf reaches
    only the windows that hold it (the matrix's zeros would spread it over all)."""
    rows = np.moveaxis(x, axis, 0)
    if not transpose:
        windows = window_bounds(rows.shape[0], size)
        out = np.stack([rows[start:end].sum(0) / (end - start) for start, end in windows])
    else:
        out = np.zeros((size,) + rows.shape[1:], x.dtype)
        for i, (start, end) in enumerate(window_bounds(size, rows.shape[0])):
            out[start:end] += rows[i] / (end - start)
    return np.moveaxis(out.astype(x.dtype, copy=False), 0, axis)


def _adaptive(x, output_size):
    return _averaged(x, output_size)


def _adaptive_backward(n):
    def backward(g, _x, input_size):
        if low_precision(g):
            return _low_adaptive_backward(g, tuple(input_size[-n:]))
        return _averaged(g, tuple(input_size[-n:]), transpose=True)
    return backward


def _low_adaptive_backward(g, sizes):
    """The float16/bfloat16 kernel (given as they are, table.OWN_HALF): each output's share,
    its gradient divided by each window length in turn and rounded each time, added to its
    window's gradients in the dtype, output by output."""
    n = len(sizes)
    out = g.shape[-n:]
    bounds = [window_bounds(sizes[d], out[d]) for d in range(n)]
    result = np.zeros(g.shape[:-n] + sizes, g.dtype)
    for position in np.ndindex(*out):
        windows = [bounds[d][position[d]] for d in range(n)]
        share = g[(Ellipsis,) + position]
        for start, end in windows:
            share = (share.astype(np.float32) / np.float32(end - start)).astype(g.dtype)
        key = (Ellipsis,) + tuple(slice(start, end) for start, end in windows)
        result[key] += share.reshape(share.shape + (1,) * n)
    return result


def _adaptive_vjp(c, g):
    # (the backward takes self, as torch's: see _zeros_like_input)
    n = len(c.attrs["output_size"])
    return call(f"adaptive_avg_pool{n}d_backward", g, c[0], input_size=list(c.shapes[0]))


for _n in (2, 3):
    defop(f"adaptive_avg_pool{_n}d", _adaptive, _adaptive_rule, _adaptive_vjp,
          node=f"AdaptiveAvgPool{_n}DBackward0", save=(0,), sharding="batch",
          layout_rule=layout.in_suggested_2d_format)
    defop(f"adaptive_avg_pool{_n}d_backward", _adaptive_backward(_n),
          lambda g, _x, input_size: Meta(tuple(input_size), g.dtype),
          lambda c, gg, n=_n: (call(f"adaptive_avg_pool{n}d", gg,
                                    output_size=list(c.shapes[0][-n:]))
                               if c.needs[0] else None, _zeros_like_input(c, gg)),
          node=f"AdaptiveAvgPool{_n}DBackwardBackward0", layout_rule=layout.in_input_2d_format)
