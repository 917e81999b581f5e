"""Op cases for the layer ops (embedding, norms, activations, dropout, attention, convolution,
pooling), added to op_cases.CASES and ERRORS: test_ops runs them against torch (values, dtypes,
grad_fn names, first- and second-order gradients) and against float64 finite differences."""
from __future__ import annotations

import numpy as np
from op_cases import Arg, B, F, I, K, P, case, error, nnf  # noqa: F401

# ---- embedding -----------------------------------------------------------------------------------

case("embedding", lambda T, w, i: nnf(T).embedding(i, w), F(5, 3), I(2, 3, hi=5),
     covers=("embedding", "embedding_dense_backward"))
# the padding row gets no gradient: not the derivative finite differences see
# embedding_bag: one node, torch's EmbeddingBagBackward0, per mode; its gradients' nodes
# refuse a backward as torch's do (test_layers.py), so no second derivative is compared
_BAG = ("embedding_bag", "embedding_bag_backward")
for _mode in ("sum", "mean", "max"):
    case(f"embedding_bag_node_{_mode}", lambda T, w, m=_mode: nnf(T).embedding_bag(
        T.tensor([1, 2, 4, 4, 3, 0, 2]), w, T.tensor([0, 2, 2, 5]), mode=m), F(5, 3),
        covers=_BAG, grad2=False)
case("embedding_bag_node_2d_padding", lambda T, w: nnf(T).embedding_bag(
    T.tensor([[1, 2, 0], [0, 0, 3]]), w, mode="max", padding_idx=0), F(5, 3),
    covers=_BAG, grad2=False)
case("embedding_bag_node_per_sample_weights", lambda T, w, s: nnf(T).embedding_bag(
    T.tensor([[1, 2, 0], [0, 4, 3]]), w, mode="sum", per_sample_weights=s, padding_idx=2),
    F(5, 3), F(2, 3), covers=_BAG + ("embedding_bag_per_sample_weights_backward",),
    grad2=False)
case("embedding_padding_idx", lambda T, w, i: nnf(T).embedding(i, w, padding_idx=-2), F(4, 2),
     I(6, hi=4), covers="embedding", fd=False)

# ---- linear -------------------------------------------------------------------------------------

case("linear_3d", lambda T, x, w, b: nnf(T).linear(x, w, b), F(2, 3, 4), F(5, 4), F(5),
     covers="addmm")
# an input not contiguous (a batch-first attention's transposed one): torch multiplies, then
# adds the bias in place (AddBackward0)
case("linear_3d_strided", lambda T, x, w, b: nnf(T).linear(x.transpose(0, 1), w, b),
     F(2, 3, 4), F(5, 4), F(5), covers=("mm", "add"))
case("linear_4d_sliced", lambda T, x, w, b: nnf(T).linear(x[:, ::2], w, b), F(2, 3, 2, 4),
     F(5, 4), F(5), covers=("mm", "add"))

# ---- norms -----------------------------------------------------------------------------------------

case("layer_norm", lambda T, x, w, b: nnf(T).layer_norm(x, (4,), w, b), F(2, 3, 4), F(4), F(4),
     covers=("native_layer_norm", "native_layer_norm_backward"))
case("layer_norm_2d_plain", lambda T, x: nnf(T).layer_norm(x, (2, 3), eps=1e-3), F(2, 2, 3),
     covers=("native_layer_norm", "native_layer_norm_backward"))
# a bfloat16 input with bfloat16 parameters: their gradients added row by row in bfloat16 (one
# row: torch's threads would add theirs apart)
case("layer_norm_bfloat16", lambda T, x, w, b: nnf(T).layer_norm(
    x.bfloat16(), (4,), w.bfloat16(), b.bfloat16()).float(), F(1, 4), F(4), F(4),
     covers=("native_layer_norm", "native_layer_norm_backward", "rows_summed_in"), fd=False,
     grad2=False, rtol=2e-2, atol=2e-2)
case("rms_norm", lambda T, x, w: nnf(T).rms_norm(x, (4,), w), F(3, 4), F(4),
     covers=("pow", "mean", "rsqrt", "mul"))
case("batch_norm_train", lambda T, x, w, b: nnf(T).batch_norm(x, None, None, w, b, training=True),
     F(4, 3, 2), F(3), F(3), covers=("native_batch_norm", "native_batch_norm_backward"))
case("batch_norm_eval", lambda T, x, w, b, m, v: nnf(T).batch_norm(x, m, v, w, b, eps=1e-3),
     F(2, 3, 2, 2), F(3), F(3), K(3), Arg("f", (3,), 0.5, 2.0, False),
     covers=("native_batch_norm", "native_batch_norm_backward"))

