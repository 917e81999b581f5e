"""fully_shard (FSDP2) on in-process workers against torch's one process on the whole batch
(FSDP averages the ranks' gradients: for a loss that averages over the batch, the whole
batch's gradient): an MLP and a transformer-like block (attention, LayerNorm) sharded
bottom-up, SGD and Adam over several steps, two and three workers (torch.chunk's uneven
split, an empty shard); the parameters registered sharded or whole around forward and
backward; gradient accumulation without sync; mixed precision; state dicts and
distributed checkpoints; torch's errors for misuse."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed.checkpoint as dcp
from distgrad.distributed import Replicate, Shard
from distgrad.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                        get_state_dict, set_state_dict)
from distgrad.distributed.fsdp import (FSDPModule, MixedPrecisionPolicy, fully_shard,
                                       register_fsdp_forward_method)
from test_pipelining_against_torch import _arr, workers  # noqa: F401  (in-process workers)


def _mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(4, 7), nn.Tanh(), nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 1))


def _transformer(lib):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(6), nn.LayerNorm(6)
            # (no qkv bias: the keys' bias has a zero gradient, its roundoff would drive Adam)
            self.qkv, self.proj = nn.Linear(6, 18, bias=False), nn.Linear(6, 6)
            self.fc, self.out = nn.Linear(6, 10), nn.Linear(10, 6)

        def forward(self, x):
            q, k, v = self.qkv(self.ln1(x)).split(6, dim=-1)
            att = F.softmax(q @ k.transpose(-2, -1) / 6 ** 0.5, dim=-1)
            x = x + self.proj(att @ v)
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(3, 6)
            self.blocks = nn.ModuleList([Block(), Block()])
            self.head = nn.Linear(6, 2)

        def forward(self, x):
            h = self.embed(x)
            for block in self.blocks:
                h = block(h)
            return self.head(h)

    return Net()


def _init(lib, module, dtype=np.float32):
    if dtype == np.float64:
        module = module.double()
    with lib.no_grad():
        for k, (_, q) in enumerate(sorted(module.named_parameters())):
            q.copy_(lib.from_numpy(_arr(*q.shape, seed=k, dtype=dtype)))
    return module


def _sharded(model):
    """Bottom-up, as torch's users apply it: each block (each Linear of an MLP), then the root."""
    blocks = getattr(model, "blocks", None)
    for sub in (blocks if blocks is not None else
                [m for m in model if isinstance(m, dg.nn.Linear)][:-1]):
        fully_shard(sub)
    return fully_shard(model)


def _np(t):
    t = t.detach()
    return (t.full_tensor() if getattr(t, "_sharding", None) is not None else t).cpu().numpy()


def _same(dm, tm, rtol=2e-5, atol=2e-6):
    for (name, dq), tq in zip(dm.named_parameters(), tm.parameters()):
        assert dq.placements == [Shard(0)], name
        if tq.grad is not None:
            assert dq.grad.placements == [Shard(0)], name
            np.testing.assert_allclose(_np(dq.grad), tq.grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=name)
        np.testing.assert_allclose(_np(dq), tq.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)


def _batches(make, n=3, dtype=np.float32):
    shape = (6, 3, 3) if make is _transformer else (6, 4)
    out = (6, 3, 2) if make is _transformer else (6, 1)
    return [(_arr(*shape, seed=10 + k, dtype=dtype), _arr(*out, seed=20 + k, dtype=dtype))
            for k in range(n)]


