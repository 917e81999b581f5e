"""torch's fake quantization, for quantization-aware training: values rounded to a grid of
`scale`-spaced integers (offset by `zero_point`, clamped to [quant_min, quant_max]) and
back, the gradient passed straight through where the rounded value fell inside the range.

The arithmetic is torch's CPU kernel's: x times the float32 inverse of the scale, rounded
half to even, plus the zero point; the result (q - zero_point) times the float32 scale.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.record import call
from ..tensor import Tensor
from .rules import not_implemented, same, wrap_dim
from .table import Meta, defop, elementwise


def _grid(x, scale, zero_point):
    """The grid integers before clamping, in x's dtype (torch's nearbyint(x * inv_scale) +
    zero_point)."""
    inv_scale = np.float32(1.0) / np.asarray(scale, np.float32)
    return np.rint(x * inv_scale.astype(x.dtype)) + np.asarray(zero_point).astype(x.dtype)


def _fake_quantized(x, scale, zero_point, quant_min, quant_max):
    """The values, and the mask of those whose grid integer fell inside the range (torch's
    cachemask kernels: the node saves the mask, not the input)."""
    grid = _grid(x, scale, zero_point)
    q = np.clip(grid, quant_min, quant_max)
    back = (q - np.asarray(zero_point).astype(x.dtype)).astype(np.float32)
    return (back * np.asarray(scale, np.float32)).astype(x.dtype), \
        (grid >= quant_min) & (grid <= quant_max)


def _per_channel(x, scale, zero_point, axis):
    """scale and zero_point shaped to broadcast along `axis` of x."""
    shape = [1] * x.ndim
    shape[axis] = -1
    return scale.reshape(shape), zero_point.reshape(shape)


@elementwise
def _float_input_rule(x, *_, **__):
    """The values' meta and the mask's."""
    if not x.dtype.is_floating_point:
        raise not_implemented("fake_quantize_tensor_cachemask_kernel_type_handling", x.dtype)
    return same(x), Meta(tuple(x.shape), dtypes.bool_)


def _per_tensor_forward(x, scale, zero_point, quant_min, quant_max, tensor_qparams=False):
    return _fake_quantized(x, scale, zero_point, quant_min, quant_max)


def _masked_vjp(c, g, _mask_grad=None):
    return g * c.outs[0]  # (torch's backward: the gradient times the saved mask, a mul)


def _per_channel_forward(x, scale, zero_point, axis, quant_min, quant_max):
    s, z = _per_channel(x, scale, zero_point, axis)
    return _fake_quantized(x, s, z, quant_min, quant_max)




def _per_tensor_name(inputs, attrs) -> str:
    return ("FakeQuantizePerTensorAffineCachemaskTensorQparamsBackward0"
            if attrs.get("tensor_qparams") else "FakeQuantizePerTensorAffineCachemaskBackward0")


defop("fake_quantize_per_tensor", _per_tensor_forward, _float_input_rule, _masked_vjp,
      node=_per_tensor_name, n_out=2, nondiff_outputs=(1,), save_out=(1,))
defop("fake_quantize_per_channel", _per_channel_forward, _float_input_rule,
      _masked_vjp, node="FakeQuantizePerChannelAffineCachemaskBackward0", n_out=2,
      nondiff_outputs=(1,), save_out=(1,), differentiable=(0,), elementwise=False)


def _check_range(quant_min: int, quant_max: int) -> None:
    if quant_min > quant_max:
        raise RuntimeError("`quant_min` should be less than or         equal to `quant_max`.")


def _check_zero_point(zero_point, quant_min: int, quant_max: int) -> None:
    if not quant_min <= zero_point <= quant_max:
        raise RuntimeError("`zero_point` must be between `quant_min` and `quant_max`.")


def fake_quantize_per_tensor_affine(input, scale, zero_point, quant_min: int,
                                    quant_max: int) -> Tensor:
    """input rounded to the grid `scale`·(q - zero_point), q in [quant_min, quant_max];
    its gradient is the incoming one where q was not clamped. scale and zero_point are
    numbers, or one-element tensors (float, int32)."""
    tensor_qparams = isinstance(scale, Tensor)
    if tensor_qparams:
        scale, zero_point = float(scale.item()), int(zero_point.item())
    _check_range(quant_min, quant_max)
    _check_zero_point(zero_point, quant_min, quant_max)
    return call("fake_quantize_per_tensor", input, scale=float(np.float32(scale)),
                zero_point=int(zero_point), quant_min=int(quant_min),
                quant_max=int(quant_max), tensor_qparams=tensor_qparams)[0]


def fake_quantize_per_channel_affine(input, scale, zero_point, axis: int, quant_min: int,
                                     quant_max: int) -> Tensor:
    """fake_quantize_per_tensor_affine with a scale and zero point per slice of `axis`."""
    _check_range(quant_min, quant_max)
    if zero_point.dtype not in (dtypes.int32, dtypes.float32, dtypes.float16):
        raise RuntimeError(f"Zero-point must be Int32, Float or Half, found "
                           f"{zero_point.dtype.long_name}")
    wrap_dim(axis, input.dim())  # (out of range: torch's IndexError first)
    if axis < 0:
        raise RuntimeError("`axis` must be between 0 and number of dimensions of input")
    if scale.dim() != 1 or zero_point.dim() != 1 or scale.numel() != zero_point.numel() or \
            scale.numel() != input.shape[axis]:
        raise RuntimeError("dimensions of scale and zero-point are not consistent with input "
                           "tensor")
    if bool(((zero_point < quant_min) | (zero_point > quant_max)).any()):
        raise RuntimeError("`zero_point` must be between `quant_min` and `quant_max`.")
    return call("fake_quantize_per_channel", input, scale, zero_point, axis=axis,
                quant_min=int(quant_min), quant_max=int(quant_max))[0]


FUNCTIONS = {"fake_quantize_per_tensor_affine": fake_quantize_per_tensor_affine,
             "fake_quantize_per_channel_affine": fake_quantize_per_channel_affine}
