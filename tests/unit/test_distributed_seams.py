"""Where sharded tensors and DistributedDataParallel met torch's tensor model: new_* of a
sharded tensor placed as DTensor places it, post-accumulate-grad hooks inside no_sync,
version counters across the wrapping and of an inference tensor's copy, a channels_last
sharded tensor's strides, and writes through an as_strided view of a sharded tensor.
Against torch (torch_twin.same) with a shard standing for a copy there, as the programs'
runner does (test_programs.py), over two in-process workers."""
from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

import distgrad
import distgrad.distributed as dist
from distgrad.distributed.tensor import Replicate, Shard
from distgrad.nn.parallel import DistributedDataParallel
from test_added_surface import local_workers  # noqa: F401  (two in-process workers)
from torch_twin import attempt, same


def _placing(torch):
    """shard / gather / ddp: the workers' under distgrad, a copy / itself under torch."""
    if torch is distgrad:
        return dist.shard, lambda t: t.full_tensor(), DistributedDataParallel
    return (lambda t, dim: t.clone()), (lambda t: t), (lambda m: m)


# ---- new_* of a sharded tensor: placed as DTensor's -------------------------------------------
# torch's new_factory_strategy (distributed/tensor/_ops/_tensor_ops.py), as a two-rank
# DTensor run shows it: the input's placement when the shape is the input's and the input is
# sharded, else Replicate() over the same mesh; new_tensor gives a plain tensor.

@pytest.mark.parametrize("make", [
    lambda x, shape: x.new_zeros(shape), lambda x, shape: x.new_ones(*shape),
    lambda x, shape: x.new_full(shape, 2.5), lambda x, shape: x.new_empty(size=shape)],
    ids=["new_zeros", "new_ones", "new_full", "new_empty"])
def test_new_factories_keep_a_sharded_tensors_placement(local_workers, make):
    x = dist.shard(distgrad.arange(10.0).reshape(5, 2), 0)
    same_shape, other = make(x, (5, 2)), make(x, (3, 4))
    assert same_shape.placements == [Shard(0)] and other.placements == [Replicate()]
    assert [p.shape for p in same_shape.shards] == [p.shape for p in x.shards]  # (uneven too)
    assert same_shape._sharding.workers == other._sharding.workers == x._sharding.workers
    plain = make(distgrad.arange(10.0).reshape(5, 2), (5, 2))
    if plain.ne(0).any():  # (new_empty's values are any)
        np.testing.assert_array_equal(same_shape.full_tensor().numpy(), plain.numpy())


def test_new_factories_of_a_pending_sum_are_replicated(local_workers):
    """As ones_like of one: its parts would add up."""
    a, b = dist.shard(distgrad.ones(2, 4), 1), dist.shard(distgrad.ones(4, 3), 0)
    p = a @ b
    assert p.placements == [dist.Partial()]
    for made in (p.new_ones(2, 3), distgrad.ones_like(p)):
        assert made.placements == [Replicate()]
        np.testing.assert_array_equal(made.full_tensor().numpy(), np.ones((2, 3)))


def test_new_factories_given_a_device_or_of_data_are_plain(local_workers):
    x = dist.shard(distgrad.arange(4.0).reshape(4, 1), 0)
    assert x.new_zeros((4, 1), device="cpu").placements == []
    assert x.new_tensor([1.0, 2.0]).placements == []
    y = x.new_zeros((4, 1), dtype=distgrad.int64, requires_grad=False)
    assert y.dtype is distgrad.int64 and y.placements == [Shard(0)]


def test_a_new_leaf_of_a_sharded_tensor_gets_its_gradient(local_workers):
    def f(torch):
        shard, full, _ = _placing(torch)
        x = shard(torch.arange(8.0).reshape(4, 2), 0)
        w = x.new_ones((4, 2), requires_grad=True)
        b = x.new_zeros((2,), requires_grad=True)
        (w * x + b).pow(2).sum().backward()
        return w.is_leaf, full(w.grad), full(b.grad)
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


# ---- DDP no_sync: post-accumulate-grad hooks run on every backward --------------------------

