"""The systems that do not import torch: numpy (the compute floor), distgrad with its
layers placed on workers, and distgrad with column/row-parallel layers (its data-parallel
and pipeline rows are in distgrad_parallel.py). The processes they run in: groups.py.

A system has `setup(params)`, `step() -> loss`, `sync()` (returns when the work its steps
started is done: a no-op for synchronous systems), `teardown()` and `close()`.
"""
from __future__ import annotations

import gc

import numpy as np

# ---- (5) numpy: the compute floor --------------------------------------------------------------

class NumpyFloor:
    """Forward, backward and SGD update by hand, float32, in this process. Like torch and
    distgrad it skips the input's gradient (the input does not require grad)."""

    name = "numpy"

    def setup(self, p) -> None:
        self.W = [w.copy() for w in p["weights"]]
        self.b = [b.copy() for b in p["biases"]]
        self.x, self.y = p["x"], p["y"]
        self.lr = np.float32(p["lr"])

    def step(self) -> float:
        W, b, n = self.W, self.b, len(self.W)
        acts = [self.x]  # the input of each layer (a ReLU output after the first)
        h = self.x
        for i in range(n):
            h = h @ W[i].T
            h += b[i]
            if i < n - 1:
                np.maximum(h, 0, out=h)
                acts.append(h)
        d = h - self.y
        loss = float(np.dot(d.ravel(), d.ravel())) / d.size
        g = d
        g *= np.float32(2.0 / d.size)
        for i in reversed(range(n)):
            a = acts[i]
            gw = g.T @ a
            gb = g.sum(axis=0)
            if i > 0:
                g = g @ W[i]
                g *= a > 0
            gw *= self.lr
            W[i] -= gw
            gb *= self.lr
            b[i] -= gb
        return loss

    def sync(self) -> None:
        """Each step's work is done when it returns."""

    def teardown(self) -> None:
        self.W = self.b = self.x = self.y = None

    close = teardown


# ---- (1) distgrad, layers placed on workers ---------------------------------------------------

class _OnWorkers:
    """What both distgrad systems share: their steps' tails run on the workers after
    `loss.item()` returns, so the end of a timed chunk waits for them."""

    def sync(self) -> None:
        import distgrad.distributed as dist

        dist.synchronize()

    @staticmethod
    def counters() -> list:
        """Per worker: messages, bytes sent and bytes received by the driver; then the bytes
        moved worker to worker (one number, repeated per worker; 0 if not counted)."""
        import distgrad.distributed as dist

        c = dist.counters()
        moved = [c.get("bytes_moved", 0)] * len(c["messages"])
        return [c["messages"], c["bytes_sent"], c["bytes_received"], moved]


class Distgrad(_OnWorkers):
    """The step written with distgrad's public API, as a user would.

    With `distgrad.nn` and `distgrad.optim`: `nn.Linear(...).to("worker:K")`,
    `F.linear`/`F.relu`/`F.mse_loss` and `optim.SGD`; without them ("raw"): leaf tensors
    created on their worker, `h @ w.t() + b`, and `p.sub_(lr * p.grad)` under `no_grad`.
    """

    name = "distgrad"

    def __init__(self, api: str = "auto"):
        self.api = _distgrad_api(api)

    def setup(self, p) -> None:
        import distgrad as dg

        devs = [f"worker:{k}" for k in p["placement"]]
        self.devs = devs
        self.x = dg.tensor(p["x"], device=devs[0])
        self.y = dg.tensor(p["y"], device=devs[-1])
        if self.api == "nn":
            import distgrad.nn as nn
            import distgrad.optim as optim

            self.layers = [linear_from(w, b).to(dev)
                           for w, b, dev in zip(p["weights"], p["biases"], devs)]
            self.params = [q for lin in self.layers for q in lin.parameters()]
            self.opt = optim.SGD(self.params, lr=p["lr"])
            self.F = nn.functional
        else:
            self.layers = [(dg.tensor(w, device=dev, requires_grad=True),
                            dg.tensor(b, device=dev, requires_grad=True))
                           for w, b, dev in zip(p["weights"], p["biases"], devs)]
            self.params = [q for wb in self.layers for q in wb]
            self.lr = p["lr"]

    def forward(self):
        """The loss, as a distgrad tensor on the last layer's worker."""
        h, devs, last = self.x, self.devs, len(self.layers) - 1
        if self.api == "nn":
            F = self.F
            for i, lin in enumerate(self.layers):
                if i and devs[i] != devs[i - 1]:
                    h = h.to(devs[i])
                h = F.linear(h, lin.weight, lin.bias)
                if i < last:
                    h = F.relu(h)
            return F.mse_loss(h, self.y)
        for i, (w, b) in enumerate(self.layers):
            if i and devs[i] != devs[i - 1]:
                h = h.to(devs[i])
            h = h @ w.t() + b
            if i < last:
                h = h.relu()
        return ((h - self.y) ** 2).mean()

    def step(self) -> float:
        if self.api == "nn":
            self.opt.zero_grad()
            loss = self.forward()
            loss.backward()
            self.opt.step()
            return loss.item()
        import distgrad as dg

        loss = self.forward()
        loss.backward()
        with dg.no_grad():
            for q in self.params:
                q.sub_(self.lr * q.grad)
                q.grad = None
        return loss.item()

    def teardown(self) -> None:
        self.layers = self.params = self.opt = self.x = self.y = None
        gc.collect()

    close = teardown


