"""distgrad's dtypes (bool, the integers uint8 to int64, float16, bfloat16, float32 and
float64) and torch's type-promotion rules for them.

bfloat16 has no dtype of numpy's own: its arrays are of ml_dtypes' `bfloat16`, a numpy
dtype of 2 bytes holding exactly torch's bits (c10::BFloat16: the upper half of a float32).
ml_dtypes is optional (`pip install distgrad[bfloat16]`; the test extras have it): without
it torch.bfloat16 still prints, compares and promotes, and the first array asked of it
raises, naming the package.
So a bfloat16 tensor is an array like any other: element_size, views, the wire and
safetensors files take its bytes as they are, and every value is one bfloat16 holds. Ops
never compute on it: as torch's CPU kernels, they compute in float32 and round each result
once (see `cast` and ops/table.py's `half_as_float`); casts go through float32, as
c10::BFloat16 converts.
"""
from __future__ import annotations

import math

import numpy as np

try:
    import ml_dtypes
except ImportError:  # (bfloat16 then holds no arrays: _WithoutArrays)
    ml_dtypes = None


# the types torch's processErrorMsg gives their legacy names in a message
_RENAMED_IN_MESSAGES = {"Byte", "Char", "Short", "Int", "Long", "Half", "Float", "Double"}


class dtype:
    """A tensor element type; prints as torch prints it (`torch.float32`).

    It carries the other names torch prints for it, so messages never spell a map out:
    `c_name` ('long int', as in "expected ... dtype long int"), `long_name` ('Long', as in
    "not implemented for 'Long'"), `type_name` ('torch.LongTensor', `Tensor.type()`) and
    `message_name`, what torch's C++ messages call a CPU tensor of it: its type
    ('CPUBoolType'), which torch's Python layer rewrites to the legacy name for eight dtypes
    only ('torch.LongTensor').
    `random_to` is the exclusive upper bound of `random_()` without bounds: the largest
    integer the dtype holds exactly, plus one (2**24 + 1 for float32, as torch).
    """

    __slots__ = ("name", "np", "category", "is_floating_point", "is_signed", "itemsize",
                 "c_name", "long_name", "type_name", "message_name", "random_to")

    def __init__(self, name: str, np_dtype, category: int, c_name: str, long_name: str,
                 random_to: int):
        self.name = name
        measured = np.dtype(np_dtype)
        self.np = measured
        self.category = category  # 0 bool < 1 integer < 2 floating, as torch orders them
        self.is_floating_point = category == 2
        self.is_signed = category == 2 or category == 1 and measured.kind == "i"
        self.itemsize = measured.itemsize
        self.c_name = c_name
        self.long_name = long_name
        self.type_name = f"torch.{long_name}Tensor"
        self.message_name = (self.type_name if long_name in _RENAMED_IN_MESSAGES
                             else f"CPU{long_name}Type")
        self.random_to = random_to

    is_complex = False  # (distgrad has no complex dtype)

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


bool_ = dtype("bool", np.bool_, 0, "bool", "Bool", 2)
uint8 = dtype("uint8", np.uint8, 1, "unsigned char", "Byte", 2 ** 8)
int8 = dtype("int8", np.int8, 1, "signed char", "Char", 2 ** 7)
int16 = dtype("int16", np.int16, 1, "short int", "Short", 2 ** 15)
int32 = dtype("int32", np.int32, 1, "int", "Int", 2 ** 31)
int64 = dtype("int64", np.int64, 1, "long int", "Long", 2 ** 63)
float16 = dtype("float16", np.float16, 2, "c10::Half", "Half", 2 ** 11 + 1)


class _WithoutArrays(dtype):
    """A dtype this installation holds no arrays of (bfloat16 without ml_dtypes): asking for
    its numpy dtype raises."""

    __slots__ = ()

    @property
    def np(self):
        raise RuntimeError(f"torch.{self.name} needs the ml_dtypes package (numpy has no "
                           f"{self.name}): pip install ml_dtypes, or distgrad[bfloat16]")

    @np.setter
    def np(self, measured) -> None:
        pass  # (a 2-byte stand-in that dtype.__init__ measures the itemsize of)


