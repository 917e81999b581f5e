"""Sharded and replicated tensors behave as the same plain tensor does in PyTorch: detach,
hooks, in-place ops, *_like constructors, optimizers, replicated leaves, tied extremes,
loss weights, replicated operands, and ops no sharding rule covers (issue 11)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

import distgrad as dg
import distgrad.distributed as dist
from distgrad.distributed import Replicate, Shard

RNG = np.random.default_rng(11)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _np(t):
    """The whole value of a distgrad (sharded or not) or torch tensor, as numpy."""
    if isinstance(t, torch.Tensor):
        return t.detach().numpy()
    return (t.full_tensor() if t.placements else t).detach().cpu().numpy()


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


def _leaves(*arrays):
    """Each array as a distgrad leaf and a torch leaf, both requiring grad."""
    return ([dg.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _same_split(t, ref):
    assert t.placements == ref.placements
    assert [s.device_str for s in t.shards] == [s.device_str for s in ref.shards]
    assert [tuple(s.shape) for s in t.shards] == [tuple(s.shape) for s in ref.shards]


# ---- detach and .data ------------------------------------------------------------------------

@pytest.mark.parametrize("cut", ["detach", "data"])
def test_detach_and_data_carry_no_gradient(backend, cut):
    x_np = _arr(6, 3)
    (x,), (tx,) = _leaves(x_np)
    xs = dist.shard(x, 0)
    y, ty = xs * 2, tx * 2
    d, td = (y.detach(), ty.detach()) if cut == "detach" else (y.data, ty.data)
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    _same_split(d, y)
    assert all(not s.requires_grad and s.is_leaf for s in d.shards)
    (y * d).sum().backward()
    (ty * td).sum().backward()
    _close(xs.grad, tx.grad)


def _placed_pair(moves, worker):
    """For a `.data =` test: (library, how the first tensor is placed, how the second is,
    their two arrays), distgrad's placements as `moves` names them, then torch's on one
    device."""
    places = {"worker": lambda t: t.to(worker), "shard0": lambda t: dist.shard(t, 0),
              "shard1": lambda t: dist.shard(t, 1), "replicate": dist.replicate}
    first, then = (places[m] for m in moves)
    arrays = _arr(4, 3), _arr(4, 3)
    return [(dg, first, then, *arrays), (torch, lambda t: t, lambda t: t, *arrays)]


@pytest.mark.parametrize("moves", [("worker", "shard0"), ("shard0", "shard0"),
                                   ("shard0", "shard1"), ("shard1", "worker"),
                                   ("replicate", "worker")])
def test_data_set_to_a_sharded_tensor_keeps_the_grad_apart(backend, moves):
    # `p.data = other` gives p other's memory; p's .grad stays p's (torch's), and other's
    # grad and history stay other's, where either is sharded (a sharded p given a worker
    # tensor's memory is a plain tensor, no longer the whole of its old parts)
    outs = []
    for T, place, other_place, p_np, other_np in _placed_pair(moves, "worker:0"):
        p = place(T.tensor(p_np)).requires_grad_()
        (p * 2).sum().backward()
        other = other_place(T.tensor(other_np)).requires_grad_()
        (other * 5).sum().backward()
        p.data = other
        kept = _np(p.grad).copy()
        (p * 3).sum().backward()
        outs.append((kept, _np(p.grad), _np(other.grad), _np(p), p.is_leaf, p._version))
    for d, t in zip(*outs):
        np.testing.assert_allclose(d, t, rtol=1e-6)


@pytest.mark.parametrize("moves", [("worker", "shard0"), ("shard0", "shard1"),
                                   ("shard1", "replicate"), ("replicate", "shard0")])
def test_a_non_leaf_given_a_sharded_tensors_memory_by_data_keeps_its_history(backend, moves):
    # torch's y.data = other keeps y's grad_fn: what reads y from now on (other's values)
    # sends its gradient into y's history
    outs = []
    for T, place, other_place, x_np, other_np in _placed_pair(moves, "worker:1"):
        x = T.tensor(x_np, requires_grad=True)
        y = place(x * 2)
        y.data = other_place(T.tensor(other_np))
        (gx,) = T.autograd.grad((y * y).sum() + (y.sum(0) ** 3).sum(), x)
        outs.append((_np(y), _np(gx), y.requires_grad, y.is_leaf, y._version))
    for d, t in zip(*outs):
        np.testing.assert_allclose(d, t, rtol=1e-5)


def test_a_replicated_leaf_given_its_copys_memory_is_differentiated_as_a_plain_tensor(backend):
    # p.data = one of its own copies: p is that worker's plain tensor now, no longer the
    # whole its old copies (whose memory it shares) are parts of
    x_np = _arr(2, 3)
    got = []
    for T in (dg, torch):
        p = T.tensor(x_np, requires_grad=True)
        if T is dg:
            p = dist.replicate(p)
        p.data = p.shards[1].detach() if T is dg else p.detach()
        (dp,) = T.autograd.grad((p * p).sum(), p)
        got.append(dp)
    assert got[0].device_str == "worker:1"
    _close(*got)


def test_detach_shares_memory_and_version(backend):
    (x,), (tx,) = _leaves(_arr(6, 3))
    y, ty = dist.shard(x, 0) * 2, tx * 2
    z, tz = y * y, ty * ty  # saves y
    y.detach().add_(1)
    ty.detach().add_(1)
    _close(y, ty)  # the write reached y
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tz.sum().backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


@pytest.mark.parametrize("cut", ["detach", "data"])
def test_a_write_to_a_detached_copied_view_reaches_its_base(cut, backend):
    # reshape(-1) across the sharded dim is a copy standing for torch's view: its detach()
    # (or .data) is still a view of the base's memory, and a write to it reaches the base
    # and every view of it, and counts as torch counts it (differential fuzzer seed 9019872).
    x_np = _arr(2, 3, 2)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 2)), (torch, lambda t: t * 1)):
        base = place(T.tensor(x_np, requires_grad=True) * 1)
        view = base.reshape(-1)
        other = base.reshape(-1).detach()
        cut_view = view.detach() if cut == "detach" else view.data
        cut_view.mul_(view)
        written = [_np(t).copy() for t in (base, view, other, cut_view)]
        cut_view.add_(1)
        written += [_np(t).copy() for t in (base, view, other, cut_view)]
        outs.append((written, base._version, cut_view._version))
    for d, t in zip(outs[0][0], outs[1][0]):
        np.testing.assert_allclose(d, t, rtol=1e-6)
    assert outs[0][1:] == outs[1][1:]


def test_a_copy_standing_for_a_view_counts_and_is_named_as_torchs_view(backend):
    # unfold of a tensor split along dim 0 is a copy standing for torch's view: its version
    # is its base's, its history after a write to the base is torch's regenerated one
    # (AsStridedBackward0), and the version error names it, not its base
    x_np = _arr(4, 6)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t)):
        b = place(T.tensor(x_np, requires_grad=True) * 1)
        u = b.unfold(1, 3, 3)
        before = (u._version, u.grad_fn.name())
        b[1].mul_(2)
        z = u.sin()
        after = (b._version, u._version, u.grad_fn.name())
        b.add_(1)
        with pytest.raises(RuntimeError) as err:
            z.sum().backward()
        outs.append((before, after, u._version, str(err.value)))
    assert outs[0] == outs[1]


def test_a_bias_split_otherwise_than_the_output_is_added_whole(backend):
    # addmm's row split (or column split) takes each operand's part for each output part:
    # a sharded bias split along the other dim, or at other sizes (a slice of a sharded
    # flat buffer), is not that part
    x_np, w_np = _arr(6, 3), _arr(4, 3)
    outs = []
    for T, place in ((dg, dist.shard), (torch, lambda t, d: t)):
        x, w = T.tensor(x_np), T.tensor(w_np)
        bias, flat = place(T.arange(4.0), 0), place(T.arange(8.0), 0)
        outs.append([_np(r) for r in (
            T.addmm(bias, place(x, 0), w.t()), T.addmm(flat[3:7], place(x, 0), w.t()),
            T.addmm(flat[1:5], x, place(w.t().contiguous(), 1)),
            T.nn.functional.linear(x, w, flat[1:5]))])
    for d, t in zip(*outs):
        np.testing.assert_allclose(d, t, rtol=1e-5)


def test_an_elementwise_result_of_a_transposed_sharded_tensor_keeps_its_layout(backend):
    # torch lays an elementwise result (and a clone) out as its operands: of a transpose, a
    # transpose, whose reshape is a copy and whose view(-1) is refused. distgrad's sharded
    # result said it was row-major, so its reshape was a view and a later write reached it
    # (differential fuzzer seeds 9130386, 9162842).
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        t = place(T.tensor(x_np)).t()
        results = [t * 2, t.clone(), t.exp(), t + t]
        flat = results[1].reshape(-1)
        with T.no_grad():
            results[1].mul_(3)
        outs.append(([(r.is_contiguous(), r.stride()) for r in results], _np(flat).copy(),
                     _inplace_error(lambda: results[0].view(-1))))
    assert outs[0][0] == outs[1][0] and not outs[1][0][0][0]
    np.testing.assert_allclose(outs[0][1], outs[1][1])
    assert outs[0][2] == outs[1][2] and outs[1][2] is not None


@pytest.mark.parametrize("leaf", [True, False])
def test_a_replica_of_a_transposed_tensor_is_contiguous_as_it_says(leaf, backend):
    # Its copies kept the transpose's strides while the tensor said it was contiguous: a
    # reshape of it was then a copy on each worker and missed later writes (fuzzer seed
    # 9072217). As a shard's parts, the copies are contiguous.
    x_np = _arr(3, 4)
    outs = []
    for T, spread in ((dg, dist.replicate), (torch, lambda t: t.contiguous())):
        x = T.tensor(x_np, requires_grad=True)
        r = spread(x.detach().t().requires_grad_() if leaf else x.t() * 1)
        flat = r.reshape(-1)
        with T.no_grad():
            r.mul_(2)
        outs.append((r.is_contiguous(), r.stride(), _np(flat).copy()))
    assert outs[0][:2] == outs[1][:2] and outs[1][0]
    np.testing.assert_allclose(outs[0][2], outs[1][2])


# ---- hooks and retain_grad ---------------------------------------------------------------------

def test_hook_on_sharded_leaf_sees_whole_gradient_and_may_replace_it(backend):
    x_np = _arr(6, 3)
    (x,), (tx,) = _leaves(x_np)
    xs = dist.shard(x, 0)
    seen, tseen = [], []
    xs.register_hook(lambda g: seen.append(g) or g * 3)
    tx.register_hook(lambda g: tseen.append(g) or g * 3)
    (xs.exp() * xs).sum().backward()
    (tx.exp() * tx).sum().backward()
    assert len(seen) == 1 and seen[0].placements == [Shard(0)]
    _same_split(seen[0], xs)
    _close(seen[0], tseen[0])
    _close(xs.grad, tx.grad)
    assert xs.grad.placements == [Shard(0)]


@pytest.mark.parametrize("place", [lambda t: dist.shard(t, 0), dist.replicate],
                         ids=["shard", "replicate"])
def test_a_post_accumulate_grad_hook_on_a_placed_leaf_runs_once_its_grad_is_whole(place,
                                                                                   backend):
    # Each part accumulates its own gradient; the whole leaf's hook was never called.
    # torch calls it once per backward, its .grad holding that backward's sum (a part the
    # backward gave nothing to holds zeros).
    (x,), (tx,) = _leaves(_arr(6, 3))
    xs = place(x)
    seen, tseen = [], []
    xs.register_post_accumulate_grad_hook(lambda t: seen.append(_np(t.grad).copy()))
    tx.register_post_accumulate_grad_hook(lambda t: tseen.append(_np(t.grad).copy()))
    for loss, tloss in ((lambda: (xs.exp() * xs).sum(), lambda: (tx.exp() * tx).sum()),
                        (lambda: xs[1:2].sum() * 3, lambda: tx[1:2].sum() * 3)):
        loss().backward()
        tloss().backward()
    assert len(seen) == len(tseen) == 2
    for a, b in zip(seen, tseen):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        dist.shard(dg.tensor(_arr(4)), 0).register_post_accumulate_grad_hook(print)


@pytest.mark.parametrize("dim", [0, 1])
def test_writes_through_views_that_reach_different_shards_each_count_for_the_base(dim,
                                                                                  backend):
    # The base's version was the most writes one of its parts had seen: two writes through
    # views on different shards counted once, and a detached alias agreed.
    x_np = _arr(4, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, dim)), (torch, lambda t: t.clone())):
        x = place(T.tensor(x_np))
        view = x[:, 1:3]
        seen = [x._version]
        x.select(dim, 0).zero_()
        x.select(dim, 3).mul_(2)
        seen += [x._version, view._version]
        alias = x.detach()
        alias[1, 1] = 5.0
        view.t()[0].add_(1)
        seen += [x._version, alias._version, view._version]
        outs.append((seen, _np(x).copy()))
    assert outs[0][0] == outs[1][0]
    np.testing.assert_allclose(outs[0][1], outs[1][1])


@pytest.mark.parametrize("dim", [0, 1])
def test_a_view_of_a_sharded_leaf_made_under_no_grad_refuses_a_write_as_torchs(dim, backend):
    # The whole view requires grad and has no node: it was refused as a leaf ("a leaf
    # Variable ..."), where torch checks it as a view made under no_grad first.
    x_np = _arr(6, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, dim)), (torch, lambda t: t.clone())):
        leaf = place(T.tensor(x_np)).requires_grad_()
        with T.no_grad():
            view = leaf[1:5, 1:3]
        try:
            view.mul_(2)
        except RuntimeError as e:
            outs.append(str(e))
    assert outs[0] == outs[1] and outs[1].startswith("A view was created in no_grad mode")


def test_a_pre_hook_on_a_sharded_tensors_node_runs_after_its_tensor_hooks(backend):
    # Its node had no register_prehook (nor metadata). torch runs a node's pre-hooks after
    # the tensor's hooks and its retained grad: the retained grad does not see what they
    # return, the backward past the node does.
    (x,), (tx,) = _leaves(_arr(6, 3))
    outs = []
    for T, leaf in ((dg, dist.shard(x, 0)), (torch, tx)):
        y = (leaf * 3).exp()
        seen = []
        y.grad_fn.register_prehook(lambda gs: seen.append(_np(gs[0]).copy()) or (gs[0] * 10,))
        y.register_hook(lambda g: g + 1)
        y.retain_grad()
        y.grad_fn.metadata["stage"] = 1
        y.sum().backward()
        outs.append((seen, _np(y.grad), _np(leaf.grad), y.grad_fn.metadata))
    assert len(outs[0][0]) == len(outs[1][0]) == 1 and outs[0][3] == outs[1][3]
    for d, t in zip([outs[0][0][0]] + list(outs[0][1:3]), [outs[1][0][0]] + list(outs[1][1:3])):
        np.testing.assert_allclose(d, t, rtol=1e-5)


def test_hook_and_retain_grad_on_sharded_nonleaf(backend):
    x_np, w_np = _arr(6, 4), _arr(6, 4)
    (x,), (tx,) = _leaves(x_np)
    xs = dist.shard(x, 0)
    y, ty = xs * dg.tensor(w_np), tx * torch.tensor(w_np)
    seen, tseen = [], []
    y.register_hook(lambda g: seen.append(g) or g * 2)
    ty.register_hook(lambda g: tseen.append(g) or g * 2)
    y.retain_grad()
    ty.retain_grad()
    # only column 1 and row 4 get a gradient: the hook sees zeros elsewhere
    for _ in range(2):  # retained grads accumulate, as leaves' do
        (y[:, 1].sum() + (y * y).sum(1)[4]).backward(retain_graph=True)
        (ty[:, 1].sum() + (ty * ty).sum(1)[4]).backward(retain_graph=True)
    assert [g.placements for g in seen] == [[Shard(0)]] * 2
    _close(seen[0], tseen[0])
    _close(y.grad, ty.grad)
    _close(xs.grad, tx.grad)


def test_hooks_on_sharded_tensors_fire_in_torchs_order(backend):
    # Hooks on two sharded tensors whose gradients are ready at once (from one add) fire
    # newest first, as their nodes run in torch's engine, in every backward (differential
    # fuzzer seed 9328531: the order was a set's, which varied from run to run).
    x_np = _arr(4, 3)
    orders = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        xs = place(x)
        fired = []
        ys = [xs * (k + 1) if k % 2 else xs.tanh() * k for k in range(12)]
        for k in (3, 0, 7, 11, 5, 1, 9, 2, 8, 10, 4, 6):
            ys[k].register_hook(lambda g, k=k: fired.append(k))
        xs.register_hook(lambda g: fired.append("x"))
        loss = sum((ys[k] + ys[k + 1]).sum() for k in range(0, 12, 2))
        for _ in range(2):
            loss.backward(retain_graph=True)
        orders.append(fired)
    assert orders[0] == orders[1]


def test_a_shard_is_a_copy_of_a_non_leaf_already_on_its_worker(backend):
    # The part that stays on the tensor's worker was a view of it: a later write to the
    # tensor reached that part and not the others (torch: a shard is a copy).
    x = dg.arange(8, dtype=dg.float64, device="worker:0").requires_grad_()
    t = x * 1
    s = dist.shard(t, 0)
    with dg.no_grad():
        t.mul_(10)
    np.testing.assert_array_equal(_np(s), np.arange(8.0))


def test_a_hook_sees_the_gradient_of_a_view_of_a_fallbacks_result_written_in_place(backend):
    # cat of a plain and a sharded tensor gathers (no rule) and shards its result: its part
    # on the gathering worker was a view of the gathered whole, so a view of the sharded
    # result, after a custom Function wrote it in place, took its history from that whole
    # and bypassed the hook on the result (differential fuzzer seed 9452508).
    x_np = np.arange(8, dtype=np.float64)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        double_, _ = _functions(T)
        x = T.tensor(x_np, requires_grad=True)
        v5 = T.cat([x[:4], place(x[4:] * 1)])
        v7 = v5.reshape(4, 2)
        seen = []
        double_.apply(v5).register_hook(lambda g: seen.append(g))
        (v7 * v7).sum().backward()
        outs.append((_np(seen[0]), _np(x.grad)))
    for got, want in zip(*outs):
        np.testing.assert_allclose(got, want)


def test_a_sharded_view_requires_grad_once_its_base_is_written_with_a_value_that_does(backend):
    # v3, a view of v2 = v0.data; v2.mul_(v0) makes v2 require grad, and so v3 (its view),
    # before its history is read, as torch's (differential fuzzer seed 9447039).
    x_np = _arr(3, 4).astype(np.float64)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)),
                     (torch, lambda t: t.detach().clone().requires_grad_())):
        v0 = place(T.tensor(x_np, requires_grad=True))
        v2 = v0.data
        v3 = v2[:, 1:]
        v2.mul_(v0)
        flag = v3.requires_grad
        (v3 * v3).sum().backward()
        outs.append((flag, _np(v3), _np(v0.grad)))
    assert outs[0][0] is outs[1][0] is True
    for got, want in zip(outs[0][1:], outs[1][1:]):
        np.testing.assert_allclose(got, want)


def test_hook_on_replicated_tensors_sees_sum_over_copies(backend):
    (x, w), (tx, tw) = _leaves(_arr(6, 4), _arr(6, 4))
    xr = dist.replicate(x)
    r, tr = xr.tanh(), tx.tanh()  # a replicated non-leaf
    seen, tseen = [], []
    r.register_hook(lambda g: seen.append(g) or g + 1)
    tr.register_hook(lambda g: tseen.append(g) or g + 1)
    xr.register_hook(lambda g: g * 10)
    tx.register_hook(lambda g: g * 10)
    ws = dist.shard(w, 0)
    (r * ws).sum().backward()  # each worker uses its own copy of r
    (tr * tw).sum().backward()
    assert seen[0].placements == [Replicate()]
    _close(seen[0], tseen[0])
    _close(xr.grad, tx.grad)
    _close(ws.grad, tw.grad)


def test_a_hooked_replicated_tensor_written_in_place_by_a_function(backend):
    # The hook stays on the history the tensor had (torch: on its old node); the copies
    # made of the new value are no part of that history: the hook's join took the copy
    # made for the in-place write as one of the old value's, a cycle, and the backward
    # reached nothing (differential fuzzer seed 9629519).
    x_np = np.array([[-0.82], [-1.6], [-1.47], [-1.03]], np.float32)
    got = []
    for T, place in ((dg, dist.replicate), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        v = T.stack([x, place(x.exp())], 0)
        v.register_hook(lambda g: g * 2)
        _functions(T)[0].apply(v)  # Double_, in place
        got.append(T.autograd.grad((v * v).sum(), [x])[0])
    _close(*got)


def test_a_replicated_result_holds_the_values_its_op_saw_after_its_operand_is_written(backend):
    # A replicated result's other copies are computed where first needed; once an operand
    # was written since, they are copies of the first one (they recomputed from the written
    # operand: new values, or torch's stale-view error for an output of split; differential
    # fuzzer seed 9815924).
    got = []
    for T, rep, sh in ((dg, dist.replicate, lambda t: dist.shard(t, 0)),
                       (torch, lambda t: t.clone(), lambda t: t)):
        x = T.tensor([0.86, -1.47, 0.05, -1.16], requires_grad=True)
        r, s = rep(x * 1), rep(x)
        y = r * 2
        part = s.split(2, 0)[0]
        total = part.sum()
        with T.no_grad():
            r.mul_(10)
            part.mul_(part)
        z = y * sh(T.ones(4))  # y's copy on worker 1 is needed now
        total.zero_()  # (and every copy of total, written)
        z.sum().backward()
        got.append((z, total, x.grad))
    for d, t in zip(*got):
        _close(d, t)


# ---- in-place ops on sharded non-leaves ----------------------------------------------------------

def test_inplace_ops_on_sharded_nonleaf(backend):
    (x, w), (tx, tw) = _leaves(_arr(6, 4), _arr(6, 4))
    xs = dist.shard(x, 0)
    y, ty = xs * 2, tx * 2
    y.retain_grad()
    ty.retain_grad()
    y.mul_(w).add_(1).pow_(2)
    ty.mul_(tw).add_(1).pow_(2)
    y[:, 0].mul_(3)  # through a view of the non-sharded dim
    ty[:, 0].mul_(3)
    assert y.placements == [Shard(0)] and y.grad_fn is not None
    _close(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    _close(xs.grad, tx.grad)
    _close(w.grad, tw.grad)
    _close(y.grad, ty.grad)


def test_views_across_the_sharded_dim_share_memory(backend):
    (x, w), (tx, tw) = _leaves(_arr(7, 3), _arr(3))
    xs = dist.shard(x, 0)
    y, ty = xs * 1, tx * 1
    rows, trows = y[1:6:2], ty[1:6:2]  # rows of both shards: a view of each
    rows.mul_(w)
    trows.mul_(tw)
    row, trow = y[5], ty[5]  # one row: a view of the shard that holds it
    assert row.placements == [Replicate()] and [p.device_str for p in row.shards] == ["worker:1"]
    row.add_(w)
    trow.add_(tw)
    _close(y, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    _close(xs.grad, tx.grad)
    _close(w.grad, tw.grad)


def test_expand_split_unbind_of_sharded_tensors_are_views(backend, recwarn):
    (x, w), (tx, tw) = _leaves(_arr(6, 4), _arr(6, 4))
    xs = dist.shard(x, 0)
    outs = []
    for T, leaf, other in ((dg, xs, w), (torch, tx, tw)):
        y = leaf * 1
        expanded = (y[:, 0].expand(3, -1), y.unsqueeze(0).expand(2, -1, -1))
        pieces = [p * 1 for p in (*y.split(2, 0), *y.split([1, 3], 1), *y.unbind(0),
                                  *y.unbind(1))]
        y.mul_(other)  # the expanded views see the write
        outs.append([*expanded, *pieces])
        sum((o * o).sum() for o in outs[-1]).backward()
    for d, t in zip(*outs):
        _close(d, t)
    _close(xs.grad, tx.grad)
    assert not [r for r in recwarn if "no sharding rule" in str(r.message)]  # no fallback

@pytest.mark.parametrize("view", ["split", "no_grad"])
def test_a_view_torch_will_not_rebuild_raises_after_its_base_is_written(backend, view):
    """A split output, or a view made under no_grad, of a sharded tensor whose base is then
    written: reading its grad_fn or is_leaf raises torch's error, as for a plain tensor
    (found by the program fuzzer, seeds 7312356 and 9122959)."""
    messages = []
    for T, placed in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        x = T.tensor(_arr(4, 6), requires_grad=True)
        y = placed(x) * 1
        if view == "split":
            v = y.split(2, 1)[1]
        else:
            with T.no_grad():
                v = y.view(-1)
        assert v.requires_grad
        with T.no_grad():
            y.clamp_(-0.5, 0.5)
        for read in (lambda: v.is_leaf, lambda: v.grad_fn):
            with pytest.raises(RuntimeError) as caught:
                read()
            messages.append(str(caught.value))
    assert messages[:2] == messages[2:]


def test_a_slice_of_one_row_broadcasts(backend):
    (x,), (tx,) = _leaves(_arr(3, 4))
    xs = dist.shard(x, 0)  # rows 0-1 on worker 0, row 2 on worker 1
    out, tout = xs[2:] - x * 2, tx[2:] - tx * 2
    _close(out, tout)
    out.sum().backward()
    tout.sum().backward()
    _close(xs.grad.full_tensor() + x.grad, tx.grad)

def test_writes_into_a_slice_whose_rows_sit_on_one_worker(backend):
    """Columns 0-1 of a tensor sharded 2|1 on dim 1 are all on worker 0 (shards of 2 and
    0 columns): a value written into them is split at those sizes, not evenly (it raised
    "doesn't match the broadcast shape"; program fuzzer, seed 9300263)."""
    (x, w), (tx, tw) = _leaves(_arr(2, 3), _arr(1, 2))
    ys, ty = dist.shard(x.mean(0, keepdim=True), 1).chunk(2, 1)[0] * 2, \
        tx.mean(0, keepdim=True).chunk(2, 1)[0] * 2
    assert [list(p.shape) for p in ys._sharding.shards] == [[1, 2], [1, 0]]
    for y, other in ((ys, w), (ty, tw)):
        y[:1] = -0.11
        y.mul_(other)
        y.add_(other * other)
    _close(ys, ty)
    (ys * ys).sum().backward()
    (ty * ty).sum().backward()
    _close(x.grad, tx.grad)
    _close(w.grad, tw.grad)


def test_a_copy_standing_in_for_a_view_shows_later_writes_to_its_base(backend):
    """Flattening a tensor sharded on dim 1 has no sharding rule: a copy stands in for
    torch's view. A write to the base after it was made is seen by it, by a view of it, by
    its detach() and in the gradients, as torch's view sees it (it kept the old values;
    program fuzzer, seed 9301264)."""
    (x, w), (tx, tw) = _leaves(_arr(2, 3, 2), _arr(3))
    results = []
    for base, other in ((dist.shard(x * 1, 1), w), (tx * 1, tw)):
        flat = base.view(-1)
        if other is w:  # (a distgrad copy, not a view)
            assert flat._sharding.copied_view_of is not None
        part = flat[2:8]
        early = (flat * 2).sum()  # read before the writes: the old values
        base[1] = -0.78
        base.mul_(other.view(1, 3, 1))
        results.append((flat.detach(), part, flat))
        ((flat * flat).sum() + (part ** 3).sum() + early).backward()
    for d, t in zip(*results):
        _close(d, t)
    _close(x.grad, tx.grad)
    _close(w.grad, tw.grad)


@pytest.mark.parametrize("dim", [0, 1])
def test_contiguity_is_the_whole_tensors_and_contiguous_copies_a_strided_view(backend, dim):
    """A column of a row-sharded matrix is not contiguous though each shard's piece is one
    row: contiguous() copies it, so a write to the copy leaves the base alone (it wrote
    the base; program fuzzer, seed 9405347)."""
    (x,), (tx,) = _leaves(_arr(2, 4))
    xs, tx = dist.shard(x.detach(), dim), tx.detach().clone()
    for take in (lambda t: t, lambda t: t[:, 2:], lambda t: t[:, 1], lambda t: t[:1],
                 lambda t: t.t(), lambda t: t[:, ::2]):
        assert take(xs).is_contiguous() == take(tx).is_contiguous()
    copy, tcopy = xs[:, 2:].contiguous(), tx[:, 2:].contiguous()
    copy.zero_()
    tcopy.zero_()
    _close(xs, tx)
    _close(copy, tcopy)


@pytest.mark.parametrize("case", ["replicated_matmul", "sharded_mul", "function"])
def test_writing_an_operand_distgrad_copied_fails_the_backward_as_in_torch(backend, case):
    """An op on a sharded tensor runs on copies of its other operands (moved to the
    workers, gathered for a Function); torch saves the operand itself, so writing it in
    place before backward raises there: it raises here too, with torch's words (it gave
    the gradient of the old values; program fuzzer, seeds 9515697, 9516254, 9502477)."""
    messages = []
    for T, placed in ((dg, dist), (torch, None)):
        shard = (lambda t, d: placed.shard(t, d)) if placed else (lambda t, d: t.clone())
        replicate = (lambda t: placed.replicate(t)) if placed else (lambda t: t.clone())
        x = T.tensor(_arr(4, 3), requires_grad=True)
        if case == "replicated_matmul":
            other = T.tensor(_arr(3, 2))
            out = replicate(x) @ other
        elif case == "sharded_mul":
            other = x.sin().clone()
            out = shard(other, 0) * other
        else:
            other = shard(x * 1, 0)
            out = _functions(T)[1].apply(other)  # Cube: saves its (gathered) input
        with T.no_grad():
            other.add_(1.0)
        with pytest.raises(RuntimeError) as caught:
            (out * out).sum().backward()
        messages.append(str(caught.value).split(". Hint")[0])
    if case == "function":  # (torch's stand-in for shard() is a clone: the producer differs)
        messages = [re.sub(r", which is output 0 of \w+,", "", m) for m in messages]
    assert messages[0] == messages[1]


def test_a_write_into_a_gathered_view_reaches_its_base(backend):
    """diagonal() has no sharding rule: a copy stands in for the view, and a write into it
    is written back into its base as torch's view passes it on (values and gradients)."""
    (x, w), (tx, tw) = _leaves(_arr(4, 4), _arr(4))
    outs = []
    for y, other in ((dist.shard(x * 1, 0), w), (tx * 1, tw)):
        d = y.diagonal()
        d.mul_(other)
        outs.append((y, d))
        ((y * y).sum() + (d ** 3).sum()).backward()
    for a, b in zip(*outs):
        _close(a, b)
    _close(x.grad, tx.grad)
    _close(w.grad, tw.grad)


