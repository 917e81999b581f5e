"""What this CPU lets torch's kernels do, read from /proc/cpuinfo's flags: which vectorized
kernels torch runs (its CPU capability) and which dtypes its oneDNN computes in. Ops whose
results depend on the kernel (a float32 sum's order, a bfloat16 convolution's roundings,
a result's memory format) ask here, so distgrad follows torch on the machine it runs on.
"""
from __future__ import annotations

import functools
import os

_AVX512_CORE = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}
# oneDNN's avx2_vnni_2: AVX2 with the VNNI and NE-convert extensions (low-precision kernels
# without AVX-512)
_AVX2_VNNI_2 = {"avx2", "avx_vnni", "avx_vnni_int8", "avx_ne_convert"}


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset:
    """The CPU's feature flags (empty off Linux or off x86)."""
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(next((line.split(":", 1)[1].split() for line in f
                                   if line.startswith("flags")), []))
    except OSError:
        return frozenset()


@functools.lru_cache(maxsize=1)
def cpu_capability() -> str:
    """The kernels torch runs on this CPU ("AVX512", "AVX2", or "DEFAULT": an x86 without
    AVX2 and FMA, another CPU, or ATEN_CPU_CAPABILITY=default), as
    torch.backends.cpu.get_cpu_capability() names them."""
    flags = cpu_flags()
    best = ("avx512" if _AVX512_CORE <= flags
            else "avx2" if {"avx2", "fma"} <= flags else None)
    asked = os.environ.get("ATEN_CPU_CAPABILITY", "").lower()
    if asked == "default":
        return "DEFAULT"
    if asked == "avx2" and best is not None:
        best = "avx2"
    return best.upper() if best else "DEFAULT"


def kernel_capability(avx512_build: bool = False) -> str:
    """The build of a torch kernel that runs here. torch registers most CPU kernels
    (REGISTER_DISPATCH: prod's, sum's, layer and group norm's) without an AVX-512 build, so
    an AVX-512 CPU runs their AVX2 build; only those registered with
    ALSO_REGISTER_AVX512_DISPATCH (avx512_build: softmax's, log_softmax's) run AVX-512."""
    capability = cpu_capability()
    return "AVX2" if capability == "AVX512" and not avx512_build else capability


def onednn_computes(dtype_name: str) -> bool:
    """Whether torch's oneDNN computes in this dtype here (ideep's bf16/fp16 type support:
    bfloat16 wants AVX-512 or AVX2-VNNI-2, float16 AVX-512-FP16 or AVX2-VNNI-2); where it
    does not, torch takes its own slow kernels, or fails where it has none."""
    flags = cpu_flags()
    if dtype_name == "float32":
        return True
    if dtype_name == "bfloat16":
        return _AVX512_CORE <= flags or _AVX2_VNNI_2 <= flags
    if dtype_name == "float16":
        return (_AVX512_CORE | {"avx512_fp16"}) <= flags or _AVX2_VNNI_2 <= flags
    return False
