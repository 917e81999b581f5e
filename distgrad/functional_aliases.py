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
