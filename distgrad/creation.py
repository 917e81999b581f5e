"""Creation functions (`tensor`, `ones`, `randn`, ...), each taking dtype=, device=,
requires_grad= where torch does. Random values come from one driver-side generator, so
`manual_seed(s)` gives the same numbers whatever device the tensor is placed on, and
torch's numbers (mersenne.py reproduces its CPU generator).
"""
from __future__ import annotations

import contextlib
import functools
import numbers
import warnings

import numpy as np

from . import dtypes, storage
from .mersenne import DEFAULT_SEED, TORCH_STATE, MersenneStream, nondeterministic_seed
from .autograd import record
from .autograd.record import call
from .user_frames import user_stacklevel
from .tensor import Tensor, _warn_once, device_str
from .tensor import device as _Device

_rng = MersenneStream(DEFAULT_SEED)
_default_device = None  # set_default_device: where a factory puts a tensor given no device=
# torch's words for a random op under vmap(randomness="error"), set while one runs.
forbid_random: str | None = None
STATE_BYTES = TORCH_STATE.itemsize


def manual_seed(seed: int):
    """Seed the default stream; like torch, a negative seed counts modulo 2**64."""
    reseeding()
    _rng.manual_seed(seed)
    from .sampling import default_generator
    return default_generator


def random_stream(generator=None) -> MersenneStream:
    """The stream every random op draws from (manual_seed's, or a `Generator`'s given as
    `generator=`). A compile recording is told: a replay would draw the same numbers again."""
    if forbid_random is not None:
        raise RuntimeError(forbid_random)
    if record.capturing is not None:
        record.capturing.cannot_replay("random")
    return _rng if generator is None else generator._rng


def reseeding() -> None:
    """A stream is seeded or its state set: a compile recording is told (a replay would
    not do it again)."""
    if record.capturing is not None:
        record.capturing.cannot_replay("random")


def get_rng_state() -> Tensor:
    """The default stream's state, to draw the same numbers again from it."""
    return state_tensor(_rng)


def set_rng_state(state: Tensor) -> None:
    load_state(_rng, state)


def state_tensor(stream: MersenneStream) -> Tensor:
    """torch's get_rng_state() bytes, a uint8 tensor."""
    return tensor(stream.torch_state().astype(np.uint8))


def load_state(stream: MersenneStream, state) -> None:
    """Set the stream from a state_tensor(), with torch's checks."""
    reseeding()
    if not isinstance(state, Tensor):
        raise TypeError(f"expected a torch.ByteTensor, but got {type(state).__name__}")
    if state.dtype is not dtypes.uint8:
        raise TypeError("RNG state must be a torch.ByteTensor")
    data = state.detach()._numpy_value().reshape(-1)
    if data.size != STATE_BYTES:
        raise RuntimeError(f"Expected a CPUGeneratorImplState of size {STATE_BYTES} but found "
                           f"the input RNG state size to be {data.size}")
    stream.set_torch_state(data.astype(np.uint8))


def stream_state() -> dict:
    """The default stream's state for distgrad's own save and restore (fork_rng, vmap's
    randomness="same"): no tensor made, so nothing is recorded."""
    return _rng.get_state()


def restore_stream_state(state: dict) -> None:
    _rng.set_state(state)


def initial_seed() -> int:
    """The seed the random numbers are drawn from: the last manual_seed's, else
    67280421310721 (torch seeds its default stream from the OS at start; distgrad starts
    from a new torch Generator's seed, so an unseeded run repeats)."""
    return _rng.seed


def set_default_device(device) -> None:
    """Where creation functions (`ones`, `randn`, `tensor`, a layer's parameters, ...) put a
    tensor when they are given no device=: `"cpu"`, `"worker:K"`, or None for the CPU.

    >>> distgrad.set_default_device("worker:0"); distgrad.ones(2).device
    device(type='worker', index=0)
    """
    global _default_device
    _default_device = None if device is None else device_str(_Device(device))


def get_default_device() -> _Device:
    return _Device(_default_device or "cpu")


def _placed(where) -> str:
    """The device string a factory puts its tensor on: a sharded tensor's device (as in
    zeros(n, device=x.device)) is the driver, whose tensors act as replicated next to it."""
    placed = device_str(where if where is not None else _default_device)
    return "cpu" if placed == "sharded" else placed


def seed() -> int:
    s = nondeterministic_seed()
    manual_seed(s)
    return s


def _finish(t: Tensor, requires_grad: bool) -> Tensor:
    if requires_grad:
        if not t.dtype.is_floating_point:
            raise RuntimeError("Only Tensors of floating point and complex dtype can require "
                               "gradients")
        t._set_requires_grad(True)
    return t


def _from_array(arr: np.ndarray, device, requires_grad: bool) -> Tensor:
    """Wrap a driver-side array, placing it on a worker when asked."""
    d = dtypes.from_numpy(arr.dtype)
    if arr.dtype != d.np:
        arr = arr.astype(d.np)
    dev = _placed(device)
    if dev == "cpu":
        t = Tensor._make(arr, arr.shape, d, "cpu")
    else:
        t = storage.placement(dev).put(arr, dev)
    return _finish(t, requires_grad)


def _drawn(draw, shape, dtype, device, requires_grad: bool) -> Tensor:
    """A tensor of the random values `draw()` makes, on `device`; on one whose tensors have
    no data (meta) nothing is drawn, as torch draws nothing there."""
    if not storage.holds_data(_placed(device)):
        return _filled(shape, 0, dtype, device, requires_grad)
    return _from_array(draw(), device, requires_grad)


