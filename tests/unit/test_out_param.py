"""torch's out= parameter: the result written into the tensors given, as torch writes it."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import torch

import distgrad as dg
from distgrad import out_param
from torch_twin import attempt, same

X = [[1.0, -3.0, 2.0], [4.0, 0.5, -2.0]]


def _both(program):
    """program(T) under torch and distgrad: what each returned or raised, with warnings."""
    got = []
    for T in (torch, dg):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                value = program(T)
            except Exception as e:  # noqa: BLE001  (compared: type and words)
                value = (type(e).__name__, str(e))
        got.append((_plain(value), [str(w.message) for w in seen]))
    return got


def _plain(v):
    if isinstance(v, (torch.Tensor, dg.Tensor)):
        return (str(v.dtype), tuple(v.shape), np.asarray(v.detach().numpy()).tolist())
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    return v


CASES = {
    "same shape": lambda T: (T.add(T.tensor(X), 1, out=(o := T.empty(2, 3))), o, o._version),
    "returns out": lambda T: T.mul(T.tensor(X), 2, out=(o := T.empty(2, 3))) is o,
    "into a view": lambda T: (T.exp(T.tensor(X)[0], out=(b := T.zeros(6))[::2]), b),
    "resized from empty": lambda T: (T.matmul(T.tensor(X), T.tensor(X).t(), out=T.empty(0)),),
    "resized with a warning": lambda T: T.sum(T.tensor(X), 0, out=T.empty(5)),
    # (an elementwise op computing in another dtype than out's: torch resizes out twice)
    "resized into another dtype": lambda T: (
        T.add(T.tensor([1, 2, 3]), 1, out=T.zeros(2)),
        T.exp(T.tensor(X), out=T.zeros(2, dtype=T.float64)),
        T.eq(T.tensor(X), 1.0, out=T.zeros(2)),
        T.floor_divide(T.tensor([1, 2, 3]), 2, out=T.zeros(2))),
    # (found by the program fuzzer, seeds 22717191, 22718281: a resized out takes the
    # result's layout, which its other views see)
    "resized with a warning, laid out as the result": lambda T: (
        T.exp(T.tensor(X).t(), out=(o := T.zeros(2, 3))), o.stride(), o.view(-1) if
        o.is_contiguous() else o.t().reshape(-1)),
    "a view resized in its memory, laid out as the result": lambda T: (
        T.add(T.tensor(X).t(), 1, out=(b := T.zeros(3, 4))[0]), b),
    # (fuzzer seed 22750171: an empty view resized in its memory starts at its offset)
    "an empty view resized in its memory": lambda T: (
        T.mul(T.ones(3, 1), 2, out=(b := T.zeros(12))[4:4]), b,
        T.exp(T.zeros(2), out=b.view(2, 3, 2)[:1][1:]), b),
    "a factory resizes out without a warning": lambda T: [
        (T.zeros(4, out=(o := T.ones(2, 2))), o.stride()), T.eye(2, out=T.ones(3)),
        T.full((3,), 2.0, out=T.ones(5)), T.linspace(0, 1, 3, out=T.ones(2)),
        T.randperm(1, out=T.ones(4, dtype=T.int64))],
    "a sequence fills an out of as many elements in its shape": lambda T: [
        (T.arange(4, out=(o := T.zeros(2, 2).t())), o.stride()),
        T.linspace(0, 3, 4, out=T.zeros(2, 2)), T.logspace(0, 1, 2, out=T.zeros(1, 2))],
    "arange resizes an out of another number of elements in its own words": lambda T: (
        T.arange(4, out=T.zeros(2, 3)), T.arange(0, 1, 0.5, out=T.zeros(3)),
        T.arange(3, out=T.zeros(0))),
    "cast up": lambda T: T.sub(T.tensor(X), 1, out=T.empty(2, 3, dtype=T.float64)),
    "refused cast": lambda T: T.div(T.tensor(X), 2, out=T.empty(2, 3, dtype=T.int64)),
    "integer into float": lambda T: T.arange(4, out=T.empty(4)),
    "two results": lambda T: list(T.max(T.tensor(X), 1, out=(
        T.empty(0), T.empty(0, dtype=T.int64)))),
    "sort": lambda T: list(T.sort(T.tensor(X), out=(T.empty(2, 3), T.empty(2, 3, dtype=T.int64)))),
    "linalg": lambda T: T.linalg.inv(T.tensor([[2.0, 1.0], [1.0, 3.0]]), out=T.empty(2, 2)),
    "cat": lambda T: T.cat([T.tensor(X), T.tensor(X)], out=T.empty(4, 3)),
    "zeros": lambda T: (T.zeros(2, 2, out=(o := T.ones(2, 2))), o),
    "an input requires grad": lambda T: T.add(T.tensor(X, requires_grad=True), 1,
                                              out=T.empty(2, 3)),
    "out requires grad": lambda T: T.neg(T.tensor(X), out=T.empty(2, 3, requires_grad=True)),
    "under no_grad": lambda T: _no_grad(T),
    # (found by the program fuzzer, seed 22738532: a gradient reaching a tensor resized by
    # out= after it was made fits the shape its node recorded, summed down or refused)
    "a result resized under no_grad, its gradient refused": lambda T: _resized_result(
        T, lambda x: x.min(1).values, lambda x, o: T.maximum(x, x * 0.5, out=o)),
    "a result resized under no_grad, its gradient summed down": lambda T: _resized_result(
        T, lambda x: x.sum(0), lambda x, o: T.add(x[:1], 1, out=o)),
}


def _resized_result(T, make, write):
    x = T.tensor(X, requires_grad=True)
    out = make(x)
    with T.no_grad():
        write(x, out)
    (out * out).sum().backward()
    return out.shape, x.grad


def _no_grad(T):
    with T.no_grad():
        out = T.add(T.tensor(X, requires_grad=True), 1, out=T.empty(2, 3))
    return out, out.requires_grad


def _warned_where(T):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        T.add(T.ones(2), 1, out=T.zeros(3))
        T.cat([T.ones(2)], out=T.zeros(3))
        T.arange(2, out=T.zeros(3))
    return [(w.category, w.filename, w.lineno) for w in seen]


def test_the_resize_warning_shows_at_the_users_call():
    """torch's C++ warning is shown at the Python line that called the op."""
    shown = _warned_where(torch)
    assert _warned_where(dg) == shown
    assert len(shown) == 3 and {filename for _, filename, _ in shown} == {__file__}


