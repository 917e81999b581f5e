"""dtypes against torch: the names torch prints for each dtype, and the dtype (and value)
of results when bool, int64 and float tensors and Python numbers meet in one op."""
from __future__ import annotations

import pytest

import distgrad
from distgrad import dtypes
from torch_twin import attempt, graph, same

DTYPES = ("bool", "int64", "float32", "float64")


# ---- the names on the dtype objects ------------------------------------------------------------

@pytest.mark.parametrize("name", DTYPES)
def test_type_name_is_torchs(name):
    same(lambda t: t.tensor([1], dtype=getattr(t, name)).type())


@pytest.mark.parametrize("name", ("int64", "float32", "float64"))
def test_names_in_mask_messages_are_torchs(name):
    """where prints the long name ('Float'), masked_fill the C name ('float')."""
    def scenario(t):
        mask = t.tensor([1, 0], dtype=getattr(t, name))
        return (attempt(t.where, mask, t.ones(2), t.zeros(2)),
                attempt(lambda: t.ones(2).masked_fill(mask, 1.0)))

    same(scenario)


def test_random_bound_is_the_largest_exact_integer():
    # int64's is 2**63: torch draws random64() % 2**63 (the largest int64 plus one)
    assert [dtypes.from_name(n).random_to for n in DTYPES] == [2, 2 ** 63, 2 ** 24 + 1,
                                                               2 ** 53 + 1]
    assert distgrad.float32.c_name == "float" and distgrad.int64.long_name == "Long"


# ---- float ops on bool and integer tensors compute in float32 ------------------------------------

UNARY_FLOAT = ("exp", "log", "sqrt", "rsqrt", "reciprocal", "log1p", "log2", "log10", "expm1",
               "sin", "cos", "tan", "tanh", "sigmoid", "erf", "sinh", "cosh", "asin", "acos",
               "atan")
UNARY_OTHER = {
    "mean": lambda x: x.mean(), "softmax": lambda x: x.softmax(0),
    "log_softmax": lambda x: x.log_softmax(0), "logsumexp": lambda x: x.logsumexp(0),
    "div_int": lambda x: x / 3, "mul_float": lambda x: x * 0.1, "add_float": lambda x: x + 0.5,
    "pow_float": lambda x: x ** 0.5, "sign": lambda x: x.sign(), "floor": lambda x: x.floor(),
    "round": lambda x: x.round(), "relu": lambda x: x.relu(), "abs": lambda x: x.abs(),
}
# 2**24 + 1 is the first int64 that float32 rounds: torch converts, then computes.
UNARY_INPUTS = {"bool": [True, False], "int64": [0, 1, 3, -2, 7, 2 ** 24 + 1, 2 ** 25 + 1]}


@pytest.mark.parametrize("kind", UNARY_INPUTS)
@pytest.mark.parametrize("name", UNARY_FLOAT + tuple(UNARY_OTHER))
def test_unary_op_on_bool_and_int(name, kind):
    fn = UNARY_OTHER.get(name) or (lambda x: getattr(x, name)())
    same(lambda t: attempt(fn, t.tensor(UNARY_INPUTS[kind])))


# ---- integer division by zero raises ------------------------------------------------------------

DIVISIONS = {
    "floordiv": lambda t, a, b: a // b, "floor_divide": lambda t, a, b: t.floor_divide(a, b),
    "remainder": lambda t, a, b: a % b,
    "div_floor": lambda t, a, b: t.div(a, b, rounding_mode="floor"),
    "div_trunc": lambda t, a, b: t.div(a, b, rounding_mode="trunc"),
}


@pytest.mark.parametrize("name", DIVISIONS)
def test_integer_division_by_zero_raises(name):
    op = DIVISIONS[name]

    def scenario(t):
        a = t.tensor([7, -7, 3])
        return [attempt(op, t, a, b) for b in (t.tensor([2, 0, 1]), t.tensor(0), 0, False,
                                               t.tensor([2, 2, 1]), t.tensor([True, False, True]),
                                               t.tensor([2.0, 0.0, 1.0]))]

    same(scenario)


# ---- binary ops between bool, int64, float32, float64 tensors and Python numbers ----------------

BINARY = {
    "add": lambda t, a, b: a + b, "sub": lambda t, a, b: a - b, "mul": lambda t, a, b: a * b,
    "div": lambda t, a, b: a / b, "pow": lambda t, a, b: a ** b,
    "floordiv": lambda t, a, b: a // b, "floor_divide": lambda t, a, b: t.floor_divide(a, b),
    "div_floor": lambda t, a, b: t.div(a, b, rounding_mode="floor"),
    "div_trunc": lambda t, a, b: t.div(a, b, rounding_mode="trunc"),
    "remainder": lambda t, a, b: t.remainder(a, b), "maximum": lambda t, a, b: t.maximum(a, b),
    "minimum": lambda t, a, b: t.minimum(a, b),
    "where": lambda t, a, b: t.where(t.tensor([True, False, True]), a, b),
    "eq": lambda t, a, b: a == b, "ne": lambda t, a, b: a != b, "lt": lambda t, a, b: a < b,
    "le": lambda t, a, b: a <= b, "gt": lambda t, a, b: a > b, "ge": lambda t, a, b: a >= b,
    "bitwise_and": lambda t, a, b: t.bitwise_and(a, b),
    "bitwise_or": lambda t, a, b: t.bitwise_or(a, b),
    "bitwise_xor": lambda t, a, b: t.bitwise_xor(a, b),
    "logical_xor": lambda t, a, b: t.logical_xor(a, b),
}
# The values exercise the dtype torch computes in: 2**24 + 1 is not a float32, 0.1 not exact.
VALUES = {"bool": [True, False, True], "int64": [3, -2, 2 ** 24 + 1],
          "float32": [1.5, -2.25, 2.0 ** 24], "float64": [0.1, -3.0, 2.5]}
NUMBERS = (True, 2, -2, 0.5)


def operands(t):
    """Every tensor kind, with and without dims, and the Python numbers."""
    out = []
    for name, values in VALUES.items():
        d = getattr(t, name)
        out += [t.tensor(values, dtype=d), t.tensor(values[0], dtype=d)]
    return out + list(NUMBERS)


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_dtypes_and_values(name):
    op = BINARY[name]

    def scenario(t):
        xs = operands(t)
        return [attempt(op, t, a, b) for a in xs for b in xs
                if isinstance(a, t.Tensor) or isinstance(b, t.Tensor)]

    same(scenario)


def test_int_to_negative_int_power():
    same(lambda t: (t.tensor([2, 1, -1, -1, 0]) ** t.tensor([-1, -3, -3, -2, -1]),
                    2 ** t.tensor([-1, 2]), attempt(lambda: t.tensor([2]) ** -1),
                    attempt(lambda: t.tensor([True]) ** -1), t.tensor([True, False]) ** False))


