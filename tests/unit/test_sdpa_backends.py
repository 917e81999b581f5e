"""torch.nn.attention.sdpa_kernel and SDPBackend, and the backend flags they set: which of
torch's CPU kernels scaled_dot_product_attention takes (its node shows it), and its errors
and warnings when none it may take applies."""
from __future__ import annotations

import warnings

import pytest

from torch_twin import attempt, same


def _attention(torch, backends, dropout_p=0.0, module=False):
    nn = torch.nn
    torch.manual_seed(0)
    q = torch.randn(1, 2, 3, 4, requires_grad=True)
    with nn.attention.sdpa_kernel(backends(nn.attention.SDPBackend)):
        flags = [torch.backends.cuda.flash_sdp_enabled(), torch.backends.cuda.math_sdp_enabled(),
                 torch.backends.cuda.mem_efficient_sdp_enabled()]
        if module:
            m = nn.MultiheadAttention(4, 2, batch_first=True)
            x = torch.randn(2, 3, 4)
            return flags, m(x, x, x)[0]
        y = attempt(lambda: nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=dropout_p))
    if not hasattr(y, "grad_fn"):
        return flags, y, torch.backends.cuda.flash_sdp_enabled()
    return flags, y.grad_fn.name(), y, torch.autograd.grad(y.sum(), q)[0], \
        torch.backends.cuda.flash_sdp_enabled()


@pytest.mark.parametrize("backends", [
    lambda B: B.MATH, lambda B: [B.FLASH_ATTENTION], lambda B: [B.MATH, B.FLASH_ATTENTION],
    lambda B: B.EFFICIENT_ATTENTION, lambda B: [B.CUDNN_ATTENTION, B.FLASH_ATTENTION]],
    ids=["math", "flash", "both", "efficient", "cudnn_flash"])
@pytest.mark.parametrize("dropout_p", [0.0, 0.5])
def test_the_kernel_sdpa_kernel_allows_is_taken(backends, dropout_p):
    if dropout_p:  # (dropout's draws differ by path; only which path and the errors compare)
        def f(torch):
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                result = _attention(torch, backends, dropout_p)[:2]
            # (torch's C++ warnings end with the place they were raised in its sources)
            return result, [str(w.message).split(" (Triggered internally")[0] for w in seen]
        same(f, warnings_too=False)
    else:
        same(lambda torch: _attention(torch, backends))


def test_multihead_attention_under_the_math_kernel():
    same(lambda torch: _attention(torch, lambda B: B.MATH, module=True))


def test_sdpa_backend_names_and_a_wrong_argument():
    def f(torch):
        B = torch.nn.attention.SDPBackend
        members = [(str(b), repr(b), int(b)) for b in (B.ERROR, B.MATH, B.FLASH_ATTENTION,
                                                         B.EFFICIENT_ATTENTION,
                                                         B.CUDNN_ATTENTION, B.OVERRIDEABLE)]

        def enter():
            with torch.nn.attention.sdpa_kernel("math"):
                pass
        return members, attempt(enter), torch.backends.cuda.math_sdp_enabled()
    same(f)
