"""nn.utils.parametrize, nn.utils.parametrizations.weight_norm/spectral_norm and the older
hook-based weight_norm/spectral_norm against torch: torch's state_dict (its power-iteration
vectors u/v included) loaded into distgrad's module, then outputs, the gradients of the input
and of every parameter (the originals of a parametrization included), the buffers after a
training forward, state_dict keys, parameter names, reprs, and torch's errors."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad

from module_twin import arr, as_np, assert_match, load_torch_state, run_pair


def _forward(make, shape, train=True, extra=lambda mod: ()):
    """run_pair on input x: the output, then extra(mod)'s tensors read after the forward."""
    def call(mod, lib, t):
        out = mod(t["x"])
        return (out, *[e.detach().clone() for e in extra(mod)])

    return run_pair(make, {"x": arr(*shape, seed=1)}, call, train)


def _names(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.manual_seed(0)
        mods = [make(torch.nn), make(distgrad.nn)]
    return [(list(m.state_dict()), [n for n, _ in m.named_parameters()],
             [n for n, _ in m.named_buffers()], repr(m), type(m).__name__) for m in mods]


# ---- parametrizations.weight_norm / spectral_norm ---------------------------------------------

NEW = {
    "weight_norm_linear": (lambda nn: nn.utils.parametrizations.weight_norm(nn.Linear(3, 4)),
                           (2, 3)),
    "weight_norm_conv_dim1": (lambda nn: nn.utils.parametrizations.weight_norm(
        nn.Conv1d(2, 3, 3), dim=1), (2, 2, 6)),
    "weight_norm_whole": (lambda nn: nn.utils.parametrizations.weight_norm(
        nn.Linear(3, 4), dim=None), (2, 3)),
    "weight_norm_bias_dim0": (lambda nn: nn.utils.parametrizations.weight_norm(
        nn.Linear(3, 4), name="bias"), (2, 3)),
    "spectral_norm_linear": (lambda nn: nn.utils.parametrizations.spectral_norm(
        nn.Linear(3, 4)), (2, 3)),
    "spectral_norm_conv_3_iterations": (lambda nn: nn.utils.parametrizations.spectral_norm(
        nn.Conv2d(2, 3, 2), n_power_iterations=3, eps=1e-6), (1, 2, 4, 4)),
    "spectral_norm_conv_transpose": (lambda nn: nn.utils.parametrizations.spectral_norm(
        nn.ConvTranspose2d(2, 3, 2)), (1, 2, 3, 3)),
    "spectral_norm_dim1": (lambda nn: nn.utils.parametrizations.spectral_norm(
        nn.Linear(3, 4), dim=-1), (2, 3)),
    "spectral_norm_1d_bias": (lambda nn: nn.utils.parametrizations.spectral_norm(
        nn.Linear(3, 4), name="bias"), (2, 3)),
    "orthogonal_matrix_exp": (lambda nn: nn.utils.parametrizations.orthogonal(
        nn.Linear(3, 3)), (2, 3)),
    "orthogonal_cayley_tall": (lambda nn: nn.utils.parametrizations.orthogonal(
        nn.Linear(3, 5), orthogonal_map="cayley"), (2, 3)),
    "orthogonal_matrix_exp_wide": (lambda nn: nn.utils.parametrizations.orthogonal(
        nn.Linear(5, 3), orthogonal_map="matrix_exp"), (2, 5)),
    "orthogonal_cayley_no_trivialization": (lambda nn: nn.utils.parametrizations.orthogonal(
        nn.Linear(3, 3), orthogonal_map="cayley", use_trivialization=False), (2, 3)),
    # householder: the default for a non-square weight
    "orthogonal_householder_tall": (lambda nn: nn.utils.parametrizations.orthogonal(
        nn.Linear(3, 5)), (2, 3)),
    "orthogonal_householder_wide": (lambda nn: nn.utils.parametrizations.orthogonal(
        nn.Linear(5, 3)), (2, 5)),
    "orthogonal_householder_square": (lambda nn: nn.utils.parametrizations.orthogonal(
        nn.Linear(4, 4), orthogonal_map="householder"), (2, 4)),
    "orthogonal_householder_no_trivialization": (lambda nn: nn.utils.parametrizations.orthogonal(
        nn.Linear(5, 3), use_trivialization=False), (2, 5)),
}


def _vectors(mod):
    norm = mod.parametrizations[next(iter(mod.parametrizations.keys()))][0]
    return [getattr(norm, b) for b in ("_u", "_v", "base")
            if norm._buffers.get(b) is not None]


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("case", sorted(NEW))
def test_parametrizations_against_torch(case, train):
    make, shape = NEW[case]
    assert_match(_forward(make, shape, train, _vectors))


@pytest.mark.parametrize("case", sorted(NEW))
def test_parametrizations_names_and_repr(case):
    theirs, mine = _names(NEW[case][0])
    assert mine == theirs


# ---- the hook-based weight_norm and spectral_norm --------------------------------------------

OLD = {
    "weight_norm": (lambda nn: nn.utils.weight_norm(nn.Linear(3, 4)), (2, 3)),
    "weight_norm_whole_conv": (lambda nn: nn.utils.weight_norm(nn.Conv1d(2, 3, 2), dim=None),
                               (2, 2, 5)),
    "spectral_norm": (lambda nn: nn.utils.spectral_norm(nn.Linear(3, 4)), (2, 3)),
    "spectral_norm_conv_transpose_2_iterations": (lambda nn: nn.utils.spectral_norm(
        nn.ConvTranspose1d(2, 3, 2), n_power_iterations=2), (1, 2, 4)),
}


def _old_buffers(mod):
    return [b for n, b in mod.named_buffers()]


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("case", sorted(OLD))
def test_hook_based_norms_against_torch(case, train):
    make, shape = OLD[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        assert_match(_forward(make, shape, train, _old_buffers))


@pytest.mark.parametrize("case", sorted(OLD))
def test_hook_based_names_and_removal(case):
    make = OLD[case][0]
    theirs, mine = _names(make)
    assert mine == theirs
    remove = "remove_weight_norm" if case.startswith("weight") else "remove_spectral_norm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.manual_seed(0)
        tmod, dmod = make(torch.nn), make(distgrad.nn)
    load_torch_state(tmod, dmod)
    for lib, mod in ((torch, tmod), (distgrad, dmod)):
        getattr(lib.nn.utils, remove)(mod)
    assert list(dmod.state_dict()) == list(tmod.state_dict())
    np.testing.assert_allclose(as_np(dmod.weight), as_np(tmod.weight), rtol=1e-6, atol=1e-7)
    for lib, mod in ((torch, tmod), (distgrad, dmod)):
        with pytest.raises(ValueError) as info:
            getattr(lib.nn.utils, remove)(mod)
        if lib is torch:
            expected = str(info.value)
    assert str(info.value) == expected


def test_weight_norm_warns_as_torch():
    for lib in (torch, distgrad):
        with pytest.warns(FutureWarning, match="torch.nn.utils.weight_norm` is deprecated"):
            lib.nn.utils.weight_norm(lib.nn.Linear(2, 2))


# ---- parametrize --------------------------------------------------------------------------

def _symmetric(nn):
    class Symmetric(nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).mT

        def right_inverse(self, a):
            return a.triu()

    return Symmetric()


def _scale(nn):
    class Scale(nn.Module):
        def forward(self, x):
            return x * 2.0

        def right_inverse(self, a):
            return a / 2.0

    return Scale()


def _chained(nn):
    m = nn.Linear(3, 3)
    nn.utils.parametrize.register_parametrization(m, "weight", _symmetric(nn))
    nn.utils.parametrize.register_parametrization(m, "weight", _scale(nn))
    return m


def test_register_parametrization_against_torch():
    assert_match(_forward(_chained, (2, 3)))
    theirs, mine = _names(_chained)
    assert mine == theirs


def test_assign_cache_and_remove_as_torch():
    value = arr(3, 3, seed=5)
    got = {}
    for lib in (torch, distgrad):
        parametrize = lib.nn.utils.parametrize
        torch.manual_seed(0)
        m = _chained(lib.nn)
        original = m.parametrizations.weight.original
        versions = [original._version]  # (each registration and assignment sets it: set_)
        m.weight = lib.tensor(value)  # right_inverse of each, last first
        versions.append(original._version)
        with parametrize.cached():
            assert m.weight is m.weight
        assert m.weight is not m.weight
        flags = (parametrize.is_parametrized(m), parametrize.is_parametrized(m, "weight"),
                 parametrize.is_parametrized(m, "bias"),
                 parametrize.type_before_parametrizations(m).__name__)
        weight = as_np(m.weight)
        parametrize.remove_parametrizations(m, "weight")
        versions.append(original._version)
        got[lib] = (as_np(original), weight, as_np(m.weight), flags, type(m).__name__,
                    list(m.state_dict()), m.weight is original, versions)
        m2 = lib.nn.utils.parametrizations.weight_norm(lib.nn.Linear(2, 2))
        m2.weight = lib.tensor(value[:2, :2])
        before = [as_np(getattr(m2.parametrizations.weight, f"original{k}")) for k in (0, 1)]
        parametrize.remove_parametrizations(m2, "weight", leave_parametrized=True)
        got[lib] += (*before, as_np(m2.weight), type(m2).__name__, list(m2.state_dict()),
                     type(m2.weight).__name__)
        m3 = _chained(lib.nn)
        original = as_np(m3.parametrizations.weight.original)
        parametrize.remove_parametrizations(m3, "weight", leave_parametrized=False)
        got[lib] += (np.array_equal(original, as_np(m3.weight)),)
    for mine, theirs in zip(got[distgrad], got[torch]):
        if isinstance(mine, np.ndarray):
            np.testing.assert_allclose(mine, theirs, rtol=1e-6)
        else:
            assert mine == theirs


def _error(lib, fn):
    with pytest.raises(Exception) as info:
        fn(lib)
    return type(info.value), str(info.value)


def _changes_shape(lib):
    class First(lib.nn.Module):
        def forward(self, x):
            return x[0]

    lib.nn.utils.parametrize.register_parametrization(lib.nn.Linear(2, 3), "weight", First())


def _no_such_tensor(lib):
    lib.nn.utils.parametrize.register_parametrization(lib.nn.Linear(2, 3), "scale",
                                                      _scale(lib.nn))


def _not_parametrized(lib):
    lib.nn.utils.parametrize.remove_parametrizations(lib.nn.Linear(2, 3), "weight")


def _leave_unparametrized_pair(lib):
    m = lib.nn.utils.parametrizations.weight_norm(lib.nn.Linear(2, 2))
    lib.nn.utils.parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)


def _no_right_inverse(lib):
    class Double(lib.nn.Module):
        def forward(self, x):
            return x * 2

    m = lib.nn.Linear(2, 2)
    lib.nn.utils.parametrize.register_parametrization(m, "weight", Double())
    m.weight = lib.zeros(2, 2)


def _spectral_bad_dim(lib):
    lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(2, 3), dim=2)


