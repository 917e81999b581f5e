"""torch names added so that PyTorch programs run unchanged, against torch (torch_twin.same):
Tensor.ravel/unfold/diagflat/ldexp/H/mH/get_device/..., torch.isin, cov, corrcoef, the
trapezoid rule, vander, combinations, unravel_index, unique_consecutive, vmap, and
nn.functional's in-place activations, gumbel_softmax, the *_with_indices poolings, the
deprecated upsample names and the triplet loss with a distance function.

Values, dtypes, shapes, grad_fn names and gradients are compared; where distgrad's last node
is named otherwise than torch's C++ (a product by a number: MulBackward0, not MulBackward1)
the scenario returns the detached value and the gradients.
"""
from __future__ import annotations

import pickle
import sys
import warnings

import numpy as np
import pytest
import torch

import distgrad
import distgrad.distributed as dist
from torch_twin import attempt, node_name, same

A = np.random.default_rng(11).standard_normal((3, 5)).astype(np.float32)
B = np.random.default_rng(12).standard_normal((3, 5)).astype(np.float32)
INF, NAN = float("inf"), float("nan")


def leaf(T, array, dtype=None):
    return T.tensor(array, dtype=dtype, requires_grad=True)


def grads_of(T, out, *leaves):
    """The leaves' gradients for a fixed output gradient (the same for both libraries)."""
    seed = np.random.default_rng(13).standard_normal(tuple(out.shape)).astype(np.float32)
    out.backward(T.tensor(seed, dtype=out.dtype))
    return [x.grad for x in leaves]


def value_and_grads(T, out, *leaves):
    return [out.detach()] + grads_of(T, out, *leaves)


# ---- Tensor attributes: ndimension, get_device, H, mH ------------------------------------------

def test_ndimension_and_get_device_on_the_cpu():
    same(lambda T: [T.tensor(2.0).ndimension(), T.ones(2, 3, 4).ndimension(),
                    T.ones(2).get_device(), T.zeros(0, dtype=T.int64).get_device()])


def test_h_and_mh_transpose_real_matrices():
    def scenario(T):
        x = leaf(T, A)
        batch = leaf(T, np.stack([A, B]))
        h, mh = x.H, batch.mH
        return [h, mh, x.mH, h.is_contiguous(), mh.stride(),
                *grads_of(T, h * 2 + x.mH, x), *grads_of(T, mh, batch)]

    same(scenario)


def test_h_and_mh_refuse_what_is_not_a_matrix():
    same(lambda T: [attempt(lambda: T.ones(3).H), attempt(lambda: T.ones(2, 3, 4).H),
                    attempt(lambda: T.ones(3).mH)])


