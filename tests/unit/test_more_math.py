"""What the op cases (more_math_op_cases.py) do not reach: which index median, nanmedian,
mode, cummax, cummin, topk and sort report on long rows full of ties and nan (torch's
std::sort, nth_element and partial_sort orders), quantile on bigger inputs in every mode, erfc, i0 and i1 over wide
ranges in float64, float32 tanh where it rounds to ±1, and torch's names and warnings for
the in-place and deprecated forms."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad

RNG = np.random.default_rng(20261204)
TOPK_RNG = np.random.default_rng(20261205)  # (its own: the other tests' draws stay as they were)


def _rows(kind: str, n: int, rng=RNG) -> np.ndarray:
    if kind == "normal":
        return rng.standard_normal((6, n)).astype(np.float32)
    x = rng.integers(0, 2 if kind == "two" else 4, size=(6, n)).astype(np.float32)
    if kind == "nan":
        x[:, ::5] = np.nan
    if kind == "descending":
        x = np.sort(x, 1)[:, ::-1].copy()
    return x


@pytest.mark.parametrize("name", ["median", "nanmedian", "mode", "cummax", "cummin"])
@pytest.mark.parametrize("n", [3, 16, 17, 40, 300])
@pytest.mark.parametrize("kind", ["two", "four", "nan", "descending", "normal"])
def test_selected_index_is_torchs(name, n, kind):
    x = _rows(kind, n)
    ours = getattr(distgrad, name)(distgrad.tensor(x), 1)
    theirs = getattr(torch, name)(torch.tensor(x), 1)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


@pytest.mark.parametrize("name", ["median", "mode", "cummax"])
def test_gradient_goes_to_the_selected_index(name):
    x = _rows("four", 40)
    ours = distgrad.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    getattr(distgrad, name)(ours, 1).values.sum().backward()
    getattr(torch, name)(theirs, 1).values.sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("sorted_", [True, False])
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("n, k", [(3, 2), (17, 1), (17, 9), (40, 39), (64, 1), (300, 4),
                                  (300, 5), (300, 120)])
@pytest.mark.parametrize("kind", ["two", "four", "nan", "descending", "normal"])
def test_topk_selects_and_orders_as_torch(kind, n, k, largest, sorted_):
    """k * 64 <= n selects by partial_sort, else by nth_element (then sorts k - 1 of them,
    or leaves them in the selection's order): which of equal values are taken, and where
    they land, are the algorithm's."""
    x = _rows(kind, n, TOPK_RNG)
    ours = distgrad.topk(distgrad.tensor(x), k, 1, largest, sorted_)
    theirs = torch.topk(torch.tensor(x), k, 1, largest, sorted_)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


@pytest.mark.parametrize("stable", [False, True])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("n", [3, 16, 17, 40, 300])
@pytest.mark.parametrize("kind", ["two", "four", "nan", "descending", "normal"])
def test_sort_orders_equal_values_as_torch(kind, n, descending, stable):
    x = _rows(kind, n, TOPK_RNG)
    ours = distgrad.sort(distgrad.tensor(x), dim=1, descending=descending, stable=stable)
    theirs = torch.sort(torch.tensor(x), dim=1, descending=descending, stable=stable)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())


@pytest.mark.parametrize("case", ["argsort", "msort", "dim0", "bool", "int8", "long_1d",
                                  "long_1d_descending", "expanded", "empty"])
def test_sort_orders_equal_values_as_torch_elsewhere(case):
    """1-D integers of 32768 or more, ascending, take torch's radix sort (stable); an
    expanded dim keeps its order."""
    x = TOPK_RNG.integers(0, 3, size=(40, 30)).astype(np.float32)
    calls = {
        "argsort": lambda T, t: T.argsort(t, 1, descending=True),
        "msort": lambda T, t: (T.msort(t), T.sort(t, 0).indices),
        "dim0": lambda T, t: T.sort(t, 0, True).indices,
        "bool": lambda T, t: T.sort(t > 0, 1).indices,
        "int8": lambda T, t: T.sort(t.to(T.int8), 0).indices,
        "long_1d": lambda T, t: T.sort(t.long().reshape(-1).repeat(30)).indices,
        "long_1d_descending": lambda T, t: T.sort(t.long().reshape(-1).repeat(30), 0, True).indices,
        "expanded": lambda T, t: T.sort(t[:1, :1].expand(3, 40), 1).indices,
        "empty": lambda T, t: (T.sort(t[:0, 0]).indices, T.sort(t[:0], 1).indices,
                               T.topk(t[:, :0], 0).indices, T.topk(t[:0], 2).indices),
    }
    ours = calls[case](distgrad, distgrad.tensor(x))
    theirs = calls[case](torch, torch.tensor(x))
    for a, b in zip(ours if isinstance(ours, tuple) else (ours,),
                    theirs if isinstance(theirs, tuple) else (theirs,)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "int8", "float16", "float64"])
def test_topk_on_other_dtypes_and_dims(dtype):
    x = TOPK_RNG.integers(0, 3, size=(70, 5)).astype(dtype)
    x[0, 0] = np.iinfo(dtype).min if dtype.startswith(("int", "uint")) else -np.inf
    for k, largest in ((1, True), (1, False), (30, True), (30, False)):
        ours = distgrad.topk(distgrad.tensor(x), k, 0, largest)
        theirs = torch.topk(torch.tensor(x), k, 0, largest)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())


