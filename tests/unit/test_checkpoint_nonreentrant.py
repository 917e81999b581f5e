"""checkpoint(fn, *args, use_reentrant=False) as programs run by torch and by distgrad:
values, gradients, how often `fn` runs, what stays saved, and errors must agree.

The forward records fn's graph with its saved tensors replaced by placeholders; the first
unpack in a backward runs fn again to get them. The reentrant variant is tested in
test_layers.py.
"""
from __future__ import annotations

import contextlib
import gc
import weakref

import numpy as np
import pytest

import distgrad
from torch_twin import attempt, node_name, same


@pytest.fixture(autouse=True)
def _earlier_garbage_collected():
    # (an earlier test's unclosed pipe collected inside a scenario would count as its warning)
    gc.collect()


def _ckpt(T):
    return T.utils.checkpoint.checkpoint


def _leaves(T):
    x = T.tensor([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]], requires_grad=True)
    w = T.tensor([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.7]], requires_grad=True)
    return x, w


def _counted(fn):
    """fn, and a list that grows by one on each call of it."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return fn(*args, **kwargs)

    return counted, calls


# ---- gradients as without the checkpoint ------------------------------------------------

def test_mlp_gradients_of_inputs_and_closed_over_weights():
    def program(T):
        x, w = _leaves(T)
        v = T.tensor([0.3, -1.2], requires_grad=True)
        block, calls = _counted(lambda a: ((a @ w).tanh() * v).sin())
        y = _ckpt(T)(block, x, use_reentrant=False)
        plain = block(x.detach().requires_grad_())
        (y * y).sum().backward()
        return y, node_name(y.grad_fn), plain, [x.grad, w.grad, v.grad], len(calls)

    same(program)


def test_gradients_equal_the_uncheckpointed_functions():
    def program(T):
        x, w = _leaves(T)
        block = lambda a: (a @ w).tanh().sin().sum()  # noqa: E731
        block(x).backward()
        expected = [x.grad, w.grad]
        x.grad = w.grad = None
        _ckpt(T)(block, x, use_reentrant=False).backward()
        return expected, [x.grad, w.grad]

    _, (expected, got) = same(program)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(b.value, a.value, rtol=1e-6)


def test_kwargs_and_non_tensor_arguments_reach_fn():
    def program(T):
        x, w = _leaves(T)

        def block(a, power, *, weight, shift=0.0, name=None):
            return ((a @ weight) ** power + shift).sin(), name

        y, name = _ckpt(T)(block, x, 2, use_reentrant=False, weight=w, shift=0.5, name="b")
        y.sum().backward()
        return y, name, [x.grad, w.grad]

    same(program)


def test_input_that_does_not_require_grad():
    def program(T):
        x, w = _leaves(T)
        data = x.detach()
        y = _ckpt(T)(lambda a: (a @ w).tanh(), data, use_reentrant=False)
        y.sum().backward()
        frozen = _ckpt(T)(lambda a: a.sin(), data, use_reentrant=False)  # (no warning)
        return y, w.grad, data.grad, frozen

    same(program)


def test_autograd_grad_through_it():
    def program(T):
        x, w = _leaves(T)
        block, calls = _counted(lambda a: (a @ w).tanh().sin())
        y = _ckpt(T)(block, x, use_reentrant=False)
        gx, gw = T.autograd.grad(y.sum(), [x, w])
        return gx, gw, x.grad, w.grad, len(calls)

    same(program)


def test_autograd_grad_of_the_gradient():
    def program(T):
        x, _ = _leaves(T)
        y = _ckpt(T)(lambda a: (a.sin() * a).exp(), x, use_reentrant=False)
        g, = T.autograd.grad(y.sum(), x, create_graph=True)
        gg, = T.autograd.grad(g.sum(), x)
        return g, gg

    same(program)


def test_second_backward_with_retain_graph_recomputes_again():
    def program(T):
        x, w = _leaves(T)
        block, calls = _counted(lambda a: (a @ w).tanh().sin())
        y = _ckpt(T)(block, x, use_reentrant=False).sum()
        y.backward(retain_graph=True)
        first = [x.grad.clone(), w.grad.clone()]
        y.backward()
        return first, [x.grad, w.grad], len(calls)

    same(program)


def test_nested_checkpoints():
    def program(T):
        x, w = _leaves(T)
        ckpt = _ckpt(T)
        inner, inner_calls = _counted(lambda b: (b * b).sin())
        outer, outer_calls = _counted(
            lambda a: ckpt(inner, (a @ w).exp(), use_reentrant=False).cos())
        y = ckpt(outer, x, use_reentrant=False)
        y.sum().backward()
        return y, [x.grad, w.grad], len(outer_calls), len(inner_calls)

    same(program)


def test_a_view_written_in_place_then_its_base_again_inside_fn():
    # what fn saved is recomputed, not checked against later writes: torch's relu_ through
    # the view saves a placeholder that the base's next write does not make stale
    def program(T):
        x, w = _leaves(T)

        def block(a):
            h = (a @ w) @ w.t()
            h.view(-1, 3)[:, 1:].relu_()
            return h.mul_(2).exp()

        y = _ckpt(T)(block, x, use_reentrant=False)
        y.sum().backward()
        return y, [x.grad, w.grad]

    same(program)


# ---- what is kept, and when fn runs again -----------------------------------------------

def test_saved_tensors_are_not_kept_by_the_graph():
    def program(T):
        x, _ = _leaves(T)
        made = []

        def block(a):
            t = a.exp()
            made.append(weakref.ref(t))
            return t.sin()  # (sin saves t)

        plain = block(x)
        kept = _ckpt(T)(block, x, use_reentrant=False)
        return [ref() is not None for ref in made], plain, kept

    (alive, _, _), _ = same(program)
    assert alive == [True, False]


def test_only_the_inputs_go_through_outer_hooks():
    def program(T):
        x, _ = _leaves(T)
        packed = []
        hooks = T.autograd.graph.saved_tensors_hooks(lambda t: packed.append(t.shape) or t,
                                                     lambda t: t)
        block = lambda a: a.exp().sin().cos()  # noqa: E731
        with hooks:
            block(x)
        plain = len(packed)
        with hooks:
            y = _ckpt(T)(block, x, use_reentrant=False)
        return plain, packed[plain:], y

    same(program)


def test_fn_runs_once_in_forward_and_once_per_backward():
    def program(T):
        x, w = _leaves(T)
        block, calls = _counted(lambda a: (a @ w).tanh())
        y = _ckpt(T)(block, x, use_reentrant=False)
        after_forward = len(calls)
        y.sum().backward()
        with T.no_grad():  # (nothing saved under no_grad: nothing to recompute)
            _ckpt(T)(block, x, use_reentrant=False)
        return after_forward, len(calls)

    (after_forward, total), _ = same(program)
    assert (after_forward, total) == (1, 3)


def test_recomputation_stops_after_the_last_saved_tensor_unless_early_stop_is_off():
    def program(T):
        x, _ = _leaves(T)
        reached_end = []

        def block(a):
            out = a.sin().cos()
            reached_end.append(1)
            return out

        _ckpt(T)(block, x, use_reentrant=False).sum().backward()
        stopped = len(reached_end)
        _ckpt(T)(block, x, use_reentrant=False, early_stop=False).sum().backward()
        return stopped, len(reached_end)

    same(program)


def test_set_checkpoint_early_stop_overrides_the_calls_flag_at_forward():
    def program(T):
        x, _ = _leaves(T)
        cp = T.utils.checkpoint
        reached_end = []

        def block(a):
            out = a.sin().cos()
            reached_end.append(1)
            return out

        counts = []
        for outer, flag in ((False, True), (True, False), (None, False)):
            with cp.set_checkpoint_early_stop(outer):
                out = cp.checkpoint(block, x, use_reentrant=False, early_stop=flag)
            reached_end.clear()
            out.sum().backward()  # (outside the context: its forward decided)
            counts.append(len(reached_end))
        return counts

    same(program)


def test_set_checkpoint_debug_enabled_and_the_helpers():
    def program(T):
        x, _ = _leaves(T)
        cp = T.utils.checkpoint
        contexts = lambda: (contextlib.nullcontext(), contextlib.nullcontext())  # noqa: E731
        out = []
        with cp.set_checkpoint_debug_enabled(True):  # (debug refuses a context_fn)
            out.append(attempt(lambda: cp.checkpoint(lambda a: a.sin(), x, use_reentrant=False,
                                                     context_fn=contexts)))
        with cp.set_checkpoint_debug_enabled(False):
            out.append(cp.checkpoint(lambda a: a.sin(), x, use_reentrant=False, debug=True,
                                     context_fn=contexts))
        d = cp.detach_variable((x, 3, x.detach()))
        out += [[getattr(t, "requires_grad", t) for t in d], d[0] is x, d[0].grad_fn]
        out.append(attempt(lambda: cp.detach_variable([x])))
        return out

    same(program)


def test_context_fn_wraps_forward_and_recomputation():
    def program(T):
        x, _ = _leaves(T)
        log = []

        @contextlib.contextmanager
        def entered(name):
            log.append(name)
            yield

        y = _ckpt(T)(lambda a: a.sin(), x, use_reentrant=False,
                     context_fn=lambda: (entered("forward"), entered("recompute")))
        log.append("backward")
        y.sum().backward()
        return log, x.grad

    same(program)


# ---- random state -------------------------------------------------------------------------

def _dropout_run(checkpointed: bool):
    """Gradients through dropout from seed 5, and the next draw after backward."""
    distgrad.manual_seed(5)
    x = distgrad.tensor(np.linspace(-1, 1, 60, dtype=np.float32).reshape(6, 10),
                        requires_grad=True)
    drop = distgrad.nn.Dropout(0.5)
    block = lambda a: drop(a.sin()) * a  # noqa: E731
    y = (distgrad.utils.checkpoint.checkpoint(block, x, use_reentrant=False) if checkpointed
         else block(x))
    y.sum().backward()
    return y.detach().numpy(), x.grad.numpy(), distgrad.rand(4).numpy()


def test_dropout_recomputes_the_same_mask():
    # (distgrad's random stream is not torch's: compared with its own plain run)
    plain = _dropout_run(checkpointed=False)
    checkpointed = _dropout_run(checkpointed=True)
    for a, b in zip(plain, checkpointed):
        np.testing.assert_array_equal(b, a)


def test_dropout_gradients_match_torch_up_to_the_mask():
    def program(T):
        T.manual_seed(5)
        x = T.tensor(np.linspace(-1, 1, 60, dtype=np.float32).reshape(6, 10).tolist(),
                     requires_grad=True)
        y = _ckpt(T)(lambda a: T.nn.functional.dropout(a.sin(), 0.5) * a, x,
                     use_reentrant=False)
        y.sum().backward()
        kept = y != 0  # each library's own mask: the gradient follows it
        expected = T.where(kept, (x.cos() * x + x.sin()) * 2, T.zeros_like(x))
        return T.allclose(x.grad, expected, atol=1e-6)

    matched, _ = same(program)
    assert matched is True


# ---- errors -------------------------------------------------------------------------------

def test_fewer_tensors_saved_in_recomputation_is_a_checkpoint_error():
    def program(T):
        x, _ = _leaves(T)
        calls = []

        def block(a):
            calls.append(1)
            return a.sin().cos() if len(calls) == 1 else a.sin()

        y = _ckpt(T)(block, x, use_reentrant=False)
        try:
            y.sum().backward()
        except T.utils.checkpoint.CheckpointError as e:
            return isinstance(e, RuntimeError), str(e).split("\nTip:")[0].rstrip()

    same(program)


def test_different_shapes_in_recomputation_is_a_checkpoint_error():
    def program(T):
        x, _ = _leaves(T)
        calls = []

        def block(a):
            calls.append(1)
            return a.sin() if len(calls) == 1 else a[:1].sin()

        y = _ckpt(T)(block, x, use_reentrant=False)
        try:
            y.sum().backward()
        except T.utils.checkpoint.CheckpointError as e:
            return str(e).split("\nTip:")[0].rstrip()

    same(program)


def test_input_written_in_place_after_forward():
    def program(T):
        x, _ = _leaves(T)
        a = x * 1
        y = _ckpt(T)(lambda t: t.sin(), a, use_reentrant=False)
        a.mul_(2)
        y.sum().backward()

    same(program)


def test_a_result_written_in_place_again_inside_fn():
    """relu_ saves its result, which fn's mul_ writes again: torch checks no version of a
    saved tensor packed by checkpoint (its recomputed value is read), so backward runs
    where the plain function's raises. (fuzzer seed 22598998)"""
    def f(T):
        x, _ = _leaves(T)
        fn = lambda u: (u * 2).relu_().mul_(u)  # noqa: E731
        plain = attempt(lambda: T.autograd.grad(fn(x * 1).sum(), x))
        y = _ckpt(T)(fn, x * 1, use_reentrant=False)
        return plain, T.autograd.grad((y * y).sum(), x), y

    same(f, prefix=40)


