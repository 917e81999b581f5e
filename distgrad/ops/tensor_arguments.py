"""torch's TypeError for a number (or anything else) where an op's signature takes only a
tensor: `torch.addcmul(t, 2, t)`, `t.mm(2)`, `t.put_(i, 2.5)`.

torch's argument parser checks these before any kernel runs, with the argument's name and
its position (the function's input is position 1, a method's self is not counted; a
keyword argument has no position), for the function, the method and the in-place method
alike. One table, applied to all three once the namespace and Tensor are complete.
"""
from __future__ import annotations

import functools
import inspect

from .overloads import Param, Signature, parse, printed_params, typename

# op name -> (parameter, its position among a method's arguments); the function's position
# is one more. Only parameters with no overload taking a number (torch's parser says
# "must be Tensor" there, not "invalid combination of arguments").
TENSOR_ARGUMENTS = {
    "addcmul": (("tensor1", 1), ("tensor2", 2)), "addcdiv": (("tensor1", 1), ("tensor2", 2)),
    "addmm": (("mat1", 1), ("mat2", 2)), "addmv": (("mat", 1), ("vec", 2)),
    "addr": (("vec1", 1), ("vec2", 2)), "baddbmm": (("batch1", 1), ("batch2", 2)),
    "addbmm": (("batch1", 1), ("batch2", 2)),
    "mm": (("mat2", 1),), "bmm": (("mat2", 1),), "mv": (("vec", 1),),
    "matmul": (("other", 1),), "dot": (("tensor", 1),), "vdot": (("other", 1),),
    "outer": (("vec2", 1),), "ger": (("vec2", 1),), "inner": (("other", 1),),
    "kron": (("other", 1),), "cross": (("other", 1),), "dist": (("other", 1),),
    "logical_and": (("other", 1),), "logical_or": (("other", 1),),
    "logical_xor": (("other", 1),), "heaviside": (("values", 1),),
    "ldexp": (("other", 1),), "gcd": (("other", 1),), "lcm": (("other", 1),),
    "hypot": (("other", 1),), "atan2": (("other", 1),), "arctan2": (("other", 1),),
    "nextafter": (("other", 1),), "igamma": (("other", 1),), "igammac": (("other", 1),),
    "fmax": (("other", 1),), "fmin": (("other", 1),), "maximum": (("other", 1),),
    "minimum": (("other", 1),), "logaddexp": (("other", 1),), "logaddexp2": (("other", 1),),
    "masked_scatter": (("mask", 1), ("source", 2)), "masked_select": (("mask", 1),),
    "put": (("index", 1), ("source", 2)), "take": (("index", 1),),
    "take_along_dim": (("indices", 1),), "gather": (("index", 2),),
    "index_select": (("index", 2),), "index_copy": (("index", 2), ("source", 3)),
    "index_add": (("index", 2), ("source", 3)), "index_reduce": (("index", 2), ("source", 3)),
    "scatter_add": (("index", 2), ("src", 3)), "scatter_reduce": (("index", 2), ("src", 3)),
    "diagonal_scatter": (("src", 1),), "select_scatter": (("src", 1),),
    "slice_scatter": (("src", 1),), "prelu": (("weight", 1),),
    "expand_as": (("other", 1),), "view_as": (("other", 1),), "reshape_as": (("other", 1),),
    "type_as": (("other", 1),), "isclose": (("other", 1),), "allclose": (("other", 1),),
    "equal": (("other", 1),), "polar": (("angle", 1),), "complex": (("imag", 1),),
    "cdist": (("x2", 1),), "cosine_similarity": (("x2", 1),),
    "pairwise_distance": (("x2", 1),),
}

# torch has these as methods only (distgrad's functions of the name are its own)
METHODS_ONLY = frozenset({"expand_as", "view_as", "reshape_as", "type_as"})

# Ops with several overloads that tell a tensor from a number (`value` a Tensor or a
# Number): a call none matches raises torch's "invalid combination of arguments", listing
# them (overloads.py); with one overload, what is wrong with it. Each as torch prints it:
# the method's (for the in-place one too) and the function's.
_SCATTER = ("int dim, Tensor index, Tensor src",
            "int dim, Tensor index, Tensor src, *, str reduce",
            "int dim, Tensor index, Number value",
            "int dim, Tensor index, Number value, *, str reduce")
_SORTED_KEYWORDS = ("*, bool out_int32 = False, bool right = False, str side = None, Tensor "
                    "sorter = None, Tensor out = None")
