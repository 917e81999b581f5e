"""Tensor parallelism by plan, as torch.distributed.tensor.parallel: `parallelize_module`
shards a module's parameters over a 1-D mesh as each submodule's style says.

    block = parallelize_module(mlp, mesh, {"up": ColwiseParallel(), "down": RowwiseParallel()})

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
from ..device_mesh import DeviceMesh
from ..sharding import Partial, Replicate, Shard, is_sharded, redistribute, shard


class ParallelStyle:
    def __init__(self, *, input_layouts=None, output_layouts=None, use_local_output=True):
        # use_local_output is accepted for torch's sake: with one driver the output is
        # always the whole (distributed) tensor, which is what a local one stands for here.
        self.input_layouts = input_layouts
        self.output_layouts = output_layouts
        self.use_local_output = use_local_output

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _apply(self, module, workers) -> None:
        raise NotImplementedError


class ColwiseParallel(ParallelStyle):
    """Split a Linear's output features (an Embedding's embedding dim) over the mesh."""

    def _apply(self, module, workers) -> None:
        if isinstance(module, nn.Embedding):
            _shard_param(module, "weight", 1, workers)
        else:
            _linear(module, "ColwiseParallel")
            _shard_param(module, "weight", 0, workers)
            _shard_param(module, "bias", 0, workers)
        _set_output(module, self.output_layouts)


class RowwiseParallel(ParallelStyle):
    """Split a Linear's input features (an Embedding's vocabulary) over the mesh; the
    output is a pending sum (Replicate once an op needs it, or `output_layouts`)."""

    def _apply(self, module, workers) -> None:
        if isinstance(module, nn.Embedding):
            _shard_param(module, "weight", 0, workers)
        else:
            _linear(module, "RowwiseParallel")
            _shard_param(module, "weight", 1, workers)
            bias = module._parameters.get("bias")
            if bias is not None:  # added once, to the first worker's part of the sum
                module._parameters["bias"] = Parameter(bias.detach().to(workers[0]),
                                                       bias.requires_grad)
            module.register_forward_pre_hook(_split_input_hook(workers))
        _set_output(module, self.output_layouts)


def parallelize_module(module, device_mesh: DeviceMesh, parallelize_plan=None):
    """Apply `parallelize_plan` (a ParallelStyle for `module` itself, or {submodule name or
    fnmatch pattern: style}) over `device_mesh` (1-D); returns `module`, changed in place."""
    if parallelize_plan is None:
        return module
    if device_mesh.ndim != 1:
        raise NotImplementedError(f"parallelize_module: a {device_mesh.ndim}-D mesh; pass the "
                                  "tensor-parallel 1-D mesh (mesh['tp'])")
    workers = device_mesh.workers
    if isinstance(parallelize_plan, ParallelStyle):
        parallelize_plan._apply(module, workers)
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
            style._apply(modules[name], workers)
    return module


def _linear(module, style: str) -> None:
    if not isinstance(module, nn.Linear):
        raise NotImplementedError(f"{style} applies to nn.Linear and nn.Embedding, not "
                                  f"{type(module).__name__}")


def _shard_param(module, name: str, dim: int, workers) -> None:
    p = module._parameters.get(name)
    if p is None:
        return
    if is_sharded(p):
        raise RuntimeError(f"parallelize_module: {type(module).__name__}.{name} is already "
                           "distributed")
    module._parameters[name] = Parameter(shard(p.detach(), dim, workers), p.requires_grad)


def _split_input_hook(workers):
    def split(module, args):
        x = args[0]
        if hasattr(x, "_storage") and not is_sharded(x):  # a plain input acts as replicated
            return (shard(x, -1, workers),) + tuple(args[1:])
        return None
    return split


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
