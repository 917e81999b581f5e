"""More layers of nn.functional: transposed and 3-D convolution, fold/unfold, 1-D and adaptive
max pooling (and torch's *_with_indices names), max unpooling, LP pooling,
group/instance/local-response norm, PReLU, GLU, RReLU, alpha dropout, gumbel_softmax,
bilinear, embedding_bag, interpolate (and its deprecated upsample names), and F.pad's
reflect, replicate and circular modes.

The transposed convolution (ops/conv_transpose.py), interpolate and the reflect/replicate
pads (ops/resample.py's resample), fold/unfold (im2col/col2im), prelu and glu
(ops/activations_more.py) and group_norm (ops/group_norm.py) are one op each, with torch's node names. The rest are composed of differentiable ops, as torch's Python does or
with its kernel's formula: values and gradients are torch's, the grad_fn is the last step's.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional

import numpy as np

from .. import dtypes, layouts
from ..autograd.grad_mode import no_grad
from ..autograd.record import call
from ..autograd.saved_args import note_given
from ..ops import layout
from ..ops.api import in_place
from ..ops.conv import out_size
from ..ops.rules import not_implemented, scalar_types_error, wrap_dim_of_some
from ..tensor import Tensor
from . import functional as _F
from .conv import _ntuple
from .functional import _tuple

__all__ = ["conv3d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold", "max_pool1d",
           "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d", "adaptive_max_pool2d",
           "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
           "max_unpool1d", "max_unpool2d", "max_unpool3d", "lp_pool1d", "lp_pool2d", "lp_pool3d",
           "group_norm",
           "instance_norm", "local_response_norm", "prelu", "glu", "rrelu", "alpha_dropout",
           "feature_alpha_dropout", "bilinear", "embedding_bag", "interpolate", "upsample"]
__all__ += ["conv_transpose3d"]
__all__ += ["rrelu_", "gumbel_softmax", "upsample_nearest", "upsample_bilinear",
            "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
            "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
            "adaptive_max_pool3d_with_indices", "fractional_max_pool2d", "fractional_max_pool3d",
            "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices"]


def home(t: Tensor) -> str:
    """Where constants for an op on t go: t's device, or the driver for a sharded t (the op
    then combines them with its shards)."""
    return "cpu" if getattr(t, "placements", None) else t.device_str


def _index(values, like: Tensor) -> Tensor:
    from ..creation import tensor

    return tensor(np.asarray(values, np.int64), device=home(like))


# ---- convolution ---------------------------------------------------------------------------------

@_F.parsed_as_conv
def conv3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    return _F._conv(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(n, input, weight, bias, stride, padding, output_padding, groups, dilation):
    unbatched = input.ndim == n + 1
    if unbatched:
        input = input.unsqueeze(0)
    out = call("conv_transpose", input, weight, bias, stride=list(_tuple(stride, n, "stride")),
               padding=list(_tuple(padding, n, "padding")),
               dilation=list(_tuple(dilation, n, "dilation")), groups=int(groups),
               output_padding=list(_tuple(output_padding, n, "output_padding")))
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


# ---- fold / unfold: im2col and col2im (ops/resample.py) ------------------------------------------

def _pair(value, name):
    return _tuple(value, 2, name)


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C, H, W) -> (N, C·kh·kw, L): every sliding block as a column."""
    kernel, dil = _pair(kernel_size, "kernel_size"), _pair(dilation, "dilation")
    pad, st = _pair(padding, "padding"), _pair(stride, "stride")
    _check_window_geometry(kernel, dil, pad, st, ("kernel", "dilation", "padding", "stride"))
    shape = input.shape
    # (torch reads sizes 1 and 2 before it checks the rank: IndexError for fewer dims)
    valid = shape[wrap_dim_of_some(1, input.ndim)] and shape[wrap_dim_of_some(2, input.ndim)]
    if not ((input.ndim == 3 and shape[0] and valid) or (input.ndim == 4 and valid and shape[3])):
        raise RuntimeError("Expected 3D or 4D (batch mode) tensor with possibly 0 batch size and "
                           f"other non-zero dimensions for input, but got: {list(shape)}")
    if input.dtype.category == 1:  # (torch's im2col takes bool and floating dtypes)
        raise not_implemented("im2col_out_cpu", input.dtype)
    return call("im2col", input, kernel=list(kernel), dilation=list(dil), padding=list(pad),
                stride=list(st))


_WINDOW_CHECKS = {
    "kernel": ("kernel size should be greater than zero", "kernel_height", "kernel_width", 1),
    "dilation": ("dilation should be greater than zero", "dilation_height", "dilation_width", 1),
    "padding": ("padding should be non-negative", "pad_height", "pad_width", 0),
    "stride": ("stride should be greater than zero", "stride_height", "stride_width", 1)}


