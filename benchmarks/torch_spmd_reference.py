"""An independent check of the bench's torch_ddp, torch_tp and torch_pp rows: each peer as
a plain PyTorch SPMD script, written from PyTorch's docs; it shares no code with the bench.

    python benchmarks/torch_spmd_reference.py --size M --steps 60 --systems ddp,tp,pp

Two processes (torch.multiprocessing.spawn), gloo on 127.0.0.1 (a FileStore in a temporary
directory, GLOO_SOCKET_IFNAME=lo), one thread each. The model: 4 Linear layers (width x
width, ReLU after the first three), MSE loss, SGD(lr=0.01). ddp: DistributedDataParallel,
each rank half the batch; tp: parallelize_module with ColwiseParallel/RowwiseParallel
pairs, the full batch on each rank; pp: PipelineStage of two layers per rank,
Schedule1F1B over 4 micro-batches. A step ends with `loss.item()` where the rank has the
loss. Per peer: warm-up steps, then timed steps; the time is rank 0's, from a barrier
before the first timed step to a barrier after the last (both ranks done).
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings

SIZES = {"S": (32, 64), "M": (256, 1024), "L": (1024, 4096)}  # (batch, width)


def _layers(torch, width: int, relu_after: list):
    torch.manual_seed(0)
    mods = []
    for relu in relu_after:
        mods.append(torch.nn.Linear(width, width))
        if relu:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def _ddp_step(torch, rank, batch, width):
    from torch.nn.parallel import DistributedDataParallel as DDP

    model = DDP(_layers(torch, width, [True, True, True, False]))
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, width, generator=g), torch.randn(batch, width, generator=g)
    half = batch // 2
    x, y = x[rank * half:(rank + 1) * half], y[rank * half:(rank + 1) * half]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _tp_step(torch, rank, batch, width):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,
                                                   parallelize_module)

    mesh = init_device_mesh("cpu", (2,))
    model = parallelize_module(_layers(torch, width, [True, True, True, False]), mesh,
                               {"0": ColwiseParallel(), "2": RowwiseParallel(),
                                "4": ColwiseParallel(), "6": RowwiseParallel()})
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, width, generator=g), torch.randn(batch, width, generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _pp_step(torch, rank, batch, width):
    from torch.distributed.pipelining import PipelineStage, Schedule1F1B

    full = _layers(torch, width, [True, True, True, False])
    part = full[:4] if rank == 0 else full[4:]  # Linear ReLU Linear ReLU | Linear ReLU Linear
    stage = PipelineStage(part, rank, 2, torch.device("cpu"))
    schedule = Schedule1F1B(stage, n_microbatches=4, loss_fn=torch.nn.functional.mse_loss)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(batch, width, generator=g), torch.randn(batch, width, generator=g)
    opt = torch.optim.SGD(part.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        if rank == 0:
            schedule.step(x)
            opt.step()
            return None
        losses = []
        schedule.step(target=y, losses=losses)
        opt.step()
        return torch.stack(losses).mean().item()

    return step


STEPS = {"ddp": _ddp_step, "tp": _tp_step, "pp": _pp_step}


def _process(rank: int, args, store: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    batch, width = SIZES[args.size]
    for name in args.systems.split(","):
        step = STEPS[name](torch, rank, batch, width)
        for _ in range(args.warmup):
            step()
        dist.barrier()
        times = []
        t0 = time.perf_counter()
        for _ in range(args.steps):
            s = time.perf_counter()
            loss = step()
            times.append((time.perf_counter() - s) * 1e3)
        dist.barrier()
        total = (time.perf_counter() - t0) * 1e3
        if rank == 0:
            print(f"torch {name} reference, size {args.size} (batch {batch}, width {width}): "
                  f"{args.steps} steps after {args.warmup} warm-up: {total / args.steps:.2f} "
                  f"ms/step (barrier to barrier / steps), median step {statistics.median(times):.2f} "
                  f"ms on rank 0", flush=True)
        elif loss is not None:
            print(f"  ({name}: last loss on rank 1 {loss:.5f})", flush=True)
    dist.destroy_process_group()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=SIZES, default="M")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--systems", default="ddp,tp,pp")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="torch-spmd-reference-") as d:
        mp.spawn(_process, args=(args, os.path.join(d, "store")), nprocs=2, join=True)


if __name__ == "__main__":
    main()
