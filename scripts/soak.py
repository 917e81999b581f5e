#!/usr/bin/env python
"""Soak: train a two-worker model for many steps and print the workers' state and memory.

    python scripts/soak.py                       # 2,000 steps on a local Ray runtime
    python scripts/soak.py --steps 500 --every 50 --backend local
    python scripts/soak.py --address auto        # on a running cluster (RSS: same-host workers)

Each step: a fresh batch from the driver, forward through layers on worker:0 then
worker:1, the loss read in the driver, backward, an Adam step, zero_grad. Every `--every`
steps it prints `stats()` per worker (live tensors, graph nodes, bytes) and each worker
process's resident memory (VmRSS from /proc). It passes (exit 0) when stats() is the same
at every sample from step `--flat-from` on and no worker's RSS grew by `--rss-limit`
(5%) or more over that span. `run()` is the same check for the test suite
(tests/cluster/test_soak.py runs a shorter one).
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import distgrad as dg  # noqa: E402
import distgrad.distributed as dist  # noqa: E402


def rss_bytes(pid: int) -> int | None:
    """VmRSS of a process on this machine, or None (another host, or gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class TwoWorkerModel(dg.nn.Module):
    """Linear+tanh on worker:0, then Linear+relu and a Linear head on worker:1."""

    def __init__(self, d_in=32, width=64, d_out=4):
        super().__init__()
        self.first = dg.nn.Linear(d_in, width).to("worker:0")
        self.second = dg.nn.Linear(width, width).to("worker:1")
        self.head = dg.nn.Linear(width, d_out).to("worker:1")

    def forward(self, x):
        h = self.first(x.to("worker:0")).tanh()
        h = self.second(h.to("worker:1")).relu()
        return self.head(h)


def sample(model_stats: dict) -> dict:
    return {dev: (s["tensors"], s["nodes"], s["bytes"]) for dev, s in model_stats.items()}


def run(steps: int = 2000, every: int = 100, flat_from: int = 10, batch: int = 32,
        seed: int = 0, out=print) -> dict:
    """Train on the current runtime; return {"curve": [(step, stats, rss, loss)], ...}."""
    dg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = TwoWorkerModel()
    opt = dg.optim.Adam(model.parameters(), lr=1e-3)
    true_w = rng.standard_normal((32, 4)).astype(np.float32)
    pids = {dev: s["pid"] for dev, s in dist.stats().items()}
    marks = sorted({flat_from, steps} | set(range(every, steps + 1, every)))
    curve = []
    out(f"{'step':>6} {'loss':>10}  " + "  ".join(
        f"{dev + ' tensors/nodes/bytes':>32} {'RSS MiB':>8}" for dev in pids))
    t0 = time.monotonic()
    for step in range(1, steps + 1):
        xb = rng.standard_normal((batch, 32)).astype(np.float32)
        yb = np.tanh(xb @ true_w)
        x, y = dg.from_numpy(xb), dg.from_numpy(yb).to("worker:1")
        loss = dg.nn.functional.mse_loss(model(x), y)
        value = loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
        del x, y, loss
        if step in marks:
            gc.collect()
            st = sample(dist.stats())
            rss = {dev: rss_bytes(pid) for dev, pid in pids.items()}
            curve.append((step, st, rss, value))
            out(f"{step:>6} {value:>10.5f}  " + "  ".join(
                f"{'%d / %d / %d' % st[dev]:>32} "
                f"{(rss[dev] or 0) / 2**20:>8.1f}" for dev in pids))
    elapsed = time.monotonic() - t0
    return verdict(curve, flat_from, elapsed, steps, out)


def verdict(curve, flat_from, elapsed, steps, out=print, rss_limit=0.05) -> dict:
    tail = [c for c in curve if c[0] >= flat_from]
    first, last = tail[0], tail[-1]
    flat = all(c[1] == first[1] for c in tail)
    growth = {}
    for dev, r0 in first[2].items():
        r1 = last[2][dev]
        growth[dev] = None if not r0 or not r1 else (r1 - r0) / r0
    known = [g for g in growth.values() if g is not None]
    ok = flat and all(g < rss_limit for g in known)
    out(f"{steps} steps in {elapsed:.1f} s ({1000 * elapsed / steps:.1f} ms/step); stats() "
        f"{'flat' if flat else 'NOT flat'} from step {flat_from}; RSS growth from step "
        f"{first[0]} to {last[0]}: " + ", ".join(
            f"{dev} {'n/a' if g is None else f'{100 * g:+.2f}%'}" for dev, g in growth.items())
        + f" -> {'OK' if ok else 'FAIL'}")
    return {"curve": curve, "flat": flat, "rss_growth": growth, "ok": ok}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=100, help="print a sample every N steps")
    p.add_argument("--flat-from", type=int, default=10)
    p.add_argument("--backend", default="ray", choices=["ray", "local"])
    p.add_argument("--address", default=None, help='join a Ray cluster ("auto", "ray://...")')
    args = p.parse_args(argv)
    dist.init(2, backend=args.backend, address=args.address)
    try:
        result = run(args.steps, args.every, args.flat_from)
    finally:
        dist.shutdown()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
