"""Gradients of float16 and bfloat16 tensors as torch's CPU kernels compute them (bit for
bit): silu's (mish's) plain backward is its silu_backward (mish_backward) kernel, computed
in float32 and rounded once (a gradient kept to differentiate again is torch's composite
of rounded ops); mse_loss's is its scalar_t kernel, 2/N · (input - target) · grad, each step rounded; the
average pools' kernels round each output's share (the adaptive one's divided by each
window length in turn) and add the shares up in the dtype, output by output; var's and
std's are torch's var_backward, (2/(N - correction) · grad) · (x - mean), each product
rounded; an embedding's and an advanced index's are added up in the dtype, in the indices'
order, as torch's index_add_ and accumulating index_put_; glu's kernel writes sigmoid(b)
rounded, then computes both halves from it."""
from __future__ import annotations

import pytest

from torch_twin import same


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_silu_gradients(low):
    def scenario(T):
        T.manual_seed(0)
        x = (T.randn(300) * 4).to(getattr(T, low)).requires_grad_()
        g = T.randn(300).to(x.dtype)
        y = T.nn.functional.silu(x)
        plain, = T.autograd.grad(y, x, g, retain_graph=True)
        kept, = T.autograd.grad(y, x, g, create_graph=True)
        second, = T.autograd.grad(kept, x, g)
        return plain, kept, second

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_gradients(low, reduction):
    def scenario(T):
        T.manual_seed(0)
        d = getattr(T, low)
        x, y = (T.randn(60, 7).to(d).requires_grad_() for _ in range(2))
        loss = T.nn.functional.mse_loss(x, y, reduction=reduction)
        return T.autograd.grad(loss, (x, y), T.randn(loss.shape).to(d) * 3)

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_average_pool_gradients(low):
    def scenario(T):
        T.manual_seed(0)
        F, d = T.nn.functional, getattr(T, low)
        x = T.randn(2, 3, 7, 7).to(d)
        pools = (lambda t: F.avg_pool2d(t, 3, stride=2, padding=1),
                 lambda t: F.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=False),
                 lambda t: F.avg_pool2d(t, 2, ceil_mode=True, divisor_override=3),
                 lambda t: F.avg_pool1d(t[0], 3, stride=1),
                 lambda t: F.adaptive_avg_pool2d(t, (4, 3)),
                 lambda t: F.adaptive_avg_pool2d(t.contiguous(memory_format=T.channels_last), 3),
                 lambda t: F.adaptive_avg_pool1d(t[0], 4))
        grads = []
        for pool in pools:
            leaf = x.detach().requires_grad_()
            y = pool(leaf)
            grads += T.autograd.grad(y, leaf, T.randn(y.shape).to(d))
        return grads

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_var_and_std_gradients(low):
    def scenario(T):
        T.manual_seed(0)
        x = (T.randn(5, 40) * 3).to(getattr(T, low)).requires_grad_()
        outs = (x.var(1), x.var(0, keepdim=True, correction=0), x.std(), T.var_mean(x, 1)[0])
        return [T.autograd.grad(y, x, T.randn(y.shape).to(x.dtype))[0] for y in outs]

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_embedding_and_index_gradients_add_up_in_the_dtype(low):
    def scenario(T):
        T.manual_seed(0)
        d = getattr(T, low)
        w = T.randn(5, 6).to(d).requires_grad_()
        rows, cols = T.randint(0, 5, (40,)), T.randint(0, 6, (40,))
        outs = (T.nn.functional.embedding(rows.view(8, 5), w),
                T.nn.functional.embedding(rows, w, padding_idx=2), w[rows], w[rows, cols],
                w[:, cols], w[rows.view(8, 5), 1:])
        return [T.autograd.grad(y, w, T.randn(y.shape).to(d))[0] for y in outs]

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_glu_gradients(low):
    def scenario(T):
        T.manual_seed(0)
        x = (T.randn(40, 30) * 3).to(getattr(T, low)).requires_grad_()
        outs = (T.nn.functional.glu(x, 0), T.nn.functional.glu(x))
        return [T.autograd.grad(y, x, T.randn(y.shape).to(x.dtype))[0] for y in outs]

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_mish_gradients(low):
    def scenario(T):
        T.manual_seed(0)
        x = (T.randn(300) * 5).to(getattr(T, low)).requires_grad_()
        y = T.nn.functional.mish(x)
        plain, = T.autograd.grad(y, x, T.randn(300).to(x.dtype))
        return plain

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("dim", [0, 1])
def test_weight_norm_scales_in_float32_and_rounds_once(low, dim):
    def scenario(T):
        T.manual_seed(0)
        layer = T.nn.Linear(30, 20).to(getattr(T, low))
        m = T.nn.utils.parametrizations.weight_norm(layer, dim=dim)
        w = m.weight
        originals = (m.parametrizations.weight.original0, m.parametrizations.weight.original1)
        g = T.randn(w.shape).to(w.dtype)
        plain = T.autograd.grad(w, originals, g, retain_graph=True)
        kept = T.autograd.grad(w, originals, g, create_graph=True)
        return w, plain, kept

    same(scenario, rtol=0, atol=0)