def test_topk_gradient_goes_to_the_selected_indices():
    x = _rows("four", 40, TOPK_RNG)
    ours = distgrad.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    w = TOPK_RNG.standard_normal((6, 7)).astype(np.float32)
    (distgrad.topk(ours, 7, 1).values * distgrad.tensor(w)).sum().backward()
    (torch.topk(theirs, 7, 1).values * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
def test_quantile_on_a_bigger_input(name, interpolation):
    x = RNG.standard_normal((7, 33)).astype(np.float64)
    x[2, ::3] = np.nan
    q = np.array([0.0, 0.13, 0.5, 0.77, 1.0])
    results = []
    for T in (distgrad, torch):
        t = T.tensor(x, requires_grad=True)
        out = getattr(T, name)(t, T.tensor(q), dim=1, interpolation=interpolation)
        (out.nan_to_num() * T.arange(35.0, dtype=T.float64).reshape(5, 7)).sum().backward()
        results.append((out.detach().numpy(), t.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12)


WIDE = np.concatenate([RNG.uniform(-30, 30, 2000), RNG.uniform(-3, 3, 2000),
                       [0.0, -0.0, 1e-300, 26.5, 27.3, -27.3, 700.0, np.inf, -np.inf, np.nan]])


@pytest.mark.parametrize("name", ["erfc", "i0", "sinc", "exp2", "asinh", "rad2deg"])
def test_float64_values_over_wide_ranges(name):
    ours = getattr(distgrad.tensor(WIDE), name)().numpy()
    theirs = getattr(torch.tensor(WIDE), name)().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-300, equal_nan=True)


def test_i1_behind_i0s_gradient_matches_torch():
    x = WIDE[np.isfinite(WIDE) & (np.abs(WIDE) < 700)]
    ours = distgrad.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    distgrad.i0(ours).sum().backward()
    torch.i0(theirs).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(ours.grad.numpy(), torch.special.i1(torch.tensor(x)).numpy(),
                               rtol=1e-13)


@pytest.mark.parametrize("method, arg", [("asinh_", ()), ("acosh_", ()), ("atanh_", ()),
                                         ("arcsinh_", ()), ("arccosh_", ()), ("arctanh_", ()),
                                         ("polygamma_", (1,))])
def test_in_place_forms_have_torchs_second_node(method, arg):
    names = []
    for T in (distgrad, torch):
        x = T.tensor([0.3, 0.6], requires_grad=True)
        y = x + (1.5 if "cosh" in method else 0.0)
        names.append(getattr(y, method)(*arg).grad_fn.name())
    assert names[0] == names[1]


def test_chain_matmul_warns_as_torch_once():
    m = distgrad.ones(2, 2)
    import distgrad.ops.products as products

    was, products._warned = products._warned, False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            distgrad.chain_matmul(m, m)
            distgrad.chain_matmul(m, m)
    finally:  # (left as it was: torch's once-flag is untouched here, and tests that compare
        products._warned = was  # both libraries' warnings after this one count on the pair)
    assert [str(w.message)[:38] for w in caught] == ["torch.chain_matmul is deprecated and w"]


def test_positive_is_the_input_itself():
    x = distgrad.ones(2, requires_grad=True)
    assert distgrad.positive(x) is x and x.positive() is x


def test_result_fields_are_torchs():
    x = distgrad.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    low, high = distgrad.aminmax(x, dim=1)
    assert distgrad.aminmax(x).min.item() == 0.0 and distgrad.aminmax(x).max.item() == 5.0
    assert low.tolist() == [1.0, 0.0] and high.tolist() == [3.0, 5.0]
    for name in ("median", "nanmedian", "mode", "cummax", "cummin"):
        r = getattr(x, name)(1)
        assert r.values is r[0] and r.indices is r[1]


def test_out_int32_gives_int32_indices_as_torch():
    for T in (distgrad, torch):
        s = T.tensor([1.0, 2.0, 3.0])
        found = T.searchsorted(s, T.tensor([2.5, 0.0]), out_int32=True)
        bucket = T.bucketize(T.tensor([2.5, 0.0]), s, out_int32=True, right=True)
        assert str(found.dtype) == str(bucket.dtype) == "torch.int32"
        assert found.tolist() == [2, 0] and bucket.tolist() == [2, 0]


@pytest.mark.parametrize("ord", [float("inf"), -float("inf")])
def test_an_infinity_norms_gradient_counts_nan_among_its_maxima_as_torch(ord):
    """torch's mask of the maxima holds a NaN's place too: a row with NaN shares its
    gradient there (times sign(NaN) = 0), never 0/0."""
    rows = [[3.0, np.nan, 1.0, np.nan, -np.inf], [np.inf, 2.0, -np.inf, 0.0, 2.0],
            [1.0, -1.0, 0.5, 1.0, 0.0]]
    grads = []
    for T in (distgrad, torch):
        x = T.tensor(rows, requires_grad=True)
        n = T.linalg.vector_norm(x, ord, dim=-1)
        n.backward(T.tensor([1.0, 2.0, 3.0]))
        grads.append(x.grad.tolist())
    np.testing.assert_array_equal(*grads)


def test_cdist_second_order_nodes_and_batch_sum_are_torchs():
    """torch's _cdist_backward gives the gradient over the broadcast batch (the engine sums
    it to the operand), x2's from the transposed grad and result made contiguous, and its
    node CdistBackwardBackward0 (pdist's PdistBackwardBackward0) refuses a backward."""
    def names(T):
        a = T.tensor(np.arange(9.0).reshape(3, 3) / 7, requires_grad=True)
        b = T.tensor(np.cos(np.arange(12.0)).reshape(4, 3), requires_grad=True)
        batch = T.tensor(np.sin(np.arange(24.0)).reshape(2, 4, 3), requires_grad=True)
        out = []
        for d, wrt in ((T.cdist(a, b), (a, b)), (T.cdist(a[None], batch, p=1), (a, batch)),
                       (T.pdist(a), (a,))):
            grads = T.autograd.grad(d.sum(), wrt, create_graph=True)
            out.append([(gr.grad_fn.name(), [n.name() if n else None
                                             for n, _ in gr.grad_fn.next_functions])
                        for gr in grads])
            out.append([np.round(gr.detach().numpy(), 5).tolist() for gr in grads])
            with pytest.raises(NotImplementedError) as raised:
                grads[-1].sum().backward()
            out.append(str(raised.value))
        return out

    assert names(distgrad) == names(torch)


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_bisects_past_nan_as_torch(right):
    """torch's bisection compares with >= (or >): a NaN boundary it meets is below every
    value and a NaN value is above every boundary; NumPy would sort NaN last."""
    nan = float("nan")
    seq = np.array([[0.0, 1.0, nan], [0.5, nan, nan], [nan, nan, nan],
                    [0.0, nan, 1.0]], np.float32)
    values = np.array([[nan, 0.5, 5.0, -1.0], [0.05, 0.1, 0.7, np.inf], [0.0, nan, -np.inf, 3.0],
                       [0.5, 1.0, 2.0, nan]], np.float32)
    ours, theirs = (T.searchsorted(T.tensor(seq), T.tensor(values), right=right).tolist()
                    for T in (distgrad, torch))
    assert ours == theirs
    flat = (T.bucketize(T.tensor(values[1]), T.tensor(seq[0]), right=right).tolist()
            for T in (distgrad, torch))
    assert next(flat) == next(flat)


def test_searchsorted_refuses_what_torch_refuses():
    for T in (distgrad, torch):
        seq2 = T.tensor([1.0, 2.0])
        cases = [(T.tensor(1.0), T.tensor([1.5]), None), (T.tensor(1.0), T.tensor(1.5), None),
                 (T.tensor([[1.0, 2.0]]), T.tensor(1.5), None),
                 (T.tensor([False, True]), T.tensor([True]), None),
                 (seq2, T.tensor([1.5]), T.tensor([0, 2])),
                 (seq2, T.tensor([1.5]), T.tensor([0.0, 1.0])),
                 (seq2, T.tensor([1.5]), T.tensor([0.0]))]
        errors = []
        for seq, values, sorter in cases:
            with pytest.raises((RuntimeError, NotImplementedError)) as raised:
                T.searchsorted(seq, values, sorter=sorter)
            errors.append((raised.type, str(raised.value)))
        if T is distgrad:
            ours = errors
    assert ours == errors
    for T in (distgrad, torch):  # (empty rows and values)
        assert T.searchsorted(T.zeros(2, 0), T.ones(2, 3)).tolist() == [[0] * 3] * 2


@pytest.mark.parametrize("rows, mode", [(30, "use_mm_for_euclid_dist_if_necessary"),
                                        (4, "donot_use_mm_for_euclid_dist"),
                                        (4, "use_mm_for_euclid_dist")])
def test_cdist_gradient_at_zero_distance_is_torchs(rows, mode):
    """Each row against itself: the direct path's gradient there is 0; the matrix-product
    path clamps |a|² + |b|² - 2a·b at 0 and masks the zeros of the result (its rounding
    leaves a few diagonal entries above zero, as torch's does: rows of their own, not the
    module's generator's next, which depend on the tests run before)."""
    a = np.random.default_rng(rows).standard_normal((rows, 3)).astype(np.float32)
    results = []
    for T in (distgrad, torch):
        x = T.tensor(a, requires_grad=True)
        d = T.cdist(x, x, compute_mode=mode)
        (d * T.arange(float(rows * rows)).reshape(rows, rows)).sum().backward()
        results.append((d.detach().numpy(), x.grad.numpy(), d.grad_fn.name()))
    assert results[0][2] == results[1][2]
    np.testing.assert_allclose(results[0][0], results[1][0], atol=1e-6)
    scale = np.abs(results[1][1]).max()
    np.testing.assert_allclose(results[0][1], results[1][1], atol=1e-4 * scale)


def test_bincount_of_weights_that_require_grad_has_torchs_node():
    names = []
    for T in (distgrad, torch):
        w = T.tensor([0.5, 1.5, 2.5], requires_grad=True)
        out = T.bincount(T.tensor([2, 0, 2]), w)
        names.append((out.grad_fn.name(), len(out.grad_fn.next_functions), out.tolist()))
    assert names[0] == names[1]


@pytest.mark.parametrize("op", ["tanh", "tanh_", "mish"])
def test_float32_tanh_is_one_where_it_rounds_to_one_and_its_gradient_zero(op):
    # numpy's float32 tanh stays one ulp short of 1 up to |x| = 10; torch's is 1 from
    # 9.010914 on, and its gradient 1 - y² there is 0, not 1.2e-7 (fuzzer seed 9419142: a
    # chain of products made that a gradient of -3.9e-5 against torch's 0).
    x = np.concatenate([np.linspace(8.5, 12.0, 4001), -np.linspace(8.5, 12.0, 4001),
                        [0.5, -3.0, 20.0]]).astype(np.float32)
    outs = []
    for T in (torch, distgrad):
        t = T.tensor(x, requires_grad=True)
        if op == "tanh_":
            y = (t * 1).tanh_()
        else:
            y = t.tanh() if op == "tanh" else T.nn.functional.mish(t)
        y.sum().backward()
        outs.append((y.detach().numpy(), t.grad.numpy()))
    (want, want_grad), (got, got_grad) = outs
    np.testing.assert_allclose(got, want, rtol=1e-6)
    if op == "mish":  # x·tanh(softplus(x)) is x itself there
        np.testing.assert_array_equal(got[x > 9.02], want[x > 9.02])
    else:
        np.testing.assert_array_equal(np.abs(got) == 1, np.abs(want) == 1)
        np.testing.assert_array_equal(got_grad == 0, want_grad == 0)


def test_float32_tanh_and_its_gradient_near_saturation_are_torchs():
    # Beyond |x| = 3 numpy's float32 tanh is one ulp off a third of the time and tanh's
    # gradient 1 - y² (torch: one rounding, a fused multiply-add) cancels: rounded twice it
    # was 2e-2 off torch's relative at |x| = 9; one ulp of y was 2e-3 at |x| = 5.7 (fuzzer
    # seed 9559571). torch's own float32 tanh is one ulp off the rounded value for ~0.1%.
    x = np.concatenate([np.linspace(3.0, 9.0, 3001), -np.linspace(3.0, 9.0, 3001)])
    (want, want_grad), (got, got_grad) = _values_and_gradients("tanh", x.astype(np.float32))
    assert np.mean(got == want) > 0.99
    assert np.mean(got_grad == want_grad) > 0.99
    same_y = got == want
    np.testing.assert_array_equal(got_grad[same_y], want_grad[same_y])


def test_a_second_order_pass_through_a_norm_cancels_exactly_as_torchs():
    # d/dv of v·(x / v) is 0: torch's float32 gets exactly 0 through its div backward's
    # formula, -g·((a / b) / b); distgrad's -g·a / (b·b) rounded to 1.5e-5 (fuzzer seed
    # 9428051, a hook on the norm in the second-order pass).
    seen = {}
    for T in (torch, distgrad):
        x = T.tensor([-0.63, 0.41, 0.01], requires_grad=True)
        v = (x * x + x * x).norm()
        hooked = []
        v.register_hook(lambda g: hooked.append(g.detach()))
        (g,) = T.autograd.grad(v * v, [x], create_graph=True)
        T.autograd.grad((g * g).sum(), [x])
        seen[T.__name__] = [h.numpy() for h in hooked]
    np.testing.assert_array_equal(seen["distgrad"], seen["torch"])


def test_float32_sigmoid_gradient_rounds_as_torchs():
    # torch multiplies (g·(1 - y))·y; g·(y·(1 - y)) rounds otherwise (a third of the time)
    x = np.linspace(-12.0, 12.0, 4001).astype(np.float32)
    (want, want_grad), (got, got_grad) = _values_and_gradients("sigmoid", x)
    same_y = got == want
    assert same_y.mean() > 0.5
    np.testing.assert_array_equal(got_grad[same_y], want_grad[same_y])


def _values_and_gradients(op: str, x):
    """(value, gradient for a random upstream gradient) of `op` at x, torch's then ours."""
    g = np.random.default_rng(0).standard_normal(x.size).astype(x.dtype)
    outs = []
    for T in (torch, distgrad):
        t = T.tensor(x, requires_grad=True)
        y = getattr(t, op)()
        y.backward(T.tensor(g))
        outs.append((y.detach().numpy(), t.grad.numpy()))
    return outs


def test_atan2_gradient_is_zero_where_the_squares_sum_to_zero():
    # torch's atan2 backward sets 1 / (a² + b²) to 0 where a² + b² is 0 (the origin, or
    # two squares that underflow); where only one square underflows it stays inf (nan, inf)
    a = np.array([0.0, 0.0, -0.0, 1e-30, 1e-30, 1e-20, 0.0, np.inf, 1.0, 1.0], np.float32)
    b = np.array([0.0, -0.0, 0.0, 0.0, 1e-30, 0.0, 1e-25, 1.0, np.inf, 2.0], np.float32)
    outs = []
    for T in (torch, distgrad):
        x, y = T.tensor(a, requires_grad=True), T.tensor(b, requires_grad=True)
        T.atan2(x, y).backward(T.tensor(np.full(a.size, 2.0, np.float32)))
        outs.append((x.grad.numpy(), y.grad.numpy()))
    for want, got in zip(*outs):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_ops_that_make_inf_and_nan_do_not_warn():
    # torch computes 0·inf, 0/0, log(0) and their gradients silently; numpy warns unless told
    # otherwise (the gradients of x·log(x), 0 ** q and atan2 at 0 warned)
    def program(T):
        x = T.tensor([0.0, 1.0, 2.0], requires_grad=True)
        q = T.tensor([0.0, 0.5, 2.0], requires_grad=True)
        y = x * x.log() + (x * 0) ** q + T.atan2(x * 0, x * 0) + x / (x * 0)
        y.sum().backward()
        return y, x.grad, q.grad

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = program(distgrad)
    want = program(torch)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.detach().numpy(), w.detach().numpy())


