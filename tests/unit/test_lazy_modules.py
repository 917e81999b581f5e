"""Lazy modules against torch's (fixed seeds): LazyLinear, LazyConv1d/2d/3d,
LazyConvTranspose1d/2d/3d, LazyBatchNorm1d/2d/3d and LazyInstanceNorm1d/2d/3d initialize
their parameters with torch's random draws on the first forward and become their non-lazy
class; reprs before and after, state_dicts of uninitialized modules and loading into them,
UninitializedParameter / UninitializedBuffer, optimizers over uninitialized parameters, and
the errors (torch's words; the function's address in them is normalized)."""
from __future__ import annotations

import copy
import math
import pickle
import re

import numpy as np
import pytest
import torch

import distgrad as dg
from test_added_surface import local_workers  # noqa: F401  (two in-process workers)

LAZY = [
    ("linear", lambda nn: nn.LazyLinear(5), (2, 3)),
    ("linear_3d_input_no_bias", lambda nn: nn.LazyLinear(4, bias=False), (2, 3, 6)),
    ("conv1d", lambda nn: nn.LazyConv1d(4, 3, padding=1), (2, 3, 7)),
    ("conv1d_unbatched", lambda nn: nn.LazyConv1d(2, 2), (3, 5)),
    ("conv2d", lambda nn: nn.LazyConv2d(4, 3, groups=2, padding=1), (2, 6, 5, 5)),
    ("conv2d_reflect", lambda nn: nn.LazyConv2d(3, 2, padding=1, padding_mode="reflect"),
     (1, 2, 4, 4)),
    ("conv3d", lambda nn: nn.LazyConv3d(2, 2, stride=2), (1, 3, 4, 4, 4)),
    ("conv_transpose1d", lambda nn: nn.LazyConvTranspose1d(4, 3, stride=2, output_padding=1),
     (2, 3, 5)),
    ("conv_transpose2d", lambda nn: nn.LazyConvTranspose2d(4, (2, 3), groups=2, dilation=2),
     (2, 4, 3, 3)),
    ("conv_transpose3d", lambda nn: nn.LazyConvTranspose3d(4, 2, stride=2), (1, 3, 2, 3, 2)),
    ("batch_norm1d", lambda nn: nn.LazyBatchNorm1d(), (4, 3)),
    ("batch_norm1d_3d_input", lambda nn: nn.LazyBatchNorm1d(momentum=None), (4, 3, 5)),
    ("batch_norm2d", lambda nn: nn.LazyBatchNorm2d(), (3, 4, 2, 2)),
    ("batch_norm3d_no_affine", lambda nn: nn.LazyBatchNorm3d(affine=False), (2, 3, 2, 2, 2)),
    ("batch_norm2d_no_stats", lambda nn: nn.LazyBatchNorm2d(track_running_stats=False),
     (3, 2, 2, 2)),
    ("instance_norm1d", lambda nn: nn.LazyInstanceNorm1d(), (2, 3, 5)),
    ("instance_norm2d", lambda nn: nn.LazyInstanceNorm2d(affine=False), (2, 3, 4, 4)),
    ("instance_norm3d", lambda nn: nn.LazyInstanceNorm3d(track_running_stats=False),
     (2, 2, 3, 3, 3)),
]


def _input(M, shape, seed=7):
    n = math.prod(shape)
    values = np.random.default_rng(seed).standard_normal(n).reshape(shape).astype(np.float32)
    return M.tensor(values, requires_grad=True)


def _run(M, make, shape, seed=0):
    M.manual_seed(seed)
    m = make(M.nn)
    before = repr(m)
    x = _input(M, shape)
    y = m(x)
    y.sum().backward()
    state = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
    grads = {k: p.grad.numpy().copy() for k, p in m.named_parameters()}
    return m, before, y.detach().numpy(), x.grad.numpy(), state, grads