# ---- activations and dropout -----------------------------------------------------------------------

case("gelu", lambda T, x: nnf(T).gelu(x), F(3, 4, lo=-3, hi=3), covers=("gelu", "gelu_backward"))
case("gelu_tanh", lambda T, x: nnf(T).gelu(x, approximate="tanh"), F(3, 4, lo=-3, hi=3),
     covers=("gelu", "gelu_backward"))
# far out on both sides: the sigmoid form's exp is capped there (no inf * 0)
case("gelu_tanh_far", lambda T, x: nnf(T).gelu(x, approximate="tanh"), F(3, 4, lo=-60, hi=60),
     covers=("gelu", "gelu_backward"))
case("silu", lambda T, x: nnf(T).silu(x), F(3, 4, lo=-4, hi=4), covers="silu")
# a plain backward takes silu's gradient from torch's silu_backward kernel (a gradient to
# differentiate again is a composite of ops, as the case above checks)
case("silu_first_order_grad", lambda T, x: _first_order_grad(T, nnf(T).silu, x),
     F(3, 4, lo=-4, hi=4), covers=("silu", "silu_backward"))
case("silu_inplace", lambda T, x: nnf(T).silu(x * 1, inplace=True), F(3, 4, lo=-4, hi=4),
     covers=("mul", "silu"))
# p=1 drops everything in both libraries (the mask's values are distgrad's own otherwise)
case("dropout_all", lambda T, x: nnf(T).dropout(x, p=1.0), F(3, 4),
     covers=("dropout_mask", "mul"))

# ---- more activations ----------------------------------------------------------------------------
# The `_kinks` cases put the input exactly on an op's kinks: torch's one-sided first derivative
# there and its (strictly masked) second derivative are what count; finite differences are
# not the judge at a kink (fd=False).


def _first_order_grad(T, fn, x):
    """fn's gradient at x for a gradient of x's values, as a plain backward (no graph kept)
    takes it."""
    leaf = x.detach().requires_grad_()
    return T.autograd.grad(fn(leaf), leaf, x.detach())[0]


def _at(T, x, *points):
    """x (of len(points) elements) moved exactly onto `points`, its gradient kept."""
    return x - x.detach() + T.tensor(points, dtype=x.dtype)


_MOVED = ("sub", "add")
_LEAKY = ("leaky_relu", "leaky_relu_backward")
case("leaky_relu", lambda T, x: nnf(T).leaky_relu(x), F(3, 4), covers=_LEAKY)
case("leaky_relu_kinks", lambda T, x: nnf(T).leaky_relu(_at(T, x, -1, 0, 0.5), 0.2), F(3),
     covers=_MOVED + _LEAKY, fd=False)
case("leaky_relu_inplace_kinks", lambda T, x: nnf(T).leaky_relu(_at(T, x, -1, 0, 0.5), 0.2, True),
     F(3), covers=_MOVED + _LEAKY, fd=False)
_RRELU = ("gt", "to_dtype", "mul", "add", "rrelu_with_noise", "rrelu_with_noise_backward")
case("rrelu", lambda T, x: nnf(T).rrelu(x, 0.1, 0.3), F(3, 4), covers=_RRELU)
case("rrelu_inplace", lambda T, x: nnf(T).rrelu(x * 1, 0.2, 0.4, inplace=True), F(3, 4),
     covers=_RRELU)
case("elu", lambda T, x: nnf(T).elu(x, alpha=0.7), F(3, 4), covers=("elu", "elu_backward"))
case("elu_kinks", lambda T, x: nnf(T).elu(_at(T, x, -1, 0, 0.5), alpha=-0.5), F(3),
     covers=_MOVED + ("elu",), fd=False)
case("elu_inplace", lambda T, x: nnf(T).elu(x.clone(), inplace=True), F(3, 4),
     covers=("clone", "elu"))
case("elu_inplace_kinks", lambda T, x: nnf(T).elu(_at(T, x, -1, 0, 0.5), 1.5, inplace=True), F(3),
     covers=_MOVED + ("elu",), fd=False)
case("selu", lambda T, x: nnf(T).selu(x), F(3, 4), covers=("elu", "elu_backward"))
case("selu_inplace_kinks", lambda T, x: nnf(T).selu(_at(T, x, -1, 0, 0.5), True), F(3),
     covers=_MOVED + ("elu",), fd=False)
