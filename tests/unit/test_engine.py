"""The backward engine against real torch: each scenario is written once against the torch
API and run under both `torch` and `distgrad` (see torch_twin), comparing gradients,
graph structure, hook calls and errors."""

import random

import numpy as np
import pytest

from torch_twin import Recorder, attempt, grad_of, graph, node_name, same


def leaf(torch, values, dtype=None):
    return torch.tensor(values, dtype=dtype or torch.float32, requires_grad=True)


X3 = [0.5, -1.25, 2.0]
M23 = [[0.1, -0.2, 0.3], [0.7, 0.5, -1.5]]


# ---- retain_graph and freed graphs ----------------------------------------------------------

def test_a_backward_leaves_no_cycle_holding_the_graph_it_ran():
    """Its nodes go with the last reference to them, as torch's, not at a later collection
    (a graph's Python objects, and the frees a compiled step's recording must see)."""
    import gc
    import weakref

    import distgrad

    x = leaf(distgrad, X3)
    y = (x * 2).exp().sum()
    node = weakref.ref(y.grad_fn.next_functions[0][0])
    enabled = gc.isenabled()
    gc.disable()
    try:
        y.backward()
        del y
        assert node() is None
    finally:
        if enabled:
            gc.enable()


def test_retain_graph_allows_second_backward():
    def f(torch):
        x = leaf(torch, X3)
        y = (x * x).exp().sum()
        y.backward(retain_graph=True)
        first = x.grad.clone()
        y.backward()
        return first, x.grad

    same(f)


def test_second_backward_through_freed_graph_raises():
    def f(torch):
        x = leaf(torch, X3)
        y = x.exp().sum()
        y.backward()
        return attempt(y.backward), x.grad

    same(f)


def test_second_backward_error_after_autograd_grad():
    def f(torch):
        x = leaf(torch, X3)
        y = (x.sin() * x).sum()
        g1 = torch.autograd.grad(y, x)
        return g1, attempt(torch.autograd.grad, y, x)

    same(f)


@pytest.mark.parametrize("expr", ["add", "sum", "sub_neg", "mean", "view", "t", "expand",
                                  "mul_scalar", "div_scalar", "mul", "exp", "sigmoid", "tanh",
                                  "relu", "matmul", "pow", "sin", "log", "sqrt"])
def test_which_graphs_raise_on_second_backward(expr):
    """Only nodes that saved tensors raise (add and sum do not), as in torch."""
    def f(torch):
        x = leaf(torch, [[0.5, 1.25], [2.0, 0.75]])
        w = leaf(torch, [[1.0, -1.0], [0.5, 2.0]])
        y = {"add": lambda: x + x, "sum": lambda: x.sum(0), "sub_neg": lambda: -(x - w),
             "mean": lambda: x.mean(1), "view": lambda: x.reshape(4), "t": lambda: x.t(),
             "expand": lambda: x[0:1].expand(3, 2), "mul_scalar": lambda: x * 2,
             "div_scalar": lambda: x / 2, "mul": lambda: x * w, "exp": x.exp,
             "sigmoid": x.sigmoid, "tanh": x.tanh, "relu": x.relu,
             "matmul": lambda: x @ w, "pow": lambda: x ** 2, "sin": x.sin, "log": x.log,
             "sqrt": x.sqrt}[expr]().sum()
        y.backward()
        second = attempt(y.backward)
        return second, x.grad

    same(f)


# ---- higher order -----------------------------------------------------------------------------

def test_create_graph_higher_order():
    def f(torch):
        x = leaf(torch, X3)
        y = (x ** 3 * x.sin()).sum()
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        (gg,) = torch.autograd.grad(g.sum(), x, create_graph=True)
        (ggg,) = torch.autograd.grad(gg.sum(), x)
        return g, gg, ggg

    same(f)