def test_h_and_mh_of_a_zero_dim_tensor_are_itself_with_one_warning(monkeypatch):
    # torch warns once per process (TORCH_WARN_ONCE), so only distgrad's first time is asked
    monkeypatch.setattr(sys.modules["distgrad.tensor"], "_warned_once", set())
    s = distgrad.tensor(2.0, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert s.H is s and s.H is s and s.mH is s
    assert [str(w.message) for w in caught] == [
        "Tensor.H is deprecated on 0-D tensors. Consider using x.conj(). (Triggered internally "
        "at /__w/pytorch/pytorch/aten/src/ATen/native/TensorShape.cpp:4335.)",
        "Tensor.mH is deprecated on 0-D tensors. Consider using x.conj(). (Triggered internally "
        "at /__w/pytorch/pytorch/aten/src/ATen/native/TensorShape.cpp:4382.)"]
    t = torch.tensor(2.0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert t.H is t and t.mH is t



def test_memory_device_and_layout_attributes():
    def scenario(T):
        tensors = [T.ones(2, 3), T.ones(3, dtype=T.float64).expand(4, 3), T.tensor([True]),
                   T.zeros(0, 5, dtype=T.int64), T.tensor(2.0)]
        return [[t.is_cuda, t.is_cpu, repr(t.layout), str(t.layout), t.layout == T.strided,
                 t.itemsize, t.nbytes, t.element_size()] for t in tensors] + [
            repr(T.strided), repr(T.sparse_coo), T.strided == T.sparse_coo,
            type(T.strided).__name__, pickle.loads(pickle.dumps(T.strided)) is T.strided]

    same(scenario)


def test_what_a_dense_cpu_tensor_is_not():
    flags = ("is_sparse", "is_sparse_csr", "is_quantized", "is_nested", "is_meta", "is_mkldnn",
             "is_mps", "is_xpu", "is_xla", "is_ipu", "is_vulkan", "is_mtia", "is_maia")
    same(lambda T: [[getattr(t, f) for f in flags] + [t.is_pinned(), t.is_distributed(),
                                                      t.const_data_ptr() == t.data_ptr()]
                    for t in (T.ones(2, 3), T.tensor(1, dtype=T.int64))])


def test_adjoint_and_new_empty_strided():
    def scenario(T):
        x = leaf(T, A)
        batch = leaf(T, np.stack([A, B]))
        adj = x.adjoint()
        strided = x.new_empty_strided((2, 3), (1, 2), dtype=T.float64)
        return [adj, adj._base is x, T.adjoint(batch), *grads_of(T, adj * 2, x),
                attempt(lambda: T.ones(3).adjoint()), strided.shape, strided.stride(),
                strided.dtype, strided.requires_grad, x.new_empty_strided((2,), (1,)).dtype]

    same(scenario)


def test_mt_of_a_zero_dim_tensor_is_itself_and_of_a_vector_refused(monkeypatch):
    monkeypatch.setattr(sys.modules["distgrad.tensor"], "_warned_once", set())
    s = distgrad.tensor(2.0, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert s.mT is s and s.mT is s
    assert [(str(w.message), w.filename) for w in caught] == [
        ("Tensor.mT is deprecated on 0-D tensors. This function is the identity in these cases. "
         "(Triggered internally at /__w/pytorch/pytorch/aten/src/ATen/native/TensorShape.cpp:"
         "4373.)", __file__)]
    same(lambda T: [attempt(lambda: T.ones(3).mT), T.ones(2, 3, 4).mT.stride()])


def test_adjoint_of_a_zero_dim_tensor_is_itself_with_one_warning(monkeypatch):
    monkeypatch.setattr(sys.modules["distgrad.tensor"], "_warned_once", set())
    s = distgrad.tensor(2.0, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert s.adjoint() is s and s.adjoint() is s
    assert [str(w.message) for w in caught] == [
        "adjoint() is deprecated on 0-D tensors. Consider using x.conj(). (Triggered internally "
        "at /__w/pytorch/pytorch/aten/src/ATen/native/TensorShape.cpp:4390.)"]


def test_data_ptr_tells_shared_memory_at_the_same_offset():
    """Each view's address less its base's, as torch has it; a copy elsewhere; 0 when empty."""
    def scenario(T):
        x = T.arange(24.0).reshape(2, 3, 4)
        views = [x.view(6, 4), x.transpose(0, 2), x[1], x[1, 2], x[:, 1:], x[..., 1::3],
                 x.detach(), x.data, x.reshape(-1), x[:, :1].expand(2, 5, 4), x.diagonal(0, 1, 2),
                 x.narrow(2, 1, 2), x.as_strided((2, 2), (1, 3), 5), x.unbind(1)[2],
                 x.split(1, 2)[3], x[1].t()[2:], x.unfold(2, 2, 1), x.mT]
        written = x.clone()
        before = written.data_ptr()
        written.add_(1).transpose_(0, 1)
        copies = [x.clone(), x.transpose(0, 1).contiguous(), x[[0]]]
        return ([v.data_ptr() - x.data_ptr() for v in views]
                + [written.data_ptr() == before, isinstance(x.data_ptr(), int)]
                + [c.data_ptr() != x.data_ptr() for c in copies]
                + [T.tensor([]).data_ptr(), T.zeros(0, 3).data_ptr(), x[2:].data_ptr()])

    same(scenario)


def test_data_ptr_of_a_tensor_from_numpy_is_the_arrays():
    array = np.ones(3, dtype=np.float32)
    assert distgrad.from_numpy(array).data_ptr() == array.ctypes.data
    assert distgrad.from_numpy(array[1:]).data_ptr() == array.ctypes.data + 4


def test_bfloat16_conversion_is_torchs():
    """(distgrad once refused it: numpy has no bfloat16; tests/unit/test_bfloat16.py)"""
    assert distgrad.ones(2).bfloat16().dtype is distgrad.bfloat16
    assert repr(torch.ones(2).bfloat16().dtype) == repr(distgrad.ones(2).bfloat16().dtype)


T_WARNINGS = [
    "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is deprecated "
    "and it will throw an error in a future release. Consider `x.mT` to transpose batches of "
    "matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to reverse the dimensions of a "
    "tensor.",
    "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."]


def _t_warnings(T, *shapes):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [T.ones(shape).T for shape in shapes]
    return results, [str(w.message).split(" (Triggered internally")[0] for w in caught]


def test_t_of_a_tensor_not_2d_warns_once(monkeypatch):
    # torch warns once per process (TORCH_WARN_ONCE): its words are checked where it says them
    _, theirs = _t_warnings(torch, (2, 3, 4), ())
    assert set(theirs) <= set(T_WARNINGS)
    monkeypatch.setattr(sys.modules["distgrad.tensor"], "_warned_once", set())
    shapes = [(2, 3, 4), (3,), (2, 3), (2, 3, 4, 5), (), ()]
    results, ours = _t_warnings(distgrad, *shapes)
    assert ours == T_WARNINGS
    assert [tuple(r.shape) for r in results] == [tuple(reversed(s)) for s in shapes]


# ---- comparisons under torch's long names -------------------------------------------------------

def test_comparison_aliases():
    def scenario(T):
        x, y = T.tensor(A), T.tensor(B)
        i = T.tensor([[0, 1, 2, 3, 4]])
        return [T.greater(x, y), x.greater(0.5), T.greater_equal(x, i), x.greater_equal(y),
                T.less(i, x), x.less(y), T.less_equal(x, 0), i.less_equal(2),
                T.not_equal(x, y), i.not_equal(T.tensor([1, 1, 2, 2, 4]))]

    same(scenario)


# ---- ravel, diagflat ----------------------------------------------------------------------------

def test_ravel_is_a_view_of_a_contiguous_tensor_and_a_copy_of_another():
    def scenario(T):
        x = leaf(T, A)
        base = x * 1
        flat = base.ravel()
        flat[0:2].mul_(10)  # writes through the view into base
        strided = T.ravel(x.t())
        return [flat, base, strided, T.ravel(T.tensor(3.5)), T.ravel(T.zeros(2, 0)),
                T.ravel(T.tensor([[True], [False]])), *grads_of(T, strided * flat.detach(), x)]

    same(scenario)


@pytest.mark.parametrize("offset", [0, 1, -2])
def test_diagflat(offset):
    def scenario(T):
        x = leaf(T, A[:2, :3])
        out = T.diagflat(x, offset)
        return [out, x.diagflat(offset=offset), T.diagflat(T.tensor(2.0), offset),
                T.diagflat(T.tensor([1, 2]), offset), T.diagflat(T.zeros(0), offset),
                *grads_of(T, out, x)]

    same(scenario)


# ---- Tensor.unfold ------------------------------------------------------------------------------

@pytest.mark.parametrize("dimension,size,step", [(1, 2, 1), (1, 5, 1), (-1, 3, 2), (0, 2, 1),
                                                 (1, 2, 4), (0, 0, 1), (1, 0, 3), (-2, 3, 3)])
def test_unfold_windows_values_layout_and_gradient(dimension, size, step):
    def scenario(T):
        x = leaf(T, A)
        out = x.unfold(dimension, size, step)
        return [out, out.stride(), out.storage_offset(), out.is_contiguous(),
                *grads_of(T, out, x)]

    same(scenario)


def test_unfold_of_strided_tensors_and_of_a_window():
    def scenario(T):
        x = leaf(T, A)
        sliced = x[:, 1:]
        a = x.t().unfold(0, 2, 1)
        b = sliced.unfold(1, 2, 2)
        c = x.unfold(1, 3, 1).unfold(0, 2, 1)  # windows of windows
        return [a, a.stride(), b, b.stride(), b.storage_offset(), c, c.stride(),
                *grads_of(T, a.sum() + b.sum() * 2 + (c * c).sum(), x)]

    same(scenario)


def test_unfold_of_zero_dim_and_empty_tensors():
    def scenario(T):
        s = leaf(T, np.float32(1.5))
        one = s.unfold(0, 1, 3)
        return [one, s.unfold(-1, 0, 1), T.zeros(0, 3).unfold(0, 0, 1),
                T.zeros(0, 3).unfold(1, 2, 1), T.arange(6).unfold(0, 4, 1),
                *grads_of(T, one, s)]

    same(scenario)


def test_unfold_writes_through_disjoint_windows():
    def scenario(T):
        x = leaf(T, A)
        base = x * 1
        windows = base.unfold(1, 2, 2)  # columns (0, 1) and (2, 3); column 4 untouched
        windows.mul_(T.tensor([3.0, -1.0]))
        return [base, base.grad_fn.name(), *grads_of(T, base, x)]

    same(scenario)


def test_unfold_misuse():
    same(lambda T: [attempt(T.ones(3, 4).unfold, 1, 5, 1), attempt(T.ones(3, 4).unfold, 0, -1, 1),
                    attempt(T.ones(3, 4).unfold, 0, 2, 0), attempt(T.ones(3, 4).unfold, 2, 1, 1),
                    attempt(T.tensor(1.0).unfold, 0, 2, 1), attempt(T.tensor(1.0).unfold, 1, 1, 1)])


# ---- pointwise: bitwise_not, isposinf, isneginf, ldexp ------------------------------------------

def test_bitwise_not():
    def scenario(T):
        i = T.tensor([[1, 0, -3], [7, -8, 2]])
        b = T.tensor([True, False])
        written = i.clone()
        out = written.bitwise_not_()
        return [T.bitwise_not(i), i.bitwise_not(), T.bitwise_not(b), b.bitwise_not(),
                written, out is written, T.bitwise_not(T.tensor(5)),
                attempt(T.bitwise_not, T.ones(2)), attempt(T.ones(2).bitwise_not_),
                attempt(lambda: ~T.ones(2))]

    same(scenario)


def test_shifts_of_integers():
    """Past the width, or by a negative amount: 0 to the left, the sign to the right."""
    def scenario(T):
        i = T.tensor([1, -8, 5, 2 ** 40, -1])
        by = T.tensor([0, 1, 2, 3, 4])
        left, right = i.clone(), i.clone()
        left <<= 3
        right >>= by
        chained = i.clone().bitwise_left_shift_(1).bitwise_right_shift_(T.tensor(2))
        view = T.tensor([[1, 2], [4, 8]])
        view[0] >>= 1
        return [i >> 2, i << 3, i >> by, i << by, 100 >> T.tensor([1, 2]), 3 << T.tensor([1, 2]),
                T.bitwise_right_shift(i, 1), T.bitwise_left_shift(3, by), i.bitwise_left_shift(2),
                i.bitwise_right_shift(by), left, right, chained, view,
                i >> -1, i >> 63, i >> 64, i >> 70, i << 63, i << 64, i << -1,
                i >> T.tensor([64, 65, -1, 100, 63]), T.tensor([[1], [2]]) << by,
                T.tensor(16) >> T.tensor(2), T.tensor([True, False]) >> 1]

    same(scenario)


def test_shifts_refuse_floats_and_bools_as_torch():
    def scenario(T):
        i, f = T.tensor([8]), T.tensor([8.0, 3.5])
        return [attempt(lambda: f >> 1), attempt(lambda: f << 1), attempt(lambda: i >> 1.5),
                attempt(lambda: i >> T.tensor([1.0])), attempt(lambda: 2.5 >> i),
                attempt(lambda: T.tensor([True]) << T.tensor([True])),
                attempt(lambda: T.ones(1, dtype=T.float64).bitwise_right_shift(2)),
                attempt(i.__ilshift__, T.tensor([1.5])), attempt(f.__irshift__, 1),
                attempt(T.tensor([True]).__irshift__, 1), attempt(i.__iand__, T.tensor([1.5])),
                attempt(i.__ior__, 0.5), attempt(T.tensor([True]).__ixor__, 2)]

    same(scenario)


def test_isposinf_and_isneginf():
    def scenario(T):
        x = T.tensor([1.0, INF, -INF, NAN, 0.0], requires_grad=True)
        d = T.tensor([INF, -INF], dtype=T.float64)
        return [T.isposinf(x), T.isneginf(x), x.isposinf(), x.isneginf(), T.isposinf(d),
                d.isneginf(), T.isposinf(T.tensor([1, 2])), T.isneginf(T.tensor([True])),
                T.isposinf(T.tensor(INF)), T.isneginf(T.zeros(0))]

    same(scenario)


def test_ldexp_values_dtypes_and_gradients():
    def scenario(T):
        x = leaf(T, A[0])
        e = leaf(T, np.array([1.5, 2.0, -1.0, 0.0, 3.0], np.float32))
        out = T.ldexp(x, e)
        ints = T.tensor([1, -2, 3])
        power = T.tensor([3, 0, -2])
        power5 = T.tensor([3, 0, -2, 1, 4])  # (one per element of x)
        return [out.detach(), *grads_of(T, out, x, e),
                T.ldexp(ints, power), T.ldexp(T.tensor([True]), T.tensor([2])),
                ints.ldexp(T.tensor(2)), T.ldexp(x.detach().double(), power5),
                T.ldexp(x.detach(), power5.double()), T.ldexp(T.tensor([3.0]), T.tensor([-2000])),
                T.ldexp(T.tensor([1.0]), T.tensor([2000]))]

    same(scenario)


def test_ldexp_in_place_and_misuse():
    def scenario(T):
        y = T.tensor([1.0, 2.0, -0.5])
        out = y.ldexp_(T.tensor([2, 3, 1]))
        return [y, out is y, attempt(T.ldexp, T.ones(2), 3), attempt(T.ones(2).ldexp, 3),
                attempt(T.ones(2).ldexp_, 3), attempt(T.ldexp, 2.0, T.ones(2)),
                attempt(T.tensor([1, 2]).ldexp_, T.tensor([1, 2])),
                attempt(T.ldexp, T.ones(2), T.tensor([1, 2]), out=T.empty(2, dtype=T.int64)),
                attempt(T.ldexp, T.ones(2), T.tensor([True, False]))]

    same(scenario)


def test_ldexp_by_integers_is_std_ldexp():
    # a float times 2 ** an integer exponent is std::ldexp in torch (0 stays 0 where 2 ** e
    # overflows; the exponent is taken as a C int), else self * 2.0 ** other; the
    # gradient of self is grad * 2 ** other, an integer power (0 for e < 0)
    def scenario(T):
        x = T.tensor([0.0, 3.0, 1e-40, 1.5], requires_grad=True)
        e = T.tensor([200, 2 ** 40, 1, -1])
        out = T.ldexp(x, e)
        return [out, out.grad_fn.name(), T.autograd.grad(out.sum(), x),
                T.ldexp(T.tensor([0, 1]), T.tensor([200, -200])),
                T.ldexp(T.tensor([1.0], dtype=T.float16), T.tensor([-25, -24, 15, 16])),
                T.ldexp(T.tensor([0.0, 1.0]), T.tensor([200.0, -200.0]))]

    same(scenario)


# ---- isin, unique_consecutive -------------------------------------------------------------------

def test_isin():
    def scenario(T):
        e = T.tensor([[1, 2, 3], [4, 2, 9]])
        f = T.tensor([1.5, NAN, 2.0, -INF])
        return [T.isin(e, T.tensor([2, 9, 9, 0])), T.isin(e, T.tensor([[4], [3]]), invert=True),
                T.isin(e, 2), T.isin(3, T.tensor([1, 3])), T.isin(5, T.tensor([1, 3]), invert=True),
                T.isin(f, T.tensor([NAN, 1.5, -INF])), T.isin(f, T.tensor([2])),
                T.isin(e, T.tensor([2.0, 3.5])),
                T.isin(T.tensor([4, 1, 7]), T.tensor([1, 2, 4]), assume_unique=True),
                T.isin(T.tensor([4, 1, 7]), T.tensor([7, 2]), assume_unique=True, invert=True),
                T.isin(T.zeros(0, dtype=T.int64), T.tensor([1])),
                T.isin(e, T.zeros(0, dtype=T.int64)),
                T.isin(e, T.zeros(0, dtype=T.int64), invert=True),
                T.isin(T.tensor(2.0), T.tensor([2.0])),
                T.isin(leaf(T, A), T.tensor(A[1]))]

    same(scenario)


def test_isin_misuse():
    same(lambda T: [attempt(T.isin, T.tensor([True]), T.tensor([True])),
                    attempt(T.isin, T.tensor([1]), T.tensor([False]))])
    same(lambda T: attempt(T.isin, 1, 2), prefix=60)


@pytest.mark.parametrize("inverse,counts", [(False, False), (True, False), (False, True),
                                            (True, True)])
def test_unique_consecutive(inverse, counts):
    def scenario(T):
        a = T.tensor([1, 1, 2, 2, 3, 1, 1, 2])
        m = T.tensor([[1, 1], [1, 1], [2, 3], [1, 1]])
        f = T.tensor([[0.5, 0.5, 2.0], [0.5, NAN, NAN]])
        kw = dict(return_inverse=inverse, return_counts=counts)
        return [T.unique_consecutive(a, **kw), a.unique_consecutive(**kw),
                T.unique_consecutive(m, dim=0, **kw), T.unique_consecutive(m, dim=1, **kw),
                m.unique_consecutive(dim=-1, **kw), T.unique_consecutive(m, **kw),
                T.unique_consecutive(f, **kw), T.unique_consecutive(T.tensor(3.0), **kw),
                T.unique_consecutive(T.zeros(0), **kw),
                T.unique_consecutive(T.zeros(0, 2), dim=0, **kw),
                T.unique_consecutive(T.tensor([True, True, False]), **kw)]

    same(scenario)


def test_unique_keeps_every_nan_apart():
    def scenario(T):
        f = T.tensor([2.0, NAN, 2.0, NAN, 1.0])
        return [T.unique(f, return_inverse=True, return_counts=True), f.unique(sorted=False),
                T.tensor([[NAN, 1.0], [1.0, NAN]]).unique(return_inverse=True)]

    same(scenario)


@pytest.mark.parametrize("values", [[-1.0, -0.0, -2.0, 0.0, -1.0, -1.0], [0.0, -0.0, 0.0, -1.0],
                                    [1.0, -0.0, 0.0], [0.0, -0.0] * 20 + [NAN, -0.0]])
def test_unique_keeps_the_zero_torchs_sort_puts_first(values):
    """torch sorts, then keeps the first of each run: of 0.0 and -0.0 the one its sort
    puts first (np.unique's sort may put the other there; the sign shows when printed)."""
    def scenario(T):
        out = T.unique(T.tensor(values), return_inverse=True, return_counts=True)
        return [str(out[0]), *out]

    same(scenario)


def test_unique_consecutive_misuse():
    same(lambda T: [attempt(T.unique_consecutive, T.ones(2, 2), dim=2),
                    attempt(T.unique_consecutive, T.zeros(3, 0), dim=0)])


# ---- cov, corrcoef ------------------------------------------------------------------------------

FW = np.array([1, 2, 0, 3, 1])
AW = np.array([0.5, 1.0, 2.0, 0.25, 1.5], np.float32)


@pytest.mark.parametrize("correction", [1, 0, 2])
@pytest.mark.parametrize("weights", ["none", "f", "a", "both"])
def test_cov_values_and_gradients(correction, weights):
    def scenario(T):
        x = leaf(T, A)
        kw = {}
        if weights in ("f", "both"):
            kw["fweights"] = T.tensor(FW)
        if weights in ("a", "both"):
            kw["aweights"] = T.tensor(AW)
        out = T.cov(x, correction=correction, **kw)
        row = leaf(T, B[0])
        scalar = T.cov(row, correction=correction, **kw)
        return [out, x.cov(correction=correction, **kw), *grads_of(T, out, x),
                scalar, *grads_of(T, scalar, row),
                T.cov(T.tensor([[1, 2, 4, 7, 0], [3, 3, 1, 0, 2]]), correction=correction, **kw)]

    same(scenario)


def test_cov_with_too_few_observations_warns_and_gives_nan():
    same(lambda T: [T.cov(T.tensor(A[:, :1])), T.cov(T.tensor(A), correction=5),
                    T.cov(T.zeros(2, 0)), T.cov(T.tensor(A[:, :1]), fweights=T.tensor([2]))])


def test_cov_misuse():
    def scenario(T):
        x = T.tensor(A)
        return [attempt(T.cov, T.ones(2, 2, 2)), attempt(T.cov, T.tensor([True, False])),
                attempt(T.cov, x, fweights=T.tensor([1.0] * 5)),
                attempt(T.cov, x, fweights=T.tensor([1, -2, 1, 3, 1])),
                attempt(T.cov, x, fweights=T.tensor([1, 2])),
                attempt(T.cov, x, fweights=T.ones(5, 1, dtype=T.int64)),
                attempt(T.cov, x, aweights=T.tensor([1, 2, 1, 3, 1])),
                attempt(T.cov, x, aweights=-T.tensor(AW)),
                attempt(T.cov, x, aweights=T.tensor(AW[:3])),
                attempt(T.cov, x, fweights=T.zeros(5, dtype=T.int64))]

    same(scenario)


def test_corrcoef():
    def scenario(T):
        x = leaf(T, A)
        out = T.corrcoef(x)
        return [out, x.corrcoef(), *grads_of(T, out, x), T.corrcoef(T.tensor([1.0, 2.0, 3.0])),
                T.corrcoef(T.tensor([[1, 2, 3], [3, 2, 1]])),
                T.corrcoef(T.tensor([[1.0, 1.0, 1.0], [3.0, 2.0, 1.0]])),
                attempt(T.corrcoef, T.ones(2, 2, 2))]

    same(scenario)


# ---- the trapezoid rule -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["trapezoid", "trapz"])
def test_trapezoid_with_spacing_or_sample_points(name):
    def scenario(T):
        integrate = getattr(T, name)
        y = leaf(T, A)
        results = []
        for kw in ({}, {"dx": 0.5}, {"dx": 2, "dim": 0}):
            results += value_and_grads(T, integrate(y, **kw), y)
            y.grad = None
        points = leaf(T, np.array([0.0, 1.0, 3.0, 3.5, 5.0], np.float32))
        results += value_and_grads(T, integrate(y, points), y, points)
        y.grad = None
        grid = leaf(T, np.cumsum(np.abs(B), axis=0))
        results += value_and_grads(T, integrate(y, grid, dim=0), y, grid)
        y.grad = None
        row = leaf(T, np.abs(B[0]).cumsum())  # fewer dims than y: broadcast over its rows
        results += value_and_grads(T, integrate(y, row[None]), y, row)
        return results + [integrate(T.tensor([1, 2, 3])), integrate(T.tensor([1, 2, 3]), dx=2),
                          integrate(T.zeros(3, 0)), integrate(T.zeros(0, 3, dtype=T.int64), dim=0)]

    same(scenario)


def test_trapezoid_multiplies_by_its_numbers_as_torch():
    # torch's C++ multiplies and divides by the step and the 1/2 through the Scalar
    # overloads: MulBackward1/DivBackward1 nodes, and an integer y times 0.5 is a float
    def scenario(T):
        y = leaf(T, A)
        points = T.tensor([0.0, 1.0, 3.0, 3.5, 5.0])
        made = [T.trapezoid(y), T.trapezoid(y, dx=0.5), T.trapezoid(y, points),
                T.cumulative_trapezoid(y, dx=3), T.cumulative_trapezoid(y, points),
                T.cumulative_trapezoid(y, points).grad_fn.next_functions[0][0]]
        whole = T.tensor([[1, 3, 2], [4, -1, 0]])
        return [node_name(m if not isinstance(m, T.Tensor) else m.grad_fn) for m in made] + [
            T.trapezoid(whole, dx=0.5), T.trapezoid(whole, T.tensor([0, 1, 3])),
            T.cumulative_trapezoid(whole.to(T.int32), dx=3),
            T.cumulative_trapezoid(whole.half(), dx=0.25, dim=0)]

    same(scenario)


def test_trapezoid_misuse():
    def scenario(T):
        y = T.tensor(A)
        return [attempt(T.trapezoid, y, T.tensor([0.0, 1.0])),
                attempt(T.trapezoid, T.tensor([True, False])),
                attempt(T.trapezoid, y, T.tensor([True] * 5)),
                attempt(T.trapezoid, y, dx=True),
                attempt(T.cumulative_trapezoid, y, T.tensor([0.0, 1.0])),
                attempt(T.cumulative_trapezoid, T.tensor([True, False]))]

    same(scenario)
    same(lambda T: attempt(T.trapezoid, T.tensor(A), T.tensor(A), dx=2), prefix=60)


def test_gradient_by_steps_and_by_coordinates():
    def scenario(T):
        x = leaf(T, A)
        coords = T.tensor([0.0, 1.0, 3.0, 4.5, 7.0])
        parts = [*T.gradient(x), *T.gradient(x, dim=1, edge_order=2),
                 *T.gradient(x, spacing=[2.0, 0.5]), *T.gradient(x, spacing=3.0, dim=[-1]),
                 *T.gradient(x, spacing=(coords,), dim=1),
                 *T.gradient(x, spacing=(coords,), dim=1, edge_order=2)]
        total = sum((p * (k + 1)).sum() for k, p in enumerate(parts))
        return parts + grads_of(T, total, x) + [
            T.gradient(T.tensor([1, 2, 4, 8])), T.gradient(T.tensor([1, 2, 4, 8]), edge_order=2),
            attempt(lambda: T.gradient(T.tensor([1.0]))),
            attempt(lambda: T.gradient(x, edge_order=3)),
            attempt(lambda: T.gradient(x, dim=1, spacing=[1.0, 2.0])),
            attempt(lambda: T.gradient(x, spacing=[1.0, 2.0, 3.0])),
            attempt(lambda: T.gradient(x, spacing=(T.ones(2, 5),), dim=1))]

    same(scenario)


def test_cumulative_trapezoid():
    def scenario(T):
        y = leaf(T, A)
        results = []
        for kw in ({}, {"dx": 0.5}, {"dx": 3, "dim": 0}):
            out = T.cumulative_trapezoid(y, **kw)
            results += [out, *grads_of(T, out, y)]
            y.grad = None
        points = leaf(T, np.array([0.0, 1.0, 3.0, 3.5, 5.0], np.float32))
        results += value_and_grads(T, T.cumulative_trapezoid(y, points), y, points)
        return results + [T.cumulative_trapezoid(T.tensor([1, 2, 3])),
                          T.cumulative_trapezoid(T.zeros(3, 0)),
                          T.cumulative_trapezoid(T.zeros(3, 1))]

    same(scenario)


# ---- vander, combinations, unravel_index --------------------------------------------------------

def test_vander_values_and_dtypes():
    def scenario(T):
        x = leaf(T, np.array([1.0, 2.0, 0.0, -1.5], np.float32))
        return [T.vander(x), T.vander(x, N=2), T.vander(x, 0), T.vander(x, 1),
                T.vander(x, 6, increasing=True).detach(), T.vander(x.detach().double(), 3),
                T.vander(T.tensor([1, 2, 3]), 3), T.vander(T.tensor([True, False])),
                T.vander(T.zeros(0)), attempt(T.vander, T.ones(2, 2)), attempt(T.vander, x, -1)]

    same(scenario)


def test_vander_gradient_is_the_powers_derivative():
    # torch's own vander cannot be differentiated (its in-place cumprod fails the version
    # check); its gradient is that of the powers, which torch computes through pow
    x_np = np.array([1.0, 2.0, 0.5, -1.5], np.float64)
    seed = np.random.default_rng(14).standard_normal((4, 5))
    x = distgrad.tensor(x_np, requires_grad=True)
    distgrad.vander(x, 5).backward(distgrad.tensor(seed))
    t = torch.tensor(x_np, requires_grad=True)
    (t.unsqueeze(1) ** torch.arange(4, -1, -1)).backward(torch.tensor(seed))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    at_zero = distgrad.tensor([0.0, 3.0], dtype=distgrad.float64, requires_grad=True)
    assert distgrad.autograd.gradcheck(lambda v: distgrad.vander(v, 4, increasing=True),
                                       (at_zero,))


@pytest.mark.parametrize("r,with_replacement", [(2, False), (3, False), (2, True), (3, True),
                                                (1, False), (0, False), (5, False), (5, True)])
def test_combinations(r, with_replacement):
    def scenario(T):
        x = leaf(T, A[0, :4])
        out = T.combinations(x, r, with_replacement)
        result = [out, T.combinations(T.tensor([1, 2, 3]), r=r, with_replacement=with_replacement),
                  T.combinations(T.zeros(0, dtype=T.int64), r)]
        if out.requires_grad and out.numel():
            result += grads_of(T, out, x)
        return result

    same(scenario)


def test_combinations_misuse():
    same(lambda T: [attempt(T.combinations, T.ones(3), -1), attempt(T.combinations, T.ones(2, 2))])


def test_unravel_index():
    def scenario(T):
        return [T.unravel_index(T.tensor([4, 1, 5]), (3, 2)), T.unravel_index(T.tensor(4), (3, 2)),
                T.unravel_index(T.tensor([[1234], [5678]]), (10, 10, 10, 10)),
                T.unravel_index(T.tensor([7, 3]), 10), T.unravel_index(T.tensor([-1, 9]), (3, 2)),
                T.unravel_index(T.tensor([1]), ()), T.unravel_index(T.tensor([5]), T.Size([2, 3])),
                attempt(T.unravel_index, T.tensor([1.0]), (3,)),
                attempt(T.unravel_index, T.tensor([True]), (3,)),
                attempt(T.unravel_index, T.tensor([1]), (3, -1)),
                attempt(T.unravel_index, T.tensor([1]), 2.5),
                attempt(T.unravel_index, T.tensor([1]), (2, 2.5))]

    same(scenario)


# ---- torch.vmap ---------------------------------------------------------------------------------

def test_vmap_is_func_vmap():
    assert distgrad.vmap is distgrad.func.vmap

    def scenario(T):
        x = T.tensor(A)
        return [T.vmap(lambda row: (row * row).sum())(x),
                T.vmap(T.outer, in_dims=(0, None))(x, T.tensor(B[0]))]

    same(scenario)


# ---- nn.functional: in-place activations --------------------------------------------------------

IN_PLACE = [("relu_", ()), ("elu_", ()), ("elu_", (0.5,)), ("elu_", (2.0, 1.5, 0.5)),
            ("leaky_relu_", ()), ("leaky_relu_", (0.2,)), ("hardtanh_", ()),
            ("hardtanh_", (-0.5, 0.25)), ("selu_", ()), ("celu_", ()), ("celu_", (0.7,)),
            ("threshold_", (0.1, -3.0)), ("rrelu_", ()), ("rrelu_", (0.2, 0.4))]


@pytest.mark.parametrize("name,args", IN_PLACE)
def test_in_place_activations(name, args):
    def scenario(T):
        f = getattr(T.nn.functional, name)
        x = leaf(T, A)
        y = x * 1
        out = f(y, *args)
        return [out is y, y, *grads_of(T, y, x), attempt(f, leaf(T, A), *args)]

    same(scenario)


def test_in_place_activations_keywords_and_hardtanh_without_its_check():
    def scenario(T):
        F = T.nn.functional
        x = T.tensor(A)
        return [F.elu_(x.clone(), alpha=2.0), F.leaky_relu_(x.clone(), negative_slope=0.3),
                F.hardtanh_(x.clone(), min_val=1.0, max_val=-1.0), F.celu_(x.clone(), alpha=2.0),
                F.threshold_(x.clone(), threshold=0.0, value=5.0),
                F.rrelu_(x.clone(), lower=0.1, upper=0.3), attempt(F.elu_, T.tensor([1, 2]))]

    same(scenario)


def test_rrelu_in_training_scales_negatives_by_a_draw_within_bounds():
    x = distgrad.tensor(A)
    y = x.clone()
    out = distgrad.nn.functional.rrelu_(y, 0.1, 0.3, training=True)
    assert out is y
    ratio = (y / x).numpy()
    assert np.allclose(ratio[A > 0], 1.0)
    assert ((ratio[A < 0] >= 0.1) & (ratio[A < 0] <= 0.3)).all()


# ---- gumbel_softmax -----------------------------------------------------------------------------

NOISE = np.random.default_rng(15).exponential(size=(3, 5)).astype(np.float32)


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("tau,dim", [(1.0, -1), (0.5, 0)])
def test_gumbel_softmax_with_fixed_noise_as_torch(monkeypatch, hard, tau, dim):
    # both libraries draw exponential_ noise; fixed here, so their results can be compared
    for T in (torch, distgrad):
        monkeypatch.setattr(T.Tensor, "exponential_",
                            lambda self, *a, _T=T, **k: self.copy_(_T.tensor(NOISE)))

    def scenario(T):
        x = leaf(T, A)
        out = T.nn.functional.gumbel_softmax(x, tau=tau, hard=hard, dim=dim)
        return [out, *grads_of(T, out, x)]

    same(scenario)


def test_gumbel_softmax_properties_and_eps_warning():
    def scenario(T):
        F = T.nn.functional
        T.manual_seed(0)
        x = leaf(T, A)
        soft = F.gumbel_softmax(x, tau=0.7)
        hard = F.gumbel_softmax(x, hard=True, dim=0)
        rows = soft.sum(-1)
        columns = hard.sum(0)
        one_hot = bool(((hard == 0) | (hard == 1)).all())
        # straight through: the hard sample's gradient is its soft sample's
        x2 = leaf(T, A)
        T.manual_seed(1)
        h = F.gumbel_softmax(x2, tau=0.5, hard=True)
        (h * T.tensor(B)).sum().backward()
        T.manual_seed(1)
        x3 = leaf(T, A)
        s = F.gumbel_softmax(x3, tau=0.5)
        (s * T.tensor(B)).sum().backward()
        return [bool(T.allclose(rows, T.ones(3))), bool((soft > 0).all()), one_hot,
                columns.tolist(), hard.grad_fn.name(), bool(T.allclose(x2.grad, x3.grad)),
                bool(T.equal(h.argmax(-1), s.argmax(-1))),
                F.gumbel_softmax(T.tensor(A), eps=1e-3).shape]

    same(scenario)


# ---- pooling with indices, deprecated upsample names --------------------------------------------

POOL = np.random.default_rng(16).standard_normal((2, 3, 6, 5, 4)).astype(np.float32)


@pytest.mark.parametrize("name,shape,args", [
    ("max_pool1d_with_indices", (2, 3, 6), (2,)),
    ("max_pool1d_with_indices", (3, 6), (3, 2, 1)),
    ("max_pool2d_with_indices", (2, 3, 6, 5), ((2, 3), 1)),
    ("max_pool2d_with_indices", (3, 6, 5), (2, None, 1, 1, True)),
    ("max_pool3d_with_indices", (2, 3, 6, 5, 4), (2,)),
    ("adaptive_max_pool1d_with_indices", (2, 3, 6), (4,)),
    ("adaptive_max_pool2d_with_indices", (2, 3, 6, 5), ((3, None),)),
    ("adaptive_max_pool3d_with_indices", (2, 3, 6, 5, 4), ((2, 3, 2),)),
])
def test_pooling_with_indices(name, shape, args):
    def scenario(T):
        x = leaf(T, POOL.reshape(-1)[:int(np.prod(shape))].reshape(shape))
        pool = getattr(T.nn.functional, name)
        values, indices = pool(x, *args)
        flagged = pool(x.detach(), *args, return_indices=False)  # (ignored: always a pair)
        # (distgrad's adaptive max pooling is a composite: its last node is a view)
        shown = values.detach() if name.startswith("adaptive") else values
        return [shown, indices, flagged, *grads_of(T, values, x)]

    same(scenario)


@pytest.mark.parametrize("call", [
    lambda F, x: F.upsample_nearest(x, scale_factor=2),
    lambda F, x: F.upsample_nearest(x, size=(5, 3)),
    lambda F, x: F.upsample_bilinear(x, size=(4, 7)),
    lambda F, x: F.upsample_bilinear(x, scale_factor=1.5),
    lambda F, x: F.upsample(x, scale_factor=2, mode="bilinear"),
    lambda F, x: F.upsample(x, size=(3, 4)),
])
def test_deprecated_upsample_names_warn_and_interpolate(call):
    def scenario(T):
        x = leaf(T, POOL[0, :, :3, :4, 0].reshape(1, 3, 3, 4))
        out = call(T.nn.functional, x)
        return [out, *grads_of(T, out, x)]

    same(scenario)


# ---- the triplet loss with a distance function --------------------------------------------------

def cosine_distance(T):
    return lambda a, b: 1 - T.nn.functional.cosine_similarity(a, b)


@pytest.mark.parametrize("distance", [None, "cosine", "l1"])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_triplet_margin_with_distance_loss(distance, swap, reduction):
    def scenario(T):
        a, p = leaf(T, A), leaf(T, B)
        n = leaf(T, A[::-1].copy() * 0.5)
        fn = {None: None, "cosine": cosine_distance(T),
              "l1": lambda u, v: (u - v).abs().sum(-1)}[distance]
        F = T.nn.functional
        out = F.triplet_margin_with_distance_loss(a, p, n, distance_function=fn, margin=1.5,
                                                  swap=swap, reduction=reduction)
        module = T.nn.TripletMarginWithDistanceLoss(distance_function=fn, margin=1.5, swap=swap,
                                                    reduction=reduction)
        # (the default distance's norm is named otherwise in distgrad: values and gradients)
        return [out.detach(), module(a, p, n).detach(), *grads_of(T, out, a, p, n)]

    same(scenario)


def test_triplet_margin_with_distance_loss_module_and_misuse():
    def scenario(T):
        F, nn = T.nn.functional, T.nn
        a = T.tensor(A)
        loss = F.triplet_margin_with_distance_loss
        return [repr(nn.TripletMarginWithDistanceLoss()),
                repr(nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(p=1))),
                nn.TripletMarginWithDistanceLoss(margin=0.5).margin,
                attempt(loss, a, a, a, reduction="avg"), attempt(loss, a, a, a, margin=0),
                attempt(loss, a, a[0], a), attempt(nn.TripletMarginWithDistanceLoss, margin=-1.0)]

    same(scenario)


# ---- on a worker: the same values, and the results stay there -----------------------------------

@pytest.fixture
def local_workers():
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="local")
    yield
    dist.shutdown()


def test_added_functions_run_on_a_worker(local_workers, monkeypatch):
    # (index_reduce's warning fires once per process, in torch and in distgrad: a set of its
    # own here, so that a later test calling both sees both fire)
    monkeypatch.setattr(sys.modules["distgrad.tensor"], "_warned_once", set())
    x_cpu = distgrad.tensor(A, requires_grad=True)
    x = distgrad.tensor(A, device="worker:1", requires_grad=True)
    assert x.get_device() == 1 and distgrad.ones(1, device="worker:0").get_device() == 0

    def program(x):
        T = distgrad
        points = T.tensor([0.0, 1.0, 3.0, 3.5, 5.0], device=x.device)
        return [x.unfold(1, 2, 1).sum(-1), x.ravel(), T.diagflat(x[0]), T.cov(x), T.corrcoef(x),
                T.trapezoid(x, points), T.cumulative_trapezoid(x, dx=0.5),
                T.ldexp(x, T.tensor([1, 2, 0, -1, 3], device=x.device)), T.vander(x[0], 3),
                T.combinations(x[1], 2), T.isin(x.detach(), x.detach()[0]),
                T.unique_consecutive(x.detach().round()), x.H, x.isposinf(),
                distgrad.nn.functional.gumbel_softmax(x, hard=True).detach() * 0,
                T.logaddexp2(x, x * 2), x.nextafter(x.detach() + 1),
                x.index_reduce(0, T.tensor([2, 0], device=x.device), x[:2] * 3, "prod"),
                x.index_reduce(1, T.tensor([1, 1, 4], device=x.device), x[:, :3], "amax",
                               include_self=False),
                T.gradient(x, dim=1, edge_order=2)[0]]

    on_cpu, on_worker = program(x_cpu), program(x)
    for a, b in zip(on_cpu, on_worker):
        assert b.device_str == "worker:1"
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert not x.is_cpu and not x.is_cuda and x.layout is distgrad.strided
    assert x.data_ptr() == x.untyped_storage().data_ptr() and x[1].data_ptr() > x.data_ptr()
    backward = list(range(10)) + list(range(15, 20))  # (and the gradients of the new ops)
    sum(on_cpu[k].sum() for k in backward).backward()
    sum(on_worker[k].sum() for k in backward).backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), x_cpu.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---- histogram ----------------------------------------------------------------------------------

def test_histogram_results_and_its_missing_derivative():
    def scenario(T):
        x = T.tensor([1.0, 2.0, 1.0, 2.5, 4.0, 0.0], requires_grad=True)
        h = T.histogram(x, 3)
        hist, edges = x.histogram(T.tensor([0.0, 1.0, 2.5, 4.0]), weight=T.ones(6) * 2)
        return [type(h).__name__, h.hist, h.bin_edges, node_name(h.hist.grad_fn), hist, edges,
                attempt(h.hist.sum().backward), T.histogram(T.tensor([], dtype=T.float64), 2),
                T.histogram(T.tensor([1.0, NAN, 2.0]), 2, range=(0.0, 3.0))]

    same(scenario)


def test_unique_of_a_tensor_requiring_grad_has_torchs_node_without_derivative():
    def scenario(T):
        x = T.tensor([3.0, 1.0, 3.0], requires_grad=True)
        out = []
        for r in (T.unique(x, return_counts=True), T.unique(x, dim=0),
                  x.unique_consecutive(return_inverse=True)):
            u = r[0] if isinstance(r, tuple) else r
            out += [r, node_name(u.grad_fn), attempt(u.sum().backward)]
        with T.no_grad():
            out.append(T.unique(x))
        return out

    same(scenario)


# ---- torch's constants and its top-level in-place functions ---------------------------------------

def test_constants():
    same(lambda T: [T.pi, T.e, T.inf, T.nan, T.newaxis, T.ones(2)[T.newaxis].shape])


def test_top_level_in_place_functions_are_the_methods():
    def scenario(T):
        x = T.tensor([0.25, -1.5, 2.0])
        a = x * 1
        b = T.tensor([1.5, 2.5]).requires_grad_() * 1
        i = T.tensor([4, 6])
        return [T.relu_(a) is a, a, T.exp_(a), T.clamp_(x.clone(), min=0.0, max=1.0),
                T.sigmoid_(b), b.grad_fn.name(), T.fill_(x.clone(), 2.0), T.zero_(x.clone()),
                T.gcd_(i, T.tensor([6, 4])), T.xlogy_(x.abs(), 2.0), T.round_(x.clone()),
                T.relu_.__name__, attempt(T.exp_, 1.0), attempt(T.relu_, None),
                attempt(T.exp_, T.tensor([1]))]

    same(scenario)


# ---- window functions ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window",
                                  "bartlett_window", "kaiser_window"])
