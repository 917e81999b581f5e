"""Tensor-parallel layers beyond Linear, and a plan that turns a model into its
tensor-parallel version, Megatron's way.

    VocabParallelEmbedding   the table's rows (the vocabulary) split over the workers; each
                             looks up the indices it owns, one all-reduce (layer_rules.py)
    replicate_parameters     a module's parameters copied to every worker (norms, position
                             embeddings): it runs on replicated activations, each worker on
                             its own copy; the copies' gradients sum into the first

A plan names a style for module names (fnmatch patterns, as torch's parallelize_module):

    plan = {"blocks.*.attn.q": "colwise", "blocks.*.attn.proj": "rowwise",
            "wte": "vocab_embedding", "blocks.*.ln_1": "replicate"}
    apply_tensor_parallel(model, plan, workers)

"colwise" makes a Linear a ColumnParallelLinear (output sharded on its last dim: heads of
q, k, v, the MLP's hidden units, the vocabulary of an LM head), "rowwise" a
RowParallelLinear (takes that sharded input, one all-reduce). The same plan, with
ColwiseParallel()/RowwiseParallel() for the strings, is what parallelize_module takes.
"""
from __future__ import annotations

import fnmatch

from .. import nn
from ..nn import functional as F
from ..nn.parameter import Parameter
from .nn import ColumnParallelLinear, RowParallelLinear
from .sharding import replicate, shard


class VocabParallelEmbedding(nn.Module):
    """nn.Embedding with its rows split over `workers`; the output is replicated."""

    def __init__(self, num_embeddings: int, embedding_dim: int, workers=None, _from=None):
        super().__init__()
        full = _from if _from is not None else nn.Embedding(num_embeddings, embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = full.padding_idx
        self.weight = Parameter(shard(full.weight.detach(), 0, workers))
        self.workers = self.weight._sharding.workers

    @classmethod
    def from_embedding(cls, embedding, workers=None):
        return cls(embedding.num_embeddings, embedding.embedding_dim, workers, _from=embedding)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, workers={self.workers}"


def replicate_parameters(module: nn.Module, workers=None) -> nn.Module:
    """Each parameter of `module` itself (not its children) replicated over `workers`."""
    for name, p in list(module._parameters.items()):
        if p is not None:
            copy = replicate(p.detach().requires_grad_(p.requires_grad), workers)
            setattr(module, name, Parameter(copy, requires_grad=p.requires_grad))
    return module


def _colwise(module, workers):
    return ColumnParallelLinear.from_linear(module, workers)


def _rowwise(module, workers):
    return RowParallelLinear.from_linear(module, workers)


def _vocab_embedding(module, workers):
    return VocabParallelEmbedding.from_embedding(module, workers)


def _replicate(module, workers):
    for m in module.modules():
        replicate_parameters(m, workers)
    return module


STYLES = {"colwise": _colwise, "rowwise": _rowwise, "vocab_embedding": _vocab_embedding,
          "replicate": _replicate}


def apply_tensor_parallel(model: nn.Module, plan: dict, workers=None) -> nn.Module:
    """Replace the submodules `plan` names (fnmatch patterns of their qualified names) by
    their tensor-parallel versions, in place; returns `model`. A pattern that names no
    submodule is an error (a typo would silently leave a layer whole)."""
    for pattern, style in plan.items():
        if style not in STYLES:
            raise ValueError(f"apply_tensor_parallel: unknown style {style!r} for {pattern!r}; "
                             f"expected one of {sorted(STYLES)}")
        names = [n for n, _ in model.named_modules() if n and fnmatch.fnmatchcase(n, pattern)]
        if not names:
            raise ValueError(f"apply_tensor_parallel: {pattern!r} names no submodule of "
                             f"{type(model).__name__}")
        for name in names:
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, STYLES[style](getattr(parent, child), workers))
    return model


__all__ = ["VocabParallelEmbedding", "replicate_parameters", "apply_tensor_parallel", "STYLES"]
