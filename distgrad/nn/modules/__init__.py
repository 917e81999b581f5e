"""torch.nn.modules's layout, for code that names it: `module` holds Module (and the
first layers); `utils` torch's tuple helpers; the other submodules carry torch's file
names (`batchnorm`, `conv`, `loss`, ...) over the layers distgrad keeps elsewhere, so that
`torch.nn.modules.batchnorm._BatchNorm` and `from torch.nn.modules.conv import _ConvNd`
find them. They are filled by `install_layout` once distgrad.nn is imported."""
from __future__ import annotations

import importlib
import sys
import types

from .module import *  # noqa: F401,F403
from .module import __all__, _Loss, _WeightedLoss, _zero_grad  # noqa: F401
from . import utils  # noqa: F401

# torch's submodule -> the layers it holds ("file.name": a private class from distgrad.nn.file)
_LAYOUT = {
    "adaptive": "AdaptiveLogSoftmaxWithLoss",
    "activation": "Threshold ReLU RReLU Hardtanh ReLU6 Sigmoid Hardsigmoid Tanh SiLU Mish "
                  "Hardswish ELU CELU SELU GLU GELU Hardshrink LeakyReLU LogSigmoid Softplus "
                  "Softshrink MultiheadAttention PReLU Softsign Tanhshrink Softmin Softmax "
                  "Softmax2d LogSoftmax",
    "batchnorm": "BatchNorm1d BatchNorm2d BatchNorm3d LazyBatchNorm1d LazyBatchNorm2d "
                 "LazyBatchNorm3d SyncBatchNorm normalization._BatchNorm lazy._LazyNormBase",
    "container": "Sequential ModuleList ModuleDict ParameterList ParameterDict",
    "channelshuffle": "ChannelShuffle",
    "conv": "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d LazyConv1d "
            "LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d "
            "conv._ConvNd conv._ConvTransposeNd lazy._LazyConvXdMixin",
    "distance": "PairwiseDistance CosineSimilarity",
    "dropout": "Dropout Dropout1d Dropout2d Dropout3d AlphaDropout FeatureAlphaDropout "
               "activation._DropoutNd",
    "flatten": "Flatten Unflatten",
    "fold": "Fold Unfold",
    "instancenorm": "InstanceNorm1d InstanceNorm2d InstanceNorm3d LazyInstanceNorm1d "
                    "LazyInstanceNorm2d LazyInstanceNorm3d normalization._InstanceNorm",
    "lazy": "lazy.LazyModuleMixin",
    "linear": "Identity Linear Bilinear LazyLinear",
    "loss": "L1Loss NLLLoss PoissonNLLLoss GaussianNLLLoss KLDivLoss MSELoss BCELoss "
            "BCEWithLogitsLoss HingeEmbeddingLoss MultiLabelMarginLoss SmoothL1Loss HuberLoss "
            "SoftMarginLoss CrossEntropyLoss MultiLabelSoftMarginLoss CosineEmbeddingLoss "
            "MarginRankingLoss MultiMarginLoss TripletMarginLoss TripletMarginWithDistanceLoss "
            "CTCLoss "
            "loss._Loss loss._WeightedLoss",
    "normalization": "LocalResponseNorm CrossMapLRN2d LayerNorm GroupNorm RMSNorm",
    "padding": "CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d "
               "ConstantPad3d ReflectionPad1d ReflectionPad2d ReflectionPad3d ReplicationPad1d "
               "ReplicationPad2d ReplicationPad3d ZeroPad1d ZeroPad2d ZeroPad3d",
    "pixelshuffle": "PixelShuffle PixelUnshuffle",
    "pooling": "MaxPool1d MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d AvgPool1d "
               "AvgPool2d AvgPool3d LPPool1d LPPool2d LPPool3d AdaptiveMaxPool1d "
               "AdaptiveMaxPool2d AdaptiveMaxPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d "
               "AdaptiveAvgPool3d FractionalMaxPool2d FractionalMaxPool3d",
    "rnn": "RNNBase RNN LSTM GRU RNNCellBase RNNCell LSTMCell GRUCell",
    "sparse": "Embedding EmbeddingBag",
    "transformer": "Transformer TransformerEncoder TransformerDecoder TransformerEncoderLayer "
                   "TransformerDecoderLayer",
    "upsampling": "Upsample UpsamplingNearest2d UpsamplingBilinear2d",
}


def install_layout(nn: types.ModuleType) -> None:
    """Make each submodule of _LAYOUT, importable and an attribute of this package, and
    give the package every layer of nn (torch.nn.modules.Conv2d is torch.nn.Conv2d)."""
    package = sys.modules[__name__]
    for sub, names in _LAYOUT.items():
        m = types.ModuleType(f"{__name__}.{sub}")
        for entry in names.split():
            home, _, name = entry.rpartition(".")
            source = importlib.import_module(f"{nn.__name__}.{home}") if home else nn
            setattr(m, name, getattr(source, name))
        m.__all__ = [n for n in vars(m) if not n.startswith("_")]
        sys.modules[m.__name__] = m
        setattr(package, sub, m)
        for name in m.__all__:
            setattr(package, name, getattr(m, name))
