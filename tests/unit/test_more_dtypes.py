"""int32, uint8, int16, int8 and float16 as torch has them: names, creation, casts, the
promotion lattice, printing, each op family's result dtype and values, autograd's refusal
of integer tensors, and numpy interop, each against torch."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import distgrad
from torch_twin import attempt, same

NEW = ["int32", "uint8", "int16", "int8", "float16"]
INTEGERS = ["uint8", "int8", "int16", "int32"]
ALL = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def _values(T, name):
    """A small tensor of dtype `name` with values each dtype holds (negatives but for uint8)."""
    data = {"uint8": [0, 7, 200, 255], "bool": [True, False, True, True],
            "float16": [1.5, -2.25, 0.1, 60000.0]}.get(name, [3, -7, 100, 0])
    return T.tensor(data, dtype=getattr(T, name))


# ---- names ---------------------------------------------------------------------------------------

def test_names_are_torchs():
    for name in ("int32", "int", "uint8", "int16", "short", "int8", "float16", "half", "long"):
        d = getattr(distgrad, name)
        t = getattr(torch, name)
        assert repr(d) == repr(t)
        assert (d.is_floating_point, d.is_signed, d.itemsize, d.is_complex) == \
            (t.is_floating_point, t.is_signed, t.itemsize, t.is_complex)


@pytest.mark.parametrize("name", NEW)
def test_type_names_element_size_and_info(name):
    def scenario(T):
        t = _values(T, name)
        d = getattr(T, name)
        info = T.finfo(d) if d.is_floating_point else T.iinfo(d)
        limits = (info.bits, info.max, info.min, repr(info))
        if d.is_floating_point:
            limits += (info.eps, info.tiny, info.resolution)
        return (t.type(), t.element_size(), t.itemsize, t.nbytes, T.is_floating_point(t),
                limits, T.typename(t))

    same(scenario)


@pytest.mark.parametrize("method,name", [("int", "int32"), ("byte", "uint8"), ("short", "int16"),
                                         ("char", "int8"), ("half", "float16")])
def test_conversion_methods(method, name):
    def scenario(T):
        x = T.tensor([1.7, -1.7, 300.0, -129.0, 0.5])
        return getattr(x, method)(), x.type(f"torch.{getattr(x, method)().type().split('.')[1]}")

    same(scenario)


# ---- creation ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_factories_take_the_dtype(name):
    def scenario(T):
        d = getattr(T, name)
        return (T.zeros(2, 3, dtype=d), T.ones(3, dtype=d), T.full((2,), 7, dtype=d),
                T.arange(5, dtype=d), T.arange(1, 11, 3, dtype=d), T.empty(2, dtype=d).dtype,
                T.eye(2, dtype=d), T.zeros_like(T.ones(2), dtype=d), T.full_like(_values(T, name), 3),
                T.linspace(0, 10, 4, dtype=d), T.tensor(5, dtype=d), T.tensor([[1, 2]], dtype=d))

    same(scenario)


@pytest.mark.parametrize("name", INTEGERS + ["int64"])
@pytest.mark.parametrize("value", [300, -1, -256, 2.7, -0.5, 1e10, float("nan"), True])
def test_numbers_beyond_an_integer_dtype_are_refused_as_torch(name, value):
    def scenario(T):
        d = getattr(T, name)
        x = T.zeros(2, dtype=d)
        return (attempt(T.tensor, [value], dtype=d), attempt(T.full, (2,), value, dtype=d),
                attempt(x.clone().fill_, value), attempt(lambda: x.clone().__setitem__(0, value)),
                attempt(x.masked_fill, T.tensor([True, False]), value))

    same(scenario)


def test_tensor_infers_numpy_scalars_and_arrays_dtypes():
    def scenario(T):
        return [T.tensor(v).dtype for v in (
            np.int32(3), np.uint8(3), np.int16(3), np.int8(3), np.float16(1.5),
            [np.uint8(1), np.int8(2)], [np.int32(1), 2], [np.float16(1), 2],
            [np.array([1, 2], np.int32), np.array([3, 4], np.int32)],
            np.array([1, 2], np.uint8), np.array([1.0], np.float16))]

    same(scenario)


@pytest.mark.parametrize("np_dtype", [np.int32, np.uint8, np.int16, np.int8, np.float16])
def test_from_numpy_keeps_the_dtype_and_the_memory(np_dtype):
    def scenario(T):
        a = np.array([1, 2, 3], np_dtype)
        t = T.from_numpy(a)
        a[0] = 9
        return t, t.numpy().dtype.name, T.as_tensor(a).dtype, T.asarray(a).dtype

    same(scenario)


def test_numpy_types_torch_refuses_are_refused_with_its_message():
    def scenario(T):
        return [attempt(T.from_numpy, np.zeros(2, t)) for t in ("U3", object, np.longdouble)]

    same(scenario)


# ---- casts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("source,target", [(s, t) for s in ALL for t in ALL if s != t and (
    s in NEW or t in NEW)])
def test_casts_between_dtypes(source, target):
    """float to integer truncates, out of range wraps as torch's CPU casts; to float16 rounds."""
    def scenario(T):
        x = T.tensor([1.7, -1.7, 300.5, -129.0, 70000.0, 0.0, 3e9, -3e9], dtype=T.float64)
        x = x.abs() if source in ("uint8", "bool") else x
        x = x.to(getattr(T, source))
        return x.to(getattr(T, target))

    same(scenario)


