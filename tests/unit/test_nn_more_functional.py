"""The added nn.functional losses and layers against torch.nn.functional: one lambda run by
both libraries on the same inputs; values, dtypes, first- and second-order gradients compared
with torch's, gradients checked against float64 finite differences (gradcheck and
gradgradcheck), grad_fn names compared where both are one op (`node=True`), and errors'
types and leading words."""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import distgrad
from op_cases import B, F, I, K, P, nnf  # noqa: F401

RTOL, ATOL = 1e-5, 1e-6


@dataclass
class Case:
    id: str
    fn: object
    args: tuple
    node: bool = False  # grad_fn names must match torch's
    fd: bool = True
    grad2: bool = True
    kw: dict = field(default_factory=dict)


CASES: list[Case] = []
ERRORS: list[Case] = []


def case(id, fn, *args, **kw):
    CASES.append(Case(id, fn, args, **kw))


def error(id, fn, *args):
    ERRORS.append(Case(id, fn, args))


def _arrays(c: Case):
    rng = np.random.default_rng(zlib.crc32(c.id.encode()))
    return [a.make(rng) if hasattr(a, "make") else a for a in c.args]


def _tensors(T, c, arrays, dtype):
    out = []
    for spec, a in zip(c.args, arrays):
        if not hasattr(spec, "make"):
            out.append(a)
        elif spec.kind == "f":
            out.append(T.tensor(a.astype(dtype), requires_grad=spec.grad))
        else:
            out.append(T.tensor(a))
    return out


