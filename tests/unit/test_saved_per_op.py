"""What each op's node saves, against torch's, op case by op case (op_cases.py): after the
forward one input or output is counted as written in place (increment_version), then the
gradients are asked for. torch's node unpacks, and so checks, every tensor it saved, whether
its gradient formula reads it or not, and saves a tensor only for the gradients that read it
(derivatives.yaml): the backward raises "modified by an inplace operation" in both or in
neither, with every input requiring grad and with each one alone.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
from op_cases import CASES, Arg
from torch_twin import attempt, graph, same
from test_ops import make_arrays

MODIFIED = "modified by an inplace operation"

# The table ops whose cases are run: the common ones and those whose saved tensors differ
# by which inputs need a gradient, by overload, or by in-place form.
OPS = {
    # elementwise, activations
    "add", "mul", "div", "pow", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "gelu",
    "silu", "clamp", "where", "lerp", "addcmul", "addcdiv", "cross", "fmod", "remainder",
    "hypot", "nextafter", "copysign", "ldexp", "sgn", "angle", "leaky_relu", "elu", "celu",
    "rrelu_with_noise",
    # reductions and order statistics
    "sum", "mean", "var", "std", "var_mean", "std_mean", "amax", "max", "max_dim", "min_dim",
    "logsumexp", "norm", "sort", "topk", "kthvalue", "mode", "median_dim", "nanmedian_dim",
    "cummax", "cummin", "softmax", "log_softmax",
    # products
    "mm", "addmm", "bmm", "mv", "dot", "vdot", "addmv", "addr", "baddbmm", "addbmm",
    "euclidean_dist",
    # losses, norms, layers
    "mse_loss", "huber_loss", "smooth_l1_loss", "nll_loss", "native_layer_norm",
    "native_batch_norm", "native_group_norm", "convolution", "scaled_dot_product_attention",
    "embedding", "embedding_bag", "max_pool2d_with_indices", "adaptive_max_pool2d",
    "avg_pool2d", "resample", "fake_quantize_per_tensor", "fake_quantize_per_channel",
    # indexing
    "gather", "index_select",
    # linear algebra
    "linalg_qr", "linalg_inv_ex", "linalg_cholesky_ex", "triangular_solve", "cholesky_solve",
    "linalg_slogdet", "linalg_householder_product", "linalg_lstsq",
}
PER_OP = 2  # cases per op (the first ones: the plainest)


def _cases():
    picked, taken = [], {}
    for case in CASES:
        if case.extra.get("workers") or not case.has_grad_inputs:
            continue
        ops = [op for op in case.covers if op in OPS and taken.get(op, 0) < PER_OP]
        if ops:
            picked.append(case)
            for op in ops:
                taken[op] = taken.get(op, 0) + 1
    return picked


def _inputs(T, case, arrays, requiring):
    out = []
    for k, (a, v) in enumerate(zip(case.args, arrays)):
        if not isinstance(a, Arg):
            out.append(v)
        elif a.kind == "f":
            out.append(T.tensor(v.astype(np.float32), requires_grad=k in requiring))
        else:
            out.append(T.tensor(v))
    return out


def _outputs(result) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _written_then_backward(T, case, arrays, requiring, written):
    """"raises", "computes" or another error's words: the gradients after `written`
    ("in"/"out", position) was counted as written in place; None when there is no such
    tensor or no gradient."""
    ins = _inputs(T, case, arrays, requiring)
    fn = case.fn if T is distgrad else case.torch_fn()
    try:
        outs = _outputs(fn(T, *ins))
    except RuntimeError as e:  # (a case asking for gradients itself: of inputs needing none)
        return f"forward: {e}"
    kind, k = written
    tensors = ins if kind == "in" else outs
    differentiable = [o for o in outs if getattr(o, "requires_grad", False)]
    if k >= len(tensors) or not hasattr(tensors[k], "shape") or not differentiable:
        return None
    T.autograd.graph.increment_version(tensors[k])
    try:
        T.autograd.grad(differentiable, [ins[i] for i in requiring],
                        [T.ones_like(o) for o in differentiable], allow_unused=True)
    except RuntimeError as e:
        return "raises" if MODIFIED in str(e) else str(e)
    return "computes"


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.id)
def test_a_write_to_what_the_node_saved_raises_as_in_torch(case):
    arrays = make_arrays(case)
    grads = [k for k, a in enumerate(case.args) if isinstance(a, Arg) and a.kind == "f" and a.grad]
    tensors = [k for k, a in enumerate(case.args) if isinstance(a, Arg)]
    n_out = len(_outputs(case.torch_fn()(torch, *_inputs(torch, case, arrays, grads))))
    differ = []
    for requiring in [tuple(grads)] + ([(k,) for k in grads] if len(grads) > 1 else []):
        for written in [("in", k) for k in tensors] + [("out", k) for k in range(n_out)]:
            theirs = _written_then_backward(torch, case, arrays, requiring, written)
            ours = _written_then_backward(distgrad, case, arrays, requiring, written)
            if ours != theirs:
                differ.append(f"{written} written, {requiring} requiring grad: torch "
                              f"{theirs}, distgrad {ours}")
    assert not differ, "\n".join(differ)


def test_a_tensor_saved_for_another_gradient_is_checked_when_its_own_is_not_asked():
    # addcdiv's node saves tensor2 whichever inputs need a gradient, and checks it when it
    # runs, even for self's gradient alone, which reads nothing: a view of a tensor written
    # in place after the forward (made under no_grad, of a tensor needing no gradient)
    got = []
    for T in (torch, distgrad):
        base = T.tensor([1.0, 2.0, 3.0, 4.0])
        w = T.tensor([0.5, -1.0, 2.0], requires_grad=True)
        with T.no_grad():
            divisor = base[1:]
        y = T.addcdiv(w, T.ones(3), divisor)
        base.mul_(2)
        try:
            y.sum().backward()
            got.append(w.grad.tolist())
        except RuntimeError as e:
            got.append(str(e))
    assert got[0] == got[1] and got[0].startswith("one of the variables needed")


WRITES_TO_WHAT_TORCH_SAVES_AS_GIVEN = {
    # x[mask]: torch's node saves the mask (distgrad runs on its indices)
    "a mask": (lambda T, x, m: x[:, m], lambda x, m: m.logical_not_()),
    "a mask and a slice": (lambda T, x, m: x[1:, m], lambda x, m: m[1:].fill_(True)),
    "a 2-d mask": (lambda T, x, m: x[m.view(1, 3).expand(2, 3)], lambda x, m: m.fill_(True)),
    # dtype=: torch's kernel casts the input it saves as given
    "prod": (lambda T, x, m: x.prod(dtype=T.float64), lambda x, m: x.mul_(2)),
    "prod along a dim": (lambda T, x, m: x.prod(1, dtype=T.float64), lambda x, m: x.mul_(2)),
    "cumprod": (lambda T, x, m: x.cumprod(1, dtype=T.float64), lambda x, m: x.mul_(2)),
    "vector_norm": (lambda T, x, m: T.linalg.vector_norm(x, dtype=T.float64),
                    lambda x, m: x.mul_(2)),
}


@pytest.mark.parametrize("name", WRITES_TO_WHAT_TORCH_SAVES_AS_GIVEN)
def test_a_write_to_an_input_torch_saves_as_given_raises_at_backward(name):
    forward, write = WRITES_TO_WHAT_TORCH_SAVES_AS_GIVEN[name]
    got = []
    for T in (torch, distgrad):
        leaf = T.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        x, mask = leaf * 1, T.tensor([True, False, True])
        y = forward(T, x, mask)
        write(x, mask)
        try:
            y.sum().backward()
            got.append(leaf.grad.tolist())
        except RuntimeError as e:
            got.append(str(e))
    assert got[0] == got[1]
    assert got[0].startswith("one of the variables needed")


def test_ops_given_a_dtype_cast_where_torch_does():
    """prod, cumprod, cumsum and vector_norm take the input as given (no ToCopyBackward0),
    and what they save is the input, as their saved-tensor hooks see it; softmax and
    log_softmax cast it first (a ToCopyBackward0 node). vector_norm refuses a dtype that
    narrows the input's."""
    def f(T):
        x = T.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        seen = []
        with T.autograd.graph.saved_tensors_hooks(
                lambda t: seen.append((str(t.dtype), tuple(t.shape))) or t, lambda t: t):
            ys = [x.prod(dtype=T.float64), x.prod(0, dtype=T.float64),
                  x.cumprod(1, dtype=T.float64), x.cumsum(0, dtype=T.float64),
                  T.linalg.vector_norm(x, dtype=T.float64), x.softmax(1, dtype=T.float64),
                  x.log_softmax(0, dtype=T.float64), T.norm(x, dtype=T.float64),
                  T.linalg.matrix_norm(x, dtype=T.float64),
                  T.linalg.matrix_norm(x, 1, dtype=T.float64)]
        narrowed = [attempt(T.linalg.vector_norm, x.double(), dtype=T.float32),
                    attempt(T.linalg.vector_norm, x, dtype=T.bfloat16),
                    attempt(T.linalg.vector_norm, T.tensor([1, 2]), dtype=T.float64)]
        return ([graph(y) for y in ys], seen, T.autograd.grad(sum(y.sum() for y in ys), x),
                narrowed)

    same(f)


