"""The layer ops' sharding rules (distributed/layer_rules.py) against PyTorch on the
unsharded computation, on both backends: values and gradients match, and no operand is
gathered (no fallback is counted)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import Replicate, Shard


RNG = np.random.default_rng(16)


def _arr(*shape):
    return RNG.standard_normal(shape)


def _ints(high, *shape):
    return RNG.integers(0, high, shape)


def _numpy(t):
    if getattr(t, "_sharding", None) is not None:
        t = t.full_tensor()
    return t.detach().cpu().numpy()


def _fallbacks() -> int:
    return sum(sum(s.get("fallbacks", {}).values()) for s in dist.stats().values())


def _check(fn, arrays, places, placement=None):
    """fn on placed float64 leaves (an int: Shard(dim); "r": replicated; None: a driver
    tensor) against torch on the whole arrays: the value, and every float leaf's gradient
    for a random upstream gradient; no op falls back."""
    leaves = [dg.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    inputs = [x if p is None else dist.replicate(x) if p == "r" else dist.shard(x, p)
              for x, p in zip(leaves, places)]
    before = _fallbacks()
    out = fn(dg, *inputs)
    assert _fallbacks() == before, "an op fell back to a gather"
    if placement is not None:
        assert out.placements == [placement]
    tleaves = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    tout = fn(torch, *tleaves)
    np.testing.assert_allclose(_numpy(out), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = _arr(*tout.shape)
    (out * dg.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    for x, t in zip(inputs, tleaves):
        if t.grad is not None:
            np.testing.assert_allclose(_numpy(x.grad), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def _ln(m, x, w, b):
    return m.nn.functional.layer_norm(x, (x.shape[-1],), w, b)


def _sdpa(m, q, k, v):
    return m.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)


def _heads(m, x):  # (B, T, C) sharded on C -> (B, heads, T, head_dim), and back merged
    B, T, C = x.shape
    h = x.reshape(B, T, -1, 2).transpose(1, 2)
    return h.transpose(1, 2).reshape(B * T, C) * 2


CASES = {
    # vocabulary-parallel embedding: the table's rows split, the indices whole
    "embedding_vocab_parallel": (lambda m, w, i: m.nn.functional.embedding(i, w),
                                 [_arr(11, 4), _ints(11, 3, 5)], [0, None], Replicate()),
    "embedding_vocab_padding": (lambda m, w, i: m.nn.functional.embedding(i, w, padding_idx=7),
                                [_arr(11, 4), _ints(11, 3, 5)], [0, None], Replicate()),
    "embedding_batch_sharded": (lambda m, w, i: m.nn.functional.embedding(i, w),
                                [_arr(11, 4), _ints(11, 4, 5)], ["r", 0], Shard(0)),
    "layer_norm_replicated": (_ln, [_arr(3, 5, 8), _arr(8), _arr(8)], ["r", "r", "r"],
                              Replicate()),
    "layer_norm_batch_sharded": (_ln, [_arr(4, 5, 8), _arr(8), _arr(8)], [0, None, None],
                                 Shard(0)),
    "attention_heads_sharded": (_sdpa, [_arr(2, 4, 6, 3), _arr(2, 4, 6, 3), _arr(2, 4, 6, 3)],
                                [1, 1, 1], Shard(1)),
    "attention_batch_sharded": (_sdpa, [_arr(4, 2, 6, 3), _arr(4, 2, 6, 3), _arr(4, 2, 6, 3)],
                                [0, 0, 0], Shard(0)),
    "heads_split_and_merged": (_heads, [_arr(2, 3, 8)], [2], Shard(1)),
    "conv2d_batch_sharded": (lambda m, x, w, b: m.nn.functional.conv2d(x, w, b, padding=1),
                             [_arr(4, 2, 5, 5), _arr(3, 2, 3, 3), _arr(3)], [0, None, None],
                             Shard(0)),
    "conv2d_channels_split": (lambda m, x, w, b: m.nn.functional.conv2d(x, w, b, stride=2),
                              [_arr(2, 2, 5, 5), _arr(4, 2, 3, 3), _arr(4)], [None, 0, 0],
                              Shard(1)),
    "pools_batch_sharded": (lambda m, x: m.nn.functional.max_pool2d(x, 2)
                            + m.nn.functional.avg_pool2d(x, 2)
                            + m.nn.functional.adaptive_avg_pool2d(x, 2),
                            [_arr(4, 3, 4, 4)], [0], Shard(0)),
    "log_softmax_sharded_classes": (lambda m, x: x.log_softmax(1), [_arr(5, 9)], [1], Shard(1)),
    "softmax_sharded_classes": (lambda m, x: x.softmax(-1), [_arr(5, 9)], [1], Shard(1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_rule_matches_torch(backend, case):
    fn, arrays, places, placement = CASES[case]
    _check(fn, arrays, places, placement)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_vocab_parallel_cross_entropy(backend, reduction):
    """cross_entropy of logits split by class: each worker picks the targets it owns (an
    ignored one counts nowhere), and only per-row partials cross workers."""
    logits, target = _arr(6, 9), _ints(9, 6)
    target[2] = -100
    fn = lambda m, x, t: m.nn.functional.cross_entropy(x, t, reduction=reduction)  # noqa: E731
    _check(fn, [logits, target], [1, None], Replicate())


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_over_shards_second_order_reaches_its_result(backend, name):
    """torch's (Log)SoftmaxBackward0 reads its saved result, so a second-order pass sends
    part of the gradient back into the result: its hooks and retained grad see it."""
    a = _arr(3, 6)
    seen = {}

    def run(m, x):
        y = getattr(x, name)(1)
        y.retain_grad()
        y.register_hook(lambda g: seen.setdefault(m.__name__, []).append(_numpy(g)))
        loss = (y * y * y).sum()
        g, = m.autograd.grad(loss.cpu() if m is dg else loss, [x], create_graph=True)
        g2, = m.autograd.grad((g * g).sum().cpu() if m is dg else (g * g).sum(), [x])
        return _numpy(g2), _numpy(y.grad)

    leaf = dg.tensor(a, requires_grad=True)
    got = run(dg, dist.shard(leaf, 1))
    want = run(torch, torch.tensor(a, requires_grad=True))
    for x, t in zip(got, want):
        np.testing.assert_allclose(x, t, rtol=1e-10, atol=1e-12)
    assert len(seen["distgrad"]) == len(seen["torch"]) == 2
    for x, t in zip(seen["distgrad"], seen["torch"]):
        np.testing.assert_allclose(x, t, rtol=1e-10, atol=1e-12)


def test_softmax_over_shards_written_in_place_refuses_backward(backend):
    """The result is saved: a write to it makes backward raise torch's error, naming the
    whole result and its node."""
    x = dist.shard(dg.tensor(_arr(2, 4), requires_grad=True), 1)
    y = x.softmax(1)
    assert y.grad_fn.name() == "SoftmaxBackward0"
    y.mul_(2)
    with pytest.raises(RuntimeError, match=r"\[torch\.DoubleTensor \[2, 4\]\], which is output 0 "
                                           r"of Softmax, is at version 1; expected "
                                           r"version 0 instead"):
        y.sum().backward()
    z = x.log_softmax(1)
    z.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        z.sum().backward()
