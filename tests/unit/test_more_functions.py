"""torch names programs call that distgrad lacked, against torch (torch_twin.same): torch.range,
rsub, the out-of-place fill, frexp, kl_div, nuclear_norm and frobenius_norm, get_device,
empty_permuted, convolution, embedding_bag's 4-tuple, and the Tensor methods resize,
resize_as, to_dense and prelu. Values, dtypes, grad_fn names, gradients, warnings and errors
are compared; op_cases check the new rows' finite differences and second-order gradients."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import torch

import distgrad
from torch_twin import attempt, same

A = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)


def test_range_includes_its_end_and_warns():
    same(lambda T: [
        T.range(1, 4), T.range(0, 1, 0.25), T.range(1, 4, dtype=T.int64), T.range(3, 0, -1),
        T.range(0, 1, 0.3), T.range(-1.5, 2, 0.5, dtype=T.float64),
        T.range(0, 10, 3, dtype=T.int32), T.range(0., 1., 0.1), T.range(1, 3, requires_grad=True),
        attempt(T.range, 0, 3, 0), attempt(T.range, 3, 0),
        attempt(T.range, 1, 2, dtype=T.int32, requires_grad=True),
        attempt(T.range, 0, 2, dtype=T.bool), attempt(T.range, 0, float("inf")),
        attempt(T.range, 2), T.range(1, 3, out=T.empty(3)),
        T.range(1, 3, out=T.empty(2, dtype=T.float64)),
        T.range(1, 3, out=T.empty(0, dtype=T.int64))])


def test_convolution_takes_a_batch():
    same(lambda T: [attempt(T.convolution, T.ones(2, 5), T.ones(3, 2, 2), None, [1], [0], [1],
                            False, [0], 1)])


def test_rsub_is_other_less_alpha_times_input():
    def scenario(T):
        x, y = T.tensor(A, requires_grad=True), T.tensor(A[0] * 2, requires_grad=True)
        a, b, c = T.rsub(x, 2), T.rsub(x, y), T.rsub(x, y, alpha=3)
        (a.sum() + (b * 2).sum() + (c * c).sum()).backward()
        return [a, b, c, x.grad, y.grad, T.rsub(x, 2, alpha=2),
                T.rsub(T.ones(2, dtype=T.int64), 3), T.rsub(T.ones(2, dtype=T.int64), 1.5),
                [f.name() for f, _ in c.grad_fn.next_functions],
                attempt(T.rsub, T.ones(2, dtype=T.int64), 2, alpha=1.5), attempt(T.rsub, 2, x),
                attempt(T.rsub, T.ones(2, dtype=T.bool), T.ones(2, dtype=T.bool))]

    same(scenario)



def test_an_alpha_tensor_is_a_number_only_0_dim_and_not_requiring_grad():
    """torch's argument parser takes a tensor for alpha's Number only 0-dim and without
    requires_grad (an optimizer's weight decay given as a tensor reaches add's alpha)."""
    same(lambda T: [
        T.ones(2).add(T.ones(2), alpha=T.tensor(2)), T.sub(T.ones(2), 1, alpha=T.tensor(0.5)),
        attempt(T.add, T.ones(2), T.ones(2), alpha=T.tensor([2.0])),
        attempt(T.sub, T.ones(2), T.ones(2), alpha=T.tensor(2.0, requires_grad=True)),
        attempt(T.rsub, T.ones(2), T.ones(2), alpha=T.tensor([2.0]))])

def test_fill_makes_a_new_tensor_of_the_value():
    def scenario(T):
        x, v = T.tensor(A, requires_grad=True), T.tensor(3.0, requires_grad=True)
        a, b = T.fill(x, 2.0), T.fill(x, v)
        (a.sum() + (b * 2).sum()).backward()
        return [a, b, x.grad, v.grad, len(a.grad_fn.next_functions),
                T.fill(T.ones(2, dtype=T.int32), T.tensor(2.5)),
                T.fill(T.ones(2), T.tensor(2.5, dtype=T.float64)),
                attempt(T.fill, x, T.ones(2)), attempt(T.fill, T.ones(2, dtype=T.uint8), 300)]

    same(scenario)


def test_frexp_splits_mantissa_and_exponent():
    def scenario(T):
        x = T.tensor([0., 1.5, -3, float("inf"), float("nan"), 1e-40, 7.25, -0.1],
                     requires_grad=True)
        r = T.frexp(x)
        (r[0] * T.arange(8.0)).sum().backward()
        x2 = T.tensor(A, dtype=T.float64, requires_grad=True)
        m2, e2 = x2.frexp()
        m2.sum().backward()
        return [type(r).__name__, r.mantissa, r.exponent, x.grad, m2, e2, x2.grad,
                T.frexp(T.tensor([1.5, 3.0], dtype=T.float16)),
                attempt(T.frexp, T.tensor([1, 2])), repr(T.frexp(T.tensor([0.5, 4.0]))),
                attempt(T.frexp, T.tensor([3.0, -0.25]),
                        out=(T.empty(2), T.empty(2, dtype=T.int32))),
                attempt(T.frexp, T.ones(2), out=(T.empty(2, dtype=T.float64),
                                                 T.empty(2, dtype=T.int32))),
                attempt(T.frexp, T.ones(2), out=(T.empty(2), T.empty(2)))]

    same(scenario)


def test_kl_div_at_top_level_takes_torchs_reduction_enum():
    def scenario(T):
        x = T.tensor(A, requires_grad=True).log_softmax(1)
        t = T.tensor(np.abs(A) / 3)
        outs = [T.kl_div(x, t, r) for r in (0, 1, 2)] + [
            T.kl_div(x, t.log(), 2, log_target=True)]
        sum(o.sum() for o in outs).backward()
        return outs + [attempt(T.kl_div, x, T.ones(3, 4, dtype=T.int64))]

    same(scenario)


def test_nuclear_and_frobenius_norms():
    def scenario(T):
        x = T.tensor(A, requires_grad=True)
        b = T.tensor(np.random.default_rng(1).standard_normal((2, 3, 4)), requires_grad=True)
        outs = [T.nuclear_norm(x), T.nuclear_norm(x, True), T.nuclear_norm(x, [1, 0], keepdim=True),
                T.nuclear_norm(b, [2, 0]), T.frobenius_norm(x, [0]), T.frobenius_norm(x, 1),
                T.frobenius_norm(x, [0, 1], True), T.frobenius_norm(b, [2, 0], True),
                T.frobenius_norm(x, [])]
        sum(o.sum() for o in outs).backward()
        return outs + [x.grad, b.grad, attempt(T.frobenius_norm, x, [0, 1, 1]),
                       attempt(T.nuclear_norm, x[0]), attempt(T.nuclear_norm, x, [0]),
                       attempt(T.frobenius_norm, T.ones(2, dtype=T.int64), [0])]

    same(scenario, warnings_too=False)  # (torch warns once a process: below)


def test_the_deprecated_norms_warn_once(monkeypatch):
    monkeypatch.setattr(sys.modules["distgrad.tensor"], "_warned_once", set())
    x = distgrad.ones(2, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            distgrad.nuclear_norm(x), distgrad.frobenius_norm(x, [0])
    torch_words = []
    with warnings.catch_warnings(record=True) as torch_caught:
        warnings.simplefilter("always")
        torch.nuclear_norm(torch.ones(2, 2)), torch.frobenius_norm(torch.ones(2, 2), [0])
        torch_words = [str(w.message) for w in torch_caught]
    ours = [str(w.message) for w in caught]
    assert ours == [
        "at::nuclear_norm is deprecated and it is just left for JIT compatibility. It will be "
        "removed in a future PyTorch release. Please use `linalg.matrix_norm(A, 'nuc', dim, "
        "keepdim)` instead (Triggered internally at /__w/pytorch/pytorch/aten/src/ATen/native/"
        "LinearAlgebra.cpp:3229.)",
        "at::frobenius_norm is deprecated and it is just left for JIT compatibility. It will be "
        "removed in a future PyTorch release. Please use `linalg.vector_norm(A, 2., dim, "
        "keepdim)` instead (Triggered internally at /__w/pytorch/pytorch/aten/src/ATen/native/"
        "LinearAlgebra.cpp:3175.)"]
    # (torch's come only the first time in its process)
    assert all(t in ours for t in torch_words)


def test_get_device_of_a_cpu_tensor():
    same(lambda T: [T.get_device(T.ones(2)), T.ones(2).get_device()])


def test_empty_permuted_lays_dims_out_in_the_order_given():
    def scenario(T):
        a = T.empty_permuted((2, 3, 4), (0, 2, 1))
        b = T.empty_permuted((2, 3, 4), (2, 0, 1), dtype=T.int64)
        c = T.empty_permuted((2, 0, 4), (1, 2, 0), requires_grad=True)
        return [a.stride(), a.shape, a.dtype, b.stride(), b.dtype, c.stride(), c.requires_grad,
                a._base is None, attempt(T.empty_permuted, (2, 3), (0, 0)),
                attempt(T.empty_permuted, (2, 3), (0,))]

    same(scenario)


def test_convolution_is_the_conv_or_transposed_conv_of_its_weights_dims():
    def scenario(T):
        g = np.random.default_rng(5)

        def leaf(*shape):
            return T.tensor(g.standard_normal(shape), dtype=T.float32, requires_grad=True)

        inp, w, b, w2, i2, wt = (leaf(2, 2, 7), leaf(4, 2, 3), leaf(4), leaf(2, 3, 3, 3),
                                 leaf(1, 2, 5, 5), leaf(2, 4, 3))
        outs = [T.convolution(inp, w, b, [1], [1], [1], False, [0], 1),
                T.convolution(inp, w, None, [2], [0], [2], False, [0], 1),
                T.convolution(i2, w2, None, [1, 2], [1, 0], [1, 1], True, [0, 1], 1),
                T.convolution(inp, wt, None, [2], [1], [1], True, [1], 1)]
        sum(o.sum() for o in outs).backward()
        return outs + [inp.grad, w.grad, b.grad, w2.grad, i2.grad, wt.grad]

    same(scenario, rtol=1e-4, atol=1e-5)


def _bag_weight(T):
    return T.tensor(np.random.default_rng(2).standard_normal((10, 3)), dtype=T.float32,
                    requires_grad=True)


def test_embedding_bag_gives_torchs_four_results():
    def scenario(T):
        weight, idx = _bag_weight(T), T.tensor([1, 2, 4, 5, 4, 3, 2, 9])
        offsets = T.tensor([0, 3, 5])
        res = [T.embedding_bag(weight, idx, offsets, False, mode, *more)
               for mode in (0, 1, 2) for more in [(), (False, None, False, 2)]]
        res += [T.embedding_bag(weight, idx, T.tensor([0, 3, 5, 8]), False, mode, False, None,
                                True) for mode in (0, 1, 2)]
        psw = T.tensor(np.linspace(0.1, 0.8, 8), dtype=T.float32, requires_grad=True)
        res.append(T.embedding_bag(weight, idx, offsets, False, 0, False, psw))
        sum(r[0].sum() * (i + 1) for i, r in enumerate(res)).backward()
        return [type(res[0]).__name__] + res + [
            weight.grad, psw.grad, attempt(T.embedding_bag, weight, idx.reshape(2, 4), None)]

    same(scenario)


def test_embedding_bag_with_an_empty_bag():
    # (not max mode, nor a backward: torch leaves an empty bag's max_indices unwritten, and
    # its gradients then read memory never written)
    def scenario(T):
        weight, idx = _bag_weight(T), T.tensor([1, 2, 4, 5, 4, 3, 2, 9])
        offsets = T.tensor([0, 4, 4])
        return [T.embedding_bag(weight, idx, offsets, False, mode, False, None, False, padding)
                for mode in (0, 1) for padding in (None, 2)]

    same(scenario)


def test_embedding_bag_indices_past_the_last_offset():
    # with include_last_offset torch's per-index kernels (max, or a padding_idx) take them
    # into the last bag; the fast path of sum drops them (no backward: torch's reads memory
    # it never wrote then)
    def scenario(T):
        weight, idx = _bag_weight(T), T.tensor([1, 2, 4, 5, 4, 3, 2, 9])
        offsets = T.tensor([0, 2, 6])
        res = [T.embedding_bag(weight, idx, offsets, False, mode, False, None, True, padding)
               for mode, padding in ((0, None), (0, 4), (1, 4), (2, None), (2, 4))]
        return res + [T.nn.functional.embedding_bag(idx, weight, offsets, mode="max",
                                                    include_last_offset=True)]

    same(scenario)


def test_resize_and_resize_as_out_of_place():
    def scenario(T):
        x = T.tensor(A, requires_grad=True)
        a, b, c = x.resize(2, 6), x.t().resize(12), x.resize_as(T.ones(6, 2))
        (a.sum() + (b * T.arange(12.)).sum() + (c * 3).sum()).backward()
        return [a, b, c, x.grad, attempt(x.resize, 7), attempt(x.resize, (3, 4))]

    same(scenario)


def test_to_dense_and_prelu_methods():
    def scenario(T):
        x = T.tensor(A, requires_grad=True)
        p, d, e = x.prelu(T.tensor([0.25])), x.to_dense(), x.to_dense(T.float64)
        (p.sum() + e.sum()).backward()
        return [p, d is x, e, x.grad, T.ones(2).to_dense()]

    same(scenario)
