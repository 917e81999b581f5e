"""torch.nn layers programs use that distgrad lacked, against torch.nn (torch_twin.same):
LPPool3d and the p = ±inf power pools, CrossMapLRN2d, DataParallel without GPUs,
FractionalMaxPool2d/3d and AdaptiveLogSoftmaxWithLoss. Values, gradients, grad_fn names,
reprs and errors."""
from __future__ import annotations

import numpy as np

from torch_twin import attempt, same

X = np.random.default_rng(4).standard_normal((2, 3, 5, 6, 7)).astype(np.float32)


def test_lp_pool3d_and_the_infinite_powers():
    def scenario(T):
        x, F = T.tensor(X, requires_grad=True), T.nn.functional
        outs = [F.lp_pool3d(x, 2, 2),
                F.lp_pool3d(x, 1.5, (2, 3, 2), stride=(1, 2, 3), ceil_mode=True),
                T.nn.LPPool3d(3, 2, stride=2)(x), F.lp_pool3d(x, float("inf"), 2),
                F.lp_pool2d(x[0], -float("inf"), 2), F.lp_pool1d(x[0, 0], float("inf"), 3)]
        sum((o * o).sum() for o in outs).backward()
        return outs + [x.grad, repr(T.nn.LPPool3d(2, 3))]

    same(scenario, rtol=1e-4, atol=1e-5)


def test_cross_map_lrn2d():
    def scenario(T):
        x = T.tensor(X[:, :, 0], requires_grad=True)
        x2 = T.tensor(np.random.default_rng(1).standard_normal((2, 6, 3, 4)).astype(np.float32),
                      requires_grad=True)
        m = T.nn.CrossMapLRN2d(3, 1e-2, 0.75, 1)
        outs = [m(x), T.nn.CrossMapLRN2d(2)(x), T.nn.CrossMapLRN2d(5, 0.1, 0.5, 2)(x2),
                T.nn.CrossMapLRN2d(4, 0.3)(x2)]
        sum((o * o).sum() for o in outs).backward()
        return outs + [x.grad, x2.grad, repr(m), repr(T.nn.CrossMapLRN2d(3)),
                       repr(T.nn.LocalResponseNorm(3)), attempt(m, x[0])]

    same(scenario, rtol=1e-4, atol=1e-5)


def test_data_parallel_without_gpus_runs_its_module():
    def scenario(T):
        T.manual_seed(0)
        inner = T.nn.Sequential(T.nn.Linear(4, 3), T.nn.ReLU())
        model = T.nn.DataParallel(inner, device_ids=[0, 1], dim=1)
        x = T.tensor(X[0, 0, 0, :2, :4], requires_grad=True)
        out = model(x)
        out.sum().backward()
        return [out, x.grad, inner[0].weight.grad, model.device_ids, model.module is inner,
                sorted(model.state_dict()), repr(model), hasattr(model, "dim"),
                isinstance(model, T.nn.parallel.DataParallel),
                attempt(T.nn.parallel.data_parallel, inner, x)]

    same(scenario)


def test_adaptive_log_softmax_with_loss():
    def scenario(T):
        T.manual_seed(0)
        m = T.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0)
        x = T.randn(7, 8, requires_grad=True)
        y = T.tensor([0, 9, 4, 2, 6, 5, 1])
        r = m(x, y)
        r.loss.backward()
        log_prob = m.log_prob(x)
        return [type(r).__name__, r._fields, tuple(r), x.grad, m.head.weight.grad,
                m.tail[1][0].weight.grad, log_prob, log_prob.exp().sum(1), m.predict(x),
                tuple(m(x[0], y[1])), repr(m), sorted(m.state_dict()),
                type(T.nn.modules.adaptive.AdaptiveLogSoftmaxWithLoss).__name__,
                attempt(m, x, T.tensor([0, 10, 1, 1, 1, 1, 1])), attempt(m, x, y[:3]),
                attempt(m, x[0], y), attempt(m, x, y[None]),
                attempt(T.nn.AdaptiveLogSoftmaxWithLoss, 8, 10, [6, 3]),
                attempt(T.nn.AdaptiveLogSoftmaxWithLoss, 8, 10, [])]

    same(scenario, rtol=1e-4, atol=1e-5)


def test_adaptive_log_softmax_predicts_the_most_probable_class():
    def scenario(T):
        T.manual_seed(1)
        m = T.nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2], head_bias=True)
        outs = []
        for scale in range(1, 5):  # (rows whose best is in the head, in a tail, or both)
            x = T.randn(5, 4) * scale
            outs.append([m.predict(x), m.log_prob(x).argmax(1)])
        with T.no_grad():
            m.head.bias.copy_(T.tensor([-9., -9, 9]))
        return outs + [m.predict(T.randn(3, 4))]

    same(scenario)