def _saved_cases(T):
    """Common ops' nodes, made alike in both modules."""
    F = T.nn.functional
    x = T.tensor([[0.2, 0.7, 0.4], [0.9, 0.1, 0.5]], requires_grad=True)
    y = T.tensor([[0.3, 0.6, 0.8], [0.4, 0.2, 0.1]], requires_grad=True)
    img = T.arange(32.0).reshape(1, 2, 4, 4).requires_grad_()
    w = T.ones(3, 2, 3, 3, requires_grad=True)
    idx, picks = T.tensor([[0, 1, 0], [1, 0, 1]]), T.tensor([0, 2])
    cases = {
        "add": lambda: T.add(x, y, alpha=2), "sub": lambda: x - y, "clamp": lambda: x.clamp(0.2, 0.8),
        "mul_number": lambda: 3 * x, "div_number": lambda: x / 2.5, "pow_number": lambda: x ** 2,
        "where": lambda: T.where(x > 0.5, x, y), "leaky_relu": lambda: F.leaky_relu(x, 0.1),
        "elu": lambda: F.elu(x), "gelu": lambda: F.gelu(x, approximate="tanh"),
        "hardtanh": lambda: F.hardtanh(x, -0.5, 0.5), "sum": lambda: x.sum(),
        "sum_dim": lambda: x.sum(-1, keepdim=True), "mean": lambda: x.mean(),
        "mean_dim": lambda: x.mean(0), "var": lambda: x.var(1, unbiased=False),
        "std": lambda: x.std(), "std_correction": lambda: x.std(correction=1),
        "var_unbiased": lambda: x.var(unbiased=True), "var_no_dim": lambda: x.var(keepdim=True),
        "var_dim_none": lambda: T.var(x, None), "var_mean": lambda: T.var_mean(x, correction=1.0)[0],
        "amax": lambda: x.amax(1), "max_dim": lambda: x.max(1)[0],
        "prod_dim": lambda: x.prod(1, keepdim=True), "logsumexp": lambda: x.logsumexp(1),
        "norm": lambda: x.norm(), "vector_norm": lambda: T.linalg.vector_norm(x, 3, -1),
        "cumsum": lambda: x.cumsum(1), "cumprod": lambda: x.cumprod(0),
        "view": lambda: x.view(3, 2), "permute": lambda: img.permute(0, -1, 1, 2),
        "transpose": lambda: x.transpose(0, -1), "expand": lambda: x[:1].expand(4, 3),
        "squeeze": lambda: x.unsqueeze(0).squeeze(0), "unsqueeze": lambda: x.unsqueeze(-1),
        "select": lambda: x[1], "slice": lambda: x[:, 1:], "index": lambda: x[T.tensor([1, 0])],
        "gather": lambda: x.gather(1, idx), "scatter": lambda: x.scatter(1, idx, y),
        "scatter_add": lambda: x.scatter_add(1, idx, y),
        "index_select": lambda: x.index_select(1, T.tensor([0, 2])),
        "cat": lambda: T.cat([x, y], -1), "stack": lambda: T.stack([x, y]),
        "split": lambda: x.split(1)[0], "split_sizes": lambda: x.split([1, 2], 1)[0],
        "conv2d": lambda: F.conv2d(img, w, stride=2, padding=1),
        "max_pool2d": lambda: F.max_pool2d(img, 2, 1), "avg_pool2d": lambda: F.avg_pool2d(img, 2, 2),
        "max_pool2d_no_stride": lambda: F.max_pool2d(img, 2),
        "avg_pool2d_no_stride": lambda: F.avg_pool2d(img, 2, padding=1),
        "upsample_nearest": lambda: F.interpolate(img, scale_factor=2),
        "upsample_bilinear": lambda: F.interpolate(img, size=(3, 5), mode="bilinear"),
        "upsample_bicubic": lambda: F.interpolate(img, scale_factor=(1.5, 2), mode="bicubic",
                                                  align_corners=True),
        "upsample_linear": lambda: F.interpolate(x.unsqueeze(0), scale_factor=2, mode="linear"),
        "adaptive_avg_pool2d": lambda: F.adaptive_avg_pool2d(img, 1),
        "softmax": lambda: x.softmax(1), "log_softmax": lambda: x.log_softmax(0),
        "mse": lambda: F.mse_loss(x, y, reduction="sum"),
        "bce": lambda: F.binary_cross_entropy(x, y.detach(), reduction="none"),
        "bce_logits": lambda: F.binary_cross_entropy_with_logits(x, y, pos_weight=y.detach()),
        "nll": lambda: F.nll_loss(x, picks, ignore_index=2),
        "nll_sum": lambda: F.nll_loss(x, picks, reduction="sum"),
        "nll_none": lambda: F.nll_loss(x, picks, reduction="none"),
        "smooth_l1": lambda: F.smooth_l1_loss(x, y, beta=0.5), "huber": lambda: F.huber_loss(x, y),
        "layer_norm": lambda: F.layer_norm(x, (3,)),
        "batch_norm": lambda: F.batch_norm(x, T.zeros(3), T.ones(3), training=True),
        "batch_norm_eval": lambda: F.batch_norm(x.double(), T.zeros(3, dtype=T.float64),
                                                T.ones(3, dtype=T.float64)),
        "group_norm": lambda: F.group_norm(img, 2, eps=1e-3),
        "embedding": lambda: F.embedding(picks, x.view(3, 2), padding_idx=1),
        "mm": lambda: x @ y.t(), "mm_of_columns": lambda: x[:, 1:].t() @ y[:, :2],
        "addmm": lambda: T.addmm(x[:, :2], x, y.t()[:, :2], beta=0.5, alpha=2),
        "addcmul": lambda: T.addcmul(x, x, y, value=0.5), "addcdiv": lambda: T.addcdiv(x, x, y),
        "masked_fill": lambda: x.masked_fill(y > 0.3, 2.0), "rsub": lambda: T.rsub(x, 2, alpha=3),
        "lerp": lambda: T.lerp(x, y, 0.3), "triu": lambda: x.triu(-1), "tril": lambda: x.tril(),
        "topk": lambda: x.topk(2, largest=False)[0], "sort": lambda: x.sort(0, descending=True)[0],
        "sort_stable": lambda: x.sort(stable=True)[0], "roll": lambda: x.roll((1, -2), (0, 1)),
        "roll_flat": lambda: x.roll(2), "flip": lambda: x.flip(-1),
        "diagonal": lambda: img.diagonal(1, -1, 2), "unbind": lambda: x.unbind(-1)[0],
        "unfold": lambda: x.unfold(-1, 2, 1), "repeat": lambda: x.repeat(1, 2, 1),
        "as_strided": lambda: x.as_strided((2, 2), (1, 2), 1),
        "as_strided_no_offset": lambda: x.as_strided((2, 2), (1, 2)),
        "pad": lambda: F.pad(x, (1, 1, 2, 0)), "scatter_value": lambda: x.scatter(-1, idx, 2.0),
        "index_put": lambda: x.index_put((picks[:1], picks), T.tensor(1.0), accumulate=True),
        "index_put_rows": lambda: x.index_put((picks[:1],), T.tensor(1.0)),
        "index_columns": lambda: x[:, T.tensor([2, 0])],
        "slice_negative": lambda: x[-1:], "slice_past_the_end": lambda: x[:, 1:100:2],
        "slice_before_the_start": lambda: x[-100:1], "narrow": lambda: x.narrow(1, -2, 2),
    }
    return {name: make().grad_fn for name, make in cases.items()}


