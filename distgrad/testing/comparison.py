"""assert_close, as torch.testing's: tensors, numbers, booleans and None, and sequences and
mappings of them, compared pairwise; a mismatch raises torch's AssertionError message.

The values are compared in the driver (a tensor on a worker is read); the message's numbers
are computed in the tensors' dtype, as torch computes them, so they print alike.
"""
from __future__ import annotations

import cmath
import collections.abc
import contextlib
from typing import Any, Callable, Optional, Union

import numpy as np

from .. import dtypes
from ..creation import as_tensor
from ..tensor import Tensor

__all__ = ["assert_close"]

# (rtol, atol) by dtype name, torch's _DTYPE_PRECISIONS; other dtypes compare exactly.
_DTYPE_PRECISIONS = {"float16": (0.001, 1e-5), "bfloat16": (0.016, 1e-5),
                     "float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7),
                     "complex32": (0.001, 1e-5), "complex64": (1.3e-6, 1e-5),
                     "complex128": (1e-7, 1e-7)}
_NUMBER_DTYPES = {int: "int64", float: "float64", complex: "complex128"}


class _Mismatch(Exception):
    """A failed comparison: the exception type to raise, its message, and where (item ids)."""

    def __init__(self, type: type, msg: str, id: tuple = ()) -> None:
        super().__init__(msg)
        self.type, self.msg, self.id = type, msg, id

    def to_error(self, msg: Union[str, Callable[[str], str], None] = None) -> Exception:
        if not isinstance(msg, str):
            generated = self.msg
            if self.id:
                generated += "\n\nThe failure occurred for item " + "".join(
                    str([item]) for item in self.id)
            msg = msg(generated) if callable(msg) else generated
        return self.type(msg)


class _Unsupported(Exception):
    """This kind of pair does not handle these inputs; the next kind is tried."""


def _tolerances(names, rtol, atol, id) -> tuple:
    if (rtol is None) ^ (atol is None):
        raise _Mismatch(ValueError, "Both 'rtol' and 'atol' must be either specified or omitted, "
                        f"but got no {'rtol' if rtol is None else 'atol'}.", id)
    if rtol is not None:
        return rtol, atol
    rtols, atols = zip(*[_DTYPE_PRECISIONS.get(n, (0.0, 0.0)) for n in names])
    return max(rtols), max(atols)


def _mismatch_msg(identifier: str, extra: str, abs_diff, atol, rel_diff, rtol,
                  abs_idx=None, rel_idx=None) -> str:
    equality = rtol == 0 and atol == 0

    def diff_line(kind: str, diff, idx, tol) -> str:
        line = f"{kind.title()} difference: {diff}" if idx is None else \
            f"Greatest {kind} difference: {diff} at index {idx}"
        return line + ("" if equality else f" (up to {tol} allowed)") + "\n"

    msg = f"{identifier} are not {'equal' if equality else 'close'}!\n\n{extra.strip()}\n"
    msg += diff_line("absolute", abs_diff, abs_idx, atol)
    msg += diff_line("relative", rel_diff, rel_idx, rtol)
    return msg.strip()


def _scalar_msg(actual, expected, rtol, atol) -> str:
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _mismatch_msg("Scalars", f"Expected {expected} but got {actual}.", abs_diff, atol,
                         rel_diff, rtol)


# ---- the kinds of pair, tried in this order -------------------------------------------------

def _none_pair(actual, expected, id, **options) -> None:
    if not (actual is None or expected is None):
        raise _Unsupported
    if not (actual is None and expected is None):
        raise _Mismatch(AssertionError, f"None mismatch: {actual} is not {expected}", id)


def _bool_pair(actual, expected, id, **options) -> None:
    if not all(isinstance(x, (bool, np.bool_)) for x in (actual, expected)):
        raise _Unsupported
    actual, expected = bool(actual), bool(expected)
    if actual is not expected:
        raise _Mismatch(AssertionError, f"Booleans mismatch: {actual} is not {expected}", id)


