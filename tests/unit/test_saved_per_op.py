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
