"""torch.nn.utils.fusion: a BatchNorm in eval mode folded into the convolution or Linear
before it: the fused parameters bit for bit, the fused module's output, the errors."""
from __future__ import annotations

import pytest

from torch_twin import attempt, same


def _trained_pair(torch, make, features, shape):
    """The pair in eval mode with running statistics and affine parameters of their own (set,
    not trained: a convolution's last bits are not torch's, and training would carry them)."""
    torch.manual_seed(0)
    layer, bn = make(torch)
    x = torch.randn(*shape)
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        if bn.weight is not None:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-1, 1)
    layer.eval(), bn.eval()
    return layer, bn, x


PAIRS = {
    "conv2d": (lambda T: (T.nn.Conv2d(3, 4, 3), T.nn.BatchNorm2d(4)), 4, (2, 3, 6, 6), False),
    "conv1d_no_bias": (lambda T: (T.nn.Conv1d(2, 5, 3, bias=False), T.nn.BatchNorm1d(5)), 5,
                       (3, 2, 7), False),
    "conv_transpose2d": (lambda T: (T.nn.ConvTranspose2d(3, 4, 2, stride=2),
                                    T.nn.BatchNorm2d(4)), 4, (2, 3, 3, 3), True),
    "conv3d_bn_no_affine": (lambda T: (T.nn.Conv3d(2, 3, 2), T.nn.BatchNorm3d(3, affine=False)),
                            3, (1, 2, 4, 4, 4), False),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_a_conv_and_its_batch_norm_fuse_as_torchs(name):
    make, features, shape, transpose = PAIRS[name]

    def f(torch):
        layer, bn, x = _trained_pair(torch, make, features, shape)
        fused = torch.nn.utils.fusion.fuse_conv_bn_eval(layer, bn, transpose=transpose)
        return (fused.weight, fused.bias, type(fused.weight).__name__, fused is layer,
                layer.weight)
    same(f, rtol=0, atol=0)

    def outputs(torch):
        layer, bn, x = _trained_pair(torch, make, features, shape)
        fused = torch.nn.utils.fusion.fuse_conv_bn_eval(layer, bn, transpose=transpose)
        return fused(x), bn(layer(x))
    same(outputs)


@pytest.mark.parametrize("bn_features", [4, 1])
def test_a_linear_and_its_batch_norm_fuse_as_torchs(bn_features):
    def f(torch):
        make = lambda T: (T.nn.Linear(3, 4), T.nn.BatchNorm1d(bn_features))  # noqa: E731
        torch.manual_seed(0)
        layer, bn = make(torch)
        with torch.no_grad():
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
        layer.eval(), bn.eval()
        fused = torch.nn.utils.fusion.fuse_linear_bn_eval(layer, bn)
        return fused.weight, fused.bias, fused.weight.requires_grad
    same(f, rtol=0, atol=0)


def test_fusion_refuses_training_mode_and_mismatched_features():
    def f(torch):
        fusion = torch.nn.utils.fusion
        conv, bn = torch.nn.Conv2d(2, 3, 1), torch.nn.BatchNorm2d(3)
        no_stats = torch.nn.BatchNorm2d(3, track_running_stats=False).eval()
        return (attempt(lambda: fusion.fuse_conv_bn_eval(conv, bn)),
                attempt(lambda: fusion.fuse_conv_bn_eval(conv.eval(), no_stats)),
                attempt(lambda: fusion.fuse_linear_bn_eval(torch.nn.Linear(2, 3).eval(),
                                                           torch.nn.BatchNorm1d(5).eval())))
    same(f)