@pytest.mark.parametrize("base_dtype", ["float16", "float32"])
def test_a_powers_exponent_gradient_takes_the_log_of_the_base_in_the_promoted_dtype(base_dtype):
    """torch's pow_backward_exponent casts the base to the dtype base and exponent promote
    to before its log: a float16 base written to a float64 power in place gives a float64
    gradient of the rounded result times a float64 log, not of a float16 log."""
    def scenario(t):
        out = []
        for in_place in (False, True):
            base = t.tensor([1.5, 2.7, 0.3], dtype=getattr(t, base_dtype))
            e = t.tensor([0.5, -1.2, 2.0], dtype=t.float64, requires_grad=True)
            r = base.clone().pow_(e) if in_place else t.pow(base, e)
            g, = t.autograd.grad(r.sum(), e, create_graph=True)
            out += [r, g, graph(g)]
        return out

    same(scenario, rtol=1e-12, atol=0)


def test_int64_meets_float32_in_float32():
    """torch converts 2**24 + 1 to float32 (2**24) before it adds, compares or divides."""
    def scenario(t):
        big = t.tensor([2 ** 24 + 1])
        sums = (big + 0.5, big * 1.0, big / 1, big - t.tensor([0.5]))
        return [(r == 2.0 ** 24).item() for r in sums] + [(big == t.tensor([2.0 ** 24])).item()]

    same(scenario)


def test_float64_scalar_tensor_is_exact():
    same(lambda t: (t.tensor(0.1, dtype=t.float64).item() == 0.1,
                    t.as_tensor(0.1, dtype=t.float64).item() == 0.1, t.tensor(0.1).item()))


# ---- a 0-dim bool index (tensor(True)) adds a dim of size 1, or of size 0 ------------------------

BOOL_KEYS = {
    "true": lambda t: t.tensor(True), "false": lambda t: t.tensor(False),
    "int_then_true": lambda t: (0, t.tensor(True)), "true_then_int": lambda t: (t.tensor(True), 1),
    "ellipsis_false": lambda t: (Ellipsis, t.tensor(False)), "python_true": lambda t: True,
    "python_false": lambda t: False, "none_true": lambda t: (None, True),
}


@pytest.mark.parametrize("name", BOOL_KEYS)
def test_bool_scalar_index_reads(name):
    def scenario(t):
        x = t.arange(6.0).reshape(2, 3).requires_grad_()
        y = x[BOOL_KEYS[name](t)]
        (y * 2).sum().backward()
        return y, x.grad, t.tensor(5.0)[BOOL_KEYS[name](t)] if name in ("true", "false") else None

    same(scenario)


@pytest.mark.parametrize("name", BOOL_KEYS)
def test_bool_scalar_index_writes(name):
    def scenario(t):
        out = []
        for value in (3.0, t.ones(3) * 2, t.ones(1, 2, 3) * 4):
            z = t.zeros(2, 3)
            out.append(attempt(z.__setitem__, BOOL_KEYS[name](t), value) or z)
        z = t.zeros(2, 3)
        out.append(attempt(z.__setitem__, BOOL_KEYS[name](t), t.ones(5)) or z)
        return out

    same(scenario, prefix=0)  # a bad value fails with torch's error type, in other words


@pytest.mark.parametrize("mask", [False, True])
def test_a_write_through_a_0_dim_mask_is_recorded_even_when_false(mask):
    # torch indexes with a 0-dim mask through a view with a dim of size 1 for it: a False
    # one writes nothing there, which still bumps the version and records CopySlices (as
    # `loss[loss > limit] = limit` does whether or not the loss is over it)
    def scenario(t):
        x = t.arange(3.0).requires_grad_()
        y = x * 2
        y[t.tensor(mask)] = t.tensor(5.0)
        z = t.zeros(2, 3)
        z[t.tensor(mask)] += 1
        y.sum().backward()
        return y, y._version, y.grad_fn.name(), x.grad, z, z._version

    same(scenario)


# torch reads a uint8 index as a mask (deprecated, with a warning), but its index_put_ writes a
# one-element value through a lone mask by masked_fill_, which takes bool masks only; a mask
# of another shape than the dims it indexes is an IndexError, bool or uint8
def _masks(t):
    x = t.arange(12.0).reshape(3, 4)
    return {"ok": (x > 5).to(t.uint8), "wrong": t.tensor([[1, 0], [0, 1]], dtype=t.uint8),
            "rows": t.tensor([1, 0, 1], dtype=t.uint8), "cols": t.tensor([1, 0, 0, 1],
                                                                        dtype=t.uint8),
            "values": t.tensor([[2, 0, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0]], dtype=t.uint8),
            "empty": t.zeros(0, dtype=t.uint8), "bool_wrong": t.tensor([True, False]),
            "deep": t.ones(3, 4, 1, dtype=t.uint8)}


UINT8_WRITES = {
    "mask, number": lambda t, m: (m["ok"], 5.0),
    "mask, one-element tensor": lambda t, m: (m["ok"], t.tensor([5.0])),
    "mask, a value per element": lambda t, m: (m["ok"], t.arange(6.0)),
    "mask, a value of the wrong size": lambda t, m: (m["ok"], t.tensor([1.0, 2.0, 3.0])),
    "mask of rows": lambda t, m: (m["rows"], 5.0),
    "mask of rows, a row": lambda t, m: (m["rows"], t.ones(4)),
    "mask of the wrong shape": lambda t, m: (m["wrong"], 5.0),
    "mask of the wrong length": lambda t, m: (m["cols"], 5.0),
    "mask of values above one": lambda t, m: (m["values"], 1.0),
    "empty mask": lambda t, m: (m["empty"], 1.0),
    "mask of too many dims": lambda t, m: (m["deep"], 1.0),
    "int, then a mask": lambda t, m: ((0, m["cols"]), 1.0),
    "ellipsis, then a mask": lambda t, m: ((Ellipsis, m["cols"]), 1.0),
    "two masks": lambda t, m: ((m["rows"], m["cols"]), 3.0),
    "bool mask of the wrong length": lambda t, m: (m["bool_wrong"], 5.0),
}


@pytest.mark.parametrize("name", UINT8_WRITES)
def test_uint8_index_writes(name):
    def scenario(t):
        x = t.arange(12.0).reshape(3, 4)
        key, value = UINT8_WRITES[name](t, _masks(t))
        return attempt(x.__setitem__, key, value) or x

    same(scenario)


def test_uint8_index_put():
    def scenario(t):
        x, m = t.arange(12.0).reshape(3, 4), _masks(t)
        return [attempt(x.clone().index_put_, (m["ok"],), t.tensor(2.0)),
                attempt(t.index_put, x, (m["ok"],), t.tensor([2.0])),
                attempt(x.index_put, (m["ok"],), t.tensor(2.0), accumulate=True),
                attempt(x.index_put, (m["ok"],), t.ones(6)),
                attempt(x.clone().index_put_, (m["wrong"],), t.tensor(1.0))]

    same(scenario)


