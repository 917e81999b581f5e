"""The models of `python -m distgrad train --model cnn|gpt`, written once for any torch-like
module: `define_gpt(torch)` returns the GPT class built on `torch.nn`, so the same source
runs as a distgrad model here (`GPT`) and as a PyTorch model in the tests and the
benchmark (`define_gpt(torch)`), with the same parameter names.

The GPT is a small character-level transformer (nanoGPT's shape, pre-norm blocks):
token and position embeddings, `n_layer` blocks of causal self-attention (separate q, k, v
projections, so splitting their outputs splits the heads) and a GELU MLP, a final
LayerNorm and an LM head. It infers the number of heads from the width it gets
(`reshape(B, T, -1, head_dim)`), so the tensor-parallel version, whose
q, k, v hold only some heads on each worker, runs the same forward (`gpt_tp_plan()`).
"""
from __future__ import annotations

from dataclasses import dataclass

import distgrad


@dataclass
class GPTConfig:
    vocab_size: int = 96
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128


def define_gpt(torch):
    """The GPT class over `torch` (distgrad or PyTorch)."""
    nn, F = torch.nn, torch.nn.functional

    class CausalSelfAttention(nn.Module):
        def __init__(self, cfg: GPTConfig):
            super().__init__()
            self.head_dim = cfg.n_embd // cfg.n_head
            self.q = nn.Linear(cfg.n_embd, cfg.n_embd)
            self.k = nn.Linear(cfg.n_embd, cfg.n_embd)
            self.v = nn.Linear(cfg.n_embd, cfg.n_embd)
            self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = (lin(x).reshape(B, T, -1, self.head_dim).transpose(1, 2)
                       for lin in (self.q, self.k, self.v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(B, T, -1))

    class MLP(nn.Module):
        def __init__(self, cfg: GPTConfig):
            super().__init__()
            self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
            self.gelu = nn.GELU(approximate="tanh")  # GPT-2's
            self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

        def forward(self, x):
            return self.proj(self.gelu(self.fc(x)))

    class Block(nn.Module):
        def __init__(self, cfg: GPTConfig):
            super().__init__()
            self.ln_1 = nn.LayerNorm(cfg.n_embd)
            self.attn = CausalSelfAttention(cfg)
            self.ln_2 = nn.LayerNorm(cfg.n_embd)
            self.mlp = MLP(cfg)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        """forward(idx (B, T) int64) -> logits (B*T, vocab_size)."""

        def __init__(self, cfg: GPTConfig):
            super().__init__()
            self.config = cfg
            self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
            self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
            self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
            self.ln_f = nn.LayerNorm(cfg.n_embd)
            self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
            for name, p in self.named_parameters():  # GPT-2's initialisation
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                elif p.ndim == 2:
                    nn.init.normal_(p, mean=0.0, std=0.02)

        def forward(self, idx):
            B, T = idx.shape
            x = self.wte(idx) + self.wpe(torch.arange(T))
            for block in self.blocks:
                x = block(x)
            return self.lm_head(self.ln_f(x).reshape(B * T, -1))

    return GPT


GPT = define_gpt(distgrad)

def gpt_tp_plan() -> dict:
    """Megatron's tensor parallelism for GPT, as a parallelize_module plan: heads split
    (q, k, v column-parallel, the output projection row-parallel), the MLP column then
    row, the norms and position embeddings on replicated activations, the vocabulary split
    in the embedding and in the LM head (whose logits stay split into the cross-entropy)."""
    from distgrad.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel
    from distgrad.distributed.tensor_parallel_layers import ReplicateParallel

    return {
        "wte": RowwiseParallel(),
        "wpe": ReplicateParallel(),
        "blocks.*.ln_[12]": ReplicateParallel(),
        "blocks.*.attn.[qkv]": ColwiseParallel(),
        "blocks.*.attn.proj": RowwiseParallel(),
        "blocks.*.mlp.fc": ColwiseParallel(),
        "blocks.*.mlp.proj": RowwiseParallel(),
        "ln_f": ReplicateParallel(),
        "lm_head": ColwiseParallel(),
    }


def tensor_parallel_gpt(model, workers=None):
    """`model` (a distgrad GPT) made tensor-parallel over `workers`, in place."""
    from distgrad.distributed.tensor_parallel_layers import apply_tensor_parallel

    return apply_tensor_parallel(model, gpt_tp_plan(), workers)


def gpt_pipeline(model, workers) -> "PipelinedGPT":
    """`model` (a distgrad GPT) as pipeline stages, one per worker, in place: the first
    takes the embeddings and its share of the blocks, the last the rest, the final norm and
    the LM head (logits (B*T, vocab)); the blocks split as evenly as they go."""
    from distgrad.distributed.pipelining import PipelineStage

    n = len(workers)
    if not 1 < n <= len(model.blocks):
        raise ValueError(f"a GPT of {len(model.blocks)} blocks cannot be cut into {n} stages")
    bounds = [round(k * len(model.blocks) / n) for k in range(n + 1)]
    parts = [_GPTStage(model, bounds[k], bounds[k + 1], first=k == 0, last=k == n - 1)
             for k in range(n)]
    return PipelinedGPT([PipelineStage(part, k, n, w)
                         for k, (part, w) in enumerate(zip(parts, workers))])


class _GPTStage(distgrad.nn.Module):
    """Blocks [lo, hi) of a GPT, with its embeddings first or its head last."""

    def __init__(self, model, lo: int, hi: int, first: bool, last: bool):
        super().__init__()
        self.first, self.last = first, last
        if first:
            self.wte, self.wpe = model.wte, model.wpe
        self.blocks = distgrad.nn.ModuleList(list(model.blocks)[lo:hi])
        if last:
            self.ln_f, self.lm_head = model.ln_f, model.lm_head

    def forward(self, x):
        if self.first:  # x: token ids (B, T)
            T = x.shape[1]
            x = self.wte(x) + self.wpe(distgrad.arange(T, device=self.wpe.weight.device))
        for block in self.blocks:
            x = block(x)
        if self.last:
            B, T, _ = x.shape
            x = self.lm_head(self.ln_f(x).reshape(B * T, -1))
        return x


class PipelinedGPT:
    """A GPT's pipeline stages, and a forward through them for evaluation and sampling
    (training steps go through a schedule over `stages`)."""

    def __init__(self, stages):
        self.stages = stages

    def __call__(self, idx):
        """The logits of `idx` through the stages, in the driver (as the model there)."""
        x = idx
        for stage in self.stages:
            x = stage.submod(x.to(stage.device))
        return x.to("cpu")

    def parameters(self):
        return [p for stage in self.stages for p in stage.submod.parameters()]


def define_cnn(torch):
    """A small CNN for 8x8 digits: two 3x3 convolutions with max pooling, then a Linear."""
    nn = torch.nn

    def CNN(n_classes: int = 10):
        return nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 2 * 2, n_classes))

    return CNN


CNN = define_cnn(distgrad)
