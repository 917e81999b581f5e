"""torch.nn.utils.stateless.functional_call: the older name of distgrad.func.functional_call,
kept for scripts written before torch 2.0 (with torch's FutureWarning)."""
from __future__ import annotations

import functools
import warnings

from ...func.stateless import functional_call as _functional_call

__all__ = ["functional_call"]


@functools.wraps(_functional_call)
def functional_call(*args, **kwargs):
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 "
                  "and will be removed in a future version of PyTorch. Please use "
                  "`torch.func.functional_call` instead which is a drop-in replacement.",
                  FutureWarning, stacklevel=2)
    return _functional_call(*args, **kwargs)
