"""bfloat16 as torch has it: the dtype's names and limits, casts rounded to nearest even
(bit for bit), promotion, factories, printing, each op family's result dtype and values
(elementwise ones bit for bit, products and reductions to bfloat16's precision), the
kernels torch has none for refused with its words, autograd in bfloat16, modules, and
checkpoints, each against torch."""
from __future__ import annotations

import io
import itertools
import warnings

import numpy as np
import pytest
import torch

import distgrad
from op_cases import CASES, Arg
from test_more_dtypes import BINARY, REDUCTIONS, UNARY
from test_ops import _grad_positions, _outputs, _randoms, make_arrays
from torch_twin import attempt, same

ALL = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
       "float64"]
BF16_TOL = dict(rtol=1.6e-2, atol=1e-2)  # a few of bfloat16's ulps (eps 2**-7)


def _values(T):
    return T.tensor([1.5, -2.25, 0.1, 60000.0], dtype=T.bfloat16)


def _bits(t) -> list:
    """A bfloat16 tensor's 16-bit patterns (its values exactly, -0.0 and nan's sign too)."""
    T = torch if isinstance(t, torch.Tensor) else distgrad
    return t.detach().contiguous().view(T.int16).tolist()


def same_bits(fn):
    """fn(T) returns bfloat16 tensors (or a tuple of them): each bit equal to torch's."""
    def bits(T):
        out = fn(T)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [(str(t.dtype), tuple(t.shape), _bits(t)) for t in outs]

    assert bits(distgrad) == bits(torch)


# ---- the dtype ----------------------------------------------------------------------------------

def test_the_dtype_is_torchs():
    d, t = distgrad.bfloat16, torch.bfloat16
    assert repr(d) == repr(t) == "torch.bfloat16"
    assert (d.is_floating_point, d.is_signed, d.itemsize) == (t.is_floating_point, t.is_signed,
                                                               t.itemsize)


def test_finfo_type_names_and_sizes():
    def scenario(T):
        info = T.finfo(T.bfloat16)
        x = _values(T)
        return (info.bits, info.eps, info.max, info.min, info.tiny, info.smallest_normal,
                info.resolution, repr(info), x.type(), x.element_size(), x.itemsize, x.nbytes,
                T.is_floating_point(x), T.typename(x), x.is_signed())

    same(scenario, rtol=0, atol=0)


def test_conversion_methods_and_names():
    def scenario(T):
        x = T.tensor([1.7, -1.7, 300.0, -129.0, 0.5])
        return (x.bfloat16(), x.to(T.bfloat16), x.type(T.bfloat16), x.type("torch.BFloat16Tensor"),
                x.to(dtype=T.bfloat16).dtype, x.bfloat16().float(), x.bfloat16().half())

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("maker", ["zeros", "ones", "full", "arange", "arange_frac", "empty",
                                   "eye", "zeros_like", "full_like", "linspace", "tensor",
                                   "tensor_list", "rand", "randn", "randint", "normal_"])
def test_factories_take_the_dtype(maker):
    def scenario(T):
        d = T.bfloat16
        T.manual_seed(0)
        return {
            "zeros": lambda: T.zeros(2, 3, dtype=d), "ones": lambda: T.ones(3, dtype=d),
            "full": lambda: T.full((2,), 0.1, dtype=d), "arange": lambda: T.arange(5, dtype=d),
            "arange_frac": lambda: T.arange(-3, 70.5, 0.37, dtype=d),
            "empty": lambda: T.empty(2, dtype=d).dtype, "eye": lambda: T.eye(3, dtype=d),
            "zeros_like": lambda: T.zeros_like(T.ones(2), dtype=d),
            "full_like": lambda: T.full_like(_values(T), 3.3),
            "linspace": lambda: T.linspace(-1.3, 1000, 77, dtype=d),
            "tensor": lambda: T.tensor(0.3, dtype=d),
            "tensor_list": lambda: T.tensor([[1, 2.7], [1e-3, -5e4]], dtype=d),
            "rand": lambda: T.rand(5, dtype=d), "randn": lambda: T.randn(5, dtype=d),
            "randint": lambda: T.randint(0, 300, (5,), dtype=d),
            "normal_": lambda: T.empty(5, dtype=d).normal_(),
        }[maker]()

    same(scenario, rtol=0, atol=0)


def test_ranges_are_torchs_bit_for_bit():
    same_bits(lambda T: tuple(
        [T.arange(a, b, s, dtype=T.bfloat16) for a, b, s in
         [(0, 5, 1), (0.1, 100.3, 0.7), (-3, 7.5, 0.013), (1, 1000, 1.1), (-50.5, 50, 0.1)]]
        + [T.linspace(a, b, n, dtype=T.bfloat16) for a, b, n in
           [(0, 10, 7), (0.1, 100.3, 77), (-3, 7.5, 1000), (-1e3, 1e3, 500), (0.3, 0.31, 100)]]))


# ---- casts --------------------------------------------------------------------------------------

@pytest.mark.parametrize("other", [n for n in ALL if n != "bfloat16"])
def test_casts_to_and_from_each_dtype(other):
    """To bfloat16 rounds to nearest even (through float32, as c10::BFloat16 is made); from
    it, float to integer truncates and wraps as torch's CPU casts."""
    def scenario(T):
        x = T.tensor([1.7, -1.7, 300.5, -129.0, 70000.0, 0.0, 3e9, -3e9, 1.00390625, 257.0],
                     dtype=T.float64)
        x = x.abs() if other in ("uint8", "bool") else x
        return x.to(getattr(T, other)).to(T.bfloat16), x.to(T.bfloat16).to(getattr(T, other))

    same(scenario, rtol=0, atol=0)


