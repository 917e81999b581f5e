"""distgrad.nn against torch.nn: functionals (values, grads, grad_fn names, errors),
Module bookkeeping, state_dict, zero_grad, to()."""
from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch

import distgrad
import distgrad.nn as dnn
import distgrad.nn.functional as DF
import torch.nn.functional as TF

RNG = np.random.default_rng(1234)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def rand01(*shape):
    return RNG.uniform(0.05, 0.95, shape).astype(np.float32)


def labels(n, c, shape=None):
    return RNG.integers(0, c, shape if shape is not None else (n,)).astype(np.int64)


class Grad:
    """An input that requires grad."""

    def __init__(self, value):
        self.value = value


def _make(mod, a):
    if a is None:
        return None
    if isinstance(a, Grad):
        return mod.tensor(a.value, requires_grad=True)
    if isinstance(a, np.ndarray):
        return mod.tensor(a)
    return a


def check(fn, args, kwargs=None, atol=1e-5, rtol=1e-4, node=True):
    """Run F.<fn>(*args, **kwargs) in torch and distgrad; compare value, grad_fn, grads."""
    kwargs = kwargs or {}
    results = {}
    for name, mod, F in (("torch", torch, TF), ("distgrad", distgrad, DF)):
        inputs = [_make(mod, a) for a in args]
        kw = {k: _make(mod, v) for k, v in kwargs.items()}  # arrays become tensors
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = getattr(F, fn)(*inputs, **kw)
        grads = []
        if out.requires_grad:
            seed = np.random.default_rng(7).standard_normal(tuple(out.shape)).astype(np.float32)
            out.backward(mod.tensor(seed))
            grads = [t.grad.detach().numpy() if t.grad is not None else None
                     for t, a in zip(inputs, args) if isinstance(a, Grad)]
        results[name] = (out.detach().numpy(), out.grad_fn.name() if out.grad_fn else None, grads,
                         tuple(out.shape))
    (tv, tn, tg, ts), (dv, dn, dg, ds) = results["torch"], results["distgrad"]
    assert ds == ts
    np.testing.assert_allclose(dv, tv, atol=atol, rtol=rtol)
    if node:
        assert dn == tn
    assert len(dg) == len(tg)
    for a, b in zip(dg, tg):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, atol=atol, rtol=rtol)


def same_error(fn, args, kwargs=None):
    """Both raise the same exception type with the same message."""
    kwargs = kwargs or {}
    seen = []
    for mod, F in ((torch, TF), (distgrad, DF)):
        inputs = [_make(mod, a) for a in args]
        kw = {k: _make(mod, v) for k, v in kwargs.items()}
        with pytest.raises(Exception) as info:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                getattr(F, fn)(*inputs, **kw)
        seen.append((type(info.value).__name__, str(info.value)))
    assert seen[1] == seen[0], seen


REDUCTIONS = ["mean", "sum", "none"]

# ---- linear and activations ------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 5, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    check("linear", [Grad(randn(*shape)), Grad(randn(6, 3)), Grad(randn(6)) if bias else None])


def test_linear_graph_is_addmm():
    w, b = distgrad.randn(4, 3, requires_grad=True), distgrad.randn(4, requires_grad=True)
    y = DF.linear(distgrad.randn(2, 3), w, b)
    assert y.grad_fn.name() == "AddmmBackward0"
    names = [n.name() if n is not None else None for n, _ in y.grad_fn.next_functions]
    assert names[0].endswith("AccumulateGrad") and names[1] is None and names[2] == "TBackward0"
    y3 = DF.linear(distgrad.randn(5, 2, 3), w, b)
    assert y3.grad_fn.name() == "ViewBackward0"
    assert y3.grad_fn.next_functions[0][0].name() == "AddmmBackward0"


@pytest.mark.parametrize("strided", ["expanded", "stepped", "transposed"])
def test_linear_of_a_strided_input_multiplies_then_adds_the_bias_as_torch(strided):
    # torch flattens only a contiguous input (not 2-d) for one addmm; another goes through
    # matmul (a 1-d one unsqueezed) and an added bias, whose nodes a write names
    # (fuzzer seed 22195169)
    import torch

    def chain(T):
        w = T.tensor(np.arange(15.0).reshape(5, 3) / 7, requires_grad=True)
        x = T.tensor(np.arange(12.0) / 5, requires_grad=True)
        x = {"expanded": x[:1].expand(3), "stepped": x[::4],
             "transposed": x.view(2, 2, 3).transpose(0, 1)}[strided]
        y = T.nn.functional.linear(x, w, T.ones(5))
        names, node = [], y.grad_fn
        while node is not None:
            names.append(node.name())
            node = next((n for n, _ in node.next_functions if n is not None), None)
        return names, y.detach().numpy().round(5).tolist()

    assert chain(distgrad) == chain(torch)


