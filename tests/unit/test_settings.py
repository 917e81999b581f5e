"""torch's process-wide switches (distgrad/settings.py) against torch's: what each reports
after each change, and the errors of bad values."""
from __future__ import annotations

import warnings

import pytest
import torch

import distgrad
from torch_twin import attempt, same


def _session(T):
    seen = [T.get_float32_matmul_precision(), T.are_deterministic_algorithms_enabled(),
            T.get_deterministic_debug_mode(), T.is_warn_always_enabled()]
    T.use_deterministic_algorithms(True, warn_only=True)
    seen += [T.are_deterministic_algorithms_enabled(),
             T.is_deterministic_algorithms_warn_only_enabled(), T.get_deterministic_debug_mode()]
    T.set_deterministic_debug_mode("error")
    seen += [T.get_deterministic_debug_mode(), T.is_deterministic_algorithms_warn_only_enabled()]
    T.use_deterministic_algorithms(False, warn_only=True)
    seen += [T.get_deterministic_debug_mode(), T.is_deterministic_algorithms_warn_only_enabled()]
    T.set_deterministic_debug_mode(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        T.set_float32_matmul_precision("low")  # (warned of, and ignored)
    seen += [len(caught), T.get_float32_matmul_precision()]
    T.set_float32_matmul_precision("high")
    seen.append(T.get_float32_matmul_precision())
    T.set_float32_matmul_precision("highest")
    threads = T.get_num_threads()
    T.set_num_threads(1)
    seen.append(T.get_num_threads())
    T.set_num_threads(threads)
    seen += [T.typename(T.zeros(1)), T.typename(T.zeros(1, dtype=T.float64)), T.typename(3),
             T.is_inference(T.zeros(1))]
    return seen


def test_switches_report_as_torchs():
    assert _session(distgrad) == _session(torch)


@pytest.mark.parametrize("call", [
    lambda T: T.set_num_threads(0), lambda T: T.set_num_threads(1.5),
    lambda T: T.set_deterministic_debug_mode("x"), lambda T: T.set_deterministic_debug_mode(3),
    lambda T: T.use_deterministic_algorithms("a"),
])
def test_bad_values_raise_as_torch(call):
    raised = []
    for T in (torch, distgrad):
        with pytest.raises(Exception) as info:
            call(T)
        raised.append((type(info.value).__name__, str(info.value)))
    assert raised[1] == raised[0]


@pytest.fixture
def restored():
    """Each library's switches as they were before the test."""
    saved = [(T, T.are_deterministic_algorithms_enabled(),
              T.is_deterministic_algorithms_warn_only_enabled(),
              T.get_float32_matmul_precision(), T.is_warn_always_enabled())
             for T in (torch, distgrad)]
    yield
    for T, det, warn_only, precision, always in saved:
        T.use_deterministic_algorithms(det, warn_only=warn_only)
        T.set_float32_matmul_precision(precision)
        T.set_warn_always(always)


def test_switches_and_their_errors(restored):
    def scenario(T):
        out = [T.get_num_threads() >= 1, T.get_num_interop_threads() >= 1,
               T.are_deterministic_algorithms_enabled(), T.get_float32_matmul_precision(),
               T.is_warn_always_enabled(), T.get_deterministic_debug_mode()]
        T.set_num_threads(T.get_num_threads())  # (the same number: nothing changes)
        out += [attempt(T.set_num_threads, 0), attempt(T.set_num_threads, 2.5),
                attempt(T.set_num_interop_threads, 0), attempt(T.use_deterministic_algorithms, 1)]
        T.use_deterministic_algorithms(True, warn_only=True)
        out += [T.are_deterministic_algorithms_enabled(),
                T.is_deterministic_algorithms_warn_only_enabled(), T.get_deterministic_debug_mode()]
        T.set_deterministic_debug_mode("error")
        out += [T.get_deterministic_debug_mode(), attempt(T.set_deterministic_debug_mode, "x"),
                attempt(T.set_deterministic_debug_mode, 5)]
        T.set_deterministic_debug_mode(0)
        T.set_float32_matmul_precision("high")
        with warnings.catch_warnings(record=True) as ws:
            warnings.simplefilter("always")
            T.set_float32_matmul_precision("low")
        T.set_warn_always(True)
        return out + [T.are_deterministic_algorithms_enabled(), T.get_float32_matmul_precision(),
                      len(ws), str(ws[0].message)[:90], T.is_warn_always_enabled()]

    same(scenario)


def test_backends_flags():
    def scenario(T):
        b = T.backends
        out = [b.cudnn.enabled, b.cudnn.benchmark, b.cudnn.deterministic, b.cudnn.allow_tf32,
               b.cudnn.is_available(), b.cudnn.version(), b.cuda.is_built(),
               b.cuda.matmul.allow_tf32, b.mps.is_available(), b.mps.is_built(),
               b.openmp.is_available(), b.mkldnn.is_available()]
        with b.cudnn.flags(enabled=False, deterministic=True):
            out += [b.cudnn.enabled, b.cudnn.deterministic, b.cudnn.benchmark]
        return out + [b.cudnn.enabled, b.cudnn.deterministic]

    same(scenario)


def _run_asking_capability(code: str, asked) -> str:
    """The output of `code` in a process of its own (torch reads ATEN_CPU_CAPABILITY when it
    starts), with ATEN_CPU_CAPABILITY=asked, or without it (None)."""
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if asked:
        env["ATEN_CPU_CAPABILITY"] = asked
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(env, PYTHONPATH=root), timeout=300, check=True)
    return done.stdout


