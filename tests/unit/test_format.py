"""format_tensor must match torch's repr character for character."""

import math

import numpy as np
import pytest
import torch

from distgrad._format import format_tensor


def _torch_suffixes(t):
    """The extras our caller would pass for tensor ``t`` (no device on CPU)."""
    if t.grad_fn is not None:
        return [f"grad_fn=<{type(t.grad_fn).__name__}>"]
    if t.requires_grad:
        return ["requires_grad=True"]
    return []


def _ours(t, suffixes=None):
    if suffixes is None:
        suffixes = _torch_suffixes(t)
    dtype_name = str(t.dtype).removeprefix("torch.")
    return format_tensor(t.detach().numpy(), dtype_name, suffixes)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _cases():
    g = _gen(0)
    cases = {}
    for shape in [(), (3,), (2, 3), (5, 3), (2, 3, 4), (100,), (2000,), (40, 40),
                  (2, 3, 4, 5), (1, 1), (3, 1), (1, 7)]:
        cases[f"randn{shape}"] = torch.randn(shape, generator=g)
    cases["summarized_3d"] = torch.randn(10, 20, 30, generator=g)
    cases["summarized_short_rows"] = torch.randn(400, 3, generator=g)
    cases["summarized_int"] = torch.randint(-10**6, 10**6, (50, 50), generator=g)
    cases["exactly_threshold"] = torch.randn(1000, generator=g)
    cases["threshold_plus_one"] = torch.randn(1001, generator=g)
    cases["small"] = torch.rand(2, 3, generator=g) * 1e-5
    cases["large"] = torch.rand(2, 3, generator=g) * 1e6
    cases["huge"] = torch.rand(5, generator=g) * 1e9
    cases["wide_range"] = torch.tensor([1e-3, 1.0, 5.0])
    cases["ratio_just_1000"] = torch.tensor([1.0, 1000.0])
    cases["ratio_above_1000"] = torch.tensor([1.0, 1000.5])
    cases["mixed_sign"] = torch.randn(4, 5, generator=g) * 100
    cases["int_valued"] = torch.tensor([1.0, 2.0, -3.0, 40.0])
    cases["int_valued_sci"] = torch.tensor([1.0, 1e9])
    cases["int_valued_2d"] = torch.arange(12.0).reshape(3, 4)
    cases["zeros"] = torch.zeros(3)
    cases["zeros_2d"] = torch.zeros(2, 2)
    cases["neg_zero"] = torch.tensor([-0.0, 0.0, 1.0])
    cases["neg_zero_alone"] = torch.tensor([-0.0, 0.0])
    cases["neg_zero_frac"] = torch.tensor([-0.0, 0.5])
    cases["scalar"] = torch.tensor(1.5)
    cases["scalar_int_valued"] = torch.tensor(3.0)
    cases["scalar_small"] = torch.tensor(1e-7)
    cases["scalar_nan"] = torch.tensor(float("nan"))
    cases["nan_inf"] = torch.tensor([float("nan"), float("inf"), -float("inf"), 1.5])
    cases["nan_inf_int"] = torch.tensor([float("nan"), float("inf"), 2.0])
    cases["nan_inf_sci"] = torch.tensor([float("nan"), -float("inf"), 1e-8, 3.0])
    cases["only_nonfinite"] = torch.tensor([float("nan"), float("inf")])
    cases["rounds_up_width"] = torch.tensor([9.99996, -0.5])
    cases["float64"] = torch.randn(3, 4, generator=g, dtype=torch.float64)
    cases["float64_scalar"] = torch.tensor(2.25, dtype=torch.float64)
    cases["float64_long_row"] = torch.randn(30, generator=g, dtype=torch.float64)
    cases["float64_tiny"] = torch.tensor([1e-300, 1.0], dtype=torch.float64)
    cases["int64"] = torch.randint(-100, 100, (3, 4), generator=g)
    cases["int64_scalar"] = torch.tensor(-7)
    cases["int64_long_row"] = torch.arange(100) * 12345
    cases["int64_wide"] = torch.tensor([1, -10**15, 3])
    cases["bool"] = torch.tensor([True, False])
    cases["bool_true"] = torch.tensor([True, True])
    cases["bool_2d"] = torch.rand(4, 5, generator=g) > 0.5
    cases["bool_scalar"] = torch.tensor(False)
    cases["bool_long_row"] = torch.rand(40, generator=g) > 0.5
    cases["long_row_wrap"] = torch.randn(25, generator=g)
    cases["long_row_wrap_2d"] = torch.randn(3, 25, generator=g)
    cases["long_row_wrap_3d"] = torch.randn(2, 2, 20, generator=g)
    cases["long_row_sci"] = torch.randn(20, generator=g) * 1e-6
    for shape in [(0,), (0, 3), (3, 0), (2, 0, 4)]:
        cases[f"empty{shape}"] = torch.zeros(shape)
    cases["empty_f64"] = torch.zeros(0, dtype=torch.float64)
    cases["empty_f64_2d"] = torch.zeros(0, 3, dtype=torch.float64)
    cases["empty_int64"] = torch.zeros(0, dtype=torch.int64)
    cases["empty_int64_2d"] = torch.zeros(2, 0, dtype=torch.int64)
    cases["empty_bool"] = torch.zeros(0, dtype=torch.bool)
    return cases


