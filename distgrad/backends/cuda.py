"""torch.backends.cuda of a build without CUDA: is_built() False, the matmul flags kept, and
the scaled-dot-product-attention backend flags, which torch's CPU kernel reads too: with
flash disabled, F.scaled_dot_product_attention takes the math path (nn.attention.sdpa_kernel
sets them)."""
from __future__ import annotations


class _MatmulFlags:
    def __init__(self) -> None:
        self.allow_tf32 = False
        self.allow_fp16_reduced_precision_reduction = True
        self.allow_bf16_reduced_precision_reduction = True


matmul = _MatmulFlags()


def is_built() -> bool:
    return False


_sdp_enabled = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True}


def _switch(name: str):
    """torch's pair for one backend: enable_<name>_sdp(bool) and <name>_sdp_enabled()."""
    def enable(enabled: bool) -> None:
        _sdp_enabled[name] = bool(enabled)

    def is_enabled() -> bool:
        return _sdp_enabled[name]
    return enable, is_enabled


enable_flash_sdp, flash_sdp_enabled = _switch("flash")
enable_mem_efficient_sdp, mem_efficient_sdp_enabled = _switch("mem_efficient")
enable_math_sdp, math_sdp_enabled = _switch("math")
enable_cudnn_sdp, cudnn_sdp_enabled = _switch("cudnn")
