"""The PyTorch systems of the benchmark: distributed autograd over RPC, and single-process
PyTorch. This module imports torch: only the processes that run these systems load it.

The RPC topology mirrors distgrad's: a driver process (rank 0) and two worker processes
(`python -m benchmarks.torch_systems worker ...`, started with subprocess rather than
multiprocessing so that no caller's `__main__` is re-imported), TensorPipe over TCP on
127.0.0.1. Each worker holds one stage of the MLP (an RRef'd module) and its parameters;
the activation goes from worker 0 to worker 1 as an RRef (worker to worker, not through
the driver); the driver receives only the loss, runs `dist_autograd.backward` and steps a
`DistributedOptimizer`. Every step is synchronous: `backward` and the optimizer's step
return when the workers are done.

Every process runs one intra-op thread and one BLAS thread, and glibc's default memory
settings (a PyTorch user sets none).
"""
from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
import time
import warnings

import torch
import torch.distributed.autograd as dist_autograd
import torch.distributed.rpc as rpc
import torch.nn.functional as F

with warnings.catch_warnings():  # torch.distributed.optim's TorchScript notes, at import
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated",
                            category=DeprecationWarning)
    from torch.distributed.optim import DistributedOptimizer

_WORLD = 3  # driver + 2 workers
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # benchmarks/'s parent
_INIT_TIMEOUT_S = 120.0


def limit_threads() -> None:
    """One intra-op thread and one BLAS thread in this process."""
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # threadpoolctl is optional; torch.set_num_threads covers torch
        pass


def thread_info() -> dict:
    """This process's thread pools: torch's intra-op threads and each BLAS/OpenMP library's."""
    info = {"torch": torch.get_num_threads()}
    try:
        from threadpoolctl import threadpool_info

        for d in threadpool_info():
            info[d.get("internal_api")] = d.get("num_threads")
    except Exception:
        pass
    return info


# ---- the model, as the same layers in every system --------------------------------------------

def _linears(weights, biases):
    layers = torch.nn.ModuleList()
    for w, b in zip(weights, biases):
        lin = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.as_tensor(w))
            lin.bias.copy_(torch.as_tensor(b))
        layers.append(lin)
    return layers


def _run(layers, h, relu_last):
    last = len(layers) - 1
    for i, lin in enumerate(layers):
        h = lin(h)
        if i < last or relu_last:
            h = F.relu(h)
    return h


class Stage(torch.nn.Module):
    """One worker's consecutive layers; holds the input (first stage) or target (last)."""

    def __init__(self, weights, biases, relu_last, x=None, y=None):
        super().__init__()
        self.layers = _linears(weights, biases)
        self.relu_last = relu_last
        self.x = None if x is None else torch.as_tensor(x)
        self.y = None if y is None else torch.as_tensor(y)

    def forward(self, h_rref=None):
        h = self.x if h_rref is None else h_rref.to_here()
        return _run(self.layers, h, self.relu_last)

    def loss(self, h_rref):
        return F.mse_loss(self.forward(h_rref), self.y)

    def parameter_rrefs(self):
        return [rpc.RRef(p) for p in self.parameters()]


# ---- single-process PyTorch ---------------------------------------------------------------------