# torch's saved attributes distgrad does not keep: layer_norm's statistics, kept in float64
# for its backward.
UNKEPT = {"layer_norm._saved_result1", "layer_norm._saved_result2"}


def _shown(v):
    if hasattr(v, "dtype"):
        return ("tensor", str(v.dtype), tuple(v.shape))
    if isinstance(v, (list, tuple)) and any(hasattr(e, "dtype") for e in v):
        return type(v)(_shown(e) for e in v)
    return v


def test_what_common_nodes_save_reads_as_in_torch():
    """grad_fn._saved_<name>, for each name torch's node has: the dims, sizes, flags and
    numbers its codegen keeps (negative int64s shown unsigned; a number operand as the 0-dim
    tensor torch wraps it in; what the call gave, a pool's stride none), and the saved
    tensors' dtypes and shapes (the norms' statistics in the input's dtype, batch norm's
    running statistics)."""
    theirs, ours = _saved_cases(torch), _saved_cases(distgrad)
    differ = []
    for name, node in theirs.items():
        for attr in sorted(a for a in dir(node) if a.startswith("_saved_") and a not in UNKEPT
                           and f"{name}.{a}" not in UNKEPT):
            want = _shown(getattr(node, attr))
            got = _shown(getattr(ours[name], attr, "missing"))
            if want != got:
                differ.append(f"{name}.{attr}: torch {want!r}, distgrad {got!r}")
    assert not differ, "\n".join(differ)


