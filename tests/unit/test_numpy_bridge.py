"""Tensors on a numpy array's memory (from_numpy, as_tensor, asarray) as torch's: the
array's strides (a transposed or sliced array is not contiguous, and `view` says so),
writes seen both ways, torch's refusals of negative strides, and asarray's aliasing,
copies and requires_grad."""
from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import torch

import distgrad


def _described(t):
    return (tuple(t.shape), str(t.dtype), t.stride(), t.is_contiguous(), t.requires_grad,
            t.is_leaf, type(t.grad_fn).__name__ if t.grad_fn is not None else None, t.tolist())


def _outcome(f):
    try:
        return _described(f())
    except (RuntimeError, ValueError, TypeError) as e:
        return type(e).__name__, str(e)


ARRAYS = {
    "sliced": lambda: np.arange(8.0)[1::2],
    "transposed": lambda: np.arange(6.0).reshape(2, 3).T,
    "fortran": lambda: np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "size_one_transposed": lambda: np.zeros((1, 3)).T,
    "column_of_matrix": lambda: np.arange(12.0).reshape(3, 4)[:, 1:3],
    "reversed": lambda: np.arange(4.0)[::-1],
}

MAKERS = {
    "from_numpy": lambda T, a: T.from_numpy(a),
    "as_tensor": lambda T, a: T.as_tensor(a),
    "asarray": lambda T, a: T.asarray(a),
    "tensor": lambda T, a: T.tensor(a),
    "as_tensor_float32": lambda T, a: T.as_tensor(a, dtype=T.float32),
    "as_tensor_float64": lambda T, a: T.as_tensor(a, dtype=T.float64),  # (its own dtype)
}

USES = {
    "itself": lambda t: t,
    "view_flat": lambda t: t.view(-1),
    "transpose_view_flat": lambda t: t.t().view(-1) if t.dim() == 2 else t.view(-1),
    "plus_one": lambda t: t + 1,
    "clone": lambda t: t.clone(),
}


@pytest.mark.parametrize("use", sorted(USES))
@pytest.mark.parametrize("maker", sorted(MAKERS))
@pytest.mark.parametrize("array", sorted(ARRAYS))
def test_a_tensor_from_a_numpy_array_is_torchs(array, maker, use):
    def seen(T):
        return _outcome(lambda: USES[use](MAKERS[maker](T, ARRAYS[array]())))
    assert seen(distgrad) == seen(torch)


@pytest.mark.parametrize("maker", ["from_numpy", "as_tensor", "as_tensor_float64", "asarray"])
def test_writes_go_both_ways_through_a_strided_array(maker):
    def seen(T):
        a = np.arange(8.0)
        t = MAKERS[maker](T, a[1::2])
        t.mul_(10)
        a[1] = -1.0
        return a.tolist(), t.tolist(), t.stride()
    assert seen(distgrad) == seen(torch)


# torch warns once per process (so not again here): its words, from torch 2.13
TORCH_READ_ONLY_WARNING = (
    "The given NumPy array is not writable, and PyTorch does not support non-writable "
    "tensors. This means writing to this tensor will result in undefined behavior. You may "
    "want to copy the array to protect its data or make it writable before converting it to a "
    "tensor. This type of warning will be suppressed for the rest of this program. (Triggered "
    "internally at /__w/pytorch/pytorch/torch/csrc/utils/tensor_numpy.cpp:213.)")


def test_a_read_only_array_warns_once_as_torch(monkeypatch):
    tensor_module = sys.modules["distgrad.tensor"]  # (distgrad.tensor is the function)
    monkeypatch.setattr(tensor_module, "_warned_once", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            t = distgrad.from_numpy(np.broadcast_to(np.arange(3.0), (2, 3)))
    assert [str(w.message) for w in caught] == [TORCH_READ_ONLY_WARNING]
    assert t.stride() == (0, 1)


ASARRAY = {
    "tensor_itself": lambda T, t, u, a: T.asarray(u),
    "tensor_copy": lambda T, t, u, a: T.asarray(t, copy=True),
    "tensor_to_float64": lambda T, t, u, a: T.asarray(t, dtype=T.float64),
    "tensor_to_float64_detached": lambda T, t, u, a: T.asarray(t, dtype=T.float64,
                                                               requires_grad=False),
    "tensor_to_float64_requires_grad": lambda T, t, u, a: T.asarray(u, dtype=T.float64,
                                                                    requires_grad=True),
    "tensor_no_copy_refused": lambda T, t, u, a: T.asarray(u, dtype=T.float64, copy=False),
    "array_shared": lambda T, t, u, a: T.asarray(a),
    "array_converted": lambda T, t, u, a: T.asarray(a, dtype=T.float32),
    "array_no_copy_refused": lambda T, t, u, a: T.asarray(a, dtype=T.float32, copy=False),
    "array_requires_grad": lambda T, t, u, a: T.asarray(a, requires_grad=True),
    "list_ints": lambda T, t, u, a: T.asarray([1, 2]),
    "list_floats_as_float64": lambda T, t, u, a: T.asarray([[1, 2], [3, 4]], dtype=T.float64),
    "list_no_copy_refused": lambda T, t, u, a: T.asarray([1, 2], copy=False),
    "python_float": lambda T, t, u, a: T.asarray(3.5),
    "numpy_scalar": lambda T, t, u, a: T.asarray(np.float64(2.5)),
}


@pytest.mark.parametrize("case", sorted(ASARRAY))
def test_asarray_is_torchs(case):
    def seen(T):
        t, u, a = T.ones(3, requires_grad=True), T.ones(3), np.arange(3.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _outcome(lambda: ASARRAY[case](T, t, u, a))
        a[0] = 9.0  # seen by a tensor on a's memory only
        again = ASARRAY[case](T, t, u, a).tolist() if not isinstance(out[0], str) else None
        return out, again
    assert seen(distgrad) == seen(torch)


def test_asarray_of_a_tensor_is_it():
    for T in (distgrad, torch):
        u = T.ones(3)
        assert T.asarray(u) is u
        assert T.asarray(u, requires_grad=True) is u and u.requires_grad
