"""The special functions computed with numpy here (ops/special.py: lgamma, digamma, the
polygammas digamma's derivatives use, erfinv) against torch's in float64, over wide ranges,
near the poles and in erfinv's tails, to a relative 1e-6 (they are far closer), with
torch's inf and nan in the same places; and the Chebyshev polynomials' trigonometric forms
in float32, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad

RNG = np.random.default_rng(20261204)
REAL = np.concatenate([RNG.uniform(-30, 30, 4000), RNG.uniform(-3, 3, 4000),
                       10.0 ** RNG.uniform(-8, 8, 1000), -(10.0 ** RNG.uniform(-8, 1, 1000)),
                       [0.0, -0.0, -1.0, -2.0, -2.5, 1.0, 2.0, 0.5, 1e-300, 1e10,
                        np.inf, -np.inf, np.nan]])
UNIT = np.concatenate([RNG.uniform(-1, 1, 4000), 1 - 10.0 ** RNG.uniform(-16, -1, 1000),
                       -1 + 10.0 ** RNG.uniform(-16, -1, 1000),
                       [0.0, -0.0, 1e-300, 1.0, -1.0, 1.5, -3.0, np.nan]])


def _agree(ours, theirs):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert np.array_equal(np.isnan(ours), np.isnan(theirs))
    infinite = np.isinf(theirs)
    assert np.array_equal(ours[infinite], theirs[infinite])
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-6, atol=1e-300)


@pytest.mark.parametrize("name, inputs", [("lgamma", REAL), ("digamma", REAL), ("erfinv", UNIT)])
def test_special_function_matches_torch_in_float64(name, inputs):
    ours = getattr(distgrad.tensor(inputs), name)().numpy()
    _agree(ours, getattr(torch.tensor(inputs), name)().numpy())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_polygamma_behind_digammas_derivatives_matches_torch(n):
    from distgrad.ops.special import polygamma

    off_poles = REAL[~((REAL <= 0) & (REAL == np.floor(REAL)))]
    _agree(polygamma(n, off_poles), torch.polygamma(n, torch.tensor(off_poles)).numpy())


CHEBYSHEV = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
             "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t",
             "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
             "shifted_chebyshev_polynomial_w"]


@pytest.mark.parametrize("name", CHEBYSHEV)
def test_chebyshev_trigonometric_forms_match_torch_in_float32(name):
    """Past a small degree torch takes a Chebyshev polynomial of |x| < 1 as a cos or sin of
    a multiple of acos(x), with the C library's float32 acos, cos and sin: the same bits."""
    x = np.linspace(-0.995, 0.995, 399, dtype=np.float32).reshape(-1, 1)
    if name.startswith("shifted"):
        x = (x + 1) / 2
    n = np.array([9, 12, 40, 129, 513, 2000], np.float32)
    ours = getattr(distgrad.special, name)(distgrad.tensor(x), distgrad.tensor(n)).numpy()
    theirs = getattr(torch.special, name)(torch.tensor(x), torch.tensor(n)).numpy()
    np.testing.assert_array_equal(ours, theirs)
