"""fully_shard (FSDP2) on both backends against PyTorch in one process on the whole batch:
a model of blocks with LayerNorm sharded bottom-up, AdamW over several steps, gradient
accumulation without sync, and a distributed checkpoint of the sharded state."""
from __future__ import annotations

import numpy as np
import torch

import distgrad as dg
import distgrad.distributed.checkpoint as dcp
from distgrad.distributed import Shard
from distgrad.distributed.fsdp import fully_shard


def _model(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln, self.fc, self.out = nn.LayerNorm(6), nn.Linear(6, 9), nn.Linear(9, 6)

        def forward(self, x):
            return x + self.out(self.fc(self.ln(x)).tanh())

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp, self.head = nn.Linear(4, 6), nn.Linear(6, 1)
            self.blocks = nn.ModuleList([Block(), Block()])

        def forward(self, x):
            h = self.inp(x)
            for block in self.blocks:
                h = block(h)
            return self.head(h)

    model = Net().double()
    with lib.no_grad():
        for k, (_, q) in enumerate(sorted(model.named_parameters())):
            q.copy_(lib.from_numpy(np.random.default_rng(k).uniform(-1, 1, q.shape)))
    return model


def _sharded(model):
    for block in model.blocks:
        fully_shard(block)
    return fully_shard(model)


def _whole(t):
    return t.detach().full_tensor().numpy()


def test_fully_shard_trains_as_torch_on_the_whole_batch(backend, tmp_path):
    tm, dm = _model(torch), _sharded(_model(dg))
    topt = torch.optim.AdamW(tm.parameters(), lr=0.01)
    dopt = dg.optim.AdamW(dm.parameters(), lr=0.01)
    rng = np.random.default_rng(7)
    for step in range(3):
        for micro in range(2):  # the first without syncing gradients
            dm.set_requires_gradient_sync(micro == 1)
            x, y = rng.uniform(-1, 1, (8, 4)), rng.uniform(-1, 1, (8, 1))
            tloss = torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y))
            dloss = dg.nn.functional.mse_loss(dm(dg.from_numpy(x)), dg.from_numpy(y))
            tloss.backward()
            dloss.backward()
            np.testing.assert_allclose(dloss.item(), tloss.item(), rtol=1e-12)
        for (name, dq), tq in zip(dm.named_parameters(), tm.parameters()):
            assert dq.placements == [Shard(0)] and dq.grad.placements == [Shard(0)], name
            np.testing.assert_allclose(_whole(dq.grad), tq.grad.numpy(), rtol=1e-10,
                                       atol=1e-12, err_msg=name)
        topt.step()
        dopt.step()
        topt.zero_grad()
        dopt.zero_grad()
    for (name, dq), tq in zip(dm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_whole(dq), tq.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    dcp.save({"model": dm.state_dict()}, checkpoint_id=str(tmp_path))
    other = _sharded(_model(dg))
    state = {"model": other.state_dict()}
    dcp.load(state, checkpoint_id=str(tmp_path))
    other.load_state_dict(state["model"])
    for (name, a), b in zip(dm.named_parameters(), other.parameters()):
        assert np.array_equal(_whole(a), _whole(b)), name