def test_linear_shape_error():
    same_error("linear", [randn(2, 3), randn(4, 5), randn(4)])
    same_error("linear", [randn(2, 7, 3), randn(4, 5), randn(4)])


@pytest.mark.parametrize("fn", ["relu", "sigmoid", "tanh"])
def test_activations(fn):
    check(fn, [Grad(randn(3, 4))])


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax(fn, dim):
    check(fn, [Grad(randn(3, 4))], {"dim": dim})


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 4), (2, 2, 3, 4)])
def test_softmax_implicit_dim(fn, shape):
    x = randn(*shape)
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {fn}"):
        ours = getattr(DF, fn)(distgrad.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(TF, fn)(torch.tensor(x))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_relu_inplace():
    x = distgrad.randn(3, 4)
    y = x * 1
    assert DF.relu(y, inplace=True) is y
    np.testing.assert_array_equal(y.detach().numpy(), np.maximum(x.numpy(), 0))


# ---- regression losses ------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss"])
def test_regression_losses(fn, reduction):
    check(fn, [Grad(randn(3, 4)), Grad(randn(3, 4))], {"reduction": reduction})


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss"])
def test_regression_losses_weighted(fn, reduction):
    # torch 2.13's weighted form is a composite (grad_fn names differ by Mul/DivBackward1)
    check(fn, [Grad(randn(3, 4)), Grad(randn(3, 4))],
          {"reduction": reduction, "weight": rand01(3, 4)}, node=False)
    same_error(fn, [randn(3, 4), randn(3, 4)], {"weight": rand01(4)})


@pytest.mark.parametrize("fn", ["mse_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
                                "binary_cross_entropy_with_logits"])
def test_mean_loss_of_nothing_is_nan_without_a_warning(fn):
    def program(T):
        x = T.ones(0, 3, requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = getattr(T.nn.functional, fn)(x.sigmoid(), x.detach())
            loss.backward()
        return loss.dtype, loss.shape, loss.isnan().item(), x.grad.shape, len(caught)
    assert repr(program(distgrad)) == repr(program(torch))


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss"])
def test_regression_broadcast_warns(fn):
    x, y = randn(3, 4), randn(4)
    with pytest.warns(UserWarning, match="Using a target size"):
        getattr(DF, fn)(distgrad.tensor(x), distgrad.tensor(y))
    check(fn, [Grad(x), Grad(y)])
    same_error(fn, [randn(2, 3), randn(2, 4)])


def test_l1_loss_grad_fn_is_composite():
    x, y = distgrad.randn(3, requires_grad=True), distgrad.randn(3)
    assert DF.l1_loss(x, y).grad_fn.name() == "MeanBackward0"
    assert DF.l1_loss(x, y, reduction="sum").grad_fn.name() == "SumBackward0"
    assert DF.l1_loss(x, y, reduction="none").grad_fn.name() == "AbsBackward0"


@pytest.mark.parametrize("fn", ["mse_loss", "l1_loss", "binary_cross_entropy",
                                "binary_cross_entropy_with_logits", "cross_entropy", "nll_loss"])
def test_bad_reduction(fn):
    if fn in ("cross_entropy", "nll_loss"):
        args = [randn(2, 3), labels(2, 3)]
    else:
        args = [rand01(2, 3), rand01(2, 3)]
    same_error(fn, args, {"reduction": "bad"})


def test_legacy_size_average():
    x, y = randn(3, 4), randn(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for kw in ({"size_average": False}, {"reduce": False}):
            ours = DF.mse_loss(distgrad.tensor(x), distgrad.tensor(y), **kw)
            theirs = TF.mse_loss(torch.tensor(x), torch.tensor(y), **kw)
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5)


# ---- binary classification ----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_cross_entropy(reduction, weighted):
    w = rand01(4) if weighted else None  # broadcast over rows, expanded as torch does
    check("binary_cross_entropy", [Grad(rand01(3, 4)), Grad(rand01(3, 4)), w],
          {"reduction": reduction})


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, (3, 4), (1, 4)])
@pytest.mark.parametrize("pos_weight", [None, (4,), (3, 4)])
def test_bce_with_logits(reduction, weight, pos_weight):
    check("binary_cross_entropy_with_logits",
          [Grad(randn(3, 4) * 3), Grad(rand01(3, 4)), rand01(*weight) if weight else None],
          {"reduction": reduction,
           "pos_weight": rand01(*pos_weight) * 3 if pos_weight else None})


