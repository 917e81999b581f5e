"""distgrad.testing against torch.testing: assert_close passes and fails on the same cases,
with torch's exception types and messages (counts, greatest differences and their indices,
the failing item of a nested input, attribute mismatches); make_tensor's ranges and errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import distgrad
import distgrad.testing as dtesting


def convert(lib, value):
    """value with its numpy arrays made lib's tensors (lists, tuples and dicts kept)."""
    if isinstance(value, np.ndarray):
        return lib.tensor(value)
    if isinstance(value, (list, tuple)):
        return type(value)(convert(lib, v) for v in value)
    if isinstance(value, dict):
        return {k: convert(lib, v) for k, v in value.items()}
    return value


def outcome(lib, actual, expected, **kwargs):
    """None when assert_close passes, else (exception type, message)."""
    try:
        lib.testing.assert_close(convert(lib, actual), convert(lib, expected), **kwargs)
    except Exception as e:  # noqa: BLE001  (the type is compared)
        return type(e), str(e)
    return None


F32 = np.array([[1.0, 2.0, 3.0], [4.0, -5.0, 0.0]], np.float32)
F64 = F32.astype(np.float64)
I64 = np.array([1, 2, 3, 4], np.int64)

PASSING = {
    "equal": (F32, F32.copy(), {}),
    "within float32 tolerance": (F32 * (1 + 1e-7), F32, {}),
    "within float64 tolerance": (F64 + 5e-8, F64, {}),
    "given tolerances": (F32 + 0.01, F32, dict(rtol=0, atol=0.02)),
    "nan equal_nan": (np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), dict(equal_nan=True)),
    "infinities": (np.array([np.inf, -np.inf]), np.array([np.inf, -np.inf]), {}),
    "dtypes unchecked": (F32, F64, dict(check_dtype=False)),
    "nested": ({"a": [F32, 1.0], "b": (I64, None, True)},
               {"a": [F32, 1.0], "b": (I64, None, True)}, {}),
    "numbers": (1.0 + 1e-9, 1.0, {}),
}

FAILING = {
    "float values": (F32 + np.array([[0, 0.5, 0], [0, 0, 1e-3]], np.float32), F32, {}),
    "zero expected": (F32 + 1, F32, {}),
    "integers": (I64 + np.array([0, 3, 0, -1]), I64, {}),
    "0-d tensor": (np.array(2.0, np.float32), np.array(2.5, np.float32), {}),
    "float64 values": (F64 * 1.001, F64, {}),
    "given tolerances": (F32 + 0.03, F32, dict(rtol=0, atol=0.02)),
    "nan": (np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), {}),
    "shape": (F32, F32[:1], {}),
    "dtype": (F32, F64, {}),
    "nested item": ({"a": [F32, F32]}, {"a": [F32, F32 * 2]}, {}),
    "first failure of several": ([F32 * 3, I64], [F32, I64 + 1], {}),
    "sequence length": ([1, 2], [1, 2, 3], {}),
    "mapping keys": ({"a": 1, "b": 2}, {"a": 1, "c": 2}, {}),
    "number": (1.5, 1.0, {}),
    "number zero": (0.5, 0.0, {}),
    "number types": (1, 1.0, {}),
    "booleans": (True, False, {}),
    "none": (None, 1, {}),
    "rtol alone": (F32, F32, dict(rtol=1e-3)),
    "atol alone": (F32, F32, dict(atol=1e-3)),
    "msg string": (F32 * 2, F32, dict(msg="custom")),
    "msg callable": ([F32 * 2], [F32], dict(msg=lambda m: "Footer " + m)),
    "msg on a structure error": ([1], [1, 2], dict(msg="not used")),
}


@pytest.mark.parametrize("case", sorted(PASSING))
def test_passing_cases_pass_in_both(case):
    actual, expected, kwargs = PASSING[case]
    assert outcome(torch, actual, expected, **kwargs) is None
    assert outcome(distgrad, actual, expected, **kwargs) is None


@pytest.mark.parametrize("case", sorted(FAILING))
def test_failing_cases_raise_torchs_error(case):
    actual, expected, kwargs = FAILING[case]
    t = outcome(torch, actual, expected, **kwargs)
    assert t is not None
    assert outcome(distgrad, actual, expected, **kwargs) == t


def test_a_message_names_count_greatest_differences_and_tolerances():
    _, msg = outcome(distgrad, FAILING["float values"][0], F32)
    assert msg.startswith("Tensor-likes are not close!\n\nMismatched elements: 2 / 6 (33.3%)\n")
    assert "Greatest absolute difference: 0.5 at index (0, 1) (up to 1e-05 allowed)" in msg
    # the second mismatch is where 0 is expected: an infinite relative difference
    assert "Greatest relative difference: inf at index (1, 2) (up to 1.3e-06 allowed)" in msg


def test_unsupported_inputs_raise_type_error():
    for actual, expected in ((distgrad.ones(2), np.ones(2)), ("a", "a")):
        with pytest.raises(TypeError, match="No comparison pair was able to handle inputs of "
                                            "type"):
            dtesting.assert_close(actual, expected)


def test_parameter_and_tensor_unless_subclasses_disallowed():
    p = distgrad.nn.Parameter(distgrad.ones(2))
    dtesting.assert_close(p, distgrad.ones(2))
    with pytest.raises(TypeError):
        dtesting.assert_close(p, distgrad.ones(2), allow_subclasses=False)


@pytest.mark.parametrize("dtype,low,high", [("float32", -9, 9), ("float64", -2.5, 0.5),
                                            ("int64", -9, 10), ("bool", 0, 2)])
def test_make_tensor_ranges(dtype, low, high):
    kwargs = {} if (low, high) in ((-9, 9), (-9, 10), (0, 2)) else dict(low=low, high=high)
    t = dtesting.make_tensor(40, 5, dtype=getattr(distgrad, dtype), device="cpu", **kwargs)
    assert tuple(t.shape) == (40, 5) and repr(t.dtype) == f"torch.{dtype}"
    values = t.numpy().astype(np.float64)
    assert values.min() >= low and values.max() < high
    assert len(np.unique(values)) > 1


def test_make_tensor_options():
    t = dtesting.make_tensor((3, 4), dtype=distgrad.float32, device="cpu", requires_grad=True,
                             noncontiguous=True, exclude_zero=True, low=-1, high=1)
    assert tuple(t.shape) == (3, 4) and t.requires_grad and t.is_leaf
    assert not t.is_contiguous() and (t.detach().numpy() != 0).all()
    ints = dtesting.make_tensor(50, dtype=distgrad.int64, device="cpu", low=0, high=2,
                                exclude_zero=True)
    assert set(ints.tolist()) == {1}


@pytest.mark.parametrize("kwargs", [dict(dtype="int64", requires_grad=True),
                                    dict(dtype="float32", low=2, high=1),
                                    dict(dtype="float32", low=math.nan),
                                    dict(dtype="bool", low=3, high=5)])
def test_make_tensor_errors_as_torchs(kwargs):
    def run(lib):
        args = dict(kwargs, dtype=getattr(lib, kwargs["dtype"]))
        with pytest.raises(Exception) as info:
            lib.testing.make_tensor(2, device="cpu", **args)
        return type(info.value), str(info.value)

    assert run(distgrad) == run(torch)
