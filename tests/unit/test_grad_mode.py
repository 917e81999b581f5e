"""Grad mode against torch: context managers, decorators (with and without parentheses,
on functions and generators), nesting, exceptions, and thread-locality."""

import threading

import pytest

import distgrad
from torch_twin import Recorder, attempt, same


def test_no_grad_context_manager():
    def f(torch):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        with torch.no_grad() as ctx:
            y = x * 2
            inside = torch.is_grad_enabled()
        z = x * 2
        return ctx, inside, torch.is_grad_enabled(), y.requires_grad, y.grad_fn, z.requires_grad

    same(f)


def test_nesting():
    def f(torch):
        rec = Recorder()
        x = torch.tensor([1.0], requires_grad=True)
        with torch.no_grad():
            rec(torch.is_grad_enabled())
            with torch.enable_grad():
                rec(torch.is_grad_enabled(), (x * 2).requires_grad)
                with torch.set_grad_enabled(False):
                    rec(torch.is_grad_enabled())
                    with torch.inference_mode():
                        rec(torch.is_grad_enabled(), torch.is_inference_mode_enabled())
                        with torch.inference_mode(False):
                            rec(torch.is_grad_enabled(), torch.is_inference_mode_enabled())
                        rec(torch.is_grad_enabled(), torch.is_inference_mode_enabled())
                    rec(torch.is_grad_enabled(), torch.is_inference_mode_enabled())
                rec(torch.is_grad_enabled())
            rec(torch.is_grad_enabled())
        rec(torch.is_grad_enabled())
        return rec

    same(f)


def test_mode_restored_after_exception():
    def f(torch):
        def boom():
            with torch.no_grad():
                raise ValueError("x")
        err = attempt(boom)
        return err, torch.is_grad_enabled()

    same(f)


def test_decorators_with_and_without_parentheses():
    def f(torch):
        rec = Recorder()

        @torch.no_grad()
        def a():
            rec("a", torch.is_grad_enabled())
            return 1

        @torch.no_grad
        def b():
            rec("b", torch.is_grad_enabled())

        @torch.enable_grad
        def c():
            rec("c", torch.is_grad_enabled())

        @torch.inference_mode
        def d():
            rec("d", torch.is_grad_enabled(), torch.is_inference_mode_enabled())

        @torch.inference_mode(False)
        def e():
            rec("e", torch.is_grad_enabled(), torch.is_inference_mode_enabled())

        @torch.set_grad_enabled(False)
        def g():
            rec("g", torch.is_grad_enabled())

        rec("after decorating", torch.is_grad_enabled())
        out = a()
        b(), g(), d()
        with torch.no_grad():
            c(), e()
        rec("end", torch.is_grad_enabled(), a.__name__, g.__name__)
        return out, rec

    same(f)


def test_decorated_generator_runs_each_step_in_the_mode():
    def f(torch):
        @torch.no_grad()
        def gen():
            for _ in range(2):
                got = yield torch.is_grad_enabled()
                yield got, torch.is_grad_enabled()

        g = gen()
        out = [next(g), torch.is_grad_enabled(), g.send("hi"), next(g)]
        return out

    same(f)


def test_set_grad_enabled_as_function():
    def f(torch):
        x = torch.tensor([1.0], requires_grad=True)
        torch.set_grad_enabled(False)
        off = (torch.is_grad_enabled(), (x * 2).requires_grad)
        torch.set_grad_enabled(True)
        on = (torch.is_grad_enabled(), (x * 2).requires_grad)
        with torch.no_grad():
            torch.set_grad_enabled(True)
            inner = torch.is_grad_enabled()
        return off, on, inner, torch.is_grad_enabled()

    same(f)


def test_set_grad_enabled_repr_and_autograd_namespace():
    def f(torch):
        s = torch.set_grad_enabled(True)
        return (str(s), torch.autograd.no_grad is torch.no_grad,
                torch.autograd.enable_grad is torch.enable_grad,
                torch.autograd.set_grad_enabled is torch.set_grad_enabled)

    same(f)


