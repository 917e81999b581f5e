"""Tensor basics against torch: repr, values out, shape queries, dtype inference and
promotion, creation functions, the legacy constructor, len/iter, setitem, comparisons."""

import pickle
import random
import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest

import distgrad
from torch_twin import Raised, attempt, same


# ---- repr ------------------------------------------------------------------------------------

def test_repr_with_autograd_suffixes():
    def f(torch):
        x = torch.tensor([[0.0019, 0.0292]], requires_grad=True)
        y = x + 1
        z = (x * 2).sum()
        i = torch.tensor([1, 2, 3])
        d = torch.tensor([1.5, 2.0], dtype=torch.float64, requires_grad=True)
        return [repr(t) for t in (x, y, z, i, d, d * 2, x.detach(), torch.tensor(3.0),
                                  torch.tensor(True), torch.zeros(2, 0))] + [str(y), f"{y}"]

    same(f)


def test_repr_of_leaf_grad_and_scalars_in_fstrings():
    def f(torch):
        x = torch.tensor(2.0, requires_grad=True)
        (x * x).backward()
        return repr(x.grad), f"{x.item():.3f}", f"{x.grad}", f"{torch.tensor(1.25):.2f}"

    same(f)



NAMED_RESULTS = {
    "max": lambda T, x, A: x.max(1), "min": lambda T, x, A: T.min(x, 0, keepdim=True),
    "sort": lambda T, x, A: x.sort(), "topk": lambda T, x, A: x.topk(1),
    "median": lambda T, x, A: x.median(1), "nanmedian": lambda T, x, A: x.nanmedian(0),
    "mode": lambda T, x, A: x.mode(1), "kthvalue": lambda T, x, A: x.kthvalue(1),
    "cummax": lambda T, x, A: x.cummax(1), "cummin": lambda T, x, A: T.cummin(x, 0),
    "aminmax": lambda T, x, A: x.aminmax(), "aminmax_dim": lambda T, x, A: T.aminmax(x, dim=0),
    "linalg_slogdet": lambda T, x, A: T.linalg.slogdet(A), "slogdet": lambda T, x, A: A.slogdet(),
    "linalg_eigh": lambda T, x, A: T.linalg.eigh(A), "linalg_qr": lambda T, x, A: T.linalg.qr(A),
    "linalg_svd": lambda T, x, A: T.linalg.svd(A), "svd": lambda T, x, A: T.svd(A),
    "linalg_lu": lambda T, x, A: T.linalg.lu(A),
}


@pytest.mark.parametrize("name", sorted(NAMED_RESULTS))
def test_named_results_print_index_and_unpack_as_torch(name):
    def f(torch):
        x = torch.tensor([[3.0, 1.0, 4.0], [2.0, 5.0, 2.0]])
        r = NAMED_RESULTS[name](torch, x, torch.tensor([[2.0, 1.0], [1.0, 3.0]]))
        first, *rest = r
        return [repr(r), str(r), f"{r}", type(r).__name__, len(r), r[0], r[-1], first, rest,
                r.n_fields, r == tuple(r), type(r[:1]).__name__]

    same(f)


def test_named_results_are_built_from_one_sequence_and_pickle():
    def f(torch):
        r = torch.return_types.max([torch.tensor([1.0]), torch.tensor([0])])
        back = pickle.loads(pickle.dumps(r))
        return [r.values, r.indices, repr(back), type(back).__name__,
                attempt(torch.return_types.max, [1]), attempt(torch.return_types.aminmax, [1, 2, 3])]

    same(f)

# ---- values out ------------------------------------------------------------------------------

def test_item_tolist_numpy():
    def f(torch):
        a = torch.tensor([[1.5, 2.0], [3.0, 4.0]])
        i = torch.tensor([1, 2])
        b = torch.tensor([True, False])
        x = torch.tensor([1.0], requires_grad=True)
        return (a.tolist(), i.tolist(), b.tolist(), torch.tensor(3).item(), a[0, 0].item(),
                b[0].item(), torch.tensor(2.5).tolist(), x.detach().numpy().tolist(),
                str(a.numpy().dtype), str(i.numpy().dtype), attempt(x.numpy),
                x.numpy(force=True).tolist(), attempt(a.item), float(x), int(torch.tensor(7.9)))

    same(f, warnings_too=False)  # float(x) of a requires_grad x warns once per process


def test_numpy_shares_memory_and_from_numpy():
    def f(torch):
        arr = np.array([1.0, 2.0, 3.0])
        t = torch.from_numpy(arr)
        arr[0] = 10.0
        back = t.numpy()
        back[1] = 20.0
        return t, str(t.dtype), arr.tolist(), torch.as_tensor(arr).dtype

    same(f)


# ---- shape queries ---------------------------------------------------------------------------

def test_shape_size_dim_numel():
    def f(torch):
        a = torch.zeros(2, 3, 4)
        s = torch.tensor(1.0)
        return (a.shape, a.size(), a.size(1), a.size(-1), a.dim(), a.ndim, a.numel(), s.shape,
                s.dim(), s.numel(), repr(a.shape), a.shape == (2, 3, 4), list(a.shape),
                attempt(a.size, 3), torch.numel(a), a.shape[1:], len(a.shape))

    same(f)


def test_a_shape_sliced_added_or_repeated_is_a_shape():
    def f(torch):
        s = torch.zeros(5, 2, 3).shape
        made = [s[:2], s[1:], s[::-1], s + (1,), (1,) + s, s * 2, 2 * s, s[:0]]
        return [repr(x) for x in made] + [type(s[0]).__name__, s[-1], s[1:] == (2, 3)]

    same(f)