def _check_window_geometry(kernel, dilation, padding, stride, order) -> None:
    """torch's im2col / col2im shape checks of the sliding blocks' geometry, in the order
    each makes them."""
    values = {"kernel": kernel, "dilation": dilation, "padding": padding, "stride": stride}
    for what in order:
        words, height, width, least = _WINDOW_CHECKS[what]
        h, w = values[what]
        if min(h, w) < least:
            raise RuntimeError(f"{words}, but got {height}: {h} {width}: {w}")


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """(N, C·kh·kw, L) -> (N, C, H, W): the columns summed back into place (unfold's
    adjoint)."""
    size, kernel = _pair(output_size, "output_size"), _pair(kernel_size, "kernel_size")
    dil, pad, st = _pair(dilation, "dilation"), _pair(padding, "padding"), _pair(stride, "stride")
    _check_window_geometry(kernel, dil, pad, st, ("kernel", "stride", "dilation", "padding"))
    shape = input.shape
    if not ((input.ndim == 2 and shape[0] and shape[1])
            or (input.ndim == 3 and shape[1] and shape[2])):
        raise RuntimeError("Expected 2D or 3D (batch mode) tensor for input with possibly 0 "
                           f"batch size and non-zero dimensions for input, but got: {list(shape)}")
    x = input if input.ndim == 3 else input.unsqueeze(0)
    kk = math.prod(kernel)
    if x.shape[1] % kk:
        raise RuntimeError(f"Expected size of input's dimension 1 to be divisible by the product "
                           f"of kernel_size, but got input.size(1)={x.shape[1]} and "
                           f"kernel_size=({kernel[0]}, {kernel[1]}).")
    blocks = [(size[d] + 2 * pad[d] - dil[d] * (kernel[d] - 1) - 1) // st[d] + 1
              for d in range(2)]
    if blocks[0] * blocks[1] != x.shape[2]:
        raise RuntimeError(
            f"Given output_size=({size[0]}, {size[1]}), kernel_size=({kernel[0]}, {kernel[1]}), "
            f"dilation=({dil[0]}, {dil[1]}), padding=({pad[0]}, {pad[1]}), stride=({st[0]}, "
            f"{st[1]}), expected size of input's dimension 2 to match the calculated number of "
            f"sliding blocks {blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}, but got "
            f"input.size(2)={x.shape[2]}.")
    if min(blocks) < 1:
        raise RuntimeError(
            f"Given output_size=({size[0]}, {size[1]}), kernel_size=({kernel[0]}, {kernel[1]}), "
            f"dilation=({dil[0]}, {dil[1]}), padding=({pad[0]}, {pad[1]}), stride=({st[0]}, "
            f"{st[1]}), calculated shape of the array of sliding blocks as ({blocks[0]}, "
            f"{blocks[1]}), which is too small (non-positive)")
    if min(size) < 1:
        raise RuntimeError(f"Expected output spatial size to be positive, but got: output_size="
                           f"({size[0]}, {size[1]}).")
    if input.dtype.category == 1:  # (torch's col2im takes bool and floating dtypes)
        raise not_implemented("col2im_out_cpu", input.dtype)
    return call("col2im", input, output_size=list(size), kernel=list(kernel),
                dilation=list(dil), padding=list(pad), stride=list(st))


# ---- pooling -------------------------------------------------------------------------------------

def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """max_pool2d over (…, 1, L): its indices are the positions along L. Without indices,
    torch checks the arguments as max_pool1d's own kernel does first."""
    if return_indices:
        _check_dim_range(input, "max_pool1d")
    else:
        _check_max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode)
    k = _one_int("max_pool1d", "kernel_size", kernel_size)
    s = k if stride is None or stride == [] else _one_int("max_pool1d", "stride", stride)
    out, idx = _F.max_pool2d(input.unsqueeze(-2), (1, k), (1, s),
                             (0, _one_int("max_pool1d", "padding", padding)),
                             (1, _one_int("max_pool1d", "dilation", dilation)), ceil_mode, True)
    out = out.squeeze(-2)
    return (out, idx.squeeze(-2)) if return_indices else out


def _one_int(op: str, name: str, value) -> int:
    """An argument torch's parser takes as one int (an int or a sequence of one)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise RuntimeError(f"{op}() argument '{name}' should contain one int (got "
                               f"{len(value)})")
        value = value[0]
    return int(value)


def _check_dim_range(input: Tensor, op: str) -> None:
    if input.ndim not in (2, 3):
        raise RuntimeError(f"Expected 2 to 3 dimensions, but got {input.ndim}-dimensional tensor "
                           f"for argument #1 'self' (while checking arguments for {op})")


_MAX_POOL1D_ARGUMENT = {"kernel_size": "an int, list of ints",
                        "stride": "None, an int, list of ints,",
                        "padding": "an int, list of ints,", "dilation": "an int, list of ints"}


def _check_max_pool1d(input: Tensor, kernel_size, stride, padding, dilation, ceil_mode) -> None:
    """torch's checks of max_pool1d without indices, in its order."""
    shape = input.shape
    if not (input.ndim in (2, 3) and 0 not in shape[-2:]):
        raise RuntimeError("max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 "
                           f"dim batch size for input, but got:{list(shape)}")
    values = {}
    for name, value in (("kernel_size", kernel_size), ("stride", stride), ("padding", padding),
                        ("dilation", dilation)):
        value = [] if value is None else list(value) if isinstance(value, (tuple, list)) \
            else [value]
        if len(value) != 1 and not (name == "stride" and not value):
            raise RuntimeError(f"max_pool1d() {name} must be {_MAX_POOL1D_ARGUMENT[name]} or "
                               f"tuple of ints of size 1 but got size {len(value)}")
        values[name] = value
    k, p, d = values["kernel_size"][0], values["padding"][0], values["dilation"][0]
    s = (values["stride"] or [k])[0]
    for what, bad, value in (("kernel_size must be greater than zero", k <= 0, k),
                             ("stride must be greater than zero", s <= 0, s),
                             ("padding must be non-negative", p < 0, p)):
        if bad:
            raise RuntimeError(f"max_pool1d() {what}, but got {value}")
    if p > k // 2:
        raise RuntimeError("max_pool1d() padding should be at most half of kernel size, but got "
                           f"padding={p} and kernel_size={k}")
    if d <= 0:
        raise RuntimeError(f"max_pool1d() dilation must be greater than zero, but got {d}")
    length = out_size(shape[-1], k, s, p, d, ceil_mode)
    if length <= 0:
        raise RuntimeError(f"max_pool1d() Invalid computed output size: {length}")
    if not input.requires_grad:  # (torch's own kernel, floating dtypes only)
        _F.check_pool_dtype("max_pool1d_impl", input.dtype)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """avg_pool2d over a height of 1, squeezed back, as torch computes it (SqueezeBackward1)."""
    k = _one_int("avg_pool1d", "kernel_size", kernel_size)
    s = k if stride is None or stride == [] else _one_int("avg_pool1d", "stride", stride)
    p = _one_int("avg_pool1d", "padding", padding)
    _check_dim_range(input, "avg_pool1d")
    return _F.avg_pool2d(input.unsqueeze(-2), (1, k), (1, s), (0, p), ceil_mode,
                         count_include_pad).squeeze(-2)


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """adaptive_avg_pool2d over a height of 1, squeezed back, as torch's (the mean when the
    size is 1)."""
    size = _one_int("adaptive_avg_pool1d", "output_size", output_size)
    _check_dim_range(input, "adaptive_avg_pool1d")
    return _F.adaptive_avg_pool2d(input.unsqueeze(-2), [1, size]).squeeze(-2)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """The max of each adaptive window (torch's bounds: [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉)), the
    gradient to the first maximum; indices count over the flattened (H, W) plane."""
    return _adaptive_max_pool(2, input, output_size, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """adaptive_max_pool2d over (T, H, W): indices count over the flattened volume."""
    return _adaptive_max_pool(3, input, output_size, return_indices)


def _adaptive_max_pool(n: int, input: Tensor, output_size, return_indices: bool):
    """torch's adaptive_max_pool{n}d, its checks in its order."""
    size = _F.adaptive_output_size(input, output_size, n)
    name = f"adaptive_max_pool{n}d()"
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"{name}: Expected {n + 1}D or {n + 2}D tensor, but got: "
                           f"{list(input.shape)}")
    for d in range(1, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{name}: Expected input to have non-zero size for non-batch "
                               f"dimensions, but input has sizes {list(input.shape)} with "
                               f"dimension {d} being empty")
    if len(size) != n:
        raise RuntimeError(f"{name}: internal error: output_size.size() must be {n}")
    if min(size) < 0:
        shape = list(input.shape[:-n]) + size
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(size)}: "
                           f"{shape}")
    _F.check_pool_dtype("adaptive_max_pool2d" if n == 2 else "adaptive_max_pool3d_cpu",
                        input.dtype)
    out, indices = call(f"adaptive_max_pool{n}d", input, output_size=size)
    return (out, indices) if return_indices else out


