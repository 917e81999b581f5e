"""`distgrad.distributed.tensor`, as torch.distributed.tensor: placements, meshes and
`distribute_tensor`. A distributed tensor is a distgrad Tensor whose parts live on the
mesh's workers (sharding.py); `Tensor.redistribute` and `Tensor.full_tensor` change or
gather its layout. Over a 1-D mesh every placement is supported; over a 2-D mesh, all
Replicate, or (for a leaf) one Shard beside Replicate: split along one mesh dim, copied
along the other, as a data x tensor parallel parameter is.

`DTensor` is the name to test for one (`isinstance(t, DTensor)`: a tensor laid out over
workers); `distribute_module` and the factories (`ones`, `zeros`, `full`, `empty`, `rand`,
`randn` with `device_mesh=` and `placements=`) are torch's.
"""
from __future__ import annotations

import inspect
import warnings

from ...tensor import Tensor
from ..device_mesh import DeviceMesh, _index, init_device_mesh
from ..sharding import (Partial, Replicate, Shard, redistribute, replicate, shard,
                        shard_over_groups)


def distribute_tensor(tensor: Tensor, device_mesh: DeviceMesh | None = None,
                      placements=None) -> Tensor:
    """`tensor` laid out over `device_mesh` (default: all workers) as `placements` say
    (default [Replicate()]). A leaf stays a leaf (its parts are leaves on their workers)."""
    mesh = device_mesh if device_mesh is not None else init_device_mesh((_n_workers(),))
    placements = list(placements) if placements is not None else [Replicate()] * mesh.ndim
    if len(placements) != mesh.ndim:
        raise ValueError(f"`placements` must have the same length as `device_mesh.ndim`! "
                         f"Found placements length: {len(placements)}, and device_mesh.ndim: "
                         f"{mesh.ndim}.")
    if any(isinstance(p, Partial) for p in placements):
        raise ValueError("distribute_tensor: a Partial placement is the result of ops on "
                         "distributed tensors, not a layout to distribute a tensor with")
    workers = [f"worker:{k}" for k in mesh.mesh.reshape(-1).tolist()]
    if tensor._sharding is not None and mesh.ndim == 1:
        return _already_distributed(tensor, mesh, placements)
    if all(isinstance(p, Replicate) for p in placements):
        return replicate(tensor, workers)
    if mesh.ndim == 2 and tensor.grad_fn is None and sum(isinstance(p, Shard)
                                                         for p in placements) == 1:
        # [Replicate(), Shard(d)]: split over each row alike, each shard copied down its
        # column (a data x tensor parallel parameter); [Shard(d), Replicate()]: the transpose.
        d = next(p.dim for p in placements if isinstance(p, Shard))
        rows = mesh.mesh if isinstance(placements[1], Shard) else mesh.mesh.T
        return shard_over_groups(tensor, d, [[f"worker:{k}" for k in r] for r in rows.tolist()])
    if mesh.ndim != 1:
        raise NotImplementedError(f"distribute_tensor over a {mesh.ndim}-D mesh with placements "
                                  f"{placements}: supported there are all-Replicate, and one "
                                  "Shard beside Replicate for a leaf on a 2-D mesh")
    return shard(tensor, placements[0].dim, workers)


def _already_distributed(tensor: Tensor, mesh: DeviceMesh, placements: list) -> Tensor:
    """torch's rule for a tensor already distributed: itself where mesh and placements are
    its own; else an error pointing to redistribute (shard() and replicate() copy it)."""
    own = tensor._sharding.workers
    if own != mesh.workers:
        theirs = DeviceMesh(mesh.device_type, [_index(w) for w in own])
        raise ValueError(f"Cannot distribute a DTensor with device mesh {theirs} to a "
                         f"different device mesh {mesh}.")
    if tuple(tensor.placements) != tuple(placements):
        raise ValueError(f"Cannot distribute a DTensor with placements "
                         f"{tuple(tensor.placements)} to a different placements {placements}. "
                         f"do you want to call `redistribute` instead?")
    return tensor


def _n_workers() -> int:
    from .. import runtime

    return runtime.num_workers()


def _redistribute(self: Tensor, device_mesh: DeviceMesh | None = None, placements=None):
    """The same values laid out as `placements` over `device_mesh` (differentiable)."""
    workers = device_mesh.workers if device_mesh is not None else None
    if placements is None or len(placements) != 1:
        raise ValueError(f"redistribute: expected one placement per mesh dim (a 1-D mesh), "
                         f"got {placements}")
    return redistribute(self, placements[0], workers)