@pytest.mark.parametrize("case", sorted(CASES))
def test_out_writes_as_torch(case):
    got_torch, got_dg = _both(CASES[case])
    assert got_dg[0] == got_torch[0]
    assert got_dg[1] == got_torch[1]  # (ending with where torch's C++ raised them, as torch's)


def _torch_takes_out(module, name) -> bool:
    """Whether torch's documented signature of module.name has an out parameter."""
    doc = getattr(getattr(module, name, None), "__doc__", None) or ""
    head = re.compile(rf"^(torch\.)?(linalg\.)?{name}\(")
    return any(head.match(line.strip()) and re.search(r"\bout\s*[:=]", line)
               for line in doc.splitlines()[:60])


@pytest.mark.parametrize("module, ours, names", [(torch, dg, out_param.NAMESPACE),
                                                 (torch.linalg, dg.linalg, out_param.LINALG)])
def test_every_function_torch_gives_out_takes_it(module, ours, names):
    public = [n for n in dir(ours) if not n.startswith("_") and callable(getattr(ours, n))
              and not isinstance(getattr(ours, n), type)]
    missing = [n for n in public if _torch_takes_out(module, n) and n not in names]
    assert not missing
    assert all(hasattr(ours, n) for n in names)


NAMED_WITH_OUT = {  # a function with named results, called with out=: torch's <name>_out type
    "max": lambda T, x, o: T.max(x, 0, out=o), "min": lambda T, x, o: T.min(x, 1, out=o),
    "sort": lambda T, x, o: T.sort(x, out=o), "topk": lambda T, x, o: T.topk(x, 2, out=o),
    "kthvalue": lambda T, x, o: T.kthvalue(x, 1, out=o), "mode": lambda T, x, o: T.mode(x, out=o),
    "median": lambda T, x, o: T.median(x, 0, out=o),
    "cummax": lambda T, x, o: T.cummax(x, 0, out=o),
    "linalg_qr": lambda T, x, o: T.linalg.qr(x, out=o),
    "linalg_slogdet": lambda T, x, o: T.linalg.slogdet(x, out=o),
}


