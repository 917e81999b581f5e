"""The nn.functional ops torch also exposes at top level, with torch's top-level
signatures (`torch.dropout(input, p, train)`, `torch.embedding(weight, indices, ...)`),
each calling distgrad.nn.functional's implementation."""
from __future__ import annotations

import functools
import importlib

import numpy as np

from .creation import tensor
from .dtypes import int64

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


def kl_div(input, target, reduction=1, *, log_target=False):
    return _F().kl_div_reduced(input, target, _REDUCTION[reduction], log_target)


def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                groups):
    """ATen's convolution: conv{1,2,3}d, or conv_transpose{1,2,3}d when transposed, by the
    weight's dims."""
    n = weight.ndim - 2
    if input.ndim != weight.ndim:  # (ATen's convolution takes a batch only)
        raise RuntimeError(f"Expected {weight.ndim}-dimensional input for {weight.ndim}-"
                           f"dimensional weight {list(weight.shape)}, but got {input.ndim}-"
                           f"dimensional input of size {list(input.shape)} instead")
    if transposed:
        return getattr(_F(), f"conv_transpose{n}d")(input, weight, bias, stride, padding,
                                                    output_padding, groups, dilation)
    return getattr(_F(), f"conv{n}d")(input, weight, bias, stride, padding, dilation, groups)


_BAG_MODES = ("sum", "mean", "max")


def embedding_bag(weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                  per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """torch's (output, offset2bag, bag_size, max_indices), as its CPU kernel fills them:
    offset2bag each index's bag by the offsets (none in sum mode without a padding_idx);
    bag_size each bag's span of indices, less its padding (zeros in sum mode);
    max_indices each bag's maximum's row per column in max mode (0 for an empty bag), else
    bag_size again."""
    from .nn import functional_layers

    if not hasattr(offsets, "_storage"):
        raise TypeError(f"embedding_bag(): argument 'offsets' (position 3) must be Tensor, not "
                        f"{type(offsets).__name__}")
    name = _BAG_MODES[mode]
    padding = None if padding_idx is None or padding_idx < 0 else padding_idx
    out, picked, _, keep = functional_layers.embedding_bag_parts(
        indices, weight, offsets, None, 2, scale_grad_by_freq, name, sparse, per_sample_weights,
        include_last_offset, padding)
    ids = indices.reshape(-1).detach().cpu().numpy()
    starts = offsets.detach().cpu().numpy()[:out.shape[0]]
    as_index = functools.partial(tensor, dtype=int64, device=out.device)
    offset2bag = _offset2bag(starts, len(ids))
    if name == "sum":
        zeros = as_index(np.zeros(out.shape[0], np.int64))
        return out, as_index(offset2bag if padding is not None else []), zeros, zeros
    bag_size = np.diff(np.append(starts, len(ids)))
    if padding is not None:
        bag_size -= np.bincount(offset2bag[ids == padding], minlength=len(starts))
    if name == "max":
        picked = picked.cpu().numpy()
        rows = np.where(picked >= 0, ids[keep][picked.clip(min=0)], 0)
        return out, as_index(offset2bag), as_index(bag_size), as_index(rows)
    return out, as_index(offset2bag), as_index(bag_size), as_index(bag_size)


def _offset2bag(starts, n: int):
    """torch's make_offset2bag: a one at each bag's start (the first less one), summed."""
    marks = np.zeros(n + 1, np.int64)
    np.add.at(marks, starts, 1)
    marks[0] -= 1
    return np.cumsum(marks)[:n]


TOP_LEVEL = ["selu", "celu", "threshold", "prelu", "rrelu", "selu_", "celu_", "threshold_",
             "rrelu_", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
             "bilinear", "group_norm", "batch_norm", "instance_norm", "rms_norm", "max_pool1d",
             "max_pool3d", "adaptive_avg_pool1d", "adaptive_max_pool1d", "alpha_dropout",
             "feature_alpha_dropout", "dropout_", "constant_pad_nd", "hinge_embedding_loss",
             "margin_ranking_loss", "cosine_embedding_loss", "triplet_margin_loss",
             "binary_cross_entropy_with_logits", "poisson_nll_loss", "kl_div", "convolution",
             "embedding_bag"]
