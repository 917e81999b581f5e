"""The processes each benchmark system runs in: which systems share one (`GROUPS`) and how
a group's systems are started in the process the runner gave it (`open_group`)."""
from __future__ import annotations

from . import distgrad_parallel as par
from .systems import (Distgrad, DistgradCompiled, DistgradSharded, DistgradShardedCompiled,
                      NumpyFloor, sharded_available)

# Systems that share processes: the distgrad systems use one driver and its two workers;
# the torch SPMD peers one pair of ranks and its gloo process group (torch_spmd.py).
GROUPS = {"numpy": "numpy", "distgrad": "distgrad", "distgrad_sharded": "distgrad",
          "distgrad_compiled": "distgrad", "distgrad_sharded_compiled": "distgrad",
          "distgrad_dp": "distgrad", "distgrad_pp": "distgrad", "distgrad_pp_zb": "distgrad",
          "distgrad_pp_compiled": "distgrad", "distgrad_pp_zb_compiled": "distgrad",
          "torch_rpc": "torch_rpc", "torch_ddp": "torch_spmd", "torch_tp": "torch_spmd",
          "torch_pp": "torch_spmd", "torch_local": "torch_local"}


def open_group(group: str, names, options: dict):
    """The systems `names` of one group, started in this process: (systems, close, info)."""
    if group == "numpy":
        return {"numpy": NumpyFloor()}, lambda: None, {}
    if group == "distgrad":
        return _open_distgrad(names, options)
    from . import torch_systems  # imports torch

    if group == "torch_local":
        return {"torch_local": torch_systems.TorchLocal()}, lambda: None, {}
    if group == "torch_rpc":
        rpc = torch_systems.TorchRPC(options.get("torch_transports", "uv"))
        rpc.start()  # on failure its processes are already reaped
        return {"torch_rpc": rpc}, rpc.close, {"worker_thread_pools": rpc.thread_info()}
    if group == "torch_spmd":
        from . import torch_spmd

        return torch_spmd.open_group(names)
    raise ValueError(f"unknown system group {group!r}")


def _open_distgrad(names, options: dict):
    """The wanted distgrad rows, and the runtime they share, started only if one of them
    can run (a row whose API is missing is its reason, a string)."""
    import distgrad.distributed as dist

    systems: dict = {}
    if "distgrad" in names:
        systems["distgrad"] = Distgrad(options.get("api", "auto"))
    if "distgrad_compiled" in names:
        systems["distgrad_compiled"] = DistgradCompiled(options.get("api", "auto"))
    for cls, available in ((DistgradSharded, sharded_available),
                           (DistgradShardedCompiled, sharded_available),
                           (par.DistgradDP, par.dp_available),
                           (par.DistgradPP, par.pp_available),
                           (par.DistgradPPZeroBubble, par.pp_available),
                           (par.DistgradPPCompiled, par.pp_available),
                           (par.DistgradPPZeroBubbleCompiled, par.pp_available)):
        if cls.name in names:
            why = available()
            systems[cls.name] = why if why else cls()
    backend = options.get("backend", "ray")
    info = {"backend": backend,
            "distgrad_api": systems["distgrad"].api if "distgrad" in systems else None}
    if all(isinstance(s, str) for s in systems.values()):
        return systems, lambda: None, info  # nothing to run: no runtime
    kwargs = {}
    niceness = options.get("ray_worker_niceness", "0")
    if backend == "ray" and niceness != "keep":
        kwargs["_system_config"] = {"worker_niceness": int(niceness)}
    dist.init(2, backend=backend, **kwargs)
    return systems, dist.shutdown, info
