"""An independent torch RPC distributed-autograd training step, to check the bench's
torch_rpc row. Written from PyTorch's RPC docs; it shares no code with the bench.

    python benchmarks/torch_rpc_reference.py --size M --steps 60

Three processes (torch.multiprocessing.spawn): rank 0 drives, ranks 1 and 2 each own two
of the four Linear layers (width x width, ReLU after the first three), the input lives
on rank 1 and the target on rank 2. A step: rank 1's forward, its activation fetched by
rank 2 as an RRef, rank 2's forward and MSE loss, `dist_autograd.backward`, a
`DistributedOptimizer(SGD)` step, `loss.item()`. Every process runs one thread and
glibc's default memory settings; TensorPipe over TCP on 127.0.0.1 (--transports uv, as
the bench) or TensorPipe's own choice (--transports default).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

SIZES = {"S": (32, 64), "M": (256, 1024), "L": (1024, 4096)}  # (batch, width)


def _torch():
    import torch

    torch.set_num_threads(1)
    return torch


class Half:
    """Two Linear layers of the MLP; holds the input (first half) or the target (second)."""

    def __init__(self, batch: int, width: int, second: bool, seed: int):
        torch = _torch()
        torch.manual_seed(seed)
        self.fc_a = torch.nn.Linear(width, width)
        self.fc_b = torch.nn.Linear(width, width)
        self.data = torch.randn(batch, width)
        self.second = second

    def forward(self, h_rref=None):
        torch = _torch()
        h = self.data if h_rref is None else h_rref.to_here()
        h = self.fc_b(torch.relu(self.fc_a(h)))
        if self.second:
            return torch.nn.functional.mse_loss(h, self.data)
        return torch.relu(h)

    def parameter_rrefs(self):
        from torch.distributed.rpc import RRef

        return [RRef(p) for m in (self.fc_a, self.fc_b) for p in m.parameters()]


def _call(rref, method, *args):
    """Run `method` on the object an RRef owns (on its owner)."""
    return getattr(rref.local_value(), method)(*args)


def _drive(args) -> None:
    import torch.distributed.autograd as dist_autograd
    import torch.distributed.rpc as rpc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.distributed.optim import DistributedOptimizer
    torch = _torch()
    batch, width = SIZES[args.size]
    first = rpc.remote("rank1", Half, args=(batch, width, False, 1))
    second = rpc.remote("rank2", Half, args=(batch, width, True, 2))
    params = (rpc.rpc_sync("rank1", _call, args=(first, "parameter_rrefs"))
              + rpc.rpc_sync("rank2", _call, args=(second, "parameter_rrefs")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = DistributedOptimizer(torch.optim.SGD, params, lr=0.01)

    def step() -> float:
        with dist_autograd.context() as ctx:
            h = rpc.remote("rank1", _call, args=(first, "forward"))
            loss = rpc.rpc_sync("rank2", _call, args=(second, "forward", h))
            dist_autograd.backward(ctx, [loss])
            opt.step(ctx)
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    t0 = time.perf_counter()
    for _ in range(args.steps):
        s = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - s) * 1e3)
    total = (time.perf_counter() - t0) * 1e3
    print(f"torch RPC reference, size {args.size} (batch {batch}, width {width}), transports "
          f"{args.transports}: {args.steps} steps after {args.warmup} warm-up: "
          f"{total / args.steps:.2f} ms/step (total / steps), median step {statistics.median(times):.2f} ms, "
          f"final loss {loss:.5f}", flush=True)


def _process(rank: int, args) -> None:
    import torch.distributed.rpc as rpc

    _torch()
    opts = rpc.TensorPipeRpcBackendOptions(
        init_method=f"tcp://127.0.0.1:{args.port}", rpc_timeout=600,
        _transports=None if args.transports == "default" else [args.transports])
    name = "driver" if rank == 0 else f"rank{rank}"
    rpc.init_rpc(name, rank=rank, world_size=3, rpc_backend_options=opts)
    if rank == 0:
        _drive(args)
    rpc.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=SIZES, default="M")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--transports", choices=("uv", "default"), default="uv")
    ap.add_argument("--port", type=int, default=29517)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("TP_SOCKET_IFNAME", "lo")
    import torch.multiprocessing as mp

    mp.spawn(_process, args=(args,), nprocs=3, join=True)


if __name__ == "__main__":
    main()