# ---- dtypes ----------------------------------------------------------------------------------

def test_dtype_inference_of_tensor():
    def f(torch):
        vals = [1, 1.0, True, [1, 2], [1.0, 2], [True, False], [[1], [2]], [1, 2.5, True],
                np.float64(1.5), np.array([1.0], np.float32), np.int32(3), np.array([1], np.uint8),
                np.array([1.0]), [], 3]
        return [torch.tensor(v).dtype for v in vals]

    same(f)


def test_dtype_keyword_and_default_dtype():
    def f(torch):
        return (torch.tensor([1, 2], dtype=torch.float32), torch.tensor([1.7], dtype=torch.int64),
                torch.tensor([0, 2], dtype=torch.bool), torch.get_default_dtype(),
                torch.tensor([1.0], dtype=torch.float64).dtype, torch.float is torch.float32,
                torch.double is torch.float64, torch.long is torch.int64)

    same(f)


PROMOTIONS = {
    "int_tensor_plus_float_scalar": lambda t: t.tensor([1, 2]) + 1.5,
    "int_tensor_times_int_scalar": lambda t: t.tensor([1, 2]) * 3,
    "int_tensor_div_int": lambda t: t.tensor([1, 2]) / 2,
    "bool_plus_int_scalar": lambda t: t.tensor([True, False]) + 1,
    "bool_plus_bool": lambda t: t.tensor([True]) + t.tensor([True]),
    "bool_times_float_scalar": lambda t: t.tensor([True, False]) * 2.5,
    "float32_plus_float64_0dim": lambda t: t.tensor([1.0, 2.0]) + t.tensor(1.0, dtype=t.float64),
    "float64_0dim_plus_int": lambda t: t.tensor(1.0, dtype=t.float64) + t.tensor([1, 2]),
    "int_plus_float_0dim": lambda t: t.tensor([1, 2]) + t.tensor(1.5),
    "float32_plus_float64": lambda t: t.tensor([1.0]) + t.tensor([1.0], dtype=t.float64),
    "0dim_int_plus_0dim_float": lambda t: t.tensor(1) + t.tensor(2.0),
    "scalar_float_plus_0dim_int": lambda t: 2.5 + t.tensor(1),
    "int_pow_float": lambda t: t.tensor([2, 3]) ** 0.5,
    "int_exp": lambda t: t.tensor([0, 1]).exp(),
    "int_sum": lambda t: t.tensor([1, 2]).sum(),
    "bool_sum": lambda t: t.tensor([True, True]).sum(),
    "int_mean": lambda t: attempt(t.tensor([1, 2]).mean),
    "float64_mean": lambda t: t.tensor([1.0, 2.0], dtype=t.float64).mean(),
    "compare_mixed": lambda t: t.tensor([1, 2]) < t.tensor([1.5, 1.5]),
    "where_mixed": lambda t: t.where(t.tensor([True, False]), t.tensor([1, 2]), 0.5),
    "int_floordiv": lambda t: t.tensor([7, -7]) // 2,
    "neg_bool": lambda t: attempt(lambda: -t.tensor([True])),
}
OPS_BUGS = {}  # ops known to differ from torch (none now)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=OPS_BUGS[n]))
                                  if n in OPS_BUGS else n for n in sorted(PROMOTIONS)])
def test_dtype_promotion(name):
    same(lambda torch: PROMOTIONS[name](torch))


def test_result_type_and_promote_types():
    def f(torch):
        return (torch.result_type(torch.tensor([1]), 1.0),
                torch.promote_types(torch.int64, torch.float32),
                torch.promote_types(torch.bool, torch.int64))

    same(f)


# ---- creation --------------------------------------------------------------------------------

CREATIONS = {
    "ones": lambda t: t.ones(2, 3),
    "ones_tuple": lambda t: t.ones((2, 3), dtype=t.float64),
    "zeros_rg": lambda t: t.zeros(3, requires_grad=True),
    "zeros_int": lambda t: t.zeros([2], dtype=t.int64),
    "full_int": lambda t: t.full((2,), 7),
    "full_float": lambda t: t.full((2, 2), 1.5, requires_grad=True),
    "full_bool": lambda t: t.full((1,), True),
    "eye": lambda t: t.eye(3),
    "eye_rect": lambda t: t.eye(2, 4, requires_grad=True),
    "arange_int": lambda t: t.arange(5),
    "arange_float": lambda t: t.arange(0, 1, 0.25),
    "arange_start_end": lambda t: t.arange(2, 7, 2),
    "arange_dtype": lambda t: t.arange(3, dtype=t.float32),
    "linspace": lambda t: t.linspace(0, 1, 5),
    "linspace_rg": lambda t: t.linspace(-1, 1, 3, requires_grad=True),
    "ones_like": lambda t: t.ones_like(t.tensor([[1, 2]])),
    "zeros_like_dtype": lambda t: t.zeros_like(t.tensor([1, 2]), dtype=t.float32),
    "full_like": lambda t: t.full_like(t.tensor([1.0, 2.0]), 3),
    "ones_like_rg": lambda t: t.ones_like(t.tensor([1.0]), requires_grad=True),
    "as_tensor": lambda t: t.as_tensor([1, 2], dtype=t.float64),
    "tensor_rg": lambda t: t.tensor([1.0, 2.0], requires_grad=True),
    "tensor_0dim": lambda t: t.tensor(5),
    "empty_shape": lambda t: t.zeros(0, 3),
}


