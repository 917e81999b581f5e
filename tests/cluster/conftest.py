"""One Ray runtime for the whole session (ray.init takes seconds); every distributed test
runs on both backends: `backend` is "local" (the same workers in-process) or "ray"."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Ray's raylet gives its dashboard agent (a Python process) 15 s to start, then aborts the
# node: on a busy machine the agent takes longer, and the whole session fails at ray.init
# (see also ray_start.py).
os.environ.setdefault("RAY_raylet_start_wait_time_s", "60")

import distgrad.distributed as dist  # noqa: E402
from ray_start import start_ray  # noqa: E402
from watchdog import START_TIMEOUT_S  # noqa: E402

RAY_CPUS = 2


@pytest.fixture(scope="session")
def ray_session():
    import ray

    if not ray.is_initialized():
        start_ray(ray, RAY_CPUS)
    yield ray
    if dist.is_initialized():
        dist.shutdown()
    ray.shutdown()


@pytest.fixture
def ray_with_hooks(ray_session):
    """A two-worker Ray runtime with test hooks; afterwards a plain one again."""
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="ray", test_hooks=True, timeout_s=START_TIMEOUT_S)
    yield
    dist.shutdown()
    dist.init(2, backend="ray", timeout_s=START_TIMEOUT_S)


def use_runtime(backend: str, n: int = 2):
    """Make the current runtime `backend` with `n` workers (reusing it when it matches)."""
    if dist.is_initialized():
        rt = dist.current()
        if rt.backend == backend and len(rt.queues) == n:
            return rt
        dist.shutdown()
    return dist.init(n, backend=backend, timeout_s=START_TIMEOUT_S)


@pytest.fixture(scope="session", params=["local", "ray"])
def backend_name(request):
    # Session scope makes pytest run every local case, then every Ray case.
    if request.param == "ray":
        request.getfixturevalue("ray_session")
    return request.param


@pytest.fixture
def backend(backend_name):
    use_runtime(backend_name)
    return backend_name


@pytest.fixture
def runtime(backend):
    return dist.current()


@pytest.fixture
def switch_runtime():
    """For tests that need a runtime of their own shape: switch_runtime("local", 4)."""
    return use_runtime
