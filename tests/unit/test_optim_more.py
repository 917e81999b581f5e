"""The optimizers beyond SGD and Adam against torch.optim: from the same parameters, with the
same gradients (a fixed function of each library's own parameters, so that only the update
rule can differ), each option set's parameters after every step; constructor errors, state
dicts and a resumed run as torch's."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad

SHAPES = [(8, 4), (8,), (3, 8), (3,)]  # a small MLP's weights and biases
STEPS = 8

# distgrad and torch compute the same float32 formulas op for op, except that torch's CPU
# kernels for addcmul_ and lerp_ (and add_ with alpha) fuse the multiply-add (one rounding,
# not two) where the CPU has FMA: a step may differ from torch's in the last bit.
RTOL, ATOL = 1e-6, 1e-7

CASES = [
    ("RMSprop", dict(lr=1e-2)),
    ("RMSprop", dict(lr=1e-2, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(lr=1e-2, momentum=0.9, centered=True)),
    ("RMSprop", dict(lr=1e-3, momentum=0.5, maximize=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.05, eps=1e-6, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    ("Adadelta", dict(lr=2.0, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adamax", dict(lr=1e-2, maximize=True)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=1e-2, betas=(0.8, 0.95), momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=1e-2)),
    # beta2 = 0.5: ρ_t passes 5 at step 4, so both branches run
    ("RAdam", dict(lr=1e-2, betas=(0.8, 0.5), weight_decay=0.1)),
    ("RAdam", dict(lr=1e-2, betas=(0.9, 0.6), weight_decay=0.1, decoupled_weight_decay=True,
                   maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2))),
    ("Rprop", dict(lr=0.01, maximize=True)),
    ("ASGD", dict()),
    # t0 = 3: averaging (μ < 1) starts within the run
    ("ASGD", dict(lr=0.05, lambd=0.1, alpha=0.5, t0=3, weight_decay=0.1)),
    ("ASGD", dict(lr=0.05, t0=2, maximize=True)),
    ("Adafactor", dict()),
    ("Adafactor", dict(lr=0.05, weight_decay=0.1, d=2.0, maximize=True)),
    ("Adafactor", dict(eps=(1e-20, 1e-4), beta2_decay=-0.5)),
    # torch's foreach steps: ASGD's update by addcmul_, Rprop's prev written more than once
    ("ASGD", dict(lr=0.05, lambd=0.1, t0=3, weight_decay=0.1, foreach=True)),
    ("Rprop", dict(lr=0.01, maximize=True, foreach=True)),
]


def _initial():
    rng = np.random.default_rng(0)
    return [rng.uniform(-1, 1, s).astype(np.float32) for s in SHAPES]


def _grad(value: np.ndarray, k: int, step: int) -> np.ndarray:
    """The gradient of parameter k at a step, from the parameter's value (as a loss's would
    be): a pull towards a target, some coordinates pushed away (their sign flips), noise."""
    rng = np.random.default_rng(100 * step + k)
    scale = np.where(np.arange(value.size).reshape(value.shape) % 3 == 0, -0.5, 2.0)
    noise = rng.standard_normal(value.shape).astype(np.float32) * np.float32(0.3)
    return (value - np.float32(0.25)) * scale.astype(np.float32) + noise


def _as_np(t) -> np.ndarray:
    return np.array(t.detach().numpy())


def _run(lib, name, kw, steps=STEPS, params=None, opt=None):
    """Each step's parameters, with the optimizer (a given one continues)."""
    if params is None:
        params = [lib.tensor(v, requires_grad=True) for v in _initial()]
    if opt is None:
        opt = getattr(lib.optim, name)(params, **kw)
    seen = []
    for step in range(steps):
        for k, p in enumerate(params):
            p.grad = lib.tensor(_grad(_as_np(p), k, step))
        opt.step()
        seen.append([_as_np(p) for p in params])
    return seen, opt, params


def _assert_close(got, expected, rtol=RTOL, atol=ATOL):
    for step, (g, e) in enumerate(zip(got, expected)):
        for k, (a, b) in enumerate(zip(g, e)):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol,
                                       err_msg=f"step {step}, parameter {k}")


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_steps_match_torch(name, kw):
    expected, theirs, _ = _run(torch, name, kw)
    got, ours, _ = _run(distgrad, name, kw)
    assert not np.array_equal(got[-1][0], _initial()[0])  # it moved
    _assert_close(got, expected)
    # each step's writes to the parameters and the state, counted as torch's
    writes = [[(p._version, {k: v._version for k, v in opt.state[p].items()})
               for group in opt.param_groups for p in group["params"]] for opt in (ours, theirs)]
    assert writes[0] == writes[1]