@pytest.mark.parametrize("name,make,shape", LAZY, ids=[c[0] for c in LAZY])
def test_first_forward_initializes_as_torch(name, make, shape):
    tm, t_before, t_y, t_gx, t_state, t_grads = _run(torch, make, shape)
    dm, d_before, d_y, d_gx, d_state, d_grads = _run(dg, make, shape)
    assert d_before == t_before
    assert repr(dm) == repr(tm)
    assert type(dm).__name__ == type(tm).__name__  # its cls_to_become
    assert type(dm) is getattr(dg.nn, type(tm).__name__)
    assert list(d_state) == list(t_state)
    for k in t_state:
        assert d_state[k].shape == t_state[k].shape, k
        np.testing.assert_allclose(d_state[k], t_state[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(d_y, t_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d_gx, t_gx, rtol=1e-5, atol=1e-5)
    assert list(d_grads) == list(t_grads)
    for k in t_grads:
        np.testing.assert_allclose(d_grads[k], t_grads[k], rtol=1e-4, atol=1e-5, err_msg=k)
    assert not hasattr(dm, "_initialize_hook") and not hasattr(dm, "_load_hook")
    assert not dm._forward_pre_hooks and not dm._load_state_dict_pre_hooks


def test_lazy_linear_weight_is_torchs_draw():
    for M in (torch, dg):
        M.manual_seed(0)
    t, d = torch.nn.LazyLinear(5), dg.nn.LazyLinear(5)
    torch.manual_seed(3)
    dg.manual_seed(3)
    t(torch.ones(2, 4))
    d(dg.ones(2, 4))
    assert np.array_equal(d.weight.detach().numpy(), t.weight.detach().numpy())
    assert np.array_equal(d.bias.detach().numpy(), t.bias.detach().numpy())
    # the draws after it continue the same stream
    assert np.array_equal(dg.rand(3).numpy(), torch.rand(3).numpy())


def test_network_of_lazy_layers_draws_in_torchs_order():
    def make(nn):
        return nn.Sequential(nn.Linear(3, 6), nn.LazyLinear(4), nn.ReLU(), nn.LazyConv1d(2, 1),
                             nn.LazyBatchNorm1d(), nn.Flatten(), nn.LazyLinear(1))

    outs = []
    for M in (torch, dg):
        M.manual_seed(11)
        m = make(M.nn)
        x = M.ones(5, 3, 3)
        y = m(x.transpose(1, 2).reshape(5, 3, 3))
        outs.append((repr(m), {k: v.detach().numpy() for k, v in m.state_dict().items()},
                     y.detach().numpy()))
    assert outs[0][0] == outs[1][0]
    for k in outs[0][1]:
        np.testing.assert_allclose(outs[1][1][k], outs[0][1][k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[1][2], outs[0][2], rtol=1e-4, atol=1e-5)


def test_has_uninitialized_params_and_initialize_parameters():
    for M in (torch, dg):
        M.manual_seed(2)
        m = M.nn.LazyLinear(3)
        assert m.has_uninitialized_params()
        m.initialize_parameters(M.ones(2, 4))  # directly: no forward, stays a LazyLinear
        assert not m.has_uninitialized_params()
        assert type(m).__name__ == "LazyLinear" and m.in_features == 4
        assert repr(m) == "LazyLinear(in_features=4, out_features=3, bias=True)"
    m = dg.nn.LazyBatchNorm2d()
    assert m.has_uninitialized_params()
    assert isinstance(m, dg.nn.modules.lazy.LazyModuleMixin)
    with pytest.raises(NotImplementedError, match="initialize_parameters is not implemented "
                                                  "for Mixed"):
        type("Mixed", (dg.nn.modules.lazy.LazyModuleMixin, dg.nn.Module), {})() \
            .initialize_parameters()


def _keys_and_kinds(sd):
    return [(k, type(v).__name__, repr(v) if dg.nn.parameter.is_lazy(v)
             or torch.nn.parameter.is_lazy(v) else None) for k, v in sd.items()]


@pytest.mark.parametrize("make", [lambda nn: nn.LazyLinear(3),
                                  lambda nn: nn.LazyBatchNorm1d(),
                                  lambda nn: nn.LazyInstanceNorm2d(affine=True,
                                                                   track_running_stats=True),
                                  lambda nn: nn.LazyConvTranspose2d(2, 3, bias=False)])
def test_state_dict_of_uninitialized_module(make):
    t, d = make(torch.nn), make(dg.nn)
    for keep_vars in (False, True):
        td, dd = t.state_dict(keep_vars=keep_vars), d.state_dict(keep_vars=keep_vars)
        kinds = [(k, n.replace("Tensor", "T"), r) for k, n, r in _keys_and_kinds(td)]
        assert [(k, n.replace("Tensor", "T"), r) for k, n, r in _keys_and_kinds(dd)] == kinds
    for k, v in d.state_dict().items():
        if not dg.nn.parameter.is_lazy(v):
            assert k.endswith("num_batches_tracked") and v.item() == 0


def test_load_initialized_state_into_lazy_module():
    torch.manual_seed(4)
    source = torch.nn.Linear(3, 2)
    state = {k: dg.tensor(v.detach().numpy()) for k, v in source.state_dict().items()}
    results = []
    for M, sd in ((torch, source.state_dict()), (dg, state)):
        m = M.nn.LazyLinear(2)
        keys = m.load_state_dict(sd)
        assert str(keys) == "<All keys matched successfully>"
        # materialized and copied in; still the lazy class (torch keeps it until a forward)
        assert not m.has_uninitialized_params() and type(m).__name__ == "LazyLinear"
        assert type(m.weight).__name__ == "Parameter" and tuple(m.weight.shape) == (2, 3)
        before = repr(m)
        M.manual_seed(0)
        y = m(M.ones(1, 3))
        results.append((before, repr(m), type(m).__name__, m.weight.detach().numpy(),
                        y.detach().numpy(), m.in_features))
    assert results[0][:3] == results[1][:3]
    assert results[1][2] == "Linear" and results[1][5] == 3
    np.testing.assert_array_equal(results[1][3], source.weight.detach().numpy())  # not drawn
    np.testing.assert_allclose(results[1][4], results[0][4], rtol=1e-6)


def test_load_uninitialized_state():
    for M in (torch, dg):
        # an uninitialized state into an uninitialized module: as it is
        m = M.nn.LazyBatchNorm1d()
        assert str(m.load_state_dict(M.nn.LazyBatchNorm1d().state_dict())) == \
            "<All keys matched successfully>"
        assert m.has_uninitialized_params()
    # into an initialized module: torch's error reading its shape
    msgs = []
    for M in (torch, dg):
        with pytest.raises(RuntimeError) as e:
            M.nn.Linear(3, 4).load_state_dict(M.nn.LazyLinear(4).state_dict())
        msgs.append(str(e.value))
    assert msgs[1] == msgs[0]
    assert msgs[1].startswith("Can't access the shape of an uninitialized parameter or buffer.")


def test_uninitialized_parameter_and_buffer():
    UP, UB = dg.nn.parameter.UninitializedParameter, dg.nn.parameter.UninitializedBuffer
    TUP, TUB = torch.nn.parameter.UninitializedParameter, torch.nn.parameter.UninitializedBuffer
    assert dg.nn.UninitializedParameter is UP and dg.nn.UninitializedBuffer is UB
    for (P, B), M in (((TUP, TUB), torch), ((UP, UB), dg)):
        p, b = P(), B(dtype=M.float64)
        assert repr(p) == str(p) == "<UninitializedParameter>"
        assert repr(b) == "<UninitializedBuffer>"
        assert isinstance(p, M.nn.Parameter) and isinstance(b, M.nn.Buffer)
        assert M.nn.parameter.is_lazy(p) and M.nn.parameter.is_lazy(b)
        assert not M.nn.parameter.is_lazy(M.ones(1))
        assert p.requires_grad and not b.requires_grad and b.persistent
        assert not P(requires_grad=False).requires_grad
        assert p.dtype == M.float32 and b.dtype == M.float64 and str(p.device) == "cpu"
        assert tuple(p.size()) == (0,) and p.ndim == 1 and p.is_leaf and p.grad is None
        assert p.is_floating_point() and hash(p) == hash(p)
        assert type(p.double()).__name__ == "Tensor" and p.cpu() is p and p.float() is p
        assert type(b.double()).__name__ == "UninitializedBuffer"  # (a buffer stays one)
        assert type(b.data).__name__ == "UninitializedBuffer"
        assert type(p.data).__name__ == "Tensor" and tuple(p.data.shape) == (0,)
        q = copy.deepcopy(p)
        assert type(q) is P and q is not p
        r = pickle.loads(pickle.dumps(p))
        assert type(r) is P and r.requires_grad
        p.materialize((2, 3))
        assert type(p) is M.nn.Parameter and tuple(p.shape) == (2, 3) and p.requires_grad
        b.materialize((4,), dtype=M.float32)
        assert type(b) is M.Tensor and tuple(b.shape) == (4,) and b.dtype == M.float32
        assert not b.requires_grad


def test_module_to_before_first_forward():
    for M in (torch, dg):
        M.manual_seed(5)
        m = M.nn.LazyBatchNorm1d().to(M.float64)
        sd = m.state_dict(keep_vars=True)
        assert [type(v).__name__ for v in sd.values()] == [
            "UninitializedParameter", "UninitializedParameter", "UninitializedBuffer",
            "UninitializedBuffer", "Tensor"]
        assert sd["weight"].dtype == M.float64 and sd["running_mean"].dtype == M.float64
        m(M.ones(3, 2, dtype=M.float64))
        assert m.weight.dtype == M.float64 and m.running_var.dtype == M.float64
        lin = M.nn.LazyLinear(2, dtype=M.float64)
        lin.float()
        assert lin.weight.dtype == M.float32 and type(lin.weight).__name__ == \
            "UninitializedParameter"


def test_deepcopy_and_pickle_of_lazy_module():
    for M in (torch, dg):
        m = M.nn.LazyLinear(3)
        c = copy.deepcopy(m)
        assert repr(c) == repr(m) and c.has_uninitialized_params()
        c(M.ones(1, 2))
        assert type(c).__name__ == "Linear" and m.has_uninitialized_params()
        u = pickle.loads(pickle.dumps(M.nn.LazyConv2d(2, 3)))
        assert u.has_uninitialized_params() and repr(u) == "LazyConv2d(0, 2, kernel_size=(3, 3), " \
                                                           "stride=(1, 1))"


def test_optimizer_built_before_the_first_forward():
    results = []
    for M in (torch, dg):
        M.manual_seed(6)
        m = M.nn.LazyLinear(2)
        opt = M.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            m(M.ones(3, 4)).pow(2).sum().backward()
            opt.step()
        results.append([p.detach().numpy() for p in m.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def _normalized(msg: str) -> str:
    return re.sub(r"0x[0-9a-f]+", "0x", msg)


def _error(f):
    try:
        f()
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, _normalized(str(e))
    return None


# What touching an uninitialized parameter raises: each case runs against torch and distgrad.
USES = {
    "method_sum": lambda M, p: p.sum(),
    "method_numel": lambda M, p: p.numel(),
    "method_dim": lambda M, p: p.dim(),
    "method_detach": lambda M, p: p.detach(),
    "method_view": lambda M, p: p.view(-1),
    "method_fill_": lambda M, p: p.fill_(1),
    "method_requires_grad_": lambda M, p: p.requires_grad_(False),
    "method_tolist": lambda M, p: p.tolist(),
    "method_norm": lambda M, p: p.norm(),
    "add": lambda M, p: p + 1,
    "radd": lambda M, p: 1 + p,
    "mul": lambda M, p: p * 2,
    "neg": lambda M, p: -p,
    "eq": lambda M, p: p == p,
    "getitem": lambda M, p: p[0],
    "len": lambda M, p: len(p),
    "iter": lambda M, p: list(p),
    "bool": lambda M, p: bool(p),
    "shape": lambda M, p: p.shape,
    "torch_mul": lambda M, p: M.mul(p, 2),
    "torch_cat": lambda M, p: M.cat([p, p]),
    "torch_zeros_like": lambda M, p: M.zeros_like(p),
    "torch_norm": lambda M, p: M.norm(p),
    "linear": lambda M, p: M.nn.functional.linear(M.ones(2, 3), p),
    "conv2d": lambda M, p: M.nn.functional.conv2d(M.ones(1, 1, 3, 3), p),
    "batch_norm": lambda M, p: M.nn.functional.batch_norm(M.ones(2, 3), p, p),
    "init_uniform_": lambda M, p: M.nn.init.uniform_(p),
    "init_kaiming_uniform_": lambda M, p: M.nn.init.kaiming_uniform_(p),
    "init_zeros_": lambda M, p: M.nn.init.zeros_(p),
    "init_normal_": lambda M, p: M.nn.init.normal_(p),
    "init_constant_": lambda M, p: M.nn.init.constant_(p, 0.5),
    "init_ones_": lambda M, p: M.nn.init.ones_(p),
    "init_xavier_uniform_": lambda M, p: M.nn.init.xavier_uniform_(p),
    "parameters_to_vector": lambda M, p: M.nn.utils.parameters_to_vector([p]),
    "share_memory_": lambda M, p: p.share_memory_(),
    "module_share_memory": lambda M, p: M.nn.LazyLinear(2).share_memory(),
    "module_requires_grad_": lambda M, p: M.nn.LazyLinear(2).requires_grad_(False),
    "copy_into_requires_grad": lambda M, p: p.copy_(M.ones(0)),
}


@pytest.mark.parametrize("use", sorted(USES))
def test_using_an_uninitialized_parameter_raises_as_torch(use):
    t = _error(lambda: USES[use](torch, torch.nn.parameter.UninitializedParameter()))
    d = _error(lambda: USES[use](dg, dg.nn.parameter.UninitializedParameter()))
    assert t is not None
    assert d == t


def test_using_an_uninitialized_buffer_names_its_class():
    t = _error(lambda: torch.nn.parameter.UninitializedBuffer().sum())
    d = _error(lambda: dg.nn.parameter.UninitializedBuffer().sum())
    assert d == t and "`torch.nn.parameter.UninitializedBuffer` objects" in d[1]
    t = _error(lambda: copy.deepcopy(torch.nn.parameter.UninitializedBuffer()))
    d = _error(lambda: copy.deepcopy(dg.nn.parameter.UninitializedBuffer()))
    assert d == t


def test_optimizer_step_over_an_uninitialized_parameter_raises_as_torch():
    errors = []
    for M in (torch, dg):
        m = M.nn.LazyLinear(3)
        opt = M.optim.SGD(m.parameters(), lr=0.1)  # built: torch does not look at them yet
        assert opt.step() is None  # no gradients: nothing touched
        m.weight.grad = M.zeros(0)
        errors.append(_error(opt.step))
    assert errors[1] == errors[0]
    assert errors[1][0] == "ValueError" and "<method 'add_' of" in errors[1][1]
    for M in (torch, dg):
        m = M.nn.LazyLinear(3)
        m.weight.grad = M.zeros(0)
        with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter in "):
            M.optim.Adam(m.parameters()).step()


@pytest.mark.parametrize("make,shape", [
    (lambda nn: nn.LazyConv2d(4, 3), (2, 3)),
    (lambda nn: nn.LazyConvTranspose3d(4, 3), (2, 3, 5)),
    (lambda nn: nn.LazyConv1d(4, 3, groups=2), (2, 3, 5)),
    (lambda nn: nn.LazyBatchNorm2d(), (2, 3)),
    (lambda nn: nn.LazyBatchNorm1d(), (2, 3, 4, 5)),
    (lambda nn: nn.LazyInstanceNorm1d(), (2, 3, 4, 5)),
    (lambda nn: nn.LazyLinear(2), ()),
])
def test_bad_first_input_raises_as_torch(make, shape):
    errors = []
    for M in (torch, dg):
        errors.append(_error(lambda: make(M.nn)(M.ones(shape) if shape else M.tensor(1.0))))
    assert errors[0] is not None
    assert errors[1] == errors[0]


def test_layout_names():
    mods = dg.nn.modules
    assert mods.lazy.LazyModuleMixin is dg.nn.modules.LazyModuleMixin
    assert mods.linear.LazyLinear is dg.nn.LazyLinear
    assert mods.conv.LazyConvTranspose3d is dg.nn.LazyConvTranspose3d
    assert mods.batchnorm.LazyBatchNorm3d is dg.nn.LazyBatchNorm3d
    assert mods.instancenorm.LazyInstanceNorm2d is dg.nn.LazyInstanceNorm2d
    for name in ("LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
                 "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyBatchNorm1d",
                 "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyInstanceNorm1d",
                 "LazyInstanceNorm2d", "LazyInstanceNorm3d"):
        d, t = getattr(dg.nn, name), getattr(torch.nn, name)
        assert d.cls_to_become.__name__ == t.cls_to_become.__name__
        assert issubclass(d, dg.nn.modules.lazy.LazyModuleMixin)
        assert issubclass(d, d.cls_to_become) or name.startswith(("LazyBatch", "LazyInstance"))


def test_lazy_modules_on_a_worker(local_workers):
    torch.manual_seed(0)
    dg.manual_seed(0)
    d = dg.nn.LazyLinear(3, device="worker:1")
    t = torch.nn.LazyLinear(3)
    assert d.weight.device == dg.device("worker:1") and repr(d) == repr(t)
    y = d(dg.ones(2, 4, device="worker:1"))
    ty = t(torch.ones(2, 4))
    assert type(d) is dg.nn.Linear and d.weight.device == dg.device("worker:1")
    np.testing.assert_array_equal(d.weight.detach().cpu().numpy(), t.weight.detach().numpy())
    np.testing.assert_allclose(y.detach().cpu().numpy(), ty.detach().numpy(), rtol=1e-6)
    bn = dg.nn.LazyBatchNorm1d().to("worker:0")  # moved while uninitialized
    assert bn.state_dict(keep_vars=True)["running_mean"].device == dg.device("worker:0")
    bn(dg.ones(4, 3, device="worker:0"))
    assert type(bn) is dg.nn.BatchNorm1d and bn.running_var.device == dg.device("worker:0")
