"""Module backward hooks (`register_full_backward_hook`, `register_full_backward_pre_hook`
and the deprecated `register_backward_hook`) against real torch: what each hook sees,
what its return value replaces, when it fires and in which order, and torch's errors."""
from __future__ import annotations

from torch_twin import Recorder, attempt, grad_of, same


def _linear(T, n_in=3, n_out=2):
    """A Linear with fixed weights, the same in both libraries."""
    lin = T.nn.Linear(n_in, n_out)
    with T.no_grad():
        lin.weight.copy_(T.arange(n_out * n_in, dtype=T.float32).reshape(n_out, n_in) / 4 - 0.5)
        lin.bias.copy_(T.arange(n_out, dtype=T.float32) - 0.25)
    return lin


def _x(T):
    return T.tensor([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]], requires_grad=True)


def _weights(T):
    """Weights of a (2, 2) output in the loss, so that its gradient is not all ones."""
    return T.tensor([[1.0, -1.0], [0.5, 3.0]])


def _grads(lin, x):
    return [x.grad, lin.weight.grad, lin.bias.grad]


def _scale(T):
    """A module of two inputs and a keyword: a * b * k, and a + 1."""

    class Scale(T.nn.Module):
        def forward(self, a, b, k=3.0):
            return a * b * k, a + 1

    return Scale()


# ---- what the hooks see, and what their results replace --------------------------------------

def test_full_hook_on_linear_sees_the_gradients_and_replaces_grad_input():
    def program(T):
        rec = Recorder()
        lin, x = _linear(T), _x(T)

        def hook(module, grad_input, grad_output):
            rec("hook", module is lin, grad_input, grad_output)
            return (grad_input[0] * 10,)

        lin.register_full_backward_hook(hook)
        out = lin(x)
        (out * _weights(T)).sum().backward()
        return rec, out, _grads(lin, x)

    same(program)


def test_pre_hook_replaces_grad_output():
    def program(T):
        rec = Recorder()
        lin, x = _linear(T), _x(T)
        lin.register_full_backward_pre_hook(lambda m, go: (rec("pre", go), (go[0] * -3,))[1])
        lin.register_full_backward_hook(lambda m, gi, go: rec("full", gi, go))
        (lin(x) * _weights(T)).sum().backward()
        return rec, _grads(lin, x)

    same(program)


def test_pre_hook_returning_none_keeps_grad_output_and_prepend_goes_first():
    def program(T):
        rec = Recorder()
        lin, x = _linear(T), _x(T)
        lin.register_full_backward_pre_hook(lambda m, go: rec("first", go))
        lin.register_full_backward_pre_hook(lambda m, go: (go[0] + 1,))
        lin.register_full_backward_pre_hook(lambda m, go: rec("prepended", go), prepend=True)
        lin.register_full_backward_hook(lambda m, gi, go: rec("full", go))
        lin.register_full_backward_hook(lambda m, gi, go: rec("full prepended"), prepend=True)
        lin(x).sum().backward()
        return rec, _grads(lin, x)

    same(program)


def test_backward_hooks_with_forward_pre_and_post_hooks():
    def program(T):
        rec = Recorder()
        lin, x = _linear(T), _x(T)
        lin.register_forward_pre_hook(lambda m, args: (rec("fwd pre"), (args[0] * 2,))[1])
        lin.register_forward_hook(lambda m, args, out: (rec("fwd", args, out), out + 1)[1])
        lin.register_full_backward_pre_hook(lambda m, go: (rec("bwd pre", go), (go[0] * 2,))[1])
        lin.register_full_backward_hook(lambda m, gi, go: rec("bwd", gi, go))
        out = lin(x)
        rec("called")
        (out * _weights(T)).sum().backward()
        return rec, out, _grads(lin, x)

    same(program)


def test_two_inputs_one_not_requiring_grad():
    def program(T):
        rec = Recorder()
        mod = _scale(T)
        mod.register_full_backward_pre_hook(lambda m, go: rec("pre", go))
        mod.register_full_backward_hook(lambda m, gi, go: rec("full", gi, go))
        a = T.tensor([1.0, -2.0, 3.0], requires_grad=True)
        b = T.tensor([0.5, 4.0, -1.0])
        prod, plus = mod(a, b, k=5.0)
        (prod * T.tensor([1.0, 2.0, 3.0])).sum().backward()
        return rec, prod, plus, a.grad, b.grad

    same(program)


def test_a_number_among_the_inputs_gets_none():
    def program(T):
        rec = Recorder()

        class Times(T.nn.Module):
            def forward(self, a, s):
                return a * s

        mod = Times()
        mod.register_full_backward_hook(lambda m, gi, go: rec(gi, go))
        a = T.tensor([1.0, -2.0], requires_grad=True)
        mod(a, 3.0).sum().backward()
        return rec, a.grad

    same(program)


def test_no_input_requiring_grad_fires_with_nones_and_warns():
    def program(T):
        rec = Recorder()
        lin = _linear(T)
        lin.register_full_backward_hook(lambda m, gi, go: rec(gi, go))
        lin(T.ones(1, 3)).sum().backward()
        bad = _linear(T)
        bad.register_full_backward_hook(lambda m, gi, go: (T.ones(1, 3),))
        return rec, lin.weight.grad, attempt(lambda: bad(T.ones(1, 3)).sum().backward())

    same(program)


# ---- when they fire -----------------------------------------------------------------------------