def test_inplace_on_a_reshaped_copy_reaches_its_base_or_raises(backend):
    a = _arr(4, 4)
    y = dist.shard(dg.tensor(a), 1) * 1
    flat = y.view(-1)  # across the sharded dim: computed on a gathered copy
    flat.mul_(2)  # written back into its (contiguous) base, as through torch's view
    ty = torch.tensor(a) * 1
    ty.view(-1).mul_(2)
    _close(y, ty)
    _close(flat, ty.view(-1))
    # a shard of a transpose is contiguous, parts and all, so its reshape is a view too; the
    # reshape of a transposed sharded tensor is a copy, as torch's of a transpose
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.contiguous())):
        z = place(T.tensor(a).t()) * 1
        z.reshape(-1).mul_(2)
        w = (place(T.tensor(a)) * 1).t()
        w.reshape(-1).mul_(2)
        _close(z, T.tensor(a).t() * 2)
        _close(w, T.tensor(a).t())


# ---- *_like constructors ------------------------------------------------------------------------

@pytest.mark.parametrize("placement", ["shard0", "shard1", "replicate"])
def test_like_constructors_keep_the_placement(backend, placement):
    x = dg.tensor(_arr(6, 4))
    xs = dist.replicate(x) if placement == "replicate" else dist.shard(x, int(placement[-1]))
    tx = torch.tensor(x.numpy())
    made = {"zeros_like": (dg.zeros_like(xs), torch.zeros_like(tx)),
            "ones_like": (dg.ones_like(xs), torch.ones_like(tx)),
            "full_like": (dg.full_like(xs, 2.5), torch.full_like(tx, 2.5)),
            "empty_like": (dg.empty_like(xs), None),
            "randn_like": (dg.randn_like(xs), None),
            "zeros_like_double": (dg.zeros_like(xs, dtype=dg.float64),
                                  torch.zeros_like(tx, dtype=torch.float64))}
    for name, (t, expected) in made.items():
        _same_split(t, xs)
        assert tuple(t.shape) == (6, 4), name
        if expected is not None:
            assert _np(t).dtype == expected.numpy().dtype
            _close(t, expected)
    leaf = dg.zeros_like(xs, requires_grad=True)
    assert leaf.is_leaf and leaf.requires_grad
    r = dg.randn_like(xs)
    copies = [s.cpu().numpy() for s in r.shards]
    if placement == "replicate":  # every copy holds the same values
        np.testing.assert_array_equal(copies[0], copies[1])
    on_cpu = dg.zeros_like(xs, device="cpu")
    assert on_cpu.placements == [] and on_cpu.device_str == "cpu"


