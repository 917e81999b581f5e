"""Public functions and Tensor methods made from the op table's rows.

A row's `api` names are `distgrad.<name>` and `Tensor.<name>`. Where the row's operands are
all the arguments, the function is the one line `call(op, *operands)`, made here with
torch's parameter names; where it takes more (`add`'s alpha), ops/functions.py writes it by
hand under the row's first name and it is bound as it is. The row's `inplace` name becomes
the in-place method: the function's result written into `self` (Tensor._inplace).
"""
from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np

from ..autograd import record, saved_hooks
from ..autograd.record import call
from .table import OPS


def bind(namespace: dict, tensor_class) -> None:
    """Give every row with public names its function in `namespace` (a module's globals)
    and its methods on `tensor_class`."""
    for op in list(OPS.values()):
        if not op.api:
            continue
        fn = namespace.get(op.api[0]) or _one_line(op, namespace["__name__"])
        for name in op.api:
            namespace.setdefault(name, fn)
            setattr(tensor_class, name, fn)
        if op.inplace:
            setattr(tensor_class, op.inplace,
                    _in_place(fn, op.inplace, tensor_class, op.elementwise))


def _one_line(op, module: str):
    # Made from source, as dataclasses makes its methods, so that the function has torch's
    # parameter names (keywords work, a wrong count raises Python's own TypeError) and costs
    # no more than a hand-written one.
    params = ", ".join(op.params)
    source = f"def {op.api[0]}({params}):\n    return call({op.name!r}, {params})\n"
    scope = {"call": call}
    exec(source, scope)  # noqa: S102  (names from the op table, not from users)
    fn = scope[op.api[0]]
    fn.__module__ = module
    return fn


def in_place(self, fn, /, *args, **kwargs):
    """Write fn(self, *args, **kwargs) into self, with torch's check on the write: the
    in-place methods below, and nn.functional's `inplace=True` for ops torch gives no method."""
    self._check_write_to_stale_view()
    kernel = {"op": _aten_name(fn, args)}
    if self._layout is not None:  # (a layout of its own, whose elements may overlap: how to
        # write them in the kernel's order, Tensor._in_kernel_order)
        def redo(current):  # (self, wherever it is an operand, holding `current`)
            return fn(current, *(current if a is self else a for a in args),
                      **{k: current if v is self else v for k, v in kwargs.items()})

        kernel.update(redo=redo, order_by=tuple(tensor_operands((*args, *kwargs.values()))))
    if saved_hooks.current() is None:  # (no hooks to pack what the op saves)
        return self._inplace(fn(self, *args, **kwargs), **kernel)
    with saved_hooks.outputs_packed_after_write(self):
        result = fn(self, *args, **kwargs)
        written = self._inplace(result, **kernel)
        saved_hooks.wrote(result, written)
        return written


# the in-place overloads torch's errors name for ops that take a tensor or a number alike
_TENSOR_OVERLOAD = {"add_", "sub_", "mul_", "div_"}


def _aten_name(fn, args) -> str:
    """The in-place op of `fn` (its out-of-place function) as torch's errors name it."""
    name = getattr(fn, "__name__", "<lambda>")
    if name.startswith("<"):
        return "aten::copy_"  # (no better name to give)
    name = name.rstrip("_") + "_"
    if name == "lerp_" and len(args) > 1:  # (by its weight)
        return "aten::lerp_." + ("Tensor" if hasattr(args[1], "_storage") else "Scalar")
    return f"aten::{name}.Tensor" if name in _TENSOR_OVERLOAD else f"aten::{name}"


# torch's index and scatter kernels refuse a source sharing self's memory even as the same
# view (at::assert_no_overlap), where elementwise ones allow it (`a.add_(a)`)
SOURCE_NOT_SELF = {"index_copy_", "index_add_", "index_reduce_", "scatter_", "scatter_add_"}

# The matrix products with an added input: their BLAS kernels read the factors as they are,
# unchecked for overlap with what they write (self in place, out='s added input is copied
# into out first, which is checked).
FACTORS_UNCHECKED = {"addmm", "addmv", "baddbmm", "addbmm"}
# Kernels of torch's own (not TensorIterator) that read their value or source unchecked too
READ_UNCHECKED = {"index_fill_", "masked_scatter_"}


def tensor_operands(values):
    """The tensors among an op's arguments, those in lists too (torch's operands)."""
    for v in values:
        if isinstance(v, (tuple, list)):
            yield from tensor_operands(v)
        elif hasattr(v, "_check_no_partial_overlap"):
            yield v


# clamp by numbers (its Scalar overloads): torch's meta function refuses a result of a
# higher category than self in words naming self's C++ type (self.dtype(): "long int")
CLAMPS = {"clamp_", "clamp_min_", "clamp_max_", "clip_"}


def clamped_by_numbers(fn):
    """`fn` (clamp, clamp_min, clamp_max) whose result, by number bounds, must fit self."""
    from .rules import require_castable

    @functools.wraps(fn)
    def checked(self, *bounds, **kw):
        result = fn(self, *bounds, **kw)
        given = [b for b in (*bounds, *kw.values()) if b is not None]
        if not all(hasattr(b, "_storage") for b in given):  # (the Number overload)
            require_castable(result.dtype, self.dtype, c_type=True)
        return result
    return checked