def _infer_array(data, dtype):
    if isinstance(data, Tensor):
        arr = data._numpy_value()
    elif isinstance(data, np.ndarray):
        arr = _checked_numpy(data)
    elif isinstance(data, (list, tuple)):
        if any(isinstance(x, np.ndarray) for x in _leaves(data)):
            _warn_once("Creating a tensor from a list of numpy.ndarrays is extremely slow. Please "
                       "consider converting the list to a single numpy.ndarray with numpy.array() "
                       "before converting to a tensor.", "torch/csrc/utils/tensor_new.cpp:252")
        data = _unwrap_nested(data)
        _check_nested(data)
        arr = _nested_array(data, dtype)
    elif isinstance(data, np.generic):  # a numpy scalar keeps its dtype (np.float64 too)
        arr = np.array(data)
    elif isinstance(data, bool):
        arr = np.array(data, dtype=np.bool_)
    elif isinstance(data, numbers.Integral):  # (read as a float for a floating dtype)
        with _long_long_unpacking():
            arr = np.array(data, dtype=np.float64 if dtype is not None and
                           dtype.is_floating_point else np.int64)
    elif isinstance(data, numbers.Real):  # float64 first: tensor(0.1, dtype=float64) is exact
        arr = np.array(data, dtype=np.float64 if dtype is not None else
                       dtypes.get_default_dtype().np)
    elif isinstance(data, numbers.Complex):  # (refused below: there is no complex dtype)
        if dtype is not None:
            raise TypeError("must be real number, not complex")
        arr = np.array(data)
    else:
        _check_scalar(data)
    if dtype is not None:
        if not isinstance(data, (np.ndarray, Tensor)):  # (an array's values are cast, wrapping)
            dtypes.check_fits(arr, dtype)
        if arr.dtype != dtype.np:  # (an array already of it stays itself: as_tensor shares it)
            arr = dtypes.cast(arr, dtype.np)
    return arr


def _leaves(data):
    """The elements of nested lists (a numpy array is one)."""
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        else:
            yield x


def _kind_dtype(kind):
    """torch's dtype for elements of this kind: a numpy scalar type or array dtype its own,
    a Python bool bool, int int64, float the default (None: complex, refused later)."""
    if isinstance(kind, np.dtype) or issubclass(kind, np.generic):
        return dtypes.from_numpy(kind)
    if issubclass(kind, bool):
        return dtypes.bool_
    if issubclass(kind, numbers.Integral):
        return dtypes.int64
    return dtypes.get_default_dtype() if issubclass(kind, numbers.Real) else None


def _nested_dtype(kinds):
    """torch's dtype for nested lists whose elements are of these kinds: their dtypes promoted
    (a numpy float64 among Python floats makes float64; no elements, the default dtype).
    None: a complex element."""
    found = [_kind_dtype(kind) for kind in kinds]
    if None in found:
        return None
    return functools.reduce(dtypes.promote, found) if found else dtypes.get_default_dtype()


def _nested_array(data, dtype):
    kinds = {x.dtype if isinstance(x, np.ndarray) else type(x) for x in _leaves(data)}
    inferred = _nested_dtype(kinds)
    if inferred is None:  # complex: numpy's array, which distgrad refuses
        return np.array(data)
    if np.bool_ in kinds and (dtype or inferred) is dtypes.int64:  # torch reads it as an index
        raise TypeError(f"'{np.bool_.__module__}.{np.bool_.__name__}' object cannot be "
                        f"interpreted as an integer")
    if dtype is not None:  # (converted from float64: tensor([0.1], dtype=float64) is exact)
        return np.array(data)
    # (a float beyond float32's range is inf, silently)
    with np.errstate(over="ignore"), _long_long_unpacking():
        return np.array(data, dtype=inferred.np)


@contextlib.contextmanager
def _long_long_unpacking():
    """torch reads a Python int as a C long long: beyond int64's range, its ValueError."""
    try:
        yield
    except OverflowError:
        raise ValueError("Overflow when unpacking long long") from None


def _check_scalar(x) -> None:
    """torch's errors for what cannot be an element of a tensor."""
    if isinstance(x, str):
        raise TypeError(f"new(): invalid data type '{type(x).__name__}'")
    if not isinstance(x, (numbers.Number, np.generic)):
        raise RuntimeError(f"Could not infer dtype of {type(x).__name__}")


def _check_nested(data) -> None:
    """torch's checks of nested sequences: the sizes come from the first elements, and
    every sequence must match them."""
    def is_seq(x):
        return isinstance(x, (list, tuple)) or isinstance(x, np.ndarray) and x.ndim > 0

    sizes = []
    x = data
    while is_seq(x):
        sizes.append(len(x))
        if not len(x):
            break
        x = x[0]
        if isinstance(x, str):  # (torch takes the sizes from first elements, and a string
            raise ValueError("too many dimensions 'str'")  # for a sequence without end)

    def walk(seq, dim):
        if dim == len(sizes):
            if is_seq(seq):
                raise TypeError(f"'{type(seq).__name__}' object cannot be interpreted as an "
                                "integer")
            if not isinstance(seq, np.ndarray):
                _check_scalar(seq)
            return
        if not is_seq(seq):
            raise TypeError("not a sequence")
        if len(seq) != sizes[dim]:
            raise ValueError(f"expected sequence of length {sizes[dim]} at dim {dim} "
                             f"(got {len(seq)})")
        if isinstance(seq, np.ndarray):
            if seq.shape != tuple(sizes[dim:]):
                raise ValueError(f"expected sequence of length {sizes[-1]} at dim "
                                 f"{len(sizes) - 1} (got {seq.shape[-1]})")
            return
        for item in seq:
            walk(item, dim + 1)

    walk(data, 0)


