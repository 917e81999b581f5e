"""The benchmark's MLP as a pipeline: a training step of `make_pipeline_step`.

The model of benchmarks/model.py (Linear layers, ReLU after all but the last, MSE loss,
SGD), its layers grouped into stages by their placement (layers 1-2 on worker 0, 3-4 on
worker 1), trained by a pipeline schedule over micro-batches. The whole step (the
schedule, the loss's mean, SGD) is queued as one run per worker.
"""
from __future__ import annotations

from ... import nn, optim
from ...autograd import grad_mode
from ...creation import tensor as new_tensor
from .. import runtime
from ..coordinator import hold_runs
from .schedules import Schedule1F1B, ScheduleGPipe, ScheduleZeroBubble
from .stage import PipelineStage

SCHEDULES = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B, "zero_bubble": ScheduleZeroBubble,
             "zb": ScheduleZeroBubble}


def mlp_stages(weights, biases, placement) -> list:
    """PipelineStages of Linear layers (weights[i]: (out, in) arrays) with ReLU between,
    consecutive layers with the same placement (a worker index) in one stage."""
    groups: list = []
    for i, k in enumerate(placement):
        if not groups or groups[-1][0] != k:
            groups.append((k, []))
        groups[-1][1].append(i)
    last = len(weights) - 1
    stages = []
    for s, (k, layers) in enumerate(groups):
        mods = []
        for i in layers:
            w, b = weights[i], biases[i]
            lin = nn.Linear(w.shape[1], w.shape[0])
            with grad_mode.no_grad():
                lin.weight.copy_(new_tensor(w))
                lin.bias.copy_(new_tensor(b))
            mods.append(lin)
            if i < last:
                mods.append(nn.ReLU())
        stages.append(PipelineStage(nn.Sequential(*mods), s, len(groups), f"worker:{k}"))
    return stages


def make_pipeline_step(params: dict, schedule: str = "1f1b", n_microbatches: int = 4):
    """A training step of the benchmark's MLP (`params` from benchmarks.model.make_params)
    under `schedule` ("gpipe", "1f1b" or "zero_bubble"): `step()` returns the loss (a
    float). `step.schedule` is the schedule, `step.parameters` the parameters."""
    stages = mlp_stages(params["weights"], params["biases"], params["placement"])
    sched = SCHEDULES[schedule.lower()](stages, n_microbatches, loss_fn=nn.functional.mse_loss)
    x = new_tensor(params["x"], device=stages[0].device)
    y = new_tensor(params["y"], device=stages[-1].device)
    parameters = [q for s in stages for q in s.submod.parameters()]
    opt = optim.SGD(parameters, lr=params["lr"])
    queues = runtime.current().queues

    def step() -> float:
        losses: list = []
        with hold_runs(queues):
            opt.zero_grad()
            sched.step(x, target=y, losses=losses, return_outputs=False)
            opt.step()
            loss = sum(losses[1:], losses[0]) / len(losses)
        return loss.item()

    step.schedule = sched
    step.parameters = parameters
    return step
