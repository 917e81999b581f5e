"""init/shutdown and the two ways to reach a worker: a Ray actor, or in this process.

This is the only module that imports `ray`. Both backends speak the same wire messages
to the same `Worker` class; only the transport differs.
"""
from __future__ import annotations

import os
import threading

from ..autograd import record
from . import wire
from .coordinator import Counters, WorkerQueue
from .worker import Worker


class WorkerDiedError(RuntimeError):
    """A worker process died; raised in the driver at the next call that touches it."""


# ---- endpoints ----------------------------------------------------------------------------------

class LocalEndpoint:
    """Workers in the driver process: the same messages, arrays inline as msgpack ext."""

    def __init__(self, n: int):
        self.workers = [Worker(i, node="local") for i in range(n)]

    def submit(self, index, instrs, args, n_exports):
        payload = wire.run_message(instrs, inline_arrays=[_as_array(a) for a in args])
        out = self.workers[index].handle(payload)
        wire.decode_reply(out[0])
        return len(payload), list(out)

    def stage(self, array):
        return _as_array(array).copy()

    def get(self, ref, index):
        return ref

    def check(self, pending, index, block):
        return []

    def request(self, kind, index):
        return wire.decode_reply(self.workers[index].handle(wire.simple_message(kind))[0])

    def raw(self, index, payload, *arrays):
        return self.workers[index].handle(payload, *arrays)

    def pid(self, index):
        return os.getpid()

    def close(self):
        self.workers = []


def _as_array(a):
    import numpy as np

    return np.asarray(a)


class RayEndpoint:
    """Workers as Ray actors; arrays go as Ray objects (zero-copy for numpy)."""

    def __init__(self, actors):
        self.actors = actors
        self._methods = {}  # (worker, number of returns) -> actor method (options are costly)

    def submit(self, index, instrs, args, n_exports):
        payload = wire.run_message(instrs)
        key = (index, n_exports)
        method = self._methods.get(key)
        if method is None:
            method = self.actors[index].handle
            if n_exports:
                method = method.options(num_returns=1 + n_exports)
            self._methods[key] = method
        refs = method.remote(payload, *args)
        return len(payload), list(refs) if n_exports else [refs]

    def stage(self, array):
        import ray

        return ray.put(array)

    def get(self, ref, index):
        return _ray_get(ref, index)

    def check(self, pending, index, block):
        import ray

        if block:
            for r in pending:
                wire.decode_reply(_first(_ray_get(r, index)))
            return []
        ready, rest = ray.wait(pending, num_returns=len(pending), timeout=0)
        for r in ready:
            wire.decode_reply(_first(_ray_get(r, index)))
        return rest

    def request(self, kind, index):
        ref = self.actors[index].handle.remote(wire.simple_message(kind))
        return wire.decode_reply(_first(_ray_get(ref, index)))

    def raw(self, index, payload, *arrays):
        return _ray_get(self.actors[index].handle.remote(payload, *arrays), index)

    def close(self):
        import ray

        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:
                pass
        self.actors = []


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def _ray_get(ref, index, timeout=None):
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayTaskError

    try:
        return ray.get(ref, timeout=timeout)
    except (ActorDiedError, ActorUnavailableError) as e:
        raise WorkerDiedError(f"worker:{index} died: {type(e).__name__}") from None
    except RayTaskError as e:
        cause = e.cause if getattr(e, "cause", None) is not None else e.as_instanceof_cause()
        raise cause from None


class _RayActorWorker(Worker):
    """The actor class: the plain worker, told which Ray node it runs on."""

    def __init__(self, index: int, blas_threads: int = 1):
        import ray

        _limit_blas(blas_threads)
        super().__init__(index, node=ray.get_runtime_context().get_node_id())


def _limit_blas(n: int) -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except Exception:
        pass


# ---- the runtime --------------------------------------------------------------------------------

class Runtime:
    def __init__(self, backend, endpoint, n, owns_ray):
        self.backend = backend
        self.endpoint = endpoint
        self.counters = Counters(n)
        self.queues = [WorkerQueue(i, _Bound(endpoint, i), self.counters) for i in range(n)]
        self.owns_ray = owns_ray

    def queue(self, device: str) -> WorkerQueue:
        if device.startswith("worker:"):
            try:
                k = int(device.split(":", 1)[1])
            except ValueError:
                k = -1
            if 0 <= k < len(self.queues):
                return self.queues[k]
        raise RuntimeError(f"Invalid device string: '{device}' names no worker; distgrad.distributed "
                           f"has {len(self.queues)} workers: "
                           f"{', '.join(q.device for q in self.queues)}")

    def flush_all(self) -> None:
        for q in self.queues:
            q.flush()