def _unwrap_nested(data):
    if isinstance(data, Tensor):
        return data._numpy_value()
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(x) for x in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad=False, pin_memory=False) -> Tensor:
    """A new leaf tensor holding a copy of `data` (torch.tensor)."""
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use "
                      "sourceTensor.detach().clone() or sourceTensor.detach().clone()"
                      ".requires_grad_(True), rather than torch.tensor(sourceTensor).",
                      UserWarning, stacklevel=2)
    _check_args("tensor", (), none_ok=False, requires_grad=requires_grad, dtype=dtype)
    arr = _infer_array(data, dtypes.given(dtype))
    if isinstance(data, np.ndarray):
        return _from_numpy_source(arr, data, device, requires_grad, copy=True)
    return _from_array(np.array(arr, copy=True), device, requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    dtype = dtypes.given(dtype)
    if isinstance(data, Tensor) and (dtype is None or data.dtype is dtype) and (
            device is None or device_str(device) == data.device_str):
        return data
    if isinstance(data, Tensor):
        return data.to(*(a for a in (device, dtype) if a is not None))
    if isinstance(data, np.ndarray):
        return _from_numpy_source(_infer_array(data, dtype), data, device, False)
    return _from_array(_infer_array(data, dtype), device, False)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A tensor sharing memory with `ndarray` (torch.from_numpy)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    # (shares the array's memory, as torch's)
    return _from_numpy_source(_checked_numpy(ndarray), ndarray, "cpu", False)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=None) -> Tensor:
    """torch.asarray: `obj` itself when it is a tensor of that dtype and device, a tensor on a
    numpy array's memory (as from_numpy), else a new tensor (as torch.tensor); copy=True
    always copies, copy=False refuses to."""
    if isinstance(obj, Tensor):
        out = _tensor_as_array(obj, dtype, device, copy, requires_grad)
        if out is not obj and requires_grad is None and obj.requires_grad:
            _warn_once("torch.asarray: unspecified requires_grad now defaults to "
                       "obj.requires_grad instead of False. Pass requires_grad=False "
                       "explicitly to get the old behavior and silence this warning.",
                       "torch/csrc/utils/tensor_new.cpp:1737")
        return out
    if isinstance(obj, np.ndarray) and not copy and (device is None or
                                                     device_str(device) == "cpu"):
        arr = _checked_numpy(obj)
        wanted = dtype or dtypes.from_numpy(arr.dtype)
        if wanted.np != arr.dtype:
            if copy is False:
                raise ValueError(f"can't alias tensor with dtype "
                                 f"'{dtypes.from_numpy(arr.dtype).long_name}' into dtype "
                                 f"'{wanted.long_name}'.")
            return tensor(arr, dtype=wanted, requires_grad=bool(requires_grad))
        out = from_numpy(arr)
        return out._set_requires_grad(True) if requires_grad else out
    if copy is False:
        raise ValueError("can't alias arbitrary sequence into a tensor.")
    return tensor(obj, dtype=dtype, device=device, requires_grad=bool(requires_grad))


def _tensor_as_array(obj, dtype, device, copy, requires_grad) -> Tensor:
    """asarray of a tensor: itself (requires_grad=True sets it in place), or a copy that
    keeps its history unless requires_grad=False."""
    to_dtype = dtype if dtype is not None and dtype is not obj.dtype else None
    to_device = device_str(device) if device is not None else obj.device_str
    if copy is False and to_dtype is not None:
        raise ValueError(f"can't alias tensor with dtype '{obj.dtype.long_name}' into dtype "
                         f"'{to_dtype.long_name}'.")
    if copy is False and to_device != obj.device_str:
        raise ValueError(f"can't alias tensor from device '{obj.device_str}' to '{to_device}'.")
    if not copy and to_dtype is None and to_device == obj.device_str:
        return obj._set_requires_grad(True) if requires_grad else obj
    source = obj.detach() if requires_grad is False else obj
    out = source.to(*(a for a in (to_device, to_dtype) if a is not None))
    if out is source:
        out = source.clone()
    return out._set_requires_grad(True) if requires_grad and not out.requires_grad else out


def _checked_numpy(arr: np.ndarray) -> np.ndarray:
    """torch's refusals of a numpy array's strides: a tensor has none below 0 and steps by
    whole elements."""
    if any(s < 0 for s in arr.strides):
        raise ValueError("At least one stride in the given numpy array is negative, and "
                         "tensors with negative strides are not currently supported. (You can "
                         "probably work around this by making a copy of your array  with "
                         "array.copy().) ")
    if any(s % arr.itemsize for s in arr.strides):
        raise ValueError("given numpy array strides not a multiple of the element byte size. "
                         "Copy the numpy array to reallocate the memory.")
    return arr


