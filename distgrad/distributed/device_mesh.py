"""DeviceMesh: workers arranged in an n-dimensional grid, as torch.distributed's.

distgrad has one driver, so a mesh is the whole grid (there is no "this rank"), and a
tensor distributed over a 1-D mesh is a sharded, replicated or partial tensor over its
workers (sharding.py). A 2-D mesh (data x tensor parallel) is built and sliced by name:
`mesh["tp"]` is the list of its 1-D meshes along that dim (one per data-parallel group).
"""
from __future__ import annotations

import numpy as np

from . import runtime


class DeviceMesh:
    """DeviceMesh(device_type, mesh, mesh_dim_names=None): `mesh` holds worker indices."""

    def __init__(self, device_type: str = "cpu", mesh=None, *, mesh_dim_names=None):
        if mesh is None:
            raise TypeError("DeviceMesh() missing required argument: 'mesh'")
        self.device_type = device_type
        self.mesh = np.array(mesh, dtype=np.int64)
        if self.mesh.ndim == 0:
            raise ValueError("DeviceMesh: mesh must have at least one dimension")
        n = runtime.num_workers()
        flat = self.mesh.reshape(-1).tolist()
        if len(set(flat)) != len(flat) or any(not 0 <= k < n for k in flat):
            raise ValueError(f"DeviceMesh: mesh {self.mesh.tolist()} must name distinct workers "
                             f"among the runtime's 0..{n - 1}")
        if mesh_dim_names is not None and len(mesh_dim_names) != self.mesh.ndim:
            raise RuntimeError(f"mesh_dim_names {tuple(mesh_dim_names)} must have one name per "
                               f"mesh dimension ({self.mesh.ndim})")
        self.mesh_dim_names = tuple(mesh_dim_names) if mesh_dim_names is not None else None

    @property
    def ndim(self) -> int:
        return self.mesh.ndim

    @property
    def shape(self) -> tuple:
        return tuple(self.mesh.shape)

    def size(self, mesh_dim: int | None = None) -> int:
        return self.mesh.size if mesh_dim is None else self.mesh.shape[mesh_dim]

    @property
    def workers(self) -> list:
        """The worker devices of a 1-D mesh, in mesh order."""
        if self.ndim != 1:
            raise RuntimeError(f"a {self.ndim}-D DeviceMesh has no single list of workers; "
                               "slice it by a dim name first (mesh['tp'])")
        return [f"worker:{k}" for k in self.mesh.tolist()]

    def __getitem__(self, name):
        if self.ndim == 1 and self.mesh_dim_names in (None, (name,)):
            return self
        if self.mesh_dim_names is None or name not in self.mesh_dim_names:
            raise KeyError(f"Invalid mesh_dim_name {name!r} specified; this mesh has "
                           f"{self.mesh_dim_names}")
        d = self.mesh_dim_names.index(name)
        rows = np.moveaxis(self.mesh, d, -1).reshape(-1, self.mesh.shape[d])
        return [DeviceMesh(self.device_type, row, mesh_dim_names=(name,)) for row in rows]

    def __eq__(self, other) -> bool:
        return isinstance(other, DeviceMesh) and np.array_equal(self.mesh, other.mesh)

    def __hash__(self) -> int:
        return hash(tuple(self.mesh.reshape(-1).tolist()) + self.shape)

    def __repr__(self) -> str:
        names = f", mesh_dim_names={self.mesh_dim_names}" if self.mesh_dim_names else ""
        return f"DeviceMesh('{self.device_type}', {self.mesh.tolist()}{names})"


def init_device_mesh(*args, mesh_shape=None, mesh_dim_names=None, workers=None) -> DeviceMesh:
    """init_device_mesh(mesh_shape, mesh_dim_names=None, workers=None), or torch's
    init_device_mesh(device_type, mesh_shape, mesh_dim_names=...): the runtime's workers
    (or `workers`, indices or "worker:K") laid out row-major in `mesh_shape`."""
    device_type = "cpu"
    if args and isinstance(args[0], str):
        device_type, args = args[0], args[1:]
    if args:
        mesh_shape = args[0]
    if len(args) > 1:
        mesh_dim_names = args[1]
    if mesh_shape is None:
        raise TypeError("init_device_mesh() missing required argument: 'mesh_shape'")
    shape = (mesh_shape,) if isinstance(mesh_shape, int) else tuple(mesh_shape)
    chosen = [_index(w) for w in workers] if workers is not None else \
        list(range(runtime.num_workers()))
    need = int(np.prod(shape))
    if need > len(chosen):
        raise RuntimeError(f"init_device_mesh: a mesh of shape {shape} needs {need} workers; "
                           f"there are {len(chosen)}")
    return DeviceMesh(device_type, np.array(chosen[:need]).reshape(shape),
                      mesh_dim_names=mesh_dim_names)


def _index(worker) -> int:
    return worker if isinstance(worker, int) else int(str(worker).split(":")[1])


def workers_of(mesh) -> list | None:
    """The workers a placement over `mesh` uses (None: all the runtime's)."""
    if mesh is None:
        return None
    if isinstance(mesh, DeviceMesh):
        return mesh.workers
    return list(mesh)