case("celu", lambda T, x: nnf(T).celu(x, 1.5), F(3, 4), covers=("celu", "elu_backward"))
case("celu_kinks", lambda T, x: nnf(T).celu(_at(T, x, -1, 0, 0.5), -2.0), F(3),
     covers=_MOVED + ("celu",), fd=False)
case("celu_inplace_kinks", lambda T, x: nnf(T).celu(_at(T, x, -1, 0, 0.5), 0.5, inplace=True),
     F(3), covers=_MOVED + ("celu",), fd=False)
case("softplus", lambda T, x: nnf(T).softplus(x), F(3, 4, lo=-4, hi=4),
     covers=("softplus", "softplus_backward"))
# beta·x above the threshold is x itself; at it, the soft side's slope and no curvature
case("softplus_threshold_kinks", lambda T, x: nnf(T).softplus(
    _at(T, x, -1, 0.25, 0.5, 1), beta=2, threshold=1.0), F(4), covers=_MOVED + ("softplus",),
    fd=False)
case("softplus_negative_beta", lambda T, x: nnf(T).softplus(x, -1.5, 2.0), F(3, 4, lo=-3, hi=3),
     covers="softplus")
_HARDTANH = ("hardtanh", "hardtanh_backward")
case("hardtanh", lambda T, x: nnf(T).hardtanh(x, -0.5, 1.2), F(3, 4), covers=_HARDTANH)
case("hardtanh_kinks", lambda T, x: nnf(T).hardtanh(_at(T, x, -2, -1, 0, 1, 2)), F(5),
     covers=_MOVED + _HARDTANH, fd=False)
case("hardtanh_inplace_kinks", lambda T, x: nnf(T).hardtanh(
    _at(T, x, -1, -0.5, 0, 0.5, 1), -0.5, 0.5, True), F(5), covers=_MOVED + _HARDTANH, fd=False)
case("hardtanh_int", lambda T, i: nnf(T).hardtanh(i, -1.5, 1.7), I(3, 4, lo=-3, hi=3),
     covers="hardtanh")
case("relu6_kinks", lambda T, x: nnf(T).relu6(_at(T, x, -1, 0, 3, 6, 7)), F(5),
     covers=_MOVED + _HARDTANH, fd=False)
case("relu6_inplace", lambda T, x: nnf(T).relu6(x * 4, inplace=True), F(3, 4),
     covers=("mul",) + _HARDTANH)
case("logsigmoid", lambda T, x: nnf(T).logsigmoid(x), F(3, 4, lo=-6, hi=6),
     covers=("log_sigmoid", "log_sigmoid_backward"))
case("logsigmoid_far", lambda T, x: nnf(T).logsigmoid(x * 40), F(3, 4),
     covers=("mul", "log_sigmoid"))
case("softsign", lambda T, x: nnf(T).softsign(x), F(3, 4), covers=("abs", "add", "div"))
# torch has no derivative for hardsigmoid's backward (hardsigmoid_double_backward, below)
case("hardsigmoid", lambda T, x: nnf(T).hardsigmoid(x * 3), F(3, 4),
     covers=("mul", "hardsigmoid", "hardsigmoid_backward"), grad2=False)
case("hardsigmoid_inplace_kinks", lambda T, x: nnf(T).hardsigmoid(
    _at(T, x, -4, -3, 0, 3, 4), inplace=True), F(5),
    covers=_MOVED + ("hardsigmoid", "hardsigmoid_backward"), fd=False, grad2=False)
case("hardswish", lambda T, x: nnf(T).hardswish(x * 4), F(3, 4),
     covers=("mul", "hardswish", "hardswish_backward"))
case("hardswish_kinks", lambda T, x: nnf(T).hardswish(_at(T, x, -4, -3, 0, 3, 4)), F(5),
     covers=_MOVED + ("hardswish",), fd=False)
case("hardswish_inplace", lambda T, x: nnf(T).hardswish(x.clone(), True), F(3, 4, lo=-4, hi=4),
     covers=("clone", "hardswish"))
case("mish", lambda T, x: nnf(T).mish(x), F(3, 4, lo=-5, hi=5),
     covers=("mish", "softplus", "tanh", "sigmoid"))
case("mish_first_order_grad", lambda T, x: _first_order_grad(T, nnf(T).mish, x),
     F(3, 4, lo=-5, hi=5), covers=("mish", "mish_backward"))
case("mish_far_inplace", lambda T, x: nnf(T).mish(x * 30, inplace=True), F(3, 4),
     covers=("mul", "mish"))
