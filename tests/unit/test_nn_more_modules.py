"""The added nn modules against torch's: torch's state_dict loaded into distgrad's twin, then
results, input and parameter gradients compared (module_twin.run_pair), reprs, parameter
names, shapes and initialisation; train-mode RReLU and AlphaDropout statistically; the
running statistics of InstanceNorm; nn.utils' clip_grad_value_, parameters_to_vector,
vector_to_parameters and rnn.pad_sequence."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
import distgrad.nn as dnn
from module_twin import arr, as_np, assert_match, run_pair

MODULES = [
    ("prelu", lambda nn: nn.PReLU(3), (2, 3, 4)),
    ("prelu_one", lambda nn: nn.PReLU(init=0.1), (2, 3)),
    ("glu", lambda nn: nn.GLU(1), (2, 4, 3)),
    ("rrelu_eval", lambda nn: nn.RReLU(0.1, 0.4), (3, 4)),
    ("softmax2d", lambda nn: nn.Softmax2d(), (2, 3, 2, 2)),
    ("alpha_dropout_eval", lambda nn: nn.AlphaDropout(0.3), (3, 4)),
    ("feature_alpha_dropout_eval", lambda nn: nn.FeatureAlphaDropout(0.3), (2, 3, 4)),
    ("bilinear", None, None),
    ("conv3d", lambda nn: nn.Conv3d(2, 4, 2, padding=1, groups=2), (1, 2, 3, 3, 3)),
    ("conv_transpose1d", lambda nn: nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1,
                                                       output_padding=1, groups=2), (2, 4, 5)),
    ("conv_transpose2d", lambda nn: nn.ConvTranspose2d(3, 2, (2, 3), stride=(2, 1),
                                                       dilation=(1, 2), bias=False),
     (2, 3, 4, 3)),
    ("conv_transpose3d", lambda nn: nn.ConvTranspose3d(2, 4, (2, 3, 2), stride=(2, 1, 2),
                                                       padding=1, groups=2), (1, 2, 3, 3, 2)),
    ("fold", lambda nn: nn.Fold((4, 5), 2), (2, 8, 12)),
    ("unfold", lambda nn: nn.Unfold(2, padding=1, stride=2), (2, 3, 4, 5)),
    ("batchnorm3d", lambda nn: nn.BatchNorm3d(3), (2, 3, 2, 2, 2)),
    ("groupnorm", lambda nn: nn.GroupNorm(2, 4), (3, 4, 5)),
    ("groupnorm_plain", lambda nn: nn.GroupNorm(3, 3, affine=False), (2, 3, 2, 2)),
    ("instancenorm1d", lambda nn: nn.InstanceNorm1d(3, affine=True), (2, 3, 5)),
    ("instancenorm2d_running", lambda nn: nn.InstanceNorm2d(3, track_running_stats=True),
     (2, 3, 3, 2)),
    ("instancenorm1d_unbatched", lambda nn: nn.InstanceNorm1d(3), (3, 5)),
    ("local_response_norm", lambda nn: nn.LocalResponseNorm(3, alpha=0.1), (2, 5, 3, 2)),
    ("maxpool1d", lambda nn: nn.MaxPool1d(3, 2, padding=1), (2, 3, 8)),
    ("avgpool1d", lambda nn: nn.AvgPool1d(3, 2), (2, 3, 8)),
    ("adaptive_avgpool1d", lambda nn: nn.AdaptiveAvgPool1d(3), (2, 3, 7)),
    ("adaptive_maxpool1d", lambda nn: nn.AdaptiveMaxPool1d(3), (2, 3, 7)),
    ("adaptive_maxpool2d", lambda nn: nn.AdaptiveMaxPool2d((2, 3), return_indices=True),
     (2, 3, 5, 7)),
    ("maxpool3d", lambda nn: nn.MaxPool3d(2, 1, 1, return_indices=True), (2, 2, 3, 4, 3)),
    ("avgpool3d", lambda nn: nn.AvgPool3d((2, 1, 2), ceil_mode=True), (2, 2, 3, 4, 5)),
    ("adaptive_avgpool3d", lambda nn: nn.AdaptiveAvgPool3d((2, None, 3)), (2, 3, 5, 2, 7)),
    ("adaptive_maxpool3d", lambda nn: nn.AdaptiveMaxPool3d(2), (3, 5, 4, 3)),
    ("lppool2d", lambda nn: nn.LPPool2d(3, 2), (2, 3, 4, 4)),
    ("lppool1d", lambda nn: nn.LPPool1d(2, 3, 2), (2, 3, 7)),
    ("upsample_nearest", lambda nn: nn.Upsample(scale_factor=2), (2, 3, 3, 2)),
    ("upsample_bilinear", lambda nn: nn.Upsample(size=(5, 3), mode="bilinear"), (2, 3, 3, 2)),
    ("upsampling_bilinear2d", lambda nn: nn.UpsamplingBilinear2d(scale_factor=2), (1, 2, 3, 2)),
    ("upsampling_nearest2d", lambda nn: nn.UpsamplingNearest2d((4, 5)), (1, 2, 3, 2)),
    ("conv2d_reflect", lambda nn: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
     (2, 2, 4, 5)),
    ("conv1d_circular", lambda nn: nn.Conv1d(2, 2, 3, padding=2, stride=2,
                                             padding_mode="circular"), (2, 2, 6)),
    ("conv2d_replicate_same_even", lambda nn: nn.Conv2d(2, 2, (4, 3), padding="same",
                                                        padding_mode="replicate"), (1, 2, 5, 4)),
    ("conv3d_circular", lambda nn: nn.Conv3d(1, 2, 2, padding=1, padding_mode="circular"),
     (1, 1, 2, 3, 2)),
    ("linear_upsample", lambda nn: nn.Upsample(scale_factor=1.5, mode="linear",
                                               align_corners=True), (2, 3, 4)),
]
for _m in ("Reflection", "Replication", "Circular"):
    MODULES += [(f"{_m.lower()}pad1d", (lambda m: lambda nn: getattr(nn, f"{m}Pad1d")((2, 1)))(_m),
                 (2, 3, 4)),
                (f"{_m.lower()}pad2d", (lambda m: lambda nn: getattr(nn, f"{m}Pad2d")(1))(_m),
                 (2, 3, 4)),
                (f"{_m.lower()}pad3d", (lambda m: lambda nn: getattr(nn, f"{m}Pad3d")(
                    (1, 0, 1, 1, 0, 1)))(_m), (1, 2, 2, 3, 2))]
MODULES = [m for m in MODULES if m[1] is not None]


@pytest.mark.parametrize("name,make,shape", MODULES, ids=[m[0] for m in MODULES])
def test_module_matches_torch(name, make, shape):
    pairs = run_pair(make, {"x": arr(*shape, seed=1) + 0.1},
                     lambda m, lib, t: m(t["x"]), train="eval" not in name)
    assert_match(pairs, rtol=1e-4, atol=1e-5)
    assert repr(make(dnn)) == repr(make(torch.nn))


def test_bilinear_parameters_and_values():
    torch.manual_seed(0)
    tm, dm = torch.nn.Bilinear(3, 2, 4), dnn.Bilinear(3, 2, 4)
    assert {k: tuple(v.shape) for k, v in dm.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in tm.state_dict().items()}
    assert np.abs(as_np(dm.weight)).max() <= 1 / np.sqrt(3)
    pairs = run_pair(lambda nn: nn.Bilinear(3, 2, 4), {"a": arr(5, 3, seed=1), "b": arr(5, 2)},
                     lambda m, lib, t: m(t["a"], t["b"]))
    assert_match(pairs, rtol=1e-4, atol=1e-5)
    assert repr(dm) == repr(tm)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_module(mode):
    idx, offsets = np.array([1, 2, 4, 4, 3, 0, 2]), np.array([0, 2, 2, 5])

    def call(m, lib, t):
        return m(lib.tensor(idx), lib.tensor(offsets))

    pairs = run_pair(lambda nn: nn.EmbeddingBag(5, 3, mode=mode, padding_idx=0), {}, call)
    assert_match(pairs)
    assert repr(dnn.EmbeddingBag(5, 3, mode=mode)) == repr(torch.nn.EmbeddingBag(5, 3, mode=mode))
    assert np.all(as_np(dnn.EmbeddingBag(5, 3, padding_idx=1).weight)[1] == 0)


def test_conv_transpose_output_size():
    pairs = run_pair(lambda nn: nn.ConvTranspose2d(2, 3, 3, stride=2), {"x": arr(1, 2, 4, 4)},
                     lambda m, lib, t: m(t["x"], output_size=[10, 9]))
    assert_match(pairs, rtol=1e-4, atol=1e-5)
    assert pairs["result0"][0].shape == (1, 3, 10, 9)
    with pytest.raises(ValueError, match="requested an output size of"):
        dnn.ConvTranspose2d(2, 3, 3, stride=2)(distgrad.ones(1, 2, 4, 4), output_size=[12, 9])
    pairs = run_pair(lambda nn: nn.ConvTranspose3d(2, 2, 3, stride=2), {"x": arr(1, 2, 2, 3, 2)},
                     lambda m, lib, t: m(t["x"], output_size=[6, 7, 5]))
    assert_match(pairs, rtol=1e-4, atol=1e-5)
    assert pairs["result0"][0].shape == (1, 2, 6, 7, 5)


@pytest.mark.parametrize("name,make", [
    ("cosine_embedding", lambda nn: nn.CosineEmbeddingLoss(0.1)),
    ("margin_ranking", lambda nn: nn.MarginRankingLoss(0.2, reduction="sum")),
    ("hinge_embedding", lambda nn: nn.HingeEmbeddingLoss(0.5)),
    ("soft_margin", lambda nn: nn.SoftMarginLoss(reduction="none")),
    ("multilabel_soft_margin", lambda nn: nn.MultiLabelSoftMarginLoss()),
    ("multi_margin", lambda nn: nn.MultiMarginLoss(p=2, margin=0.5)),
    ("multilabel_margin", lambda nn: nn.MultiLabelMarginLoss()),
    ("triplet_margin", lambda nn: nn.TripletMarginLoss(0.5, swap=True)),
    ("gaussian_nll", lambda nn: nn.GaussianNLLLoss(full=True)),
    ("poisson_nll", lambda nn: nn.PoissonNLLLoss(log_input=False, full=True)),
])
def test_loss_modules(name, make):
    sign = np.where(arr(4, seed=3) > 0, 1.0, -1.0).astype(np.float32)
    inputs = {
        "cosine_embedding": lambda lib, t: (t["a"], t["b"], lib.tensor(sign)),
        "margin_ranking": lambda lib, t: (t["a"][:, 0], t["b"][:, 0], lib.tensor(sign)),
        "hinge_embedding": lambda lib, t: (t["a"][:, 0], lib.tensor(sign)),
        "soft_margin": lambda lib, t: (t["a"][:, 0], lib.tensor(sign)),
        "multilabel_soft_margin": lambda lib, t: (t["a"], (t["b"] > 0).float()),
        "multi_margin": lambda lib, t: (t["a"], lib.tensor([0, 2, 1, 2])),
        "multilabel_margin": lambda lib, t: (t["a"], lib.tensor([[0, 2, -1], [1, -1, 0],
                                                                 [2, 1, 0], [-1, 0, 0]])),
        "triplet_margin": lambda lib, t: (t["a"], t["b"], t["a"] * 0.5),
        "gaussian_nll": lambda lib, t: (t["a"], t["b"], t["a"] ** 2 + 0.5),
        "poisson_nll": lambda lib, t: (t["a"] ** 2 + 0.1, t["b"] ** 2 * 3),
    }[name]
    pairs = run_pair(make, {"a": arr(4, 3, seed=1), "b": arr(4, 3, seed=2)},
                     lambda m, lib, t: m(*inputs(lib, t)))
    assert_match(pairs, rtol=1e-4, atol=1e-5)
    assert repr(make(dnn)) == repr(make(torch.nn))


def test_loss_module_errors():
    for make in (lambda nn: nn.TripletMarginLoss(margin=0),
                 lambda nn: nn.MultiMarginLoss(p=3), lambda nn: nn.GroupNorm(2, 3),
                 lambda nn: nn.ConvTranspose1d(2, 2, 3, padding_mode="reflect")):
        with pytest.raises(ValueError) as t_exc:
            make(torch.nn)
        with pytest.raises(ValueError) as d_exc:
            make(dnn)
        assert str(d_exc.value) == str(t_exc.value)


def test_instance_norm_running_stats_and_eval():
    x = arr(3, 2, 5, seed=4)
    tm = torch.nn.InstanceNorm1d(2, momentum=0.2, track_running_stats=True, affine=True)
    dm = dnn.InstanceNorm1d(2, momentum=0.2, track_running_stats=True, affine=True)
    for _ in range(2):
        tm(torch.tensor(x))
        dm(distgrad.tensor(x))
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(as_np(dm.state_dict()[key]), as_np(tm.state_dict()[key]),
                                   rtol=1e-5, atol=1e-6, err_msg=key)
    tm.eval()
    dm.eval()
    np.testing.assert_allclose(as_np(dm(distgrad.tensor(x))), as_np(tm(torch.tensor(x))),
                               rtol=1e-5, atol=1e-5)


def test_rrelu_train_slopes_are_uniform_between_lower_and_upper():
    distgrad.manual_seed(0)
    x = distgrad.tensor(np.linspace(-3, 3, 4000).astype(np.float32), requires_grad=True)
    y = dnn.RReLU(0.1, 0.3).train()(x)
    y.sum().backward()
    xs, ys, g = as_np(x), as_np(y), as_np(x.grad)
    neg = xs < 0
    np.testing.assert_array_equal(ys[~neg], xs[~neg])
    slopes = ys[neg] / xs[neg]
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert abs(slopes.mean() - 0.2) < 0.01 and np.std(slopes) > 0.05
    np.testing.assert_allclose(g[neg], slopes, rtol=1e-5)  # the slope is the gradient
    assert np.all(g[~neg] == 1)


@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropout_train_keeps_mean_and_variance(feature):
    distgrad.manual_seed(0)
    x = distgrad.tensor(np.random.default_rng(0).standard_normal((400, 50, 2)).astype(np.float32))
    p = 0.3
    fn = dnn.functional.feature_alpha_dropout if feature else dnn.functional.alpha_dropout
    y = as_np(fn(x, p, training=True))
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    dropped = np.isclose(y, -alpha * a + alpha * a * p)
    assert abs(dropped.mean() - p) < 0.02
    kept = ~dropped
    np.testing.assert_allclose(y[kept], as_np(x)[kept] * a + alpha * a * p, rtol=1e-5, atol=1e-5)
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05
    if feature:  # whole channels go together
        assert np.all(dropped.all(-1) | kept.all(-1))


def test_clip_grad_value_and_vectors():
    for lib in (torch, distgrad):
        pass
    tp = [torch.nn.Parameter(torch.tensor(arr(3, 2, seed=k))) for k in range(2)]
    dp = [distgrad.nn.Parameter(distgrad.tensor(arr(3, 2, seed=k))) for k in range(2)]
    for ps, lib in ((tp, torch), (dp, distgrad)):
        (sum((p * lib.tensor(arr(3, 2, seed=9)) * 4).sum() for p in ps)).backward()
    writes = []
    for ps, clip in ((tp, torch.nn.utils.clip_grad_value_), (dp, dnn.utils.clip_grad_value_)):
        before = ps[0].grad._version
        clip(ps, 1.5)
        clip(ps, 2.0, foreach=False)
        writes.append(ps[0].grad._version - before)  # (foreach: clamp_min_ and clamp_max_)
    assert writes[1] == writes[0]
    for t, d in zip(tp, dp):
        np.testing.assert_allclose(as_np(d.grad), as_np(t.grad))
    tv, dv = torch.nn.utils.parameters_to_vector(tp), dnn.utils.parameters_to_vector(dp)
    np.testing.assert_allclose(as_np(dv), as_np(tv))
    assert dv.grad_fn.name() == tv.grad_fn.name()
    torch.nn.utils.vector_to_parameters(tv.detach() * 2, tp)
    dnn.utils.vector_to_parameters(dv.detach() * 2, dp)
    for t, d in zip(tp, dp):
        np.testing.assert_allclose(as_np(d), as_np(t))
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        dnn.utils.vector_to_parameters([1.0], dp)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence(batch_first, side):
    shapes = [(3, 2), (5, 2), (1, 2)]
    results = []
    for lib in (torch, distgrad):
        seqs = [lib.tensor(arr(*s, seed=k), requires_grad=True) for k, s in enumerate(shapes)]
        out = lib.nn.utils.rnn.pad_sequence(seqs, batch_first, -1.5, side)
        (out * lib.tensor(arr(*out.shape, seed=7))).sum().backward()
        results.append([as_np(out)] + [as_np(s.grad) for s in seqs])
    for d, t in zip(*results):
        np.testing.assert_allclose(d, t, rtol=1e-6)
    with pytest.raises(ValueError, match="Expected padding_side to be one of left or right"):
        dnn.utils.rnn.pad_sequence([distgrad.ones(2)], padding_side="middle")