def test_window_functions(name):
    def scenario(T):
        window = getattr(T, name)
        return [window(n, periodic) for n in (0, 1, 2, 5, 8, 33) for periodic in (True, False)] + [
            window(6, dtype=T.float64), window(4, requires_grad=True),
            attempt(window, -1), attempt(window, 4, dtype=T.int64),
            attempt(window, 3, dtype=T.bool), attempt(window, 2.0),
            attempt(window, 3, requires_grad=1)]

    same(scenario)


def test_window_parameters():
    same(lambda T: [T.hamming_window(9, False, 0.5, 0.4), T.hamming_window(8, True, 0.6),
                    T.kaiser_window(9, False, 3.5), T.kaiser_window(10, True, 0.0)])


def test_window_parameters_by_keyword_match_torchs_overloads():
    """periodic, alpha, beta are overloads' prefixes: a later one by keyword without those
    before it is torch's TypeError (the keywords listed in reverse, as torch's map has them)."""
    same(lambda T: [
        attempt(T.kaiser_window, 6, beta=8.0), attempt(T.hamming_window, 6, True, beta=0.4),
        attempt(T.hamming_window, 6, alpha=1.0, beta=8.0, requires_grad=True),
        attempt(T.kaiser_window, window_length=6, beta=8.0),
        T.hamming_window(6, periodic=False, alpha=0.5, beta=0.4),
        T.kaiser_window(6, periodic=True, beta=2.0), T.hann_window(window_length=6)])


