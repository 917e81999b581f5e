"""Tensor parallelism by plan, as torch.distributed.tensor.parallel: `parallelize_module`
shards a module's parameters over a 1-D mesh as each submodule's style says.

    block = parallelize_module(mlp, mesh, {"up": ColwiseParallel(), "down": RowwiseParallel()})

Over a 2-D mesh (data x tensor parallel), pass `mesh["tp"]`, the list of its tensor-
parallel meshes: each parameter is split alike over every group's workers, each shard
replicated down the data-parallel dim (sharding.shard_over_groups), and the module is
run by `DistributedDataParallel(module, device_mesh=mesh["dp"])`, one batch slice per
group; its gradients are summed over the groups shard by shard.

ColwiseParallel splits a Linear's output features (its weight's rows and its bias); its
input is made whole (replicated) first, its output is sharded on the last dim.
RowwiseParallel splits the input features (the weight's columns); it takes that sharded
output as it is, and its output is a pending sum (Partial) that the next op needing the
value all-reduces, once. So a column-then-row MLP block moves no weights and one
activation all-reduce. An Embedding's table is split by
rows (RowwiseParallel: the vocabulary) or columns (ColwiseParallel: the embedding dim).

Sequence parallelism, as torch's tutorial plans a transformer: `SequenceParallel` copies a
norm's (or dropout's) parameters to every worker and runs it on the activation split on
the sequence dim; `PrepareModuleInput` / `PrepareModuleOutput` lay a module's inputs or
outputs out as it wants them (e.g. all-gather the sequence before the attention);
`RowwiseParallel(output_layouts=Shard(1))` reduce-scatters its pending sum onto the
sequence dim. A plain tensor given where a layout is named stands for the whole tensor
(with one driver there are no per-worker local tensors): it is laid out as named.
`loss_parallel()` is torch's context for cross_entropy on logits split on the class dim,
which distgrad's sharded cross_entropy computes without gathering them anyway.
"""
from __future__ import annotations

import contextlib
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
            if len(groups) == 1:  # (a distributed input is gathered whole first, as torch's)
                _lay_out_inputs(module, [Replicate()], groups[0], only_distributed=True)
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


class SequenceParallel(ParallelStyle):
    """A norm (or dropout) run on the activation split on `sequence_dim`: its parameters
    copied to every worker, its input laid out Shard(sequence_dim), its output so."""

    def __init__(self, *, sequence_dim: int = 1, use_local_output: bool = False):
        super().__init__(use_local_output=use_local_output)
        self.sequence_dim = sequence_dim

    def _apply(self, module, groups) -> None:
        _one_group(groups, "SequenceParallel")
        for m in module.modules():
            replicate_parameters(m, groups[0])
        _lay_out_inputs(module, [Shard(self.sequence_dim)], groups[0])
        _set_output(module, Shard(self.sequence_dim))


class PrepareModuleInput(ParallelStyle):
    """Lay out a module's positional (and keyword) inputs as `desired_input_layouts` say,
    from `input_layouts` (a plain tensor is taken as the whole, laid out so); None leaves
    that input as it is."""

    def __init__(self, *, input_layouts=None, desired_input_layouts=None,
                 input_kwarg_layouts=None, desired_input_kwarg_layouts=None,
                 use_local_output: bool = False):
        self.input_layouts = _as_tuple(input_layouts)
        self.desired_input_layouts = _as_tuple(desired_input_layouts)
        if self.input_layouts is not None and self.desired_input_layouts is not None and \
                len(self.input_layouts) != len(self.desired_input_layouts):
            raise AssertionError("input_layouts and desired_input_layouts should have same "
                                 "length!")
        self.input_kwarg_layouts = input_kwarg_layouts or {}
        self.desired_input_kwarg_layouts = desired_input_kwarg_layouts or {}
        self.use_local_output = use_local_output

    def _apply(self, module, groups) -> None:
        _one_group(groups, "PrepareModuleInput")
        given = self.input_layouts or ()
        desired = self.desired_input_layouts or given
        wanted = [d if g is not None else None for g, d in zip(given, desired)]
        wanted_kwargs = {k: self.desired_input_kwarg_layouts.get(k, g)
                         for k, g in self.input_kwarg_layouts.items() if g is not None}
        _lay_out_inputs(module, wanted, groups[0], wanted_kwargs)


