"""The op cases behind tests/unit/test_ops.py: one function, written once, run by distgrad
and by torch on the same random inputs.

A case is `case(id, fn, *args, covers=(...))`. `fn(T, *tensors)` is called with `T` the
library (`distgrad` or `torch`), so one lambda states both sides. `args` describe the
inputs (`F(3, 4)` a float tensor that requires grad, `I(3, hi=4)` an int64 tensor, a
Python number as itself). `covers` names the table ops the case must dispatch (the
test records every `call` and checks); the union of `covers` over all cases must be the
whole op table.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

import distgrad.distributed.placement  # noqa: F401  (registers the to_device op)

INF = float("inf")


# ---- inputs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    kind: str  # "f" float, "i" int64, "b" bool
    shape: tuple
    lo: float = -2.0
    hi: float = 2.0
    grad: bool = True
    ties: bool = False  # values from a coarse grid, so equal values occur
    away: float = 0.0  # keep |value| >= away (away from a kink or a pole at 0)

    def make(self, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "i":
            return rng.integers(int(self.lo), int(self.hi), size=self.shape).astype(np.int64)
        if self.kind == "b":
            return rng.random(self.shape) < 0.5
        if self.ties:
            return rng.integers(-2, 3, size=self.shape).astype(np.float64) / 2
        v = rng.uniform(self.lo, self.hi, size=self.shape)
        if self.away:
            v = np.where(np.abs(v) < self.away, np.sign(v + 1e-12) * self.away + v, v)
        return v


def F(*shape, lo=-2.0, hi=2.0, ties=False, away=0.0) -> Arg:
    """A float tensor that requires grad."""
    return Arg("f", shape, lo, hi, True, ties, away)


def P(*shape) -> Arg:
    """A positive float tensor that requires grad (log, sqrt, a divisor)."""
    return Arg("f", shape, 0.5, 2.0, True)


def K(*shape, lo=-2.0, hi=2.0, ties=False) -> Arg:
    """A float tensor that does not require grad."""
    return Arg("f", shape, lo, hi, False, ties)


def I(*shape, lo=0, hi=3) -> Arg:  # noqa: E743
    return Arg("i", shape, lo, hi, False)


def B(*shape) -> Arg:
    return Arg("b", shape, 0, 1, False)


# ---- cases ---------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    fn: Callable
    args: tuple
    covers: tuple
    tfn: Optional[Callable] = None  # torch's side when it must be written differently
    fd: bool = True  # finite-difference check of the first-order gradients (float64)
    grad2: bool = True  # compare second-order gradients with torch
    rtol: float = 1e-5
    atol: float = 1e-5
    f64: bool = True  # also run in float64 (the FD check needs it)
    extra: dict = field(default_factory=dict)

    def seed(self) -> int:
        return zlib.crc32(self.id.encode())

    def torch_fn(self):
        return self.tfn or self.fn

    @property
    def has_grad_inputs(self) -> bool:
        return any(isinstance(a, Arg) and a.kind == "f" and a.grad for a in self.args)


CASES: list[Case] = []


def case(id: str, fn, *args, covers, **kw) -> Case:
    if any(c.id == id for c in CASES):
        raise ValueError(f"duplicate case id {id!r}")
    covers = (covers,) if isinstance(covers, str) else tuple(covers)
    c = Case(id, fn, args, covers, **kw)
    CASES.append(c)
    return c


def is_torch(T) -> bool:
    return T.__name__ == "torch"


def nnf(T):
    """torch.nn.functional or distgrad's."""
    import importlib

    return importlib.import_module(T.__name__ + ".nn.functional")


# =============================================================================================
# elementwise arithmetic
# =============================================================================================

case("add", lambda T, x, y: T.add(x, y), F(3, 4), F(3, 4), covers="add")
case("add_bcast_3d", lambda T, x, y: x + y, F(2, 1, 4), F(3, 1), covers="add")
case("add_bcast_row", lambda T, x, y: x + y, F(3, 4), F(4), covers="add")
case("add_scalar_right", lambda T, x: x + 2.5, F(3, 2), covers="add")
case("add_scalar_left", lambda T, x: 2 + x, F(3, 2), covers="add")
case("add_alpha", lambda T, x, y: T.add(x, y, alpha=2), F(3, 4), F(4), covers="add")
case("add_int", lambda T, x, y: x + y, I(3, 2), I(2), covers="add")
case("add_int_float", lambda T, i, y: i + y, I(3, 4), F(4), covers="add")
case("add_int_pyfloat", lambda T, i: i + 1.5, I(3), covers="add")
case("add_zero_dim", lambda T, x, y: x + y, F(3), F(), covers="add")
case("add_zero_dim_f64", lambda T, x, y: x + y.double(), F(3), F(), covers=("add", "to_dtype"))
case("add_bool", lambda T, a, b: a + b, B(4), B(4), covers="add")
case("iadd_method", lambda T, x, y: x.add(y), F(2, 3), F(3), covers="add")

case("sub", lambda T, x, y: x - y, F(3, 4), F(3, 1), covers="sub")
case("sub_fn", lambda T, x, y: T.sub(x, y), F(2, 3), F(3), covers="sub")
case("sub_alpha", lambda T, x, y: T.sub(x, y, alpha=3), F(3, 4), F(4), covers="sub")
case("sub_scalar_right", lambda T, x: x - 2, F(3), covers="sub")
case("rsub_scalar_left", lambda T, x: 3 - x, F(3, 2), covers="sub")
case("sub_int", lambda T, i, j: i - j, I(3), I(3), covers="sub")
case("subtract_alias", lambda T, x, y: T.subtract(x, y), F(3), F(3), covers="sub")

case("mul", lambda T, x, y: x * y, F(3, 4), F(3, 4), covers="mul")
case("mul_bcast", lambda T, x, y: T.mul(x, y), F(2, 1, 3), F(4, 1), covers="mul")
case("mul_scalar_right", lambda T, x: x * 3, F(4), covers="mul")
case("mul_scalar_left", lambda T, x: 0.5 * x, F(2, 2), covers="mul")
case("mul_int_float", lambda T, i, y: i * y, I(3, 2, lo=-3, hi=3), F(2), covers="mul")
case("mul_same", lambda T, x: x * x, F(3), covers="mul")
case("mul_zero_dim", lambda T, x, y: x * y, F(), F(2, 3), covers="mul")
case("multiply_alias", lambda T, x, y: T.multiply(x, y), F(3), F(3), covers="mul")

case("div", lambda T, x, y: x / y, F(3, 4), F(3, 4, away=0.5), covers="div")
case("div_bcast", lambda T, x, y: T.div(x, y), F(2, 3), P(3), covers="div")
case("div_scalar_right", lambda T, x: x / 2, F(3), covers="div")
case("div_scalar_left", lambda T, x: 2 / x, F(3, 2, away=0.5), covers=("reciprocal", "mul"))
case("div_fn_scalar_left", lambda T, x: T.div(2.0, x), P(3), covers="div")
case("div_int", lambda T, i, j: i / j, I(4, lo=-5, hi=5), I(4, lo=1, hi=4), covers="div")
case("div_floor", lambda T, x, y: T.div(x, y, rounding_mode="floor"), F(3, 4), P(4), covers="div",
     fd=False)
case("div_trunc", lambda T, x, y: T.div(x, y, rounding_mode="trunc"), F(3, 4), P(4), covers="div",
     fd=False)
case("div_floor_int", lambda T, i: T.div(i, 2, rounding_mode="floor"), I(5, lo=-5, hi=5),
     covers="div")
case("true_divide", lambda T, x, y: T.true_divide(x, y), F(3), P(3), covers="div")
case("reciprocal", lambda T, x: T.reciprocal(x), F(2, 3, away=0.5), covers="reciprocal")
case("reciprocal_int", lambda T, i: i.reciprocal(), I(3, lo=1, hi=4), covers="reciprocal")

case("neg", lambda T, x: -x, F(3, 2), covers="neg")
case("neg_fn", lambda T, x: T.neg(x), F(4), covers="neg")
case("neg_int", lambda T, i: T.negative(i), I(4), covers="neg")

case("pow_scalar", lambda T, x: x ** 2, F(3, 4), covers="pow")
case("pow_scalar_float", lambda T, x: x ** 2.5, P(3, 2), covers="pow")
case("pow_scalar_neg", lambda T, x: T.pow(x, -1), P(4), covers="pow")
case("pow_zero", lambda T, x: x ** 0, F(3), covers="pow")
case("pow_tensor", lambda T, x, y: x ** y, P(3, 4), F(4), covers="pow")
case("pow_scalar_base", lambda T, x: 2.0 ** x, F(3, 2), covers="pow")
case("pow_scalar_base_int", lambda T, x: 3 ** x, F(3), covers="pow")
case("pow_int", lambda T, i: i ** 2, I(4, lo=-3, hi=3), covers="pow")
case("square", lambda T, x: T.square(x), F(3, 2), covers="pow")

case("floor_divide_int", lambda T, i, j: i // j, I(6, lo=-6, hi=6), I(6, lo=1, hi=4),
     covers="floor_divide")
case("floor_divide_float", lambda T, x: x // 0.7, K(3, 4), covers="floor_divide")
case("remainder_int", lambda T, i: i % 3, I(6, lo=-6, hi=6), covers="remainder")
case("remainder", lambda T, x, y: x % y, F(3, 4), P(4), covers=("remainder", "div"))
case("remainder_scalar", lambda T, x: x % 1.5, F(3, 4), covers="remainder")

# =============================================================================================
# unary
# =============================================================================================

for _name, _arg in (("exp", F(3, 4)), ("log", P(3, 4)), ("sqrt", P(3, 4)), ("sin", F(3, 4)),
                    ("cos", F(3, 4)), ("tanh", F(3, 4)), ("sigmoid", F(3, 4)),
                    ("abs", F(3, 4, away=0.1)), ("sign", F(3, 4, away=0.1)),
                    ("relu", F(3, 4, away=0.1)), ("floor", F(3, 4)), ("round", F(3, 4)),
                    ("rsqrt", P(3, 4)), ("log1p", P(3, 4))):
    case(_name, (lambda n: lambda T, x: getattr(T, n)(x))(_name), _arg,
         covers=(_name, "sigmoid_backward") if _name == "sigmoid" else _name)
    case(_name + "_method", (lambda n: lambda T, x: getattr(x, n)())(_name), _arg, covers=_name)

for _name in ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "rsqrt", "log1p"):
    case(_name + "_int", (lambda n: lambda T, i: getattr(T, n)(i))(_name), I(2, 3, lo=1, hi=5),
         covers=_name)
for _name in ("abs", "sign", "relu", "floor", "round"):
    case(_name + "_int", (lambda n: lambda T, i: getattr(T, n)(i))(_name), I(2, 3, lo=-3, hi=3),
         covers=_name)

case("exp_0d", lambda T, x: x.exp(), F(), covers="exp")
case("abs_op", lambda T, x: abs(x), F(5, away=0.1), covers="abs")
case("absolute", lambda T, x: T.absolute(x), F(5, away=0.1), covers="abs")

case("clamp_both", lambda T, x: T.clamp(x, -0.5, 0.5), F(3, 4), covers="clamp")
case("clamp_min", lambda T, x: x.clamp(min=0.1), F(3, 4), covers="clamp")
case("clamp_max", lambda T, x: x.clamp(max=-0.2), F(3, 4), covers="clamp")
case("clamp_min_fn", lambda T, x: T.clamp_min(x, 0.3), F(3, 4), covers="clamp_min")
case("clamp_max_fn", lambda T, x: x.clamp_max(0.3), F(3, 4), covers="clamp_max")
case("clamp_min_tensor_fn", lambda T, x, lo: x.clamp_min(lo), F(3, 4), F(4),
     covers="clamp_min_tensor")
case("clamp_max_tensor_fn", lambda T, x, hi: T.clamp_max(x, hi), F(3, 4), F(3, 1),
     covers="clamp_max_tensor")
case("clip", lambda T, x: T.clip(x, -1, 1), F(3, 4), covers="clamp")
case("clamp_int", lambda T, i: i.clamp(0, 2), I(5, lo=-3, hi=5), covers="clamp")
case("clamp_int_float_bound", lambda T, i: i.clamp(min=0.5), I(5, lo=-3, hi=5), covers="clamp")
case("clamp_tensor", lambda T, x, lo, hi: T.clamp(x, lo, hi), F(3, 4), F(4, lo=-1, hi=-0.1),
     F(3, 1, lo=0.1, hi=1), covers="clamp_tensor")
case("clamp_tensor_min", lambda T, x, lo: x.clamp(min=lo), F(3, 4), F(4), covers="clamp_tensor")
case("clamp_tensor_max", lambda T, x, hi: x.clamp(max=hi), F(3, 4), F(3, 4),
     covers="clamp_tensor")

case("maximum", lambda T, x, y: T.maximum(x, y), F(3, 4), F(3, 4), covers="maximum")
case("maximum_bcast", lambda T, x, y: x.maximum(y), F(3, 4), F(4), covers="maximum")
case("maximum_ties", lambda T, x, y: T.maximum(x, y), F(3, 4, ties=True), F(4, ties=True),
     covers="maximum", fd=False)
case("minimum", lambda T, x, y: T.minimum(x, y), F(2, 3), F(2, 1), covers="minimum")
case("minimum_ties", lambda T, x, y: T.minimum(x, y), F(3, 4, ties=True), F(3, 4, ties=True),
     covers="minimum", fd=False)
case("maximum_int", lambda T, i, j: T.maximum(i, j), I(4), I(4), covers="maximum")
case("max_binary", lambda T, x, y: T.max(x, y), F(3), F(3), covers="maximum")
case("min_binary", lambda T, x, y: x.min(y), F(3), F(3), covers="minimum")

case("where", lambda T, c, x, y: T.where(c, x, y), B(3, 4), F(3, 4), F(3, 4), covers="where")
case("where_bcast", lambda T, c, x, y: T.where(c, x, y), B(3, 1), F(4), F(2, 1, 1),
     covers="where")
case("where_scalar_other", lambda T, x: T.where(x > 0, x, 0.0), F(3, 4, away=0.1),
     covers=("where", "gt"))
case("where_scalar_input", lambda T, c, y: T.where(c, 1.5, y), B(4), F(4), covers="where")
case("where_method", lambda T, x, y: x.where(x < y, y), F(3, 4), F(4), covers=("where", "lt"),
     fd=False)
case("where_int_float", lambda T, c, i, y: T.where(c, i, y), B(3), I(3), F(3), covers="where")

case("masked_fill", lambda T, x, m: x.masked_fill(m, 0.5), F(3, 4), B(3, 4),
     covers="masked_fill")
case("masked_fill_bcast", lambda T, x, m: T.masked_fill(x, m, -1.0), F(3, 4), B(4),
     covers="masked_fill")
case("masked_fill_tensor", lambda T, x, m, v: x.masked_fill(m, v), F(3, 4), B(3, 4), F(),
     covers="masked_fill")
case("masked_fill_int", lambda T, i, m: i.masked_fill(m, 7), I(5), B(5), covers="masked_fill")

# =============================================================================================
# comparisons and logic (forward only)
# =============================================================================================