@pytest.mark.parametrize("name", ["hann_window", "hamming_window", "blackman_window",
                                  "bartlett_window"])
@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16", "float32"])
def test_window_functions_round_as_torch_computes_them(name, dtype):
    """In the dtype op by op, as ATen does: float64's and the 16-bit dtypes' values are
    torch's to the bit, float32's to the ulp its cos may differ by; and a Blackman window's
    ends print as torch's (0 in float64, -2.98e-08 in float32)."""
    for n in (2, 3, 5, 8, 33, 100):
        for periodic in (True, False):
            ours = getattr(distgrad, name)(n, periodic, dtype=getattr(distgrad, dtype))
            theirs = getattr(torch, name)(n, periodic, dtype=getattr(torch, dtype))
            tol = 1.2e-7 if dtype == "float32" else 0.0
            np.testing.assert_allclose(ours.float().numpy(), theirs.float().numpy(), rtol=0, atol=tol)
    assert str(distgrad.blackman_window(5, dtype=distgrad.float64)) == str(
        torch.blackman_window(5, dtype=torch.float64))
    assert str(distgrad.blackman_window(5)) == str(torch.blackman_window(5))


def test_gather_takes_sparse_grad_false():
    """gather(..., sparse_grad=False), as code passing torch's keyword writes it; a sparse
    gradient (True) is not built."""
    def scenario(T):
        x = leaf(T, A)
        index = T.tensor([[0, 4, 4], [1, 1, 0]])
        out = T.gather(x, 1, index, sparse_grad=False) + x.gather(1, index, sparse_grad=False)
        return [out.detach(), *grads_of(T, out, x)]

    same(scenario)
    with pytest.raises(NotImplementedError, match="sparse_grad"):
        distgrad.ones(2, 3).gather(1, distgrad.tensor([[0]]), sparse_grad=True)


