"""The PyTorch SPMD peers of the benchmark (SPEC section 5), each as PyTorch's own users run
it: one program per rank, 2 ranks, gloo, one thread each. This module imports torch.

    torch_ddp  DistributedDataParallel; each rank half of the global batch; SGD
    torch_tp   DTensor `parallelize_module`, ColwiseParallel/RowwiseParallel pairs over a
               1-D DeviceMesh of both ranks; the full batch on each rank
    torch_pp   torch.distributed.pipelining Schedule1F1B; the layers split as the model's
               placement (2 | 2), N_MICROBATCHES micro-batches; input on rank 0, target on
               the last rank

Rank 0 is the bench's group process (runner.py); it starts rank 1 (`python -m
benchmarks.torch_spmd rank ...`, by subprocess so no caller's `__main__` is re-imported)
and tells it, on a pipe, to set a system up, to run N steps, or to tear it down. Both
ranks then run the same steps; neither waits on the other except in the collectives
the system itself makes. A chunk ends with one all-reduce of the last step's loss (both
ranks' shares: `sync()`), so its clock stops only when both ranks have finished every
step, optimizer step included, and it yields the step's global loss (a DDP rank sees
only its half's, a pipeline's first stage none) for the bench's check that every system
trained alike.

The process group lives on a FileStore in a private temporary directory (no TCP store
listening on every interface), and gloo's pairs on the loopback interface
(GLOO_SOCKET_IFNAME=lo). Both are torn down by `close()`, which reaps rank 1 by its PID.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .model import N_MICROBATCHES, make_params
from .torch_systems import _exit_with_parent, _linears, limit_threads, thread_info

WORLD = 2
_INIT_TIMEOUT_S = 120.0
_COLLECTIVE_TIMEOUT = datetime.timedelta(seconds=600)  # a step at L takes seconds per rank


def _sequential(weights, biases, relu_last: bool) -> torch.nn.Sequential:
    """Linear, ReLU, Linear, ... (the benchmark's layers), as an nn.Sequential so that a
    plan names the linears "0", "2", "4", ..."""
    mods = []
    layers = list(_linears(weights, biases))
    for i, lin in enumerate(layers):
        mods.append(lin)
        if i < len(layers) - 1 or relu_last:
            mods.append(torch.nn.ReLU())
    return torch.nn.Sequential(*mods)


def _quiet() -> None:
    """Notes torch prints once per process about its own prototypes."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.distributed")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.distributed")


# ---- one rank's part of each system ---------------------------------------------------------------

class _Rank:
    """One rank of a system: `setup(params, rank)`, `step()` (this rank's loss, or None when
    it does not see one), and `loss_share`: its part of the last step's global loss."""

    loss_share = 0.0

    def sync(self) -> float:
        """One all-reduce of the last step's loss shares: returns when both ranks have
        finished every step sent so far; the global loss."""
        t = torch.tensor([self.loss_share], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item())

    def teardown(self) -> None:
        self.__dict__.clear()


class DDPRank(_Rank):
    name = "torch_ddp"

    def setup(self, p, rank: int) -> None:
        from torch.nn.parallel import DistributedDataParallel

        batch = p["x"].shape[0]
        lo, hi = rank * batch // WORLD, (rank + 1) * batch // WORLD
        self.weight = (hi - lo) / batch  # this rank's part of the global mean
        self.model = DistributedDataParallel(_sequential(p["weights"], p["biases"], False))
        self.x = torch.as_tensor(p["x"][lo:hi])
        self.y = torch.as_tensor(p["y"][lo:hi])
        self.opt = torch.optim.SGD(self.model.parameters(), lr=p["lr"])

    def step(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.model(self.x), self.y)
        loss.backward()  # DDP averages the gradients over the ranks, bucket by bucket
        self.opt.step()
        value = loss.item()
        self.loss_share = value * self.weight
        return value