@pytest.mark.parametrize("name", sorted({n for n, _ in CASES}))
def test_state_dict_matches_torch(name):
    kw = dict(CASES[[n for n, _ in CASES].index(name)][1])
    _, theirs, _ = _run(torch, name, kw, steps=3)
    _, ours, _ = _run(distgrad, name, kw, steps=3)
    so, st = ours.state_dict(), theirs.state_dict()
    assert so["param_groups"] == st["param_groups"]
    assert sorted(so["state"]) == sorted(st["state"])
    for k, state in st["state"].items():
        assert list(so["state"][k]) == list(state)
        for key, v in state.items():
            mine = so["state"][k][key]
            assert mine.dtype.type_name == v.type() and tuple(mine.shape) == tuple(v.shape), key
            np.testing.assert_allclose(mine.numpy(), v.numpy(), rtol=1e-5, atol=1e-7,
                                       err_msg=key)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("name,kw", [CASES[2], CASES[5], CASES[14], CASES[17], CASES[20],
                                     CASES[23]], ids=lambda c: str(c))
def test_resumes_from_state_dict(name, kw):
    """Three steps, a new optimizer given the state dict (another lr in its constructor),
    five more: the parameters of the run without a break."""
    whole, _, _ = _run(distgrad, name, kw)
    first, opt, params = _run(distgrad, name, kw, steps=3)
    clones = [distgrad.tensor(_as_np(p), requires_grad=True) for p in params]
    opt2 = getattr(distgrad.optim, name)(clones, **dict(kw, lr=123.0))
    opt2.load_state_dict(opt.state_dict())
    assert opt2.param_groups[0]["lr"] == kw.get("lr", opt.defaults["lr"])

    rest = []
    for step in range(3, STEPS):
        for k, p in enumerate(clones):
            p.grad = distgrad.tensor(_grad(_as_np(p), k, step))
        opt2.step()
        rest.append([_as_np(p) for p in clones])
    for a, b in zip(first + rest, whole):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


# what torch's __setstate__ fills into a group saved by an older torch, per optimizer
_NEWER_KEYS = ["nesterov", "amsgrad", "momentum", "centered", "maximize", "foreach",
               "capturable", "differentiable", "fused", "decoupled_weight_decay"]


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", {}),
                                     ("AdamW", {}), CASES[2], CASES[4], CASES[7], CASES[10],
                                     CASES[13], CASES[16], CASES[19], CASES[22]],
                         ids=lambda c: str(c))
def test_loads_a_state_dict_of_an_older_torch(name, kw):
    """A state dict whose groups lack the newer keys and whose step counts (and NAdam's
    mu_product, ASGD's eta and mu) are numbers: loaded, the group filled in and the numbers
    made tensors as torch's, the steps after it torch's."""
    seen = []
    for lib in (torch, distgrad):
        _, opt, params = _run(lib, name, kw, steps=2)
        saved = opt.state_dict()
        for group in saved["param_groups"]:
            for key in _NEWER_KEYS:
                if key != "momentum" or name == "RMSprop":
                    group.pop(key, None)
        for state in saved["state"].values():
            for key in ("step", "mu_product", "eta", "mu"):
                if key in state:
                    state[key] = state[key].item()
        opt2 = getattr(lib.optim, name)(params, **kw)
        opt2.load_state_dict(saved)
        after, _, _ = _run(lib, name, kw, steps=2, params=params, opt=opt2)
        loaded = opt2.state_dict()
        state = {k: (v.dtype.type_name if isinstance(v, distgrad.Tensor) else v.type())
                 for k, v in loaded["state"][0].items() if k in ("step", "mu_product", "eta")}
        seen.append((loaded["param_groups"], state, after))
    assert seen[1][:2] == seen[0][:2]
    _assert_close(seen[1][2], seen[0][2])