def _spectral_bad_iterations(lib):
    lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(2, 3), n_power_iterations=0)


def test_orthogonal_assignment():
    q = np.linalg.qr(arr(3, 3, seed=6).astype(np.float64))[0].astype(np.float32)
    got = []
    for lib in (torch, distgrad):
        m = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(3, 3))
        m.weight = lib.tensor(q)
        got.append([as_np(m.weight), as_np(m.parametrizations.weight.original),
                    as_np(m.parametrizations.weight[0].base)])
        m.weight = lib.tensor(arr(3, 3, seed=7))  # not orthogonal: its QR's Q
        got[-1].append(as_np(m.weight))
    for mine, theirs in zip(*reversed(got)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape, kwargs", [((5, 3), {}), ((3, 5), {}),
                                           ((5, 3), {"use_trivialization": False}),
                                           ((3, 5), {"use_trivialization": False})])
def test_orthogonal_non_square_weight_is_torchs_from_the_same_seed(shape, kwargs):
    """Registering draws the completion of the base from the generator (randn), so a seeded
    Linear gives torch's parametrized weight, base and original without loading its state."""
    got = []
    for lib in (torch, distgrad):
        lib.manual_seed(0)
        m = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(*shape), **kwargs)
        plist = m.parametrizations.weight
        got.append([as_np(m.weight), as_np(plist.original)]
                   + [as_np(b) for b in plist[0].buffers()])
    for mine, theirs in zip(*reversed(got)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def test_orthogonal_householder_assignment_without_trivialization():
    """No base: assigning stores geqrf's reflectors (R's diagonal signs on the diagonal), and
    the weight read back is the Q of the value's QR."""
    value = arr(3, 5, seed=8)
    got = []
    for lib in (torch, distgrad):
        m = lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(5, 3),
                                                     use_trivialization=False)
        m.weight = lib.tensor(value)
        got.append([as_np(m.parametrizations.weight.original), as_np(m.weight)])
    for mine, theirs in zip(*reversed(got)):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)