def _outs(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _value(t):
    if isinstance(t, torch.Tensor):
        return t.detach().numpy(force=True)  # (torch's second-order zeros are ZeroTensors)
    return np.asarray(t.detach().numpy())


# ---- losses ---------------------------------------------------------------------------------------

for red in ("none", "mean", "sum"):
    case(f"cosine_embedding_{red}", (lambda r: lambda T, a, b, y: nnf(T).cosine_embedding_loss(
        a, b, y * 2 - 1, margin=0.2, reduction=r))(red), F(4, 5), F(4, 5), I(4, hi=2))
    case(f"margin_ranking_{red}", (lambda r: lambda T, a, b, y: nnf(T).margin_ranking_loss(
        a, b, (y * 2 - 1).to(a.dtype), margin=0.3, reduction=r))(red), F(6), F(6), I(6, hi=2))
    case(f"hinge_embedding_{red}", (lambda r: lambda T, x, y: nnf(T).hinge_embedding_loss(
        x, (y * 2 - 1).to(x.dtype), margin=0.7, reduction=r))(red), F(3, 4), I(3, 4, hi=2))
    case(f"soft_margin_{red}", (lambda r: lambda T, x, y: nnf(T).soft_margin_loss(
        x, (y * 2 - 1).to(x.dtype), reduction=r))(red), F(3, 4), I(3, 4, hi=2), node=True)
    case(f"multilabel_soft_margin_{red}", (lambda r: lambda T, x, y, w: nnf(
        T).multilabel_soft_margin_loss(x, y.to(x.dtype), w, reduction=r))(red), F(3, 4),
        I(3, 4, hi=2), P(4))
    case(f"multi_margin_{red}", (lambda r: lambda T, x, y: nnf(T).multi_margin_loss(
        x, y, reduction=r))(red), F(4, 5), I(4, hi=5), grad2=False, node=True)
    case(f"multilabel_margin_{red}", (lambda r: lambda T, x: nnf(T).multilabel_margin_loss(
        x, T.tensor([[3, 0, -1, 1], [1, 2, 3, 0], [-1, 1, 1, 1]]), reduction=r))(red), F(3, 4),
        grad2=False, node=True)
    case(f"triplet_margin_{red}", (lambda r: lambda T, a, p, n: nnf(T).triplet_margin_loss(
        a, p, n, margin=0.8, reduction=r))(red), F(4, 3), F(4, 3), F(4, 3))
    case(f"gaussian_nll_{red}", (lambda r: lambda T, x, y, v: nnf(T).gaussian_nll_loss(
        x, y, v, reduction=r))(red), F(3, 4), F(3, 4), P(3, 4))
    case(f"poisson_nll_{red}", (lambda r: lambda T, x, y: nnf(T).poisson_nll_loss(
        x, y, reduction=r))(red), F(3, 4), P(3, 4))
case("multi_margin_p2_weight", lambda T, x, y, w: nnf(T).multi_margin_loss(
    x, y, p=2, margin=0.5, weight=w), F(4, 5), I(4, hi=5), K(5, lo=0.5), grad2=False, node=True)
case("multi_margin_1d", lambda T, x: nnf(T).multi_margin_loss(x, T.tensor([2]), reduction="none"),
     F(5), grad2=False, node=True)
case("triplet_margin_swap_p1", lambda T, a, p, n: nnf(T).triplet_margin_loss(
    a, p, n, p=1, swap=True, reduction="sum"), F(5, 3), F(5, 3), F(5, 3))
case("cosine_embedding_1d", lambda T, a, b: nnf(T).cosine_embedding_loss(a, b, T.tensor(-1)),
     F(5), F(5))
case("gaussian_nll_homoscedastic_full", lambda T, x, y, v: nnf(T).gaussian_nll_loss(
    x, y, v, full=True), F(3, 4), F(3, 4), P(3))
# variances under eps: clamped without passing the clamp to the gradient
case("gaussian_nll_clamped", lambda T, x, y, v: nnf(T).gaussian_nll_loss(
    x, y, v * 1e-3, eps=1e-2), F(3, 4), F(3, 4), P(3, 4), fd=False)
case("poisson_nll_full_not_log", lambda T, x, y: nnf(T).poisson_nll_loss(
    x, y * 2, log_input=False, full=True), P(3, 4), P(3, 4))
case("poisson_nll_full_none", lambda T, x, y: nnf(T).poisson_nll_loss(
    x, y * 2, full=True, reduction="none"), F(3, 4), P(3, 4))

error("margin_ranking_dims", lambda T, a, b: nnf(T).margin_ranking_loss(a, b, a[0]), K(3), K(3))
error("triplet_margin_margin", lambda T, a: nnf(T).triplet_margin_loss(a, a, a, margin=0), K(3))
error("triplet_margin_dims", lambda T, a: nnf(T).triplet_margin_loss(a, a, a[0]), K(2, 3))
error("multi_margin_p", lambda T, x, y: nnf(T).multi_margin_loss(x, y, p=3), K(2, 3), I(2))
error("soft_margin_target_requires_grad", lambda T, x: nnf(T).soft_margin_loss(
    x, x.detach().requires_grad_()), K(3))
error("gaussian_nll_negative", lambda T, x: nnf(T).gaussian_nll_loss(x, x, x - 5), K(3))
error("gaussian_nll_size", lambda T, x, v: nnf(T).gaussian_nll_loss(x, x, v), K(3, 4), K(2))
error("poisson_nll_reduction", lambda T, x: nnf(T).poisson_nll_loss(x, x, reduction="x"), K(3))
error("multilabel_soft_margin_reduction", lambda T, x: nnf(T).multilabel_soft_margin_loss(
    x, x, reduction="x"), K(2, 3))

# ---- convolution, fold/unfold -------------------------------------------------------------------

_N = dict(node=True)
case("conv_transpose1d", lambda T, x, w, b: nnf(T).conv_transpose1d(
    x, w, b, stride=2, padding=1, output_padding=1, groups=2), F(2, 4, 5), F(4, 3, 3), F(6), **_N)
case("conv_transpose2d", lambda T, x, w, b: nnf(T).conv_transpose2d(x, w, b, padding=1),
     F(2, 3, 4, 4), F(3, 2, 3, 3), F(2), **_N)
case("conv_transpose2d_dilation", lambda T, x, w: nnf(T).conv_transpose2d(
    x, w, stride=(2, 1), dilation=(1, 2), output_padding=(1, 0)), F(1, 2, 3, 4), F(2, 1, 2, 3),
    **_N)
case("conv_transpose2d_unbatched", lambda T, x, w: nnf(T).conv_transpose2d(x, w, stride=2),
     F(2, 3, 3), F(2, 1, 2, 2), **_N)
case("conv3d", lambda T, x, w, b: nnf(T).conv3d(x, w, b, stride=(1, 2, 1), padding=1),
     F(1, 2, 3, 4, 3), F(2, 2, 2, 2, 2), F(2), **_N)
case("unfold", lambda T, x: nnf(T).unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
     F(2, 3, 5, 6))
case("fold", lambda T, x: nnf(T).fold(x, (4, 5), 2, padding=(1, 0), stride=(1, 2)),
     F(2, 8, 10))
case("fold_unbatched", lambda T, x: nnf(T).fold(x, (3, 3), 2), F(4, 4))

error("conv_transpose2d_channels", lambda T, x, w: nnf(T).conv_transpose2d(x, w),
      K(1, 3, 4, 4), K(2, 2, 3, 3))
error("conv_transpose2d_output_padding", lambda T, x, w: nnf(T).conv_transpose2d(
    x, w, output_padding=1), K(1, 2, 4, 4), K(2, 2, 3, 3))
error("fold_blocks", lambda T, x: nnf(T).fold(x, (4, 5), 2), K(1, 4, 10))
error("fold_divisible", lambda T, x: nnf(T).fold(x, (4, 5), 2), K(1, 5, 12))
# the sliding blocks' geometry checked first, as torch's im2col / col2im shape checks
error("unfold_padding", lambda T, x: nnf(T).unfold(x, 2, padding=-1), K(1, 2, 5, 5))
error("unfold_kernel", lambda T, x: nnf(T).unfold(x, (2, -1)), K(1, 2, 5, 5))
error("unfold_dilation", lambda T, x: nnf(T).unfold(x, 2, dilation=0), K(1, 2, 5, 5))
error("unfold_stride", lambda T, x: nnf(T).unfold(x, 2, stride=0), K(2, 5, 5))
error("fold_padding", lambda T, x: nnf(T).fold(x, (5, 5), 2, padding=-1), K(1, 8, 16))
error("fold_kernel", lambda T, x: nnf(T).fold(x, (5, 5), 0), K(1, 8, 16))
error("fold_dilation", lambda T, x: nnf(T).fold(x, (5, 5), 2, dilation=(0, 1)), K(1, 8, 16))
error("fold_stride", lambda T, x: nnf(T).fold(x, (5, 5), 2, stride=(1, 0)), K(8, 16))

# ---- pooling -----------------------------------------------------------------------------------

case("max_pool1d", lambda T, x: nnf(T).max_pool1d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                  return_indices=True), F(2, 3, 8))
case("max_pool1d_dilation", lambda T, x: nnf(T).max_pool1d(x, 2, dilation=2), F(3, 9))
case("avg_pool1d", lambda T, x: nnf(T).avg_pool1d(x, 3, 2, padding=1, count_include_pad=False),
     F(2, 3, 7))
