"""More elementwise math, formula for formula as torch's derivatives.yaml: atan2, hypot,
logaddexp, logaddexp2, nextafter, fmod, frac, and the special functions lgamma, digamma (with polygamma for its
derivatives) and erfinv (forwards in ops/special.py: numpy has none of them).

All are elementwise rows: they run per shard, and keep their inputs' layout.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..autograd.record import call
from . import special
from ..tensor import Tensor
from .api import _in_place
from .math import _is_num, float_forward
from .rules import (binary, binary_float, in_common_dtype, not_implemented, require_float,
                    require_tensor, same, same_float, unbroadcast, zeros_grad)
from .table import ALWAYS, defop, elementwise


def _grads(c, ga, gb):
    """The two operands' gradients, undoing broadcasting, for those asked for."""
    return (unbroadcast(ga(), c.shapes[0]) if c.needs[0] else None,
            unbroadcast(gb(), c.shapes[1]) if len(c.shapes) > 1 and c.needs[1] else None)


def _float_kernel(kernel: str):
    """A binary rule for a kernel torch has for floating dtypes only (`"hypot_cpu"`)."""
    @elementwise
    def rule(a, b):
        meta = binary(a, b)
        require_float(kernel, meta.dtype)
        return meta

    return rule


def _float_unary(kernel: str):
    @elementwise
    def rule(x):
        require_float(kernel, x.dtype)
        return same(x)

    return rule


# ---- atan2, hypot, logaddexp, logaddexp2, nextafter (tensors only, as torch) -------------------------------------------

def _atan2_vjp(c, g):
    """torch's: g·b·r and g·-a·r with r = 1 / (a² + b²), and r = 0 where a² + b² is 0 (at
    the origin, or where both squares underflow)."""
    a, b = c[0], c[1]
    denom = a * a + b * b
    recip = denom.reciprocal().masked_fill(denom == 0, 0.0)
    return _grads(c, lambda: g * b * recip, lambda: g * -a * recip)


defop("atan2", float_forward(np.arctan2), binary_float, _atan2_vjp, node="Atan2Backward0",
      save=(0, 1), api=("atan2", "arctan2"), inplace="atan2_")
defop("hypot", np.hypot, _float_kernel("hypot_cpu"),
      lambda c, g: _grads(c, lambda: g * c[0] / c.out, lambda: g * c[1] / c.out),
      node="HypotBackward0", save=(0, 1), save_out=True,
      save_for={ALWAYS: ("out",), 0: (0,), 1: (1,)}, api=("hypot",), inplace="hypot_")
defop("logaddexp", np.logaddexp, _float_kernel("logaddexp_cpu"),
      lambda c, g: _grads(c, lambda: g / ((c[1] - c[0]).exp() + 1),
                          lambda: g / ((c[0] - c[1]).exp() + 1)),
      node="LogaddexpBackward0", save=(0, 1), api=("logaddexp",))
defop("logaddexp2", in_common_dtype(np.logaddexp2), _float_kernel("logaddexp2_cpu"),
      lambda c, g: _grads(c, lambda: g / ((c[1] - c[0]).exp2() + 1),
                          lambda: g / ((c[0] - c[1]).exp2() + 1)),
      node="Logaddexp2Backward0", save=(0, 1), api=("logaddexp2",))
# torch: self's gradient passes where self != other; other's is zeros (not None: a tensor)
defop("nextafter", in_common_dtype(np.nextafter), _float_kernel("nextafter_cpu"),
      lambda c, g: (unbroadcast(call("where", c[0] != c[1], g, 0.0), c.shapes[0])
                    if c.needs[0] else None,
                    zeros_grad(c.shapes[1], c.dtypes[1], g.device_str) if c.needs[1] else None),
      node="NextafterBackward0", save=(0, 1), save_for={0: (0, 1)}, api=("nextafter",),
      inplace="nextafter_")


def _of_tensors(name: str):
    """torch.<name>(input, other), refusing a number for other as torch does."""
    def function(input, other):
        require_tensor(name, "other", 2, other)
        return call(name, input, other)

    function.__name__ = function.__qualname__ = name
    return function


atan2, hypot, logaddexp, logaddexp2, nextafter, gcd, lcm, igamma, igammac = map(
    _of_tensors, ("atan2", "hypot", "logaddexp", "logaddexp2", "nextafter", "gcd", "lcm",
                  "igamma", "igammac"))