@pytest.mark.parametrize("name", sorted(CREATIONS))
def test_creation(name):
    same(lambda torch: CREATIONS[name](torch))



def _range_arguments(seed: int, count: int):
    """(start, end, steps) for linspace and (start, end, step) for arange: ends of mixed signs
    and magnitudes, lengths across the kernels' vector runs and halves."""
    rng = random.Random(seed)
    number = (lambda: rng.uniform(-10, 10), lambda: rng.randint(-10, 10),
              lambda: rng.choice([-1, 0, 1, 0.1, -0.3, 1e-3, 1e5, 2.5, 1e6]))
    for _ in range(count):
        start, end = rng.choice(number)(), rng.choice(number)()
        steps = rng.choice([rng.randint(0, 40), rng.randint(40, 300), 13, 2, 1, 7, 5000])
        step = rng.choice([rng.uniform(0.001, 1), 0.1, 0.2, 0.3, 1 / 3, 1, 3]) * rng.choice([1, -1])
        length = rng.choice([rng.randint(0, 40), rng.randint(40, 500), 3000])
        yield (start, end, steps), (start, start + step * max(length - rng.random(), 0), step)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_linspace_and_arange_values_are_torchs_to_the_bit(dtype):
    import torch

    def bits(T, make, args):
        out = attempt(make(T), *args, dtype=getattr(T, dtype))  # (int64: a step below 1 fails)
        return repr(out) if isinstance(out, Raised) else out.numpy().tobytes()

    for lin, ar in list(_range_arguments(7, 300)) + [((-1, 1, 13), (-1, 1, 0.2)),
                                                      ((0, 1, 100001), (0, 2 ** 24 + 5, 1))]:
        for make, args in ((lambda T: T.linspace, lin), (lambda T: T.arange, ar)):
            assert bits(distgrad, make, args) == bits(torch, make, args), (dtype, args)
    assert distgrad.linspace(-1, 1, 13)[6].item() == torch.linspace(-1, 1, 13)[6].item() != 0
    assert distgrad.arange(-1, 1, 0.2)[5].item() == torch.arange(-1, 1, 0.2)[5].item() != 0


def test_arange_and_linspace_checks_and_conversions_as_torch():
    def f(T):
        nan, inf = float("nan"), float("inf")
        return [attempt(T.arange, 0, 1, 0, dtype=T.bool), attempt(T.arange, 0, -1, dtype=T.bool),
                attempt(T.arange, 0, 5, 0.5, dtype=T.int64),
                attempt(T.arange, 0, -5, 0.5, dtype=T.int64),
                attempt(T.arange, 0, 1e20, 1e19, dtype=T.int64), attempt(T.arange, inf, 0, -1.0),
                attempt(T.arange, 0, -inf, 1.0), attempt(T.arange, 0, 1.5, nan),
                attempt(T.arange, 1.5, 0, inf), attempt(T.arange, 0, 2.5, 1e-300),
                T.arange(0, 5.7, 1.5, dtype=T.int64), T.arange(-0.5, 5.7, 1.5, dtype=T.int64),
                T.arange(2 ** 62, 2 ** 63 - 1, 2 ** 61), T.arange(True, 4),
                attempt(T.arange, 0.1, 1e-30),
                attempt(T.linspace, 0, 1, 3, dtype=T.bool), T.linspace(2.7, 1, 1, dtype=T.bool),
                T.linspace(-2.7, 1, 1, dtype=T.int64), T.linspace(-3, 10, 7, dtype=T.int64),
                T.linspace(10, -3, 9, dtype=T.int64), T.linspace(0, inf, 3), T.linspace(0, 1, 0)]

    same(f)


def test_a_fused_multiply_add_rounds_once():
    """Where a * b + c in double lands on a float32 tie, the exact value decides (the
    emulation of torch's fused multiply-adds, distgrad/ops/fused.py)."""
    from distgrad.ops.fused import fma

    a, b = np.float32(1 - 2 ** -18), np.float32(2 ** -24 * (1 + 2 ** -18))
    c = np.float32(1 + 2 ** -23)
    assert fma(a, b, c, np.float32) == c  # exactly c + 2**-24 - 2**-60: just below the tie
    a, b = np.float32(2 ** -75 * (1 + 2 ** -23)), np.float32(2 ** -75 * (1 - 2 ** -23))
    c = np.float32(2 ** -140 + 2 ** -149)  # (under float32's normal range: ties elsewhere)
    assert fma(a, b, c, np.float32) == c  # c + 2**-150 - 2**-196: just below the tie
    assert np.float32(np.float64(a) * np.float64(b) + np.float64(c)) != c  # twice rounded
    rng = np.random.default_rng(3)
    x, y, z = (rng.standard_normal(2000) * 2.0 ** rng.integers(-30, 30, 2000) for _ in range(3))
    exact = [float(Fraction(p) * Fraction(q) + Fraction(r)) for p, q, r in zip(x, y, z)]
    assert fma(x, y, z, np.float64).tolist() == exact
    # float32: random operands, ties made on purpose and results under the normal range,
    # each against the exact value rounded once to float32
    x, y = (rng.integers(1, 2 ** 24, 3000).astype(np.float32) for _ in range(2))
    z = -(x.astype(np.float64) * y).astype(np.float32) + rng.integers(-4, 5, 3000) / 2
    scale = np.float32(2.0) ** rng.integers(-150, 0, 3000).astype(np.float32)
    x, z = x * scale, z.astype(np.float32) * scale  # (ties kept, some under the normal range)
    assert fma(x, y, z, np.float32).tolist() == [
        _float32_rounded(Fraction(float(p)) * Fraction(float(q)) + Fraction(float(r)))
        for p, q, r in zip(x, y, z)]