case("threshold", lambda T, x: nnf(T).threshold(x, 0.5, -2.0), F(3, 4),
     covers=("threshold", "threshold_backward"))
case("threshold_kinks", lambda T, x: nnf(T).threshold(_at(T, x, 0, 0.5, 1), 0.5, 3.0), F(3),
     covers=_MOVED + ("threshold",), fd=False)
case("threshold_inplace_kinks", lambda T, x: nnf(T).threshold(
    _at(T, x, -1, -0.5, 0), -0.5, 0.25, True), F(3), covers=_MOVED + ("threshold",), fd=False)
case("threshold_int", lambda T, i: nnf(T).threshold(i, -0.5, 7.9), I(3, 4, lo=-2, hi=3),
     covers="threshold")
case("softmin", lambda T, x: nnf(T).softmin(x, dim=1), F(3, 4), covers=("neg", "softmax"))
case("softmin_dtype", lambda T, x: nnf(T).softmin(x, 0, dtype=T.float64), F(3, 4),
     covers=("neg", "softmax"))

# ---- more losses ------------------------------------------------------------------------------

for _red in ("mean", "sum", "none"):
    case(f"smooth_l1_loss_{_red}", (lambda r: lambda T, x, y: nnf(T).smooth_l1_loss(
        x, y, reduction=r, beta=0.5))(_red), F(3, 4), F(3, 4),
        covers=("smooth_l1_loss", "smooth_l1_loss_backward"))
    case(f"huber_loss_{_red}", (lambda r: lambda T, x, y: nnf(T).huber_loss(
        x, y, reduction=r, delta=0.7))(_red), F(3, 4), F(3, 4), covers="huber_loss")
    case(f"kl_div_{_red}", (lambda r: lambda T, x, y: nnf(T).kl_div(x, y, reduction=r))(_red),
         F(3, 4), K(3, 4, lo=0.1, hi=1), covers=("xlogy", "mul", "sub"))
# |input - target| exactly at beta / delta (and at 0): the gradient's clip there
case("smooth_l1_loss_kinks", lambda T, x, y: nnf(T).smooth_l1_loss(
    _at(T, x, 0, 0.5, -0.5, 1, 0.2, 0.3), _at(T, y, 0, 0, 0, 0, 0, 0.3), beta=0.5), F(6), F(6),
    covers=_MOVED + ("smooth_l1_loss",), fd=False)
case("huber_loss_kinks", lambda T, x, y: nnf(T).huber_loss(
    _at(T, x, 0, 1, -1, 2, 0.5), _at(T, y, 0, 0, 0, 0.5, 0.5), "sum", 1.0), F(5), F(5),
    covers=_MOVED + ("huber_loss",), fd=False)
case("smooth_l1_loss_broadcast", lambda T, x, y: nnf(T).smooth_l1_loss(x, y), F(3, 4), F(4),
     covers=("expand", "smooth_l1_loss"))
case("smooth_l1_loss_beta0", lambda T, x, y: nnf(T).smooth_l1_loss(x, y, beta=0.0), F(3, 4),
     K(3, 4), covers=("sub", "abs", "mean"))
case("huber_loss_weight", lambda T, x, y, w: nnf(T).huber_loss(x, y, weight=w), F(3, 4), F(3, 4),
     K(3, 4, lo=0, hi=2), covers=("huber_loss", "mul", "mean"))
case("kl_div_batchmean", lambda T, x, y: nnf(T).kl_div(x, y, reduction="batchmean"), F(3, 4),
     K(3, 4, lo=0.1, hi=1), covers=("xlogy", "sum", "div"))
# zeros in the target (0 · log 0 is 0), and a target that requires grad
case("kl_div_target_zeros", lambda T, x, y: nnf(T).kl_div(x, y.relu(), reduction="sum"), F(3, 4),
     F(3, 4, lo=-1, hi=1), covers=("relu", "xlogy"), fd=False)
case("kl_div_target_grad", lambda T, x, y: nnf(T).kl_div(x, y, reduction="batchmean"), F(3, 4),
     F(3, 4, lo=0.2, hi=1), covers="xlogy")
case("kl_div_log_target", lambda T, x, y: nnf(T).kl_div(x, y, reduction="sum", log_target=True),
     F(3, 4), F(3, 4), covers=("exp", "sub", "mul", "sum"))
case("xlogy", lambda T, x, y: T.xlogy(x, y), F(3, 4), F(4, lo=0.2, hi=2), covers="xlogy")
case("xlogy_numbers", lambda T, x: T.xlogy(x, 2.5) + T.xlogy(3.0, x.abs() + 0.5),
     F(3, 4), covers=("xlogy", "abs", "add"))