def test_a_broadcast_operands_gradient_graph_is_torchs_sum_to():
    """The engine sums a broadcast operand's gradient as torch's sum_to does: one sum over
    the leading and the size-1 dims, kept, then a view without the leading ones."""
    def f(torch):
        x = leaf(torch, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        b, c = leaf(torch, [0.5, -1.0, 2.0]), leaf(torch, [[0.5, -1.0, 2.0]])
        cases = [((x + b).pow(2).sum(), b), (b.expand(2, 3).pow(2).sum(), b),
                 ((x * c).sum(), c), ((x[None] * b[None, None]).pow(2).sum(), b),
                 (torch.nn.functional.linear(x, x.T @ x, b).pow(2).sum(), b)]
        out = []
        for y, wrt in cases:
            (g,) = torch.autograd.grad(y, wrt, create_graph=True)
            out.append((g, graph(g, depth=2)))
        return out

    same(f)


def test_a_gradient_summed_to_a_0_dim_shape_is_one_sum():
    """torch's sum_to onto a 0-dim shape is tensor.sum(): a 0-dim operand's broadcast
    gradient hangs on SumBackward0 (no view), and expand's on one even when the expand
    kept the 0-dim shape."""
    def f(torch):
        x, v = leaf(torch, 2.0), leaf(torch, X3)
        cases = [x.expand(()) * x, (x.expand(3) * x).sum(), (x * v).pow(2).sum(),
                 torch.broadcast_tensors(x, torch.tensor(1.0))[0] * x]
        out = []
        for y in cases:
            (g,) = torch.autograd.grad(y, x, create_graph=True)
            out.append((g, graph(g, depth=3)))
        return out

    same(f)


def test_rsqrts_gradient_graph_is_torchs():
    """rsqrt's derivative is -0.5 * grad * result.pow(3): a Scalar product, then a Pow."""
    def f(torch):
        x, w = leaf(torch, [2.0, 3.0]), leaf(torch, [1.0, 2.0])
        (g,) = torch.autograd.grad((x.rsqrt() * w).sum(), x, create_graph=True)
        gg = torch.autograd.grad(g.sum(), [x, w])
        return g, graph(g), gg

    same(f)


def test_backward_create_graph_then_grad_of_grad():
    def f(torch):
        x = leaf(torch, X3)
        w = leaf(torch, [1.5, 0.5, -1.0])
        y = (x * x * w).sum()
        y.backward(create_graph=True)
        gx = x.grad
        z = (gx * gx).sum()
        (dw,) = torch.autograd.grad(z, w)
        # (torch names gx's grad_fn CopyBackwards, ours is CloneBackward0: values only)
        return gx.requires_grad, gx.detach(), dw, w.grad.requires_grad, w.grad.detach()

    same(f, warnings_too=False)  # torch warns about create_graph once per process


def test_hessian_vector_product():
    def f(torch):
        x = leaf(torch, X3)
        v = torch.tensor([1.0, 0.5, -2.0])
        y = (x.exp() * x).sum() + (x[0] * x[1] * x[2])
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        (hv,) = torch.autograd.grad(g, x, grad_outputs=v)
        return hv

    same(f)


def test_relu_gradient_of_gradient_is_zeros_that_reach_the_result():
    """torch differentiates threshold_backward's result with zeros: the input gradient of a
    relu alone still requires grad, its own gradient is zeros, and a hook on the relu's
    output sees them in the second pass."""
    def f(torch):
        seen = []
        x = leaf(torch, [1.0, -2.0, 3.0])
        y = x.relu()
        y.register_hook(lambda g: seen.append(g.detach().clone()))
        (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = torch.autograd.grad((g * g).sum(), x)
        return g.requires_grad, node_name(g.grad_fn), gg, seen

    same(f)


@pytest.mark.parametrize("watch", ["retain_grad", "hook"])
def test_an_inplace_on_a_view_saves_its_result_with_the_views_history(watch):
    """relu_ on a view saves its result with the view's regenerated node (torch's
    is_inplace_on_view SavedVariable): the second pass of a loss that reads only the base
    sends zeros through it, which its retained grad and hooks see (fuzzer seed 7044556)."""
    def f(torch):
        seen = []
        x = leaf(torch, [[1.0, 1.25], [0.75, -0.5], [-0.5, 1.25]])
        b = x.mean(0, keepdim=True) * 2
        v = b[0]
        v.relu_()
        if watch == "hook":
            v.register_hook(lambda g: seen.append(g.detach().clone()))
        else:
            v.retain_grad()
        loss = (b * b).sum()
        (g,) = torch.autograd.grad(loss, x, create_graph=True, retain_graph=True)
        torch.autograd.grad((g * g).sum(), x, retain_graph=True)
        loss.backward()
        return x.grad, v.grad, seen

    same(f, warnings_too=False)


@pytest.mark.parametrize("fill", ["uniform_", "normal_"])
def test_a_random_fill_gives_the_old_values_zeros_even_for_inf_and_nan(fill):
    """torch's UniformBackward0 / NormalBackward0 give zeros_like(grad), not grad * 0."""
    def f(torch):
        x = leaf(torch, X3)
        y = x * 1
        getattr(y, fill)()
        y.backward(torch.tensor([float("inf"), float("nan"), 1.0]))
        return x.grad

    same(f)


_MASKED_GRADIENTS = {
    "floor": lambda T, x: x.floor(), "sign": lambda T, x: x.sign(),
    "round": lambda T, x: x.round(), "div_floor": lambda T, x: x.div(2.0, rounding_mode="floor"),
    "pow_0": lambda T, x: x ** 0, "where": lambda T, x: T.where(x > 0, x, x * 2),
    "maximum": lambda T, x: T.maximum(x, T.tensor([0.0, 0.0, 5.0, 0.0])),
    "clamp": lambda T, x: x.clamp(-1, 1),
}


@pytest.mark.parametrize("op", list(_MASKED_GRADIENTS))
def test_an_inf_or_nan_gradient_does_not_leak_where_the_gradient_is_zero(op):
    """Where torch's formula gives zeros (zeros_like, where(..., 0)), an inf or nan arriving
    stays out: not g * 0, which is nan."""
    def f(torch):
        x = leaf(torch, [0.5, -1.5, 2.5, 0.0])
        _MASKED_GRADIENTS[op](torch, x).backward(
            torch.tensor([float("inf"), float("nan"), float("-inf"), 2.0]))
        return x.grad

    same(f, warnings_too=False)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_and_minimum_give_a_nan_operand_and_the_other_all_of_the_gradient(op):
    def f(torch):
        a = leaf(torch, [1.0, float("nan"), 2.0, 3.0])
        b = leaf(torch, [1.0, 0.5, float("nan"), 1.0])
        getattr(torch, op)(a, b).backward(torch.tensor([1.0, 2.0, 3.0, 4.0]))
        return a.grad, b.grad

    same(f)


@pytest.mark.parametrize("op", ["maximum", "minimum", "mul"])
def test_a_zero_dim_driver_tensor_takes_part_in_a_binary_op(op):
    """On workers, a 0-dim CPU tensor goes with a worker's tensor as in torch a CPU scalar
    goes with a GPU tensor (maximum refused the number it arrives as)."""
    def f(torch):
        s = torch.tensor(0.5, requires_grad=True, device="cpu")
        x = leaf(torch, X3)
        y = getattr(torch, op)(x, s * 1)
        (y * y).sum().backward()
        return y, x.grad, s.grad

    same(f)


@pytest.mark.parametrize("written", [False, True])
def test_a_saved_input_detached_in_place_is_refused(written):
    # torch looks for the detach before the version: written after it, the error is the same
    def f(torch):
        x = leaf(torch, X3)
        y = x * 2
        z = y.abs()  # saves y
        y.detach_()
        if written:
            y.mul_(2)
        return attempt(lambda: z.sum().backward())

    same(f)


def test_a_custom_functions_saved_input_detached_in_place_is_still_read():
    # ctx.saved_tensors are unpacked for the Function's node: torch does not refuse them
    # (differential fuzzer seeds 8046891, 8054916).
    def f(torch):
        class MulSelf(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                ctx.save_for_backward(a)
                return a * a

            @staticmethod
            def backward(ctx, g):
                (a,) = ctx.saved_tensors
                return 2 * g * a

        x = leaf(torch, X3)
        y = x * 2
        z = MulSelf.apply(y)
        y.detach_()
        z.sum().backward()
        return x.grad

    same(f)


@pytest.mark.parametrize("made", ["with grad", "under no_grad", "of a tensor without grad"])
def test_detach_in_place_refuses_any_view(made):
    def f(torch):
        x = leaf(torch, X3) if made != "of a tensor without grad" else torch.tensor(X3)
        if made == "under no_grad":
            with torch.no_grad():
                v = x[:2]
        else:
            v = (x * 1)[:2]
        return attempt(v.detach_), attempt(x.detach().detach_)

    same(f)


def test_a_leaf_detached_and_written_in_place_is_refused_at_its_accumulation():
    # x.detach_() then x.add_(y) gives the leaf a history; a gradient reaching its old
    # AccumulateGrad raises torch's words (differential fuzzer seed 8047461).
    def f(torch):
        x = leaf(torch, X3)
        y = x.clone()
        x.detach_()
        x.add_(y)
        return attempt(lambda: (x * x).sum().backward())

    same(f)


def test_a_view_with_a_history_of_a_base_detached_in_place_refuses_a_write():
    # torch: the view requires grad and its base is now a leaf (fuzzer seed 8046802).
    def f(torch):
        x = leaf(torch, X3)
        y = x.sin() - 1
        v = y.unsqueeze(0)
        y.detach_()
        return attempt(v.neg_), v.requires_grad

    same(f)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_no_grad_view_requires_grad_only_while_its_base_does(when):
    # A view made under no_grad requires grad through its base: a detach_ of the base, before
    # or after the view was made, ends it (fuzzer seeds 8043329, 8047843, 8057981).
    def f(torch):
        x = leaf(torch, [[1.0, -1.5, 0.5], [2.0, 0.25, -0.75]])
        y = x.exp()
        v = y.view(-1)
        if when == "before":
            y.detach_()
        with torch.no_grad():
            w = v[::2]
        if when == "after":
            y.detach_()
        return w.requires_grad, w.is_leaf, (w * 2).requires_grad

    same(f)


@pytest.mark.parametrize("op", ["exp", "mul"])
def test_a_node_hook_sees_no_gradient_for_an_input_with_no_edge(op):
    # A view made under no_grad requires grad but has no edge: torch's node computes no
    # gradient for it, so its post-hook sees None there (Ray fuzz seed 30025589).
    def f(torch):
        x = leaf(torch, [[1.0, -1.5, 0.5], [2.0, 0.25, -0.75]])
        w = leaf(torch, [0.5, 2.0, -1.0])
        z = x * 2
        with torch.no_grad():
            v = z[1]
        y = v.exp() if op == "exp" else v * w
        seen = []
        y.grad_fn.register_hook(lambda gi, go: seen.append([g is None for g in gi]))
        y.sum().backward()
        return [n is None for n, _ in y.grad_fn.next_functions], seen, w.grad

    same(f)


def test_a_no_grad_views_child_with_a_history_is_refused_after_its_base_is_detached():
    # torch rebuilds (and so refuses) a view's history when it has one, even when the base
    # no longer requires grad (detached in place): fuzzer seed 8075767.
    def f(torch):
        x = leaf(torch, [[-1.5, -0.75, 1.25], [1.75, 0.25, -0.5]])
        with torch.no_grad():
            v = x.mT
        w = v.chunk(2, 0)[0]
        x.detach_()
        with torch.no_grad():
            x.relu_()
        return w.requires_grad, attempt(lambda: w.is_leaf)

    same(f)


@pytest.mark.parametrize("shape, dim", [((1, 3), 0), ((1, 3), 1), ((), 0), ((2, 1, 3), 1),
                                        ((0, 3), 0), ((4,), 0)])
def test_cumsum_with_nothing_to_sum_passes_its_gradient_on_itself(shape, dim):
    # torch's cumsum_backward returns the gradient it was given when the dim has one
    # element (or there is at most one): with create_graph, autograd.grad hands back the
    # grad_outputs tensor itself, a leaf (fuzz seed 22156250).
    def f(torch):
        x = torch.ones(shape, dtype=torch.float64, requires_grad=True)
        g = torch.full(shape, 2.0, dtype=torch.float64, requires_grad=True)
        got, = torch.autograd.grad(x.cumsum(dim), x, grad_outputs=g, create_graph=True)
        return got, got is g, got.is_leaf, node_name(got.grad_fn)

    same(f)


@pytest.mark.parametrize("use", ["grad", "backward"])
def test_a_view_made_before_its_base_required_grad_is_an_output_with_the_bases_history(use):
    # The base (a detached tensor) comes to require grad by an in-place write; a view made
    # of it before is differentiated untouched: its history is made anew as the engine
    # takes it, as torch's gradient edge reads grad_fn (fuzz seed 22149955).
    def f(torch):
        x = leaf(torch, [[0.125, 1.625, -0.375]])
        base = x.detach()
        base.sigmoid_()
        v = base[:, 1:]
        base.mul_(x)
        if use == "grad":
            return torch.autograd.grad(v, base, grad_outputs=torch.ones(1, 2))
        v.backward(torch.tensor([[2.0, -1.0]]))
        return x.grad

    same(f)


@pytest.mark.parametrize("use", ["grad", "backward"])
def test_a_no_grad_view_as_an_output_has_no_gradient_edge(use):
    # A view made under no_grad requires grad through its base but has no history and no
    # accumulator: torch refuses it as an output (an AttributeError here before).
    def f(torch):
        x = leaf(torch, [1.0, 2.0, 3.0])
        with torch.no_grad():
            v = x[1:]
        if use == "grad":
            return attempt(torch.autograd.grad, v, x, torch.ones(2))
        return attempt(v.backward, torch.ones(2)), v.requires_grad

    same(f)


def test_a_view_of_a_base_detached_in_place_still_requires_grad_to_nowhere():
    # The view is made anew from a base without history: torch's AsStridedBackward0 with
    # no next function (differential fuzzer seed 8001404).
    def f(torch):
        x = leaf(torch, [[1.25, 1.5, -1.0]])
        w = leaf(torch, [[0.75, 0.5, 1.0], [1.25, -0.75, 1.0]])
        y = w * x
        v = y.transpose(0, 1)
        y.relu_()
        y.detach_()
        loss = (v * v).sum()
        return (v.requires_grad, node_name(v.grad_fn), v.grad_fn.next_functions[0][0],
                torch.autograd.grad(loss, [x, w], allow_unused=True))

    same(f)


@pytest.mark.parametrize("write", ["slice fill_", "strided zero_", "t() slice", "setitem",
                                   "diagonal"])
def test_a_write_through_a_view_replaces_large_inf_and_nan_values_exactly(write):
    # The base's new value was parent + (new - old): next to an old 1e8 the new value was
    # lost to rounding (1.0 became 0.0), and an old inf or nan stayed (on the driver and
    # on workers alike).
    def f(torch):
        x = leaf(torch, [[1e8, float("nan"), float("inf")], [2.0, -3.0, 0.5], [1.0, 4.0, 8.0]])
        y = x * 1
        {"slice fill_": lambda: y[:, 0:2].fill_(1.0),
         "strided zero_": lambda: y[0, ::2].zero_(),
         "t() slice": lambda: y.t()[1:].fill_(0.1),
         "setitem": lambda: y.__setitem__((0, slice(None)), 1.2345678),
         "diagonal": lambda: y.diagonal().fill_(0.5)}[write]()
        (g,) = torch.autograd.grad((y * y).sum(), x)
        return y, g

    same(f, rtol=0, atol=0)


@pytest.mark.parametrize("case", ["ties", "nan", "written through .data"])
def test_a_full_max_gives_torchs_gradient(case):
    # torch's evenly_distribute_backward: nan results are matched by nan inputs; when no
    # input matches the result any more (written through .data since), zeros, not nan
    # (differential fuzzer seed 8069322).
    def f(torch):
        vals = {"ties": [1.0, 3.0, 3.0], "nan": [1.0, float("nan"), 2.0, float("nan")],
                "written through .data": [1.0, 3.0, 2.0]}[case]
        x = leaf(torch, vals)
        y = x.max()
        if case == "written through .data":
            x.data.mul_(2)
        y.backward(torch.tensor(2.0))
        return x.grad

    same(f)


# ---- inputs= and autograd.grad ----------------------------------------------------------------

def test_backward_inputs_leaves_only_those():
    def f(torch):
        w = leaf(torch, M23)
        b = leaf(torch, [0.1, 0.2])
        x = torch.tensor([1.0, 2.0, 3.0])
        loss = ((w @ x + b) ** 2).sum()
        loss.backward(inputs=[w])
        return w.grad, b.grad

    same(f)


def test_backward_inputs_non_leaf():
    def f(torch):
        x = leaf(torch, X3)
        h = x * 2
        z = (h.exp() * h).sum()
        z.backward(inputs=[h])
        return grad_of(h), x.grad, h.retains_grad

    same(f)


def test_a_node_keeps_only_what_a_gradient_it_computes_reads():
    """scatter_add_ of a source without grad saves no index (torch saves it for the
    source's gradient only): a backward that stopped at its result freed nothing the
    graph behind it needs again (fuzzer seed 22323039); a product's freed operand raises."""
    def f(torch):
        out = []
        for write in ("scatter_add_", "mul_"):
            x = leaf(torch, X3)
            h = x[[1, 2, 1]]
            if write == "scatter_add_":
                h.scatter_add_(0, torch.tensor([1]), torch.tensor([0.36]))
            else:
                h.mul_(torch.tensor(2.0))
            ((h * h) * (h * h)).sum().backward(inputs=[h])
            out.append(attempt(torch.autograd.grad, (h * h).sum(), [x]))
        return out

    same(f)


def test_backward_inputs_nonleaf_and_leaf_together():
    def f(torch):
        x = leaf(torch, X3)
        h = x.sin()
        z = (h * h).sum()
        torch.autograd.backward(z, inputs=(x, h))
        return grad_of(h), x.grad

    same(f)


def test_backward_inputs_errors():
    def f(torch):
        x = leaf(torch, X3)
        c = torch.tensor(X3)
        y = (x * 2).sum()
        return (attempt(y.backward, inputs=[c]), attempt(y.backward, inputs=[]),
                attempt(y.backward, inputs=[x], retain_graph=True), x.grad)

    same(f)


def test_autograd_grad_allow_unused_and_materialize():
    def f(torch):
        x = leaf(torch, X3)
        u = leaf(torch, [1.0, 2.0])
        y = (x * x).sum()
        err = attempt(torch.autograd.grad, y, [x, u], retain_graph=True)
        g = torch.autograd.grad(y, [x, u], retain_graph=True, allow_unused=True)
        m = torch.autograd.grad(y, [x, u], retain_graph=True, materialize_grads=True)
        bad = attempt(torch.autograd.grad, y, [x, u], allow_unused=False, materialize_grads=True)
        return err, g, m, bad, x.grad

    same(f)


def test_materialized_zeros_are_laid_out_as_their_input():
    """torch materializes an unused input's gradient as zeros_like(input): a transposed
    input's zeros are transposed, and a write into their memory lands by that layout."""
    def f(torch):
        x = leaf(torch, [M23[0], M23[1], X3])
        u = leaf(torch, X3)
        wanted = [x.t(), x[:, ::2], x.t().detach().requires_grad_()]
        grads = torch.autograd.grad((u * 2).sum(), wanted, materialize_grads=True)
        with torch.no_grad():
            torch.exp(x[:2], out=grads[0][0])
        return [(g, g.stride()) for g in grads]

    same(f)


def test_autograd_grad_leaves_dot_grad_alone_and_grad_outputs():
    def f(torch):
        x = leaf(torch, M23)
        y = x.tanh() * 3
        (g,) = torch.autograd.grad(y, x, grad_outputs=torch.ones(2, 3) * 0.5)
        return g, x.grad

    same(f)


def test_autograd_grad_of_non_leaf_input():
    def f(torch):
        x = leaf(torch, X3)
        h = x.exp()
        y = (h * h).sum()
        return torch.autograd.grad(y, h)

    same(f)


def test_grad_wrt_output_itself_and_duplicate_inputs():
    def f(torch):
        x = leaf(torch, X3)
        y = x * 3
        a = torch.autograd.grad(y, y, torch.ones(3), retain_graph=True)
        b = torch.autograd.grad(y.sum(), [x, x])
        c = torch.autograd.grad(x, x, torch.full((3,), 2.0))
        return a, b, c

    same(f)


def test_grad_capture_is_raw_when_the_node_is_also_needed():
    """torch: a captured non-leaf whose node must also run sees its hooks only once it runs."""
    def f(torch):
        x = leaf(torch, X3)
        h = x * 1
        h.register_hook(lambda g: g * 10)
        z = (h * 2).sum()
        both = torch.autograd.grad(z, [h, x], retain_graph=True)
        alone = torch.autograd.grad(z, [h])
        return both, alone

    same(f)


# ---- accumulation, gradient=, roots -----------------------------------------------------------

# Two gradients reaching one input are summed into the first in place when nothing else
# sees it (torch's InputBuffer), which a leaf's .grad's _version shows: not into a view's
# (t(), expand, indexing), an expanded tensor's or one a hook was handed.
_SUMMED_GRADIENTS = [
    "(x * x).sum()", "(x * 2 + x * 3).sum()", "(x * x * x).sum()", "(x / (x + 1)).sum()",
    "(a @ w.t()).sum() + (w * 2).sum()", "(w * 2).sum() + (a @ w.t()).sum()",
    "(F.linear(a, w) + F.linear(a, w)).sum()", "(w @ w.t()).sum()", "(w @ w).sum()",
    "(w.view(9) * 2).sum() + (w * 3).sum()", "(w.permute(1, 0) * 2).sum() + (w * 3).sum()",
    "(w[0] * 2).sum() + (w * 3).sum()", "(w * 3).sum() + (w[0] * 2).sum()",
    "torch.cat([w, w]).sum() + (w * 2).sum()", "w.sum() + w.sum()", "w.mean() + (w * w).mean()",
    "(b.expand(3, 3) * 2).sum() + (b * 3).sum()", "torch.addmm(c, a, w).sum() + (c * 2).sum()",
    "(h(x) * h(x)).sum()",
]


@pytest.mark.parametrize("loss", _SUMMED_GRADIENTS)
def test_gradients_summed_for_one_input_are_written_in_place_as_torchs(loss):
    def f(torch):
        x, w = leaf(torch, X3), leaf(torch, [[0.5, 1.0, -2.0], [0.25, 3.0, 1.5], [1.0, 0.0, 2.0]])
        b, c = leaf(torch, [X3]), leaf(torch, M23)
        a = torch.tensor(M23)
        seen = []
        x2 = x * 2
        x2.register_hook(lambda g: seen.append(g._version))
        env = {"torch": torch, "F": torch.nn.functional, "x": x, "w": w, "a": a, "b": b,
               "c": c, "h": lambda _: x2}
        eval(loss, env).backward()
        return [None if t.grad is None else (t.grad._version, t.grad) for t in (x, w, b, c)], seen
    same(f)


def test_gradient_accumulates_across_calls():
    def f(torch):
        w = leaf(torch, M23)
        for k in range(3):
            ((w * (k + 1)).sin()).sum().backward()
        g1 = w.grad.clone()
        w.grad.zero_()
        (w * w).sum().backward()
        return g1, w.grad

    same(f)


def test_a_leaf_keeps_an_unshared_gradient_and_copies_a_shared_one():
    """Whether a leaf took the gradient itself or a copy shows when either is written in
    place afterwards: a gradient something else holds (the other input of an add, a
    hook's list, a hook's return value, the root's given gradient) is copied."""
    def f(torch):
        a, b = leaf(torch, X3), leaf(torch, X3)
        (a + b).sum().backward()  # add's backward hands both inputs the same gradient
        a.grad.add_(1)
        saved, kept = [], torch.ones(3)
        c, d = leaf(torch, X3), leaf(torch, X3)
        c.register_hook(lambda g: saved.append(g))
        d.register_hook(lambda g: kept)
        (c * 2).sum().backward()
        (d * 3).sum().backward()
        c.grad.mul_(10)
        d.grad.add_(5)
        given = torch.full((3,), 2.0)
        e = leaf(torch, X3)
        e.backward(given)
        e.grad.add_(1)
        x, y = leaf(torch, X3), leaf(torch, X3)
        torch.stack([x, y]).exp().sum().backward()  # both are views of one gradient
        x.grad.add_(1)
        return a.grad, b.grad, saved[0], c.grad, kept, d.grad, given, e.grad, x.grad, y.grad

    same(f)


def test_a_weight_used_transposed_gets_a_row_major_gradient_of_its_own():
    def f(torch):
        w = leaf(torch, M23)
        x = torch.tensor([[1.0, 2.0, -1.0], [0.5, 0.0, 3.0], [2.0, -2.0, 1.0], [1.0, 1.0, 1.0]])
        (x @ w.t()).pow(2).sum().backward()
        first = w.grad.clone()
        (x @ w.t()).sum().backward()  # added in place into the gradient it kept
        return first, w.grad, w.grad.stride(), w.grad.is_contiguous(), w.grad._base is None

    same(f)


def test_a_leaf_resized_after_its_graph_was_made_keeps_or_copies_its_gradient_as_torch():
    """A leaf given another shape by out= under no_grad still gets a gradient of the shape
    it had in the graph. torch's layout check walks the gradient's dims: one whose strides
    fit the new leaf is kept as it is, another is copied into the leaf's shape."""
    def f(torch):
        kept = leaf(torch, [[-1.5, -0.75, 0.5]])
        y = kept.max(1)[0]
        with torch.no_grad():
            torch.add(torch.zeros(2, 1), 1.5, out=kept)
        (y * y).sum().backward()
        copied = leaf(torch, [0.25, 2.0])
        z = copied * 2
        with torch.no_grad():
            torch.exp(torch.ones(1, 2), out=copied)
        z.sum().backward()
        return kept.grad, kept.grad.stride(), copied.grad, copied.grad.stride()

    same(f)


def test_a_leaf_that_lost_dims_after_its_graph_was_made_keeps_its_gradient_as_torch():
    """torch's layout check reads the leaf's strides for every dim of the gradient: past the
    dims a leaf has left (out= or set_ under no_grad gave it fewer), its stride slots still
    hold the strides it had, so a gradient laid out as the leaf was is kept as it is."""
    def f(torch):
        out = []
        for write in (lambda x: torch.sum(torch.ones(3), 0, out=x),
                      lambda x: torch.add(torch.ones(3), 1, out=x),
                      lambda x: x.set_(torch.zeros(4))):
            x = leaf(torch, [[-0.25], [1.75], [-0.5], [-1.5]])
            y = x * 2
            with torch.no_grad():
                write(x)
            y.sum().backward()
            out += [x.shape, x.grad, x.grad.stride()]
        return out

    same(f)


def test_a_leaf_resized_after_its_graph_was_made_is_checked_against_its_old_shape():
    """torch checks a gradient for a leaf against the leaf as it was when its AccumulateGrad
    node was made, while that node lives: out= under no_grad giving the leaf a shape its old
    one cannot be summed to makes a new op's gradient invalid."""
    def f(torch):
        x = leaf(torch, [-0.25, 1.75, -0.5, -1.5])
        y = x * 2  # (keeps x's node alive)
        with torch.no_grad():
            torch.add(torch.ones(2, 2), 1.5, out=x)
        return attempt(torch.autograd.grad, (x * 3).sum(), x), y

    same(f)


def test_a_view_of_a_leaf_resized_in_its_memory_checks_its_gradient_against_the_old_shape():
    """A view's node regenerated after out= resized its base in its memory (under no_grad)
    returns an invalid gradient for a shape the old one cannot be summed to; one it can be
    summed to is summed to the old shape."""
    def f(torch):
        seen = []
        for shape in ((1, 3), (1, 4)):
            x = leaf(torch, [-0.25, 1.75, -0.5, -1.5])
            v = x.unflatten(0, (4, 1))
            with torch.no_grad():
                torch.add(torch.ones(shape), 1.5, out=x)
            seen.append(attempt(torch.autograd.grad, (v * v).sum(), x))
        return seen

    same(f)


def test_a_leaf_resized_to_fewer_dims_is_checked_against_the_strides_it_lost():
    """out= under no_grad gives a leaf fewer dims after its graph was made: torch's layout
    check reads the strides of the dims the leaf lost, so a gradient that fits them is kept
    in its old shape ([1, 2, 2] into a 0-dim leaf, or into a 5-element one: its first dim's
    stride does not matter) and one that does not is copied (a broadcast error)."""
    def f(torch):
        total = lambda out: torch.sum(torch.ones(5, 1), (0, 1), out=out)  # noqa: E731
        exp = lambda *shape: lambda out: torch.exp(torch.zeros(shape), out=out)  # noqa: E731
        cube, square = [[[0.5, -1.0], [2.0, 0.25]]], [[0.5, 1.0], [1.5, 2.0]]
        results = []
        for values, resize in [(cube, total), ([[1.5, -0.5]], total), (cube, exp(5)),
                               (square, exp(5)), (cube, exp(2, 5))]:
            x = leaf(torch, values)
            y = torch.cat([x, x], -1)
            with torch.no_grad():
                resize(x)
            backward = attempt((y * y).sum().backward)
            results += [tuple(x.shape), backward, x.grad, x.grad is None or x.grad.stride()]
        return results

    same(f)


def test_a_leaf_given_fewer_dims_in_place_keeps_a_gradient_of_its_old_shape():
    """squeeze_, as_strided_ and set_ under no_grad leave a leaf's lost strides where
    torch's layout check reads them, as out='s resize does: the [1, 3] gradient of a leaf
    made [3] fits them and is kept as it is."""
    def f(torch):
        results = []
        for relayout in [lambda x: x.squeeze_(), lambda x: x.as_strided_((3,), (1,)),
                         lambda x: x.set_(torch.ones(3))]:
            x = leaf(torch, [[0.5, 1.0, 2.0]])
            y = torch.cat([x, x], -1)
            with torch.no_grad():
                relayout(x)
            (y * y).sum().backward()
            results += [tuple(x.shape), x.grad, x.grad.stride()]
        return results

    same(f)


def test_linear_backward_copies_no_gradient():
    """As torch's AccumulateGrad, a gradient nothing else uses becomes the .grad as it is:
    a Linear layer's backward runs no clone (torch's profile has none either)."""
    import torch

    import distgrad

    clones = {}
    for lib in (torch, distgrad):
        lib.manual_seed(0)
        lin, x = lib.nn.Linear(4, 3), lib.randn(5, 4)
        with lib.profiler.profile() as prof:
            lin(x).pow(2).mean().backward()
        clones[lib.__name__] = sum(e.count for e in prof.key_averages() if e.key == "aten::clone")
    assert clones == {"torch": 0, "distgrad": 0}


def test_non_scalar_backward_with_gradient():
    def f(torch):
        x = leaf(torch, M23)
        y = x * x + 1
        y.backward(torch.tensor([[1.0, 0.0, 2.0], [0.5, -1.0, 3.0]]))
        z = leaf(torch, X3)
        implicit = attempt((z * 2).backward)
        mismatch = attempt((z * 2).backward, torch.tensor(1.0))
        wrong = attempt((z * 2).backward, torch.ones(2))
        return x.grad, implicit, mismatch, wrong

    same(f)


def test_scalar_output_with_explicit_gradient():
    def f(torch):
        x = leaf(torch, X3)
        y = (x * 2).sum()
        y.backward(torch.tensor(3.0))
        return x.grad

    same(f)


def test_multiple_roots():
    def f(torch):
        x = leaf(torch, X3)
        y1 = x.exp()
        y2 = (x * x).sum()
        torch.autograd.backward([y1, y2], [torch.tensor([1.0, 2.0, 3.0]), None])
        g = x.grad.clone()
        x.grad = None
        y3 = x * 2
        torch.autograd.backward([y3, y3], [torch.ones(3), torch.full((3,), 0.5)])
        return g, x.grad

    same(f)


def test_backward_on_leaf_itself():
    def f(torch):
        x = leaf(torch, X3)
        x.backward(torch.tensor([1.0, 2.0, 3.0]))
        return x.grad

    same(f)


# ---- exact dependency counting, needed subgraph -----------------------------------------------

def _count_calls(node, rec, name):
    node.register_hook(lambda gi, go: rec(name))


def test_diamond_runs_each_node_once():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        a = x * 2
        _count_calls(a.grad_fn, rec, "a")
        b = a.exp()
        c = a.sin()
        d = (b * c + a).sum()
        d.backward()
        return x.grad, rec

    same(f)


def test_nodes_not_leading_to_inputs_never_run():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        w = leaf(torch, [0.3, 0.2, 0.1])
        u = x.exp()
        _count_calls(u.grad_fn, rec, "u")
        v = w.sin()
        _count_calls(v.grad_fn, rec, "v")
        loss = (u * v).sum()
        (gw,) = torch.autograd.grad(loss, w, retain_graph=True)
        loss.backward(inputs=[w], retain_graph=True)
        loss.backward(inputs=[x])
        return gw, w.grad, x.grad, rec

    same(f)


def test_captured_non_leaf_node_does_not_run_in_autograd_grad():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        h = x.exp()
        _count_calls(h.grad_fn, rec, "h")
        y = (h * 3).sum()
        g = torch.autograd.grad(y, h, retain_graph=True)
        y.backward(inputs=[h])  # backward(inputs=) does run it, as torch does
        return g, rec

    same(f)


def test_long_chain_and_wide_fanout():
    def f(torch):
        x = leaf(torch, X3)
        h = x
        for k in range(200):
            h = h * 1.001 + 0.001 * k
        outs = [h * float(i) for i in range(20)]
        total = outs[0].sum()
        for o in outs[1:]:
            total = total + o.sum()
        total.backward()
        return x.grad

    same(f, rtol=1e-4)


# ---- hooks ------------------------------------------------------------------------------------

def test_tensor_hooks_order_replace_and_remove():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        h = x * 2
        h1 = h.register_hook(lambda g: rec("h1", g.clone()))
        h.register_hook(lambda g: g * 10)
        h.register_hook(lambda g: rec("h3", g.clone()))
        (h * h).sum().backward(retain_graph=True)
        first = x.grad.clone()
        h1.remove()
        h1.remove()  # removing twice is fine
        x.grad = None
        (h * h).sum().backward()
        return first, x.grad, rec

    same(f)


def test_hooks_on_leaf_replace_grad_before_accumulation():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        handle = x.register_hook(lambda g: rec("leaf", g.clone()) or g * 2)
        (x * x).sum().backward()
        first = x.grad.clone()
        handle.remove()
        (x * x).sum().backward()
        return first, x.grad, rec

    same(f)


def test_hook_on_tensor_without_grad_raises():
    def f(torch):
        c = torch.tensor(X3)
        return attempt(c.register_hook, lambda g: g)

    same(f)


def test_retain_grad():
    def f(torch):
        x = leaf(torch, X3)
        h = x.exp()
        h.retain_grad()
        h.retain_grad()
        k = h * 3
        k.register_hook(lambda g: g * 2)
        k.retain_grad()
        (k * k).sum().backward()
        c = torch.tensor([1.0])
        return (h.grad, k.grad, h.retains_grad, x.retains_grad, x.grad,
                attempt(c.retain_grad))

    same(f)


def test_retain_grad_sees_hooked_grad_and_accumulates():
    def f(torch):
        x = leaf(torch, X3)
        h = x * 2
        h.retain_grad()
        h.register_hook(lambda g: g + 1)
        (h * h).sum().backward(retain_graph=True)
        first = h.grad.clone()
        (h * h).sum().backward()
        return first, h.grad

    same(f)


def test_non_leaf_grad_warns_and_is_none():
    def f(torch):
        x = leaf(torch, X3)
        h = x * 2
        h.sum().backward()
        return h.grad

    same(f)


def test_node_hooks_and_prehooks():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        w = leaf(torch, [2.0, 3.0, 4.0])
        y = x * w
        node = y.grad_fn
        node.register_prehook(lambda go: rec("pre", go[0].clone()))
        node.register_prehook(lambda go: (go[0] * 2,))
        handle = node.register_hook(lambda gi, go: rec("post", gi[0].clone(), gi[1].clone(),
                                                       go[0].clone()))
        node.register_hook(lambda gi, go: (gi[0] + 1, None))
        y.sum().backward(retain_graph=True)
        g1 = (x.grad.clone(), w.grad)
        handle.remove()
        x.grad = None
        y.sum().backward()
        return g1, x.grad, rec

    same(f)


def test_accumulate_grad_node_hooks():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        y = (x * 3).sum()
        acc = y.grad_fn.next_functions[0][0].next_functions[0][0]
        acc.register_prehook(lambda go: rec("pre", go[0].clone()))
        acc.register_hook(lambda gi, go: rec("post", len(gi), go[0].clone()))
        y.backward()
        return node_name(acc), acc.variable is x, x.grad, rec

    same(f)


def test_post_accumulate_grad_hook():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        x.register_post_accumulate_grad_hook(lambda t: rec("post", t is x, t.grad.clone()))
        (x * x).sum().backward()
        (x * 3).sum().backward()
        torch.autograd.grad((x * 5).sum(), x)  # no accumulation, no hook
        h = x * 2
        return rec, attempt(h.register_post_accumulate_grad_hook, lambda t: None)

    same(f)


def test_hooks_run_under_create_graph_with_grad_mode():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, X3)
        h = x.sin()
        h.register_hook(lambda g: rec("mode", torch.is_grad_enabled(), g.requires_grad))
        (h * h).sum().backward(create_graph=True)
        h2 = x.sin()
        h2.register_hook(lambda g: rec("mode", torch.is_grad_enabled(), g.requires_grad))
        (h2 * h2).sum().backward()
        return rec

    same(f, warnings_too=False)  # torch warns about create_graph once per process


# ---- version counters and in-place ------------------------------------------------------------

def test_version_counter_and_inplace_error():
    def f(torch):
        x = leaf(torch, X3)
        e = x.exp()
        v0 = int(e._version)
        e.add_(1)
        e.mul_(2)
        v2 = int(e._version)
        return v0, v2, attempt(e.sum().backward)

    same(f)


def test_saved_input_modified_in_place():
    def f(torch):
        x = leaf(torch, X3)
        a = x * 1
        s = a.sin()
        a.mul_(2)
        return attempt(s.sum().backward), x.grad

    same(f)


@pytest.mark.parametrize("reduce", ["abs", "norm1", "norm1.5", "norm0.5", "norminf"])
def test_a_double_backward_of_abs_and_norms_saves_its_input_through_sgn(reduce):
    """torch's abs and p-norm gradients multiply by self.sgn(), whose node (SgnBackward0)
    saves self: a write to the input after the first gradient is caught by the second."""
    def f(torch):
        x = leaf(torch, X3)
        v = x * 1
        if reduce == "abs":
            out = v.abs().sum()
        else:
            p = float(reduce[4:]) if reduce != "norminf" else float("inf")
            out = torch.linalg.vector_norm(v, ord=p)
        g, = torch.autograd.grad(out, v, create_graph=True)
        names = graph(g)
        with torch.no_grad():
            v.mul_(2)
        return names, attempt(torch.autograd.grad, (g * g * x).sum(), x)

    same(f)


def test_saved_leaf_modified_under_no_grad():
    def f(torch):
        x = leaf(torch, M23, torch.float64)
        s = x.sin()
        with torch.no_grad():
            x.add_(1)
        return attempt(s.sum().backward)

    same(f)


def test_detach_shares_version_counter_data_does_not():
    def f(torch):
        x = leaf(torch, X3)
        y = x.exp()
        y.detach().mul_(1.0)
        err = attempt(y.sum().backward, retain_graph=True)
        y2 = x.exp()
        y2.data.mul_(2)
        y2.sum().backward()
        return err, x.grad, int(y2._version)

    same(f)


def test_version_is_leaf_and_output_nr_refuse_to_be_set_as_torch():
    def f(torch):
        x = leaf(torch, X3)

        def assign(name):
            setattr(x, name, 1)

        return ([attempt(assign, name) for name in ("_version", "is_leaf", "output_nr")],
                attempt(delattr, x, "_version"), x._version, x.is_leaf, x.output_nr)

    same(f)


def test_inplace_on_non_leaf_rebases_history():
    def f(torch):
        x = leaf(torch, X3)
        b = leaf(torch, [1.0, -2.0, 0.5])
        a = x * 1
        a.mul_(2)
        g_scalar = graph(a)
        c = x * 1
        c.mul_(b)
        g_tensor = graph(c)
        (a.sum() + c.sum()).backward()
        return g_scalar, g_tensor, x.grad, b.grad, a.is_leaf

    same(f)


def test_inplace_ops_on_non_leaf_all_kinds():
    def f(torch):
        x = leaf(torch, M23)
        y = x * 1
        y.add_(1).sub_(0.5).mul_(3).div_(2)
        y.clamp_(-1.0, 2.0)
        names = graph(y)
        y.sum().backward()
        return names, x.grad

    same(f)


def test_inplace_makes_a_constant_require_grad():
    def f(torch):
        w = leaf(torch, X3)
        z = torch.zeros(3)
        z.add_(w * 2)
        z.mul_(w)
        z.sum().backward()
        return z.is_leaf, z.requires_grad, node_name(z.grad_fn), w.grad

    same(f)


def test_inplace_on_leaf_requiring_grad():
    def f(torch):
        w = leaf(torch, X3)
        err = attempt(w.add_, 1)
        with torch.no_grad():
            w.sub_(0.5)
            w.mul_(2)
        v = int(w._version)
        return err, w, v, w.is_leaf

    same(f)


def test_retain_grad_survives_inplace():
    def f(torch):
        x = leaf(torch, X3)
        h = x * 1
        h.retain_grad()
        h.mul_(3)
        (h * h).sum().backward()
        return h.grad, h.retains_grad, x.grad

    same(f)


# ---- detach, requires_grad, leaves ------------------------------------------------------------

def test_detach_and_detach_():
    def f(torch):
        x = leaf(torch, X3)
        y = x * 2
        d = y.detach()
        y2 = x * 3
        r = y2.detach_()
        return (d.requires_grad, d.is_leaf, d.grad_fn, r is y2, y2.requires_grad, y2.is_leaf,
                y2.grad_fn, d)

    same(f)


def test_requires_grad_rules():
    def f(torch):
        x = leaf(torch, X3)
        y = x * 2
        i = torch.tensor([1, 2])
        out = [attempt(y.requires_grad_, False), attempt(i.requires_grad_),
               attempt(setattr, y, "requires_grad", False)]
        y.requires_grad_(True)  # fine on a non-leaf that requires grad
        c = torch.tensor(X3)
        c.requires_grad = True
        out += [c.requires_grad, c.is_leaf, y.requires_grad, y.is_leaf]
        c.requires_grad_(False)
        out.append(c.requires_grad)
        out.append(attempt(torch.tensor, [1, 2], requires_grad=True))
        out.append(attempt(torch.zeros, 2, dtype=torch.int64, requires_grad=True))
        return out

    same(f)


def test_is_leaf_and_requires_grad_propagation():
    def f(torch):
        x = leaf(torch, X3)
        c = torch.tensor(X3)
        with torch.no_grad():
            n = x * 2
        return [(t.is_leaf, t.requires_grad) for t in (x, c, x * c, c * 2, n, x.detach(), c + c)]

    same(f)


def test_data_attribute():
    def f(torch):
        x = leaf(torch, X3)
        d = x.data
        d.mul_(2)  # no error: .data is not tracked
        y = (x * x).sum()
        y.backward()
        x.data = torch.tensor([1.0, 1.0, 1.0])
        return d.requires_grad, d.is_leaf, x, x.grad, x.requires_grad

    same(f)


# ---- graph structure --------------------------------------------------------------------------

GRAPHS = {
    "tutorial": lambda t, x, w, b: t.matmul(x, w) + b,
    "linear": lambda t, x, w, b: (x @ w + b).relu().sum(),
    "mixed_constant": lambda t, x, w, b: (w * 2).sum() + b.sum() * x.sum(),
    "sub_div": lambda t, x, w, b: ((b - 1) / (b * b + 1)).mean(),
    "transpose_exp": lambda t, x, w, b: w.t().exp().sum(1),
    "tanh_sigmoid": lambda t, x, w, b: t.tanh(b) * t.sigmoid(b),
    "pow_neg": lambda t, x, w, b: (-(b ** 2)).sum(),
    "reuse": lambda t, x, w, b: b * b,
    # a number on the left: torch records self first (2 * t is t.mul(2))
    "radd": lambda t, x, w, b: 2 + b.sin(),
    "rmul": lambda t, x, w, b: 2 * b.sin(),
    "rsub": lambda t, x, w, b: 2 - b.sin(),
    "rdiv": lambda t, x, w, b: 2 / b.sin(),
    "rpow": lambda t, x, w, b: 2 ** b.sin(),
    "rmod": lambda t, x, w, b: 2 % b.sin(),
    "rfloordiv": lambda t, x, w, b: 2 // b.sin(),
    "rmul_chain": lambda t, x, w, b: (2 * b.sin() + 1).sum(),
}


OPS_BUGS = {}  # ops known to differ from torch (none now)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(reason=OPS_BUGS[n]))
                                  if n in OPS_BUGS else n for n in sorted(GRAPHS)])
