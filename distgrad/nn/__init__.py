"""`distgrad.nn`: Module, Parameter, layers and losses, mirroring torch.nn."""
from __future__ import annotations

from . import functional, init
from .modules import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Flatten, Identity, L1Loss,
                      Linear, LogSoftmax, Module, ModuleList, MSELoss, NLLLoss, ReLU, Sequential,
                      Sigmoid, Softmax, Tanh, Unflatten)
from .parameter import Parameter
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
from .pixelshuffle import PixelShuffle, PixelUnshuffle
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)
from . import utils

__all__ = ["functional", "init", "Module", "Parameter", "Linear", "Identity", "Flatten", "ReLU",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Sequential", "ModuleList", "MSELoss",
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
__all__ += ["PixelShuffle", "PixelUnshuffle"]


def __getattr__(name):
    # nn.parallel needs distgrad.distributed: loaded when first asked for, as torch.nn.parallel
    if name == "parallel":
        import importlib

        return importlib.import_module(".parallel", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
from .activation import Hardshrink, Softshrink, Tanhshrink  # noqa: E402
__all__ += ["Hardshrink", "Softshrink", "Tanhshrink"]
