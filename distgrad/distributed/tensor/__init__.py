"""`distgrad.distributed.tensor`, as torch.distributed.tensor: placements, meshes and
`distribute_tensor`. A distributed tensor is a distgrad Tensor whose parts live on the
mesh's workers (sharding.py); `Tensor.redistribute` and `Tensor.full_tensor` change or
gather its layout. Over a 1-D mesh every placement is supported; over a 2-D mesh, all
Replicate, or (for a leaf) one Shard beside Replicate: split along one mesh dim, copied
along the other, as a data x tensor parallel parameter is.
"""
from __future__ import annotations

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

__all__ = ["DeviceMesh", "init_device_mesh", "distribute_tensor", "Shard", "Replicate",
           "Partial"]
