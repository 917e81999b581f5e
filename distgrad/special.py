"""`distgrad.special`: torch.special's functions. Most are distgrad's own under torch.special's
names (expit is sigmoid, gammaln is lgamma, psi is digamma, multigammaln is mvlgamma,
gammainc is igamma); the rest are the ops of ops/special_ops.py.

>>> distgrad.special.ndtr(distgrad.tensor([0.0]))
tensor([0.5000])
"""
from __future__ import annotations

import math

from .autograd.record import call
from .ops.functions import (digamma, erf, erfc, erfinv, exp2, expm1, i0, lgamma, log1p,
                            log_softmax, logit, logsumexp, mvlgamma, polygamma, sigmoid, sinc,
                            softmax, xlogy)
from .ops.rules import require_tensor
from .ops.special_ops import BESSEL, POLYNOMIALS
from .out_param import add_out_param

__all__ = ["expit", "logit", "erf", "erfc", "erfinv", "erfcx", "gammaln", "digamma", "psi",
           "polygamma", "multigammaln", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri", "log_ndtr",
           "log1p", "expm1", "exp2", "xlogy", "xlog1py", "zeta", "entr", "sinc", "logsumexp",
           "softmax", "log_softmax", "round", "gammainc", "gammaincc", *BESSEL, *POLYNOMIALS]

expit, gammaln, psi, multigammaln = sigmoid, lgamma, digamma, mvlgamma


def _bind(name: str, params: tuple, args: tuple, kwargs: dict) -> list:
    """The call's arguments in `params`' order, or torch's TypeError for a missing one."""
    values = list(args) + [kwargs.pop(p) for p in params[len(args):] if p in kwargs]
    if len(values) < len(params):
        missing = len(params) - len(values)
        raise TypeError(f"{name}() missing {missing} required positional arguments: "
                        + ", ".join(f'"{p}"' for p in params[len(values):]))
    if kwargs or len(values) > len(params):
        raise TypeError(f"{name}() takes {len(params)} arguments")
    return values


def _tensor_only(op: str, name: str, arg: str = "input"):
    def fn(*args, **kwargs):
        (value,) = _bind(f"special_{name}", (arg,), args, kwargs)
        require_tensor(f"special_{name}", arg, 1, value)
        return call(op, value)

    fn.__name__ = fn.__qualname__ = name
    return fn


erfcx = _tensor_only("special_erfcx", "erfcx")
i0e = _tensor_only("special_i0e", "i0e")
i1 = _tensor_only("i1", "i1")
i1e = _tensor_only("special_i1e", "i1e")
ndtri = _tensor_only("special_ndtri", "ndtri")
log_ndtr = _tensor_only("special_log_ndtr", "log_ndtr")
entr = _tensor_only("special_entr", "entr")
# (torch names the argument of its older Bessel functions `input`, of the newer ones `x`)
_X_NAMED = ("scaled_modified_bessel_k0", "scaled_modified_bessel_k1", "spherical_bessel_j0",
            "airy_ai")
for _name in BESSEL:
    globals()[_name] = _tensor_only(f"special_{_name}", _name,
                                    "x" if _name in _X_NAMED else "input")


def ndtr(input, *, out=None):
    """Φ(x) = (1 + erf(x/√2)) / 2, written as torch writes it (its grad_fn is a mul); out=
    is copied into as torch's composite does, differentiably (CopyBackwards)."""
    require_tensor("special_ndtr", "input", 1, input)
    result = (1 + erf(input * (1 / math.sqrt(2.0)))) * 0.5
    return result if out is None else out.resize_(result.shape).copy_(result)


def _number_or_tensor(op: str, name: str, params=("input", "self", "other")):
    """A binary function taking (Tensor, Tensor), (Number, Tensor) or (Tensor, Number);
    params: torch's names of the first argument as a tensor and as a number, of the second."""
    first, first_number, second = params

    def fn(*args, **kwargs):
        a, b = _bind(f"special_{name}", (first, second), args, kwargs)
        if not hasattr(a, "_storage") and not hasattr(b, "_storage"):
            raise TypeError(
                f"special_{name}() received an invalid combination of arguments - got "
                f"({type(a).__name__}, {type(b).__name__}), but expected one of:\n"
                f" * (Tensor {first}, Tensor {second}, *, Tensor out = None)\n"
                f" * (Number {first_number}, Tensor {second}, *, Tensor out = None)\n"
                f" * (Tensor {first}, Number {second}, *, Tensor out = None)\n")
        return call(op, a, b)

    fn.__name__ = fn.__qualname__ = name
    return fn


xlog1py = _number_or_tensor("special_xlog1py", "xlog1py")
zeta = _number_or_tensor("special_zeta", "zeta")
for _name in POLYNOMIALS:
    globals()[_name] = _number_or_tensor(f"special_{_name}", _name, ("x", "x", "n"))


def gammainc(input, other):
    require_tensor("special_gammainc", "input", 1, input)
    require_tensor("special_gammainc", "other", 2, other)
    return call("igamma", input, other)


def gammaincc(input, other):
    require_tensor("special_gammaincc", "input", 1, input)
    require_tensor("special_gammaincc", "other", 2, other)
    return call("igammac", input, other)


def round(input, *, decimals=0):  # noqa: A001  (torch.special.round)
    """torch's round.decimals overload (its node is RoundBackward1, even for decimals=0)."""
    require_tensor("special_round", "input", 1, input)
    return call("round_decimals", input, decimals=int(decimals))


# out=: torch.special's functions, by the name torch's errors give them (the op they run)
add_out_param(globals(), (*BESSEL, *POLYNOMIALS), differentiable=False)
add_out_param(globals(), {
    "digamma": "digamma", "psi": "digamma", "entr": "special_entr", "erf": "erf",
    "erfc": "erfc", "erfcx": "special_erfcx", "erfinv": "erfinv", "exp2": "exp2",
    "expit": "sigmoid", "expm1": "expm1", "gammainc": "igamma", "gammaincc": "igammac",
    "gammaln": "lgamma", "i0": "i0", "i0e": "special_i0e", "i1": "special_i1",
    "i1e": "special_i1e", "log1p": "log1p", "log_ndtr": "special_log_ndtr", "logit": "logit",
    "multigammaln": "mvlgamma", "ndtri": "special_ndtri", "round": "round", "sinc": "sinc",
    "xlog1py": "special_xlog1py", "xlogy": "xlogy", "zeta": "special_zeta",
    "polygamma": "polygamma", "logsumexp": "logsumexp"})