def test_param_groups_and_a_param_without_grad():
    """Two groups with their own lr, and a parameter whose grad is None (left as it is,
    without state), as torch."""
    results = []
    for lib in (torch, distgrad):
        ps = [lib.tensor(v, requires_grad=True) for v in _initial()]
        opt = lib.optim.NAdam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.1}], lr=0.01)
        for step in range(4):
            for k, p in enumerate(ps[:3]):
                p.grad = lib.tensor(_grad(_as_np(p), k, step))
            opt.step()
        results.append(([_as_np(p) for p in ps], sorted(opt.state_dict()["state"])))
    _assert_close([results[1][0]], [results[0][0]])
    assert results[1][1] == results[0][1] == [0, 1, 2]


def test_adagrad_state_exists_before_a_step():
    for lib in (torch, distgrad):
        p = lib.ones(2, requires_grad=True)
        opt = lib.optim.Adagrad([p], initial_accumulator_value=0.25)
        assert opt.state[p]["sum"].tolist() == [0.25, 0.25] and opt.state[p]["step"].item() == 0


def test_defaults_match_torch():
    for name in sorted({n for n, _ in CASES}):
        ours = getattr(distgrad.optim, name)([distgrad.zeros(1, requires_grad=True)])
        theirs = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)])
        assert ours.defaults == theirs.defaults, name


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "ASGD",
                                  "LBFGS", "NAdam", "RAdam", "RMSprop", "Rprop"])
def test_lr_given_as_a_tensor_as_torch(name):
    # a 0-dim tensor is taken (as the number it holds); more numbers refused in torch's words
    seen = []
    for lib in (torch, distgrad):
        p = lib.ones(3, requires_grad=True)
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            opt = getattr(lib.optim, name)([p], lr=lib.tensor(0.01))
            if name != "LBFGS":
                p.grad = lib.tensor([1.0, -2.0, 0.5])
                opt.step()
        assert not warned, [str(w.message) for w in warned]
        errors = []
        for kw in [dict(lr=lib.tensor([0.1, 0.2])), dict(lr=lib.tensor(0.1), foreach=True)]:
            try:
                getattr(lib.optim, name)([p], **kw)
            except Exception as e:
                errors.append((type(e).__name__, str(e)))
        seen.append((p.tolist(), errors))
    np.testing.assert_allclose(seen[1][0], seen[0][0], rtol=1e-6)
    assert seen[1][1] == seen[0][1]


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_betas_given_as_tensors_as_torch(name, amsgrad):
    # torch's Adam takes betas (and lr) as 1-element tensors, kept 0-dim in the group, and
    # refuses a float mixed with a tensor and tensors to a foreach step that is not capturable
    seen = []
    for lib in (torch, distgrad):
        p = lib.ones(3, requires_grad=True)
        opt = getattr(lib.optim, name)([p], lr=lib.tensor([0.05]), amsgrad=amsgrad,
                                       betas=(lib.tensor([0.8]), lib.tensor(0.9)))
        for _ in range(3):
            p.grad = lib.tensor([1.0, -2.0, 0.5])
            opt.step()
        errors = []
        for kw in [dict(betas=(0.9, lib.tensor(0.99))), dict(betas=(lib.tensor([0.9, 0.8]), 0.9)),
                   dict(betas=(lib.tensor(0.9), lib.tensor(0.9)), foreach=True),
                   dict(betas=(lib.tensor([[0.9]]), lib.tensor([0.9, 0.8]))), dict(betas=(0.9, 1))]:
            try:
                getattr(lib.optim, name)([p], **kw)
            except Exception as e:
                errors.append((type(e).__name__, str(e)))
        betas = opt.param_groups[0]["betas"]
        seen.append((p.tolist(), [tuple(b.shape) for b in betas], errors))
    np.testing.assert_allclose(seen[1][0], seen[0][0], rtol=1e-6)
    assert seen[1][1:] == seen[0][1:]


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"])
def test_betas_given_as_a_list_kept_as_torch(name):
    # torch's Adam (and AdamW) turns a list into a tuple; the others keep the list
    seen = []
    for lib in (torch, distgrad):
        opt = getattr(lib.optim, name)([lib.zeros(1, requires_grad=True)], betas=[0.8, 0.9])
        seen.append((opt.defaults["betas"], opt.state_dict()["param_groups"][0]["betas"]))
    assert seen[1] == seen[0] and type(seen[1][1]) is type(seen[0][1])


