"""Op cases for the transposed convolution (ops/conv_transpose.py), resampling (interpolate,
F.pad's reflect and replicate modes) and im2col/col2im (unfold, fold) of ops/resample.py,
added to op_cases.CASES and ERRORS: test_ops runs them against torch (values, torch's node
names, first- and second-order gradients) and against float64 finite differences."""
from __future__ import annotations

from op_cases import F, K, case, error, nnf

_COVERS = ("conv_transpose", "conv_transpose_input_grad", "conv_weight_grad", "conv_bias_grad")
case("conv_transpose2d", lambda T, x, w, b: nnf(T).conv_transpose2d(
    x, w, b, stride=2, padding=1, output_padding=1), F(2, 2, 3, 3), F(2, 3, 3, 2), F(3),
    covers=_COVERS)
case("conv_transpose1d_groups_dilation", lambda T, x, w: nnf(T).conv_transpose1d(
    x, w, stride=2, groups=2, dilation=2), F(1, 4, 5), F(4, 1, 3), covers=_COVERS[:3])
error("conv_transpose2d_bias_size", lambda T, x, w, b: nnf(T).conv_transpose2d(x, w, b),
      K(1, 2, 3, 3), K(2, 3, 2, 2), K(2))

_RESAMPLE = ("resample", "resample_backward")
case("interpolate_bilinear_node", lambda T, x: nnf(T).interpolate(
    x, size=(5, 3), mode="bilinear"), F(2, 2, 3, 4), covers=_RESAMPLE)
case("interpolate_nearest_node", lambda T, x: nnf(T).interpolate(x, scale_factor=2.5),
     F(1, 2, 3), covers=_RESAMPLE)
case("interpolate_trilinear_align_node", lambda T, x: nnf(T).interpolate(
    x, scale_factor=(2, 1.5, 1), mode="trilinear", align_corners=True), F(1, 1, 2, 2, 3),
    covers=_RESAMPLE)
case("interpolate_bicubic", lambda T, x: nnf(T).interpolate(x, size=(5, 7), mode="bicubic"),
     F(2, 2, 3, 4), covers=_RESAMPLE)
case("interpolate_bicubic_align_scale", lambda T, x: nnf(T).interpolate(
    x, scale_factor=(0.6, 1.7), mode="bicubic", align_corners=True), F(1, 2, 5, 3),
    covers=_RESAMPLE)
case("interpolate_bicubic_one_row", lambda T, x: nnf(T).interpolate(
    x, scale_factor=2, mode="bicubic"), F(1, 1, 1, 3), covers=_RESAMPLE)
case("interpolate_area_2d", lambda T, x: nnf(T).interpolate(x, size=(2, 3), mode="area"),
     F(2, 2, 5, 7), covers="adaptive_avg_pool2d")
case("interpolate_area_1d_scale", lambda T, x: nnf(T).interpolate(
    x, scale_factor=0.5, mode="area"), F(2, 3, 7), covers="adaptive_avg_pool2d")
error("interpolate_bicubic_3d_input", lambda T, x: nnf(T).interpolate(x, 3, mode="bicubic"),
      K(1, 2, 4), prefix=300)
error("interpolate_nearest_2d_input", lambda T, x: nnf(T).interpolate(x, 3), K(2, 4),
      prefix=300)
error("interpolate_unknown_mode", lambda T, x: nnf(T).interpolate(x, 3, mode="cubic"),
      K(1, 2, 4, 4), prefix=300)
error("interpolate_zero_output_1d", lambda T, x: nnf(T).interpolate(x, 0, mode="linear"),
      K(1, 2, 4), prefix=300)
error("interpolate_zero_output_2d", lambda T, x: nnf(T).interpolate(x, (0, 2)), K(1, 2, 4, 3),
      prefix=300)
error("interpolate_recompute_with_size", lambda T, x: nnf(T).interpolate(
    x, 3, recompute_scale_factor=True), K(1, 2, 4))
error("interpolate_antialias_nearest", lambda T, x: nnf(T).interpolate(
    x, 3, antialias=True), K(1, 2, 4, 4))
error("interpolate_scale_factor_tuple_length", lambda T, x: nnf(T).interpolate(
    x, scale_factor=(2.0, 1.0)), K(1, 2, 4), prefix=300)
# (their backward takes self too, a differentiable input of zero gradient, as torch's)
case("pad_reflect_node", lambda T, x: nnf(T).pad(x, (1, 2, 2, 0), mode="reflect"), F(2, 3, 4),
     covers=("resample", "pad_backward"))
case("pad_replicate_node", lambda T, x: nnf(T).pad(x, (2, 1), mode="replicate"), F(2, 3, 4),
     covers=("resample", "pad_backward"))