@pytest.mark.parametrize("workers", [2, 3], indirect=True)
@pytest.mark.parametrize("make", [_mlp, _transformer])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_fully_shard_trains_as_torch_on_the_whole_batch(workers, make, optimizer):
    # (float64: the gradients are compared to 1e-10, no float32 roundoff in the way)
    tm, dm = _init(torch, make(torch), np.float64), _sharded(_init(dg, make(dg), np.float64))
    kw = {"lr": 0.05, "momentum": 0.9} if optimizer == "SGD" else {"lr": 0.01}
    topt = getattr(torch.optim, optimizer)(tm.parameters(), **kw)
    dopt = getattr(dg.optim, optimizer)(dm.parameters(), **kw)
    _steps_alike(tm, dm, topt, dopt, _batches(make, dtype=np.float64),
                 lambda lib, model, xy: lib.nn.functional.mse_loss(
                     model(lib.from_numpy(xy[0])), lib.from_numpy(xy[1])))


def _steps_alike(tm, dm, topt, dopt, batches, loss, rtol=1e-10, atol=1e-12):
    """A step of each optimizer on each batch's `loss(lib, model, batch)`: the same losses,
    gradients and parameters."""
    for batch in batches:
        tloss, dloss = loss(torch, tm, batch), loss(dg, dm, batch)
        tloss.backward()
        dloss.backward()
        np.testing.assert_allclose(dloss.item(), tloss.item(), rtol=rtol)
        _same(dm, tm, rtol=rtol, atol=atol)
        topt.step()
        dopt.step()
        topt.zero_grad()
        dopt.zero_grad()
    _same(dm, tm, rtol=rtol, atol=atol)


def _squares(lib, model, idx):
    return model(lib.from_numpy(idx)).square().mean()


@pytest.mark.parametrize("workers", [3], indirect=True)
def test_parameters_are_split_as_torch_chunk_splits_them(workers):
    model = fully_shard(dg.nn.Linear(3, 4))
    assert [p.shape for p in model.weight.shards] == [torch.Size([2, 3])] * 2 + [
        torch.Size([0, 3])]
    assert [p.shape[0] for p in model.bias.shards] == [2, 2, 0]
    assert type(model).__name__ == "FSDPLinear" and isinstance(model, FSDPModule)
    assert type(model).__mro__[1:3] == (FSDPModule, dg.nn.Linear)


def test_parameters_registered_whole_only_while_needed(workers):
    model = _init(dg, _mlp(dg))
    _sharded(model)
    out = model(dg.from_numpy(_arr(4, 4)))
    # the root keeps its parameters gathered after forward (reshard_after_forward=None)
    assert model[4].weight.placements == [Replicate()]
    assert model[0].weight.placements == [Shard(0)]
    out.sum().backward()
    assert all(p.placements == [Shard(0)] for p in model.parameters())
    model.unshard()
    assert model[4].weight.placements == [Replicate()]
    model.reshard()
    assert model[4].weight.placements == [Shard(0)]
    model.unshard(async_op=True).wait()
    assert model[4].weight.placements == [Replicate()]
    model.reshard()
    model.set_modules_to_forward_prefetch([model[0], model[2]])  # (the order is recorded)
    model.set_modules_to_backward_prefetch([model[2], model[0]])
    model.set_reshard_after_forward(True)
    model(dg.from_numpy(_arr(4, 4)))
    assert model[4].weight.placements == [Shard(0)]
    model.set_reshard_after_forward(False)
    model.set_reshard_after_backward(False)
    model(dg.from_numpy(_arr(4, 4))).sum().backward()
    assert model[0].weight.placements == [Replicate()]
    assert model[0].weight.requires_grad and model[0].weight.grad_fn is not None


def test_ignored_parameters_stay_as_they_are(workers):
    model = _mlp(dg)
    kept = model[4].weight
    fully_shard(model, ignored_params={kept})
    assert model[4].weight is kept and kept.placements == []
    assert model[0].weight.placements == [Shard(0)]


def test_gradient_accumulation_without_sync(workers):
    tm, dm = _init(torch, _mlp(torch)), _sharded(_init(dg, _mlp(dg)))
    batches = _batches(_mlp)
    dm.set_requires_gradient_sync(False)
    for k, (x, y) in enumerate(batches):
        if k == len(batches) - 1:
            dm.set_requires_gradient_sync(True)
        torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        dg.nn.functional.mse_loss(dm(dg.from_numpy(x)), dg.from_numpy(y)).backward()
        if k < len(batches) - 1:  # kept aside: the sharded gradients are not touched
            assert all(p.grad is None for p in dm.parameters())
    _same(dm, tm)