def test_no_sync_runs_post_accumulate_grad_hooks(local_workers):
    def f(torch):
        _, full, ddp = _placing(torch)
        torch.manual_seed(3)
        net = torch.nn.Linear(3, 2)
        model = ddp(net)
        seen = []
        for name, p in model.named_parameters():
            p.register_post_accumulate_grad_hook(
                lambda p, name=name: seen.append((name.removeprefix("module."),
                                                  full(p.grad).sum().item())))
        x = torch.randn(4, 3)
        with getattr(model, "no_sync", contextlib.nullcontext)():  # (torch: one process)
            model(x).pow(2).sum().backward()
        inside = sorted(seen)
        seen.clear()
        model(x).pow(2).sum().backward()
        return inside, sorted(seen), full(net.bias.grad)
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_a_write_to_grad_inside_no_sync_is_kept(local_workers):
    """A hook that scales .grad in no_sync: torch's ranks scale what they accumulated, and
    the sum reduced after is scaled so; zero_grad there drops it."""
    def f(torch):
        _, full, ddp = _placing(torch)
        torch.manual_seed(4)
        net = torch.nn.Linear(3, 2)
        model = ddp(net)

        def halve(p):
            p.grad.mul_(0.5)
        net.bias.register_post_accumulate_grad_hook(halve)
        x = torch.randn(4, 3)
        no_sync = getattr(model, "no_sync", contextlib.nullcontext)
        seen = []
        for _ in range(2):
            with no_sync():
                model(x).sum().backward()
                model(x).sum().backward()
                seen.append(full(net.bias.grad).clone())
            model(x).sum().backward()
            seen.append(full(net.bias.grad).clone())
        with no_sync():
            model(x).sum().backward()
            net.zero_grad()
            seen.append(net.bias.grad)
        model(x).sum().backward()
        return seen + [full(net.bias.grad), full(net.weight.grad)]
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_a_post_accumulate_grad_hook_returning_a_value_raises():
    def f(torch):
        w = torch.ones(2, requires_grad=True)
        w.register_post_accumulate_grad_hook(lambda p: p.grad.mul_(2))
        return attempt(lambda: (w * 3).sum().backward()), w.grad
    same(f)


# ---- version counters ----------------------------------------------------------------------

@contextlib.contextmanager
def _torchs_ddp_in_one_process():
    """torch's own DistributedDataParallel over a one-process gloo group: what distgrad's
    DDP over its workers must look like from the driver."""
    import torch
    import torch.distributed as torch_dist

    torch_dist.init_process_group("gloo", store=torch_dist.HashStore(), rank=0, world_size=1)
    try:
        yield torch.nn.parallel.DistributedDataParallel
    finally:
        torch_dist.destroy_process_group()


def test_versions_count_ddps_writes_as_torchs_ddp(local_workers):
    """torch's DDP writes each parameter and buffer once as it broadcasts the module's
    state (the empty ones aside), and each synced backward copies the bucket's total into
    every .grad once more after AccumulateGrad (which made it, or added into it); no_sync's
    backward only accumulates."""
    def f(torch):
        wrapping = contextlib.nullcontext(DistributedDataParallel) if torch is distgrad \
            else _torchs_ddp_in_one_process()
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                  torch.nn.Linear(4, 2))
        net[0].bias.requires_grad_(False)
        net.register_buffer("empty", torch.zeros(0))
        with torch.no_grad():
            net[0].weight.mul_(2.0)

        def versions():
            return ([p._version for p in net.parameters()], [b._version for b in net.buffers()],
                    [None if p.grad is None else p.grad._version for p in net.parameters()])

        with wrapping as ddp:
            model = ddp(net)
            seen = [versions()]
            x = torch.randn(6, 3)
            for _ in range(2):
                model(x).sum().backward()
                seen.append(versions())
            net[2].weight.grad = None
            net[2].bias.grad.zero_()
            model(x).sum().backward()
            seen.append(versions())
            with model.no_sync():
                model(x).sum().backward()
                seen.append(versions())
            model(x).sum().backward()
            torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9).step()
            seen.append(versions())
            # (torch's DDP freed after its process group was destroyed can hang in the
            # group's destructor, joining its threads)
            del model
        return seen
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_a_replicated_leafs_grad_counts_versions_as_a_plain_leafs(local_workers):
    """A replicated leaf stands for one leaf: its .grad is AccumulateGrad's alone (new at 0,
    added into in place, remade under create_graph), with no copy of a reducer's after."""
    def f(torch):
        r = torch.arange(4.0).requires_grad_()
        r = dist.replicate(r) if torch is distgrad else r
        seen = []
        for create_graph in (False, False, True):
            (r * 2).sum().backward(create_graph=create_graph)
            seen.append(r.grad._version)
        r.grad = None
        (r * r).sum().backward(create_graph=True)
        seen.append((r.grad._version, r.grad.requires_grad))
        r.grad.zero_()
        (r * 3).sum().backward()
        return seen + [r.grad._version, r.grad]
    same(f, warnings_too=False)


