"""Op cases for the transposed convolution (ops/conv_transpose.py), added to op_cases.CASES
and ERRORS: test_ops runs them against torch (values, ConvolutionBackward0, first- and
second-order gradients) and against float64 finite differences."""
from __future__ import annotations

from op_cases import F, K, case, error, nnf

_COVERS = ("conv_transpose", "convolution", "conv_weight_grad")
case("conv_transpose2d", lambda T, x, w, b: nnf(T).conv_transpose2d(
    x, w, b, stride=2, padding=1, output_padding=1), F(2, 2, 3, 3), F(2, 3, 3, 2), F(3),
    covers=_COVERS)
case("conv_transpose1d_groups_dilation", lambda T, x, w: nnf(T).conv_transpose1d(
    x, w, stride=2, groups=2, dilation=2), F(1, 4, 5), F(4, 1, 3), covers=_COVERS)
error("conv_transpose2d_bias_size", lambda T, x, w, b: nnf(T).conv_transpose2d(x, w, b),
      K(1, 2, 3, 3), K(2, 3, 2, 2), K(2))