@pytest.mark.parametrize("var", [lambda x: x.sum().var(), lambda x: x.var(correction=4),
                                 lambda x: x.var(correction=5), lambda x: x[0, 0].var(dim=0),
                                 lambda x: x.var(dim=1, correction=2), lambda x: x.std(correction=5)])
def test_var_gradient_without_degrees_of_freedom_as_torch(var):
    # over all of x with N - correction <= 0, torch's gradient is g * (nan at the mean, inf
    # elsewhere): no derivative of x's, so none to take again
    from torch_twin import same

    def scenario(T):
        x = T.tensor([[0.7, -1.86], [0.5, 0.5]], requires_grad=True)
        v = var(x)
        z = T.ones(v.shape, requires_grad=True)
        g, = T.autograd.grad(v, x, z * 1, create_graph=True)
        return g, T.autograd.grad(g.sum(), [x, z], allow_unused=True)

    same(scenario, rtol=0, atol=0, warnings_too=False)


@pytest.mark.parametrize("op", ["var", "std", "var_mean", "std_mean"])
def test_float32_var_is_torchs_to_the_bit(op):
    # torch's Welford sums are about as exact as float64 rounded once; numpy's two float32
    # passes were a few ulps off (fuzzer seeds 9567060: exp then sin of a var 3e-5 apart
    # from torch's; 9589884: a second-order gradient through var)
    rng = np.random.default_rng(3)
    for shape, dim in [((500, 7), 1), ((64, 1024), 1), ((3, 5, 2), 2), ((20000,), 0)]:
        x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
        want = getattr(torch, op)(torch.tensor(x), dim)
        got = getattr(distgrad, op)(distgrad.tensor(x), dim)
        if op in ("var", "std"):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        else:  # (torch's mean is its Welford's, in float64: one ulp off the rounded mean at times)
            np.testing.assert_array_equal(got[0].numpy(), want[0].numpy())
            np.testing.assert_array_max_ulp(got[1].numpy(), want[1].numpy(), maxulp=1)


