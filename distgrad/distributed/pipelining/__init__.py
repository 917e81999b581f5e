"""distgrad.distributed.pipelining: a model cut into stages on workers, run by micro-batch
schedules (PyTorch's `torch.distributed.pipelining`, driven from the one driver).

    stages = [PipelineStage(block0, 0, 2, "worker:0"), PipelineStage(block1, 1, 2, "worker:1")]
    schedule = Schedule1F1B(stages, n_microbatches=4, loss_fn=F.mse_loss)
    losses = []
    out = schedule.step(x, target=y, losses=losses)   # grads accumulated on the workers
"""
from .pipe import Pipe, SplitPoint, build_stage, pipe_split, pipeline
from .schedules import (Schedule1F1B, ScheduleDualPipeV, ScheduleGPipe,
                        ScheduleInterleaved1F1B, ScheduleInterleavedZeroBubble, ScheduleLoopedBFS,
                        ScheduleZBVZeroBubble, ScheduleZeroBubble)
from .stage import PipelineStage

__all__ = ["Pipe", "pipe_split", "SplitPoint", "pipeline", "build_stage", "PipelineStage", "ScheduleGPipe", "Schedule1F1B", "ScheduleZeroBubble",
           "ScheduleLoopedBFS", "ScheduleInterleaved1F1B", "ScheduleInterleavedZeroBubble",
           "ScheduleZBVZeroBubble", "ScheduleDualPipeV"]
