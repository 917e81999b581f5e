"""Op cases for fake quantization (ops/fake_quant.py), added to op_cases.CASES: values,
grad_fn names, the straight-through gradients (the mask's mul, second order too) against
torch. No finite differences: the forward is a staircase, its gradient torch's choice."""
from __future__ import annotations

from op_cases import Arg, F, K, case, error


def _channel_qparams(T, x, axis):
    n = x.shape[axis]
    scale = T.linspace(0.1, 0.6, n)
    zero_point = (T.arange(n) % 3 - 1).to(T.int32)
    return scale, zero_point


case("fake_quantize_per_tensor",
     lambda T, x: T.fake_quantize_per_tensor_affine(x, 0.25, 3, -8, 7), F(3, 4),
     covers=("fake_quantize_per_tensor", "mul"), fd=False)
case("fake_quantize_per_tensor_qparams",
     lambda T, x: T.fake_quantize_per_tensor_affine(x, T.tensor(0.3), T.tensor(-2, dtype=T.int32),
                                                    -16, 15),
     Arg("f", (5,), -6.0, 6.0), covers=("fake_quantize_per_tensor", "mul"), fd=False)
case("fake_quantize_per_channel",
     lambda T, x: T.fake_quantize_per_channel_affine(x, *_channel_qparams(T, x, 1), 1, -4, 3),
     F(3, 4), covers=("fake_quantize_per_channel", "mul"),
     fd=False)
case("fake_quantize_per_channel_dim0",
     lambda T, x: T.fake_quantize_per_channel_affine(x, *_channel_qparams(T, x, 0), 0, -128, 127),
     K(2, 3, 2), covers="fake_quantize_per_channel", fd=False)
error("fake_quantize_per_channel_negative_axis",
      lambda T, x: T.fake_quantize_per_channel_affine(x, *_channel_qparams(T, x, 1), -1, -4, 3),
      K(3, 4))
error("fake_quantize_per_tensor_range",
      lambda T, x: T.fake_quantize_per_tensor_affine(x, 0.1, 0, 7, -8), K(3))
error("fake_quantize_per_tensor_zero_point",
      lambda T, x: T.fake_quantize_per_tensor_affine(x, 0.1, 9, -8, 7), K(3))