def test_next_functions_structure(name):
    def f(torch):
        x = torch.ones(5)
        w = leaf(torch, np.linspace(-1, 1, 15).reshape(5, 3).tolist())
        b = leaf(torch, [0.1, -0.2, 0.3])
        out = GRAPHS[name](torch, x, w, b)
        return graph(out), node_name(out.grad_fn), out

    same(f)


def _classes(node, depth=20):
    """The graph as the class names of its nodes (code dispatches on type(grad_fn).__name__)."""
    if node is None or depth == 0:
        return None
    return type(node).__name__, tuple(_classes(c, depth - 1) for c, _ in node.next_functions)


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_node_classes_named_as_torch(name):
    def f(torch):
        x = torch.ones(5)
        w = leaf(torch, np.linspace(-1, 1, 15).reshape(5, 3).tolist())
        b = leaf(torch, [0.1, -0.2, 0.3])
        return _classes(GRAPHS[name](torch, x, w, b).grad_fn)

    same(f)


def test_accumulate_grad_variable():
    def f(torch):
        x = leaf(torch, X3)
        y = x * 2
        acc = y.grad_fn.next_functions[0][0]
        return node_name(acc), acc.variable is x, acc.next_functions, repr(acc)[:16]

    same(f)


def test_grad_fn_repr_and_name():
    def f(torch):
        x = leaf(torch, X3)
        y = (x + 1).sum()
        return repr(y.grad_fn), y.grad_fn.name(), str(y.grad_fn.next_functions[0][0])

    same(f)