def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    return _F._max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode,
                        return_indices)


def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: Optional[int] = None) -> Tensor:
    return _F._avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)


def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    size = _F._adaptive_avg_size(input, output_size, 3)
    if size == [1, 1, 1] and input.ndim in (4, 5):
        return _F._adaptive_mean(input, 3)
    _F.check_pool_dtype("adaptive_avg_pool3d_cpu", input.dtype)
    return call("adaptive_avg_pool3d", input, output_size=size)


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    size = _one_int("adaptive_max_pool1d", "output_size", output_size)
    _check_dim_range(input, "adaptive_max_pool1d")
    out, idx = adaptive_max_pool2d(input.unsqueeze(-2), (1, size), True)
    return (out.squeeze(-2), idx.squeeze(-2)) if return_indices else out.squeeze(-2)


# torch's names for the poolings that always return (values, indices)

def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
    return _F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size, output_size=None,
                                       output_ratio=None, return_indices: bool = False,
                                       _random_samples: Optional[Tensor] = None):
    return _fractional_max_pool(2, input, kernel_size, output_size, output_ratio,
                                _random_samples)


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size, output_size=None,
                                       output_ratio=None, return_indices: bool = False,
                                       _random_samples: Optional[Tensor] = None):
    return _fractional_max_pool(3, input, kernel_size, output_size, output_ratio,
                                _random_samples)


def fractional_max_pool2d(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples=None):
    """Max pooling over windows placed pseudo-randomly (Graham's fractional max pooling):
    _random_samples (N, C, 2) in [0, 1), drawn by torch.rand when not given."""
    out = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio,
                                             return_indices, _random_samples)
    return out if return_indices else out[0]


def fractional_max_pool3d(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples=None):
    out = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio,
                                             return_indices, _random_samples)
    return out if return_indices else out[0]


_DIM_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}


def _fractional_max_pool(n: int, input, kernel_size, output_size, output_ratio, samples):
    """torch's F.fractional_max_pool{n}d_with_indices and its kernel's checks."""
    name = f"fractional_max_pool{n}d"
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    if output_size is None:
        if n == 2 and len(output_ratio) > 2:
            raise ValueError(f"{name} requires output_ratio to either be a single Int or tuple "
                             f"of Ints.")
        ratio = _ntuple(output_ratio, n)
        output_size = [int(input.size(d - n) * ratio[d]) for d in range(n)]
    if samples is None:
        from ..creation import rand

        samples = rand(1 if input.dim() == n + 1 else input.size(0), input.size(-n - 1), n,
                       dtype=input.dtype, device=input.device)
    kernel, size = _ntuple(kernel_size, n), _ntuple(output_size, n)
    ints = "Ints" if n == 2 else "three Ints"
    if len(kernel) != n:
        raise RuntimeError(f"{name}: kernel_size must either be a single Int or tuple of {ints}")
    if len(size) != n:
        raise RuntimeError(f"{name}: output_size must either be a single Int or tuple of {ints}")
    if input.dim() not in (n + 1, n + 2):
        raise RuntimeError(f"{name}(): Expected {n + 1}D or {n + 2}D tensor, but got: "
                           f"{list(input.shape)}")
    for dim, k, o, i in zip(_DIM_NAMES[n], kernel, size, input.shape[-n:]):
        # (torch's 3d kernel wants a window past the last one's start: its check is strict)
        if o + k - 1 > i or (n == 3 and o + k - 1 == i):
            raise RuntimeError(f"{name}{'_out' if n == 3 else ''}(): pool {dim} {k} too large "
                               f"relative to input {dim} {i}")
    _check_fractional_samples(n, input, samples)
    return call(name, input, samples, kernel=[int(k) for k in kernel],
                output_size=[int(o) for o in size])


def _check_fractional_samples(n: int, input, samples) -> None:
    """torch's fractional_max_pool_check_shape."""
    if samples.dtype is not input.dtype:
        raise RuntimeError("Expect _random_samples to have the same dtype as input")
    if samples.dim() != 3:
        raise RuntimeError(f"Expect _random_samples to have 3 dimensions, got {samples.dim()}")
    batch, channels = (1, input.size(0)) if input.dim() == n + 1 else input.shape[:2]
    if samples.size(0) < batch:
        raise RuntimeError("Expect _random_samples.size(0) no less then input batch size.")
    if samples.size(1) != channels:
        raise RuntimeError("Expect _random_samples.size(1) equals to input channel size.")
    if samples.size(2) != n:
        raise RuntimeError(f"Expect _random_samples.size(2) equals to {n}; got "
                           f"{samples.size(2)}.")


def adaptive_max_pool1d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    return adaptive_max_pool3d(input, output_size, True)