def test_a_copy_of_an_inference_tensor_is_at_version_one():
    """torch writes the copy with a counted copy_: the input has no autograd keys."""
    def f(torch):
        with torch.inference_mode():
            t = torch.ones(3, 2)
        return [t.clone()._version, t.t().contiguous()._version, t.double()._version,
                t.clone(memory_format=torch.contiguous_format)._version, (t * 1)._version,
                torch.ones(2).clone()._version, attempt(lambda: t._version)]
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_an_inference_tensor_saved_by_an_op_of_a_sharded_tensor_is_refused(local_workers):
    """torch's one node would save the inference tensor itself (a factor of a product, the
    indices of an embedding of a table split by rows): refused as on one device, where the
    parts' nodes save a copy of it, or tensors made from it."""
    def f(torch):
        shard, full, _ = _placing(torch)
        torch.manual_seed(0)
        with torch.inference_mode():
            m, idx = torch.ones(4, 3), torch.tensor([[1, 4], [0, 2]])
        x = shard(torch.randn(4, 3), 0).requires_grad_()
        table = torch.nn.Parameter(shard(torch.randn(5, 3), 0))
        with torch.no_grad():
            free = full(torch.nn.functional.embedding(idx, table))
        return [attempt(lambda: x * m), attempt(lambda: torch.nn.functional.embedding(idx, table)),
                free, attempt(lambda: full(x * m.clone()).detach())]
    same(f, warnings_too=False)


def test_a_saved_operand_written_through_numpy_is_read_as_written(local_workers):
    """torch saved the driver's tensor itself: a write through a numpy array on its memory
    (no version counted) shows in the backward, where the workers saved a copy of it."""
    def f(torch):
        shard, full, _ = _placing(torch)

        class Product(torch.autograd.Function):  # (saves its operands themselves)
            @staticmethod
            def forward(ctx, a, b):
                ctx.save_for_backward(a, b)
                return a * b

            @staticmethod
            def backward(ctx, g):
                return g * ctx.saved_tensors[1], g * ctx.saved_tensors[0]

        arr = np.array([[1.5, -2.0, 0.5], [3.0, 1.0, -1.0]])
        x = torch.from_numpy(arr).requires_grad_()
        s = shard(torch.tensor([[2.0, 1.0, 3.0], [0.5, -1.0, 2.0]]), 1).requires_grad_()
        y = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=torch.float64,
                         requires_grad=True)
        s64 = shard(torch.ones(2, 3, dtype=torch.float64), 0).requires_grad_()
        product = x * s
        through = Product.apply(y, s64)
        arr *= 10
        y.detach().numpy()[0] = 0.0
        gx, gs = torch.autograd.grad(full(product).sum(), [x, s])
        gy, gs64 = torch.autograd.grad(full(through).sum(), [y, s64])
        return [gx, full(gs), gy, full(gs64)]

    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_an_embedding_of_a_row_split_table_refuses_an_id_out_of_range(local_workers):
    """Each worker's part masks the ids it does not own: an id no part owns is torch's
    IndexError all the same, not a zero row."""
    def f(torch):
        shard, full, _ = _placing(torch)
        table = torch.nn.Parameter(shard(torch.arange(15.0).reshape(5, 3), 0))
        emb = torch.nn.functional.embedding
        return [attempt(lambda: emb(torch.tensor([1, 5]), table)),
                attempt(lambda: emb(torch.tensor([[-1, 0]]), table)),
                full(emb(torch.tensor([4, 0]), table)).detach()]
    same(f, warnings_too=False)


# ---- channels_last ---------------------------------------------------------------------------