def _float32_rounded(exact: Fraction) -> float:
    """`exact` rounded once to float32, to nearest, ties to even."""
    near = np.float32(float(exact))  # (rounded twice: at most one float32 off)
    candidates = [np.nextafter(near, np.float32(-np.inf)), near,
                  np.nextafter(near, np.float32(np.inf))]
    return float(min(candidates, key=lambda f: (abs(Fraction(float(f)) - exact),
                                                int(np.array(f).view(np.int32)) & 1)))

@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_lerp_and_addcmul_round_once_as_torchs_kernels(dtype):
    """torch's lerp and addcmul are one fused multiply-add each (lerp in its two forms by
    the weight): bit for bit torch's, and so are the optimizer steps made of them (float64
    is rounded twice: an exact emulation would cost an optimizer step 20x)."""
    rng = np.random.default_rng(4)
    start, end, other = (rng.standard_normal((3, 500)) for _ in range(3))
    weights = rng.random(500)

    def results(T):
        a, b, c, w = (T.tensor(v).to(getattr(T, dtype)) for v in (start, end, other, weights))
        made = [a.lerp(b, 0.1), a.lerp(b, 0.7), a[0].clone().lerp_(b[1], w),
                T.addcmul(a, b, c, value=-0.3), a.clone().addcmul_(b, b, value=0.001),
                T.addcdiv(a, b, c.abs() + 0.1, value=1.7)]
        if dtype != "bfloat16":  # (distgrad's optimizers round each op to bfloat16)
            p = T.tensor(start[0]).to(getattr(T, dtype)).requires_grad_()
            opt = T.optim.Adamax([p], lr=0.01)
            for k in range(20):
                p.grad = T.tensor(other[k % 3]).to(p.dtype) * (k + 1)
                opt.step()
            made.append(p.detach())
        return [m.double().numpy() for m in made]

    import torch

    for ours, theirs in zip(results(distgrad), results(torch)):
        np.testing.assert_array_equal(ours, theirs)


def test_random_creation_shapes_and_dtypes():
    def f(torch):
        torch.manual_seed(0)
        out = [torch.rand(2, 3), torch.randn(4), torch.randn(2, 2, dtype=torch.float64),
               torch.randint(0, 5, (3, 2)), torch.randint(3, (2,)),
               torch.randn_like(torch.ones(2, 2)), torch.randn(3, requires_grad=True)]
        return [(t.shape, t.dtype, t.requires_grad, t.is_leaf) for t in out]

    same(f)


def test_random_values_in_range_and_seeded():
    distgrad.manual_seed(3)
    a = distgrad.rand(1000)
    distgrad.manual_seed(3)
    b = distgrad.rand(1000)
    assert a.tolist() == b.tolist()
    assert 0 <= a.min().item() and a.max().item() < 1
    r = distgrad.randint(2, 5, (1000,))
    assert set(r.tolist()) == {2, 3, 4}
    n = distgrad.randn(10000)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05


def test_size_given_by_keyword():
    """zeros/ones/empty/rand/randn and new_zeros/new_ones/new_empty take size= too (a
    sequence, and not with positional sizes)."""
    def f(torch):
        torch.manual_seed(0)
        x = torch.ones(2, dtype=torch.float64)
        return (torch.zeros(size=(2, 3)), torch.ones(size=[2], dtype=torch.int8),
                torch.empty(size=torch.Size([0, 2])).shape, torch.rand(size=(2,)),
                torch.randn(size=(3,), generator=torch.Generator().manual_seed(1)),
                torch.ones(size=(1, 2), requires_grad=True), x.new_zeros(size=(2,)),
                x.new_ones(size=[1, 2]), x.new_empty(size=(0,)).shape,
                attempt(lambda: torch.zeros(size=3)), attempt(lambda: torch.ones(2, size=(3,))),
                attempt(lambda: x.new_ones(1, size=(2,))))

    same(f)


def test_legacy_constructor():
    def f(torch):
        return (torch.Tensor([1, 2]), torch.Tensor(2, 3).shape, torch.Tensor(2, 3).dtype,
                torch.Tensor([[1.5, 2], [3, 4]]), torch.Tensor().shape,
                isinstance(torch.ones(1), torch.Tensor))

    same(f)


def test_legacy_tensor_types():
    """torch.FloatTensor and the others: constructors of their dtype, isinstance by dtype,
    and `t.type(torch.IntTensor)`; a tensor given to one is aliased (of its dtype only)."""
    def f(torch):
        a = torch.arange(3.0, requires_grad=True)
        alias = torch.Tensor(a)
        alias.data[0] = 7.0
        return (torch.LongTensor([1, 2]), torch.FloatTensor(2, 3).shape, torch.IntTensor().dtype,
                torch.HalfTensor(torch.Size([2])).dtype, torch.BoolTensor([1, 0]),
                torch.ByteTensor([3]), torch.DoubleTensor([0.1]), torch.BFloat16Tensor([1]).dtype,
                torch.CharTensor([1]).dtype, torch.ShortTensor([1]).dtype, torch.FloatTensor.dtype,
                isinstance(torch.ones(2), torch.FloatTensor), isinstance(a, torch.FloatTensor),
                isinstance(torch.ones(2).long(), torch.FloatTensor),
                isinstance(torch.ones(2).long(), (torch.IntTensor, torch.LongTensor)),
                torch.ones(2).type(torch.IntTensor), torch.LongTensor([3]).type(),
                a, alias.grad_fn.name(), torch.Tensor(torch.arange(2)),
                attempt(torch.FloatTensor, torch.arange(2)))

    same(f)