@pytest.mark.parametrize("placement", ["shard0", "shard1", "replicate"])
def test_random_like_constructors_draw_torchs_seeded_values(backend, placement):
    # torch's normal_ draws a whole tensor in blocks of 16, so a sharded randn_like is drawn
    # whole and split; rand_like's draws go element by element, part after part
    x = dg.zeros(10, 5, dtype=dg.float64)
    xs = dist.replicate(x) if placement == "replicate" else dist.shard(x, int(placement[-1]))
    tx = torch.zeros(10, 5, dtype=torch.float64)
    for T, t in ((torch, tx), (dg, xs)):
        T.manual_seed(3)
        drawn = [T.randn_like(t), T.rand_like(t), T.randn_like(t, dtype=T.float32,
                                                               requires_grad=True), T.randn(2)]
        if T is torch:
            expected = drawn
    for got, want in zip(drawn, expected):
        _close(got, want.detach())
    _same_split(drawn[0], xs)
    assert drawn[2].is_leaf and drawn[2].requires_grad and drawn[2].dtype == dg.float32


# ---- gradients reset and optimizers over sharded parameters -------------------------------------

def test_grad_zero_and_zero_grad_keep_placement(backend):
    (w,), (tw,) = _leaves(_arr(6, 3))
    ws = dist.shard(w, 0)
    opt, topt = dg.optim.SGD([ws], lr=0.1), torch.optim.SGD([tw], lr=0.1)
    (ws * ws).sum().backward()
    (tw * tw).sum().backward()
    ws.grad.zero_()
    tw.grad.zero_()
    _close(ws.grad, tw.grad)
    (ws * 3).sum().backward()
    (tw * 3).sum().backward()
    _close(ws.grad, tw.grad)
    opt.zero_grad(set_to_none=False)
    topt.zero_grad(set_to_none=False)
    assert ws.grad is not None and ws.grad.placements == [Shard(0)]
    _close(ws.grad, tw.grad)
    ws.exp().sum().backward()
    tw.exp().sum().backward()
    opt.step()
    topt.step()
    _close(ws, tw)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_over_sharded_and_replicated_parameters(backend, amsgrad):
    (w, b), (tw, tb) = _leaves(_arr(4, 6), _arr(6))
    ws, br = dist.shard(w, 1), dist.replicate(b)
    x_np = _arr(5, 4)
    opt = dg.optim.Adam([ws, br], lr=0.05, weight_decay=0.01, amsgrad=amsgrad)
    topt = torch.optim.Adam([tw, tb], lr=0.05, weight_decay=0.01, amsgrad=amsgrad)
    for _ in range(3):
        opt.zero_grad()
        topt.zero_grad()
        loss = ((dg.tensor(x_np) @ ws + br).tanh() ** 2).mean()
        tloss = ((torch.tensor(x_np) @ tw + tb).tanh() ** 2).mean()
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-5)
    _close(ws, tw, 1e-4)
    for copy in br.shards:
        _close(copy, tb, 1e-4)
    assert ws.placements == [Shard(1)] and br.placements == [Replicate()]


