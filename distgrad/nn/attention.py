"""torch.nn.attention: MultiheadAttention (torch's module: packed q/k/v projection, output
projection), and sdpa_kernel, which chooses the kernels scaled_dot_product_attention may run."""
from __future__ import annotations

import contextlib
import enum
from typing import Optional

from ..tensor import Tensor
from . import functional as F
from . import init
from .modules import Linear, Module
from .parameter import Parameter

__all__ = ["MultiheadAttention", "SDPBackend", "sdpa_kernel"]


class SDPBackend(enum.IntEnum):
    """torch's attention kernels; on the CPU, FLASH_ATTENTION (its CPU kernel) and MATH run."""
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4

    def __str__(self) -> str:  # (an IntEnum's is its number; torch's names it)
        return f"SDPBackend.{self.name}"


_FLAGS = {SDPBackend.FLASH_ATTENTION: "flash", SDPBackend.EFFICIENT_ATTENTION: "mem_efficient",
          SDPBackend.MATH: "math", SDPBackend.CUDNN_ATTENTION: "cudnn",
          SDPBackend.OVERRIDEABLE: "overrideable"}


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority: bool = False):
    """Within the block scaled_dot_product_attention may run only `backends` (one or a list);
    the flags before it come back after."""
    from ..backends import cuda

    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError("Backend must be an instance of SDPBackend or a list of SDPBackend "
                             f"instances, got {type(backends).__name__}")
    backends = [backends] if isinstance(backends, SDPBackend) else backends
    before = cuda._sdp_flags()
    cuda._set_sdp_flags({flag: backend in backends for backend, flag in _FLAGS.items()})
    try:
        yield {}
    finally:
        cuda._set_sdp_flags(before)


class NonDynamicallyQuantizableLinear(Linear):
    """torch's name for the output projection (it shows in the module's repr)."""


class MultiheadAttention(Module):
    """Attention over num_heads heads of width embed_dim // num_heads. Inputs are (L, N, E),
    or (N, L, E) with batch_first=True, or unbatched (L, E)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        from ..creation import empty

        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads} instead")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        # keys or values of another width: one projection weight each, else one packed
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        like = {"dtype": dtype, "device": device}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * embed_dim, embed_dim, **like))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty(embed_dim, embed_dim, **like))
            self.k_proj_weight = Parameter(empty(embed_dim, self.kdim, **like))
            self.v_proj_weight = Parameter(empty(embed_dim, self.vdim, **like))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * embed_dim, **like))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **like)
        if add_bias_kv:  # one more key and value, learnt, that every query may attend to
            self.bias_k = Parameter(empty(1, 1, embed_dim, **like))
            self.bias_v = Parameter(empty(1, 1, embed_dim, **like))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        for b in (self.bias_k, self.bias_v):
            if b is not None:
                init.xavier_normal_(b)

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Optional[Tensor] = None, need_weights: bool = True,
                attn_mask: Optional[Tensor] = None, average_attn_weights: bool = True,
                is_causal: bool = False):
        batched = query.ndim == 3
        if self._takes_fast_path(query, key, value, attn_mask, key_padding_mask):
            # torch's fused inference kernel: the math of need_weights=True (a row masked out
            # entirely gives NaN), is_causal ignored, the result contiguous
            out, weights = self._forward(query, key, value, key_padding_mask, True, attn_mask,
                                         average_attn_weights, False)
            return out.contiguous(), weights if need_weights else None
        return self._forward(query, key, value, key_padding_mask, need_weights, attn_mask,
                             average_attn_weights, is_causal)

    def _takes_fast_path(self, query, key, value, attn_mask, key_padding_mask) -> bool:
        """torch's conditions for its fast path (MultiheadAttention.forward's
        why_not_fast_path), on any device: a worker's result is the driver's."""
        from ..autograd.grad_mode import is_grad_enabled
        from ..backends import mha

        if any(m is not None and m.dtype.is_floating_point
               for m in (attn_mask, key_padding_mask)):
            return False
        params = (self.in_proj_weight, self.in_proj_bias, self.out_proj.weight,
                  self.out_proj.bias)
        return (mha.get_fastpath_enabled() and query.ndim == 3 and query is key is value
                and not self.training and self.num_heads % 2 == 0 and self.batch_first
                and self.bias_k is None and self.bias_v is None and not self.add_zero_attn
                and self._qkv_same_embed_dim and self.in_proj_bias is not None
                and query.dtype is self.in_proj_weight.dtype is self.in_proj_bias.dtype
                and not (is_grad_enabled() and any(
                    t is not None and t.requires_grad for t in (query,) + params)))

    def _forward(self, query, key, value, key_padding_mask, need_weights, attn_mask,
                 average_attn_weights, is_causal):
        batched = query.ndim == 3
        if self.batch_first and batched:
            # one transpose for self-attention, so q, k and v stay the same tensor
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = (x.transpose(1, 0) for x in (query, key))
                    value = key
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        out, weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            average_attn_weights=average_attn_weights, is_causal=is_causal,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight, k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight)
        if self.batch_first and batched:
            return out.transpose(1, 0), weights
        return out, weights
