"""`Tensor.untyped_storage()` and `Tensor.storage()` as torch's: which tensors share one
memory (views, detach, .data, reshape that aliases) and which do not (clone, reshape that
copies, contiguous of a transpose), the memory's size and bytes, and the deprecation
warning of TypedStorage."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad
from distgrad import storage_objects

PROGRAMS = {
    "slice": lambda T, x: x[1:],
    "transpose": lambda T, x: x.t(),
    "detach": lambda T, x: x.detach(),
    "data": lambda T, x: x.data,
    "reshape_view": lambda T, x: x.reshape(-1),
    "reshape_copy": lambda T, x: x.t().reshape(-1),
    "contiguous_of_transpose": lambda T, x: x.t().contiguous(),
    "contiguous_already": lambda T, x: x.contiguous(),
    "clone": lambda T, x: x.clone(),
    "inplace": lambda T, x: x.add_(1),
    "unbind": lambda T, x: x.unbind(0)[1],
    "expand": lambda T, x: x[:1].expand(3, -1),
    "as_strided": lambda T, x: x.as_strided((2, 2), (1, 2), 1),
    "to_same_dtype": lambda T, x: x.to(T.float32),
    "to_other_dtype": lambda T, x: x.to(T.float64),
}


def _seen(T, case):
    x = T.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 4)
    y = PROGRAMS[case](T, x)
    ux, uy = x.untyped_storage(), y.untyped_storage()
    return {"shared": ux.data_ptr() == uy.data_ptr(), "same_object": ux is uy,
            "nbytes": (ux.nbytes(), uy.nbytes(), len(uy), uy.size()),
            "bytes": uy.tolist(), "byte_3": uy[3], "element_size": uy.element_size(),
            "offset_bytes": y.data_ptr() - uy.data_ptr(), "repr": repr(uy)}


@pytest.mark.parametrize("case", sorted(PROGRAMS))
def test_untyped_storage_is_torchs(case):
    assert _seen(distgrad, case) == _seen(torch, case)


def test_typed_storage_is_torchs_and_warns_once(monkeypatch):
    monkeypatch.setattr(storage_objects, "_warned_typed", False)

    def seen(T):
        x = T.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            s = x[1:].t().storage()
            x.storage()
        return ([(w.category, str(w.message)) for w in caught], s.size(), len(s), str(s.dtype),
                s.element_size(), s.nbytes(), s.tolist(), s[4], repr(s),
                s.data_ptr() == x.data_ptr(), s.untyped().nbytes())

    monkeypatch.setattr(torch.storage, "_always_warn_typed_storage_removal", False,
                        raising=False)
    if hasattr(torch.storage._warn_typed_storage_removal, "has_warned"):
        monkeypatch.setattr(torch.storage._warn_typed_storage_removal, "has_warned", False)
    assert seen(distgrad) == seen(torch)


def test_an_empty_tensors_storage_has_no_address():
    for T in (distgrad, torch):
        u = T.zeros(0).untyped_storage()
        assert (u.data_ptr(), u.nbytes(), u.tolist()) == (0, 0, [])


def test_a_workers_storage_has_its_size_but_no_address():
    import distgrad.distributed as dist

    if dist.is_initialized():
        dist.shutdown()
    dist.init(num_workers=1, backend="local")
    try:
        x = distgrad.zeros(3, 4, device="worker:0")
        u = x[1:].t().untyped_storage()
        assert u.nbytes() == 48 and str(u.device) == "worker:0"
        assert u is x.untyped_storage()
        with pytest.raises(RuntimeError, match="Cannot access data pointer of a Tensor on "
                                               "worker:0"):
            u.data_ptr()
        with pytest.raises(RuntimeError, match="Cannot access data pointer"):
            u.tolist()
    finally:
        dist.shutdown()