case("adaptive_avg_pool1d", lambda T, x: nnf(T).adaptive_avg_pool1d(x, 3), F(2, 3, 7))
case("adaptive_max_pool1d", lambda T, x: nnf(T).adaptive_max_pool1d(x, 3, return_indices=True),
     F(2, 3, 7))
case("adaptive_max_pool2d", lambda T, x: nnf(T).adaptive_max_pool2d(x, (3, 2), True),
     F(2, 2, 5, 7))
case("adaptive_max_pool2d_none", lambda T, x: nnf(T).adaptive_max_pool2d(x, (None, 2)),
     F(2, 4, 5))
case("adaptive_max_pool3d", lambda T, x: nnf(T).adaptive_max_pool3d(x, (2, 3, 2), True),
     F(1, 2, 5, 4, 3))
case("adaptive_max_pool3d_none", lambda T, x: nnf(T).adaptive_max_pool3d(x, (None, 2, 1)),
     F(2, 3, 4, 5))
case("max_unpool2d", lambda T, x: nnf(T).max_unpool2d(*nnf(T).max_pool2d(
    x, 2, return_indices=True), 2), F(2, 2, 4, 6), node=True)
case("max_unpool2d_size", lambda T, x: nnf(T).max_unpool2d(*nnf(T).max_pool2d(
    x, 3, 2, return_indices=True), 3, 2, output_size=(6, 8)), F(1, 2, 6, 8), fd=False)
case("max_unpool1d", lambda T, x: nnf(T).max_unpool1d(*nnf(T).max_pool1d(
    x, 2, return_indices=True), 2), F(2, 3, 6), node=True)
case("max_unpool3d", lambda T, x: nnf(T).max_unpool3d(*nnf(T).max_pool3d(
    x, 2, return_indices=True), 2), F(1, 2, 2, 4, 4), node=True)
case("max_unpool3d_module", lambda T, x: T.nn.MaxUnpool3d((1, 2, 2))(*nnf(T).max_pool3d(
    x, (1, 2, 2), return_indices=True), output_size=(2, 5, 4)), F(2, 2, 5, 4), node=True)
case("lp_pool2d", lambda T, x: nnf(T).lp_pool2d(x, 2, 2), P(2, 3, 4, 4))
case("lp_pool1d", lambda T, x: nnf(T).lp_pool1d(x, 3, 2, 1), P(2, 3, 5))

