"""Creation functions (`tensor`, `ones`, `randn`, ...), each taking dtype=, device=,
requires_grad= where torch does. Random values come from one driver-side generator, so
`manual_seed(s)` gives the same numbers whatever device the tensor is placed on.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import dtypes
from .autograd.record import call
from .tensor import Tensor, device_str

_rng = np.random.default_rng(0)


def manual_seed(seed: int):
    global _rng
    _rng = np.random.default_rng(int(seed))
    return _rng


def seed() -> int:
    s = int(np.random.SeedSequence().entropy % (2 ** 63))
    manual_seed(s)
    return s


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad:
        t.requires_grad_(True)
    return t


def _from_array(arr: np.ndarray, device, requires_grad: bool) -> Tensor:
    """Wrap a driver-side array, placing it on a worker when asked."""
    d = dtypes.from_numpy(arr.dtype)
    if arr.dtype != d.np:
        arr = arr.astype(d.np)
    dev = device_str(device)
    if dev == "cpu":
        t = Tensor._make(arr, arr.shape, d, "cpu")
    else:
        from .distributed.placement import put

        t = put(arr, dev)
    return _finish(t, requires_grad)


def _infer_array(data, dtype):
    if isinstance(data, Tensor):
        arr = data._numpy_value()
    elif isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, (list, tuple)):
        arr = np.array(_unwrap_nested(data))
        if arr.dtype == object:
            raise ValueError("expected sequence of equal length lists")
        if arr.dtype.kind == "f" and dtype is None:
            arr = arr.astype(dtypes.get_default_dtype().np)
    elif isinstance(data, (bool, np.bool_)):
        arr = np.array(data, dtype=np.bool_)
    elif isinstance(data, numbers.Integral):
        arr = np.array(data, dtype=np.int64)
    elif isinstance(data, numbers.Real):
        arr = np.array(data, dtype=dtypes.get_default_dtype().np)
    elif isinstance(data, np.generic):
        arr = np.array(data)
    else:
        raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    if dtype is not None:
        arr = arr.astype(dtype.np)
    elif arr.dtype.kind in "iu" and arr.dtype != np.int64 and not isinstance(data, np.ndarray):
        arr = arr.astype(np.int64)
    return arr


def _unwrap_nested(data):
    if isinstance(data, Tensor):
        return data._numpy_value()
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(x) for x in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """A new leaf tensor holding a copy of `data` (torch.tensor)."""
    arr = np.array(_infer_array(data, dtype), copy=True)
    return _from_array(arr, device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or data.dtype is dtype) and (
            device is None or device_str(device) == data.device_str):
        return data
    if isinstance(data, Tensor):
        return data.to(*(a for a in (device, dtype) if a is not None))
    return _from_array(_infer_array(data, dtype), device, False)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with `ndarray` (torch.from_numpy)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    return _from_array(ndarray, None, False)


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    return [int(s) for s in size]


def _dtype_or_default(dtype, value=None):
    if dtype is not None:
        return dtype
    if value is None:
        return dtypes.get_default_dtype()
    return dtypes.scalar_dtype(value)


def _filled(shape, value, dtype, device, requires_grad):
    if dtype is None:
        dtype = dtypes.get_default_dtype()
    if requires_grad and not dtype.is_floating_point:
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    t = call("full", shape=list(shape), value=value, dtype=dtype.name, _device=device_str(device))
    return _finish(t, requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    return _filled(_size(size), 0, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    return _filled(_size(size), 1, dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(_size(size), 0, dtype, device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(_size((size,)), fill_value, _dtype_or_default(dtype, fill_value), device,
                   requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype = dtype or dtypes.get_default_dtype()
    t = call("eye", n=int(n), m=int(m if m is not None else n), dtype=dtype.name,
             _device=device_str(device))
    return _finish(t, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    t = call("arange", start=start, end=end, step=step, dtype=dtype.name, _device=device_str(device))
    return _finish(t, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    dtype = dtype or dtypes.get_default_dtype()
    t = call("linspace", start=float(start), end=float(end), steps=int(steps), dtype=dtype.name,
             _device=device_str(device))
    return _finish(t, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    dtype = dtype or dtypes.get_default_dtype()
    arr = _rng.random(_size(size), dtype=np.float64).astype(dtype.np)
    return _from_array(arr, device, requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    dtype = dtype or dtypes.get_default_dtype()
    arr = _rng.standard_normal(_size(size)).astype(dtype.np)
    return _from_array(arr, device, requires_grad)


def randint(low, high=None, size=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    if high is None:
        low, high = 0, low
    arr = _rng.integers(low, high, size=tuple(size)).astype((dtype or dtypes.int64).np)
    return _from_array(arr, device, requires_grad)


def randperm(n, *, dtype=None, device=None) -> Tensor:
    return _from_array(_rng.permutation(int(n)).astype((dtype or dtypes.int64).np), device, False)


def _like(t, dtype, device):
    return (dtype or t.dtype), (device if device is not None else t.device_str)


def zeros_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _filled(input.shape, 0, d, dev, requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _filled(input.shape, 1, d, dev, requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _filled(input.shape, fill_value, d, dev, requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    d, dev = _like(input, dtype, device)
    return randn(*input.shape, dtype=d, device=dev, requires_grad=requires_grad)


def rand_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    d, dev = _like(input, dtype, device)
    return rand(*input.shape, dtype=d, device=dev, requires_grad=requires_grad)


def _legacy_constructor(cls, *args, **kwargs):
    """`distgrad.Tensor([1, 2])` or `distgrad.Tensor(2, 3)`: float32, as torch.Tensor(...)."""
    if args and all(isinstance(a, numbers.Integral) for a in args):
        return zeros(*args)
    if len(args) == 1:
        return tensor(args[0], dtype=dtypes.float32)
    return zeros(0)
