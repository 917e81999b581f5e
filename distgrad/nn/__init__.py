"""`distgrad.nn`: Module, Parameter, layers and losses, mirroring torch.nn."""
from __future__ import annotations

from . import functional, init
from .modules import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, Flatten, Identity, L1Loss,
                      Linear, LogSoftmax, Module, ModuleList, MSELoss, NLLLoss, ReLU, Sequential,
                      Sigmoid, Softmax, Tanh)
from .parameter import Parameter

__all__ = ["functional", "init", "Module", "Parameter", "Linear", "Identity", "Flatten", "ReLU",
           "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Sequential", "ModuleList", "MSELoss",
           "L1Loss", "BCELoss", "BCEWithLogitsLoss", "NLLLoss", "CrossEntropyLoss"]