def _number_pair(actual, expected, id, rtol=None, atol=None, equal_nan=False,
                 check_dtype=False, **options) -> None:
    kinds = tuple(_NUMBER_DTYPES) + (np.number,)
    if not all(isinstance(x, kinds) for x in (actual, expected)):
        raise _Unsupported
    actual, expected = (x.item() if isinstance(x, np.number) else x for x in (actual, expected))
    rtol, atol = _tolerances([_NUMBER_DTYPES[type(x)] for x in (actual, expected)], rtol, atol, id)
    if check_dtype and type(actual) is not type(expected):
        raise _Mismatch(AssertionError, f"The (d)types do not match: {type(actual)} != "
                        f"{type(expected)}.", id)
    if actual == expected:
        return
    if equal_nan and cmath.isnan(actual) and cmath.isnan(expected):
        return
    abs_diff = abs(actual - expected)
    if cmath.isfinite(abs_diff) and abs_diff <= atol + rtol * abs(expected):
        return
    raise _Mismatch(AssertionError, _scalar_msg(actual, expected, rtol, atol), id)


def _tensor_pair(actual, expected, id, allow_subclasses=True, rtol=None, atol=None,
                 equal_nan=False, check_device=True, check_dtype=True, check_layout=True,
                 check_stride=False, **options) -> None:
    if not (isinstance(actual, type(expected)) or isinstance(expected, type(actual))):
        raise _Unsupported
    if not allow_subclasses and type(actual) is not type(expected):
        raise _Unsupported
    try:
        actual, expected = (x if isinstance(x, Tensor) else as_tensor(x)
                            for x in (actual, expected))
    except Exception:
        raise _Unsupported from None
    rtol, atol = _tolerances([actual.dtype.name, expected.dtype.name], rtol, atol, id)

    def differ(attribute: str, a, e) -> _Mismatch:
        return _Mismatch(AssertionError, f"The values for attribute '{attribute}' do not match: "
                         f"{a} != {e}.", id)

    if actual.shape != expected.shape:
        raise differ("shape", actual.shape, expected.shape)
    if check_stride and actual.stride() != expected.stride():
        raise differ("stride()", actual.stride(), expected.stride())
    if check_device and actual.device != expected.device:
        raise differ("device", actual.device, expected.device)
    if check_dtype and actual.dtype != expected.dtype:
        raise differ("dtype", actual.dtype, expected.dtype)
    common = dtypes.promote(actual.dtype, expected.dtype)
    common = np.dtype(np.float32) if common is dtypes.bfloat16 else common.np  # (numpy has none)
    a = dtypes.cast(np.asarray(actual.detach().cpu()._numpy_value()), common)
    e = dtypes.cast(np.asarray(expected.detach().cpu()._numpy_value()), common)
    matches = _isclose(a, e, rtol, atol, equal_nan)
    if matches.all():
        return
    if a.ndim == 0:
        msg = _scalar_msg(a.item(), e.item(), rtol, atol)
    else:
        msg = _tensor_msg(a, e, matches, rtol, atol)
    raise _Mismatch(AssertionError, msg, id)


def _isclose(a: np.ndarray, e: np.ndarray, rtol, atol, equal_nan) -> np.ndarray:
    """torch.isclose: |a - e| <= atol + rtol·|e|, or equal (infinities), or both NaN."""
    if not np.issubdtype(a.dtype, np.floating) and rtol == 0 and atol == 0:
        return a == e
    return np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan)