@pytest.mark.parametrize("target", [t for t in ALL if t != "float16"])
def test_a_0_dim_float16_tensor_converts_and_computes(target):
    """A 0-dim float16 tensor (a loss, an item of a vector) alone in an op: a conversion,
    a unary op, one with a 0-dim tensor of another dtype."""
    def scenario(T):
        loss = T.tensor([1.1, 2.7, -0.3], dtype=T.float16).sum()
        one = T.tensor(1.5, dtype=T.float16)
        return (loss.to(getattr(T, target)), one.to(getattr(T, target)), loss.exp(), -one,
                one * one, loss + T.tensor(0.1), loss.sqrt(), one.abs())

    same(scenario, rtol=0, atol=0)


# ---- promotion -----------------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", list(itertools.combinations_with_replacement(ALL, 2)))
def test_promote_types_and_result_type(a, b):
    def scenario(T):
        da, db = getattr(T, a), getattr(T, b)
        x, y = T.ones(2, dtype=da), T.ones(2, dtype=db)
        return (T.promote_types(da, db), T.promote_types(db, da), T.result_type(x, y),
                T.result_type(x, T.ones((), dtype=db)), T.result_type(x, 2), T.result_type(x, 2.5),
                T.result_type(x, True), T.can_cast(da, db), T.can_cast(db, da), (x + y).dtype,
                T.cat([x, y]).dtype, T.stack([x, y]).dtype, T.where(x > 0, x, y).dtype)

    same(scenario)


# ---- ops -----------------------------------------------------------------------------------------

BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "floor_divide": lambda a, b: a // b, "remainder": lambda a, b: a % b,
    "fmod": lambda a, b: a.fmod(b), "maximum": lambda a, b: a.maximum(b),
    "minimum": lambda a, b: a.minimum(b), "eq": lambda a, b: a == b, "lt": lambda a, b: a < b,
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "lshift": lambda a, b: a << b.abs() % 9, "rshift": lambda a, b: a >> b.abs() % 9,
    "pow": lambda a, b: a ** (b.abs() % 3), "pow_number": lambda a, b: (a ** 2, a ** 255),
    "pow_beyond": lambda a, b: a ** 300, "pow_negative": lambda a, b: a ** -1,
    "add_number": lambda a, b: a + 300,
    "mul_number": lambda a, b: a * 3, "sub_float": lambda a, b: a - 2.5,
    "div_trunc": lambda a, b: a.div(b, rounding_mode="trunc"),
    "div_floor": lambda a, b: a.div(b, rounding_mode="floor"),
    "where_number": lambda a, b: a.where(a > b, 7), "clamp": lambda a, b: a.clamp(-1, 50),
    "clamp_beyond": lambda a, b: a.clamp(min=300), "clamp_below": lambda a, b: a.clamp(max=-200),
    "compare_beyond": lambda a, b: (a > -1, a == 300, a < 256, a.eq(44)),
    "clamp_float": lambda a, b: a.clamp(max=2.5), "atan2": lambda a, b: a.atan2(b),
    "ldexp": lambda a, b: a.ldexp(b.abs() % 4), "hypot": lambda a, b: a.hypot(b),
    "float_power": lambda a, b: a.float_power(b), "xlogy": lambda a, b: a.xlogy(b),
}


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("name", NEW)
def test_binary_ops(op, name):
    def scenario(T):
        a = _values(T, name)
        b = T.tensor([2, 3, 5, 7], dtype=getattr(T, name))
        return attempt(BINARY[op], a, b), attempt(BINARY[op], a, T.tensor([2, 3, 5, 7]))

    same(scenario, rtol=1e-3)