def test_bce_size_errors():
    same_error("binary_cross_entropy", [rand01(2, 3), rand01(3)])
    same_error("binary_cross_entropy_with_logits", [randn(2, 3), rand01(3)])


def test_bce_grad_fn_names():
    x = distgrad.tensor(rand01(3), requires_grad=True)
    y = distgrad.tensor(rand01(3))
    assert DF.binary_cross_entropy(x, y).grad_fn.name() == "BinaryCrossEntropyBackward0"
    assert DF.binary_cross_entropy_with_logits(x, y).grad_fn.name() == \
        "BinaryCrossEntropyWithLogitsBackward0"


# ---- classification over classes ---------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
def test_nll_loss(reduction, weighted, ignore):
    t = labels(5, 4)
    kw = {"reduction": reduction}
    if ignore:
        t[1] = 2
        kw["ignore_index"] = 2
    lp = np.log(rand01(5, 4))
    check("nll_loss", [Grad(lp), t, rand01(4) if weighted else None], kw)


def test_nll_loss_single_sample():
    check("nll_loss", [Grad(np.log(rand01(4))), np.array(2)])


def test_class_loss_target_dims_errors():
    same_error("nll_loss", [np.log(rand01(4)), np.array([2, 1])])
    same_error("nll_loss", [np.array(0.5, np.float32), np.array(0)])
    for scores in (randn(3, 2), randn(2)):  # one target per sample at most
        same_error("nll_loss", [scores, labels(0, 2, (len(scores) if scores.ndim == 2 else 1, 1))])
    same_error("cross_entropy", [randn(3, 2), labels(0, 2, (3, 1))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_kdim(reduction):
    # (N, C, d) goes through the (N*d, C) op: same values and grads, another grad_fn name.
    check("nll_loss", [Grad(np.log(rand01(2, 4, 3))), labels(0, 4, (2, 3)), rand01(4)],
          {"reduction": reduction}, node=False)


def test_nll_kdim_target_error():
    same_error("nll_loss", [randn(2, 3, 4), labels(0, 3, (2, 3))])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_indices(reduction, weighted):
    check("cross_entropy", [Grad(randn(5, 4)), labels(5, 4), rand01(4) if weighted else None],
          {"reduction": reduction})


def test_cross_entropy_ignore_index():
    t = labels(6, 3)
    t[[0, 4]] = -100
    check("cross_entropy", [Grad(randn(6, 3)), t])
    t[[0, 4]] = 1
    check("cross_entropy", [Grad(randn(6, 3)), t, rand01(3)], {"ignore_index": 1})


@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.1}, {"reduction": "none"},
                                {"weight": [1.0, 2.0, 3.0]}])
def test_cross_entropy_every_target_ignored(kw):
    # the mean over no targets is nan, but torch leaves the ignored rows' gradient 0
    def run(lib):
        x = lib.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3),
                       requires_grad=True)
        args = {k: lib.tensor(v) if k == "weight" else v for k, v in kw.items()}
        loss = lib.nn.functional.cross_entropy(x, lib.tensor([-100, -100, -100, -100]), **args)
        loss.sum().backward()
        return loss.detach().numpy(), x.grad.numpy()
    (tl, tg), (dl, dg) = run(torch), run(distgrad)
    np.testing.assert_array_equal(dl, tl)
    np.testing.assert_array_equal(dg, tg)
    assert not np.signbit(dg).any()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_grad_of_the_other_classes_is_plus_zero(reduction):
    # print(x.grad) shows 0.0000 in torch where a product gave -0.0000
    def run(lib):
        x = lib.tensor([[0.2, 0.8], [0.6, 0.4]], requires_grad=True)
        loss = lib.nn.functional.nll_loss(x.log(), lib.tensor([1, 0]),
                                          weight=lib.tensor([1.0, 2.0]), reduction=reduction)
        loss.sum().backward()
        return x.grad.numpy()
    ours, theirs = run(distgrad), run(torch)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))


def test_nll_loss_nan_grad_of_ignored_sample_stays_out():
    def run(lib):
        x = lib.tensor([[1.0, 2.0], [0.5, 0.0]], requires_grad=True)
        loss = lib.nn.functional.nll_loss(x.log_softmax(1), lib.tensor([1, -100]), reduction="none")
        (loss * lib.tensor([1.0, float("nan")])).sum().backward()
        return x.grad.numpy()
    np.testing.assert_allclose(run(distgrad), run(torch), rtol=1e-6)