def test_normalize_into_out_as_torch():
    """F.normalize(..., out=): torch.div's out (its own input too, as a table normalized in
    place is written), its resize warning, dtype check and refusal of a graph."""
    def scenario(T):
        F = T.nn.functional
        w = T.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 1.0]])
        out = T.empty(3, 2)
        same_tensor = F.normalize(w, out=out) is out
        table = w.clone()
        F.normalize(table, p=1, dim=0, out=table)
        return [same_tensor, out, table, table._version,
                F.normalize(w, out=T.empty(3, 2, dtype=T.float64)),
                attempt(F.normalize, w, out=T.empty(3, 2, dtype=T.int64)),
                attempt(F.normalize, w.clone().requires_grad_(), out=T.empty(3, 2))]

    same(scenario)


# ---- grid_sample and affine_grid: torch's warnings, and on a worker ------------------------------

def test_grid_sample_and_affine_grid_warn_as_torch():
    def scenario(T):
        F = T.nn.functional
        theta = T.tensor([[[0.9, 0.1, 0.0], [-0.2, 1.1, 0.1]]])
        x = T.arange(12.0).reshape(1, 1, 3, 4)
        grid = F.affine_grid(theta, [1, 1, 2, 3])  # (warns: align_corners not given)
        return [grid, F.grid_sample(x, grid), F.affine_grid(theta, [1, 1, 1, 3], True),
                T.grid_sampler(x, grid, 1, 1, True)]

    same(scenario)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