UNARY = {
    "neg": lambda x: -x, "abs": lambda x: x.abs(), "sign": lambda x: x.sign(),
    "bitwise_not": lambda x: ~x, "square": lambda x: x.square(), "exp": lambda x: x.exp(),
    "sqrt": lambda x: x.abs().sqrt(), "sigmoid": lambda x: x.sigmoid(),
    "floor": lambda x: x.floor(), "round": lambda x: x.round(), "relu": lambda x: x.relu(),
    "reciprocal": lambda x: x.reciprocal(), "isnan": lambda x: x.isnan(), "clone": lambda x: x.clone(),
    "flip": lambda x: x.flip(0), "nonzero": lambda x: x.nonzero(), "bool": lambda x: x.bool(),
}


@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("name", NEW)
def test_unary_ops(op, name):
    same(lambda T: attempt(UNARY[op], _values(T, name)), rtol=1e-3)


REDUCTIONS = {
    "sum": lambda x: x.sum(), "sum_dim": lambda x: x.reshape(2, 2).sum(1),
    "sum_dtype": lambda x: x.sum(dtype=x.dtype), "prod": lambda x: x.prod(),
    "cumsum": lambda x: x.cumsum(0), "cumsum_dtype": lambda x: x.cumsum(0, dtype=x.dtype),
    "cumprod": lambda x: x.cumprod(0), "cumprod_dtype": lambda x: x.cumprod(0, dtype=x.dtype),
    "mean": lambda x: x.mean(), "mean_dtype": lambda x: x.mean(dtype=distgrad_or_torch(x).float32),
    "max": lambda x: x.max(), "max_dim": lambda x: tuple(x.max(0)), "min": lambda x: x.min(),
    "argmax": lambda x: x.argmax(), "argmin": lambda x: x.argmin(), "amax": lambda x: x.amax(),
    "sort": lambda x: tuple(x.sort()), "topk": lambda x: tuple(x.topk(2)),
    "all": lambda x: x.all(), "any": lambda x: x.any(0, keepdim=True),
    "count_nonzero": lambda x: x.count_nonzero(), "unique": lambda x: x.unique(),
    "median": lambda x: x.median(), "trace": lambda x: x.reshape(2, 2).trace(),
    "norm": lambda x: x.norm(), "var": lambda x: x.var(),
    # (torch's float16 histc finds the bins in float16: 60000 overflows into bin 0)
    "histc": lambda x: None if x.dtype.is_floating_point and x.itemsize == 2 else x.histc(3),
    "histogram": lambda x: tuple(x.histogram(3)), "logcumsumexp": lambda x: x.logcumsumexp(0),
    "bincount": lambda x: x.abs().bincount(), "logsumexp": lambda x: x.logsumexp(0),
    "nansum": lambda x: x.nansum(), "aminmax": lambda x: tuple(x.aminmax()),
    "quantile": lambda x: x.quantile(0.5), "dist": lambda x: x.dist(x.flip(0)),
    "renorm": lambda x: x.reshape(2, 2).renorm(2, 0, 1.0),
    "cdist": lambda x: distgrad_or_torch(x).cdist(x.reshape(2, 2), x.reshape(2, 2)),
}


def distgrad_or_torch(t):
    return torch if isinstance(t, torch.Tensor) else distgrad


@pytest.mark.parametrize("op", sorted(REDUCTIONS))
@pytest.mark.parametrize("name", NEW)
def test_reductions(op, name):
    same(lambda T: attempt(REDUCTIONS[op], _values(T, name)), rtol=1e-3)


