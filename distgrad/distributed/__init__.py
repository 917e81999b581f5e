"""distgrad.distributed: workers, placement and (sharded) tensors across processes.

    import distgrad as torch
    import distgrad.distributed as dist
    dist.init(num_workers=2)                    # local Ray runtime; backend="local" needs no Ray
    w = torch.randn(5, 3, requires_grad=True, device="worker:1")
"""
# Registered with distgrad.storage: the worker and sharded kinds, and placing tensors.
from . import placement as _placement, storage as _storage  # noqa: F401
from .runtime import (WorkerDiedError, call_timeout, counters, current, init, is_initialized,
                      nodes, num_workers, restart_worker, shutdown, stats, synchronize, workers)
from .wire import WireFormatError

__all__ = ["init", "shutdown", "is_initialized", "num_workers", "workers", "nodes", "stats",
           "counters", "synchronize", "call_timeout", "restart_worker",
           "WorkerDiedError", "WireFormatError"]

from .sharding import Partial, Replicate, Shard, redistribute, replicate, shard  # noqa: E402
from . import layer_rules as _layer_rules  # noqa: E402,F401  (the layer ops' sharding rules)
from . import simulated as _simulated  # noqa: E402,F401  (init(backend="simulated"))

__all__ += ["shard", "replicate", "redistribute", "Shard", "Replicate", "Partial"]

from .device_mesh import DeviceMesh, init_device_mesh  # noqa: E402
from .tensor import distribute_tensor  # noqa: E402  (also binds Tensor.redistribute)

__all__ += ["DeviceMesh", "init_device_mesh", "distribute_tensor"]