def test_rounding_to_nearest_even_bit_for_bit():
    rng = np.random.default_rng(5)
    f = rng.standard_normal(4000).astype(np.float32) * np.float32(10.0) ** rng.integers(
        -40, 38, 4000).astype(np.float32)
    halfway = (np.array([1.0, 3.0, -5.0], np.float32).view(np.uint32) + 0x8000).view(np.float32)
    special = np.array([np.inf, -np.inf, 3.3895e38, 3.4e38, -0.0, 1e-40, 9.2e-41, 65504.0],
                       np.float32)
    values = np.concatenate([f, halfway, special])
    # doubles just above a half-way point: c10::BFloat16 rounds the float first (to the
    # half-way point itself), then to even
    h = values[:200].astype(np.float64)
    near = h * (1 + 2.0 ** -8 + 2.0 ** -40)

    def scenario(T):
        a, b = T.tensor(values), T.tensor(near)
        return (a.bfloat16(), a.to(T.bfloat16), b.bfloat16(), T.tensor(near.tolist(), dtype=T.bfloat16),
                T.tensor(near, dtype=T.bfloat16), a.half().bfloat16(), T.tensor(values, dtype=T.bfloat16))

    same_bits(scenario)


def test_view_reinterprets_the_bits():
    def scenario(T):
        x = _values(T)
        i = T.tensor([16256, -16320, 32640, 1], dtype=T.int16)
        return (x.view(T.int16), i.view(T.bfloat16), x.view(T.float16), x.view(T.uint8),
                x.reshape(2, 2).view(T.int32), attempt(x.view, T.float32),
                attempt(x[:3].view, T.int32))

    same(scenario, rtol=0, atol=0)


def test_numpy_has_no_bfloat16():
    def scenario(T):
        x = _values(T)
        return attempt(x.numpy), attempt(np.asarray, x), x.tolist(), x[1].item(), \
            type(x[1].item()).__name__, float(x[0]), int(x[3]), bool(x[2])

    same(scenario, rtol=0, atol=0)


# ---- promotion ----------------------------------------------------------------------------------

@pytest.mark.parametrize("other", ALL)
def test_promotion(other):
    def scenario(T):
        da, db = T.bfloat16, getattr(T, other)
        x, y = T.ones(2, dtype=da), T.ones(2, dtype=db)
        return (T.promote_types(da, db), T.promote_types(db, da), T.result_type(x, y),
                T.result_type(x, T.ones((), dtype=db)), T.result_type(y, T.ones((), dtype=da)),
                T.result_type(x, 2), T.result_type(x, 2.5), T.result_type(x, True),
                T.can_cast(da, db), T.can_cast(db, da), (x + y).dtype, (y * x).dtype,
                T.cat([x, y]).dtype, T.stack([x, y]).dtype, T.where(x > 0, x, y).dtype)

    same(scenario)


# ---- ops ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_ops(op):
    def scenario(T):
        a, b = _values(T), T.tensor([2, 3, 5, 7], dtype=T.bfloat16)
        return (attempt(BINARY[op], a, b), attempt(BINARY[op], a, T.tensor([2, 3, 5, 7])),
                attempt(BINARY[op], a, b.float()))

    same(scenario, **BF16_TOL)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_ops(op):
    same(lambda T: attempt(UNARY[op], _values(T)), **BF16_TOL)


@pytest.mark.parametrize("op", sorted(REDUCTIONS))
def test_reductions(op):
    same(lambda T: attempt(REDUCTIONS[op], _values(T)), **BF16_TOL)


# Elementwise ops torch computes in float32 and rounds once: distgrad's bits are torch's.
EXACT = {
    "add": lambda T, a, b: a + b, "sub": lambda T, a, b: a - b, "mul": lambda T, a, b: a * b,
    "div": lambda T, a, b: a / b, "add_alpha": lambda T, a, b: T.add(a, b, alpha=0.3),
    "add_number": lambda T, a, b: a + 0.1, "mul_number": lambda T, a, b: a * 1.7,
    "rsub": lambda T, a, b: 1 - a, "neg": lambda T, a, b: -a, "abs": lambda T, a, b: a.abs(),
    "exp": lambda T, a, b: a.exp(), "log": lambda T, a, b: a.abs().log(),
    "sqrt": lambda T, a, b: a.abs().sqrt(), "sigmoid": lambda T, a, b: a.sigmoid(),
    "tanh": lambda T, a, b: a.tanh(), "sin": lambda T, a, b: a.sin(), "relu": lambda T, a, b: a.relu(),
    "silu": lambda T, a, b: T.nn.functional.silu(a), "square": lambda T, a, b: a.square(),
    "reciprocal": lambda T, a, b: a.reciprocal(), "pow2": lambda T, a, b: a ** 2,
    "pow_half": lambda T, a, b: a.abs() ** 0.5, "maximum": lambda T, a, b: a.maximum(b),
    "clamp": lambda T, a, b: a.clamp(-0.5, 0.7), "where": lambda T, a, b: T.where(a > b, a, b),
    "lerp": lambda T, a, b: a.lerp(b, 0.25), "addcmul": lambda T, a, b: a.addcmul(b, b, value=0.5),
    "mixed_float32": lambda T, a, b: a + b.float(), "int_operand": lambda T, a, b: a * 3,
    "floor": lambda T, a, b: (a * 10).floor(), "round": lambda T, a, b: (a * 10).round(),
    "add_": lambda T, a, b: a.clone().add_(b), "mul_": lambda T, a, b: a.clone().mul_(0.3),
    "copy_": lambda T, a, b: a.clone().copy_(b.double() / 3),
    "masked_fill": lambda T, a, b: a.masked_fill(a > 0, 0.1),
    "sum": lambda T, a, b: a.sum(1), "mean": lambda T, a, b: a.mean(0),
    "amax": lambda T, a, b: a.amax(1), "cumsum": lambda T, a, b: a.cumsum(1),
    "softmax": lambda T, a, b: a.softmax(1), "cat": lambda T, a, b: T.cat([a, b]),
}