for _name, _op in (("eq", "__eq__"), ("ne", "__ne__"), ("lt", "__lt__"), ("le", "__le__"),
                   ("gt", "__gt__"), ("ge", "__ge__")):
    case(_name, (lambda n: lambda T, x, y: getattr(T, n)(x, y))(_name), F(3, 4, ties=True),
         F(4, ties=True), covers=_name)
    case(_name + "_op_scalar", (lambda o: lambda T, x: getattr(x, o)(0.5))(_op),
         F(3, 4, ties=True), covers=_name)
    case(_name + "_int", (lambda o: lambda T, i, j: getattr(i, o)(j))(_op), I(5), I(5),
         covers=_name)
case("eq_int_float", lambda T, i, x: i == x, I(6, lo=-1, hi=2), K(6, ties=True), covers="eq")
# a comparison written in place: its result cast into x's dtype, zeros to x's old history
case("lt_in_place", lambda T, x, y: (x * 1).lt_(y), F(3, 4), F(3, 4),
     covers=("compared_into", "lt", "mul"))
case("ge_in_place_scalar", lambda T, x: (x * 1).ge_(0.25), F(3, 4), covers=("compared_into", "ge"))
case("eq_in_place_ties", lambda T, x, y: (x * 1).eq_(y), F(3, 4, ties=True), F(4, ties=True),
     covers=("compared_into", "eq"))

case("gcd", lambda T, i, j: T.gcd(i, j), I(3, 4, lo=-9, hi=9), I(4, lo=-9, hi=9), covers="gcd")
case("lcm", lambda T, i, j: i.lcm(j), I(3, 4, lo=-9, hi=9), I(3, 4, lo=-9, hi=9), covers="lcm")
case("logical_and", lambda T, a, b: T.logical_and(a, b), B(3, 4), B(4), covers="logical_and")
case("logical_or", lambda T, a, b: a.logical_or(b), B(3, 4), B(3, 4), covers="logical_or")
case("and_op_on_bools", lambda T, a, b: a & b, B(5), B(5), covers="bitwise_and")
case("or_op_on_bools", lambda T, a, b: a | b, B(5), B(5), covers="bitwise_or")
case("xor_op_on_bools", lambda T, a, b: a ^ b, B(2, 3), B(3), covers="bitwise_xor")
case("logical_xor", lambda T, a, b: T.logical_xor(a, b), B(2, 3), B(3), covers="logical_xor")
case("logical_not", lambda T, a: T.logical_not(a), B(5), covers="logical_not")
case("logical_not_op", lambda T, a: ~a, B(5), covers="logical_not")
case("logical_not_float", lambda T, x: T.logical_not(x), K(5, ties=True), covers="logical_not")
case("bitwise_not", lambda T, i: ~i, I(5, lo=-3, hi=3), covers="bitwise_not")
case("bitwise_and", lambda T, i, j: T.bitwise_and(i, j), I(5, lo=-3, hi=3), I(5, lo=-3, hi=3),
     covers="bitwise_and")
case("bitwise_or_bool", lambda T, a, b: a.bitwise_or(b), B(3, 4), B(4), covers="bitwise_or")
case("bitwise_xor_scalar", lambda T, i: T.bitwise_xor(i, 5), I(5, lo=-3, hi=3),
     covers="bitwise_xor")
case("left_shift", lambda T, i, j: i << j, I(2, 5, lo=-70, hi=70), I(5, lo=-3, hi=70),
     covers="bitwise_left_shift")
case("right_shift_scalar", lambda T, i: T.bitwise_right_shift(i, 3), I(5, lo=-40, hi=40),
     covers="bitwise_right_shift")
case("isnan", lambda T, x: T.isnan(x.log()), K(5), covers=("isnan", "log"))
case("isnan_method", lambda T, x: x.isnan(), F(5), covers="isnan")

# =============================================================================================
# dtype conversion, copies
# =============================================================================================

case("to_double", lambda T, x: x.double(), F(3, 2), covers="to_dtype", f64=False)
case("to_float_from_double", lambda T, x: x.double().float(), F(3), covers="to_dtype", fd=False)
case("to_dtype", lambda T, x: x.to(T.float64) * 2, F(2, 2), covers=("to_dtype", "mul"))
case("to_long", lambda T, x: x.long(), F(4), covers="to_dtype")
case("int_to_float", lambda T, i: i.float(), I(4), covers="to_dtype")
case("bool_to_float", lambda T, b: b.to(T.float32), B(4), covers="to_dtype")
case("to_bool", lambda T, x: x.bool(), K(4, ties=True), covers="to_dtype")
case("type_as", lambda T, i, x: i.type_as(x) * x, I(3), F(3), covers=("to_dtype", "mul"))
case("to_channels_last", lambda T, x: x.to(memory_format=T.channels_last), F(2, 3, 2, 2),
     covers="to_format")
case("to_double_channels_last", lambda T, x: x.to(T.float64, memory_format=T.channels_last),
     F(1, 2, 3, 2), covers="to_format", f64=False)
case("clone", lambda T, x: x.clone(), F(3, 2), covers="clone")
case("clone_fn", lambda T, x: T.clone(x), F(3), covers="clone")

# =============================================================================================
# reductions
# =============================================================================================

case("sum", lambda T, x: x.sum(), F(3, 4), covers="sum")
case("sum_fn", lambda T, x: T.sum(x), F(2, 3, 2), covers="sum")
case("sum_dim", lambda T, x: x.sum(1), F(3, 4), covers="sum")
case("sum_dim_neg_keepdim", lambda T, x: x.sum(-1, keepdim=True), F(2, 3, 4), covers="sum")
case("sum_dims", lambda T, x: x.sum((0, 2)), F(2, 3, 4), covers="sum")
case("sum_dims_neg_keepdim", lambda T, x: T.sum(x, dim=[-1, 0], keepdim=True), F(2, 3, 4),
     covers="sum")
case("sum_0d", lambda T, x: x.sum(), F(), covers="sum")
case("sum_0d_dim", lambda T, x: x.sum(0), F(), covers="sum")
case("sum_int", lambda T, i: i.sum(), I(3, 4), covers="sum")
case("sum_int_dim", lambda T, i: i.sum(0), I(3, 4), covers="sum")
case("sum_bool", lambda T, b: b.sum(), B(3, 4), covers="sum")
case("sum_dtype", lambda T, x: x.sum(dtype=T.float64), F(3, 4), covers="sum", f64=False)
case("sum_int_dtype", lambda T, i: T.sum(i, 1, dtype=T.float32), I(3, 4), covers="sum")

case("mean", lambda T, x: x.mean(), F(3, 4), covers="mean")
case("mean_dim", lambda T, x: T.mean(x, 0), F(3, 4), covers="mean")
case("mean_dim_neg_keepdim", lambda T, x: x.mean(-2, keepdim=True), F(2, 3, 4), covers="mean")
case("mean_dims", lambda T, x: x.mean((0, -1)), F(2, 3, 4), covers="mean")
case("mean_0d", lambda T, x: x.mean(), F(), covers="mean")
case("mean_int_dtype", lambda T, i: i.mean(dtype=T.float32), I(3, 4), covers="mean")

case("max", lambda T, x: x.max(), F(3, 4), covers="max")
case("max_ties", lambda T, x: x.max(), F(3, 4, ties=True), covers="max", fd=False)
case("min", lambda T, x: T.min(x), F(3, 4), covers="min")
case("min_ties", lambda T, x: x.min(), F(3, 4, ties=True), covers="min", fd=False)
case("max_int", lambda T, i: i.max(), I(3, 4, hi=9), covers="max")
case("max_0d", lambda T, x: x.max(), F(), covers="max")

case("max_dim", lambda T, x: x.max(1), F(3, 4), covers=("max_dim", "scatter_dim"))
case("max_dim_keepdim", lambda T, x: T.max(x, -1, keepdim=True), F(2, 3, 4),
     covers=("max_dim", "scatter_dim"))
case("max_dim_values", lambda T, x: x.max(dim=0).values, F(3, 4),
     covers=("max_dim", "scatter_dim"))
case("max_dim_indices", lambda T, x: x.max(0)[1], F(3, 4), covers="max_dim")
case("min_dim", lambda T, x: x.min(0), F(3, 4), covers=("min_dim", "scatter_dim"))
case("min_dim_keepdim", lambda T, x: x.min(-2, True), F(2, 3, 4),
     covers=("min_dim", "scatter_dim"))
case("max_dim_int", lambda T, i: i.max(1), I(3, 4, hi=9), covers="max_dim")
case("max_dim_0d", lambda T, x: x.max(0), F(), covers="max_dim")

case("argmax", lambda T, x: x.argmax(), F(3, 4), covers="argmax")
case("argmax_dim", lambda T, x: T.argmax(x, 1), F(3, 4), covers="argmax")
case("argmax_dim_keepdim", lambda T, x: x.argmax(-1, keepdim=True), F(2, 3, 4), covers="argmax")
case("argmin", lambda T, x: x.argmin(), F(3, 4), covers="argmin")
case("argmin_dim", lambda T, x: T.argmin(x, dim=0, keepdim=True), F(3, 4), covers="argmin")
case("argmax_int", lambda T, i: i.argmax(0), I(3, 4, hi=9), covers="argmax")

case("amax", lambda T, x: x.amax(), F(3, 4), covers="amax")
case("amax_dim", lambda T, x: T.amax(x, 1), F(3, 4), covers="amax")
case("amax_dims_keepdim", lambda T, x: x.amax((0, -1), keepdim=True), F(2, 3, 4), covers="amax")
case("amax_ties", lambda T, x: x.amax(1), F(3, 4, ties=True), covers="amax", fd=False)
case("amin", lambda T, x: T.amin(x), F(3, 4), covers="amin")
case("amin_dim_neg", lambda T, x: x.amin(-1), F(2, 3, 4), covers="amin")
case("amin_ties", lambda T, x: x.amin(0, True), F(3, 4, ties=True), covers="amin", fd=False)

case("var", lambda T, x: x.var(), F(3, 4), covers="var")
case("var_dim", lambda T, x: T.var(x, 1), F(3, 4), covers="var")
case("var_dim_keepdim_unbiased", lambda T, x: x.var(-1, unbiased=False, keepdim=True),
     F(2, 3, 4), covers="var")
case("var_correction", lambda T, x: x.var((0, 2), correction=0), F(2, 3, 4), covers="var")
case("var_bool_unbiased", lambda T, x: x.var(False), F(5), covers="var")
case("std", lambda T, x: x.std(), F(3, 4), covers="std")
case("std_dim", lambda T, x: T.std(x, 0), F(3, 4), covers="std")
case("std_dim_keepdim", lambda T, x: x.std(-1, keepdim=True, correction=0), F(2, 3, 4),
     covers="std")
case("std_dims", lambda T, x: x.std((0, 1)), F(2, 3, 4), covers="std")

case("softmax", lambda T, x: T.softmax(x, -1), F(3, 4), covers="softmax")
case("softmax_dim0", lambda T, x: x.softmax(0), F(3, 4), covers="softmax")
case("softmax_3d", lambda T, x: x.softmax(1), F(2, 3, 4), covers="softmax")
case("softmax_dtype", lambda T, x: x.softmax(-1, dtype=T.float64), F(2, 3), covers="softmax",
     f64=False)
case("log_softmax", lambda T, x: T.log_softmax(x, 1), F(3, 4), covers="log_softmax")
case("log_softmax_neg", lambda T, x: x.log_softmax(-2), F(2, 3, 4), covers="log_softmax")
case("log_softmax_1d", lambda T, x: x.log_softmax(0), F(5), covers="log_softmax")

case("logsumexp", lambda T, x: T.logsumexp(x, 1), F(3, 4), covers="logsumexp")
case("logsumexp_keepdim", lambda T, x: x.logsumexp(-1, keepdim=True), F(2, 3, 4),
     covers="logsumexp")
case("logsumexp_dims", lambda T, x: x.logsumexp((0, 2)), F(2, 3, 4), covers="logsumexp")
case("logsumexp_int", lambda T, i: i.logsumexp(0), I(3, 4), covers="logsumexp")

case("norm", lambda T, x: x.norm(), F(3, 4), covers="norm")
case("norm_fn", lambda T, x: T.norm(x), F(5), covers="norm")
case("norm_p1", lambda T, x: x.norm(p=1), F(3, 4, away=0.1), covers="norm")
case("norm_p3_dim", lambda T, x: x.norm(3, dim=1), F(3, 4, away=0.1), covers="norm")
case("norm_inf", lambda T, x: x.norm(INF), F(3, 4), covers="norm")
case("norm_dim_keepdim", lambda T, x: x.norm(dim=-1, keepdim=True), F(2, 3, 4), covers="norm")
case("norm_dims", lambda T, x: T.norm(x, 2, (0, 2)), F(2, 3, 4), covers="norm")
case("norm_p0", lambda T, x: x.norm(0), F(3, 4), covers="norm", fd=False)

# =============================================================================================
# matrix products
# =============================================================================================

case("mm", lambda T, a, b: T.mm(a, b), F(3, 4), F(4, 5), covers="mm")
case("mm_method", lambda T, a, b: a.mm(b), F(1, 4), F(4, 2), covers="mm")
case("mv", lambda T, a, v: T.mv(a, v), F(3, 4), F(4), covers="mv")
case("dot", lambda T, a, b: T.dot(a, b), F(4), F(4), covers="dot")
case("dot_int", lambda T, a, b: a.dot(b), I(4), I(4), covers="dot")
case("addmm", lambda T, c, a, b: T.addmm(c, a, b), F(5), F(3, 4), F(4, 5), covers="addmm")
case("addmm_full", lambda T, c, a, b: T.addmm(c, a, b), F(3, 5), F(3, 4), F(4, 5),
     covers="addmm")
# A few rows by a transposed weight (Linear's w.t()) of 65,536 elements or more: the
# product is computed the other way round (ops/linalg.py _product); no finite differences
# at this size (the small cases above check the same VJP).
case("mm_few_rows_by_wt", lambda T, a, w: T.mm(a, w.t()), F(3, 256), F(320, 256),
     covers=("t", "mm"), fd=False, grad2=False)
case("addmm_few_rows_by_wt", lambda T, c, a, w: T.addmm(c, a, w.t()), F(320), F(3, 256),
     F(320, 256), covers=("t", "addmm"), fd=False, grad2=False)
case("bmm", lambda T, a, b: T.bmm(a, b), F(2, 3, 4), F(2, 4, 5), covers="bmm")
case("matmul_1d_1d", lambda T, a, b: T.matmul(a, b), F(4), F(4), covers="dot")
case("matmul_2d_1d", lambda T, a, b: a @ b, F(3, 4), F(4), covers="mv")
case("matmul_1d_2d", lambda T, a, b: a @ b, F(4), F(4, 3),
     covers=("unsqueeze", "mm", "squeeze_matmul"))
case("matmul_2d_2d", lambda T, a, b: a.matmul(b), F(3, 4), F(4, 2), covers="mm")
case("matmul_3d_2d", lambda T, a, b: a @ b, F(2, 3, 4), F(4, 2),
     covers=("reshape", "mm", "unsafe_view"))
