"""autograd.functional (vjp, jvp, jacobian, hessian, vhp, hvp) against
torch.autograd.functional: each scenario runs under both `torch` and `distgrad` (see
torch_twin) and compares the returned structures, values, requires_grad and errors."""

import numpy as np
import pytest

from torch_twin import attempt, same

RNG = np.random.default_rng(0)
A23 = RNG.standard_normal((2, 3)).tolist()
B3 = RNG.standard_normal(3).tolist()
C4 = RNG.standard_normal(4).tolist()


def t(torch, values, requires_grad=False):
    return torch.tensor(values, dtype=torch.float64, requires_grad=requires_grad)


def F(torch):
    return torch.autograd.functional


# Functions written once, for either module.
def exp_rows(x):
    return x.exp().sum(dim=1)


def two_in_two_out(x, y):
    return x * y.sin(), (x ** 2).sum() + y.tanh().sum()


def scalar_two_in(x, y):
    return (x.tanh() * y).sum() + (x ** 3).sum() * y.sum()


def cubic(x):
    return (x ** 3).sum()


def linear(x):
    return 2 * x + 1


# ---- vjp ---------------------------------------------------------------------------------

def test_vjp_single_input_and_output():
    same(lambda torch: F(torch).vjp(exp_rows, t(torch, A23), t(torch, [1.0, -2.0])))


def test_vjp_tuples():
    def f(torch):
        v = (t(torch, np.ones((2, 3)).tolist()), t(torch, 0.5))
        return F(torch).vjp(two_in_two_out, (t(torch, A23), t(torch, B3)), v)

    same(f)


def test_vjp_scalar_output_without_v():
    same(lambda torch: F(torch).vjp(cubic, t(torch, B3)))


def test_vjp_create_graph():
    def f(torch):
        x = t(torch, B3, requires_grad=True)
        out, g = F(torch).vjp(cubic, x, create_graph=True)
        (gg,) = torch.autograd.grad(g.sum(), x)
        return out.requires_grad, g.requires_grad, g, gg

    same(f)


def test_vjp_input_not_used_gives_zeros_or_raises_when_strict():
    def f(torch):
        fn = lambda x, y: x * 2
        inputs = (t(torch, B3), t(torch, B3))
        v = t(torch, [1.0, 1.0, 1.0])
        return F(torch).vjp(fn, inputs, v), attempt(F(torch).vjp, fn, inputs, v, strict=True)

    same(f)


def test_vjp_errors():
    def f(torch):
        x = t(torch, A23)
        return (attempt(F(torch).vjp, exp_rows, x),
                attempt(F(torch).vjp, exp_rows, x, t(torch, [1.0, 2.0, 3.0])),
                attempt(F(torch).vjp, exp_rows, [1.0, 2.0]),
                attempt(F(torch).vjp, lambda x: t(torch, 1.0), x, strict=True))

    same(f)


# ---- jvp ---------------------------------------------------------------------------------

def test_jvp_single():
    same(lambda torch: F(torch).jvp(exp_rows, t(torch, A23), t(torch, np.ones((2, 3)).tolist())))


def test_jvp_tuples():
    def f(torch):
        v = (t(torch, np.full((2, 3), 0.5).tolist()), t(torch, [1.0, -1.0, 2.0]))
        return F(torch).jvp(two_in_two_out, (t(torch, A23), t(torch, B3)), v)

    same(f)


def test_jvp_linear_function_and_create_graph():
    def f(torch):
        x = t(torch, B3, requires_grad=True)
        out, j = F(torch).jvp(lambda x: x.sin() * x, x, t(torch, [1.0, 0.0, 2.0]),
                              create_graph=True)
        (g,) = torch.autograd.grad(j.sum(), x)
        return F(torch).jvp(linear, t(torch, B3), t(torch, C4[:3])), j.requires_grad, j, g

    same(f)


def test_jvp_errors():
    def f(torch):
        x = t(torch, A23)
        return (attempt(F(torch).jvp, exp_rows, x),
                attempt(F(torch).jvp, exp_rows, x, t(torch, [1.0, 2.0])),
                attempt(F(torch).jvp, two_in_two_out, (x, t(torch, B3)), (x,)))

    same(f)