case("pad_replicate_gradient", lambda T, x, g: T.autograd.grad(
    nnf(T).pad(x, (1, 0), mode="replicate"), x, g, create_graph=True)[0], F(3, 3), K(3, 4),
    covers="pad_backward", fd=False)  # (its gradient is zeros, which require grad)
case("unfold_node", lambda T, x: nnf(T).unfold(x, 2, dilation=(1, 2), padding=1, stride=2),
     F(2, 2, 4, 5), covers=("im2col", "col2im"))
case("fold_node", lambda T, x: nnf(T).fold(x, (3, 4), 2, stride=(1, 2)), F(2, 8, 4),
     covers=("col2im", "im2col"))
error("unfold_too_small", lambda T, x: nnf(T).unfold(x, 3), K(1, 1, 2, 2))
case("unfold_fold_unbatched_node", lambda T, x: nnf(T).fold(nnf(T).unfold(x, 2), (3, 4), 2),
     F(2, 3, 4), covers=("im2col", "col2im"))

_PRELU = ("prelu_kernel", "prelu_kernel_backward", "where", "mul", "sum")
case("prelu_channels", lambda T, x, w: nnf(T).prelu(x, w), F(2, 3, 4), F(3), covers=_PRELU)
case("prelu_one_weight", lambda T, x, w: nnf(T).prelu(x, w), F(3, 4), F(1), covers=_PRELU)
case("prelu_1d", lambda T, x, w: nnf(T).prelu(x, w), F(5), F(1), covers=_PRELU)
case("glu_dim1", lambda T, x: nnf(T).glu(x, 1), F(2, 6, 3),
     covers=("glu", "glu_backward", "sigmoid", "cat"))
case("glu_last", lambda T, x: nnf(T).glu(x), F(3, 4), covers="glu")

case("group_norm_affine", lambda T, x, w, b: nnf(T).group_norm(x, 2, w, b, eps=1e-3),
     F(2, 4, 3, 2), F(4), F(4), covers=("native_group_norm", "mean", "sum"))
case("group_norm_plain_node", lambda T, x: nnf(T).group_norm(x, 3), F(3, 6, 4),
     covers="native_group_norm")
case("group_norm_weight_only", lambda T, x, w: nnf(T).group_norm(x, 1, w), F(2, 3), F(3),
     covers="native_group_norm")
error("group_norm_weight_size", lambda T, x, w: nnf(T).group_norm(x, 2, w), K(2, 4, 3), K(3))
error("group_norm_one_value", lambda T, x: nnf(T).group_norm(x, 2), K(1, 2))

# ---- grid_sample and affine_grid (ops/grid_sample.py) ------------------------------------------

def _grid(*shape):
    """Sample points in and a little past [-1, 1] (so every padding mode is exercised)."""
    return F(*shape, lo=-1.3, hi=1.3)


case("grid_sample_bilinear_zeros", lambda T, x, g: nnf(T).grid_sample(
    x, g, align_corners=False), F(2, 3, 4, 5), _grid(2, 3, 4, 2),
    covers=("grid_sampler", "grid_sampler_unnormalize"))
case("grid_sample_bilinear_border_align", lambda T, x, g: nnf(T).grid_sample(
    x, g, padding_mode="border", align_corners=True), F(1, 2, 3, 4), _grid(1, 5, 2, 2),
    covers="grid_sampler")
case("grid_sample_bilinear_reflection", lambda T, x, g: nnf(T).grid_sample(
    x, g, padding_mode="reflection", align_corners=False), F(2, 1, 4, 3), _grid(2, 3, 3, 2),
    covers="grid_sampler")
case("grid_sample_reflection_align", lambda T, x, g: T.grid_sampler(x, g, 0, 2, True),
     F(1, 2, 3, 5), _grid(1, 4, 2, 2), covers="grid_sampler")
case("grid_sample_nearest", lambda T, x, g: nnf(T).grid_sample(
    x, g, mode="nearest", padding_mode="border", align_corners=False), F(2, 2, 4, 4),
    _grid(2, 3, 3, 2), covers="grid_sampler")
case("grid_sample_trilinear", lambda T, x, g: nnf(T).grid_sample(
    x, g, padding_mode="reflection", align_corners=True), F(1, 2, 3, 2, 4), _grid(1, 2, 2, 3, 3),
    covers="grid_sampler")
case("grid_sample_bicubic_zeros", lambda T, x, g: nnf(T).grid_sample(
    x, g, mode="bicubic", align_corners=False), F(2, 2, 4, 5), _grid(2, 3, 2, 2),
    covers="grid_sampler")
case("grid_sample_bicubic_border_align", lambda T, x, g: nnf(T).grid_sample(
    x, g, mode="bicubic", padding_mode="border", align_corners=True), F(1, 2, 3, 4),
    _grid(1, 4, 2, 2), covers="grid_sampler")
