"""distgrad.optim against torch.optim: the same MLP from the same weights, trained 20
steps, gives the same loss curve and weights; state, zero_grad and errors as torch's."""
from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch

import distgrad
import distgrad.nn as dnn
import distgrad.nn.functional as DF

STEPS = 20


def _models(seed=0):
    """The MLP in both libraries, torch's weights copied from distgrad's initialisation."""
    distgrad.manual_seed(seed)
    ours = dnn.Sequential(dnn.Linear(4, 16), dnn.ReLU(), dnn.Linear(16, 3))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 3))
    with torch.no_grad():
        for p, q in zip(ours.parameters(), theirs.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    return ours, theirs


def _data(seed=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((32, 4)).astype(np.float32)
    y_reg = rng.standard_normal((32, 3)).astype(np.float32)
    y_cls = rng.integers(0, 3, 32).astype(np.int64)
    return x, y_reg, y_cls


def _train(lib, model, opt_cls, opt_kw, loss_name, steps=STEPS):
    """Loss per step, and the final weights, for one library."""
    F = DF if lib is distgrad else torch.nn.functional
    x, y_reg, y_cls = _data()
    xt = lib.tensor(x)
    yt = lib.tensor(y_cls if loss_name == "cross_entropy" else y_reg)
    opt = opt_cls(model.parameters(), **opt_kw)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = getattr(F, loss_name)(model(xt), yt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses), [p.detach().numpy().copy() for p in model.parameters()], opt


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.9, maximize=False)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2)),
    ("Adam", dict(lr=1e-2, betas=(0.3, 0.9), amsgrad=True)),
    ("Adam", dict(lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True)),
]