def _in_place(fn, name: str, tensor_class, elementwise: bool = False):
    same_too = name in SOURCE_NOT_SELF
    checked = name[:-1] not in FACTORS_UNCHECKED and name not in READ_UNCHECKED
    if name in CLAMPS:
        fn = clamped_by_numbers(fn)
    promotes = name != "lerp_"  # (lerp takes its operands in self's dtype)

    def method(self, *args, **kwargs):
        rec = record.profiling
        if rec is None:
            return run(self, *args, **kwargs)
        # (one event, aten::mul_, not its parts; keyword arguments listed too)
        with rec.one_op("aten::" + name, (self, *args, *kwargs.values())):
            return run(self, *args, **kwargs)

    def run(self, *args, **kwargs):
        # torch's TensorIterator refuses any input, positional or keyword, that partly
        # overlaps the written tensor (at::assert_no_partial_overlap)
        if checked:
            self._check_no_partial_overlap(*tensor_operands((*args, *kwargs.values())),
                                           same_too=same_too)
        if name in _TENSOR_OVERLOAD and args:
            _refuse_complex_number(self, args[0])
        try:
            return in_place(self, fn, *args, **kwargs)
        except TypeError as error:  # (torch's argument parser names the method: add_())
            raise _named_as(error, fn, name) from None
        except (NotImplementedError, RuntimeError) as error:
            if elementwise and _from_kernel(error):  # (TensorIterator checks the write first)
                self._check_elementwise_write(args, promotes)
            raise

    method.__name__ = method.__qualname__ = name
    return method


def _named_as(error: TypeError, fn, name: str) -> TypeError:
    """An argument error of `fn` as torch's parser words it for the in-place method `name`."""
    said = f"{getattr(fn, '__name__', '')}(): "
    text = str(error)
    return TypeError(f"{name}(): {text[len(said):]}") if text.startswith(said) else error


def _refuse_complex_number(self, other) -> None:
    """A complex number makes a complex result, which no tensor of distgrad's (none is
    complex) can take in place: torch's result-type error."""
    if isinstance(other, (complex, np.complexfloating)):
        result = {"float16": "ComplexHalf", "float64": "ComplexDouble"}.get(self.dtype.name,
                                                                             "ComplexFloat")
        raise RuntimeError(f"result type {result} can't be cast to the desired output type "
                           f"{self.dtype.long_name}")


# torch's alpha_check (add, sub), which runs once TensorIterator's checks passed
ALPHA_ERRORS = ("Boolean alpha only supported for Boolean results.",
                "For integral input tensors, argument alpha must not be a floating point number.")


def _from_kernel(error: Exception) -> bool:
    """An error of an elementwise op's kernel (none for the dtype, an integer division by
    zero) or of its alpha, which torch raises only once the written tensor has passed its
    checks."""
    return isinstance(error, NotImplementedError) or str(error) in (
        "ZeroDivisionError", *ALPHA_ERRORS)


# torch.<name>(2, t) works for these (they have an overload taking a number first, or
# take one there: polygamma's order, isin's element); every other function whose first
# parameter is `input` takes only a tensor there.
NUMBER_INPUT = frozenset({"add", "bitwise_and", "bitwise_left_shift", "bitwise_or",
                          "bitwise_right_shift", "bitwise_xor", "bucketize", "div", "divide",
                          "float_power", "floor_divide", "isin", "mul", "multiply", "normal",
                          "polygamma", "pow", "remainder", "result_type", "sub", "subtract",
                          "true_divide", "xlogy", "norm", "rsub"})


# The names torch gives a first parameter that must be a tensor.
_TENSOR_FIRST = ("input", "x1", "x", "y", "condition", "sorted_sequence")


def require_tensor_input(namespace: dict, tensor_class) -> None:
    """Give each public function of `namespace` whose first parameter is a tensor in torch
    (`input`, ...; or a number too, NUMBER_INPUT) torch's TypeError for anything else there
    (its methods get self, a tensor, anyway), and for what is neither a tensor nor a number
    as its `other` (a numpy array, a list)."""
    for name, fn in list(namespace.items()):
        if name.startswith("_") or not inspect.isfunction(inspect.unwrap(fn)):
            continue
        params = list(inspect.signature(fn).parameters)[:2]
        if params and (params[0] in _TENSOR_FIRST or params[1:] == ["other"]):
            namespace[name] = _tensor_first(fn, name, params, tensor_class)


def _refuse(name: str, param: str, position: int, value) -> None:
    from .overloads import typename

    raise TypeError(f"{name}(): argument '{param}' (position {position}) must be Tensor, not "
                    f"{typename(value)}")


def _tensor_first(fn, name: str, params: list, tensor_class):
    # (position, parameter, whether a number is taken there too)
    checks = ([(1, params[0], name in NUMBER_INPUT)] if params[0] in _TENSOR_FIRST else []) + (
        [(2, "other", True)] if params[1:] == ["other"] else [])

    def taken(value, position: int, numbers_too: bool) -> bool:
        return isinstance(value, tensor_class) or numbers_too and (
            isinstance(value, (numbers.Number, np.generic)) or value is None and position == 2)

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        for position, param, numbers_too in checks:
            if len(args) >= position:
                value = args[position - 1]
            elif param in kwargs:
                value = kwargs[param]
            else:
                continue
            if not taken(value, position, numbers_too):
                _refuse(name, param, position, value)
        return fn(*args, **kwargs)

    return checked
