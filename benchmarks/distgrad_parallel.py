"""distgrad's data-parallel and pipeline rows (SPEC section 5), written against the names
SPEC fixes: `distgrad.nn.parallel.DistributedDataParallel` and
`distgrad.distributed.pipelining`. Where a name is missing, `*_available()` says why and
the row reads "not available: <why>" in the table and the JSON.

    distgrad_dp      DistributedDataParallel over both workers; its forward takes the
                     global batch, which lives on the workers already (sharded on dim 0,
                     as each torch_ddp rank holds its half)
    distgrad_pp      Schedule1F1B, the layers split as the model's placement (2 | 2),
                     N_MICROBATCHES micro-batches (torch_pp's schedule and split)
    distgrad_pp_zb   the same with ScheduleZeroBubble
    distgrad_pp_compiled, distgrad_pp_zb_compiled
                     the same two steps under distgrad.compile (one message per worker a
                     step once recorded)

As the other distgrad rows, a step ends with `loss.item()`; the chunk's clock stops after
`dist.synchronize()` (systems._OnWorkers).
"""
from __future__ import annotations

import gc

from .model import N_MICROBATCHES
from .systems import Compiled, _OnWorkers, linear_from


def _missing(import_names) -> str | None:
    """None when `import_names()` imports, else "not available: <why>"."""
    try:
        import_names()
    except ImportError as e:
        return f"not available: {e}"
    return None


def _ddp():
    from distgrad.nn.parallel import DistributedDataParallel

    return DistributedDataParallel


def _pipelining():
    from distgrad.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleZeroBubble

    return PipelineStage, Schedule1F1B, ScheduleZeroBubble


def dp_available() -> str | None:
    return _missing(_ddp)


def pp_available() -> str | None:
    return _missing(_pipelining)


def _sequential(weights, biases, relu_last: bool):
    """distgrad.nn.Sequential of the benchmark's layers, in the driver."""
    import distgrad.nn as nn

    mods = []
    for i, (w, b) in enumerate(zip(weights, biases)):
        mods.append(linear_from(w, b))
        if i < len(weights) - 1 or relu_last:
            mods.append(nn.ReLU())
    return nn.Sequential(*mods)


class DistgradDP(_OnWorkers):
    """`DistributedDataParallel(model)`: a copy of the parameters on each worker, each
    running its half of the batch; gradients all-reduced worker to worker."""

    name = "distgrad_dp"

    def setup(self, p) -> None:
        import distgrad as dg
        import distgrad.distributed as dist
        import distgrad.nn.functional as F
        import distgrad.optim as optim

        workers = dist.workers()[:2]
        self.model = _ddp()(_sequential(p["weights"], p["biases"], False), workers=workers)
        self.x = dist.shard(dg.tensor(p["x"]), 0, workers)
        self.y = dist.shard(dg.tensor(p["y"]), 0, workers)
        self.opt = optim.SGD(self.model.parameters(), lr=p["lr"])
        self.F = F

    def step(self) -> float:
        self.opt.zero_grad()
        loss = self.F.mse_loss(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()

    def teardown(self) -> None:
        self.model = self.opt = self.x = self.y = None
        gc.collect()

    close = teardown


class DistgradPP(_OnWorkers):
    """A pipeline schedule over both workers: one PipelineStage per worker, the driver
    holding them all (SPEC section 5), `step(x, target=y, losses=losses)`."""

    name = "distgrad_pp"
    schedule_name = "Schedule1F1B"

    def setup(self, p) -> None:
        import distgrad as dg
        import distgrad.nn.functional as F
        import distgrad.optim as optim

        PipelineStage, *_ = _pipelining()
        schedule_cls = dict(zip(("Schedule1F1B", "ScheduleZeroBubble"), _pipelining()[1:]))[
            self.schedule_name]
        placement = p["placement"]
        num_stages = max(placement) + 1
        self.stages, params = [], []
        for k in range(num_stages):
            mine = [i for i, w in enumerate(placement) if w == k]
            device = f"worker:{k}"
            module = _sequential([p["weights"][i] for i in mine], [p["biases"][i] for i in mine],
                                 relu_last=k < num_stages - 1).to(device)
            self.stages.append(PipelineStage(module, k, num_stages, device))
            params.extend(module.parameters())
        self.schedule = schedule_cls(self.stages, n_microbatches=N_MICROBATCHES,
                                     loss_fn=F.mse_loss)
        self.x = dg.tensor(p["x"], device="worker:0")
        self.y = dg.tensor(p["y"], device=f"worker:{num_stages - 1}")
        self.opt = optim.SGD(params, lr=p["lr"])
        self.dg = dg

    def whole_step(self):
        self.opt.zero_grad()
        losses: list = []
        self.schedule.step(self.x, target=self.y, losses=losses)
        self.opt.step()
        # Each micro-batch's loss is its mean; equal micro-batches: the batch's mean.
        return self.dg.stack(losses).mean()

    def step(self) -> float:
        return self.whole_step().item()

    def timeline(self):
        """The workers' busy and idle time over a timed chunk (the bench's bubble figure)."""
        from distgrad.distributed.timeline import timeline

        return timeline()

    @property
    def theoretical_bubble_fraction(self) -> float:
        return self.schedule.theoretical_bubble_fraction

    def teardown(self) -> None:
        self.stages = self.schedule = self.opt = self.x = self.y = None
        gc.collect()

    close = teardown


class DistgradPPZeroBubble(DistgradPP):
    name = "distgrad_pp_zb"
    schedule_name = "ScheduleZeroBubble"


class DistgradPPCompiled(Compiled, DistgradPP):
    """The pipeline step (the schedule, the loss, SGD) under `distgrad.compile`."""

    name = "distgrad_pp_compiled"


class DistgradPPZeroBubbleCompiled(Compiled, DistgradPPZeroBubble):
    name = "distgrad_pp_zb_compiled"