# What dir(grad_fn) lists otherwise than torch's: the raw form of index tensors kept as a list
# and of nll_loss's total weight (not a saved tensor here).
DIR_TORCH_ONLY = {"_raw_saved_indices", "_raw_saved_total_weight"}
# Names a node might answer for an input or output by another of torch's names.
ALIASES = [f"_{raw}saved_{key}" for raw in ("", "raw_") for key in (
    "self", "input", "other", "exponent", "mat2", "vec", "target", "index", "condition",
    "weight", "pos_weight", "end", "result", "result1", "indices")]


def test_dir_of_a_node_lists_its_saved_attributes_as_torchs():
    """dir(grad_fn) lists a `_saved_<name>` and a `_raw_saved_<name>` for what the node
    keeps, by torch's names (one for each input: no other name that reads the same), none
    of its own slots named like them, and every one it lists reads; a name torch's node
    refuses, ours refuses too."""
    theirs, ours = _saved_cases(torch), _saved_cases(distgrad)
    differ = []
    for name, node in theirs.items():
        want, got = ({a for a in dir(n) if a.startswith(("_saved", "_raw"))}
                     for n in (node, ours[name]))
        assert all(hasattr(ours[name], a) for a in got), name
        differ += [f"{name}: torch's {a}" for a in want - got if a not in DIR_TORCH_ONLY]
        differ += [f"{name}: our {a}" for a in got - want]
        differ += [f"{name}: {a} answered by one only" for a in ALIASES
                   if hasattr(node, a) != hasattr(ours[name], a) and a not in DIR_TORCH_ONLY]
    assert not differ, "\n".join(differ)