class Compiled:
    """A row's step under `distgrad.compile` (mixed in before the eager row's class): its
    `whole_step` (the step, returning the loss tensor) recorded on its first calls, then
    each step is one small message per worker (the loss read as a float outside)."""

    def setup(self, p) -> None:
        import distgrad as dg

        super().setup(p)
        self.compiled = dg.compile(self.whole_step)

    def step(self) -> float:
        return self.compiled().item()

    def teardown(self) -> None:
        self.compiled = None
        super().teardown()

    close = teardown


class DistgradCompiled(Compiled, Distgrad):
    """The layer-placed step under `distgrad.compile`."""

    name = "distgrad_compiled"

    def whole_step(self):
        if self.api == "nn":
            self.opt.zero_grad()
            loss = self.forward()
            loss.backward()
            self.opt.step()
            return loss
        import distgrad as dg

        loss = self.forward()
        loss.backward()
        with dg.no_grad():
            for q in self.params:
                q.sub_(self.lr * q.grad)
                q.grad = None
        return loss


def linear_from(w, b):
    """A distgrad `nn.Linear` in the driver holding the weight `w` and bias `b` (numpy)."""
    import distgrad as dg
    import distgrad.nn as nn

    lin = nn.Linear(w.shape[1], w.shape[0])
    with dg.no_grad():
        lin.weight.copy_(dg.from_numpy(w))
        lin.bias.copy_(dg.from_numpy(b))
    return lin


def _distgrad_api(api: str) -> str:
    if api != "auto":
        return api
    try:
        import distgrad.nn as nn
        import distgrad.optim as optim

        return "nn" if hasattr(nn, "Linear") and hasattr(optim, "SGD") else "raw"
    except ImportError:
        return "raw"


# ---- (2) distgrad, sharded layers --------------------------------------------------------------

def sharded_available() -> str | None:
    """None when `distgrad.distributed.nn.ColumnParallelLinear` exists, else why not."""
    try:
        from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear  # noqa: F401
    except ImportError:
        return "not available: no distgrad.distributed.nn.ColumnParallelLinear"
    return None


class DistgradSharded(_OnWorkers):
    """Megatron-style pairs over both workers: column-parallel, ReLU, row-parallel, ReLU, ...

    Both workers compute every layer at once (half the columns or rows each); one
    all-reduce per pair. The input and the target are replicated on both workers once.
    """

    name = "distgrad_sharded"

    def setup(self, p) -> None:
        import distgrad as dg
        import distgrad.distributed as dist
        import distgrad.nn as nn
        import distgrad.optim as optim
        from distgrad.distributed.nn import ColumnParallelLinear, RowParallelLinear

        workers = ["worker:0", "worker:1"]
        self.layers = []
        for i, (w, b) in enumerate(zip(p["weights"], p["biases"])):
            cls = ColumnParallelLinear if i % 2 == 0 else RowParallelLinear
            self.layers.append(cls.from_linear(linear_from(w, b), workers=workers))
        self.x = dist.replicate(dg.tensor(p["x"], device="worker:0"), workers)
        self.y = dist.replicate(dg.tensor(p["y"], device="worker:1"), workers)
        self.opt = optim.SGD([q for m in self.layers for q in m.parameters()], lr=p["lr"])

    def step(self) -> float:
        return self.whole_step().item()

    def whole_step(self):
        import distgrad.nn.functional as F

        self.opt.zero_grad()
        h, last = self.x, len(self.layers) - 1
        for i, m in enumerate(self.layers):
            h = m(h)
            if i < last:
                h = F.relu(h)
        loss = F.mse_loss(h, self.y)
        loss.backward()
        self.opt.step()
        return loss

    def teardown(self) -> None:
        self.layers = self.opt = self.x = self.y = None
        gc.collect()

    close = teardown


class DistgradShardedCompiled(Compiled, DistgradSharded):
    """The sharded step under `distgrad.compile`."""

    name = "distgrad_sharded_compiled"