def _from_numpy_source(arr: np.ndarray, source: np.ndarray, device, requires_grad: bool,
                       copy: bool = False) -> Tensor:
    """`_from_array` of `arr`, which is numpy array `source` or made from it, laid out as
    torch lays it out: on source's memory with its strides when `arr` is source (from_numpy,
    as_tensor: a transposed or sliced array is not contiguous, and `view` says so), else a
    copy in clone's layout of them (tensor(), a dtype change)."""
    if not source.flags.writeable and not copy:
        _warn_once("The given NumPy array is not writable, and PyTorch does not support "
                   "non-writable tensors. This means writing to this tensor will result in "
                   "undefined behavior. You may want to copy the array to protect its data or "
                   "make it writable before converting it to a tensor. This type of warning "
                   "will be suppressed for the rest of this program.",
                   "torch/csrc/utils/tensor_numpy.cpp:213")
    from .ops import layout
    from .ops.table import in_layout

    strides = tuple(s // source.itemsize for s in source.strides)
    if copy or arr is not source or dtypes.from_numpy(arr.dtype).np != arr.dtype:
        strides = layout.preserved(source.shape, strides) if source.size else None
        arr = np.array(arr, order="C") if strides is None else in_layout(arr, strides)
    t = _from_array(arr, device, requires_grad)
    if arr is source:
        t._storage.hand_to_numpy()
    if t.device_str == "cpu" and t.numel() and strides is not None and \
            strides != layout.contiguous_strides(tuple(t.shape)):
        t._layout = (strides, 0)
    return t


# ---- torch's argument parser: a requires_grad that is not a bool, a generator that is not one --

_KW = ("torch.dtype dtype = None, torch.layout layout = None, torch.device device = None, "
       "bool pin_memory = False, bool requires_grad = False")
_OUT_KW = "Tensor out = None, " + _KW
_SIZE, _GEN = "tuple of ints size, *, ", "torch.Generator generator, "
# The overloads torch lists for the functions that have several.
_OVERLOADS = {
    "rand": (_SIZE + _GEN + _OUT_KW, _SIZE + _OUT_KW),
    "randn": (_SIZE + _GEN + _OUT_KW, _SIZE + _OUT_KW),
    "randperm": ("int n, *, " + _GEN + _OUT_KW, "int n, *, " + _OUT_KW),
    "randint": tuple(f"{bounds}, tuple of ints size, *, {gen}" + _OUT_KW
                     for bounds in ("int high", "int low, int high") for gen in (_GEN, "")),
    "arange": ("Number end, *, " + _OUT_KW, "Number start, Number end, *, " + _KW,
               "Number start, Number end, Number step = 1, *, " + _OUT_KW),
    "eye": ("int n, *, " + _OUT_KW, "int n, int m, *, " + _OUT_KW),
    "linspace": tuple(f"{a} start, {b} end, int steps, *, " + _OUT_KW
                      for a, b in (("Tensor", "Tensor"), ("Number", "Tensor"),
                                   ("Tensor", "Number"), ("Number", "Number"))),
    "rsub": ("Tensor input, Tensor other, *, Number alpha = 1",
             "Tensor input, Number other, Number alpha = 1"),
}
# the window functions (signal_windows.py): after periodic, their parameters
for _name, _params in (("hann_window", ()), ("hamming_window", ("alpha", "beta")),
                       ("blackman_window", ()), ("bartlett_window", ()),
                       ("kaiser_window", ("beta",))):
    _OVERLOADS[_name] = tuple(
        ", ".join(["int window_length", "bool periodic"][:1 + bool(k)] +
                  [f"float {p}" for p in _params[:max(k - 1, 0)]]) + ", *, " + _KW
        for k in range(len(_params) + 2))


def _parser_type(x) -> str:
    if isinstance(x, dtypes.dtype):
        return "torch.dtype"
    if isinstance(x, _Device):
        return "torch.device"
    return "torch.Generator" if type(x).__name__ == "Generator" else type(x).__name__


def _check_args(name: str, args: tuple, none_ok: bool = True, **keywords) -> None:
    """torch's TypeError when requires_grad= is not a bool (None: the default, but for
    tensor()), generator= is not a Generator or dtype= is no dtype (a string, a numpy type;
    Python's float, int and bool stand for theirs). A function of one overload names the
    argument; one of several lists them, with the types of the arguments given."""
    from .generator import Generator

    rg = keywords.get("requires_grad")
    bad_rg = not isinstance(rg, bool) and not (rg is None and none_ok)
    gen = keywords.get("generator")
    d = dtypes.given(keywords.get("dtype"))
    bad_dtype = d is not None and not isinstance(d, dtypes.dtype)
    if not bad_rg and not bad_dtype and (gen is None or isinstance(gen, Generator)):
        return
    if name not in _OVERLOADS:
        arg, value = ("dtype", d) if bad_dtype else ("requires_grad", rg)
        wanted = "torch.dtype" if bad_dtype else "bool"
        raise TypeError(f"{name}(): argument '{arg}' must be {wanted}, not {type(value).__name__}")
    raise invalid_combination(name, args, keywords)


def invalid_combination(name: str, args: tuple, keywords: dict) -> TypeError:
    """torch's TypeError for arguments that fit none of a function's overloads."""
    given = [_parser_type(a) for a in args] + [
        f"{k}={_parser_type(v)}" for k, v in keywords.items() if v is not None and v is not False]
    return TypeError(f"{name}() received an invalid combination of arguments - got "
                     f"({', '.join(given)}), but expected one of:\n" +
                     "".join(f" * ({o})\n" for o in _OVERLOADS[name]))


def _size_given(name: str, args: tuple, size) -> tuple:
    """The size as the positional form takes it: torch's size= keyword is a sequence, or
    the sizes are given positionally (not both)."""
    if size is None:
        return args
    if args:
        raise TypeError(f"{name}() got multiple values for argument 'size'")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{name}(): argument 'size' must be tuple of ints, not "
                        f"{type(size).__name__}")
    return (size,)


def _size(size, name=None):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    size = [int(s) for s in size]
    if any(s < 0 for s in size):
        if name == "zeros":
            raise RuntimeError("zeros: Dimension size must be non-negative.")
        neg = next(s for s in size if s < 0)
        raise RuntimeError(f"Trying to create tensor with negative dimension {neg}: {size}")
    return size


def _random_dtype(dtype, kernel):
    dtype = dtypes.given(dtype) or dtypes.get_default_dtype()
    if not dtype.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{dtype.long_name}'")
    return dtype


_DIGITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}  # mantissa bits + 1


def _in_float(x: int, dtype) -> int:
    """An int64 made a `dtype` number and back, as C++ casts it (bfloat16 through float)."""
    return int(dtypes.cast(np.array(x, np.int64), dtype.np).astype(np.float64))