@pytest.mark.parametrize("asked", [None, "avx2", "default"])
def test_the_cpu_capability_is_torchs(asked):
    """torch.backends.cpu.get_cpu_capability(): the kernels torch chooses for this CPU, or
    those ATEN_CPU_CAPABILITY asks for."""
    code = ("import torch, distgrad; print(torch.backends.cpu.get_cpu_capability(), "
            "distgrad.backends.cpu.get_cpu_capability())")
    theirs, ours = _run_asking_capability(code, asked).split()
    assert ours == theirs


_KERNEL_ORDERS = """
import numpy as np, torch, distgrad

def run(T):
    T.manual_seed(0)
    x = T.randn(40, 100) * 3 + 1
    F = T.nn.functional
    return [F.layer_norm(x, (100,)), F.layer_norm(x.bfloat16(), (100,)),
            F.group_norm(x.view(8, 5, 100), 5), x.bfloat16().prod(-1)]

same = [np.array_equal(a.float().numpy(), b.float().numpy())
        for a, b in zip(run(torch), run(distgrad))]
x = (np.random.default_rng(5).standard_normal(20000) * 5).astype(np.float32).reshape(400, 50)
share = np.mean(torch.tensor(x).log_softmax(-1).numpy() == distgrad.tensor(x).log_softmax(-1).numpy())
print(same, share > 0.98)
"""


@pytest.mark.parametrize("asked", [None, "avx2"])
def test_vectorized_kernels_keep_the_order_of_the_build_torch_runs(asked):
    """An AVX-512 CPU runs the AVX-512 build of torch's softmax kernels (16 float32 lanes
    to a row's sum) but the AVX2 build of most others (8 lanes: layer and group norm's
    moments, a bfloat16 prod's blocks); ATEN_CPU_CAPABILITY=avx2 runs AVX2 builds only.
    distgrad adds and multiplies as the build torch runs does: the same bits (and
    log_softmax's share of them where its exponentials round alike)."""
    from distgrad.ops.vector_sum import float32_lanes

    if float32_lanes() is None:
        pytest.skip("torch's vectorized order is known here for x86 kernels only")
    assert _run_asking_capability(_KERNEL_ORDERS, asked).split("\n")[0] == \
        "[True, True, True, True] True"


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_onednn_computes_in_the_low_dtypes_where_torchs_does(dtype):
    """Which float16/bfloat16 convolutions and LSTMs torch gives oneDNN on this CPU (the
    others take its slow kernels, with their own roundings, or fail)."""
    from distgrad.ops.cpu_features import onednn_computes

    short = {"bfloat16": "bf16", "float16": "fp16"}[dtype]
    assert onednn_computes(dtype) == getattr(torch.ops.mkldnn, f"_is_mkldnn_{short}_supported")()
