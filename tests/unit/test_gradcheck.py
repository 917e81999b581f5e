"""gradcheck and gradgradcheck against torch's: the same functions pass, the same wrong
backwards fail with GradcheckError (a RuntimeError) and torch's message, and the same
warnings are given (see torch_twin)."""

import numpy as np
import pytest

from torch_twin import attempt, same
from test_function import cube_function

RNG = np.random.default_rng(1)
A23 = RNG.standard_normal((2, 3)).tolist()
B3 = RNG.standard_normal(3).tolist()
MISMATCH = len("Jacobian mismatch for output 0 with respect to input 0,\nnumerical:")


def leaf(torch, values, dtype=None):
    return torch.tensor(values, dtype=dtype or torch.float64, requires_grad=True)


def wrong_exp(torch):
    """exp whose backward multiplies by the input instead of the result."""

    class WrongExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.exp()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x

    return WrongExp


def square_once(torch):
    """x**2 whose backward is right but not differentiable (uses a detached input)."""

    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * g * x.detach()

    return Square


cube = cube_function  # x**3 with a differentiable backward (shared with test_function)


# ---- correct functions pass --------------------------------------------------------------

@pytest.mark.parametrize("case", ["unary", "binary", "two_outputs", "reductions", "custom",
                                  "non_tensor_arg"])
def test_gradcheck_passes_on_correct_functions(case):
    def f(torch):
        gc = torch.autograd.gradcheck
        x, y = leaf(torch, A23), leaf(torch, B3)
        if case == "unary":
            return gc(lambda a: a.sin() * a.exp(), (x,))
        if case == "binary":
            return gc(lambda a, b: a * b / (1 + b * b), (x, y))
        if case == "two_outputs":
            return gc(lambda a, b: (a.tanh() @ b, (a * a).sum(dim=0) - b), (x, y))
        if case == "reductions":
            return gc(lambda a: (a.softmax(dim=1), a.logsumexp(dim=0), a.mean()), x)
        if case == "custom":
            return gc(cube(torch).apply, (y,))
        return gc(lambda a, k: a * k, (x, 3.0))

    same(f)


def test_gradcheck_with_an_input_not_requiring_grad():
    def f(torch):
        const = torch.tensor(B3, dtype=torch.float64)
        return torch.autograd.gradcheck(lambda a, c: a * c, (leaf(torch, B3), const))

    same(f)


def test_gradcheck_without_differentiable_outputs():
    def f(torch):
        return torch.autograd.gradcheck(lambda a: a.argmax(), (leaf(torch, B3),))

    same(f)


# ---- wrong backwards fail ----------------------------------------------------------------

def test_gradcheck_fails_on_a_wrong_backward():
    def f(torch):
        x = leaf(torch, B3)
        WrongExp = wrong_exp(torch)
        return (attempt(torch.autograd.gradcheck, WrongExp.apply, (x,)),
                torch.autograd.gradcheck(WrongExp.apply, (x,), raise_exception=False))

    same(f)


def test_gradcheck_error_is_a_runtime_error_named_like_torch():
    import torch
    from torch.autograd.gradcheck import GradcheckError as TorchGradcheckError

    import distgrad
    from distgrad.autograd.gradcheck import GradcheckError

    for mod, err in ((torch, TorchGradcheckError), (distgrad, GradcheckError)):
        with pytest.raises(err):
            mod.autograd.gradcheck(wrong_exp(mod).apply, (leaf(mod, B3),))
    assert [c.__name__ for c in GradcheckError.__mro__] == \
        [c.__name__ for c in TorchGradcheckError.__mro__]


def test_gradcheck_names_the_failing_output_and_input():
    def f(torch):
        WrongExp = wrong_exp(torch)
        x, y = leaf(torch, A23), leaf(torch, B3)
        return attempt(torch.autograd.gradcheck,
                       lambda a, b: (a.sin(), a.sum() * WrongExp.apply(b)), (x, y))

    same(f)