@pytest.mark.parametrize("build", [
    lambda o, p: o.RMSprop([p], lr=-1.0),
    lambda o, p: o.RMSprop([p], eps=-1.0),
    lambda o, p: o.RMSprop([p], momentum=-0.5),
    lambda o, p: o.RMSprop([p], weight_decay=-1.0),
    lambda o, p: o.RMSprop([p], alpha=-0.1),
    lambda o, p: o.Adagrad([p], lr=-1.0),
    lambda o, p: o.Adagrad([p], lr_decay=-1.0),
    lambda o, p: o.Adagrad([p], weight_decay=-1.0),
    lambda o, p: o.Adagrad([p], initial_accumulator_value=-1.0),
    lambda o, p: o.Adagrad([p], eps=-1.0),
    lambda o, p: o.Adadelta([p], lr=-1.0),
    lambda o, p: o.Adadelta([p], rho=1.5),
    lambda o, p: o.Adadelta([p], eps=-1.0),
    lambda o, p: o.Adadelta([p], weight_decay=-1.0),
    lambda o, p: o.Adamax([p], lr=-1.0),
    lambda o, p: o.Adamax([p], eps=-1.0),
    lambda o, p: o.Adamax([p], betas=(1.0, 0.9)),
    lambda o, p: o.Adamax([p], betas=(0.9, -0.1)),
    lambda o, p: o.Adamax([p], weight_decay=-1.0),
    lambda o, p: o.NAdam([p], lr=-1.0),
    lambda o, p: o.NAdam([p], betas=(0.9, 1.0)),
    lambda o, p: o.NAdam([p], weight_decay=-1.0),
    lambda o, p: o.NAdam([p], momentum_decay=-1.0),
    lambda o, p: o.RAdam([p], eps=-1.0),
    lambda o, p: o.RAdam([p], betas=(-0.1, 0.9)),
    lambda o, p: o.RAdam([p], weight_decay=-1.0),
    lambda o, p: o.Rprop([p], lr=-1.0),
    lambda o, p: o.Rprop([p], etas=(1.5, 1.2)),
    lambda o, p: o.Rprop([p], etas=(0.5, 0.9)),
    lambda o, p: o.ASGD([p], lr=-1.0),
    lambda o, p: o.ASGD([p], weight_decay=-1.0),
    lambda o, p: o.Adafactor([p], lr=-1.0),
    lambda o, p: o.Adafactor([p], beta2_decay=0.5),
    lambda o, p: o.Adafactor([p], eps=(-1.0, 1e-3)),
    lambda o, p: o.Adafactor([p], eps=(None, -1.0)),
    lambda o, p: o.Adafactor([p], d=0.5),
    lambda o, p: o.Adafactor([p], weight_decay=-1.0),
    lambda o, p: o.RMSprop([], lr=0.1),
])
def test_errors_match_torch(build):
    seen = []
    for lib in (torch, distgrad):
        p = lib.ones(2, requires_grad=True)
        with pytest.raises(Exception) as info:
            build(lib.optim, p)
        seen.append((type(info.value).__name__, str(info.value)))
    assert seen[1] == seen[0]


def _lbfgs_run(T, dtype, steps, **kw):
    """A logistic regression fitted by LBFGS: the parameters, the loss each step returned,
    and the evaluation and iteration counts."""
    rng = np.random.default_rng(5)
    x = T.tensor(rng.standard_normal((16, 4)), dtype=dtype)
    y = T.tensor((rng.random(16) > 0.5).astype(np.float64), dtype=dtype)
    w = T.tensor([0.5, -1.0, 0.25, 2.0], dtype=dtype, requires_grad=True)
    b = T.zeros(1, dtype=dtype, requires_grad=True)
    opt = T.optim.LBFGS([w, b], **kw)
    out = []
    for _ in range(steps):
        def closure():
            opt.zero_grad()
            loss = T.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y) + 0.1 * (w * w).sum()
            loss.backward()
            return loss
        loss = opt.step(closure)
        state = opt.state[w]
        out.append((loss.item(), w.detach().numpy().copy(), b.detach().numpy().copy(),
                    state["func_evals"], state["n_iter"]))
    return out


