"""torch.cond and torch.while_loop run eagerly, against torch: values, the one node that
stands for the branch or the loop, gradients through it, and torch's errors for what it
refuses (by exception class name and leading words)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad

X = np.array([1.0, 2.0, -0.5], np.float32)


@pytest.fixture(autouse=True, scope="module")
def _torch_as_it_was():
    """torch.cond and while_loop compile their regions, and torch's compiling turns off its
    distributions' argument validation for good: put it back for the tests that follow."""
    validate = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(validate)
    torch._dynamo.reset()


def _sides(requires_grad=True):
    return [(T, T.tensor(X, requires_grad=requires_grad)) for T in (distgrad, torch)]


def _same(d, t):
    np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("positive", [True, False])
def test_cond_value_node_and_gradient(positive):
    results = []
    for T, x in _sides():
        pred = x.sum() > 0 if positive else x.sum() < 0
        out = T.cond(pred, lambda a, b: (a.sin() * b, a + 1), lambda a, b: (a.cos(), b * 2),
                     (x, x * 3))
        (out[0] * out[1]).sum().backward()
        results.append((out, x.grad))
    (d_out, d_grad), (t_out, t_grad) = results
    assert type(d_out) is type(t_out)
    for d, t in zip(d_out, t_out):
        _same(d, t)
        assert d.grad_fn.name() == t.grad_fn.name() == "CondAutogradOpBackward"
    _same(d_grad, t_grad)


def test_cond_with_a_python_bool_calls_the_branch():
    (_, d), (_, t) = _sides()
    d_out, t_out = (T.cond(True, lambda a: a.exp(), lambda a: a, [x]) for T, x in ((distgrad, d),
                                                                                  (torch, t)))
    _same(d_out, t_out)
    assert d_out.grad_fn.name() == t_out.grad_fn.name() == "ExpBackward0"


def test_cond_without_grad_has_no_node():
    (_, d), (_, t) = _sides(requires_grad=False)
    d_out = distgrad.cond(d.sum() > 0, lambda a: a * 2, lambda a: a * 3, (d,))
    t_out = torch.cond(t.sum() > 0, lambda a: a * 2, lambda a: a * 3, (t,))
    _same(d_out, t_out)
    assert d_out.grad_fn is None and t_out.grad_fn is None


def test_while_loop_values_structure_and_gradient():
    results = []
    for T, x in _sides():
        out = T.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * y.cos()),
                           (T.tensor(0), x))
        out[1].sum().backward()
        results.append((out, x.grad))
    (d_out, d_grad), (t_out, t_grad) = results
    assert type(d_out) is type(t_out) and len(d_out) == 2
    assert d_out[0].item() == t_out[0].item() == 3 and d_out[0].grad_fn is None
    _same(d_out[1], t_out[1])
    assert d_out[1].grad_fn.name() == t_out[1].grad_fn.name() == "WhileLoopAutogradOpBackward"
    _same(d_grad, t_grad)


def test_while_loop_returns_as_the_body_does():
    for T in (distgrad, torch):
        x = T.tensor(X)
        bare = T.while_loop(lambda y: y.sum() < 10, lambda y: y * 2, (x,))
        assert isinstance(bare, T.Tensor) and bare.tolist() == [4.0, 8.0, -2.0]
        mixed = T.while_loop(lambda i, n: i < 3, lambda i, n: (i + 1, n * 2), (T.tensor(0), 3))
        assert mixed[0].item() == 3 and mixed[1] == 24


def _bad_calls(T):
    x = T.tensor(X)
    i = T.tensor(0)
    return {
        "cond_operands": lambda: T.cond(x.sum() > 0, T.sin, T.cos, x),
        "cond_number_operand": lambda: T.cond(x.sum() > 0, T.sin, T.cos, (x, 3)),
        "cond_pred_shape": lambda: T.cond(x > 0, T.sin, T.cos, (x,)),
        "cond_aliasing": lambda: T.cond(x.sum() > 0, T.sin, lambda a: a[:1], (x,)),
        "cond_dtypes": lambda: T.cond(x.sum() > 0, T.sin, lambda a: a.double(), (x,)),
        "while_count": lambda: T.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1,), (i, x)),
        "while_dtype": lambda: T.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y.double()),
                                            (i, x)),
        "while_shape": lambda: T.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y[:1] + 1),
                                            (i, x)),
        "while_cond_shape": lambda: T.while_loop(lambda i, y: y < 3, lambda i, y: (i + 1, y * 2),
                                                 (i, x)),
        "while_constant": lambda: T.while_loop(lambda i, y: 3, lambda i, y: (i + 1, y * 2),
                                               (i, x)),
    }