@pytest.mark.parametrize("name", sorted(NAMED_WITH_OUT))
def test_named_results_with_out_are_torchs_out_types(name):
    got = []
    for T in (torch, dg):
        x = T.tensor([[3.0, 1.0, 2.0], [0.5, 4.0, 1.5], [2.0, 2.5, 0.1]])
        index = T.long if name not in ("linalg_qr", "linalg_slogdet") else T.float32
        outs = (T.empty(0), T.empty(0, dtype=index))
        r = NAMED_WITH_OUT[name](T, x, outs)
        assert r[0] is outs[0] and r[1] is outs[1]
        got.append((type(r).__name__, repr(r).split("(")[0]))
    assert got[0] == got[1]


OVERLAPPING_OUT = {  # out= a view that partly overlaps an input: torch refuses these
    "add": lambda T, x: T.add(x[:4], 1, out=x[1:5]),
    "mul": lambda T, x: T.mul(x[:4], x[4:], out=x[2:6]),
    "exp": lambda T, x: T.exp(x[:4], out=x[1:5]),
    "clamp": lambda T, x: T.clamp(x[:4], 0, 3, out=x[1:5]),
    "where": lambda T, x: T.where(x[:4] > 2, x[:4], x[4:], out=x[1:5]),
    "cumsum": lambda T, x: T.cumsum(x[:4], 0, out=x[1:5]),
    "cat": lambda T, x: T.cat([x[:2], x[2:4]], out=x[1:5]),
    "sort": lambda T, x: T.sort(x[:4], out=(x[1:5], T.zeros(4, dtype=T.int64))),
    "gather": lambda T, x: T.gather(x[:4], 0, T.tensor([0, 1, 2, 3]), out=x[1:5]),
    "addmm": lambda T, x: T.addmm(x[:4].view(2, 2), x[:4].view(2, 2), x[:4].view(2, 2),
                                  out=x[1:5].view(2, 2)),
    # what torch allows: the same view, a disjoint one, a matrix product (its result there
    # is undefined: only that it runs is compared)
    "add_same_view": lambda T, x: T.add(x[:4], 1, out=x[:4]),
    "add_disjoint": lambda T, x: T.add(x[:4], 1, out=x[4:]),
    "mm": lambda T, x: T.mm(x[:4].view(2, 2), x[:4].view(2, 2), out=x[1:5].view(2, 2)) * 0,
    # (an added product's factors are read unchecked; its added input is copied into out)
    "addmm_factor": lambda T, x: T.addmm(T.ones_like(x[:4]).view(2, 2), x[:4].view(2, 2),
                                         T.ones_like(x[:4]).view(2, 2), out=x[1:5].view(2, 2)),
    "baddbmm_factor": lambda T, x: T.baddbmm(
        T.ones_like(x[:4]).view(1, 2, 2), x[:4].view(1, 2, 2), T.ones_like(x[:4]).view(1, 2, 2),
        out=x[1:5].view(1, 2, 2)),
    # an argument torch's parser refuses is told before the overlap
    "cat_not_a_sequence": lambda T, x: T.cat(x[:4], out=x[1:5]),
}


