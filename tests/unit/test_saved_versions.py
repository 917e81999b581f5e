"""The tensors an op's backward node saves, as torch's saves them: an in-place write to one
between the forward and the backward raises torch's "modified by an inplace operation",
whichever branch of the gradient formula runs (torch unpacks every saved tensor first).
And put's writes into a tensor that is not row-major."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import distgrad

X = [[0.34, -1.2], [0.52, 1.8]]
S = [0.57, 1.2, 1.88]

# name: (forward(T, x, s) -> out, what is written afterwards: "x", "s" or "out")
CASES = {
    # (found by the program fuzzer: seeds 20002609, 20003753, 20004741)
    "take writes self": (lambda T, x, s: T.take(x, T.tensor([3, 0, 3])), "x"),
    "put accumulate writes source": (
        lambda T, x, s: x.put(T.tensor([3, 1, 3]), s, accumulate=True), "s"),
    "put writes source": (lambda T, x, s: x.put(T.tensor([3, 1, 0]), s), "s"),
    "cumprod with a zero writes its result": (lambda T, x, s: T.cumprod(x.relu(), 0), "out"),
    "cumprod without zeros writes its result": (lambda T, x, s: T.cumprod(x, 1), "out"),
    "cumprod over a dim of one writes self": (lambda T, x, s: x[:1].cumprod(0), "x"),
    "cumprod over a dim of one writes its result": (lambda T, x, s: x[:1].cumprod(0), "out"),
    # (seed 20002150)
    "index_add writes source": (
        lambda T, x, s: x.index_add(1, T.tensor([1, 0, 1]), s.expand(2, 3)), "s"),
    "index_copy writes source": (
        lambda T, x, s: x.index_copy(0, T.tensor([1]), s[:2].unsqueeze(0)), "s"),
    "gather writes self": (lambda T, x, s: T.gather(x, 1, T.tensor([[1, 0], [0, 0]])), "x"),
    # (seeds 21000203, 21003389, 21004323)
    "pow by an integer tensor writes its result": (
        lambda T, x, s: x ** T.tensor([[2, 0], [-1, 3]]), "out"),
    "pow by a tensor writes its result": (lambda T, x, s: x ** s[:2], "out"),
    "var_mean's mean writes self": (lambda T, x, s: T.var_mean(x, 0)[1], "x"),
    "std_mean's mean writes self": (lambda T, x, s: T.std_mean(x, 1)[1], "x"),
    # (a sweep of ops under the same program)
    "nll_loss writes self": (
        lambda T, x, s: T.nn.functional.nll_loss(x, T.tensor([0, 1])), "x"),
    "masked_select writes self": (
        lambda T, x, s: x.masked_select(T.tensor([[True, False], [True, True]])), "x"),
    # (seeds 21005535, 22003515, 22006624)
    "reflection pad writes self": (
        lambda T, x, s: T.nn.functional.pad(x[None], (1, 1), mode="reflect"), "x"),
    "replication pad writes self": (
        lambda T, x, s: T.nn.functional.pad(x[None], (1, 1), mode="replicate"), "x"),
    "max_pool1d writes self": (lambda T, x, s: T.nn.functional.max_pool1d(x[None], 2), "x"),
    "max_pool2d writes self": (lambda T, x, s: T.nn.functional.max_pool2d(x[None], 2), "x"),
    "avg_pool1d writes self": (lambda T, x, s: T.nn.functional.avg_pool1d(x[None], 2), "x"),
    "avg_pool2d writes self": (lambda T, x, s: T.nn.functional.avg_pool2d(x[None], 1), "x"),
    "layer_norm writes its bias": (  # (test_fuzz's seed 114)
        lambda T, x, s: T.nn.functional.layer_norm(x, (2,), s[:2] * 1, s[1:]), "s"),
    "take_along_dim writes self": (
        lambda T, x, s: T.take_along_dim(x, T.tensor([[1], [0]]), 1), "x"),
    # (the widened generator: adaptive pooling, rrelu, bilinear, ldexp)
    "adaptive_avg_pool1d writes self": (
        lambda T, x, s: T.nn.functional.adaptive_avg_pool1d(x[None], 3), "x"),
    "adaptive_avg_pool2d writes self": (
        lambda T, x, s: T.nn.functional.adaptive_avg_pool2d(x[None], (3, 1)), "x"),
    "adaptive_max_pool1d writes self": (
        lambda T, x, s: T.nn.functional.adaptive_max_pool1d(x[None], 1), "x"),
    "adaptive_max_pool2d writes self": (
        lambda T, x, s: T.nn.functional.adaptive_max_pool2d(x[None], 2), "x"),
    "rrelu in eval writes self": (
        lambda T, x, s: T.nn.functional.rrelu(x, training=False), "x"),
    "rrelu in training writes self": (lambda T, x, s: T.nn.functional.rrelu(x, 0.1, 0.3, True), "x"),
    "bilinear writes input1": (
        lambda T, x, s: T.nn.functional.bilinear(x, x.flip(0), s[1:].reshape(1, 1, 2).expand(
            3, 2, 2)), "x"),
    "bilinear writes its weight": (
        lambda T, x, s: T.nn.functional.bilinear(x, x.flip(0), s[1:].reshape(1, 1, 2).expand(
            3, 2, 2)), "s"),
    "ldexp writes its result": (lambda T, x, s: T.ldexp(x, T.tensor([[1, -1], [0, 2]])), "out"),
    "ldexp writes other": (lambda T, x, s: T.ldexp(x, s[1:]), "s"),
}


def _run(T, forward, written, source_grad=True):
    x0 = T.tensor(X, requires_grad=True)
    s0 = T.tensor(S, requires_grad=source_grad)
    x, s = x0 * 1, s0 * 1
    out = forward(T, x, s)
    with T.no_grad():
        {"x": x, "s": s, "out": out}[written].mul_(2)
    try:
        (out * out).sum().backward()
    except RuntimeError as e:
        return str(e).split(":")[0]
    return [x0.grad.tolist(), s0.grad.tolist() if s0.grad is not None else None]


@pytest.mark.parametrize("name", list(CASES))
def test_a_write_to_a_saved_tensor_raises_as_torch(name):
    forward, written = CASES[name]
    theirs = _run(torch, forward, written)
    assert theirs == "one of the variables needed for gradient computation has been " \
                     "modified by an inplace operation"
    assert _run(distgrad, forward, written) == theirs


def _message(T, forward, written):
    try:
        _run(T, forward, written)
    except RuntimeError as e:
        return str(e)
    x0, s0 = T.tensor(X, requires_grad=True), T.tensor(S, requires_grad=True)
    x, s = x0 * 1, s0 * 1
    out = forward(T, x, s)
    with T.no_grad():
        {"x": x, "s": s, "out": out}[written].mul_(2)
    try:
        (out * out).sum().backward()
    except RuntimeError as e:
        return str(e)


@pytest.mark.parametrize("name", list(CASES)[list(CASES).index("adaptive_avg_pool1d writes self"):])
def test_the_message_names_the_tensor_written_as_torch(name):
    # which tensor torch saved shows in its message: its type and shape (a view's, here the
    # unsqueezed input of a 1-d pooling), the node that made it, and its versions
    forward, written = CASES[name]
    theirs = _message(torch, forward, written)
    assert "is at version" in theirs
    assert _message(distgrad, forward, written) == theirs


@pytest.mark.parametrize("name", [n for n in CASES if n.endswith("writes source")])
def test_a_source_that_needs_no_gradient_is_not_saved(name):
    # torch saves put's, index_add's and index_copy's source for the source's gradient
    # only (fuzzer seeds 20001456, 20002800)
    forward, written = CASES[name]
    theirs = _run(torch, forward, written, source_grad=False)
    assert isinstance(theirs, list)
    assert _run(distgrad, forward, written, source_grad=False) == theirs


@pytest.mark.parametrize("accumulate", [False, True])
def test_put_into_a_transposed_tensor_writes_it(accumulate):
    # put and put_ index the tensor as if row-major: on a transposed one they wrote a copy
    # (fuzzer seeds 20001670, 20003530)
    got = []
    for T in (torch, distgrad):
        x = T.tensor([[-0.81, 0.57, -0.41, 1.09], [-1.4, -0.57, 1.53, -0.09]])
        index, source = T.tensor([7, 1, 7]), T.tensor([1.22, 5.0, 2.0])
        out = x.t().put(index, source, accumulate=accumulate)
        x.t().put_(index, source, accumulate=accumulate)
        got.append((out.tolist(), x.tolist()))
    assert got[0] == got[1]


@pytest.mark.parametrize("accumulate", [False, True])
def test_put_lays_its_result_out_as_self(accumulate):
    # torch's put is self.clone(preserve_format).put_(...): a transposed or permuted self
    # gives a result of its strides, a strided slice a dense one in its dims' order
    got = []
    for T in (torch, distgrad):
        x = T.tensor([[-0.81, 0.57, -0.41, 1.09], [-1.4, -0.57, 1.53, -0.09]])
        index, source = T.tensor([3, 1, 0]), T.tensor([1.22, 5.0, 2.0])
        views = [x.t(), x.t()[1:], x[:, ::2], x.view(2, 2, 2).permute(2, 0, 1), x.t()[:, :1],
                 x.unsqueeze(0).expand(3, 2, 4), x.t().unsqueeze(0)]
        outs = [v.put(index[:v.numel()], source[:v.numel()], accumulate=accumulate)
                for v in views]
        got.append([(o.tolist(), o.stride()) for o in outs])
    assert got[0] == got[1]


def test_erfinv_saves_its_input_not_its_result():
    # torch's ErfinvBackward0 computes erfinv(self) again: a write to the result is no
    # error, one to the input is
    for written in ("out", "x"):
        got = [_run(T, lambda T, x, s: (x * 0.3).erfinv(), written) for T in (torch, distgrad)]
        assert got[0] == got[1]


@pytest.mark.parametrize("written", ["x", "s"])
def test_ldexp_saves_other_and_its_result_not_self(written):
    # LdexpBackward0 saves other (for self's gradient, 2 ** other: an integer, 0 below 0,
    # for an integer other) and the result (for other's): a write to self is no error
    for exponent in ("s", "int"):
        def ldexp(T, x, s):
            return T.ldexp(x, s[1:] if exponent == "s" else T.tensor([[1, -1], [0, 2]]))

        got = [_run(T, ldexp, written) for T in (torch, distgrad)]
        if written == "s" and exponent == "s":
            assert got[0] == got[1] and isinstance(got[0], str)
        else:
            assert isinstance(got[0], list)
            np.testing.assert_allclose(got[1][0], got[0][0], rtol=1e-6)


def test_bilinear_saves_each_input_for_the_others_gradients():
    # torch's _trilinear saves input1 only when the weight or input2 needs a gradient
    def bilinear(T, x, s):
        w = T.tensor([[[0.5, -1.0], [2.0, 0.25]]])
        return T.nn.functional.bilinear(x, x.detach().flip(0), w)

    got = [_run(T, bilinear, "x") for T in (torch, distgrad)]
    assert isinstance(got[0], list) and isinstance(got[1], list)
    np.testing.assert_allclose(got[1][0], got[0][0], rtol=1e-6)


def test_upsampling_keeps_no_input():
    # torch's upsampling backward needs only the input's sizes: a write to it is no error
    def upsample(T, x, s):
        return T.nn.functional.interpolate(x[None], scale_factor=2, mode="linear")

    ours, theirs = _run(distgrad, upsample, "x"), _run(torch, upsample, "x")
    assert isinstance(theirs, list) and isinstance(ours, list)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)


@pytest.mark.parametrize("written", ["x", "s", "out"])
def test_kron_saves_aliases_of_its_operands(written):
    # torch's kron multiplies _unsafe_views of its operands: its MulBackward0 saves those,
    # which share the operands' memory under version counters of their own, so a write to an
    # operand is no error and the gradient reads the values written
    def kron(T, x, s):
        return T.kron(x, s)

    got = [_run(T, kron, written) for T in (torch, distgrad)]
    assert isinstance(got[0], list) and got[0] == got[1]


def test_kron_of_a_transposed_operand_raises_as_torch():
    # the product keeps the transposed operand's layout, which torch's last _unsafe_view
    # cannot view flat
    got = []
    for T in (torch, distgrad):
        try:
            got.append(T.kron(T.tensor(X).t(), T.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist())
        except RuntimeError as e:
            got.append(str(e))
    assert got[0] == got[1] and got[0].startswith("view size is not compatible")


@pytest.mark.parametrize("op", ["mm", "addmm", "linear"])
def test_a_product_checks_what_it_saved_when_only_one_gradient_is_asked(op):
    # torch's MmBackward0/AddmmBackward0 save `self` for mat2's gradient and mat2 for
    # self's, and unpack (check) both when the node runs: asking only for self's gradient
    # still raises when self was written (fuzzer seed 22174939)
    def product(T, x, w):
        if op == "mm":
            return x.mm(w.t())
        if op == "addmm":
            return T.addmm(T.ones(2), x, w.t())
        return T.nn.functional.linear(x, w, T.ones(2))

    got = []
    for T in (torch, distgrad):
        x0 = T.tensor(X, requires_grad=True)
        w = T.tensor(X[::-1], requires_grad=True)
        x = x0 * 1
        out = product(T, x, w)
        with T.no_grad():
            x.mul_(2)
        try:
            got.append(T.autograd.grad(out.sum(), x0)[0].tolist())
        except RuntimeError as e:
            got.append(str(e).split(":")[0])
    assert got[0] == got[1] == ("one of the variables needed for gradient computation has "
                                "been modified by an inplace operation")


def test_an_operand_with_no_gradient_edge_has_nothing_saved_for_it():
    # a view made under no_grad of a leaf requires grad but has no gradient edge (its node's
    # next_functions entry is None): mul saves nothing for its gradient, so writing the
    # other operand afterwards is no error (fuzzer seed 22210988)
    got = []
    for T in (torch, distgrad):
        x = T.tensor(X, requires_grad=True)
        with T.no_grad():
            row = x[1:2]
        y = x * 2
        z = y * row
        y.zero_()
        got.append(T.autograd.grad((z * z).sum(), x)[0].tolist())
    assert got[0] == got[1]




@pytest.mark.parametrize("broadcast", [False, True])
@pytest.mark.parametrize("written", ["x", "s"])
def test_cdist_saves_copies_of_broadcast_operands(written, broadcast):
    # torch's cdist by matrix products makes each operand contiguous in the broadcast batch
    # and views it 3-d: an operand broadcast over the batch is copied (CloneBackward0), so
    # a write to it after the forward is no error; one of the batch's shape is saved as is
    def cdist(T, x, s):
        columns = s.reshape(1, 3, 1)
        if broadcast:
            return T.cdist(x.reshape(2, 2, 1), columns.expand(2, 3, 1),
                           compute_mode="use_mm_for_euclid_dist")
        return T.cdist(x.reshape(1, 4, 1), columns, compute_mode="use_mm_for_euclid_dist")

    got = [_run(T, cdist, written) for T in (torch, distgrad)]
    assert type(got[0]) is (list if broadcast and written == "s" else str)
    if isinstance(got[0], list):
        np.testing.assert_allclose(got[1][0], got[0][0], rtol=1e-5)
    else:
        assert got[0] == got[1]


def _graph(fn) -> list:
    """A graph's node names, depth first."""
    if fn is None:
        return [None]
    return [fn.name()] + [name for child, _ in fn.next_functions for name in _graph(child)]