def _unpool(input: Tensor, indices: Tensor, out_shape) -> Tensor:
    """torch's max_unpool2d (max_unpool3d): each value written at its index of the output
    plane (volume), zeros elsewhere (MaxUnpool2DBackward0)."""
    n = len(out_shape)
    if input.ndim not in (n + 1, n + 2):
        raise RuntimeError(f"Input to max_unpooling{n}d should be a {n + 1}d or {n + 2}d Tensor, "
                           f"but got a tensor with {input.ndim} dimensions.")
    if indices.dtype is not dtypes.int64:
        raise RuntimeError(f"elements in indices should be type int64 but got: "
                           f"{indices.dtype.long_name}")
    return call("max_unpool", input, indices, output_size=[int(d) for d in out_shape])


def _unpool_size(input, kernel, stride, padding, output_size, n):
    """torch's _unpool_output_size: the spatial size, given or from the pooling's geometry."""
    default = [(input.shape[-n + d] - 1) * stride[d] - 2 * padding[d] + kernel[d]
               for d in range(n)]
    if output_size is None:
        size = default
    else:
        size = output_size  # (as given: its error prints it so)
        if len(size) == n + 2:
            size = size[2:]
        if len(size) != n:
            raise ValueError(f"output_size should be a sequence containing {n} or {n + 2} "
                             f"elements, but it has a length of '{len(size)}'")
        for d in range(n):
            lo, hi = default[d] - stride[d], default[d] + stride[d]
            if not lo < size[d] < hi:
                raise ValueError(f"invalid output_size \"{size}\" (dim {d} must be "
                                 f"between {lo} and {hi})")
    for d in range(n):
        if size[d] < 0:
            raise ValueError(f"max_unpooling: output_size must contain non-negative spatial "
                             f"dimensions, but got output_size[{d}]={size[d]}")
    return size


def _unpool_geometry(n: int, input, kernel_size, stride, padding, output_size) -> list:
    kernel = _tuple(kernel_size, n, "kernel_size")
    stride = kernel if stride is None else _tuple(stride, n, "stride")
    return _unpool_size(input, kernel, stride, _tuple(padding, n, "padding"), output_size, n)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """max_unpool2d over a width of 1, squeezed back, as torch computes it."""
    size = _unpool_geometry(1, input, kernel_size, stride, padding, output_size)
    return _unpool(input.unsqueeze(-1), indices.unsqueeze(-1), list(size) + [1]).squeeze(-1)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    return _unpool(input, indices,
                   _unpool_geometry(2, input, kernel_size, stride, padding, output_size))


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    return _unpool(input, indices,
                   _unpool_geometry(3, input, kernel_size, stride, padding, output_size))


def lp_pool1d(input: Tensor, norm_type, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode, kernel_size)


def lp_pool2d(input: Tensor, norm_type, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode,
                    math.prod(_ntuple(kernel_size, 2)))


def lp_pool3d(input: Tensor, norm_type, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode,
                    math.prod(_ntuple(kernel_size, 3)))


def _lp_pool(n: int, input: Tensor, norm_type, kernel_size, stride, ceil_mode,
             window: int) -> Tensor:
    """(Σ x^p)^(1/p) over each window of `window` elements, a max of |x| for p = ±inf: torch's
    composite of avg_pool{n}d (max_pool{n}d)."""
    max_pool = getattr(_F, f"max_pool{n}d")
    if norm_type == math.inf:
        return max_pool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    out = getattr(_F, f"avg_pool{n}d")(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    return (out.sign() * out.abs().relu()).mul(window).pow(1.0 / norm_type)


# ---- normalisation -------------------------------------------------------------------------------

def group_norm(input: Tensor, num_groups: int, weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, eps: float = 1e-5) -> Tensor:
    """Normalise each (sample, group of channels) over its channels and positions."""
    if input.ndim < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received "
                           f"{input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, "
                           f"but got input of shape {list(input.shape)} and num_groups="
                           f"{num_groups}")
    if n * c // num_groups * math.prod(input.shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{[n * c // num_groups, num_groups] + list(input.shape[2:])}")
    # torch's group_norm lays its input out in its suggested format first (a strided one is
    # cloned: the clone is what its node saves), its weight and bias contiguous
    fmt = layout.suggested_format(tuple(input.shape), tuple(input.stride()))
    input = input.contiguous(memory_format=getattr(layouts, fmt))
    weight, bias = (None if t is None else t.contiguous() for t in (weight, bias))
    return call("native_group_norm", input, weight, bias, num_groups=int(num_groups),
                eps=float(eps))[0]


def _verify_spatial_size(shape) -> None:
    if math.prod(shape[2:]) == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size "
                         f"torch.Size({list(shape)})")


