"""A fixed set of generated programs (fuzz_programs.py) run under PyTorch and distgrad:
values, first- and second-order gradients, hooks' gradients, or the error type, must
agree. 400 programs in the driver, 150 on two in-process workers (backend="local"), and a
few on two Ray workers. A failing chunk lists its failures by kind, with a shrunk,
standalone reproducer for the first kinds."""
from __future__ import annotations

import os

import pytest

import fuzz_programs as fp

CHUNK = 50
DRIVER_CHUNKS = 8        # seeds 0 .. 399
WORKER_CHUNKS = 3        # seeds 100000 .. 100149, backend="local"
RAY_PROGRAMS = 12        # seeds 200000 .. 200011, backend="ray" (reuses a running Ray)
SHRUNK_KINDS = 3         # kinds per chunk that get a shrunk reproducer


def check_all(seeds, mode):
    ran, by_kind, _ = fp.run_many([(s, mode) for s in seeds], shrink_per_kind=0)
    assert ran == len(seeds)
    if by_kind:
        repro = {}
        for kind, fails in sorted(by_kind.items(), key=lambda kv: -len(kv[1]))[:SHRUNK_KINDS]:
            seed, prog, m = min(fails, key=lambda f: len(f[1]["ops"]))
            small = fp.shrink(prog, kind, budget=40)
            m2, _, _ = fp.check(small)
            repro[kind] = [fp.report(small, m2 or m)]
        pytest.fail(fp.summary(ran, by_kind, repro), pytrace=False)


@pytest.fixture(scope="module")
def runtimes():
    yield
    import distgrad.distributed as dist

    if dist.is_initialized():
        dist.shutdown()


@pytest.mark.parametrize("chunk", range(DRIVER_CHUNKS))
def test_driver_programs(chunk):
    check_all(range(chunk * CHUNK, (chunk + 1) * CHUNK), "driver")


@pytest.mark.parametrize("chunk", range(WORKER_CHUNKS))
def test_local_worker_programs(chunk, runtimes):
    base = 100_000 + chunk * CHUNK
    check_all(range(base, base + CHUNK), "local")


@pytest.mark.cluster
def test_ray_worker_programs(runtimes):
    import ray

    started = not ray.is_initialized()
    try:
        check_all(range(200_000, 200_000 + RAY_PROGRAMS), "ray")
    finally:
        if started:
            import distgrad.distributed as dist

            if dist.is_initialized():
                dist.shutdown()
            ray.shutdown()


def test_program_text_is_the_same_for_both_libraries():
    prog = fp.generate(7, "local")
    a, b = fp.to_text(prog, "distgrad"), fp.to_text(prog, "torch")
    assert a.splitlines()[1:] == b.splitlines()[1:]
    assert len(prog["ops"]) >= 6


def test_programs_mix_the_op_families():
    kinds = set()
    for seed in range(60):
        kinds |= {op["kind"] for op in fp.generate(seed, "local")["ops"]}
    for k in ("slice", "select", "t", "permute", "reshape", "view", "expand", "unsqueeze",
              "add_", "mul_", "copy_", "fill_", "zero_", "setitem", "detach", "hook",
              "retain_grad", "Function", "to", "shard", "replicate"):
        assert k in kinds, k


def test_a_known_wrong_program_is_caught():
    """The fuzzer's comparison sees the issue's first example as a difference when the
    distgrad side computes the old history (simulated: torch against a torch run whose
    in-place write is dropped)."""
    prog = {"seed": -1, "mode": "driver", "dtype": "float64", "vars": ["x0", "x1", "v0", "v1"],
            "kinds": {"v0": "clone", "v1": "slice"}, "loss": ["v1"], "leaves": ["x0", "x1"],
            "retained": [],
            "inputs": [{"name": "x0", "shape": (3,), "device": "cpu", "requires_grad": True,
                        "values": [1.0, 2.0, 3.0]},
                       {"name": "x1", "shape": (3,), "device": "cpu", "requires_grad": True,
                        "values": [0.5, -1.0, 2.0]}],
            "ops": [{"kind": "clone", "out": "v0", "uses": ["x0"], "src": "v0 = x0.clone()"},
                    {"kind": "slice", "out": "v1", "uses": ["v0"], "src": "v1 = v0[:2]"},
                    {"kind": "mul_", "out": None, "uses": ["v0", "x1"], "src": "v0.mul_(x1)"}]}
    import torch

    good = fp.run(prog, torch)
    stale = fp.run(fp._without(prog, drop_ops={2}), torch)
    assert fp.compare(prog, good, good) is None
    m = fp.compare(prog, stale, good)
    assert m is not None and m.silent