def test_gradcheck_atol_rtol_decide():
    def f(torch):
        class Off(torch.autograd.Function):
            """2x with a backward that is off by 1e-4 relative."""

            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2.0002

        x = leaf(torch, B3)
        gc = torch.autograd.gradcheck
        return (gc(Off.apply, (x,), raise_exception=False),
                gc(Off.apply, (x,), rtol=1e-3, atol=0.0, raise_exception=False),
                gc(Off.apply, (x,), rtol=1e-5, atol=1e-5, raise_exception=False))

    same(f)


def test_gradcheck_backward_not_multiplied_by_grad_output():
    def f(torch):
        class Sneaky(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                if g.abs().sum() > 0:
                    return g * 2
                return torch.ones_like(g)

        return attempt(torch.autograd.gradcheck, Sneaky.apply, (leaf(torch, B3),))

    same(f)


def test_gradcheck_nondeterministic_backward():
    def f(torch):
        calls = [0]

        class Noisy(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                calls[0] += 1
                return g * (2 + 1e-9 * calls[0])

        x = leaf(torch, B3)
        gc = torch.autograd.gradcheck
        return (attempt(gc, Noisy.apply, (x,)),
                gc(Noisy.apply, (x,), nondet_tol=1e-6))

    same(f, prefix=len("Backward is not reentrant"))


# ---- arguments -----------------------------------------------------------------------------

def test_gradcheck_warns_on_single_precision():
    def f(torch):
        x = leaf(torch, B3, dtype=torch.float32)
        return torch.autograd.gradcheck(lambda a: a * 2, (x,), eps=1e-3, atol=1e-2, rtol=1e-2)

    same(f)


def test_gradcheck_single_precision_with_default_eps_fails_like_torch():
    def f(torch):
        x = leaf(torch, [0.3, -1.7], dtype=torch.float32)
        return torch.autograd.gradcheck(lambda a: a * 2, (x,), raise_exception=False)

    same(f)


def test_gradcheck_needs_an_input_requiring_grad():
    def f(torch):
        x = torch.tensor(B3, dtype=torch.float64)
        return attempt(torch.autograd.gradcheck, lambda a: a * 2, (x,))

    same(f)


def test_gradcheck_leaves_inputs_and_their_graphs_intact():
    def f(torch):
        x = leaf(torch, B3)
        before = x.detach().clone()
        y = x.exp()
        assert torch.autograd.gradcheck(lambda a: a.exp(), (x,))
        y.sum().backward()  # the graph recorded before gradcheck still works
        return x, before, x.grad

    same(f)


def test_gradcheck_is_callable_after_importing_its_module():
    import importlib

    import distgrad

    mod = importlib.import_module("distgrad.autograd.gradcheck")
    x = leaf(distgrad, B3)
    assert distgrad.autograd.gradcheck(lambda a: a * a, (x,)) is True
    assert mod.gradcheck(lambda a: a * a, (x,)) is True
    assert distgrad.autograd.gradgradcheck(lambda a: a * a * a, (x,)) is True


# ---- gradgradcheck -----------------------------------------------------------------------

@pytest.mark.parametrize("case", ["ops", "custom", "two_inputs"])
def test_gradgradcheck_passes(case):
    def f(torch):
        x, y = leaf(torch, A23), leaf(torch, B3)
        ggc = torch.autograd.gradgradcheck
        if case == "ops":
            return ggc(lambda a: (a.sin() * a).sum(dim=1), (x,))
        if case == "custom":
            return ggc(cube(torch).apply, (y,))
        return ggc(lambda a, b: a.tanh() * b, (x, y))

    same(f)


def test_gradgradcheck_with_given_grad_outputs():
    def f(torch):
        x = leaf(torch, B3)
        go = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
        return torch.autograd.gradgradcheck(lambda a: a.exp() * a, (x,), (go,))

    same(f)


def test_gradgradcheck_fails_on_a_backward_that_is_not_differentiable():
    def f(torch):
        Square = square_once(torch)
        x = leaf(torch, B3)
        ok = torch.autograd.gradcheck(Square.apply, (x,))
        return ok, attempt(torch.autograd.gradgradcheck, Square.apply, (x,))

    same(f, prefix=MISMATCH)
