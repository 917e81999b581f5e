"""Op cases for the layer ops (embedding, norms, GELU/SiLU, dropout, attention, convolution,
pooling), added to op_cases.CASES and ERRORS: test_ops runs them against torch (values, dtypes,
grad_fn names, first- and second-order gradients) and against float64 finite differences."""
from __future__ import annotations

from op_cases import Arg, B, F, I, K, P, case, error, nnf  # noqa: F401

# ---- embedding -----------------------------------------------------------------------------------

case("embedding", lambda T, w, i: nnf(T).embedding(i, w), F(5, 3), I(2, 3, hi=5),
     covers=("embedding", "embedding_dense_backward"))
# the padding row gets no gradient: not the derivative finite differences see
case("embedding_padding_idx", lambda T, w, i: nnf(T).embedding(i, w, padding_idx=-2), F(4, 2),
     I(6, hi=4), covers="embedding", fd=False)

# ---- norms -----------------------------------------------------------------------------------------

case("layer_norm", lambda T, x, w, b: nnf(T).layer_norm(x, (4,), w, b), F(2, 3, 4), F(4), F(4),
     covers="native_layer_norm")
case("layer_norm_2d_plain", lambda T, x: nnf(T).layer_norm(x, (2, 3), eps=1e-3), F(2, 2, 3),
     covers="native_layer_norm")
case("rms_norm", lambda T, x, w: nnf(T).rms_norm(x, (4,), w), F(3, 4), F(4),
     covers=("pow", "mean", "rsqrt", "mul"))
case("batch_norm_train", lambda T, x, w, b: nnf(T).batch_norm(x, None, None, w, b, training=True),
     F(4, 3, 2), F(3), F(3), covers="native_batch_norm")
case("batch_norm_eval", lambda T, x, w, b, m, v: nnf(T).batch_norm(x, m, v, w, b, eps=1e-3),
     F(2, 3, 2, 2), F(3), F(3), K(3), Arg("f", (3,), 0.5, 2.0, False),
     covers="native_batch_norm")

# ---- activations and dropout -----------------------------------------------------------------------

case("gelu", lambda T, x: nnf(T).gelu(x), F(3, 4, lo=-3, hi=3), covers=("gelu", "gelu_backward"))
case("gelu_tanh", lambda T, x: nnf(T).gelu(x, approximate="tanh"), F(3, 4, lo=-3, hi=3),
     covers=("gelu", "gelu_backward"))
# far out on both sides: the sigmoid form's exp is capped there (no inf * 0)
case("gelu_tanh_far", lambda T, x: nnf(T).gelu(x, approximate="tanh"), F(3, 4, lo=-60, hi=60),
     covers=("gelu", "gelu_backward"))
case("silu", lambda T, x: nnf(T).silu(x), F(3, 4, lo=-4, hi=4), covers="silu")
# p=1 drops everything in both libraries (the mask's values are distgrad's own otherwise)
case("dropout_all", lambda T, x: nnf(T).dropout(x, p=1.0), F(3, 4),
     covers=("dropout_mask", "mul"))

# ---- attention ------------------------------------------------------------------------------------

_SDPA = "scaled_dot_product_attention"
case("sdpa", lambda T, q, k, v: nnf(T).scaled_dot_product_attention(q, k, v), F(2, 1, 3, 4),
     F(2, 1, 5, 4), F(2, 1, 5, 4), covers=_SDPA, grad2=False)
case("sdpa_causal_scale", lambda T, q, k, v: nnf(T).scaled_dot_product_attention(
    q, k, v, is_causal=True, scale=0.3), F(1, 2, 4, 3), F(1, 2, 5, 3), F(1, 2, 5, 3),
    covers=_SDPA, grad2=False)
case("sdpa_bool_mask", lambda T, q, k, v, m: nnf(T).scaled_dot_product_attention(
    q, k, v, attn_mask=m | T.eye(3, 4, dtype=T.bool)), F(1, 2, 3, 2), F(1, 2, 4, 2),
    F(1, 2, 4, 2), B(3, 4), covers=_SDPA, grad2=False)
case("sdpa_float_mask", lambda T, q, k, v, m: nnf(T).scaled_dot_product_attention(
    q, k, v, attn_mask=m), F(2, 1, 3, 2), F(2, 1, 4, 2), F(2, 1, 4, 2), K(3, 4), covers=_SDPA,
    grad2=False)
# torch's math path: 3-D inputs, a value width of its own
case("sdpa_math_causal", lambda T, q, k, v: nnf(T).scaled_dot_product_attention(
    q, k, v, is_causal=True), F(2, 3, 4), F(2, 5, 4), F(2, 5, 3),
    covers=("bmm", "softmax", "masked_fill", "tril"))

# ---- convolution and pooling ------------------------------------------------------------------------

case("conv1d_groups", lambda T, x, w, b: nnf(T).conv1d(x, w, b, stride=2, padding=1, groups=2),
     F(2, 4, 7), F(6, 2, 3), F(6), covers=("convolution", "conv_input_grad", "conv_weight_grad"))
case("conv2d", lambda T, x, w, b: nnf(T).conv2d(x, w, b, padding=1), F(2, 2, 4, 4),
     F(3, 2, 3, 3), F(3), covers=("convolution", "conv_input_grad", "conv_weight_grad"))