# ---- len, iteration, indexing ----------------------------------------------------------------

def test_membership():
    """`x in t` compares every element with x; only a tensor or a number may be looked for."""
    def f(torch):
        t = torch.tensor([[1, 2], [3, 4]])
        return ([2 in t, 5 in t, 2.0 in t, torch.tensor(3) in t, torch.tensor([1, 4]) in t],
                [attempt(lambda: x in t) for x in ("a", None, [1, 2])])

    same(f)


def test_len_and_iteration():
    def f(torch):
        a = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
        rows = list(a)
        total = sum(r.sum() for r in rows)
        total.backward()
        return (len(a), rows, [r.grad_fn.name() for r in rows], a.grad,
                [x.item() for x in torch.tensor([7, 8])], attempt(len, torch.tensor(1)))

    same(f)


def test_setitem():
    def f(torch):
        x = torch.zeros(3, 4)
        x[0] = 1
        x[1, 2] = 5.5
        x[:, 3] = torch.tensor([7.0, 8.0, 9.0])
        x[x > 6] = -1
        x[..., 0] = 2
        i = torch.zeros(3, dtype=torch.int64)
        i[1] = 4.7
        return x, i, int(x._version)

    same(f)


def test_setitem_by_index_tensors_keeps_the_value_dtype():
    """Through index tensors torch's index_put_ takes a value of x's dtype only (after its
    shape check), except where it fills a lone mask with a one-element value (masked_fill_);
    through basic indexing the value is cast (copy_). Index tensors must broadcast together."""
    def f(torch):
        x = torch.arange(12.0).reshape(3, 4)
        mask, rows, longs = x > 5, torch.tensor([0, 2]), torch.ones(6, dtype=torch.long)

        def put(key, value):
            y = x.clone()
            y[key] = value
            return y

        return [attempt(put, mask, longs), put(mask, longs[:1]), put(mask, torch.tensor(2)),
                attempt(put, rows, torch.ones(4, dtype=torch.float64)),
                attempt(put, rows, torch.ones(5, dtype=torch.int32)),
                attempt(put, (0, rows), torch.tensor([1, 2])), put(0, longs[:4]),
                put(slice(0, 2), torch.ones(2, 4, dtype=torch.int8)),
                attempt(put, (rows, torch.tensor([1, 2, 3])), 1.0),
                attempt(lambda: x[rows, torch.tensor([1, 2, 3])]),
                attempt(lambda: x.clone().index_put_((rows,), torch.tensor(2))),
                x.clone().index_put_((mask,), torch.tensor(2)),
                attempt(lambda: x.clone().index_put_((mask,), torch.tensor(2), accumulate=True))]

    same(f)


def test_index_put_with_a_0_dim_mask_as_torch():
    # torch's kernel fills one value by a 0-dim bool mask as masked_fill_ does (True: all,
    # False: nothing); otherwise the mask is no index at all, whatever its value, and a
    # kernel left with no index fails torch's assertion
    def f(torch):
        yes, no, row = torch.tensor(True), torch.tensor(False), torch.tensor([1])
        x = torch.arange(6.0).reshape(2, 3)
        w = torch.arange(6.0, requires_grad=True).reshape(2, 3)
        v = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        put = (w * 1).index_put((yes, row), v * 2, accumulate=True)
        return [x.clone().index_put_((yes,), torch.tensor(-1.0)),
                x.clone().index_put_((no,), torch.tensor(-1.0)),
                x.clone().index_put_((no, torch.tensor([0, 1])), torch.tensor(-1.0)),
                x.clone().index_put_((row, yes), v.detach()),
                x.index_put((no, row), torch.tensor(-1.0), accumulate=True),
                attempt(lambda: x.clone().index_put_((yes,), torch.tensor(1.0), accumulate=True)),
                attempt(lambda: x.clone().index_put_((no,), v.detach())),
                attempt(lambda: x.clone().index_put_((yes, no), torch.tensor(1.0))), put,
                torch.autograd.grad((put * put).sum(), (w, v))] + [
                    filled(torch, m) for m in (yes, no)]

    def filled(torch, mask):  # (torch reads the value's gradient by the mask alone: it fails)
        x = torch.arange(3.0, requires_grad=True)
        v = torch.tensor(5.0, requires_grad=True)
        y = x.index_put((mask,), v * 1)
        z = x * 1
        z.index_put_((mask,), v * 1)
        return [y, y.grad_fn.name(), z.grad_fn.name(),
                torch.autograd.grad(y.sum(), x, retain_graph=True),
                attempt(lambda: torch.autograd.grad(y.sum(), v)),
                attempt(lambda: torch.autograd.grad(z.sum(), (x, v)))]

    same(f)


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("mask", [True, False])
def test_a_put_filled_by_a_0_dim_mask_saves_it_as_torchs_node(mask, in_place):
    # torch's IndexPutBackward0 saves the mask: a second backward through it is refused
    def f(torch):
        x = torch.tensor([0.5, -1.5, 1.0], dtype=torch.float64, requires_grad=True)
        put = (lambda t, *a: t.clone().index_put_(*a)) if in_place else torch.Tensor.index_put
        y = put(x, (torch.tensor(mask),), torch.tensor(-0.5, dtype=torch.float64))
        first = torch.autograd.grad(y.sum(), x)
        return [y, first, attempt(lambda: torch.autograd.grad(y.sum(), x))]

    same(f)