# ---- replicated leaves --------------------------------------------------------------------------

def test_replicate_of_a_leaf_is_a_leaf_and_an_optimizer_updates_every_copy(backend):
    (w,), (tw,) = _leaves(_arr(6, 3))
    wr = dist.replicate(w)
    assert wr.is_leaf and wr.requires_grad and wr.grad_fn is None
    x_np = _arr(6, 3)
    opt = dg.optim.SGD([wr], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([tw], lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        topt.zero_grad()
        xs = dist.shard(dg.tensor(x_np), 0)  # each worker uses its own copy of wr
        ((wr * xs).sin().sum() + (wr * wr).sum()).backward()
        ((tw * torch.tensor(x_np)).sin().sum() + (tw * tw).sum()).backward()
        assert wr.grad.placements == [Replicate()]
        _close(wr.grad, tw.grad)  # the sum over the copies
        opt.step()
        topt.step()
    for copy in wr.shards:
        _close(copy, tw)
    assert w.grad is None  # as shard(): a new leaf


@pytest.mark.parametrize("first", ["replicate", "shard0", "shard1"])
@pytest.mark.parametrize("second", ["replicate", "shard0", "shard1"])
@pytest.mark.parametrize("leaf", [True, False])
def test_placing_a_placed_tensor_again_copies_its_whole_value(backend, first, second, leaf):
    """As placing a plain tensor: a placed leaf placed again is a new leaf (the first keeps
    no gradient), a non-leaf a differentiable copy; under torch both are copies."""
    def place(t, how):
        return dist.replicate(t) if how == "replicate" else dist.shard(t, int(how[-1]))

    (x,), (tx,) = _leaves(_arr(4, 6))
    a = place(x if leaf else x * 2, first)
    b = place(a, second)
    ta = tx.detach().clone().requires_grad_() if leaf else tx * 2
    tb = ta.detach().clone().requires_grad_() if leaf else ta.clone()
    assert b is not a and b.is_leaf == leaf and b.requires_grad
    assert b.placements == ([Replicate()] if second == "replicate" else [Shard(int(second[-1]))])
    weight = _arr(4, 6)
    (b * dg.tensor(weight)).sum().backward()
    (tb * torch.tensor(weight)).sum().backward()
    _close(b, tb)
    if leaf:
        _close(b.grad, tb.grad)
        assert a.grad is None and x.grad is None
    else:
        _close(x.grad, tx.grad)


def test_distribute_tensor_of_a_distributed_tensor_follows_torch(backend):
    from distgrad.distributed.tensor import distribute_tensor, init_device_mesh

    mesh = init_device_mesh((2,))
    xs = dist.shard(dg.tensor(_arr(4, 3)), 0)
    assert distribute_tensor(xs, mesh, [Shard(0)]) is xs
    with pytest.raises(ValueError, match=re.escape(
            "Cannot distribute a DTensor with placements (Shard(dim=0),) to a different "
            "placements [Replicate()]. do you want to call `redistribute` instead?")):
        distribute_tensor(xs, mesh, [Replicate()])
    with pytest.raises(ValueError, match=r"^Cannot distribute a DTensor with device mesh "
                                         r"DeviceMesh\('cpu', \[0, 1\]\) to a different device mesh"):
        distribute_tensor(xs, init_device_mesh((2,), workers=["worker:1", "worker:0"]), [Shard(0)])


# ---- tied extremes across shards ----------------------------------------------------------------

TIES = np.array([[5., 1., 2.], [2., 4., 2.], [5., 3., -1.], [5., 0., 2.]], dtype=np.float32)


@pytest.mark.parametrize("op", ["amax0", "amin_all", "max_all", "min_all", "max_dim0",
                                "min_dim0", "amax_keepdim"])
def test_tied_extremes_across_shards_split_gradient_as_torch(backend, op):
    """Rows 0-1 sit on worker 0, rows 2-3 on worker 1: the 5s of column 0 (one on worker 0,
    two on worker 1) and the 2s of column 2 are tied across shards; torch splits evenly."""
    fn = {"amax0": lambda t: t.amax(0), "amin_all": lambda t: (-t).amin(),
          "max_all": lambda t: t.max(), "min_all": lambda t: (-t).min(),
          "max_dim0": lambda t: t.max(0)[0], "min_dim0": lambda t: (-t).min(0)[0],
          "amax_keepdim": lambda t: t.amax(0, keepdim=True)}[op]
    (x,), (tx,) = _leaves(TIES)
    xs = dist.shard(x, 0)
    out, tout = fn(xs), fn(tx)
    _close(out, tout)
    g = _arr(*tout.shape)
    (out * dg.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(xs.grad, tx.grad)


def test_max_dim_indices_over_sharded_dim(backend):
    x = dist.shard(dg.tensor(TIES), 0)
    values, indices = x.max(0)
    tvalues, tindices = torch.tensor(TIES).max(0)
    _close(values, tvalues)
    np.testing.assert_array_equal(_np(indices), tindices.numpy())


# ---- per-class weights of losses on a batch-sharded input ---------------------------------------

LOSSES = {
    "cross_entropy_weight": lambda m, x, t, w: m.nn.functional.cross_entropy(x, t, weight=w),
    "cross_entropy_weight_sum": lambda m, x, t, w: m.nn.functional.cross_entropy(
        x, t, weight=w, reduction="sum"),
    "nll_loss_weight": lambda m, x, t, w: m.nn.functional.nll_loss(x.log_softmax(1), t, weight=w),
    "nll_loss_weight_none": lambda m, x, t, w: m.nn.functional.nll_loss(
        x.log_softmax(1), t, weight=w, reduction="none"),
    "bce_logits_weight": lambda m, x, t, w: m.nn.functional.binary_cross_entropy_with_logits(
        x, (t.unsqueeze(1) == 1).to(x.dtype).expand(x.shape), weight=w),
    "bce_logits_pos_weight": lambda m, x, t, w: m.nn.functional.binary_cross_entropy_with_logits(
        x, (t.unsqueeze(1) == 2).to(x.dtype).expand(x.shape), pos_weight=w),
}


@pytest.mark.parametrize("weight_placement", ["plain", "replicated"])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_class_weights_act_as_replicated_operands(backend, loss, weight_placement):
    x_np, w_np = _arr(7, 3), np.array([0.5, 2.0, 1.5], dtype=np.float32)
    target = RNG.integers(0, 3, size=7)
    (x,), (tx,) = _leaves(x_np)
    w = dg.tensor(w_np)
    w = dist.replicate(w) if weight_placement == "replicated" else w
    xs = dist.shard(x, 0)
    out = LOSSES[loss](dg, xs, dg.tensor(target), w)
    tout = LOSSES[loss](torch, tx, torch.tensor(target), torch.tensor(w_np))
    _close(out, tout)
    g = _arr(*tout.shape)
    (out * dg.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(xs.grad, tx.grad)


# ---- a replicated operand of the full shape -----------------------------------------------------

@pytest.mark.parametrize("dim", [0, 1])
def test_sharded_with_full_shape_replicated_operand(backend, dim):
    (a, b), (ta, tb) = _leaves(_arr(6, 4), _arr(6, 4))
    xs, br = dist.shard(a, dim), dist.replicate(b)
    out = (xs + br) * br - dg.maximum(br, xs)
    tout = (ta + tb) * tb - torch.maximum(tb, ta)
    assert out.placements == [Shard(dim)]
    _close(out, tout)
    g = _arr(6, 4)
    (out * dg.tensor(g)).sum().backward()
    (tout * torch.tensor(g)).sum().backward()
    _close(xs.grad, ta.grad)
    _close(br.grad, tb.grad)


# ---- differential: small mixed programs on a sharded operand vs the same on torch ----------------

def _views_and_inplace(m, x, w):
    y = x * 2
    v = y[:, 1:3]
    v.mul_(w[:, 1:3])
    y.add_(v.sum(1, keepdim=True))
    return (y.exp() * 0.1 + y.t().sum(0).unsqueeze(1)).sum()


def _hooks_and_detach(m, x, w):
    y = x.tanh()
    y.register_hook(lambda g: g.clamp(-0.05, 0.05))
    d = y.detach()
    y = y * w + d * 0.5
    y.retain_grad()
    out = (y.softmax(1) * w).sum() + y.pow(2).mean()
    return out


def _like_copy_and_fallback(m, x, w):
    b = m.zeros_like(x)
    b.copy_(x * w)
    b.mul_(2).sub_(m.ones_like(x))
    return (b.softmax(0) * w).sum() + b.amax(0).sum() + b.cumsum(0).mean()


def _training(m, x, w):
    """Three Adam steps on x (sharded in distgrad) with a weighted loss; returns the last loss."""
    opt = m.optim.Adam([x], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        logits = x * w + x.pow(2).sum(1, keepdim=True)
        loss = m.nn.functional.cross_entropy(logits, m.tensor([0, 1, 2, 3, 1, 0]),
                                             weight=m.tensor([1.0, 2.0, 0.5, 1.5]))
        loss.backward()
        opt.step()
    return loss


PROGRAMS = {"views_and_inplace": _views_and_inplace, "hooks_and_detach": _hooks_and_detach,
            "like_copy_and_fallback": _like_copy_and_fallback, "training": _training}


@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_mixed_programs_on_a_sharded_operand_match_torch(backend, program, dim):
    x_np, w_np = _arr(6, 4), _arr(6, 4)
    (x, w), (tx, tw) = _leaves(x_np, w_np)
    xs = dist.shard(x, dim)
    out = PROGRAMS[program](dg, xs, w)
    tout = PROGRAMS[program](torch, tx, tw)
    _close(out, tout, 1e-4)
    if program == "training":
        _close(xs, tx, 1e-4)
        assert xs.placements == [Shard(dim)]
        return
    out.backward()
    tout.backward()
    _close(xs.grad, tx.grad, 1e-4)
    _close(w.grad, tw.grad, 1e-4)


# ---- custom Functions on sharded operands --------------------------------------------------

def _functions(T):
    class Double_(T.autograd.Function):  # in place, mark_dirty
        @staticmethod
        def forward(ctx, a):
            a.mul_(2)
            ctx.mark_dirty(a)
            return a

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class Cube(T.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 3 * a * a * g

    return Double_, Cube


def test_a_function_writing_its_sharded_input_it_saves_counts_the_write_once(backend):
    # a Function that writes its input in place (without mark_dirty) and saves it, as
    # reentrant checkpoint does: torch takes the saved version when forward returns, so
    # backward reads it unhindered (here: recomputing writes a leaf, torch's leaf error)
    x_np = _arr(4, 3)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t)):
        class Scale(T.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                a.mul_(2)
                ctx.save_for_backward(a)
                return a * 3

            @staticmethod
            def backward(ctx, g):
                (a,) = ctx.saved_tensors
                return g * a

        x = T.tensor(x_np, requires_grad=True)
        g = place(x * 1)
        out = Scale.apply(g)
        out.sum().backward()
        outs.append((g._version, _np(x.grad).tolist()))
        h = place(T.tensor(x_np, requires_grad=True) * 1)
        out = T.utils.checkpoint.checkpoint(lambda t: t.mul_(2).sin(), h, use_reentrant=True)
        with pytest.raises(RuntimeError) as err:
            out.sum().backward()
        outs.append(str(err.value))
    assert outs[:2] == outs[2:]


def test_custom_functions_on_sharded_operands(backend):
    (x,), (tx,) = _leaves(_arr(6, 4))
    xs = dist.shard(x, 0)
    outs = []
    for T, leaf in ((dg, xs), (torch, tx)):
        double_, cube = _functions(T)
        y = leaf.clone()
        z = double_.apply(y)
        assert z is y  # the operand written in place stands for the output
        out = cube.apply(y).tanh()
        (g,) = T.autograd.grad(out.sum(), leaf, create_graph=True)
        (g * g).sum().backward()
        outs.append((y, out, g))
    for d, t in zip(*outs):
        _close(d, t, 1e-4)
    _close(xs.grad, tx.grad, 1e-4)


def test_a_sharded_operand_a_custom_function_marks_dirty_takes_its_node_and_writes(backend):
    # The operand took the Function's history through moves of its gathered copy: its node
    # was named ShardedBackward, and the Function's two writes to it (its mul_, and torch's
    # bump of a dirty input) counted once.
    x_np = _arr(6, 4)
    seen = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        double_, _ = _functions(T)
        y = place(T.tensor(x_np, requires_grad=True) * 1)
        double_.apply(y)
        seen.append((y.grad_fn.name(), y._version))
    assert seen[0] == seen[1]


def test_hook_on_a_replicated_view_written_in_place(backend):
    (x,), (tx,) = _leaves(_arr(4, 1))
    grads = []
    for T, leaf in ((dg, dist.replicate(x)), (torch, tx.detach().clone().requires_grad_())):
        v = leaf[1:].clone().transpose(0, 1)
        v.register_hook(lambda g: g * 2)
        v[0:] = v * 3
        grads.append(T.autograd.grad((v * v).sum(), leaf)[0])
    _close(*grads)


# ---- requires_grad of sharded and replicated leaves --------------------------------------------

@pytest.mark.parametrize("placement", ["shard", "replicate"])
def test_deepcopy_and_requires_grad_toggle_of_placed_leaves(backend, placement):
    import copy

    w_np, x_np = _arr(6, 3), _arr(6, 3)
    place = dist.replicate if placement == "replicate" else (lambda t: dist.shard(t, 0))
    w = copy.deepcopy(place(dg.tensor(w_np, requires_grad=True)))  # as deepcopy(model) does
    tw = torch.tensor(w_np, requires_grad=True)
    assert w.is_leaf and w.requires_grad
    for flag in (True, False, True):
        w.requires_grad_(flag)
        tw.requires_grad_(flag)
        out = (w * dist.shard(dg.tensor(x_np), 0)).sin().sum()
        tout = (tw * torch.tensor(x_np)).sin().sum()
        assert out.requires_grad == tout.requires_grad
        if flag:
            out.backward()
            tout.backward()
            _close(w.grad, tw.grad)


def test_in_place_op_on_a_hooked_view_with_a_sharded_operand(backend):
    # the view's node has a hook, the written op's node is a sharded one (no edges to move)
    x = _arr(1, 3)
    seen = []
    t = dg.tensor(x, requires_grad=True)
    v = (t * t).t()
    v.register_hook(lambda g: seen.append(g))
    v.mul_(dist.shard(v.detach().clone(), 0))
    v.sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    tv = (tx * tx).t()
    tv.mul_(tv.detach().clone())
    tv.sum().backward()
    _close(v, tv)
    _close(t.grad, tx.grad)


@pytest.mark.parametrize("through", ["itself", "a view"])
def test_hook_on_a_plain_tensor_written_in_place_with_a_sharded_operand(backend, through):
    # The plain tensor's node is then the sharded result's: its hook runs once (it ran a
    # second time, on the whole gradient again, where its shards joined: the seed 7001319
    # of the differential fuzzer), and its retained gradient is the whole one.
    x_np, s_np = _arr(2, 4), _arr(2, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t)):
        x = T.tensor(x_np, requires_grad=True)
        a = x * 1
        target = a if through == "itself" else a.narrow(1, 0, 4)
        target.mul_(place(T.tensor(s_np)))
        seen = []
        a.register_hook(lambda g: seen.append(g) or g * 2)
        a.retain_grad()
        (a * a).sum().backward()
        outs.append((x.grad, a.grad, len(seen)))
    (dx, da, dn), (tx, ta, tn) = outs
    assert dn == tn == 1
    _close(dx, tx)
    _close(da, ta)


def test_a_replicated_view_written_under_no_grad_is_still_a_view_made_with_grad(backend):
    # The view's copy on worker 1 is first needed by the write under no_grad; it is made
    # in the grad mode the view was taken in (made under no_grad, torch's rule would then
    # forbid using the view with grad: seed 7001471 of the differential fuzzer).
    x_np = np.array([-0.31, -0.24, 0.5, 1.5], np.float32)
    outs = []
    for T, place in ((dg, dist.replicate), (torch, lambda t: t.detach().clone())):
        leaf = place(T.tensor(x_np)).requires_grad_()
        w = leaf[1:]
        with T.no_grad():
            w.relu_()
        loss = (w * w).sum() + (w * leaf[:3]).sum()
        outs.append((w, T.autograd.grad(loss, leaf)[0]))
    for d, t in zip(*outs):
        _close(d, t)


def test_split_outputs_along_the_sharded_dim_are_views_torch_will_not_rebuild(backend):
    # split's outputs are one op's several views: after a write to their base, torch
    # refuses to rebuild their history; along the sharded dim they are slices of the shards
    # and must refuse as well (differential fuzzer seed 7009288).
    x_np = np.array([-1.72, 0.75, -0.57, 1.64], np.float32)
    raised = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        v = place(x * 1)
        piece = v.split(2, 0)[1]
        v.mul_(v)
        with pytest.raises(RuntimeError, match="is a view and its base or another view of its "
                                               "base has been modified inplace") as e:
            piece.is_leaf
        raised.append(e.type)
    assert raised[0] is raised[1]


@pytest.mark.parametrize("through", ["itself", "a view"])
def test_a_plain_tensor_written_with_a_replicated_operand_keeps_its_original(backend, through):
    # a.mul_(r), r replicated and requiring grad: the product ran on copies of `a` moved
    # to the workers, which keep a's old values for r's gradient; they are not "modified
    # by an inplace operation" when `a` is (differential fuzzer seed 7010538). A copy
    # saved by an op that is not the write still answers for a's version.
    x0_np, x1_np = np.array([0.85, 1.1], np.float32), _arr(2, 3)
    grads = []
    for T, place in ((dg, dist.replicate), (torch, lambda t: t)):
        x0, x1 = T.tensor(x0_np, requires_grad=True), T.tensor(x1_np, requires_grad=True)
        r = place(x0[1:2] * 1)
        a = x1 * 1
        (a if through == "itself" else a[0:]).mul_(r)
        grads.append(T.autograd.grad((a * a).sum(), [x1, x0]))
        b = x1 * 1
        c = b * r
        b.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            T.autograd.grad(c.sum(), [x0])
    for d, t in zip(*grads):
        _close(d, t)


def test_a_reshape_across_shards_takes_writes_and_keeps_a_retained_grad(backend):
    # reshape(-1) of a tensor sharded on dim 1 is a gathered copy standing for torch's view
    # (no rule makes it a view): a write to it goes back into its base when the base is
    # contiguous, as through torch's view (seed 7010827); a replicated copy made on first
    # use is no write, and a slice of it keeps its retained grad (seed 7010877).
    x_np = _arr(3, 3)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        base = place(x * 2)
        flat = base.reshape(-1)
        tail = flat[7:]
        tail.retain_grad()
        other = flat[3:6].clone()  # (made where the copy was not yet)
        other.sub_(1)
        with T.no_grad():
            flat[:2].mul_(3)
        ((tail * tail).sum() + (base * base).sum() + other.sum()).backward()
        outs.append((base, flat, tail.grad, x.grad))
    for d, t in zip(*outs):
        _close(d, t)


def test_a_no_grad_reshape_across_shards_is_a_no_grad_view(backend):
    # Under no_grad, a view of a tensor that requires grad requires grad, is a leaf and gets
    # no .grad; the reshape across the sharded dim (a gathered copy) must be one too
    # (differential fuzzer seeds 7001799, 7021001, 7023649).
    got = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.ones(2, 3, requires_grad=True)
        a = place(x * 2)
        with T.no_grad():
            v = a.reshape(-1)
        y = (v * 2).sum()
        y.backward()
        got.append((v.requires_grad, v.is_leaf, v.grad_fn, y.requires_grad, v.grad, x.grad))
    assert got[0] == got[1] == (True, True, None, True, None, None)


@pytest.mark.parametrize("view", ["expand", "flatten"])
def test_a_no_grad_view_of_a_sharded_view_stops_requiring_grad_at_detach_of_its_base(
        view, backend):
    # A view made under no_grad of a view of `a` requires grad through `a` until
    # a.detach_(): the expand is a view of the shards, the flatten across the sharded dim a
    # gathered copy standing for one (differential fuzzer seed 9690438).
    got = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor([[-0.37, -0.21, -0.22], [0.5, 1.5, -2.0]], dtype=T.float64,
                     requires_grad=True)
        a = place(x)
        v = a.unsqueeze(0)
        with T.no_grad():
            w = v.expand(2, -1, -1) if view == "expand" else v.flatten()
        if T is dg:
            assert (w._sharding.copied_view_of is None) == (view == "expand")
        before = (w.requires_grad, w.is_leaf)
        a.detach_()
        got.append((before, w.requires_grad, w.is_leaf, (w * 2).requires_grad))
    assert got[0] == got[1] == ((True, True), False, True, False)


def test_a_write_through_data_is_not_a_write_autograd_sees(backend):
    # .data has its own version counter (detach() shares it): a view taken before a write
    # through a sharded tensor's .data is no stale view (differential fuzzer seed 7060144).
    x_np = _arr(4, 3)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t)):
        x = place(T.tensor(x_np)).requires_grad_()
        piece = x.chunk(2, 0)[0]
        x.data.clamp_(-0.5, 0.5)
        (piece * piece).sum().backward()
        outs.append((x.grad, piece, x._version))
    for d, t in zip(outs[0][:2], outs[1][:2]):
        _close(d, t)
    assert outs[0][2] == outs[1][2] == 0


def test_a_write_through_data_reaches_what_an_op_on_a_worker_saved_of_a_driver_tensor(backend):
    # s * x runs where s's shards are, on copies of x's slices; torch saves x itself, so a
    # later write through x.data (no version count) shows in the backward: the copy is
    # made again (differential fuzzer seed 10407264).
    x_np = np.array([1.15, 1.88, -1.54, 0.21], np.float32)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)),
                     (torch, lambda t: t.detach().clone().requires_grad_())):
        x = T.tensor(x_np, requires_grad=True)
        s = place(x)  # (a leaf of its own)
        y = s * x
        x.data[3:].mul_(2)
        grads = T.autograd.grad((y * y).sum(), [x, s], create_graph=True)
        second = T.autograd.grad(sum((g * g).sum() for g in grads), [x])
        outs.append(grads + second)
    for d, t in zip(*outs):
        _close(d, t)