@pytest.mark.parametrize("correction", [1, 2, 3])
def test_var_gradient_without_degrees_of_freedom_is_no_function_of_the_input(correction):
    # torch's var_backward over everything with N - correction <= 0: g times inf, NaN where
    # x is its mean, and nothing that requires grad even under create_graph
    def program(T):
        x = T.tensor([[1.5, 2.0]], dtype=T.float64, requires_grad=True)
        grads = []
        for y in (x[:, :1].var(), x.var(correction=correction), x.reshape(-1)[0].var(),
                  x.var(dim=1, correction=correction)):
            for g in (T.tensor(-1.0, dtype=T.float64), T.zeros(y.shape, dtype=T.float64)):
                gx, = T.autograd.grad(y, x, g.expand(y.shape), create_graph=True)
                grads.append((gx.tolist(), gx.requires_grad, gx.is_leaf))
        return grads

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got, want = program(distgrad), program(torch)
    assert repr(got) == repr(want)  # (repr: nan equals nan)


def test_float32_silu_gradient_rounds_mostly_as_torchs():
    # torch multiplies (g·s)·(1 + x·(1 - s)) (the last factor fused); with g·(s·(...)) 46%
    # of a normal(0, 5) sample's float32 gradients were torch's, in torch's order 69% (the
    # rest: the fused factor, and sigmoid values an ulp apart)
    x = (np.random.default_rng(3).standard_normal(20000) * 5).astype(np.float32)
    g = np.random.default_rng(4).standard_normal(x.size).astype(np.float32)
    grads = []
    for T in (torch, distgrad):
        t = T.tensor(x, requires_grad=True)
        T.nn.functional.silu(t).backward(T.tensor(g))
        grads.append(t.grad.numpy())
    assert np.mean(grads[0] == grads[1]) > 0.6


