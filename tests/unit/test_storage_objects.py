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


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_sums_result_has_memory_of_its_own_size(dtype):
    """A whole-tensor sum's memory is its one element, so a tensor set_ onto it reads the
    sum, and a write through that tensor changes the sum."""
    def seen(T):
        x = T.tensor([[-1.15, 1.84, 1.19, 1.27], [-0.44, 1.94, -0.08, 0.4],
                      [0.85, 0.02, -1.73, -1.43]], dtype=getattr(T, dtype))
        total = x.sum(dim=(0, 1), keepdim=True)
        other = T.zeros(3, dtype=total.dtype)
        other.set_(total.untyped_storage(), 0, (1,), (1,))
        other.mul_(2)
        return total.untyped_storage().nbytes(), other.tolist(), total.tolist()

    assert seen(distgrad) == seen(torch)


def _workers_storage_program(T, device):
    """Addresses and bytes a program sees of one memory and its views (as offsets from
    the memory's address: the addresses themselves differ between runs)."""
    x = T.arange(12, dtype=T.float32).reshape(3, 4).to(device)
    m = (x @ T.eye(4, device=device)).t()  # (a result whose memory torch lays out by rule)
    u = x[1:].t().untyped_storage()
    start = u.data_ptr()
    detached = x[1:, 1:3].detach().untyped_storage()  # (no view, on all of x's memory)
    given = T.zeros(1, device=device)
    given.data = x[2]
    return [detached.nbytes(), detached.data_ptr() == start, detached.tolist()[8:12],
            x[:, 1].data.untyped_storage().nbytes(), given.untyped_storage().nbytes(),
            u.nbytes(), u is x.untyped_storage(), x.data_ptr() == start,
            x[1:].data_ptr() - start, x[:, 2].data_ptr() - start, x.t().data_ptr() - start,
            x.clone().data_ptr() != x.data_ptr(), x.view(-1)[5:].data_ptr() - start,
            x.view(T.int32).data_ptr() == start, x[2:2].data_ptr(), u.tolist()[4:8],
            x.t().contiguous().untyped_storage().tolist()[:8],
            m.untyped_storage().tolist()[4:12]]


def test_a_workers_storage_has_its_size_address_and_bytes_as_torchs():
    """Views of a worker's memory have data_ptr()s the program can compare, at the offsets
    torch's have, and its bytes read back in memory order."""
    import distgrad.distributed as dist

    if dist.is_initialized():
        dist.shutdown()
    dist.init(num_workers=1, backend="local")
    try:
        assert _workers_storage_program(distgrad, "worker:0") == \
            _workers_storage_program(torch, "cpu")
        a, b = distgrad.zeros(3, device="worker:0"), distgrad.zeros(3, device="worker:0")
        assert abs(a.data_ptr() - b.data_ptr()) >= 64 and a.data_ptr() % 64 == 0
    finally:
        dist.shutdown()


def test_a_workers_storage_object_frees_its_memory_with_the_last_holder():
    """A worker memory's storage object holds the memory, which only refers to it weakly:
    no reference cycle keeps the worker's array until the driver's cyclic GC runs."""
    import gc

    import distgrad.distributed as dist

    if dist.is_initialized():
        dist.shutdown()
    dist.init(num_workers=1, backend="local")

    def live() -> int:  # (dist.stats() runs the cyclic GC first: this does not)
        dist.current().flush_all()
        return dist.current().queues[0].request("stats")["tensors"]

    gc.collect()
    gc.disable()
    try:
        before = live()
        x = distgrad.ones(4, device="worker:0") * 2
        u = x.untyped_storage()
        assert u is x.untyped_storage() and u.nbytes() == 16
        del x, u
        assert live() == before
    finally:
        gc.enable()
        dist.shutdown()
