"""F.ctc_loss and nn.CTCLoss against torch's (fixed seeds): values, gradients w.r.t. the
log-probabilities (torch's ctc_loss_backward: NaN rows for impossible alignments, zeros under
zero_infinity), grad_fn names, padded and concatenated targets, lengths as tensors or tuples,
unbatched input, blank, the three reductions, torch's errors for bad arguments and lengths,
the refused double backward, and gradcheck in float64."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad as dg
from test_added_surface import local_workers  # noqa: F401  (two in-process workers)

T_, N_, C_ = 7, 4, 5
TARGETS = [[1, 2, 2, 3], [1, 1, 1, 1], [4, 3, 0, 0], [2, 0, 0, 0]]

CASES = {
    "mean": dict(il=(7, 6, 5, 3), tl=(3, 4, 2, 1)),
    "none": dict(il=(7, 6, 5, 3), tl=(3, 4, 2, 1), reduction="none"),
    "sum": dict(il=(7, 6, 5, 3), tl=(3, 4, 2, 1), reduction="sum"),
    "tensor_lengths": dict(il=(7, 6, 5, 3), tl=(3, 4, 2, 1), tensors=True),
    "int32_tensor_lengths": dict(il=(7, 6, 5, 3), tl=(3, 4, 2, 1), tensors=True,
                                 length_dtype="int32", reduction="none"),
    "list_lengths": dict(il=[7, 6, 5, 3], tl=[3, 4, 2, 1], reduction="sum"),
    "concatenated": dict(il=(7, 6, 5, 3), tl=(3, 4, 2, 1), concat=True),
    "concatenated_none": dict(il=(7, 7, 7, 7), tl=(3, 2, 2, 1), concat=True, reduction="none"),
    "blank_last": dict(il=(7, 6, 5, 3), tl=(3, 4, 2, 1), blank=4, reduction="none",
                       targets=[[0, 1, 1, 2], [3, 3, 0, 1], [2, 2, 2, 0], [1, 0, 0, 0]]),
    "blank_middle": dict(il=(7, 6, 5, 4), tl=(4, 2, 3, 2), blank=2, reduction="mean",
                         targets=[[0, 1, 3, 4], [4, 4, 0, 0], [1, 0, 1, 0], [3, 1, 0, 0]]),
    # impossible alignments (too short for the targets): infinite losses, NaN gradient rows
    "impossible_none": dict(il=(7, 2, 5, 0), tl=(3, 4, 0, 0), reduction="none"),
    "impossible_mean": dict(il=(7, 2, 5, 3), tl=(3, 4, 2, 1)),
    "impossible_zero_infinity": dict(il=(7, 2, 5, 0), tl=(3, 4, 0, 1), reduction="none",
                                     zero_infinity=True),
    "impossible_zero_infinity_mean": dict(il=(7, 2, 5, 3), tl=(3, 4, 2, 1),
                                          zero_infinity=True),
    "zero_infinity_sum": dict(il=(7, 6, 5, 3), tl=(3, 4, 2, 1), reduction="sum",
                              zero_infinity=True),
    "empty_targets_and_inputs": dict(il=(0, 6, 1, 3), tl=(0, 0, 0, 1), reduction="mean"),
}


def _log_probs(M, dtype, seed=0, shape=(T_, N_, C_)):
    values = np.random.default_rng(seed).standard_normal(shape)
    x = M.tensor(values, dtype=getattr(M, dtype))
    return x.log_softmax(-1).detach().requires_grad_()


def _call(M, case, dtype, module=False):
    lp = _log_probs(M, dtype)
    targets = M.tensor(case.get("targets", TARGETS))
    il, tl = case["il"], case["tl"]
    if case.get("concat"):
        targets = M.cat([targets[b, :tl[b]] for b in range(N_)])
    if case.get("tensors"):
        ldt = getattr(M, case.get("length_dtype", "int64"))
        il, tl = M.tensor(il, dtype=ldt), M.tensor(tl, dtype=ldt)
    kw = {k: case[k] for k in ("blank", "reduction", "zero_infinity") if k in case}
    if module:
        out = M.nn.CTCLoss(**kw)(lp, targets, il, tl)
    else:
        out = M.nn.functional.ctc_loss(lp, targets, il, tl, **kw)
    weights = M.tensor(np.linspace(0.5, 1.5, out.numel()).reshape(tuple(out.shape)),
                       dtype=out.dtype)
    (grad,) = M.autograd.grad((out * weights).sum(), lp)
    return out, grad


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_are_torchs(name, dtype):
    case = CASES[name]
    t_out, t_grad = _call(torch, case, dtype)
    d_out, d_grad = _call(dg, case, dtype)
    assert d_out.dtype == getattr(dg, dtype) and tuple(d_out.shape) == tuple(t_out.shape)
    assert d_out.grad_fn.name() == t_out.grad_fn.name()
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), **tol)
    t_g, d_g = t_grad.numpy(), d_grad.numpy()
    assert np.array_equal(np.isnan(d_g), np.isnan(t_g))  # the same NaN rows
    np.testing.assert_allclose(d_g, t_g, equal_nan=True, **tol)


def test_impossible_alignment_gradient_rows():
    out, grad = _call(dg, CASES["impossible_none"], "float64")
    assert np.isinf(out.detach().numpy()[1])
    g = grad.numpy()
    assert np.isnan(g[:2, 1]).all() and (g[2:, 1] == 0).all()  # NaN to its length, then 0
    assert (g[:, 3] == 0).all()  # an empty input with an empty target: loss 0, gradient 0
    _, grad = _call(dg, CASES["impossible_zero_infinity"], "float64")
    assert (grad.numpy()[:, 1] == 0).all() and (grad.numpy()[:, 3] == 0).all()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_module_and_graph_are_torchs(reduction):
    case = dict(CASES["mean"], reduction=reduction, zero_infinity=True)
    t_out, t_grad = _call(torch, case, "float32", module=True)
    d_out, d_grad = _call(dg, case, "float32", module=True)
    np.testing.assert_allclose(d_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(d_grad.numpy(), t_grad.numpy(), rtol=1e-5, atol=1e-6)

    def chain(node):
        names = []
        while node is not None:
            names.append(node.name())
            nxt = [f for f, _ in node.next_functions if f is not None and
                   f.name() != "torch::autograd::AccumulateGrad"]
            node = nxt[0] if nxt else None
        return names

    assert chain(d_out.grad_fn) == chain(t_out.grad_fn)
    m = dg.nn.CTCLoss(blank=2, reduction=reduction, zero_infinity=True)
    assert repr(m) == repr(torch.nn.CTCLoss(blank=2, reduction=reduction)) == "CTCLoss()"
    assert (m.blank, m.reduction, m.zero_infinity) == (2, reduction, True)
    assert dg.nn.modules.loss.CTCLoss is dg.nn.CTCLoss


@pytest.mark.parametrize("lengths", ["tuple", "tensor", "0d_tensor"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_unbatched_input(lengths, reduction):
    results = []
    for M in (torch, dg):
        lp = _log_probs(M, "float64", seed=3, shape=(T_, C_))
        targets = M.tensor([1, 3, 3])
        il, tl = {"tuple": ((6,), (3,)), "tensor": (M.tensor([6]), M.tensor([3])),
                  "0d_tensor": (M.tensor(6), M.tensor(3))}[lengths]
        out = M.nn.functional.ctc_loss(lp, targets, il, tl, reduction=reduction)
        (grad,) = M.autograd.grad(out.sum(), lp)
        results.append((tuple(out.shape), out.grad_fn.name(), out.detach().numpy(),
                        grad.numpy()))
    assert results[1][:2] == results[0][:2]
    np.testing.assert_allclose(results[1][2], results[0][2], rtol=1e-10)
    np.testing.assert_allclose(results[1][3], results[0][3], rtol=1e-10, atol=1e-12)


def test_targets_of_other_integer_dtypes_and_float_targets():
    for dt in ("int32", "int16", "uint8", "float32"):
        outs = []
        for M in (torch, dg):
            lp = _log_probs(M, "float32")
            targets = M.tensor(TARGETS).to(getattr(M, dt))
            outs.append(M.nn.functional.ctc_loss(lp, targets, (7, 6, 5, 3), (3, 4, 2, 1))
                        .item())
        assert outs[1] == pytest.approx(outs[0], rel=1e-6)


def _error(M, f):
    try:
        f(M)
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, str(e)
    return None


def _lp(M, dtype="float32"):
    return _log_probs(M, dtype)


def _tg(M):
    return M.tensor(TARGETS)


F = lambda M: M.nn.functional  # noqa: E731

BAD = {
    "input_length_too_long": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (8, 6, 5, 3), (3, 3, 2, 1)),
    "input_length_negative": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (7, -1, 5, 3),
                                                     (3, 3, 2, 1)),
    "target_length_negative": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (7, 6, 5, 3),
                                                      (3, -2, 2, 1)),
    "target_length_too_long": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (7, 6, 5, 3),
                                                      (3, 5, 2, 1)),
    "concatenated_wrong_total": lambda M: F(M).ctc_loss(_lp(M), _tg(M).flatten(),
                                                        (7, 6, 5, 3), (3, 4, 2, 1)),
    "targets_wrong_batch": lambda M: F(M).ctc_loss(_lp(M), _tg(M)[:3], (7, 6, 5, 3),
                                                   (3, 4, 2, 1)),
    "input_lengths_size": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (7, 6, 5), (3, 4, 2, 1)),
    "target_lengths_size": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (7, 6, 5, 3), (3, 4, 2)),
    "input_lengths_size_tensor": lambda M: F(M).ctc_loss(_lp(M), _tg(M), M.tensor([7, 6]),
                                                         M.tensor([3, 4, 2, 1])),
    "float_input_lengths": lambda M: F(M).ctc_loss(_lp(M), _tg(M), M.tensor([7., 6, 5, 3]),
                                                   M.tensor([3, 4, 2, 1])),
    "float_target_lengths": lambda M: F(M).ctc_loss(_lp(M), _tg(M), M.tensor([7, 6, 5, 3]),
                                                    M.tensor([3., 4, 2, 1])),
    "blank_out_of_range": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (7, 6, 5, 3), (3, 4, 2, 1),
                                                  blank=5),
    "blank_negative": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (7, 6, 5, 3), (3, 4, 2, 1),
                                              blank=-1),
    "targets_3d": lambda M: F(M).ctc_loss(_lp(M), _tg(M)[None], (7, 6, 5, 3), (3, 4, 2, 1)),
    "targets_0d": lambda M: F(M).ctc_loss(_lp(M), M.tensor(1), (7, 6, 5, 3), (1, 1, 1, 1)),
    "log_probs_4d": lambda M: F(M).ctc_loss(_lp(M)[None], _tg(M), (7, 6, 5, 3), (3, 4, 2, 1)),
    "log_probs_1d": lambda M: F(M).ctc_loss(_lp(M)[:, 0, 0], _tg(M), (7,), (3,)),
    "log_probs_int": lambda M: F(M).ctc_loss(_lp(M).detach().long(), _tg(M), (7, 6, 5, 3),
                                             (3, 4, 2, 1)),
    "log_probs_half": lambda M: F(M).ctc_loss(_lp(M).detach().half(), _tg(M), (7, 6, 5, 3),
                                              (3, 4, 2, 1)),
    "bad_reduction": lambda M: F(M).ctc_loss(_lp(M), _tg(M), (7, 6, 5, 3), (3, 4, 2, 1),
                                             reduction="avg"),
    "order_lengths_integral_first": lambda M: F(M).ctc_loss(
        _lp(M).detach().long(), _tg(M), M.tensor([7., 6, 5, 3]), M.tensor([3, 4, 2, 1])),
    "order_target_lengths_before_sizes": lambda M: F(M).ctc_loss(
        _lp(M), _tg(M)[:3], (9, 6, 5, 3), (3, -1, 2, 1)),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_errors_are_torchs(name):
    expected = _error(torch, BAD[name])
    assert expected is not None
    assert _error(dg, BAD[name]) == expected


@pytest.mark.parametrize("name", ["mixed_length_kinds", "int_lengths", "float_tuple"])
def test_bad_length_kinds_raise_type_error(name):
    make = {"mixed_length_kinds": lambda M: (M.tensor([7, 6, 5, 3]), (3, 4, 2, 1)),
            "int_lengths": lambda M: (7, 3),
            "float_tuple": lambda M: ((7.0, 6, 5, 3), (3, 4, 2, 1))}[name]
    for M in (torch, dg):
        il, tl = make(M)
        with pytest.raises(TypeError, match="ctc_loss\\(\\) received an invalid combination of "
                                            "arguments"):
            M.nn.functional.ctc_loss(_lp(M), _tg(M), il, tl)


def test_double_backward_is_refused_as_torchs():
    errors = []
    for M in (torch, dg):
        lp = _lp(M, "float64")
        out = M.nn.functional.ctc_loss(lp, _tg(M), (7, 6, 5, 3), (3, 4, 2, 1))
        (g,) = M.autograd.grad(out, lp, create_graph=True)
        assert g.requires_grad
        with pytest.raises(RuntimeError) as e:
            g.sum().backward()
        errors.append(str(e.value))
    assert errors[1] == errors[0] == "derivative for aten::_ctc_loss_backward is not implemented"


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_gradcheck_float64(reduction, zero_infinity):
    targets = dg.tensor(TARGETS)

    def f(lp):
        return dg.nn.functional.ctc_loss(lp.log_softmax(-1), targets, (7, 6, 5, 3),
                                         (3, 3, 2, 1), reduction=reduction,
                                         zero_infinity=zero_infinity)

    x = dg.tensor(np.random.default_rng(5).standard_normal((T_, N_, C_)), dtype=dg.float64,
                  requires_grad=True)
    assert dg.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-6)

    # (torch's gradient holds for normalized log-probabilities, as log_softmax gives: its
    # exp(log_probs) term is their sum's derivative, so gradcheck goes through log_softmax)
    def g(lp):  # concatenated targets; under zero_infinity an impossible alignment
        return dg.nn.functional.ctc_loss(lp.log_softmax(-1), dg.tensor([1, 2, 3, 4, 4, 2, 1]),
                                         (7, 5, 1 if zero_infinity else 4, 2), (2, 2, 2, 1),
                                         reduction=reduction,
                                         blank=0 if zero_infinity else 3,
                                         zero_infinity=zero_infinity)

    assert dg.autograd.gradcheck(g, (x,), eps=1e-6, atol=1e-6)


def test_on_a_worker(local_workers):
    case = CASES["impossible_zero_infinity_mean"]
    t_out, t_grad = _call(torch, case, "float64")
    lp = _log_probs(dg, "float64").to("worker:1").detach().requires_grad_()
    targets = dg.tensor(TARGETS)  # (on the driver: taken to the worker, as torch moves them)
    out = dg.nn.functional.ctc_loss(lp, targets, case["il"], case["tl"], zero_infinity=True)
    assert out.device == dg.device("worker:1")
    (out * 0.5).backward()  # (_call's weight of a scalar loss)
    assert lp.grad.device == dg.device("worker:1")
    np.testing.assert_allclose(out.item(), t_out.item(), rtol=1e-12)
    np.testing.assert_allclose(lp.grad.cpu().numpy(), t_grad.numpy(), rtol=1e-10, atol=1e-12)