# float32 results equal to torch's (share of 20,000 values; before distgrad computed them
# in float32 or in float64 and rounded once, numpy's float32 kernels matched 34-89%).
ROUNDED_ONCE = {
    "exp": (0.97, lambda T, x: x.exp()), "log": (0.89, lambda T, x: x.abs().log()),
    "log1p": (0.98, lambda T, x: x.abs().log1p()), "log2": (0.98, lambda T, x: x.abs().log2()),
    "log10": (0.98, lambda T, x: x.abs().log10()), "expm1": (0.98, lambda T, x: x.expm1()),
    "exp2": (0.91, lambda T, x: x.exp2()), "sinh": (0.98, lambda T, x: x.sinh()),
    "cosh": (0.98, lambda T, x: x.cosh()), "tanh": (0.98, lambda T, x: x.tanh()),
    "sin": (0.93, lambda T, x: x.sin()), "cos": (0.93, lambda T, x: x.cos()),
    "atan": (0.9, lambda T, x: x.atan()), "asin": (0.92, lambda T, x: (x / 16).asin()),
    "acos": (0.89, lambda T, x: (x / 16).acos()), "atanh": (0.98, lambda T, x: (x / 16).atanh()),
    "sigmoid": (0.94, lambda T, x: x.sigmoid()),
    "silu": (0.94, lambda T, x: T.nn.functional.silu(x)),
    "softplus": (0.9, lambda T, x: T.nn.functional.softplus(x)),
    "logsigmoid": (0.92, lambda T, x: T.nn.functional.logsigmoid(x)),
    "elu": (0.98, lambda T, x: T.nn.functional.elu(x)),
    "mish": (0.9, lambda T, x: T.nn.functional.mish(x)),
    "bce_with_logits": (0.95, lambda T, x: T.nn.functional.binary_cross_entropy_with_logits(
        x, (x / 2).sigmoid(), reduction="none")),
    "softmax": (0.85, lambda T, x: x.view(400, 50).softmax(-1)),
    "log_softmax": (0.98, lambda T, x: x.view(400, 50).log_softmax(-1)),
    "logsumexp": (0.97, lambda T, x: x.view(400, 50).logsumexp(-1)),
}


@pytest.mark.parametrize("op", sorted(ROUNDED_ONCE))
def test_float32_transcendental_results_round_as_torchs(op):
    # torch's kernels (Sleef's, MKL's) are correctly rounded nearly always; numpy's float32
    # ones are an ulp off for 10-50% (exp: a gradient through cos of x·x + x after exp_ was
    # 7.6e-4 off torch's, fuzzer seed 9596174; log_softmax: seed 22102246). softmax and
    # log_softmax also add each row as torch's SIMD kernels do (ops/vector_sum.py).
    from distgrad.ops.vector_sum import float32_lanes

    if op.endswith("softmax") and float32_lanes() is None:
        pytest.skip("torch's order of a row's sum is known here for x86 SIMD kernels only")
    share, fn = ROUNDED_ONCE[op]
    x = (np.random.default_rng(5).standard_normal(20000) * 5).astype(np.float32)
    got = fn(distgrad, distgrad.tensor(x)).numpy()
    want = fn(torch, torch.tensor(x)).numpy()
    assert np.mean(got == want) > share
    # (log_softmax and the logits loss subtract: their results near 0 lose digits)
    rtol = {"log_softmax": 1e-6, "bce_with_logits": 5e-5}.get(op, 3e-7)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-30)


SIGNED_ZEROS = {  # ops whose result is one of their operands: which one torch keeps at a tie
    "relu": lambda T, x, y: x.relu(),
    "relu_": lambda T, x, y: x.clone().relu_(),
    "clamp_min": lambda T, x, y: x.clamp(min=0),
    "clamp_max": lambda T, x, y: x.clamp(max=-0.0),
    "clamp_both": lambda T, x, y: x.clamp(0, 1),
    "clamp_tensor_bounds": lambda T, x, y: T.clamp(x, min=y, max=y.abs()),
    "maximum": lambda T, x, y: T.maximum(x, y),
    "minimum": lambda T, x, y: T.minimum(x, y),
    "max_binary": lambda T, x, y: T.max(x, y),
    "fmax": lambda T, x, y: T.fmax(x, y),
    "fmin": lambda T, x, y: T.fmin(x, y),
}


