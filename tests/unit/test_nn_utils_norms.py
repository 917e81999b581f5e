"""nn.utils.get_total_norm, clip_grads_with_norm_ and stateless.functional_call against
torch: the total norm of several tensors for each norm order, the gradients scaled in place
by a given total norm, the non-finite error, and functional_call's values, gradients and
FutureWarning."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import distgrad

from module_twin import arr, as_np

ARRAYS = [arr(3, 2, seed=1), arr(4, seed=2), arr(2, 2, 2, seed=3)]


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, -math.inf, 0])
def test_get_total_norm(norm_type):
    got = [as_np(lib.nn.utils.get_total_norm([lib.tensor(a) for a in ARRAYS], norm_type))
           for lib in (torch, distgrad)]
    np.testing.assert_allclose(got[1], got[0], rtol=1e-6)
    assert got[1].shape == got[0].shape == ()
    empty = distgrad.nn.utils.get_total_norm([])
    assert as_np(empty) == as_np(torch.nn.utils.get_total_norm([]))


def test_get_total_norm_nonfinite_error():
    messages = []
    for lib in (torch, distgrad):
        with pytest.raises(RuntimeError) as info:
            lib.nn.utils.get_total_norm([lib.tensor([1.0, float("inf")])],
                                        error_if_nonfinite=True)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grads_with_norm(max_norm):
    got = []
    for lib in (torch, distgrad):
        params = [lib.tensor(a, requires_grad=True) for a in ARRAYS]
        sum((p * p * (k + 1)).sum() for k, p in enumerate(params)).backward()
        total = lib.nn.utils.get_total_norm([p.grad for p in params])
        assert lib.nn.utils.clip_grads_with_norm_(params, max_norm, total) is None
        got.append([as_np(p.grad) for p in params] + [as_np(total)])
    for mine, theirs in zip(got[1], got[0]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_stateless_functional_call():
    got = []
    for lib in (torch, distgrad):
        torch.manual_seed(0)
        module = lib.nn.Linear(3, 2)
        weight = lib.tensor(arr(2, 3, seed=4), requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = lib.nn.utils.stateless.functional_call(module, {"weight": weight},
                                                         (lib.tensor(arr(5, 3, seed=5)),))
        assert [w.category for w in caught] == [FutureWarning]
        out.sum().backward()
        got.append((as_np(out - module.bias), as_np(weight.grad), str(caught[0].message)))
    np.testing.assert_allclose(got[1][0], got[0][0], rtol=1e-6)
    np.testing.assert_allclose(got[1][1], got[0][1], rtol=1e-6)
    assert got[1][2] == got[0][2]
