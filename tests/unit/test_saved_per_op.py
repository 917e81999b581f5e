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
