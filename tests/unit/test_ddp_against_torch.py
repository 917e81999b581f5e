"""DistributedDataParallel on in-process workers against torch's one process on the whole
batch (DDP averages the ranks' gradients: for a loss that averages over the batch, the
whole batch's gradient): modules mixing views written in place, LayerNorm, a tied weight,
an unused and a frozen parameter, a buffer written in forward; no_sync accumulation,
small buckets, three workers, float64, optimizers over several steps; and the reducer's
error for a forward after a backward that left parameters without a gradient."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
from distgrad.nn.parallel import DistributedDataParallel
from test_pipelining_against_torch import _arr, workers  # noqa: F401  (in-process workers)


def _model(lib, dtype=np.float32):
    nn = lib.nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.up, self.down = nn.Linear(4, 6), nn.Linear(6, 4)
            self.norm, self.unused, self.frozen = nn.LayerNorm(6), nn.Linear(2, 2), nn.Linear(4, 4)
            self.register_buffer("calls", lib.zeros((), dtype=getattr(lib, "float64")))

        def forward(self, x):
            self.calls += 1
            h = self.up(x)
            h[:, :2].mul_(2)
            h = self.norm(h.t().contiguous().t()).relu()
            wide = h.unsqueeze(1).expand(-1, 2, -1).reshape(-1, 12)[:, 3:9]
            out = self.down(h + wide)
            return self.frozen(out) + out @ self.up.weight[:, :4].t()[:, :4]  # (up used twice)

    m = Model()
    with lib.no_grad():
        for k, (_, q) in enumerate(sorted(m.named_parameters())):
            q.copy_(lib.from_numpy(_arr(*q.shape, seed=k, dtype=dtype)))
    m.frozen.weight.requires_grad_(False)
    return m.double() if dtype == np.float64 else m


def _np(t):
    t = t.detach()
    return (t.full_tensor() if getattr(t, "_sharding", None) is not None else t).cpu().numpy()


def _same(dm, tm, rtol=1e-5, atol=1e-6):
    for (name, dq), tq in zip(dm.named_parameters(), tm.parameters()):
        assert (dq.grad is None) == (tq.grad is None), name
        if tq.grad is not None:
            np.testing.assert_allclose(_np(dq.grad), tq.grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=name)
        np.testing.assert_allclose(_np(dq), tq.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)
    assert _np(dm.calls) == tm.calls.item()


@pytest.mark.parametrize("workers,bucket_cap_mb,dtype", [
    (2, 25, np.float32), (3, 1e-5, np.float32), (2, 1e-5, np.float64)], indirect=["workers"])
def test_ddp_no_sync_and_steps_give_the_whole_batchs_gradients(workers, bucket_cap_mb, dtype):
    batches = [(_arr(6, 4, seed=10 + k, dtype=dtype), _arr(6, 4, seed=20 + k, dtype=dtype))
               for k in range(3)]
    tm, dm = _model(torch, dtype), _model(dg, dtype)
    ddp = DistributedDataParallel(dm, bucket_cap_mb=bucket_cap_mb, find_unused_parameters=True)
    topt = torch.optim.Adam([q for q in tm.parameters() if q.requires_grad], lr=0.05)
    dopt = dg.optim.Adam([q for q in ddp.parameters() if q.requires_grad], lr=0.05)
    for step in range(3):
        topt.zero_grad()
        dopt.zero_grad()
        for k, (x, y) in enumerate(batches):  # the first two accumulated without syncing
            syncing = k == len(batches) - 1
            tloss = torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y))
            tloss.backward()
            with (dg.autograd.grad_mode.enable_grad() if syncing else ddp.no_sync()):
                out = ddp(dg.from_numpy(x))
                loss = dg.nn.functional.mse_loss(out, dg.from_numpy(y))
                loss.backward()
            assert loss.dtype == getattr(dg, str(tloss.dtype).split(".")[1])
            np.testing.assert_allclose(_np(loss), tloss.item(), rtol=1e-5)
        if step == 0:
            assert tm.unused.weight.grad is None and dm.unused.weight.grad is None
            _same(dm, tm)
        topt.step()
        dopt.step()
    _same(dm, tm, rtol=1e-4, atol=1e-5)


def _partly_used(lib, **kw):
    lib.manual_seed(0)
    frozen = lib.nn.Linear(3, 3).requires_grad_(False)  # (not among DDP's parameters)

    class Model(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen, self.a, self.u = frozen, lib.nn.Linear(3, 3), lib.nn.Linear(3, 3)

        def forward(self, x, use=False):
            return self.a(self.frozen(x)) + (self.u(x) if use else 0)
    return DistributedDataParallel(Model(), **kw)


def test_a_forward_after_a_backward_that_left_parameters_unreduced_raises(workers):
    # torch's reducer: a bucket whose parameters did not all get a gradient never finished;
    # the next forward that records a graph says so (no_sync's too), a no_grad one does not.
    x = dg.ones(4, 3)
    ddp = _partly_used(dg)
    ddp(x).sum().backward()
    with dg.no_grad():
        ddp(x)
    with pytest.raises(RuntimeError, match=r"(?s)^Expected to have finished reduction in the prior "
                       r"iteration before starting a new one\. .*\nParameter indices which did "
                       r"not receive grad for rank 0: 2 3\n In addition"):
        ddp(x, use=True)
    with ddp.no_sync(), pytest.raises(RuntimeError, match="Expected to have finished"):
        ddp(x, use=True)
    for kw, first in (({"find_unused_parameters": True}, {}), ({}, {"use": True})):
        ddp = _partly_used(dg, **kw)  # (unused ones marked ready; or none unused)
        ddp(x, **first).sum().backward()
        ddp(x, use=True).sum().backward()
    ddp = _partly_used(dg)  # autograd.grad reduces nothing: nothing to finish
    dg.autograd.grad(ddp(x, use=True).sum(), [ddp.module.a.weight])
    ddp(x).sum().backward()