def test_a_channels_last_sharded_tensor_reports_its_layout(local_workers):
    def f(torch):
        shard, full, _ = _placing(torch)
        x = torch.arange(120.0).reshape(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
        out = []
        for d in range(4):
            s = shard(x, d)
            out.append((s.stride(), s.is_contiguous(),
                        s.is_contiguous(memory_format=torch.channels_last)))
        s = shard(torch.arange(120.0).reshape(2, 3, 4, 5), 0)
        c = s.contiguous(memory_format=torch.channels_last)
        y = torch.nn.functional.conv2d(shard(x, 0), torch.ones(2, 3, 3, 3))
        out += [c.stride(), (shard(x, 0) * 2).stride(), y.stride(), full(y),
                torch.empty_like(shard(x, 0)).stride()]
        return out
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


# ---- as_strided views of a sharded tensor, written -----------------------------------------

@pytest.mark.parametrize("size,stride,offset", [
    ((4, 3), (3, 1), 0), ((2, 3), (3, 1), 6), ((4, 2), (3, 1), 1), ((6,), (2,), 0),
    ((3, 4), (1, 3), 0)])
def test_a_write_through_an_as_strided_view_of_a_sharded_tensor(local_workers, size, stride, offset):
    def f(torch):
        shard, full, _ = _placing(torch)
        a = torch.arange(12.0).reshape(4, 3).requires_grad_()
        x = shard(a * 1, 0)
        view = x.as_strided(size, stride, offset)
        view.mul_(torch.arange(2.0, 2.0 + view.numel()).reshape(size))
        (full(x) * torch.arange(12.0).reshape(4, 3)).sum().backward()
        return full(x).detach(), a.grad, x.grad_fn.name()
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_as_strided_of_a_sharded_view_views_its_base(local_workers):
    def f(torch):
        shard, full, _ = _placing(torch)
        x = shard(torch.arange(12.0).reshape(4, 3), 0)
        v = x[1:]
        v.as_strided((2,), (4,), 4).add_(50)
        z = shard(torch.arange(24.0).reshape(2, 3, 2, 2).contiguous(
            memory_format=torch.channels_last), 0)
        z.as_strided((3,), (1,), 0).sub_(100)
        return full(x), full(z), attempt(lambda: x.as_strided((5, 3), (3, 1), 0))
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_a_write_through_a_copied_view_of_a_view_leaves_the_view_between_off_its_way(
        local_workers):
    # v6, a reshape no rule keeps sharded (a copy standing for the view), of v5, a sharded
    # view: after the write, v6 is made again from the base, not through v5's node.
    def f(torch):
        shard, full, _ = _placing(torch)
        x = torch.tensor([-1.13, -0.9, 0.25, 1.69], dtype=torch.float64, requires_grad=True)
        v4 = shard(x * 1, 0).expand(2, -1).softmax(-1) * 1
        v5 = v4.unsqueeze(0)
        v6 = v5.reshape(4, 2)
        v6.relu_()
        v5.retain_grad()
        (full(v6) * full(v6)).sum().backward()
        return v5.grad, x.grad, full(v5).detach(), v6.grad_fn.name()
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_anomaly_mode_keeps_a_sharded_nodes_forward_stack(local_workers):
    def f(torch):
        shard, full, _ = _placing(torch)
        x = torch.arange(6.0).reshape(3, 2).requires_grad_()
        with torch.autograd.detect_anomaly():
            y = shard(x * 2, 0) * 3
        stack = y.grad_fn.metadata.get("traceback_")
        return sorted(y.grad_fn.metadata), stack[-1].strip().splitlines()[-1]
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


# ---- saved with their whole: sharded views come back viewing it -----------------------------

@pytest.mark.parametrize("map_location", [None, "cpu"])
def test_sharded_views_saved_with_their_whole_come_back_sharing_it(local_workers, map_location):
    def f(torch):
        shard, full, _ = _placing(torch)
        torch.manual_seed(0)
        w = shard(torch.randn(6, 3), 0).requires_grad_()
        file = io.BytesIO()
        torch.save({"w": w, "wv": w[2:5], "wt": w.t()}, file)
        file.seek(0)
        ck = torch.load(file, map_location=map_location)
        w, wv, wt = ck["w"], ck["wv"], ck["wt"]
        seen = [wv.requires_grad, wv.is_leaf, wv._version, wt.stride(), wv.stride(),
                wv.storage_offset()]
        with torch.no_grad():
            wv.mul_(0)
            seen += [full(w).clone(), w._version, wv._version]
            w[0].fill_(7)
        (full(w) * torch.arange(6.0).view(6, 1)).sum().backward()
        return seen + [full(wt).detach(), full(wv).detach(), full(w.grad), wv.grad]
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_a_view_of_a_sharded_tensor_has_it_as_its_base(local_workers):
    # torch's x[1:]._base is x, a view of a view's the first tensor; a tensor that is no
    # view has no base (the shards' own links to theirs stay inside)
    def f(torch):
        shard, _, _ = _placing(torch)
        x = shard(torch.arange(12.0).reshape(4, 3), 0)
        views = [x[1:], x.t(), x[1:].unsqueeze(0), x.view(2, 6), x.expand(2, 4, 3), x[:, 1]]
        return ([v._base is x for v in views], [v._is_view() for v in views], x._base,
                (x * 2)._base, x.detach()._base)
    same(f, warnings_too=False)  # (distgrad warns of its fallbacks)


def test_a_view_of_a_sharded_parameter_has_the_parameter_as_its_base(local_workers):
    # (a Parameter made of a sharded temporary, as DDP makes its replicated ones)
    def f(torch):
        shard, _, _ = _placing(torch)
        p = torch.nn.Parameter(shard(torch.arange(12.0).reshape(4, 3), 0))
        rows = p[1:3]
        return rows._base is p, rows.grad_fn.name(), rows.requires_grad
    same(f, warnings_too=False)


@pytest.mark.parametrize("op", ["mul", "exp", "mm", "relu", "softmax", "layer_norm",
                                "mul_plain"])
def test_saved_tensor_hooks_on_an_op_of_a_sharded_tensor_pack_each_saved_tensor_once(
        local_workers, op):
    # torch's program has one node, which packs each tensor it saves once, as the user
    # holds it; unpack's result is what backward computes with (here doubled)
    def f(torch):
        shard, full, _ = _placing(torch)
        a = torch.arange(8.0).reshape(4, 2).requires_grad_()
        x = shard(a * 1, 0)
        w = torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
        packed = []

        def pack(t):
            packed.append((tuple(t.shape), "x" if t is x else "w" if t is w else
                           "out" if t.grad_fn is not None and t.grad_fn is y_node[0] else "?"))
            return t

        y_node = [None]
        forward = {"mul": lambda: x * x, "exp": lambda: x.exp(), "mm": lambda: x @ w,
                   "relu": lambda: x.relu(), "softmax": lambda: x.softmax(-1),
                   "layer_norm": lambda: torch.nn.functional.layer_norm(x, (2,), w[0]),
                   # (a plain operand: each part's node saved the rows its shard needs)
                   "mul_plain": lambda: x * w.repeat(2, 1)}[op]
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t * 2):
            y = forward()
        y_node[0] = y.grad_fn
        packed = [(shape, "out" if who == "?" else who) for shape, who in packed]
        (full(y) * torch.arange(8.0).reshape(4, 2)).sum().backward()
        return packed, a.grad, w.grad
    same(f, warnings_too=False)