def test_determinism_check_and_debug_are_validated_as_torch():
    def program(T):
        x, _ = _leaves(T)
        ckpt = _ckpt(T)
        out = [ckpt(lambda a: a.sin(), x, use_reentrant=False, determinism_check="none",
                    debug=True)]
        for kwargs in ({"determinism_check": "shapes"},
                       {"debug": True, "context_fn": lambda: (None, None)},
                       {"use_reentrant": True, "context_fn": lambda: (None, None)},
                       {"use_reentrant": True, "scale": 2}):
            try:
                ckpt(lambda a, scale=1: a.sin() * scale, x, **{"use_reentrant": False, **kwargs})
            except ValueError as e:
                out.append(str(e))
        return out

    same(program)


@pytest.mark.parametrize("segments,use_reentrant", [(2, False), (3, True), (1, False), (5, None)])
def test_checkpoint_sequential(segments, use_reentrant):
    """torch's split into segments: all but the last checkpointed; a list of functions too."""
    def program(T):
        x, w = _leaves(T)
        calls = []
        steps = [lambda a: a @ w, T.nn.Tanh(), lambda a: calls.append(1) or a.sin(),
                 T.nn.Identity(), lambda a: a * 2]
        seq = T.nn.Sequential(*(s if isinstance(s, T.nn.Module) else _Fn(T, s) for s in steps))
        kw = {} if use_reentrant is None else {"use_reentrant": use_reentrant}
        y = T.utils.checkpoint.checkpoint_sequential(seq, segments, x, **kw)
        z = T.utils.checkpoint.checkpoint_sequential(steps, segments, x, **kw)
        (y.sum() + z.sum()).backward()
        extra = T.utils.checkpoint.checkpoint_sequential
        return (y, z, node_name(y.grad_fn), [x.grad, w.grad], len(calls),
                attempt(extra, steps, 2, x, use_reentrant=False, bad=1))

    same(program)


def _Fn(T, fn):
    class Fn(T.nn.Module):
        def forward(self, a):
            return fn(a)

    return Fn()


def test_recomputation_mismatch_errors_end_with_torchs_debug_tip():
    def f(T):
        x, _ = _leaves(T)
        calls = []

        def shape_changes(t):  # saves a slice one longer on each call
            calls.append(1)
            return t[: len(calls)].exp().sum()

        def more_saved(t):  # saves one more tensor when recomputed
            calls.append(1)
            return t.exp().sum() if len(calls) == 1 else (t.exp() * t.sin()).sum()

        first = attempt(_ckpt(T)(shape_changes, x, use_reentrant=False).backward)
        calls.clear()
        second = attempt(_ckpt(T)(more_saved, x, use_reentrant=False).backward)
        return first, second

    same(f)