METHOD_OVERLOADS = {
    "masked_fill": ("Tensor mask, Tensor value", "Tensor mask, Number value"),
    "index_fill": ("int dim, Tensor index, Tensor value", "int dim, Tensor index, Number value"),
    "scatter": _SCATTER,
    "where": ("Tensor condition, Tensor other", "Tensor condition, Number other"),
    "index_put": ("tuple of Tensors indices, Tensor values, bool accumulate = False",),
}
FUNCTION_OVERLOADS = {
    "masked_fill": tuple("Tensor input, " + o for o in METHOD_OVERLOADS["masked_fill"]),
    "index_fill": tuple("Tensor input, " + o for o in METHOD_OVERLOADS["index_fill"]),
    "scatter": tuple("Tensor input, " + o + (", " if "*" in o else ", *, ") + "Tensor out = None"
                     for o in _SCATTER),
    "where": ("Tensor condition", "Tensor condition, Tensor input, Tensor other, *, Tensor out = "
              "None", "Tensor condition, Number self, Tensor other",
              "Tensor condition, Tensor input, Number other",
              "Tensor condition, Number self, Number other"),
    "index_put": ("Tensor input, tuple of Tensors indices, Tensor values, bool accumulate = "
                  "False",),
    "bucketize": ("Tensor input, Tensor boundaries, *, bool out_int32 = False, bool right = "
                  "False, Tensor out = None", "Number self, Tensor boundaries, *, bool out_int32 "
                  "= False, bool right = False"),
    "searchsorted": ("Tensor sorted_sequence, Tensor input, " + _SORTED_KEYWORDS,
                     "Tensor sorted_sequence, Number self, " + _SORTED_KEYWORDS),
}
# Keyword arguments torch takes as a Number (a Scalar) only: "must be Number, not Tensor".
NUMBER_KEYWORDS = {"addcmul": "value", "addcdiv": "value"}


def require_tensor_arguments(namespace: dict, tensor_class) -> None:
    """Wrap `namespace[name]`, `tensor_class.name` and `tensor_class.name_` (those that
    exist) with the checks of the tables above."""
    for name, params in TENSOR_ARGUMENTS.items():
        if name not in METHODS_ONLY and inspect.isfunction(namespace.get(name)):
            namespace[name] = _checked(namespace[name], name, params, 1, tensor_class)
        _wrap_methods(tensor_class, name, lambda fn, method, params=params: _checked(
            fn, method, params, 0, tensor_class))
    for name, overloads in METHOD_OVERLOADS.items():
        _wrap_methods(tensor_class, name, lambda fn, method: _overloaded(fn, method, overloads, 1))
    for name, overloads in FUNCTION_OVERLOADS.items():
        if inspect.isfunction(namespace.get(name)):
            namespace[name] = _overloaded(namespace[name], name, overloads, 0)
    for name, keyword in NUMBER_KEYWORDS.items():
        namespace[name] = _number_keyword(namespace[name], name, keyword)
        _wrap_methods(tensor_class, name, lambda fn, method: _number_keyword(fn, method, keyword))


def _wrap_methods(tensor_class, name: str, wrap) -> None:
    """tensor_class.name and .name_ (those that exist) as wrap(method, its name) makes them."""
    for method in (name, name + "_"):
        fn = getattr(tensor_class, method, None)
        if inspect.isfunction(fn):
            setattr(tensor_class, method, wrap(fn, method))


def _overloaded(fn, name: str, overloads, skip: int):
    signatures = [Signature(name, *printed_params(o)) for o in overloads]

    # (a method's args[0] is its self, which no overload lists)
    @functools.wraps(fn)
    def checked(*args, **kwargs):
        parse(signatures, args[skip:], kwargs)
        return fn(*args, **kwargs)

    return checked


def _number_keyword(fn, name: str, keyword: str):
    number = Param(keyword, "Number")

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        value = kwargs.get(keyword)
        if value is not None and not number.accepts(value):
            raise TypeError(f"{name}(): argument '{keyword}' must be Number, not "
                            f"{typename(value)}")
        return fn(*args, **kwargs)

    return checked


def _checked(fn, name: str, params, shift: int, tensor_class):
    # (args[position] is the parameter for both: a function's args[0] is its input, a
    # method's its self)
    @functools.wraps(fn)
    def checked(*args, **kwargs):
        for param, position in params:
            if position < len(args):
                value, where = args[position], f" (position {position + shift})"
            elif param in kwargs:
                value, where = kwargs[param], ""
            else:
                continue
            if not isinstance(value, tensor_class):
                raise TypeError(f"{name}(): argument '{param}'{where} must be Tensor, not "
                                f"{typename(value)}")
        return fn(*args, **kwargs)

    return checked