case("xlogy_zeros", lambda T, x, y: _at(T, x, 0, 0, 0, 1, 2).xlogy(_at(T, y, 0, -1, 2, 0.5, 3)),
     F(5), F(5), covers=_MOVED + ("xlogy",), fd=False)
case("xlogy_inplace", lambda T, x, y: x.clone().xlogy_(y), F(3, 4), F(3, 4, lo=0.2, hi=2),
     covers=("clone", "xlogy"))

# ---- normalize, one_hot, cosine_similarity, pad ----------------------------------------------------

case("normalize", lambda T, x: nnf(T).normalize(x), F(3, 4), covers=("norm", "clamp_min", "div"))
# rows with a norm under eps: divided by eps (the clamp passes no gradient there)
case("normalize_eps_p1", lambda T, x: nnf(T).normalize(x * x.abs(), p=1, dim=0, eps=1.5),
     F(3, 4), covers=("norm", "clamp_min"))
case("one_hot_inferred", lambda T, t: nnf(T).one_hot(t), I(2, 3, hi=5), covers="one_hot")
case("one_hot_empty", lambda T, t: nnf(T).one_hot(t[:0], 3), I(2), covers=("slice", "one_hot"))
case("cosine_similarity", lambda T, x, y: nnf(T).cosine_similarity(x, y), F(3, 4, 2),
     F(3, 4, 2), covers=("norm", "clone", "clamp", "div", "mul", "sum"))
# a norm under eps: the clamp is not recorded, so the gradient still goes through the norm
case("cosine_similarity_eps_broadcast", lambda T, x, y: nnf(T).cosine_similarity(
    x * 0.1, y, dim=-1, eps=0.3), F(2, 3), F(4, 1, 3), covers=("expand", "norm", "clamp"), fd=False)
case("cosine_similarity_int", lambda T, i, y: nnf(T).cosine_similarity(i, y, 0), I(4, lo=1),
     F(4), covers=("to_dtype", "norm"))
case("pad", lambda T, x: nnf(T).pad(x, (1, 2)), F(3, 4), covers="constant_pad_nd")
case("pad_crop_value", lambda T, x: nnf(T).pad(x, [2, -1, -1, 0, 0, 1], value=-1.5),
     F(2, 3, 4), covers="constant_pad_nd")
case("pad_to_empty", lambda T, x: nnf(T).pad(x, (-2, -2)), F(3, 4), covers="constant_pad_nd")
case("pad_int_value", lambda T, i: nnf(T).pad(i, (1, 1), value=1.7), I(3), covers="constant_pad_nd")

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
# grouped-query attention: 4 query heads over 2 key/value heads (and over one, unbatched)
case("sdpa_gqa", lambda T, q, k, v: nnf(T).scaled_dot_product_attention(
    q, k, v, is_causal=True, enable_gqa=True), F(2, 4, 3, 4), F(2, 2, 3, 4), F(2, 2, 3, 4),
    covers=(_SDPA, _SDPA + "_backward"), grad2=False)
case("sdpa_gqa_one_kv_head_math", lambda T, q, k, v: nnf(T).scaled_dot_product_attention(
    q, k, v, enable_gqa=True), F(4, 3, 2), F(1, 5, 2), F(1, 5, 3),
    covers=("bmm", "safe_softmax"), grad2=False)
# torch's math path: 3-D inputs, a value width of its own
case("sdpa_math_causal", lambda T, q, k, v: nnf(T).scaled_dot_product_attention(
    q, k, v, is_causal=True), F(2, 3, 4), F(2, 5, 4), F(2, 5, 3),
    covers=("bmm", "safe_softmax", "masked_fill", "tril"))

# torch's CPU kernel takes a mask and is_causal together (only the math path refuses both)
case("sdpa_causal_and_mask", lambda T, q, k, v, m: nnf(T).scaled_dot_product_attention(
    q, k, v, attn_mask=m | T.eye(3, 4, dtype=T.bool), is_causal=True), F(1, 2, 3, 2),
    F(1, 2, 4, 2), F(1, 2, 4, 2), B(3, 4), covers=_SDPA, grad2=False)
# what the kernel does not take goes to the math path: a 3-D mask, a mask needing a gradient,
# a query whose last dim is strided
case("sdpa_3d_mask_math", lambda T, q, k, v, m: nnf(T).scaled_dot_product_attention(
    q, k, v, attn_mask=m), F(2, 2, 3, 2), F(2, 2, 4, 2), F(2, 2, 4, 2), K(2, 3, 4),
    covers=("bmm", "safe_softmax", "add"))