def test_module_called_twice_in_one_graph_fires_per_call():
    def program(T):
        rec = Recorder()
        lin, x = _linear(T, 3, 3), _x(T)
        lin.register_full_backward_pre_hook(lambda m, go: rec("pre", go))
        lin.register_full_backward_hook(lambda m, gi, go: rec("full", gi, go))
        out = lin(lin(x))
        (out * T.tensor([[1.0, -1.0, 2.0], [0.5, 3.0, -2.0]])).sum().backward()
        return rec, _grads(lin, x)

    same(program)


def test_handle_remove_stops_the_hooks_from_the_next_call():
    def program(T):
        rec = Recorder()
        lin, x = _linear(T), _x(T)
        full = lin.register_full_backward_hook(lambda m, gi, go: rec("full"))
        pre = lin.register_full_backward_pre_hook(lambda m, go: rec("pre"))
        out = lin(x)
        full.remove()
        pre.remove()
        out.sum().backward()  # this call's hooks were taken when it ran, as torch's
        rec("removed")
        lin(x).sum().backward()
        with lin.register_full_backward_hook(lambda m, gi, go: rec("in with")):
            lin(x).sum().backward()
        lin(x).sum().backward()
        return rec, _grads(lin, x), attempt(lin.register_backward_hook, lambda *a: None)

    same(program)


def test_sequential_hooks_fire_from_the_last_module_to_the_first():
    def program(T):
        rec = Recorder()
        first, last = _linear(T, 3, 3), _linear(T, 3, 2)
        seq = T.nn.Sequential(first, T.nn.Tanh(), last)
        for name, mod in [("seq", seq), ("first", first), ("tanh", seq[1]), ("last", last)]:
            mod.register_full_backward_pre_hook(lambda m, go, name=name: rec(name + " pre", go))
            mod.register_full_backward_hook(lambda m, gi, go, name=name: rec(name, gi))
        x = _x(T)
        (seq(x) * _weights(T)).sum().backward()
        return rec, _grads(first, x), _grads(last, x)[1:]

    same(program)


def test_retained_graph_fires_on_each_backward_and_no_grad_records_none():
    def program(T):
        rec = Recorder()
        lin, x = _linear(T), _x(T)
        lin.register_full_backward_hook(lambda m, gi, go: rec("full", gi))
        out = lin(x)
        out.sum().backward(retain_graph=True)
        grads = T.autograd.grad((out * 2).sum(), x)
        with T.no_grad():
            plain = lin(x)
        return rec, grads, plain, out.grad_fn.name()

    same(program)


def test_hook_on_a_module_with_tuple_output_one_unused():
    def program(T):
        rec = Recorder()
        mod = _scale(T)
        mod.register_full_backward_hook(lambda m, gi, go: rec(gi, go))
        a = T.tensor([1.0, -2.0, 3.0], requires_grad=True)
        b = T.tensor([0.5, 4.0, -1.0], requires_grad=True)
        prod, plus = mod(a, b)
        plus.register_hook(lambda g: rec("tensor hook", g))
        (plus * 2).sum().backward()
        return rec, a.grad, b.grad

    same(program)


# ---- the deprecated register_backward_hook ------------------------------------------------------

def test_register_backward_hook_sees_the_output_node_gradients():
    def program(T):
        rec = Recorder()
        lin, x = _linear(T), _x(T)

        def hook(module, grad_input, grad_output):
            rec(module is lin, grad_input, grad_output)
            return tuple(None if g is None else g * 2 for g in grad_input)

        handle = lin.register_backward_hook(hook)
        (lin(x) * _weights(T)).sum().backward()
        grads = _grads(lin, x)
        handle.remove()
        return rec, grads, attempt(lin.register_full_backward_hook, lambda *a: None)

    same(program)


def test_register_backward_hook_on_a_module_of_several_ops_warns():
    def program(T):
        rec = Recorder()
        seq = T.nn.Sequential(_linear(T, 3, 3), T.nn.ReLU(), _linear(T, 3, 2))
        seq.register_backward_hook(lambda m, gi, go: rec(gi, go))
        x = _x(T)
        (seq(x) * _weights(T)).sum().backward()
        return rec, x.grad

    same(program)


# ---- torch's errors -----------------------------------------------------------------------------

def test_hooks_returning_the_wrong_number_of_gradients():
    def program(T):
        lin, x = _linear(T), _x(T)
        lin.register_full_backward_hook(lambda m, gi, go: (None, None))
        pre = _linear(T)
        pre.register_full_backward_pre_hook(lambda m, go: (None, None))
        return (attempt(lambda: lin(x).sum().backward()),
                attempt(lambda: pre(x).sum().backward()))

    same(program)


def test_writing_the_hooked_output_or_input_in_place_raises():
    def program(T):
        lin, x = _linear(T), _x(T)
        lin.register_full_backward_hook(lambda m, gi, go: None)

        class Doubles(T.nn.Module):
            def forward(self, a):
                return a.mul_(2)

        doubles = Doubles()
        doubles.register_full_backward_pre_hook(lambda m, go: None)
        return attempt(lambda: lin(x).add_(1)), attempt(lambda: doubles(x.clone()))

    same(program)


def test_output_that_is_not_a_tensor_or_tuple_warns_and_the_hook_never_fires():
    def program(T):
        rec = Recorder()

        class Named(T.nn.Module):
            def forward(self, a):
                return {"twice": a * 2}

        mod = Named()
        mod.register_full_backward_hook(lambda m, gi, go: rec(gi, go))
        x = _x(T)
        mod(x)["twice"].sum().backward()
        return rec, grad_of(x)

    same(program)