# ---- other ops on each dtype: results, or torch's error for a dtype it has no kernel for ---------

OTHER_OPS = {
    "clamp": lambda t, x: x.clamp(0, 2), "clamp_float": lambda t, x: x.clamp(0.5, 2.5),
    "clamp_min": lambda t, x: x.clamp(min=False), "clamp_max": lambda t, x: x.clamp(max=True),
    "clamp_tensors": lambda t, x: x.clamp(x[:1], x[1:2]),
    "clamp_min_tensor": lambda t, x: x.clamp(min=x[:1]),
    "argmax": lambda t, x: x.argmax(), "argmin": lambda t, x: x.argmin(0),
    "topk": lambda t, x: x.topk(2)[0], "addcmul": lambda t, x: t.addcmul(x, x, x),
    "addcdiv": lambda t, x: t.addcdiv(x, x, x),
    "addcdiv_float": lambda t, x: t.addcdiv(x, x.double(), x),
    "dot": lambda t, x: t.dot(x, x), "matmul": lambda t, x: x @ x,
    "mm": lambda t, x: x[:2, None] @ x[None, :2], "mv": lambda t, x: t.mv(x[None, :3], x),
    "bmm": lambda t, x: t.bmm(x[None, :2, None], x[None, None, :2]),
    "masked_fill": lambda t, x: x.masked_fill(t.tensor([True, False, True]), 2),
    "where_numbers": lambda t, x: t.where(x > 0, 1, 0.5), "sum": lambda t, x: x.sum(),
    "prod": lambda t, x: x.prod(), "cumsum": lambda t, x: x.cumsum(0),
}


@pytest.mark.parametrize("kind", VALUES)
@pytest.mark.parametrize("name", OTHER_OPS)
def test_other_ops_per_dtype(name, kind):
    op = OTHER_OPS[name]
    same(lambda t: attempt(op, t, t.tensor(VALUES[kind], dtype=getattr(t, kind))))


def test_bitwise_operators_and_reflected_and_in_place_forms():
    def program(T):
        flag, ints = T.tensor(True), T.tensor([3, -2, 7])
        c = ints.clone()
        c //= 2
        d = c.clone()
        d %= 2
        d &= 1
        return (flag & ints, ints | 1, 1 ^ ints, T.tensor([True, False]) & T.tensor([True, True]),
                2 % ints, c, d, attempt(lambda: T.tensor([1.0]) & T.tensor([1.0])))

    same(program)


# ---- products, layers and losses given tensors of two dtypes: torch refuses most, in words
# ---- of its own for each kernel, and checks some before the shapes ------------------------------

def f32(t, *shape):
    return t.ones(*shape)


def f64(t, *shape):
    return t.ones(*shape, dtype=t.float64)


def ar(t, *shape):
    """1, 2, 3, ... in float32, in that shape."""
    n = 1
    for d in shape:
        n *= d
    return t.arange(1.0, n + 1).reshape(*shape)