def test_a_sharded_view_takes_the_history_its_base_took_in_place(backend):
    # v = s.view(-1) keeps s's shards' rows whole (a view of each); s.copy_(x) then gives
    # s a history: v requires grad through it, and a gradient through v reaches x
    # (differential fuzzer seed 7063640).
    x_np, s_np = np.array([0.5, -0.69, 1.88], np.float32), np.array([[-1.72, -1.33, 0.51]],
                                                                     np.float32)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t)):
        x = T.tensor(x_np, requires_grad=True)
        s = place(T.tensor(s_np))
        v = s.view(-1)
        s.copy_(x)
        picked = v[2] * v.unsqueeze(1)
        picked.sum().backward()
        outs.append((v.requires_grad, picked, x.grad))
    assert outs[0][0] is outs[1][0] is True
    for d, t in zip(outs[0][1:], outs[1][1:]):
        _close(d, t)


@pytest.mark.parametrize("place", ["shard", "replicate"])
def test_a_hooked_stale_no_grad_view_leaves_other_backwards_alone(place, backend):
    # A hook on a sharded view made under no_grad (to autograd, a leaf) whose base was written
    # since: no backward here reaches it, and torch reads no history of it; distgrad read it
    # in every backward, of any graph, and raised (differential fuzzer seed 9035037).
    x_np = _arr(2, 3)
    outs = []
    for T, spread in ((dg, lambda t: dist.shard(t, 1) if place == "shard" else dist.replicate(t)),
                      (torch, lambda t: t * 1)):
        x = T.tensor(x_np, requires_grad=True)
        base = spread(x * 2)
        with T.no_grad():
            view = base.unbind(0)[0]
        seen = []
        view.register_hook(seen.append)
        with T.no_grad():
            base.sin_()
        y = T.tensor([1.0, 2.0], requires_grad=True)
        plain, = T.autograd.grad((y * y).sum(), [y])
        through, = T.autograd.grad((base * base).sum().cpu(), [x])
        outs.append((_np(plain), _np(through), len(seen)))
    for d, t in zip(outs[0][:2], outs[1][:2]):
        np.testing.assert_allclose(d, t, rtol=1e-5)
    assert outs[0][2] == outs[1][2] == 0