case("matmul_3d_1d", lambda T, a, b: a @ b, F(2, 3, 4), F(4), covers=("reshape", "mv",
                                                                      "unsafe_view"))
case("matmul_3d_3d", lambda T, a, b: a @ b, F(2, 3, 4), F(2, 4, 5), covers=("bmm", "unsafe_view"))
case("matmul_1d_3d", lambda T, a, b: T.matmul(a, b), F(4), F(2, 4, 3),
     covers=("transpose", "reshape", "mv", "unsafe_view"))
case("matmul_1d_3d_const", lambda T, a, b: T.matmul(a, b), K(4), F(2, 4, 3),
     covers=("bmm", "unsafe_view"))
case("matmul_2d_3d", lambda T, a, b: a @ b, F(3, 4), F(2, 4, 5),
     covers=("transpose", "t", "reshape", "mm", "unsafe_view", "clone"))
case("matmul_2d_3d_const", lambda T, a, b: a @ b, K(3, 4), F(2, 4, 5),
     covers=("bmm", "unsafe_view"))
case("matmul_bcast_4d", lambda T, a, b: a @ b, F(2, 1, 3, 4), F(5, 4, 2),
     covers=("bmm", "unsafe_view"))
case("matmul_3d_1d_right", lambda T, a, b: b @ a, F(2, 3, 4), F(3),
     covers=("transpose", "mv", "unsafe_view"))
case("matmul_3d_1d_right_const", lambda T, a, b: b @ a, F(2, 3, 4), K(3),
     covers=("bmm", "unsafe_view"))
# torch folds a batch into one mm only when that needs no copy, or the matrix needs a gradient
case("matmul_3d_strided_2d_const", lambda T, a, b: a.transpose(0, 1) @ b, F(3, 2, 4), K(4, 2),
     covers=("bmm", "unsafe_view"))
case("matmul_3d_strided_2d", lambda T, a, b: a.transpose(0, 1) @ b, F(3, 2, 4), F(4, 2),
     covers=("reshape", "mm", "unsafe_view"))
case("matmul_1d_3d_const_foldable", lambda T, a, b: a @ b, K(1), F(2, 1, 3),
     covers=("transpose", "mv", "unsafe_view"))
case("outer", lambda T, a, b: T.outer(a, b), F(3), F(4), covers=("reshape", "mul"))
case("outer_method", lambda T, a, b: a.outer(b), F(2), F(2), covers="mul")

# =============================================================================================
# shape and views
# =============================================================================================

case("reshape", lambda T, x: x.reshape(4, 3), F(3, 4), covers="reshape")
case("reshape_infer", lambda T, x: T.reshape(x, (2, -1)), F(3, 4), covers="reshape")
case("reshape_0d", lambda T, x: x.reshape(1, 1), F(), covers="reshape")
case("reshape_to_0d", lambda T, x: x.reshape(()), F(1), covers="reshape")
case("view", lambda T, x: x.view(2, 2, 3), F(3, 4), covers="reshape")
case("view_infer", lambda T, x: x.view(-1), F(3, 4), covers="reshape")
case("view_as", lambda T, x, y: x.view_as(y), F(3, 4), K(12), covers="reshape")
case("reshape_as", lambda T, x, y: x.reshape_as(y), F(3, 4), K(6, 2), covers="reshape")
case("flatten", lambda T, x: x.flatten(), F(2, 3, 4), covers="reshape")
case("flatten_range", lambda T, x: T.flatten(x, 1), F(2, 3, 4), covers="reshape")
case("flatten_neg", lambda T, x: x.flatten(0, -2), F(2, 3, 4), covers="reshape")
case("flatten_0d", lambda T, x: x.flatten(), F(), covers="reshape")
case("t", lambda T, x: x.t(), F(3, 4), covers="t")
case("t_fn_1d", lambda T, x: T.t(x), F(3), covers="t")
case("transpose", lambda T, x: x.transpose(0, 1), F(3, 4), covers="transpose")
case("transpose_neg", lambda T, x: T.transpose(x, -1, 0), F(2, 3, 4), covers="transpose")
case("swapaxes", lambda T, x: x.swapaxes(1, 2), F(2, 3, 4), covers="transpose")
case("mT", lambda T, x: x.mT, F(2, 3, 4), covers="transpose")
case("T", lambda T, x: x.T, F(3, 4), covers="permute")
case("permute", lambda T, x: x.permute(2, 0, 1), F(2, 3, 4), covers="permute")
case("permute_neg_tuple", lambda T, x: T.permute(x, (-1, 1, 0)), F(2, 3, 4), covers="permute")
case("squeeze", lambda T, x: x.squeeze(), F(1, 3, 1, 2), covers="squeeze")
case("squeeze_dim", lambda T, x: T.squeeze(x, 0), F(1, 3, 1, 2), covers="squeeze")
case("squeeze_dim_neg_noop", lambda T, x: x.squeeze(-1), F(1, 3, 1, 2), covers="squeeze")
case("squeeze_dims", lambda T, x: x.squeeze((0, 2)), F(1, 3, 1, 2), covers="squeeze")
case("unsqueeze", lambda T, x: x.unsqueeze(0), F(3, 4), covers="unsqueeze")
case("unsqueeze_neg", lambda T, x: T.unsqueeze(x, -1), F(3, 4), covers="unsqueeze")
case("unsqueeze_mid", lambda T, x: x.unsqueeze(-2), F(3, 4), covers="unsqueeze")
case("expand", lambda T, x: x.expand(3, 4), F(3, 1), covers="expand")
case("expand_lead", lambda T, x: x.expand(2, -1, 4), F(3, 1), covers="expand")
case("expand_0d", lambda T, x: x.expand(3), F(), covers="expand")
case("expand_as", lambda T, x, y: x.expand_as(y), F(4), K(3, 4), covers="expand")
case("broadcast_to", lambda T, x: T.broadcast_to(x, (2, 3, 4)), F(3, 1), covers="expand")
case("contiguous_view", lambda T, x: x.t().contiguous().view(-1), F(3, 4),
     covers=("t", "contiguous", "reshape"), tfn=lambda T, x: x.t().contiguous().view(-1))

case("cat", lambda T, a, b: T.cat([a, b]), F(2, 3), F(4, 3), covers="cat")
case("cat_dim1", lambda T, a, b, c: T.cat((a, b, c), 1), F(2, 3), F(2, 1), F(2, 2), covers="cat")
case("cat_neg", lambda T, a, b: T.cat([a, b], dim=-1), F(2, 3, 2), F(2, 3, 1), covers="cat")
case("cat_empty", lambda T, a, b: T.cat([a, b]), F(2, 3), K(0), covers="cat")
case("cat_mixed_dtype", lambda T, a, b: T.cat([a, b]), I(2, 3), F(1, 3), covers="cat")
case("cat_int", lambda T, a, b: T.concat([a, b]), I(2), I(3), covers="cat")
case("cat_one_grad", lambda T, a, b: T.cat([a, b]), K(2, 3), F(1, 3), covers="cat")
case("stack", lambda T, a, b: T.stack([a, b]), F(2, 3), F(2, 3), covers=("stack", "select"))
case("stack_dim1", lambda T, a, b, c: T.stack((a, b, c), 1), F(2, 3), F(2, 3), F(2, 3),
     covers="stack")
case("stack_neg", lambda T, a, b: T.stack([a, b], dim=-1), F(2, 3), F(2, 3), covers="stack")
case("stack_0d", lambda T, a, b: T.stack([a, b]), F(), F(), covers="stack")
case("stack_int", lambda T, a, b: T.stack([a, b]), I(3), I(3), covers="stack")
case("split", lambda T, x: x.split(2), F(5, 3), covers=("split", "cat", "full"))
case("split_sizes", lambda T, x: T.split(x, [1, 2], 1), F(2, 3), covers=("split", "cat"))
case("split_one_used", lambda T, x: x.split(2, -1)[1], F(3, 5), covers=("split", "cat", "full"))
case("chunk", lambda T, x: x.chunk(2), F(5, 3), covers="split")
case("chunk_dim", lambda T, x: T.chunk(x, 3, -1), F(2, 6), covers="split")
case("unbind", lambda T, x: x.unbind(), F(3, 2), covers="unbind")
case("unbind_dim", lambda T, x: T.unbind(x, 1)[0], F(3, 2), covers="unbind")
case("iter", lambda T, x: list(x)[1], F(3, 2), covers="unbind")
case("narrow", lambda T, x: x.narrow(1, 1, 2), F(3, 4), covers=("slice", "slice_backward"))
case("narrow_neg", lambda T, x: T.narrow(x, -1, -3, 2), F(3, 4), covers="slice")
case("select", lambda T, x: x.select(1, 2), F(3, 4), covers=("select", "select_backward"))
case("select_neg", lambda T, x: T.select(x, -1, -1), F(2, 3, 4),
     covers=("select", "select_backward"))
case("index_select", lambda T, x, i: x.index_select(1, i), F(3, 4), I(5, hi=4),
     covers="index_select")
case("index_select_fn", lambda T, x, i: T.index_select(x, 0, i), F(3, 4), I(2, hi=3),
     covers="index_select")
case("pack_padded_sequence", lambda T, x: T.nn.utils.rnn.pack_padded_sequence(
    x, [4, 2, 1], batch_first=True).data, F(3, 4, 2), covers="_pack_padded_sequence")
case("lstm_onednn_layer", lambda T, x, w_ih, w_hh, b_ih, b_hh, h, c: T.func.functional_call(
    T.nn.LSTM(4, 3), {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih,
                      "bias_hh_l0": b_hh}, (x, (h, c)))[0],
     F(2, 3, 4), F(12, 4), F(12, 3), F(12), F(12), F(1, 3, 3), F(1, 3, 3),
     covers="mkldnn_rnn_layer")
case("gather", lambda T, x, i: x.gather(1, i), F(3, 4), I(3, 5, hi=4),
     covers=("take_along_dim", "scatter_dim"))
case("gather_fn_dim0", lambda T, x, i: T.gather(x, 0, i), F(3, 4), I(2, 4, hi=3),
     covers=("take_along_dim", "scatter_dim"))

# =============================================================================================
# indexing
# =============================================================================================

case("getitem_int", lambda T, x: x[1], F(3, 4), covers=("select", "select_backward"))
case("getitem_neg_int", lambda T, x: x[-1, 2], F(3, 4), covers="select")
case("getitem_slice", lambda T, x: x[:, 1:3], F(3, 4), covers=("slice", "slice_backward"))
case("getitem_step", lambda T, x: x[::2], F(5, 2), covers=("slice", "slice_backward"))
case("getitem_neg_slice", lambda T, x: x[-2:, :-1], F(3, 4), covers="slice")
case("getitem_ellipsis", lambda T, x: x[..., 1], F(2, 3, 4), covers="select")
case("getitem_ellipsis_only", lambda T, x: x[...], F(2, 3), covers="alias")
case("getitem_none", lambda T, x: x[None, 1], F(3, 4), covers=("unsqueeze", "select"))
case("getitem_none_mid", lambda T, x: x[:, None], F(3, 4), covers="unsqueeze")
case("getitem_int_tensor", lambda T, x, i: x[i], F(3, 4), I(5, hi=3),
     covers=("index", "index_backward"))
case("getitem_int_tensor_2d", lambda T, x, i: x[i], F(3, 4), I(2, 2, hi=3), covers="index")
case("getitem_int_tensor_dim1", lambda T, x, i: x[:, i], F(3, 4), I(3, hi=4), covers="index")
case("getitem_two_tensors", lambda T, x, i, j: x[i, :, j], F(3, 2, 4), I(5, hi=3), I(5, hi=4),
     covers="index")
case("getitem_tensors_bcast", lambda T, x, i, j: x[i, j], F(3, 4), I(2, 1, hi=3), I(3, hi=4),
     covers="index")
case("getitem_list", lambda T, x: x[[0, 2, 2]], F(3, 4), covers="index")
case("getitem_slice_and_list", lambda T, x: x[1:, [0, 3]], F(3, 4), covers=("slice", "index"))
case("getitem_int_and_tensor", lambda T, x, i: x[1, i], F(3, 4), I(3, hi=4),
     covers=("select", "index"))
case("getitem_bool", lambda T, x, m: x[m], F(3, 4), B(3, 4), covers=("index", "index_backward"))
case("getitem_bool_rows", lambda T, x, m: x[m], F(3, 4), B(3), covers="index")
case("getitem_bool_dim1", lambda T, x, m: x[:, m], F(3, 4), B(4), covers="index")
case("getitem_bool_from_data", lambda T, x: x[x > 0], F(3, 4), covers=("gt", "index"))
case("getitem_int_input", lambda T, i, j: i[j], I(4, hi=9), I(3, hi=4), covers="index")
case("getitem_0d_index", lambda T, x, i: x[i], F(3, 4), I(hi=3), covers="select")


def _setitem(key):
    def fn(T, x, v, *idx):
        y = x.clone()
        y[key(*idx)] = v
        return y

    return fn


case("setitem_int", _setitem(lambda: 1), F(3, 4), F(4), covers=("clone", "index_put"))
case("setitem_slice", _setitem(lambda: (slice(None), slice(1, 3))), F(3, 4), F(3, 2),
     covers="index_put")
case("setitem_slice_bcast", _setitem(lambda: slice(0, 2)), F(3, 4), F(4), covers="index_put")
case("setitem_list", _setitem(lambda: [3, 1]), F(4, 3), F(2, 3), covers="index_put")
case("setitem_tensor", _setitem(lambda i: (slice(None), i)), F(3, 4), F(3, 1), I(1, hi=4),
     covers="index_put")
case("setitem_mask", _setitem(lambda m: m), F(3, 4), F(), B(3, 4), covers="index_put")
case("setitem_scalar", lambda T, x: _setitem(lambda: (0, 1))(T, x, 5.0), F(3, 4),
     covers="index_put")


def _inplace_on_view(view, op):
    def fn(T, x, v):
        y = x * 1
        getattr(view(y), op)(v)
        return y

    return fn


# An in-place op on a view of a tensor in a graph: the base gets torch's CopySlices.
case("inplace_select_view", _inplace_on_view(lambda y: y[1], "mul_"), F(3, 4), F(4),
     covers=("copy_slices_owning", "select", "select_backward"))
case("inplace_slice_view", _inplace_on_view(lambda y: y[:, 1:3], "add_"), F(3, 4), F(3, 2),
     covers=("copy_slices_owning", "slice", "slice_backward"))
case("inplace_t_view", _inplace_on_view(lambda y: y.t(), "sub_"), F(3, 4), F(4, 3),
     covers=("copy_slices_owning", "t"))
case("inplace_chained_views", _inplace_on_view(lambda y: y.reshape(12)[2:8], "mul_"), F(3, 4),
     F(6), covers=("copy_slices_owning", "reshape", "slice"))