class TorchLocal:
    """The same MLP in this process (torch.set_num_threads(1) while the bench runs)."""

    name = "torch_local"

    def setup(self, p) -> None:
        self.layers = _linears(p["weights"], p["biases"])
        self.x = torch.as_tensor(p["x"])
        self.y = torch.as_tensor(p["y"])
        self.opt = torch.optim.SGD(self.layers.parameters(), lr=p["lr"])

    def step(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(_run(self.layers, self.x, False), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def sync(self) -> None:
        """The step's work is done when it returns."""

    def teardown(self) -> None:
        self.layers = self.x = self.y = self.opt = None

    def close(self) -> None:
        self.teardown()


# ---- torch.distributed.rpc + distributed autograd -----------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _options(port: int, transports: str):
    """TensorPipe options. transports="uv" is TCP on 127.0.0.1 (libuv, idle at 0% CPU);
    "default" lets TensorPipe pick (its shm transport busy-polls: about 30% of a core per
    idle process here, which on a 2-core machine slows every other system)."""
    return rpc.TensorPipeRpcBackendOptions(
        init_method=f"tcp://127.0.0.1:{port}", rpc_timeout=_INIT_TIMEOUT_S,
        _transports=None if transports == "default" else transports.split(","))


def _exit_with_parent(parent_pid: int) -> None:
    """A worker whose driver died (even by SIGKILL) exits instead of waiting forever."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(3)


def _quiet_torch_warnings() -> None:
    """Torch's own deprecation notes about its RPC internals, printed once per process."""
    warnings.filterwarnings("ignore", message="You are using a Backend", category=UserWarning)
    warnings.filterwarnings("ignore", message="`TorchScript` support for functional optimizers",
                            category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated",
                            category=DeprecationWarning)


def _worker_main(rank: int, port: int, parent_pid: int, transports: str) -> None:
    limit_threads()
    _quiet_torch_warnings()
    show = warnings.showwarning

    def showwarning(message, category, *args, **kwargs):
        # DistributedOptimizer's TorchScript note forces itself past the filters.
        if "support for functional optimizers is deprecated" not in str(message):
            show(message, category, *args, **kwargs)

    warnings.showwarning = showwarning
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    rpc.init_rpc(f"worker{rank - 1}", rank=rank, world_size=_WORLD,
                 rpc_backend_options=_options(port, transports))
    rpc.shutdown()  # serves RPCs until the driver shuts down
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's slow teardown of torch (seconds)


class TorchRPC:
    """Driver side of the RPC baseline: `start()` once, `setup(params)` per size."""

    name = "torch_rpc"

    def __init__(self, transports: str = "uv"):
        self.transports = transports
        self.procs: list = []
        self.rpc_up = False
        self.stages = None
        self.opt = None

    # ---- processes ------------------------------------------------------------------------
    def start(self) -> None:
        port = _free_port()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_CHECKOUT, env.get("PYTHONPATH")]))
        if "TP_SOCKET_IFNAME" not in env and os.path.exists("/sys/class/net/lo"):
            env["TP_SOCKET_IFNAME"] = "lo"  # TensorPipe on the loopback interface
        pinned = env.get("TP_SOCKET_IFNAME") != os.environ.get("TP_SOCKET_IFNAME")
        try:
            for rank in (1, 2):
                cmd = [sys.executable, "-m", "benchmarks.torch_systems", "worker", str(rank),
                       str(port), str(os.getpid()), self.transports]
                self.procs.append(subprocess.Popen(cmd, env=env))
            if pinned:
                os.environ["TP_SOCKET_IFNAME"] = env["TP_SOCKET_IFNAME"]
            with warnings.catch_warnings():
                _quiet_torch_warnings()
                self._init_driver(port)
        except BaseException:
            self.close()
            raise
        finally:
            if pinned:
                os.environ.pop("TP_SOCKET_IFNAME", None)

    def _init_driver(self, port: int) -> None:
        """`rpc.init_rpc` in a thread, so a worker that dies at start-up fails fast."""
        box: dict = {}

        def init():
            try:
                rpc.init_rpc("driver", rank=0, world_size=_WORLD,
                             rpc_backend_options=_options(port, self.transports))
                box["ok"] = True
            except BaseException as e:  # reported in the calling thread
                box["error"] = e

        t = threading.Thread(target=init, name="distgrad-bench-rpc-init", daemon=True)
        t.start()
        deadline = time.monotonic() + _INIT_TIMEOUT_S
        while t.is_alive():
            t.join(0.1)
            dead = [(i, p.returncode) for i, p in enumerate(self.procs) if p.poll() is not None]
            if dead and t.is_alive():
                raise RuntimeError(f"torch RPC worker{dead[0][0]} exited with code {dead[0][1]} "
                                   f"during rpc.init_rpc")
            if time.monotonic() > deadline:
                raise TimeoutError(f"torch RPC: rpc.init_rpc did not finish in {_INIT_TIMEOUT_S} s")
        if "error" in box:
            raise box["error"]
        self.rpc_up = True

    def thread_info(self) -> list:
        return [rpc.rpc_sync(f"worker{i}", thread_info) for i in range(_WORLD - 1)]

    # ---- one size -------------------------------------------------------------------------
    def setup(self, p) -> None:
        ws, bs, split = p["weights"], p["biases"], p["split"]
        t = torch.as_tensor
        self.stages = [
            rpc.remote("worker0", Stage, args=([t(w) for w in ws[:split]],
                                               [t(b) for b in bs[:split]], True, t(p["x"]), None)),
            rpc.remote("worker1", Stage, args=([t(w) for w in ws[split:]],
                                               [t(b) for b in bs[split:]], False, None, t(p["y"]))),
        ]
        params = []
        for s in self.stages:
            params.extend(s.rpc_sync().parameter_rrefs())
        with warnings.catch_warnings():
            _quiet_torch_warnings()
            self.opt = DistributedOptimizer(torch.optim.SGD, params, lr=p["lr"])

    def step(self) -> float:
        s0, s1 = self.stages
        with dist_autograd.context() as ctx:
            h = s0.remote().forward()  # stays on worker0; worker1 fetches it
            loss = s1.rpc_sync().loss(h)
            dist_autograd.backward(ctx, [loss])
            self.opt.step(ctx)  # returns when every worker's optimizer has stepped
        return loss.item()

    def sync(self) -> None:
        """The step's work is done when it returns."""

    def teardown(self) -> None:
        self.opt = None
        self.stages = None
        gc.collect()  # user RRefs deleted now, so the owners free the modules

    def close(self) -> None:
        """Shut RPC down and make sure no worker process is left running."""
        self.teardown_quietly()
        clean = False
        if self.rpc_up:
            alive = all(p.poll() is None for p in self.procs)
            try:
                rpc.shutdown(graceful=alive)
                clean = alive
            except Exception as e:  # still reap the processes below
                print(f"torch RPC: rpc.shutdown failed: {e}", file=sys.stderr)
                try:
                    rpc.shutdown(graceful=False)
                except Exception:
                    pass
            self.rpc_up = False
        for p in self.procs:  # after a clean shutdown the workers exit by themselves
            try:
                p.wait(timeout=15 if clean else 0.5)
            except subprocess.TimeoutExpired:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        self.procs = []

    def teardown_quietly(self) -> None:
        try:
            self.teardown()
        except Exception:
            self.opt = self.stages = None


if __name__ == "__main__":
    # python -m benchmarks.torch_systems worker RANK PORT PARENT_PID TRANSPORTS
    if len(sys.argv) == 6 and sys.argv[1] == "worker":
        _worker_main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        sys.exit("usage: python -m benchmarks.torch_systems worker RANK PORT PARENT_PID "
                 "TRANSPORTS (started by the torch_rpc system)")