# ---- jacobian ----------------------------------------------------------------------------

def test_jacobian_single():
    same(lambda torch: F(torch).jacobian(exp_rows, t(torch, A23)))


def test_jacobian_tuple_inputs_and_outputs():
    same(lambda torch: F(torch).jacobian(two_in_two_out, (t(torch, A23), t(torch, B3))))


def test_jacobian_tuple_inputs_single_output():
    same(lambda torch: F(torch).jacobian(scalar_two_in, (t(torch, A23), t(torch, B3))))


def test_jacobian_single_input_tuple_output():
    same(lambda torch: F(torch).jacobian(lambda x: (x.exp(), x.sum()), t(torch, B3)))


def test_jacobian_matmul():
    def f(torch):
        W = t(torch, [[2.0, -1.0], [0.0, 1.0]])
        b = t(torch, [1.0, 0.5])
        x = t(torch, RNG.standard_normal((4, 2)).tolist())
        return F(torch).jacobian(lambda x: x @ W.T + b, x)

    same(f)


def test_jacobian_create_graph():
    def f(torch):
        x = t(torch, B3, requires_grad=True)
        j = F(torch).jacobian(lambda x: x.exp() * x, x, create_graph=True)
        (g,) = torch.autograd.grad(j.sum(), x)
        return j, j.requires_grad, g

    same(f)


def test_jacobian_unused_input_and_strict():
    def f(torch):
        fn = lambda x, y: x.exp()
        inputs = (t(torch, B3), t(torch, C4))
        return (F(torch).jacobian(fn, inputs), attempt(F(torch).jacobian, fn, inputs, strict=True),
                attempt(F(torch).jacobian, lambda x: t(torch, B3), t(torch, B3), strict=True))

    same(f)


def test_jacobian_vectorize_gives_the_same_values():
    same(lambda torch: F(torch).jacobian(two_in_two_out, (t(torch, A23), t(torch, B3)),
                                         vectorize=True))


def test_vectorized_jacobian_with_a_graph_is_views_of_a_split():
    """torch's vectorized jacobian splits one tensor of rows per input by output and views
    each part: with create_graph, a part (or a view of it) whose tensor was written under
    no_grad has a history torch refuses to read (is_leaf, grad_fn), naming its own node."""
    def f(torch):
        x = t(torch, B3, requires_grad=True)
        jac = F(torch).jacobian(two_in_two_out, (t(torch, A23), x), create_graph=True,
                                vectorize=True)
        part = jac[0][1]
        row = part[0]
        with torch.no_grad():
            part.mul_(2)
        return (jac[0][0], jac[1][0], attempt(lambda: part.is_leaf),
                attempt(lambda: row.grad_fn), row.requires_grad,
                attempt(lambda: jac[1][1].grad_fn))

    same(f)


@pytest.mark.parametrize("create_graph", [False, True])
def test_vectorized_jacobian_blocks_are_laid_out_as_torchs(create_graph):
    """jacobian(vectorize=True) makes each block a view of one split batch: with
    create_graph a write into it (or the Hessian's) is refused, as a multi-output view; an
    input no output uses gets expanded zeros, which refuse writes too (they took them;
    program fuzzer, seed 22696114)."""
    def f(torch):
        x = t(torch, B3, requires_grad=True)
        y = t(torch, C4[:2], requires_grad=True)
        jac = F(torch).jacobian(lambda a, b: (a.sin() * 2, a[:2] * 3), (x, y),
                                create_graph=create_graph, vectorize=True)
        hess = F(torch).hessian(cubic, x, create_graph=create_graph, vectorize=True)
        writes = [attempt(lambda j=j: j.mul_(2)) for j in (jac[0][0], jac[1][0], jac[0][1], hess)]
        return [j.stride() for row in jac for j in row], writes

    same(f)


# ---- hessian, vhp, hvp -------------------------------------------------------------------

def test_hessian_single():
    same(lambda torch: F(torch).hessian(cubic, t(torch, A23)))


def test_hessian_tuple_inputs():
    same(lambda torch: F(torch).hessian(scalar_two_in, (t(torch, A23), t(torch, B3))))