def _custom_write_on_view(T, x, v):
    """A custom Function writing its input, a view, in place (mark_dirty): the base takes
    the write through the view."""
    class Scale(T.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            ctx.mark_dirty(a)
            ctx.save_for_backward(a.detach().clone(), b)
            return a.mul_(b)

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b, g * a

    y = x * 1
    Scale.apply(y[1], v)
    return y


case("custom_write_on_view", _custom_write_on_view, F(3, 4), F(4), grad2=False,
     covers=("copy_slices_owning",))


def _fill_through_expand(T, x):
    y = x * 1
    y.expand(2, -1, -1).fill_(1.5)
    return y.detach()  # (a gradient through this write raises in torch: test_views_inplace)


case("fill_through_expanded_view", _fill_through_expand, F(3, 4), fd=False, grad2=False,
     covers=("overlapping_write", "copy_slices", "expand", "as_strided_backward"))


def _overwritten(write):
    """y is computed from x, overwritten in place, then used beside x: the old history
    gets a zero gradient (torch's FillBackward2, ZeroBackward0, CopyBackwards)."""
    def fn(T, x, *more):
        y = x * 2
        write(y, *more)
        return y * x

    return fn


case("fill_scalar", _overwritten(lambda y: y.fill_(1.5)), F(3, 4), covers="fill")
case("fill_zero_dim_tensor", _overwritten(lambda y, v: y.fill_(v)), F(3, 4), F(), covers="fill")
case("zero_", _overwritten(lambda y: y.zero_()), F(3, 4), covers="zero")
case("copy_broadcast", _overwritten(lambda y, v: y.copy_(v)), F(3, 4), F(4), covers="copy")
case("copy_other_dtype", _overwritten(lambda y, v: y.copy_(v.double())), F(3, 4), F(3, 4),
     covers=("copy", "to_dtype"))
# resize_ (of a tensor that requires no grad): the leading elements in memory order; within
# its memory it stays there (no op), past it the driver's memory grows (no op), a worker's
# tensor takes memory of its own (the op); the new elements are torch's garbage
case("resize_", lambda T, x: x.resize_(2, 5), K(3, 4), covers=())
case("resize_transposed", lambda T, x: x.t().resize_(5, 2), K(3, 4), covers="t")
case("resize_grown", lambda T, x: x.t().resize_(4, 4).reshape(-1)[:12], K(3, 4), covers="t")
# set_ from a tensor that requires grad: torch's node without a derivative (its edges and
# backward: test_tensor_memory_api), so only the values it shares are compared
case("set_", lambda T, x: x.new_zeros(0).set_(x.clone().requires_grad_()).detach() * 2,
     K(3, 4), covers=("set_", "clone", "mul"))
case("view_dtype", lambda T, i: i.double().view(T.int64).view(T.float64), K(3, 4),
     covers=("to_dtype", "view_dtype"))
case("as_strided", lambda T, x: x.as_strided((2, 2), (1, 3), 1), F(4, 3),
     covers=("as_strided", "as_strided_backward"))
case("as_strided_overlapping", lambda T, x: x.as_strided((3, 2), (1, 1)), F(4),
     covers=("as_strided", "as_strided_backward"))
case("unfold_overlapping", lambda T, x: x.unfold(1, 3, 1), F(2, 5),
     covers=("unfold", "unfold_backward"))
case("unfold_step_past_size", lambda T, x: x.unfold(-2, 2, 3), F(7, 2),
     covers=("unfold", "unfold_backward"))
case("unfold_zero_dim", lambda T, x: x.unfold(0, 1, 1), F(), covers=("unfold", "unfold_backward"))


def _view_then_write_base(T, x, w):
    """A view taken before its base is written: its history is regenerated from the base's
    new one (AsStridedBackward0)."""
    y = x * 1
    v = y[1:]
    y.mul_(w)
    return v


case("view_after_base_write", _view_then_write_base, F(3, 4), F(3, 4),
     covers=("slice", "as_strided", "as_strided_backward"))

# =============================================================================================
# losses
# =============================================================================================

for _red in ("mean", "sum", "none"):
    case(f"mse_loss_{_red}", (lambda r: lambda T, x, y: nnf(T).mse_loss(x, y, reduction=r))(_red),
         F(3, 4), F(3, 4), covers=("mse_loss", "mse_loss_backward"))
    case(f"bce_{_red}", (lambda r: lambda T, x, y: nnf(T).binary_cross_entropy(x, y, reduction=r))(
        _red), Arg("f", (3, 4), 0.1, 0.9), Arg("f", (3, 4), 0.0, 1.0),
        covers=("binary_cross_entropy", "binary_cross_entropy_backward"))
    case(f"bce_logits_{_red}", (lambda r: lambda T, x, y: nnf(T).binary_cross_entropy_with_logits(
        x, y, reduction=r))(_red), F(3, 4), Arg("f", (3, 4), 0.0, 1.0),
        covers="binary_cross_entropy_with_logits")
    case(f"nll_loss_{_red}", (lambda r: lambda T, x, t: nnf(T).nll_loss(x, t, reduction=r))(_red),
         F(4, 3), I(4, hi=3), covers=("nll_loss", "nll_loss_backward"))
def _loss_gradient(name, reduction, **kw):
    """A loss's input and target gradients taken with create_graph: torch's <loss>_backward
    op (MseLossBackwardBackward0 ...), and its own gradients."""
    def fn(T, x, y):
        loss = getattr(nnf(T), name)(x, y, reduction=reduction, **kw)
        gx, gy = T.autograd.grad(loss * 1.5 if reduction != "none" else loss,
                                 (x, y), T.ones_like(loss) if reduction == "none" else None,
                                 create_graph=True)
        return gx * y + gy * gy
    return fn


for _red in ("mean", "sum", "none"):
    case(f"mse_loss_backward_{_red}", _loss_gradient("mse_loss", _red), F(3, 4), F(3, 4),
         covers=("mse_loss", "mse_loss_backward"), fd=False)
    case(f"smooth_l1_loss_backward_{_red}", _loss_gradient("smooth_l1_loss", _red, beta=0.5),
         F(3, 4), F(3, 4), covers=("smooth_l1_loss", "smooth_l1_loss_backward"), fd=False)
    case(f"huber_loss_backward_{_red}", _loss_gradient("huber_loss", _red, delta=0.7),
         F(3, 4), F(3, 4), covers=("huber_loss", "huber_loss_backward"), fd=False)
# the mean of nothing: torch's 1/N is inf in double, scaling an empty gradient (fuzzer seed 270)
case("mse_loss_backward_mean_empty", _loss_gradient("mse_loss", "mean"), F(0, 4), F(0, 4),
     covers=("mse_loss", "mse_loss_backward"), fd=False)
case("smooth_l1_loss_backward_mean_empty", _loss_gradient("smooth_l1_loss", "mean"), F(0, 4),
     F(0, 4), covers=("smooth_l1_loss", "smooth_l1_loss_backward"), fd=False)
case("huber_loss_backward_mean_empty", _loss_gradient("huber_loss", "mean"), F(0, 4), F(0, 4),
     covers=("huber_loss", "huber_loss_backward"), fd=False)
def _loss_backward_op(name, reduction, **width):
    """torch's <loss>_backward op called as it is (its finite differences)."""
    def fn(T, g, x, y):
        if T.__name__ == "torch":
            return getattr(T.ops.aten, f"{name}_backward")(
                g, x, y, ("none", "mean", "sum").index(reduction), *width.values())
        from distgrad.autograd.record import call

        norm = x.numel() if reduction == "mean" else 1
        return call(f"{name}_backward", g, x, y, norm=norm, reduction=reduction, **width)
    return fn


for _red, _g in (("none", F(3, 4)), ("mean", F())):
    case(f"mse_loss_backward_op_{_red}", _loss_backward_op("mse_loss", _red), _g, F(3, 4),
         F(3, 4), covers="mse_loss_backward")
    case(f"smooth_l1_loss_backward_op_{_red}", _loss_backward_op("smooth_l1_loss", _red, width=0.5),
         _g, F(3, 4), F(3, 4, lo=4, hi=5), covers="smooth_l1_loss_backward")
    case(f"huber_loss_backward_op_{_red}", _loss_backward_op("huber_loss", _red, width=0.7), _g,
         F(3, 4), F(3, 4, lo=4, hi=5), covers="huber_loss_backward")


def _margin_gradient(loss, leaf=False):
    """A margin loss's input gradient taken with create_graph (torch's node for it: soft
    margin's backward, or NotImplemented for the multi-class margins' backwards, which
    `leaf` takes on a leaf of the case's own: nothing differentiates it)."""
    def fn(T, x, *rest):
        if leaf:
            x = x.detach().requires_grad_()
        return T.autograd.grad(loss(T, x, *rest) * 1.5, x, create_graph=True)[0]
    return fn


_soft_margin = lambda T, x, y: nnf(T).soft_margin_loss(x, (y * 2 - 1).to(x.dtype))  # noqa: E731
_multi_margin = lambda T, x, y: nnf(T).multi_margin_loss(x, y, p=2, margin=0.7)  # noqa: E731
_multilabel_margin = lambda T, x: nnf(T).multilabel_margin_loss(  # noqa: E731
    x, T.tensor([[3, 0, -1, 1], [1, 2, 3, 0], [-1, 1, 1, 1]]))
case("soft_margin_loss", _soft_margin, F(3, 4), I(3, 4, hi=2), covers="soft_margin_loss")
case("soft_margin_loss_backward", _margin_gradient(_soft_margin), F(3, 4), I(3, 4, hi=2),
     covers=("soft_margin_loss", "soft_margin_loss_backward"), fd=False)


def _soft_margin_backward(T, g, x, y):
    """torch's soft_margin_loss_backward called as it is (its finite differences)."""
    y = (y * 2 - 1).to(x.dtype)
    if T.__name__ == "torch":
        return T.ops.aten.soft_margin_loss_backward(g, x, y, 1)
    from distgrad.autograd.record import call

    return call("soft_margin_loss_backward", g, x, y, norm=x.numel(), reduction="mean")


case("soft_margin_loss_backward_op", _soft_margin_backward, F(), F(3, 4), I(3, 4, hi=2),
     covers="soft_margin_loss_backward")
case("multi_margin_loss", _multi_margin, F(4, 5), I(4, hi=5), covers="multi_margin_loss",
     grad2=False)
case("multi_margin_loss_backward", _margin_gradient(_multi_margin, leaf=True), K(4, 5),
     I(4, hi=5), covers=("multi_margin_loss", "multi_margin_loss_backward"), fd=False, grad2=False)
case("multilabel_margin_loss", _multilabel_margin, F(3, 4), covers="multilabel_margin_loss",
     grad2=False)
case("multilabel_margin_loss_backward", _margin_gradient(_multilabel_margin, leaf=True),
     K(3, 4), covers=("multilabel_margin_loss", "multilabel_margin_loss_backward"), fd=False,
     grad2=False)

def _weight_norm(dim):
    """torch._weight_norm over the first or last dim: its fused kernel's node."""
    def fn(T, v, g):
        if T.__name__ == "torch":
            return T._weight_norm(v, g, dim)
        from distgrad.nn.utils.weight_norm import _weight_norm as weight_norm

        return weight_norm(v, g, dim)
    return fn


# (torch's second derivatives leave out the norms' own: gradgradcheck fails there, not here)
case("weight_norm_interface_dim0", _weight_norm(0), F(3, 4), P(3, 1),
     covers="weight_norm_interface", grad2=False)
case("weight_norm_interface_last", _weight_norm(2), F(2, 3, 4), P(1, 1, 4),
     covers="weight_norm_interface", grad2=False)


case("bce_weight", lambda T, x, y, w: nnf(T).binary_cross_entropy(x, y, weight=w),
     Arg("f", (3, 4), 0.1, 0.9), K(3, 4, lo=0, hi=1), K(4, lo=0.5, hi=2),
     covers=("binary_cross_entropy", "binary_cross_entropy_backward"))
case("bce_logits_weights", lambda T, x, y, w, pw: nnf(T).binary_cross_entropy_with_logits(
    x, y, weight=w, pos_weight=pw), F(3, 4), Arg("f", (3, 4), 0.0, 1.0), K(3, 1, lo=0.5, hi=2),
    K(4, lo=0.5, hi=2), covers="binary_cross_entropy_with_logits")
case("nll_loss_weight", lambda T, x, t, w: nnf(T).nll_loss(x, t, weight=w), F(5, 3), I(5, hi=3),
     K(3, lo=0.5, hi=2), covers=("nll_loss", "nll_loss_backward"))
case("nll_loss_ignore", lambda T, x, t: nnf(T).nll_loss(x, t, ignore_index=1), F(6, 3),
     I(6, hi=3), covers="nll_loss")
case("nll_loss_1d", lambda T, x, t: nnf(T).nll_loss(x, t), F(3), I(hi=3), covers="nll_loss")
# (N, C, d...): torch's nll_loss2d, so its node is NllLoss2DBackward0 (a "none" of 3-D input: a
# view of that)
for _red in ("mean", "sum", "none"):
    case(f"cross_entropy_spatial_{_red}", (lambda r: lambda T, x, t: nnf(T).cross_entropy(
        x, t, reduction=r))(_red), F(2, 3, 5), I(2, 5, hi=3), covers="nll_loss")
# class probabilities, smoothed: torch's composite scales, shifts and averages through the
# Scalar overloads (MulBackward1, AddBackward1, DivBackward1)
case("cross_entropy_probabilities_smoothed", lambda T, x, t: nnf(T).cross_entropy(
    x, t, label_smoothing=0.25), F(3, 4), F(3, 4, lo=0.1, hi=0.5),
    covers=("add_number", "mul_number", "div_number"))
case("nll_loss_4d_weight", lambda T, x, t, w: nnf(T).nll_loss(x, t, weight=w), F(2, 3, 2, 2),
     I(2, 2, 2, hi=3), K(3, lo=0.5, hi=2), covers="nll_loss")
case("one_hot", lambda T, t: nnf(T).one_hot(t, 4), I(2, 3, hi=4), covers="one_hot")


def _nll_loss_backward(reduction, spatial=False):
    """torch's nll_loss_backward called as it is (its finite differences in g)."""
    def fn(T, g, x, t, w):
        if T.__name__ == "torch":
            r = ("none", "mean", "sum").index(reduction)
            forward = T.ops.aten.nll_loss2d_forward if spatial else T.ops.aten.nll_loss_forward
            backward = (T.ops.aten.nll_loss2d_backward if spatial
                        else T.ops.aten.nll_loss_backward)
            total = forward(x.detach(), t, w, r, 1)[1]
            return backward(g, x, t, w, r, 1, total)
        from distgrad.autograd.record import call

        return call("nll_loss_backward", g, x, t, w, dtype=x.dtype.name, reduction=reduction,
                    ignore_index=1, spatial=spatial)
    return fn


case("nll_loss_backward_none", _nll_loss_backward("none"), F(4), F(4, 3), I(4, hi=3),
     K(3, lo=0.5, hi=2), covers="nll_loss_backward")
case("nll_loss_backward_mean", _nll_loss_backward("mean"), F(), F(4, 3), I(4, hi=3),
     K(3, lo=0.5, hi=2), covers="nll_loss_backward")
case("nll_loss_backward_2d", _nll_loss_backward("sum", True), F(), F(2, 3, 2, 2),
     I(2, 2, 2, hi=3), K(3, lo=0.5, hi=2), covers="nll_loss_backward")


def _nll_weights(T, t, w):
    """Each target's class weight, 0 at ignore_index 1 (sharded nll_loss's op)."""
    if T.__name__ == "torch":
        return T.where(t == 1, 0.0, w[t])
    from distgrad.autograd.record import call

    return call("nll_weights", t, w, classes=3, dtype=w.dtype.name, ignore_index=1)


case("nll_weights", _nll_weights, I(5, hi=3), K(3, lo=0.5, hi=2), covers="nll_weights")

# =============================================================================================
# corners: kinks and poles hit exactly, ties, empty and 0-dim tensors, dtype promotion
# =============================================================================================

case("relu_at_zero", lambda T, x: (x * 0).relu(), F(4), covers=("mul", "relu"))
# (a nan result passes its gradient: torch zeroes only where the result is <= 0)
case("relu_nan", lambda T, x: (x * T.tensor([float("nan"), 1.0, 1.0, 1.0])).relu(), F(4),
     covers=("mul", "relu", "threshold_backward"), fd=False)
case("relu_double_backward",
     lambda T, x: T.autograd.grad(x.relu().pow(2).sum(), x, create_graph=True)[0] * x,
     F(3, 4, away=0.1), covers=("relu", "threshold_backward"), fd=False)


def _threshold_backward(T, g, x):
    if T.__name__ == "torch":
        return T.ops.aten.threshold_backward(g, x, 0)
    from distgrad.autograd.record import call

    return call("threshold_backward", g, x, threshold=0)


case("threshold_backward", _threshold_backward, F(3, 4), F(3, 4, away=0.1),
     covers="threshold_backward")


def _tanh_backward(T, g, y):
    if T.__name__ == "torch":
        return T.ops.aten.tanh_backward(g, y)
    from distgrad.autograd.record import call

    return call("tanh_backward", g, y)


case("tanh_backward", _tanh_backward, F(3, 4), F(3, 4), covers="tanh_backward")
# y near ±1: 1 - y² rounded once, as torch's fused multiply-add (rounded twice it is 2e-2
# off at y = 1 - 1e-7)
case("tanh_backward_near_one",
     lambda T, g, x: _tanh_backward(T, g, 1 - x * x * 1e-3), F(40, 8), F(40, 8),
     covers="tanh_backward", fd=False, grad2=False, atol=0.0, rtol=1e-6)


def _softmax_backward_data(name):
    def fn(T, g, x, dim):
        out = getattr(x, name)(dim)
        if T.__name__ == "torch":
            return getattr(T.ops.aten, f"_{name}_backward_data")(g, out, dim, out.dtype)
        from distgrad.autograd.record import call

        return call(f"{name}_backward_data", g, out, dim=dim)
    return fn


for _name in ("softmax", "log_softmax"):
    case(f"{_name}_backward_data", lambda T, g, x, f=_softmax_backward_data(_name):
         f(T, g, x, 1), F(3, 4), F(3, 4), covers=f"{_name}_backward_data")
    case(f"{_name}_backward_data_dim0", lambda T, g, x, f=_softmax_backward_data(_name):
         f(T, g, x, 0), F(2, 3, 4), F(2, 3, 4), covers=f"{_name}_backward_data")
    # a gradient taken with create_graph: torch's (Log)SoftmaxBackwardDataBackward0 node
    case(f"{_name}_double_backward", lambda T, x, w, name=_name: T.autograd.grad(
         (getattr(x, name)(-1) * w).sum(), x, create_graph=True)[0] ** 2, F(3, 4), F(3, 4),
         covers=(_name, f"{_name}_backward_data"), fd=False)


def _norm_of_squares(T, x):
    """The last step of a sharded 2-norm (the root of the summed squares): against torch's
    norm of the tensor they are the squares of."""
    if T.__name__ == "torch":
        return (x * 1).norm(dim=1)
    from distgrad.autograd.record import call

    return call("norm_of_squares", (x * 1 * x).sum(1))


case("norm_of_squares", _norm_of_squares, F(3, 4, away=0.1), covers=("norm_of_squares",))
# (at a zero norm torch's second order is 0/0, NaN; the root of the squares' is 0)
case("norm_of_squares_zero", lambda T, x: _norm_of_squares(T, x * 0), F(4, 2),
     covers="norm_of_squares", grad2=False)

case("abs_at_zero", lambda T, x: (x * 0).abs(), F(4), covers=("mul", "abs"))
case("clamp_at_bound", lambda T, x: (x * 0).clamp(0, 1), F(4), covers="clamp")
case("norm_of_zero", lambda T, x: (x * 0).norm(), F(4), covers="norm")
case("norm_of_zero_dim", lambda T, x: (x * 0).norm(dim=1), F(2, 3), covers="norm")
case("norm_inf_ties", lambda T, x: x.norm(INF, dim=0), F(3, 4, ties=True), covers="norm",
     fd=False)
case("pow_zero_base", lambda T, x, y: (x * 0) ** y, F(4), Arg("f", (4,), 1.0, 2.0),
     covers="pow")
case("pow_scalar_base_zero_exp", lambda T, x: 0.0 ** (x * 0), F(3), covers="pow", fd=False)
case("max_dim_ties", lambda T, x: x.max(1), F(3, 4, ties=True), covers="max_dim", fd=False)
case("min_dim_ties", lambda T, x: x.min(0), F(3, 4, ties=True), covers="min_dim", fd=False)
case("argmax_ties", lambda T, x: x.argmax(1), F(3, 4, ties=True), covers="argmax")
case("argmin_ties_flat", lambda T, x: x.argmin(), F(3, 4, ties=True), covers="argmin")
case("sum_empty", lambda T, x: x.sum(), F(0, 3), covers="sum")
case("sum_empty_dim", lambda T, x: x.sum(0), F(0, 3), covers="sum")
case("mean_empty_dim", lambda T, x: x.mean(1), F(0, 3), covers="mean")
case("softmax_0d", lambda T, x: x.softmax(0), F(), covers="softmax")
case("log_softmax_0d", lambda T, x: x.log_softmax(-1), F(), covers="log_softmax")
case("logsumexp_0d", lambda T, x: x.logsumexp(0), F(), covers="logsumexp")
# torch special-cases the second derivative when N - correction <= 0 over all dims (not mirrored).
case("var_one_element", lambda T, x: x.var(), F(1), covers="var", fd=False, grad2=False)
case("var_dim_no_dof", lambda T, x: x.var(0), F(1, 2), covers="var", fd=False)
case("var_dim_negative_dof", lambda T, x: x.var(0, correction=2), F(1, 2), covers="var",
     fd=False)
case("std_one_element", lambda T, x: x.std(0), F(1, 2), covers="std", fd=False)
case("std_of_constant", lambda T, x: (x * 0).std(), F(4), covers="std", fd=False)
case("std_of_constant_dim", lambda T, x: (x * 0 + 1).std(1, keepdim=True), F(2, 3),
     covers="std", fd=False)
case("var_0d_no_correction", lambda T, x: x.var(correction=0), F(), covers="var")
case("std_dim_0d_input", lambda T, x: x.std(0, correction=0), F(3), covers="std")
case("amax_int", lambda T, i: i.amax(0), I(3, 4, hi=9), covers="amax")
case("sum_bool_dim", lambda T, b: b.sum(1), B(3, 4), covers="sum")
case("mean_dtype_f64", lambda T, x: x.mean(1, dtype=T.float64), F(3, 4), covers="mean",
     f64=False)
case("add_f32_f64", lambda T, x, y: x + y.double(), F(3), F(3), covers=("add", "to_dtype"))
case("add_int_f64_0d", lambda T, i, y: i + y.double(), I(3), F(), covers=("add", "to_dtype"))
case("add_bool_int", lambda T, b, i: b + i, B(3), I(3), covers="add")
case("mul_bool_pyfloat", lambda T, b: b * 1.5, B(3), covers="mul")
case("div_int_pyint", lambda T, i: i / 2, I(3), covers="div")
case("where_int_pyfloat", lambda T, c, i: T.where(c, i, 0.5), B(3), I(3), covers="where")
case("getitem_neg_tensor", lambda T, x, i: x[i], F(3, 4), I(5, lo=-3, hi=3), covers="index")
case("getitem_step_neg_start", lambda T, x: x[1:-1:2], F(6, 2), covers="slice")
case("getitem_none_ellipsis_none", lambda T, x: x[None, ..., None], F(2, 3),
     covers="unsqueeze")
case("getitem_tensor_then_slice", lambda T, x, i: x[i, 1:], F(3, 4), I(2, hi=3),
     covers=("slice", "index"))
case("getitem_adjacent_tensors", lambda T, x, i, j: x[:, i, j], F(2, 3, 4), I(5, hi=3),
     I(5, hi=4), covers="index")
case("getitem_empty_slice", lambda T, x: x[2:1], F(3, 4), covers="slice")
case("setitem_mask_bcast", _setitem(lambda m: m), F(3, 4), F(4), B(3), covers="index_put")

case("sum_dim_none_keepdim", lambda T, x: x.sum(dim=None, keepdim=True), F(3, 4), covers="sum")
case("sum_dim_empty_tuple", lambda T, x: x.sum(dim=()), F(3, 4), covers="sum")
case("mean_dim_none_keepdim", lambda T, x: T.mean(x, None, True), F(3, 4), covers="mean")
case("std_dim_none_keepdim", lambda T, x: x.std(dim=None, keepdim=True), F(3, 4), covers="std")
case("var_dims_list", lambda T, x: x.var(dim=[0, 1]), F(3, 4), covers="var")
case("norm_keepdim_all", lambda T, x: x.norm(dim=None, keepdim=True), F(3, 4), covers="norm")
case("norm_p_fro_dims", lambda T, x: x.norm(p="fro", dim=(0, 1)), F(3, 4), covers="norm")
case("logsumexp_neg_dims", lambda T, x: x.logsumexp((-1, -2)), F(2, 3, 4), covers="logsumexp")
case("softmax_int_dtype", lambda T, i: i.softmax(0, dtype=T.float32), I(4), covers="softmax")
case("pow_float_int_tensor", lambda T, x, i: x ** i, F(3, 4), I(4, hi=4), covers="pow")
case("pow_int_pyfloat", lambda T, i: i ** 0.5, I(4, hi=5), covers="pow")
case("pow_pyint_int_tensor", lambda T, i: 2 ** i, I(4, hi=5), covers="pow")
case("cat_f32_f64", lambda T, a, b: T.cat([a, b.double()]), F(2, 3), F(1, 3),
     covers=("cat", "to_dtype"))
case("stack_f32_f64", lambda T, a, b: T.stack([a, b.double()], 1), F(2, 3), F(2, 3),
     covers=("stack", "to_dtype"))
case("where_f32_f64", lambda T, c, a, b: T.where(c, a, b.double()), B(3), F(3), F(3),
     covers=("where", "to_dtype"))
case("maximum_f32_f64", lambda T, a, b: T.maximum(a, b.double()), F(3), F(3),
     covers=("maximum", "to_dtype"))
case("mm_f64", lambda T, a, b: T.mm(a.double(), b.double()), F(2, 3), F(3, 2),
     covers=("mm", "to_dtype"))
case("getitem_numpy_index", lambda T, x: x[np.array([2, 0])], F(3, 4), covers="index")
case("getitem_bool_list", lambda T, x: x[[True, False, True]], F(3, 4), covers="index")
case("transpose_1d", lambda T, x: x.transpose(0, -1), F(3), covers="transpose")
case("squeeze_0d", lambda T, x: x.squeeze(), F(), covers="squeeze")
case("unsqueeze_0d", lambda T, x: x.unsqueeze(0), F(), covers="unsqueeze")
case("permute_0d", lambda T, x: T.permute(x, ()), F(), covers="permute")
case("sum_dim_none", lambda T, x: x.sum(None), F(3, 4), covers="sum")
case("mean_dim_empty_keepdim", lambda T, x: x.mean((), keepdim=True), F(3, 4), covers="mean")
# (torch's own gradient of var(dim=()) is inf: a torch bug, so forward only)
case("var_dim_empty", lambda T, x: x.var(()), K(3, 4), covers="var")
case("norm_dim_empty", lambda T, x: x.norm(dim=()), F(3, 4), covers="norm")
case("expand_same", lambda T, x: x.expand(3, 4), F(3, 4), covers="expand")
case("split_sizes_empty_part", lambda T, x: x.split([0, 3], 0), F(3, 2), covers="split")
case("chunk_uneven", lambda T, x: x.chunk(3), F(4, 2), covers="split")
case("max_dim_neg_values_indices", lambda T, x: T.max(x, dim=-2), F(3, 4), covers="max_dim")
case("addmm_beta_alpha", lambda T, c, a, b: T.addmm(c, a, b, beta=0.5, alpha=-2), F(3, 2),
     F(3, 4), F(4, 2), covers="addmm")
case("addmm_beta_zero", lambda T, c, a, b: T.addmm(c, a, b, beta=0), F(2), F(3, 4), F(4, 2),
     covers="addmm")
case("norm_neg_inf", lambda T, x: x.norm(-INF), F(3, 4), covers="norm")
case("norm_p_half", lambda T, x: x.norm(0.5, dim=0), F(3, 4, away=0.1), covers="norm")
case("norm_p_1_5", lambda T, x: x.norm(1.5), F(3, 4, away=0.1), covers="norm")
case("div_trunc_int", lambda T, i, j: T.div(i, j, rounding_mode="trunc"), I(6, lo=-6, hi=6),
     I(6, lo=1, hi=4), covers="div")
case("reshape_empty", lambda T, x: x.reshape(-1, 3), F(0, 3), covers="reshape")
case("addmm_scalar_bias", lambda T, c, a, b: T.addmm(c, a, b), F(), F(3, 4), F(4, 2),
     covers="addmm")


def _inplace(method, *extra, **kw):
    def fn(T, x, *args):
        y = x.clone()
        getattr(y, method)(*args, *extra, **kw)
        return y

    return fn


case("inplace_add_", _inplace("add_"), F(3, 4), F(4), covers=("clone", "add"))
case("inplace_sub_alpha", _inplace("sub_", alpha=2), F(3, 4), F(3, 4), covers="sub")
case("inplace_mul_", _inplace("mul_"), F(3, 4), F(3, 1), covers="mul")
case("inplace_div_", _inplace("div_"), F(3, 4), P(4), covers="div")
case("inplace_clamp_", _inplace("clamp_", -0.5, 0.5), F(3, 4), covers="clamp")
case("inplace_mul_scalar", _inplace("mul_", 2.0), F(3, 4), covers="mul")

# =============================================================================================
# moving between devices (needs local workers; torch's side is a dtype round trip, which gives
# the same ToCopyBackward0 node, values and gradients)
# =============================================================================================

def _other_float(T, x):
    return T.float64 if x.dtype == T.float32 else T.float32


case("to_device", lambda T, x: (x.to("worker:0") * 2).to("cpu"), F(3, 2),
     tfn=lambda T, x: (x.to(_other_float(T, x)) * 2).to(x.dtype),
     covers=("to_device", "mul"), extra={"workers": 1})
case("resize_grown_on_a_worker",
     lambda T, x: x.t().to("worker:0").resize_(4, 4).reshape(-1)[:12].cpu(), K(3, 4),
     tfn=lambda T, x: x.t().resize_(4, 4).reshape(-1)[:12].clone(),  # (a copy, as .cpu())
     covers=("to_device", "t", "resize"), extra={"workers": 1})
case("to_device_method_cpu", lambda T, x, y: x.to("worker:0").cpu() + y, F(4), F(4),
     tfn=lambda T, x, y: x.to(_other_float(T, x)).to(x.dtype) + y,
     covers=("to_device", "add"), extra={"workers": 1})

# =============================================================================================
# creation (forward only)
# =============================================================================================

case("full", lambda T: T.full((2, 3), 1.5), covers="full")
case("full_int", lambda T: T.full((2,), 7), covers="full")
case("zeros", lambda T: T.zeros(2, 3), covers="full")
case("ones_int", lambda T: T.ones(3, dtype=T.int64), covers="full")
case("ones_like", lambda T, x: T.ones_like(x) * x, F(2, 3), covers=("full", "mul"))
case("zeros_like_int", lambda T, i: T.zeros_like(i), I(3), covers="full")
case("full_like", lambda T, x: T.full_like(x, 2.0), K(3), covers="full")
case("eye", lambda T: T.eye(3), covers="eye")
case("eye_rect", lambda T: T.eye(2, 4, dtype=T.float64), covers="eye")
case("arange", lambda T: T.arange(5), covers="arange")
case("arange_float", lambda T: T.arange(0, 2, 0.25), covers="arange")
case("arange_neg_step", lambda T: T.arange(5, 1, -1.5), covers="arange")
case("linspace", lambda T: T.linspace(0, 1, 5), covers="linspace")
case("linspace_f64", lambda T: T.linspace(-1, 2, 7, dtype=T.float64), covers="linspace")

# =============================================================================================
# errors: the same call must raise torch's exception type with torch's leading words
# =============================================================================================

ERRORS: list[Case] = []


def error(id: str, fn, *args, prefix: int = 70) -> Case:
    """A call that must fail; the first `prefix` characters of torch's message must match."""
    if any(c.id == id for c in ERRORS):
        raise ValueError(f"duplicate error id {id!r}")
    c = Case(id, fn, args, (), extra={"prefix": prefix})
    ERRORS.append(c)
    return c


# binary ops: shapes that do not broadcast, dtypes torch refuses
error("add_shape", lambda T, x, y: x + y, K(3), K(4))
error("add_shape_2d", lambda T, x, y: T.add(x, y), K(2, 3), K(3, 2))
error("sub_shape", lambda T, x, y: x - y, K(2, 3), K(2))
error("mul_shape", lambda T, x, y: x * y, K(4, 3), K(4, 1, 2))
error("div_shape", lambda T, x, y: x / y, K(3), K(2))
error("pow_shape", lambda T, x, y: x ** y, K(3), K(2))
error("maximum_shape", lambda T, x, y: T.maximum(x, y), K(3), K(2))
error("maximum_scalar", lambda T, x: T.maximum(x, 1.0), K(3))
error("where_shape", lambda T, c, x, y: T.where(c, x, y), B(3), K(3), K(2))
error("where_cond_dtype", lambda T, c, x, y: T.where(c, x, y), K(3), K(3), K(3))
error("eq_shape", lambda T, x, y: x == y, K(3), K(2))
error("sub_bool", lambda T, a, b: a - b, B(3), B(3))
# torch's alpha_check: a float alpha (1.0 too) for a floating result only, a bool one for bool
error("add_float_alpha_int", lambda T, i, j: T.add(i, j, alpha=0.5), I(3), I(3))
error("sub_float_alpha_one", lambda T, i, j: T.sub(i, j, alpha=1.0), I(3), I(3))
error("add__float_alpha", lambda T, i: i.clone().add_(1, alpha=2.0), I(3))
error("add_bool_alpha", lambda T, x, y: x.add(y, alpha=True), K(3), K(3))
error("abs_bool", lambda T, a: T.abs(a), B(3))
error("pow_int_negative", lambda T, i: i ** -1, I(3, lo=1, hi=3))
error("clamp_no_bounds", lambda T, x: T.clamp(x), K(3))
error("masked_fill_shape", lambda T, x, m: x.masked_fill(m, 0.0), K(3, 4), B(3))
error("masked_fill_value_dim", lambda T, x, m, v: x.masked_fill(m, v), K(3), B(3), K(3))
# torch's order of checks: out of place the broadcast, then the value, then the mask's dtype;
# in place the value and the dtype first, then self broadcast with the mask (self named first)
error("masked_fill__shape", lambda T, x, m: x.clone().masked_fill_(m, 0.0), K(2, 3), B(2, 3, 1))
error("masked_fill__int_mask_shape", lambda T, x, i: x.clone().masked_fill_(i, 0.0), K(3), I(4))
error("masked_fill_int_mask_shape", lambda T, x, i: x.masked_fill(i, 0.0), K(3), I(4))
error("masked_fill_value_dim_int_mask", lambda T, x, i, v: x.masked_fill(i, v), K(3), I(3), K(3))

# matrix products
error("mm_shape", lambda T, a, b: T.mm(a, b), K(2, 3), K(4, 5))
error("mm_1d", lambda T, a, b: T.mm(a, b), K(3), K(3, 2))
error("mm_1d_right", lambda T, a, b: a.mm(b), K(2, 3), K(3))
error("mm_dtype", lambda T, a, b: T.mm(a, b.double()), K(2, 3), K(3, 2))
error("matmul_shape", lambda T, a, b: a @ b, K(2, 3), K(4, 5))
error("matmul_3d_2d_shape", lambda T, a, b: a @ b, K(2, 2, 3), K(4, 5))
error("matmul_3d_3d_shape", lambda T, a, b: T.matmul(a, b), K(2, 2, 3), K(2, 4, 5))
# not folded: the batched product's words
error("matmul_dtype_strided", lambda T, a, b: a.double().transpose(0, 1) @ b, K(3, 2, 4),
      K(4, 2))
error("matmul_0d", lambda T, a, b: T.matmul(a, b), K(), K(3))
error("matmul_1d_shape", lambda T, a, b: a @ b, K(3), K(4))
error("matmul_2d_1d_shape", lambda T, a, b: a @ b, K(2, 3), K(4))
error("matmul_1d_2d_shape", lambda T, a, b: a @ b, K(3), K(4, 2))
error("matmul_batch_shape", lambda T, a, b: a @ b, K(2, 3, 4), K(3, 4, 2))
error("dot_shape", lambda T, a, b: T.dot(a, b), K(3), K(4))
error("dot_2d", lambda T, a, b: T.dot(a, b), K(2, 3), K(3))
error("dot_dtype", lambda T, a, b: T.dot(a, b.double()), K(3), K(3))
error("mv_shape", lambda T, a, v: T.mv(a, v), K(2, 3), K(4))
error("mv_2d", lambda T, a, v: T.mv(a, v), K(2, 3), K(3, 1))
error("bmm_shape", lambda T, a, b: T.bmm(a, b), K(2, 3, 4), K(2, 5, 6))
error("bmm_2d", lambda T, a, b: T.bmm(a, b), K(3, 4), K(4, 5))
error("addmm_shape", lambda T, c, a, b: T.addmm(c, a, b), K(3), K(2, 3), K(3, 4))
error("outer_2d", lambda T, a, b: T.outer(a, b), K(2, 2), K(3))

# joins and splits
error("cat_shape", lambda T, a, b: T.cat([a, b]), K(2, 3), K(2, 4))
error("cat_ndim", lambda T, a, b: T.cat([a, b]), K(2, 3), K(3))
error("cat_empty_list", lambda T: T.cat([]))
error("cat_dim", lambda T, a, b: T.cat([a, b], dim=2), K(2, 3), K(2, 3))
error("stack_shape", lambda T, a, b: T.stack([a, b]), K(2, 3), K(3, 2))
error("stack_empty_list", lambda T: T.stack([]))
error("stack_dim", lambda T, a, b: T.stack([a, b], dim=3), K(2, 3), K(2, 3))
error("split_sizes", lambda T, x: x.split([1, 1], 0), K(3, 2))
error("chunk_zero", lambda T, x: x.chunk(0), K(3))
error("narrow_range", lambda T, x: x.narrow(0, 2, 3), K(4))

# reshape and views
error("reshape_invalid", lambda T, x: x.reshape(5), K(2, 3))
error("reshape_infer_invalid", lambda T, x: x.reshape(4, -1), K(2, 3))
error("reshape_two_infer", lambda T, x: x.reshape(-1, -1), K(2, 3))
error("view_invalid", lambda T, x: x.view(7), K(2, 3))
error("expand_shape", lambda T, x: x.expand(3, 4), K(2, 4))
error("expand_fewer", lambda T, x: x.expand(4), K(2, 4))
error("t_3d", lambda T, x: x.t(), K(2, 3, 4))
error("permute_len", lambda T, x: x.permute(1, 0), K(2, 3, 4))
error("permute_dup", lambda T, x: x.permute(0, 0, 1), K(2, 3, 4))
error("flatten_order", lambda T, x: x.flatten(2, 1), K(2, 3, 4))

# dims out of range
error("sum_dim", lambda T, x: x.sum(2), K(2, 3))
error("sum_dim_neg", lambda T, x: x.sum(-3), K(2, 3))
error("sum_dim_repeated", lambda T, x: x.sum((0, 0)), K(2, 3))
error("mean_dim", lambda T, x: x.mean(5), K(2, 3))
error("max_dim", lambda T, x: x.max(2), K(2, 3))
error("amax_dim", lambda T, x: x.amax(2), K(2, 3))
error("argmax_dim", lambda T, x: x.argmax(2), K(2, 3))
error("var_dim", lambda T, x: x.var(3), K(2, 3))
error("softmax_dim", lambda T, x: x.softmax(2), K(2, 3))
error("log_softmax_dim", lambda T, x: x.log_softmax(-3), K(2, 3))
error("logsumexp_dim", lambda T, x: x.logsumexp(2), K(2, 3))
error("norm_dim", lambda T, x: x.norm(dim=2), K(2, 3))
error("transpose_dim", lambda T, x: x.transpose(0, 2), K(2, 3))
error("unsqueeze_dim", lambda T, x: x.unsqueeze(3), K(2, 3))
error("squeeze_dim", lambda T, x: x.squeeze(2), K(2, 3))
error("select_dim", lambda T, x: x.select(2, 0), K(2, 3))
error("select_index", lambda T, x: x.select(1, 3), K(2, 3))
error("cat_dim_neg", lambda T, a: T.cat([a, a], -3), K(2, 3))

# dtypes a reduction refuses
error("mean_int", lambda T, i: i.mean(), I(3))
error("mean_int_dtype", lambda T, x: x.mean(0, dtype=T.int64), K(3))
error("var_int", lambda T, i: i.var(), I(3))
error("std_int", lambda T, i: i.std(), I(3))
error("norm_int", lambda T, i: i.norm(), I(3))
error("softmax_int", lambda T, i: i.softmax(0), I(3))
error("max_empty", lambda T, x: x.max(), K(0))

# indexing
error("getitem_out_of_range", lambda T, x: x[3], K(3, 2))
error("getitem_neg_out_of_range", lambda T, x: x[:, -3], K(3, 2))
error("getitem_too_many", lambda T, x: x[0, 0, 0], K(3, 2))
error("getitem_float_index", lambda T, x, i: x[i], K(3, 2), K(2))
error("getitem_tensor_out_of_range", lambda T, x: x[[0, 5]], K(3, 2))
error("getitem_mask_shape", lambda T, x, m: x[m], K(3, 2), B(4))
error("gather_dims", lambda T, x, i: x.gather(1, i), K(3, 4), I(3, hi=4))
error("setitem_shape", lambda T, x, v: x.__setitem__(slice(0, 2), v), K(3, 4), K(3))

# losses
error("mse_loss_shape", lambda T, x, y: nnf(T).mse_loss(x, y), K(3), K(4))
error("bce_shape", lambda T, x, y: nnf(T).binary_cross_entropy(x, y), K(3, lo=0.1, hi=0.9),
      K(4, lo=0, hi=1))
error("nll_loss_target_dtype", lambda T, x, t: nnf(T).nll_loss(x, t), K(3, 4), K(3))
error("nll_loss_batch", lambda T, x, t: nnf(T).nll_loss(x, t), K(3, 4), I(2, hi=4))
error("nll_loss_target_range", lambda T, x, t: nnf(T).nll_loss(x, t + 4), K(3, 4), I(3, hi=4))
# a float target not of the input's shape is class indices: its shape is checked first
error("cross_entropy_float_target_2d", lambda T, x, t: nnf(T).cross_entropy(x, t), K(3, 4),
      K(3, 2))
error("cross_entropy_float_target_batch", lambda T, x, t: nnf(T).cross_entropy(x, t), K(3, 4),
      K(2), prefix=200)
error("cross_entropy_float_target_spatial", lambda T, x, t: nnf(T).cross_entropy(
    x, t, label_smoothing=0.1), K(2, 4, 3), K(2, 2))

# creation
error("arange_zero_step", lambda T: T.arange(0, 5, 0))
error("arange_wrong_sign", lambda T: T.arange(0, 5, -1))
error("linspace_negative_steps", lambda T: T.linspace(0, 1, -1))
error("full_negative_size", lambda T: T.full((2, -1), 1.0))
error("ones_negative_size", lambda T: T.ones(2, -1))
error("eye_negative_m", lambda T: T.eye(2, -1))
error("eye_negative", lambda T: T.eye(-1))

# more shape and dtype rules
error("unbind_0d", lambda T, x: x.unbind(), K())
error("index_select_2d_index", lambda T, x, i: x.index_select(0, i), K(3, 4), I(2, 2))
error("index_select_float_index", lambda T, x, i: x.index_select(0, i), K(3, 4), K(2))
error("masked_fill_int_mask", lambda T, x, i: x.masked_fill(i, 1.0), K(3), I(3))
error("bitwise_not_float", lambda T, x: ~x, K(3))
error("bitwise_and_float", lambda T, x: T.bitwise_and(x, 1), K(3))
error("left_shift_float", lambda T, x: x << 1, K(3))
error("einsum_sublist_range", lambda T, x: T.einsum(x, [0, 52]), K(3, 3))
error("einsum_one_argument", lambda T, x: T.einsum(x), K(3, 3))
error("gather_out_of_range", lambda T, x, i: x.gather(1, i + 4), K(3, 4), I(3, 2, hi=4))
error("expand_negative_lead", lambda T, x: x.expand(-1, 3), K(3))
error("squeeze_0d_dim", lambda T, x: x.squeeze(1), K())
error("split_zero", lambda T, x: x.split(0), K(3))
error("cat_0d", lambda T, x: T.cat([x, x]), K())
error("where_scalar_scalar_shape", lambda T, c, x: T.where(c, x, x[:2]), B(3), K(3))
error("reshape_empty_ambiguous", lambda T, x: x.reshape(0, -1), K(0))
error("getitem_0d", lambda T, x: x[0], K())


# =============================================================================================
# more torch functions: unary, cumsum/prod, sort/topk, flips, triangles and diagonals, lerp and
# friends, einsum and other composites, random fills
# =============================================================================================

for _name, _arg in (("log2", P(3, 4)), ("log10", P(3, 4)), ("expm1", F(3, 4)), ("erf", F(3, 4)),
                    ("tan", F(3, 4, lo=-1.2, hi=1.2)), ("sinh", F(3, 4)), ("cosh", F(3, 4)),
                    ("asin", F(3, 4, lo=-0.9, hi=0.9)), ("acos", F(3, 4, lo=-0.9, hi=0.9)),
                    ("atan", F(3, 4)), ("ceil", F(3, 4)), ("trunc", F(3, 4))):
    case(_name, (lambda n: lambda T, x: getattr(T, n)(x))(_name), _arg,
         covers=(_name, "sigmoid_backward") if _name == "sigmoid" else _name)
    case(_name + "_method", (lambda n: lambda T, x: getattr(x, n)())(_name), _arg, covers=_name)
for _name in ("log2", "log10", "expm1", "erf", "tan", "sinh", "cosh", "atan"):
    case(_name + "_int", (lambda n: lambda T, i: getattr(T, n)(i))(_name), I(2, 3, lo=1, hi=3),
         covers=_name)
for _name in ("ceil", "trunc"):
    case(_name + "_int", (lambda n: lambda T, i: getattr(T, n)(i))(_name), I(2, 3, lo=-3, hi=3),
         covers=_name)
case("arcsin_alias", lambda T, x: T.arcsin(x), F(4, lo=-0.9, hi=0.9), covers="asin")
case("arctan_alias", lambda T, x: x.arctan(), F(4), covers="atan")
case("fix_alias", lambda T, x: T.fix(x), F(4), covers="trunc")
case("erf_0d", lambda T, x: x.erf(), F(), covers="erf")
case("isinf", lambda T, x: T.isinf(x.log()), K(3, 4), covers=("isinf", "log"))
case("isinf_method_int", lambda T, i: i.isinf(), I(4), covers="isinf")
case("isfinite", lambda T, x: T.isfinite(1 / x), K(3, 4, ties=True), covers=("isfinite",
                                                                               "reciprocal", "mul"))
case("isfinite_method", lambda T, x: x.isfinite(), F(5), covers="isfinite")

case("inplace_log_", _inplace("log_"), P(3, 4), covers=("clone", "log"))
case("inplace_sin_", _inplace("sin_"), F(3, 4), covers="sin")
case("inplace_cos_", _inplace("cos_"), F(3, 4), covers="cos")
case("inplace_masked_fill_", _inplace("masked_fill_", 0.5), F(3, 4), B(4), covers="masked_fill")
case("inplace_masked_fill_kw", _inplace("masked_fill_", value=0.25), F(3, 4), B(3, 4),
     covers="masked_fill")

# cumsum, prod
case("cumsum", lambda T, x: T.cumsum(x, 1), F(3, 4), covers=("cumsum", "flip"))
case("cumsum_method_neg", lambda T, x: x.cumsum(-3), F(2, 3, 4), covers="cumsum")
case("cumsum_dim_kw", lambda T, x: x.cumsum(dim=0), F(5), covers="cumsum")
case("cumsum_0d", lambda T, x: x.cumsum(0), F(), covers="cumsum")
case("cumsum_int", lambda T, i: i.cumsum(0), I(3, 4, hi=5), covers="cumsum")
case("cumsum_bool", lambda T, b: T.cumsum(b, 1), B(3, 4), covers="cumsum")
case("cumsum_dtype", lambda T, x: x.cumsum(1, dtype=T.float64), F(3, 4),
     covers=("cumsum", "to_dtype"), f64=False)

case("prod", lambda T, x: x.prod(), F(3, 4, lo=0.5, hi=1.5), covers="prod")
case("prod_fn", lambda T, x: T.prod(x), F(2, 3), covers="prod")
case("prod_0d", lambda T, x: x.prod(), F(), covers="prod")
case("prod_one_zero", lambda T, x: x.prod(), F(2, 3, ties=True),
     covers=("prod", "sum", "eq", "cat", "cumprod", "flip"))
case("prod_zeros", lambda T, x: (x * 0).prod(), F(2, 2), covers=("prod", "mul"))
case("prod_int", lambda T, i: i.prod(), I(3, lo=1, hi=4), covers="prod")
case("prod_bool", lambda T, b: b.prod(), B(4), covers="prod")
case("prod_dim", lambda T, x: x.prod(1), F(3, 4), covers="prod_dim")
case("prod_dim_keepdim", lambda T, x: T.prod(x, -1, keepdim=True), F(2, 3, 4), covers="prod_dim")
case("prod_dim_zeros", lambda T, x: x.prod(0), F(4, 3, ties=True),
     covers=("prod_dim", "cat", "cumprod", "flip"))
case("prod_dim_0d", lambda T, x: x.prod(0), F(), covers="prod_dim")
case("prod_dim_int", lambda T, i: i.prod(1, True), I(3, 4, lo=1, hi=4), covers="prod_dim")
case("prod_dtype", lambda T, x: x.prod(1, dtype=T.float64), F(3, 4),
     covers=("prod_dim", "to_dtype"), f64=False)

# all, any, count_nonzero
case("all", lambda T, b: T.all(b), B(3, 4), covers="all")
case("all_dim", lambda T, b: b.all(1), B(3, 4), covers="all")
case("all_dim_keepdim_float", lambda T, x: T.all(x, 0, keepdim=True), K(3, 4, ties=True),
     covers="all")
case("all_ones", lambda T, x: (x > -5).all(), F(3), covers=("all", "gt"))
case("any", lambda T, b: b.any(), B(3, 4), covers="any")
case("any_dim", lambda T, i: T.any(i, -1), I(3, 4, hi=2), covers="any")
case("any_dims", lambda T, b: b.any(dim=(0, 2)), B(2, 3, 4), covers="any")
case("count_nonzero", lambda T, x: T.count_nonzero(x), K(3, 4, ties=True), covers="count_nonzero")
case("count_nonzero_dim", lambda T, i: i.count_nonzero(0), I(3, 4), covers="count_nonzero")
case("count_nonzero_dims", lambda T, b: T.count_nonzero(b, dim=(0, 1)), B(2, 3, 4),
     covers="count_nonzero")

# var_mean, std_mean
case("var_mean", lambda T, x: T.var_mean(x), F(3, 4), covers="var_mean")
case("var_mean_dim", lambda T, x: T.var_mean(x, 1), F(3, 4), covers="var_mean")
case("var_mean_keepdim_correction", lambda T, x: T.var_mean(x, (0, 2), keepdim=True,
                                                             correction=0),
     F(2, 3, 4), covers="var_mean")
case("var_mean_only_mean", lambda T, x: T.var_mean(x, 0)[1], F(3, 4), covers="var_mean")
case("var_mean_only_var", lambda T, x: T.var_mean(x, -1, unbiased=False)[0], F(3, 4),
     covers="var_mean")


def _with_infinities(x):
    """x (3, 4) with infinities: alone at a row's end, alone before it, two in a row."""
    x = x.clone()
    x[0, 3], x[1, 0] = INF, -INF
    x[2, 1:3] = INF
    return x


# (torch's kernel updates the mean element by element: an inf read before the last is nan)
case("var_mean_infinities", lambda T, x: T.var_mean(_with_infinities(x), 1), K(3, 4),
     covers="var_mean")
case("std_mean_infinities", lambda T, x: T.std_mean(_with_infinities(x), 0), K(3, 4),
     covers="std_mean")
case("std_mean", lambda T, x: T.std_mean(x), F(3, 4), covers="std_mean")
case("std_mean_dim_keepdim", lambda T, x: T.std_mean(x, -1, keepdim=True), F(2, 3, 4),
     covers="std_mean")
case("std_mean_only_std", lambda T, x: T.std_mean(x, 0)[0], F(3, 4), covers="std_mean")

# sort, topk
case("sort", lambda T, x: T.sort(x), F(3, 4), covers=("sort", "scatter_dim"))
case("sort_dim0_desc", lambda T, x: x.sort(0, descending=True), F(3, 4),
     covers=("sort", "scatter_dim"))
case("sort_values", lambda T, x: x.sort(dim=-2).values, F(2, 3, 4), covers="sort")
case("sort_0d", lambda T, x: x.sort(), F(), covers="sort")
case("sort_int_desc", lambda T, i: T.sort(i, descending=True, stable=True), I(3, 5, hi=4),
     covers="sort")
case("sort_stable_ties", lambda T, x: T.sort(x, stable=True), K(3, 6, ties=True), covers="sort")
case("sort_stable_ties_desc", lambda T, x: x.sort(dim=1, descending=True, stable=True),
     K(3, 6, ties=True),
     covers="sort")
case("argsort", lambda T, x: T.argsort(x, 1, descending=True), F(3, 4), covers="sort")
case("sort_positional", lambda T, x: T.sort(x, 0, True), F(3, 4), covers="sort")
case("sort_stable_none", lambda T, x: x.sort(stable=None, dim=0), F(3, 4), covers="sort")
case("argsort_stable_out", lambda T, x: T.argsort(x, stable=True, dim=0, out=T.empty(
    0, dtype=T.int64)), K(3, 4, ties=True), covers="sort")
case("argsort_stable_method", lambda T, x: x.argsort(stable=True, descending=True),
     K(3, 4, ties=True), covers="sort")
case("topk", lambda T, x: T.topk(x, 2), F(3, 4), covers=("topk", "scatter_dim"))
case("topk_dim0_smallest", lambda T, x: x.topk(2, 0, largest=False), F(3, 4),
     covers=("topk", "scatter_dim"))
case("topk_values", lambda T, x: x.topk(3, dim=1).values, F(2, 5, 3), covers="topk")
case("topk_k0", lambda T, x: x.topk(0), F(3, 4), covers="topk")
case("topk_0d", lambda T, x: x.topk(1), F(), covers="topk")
case("topk_int", lambda T, i: i.topk(2), I(6, hi=100), covers="topk")

# flip, roll, repeat, tile
case("flip", lambda T, x: T.flip(x, (0,)), F(3, 4), covers="flip")
case("flip_method_dims", lambda T, x: x.flip(0, -1), F(2, 3, 4), covers="flip")
case("flip_empty_dims", lambda T, x: x.flip([]), F(3, 4), covers="flip")
case("flip_int", lambda T, i: i.flip(1), I(2, 3), covers="flip")
case("fliplr", lambda T, x: T.fliplr(x), F(3, 4), covers="flip")
case("flipud", lambda T, x: x.flipud(), F(3, 4), covers="flip")
case("roll", lambda T, x: T.roll(x, 1, 0), F(3, 4), covers="roll")
case("roll_flat", lambda T, x: x.roll(5), F(3, 4), covers="roll")
case("roll_dims", lambda T, x: x.roll((1, -2), (1, 2)), F(2, 3, 4), covers="roll")
case("roll_bool", lambda T, b: b.roll(-1, dims=0), B(4, 2), covers="roll")
case("repeat", lambda T, x: x.repeat(2, 3), F(3, 4), covers="repeat")
case("repeat_lead", lambda T, x: x.repeat(2, 1, 3), F(3, 4), covers="repeat")
case("repeat_tuple", lambda T, x: x.repeat((1, 2)), F(4), covers="repeat")
case("repeat_zero", lambda T, x: x.repeat(0, 2), F(3, 4), covers="repeat")
case("repeat_0d", lambda T, x: x.repeat(3), F(), covers="repeat")
case("repeat_int", lambda T, i: i.repeat(2, 2), I(2, 3), covers="repeat")
case("tile", lambda T, x: T.tile(x, (2,)), F(3, 4), covers="repeat")
case("tile_lead", lambda T, x: x.tile(2, 1, 1), F(3, 4), covers="repeat")

# triangles, diagonals, trace
case("tril", lambda T, x: T.tril(x), F(4, 4), covers="tril")
case("tril_offset", lambda T, x: x.tril(-1), F(3, 5), covers="tril")
case("tril_batched", lambda T, x: x.tril(diagonal=1), F(2, 3, 4), covers="tril")
case("triu", lambda T, x: x.triu(), F(4, 3), covers="triu")
case("triu_offset", lambda T, x: T.triu(x, 2), F(2, 4, 4), covers="triu")
case("triu_bool", lambda T, b: b.triu(), B(3, 3), covers="triu")
case("diagonal", lambda T, x: T.diagonal(x), F(3, 4), covers=("diagonal", "diagonal_backward"))
case("diagonal_offset", lambda T, x: x.diagonal(1), F(3, 4),
     covers=("diagonal", "diagonal_backward"))
case("diagonal_neg_offset", lambda T, x: x.diagonal(-1), F(4, 3), covers="diagonal")
case("diagonal_dims", lambda T, x: x.diagonal(0, 0, 2), F(3, 2, 4), covers="diagonal")
case("diagonal_dims_neg", lambda T, x: T.diagonal(x, offset=1, dim1=-1, dim2=0), F(3, 2, 4),
     covers="diagonal")
case("diagonal_empty", lambda T, x: x.diagonal(5), F(3, 4), covers="diagonal")
case("diagonal_int", lambda T, i: i.diagonal(), I(3, 3), covers="diagonal")
case("diag_matrix", lambda T, x: T.diag(x), F(3, 4),
     covers=("diagonal_copy", "diagonal_backward", "diagonal"))
case("diag_matrix_offset", lambda T, x: x.diag(-1), F(4, 3), covers="diagonal_copy")
case("diag_vector", lambda T, v: T.diag(v), F(3), covers=("diag_embed", "diagonal"))
case("diag_vector_offset", lambda T, v: v.diag(2), F(3), covers="diag_embed")
case("diag_vector_neg_offset", lambda T, v: T.diag(v, -1), F(2), covers="diag_embed")
case("diag_embed", lambda T, x: T.diag_embed(x), F(2, 3), covers="diag_embed")
case("diag_embed_dims", lambda T, x: x.diag_embed(1, 0, 2), F(2, 3), covers="diag_embed")
case("trace", lambda T, x: T.trace(x), F(3, 3), covers=("trace", "expand", "diagonal_backward"))
case("trace_rect", lambda T, x: x.trace(), F(3, 5), covers="trace")
case("trace_int", lambda T, i: i.trace(), I(3, 3), covers="trace")

# lerp, addcmul, addcdiv, cross
case("lerp", lambda T, a, b: T.lerp(a, b, 0.3), F(3, 4), F(3, 4), covers="lerp")
case("lerp_high_weight", lambda T, a, b: a.lerp(b, 0.8), F(3, 4), F(4), covers="lerp")
case("lerp_tensor", lambda T, a, b, w: T.lerp(a, b, w), F(3, 4), F(4), F(3, 1, lo=0, hi=1),
     covers="lerp")
case("lerp_tensor_0d", lambda T, a, b, w: a.lerp(b, w), F(3), F(3), F(), covers="lerp")
case("addcmul", lambda T, x, a, b: T.addcmul(x, a, b), F(3, 4), F(3, 4), F(4), covers="addcmul")
case("addcmul_value", lambda T, x, a, b: x.addcmul(a, b, value=-0.5), F(4), F(3, 1), F(3, 4),
     covers="addcmul")
case("addcdiv", lambda T, x, a, b: T.addcdiv(x, a, b), F(3, 4), F(3, 4), P(4), covers="addcdiv")
case("addcdiv_value", lambda T, x, a, b: x.addcdiv(a, b, value=2), F(3, 4), F(4), P(3, 1),
     covers="addcdiv")
case("cross", lambda T, a, b: T.cross(a, b, dim=1), F(4, 3), F(4, 3), covers="cross")
case("cross_bcast", lambda T, a, b: a.cross(b, dim=-1), F(1, 3), F(2, 3), covers="cross")
case("cross_dim0", lambda T, a, b: T.cross(a, b, 0), F(3, 2), F(3, 2), covers="cross")

# composites: einsum, tensordot, inner, broadcast_tensors, meshgrid
case("einsum_mm", lambda T, a, b: T.einsum("ij,jk->ik", a, b), F(3, 4), F(4, 5),
     covers=("reshape", "bmm"))
case("einsum_mm_transposed_out", lambda T, a, b: T.einsum("ij,jk->ki", a, b), F(3, 4), F(4, 2),
     covers=("reshape", "bmm", "permute"))
case("einsum_bmm", lambda T, a, b: T.einsum("bij,bjk->bik", a, b), F(2, 3, 4), F(2, 4, 5),
     covers=("reshape", "bmm"))
case("einsum_attention", lambda T, q, k: T.einsum("bhqd,bhkd->bhqk", q, k), F(2, 2, 3, 4),
     F(2, 2, 5, 4), covers=("reshape", "bmm", "permute"))
case("einsum_ellipsis", lambda T, a, b: T.einsum("...ij,...jk->...ik", a, b), F(2, 3, 4),
     F(2, 4, 2), covers=("reshape", "bmm"))
case("einsum_rowdot", lambda T, a, b: T.einsum("ij,ij->i", a, b), F(3, 4), F(3, 4),
     covers=("reshape", "bmm"))
case("einsum_outer", lambda T, a, b: T.einsum("i,j->ij", a, b), F(3), F(4),
     covers=("reshape", "mul"))
case("einsum_hadamard", lambda T, a, b: T.einsum("ij,ij->ij", a, b), F(3, 4), F(3, 4),
     covers="mul")
case("einsum_dot_implicit", lambda T, a, b: T.einsum("ij,ij", a, b), F(3, 4), F(3, 4),
     covers=("reshape", "bmm"))
case("einsum_mv", lambda T, a, v: T.einsum("ij,j->i", [a, v]), F(3, 4), F(4),
     covers=("reshape", "bmm"))
case("einsum_sum", lambda T, x: T.einsum("ij->j", x), F(3, 4), covers="sum")
case("einsum_transpose", lambda T, x: T.einsum("ij->ji", x), F(3, 4), covers="permute")
case("einsum_identity", lambda T, x: T.einsum("ij", x), F(3, 4), covers="permute")
case("einsum_diag", lambda T, x: T.einsum("ii->i", x), F(3, 3), covers=("diagonal", "permute"))
case("einsum_trace", lambda T, x: T.einsum("ii", x), F(3, 3), covers=("diagonal", "sum"))
case("einsum_chain3", lambda T, a, b, c: T.einsum("ij,jk,kl->il", a, b, c), F(2, 3), F(3, 4),
     F(4, 2), covers=("reshape", "bmm"))
case("einsum_bcast_vec", lambda T, a, b: T.einsum("bij,jk->bik", a, b), F(2, 3, 4), F(4, 2),
     covers=("reshape", "bmm"))
# the sublist form: dims 0-25 are A-Z, 26-51 a-z, Ellipsis '...'; the output's list last
case("einsum_sublist", lambda T, a, b: T.einsum(a, [0, 1], b, [1, 2], [0, 2]), F(3, 4), F(4, 5),
     covers=("reshape", "bmm"))
case("einsum_sublist_implicit", lambda T, a, b: T.einsum(a, [30, 1], b, [1, 51]), F(3, 4),
     F(4, 2), covers=("reshape", "bmm"))
case("einsum_sublist_ellipsis",
     lambda T, a, b: T.einsum(a, [..., 0], b, [0, 1], [..., 1]), F(2, 3, 4), F(4, 2),
     covers=("reshape", "bmm"))
case("einsum_sublist_trace", lambda T, a: T.einsum(a, [3, 3]), F(3, 3), covers=("diagonal", "sum"))
case("tensordot", lambda T, a, b: T.tensordot(a, b, dims=([1], [0])), F(3, 4), F(4, 5),
     covers=("permute", "reshape", "mm"))
case("tensordot_int_dims", lambda T, a, b: T.tensordot(a, b, 2), F(2, 3, 4), F(3, 4, 2),
     covers=("permute", "reshape", "mm"))
case("tensordot_pairs", lambda T, a, b: T.tensordot(a, b, dims=([0, 2], [2, 0])), F(2, 3, 4),
     F(4, 5, 2), covers=("permute", "reshape", "mm"))
case("inner", lambda T, a, b: T.inner(a, b), F(4), F(4), covers=("reshape", "mm"))
case("inner_2d", lambda T, a, b: a.inner(b), F(3, 4), F(2, 4), covers=("reshape", "mm"))
case("inner_0d", lambda T, a, b: T.inner(a, b), F(), F(3), covers="mul")
case("broadcast_tensors", lambda T, a, b: T.broadcast_tensors(a, b), F(3, 4), F(4),
     covers="expand")
case("broadcast_tensors_3", lambda T, a, b, c: T.broadcast_tensors(a, b, c), F(3, 1), F(1, 4),
     F(), covers="expand")
case("meshgrid_ij", lambda T, a, b: T.meshgrid(a, b, indexing="ij"), F(3), F(4),
     covers=("reshape", "expand"))
case("meshgrid_xy", lambda T, a, b, c: T.meshgrid([a, b, c], indexing="xy"), F(3), F(4), F(2),
     covers=("reshape", "expand"))
case("meshgrid_0d", lambda T, a, b: T.meshgrid(a, b, indexing="ij"), F(), F(2),
     covers=("reshape", "expand"))
case("unique", lambda T, i: T.unique(i), I(10, hi=5), covers=())
case("unique_all", lambda T, i: i.unique(return_inverse=True, return_counts=True), I(3, 4, hi=4),
     covers=())
case("unique_float", lambda T, x: T.unique(x, return_counts=True), K(3, 4, ties=True),
     covers="without_derivative")
case("unique_dim", lambda T, i: T.unique(i, dim=0, return_inverse=True), I(5, 2, hi=2), covers=())
# (with an input that requires grad, torch's node without a derivative: test_added_surface.py)
case("unique_dim_float", lambda T, x: T.unique(x, dim=1), K(2, 3, ties=True),
     covers="without_derivative")
case("unique_consecutive_float", lambda T, x: x.unique_consecutive(), K(6, ties=True),
     covers="without_derivative")

# random fills: a zero spread makes the values known, so torch's side can be compared
case("normal_", lambda T, x: (x * 1).normal_(1.5, 0.0), F(3, 4), covers=("mul", "random_fill"))
case("uniform_", lambda T, x: (x * 1).uniform_(0.5, 0.5), F(3, 4),
     covers=("mul", "random_fill"))
case("random_", lambda T, x: (x * 1).random_(2, 3), F(3, 4), covers=("mul", "random_fill"))
case("random_to_int", lambda T, i: i.clone().random_(1), I(3), covers=("clone", "random_fill"))

# errors of the functions above
error("tril_1d", lambda T, x: x.tril(), K(3))
error("triu_0d", lambda T, x: T.triu(x), K())
error("diag_3d", lambda T, x: T.diag(x), K(2, 3, 4))
error("diagonal_same_dims", lambda T, x: x.diagonal(0, 1, 1), K(3, 4))
error("diagonal_1d", lambda T, x: x.diagonal(), K(3))
error("trace_3d", lambda T, x: x.trace(), K(2, 3, 4))
error("trace_1d", lambda T, x: T.trace(x), K(3))
error("topk_k", lambda T, x: x.topk(5), K(3, 4))
error("topk_dim", lambda T, x: x.topk(1, 2), K(3, 4))
error("sort_dim", lambda T, x: x.sort(2), K(3, 4))
# torch's two overloads of sort and argsort: (dim, descending) by position, or `stable` with
# everything else by keyword; its parser's TypeError when a call matches neither
error("sort_dim_then_stable", lambda T, x: x.sort(0, stable=True), K(3, 4), prefix=1000)
error("sort_function_dim_then_stable", lambda T, x: T.sort(x, 0, stable=True), K(3, 4),
      prefix=1000)
error("sort_positional_and_stable", lambda T, x: x.sort(0, True, stable=True), K(3, 4),
      prefix=1000)
error("sort_three_positional", lambda T, x: T.sort(x, 0, True, True), K(3, 4), prefix=1000)
error("sort_bool_dim", lambda T, x: x.sort(True), K(3, 4), prefix=1000)
error("sort_int_descending", lambda T, x: x.sort(0, 1), K(3, 4), prefix=1000)
error("sort_stable_none_after_dim", lambda T, x: x.sort(0, stable=None), K(3, 4), prefix=1000)
error("sort_unknown_keyword", lambda T, x: x.sort(dim=0, descending=True, foo=1), K(3, 4),
      prefix=1000)
error("sort_dim_twice", lambda T, x: x.sort(0, True, dim=1), K(3, 4), prefix=1000)
error("argsort_dim_then_stable", lambda T, x: T.argsort(x, 0, stable=True), K(3, 4),
      prefix=1000)
error("argsort_method_three_positional", lambda T, x: x.argsort(0, True, True), K(3, 4),
      prefix=1000)
error("argsort_int_descending", lambda T, x: T.argsort(x, 0, 1), K(3, 4), prefix=1000)
error("argsort_descending_not_bool", lambda T, x: T.argsort(
    x, stable=True, dim=0, descending=1, out=None), K(3, 4), prefix=1000)
error("argsort_out_by_position", lambda T, x: T.argsort(x, 0, out=T.empty(0, dtype=T.int64)),
      K(3, 4), prefix=1000)
error("cumsum_dim", lambda T, x: x.cumsum(2), K(3, 4))
error("prod_dim_range", lambda T, x: x.prod(2), K(3, 4))
error("flip_dim", lambda T, x: x.flip(2), K(3, 4))
error("flip_repeated", lambda T, x: x.flip(0, 0), K(3, 4))
error("roll_align", lambda T, x: x.roll((1, 2), 0), K(3, 4))
error("roll_no_dims", lambda T, x: x.roll((1, 2)), K(3, 4))
error("roll_dim", lambda T, x: x.roll(1, 2), K(3, 4))
error("repeat_fewer", lambda T, x: x.repeat(2), K(3, 4))
error("repeat_negative", lambda T, x: x.repeat(-1, 2), K(3, 4))
error("lerp_dtype", lambda T, a, b: T.lerp(a, b.double(), 0.5), K(3), K(3))
error("lerp_weight_dtype", lambda T, a, b, w: T.lerp(a, b, w.double()), K(3), K(3), K(3))
error("lerp_shape", lambda T, a, b: T.lerp(a, b, 0.5), K(3, 4), K(3))
error("lerp_int", lambda T, a, b: T.lerp(a, b, 0.5), I(3), I(3))
error("addcmul_shape", lambda T, x, a, b: T.addcmul(x, a, b), K(3, 4), K(3, 4), K(3))
error("cross_len", lambda T, a, b: T.cross(a, b, dim=1), K(3, 4), K(3, 4))
error("cross_ndim", lambda T, a, b: T.cross(a, b, dim=-1), K(3), K(2, 3))
error("var_mean_int", lambda T, i: T.var_mean(i), I(3))
error("std_mean_int", lambda T, i: T.std_mean(i), I(3))
error("ceil_bool", lambda T, b: T.ceil(b), B(3))
error("trunc_bool", lambda T, b: b.trunc(), B(3))
error("einsum_size", lambda T, a, b: T.einsum("ij,jk->ik", a, b), K(3, 4), K(3, 4))
error("einsum_fewer_operands", lambda T, a: T.einsum("ij,jk->ik", a), K(3, 4))
error("einsum_more_operands", lambda T, a: T.einsum("ij->ij", a, a), K(3, 4))
error("einsum_subscripts", lambda T, a: T.einsum("ijk->i", a), K(3, 4))
error("einsum_output_letter", lambda T, a: T.einsum("ij->k", a), K(3, 4))
error("einsum_output_twice", lambda T, a: T.einsum("ij->ii", a), K(3, 4))
error("einsum_repeated_sizes", lambda T, a: T.einsum("ii->i", a), K(2, 3))
error("einsum_ellipsis_sizes", lambda T, a, b: T.einsum("...i,...i", a, b), K(2, 3), K(3, 3))
error("tensordot_sizes", lambda T, a, b: T.tensordot(a, b, dims=1), K(3, 4), K(3, 4))
error("tensordot_lists", lambda T, a, b: T.tensordot(a, b, dims=([0], [0, 1])), K(3, 4), K(3, 4))
error("tensordot_negative", lambda T, a, b: T.tensordot(a, b, dims=-1), K(3, 4), K(3, 4))
error("inner_shape", lambda T, a, b: T.inner(a, b), K(3, 4), K(3))
error("broadcast_tensors_shape", lambda T, a, b: T.broadcast_tensors(a, b), K(3, 4), K(3))
error("meshgrid_2d", lambda T, a, b: T.meshgrid(a, b, indexing="ij"), K(2, 2), K(3), prefix=60)
error("meshgrid_indexing", lambda T, a: T.meshgrid(a, a, indexing="foo"), K(3))
error("normal_negative_std", lambda T, x: x.normal_(0, -1), K(3))
error("uniform_range", lambda T, x: x.uniform_(1, 0), K(3))
error("random_range", lambda T, x: x.random_(3, 2), K(3))
error("normal_leaf", lambda T, x: x.normal_(), F(3))

import layer_cases  # noqa: E402,F401  (the layer ops' cases: embedding, norms, attention, conv)
import tensor_op_cases  # noqa: E402,F401  (writes at indices: scatter, index_add, masked_scatter)
import math_op_cases  # noqa: E402,F401  (atan2, fmod, lgamma, ..., nansum, cumprod)
import shape_op_cases  # noqa: E402,F401  (in-place shape ops, take/put, scatter_reduce, *_scatter, samples)
import more_math_op_cases  # noqa: E402,F401  (fmax ... copysign, median ... bucketize, cdist ... addbmm)
import linalg_op_cases  # noqa: E402,F401  (det, inv, solve, cholesky, qr, svd, eigh, pinv, ...)
import more_nn_op_cases  # noqa: E402,F401  (conv_transpose, resample (interpolate, pads), im2col)
import special_op_cases  # noqa: E402,F401  (torch.special: erfcx, zeta, gammainc, bessel_j0, ...)
import quant_op_cases  # noqa: E402,F401  (fake_quantize_per_tensor_affine, per_channel)