case("grid_sample_bicubic_reflection", lambda T, x, g: T.grid_sampler(x, g, 2, 2, False),
     F(1, 1, 5, 3), _grid(1, 3, 3, 2), covers="grid_sampler")
case("grid_sample_bicubic_reflection_align", lambda T, x, g: T.grid_sampler_2d(x, g, 2, 2, True),
     F(2, 1, 3, 4), _grid(2, 2, 3, 2), covers="grid_sampler")
case("grid_sample_3d_nearest_zeros", lambda T, x, g: T.grid_sampler_3d(x, g, 1, 0, False),
     F(2, 1, 2, 3, 3), _grid(2, 2, 1, 2, 3), covers="grid_sampler")
case("affine_grid_2d", lambda T, t: nnf(T).affine_grid(t, [2, 3, 4, 5], align_corners=False),
     F(2, 2, 3), covers=("affine_grid_generator", "affine_base_grid"))
case("affine_grid_3d_align", lambda T, t: T.affine_grid_generator(t, [1, 1, 2, 3, 4], True),
     F(1, 3, 4), covers=("affine_grid_generator", "affine_base_grid"))
case("affine_grid_then_grid_sample", lambda T, t, x: nnf(T).grid_sample(
    x, nnf(T).affine_grid(t, [1, 2, 3, 3], align_corners=False), align_corners=False),
    F(1, 2, 3), F(1, 2, 4, 4), covers=("affine_grid_generator", "grid_sampler"))

error("grid_sample_batch", lambda T, x, g: T.grid_sampler(x, g, 0, 0, False), K(2, 1, 3, 3),
      K(1, 2, 2, 2))
error("grid_sample_last_dim", lambda T, x, g: T.grid_sampler(x, g, 0, 0, False), K(1, 1, 3, 3),
      K(1, 2, 2, 3))
error("grid_sample_dims", lambda T, x, g: T.grid_sampler_2d(x, g, 0, 0, False),
      K(1, 1, 3, 3, 3), K(1, 2, 2, 2, 3))
error("grid_sample_3d_dims", lambda T, x, g: T.grid_sampler(x, g, 0, 0, False), K(1, 1, 3),
      K(1, 2, 1))
error("grid_sample_dtypes", lambda T, x, g: T.grid_sampler(x, g.double(), 0, 0, False),
      K(1, 1, 3, 3), K(1, 2, 2, 2))
error("grid_sample_long", lambda T, x, g: T.grid_sampler(x.long(), g.long(), 0, 0, False),
      K(1, 1, 3, 3, 3), K(1, 2, 2, 2, 3))
error("grid_sample_bicubic_3d", lambda T, x, g: nnf(T).grid_sample(
    x, g, mode="bicubic", align_corners=False), K(1, 1, 3, 3, 3), K(1, 2, 2, 2, 3))
error("grid_sample_mode", lambda T, x, g: nnf(T).grid_sample(x, g, mode="linear"),
      K(1, 1, 3, 3), K(1, 2, 2, 2))
error("grid_sample_padding_mode", lambda T, x, g: nnf(T).grid_sample(x, g, padding_mode="wrap"),
      K(1, 1, 3, 3), K(1, 2, 2, 2))
error("affine_grid_theta_shape", lambda T, t: nnf(T).affine_grid(t, [1, 1, 3, 3],
                                                                   align_corners=False),
      K(1, 3, 4))
error("affine_grid_size", lambda T, t: nnf(T).affine_grid(t, [1, 3, 3], align_corners=False),
      K(1, 2, 3))
error("affine_grid_empty", lambda T, t: nnf(T).affine_grid(t, [1, 1, 0, 3], align_corners=False),
      K(1, 2, 3))
error("affine_grid_int_theta", lambda T, t: nnf(T).affine_grid(t.long(), [1, 1, 2, 2],
                                                                 align_corners=False), K(1, 2, 3))

case("conv_transpose3d", lambda T, x, w, b: nnf(T).conv_transpose3d(
    x, w, b, stride=(2, 1, 2), padding=(1, 0, 1), output_padding=(1, 0, 0), dilation=(1, 2, 1)),
    F(1, 2, 2, 3, 2), F(2, 3, 2, 2, 3), F(3), covers=_COVERS)
case("conv_transpose3d_groups_unbatched", lambda T, x, w: nnf(T).conv_transpose3d(
    x, w, stride=2, padding=1, groups=2), F(4, 2, 2, 3), F(4, 1, 3, 2, 2), covers=_COVERS[:3])

# ---- the CTC loss (ops/ctc.py): through log_softmax, as its gradient assumes ------------------

_CTC = ("ctc_loss", "ctc_loss_backward")


