"""nn.init's eye_, dirac_, xavier_normal_, kaiming_normal_, trunc_normal_, orthogonal_ and
sparse_ against torch: the deterministic fills exactly, the random ones by their statistics
under a fixed seed (std from fan_in/fan_out and calculate_gain, truncation bounds,
orthogonality, zeros per column), with torch's errors and warnings; the fills run under
no_grad on a parameter."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import distgrad
from distgrad.nn import init


@pytest.fixture(autouse=True)
def _seed():
    distgrad.manual_seed(20261204)


def _param(*shape):
    return distgrad.nn.Parameter(distgrad.empty(*shape))


@pytest.mark.parametrize("shape", [(3, 5), (4, 4), (5, 2)])
def test_eye_is_torchs(shape):
    w = _param(*shape)
    out = init.eye_(w)
    assert out is w and w.requires_grad and w.grad_fn is None
    np.testing.assert_array_equal(w.detach().numpy(),
                                  torch.nn.init.eye_(torch.empty(*shape)).numpy())


@pytest.mark.parametrize("shape, groups", [((4, 3, 5), 1), ((6, 2, 3, 4), 2), ((4, 5, 3, 3, 2), 2),
                                           ((6, 1, 3), 3), ((2, 4, 3, 3), 1)])
def test_dirac_is_torchs(shape, groups):
    w = _param(*shape)
    init.dirac_(w, groups)
    np.testing.assert_array_equal(w.detach().numpy(),
                                  torch.nn.init.dirac_(torch.empty(*shape), groups).numpy())


def _std_within(values, std, rel=0.05):
    assert abs(values.mean()) < 4 * std / math.sqrt(values.size)
    assert abs(values.std() / std - 1) < rel


@pytest.mark.parametrize("mode, nonlinearity, a", [
    ("fan_in", "leaky_relu", 0), ("fan_out", "relu", 0), ("fan_in", "leaky_relu", 0.2),
    ("FAN_OUT", "tanh", 0), ("fan_in", "conv_transpose2d", 0)])
def test_kaiming_normal_std(mode, nonlinearity, a):
    w = _param(64, 32, 3, 3)
    init.kaiming_normal_(w, a=a, mode=mode, nonlinearity=nonlinearity)
    fan = 32 * 9 if mode.lower() == "fan_in" else 64 * 9
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    _std_within(w.detach().numpy(), std)


def test_xavier_normal_std():
    w = _param(200, 100, 2)
    init.xavier_normal_(w, gain=2.0)
    _std_within(w.detach().numpy(), 2.0 * math.sqrt(2.0 / (100 * 2 + 200 * 2)))


@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, -2.0, 2.0), (0.5, 2.0, 0.0, 1.0),
                                             (0.0, 0.02, -0.04, 0.04), (1.0, 1.0, 2.5, 4.0),
                                             (0.0, 1.0, 10.0, 11.0), (0.0, 1.0, -40.0, -39.0)])
def test_trunc_normal_bounds_and_moments(mean, std, a, b):
    w = _param(200, 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's warning for bounds far from the mean)
        init.trunc_normal_(w, mean, std, a, b)
    v = w.detach().numpy().astype(np.float64)
    assert v.min() >= a and v.max() <= b
    # the truncated normal's mean and variance, by quadrature on [a, b] (the density scaled
    # by its value nearest the mean, so that far tails do not underflow)
    t = np.linspace(a, b, 400001)
    near = min(max(mean, a), b)
    density = np.exp(-((t - mean) ** 2 - (near - mean) ** 2) / (2 * std ** 2))
    m = (t * density).sum() / density.sum()
    var = ((t - m) ** 2 * density).sum() / density.sum()
    assert abs(v.mean() - m) < 5 * math.sqrt(var / v.size)
    assert abs(v.var() / var - 1) < 0.03


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 3, 2), (8, 8)])
def test_orthogonal(shape):
    w = _param(*shape)
    init.orthogonal_(w, gain=1.5)
    m = w.detach().numpy().reshape(shape[0], -1).astype(np.float64) / 1.5
    small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-5)


def test_orthogonal_is_haar_distributed():
    """Over many draws, each entry of a Haar-random 4x4 orthogonal matrix has mean 0 and
    variance 1/4 (without the sign correction the diagonal's mean is not 0)."""
    draws = np.stack([init.orthogonal_(distgrad.empty(4, 4)).numpy() for _ in range(2000)])
    assert np.abs(draws.mean(0)).max() < 0.05
    np.testing.assert_allclose(draws.var(0), 0.25, atol=0.03)


@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.0])
def test_sparse_zeros_per_column_and_std(sparsity):
    w = _param(40, 300)
    init.sparse_(w, sparsity, std=0.5)
    v = w.detach().numpy()
    assert ((v == 0).sum(0) == math.ceil(sparsity * 40)).all()
    _std_within(v[v != 0], 0.5)
    # the zeros fall at random rows
    assert (v == 0).sum(1).std() > 0 or sparsity == 0