def _check_random_bounds(dtype, low: int, high: int):
    """torch's check that random_'s [low, high) fits an integer (or bool) dtype; for a
    floating dtype, the bounds moved to numbers it holds (torch's update_from and update_to)
    and its warning beyond the integers it holds exactly. Returns the bounds to draw in."""
    if dtype.is_floating_point:
        digits = _DIGITS[dtype.name]
        biggest = float(np.finfo(dtype.np).max)
        for value, name in ((low, "from"), (high - 1, "to - 1")):
            if not -biggest <= value <= biggest:
                raise RuntimeError(f"{name} is out of bounds for {dtype.c_name}")
        if _in_float(low + 1, dtype) < low:
            n = max(abs(low + 1).bit_length() - 1, 0)
            low = _in_float(low + 1, dtype) + (1 << (n - digits + 1))
        if _in_float(high - 1, dtype) >= high:
            n = max(abs(high - 1).bit_length() - 1, 0)
            high = _in_float(high - 1, dtype) - (1 << (n - digits + 1))
        if low >= high:
            raise RuntimeError(f"random_ expects 'from' casted to dtype to be less than 'to' "
                               f"casted to dtype, but got from={low} >= to={high}")
        for value, name in ((low, "from"), (high - 1, "to - 1")):
            if not -(1 << digits) <= value <= 1 << digits:
                warnings.warn(f"{name} is out of bounds [-(2^{digits}), 2^{digits}]. Due to "
                              f"precision limitations {dtype.c_name} can support discrete "
                              "uniform distribution only within this range. This warning will "
                              "become an error in version 1.7 release, please fix the code in "
                              "advance", stacklevel=3)
        return low, high
    info = np.iinfo(dtype.np) if dtype is not dtypes.bool_ else None
    least, most = (info.min, info.max) if info is not None else (0, 1)
    if not least <= low <= most:
        raise RuntimeError(f"from is out of bounds for {dtype.c_name}")
    if not least <= high - 1 <= most:
        raise RuntimeError(f"to - 1 is out of bounds for {dtype.c_name}")
    return low, high


def _number(x):
    """A 0-dim tensor argument (arange(t), full(size, t)) as the Python number it holds."""
    return x.item() if isinstance(x, Tensor) else x


def _dtype_or_default(dtype, value=None):
    if dtype is not None:
        return dtypes.given(dtype)
    if value is None:
        return dtypes.get_default_dtype()
    return dtypes.scalar_dtype(value)