MIXED_PRODUCTS = {
    "Linear of doubles": lambda t: t.nn.Linear(3, 2)(f64(t, 4, 3)),
    "Linear of a batch of doubles": lambda t: t.nn.Linear(3, 2)(f64(t, 5, 4, 3)),
    "Linear of a double vector": lambda t: t.nn.Linear(3, 2)(f64(t, 3)),
    "linear with a double bias": lambda t: t.nn.functional.linear(f32(t, 4, 3), f32(t, 2, 3),
                                                                   f64(t, 2)),
    "GRUCell of doubles": lambda t: t.nn.GRUCell(2, 3)(f64(t, 1, 2)),
    "addmm bias": lambda t: t.addmm(f32(t, 2, 2), f64(t, 2, 2), f64(t, 2, 2)),
    "addmm mat1": lambda t: t.addmm(f32(t, 2, 2), f64(t, 2, 2), f32(t, 2, 2)),
    "addmm before shapes": lambda t: t.addmm(f32(t, 2, 5), f32(t, 2, 3), f64(t, 4, 5)),
    "addmm of longs": lambda t: t.addmm(t.ones(2, 2, dtype=t.int64), f32(t, 2, 2), f32(t, 2, 2)),
    "addbmm bias": lambda t: t.addbmm(f32(t, 2, 2), f64(t, 3, 2, 2), f64(t, 3, 2, 2)),
    "addbmm batch1": lambda t: t.addbmm(f32(t, 2, 2), f64(t, 3, 2, 2), f32(t, 3, 2, 2)),
    "baddbmm": lambda t: t.baddbmm(f32(t, 3, 2, 2), f64(t, 3, 2, 2), f64(t, 3, 2, 2)),
    "baddbmm before shapes": lambda t: t.baddbmm(f32(t, 2, 3, 6), f64(t, 2, 3, 4),
                                                 f64(t, 2, 5, 6)),
    "addmv": lambda t: t.addmv(f64(t, 2), f32(t, 2, 2), f64(t, 2)),
    "mv": lambda t: t.mv(f64(t, 2, 2), f32(t, 2)),
    "matmul of a batch and a vector": lambda t: t.matmul(f64(t, 3, 2, 2), f32(t, 2)),
    "bmm": lambda t: t.bmm(f32(t, 3, 2, 2), f64(t, 3, 2, 2)),
    # torch's kernel: under 400 multiply-adds in mat1's dtype, over in mat2's (floats) or by
    # addmm (others); empty factors give zeros of mat2's dtype, unchecked
    "bmm of a bool and a float": lambda t: t.bmm(f32(t, 1, 2, 3).bool(), f32(t, 1, 3, 2)),
    "bmm of 400 longs and floats": lambda t: t.bmm(f32(t, 1, 10, 10).long(), f32(t, 1, 10, 10)),
    "bmm of 400 floats and ints": lambda t: t.bmm(f32(t, 1, 10, 10), f32(t, 1, 10, 10).int()),
    "bmm of 400 longs and strided floats": lambda t: t.bmm(f32(t, 1, 10, 10).long(),
                                                           f32(t, 1, 10, 20)[:, :, ::2]),
    "bmm of 400 bools": lambda t: t.bmm(f32(t, 1, 10, 10).bool(), f32(t, 1, 10, 10).bool()),
    "bmm over an empty dim": lambda t: t.bmm(f32(t, 2, 2, 0).long(), f32(t, 2, 0, 3)),
    "bmm of an empty batch": lambda t: t.bmm(f32(t, 0, 2, 2), f64(t, 0, 2, 3)),
    "bmm of no rows": lambda t: t.bmm(f32(t, 2, 0, 2).bool(), f32(t, 2, 2, 3).int()),
    "matmul of a batch and a matrix over an empty dim": lambda t: t.matmul(
        f32(t, 2, 2, 0).long(), f32(t, 0, 3)),
    "matmul of broadcast batches over an empty dim": lambda t: t.matmul(
        f32(t, 3, 2, 0).long(), f32(t, 1, 0, 3)),
    "matmul of batches": lambda t: t.matmul(f64(t, 2, 3, 2, 2), f32(t, 3, 2, 2)),
    "matmul of a vector and a batch": lambda t: t.matmul(f64(t, 2), f32(t, 3, 2, 2)),
    "einsum": lambda t: t.einsum("ij,jk->ik", f64(t, 2, 2), f32(t, 2, 2)),
    # torch's einsum: a dim summed that is 1 in every operand needs no bmm (mul promotes); a
    # dim only one operand has is summed first (sum makes ints int64); a pair's bmm is (b, a)
    # transposed when all of a's own dims come after b's in the result
    "einsum over a length-1 dim": lambda t: t.einsum("ij,jk->ik", ar(t, 2, 1).long(),
                                                     ar(t, 1, 3)),
    "einsum of doubles over a length-1 dim": lambda t: t.einsum("ij,jk->ik", ar(t, 2, 1),
                                                                ar(t, 1, 3).double()),
    "einsum of ints over a length-1 dim": lambda t: t.einsum("ij,jk->ik", ar(t, 2, 1).int(),
                                                             ar(t, 1, 3).long()),
    "einsum of bools over a length-1 dim": lambda t: t.einsum("ij,j->i", ar(t, 2, 1) > 1,
                                                              ar(t, 1)),
    "einsum of longs, floats and doubles over length-1 dims": lambda t: t.einsum(
        "ij,jk,kl->il", ar(t, 2, 1).long(), ar(t, 1, 1), ar(t, 1, 2).double()),
    "einsum of a dim summed to a scalar": lambda t: t.einsum("ij,kj->", ar(t, 2, 1).int(),
                                                             ar(t, 3, 1)),
    "einsum of ellipses over a length-1 dim": lambda t: t.einsum(
        "...j,jk->...k", ar(t, 2, 1).long(), ar(t, 1, 3)),
    "einsum of a dim one operand broadcasts": lambda t: t.einsum(
        "ij,jk->ik", ar(t, 2, 2).long(), ar(t, 1, 3)),
    "einsum of ints summing a dim first": lambda t: t.einsum("ij,jk->ik", ar(t, 2, 2).int(),
                                                             ar(t, 1, 3).int()),
    "einsum over an empty dim": lambda t: t.einsum("ij,jk->ik", ar(t, 2, 0).long(),
                                                   ar(t, 0, 3)),
    "einsum over an empty dim, floats first": lambda t: t.einsum("ij,jk->ik", ar(t, 2, 0),
                                                                 ar(t, 0, 3).long()),
    "einsum to a transposed result": lambda t: t.einsum("ij,jk->ki", ar(t, 2, 2).long(),
                                                        ar(t, 2, 2)),
    "einsum of ellipses transposed": lambda t: t.einsum("...cba,...b", ar(t, 2, 3, 1),
                                                        ar(t, 2, 1, 3).int()),
    "einsum of a bool and a float": lambda t: t.einsum("da,ca", ar(t, 3, 2).long(),
                                                       ar(t, 2, 2) > 1),
    "dot before sizes": lambda t: t.dot(f64(t, 2), f32(t, 3)),
    "vdot": lambda t: t.vdot(f64(t, 2), f32(t, 2)),
    "tensordot before sizes": lambda t: t.tensordot(f64(t, 2, 3), f32(t, 2, 2), dims=1),
    "inner": lambda t: t.inner(f64(t, 2), f32(t, 2)),
    "multi_dot": lambda t: t.linalg.multi_dot([f64(t, 2, 2), f64(t, 2, 2), f32(t, 2, 2)]),
    "multi_dot before shapes": lambda t: t.linalg.multi_dot([f64(t, 2, 2), f32(t, 3, 3),
                                                             f64(t, 3, 2)]),
    "chain_matmul": lambda t: t.chain_matmul(f64(t, 2, 2), f32(t, 2, 2)),
    "vecdot": lambda t: t.linalg.vecdot(f64(t, 2), f32(t, 3)),
    "vecdot of longs": lambda t: t.linalg.vecdot(t.ones(2, dtype=t.int64), t.ones(2, dtype=t.int64)),
    "cross": lambda t: t.linalg.cross(f64(t, 3), t.ones(3, dtype=t.int64)),
    "cdist": lambda t: t.cdist(f32(t, 2, 3), f64(t, 2, 3)),
    "cdist by a product": lambda t: t.cdist(f32(t, 30, 3), f64(t, 30, 3)),
}


@pytest.mark.parametrize("name", MIXED_PRODUCTS)
def test_products_of_two_dtypes(name):
    same(lambda t: attempt(MIXED_PRODUCTS[name], t))


INTEGER_SCALES = {
    "addmm": lambda t, m, v, b, kw: t.addmm(m, m, m, **kw),
    "addmv": lambda t, m, v, b, kw: t.addmv(b, m, v, **kw),
    "addr": lambda t, m, v, b, kw: t.addr(m, v, v, **kw),
    "baddbmm": lambda t, m, v, b, kw: t.baddbmm(m[None], m[None], m[None], **kw),
    "addbmm": lambda t, m, v, b, kw: t.addbmm(m, m[None].expand(2, 2, 2), m[None], **kw),
    "addcmul": lambda t, m, v, b, kw: t.addcmul(b, b, v, value=kw["alpha"]),
    "addmm_": lambda t, m, v, b, kw: m.clone().addmm_(m, m, **kw),
    "addcmul_": lambda t, m, v, b, kw: b.to(t.uint8).addcmul_(b.to(t.uint8), v.to(t.uint8),
                                                               value=kw["alpha"]),
}


@pytest.mark.parametrize("name", list(INTEGER_SCALES))
def test_integer_products_truncate_float_scales(name):
    # torch's kernels for integer tensors cast a float alpha, beta or value to the
    # tensor's type, toward zero (alpha=1.5 multiplies by 1, beta=0.5 drops the input);
    # addr refuses them as add does
    def scenario(t):
        m, v, b = t.tensor([[1, 2], [3, 4]]), t.tensor([1, 3]), t.tensor([5, 7])
        return [attempt(INTEGER_SCALES[name], t, m, v, b, kw) for kw in (
            dict(alpha=1.5, beta=0.5), dict(alpha=-1.5, beta=-2.7), dict(alpha=2, beta=1.5))]

    same(scenario)