error("max_pool1d_4d", lambda T, x: nnf(T).max_pool1d(x, 2), K(1, 2, 3, 4))
error("max_unpool2d_size", lambda T, x: nnf(T).max_unpool2d(*nnf(T).max_pool2d(
    x, 2, return_indices=True), 2, output_size=(9, 9)), K(1, 1, 4, 4))
error("max_unpool2d_size_length", lambda T, x: nnf(T).max_unpool2d(*nnf(T).max_pool2d(
    x, 2, return_indices=True), 2, output_size=(1, 4, 4)), K(1, 1, 4, 4))
error("max_unpool2d_bad_index", lambda T, x: nnf(T).max_unpool2d(
    x, T.tensor([[[[0, 1], [2, 30]]]]), 2), K(1, 1, 2, 2))
error("max_unpool2d_indices_shape", lambda T, x: nnf(T).max_unpool2d(
    x, T.tensor([[[[0, 1]]]]), 2), K(1, 1, 2, 2))
error("max_unpool2d_2d", lambda T, x: nnf(T).max_unpool2d(x, T.tensor([[0, 1], [2, 3]]), 2),
      K(2, 2))

# ---- norms ---------------------------------------------------------------------------------------

case("group_norm", lambda T, x, w, b: nnf(T).group_norm(x, 2, w, b), F(2, 4, 3, 2), F(4), F(4))
case("group_norm_plain", lambda T, x: nnf(T).group_norm(x, 3, eps=1e-3), F(3, 6, 4))
case("instance_norm", lambda T, x, w, b: nnf(T).instance_norm(x, weight=w, bias=b),
     F(2, 3, 5), F(3), F(3))
case("instance_norm_running", lambda T, x, m, v: (
    nnf(T).instance_norm(x, m, v, momentum=0.3), m, v), F(2, 3, 2, 3), K(3), K(3, lo=0.5))
case("instance_norm_eval", lambda T, x, m, v: nnf(T).instance_norm(
    x, m, v, use_input_stats=False), F(2, 3, 4), K(3), K(3, lo=0.5))
case("local_response_norm", lambda T, x: nnf(T).local_response_norm(x, 3, alpha=0.1),
     F(2, 5, 3, 2))
case("local_response_norm_3d", lambda T, x: nnf(T).local_response_norm(x, 2, 0.2, 0.5, 2.0),
     F(2, 4, 5))

error("group_norm_groups", lambda T, x: nnf(T).group_norm(x, 2), K(2, 5, 3))
error("instance_norm_one_position", lambda T, x: nnf(T).instance_norm(x), K(2, 3, 1))
error("local_response_norm_2d", lambda T, x: nnf(T).local_response_norm(x, 2), K(2, 3))

# ---- activations, alpha dropout in eval mode ----------------------------------------------------

case("prelu", lambda T, x, w: nnf(T).prelu(x, w), F(2, 3, 4), F(3))
case("prelu_one", lambda T, x, w: nnf(T).prelu(x, w), F(3, 4), F(1))
case("glu", lambda T, x: nnf(T).glu(x, 1), F(2, 6, 3))
case("rrelu_eval", lambda T, x: nnf(T).rrelu(x, 0.1, 0.3), F(3, 4))
case("alpha_dropout_eval", lambda T, x: nnf(T).alpha_dropout(x, 0.4) * 1, F(3, 4))
case("feature_alpha_dropout_eval", lambda T, x: nnf(T).feature_alpha_dropout(
    x, 0.4, training=False) * 1, F(3, 4, 2))

error("prelu_channels", lambda T, x, w: nnf(T).prelu(x, w), K(2, 3), K(4))
error("glu_odd", lambda T, x: nnf(T).glu(x, 1), K(2, 3))
error("alpha_dropout_p", lambda T, x: nnf(T).alpha_dropout(x, 1.5), K(3))

# ---- bilinear, embedding_bag, interpolate, pad modes --------------------------------------------

case("bilinear", lambda T, a, b, w, c: nnf(T).bilinear(a, b, w, c), F(4, 3), F(4, 2),
     F(5, 3, 2), F(5))
_IDX = [1, 2, 4, 4, 3, 0, 2]
for m in ("sum", "mean", "max"):
    # (torch's gradients refuse a second derivative: test_layers.py)
    case(f"embedding_bag_{m}", (lambda m: lambda T, w: nnf(T).embedding_bag(
        T.tensor(_IDX), w, T.tensor([0, 2, 2, 5]), mode=m))(m), F(5, 3), grad2=False)
    case(f"embedding_bag_2d_{m}_padding", (lambda m: lambda T, w: nnf(T).embedding_bag(
        T.tensor([[1, 2, 0], [0, 0, 3]]), w, mode=m, padding_idx=0))(m), F(5, 3), grad2=False)