def test_setitem_on_non_leaf_is_differentiable():
    def f(torch):
        w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        v = torch.tensor([10.0], requires_grad=True)
        y = w * 2
        y[1] = v[0] * 3
        y.sum().backward()
        return y.detach(), w.grad, v.grad, y.requires_grad

    same(f)


def test_comparisons():
    def f(torch):
        a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = torch.tensor([3.0, 2.0, 1.0])
        return (a == b, a != b, a < b, a <= b, a > b, a >= b, a > 2, 2 < a, a == 2.0,
                (a > 1) & (b > 1), (a > 1) | (b > 2), ~(a > 1), torch.eq(a, b),
                (a < b).requires_grad, torch.tensor([1, 2]) == torch.tensor([1.0, 2.5]))

    same(f)


def test_a_tensor_is_not_equal_to_what_is_no_number_or_tensor():
    # torch's == and != hand such an operand back to Python (identity: False and True), and
    # its arithmetic refuses it with a TypeError; distgrad had a worker reject the constant.
    def f(torch):
        a = torch.tensor([1.0, 2.0])
        refused = [getattr(attempt(op), "type", "no error") for op in
                   (lambda: a + "x", lambda: a * [1, 2], lambda: a.add("x"), lambda: a.mul_("x"))]
        return (a == "x", a != "x", a == None, a != None, a == object(), a == (1, 2),  # noqa: E711
                a == 2.0, a == np.float32(2.0), refused)

    same(f, prefix=0)


def test_bool_of_single_element_and_ambiguity():
    def f(torch):
        return (bool(torch.tensor([1.0])), bool(torch.tensor(0)),
                attempt(bool, torch.tensor([1.0, 2.0])),
                "yes" if torch.tensor(3.0) > 2 else "no")

    same(f)


def test_clone_detach_and_to():
    def f(torch):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        c = x.clone()
        d = x.detach()
        return (c, d, x.to(torch.float64), x.double().dtype, x.long(), x.float() is x,
                x.to("cpu") is x, x.cpu() is x, x.device, str(x.device), x.is_leaf, c.is_leaf)

    same(f)


def test_hash_and_identity():
    x = distgrad.ones(2)
    assert {x: 1}[x] == 1
    assert x in [x]


CREATION_EDGES = {
    "copy_construct_warns": lambda t: t.tensor(t.tensor([1.0, 2.0], requires_grad=True)),
    "list_of_0dim": lambda t: t.tensor([t.tensor(1.0), t.tensor(2.0)]),
    "list_of_0dim_int": lambda t: t.tensor([t.tensor(1), t.tensor(2)]),
    "as_tensor_same": lambda t: (lambda a: t.as_tensor(a) is a)(t.ones(2)),
    "zeros_bool": lambda t: t.zeros(2, 3, dtype=t.bool),
    "full_int_dtype": lambda t: t.full((2,), 1.5, dtype=t.int64),
    "arange_f64": lambda t: t.arange(5, dtype=t.float64),
    "eye_int": lambda t: t.eye(3, dtype=t.int64),
    "ones_empty_tuple": lambda t: t.ones(()),
    "zeros_list_empty": lambda t: t.zeros([]),
    "tensor_empty": lambda t: t.tensor([]),
    "linspace_kw": lambda t: t.linspace(0, 10, steps=5),
    "arange_01": lambda t: t.arange(0, 1, 0.1),
    "arange_half": lambda t: t.arange(1, 2.5, 0.5),
    "arange_neg": lambda t: t.arange(5, 0, -1.5),
    "arange_tensor_arg": lambda t: t.arange(t.tensor(3)),
    "arange_bad_sign": lambda t: attempt(t.arange, 0, 5, -1),
    "arange_zero_step": lambda t: attempt(t.arange, 0, 1, 0),
    "full_tensor_value": lambda t: t.full((2,), t.tensor(2.5)),
    "ones_size_obj": lambda t: t.ones(t.ones(2, 3).shape),
    "zeros_negative": lambda t: attempt(t.zeros, -1),
    "ones_negative": lambda t: attempt(t.ones, 2, -1),
    "randn_negative": lambda t: attempt(t.randn, -2),
    "nested_mismatch": lambda t: attempt(t.tensor, [[1, 2], [3, 4, 5]]),
    "nested_scalar_vs_list": lambda t: attempt(t.tensor, [1, [2]]),
    "nested_list_vs_scalar": lambda t: attempt(t.tensor, [[1], 2]),
    "tensor_str": lambda t: attempt(t.tensor, "abc"),
    "tensor_none": lambda t: attempt(t.tensor, None),
    "tensor_list_with_none": lambda t: attempt(t.tensor, [1, None]),
    "randn_int_dtype": lambda t: attempt(t.randn, 2, dtype=t.int64),
    "rand_like_int": lambda t: attempt(t.rand_like, t.tensor([1, 2])),
    "randint_bad_bounds": lambda t: attempt(t.randint, 5, 2, (2,)),
    "randint_float_dtype": lambda t: t.randint(0, 1, (2,), dtype=t.float32),
    "linspace_one": lambda t: t.linspace(3, 5, 1),
    "tensor_bool_int_mix": lambda t: t.tensor([True, 2]),
    "tensor_np_bool": lambda t: t.tensor(np.bool_(True)),
    "tensor_np_int64": lambda t: t.tensor(np.int64(5)),
    "tensor_np_f32_scalar": lambda t: t.tensor(np.float32(1.5)),
    "full_like_float_on_int": lambda t: t.full_like(t.tensor([1, 2]), 2.7),
    "zeros_like_rg_int": lambda t: attempt(t.zeros_like, t.tensor([1, 2]), requires_grad=True),
    "arange_neg_step_int": lambda t: t.arange(10, 0, -3),
    "tensor_from_tuple": lambda t: t.tensor((1.0, 2)),
    "empty_shape": lambda t: t.empty(2, 3).shape,
    "legacy_from_size": lambda t: t.Tensor(t.Size([2, 3])).shape,
    # a list's dtype: its elements' promoted, a numpy scalar or array's (or a tensor's) its own
    "np_f64_in_floats": lambda t: t.tensor([np.float64(0.5), 2.0]),
    "np_f64_nested": lambda t: t.tensor([[1.0, np.float64(2)], [3.0, 4.0]]),
    "np_f64_with_int": lambda t: t.tensor([1, np.float64(2)]),
    "np_f32_np_f64": lambda t: t.tensor([np.float32(0.5), np.float64(2.0)]),
    "np_f32_in_floats": lambda t: t.tensor([np.float32(0.5), 2.0]),
    "np_int64_and_float": lambda t: t.tensor([np.int64(1), 2.5]),
    "np_int32_and_float": lambda t: t.tensor([np.int32(1), 2.0]),
    "np_uint8_and_int": lambda t: t.tensor([np.uint8(1), 2]),
    "np_bool_and_float": lambda t: t.tensor([np.bool_(True), 2.5]),
    "np_bool_and_bool": lambda t: t.tensor([np.bool_(False), True]),
    "np_bool_and_int": lambda t: attempt(t.tensor, [np.int64(2), np.bool_(True)]),
    "np_bool_as_int64": lambda t: attempt(t.tensor, [np.bool_(True)], dtype=t.int64),
    "f64_tensor_in_floats": lambda t: t.tensor([t.tensor(1.0, dtype=t.float64), 2.0]),
    "int_tensor_in_floats": lambda t: t.tensor([t.tensor(1), 2.5]),
    "as_tensor_np_f64": lambda t: t.as_tensor([np.float64(1), 2]),
    "np_f32_to_f64": lambda t: t.tensor([np.float32(0.1)], dtype=t.float64),
    "float_beyond_float32": lambda t: t.tensor([1e300, np.float32(1)]),
}