@pytest.mark.parametrize("kw", [{}, {"line_search_fn": "strong_wolfe"},
                                {"lr": 0.3, "max_iter": 6, "history_size": 2},
                                {"line_search_fn": "strong_wolfe", "history_size": 3,
                                 "max_iter": 4, "max_eval": 5}])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_lbfgs_steps_match_torch(kw, dtype):
    tol = {"float64": 1e-9, "float32": 2e-5}[dtype]
    steps = 3
    if dtype == "float32":  # (near convergence, float32 roundoff decides when a step stops)
        kw, steps = {**kw, "max_iter": min(kw.get("max_iter", 20), 5)}, 1
    want = _lbfgs_run(torch, getattr(torch, dtype), steps, **kw)
    got = _lbfgs_run(distgrad, getattr(distgrad, dtype), steps, **kw)
    for (lw, ww, bw, ew, nw), (lg, wg, bg, eg, ng) in zip(want, got):
        assert (eg, ng) == (ew, nw)
        np.testing.assert_allclose(lg, lw, rtol=tol)
        np.testing.assert_allclose(wg, ww, rtol=tol, atol=tol)
        np.testing.assert_allclose(bg, bw, rtol=tol, atol=tol)


def test_lbfgs_refuses_what_torch_refuses():
    for T in (torch, distgrad):
        a, c = T.zeros(2, requires_grad=True), T.zeros(1, requires_grad=True)
        with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
            T.optim.LBFGS([{"params": [a]}, {"params": [c]}])
        with pytest.raises(ValueError, match="Invalid learning rate: -1"):
            T.optim.LBFGS([a], lr=-1)
        opt = T.optim.LBFGS([a], line_search_fn="wolfe")

        def closure():
            opt.zero_grad()
            loss = ((a - 1) ** 2).sum()
            loss.backward()
            return loss
        with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
            opt.step(closure)


def test_sparse_adam_refuses_dense_gradients_as_torch():
    """SparseAdam takes dense parameters and steps over sparse gradients only: distgrad's
    are dense, so a step with one raises torch's words (a step without any does nothing)."""
    for T in (torch, distgrad):
        w = T.nn.Parameter(T.ones(3, 2))
        opt = T.optim.SparseAdam([w], lr=0.1, betas=(0.8, 0.9))
        assert opt.defaults == {"lr": 0.1, "betas": (0.8, 0.9), "eps": 1e-8, "maximize": False}
        assert opt.step(lambda: 7) == 7
        for kw, message in (({"lr": 0.0}, "Invalid learning rate: 0.0"),
                            ({"eps": 0.0}, "Invalid epsilon value: 0.0"),
                            ({"betas": (0.5, 1.0)}, "Invalid beta parameter at index 1: 1.0")):
            with pytest.raises(ValueError, match=f"^{message}$"):
                T.optim.SparseAdam([w], **kw)
        (w * 2).sum().backward()
        with pytest.raises(RuntimeError, match="^SparseAdam does not support dense gradients, "
                                               "please consider Adam instead$"):
            opt.step()
        assert w.detach().sum().item() == 6.0 and opt.state == {}


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "NAdam", "RAdam", "Adamax", "ASGD",
                                  "Rprop", "Adadelta"])
@pytest.mark.parametrize("foreach", [None, True])
def test_a_capturable_step_is_refused_off_torchs_capturing_devices(name, foreach):
    """capturable=True steps only on cuda/xpu/hpu (torch's single-tensor step lists xla too,
    in most optimizers): the state exists by then, no step is counted."""
    seen = []
    for T in (torch, distgrad):
        p = T.nn.Parameter(T.ones(2))
        opt = getattr(T.optim, name)([p], lr=0.1, capturable=True, foreach=foreach)
        assert opt.step() is None  # (no gradient: nothing to refuse)
        p.grad = T.ones(2)
        with pytest.raises(AssertionError) as raised:
            opt.step()
        seen.append((str(raised.value), sorted(opt.state[p]), float(opt.state[p]["step"]),
                     p.detach().tolist()))
    assert seen[0] == seen[1]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name, options", [("Adam", {"amsgrad": True}), ("Adagrad", {}),
                                           ("Adamax", {}), ("NAdam", {})])
def test_half_precision_steps_round_once_as_torchs_addcdiv(dtype, name, options):
    """torch steps these by addcdiv_, which computes a half-precision parameter's update in
    float32 and rounds once: the same bits, not the last bit off."""
    seen = []
    for T in (torch, distgrad):
        T.manual_seed(1)
        p = T.nn.Parameter(T.randn(64).to(getattr(T, dtype)))
        opt = getattr(T.optim, name)([p], lr=0.1, **options)
        for _ in range(3):
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()
        seen.append(p.detach().float().tolist())
    assert seen[0] == seen[1]