case("embedding_bag_per_sample_weights_last_offset", lambda T, w, s: nnf(T).embedding_bag(
    T.tensor(_IDX), w, T.tensor([0, 3, 7]), mode="sum", per_sample_weights=s,
    include_last_offset=True), F(5, 3), F(7), grad2=False)

error("embedding_bag_psw_mean", lambda T, w, s: nnf(T).embedding_bag(
    T.tensor([1, 2]), w, T.tensor([0]), per_sample_weights=s), K(3, 2), K(2))
error("embedding_bag_2d_offsets", lambda T, w: nnf(T).embedding_bag(
    T.tensor([[1, 2]]), w, T.tensor([0])), K(3, 2))
error("embedding_bag_no_offsets", lambda T, w: nnf(T).embedding_bag(T.tensor([1, 2]), w),
      K(3, 2))
# offsets that do not start the first bag at 0, or that end past the input (int32 offsets
# promoted with the indices to the type torch's message names)
error("embedding_bag_first_offset", lambda T, w: nnf(T).embedding_bag(
    T.tensor([1, 2]), w, T.tensor([1], dtype=T.int32)), K(3, 2))
error("embedding_bag_last_offset", lambda T, w: nnf(T).embedding_bag(
    T.tensor([1, 2]), w, T.tensor([0, 3]), mode="max"), K(3, 2))
error("embedding_bag_last_offset_included", lambda T, w: nnf(T).embedding_bag(
    T.tensor([1, 2]), w, T.tensor([0, 3]), include_last_offset=True), K(3, 2))
# an index out of range, in the words of the kernel that runs: the first bad index's place
# (sum, mean), the index itself (max, or with a padding_idx), the renorm's select (max_norm)
error("embedding_bag_index_sum", lambda T, w: nnf(T).embedding_bag(
    T.tensor([1, 9, -1]), w, T.tensor([0])), K(3, 2))
error("embedding_bag_negative_index_mean", lambda T, w: nnf(T).embedding_bag(
    T.tensor([[1, -1]]), w), K(3, 2))
error("embedding_bag_index_max", lambda T, w: nnf(T).embedding_bag(
    T.tensor([1, 9, 8]), w, T.tensor([0]), mode="max"), K(3, 2))
error("embedding_bag_index_padding", lambda T, w: nnf(T).embedding_bag(
    T.tensor([1, 3]), w, T.tensor([0]), padding_idx=0), K(3, 2))
error("embedding_bag_index_max_norm", lambda T, w: nnf(T).embedding_bag(
    T.tensor([1, 9, 8]), w, T.tensor([0]), max_norm=1.0), K(3, 2))
error("embedding_bag_negative_index_max_norm", lambda T, w: nnf(T).embedding_bag(
    T.tensor([1, -1]), w, T.tensor([0]), max_norm=1.0), K(3, 2))

case("interpolate_nearest_size", lambda T, x: nnf(T).interpolate(x, size=(5, 3)), F(2, 2, 3, 4))
case("interpolate_nearest_scale", lambda T, x: nnf(T).interpolate(x, scale_factor=1.7),
     F(1, 2, 3, 4))
case("interpolate_nearest_1d", lambda T, x: nnf(T).interpolate(x, 7), F(2, 3, 4))
case("interpolate_nearest_exact", lambda T, x: nnf(T).interpolate(x, 5, mode="nearest-exact"),
     F(2, 3, 4))
case("interpolate_linear", lambda T, x: nnf(T).interpolate(x, 7, mode="linear"), F(2, 3, 4))
case("interpolate_linear_align", lambda T, x: nnf(T).interpolate(
    x, scale_factor=2.5, mode="linear", align_corners=True), F(2, 3, 4))
case("interpolate_bilinear", lambda T, x: nnf(T).interpolate(
    x, size=(5, 3), mode="bilinear"), F(2, 2, 3, 4))
case("interpolate_bilinear_scale", lambda T, x: nnf(T).interpolate(
    x, scale_factor=(1.5, 0.6), mode="bilinear"), F(1, 2, 4, 5))
case("interpolate_bilinear_align", lambda T, x: nnf(T).interpolate(
    x, size=(6, 2), mode="bilinear", align_corners=True), F(1, 2, 3, 4))