# ---- random DAGs ------------------------------------------------------------------------------

UNARY = ["exp_small", "sin", "cos", "tanh", "sigmoid", "relu", "square", "neg", "softplusish",
         "abs"]
BINARY = ["add", "sub", "mul", "div", "maximum", "add_bcast", "mul_bcast"]


def _apply_unary(torch, op, a):
    return {"exp_small": lambda: (a * 0.3).exp(), "sin": a.sin, "cos": a.cos, "tanh": a.tanh,
            "sigmoid": a.sigmoid, "relu": a.relu, "square": lambda: a * a, "neg": lambda: -a,
            "softplusish": lambda: (a.exp() + 1).log(), "abs": a.abs}[op]()


def _apply_binary(torch, op, a, b):
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / (b * b + 1)
    if op == "maximum":
        return torch.maximum(a, b)
    if op == "add_bcast":
        return a + b.sum(0, keepdim=True)
    return a * b.mean(1, keepdim=True)


def random_dag(torch, seed):
    rng = random.Random(seed)
    vals = np.random.default_rng(seed).uniform(-1.5, 1.5, size=(4, 3, 4)).round(3)
    leaves = [torch.tensor(v.tolist(), requires_grad=(k != 3)) for k, v in enumerate(vals)]
    pool = list(leaves)
    for _ in range(rng.randint(4, 14)):
        kind = rng.random()
        if kind < 0.4:
            pool.append(_apply_unary(torch, rng.choice(UNARY), rng.choice(pool)))
        elif kind < 0.85:
            pool.append(_apply_binary(torch, rng.choice(BINARY), rng.choice(pool),
                                      rng.choice(pool)))
        elif kind < 0.95:
            a = rng.choice(pool)
            pool.append((a @ rng.choice(pool).t()) @ a * 0.1)
        else:
            a = rng.choice(pool)
            pool.append(a.t().reshape(3, 4) * 0.5)
    outs = rng.sample(pool[4:], k=min(2, len(pool) - 4))
    loss = sum((o * (k + 1)).sum() for k, o in enumerate(outs))
    diff = [t for t in leaves if t.requires_grad]
    mode = rng.choice(["backward", "grad", "grad_subset", "backward_inputs"])
    if mode == "backward":
        loss.backward()
        return loss, [t.grad for t in diff]
    if mode == "grad":
        return loss, list(torch.autograd.grad(loss, diff, allow_unused=True))
    # a subset of the leaves and some intermediate results
    wanted = rng.sample(diff, k=rng.randint(1, len(diff)))
    wanted += [t for t in rng.sample(pool[4:], k=min(2, len(pool) - 4)) if t.requires_grad]
    if mode == "grad_subset":
        return loss, list(torch.autograd.grad(loss, wanted, allow_unused=True))
    loss.backward(inputs=wanted)
    return loss, [grad_of(t) for t in wanted], [t.grad for t in diff]