case("sdpa_mask_with_grad_math", lambda T, q, k, v, m: nnf(T).scaled_dot_product_attention(
    q, k, v, attn_mask=m), F(1, 2, 3, 2), F(1, 2, 4, 2), F(1, 2, 4, 2), F(3, 4),
    covers=("bmm", "safe_softmax", "add"))
case("sdpa_strided_query_math", lambda T, q, k, v: nnf(T).scaled_dot_product_attention(
    q.transpose(-1, -2), k, v), F(1, 2, 2, 3), F(1, 2, 4, 2), F(1, 2, 4, 2),
    covers=("bmm", "safe_softmax"))
# no keys: zeros, still joined to the inputs (torch's answer for empty inputs)
case("sdpa_no_keys", lambda T, q, k, v: nnf(T).scaled_dot_product_attention(q, k, v),
     F(1, 2, 3, 2), F(1, 2, 0, 2), F(1, 2, 0, 2), covers=("sum", "add", "mul"), grad2=False)

# ---- convolution and pooling ------------------------------------------------------------------------

case("conv1d_groups", lambda T, x, w, b: nnf(T).conv1d(x, w, b, stride=2, padding=1, groups=2),
     F(2, 4, 7), F(6, 2, 3), F(6),
     covers=("convolution", "conv_input_grad", "conv_weight_grad", "conv_bias_grad"))
case("conv2d", lambda T, x, w, b: nnf(T).conv2d(x, w, b, padding=1), F(2, 2, 4, 4),
     F(3, 2, 3, 3), F(3),
     covers=("convolution", "conv_input_grad", "conv_weight_grad", "conv_bias_grad"))
case("conv2d_dilation_stride", lambda T, x, w: nnf(T).conv2d(
    x, w, stride=(2, 1), padding=(1, 0), dilation=(2, 1), groups=2), F(1, 2, 7, 6),
    F(2, 1, 2, 3), covers="convolution")
case("max_pool2d", lambda T, x: nnf(T).max_pool2d(x, 2), F(2, 2, 4, 5),
     covers=("max_pool2d_with_indices", "max_pool2d_with_indices_backward"))
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
case("max_pool3d", lambda T, x: nnf(T).max_pool3d(x, 2), F(2, 2, 4, 5, 4),
     covers=("max_pool3d_with_indices", "max_pool3d_with_indices_backward"))
case("max_pool3d_pad_ceil_dilation", lambda T, x: nnf(T).max_pool3d(
    x, (3, 2, 2), stride=(2, 1, 2), padding=1, dilation=(1, 2, 1), ceil_mode=True,
    return_indices=True), F(1, 2, 5, 6, 5), covers="max_pool3d_with_indices")
case("avg_pool3d", lambda T, x: nnf(T).avg_pool3d(x, 2), F(2, 3, 4, 4, 2),
     covers=("avg_pool3d", "avg_pool3d_backward"))
case("avg_pool3d_pad_ceil", lambda T, x: nnf(T).avg_pool3d(
    x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), F(1, 2, 5, 6, 5),
    covers=("avg_pool3d", "avg_pool3d_backward"))
case("avg_pool3d_divisor", lambda T, x: nnf(T).avg_pool3d(x, (1, 2, 3), divisor_override=4),
     F(3, 2, 4, 6), covers=("avg_pool3d", "avg_pool3d_backward"))
case("adaptive_avg_pool3d", lambda T, x: nnf(T).adaptive_avg_pool3d(x, (3, 2, None)),
     F(2, 5, 7, 3), covers=("adaptive_avg_pool3d", "adaptive_avg_pool3d_backward"))

# ---- errors -------------------------------------------------------------------------------------------

error("embedding_float_indices", lambda T, w, i: nnf(T).embedding(i, w), K(4, 2), K(3))
error("layer_norm_shape", lambda T, x: nnf(T).layer_norm(x, (3,)), K(2, 4))
error("layer_norm_weight_shape", lambda T, x, w: nnf(T).layer_norm(x, (4,), w), K(2, 4), K(3))
error("conv2d_channels", lambda T, x, w: nnf(T).conv2d(x, w), K(1, 3, 5, 5), K(2, 2, 3, 3))
error("conv2d_kernel_too_big", lambda T, x, w: nnf(T).conv2d(x, w), K(1, 1, 2, 2), K(1, 1, 3, 3))
error("sdpa_causal_and_mask", lambda T, q, m: nnf(T).scaled_dot_product_attention(
    q, q, q, attn_mask=m, is_causal=True), K(2, 3), B(2, 2))