case("interpolate_bilinear_recompute", lambda T, x: nnf(T).interpolate(
    x, scale_factor=1.3, mode="bilinear", recompute_scale_factor=True), F(1, 1, 4, 5))
case("interpolate_trilinear", lambda T, x: nnf(T).interpolate(
    x, scale_factor=2, mode="trilinear"), F(1, 1, 2, 3, 2))
case("interpolate_bilinear_aa", lambda T, x: nnf(T).interpolate(
    x, scale_factor=0.4, mode="bilinear", antialias=True), F(2, 2, 9, 11))
case("interpolate_bicubic_aa", lambda T, x: nnf(T).interpolate(
    x, size=(4, 5), mode="bicubic", antialias=True), F(1, 2, 9, 11))
case("interpolate_bilinear_aa_up", lambda T, x: nnf(T).interpolate(
    x, scale_factor=(1.7, 0.6), mode="bilinear", align_corners=True, antialias=True),
     F(1, 2, 4, 7))
case("interpolate_bicubic_aa_scale", lambda T, x: nnf(T).interpolate(
    x, scale_factor=0.37, mode="bicubic", recompute_scale_factor=True, antialias=True),
     F(1, 1, 10, 9))

error("interpolate_nearest_align", lambda T, x: nnf(T).interpolate(x, 4, align_corners=True),
      K(1, 2, 3))
error("interpolate_both", lambda T, x: nnf(T).interpolate(x, 4, 2.0), K(1, 2, 3))
error("interpolate_neither", lambda T, x: nnf(T).interpolate(x), K(1, 2, 3))

for m in ("reflect", "replicate", "circular"):
    case(f"pad_{m}_1d", (lambda m: lambda T, x: nnf(T).pad(x, (2, 1), mode=m))(m), F(2, 3, 4))
    case(f"pad_{m}_2d", (lambda m: lambda T, x: nnf(T).pad(x, (1, 2, 2, 0), mode=m))(m),
         F(2, 3, 4))
    case(f"pad_{m}_3d", (lambda m: lambda T, x: nnf(T).pad(x, (1, 0, 0, 1, 1, 1), m))(m),
         F(1, 2, 2, 3, 2))
case("pad_circular_crop", lambda T, x: nnf(T).pad(x, (-1, 2), mode="circular"), F(2, 3, 4))
case("pad_circular_crop_2d", lambda T, x: nnf(T).pad(x, (-1, 2, 1, -2), mode="circular"),
     F(2, 3, 4, 5))
case("pad_circular_whole", lambda T, x: nnf(T).pad(x, (0, 5, 4, 0), mode="circular"),
     F(2, 3, 4, 5))

error("pad_reflect_too_much", lambda T, x: nnf(T).pad(x, (3, 1), mode="reflect"), K(1, 2, 3))
error("pad_circular_too_much", lambda T, x: nnf(T).pad(x, (4, 1), mode="circular"), K(1, 2, 3))
error("pad_circular_empty", lambda T, x: nnf(T).pad(x, (-2, -2), mode="circular"), K(1, 2, 3))
error("pad_reflect_dims", lambda T, x: nnf(T).pad(x, (1, 1), mode="reflect"), K(3))
error("pad_replicate_value", lambda T, x: nnf(T).pad(x, (1, 1), "replicate", 2.0), K(1, 3))


# one op each in both libraries: the grad_fn names must be torch's too
for _c in CASES:
    _c.node = _c.node or _c.id.startswith(("interpolate_", "pad_reflect", "pad_replicate",
                                           "pad_circular",
                                           "prelu", "glu", "unfold", "fold", "conv_transpose",
                                           "conv3d", "group_norm", "embedding_bag"))


# ---- the tests -----------------------------------------------------------------------------------

def _run(T, c, arrays, dtype):
    ins = _tensors(T, c, arrays, dtype)
    return ins, _outs(c.fn(T, *ins))