def test_a_grid_at_pixel_centres_takes_torchs_bilinear_gradient(dtype, padding):
    """The identity map's grid lands on pixel centres, where the coordinate's gradient takes
    one pair of pixels or the other by the last bit of its unnormalized coordinate: torch's
    kernel computes it with one fused multiply-add (found by the spatial-transformer
    program in float64)."""
    def scenario(T):
        F = T.nn.functional
        d = getattr(T, dtype)
        theta = T.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]] * 2, dtype=d)
        x = (T.arange(200.0, dtype=d).reshape(2, 1, 10, 10) ** 1.5).requires_grad_()
        out = []
        for align in (False, True):
            grid = F.affine_grid(theta, (2, 1, 10, 10), align_corners=align).requires_grad_()
            y = F.grid_sample(x, grid, padding_mode=padding, align_corners=align)
            out += [y, T.autograd.grad(y.sum(), (x, grid))]
        return out

    # (a gradient from the other pair of pixels differs by percents: float32's sums by less)
    same(scenario, rtol=1e-4 if dtype == "float32" else 1e-9, atol=1e-6)


def test_grid_sample_runs_on_a_worker(local_workers):
    rng = np.random.default_rng(5)
    image, theta = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 2, 3)) * 0.5

    def program(device):
        x = distgrad.tensor(image, dtype=distgrad.float32, device=device, requires_grad=True)
        t = distgrad.tensor(theta, dtype=distgrad.float32, device=device, requires_grad=True)
        F = distgrad.nn.functional
        out = F.grid_sample(x, F.affine_grid(t, [2, 3, 3, 4], align_corners=False),
                            padding_mode="reflection", align_corners=False)
        out.sum().backward()
        return [out, x.grad, t.grad]

    for a, b in zip(program("cpu"), program("worker:1")):
        assert b.device_str == "worker:1"
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=1e-6)


