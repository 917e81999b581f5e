"""The benchmark's training step, the same numbers in every system.

A 4-layer MLP (Linear, ReLU after all but the last), MSE loss, SGD, float32; layers 1-2
on worker 0 and 3-4 on worker 1. Every system builds it from `make_params`, so they all
compute the same training (their final losses agree).
"""
from __future__ import annotations

import math

import numpy as np

SIZES = {"S": (32, 64), "M": (256, 1024), "L": (1024, 4096)}  # (batch, width)
LR = 0.01
N_MICROBATCHES = 4  # the pipeline rows' micro-batches per step (torch_pp, distgrad_pp)


def make_params(batch: int, width: int, depth: int = 4, workers: int = 2, seed: int = 0) -> dict:
    """Weights as torch.nn.Linear initialises them, input and target; layer l on worker
    l * workers // depth (so 4 layers on 2 workers: 1-2 on worker 0, 3-4 on worker 1)."""
    rng = np.random.default_rng(seed)
    bound = 1.0 / math.sqrt(width)
    weights = [rng.uniform(-bound, bound, (width, width)).astype(np.float32) for _ in range(depth)]
    biases = [rng.uniform(-bound, bound, width).astype(np.float32) for _ in range(depth)]
    placement = [l * workers // depth for l in range(depth)]
    return {"weights": weights, "biases": biases, "placement": placement,
            "split": placement.index(1) if 1 in placement else depth,
            "x": rng.standard_normal((batch, width), dtype=np.float32),
            "y": rng.standard_normal((batch, width), dtype=np.float32), "lr": LR,
            # make_params(**args) rebuilds these numbers (another rank's process does)
            "args": {"batch": batch, "width": width, "depth": depth, "workers": workers,
                     "seed": seed}}


def params_for(size: str) -> dict:
    return make_params(*SIZES[size])