@pytest.mark.parametrize("case", sorted(OVERLAPPING_OUT))
def test_an_out_overlapping_an_input_is_refused_as_torch(case):
    def seen(T):
        x = T.tensor(np.arange(1.0, 9.0))
        try:
            r = OVERLAPPING_OUT[case](T, x)
        except (RuntimeError, TypeError) as e:
            return type(e).__name__, str(e).split(",")[0][:60]
        return "ok", None if case == "mm" or case.endswith("_factor") else x.tolist()
    assert seen(dg) == seen(torch)


def _x(T):
    return T.tensor([1.0, -2.0, 0.0, 3.0], dtype=T.float64)


def _z(T, dtype, *shape):
    return T.zeros(shape, dtype=getattr(T, dtype))


OUT_OF_A_DTYPE = {  # out= of a dtype the function refuses (or takes), each with torch's words
    "argmax_bool": lambda T: T.argmax(_x(T), out=_z(T, "bool")),
    "argmin_long": lambda T: T.argmin(_x(T), out=_z(T, "int64")),
    "max_dim_values": lambda T: T.max(_x(T).view(2, 2), 0, out=(_z(T, "float32", 2),
                                                                 _z(T, "int64", 2))),
    "max_dim_indices": lambda T: T.max(_x(T).view(2, 2), 0, out=(_z(T, "float64", 2),
                                                                  _z(T, "float64", 2))),
    "max_whole_casts": lambda T: T.max(_x(T), out=_z(T, "float32")),
    "sort_values": lambda T: T.sort(_x(T), out=(_z(T, "float32", 4), _z(T, "int64", 4))),
    "topk_indices": lambda T: T.topk(_x(T), 2, out=(_z(T, "float64", 2), _z(T, "float64", 2))),
    "kthvalue_values": lambda T: T.kthvalue(_x(T), 1, out=(_z(T, "float32"), _z(T, "int64"))),
    "kthvalue_indices": lambda T: T.kthvalue(_x(T), 1, out=(_z(T, "float64"),
                                                            _z(T, "float64"))),
    "cummax_values": lambda T: T.cummax(_x(T), 0, out=(_z(T, "float32", 4), _z(T, "int64", 4))),
    "median_indices": lambda T: T.median(_x(T).view(2, 2), 0, out=(_z(T, "float64", 2),
                                                                    _z(T, "float64", 2))),
    "median_values": lambda T: T.median(_x(T).view(2, 2), 0, out=(_z(T, "float32", 2),
                                                                   _z(T, "int64", 2))),
    "mode_indices": lambda T: T.mode(_x(T), 0, out=(_z(T, "float64"), _z(T, "float64"))),
    "all_float": lambda T: T.all(_x(T), out=_z(T, "float64")),
    "any_long": lambda T: T.any(_x(T), out=_z(T, "int64")),
    "all_bool": lambda T: T.all(_x(T), out=_z(T, "bool")),
    "isneginf_float": lambda T: T.isneginf(_x(T), out=_z(T, "float64", 4)),
    "signbit_long": lambda T: T.signbit(_x(T), out=_z(T, "int64", 4)),
    "nonzero_float": lambda T: T.nonzero(_x(T), out=_z(T, "float64", 3, 1)),
    "searchsorted_float": lambda T: T.searchsorted(_x(T).sort()[0], _x(T),
                                                   out=_z(T, "float64", 4)),
    "eq_float_casts": lambda T: T.eq(_x(T), 0, out=_z(T, "float64", 4)),
    # TensorIterator's ops that do not promote want out of their very dtype (fuzzer seed
    # 22078042: neg of a double into a 0-dim float); those that promote cast
    "neg_0dim_float": lambda T: T.neg(_x(T), out=_z(T, "float32")),
    "abs_int_into_long": lambda T: T.abs(_x(T).int(), out=_z(T, "int64", 4)),
    "floor_float": lambda T: T.floor(_x(T), out=_z(T, "float32", 4)),
    "round_decimals_float": lambda T: T.round(_x(T), decimals=1, out=_z(T, "float32", 4)),
    "sgn_half": lambda T: T.sgn(_x(T), out=_z(T, "float16", 4)),
    "lerp_tensor_weight": lambda T: T.lerp(_x(T), _x(T), _x(T), out=_z(T, "float32", 4)),
    "lerp_number_weight_casts": lambda T: T.lerp(_x(T), _x(T), 0.5, out=_z(T, "float32", 4)),
    "exp_casts": lambda T: T.exp(_x(T), out=_z(T, "float32", 4)),
    # the kernels of torch's own, each in its words
    "mm_float": lambda T: T.mm(_x(T).view(2, 2), _x(T).view(2, 2), out=_z(T, "float32", 2, 2)),
    "tril_long": lambda T: T.tril(_x(T).view(2, 2), out=_z(T, "int64", 2, 2)),
    "gather_float": lambda T: T.gather(_x(T), 0, T.tensor([1, 0]), out=_z(T, "float32", 2)),
    "dot_float": lambda T: T.dot(_x(T), _x(T), out=_z(T, "float32")),
    "histc_float": lambda T: T.histc(_x(T), 4, out=_z(T, "float32", 4)),
    "index_select_float": lambda T: T.index_select(_x(T), 0, T.tensor([1]),
                                                   out=_z(T, "float32", 1)),
    "amax_float": lambda T: T.amax(_x(T), 0, out=_z(T, "float32")),
    "quantile_float": lambda T: T.quantile(_x(T), 0.5, out=_z(T, "float32")),
    "nan_to_num_float": lambda T: T.nan_to_num(_x(T), out=_z(T, "float32", 4)),
    "where_float": lambda T: T.where(_x(T) > 0, _x(T), _x(T), out=_z(T, "float32", 4)),
    "float_power_float": lambda T: T.float_power(_x(T), 2, out=_z(T, "float32", 4)),
    "heaviside_float": lambda T: T.heaviside(_x(T), _x(T), out=_z(T, "float32", 4)),
    "tensordot_float": lambda T: T.tensordot(_x(T), _x(T), 1, out=_z(T, "float32")),
    "logcumsumexp_float": lambda T: T.logcumsumexp(_x(T), 0, out=_z(T, "float32", 4)),
    "matrix_power_long": lambda T: T.matrix_power(_x(T).view(2, 2), 2, out=_z(T, "int64", 2, 2)),
    "max_whole_long": lambda T: T.max(_x(T), out=_z(T, "int64")),
    "cumsum_takes_outs_dtype": lambda T: T.cumsum(_x(T), 0, out=_z(T, "int64", 4)),
    "zeros_takes_outs_dtype": lambda T: T.zeros(2, out=_z(T, "int64", 2)),
    "full_takes_outs_dtype": lambda T: T.full((2,), 1.5, out=_z(T, "int64", 2)),
    "ones_of_another_dtype": lambda T: T.ones(2, dtype=T.float64, out=_z(T, "float32", 2)),
    "linalg_norm_float": lambda T: T.linalg.norm(_x(T), out=_z(T, "float32")),
    "linalg_inv_float": lambda T: T.linalg.inv(_x(T).view(2, 2), out=_z(T, "float32", 2, 2)),
    "linalg_vecdot_float": lambda T: T.linalg.vecdot(_x(T), _x(T), out=_z(T, "float32")),
    "linalg_pinv_long": lambda T: T.linalg.pinv(_x(T).view(2, 2), out=_z(T, "int64", 2, 2)),
}


