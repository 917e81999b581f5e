"""torch._foreach_*: one op over every tensor of a list (or of paired lists), as EMA code
(`torch._foreach_lerp_(ema_params, params, 1 - decay)`) and optimizers call them.

Each is a loop over distgrad's own tensor methods, so gradients, devices and sharding are
theirs. As torch's: the out-of-place form returns a tuple, the in-place one (trailing `_`)
writes the tensors given and returns that list; the second operand is a number, a 0-dim
tensor, or a list as long as the first.
"""
from __future__ import annotations

_UNARY = ("abs acos asin atan ceil cos cosh erf erfc exp expm1 floor frac lgamma log log10 "
          "log1p log2 neg reciprocal round rsqrt sigmoid sign sin sinh sqrt tan tanh "
          "trunc").split()
_BINARY = "add sub mul div pow maximum minimum clamp_min clamp_max".split()
_TERNARY = "lerp addcmul addcdiv".split()  # (a scalar third operand of addc* is its value=)
_WITH_NUMBER = {"maximum": "clamp_min", "minimum": "clamp_max"}  # (maximum takes tensors only)


def _paired(tensors, *others) -> list:
    """Each operand made a list as long as `tensors` (a number or a tensor is repeated)."""
    out = []
    for other in others:
        if isinstance(other, (list, tuple)):
            if len(other) != len(tensors):
                raise RuntimeError("Tensor lists must have the same number of tensors, got "
                                   f"{len(tensors)} and {len(other)}")
            out.append(list(other))
        else:
            out.append([other] * len(tensors))
    return out


def _make(name: str):
    def apply(t, operands, kwargs):
        if len(operands) == 3:  # addcmul/addcdiv(self, t1, t2, scalar): torch's value=
            kwargs = dict(kwargs, value=operands[2])
            operands = operands[:2]
        if name in _WITH_NUMBER and not hasattr(operands[0], "shape"):
            return getattr(t, _WITH_NUMBER[name])(*operands, **kwargs)
        return getattr(t, name)(*operands, **kwargs)

    def out_of_place(tensors, *others, **kwargs):
        if name == "pow" and not isinstance(tensors, (list, tuple)):  # pow(number, tensors)
            return tuple(tensors ** t for t in others[0])
        lists = _paired(tensors, *others)
        return tuple(apply(t, [ls[i] for ls in lists], kwargs) for i, t in enumerate(tensors))

    def in_place(tensors, *others, **kwargs):
        lists = _paired(tensors, *others)
        for i, t in enumerate(tensors):
            operands = [ls[i] for ls in lists]
            if hasattr(t, name + "_") and len(operands) < 3:
                getattr(t, name + "_")(*operands, **kwargs)
            else:  # (maximum, minimum have no in-place Tensor method)
                t.copy_(apply(t, operands, kwargs))
        return tensors

    out_of_place.__name__ = f"_foreach_{name}"
    in_place.__name__ = f"_foreach_{name}_"
    return out_of_place, in_place


def _foreach_norm(tensors, ord=2, dtype=None):
    from .linalg import vector_norm

    return tuple(vector_norm(t, ord, dtype=dtype) for t in tensors)


def _foreach_max(tensors):
    return tuple(t.max() for t in tensors)


def _foreach_powsum(tensors, exponent=2):
    return tuple(t.abs().pow(exponent).sum() for t in tensors)


def _foreach_clone(tensors):
    return tuple(t.clone() for t in tensors)


def _foreach_zero_(tensors):
    for t in tensors:
        t.zero_()
    return tensors


def _foreach_copy_(tensors, src, non_blocking: bool = False):
    (src,) = _paired(tensors, src)
    for t, s in zip(tensors, src):
        t.copy_(s)
    return tensors


def _table() -> dict:
    made = {}
    for name in _UNARY + _BINARY + _TERNARY:
        made[f"_foreach_{name}"], made[f"_foreach_{name}_"] = _make(name)
    for f in (_foreach_norm, _foreach_max, _foreach_powsum, _foreach_clone, _foreach_zero_,
              _foreach_copy_):
        made[f.__name__] = f
    return made


FUNCTIONS = _table()
globals().update(FUNCTIONS)
__all__ = sorted(FUNCTIONS)