def instance_norm(input: Tensor, running_mean: Optional[Tensor] = None,
                  running_var: Optional[Tensor] = None, weight: Optional[Tensor] = None,
                  bias: Optional[Tensor] = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """batch_norm of the input seen as one sample of N·C channels, as torch: the running
    statistics, repeated per sample, are updated and then averaged over the samples."""
    if use_input_stats:
        _verify_spatial_size(tuple(input.shape))
    n, c = input.shape[0], input.shape[1]

    def repeated(t):
        return None if t is None else t.repeat(n)

    def repeated_stats(t):  # torch takes running statistics of another dtype here
        return None if t is None else t.repeat(n).to(input.dtype)

    rm, rv = repeated_stats(running_mean), repeated_stats(running_var)
    out = _F.batch_norm(input.reshape(1, n * c, *input.shape[2:]), rm, rv, repeated(weight),
                        repeated(bias), use_input_stats, momentum, eps)
    with no_grad():
        if running_mean is not None:
            running_mean.copy_(rm.reshape(n, c).mean(0))
        if running_var is not None:
            running_var.copy_(rv.reshape(n, c).mean(0))
    return out.reshape(*input.shape)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """x / (k + α · mean of x² over `size` neighbouring channels)^β: torch's composite, its
    channel window an avg_pool2d over (C, positions)."""
    dim = input.ndim
    if dim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality                          input "
                         f"(got {dim} dimensions)")
    if input.numel() == 0:
        return input
    div = input.mul(input)
    sizes = tuple(input.shape)
    div = div.reshape(sizes[0], 1, sizes[1], -1)
    div = _F.pad(div, (0, 0, size // 2, (size - 1) // 2))
    div = _F.avg_pool2d(div, (size, 1), stride=1).squeeze(1).reshape(*sizes)
    div = div.mul(alpha).add(k).pow(beta)
    return input / div


# ---- activations and alpha dropout -----------------------------------------------------------------

def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, weight · x elsewhere; weight has one value or one per channel (dim 1)."""
    if input.dtype is not weight.dtype:  # (torch's first check)
        raise RuntimeError(f"prelu: Type promoting not supported. Got {input.dtype.long_name} and "
                           f"{weight.dtype.long_name}")
    if weight.numel() != 1:
        if input.ndim == 0:
            raise RuntimeError("Not allow zero-dim input tensor.")
        channels = input.shape[1] if input.ndim >= 2 else 1
        if weight.numel() != channels:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found "
                               f"parameter numbers = {weight.numel()} and channel size = "
                               f"{channels}.")
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: "
                           f"ndim = {weight.ndim}")
    w = weight.view(1, -1, *([1] * (input.ndim - 2))) if input.ndim >= 2 else weight
    return call("prelu_kernel", input, w)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a · σ(b), a and b the two halves of input along dim."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    d = dim % input.ndim
    if input.shape[d] % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {d} is size "
                           f"{input.shape[d]}")
    return call("glu", input, dim=d)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Training: x where x > 0, x · a elsewhere with a ~ U(lower, upper) drawn (as torch, a
    float64 uniform for each element <= 0 only, in order); eval: leaky_relu with slope
    (lower + upper) / 2. One op, as torch's rrelu_with_noise."""
    from ..creation import random_stream, tensor

    with no_grad():
        if training:
            below = input.detach()._numpy_value() <= 0
            slope = np.ones(below.shape, input.dtype.np)
            bounds = input.dtype.np.type(lower), input.dtype.np.type(upper)  # torch's opmath
            slope[below] = random_stream().uniform_values(
                int(below.sum()), np.dtype(np.float64), *bounds)
            slope = tensor(slope, device=home(input))
        else:
            slope = (lower + upper) / 2
        above = (input > 0).to(input.dtype)
        noise = above + (1 - above) * slope  # (exact in input's dtype: 1, or the slope)
    if inplace:
        return in_place(input, lambda x: call("rrelu_with_noise", x, noise, in_place=True))
    return call("rrelu_with_noise", input, noise)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    return rrelu(input, lower, upper, training, inplace=True)


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1) drawn from distgrad's generator;
    hard: the one-hot of each row's largest, with the soft sample's gradient (straight
    through: y_hard - y_soft.detach() + y_soft, as torch)."""
    from ..creation import empty_like, zeros_like

    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    gumbels = -empty_like(logits).exponential_().log()
    y_soft = ((logits + gumbels) / tau).softmax(dim)
    if not hard:
        return y_soft
    index = y_soft.max(dim, keepdim=True)[1]
    y_hard = zeros_like(logits).scatter_(dim, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


_ALPHA = 1.7580993408473766  # SELU's -scale · alpha: where a dropped unit goes


def _alpha_dropout(input: Tensor, p: float, training: bool, inplace: bool,
                   feature: bool) -> Tensor:
    _F._check_dropout_p(p)
    if p == 0 or not training or input.numel() == 0:
        return input
    if p == 1:
        zeros = input.mul(0)
        return input.mul_(0) if inplace else zeros
    like = (input.new_zeros(tuple(input.shape[:2]) + (1,) * (input.ndim - 2)) if feature
            else input)
    keep = _F.dropout_mask(like, p) * (1 - p)
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    shift = (keep - 1) * (_ALPHA * a) + _ALPHA * a * p
    scale = keep * a
    if inplace:
        return input.mul_(scale).add_(shift)
    return input * scale + shift


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's mean and variance: dropped units go to -α·scale, then all
    are scaled and shifted back (the identity in eval mode)."""
    return _alpha_dropout(input, p, training, inplace, feature=False)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """alpha_dropout of whole channels (dim 1)."""
    return _alpha_dropout(input, p, training, inplace, feature=True)


# ---- bilinear and embedding_bag ---------------------------------------------------------------------

def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Optional[Tensor] = None) -> Tensor:
    """y_o = x1ᵀ W_o x2 + b_o over the last dims."""
    _bilinear_dtypes(input1, input2, weight, bias)
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and "
                           f"{input2.ndim}")
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-dimensional, but got {weight.ndim}")
    for d in range(input1.ndim - 1):
        if input1.shape[d] != input2.shape[d]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {d}: got "
                               f"{input1.shape[d]} and {input2.shape[d]}")
    if input1.shape[-1] != weight.shape[1]:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got "
                           f"{input1.shape[-1]} but expected {weight.shape[1]}")
    if input2.shape[-1] != weight.shape[2]:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got "
                           f"{input2.shape[-1]} but expected {weight.shape[2]}")
    if bias is not None and bias.shape[0] != weight.shape[0]:
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got "
                           f"{bias.shape[0]} but expected {weight.shape[0]}")
    # torch's: both inputs flattened to rows (views), one _trilinear node (which saves each
    # of them only for the others' gradients), viewed back, plus the bias
    x1 = input1.reshape(-1, input1.shape[-1])
    x2 = input2.reshape(-1, input2.shape[-1])
    out = call("trilinear", x1, weight, x2, spec="bi,oij,bj->bo")
    out = out.reshape(*input1.shape[:-1], weight.shape[0])
    return out if bias is None else out + bias


def _bilinear_dtypes(input1: Tensor, input2: Tensor, weight: Tensor,
                     bias: Optional[Tensor]) -> None:
    """torch's first check of bilinear: one dtype for all its tensors."""
    named = {"input1": input1, "input2": input2, "weight": weight, "bias": bias}
    given = {name: t for name, t in named.items() if t is not None}
    if len({t.dtype for t in given.values()}) > 1:
        raise RuntimeError("All tensors must have the same dtype, got " + ", ".join(
            f"{name}: {t.dtype.c_name}" for name, t in given.items()))


