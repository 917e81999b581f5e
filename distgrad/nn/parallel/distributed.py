"""DistributedDataParallel: a module's parameters copied to every worker; each worker runs
its slice of the global batch; gradients are summed worker to worker in buckets.

distgrad has one driver, so the wrapped module takes the global batch (as one process
would) and splits it on dim 0 over the workers; the loss over the batch-sharded output is
the full batch's. Each parameter becomes a replicated leaf (distributed/replicas.py):
copies on every worker, each updated there by the optimizer, equal to the bit. Backward
all-reduces the copies' gradients bucket by bucket, the parameters in reverse order of
registration (about the order backward reaches them), each bucket as soon as all its
gradients are in, queued on the workers between the rest of backward's ops.

Data x tensor parallel (a 2-D mesh): a module parallelized over `mesh["tp"]` has
parameters split alike over every tensor-parallel group, each shard replicated down the
data-parallel dim (sharding.shard_over_groups). Wrapped with `device_mesh=mesh["dp"]`, the
batch is split over the groups; each group runs the module on its slice with its own
copies of the parameters, and each shard's copies' gradients are summed over the groups
(one reduce node per bucket of the shards that share workers). Its other parameters are
replicated over the groups' first workers.
"""
from __future__ import annotations

import contextlib

from ...autograd import grad_mode
from ...distributed import replicas, runtime, sharding
from ..modules import Module
from ..parameter import Parameter


class DistributedDataParallel(Module):
    def __init__(self, module: Module, workers=None, bucket_cap_mb: float = 25,
                 broadcast_buffers: bool = True, device_ids=None, output_device=None,
                 dim: int = 0, find_unused_parameters: bool = False, device_mesh=None,
                 **kwargs):
        super().__init__()
        if dim != 0:
            raise NotImplementedError("DistributedDataParallel splits the batch on dim 0 only")
        self.module = module
        self.bucket_cap_mb = bucket_cap_mb
        self.find_unused_parameters = find_unused_parameters
        self._groups = _tensor_parallel_groups(module, device_mesh)
        if self._groups is not None:  # data x tensor parallel
            self.workers = [g[0] for g in self._groups]
            units = _replicate_over_groups(module, self._groups)
        else:
            self.workers = list(workers) if workers is not None else \
                _mesh_workers(device_mesh) or runtime.workers()
            units = _replicate_parameters(module, self.workers)
            _replicate_buffers(module, self.workers)
        self._buckets = replicas.attach_in_buckets(units, bucket_cap_mb)
        self._units = units

    def forward(self, *inputs, **kwargs):
        if grad_mode.is_grad_enabled():
            self._check_prior_reduction()
        if self._groups is not None:
            return self._forward_by_group(inputs, kwargs)
        inputs = [self._split(x) for x in inputs]
        kwargs = {k: self._split(v) for k, v in kwargs.items()}
        return self.module(*inputs, **kwargs)

    def _forward_by_group(self, inputs, kwargs):
        """Group i runs the module on batch slice i with its copies of the parameters; the
        outputs, each whole on its group's first worker, form one batch-sharded output."""
        inputs = [self._split(x) for x in inputs]
        kwargs = {k: self._split(v) for k, v in kwargs.items()}
        outs = []
        for i, group in enumerate(self._groups):
            part = [_slice_of(x, i) for x in inputs]
            kw = {k: _slice_of(v, i) for k, v in kwargs.items()}
            with _bound_to_group(self.module, group):
                out = self.module(*part, **kw)
            outs.append(sharding.whole_on(out, group[0]))
        return sharding.from_parts(outs, 0)

    def _split(self, x):
        return split_batch(x, self.workers)

    def _check_prior_reduction(self) -> None:
        """torch's reducer, before a forward that records a graph: a synced backward that
        reduced some parameters must have reduced all (else a bucket never finished),
        unless find_unused_parameters marks the unused ones ready."""
        if self.find_unused_parameters or not any(node.reduced for node in self._buckets):
            return
        reduced = {id(node.copies[i][0]) for node in self._buckets for i in node.reduced}
        missing = [k for k, p in enumerate(self._units)
                   if id(p._sharding.shards[0]) not in reduced]
        if missing:
            raise RuntimeError(_UNFINISHED_REDUCTION + " ".join(map(str, missing)) +
                               _UNFINISHED_REDUCTION_END)
        for node in self._buckets:
            node.reduced.clear()

    @contextlib.contextmanager
    def no_sync(self):
        """Backward inside keeps each worker's gradient part on its copy; the first
        backward after it sums them with its own (as torch's no_sync)."""
        old = [node.syncing for node in self._buckets]
        for node in self._buckets:
            node.syncing = False
        try:
            yield
        finally:
            for node, was in zip(self._buckets, old):
                node.syncing = was

    def extra_repr(self) -> str:
        return f"workers={self.workers}, buckets={len(self._buckets)}"


_UNFINISHED_REDUCTION = (
    "Expected to have finished reduction in the prior iteration before starting a new one. "
    "This error indicates that your module has parameters that were not used in producing "
    "loss. You can enable unused parameter detection by passing the keyword argument "
    "`find_unused_parameters=True` to `torch.nn.parallel.DistributedDataParallel`, and by \n"
    "making sure all `forward` function outputs participate in calculating loss. \nIf you "
    "already have done the above, then the distributed data parallel module wasn't able to "
    "locate the output tensors in the return value of your module's `forward` function. "
    "Please include the loss function and the structure of the return value of `forward` of "
    "your module when reporting this issue (e.g. list, dict, iterable).\nParameter indices "
    "which did not receive grad for rank 0: ")