# A 2-byte numpy dtype no array of another dtype has: bfloat16's when ml_dtypes is absent.
_NO_BF16 = np.dtype([("bfloat16", "<u2")])
bfloat16 = (dtype if ml_dtypes is not None else _WithoutArrays)(
    "bfloat16", ml_dtypes.bfloat16 if ml_dtypes is not None else _NO_BF16, 2, "c10::BFloat16",
    "BFloat16", 2 ** 8 + 1)
float32 = dtype("float32", np.float32, 2, "float", "Float", 2 ** 24 + 1)
float64 = dtype("float64", np.float64, 2, "double", "Double", 2 ** 53 + 1)

# The 2-byte floats: torch's CPU kernels compute them in float32, and many refuse both alike.
LOW_FLOATS = (float16, bfloat16)
ALL = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
NAMES = frozenset(d.name for d in ALL)
# The dtypes torch takes for index tensors (gather, index_select, indexing, embedding, ...).
INDEX = (int32, int64)
_BY_NAME = {d.name: d for d in ALL}
# The dtypes this installation holds arrays of (all but bfloat16 without ml_dtypes).
HELD = tuple(d for d in ALL if not isinstance(d, _WithoutArrays))
_BY_NP = {d.np: d for d in HELD}
# numpy types torch has but distgrad does not (uint16 to uint64) map to int64.
_NP_FALLBACK = {"u": int64}


BF16 = bfloat16.np if ml_dtypes is not None else _NO_BF16  # (ml_dtypes' numpy dtype)


def cast(arr: np.ndarray, np_dtype) -> np.ndarray:
    """arr converted to np_dtype as torch's CPU converts: float64 to float16 through float32
    (c10::Half is made from a float; numpy's direct rounding differs at half-way points);
    anything to or from bfloat16 through float32 (c10::BFloat16 is made from a float, round
    to nearest even, and read as one; ml_dtypes' own casts round a double once and saturate
    integers)."""
    if arr.dtype == np_dtype:
        return arr.astype(np_dtype)
    if arr.dtype == BF16:
        arr = arr.astype(np.float32)
        return arr if np_dtype == np.float32 else arr.astype(np_dtype)
    if np_dtype == BF16 and arr.dtype != np.float32 and arr.dtype != np.bool_:
        arr = np.asarray(arr).astype(np.float32)
    elif arr.dtype == np.float64 and np_dtype == np.float16:
        arr = arr.astype(np.float32)
    return arr.astype(np_dtype)


def rounded_in(value, np_dtype) -> np.ndarray:
    """value (an array or a number) rounded to float16 or bfloat16 `np_dtype` as torch casts
    to it, and held as float32: a CPU kernel's intermediate result kept in that dtype."""
    return cast(np.asarray(value), np_dtype).astype(np.float32)


def is_low_float(np_dtype) -> bool:
    """Whether arrays of this numpy dtype hold float16 or bfloat16 (computed in float32)."""
    return np_dtype.char in "eE" and np_dtype.itemsize == 2


def from_name(name: str) -> dtype:
    return _BY_NAME[name]


def from_numpy(np_dtype) -> dtype:
    nd = np.dtype(np_dtype)
    found = _BY_NP.get(nd)
    if found is not None:
        return found
    if nd.kind in _NP_FALLBACK:
        return _NP_FALLBACK[nd.kind]
    raise TypeError(f"can't convert np.ndarray of type numpy.{nd.type.__name__}. The only "
                    "supported types are: float64, float32, float16, complex64, complex128, int64, "
                    "int32, int16, int8, uint64, uint32, uint16, uint8, and bool.")


_default = float32  # set_default_dtype's (float32 or float64)

# Python's types, which torch takes for a dtype argument (`zeros(3, dtype=int)`, `to(float)`)
_PYTHON_TYPES = {float: float64, int: int64, bool: bool_}


def given(d):
    """A dtype argument as torch reads it: Python's float, int and bool stand for float64,
    int64 and bool; anything else (a dtype, None) as it is."""
    return _PYTHON_TYPES.get(d, d) if type(d) is type else d


def get_default_dtype() -> dtype:
    return _default


def set_default_dtype(d: dtype) -> None:
    global _default
    _default = d