def _orthogonal_bad_map(lib):
    lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), orthogonal_map="qr")


def _orthogonal_vector(lib):
    lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), name="bias")


@pytest.mark.parametrize("fn", [_orthogonal_bad_map, _orthogonal_vector, _changes_shape, _no_such_tensor, _not_parametrized,
                                _leave_unparametrized_pair, _no_right_inverse,
                                _spectral_bad_dim, _spectral_bad_iterations],
                         ids=lambda f: f.__name__)
def test_errors_are_torchs(fn):
    assert _error(distgrad, fn) == _error(torch, fn)


@pytest.mark.parametrize("name", ["weight_norm", "orthogonal_cayley", "spectral_norm_eval",
                                  "orthogonal_householder_tall", "orthogonal_householder_wide"])
def test_parametrization_finite_differences_and_second_order(name):
    """The parametrized weight as a function of its originals, in float64: gradients and
    gradients of gradients against finite differences."""
    distgrad.manual_seed(0)
    p = distgrad.nn.utils.parametrizations
    make = {"weight_norm": lambda m: p.weight_norm(m, dim=1),
            "orthogonal_cayley": lambda m: p.orthogonal(m, orthogonal_map="cayley"),
            "spectral_norm_eval": lambda m: p.spectral_norm(m).eval(),
            "orthogonal_householder_tall": p.orthogonal,
            "orthogonal_householder_wide": p.orthogonal}[name]
    shape = {"orthogonal_householder_tall": (3, 5),
             "orthogonal_householder_wide": (5, 3)}.get(name, (3, 3))
    module = make(distgrad.nn.Linear(*shape).double())
    plist = module.parametrizations.weight
    names = sorted(n for n in plist._parameters)
    originals = [getattr(plist, n).detach().clone().requires_grad_() for n in names]
    if name.startswith("orthogonal_householder"):
        with distgrad.no_grad():  # (its diagonal is read as int: -1 would step under a nudge)
            originals[0].diagonal().fill_(-1.5)

    def f(*values):
        return distgrad.func.functional_call(plist, dict(zip(names, values)), ())

    assert distgrad.autograd.gradcheck(f, tuple(originals))
    assert distgrad.autograd.gradgradcheck(f, tuple(originals))