@pytest.mark.parametrize("seed", range(60))
def test_random_dag(seed):
    same(lambda torch: random_dag(torch, seed), rtol=1e-4, atol=1e-5)


# ---- multi-output nodes, dtypes, views --------------------------------------------------------

def test_hook_of_output_without_gradient_gets_none():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, [1.0, 2.0, 3.0, 4.0])
        a, b = (x * 2).split(2)
        b.register_hook(lambda g: rec("b", g))
        a.register_hook(lambda g: rec("a", g))
        (a * 3).sum().backward()
        return x.grad, rec, graph(a)

    same(f)


def test_multi_output_node_with_non_differentiable_output():
    def f(torch):
        x = leaf(torch, [[1.0, 5.0], [3.0, 2.0]])
        v, i = x.max(1)
        (v * 2).sum().backward()
        return x.grad, i, graph(v), i.requires_grad

    same(f)


def test_mixed_float_dtypes_flow_back_in_their_own_dtype():
    def f(torch):
        x = leaf(torch, [1.0, 2.0], torch.float64)
        w = leaf(torch, [3.0, 4.0])
        y = (x.float() * w).sum() + (w.double() * x).sum()
        y.backward()
        return x.grad, w.grad, y, graph(y)

    same(f)


def test_copy_leaves_its_source_and_its_target_apart():
    # copy_ writes values: a later write to either tensor is not seen by the other (a
    # worker computed a result straight into the memory of the copy_ that followed it,
    # though the result lived on: differential fuzzer seed 7009361).
    def f(torch):
        x = torch.tensor([[-0.16, 0.25], [0.04, 0.62]])
        v = x - x
        x.copy_(v)
        x[1:] = 0.68
        a = torch.ones(2) * 2
        b = torch.ones(2)
        b.copy_(a)
        a.add_(1)
        b.mul_(5)
        return v, x, a, b

    same(f)