@pytest.mark.parametrize("equation", ("ij,jk->ik", "ij,jk->ki", "ij,jk->", "ij,jk"))
def test_einsum_of_floats_and_doubles_over_length_1_dims_differentiates(equation):
    """The product (a mul, not a bmm) has torch's dtype, grad_fn and gradients."""
    def scenario(t):
        a = ar(t, 2, 1).requires_grad_()
        b = ar(t, 1, 3).double().requires_grad_()
        y = t.einsum(equation, a, b)
        return y, t.autograd.grad((y * y).sum(), (a, b))

    same(scenario)


MIXED_CONVOLUTIONS = {
    "Conv2d of doubles": lambda t: t.nn.Conv2d(1, 1, 2)(f64(t, 1, 1, 4, 4)),
    "Conv2d without bias of doubles": lambda t: t.nn.Conv2d(1, 1, 2, bias=False)(
        f64(t, 1, 1, 4, 4)),
    "Conv1d of doubles": lambda t: t.nn.Conv1d(1, 1, 2)(f64(t, 1, 1, 4)),
    "Conv1d without bias of an unbatched double": lambda t: t.nn.Conv1d(1, 1, 2, bias=False)(
        f64(t, 1, 4)),
    "Conv3d without bias of doubles": lambda t: t.nn.Conv3d(1, 1, 2, bias=False)(
        f64(t, 1, 1, 3, 3, 3)),
    "conv2d with a double weight": lambda t: t.nn.functional.conv2d(f32(t, 1, 1, 4, 4),
                                                                     f64(t, 1, 1, 2, 2)),
    "conv2d bias before shapes": lambda t: t.nn.functional.conv2d(
        f64(t, 1, 2, 4, 4), f32(t, 1, 1, 2, 2), f32(t, 1)),
    "conv3d with a double bias": lambda t: t.nn.functional.conv3d(
        f32(t, 1, 1, 3, 3, 3), f32(t, 1, 1, 2, 2, 2), f64(t, 1)),
    "conv2d of longs with a float bias": lambda t: t.nn.functional.conv2d(
        t.ones(1, 1, 4, 4, dtype=t.int64), t.ones(1, 1, 2, 2, dtype=t.int64), f32(t, 1)),
    "ConvTranspose2d of doubles": lambda t: t.nn.ConvTranspose2d(1, 1, 2)(f64(t, 1, 1, 4, 4)),
    "ConvTranspose1d without bias of doubles": lambda t: t.nn.ConvTranspose1d(
        1, 1, 2, bias=False)(f64(t, 1, 1, 4)),
    "conv_transpose2d of longs": lambda t: t.nn.functional.conv_transpose2d(
        t.ones(1, 1, 4, 4, dtype=t.int64), f32(t, 1, 1, 2, 2)),
}


@pytest.mark.parametrize("name", MIXED_CONVOLUTIONS)
def test_convolutions_of_two_dtypes(name):
    same(lambda t: attempt(MIXED_CONVOLUTIONS[name], t))


MIXED_NORMS = {
    "LayerNorm of doubles": lambda t: t.nn.LayerNorm(3)(f64(t, 2, 3)),
    "layer_norm with a double weight": lambda t: t.nn.functional.layer_norm(
        f32(t, 2, 3), (3,), f64(t, 3)),
    "layer_norm with a double bias": lambda t: t.nn.functional.layer_norm(
        f32(t, 2, 3), (3,), f32(t, 3), f64(t, 3)),
    "layer_norm dtypes before shapes": lambda t: t.nn.functional.layer_norm(
        f64(t, 2, 3), (4,), f32(t, 4), f32(t, 4)),
    "layer_norm of longs": lambda t: t.nn.functional.layer_norm(t.ones(2, 3, dtype=t.int64), (3,)),
    "GroupNorm of doubles": lambda t: t.nn.GroupNorm(1, 2)(f64(t, 2, 2, 3)),
    "group_norm with a double weight and float bias": lambda t: t.nn.functional.group_norm(
        f64(t, 2, 2, 3), 1, f32(t, 2), f64(t, 2)),
    "group_norm with a double bias": lambda t: t.nn.functional.group_norm(
        f32(t, 2, 2, 3), 1, f32(t, 2), f64(t, 2)),
    "BatchNorm2d of doubles": lambda t: t.nn.BatchNorm2d(2)(f64(t, 2, 2, 3, 3)),
    "BatchNorm2d of doubles in eval": lambda t: t.nn.BatchNorm2d(2).eval()(f64(t, 2, 2, 3, 3)),
    "BatchNorm1d without affine of doubles": lambda t: t.nn.BatchNorm1d(2, affine=False)(
        f64(t, 3, 2)),
    "batch_norm with a double running mean": lambda t: t.nn.functional.batch_norm(
        f32(t, 3, 2), f64(t, 2), f32(t, 2), f32(t, 2), f32(t, 2), True),
    "batch_norm statistics' sizes first": lambda t: t.nn.functional.batch_norm(
        f64(t, 3, 2), f32(t, 3), f32(t, 4), f32(t, 5), f32(t, 6), True),
    "batch_norm of longs": lambda t: t.nn.functional.batch_norm(
        t.ones(3, 2, dtype=t.int64), f32(t, 2), f32(t, 2), None, None, False),
    "InstanceNorm1d with affine of doubles": lambda t: t.nn.InstanceNorm1d(2, affine=True)(
        f64(t, 3, 2, 4)),
}


@pytest.mark.parametrize("name", MIXED_NORMS)
def test_norms_of_two_dtypes(name):
    same(lambda t: attempt(MIXED_NORMS[name], t))


def rms_norm_of_two_dtypes(t):
    """torch warns (once in a process) that it cannot fuse the norm, and keeps the input's
    dtype: a float input times a double weight is copied back to float (ToCopyBackward0)."""
    x = t.arange(6.0).reshape(2, 3).requires_grad_()
    w = t.tensor([1.0, 2.0, 3.0], dtype=t.float64, requires_grad=True)
    narrowed = t.nn.functional.rms_norm(x, (3,), w)
    narrowed.sum().backward()
    widened = t.nn.functional.rms_norm(x.detach().double(), (3,), w.detach().float())
    return (narrowed, x.grad, w.grad, widened,
            attempt(t.nn.functional.rms_norm, t.ones(2, 3, dtype=t.int64), (3,)))


def test_rms_norm_of_two_dtypes():
    same(rms_norm_of_two_dtypes)


def class_targets(t):
    return t.tensor([0, 1, 1])