def test_cross_entropy_single_sample():
    check("cross_entropy", [Grad(randn(4)), np.array(3)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probabilities(reduction, weighted):
    p = rand01(5, 4)
    p /= p.sum(1, keepdims=True)
    check("cross_entropy", [Grad(randn(5, 4)), Grad(p), rand01(4) if weighted else None],
          {"reduction": reduction})


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_label_smoothing(reduction, weighted):
    t = labels(6, 4)
    t[2] = -100
    check("cross_entropy", [Grad(randn(6, 4)), t, rand01(4) if weighted else None],
          {"reduction": reduction, "label_smoothing": 0.2})
    p = rand01(6, 4)
    p /= p.sum(1, keepdims=True)
    check("cross_entropy", [Grad(randn(6, 4)), Grad(p), rand01(4) if weighted else None],
          {"reduction": reduction, "label_smoothing": 0.2})


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_probabilities_saves_what_torch_saves(label_smoothing):
    """torch's C++ composite divides by the sample count through div's Scalar overload:
    DivBackward1 keeps the number, no tensor, so a backward that stops at the loss
    (inputs=[loss]) frees nothing a later pass through the loss needs (fuzz seed
    22114014); the smoothing's scale and shift are MulBackward1 and AddBackward1."""
    def walk(node, seen):
        if node is None or node in seen:
            return []
        seen.add(node)
        return [node.name()] + [n for child, _ in node.next_functions for n in walk(child, seen)]

    def run(lib):
        x = lib.tensor([0.64, 1.82, -1.69], requires_grad=True)
        t = lib.tensor([-0.36, -0.87, -0.06], requires_grad=True)
        loss = lib.nn.functional.cross_entropy(x, t.softmax(-1), label_smoothing=label_smoothing)
        nodes = walk(loss.grad_fn, set())
        (loss.unsqueeze(0) ** 2).sum().backward(inputs=[loss])
        grads = lib.autograd.grad(loss * loss, [x, t])
        return nodes, [g.numpy() for g in grads]

    (d_nodes, d_grads), (t_nodes, t_grads) = run(distgrad), run(torch)
    assert d_nodes == t_nodes
    for d, t in zip(d_grads, t_grads):
        np.testing.assert_allclose(d, t, rtol=1e-5, atol=1e-6)


def test_cross_entropy_kdim():
    check("cross_entropy", [Grad(randn(2, 4, 3)), labels(0, 4, (2, 3))], node=False)


def test_cross_entropy_grad_fn():
    x = distgrad.randn(3, 4, requires_grad=True)
    loss = DF.cross_entropy(x, distgrad.tensor([0, 3, 1]))
    assert loss.grad_fn.name() == "NllLossBackward0"
    assert loss.grad_fn.next_functions[0][0].name() == "LogSoftmaxBackward0"


@pytest.mark.parametrize("args,kwargs", [
    ([randn(2, 3), np.array([0, 1, 2])], {}),
    ([randn(2, 3), randn(2, 3)], {"ignore_index": 1}),
    ([randn(2, 3), np.array([[0, 1, 2], [0, 1, 1]])], {}),
    ([randn(2, 3), np.array([0, 1])], {"label_smoothing": 1.5}),
    ([randn(2, 3), np.array([0.0, 1.0], np.float32)], {}),
])
def test_cross_entropy_errors(args, kwargs):
    same_error("cross_entropy", args, kwargs)


# ---- Parameter and Module -----------------------------------------------------------------


def test_parameter():
    p = dnn.Parameter(distgrad.ones(2))
    assert isinstance(p, dnn.Parameter) and isinstance(p, distgrad.Tensor)
    assert p.requires_grad and p.is_leaf
    assert repr(p) == repr(torch.nn.Parameter(torch.ones(2)))
    assert str(p) == repr(p)
    assert type(p * 2) is distgrad.Tensor
    assert type(p.detach()) is distgrad.Tensor and type(p.data) is distgrad.Tensor
    assert not dnn.Parameter(distgrad.ones(2), requires_grad=False).requires_grad
    q = copy.deepcopy(p)
    assert isinstance(q, dnn.Parameter) and q is not p and q.requires_grad
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, dnn.Parameter) and r.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="Only Tensors of floating point"):
        dnn.Parameter(distgrad.tensor([1, 2]))