class PrepareModuleOutput(ParallelStyle):
    """Lay out a module's outputs as `desired_output_layouts` say (from `output_layouts`)."""

    def __init__(self, *, output_layouts, desired_output_layouts, use_local_output=True):
        self.output_layouts = _as_tuple(output_layouts)
        self.desired_output_layouts = _as_tuple(desired_output_layouts)
        if len(self.output_layouts) != len(self.desired_output_layouts):
            raise AssertionError("output_layouts and desired_output_layouts should have same "
                                 "length!")
        self.use_local_output = use_local_output

    def _apply(self, module, groups) -> None:
        _one_group(groups, "PrepareModuleOutput")
        workers = groups[0]

        def lay_out(mod, args, out):
            if isinstance(out, tuple):
                return tuple(_laid_out(o, w, workers)
                             for o, w in zip(out, self.desired_output_layouts))
            return _laid_out(out, self.desired_output_layouts[0], workers)
        module.register_forward_hook(lay_out)


class PrepareModuleInputOutput(ParallelStyle):
    """PrepareModuleInput and PrepareModuleOutput on one module."""

    def __init__(self, *, input_layouts=None, desired_input_layouts=None,
                 input_kwarg_layouts=None, desired_input_kwarg_layouts=None,
                 use_local_input=False, output_layouts, desired_output_layouts,
                 use_local_output=True):
        self.prepare_input = PrepareModuleInput(
            input_layouts=input_layouts, desired_input_layouts=desired_input_layouts,
            input_kwarg_layouts=input_kwarg_layouts,
            desired_input_kwarg_layouts=desired_input_kwarg_layouts,
            use_local_output=use_local_input)
        self.prepare_output = PrepareModuleOutput(
            output_layouts=output_layouts, desired_output_layouts=desired_output_layouts,
            use_local_output=use_local_output)

    def _apply(self, module, groups) -> None:
        self.prepare_input._apply(module, groups)
        self.prepare_output._apply(module, groups)


@contextlib.contextmanager
def loss_parallel():
    """torch's context for cross_entropy (and its backward) on logits split on the class
    dim: distgrad's sharded cross_entropy computes it without gathering them, in the
    context or out of it."""
    yield


def replicate_parameters(module, workers=None):
    """Each parameter of `module` itself (not its children) replicated over `workers`."""
    for name, p in list(module._parameters.items()):
        if p is not None:
            copy = replicate(p.detach().requires_grad_(p.requires_grad), workers)
            module._parameters[name] = Parameter(copy, requires_grad=p.requires_grad)
    return module


def _one_group(groups, style: str) -> None:
    if len(groups) != 1:
        raise NotImplementedError(f"{style} over a 2-D mesh: pass a 1-D mesh")


def _as_tuple(layouts):
    return None if layouts is None else tuple(layouts) if isinstance(
        layouts, (list, tuple)) else (layouts,)


def _laid_out(x, placement, workers):
    """`x` (a tensor, distributed or not) laid out as `placement` over `workers`."""
    if placement is None or not hasattr(x, "_storage"):
        return x
    if isinstance(placement, Shard):
        placement = Shard(placement.dim % x.ndim)
    return redistribute(x, placement, workers)


def _lay_out_inputs(module, placements, workers, kwarg_placements=None,
                    only_distributed: bool = False) -> None:
    """A pre-hook laying out the module's inputs (only distributed ones: `only_distributed`)."""
    def lay_out(mod, args, kwargs):
        args = tuple(_laid_out(a, p, workers) if p is not None and (
            not only_distributed or is_sharded(a)) else a
            for a, p in zip(args, list(placements) + [None] * (len(args) - len(placements))))
        kwargs = {k: _laid_out(v, (kwarg_placements or {}).get(k), workers)
                  for k, v in kwargs.items()}
        return args, kwargs
    module.register_forward_pre_hook(lay_out, with_kwargs=True)


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
           "SequenceParallel", "PrepareModuleInput", "PrepareModuleOutput",
           "PrepareModuleInputOutput", "loss_parallel", "Shard", "Replicate"]