MIXED_CLASS_LOSSES = {
    "nll_loss with a float weight": lambda t: t.nn.functional.nll_loss(
        f64(t, 3, 2), class_targets(t), f32(t, 2)),
    "nll_loss of one sample with a float weight": lambda t: t.nn.functional.nll_loss(
        f64(t, 2), t.tensor(1), f32(t, 2)),
    "nll_loss weight before target values": lambda t: t.nn.functional.nll_loss(
        f64(t, 3, 2), t.tensor([0, 1, 5]), f32(t, 2)),
    "nll_loss target dims before its dtype": lambda t: t.nn.functional.nll_loss(
        f64(t, 3, 2), f32(t, 3, 1)),
    "NLLLoss of doubles": lambda t: t.nn.NLLLoss(weight=f32(t, 2))(f64(t, 3, 2), class_targets(t)),
    "cross_entropy with a float weight": lambda t: t.nn.functional.cross_entropy(
        f64(t, 3, 2), class_targets(t), weight=f32(t, 2)),
    "cross_entropy with a long weight": lambda t: t.nn.functional.cross_entropy(
        f32(t, 3, 2), class_targets(t), weight=t.ones(2, dtype=t.int64)),
    "cross_entropy smoothed with a float weight": lambda t: t.nn.functional.cross_entropy(
        f64(t, 3, 2), class_targets(t), weight=f32(t, 2), label_smoothing=0.1),
    "cross_entropy over positions with a float weight": lambda t: t.nn.functional.cross_entropy(
        f64(t, 3, 2, 4), t.zeros(3, 4, dtype=t.int64), weight=f32(t, 2)),
    "CrossEntropyLoss of doubles": lambda t: t.nn.CrossEntropyLoss(weight=f32(t, 2))(
        f64(t, 3, 2), class_targets(t)),
    "multi_margin_loss with a float weight": lambda t: t.nn.functional.multi_margin_loss(
        f64(t, 3, 2), class_targets(t), weight=f32(t, 2)),
    "multi_margin_loss weight before target values": lambda t: t.nn.functional.multi_margin_loss(
        f64(t, 3, 2), t.tensor([0, 1, 5]), weight=f32(t, 2)),
    "multi_margin_loss of float targets": lambda t: t.nn.functional.multi_margin_loss(
        f64(t, 3, 2), f32(t, 3), weight=f32(t, 2)),
    "multi_margin_loss of longs": lambda t: t.nn.functional.multi_margin_loss(
        t.ones(3, 2, dtype=t.int64), class_targets(t)),
    "multi_margin_loss weight size": lambda t: t.nn.functional.multi_margin_loss(
        f64(t, 3, 2), class_targets(t), weight=f64(t, 3)),
    "multi_margin_loss target size": lambda t: t.nn.functional.multi_margin_loss(
        f64(t, 3), t.tensor([0, 1])),
}


@pytest.mark.parametrize("name", MIXED_CLASS_LOSSES)
def test_class_losses_of_two_dtypes(name):
    same(lambda t: attempt(MIXED_CLASS_LOSSES[name], t))


def logits_loss_of_two_dtypes(t, input_dtype, target_dtype, **weights):
    """binary_cross_entropy_with_logits, its value and gradients: torch's loss takes the
    target's dtype, each gradient its operand's."""
    x = t.tensor([-2.0, 0.5, 3.0], dtype=input_dtype, requires_grad=True)
    y = t.tensor([0.0, 0.25, 1.0], dtype=target_dtype, requires_grad=True)
    loss = t.nn.functional.binary_cross_entropy_with_logits(x, y, **weights)
    loss.sum().backward()
    return loss, x.grad, y.grad


MIXED_BINARY_LOSSES = {
    "binary_cross_entropy with a float target": lambda t: t.nn.functional.binary_cross_entropy(
        f64(t, 3) * 0.5, f32(t, 3)),
    "binary_cross_entropy of a float and a long": lambda t: t.nn.functional.binary_cross_entropy(
        f32(t, 3) * 0.5, t.ones(3, dtype=t.int64)),
    "binary_cross_entropy of longs": lambda t: t.nn.functional.binary_cross_entropy(
        t.ones(3, dtype=t.int64), t.ones(3, dtype=t.int64)),
    "BCELoss of doubles": lambda t: t.nn.BCELoss()(f64(t, 3) * 0.5, f32(t, 3)),
    "with_logits of doubles and floats": lambda t: logits_loss_of_two_dtypes(
        t, t.float64, t.float32),
    "with_logits of floats and doubles": lambda t: logits_loss_of_two_dtypes(
        t, t.float32, t.float64, reduction="none"),
    "with_logits with double weights": lambda t: logits_loss_of_two_dtypes(
        t, t.float64, t.float32, weight=f64(t, 3), pos_weight=f64(t, 3) * 2),
    "with_logits with float weights": lambda t: logits_loss_of_two_dtypes(
        t, t.float32, t.float64, weight=f32(t, 3), pos_weight=f32(t, 3) * 2),
    # (the input's log_sigmoid, times the positive weight, is rounded to a half's precision)
    "with_logits of halves and doubles, double weights": lambda t: logits_loss_of_two_dtypes(
        t, t.float16, t.float64, reduction="none", pos_weight=f64(t, 3) + 0.5),
    "with_logits of bfloat16s and floats": lambda t: logits_loss_of_two_dtypes(
        t, t.bfloat16, t.float32, reduction="none"),
    "BCEWithLogitsLoss of doubles": lambda t: t.nn.BCEWithLogitsLoss()(
        t.tensor([-1.0, 2.0], dtype=t.float64), t.tensor([0.0, 1.0])),
    "with_logits of long targets": lambda t: t.nn.functional.binary_cross_entropy_with_logits(
        f64(t, 3), t.ones(3, dtype=t.int64)),
    "with_logits of bool targets": lambda t: t.nn.functional.binary_cross_entropy_with_logits(
        f32(t, 3), t.ones(3, dtype=t.bool)),
    "with_logits of long inputs": lambda t: t.nn.functional.binary_cross_entropy_with_logits(
        t.ones(3, dtype=t.int64), f32(t, 3)),
    "with_logits weight shape": lambda t: t.nn.functional.binary_cross_entropy_with_logits(
        f32(t, 2, 3), f32(t, 2, 3), weight=f32(t, 4)),
}


@pytest.mark.parametrize("name", MIXED_BINARY_LOSSES)
def test_binary_losses_of_two_dtypes(name):
    same(lambda t: attempt(MIXED_BINARY_LOSSES[name], t))


def test_binary_cross_entropy_of_values_outside_zero_to_one():
    """torch's kernel checks each element's input, then its target, before computing."""
    def program(t):
        bce = t.nn.functional.binary_cross_entropy
        half = t.tensor([0.5, 0.5])
        return [attempt(bce, x, y) for x, y in (
            (t.tensor([0.5, 2.0]), half), (half, t.tensor([0.5, -1.0])),
            (t.tensor([0.5, 2.0]), t.tensor([2.0, 0.5])), (t.tensor([float("nan"), 0.5]), half),
            (half, t.tensor([0.5, float("inf")])), (t.tensor([0.0, 1.0]), t.tensor([1.0, 0.0])))]

    same(program)


