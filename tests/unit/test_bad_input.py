"""A catalogue of bad input, one table: each call is run under PyTorch 2.13 and under
distgrad, in the driver and with its tensors on a worker (the local backend: the same
worker code and messages, no Ray), and must raise the same exception type with a message
that starts with PyTorch's words (its first line). Errors a worker finds lazily (an index
value out of range) surface when the value is read, as the scenario does.

Then distgrad's own misuse (devices that name no worker, a shut-down runtime, sharding
that cannot be done): no PyTorch counterpart, so the message must name the fix.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad
import distgrad.distributed as dist
from torch_twin import Raised, Warned, run


class Env:
    """What a scenario builds its tensors with: torch in the driver, or distgrad with its
    tensors on `device`."""

    def __init__(self, mod, device):
        self.t = mod
        self.F = mod.nn.functional
        self.kw = {} if mod is torch else {"device": device}

    def tensor(self, data, **kw):
        return self.t.tensor(data, **kw, **self.kw)

    def ones(self, *shape, **kw):
        return self.t.ones(*shape, **kw, **self.kw)

    def leaf(self, data):
        return self.tensor(data, requires_grad=True)


def _backward_twice(E):
    x = E.leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    y.backward()


def _saved_modified(E):
    x = E.leaf([1.0, 2.0])
    e = x.exp()
    e.add_(1)
    e.sum().backward()


def _saved_input_modified(E):
    x = E.leaf([1.0, 2.0])
    a = x * 1
    b = a * a
    a.mul_(2)
    b.sum().backward()


def _weight_modified_in_no_grad(E):
    w = E.leaf([[1.0, 2.0], [3.0, 4.0]])
    m = w @ w  # saves w for both sides of its gradient
    with E.t.no_grad():
        w.mul_(2)
    m.sum().backward()


def _grad_unused(E):
    x, u = E.leaf([1.0, 2.0]), E.leaf([3.0])
    return E.t.autograd.grad((x * x).sum(), [x, u])


def _grad_not_requiring(E):
    x, c = E.leaf([1.0, 2.0]), E.tensor([1.0, 2.0])
    return E.t.autograd.grad((x * c).sum(), c)


def _inplace_leaf(E):
    x = E.leaf([1.0, 2.0])
    x.mul_(2)


def _setitem_leaf(E):
    x = E.leaf([1.0, 2.0])
    x[0] = 5.0


# (family, name) -> scenario(E); each raises (the value it returns is read).
CASES = {
    # ---- elementwise and broadcasting -------------------------------------------------------
    ("elementwise", "add shapes"): lambda E: E.ones(2, 3) + E.ones(4),
    ("elementwise", "mul shapes"): lambda E: E.ones(2, 3) * E.ones(2),
    ("elementwise", "maximum shapes"): lambda E: E.t.maximum(E.ones(2, 3), E.ones(3, 2)),
    ("elementwise", "where shapes"): lambda E: E.t.where(E.ones(3) > 0, E.ones(2), E.ones(3)),
    ("elementwise", "where condition not bool"): lambda E: E.t.where(E.ones(2), E.ones(2), E.ones(2)),
    ("elementwise", "in-place broadcast grows"): lambda E: E.ones(3).add_(E.ones(2, 3)),
    ("elementwise", "bool minus bool"): lambda E: E.tensor([True]) - E.tensor([False]),
    ("elementwise", "clamp without bounds"): lambda E: E.t.clamp(E.ones(2)),
    ("elementwise", "int to a negative power"): lambda E: E.tensor([2, 3]) ** -1,
    ("elementwise", "div rounding mode"): lambda E: E.t.div(E.ones(2), 2, rounding_mode="round"),
    ("elementwise", "invert a float"): lambda E: ~E.ones(2),
    # ---- matmul -------------------------------------------------------------------------------
    ("matmul", "mm shapes"): lambda E: E.t.mm(E.ones(2, 3), E.ones(4, 5)),
    ("matmul", "@ shapes"): lambda E: E.ones(3, 2) @ E.ones(3, 2),
    ("matmul", "vector lengths"): lambda E: E.t.matmul(E.ones(3), E.ones(4)),
    ("matmul", "matrix @ vector"): lambda E: E.ones(2, 3) @ E.ones(4),
    ("matmul", "batch shapes"): lambda E: E.t.matmul(E.ones(2, 3, 4), E.ones(2, 5, 6)),
    ("matmul", "0-dim operand"): lambda E: E.t.matmul(E.tensor(1.0), E.ones(2)),
    ("matmul", "dtypes differ"): lambda E: E.ones(2, 2) @ E.ones(2, 2, dtype=E.t.float64),
    ("matmul", "mm of a vector"): lambda E: E.t.mm(E.ones(3), E.ones(3, 2)),
    ("matmul", "dot of matrices"): lambda E: E.t.dot(E.ones(2, 2), E.ones(2, 2)),
    ("matmul", "outer of a matrix"): lambda E: E.t.outer(E.ones(2, 2), E.ones(2)),
    ("matmul", "linear shapes"): lambda E: E.F.linear(E.ones(2, 3), E.ones(4, 5)),
    ("matmul", "bmm batches"): lambda E: E.t.bmm(E.ones(2, 3, 4), E.ones(3, 4, 5)),
    ("matmul", "addbmm matrices"): lambda E: E.t.addbmm(E.ones(3, 5), E.ones(2, 3, 4),
                                                       E.ones(2, 3, 5)),
    ("matmul", "addbmm batches"): lambda E: E.t.addbmm(E.ones(3, 5), E.ones(2, 3, 4),
                                                      E.ones(3, 4, 5)),
    ("matmul", "addbmm input"): lambda E: E.t.addbmm(E.ones(3, 6), E.ones(2, 3, 4),
                                                    E.ones(2, 4, 5)),
    ("matmul", "addbmm batch2 2-D"): lambda E: E.t.addbmm(E.ones(3, 5), E.ones(2, 3, 4),
                                                         E.ones(4, 5)),
    ("matmul", "baddbmm input"): lambda E: E.t.baddbmm(E.ones(4, 3, 5), E.ones(2, 3, 4),
                                                      E.ones(2, 4, 5)),
    ("linalg", "cholesky of an indefinite matrix"):
        lambda E: E.t.linalg.cholesky(E.tensor([[1.0, 2.0], [2.0, 1.0]])),
    ("norm", "rms_norm shape"): lambda E: E.F.rms_norm(E.ones(2, 3, 4), (2, 4)),
    ("norm", "rms_norm weight"): lambda E: E.F.rms_norm(E.ones(2, 3), (3,), E.ones(4)),
    ("norm", "rms_norm no shape"): lambda E: E.F.rms_norm(E.ones(2, 3), ()),
    ("shape", "interpolate sizes"): lambda E: E.F.interpolate(E.ones(1, 1, 4), size=(2, 2)),
    ("conv", "conv2d of a 2-D input"): lambda E: E.F.conv2d(E.ones(5, 5), E.ones(2, 3, 3, 3)),
    ("conv", "conv1d with a 2-D kernel"): lambda E: E.F.conv1d(E.ones(1, 3, 5), E.ones(2, 3, 3, 3)),
    ("conv", "conv2d with a 1-D kernel"): lambda E: E.F.conv2d(E.ones(1, 3, 5, 5), E.ones(2, 3, 3)),
    ("conv", "conv2d of a 4-D weight's 5-D input"):
        lambda E: E.F.conv1d(E.ones(1, 1, 3, 5), E.ones(2, 3, 3)),
    ("conv", "weight of 2 dims"): lambda E: E.F.conv2d(E.ones(1, 3, 5, 5), E.ones(2, 3)),
    ("conv", "avg_pool2d padding"): lambda E: E.F.avg_pool2d(E.ones(1, 1, 4, 4), (2, 4),
                                                            padding=(1, 3)),
    # ---- pooling: torch's checks in torch's order ------------------------------------------------
    ("pool", "max_pool2d of 2 dims"): lambda E: E.F.max_pool2d(E.ones(3, 4), 2, 0),
    ("pool", "max_pool2d no channels"): lambda E: E.F.max_pool2d(E.ones(1, 0, 4, 4), 0, 1),
    ("pool", "max_pool2d kernel 0"): lambda E: E.F.max_pool2d(E.ones(1, 2, 8, 8), 0, 1),
    ("pool", "max_pool2d kernel -1"): lambda E: E.F.max_pool2d(E.ones(1, 2, 8, 8), -1, 1),
    ("pool", "max_pool2d stride 0"): lambda E: E.F.max_pool2d(E.ones(1, 2, 8, 8), 2, 0),
    ("pool", "max_pool2d stride -1"): lambda E: E.F.max_pool2d(E.ones(1, 2, 8, 8), 2, -1),
    ("pool", "max_pool2d dilation 0"): lambda E: E.F.max_pool2d(E.ones(1, 2, 8, 8), 2, dilation=0),
    ("pool", "max_pool2d padding -1"): lambda E: E.F.max_pool2d(E.ones(1, 2, 8, 8), 2, padding=-1),
    ("pool", "max_pool2d padding past a dilated kernel's half"):
        lambda E: E.F.max_pool2d(E.ones(1, 2, 8, 8), 3, padding=(1, 2), dilation=(1, 2)),
    ("pool", "max_pool2d 3 kernel sizes"): lambda E: E.F.max_pool2d(E.ones(3, 4), (2, 2, 2)),
    ("pool", "max_pool2d 3 dilations"): lambda E: E.F.max_pool2d(E.ones(1, 1, 4, 4), 2, 2, 0, (1, 1, 1)),
    ("pool", "max_pool3d stride 0"): lambda E: E.F.max_pool3d(E.ones(1, 2, 4, 4, 4), 2, 0),
    ("pool", "max_pool3d no channels"): lambda E: E.F.max_pool3d(E.ones(2, 0, 3, 3), 2),
    ("pool", "max_pool3d padding past a dilated kernel's half"):
        lambda E: E.F.max_pool3d(E.ones(1, 1, 8, 8, 8), 3, padding=(0, 2, 0), dilation=2),
    ("pool", "max_pool3d 2 strides"): lambda E: E.F.max_pool3d(E.ones(1, 1, 4, 4, 4), 2, (2, 2)),
    ("pool", "avg_pool2d divisor 0"): lambda E: E.F.avg_pool2d(E.ones(3, 4), 2, divisor_override=0),
    ("pool", "avg_pool2d of 2 dims"): lambda E: E.F.avg_pool2d(E.ones(3, 4), 2, 0),
    ("pool", "avg_pool2d of 5 dims"): lambda E: E.F.avg_pool2d(E.ones(1, 1, 3, 4, 4), 2),
    ("pool", "avg_pool2d 3 paddings"): lambda E: E.F.avg_pool2d(E.ones(1, 1, 4, 4), 2, 2, (1, 1, 1)),
    ("pool", "avg_pool3d of 2 dims"): lambda E: E.F.avg_pool3d(E.ones(3, 4), 2, divisor_override=0),
    ("pool", "avg_pool3d divisor 0"): lambda E: E.F.avg_pool3d(E.ones(1, 1, 4, 4, 4), 2, divisor_override=0),
    ("pool", "avg_pool3d no channels"): lambda E: E.F.avg_pool3d(E.ones(1, 0, 2, 2, 2), 3),
    ("pool", "avg_pool3d padded input under the kernel"):
        lambda E: E.F.avg_pool3d(E.ones(1, 1, 2, 2, 2), 3, padding=1),
    ("pool", "avg_pool3d 2 kernel sizes"): lambda E: E.F.avg_pool3d(E.ones(1, 1, 4, 4, 4), (2, 2)),
    ("pool", "avg_pool1d of 4 dims"): lambda E: E.F.avg_pool1d(E.ones(1, 2, 8, 8), 2),
    ("pool", "avg_pool1d stride 0"): lambda E: E.F.avg_pool1d(E.ones(1, 2, 8), 2, 0),
    ("pool", "avg_pool1d 2 strides"): lambda E: E.F.avg_pool1d(E.ones(1, 2, 8), 2, (2, 2)),
    ("pool", "max_pool1d stride 0"): lambda E: E.F.max_pool1d(E.ones(1, 2, 8), 2, 0),
    ("pool", "max_pool1d kernel 0"): lambda E: E.F.max_pool1d(E.ones(1, 2, 8), 0, 1),
    ("pool", "max_pool1d padding past half"): lambda E: E.F.max_pool1d(E.ones(1, 2, 8), 2, padding=2),
    ("pool", "max_pool1d output empty"): lambda E: E.F.max_pool1d(E.ones(1, 1, 4), 2, 1, 0, 4),
    ("pool", "max_pool1d no length"): lambda E: E.F.max_pool1d(E.ones(1, 2, 0), 2),
    ("pool", "max_pool1d 2 dilations"): lambda E: E.F.max_pool1d(E.ones(1, 2, 8), 2, 2, 0, (1, 1)),
    ("pool", "max_pool1d of longs"): lambda E: E.F.max_pool1d(E.ones(1, 1, 8, dtype=E.t.long), 2),
    ("pool", "max_pool1d of a leaf, stride 0"):
        lambda E: E.F.max_pool1d(E.leaf([[[1.0, 2.0, 3.0, 4.0]]]), 2, 0),
    ("pool", "max_pool1d with indices, stride 0"):
        lambda E: E.F.max_pool1d(E.ones(1, 2, 8), 2, 0, return_indices=True),
    ("pool", "max_pool1d with indices of 4 dims"):
        lambda E: E.F.max_pool1d(E.ones(1, 2, 8, 8), 2, return_indices=True),
    ("pool", "max_pool1d with indices, 2 kernel sizes"):
        lambda E: E.F.max_pool1d(E.ones(1, 2, 8), (2, 2), return_indices=True),
    ("pool", "max_unpool2d index outside"): lambda E: E.F.max_unpool2d(
        E.ones(1, 1, 2, 2), E.tensor([[[[0, 30], [2, 3]]]]), 2, output_size=(5, 5)),
    ("conv", "conv_transpose2d of a byte image"):
        lambda E: E.F.conv_transpose2d(E.ones(1, 2, 4, 4, dtype=E.t.uint8), E.ones(2, 2, 3, 3)),
    ("conv", "conv_transpose1d of ints"):
        lambda E: E.F.conv_transpose1d(E.ones(1, 2, 4, dtype=E.t.int32), E.ones(2, 2, 3)),
    ("conv", "dilated conv2d of bytes"): lambda E: E.F.conv2d(
        E.ones(1, 2, 4, 4, dtype=E.t.uint8), E.ones(2, 2, 2, 2, dtype=E.t.uint8), dilation=2),
    ("conv", "conv2d of bools"):
        lambda E: E.F.conv2d(E.ones(1, 2, 4, 4) > 0, E.ones(2, 2, 3, 3) > 0),
    ("conv", "conv3d of bools"):
        lambda E: E.F.conv3d(E.ones(1, 2, 3, 3, 3) > 0, E.ones(2, 2, 3, 3, 3) > 0),
    ("pool", "max_unpool2d of longs"): lambda E: E.F.max_unpool2d(
        E.ones(1, 1, 2, 2, dtype=E.t.long), E.tensor([[[[0, 1], [2, 3]]]]), 2),
    ("pool", "adaptive_avg_pool2d to 3 sizes"):
        lambda E: E.F.adaptive_avg_pool2d(E.ones(1, 2, 4, 4), (2, 2, 2)),
    ("pool", "adaptive_avg_pool3d to a negative size"):
        lambda E: E.F.adaptive_avg_pool3d(E.ones(1, 2, 4, 4, 4), (2, -1, 2)),
    ("pool", "adaptive_max_pool2d to a negative size"):
        lambda E: E.F.adaptive_max_pool2d(E.ones(1, 2, 4, 4), -1),
    ("pool", "adaptive_max_pool2d of an empty row"):
        lambda E: E.F.adaptive_max_pool2d(E.ones(1, 2, 0, 4), 2),
    ("pool", "adaptive_max_pool1d of 4 dims"): lambda E: E.F.adaptive_max_pool1d(E.ones(1, 2, 4, 4), 2),
    ("pool", "adaptive_avg_pool1d of 2 sizes"): lambda E: E.F.adaptive_avg_pool1d(E.ones(1, 2, 4), (2, 2)),
    ("shape", "unfold of 5 dims"): lambda E: E.F.unfold(E.ones(1, 2, 3, 4, 4), 2),
    ("shape", "unfold of 2 dims"): lambda E: E.F.unfold(E.ones(4, 4), 2),
    ("shape", "fold of 4 dims"): lambda E: E.F.fold(E.ones(1, 4, 3, 3), (4, 4), 2),
    ("shape", "interpolate lanczos without antialias"):
        lambda E: E.F.interpolate(E.ones(1, 1, 4, 4), size=2, mode="lanczos"),
    ("shape", "antialias of halves"): lambda E: E.F.interpolate(
        E.ones(1, 1, 4, 4, dtype=E.t.float16), size=2, mode="bilinear", antialias=True),
    ("reduce", "histc bins"): lambda E: E.t.histc(E.ones(3), bins=0),
    ("dtype", "a string in a list"): lambda E: E.tensor(["a"]),
    ("dtype", "a string after a number"): lambda E: E.tensor([1, "a"]),
    # ---- shape ----------------------------------------------------------------------------------
    ("shape", "reshape size"): lambda E: E.ones(2, 3).reshape(4),
    ("shape", "view size"): lambda E: E.ones(2, 3).view(5),
    ("shape", "two inferred dims"): lambda E: E.ones(2, 3).reshape(-1, -1),
    ("shape", "transpose dim"): lambda E: E.ones(2, 3).transpose(0, 2),
    ("shape", "narrow_copy method of a 0-dim tensor"): lambda E: E.tensor(1.0).narrow_copy(0, 0, 1),
    ("shape", "narrow negative length in range"): lambda E: E.ones(4, 3).narrow(0, 0, -1),
    ("shape", "narrow_copy method negative length"): lambda E: E.ones(4, 3).narrow_copy(0, 0, -1),
    ("shape", "narrow start past the end"): lambda E: E.ones(4, 3).narrow(0, 5, 1),
    ("shape", "narrow_copy dim"): lambda E: E.ones(4, 3).narrow_copy(2, 0, 1),
    ("shape", "permute length"): lambda E: E.ones(2, 3).permute(0, 1, 2),
    ("shape", "permute repeats"): lambda E: E.ones(2, 3).permute(0, 0),
    ("shape", "expand size"): lambda E: E.ones(2, 3).expand(2, 4),
    ("shape", "expand fewer dims"): lambda E: E.ones(2, 3).expand(3),
    ("shape", "cat sizes"): lambda E: E.t.cat([E.ones(2, 3), E.ones(2, 4)]),
    ("shape", "cat nothing"): lambda E: E.t.cat([]),
    ("shape", "stack sizes"): lambda E: E.t.stack([E.ones(2, 3), E.ones(3, 2)]),
    ("shape", "squeeze dim"): lambda E: E.ones(2).squeeze(3),
    ("shape", "unsqueeze dim"): lambda E: E.ones(2).unsqueeze(3),
    ("shape", "chunk zero"): lambda E: E.ones(3).chunk(0),
    ("shape", "flatten order"): lambda E: E.ones(2, 3, 4).flatten(2, 1),
    ("shape", "narrow past the end"): lambda E: E.ones(3).narrow(0, 2, 2),
    ("shape", "narrow of 0-dim"): lambda E: E.tensor(1.0).narrow(0, 0, 1),
    ("shape", "narrow_copy of 0-dim"): lambda E: E.t.narrow_copy(E.tensor(1.0), 3, 0, 1),
    ("shape", "narrow negative length"): lambda E: E.ones(3).narrow(5, 0, -1),
    ("shape", "narrow_copy negative length"): lambda E: E.t.narrow_copy(E.ones(4), 0, 1, -1),
    ("shape", "narrow start before"): lambda E: E.ones(4).narrow(0, -5, 1),
    ("shape", "narrow start after"): lambda E: E.ones(4).narrow(0, 5, 0),
    ("shape", "narrow_copy start after"): lambda E: E.t.narrow_copy(E.ones(4), 0, 5, 0),
    ("shape", "narrow float start"): lambda E: E.ones(4).narrow(0, E.tensor(1.0), 1),
    ("shape", "narrow 1-D start"): lambda E: E.ones(4).narrow(0, E.tensor([1]), 1),
    ("shape", "t of 3-D"): lambda E: E.ones(2, 2, 2).t(),
    # ---- reductions ----------------------------------------------------------------------------
    ("reduce", "sum dim"): lambda E: E.ones(2, 3).sum(2),
    ("reduce", "sum repeated dim"): lambda E: E.ones(2, 3).sum((0, 0)),
    ("reduce", "mean of ints"): lambda E: E.tensor([1, 2]).mean(),
    ("reduce", "var of ints"): lambda E: E.tensor([1, 2]).var(),
    ("reduce", "softmax dim"): lambda E: E.ones(2, 3).softmax(dim=2),
    ("reduce", "max dim"): lambda E: E.ones(2).max(dim=1),
    ("reduce", "max of nothing"): lambda E: E.ones(0).max(),
    ("reduce", "norm of ints"): lambda E: E.tensor([1, 2]).norm(),
    # ---- indexing ------------------------------------------------------------------------------
    ("index", "int out of range"): lambda E: E.ones(2, 3)[2],
    ("index", "index_select columns"): lambda E: E.ones(2, 3).index_select(1, E.tensor([0, 3])),
    ("index", "index_select negative"): lambda E: E.ones(3).index_select(0, E.tensor([-1])),
    ("index", "index_select of 0-dim"): lambda E: E.ones(()).index_select(0, E.tensor([1])),
    ("index", "index_select last dim"): lambda E: E.ones(2, 3, 4).index_select(2, E.tensor([9])),
    ("index", "too many indices"): lambda E: E.ones(2)[0, 0],
    ("index", "index value out of range"): lambda E: E.ones(3)[E.tensor([5])],
    ("index", "mask shape"): lambda E: E.ones(2, 3)[E.tensor([True, False, True])],
    ("index", "float index"): lambda E: E.ones(3)[E.tensor([0.5])],
    ("index", "index_select value"): lambda E: E.t.index_select(E.ones(3), 0, E.tensor([7])),
    # ---- losses --------------------------------------------------------------------------------
    ("loss", "mse shapes"): lambda E: E.F.mse_loss(E.ones(3), E.ones(2)),
    ("loss", "mse reduction"): lambda E: E.F.mse_loss(E.ones(2), E.ones(2), reduction="avg"),
    ("loss", "bce target size"): lambda E: E.F.binary_cross_entropy(E.ones(3) * 0.5, E.ones(2)),
    ("loss", "bce-with-logits target size"): lambda E: E.F.binary_cross_entropy_with_logits(
        E.ones(3), E.ones(2)),
    ("loss", "cross-entropy batch"): lambda E: E.F.cross_entropy(E.ones(3, 4), E.tensor([0, 1])),
    ("loss", "nll target value"): lambda E: E.F.nll_loss(E.ones(2, 3), E.tensor([0, 5])),
    ("loss", "nll float target"): lambda E: E.F.nll_loss(E.ones(2, 3), E.ones(2)),
    ("loss", "cross-entropy multi-target"): lambda E: E.F.cross_entropy(
        E.ones(3, 2), E.tensor([[0], [1], [1]])),
    ("loss", "bce input outside [0, 1]"): lambda E: E.F.binary_cross_entropy(
        E.tensor([0.5, 2.0]), E.ones(2)),
    ("loss", "bce target outside [0, 1]"): lambda E: E.F.binary_cross_entropy(
        E.tensor([0.5, 0.5]), E.tensor([1.0, -1.0])),
    # ---- dtypes and requires_grad ----------------------------------------------------------------
    ("dtype", "requires_grad int tensor"): lambda E: E.tensor([1, 2], requires_grad=True),
    ("dtype", "requires_grad_ on int"): lambda E: E.tensor([1, 2]).requires_grad_(),
    ("dtype", "requires_grad bool ones"): lambda E: E.ones(2, dtype=E.t.bool, requires_grad=True),
    ("dtype", "float into int in place"): lambda E: E.tensor([1, 2]).add_(0.5),
    ("dtype", "item of many"): lambda E: E.ones(2).item(),
    ("dtype", "complex into a real dtype"): lambda E: E.tensor(3 + 0j, dtype=E.t.float32),
    ("dtype", "assign a list"): lambda E: E.ones(2, 3).__setitem__(slice(None), [1.0, 2.0, 3.0]),
    ("dtype", "assign a complex"): lambda E: E.ones(2, 3).__setitem__(slice(None), 1 + 2j),
    ("dtype", "bce target"): lambda E: E.F.binary_cross_entropy(
        E.ones(2, dtype=E.t.float64) * 0.5, E.ones(2)),
    ("dtype", "linear of doubles"): lambda E: E.F.linear(E.ones(4, 3, dtype=E.t.float64),
                                                         E.ones(2, 3), E.ones(2)),
    ("dtype", "conv2d bias of doubles"): lambda E: E.F.conv2d(E.ones(1, 1, 4, 4), E.ones(1, 1, 2, 2),
                                                              E.ones(1, dtype=E.t.float64)),
    ("dtype", "layer_norm of doubles"): lambda E: E.F.layer_norm(
        E.ones(2, 3, dtype=E.t.float64), (3,), E.ones(3), E.ones(3)),
    ("dtype", "cross-entropy weight"): lambda E: E.F.cross_entropy(
        E.ones(3, 2, dtype=E.t.float64), E.tensor([0, 1, 1]), E.ones(2)),
    ("dtype", "attention of a double query"): lambda E: E.F.scaled_dot_product_attention(
        E.ones(1, 2, 3, dtype=E.t.float64), E.ones(1, 2, 3), E.ones(1, 2, 3)),
    # ---- a number where the signature takes only a tensor (function, method, in place) -----
    ("arguments", "addcmul's tensor1 a number"): lambda E: E.t.addcmul(E.ones(2), 2, E.ones(2)),
    ("arguments", "addcdiv_'s tensor2 a number"): lambda E: E.ones(2).addcdiv_(E.ones(2), 2.5),
    ("arguments", "mm's mat2 a number"): lambda E: E.ones(2, 2).mm(3),
    ("arguments", "addmm_'s mat1 a bool"): lambda E: E.ones(2, 2).addmm_(True, E.ones(2, 2)),
    ("arguments", "logical_and_'s other a number"): lambda E: E.ones(2).logical_and_(2),
    ("arguments", "index_copy_'s source a number"):
        lambda E: E.ones(2).index_copy_(0, E.tensor([0]), 2),
    ("arguments", "put's source by keyword"): lambda E: E.ones(2).put(E.tensor([0]), source=1),
    ("arguments", "dist's other None"): lambda E: E.t.dist(E.ones(2), None),
    # (several overloads, none matching: torch lists them all)
    ("arguments", "masked_fill_'s mask a number"): lambda E: E.ones(3).masked_fill_(2, 1),
    ("arguments", "masked_fill's value a string"):
        lambda E: E.t.masked_fill(E.ones(3), E.ones(3) > 0, "x"),
    ("arguments", "scatter's index a number"): lambda E: E.ones(3).scatter(0, 1, E.ones(3)),
    ("arguments", "scatter's index a number, reduce"):
        lambda E: E.t.scatter(E.ones(3), 0, 1, 2.0, reduce="add"),
    ("arguments", "index_fill_'s index a number"): lambda E: E.ones(3).index_fill_(0, 1, 2),
    ("arguments", "bucketize's boundaries a number"): lambda E: E.t.bucketize(E.ones(3), 2),
    ("arguments", "searchsorted's values a string"): lambda E: E.t.searchsorted(E.ones(3), "x"),
    ("arguments", "where's condition a number"): lambda E: E.ones(3).where(2, E.ones(3)),
    ("arguments", "lerp's end a number"): lambda E: E.ones(3).lerp(2, 0.5),
    ("arguments", "index_put_'s indices a number"): lambda E: E.ones(3).index_put_(2, E.ones(3)),
    ("arguments", "index_put's indices holding None"):
        lambda E: E.t.index_put(E.ones(2, 3), (E.tensor([0]), None), E.tensor(1.0)),
    ("arguments", "index_put's accumulate a number"):
        lambda E: E.ones(3).index_put((E.tensor([0]),), E.tensor(1.0), accumulate=1),
    ("arguments", "addcmul's value a tensor"):
        lambda E: E.t.addcmul(E.ones(3), E.ones(3), E.ones(3), value=E.ones(3)),
    # ---- autograd ------------------------------------------------------------------------------
    ("autograd", "gradient shape"): lambda E: (E.leaf([1.0, 2.0]) * 2).backward(E.ones(3)),
    ("autograd", "gradient for a scalar"): lambda E: (E.leaf([1.0]) * 2).sum().backward(E.ones(2)),
    ("autograd", "implicit gradient of a vector"): lambda E: (E.leaf([1.0, 2.0]) * 2).backward(),
    ("autograd", "nothing requires grad"): lambda E: E.ones(2).sum().backward(),
    ("autograd", "backward twice"): _backward_twice,
    ("autograd", "grad of an unused input"): _grad_unused,
    ("autograd", "grad of a constant"): _grad_not_requiring,
    ("autograd", "saved output modified"): _saved_modified,
    ("autograd", "saved input modified"): _saved_input_modified,
    ("autograd", "weight modified under no_grad"): _weight_modified_in_no_grad,
    ("autograd", "in-place on a leaf"): _inplace_leaf,
    ("autograd", "setitem on a leaf"): _setitem_leaf,
    ("autograd", "requires_grad off a non-leaf"): lambda E: (E.leaf([1.0]) * 2).requires_grad_(False),
    ("autograd", "retain_grad without grad"): lambda E: E.ones(2).retain_grad(),
    ("autograd", "hook without grad"): lambda E: E.ones(2).register_hook(print),
}

DEVICES = ["cpu", "worker:0"]


@pytest.fixture(scope="module")
def local_runtime():
    """Two in-process workers for the catalogue (whatever runtime a session had is shut)."""
    if dist.is_initialized():
        dist.shutdown()
    dist.init(2, backend="local")
    yield
    if dist.is_initialized():
        dist.shutdown()


def _first_line(msg: str) -> str:
    return msg.split("\n", 1)[0]


def test_catalogue_size():
    assert len(CASES) >= 40
    assert {f for f, _ in CASES} >= {"elementwise", "matmul", "shape", "reduce", "index", "loss",
                                      "dtype", "autograd"}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES), ids=lambda c: f"{c[0]}: {c[1]}")
def test_bad_input_as_torch(local_runtime, case, device):
    scenario = CASES[case]
    expected, w_exp = run(lambda mod: scenario(Env(mod, "cpu")), torch)
    got, w_got = run(lambda mod: scenario(Env(mod, device)), distgrad)
    assert isinstance(expected, Raised), f"torch did not raise: {expected!r}"
    assert isinstance(got, Raised), f"torch raised {expected!r}; distgrad did not: {got!r}"
    assert got.type == expected.type, f"torch {expected!r}\n ours {got!r}"
    # (torch's argument parser's message whole: the overloads it lists, what did not match)
    words = expected.message if case[0] == "arguments" else _first_line(expected.message)
    assert got.message.startswith(words), f"\ntorch: {expected.message}\n ours: {got.message}"
    assert [(w.category, w.message[:60]) for w in w_got] == \
           [(w.category, w.message[:60]) for w in w_exp], f"warnings: torch {w_exp} ours {w_got}"


# ---- distgrad's own misuse: the message names the fix ------------------------------------------

def _stale_tensor():
    x = distgrad.ones(2, device="worker:0")
    x.sum().item()
    dist.shutdown()
    dist.init(2, backend="local")
    return x.cpu()


def _after_shutdown():
    dist.shutdown()
    try:
        return distgrad.ones(2).to("worker:0")
    finally:
        dist.init(2, backend="local")


def _shard(dim, workers=None, rows=4):
    return dist.shard(distgrad.ones(rows, 3), dim, workers)


MISUSE = {
    "device names no worker": (lambda: distgrad.ones(2, device="worker:7"), RuntimeError,
                               r"'worker:7' names no worker.*2 workers: worker:0, worker:1.*"
                               r"Use one of them"),
    "device string not a worker": (lambda: distgrad.zeros(2, device="worker:one"), RuntimeError,
                                   r"Invalid device string: 'worker:one'; a worker is "
                                   r"'worker:K', K its index"),
    "to() a missing worker": (lambda: distgrad.ones(2).to("worker:2"), RuntimeError,
                              r"'worker:2' names no worker.*Use one of them"),
    "to() a worker after shutdown()": (_after_shutdown, RuntimeError,
                                       r"not initialized.*call distgrad\.distributed\.init\(\)"),
    "a worker tensor after shutdown()": (_stale_tensor, RuntimeError,
                                         r"runtime that was shut down.*create it again"),
    "two workers in one op": (lambda: distgrad.ones(2, device="worker:0")
                              + distgrad.ones(2, device="worker:1"), RuntimeError,
                              r"^Expected all tensors to be on the same device, but found at "
                              r"least two devices, worker:0 and worker:1!"),
    "shard along a missing dim": (lambda: _shard(2), IndexError,
                                  r"^Dimension out of range \(expected to be in range of \[-2, 1\], "
                                  r"but got 2\).*shard\(\).*dim"),
    "shard over more workers than rows": (lambda: _shard(0, rows=1), RuntimeError,
                                          r"fewer rows than the 2 workers.*use fewer workers"),
    "shard onto a missing worker": (lambda: _shard(0, ["worker:0", "worker:5"]), RuntimeError,
                                    r"'worker:5' names no worker"),
    "init twice": (lambda: dist.init(2, backend="local"), RuntimeError,
                   r"already initialized.*shutdown\(\)"),
    "init with no workers": (lambda: (dist.shutdown(), dist.init(0, backend="local")), ValueError,
                             r"num_workers must be a positive int"),
}


@pytest.mark.parametrize("case", sorted(MISUSE))
def test_distgrad_misuse_names_the_fix(local_runtime, case):
    fn, exc, pattern = MISUSE[case]
    try:
        with pytest.raises(exc, match=pattern):
            fn()
    finally:
        if not dist.is_initialized():
            dist.init(2, backend="local")