arctan2 = atan2


def _method(name: str, fn):
    """Tensor.<name>(other): `other` is the method's argument 1."""
    def method(self, other):
        require_tensor(name, "other", 1, other)
        return fn(self, other)

    method.__name__ = method.__qualname__ = name
    return method


def _in_place_method(name: str, fn):
    """Tensor.<name>_(other): fn's result written into self; `other` is argument 1."""
    write = _in_place(fn, name + "_", Tensor, elementwise=True)

    def method(self, other):
        require_tensor(name + "_", "other", 1, other)
        return write(self, other)

    method.__name__ = method.__qualname__ = name + "_"
    return method


# ---- fmod, frac ----------------------------------------------------------------------------------

@elementwise
def _fmod_rule(a, b):
    meta = binary(a, b)
    if meta.dtype is dtypes.bool_:
        raise not_implemented("fmod_cpu", meta.dtype)
    return meta


def _fmod(a, b):
    if np.asarray(a).dtype.kind in "iu" and np.any(np.asarray(b) == 0):
        raise RuntimeError("ZeroDivisionError")
    return np.fmod(a, b)


def _fmod_vjp(c, g):
    # the quotient's integer part is a step function: 0 gradient, -trunc(a/b) for b
    return _grads(c, lambda: g, lambda: -g * call("div", c[0], c[1], rounding_mode="trunc"))


# A number divisor is torch's Scalar overload (FmodBackward0): no edge for it.
defop("fmod", in_common_dtype(_fmod), _fmod_rule, _fmod_vjp, save=(0, 1), save_for={1: (0, 1)},
      node=lambda inputs, attrs: "FmodBackward0" if _is_num(inputs[1]) else "FmodBackward1",
      number_edges=False, api=("fmod",), inplace="fmod_")
defop("frac", lambda x: x - np.trunc(x), _float_unary("frac_cpu"), lambda c, g: g,
      node="FracBackward0", api=("frac",), inplace="frac_")


# ---- lgamma, digamma, polygamma, erfinv ----------------------------------------------------------

defop("lgamma", float_forward(special.lgamma), same_float, lambda c, g: g * c[0].digamma(),
      node="LgammaBackward0", save=(0,), api=("lgamma",), inplace="lgamma_")
defop("digamma", float_forward(special.digamma), same_float,
      lambda c, g: g * call("polygamma", c[0], n=1), node="DigammaBackward0", save=(0,),
      api=("digamma",), inplace="digamma_")
# (digamma's derivatives: torch's polygamma(n, x); public in ops/more_pointwise.py)
defop("polygamma", float_forward(lambda x, n, in_place=False:
                                 special.polygamma(n, x) if n else special.digamma(x)),
      same_float, lambda c, g: g * call("polygamma", c[0], n=c.attrs["n"] + 1),
      node=lambda inputs, attrs: f"PolygammaBackward{int(bool(attrs.get('in_place')))}",
      save=(0,))
# (torch's formula erfinv's self again, `exp(self.erfinv().pow(2))`: it saves self, not
# the result, so a write to the result before backward is no error there)
defop("erfinv", float_forward(special.erfinv), same_float,
      lambda c, g: g * call("erfinv", c[0]).square().exp() * 0.8862269254527580,  # √π / 2
      node="ErfinvBackward0", save=(0,), api=("erfinv",), inplace="erfinv_")


# Methods whose `other` must be a tensor (torch names it argument 1 of the method).
METHODS = dict(atan2=_method("atan2", atan2), arctan2=_method("arctan2", atan2),
               hypot=_method("hypot", hypot), logaddexp=_method("logaddexp", logaddexp),
               logaddexp2=_method("logaddexp2", logaddexp2),
               nextafter=_method("nextafter", nextafter), gcd=_method("gcd", gcd),
               lcm=_method("lcm", lcm), igamma=_method("igamma", igamma),
               igammac=_method("igammac", igammac),
               **{f"{name}_": _in_place_method(name, fn) for name, fn in (
                   ("gcd", gcd), ("lcm", lcm), ("igamma", igamma), ("igammac", igammac),
                   ("atan2", atan2), ("arctan2", atan2), ("hypot", hypot),
                   ("nextafter", nextafter))})