@pytest.mark.parametrize("name", sorted(SIGNED_ZEROS))
def test_ties_keep_torchs_operand_and_its_sign_of_zero(name):
    # numpy's maximum and minimum give their second operand at a tie, torch's kernels their
    # first (relu(-0.0) is -0.0 in torch: 1 / it is -inf)
    x = [-0.0, 0.0, -0.0, 0.0, -1.0, float("nan"), 2.0]
    y = [0.0, -0.0, -0.0, 0.0, -0.0, 1.0, float("nan")]
    got = []
    for T in (torch, distgrad):
        out = SIGNED_ZEROS[name](T, T.tensor(x), T.tensor(y))
        values = np.asarray(out.tolist())
        got.append((np.signbit(values).tolist(), np.isnan(values).tolist(),
                    np.nan_to_num(values).tolist()))
    assert got[0] == got[1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("divisor", [1.0, -1.0, 2.5, -2.5, float("inf"), float("-inf")])
def test_remainder_signs_a_zero_as_torch(dtype, divisor):
    # torch's remainder is fmod's result moved into the divisor's sign, so a zero keeps the
    # dividend's sign (-2.0 % 1.0 is -0.0); numpy signs a zero as the divisor
    x = [-0.0, 0.0, -2.0, 2.0, -5.0, 5.0, -1.25, 1.25, float("inf"), float("nan")]
    got = []
    for T in (torch, distgrad):
        for out in (T.tensor(x, dtype=getattr(T, dtype)) % divisor,
                    T.remainder(T.tensor(x, dtype=getattr(T, dtype)), T.tensor(divisor))):
            values = np.asarray(out.tolist())
            got.append((np.signbit(values).tolist(), np.isnan(values).tolist(),
                        np.nan_to_num(values).tolist()))
    assert got[:2] == got[2:]


IN_PLACE_FORMS = ["eq_", "ne_", "lt_", "le_", "gt_", "ge_", "greater_", "greater_equal_", "less_",
                  "less_equal_", "not_equal_", "logical_and_", "logical_or_", "logical_xor_",
                  "logical_not_", "absolute_", "arccos_", "arcsin_", "arctan_", "arctan2_",
                  "negative_", "divide_", "multiply_", "subtract_", "fix_", "cumprod_"]


@pytest.mark.parametrize("name", IN_PLACE_FORMS)
def test_in_place_forms_as_torch(name):
    # the value written, its dtype, and (self requiring grad through a product) the node
    # the write records and the gradient the old history gets
    takes = {"logical_not_": [], "absolute_": [], "arccos_": [], "arcsin_": [], "arctan_": [],
             "negative_": [], "fix_": [], "cumprod_": [0]}
    got = []
    for T in (torch, distgrad):
        args = takes.get(name, [T.tensor([1.0, 0.0, 0.5, -1.0])])
        x = T.tensor([0.5, 2.0, -0.75, 0.0])
        getattr(x, name)(*args)
        w = T.tensor([0.5, 2.0, -0.75, 0.0], requires_grad=True)
        y = w * 1
        getattr(y, name)(*args)
        (y * T.tensor([3.0, 5.0, 7.0, 11.0])).sum().backward()
        got.append((np.nan_to_num(x.tolist()), str(x.dtype).split(".")[-1],
                    y.grad_fn.name(), len(y.grad_fn.next_functions),
                    np.nan_to_num(w.grad.tolist())))
    # (values to a float32 ulp: torch's own arcsin and arctan2 differ by one between CPUs,
    # as its vector kernels do, and so do numpy's)
    np.testing.assert_allclose(got[1][0], got[0][0], rtol=3e-7, atol=0)
    np.testing.assert_allclose(got[1][4], got[0][4], rtol=1e-6, atol=1e-6)
    assert got[0][1:4] == got[1][1:4]


def test_take_along_dim_counts_negative_indices_from_the_end():
    # along a dim torch takes -1 as the last (gather refuses it); flattened (dim=None) it
    # refuses negatives, as gather; indices of another dtype are refused in its words
    got = []
    for T in (torch, distgrad):
        x = T.tensor([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0]], requires_grad=True)
        row = []
        for idx, d in (([[-1], [0]], 1), ([[2], [-3]], 1), ([[1, -1, 0]], 0), ([[-2, 1, -1]], -2),
                       ([-1, 2], None)):
            try:
                r = T.take_along_dim(x, T.tensor(idx), d)
                r.sum().backward()
                row.append((r.tolist(), x.grad.tolist()))
                x.grad = None
            except RuntimeError as e:
                row.append(str(e))
        try:
            T.take_along_dim(x, T.tensor([[1.0]]), 1)
        except RuntimeError as e:
            row.append(str(e))
        got.append(row)
    assert got[0] == got[1]


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_saves_its_input_for_backward(name):
    # torch's cummaxmin_backward saves `self`: writing it in place before backward raises
    # (fuzzer seeds 162, 202, 259); writing the values does not.
    def run(lib, write_input):
        x = lib.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 4.0]], requires_grad=True)
        v = x * 1
        y = getattr(v, name)(1).values
        (v if write_input else y).mul_(2)
        y.sum().backward()
        return x.grad

    with pytest.raises(RuntimeError, match="modified by an inplace operation") as theirs:
        run(torch, True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as ours:
        run(distgrad, True)
    assert str(ours.value).split(":")[0] == str(theirs.value).split(":")[0]
    np.testing.assert_array_equal(run(distgrad, False).numpy(), run(torch, False).numpy())


@pytest.mark.parametrize("call", [lambda T, x, b: x.clamp(b, 0.5),
                                  lambda T, x, b: T.clamp(x, 0.5, b),
                                  lambda T, x, b: T.clip(x, min=b, max=0.5),
                                  lambda T, x, b: x.clamp_(max=b, min=-1.0)])
def test_clamp_refuses_a_tensor_bound_with_a_number_bound(call):
    # torch's clamp has a Tensor-bounds overload and a Number one; mixing matches neither
    # (fuzzer seed 99 of the bounds family)
    for T in (torch, distgrad):
        with pytest.raises(TypeError, match="received an invalid combination of arguments"):
            call(T, T.tensor([1.0, 2.0]), T.tensor([0.0, 3.0]))
    got = [call(T, T.tensor([1.0, 2.0]), None).tolist() for T in (torch, distgrad)]
    assert got[0] == got[1]  # (None for the other bound: clamp by the number alone)
    # a 0-dim tensor that needs no gradient is a number there (fuzzer seeds 21000236,
    # 21008237); one that needs a gradient is not
    got = [call(T, T.tensor([1.0, 2.0]), T.tensor(1.5)).tolist() for T in (torch, distgrad)]
    assert got[0] == got[1]
    for T in (torch, distgrad):
        with pytest.raises(TypeError, match="received an invalid combination of arguments"):
            call(T, T.tensor([1.0, 2.0]), T.tensor(1.5, requires_grad=True))


def test_clamp_by_numbers_min_above_max_keeps_a_nan():
    # torch's kernel is min(max(x, lo), hi): max everywhere, but a nan stays (fuzzer seed
    # 22461021: a 0-dim tensor bound above a number one, the Number overload)
    def run(T):
        x = T.tensor([float("nan"), 0.2, 2.0, -1.0], requires_grad=True)
        ys = [x.clamp(1.5, 0.5), x.clamp(T.tensor(1.5), 0.5), T.clip(x, 3, -3),
              x.clamp(T.tensor(1.5), T.tensor(0.5)), x.detach().clone().clamp_(1.5, 0.5)]
        g, = T.autograd.grad(ys[0].sum(), x)
        return [y.detach().numpy() for y in ys] + [g.numpy()]

    for mine, theirs in zip(run(distgrad), run(torch)):
        np.testing.assert_array_equal(mine, theirs)


# cumprod's gradient where its input has zeros, as torch computes it: without a graph of its
# own, O(n) and 0 past the first zero whatever the gradient there; with one, torch's loop of
# products before and cumprods after each place (an inf or a nan in the gradient or the
# input reaches what it reaches in torch)
CUMPROD_ZEROS = [
    ([0.0, 1.74, 0.0], [float("nan")] * 3),
    ([-0.8, 0.0], [float("inf"), 0.0]),
    ([0.0, 0.0, 1.4], [float("inf"), 0.3, float("inf")]),
    ([[0.0, -1.3, -0.7], [1.8, 0.0, 0.3]], [[-1.2, 0.1, float("inf")], [1.9, float("nan"), -1.0]]),
    ([[1.0, 0.0, 2.0, 0.0, 3.0]], [[1.0, 2.0, 3.0, 4.0, 5.0]]),
]


@pytest.mark.parametrize("case", range(len(CUMPROD_ZEROS)))
@pytest.mark.parametrize("create_graph", [False, True])
def test_cumprod_gradient_with_zeros_as_torch(case, create_graph):
    values, grads = CUMPROD_ZEROS[case]
    got = []
    for T in (torch, distgrad):
        x = T.tensor(values, dtype=T.float64, requires_grad=True)
        gx, = T.autograd.grad(x.cumprod(-1), x, T.tensor(grads, dtype=T.float64),
                              create_graph=create_graph)
        out = [np.array(gx.tolist())]
        if create_graph:
            out.append(np.array(T.autograd.grad((gx * gx).sum(), x)[0].tolist()))
        got.append((out, gx.grad_fn.name() if gx.grad_fn else None))
    (theirs, their_node), (ours, our_node) = got
    assert our_node == their_node  # (with a graph: CopySlices, each slice copied in)
    for t, o in zip(theirs, ours):
        np.testing.assert_allclose(o, t, equal_nan=True)


# prod's gradient where its input has zeros and an inf or a nan, as torch computes it: with
# two zeros or more, zeros without a graph of its own; otherwise products before and after
# each place by exclusive cumprods, times the gradient (fuzzer seed 22799327)
PROD_SPECIAL = [[0.0, float("-inf"), 2.0, 0.0], [0.0, float("-inf"), 2.0],
                [float("nan"), 0.0, 1.0], [[0.0, float("inf")], [0.0, 2.0]]]


@pytest.mark.parametrize("case", range(len(PROD_SPECIAL)))
def test_prod_gradient_through_zeros_and_infs_as_torch(case):
    got = []
    for T in (torch, distgrad):
        x = T.tensor(PROD_SPECIAL[case], dtype=T.float64, requires_grad=True)
        out = [T.autograd.grad(x.prod(), x)[0], T.autograd.grad(x.prod(0).sum(), x)[0]]
        g, = T.autograd.grad(x.prod(), x, create_graph=True)
        gd, = T.autograd.grad(x.prod(-1).sum(), x, create_graph=True)
        out += [g, T.autograd.grad(g.sum(), x)[0], gd, T.autograd.grad(gd.sum(), x)[0]]
        got.append([np.array(t.tolist()) for t in out])
    for theirs, ours in zip(*got):
        np.testing.assert_array_equal(ours, theirs)


def test_cumprod_of_a_relu_under_a_norm_differentiates_twice_as_torch():
    # (fuzzer seed 22012524: the second-order gradient was nan past the first zero)
    got = []
    for T in (torch, distgrad):
        x0 = T.tensor([-1.57, 1.74, -1.46], requires_grad=True)
        v2 = T.cumprod(x0.relu(), 0).norm(p=0.5, dim=0)
        g, = T.autograd.grad(((v2 + v2) * (v2 + v2)).sum(), [x0], create_graph=True)
        got.append(T.autograd.grad((g * g).sum(), [x0])[0].tolist())
    assert got[0] == got[1]


SUMS = [((300,), None), ((7,), None), ((2000,), None), ((256, 64), 0), ((256, 64), 1),
        ((64, 300), 1), ((300, 64), 0), ((32, 16, 16), None), ((8, 5), 0), ((8, 5), 1),
        ((3, 70, 9), 1), ((3, 70, 9), (0, 2)), ((4, 6, 33), (0, 2)), ((4, 6, 33), (1, 2)),
        ((5, 17), 0), ((70, 100), 0), ((2, 3, 4, 5), (1, 3)), ((1, 64), 1), ((64, 1), 0)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("shape,dim", SUMS, ids=[f"{s}-{d}" for s, d in SUMS])
def test_sum_and_mean_add_in_torchs_order(shape, dim, transposed, dtype):
    # numpy adds pairwise, torch in its cascade (SumKernel.cpp): 70-95% of float32 sums of
    # random values were an ulp apart, and so were means, losses and bias gradients.
    from distgrad.ops.vector_sum import float32_lanes

    if float32_lanes() is None:
        pytest.skip("torch's order of a sum is known here for x86 kernels only")
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(dtype)
    got, want = [], []
    for T, out in ((torch, want), (distgrad, got)):
        t = T.tensor(x)
        if transposed:
            t = t.permute(*reversed(range(t.ndim)))
        d = dim if not transposed or dim is None else (
            len(shape) - 1 - dim if isinstance(dim, int) else tuple(len(shape) - 1 - k for k in dim))
        for fn in ("sum", "mean"):
            r = getattr(t, fn)() if d is None else getattr(t, fn)(d)
            out.append(r.numpy())
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("maxnorm", [-1, -1.0, -1.5])
def test_renorm_names_a_negative_maxnorm_as_torch_prints_it(maxnorm):
    """torch prints the Scalar as C++ does a double: -1.0 as -1 (the message ends there)."""
    raised = []
    for T in (torch, distgrad):
        with pytest.raises(RuntimeError) as e:
            T.renorm(T.ones(2, 2), 2, 0, maxnorm)
        raised.append(str(e.value))
    assert raised[1] == raised[0]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
@pytest.mark.parametrize("dim", [-1, 0])
def test_cross_rounds_as_torchs_fused_kernel(dtype, dim):
    """torch's cross kernel is compiled with fused multiply-adds (float32, float64: the
    cross product of parallel vectors is a rounding error, not 0) and rounds a 16-bit
    float's products and difference each: its values to the bit, broadcast too."""
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 300, 3)) * 3
    b[:100], b[100:150] = a[:100], 2 * a[100:150]
    a, b = (x.T.copy() if dim == 0 else x for x in (a, b))
    results = []
    for T in (torch, distgrad):
        x, y = (T.tensor(v, dtype=T.float32).to(getattr(T, dtype)) for v in (a, b))
        one = y[:, :1] if dim == 0 else y[:1]
        results.append([T.linalg.cross(x, y, dim=dim).float().numpy(),
                        T.linalg.cross(x, one, dim=dim).float().numpy()])
    for mine, theirs in zip(results[1], results[0]):
        np.testing.assert_array_equal(mine, theirs)


