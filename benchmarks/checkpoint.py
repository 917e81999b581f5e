"""Checkpoint throughput and async_save's cost, on a local Ray runtime.

    python -m benchmarks.checkpoint --dir /tmp/ckpt --mib-per-worker 128 --workers 2

Prints, as JSON: per worker, the MiB/s of `checkpoint.save` (each worker writes its own
shard file, flushed to disk) and of `checkpoint.load` (each worker reads and checks its
shards); and for a tensor-parallel MLP trained with Adam, the median step time, the time
`async_save` takes to return (its copy), and the median step time while the background
write runs, each as a percentage of the step. Compare with the disk's raw write speed:
`dd if=/dev/zero of=DIR/dd bs=1M count=256 oflag=direct` (then delete DIR/dd).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time

import numpy as np


def _throughput(dg, dist, dcp, directory: str, mib: int, n: int, repeats: int) -> dict:
    rows = mib * 2 ** 20 // 4 // 1024
    state = {f"w{k}": dg.randn(rows, 1024, device=f"worker:{k}") for k in range(n)}
    target = {f"w{k}": dg.zeros(rows, 1024, device=f"worker:{k}") for k in range(n)}
    dist.synchronize()
    saves, loads = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dcp.save(state, checkpoint_id=directory)
        saves.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dcp.load(target, checkpoint_id=directory)
        loads.append(time.perf_counter() - t0)
    ok = all(np.array_equal(state[k].cpu().numpy(), target[k].cpu().numpy()) for k in state)
    return {"mib_per_worker": mib, "workers": n, "loaded_equal": ok,
            "save_s": [round(s, 3) for s in saves], "load_s": [round(s, 3) for s in loads],
            "save_mib_s_per_worker": round(mib / statistics.median(saves), 1),
            "load_mib_s_per_worker": round(mib / statistics.median(loads), 1)}


def _async_cost(dg, dist, dcp, directory: str, width: int, steps: int) -> dict:
    from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear

    dg.manual_seed(0)
    model = dg.nn.Sequential(ColumnParallelLinear(width, 4 * width), dg.nn.ReLU(),
                             RowParallelLinear(4 * width, width))
    opt = dg.optim.Adam(model.parameters(), lr=1e-3)
    x = dg.randn(64, width)

    def step():
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
        dist.synchronize()

    for _ in range(3):
        step()
    plain = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        plain.append(time.perf_counter() - t0)
    calls, during, writes = [], [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        future = dcp.async_save({"model": model.state_dict(), "optim": opt.state_dict()},
                                checkpoint_id=directory)
        calls.append(time.perf_counter() - t0)
        while not future.done():
            t1 = time.perf_counter()
            step()
            during.append(time.perf_counter() - t1)
        future.result()
        writes.append(time.perf_counter() - t0)
    state_mib = sum(p.numel() * 4 * 3 for p in model.parameters()) / 2 ** 20
    median = statistics.median(plain)
    return {"width": width, "state_mib": round(state_mib, 1),
            "step_ms": round(median * 1e3, 2),
            "async_save_call_ms": round(statistics.median(calls) * 1e3, 2),
            "async_save_call_pct_of_step": round(100 * statistics.median(calls) / median, 1),
            "steps_during_write": len(during),
            "step_during_write_ms": round(statistics.median(during) * 1e3, 2) if during else None,
            "background_write_ms": round(statistics.median(writes) * 1e3, 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mib-per-worker", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args(argv)

    import distgrad as dg
    import distgrad.distributed as dist
    import distgrad.distributed.checkpoint as dcp

    dist.init(num_workers=args.workers)
    try:
        out = {"throughput": _throughput(dg, dist, dcp, f"{args.dir}/throughput",
                                         args.mib_per_worker, args.workers, args.repeats),
               "async_save": _async_cost(dg, dist, dcp, f"{args.dir}/async", args.width,
                                         args.steps)}
    finally:
        dist.shutdown()
        shutil.rmtree(args.dir, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