@pytest.mark.parametrize("op", sorted(EXACT))
def test_elementwise_ops_bit_for_bit(op):
    # (whole runs of two AVX2 vectors: torch's scalar tail of add with alpha rounds alpha * b
    # to bfloat16 first, distgrad does not)
    rng = np.random.default_rng(sorted(EXACT).index(op))
    a = rng.standard_normal((6, 64)).astype(np.float32)
    b = rng.standard_normal((6, 64)).astype(np.float32)
    same_bits(lambda T: EXACT[op](T, T.tensor(a).bfloat16(), T.tensor(b).bfloat16()))


def test_sums_and_products_accumulate_in_float32():
    def scenario(T):
        x = T.full((3000,), 1.1, dtype=T.bfloat16)
        m = (T.arange(600.0).reshape(20, 30) / 97).bfloat16()
        return (x.sum(), x.mean(), x.cumsum(0)[-1], x @ x, m @ m.t(), T.mm(m, m.t()),
                T.bmm(m[None], m.t()[None]), T.addmm(m[:, :20], m, m.t()[:, :20]),
                T.nn.functional.linear(m, m[:7], m[0, :7]), m.norm(), m.var(1))

    same(scenario, **BF16_TOL)


def test_matmul_family():
    def scenario(T):
        a = (T.arange(24.0).reshape(2, 3, 4) / 7 - 1).bfloat16()
        b = (T.arange(40.0).reshape(2, 4, 5) / 9 - 2).bfloat16()
        return (a @ b, T.matmul(a[0], b[0]), T.bmm(a, b), T.baddbmm(a @ b, a, b, alpha=0.5),
                T.addbmm((a @ b)[0], a, b), a[0] @ b[0, :, 0], T.dot(a[0, 0], b[0, :, 0]),
                T.einsum("bij,bjk->bik", a, b), attempt(T.mm, a[0], b[0].float()),
                attempt(T.mm, a[0], b[0].half()), T.tensordot(a, b, dims=([2], [1])))

    same(scenario, **BF16_TOL)