def test_backward_inside_no_grad_still_computes_grads():
    def f(torch):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        with torch.no_grad():
            y.backward()
        return x.grad, torch.is_grad_enabled()

    same(f)


def test_inplace_on_leaf_allowed_under_no_grad_and_inference_mode():
    def f(torch):
        w = torch.tensor([1.0, 2.0], requires_grad=True)
        with torch.no_grad():
            w.mul_(2)
        with torch.inference_mode():
            y = w * 2
        return w, y.requires_grad, y.grad_fn

    same(f)


def test_enable_grad_inside_inference_mode_records_nothing():
    """inference_mode leaves autograd out: grad mode turned back on inside it reports on,
    yet ops record no graph, a leaf may be written in place, and a view of a leaf is a
    leaf (as under no_grad)."""
    def f(torch):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        d = x.detach().clone().requires_grad_()
        rec = Recorder()
        with torch.inference_mode():
            with torch.enable_grad():
                rec(torch.is_grad_enabled(), torch.is_inference_mode_enabled())
                y = x * 2
                rec(y.requires_grad, y.grad_fn, y.is_inference())
                rec(attempt(lambda: x.add_(1)), x.grad_fn)
                v = d[0]
                rec(v.requires_grad, v.is_leaf, v.grad_fn)
                rec(torch.nn.functional.relu(d).requires_grad)
                rec(attempt(lambda: (d * d).sum().backward()))
            with torch.set_grad_enabled(True):
                rec((d.exp()).requires_grad)
            rec(torch.is_grad_enabled())
        rec(torch.is_grad_enabled(), (d * 2).requires_grad)
        return rec, x, x._version, d.grad

    same(f)


@pytest.mark.parametrize("mod_name", ["torch", "distgrad"])
def test_thread_starts_with_grad_enabled_and_is_independent(mod_name):
    import torch

    mod = torch if mod_name == "torch" else distgrad
    seen = {}
    barrier = threading.Barrier(2)

    def worker():
        seen["start"] = mod.is_grad_enabled()
        with mod.no_grad():
            barrier.wait()  # the main thread checks its own mode now
            barrier.wait()
            seen["inside"] = mod.is_grad_enabled()

    with mod.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        barrier.wait()
        main_inside = mod.is_grad_enabled()
    main_after = mod.is_grad_enabled()
    barrier.wait()
    t.join()
    assert seen == {"start": True, "inside": False}
    assert main_inside is False and main_after is True


def test_thread_results_match_torch():
    def f(torch):
        out = {}

        def worker():
            x = torch.tensor([1.0], requires_grad=True)
            out["rg"] = (x * 2).requires_grad
            out["mode"] = torch.is_grad_enabled()

        with torch.no_grad():
            t = threading.Thread(target=worker)
            t.start()
            t.join()
        return out

    same(f)


# ---- inference tensors ---------------------------------------------------------------------

def test_inference_tensors_are_the_ones_made_under_inference_mode():
    # Its views and detach are inference tensors too; a view of a normal tensor made inside
    # is not; a tensor computed from one outside is normal.
    def f(torch):
        with torch.inference_mode():
            y = torch.ones(3)
        z = torch.ones(3)
        inside = []
        with torch.inference_mode():
            inside.append((z.view(3).is_inference(), z[0:1].is_inference()))
            z.add_(1)  # a normal tensor written inside: allowed, stays normal
            w = torch.ones(2, requires_grad=True)
            inside.append((z.is_inference(), w.is_inference(), w.requires_grad))
            y.add_(5)  # an inference tensor written inside: allowed
            with torch.inference_mode(False):
                inside.append(torch.ones(1).is_inference())
        return (y.is_inference(), z.is_inference(), y.view(3).is_inference(),
                (y + 1).is_inference(), y.detach().is_inference(), y.clone().is_inference(),
                y[0:2].is_inference(), inside, y, z)

    same(f)