def _bags(input: Tensor, offsets: Optional[Tensor], include_last_offset: bool):
    """(flat indices, [(start, end)] per bag)."""
    if input.ndim == 2:
        if offsets is not None:
            # (torch names its tensor class as users do; ours is distgrad.tensor.Tensor)
            kind = "<class 'torch.Tensor'>" if isinstance(offsets, Tensor) else type(offsets)
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found offsets "
                             f"of type {kind}")
        n, length = input.shape
        return input.reshape(-1), [(b * length, (b + 1) * length) for b in range(n)]
    if input.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    if offsets.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    starts = [int(v) for v in offsets.tolist()]
    total = input.shape[0]
    if include_last_offset:
        ends, starts = starts[1:], starts[:-1]
    else:
        ends = starts[1:] + [total]
    return input, list(zip(starts, ends))


def _check_offsets(offsets: Tensor, input: Tensor, index_dtype) -> None:
    """torch's checks that the bags start at the input's start and end within it (its
    first message shows offsets[0], a 0-d tensor, as C++ prints one)."""
    if offsets.shape[0] == 0:
        return
    first, last = int(offsets[0]), int(offsets[-1])
    if first != 0:
        raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch "
                           f"has to start from position 0. However, got {first}\n"
                           f"[ {index_dtype.type_name}{{}} ]")
    if last > input.shape[0]:
        raise RuntimeError(f"offsets[-1] can not be greater than input's length "
                           f"{input.shape[0]} but got offsets[-1] of {last}")


def _check_bag_ids(ids, num: int, per_index_kernel: bool) -> None:
    """torch's range check of embedding_bag's indices, in the words of the kernel that runs
    (max, or with a padding_idx: each index's own; otherwise the first one's place)."""
    for i, v in enumerate(ids):
        if not 0 <= v < num:
            if per_index_kernel:
                raise RuntimeError("embedding_bag: Expected idx >= 0 && idx < num_embeddings but "
                                   f"found idx to be {v}")
            raise RuntimeError(f"Index {i} of input takes value {v} which is not in the valid "
                               f"range [0, {num})")


def _bag_dtypes(input: Tensor, offsets: Optional[Tensor], weight: Tensor,
                per_sample_weights: Optional[Tensor]) -> None:
    """torch's checks of embedding_bag's dtypes (its indices and offsets promoted to one)."""
    indices = input.dtype if offsets is None else dtypes.promote(input.dtype, offsets.dtype)
    if indices not in dtypes.INDEX:
        raise scalar_types_error("embedding_bag", "indices", "Long, Int", indices)
    if not weight.dtype.is_floating_point:
        raise scalar_types_error("embedding_bag", "weight", "Half, BFloat16, Float, Double",
                                 weight.dtype)
    if per_sample_weights is not None and per_sample_weights.dtype is not weight.dtype:
        raise RuntimeError(f"Expected tensor for argument #1 'weight' to have the same type as "
                           f"tensor for argument #1 'per_sample_weights'; but type "
                           f"{weight.dtype.message_name} does not equal "
                           f"{per_sample_weights.dtype.message_name} (while checking arguments for "
                           "embedding_bag)")


def embedding_bag(input: Tensor, weight: Tensor, offsets: Optional[Tensor] = None,
                  max_norm: Optional[float] = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Optional[Tensor] = None, include_last_offset: bool = False,
                  padding_idx: Optional[int] = None) -> Tensor:
    """The sum, mean or max of each bag's embedding rows (padding_idx rows left out; an empty
    bag gives zeros)."""
    return embedding_bag_parts(input, weight, offsets, max_norm, norm_type, scale_grad_by_freq,
                               mode, sparse, per_sample_weights, include_last_offset,
                               padding_idx)[0]


def embedding_bag_parts(input, weight, offsets, max_norm, norm_type, scale_grad_by_freq, mode,
                        sparse, per_sample_weights, include_last_offset, padding_idx) -> tuple:
    """embedding_bag's result, its op's second output (in max mode each bag's maximum's place
    in the kept indices, per column), each index's bag, and the places of the indices kept."""
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension "
                         f"{weight.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max")
    if per_sample_weights is not None:
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape!r})"
                             f" is not None, then it must have the same shape as the input "
                             f"({input.shape!r})")
        if mode != "sum":
            raise NotImplementedError(
                "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                "on GitHub.")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: scale_grad_by_freq and sparse are not "
                                  "supported by distgrad")
    flat, bags = _bags(input, offsets, include_last_offset)
    _bag_dtypes(input, offsets, weight, per_sample_weights)
    num = weight.shape[0]
    ids = [int(v) for v in flat.tolist()]
    if max_norm is not None:
        _F.embedding_renorm_(weight, flat, max_norm, norm_type)
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise AssertionError("padding_idx must be within num_embeddings")
        padding_idx %= num
    if offsets is not None and input.ndim == 1:
        _check_offsets(offsets, input, dtypes.promote(input.dtype, offsets.dtype))
    _check_bag_ids(ids, num, mode == "max" or padding_idx is not None)
    if include_last_offset and bags and (mode == "max" or padding_idx is not None):
        # torch's per-index kernels take the indices past the last offset into the last bag
        # (the fast path of sum and mean without a padding_idx drops them)
        bags[-1] = (bags[-1][0], len(ids))
    bag_of = np.full(len(ids), -1, np.int64)  # (-1: past the last bag's end)
    for b, (s, e) in enumerate(bags):
        bag_of[s:e] = b
    keep = [i for i, v in enumerate(ids) if v != padding_idx and bag_of[i] >= 0]
    if input.ndim == 2 and per_sample_weights is not None:
        per_sample_weights = per_sample_weights.reshape(-1)  # (torch's: its node's edge)
    kept_ids = _index([ids[i] for i in keep], weight)
    out, picked = call("embedding_bag", weight, per_sample_weights, kept_ids,
                       _index(bag_of[keep], weight), _index(keep, weight), n_bags=len(bags),
                       mode=mode)
    return out, picked, bag_of, keep


# ---- interpolate -------------------------------------------------------------------------------------

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}
_NODE_KIND = {"nearest": "Nearest", "nearest-exact": "NearestExact", "linear": "Linear",
              "bilinear": "Bilinear", "trilinear": "Trilinear", "bicubic": "Bicubic",
              "lanczos": "Lanczos"}
_CUBIC_A = -0.75  # torch's bicubic kernel (Keys' cubic convolution with a = -0.75)