def _ctc(T, x, targets, il, tl, **kw):
    return nnf(T).ctc_loss(x.log_softmax(-1), T.tensor(targets), il, tl, **kw)


case("ctc_loss_mean", lambda T, x: _ctc(T, x, [[1, 2, 2], [3, 1, 0], [4, 0, 0]], (7, 6, 4),
                                        (3, 2, 1)), F(7, 3, 5), covers=_CTC, grad2=False)
case("ctc_loss_none_zero_infinity", lambda T, x: _ctc(
    T, x, [[1, 2, 2], [3, 3, 3], [4, 0, 0]], (7, 3, 0), (3, 3, 0), reduction="none",
    zero_infinity=True), F(7, 3, 5), covers=_CTC + ("where",), grad2=False)
case("ctc_loss_sum_concatenated_blank", lambda T, x: _ctc(
    T, x, [0, 1, 1, 3, 0], (6, 5), (3, 2), reduction="sum", blank=2), F(6, 2, 4),
    covers=_CTC, grad2=False)

# adaptive max pooling (AdaptiveMaxPool2DBackward0: saves self and the indices)
case("adaptive_max_pool2d_node", lambda T, x: nnf(T).adaptive_max_pool2d(x, (2, 3)),
     F(2, 3, 5, 7), covers=("adaptive_max_pool2d", "adaptive_max_pool2d_backward"))
case("adaptive_max_pool1d_node", lambda T, x: nnf(T).adaptive_max_pool1d(x, 4), F(2, 3, 6),
     covers="adaptive_max_pool2d")
case("adaptive_max_pool3d_node", lambda T, x: nnf(T).adaptive_max_pool3d(x, (2, 1, 3)),
     F(1, 2, 3, 4, 5), covers=("adaptive_max_pool3d", "adaptive_max_pool3d_backward"))
error("adaptive_avg_pool2d_empty_dim", lambda T, x: nnf(T).adaptive_avg_pool2d(x, 2),
      K(2, 0, 3), prefix=300)
error("adaptive_avg_pool1d_dims", lambda T, x: nnf(T).adaptive_avg_pool1d(x, 2), K(3),
      prefix=300)

# max unpooling (MaxUnpool2DBackward0 / 3D: the gradient read back at the indices)
case("max_unpool2d_node", lambda T, x: nnf(T).max_unpool2d(
    *nnf(T).max_pool2d(x, 2, return_indices=True), 2), F(2, 2, 4, 6),
    covers=("max_unpool", "max_pool2d_with_indices"))
case("max_unpool3d_node", lambda T, x: nnf(T).max_unpool3d(
    *nnf(T).max_pool3d(x, (1, 2, 2), return_indices=True), (1, 2, 2), output_size=(2, 5, 4)),
    F(1, 2, 2, 5, 4), covers=("max_unpool", "max_pool3d_with_indices"))

# bilinear: one _trilinear node of the flattened inputs (TrilinearBackward0)
case("bilinear_node", lambda T, a, b, w, c: nnf(T).bilinear(a, b, w, c), F(2, 3, 3), F(2, 3, 4),
     F(5, 3, 4), F(5), covers="trilinear")
error("bilinear_batch_dims", lambda T, a, b, w: nnf(T).bilinear(a, b, w), K(2, 3), K(3, 4),
      K(5, 3, 4), prefix=300)
error("bilinear_bias_size", lambda T, a, b, w, c: nnf(T).bilinear(a, b, w, c), K(2, 3), K(2, 4),
      K(5, 3, 4), K(4), prefix=300)

# ---- fractional max pooling (ops/conv.py), the windows placed by given samples ----------------


def _samples(T, x, *shape):
    n = 1
    for d in shape:
        n *= d
    return T.linspace(0.05, 0.95, n, dtype=x.dtype).reshape(shape)


case("fractional_max_pool2d", lambda T, x: nnf(T).fractional_max_pool2d(
    x, (2, 3), output_size=(3, 4), _random_samples=_samples(T, x, 2, 3, 2)), F(2, 3, 5, 7),
    covers=("fractional_max_pool2d", "fractional_max_pool2d_backward"))
case("fractional_max_pool2d_unbatched", lambda T, x: nnf(T).fractional_max_pool2d(
    x, 2, output_ratio=(0.5, 0.7), _random_samples=_samples(T, x, 1, 2, 2),
    return_indices=True), F(2, 6, 5), covers="fractional_max_pool2d")
case("fractional_max_pool3d", lambda T, x: nnf(T).fractional_max_pool3d(
    x, (2, 1, 2), output_size=(2, 3, 2), _random_samples=_samples(T, x, 2, 2, 3)),
    F(2, 2, 4, 5, 4), covers=("fractional_max_pool3d", "fractional_max_pool3d_backward"))