@pytest.mark.parametrize("case", sorted(OUT_OF_A_DTYPE))
def test_an_out_of_a_dtype_the_function_refuses_as_torch(case):
    def seen(T):
        try:
            r = OUT_OF_A_DTYPE[case](T)
        except RuntimeError as e:
            return str(e)
        return [v.tolist() for v in r] if isinstance(r, tuple) else r.tolist()
    assert seen(dg) == seen(torch)


@pytest.mark.parametrize("name", sorted(out_param.CAT_FAMILY))
@pytest.mark.parametrize("out_dtype", ["int64", "bool"])
def test_cat_refuses_an_out_its_inputs_cannot_be_cast_to_with_a_type_error(name, out_dtype):
    # (fuzzer seed 103 of the out= family: torch's cat raises TypeError, not RuntimeError)
    def program(T):
        out = T.empty(0, dtype=getattr(T, out_dtype))
        with T.no_grad():
            return getattr(T, name)([T.tensor(X), T.tensor(X)], out=out)

    ours, theirs = _both(program)
    assert ours == theirs
    assert theirs[0][0] == "TypeError"


SUM_OUT_CASES = {
    "sum into int64": lambda T: T.sum(T.tensor(X) * 0.5, 0, out=T.empty(0, dtype=T.int64)),
    "sum into bool": lambda T: T.sum(T.tensor(X), 0, out=T.empty(0, dtype=T.bool)),
    "prod into int64": lambda T: T.prod(T.tensor(X) + 0.7, 1, out=T.empty(0, dtype=T.int64)),
    "sum into float64": lambda T: T.sum(T.tensor(X), (0, 1), out=T.empty(0, dtype=T.float64)),
    "sum with another dtype=": lambda T: T.sum(T.tensor(X), 0, dtype=T.float32,
                                               out=T.empty(0, dtype=T.float64)),
    "sum with dtype=int64": lambda T: T.sum(T.tensor([[0.44, 1.34], [-0.56, -0.93]]), 0,
                                            dtype=T.int64),
}