def regression_loss_of_two_dtypes(t, name, reduction="mean", composite=False):
    """A float input and a double target: mse_loss promotes, huber and soft margin losses keep
    the input's dtype; each gradient has its operand's (huber's backward refuses them). The
    target of a `composite` (soft margin: one node in torch, not here) has no gradient."""
    x = t.tensor([0.25, -1.5, 3.0], requires_grad=True)
    y = t.tensor([1.0, -1.0, 0.5], dtype=t.float64, requires_grad=not composite)
    loss = getattr(t.nn.functional, name)(x, y, reduction=reduction)
    return (loss.detach() if composite else loss, attempt(loss.sum().backward), x.grad, y.grad)


MIXED_REGRESSION_LOSSES = {
    "mse_loss of floats and doubles": lambda t: regression_loss_of_two_dtypes(t, "mse_loss"),
    "mse_loss of floats and doubles, none": lambda t: regression_loss_of_two_dtypes(
        t, "mse_loss", "none"),
    "mse_loss of longs and floats": lambda t: t.nn.functional.mse_loss(
        t.tensor([1, 2]), t.tensor([0.5, 2.5])),
    "mse_loss of longs": lambda t: t.nn.functional.mse_loss(t.tensor([1, 2]), t.tensor([0, 2])),
    "huber_loss of floats and doubles": lambda t: regression_loss_of_two_dtypes(t, "huber_loss"),
    "huber_loss's target gradient": lambda t: attempt(t.nn.functional.huber_loss(
        f32(t, 3), f64(t, 3).requires_grad_()).backward),

    "huber_loss of longs and floats": lambda t: t.nn.functional.huber_loss(
        t.tensor([1, 2]), t.tensor([0.5, 2.5])),
    "soft_margin_loss of floats and doubles": lambda t: regression_loss_of_two_dtypes(
        t, "soft_margin_loss", "none", composite=True),
    "soft_margin_loss of longs": lambda t: t.nn.functional.soft_margin_loss(
        t.tensor([1, 2]), t.tensor([1, -1])),
    "soft_margin_loss broadcast": lambda t: t.nn.functional.soft_margin_loss(f32(t, 3),
                                                                             f64(t, 2, 3)),
    "multilabel_margin_loss of float targets": lambda t: t.nn.functional.multilabel_margin_loss(
        f64(t, 2, 3), f32(t, 2, 3)),
    "multilabel_margin_loss of longs": lambda t: t.nn.functional.multilabel_margin_loss(
        t.ones(2, 3, dtype=t.int64), t.ones(2, 3, dtype=t.int64)),
}


@pytest.mark.parametrize("name", MIXED_REGRESSION_LOSSES)
def test_regression_losses_of_two_dtypes(name):
    same(lambda t: attempt(MIXED_REGRESSION_LOSSES[name], t))


MIXED_LAYERS = {
    "prelu with a float weight": lambda t: t.nn.functional.prelu(f64(t, 2, 3), f32(t, 1)),
    "prelu dtypes before shapes": lambda t: t.nn.functional.prelu(f64(t, 2, 3), f32(t, 4)),
    "PReLU of longs": lambda t: t.nn.PReLU()(t.ones(2, 3, dtype=t.int64)),
    "prelu of longs": lambda t: t.nn.functional.prelu(t.ones(2, 3, dtype=t.int64),
                                                      t.ones(1, dtype=t.int64)),
    "Bilinear of doubles": lambda t: t.nn.Bilinear(2, 3, 4)(f64(t, 5, 2), f64(t, 5, 3)),
    "bilinear dtypes before shapes": lambda t: t.nn.functional.bilinear(
        f64(t, 5, 2), f32(t, 5, 3), f32(t, 4, 3, 3)),
    "bilinear with a double bias": lambda t: t.nn.functional.bilinear(
        f32(t, 5, 2), f32(t, 5, 3), f32(t, 4, 2, 3), f64(t, 4)),
    "embedding_bag with double sample weights": lambda t: t.nn.functional.embedding_bag(
        t.tensor([0, 1, 2]), f32(t, 3, 2), t.tensor([0]), mode="sum",
        per_sample_weights=f64(t, 3)),
    "EmbeddingBag with long sample weights": lambda t: t.nn.EmbeddingBag(3, 2, mode="sum")(
        t.tensor([0, 1, 2]), t.tensor([0]), per_sample_weights=t.ones(3, dtype=t.int64)),
    "embedding_bag of float indices": lambda t: t.nn.functional.embedding_bag(
        t.tensor([0.0, 1.0]), f32(t, 3, 2), t.tensor([0])),
    "embedding_bag of float offsets": lambda t: t.nn.functional.embedding_bag(
        t.tensor([0, 1]), f32(t, 3, 2), t.tensor([0.0])),
    "embedding_bag of a long weight": lambda t: t.nn.functional.embedding_bag(
        t.tensor([0, 1]), t.ones(3, 2, dtype=t.int64), t.tensor([0]), mode="max"),
}


@pytest.mark.parametrize("name", MIXED_LAYERS)
def test_layers_of_two_dtypes(name):
    same(lambda t: attempt(MIXED_LAYERS[name], t))


MIXED_ATTENTION = {
    "sdpa of a double query": lambda t: t.nn.functional.scaled_dot_product_attention(
        f64(t, 1, 2, 3), f32(t, 1, 2, 3), f32(t, 1, 2, 3)),
    "sdpa dtypes before shapes": lambda t: t.nn.functional.scaled_dot_product_attention(
        f32(t, 3), f64(t, 3), f32(t, 3)),
    "sdpa with dropout of a double value": lambda t: t.nn.functional.scaled_dot_product_attention(
        f32(t, 1, 2, 3), f32(t, 1, 2, 3), f64(t, 1, 2, 3), dropout_p=0.5),
    "sdpa with a double mask": lambda t: t.nn.functional.scaled_dot_product_attention(
        f32(t, 1, 2, 3), f32(t, 1, 2, 3), f32(t, 1, 2, 3), attn_mask=f64(t, 2, 2)),
    "sdpa with a long mask": lambda t: t.nn.functional.scaled_dot_product_attention(
        f64(t, 1, 2, 3), f64(t, 1, 2, 3), f64(t, 1, 2, 3),
        attn_mask=t.zeros(2, 2, dtype=t.int64)),
    "sdpa mask dtype before causality": lambda t: t.nn.functional.scaled_dot_product_attention(
        f32(t, 1, 2, 3), f32(t, 1, 2, 3), f32(t, 1, 2, 3), attn_mask=f64(t, 2, 2), is_causal=True),
    "MultiheadAttention with a double mask": lambda t: t.nn.MultiheadAttention(4, 2)(
        f32(t, 2, 1, 4), f32(t, 2, 1, 4), f32(t, 2, 1, 4), attn_mask=f64(t, 2, 2)),
}