class TPRank(_Rank):
    name = "torch_tp"

    def setup(self, p, rank: int) -> None:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor.parallel import (ColwiseParallel, RowwiseParallel,
                                                       parallelize_module)

        depth = len(p["weights"])
        if depth % 2:
            raise ValueError(f"torch_tp pairs column- and row-parallel layers: depth {depth} is odd")
        mesh = init_device_mesh("cpu", (WORLD,))
        plan = {str(2 * i): ColwiseParallel() if i % 2 == 0 else RowwiseParallel()
                for i in range(depth)}  # the Linear modules of the Sequential
        self.model = parallelize_module(_sequential(p["weights"], p["biases"], False), mesh, plan)
        self.x = torch.as_tensor(p["x"])  # a plain tensor: replicated on the mesh
        self.y = torch.as_tensor(p["y"])
        self.rank = rank
        self.opt = torch.optim.SGD(self.model.parameters(), lr=p["lr"])

    def step(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(self.model(self.x), self.y)  # each rank has the whole loss
        loss.backward()
        self.opt.step()
        value = loss.item()
        self.loss_share = value if self.rank == 0 else 0.0
        return value


class PPRank(_Rank):
    name = "torch_pp"

    def setup(self, p, rank: int) -> None:
        from torch.distributed.pipelining import PipelineStage, Schedule1F1B

        mine = [i for i, k in enumerate(p["placement"]) if k == rank]
        stages = max(p["placement"]) + 1
        if stages != WORLD or not mine:
            raise ValueError(f"torch_pp runs one stage per rank: placement {p['placement']} "
                             f"over {WORLD} ranks")
        self.last = rank == stages - 1
        module = _sequential([p["weights"][i] for i in mine], [p["biases"][i] for i in mine],
                             relu_last=not self.last)
        self.stage = PipelineStage(module, rank, stages, torch.device("cpu"))
        self.schedule = Schedule1F1B(self.stage, n_microbatches=N_MICROBATCHES,
                                     loss_fn=F.mse_loss)
        self.x = torch.as_tensor(p["x"]) if rank == 0 else None
        self.y = torch.as_tensor(p["y"]) if self.last else None
        self.opt = torch.optim.SGD(module.parameters(), lr=p["lr"])

    def step(self):
        self.opt.zero_grad(set_to_none=True)
        if not self.last:
            self.schedule.step(self.x)
            self.opt.step()
            return None  # the first stage never sees the loss
        losses: list = []
        self.schedule.step(target=self.y, losses=losses)
        self.opt.step()
        # Each micro-batch's loss is its mean; equal micro-batches: the batch's mean.
        value = torch.stack(losses).mean().item()
        self.loss_share = value
        return value


RANKS = {cls.name: cls for cls in (DDPRank, TPRank, PPRank)}


# ---- rank 0: the bench's side -------------------------------------------------------------------

class SPMDGroup:
    """Rank 0 (this process) and rank 1 (a child process), one gloo process group."""

    def __init__(self):
        self.proc = None
        self.store_dir = None
        self.pg_up = False
        self._out = self._in = None

    def start(self) -> None:
        self.store_dir = tempfile.mkdtemp(prefix="distgrad-bench-gloo-")
        store = os.path.join(self.store_dir, "store")
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # pairs on 127.0.0.1 only
        cmd_r, cmd_w = os.pipe()
        reply_r, reply_w = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.torch_spmd", "rank", "1", store,
                 str(os.getpid()), str(cmd_r), str(reply_w)],
                pass_fds=(cmd_r, reply_w), env=dict(os.environ))
        finally:
            os.close(cmd_r)
            os.close(reply_w)
        self._out = os.fdopen(cmd_w, "w", buffering=1)
        self._in = os.fdopen(reply_r, "r")
        try:
            _init_rank(0, store, self.proc)
            self.pg_up = True
            self._reply()  # rank 1 joined
        except BaseException:
            self.close()
            raise

    def send(self, **msg) -> None:
        try:
            self._out.write(json.dumps(msg) + "\n")
        except BrokenPipeError:
            raise RuntimeError(f"torch rank 1 (pid {self.proc.pid}) exited "
                               f"(status {self.proc.wait()})") from None

    def _reply(self) -> dict:
        line = self._in.readline()
        if not line:
            raise RuntimeError(f"torch rank 1 (pid {self.proc.pid}) exited "
                               f"(status {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"torch rank 1: {reply['error']}")
        return reply

    def call(self, **msg) -> dict:
        self.send(**msg)
        return self._reply()

    def stop_rank1(self) -> None:
        """Stop rank 1 by its PID; every later command to it fails at once."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def thread_info(self) -> list:
        return [thread_info(), self.call(cmd="info")["threads"]]

    def system(self, name: str) -> "Rank0":
        return Rank0(self, RANKS[name]())

    def close(self) -> None:
        """Destroy the process group on both ranks, reap rank 1 by its PID, remove the store."""
        if self.proc is not None and self.proc.poll() is None and self._out is not None:
            try:
                self.send(cmd="close")  # rank 1 destroys its side and exits
            except OSError:
                pass
        if self.pg_up:
            try:
                dist.destroy_process_group()
            except Exception as e:
                print(f"torch_spmd: destroy_process_group failed: {e}", file=sys.stderr)
            self.pg_up = False
        for f in (self._out, self._in):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        self._out = self._in = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            self.proc = None
        if self.store_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)
            self.store_dir = None


class Rank0:
    """Rank 0's side of one system: what the bench times. `begin(steps)` tells rank 1 to
    run the same steps (before the chunk's clock starts); `sync()` ends the chunk."""

    def __init__(self, group: SPMDGroup, impl: _Rank):
        self.group, self.impl, self.name = group, impl, impl.name
        self.up = False  # rank 1 holds this system

    def setup(self, p) -> None:
        self.group.send(cmd="setup", system=self.name, args=p["args"])
        self.up = True
        with warnings.catch_warnings():
            _quiet()
            try:
                self.impl.setup(p, 0)  # its collectives pair with rank 1's
            except BaseException:
                self.group.stop_rank1()  # it may wait in a collective rank 0 never joins
                raise
        self.group._reply()

    def begin(self, steps: int) -> None:
        self.group.call(cmd="run", system=self.name, steps=steps)

    def step(self):
        return self.impl.step()

    def sync(self) -> float:
        return self.impl.sync()

    def teardown(self) -> None:
        """Idempotent (the runner tears every system down again before it exits)."""
        self.impl.teardown()
        if self.up:
            self.up = False
            self.group.call(cmd="teardown", system=self.name)

    close = teardown


def _init_rank(rank: int, store: str, peer=None) -> None:
    """`init_process_group` in a thread, so a peer that dies while we wait fails fast."""
    box: dict = {}

    def init():
        try:
            dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank,
                                    world_size=WORLD, timeout=_COLLECTIVE_TIMEOUT)
            box["ok"] = True
        except BaseException as e:  # reported in the calling thread
            box["error"] = e

    t = threading.Thread(target=init, name="distgrad-bench-gloo-init", daemon=True)
    t.start()
    deadline = time.monotonic() + _INIT_TIMEOUT_S
    while t.is_alive():
        t.join(0.1)
        if peer is not None and peer.poll() is not None and t.is_alive():
            raise RuntimeError(f"torch rank 1 exited with code {peer.returncode} during "
                               f"init_process_group")
        if time.monotonic() > deadline:
            raise TimeoutError(f"torch gloo: init_process_group did not finish in "
                               f"{_INIT_TIMEOUT_S} s")
    if "error" in box:
        raise box["error"]


def open_group(names) -> tuple:
    """(systems, close, info) for runner.py: the wanted SPMD systems on one process group."""
    group = SPMDGroup()
    group.start()  # on failure rank 1 is already reaped
    try:
        systems = {n: group.system(n) for n in names}
        info = {"ranks": WORLD, "backend": "gloo", "rank_thread_pools": group.thread_info(),
                "rank1_pid": group.proc.pid}
    except BaseException:
        group.close()
        raise
    return systems, group.close, info


# ---- rank 1: a child process ---------------------------------------------------------------------

def _rank_main(rank: int, store: str, parent_pid: int, cmd_fd: int, reply_fd: int) -> None:
    limit_threads()
    _quiet()
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    out = os.fdopen(reply_fd, "w", buffering=1)

    def reply(**msg):
        out.write(json.dumps(msg) + "\n")

    systems: dict = {}
    try:
        _init_rank(rank, store)
        reply(ok=True)
        with os.fdopen(cmd_fd, "r") as cmds:
            for line in cmds:  # EOF: rank 0 is gone
                msg = json.loads(line)
                cmd = msg["cmd"]
                if cmd == "close":
                    break
                if cmd == "info":
                    reply(threads=thread_info())
                elif cmd == "setup":
                    s = RANKS[msg["system"]]()
                    s.setup(make_params(**msg["args"]), rank)
                    systems[msg["system"]] = s
                    reply(ok=True)
                elif cmd == "run":  # acknowledged first: rank 0 starts its clock after
                    reply(ok=True)
                    s = systems[msg["system"]]
                    for _ in range(msg["steps"]):
                        s.step()
                    s.sync()
                elif cmd == "teardown":
                    systems.pop(msg["system"]).teardown()
                    reply(ok=True)
                else:
                    reply(error=f"unknown command {cmd!r}")
        dist.destroy_process_group()
    except BaseException as e:
        # Exiting closes this rank's gloo pairs, so rank 0 fails in its collective at once.
        traceback.print_exc()
        try:
            reply(error=f"{type(e).__name__}: {e}")
        except OSError:
            pass
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's slow teardown of torch


if __name__ == "__main__":
    # python -m benchmarks.torch_spmd rank RANK STORE PARENT_PID CMD_FD REPLY_FD
    if len(sys.argv) == 7 and sys.argv[1] == "rank":
        _rank_main(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
                   int(sys.argv[6]))
    else:
        sys.exit("usage: python -m benchmarks.torch_spmd rank RANK STORE PARENT_PID CMD_FD "
                 "REPLY_FD (started by the torch_ddp/torch_tp/torch_pp systems)")
