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

__all__ = ["expit", "logit", "erf", "erfc", "erfinv", "erfcx", "gammaln", "digamma", "psi",
           "polygamma", "multigammaln", "i0", "i0e", "i1", "i1e", "ndtr", "ndtri", "log_ndtr",
           "log1p", "expm1", "exp2", "xlogy", "xlog1py", "zeta", "entr", "sinc", "logsumexp",
           "softmax", "log_softmax", "round", "gammainc", "gammaincc", "bessel_j0", "bessel_j1"]

expit, gammaln, psi, multigammaln = sigmoid, lgamma, digamma, mvlgamma


def _tensor_only(op: str, name: str):
    def fn(input):
        require_tensor(f"special_{name}", "input", 1, input)
        return call(op, input)

    fn.__name__ = fn.__qualname__ = name
    return fn


erfcx = _tensor_only("special_erfcx", "erfcx")
i0e = _tensor_only("special_i0e", "i0e")
i1 = _tensor_only("i1", "i1")
i1e = _tensor_only("special_i1e", "i1e")
ndtri = _tensor_only("special_ndtri", "ndtri")
log_ndtr = _tensor_only("special_log_ndtr", "log_ndtr")
entr = _tensor_only("special_entr", "entr")
bessel_j0 = _tensor_only("special_bessel_j0", "bessel_j0")
bessel_j1 = _tensor_only("special_bessel_j1", "bessel_j1")


def ndtr(input):
    """Φ(x) = (1 + erf(x/√2)) / 2, written as torch writes it (its grad_fn is a mul)."""
    require_tensor("special_ndtr", "input", 1, input)
    return (1 + erf(input * (1 / math.sqrt(2.0)))) * 0.5


def _number_or_tensor(op: str, name: str):
    """A binary function taking (Tensor, Tensor), (Number, Tensor) or (Tensor, Number)."""
    def fn(input, other):
        if not hasattr(input, "_storage") and not hasattr(other, "_storage"):
            raise TypeError(
                f"special_{name}() received an invalid combination of arguments - got "
                f"({type(input).__name__}, {type(other).__name__}), but expected one of:\n"
                " * (Tensor input, Tensor other, *, Tensor out = None)\n"
                " * (Number self, Tensor other, *, Tensor out = None)\n"
                " * (Tensor input, Number other, *, Tensor out = None)\n")
        return call(op, input, other)

    fn.__name__ = fn.__qualname__ = name
    return fn


xlog1py = _number_or_tensor("special_xlog1py", "xlog1py")
zeta = _number_or_tensor("special_zeta", "zeta")


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