def test_mixed_precision_computes_in_param_dtype_and_keeps_float32_gradients(workers):
    policy = MixedPrecisionPolicy(param_dtype=dg.bfloat16, reduce_dtype=dg.float32)
    tm = _init(torch, _mlp(torch))
    dm = _init(dg, _mlp(dg))
    for sub in [dm[0], dm[2]]:
        fully_shard(sub, mp_policy=policy)
    fully_shard(dm, mp_policy=policy)
    x, y = _batches(_mlp)[0]
    params = {n: p.to(torch.bfloat16) for n, p in tm.named_parameters()}
    tout = torch.func.functional_call(tm, params, (torch.from_numpy(x).to(torch.bfloat16),))
    dout = dm(dg.from_numpy(x))
    assert dout.dtype == dg.bfloat16  # (the inputs cast to param_dtype as well)
    np.testing.assert_allclose(_np(dout.float()), tout.float().detach().numpy(), rtol=1e-2,
                               atol=1e-2)
    torch.nn.functional.mse_loss(tout.float(), torch.from_numpy(y)).backward()
    dg.nn.functional.mse_loss(dout.float(), dg.from_numpy(y)).backward()
    for (name, dq), tq in zip(dm.named_parameters(), tm.parameters()):
        assert dq.dtype == dg.float32 and dq.grad.dtype == dg.float32, name
        np.testing.assert_allclose(_np(dq.grad), tq.grad.numpy(), rtol=3e-2, atol=3e-2,
                                   err_msg=name)


def test_state_dicts_and_checkpoints_of_a_sharded_model(workers, tmp_path):
    dm = _sharded(_init(dg, _transformer(dg)))
    tm = _init(torch, _transformer(torch))
    sd = dm.state_dict()
    assert list(sd) == list(tm.state_dict())
    assert all(v.placements == [Shard(0)] for v in sd.values())
    full = get_model_state_dict(dm, options=StateDictOptions(full_state_dict=True))
    for k, v in tm.state_dict().items():
        assert full[k].placements == [] and np.array_equal(full[k].numpy(), v.numpy()), k
    with dg.no_grad():  # (the root's parameters stay gathered after it)
        dm(dg.from_numpy(_arr(4, 3, 3)))
    assert dm.head.weight.placements == [Replicate()]
    sd = dm.state_dict()  # saved from the shards, as torch's
    assert all(v.placements == [Shard(0)] for v in sd.values())
    assert dm.head.weight.placements == [Shard(0)]
    dcp.save({"model": sd}, checkpoint_id=str(tmp_path))
    other = _sharded(_transformer(dg))
    state = {"model": other.state_dict()}
    dcp.load(state, checkpoint_id=str(tmp_path))
    other.load_state_dict(state["model"])
    for (k, a), b in zip(dm.named_parameters(), other.parameters()):
        assert b.placements == [Shard(0)] and np.array_equal(_np(a), _np(b)), k