def test_a_hook_on_a_detached_sharded_tensor_runs(backend):
    # v = s.detach().requires_grad_(): a sharded leaf not made by a sharding op; its hook
    # must run at each backward through it (differential fuzzer seed 7086714).
    x_np = _arr(4, 3)
    seen = {}
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t)):
        x = T.tensor(x_np, requires_grad=True)
        v = place(x).neg().detach().requires_grad_()
        calls = seen.setdefault(T.__name__, [])
        v.register_hook(lambda g, calls=calls: calls.append(g))
        (v.neg() ** 2).sum().backward()
        assert v.grad is not None
    assert len(seen["distgrad"]) == len(seen["torch"]) == 1
    _close(seen["distgrad"][0], seen["torch"][0])


def _inplace_error(fn):
    try:
        fn()
    except RuntimeError as e:
        return str(e).split(":")[0]
    return None


def test_a_write_through_a_sharded_view_counts_for_its_base(backend):
    # A custom Function on a sharded operand runs on a gathered copy that stands for it;
    # a write through a sharded view of the operand (its parts are views of the operand's)
    # makes what the Function saved stale, as torch's shared version counter does
    # (differential fuzzer seed 7120117).
    class Saves(dg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a

    class TorchSaves(torch.autograd.Function):
        forward, backward = Saves.forward, Saves.backward

    outs = []
    for T, F, place in ((dg, Saves, lambda t: dist.shard(t, 1)), (torch, TorchSaves, lambda t: t)):
        s = place(T.ones(1, 4, requires_grad=True)) * 1
        y = F.apply(s)
        s.view(-1)[:2] = 0.13  # (the view keeps s's rows whole: a view of each part)
        outs.append((s._version, _inplace_error(lambda: y.sum().backward())))
    assert outs[0] == outs[1] == (1, "one of the variables needed for gradient computation "
                                     "has been modified by an inplace operation")


def test_what_was_saved_of_a_copied_view_is_stale_after_a_write_to_it(backend):
    # reshape(-1) across column shards is a copy standing for torch's view; mul_ saves it
    # and writes it: the saved copy is stale, as the saved view is in torch (fuzzer seed
    # 7002739).
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t)):
        s = place(T.tensor(x_np, requires_grad=True) * 1)
        v = s.reshape(-1)
        v.mul_(v)
        outs.append(_inplace_error(lambda: (s * s).sum().backward()))
    assert outs[0] == outs[1] == ("one of the variables needed for gradient computation has "
                                  "been modified by an inplace operation")


def test_a_no_grad_copied_view_refuses_its_history_after_its_base_is_written(backend):
    # flatten across the sharded dim is a copy standing for torch's view; made under
    # no_grad, its history may not be used once its base was written with grad mode on,
    # even after its value was read (differential fuzzer seed 8014335).
    x_np = _arr(2, 3, 2)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 2)), (torch, lambda t: t * 1)):
        x = T.tensor(x_np, requires_grad=True)
        s = place(x).abs()
        with T.no_grad():
            v = s.flatten()
        s[0:] = -0.75
        value = v.detach().cpu().numpy().copy()
        outs.append((v.requires_grad, value, _inplace_error(lambda: v.is_leaf)))
    assert outs[0][0] is outs[1][0] is True
    np.testing.assert_allclose(outs[0][1], outs[1][1])
    assert outs[0][2] == outs[1][2] == "A view was created in no_grad mode and its base or " \
        "another view of its base has been modified inplace with grad mode enabled. Given " \
        "that this use case is ambiguous and error-prone, it is forbidden. You can clarify " \
        "your code by moving both the view and the inplace either both inside the no_grad " \
        "block (if you don't want the inplace to be tracked) or both outside (if you want " \
        "the inplace to be tracked)."


def test_a_view_of_a_no_grad_view_is_readable_after_a_write_and_refuses_its_history(backend):
    # v7, a view made under no_grad (a copy standing for it), written under no_grad; v8, a
    # view of it made with grad: as torch's, its value reads, it requires grad, and its
    # history is refused (differential fuzzer seed 8063261).
    x_np = np.array([-1.75, -1.625, 1.875], np.float32)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        row = place(x * 2)[1:2]
        with T.no_grad():
            v7 = row.squeeze(0)
        v8 = v7.expand(2)
        with T.no_grad():
            v7.mul_(v7)
        outs.append((v8.detach().cpu().numpy().copy(), v8.requires_grad,
                     _inplace_error(lambda: v8.is_leaf)))
    np.testing.assert_allclose(outs[0][0], outs[1][0])
    assert outs[0][1:] == outs[1][1:] and outs[1][1] is True
    assert "created in no_grad mode" in outs[1][2]


def test_an_op_on_a_no_grad_view_needs_nothing_of_it_at_backward(backend):
    # v3, a sharded view made under no_grad (its parts are views), goes through mm, which no
    # rule covers for these operands (gathered); its base is then written. The view's
    # gradient goes nowhere, so torch's MmBackward0 computes nothing and reads nothing it
    # saved: backward passes, as torch's (differential fuzzer seed 9359890).
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        v0 = x.var(0, keepdim=True)
        v2 = place(v0)
        with T.no_grad():
            v3 = v2.reshape(2, 2)
        v4 = v3 @ v3
        made = (v3.requires_grad, v3.is_leaf)
        with T.no_grad():
            v2.copy_(v0 * 2)
        loss = (v4 * v4).sum()
        loss.backward()
        outs.append((made, x.grad, loss.item()))
    assert outs[0][:2] == outs[1][:2] == ((True, True), None)
    np.testing.assert_allclose(outs[0][2], outs[1][2], rtol=1e-5)


def test_a_no_grad_view_moved_for_a_replicated_op_needs_nothing_at_backward(backend):
    # v1, a plain view made under no_grad, goes to each worker for an op with a replicated
    # operand (v5, detached), which is then written in place: v1's gradient goes nowhere,
    # so torch's MmBackward0 reads nothing it saved, and backward passes (differential
    # fuzzer seed 9452001: the move of v1 had a history, and the mm read the stale v5).
    x_np = _arr(3, 3).astype(np.float64)
    outs = []
    for T, place in ((dg, dist.replicate), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        with T.no_grad():
            v1 = x.permute(0, 1)
        v5 = place(v1[0:1]).detach()
        v7 = v5 @ v1
        v5.t().div_(1.78)
        loss = (v7 * v7).sum()
        loss.backward()
        outs.append((loss.item(), x.grad))
    assert outs[0][1] is None and outs[1][1] is None
    np.testing.assert_allclose(outs[0][0], outs[1][0])


def _head_function(T):
    class Head(T.autograd.Function):  # returns a view of its input
        @staticmethod
        def forward(ctx, a):
            ctx.n = a.shape[0]
            return a[:1]

        @staticmethod
        def backward(ctx, g):
            rest = T.zeros((ctx.n - 1,) + tuple(g.shape[1:]), dtype=g.dtype, device=g.device)
            return T.cat([g, rest], 0)

    return Head


@pytest.mark.parametrize("dim", [0, 1])
def test_a_custom_functions_view_of_a_sharded_operand_is_a_view_of_it(dim, backend):
    # Head returns a[:1]: a view of a column-sharded a keeping its split (fuzzer seeds
    # 7123459, 7130905), or of a row-sharded one split otherwise (9001716, 9005010). Either
    # shares a's memory as torch's output does; with grad, its gradient reaches a, and
    # torch's errors for a view made in a custom Function hold.
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, dim)), (torch, lambda t: t.clone())):
        Head = _head_function(T)
        a = place(T.tensor(x_np))
        head = Head.apply(a)
        head.mul_(2)  # no grad: writes a
        x = T.tensor(x_np, requires_grad=True)
        b = place(x * 1)
        y = Head.apply(b)
        (y * y).sum().backward()
        write = _inplace_error(lambda: y.mul_(2))
        with T.no_grad():
            y.add_(1)  # allowed: writes b
        b_now = _np(b).copy()
        b.add_(1)
        outs.append((_np(a), _np(x.grad), b_now, _np(y.detach()), write, _inplace_error(lambda: y.is_leaf),
                     _inplace_error(lambda: y + 1)))
    for d, t in zip(outs[0][:4], outs[1][:4]):
        np.testing.assert_allclose(d, t, rtol=1e-5, atol=1e-5)
    assert outs[0][4:] == outs[1][4:] and outs[1][5] is not None