def test_hessian_create_graph():
    def f(torch):
        x = t(torch, B3, requires_grad=True)
        h = F(torch).hessian(cubic, x, create_graph=True)
        (g,) = torch.autograd.grad(h.sum(), x)
        return h, h.requires_grad, g

    same(f)


def test_hessian_errors():
    def f(torch):
        x = t(torch, B3)
        return (attempt(F(torch).hessian, lambda x: x * 2, x),
                attempt(F(torch).hessian, lambda x: (x.sum(), x.sum()), x),
                attempt(F(torch).hessian, lambda x: x.sum() * 2, x, strict=True),
                F(torch).hessian(lambda x: x.sum() * 2, x))

    same(f)


@pytest.mark.parametrize("name", ["vhp", "hvp"])
def test_vhp_hvp(name):
    def f(torch):
        fn = getattr(F(torch), name)
        v = (t(torch, np.full((2, 3), 0.5).tolist()), t(torch, [1.0, -1.0, 2.0]))
        single = fn(cubic, t(torch, B3), t(torch, C4[:3]))
        return fn(scalar_two_in, (t(torch, A23), t(torch, B3)), v), single

    same(f)


def test_functional_with_a_custom_function():
    def f(torch):
        class Cube(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 3 * g * x ** 2

        x = t(torch, B3)
        return (F(torch).jacobian(Cube.apply, x),
                F(torch).hessian(lambda x: Cube.apply(x).sum(), x),
                F(torch).jvp(Cube.apply, x, t(torch, [1.0, 2.0, 3.0])))

    same(f)


def test_forward_mode_jacobian_refusals_come_in_torchs_order():
    def f(torch):
        from importlib import import_module
        fn = import_module(f"{torch.__name__}.autograd.functional")
        x = torch.tensor([1.0, -2.0])
        double = lambda t: t * 2  # noqa: E731
        return [attempt(fn.jacobian, double, x, strategy="forward-mode"),
                attempt(fn.jacobian, double, x, strategy="forward-mode", strict=True),
                attempt(fn.jacobian, double, 3, strategy="forward-mode"),
                attempt(fn.hessian, lambda t: t.sum(), x, outer_jacobian_strategy="forward-mode")]

    same(f)


def test_forward_mode_jacobian_and_hessian_values():
    """jacobian(strategy="forward-mode", vectorize=True) and hessian's forward-mode outer
    Jacobian (forward-over-reverse) give torch's values (they raised NotImplementedError)."""
    def f(torch):
        fn = F(torch)
        x = torch.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype=torch.float64)
        y = torch.tensor([0.5, -0.25, 2.0], dtype=torch.float64)

        def two(a, b):
            return a @ b, (a * b).exp()

        def scalar(a):
            return (a.exp() * a).sum()

        return (fn.jacobian(lambda a: (a.sin() * a).sum(0), x, vectorize=True,
                            strategy="forward-mode"),
                fn.jacobian(two, (x, y), vectorize=True, strategy="forward-mode"),
                # (torch's forward-over-reverse Hessian keeps a graph: values compared)
                fn.hessian(scalar, x, vectorize=True,
                           outer_jacobian_strategy="forward-mode").detach())

    same(f)


def test_forward_mode_jacobian_keeps_the_graph_of_inputs_that_require_grad():
    """torch's forward-mode jacobian does not detach its inputs: a tangent that reads an
    input which requires grad (exp's, sin's) carries a graph, so the Jacobian requires grad
    and a backward through it reaches the input; one that does not (a slice's) does not."""
    def f(torch):
        fn = F(torch)
        x = t(torch, A23, requires_grad=True)
        y = t(torch, [0.5, -1.5], requires_grad=True)
        jac = fn.jacobian(lambda a, b: ((a.exp() * a).sum(0), a[0, :2] + b, b.sin()), (x, y),
                          vectorize=True, strategy="forward-mode")
        flags = [[(j.requires_grad, j.is_leaf) for j in row] for row in jac]
        (jac[0][0].sum() + jac[2][1].pow(2).sum()).backward()
        return flags, jac[0][0].detach(), jac[1][1], x.grad, y.grad

    same(f)
