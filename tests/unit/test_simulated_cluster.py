"""The simulated cluster (backend="simulated"): workers in this process that handle every
message but skip every kernel, so the driver's messages and CPU can be measured for many
workers on one machine; a compiled step there sends one message per worker it uses."""
from __future__ import annotations

import numpy as np

import distgrad as dg
import distgrad.distributed as dist
import distgrad.nn.functional as F


def test_simulated_workers_skip_kernels_and_a_compiled_step_sends_one_message_each():
    if dist.is_initialized():
        dist.shutdown()
    rt = dist.init(16, backend="simulated")
    try:
        devs = [f"worker:{k}" for k in range(16)]
        ws = [dg.ones(3, 3, device=d, requires_grad=True) for d in devs]
        x = dg.ones(2, 3, device=devs[0])

        @dg.compile
        def step(x):
            h = x
            for d, w in zip(devs, ws):
                h = F.relu(h.to(d) @ w)
            loss = h.sum()
            loss.backward()
            with dg.no_grad():
                for w in ws:
                    w.sub_(w.grad * 0.1)
                    w.grad = None
            return loss

        for _ in range(4):
            loss = step(x)
        assert loss.item() == 0.0  # kernels skipped: every value is zeros (ones @ ones is not)
        assert step.stats()["replayed"] >= 2
        dist.synchronize()
        before, cpu = dist.counters()["messages"], rt.endpoint.worker_cpu_s
        loss = step(x)  # (kept: dropping it would queue a free, sent by the next message)
        sent = np.subtract(dist.counters()["messages"], before)
        # one per worker, as on Ray (the simulated backend runs as Ray's), and the loss's
        # worker a second: the loss comes back before the rest of its part
        assert list(sent) == [1] * 15 + [2]
        assert rt.endpoint.worker_cpu_s > cpu  # the workers' own time, for the bench to subtract
    finally:
        dist.shutdown()


def test_stats_of_simulated_workers_say_they_sent_nothing():
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="simulated")
    try:
        dg.ones(3, device="worker:0").to("worker:1").sum().item()
        s = dist.stats()
        assert [s[w]["sent_bytes"] for w in ("worker:0", "worker:1")] == [{}, {}]
    finally:
        dist.shutdown()
