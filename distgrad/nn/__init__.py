"""`distgrad.nn`: Module, Parameter, layers and losses, mirroring torch.nn."""
from __future__ import annotations

from . import functional, init
from .modules import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Flatten, Identity, L1Loss,
                      Linear, LogSoftmax, Module, ModuleList, MSELoss, NLLLoss, ReLU, Sequential,
                      Sigmoid, Softmax, Tanh, Unflatten)
from .parameter import Buffer, Parameter
from .activation import (CELU, ELU, GELU, SELU, Dropout, Dropout1d, Dropout2d, Dropout3d,
                         Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, Mish, ReLU6,
                         SiLU, Softmin, Softplus, Softsign, Threshold)
from .attention import MultiheadAttention
from .container import ModuleDict, ParameterDict, ParameterList
from .distance import CosineSimilarity, PairwiseDistance
from .padding import (ConstantPad1d, ConstantPad2d, ConstantPad3d, ZeroPad1d, ZeroPad2d,
                      ZeroPad3d)
from .loss import HuberLoss, KLDivLoss, SmoothL1Loss
from .conv import AdaptiveAvgPool2d, AvgPool2d, Conv1d, Conv2d, MaxPool2d
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, RMSNorm
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell, RNNCellBase
from .sparse import Embedding
from .pixelshuffle import ChannelShuffle, PixelShuffle, PixelUnshuffle
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)
from .activation_more import GLU, AlphaDropout, FeatureAlphaDropout, PReLU, RReLU, Softmax2d
from .bilinear import Bilinear
from .conv import Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .fold import Fold, Unfold
from .loss import (CosineEmbeddingLoss, GaussianNLLLoss, HingeEmbeddingLoss, MarginRankingLoss,
                   MultiLabelMarginLoss, MultiLabelSoftMarginLoss, MultiMarginLoss,
                   PoissonNLLLoss, SoftMarginLoss, TripletMarginLoss,
                   TripletMarginWithDistanceLoss)
from .normalization import (BatchNorm3d, GroupNorm, InstanceNorm1d, InstanceNorm2d,
                            InstanceNorm3d, LocalResponseNorm, CrossMapLRN2d, SyncBatchNorm)
from .padding import (CircularPad1d, CircularPad2d, CircularPad3d, ReflectionPad1d,
                      ReflectionPad2d, ReflectionPad3d, ReplicationPad1d, ReplicationPad2d,
                      ReplicationPad3d)
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                      AdaptiveMaxPool3d, AvgPool1d, AvgPool3d, LPPool1d, LPPool2d, LPPool3d,
                      MaxPool1d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d,
                      FractionalMaxPool2d, FractionalMaxPool3d)
from .sparse import EmbeddingBag
from .upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d
from .parameter import UninitializedBuffer, UninitializedParameter
from .lazy import (LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d, LazyConv1d, LazyConv2d,
                   LazyConv3d, LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d,
                   LazyInstanceNorm1d, LazyInstanceNorm2d, LazyInstanceNorm3d, LazyLinear)
from .loss import CTCLoss
from . import utils

__all__ = ["functional", "init", "Module", "Parameter", "Buffer", "Linear", "Identity", "Flatten",
           "ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Sequential", "ModuleList", "MSELoss",
           "L1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss"]
__all__ += ["GELU", "SiLU", "Dropout", "MultiheadAttention", "ModuleDict", "ParameterList",
            "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm1d",
            "BatchNorm2d", "LayerNorm", "RMSNorm", "Embedding", "utils"]
__all__ += ["LeakyReLU", "ELU", "SELU", "CELU", "Softplus", "Hardtanh", "ReLU6", "LogSigmoid",
            "Softsign", "Hardsigmoid", "Hardswish", "Mish", "Threshold", "Softmin",
            "SmoothL1Loss", "HuberLoss", "KLDivLoss", "CosineSimilarity"]
__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
            "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
            "TransformerDecoderLayer"]
__all__ += ["Unflatten", "ParameterDict", "PairwiseDistance", "Dropout1d", "Dropout2d",
            "Dropout3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d",
            "ZeroPad2d", "ZeroPad3d"]
__all__ += ["ChannelShuffle", "PixelShuffle", "PixelUnshuffle", "ConvTranspose3d"]

__all__ += ["PReLU", "GLU", "RReLU", "Softmax2d", "AlphaDropout", "FeatureAlphaDropout",
            "Bilinear", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Fold", "Unfold",
            "CosineEmbeddingLoss", "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
            "MultiLabelSoftMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss",
            "TripletMarginLoss", "GaussianNLLLoss", "PoissonNLLLoss", "BatchNorm3d", "GroupNorm",
            "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm",
            "CrossMapLRN2d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
            "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d",
            "CircularPad3d", "MaxPool1d", "AvgPool1d", "AdaptiveAvgPool1d", "AdaptiveMaxPool1d",
            "AdaptiveMaxPool2d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d",
            "LPPool3d", "FractionalMaxPool2d", "FractionalMaxPool3d",
            "MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d",
            "EmbeddingBag", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]
__all__ += ["TripletMarginWithDistanceLoss", "SyncBatchNorm"]
__all__ += ["UninitializedParameter", "UninitializedBuffer", "LazyLinear", "LazyConv1d",
            "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
            "LazyConvTranspose3d", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
            "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d", "CTCLoss"]


def __getattr__(name):
    # nn.parallel needs distgrad.distributed: loaded when first asked for, as torch.nn.parallel
    if name == "parallel":
        import importlib

        return importlib.import_module(".parallel", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
from .activation import Hardshrink, Softshrink, Tanhshrink  # noqa: E402
__all__ += ["Hardshrink", "Softshrink", "Tanhshrink"]
from .data_parallel import DataParallel  # noqa: E402
from .adaptive import AdaptiveLogSoftmaxWithLoss  # noqa: E402
__all__ += ["DataParallel", "AdaptiveLogSoftmaxWithLoss"]
import sys  # noqa: E402

from . import modules  # noqa: E402

modules.install_layout(sys.modules[__name__])  # torch.nn.modules.batchnorm, ... (all loaded now)
