"""The small nn pieces added for PyTorch programs, against torch.nn: Unflatten, ParameterDict,
the constant padding modules, PairwiseDistance, Dropout1d/2d/3d (values, gradients, grad_fn
names, reprs, errors and warnings, via torch_twin.same), and channel dropout's pattern."""
from __future__ import annotations

import numpy as np
import pytest

import distgrad
from torch_twin import attempt, same

A = np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(np.float32)
B = np.random.default_rng(4).standard_normal((2, 3, 4, 5)).astype(np.float32)


def leaf(torch, array):
    return torch.tensor(array, requires_grad=True)


def backward_result(torch, module, x, *inputs):
    """module(x, *inputs), its repr, and x's gradient for a fixed output gradient."""
    out = module(x, *inputs)
    seed = np.random.default_rng(5).standard_normal(tuple(out.shape)).astype(np.float32)
    out.backward(torch.tensor(seed))
    return out, repr(module), x.grad


@pytest.mark.parametrize("dim,sizes", [(1, (3, 1)), (-1, (5, 4)), (0, [1, -1])])
def test_unflatten(dim, sizes):
    def scenario(torch):
        x = leaf(torch, A.reshape(2, 3, 20))
        return backward_result(torch, torch.nn.Unflatten(dim, sizes), x)

    same(scenario)


def test_unflatten_errors():
    same(lambda torch: [attempt(torch.nn.Unflatten, 1, 3),
                        attempt(torch.nn.Unflatten, 1, (2, 1.5))])


@pytest.mark.parametrize("make", [
    lambda nn: nn.ZeroPad1d(2), lambda nn: nn.ZeroPad1d((0, 3)), lambda nn: nn.ZeroPad2d(1),
    lambda nn: nn.ZeroPad2d((1, 0, 2, -1)), lambda nn: nn.ZeroPad3d((1, 0, 0, 1, 2, 0)),
    lambda nn: nn.ConstantPad1d(2, 3.5), lambda nn: nn.ConstantPad2d((0, 1, 1, 0), -1.0),
    lambda nn: nn.ConstantPad3d(1, 0.5)])
def test_constant_padding(make):
    same(lambda torch: backward_result(torch, make(torch.nn), leaf(torch, A)))


@pytest.mark.parametrize("p,keepdim,eps", [(2.0, False, 1e-6), (1.0, True, 1e-6),
                                           (3.0, False, 0.1), (2.0, True, 0.0)])
def test_pairwise_distance_values_and_gradients(p, keepdim, eps):
    # torch's kernel calls ATen's norm: a NormBackward1, compared with the values and the
    # gradients of both inputs
    def scenario(torch):
        x1, x2 = leaf(torch, A[0, 0]), leaf(torch, B[0, 0, 1])  # (4, 5) and (5,): broadcast
        out, text, _ = backward_result(torch, torch.nn.PairwiseDistance(p, eps, keepdim), x1, x2)
        direct = torch.nn.functional.pairwise_distance(x1.detach(), x2.detach(), p, eps, keepdim)
        return out, text, x1.grad, x2.grad, direct, torch.pairwise_distance(x1, x2, p, eps)

    same(scenario)


def test_parameter_dict_registers_and_behaves_as_torchs():
    def scenario(torch):
        nn = torch.nn
        d = nn.ParameterDict({"w": torch.tensor(A[0, 0]), "b": nn.Parameter(torch.zeros(5)),
                              "note": "kept"})
        d.update([("z", torch.ones(2))])
        d["a"] = torch.ones(3)
        model = nn.Module()
        model.params = d
        keys_before = list(d.keys())
        popped = d.popitem()
        out = (d["w"] @ d["b"].exp()).sum()
        out.backward()
        merged = d | nn.ParameterDict({"extra": torch.ones(1)})
        return (keys_before, popped[0], [n for n, _ in model.named_parameters()],
                list(model.state_dict()), type(d["w"]).__name__, d.get("missing", 7),
                "w" in d, len(d), repr(d), d["b"].grad, list(merged), d.setdefault("b"),
                attempt(lambda: d[1]), attempt(d.update, 3), attempt(d.update, [(1, 2, 3)]),
                attempt(d, 1), list(reversed(d)), list(d.copy().items())[0][0])

    same(scenario)


DROPOUTS = [("Dropout1d", (2, 3, 5)), ("Dropout1d", (3, 5)), ("Dropout2d", (2, 3, 4, 5)),
            ("Dropout2d", (2, 3, 5)), ("Dropout3d", (2, 3, 2, 2, 5)), ("Dropout3d", (3, 2, 2, 5))]


@pytest.mark.parametrize("name,shape", DROPOUTS)
def test_channel_dropout_in_eval_mode_is_the_identity(name, shape):
    def scenario(torch):
        x = leaf(torch, np.resize(A, shape))
        m = getattr(torch.nn, name)(0.4).eval()
        out = m(x)
        return out is x, repr(m), torch.nn.functional.dropout2d(x, 0.3, training=False) is x

    same(scenario)


@pytest.mark.filterwarnings("ignore:dropout2d. Received a 3D input")  # torch warns alike
@pytest.mark.parametrize("name,shape", DROPOUTS)
def test_channel_dropout_zeroes_whole_channels_and_scales_the_rest(name, shape):
    p = 0.4
    x = distgrad.tensor(np.resize(A, shape) + 10.0, requires_grad=True)  # no zero in x
    distgrad.manual_seed(0)
    out = getattr(distgrad.nn, name)(p)(x)
    assert out.grad_fn.name() == ("SqueezeBackward1" if len(shape) in (2, 4) and
                                  name != "Dropout2d" else "MulBackward0")
    out.sum().backward()
    value, grad = out.detach().numpy(), x.grad.numpy()
    channels = shape[:1] if len(shape) in (2, 4) and name != "Dropout2d" else shape[:2]
    ratio = (value / x.detach().numpy()).reshape(*channels, -1)
    per_channel = ratio[..., :1]
    np.testing.assert_allclose(ratio, np.broadcast_to(per_channel, ratio.shape), rtol=1e-6)
    assert {round(float(v), 5) for v in per_channel.ravel()} == {0.0, round(1 / (1 - p), 5)}
    np.testing.assert_allclose(grad.reshape(ratio.shape), ratio, rtol=1e-6)
    distgrad.manual_seed(0)
    again = getattr(distgrad.nn, name)(p)(x)
    np.testing.assert_array_equal(again.detach().numpy(), value)


def test_channel_dropout_in_place_and_the_extremes():
    x = distgrad.ones(4, 6, 3)
    assert distgrad.nn.functional.dropout1d(x, 0.5, inplace=True) is x
    rows = x.numpy()
    assert ((rows == 0) | (rows == 2)).all() and (rows == rows[..., :1]).all()
    assert (distgrad.nn.Dropout2d(1.0)(distgrad.ones(2, 3, 2, 2)).numpy() == 0).all()
    assert (distgrad.nn.Dropout2d(0.0)(distgrad.ones(2, 3, 2, 2)).numpy() == 1).all()


def test_channel_dropout_errors_and_warnings():
    def scenario(torch):
        F = torch.nn.functional
        x = torch.ones(2, 3, 4)
        return (attempt(torch.nn.Dropout2d, 1.5), attempt(F.dropout1d, torch.ones(2, 3, 4, 5)),
                attempt(F.dropout3d, x, -0.1), F.dropout2d(x, 0.5, training=False).shape,
                F.dropout2d(torch.ones(3, 4), 0.5, training=False).shape,
                F.dropout3d(x, 0.5, training=False).shape)

    same(scenario)
