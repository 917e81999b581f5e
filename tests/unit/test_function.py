"""Custom `autograd.Function`s against real torch: each scenario defines the same Function
with `torch.autograd.Function` and runs under both `torch` and `distgrad` (see torch_twin),
comparing values, gradients, grad_fn names, graph structure, what the user's code saw, and
errors."""

import subprocess
import sys

import pytest

from torch_twin import Recorder, attempt, graph, node_name, same

X3 = [0.5, -1.25, 2.0]
Y3 = [1.5, 0.25, -0.75]
INPLACE_PREFIX = len("one of the variables needed for gradient computation has been modified by "
                     "an inplace operation")


def version_of(t) -> int:
    """The in-place version counter (an int in torch, a shared counter object here)."""
    v = t._version
    return int(getattr(v, "value", v))


def leaf(torch, values=X3, dtype=None):
    return torch.tensor(values, dtype=dtype or torch.float64, requires_grad=True)


def identity_function(torch):
    class Identity(torch.autograd.Function):  # returns its input as it is
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    return Identity


def exp_function(torch):
    class Exp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, i):
            result = i.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_output):
            (result,) = ctx.saved_tensors
            return grad_output * result

    return Exp


def cube_function(torch):
    """x**3 with a differentiable backward that reads the saved input."""

    class Cube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * g * x * x

    return Cube