# the leading words compared (torch's name fake tensors where distgrad has its tensors)
PREFIX = {"while_count": 82, "while_dtype": 99, "while_shape": 99}


def _refusals(calls, name):
    """(torch's exception, distgrad's) for the call `name` of calls(module), of one type."""
    with pytest.raises(BaseException) as t_exc:
        calls(torch)[name]()
    with pytest.raises(BaseException) as d_exc:
        calls(distgrad)[name]()
    assert type(d_exc.value).__name__ == type(t_exc.value).__name__
    return t_exc.value, d_exc.value


@pytest.mark.parametrize("name", list(_bad_calls(torch)))
def test_refusals_match_torch(name):
    theirs, ours = _refusals(_bad_calls, name)
    assert isinstance(ours, RuntimeError)
    t_msg, d_msg = str(theirs), str(ours)
    if "Explanation" in t_msg:  # (torch's dynamo messages: the explanation, or the error in it)
        t_msg = t_msg.split("  Explanation: ")[1].split("\n")[0].split(" Found in")[0]
        if "got RuntimeError(" in t_msg:
            t_msg = t_msg.split("got RuntimeError(")[1]
        t_msg = t_msg.split("torch.Size([s")[0]  # (a size torch made symbolic after a retrace)
        assert t_msg in d_msg
        return
    n = PREFIX.get(name, 60)
    assert d_msg[:n] == t_msg[:n], f"distgrad: {d_msg!r}\ntorch:    {t_msg!r}"


def test_on_a_worker():
    import distgrad.distributed as dist

    started = not dist.is_initialized()
    if started:
        dist.init(num_workers=1, backend="local")
    try:
        x = distgrad.tensor(X, requires_grad=True)
        w = x.to("worker:0")
        out = distgrad.cond(w.sum() > 0, lambda a: a.sin(), lambda a: a.cos(), (w,))
        assert out.device_str == "worker:0"
        out.sum().backward()
        t = torch.tensor(X, requires_grad=True)
        torch.cond(t.sum() > 0, lambda a: a.sin(), lambda a: a.cos(), (t,)).sum().backward()
        _same(x.grad, t.grad)
        i, y = distgrad.while_loop(lambda i, y: i < 2, lambda i, y: (i + 1, y * 2),
                                   (distgrad.tensor(0, device="worker:0"), w))
        assert y.device_str == "worker:0" and y.cpu().tolist() == [4.0, 8.0, -2.0]
    finally:
        if started:
            dist.shutdown()


def test_a_leaf_still_steals_its_gradient_after_torch_refused_a_cond():
    """torch's compiler, failing in this process, leaves one more reference in every frame:
    distgrad's AccumulateGrad still keeps a gradient nothing else holds as the .grad (no
    clone), as torch's does."""
    from test_engine import test_linear_backward_copies_no_gradient

    x = torch.ones(3)
    with pytest.raises(RuntimeError):
        torch.cond(x.sum() > 0, torch.sin, lambda a: a.double(), (x,))
    test_linear_backward_copies_no_gradient()


def _refused_whole(T):
    x = T.tensor(X)
    return {
        "cond_dtypes": lambda: T.cond(x.sum() > 0, T.sin, lambda a: a.double(), (x,)),
        "cond_dims": lambda: T.cond(x.sum() > 0, T.sin, lambda a: (a * 2).unsqueeze(0), (x,)),
        "cond_dims_false": lambda: T.cond(x.sum() < 0, T.sin, lambda a: (a * 2).sum(), (x,)),
        "while_bare_tensor": lambda: T.while_loop(lambda y: y.sum() < 10, lambda y: (y * 2,), x),
        "while_bare_int": lambda: T.while_loop(lambda n: n < 10, lambda n: (n * 2,), 3),
        "while_none": lambda: T.while_loop(lambda n: n < 10, lambda n: (n * 2,), None),
    }


@pytest.mark.parametrize("name", list(_refused_whole(torch)))
def test_refusals_match_torchs_whole_message(name):
    """The type and the whole message, up to the trace of torch's own frames."""
    theirs, ours = _refusals(_refused_whole, name)
    assert str(ours) == str(theirs).split("\n\nfrom user code:")[0]