@pytest.mark.parametrize("write", ["whole", "row"])
def test_an_in_place_op_on_a_sharded_tensor_packs_it_once_written(local_workers, write):
    # torch's in-place op packs self after its write (version 1, a view's regenerated
    # history); unpack gives it unchecked, with the later write in it
    def f(torch):
        shard, full, _ = _placing(torch)
        a = torch.arange(8.0).reshape(4, 2).requires_grad_()
        x = shard(a * 1, 0)
        packed = []

        def pack(t):
            packed.append((tuple(t.shape), t._version, t.grad_fn.name()))
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            (x if write == "whole" else x[1:]).sigmoid_()
        x.mul_(2)
        full(x).sum().backward()
        return packed, a.grad
    same(f, warnings_too=False)


def test_a_function_writing_a_view_of_a_sharded_tensor_packs_only_what_it_saves(
        local_workers):
    # torch's CopySlices saves nothing: the hooks see the Function's saved tensors alone,
    # not the values distgrad computes to take the write into each part of the base
    def f(torch):
        shard, full, _ = _placing(torch)

        class ScaleInPlace(torch.autograd.Function):
            @staticmethod
            def forward(ctx, v, s):
                ctx.save_for_backward(s)
                ctx.mark_dirty(v)
                return v.mul_(s)

            @staticmethod
            def backward(ctx, g):
                (s,) = ctx.saved_tensors
                return g * s, None

        a = torch.arange(12.0).reshape(4, 3).requires_grad_()
        s = torch.tensor(3.0)
        x = shard(a * 1, 0)
        packed = []
        with torch.autograd.graph.saved_tensors_hooks(
                lambda t: packed.append(tuple(t.shape)) or t, lambda t: t):
            ScaleInPlace.apply(x[:, 1:], s)
        full(x).sum().backward()
        return packed, a.grad
    same(f, warnings_too=False)