CASES = _cases()


@pytest.mark.parametrize("name", list(CASES))
def test_plain_matches_torch(name):
    t = CASES[name]
    assert _ours(t) == repr(t) == str(t)


FLOAT_CASES = [n for n, t in CASES.items() if t.dtype.is_floating_point]  # only floats take grad


@pytest.mark.parametrize("name", FLOAT_CASES)
def test_requires_grad_matches_torch(name):
    t = CASES[name]
    leaf = t.clone().requires_grad_()
    assert _ours(leaf) == repr(leaf)


@pytest.mark.parametrize("name", FLOAT_CASES)
def test_grad_fn_matches_torch(name):
    t = CASES[name]
    leaf = t.clone().requires_grad_()
    out = leaf * 1  # MulBackward0
    assert _ours(out) == repr(out)


def test_grad_fn_add_wraps_after_long_row():
    # A full last line forces the suffix onto its own line.
    x = torch.randn(9, generator=_gen(1), requires_grad=True)
    out = x + 1
    assert "\n" in repr(out)
    assert _ours(out) == repr(out)


@pytest.mark.parametrize("n", range(1, 14))
def test_suffix_wrapping_boundary(n):
    # Sweep the last-line length across the linewidth limit.
    x = (torch.arange(float(n)) + 0.5).requires_grad_()
    out = x.to(torch.float64) + 0
    assert _ours(out) == repr(out)


@pytest.fixture
def print_cpu_device(monkeypatch):
    """Make torch believe the default device isn't cpu, so it prints device='cpu'."""
    monkeypatch.setattr(torch._C, "_get_default_device", lambda: "meta")


@pytest.mark.parametrize("name", ["randn(3,)", "float64", "empty(0, 3)",
                                  "empty_int64", "long_row_wrap", "scalar"])
def test_device_suffix_matches_torch(print_cpu_device, name):
    t = CASES[name]
    assert "device='cpu'" in repr(t)
    assert _ours(t, ["device='cpu'"] + _torch_suffixes(t)) == repr(t)
    if t.dtype.is_floating_point:
        out = t.clone().requires_grad_() + 0
        assert _ours(out, ["device='cpu'", "grad_fn=<AddBackward0>"]) == repr(out)


def test_device_suffix_worker():
    # torch can't print a 'worker:1' device; build what it prints for e.g. cuda.
    dev = "device='worker:1'"
    t = torch.tensor([1.0, 2.0])
    assert _ours(t, [dev]) == "tensor([1., 2.], device='worker:1')"
    t64 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    assert (_ours(t64, [dev, "requires_grad=True"])
            == "tensor([1., 2.], device='worker:1', dtype=torch.float64, "
               "requires_grad=True)")
    empty = torch.zeros(0, 3)
    assert _ours(empty, [dev]) == "tensor([], device='worker:1', size=(0, 3))"


def test_inputs_are_numpy_only():
    arr = np.array([[1.0, 2.5], [math.pi, -4.0]], dtype=np.float32)
    assert format_tensor(arr, "float32", []) == repr(torch.from_numpy(arr))


@pytest.mark.parametrize("options", [
    {"precision": 2, "sci_mode": True}, {"sci_mode": False}, {"profile": "short"},
    {"profile": "full"}, {"linewidth": 30, "precision": 3}, {"threshold": 5, "edgeitems": 1},
])
def test_set_printoptions_prints_as_torch_does(options):
    import distgrad

    values = [np.array([1.5, 2.25, 300.0]), np.array([1.0, 2.0]), np.array([1e-8, 2.25, 3e9]),
              np.arange(20.0).reshape(4, 5) * 1.123456, np.arange(2000.0).reshape(40, 50),
              np.arange(12.0) / 7, np.arange(12).reshape(3, 4)]
    try:
        for T in (torch, distgrad):
            T.set_printoptions(**options)
        for v in values:
            assert repr(distgrad.tensor(v)) == repr(torch.tensor(v))
    finally:
        for T in (torch, distgrad):
            T.set_printoptions(profile="default")
    assert repr(distgrad.tensor([1e-8, 3e9])) == repr(torch.tensor([1e-8, 3e9]))


def test_dtype_is_left_out_for_the_default_float_dtype_as_torch():
    # set_default_dtype(float64): float64 tensors print without dtype=, float32 ones with it
    import distgrad

    got = []
    for T in (torch, distgrad):
        T.set_default_dtype(T.float64)
        try:
            got.append([repr(t) for t in (T.tensor([1.0, 2.5]), T.tensor([1.0], dtype=T.float32),
                                          T.tensor([]), T.zeros(0, 2, dtype=T.float32),
                                          T.tensor(2.0), T.tensor([1, 2]))])
        finally:
            T.set_default_dtype(T.float32)
    assert got[0] == got[1]
