"""DistributedDataParallel: a module's parameters copied to every worker; each worker runs
its slice of the global batch; gradients are summed worker to worker in buckets.

distgrad has one driver, so the wrapped module takes the global batch (as one process
would) and splits it on dim 0 over the workers; the loss over the batch-sharded output is
the full batch's. Each parameter becomes a replicated leaf (distributed/replicas.py):
copies on every worker, each updated there by the optimizer, equal to the bit. Backward
all-reduces the copies' gradients bucket by bucket, the parameters in reverse order of
registration (about the order backward reaches them), each bucket as soon as all its
gradients are in, queued on the workers between the rest of backward's ops.
"""
from __future__ import annotations

import contextlib

from ...distributed import replicas, runtime, sharding
from ..modules import Module
from ..parameter import Parameter

_FIRST_BUCKET_BYTES = 1 << 20  # as torch: a small first bucket starts reducing early


class DistributedDataParallel(Module):
    def __init__(self, module: Module, workers=None, bucket_cap_mb: float = 25,
                 broadcast_buffers: bool = True, device_ids=None, output_device=None,
                 dim: int = 0, find_unused_parameters: bool = False, **kwargs):
        super().__init__()
        if dim != 0:
            raise NotImplementedError("DistributedDataParallel splits the batch on dim 0 only")
        self.module = module
        self.workers = list(workers) if workers is not None else runtime.workers()
        self.bucket_cap_mb = bucket_cap_mb
        params = _replicate_parameters(module, self.workers)
        _replicate_buffers(module, self.workers)
        self._buckets = []
        for bucket in _buckets(params, bucket_cap_mb):
            node = replicas.attach([p._sharding.shards for p in bucket])
            for p in bucket:
                p._sharding.reducer = node
            self._buckets.append(node)

    def forward(self, *inputs, **kwargs):
        inputs = [self._split(x) for x in inputs]
        kwargs = {k: self._split(v) for k, v in kwargs.items()}
        return self.module(*inputs, **kwargs)

    def _split(self, x):
        if hasattr(x, "_storage") and not sharding.is_sharded(x) and x.ndim > 0:
            return sharding.shard(x, 0, self.workers)
        return x

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
                source = p.detach().requires_grad_(p.requires_grad)
                done[id(p)] = Parameter(sharding.replicate(source, workers), p.requires_grad)
            mod._parameters[name] = done[id(p)]
    return [p for p in done.values() if p.requires_grad]


def _replicate_buffers(module: Module, workers) -> None:
    for mod in module.modules():
        for name, b in list(mod._buffers.items()):
            if b is not None and not sharding.is_sharded(b):
                mod._buffers[name] = sharding.replicate(b, workers)


def _buckets(params, cap_mb: float) -> list:
    """The parameters in reverse order, in buckets of at most `cap_mb` (the first 1 MB)."""
    buckets, current, size = [], [], 0
    cap = min(_FIRST_BUCKET_BYTES, cap_mb * 2 ** 20)
    for p in reversed(params):
        nbytes = p.numel() * p.dtype.itemsize
        if current and size + nbytes > cap:
            buckets.append(current)
            current, size, cap = [], 0, cap_mb * 2 ** 20
        current.append(p)
        size += nbytes
    if current:
        buckets.append(current)
    return buckets