@pytest.mark.parametrize("returns", ["head", "input"])
def test_a_custom_functions_view_of_a_transposed_sharded_operand_is_a_view_of_it(returns,
                                                                                 backend):
    # The Function gets a transpose of a row-sharded tensor, gathered in memory order and
    # permuted back: a view of the gathered copy, not the copy itself. Its output, a view
    # of it (a[:1], or a returned as it is), was then taken for a result of its own: a
    # later write to the base did not show in it (differential fuzzer seed 9903865), and
    # torch's error for writing a custom Function's view in place was not raised.
    x_np = _arr(4, 3)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        Head = _head_function(T)

        class Same(T.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a

            @staticmethod
            def backward(ctx, g):
                return g * 3

        F = Head if returns == "head" else Same
        base = place(T.tensor(x_np))
        out = F.apply(base.t())
        base.neg_()
        x = T.tensor(x_np, requires_grad=True)
        y = F.apply(place(x * 2).t())
        (y * y).sum().backward()
        outs.append((_np(out).copy(), _np(x.grad), _inplace_error(lambda: y.mul_(2))))
    for d, t in zip(outs[0][:2], outs[1][:2]):
        np.testing.assert_allclose(d, t, rtol=1e-5, atol=1e-5)
    assert outs[0][2] == outs[1][2] and outs[1][2] is not None


def test_a_custom_function_returning_its_sharded_leaf_input(backend):
    # An identity Function on a sharded leaf (as module backward hooks use one): its output
    # is an alias of the leaf, whose gradient reaches the leaf's .grad. The alias took the
    # leaf itself, whose parts then took the Function's history ("leaf variable has been
    # moved into the graph interior" at backward).
    x_np = _arr(4, 3)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t)):
        class Identity(T.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                return a, b * 2

            @staticmethod
            def backward(ctx, ga, gb):
                return ga * 3, gb * 2

        x = place(T.tensor(x_np, requires_grad=True))
        y, z = Identity.apply(x, x)
        (y * y + z).sum().backward()
        outs.append((_np(y.detach()), _np(x.grad), x.is_leaf, y.is_leaf, y._is_view()))
    for d, t in zip(outs[0][:2], outs[1][:2]):
        np.testing.assert_allclose(d, t, rtol=1e-6)
    assert outs[0][2:] == outs[1][2:]


def test_a_sharded_tensor_detached_in_place_after_an_op_saved_it(backend):
    # clamp saved each shard; detach_() of the sharded tensor detaches those shards in place,
    # so the backward meets torch's error (fuzzer seed 9607840: distgrad detached copies of
    # them, and the saved shards kept their history)
    x_np = np.array([-1.04, -0.94, -1.6, -1.52], np.float32)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        v = place(x * x)
        w = v.clamp(-0.5, 0.8)
        v.detach_()
        outs.append((_inplace_error(lambda: T.autograd.grad((w * w).sum(), [x])),
                     v.requires_grad, v.is_leaf))
    assert outs[0] == outs[1] and outs[1][0].startswith("Trying to use a saved tensor")


def test_a_view_of_a_copied_view_is_made_again_from_the_base(backend):
    # v5 and v6 = v5.view(-1) are copies standing for views (a flatten across the sharded
    # dim); after a write to the base torch regenerates v6 from the base, so v5's retained
    # grad is not on its way (fuzzer seed 9638227: distgrad made v6 again from v5)
    x_np = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        v4 = place(x * 1)
        v5 = v4.view(-1)
        v5.retain_grad()
        v6 = v5.view(-1)
        v4.mul_(2)
        (v6 * v6).sum().backward()
        outs.append((v5.grad, _np(x.grad), _np(v6.detach())))
    assert outs[0][0] is None and outs[1][0] is None
    for d, t in zip(outs[0][1:], outs[1][1:]):
        np.testing.assert_allclose(d, t, rtol=1e-6)


def test_views_of_sharded_tensors_are_views_to_detach_and_writes(backend):
    # detach_() refuses any view, a sharded one too (differential fuzzer seed 9101281); a
    # copy standing for a view of a custom Function's view is written twice without going
    # round in circles (9110082: a RecursionError).
    x_np = np.array([-0.96, -1.28, -1.35, -0.2], np.float32)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        Head = _head_function(T)
        base = place(T.tensor(x_np))
        refused = [_inplace_error(lambda v=v: v.detach_()) for v in
                   (Head.apply(base), base[1:], base.reshape(2, 2))]
        views = [v._is_view() for v in (base, base[1:], base * 2)]
        head = Head.apply(base).squeeze(0)
        head.clamp_(-0.5, 0.5)
        head.sub_(0.72)
        outs.append((refused, views, _np(base).copy(), _np(head).copy()))
    assert outs[0][:2] == outs[1][:2]
    assert outs[1][0][0].startswith("Can't detach views in-place")
    for d, t in zip(outs[0][2:], outs[1][2:]):
        np.testing.assert_allclose(d, t, rtol=1e-6)


def _flatten_function(T):
    class Flat(T.autograd.Function):  # returns a view of its input; its own gradient
        @staticmethod
        def forward(ctx, a):
            ctx.shape = a.shape
            return a.flatten()

        @staticmethod
        def backward(ctx, g):
            return g.reshape(ctx.shape) * 3

    return Flat


def _exp_saving_its_output(T):
    class ExpOut(T.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            y = a.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y

    return ExpOut


def test_a_custom_functions_saved_output_is_stale_after_a_write_to_it(backend):
    # torch saves the output itself: a write to it (here through a view, under no_grad)
    # fails the backward. distgrad's Function ran on a gathered copy and saved that, which
    # the write to the placed output did not reach (differential fuzzer seed 9086311).
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        y = _exp_saving_its_output(T).apply(place(x * 1))
        (y * y).sum().cpu().backward(retain_graph=True)
        first = _np(x.grad).copy()
        with T.no_grad():
            y.select(1, 3).sigmoid_()
        try:
            (y * y).sum().cpu().backward()
            error = None
        except RuntimeError as e:
            error = str(e).split(", which is")[0]
        outs.append((first, error))
    np.testing.assert_allclose(outs[0][0], outs[1][0], rtol=1e-5)
    assert outs[0][1] == outs[1][1] and outs[1][1] is not None


@pytest.mark.parametrize("hook", ["records", "doubles", "detaches"])
def test_hooks_on_a_custom_functions_saved_output_see_second_order_gradients(hook, backend):
    # torch saves the output itself, so in a second-order pass the gradient reaching what the
    # Function saved goes through the output's hooks; distgrad's saved the gathered copy and
    # went past them (differential fuzzer seeds 9021661, 9130523).
    change = {"records": lambda g: None, "doubles": lambda g: g * 2,
              "detaches": lambda g: g.detach() * 2}[hook]
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        seen = []
        x = T.tensor(x_np, requires_grad=True)
        y = _exp_saving_its_output(T).apply(place(x * 1))
        y.register_hook(lambda g: (seen.append(_np(g).copy()), change(g))[1])
        g, = T.autograd.grad((y * y).sum().cpu(), [x], create_graph=True)
        g2, = T.autograd.grad((g * g).sum().cpu(), [x])
        outs.append([_np(g), _np(g2)] + seen)
    assert len(outs[0]) == len(outs[1]) == 4
    for d, t in zip(outs[0], outs[1]):
        np.testing.assert_allclose(d, t, rtol=1e-4)


def test_what_an_op_saved_of_a_copied_view_is_stale_after_a_write_to_its_base(backend):
    # view(-1) across column shards is a copy standing for torch's view, which shares its
    # base's version counter: sin saved it, and a write to the base fails the backward, as
    # in torch (differential fuzzer seed 9144763).
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        base = place(x * 1)
        y = base.view(-1).sin()
        base.tanh_()
        outs.append(_inplace_error(lambda: (y * y).sum().cpu().backward()))
    assert outs[0] == outs[1] == ("one of the variables needed for gradient computation has "
                                  "been modified by an inplace operation")


def test_a_replicated_custom_function_output_written_in_place(backend):
    # The output placed as a replicated operand holds the Function's own output as its first
    # copy: its writes were counted twice against what was saved, and backward refused a
    # tensor torch finds current (differential fuzzer seed 9153371).
    x_np = _arr(4)
    outs = []
    for T, spread in ((dg, dist.replicate), (torch, lambda t: t.clone())):
        class MulAdd(T.autograd.Function):
            @staticmethod
            def forward(ctx, a, b):
                ctx.save_for_backward(a, b)
                return a * b + a

            @staticmethod
            def backward(ctx, g):
                a, b = ctx.saved_tensors
                return g * (b + 1), g * a

        x = T.tensor(x_np, requires_grad=True)
        y = MulAdd.apply(spread(x * 1), x)
        y.tanh_()
        (y * y).sum().cpu().backward()
        outs.append(_np(x.grad))
    # (atol: one element is a near-cancelling sum, and float32 tanh may round its last bit
    # differently on a worker, where numpy's loop sees another alignment)
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)


def test_a_write_through_a_view_of_a_detached_sharded_tensor_gives_it_history(backend):
    # The detached tensor's parts take history through the view (CopySlices); the tensor
    # itself did not, and the next op refused to change its parts' requires_grad (fuzzer
    # seed 9088065).
    x_np = _arr(3, 3)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        d = place(x).detach()
        d.mT.copy_(x * 2)
        loss = (d * d).sum().cpu()
        loss.backward()
        outs.append((d.requires_grad, d.is_leaf, _np(d), _np(x.grad)))
    assert outs[0][:2] == outs[1][:2] == (True, False)
    for a, b in zip(outs[0][2:], outs[1][2:]):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_a_custom_functions_view_no_rule_makes_is_a_copy_standing_for_it(backend):
    # flatten across the column shards: a copy standing for the view (written back to the
    # operand); it keeps the Function's history, and after a write to the operand its value
    # is read anew while its history is refused, each time, as torch's.
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        Flat = _flatten_function(T)
        x = T.tensor(x_np, requires_grad=True)
        b = place(x * 1)
        y = Flat.apply(b)
        node = y.grad_fn.name()
        (y * y).sum().backward()
        with T.no_grad():
            y.mul_(2)  # writes b
        b_now = _np(b).copy()
        b.add_(1)
        outs.append((_np(x.grad), b_now, _np(y.detach()), node, _inplace_error(lambda: y + 1),
                     _inplace_error(lambda: y.grad_fn)))
    for d, t in zip(outs[0][:3], outs[1][:3]):
        np.testing.assert_allclose(d, t, rtol=1e-5, atol=1e-5)
    assert outs[0][3:] == outs[1][3:] and outs[1][4] is not None


@pytest.mark.parametrize("requires_grad", [False, True])
def test_a_custom_function_reads_a_copied_view_written_since_it_was_made(requires_grad,
                                                                          backend):
    # flatten across the column shards is a copy standing for the view; a write to it is
    # written back into its base, and the copy is made again when next read. A custom
    # Function on it read the copy from before the write (the ops' dispatch brings its
    # operands up to date; the Function's gathering did not): the old values, silently,
    # and the old history (differential fuzzer seed 9820472).
    x_np = _arr(2, 3)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        _, Cube = _functions(T)
        x = T.tensor(x_np, requires_grad=requires_grad)
        v = place(x * 1).flatten()
        with T.no_grad():
            v.mul_(3)
        y = Cube.apply(v)
        got = [_np(y.detach())]
        if requires_grad:
            (y * y).sum().backward()
            got.append(_np(x.grad))
        outs.append(got)
    assert len(outs[0]) == len(outs[1])
    for d, t in zip(*outs):
        np.testing.assert_allclose(d, t, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_a_softmax_over_the_sharded_dim_keeps_its_result_as_torch(name, backend):
    # Composed of other ops over the sharded dim, it ends in torch's node, which keeps the
    # result: a write to it is refused at backward (differential fuzzer seeds 8060762,
    # 8107001, 8108179).
    x_np = _arr(2, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        y = getattr(place(x * 1), name)(-1)
        node = y.grad_fn.name()
        z = getattr(place(x * 1), name)(-1)
        (z * z).sum().backward()
        y.fill_(0.5)
        outs.append((node, x.grad.clone(), _inplace_error(lambda: (y * y).sum().backward())))
    assert outs[0][0] == outs[1][0]
    _close(outs[0][1], outs[1][1])
    assert outs[0][2] == outs[1][2] and outs[1][2] is not None


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_a_softmax_over_the_sharded_dim_does_not_keep_its_input(name, backend):
    # torch's softmax keeps only its result: its input may be written afterwards (distgrad's
    # composed one kept the input and refused the backward: fuzzer seed 9040310).
    x_np = _arr(2, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        h = place(x * 1)
        y = getattr(h, name)(-1)
        h.mul_(3)
        (y * y).sum().cpu().backward()
        outs.append((_np(y), _np(x.grad)))
    for d, t in zip(outs[0], outs[1]):
        np.testing.assert_allclose(d, t, rtol=1e-5, atol=1e-6)


def test_a_sharded_tensor_detached_in_place_takes_ops_as_a_leaf(backend):
    # detach_ left the parts' histories, and the next op tried to reset their requires_grad
    # (differential fuzzer seeds 8121759, 8122780, 8133510, 8134329).
    x_np = _arr(2, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        s = place(x * 2)
        s.detach_()
        y = s.clone() * 3
        outs.append((s.requires_grad, s.is_leaf, y.requires_grad, y, x.grad))
    assert outs[0][:3] == outs[1][:3] == (False, True, False)
    _close(outs[0][3], outs[1][3])


def test_what_an_in_place_op_on_a_copied_view_saved_of_its_result_is_stale_after_a_write_to_its_base(backend):
    # view(-1) across column shards is a copy standing for torch's view: exp_ on it saves its
    # result, which is torch's view itself, so a later write to the base (here through a
    # permuted view of it) fails the backward as in torch (differential fuzzer seed 9190052).
    x_np = _arr(2, 3, 1)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        base = place(T.tensor(x_np, requires_grad=True) * 1)
        base.view(-1).exp_()
        base.permute(1, 2, 0).add_(0.97)
        outs.append((base._version, _inplace_error(lambda: (base * base).sum().cpu().backward())))
    assert outs[0] == outs[1] == (2, "one of the variables needed for gradient computation has "
                                     "been modified by an inplace operation")


@pytest.mark.parametrize("dim", [0, 1])
def test_outputs_of_unbind_and_split_of_a_sharded_tensor_are_numbered_as_torchs(backend, dim):
    # Each output of a multi-output view op is output k of torch's node, whatever the
    # parts ran (a split along the sharded dim slices the shards)
    x_np = _arr(4, 3)
    seen = []
    for T, place in ((dg, lambda t: dist.shard(t, dim)), (torch, lambda t: t.clone())):
        flat = place(T.tensor(x_np, requires_grad=True) * 1).reshape(-1)
        seen.append([(o.grad_fn.name(), o.output_nr) for o in flat.unbind(0)[:3] + flat.split(5)])
    assert seen[0] == seen[1]


@pytest.mark.parametrize("pick", [lambda t: t.split(2)[1], lambda t: t.split([1, 5])[1],
                                  lambda t: t.unbind(0)[4]], ids=["split", "sizes", "unbind"])
def test_a_write_to_an_output_of_a_split_along_the_sharded_dim_names_torchs_node(pick, backend):
    # Along the sharded dim the outputs are slices of the shards: the refusal named the
    # slice ("Output 0 of Slice") for every output, not torch's output k of the split.
    x_np = _arr(6, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        out = pick(place(T.tensor(x_np, requires_grad=True) * 1))
        try:
            out.mul_(2)
        except RuntimeError as e:
            outs.append(str(e))
    assert outs[0] == outs[1] and outs[1].startswith("Output ")


def test_a_sharded_tensor_written_in_part_or_by_a_fallback_has_torchs_node(backend):
    # A write to one shard through a view (a row, an element) gave the whole tensor a node
    # named ShardedBackward, as did an op no rule covers (its parts are moves of the
    # gathered result); torch's are CopySlices, IndexPutBackward0, CumsumBackward0, and the
    # views of it are made again as AsStridedBackward0.
    x_np = _arr(6, 4)
    names = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.clone())):
        x = place(T.tensor(x_np, requires_grad=True) * 1)
        rows = x[2:5]
        seen = [x.cummax(0)[0].grad_fn.name()]
        x[4, 1].mul_(2)
        seen += [x.grad_fn.name(), rows.grad_fn.name()]
        x[T.tensor([1, 5])] = 3.0
        seen.append(x.grad_fn.name())
        x[0:2] = 1.0
        seen.append(x.grad_fn.name())
        x.cumsum_(0)
        seen.append(x.grad_fn.name())
        names.append(seen)
    assert names[0] == names[1]


def test_an_unbind_output_of_a_copied_view_refuses_its_history_after_a_write(backend):
    # reshape(-1) across column shards is a copy standing for torch's view; an output of
    # its unbind is one of several views, whose history torch will not rebuild after the
    # base is written, even under no_grad (differential fuzzer seed 9223729).
    x_np = _arr(4, 3)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        flat = place(T.tensor(x_np, requires_grad=True) * 1).reshape(-1)
        row = flat.unbind(0)[1]
        with T.no_grad():
            flat.sub_(flat)
        try:
            outs.append(row.is_leaf)
        except RuntimeError as e:
            outs.append(str(e))
    assert outs[0] == outs[1]
    assert outs[1].startswith("Output 1 of Unbind is a view and its base")


@pytest.mark.parametrize("pick", ["unbind", "split", "chunk"])
def test_a_write_to_an_output_of_a_copied_views_unbind_or_split_reaches_its_base(
        pick, backend):
    # reshape(-1) across column shards is a copy standing for torch's view; an output of
    # its unbind (split, chunk) is a view of the base's memory too, which a write under
    # no_grad reaches (distgrad refused it: differential fuzzer seed 9476303).
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        x = T.tensor(x_np, requires_grad=True)
        base = place(x * 1)
        flat = base.reshape(-1)
        part = {"unbind": lambda: flat.unbind(0)[4], "split": lambda: flat.split([5, 7])[1],
                "chunk": lambda: flat.chunk(3)[2]}[pick]()
        with T.no_grad():
            part.neg_()
        (base * base).sum().backward()
        outs.append((base.detach(), flat.detach(), part.detach(), x.grad))
    for d, t in zip(*outs):
        _close(d, t)


def test_an_in_place_op_under_no_grad_on_a_stale_copied_view_reads_its_base(backend):
    # reshape(-1) across column shards is a copy standing for torch's view; neg_ wrote it
    # into the base, and clamp_ under no_grad ran on the copy's old values, undoing the
    # neg_ (differential fuzzer seed 9242936).
    x_np = _arr(3, 4)
    outs = []
    for T, place in ((dg, lambda t: dist.shard(t, 1)), (torch, lambda t: t.clone())):
        base = place(T.tensor(x_np))
        flat = base.reshape(-1)
        flat.neg_()
        with T.no_grad():
            flat.clamp_(-0.5, 0.5)
        outs.append(_np(base))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_an_elementwise_result_of_a_row_major_and_a_transposed_operand_is_laid_out_as_the_first(backend):
    # torch lays out an elementwise result as its first operand where the operands'
    # strides disagree; a row-major replica counts (differential fuzzer seed 9249612)
    x_np = _arr(3, 3)
    seen = []
    for T, spread in ((dg, dist.replicate), (torch, lambda t: t.clone(memory_format=torch.contiguous_format))):
        t = T.tensor(x_np, requires_grad=True).mT * 2
        row_major = spread(t)
        prod, prod2 = row_major * t.clone(), t.clone() * row_major
        seen.append([prod.stride(), prod2.stride(), _np(prod.view(-1))])
    assert seen[0][:2] == seen[1][:2] == [(3, 1), (1, 3)]
    np.testing.assert_allclose(seen[0][2], seen[1][2], rtol=1e-6)


def test_a_sharded_view_written_in_place_takes_its_bases_history(backend):
    # As torch regenerates a view's history after a write through it (AsStridedBackward0
    # of the base's CopySlices), a sharded view's parts did but the view kept the writing
    # op's node, and a retained grad on it filled where torch's stays None: the loss uses
    # the base, not the view (differential fuzzer seed 9268745).
    x_np = _arr(4)
    seen = []
    for T, place in ((dg, lambda t: dist.shard(t, 0)), (torch, lambda t: t.detach().clone())):
        base = place(T.tensor(x_np)).requires_grad_() * 1
        view = base[::2]
        view.add_(view)
        view.retain_grad()
        (base * base).sum().cpu().backward()
        seen.append((view.grad_fn.name(), view.grad))
    assert seen[0] == seen[1] == ("AsStridedBackward0", None)


def test_out_writes_into_worker_and_sharded_tensors_as_into_torchs(backend):
    # out= into a tensor on a worker, into a sharded one, and into a view of a sharded
    # one: written where it lives, its version counted, as torch writes a plain tensor
    x_np = _arr(4, 3)
    got = []
    for T, place, dev in ((dg, lambda t: dist.shard(t, 0), "worker:1"),
                          (torch, lambda t: t.clone(), "cpu")):
        x = T.tensor(x_np)
        on_worker = T.empty(4, 3, device=dev)
        T.mul(x.to(dev), 2, out=on_worker)
        sharded = place(T.zeros(4, 3))
        T.add(place(x), 1, out=sharded)
        T.exp(place(x)[1:3], out=sharded[1:3])  # a view across both shards
        got.append((on_worker.cpu(), sharded, sharded._version))
    _close(got[0][0], got[1][0])
    _close(got[0][1], got[1][1])
    assert got[0][2] == got[1][2]


@pytest.mark.parametrize("through", ["itself", "a view"])
def test_a_saved_part_written_since_is_named_as_its_sharded_tensor(backend, through):
    # torch's error names the tensor saved (its shape, the node that made it), not the part
    # of it that a worker saved
    (x,), (tx,) = _leaves(_arr(4, 3))
    messages = []
    for leaf in (dist.shard(x, 0), tx):
        y = leaf.exp()
        (y if through == "itself" else y.view(2, 6)).mul_(3)
        with pytest.raises(RuntimeError) as raised:
            (y * y).sum().backward()
        messages.append(str(raised.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("write", ["copy_", "setitem", "add"])
def test_a_one_long_result_split_over_an_empty_part_takes_its_operands_split(backend, write):
    # y = shard(x)[2:] is one long, its parts 0 and 1 long: an operand of length 1 there is
    # that one element, to be split as y is, not a size-1 dim broadcast to each part
    # (differential fuzzer seed 10345268)
    (x,), (tx,) = _leaves(_arr(3))
    got = []
    for y, r in ((dist.shard(x * 1, 0)[2:], dist.replicate(dg.zeros(1))),
                 (tx[2:] * 1, torch.zeros(1))):
        if write == "copy_":
            r.copy_(y)
        elif write == "setitem":
            r[:1] = y
        else:
            r = r + y
        (r * 3).sum().backward()
        got.append(r)
    _close(got[0], got[1])
    _close(x.grad, tx.grad)


def test_a_no_grad_view_of_a_copied_view_is_refused_after_a_write(backend):
    # v = shard(x.t(), 1).reshape(-1) is a copy standing for a view (no rule makes it one);
    # a slice of it taken under no_grad is a no_grad view, whose history torch will not
    # make anew once its base is written (differential fuzzer seed 10340902)
    (x,), (tx,) = _leaves(_arr(3, 4))
    errors = []
    for v in (dist.shard(x.t(), 1).reshape(-1), tx.t().clone().reshape(-1)):
        with (dg if v.__class__ is dg.Tensor else torch).no_grad():
            w = v[7:]
        v.copy_(v)
        with pytest.raises(RuntimeError) as raised:
            w.is_leaf
        errors.append(str(raised.value))
    assert errors[0] == errors[1] and "created in no_grad mode" in errors[0]


@pytest.mark.parametrize("case", ["slice", "index", "masked_fill", "nan"])
def test_writes_into_an_expanded_sharded_tensor_reach_its_base(backend, case):
    # Every element of an expanded view is its base's element: a write to some of them is
    # a write to the base, whether the expand is a view of the shards (dim 0 of a tensor
    # sharded on dim 1) or a copy standing for one (a one-long sharded dim expanded); the
    # written part itself is one place each, so torch takes it (differential fuzzer seeds
    # 10292154, 10368856)
    import warnings

    got = []
    for T, place in ((dg, dist.shard), (torch, lambda t, d: t.clone())):
        x = T.tensor([[1.74, 0.0, -0.58], [float("nan"), -1.71, 1.52]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch's deprecation warning; the fallback's)
            if case == "slice":
                base = place(x.reshape(-1), 0)[3:4]
                base.expand(3)[:1] = 0.07
            elif case == "index":
                base = place(x[0:1], 1)
                base.expand(3, 3)[[1, 2]] = 0.15
            elif case == "masked_fill":
                base = place(x.reshape(-1), 0)[4:5]
                base.expand(2, 3).masked_fill_(T.tensor([[False, True, False]] * 2), 5.0)
            else:  # a NaN base: its copies the write leaves are not a change
                base = place(x.reshape(-1), 0)[3:4]
                base.expand(3)[1:2] = 3.0
        got.append(base)
    np.testing.assert_array_equal(_np(got[0]), got[1].numpy())