def test_transfer_parametrizations_and_params_as_torch():
    """The parametrizations move to another module sharing the originals (one original,
    and a right_inverse's several), onto a tensor it lacks too; an unparametrized source
    changes nothing."""
    def run(lib):
        P = lib.nn.utils.parametrize

        class Split(lib.nn.Module):
            def forward(self, a, b):
                return a + b

            def right_inverse(self, w):
                return w * 0.5, w * 0.5

        lib.manual_seed(0)
        a = lib.nn.Linear(3, 3)
        P.register_parametrization(a, "weight", lib.nn.Identity())
        P.register_parametrization(a, "bias", Split())
        b = P.transfer_parametrizations_and_params(a, lib.nn.Linear(3, 3))
        c = P.transfer_parametrizations_and_params(a, lib.nn.Identity(), "weight")
        plain = lib.nn.Linear(2, 2)
        b(lib.ones(2, 3)).sum().backward()
        return [type(b).__name__, sorted(n for n, _ in b.named_parameters()),
                b.parametrizations.weight.original is a.parametrizations.weight.original,
                b.parametrizations.bias.original1 is a.parametrizations.bias.original1,
                sorted(n for n, _ in c.named_parameters()), type(c).__name__,
                P.transfer_parametrizations_and_params(lib.nn.Linear(3, 3), plain) is plain,
                a.parametrizations.bias.original0.grad.tolist()]

    assert run(distgrad) == run(torch)
