"""Where an op's result lies in memory, on strided inputs (a transpose, a permutation, an
expanded transpose, a strided slice): stride(), is_contiguous() and whether view(-1) works,
as torch's, in the driver and on an in-process worker. A program that views such a result
gets torch's error or torch's values (the worker's array must be laid out as the driver
says: a view reads its memory by those strides)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
from test_function import exp_function
from torch_twin import attempt


def _inputs(T, device):
    def base(*shape):
        return T.tensor(np.arange(float(np.prod(shape))).reshape(shape) / 7 - 0.8,
                        dtype=T.float32, device=device)
    return {
        "row_major": base(4, 3),
        "transposed": base(3, 4).t(),
        "permuted": base(2, 3, 4).permute(2, 0, 1),
        "expanded_transpose": base(3, 4).t().expand(2, -1, -1),
        "strided_slice": base(4, 6)[:, ::2],
    }


CASES = {
    "index_rows": lambda T, x: x[[0, 1, 0]],
    "index_dim1": lambda T, x: x[:, [1, 0]],
    "index_last": lambda T, x: x[..., [1, 0, 1]],
    "index_two_dims": lambda T, x: x[[0, 1], [1, 0]],
    "index_apart": lambda T, x: x[[0, 1], ..., [1, 0]],
    "index_2d": lambda T, x: x[T.tensor([[0, 1], [1, 0]], device=x.device)],
    "index_transposed_index": lambda T, x: x[:, T.tensor([[0, 1], [1, 0], [0, 0]],
                                                          device=x.device).t()],
    "index_mask": lambda T, x: x[x > 0],
    "rot90": lambda T, x: x.rot90(),
    "rot90_twice": lambda T, x: x.rot90(2, [0, -1]),
    "rot90_back": lambda T, x: x.rot90(-1, [-1, 0]),
    "rot90_none": lambda T, x: x.rot90(4),
    "flip": lambda T, x: x.flip(0),
    "flip_last": lambda T, x: x.flip(-1),
    "sort_values": lambda T, x: x.sort(0)[0],
    "sort_indices": lambda T, x: x.sort(-1)[1],
    "index_put": lambda T, x: x.index_put((T.tensor([0], device=x.device),),
                                          T.tensor(1.0, device=x.device)),
    "index_put_accumulate": lambda T, x: x.index_put((T.tensor([0], device=x.device),),
                                                     T.tensor(1.0, device=x.device),
                                                     accumulate=True),
    "glu": lambda T, x: T.nn.functional.glu(x, 0),
    "mse_none": lambda T, x: T.nn.functional.mse_loss(x, 2 * x, reduction="none"),
    "huber_none": lambda T, x: T.nn.functional.huber_loss(x, 2 * x, reduction="none"),
    "smooth_l1_none": lambda T, x: T.nn.functional.smooth_l1_loss(x, 2 * x, reduction="none"),
    "bce_logits_none": lambda T, x: T.nn.functional.binary_cross_entropy_with_logits(
        x, x.sigmoid(), reduction="none"),
    "masked_fill": lambda T, x: x.masked_fill(x > 0, 1.0),
    "logsigmoid": lambda T, x: T.nn.functional.logsigmoid(x),
    "rrelu_eval": lambda T, x: T.nn.functional.rrelu(x),
    "round_decimals": lambda T, x: x.round(decimals=1),
    "kthvalue": lambda T, x: x.kthvalue(2, 0)[0],
    "add": lambda T, x: x + 1,
    "zeros_like": lambda T, x: T.zeros_like(x),
    "full_like": lambda T, x: T.full_like(x, 2.0, dtype=T.float64),
    "ones_like_contiguous": lambda T, x: T.ones_like(x, memory_format=T.contiguous_format),
    "nan_to_num": lambda T, x: T.nan_to_num(x),
    "index_fill": lambda T, x: x.index_fill(-1, T.tensor([1, 0], device=x.device), 0.5),
    "index_fill_tensor": lambda T, x: x.index_fill(0, T.tensor([1], device=x.device),
                                                   T.tensor(0.5, device=x.device)),
    "mvlgamma": lambda T, x: (x + 3).mvlgamma(2),
    "prelu": lambda T, x: T.nn.functional.prelu(x, T.tensor([0.25], device=x.device)),
    "rms_norm": lambda T, x: T.nn.functional.rms_norm(x, x.shape[-1:]),
    "stack": lambda T, x: T.stack([x, x]),
    "stack_dim1": lambda T, x: T.stack([x, x], 1),
    "stack_last": lambda T, x: T.stack([x, x], -1),
    "roll_flat": lambda T, x: x.roll(1),
    "bce_none": lambda T, x: T.nn.functional.binary_cross_entropy(
        x.sigmoid(), T.full(x.shape, 0.5, device=x.device), reduction="none"),
    "bce_logits_row_major_target": lambda T, x: T.nn.functional.binary_cross_entropy_with_logits(
        x, T.full(x.shape, 0.5, device=x.device), reduction="none"),
    "soft_margin_none": lambda T, x: T.nn.functional.soft_margin_loss(
        x, T.ones(x.shape, device=x.device), reduction="none"),
}


def _described(T, f, x):
    y = f(T, x)
    try:
        flat = y.view(-1)
    except RuntimeError:
        flat = None
    # (a size-1 dim's stride is never used to step: torch's is sometimes 0 there)
    strides = tuple(s if n > 1 else None for n, s in zip(y.shape, y.stride()))
    return (tuple(y.shape), strides, y.is_contiguous(),
            None if flat is None else np.asarray(flat.detach().cpu().numpy()))


def _check(case, inp, device):
    mine = _described(distgrad, CASES[case], _inputs(distgrad, device)[inp])
    theirs = _described(torch, CASES[case], _inputs(torch, "cpu")[inp])
    assert mine[:3] == theirs[:3], (mine[:3], theirs[:3])
    assert (mine[3] is None) == (theirs[3] is None)
    if theirs[3] is not None:
        np.testing.assert_allclose(mine[3], theirs[3], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("inp", ["row_major", "transposed", "permuted",
                                 "expanded_transpose", "strided_slice"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_result_layout_matches_torch(case, inp):
    _check(case, inp, "cpu")


@pytest.fixture(scope="module")
def local_workers():
    import distgrad.distributed as dist

    if dist.is_initialized():
        dist.shutdown()
    dist.init(num_workers=2, backend="local")
    yield
    dist.shutdown()


@pytest.mark.parametrize("inp", ["row_major", "transposed", "permuted", "expanded_transpose"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_result_layout_on_a_worker_matches_torch(case, inp, local_workers):
    _check(case, inp, "worker:0")


# A size-1 dim's stride, whole: torch's TensorIterator keeps it from the operands' order
# where an operand is not of the result's shape (a Python number it wraps, a 0-dim tensor),
# and drops it in its same-shape fast set-up (-x, x + x, x ** 2); *_like keeps the input's.
def _size_one_inputs(T, device):
    def base(*shape):
        return T.tensor(np.arange(float(np.prod(shape))).reshape(shape) / 7 - 0.8,
                        dtype=T.float32, device=device)
    return {
        "row_transposed": base(1, 3).t(),
        "middle_one_permuted": base(2, 1, 3).permute(2, 1, 0),
        "sliced_row": base(4, 6)[1:2, ::2],
        "one_of_a_transpose": base(3, 4).t()[:, 1:2],
    }


SIZE_ONE_CASES = {
    "add_number": lambda T, x: x + 1,
    "number_minus": lambda T, x: 1 - x,
    "mul_float": lambda T, x: x * 2.0,
    "eq_number": lambda T, x: x == 0,
    "where_number": lambda T, x: T.where(x > 0, x, 0.0),
    "fmod_number": lambda T, x: T.fmod(x, 2),
    "mul_0d": lambda T, x: x * T.tensor(2.0, device=x.device),
    "add_broadcast": lambda T, x: x + T.zeros(x.shape[-1], device=x.device),
    "neg": lambda T, x: -x,
    "add_self": lambda T, x: x + x,
    "pow_number": lambda T, x: x ** 2,
    "clamp": lambda T, x: x.clamp(0, 1),
    "hardtanh": lambda T, x: T.nn.functional.hardtanh(x),
    "nan_to_num": lambda T, x: T.nan_to_num(x),
    "zeros_like": lambda T, x: T.zeros_like(x),
    "rand_like": lambda T, x: T.rand_like(x),
    "clone": lambda T, x: x.clone(),
}


@pytest.mark.parametrize("device", ["cpu", "worker:0"])
@pytest.mark.parametrize("inp", ["row_transposed", "middle_one_permuted", "sliced_row",
                                 "one_of_a_transpose"])
@pytest.mark.parametrize("case", sorted(SIZE_ONE_CASES))
def test_a_size_one_dims_stride_is_torchs(case, inp, device, local_workers):
    mine = SIZE_ONE_CASES[case](distgrad, _size_one_inputs(distgrad, device)[inp])
    theirs = SIZE_ONE_CASES[case](torch, _size_one_inputs(torch, "cpu")[inp])
    assert (tuple(mine.shape), mine.stride()) == (tuple(theirs.shape), theirs.stride())
    if case != "rand_like":
        np.testing.assert_allclose(mine.detach().cpu().numpy(), theirs.detach().numpy())


@pytest.mark.parametrize("fmt", ["channels_last", "contiguous_format", None])
@pytest.mark.parametrize("like", ["zeros_like", "ones_like", "empty_like", "randn_like"])
def test_like_takes_torchs_memory_format(like, fmt):
    def made(T):
        x = T.zeros(2, 3, 4, 5).permute(0, 2, 1, 3)
        return getattr(T, like)(x) if fmt is None else \
            getattr(T, like)(x, memory_format=getattr(T, fmt))
    mine, theirs = made(distgrad), made(torch)
    assert mine.stride() == theirs.stride()
    assert mine.is_contiguous() == theirs.is_contiguous()
    assert mine._base is None and mine.is_leaf


SHARDED_CASES = {
    "custom_function": lambda T, x: exp_function(T).apply(x),
    "fallback_op": lambda T, x: x.flip(0),
    "fallback_then_elementwise": lambda T, x: x.sort(0)[0] * 2,
}


@pytest.mark.parametrize("case", sorted(SHARDED_CASES))
def test_a_gathered_transposed_shard_keeps_torchs_layout(case, local_workers):
    """Fuzzer seed 9333601: an op without a sharding rule (or a custom Function) runs on
    the gathered tensor, which must be laid out as torch's (here a transpose), and so
    must the result placed back on the shards."""
    import distgrad.distributed as dist

    arr = np.arange(12.0).reshape(2, 3, 2) / 5 - 1
    mine = _described(distgrad, SHARDED_CASES[case],
                      dist.shard(distgrad.tensor(arr, requires_grad=True), 1).transpose(0, 1))
    theirs = _described(torch, SHARDED_CASES[case],
                        torch.tensor(arr, requires_grad=True).transpose(0, 1))
    assert mine[:3] == theirs[:3], (mine[:3], theirs[:3])
    assert (mine[3] is None) == (theirs[3] is None)


def _moved_and_flattened_in_place(T, where):
    # .to() lays its copy out as torch's empty_like: a slice of a transpose (not dense)
    # keeps the transpose's dim order, so flatten() copies and div_ leaves the copy as it
    # was (fuzzer seed 9994264); copy=True copies on the same device too.
    x = T.tensor(np.arange(9.0).reshape(3, 3) / 7 - 0.5, requires_grad=True)
    moved = x.t()[1:3].to(where, copy=True)
    again = moved.to(where, copy=True)
    again.mul_(2)
    moved.flatten().div_(0.5)
    return (moved.stride(), moved.grad_fn.name(), moved.detach().cpu().numpy(),
            again.stride(), again.grad_fn.name(), again.detach().cpu().numpy())


@pytest.mark.parametrize("where", ["cpu", "worker:0"])
def test_a_copy_by_to_keeps_torchs_dim_order(where, local_workers):
    mine = _moved_and_flattened_in_place(distgrad, where)
    theirs = _moved_and_flattened_in_place(torch, "cpu")
    assert [m for m in mine if not isinstance(m, np.ndarray)] == \
        [t for t in theirs if not isinstance(t, np.ndarray)]
    np.testing.assert_allclose(mine[2], theirs[2], rtol=1e-6)
    np.testing.assert_allclose(mine[5], theirs[5], rtol=1e-6)


def _head(T):
    """A custom Function returning a view of its input (the first row)."""
    class Head(T.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a[:1]

        @staticmethod
        def backward(ctx, g):
            return T.cat([g, T.zeros_like(g).expand(2, -1)], 0)
    return Head


@pytest.mark.parametrize("view", ["slice", "function"])
def test_a_view_of_a_replicated_tensor_overlapping_it_is_refused(view, local_workers):
    # A view of a sharded or replicated tensor shares its memory as torch's view does:
    # copy_ of the one into the other partly overlaps and is refused (fuzzer seed 9973575).
    import distgrad.distributed as dist

    def program(T, whole):
        first = whole[:1] if view == "slice" else _head(T).apply(whole)
        return [attempt(lambda: write(whole, first)) for write in
                (lambda a, b: a.copy_(b), lambda a, b: a.add_(b), lambda a, b: a[1:].copy_(a[:2]))]

    arr = np.arange(3.0).reshape(3, 1) / 4 - 0.2
    x = distgrad.tensor(arr, requires_grad=True)
    mine = program(distgrad, dist.replicate(x) * 2)
    theirs = program(torch, torch.tensor(arr, requires_grad=True) * 2)
    assert [type(m).__name__ for m in mine] == ["Raised"] * 3, mine
    assert [repr(m) for m in mine] == [repr(t) for t in theirs]


# ---- a leaf's .grad: torch's gradient layout contract ------------------------------------------

LEAVES = {
    "detached": lambda T, x: x.detach().requires_grad_(),
    "parameter": lambda T, x: T.nn.Parameter(x),
}
LOSSES = {
    "elementwise": lambda T, x: (x * 2).sum(),  # a gradient laid out as the leaf
    "row_major_grad": lambda T, x: (x.reshape(x.shape) * x.new_ones(x.shape)).sum(),
    "transposed_grad": lambda T, x: x.mul(x.new_ones(tuple(reversed(x.shape))).permute(
        *reversed(range(x.ndim)))).sum(),
}


def _grad_layout(T, device, inp, leaf, loss, create_graph):
    x = LEAVES[leaf](T, _inputs(T, device)[inp])
    seen = []
    for _ in range(2):  # the first gradient is stored, the second added to it
        LOSSES[loss](T, x).backward(create_graph=create_graph)
        g = x.grad
        seen.append((tuple(x.stride()), tuple(g.stride()), g.is_contiguous(),
                     type(g.grad_fn).__name__ if g.grad_fn is not None else None,
                     attempt(lambda: tuple(g.view(-1).shape)), g.detach().cpu().numpy().copy()))
        if create_graph:
            x.grad = None  # (the graph of a gradient: a fresh .grad each time)
    return seen


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True")
@pytest.mark.parametrize("create_graph", [False, True], ids=["plain", "create_graph"])
@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("leaf", sorted(LEAVES))
@pytest.mark.parametrize("where", ["cpu", "worker:0"])
@pytest.mark.parametrize("inp", ["row_major", "transposed", "permuted", "strided_slice"])
def test_a_leafs_grad_is_laid_out_as_torchs(inp, where, leaf, loss, create_graph,
                                            local_workers):
    """torch's AccumulateGrad keeps a dense leaf's strides in its .grad (and a non-dense
    leaf's .grad row-major), copying a gradient laid out otherwise (CopyBackwards when a
    graph is built); nn.Parameter keeps its data's strides. distgrad made every .grad
    row-major (so `x.grad.view(-1)` of a transposed leaf worked where torch raises) and a
    Parameter of a transpose row-major."""
    mine = _grad_layout(distgrad, where, inp, leaf, loss, create_graph)
    theirs = _grad_layout(torch, "cpu", inp, leaf, loss, create_graph)
    for m, t in zip(mine, theirs):
        assert m[:4] == t[:4], (m[:4], t[:4])
        assert type(m[4]) is type(t[4]) and (not isinstance(t[4], tuple) or m[4] == t[4])
        np.testing.assert_allclose(m[5], t[5], rtol=1e-6)


# mm and addmm give each operand's gradient the operand's layout (torch's mm_mat1_backward
# and mm_mat2_backward): a column-major operand's gradient is column-major, however it was
# made column-major (t, transpose, permute, mT, einsum, a transposed copy transposed back).
MATRIX_OPERANDS = {
    "t": lambda x: x.t(),
    "einsum": lambda x: distgrad.einsum("ij->ji", x) if isinstance(x, distgrad.Tensor)
    else torch.einsum("ij->ji", x),
    "permute": lambda x: x.permute(1, 0),
    "mT": lambda x: x.mT,
    "t_three_times": lambda x: x.t().t().t(),
    "transposed_copy": lambda x: x.t().contiguous(),
    "column_major_copy": lambda x: x.t().contiguous().t().t(),
}


@pytest.mark.parametrize("where", ["cpu", "worker:0"])
@pytest.mark.parametrize("op", ["mm", "addmm"])
@pytest.mark.parametrize("make", sorted(MATRIX_OPERANDS))
@pytest.mark.parametrize("side", ["left", "right"])
def test_a_matrix_products_operands_gradient_is_laid_out_as_it(side, make, op, where,
                                                               local_workers):
    def grads(T, device):
        x = T.arange(6.0, device=device).reshape(2, 3).requires_grad_()
        operand = MATRIX_OPERANDS[make](x)
        a, b = (operand, T.ones(operand.shape[1], 4, device=device)) if side == "left" \
            else (T.ones(4, operand.shape[0], device=device), operand)
        y = T.mm(a, b) if op == "mm" else T.addmm(T.zeros(b.shape[1], device=device), a, b)
        g_operand, g_x = T.autograd.grad((y * y).sum(), [operand, x])
        return [(tuple(g.stride()), repr(attempt(lambda: tuple(g.view(-1).shape))),
                 g.detach().cpu().numpy()) for g in (g_operand, g_x)]

    for m, t in zip(grads(distgrad, where), grads(torch, "cpu")):
        assert m[:2] == t[:2]
        np.testing.assert_allclose(m[2], t[2], rtol=1e-6)


# torch's kernels that allocate their result in the input's suggested memory format
# (a conv's in its input's or its weight's): a channels-last input stays channels-last
# through a CNN's layers, so view(N, -1) after them fails as torch's does.
CHANNELS_LAST_CASES = {
    "conv2d": lambda T, F, x: F.conv2d(x, T.ones(3, 4, 3, 3, device=x.device), padding=1),
    "conv_transpose2d": lambda T, F, x: F.conv_transpose2d(x, T.ones(4, 2, 3, 3, device=x.device), stride=2),
    "conv2d_weight_only": lambda T, F, x: F.conv2d(
        x.contiguous(),
        T.ones(3, 4, 3, 3, device=x.device).contiguous(memory_format=T.channels_last)),
    "max_pool2d": lambda T, F, x: F.max_pool2d(x, 2),
    "max_pool2d_indices": lambda T, F, x: F.max_pool2d(x, 2, return_indices=True)[1],
    "avg_pool2d": lambda T, F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True),
    "adaptive_avg_pool2d": lambda T, F, x: F.adaptive_avg_pool2d(x, 3),
    "adaptive_avg_pool2d_one": lambda T, F, x: F.adaptive_avg_pool2d(x, 1),  # (a mean)
    "adaptive_max_pool2d": lambda T, F, x: F.adaptive_max_pool2d(x, 4),
    "nearest": lambda T, F, x: F.interpolate(x, scale_factor=2),
    "bilinear": lambda T, F, x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
    "bicubic": lambda T, F, x: F.interpolate(x, size=(5, 7), mode="bicubic"),
    "batch_norm": lambda T, F, x: F.batch_norm(x, None, None, training=True),
    "group_norm": lambda T, F, x: F.group_norm(x, 2),
    "pixel_shuffle": lambda T, F, x: F.pixel_shuffle(x, 2),
    "pixel_unshuffle": lambda T, F, x: F.pixel_unshuffle(x, 2),
    "reflect_pad": lambda T, F, x: F.pad(x, (1, 1, 1, 1), mode="reflect"),
    "replicate_pad": lambda T, F, x: F.pad(x, (1, 2, 1, 0), mode="replicate"),
    "constant_pad": lambda T, F, x: F.pad(x, (1, 1, 1, 1)),
    "roll": lambda T, F, x: x.roll(1, 2),
    "cat_both": lambda T, F, x: T.cat([x, x], 1),
    "cat_mixed": lambda T, F, x: T.cat([x, x.contiguous()], 1),
    "max_pool3d": lambda T, F, x: F.max_pool3d(
        x.unsqueeze(2).contiguous(memory_format=T.channels_last_3d), (1, 2, 2)),
    "unbatched_pool": lambda T, F, x: F.max_pool2d(x[0], 2),
    "roll_flat": lambda T, F, x: x.roll(1),
    "roll_two_dims": lambda T, F, x: x.roll((1, 1), (2, 3)),
    "roll_whole_turn": lambda T, F, x: x.roll((1, 6), (2, 3)),
    "stack": lambda T, F, x: T.stack([x, x]),
    "stack_dim1": lambda T, F, x: T.stack([x, x], 1),
    "stack_last": lambda T, F, x: T.stack([x, x], -1),
    "rms_norm": lambda T, F, x: F.rms_norm(x, (6,)),
    "channel_shuffle": lambda T, F, x: F.channel_shuffle(x, 2),
    "channel_shuffle_3d": lambda T, F, x: F.channel_shuffle(x.unsqueeze(2), 2),
}


@pytest.mark.parametrize("where", ["cpu", "worker:0"])
@pytest.mark.parametrize("case", sorted(CHANNELS_LAST_CASES))
def test_a_channels_last_input_gives_torchs_layout(case, where, local_workers):
    def run(T, device):
        x = T.tensor(np.arange(288.0).reshape(2, 4, 6, 6) / 50 - 1, dtype=T.float32,
                     device=device).contiguous(memory_format=T.channels_last)
        y = CHANNELS_LAST_CASES[case](T, T.nn.functional, x)
        return y.stride(), repr(attempt(lambda: y.view(y.shape[0], -1).shape)), y.cpu().numpy()

    mine, theirs = run(distgrad, where), run(torch, "cpu")
    assert mine[:2] == theirs[:2]
    np.testing.assert_allclose(mine[2], theirs[2], rtol=1e-5, atol=1e-5)



# A 3-d conv of a channels_last_3d volume is channels-last only when mkldnn computes it: in
# float32 and bfloat16, not in float64 or float16 (slow_conv3d's row-major result).
CONV3D_CASES = {
    "conv3d": lambda T, F, x: F.conv3d(x, T.ones(3, 4, 3, 3, 3, dtype=x.dtype, device=x.device),
                                       padding=1),
    "conv_transpose3d": lambda T, F, x: F.conv_transpose3d(
        x, T.ones(4, 2, 2, 2, 2, dtype=x.dtype, device=x.device), stride=2),
}


@pytest.mark.parametrize("where", ["cpu", "worker:0"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
@pytest.mark.parametrize("case", sorted(CONV3D_CASES))
def test_a_3d_convs_layout_follows_torchs_kernel_for_its_dtype(case, dtype, where,
                                                                local_workers):
    def run(T, device):
        x = T.tensor(np.arange(240.0).reshape(2, 4, 3, 5, 2) / 100 - 1,
                     dtype=getattr(T, dtype), device=device)
        x = x.contiguous(memory_format=T.channels_last_3d).requires_grad_()
        y = CONV3D_CASES[case](T, T.nn.functional, x)
        g, = T.autograd.grad(y.sum(), x)
        return y.stride(), g.stride(), y.detach().float().cpu().numpy()

    mine, theirs = run(distgrad, where), run(torch, "cpu")
    assert mine[:2] == theirs[:2]
    np.testing.assert_allclose(mine[2], theirs[2], rtol=2e-2, atol=2e-2)

# torch's select_scatter, slice_scatter and diagonal_scatter copy self keeping its strides
# (clone_preserve_strides; a dense self's here: a non-dense one's storage is not followed)
SCATTER_CASES = {
    "select_scatter": lambda T, x: x.select_scatter(T.zeros(x.select(0, 1).shape,
                                                            device=x.device), 0, 1),
    "slice_scatter": lambda T, x: x.slice_scatter(T.zeros(x[:, 1:].shape, device=x.device),
                                                  1, 1),
    "diagonal_scatter": lambda T, x: x.diagonal_scatter(
        T.zeros(x.diagonal(0, 0, -1).shape, device=x.device), 0, 0, -1),
}


@pytest.mark.parametrize("device", ["cpu", "worker:0"])
@pytest.mark.parametrize("inp", ["row_major", "transposed", "permuted", "expanded_transpose"])
@pytest.mark.parametrize("case", sorted(SCATTER_CASES))
def test_a_region_scatter_keeps_selfs_layout(case, inp, device, local_workers):
    mine = _described(distgrad, SCATTER_CASES[case], _inputs(distgrad, device)[inp])
    theirs = _described(torch, SCATTER_CASES[case], _inputs(torch, "cpu")[inp])
    assert mine[:3] == theirs[:3]
    assert (mine[3] is None) == (theirs[3] is None)


def test_a_channels_last_prelus_gradients_are_channels_last():
    def run(T):
        x = T.tensor(np.arange(120.0).reshape(2, 3, 4, 5) / 60 - 1, dtype=T.float32)
        x = x.contiguous(memory_format=T.channels_last).requires_grad_()
        w = T.tensor([0.1, 0.2, 0.3], requires_grad=True)
        y = T.nn.functional.prelu(x, w)
        gx, gw = T.autograd.grad(y, (x, w), T.ones(y.shape), create_graph=True)
        ggx, = T.autograd.grad((gx * gx).sum() + gw.sum(), x)
        return [y.stride(), gx.stride(), gw.stride(), ggx.stride(), gx.detach().numpy()]

    mine, theirs = run(distgrad), run(torch)
    assert mine[:4] == theirs[:4]
    np.testing.assert_allclose(mine[4], theirs[4], rtol=1e-6)


# torch's mse, smooth L1 and Huber backward kernels write a row-major gradient; its
# poisson_nll_loss records target * input before exp(input) (so exp's gradient comes first)
LOSS_GRAD_CASES = {
    "mse": lambda F, x, y: F.mse_loss(x, y, reduction="none"),
    "smooth_l1": lambda F, x, y: F.smooth_l1_loss(x, y),
    "huber": lambda F, x, y: F.huber_loss(x, y, reduction="sum"),
    "poisson": lambda F, x, y: F.poisson_nll_loss(x, y, reduction="none"),
    "bce": lambda F, x, y: F.binary_cross_entropy(x.sigmoid(), y, reduction="none"),
}


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("inp", ["transposed", "permuted"])
@pytest.mark.parametrize("case", sorted(LOSS_GRAD_CASES))
def test_a_losss_gradient_is_laid_out_as_torchs(case, inp, create_graph):
    def run(T):
        x = _inputs(T, "cpu")[inp].requires_grad_()
        loss = LOSS_GRAD_CASES[case](T.nn.functional, x, T.full(x.shape, 0.5))
        g, = T.autograd.grad(loss.sum(), x, create_graph=create_graph)
        return loss.stride(), g.stride(), g.detach().numpy()

    mine, theirs = run(distgrad), run(torch)
    assert mine[:2] == theirs[:2]
    np.testing.assert_allclose(mine[2], theirs[2], rtol=1e-5, atol=1e-6)


# torch's norm_backward fills its quotient in place (x's layout kept), and a
# piecewise-constant op's gradient is zeros_like(grad) (the gradient's layout)
GRAD_LAYOUT_CASES = {
    "norm_2": lambda T, x: T.linalg.vector_norm(x, 2, dim=-1, keepdim=True),
    "norm_all": lambda T, x: x.norm(),
    "norm_1_twice": lambda T, x: x.norm(1, dim=0),
    "round": lambda T, x: x.round() * x,
    "sign": lambda T, x: x.sign() * x,
    "floor_divide": lambda T, x: T.div(x, 0.3, rounding_mode="floor") * x,
}


@pytest.mark.parametrize("inp", ["transposed", "permuted"])
@pytest.mark.parametrize("case", sorted(GRAD_LAYOUT_CASES))
def test_a_gradient_and_its_gradient_are_laid_out_as_torchs(case, inp):
    def run(T):
        x = _inputs(T, "cpu")[inp].requires_grad_()
        y = GRAD_LAYOUT_CASES[case](T, x)
        g, = T.autograd.grad((y * y).sum(), x, create_graph=True)
        g2, = T.autograd.grad((g * g).sum(), x)
        return g.stride(), g2.stride(), g.detach().numpy(), g2.numpy()

    mine, theirs = run(distgrad), run(torch)
    assert mine[:2] == theirs[:2]
    for m, t in zip(mine[2:], theirs[2:]):
        np.testing.assert_allclose(m, t, rtol=1e-5, atol=1e-5)


# torch's upsampling backward kernels: nearest, bilinear and trilinear lay the input's
# gradient out in the gradient's suggested format; bicubic and 3-d nearest row-major
INTERPOLATIONS = [("nearest", 4), ("nearest-exact", 4), ("bilinear", 4), ("bicubic", 4),
                  ("nearest", 5), ("trilinear", 5)]


@pytest.mark.parametrize("mode,ndim", INTERPOLATIONS)
def test_an_upsampling_gradient_is_laid_out_as_torchs(mode, ndim):
    def run(T):
        fmt = T.channels_last if ndim == 4 else T.channels_last_3d
        shape = (2, 3, 4, 5) if ndim == 4 else (2, 3, 2, 3, 4)
        x = T.tensor(np.arange(float(np.prod(shape))).reshape(shape) / 50, dtype=T.float32)
        x = x.contiguous(memory_format=fmt).requires_grad_()
        y = T.nn.functional.interpolate(x, scale_factor=2, mode=mode)
        return [T.autograd.grad(y, x, g, retain_graph=True)[0].stride()
                for g in (T.ones(y.shape), y.detach() * 2)]

    assert run(distgrad) == run(torch)


def _laid_out_by_to(T):
    x = T.tensor(np.arange(120.0).reshape(2, 3, 4, 5), dtype=T.float32, requires_grad=True)
    y = x.to(memory_format=T.channels_last)
    module = T.nn.Sequential(T.nn.Conv2d(3, 4, 3), T.nn.Linear(3, 2))
    module.to(memory_format=T.channels_last)
    return [y.stride(), y.grad_fn.name(), y.to(memory_format=T.channels_last) is y,
            y.to(T.float64, memory_format=T.contiguous_format).stride(), y.double().stride(),
            x.to(memory_format=T.contiguous_format) is x,
            x[..., :1].to(memory_format=T.channels_last).stride(),
            x.to(memory_format=T.channels_last, copy=True).stride(),
            [p.stride() for p in module.parameters()], module[0](y).stride(),
            repr(attempt(lambda: T.ones(3, 4).to(memory_format=T.channels_last)))]


def test_to_takes_torchs_memory_format():
    assert _laid_out_by_to(distgrad) == _laid_out_by_to(torch)


@pytest.mark.parametrize("where", ["cpu", "worker:0"])
def test_a_leaf_multiplied_through_its_transpose_keeps_its_gradient_unwritten(where,
                                                                             local_workers):
    """torch's mm_mat1_backward lays a column-major operand's gradient out column-major:
    the leaf's gradient through `x.t()` is row-major as the leaf, stored as its .grad as it
    is, never written (`_version` 0; distgrad copied it into place: 1)."""
    def grad(T, device):
        x = T.arange(6.0, device=device).reshape(2, 3).requires_grad_()
        (x.t() @ T.ones(2, 2, device=device)).sum().backward()
        return x.grad._version, tuple(x.grad.stride()), x.grad.cpu().numpy()

    mine, theirs = grad(distgrad, where), grad(torch, "cpu")
    assert mine[:2] == theirs[:2]
    np.testing.assert_allclose(mine[2], theirs[2])