class _Bound:
    """An endpoint seen from one worker's queue."""

    def __init__(self, endpoint, index):
        self.endpoint = endpoint
        self.index = index

    def submit(self, instrs, args, n_exports):
        return self.endpoint.submit(self.index, instrs, args, n_exports)

    def stage(self, array):
        return self.endpoint.stage(array)

    def get(self, ref, index):
        return self.endpoint.get(ref, index)

    def check(self, pending, index, block):
        return self.endpoint.check(pending, index, block)

    def request(self, kind, index):
        return self.endpoint.request(kind, index)


_runtime: Runtime | None = None
_lock = threading.Lock()


def current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("distgrad.distributed is not initialized: call "
                           "distgrad.distributed.init() first")
    return _runtime


def is_initialized() -> bool:
    return _runtime is not None


def init(num_workers: int = 2, address=None, backend: str = "ray", timeout_s: float = 60.0,
         worker_num_cpus=None, blas_threads: int = 1, **ray_kwargs):
    """Start (or join) the workers. Returns the runtime handle.

    backend="ray", address=None: a local multi-process Ray runtime (the embedded default);
    address="auto" or "ray://host:port": join a running cluster, workers spread over its
    nodes; backend="local": the same workers and messages in this process, without Ray.
    """
    global _runtime
    with _lock:
        if _runtime is not None:
            raise RuntimeError("distgrad.distributed is already initialized; call shutdown() "
                               "before init() again")
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers must be a positive int, got {num_workers!r}")
        if backend == "local":
            rt = Runtime("local", LocalEndpoint(num_workers), num_workers, False)
        elif backend == "ray":
            rt = _init_ray(num_workers, address, timeout_s, worker_num_cpus, blas_threads, ray_kwargs)
        else:
            raise ValueError(f"backend must be 'ray' or 'local', got {backend!r}")
        _runtime = rt
        record.register_runtime(rt)
        return rt


def _init_ray(n, address, timeout_s, worker_num_cpus, blas_threads, ray_kwargs):
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    owns = False
    if not ray.is_initialized():
        kwargs = dict(include_dashboard=False, logging_level="WARNING", log_to_driver=True)
        kwargs.update(ray_kwargs)
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, TimeoutError) as e:
            raise TimeoutError(f"distgrad.distributed.init: could not reach the Ray cluster at "
                               f"{address!r}: {e}") from None
        owns = True
    if worker_num_cpus is None:
        # On a local runtime the workers share the machine's cores with the driver; on a
        # cluster each worker takes a CPU, which also spreads them over the nodes.
        worker_num_cpus = 0 if address is None else 1
    actor_cls = ray.remote(_RayActorWorker).options(
        num_cpus=worker_num_cpus, max_restarts=0, max_task_retries=0,
        scheduling_strategy="SPREAD")
    actors = [actor_cls.remote(i, blas_threads) for i in range(n)]
    pings = [a.handle.remote(wire.simple_message("ping")) for a in actors]
    ready, _ = ray.wait(pings, num_returns=n, timeout=timeout_s)
    if len(ready) < n:
        for a in actors:
            ray.kill(a)
        if owns:
            ray.shutdown()
        raise TimeoutError(f"distgrad.distributed.init: only {len(ready)} of {n} workers started "
                           f"within timeout_s={timeout_s}; the cluster may lack resources "
                           f"(each worker asks for num_cpus={worker_num_cpus})")
    ray.get(ready)
    return Runtime("ray", RayEndpoint(actors), n, owns)


def shutdown() -> None:
    global _runtime
    with _lock:
        rt = _runtime
        if rt is None:
            return
        _runtime = None
        record.register_runtime(None)
        for q in rt.queues:
            q.closed = True
        rt.endpoint.close()
        if rt.owns_ray:
            import ray

            ray.shutdown()


def num_workers() -> int:
    return len(current().queues)


def workers() -> list:
    return [q.device for q in current().queues]


def stats() -> dict:
    """Per worker: pid, Ray node, live tensors, live graph nodes, and their bytes."""
    import gc

    gc.collect()
    rt = current()
    out = {}
    for q in rt.queues:
        body = q.request("stats")
        out[q.device] = {k: body[k] for k in ("pid", "node", "tensors", "nodes", "bytes")}
    return out


def counters() -> dict:
    """Messages and bytes the driver exchanged with each worker since init."""
    return current().counters.snapshot()

