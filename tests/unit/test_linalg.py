"""distgrad.linalg where the op cases cannot reach: torch's LinAlgError and its words for
singular and non-positive-definite matrices (one matrix and a batch), the det gradient at
singular matrices (zero at det = 0 first-order, the SVD formula in double backward), and
the result types' field names."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad
from torch_twin import attempt, same


def _both(fn, value):
    out = []
    for T in (distgrad, torch):
        with pytest.raises(Exception) as exc:
            fn(T, T.tensor(value))
        out.append(exc.value)
    return out


@pytest.mark.parametrize("name, fn, value", [
    ("inv", lambda T, a: T.linalg.inv(a), np.zeros((2, 2), np.float32)),
    ("inv_batch", lambda T, a: T.inverse(a), np.stack([np.eye(3), np.ones((3, 3))])),
    ("inv_second_pivot", lambda T, a: T.linalg.inv(a), np.array([[1., 2.], [2., 4.]])),
    ("solve", lambda T, a: T.linalg.solve(a, a[..., 0]), np.zeros((2, 2))),
    ("solve_batch", lambda T, a: T.linalg.solve(a, a), np.stack([np.eye(2), np.zeros((2, 2))])),
    ("cholesky", lambda T, a: T.linalg.cholesky(a), -np.eye(2)),
    ("cholesky_minor_2", lambda T, a: T.linalg.cholesky(a), np.array([[1., 2.], [2., 1.]])),
    ("cholesky_batch", lambda T, a: T.linalg.cholesky(a), np.stack([np.eye(2), -np.eye(2)])),
])
def test_linalg_error_is_torchs(name, fn, value):
    ours, theirs = _both(fn, value)
    assert isinstance(ours, distgrad.linalg.LinAlgError) and isinstance(ours, RuntimeError)
    assert type(theirs).__name__.endswith("LinAlgError")
    assert str(ours) == str(theirs).split("\n")[0]


def test_info_outputs_report_without_raising():
    a = np.stack([np.eye(2), np.zeros((2, 2))])
    inv, info = distgrad.linalg.inv_ex(distgrad.tensor(a))
    t_info = torch.linalg.inv_ex(torch.tensor(a)).info
    np.testing.assert_array_equal(info.numpy(), t_info.numpy(), strict=True)
    low, info = distgrad.linalg.cholesky_ex(distgrad.tensor(np.stack([np.eye(2), -np.eye(2)])))
    t_info = torch.linalg.cholesky_ex(torch.tensor(np.stack([np.eye(2), -np.eye(2)]))).info
    np.testing.assert_array_equal(info.numpy(), t_info.numpy(), strict=True)


SINGULAR = [np.array([[1e-9, 0., 0.], [0., 1., 0.], [0., 0., 1e-9]]),  # det 1e-18 (< 100 eps)
            np.array([[1., 2.], [2., 4.]]),  # det exactly 0
            np.zeros((3, 3)),
            np.stack([np.array([[2., 1.], [1., 3.]]), np.array([[1., 2.], [2., 4.]])])]


@pytest.mark.parametrize("a", SINGULAR, ids=range(len(SINGULAR)))
def test_det_gradient_at_singular_matrices_is_torchs(a):
    got, want = [], []
    for T, out in ((distgrad, got), (torch, want)):
        x = T.tensor(a, requires_grad=True)
        g1, = T.autograd.grad(T.linalg.det(x).sum(), x)
        g2, = T.autograd.grad(T.linalg.det(x).sum(), x, create_graph=True)
        h, = T.autograd.grad((g2 * T.tensor(np.arange(a.size).reshape(a.shape) / 7.)).sum(), x)
        out.extend(t.detach().numpy() for t in (g1, g2, h))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-9)


def test_result_types_have_torchs_field_names():
    a = np.array([[4., 1.], [1., 3.]])
    for T in (distgrad, torch):
        x = T.tensor(a)
        r = T.linalg.slogdet(x)
        assert (r.sign.item(), round(r.logabsdet.item(), 6)) == (1.0, round(np.log(11.), 6))
        assert T.linalg.eigh(x).eigenvalues.shape == (2,)
        assert T.linalg.svd(x).Vh.shape == (2, 2)
        assert T.svd(x).V.shape == (2, 2)
        assert T.linalg.qr(x).R.shape == (2, 2)
        assert T.linalg.cholesky_ex(x).L.shape == (2, 2)
        assert T.triangular_solve(x, x).cloned_coefficient.shape == (2, 2)
        assert T.geqrf(x).tau.shape == (2,)


def test_geqrf_results_carry_torchs_node_whose_backward_raises():
    def scenario(T):
        x = T.tensor(np.arange(12.).reshape(4, 3) ** 0.5, requires_grad=True)
        a, tau = T.geqrf(x)
        return [a.grad_fn.name(), tau.grad_fn.name(), T.geqrf(x.detach()).a.grad_fn,
                attempt(lambda: T.autograd.grad(tau.sum(), x))]

    same(scenario)


def test_matrix_rank_and_pinv_tolerances_are_torchs():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 5, 3)) @ rng.standard_normal((2, 3, 4))
    for kw in ({}, {"atol": 1.0}, {"rtol": 0.3}, {"hermitian": False}):
        got = distgrad.linalg.matrix_rank(distgrad.tensor(a), **kw)
        want = torch.linalg.matrix_rank(torch.tensor(a), **kw)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.dtype is distgrad.int64
        np.testing.assert_allclose(distgrad.linalg.pinv(distgrad.tensor(a), **kw).numpy(),
                                   torch.linalg.pinv(torch.tensor(a), **kw).numpy(), atol=1e-9)


@pytest.mark.parametrize("ord", [1, -1, 1.0, float("inf"), float("-inf"), "fro"])
def test_cond_by_the_inverse_as_torch(ord):
    """‖A‖·‖A⁻¹‖, inf for a singular A; torch writes the inverse's inf in place, after
    inv_ex saved it, so its backward fails: distgrad's fails as torch's does."""
    a = np.array([[2.0, 1.0, 0.5], [1.0, 3.0, -1.0], [0.3, 0.2, 1.0]], np.float32)

    def f(T):
        x = T.tensor(a, requires_grad=True)
        batch = T.tensor(np.stack([a, a.T * 2, a @ a]))
        result = T.linalg.cond(x, ord)
        return [result, T.linalg.cond(batch, ord), T.linalg.cond(T.ones(2, 2), ord),
                T.linalg.cond(T.zeros(0, 2, 2), ord), attempt(result.backward)]

    same(f, rtol=1e-4)


def test_cond_of_singular_empty_and_rectangular_matrices_as_torch():
    # (a singular matrix whose zero singular value every LAPACK finds exactly: ones(2, 2)'s
    # is 0 in one build and 1e-17 in another, which makes cond inf or 6e16)
    def f(T):
        singular = T.tensor([[2.0, 0.0], [0.0, 0.0]])
        return [[T.linalg.cond(singular, o) for o in (None, 2, "nuc")],
                [T.linalg.cond(T.zeros(3, 0, 0), o) for o in (None, -2, 1, "fro", "nuc")],
                T.linalg.cond(T.zeros(0, 3)), T.linalg.cond(T.zeros(2, 0), -2),
                T.linalg.cond(T.tensor([[1.0, 2.0, 0.0], [0.5, 1.0, 3.0]]))]

    same(f, rtol=1e-4)


def test_norm_in_a_dtype_as_torch():
    same(lambda T: [T.ones(3, 4).norm(3, dtype=T.float64), T.ones(3, 4).norm(dtype=T.float64),
                    T.ones(3, 4).norm("nuc", dtype=T.float64),
                    T.norm(T.ones(2, 3), "fro", 1, True, dtype=T.float64)])


def test_vander_matmul_and_tensorsolve_as_torch():
    def scenario(T):
        x = T.tensor([1.0, -2.0, 0.5], requires_grad=True)
        rows = T.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
        v, w = T.linalg.vander(x, N=4), T.linalg.vander(rows)
        (v.sum() + (w * w).sum()).backward()
        A = T.tensor(np.random.default_rng(7).standard_normal((2, 3, 6)), requires_grad=True)
        B = T.tensor(np.random.default_rng(8).standard_normal((2, 3)))
        X = T.linalg.tensorsolve(A, B)
        moved = T.linalg.tensorsolve(A.permute(2, 0, 1), B, dims=(0,))
        (X * X).sum().backward()
        return [v, w, x.grad, rows.grad, T.linalg.vander(T.tensor([2, 3])),
                T.linalg.vander(T.tensor(2.0), N=3), X, moved, A.grad,
                T.linalg.matmul(T.ones(2, 3), T.arange(3.0)),
                attempt(lambda: T.linalg.vander(T.tensor([True]))),
                attempt(lambda: T.linalg.vander(x, N=1)),
                attempt(lambda: T.linalg.vander(T.tensor(2.0))),
                attempt(lambda: T.linalg.tensorsolve(T.ones(2, 3, 5), B))]

    same(scenario, rtol=1e-5, atol=1e-6)


def _products(fn, inputs) -> str:
    """Which products a graph is made of: each MmBackward0 with what it multiplies (an
    input by position, or the product it names)."""
    def name(node):
        for k, x in enumerate(inputs):
            if getattr(node, "variable", None) is x:
                return f"m{k}"
        if node.name() == "MmBackward0":
            return "(" + " ".join(name(child) for child, _ in node.next_functions) + ")"
        return name(node.next_functions[0][0])  # (views: the tensor behind them)

    return name(fn)


@pytest.mark.parametrize("shapes", [
    [(3, 3), (3, 3), (3, 3)],  # (three of equal cost: the left product first)
    [(2, 3), (3, 3), (3, 2), (2, 2)],  # (splits of equal cost: the first)
    [(4, 2), (2, 5), (5, 1), (1, 3), (3, 3)], [(3,), (3, 4), (4, 2), (2, 2)]])
@pytest.mark.parametrize("function", ["multi_dot", "chain_matmul"])
def test_a_chain_is_multiplied_in_torchs_order(shapes, function):
    # torch's chain_matmul is its multi_dot: for three matrices the cheaper side first (the
    # left on a tie), for more its dynamic programme's order; which product saves which
    # matrix follows (a write to one raises as in torch)
    if function == "chain_matmul" and len(shapes[0]) == 1:
        return
    got = []
    for T in (torch, distgrad):
        ms = [T.ones(*s, requires_grad=True) for s in shapes]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (chain_matmul is deprecated)
            out = T.linalg.multi_dot(ms) if function == "multi_dot" else T.chain_matmul(*ms)
        got.append(_products(out.grad_fn, ms))
    assert got[0] == got[1]


# A zero product's sign, as torch's kernels leave it: mm of one inner element, on two rows
# and columns or more, is each product itself (-0.82 * 0 stays -0: a later sqrt's gradient
# is -inf, not inf); one row or column, and dot, sum onto +0.
ZERO_PRODUCTS = {
    "mm_one_inner": lambda T, a, z: T.mm(a[:, :1], z[:1]),
    "matmul_one_inner": lambda T, a, z: (a[:, :1] @ a[:1, :1]) @ z[:1],
    "addmm_one_inner": lambda T, a, z: T.addmm(-z[:1], a[:, :1], z[:1]),
    "linear_one_inner": lambda T, a, z: T.nn.functional.linear(a[:, :1], z[:, :1]),
    "mm_one_row": lambda T, a, z: T.mm(a[:1, :1], z[:1]),
    "mm_one_column": lambda T, a, z: T.mm(a[:, :1], z[:1, :1]),
    "mm_two_inner": lambda T, a, z: T.mm(a, z),
    "dot_one": lambda T, a, z: T.dot(a[0, :1], z[0, :1]),
    "vdot_one": lambda T, a, z: T.vdot(a[0, :1], z[0, :1]),
    "matmul_vectors": lambda T, a, z: a[0, :1] @ z[0, :1],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(ZERO_PRODUCTS))
def test_a_zero_products_sign_is_torchs(case, dtype):
    def signs(T):
        a = T.tensor([[-0.82, -1.5], [-1.22, -0.5], [0.7, -2.0]], dtype=getattr(T, dtype))
        z = T.zeros(2, 3, dtype=a.dtype)
        return np.signbit(ZERO_PRODUCTS[case](T, a, z).numpy())

    np.testing.assert_array_equal(signs(distgrad), signs(torch))