@pytest.mark.parametrize("loss_name", ["mse_loss", "cross_entropy"])
@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_loss_curve_matches_torch(name, kw, loss_name):
    ours, theirs = _models()
    before = [[p._version for p in m.parameters()] for m in (ours, theirs)]
    ours_losses, ours_w, ours_opt = _train(distgrad, ours, getattr(distgrad.optim, name), kw,
                                           loss_name)
    torch_losses, torch_w, torch_opt = _train(torch, theirs, getattr(torch.optim, name), kw,
                                              loss_name)
    assert ours_losses[-1] < ours_losses[0]  # it trains
    np.testing.assert_allclose(ours_losses, torch_losses, rtol=1e-5, atol=1e-6)
    for a, b in zip(ours_w, torch_w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # each in-place write of a step counted as torch's (AdamW's decay is a write of its own)
    writes = [[p._version - v for p, v in zip(m.parameters(), vs)]
              for m, vs in zip((ours, theirs), before)]
    assert writes[0] == writes[1]
    assert [{k: v._version for k, v in state.items()} for state in ours_opt.state.values()] == \
        [{k: v._version for k, v in state.items()} for state in torch_opt.state.values()]


def test_state_matches_torch():
    ours, theirs = _models()
    kw = dict(lr=1e-2, amsgrad=True)
    *_, o = _train(distgrad, ours, distgrad.optim.Adam, kw, "mse_loss", steps=3)
    *_, t = _train(torch, theirs, torch.optim.Adam, kw, "mse_loss", steps=3)
    so, st = o.state_dict(), t.state_dict()
    assert so["param_groups"] == st["param_groups"]
    assert sorted(so["state"]) == sorted(st["state"])
    for k in st["state"]:
        assert list(so["state"][k]) == list(st["state"][k])
        for name, v in st["state"][k].items():
            mine = so["state"][k][name]
            assert isinstance(mine, distgrad.Tensor) and mine.dtype is distgrad.float32
            np.testing.assert_allclose(mine.numpy(), v.numpy(), rtol=1e-4, atol=1e-6)
    assert repr(o) == repr(t)


def test_sgd_state_and_repr():
    ours, theirs = _models()
    kw = dict(lr=0.1, momentum=0.9)
    *_, o = _train(distgrad, ours, distgrad.optim.SGD, kw, "mse_loss", steps=2)
    *_, t = _train(torch, theirs, torch.optim.SGD, kw, "mse_loss", steps=2)
    assert repr(o) == repr(t)
    assert o.state_dict()["param_groups"] == t.state_dict()["param_groups"]
    assert list(o.state_dict()["state"][0]) == ["momentum_buffer"]


def test_state_and_module_dicts_print_as_torch():
    # print(opt.state) and print(model._parameters) while debugging
    def run(lib):
        m = lib.nn.Linear(1, 1)
        with lib.no_grad():
            m.weight.fill_(0.5)
            m.bias.fill_(-0.25)
        opt = lib.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        out = [repr(opt.state)]
        m(lib.ones(1, 1)).sum().backward()
        opt.step()
        return out + [repr(opt.state), repr(m._parameters), repr(m._modules)]

    assert run(distgrad) == run(torch)


def test_loading_a_live_state_dict_shares_the_state_tensors():
    # opt2.load_state_dict(opt.state_dict()) in torch gives opt2 opt's own exp_avg and step
    # tensors (only the groups are copied), so each step of either moves both
    def run(lib):
        a, b = (lib.nn.Parameter(lib.tensor([1.0, -2.0])) for _ in range(2))
        opt = lib.optim.Adam([a], lr=0.1)
        (a ** 2).sum().backward()
        opt.step()
        opt2 = lib.optim.Adam([b], lr=0.5)
        opt2.load_state_dict(opt.state_dict())
        for p, o in ((a, opt), (b, opt2)):
            o.zero_grad()
            (p ** 2).sum().backward()
            o.step()
        return a.tolist() + b.tolist() + opt2.state[b]["exp_avg"].tolist() + [
            opt2.param_groups[0]["lr"], opt.state[a]["step"].item()]

    np.testing.assert_allclose(run(distgrad), run(torch), rtol=1e-6)


def test_first_momentum_buffer_is_grad():
    p = dnn.Parameter(distgrad.tensor([1.0, -2.0]))
    opt = distgrad.optim.SGD([p], lr=0.5, momentum=0.9, dampening=0.5)
    (p * distgrad.tensor([3.0, 4.0])).sum().backward()
    opt.step()
    assert opt.state[p]["momentum_buffer"].tolist() == [3.0, 4.0]
    assert p.tolist() == [1.0 - 1.5, -2.0 - 2.0]
    assert p.is_leaf and p.requires_grad and p.grad_fn is None


def test_load_state_dict_resumes():
    ours, _ = _models()
    x, y, _ = _data()
    opt = distgrad.optim.Adam(ours.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        DF.mse_loss(ours(distgrad.tensor(x)), distgrad.tensor(y)).backward()
        opt.step()
    clone, _ = _models()
    clone.load_state_dict(ours.state_dict())
    opt2 = distgrad.optim.Adam(clone.parameters(), lr=5.0)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))  # as from a file: not shared
    assert opt2.param_groups[0]["lr"] == 1e-2
    assert opt2.state[next(clone.parameters())]["step"].item() == 3
    for model, o in ((ours, opt), (clone, opt2)):
        o.zero_grad()
        DF.mse_loss(model(distgrad.tensor(x)), distgrad.tensor(y)).backward()
        o.step()
    for a, b in zip(ours.parameters(), clone.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


def test_zero_grad():
    p = dnn.Parameter(distgrad.ones(3))
    opt = distgrad.optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.tolist() == [0.0, 0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # a param without grad is skipped
    assert p.tolist() == [1.0, 1.0, 1.0]


def test_param_groups():
    a, b = dnn.Parameter(distgrad.ones(2)), dnn.Parameter(distgrad.ones(2))
    opt = distgrad.optim.SGD([{"params": [a]}, {"params": b, "lr": 1.0}], lr=0.1, momentum=0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    assert opt.param_groups[1]["momentum"] == 0.5
    (a + b).sum().backward()
    opt.step()
    assert a.tolist() == pytest.approx([0.9, 0.9]) and b.tolist() == [0.0, 0.0]
    named = distgrad.optim.SGD(dnn.Linear(2, 1).named_parameters(), lr=0.1)
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]


@pytest.mark.parametrize("build", [
    lambda lib, p, q: lib.optim.SGD([p, p], lr=0.1),
    lambda lib, p, q: lib.optim.Adam([{"params": [p, q, p]}]),
    lambda lib, p, q: lib.optim.SGD((x for x in [p, p]), lr=0.1),
    lambda lib, p, q: lib.optim.SGD([("w", p), ("v", p)], lr=0.1),
    lambda lib, p, q: lib.optim.SGD([p], lr=0.1).add_param_group({"params": [q, q]}),
    lambda lib, p, q: lib.optim.SGD([p, q], lr=0.1),
])
def test_a_parameter_twice_in_a_group_warns_as_torch(build):
    seen = []
    for lib in (torch, distgrad):
        p, q = lib.nn.Parameter(lib.ones(2)), lib.nn.Parameter(lib.ones(2))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            build(lib, p, q)
        seen.append([(w.category, str(w.message)) for w in caught])
    assert seen[1] == seen[0]


def test_closure():
    p = dnn.Parameter(distgrad.tensor([2.0]))
    opt = distgrad.optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with distgrad.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.tolist() == [1.0]


@pytest.mark.parametrize("build", [
    lambda lib, p: lib.optim.SGD([], lr=0.1),
    lambda lib, p: lib.optim.SGD(p, lr=0.1),
    lambda lib, p: lib.optim.SGD([p * 2], lr=0.1),
    lambda lib, p: lib.optim.SGD([p], lr=-0.1),
    lambda lib, p: lib.optim.SGD([p], lr=0.1, momentum=-1),
    lambda lib, p: lib.optim.SGD([p], lr=0.1, nesterov=True),
    lambda lib, p: lib.optim.SGD([{"params": {p}}], lr=0.1),
    lambda lib, p: lib.optim.SGD([p, p * 1], lr=0.1),
    lambda lib, p: lib.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1),
    lambda lib, p: lib.optim.Adam([p], lr=-1.0),
    lambda lib, p: lib.optim.Adam([p], eps=-1.0),
    lambda lib, p: lib.optim.Adam([p], betas=(1.0, 0.9)),
    lambda lib, p: lib.optim.Adam([p], betas=(0.9, -0.1)),
    lambda lib, p: lib.optim.Adam([p], weight_decay=-1.0),
    lambda lib, p: lib.optim.AdamW([p], foreach=True, fused=True),
    lambda lib, p: lib.optim.Adam([p], fused=True, differentiable=True),
    lambda lib, p: lib.optim.SGD([p], lr=0.1, fused=True, foreach=True),
    lambda lib, p: lib.optim.Adagrad([p], fused=True, foreach=True),
])
def test_errors_match_torch(build):
    seen = []
    for lib in (torch, distgrad):
        p = lib.ones(2, requires_grad=True)
        with pytest.raises(Exception) as info:
            build(lib, p)
        seen.append((type(info.value).__name__, str(info.value)))
    assert seen[1] == seen[0]


def test_step_keeps_params_leaf_and_state_on_param_device():
    m = dnn.Linear(3, 2)
    opt = distgrad.optim.Adam(m.parameters())
    m(distgrad.randn(4, 3)).sum().backward()
    versions = [p._version for p in m.parameters()]
    opt.step()
    for p, v in zip(m.parameters(), versions):
        assert p.is_leaf and p.requires_grad and p._version > v
        st = opt.state[p]
        assert st["exp_avg"].device == p.device and st["exp_avg"].shape == p.shape
        assert not st["exp_avg"].requires_grad


def test_step_hooks():
    # hooks around step (an EMA update after each step, say): torch's arguments and order,
    # twice for a subclass whose step calls super().step(), a bad return value refused
    def run(lib):
        from importlib import import_module

        module = import_module(f"{lib.__name__}.optim.optimizer")
        p = lib.nn.Parameter(lib.ones(2))
        opt = lib.optim.SGD([p], lr=0.1)
        log = []
        handles = [module.register_optimizer_step_pre_hook(lambda o, a, k: log.append("g-pre")),
                   module.register_optimizer_step_post_hook(lambda o, a, k: log.append("g-post")),
                   opt.register_step_pre_hook(
                       lambda o, a, k: log.append(("pre", a[0] is o, len(a), dict(k)))),
                   opt.register_step_post_hook(lambda o, a, k: log.append(("post", p.tolist())))]
        p.grad = lib.ones(2)
        opt.step()
        handles[0].remove()
        opt.register_step_pre_hook(lambda o, a, k: ((o,), {"closure": lambda: log.append("c")}))
        opt.step()
        bad = opt.register_step_pre_hook(lambda o, a, k: 5)
        try:
            opt.step()
        except RuntimeError as e:
            log.append(str(e).split(" must ")[1])
        bad.remove()

        class Sub(lib.optim.SGD):
            def step(self, closure=None):
                return super().step(closure)

        sub = Sub([p], lr=0.1)
        sub.register_step_post_hook(lambda o, a, k: log.append("sub-post"))
        sub.step()
        for h in handles[1:]:
            h.remove()
        return log, p.tolist()

    assert run(distgrad) == run(torch)


def test_state_dict_hooks():
    # hooks around state_dict and load_state_dict (a checkpoint adding or renaming an entry,
    # say): torch's arguments, order (prepend), returned dicts used, removal
    def run(lib):
        import pickle

        p = lib.ones(2, requires_grad=True)
        p.grad = lib.tensor([1.0, -2.0])
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        opt.step()
        log = []
        opt.register_state_dict_pre_hook(lambda o: log.append(("pre", o is opt)))
        opt.register_state_dict_pre_hook(lambda o: log.append("pre-first"), prepend=True)
        opt.register_state_dict_post_hook(
            lambda o, sd: dict(sd, note="mine") if log.append(sorted(sd)) is None else None)
        saved = opt.state_dict()
        log.append(saved["note"])
        drop = opt.register_load_state_dict_pre_hook(
            lambda o, sd: {"state": {}, "param_groups": sd["param_groups"]})
        opt.register_load_state_dict_pre_hook(lambda o, sd: log.append(sorted(sd)),
                                              prepend=True)
        opt.register_load_state_dict_post_hook(lambda o: log.append(len(o.state)))
        opt.load_state_dict(saved)
        drop.remove()
        opt.load_state_dict(saved)
        again = pickle.loads(pickle.dumps(lib.optim.SGD([lib.ones(1)], lr=0.1)))
        again.load_state_dict(again.state_dict())
        return log

    assert run(distgrad) == run(torch)


def test_param_names_as_torch():
    # named_parameters() given: names kept through a state dict without them, and groups
    # (or params) with and without names not mixed, in torch's words
    def run(lib):
        lin = lib.nn.Linear(2, 1)
        log = []
        opt = lib.optim.SGD(lin.named_parameters(), lr=0.1)
        plain = lib.optim.SGD(lin.parameters(), lr=0.2).state_dict()
        opt.load_state_dict(plain)
        log.append(opt.state_dict()["param_groups"])
        extra = lib.nn.Linear(1, 1)
        for group in [{"params": extra.parameters()},
                      {"params": [("w", extra.weight), extra.bias]}]:
            try:
                opt.add_param_group(group)
            except ValueError as e:
                log.append(str(e))
        unnamed = lib.optim.SGD(lin.parameters(), lr=0.1)
        try:
            unnamed.add_param_group({"params": extra.named_parameters()})
        except ValueError as e:
            log.append(str(e))
        return log

    assert run(distgrad) == run(torch)


def test_which_tensors_an_optimizer_takes_as_torch():
    # a non-leaf is refused unless it retains its grad or the optimizer is differentiable;
    # a param group that is not a dict is named by its type
    def run(lib):
        a = lib.ones(2, requires_grad=True)
        kept, other = a * 2, a * 3
        kept.retain_grad()
        log = []
        for build in [lambda: lib.optim.SGD([a * 4], lr=0.1),
                      lambda: lib.optim.SGD([kept], lr=0.1),
                      lambda: lib.optim.SGD([other], lr=0.1, differentiable=True),
                      lambda: lib.optim.SGD([a], lr=0.1).add_param_group([a])]:
            try:
                log.append(len(build().param_groups))
            except (TypeError, ValueError) as e:
                log.append((type(e).__name__, str(e)))
        return log

    assert run(distgrad) == run(torch)