def test_save_on_cpu_of_sharded_operands_gives_torchs_gradients(local_workers):
    def f(torch):
        shard, full, _ = _placing(torch)
        a = torch.arange(8.0).reshape(4, 2).requires_grad_()
        w = torch.tensor([[0.5, -1.0], [2.0, 0.25]], requires_grad=True)
        with torch.autograd.graph.save_on_cpu():
            x = shard(a * 1, 0)
            y = (x @ w).tanh() * x
        (full(y) * torch.arange(8.0).reshape(4, 2)).sum().backward()
        return a.grad, w.grad
    same(f, warnings_too=False)


@pytest.mark.parametrize("through", ["whole", "row"])
def test_an_in_place_op_of_another_dtype_on_a_sharded_tensor_keeps_its_gradient(
        local_workers, through):
    # torch casts what `x += double` writes and keeps the op's node (AddBackward0), whose
    # gradient reaches the float64 operand in its dtype
    def f(torch):
        shard, full, _ = _placing(torch)
        a = torch.arange(12.0).reshape(4, 3).requires_grad_()
        d = torch.tensor([0.5, 1.5, -2.0], dtype=torch.float64, requires_grad=True)
        x = shard(a * 1, 0)
        target = x if through == "whole" else x[1]
        target.add_(d)
        name = x.grad_fn.name()
        (full(x) * torch.arange(12.0).reshape(4, 3)).sum().backward()
        return name, x.dtype, a.grad, d.grad
    same(f, warnings_too=False)


def test_clip_grad_norm_gives_the_total_on_the_first_gradients_device(local_workers):
    # torch stacks the per-device norms on the first gradient's device; the gradients may
    # live on other devices (here the second worker and the driver)
    def f(torch):
        where = ["worker:1", "worker:0", "cpu"] if torch is distgrad else ["cpu"] * 3
        params = [torch.ones(2, device=d, requires_grad=True) for d in where]
        for k, p in enumerate(params):
            (p * (k + 3.0)).sum().backward()
        total = torch.nn.utils.clip_grad_norm_(params, 1.0)
        return (str(total.device) == where[0], total.to("cpu"),
                [p.grad.to("cpu") for p in params])
    same(f, warnings_too=False)


# ---- hooks of sharded and replicated leaves fire in torch's order -----------------------------
# Sharding adds nodes torch's graph does not have (each part's slice or move of a plain
# operand, a replicated tensor's copies): the leaves behind them must still be reached in the
# order torch reaches them, which a program printing from its hooks shows.

def _leaf_placings(torch):
    """shard / replicate of a leaf (a leaf either way), a copy under torch."""
    if torch is distgrad:
        return ((lambda t, dim: dist.shard(t, dim).requires_grad_()),
                (lambda t: dist.replicate(t).requires_grad_()))
    return (lambda t, dim: t.clone().requires_grad_()), (lambda t: t.clone().requires_grad_())


@pytest.mark.parametrize("program", [
    "w * v", "v * w", "(w * 2).exp() * v.sin()", "r * v", "v / (w.abs() + 1) + r",
    "(v @ w.t()) @ r", "v * s", "r.sum(0, keepdim=True) * w"])
def test_hooks_of_placed_leaves_fire_in_torchs_order(local_workers, program):
    def scenario(torch):
        shard, replicate = _leaf_placings(torch)
        torch.manual_seed(0)
        seen = []
        leaves = {"w": torch.randn(4, 6, requires_grad=True), "v": shard(torch.randn(4, 6), 0),
                  "s": shard(torch.randn(4, 6), 1), "r": replicate(torch.randn(4, 6))}
        for name, t in leaves.items():
            t.register_hook(lambda g, name=name: seen.append(f"hook {name}"))
            t.register_post_accumulate_grad_hook(lambda p, name=name: seen.append(f"post {name}"))
        eval(program, {"torch": torch}, leaves).sum().backward()  # noqa: S307
        return seen

    same(scenario, warnings_too=False)  # (v * s: a fallback warns, which torch does not)