def test_layers():
    def scenario(T):
        F = T.nn.functional
        T.manual_seed(0)
        x = T.randn(2, 3, 8, 8).bfloat16()
        w = T.randn(4, 3, 3, 3).bfloat16()
        v = T.randn(2, 5, 16).bfloat16()
        return (F.conv2d(x, w, padding=1), F.conv1d(v, T.randn(4, 5, 3).bfloat16()),
                F.layer_norm(v, (16,)), F.rms_norm(v, (16,)), F.group_norm(x, 1),
                F.batch_norm(x, None, None, training=True), F.gelu(v), F.softmax(v, -1),
                F.log_softmax(v, -1), F.max_pool2d(x, 2), F.avg_pool2d(x, 2),
                F.adaptive_avg_pool2d(x, 1), F.dropout(v, 0.0), F.embedding(
                    T.tensor([[0, 2]]), v[0]),
                F.scaled_dot_product_attention(v[None], v[None], v[None]),
                F.scaled_dot_product_attention(v[None], v[None], v[None], dropout_p=0.0,
                                               is_causal=True),
                F.cross_entropy(v[:, :, 0], T.tensor([1, 3])), F.mse_loss(v, v * 0.5),
                F.interpolate(x, scale_factor=2, mode="bilinear"), F.pad(x, (1, 1, 1, 1), mode="reflect"))

    same(scenario, rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_batch_norm_running_statistics_of_a_low_float_batch(low):
    """torch's CPU kernel takes a float16/bfloat16 batch's statistics in float32 and moves
    float32 running statistics (autocast's mixed call) and float16 ones by float32's
    arithmetic, bfloat16 ones by bfloat16's (rounding the batch mean, the momentum and
    each product): not from the batch's rounded mean and variance."""
    def scenario(T):
        T.manual_seed(0)
        d = getattr(T, low)
        x = (T.randn(6, 8) * 3 + 1).to(d)
        images = T.randn(4, 3, 5, 5).to(d)
        mixed = T.zeros(8), T.ones(8)
        own = T.zeros(8, dtype=d), T.ones(8, dtype=d)
        norm = T.nn.BatchNorm2d(3)
        for _ in range(3):
            T.nn.functional.batch_norm(x, *mixed, training=True, momentum=0.1)
            T.nn.functional.batch_norm(x, *own, training=True, momentum=0.3)
            norm(images)
        return mixed, own, norm.running_mean, norm.running_var

    same(scenario, rtol=1e-6, atol=1e-7)  # (float32 sums in another order: an ulp)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_batch_norm_of_a_low_float_batch_with_parameters_of_its_dtype(low):
    """torch's float16/bfloat16 kernel keeps the batch's mean and 1/std in that dtype and
    gives x * alpha + beta (alpha, beta from those in float32): a bfloat16 (half) model's
    BatchNorm."""
    def scenario(T):
        T.manual_seed(0)
        results = []
        for shape in ((16, 8), (4, 3, 5, 5), (5, 4, 7)):
            norm = T.nn.BatchNorm1d(shape[1]) if len(shape) < 4 else T.nn.BatchNorm2d(shape[1])
            norm = norm.to(getattr(T, low))
            with T.no_grad():
                norm.weight.copy_(T.rand(shape[1]) + 0.5)
                norm.bias.copy_(T.randn(shape[1]))
            x = (T.randn(*shape) * 2 + 0.5).to(getattr(T, low)).requires_grad_()
            out = norm(x)
            (out.float() ** 2 * T.linspace(0, 1, out.numel()).reshape(shape)).sum().backward()
            bare = T.nn.functional.batch_norm(x.detach(), None, None, training=True)
            results += [out, bare, x.grad, norm.weight.grad, norm.bias.grad]
        return results

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_target_gradient_adds_its_terms_in_torchs_order(low, log_target):
    """torch's kl_div is a composite whose C++ expression makes target * input before
    xlogy(target, target): the backward runs their nodes the other way round, and a
    float16/bfloat16 target's gradient is the sum of its terms rounded in that order."""
    def scenario(T):
        out = []
        for reduction in ("mean", "batchmean", "none"):
            T.manual_seed(5)
            logits = T.randn(8, 33).to(getattr(T, low)).requires_grad_()
            raw = T.randn(8, 33).to(logits.dtype).requires_grad_()
            target = raw.log_softmax(-1) if log_target else raw.softmax(-1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loss = T.nn.functional.kl_div(logits.log_softmax(-1), target,
                                              reduction=reduction, log_target=log_target)
            loss.float().sum().backward()
            out += [loss, raw.grad, logits.grad]
        return out

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_prelu_weight_gradient_sums_products_rounded_to_the_input_dtype(low):
    """torch's prelu backward kernel gives the weight's gradient term x·g of each element in
    the input's dtype, and the engine sums them down to the weight's shape (in float32): a
    sum of the unrounded products differs in the last bits of a float16/bfloat16 weight."""
    def scenario(T):
        out = []
        for shape, channels in (((4, 3, 5), 3), ((2, 3, 6, 6), 3), ((64,), 1)):
            T.manual_seed(2)
            x = T.randn(*shape).to(getattr(T, low)).requires_grad_()
            w = (T.rand(channels) * 0.5).to(x.dtype).requires_grad_()
            y = T.nn.functional.prelu(x, w)
            (y.float() * T.linspace(-1, 1, y.numel()).reshape(shape)).sum().backward()
            out += [y, x.grad, w.grad]
        return out

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_layer_norm_of_a_low_float_input_as_torchs_kernel(low):
    """torch's float16/bfloat16 layer norm saves each row's mean (its float32 Welford mean,
    which a row of low-precision values often has halfway between two of the dtype's
    numbers) and rstd in the parameters' dtype, takes the input gradient from those, and
    adds each row's weight and bias gradient terms into a buffer of the input's dtype
    (single-threaded: one buffer); a mixed call (float32 parameters) rounds the buffer too."""
    def scenario(T):
        T.manual_seed(0)
        threads = T.get_num_threads()
        T.set_num_threads(1)
        results = []
        try:
            for width, mixed in ((8, False), (21, False), (40, False), (300, False), (12, True)):
                x = (T.randn(6, 3, width) * 2 + 0.5).to(getattr(T, low)).requires_grad_()
                params = [T.rand(width) + 0.5, T.randn(width)]
                if not mixed:
                    params = [p.to(x.dtype) for p in params]
                w, b = (p.requires_grad_() for p in params)
                out = T.nn.functional.layer_norm(x, (width,), w, b)
                (out.float() * T.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
                results += [out, x.grad, w.grad, b.grad]
        finally:
            T.set_num_threads(threads)
        return results

    # (float16's input gradient: torch's float32 arithmetic, an ulp from a float64 one)
    same(scenario, rtol=0 if low == "bfloat16" else 1e-3, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_prod_rounds_each_product_to_the_low_dtype(low):
    """torch multiplies float16/bfloat16 values in their dtype, each product rounded: one at
    a time in memory order, or over a contiguous run of four vectors or more by four vector
    accumulators, then their lanes, then the rest."""
    def scenario(T):
        T.manual_seed(0)
        results = []
        for shape in ((4, 10), (3, 100), (2, 200)):
            x = (T.randn(*shape) * 1.2).to(getattr(T, low)).requires_grad_()
            y = x.prod(-1)
            y.backward(T.linspace(-1, 1, y.numel()).to(y.dtype))
            results += [y, x.grad, x.prod(0), x.t().prod(0, keepdim=True), x[:, :3].prod()]
        return results

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_log_softmax_over_the_last_dim_rounds_its_sums(low):
    """torch's log_softmax kernel for the last dim keeps each row's sum of exponentials and
    its log in the input's dtype; over another dim, and the backwards, compute in float32
    and round once (a bfloat16 classifier's cross_entropy)."""
    def scenario(T):
        T.manual_seed(0)
        d = getattr(T, low)
        results = []
        for shape in ((32, 2), (7, 33), (3, 4, 70)):
            x = (T.randn(*shape) * 3).to(d).requires_grad_()
            g = T.randn(*shape).to(d)
            last, first = T.log_softmax(x, -1), T.log_softmax(x, 0)
            soft = T.softmax(x, -1)
            grads = T.autograd.grad((last, first, soft), x, (g, g, g))
            results += [last, first, soft, grads[0], T.log_softmax(x.detach().float(), -1, dtype=d)]
        return results

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_logsumexp_rounds_each_step_as_torchs_composite(low):
    """torch's logsumexp is composed of ops: x - max, exp, the sum (accumulated in float32),
    log and the max added back each round to the input's dtype (a bfloat16 Categorical's
    normalized logits and entropy)."""
    def scenario(T):
        T.manual_seed(0)
        d = getattr(T, low)
        x = (T.randn(300, 3, 5) * 3).to(d)
        x[0, 0, 0], x[1, :, 2], x[2, 1, 1] = float("-inf"), float("-inf"), float("inf")
        c = T.distributions.Categorical(logits=x[:, 0])
        return ([x.logsumexp(dim) for dim in (-1, 0, (0, 2))] + [x.logsumexp(1, keepdim=True)]
                + [c.logits, c.entropy()])

    same(scenario, rtol=0, atol=0)


def test_logsumexp_over_no_dims_refuses_as_torch():
    """dim=() reduces every dim, and torch's in-place add of the kept max then cannot
    broadcast (unless keepdim, or the input is 0-dim)."""
    def scenario(T):
        x = T.tensor([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
        return (attempt(T.logsumexp, x, ()), attempt(T.logsumexp, x[0], []),
                T.logsumexp(x, (), keepdim=True), T.logsumexp(T.tensor(2.0), ()))

    same(scenario)


def test_isclose_of_bfloat16_tensors():
    def scenario(T):
        a = T.tensor([1.0, 1.001, 2.0, float("nan")], dtype=T.bfloat16)
        b = T.tensor([1.0, 1.0, 2.01, float("nan")], dtype=T.bfloat16)
        return (T.isclose(a, b), T.isclose(a, b, equal_nan=True), T.isclose(a, b, atol=0.01),
                T.allclose(a[:2], b[:2]))

    same(scenario)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_nll_loss_adds_in_the_inputs_dtype_as_torch(low):
    """torch's nll_loss kernel sums a float16/bfloat16 batch's losses (and weights) in that
    dtype, rounding each step, over eight cascade levels: a low-precision classifier's
    cross_entropy is that sum, not the float32 one rounded once."""
    def scenario(T):
        T.manual_seed(0)
        F, d = T.nn.functional, getattr(T, low)
        results = []
        for n in (7, 17, 300, 2000):
            logp = T.randn(n, 5).log_softmax(1).to(d)
            target = T.randint(0, 5, (n,))
            target[3::7] = -100
            for weight in (None, T.rand(5).to(d)):
                results += [F.nll_loss(logp, target, weight=weight, reduction=r)
                            for r in ("mean", "sum")]
        images = T.randn(2, 4, 3, 5).to(d)
        labels = T.randint(0, 4, (2, 3, 5))
        labels[0, 0] = -100
        return results + [F.cross_entropy(images, labels), F.nll_loss(logp[:3], T.full((3,), -100)),
                          F.cross_entropy(images[:, :, 0], labels[:, 0], label_smoothing=0.2)]

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_nll_loss_gradient_divides_by_the_forwards_total_weight(low):
    """A weighted mean's gradient, -w·g / total, takes the total weight the forward added
    in the input's dtype (its cascade), not the float32 sum of the weights rounded once."""
    def scenario(T):
        T.manual_seed(0)
        F, d = T.nn.functional, getattr(T, low)
        results = []
        for n in (3, 40, 300):
            x = (T.randn(n, 12) * 1.5).to(d).requires_grad_()
            target = T.randint(0, 12, (n,))
            target[2::9] = -100
            weight = T.rand(12).to(d)
            F.cross_entropy(x, target, weight=weight).backward()
            results += [x.grad]
        return results

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_add_with_an_alpha_rounds_the_scalar_loops_product(low):
    """torch's x86 add/sub kernel with an alpha computes a ± alpha·b in float32 two vectors
    (32 float16/bfloat16 elements) at a time; the elements after the last pair go through its
    scalar loop, which rounds alpha·b to the dtype first: SGD's step of a bfloat16 model's
    16-element bias is that loop's alone."""
    def scenario(T):
        T.manual_seed(0)
        d = getattr(T, low)
        results = []
        for n in (16, 31, 32, 48, 100, 130):
            p = (T.randn(n) * 1e-3).to(d)
            g = (T.randn(n) * 1e-2).to(d)
            results += [p.clone().add_(g, alpha=0.1), p.clone().sub_(g, alpha=0.1),
                        T.add(p, g, alpha=-0.3), T.sub(p, g.reshape(p.shape), alpha=2), p + g]
        q = (T.randn(40) * 1e-2).to(d).requires_grad_()
        opt = T.optim.SGD([q], lr=0.1, momentum=0.9, weight_decay=0.01)
        for _ in range(3):
            q.grad = (T.randn(40) * 0.1).to(d)
            opt.step()
        return results + [q]

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_rsqrt_rounds_the_scalar_loops_root(low):
    """torch's x86 rsqrt computes 1/sqrt(x) in float32 two vectors at a time; the elements
    after the last pair go through its scalar loop, whose float16/bfloat16 sqrt rounds the
    root before the division: an RMSNorm written as x * rsqrt(mean(x²) + eps)."""
    def scenario(T):
        T.manual_seed(0)
        d = getattr(T, low)
        results = []
        for n in (7, 32, 45, 1000):
            x = (T.rand(n) * 3 + 0.01).to(d)
            results += [x.rsqrt(), x.clone().rsqrt_()]
        h = T.randn(4, 24).to(d)
        return results + [h * T.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6)]

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("options", [dict(), dict(weight_decay=0.1), dict(maximize=True),
                                     dict(weight_decay=0.05, decoupled_weight_decay=True)])
def test_adam_steps_a_low_precision_parameter_as_torch(low, options):
    """torch's Adam runs its update as ops, each rounding to the parameter's dtype (lerp,
    mul, addcmul, sqrt, the division, the eps, addcdiv; the L2 term by add): distgrad's one
    update op rounds where they do."""
    def scenario(T):
        T.manual_seed(0)
        q = (T.randn(70) * 0.1).to(getattr(T, low)).requires_grad_()
        opt = T.optim.Adam([q], lr=0.01, **options)
        for _ in range(3):
            q.grad = (T.randn(70) * 0.1).to(q.dtype)
            opt.step()
        return q, opt.state[q]["exp_avg"], opt.state[q]["exp_avg_sq"]

    same(scenario, rtol=0, atol=0)


def test_printing():
    def scenario(T):
        x = _values(T)
        return (repr(x), repr(x[0]), repr(x[:0]), repr(x.reshape(2, 2)), str(x),
                repr(T.tensor([1.0, 2.0], dtype=T.bfloat16)),
                repr(T.tensor([1e-3, 1.0, 100.0], dtype=T.bfloat16)),
                repr(T.tensor([1.2345, 100.5, -3.1, 1e-5], dtype=T.bfloat16)),
                repr(T.tensor([1.5], dtype=T.bfloat16, requires_grad=True) * 2),
                repr(T.arange(2000, dtype=T.bfloat16)), repr(T.zeros(0, 3, dtype=T.bfloat16)),
                repr(T.tensor([float("nan"), float("inf"), -0.0], dtype=T.bfloat16)))

    same(scenario)


def test_bfloat16_as_the_default_dtype():
    def scenario(T):
        T.set_default_dtype(T.bfloat16)
        try:
            return (T.get_default_dtype(), [repr(t) for t in (
                T.tensor([1.1234]), T.ones(2), T.arange(0, 1, 0.25), T.tensor([1, 2]) / 3,
                T.zeros(0), T.tensor([1.5], dtype=T.float32))], T.tensor([1.1234]).dtype)
        finally:
            T.set_default_dtype(T.float32)

    same(scenario)


# ---- refusals where torch's kernels have no bfloat16 ---------------------------------------------

REFUSED = {
    "linalg.inv": lambda T, a: T.linalg.inv(a), "det": lambda T, a: T.linalg.det(a),
    "slogdet": lambda T, a: T.linalg.slogdet(a), "logdet": lambda T, a: a.logdet(),
    "cholesky": lambda T, a: T.linalg.cholesky(a), "qr": lambda T, a: T.linalg.qr(a),
    "svd": lambda T, a: T.linalg.svd(a), "eigh": lambda T, a: T.linalg.eigh(a),
    "solve": lambda T, a: T.linalg.solve(a, a), "pinv": lambda T, a: T.linalg.pinv(a),
    "lstsq": lambda T, a: T.linalg.lstsq(a, a), "matrix_norm_2": lambda T, a: T.linalg.matrix_norm(a, 2),
    "matrix_norm_fro": lambda T, a: T.linalg.matrix_norm(a), "cdist": lambda T, a: T.cdist(a, a),
    "pdist": lambda T, a: T.pdist(a), "quantile": lambda T, a: a.quantile(0.5),
    "histogram": lambda T, a: T.histogram(a, 3),
    "histogram_range": lambda T, a: tuple(T.histogram(a, 3, range=(0.0, 4.0))),
    "erfcx": lambda T, a: T.special.erfcx(a), "ndtri": lambda T, a: T.special.ndtri(a / 4),
    "zeta": lambda T, a: T.special.zeta(a + 1, a), "bessel_j0": lambda T, a: T.special.bessel_j0(a),
    "avg_pool3d": lambda T, a: T.nn.functional.avg_pool3d(a[None, None, None], 1),
    "multi_margin_loss": lambda T, a: T.nn.functional.multi_margin_loss(a, T.tensor([0, 1])),
    "i1_backward": lambda T, a: T.autograd.grad(T.special.i1(a.requires_grad_()).sum(), a),
    "rrelu": lambda T, a: T.nn.functional.rrelu(a).dtype,
}


@pytest.mark.parametrize("op", sorted(REFUSED))
def test_kernels_without_bfloat16_are_refused_as_torch(op):
    same(lambda T: attempt(REFUSED[op], T, T.tensor([[2.0, 1.0], [1.0, 3.0]]).bfloat16()),
         **BF16_TOL)


# ---- autograd -----------------------------------------------------------------------------------

def test_gradients_are_bfloat16():
    def scenario(T):
        x = T.tensor([1.5, -2.0, 0.25], dtype=T.bfloat16, requires_grad=True)
        w = T.tensor([0.5, 1.0, 3.0], requires_grad=True)
        y = (x.exp() * x + x.to(T.float32) * w).sum()
        y.backward()
        m = T.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        mb = m.bfloat16()
        (mb @ mb).sum().backward()
        return y, x.grad, w.grad, m.grad, mb.grad_fn.name(), (mb @ mb).grad_fn.name()

    same(scenario, **BF16_TOL)


def test_a_bfloat16_model_trains_as_torchs():
    def scenario(T):
        T.manual_seed(0)
        model = T.nn.Sequential(T.nn.Linear(6, 16), T.nn.GELU(), T.nn.LayerNorm(16),
                                T.nn.Linear(16, 3)).bfloat16()
        opt = T.optim.SGD(model.parameters(), lr=0.1)
        x = T.randn(8, 6).bfloat16()
        y = T.tensor([0, 1, 2, 0, 1, 2, 0, 1])
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = T.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss)
        return (losses, [p.grad for p in model.parameters()], [p.dtype for p in model.parameters()],
                model[0].weight)

    same(scenario, rtol=3e-2, atol=3e-2)


def test_modules_convert():
    def scenario(T):
        T.manual_seed(0)
        m = T.nn.Linear(3, 2)
        b = T.nn.Linear(3, 2).to(T.bfloat16)
        n = T.nn.BatchNorm1d(3).bfloat16()
        return (m.bfloat16().weight.dtype, m.weight.dtype, b.bias.dtype,
                n.running_mean.dtype, n.num_batches_tracked.dtype,
                m(T.ones(1, 3, dtype=T.bfloat16)).dtype,
                attempt(m, T.ones(1, 3)))

    same(scenario, **BF16_TOL)


# ---- checkpoints ---------------------------------------------------------------------------------

def test_save_and_load_keep_the_bits_and_torch_reads_the_file():
    x = distgrad.tensor([1.5, -2.25, 3e38, 1e-39, float("nan")], dtype=distgrad.bfloat16)
    m = distgrad.nn.Linear(3, 2).bfloat16()
    buf = io.BytesIO()
    distgrad.save({"x": x, "m": m.state_dict()}, buf)
    back = distgrad.load(io.BytesIO(buf.getvalue()))
    assert back["x"].dtype is distgrad.bfloat16
    assert _bits(back["x"]) == _bits(x)
    assert _bits(back["m"]["weight"]) == _bits(m.weight)
    from safetensors.torch import load as torch_load

    tensors = torch_load(buf.getvalue())
    assert sorted(_bits(t.reshape(-1)) for t in tensors.values()) == sorted(
        _bits(t.reshape(-1)) for t in (x, m.weight, m.bias))


def test_distributed_checkpoint_keeps_bfloat16(tmp_path):
    import distgrad.distributed.checkpoint as dcp

    w = distgrad.tensor([[0.1, -7.5], [3.3e38, 2.0]], dtype=distgrad.bfloat16)
    dcp.save({"w": w}, checkpoint_id=str(tmp_path))
    into = {"w": distgrad.zeros(2, 2, dtype=distgrad.bfloat16)}
    dcp.load(into, checkpoint_id=str(tmp_path))
    assert into["w"].dtype is distgrad.bfloat16 and _bits(into["w"]) == _bits(w)


# ---- the op table in bfloat16 -------------------------------------------------------------------

# Cases whose values differ from torch's by more than a few ulps, and why.
VALUES_DIFFER = {
    # torch's float16 and bfloat16 matrix_exp comes out nan/inf on these inputs
    "linalg_matrix_exp": "torch's low-precision matrix_exp overflows",
    "matrix_exp_method_large": "torch's low-precision matrix_exp overflows",
    # torch's grid_sample kernel rounds its interpolation weights to bfloat16
    "grid_sample_reflection_align": "grid_sample's weights in bfloat16",
    "affine_grid_then_grid_sample": "grid_sample's weights in bfloat16",
    # its bicubic kernel (the scalar one) rounds every step to bfloat16
    **{f"grid_sample_bicubic_{name}": "bicubic grid_sample's steps in bfloat16"
       for name in ("zeros", "border_align", "reflection", "reflection_align")},
}
# Cases that need workers (the cluster tests run them) or compare no bfloat16 values.
SKIPPED = {"to_device", "to_device_method_cpu", "resize_grown_on_a_worker"}


def _bf16_inputs(T, case, arrays):
    out = []
    for a, v in zip(case.args, arrays):
        if not isinstance(a, Arg):
            out.append(v)
        elif a.kind == "f":
            t = T.tensor(v.astype(np.float32)).to(T.bfloat16)
            out.append(t.requires_grad_() if a.grad else t)
        else:
            out.append(T.tensor(v))
    return out


def _run(T, case, arrays):
    ins = _bf16_inputs(T, case, arrays)
    fn = case.fn if T is distgrad else case.torch_fn()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ins, _outputs(fn(T, *ins))


def _float_values(t):
    if t is None:
        return None
    t = t.detach()
    return np.array(t.float().tolist() if t.dtype.is_floating_point else t.tolist(), np.float64)


def _node(t):
    return None if t.grad_fn is None else t.grad_fn.name()


BF16_CASES = [c for c in CASES if c.id not in SKIPPED]


@pytest.fixture(scope="module")
def case_outcomes():
    """Every case's comparison, run in a process of its own: some torch functions warn once
    per process (torch.cholesky's deprecation, scatter's reduce), and the tests that check
    those warnings must still see torch give them."""
    import json
    import os
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, os.path.abspath(__file__)], cwd=here, text=True,
                          capture_output=True, timeout=1200,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                              [here] + os.environ.get("PYTHONPATH", "").split(os.pathsep))))
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case", BF16_CASES, ids=lambda c: c.id)
def test_op_cases_in_bfloat16(case, case_outcomes):
    """Each op case with its float inputs in bfloat16: torch's result dtypes, shapes, nodes,
    errors, values and first-order gradients (in bfloat16) to a few of bfloat16's ulps."""
    assert case_outcomes[case.id] == "ok", case_outcomes[case.id]