def _grad_inputs(c, ins):
    return [t for spec, t in zip(c.args, ins) if hasattr(spec, "make") and spec.kind == "f"
            and spec.grad]


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_matches_torch(c: Case):
    arrays = _arrays(c)
    d_ins, d_outs = _run(distgrad, c, arrays, np.float32)
    t_ins, t_outs = _run(torch, c, arrays, np.float32)
    assert len(d_outs) == len(t_outs)
    for d, t in zip(d_outs, t_outs):
        assert tuple(d.shape) == tuple(t.shape)
        assert str(d.dtype) == str(t.dtype)
        assert d.requires_grad == t.requires_grad
        assert d._version == t._version  # (torch writes some results in place: clamp_min_)
        np.testing.assert_allclose(_value(d), _value(t), rtol=RTOL, atol=ATOL)
        if c.node:
            assert d.grad_fn.name() == t.grad_fn.name()
    d_gin, t_gin = _grad_inputs(c, d_ins), _grad_inputs(c, t_ins)
    diff = [k for k, t in enumerate(t_outs) if t.requires_grad]
    if not d_gin or not diff:
        return
    rng = np.random.default_rng(7)
    ws = [rng.standard_normal(tuple(t_outs[k].shape)).astype(np.float32) for k in diff]
    firsts = []
    for lib, outs, gin in ((distgrad, d_outs, d_gin), (torch, t_outs, t_gin)):
        total = sum((outs[k] * lib.tensor(w)).sum() for k, w in zip(diff, ws))
        firsts.append(lib.autograd.grad(total, gin, create_graph=c.grad2, allow_unused=True))
    for d, t in zip(*firsts):
        np.testing.assert_allclose(_value(d), _value(t), rtol=1e-4, atol=1e-5)
    if not c.grad2:
        return
    seconds = []
    for lib, first, gin in ((distgrad, firsts[0], d_gin), (torch, firsts[1], t_gin)):
        terms = [(g * lib.tensor(np.full(tuple(g.shape), 0.5 + k, np.float32))).sum()
                 for k, g in enumerate(first) if g is not None and g.requires_grad]
        if not terms:
            seconds.append(None)
            continue
        seconds.append(lib.autograd.grad(sum(terms), gin, allow_unused=True))
    if seconds[0] is None or seconds[1] is None:  # a gradient that is linear in the output's
        other = seconds[0] or seconds[1] or []       # (no second derivative) on one side
        assert all(g is None or not np.any(_value(g)) for g in other)
        return
    for d, t in zip(*seconds):
        if t is None:
            assert d is None or np.allclose(_value(d), 0)
        else:
            np.testing.assert_allclose(_value(d), _value(t), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("c", [c for c in CASES if c.fd], ids=lambda c: c.id)
def test_finite_differences(c: Case):
    arrays = _arrays(c)
    ins = _tensors(distgrad, c, arrays, np.float64)
    pos = [k for k, spec in enumerate(c.args) if hasattr(spec, "make") and spec.kind == "f"
           and spec.grad]

    def fn(*grads):
        full = list(ins)
        for k, g in zip(pos, grads):
            full[k] = g
        return tuple(o for o in _outs(c.fn(distgrad, *full)) if o.requires_grad)

    leaves = [ins[k] for k in pos]
    assert distgrad.autograd.gradcheck(fn, leaves, atol=1e-5, rtol=1e-3)
    if c.grad2:
        assert distgrad.autograd.gradgradcheck(fn, leaves, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("c", ERRORS, ids=lambda c: c.id)
def test_error_matches_torch(c: Case):
    arrays = _arrays(c)
    with pytest.raises(Exception) as t_exc:
        c.fn(torch, *_tensors(torch, c, arrays, np.float32))
    with pytest.raises(Exception) as d_exc:
        c.fn(distgrad, *_tensors(distgrad, c, arrays, np.float32))
    assert type(d_exc.value) is type(t_exc.value), (d_exc.value, t_exc.value)
    t_msg, d_msg = str(t_exc.value).split("\n")[0], str(d_exc.value).split("\n")[0]
    assert d_msg[:60] == t_msg[:60], (d_msg, t_msg)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "nearest", "linear",
                                  "bicubic", "adaptive_avg"])
def test_a_nan_or_inf_reaches_only_the_outputs_that_read_it(mode):
    # torch's padding, upsampling and adaptive pooling kernels compute each output from its
    # own taps or window (a pad copies): a nan or an inf in the input, or in the gradient,
    # stays in the places that read it, where a matrix product's zero weights spread it
    # over the whole row (and a pad's second-order gradient with it: fuzzer seed 22214827)
    from torch_twin import same

    def scenario(T):
        nan, inf = float("nan"), float("inf")
        values = [[1.0, nan, 3.0, inf, 5.0, -2.0], [0.5, 2.0, -1.0, 4.0, 1.0, 3.0]]
        x = T.tensor([values] if mode != "bicubic" else [values[:1] * 2 + values[1:] * 2],
                     requires_grad=True)
        if mode in ("reflect", "replicate", "circular"):
            y = T.nn.functional.pad(x, (2, 1), mode=mode)
        elif mode == "adaptive_avg":
            y = T.nn.functional.adaptive_avg_pool1d(x, 4)
        else:
            y = T.nn.functional.interpolate(x, scale_factor=2, mode=mode)
        g = T.ones(y.shape)
        g.view(-1)[1] = nan
        return y, T.autograd.grad(y, x, g)

    same(scenario)