def test_misuse_raises_torchs_errors(workers):
    model = fully_shard(dg.nn.Linear(2, 2))
    with pytest.raises(AssertionError, match="can only be applied to a module once. "
                       "fully_shard has already been applied"):
        fully_shard(model)
    with pytest.raises(ValueError, match="does not support containers that do not implement "
                       "forward"):
        fully_shard(dg.nn.ModuleList([dg.nn.Linear(2, 2)]))
    scalar = dg.nn.Linear(2, 2)
    scalar.register_parameter("s", dg.nn.Parameter(dg.tensor(1.0)))
    with pytest.raises(ValueError, match="doesn't support scalar parameters. Change s to a 1D"):
        fully_shard(scalar)
    with pytest.raises(ValueError, match="it should be a factor of 2, not 3"):
        fully_shard(dg.nn.Linear(2, 2), reshard_after_forward=3)
    with pytest.raises(ValueError, match="should be a bool or an int .* not x"):
        fully_shard(dg.nn.Linear(2, 2), reshard_after_forward="x")
    with pytest.raises(ValueError, match="reshard_after_forward should be a bool, got"):
        model.set_reshard_after_forward(1)
    with pytest.raises(AssertionError, match="FSDP does not support deepcopy"):
        copy.deepcopy(model)
    with pytest.raises(ValueError, match="Expects FSDPModule but got <class"):
        model.set_modules_to_forward_prefetch([dg.nn.Linear(2, 2)])
    with pytest.raises(NotImplementedError, match="uneven sharding on dim 1"):
        fully_shard(dg.nn.Linear(3, 2), shard_placement_fn=lambda p: Shard(p.ndim - 1))


def _tied(lib):
    nn = lib.nn

    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.mid = nn.Embedding(5, 4), nn.Linear(4, 4)
            self.head = nn.Linear(4, 5, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, idx):
            return self.head(self.mid(self.emb(idx)).tanh())

    return Tied()


def test_a_tied_parameter_in_one_group_is_one_sharded_parameter(workers):
    tm, dm = _init(torch, _tied(torch)), _init(dg, _tied(dg))
    fully_shard(dm.mid)
    fully_shard(dm)
    assert dm.head.weight is dm.emb.weight and dm.emb.weight.placements == [Shard(0)]
    topt, dopt = torch.optim.SGD(tm.parameters(), lr=0.1), dg.optim.SGD(dm.parameters(), lr=0.1)
    _steps_alike(tm, dm, topt, dopt, [np.array([1, 2, 4, 1])] * 2, _squares, 2e-5, 2e-6)


def test_a_parameter_tied_across_groups_raises_at_the_first_forward(workers):
    model = _tied(dg)
    fully_shard(model.emb)
    fully_shard(model)
    with pytest.raises(ValueError, match="Parameter 'emb.weight' is shared with a parameter "
                       "already managed by another FSDP group"):
        model(dg.from_numpy(np.array([1, 2])))


def test_mixed_precision_output_dtype_and_uncast_inputs(workers):
    out_f16 = fully_shard(dg.nn.Linear(3, 2), mp_policy=MixedPrecisionPolicy(
        param_dtype=dg.bfloat16, output_dtype=dg.float16))
    assert out_f16(dg.from_numpy(_arr(4, 3))).dtype == dg.float16
    uncast = fully_shard(dg.nn.Linear(3, 2), mp_policy=MixedPrecisionPolicy(
        param_dtype=dg.bfloat16, cast_forward_inputs=False))
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype, but got "
                       "Float and BFloat16"):
        uncast(dg.from_numpy(_arr(4, 3)))


@pytest.mark.parametrize("workers", [3], indirect=True)
def test_a_batch_smaller_than_the_workers_runs_whole(workers):
    tm, dm = _init(torch, _mlp(torch), np.float64), _sharded(_init(dg, _mlp(dg), np.float64))
    for rows in (1, 2, 3):
        x = _arr(rows, 4, seed=rows, dtype=np.float64)
        out = dm(dg.from_numpy(x))
        assert out.placements == ([Shard(0)] if rows == 3 else [Replicate()])
        out.square().mean().backward()
        tm(torch.from_numpy(x)).square().mean().backward()
        _same(dm, tm, rtol=1e-10, atol=1e-12)
        dm.zero_grad()
        tm.zero_grad()