# ---- a warning of an op on worker tensors comes once, in the driver, as torch's -------------
# (an op's rule runs again for each part of a sharded operand and on the worker that checks
# the op: a warning there came two or three times, and from a Ray worker printed by it)

@pytest.mark.parametrize("op", ["var", "std", "var_mean", "std_mean"])
def test_a_variance_without_degrees_of_freedom_warns_once(local_workers, op):
    def scenario(torch):
        placed = "worker:1" if torch is distgrad else "cpu"
        shard = dist.shard if torch is distgrad else (lambda t, dim: t.clone())
        torch.manual_seed(0)
        x = torch.randn(1, 3, device=placed, requires_grad=True)
        out = getattr(torch, op)(x, 0)
        with warnings.catch_warnings():  # (the sharded op's fallback warns, torch's has none)
            warnings.filterwarnings("ignore", "no sharding rule")
            sharded = getattr(shard(torch.randn(4, 1), 0), op.split("_")[0])(1)
        return out, sharded

    same(scenario)


# ---- a write through a view of a replicated tensor counts once, as torch's ---------------------

@pytest.mark.parametrize("view", ["slice", "diagonal", "empty diagonal"])
def test_a_write_through_a_view_of_a_replicated_tensor_counts_once(local_workers, view):
    """Every copy takes the write, and the tensor's one version counter counts it once: a
    copy made on first use counted it again, and so did a copy standing for a view (made
    anew from its base), whose own node then refused at backward."""
    def scenario(torch):
        replicate = dist.replicate if torch is distgrad else (lambda t: t.clone())
        torch.manual_seed(0)
        x = replicate(torch.randn(4, 4 if view != "empty diagonal" else 1)).requires_grad_()
        y = x * 2
        v = y[1:3] if view == "slice" else y.diagonal(1)
        v.relu_()
        seen = [v._version, y._version]
        return seen + [torch.autograd.grad((y * y).sum(), [x])[0]]

    same(scenario, warnings_too=False)


# ---- a node hook on a sharded tensor's node: the inputs' whole gradients ---------------------

def test_a_node_hook_of_a_sharded_op_sees_each_inputs_whole_gradient(local_workers):
    def f(torch):
        shard, full, _ = _placing(torch)
        x = shard(torch.arange(12.0).reshape(3, 4) / 10, 1).requires_grad_()
        b = torch.tensor([1.0, -1.0, 2.0, 0.5], requires_grad=True)
        y = x * b
        seen = []
        y.grad_fn.register_hook(lambda gi, go: seen.append(
            [full(g).detach() if g.shape == x.shape else g for g in gi] + [full(go[0])]))
        (full(y) * torch.arange(12.0).reshape(3, 4)).sum().backward()
        return seen[0], full(x.grad), b.grad
    same(f, warnings_too=False)


def test_a_node_hook_of_an_op_across_the_parts_is_refused(local_workers):
    x = dist.shard(distgrad.ones(3, 4), 1).requires_grad_()
    total = x.sum(1)  # (partial sums of the parts, combined)
    with pytest.raises(NotImplementedError, match="did not run part by part"):
        total.grad_fn.register_hook(lambda gi, go: None)


def test_a_sharded_tensors_node_class_is_named_as_torchs(local_workers):
    def f(torch):
        shard, _, _ = _placing(torch)
        x = shard(torch.ones(4, 3, requires_grad=True) * 2, 0)
        made = [x.t(), x.split(2)[1], x.view(12), x.exp(), x * x]
        made[-1].mul_(2)
        return [type(t.grad_fn).__name__ for t in made]
    same(f, warnings_too=False)


def test_a_function_writing_a_sharded_leaf_is_refused_as_torchs_leaf(local_workers):
    """mark_dirty of a leaf that requires grad: torch writes it, counts the writes and
    refuses it in its Function words (a sharded leaf is a leaf: the same)."""
    def f(torch, leaf):
        class AddOne_(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x)
                return x.add_(1)

            @staticmethod
            def backward(ctx, g):
                return g

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (no sharding rule for a Function: a fallback)
            raised = attempt(AddOne_.apply, leaf)
        return str(raised), leaf._version, leaf.grad_fn

    import torch
    x, t = dist.shard(distgrad.arange(4.0).requires_grad_(), 0), torch.arange(4.0).requires_grad_()
    assert f(distgrad, x) == f(torch, t)
    assert x.full_tensor().tolist() == t.tolist()