@pytest.mark.parametrize("name", MIXED_ATTENTION)
def test_attention_of_two_dtypes(name):
    same(lambda t: attempt(MIXED_ATTENTION[name], t))


def longs(t, *shape):
    return t.ones(*shape, dtype=t.int64)


INTEGER_ACTIVATIONS = {
    "gelu": lambda t: t.nn.functional.gelu(longs(t, 3), approximate="tanh"),
    "silu": lambda t: t.nn.SiLU()(longs(t, 3)),
    "silu in place": lambda t: t.nn.functional.silu(longs(t, 3), inplace=True),
    "glu": lambda t: t.nn.functional.glu(longs(t, 2, 4)),
    "dropout": lambda t: t.nn.functional.dropout(longs(t, 3), 0.5),
    "dropout of bools": lambda t: t.nn.functional.dropout(t.ones(3, dtype=t.bool), 0.5),
    "dropout2d": lambda t: t.nn.functional.dropout2d(longs(t, 1, 2, 3, 3), 0.5),
    "alpha_dropout": lambda t: t.nn.functional.alpha_dropout(longs(t, 3), 0.5, training=True),
}


@pytest.mark.parametrize("name", INTEGER_ACTIVATIONS)
def test_activations_and_dropout_of_integers(name):
    """No kernel of torch's takes them (dropout scales its integer mask in place)."""
    same(lambda t: attempt(INTEGER_ACTIVATIONS[name], t))


# ---- a number a kernel takes in the tensor's dtype is checked to fit it ----------------------------

@pytest.mark.parametrize("name", ("float16", "bfloat16", "float32", "int8"))
def test_numbers_beyond_the_dtype_are_refused_where_torch_checks_them(name):
    """fill_, masked_fill, clamp, alpha, index_fill, scatter, threshold and hardtanh refuse a
    number their dtype cannot hold (-1e9 for float16 attention scores), where `+` and where
    round it to inf or wrap it around."""
    big = {"float16": 1e5, "bfloat16": 1e39, "float32": 1e39, "int8": 300}[name]

    def scenario(t):
        x, f = t.zeros(3, dtype=getattr(t, name)), t.nn.functional
        mask, at = t.tensor([True, False, True]), t.tensor([0])
        return [attempt(fn) for fn in (
            lambda: x.clone().fill_(big), lambda: x.clone().fill_(-big), lambda: t.full_like(x, big),
            lambda: x.masked_fill(mask, -big), lambda: x.clamp(max=big), lambda: x.clamp_min(-big),
            lambda: t.add(x, x, alpha=big), lambda: x.index_fill(0, at, big),
            lambda: x.scatter(0, at, big), lambda: f.threshold(x, 0, big),
            lambda: f.hardtanh(x, -1, big), lambda: x + big, lambda: t.where(mask, x, big),
            lambda: x.clone().fill_(float("inf")), lambda: x[:1].clone().fill_(big),
            lambda: t.zeros(2, 2, dtype=x.dtype).fill_diagonal_(big), lambda: x ** big)]

    same(scenario)


def test_finfo_and_iinfo_compare_by_dtype():
    same(lambda t: (t.finfo(t.float32) == t.finfo(t.float32), t.finfo() == t.finfo(t.float32),
                    t.finfo(t.float16) != t.finfo(t.float32), t.iinfo(t.int8) == t.iinfo(t.int8),
                    t.iinfo(t.int8) == t.iinfo(t.int16), t.finfo(t.float32) == 1,
                    attempt(hash, t.finfo(t.float32)).type))


def test_isclose_checks_its_arguments_as_torch():
    """No promotion (an integer tensor against a float one is refused), no negative
    tolerance, no number for other; allclose broadcasts."""
    def scenario(t):
        a = t.tensor([1.0, 2.0])
        return [attempt(fn) for fn in (
            lambda: t.isclose(a.long(), a), lambda: t.allclose(a, a.double()),
            lambda: t.isclose(a, a, rtol=-1), lambda: t.isclose(a, a, atol=-0.5),
            lambda: t.isclose(a, 1.0), lambda: t.allclose(a, t.ones(3)),
            lambda: t.allclose(a, a[None]), lambda: a.isclose(a))]

    same(scenario)


@pytest.mark.parametrize("name", ("uint8", "int8", "int16", "int32", "int64"))
def test_lcm_wraps_as_torchs_kernel(name):
    """torch's lcm is std::abs(a / gcd * b): for 1- and 2-byte types computed in int (the
    absolute value before the wrap into the dtype), for int32 and int64 in the type (the
    product wraps first)."""
    def scenario(t):
        d = getattr(t, name)
        a = t.tensor([100, -100, 200, 7, 0, 127, 2 ** 20 + 1]).to(d)
        b = t.tensor([99, 99, 3, -5, 0, 126, 2 ** 20 - 1]).to(d)
        return t.lcm(a, b), t.gcd(a, b)

    same(scenario, rtol=0, atol=0)


def test_python_ints_beyond_int64_in_tensor():
    """torch reads a Python int as a C long long (its ValueError beyond int64) unless the
    dtype asked for is floating or a float in the list makes it so."""
    def scenario(t):
        return [attempt(fn) for fn in (
            lambda: t.tensor(2 ** 63), lambda: t.tensor([1, 2 ** 63]), lambda: t.tensor([[1], [-2 ** 64]]),
            lambda: t.tensor(-2 ** 63), lambda: t.tensor([1.5, 2 ** 63]),
            lambda: t.tensor(2 ** 64, dtype=t.float32), lambda: t.tensor(2 ** 63, dtype=t.float64))]

    same(scenario)


def test_cumulative_ops_refuse_bool_results_and_in_place_dtypes():
    """torch's cumsum and cumprod have no kernel for a bool result (dtype=torch.bool, or a
    bool tensor's cumsum_), and cumsum_/cumprod_ compute in self's dtype: another dtype= is
    refused."""
    def scenario(t):
        b, i, f = t.tensor([True, False]), t.tensor([3, 4], dtype=t.int8), t.tensor([1.0, 2.0])
        return [attempt(fn) for fn in (
            lambda: b.cumsum(0, dtype=t.bool), lambda: i.cumprod(0, dtype=t.bool),
            lambda: f.cumsum(0, dtype=t.bool), lambda: b.clone().cumsum_(0),
            lambda: b.clone().cumprod_(0), lambda: f.clone().cumsum_(0, dtype=t.float64),
            lambda: i.clone().cumprod_(0, dtype=t.int64), lambda: i.clone().cumprod_(0),
            lambda: i.clone().cumsum_(0, dtype=t.int8), lambda: b.cumsum(0), lambda: b.cumprod(0))]

    same(scenario)