# ---- a convolution's parameter and shape checks: torch's order and whole messages ----------------

_CONV_CALLS = {
    "stride": lambda F, T, x: F.conv1d(x, T.ones(4, 2, 3), groups=2, stride=0),
    "padding": lambda F, T, x: F.conv1d(x, T.ones(4, 2, 3), groups=2, padding=-1),
    "dilation": lambda F, T, x: F.conv1d(x, T.ones(4, 2, 3), groups=2, dilation=0),
    "dilation_after_bias": lambda F, T, x: F.conv1d(x, T.ones(4, 4, 30), T.ones(3), dilation=0),
    "dilation_before_kernel": lambda F, T, x: F.conv1d(x, T.ones(4, 4, 30), T.ones(4), dilation=0),
    "dilation_after_channels": lambda F, T, x: F.conv2d(x[None], T.ones(4, 2, 3, 3), groups=2,
                                                        dilation=(1, 0)),
    "groups_zero": lambda F, T, x: F.conv1d(x, T.ones(4, 2, 3), groups=0, stride=0),
    "groups_negative": lambda F, T, x: F.conv1d(x, T.ones(4, 2, 3), groups=-2),
    "groups_at_least": lambda F, T, x: F.conv1d(x, T.ones(1, 2, 3), groups=2),
    "groups_divisible": lambda F, T, x: F.conv1d(x, T.ones(3, 2, 3), groups=2),
    "padding_string": lambda F, T, x: F.conv1d(x, T.ones(4, 4, 3), padding="full"),
    "t_stride": lambda F, T, x: F.conv_transpose1d(x, T.ones(4, 2, 3), stride=0),
    "t_output_padding": lambda F, T, x: F.conv_transpose1d(x, T.ones(4, 2, 3), output_padding=-1),
    "t_groups_zero": lambda F, T, x: F.conv_transpose1d(x, T.ones(4, 2, 3), groups=0),
    "t_groups_at_least": lambda F, T, x: F.conv_transpose1d(x, T.ones(4, 2, 3), groups=8),
    "t_groups_divisible": lambda F, T, x: F.conv_transpose1d(x, T.ones(4, 2, 3), groups=3),
    "t_bias_first": lambda F, T, x: F.conv_transpose1d(x, T.ones(4, 1, 3), T.ones(3), padding=9),
    "t_output_padding_1d": lambda F, T, x: F.conv_transpose1d(x, T.ones(4, 2, 3), stride=2,
                                                              output_padding=2),
    "t_output_padding_2d": lambda F, T, x: F.conv_transpose2d(
        x[None].expand(1, 4, 4, 5), T.ones(4, 2, 3, 3), stride=(2, 3), output_padding=(2, 1)),
    "t_output_padding_3d": lambda F, T, x: F.conv_transpose3d(
        x[None, None].expand(1, 2, 2, 4, 5), T.ones(2, 2, 3, 3, 3), stride=(2, 3, 1),
        output_padding=(1, 1, 2)),
    "t_output_size": lambda F, T, x: T.nn.ConvTranspose2d(4, 3, 3, stride=2)(
        x[None].expand(2, 4, 4, 5), output_size=[25, 25]),
    "t_output_size_unbatched": lambda F, T, x: T.nn.ConvTranspose1d(4, 3, 3, stride=2)(
        x[0], output_size=[1, 25]),
    "t_output_size_length": lambda F, T, x: T.nn.ConvTranspose2d(4, 3, 3, stride=2)(
        x[None].expand(2, 4, 4, 5), output_size=[3, 9, 11]),
}


@pytest.mark.parametrize("name", list(_CONV_CALLS))
def test_conv_checks_raise_as_torch_in_its_order(name):
    """The first of several wrong things is the one torch names, and in its words; a wrong
    dilation or output_padding is not computed with."""
    raised = []
    for T in (torch, distgrad):
        with pytest.raises(Exception) as e:
            _CONV_CALLS[name](T.nn.functional, T, T.ones(2, 4, 5))
        raised.append(e.value)
    assert type(raised[1]) is type(raised[0]) and str(raised[1]) == str(raised[0])