def test_the_generator_argument_gives_the_same_draws():
    a, b = distgrad.empty(5, 6), distgrad.empty(5, 6)
    for fill in (init.kaiming_normal_, init.xavier_normal_, init.trunc_normal_, init.orthogonal_,
                 lambda t, generator: init.sparse_(t, 0.3, generator=generator)):
        # sparse_ draws its zeros' rows from the default stream whatever the generator (torch)
        distgrad.manual_seed(1)
        fill(a, generator=distgrad.Generator().manual_seed(3))
        distgrad.manual_seed(1)
        fill(b, generator=distgrad.Generator().manual_seed(3))
        np.testing.assert_array_equal(a.numpy(), b.numpy())


_ERRORS = [
    lambda m, T: m.eye_(T.empty(2, 2, 2)),
    lambda m, T: m.dirac_(T.empty(4, 2)),
    lambda m, T: m.dirac_(T.empty(4, 2, 3), groups=3),
    lambda m, T: m.kaiming_normal_(T.empty(4, 2), mode="fan_x"),
    lambda m, T: m.kaiming_normal_(T.empty(4), mode="fan_in"),
    lambda m, T: m.kaiming_normal_(T.empty(4, 2), nonlinearity="gelu"),
    lambda m, T: m.kaiming_normal_(T.empty(4, 2), a=True),
    lambda m, T: m.xavier_normal_(T.empty(3)),
    lambda m, T: m.orthogonal_(T.empty(3)),
    lambda m, T: m.sparse_(T.empty(3, 2, 2), 0.1),
]


@pytest.mark.parametrize("k", range(len(_ERRORS)))
def test_errors_match_torch(k):
    got = []
    for m, T in ((init, distgrad), (torch.nn.init, torch)):
        with pytest.raises(Exception) as e:
            _ERRORS[k](m, T)
        got.append((e.type, str(e.value)))
    assert got[0] == got[1]


@pytest.mark.parametrize("fill", [
    lambda m, T: m.kaiming_normal_(T.empty(0, 3)),
    lambda m, T: m.trunc_normal_(T.empty(3), mean=10.0, std=1.0, a=-1.0, b=1.0),
])
def test_warnings_match_torch(fill):
    got = []
    for m, T in ((init, distgrad), (torch.nn.init, torch)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fill(m, T)
        got.append([str(x.message) for x in w])
    assert got[0] == got[1] and got[0]


def test_gains_match_torch():
    for name, param in [("conv_transpose3d", None), ("leaky_relu", 2), ("leaky_relu", 0.3),
                        ("selu", None), ("tanh", None), ("sigmoid", None)]:
        assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


_WRITES = {  # torch's in-place steps: each counts on the version counter
    "trunc_normal_redrawn": lambda I, t: I.trunc_normal_(t),
    "trunc_normal_narrow": lambda I, t: I.trunc_normal_(t, a=-0.1, b=0.2),
    "trunc_normal_wide": lambda I, t: I.trunc_normal_(t, a=-9.0, b=9.0),
    "orthogonal": lambda I, t: I.orthogonal_(t, gain=3.0),
    "sparse": lambda I, t: I.sparse_(t, 0.5),
    "sparse_none_zeroed": lambda I, t: I.sparse_(t, 0.0),
    "dirac_groups": lambda I, t: I.dirac_(t.view(4, 2, 3), groups=2),
    "dirac": lambda I, t: I.dirac_(t.view(2, 3, 2, 2)),
}


@pytest.mark.parametrize("device", ["cpu", "meta"])
@pytest.mark.parametrize("name", sorted(_WRITES))
def test_inits_count_torchs_writes(name, device):
    """orthogonal_ copies then scales, sparse_ zeroes column by column, dirac_ writes each
    delta, trunc_normal_ copies its redrawn values in: the version counter counts each
    write, as users see it (nothing on the meta device, which these leave alone)."""
    versions = []
    for T in (torch, distgrad):
        T.manual_seed(3)
        t = T.empty(4, 6, device=device)
        _WRITES[name](T.nn.init, t)
        versions.append(t._version)
    assert versions[1] == versions[0]
