"""Tensor parallelism by plan, as torch.distributed.tensor.parallel: `parallelize_module`
shards a module's parameters over a 1-D mesh as each submodule's style says.

    block = parallelize_module(mlp, mesh, {"up": ColwiseParallel(), "down": RowwiseParallel()})

Over a 2-D mesh (data x tensor parallel), pass `mesh["tp"]`, the list of its tensor-
parallel meshes: each parameter is split alike over every group's workers, each shard
replicated down the data-parallel dim (sharding.shard_over_groups), and the module is
run by `DistributedDataParallel(module, device_mesh=mesh["dp"])`, one batch slice per
group; its gradients are summed over the groups shard by shard.

ColwiseParallel splits a Linear's output features (its weight's rows and its bias); its
output is sharded on the last dim. RowwiseParallel splits the input features (the
weight's columns); it takes that sharded output as it is, and its output is a pending sum
(Partial) that the next op needing the value all-reduces, once. So a column-then-row MLP
block moves no weights and one activation all-reduce. An Embedding's table is split by
rows (RowwiseParallel: the vocabulary) or columns (ColwiseParallel: the embedding dim).
"""
from __future__ import annotations

import fnmatch

from ... import nn
from ...nn.parameter import Parameter
from .. import replicas
from ..device_mesh import DeviceMesh
from ..sharding import (Partial, Replicate, Shard, is_sharded, redistribute, replicate, shard,
                        shard_over_groups)


BUCKET_CAP_MB = 25  # as DistributedDataParallel's default


class ParallelStyle:
    def __init__(self, *, input_layouts=None, output_layouts=None, use_local_output=True):
        # use_local_output is accepted for torch's sake: with one driver the output is
        # always the whole (distributed) tensor, which is what a local one stands for here.
        self.input_layouts = input_layouts
        self.output_layouts = output_layouts
        self.use_local_output = use_local_output

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _apply(self, module, groups) -> None:
        raise NotImplementedError


class ColwiseParallel(ParallelStyle):
    """Split a Linear's output features (an Embedding's embedding dim) over the mesh."""

    def _apply(self, module, groups) -> None:
        if isinstance(module, nn.Embedding):
            _shard_param(module, "weight", 1, groups)
        else:
            _linear(module, "ColwiseParallel")
            _shard_param(module, "weight", 0, groups)
            _shard_param(module, "bias", 0, groups)
        _set_output(module, self.output_layouts)


class RowwiseParallel(ParallelStyle):
    """Split a Linear's input features (an Embedding's vocabulary) over the mesh; the
    output is a pending sum (Replicate once an op needs it, or `output_layouts`)."""

    def _apply(self, module, groups) -> None:
        if isinstance(module, nn.Embedding):
            _shard_param(module, "weight", 0, groups)
        else:
            _linear(module, "RowwiseParallel")
            _shard_param(module, "weight", 1, groups)
            bias = module._parameters.get("bias")
            if bias is not None:  # added once, to the first worker's part of the sum
                firsts = [g[0] for g in groups]
                placed = bias.detach().to(firsts[0]) if len(groups) == 1 else \
                    replicate(bias.detach().requires_grad_(bias.requires_grad), firsts)
                module._parameters["bias"] = Parameter(placed, bias.requires_grad)
            module.register_forward_pre_hook(_split_input_hook)
        _set_output(module, self.output_layouts)