def _pair_models(seed=0):
    """The same MLP in distgrad and torch (torch gets distgrad's initial weights)."""
    distgrad.manual_seed(seed)
    ours = dnn.Sequential(dnn.Linear(3, 8), dnn.ReLU(), dnn.Linear(8, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    with torch.no_grad():
        for (n1, p1), (n2, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert n1 == n2
            p2.copy_(torch.tensor(p1.detach().numpy()))
    return ours, theirs


def test_module_repr_matches_torch():
    ours = dnn.Sequential(dnn.Linear(2, 3), dnn.ReLU(),
                          dnn.Sequential(dnn.Tanh(), dnn.Linear(3, 1, bias=False)), dnn.Sigmoid())
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Tanh(),
                                                     torch.nn.Linear(3, 1, bias=False)),
                                 torch.nn.Sigmoid())
    assert repr(ours) == repr(theirs)
    for name in ("MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss", "Identity", "Flatten"):
        assert repr(getattr(dnn, name)()) == repr(getattr(torch.nn, name)())
    assert repr(dnn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))
    assert repr(dnn.Softmax(dim=1)) == repr(torch.nn.Softmax(dim=1))
    ml = dnn.ModuleList([dnn.Linear(2, 2) for _ in range(3)] + [dnn.ReLU()])
    tl = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU()])
    assert repr(ml) == repr(tl)


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 1, "max_norm": 1.0},
                                {"norm_type": 1.0, "scale_grad_by_freq": True, "sparse": True}])
def test_embedding_repr_matches_torch(kw):
    assert repr(dnn.Embedding(5, 3, **kw)) == repr(torch.nn.Embedding(5, 3, **kw))


# The modules of the more activations and losses: torch's constructor arguments, repr, and
# forward (through a product first, so that an in-place one writes a non-leaf).
MORE_MODULES = [
    ("LeakyReLU", ()), ("LeakyReLU", (0.2, True)), ("ELU", ()), ("ELU", (0.5, True)),
    ("SELU", ()), ("SELU", (True,)), ("CELU", (2.0,)), ("CELU", (0.5, True)), ("Softplus", ()),
    ("Softplus", (2, 10)), ("Hardtanh", ()), ("Hardtanh", (-2.0, 0.5, True)), ("ReLU6", ()),
    ("ReLU6", (True,)), ("LogSigmoid", ()), ("Softsign", ()), ("Hardsigmoid", ()),
    ("Hardsigmoid", (True,)), ("Hardswish", (True,)), ("Mish", ()), ("Mish", (True,)),
    ("Threshold", (0.1, 20)), ("Threshold", (-0.5, 0.25, True)), ("Softmin", (1,)),
    ("SmoothL1Loss", ()), ("SmoothL1Loss", (None, None, "sum", 0.5)), ("HuberLoss", ()),
    ("HuberLoss", ("none", 2)), ("KLDivLoss", (None, None, "batchmean")),
    ("KLDivLoss", (None, None, "sum", True)), ("CosineSimilarity", ()),
    ("CosineSimilarity", (0, 1e-3)),
]
TWO_INPUTS = ("SmoothL1Loss", "HuberLoss", "KLDivLoss", "CosineSimilarity")


@pytest.mark.parametrize("name,args", MORE_MODULES, ids=lambda v: str(v))
def test_more_modules_match_torch(name, args):
    theirs, ours = getattr(torch.nn, name)(*args), getattr(dnn, name)(*args)
    assert repr(ours) == repr(theirs)
    arrays = [randn(3, 4) * 3 for _ in range(2 if name in TWO_INPUTS else 1)]
    results = []
    for lib, module in ((torch, theirs), (distgrad, ours)):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = module(*[t * 1 for t in leaves])
        out.backward(lib.ones_like(out))
        results.append((out.detach().numpy(), out.grad_fn.name(),
                        [t.grad.numpy() for t in leaves]))
    (tv, tn, tg), (dv, dn, dg) = results
    np.testing.assert_allclose(dv, tv, rtol=1e-5, atol=1e-6)
    assert dn == tn
    for d, t in zip(dg, tg):
        np.testing.assert_allclose(d, t, rtol=1e-5, atol=1e-6)


def test_more_modules_refuse_as_torch():
    with pytest.raises(AssertionError, match=r"max_val \(1.0\) must be greater than min_val"):
        dnn.Hardtanh(1.0, 1.0)
    with pytest.raises(TypeError, match="delta must be a float or int"):
        dnn.HuberLoss(delta="1")
    with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
        assert repr(dnn.Hardtanh(min_value=-2.0)) == "Hardtanh(min_val=-2.0, max_val=1.0)"