def _output_sizes(input, size, scale_factor, spatial):
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * spatial
        if len(sizes) != spatial:
            raise ValueError(f"Input and output must have the same number of spatial dimensions,"
                             f" but got input with spatial dimensions of "
                             f"{list(input.shape[2:])} and output size of {size}. Please "
                             "provide input tensor in (N, C, d1, d2, ...,dK) format and output "
                             "size in (o1, o2, ...,oK) format.")
        return [int(s) for s in sizes], None
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales = (list(scale_factor) if isinstance(scale_factor, (tuple, list))
              else [scale_factor] * spatial)
    if len(scales) != spatial:
        raise ValueError(f"Input and scale_factor must have the same number of spatial "
                         f"dimensions, but got input with spatial dimensions of "
                         f"{list(input.shape[2:])} and scale_factor of shape {scale_factor}. "
                         "Please provide input tensor in (N, C, d1, d2, ...,dK) format and "
                         "scale_factor in (s1, s2, ...,sK) format.")
    sizes = [int(math.floor(float(input.shape[2 + d]) * scales[d])) for d in range(spatial)]
    return sizes, [float(s) for s in scales]


def _source(out: int, size: int, scale, align_corners: Optional[bool], kind: str):
    """The (fractional) source position of each output index, as torch's kernels: kind
    "nearest", "linear" (clamped at 0) or "cubic" (not clamped: its taps are)."""
    dst = np.arange(out, dtype=np.float64)
    if kind != "nearest" and align_corners:
        return dst * ((size - 1) / (out - 1)) if out > 1 else np.zeros(out)
    ratio = 1.0 / scale if scale is not None else size / out
    if kind == "linear":
        return np.maximum((dst + 0.5) * ratio - 0.5, 0.0)
    if kind == "cubic":
        return (dst + 0.5) * ratio - 0.5
    return dst * ratio


def _cubic_taps(src, n_in: int):
    """Each output's four source indices (clamped to the input) and their weights."""
    lo = np.floor(src)
    t = (src - lo)[:, None]
    weights = _keys_cubic(np.concatenate([t + 1, t, 1 - t, 2 - t], axis=1), _CUBIC_A)
    taps = np.clip(lo.astype(np.int64)[:, None] + np.arange(-1, 3), 0, n_in - 1)
    return taps.tolist(), weights.tolist()


def _antialias_taps(n_in: int, n_out: int, scale, align_corners: bool, kind: str):
    """torch's antialiased weights (_compute_indices_min_size_weights_aa, Pillow's): each
    output averages the inputs under its filter (a triangle, Keys' cubic with a = -0.5, or
    Lanczos-3), widened by the downscaling factor and normalized; in float32, as torch's
    for float."""
    f32 = np.float32
    if align_corners:
        ratio = f32((n_in - 1) / (n_out - 1) if n_out > 1 else 0.0)
    else:
        ratio = f32(1.0 / scale if scale is not None and scale > 0 else n_in / n_out)
    half_width = f32({"cubic": 2.0, "lanczos": 3.0}.get(kind, 1.0))
    support = half_width * ratio if ratio >= 1 else half_width
    width = int(math.ceil(support)) * 2 + 1
    inverse = f32(1) / ratio if ratio >= 1 else f32(1)
    taps, weights = [], []
    for i in range(n_out):
        center = ratio * f32(i + 0.5)
        first = max(int(center - support + f32(0.5)), 0)
        count = min(max(min(int(center + support + f32(0.5)), n_in) - first, 0), width)
        x = np.abs((np.arange(count, dtype=f32) + f32(first) - center + f32(0.5)) * inverse)
        w = (_keys_cubic(x, f32(-0.5)) if kind == "cubic" else _lanczos3(x) if kind == "lanczos"
             else np.maximum(f32(1) - x, f32(0)))
        total = w.sum(dtype=f32)
        w = w / total if total != 0 else w
        taps.append([first + j for j in range(count)] + [first] * (width - count))
        weights.append(w.tolist() + [0.0] * (width - count))
    return taps, weights


def _lanczos3(x):
    """The Lanczos-3 window at distances x >= 0: sinc(x) sinc(x / 3) inside 3, in x's dtype."""
    return np.where(x < 3, np.sinc(x) * np.sinc(x / 3), 0).astype(x.dtype)


def _keys_cubic(x, a):
    """Keys' cubic convolution kernel at distances x >= 0 (torch's bicubic: a = -0.75;
    its antialiased bicubic, Pillow's: a = -0.5), in x's dtype."""
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1, near, np.where(x < 2, far, 0)).astype(x.dtype)


