"""The GPT of `train --model gpt`, tensor-parallel over 2 workers (heads split, MLP column
then row, vocabulary-parallel embedding and cross-entropy), trained in float64 next to the
same model in PyTorch: the same initial weights and batches give the same losses step by
step, and no op falls back to a gather.

    python tests/cluster/test_gpt_tensor_parallel.py 50    # the 50-step comparison
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import distgrad
import distgrad.distributed as dist
from distgrad.cli.models import GPT, GPTConfig, define_gpt, tensor_parallel_gpt


TINY = GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=4, n_embd=16)


def _batches(cfg: GPTConfig, steps: int, batch: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    text = rng.integers(0, cfg.vocab_size, 2000)
    for _ in range(steps):
        starts = rng.integers(0, len(text) - cfg.block_size - 1, batch)
        x = np.stack([text[s:s + cfg.block_size] for s in starts])
        y = np.stack([text[s + 1:s + cfg.block_size + 1] for s in starts])
        yield x, y


def _initial_state(cfg: GPTConfig) -> dict:
    distgrad.manual_seed(0)
    return {k: v.detach().numpy().copy() for k, v in GPT(cfg).double().state_dict().items()}


def torch_losses(cfg: GPTConfig, state: dict, steps: int) -> list:
    model = define_gpt(torch)(cfg).double()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    losses = []
    for x, y in _batches(cfg, steps):
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)),
                                                 torch.from_numpy(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def distgrad_tp_losses(cfg: GPTConfig, state: dict, steps: int) -> list:
    model = GPT(cfg).double()
    model.load_state_dict({k: distgrad.from_numpy(v) for k, v in state.items()})
    tensor_parallel_gpt(model)
    opt = distgrad.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    losses = []
    for x, y in _batches(cfg, steps):
        loss = distgrad.nn.functional.cross_entropy(model(distgrad.from_numpy(x)),
                                                    distgrad.from_numpy(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _fallbacks() -> int:
    return sum(sum(s.get("fallbacks", {}).values()) for s in dist.stats().values())


def test_gpt_tensor_parallel_losses_match_torch(backend):
    state = _initial_state(TINY)
    before = _fallbacks()
    ours = distgrad_tp_losses(TINY, state, 3)
    assert _fallbacks() == before, "an op of the tensor-parallel GPT fell back to a gather"
    np.testing.assert_allclose(ours, torch_losses(TINY, state, 3), rtol=1e-6, atol=0)


def test_gpt_plan_shards_heads_mlp_and_vocabulary(backend):
    model = tensor_parallel_gpt(GPT(TINY))
    placements = {name: getattr(p, "placements", None) for name, p in model.named_parameters()}
    assert placements["wte.weight"] == [dist.Shard(0)]
    assert placements["blocks.0.attn.q.weight"] == [dist.Shard(0)]
    assert placements["blocks.0.attn.proj.weight"] == [dist.Shard(1)]
    assert placements["blocks.1.mlp.fc.bias"] == [dist.Shard(0)]
    assert placements["blocks.1.mlp.proj.weight"] == [dist.Shard(1)]
    assert placements["lm_head.weight"] == [dist.Shard(0)]
    assert placements["ln_f.weight"] == [dist.Replicate()]
    # the names and order are the plain model's, so state dicts line up with torch's
    assert list(placements) == [n for n, _ in define_gpt(torch)(TINY).named_parameters()]
    logits = model(distgrad.randint(0, TINY.vocab_size, (2, 5)))
    assert logits.placements == [dist.Shard(1)]  # the LM head's logits are never gathered


def test_compiled_gpt_tensor_parallel_step_replays_the_eager_step(backend):
    """The whole step (AdamW on sharded and replicated parameters, the position ids the
    model makes with arange on the driver, the vocabulary-parallel loss) replays: one
    message per worker, bit for bit the eager step's losses and weights."""
    state = _initial_state(TINY)

    def build():
        model = tensor_parallel_gpt(GPT(TINY).double())
        model.load_state_dict({k: distgrad.from_numpy(v) for k, v in state.items()})
        opt = distgrad.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)

        def step(x, y):
            loss = distgrad.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return model, opt, step

    (ma, oa, eager), (mb, ob, compiled) = build(), build()
    compiled = distgrad.compile(compiled)
    for x, y in _batches(TINY, 5):
        x, y = dist.replicate(distgrad.from_numpy(x)), dist.replicate(
            distgrad.from_numpy(y.reshape(-1)))
        assert eager(x, y).item() == compiled(x, y).item()
    assert compiled.stats()["replayed"] == 3, compiled.stats()
    for (name, pa), pb in zip(ma.named_parameters(), mb.parameters()):
        assert np.array_equal(pa.full_tensor().detach().numpy(),
                              pb.full_tensor().detach().numpy()), name
    # AdamW's step count sits beside each parameter's parts: a copy on each of its workers
    p = mb.blocks[0].attn.q.weight
    step = ob.state[p]["step"]
    assert step.placements == [dist.Replicate()] and step.item() == 5.0


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    cfg = GPTConfig(vocab_size=96, block_size=64, n_layer=4, n_head=4, n_embd=128)
    state = _initial_state(cfg)
    dist.init(2)
    try:
        ours = distgrad_tp_losses(cfg, state, steps)
    finally:
        dist.shutdown()
    ref = torch_losses(cfg, state, steps)
    rel = np.abs(np.array(ours) - np.array(ref)) / np.abs(np.array(ref))
    for i, (a, b) in enumerate(zip(ours, ref)):
        print(f"step {i + 1:3d}  distgrad tp {a:.15f}  torch {b:.15f}")
    print(f"max relative difference over {steps} steps: {rel.max():.3e}")