_UNFINISHED_REDUCTION_END = (
    "\n In addition, you can set the environment variable TORCH_DISTRIBUTED_DEBUG to either "
    "INFO or DETAIL to print out information about which particular parameters did not "
    "receive gradient on this rank as part of this error")


def split_batch(x, workers):
    """A plain tensor with a batch dim split on dim 0 over `workers` (each worker runs its
    slice); anything else (sharded, 0-dim, not a tensor) as it is."""
    if hasattr(x, "_storage") and not sharding.is_sharded(x) and x.ndim > 0:
        return sharding.shard(x, 0, workers)
    return x


def _mesh_workers(device_mesh):
    if device_mesh is None:
        return None
    if isinstance(device_mesh, (list, tuple)):
        raise ValueError("DistributedDataParallel: device_mesh is a list of meshes (mesh['dp'] "
                         "of a 2-D mesh), but the module is not tensor-parallel over its groups; "
                         "parallelize it over mesh['tp'] first, or pass a 1-D mesh")
    return device_mesh.workers


def _tensor_parallel_groups(module: Module, device_mesh):
    """The tensor-parallel groups the module's parameters are split over (a 2-D mesh), or
    None; `device_mesh` (mesh["dp"]: one 1-D mesh per shard position) must agree."""
    found = {}
    for name, p in module.named_parameters():
        groups = sharding.groups_of(p)
        if groups is not None:
            found.setdefault(str(groups), (name, groups))
    if not found:
        return None
    if len(found) > 1:
        (a, ga), (b, gb) = list(found.values())[:2]
        raise ValueError(f"DistributedDataParallel: parameters {a!r} and {b!r} are split over "
                         f"different groups ({ga} and {gb})")
    (_, groups), = found.values()
    if device_mesh is not None:
        dp = [m.workers for m in device_mesh] if isinstance(device_mesh, (list, tuple)) \
            else [device_mesh.workers]
        columns = [list(c) for c in zip(*groups)]
        if dp != columns:
            raise ValueError(f"DistributedDataParallel: device_mesh's data-parallel groups {dp} "
                             f"are not those the module is tensor-parallel over ({columns})")
    return groups


def _replicate_over_groups(module: Module, groups) -> list:
    """The replicated leaves whose copies' gradients are summed over the groups: each
    tensor-parallel shard, each parameter replicated over every group's workers, and each
    other parameter (replicated over the groups' first workers now)."""
    firsts = [g[0] for g in groups]
    units, done = [], set()
    everyone = [w for g in groups for w in g]
    for mod in module.modules():
        for name, p in list(mod._parameters.items()):
            if p is None or id(p) in done:
                continue
            done.add(id(p))
            if sharding.groups_of(p) is None and not _replicated_over(p, firsts) and \
                    not _replicated_over(p, everyone):  # (ReplicateParallel's)
                if sharding.is_sharded(p):
                    raise ValueError(f"DistributedDataParallel: parameter {name!r} is "
                                     f"{sharding.placement_of(p)}, neither split over the "
                                     "module's tensor-parallel groups nor plain")
                mod._parameters[name] = p = _replicated(p, firsts)
            if p.requires_grad:
                units.extend(p._sharding.shards if sharding.groups_of(p) else [p])
    return units


def _replicated_over(p, workers) -> bool:
    s = p._sharding if sharding.is_sharded(p) else None
    return s is not None and s.reducer is not None and s.workers == list(workers)


@contextlib.contextmanager
def _bound_to_group(module: Module, group: list):
    """Within: every parameter of `module` is what the workers of `group` hold of it."""
    saved = []
    for mod in module.modules():
        saved.append((mod, dict(mod._parameters)))
        for name, p in mod._parameters.items():
            if p is not None and sharding.is_sharded(p):
                mod._parameters[name] = sharding.group_view(p, group)
        mod._run_by_group = True
    try:
        yield
    finally:
        for mod, params in saved:
            mod._parameters.clear()
            mod._parameters.update(params)
            mod._run_by_group = False


def _slice_of(x, i: int):
    return x._sharding.shards[i] if sharding.is_sharded(x) else x


def _replicate_parameters(module: Module, workers) -> list:
    """Each parameter of `module` (once, however many modules share it) replaced by a
    replicated leaf over `workers`; returns them in registration order."""
    done = {}
    for mod in module.modules():
        for name, p in list(mod._parameters.items()):
            if p is None:
                continue
            if id(p) not in done:
                if sharding.is_sharded(p):
                    raise ValueError(f"DistributedDataParallel: parameter {name!r} is already "
                                     f"{sharding.placement_of(p)}; wrap a module whose "
                                     "parameters are plain tensors")
                done[id(p)] = _replicated(p, workers)
            mod._parameters[name] = done[id(p)]
    return [p for p in done.values() if p.requires_grad]


def _replicated(p: Parameter, workers) -> Parameter:
    """Parameter `p` as a replicated leaf over `workers`."""
    source = p.detach().requires_grad_(p.requires_grad)
    return _counting_on(Parameter(sharding.replicate(source, workers), p.requires_grad), p)


def _counting_on(copies, t):
    """`copies`, which stand for `t` from now on, go on counting its writes: torch's
    parameters and buffers are the same tensors after the wrapping (`_version` goes on),
    which its broadcast of the module's state has written once more (all but the empty)."""
    copies._storage.version = t._version + (t.numel() > 0)
    return copies


def _replicate_buffers(module: Module, workers) -> None:
    for mod in module.modules():
        for name, b in list(mod._buffers.items()):
            if b is not None and not sharding.is_sharded(b):
                mod._buffers[name] = _counting_on(sharding.replicate(b, workers), b)