def test_modules_sharded_as_one_group_share_a_tied_parameter(workers):
    tm, dm = _init(torch, _tied(torch), np.float64), _init(dg, _tied(dg), np.float64)
    grouped = fully_shard([dm.emb, dm.head])
    assert grouped == [dm.emb, dm.head] and type(dm.head).__name__ == "FSDPLinear"
    fully_shard(dm)
    assert dm.head.weight is dm.emb.weight and dm.emb.weight.placements == [Shard(0)]
    idx = np.array([1, 2, 4, 1, 0])
    topt = torch.optim.Adam(tm.parameters(), lr=0.1)
    dopt = dg.optim.Adam(dm.parameters(), lr=0.1)
    _steps_alike(tm, dm, topt, dopt, [idx] * 2, _squares)
    with pytest.raises(RuntimeError, match=r"FSDP requires a single root module but got "
                       r"\(FSDPEmbedding"):
        fresh = _tied(dg)
        fully_shard([fresh.emb, fresh.head])
        fresh.emb(dg.from_numpy(idx))


def test_a_registered_forward_method_runs_on_the_gathered_parameters(workers):
    class Scorer(dg.nn.Linear):
        def placements_seen(self, x):
            return self.weight.placements, self(x)

    model = fully_shard(Scorer(4, 3))
    model.set_reshard_after_forward(True)
    x = dg.from_numpy(_arr(4, 4))
    assert model.placements_seen(x)[0] == [Shard(0)]
    register_fsdp_forward_method(model, "placements_seen")
    seen, out = model.placements_seen(x)
    assert seen == [Replicate()] and model.weight.placements == [Shard(0)]
    assert out.placements == [Shard(0)]  # (the batch split, as for forward)
    with pytest.raises(ValueError, match="does not have a method missing"):
        register_fsdp_forward_method(model, "missing")


@pytest.mark.parametrize("workers", [4], indirect=True)
def test_hybrid_sharding_over_a_2d_mesh_trains_as_torch(workers):
    mesh = dg.distributed.init_device_mesh((2, 2), mesh_dim_names=("replicate", "shard"))
    tm, dm = _init(torch, _mlp(torch), np.float64), _init(dg, _mlp(dg), np.float64)
    for sub in [dm[0], dm[2]]:
        fully_shard(sub, mesh=mesh)
    fully_shard(dm, mesh=mesh)
    bias = dm[4].bias  # one row: split 1 + 0 in each row of the mesh, copied down its column
    assert [[c.shape[0] for c in s.shards] for s in bias.shards] == [[1, 1], [0, 0]]
    topt = torch.optim.Adam(tm.parameters(), lr=0.01)
    dopt = dg.optim.Adam(dm.parameters(), lr=0.01)
    batches = _batches(_mlp, n=4, dtype=np.float64)
    dm.set_requires_gradient_sync(False)  # (the first batch's gradients kept aside)
    torch.nn.functional.mse_loss(tm(torch.from_numpy(batches[0][0])),
                                 torch.from_numpy(batches[0][1])).backward()
    dg.nn.functional.mse_loss(dm(dg.from_numpy(batches[0][0])),
                              dg.from_numpy(batches[0][1])).backward()
    dm.set_requires_gradient_sync(True)
    _steps_alike(tm, dm, topt, dopt, batches[1:],
                 lambda lib, model, xy: lib.nn.functional.mse_loss(
                     model(lib.from_numpy(xy[0])), lib.from_numpy(xy[1])))
    for p in dm.parameters():  # every copy of a shard is the same, to the bit
        for s in p.shards:
            copies = [c.detach().cpu().numpy() for c in s.shards]
            assert all(np.array_equal(c, copies[0]) for c in copies)
    with pytest.raises(AssertionError, match="Please init the 2D mesh for HSDP with "
                       "mesh_dim_names specified"):
        fully_shard(dg.nn.Linear(2, 2), mesh=dg.distributed.init_device_mesh((2, 2)))