# ---- nn.functional's ops at torch's top level, with its signatures -------------------------------

def _top_level_calls(T):
    rng = np.random.default_rng(21)

    def r(*shape):
        return T.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)

    x, y, sign = r(2, 3, 4), r(4), T.tensor([1.0, -1.0, 1.0, -1.0])
    running = [T.zeros(3), T.ones(3)]
    calls = {
        "selu": lambda: T.selu(x), "celu": lambda: T.celu(x, 0.5),
        "threshold": lambda: T.threshold(x, 0.1, 2.0),
        "prelu": lambda: T.prelu(x, T.tensor([0.1, 0.2, 0.3])), "rrelu": lambda: T.rrelu(x),
        "selu_": lambda: T.selu_(x * 1), "celu_": lambda: T.celu_(x * 1, 0.3),
        "threshold_": lambda: T.threshold_(x * 1, 0.0, -1.0), "rrelu_": lambda: T.rrelu_(x * 1),
        "conv3d": lambda: T.conv3d(r(1, 2, 3, 3, 3), r(2, 2, 2, 2, 2), None, 1, 1),
        "conv_transpose1d": lambda: T.conv_transpose1d(r(1, 2, 4), r(2, 3, 3), r(3), 2),
        "conv_transpose2d": lambda: T.conv_transpose2d(r(1, 2, 3, 3), r(2, 3, 2, 2)),
        "conv_transpose3d": lambda: T.conv_transpose3d(r(1, 2, 2, 2, 2), r(2, 1, 2, 2, 2)),
        "bilinear": lambda: T.bilinear(r(2, 3), r(2, 4), r(5, 3, 4), r(5)),
        "group_norm": lambda: T.group_norm(r(2, 4, 3), 2, r(4), r(4)),
        "batch_norm": lambda: (T.batch_norm(x, r(3), r(3), *running, True, 0.1, 1e-5, True),
                               running[0]),
        "instance_norm": lambda: T.instance_norm(x, r(3), r(3), None, None, True, 0.1, 1e-5,
                                                 True),
        "rms_norm": lambda: T.rms_norm(x, [4], r(4)),
        "max_pool1d": lambda: T.max_pool1d(x, 2),
        "max_pool3d": lambda: T.max_pool3d(r(1, 2, 4, 4, 4), 2, 1),
        "adaptive_avg_pool1d": lambda: T.adaptive_avg_pool1d(x, 2),
        "adaptive_max_pool1d": lambda: T.adaptive_max_pool1d(x, 2),
        "alpha_dropout": lambda: T.alpha_dropout(x, 0.3, False),
        "feature_alpha_dropout": lambda: T.feature_alpha_dropout(x, 0.3, False),
        "dropout_": lambda: T.dropout_(x * 1, 0.3, False),
        "constant_pad_nd": lambda: T.constant_pad_nd(x, [1, 2], 0.5)}
    for red in (0, 1, 2):
        calls.update({
            f"hinge_embedding_loss{red}": lambda red=red: T.hinge_embedding_loss(y, sign, 0.5,
                                                                                  red),
            f"margin_ranking_loss{red}": lambda red=red: T.margin_ranking_loss(y, r(4), sign,
                                                                                0.1, red),
            f"cosine_embedding_loss{red}": lambda red=red: T.cosine_embedding_loss(
                r(4, 3), r(4, 3), sign, 0.1, red),
            f"triplet_margin_loss{red}": lambda red=red: T.triplet_margin_loss(
                r(4, 3), r(4, 3), r(4, 3), 1.0, 2, 1e-6, False, red),
            f"binary_cross_entropy_with_logits{red}": lambda red=red:
                T.binary_cross_entropy_with_logits(y, (sign + 1) / 2, None, T.tensor([2.0]),
                                                   red),
            f"poisson_nll_loss{red}": lambda red=red: T.poisson_nll_loss(y, sign + 1, True,
                                                                          False, 1e-8, red)})
    return calls


