"""`distgrad.nn.utils`: gradient clipping and norms, parameters as one vector, rnn's
PackedSequence helpers, parametrize and parametrizations (weight_norm, spectral_norm), prune, the
older hook-based weight_norm and spectral_norm, stateless.functional_call, fusion (a
batch norm folded into the layer before it), skip_init and the convolutions' weights in
another memory format."""
from __future__ import annotations

from . import fusion, parametrizations, parametrize, prune, rnn, stateless
from .clip_grad import (clip_grad_norm, clip_grad_norm_, clip_grad_value_,
                        clip_grads_with_norm_, get_total_norm)
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .fusion import (fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval,
                     fuse_linear_bn_weights)
from .init_skipped import skip_init
from .memory_format import (convert_conv2d_weight_memory_format,
                            convert_conv3d_weight_memory_format)
from .spectral_norm import remove_spectral_norm, spectral_norm
from .weight_norm import remove_weight_norm, weight_norm

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
           "get_total_norm", "parameters_to_vector", "vector_to_parameters", "rnn",
           "parametrize", "parametrizations", "prune", "stateless", "fusion",
           "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights", "skip_init", "weight_norm", "remove_weight_norm",
           "spectral_norm", "remove_spectral_norm", "convert_conv2d_weight_memory_format",
           "convert_conv3d_weight_memory_format"]