def promote(a: dtype, b: dtype) -> dtype:
    """torch.promote_types: the higher category wins; within one, the wider dtype, except
    that uint8 with int8 meets in int16 (the narrowest dtype holding both) and float16 with
    bfloat16 in float32."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.itemsize == b.itemsize == 2 and a.category == 2:
        return float32
    if uint8 in (a, b) and a.category == 1:
        signed = b if a is uint8 else a
        return int16 if signed is int8 else signed
    return a if a.itemsize >= b.itemsize else b


def scalar_dtype(value) -> dtype:
    """The dtype torch gives a Python number that takes part in an op (a 'wrapped number')."""
    if isinstance(value, bool):  # (torch reads numpy's bool_ as a float)
        return bool_
    if isinstance(value, (int, np.integer)):
        check_scalar_int(value)
        return int64
    if not hasattr(value, "__float__") or isinstance(value, np.ndarray):  # (no list, str, ...)
        raise TypeError(f"expected Tensor as element of the operands, but got "
                        f"{type(value).__name__}")
    return _default


def check_scalar_int(value) -> None:
    """torch's OverflowError for a Python int no Scalar holds (beyond int64 below, uint64
    above)."""
    if type(value) is int and not -2 ** 63 <= value < 2 ** 64:
        raise OverflowError("int too big to convert" if value > 0 else
                            "can't convert negative int to unsigned")


def result_type(operands) -> dtype:
    """torch.result_type over tensors and Python numbers.

    Dimensioned tensors decide first; zero-dim tensors and then Python numbers only
    change the result when they belong to a higher category (bool < int < float).
    """
    dim = zero = wrapped = None
    for op in operands:
        if op is None:
            continue
        meta_dtype = getattr(op, "dtype", None)
        if isinstance(meta_dtype, dtype):
            if len(op.shape) == 0:
                zero = meta_dtype if zero is None else promote(zero, meta_dtype)
            else:
                dim = meta_dtype if dim is None else promote(dim, meta_dtype)
        else:
            d = scalar_dtype(op)
            wrapped = d if wrapped is None else promote(wrapped, d)
    out = dim
    for tier in (zero, wrapped):
        if tier is None:
            continue
        if out is None or tier.category > out.category:
            out = tier  # a higher-category zero-dim tensor or number wins with its own dtype
    return out


def check_scalar_fits(value, d: dtype) -> None:
    """torch's checked conversion of a number a kernel takes in the tensor's dtype
    (Scalar::to: fill_'s value, clamp's bounds, alpha): an integer dtype's as check_fits'; a
    finite number beyond a float dtype's largest is refused too (inf and nan are kept), where
    an operand of `+` or `where` would round to inf."""
    check_scalar_int(value)
    if isinstance(value, (complex, np.complexfloating)) and value.imag and d is not bool_:
        raise RuntimeError(f"value cannot be converted to type {_kernel_type(d)} without "
                           "overflow")
    if d.category == 1:
        check_fits(value, d, c_type=True)
    elif d.category == 2 and d is not float64 and not isinstance(value, complex):
        v = float(value)
        if math.isfinite(v) and abs(v) > _FLOAT_MAX[d.name]:
            raise RuntimeError(f"value cannot be converted to type {d.c_name} without overflow")


# the largest finite value of each float dtype below float64 (bfloat16's: without ml_dtypes)
_FLOAT_MAX = {"float16": 65504.0, "bfloat16": 3.3895313892515355e38,
              "float32": 3.4028234663852886e38}


def check_fits(values, d: dtype, c_type: bool = False) -> None:
    """torch's check of numbers given for an integer dtype (tensor(), full, fill_): no value
    beyond its range; a float not below its lowest (-0.5 is refused for uint8, truncated to 0
    for int8), an int down to -max for uint8 (where it wraps around); no nan or inf.
    `c_type`: the message names the C++ type (int64_t, int), as a kernel's check does."""
    if d.category != 1:
        return
    arr = np.asarray(values)
    if arr.size == 0 or arr.dtype.kind not in "iuf":
        return
    info = np.iinfo(d.np)
    low = -int(info.max) if arr.dtype.kind in "iu" and info.min == 0 else int(info.min)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(arr).all() and arr.min() >= low and arr.max() <= int(info.max)
    if not inside:
        name = _kernel_type(d) if c_type else d.name
        raise RuntimeError(f"value cannot be converted to type {name} without overflow")


def _kernel_type(d: dtype) -> str:
    """The C++ type a kernel converts a number to for dtype d, as its overflow check names it
    (int64_t, int, c10::Half, float)."""
    if d.category == 1:
        return "int" if d is int32 else f"{d.name}_t"
    return d.c_name
