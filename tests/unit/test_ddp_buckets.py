"""DistributedDataParallel assigns parameters to buckets as torch does (reverse order,
the first bucket closed once it holds 1 MB, the others once they hold bucket_cap_mb), so
the last layer's gradients start reducing while the layers before it run backward."""
from __future__ import annotations

import pytest
import torch
import torch.distributed

import distgrad as dg
from distgrad.distributed.replicas import buckets


@pytest.mark.parametrize("shapes", [
    [(1024, 1024), (1024,)] * 4,        # the benchmark's M: [b4, w4], then the rest
    [(64, 64), (64,)] * 4,              # all in the first bucket
    [(300, 1000), (10,), (2000, 2000), (5,), (700, 700)],
])
@pytest.mark.parametrize("cap_mb", [25, 1, 4])
def test_buckets_are_torchs(shapes, cap_mb):
    params = [dg.zeros(*s) for s in shapes]
    ids = {id(p): k for k, p in enumerate(params)}
    ours = [[ids[id(p)] for p in bucket] for bucket in buckets(params, cap_mb)]
    twins = list(reversed([torch.zeros(*s) for s in shapes]))
    theirs, _ = torch.distributed._compute_bucket_assignment_by_size(
        twins, [1 << 20, int(cap_mb * (1 << 20))])
    n = len(shapes) - 1
    assert ours == [[n - k for k in bucket] for bucket in theirs]
