"""float16 and bfloat16 convolutions as torch rounds them on this CPU. oneDNN (where it
computes in the dtype: ops/cpu_features.py) sums in float32 and rounds once; torch's slow
kernels (im2col and a gemm per sample) round each window product, add the windows back in
the low dtype (col2im: a transposed convolution's output, a convolution's input
gradient; a channels-last 2-d one adds the kernel offsets last first), and add each
sample's weight gradient (and, dilated, its bias gradient) to the others' in it. Both are
one bfloat16 ulp or so apart; the slow kernels' roundings, computed the oneDNN way, are
several."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
from distgrad.ops.cpu_features import onednn_computes
from torch_twin import attempt, same

# (kind, batch, kernel, stride, dilation, groups, spatial dims): plain, 1x1 with one sample
# (the slow kernels even where oneDNN takes the dtype), dilated, strided, grouped, 3-d
GEOMETRIES = [("conv", 3, 3, 1, 1, 1, 2), ("conv", 1, 1, 1, 1, 1, 2), ("conv", 3, 3, 2, 2, 2, 2),
              ("conv", 3, 3, 2, 1, 2, 2), ("conv", 3, 3, 1, 2, 1, 3), ("conv", 3, 1, 2, 1, 1, 3),
              ("transposed", 3, 3, 2, 1, 1, 2), ("transposed", 1, 3, 1, 1, 2, 2),
              ("transposed", 3, 3, 2, 2, 1, 3), ("transposed", 3, 1, 1, 1, 1, 2)]


def _run(T, dtype, kind, batch, k, stride, dilation, groups, spatial):
    rng = np.random.default_rng(1)
    low = getattr(T, dtype)
    size = (6, 7, 5)[:spatial]
    x = T.tensor(rng.standard_normal((batch, 4) + size), dtype=low, requires_grad=True)
    F = T.nn.functional
    geo = dict(stride=stride, padding=k // 2, dilation=dilation, groups=groups)
    if kind == "transposed":
        w = T.tensor(rng.standard_normal((4, 4 // groups) + (k,) * spatial), dtype=low,
                     requires_grad=True)
        conv = F.conv_transpose3d if spatial == 3 else F.conv_transpose2d
    else:
        w = T.tensor(rng.standard_normal((4, 4 // groups) + (k,) * spatial), dtype=low,
                     requires_grad=True)
        conv = F.conv3d if spatial == 3 else F.conv2d
    b = T.tensor(rng.standard_normal(4), dtype=low, requires_grad=True)
    y = conv(x, w, b, **geo)
    g = T.tensor(rng.standard_normal(tuple(y.shape)), dtype=low)
    return [t.detach().float().numpy() for t in (y,) + T.autograd.grad(y, (x, w, b), g)]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_convolutions_round_as_torchs_kernels(dtype):
    worst = {}
    for geometry in GEOMETRIES:
        theirs, ours = (_run(T, dtype, *geometry) for T in (torch, distgrad))
        for name, a, b in zip(("output", "input grad", "weight grad", "bias grad"), theirs, ours):
            assert a.shape == b.shape
            rel = float((np.abs(a - b) / (np.abs(a) + 1e-3)).max())
            if rel > worst.get(name, (0,))[0]:
                worst[name] = (rel, geometry)
    # (a float32 sum in another order moves a result by one ulp at most: 2**-7 relative)
    assert all(rel < 1e-2 for rel, _ in worst.values()), worst


def _bit_for_bit_where_slow(low: str) -> dict:
    """Tolerances: none where torch's slow kernels compute in `low` here (distgrad rounds as
    they do), one ulp where oneDNN does (a float32 sum in its own order, rounded once)."""
    return dict(rtol=1e-2, atol=1e-2) if onednn_computes(low) else dict(rtol=0, atol=0)


def _grads(T, fn, x, w, b, **geometry):
    """fn's output for leaves made of x, w, b, and their gradients for a random one (but a
    transposed convolution's input gradient: a convolution, whose float32 sums a float16
    result may round differently, as torch's own kernels do between CPUs)."""
    x, w, b = (t.detach().requires_grad_() for t in (x, w, b))
    y = fn(x, w, b, **geometry)
    y.backward(T.randn(y.shape).to(y.dtype))
    return (y, w.grad, b.grad) + (() if "transpose" in fn.__name__ else (x.grad,))


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("channels_last", ["", "input", "weight"])
def test_conv_transpose_2d_rounds_as_torchs_col2im(low, channels_last):
    def scenario(T):
        T.manual_seed(0)
        F, d, cl = T.nn.functional, getattr(T, low), T.channels_last
        x, w, b = T.randn(3, 4, 5, 5).to(d), T.randn(4, 3, 3, 3).to(d), T.randn(6).to(d)
        x = x.contiguous(memory_format=cl) if channels_last == "input" else x
        w = w.contiguous(memory_format=cl) if channels_last == "weight" else w
        return (_grads(T, F.conv_transpose2d, x, w, b[:3], stride=2, padding=1)
                + _grads(T, F.conv_transpose2d, x, w, b, groups=2, stride=2, output_padding=1)
                + (attempt(F.conv_transpose2d, x, w, b[:3].float(), dilation=2),))

    same(scenario, **_bit_for_bit_where_slow(low))


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_conv_gradients_round_as_torchs_kernels(low):
    def scenario(T):
        T.manual_seed(0)
        F, d = T.nn.functional, getattr(T, low)
        x, w, b = T.randn(3, 4, 6, 6).to(d), T.randn(5, 4, 3, 3).to(d), T.randn(5).to(d)
        images = x.contiguous(memory_format=T.channels_last)
        signal, volume = T.randn(4, 4, 9).to(d), T.randn(2, 2, 4, 4, 4).to(d)
        return (_grads(T, F.conv2d, x, w, b, stride=2, padding=1)
                + _grads(T, F.conv2d, images, w, b, padding=1)
                + _grads(T, F.conv1d, signal, w[..., 0], b, stride=2)
                + _grads(T, F.conv_transpose1d, signal, w[:4, ..., 0], b[:4], stride=3)
                + _grads(T, F.conv_transpose3d, volume, T.randn(2, 3, 2, 2, 2).to(d), b[:3],
                         stride=2))

    same(scenario, **_bit_for_bit_where_slow(low))
