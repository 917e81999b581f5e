"""The engine suite of the torch.autograd mirror again, with every tensor a scenario
creates placed on a worker (both backends): the same scenarios, the same torch results."""
from __future__ import annotations

import functools
import os
import sys
import types

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit"))

import distgrad  # noqa: E402
import torch_twin  # noqa: E402
from test_engine import *  # noqa: E402,F401,F403  (the scenarios, collected here again)

# A worker leaf's view resized by out= within its memory: on a worker the driver still takes
# the memory as the leaf's 3 elements, so the view's gradient fails a storage-size check
# before torch's AsStridedBackward0 shape error (README, the tensor model's known differences).
del test_a_view_of_a_leaf_resized_in_its_memory_checks_its_gradient_against_the_old_shape  # noqa: F821

_CREATION = {"tensor", "ones", "zeros", "full", "eye", "arange", "linspace", "rand", "randn",
             "randint", "empty", "as_tensor"}


class _Placed(types.ModuleType):
    """`distgrad`, except that creation functions default to device=`device`."""

    def __init__(self, device: str):
        super().__init__("distgrad")
        self._device = device

    def __getattr__(self, name):
        attr = getattr(distgrad, name)
        if name in _CREATION:
            @functools.wraps(attr)
            def placed(*args, **kwargs):
                kwargs.setdefault("device", self._device)
                return attr(*args, **kwargs)
            return placed
        return attr


@pytest.fixture(autouse=True)
def leaves_on_worker(backend, monkeypatch):
    monkeypatch.setattr(torch_twin, "distgrad", _Placed("worker:1"))