def _tensor_msg(a: np.ndarray, e: np.ndarray, matches: np.ndarray, rtol, atol) -> str:
    """torch's make_tensor_mismatch_msg: the count, and the greatest differences among the
    mismatches, computed in the tensors' dtype (int64 for integers, a float32 ratio)."""
    total = matches.size
    mismatched = total - int(matches.sum())
    extra = f"Mismatched elements: {mismatched} / {total} ({mismatched / total:.1%})"
    floating = np.issubdtype(a.dtype, np.floating)
    a, e, m = a.ravel(), e.ravel(), matches.ravel()
    if not floating:
        a, e = a.astype(np.int64), e.astype(np.int64)
    with np.errstate(all="ignore"):
        abs_diff = np.abs(a - e)
        abs_diff[m] = 0
        rel_diff = (abs_diff if floating else abs_diff.astype(np.float32)) / \
            np.abs(e if floating else e.astype(np.float32))
    rel_diff[m] = 0
    abs_at, rel_at = int(np.argmax(abs_diff)), int(np.argmax(rel_diff))
    return _mismatch_msg("Tensor-likes", extra, abs_diff[abs_at].item(), atol,
                         rel_diff[rel_at].item(), rtol,
                         tuple(int(i) for i in np.unravel_index(abs_at, matches.shape)),
                         tuple(int(i) for i in np.unravel_index(rel_at, matches.shape)))


_PAIRS = (_none_pair, _bool_pair, _number_pair, _tensor_pair)


def _compare(actual, expected, id: tuple, options: dict, failures: list) -> None:
    """Recurse through sequences and mappings; compare the leaves with the first kind of pair
    that takes them, collecting their value mismatches; mismatches of structure, unsupported
    inputs and bad tolerances raise at once (torch finds them before comparing any value)."""
    if isinstance(actual, collections.abc.Sequence) and not isinstance(actual, str) and \
            isinstance(expected, collections.abc.Sequence) and not isinstance(expected, str):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError, "The length of the sequences mismatch: "
                            f"{len(actual)} != {len(expected)}", id)
        for idx in range(len(actual)):
            _compare(actual[idx], expected[idx], (*id, idx), options, failures)
        return
    if isinstance(actual, collections.abc.Mapping) and \
            isinstance(expected, collections.abc.Mapping):
        actual_keys, expected_keys = set(actual.keys()), set(expected.keys())
        if actual_keys != expected_keys:
            raise _Mismatch(AssertionError, "The keys of the mappings do not match:\n"
                            f"Missing keys in the actual mapping: "
                            f"{sorted(expected_keys - actual_keys)}\n"
                            f"Additional keys in the actual mapping: "
                            f"{sorted(actual_keys - expected_keys)}", id)
        keys = actual_keys
        with contextlib.suppress(Exception):
            keys = sorted(keys)
        for key in keys:
            _compare(actual[key], expected[key], (*id, key), options, failures)
        return
    for pair in _PAIRS:
        try:
            pair(actual, expected, id, **options)
            return
        except _Unsupported:
            continue
        except _Mismatch as failure:
            if failure.type is not AssertionError:
                raise
            failures.append(failure)
            return
    raise _Mismatch(TypeError, f"No comparison pair was able to handle inputs of type "
                    f"{type(actual)} and {type(expected)}.", id)


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True,
                 rtol: Optional[float] = None, atol: Optional[float] = None,
                 equal_nan: bool = False, check_device: bool = True, check_dtype: bool = True,
                 check_layout: bool = True, check_stride: bool = False,
                 msg: Union[str, Callable[[str], str], None] = None) -> None:
    """Raise AssertionError unless actual and expected are close: |a - e| <= atol + rtol·|e|
    elementwise, with torch's default tolerances for the dtype when neither is given
    (float32: rtol 1.3e-6, atol 1e-5; float64: 1e-7 both; integers and bool: exact).

    >>> distgrad.testing.assert_close(distgrad.tensor([1., 2.]), distgrad.tensor([1., 2.5]))
    Traceback (most recent call last):
    AssertionError: Tensor-likes are not close!
    ...
    """
    __tracebackhide__ = True
    options = dict(allow_subclasses=allow_subclasses, rtol=rtol, atol=atol, equal_nan=equal_nan,
                   check_device=check_device, check_dtype=check_dtype,
                   check_layout=check_layout, check_stride=check_stride)
    failures: list = []
    try:
        _compare(actual, expected, (), options, failures)
    except _Mismatch as failure:  # of the structure or the arguments: msg does not apply
        raise failure.to_error() from None
    if failures:
        raise failures[0].to_error(msg)
