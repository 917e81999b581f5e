"""torch's Python argument parser for a function with several overloads: which one a call
matches, and torch's TypeError (in its words) when none does.

torch tries each overload in turn. When none matches, an overload whose argument count fits
the call alone is parsed again to say what is wrong with it (too many positional arguments,
a missing one, a type, an unknown keyword); else the message lists every overload, with
"didn't match because ..." under those whose printed parameter count equals the number of
arguments given (torch counts the `*` too, and takes a defaulted parameter's name to be its
default: so its keywords never match and its types never do).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "Tensor", "bool", "int", "tuple of Tensors"; a trailing "?" also takes None
    default: Any = REQUIRED
    keyword_only: bool = False

    def accepts(self, value) -> bool:
        if value is None:
            return self.type.endswith("?") or (self.default is None)
        kind = self.type.rstrip("?")
        if kind == "Tensor":
            return _is_tensor(value)
        if kind == "bool":
            return isinstance(value, bool)
        if kind == "int":
            if _is_tensor(value):
                return value.ndim == 0 and value.dtype.category == 1 and not value.requires_grad
            return _is_int(value)
        if kind == "float":  # (a Python int or bool too, as torch's parser takes them)
            return isinstance(value, (int, float, np.integer, np.floating)) or (
                _is_tensor(value) and value.ndim == 0 and not value.requires_grad)
        if kind == "Number":  # (torch's Scalar: a Python or numpy number, a 0-dim tensor)
            return isinstance(value, (int, float, complex, np.number, np.bool_)) or (
                _is_tensor(value) and value.ndim == 0)
        if kind == "str":
            return isinstance(value, str)
        if kind == "tuple of ints":  # (one int stands for all)
            return _is_int(value) or isinstance(value, (tuple, list)) and all(map(_is_int, value))
        if kind == "tuple of Tensors":
            return isinstance(value, (tuple, list)) and all(_is_tensor(v) for v in value)
        raise ValueError(f"unknown parameter type {self.type!r}")

    def printed(self) -> str:
        text = f"{self.type.rstrip('?')} {self.name}"
        return text if self.default is REQUIRED else f"{text} = {_printed_default(self.default)}"


def _printed_default(v) -> str:
    return "None" if v is None else f'"{v}"' if isinstance(v, str) else str(v)


def _is_tensor(v) -> bool:
    return hasattr(v, "_storage")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def typename(v) -> str:
    """Python's tp_name, as torch prints it (numpy's types with their module)."""
    if _is_tensor(v):
        return "Tensor"
    t = type(v)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def printed_params(text: str) -> tuple:
    """Params from their list as torch prints it: "int dim, Tensor index, *, str reduce",
    "bool right = False" (a default: None, a bool or a number)."""
    params, keyword_only = [], False
    for item in text.split(", "):
        if item == "*":
            keyword_only = True
            continue
        declared, _, default = item.partition(" = ")
        kind, name = declared.rsplit(" ", 1)
        value = REQUIRED if not _ else {"None": None, "False": False, "True": True}.get(
            default, default)
        if isinstance(value, str):
            value = float(value) if "." in value else int(value)
        params.append(Param(name, kind + "?" if value is None else kind, value, keyword_only))
    return tuple(params)


class Signature:
    def __init__(self, name: str, *params: Param):
        self.name = name
        self.params = params
        self.min_args = sum(p.default is REQUIRED for p in params)
        self.max_args = len(params)
        self.max_pos = sum(not p.keyword_only for p in params)

    def printed(self) -> str:
        items, starred = [], False
        for p in self.params:
            if p.keyword_only and not starred:
                items.append("*")
                starred = True
            items.append(p.printed())
        return "(" + ", ".join(items) + ")"

    def parse(self, args, kwargs, raise_error: bool = False):
        """{parameter name: value} (defaults filled in), or None (or torch's error)."""
        if len(args) > self.max_pos:
            if raise_error:
                self._too_many(len(args))
            return None
        values, used = {}, 0
        for i, p in enumerate(self.params):
            if i < len(args) and not p.keyword_only:
                value, where = args[i], f" (position {i + 1})"
            elif p.name in kwargs:
                value, where = kwargs[p.name], ""
                used += 1
            elif p.default is REQUIRED:
                if raise_error:
                    missing = [f'"{q.name}"' for q in self.params[i:] if q.default is REQUIRED]
                    raise TypeError(f"{self.name}() missing {len(missing)} required positional "
                                    f"argument{'s' if len(missing) == 1 else ''}: "
                                    f"{', '.join(missing)}")
                return None
            else:
                values[p.name] = p.default
                continue
            if not p.accepts(value):
                sequence = isinstance(value, (tuple, list))
                if raise_error and p.type == "tuple of Tensors" and sequence:
                    k, item = next((k, v) for k, v in enumerate(value) if not _is_tensor(v))
                    raise TypeError(f"expected Tensor as element {k} in argument {i}, but got "
                                    f"{typename(item)}")
                if raise_error:
                    raise TypeError(f"{self.name}(): argument '{p.name}'{where} must be "
                                    f"{p.type.rstrip('?')}, not {typename(value)}")
                return None
            values[p.name] = value
        if used < len(kwargs):
            if raise_error:
                names = [p.name for p in self.params]
                for key in kwargs:
                    if key not in names:
                        raise TypeError(f"{self.name}() got an unexpected keyword argument "
                                        f"'{key}'")
                    if names.index(key) < len(args):
                        raise TypeError(f"{self.name}() got multiple values for argument '{key}'")
            return None
        return values

    def _too_many(self, given: int):
        if self.min_args != self.max_pos:
            raise TypeError(f"{self.name}() takes from {self.min_args} to {self.max_pos} "
                            f"positional arguments but {given} were given")
        raise TypeError(f"{self.name}() takes {self.max_pos} positional argument"
                        f"{'' if self.max_pos == 1 else 's'} but {given} "
                        f"{'was' if given == 1 else 'were'} given")


def parse(signatures, args, kwargs) -> tuple:
    """(the index of the overload the call matches, its values), or torch's TypeError."""
    for k, s in enumerate(signatures):
        values = s.parse(args, kwargs)
        if values is not None:
            return k, values
    n = len(args) + len(kwargs)
    plausible = [s for s in signatures if s.min_args <= n <= s.max_args]
    if len(plausible) == 1:
        plausible[0].parse(args, kwargs, raise_error=True)
    raise TypeError(_invalid_combination(signatures, args, kwargs))


def _invalid_combination(signatures, args, kwargs) -> str:
    # torch keeps the keywords in a hash map: for a few, its order is the reverse of the call's
    keys = list(reversed(kwargs))
    got = [typename(a) for a in args] + [f"{k}={typename(kwargs[k])}" for k in keys]
    given = "(" + ", ".join(got) + (")" if args or not got else ", )")
    text = (f"{signatures[0].name}() received an invalid combination of arguments - got {given}, "
            "but expected one of:\n")
    for s in signatures:
        printed = s.printed()
        text += f" * {printed}\n"
        items = printed[1:-1].split(", ")
        if len(items) != len(args) + len(kwargs):
            continue
        names = [item.split(" ")[-1] for item in items]  # (a default's value, for torch)
        wrong = [k for k in keys if k not in names]
        if wrong:
            text += f"      didn't match because some of the keywords were incorrect: " \
                    f"{', '.join(wrong)}\n"
            continue
        types = [item.rsplit(" ", 1)[0] for item in items]
        marked = []
        for i, a in enumerate(args):
            fits = _type_fits(types[i], a)
            marked.append(typename(a) if fits else f"!{typename(a)}!")
        text += f"      didn't match because some of the arguments have invalid types: " \
                f"({', '.join(marked)})\n"
    return text


def _type_fits(printed_type: str, value) -> bool:
    """torch's match of a value to a type as its message parses it (`int dim =` fits none,
    and `Number` none either: `(!int!, !float!)` against `(Tensor end, Number weight)`)."""
    if printed_type == "Number":
        return False
    try:
        return Param("_", printed_type).accepts(value)
    except ValueError:
        return False