def test_gradients_of_ties_are_named_as_torchs_under_create_graph():
    """torch's full max spreads the gradient over ties by masked_fill_ into zeros
    (MaskedFillBackward1), amax scales it by the count before the mask (MulBackward0), and
    maximum masks the losing side with masked_fill_ (MaskedFillBackward0)."""
    def scenario(t):
        x = t.tensor([1.0, 3.0, 3.0], requires_grad=True)
        a = t.tensor([1.0, 2.0, 5.0], requires_grad=True)
        b = t.tensor([1.0, 3.0, 4.0], requires_grad=True)
        out = []
        for fn, leaves in ((lambda: x.max() ** 2, (x,)), (lambda: x.amax() ** 2, (x,)),
                           (lambda: t.stack([x, x]).amin(1).sum() ** 2, (x,)),
                           (lambda: (t.maximum(a, b) ** 2).sum(), (a, b)),
                           (lambda: (t.minimum(a, b) ** 2).sum(), (a, b))):
            grads = t.autograd.grad(fn(), leaves, create_graph=True)
            out.append([(gr.grad_fn.name(), gr) for gr in grads])
        return out

    from torch_twin import same

    same(scenario)


def test_float32_digamma_is_torchs_to_the_bit():
    """torch's float32 digamma is computed in float32 (cephes' psi: the recurrence up to 10,
    the asymptotic series, the C library's logf), a few ulps from the true value; a Gamma's
    entropy at a large concentration cancels those ulps into its result, and lgamma's
    gradient is digamma."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-20, 20, 20000), np.exp(rng.uniform(-20, 40, 5000)),
                        [0.0, -0.0, 10.0, -3.0, 1e17, 1e18, np.inf, -np.inf, np.nan]])
    x = x.astype(np.float32)
    for op in (lambda T, t: T.digamma(t), lambda T, t: T.polygamma(0, t),
               lambda T, t: T.special.digamma(t.to(T.bfloat16)).float()):
        got, want = op(distgrad, distgrad.tensor(x)).numpy(), op(torch, torch.tensor(x)).numpy()
        np.testing.assert_array_equal(got, want)
    c = [1e4, 1e-3, 2.5]
    entropy = [T.distributions.Gamma(T.tensor(c), 1.0).entropy().numpy()
               for T in (distgrad, torch)]
    np.testing.assert_array_equal(*entropy)


def test_float32_trigamma_is_torchs_to_the_bit():
    """torch's float32 polygamma(1, x) is computed in float32 (the reflection through the C
    library's sinf below 0.5, six recurrence steps, a series whose multiply-adds its
    compiled kernel fuses); it is digamma's gradient, so Beta, Dirichlet and Gamma
    entropies' and KLs' gradients go through it."""
    rng = np.random.default_rng(8)
    x = np.concatenate([rng.uniform(-20, 20, 20000), np.exp(rng.uniform(-10, 20, 5000)),
                        [0.0, -0.0, 0.5, -3.0, np.inf, -np.inf, np.nan]]).astype(np.float32)
    got = distgrad.polygamma(1, distgrad.tensor(x)).numpy()
    want = torch.polygamma(1, torch.tensor(x)).numpy()
    np.testing.assert_array_equal(got, want)
    grads = []
    for T in (distgrad, torch):
        c = T.tensor([0.3, 2.5, 40.0], requires_grad=True)
        kl = T.distributions.kl_divergence(T.distributions.Beta(c, c.flip(0)),
                                           T.distributions.Beta(T.ones(3), T.ones(3)))
        grads.append(T.autograd.grad(kl.sum(), c)[0].numpy())
    np.testing.assert_array_equal(*grads)


def test_float32_xlogy_and_xlog1py_are_torchs_to_the_bit():
    """torch's float32 xlogy and xlog1py are scalar kernels, x * logf(y) and
    x * log1pf(y) with the C library's functions (not always correctly rounded); xlogy
    is a term of the Gamma, Beta, Dirichlet and Poisson log_probs."""
    rng = np.random.default_rng(9)
    x = rng.uniform(-5, 5, 20000).astype(np.float32)
    y = np.exp(rng.uniform(-10, 10, 20000)).astype(np.float32)
    x[:5], y[5:10], y[10:15], y[15:20] = 0, 0, np.nan, -1
    for op in (lambda T, a, b: T.xlogy(a, b), lambda T, a, b: T.special.xlog1py(a, b),
               lambda T, a, b: T.xlogy(a.abs() - 1, b) - b * 2.0):
        got = op(distgrad, distgrad.tensor(x), distgrad.tensor(y)).numpy()
        want = op(torch, torch.tensor(x), torch.tensor(y)).numpy()
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logcumsumexp_of_signed_zeros_and_infinities_and_its_gradient_are_torchs(dtype):
    # torch's kernel adds each value to a running one from -inf by log1p(exp(min - max)) +
    # max, in float64 (float32's results rounded once): a leading -0.0 gives +0.0, and
    # equal infinities keep theirs; numpy's float32 logaddexp was an ulp off a third of
    # the time (on normal values)
    import itertools

    specials = [-np.inf, np.inf, np.nan, 0.0, -0.0, 1.0, -2.0]
    columns = np.array(list(itertools.product(specials, repeat=3))).T
    normal = np.random.default_rng(8).standard_normal((3, 40)) * 5
    values = np.concatenate([columns, normal], axis=1)
    cotangent = np.where(np.arange(values.size).reshape(values.shape) % 3 == 1, -1.0, 1.0)
    got = []
    for T in (torch, distgrad):
        x = T.tensor(values, dtype=getattr(T, dtype), requires_grad=True)
        y = T.logcumsumexp(x, 0)
        g, = T.autograd.grad(y, x, T.tensor(cotangent, dtype=getattr(T, dtype)))
        got.append((y.detach().numpy(), g.numpy()))
    (y_torch, g_torch), (y_ours, g_ours) = got
    np.testing.assert_array_equal(y_ours, y_torch)
    np.testing.assert_array_equal(np.signbit(y_ours), np.signbit(y_torch))
    np.testing.assert_allclose(g_ours, g_torch, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(np.signbit(g_ours[g_ours == 0]), np.signbit(g_torch[g_ours == 0]))