Tensor.redistribute = _redistribute

class _DistributedTensorType(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj._sharding is not None


class DTensor(metaclass=_DistributedTensorType):
    """torch's distributed tensor type, for isinstance: a distgrad Tensor whose parts live
    on workers (sharded, replicated or a pending sum). Make one with distribute_tensor."""

    def __new__(cls, *args, **kwargs):
        raise TypeError("DTensor: make a distributed tensor with distribute_tensor(tensor, "
                        "device_mesh, placements)")


Placement = (Shard, Replicate, Partial)  # (for isinstance, as torch's base class is used)


def distribute_module(module, device_mesh: DeviceMesh | None = None, partition_fn=None,
                      input_fn=None, output_fn=None):
    """torch's: `partition_fn(name, submodule, mesh)` lays out each submodule's parameters
    (the rest are replicated over the mesh); `input_fn(module, inputs, mesh)` and
    `output_fn(module, outputs, mesh)` become its forward pre-hook and hook."""
    from ...nn.parameter import Parameter

    if getattr(module, "_distribute_module_applied", False):
        raise RuntimeError("distribute_module should only be called once on a module, but it "
                           "has already been called on this module!")
    mesh = device_mesh if device_mesh is not None else init_device_mesh((_n_workers(),))
    everywhere = [Replicate()] * mesh.ndim
    for name, sub in module.named_modules():
        if partition_fn is not None:
            partition_fn(name, sub, mesh)
        for key, p in list(sub._parameters.items()):
            if p is not None and p._sharding is None:
                sub._parameters[key] = Parameter(distribute_tensor(p.detach(), mesh, everywhere),
                                                 requires_grad=p.requires_grad)
        for key, b in list(sub._buffers.items()):
            if b is not None and b._sharding is None:
                sub._buffers[key] = distribute_tensor(b, mesh, everywhere)
    if input_fn is not None:
        in_fn = input_fn if _takes_module(input_fn, "input_fn", "inputs") else \
            (lambda mod, inputs, mesh: input_fn(inputs, mesh))
        module.register_forward_pre_hook(lambda mod, inputs: in_fn(mod, inputs, mesh))
    if output_fn is not None:
        out_fn = output_fn if _takes_module(output_fn, "output_fn", "inputs") else \
            (lambda mod, outputs, mesh: output_fn(outputs, mesh))
        module.register_forward_hook(lambda mod, inputs, outputs: out_fn(mod, outputs, mesh))
    module._distribute_module_applied = True
    return module


def _takes_module(fn, what: str, values: str) -> bool:
    """Whether `fn` takes (module, values, mesh), or torch's deprecated (values, mesh)."""
    n = len(inspect.signature(fn).parameters)
    if n == 2:
        warnings.warn(f"Deprecating {what} that takes two arguments ({values}, device_mesh), "
                      f"please use {what} that takes in (module, {values}, device_mesh) "
                      "instead!", FutureWarning, stacklevel=3)
        return False
    if n != 3:
        raise ValueError(f"{what} should take in 3 arguments, but got {n} arguments!")
    return True


def _laid_out(make, *args, requires_grad=False, dtype=None, layout=None, device_mesh=None,
              placements=None, **kwargs) -> Tensor:
    """A factory's tensor made whole, then laid out by distribute_tensor (torch's
    distributed factories take the global size)."""
    from ... import creation

    out = distribute_tensor(getattr(creation, make)(*args, dtype=dtype, **kwargs),
                            device_mesh, placements)
    return out.requires_grad_() if requires_grad else out


def ones(*size, **kwargs) -> Tensor:
    return _laid_out("ones", *size, **kwargs)


def zeros(*size, **kwargs) -> Tensor:
    return _laid_out("zeros", *size, **kwargs)


def empty(*size, **kwargs) -> Tensor:
    return _laid_out("empty", *size, **kwargs)


def rand(*size, **kwargs) -> Tensor:
    return _laid_out("rand", *size, **kwargs)


def randn(*size, **kwargs) -> Tensor:
    return _laid_out("randn", *size, **kwargs)


def full(size, fill_value, **kwargs) -> Tensor:
    return _laid_out("full", size, fill_value, **kwargs)


__all__ = ["DeviceMesh", "init_device_mesh", "distribute_tensor", "Shard", "Replicate",
           "Partial", "DTensor", "Placement", "distribute_module", "ones", "zeros", "empty",
           "full", "rand", "randn"]
