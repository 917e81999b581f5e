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


# Which kernels scaled_dot_product_attention may choose (torch keeps these flags here, CUDA or
# not; torch.nn.attention.sdpa_kernel sets them). On the CPU: the flash kernel, else math.
_sdp_enabled = {"flash": True, "mem_efficient": True, "math": True, "cudnn": True,
                "overrideable": True}


def _sdp_flags() -> dict:
    return dict(_sdp_enabled)


def _set_sdp_flags(flags: dict) -> None:
    _sdp_enabled.update(flags)


def _sdp_switch(name: str):
    """The flag's reader and setter: flash_sdp_enabled() and enable_flash_sdp(enabled), ..."""
    def enabled() -> bool:
        return _sdp_enabled[name]

    def enable(on: bool) -> None:
        _sdp_enabled[name] = bool(on)

    enabled.__name__, enable.__name__ = f"{name}_sdp_enabled", f"enable_{name}_sdp"
    return enabled, enable


flash_sdp_enabled, enable_flash_sdp = _sdp_switch("flash")
mem_efficient_sdp_enabled, enable_mem_efficient_sdp = _sdp_switch("mem_efficient")
math_sdp_enabled, enable_math_sdp = _sdp_switch("math")
cudnn_sdp_enabled, enable_cudnn_sdp = _sdp_switch("cudnn")