error("sdpa_one_dim", lambda T, q, k: nnf(T).scaled_dot_product_attention(q, k, k), K(2),
      K(3, 2), prefix=200)
error("sdpa_long_math", lambda T, q: nnf(T).scaled_dot_product_attention(q, q, q),
      I(1, 2, 3, 2))
# the math path adds the mask in place: it cannot widen the scores
error("sdpa_5d_mask", lambda T, q, m: nnf(T).scaled_dot_product_attention(q, q, q, attn_mask=m),
      K(1, 2, 3, 2), B(2, 1, 1, 3, 3), prefix=200)
error("sdpa_1d_mask", lambda T, q, m: nnf(T).scaled_dot_product_attention(q, q, q, attn_mask=m),
      K(1, 2, 3, 2), B(3))
error("sdpa_negative_dropout_kernel", lambda T, q: nnf(T).scaled_dot_product_attention(
    q, q, q, dropout_p=-0.5), K(1, 2, 3, 2), prefix=200)
error("sdpa_dropout_above_one", lambda T, q: nnf(T).scaled_dot_product_attention(
    q, q, q, dropout_p=2.0), K(1, 2, 3, 2), prefix=200)
error("dropout_p_range", lambda T, x: nnf(T).dropout(x, p=1.5), K(3))
error("batch_norm_one_value", lambda T, x: nnf(T).batch_norm(x, None, None, training=True),
      K(1, 3))
error("layer_norm_int_shape", lambda T, x: nnf(T).layer_norm(x, 4), K(2, 4))
error("rms_norm_int_shape", lambda T, x: nnf(T).rms_norm(x, 4), K(2, 4))
error("layer_norm_empty_shape", lambda T, x: nnf(T).layer_norm(x, ()), K(2, 4), prefix=200)
error("layer_norm_empty_shape_0d", lambda T, x: nnf(T).layer_norm(x, [], T.ones(3)), K(),
      prefix=200)
error("rms_norm_shape_longer_than_input", lambda T, x: nnf(T).rms_norm(x, (5, 2, 4)), K(2, 4),
      prefix=200)
error("rms_norm_0d", lambda T, x: nnf(T).rms_norm(x, (1,)), K(), prefix=200)
error("batch_norm_eval_no_var", lambda T, x, m: nnf(T).batch_norm(x, m, None), K(2, 3), K(3))

# the more activations' and losses' refusals, in torch's words
error("elu_int", lambda T, i: nnf(T).elu(i), I(3))
error("softplus_int", lambda T, i: nnf(T).softplus(i), I(3))
error("leaky_relu_bool", lambda T, b: nnf(T).leaky_relu(b), B(3))
error("hardtanh_bool", lambda T, b: nnf(T).hardtanh(b), B(3))
error("threshold_bool", lambda T, b: nnf(T).threshold(b, 0, 1), B(3))
error("hardtanh_min_above_max", lambda T, x: nnf(T).hardtanh(x, 2.0, 1.0), K(3))
error("celu_alpha_zero", lambda T, x: nnf(T).celu(x, 0.0), K(3))
error("leaky_relu_inplace_negative_slope", lambda T, x: nnf(T).leaky_relu(
    x * 1, -0.5, True).sum().backward(), F(3))
error("elu_inplace_negative_alpha", lambda T, x: nnf(T).elu(x * 1, -0.5, True).sum().backward(),
      F(3))
error("hardsigmoid_double_backward", lambda T, x: T.autograd.grad(T.autograd.grad(
    nnf(T).hardsigmoid(x).sum(), x, create_graph=True)[0].sum(), x), F(3))
error("smooth_l1_loss_negative_beta", lambda T, x, y: nnf(T).smooth_l1_loss(x, y, beta=-1.0),
      K(3), K(3))
error("smooth_l1_loss_reduction", lambda T, x, y: nnf(T).smooth_l1_loss(x, y, reduction="max"),
      K(3), K(3))