def _interpolate_dims_error(input, mode: str) -> NotImplementedError:
    linear_dims = _LINEAR.get(mode)
    if linear_dims is not None and input.ndim in (3, 4, 5):
        return NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs "
                                   f"{linear_dims + 2}D input")
    return NotImplementedError(
        f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {input.ndim}D) for the "
        "modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
        f"nearest-exact (got {mode})")


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: Optional[bool] = None, recompute_scale_factor=None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims (after N, C): nearest, (bi/tri)linear or bicubic with or
    without align_corners, one dim at a time (a linear map per dim: differentiable), or
    "area" (adaptive average pooling)."""
    spatial = input.ndim - 2
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes:"
                             " linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    sizes, scales = _output_sizes(input, size, scale_factor, spatial)
    if recompute_scale_factor and size is not None:
        raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
    if recompute_scale_factor or mode == "area":
        scales = None
    if antialias:
        if not (mode in ("bilinear", "bicubic", "lanczos") and input.ndim == 4):
            raise ValueError("Anti-alias option is restricted to bilinear, bicubic, and lanczos "
                             "modes and requires a 4-D tensor as input")
    if mode == "lanczos" and input.ndim == 4:
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    dims_ok = {"linear": (3,), "bilinear": (4,), "trilinear": (5,), "bicubic": (4,),
               "lanczos": (4,)}.get(
        mode, (3, 4, 5) if mode in ("nearest", "nearest-exact", "area") else ())
    if input.ndim not in dims_ok:
        raise _interpolate_dims_error(input, mode)
    _check_interpolate_dtype(input.dtype, mode, spatial)
    if antialias and input.dtype in dtypes.LOW_FLOATS:  # (its weights' kernel has neither)
        raise not_implemented("compute_index_ranges_weights", input.dtype)
    if mode == "area":
        pool = {1: adaptive_avg_pool1d, 2: _F.adaptive_avg_pool2d, 3: adaptive_avg_pool3d}
        return pool[spatial](input, sizes if spatial > 1 else sizes[0])
    if min(list(input.shape[2:]) + sizes) <= 0:
        dims = "DHW"[-spatial:]
        ins, outs = (", ".join(f"{n}: {v}" for n, v in zip(dims, vs))
                     for vs in (input.shape[2:], sizes))
        raise RuntimeError(f"Input and output sizes should be greater than 0, but got input "
                           f"({ins}){' and' if spatial == 1 else ''} output ({outs})")
    kind = {"bicubic": "cubic", "lanczos": "lanczos"}.get(
        mode, "linear" if mode in _LINEAR else "nearest")
    maps = []
    for d in range(spatial):
        n_in, n_out = input.shape[2 + d], sizes[d]
        scale = None if scales is None else scales[d]
        src = _source(n_out, n_in, scale, align_corners, kind)
        if antialias:
            taps, weights = _antialias_taps(n_in, n_out, scale, align_corners, kind)
            maps.append([2 + d, n_in, taps, None, weights])
        elif kind == "cubic":
            taps, weights = _cubic_taps(src, n_in)
            maps.append([2 + d, n_in, taps, None, weights])
        elif kind == "nearest":
            if mode == "nearest-exact":
                ratio = n_in / n_out if scale is None else 1.0 / scale
                src = (np.arange(n_out) + 0.5) * ratio
            lo = np.minimum(np.floor(src), n_in - 1).astype(np.int64)
            maps.append([2 + d, n_in, lo.tolist(), lo.tolist(), None])
        else:
            lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
            hi = np.minimum(lo + 1, n_in - 1)
            maps.append([2 + d, n_in, lo.tolist(), hi.tolist(), (src - lo).tolist()])
    out = call("resample", input, maps=maps,
               node=f"Upsample{_NODE_KIND[mode]}{spatial}D{'Aa' if antialias else ''}Backward0")
    # (what torch's node keeps: the sizes and scale factors the call gave or made)
    given = {"output_size": tuple(sizes), "self_sym_sizes": tuple(input.shape)}
    names = ("scales",) if spatial == 1 else ("scales_d", "scales_h", "scales_w")[-spatial:]
    given.update(zip(names, [None] * spatial if scales is None else scales))
    if kind != "nearest":
        given["align_corners"] = align_corners
    note_given(out, **given)
    return out


def _check_interpolate_dtype(d, mode: str, spatial: int) -> None:
    """torch's kernels interpolate floating dtypes, and uint8 images by nearest, bilinear and
    bicubic; others raise NotImplementedError naming the kernel (area: its pooling's)."""
    if d.is_floating_point or mode == "area" or d is dtypes.uint8 and (
            mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "lanczos")):
        return
    kind = {"nearest-exact": "nearest", "bicubic": "cubic"}.get(mode, mode)
    kind = kind if kind in ("nearest", "cubic") else "linear"
    if spatial == 2 and kind != "cubic":
        raise not_implemented(f"upsample_{'nearest' if kind == 'nearest' else 'bilinear'}2d"
                              "_channels_last", d)
    raise not_implemented(f"compute_indices_weights_{kind}", d)


def _deprecated(name: str) -> None:
    warnings.warn(f"`nn.functional.{name}` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=3)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: Optional[bool] = None) -> Tensor:
    _deprecated("upsample")
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    _deprecated("upsample_nearest")
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    _deprecated("upsample_bilinear")
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# ---- F.pad's reflect, replicate and circular modes ------------------------------------------------

def _pad_indices(n: int, before: int, after: int, mode: str, dim: int, shape) -> np.ndarray:
    j = np.arange(-before, n + after)
    if mode == "reflect":
        if before >= n or after >= n:
            raise RuntimeError(f"Argument #4: Padding size should be less than the corresponding "
                               f"input dimension, but got: padding ({before}, {after}) at "
                               f"dimension {dim} of input {list(shape)}")
        j = np.abs(j)
        return np.where(j >= n, 2 * (n - 1) - j, j)
    return np.clip(j, 0, n - 1)


def _pad_circular(input: Tensor, pad) -> Tensor:
    """torch's _pad_circular: the input (cropped by negative padding) copied into a new
    tensor, then each padded dim's ends copied from its other end (CopySlices)."""
    k = len(pad) // 2
    pads = [(int(pad[2 * i]), int(pad[2 * i + 1]), input.ndim - 1 - i) for i in range(k)]
    shape = list(input.shape)
    for before, after, dim in reversed(pads):
        if before > input.shape[dim] or after > input.shape[dim]:
            raise RuntimeError("Padding value causes wrapping around more than once.")
        shape[dim] += before + after
        if shape[dim] < 0:
            raise RuntimeError("Negative padding value is resulting in an empty dimension")
    out = input.new_empty(shape)
    out_slice, in_slice = out, input
    for before, after, dim in pads:
        kept = shape[dim] - max(before, 0) - max(after, 0)
        out_slice = out_slice.narrow(dim, max(before, 0), kept)
        in_slice = in_slice.narrow(dim, max(-before, 0), kept)
    out_slice.copy_(in_slice)
    for before, after, dim in pads:
        if before > 0:
            out.narrow(dim, 0, before).copy_(
                out.narrow(dim, shape[dim] - before - max(after, 0), before))
        if after > 0:
            out.narrow(dim, shape[dim] - after, after).copy_(
                out.narrow(dim, max(before, 0), after))
    return out


def pad_by_mode(input: Tensor, pad, mode: str) -> Tensor:
    """Reflect (mirror without the edge), replicate (repeat the edge) or circular (wrap)
    padding of the last len(pad) // 2 dims."""
    k = len(pad) // 2
    if k not in (1, 2, 3) or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    if mode == "circular":
        return _pad_circular(input, pad)
    maps = []
    for i in range(k):
        dim = input.ndim - 1 - i
        before, after = int(pad[2 * i]), int(pad[2 * i + 1])
        idx = _pad_indices(input.shape[dim], before, after, mode, dim, input.shape).tolist()
        maps.append([dim, input.shape[dim], idx, idx, None])
    kind = "Reflection" if mode == "reflect" else "Replication"
    return call("resample", input, maps=maps, node=f"{kind}Pad{k}DBackward0")