def _all_cases() -> dict:
    outcomes = {}
    for case in BF16_CASES:
        try:
            compare_case(case)
            outcomes[case.id] = "ok"
        except Exception as exc:  # (reported per case by the test above)
            outcomes[case.id] = f"{type(exc).__name__}: {exc}"[:3000]
    return outcomes


def compare_case(case):
    arrays = make_arrays(case)
    t_got = attempt(_run, torch, case, arrays)
    d_got = attempt(_run, distgrad, case, arrays)
    if not isinstance(t_got, tuple) or not isinstance(d_got, tuple):
        assert type(t_got).__name__ == type(d_got).__name__ == "Raised", (t_got, d_got)
        assert (t_got.type, t_got.message[:60]) == (d_got.type, d_got.message[:60])
        return
    (t_ins, t_outs), (d_ins, d_outs) = t_got, d_got
    assert len(t_outs) == len(d_outs)
    for k, (t, d) in enumerate(zip(t_outs, d_outs)):
        if not hasattr(t, "dtype"):
            assert t == d
            continue
        assert (str(d.dtype), tuple(d.shape), _node(d)) == (str(t.dtype), tuple(t.shape),
                                                              _node(t)), f"output {k}"
        if case.id not in VALUES_DIFFER:
            np.testing.assert_allclose(_float_values(d), _float_values(t), rtol=2e-2, atol=2e-2,
                                       equal_nan=True, err_msg=f"output {k}")
    pos = _grad_positions(case)
    diff = [k for k, t in enumerate(t_outs) if getattr(t, "requires_grad", False)]
    if not pos or not diff or case.id in VALUES_DIFFER:
        return
    seed = case.seed() + 1
    shapes = [t_outs[k].shape for k in diff]

    def grads(T, outs, ins):
        gs = [g.to(T.bfloat16) for g in _randoms(seed, shapes, T)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return T.autograd.grad([outs[k] for k in diff], [ins[p] for p in pos], gs,
                                   allow_unused=True)

    t_g = attempt(grads, torch, t_outs, t_ins)
    d_g = attempt(grads, distgrad, d_outs, d_ins)
    if not isinstance(t_g, tuple) or not isinstance(d_g, tuple):
        assert type(t_g).__name__ == type(d_g).__name__ == "Raised", (t_g, d_g)
        assert (t_g.type, t_g.message[:60]) == (d_g.type, d_g.message[:60])
        return
    for p, t, d in zip(pos, t_g, d_g):
        if t is None or d is None:  # (None and zeros are the same gradient)
            other = d if t is None else t
            assert other is None or not _float_values(other).any(), f"gradient of input {p}"
            continue
        assert str(d.dtype) == str(t.dtype), f"dtype of the gradient of input {p}"
        np.testing.assert_allclose(_float_values(d), _float_values(t), rtol=5e-2, atol=5e-2,
                                   equal_nan=True, err_msg=f"gradient of input {p}")


if __name__ == "__main__":
    import json

    print(json.dumps(_all_cases()))


def test_without_ml_dtypes_bfloat16_exists_and_refuses_arrays():
    """ml_dtypes is optional (distgrad[bfloat16]): without it distgrad imports and runs, and
    torch.bfloat16 prints and promotes, but an array of it raises, naming the package."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys
        sys.modules["ml_dtypes"] = None  # (an import of it fails, as when not installed)
        import distgrad as torch
        print(torch.bfloat16, torch.promote_types(torch.bfloat16, torch.float16))
        print((torch.ones(3) * 2).sum().item())
        for make in (lambda: torch.zeros(2, dtype=torch.bfloat16),
                     lambda: torch.ones(2).bfloat16()):
            try:
                make()
            except RuntimeError as e:
                print("refused:", "ml_dtypes" in str(e))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:4] == ["torch.bfloat16 torch.float32", "6.0",
                                          "refused: True", "refused: True"]


def test_an_alias_of_a_low_precision_tensor_keeps_its_memory_dtype():
    """reshape of a transposed tensor is a copy then an alias of it (_unsafe_view): the
    alias is the copy's memory, in its dtype, not a float32 widening of it (which a move
    to another worker refused, its wire dtype not the tensor's)."""
    def fn(T):
        out = []
        for dtype in (T.float16, T.bfloat16):
            x = T.arange(12.0).view(3, 4).to(dtype)
            flat = x.t().reshape(12)
            batched = x.t().unsqueeze(0) @ T.ones(1, 3, 2, dtype=dtype)
            out += [flat, batched, flat.float().numpy().dtype]
        out.append(T.ones(2, 3).half().t().reshape(6).numpy().dtype)
        return out

    same(fn)