def mul_two_in_place(torch, saving=False):
    """x *= 2 in place, marked dirty; `saving`: x saved too, its backward's g * 2 + x * x."""

    class MulTwoInplace(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            if saving:
                ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            if saving:
                x, = ctx.saved_tensors
                return g * 2 + x * x
            return g * 2

    return MulTwoInplace


def add_one_in_place(torch):
    """x += 1 in place, marked dirty."""

    class Inplace(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    return Inplace


# ---- the basic contract ----------------------------------------------------------------

def test_a_view_whose_base_came_to_require_grad_is_a_differentiable_input():
    # v = x.detach().reshape(3, 2); then the base takes x's history in place: v requires
    # grad, as an input to a Function too (differential fuzzer seed 7037838).
    def f(torch):
        Exp = exp_function(torch)
        x = torch.tensor([[0.7, -1.1, 1.68], [1.09, -1.08, 0.96]], dtype=torch.float64,
                         requires_grad=True)
        base = x.detach()
        v = base.reshape(3, 2)
        base.sub_(x * 2)
        y = Exp.apply(v)
        y.register_hook(lambda g: g * 3)
        y.sum().backward()
        return y, y.requires_grad, node_name(y.grad_fn), x.grad

    same(f)


def test_forward_writing_an_unmarked_view_input_keeps_its_edge_from_before():
    """forward writes its input, an output of unbind, in place without mark_dirty: torch
    collects the input's edge before forward runs, so the write (under no_grad) breaks
    nothing, as the reentrant checkpoint of `u.sin_() * 2` shows. (fuzzer seed 22606831)"""
    def f(torch):
        class SinTwice(torch.autograd.Function):
            @staticmethod
            def forward(ctx, u):
                return u.sin_() * 2

            @staticmethod
            def backward(ctx, g):
                return g * 3

        x = leaf(torch)
        y = SinTwice.apply((x * 1).unbind(0)[1])
        z = torch.utils.checkpoint.checkpoint(lambda u: u.sin_() * 2, (x * 1).unbind(0)[2],
                                              use_reentrant=True)
        (y + z).backward()
        return y, z, node_name(y.grad_fn), x.grad

    same(f)


def test_a_saved_input_written_as_an_output_of_split_raises_when_unpacked():
    """forward saves its input, an output of split, then writes it in place: torch saves it
    as an input without reading its history, and raises its error about multi-output
    views when backward unpacks it (a reentrant checkpoint saves its inputs so). (fuzzer
    seed 22598687)"""
    def f(torch):
        class SaveThenSin(torch.autograd.Function):
            @staticmethod
            def forward(ctx, u):
                ctx.save_for_backward(u)
                return u.sin_() * 2

            @staticmethod
            def backward(ctx, g):
                u, = ctx.saved_tensors
                return g * u

        x = leaf(torch)
        y = SaveThenSin.apply((x * 1).split(1, 0)[1])
        z = torch.utils.checkpoint.checkpoint(lambda u: u.sin_() * 2, (x * 1).split(1, 0)[2],
                                              use_reentrant=True)
        return y, z, attempt(lambda: y.sum().backward()), attempt(lambda: z.sum().backward())

    same(f)


def test_exp_with_saved_result():
    def f(torch):
        Exp = exp_function(torch)
        x = leaf(torch)
        y = Exp.apply(x)
        name = type(y.grad_fn).__name__
        y.sum().backward()
        return y, x.grad, name, graph(y), y.grad_fn.name(), y.is_leaf

    same(f)


def test_forward_runs_without_grad_and_backward_sees_engine_mode():
    def f(torch):
        rec = Recorder()

        class Probe(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                rec("forward", torch.is_grad_enabled())
                return x * 2

            @staticmethod
            def backward(ctx, g):
                rec("backward", torch.is_grad_enabled())
                return g * 2

        x = leaf(torch)
        Probe.apply(x).sum().backward()
        (g,) = torch.autograd.grad(Probe.apply(x).sum(), x, create_graph=True)
        return rec, x.grad, g

    same(f)


def test_multiple_inputs_and_outputs():
    def f(torch):
        rec = Recorder()

        class MulAdd(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                ctx.save_for_backward(x, y)
                return x * y, x + y

            @staticmethod
            def backward(ctx, g_prod, g_sum):
                rec("grads", g_prod, g_sum)
                x, y = ctx.saved_tensors
                return g_prod * y + g_sum, g_prod * x + g_sum

        x, y = leaf(torch), leaf(torch, Y3)
        p, s = MulAdd.apply(x, y)
        out = (p * 3 + s * s).sum()
        out.backward()
        return p, s, p.output_nr, s.output_nr, x.grad, y.grad, graph(p), rec

    same(f)


def test_only_one_of_two_outputs_used_gets_zeros_for_the_other():
    def f(torch):
        rec = Recorder()

        class Two(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.clone(), x * 2

            @staticmethod
            def backward(ctx, g1, g2):
                rec(g1, g2)
                return g1 + 2 * g2

        x = leaf(torch)
        a, b = Two.apply(x)
        a.sum().backward()
        return rec, x.grad

    same(f)


def test_set_materialize_grads_false_passes_none():
    def f(torch):
        rec = Recorder()

        class Two(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x.clone(), x.clone()

            @staticmethod
            def backward(ctx, g1, g2):
                rec(g1, g2)
                return g1 if g1 is not None else g2

        x = leaf(torch)
        a, b = Two.apply(x)
        a.sum().backward()
        return rec, x.grad

    same(f)


def test_non_tensor_args_and_ctx_attributes():
    def f(torch):
        class Scale(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, k, mode):
                ctx.k = k
                ctx.mode = mode
                return x * k if mode == "mul" else x + k

            @staticmethod
            def backward(ctx, g):
                return (g * ctx.k if ctx.mode == "mul" else g), None, None

        x = leaf(torch)
        y = Scale.apply(x, 3.0, "mul")
        y.sum().backward()
        z = Scale.apply(x, 1.0, "add")
        return y, z, x.grad, graph(y), y.grad_fn.k, y.grad_fn.needs_input_grad

    same(f)


def test_keyword_arguments_to_apply():
    def f(torch):
        class Scale(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, k=2.0):
                ctx.k = k
                return x * k

            @staticmethod
            def backward(ctx, g):
                return g * ctx.k, None

        x = leaf(torch)
        y = Scale.apply(x, k=5.0)
        y.sum().backward()
        return y, x.grad, Scale.apply(x)

    same(f)


def test_keyword_arguments_become_inputs_by_forwards_parameter_names():
    def f(torch):
        seen = []

        class Mul(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, y=None, s=2.0, *, k=1):
                seen.append(ctx.needs_input_grad)
                return x * y * s

            @staticmethod
            def backward(ctx, g):
                seen.append(ctx.needs_input_grad)
                return g, g * 2, None

        x, y = leaf(torch), leaf(torch) * 1
        out = Mul.apply(x, s=3.0, y=y)
        out.sum().backward()
        errors = [attempt(Mul.apply, x, s=3.0), attempt(Mul.apply, x, y, k=2),
                  attempt(Mul.apply, x, y, y=y), attempt(Mul.apply, x, zz=1)]
        return seen, out, graph(out), x.grad, errors

    same(f)


def test_needs_input_grad():
    def f(torch):
        rec = Recorder()

        class Mul(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a, b, c):
                rec("forward", ctx.needs_input_grad)
                ctx.save_for_backward(a, b)
                return a * b * c

            @staticmethod
            def backward(ctx, g):
                rec("backward", ctx.needs_input_grad)
                a, b = ctx.saved_tensors
                ga = g * b * 2 if ctx.needs_input_grad[0] else None
                gb = g * a * 2 if ctx.needs_input_grad[1] else None
                return ga, gb, None

        x = leaf(torch)
        const = torch.tensor(Y3, dtype=torch.float64)
        y = Mul.apply(x, const, 2)
        y.sum().backward()
        z = Mul.apply(const, x, 2)
        with torch.no_grad():
            w = Mul.apply(x, const, 2)
        return rec, x.grad, graph(y), graph(z), w.requires_grad, w.grad_fn is None

    same(f)


def test_returning_none_for_an_input_that_requires_grad():
    def f(torch):
        class FirstOnly(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x + y

            @staticmethod
            def backward(ctx, g):
                return g, None

        x, y = leaf(torch), leaf(torch, Y3)
        FirstOnly.apply(x, y).sum().backward()
        return x.grad, y.grad

    same(f)


def test_extra_trailing_none_grads_are_allowed():
    def f(torch):
        class Double(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2, None, None

        x = leaf(torch)
        Double.apply(x).sum().backward()
        return x.grad

    same(f)


def test_apply_without_inputs_requiring_grad():
    def f(torch):
        Exp = exp_function(torch)
        x = torch.tensor(X3, dtype=torch.float64)
        y = Exp.apply(x)
        with torch.no_grad():
            z = Exp.apply(leaf(torch))
        return y, y.grad_fn is None, z, z.grad_fn is None

    same(f)


def test_returning_an_input_gives_a_new_tensor():
    def f(torch):
        Identity = identity_function(torch)
        x = leaf(torch)
        y = Identity.apply(x)
        is_same = y is x
        y.sum().backward()
        return y, is_same, x.grad, graph(y), x.is_leaf, x.grad_fn is None

    same(f)


def test_an_input_returned_under_no_grad_comes_back_detached():
    """Nothing recorded: an input that requires grad comes back as its detach() (not a view,
    not requiring grad, sharing its version counter); one that does not, as a view of it."""
    def f(torch):
        Identity = identity_function(torch)
        x = leaf(torch)
        seen = []
        for a in (x, x[1:], x.detach()):
            with torch.no_grad():
                y = Identity.apply(a)
            seen.append((y.requires_grad, y._is_view(), y._base is a, y.is_leaf))
        y.mul_(2)
        with torch.no_grad():
            z = Identity.apply(x)
        z.add_(1)
        return seen, version_of(x), x

    same(f)


def test_an_input_needing_no_grad_returned_is_a_view_unusable_after_a_write_with_grad():
    """An input that needs no grad, returned as it is, comes back a view the Function made
    under no_grad: once it or its base is written with grad mode on by a value that needs
    grad, torch refuses it (its history, a use); a write with no gradient leaves it usable.
    (fuzzer seed 22650263)"""
    def f(torch):
        Identity = identity_function(torch)
        x = leaf(torch)
        seen = []
        writes = (lambda base, y: base.mul_(x), lambda base, y: y.mul_(x),
                  lambda base, y: base.mul_(2))
        for write in writes:
            base = torch.tensor([0.5, 1.5, -2.0], dtype=torch.float64)
            y = Identity.apply(base)
            seen.append((y._is_view(), attempt(write, base, y),
                         attempt(lambda: node_name(y.grad_fn)), attempt(lambda: y * 1)))
        return seen

    same(f)


def test_setup_context_style():
    def f(torch):
        rec = Recorder()

        class Scale(torch.autograd.Function):
            @staticmethod
            def forward(x, k=2.0):
                rec("forward", torch.is_grad_enabled())
                return x * k

            @staticmethod
            def setup_context(ctx, inputs, output):
                x, k = inputs
                rec("setup", k, output.requires_grad)
                ctx.save_for_backward(x, output)
                ctx.k = k

            @staticmethod
            def backward(ctx, g):
                x, out = ctx.saved_tensors
                rec("backward", out.grad_fn is not None)
                return g * ctx.k, None

        x = leaf(torch)
        y = Scale.apply(x)
        y.sum().backward()
        z = Scale.apply(x, k=5.0)
        return y, z, x.grad, rec, type(y.grad_fn).__name__

    same(f)


def test_backward_hooks_on_the_node():
    def f(torch):
        rec = Recorder()
        Exp = exp_function(torch)
        x = leaf(torch)
        y = Exp.apply(x)
        y.grad_fn.register_hook(lambda gi, go: rec("hook", gi, go))
        y.grad_fn.register_prehook(lambda go: rec("pre", go))
        y.register_hook(lambda g: rec("tensor", g))
        (y * 2).sum().backward()
        return rec, x.grad

    same(f)


def test_custom_function_inside_a_larger_graph():
    def f(torch):
        class MyReLU(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.clamp(min=0)

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                mask = (x > 0).to(g.dtype)
                return g * mask

        w = torch.tensor([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]], dtype=torch.float64,
                         requires_grad=True)
        x = torch.tensor([[1.0, 2.0], [-0.5, 0.3], [2.0, -1.0]], dtype=torch.float64)
        h = MyReLU.apply(x @ w)
        loss = (h.tanh() * h).mean()
        loss.backward()
        return loss, w.grad, graph(loss)

    same(f)


# ---- outputs that are not differentiable -----------------------------------------------

def test_mark_non_differentiable():
    def f(torch):
        rec = Recorder()

        class MaxIdx(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                idx = x.argmax()
                v = x.max()
                doubled = x * 2
                ctx.mark_non_differentiable(doubled)
                ctx.save_for_backward(x, idx)
                return v, idx, doubled

            @staticmethod
            def backward(ctx, g_v, g_idx, g_doubled):
                rec(g_v, g_idx, g_doubled)
                x, idx = ctx.saved_tensors
                grad = torch.zeros_like(x)
                grad[idx] = g_v
                return grad

        x = leaf(torch)
        v, idx, doubled = MaxIdx.apply(x)
        v.backward()
        return (v, idx, doubled, doubled.grad_fn is None, idx.requires_grad, x.grad, rec)

    same(f)


def test_non_tensor_outputs_pass_through_and_get_none():
    def f(torch):
        rec = Recorder()

        class WithCount(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, 3, "tag"

            @staticmethod
            def backward(ctx, g, g_count, g_tag):
                rec(g, g_count, g_tag)
                return g * 2

        x = leaf(torch)
        y, n, tag = WithCount.apply(x)
        y.sum().backward()
        return y, n, tag, rec, x.grad

    same(f)


def test_single_output_in_a_tuple_stays_a_tuple():
    def f(torch):
        class One(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return (x * 2,)

            @staticmethod
            def backward(ctx, g):
                return g * 2

        out = One.apply(leaf(torch))
        return type(out).__name__, len(out), out[0]

    same(f)


# ---- in-place forwards -------------------------------------------------------------------

def test_mark_dirty_on_a_non_leaf():
    def f(torch):
        x = leaf(torch)
        a = x * 1
        b = mul_two_in_place(torch).apply(a)
        is_same = b is a
        version = version_of(a)
        b.sum().backward()
        return b, is_same, version, a.grad_fn.name(), x.grad

    same(f)


def test_a_retained_grad_follows_an_input_marked_dirty():
    """retain_grad, then a custom in-place Function: the retained grad is the gradient of
    the tensor's new version, as after a built-in in-place op."""
    def f(torch):
        x = leaf(torch)
        a = (x * 1).clone()
        a.retain_grad()
        mul_two_in_place(torch).apply(a)
        (a * a).sum().backward()
        return a.grad, x.grad, a.retains_grad

    same(f)


@pytest.mark.parametrize("view", [False, True])
def test_an_input_marked_dirty_drops_the_grad_it_retained(view):
    """torch resets the .grad a tensor retained when a Function marks it dirty (a built-in
    in-place op keeps it); the next backward fills it anew (fuzzer seed 22113581)."""
    def f(torch):
        x = leaf(torch)
        base = x * 3
        a = base[1:] if view else base
        a.retain_grad()
        (a * 1).sum().backward(retain_graph=True)
        before = a.grad.clone()
        mul_two_in_place(torch).apply(a)
        after_write = a.grad
        (a * a).sum().backward()
        return before, after_write, a.grad, x.grad

    same(f)


def test_a_view_marked_dirty_keeps_its_history_from_before_as_the_nodes_edge():
    """A Function writes a view (its hooked history) in place and saves it: the base's
    CopySlices takes the gradient of the view's part, while the node's own edge stays the
    view's history from before forward, which a second-order gradient through the saved
    output reaches (its hooks fire then)."""
    def f(torch):
        rec = Recorder()
        x = leaf(torch)
        base = x * 1
        view = base[::2].unsqueeze(0)
        view.register_hook(lambda g: rec("view", g))
        mul_two_in_place(torch, saving=True).apply(view)
        (g,) = torch.autograd.grad((base * base).sum(), [x], create_graph=True)
        rec("first order done")
        (g2,) = torch.autograd.grad((g * g).sum(), [x])
        return g, g2, rec

    same(f)


def test_mark_dirty_on_a_leaf_that_requires_grad_raises():
    def f(torch):
        Inplace = add_one_in_place(torch)
        return attempt(Inplace.apply, leaf(torch))

    same(f)


def test_an_input_written_without_mark_dirty_and_returned():
    """Forward writes its input in place, forgets mark_dirty and returns it: torch returns
    a view made after the write (not stale), whose backward is the Function's."""
    def f(torch):
        class Forgot(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 5

        x = leaf(torch)
        a = x * 1
        b = Forgot.apply(a)
        out = [b, b is a, b._base is a, version_of(b), node_name(b.grad_fn)]
        (b * 1).sum().backward()
        later = x * 1
        c = Forgot.apply(later)
        later.add_(1)  # now it is stale: torch refuses its history
        return out + [x.grad, attempt(lambda: c.sum().backward())]

    same(f)


def test_mark_dirty_without_grad_bumps_the_version():
    def f(torch):
        Inplace = add_one_in_place(torch)
        b = torch.ones(3)
        out = Inplace.apply(b)
        return out, out is b, version_of(b)

    same(f)


# ---- double backward ---------------------------------------------------------------------

def test_double_backward_through_saved_output():
    def f(torch):
        Exp = exp_function(torch)
        x = leaf(torch)
        y = Exp.apply(x)
        (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), x)
        return g, h, g.requires_grad

    same(f)


def test_double_backward_through_saved_input():
    def f(torch):
        Cube = cube_function(torch)
        x = leaf(torch)
        y = Cube.apply(x).sum()
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        g.sum().backward()
        return g, x.grad, graph(g)

    same(f)


def test_autograd_function_module_is_an_attribute_after_import_alone():
    # torch.autograd.function.once_differentiable, as written, with nothing imported before
    # (a fresh interpreter: this one has the module loaded already)
    code = ("import distgrad as torch\n"
            "print(torch.autograd.function.once_differentiable.__name__)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "once_differentiable"


def test_once_differentiable_blocks_double_backward():
    def f(torch):
        from importlib import import_module

        once = import_module(f"{torch.__name__}.autograd.function").once_differentiable

        class Square(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            @once
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * g * x

        x = leaf(torch)
        y = Square.apply(x).sum()
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        first = Square.apply(x).sum()
        first.backward()
        return g.requires_grad, attempt(lambda: g.sum().backward()), x.grad

    same(f)


def test_a_once_differentiable_gradient_is_no_view_and_may_be_written_in_place():
    """torch gives the gradients of a once-differentiable backward, under create_graph, as
    its Error node's new results (no views): written in place, whole or through a view,
    as any result; differentiating them raises. distgrad's were views of the backward's
    outputs, which it refused to write."""
    def f(torch):
        from importlib import import_module

        once = import_module(f"{torch.__name__}.autograd.function").once_differentiable

        class Sine(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x.sin()

            @staticmethod
            @once
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * x.cos()

        x = torch.tensor([[1.21, -0.97, -1.34], [1.26, 1.18, -1.77]], requires_grad=True)
        v = Sine.apply(x)
        (g,) = torch.autograd.grad((v * v).sum(), x, create_graph=True)
        made = (g.grad_fn.name(), g._base is None, g._version)
        g[:, torch.tensor([1, 0, 2])] *= 2
        g.add_(1)
        return made, g.grad_fn.name(), g._version, g, attempt(lambda: g.sum().backward())

    same(f)


# ---- errors ------------------------------------------------------------------------------

def test_second_backward_raises_and_saved_tensors_are_freed():
    def f(torch):
        Exp = exp_function(torch)
        x = leaf(torch)
        y = Exp.apply(x)
        y.sum().backward()
        second = attempt(lambda: y.sum().backward())
        saved = attempt(lambda: y.grad_fn.saved_tensors)
        return second, saved, x.grad

    same(f)


def test_retain_graph_keeps_saved_tensors():
    def f(torch):
        Exp = exp_function(torch)
        x = leaf(torch)
        y = Exp.apply(x)
        y.sum().backward(retain_graph=True)
        y.sum().backward()
        return x.grad

    same(f)


def test_saved_output_modified_in_place():
    def f(torch):
        Exp = exp_function(torch)
        x = leaf(torch)
        y = Exp.apply(x)
        y.add_(1)
        return attempt(lambda: y.sum().backward())

    same(f)


def test_saved_input_modified_in_place():
    def f(torch):
        Cube = cube_function(torch)
        x = leaf(torch)
        a = x * 1
        y = Cube.apply(a)
        a.add_(1)
        return attempt(lambda: y.sum().backward())

    same(f)


def test_wrong_number_of_gradients():
    def f(torch):
        class Mul(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x * y

            @staticmethod
            def backward(ctx, g):
                return g

        return attempt(lambda: Mul.apply(leaf(torch), leaf(torch)).sum().backward())

    same(f)


def test_gradient_for_a_non_tensor_input():
    def f(torch):
        class Scale(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return g, g

        return attempt(lambda: Scale.apply(leaf(torch), 2.0).sum().backward())

    same(f)


def test_backward_returning_a_non_tensor():
    def f(torch):
        class Bad(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return 3

        return attempt(lambda: Bad.apply(leaf(torch)).sum().backward())

    same(f)


def test_gradient_of_the_wrong_shape():
    def f(torch):
        class Bad(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.sum()

            @staticmethod
            def backward(ctx, g):
                return torch.ones(2, dtype=torch.float64)

        return attempt(lambda: Bad.apply(leaf(torch)).backward())

    same(f)


@pytest.mark.parametrize("input_shape, grad_shape", [
    ((1, 1), (1,)), ((2, 0), (0,)), ((1, 2, 1), (2, 1)), ((3,), (3, 1)),  # refused
    ((2, 3), (4, 2, 3)), ((1, 3), (2, 3)), ((), (2,))])  # summed down to the input's shape
def test_a_gradient_is_summed_down_only_from_a_shape_the_input_broadcasts_to(input_shape,
                                                                             grad_shape):
    """torch takes a Function's gradient of another shape only when the input's shape
    broadcasts to it (summing it down); one with fewer dims is refused, even where a view
    would fit it (distgrad viewed [1] as [1, 1])."""
    def f(torch):
        class Shaped(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.clone()

            @staticmethod
            def backward(ctx, g):
                return torch.full(grad_shape, 2.0)

        x = torch.ones(input_shape, requires_grad=True)
        return attempt(lambda: (Shaped.apply(x).sum().backward(), x.grad))

    same(f)


def test_save_for_backward_rejects_non_tensors():
    def f(torch):
        class Bad(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x, 3)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        return attempt(Bad.apply, leaf(torch))

    same(f)


def test_instantiating_and_calling_a_function():
    def f(torch):
        Exp = exp_function(torch)
        return attempt(lambda: Exp()(leaf(torch)))

    same(f)


def test_missing_backward():
    def f(torch):
        class NoBackward(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        return attempt(lambda: NoBackward.apply(leaf(torch)).sum().backward())

    same(f)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(dtype):
    def f(torch):
        Exp = exp_function(torch)
        x = leaf(torch, dtype=getattr(torch, dtype))
        y = Exp.apply(x)
        y.sum().backward()
        return y, x.grad

    same(f)


def test_view_outputs_written_in_place_name_multiple_outputs_and_non_differentiable_views():
    def f(torch):
        def function(make, nondiff=False):
            class Views(torch.autograd.Function):
                @staticmethod
                def forward(ctx, x):
                    outs = make(x)
                    if nondiff:
                        ctx.mark_non_differentiable(outs[1])
                    return outs

                @staticmethod
                def backward(ctx, ga, gb):
                    return torch.cat([ga, gb]) if gb is not None else None
            return Views

        x = leaf(torch)
        two_views = function(lambda x: (x[:1], x[1:])).apply(x * 1)
        view_and_new = function(lambda x: (x[:1], x[1:].exp())).apply(x * 1)
        a, b = function(lambda x: (x[:1], x[1:]), nondiff=True).apply(x * 1)
        return [attempt(lambda: two_views[0].mul_(2)), attempt(lambda: view_and_new[0].mul_(2)),
                (b.requires_grad, b.grad_fn, b.is_leaf), attempt(lambda: a.mul_(2)),
                attempt(lambda: b.mul_(2))]

    same(f)


def test_a_view_output_written_in_forward_before_it_returns_is_usable():
    """A view forward makes and writes (or whose base it writes) before returning takes
    its history from the Function then: reading it is no stale view's error; a write
    after the Function returned still is."""
    def f(torch):
        class WrittenView(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                base = x * 2
                out = base[1:]
                out.add_(1)
                base[0] = 5.0
                return out

            @staticmethod
            def backward(ctx, g):
                return torch.cat([g.new_zeros(1), g * 2])

        x = leaf(torch)
        y = WrittenView.apply(x)
        seen = [y._is_view(), y.grad_fn.name(), version_of(y)]
        y.pow(2).sum().backward()
        z = WrittenView.apply(x)
        z._base.mul_(2)
        return seen, x.grad, attempt(lambda: z.grad_fn)

    same(f)


def test_what_forward_saves_and_marks_dirty_is_checked_when_forward_returns():
    def f(torch):
        seen = []

        class Saves(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, bad):
                ctx.save_for_backward(x, bad)
                seen.append(ctx.saved_tensors)  # torch has saved nothing yet
                if bad is not None:
                    ctx.save_for_backward(x, None)  # a later call replaces the first
                return x * 2

            @staticmethod
            def backward(ctx, g):
                seen.append(ctx.saved_tensors[1])
                return g * 2, None

        class Dirty(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x)
                return x.clone()

            @staticmethod
            def backward(ctx, g):
                return g

        x = leaf(torch)
        Saves.apply(x, 3).sum().backward()

        class SavesInt(Saves):
            @staticmethod
            def forward(ctx, x, bad):
                ctx.save_for_backward(x, bad)
                return x * 2

        with torch.no_grad():
            unchecked = SavesInt.apply(x, 3)
        return (seen, x.grad, unchecked, attempt(SavesInt.apply, x, 3),
                attempt(Dirty.apply, x * 1), attempt(Dirty.apply, x.detach() * 1))

    same(f)