def test_copy_sums_a_broadcast_sources_gradient_in_the_sources_dtype():
    # torch casts the gradient to src's dtype, then sums over the broadcast dims: a float64
    # source broadcast into float32 gets a float64 sum of float32 values, not a float32 sum
    def f(torch):
        d = torch.zeros(3, 8)
        x = torch.tensor([[1.82]] * 3, dtype=torch.float64, requires_grad=True)
        d.copy_(x)
        (d * d).sum().backward()
        return x.grad

    same(f, rtol=0, atol=0)


def test_assigned_grad_is_accumulated_in_place():
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        g = torch.zeros(2)
        x.grad = g
        (x * 3).sum().backward()
        return g, x.grad is g, x.grad

    same(f)


def test_hooks_on_a_tensor_and_on_its_view():
    def f(torch):
        rec = Recorder()
        x = leaf(torch, [1.0, 2.0])
        y = x * 1
        y.register_hook(lambda g: rec("y", g) or g * 2)
        z = y.view(2, 1)
        z.register_hook(lambda g: rec("z", g))
        z.sum().backward()
        return x.grad, rec

    same(f)


def test_view_shares_version_counter_with_base():
    def f(torch):
        x = leaf(torch, [[1.0, 2.0], [3.0, 4.0]])
        a = x * 1
        v = a.t()
        s = v.sin()
        a.add_(1)
        return int(v._version), attempt(s.sum().backward)

    # torch names the view's regenerated node (AsStrided) in the message; ours the view op
    same(f, prefix=len("one of the variables needed for gradient computation has been "
                       "modified by an inplace operation: [torch.FloatTensor [2, 2]]"))


