"""The nn.functional ops torch also exposes at top level, with torch's top-level
signatures (`torch.dropout(input, p, train)`, `torch.embedding(weight, indices, ...)`),
each calling distgrad.nn.functional's implementation."""
from __future__ import annotations

import importlib

from .ops.grid_sample import (affine_grid_generator, grid_sampler,  # noqa: F401
                               grid_sampler_2d, grid_sampler_3d)
from .ops.pixel import channel_shuffle, pixel_shuffle, pixel_unshuffle  # noqa: F401


def _F():
    # (nn loads on first use, as distgrad.nn itself does)
    return importlib.import_module(".nn.functional", __package__)


def dropout(input, p, train):
    return _F().dropout(input, p, train)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05, cudnn_enable=True):
    return _F().layer_norm(input, normalized_shape, weight, bias, eps)


def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    return _F().embedding(indices, weight, None if padding_idx == -1 else padding_idx,
                          scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _F().conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _F().conv2d(input, weight, bias, stride, padding, dilation, groups)


def max_pool2d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _F().max_pool2d(input, kernel_size, list(stride) if stride != () else None, padding,
                           dilation, ceil_mode)


def avg_pool1d(input, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True):
    return _F().avg_pool1d(input, kernel_size, None if stride == () else stride, padding,
                           ceil_mode, count_include_pad)


def cosine_similarity(x1, x2, dim=1, eps=1e-08):
    return _F().cosine_similarity(x1, x2, dim, eps)


def pairwise_distance(x1, x2, p=2.0, eps=1e-06, keepdim=False):
    return _F().pairwise_distance(x1, x2, p, eps, keepdim)


# ---- more of them, each with torch's top-level signature ------------------------------------------

def selu(input):
    return _F().selu(input)


def celu(input, alpha=1.0):
    return _F().celu(input, alpha)


def threshold(input, threshold, value):
    return _F().threshold(input, threshold, value)


def prelu(input, weight):
    return _F().prelu(input, weight)


def rrelu(input, lower=0.125, upper=1.0 / 3, training=False, generator=None):
    return _F().rrelu(input, lower, upper, training)


def selu_(input):
    return _F().selu_(input)


def celu_(input, alpha=1.0):
    return _F().celu_(input, alpha)


def threshold_(input, threshold, value):
    return _F().threshold_(input, threshold, value)


def rrelu_(input, lower=0.125, upper=1.0 / 3, training=False, generator=None):
    return _F().rrelu_(input, lower, upper, training)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _F().conv3d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _F().conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups,
                                 dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _F().conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups,
                                 dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _F().conv_transpose3d(input, weight, bias, stride, padding, output_padding, groups,
                                 dilation)


def bilinear(input1, input2, weight, bias=None):
    return _F().bilinear(input1, input2, weight, bias)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05, cudnn_enabled=True):
    return _F().group_norm(input, num_groups, weight, bias, eps)


def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
               cudnn_enabled):
    return _F().batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                           eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum,
                  eps, cudnn_enabled):
    return _F().instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                              momentum, eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    return _F().rms_norm(input, normalized_shape, weight, eps)


def max_pool1d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _F().max_pool1d(input, kernel_size, None if stride == () else stride, padding,
                           dilation, ceil_mode)


def max_pool3d(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _F().max_pool3d(input, kernel_size, None if stride == () else stride, padding,
                           dilation, ceil_mode)


def adaptive_avg_pool1d(input, output_size):
    return _F().adaptive_avg_pool1d(input, output_size)


def adaptive_max_pool1d(input, output_size):
    """(values, indices), always (torch's top-level function)."""
    return _F().adaptive_max_pool1d(input, output_size, return_indices=True)


def alpha_dropout(input, p, train):
    return _F().alpha_dropout(input, p, train)


def feature_alpha_dropout(input, p, train):
    return _F().feature_alpha_dropout(input, p, train)


def dropout_(input, p, train):
    return _F().dropout(input, p, train, inplace=True)


def constant_pad_nd(input, pad, value=0):
    return _F().pad(input, list(pad), value=value)


# torch's losses at top level take reduction as its enum: 0 none, 1 mean, 2 sum
_REDUCTION = {0: "none", 1: "mean", 2: "sum"}


def hinge_embedding_loss(input, target, margin=1.0, reduction=1):
    return _F().hinge_embedding_loss(input, target, margin, reduction=_REDUCTION[reduction])


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=1):
    return _F().margin_ranking_loss(input1, input2, target, margin,
                                    reduction=_REDUCTION[reduction])


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=1):
    return _F().cosine_embedding_loss(input1, input2, target, margin,
                                      reduction=_REDUCTION[reduction])


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-06, swap=False,
                        reduction=1):
    return _F().triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                    reduction=_REDUCTION[reduction])


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=1):
    return _F().binary_cross_entropy_with_logits(input, target, weight,
                                                 reduction=_REDUCTION[reduction],
                                                 pos_weight=pos_weight)


def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    return _F().poisson_nll_loss(input, target, log_input, full, eps=eps,
                                 reduction=_REDUCTION[reduction])


TOP_LEVEL = ["selu", "celu", "threshold", "prelu", "rrelu", "selu_", "celu_", "threshold_",
             "rrelu_", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
             "bilinear", "group_norm", "batch_norm", "instance_norm", "rms_norm", "max_pool1d",
             "max_pool3d", "adaptive_avg_pool1d", "adaptive_max_pool1d", "alpha_dropout",
             "feature_alpha_dropout", "dropout_", "constant_pad_nd", "hinge_embedding_loss",
             "margin_ranking_loss", "cosine_embedding_loss", "triplet_margin_loss",
             "binary_cross_entropy_with_logits", "poisson_nll_loss"]