@pytest.mark.parametrize("whole", [False, True])
def test_a_state_dict_loaded_with_assign_is_what_forward_gathers(workers, whole):
    source, model = _init(dg, _mlp(dg)), _mlp(dg)
    tm = _init(torch, _mlp(torch))
    _sharded(source)
    _sharded(model)
    sd = source.state_dict()
    model.load_state_dict({k: v.full_tensor() for k, v in sd.items()} if whole else sd,
                          assign=True)
    assert all(p.placements == [Shard(0)] for p in model.parameters())
    x = _arr(4, 4)
    np.testing.assert_allclose(_np(model(dg.from_numpy(x))), tm(torch.from_numpy(x)).detach(),
                               rtol=1e-5, atol=1e-6)
    model(dg.from_numpy(x)).sum().backward()
    assert all(p.grad.placements == [Shard(0)] for p in model.parameters())


def test_training_resumes_from_a_checkpoint_of_model_and_optimizer(workers, tmp_path):
    """torch's FSDP2 checkpointing: get_state_dict keys the optimizer's sharded state by
    parameter name; dcp saves it; a new sharded model and optimizer load it and go on
    exactly as the first."""
    def make():
        model = _sharded(_init(dg, _mlp(dg)))
        return model, dg.optim.AdamW(model.parameters(), lr=0.05)

    def step(model, opt, seed):
        dg.nn.functional.mse_loss(model(dg.from_numpy(_arr(6, 4, seed=seed))),
                                  dg.from_numpy(_arr(6, 1, seed=seed + 1))).backward()
        opt.step()
        opt.zero_grad()

    model, opt = make()
    step(model, opt, 1)
    model_sd, optim_sd = get_state_dict(model, opt)
    assert optim_sd["state"]["0.weight"]["exp_avg"].placements == [Shard(0)]
    dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(tmp_path))
    other, other_opt = make()
    model_sd, optim_sd = get_state_dict(other, other_opt)
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=str(tmp_path))
    set_state_dict(other, other_opt, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])
    for m, o in ((model, opt), (other, other_opt)):
        step(m, o, 3)
    for (name, a), b in zip(model.named_parameters(), other.parameters()):
        assert np.array_equal(_np(a), _np(b)), name


def test_the_gpt_sharded_block_by_block_trains_as_torchs(workers):
    from distgrad.cli.models import GPTConfig, define_gpt

    cfg = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
    tm = define_gpt(torch)(cfg).double()
    dm = define_gpt(dg)(cfg).double()
    dm.load_state_dict({k: dg.from_numpy(v.numpy().copy()) for k, v in tm.state_dict().items()})
    for block in dm.blocks:
        fully_shard(block)
    fully_shard(dm)
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 11, (4, 8)), rng.integers(0, 11, (4, 8))) for _ in range(3)]

    def loss(lib, model, batch):
        logits = model(lib.from_numpy(batch[0])).reshape(-1, cfg.vocab_size)
        return lib.nn.functional.cross_entropy(logits, lib.from_numpy(batch[1]).reshape(-1))

    _steps_alike(tm, dm, torch.optim.AdamW(tm.parameters(), lr=3e-3),
                 dg.optim.AdamW(dm.parameters(), lr=3e-3), batches, loss, 1e-9, 1e-12)


def test_a_gradient_divide_factor_sums_the_ranks_gradients_over_it(workers):
    tm, dm = _init(torch, _mlp(torch), np.float64), _sharded(_init(dg, _mlp(dg), np.float64))
    for module in dm.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(0.5)  # torch's: sum over the 2 ranks / 0.5
    x, y = _batches(_mlp, dtype=np.float64)[0]
    torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    dg.nn.functional.mse_loss(dm(dg.from_numpy(x)), dg.from_numpy(y)).backward()
    for (name, dq), tq in zip(dm.named_parameters(), tm.parameters()):
        np.testing.assert_allclose(_np(dq.grad), 4 * tq.grad.numpy(), rtol=1e-10, err_msg=name)
    with pytest.warns(DeprecationWarning, match="Use `set_gradient_divide_factor` instead"):
        dm.set_reduce_scatter_divide_factor(2.0)