@pytest.mark.parametrize("name", sorted(CREATION_EDGES))
def test_creation_edge_cases(name):
    same(lambda torch: CREATION_EDGES[name](torch))


def test_numpy_arrays_in_a_list_keep_their_dtype_and_warn_once(monkeypatch):
    # torch warns once per process (TORCH_WARN_ONCE), so only distgrad's first time is asked
    same(lambda T: [T.tensor([np.array([1.0, 2.0]), np.array([3.0, 4.0])]),
                    T.tensor([np.array([1, 2], np.int32), [1.5, 2]]), T.tensor([2, np.array(1.5)])],
         warnings_too=False)
    monkeypatch.setattr(sys.modules["distgrad.tensor"], "_warned_once", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distgrad.tensor([[np.array([1.0])]])
        distgrad.tensor([np.array([1.0]), [2.0]])
        distgrad.tensor([distgrad.tensor([1.0])])
    assert [str(w.message) for w in caught] == [
        "Creating a tensor from a list of numpy.ndarrays is extremely slow. Please consider "
        "converting the list to a single numpy.ndarray with numpy.array() before converting to a "
        "tensor. (Triggered internally at /__w/pytorch/pytorch/torch/csrc/utils/tensor_new.cpp:"
        "252.)"]


@pytest.mark.parametrize("case", ["new_zeros", "new_ones", "new_full", "new_tensor", "stride",
                                  "type", "type_convert", "half", "cuda", "contiguous"])
def test_tensor_utilities_as_torch(case):
    def f(torch):
        x = torch.ones(2, 3, dtype=torch.float64)
        if case == "new_zeros":
            return x.new_zeros(4), x.new_zeros((2, 2))
        if case == "new_ones":
            return x.new_ones(3)
        if case == "new_full":
            return x.new_full((2,), 7.5)
        if case == "new_tensor":
            return x.new_tensor([1, 2]), x.new_tensor([1.5])
        if case == "stride":
            return x.stride(), x.stride(1), torch.zeros(4, 5, 6).stride()
        if case == "type":
            return x.type(), torch.ones(2).type(), torch.ones(2, dtype=torch.int64).type()
        if case == "type_convert":
            return torch.ones(2).type(torch.float64), torch.ones(2).type("torch.LongTensor")
        if case == "half":
            return torch.cuda.is_available(), torch.cuda.device_count()
        if case == "cuda":
            return torch.cuda.is_available()
        return x.is_contiguous(), x.contiguous()

    same(f)


@pytest.mark.parametrize("call", ["size(0)", "size(-1)", "size(-2)", "stride(0)", "stride(-1)",
                                  "size(1)"])
def test_a_dim_of_a_zero_dim_tensor_is_refused_in_torchs_words(call):
    same(lambda torch: attempt(eval, f"x.{call}", {"x": torch.tensor(1.0)}))


def test_float_of_a_tensor_requiring_grad_warns_only_with_grad_mode_on():
    # torch warns (once per process) about float() of such a tensor, but not under no_grad
    # (LBFGS reads its loss so, inside its no_grad step)
    import torch

    dtensor = sys.modules["distgrad.tensor"]  # (the module: distgrad.tensor is the function)

    got, words = [], []
    for T in (torch, distgrad):
        x = T.ones(1, requires_grad=True) * 2
        seen = []
        saved = list(dtensor._warned_float)
        dtensor._warned_float.clear()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with T.no_grad():
                    float(x)
                seen.append(len(caught))
                float(x)
                seen.append(len(caught))
        finally:
            dtensor._warned_float[:] = saved
        got.append(seen)
        words.append([str(w.message) for w in caught])
    assert got[1] == [0, 1]
    assert got[0][0] == 0  # (torch's own once-per-process flag may be spent already)
    assert words[1] == [
        "Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
        "behavior.\nConsider using tensor.detach() first. (Triggered internally at "
        "/__w/pytorch/pytorch/torch/csrc/autograd/generated/python_variable_methods.cpp:822.)"]
    assert words[0] in ([], words[1])


def test_nonzero_of_a_0_dim_tensor_as_torch():
    # torch takes a 0-dim tensor as a 1-element vector for as_tuple, else as rows of no
    # columns (numpy refuses it)
    import torch

    for value in (0.0, 5.0, True):
        want = torch.tensor(value)
        got = distgrad.tensor(value)
        for t, d in zip(want.nonzero(as_tuple=True), got.nonzero(as_tuple=True)):
            assert d.tolist() == t.tolist() and d.dtype == distgrad.int64
        assert tuple(got.nonzero().shape) == tuple(want.nonzero().shape)


def test_real_dense_methods_as_torch():
    # a real, dense tensor is its own conjugate and real part; the legacy new(); gcd/lcm
    import torch

    got = []
    for T in (torch, distgrad):
        x, i = T.tensor([1.5, -2.0]), T.tensor([12, 18, -4])
        row = [x.is_signed(), T.tensor([True]).is_signed(), T.is_signed(i),
               x.is_same_size(T.zeros(2)), T.is_same_size(x, T.zeros(3)), x.conj() is x,
               T.conj(x) is x, x.resolve_conj() is x, x.resolve_neg() is x, x.is_conj(),
               T.is_neg(x), x.real is x, T.gcd(i, T.tensor([8, 12, 6])).tolist(),
               i.lcm(T.tensor([8, 12, 6])).tolist(), x.new([1, 2]).tolist(),
               tuple(x.new(2, 3).shape), tuple(x.new().shape), str(i.new([1.5]).dtype)]
        try:
            x.imag
        except RuntimeError as e:
            row.append(str(e))
        got.append(row)
    assert got[0] == got[1]


def test_deepcopy_of_a_tensor_with_history_is_refused():
    import copy

    def f(T):
        leaf = T.ones(2, requires_grad=True)
        copied = copy.deepcopy(leaf)
        return [copied, copied is leaf, attempt(copy.deepcopy, leaf * 2),
                attempt(copy.deepcopy, [leaf[0]]), copy.deepcopy(T.ones(2).view(1, 2)),
                copy.deepcopy(leaf.detach() * 3)]

    same(f)


def test_apply_and_map_run_a_python_function_on_each_element_as_torch():
    # in place, cast to the tensor's dtype, through a view into its base, with no version
    # count; refused for a tensor that requires grad and for a result that is no number
    def scenario(T):
        x = T.tensor([1.5, -2.0, 0.25])
        ints = T.tensor([[1, 2], [3, 4]])
        base = T.arange(6.0).reshape(2, 3)
        base.t().apply_(lambda v: v * 10)
        out = [x.apply_(lambda v: v * 2), x._version, ints.apply_(lambda v: v + 0.9),
               T.tensor([True, False]).apply_(lambda v: not v), base,
               T.tensor([1.0, 2.0]).map_(T.tensor([10.0]), lambda a, b: a + b)]
        return out + [attempt(lambda: T.tensor([1.0], requires_grad=True).apply_(abs)),
                      attempt(lambda: T.tensor([1.0]).apply_(lambda v: "a"))]

    same(scenario)


@pytest.mark.parametrize("name", ["fmod", "atan2", "fmax", "hypot", "eq", "lt", "clamp",
                                  "logaddexp", "matmul", "sum", "softmax", "isclose",
                                  "cdist", "vander", "where", "searchsorted"])
def test_a_function_whose_first_argument_is_a_tensor_refuses_a_number_as_torch(name):
    # torch.fmod(2.0, t) has no overload taking a number first: a TypeError naming the
    # function (and the argument: torch lists its overloads instead where it has several),
    # where distgrad computed (fmod, eq, where) or failed inside (matmul)
    got = []
    for T in (__import__("torch"), distgrad):
        try:
            getattr(T, name)(2.0, T.tensor([1.5, 2.0]))
        except TypeError as e:
            got.append(str(e).split("(")[0])  # (the function torch's message names)
        else:
            got.append(None)
    assert got[0] == got[1] == name


def test_the_functions_that_take_a_number_first_still_do():
    same(lambda T: [T.pow(2.0, T.tensor([1.0, 3.0])), T.sub(1, T.tensor([2, 5])),
                    T.remainder(5, T.tensor([3, 4])), T.xlogy(2.0, T.tensor([4.0])),
                    T.bucketize(2, T.tensor([1, 3]))])
