"""float16 and bfloat16 convolutions as torch rounds them on this CPU. oneDNN (where it
computes in the dtype: ops/cpu_features.py) sums in float32 and rounds once; torch's slow
kernels (im2col and a gemm per sample) round each window product, add the windows back in
the low dtype (col2im: a transposed convolution's output, a convolution's input
gradient), and add each sample's weight gradient (and, dilated, its bias gradient) to the
others' in it. Both are one bfloat16 ulp or so apart; the slow kernels' roundings,
computed the oneDNN way, are several."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad

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