@pytest.mark.parametrize("fn,args", [
    ("leaky_relu", (0.2,)), ("elu", ()), ("selu", ()), ("celu", (0.5,)), ("hardtanh", ()),
    ("relu6", ()), ("hardsigmoid", ()), ("hardswish", ()), ("mish", ()), ("threshold", (0.1, 2.0)),
    ("silu", ()),
])
def test_inplace_activations_write_their_input(fn, args):
    x = distgrad.tensor(randn(3, 4) * 4, requires_grad=True)
    y = x * 1
    assert getattr(DF, fn)(y, *args, inplace=True) is y
    t = torch.tensor(x.detach().numpy(), requires_grad=True)
    expected = getattr(TF, fn)(t * 1, *args, inplace=True)
    assert y.grad_fn.name() == expected.grad_fn.name()
    np.testing.assert_allclose(y.detach().numpy(), expected.detach().numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        getattr(DF, fn)(x, *args, inplace=True)


@pytest.mark.parametrize("fn,args", [("threshold", (0.1, 2.0)), ("relu", ()),
                                     ("hardtanh", ()), ("leaky_relu", (0.2,))])
def test_inplace_activations_on_an_expanded_input(fn, args):
    """torch's in-place threshold writes an input whose elements share memory (each gets
    one value); the other in-place activations refuse it. (fuzzer seed 22594711)"""
    def run(T, F):
        e = T.tensor([0.5, -1.0, 2.0]).expand(2, -1)
        try:
            return getattr(F, fn)(e, *args, inplace=True).tolist()
        except RuntimeError as err:
            return str(err)

    assert run(distgrad, DF) == run(torch, TF)


def _what_backward_sees(T, fn, args):
    """Through an in-place activation of a view: (did backward raise after a write to the
    result, how many times a hook on the view's old history saw a second derivative)."""
    F = DF if T is distgrad else TF
    x = T.tensor([[-0.57, -1.48, 0.0], [0.98, -1.24, 0.2]], requires_grad=True)
    y = getattr(F, fn)(x * 1.5, *args, inplace=True)
    loss = (y * y).sum()
    y.mul_(2)
    try:
        loss.backward()
        raised = False
    except RuntimeError as e:
        raised = "modified by an inplace operation" in str(e)
    seen = []
    view = (x * 1)[0]
    view.register_hook(seen.append)
    getattr(F, fn)(view, *args, inplace=True)
    g, = T.autograd.grad(((view * view) ** 2).sum(), x, create_graph=True)
    first = len(seen)
    T.autograd.grad((g * g).sum(), x)
    return raised, len(seen) - first


@pytest.mark.parametrize("fn,args", [
    ("leaky_relu", (0.2,)), ("elu", ()), ("elu", (0.5,)), ("selu", ()), ("celu", (0.5,)),
    ("hardtanh", ()), ("relu", ()), ("threshold", (0.1, 2.0)), ("silu", ()),
])
def test_inplace_activations_save_what_torchs_save(fn, args):
    """torch's in-place leaky_relu, elu, selu and celu save their result, not their input:
    a later write to it is caught at backward, and a second derivative goes to its history
    (not to the written view's old one, whose hook then stays silent)."""
    assert _what_backward_sees(distgrad, fn, args) == _what_backward_sees(torch, fn, args)


@pytest.mark.parametrize("fn,args", [("leaky_relu", (0.2,)), ("elu", (0.7,)), ("selu", ()),
                                     ("celu", (0.5,))])
def test_inplace_activations_derivatives_from_their_result(fn, args):
    def grads(T, F):
        x = T.tensor([[-0.57, -1.48, 0.0], [0.98, -1.24, 0.2]], dtype=T.float64,
                     requires_grad=True)
        y = getattr(F, fn)(x * 1.5, *args, inplace=True)
        g, = T.autograd.grad((y ** 3).sum(), x, create_graph=True)
        g2, = T.autograd.grad((g * g.sin()).sum(), x)
        return g.detach().numpy(), g2.numpy()

    for mine, theirs in zip(grads(distgrad, DF), grads(torch, TF)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_are_torchs(mode):
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    np.testing.assert_array_equal(DF.pad(distgrad.tensor(x), (2, 1), mode=mode).numpy(),
                                  torch.nn.functional.pad(torch.tensor(x), (2, 1), mode=mode))


def test_kl_div_mean_warns_as_torch():
    x, y = randn(2, 3), rand01(2, 3)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        DF.kl_div(distgrad.tensor(x), distgrad.tensor(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DF.kl_div(distgrad.tensor(x), distgrad.tensor(y), reduction="batchmean")


def test_linear_init_bounds_and_shapes():
    distgrad.manual_seed(3)
    lin = dnn.Linear(16, 5)
    assert lin.weight.shape == (5, 16) and lin.bias.shape == (5,)
    assert lin.weight.dtype is distgrad.float32
    bound = 1 / 4
    w = lin.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(lin.bias.detach().numpy()).max() <= bound
    distgrad.manual_seed(3)
    again = dnn.Linear(16, 5)
    np.testing.assert_array_equal(again.weight.detach().numpy(), w)
    assert dnn.Linear(4, 2, bias=False).bias is None
    assert dnn.Linear(4, 2, dtype=distgrad.float64).weight.dtype is distgrad.float64


def test_module_registration_and_traversal():
    class Net(dnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = dnn.Linear(3, 4)
            self.act = dnn.ReLU()
            self.fc2 = dnn.Linear(4, 1)
            self.scale = dnn.Parameter(distgrad.ones(1))
            self.register_buffer("steps", distgrad.zeros(1))
            self.register_buffer("scratch", distgrad.zeros(1), persistent=False)
            self.note = "plain attribute"

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x))) * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert len(list(net.parameters())) == 5
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "fc2"]
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Linear", "ReLU", "Linear"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "scratch"]
    assert list(net.state_dict()) == ["scale", "steps", "fc1.weight", "fc1.bias", "fc2.weight",
                                      "fc2.bias"]
    assert net.note == "plain attribute"
    assert net(distgrad.randn(2, 3)).shape == (2, 1)
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'nope'"):
        net.nope
    with pytest.raises(TypeError, match="cannot assign 'torch.FloatTensor' as parameter 'scale'"):
        net.scale = distgrad.ones(1)
    del net.fc2
    assert "fc2.weight" not in dict(net.named_parameters())
    # shared parameters are listed once
    seq = dnn.Sequential(net.fc1, net.fc1)
    assert len(list(seq.parameters())) == 2


def test_train_eval():
    m = dnn.Sequential(dnn.Linear(2, 2), dnn.Sequential(dnn.ReLU()))
    assert m.training and m[1][0].training
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())


