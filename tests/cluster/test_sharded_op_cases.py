"""Every op case of tests/unit/op_cases.py with one operand sharded (or replicated) over two
in-process workers, against torch on the plain tensors: values and first-order gradients.
An op either has a sharding rule or falls back to gather, compute, reshard; neither may
crash or differ from torch (issue 11)."""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit"))
from op_cases import CASES, Arg  # noqa: E402
from test_ops import _inputs, _outputs, make_arrays  # noqa: E402

# Cases whose sharded run raises instead, and why.
EXPECTED_ERRORS: dict = {
    # (a reshape across a column-sharded dim, the fallback's copy, writes an in-place write
    # back into its contiguous base, as through torch's view)
    # as_strided_ gives a tensor strides into one memory; a sharded one has several
    **{(case, p): f"{op} of a sharded tensor is not supported"
       for case, op in (("ms_as_strided_", "as_strided_"), ("copy_as_strided", "as_strided_copy"))
       for p in ("shard_first", "shard_last", "replicate")},
    # resize_ would give each part a new shape; refused rather than leaving the old one
    **{(case, p): "resize_ of a sharded tensor is not supported"
       for case in ("resize_", "resize_transposed", "resize_grown")
       for p in ("shard_first", "shard_last", "replicate")},
    # set_ takes a driver's tensor's memory: the case's new_zeros of a sharded tensor is
    # placed over the workers too (as DTensor's), and a sharded tensor's memory is not set
    **{("set_", p): "set_ of a tensor on device 'sharded' is not supported"
       for p in ("shard_first", "shard_last", "replicate")},
}

PLACEMENTS = {"shard_first": lambda t: dist.shard(t, 0), "shard_last": lambda t: dist.shard(t, -1),
              "replicate": dist.replicate}


def _operand(case, placement):
    """Position of the first tensor argument the placement can split (None: no such)."""
    dim = -1 if placement == "shard_last" else 0
    for k, a in enumerate(case.args):
        if isinstance(a, Arg) and len(a.shape) >= 1 and a.shape[dim] >= 2:
            return k
    return None


def _whole(t):
    t = t.full_tensor() if t.placements else t
    return np.asarray(t.detach().cpu().numpy(force=True), dtype=np.float64)


def _run_case(case, placement):
    arrays = make_arrays(case)
    pos = _operand(case, placement)
    tins = _inputs(torch, case, arrays, np.float32)
    try:
        touts = _outputs(case.torch_fn()(torch, *tins))
    except Exception:
        return  # torch's errors are test_ops' business
    ins = _inputs(dg, case, arrays, np.float32)
    ins[pos] = PLACEMENTS[placement](ins[pos])
    outs = _outputs(case.fn(dg, *ins))
    pairs = [(o, t) for o, t in zip(outs, touts) if isinstance(t, torch.Tensor)]
    for o, t in pairs:
        np.testing.assert_allclose(_whole(o), t.detach().numpy().astype(np.float64),
                                   rtol=1e-4, atol=1e-4, err_msg=f"{case.id}: value")
    diff = [(o, t) for o, t in pairs if t.requires_grad and t.dtype.is_floating_point]
    if not diff or not ins[pos].requires_grad:
        return
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(tuple(t.shape)).astype(np.float32) for _, t in diff]
    sum(((o * dg.tensor(w)).sum() for (o, _), w in zip(diff, weights)), dg.tensor(0.0)).backward()
    sum(((t * torch.tensor(w)).sum() for (_, t), w in zip(diff, weights)),
        torch.tensor(0.0)).backward()
    expected = tins[pos].grad
    if expected is not None:
        # (force: torch's gradient of sgn is a ZeroTensor)
        np.testing.assert_allclose(_whole(ins[pos].grad), expected.numpy(force=True), rtol=1e-3,
                                   atol=1e-3,
                                   err_msg=f"{case.id}: gradient")


@pytest.mark.parametrize("placement", sorted(PLACEMENTS))
def test_every_op_case_with_a_sharded_operand_matches_torch(switch_runtime, placement):
    switch_runtime("local", 2)
    failures = []
    ran = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fallback's warnings
        for case in CASES:
            if _operand(case, placement) is None:
                continue
            ran += 1
            expected = EXPECTED_ERRORS.get((case.id, placement))
            try:
                if expected is not None:
                    with pytest.raises(RuntimeError, match=expected):
                        _run_case(case, placement)
                else:
                    _run_case(case, placement)
            except BaseException as e:  # noqa: BLE001 (collect them all, report at once)
                failures.append(f"{case.id}: {type(e).__name__}: {str(e).strip()[:300]}")
    assert ran > 500
    assert not failures, "\n".join(failures)