def _filled(shape, value, dtype, device, requires_grad):
    dtype = dtypes.given(dtype) or dtypes.get_default_dtype()
    if requires_grad and not dtype.is_floating_point:
        raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
    t = call("full", shape=list(shape), value=value, dtype=dtype.name, _device=_placed(device))
    return _finish(t, requires_grad)


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    size = _size_given("zeros", sizes, size)
    _check_args("zeros", size, requires_grad=requires_grad, dtype=dtype)
    return _filled(_size(size, "zeros"), 0, dtype, device, requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    size = _size_given("ones", sizes, size)
    _check_args("ones", size, requires_grad=requires_grad, dtype=dtype)
    return _filled(_size(size), 1, dtype, device, requires_grad)


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    size = _size_given("empty", sizes, size)
    _check_args("empty", size, requires_grad=requires_grad, dtype=dtype)
    return _filled(_size(size), 0, dtype, device, requires_grad)


def scalar_tensor(s, *, dtype=None, layout=None, device=None, pin_memory=False,
                  requires_grad=False) -> Tensor:
    """A 0-dim tensor of the number s, in the default float dtype unless told otherwise."""
    if isinstance(s, Tensor):
        s = s.item()
    if not isinstance(s, numbers.Number):
        raise TypeError(f"scalar_tensor(): argument 's' (position 1) must be Number, not "
                        f"{type(s).__name__}")
    return _filled((), s, dtype or dtypes.get_default_dtype(), device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_args("full", (size, fill_value), requires_grad=requires_grad, dtype=dtype)
    return _filled(_size((size,)), fill_value, _dtype_or_default(dtype, fill_value), device,
                   requires_grad)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_args("eye", (n,) if m is None else (n, m), dtype=dtype, device=device,
                requires_grad=requires_grad)
    dtype = dtypes.given(dtype) or dtypes.get_default_dtype()
    t = call("eye", n=int(n), m=int(m if m is not None else n), dtype=dtype.name,
             _device=_placed(device))
    return _finish(t, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_args("arange", (start,) if end is None else (start, end) if step == 1 else
                (start, end, step), dtype=dtype, device=device, requires_grad=requires_grad)
    start, end, step = _number(start), _number(end), _number(step)
    if end is None:
        start, end = 0, start
    dtype = dtypes.given(dtype)
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    t = call("arange", start=start, end=end, step=step, dtype=dtype.name, _device=_placed(device))
    return _finish(t, requires_grad)


def inclusive_range(start, end=None, step=1, *, dtype=None, device=None,
                    requires_grad=False) -> Tensor:
    """torch.range: from start to end, end included, in the default dtype (deprecated)."""
    if end is None:  # (torch's parser: no warning yet)
        raise TypeError('range() missing 1 required positional arguments: "end"')
    warnings.warn("torch.range is deprecated and will be removed in a future release because "
                  "its behavior is inconsistent with Python's range builtin. Instead, use "
                  "torch.arange, which produces values in [start, end).", UserWarning,
                  stacklevel=user_stacklevel())  # (out= calls it through a wrapper)
    _check_args("range", (start, end, step), dtype=dtype, device=device,
                requires_grad=requires_grad)
    dtype = dtypes.given(dtype) or dtypes.get_default_dtype()
    t = call("range", start=_number(start), end=_number(end), step=_number(step),
             dtype=dtype.name, _device=_placed(device))
    return _finish(t, requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_args("linspace", (start, end, steps), dtype=dtype, device=device,
                requires_grad=requires_grad)
    dtype = dtypes.given(dtype) or dtypes.get_default_dtype()
    t = call("linspace", start=float(start), end=float(end), steps=int(steps), dtype=dtype.name,
             _device=_placed(device))
    return _finish(t, requires_grad)


def rand(*sizes, size=None, dtype=None, device=None, requires_grad=False,
          generator=None) -> Tensor:
    size = _size_given("rand", sizes, size)
    _check_args("rand", size, generator=generator, dtype=dtype, device=device,
                requires_grad=requires_grad)
    dtype = _random_dtype(dtype, "check_uniform_bounds")
    return _drawn(lambda: random_stream(generator).uniform_values(_size(size), dtype.np),
                  _size(size), dtype, device, requires_grad)


def randn(*sizes, size=None, dtype=None, device=None, requires_grad=False,
           generator=None) -> Tensor:
    size = _size_given("randn", sizes, size)
    _check_args("randn", size, generator=generator, dtype=dtype, device=device,
                requires_grad=requires_grad)
    dtype = _random_dtype(dtype, "normal_kernel_cpu")
    return _drawn(lambda: random_stream(generator).normal_values(_size(size), dtype.np),
                  _size(size), dtype, device, requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    _check_args("randint", tuple(a for a in (low, high, size) if a is not None),
                generator=generator, dtype=dtype, device=device, requires_grad=requires_grad)
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() received an invalid combination of arguments - expected "
                        "(int high, tuple of ints size) or (int low, int high, tuple of ints size)")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= "
                           f"to={high}")
    dtype = dtypes.given(dtype) or dtypes.int64
    low, high = _check_random_bounds(dtype, low, high)
    shape = tuple(_size((size,)))
    return _drawn(lambda: dtypes.cast(random_stream(generator).randint(low, high, shape),
                                      dtype.np), shape, dtype, device, requires_grad)


def randperm(n, *, generator=None, dtype=None, device=None) -> Tensor:
    _check_args("randperm", (n,), generator=generator, dtype=dtype, device=device)
    dtype = dtypes.given(dtype) or dtypes.int64
    if not dtype.is_floating_point and dtype is not dtypes.bool_ and \
            int(n) - 1 > np.iinfo(dtype.np).max:
        raise RuntimeError(f"value cannot be converted to type {_c_type(dtype)} without overflow")
    return _drawn(lambda: random_stream(generator).randperm(int(n)).astype(dtype.np),
                  (int(n),), dtype, device, False)


def _c_type(dtype) -> str:
    """The C type torch's overflow messages name (int8_t, uint8_t, int16_t, int, int64_t)."""
    return "int" if dtype is dtypes.int32 else f"{dtype.name}_t"


def _like(t, dtype, device):
    return (dtypes.given(dtype) or t.dtype), (device if device is not None else t.device_str)


def _placed_as_input(like):
    """A *_like of a sharded or replicated tensor (no device given) is placed as it is:
    made part by part where each part lives (distgrad.distributed.sharding)."""
    @functools.wraps(like)
    def wrapper(input, *args, device=None, **kwargs):
        if device is None and getattr(input, "_storage", None) is not None:
            return input._storage.make_like(input, lambda part: like(part, *args, **kwargs))
        return like(input, *args, device=device, **kwargs)

    return wrapper


def _drawn_whole_as_input(like):
    """randn_like or rand_like of a sharded or replicated tensor (no device given): torch
    draws the whole tensor in row-major order (normal_ in blocks of 16, the tail with the
    last block), which a column shard's parts or a normal_ split at any row would not
    follow; the whole is drawn in the driver, where random values are made, and split as
    the input is. (A meta tensor's like is made on the meta device, with nothing drawn.)"""
    @functools.wraps(like)
    def wrapper(input, *args, device=None, requires_grad=False, **kwargs):
        memory = getattr(input, "_storage", None)
        if device is None and memory is not None and memory.holds_data:
            placed = input._storage.place_as(input, like(input, *args, device="cpu", **kwargs))
            return placed._set_requires_grad(True) if requires_grad else placed
        return like(input, *args, device=device, requires_grad=requires_grad, **kwargs)

    return wrapper


def _made_like(name: str, input, memory_format, make, requires_grad: bool) -> Tensor:
    """What *_like `name` makes, `make(shape, requires_grad)`, laid out as torch lays it
    out: preserve_format (the default) keeps a dense input's strides (a transpose's, a
    size-1 dim's) and packs any other in its dims' order, as `clone` does; or the memory
    format asked for."""
    from .ops import layout
    from .ops.functions import memory_format_name
    from .ops.reshaping import strided_on

    fmt = memory_format_name(name, memory_format) or "preserve_format"
    shape = tuple(input.shape)
    if fmt == "preserve_format":
        strides = layout.preserved(shape, input.stride())
    elif fmt == "contiguous_format":
        strides = None
    else:
        strides = layout.memory_format_strides(shape, fmt)
    if strides is None or strides == layout.contiguous_strides(shape):
        return make(shape, requires_grad)
    return strided_on(make((input.numel(),), False), list(shape), strides, requires_grad)


@_placed_as_input
def zeros_like(input, *, dtype=None, device=None, requires_grad=False,
               memory_format=None) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _made_like("zeros_like", input, memory_format,
                      lambda shape, rg: _filled(shape, 0, d, dev, rg), requires_grad)


@_placed_as_input
def ones_like(input, *, dtype=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _made_like("ones_like", input, memory_format,
                      lambda shape, rg: _filled(shape, 1, d, dev, rg), requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False,
               memory_format=None) -> Tensor:
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad,
                      memory_format=memory_format)


@_placed_as_input
def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _made_like("full_like", input, memory_format,
                      lambda shape, rg: _filled(shape, fill_value, d, dev, rg), requires_grad)


@_drawn_whole_as_input
def randn_like(input, *, dtype=None, device=None, requires_grad=False,
               memory_format=None) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _made_like("randn_like", input, memory_format,
                      lambda shape, rg: randn(*shape, dtype=d, device=dev, requires_grad=rg),
                      requires_grad)


@_drawn_whole_as_input
def rand_like(input, *, dtype=None, device=None, requires_grad=False,
              memory_format=None) -> Tensor:
    d, dev = _like(input, dtype, device)
    return _made_like("rand_like", input, memory_format,
                      lambda shape, rg: rand(*shape, dtype=d, device=dev, requires_grad=rg),
                      requires_grad)


def _legacy_constructor(cls, *args, **kwargs):
    """`distgrad.Tensor([1, 2])` or `distgrad.Tensor(2, 3)`: float32, as torch.Tensor(...)."""
    return _legacy_new(dtypes.float32, *args, **kwargs, typed=False)


def _legacy_new(dtype, *args, device=None, typed=True):
    """torch's legacy constructors: sizes (zeros here, where torch leaves memory as it is), a
    torch.Size, data, a tensor (an alias of it, of the type's dtype), or nothing."""
    if len(args) == 1 and isinstance(args[0], Tensor):
        if typed and args[0].dtype is not dtype:
            raise TypeError(f"expected {_tensor_options(dtype)} "
                            f"(got {_tensor_options(args[0].dtype)})")
        return call("alias", args[0])
    if args and all(isinstance(a, numbers.Integral) for a in args):
        return zeros(*args, dtype=dtype, device=device)
    if len(args) == 1 and type(args[0]).__name__ == "Size":  # torch.Tensor(torch.Size([2]))
        return zeros(*args[0], dtype=dtype, device=device)
    if len(args) == 1:
        return tensor(args[0], dtype=dtype, device=device)
    return zeros(0, dtype=dtype, device=device)


def _tensor_options(dtype) -> str:
    return (f"TensorOptions(dtype={dtype.c_name}, device=cpu, layout=Strided, requires_grad=false "
            "(default), pinned_memory=false (default), memory_format=(nullopt))")


class tensortype(type):
    """The legacy tensor types (torch.FloatTensor, torch.LongTensor, ...): calling one makes
    a tensor of its dtype, and a CPU tensor of that dtype is an instance of it."""

    def __call__(cls, *args, **kwargs):
        return _legacy_new(cls.dtype, *args, **kwargs)

    def __instancecheck__(cls, instance) -> bool:
        return (isinstance(instance, Tensor) and instance.dtype is cls.dtype
                and instance.device.type == "cpu")


def _legacy_types() -> dict:
    """torch.FloatTensor and the others, by name, each knowing its dtype."""
    def named(d):
        return tensortype(f"{d.long_name}Tensor", (), {"dtype": d, "is_cuda": False,
                                                      "is_sparse": False, "__module__": "torch"})
    return {d.type_name.removeprefix("torch."): named(d) for d in dtypes.ALL}


LEGACY_TYPES = _legacy_types()


def set_default_tensor_type(t) -> None:
    """torch's deprecated way to set the default dtype: a floating legacy type (or its
    name, "torch.DoubleTensor")."""
    _warn_once("torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
               "torch.set_default_dtype() and torch.set_default_device() as alternatives.")
    if isinstance(t, str):
        name = t.removeprefix("torch.")
        if name not in LEGACY_TYPES:
            raise AttributeError(f"module 'torch' has no attribute '{name}'")
        t = LEGACY_TYPES[name]
    if not isinstance(t, tensortype):
        raise TypeError("invalid type object: only floating-point types are supported as the "
                        "default type")
    if not t.dtype.is_floating_point:
        raise TypeError("only floating-point types are supported as the default type")
    dtypes.set_default_dtype(t.dtype)


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0,
               requires_grad: bool = False) -> Tensor:
    """A 1-D tensor on the memory of an object with the buffer protocol (torch.frombuffer):
    `count` elements of `dtype` from byte `offset` (-1: all that follow)."""
    try:
        view = memoryview(buffer)
    except TypeError:
        raise ValueError("object does not implement Python buffer protocol.") from None
    if not view.c_contiguous:  # (torch asks for a simple buffer: one run of bytes)
        raise RuntimeError("could not retrieve buffer from object")
    view = view.cast("B")
    length = len(view)
    if offset < 0 or offset >= length:
        raise ValueError(f"offset ({offset} bytes) must be non-negative and no greater than "
                         f"buffer length ({length} bytes) minus 1")
    if count == 0:
        raise ValueError(f"both buffer length ({length}) and count ({count}) must not be 0")
    itemsize = dtype.itemsize
    if count < 0:
        if (length - offset) % itemsize:
            raise ValueError(f"buffer length ({length - offset} bytes) after offset ({offset} "
                             f"bytes) must be a multiple of element size ({itemsize})")
        count = (length - offset) // itemsize
    elif offset + count * itemsize > length:
        raise ValueError(f"requested buffer length ({count} * {itemsize} bytes) after offset "
                         f"({offset} bytes) must not be greater than actual buffer length "
                         f"({length} bytes)")
    if view.readonly:
        _warn_once("The given buffer is not writable, and PyTorch does not support "
                   "non-writable tensors. This means you can write to the underlying "
                   "(supposedly non-writable) buffer using the tensor. You may want to copy the "
                   "buffer to protect its data or make it writable before converting it to a "
                   "tensor. This type of warning will be suppressed for the rest of this "
                   "program.", "torch/csrc/utils/tensor_new.cpp:1556")
    arr = np.frombuffer(view, dtype=dtype.np, count=count, offset=offset)
    if view.readonly:  # (memory nothing may change: a copy reads the same)
        arr = arr.copy()
    out = from_numpy(arr)
    return out._set_requires_grad(True) if requires_grad else out


# ---- Tensor methods that make tensors -------------------------------------------------------
# tensor.py sits below this module (everything here makes Tensors): the methods that make new
# tensors or draw from the generator are written here and bound onto the class at the end.

def _new_args(self, dtype, device):
    return (dtype or self.dtype), (device if device is not None else self.device_str)


def _new_placed(self, sizes, device, make):
    """A new_zeros/new_ones/new_full/new_empty of `self`, `make(sizes, device)`: on the
    device given, else where `self` is (a sharded tensor's kind places it as DTensor's:
    part by part, `sizes` each part's own, or copied to each worker)."""
    if device is not None:
        return make(sizes, device)
    return self._storage.make_new(self, lambda dev: make(sizes, dev),
                                  lambda part: make((tuple(part.shape),), part.device_str))


def _new_zeros(self, *sizes, size=None, dtype=None, device=None, requires_grad=False):
    d = dtype or self.dtype
    return _new_placed(self, _size_given("new_zeros", sizes, size), device, lambda s, dev: zeros(
        *s, dtype=d, device=dev, requires_grad=requires_grad))


def _new_empty(self, *sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _new_zeros(self, *_size_given("new_empty", sizes, size), dtype=dtype, device=device,
                      requires_grad=requires_grad)


def _new_empty_strided(self, size, stride, *, dtype=None, device=None, requires_grad=False):
    from .ops.reshaping import empty_strided

    d, dev = _new_args(self, dtype, device)
    return empty_strided(size, stride, dtype=d, device=dev, requires_grad=requires_grad)


def _new_ones(self, *sizes, size=None, dtype=None, device=None, requires_grad=False):
    d = dtype or self.dtype
    return _new_placed(self, _size_given("new_ones", sizes, size), device, lambda s, dev: ones(
        *s, dtype=d, device=dev, requires_grad=requires_grad))


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    d = dtype or self.dtype
    return _new_placed(self, (size,), device, lambda s, dev: full(
        *s, fill_value, dtype=d, device=dev, requires_grad=requires_grad))


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    d, dev = _new_args(self, dtype, device)
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use "
                      "sourceTensor.detach().clone() or sourceTensor.detach().clone()"
                      ".requires_grad_(True), rather than tensor.new_tensor(sourceTensor).",
                      UserWarning, stacklevel=2)
        data = data._numpy_value()
    return tensor(data, dtype=d, device=dev, requires_grad=requires_grad)


def _reduce_ex(self, protocol):
    return (tensor, (self._numpy_value(),), None)


# Random fills: values from distgrad's generator (`distgrad.manual_seed`); like torch, the
# result has no gradient path to the old values, and a leaf that requires grad refuses
# outside no_grad.
def _random_fill(self, kind: str, draw, generator=None):
    self._check_write_to_stale_view()
    self._check_inplace()
    # torch fills in memory order (outermost stride first), whatever the view's dim order
    strides = self.stride()
    order = sorted(range(self.ndim), key=lambda d: -strides[d])
    in_memory = tuple(self.shape[d] for d in order)

    def values():
        drawn = np.asarray(draw(random_stream(generator), in_memory)).astype(self.dtype.np)
        return np.transpose(drawn.reshape(in_memory), np.argsort(order))
    drawn = _drawn(values, tuple(self.shape), self.dtype, self.device_str, False)
    return self._inplace(call("random_fill", self, drawn, kind=kind), op=f"aten::{kind}_")


def _normal_(self, mean=0.0, std=1.0, *, generator=None):
    _random_dtype(self.dtype, "normal_kernel_cpu")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    contiguous = self.is_contiguous()
    return _random_fill(self, "normal", lambda rng, shape: rng.normal_values(
        shape, self.dtype.np, mean, std, contiguous), generator)


def _uniform_(self, from_=0.0, to=1.0, *, generator=None):
    _random_dtype(self.dtype, "check_uniform_bounds")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from="
                           f"{from_} > to={to}")
    return _random_fill(self, "uniform", lambda rng, shape: rng.uniform_values(
        shape, self.dtype.np, from_, to), generator)


def _random_(self, from_=0, to=None, *, generator=None):
    """Integers in [from, to); `random_(to)` is [0, to); with no bound, up to the largest
    integer the dtype holds exactly (2**24 for float32, as torch)."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:
        to = self.dtype.random_to
    if from_ >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} "
                           f">= to={to}")
    from_, to = _check_random_bounds(self.dtype, from_, to)
    return _random_fill(self, "random", lambda rng, shape: rng.randint(from_, to, shape),
                        generator)


Tensor.__new__ = staticmethod(_legacy_constructor)
Tensor.__reduce_ex__ = _reduce_ex
for _name, _method in (("new_zeros", _new_zeros), ("new_ones", _new_ones),
                       ("new_empty", _new_empty), ("new_full", _new_full),
                       ("new_empty_strided", _new_empty_strided),
                       ("new_tensor", _new_tensor), ("normal_", _normal_),
                       ("uniform_", _uniform_), ("random_", _random_)):
    _method.__name__ = _method.__qualname__ = _name
    setattr(Tensor, _name, _method)