def test_float16_sums_accumulate_in_float32_as_torch():
    def scenario(T):
        x = T.full((3000,), 1.1, dtype=T.float16)
        big = T.tensor([60000.0, 60000.0, -60000.0], dtype=T.float16)
        return (x.sum(), x.mean(), x.cumsum(0)[-1], x @ x, big.sum(), big.norm(),
                (x.reshape(30, 100) @ x.reshape(100, 30))[0, 0])

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("name", NEW)
def test_matmul(name):
    def scenario(T):
        d = getattr(T, name)
        a = T.tensor([[1, 2, 3], [4, 5, 6]], dtype=d)
        b = T.tensor([[1, 0], [2, 1], [3, 2]], dtype=d)
        return (a @ b, T.mm(a, b), T.bmm(a[None], b[None]), a[0] @ b, T.dot(a[0], a[1]),
                attempt(T.mm, a, b.long()))

    same(scenario)


@pytest.mark.parametrize("name", ["int32", "uint8", "int16", "int8", "int64"])
def test_index_tensors_of_each_dtype(name):
    def scenario(T):
        x = T.arange(12.0).reshape(3, 4)
        i = T.tensor([0, 2], dtype=getattr(T, name))
        g = T.tensor([[0, 1, 2, 0]], dtype=getattr(T, name))
        return (attempt(lambda: x[i]), attempt(lambda: x[T.tensor(1, dtype=i.dtype)]),
                attempt(x.index_select, 0, i), attempt(x.gather, 0, g),
                attempt(lambda: x.clone().scatter_(0, g, 1.0)),
                attempt(lambda: x.clone().index_add_(0, i, T.ones(2, 4))),
                attempt(lambda: x.clone().index_put_((i,), T.tensor(5.0))),
                attempt(T.nn.functional.embedding, i, x),
                attempt(T.nn.functional.nll_loss, x.log_softmax(1)[:2], i),
                attempt(T.repeat_interleave, i), attempt(T.take, x, i),
                attempt(T.nn.functional.max_unpool1d, x[None, :2, :2],
                        T.zeros(1, 2, 2, dtype=i.dtype), 2))

    same(scenario)


@pytest.mark.parametrize("name", NEW)
def test_printing(name):
    def scenario(T):
        x = _values(T, name)
        return (repr(x), repr(x[0]), repr(x[:0]), repr(x.reshape(2, 2)), str(x.to(T.float16)),
                repr(T.tensor([1.0, 2.0], dtype=T.float16)),
                repr(T.tensor([1e-3, 1.0, 100.0], dtype=T.float16)))

    same(scenario)


@pytest.mark.parametrize("name", NEW)
def test_item_tolist_and_python_numbers(name):
    def scenario(T):
        x = _values(T, name)
        return (x[2].item(), type(x[2].item()).__name__, x.tolist(), int(x[1]), float(x[1]),
                bool(x[0]), attempt(lambda: [10, 20, 30][x[0]]) if name != "float16" else None)

    same(scenario)


# ---- autograd ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", INTEGERS)
def test_integer_tensors_cannot_require_grad(name):
    def scenario(T):
        d = getattr(T, name)
        return (attempt(T.ones, 2, dtype=d, requires_grad=True),
                attempt(T.tensor, [1, 2], dtype=d, requires_grad=True),
                attempt(T.ones(2, dtype=d).requires_grad_),
                attempt(lambda: T.ones(2, requires_grad=True).to(d).requires_grad))

    same(scenario)


def test_float16_gradients():
    def scenario(T):
        x = T.tensor([1.5, -2.0, 0.25], dtype=T.float16, requires_grad=True)
        w = T.tensor([0.5, 1.0, 3.0], requires_grad=True)
        y = (x.exp() * x + x.to(T.float32) * w).sum()
        y.backward()
        z = T.nn.Linear(3, 2).half()
        return y, x.grad, w.grad, z.weight.dtype, z(x.detach()).dtype

    same(scenario, rtol=1e-3)


# ---- in-place writes -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NEW)
def test_in_place_ops_keep_the_dtype_or_refuse(name):
    def scenario(T):
        x = _values(T, name)
        return (attempt(lambda: x.clone().add_(1)), attempt(lambda: x.clone().add_(1.5)),
                attempt(lambda: x.clone().mul_(T.tensor([2, 3, 4, 5]))),
                attempt(lambda: x.clone().div_(2)), attempt(lambda: x.clone().copy_(T.ones(4))),
                attempt(lambda: x.clone().clamp_(0, 9)))

    same(scenario)