def parallelize_module(module, device_mesh, parallelize_plan=None):
    """Apply `parallelize_plan` (a ParallelStyle for `module` itself, or {submodule name or
    fnmatch pattern: style}) over `device_mesh`: a 1-D mesh, or the list of tensor-parallel
    meshes of a 2-D one (mesh["tp"]); returns `module`, changed in place."""
    if parallelize_plan is None:
        return module
    groups = _groups(device_mesh)
    if isinstance(parallelize_plan, ParallelStyle):
        parallelize_plan._apply(module, groups)
        _reduce_copies_in_buckets(module)
        _refuse_direct_calls(module, groups)
        return module
    if not isinstance(parallelize_plan, dict):
        raise TypeError(f"parallelize_module: expect a ParallelStyle or dict, got "
                        f"{type(parallelize_plan).__name__}")
    modules = dict(module.named_modules())
    for pattern, style in parallelize_plan.items():
        matched = [name for name in modules if name and fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            raise ValueError(f"parallelize_module: no submodule matches {pattern!r}")
        for name in matched:
            style._apply(modules[name], groups)
    _reduce_copies_in_buckets(module)
    _refuse_direct_calls(module, groups)
    return module


def _reduce_copies_in_buckets(module) -> None:
    """The parameters the plan copied to several workers (a norm's, ReplicateParallel) have
    their copies' gradients summed in buckets, as data parallelism's are: a transformer's
    norms cost one all-reduce per backward, not one each."""
    copied, seen = [], set()
    for p in module.parameters():
        if id(p) not in seen and is_sharded(p) and p._sharding.reducer is not None:
            seen.add(id(p))
            copied.append(p)
    replicas.attach_in_buckets(copied, BUCKET_CAP_MB)


def _groups(device_mesh) -> list:
    """The tensor-parallel groups' workers: one group for a 1-D mesh."""
    meshes = list(device_mesh) if isinstance(device_mesh, (list, tuple)) else [device_mesh]
    for m in meshes:
        if not isinstance(m, DeviceMesh) or m.ndim != 1:
            raise NotImplementedError(
                f"parallelize_module: expected a 1-D DeviceMesh, or the list of 1-D meshes "
                f"mesh['tp'] of a 2-D one; got {m!r} (Tensor Parallel only accepts a 1D "
                "DeviceMesh per group)")
    return [m.workers for m in meshes]


def _refuse_direct_calls(module, groups) -> None:
    """Parameters over several groups are run by DistributedDataParallel, a slice of the
    batch per group; called directly, the module says so (it has no single layout)."""
    if len(groups) == 1:
        return

    def refuse(mod, args):
        if not getattr(mod, "_run_by_group", False):
            raise RuntimeError(
                f"this module is tensor-parallel over {len(groups)} groups {groups} (a 2-D "
                "mesh): wrap it in DistributedDataParallel(module, device_mesh=mesh['dp']), "
                "which runs each group on its slice of the batch")
        return None
    module.register_forward_pre_hook(refuse)

def _linear(module, style: str) -> None:
    if not isinstance(module, nn.Linear):
        raise NotImplementedError(f"{style} applies to nn.Linear and nn.Embedding, not "
                                  f"{type(module).__name__}")


def _shard_param(module, name: str, dim: int, groups) -> None:
    p = module._parameters.get(name)
    if p is None:
        return
    if is_sharded(p):
        raise RuntimeError(f"parallelize_module: {type(module).__name__}.{name} is already "
                           "distributed")
    placed = shard(p.detach(), dim, groups[0]) if len(groups) == 1 else \
        shard_over_groups(p.detach().requires_grad_(p.requires_grad), dim, groups)
    module._parameters[name] = Parameter(placed, p.requires_grad)


def _split_input_hook(module, args):
    """A plain input to a row-parallel Linear acts as replicated: split it as the weight's
    input features are (over the workers the weight is on in this call)."""
    x = args[0]
    if hasattr(x, "_storage") and not is_sharded(x):
        return (shard(x, -1, module.weight._sharding.workers),) + tuple(args[1:])
    return None


def _set_output(module, layouts) -> None:
    placement = layouts[0] if isinstance(layouts, (list, tuple)) else layouts
    if placement is None:
        return
    if isinstance(placement, Partial):
        raise ValueError("output_layouts=Partial(): an output is made Partial by the ops")

    def to_layout(mod, args, out):
        if not is_sharded(out):
            return out
        wanted = Shard(placement.dim % out.ndim) if isinstance(placement, Shard) else placement
        return redistribute(out, wanted)
    module.register_forward_hook(to_layout)


__all__ = ["parallelize_module", "ColwiseParallel", "RowwiseParallel", "ParallelStyle",
           "Shard", "Replicate"]