@pytest.mark.parametrize("case", list(SUM_OUT_CASES))
def test_sum_and_prod_compute_in_outs_dtype_as_torch(case):
    # torch takes sum's and prod's result dtype from out, casting the input first (1.34 and
    # -0.93 sum to 1 as int64); fuzzer seeds 20001424, 20004834 of the out= family
    ours, theirs = _both(SUM_OUT_CASES[case])
    assert ours == theirs


def _ints(T):
    return T.tensor([[1, 2, 3], [4, 5, 6]])


def _nans(T):
    return T.tensor([[1.5, float("nan"), 3.0], [4.0, 5.0, 6.0]])


NANSUM_OUT_CASES = {
    # an integer input's nansum is its sum: the dtype from out, or dtype= which out must have
    "ints with dtype=float32 into int64": lambda T: T.nansum(
        _ints(T), 0, dtype=T.float32, out=T.empty(0, dtype=T.int64)),
    "ints with dtype=int64 into int32": lambda T: T.nansum(
        _ints(T), 0, dtype=T.int64, out=T.empty(0, dtype=T.int32)),
    "ints with dtype=float64 into float32": lambda T: T.nansum(
        _ints(T), 0, dtype=T.float64, out=T.empty(0)),
    "ints into bool": lambda T: T.nansum(_ints(T), 0, out=T.empty(0, dtype=T.bool)),
    "ints into float32": lambda T: T.nansum(_ints(T), 1, out=T.empty(0)),
    "ints into a tuple": lambda T: T.nansum(_ints(T), 0, out=(T.empty(0, dtype=T.int64),)),
    "ints into a number": lambda T: T.nansum(_ints(T), 0, out=5),
    # a float input's: computed in out's dtype (a float's only), which dtype= must match; an
    # integer dtype= is sum's, of the input with nan as 0
    "floats into int64": lambda T: T.nansum(_nans(T), 0, out=T.empty(0, dtype=T.int64)),
    "floats into bool": lambda T: T.nansum(_nans(T), 0, out=T.empty(0, dtype=T.bool)),
    "floats with dtype=float64 into float32": lambda T: T.nansum(
        _nans(T), 0, dtype=T.float64, out=T.empty(0)),
    "floats into float64": lambda T: T.nansum(_nans(T), 0, out=T.empty(0, dtype=T.float64)),
    "floats with dtype=int64": lambda T: T.nansum(_nans(T), 0, dtype=T.int64),
    "floats with dtype=int32 into int32": lambda T: T.nansum(
        _nans(T) * 1e10, 0, dtype=T.int32, out=T.empty(0, dtype=T.int32)),
    "floats with dtype=int64 into int32": lambda T: T.nansum(
        _nans(T), 0, dtype=T.int64, out=T.empty(0, dtype=T.int32)),
    "floats with dtype=bool": lambda T: T.nansum(_nans(T), 0, dtype=T.bool),
}