def test_sequential_indexing():
    layers = [dnn.Linear(2, 3), dnn.ReLU(), dnn.Linear(3, 1)]
    seq = dnn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    sub = seq[1:]
    assert isinstance(sub, dnn.Sequential) and list(sub) == layers[1:]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        seq[3]
    seq.append(dnn.Sigmoid())
    assert len(seq) == 4
    x = distgrad.randn(5, 2)
    np.testing.assert_allclose(seq(x).detach().numpy(),
                               layers[2](layers[1](layers[0](x))).sigmoid().detach().numpy())


def test_forward_matches_torch():
    ours, theirs = _pair_models()
    x = randn(7, 3)
    np.testing.assert_allclose(ours(distgrad.tensor(x)).detach().numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip():
    a, _ = _pair_models(seed=1)
    b, _ = _pair_models(seed=2)
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert all(not t.requires_grad and type(t) is distgrad.Tensor for t in sd.values())
    assert a.state_dict(keep_vars=True)["0.weight"] is a[0].weight
    weight_before = b[0].weight
    result = b.load_state_dict(sd)
    assert repr(result) == "<All keys matched successfully>"
    assert b[0].weight is weight_before and b[0].weight.requires_grad and b[0].weight.is_leaf
    for (n, p), q in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # the copy is a copy: changing a does not change b
    with distgrad.no_grad():
        a[0].weight.add_(1.0)
    assert not np.array_equal(a[0].weight.detach().numpy(), b[0].weight.detach().numpy())


def test_load_state_dict_errors_match_torch():
    def run(mod, sd_fn, **kw):
        lin = mod.nn.Linear(2, 3)
        try:
            return repr(lin.load_state_dict(sd_fn(mod), **kw))
        except RuntimeError as e:
            return str(e)

    cases = [
        (lambda m: {"weight": m.ones(3, 2)}, {}),
        (lambda m: {"weight": m.ones(3, 3), "bias": m.ones(3), "x": m.ones(1)}, {}),
        (lambda m: {"weight": m.ones(3, 2)}, {"strict": False}),
        (lambda m: {"weight": m.ones(3, 2), "bias": m.ones(3), "x": m.ones(1)},
         {"strict": False}),
    ]
    for sd_fn, kw in cases:
        assert run(distgrad, sd_fn, **kw) == run(torch, sd_fn, **kw)


def test_zero_grad_set_to_none():
    m = dnn.Linear(3, 2)
    m(distgrad.randn(4, 3)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and not m.weight.grad.numpy().any()
    assert not m.weight.grad.requires_grad
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_module_to_cpu():
    m, _ = _pair_models()
    params = list(m.parameters())
    before = [p.detach().numpy().copy() for p in params]
    m(distgrad.randn(2, 3)).sum().backward()
    assert m.to("cpu") is m and m.cpu() is m
    assert m.to(distgrad.device("cpu")) is m
    after = list(m.parameters())
    assert all(p is q for p, q in zip(params, after))
    for p, v in zip(after, before):
        assert isinstance(p, dnn.Parameter) and p.is_leaf and p.requires_grad
        assert str(p.device) == "cpu" and p.grad is not None
        np.testing.assert_array_equal(p.detach().numpy(), v)


def test_module_to_empty_as_torch():
    """Module.to_empty(device=, recurse=) (torch's: fresh uninitialized tensors of the same
    shapes and dtypes, the Parameter objects kept, grads too; keyword-only device)."""
    def run(lib):
        m = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.BatchNorm1d(3))
        w, old = m[0].weight, m[1].running_mean
        m[0].weight.grad = lib.ones(3, 2)
        shallow = m.to_empty(device="cpu", recurse=False) is m and m[1].running_mean is old
        out = m.to_empty(device="cpu")
        state = [(k, tuple(v.shape), str(v.dtype), v.requires_grad, type(v).__name__)
                 for k, v in m.state_dict(keep_vars=True).items()]
        errors = []
        for call in (lambda: m.to_empty("cpu"), lambda: m.to_empty()):
            try:
                call()
            except TypeError as e:
                errors.append(str(e).replace("distgrad", "torch"))
        return (out is m, shallow, m[0].weight is w, m[1].running_mean is not old,
                tuple(m[0].weight.grad.shape), state, errors)

    assert run(distgrad) == run(torch)


def test_module_to_dtype():
    m = dnn.Linear(3, 2)
    w = m.weight
    m.register_buffer("count", distgrad.tensor([1, 2]))
    m.to(distgrad.float64)
    assert m.weight is w and m.weight.dtype is distgrad.float64 and m.weight.requires_grad
    assert m.count.dtype is distgrad.int64  # only floating tensors change dtype
    y = m(distgrad.randn(4, 3, dtype=distgrad.float64))
    y.sum().backward()
    assert m.weight.grad.dtype is distgrad.float64


def test_loss_modules():
    x, t = randn(5, 4), labels(5, 4)
    w = rand01(4)
    pairs = [
        (dnn.MSELoss(), torch.nn.MSELoss(), randn(5, 4)),
        (dnn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), randn(5, 4)),
        (dnn.CrossEntropyLoss(weight=distgrad.tensor(w), label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1), t),
        (dnn.NLLLoss(), torch.nn.NLLLoss(), t),
        (dnn.BCEWithLogitsLoss(pos_weight=distgrad.tensor(w)),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(w)), rand01(5, 4)),
        (dnn.BCELoss(), torch.nn.BCELoss(), rand01(5, 4)),
    ]
    for ours, theirs, target in pairs:
        inp = rand01(5, 4) if isinstance(ours, dnn.BCELoss) else x
        a = ours(distgrad.tensor(inp), distgrad.tensor(target))
        b = theirs(torch.tensor(inp), torch.tensor(target))
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert list(dnn.CrossEntropyLoss(weight=distgrad.ones(3)).state_dict()) == ["weight"]


