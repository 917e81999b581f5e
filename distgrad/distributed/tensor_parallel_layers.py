"""Megatron's tensor parallelism for a transformer, as a `parallelize_module` plan.

ColwiseParallel and RowwiseParallel (distributed/tensor/parallel.py) split the Linear
layers (q, k, v and the MLP's first layer by output features, the projections after them
by input features) and an Embedding's vocabulary (RowwiseParallel). What a transformer
adds is the modules that run on replicated activations, the norms and the position
embedding: `ReplicateParallel` copies their parameters to every worker, so each worker
normalises its own copy of the activation (the layer_norm rule) and no activation moves
for it; the copies' gradients sum into the first copy, which the optimizer updates with
the others.

    plan = {"wte": RowwiseParallel(), "blocks.*.attn.[qkv]": ColwiseParallel(),
            "blocks.*.attn.proj": RowwiseParallel(), "blocks.*.ln_[12]": ReplicateParallel()}
    apply_tensor_parallel(model, plan)      # parallelize_module over all workers
"""
from __future__ import annotations

from .. import nn
from . import runtime
from .device_mesh import init_device_mesh
from .tensor.parallel import ParallelStyle, parallelize_module, replicate_parameters


class ReplicateParallel(ParallelStyle):
    """A module (and its children) run on replicated activations: its parameters copied
    to every worker of the mesh."""

    def _apply(self, module, groups) -> None:
        everyone = [w for g in groups for w in g]  # (over a 2-D mesh: every group's workers)
        for m in module.modules():
            replicate_parameters(m, everyone)


def apply_tensor_parallel(model: nn.Module, plan: dict, workers=None) -> nn.Module:
    """parallelize_module(model, a 1-D mesh of `workers` (default: all), plan)."""
    workers = list(workers) if workers is not None else runtime.workers()
    return parallelize_module(model, init_device_mesh((len(workers),), workers=workers), plan)


__all__ = ["ReplicateParallel", "replicate_parameters", "apply_tensor_parallel"]