@pytest.mark.parametrize("case", list(NANSUM_OUT_CASES))
def test_nansum_into_out_as_torch(case):
    ours, theirs = _both(NANSUM_OUT_CASES[case])
    assert ours == theirs


@pytest.mark.parametrize("call", [lambda T, o: T.clamp(T.tensor(X), 0, 1, out=o),
                                  lambda T, o: T.clip(T.tensor(X), min=0, out=o),
                                  lambda T, o: T.clamp(T.tensor(X), T.tensor([0.0]), out=o)])
@pytest.mark.parametrize("out_dtype", ["float64", "int64", "float32"])
def test_clamp_by_numbers_wants_out_of_the_results_dtype(call, out_dtype):
    # clamp's Scalar overloads refuse an out of another dtype ("Found dtype Double but
    # expected Float"), its Tensor overload casts (fuzzer seeds 21005689, 21001925)
    ours, theirs = _both(lambda T: call(T, T.empty(0, dtype=getattr(T, out_dtype))))
    assert ours == theirs


def test_out_takes_torchs_out_overload_only():
    """torch.where(c, 0.5, x) takes a number, its out= overload tensors only; quantile's
    parser refuses an out that is no tensor with its invalid-combination TypeError."""
    from torch_twin import attempt, same

    def f(T):
        x = T.arange(4.0) - 1
        return [attempt(T.where, x > 0, 0.5, x, out=T.empty(4)),
                attempt(T.where, x > 0, x, 0.5, out=T.empty(4)),
                attempt(T.where, x > 0, 0.5, 1.5, out=T.empty(4)),
                attempt(T.where, x > 0, x, x, out=T.empty(4)), T.where(x > 0, 1.0, x),
                attempt(T.where, x > 0, x, 2, out=T.empty(4, dtype=T.long)),
                attempt(T.quantile, x, T.tensor([0.5]), out=[1]),
                attempt(T.quantile, x, 0.5, out=T.empty(())),
                attempt(T.nanquantile, x, 0.5, out=3)]

    same(f)


def _special_calls(T):
    """torch.special's functions that take out=, on a tensor or two (or a number)."""
    x, y = T.tensor([0.5, 1.5]), T.tensor([2.0, 3.0])
    calls = {}
    for name in torch.special.__all__:
        fn = getattr(T.special, name, None)
        if name in ("multigammaln", "polygamma"):
            calls[name] = (fn, (x + 1, 2) if name == "multigammaln" else (1, x))
        elif name in ("gammainc", "gammaincc", "xlogy", "xlog1py", "zeta") or "polynomial" in name:
            calls[name] = (fn, (x, y))
        elif name == "logsumexp":
            calls[name] = (fn, (x.view(1, 2), 1))
        elif name not in ("softmax", "log_softmax"):
            calls[name] = (fn, (x,))
    return calls


def test_torch_specials_take_out():
    """Each writes into out= and returns it; with an argument requiring grad, torch's error
    names the op the function runs (special.expit: sigmoid)."""
    def f(T):
        got = []
        for name, (fn, args) in _special_calls(T).items():
            out = T.empty(2)
            got.append((name, attempt(fn, *args, out=out), out))
            grad_args = [a.requires_grad_() if isinstance(a, T.Tensor) else a
                         for a in (a.clone() if isinstance(a, T.Tensor) else a for a in args)]
            got.append((name, attempt(fn, *grad_args, out=T.empty(2))))
        return got

    same(f, rtol=1e-4)
