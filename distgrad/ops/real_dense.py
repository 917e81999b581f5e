"""torch's Tensor methods that are trivial for real, dense tensors (distgrad has no other):
conj and resolve_conj/resolve_neg give the tensor itself, is_conj/is_neg are False, `real`
is the tensor and `imag` raises torch's error; with is_signed, is_same_size, gcd/lcm and the
legacy constructor `new`.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from .rules import binary, not_implemented
from .table import defop, elementwise


def conj(input):
    return input


def is_conj(input) -> bool:
    return False


def is_signed(input) -> bool:
    return input.dtype.is_signed


def is_same_size(input, other) -> bool:
    return tuple(input.shape) == tuple(other.shape)


def _imag(self):
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


def _new(self, *args, **kwargs):
    """The legacy constructor: new() is empty, new(2, 3) or new(Size) uninitialised (zeros
    here), new(data) a tensor of the data; self's dtype and device unless given."""
    from ..creation import tensor, zeros

    kwargs.setdefault("dtype", self.dtype)
    kwargs.setdefault("device", self.device_str)
    if not args:
        return zeros(0, **kwargs)
    if all(isinstance(a, numbers.Integral) for a in args):
        return zeros(*args, **kwargs)
    if len(args) == 1 and isinstance(args[0], tuple) and type(args[0]).__name__ == "Size":
        return zeros(*args[0], **kwargs)
    return tensor(args[0], **kwargs)


def _integers_only(name: str):
    @elementwise
    def rule(a, b):
        meta = binary(a, b)
        if meta.dtype.is_floating_point or meta.dtype is dtypes.bool_:
            raise not_implemented(f"{name}_cpu", meta.dtype)
        return meta
    return rule


defop("gcd", np.gcd, _integers_only("gcd"), None, api=("gcd",), inplace="gcd_",
      sharding="elementwise")
def _lcm(a, b):
    """torch's kernel: std::abs(a / gcd * b), computed as C++ does: in int for the 1- and
    2-byte types (the absolute value taken before the result wraps into the dtype), in
    the type itself for int32 and int64 (the product wraps first: numpy's lcm takes the
    absolute values first)."""
    dtype = np.result_type(a, b)
    g = np.gcd(a, b)
    wide = np.promote_types(dtype, np.int32) if dtype.itemsize < 4 else dtype
    product = (a // np.where(g == 0, 1, g)).astype(wide) * b.astype(wide)
    return np.where(g == 0, 0, np.abs(product)).astype(dtype)


defop("lcm", _lcm, _integers_only("lcm"), None, api=("lcm",), inplace="lcm_",
      sharding="elementwise")

FUNCTIONS = dict(conj=conj, resolve_conj=conj, resolve_neg=conj,
                 is_conj=is_conj, is_neg=is_conj, is_signed=is_signed, is_same_size=is_same_size)
METHODS = dict(FUNCTIONS, real=property(conj), imag=property(_imag), new=_new)