error("huber_loss_delta", lambda T, x, y: nnf(T).huber_loss(x, y, delta=0.0), K(3), K(3))
error("huber_loss_int", lambda T, i: nnf(T).huber_loss(i, i), I(3))
error("huber_loss_weight_shape", lambda T, x, w: nnf(T).huber_loss(x, x, weight=w), K(3), K(1))
error("kl_div_int", lambda T, i: nnf(T).kl_div(i, i, reduction="sum"), I(3))
error("kl_div_reduction", lambda T, x: nnf(T).kl_div(x, x, reduction="batch"), K(3))
error("one_hot_float", lambda T, x: nnf(T).one_hot(x), K(3))
error("one_hot_negative", lambda T, i: nnf(T).one_hot(i - 1), I(3, lo=0, hi=1))
error("one_hot_too_few_classes", lambda T, i: nnf(T).one_hot(i, 2), I(3, lo=2, hi=3))
error("one_hot_empty_infer", lambda T, i: nnf(T).one_hot(i[:0]), I(3))
error("cosine_similarity_ints", lambda T, i: nnf(T).cosine_similarity(i, i), I(2, 3))
error("cosine_similarity_dim", lambda T, x: nnf(T).cosine_similarity(x, x, dim=2), K(2, 3))
error("cosine_similarity_shapes", lambda T, x, y: nnf(T).cosine_similarity(x, y), K(2, 3),
      K(4, 3))
error("normalize_int", lambda T, i: nnf(T).normalize(i), I(2, 3))
error("pad_odd", lambda T, x: nnf(T).pad(x, (1,)), K(3))
error("pad_too_long", lambda T, x: nnf(T).pad(x, (1, 1, 1, 1)), K(3))
error("pad_crop_too_much", lambda T, x: nnf(T).pad(x, (-3, -1)), K(3))
error("pad_float", lambda T, x: nnf(T).pad(x, (1.0, 1)), K(3))
error("pad_unknown_mode", lambda T, x: nnf(T).pad(x, (1, 1), mode="mirror"), K(3))

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

# ---- NaN through activations, losses and pooling: torch's kernels compare so that a NaN
# takes one definite branch (sign(NaN) = 0, relu6' and elu' pass the gradient, a window's
# last NaN is its max) -------------------------------------------------------------------------


def _with_nan(T, x):
    """x with its first and fourth elements NaN: a sum, so the gradient reaching each
    element of x is the op's own (a product with NaN would make it NaN whatever it was)."""
    nan = np.zeros(x.numel())
    nan[[0, 3]] = float("nan")
    return x + T.tensor(nan.reshape(tuple(x.shape)), dtype=x.dtype)


_NAN = ("add",)
case("sign_nan", lambda T, x: _with_nan(T, x).sign(), F(2, 3), covers=_NAN + ("sign",), fd=False)
# (not in second order, nor sgn's gradient: torch's derivative of sgn there is a ZeroTensor,
# whose product with NaN is 0; distgrad has no ZeroTensor, README Limits)
case("abs_nan", lambda T, x: _with_nan(T, x).abs(), F(2, 3), covers=_NAN + ("abs",), fd=False,
     grad2=False)
case("hardtanh_nan", lambda T, x: nnf(T).hardtanh(_with_nan(T, x)), F(2, 3),
     covers=_NAN + _HARDTANH, fd=False)
case("relu6_nan", lambda T, x: nnf(T).relu6(_with_nan(T, x)), F(2, 3),
     covers=_NAN + _HARDTANH, fd=False)
# (selu's and the robust losses' second order at NaN: a where's other branch carries NaN
# into distgrad's, which torch's closed forms do not; README Limits)
case("selu_nan", lambda T, x: nnf(T).selu(_with_nan(T, x)), F(2, 3), covers=_NAN + ("elu",),
     fd=False, grad2=False)
case("softplus_nan", lambda T, x: nnf(T).softplus(_with_nan(T, x)), F(2, 3),
     covers=_NAN + ("softplus",), fd=False)
case("softshrink_nan", lambda T, x: nnf(T).softshrink(_with_nan(T, x), 0.6), F(2, 3),
     covers=_NAN + ("softshrink",), fd=False)
case("smooth_l1_loss_nan", lambda T, x, y: nnf(T).smooth_l1_loss(
    _with_nan(T, x), y, reduction="none"), F(2, 3), F(2, 3),
     covers=_NAN + ("smooth_l1_loss",), fd=False, grad2=False)
case("huber_loss_nan", lambda T, x, y: nnf(T).huber_loss(_with_nan(T, x), y), F(2, 3), F(2, 3),
     covers=_NAN + ("huber_loss",), fd=False, grad2=False)
# (not in second order: torch's adds zeros_like(input) to the input's, which NaN turns NaN)
case("max_pool2d_nan", lambda T, x: nnf(T).max_pool2d(_with_nan(T, x), 2, 1), F(1, 3, 3),
     covers=_NAN + ("max_pool2d_with_indices",), fd=False, grad2=False)