X4 = np.random.default_rng(6).standard_normal((2, 3, 7, 9)).astype(np.float32)


def test_fractional_max_pool_with_given_samples():
    def scenario(T):
        F = T.nn.functional
        x, x3 = T.tensor(X4, requires_grad=True), T.tensor(X, requires_grad=True)
        s = T.tensor(np.random.default_rng(1).random((2, 3, 2)), dtype=T.float32)
        s3 = T.tensor(np.random.default_rng(2).random((2, 3, 3)), dtype=T.float32)
        outs = [F.fractional_max_pool2d(x, 3, output_size=(4, 5), _random_samples=s,
                                        return_indices=True),
                F.fractional_max_pool2d(x, (2, 3), output_ratio=(0.5, 0.6), _random_samples=s),
                F.fractional_max_pool2d(x[0], 2, output_size=3, _random_samples=s[:1]),
                F.fractional_max_pool3d(x3, 2, output_size=(3, 4, 5), _random_samples=s3,
                                        return_indices=True),
                F.fractional_max_pool3d(x3, (2, 1, 3), output_ratio=(0.5, 0.6, 0.7),
                                        _random_samples=s3)]
        loss = sum((o[0] if isinstance(o, tuple) else o).pow(2).sum() for o in outs)
        loss.backward()
        return outs + [x.grad, x3.grad]

    same(scenario)


def test_fractional_max_pool_nan_and_double():
    def scenario(T):
        F = T.nn.functional
        a = X4.astype(np.float64)
        a[0, 0, 1:3, 2:5] = np.nan
        x = T.tensor(a, requires_grad=True)
        s = T.tensor(np.random.default_rng(3).random((2, 3, 2)))
        out, idx = F.fractional_max_pool2d(x, 2, output_size=(5, 6), _random_samples=s,
                                           return_indices=True)
        out.nansum().backward()
        return [out, idx, x.grad]

    same(scenario)


def test_fractional_max_pool_draws_torchs_samples():
    def scenario(T):
        T.manual_seed(3)
        x = T.tensor(X4, requires_grad=True)
        m = T.nn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True)
        m3 = T.nn.FractionalMaxPool3d(2, output_size=3)
        return [m(x), m(x), m3(T.tensor(X)), T.nn.functional.fractional_max_pool2d(x, 2, 3),
                repr(m), repr(m3), sorted(m.state_dict()),
                T.nn.FractionalMaxPool2d(2, 3, _random_samples=T.ones(2, 3, 2) / 2)(x)]

    same(scenario)


def test_fractional_max_pool_errors():
    def scenario(T):
        F, nn = T.nn.functional, T.nn
        x = T.tensor(X4)
        s = T.rand(2, 3, 2)
        return [attempt(F.fractional_max_pool2d, x, 3, output_size=(6, 4)),
                attempt(F.fractional_max_pool2d, x, (3,), output_size=(3, 4)),
                attempt(F.fractional_max_pool2d, x, 3, output_size=(3, 4), _random_samples=s[:1]),
                attempt(F.fractional_max_pool2d, x, 3, output_size=(3, 4),
                        _random_samples=s.double()),
                attempt(F.fractional_max_pool2d, x, 3, output_size=(3, 4),
                        _random_samples=T.rand(2, 3, 3)),
                attempt(F.fractional_max_pool2d, x, 3, output_size=(3, 4),
                        _random_samples=T.rand(2, 2, 2)),
                attempt(F.fractional_max_pool2d, x, 3, output_size=(3, 4),
                        _random_samples=T.rand(2, 3, 2, 1)),
                attempt(F.fractional_max_pool2d, x, 3),
                attempt(F.fractional_max_pool2d, x, 3, output_ratio=0.5),
                attempt(F.fractional_max_pool2d, x[0, 0], 3, output_size=(1, 1)),
                attempt(F.fractional_max_pool3d, T.tensor(X), 2, output_size=(3, 3, 6)),
                attempt(F.fractional_max_pool3d, T.tensor(X), 2, output_size=(4, 3, 3)),
                attempt(nn.FractionalMaxPool2d, 2), attempt(nn.FractionalMaxPool2d, 2, 3, 0.5),
                attempt(nn.FractionalMaxPool2d, 2, output_ratio=1.5),
                attempt(nn.FractionalMaxPool3d, 0, 3), attempt(nn.FractionalMaxPool3d, 2)]

    same(scenario)