def test_out_int32_and_int32_info_and_pivots():
    def scenario(T):
        s = T.tensor([1.0, 2.0, 3.0])
        a = T.tensor([[4.0, 1.0], [1.0, 3.0]])
        return (T.searchsorted(s, T.tensor([2.5]), out_int32=True),
                T.bucketize(T.tensor([2.5]), s, out_int32=True), T.linalg.lu_factor(a).pivots,
                T.linalg.cholesky_ex(a).info, T.linalg.inv_ex(a).info)

    same(scenario)


def test_float16_layers():
    """torch's CPU float16 kernels compute in float32 and round the result once."""
    def scenario(T):
        F = T.nn.functional
        x = T.tensor([[0.5, -1.25, 2.0, 3.5], [1.0, 0.0, -0.75, 8.0]], dtype=T.float16)
        w = (T.arange(8.0).reshape(2, 4) / 7).to(T.float16)
        return (x.softmax(1), x.log_softmax(1), F.layer_norm(x, (4,)), F.linear(x, w),
                F.gelu(x), F.cross_entropy(x, T.tensor([1, 3])), x.var(1), x.std(),
                T.tanh(x), F.relu(x) * 3, (x / 3).sum(0))

    same(scenario, rtol=2e-3, atol=1e-3)


LINALG = {
    "det": lambda T, a: T.linalg.det(a), "inv": lambda T, a: T.linalg.inv(a),
    "slogdet": lambda T, a: T.linalg.slogdet(a), "qr": lambda T, a: T.linalg.qr(a),
    "svd": lambda T, a: T.linalg.svd(a), "eigh": lambda T, a: T.linalg.eigh(a),
    "cholesky": lambda T, a: T.linalg.cholesky(a), "cholesky_method": lambda T, a: a.cholesky(),
    "solve": lambda T, a: T.linalg.solve(a, a), "lu_factor": lambda T, a: T.linalg.lu_factor(a),
    "matrix_rank": lambda T, a: T.linalg.matrix_rank(a),
    "lstsq": lambda T, a: T.linalg.lstsq(a, a),
    "matrix_power": lambda T, a: T.linalg.matrix_power(a, 3),
    "is_signed": lambda T, a: (a.is_signed(), a.byte().is_signed(), a.char().is_signed()),
}


@pytest.mark.parametrize("op", sorted(LINALG))
def test_float16_linear_algebra_is_refused_where_torch_has_no_kernel(op):
    def scenario(T):
        a = T.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=T.float16)
        out = LINALG[op](T, a)
        return tuple(out) if isinstance(out, tuple) else out

    same(scenario, rtol=1e-3)


def test_float64_to_float16_rounds_through_float32_as_torch():
    """c10::Half is made from a float: a double just above a half-way point between two
    float16 values rounds to float32's half-way point first, then to even."""
    rng = np.random.default_rng(3)
    h = rng.standard_normal(500).astype(np.float16).astype(np.float64)
    near_half_way = h + np.spacing(h.astype(np.float16)).astype(np.float64) * (0.5 + 2 ** -30)

    def scenario(T):
        x = T.tensor(near_half_way)
        return (x.half(), x.to(T.float16), T.tensor(near_half_way.tolist(), dtype=T.float16),
                T.tensor(near_half_way, dtype=T.float16),
                T.stack([T.full((1,), v, dtype=T.float16) for v in near_half_way[:50].tolist()]))

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("default", ["float16", "float64"])
def test_the_default_dtype_prints_without_its_name(default):
    def scenario(T):
        T.set_default_dtype(getattr(T, default))
        try:
            return [repr(t) for t in (T.tensor([1.5]), T.tensor([1.5], dtype=T.float32),
                                      T.arange(0, 1, 0.25), T.tensor([1, 2]) / 3, T.zeros(0),
                                      T.zeros(0, dtype=T.float32))]
        finally:
            T.set_default_dtype(T.float32)

    same(scenario)