def test_inference_tensors_outside_inference_mode():
    """Outside inference_mode an inference tensor cannot be saved for backward, written in
    place (torch raises after its kernel wrote: the write shows) or made to require grad;
    ops that save nothing of it, and its clone, are fine."""
    def f(torch):
        with torch.inference_mode():
            y = torch.ones(2, 3)
        x = torch.ones(2, 3, requires_grad=True)
        out = [attempt(lambda: x * y), attempt(lambda: (x + y).requires_grad),
               attempt(lambda: y.add_(1)), attempt(lambda: y[0].fill_(4.0)),
               attempt(lambda: y.requires_grad_()), attempt(lambda: y.requires_grad_(False)),
               attempt(lambda: (x * y.clone()).sum().backward()), x.grad]
        with torch.no_grad():
            out.append(attempt(lambda: y.mul_(2)))
        out.append(attempt(lambda: y.t_()))
        return out, y, y.shape

    same(f)


def test_an_inference_tensor_has_no_version_but_its_handles_made_outside_do():
    """torch: an inference tensor (and a view of it) does not track a version counter, in
    inference_mode or out of it; detach() or .data of one outside inference_mode gets a
    counter of its own: it may be written outside inference_mode, and counts those
    writes only (its views have none)."""
    def f(torch):
        with torch.inference_mode():
            y = torch.ones(3)
            inside = [attempt(lambda: y._version), attempt(lambda: y.detach()._version)]
        d, data = y.detach(), y.data
        with torch.inference_mode():
            d.add_(1)
        counts = [d._version, data._version]
        d.mul_(2)
        data.sub_(1)
        x = torch.ones(3, requires_grad=True)
        return (inside, attempt(lambda: y._version), attempt(lambda: y[1:]._version), counts,
                d._version, data._version, d.is_inference(), attempt(lambda: d[1:]._version),
                attempt(lambda: d[1:].add_(1)), attempt(lambda: y.add_(1)),
                attempt(lambda: x * d), y)

    same(f)


def test_a_tensor_grown_by_out_in_inference_mode_keeps_its_version_counter():
    """torch grows out's memory: a tensor made outside inference_mode stays a normal one,
    its (and its views') writes counted, while an inference tensor stays one, with none."""
    def f(torch):
        out, grown_view = torch.zeros(2, 2), torch.zeros(5)[1:3]
        with torch.inference_mode():
            a = torch.zeros(2)
            torch.add(torch.ones(9), 1, out=out)
            torch.mul(torch.ones(3, 3), 2, out=grown_view)
            inside = [out.is_inference(), out._version, out[1:]._version,
                      attempt(lambda: torch.add(torch.ones(4), 1, out=a)._version)]
        out.add_(1)
        return (inside, out, out._version, out[1:]._version, grown_view.is_inference(),
                grown_view._version, attempt(lambda: a._version), a.is_inference(),
                attempt(lambda: torch.add(torch.ones(3), 1, out=a)), a)

    same(f)


def test_data_set_to_other_memory_keeps_the_version_counter_or_its_lack():
    """torch's `.data =` keeps the tensor's version counter and takes the new memory's
    inference keys: a normal tensor given an inference tensor's memory is an inference
    tensor that still counts the writes made outside inference_mode."""
    def f(torch):
        with torch.inference_mode():
            y = torch.ones(3)
        x = torch.zeros(2)
        x.data = y
        seen = [x.is_inference(), x._version, attempt(lambda: x[1:]._version)]
        x.add_(1)
        z = torch.zeros(2)
        with torch.inference_mode():
            z.data = torch.ones(4)
            z.add_(1)
            seen += [z.is_inference(), z._version]
        z.mul_(3)
        return seen, x, x._version, x.is_inference(), z, z._version, y

    same(f)


def test_a_model_run_under_inference_mode_then_trained():
    def f(torch):
        torch.manual_seed(0)
        lin = torch.nn.Linear(3, 2)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([[1.0, -2.0, 0.5], [0.0, 1.0, 2.0]]))
        with torch.inference_mode():
            seen = lin(torch.ones(1, 3))
        lin(torch.ones(1, 3)).sum().backward()
        mixed = attempt(lambda: (lin(torch.ones(1, 3)) * seen).sum().backward())
        return seen.is_inference(), seen.requires_grad, lin.weight.grad, mixed

    same(f)