def test_module_deepcopy_and_pickle():
    m = dnn.Sequential(dnn.Linear(2, 3), dnn.ReLU())
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert repr(clone) == repr(m)
        assert isinstance(clone[0].weight, dnn.Parameter) and clone[0].weight is not m[0].weight
        assert clone[0].weight.requires_grad
        np.testing.assert_array_equal(clone[0].weight.detach().numpy(),
                                      m[0].weight.detach().numpy())


def test_deepcopy_of_a_parameter_leaves_its_grad_behind():
    # an EMA copy made mid-training has no .grad in torch; a plain tensor's copy keeps it
    got = []
    for lib in (torch, distgrad):
        m = lib.nn.Linear(2, 1)
        m(lib.ones(1, 2)).sum().backward()
        t = lib.ones(2, requires_grad=True)
        (t * 3).sum().backward()
        got.append((copy.deepcopy(m).weight.grad, copy.deepcopy(t).grad.tolist()))
    assert got[1] == got[0] == (None, [3.0, 3.0])


def test_module_to_int_dtype_error():
    with pytest.raises(TypeError, match="nn.Module.to only accepts floating point or complex "
                                        "dtypes, but got desired dtype=torch.int64"):
        dnn.Linear(2, 3).to(distgrad.int64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_hardsigmoid_gradient_rounds_as_torchs(dtype):
    # torch's kernel multiplies by a float32 sixth, in float64 too (fuzzer seed 20001495)
    xs, gs = np.linspace(-3.5, 3.5, 101).tolist(), np.linspace(-2, 5, 101).tolist()
    grads = []
    for T, F in ((torch, TF), (distgrad, DF)):
        x = T.tensor(xs, dtype=getattr(T, dtype), requires_grad=True)
        (F.hardsigmoid(x) * T.tensor(gs, dtype=getattr(T, dtype))).sum().backward()
        grads.append(x.grad.tolist())
    assert grads[0] == grads[1]