@pytest.mark.parametrize("shapes", [
    ((2, 3, 4), (2, 4, 5)), ((2, 2, 3, 4), (2, 2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
    ((2, 3, 4), (1, 4, 5)), ((1, 3, 4), (2, 4, 5)), ("transposed", (4,))])
@pytest.mark.parametrize("written", ["a", "b"])
def test_a_batched_matmul_saves_what_torchs_bmm_saves(shapes, written):
    # torch's matmul expands each operand to the broadcast batch and reshapes it to 3 dims,
    # a view where it can (a write to the operand then fails the backward) and a copy where
    # it must (no error); a batch of one that needs a gradient is squeezed and folded
    def run(T):
        a_shape, b_shape = shapes
        a0 = T.arange(24.0).reshape(2, 4, 3).requires_grad_() if a_shape == "transposed" \
            else T.linspace(-1.0, 1.0, math.prod(a_shape)).reshape(a_shape).requires_grad_()
        b0 = T.linspace(0.5, 2.0, math.prod(b_shape)).reshape(b_shape)
        b0.requires_grad_(len(b_shape) > 1)
        a = a0.transpose(1, 2) * 1 if a_shape == "transposed" else a0 * 1
        b = b0 * 1
        out = a @ b
        graph = _graph(out.grad_fn)
        T.autograd.graph.increment_version(a if written == "a" else b)
        try:
            (out * out).sum().backward()
        except RuntimeError as e:
            return graph, str(e)
        return graph, out.tolist(), a0.grad.tolist()

    theirs, ours = run(torch), run(distgrad)
    assert ours[0] == theirs[0] and type(ours[1]) is type(theirs[1])
    if isinstance(theirs[1], str):
        assert ours[1] == theirs[1]
    else:
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5)
        np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5)



