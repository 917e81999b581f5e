"""The transposed convolution (torch's `convolution(..., transposed=True)`, node
ConvolutionBackward0): the adjoint of a convolution in its input, i.e. ops/conv.py's
conv_input_grad applied to the input, plus a bias. Its VJP is made of the convolution and
its weight gradient, so gradients of gradients come as for a convolution."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.record import call
from . import layout
from .conv import (_conv_input_grad, _conv_rule, _convolution, _dims, as_float32,
                   check_conv_params, check_dilation, check_weight_groups, slow_kernel_dtype,
                   thnn_channels_last)
from .rules import not_implemented, require_scalar_type
from .table import Meta, defop


def transposed_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                    output_padding: int) -> int:
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def _geometry(x_shape, w_shape, groups, stride, padding, dilation, output_padding):
    spatial = len(w_shape) - 2
    out = tuple(transposed_size(x_shape[2 + d], w_shape[2 + d], stride[d], padding[d],
                                dilation[d], output_padding[d]) for d in range(spatial))
    return (x_shape[0], w_shape[1] * groups) + out


def _per_dimension(output_padding, stride, dilation) -> str:
    """ "output_padding_height: 1 output_padding_width: 2 stride_height: ..." as ATen names
    them; it runs a 1-d transposed convolution as a 2-d one of height 1 (padding 0, stride
    and dilation 1)."""
    names = ("depth", "height", "width")[-max(len(stride), 2):]
    one_d = len(stride) == 1
    parts = []
    for label, values, lead in (("output_padding", output_padding, 0), ("stride", stride, 1),
                                ("dilation", dilation, 1)):
        values = (lead, *values) if one_d else tuple(values)
        parts += [f"{label}_{name}: {v}" for name, v in zip(names, values)]
    return " ".join(parts)


def _rule(x, w, b, stride, padding, dilation, groups, output_padding):
    spatial = w.ndim - 2
    if x.ndim != w.ndim:
        raise RuntimeError(f"Expected {w.ndim}D (batched) input to conv_transpose{spatial}d, but "
                           f"got input of size: {_dims(x.shape)}")
    check_conv_params(groups, stride, padding, output_padding)
    check_weight_groups(w.shape, groups)
    if x.shape[1] != w.shape[0]:
        raise RuntimeError(f"Given transposed=1, weight of size {_dims(w.shape)}, expected "
                           f"input{_dims(x.shape)} to have {w.shape[0]} channels, but got "
                           f"{x.shape[1]} channels instead")
    out_channels = w.shape[1] * groups
    if b is not None and tuple(b.shape) != (out_channels,):
        raise RuntimeError(f"Given transposed=1, weight of size {_dims(w.shape)}, expected bias "
                           f"to be 1-dimensional with {out_channels} elements, but got bias of "
                           f"size {_dims(b.shape)} instead")
    check_dilation(dilation)  # (torch's oneDNN kernel fails, in its own words)
    if any(p >= max(s, d) for p, s, d in zip(output_padding, stride, dilation)):
        raise RuntimeError("output padding must be smaller than either stride or dilation, but "
                           f"got {_per_dimension(output_padding, stride, dilation)}")
    shape = _geometry(x.shape, w.shape, groups, stride, padding, dilation, output_padding)
    if min(shape[2:]) <= 0:
        raise RuntimeError(f"Given input size per channel: ({' x '.join(map(str, x.shape[2:]))})"
                           f". Calculated output size per channel: "
                           f"({' x '.join(map(str, shape[2:]))}). Output size is too small")
    # (its kernel's dtypes first, then its check of the weight's; a bias of another dtype
    # is added in x's, but oneDNN's kernel refuses it)
    if not x.dtype.is_floating_point and x.dtype is not dtypes.int64:
        raise not_implemented(f"slow_conv_transpose{max(spatial, 2)}d_out_cpu", x.dtype)
    require_scalar_type(x.dtype, w)
    if b is not None and b.dtype is not x.dtype and layout.uses_mkldnn(
            x.shape, w.shape, {"stride": stride, "dilation": dilation, "groups": groups,
                               "output_padding": output_padding}, x.dtype):
        raise RuntimeError(f"Input type ({_legacy_name(x.dtype)}) and bias type "
                           f"({_legacy_name(b.dtype)}) should be the same or input should be a "
                           "MKLDNN tensor and bias is a dense tensor")
    return Meta(shape, x.dtype)


def _legacy_name(dtype) -> str:
    """A CPU tensor's type as torch's oneDNN convolution names it (Tensor::toString)."""
    return "CPUBFloat16Type" if dtype is dtypes.bfloat16 else dtype.type_name


def _forward(x, w, b, stride, padding, dilation, groups, output_padding):
    shape = _geometry(x.shape, w.shape, groups, stride, padding, dilation, output_padding)
    geo = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    low = slow_kernel_dtype(x.dtype, x.shape, w.shape, {**geo, "output_padding": output_padding})
    reverse = low is not None and thnn_channels_last(x, w)
    x, w, b = as_float32(x, w, b)
    y = _conv_input_grad(x, w, shape, low=low, reverse=reverse, **geo)
    if b is not None:  # (added in float32, rounded once)
        y = y.astype(x.dtype) + b.reshape((1, -1) + (1,) * (y.ndim - 2))
    return np.ascontiguousarray(y, dtype=low or x.dtype)


def _vjp(c, g):
    # y = Gx(x, w): <g, Gx(x, w)> = <conv(g, w), x>, and its weight gradient conv_weight_grad
    geo = {k: c.attrs[k] for k in ("stride", "padding", "dilation", "groups")}
    gx = call("conv_transpose_input_grad", g, c[1], c[0], **geo) if c.needs[0] else None
    gw = call("conv_weight_grad", c[0], g, c[1], weight_size=list(c.shapes[1]),
              transposed=True, **geo) if c.needs[1] else None
    gb = call("conv_bias_grad", g, c[0], c[1]) if c.needs[2] else None
    return gx, gw, gb


defop("conv_transpose", _forward, _rule, _vjp, node="ConvolutionBackward0", save=(0, 1),
      sharding="batch", layout_rule=layout.convolution_format)


def _input_grad_vjp(c, u):
    # the input gradient is conv(g, w): its own VJP, with nothing for the input it takes unread
    geo = {k: c.attrs[k] for k in ("stride", "padding", "dilation", "groups")}
    gg = call("conv_input_grad", u, c[1], None, input_size=list(c.shapes[0]), **geo) \
        if c.needs[0] else None
    gw = call("conv_weight_grad", u, c[0], None, weight_size=list(c.shapes[1]), **geo) \
        if c.needs[1] else None
    return gg, gw, None


# (Takes the input too, unread, as torch's convolution_backward: under create_graph the
# gradient requires grad when the input does.)
defop("conv_transpose_input_grad", lambda g, w, _x, **geo: _convolution(g, w, None, **geo),
      lambda g, w, _x, **geo: _conv_rule(g, w, None, **geo), _input_grad_vjp,
      node="ConvolutionBackwardBackward0", save=(0, 1),
      layout_rule=layout.convolution_input_grad_format)