def test_a_sharded_leafs_grad_is_one_tensor_accumulated_into(local_workers):
    """torch's .grad is one tensor: read twice, or after a backward that adds into it, it
    is the same object (a script holding it sees the sum); a new one after zero_grad."""
    def f(torch):
        shard, full, _ = _placing(torch)
        w = shard(torch.arange(6.0).reshape(3, 2), 0).requires_grad_()
        (w * w).sum().backward()
        g = w.grad
        g[0].zero_()
        (w * 3).sum().backward()
        kept = (w.grad is g, w.grad is w.grad, full(g).tolist())
        w.grad = None
        (w * 1).sum().backward()
        return kept + (w.grad is g,)
    same(f)


@pytest.mark.parametrize("extra", [None, "bias", "weight"])
def test_a_driver_operand_of_a_sharded_op_gets_one_gradient_as_torchs(local_workers, extra):
    """Each shard's copy of a driver parameter sends back a part of its gradient; torch
    computes one, so the parts are summed apart and added as one: a gradient used alone is
    taken as the .grad with no write, and one more use adds into it once (its _version)."""
    def f(torch):
        shard, full, _ = _placing(torch)
        torch.manual_seed(0)
        lin = torch.nn.Linear(4, 3)
        x = shard(torch.randn(6, 4), 0)
        loss = full(lin(x)).pow(2).sum()
        if extra is not None:
            loss = loss + getattr(lin, extra).sum() * 2
        loss.backward()
        return [(p.grad._version, p.grad) for p in (lin.weight, lin.bias)]
    same(f)


@pytest.mark.parametrize("pack", [lambda t: t, lambda t: t.detach(), lambda t: t * 1],
                         ids=["itself", "detached", "a_copy"])
def test_a_checkpointed_sharded_block_inside_saved_tensor_hooks(local_workers, pack):
    """checkpoint keeps its inputs through the hooks around it (torch's _NoopSaveInputs);
    what unpack gives has the saved input's history, a sharded one's in its parts, so the
    block recomputes with gradients."""
    def f(torch):
        shard, full, _ = _placing(torch)

        def block(t):
            s = t * 1
            s[:, :2].sigmoid_()
            return s.sum(1, keepdim=True) * t

        d = torch.arange(16.0).reshape(4, 4).div(8).requires_grad_()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = torch.utils.checkpoint.checkpoint(block, shard(d * 1, 0), use_reentrant=False)
        full(out).sum().backward()
        return d.grad
    same(f, warnings_too=False)


# ---- torch.autograd.graph on a sharded tensor ----------------------------------------------

def test_increment_version_of_a_sharded_tensor_makes_what_was_saved_of_it_stale(local_workers):
    def scenario(torch):
        shard, _, _ = _placing(torch)
        x = torch.ones(4, 3, requires_grad=True)
        q = shard(x * 1, 0).relu()
        y = q * 2 + q.sin()
        torch.autograd.graph.increment_version(q)
        return q._version, attempt(lambda: y.sum().backward()), x.grad
    same(scenario)


def test_grad_of_a_sharded_tensors_gradient_edge_is_its_whole_gradient(local_workers):
    def scenario(torch):
        shard, full, _ = _placing(torch)
        x = torch.linspace(-1, 1, 12).reshape(4, 3).requires_grad_()
        q = shard(x * 1, 0).cos()
        edge = torch.autograd.graph.get_gradient_edge(q)
        q.mul_(3)  # (the edge taken before is the cos's still)
        (g,) = torch.autograd.grad(full(q).pow(2).sum(), edge)
        return full(g), edge.output_nr
    same(scenario)


def test_a_functions_context_attributes_are_read_on_a_sharded_outputs_grad_fn(local_workers):
    def scenario(torch):
        shard, full, _ = _placing(torch)

        class Scaled(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, scale):
                ctx.scale, ctx.note = scale, "kept"
                return x * scale

            @staticmethod
            def backward(ctx, g):
                return g * ctx.scale, None

        x = torch.ones(4, 2, requires_grad=True)
        y = Scaled.apply(shard(x * 1, 0), 3.0)
        return y.grad_fn.scale, y.grad_fn.note, attempt(lambda: y.grad_fn.missing)
    same(scenario, warnings_too=False)  # (distgrad warns of its fallback)