@pytest.mark.parametrize("write", [False, True])
def test_a_saved_result_given_new_memory_by_data_keeps_its_version_counter(write):
    """torch's version counter is the tensor's, not its memory's: a saved output given other
    memory by `.data =` and written afterwards is stale at backward; not written, its saved
    values are the old memory's. (fuzzer seed 348 of the widened generator)"""
    def run(T):
        x = T.tensor(S, requires_grad=True)
        y = x.exp()
        y.data = y.data * 0.5
        if write:
            y.div_(0.72)
        try:
            return T.autograd.grad((y * y).sum(), x)[0].tolist(), y.tolist()
        except RuntimeError as e:
            return str(e)

    theirs, ours = run(torch), run(distgrad)
    assert ours == theirs or type(ours) is type(theirs) is tuple and np.allclose(
        ours[0], theirs[0]) and np.allclose(ours[1], theirs[1])


@pytest.mark.parametrize("product", ["linear", "linear without bias", "mm"])
def test_a_saved_transpose_keeps_the_memory_it_viewed_after_data(product):
    """An op that saved `w.t()` keeps the memory that view had: after `w.data = ...` its
    backward (each time it runs: here under a second-order gradient) reads w's old values."""
    def run(T):
        x = T.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], requires_grad=True)
        w = T.tensor([[0.3, -0.2, 0.1], [0.7, 0.4, -0.6]], requires_grad=True)
        b = T.tensor([0.1, -0.1], requires_grad=True)
        F = T.nn.functional
        y = {"linear": lambda: F.linear(x, w, b), "linear without bias": lambda: F.linear(x, w),
             "mm": lambda: x @ w.t()}[product]()
        w.data = w.data * 2 + 1
        gx, gw = T.autograd.grad((y * y).sum(), (x, w), create_graph=True)
        second = T.autograd.grad((gx * gx).sum() + (gw * gw).sum(), (x, w))
        return [t.tolist() for t in (gx, gw, *second)]

    np.testing.assert_allclose(np.array(run(distgrad)), np.array(run(torch)), rtol=1e-5)


def test_log_sigmoid_backward_reads_the_buffer_its_forward_saved():
    """torch's log_sigmoid saves its input and a buffer exp(-|x|) of the forward's values:
    after a `.data` write of the input (no version counted) its backward takes the signs
    from the input as it is, the rest from the buffer; the nodes name both."""
    def run(T):
        x = T.tensor([[0.75, -1.5, 2.0], [-0.25, 1.0, -3.0]], dtype=T.float64,
                     requires_grad=True)
        y = T.nn.functional.logsigmoid(x)
        x.data.mul_(-2)
        g, = T.autograd.grad(y.sum(), x, create_graph=True)
        names = [sorted(a for a in dir(n) if a.startswith("_saved")) for n in (y.grad_fn, g.grad_fn)]
        gg, = T.autograd.grad((g * g).sum(), x)
        return g.tolist(), gg.tolist(), y.grad_fn._saved_buffer.tolist(), names

    theirs, ours = run(torch), run(distgrad)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-12)
    assert ours[3] == theirs[3]