@pytest.mark.parametrize("align_corners", [None, True])
@pytest.mark.parametrize("size", [(4, 9), (30, 41), (13, 5), (1, 3)])
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic"])
def test_uint8_images_resize_as_torch(mode, size, align_corners):
    """torch's uint8 kernels: int16 weights, the last dim first, saturated each pass."""
    image = np.random.default_rng(0).integers(0, 256, (2, 3, 13, 17)).astype(np.uint8)
    align = align_corners if mode in ("bilinear", "bicubic") else None

    def scenario(T):
        return T.nn.functional.interpolate(T.tensor(image), size=size, mode=mode,
                                           align_corners=align)

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("mode,ndim", [("nearest", 3), ("nearest", 4), ("nearest", 5),
                                       ("nearest-exact", 4), ("linear", 3), ("bilinear", 4),
                                       ("trilinear", 5), ("bicubic", 4), ("area", 4)])
def test_interpolate_takes_the_dtypes_torchs_kernels_take(name, mode, ndim):
    def scenario(T):
        x = T.arange(2 * 3 * 4 ** (ndim - 2)).reshape((2, 3) + (4,) * (ndim - 2))
        return attempt(T.nn.functional.interpolate, x.to(getattr(T, name)), scale_factor=2,
                       mode=mode)

    same(scenario, rtol=1e-3, atol=1e-2)

POOLS = {
    "avg_pool1d": lambda F, x: F.avg_pool1d(x[0], 2), "avg_pool2d": lambda F, x: F.avg_pool2d(x, 2),
    "avg_pool3d": lambda F, x: F.avg_pool3d(x[None], 2),
    "adaptive_avg_pool1d": lambda F, x: F.adaptive_avg_pool1d(x[0], 3),
    "adaptive_avg_pool2d": lambda F, x: F.adaptive_avg_pool2d(x, 3),
    "adaptive_avg_pool2d_1": lambda F, x: F.adaptive_avg_pool2d(x, 1),
    "adaptive_avg_pool3d": lambda F, x: F.adaptive_avg_pool3d(x[None], 3),
    "max_pool1d": lambda F, x: F.max_pool1d(x[0], 2), "max_pool2d": lambda F, x: F.max_pool2d(x, 2),
    "max_pool3d": lambda F, x: F.max_pool3d(x[None], 2),
    "adaptive_max_pool1d": lambda F, x: F.adaptive_max_pool1d(x[0], 3),
    "adaptive_max_pool2d": lambda F, x: F.adaptive_max_pool2d(x, 3),
    "adaptive_max_pool3d": lambda F, x: F.adaptive_max_pool3d(x[None], 3),
}


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("name", ALL)
def test_poolings_take_the_dtypes_torchs_kernels_take(pool, name):
    def scenario(T):
        x = T.arange(64).reshape(1, 4, 4, 4).to(getattr(T, name))
        return attempt(POOLS[pool], T.nn.functional, x)

    same(scenario, rtol=1e-3)