case("conv2d_dilation_stride", lambda T, x, w: nnf(T).conv2d(
    x, w, stride=(2, 1), padding=(1, 0), dilation=(2, 1), groups=2), F(1, 2, 7, 6),
    F(2, 1, 2, 3), covers="convolution")
case("max_pool2d", lambda T, x: nnf(T).max_pool2d(x, 2), F(2, 2, 4, 5),
     covers=("max_pool2d_with_indices", "scatter_dim"))
case("max_pool2d_pad_ceil", lambda T, x: nnf(T).max_pool2d(
    x, 3, stride=2, padding=1, ceil_mode=True, return_indices=True), F(1, 2, 6, 5),
    covers="max_pool2d_with_indices")
case("avg_pool2d", lambda T, x: nnf(T).avg_pool2d(x, 2), F(2, 3, 4, 4),
     covers=("avg_pool2d", "avg_pool2d_backward"))
case("avg_pool2d_pad_ceil", lambda T, x: nnf(T).avg_pool2d(
    x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), F(1, 2, 6, 5),
    covers=("avg_pool2d", "avg_pool2d_backward"))
case("adaptive_avg_pool2d", lambda T, x: nnf(T).adaptive_avg_pool2d(x, (3, 2)), F(2, 5, 7),
     covers=("adaptive_avg_pool2d", "adaptive_avg_pool2d_backward"))
case("adaptive_avg_pool2d_1x1", lambda T, x: nnf(T).adaptive_avg_pool2d(x, 1), F(2, 2, 3, 3),
     covers="mean")

# ---- errors -------------------------------------------------------------------------------------------

error("embedding_float_indices", lambda T, w, i: nnf(T).embedding(i, w), K(4, 2), K(3))
error("layer_norm_shape", lambda T, x: nnf(T).layer_norm(x, (3,)), K(2, 4))
error("layer_norm_weight_shape", lambda T, x, w: nnf(T).layer_norm(x, (4,), w), K(2, 4), K(3))
error("conv2d_channels", lambda T, x, w: nnf(T).conv2d(x, w), K(1, 3, 5, 5), K(2, 2, 3, 3))
error("conv2d_kernel_too_big", lambda T, x, w: nnf(T).conv2d(x, w), K(1, 1, 2, 2), K(1, 1, 3, 3))
error("sdpa_causal_and_mask", lambda T, q, m: nnf(T).scaled_dot_product_attention(
    q, q, q, attn_mask=m, is_causal=True), K(2, 3), B(2, 2))
error("dropout_p_range", lambda T, x: nnf(T).dropout(x, p=1.5), K(3))
error("batch_norm_one_value", lambda T, x: nnf(T).batch_norm(x, None, None, training=True),
      K(1, 3))
error("layer_norm_int_shape", lambda T, x: nnf(T).layer_norm(x, 4), K(2, 4))
error("rms_norm_int_shape", lambda T, x: nnf(T).rms_norm(x, 4), K(2, 4))
error("batch_norm_eval_no_var", lambda T, x, m: nnf(T).batch_norm(x, m, None), K(2, 3), K(3))

# ---- the optimizers' fused update ----------------------------------------------------------------
# torch's side is its own AdamW/Adam step on the same state (no public op does one update)


def _torch_adam(T, p, g, m, v, step, **kw):
    import torch

    p = torch.nn.Parameter(p.clone())
    p.grad = g.clone()
    cls = torch.optim.AdamW if kw.pop("decoupled") else torch.optim.Adam
    opt = cls([p], **kw)
    opt.state[p] = {"step": step.clone(), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
    opt.step()
    s = opt.state[p]
    return p.detach(), s["exp_avg"], s["exp_avg_sq"]


def _adam_case(id, **kw):
    from distgrad.autograd.record import call

    attrs = dict(lr=kw["lr"], beta1=kw["betas"][0], beta2=kw["betas"][1], eps=kw["eps"],
                 weight_decay=kw["weight_decay"], decoupled=kw["decoupled"],
                 maximize=kw["maximize"])
    case(id, lambda T, p, g, m, v, s: call("adam_update", p, g, m, v, s, **attrs),
         K(3, 4), K(3, 4), K(3, 4), K(3, 4, lo=0.1, hi=2), K(lo=3, hi=3),
         tfn=lambda T, p, g, m, v, s: _torch_adam(T, p, g, m, v, s - 1, **kw),
         covers="adam_update", fd=False, grad2=False)


_adam_case("adamw_update", lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
           decoupled=True, maximize=False)
_adam_case("adam_update_l2_maximize", lr=0.1, betas=(0.3, 0.9), eps=1e-6, weight_decay=0.05,
           decoupled=False, maximize=True)
# a driver-side step count goes as a number (nothing sent for it)
case("adamw_update_count",
     lambda T, p, g, m, v: __import__("distgrad.autograd.record", fromlist=["call"]).call(
         "adam_update", p, g, m, v, None, count=3, lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
         weight_decay=0.1, decoupled=True),
     K(3, 4), K(3, 4), K(3, 4), K(3, 4, lo=0.1, hi=2),
     tfn=lambda T, p, g, m, v: _torch_adam(T, p, g, m, v, T.tensor(2.0), lr=0.01,
                                           betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
                                           decoupled=True),
     covers="adam_update", fd=False, grad2=False)