@pytest.mark.parametrize("name", sorted(_top_level_calls(torch)))
def test_nn_functional_ops_at_top_level(name):
    def scenario(T):
        out = _top_level_calls(T)[name]()
        outs = list(out) if isinstance(out, tuple) else [out]
        return outs + [node_name(o.grad_fn) for o in outs]

    same(scenario)


def test_scalar_tensor():
    same(lambda T: [T.scalar_tensor(3), T.scalar_tensor(True),
                    T.scalar_tensor(2.5, dtype=T.float64),
                    T.scalar_tensor(1, requires_grad=True), T.scalar_tensor(T.tensor(4)),
                    T.scalar_tensor(2, dtype=T.int64),
                    attempt(lambda: T.scalar_tensor("a")),
                    attempt(lambda: T.scalar_tensor(3, dtype=T.int64, requires_grad=True))])


@pytest.mark.parametrize("name,args", [("uniform", (-1.0, 1.0)), ("normal", ()),
                                       ("constant", (0.5,)), ("eye", ()), ("xavier_uniform", ()),
                                       ("xavier_normal", ()), ("kaiming_uniform", ()),
                                       ("kaiming_normal", ()), ("orthogonal", ()),
                                       ("sparse", (0.5,))])
def test_deprecated_init_names_warn_and_fill(name, args):
    def scenario(T):
        t = T.zeros(4, 3)
        out = getattr(T.nn.init, name)(t, *args)
        return [out is t, t.shape, name != "constant" or bool((t == 0.5).all())]

    same(scenario)