LAYERS = {
    "hardtanh": lambda F, x: F.hardtanh(x), "hardtanh_0_1": lambda F, x: F.hardtanh(x, 0, 1),
    "relu6": lambda F, x: F.relu6(x), "hardshrink": lambda F, x: F.hardshrink(x),
    "softshrink": lambda F, x: F.softshrink(x),
    "conv_transpose1d": lambda F, x: F.conv_transpose1d(x[0], x[0, :, :1, :2]),
    "conv_transpose2d": lambda F, x: F.conv_transpose2d(x, x[0, :, None, :2, :2]),
    "conv_transpose2d_bad": lambda F, x: F.conv_transpose2d(x, x[:, :, :2, :2]),
    "unfold": lambda F, x: F.unfold(x, 2), "fold": lambda F, x: F.fold(x[0], (3, 3), 2),
    "fold_bad_shape": lambda F, x: F.fold(x[0, :3], (3, 3), 2),
    "nll_loss": lambda F, x: F.nll_loss(x[0, 0], x[0, 0, 0].long().clamp(0, 3)),
    "nll_loss2d": lambda F, x: F.nll_loss(x, x[:, 0].long().clamp(0, 3)),
    "multi_margin_loss": lambda F, x: F.multi_margin_loss(x[0, 0], x[0, 0, 0].long().clamp(0, 3)),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("name", ALL)
def test_layers_take_the_dtypes_torchs_kernels_take(layer, name):
    def scenario(T):
        x = (T.arange(64) % 7).reshape(1, 4, 4, 4).to(getattr(T, name))
        return attempt(LAYERS[layer], T.nn.functional, x)

    same(scenario, rtol=1e-3, atol=1e-3)


# ---- in-place ops: torch's checks of the write, in its order -------------------------------------

IN_PLACE = {"add_": lambda x, y: x.add_(y), "mul_": lambda x, y: x.mul_(y),
            "div_": lambda x, y: x.div_(y), "pow_": lambda x, y: x.pow_(y),
            "remainder_": lambda x, y: x.remainder_(y),
            "floor_divide_": lambda x, y: x.floor_divide_(y),
            "bitwise_and_": lambda x, y: x.bitwise_and_(y), "__ior__": lambda x, y: x.__ior__(y),
            "atan2_": lambda x, y: x.atan2_(y), "lerp_": lambda x, y: x.lerp_(y, 0.5),
            "clamp_": lambda x, y: x.clamp_(min=y)}


@pytest.mark.parametrize("op", IN_PLACE)
@pytest.mark.parametrize("self_name", ["bool", "uint8", "int64", "float16"])
@pytest.mark.parametrize("other_name", ["bool", "int8", "float32", "number"])
def test_an_in_place_op_checks_shape_then_dtype_then_kernel(op, self_name, other_name):
    """A 0-dim self cannot take a vector (a shape error, whatever the dtypes); a self that
    cannot hold the result is refused before a missing kernel or a division by zero."""
    def scenario(T):
        write = IN_PLACE[op]
        other = 0 if other_name == "number" else _values(T, other_name)
        one = _values(T, self_name)
        return (attempt(lambda: write(one.clone(), other)),
                attempt(lambda: write(one[0].clone(), other)))

    same(scenario)


@pytest.mark.parametrize("name", ALL + ["bfloat16"])
def test_angle_of_real_tensors(name):
    """π below zero, else 0, nan kept; integers and bools give the default float dtype;
    its gradient is zero (AngleBackward0)."""
    def scenario(T):
        x = _values(T, name)
        out = [T.angle(x), x.angle()]
        if x.dtype.is_floating_point:
            w = T.tensor([-1.5, 0.0, -0.0, float("nan"), -float("inf")], dtype=x.dtype,
                         requires_grad=True)
            y = T.angle(w)
            y.sum().backward()
            out += [y, y.grad_fn.name(), w.grad]
        return out

    same(scenario)


@pytest.mark.parametrize("kind", [float, int, bool])
def test_python_types_stand_for_dtypes_as_torchs(kind):
    """float, int and bool given for a dtype are float64, int64 and bool: in factories,
    conversions, reductions' dtype= and finfo/iinfo (but not set_default_dtype or type())."""
    def scenario(T):
        f, i = T.tensor([1.5, -2.5]), T.tensor([1, 2, 3])
        return (attempt(T.zeros, 2, dtype=kind), attempt(T.full, (2,), 1, dtype=kind),
                attempt(T.tensor, [1.7, 0], dtype=kind), attempt(T.arange, 3, dtype=kind),
                attempt(T.linspace, 0, 2, 3, dtype=kind), attempt(T.eye, 2, dtype=kind),
                attempt(T.zeros_like, f, dtype=kind), attempt(f.to, kind),
                attempt(f.to, dtype=kind), attempt(f.to, "cpu", kind),
                attempt(i.sum, dtype=kind), attempt(f.mean, dtype=kind),
                attempt(i.cumsum, 0, dtype=kind), attempt(i.prod, dtype=kind),
                attempt(f.softmax, 0, dtype=kind), attempt(lambda: T.iinfo(kind).max),
                attempt(lambda: T.finfo(kind).eps), attempt(T.can_cast, kind, T.int8),
                attempt(f.new_full, (1,), 2, dtype=kind), attempt(lambda: T.rand(2, dtype=kind).dtype),
                attempt(lambda: T.randint(0, 3, (2,), dtype=kind).dtype),
                attempt(T.set_default_dtype, kind), attempt(f.type, kind),
                attempt(T.tensor([1, 2, 3]).prod, dtype=T.bool),
                attempt(T.tensor([100, 3]).prod, dtype=T.int8))

    same(scenario)
