"""float16 and bfloat16 in-place arithmetic on a worker as on the driver and in torch (bit
for bit). A worker writes an op's result straight into the tensor's memory when it can
(table.run_into); in float16's own numpy arithmetic that would round alpha·b before the
add, where torch's kernel computes a + alpha·b in float32 and rounds once: an optimizer's
p.add_(g, alpha=-lr) on a half model's worker-held weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
import distgrad.distributed as dist


@pytest.fixture(scope="module")
def workers():
    own = not dist.is_initialized()
    if own:
        dist.init(num_workers=2, backend="local")
    yield
    if own:
        dist.shutdown()


@pytest.mark.parametrize("low", ["float16", "bfloat16"])
@pytest.mark.parametrize("device", ["cpu", "worker:0"])
def test_add_and_sub_with_an_alpha_in_place(workers, low, device):
    torch.manual_seed(0)
    p, g = (torch.randn(64).to(getattr(torch, low)) for _ in range(2))
    ours = [distgrad.tensor(t.float().numpy()).to(getattr(distgrad, low)).to(device)
            for t in (p, g)]
    steps = (lambda a, b: a.add_(b, alpha=-0.1), lambda a, b: a.sub_(b, alpha=0.37),
             lambda a, b: a.add_(b, alpha=3))
    for step in steps:
        expected = step(p.clone(), g)
        got = step(ours[0].clone(), ours[1])
        np.testing.assert_array_equal(got.float().cpu().numpy(), expected.float().numpy())