def test_a_0_dim_element_is_a_view_of_its_base():
    def f(torch):
        x = torch.ones(3)
        first, last = x[1], x.select(0, -1)
        x.mul_(5)
        last.add_(1)  # and back through the view
        return first.item(), x.tolist(), first._base is x

    same(f)


@pytest.mark.parametrize("upstream", [[-2.0, 3.0, -1.0, 4.0], [float("inf"), -3.0, float("nan"), 1.0]])
def test_relu_gradient_zeroes_where_the_input_was_not_positive(upstream):
    """Masked entries are +0.0 (not -0.0, not nan from inf * 0), as torch's threshold_backward."""
    import torch

    import distgrad as dg

    x = dg.tensor([-1.0, 2.0, 0.0, 0.5], requires_grad=True)
    x.relu().backward(dg.tensor(upstream))
    tx = torch.tensor([-1.0, 2.0, 0.0, 0.5], requires_grad=True)
    tx.relu().backward(torch.tensor(upstream))
    got, want = x.grad.numpy(), tx.grad.numpy()
    np.testing.assert_array_equal(got, want)
    assert np.signbit(got).tolist() == np.signbit(want).tolist()


def test_inplace_on_view_of_leaf_requiring_grad():
    def f(torch):
        x = leaf(torch, [[1.0, 2.0], [3.0, 4.0]])
        v = x[0]
        return attempt(v.mul_, 2), attempt(x.t().add_, 1)

    same(f)


@pytest.mark.parametrize("case", ["select_mul", "slice_add_leaf", "t_sub", "chained",
                                  "zeros_base", "twice", "view_after", "no_grad_data"])
def test_inplace_on_view_rebases_the_base_as_torch(case):
    """An in-place op on a view of a graph tensor gives the base torch's CopySlices."""
    def f(torch):
        x = leaf(torch, [[1.0, 2.0, -1.0], [3.0, 4.0, 0.5]])
        w = leaf(torch, [0.5, -2.0, 1.5])
        a = x * 1
        if case == "select_mul":
            v = a[0]
            v.mul_(w)
        elif case == "slice_add_leaf":
            v = a[:, 1:3]
            v.add_(w[:2])
        elif case == "t_sub":
            v = a.t()
            v.sub_(x.t() * 3)
        elif case == "chained":
            v = a.reshape(6)[1:4]
            v.mul_(w)
        elif case == "zeros_base":
            a = torch.zeros(2, 3)
            v = a[1]
            v.add_(w)
        elif case == "twice":
            v = a[1]
            v.mul_(w)
            v.exp_()
        elif case == "view_after":
            v = a[0]
            v.mul_(2)
            a = a.sin()
        else:
            with torch.no_grad():
                a[0].mul_(2)
            v = a[0]
        out = (a * a).sum() + (v * v).sum()
        out.backward()
        # (v's own grad_fn differs by name: torch replays the view as AsStridedBackward0)
        return a, v.detach(), node_name(a.grad_fn), x.grad, w.grad

    same(f)


