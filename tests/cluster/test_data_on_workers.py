"""A DataLoader over a TensorDataset whose tensors live on worker:0, on both backends: its
batches are on worker:0 and nothing is gathered to the driver to make them; they hold
torch's values (in order, and as a permutation when shuffled); a training loop over them
gives torch's losses and weights."""
from __future__ import annotations

import gc

import numpy as np
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.utils.data import DataLoader, TensorDataset

RNG = np.random.default_rng(11)
X = RNG.standard_normal((10, 3)).astype(np.float32)
Y = (X @ np.array([[0.5], [-1.0], [2.0]], np.float32) + 0.3).astype(np.float32)


def _received_from_workers() -> list:
    gc.collect()
    dist.current().flush_all()
    return list(dist.counters()["bytes_received"])


def test_batches_stay_on_the_worker_and_hold_torchs_values(backend):
    ds = TensorDataset(dg.tensor(X, device="worker:0"), dg.tensor(Y, device="worker:0"))
    loader = DataLoader(ds, batch_size=4)
    before = _received_from_workers()
    batches = list(loader)
    assert _received_from_workers() == before  # indexing and stacking ran on the worker
    assert len(loader) == len(batches) == 3
    assert all(t.device_str == "worker:0" for batch in batches for t in batch)
    expected = list(torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(Y)), batch_size=4))
    for (xb, yb), (txb, tyb) in zip(batches, expected):
        np.testing.assert_array_equal(xb.cpu().numpy(), txb.numpy())
        np.testing.assert_array_equal(yb.cpu().numpy(), tyb.numpy())
    shuffled = list(DataLoader(ds, batch_size=3, shuffle=True,
                               generator=dg.Generator().manual_seed(0)))
    assert all(xb.device_str == "worker:0" for xb, _ in shuffled)
    rows = np.concatenate([xb.cpu().numpy() for xb, _ in shuffled])
    assert sorted(map(tuple, rows)) == sorted(map(tuple, X))


def test_training_loop_over_worker_batches_gives_torchs_loss(backend):
    def train(lib, device):
        data = lib.utils.data
        lib.manual_seed(0)
        model = lib.nn.Linear(3, 1)
        with lib.no_grad():
            model.weight.copy_(lib.tensor([[0.1, 0.2, -0.3]]))
            model.bias.fill_(0.05)
        model.to(device)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        ds = data.TensorDataset(lib.tensor(X, device=device), lib.tensor(Y, device=device))
        losses = []
        for _ in range(3):
            for xb, yb in data.DataLoader(ds, batch_size=4, drop_last=True):
                assert str(xb.device) == device
                loss = lib.nn.functional.mse_loss(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        return losses, model.weight.detach().cpu().numpy()

    losses, weight = train(dg, "worker:0")
    t_losses, t_weight = train(torch, "cpu")
    assert len(losses) == 6
    np.testing.assert_allclose(losses, t_losses, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(weight, t_weight, rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]


def test_assert_close_checks_the_device(backend):
    on_worker, on_driver = dg.ones(2, device="worker:0"), dg.ones(2)
    dg.testing.assert_close(on_worker, dg.ones(2, device="worker:0"))
    dg.testing.assert_close(on_worker, on_driver, check_device=False)
    try:
        dg.testing.assert_close(on_worker, on_driver)
    except AssertionError as e:
        assert str(e) == "The values for attribute 'device' do not match: worker:0 != cpu."
    else:
        raise AssertionError("a device mismatch passed")
