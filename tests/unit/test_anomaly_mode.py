"""Anomaly detection (`autograd.detect_anomaly`, `set_detect_anomaly`) against real torch:
the nan error names the node and its output, the forward stack of the failing node (and,
in a graph of the gradient, of the node whose backward made it) comes as warnings, and
nothing happens with the mode off."""

import warnings

import pytest

from torch_twin import Raised, attempt, run

TRIGGERED = " (Triggered internally at"


def sqrt_times_zero(torch, x):
    return (x.sqrt() * 0).sum()


def nan_function(torch):
    class NanSecond(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g, g * float("nan")

    return NanSecond


def sqrt_in_backward(torch):
    class SqrtInBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.sqrt() * 0

    return SqrtInBackward


def both(fn):
    """fn(module) under torch and distgrad: (result, [(category, message)]) each, messages
    without torch's C++ suffix."""
    import distgrad
    import torch

    out = []
    for mod in (torch, distgrad):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = fn(mod)
            except Exception as exc:
                result = Raised(exc)
        # (a ResourceWarning is an earlier test's file closed by the garbage collector now)
        out.append((result, [(w.category.__name__, str(w.message).split(TRIGGERED)[0])
                             for w in caught if w.category is not ResourceWarning]))
    return out


def stack_lines(message):
    """The `File ..., in ...` lines of a stack warning (torch lists its own Python frames
    too; distgrad lists only the user's)."""
    return [ln.strip() for ln in message.splitlines()
            if ln.strip().startswith("File") and "site-packages/torch" not in ln]


def test_a_nan_from_a_builtin_node_raises_with_the_forward_stack():
    def scenario(torch):
        x = torch.tensor([0.0, 1.0], requires_grad=True)
        with torch.autograd.detect_anomaly():
            y = sqrt_times_zero(torch, x)
            y.backward()

    (t_res, t_warn), (d_res, d_warn) = both(scenario)
    assert t_res.type == d_res.type == "RuntimeError"
    assert d_res.message == t_res.message == \
        "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert d_warn == t_warn  # the mode's warning, then the stack: file, lines and code
    assert t_warn[0] == ("UserWarning", "Anomaly Detection has been enabled. This mode will "
                         "increase the runtime and should only be enabled for debugging.")
    assert t_warn[1][1].startswith("Error detected in SqrtBackward0. Traceback of forward call")
    assert "x.sqrt() * 0" in d_warn[1][1]


def test_a_custom_function_returning_nan_names_its_output():
    def scenario(torch):
        x = torch.tensor([0.5, 1.0], requires_grad=True)
        with torch.autograd.set_detect_anomaly(True):
            y = nan_function(torch).apply(x, x).sum()
            y.backward()

    (t_res, t_warn), (d_res, d_warn) = both(scenario)
    assert d_res.message == t_res.message == \
        "Function 'NanSecondBackward' returned nan values in its 1th output."
    assert [w[0] for w in d_warn] == [w[0] for w in t_warn] == ["UserWarning"]
    assert d_warn[0][1].startswith("Error detected in NanSecondBackward. Traceback of forward")
    assert stack_lines(d_warn[0][1]) == stack_lines(t_warn[0][1])


def test_nan_in_a_graph_of_the_gradient_names_the_node_that_made_it():
    def scenario(torch):
        x = torch.tensor([0.0, 1.0], requires_grad=True)
        with torch.autograd.set_detect_anomaly(True):
            y = sqrt_in_backward(torch).apply(x).sum()
            (g,) = torch.autograd.grad(y, x, create_graph=True)
            g.sum().backward()

    (t_res, t_warn), (d_res, d_warn) = both(scenario)
    assert d_res.message == t_res.message == \
        "Function 'SqrtBackward0' returned nan values in its 0th output."
    assert len(d_warn) == len(t_warn) == 2
    assert d_warn[1][1].startswith("\n\nPrevious calculation was induced by SqrtInBackward"
                                   "Backward. Traceback of forward call that induced the "
                                   "previous calculation:\n")
    for ours, theirs in zip(d_warn, t_warn):
        assert ours[1].split(":")[0] == theirs[1].split(":")[0]
        assert stack_lines(ours[1]) == stack_lines(theirs[1])


def test_other_errors_in_a_node_come_with_its_stack_too():
    def scenario(torch):
        x = torch.tensor([0.5, 1.0], requires_grad=True)
        with torch.autograd.set_detect_anomaly(True):
            y = x * 1
            z = (y * y).sum()
            with torch.no_grad():
                y.add_(1)
            z.backward()

    (t_res, t_warn), (d_res, d_warn) = both(scenario)
    assert d_res.type == t_res.type == "RuntimeError"
    assert d_res.message == t_res.message  # (its hint points at the stack above)
    assert d_warn == t_warn


def test_check_nan_false_and_mode_off_raise_nothing():
    def scenario(torch):
        out = []
        x = torch.tensor([0.0, 1.0], requires_grad=True)
        with torch.autograd.set_detect_anomaly(True, check_nan=False):
            out.append((torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()))
            sqrt_times_zero(torch, x).backward()
        out.append(x.grad)
        x.grad = None
        sqrt_times_zero(torch, x).backward()
        out.append(x.grad)
        out.append(nan_function(torch).apply(x, x).sum().backward())
        out.append((torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()))
        return out

    (t_res, t_warn), (d_res, d_warn) = both(scenario)
    assert t_warn == d_warn == []
    assert [str(r.tolist()) if hasattr(r, "tolist") else r for r in d_res] == \
        [str(r.tolist()) if hasattr(r, "tolist") else r for r in t_res]


def test_set_detect_anomaly_as_a_function_and_detect_anomaly_not_a_decorator():
    def scenario(torch):
        out = []
        torch.autograd.set_detect_anomaly(True)
        out.append(torch.is_anomaly_enabled())
        torch.autograd.set_detect_anomaly(False)
        out.append(torch.is_anomaly_enabled())
        torch.set_anomaly_enabled(True, False)
        out.append((torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()))
        torch.set_anomaly_enabled(False)

        def inside():
            return torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()

        out.append(attempt(torch.autograd.detect_anomaly(check_nan=False), inside))
        with torch.autograd.detect_anomaly(check_nan=False):
            out.append(inside())
        out.append(inside())
        return out

    (t_res, t_warn), (d_res, d_warn) = both(scenario)
    assert d_res[:3] + d_res[4:] == t_res[:3] + t_res[4:] and d_warn == t_warn
    assert d_res[3].type == t_res[3].type == "TypeError"


@pytest.mark.parametrize("mode", ["detect", "set"])
def test_the_stack_is_recorded_only_in_anomaly_mode(mode):
    import distgrad

    x = distgrad.tensor([1.0], requires_grad=True)
    assert getattr((x * 2).grad_fn, "_anomaly", None) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ctx = distgrad.autograd.detect_anomaly() if mode == "detect" else \
            distgrad.autograd.set_detect_anomaly(True)
    with ctx:
        node = (x * 2).grad_fn
    assert "x * 2" in node._anomaly[0]
    assert not distgrad.is_anomaly_enabled()


def test_the_error_without_a_recorded_stack():
    def scenario(torch):
        x = torch.tensor([0.0, 1.0], requires_grad=True)
        y = sqrt_times_zero(torch, x)
        with torch.autograd.set_detect_anomaly(True):
            return attempt(y.backward)

    (t_res, t_warn), (d_res, d_warn) = both(scenario)
    assert d_res.message == t_res.message and d_warn == t_warn


def test_twin_run_helper_sees_the_same_error():
    # (the common torch_twin runner: the same exception type and message)
    def scenario(torch):
        x = torch.tensor([0.0, 4.0], dtype=torch.float64, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.autograd.detect_anomaly():
                (x.log() * 0).sum().backward()

    import distgrad
    import torch

    (t, _), (d, _) = run(scenario, torch), run(scenario, distgrad)
    assert t.type == d.type and t.message == d.message


def test_a_nodes_metadata_keeps_its_forward_stack_and_parent():
    """torch keeps the forward stack in `grad_fn.metadata["traceback_"]` (and the node whose
    backward made a node of a gradient's graph in "parent_")."""
    def scenario(torch):
        x = torch.tensor([0.5, 1.0], requires_grad=True)
        with torch.autograd.set_detect_anomaly(True):
            y = x * 2
            (g,) = torch.autograd.grad((y * y).sum(), x, create_graph=True)
        plain = (x * 3).grad_fn.metadata
        return (sorted(y.grad_fn.metadata), y.grad_fn.metadata["traceback_"][-1],
                sorted(g.grad_fn.metadata), g.grad_fn.metadata["parent_"].name(), plain)

    (t_res, _), (d_res, _) = both(scenario)
    assert d_res == t_res


def test_a_batched_backward_has_no_nan_check_in_anomaly_mode():
    # torch runs is_grads_batched and jacobian(vectorize=True) under its legacy vmap, where
    # the nan check's .item() has no batching rule: an error, in anomaly mode only
    def scenario(torch):
        x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
        AF, out = torch.autograd.functional, []
        for mode, check_nan in ((True, True), (True, False), (False, True)):
            with torch.autograd.set_detect_anomaly(mode, check_nan=check_nan):
                out += [attempt(torch.autograd.grad, x * 2, x, torch.eye(3),
                                is_grads_batched=True),
                        attempt(AF.jacobian, lambda v: v.sin() * v, x, vectorize=True),
                        attempt(AF.jacobian, lambda v: v.sin() * v, x),
                        attempt(AF.hessian, lambda v: v.sin().sum(), x, vectorize=True),
                        torch.func.vmap(torch.func.grad(lambda w: (w * w).sum()))(
                            x.detach().expand(2, 3))]
        return out

    (t_res, _), (d_res, _) = both(scenario)
    assert repr(d_res) == repr(t_res)