def test_saved_tensors_are_visible_on_grad_fn():
    """torch's `grad_fn._saved_self` / `_saved_result` / ..., and the error once freed."""
    def f(torch):
        x = leaf(torch, X3)
        y = x.pow(2)
        z = x.exp()
        m = leaf(torch, M23) @ torch.ones(3, 2)
        seen = (y.grad_fn._saved_self, y.grad_fn._saved_exponent, z.grad_fn._saved_result,
                m.grad_fn._saved_mat2)
        z.sum().backward()
        return seen, attempt(lambda: z.grad_fn._saved_result), \
            attempt(lambda: hasattr(y.grad_fn, "_saved_nothing"))

    same(f)


def test_a_freed_node_lists_and_answers_what_it_saved_as_before():
    """torch's node keeps its `_saved_*` attributes once a backward freed them: dir() lists
    the same names, reading one raises the freed-graph error, any other is no attribute."""
    def f(torch):
        x = leaf(torch, X3)
        outs = [x.sin(), x.exp(), x * x, x.max(), torch.nn.functional.logsigmoid(x)]
        sum(o.sum() for o in outs).backward()
        names = ["_saved_self", "_saved_other", "_saved_result", "_saved_pos_weight"]
        return [([n for n in dir(o.grad_fn) if n.startswith(("_saved", "_raw_saved"))],
                 [attempt(lambda: getattr(o.grad_fn, n)) for n in names]) for o in outs]

    same(f)


def test_a_backward_takes_no_names_of_the_nodes_it_frees(monkeypatch):
    """A backward frees every node it runs: their `_saved_*` names are taken only when asked
    for (a freed node's dir() or attribute), not at each release on the step's path."""
    import distgrad
    from distgrad.autograd import graph as dg_graph

    x = leaf(distgrad, X3)
    outs = [x.sin(), x * x, x.max()]
    taken = []
    real = dg_graph.OpNode._saved_attributes
    monkeypatch.setattr(dg_graph.OpNode, "_saved_attributes",
                        lambda node: taken.append(node.name()) or real(node))
    sum(o.sum() for o in outs).backward()
    assert taken == []
    assert "_saved_self" in dir(outs[0].grad_fn) and taken == ["SinBackward0"]
    dir(outs[0].grad_fn)
    assert taken == ["SinBackward0"]  # (once)


def test_a_saved_output_that_is_not_differentiable_has_no_history():
    # layer_norm's saved mean and rstd (grad_fn._saved_result1, 2): plain tensors, as torch's
    # (their values are compared by the norm tests: distgrad keeps them in float64)
    def f(torch):
        x = leaf(torch, M23)
        node = torch.nn.functional.layer_norm(x, (3,)).grad_fn
        return [(r.requires_grad, r.grad_fn, r.is_leaf, tuple(r.shape))
                for r in (node._saved_result1, node._saved_result2)], \
            attempt(lambda: node._saved_result)

    same(f)


def test_node_metadata_is_kept_with_the_node():
    # grad_fn.metadata["tag"] = ..., read back later (and on a leaf's AccumulateGrad)
    def f(torch):
        x = leaf(torch, X3)
        y = (x * 2).sum()
        y.grad_fn.metadata["tag"] = "loss"
        acc = y.grad_fn.next_functions[0][0].next_functions[0][0]
        acc.metadata["leaf"] = 1
        return (dict(y.grad_fn.metadata), y.grad_fn.metadata is y.grad_fn.metadata,
                dict(acc.metadata))

    same(f)


def test_hooks_that_return_a_wrong_gradient_are_refused_as_torch_does():
    def f(torch):
        def shorter(g):
            return g[:1]

        def wider(g):
            return g.double()

        def run(register):
            a = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
            z = a.exp()
            register(z)
            return attempt(lambda: z.sum().backward())

        return [run(lambda z: z.register_hook(shorter)), run(lambda z: z.register_hook(wider)),
                run(lambda z: z.register_hook(lambda g: 3.0)),
                run(lambda z: z.grad_fn.register_prehook(lambda go: go[0])),
                run(lambda z: z.grad_fn.register_prehook(lambda go: (go[0], go[0]))),
                run(lambda z: z.grad_fn.register_prehook(lambda go: (shorter(go[0]),))),
                run(lambda z: z.grad_fn.register_hook(lambda gi, go: (wider(gi[0]),)))]

    same(f)


def test_addcdiv_refuses_its_changed_tensor1_before_its_tensor2():
    """Both of addcdiv_'s saved tensors changed in place since (as a differentiable
    optimizer's next step changes its moments): torch's node unpacks tensor1 first, and
    names it in its error."""
    def f(torch):
        x = leaf(torch, [1.0, 2.0])
        t1, t2 = x * 1, x * 3
        out = torch.zeros(2).addcdiv_(t1, t2)
        t2.mul_(2)
        t1.mul_(2)
        t1.add_(1)
        return attempt(out.sum().backward)

    same(f)


def test_a_non_leaf_warns_of_its_grad_only_while_none_was_assigned():
    def f(torch):
        h = leaf(torch, [1.0, 2.0]) * 2
        before = h.grad
        h.grad = torch.ones(2)
        return before, h.grad

    same(f)


def test_gradient_of_a_broadcast_operand_is_a_view_made_without_grad():
    """torch's sum_to reduces a broadcast operand's gradient keeping its dims, then views it
    without the leading ones: the gradient autograd.grad returns is that view, made in
    no_grad mode (an in-place write to it under grad mode is refused); a leaf's .grad made
    of it is no view."""
    def f(torch):
        x, b = torch.ones(2, 3), leaf(torch, X3)
        y = b * 2
        g, = torch.autograd.grad((x * y).sum(), y)
        write = attempt(g.sub_, y)
        (x + b).sum().backward()
        return g._is_view(), tuple(g._base.shape), write, b.grad._is_view(), b.grad

    same(f)


def test_hooks_and_custom_functions_see_a_broadcast_operands_gradient_as_a_view():
    """A backward no user code looks into may sum a broadcast gradient without sum_to's
    view; a tensor hook, a node hook or a custom Function's backward still gets the view."""
    def f(torch):
        seen = []

        class Twice(torch.autograd.Function):
            @staticmethod
            def forward(ctx, t):
                return t * 2

            @staticmethod
            def backward(ctx, g):
                seen.append(("function", g._is_view(), tuple(g._base.shape)))
                return g * 2

        x = torch.ones(2, 3)
        b = leaf(torch, X3)
        b.register_hook(lambda g: seen.append(("tensor hook", g._is_view())))
        (x + b).sum().backward()
        c = leaf(torch, X3)
        y = c * 1
        y.grad_fn.register_prehook(lambda gs: seen.append(("prehook", gs[0]._is_view())))
        (x + y).sum().backward()
        d = leaf(torch, X3)
        (x + Twice.apply(d)).sum().backward()
        e = leaf(torch, X3)
        (x + e).sum().backward()
        return seen, b.grad, c.grad, d.grad, e.grad._is_view(), e.grad

    same(f)


@pytest.mark.parametrize("bias_shape", [(5, 1), (1, 300), (5, 300)])
def test_a_broadcast_operands_gradient_adds_in_torchs_order(bias_shape):
    """torch's sum_to is one sum over the leading dims and the size-1 ones together: a leaf's
    .grad from a plain backward has its bits (float32, values of many magnitudes)."""
    rng = np.random.default_rng(7)
    g = (rng.standard_normal((16, 5, 300)) * 10 ** rng.uniform(-3, 3, (16, 5, 300))).astype(
        np.float32)
    b = rng.standard_normal(bias_shape).astype(np.float32)

    def f(torch):
        bias = torch.tensor(b, requires_grad=True)
        (torch.zeros(16, 5, 300) + bias).backward(torch.tensor(g))
        return bias.grad

    same(f, rtol=0, atol=0)


def test_post_accumulate_grad_hook_runs_for_a_leaf_that_stopped_requiring_grad():
    """A leaf detached (or requires_grad_(False)) after it was used: backward reaches its
    AccumulateGrad, which stores nothing but runs its post-accumulate hooks, as torch's."""
    def f(torch):
        seen = []
        for stop in ("detach_", "requires_grad_"):
            x = leaf(torch, X3)
            x.register_post_accumulate_grad_hook(lambda p: seen.append((p.grad, p.requires_grad)))
            y = (x * x).sum()
            x.detach_() if stop == "detach_" else x.requires_grad_(False)
            y.backward()
            seen.append(x.grad)
        return seen

    same(f)
