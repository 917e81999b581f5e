"""The layer modules, AdamW, the lr schedules, clip_grad_norm_ and checkpoint against torch:
each torch module's weights copied into distgrad's, then forward values, grad_fn names and
the gradients of inputs and parameters compared; optimizer and schedule trajectories step
for step."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import distgrad
import distgrad.nn as dnn
import distgrad.optim as doptim
from distgrad.utils.checkpoint import checkpoint as dcheckpoint

RTOL, ATOL = 1e-4, 1e-5


def arr(*shape, seed=0, lo=-1.0, hi=1.0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(np.float32)


def copy_weights(tmod, dmod) -> None:
    """torch module's parameters and buffers into the distgrad twin (same names)."""
    state = {k: distgrad.tensor(v.detach().numpy().copy()) for k, v in tmod.state_dict().items()}
    dmod.load_state_dict(state)


def as_np(t):
    return np.array(t.detach().cpu().numpy())  # a copy: later in-place steps must not reach it


def run_both(tmod, dmod, inputs, grad_inputs=(0,), out_index=None):
    """Forward both modules on the same arrays, backward a fixed weighting of the output,
    compare output, grad_fn and every gradient."""
    copy_weights(tmod, dmod)
    results = []
    for mod, lib in ((tmod, torch), (dmod, distgrad)):
        ins = [lib.tensor(a, requires_grad=(k in grad_inputs and a.dtype.kind == "f"))
               if isinstance(a, np.ndarray) else a for k, a in enumerate(inputs)]
        out = mod(*ins)
        if out_index is not None:
            out = out[out_index]
        w = lib.tensor(np.random.default_rng(5).standard_normal(tuple(out.shape))
                       .astype(np.float32))
        (out * w).sum().backward()
        grads = {name: as_np(p.grad) for name, p in mod.named_parameters() if p.grad is not None}
        for k in grad_inputs:
            if isinstance(ins[k], lib.Tensor) and ins[k].grad is not None:
                grads[f"input{k}"] = as_np(ins[k].grad)
        results.append((as_np(out), out.grad_fn.name() if out.grad_fn else None, grads,
                        str(out.dtype)))
    (tv, tn, tg, tdt), (dv, dn, dg, ddt) = results
    np.testing.assert_allclose(dv, tv, rtol=RTOL, atol=ATOL)
    assert dn == tn
    assert ddt == tdt
    assert sorted(dg) == sorted(tg)
    for k in tg:
        np.testing.assert_allclose(dg[k], tg[k], rtol=RTOL, atol=ATOL, err_msg=k)
    return results


# ---- modules against torch's --------------------------------------------------------------------

def test_embedding_padding_idx():
    idx = np.array([[1, 0, 3], [3, 3, 2]], np.int64)
    tm, dm = torch.nn.Embedding(5, 4, padding_idx=3), dnn.Embedding(5, 4, padding_idx=3)
    assert np.all(as_np(dm.weight)[3] == 0)  # the padding row starts at zero
    _, (_, _, grads, _) = run_both(tm, dm, [idx], grad_inputs=())
    assert np.all(grads["weight"][3] == 0)
    assert repr(dm) == repr(tm)


@pytest.mark.parametrize("make", [
    lambda nn: nn.LayerNorm(6), lambda nn: nn.LayerNorm((3, 6), elementwise_affine=False),
    lambda nn: nn.LayerNorm(6, bias=False), lambda nn: nn.RMSNorm(6),
    lambda nn: nn.RMSNorm([3, 6], eps=1e-3), lambda nn: nn.GELU(),
    lambda nn: nn.GELU(approximate="tanh"), lambda nn: nn.SiLU(), lambda nn: nn.Flatten(),
], ids=["layernorm", "layernorm_2d_plain", "layernorm_nobias", "rmsnorm", "rmsnorm_2d",
        "gelu", "gelu_tanh", "silu", "flatten"])
def test_elementwise_and_norm_modules(make):
    tm, dm = make(torch.nn), make(dnn)
    run_both(tm, dm, [arr(2, 3, 6, lo=-3, hi=3)])
    assert repr(dm) == repr(tm)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tanh_gelu_of_infinities_and_far_negative_values_as_torch(dtype):
    # torch's 0.5 x (1 + tanh u): nan at -inf (-inf * 0), -0.0 where tanh rounds to -1, and
    # nan gradients at both infinities
    got = []
    for lib in (torch, distgrad):
        x = lib.tensor([-np.inf, -1000.0, -30.0, np.inf, 0.5], dtype=getattr(lib, dtype),
                       requires_grad=True)
        y = lib.nn.functional.gelu(x, approximate="tanh")
        y.sum().backward()
        got.append((y.detach().numpy().copy(), x.grad.numpy().copy()))
    (ty, tg), (dy, dg) = got
    np.testing.assert_allclose(dy, ty, rtol=RTOL, atol=ATOL)
    assert list(np.signbit(dy[:3])) == list(np.signbit(ty[:3]))
    np.testing.assert_allclose(dg, tg, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_self(batch_first, need_weights):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first)
    dm = dnn.MultiheadAttention(8, 2, batch_first=batch_first)
    x = arr(2, 5, 8, seed=1)

    class Self(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x, x, x, need_weights=need_weights)[0]

    class DSelf(dnn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(x, x, x, need_weights=need_weights)[0]

    run_both(Self(tm), DSelf(dm), [x])
    assert repr(dm) == repr(tm)


@pytest.mark.parametrize("kw", [dict(need_weights=False), dict(average_attn_weights=False),
                                dict(need_weights=False, is_causal=True),
                                dict(need_weights=False, mask=True),
                                dict(need_weights=False, mask=True, bias=False)])
def test_multihead_attention_inference_fast_path_as_torch(kw):
    # eval, no grad, batch_first self-attention: torch's fused kernel computes what
    # need_weights=True computes (a fully masked row gives NaN, is_causal without a mask is
    # ignored) into a contiguous result; with bias=False it is not taken
    kw = dict(kw)
    bias, masked = kw.pop("bias", True), kw.pop("mask", False)
    kpm = np.array([[1, 1, 1, 1], [0, 0, 1, 0]], bool)
    am = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], bool)
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=True, bias=bias).eval()
    dm = dnn.MultiheadAttention(8, 2, batch_first=True, bias=bias).eval()
    copy_weights(tm, dm)
    got = []
    for lib, m in ((torch, tm), (distgrad, dm)):
        x = lib.tensor(arr(2, 4, 8, seed=4))
        masks = dict(key_padding_mask=lib.tensor(kpm), attn_mask=lib.tensor(am)) if masked else {}
        with lib.no_grad():
            out, weights = m(x, x, x, **masks, **kw)
        got.append((out.stride(), as_np(out), None if weights is None else as_np(weights)))
    assert got[1][0] == got[0][0]
    for d, t in zip(got[1][1:], got[0][1:]):
        if t is None:
            assert d is None
        else:
            np.testing.assert_allclose(d, t, rtol=RTOL, atol=ATOL)


def test_backends_mha_fastpath_flag():
    # with the fast path off, eval under no_grad is the general path (a transposed result)
    strides = []
    for lib in (torch, distgrad):
        assert lib.backends.mha.get_fastpath_enabled() is True
        lib.backends.mha.set_fastpath_enabled(False)
        try:
            m = lib.nn.MultiheadAttention(4, 2, batch_first=True).eval()
            x = lib.ones(2, 3, 4)
            with lib.no_grad():
                strides.append(m(x, x, x)[0].stride())
            assert lib.backends.mha.get_fastpath_enabled() is False
        finally:
            lib.backends.mha.set_fastpath_enabled(True)
    assert strides[1] == strides[0] == (4, 8, 1)


def _attending(mha, lib, masks: dict, **kw):
    """A module calling `mha(q, k, v, <masks as lib tensors>, **kw)` (v is k when not given):
    its output plus half the attention weights' sum (when it returns them), so both reach
    the gradients."""
    class Attending(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = mha

        def forward(self, q, k, v=None):
            v = k if v is None else v
            out, weights = self.m(q, k, v, **{n: lib.tensor(a) for n, a in masks.items()}, **kw)
            return out if weights is None else out + weights.sum() * 0.5

    return Attending()


@pytest.mark.parametrize("mask", ["causal_bool", "float", "key_padding"])
def test_multihead_attention_masks_and_weights(mask):
    torch.manual_seed(1)
    tm, dm = torch.nn.MultiheadAttention(6, 3), dnn.MultiheadAttention(6, 3)
    q, kv = arr(4, 2, 6, seed=2), arr(5, 2, 6, seed=3)
    causal = np.triu(np.ones((4, 5), bool), 1)
    masks = {"causal_bool": {"attn_mask": causal},
             "float": {"attn_mask": arr(4, 5, seed=4)},
             "key_padding": {"key_padding_mask": np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 1]],
                                                          bool)}}[mask]

    run_both(_attending(tm, torch, masks), _attending(dm, distgrad, masks), [q, kv],
             grad_inputs=(0, 1))
    copy_weights(tm, dm)
    tw = tm(torch.tensor(q), torch.tensor(kv), torch.tensor(kv),
            **{k: torch.tensor(v) for k, v in masks.items()})[1]
    dw = dm(distgrad.tensor(q), distgrad.tensor(kv), distgrad.tensor(kv),
            **{k: distgrad.tensor(v) for k, v in masks.items()})[1]
    np.testing.assert_allclose(as_np(dw), as_np(tw), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("kw", [
    {"kdim": 3, "vdim": 5},
    {"kdim": 3, "vdim": 5, "bias": False, "batch_first": True},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True, "kdim": 3, "vdim": 5},
], ids=["kdim_vdim", "kdim_vdim_nobias_batch_first", "bias_kv", "zero_attn", "all"])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask", [None, "causal_bool", "key_padding"])
def test_multihead_attention_cross_widths_bias_kv_and_zero_attn(kw, need_weights, mask):
    """Keys and values of their own widths (q/k/v_proj_weight), the learnt extra key and
    value (bias_k, bias_v) and the zero key: outputs, weights and every gradient as torch's,
    the masks widened for the keys added."""
    torch.manual_seed(2)
    tm, dm = torch.nn.MultiheadAttention(4, 2, **kw), dnn.MultiheadAttention(4, 2, **kw)
    assert [n for n, _ in dm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    bf = kw.get("batch_first", False)
    q = arr(*((2, 3, 4) if bf else (3, 2, 4)), seed=6)
    k = arr(*((2, 5, kw.get("kdim", 4)) if bf else (5, 2, kw.get("kdim", 4))), seed=7)
    v = arr(*((2, 5, kw.get("vdim", 4)) if bf else (5, 2, kw.get("vdim", 4))), seed=8)
    masks = {None: {}, "causal_bool": {"attn_mask": np.triu(np.ones((3, 5), bool), 1)},
             "key_padding": {"key_padding_mask": np.array([[0, 0, 0, 1, 1], [0, 0, 0, 0, 1]],
                                                          bool)}}[mask]

    run_both(_attending(tm, torch, masks, need_weights=need_weights),
             _attending(dm, distgrad, masks, need_weights=need_weights), [q, k, v],
             grad_inputs=(0, 1, 2))


def test_multi_head_attention_forward_static_keys_and_values():
    """static_k/static_v (already (batch * heads, S, head_dim)) replace the projected ones."""
    got = []
    for lib in (torch, distgrad):
        q = lib.tensor(arr(3, 2, 4, seed=9), requires_grad=True)
        sk = lib.tensor(arr(4, 6, 2, seed=10), requires_grad=True)
        sv = lib.tensor(arr(4, 6, 2, seed=11), requires_grad=True)
        w_in, w_out = lib.tensor(arr(12, 4, seed=12)), lib.tensor(arr(4, 4, seed=13))
        out, weights = lib.nn.functional.multi_head_attention_forward(
            q, q, q, 4, 2, w_in, None, None, None, False, 0.0, w_out, None,
            static_k=sk, static_v=sv)
        (out.sum() + weights.sum()).backward()
        got.append([as_np(t) for t in (out, weights, q.grad, sk.grad, sv.grad)])
    for d, t in zip(got[1], got[0]):
        np.testing.assert_allclose(d, t, rtol=RTOL, atol=ATOL)


# (query, key, value shapes, masks): each wrong in one way torch checks
_MHA_BAD = {
    "3d_mask": ((3, 2, 4), (5, 2, 4), (5, 2, 4), {"attn_mask": ((2, 3, 5), "float32")}),
    "int_mask": ((3, 2, 4), (5, 2, 4), (5, 2, 4), {"attn_mask": ((3, 5), "int64")}),
    "padding_len": ((3, 2, 4), (5, 2, 4), (5, 2, 4), {"key_padding_mask": ((2, 4), "bool")}),
    "padding_batch": ((3, 2, 4), (5, 2, 4), (5, 2, 4), {"key_padding_mask": ((3, 5), "bool")}),
    "padding_dims": ((3, 2, 4), (5, 2, 4), (5, 2, 4), {"key_padding_mask": ((5,), "bool")}),
    "key_value": ((3, 2, 4), (5, 2, 4), (6, 2, 4), {}),
    "query_dims": ((3, 2, 4, 1), (5, 2, 4), (5, 2, 4), {}),
    "unbatched_key": ((3, 4), (5, 2, 4), (5, 2, 4), {}),
    "unbatched_3d_mask": ((3, 4), (5, 4), (5, 4), {"attn_mask": ((3, 3, 5), "float32")}),
    "embed_dim": ((3, 2, 5), (5, 2, 5), (5, 2, 5), {}),
    "kdim_key_value_lengths": ((3, 2, 4), (5, 2, 3), (6, 2, 5), {}, {"kdim": 3, "vdim": 5}),
    "kdim_wrong_key_width": ((3, 2, 4), (5, 2, 4), (5, 2, 5), {}, {"kdim": 3, "vdim": 5}),
}


@pytest.mark.parametrize("name", list(_MHA_BAD))
def test_multihead_attention_checks_as_torch(name):
    q, k, v, masks, *made_with = _MHA_BAD[name] + ({},)
    caught = []
    for lib in (torch, distgrad):
        args = [lib.zeros(*s) for s in (q, k, v)]
        kw = {k: lib.zeros(*s, dtype=getattr(lib, dt)) for k, (s, dt) in masks.items()}
        with pytest.raises((RuntimeError, AssertionError)) as info:
            lib.nn.MultiheadAttention(4, 2, **made_with[0])(*args, **kw)
        caught.append((type(info.value), str(info.value)))
    assert caught[1] == caught[0]


def test_multihead_attention_mismatched_masks_warn_as_torch():
    seen = []
    for lib in (torch, distgrad):
        x = lib.zeros(3, 2, 4)
        with pytest.warns(UserWarning) as caught:
            lib.nn.MultiheadAttention(4, 2)(x, x, x, attn_mask=lib.zeros(3, 3),
                                            key_padding_mask=lib.zeros(2, 3, dtype=lib.bool))
        seen.append([str(w.message) for w in caught])
    assert seen[1] == seen[0] == ["Support for mismatched key_padding_mask and attn_mask is "
                                  "deprecated. Use same type for both instead."]


@pytest.mark.parametrize("make,shape", [
    (lambda nn: nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2), (2, 4, 9)),
    (lambda nn: nn.Conv2d(3, 4, 3, padding=1), (2, 3, 6, 5)),
    (lambda nn: nn.Conv2d(4, 4, (2, 3), stride=(2, 1), dilation=(1, 2), groups=4, bias=False),
     (1, 4, 7, 8)),
    (lambda nn: nn.Conv2d(2, 3, 3, padding="same"), (2, 2, 5, 5)),
    (lambda nn: nn.MaxPool2d(2), (2, 3, 6, 7)),
    (lambda nn: nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True), (1, 2, 7, 6)),
    (lambda nn: nn.AvgPool2d(3, stride=2, padding=1), (2, 2, 7, 6)),
    (lambda nn: nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False), (1, 2, 5, 5)),
    (lambda nn: nn.AdaptiveAvgPool2d((3, 4)), (2, 2, 7, 9)),
    (lambda nn: nn.AdaptiveAvgPool2d((None, 2)), (2, 2, 5, 5)),
    (lambda nn: nn.AdaptiveAvgPool2d(1), (2, 3, 4, 4)),
], ids=["conv1d_groups", "conv2d_pad", "conv2d_depthwise_dilated", "conv2d_same", "maxpool",
        "maxpool_pad_ceil", "avgpool_pad", "avgpool_ceil_nopad", "adaptive", "adaptive_none",
        "adaptive_1"])
def test_conv_and_pool_modules(make, shape):
    torch.manual_seed(2)
    tm, dm = make(torch.nn), make(dnn)
    run_both(tm, dm, [arr(*shape, seed=7)])
    assert repr(dm) == repr(tm)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_pool_indices_of_windows_with_nan_and_nothing_above_the_lowest(n):
    """torch scans each window in kernel order: the first maximum, the last NaN; a window
    of -inf (or padding) only answers its first position inside the input, where the
    gradient goes."""
    rng = np.random.default_rng(n)
    x = rng.integers(-2, 2, (2, 2) + (7,) * n).astype(np.float32)
    x[rng.random(x.shape) < 0.4] = -np.inf
    x[(Ellipsis,) + (slice(0, 4),) * n] = -np.inf  # (windows of padding and -inf only)
    x[rng.random(x.shape) < 0.05] = np.nan
    results = []
    for T in (torch, distgrad):
        t = T.tensor(x, requires_grad=True)
        pool = getattr(T.nn.functional, f"max_pool{n}d")
        v, i = pool(t, 3, 2, 1, dilation=2 if n > 1 else 1, ceil_mode=True, return_indices=True)
        v.backward(T.ones_like(v))
        results.append((v.detach().numpy(), i.numpy(), t.grad.numpy()))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (4, 3)), ("BatchNorm1d", (4, 3, 5)),
                                       ("BatchNorm2d", (3, 2, 4, 4))])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_running_stats(cls, shape, momentum):
    tm, dm = getattr(torch.nn, cls)(shape[1], momentum=momentum), \
        getattr(dnn, cls)(shape[1], momentum=momentum)
    for step in range(3):  # training steps move the running statistics
        run_both(tm, dm, [arr(*shape, seed=step, lo=-2, hi=3)])
        copy_weights(tm, dm)
    # (run_both copies torch's state first, so compare one more step made by both)
    tm(torch.tensor(arr(*shape, seed=9)))
    dm(distgrad.tensor(arr(*shape, seed=9)))
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(as_np(getattr(dm, name)), as_np(getattr(tm, name)),
                                   rtol=1e-5, atol=1e-6)
    assert int(dm.num_batches_tracked.item()) == int(tm.num_batches_tracked.item())
    tm.eval()
    dm.eval()
    run_both(tm, dm, [arr(*shape, seed=11)])
    assert repr(dm) == repr(tm)


@pytest.mark.parametrize("norm", [
    lambda F, x, w: F.layer_norm(x, (0,)),
    lambda F, x, w: F.layer_norm(x, (0,), w[:0], w[:0]),
    lambda F, x, w: F.group_norm(x.reshape(3, 0, 2), 1),
    lambda F, x, w: F.group_norm(x.reshape(1, 3, 0), 3, w, w),
    lambda F, x, w: F.instance_norm(x.reshape(1, 3, 0), weight=w, bias=w),
    lambda F, x, w: F.batch_norm(x.reshape(0, 3), None, None, w, w, training=True),
    lambda F, x, w: F.rms_norm(x, (0,))],
    ids=["layer", "layer_affine", "group_no_channels", "group_no_positions", "instance",
         "batch", "rms"])
def test_a_normalization_of_nothing_is_torchs_quietly(norm):
    """Rows, groups or a batch of no values: no warning (numpy's mean of nothing warns),
    torch's grad_fn (an empty batch is cloned, then scaled by the first channel's weight),
    torch's gradients (a group norm's weight's: nan, 0·rstd of no values)."""
    from torch_twin import same

    def f(torch):
        x = torch.zeros(3, 0, dtype=torch.float64, requires_grad=True)
        w = torch.ones(3, dtype=torch.float64, requires_grad=True)
        y = norm(torch.nn.functional, x, w)
        return y, torch.autograd.grad(y.sum(), (x, w), allow_unused=True)
    same(f)


def test_a_running_statistic_stays_as_it_is_after_an_empty_batch():
    from torch_twin import same

    def f(torch):
        bn = torch.nn.BatchNorm2d(3)
        y = bn(torch.zeros(0, 3, 2, 2))
        return y, bn.running_mean, bn.running_var, bn.running_mean._version, bn.num_batches_tracked
    same(f)


def test_batchnorm_input_dims():
    for lib in (torch, distgrad):
        with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
            lib.nn.BatchNorm2d(3)(lib.zeros(2, 3, 4))
        with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
            lib.nn.BatchNorm1d(3)(lib.zeros(2, 3, 4, 4))


# ---- dropout ---------------------------------------------------------------------------------------

def test_dropout_train_eval_and_reproducible():
    x = distgrad.ones(200, 50, requires_grad=True)
    drop = dnn.Dropout(0.3)
    distgrad.manual_seed(7)
    y = drop(x)
    assert y.grad_fn.name() == "MulBackward0"
    values = as_np(y)
    kept = values != 0
    np.testing.assert_allclose(np.unique(values), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02  # 10000 draws: 4.5 standard deviations
    y.sum().backward()
    np.testing.assert_array_equal(as_np(x.grad), values)  # the gradient is the scaled mask
    distgrad.manual_seed(7)
    np.testing.assert_array_equal(as_np(drop(x)), values)  # same seed, same mask
    assert not np.array_equal(as_np(drop(x)), values)  # the stream moves on
    drop.eval()
    assert drop(x) is x
    assert repr(drop) == repr(torch.nn.Dropout(0.3))


# ---- containers -------------------------------------------------------------------------------------

def test_module_dict_and_parameter_list():
    def build(lib):
        m = lib.nn.Module()
        m.layers = lib.nn.ModuleDict({"a": lib.nn.Linear(2, 3), "b": lib.nn.ReLU()})
        m.layers["c"] = lib.nn.Linear(3, 1)
        m.ps = lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(2)), lib.ones(3)])
        m.ps.append(lib.nn.Parameter(lib.zeros(1, 2)))
        return m

    tm, dm = build(torch), build(distgrad)
    assert [n for n, _ in dm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [tuple(p.shape) for p in dm.parameters()] == [tuple(p.shape) for p in tm.parameters()]
    assert list(dm.layers.keys()) == list(tm.layers.keys()) and "a" in dm.layers
    assert len(dm.ps) == 3 and isinstance(dm.ps[1], dnn.Parameter)
    assert repr(dm) == repr(tm)
    assert dm.layers.pop("b").__class__ is dnn.ReLU and list(dm.layers) == ["a", "c"]


# ---- optimizer, schedules, clipping --------------------------------------------------------------------

def _train(lib, opt_factory, sched_factory=None, steps=6, clip=None):
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
    with lib.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(lib.tensor(arr(*p.shape, seed=20 + k)))
    opt = opt_factory(lib, model.parameters())
    sched = sched_factory(lib, opt) if sched_factory else None
    lrs, norms = [], []
    for step in range(steps):
        x = lib.tensor(arr(5, 3, seed=step))
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            norms.append(float(lib.nn.utils.clip_grad_norm_(model.parameters(), *clip)))
        opt.step()
        if sched is not None:
            sched.step()
            lrs.append(sched.get_last_lr()[0])
    return [as_np(p) for p in model.parameters()], lrs, norms


def _compare(opt_factory, sched_factory=None, clip=None, steps=6):
    tp, tl, tn = _train(torch, opt_factory, sched_factory, steps, clip)
    dp, dl, dn = _train(distgrad, opt_factory, sched_factory, steps, clip)
    for a, b in zip(dp, tp):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert dl == pytest.approx(tl, rel=1e-12)
    assert dn == pytest.approx(tn, rel=1e-5)
    return tl


@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.1, "amsgrad": True}, {"lr": 0.05}])
def test_adamw_matches_torch(kw):
    _compare(lambda lib, ps: lib.optim.AdamW(ps, **kw))
    assert doptim.AdamW([distgrad.zeros(1, requires_grad=True)]).defaults["weight_decay"] == 1e-2


@pytest.mark.parametrize("name,kw", [
    ("StepLR", {"step_size": 2, "gamma": 0.5}),
    ("LambdaLR", {"lr_lambda": lambda e: 1 / (1 + e)}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 4}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.1, "total_iters": 3}),
    ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.01}),
])
def test_lr_schedulers_match_torch(name, kw):
    lrs = _compare(lambda lib, ps: lib.optim.SGD(ps, lr=0.1, momentum=0.9),
                   lambda lib, opt: getattr(lib.optim.lr_scheduler, name)(opt, **kw), steps=10)
    assert len(set(lrs)) > 1


def test_lr_scheduler_state_dict_round_trip():
    for lib in (torch, distgrad):
        opt = lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=1.0)
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
        for _ in range(2):
            opt.step()
            sched.step()
        state = sched.state_dict()
        opt2 = lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=1.0)
        sched2 = lib.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=5)
        sched2.load_state_dict(state)
        assert sched2.last_epoch == 2 and sched2.get_last_lr() == sched.get_last_lr()


@pytest.mark.parametrize("clip", [(0.1,), (0.05, float("inf")), (0.2, 1.0), (100.0,)])
def test_clip_grad_norm_matches_torch(clip):
    _compare(lambda lib, ps: lib.optim.SGD(ps, lr=0.5), clip=clip, steps=3)


def test_clip_grad_norm_nonfinite_error():
    msgs = []
    for lib in (torch, distgrad):
        p = lib.zeros(2, requires_grad=True)
        p.grad = lib.tensor([float("inf"), 1.0])
        with pytest.raises(RuntimeError) as info:
            lib.nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


def test_deprecated_clip_grad_norm_warns_and_clips_as_torch():
    seen = []
    for lib in (torch, distgrad):
        p = lib.zeros(2, requires_grad=True)
        p.grad = lib.tensor([3.0, 4.0])
        with pytest.warns(FutureWarning) as record:
            total = lib.nn.utils.clip_grad_norm(p, 1.0)
        seen.append((str(record[0].message), record[0].filename,
                     round(total.item(), 5), [round(g, 5) for g in p.grad.tolist()]))
    assert seen[1] == seen[0]


# ---- checkpoint -------------------------------------------------------------------------------------------

def test_checkpoint_recomputes_with_torchs_gradients():
    def run(lib, ckpt):
        torch.manual_seed(3)
        block = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.GELU(), lib.nn.Linear(8, 4))
        with lib.no_grad():
            for k, p in enumerate(block.parameters()):
                p.copy_(lib.tensor(arr(*p.shape, seed=40 + k)))
        x = lib.tensor(arr(3, 4, seed=1), requires_grad=True)
        y = ckpt(block, x, use_reentrant=True) * 2
        node = y.grad_fn.next_functions[0][0].name()
        y.sum().backward()
        return node, [as_np(x.grad)] + [as_np(p.grad) for p in block.parameters()]

    tn, tg = run(torch, torch.utils.checkpoint.checkpoint)
    dn, dg = run(distgrad, dcheckpoint)
    assert dn == tn == "CheckpointFunctionBackward"
    for a, b in zip(dg, tg):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_reentrant_checkpoint_refuses_autograd_grad_and_backward_inputs():
    from torch_twin import attempt, same

    def scenario(lib):
        import importlib
        ckpt = importlib.import_module(f"{lib.__name__}.utils.checkpoint").checkpoint
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        w = lib.tensor([1.5, 0.5, -2.0], requires_grad=True)
        first = attempt(lambda: lib.autograd.grad(ckpt(lambda a: a.exp() * w, x,
                                                       use_reentrant=True).sum(), x))
        second = attempt(lambda: ckpt(lambda a: a.exp() * w, x,
                                      use_reentrant=True).sum().backward(inputs=[x]))
        ckpt(lambda a: a.exp() * w, x, use_reentrant=True).sum().backward()
        return first, second, x.grad, w.grad, lib.autograd._is_checkpoint_valid()

    same(scenario)


def test_checkpoint_replays_dropout_masks():
    x = distgrad.ones(20, 30, requires_grad=True)
    drop = dnn.Dropout(0.5)
    distgrad.manual_seed(11)
    y = dcheckpoint(lambda t: drop(t) * 3, x, use_reentrant=True)
    y.sum().backward()
    # the gradient is the forward's mask (recomputed in backward from the same random state)
    np.testing.assert_array_equal(as_np(x.grad), as_np(y))


def test_checkpoint_warns_without_use_reentrant():
    import warnings

    for lib, ckpt in ((torch, torch.utils.checkpoint.checkpoint), (distgrad, dcheckpoint)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ckpt(lambda t: t * 2, lib.ones(2, requires_grad=True))
        assert any("use_reentrant parameter should be passed explicitly" in str(w.message)
                   for w in caught), lib.__name__


def test_sdpa_dropout_is_torchs_math_path_with_a_seeded_mask():
    F = dnn.functional
    rng = np.random.default_rng(0)
    q, k, v = (distgrad.tensor(rng.standard_normal((2, 2, 4, 3)).astype(np.float32),
                               requires_grad=True) for _ in range(3))
    distgrad.manual_seed(5)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4, is_causal=True)
    tq = torch.zeros(2, 2, 4, 3, requires_grad=True)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tq, tq, dropout_p=0.4,
                                                            is_causal=True)
    assert out.grad_fn.name() == tout.grad_fn.name() == "UnsafeViewBackward0"
    # the same seed gives the same mask: softmax(causal scores) -> dropout -> @ v by hand
    distgrad.manual_seed(5)
    scores = q.matmul(k.transpose(-2, -1)) / math.sqrt(3)
    scores = scores.masked_fill(distgrad.ones(4, 4, dtype=distgrad.bool).tril().logical_not(),
                                float("-inf"))
    expected = F.dropout(F.softmax(scores, -1), 0.4).matmul(v)
    np.testing.assert_allclose(as_np(out), as_np(expected), rtol=1e-5, atol=1e-6)
    assert (as_np(out) != as_np(F.scaled_dot_product_attention(q, k, v, is_causal=True))).any()


def test_sdpa_fully_masked_row_gives_zeros_and_zero_gradients():
    m = np.array([[True, True, False], [False, False, False]])
    got = []
    for lib in (torch, distgrad):
        q = lib.tensor(arr(1, 1, 2, 4, seed=1), requires_grad=True)
        k = lib.tensor(arr(1, 1, 3, 4, seed=2), requires_grad=True)
        y = lib.nn.functional.scaled_dot_product_attention(q, k, k, attn_mask=lib.tensor(m))
        y.sum().backward()
        got.append([as_np(y), as_np(q.grad), as_np(k.grad)])
    for d, t in zip(got[1], got[0]):
        np.testing.assert_allclose(d, t, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("mask", ["bool_3d", "float_rows"])
def test_sdpa_math_path_gives_a_fully_masked_row_zeros_as_torch(mask):
    # torch's math path (3-D mask, learnt mask) softmaxes with _safe_softmax: a row with no
    # key to attend to gives zeros and no NaN gradients; its scalings are MulBackward1
    m = np.array([[True, True, False], [False, False, False]])
    got = []
    for lib in (torch, distgrad):
        q = lib.tensor(arr(1, 2, 4, seed=1), requires_grad=True)
        k = lib.tensor(arr(1, 3, 4, seed=2), requires_grad=True)
        bias = lib.tensor(np.where(m, 0.0, -np.inf).astype(np.float32), requires_grad=True)
        attn_mask = lib.tensor(m[None]) if mask == "bool_3d" else bias
        y = lib.nn.functional.scaled_dot_product_attention(q, k, k, attn_mask=attn_mask)
        (y * y).sum().backward()
        chain = y.grad_fn.next_functions[0][0]
        while chain.next_functions and "Softmax" not in chain.name():
            chain = chain.next_functions[0][0]
        scale = chain.next_functions[0][0].next_functions[0][0].next_functions[0][0]
        while scale.name() not in ("MulBackward0", "MulBackward1"):
            scale = scale.next_functions[0][0]
        got.append(([chain.name(), scale.name()], as_np(y), as_np(q.grad), as_np(k.grad)))
    assert got[1][0] == got[0][0] == ["SafeSoftmaxBackward0", "MulBackward1"]
    for d, t in zip(got[1][1:], got[0][1:]):
        np.testing.assert_allclose(d, t, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("enable_gqa", [False, True])
def test_sdpa_kernel_gradient_has_no_derivative_as_torch(enable_gqa):
    # torch's CPU kernel's backward is not differentiable: gradients made with create_graph
    # have the NotImplemented node, and a backward through them fails with torch's message
    got = []
    for lib in (torch, distgrad):
        q = lib.tensor(arr(1, 4, 3, 2, seed=1), requires_grad=True)
        k = lib.tensor(arr(1, 4 // (1 + enable_gqa), 3, 2, seed=2), requires_grad=True)
        y = lib.nn.functional.scaled_dot_product_attention(q, k, k, is_causal=True,
                                                           enable_gqa=enable_gqa)
        gq, gk = lib.autograd.grad((y * y).sum(), (q, k), create_graph=True)
        with pytest.raises(RuntimeError) as failure:
            gk.sum().backward()
        got.append((gq.grad_fn.name(), gk.grad_fn.name(), str(failure.value), as_np(gq),
                    as_np(gk)))
    assert got[1][:3] == got[0][:3]
    assert got[0][0] == "torch::autograd::NotImplemented"
    for d, t in zip(got[1][3:], got[0][3:]):
        np.testing.assert_allclose(d, t, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("mask", [None, "bool", "float"])
def test_sdpa_kernel_in_low_floats_is_torchs_bit_for_bit(dtype, mask):
    # the CPU kernel computes float16 and bfloat16 in float, with the softmax's
    # exponentials rounded to the dtype for their product with v (short rows)
    rng = np.random.default_rng(3)
    qkv = rng.standard_normal((3, 2, 4, 7, 8)).astype(np.float32)
    m = {"bool": rng.random((7, 7)) > 0.3,
         "float": rng.standard_normal((7, 7)).astype(np.float32)}.get(mask)
    got = []
    for lib in (torch, distgrad):
        d = getattr(lib, dtype)
        q, k, v = (lib.tensor(a).to(d).requires_grad_() for a in qkv)
        attn_mask = None if m is None else lib.tensor(m).to(lib.bool if mask == "bool" else d)
        y = lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        # (its backward too: probabilities and the scores' gradient rounded to the dtype)
        grads = lib.autograd.grad(y, (q, k, v), lib.tensor(qkv[0]).to(d))
        got.append((str(y.dtype), *(t.float().detach().numpy() for t in (y,) + grads)))
    assert got[1][0] == got[0][0]
    np.testing.assert_array_equal(got[1][1], got[0][1])
    for d, t in zip(got[1][2:], got[0][2:]):  # (float16's: a few a unit in the last place off)
        np.testing.assert_allclose(d, t, rtol=1e-2, atol=1e-3)
        assert (d != t).mean() < 0.05


@pytest.mark.parametrize("scale", [-0.5, 0.0, 0.5])
def test_sdpa_kernel_masks_causal_keys_before_scaling_as_torch(scale):
    # -inf times a scale <= 0 is +inf or NaN: the rows with a masked key come out NaN
    got = []
    for lib in (torch, distgrad):
        outs = []
        for q_len, k_len in ((4, 4), (5, 6), (6, 3)):
            q = lib.tensor(arr(1, 2, q_len, 4, seed=q_len))
            k = lib.tensor(arr(1, 2, k_len, 4, seed=k_len + 7))
            y = lib.nn.functional.scaled_dot_product_attention(q, k, k, scale=scale,
                                                               is_causal=True)
            outs.append(as_np(y))
        got.append(outs)
    for d, t in zip(got[1], got[0]):
        np.testing.assert_allclose(d, t, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("layout", ["heads_transposed", "permuted", "expanded"])
def test_sdpa_kernel_result_is_laid_out_as_its_query(layout):
    # torch's CPU kernel writes into an empty_like(query): a batch-first attention's
    # (B, L, H, E) query transposed to (B, H, L, E) gives a result with the same strides
    views = {"heads_transposed": lambda x: x.view(2, 4, 2, 3).transpose(1, 2),
             "permuted": lambda x: x.view(4, 2, 2, 3).permute(1, 2, 0, 3),
             "expanded": lambda x: x[:1].view(1, 1, 4, 6).expand(2, 1, 4, 6)}
    got = []
    for lib in (torch, distgrad):
        x = lib.tensor(arr(2, 4, 6, seed=3), requires_grad=True)
        q = views[layout](x)
        y = lib.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True)
        (y * y).sum().backward()
        got.append((y.stride(), y.grad_fn.name(), as_np(y), as_np(x.grad)))
    assert got[1][:2] == got[0][:2]
    for d, t in zip(got[1][2:], got[0][2:]):
        np.testing.assert_allclose(d, t, rtol=RTOL, atol=ATOL)


def test_scheduler_step_before_optimizer_step_warns_as_torch():
    import warnings

    seen = []
    for lib in (torch, distgrad):
        opt = lib.optim.SGD([lib.zeros(2, requires_grad=True)], lr=1.0)
        sched = lib.optim.lr_scheduler.StepLR(opt, 1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sched.step()
            opt.step()
            sched.step()
        seen.append([str(w.message) for w in caught])
    assert seen[1] == seen[0] and len(seen[0]) == 1


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5])
def test_embedding_max_norm_renormalises_the_rows_it_picks(norm_type):
    # torch scales each row the lookup reads to a norm of at most max_norm, in place and
    # unrecorded (the weight's version counts the write); rows not read keep their values
    w0 = np.random.default_rng(7).standard_normal((6, 4)).astype(np.float32) * 2
    got = []
    for T in (torch, distgrad):
        emb = T.nn.Embedding(6, 4, max_norm=1.5, norm_type=norm_type)
        with T.no_grad():
            emb.weight.copy_(T.tensor(w0))
        version = emb.weight._version
        out = emb(T.tensor([[0, 2, 2], [5, 1, 0]]))
        (out ** 2).sum().backward()
        bag = T.nn.functional.embedding_bag(T.tensor([3, 4, 3]), emb.weight, T.tensor([0, 1]),
                                            max_norm=0.5, norm_type=norm_type)
        got.append([emb.weight._version - version] + [
            t.detach().numpy() for t in (out, emb.weight, emb.weight.grad, bag)])
    assert got[0][0] == got[1][0]
    for a, b in zip(got[0][1:], got[1][1:]):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_embedding_bag_max_norm_renorms_the_rows_before_a_bad_index():
    # torch renorms the rows it reads in ascending order (-1 wraps) and fails at the first
    # it cannot select: the rows before it are renormed all the same
    w0 = np.random.default_rng(8).standard_normal((5, 3)).astype(np.float32) * 3
    got = []
    for T in (torch, distgrad):
        w = T.tensor(w0)
        with pytest.raises(IndexError) as caught:
            T.nn.functional.embedding_bag(T.tensor([3, 9, -1, 0, 7]), w, T.tensor([0]),
                                          max_norm=1.0)
        got.append((str(caught.value), w.numpy()))
    assert got[1][0] == got[0][0]
    np.testing.assert_allclose(got[1][1], got[0][1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("ids", [[3, 9, -1, 0, 7], [1, -1, 3], [2, -6]])
def test_embedding_max_norm_renorms_the_rows_before_a_bad_index(ids):
    # as embedding_bag's: ascending order, -1 wrapping, the rows before a bad id renormed
    w0 = np.random.default_rng(9).standard_normal((5, 3)).astype(np.float32) * 3
    got = []
    for T in (torch, distgrad):
        w = T.tensor(w0)
        with pytest.raises(IndexError) as caught:
            T.nn.functional.embedding(T.tensor(ids), w, max_norm=1.0)
        got.append((str(caught.value), w.numpy()))
    assert got[1][0] == got[0][0]
    np.testing.assert_allclose(got[1][1], got[0][1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "int16"])
def test_embedding_max_norm_takes_int32_ids_as_torch(dtype):
    # torch's renorm kernel takes int32 ids as its lookup does; others fail its check of
    # argument #2 first
    w0 = np.random.default_rng(10).standard_normal((5, 3)).astype(np.float32) * 3
    got = []
    for T in (torch, distgrad):
        w = T.tensor(w0)
        try:
            out = T.nn.functional.embedding(T.tensor([[4, 1], [1, 0]], dtype=getattr(T, dtype)),
                                            w, max_norm=1.0, norm_type=1.0).numpy()
        except RuntimeError as e:
            out = str(e)
        got.append((out, w.numpy()))
    if isinstance(got[0][0], str):
        assert got[1][0] == got[0][0]
    else:
        np.testing.assert_allclose(got[1][0], got[0][0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got[1][1], got[0][1], rtol=1e-6, atol=1e-7)


def test_embedding_bag_refuses_offsets_in_torchs_words():
    """Offsets must start the first bag at 0 (torch's message prints offsets[0] as C++ prints
    a 0-d tensor, of the indices' promoted type) and end within the input; a 2-D input takes
    no offsets (its message names the class as torch.Tensor)."""
    from torch_twin import attempt, same

    def scenario(T):
        w, bag = T.ones(5, 2), T.nn.functional.embedding_bag
        return [attempt(bag, T.tensor([1, 2]), w, T.tensor([2], dtype=T.int32)),
                attempt(bag, T.tensor([1, 2], dtype=T.int32), w, T.tensor([1, 2])),
                attempt(bag, T.tensor([1, 2]), w, T.tensor([0, 3]), mode="max"),
                attempt(bag, T.tensor([1, 2]), w, T.tensor([0, 2, 3]), include_last_offset=True),
                attempt(bag, T.tensor([[1, 2]]), w, T.tensor([0])),
                bag(T.tensor([1, 2]), w, T.tensor([0, 2]))]

    same(scenario)


def test_embedding_bag_from_pretrained_takes_the_bags_arguments():
    from torch_twin import same

    def scenario(T):
        w = T.tensor(arr(5, 3, seed=4))
        frozen = T.nn.EmbeddingBag.from_pretrained(w, mode="max", padding_idx=1)
        trained = T.nn.EmbeddingBag.from_pretrained(w, freeze=False, include_last_offset=True,
                                                    max_norm=0.5)
        idx = T.tensor([1, 2, 4, 0])
        out = trained(idx, T.tensor([0, 1, 4]))
        out.sum().backward()
        return [repr(frozen), repr(trained), frozen.weight.requires_grad,
                frozen(idx, T.tensor([0, 2])), out, trained.weight.grad]

    same(scenario)


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_scale_grad_by_freq_divides_each_rows_gradient_by_its_count(padding_idx):
    """Each picked row's gradient over how often the input picks it (padding counted, its
    gradient zero); the double backward is not scaled, as torch's is not."""
    from torch_twin import same

    def scenario(T):
        w = T.tensor(arr(6, 3, seed=5), requires_grad=True)
        idx = T.tensor([[0, 2, 2], [5, 2, 0]])
        out = T.nn.functional.embedding(idx, w, padding_idx, scale_grad_by_freq=True)
        g = T.tensor(arr(2, 3, 3, seed=6), requires_grad=True)
        gw, = T.autograd.grad(out, w, g, create_graph=True)
        gg, = T.autograd.grad((gw ** 2).sum(), g)
        return [gw, gw.grad_fn.name(), gg, repr(T.nn.Embedding(6, 3, scale_grad_by_freq=True))]

    same(scenario)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradients_carry_torchs_nodes_that_refuse_a_backward(mode):
    """EmbeddingBagBackward0's gradients, taken with create_graph, are torch's backward
    kernels: the weight's (EmbeddingBagBackwardBackward0, edges to the output's gradient and
    the per-sample weights) and the per-sample weights' (NotImplemented); neither has a
    derivative in torch, and a backward through them raises its words."""
    from torch_twin import attempt, same

    def scenario(T):
        w = T.tensor(arr(6, 3, seed=2), requires_grad=True)
        psw = T.tensor(arr(5, seed=3), requires_grad=True) if mode == "sum" else None
        out = T.nn.functional.embedding_bag(T.tensor([1, 2, 4, 4, 5]), w, T.tensor([0, 2, 2]),
                                            mode=mode, per_sample_weights=psw)
        wanted = (w, psw) if psw is not None else (w,)
        grads = T.autograd.grad((out ** 2).sum(), wanted, create_graph=True)
        seen = [[g.grad_fn.name(), [n and n.name() for n, _ in g.grad_fn.next_functions]]
                for g in grads]
        seen.append(grads)
        seen.extend(attempt(T.autograd.grad, g.sum(), w, allow_unused=True) for g in grads)
        return seen

    same(scenario)


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("wanted", ["w", "x", "b", "xwb", "g"])
def test_conv_gradients_with_create_graph_require_grad_as_torchs(n, transposed, wanted):
    """torch's convolution_backward takes (grad, input, weight) whichever gradients it makes:
    under create_graph, the input's, weight's and bias's gradient each require grad when
    any of the three does (one ConvolutionBackwardBackward0), though the weight's gradient
    does not read the weight (fuzz seed 22135557: a hook on it raised here)."""
    from torch_twin import same

    def scenario(T):
        rng = np.random.default_rng(4)
        x = T.tensor(rng.standard_normal((2, 3) + (5,) * n).astype("float32"))
        w = T.tensor(rng.standard_normal(((3, 4) if transposed else (4, 3)) + (2,) * n)
                     .astype("float32"))
        b = T.tensor(rng.standard_normal(4).astype("float32"))
        F = T.nn.functional
        conv = {(1, False): F.conv1d, (2, False): F.conv2d, (1, True): F.conv_transpose1d,
                (2, True): F.conv_transpose2d}[n, transposed]
        leaves = [t for t, name in ((x, "x"), (w, "w"), (b, "b"))
                  if name in wanted or wanted == "g"]
        for t in leaves:
            t.requires_grad_()
        y = conv(x, w, b, stride=2 if transposed else 1)
        g = T.tensor(rng.standard_normal(tuple(y.shape)).astype("float32"),
                     requires_grad=wanted == "g")
        grads = T.autograd.grad(y, leaves, g, create_graph=True)
        seen = [(d.requires_grad, d.grad_fn and d.grad_fn.name()) for d in grads]
        penalty = [(d * d).sum() for d in grads if d.requires_grad]
        if penalty:
            sum(penalty).backward()
        return seen, grads, [t.grad for t in leaves + [g]]

    same(scenario, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n, kernel, dilation", [(1, 4, 1), (2, (2, 3), 1), (2, (4, 4), (1, 2)),
                                                 (1, 2, 3)])
def test_conv_same_padding_with_an_even_kernel_pads_its_right(n, kernel, dilation):
    # an odd total padding: torch pads the extra zero on the right (a ConstantPadNd before
    # the convolution), output as long as the input
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((2, 3) + (7,) * n)
    w0 = rng.standard_normal((4, 3) + ((kernel,) * n if isinstance(kernel, int) else kernel))
    got = []
    for T in (torch, distgrad):
        x, w = T.tensor(x0, requires_grad=True), T.tensor(w0, requires_grad=True)
        conv = T.nn.functional.conv1d if n == 1 else T.nn.functional.conv2d
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = conv(x, w, padding="same", dilation=dilation)
        (y * y).sum().backward()
        got.append((y.grad_fn.next_functions[0][0].name(),
                    [t.detach().numpy() for t in (y, x.grad, w.grad)]))
    assert got[0][0] == got[1][0] == "ConstantPadNdBackward0"
    for a, b in zip(got[0][1], got[1][1]):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-10)


def test_layer_norm_of_equal_values_is_zero_as_torch():
    # (fuzzer seed 22013620) torch's kernel keeps the mean of a row of equal values exact
    # (Welford's updates), so the result is 0; a float32 sum may miss it by an ulp, times
    # 1/sqrt(eps)
    got = []
    for T in (torch, distgrad):
        row = T.tensor([[3.763801097869873] * 3, [7.7] * 3])
        got.append(T.nn.functional.layer_norm(row, (3,)).tolist())
    assert got[0] == got[1] == [[0.0] * 3] * 2


@pytest.mark.parametrize("norm", ["layer_norm", "group_norm", "batch_norm", "instance_norm"])
@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16"])
def test_a_norm_of_negative_zeros_is_signed_as_torchs(norm, affine, dtype):
    # torch's kernels give x * scale + shift with the bias in the shift (0 without one),
    # so a row, group or channel of -0.0 comes out +0.0; group norm without weight or bias
    # takes (x - mean) * rstd, -0.0
    def result(T):
        x = T.tensor(np.random.default_rng(9).standard_normal((2, 2, 6)), dtype=getattr(T, dtype))
        x[:, 0] = -0.0
        size = 6 if norm == "layer_norm" else 2
        w = T.linspace(0.5, 1.5, size, dtype=x.dtype) if affine in ("weight", "both") else None
        b = T.linspace(-1, 1, size, dtype=x.dtype) if affine in ("bias", "both") else None
        if norm == "layer_norm":
            y = T.nn.functional.layer_norm(x, (6,), w, b)
        elif norm == "group_norm":
            y = T.nn.functional.group_norm(x.transpose(0, 1).contiguous(), 2, w, b)
        elif norm == "batch_norm":
            y = T.nn.functional.batch_norm(x, None, None, w, b, training=True)
        else:
            y = T.nn.functional.instance_norm(x.transpose(0, 1).contiguous(), weight=w, bias=b)
        return y.float().numpy()

    theirs, ours = result(torch), result(distgrad)
    np.testing.assert_allclose(ours, theirs, rtol=1e-2, atol=1e-5)
    np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))


@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
def test_float32_layer_norm_rounds_as_torchs_kernel(affine):
    # torch's kernel takes each row's mean and variance by vectorized Welford updates in
    # float32 and multiplies by rstd = 1/sqrt(var + eps): a division by sqrt(var + eps) in
    # float64 differs in the last bit or two (seen after a cast to bfloat16). Rows short,
    # with a tail, over several chunks of 16 vectors, and none.
    from torch_twin import same

    def scenario(T):
        out = []
        for shape, dims in (((3, 5, 8), 1), ((4, 37), 1), ((2, 300), 1), ((2, 3, 7), 2),
                            ((0, 5), 1)):
            T.manual_seed(23)
            x = T.randn(*shape) * 3 + 1
            normalized = shape[-dims:]
            w = T.randn(*normalized) if affine in ("weight", "both") else None
            b = T.randn(*normalized) if affine in ("bias", "both") else None
            y = T.nn.functional.layer_norm(x, normalized, w, b)
            out += [y, y.to(T.bfloat16)]
        return out

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("affine", ["none", "weight", "bias", "both"])
def test_float32_group_norm_rounds_as_torchs_kernel(affine):
    # torch's kernel takes each group's moments as layer norm's, rstd in double, and gives
    # (x - mean) * rstd, or x * scale + (bias - scale * mean) with scale = rstd * weight
    from torch_twin import same

    def scenario(T):
        out = []
        for shape, groups in (((2, 4, 5), 2), ((3, 6, 4, 4), 3), ((1, 4, 100), 1),
                              ((0, 4, 3, 3), 2)):
            T.manual_seed(23)
            x = T.randn(*shape) * 3 + 1
            w = T.randn(shape[1]) if affine in ("weight", "both") else None
            b = T.randn(shape[1]) if affine in ("bias", "both") else None
            y = T.nn.functional.group_norm(x, groups, w, b)
            out += [y, y.to(T.bfloat16)]
        return out

    same(scenario, rtol=0, atol=0)


def test_layer_norm_gradient_is_torchs_float64_gradient_rounded():
    # a row's input gradient is a difference of large terms (b·x + c against rstd·gy):
    # float32 sums round it each their own way, torch's kernel included (fuzzer seeds
    # 22038896, 22025040, 22022015), so distgrad computes it in float64
    def grad(T, dtype):
        x = T.tensor([[-1.03, -0.94], [-0.49, -1.43], [-0.71, -0.06]], dtype=dtype,
                     requires_grad=True)
        y = T.nn.functional.layer_norm(x, (2,), None, None)
        return np.array(T.autograd.grad((y * y).sum() * 4, x)[0].tolist())

    exact = grad(torch, torch.float64)
    np.testing.assert_allclose(grad(distgrad, distgrad.float32), exact, rtol=1e-6)


@pytest.mark.parametrize("norm", ["layer_norm", "batch_norm", "group_norm"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_norms_backward_reads_the_statistics_its_forward_saved(norm, dtype):
    # torch's backward reads the mean and rstd its forward saved: a write into the input's
    # .data since changes the input it reads, not them (fuzzer seed 22019544); a graph of
    # the gradient differentiates them as torch's double backward does
    from torch_twin import same

    def scenario(T):
        x = T.tensor([[0.84, 0.3, -0.6], [1.68, -0.2, 0.1], [-1.84, 0.5, 0.9]],
                     dtype=getattr(T, dtype), requires_grad=True)
        w = T.tensor([-1.43, 0.7, 1.1], dtype=getattr(T, dtype), requires_grad=True)
        if norm == "layer_norm":
            y = T.nn.functional.layer_norm(x, (3,), w, w)
        elif norm == "batch_norm":
            y = T.nn.functional.batch_norm(x, None, None, w, w, training=True)
        else:
            y = T.nn.functional.group_norm(x, 1, w, w)
        x.data.mul_(0.5)
        g = T.autograd.grad((y * y * w).sum(), [x, w], create_graph=True)
        second = T.autograd.grad(sum((gi * gi).sum() for gi in g), [x, w])
        return [gi.detach() for gi in g], second  # (the nodes of g are named otherwise)

    same(scenario, rtol=1e-4, atol=1e-5)


def _affine_parameters(T, affine: str, size: int):
    """A norm's float64 (weight, bias), each None unless `affine` ("none", "weight",
    "both") asks for it."""
    return tuple(T.linspace(0.5, 1.5 + k, size, dtype=T.float64).requires_grad_()
                 if affine in kinds else None
                 for k, kinds in enumerate((("weight", "both"), ("both",))))


def _three_orders(T, norm, operands):
    """The gradients of Σ norm()·c (c fixed) for the operands that are not None, then those
    of the sum of their squares twice, each with a graph but the last."""
    wanted = tuple(t for t in operands if t is not None)
    y = norm()
    c = T.tensor(np.random.default_rng(5).standard_normal(tuple(y.shape)), dtype=T.float64)
    first = T.autograd.grad((y * c).sum(), wanted, create_graph=True)
    second = T.autograd.grad(sum((g * g).sum() for g in first), wanted, create_graph=True,
                             allow_unused=True)
    third = T.autograd.grad(sum((g * g).sum() for g in second if g is not None), wanted,
                            allow_unused=True)
    return [first, second, third]


_ROW_NORMS = {
    "layer_norm": lambda T, x, w, b: T.nn.functional.layer_norm(x, (7,), w, b),
    "group_norm": lambda T, x, w, b: T.nn.functional.group_norm(x, 2, w, b),
}


@pytest.mark.parametrize("norm", sorted(_ROW_NORMS))
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_norm_gradients_of_rows_of_equal_values_are_torchs_to_the_third_order(norm, affine):
    # torch's kernels keep the mean of a row (a group) of equal values exact, so its double
    # backward's x - mean is 0 there and the row's second-order gradients are 0 or small;
    # a mean an ulp off made them noise times rstd³ (about 3e7 at eps=1e-5)
    from torch_twin import same

    def scenario(T):
        values = np.random.default_rng(4).standard_normal((3, 4, 7))
        values[1, :2], values[2, 2:] = 0.1, 0.7
        x = T.tensor(values, dtype=T.float64, requires_grad=True)
        w, b = _affine_parameters(T, affine, 7 if norm == "layer_norm" else 4)
        return _three_orders(T, lambda: _ROW_NORMS[norm](T, x, w, b), (x, w, b))

    same(scenario, rtol=1e-10, atol=1e-9)


_NORMS_OF_A_LINEAR_LOSS = {
    "layer_norm": lambda T, x, w: T.nn.functional.layer_norm(x, (5,), w, None),
    "group_norm": lambda T, x, w: T.nn.functional.group_norm(x, 2, w, None),
    "batch_norm": lambda T, x, w: T.nn.functional.batch_norm(x, None, None, w, None,
                                                             training=True),
    "eval_batch_norm": lambda T, x, w: T.nn.functional.batch_norm(
        x, T.linspace(-1, 1, 4, dtype=T.float64), T.linspace(0.5, 2, 4, dtype=T.float64), w,
        None, training=False),
}


@pytest.mark.parametrize("norm", sorted(_NORMS_OF_A_LINEAR_LOSS))
@pytest.mark.parametrize("squared", ["input", "weight", "unweighted_input"])
def test_norm_second_order_gradient_of_one_first_order_gradient_is_torchs_node(norm,
                                                                               squared):
    # a loss linear in the norm's result, and one first-order gradient squared: the input's
    # second-order gradient is one term of torch's double backward, whose last op names it
    # (batch norm's: the weight, or a ones, times the terms; the weight's cotangent times
    # its own)
    from torch_twin import same

    def scenario(T):
        x = T.tensor(np.random.default_rng(6).standard_normal((3, 4, 5)), dtype=T.float64,
                     requires_grad=True)
        size = 5 if norm == "layer_norm" else 4
        w = None if squared == "unweighted_input" else \
            T.linspace(0.5, 1.5, size, dtype=T.float64).requires_grad_()
        wanted = (x,) if w is None else (x, w)
        c = T.tensor(np.random.default_rng(7).standard_normal((3, 4, 5)), dtype=T.float64)
        first = T.autograd.grad((_NORMS_OF_A_LINEAR_LOSS[norm](T, x, w) * c).sum(), wanted,
                                create_graph=True)
        picked = first[1] if squared == "weight" else first[0]
        return T.autograd.grad((picked * picked).sum(), wanted, create_graph=True,
                               allow_unused=True)

    same(scenario, rtol=1e-10, atol=1e-12)


_CHANNEL_NORMS = {
    "batch_norm": lambda T, x, w, b: T.nn.functional.batch_norm(x, None, None, w, b,
                                                                training=True),
    "instance_norm": lambda T, x, w, b: T.nn.functional.instance_norm(x, weight=w, bias=b),
    "batch_norm_of_rows": lambda T, x, w, b: T.nn.functional.batch_norm(
        x.permute(0, 2, 3, 1).reshape(-1, 4), None, None, w, b, training=True),
}


@pytest.mark.parametrize("norm", sorted(_CHANNEL_NORMS))
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
def test_norm_gradients_of_channels_of_equal_values_are_torchs_to_the_third_order(norm,
                                                                                  affine):
    # torch's batch norm kernel adds a channel's values one at a time and divides by their
    # count: a channel of equal values' mean is often an ulp off, and its double backward
    # scales that by rstd³ (about 3e7 at eps=1e-5); numpy's pairwise sum missed it another
    # way, so the second and third orders differed from torch's by up to their size. Rows
    # (N, C): each of torch's threads sums its share of them first.
    from torch_twin import same

    def scenario(T):
        threads = T.get_num_threads()
        T.set_num_threads(2)
        try:
            return gradients(T)
        finally:
            T.set_num_threads(threads)

    def gradients(T):
        values = np.random.default_rng(4).standard_normal((3, 4, 5, 2))
        values[:, 1], values[2, 3] = 0.3, 0.7
        x = T.tensor(values, dtype=T.float64, requires_grad=True)
        w, b = _affine_parameters(T, affine, 4)
        return _three_orders(T, lambda: _CHANNEL_NORMS[norm](T, x, w, b), (x, w, b))

    same(scenario, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("strided", ["t", "channels_last"])
def test_group_norm_lays_its_input_out_first_as_torchs(strided):
    # torch's group_norm makes a strided input contiguous in its suggested format (a clone,
    # which its node saves): a write to the input's base after the norm leaves its backward
    # be, where a saved view went stale (program fuzzer, seed 22748917)
    from torch_twin import same

    def scenario(T):
        x = T.tensor([[0.3, -1.2, 0.8, 0.5], [1.1, 0.4, -0.6, 0.2]] * 2, dtype=T.float64,
                     requires_grad=True)
        base = x * 1
        view = base.t() if strided == "t" else base.reshape(1, 2, 2, 4).permute(0, 3, 1, 2)
        y = T.nn.functional.group_norm(view, 2)
        base.mul_(2)
        gx, = T.autograd.grad((y * y * T.arange(y.numel()).reshape(y.shape)).sum(), x)
        return y, y.stride(), y.grad_fn.next_functions[0][0].name(), gx

    same(scenario, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)])
def test_group_norms_input_gradient_is_a_tensor_of_its_own_as_torchs_kernel_writes(shape):
    # torch's backward kernel writes the input's gradient into a tensor it makes: no view,
    # so writing it in place in grad mode from a tensor that requires grad is allowed
    from torch_twin import same

    def scenario(T):
        x = T.tensor(arr(*shape, seed=3), requires_grad=True)
        y = T.nn.functional.group_norm(x, 2)
        gx, = T.autograd.grad((y * y).sum(), x)
        was_view = gx._base is not None
        gx.copy_(x * 2)
        return was_view, gx, gx.grad_fn.name(), gx._version

    same(scenario, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("data_written", [False, True])
def test_group_norm_differentiates_three_times_as_torchs(data_written):
    # torch's group norm backward differentiates its saved statistics again at every order
    # (distgrad's were linear in x past the first: a third derivative differed; program
    # fuzzer, seed 22689540), at x's values now after a write into its .data
    from torch_twin import same

    def scenario(T):
        x = T.tensor([[0.3, -1.2, 0.8], [1.1, 0.4, -0.6], [-0.2, 0.9, 1.5]],
                     dtype=T.float64, requires_grad=True)
        y = T.nn.functional.group_norm(x, 1)
        if data_written:
            x.data.mul_(0.5)
        g1, = T.autograd.grad(y[:, 2], x, T.tensor([1.21, -1.98, 0.12], dtype=T.float64),
                              create_graph=True)
        g2, = T.autograd.grad((g1 * g1).sum(), x, create_graph=True)
        return T.autograd.grad((g2 * g2).sum(), x)

    same(scenario, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d", "adaptive_max_pool2d",
                                  "adaptive_avg_pool2d", "max_pool3d", "avg_pool3d",
                                  "adaptive_avg_pool3d", "max_pool1d", "avg_pool1d"])
@pytest.mark.parametrize("wanted", ["x", "g", "xg"])  # what the second gradient is wrt
def test_pool_gradients_with_create_graph_require_grad_as_torchs(pool, wanted):
    """torch's pooling backward takes (grad, self): under create_graph the input's gradient
    requires grad when the input does, though it does not read the input's values, and
    differentiating it gives that input zeros (not an error), the grad a pool of its own."""
    from torch_twin import same

    def scenario(T):
        rng = np.random.default_rng(5)
        n = int(pool[-2])
        x = T.tensor(rng.standard_normal((2, 3) + (6,) * n).astype("float32"),
                     requires_grad=True)
        args = {"max": (3, 2, 1), "avg": (3, 2, 1), "ada": ((2,) * n,)}[pool[:3]]
        y = getattr(T.nn.functional, pool)(x, *args)
        g = T.tensor(rng.standard_normal(tuple(y.shape)).astype("float32"),
                     requires_grad="g" in wanted)
        gx, = T.autograd.grad(y, x, g, create_graph=True)
        leaves = [t for t, name in ((x, "x"), (g, "g")) if name in wanted]
        second = T.autograd.grad((gx * gx.detach().cos()).sum(), leaves)
        return gx.requires_grad, gx.grad_fn and gx.grad_fn.name(), gx, second

    same(scenario)


@pytest.mark.parametrize("act", ["prelu", "rrelu"])
@pytest.mark.parametrize("wanted", ["x", "w", "xw", "g", "xwg"])
def test_prelu_rrelu_gradients_with_create_graph_require_grad_as_torchs(act, wanted):
    """torch's _prelu_kernel_backward takes (grad, self, weight) and rrelu_with_noise_backward
    (grad, self, noise): under create_graph the gradients require grad when any of those
    that require grad does (a frozen PReLU's input gradient too), one node for both of
    prelu's, and their gradients are torch's (self gets zeros from the input's gradient)."""
    from torch_twin import same

    def scenario(T):
        rng = np.random.default_rng(6)
        x = T.tensor(rng.standard_normal((4, 3, 5)).astype("float32"), requires_grad=True)
        w = T.tensor(rng.uniform(0, 0.5, 3).astype("float32"), requires_grad="w" in wanted)
        F = T.nn.functional
        y = F.prelu(x, w) if act == "prelu" else F.rrelu(x, 0.1, 0.3, training=False)
        g = T.tensor(rng.standard_normal((4, 3, 5)).astype("float32"),
                     requires_grad="g" in wanted)
        leaves = [x] + ([w] if w.requires_grad and act == "prelu" else [])
        grads = T.autograd.grad(y, leaves, g, create_graph=True)
        seen = [(d.requires_grad, d.grad_fn and d.grad_fn.name()) for d in grads]
        penalty = sum((d * d.detach().cos()).sum() for d in grads if d.requires_grad)
        wrt = [t for t, name in ((x, "x"), (w, "w"), (g, "g")) if name in wanted]
        return seen, grads, T.autograd.grad(penalty, wrt, allow_unused=True,
                                            materialize_grads=True)

    same(scenario)


@pytest.mark.parametrize("act", ["elu", "selu", "celu"])
def test_elu_second_order_gradients_of_large_inputs_are_finite_as_torchs(act):
    """The exponential side of elu's gradient is not taken for a positive input; its exp
    (inf for a large one) must not reach the second-order gradient as 0·inf = nan
    (fuzzer seed 22210867)."""
    from torch_twin import same

    def scenario(T):
        x = T.tensor([1053.0, 200.0, -1.0, 0.5, 0.0], requires_grad=True)
        y = getattr(T.nn.functional, act)(x)
        g, = T.autograd.grad((y * y).sum(), x, create_graph=True)
        return g.detach(), T.autograd.grad((g * g).sum(), x)

    same(scenario)


@pytest.mark.parametrize("act", ["sigmoid", "elu", "selu", "celu", "softplus", "softplus_beta",
                                 "logsigmoid", "hardswish"])
@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_activation_gradients_are_their_backward_ops_as_torchs(act, dtype):
    """sigmoid's, elu's, softplus's, log_sigmoid's and hardswish's gradients are ops of their
    own in torch (SigmoidBackwardBackward0, EluBackwardBackward0, ...): a gradient
    taken with create_graph prints that node; their second derivatives mask the kink with
    a strict comparison (0 at elu's 0 and at softplus's threshold), and float16's
    sigmoid_backward rounds each of its products, as its kernel computes in c10::Half.
    elu's alpha is a float for a 2-byte float input (selu's is not rounded to bfloat16)."""
    from torch_twin import same

    def scenario(T):
        F = T.nn.functional
        fn = {"sigmoid": T.sigmoid, "elu": F.elu, "selu": F.selu,
              "celu": lambda v: F.celu(v, 0.5), "softplus": F.softplus,
              "softplus_beta": lambda v: F.softplus(v, beta=2, threshold=1.0),
              "logsigmoid": F.logsigmoid, "hardswish": F.hardswish}[act]
        x = T.tensor([-3.0, -0.5, 0.0, 0.5, 1.0, 25.0, float("nan")],
                     dtype=getattr(T, dtype), requires_grad=True)
        y = fn(x)
        g, = T.autograd.grad(y.sum(), x, create_graph=True)
        gg, = T.autograd.grad((g * T.arange(7, dtype=x.dtype)).sum(), x)
        return y, g.grad_fn.name(), g, gg

    same(scenario, rtol=0, atol=0)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_glus_gradient_is_its_backward_op_as_torchs(dim):
    """glu's gradient is torch's glu_backward: GluBackwardBackward0 under create_graph,
    row-major whatever the layouts of the input and the incoming gradient, and its
    gradients (of g and of x, torch's glu double-backward formulas)."""
    from torch_twin import same

    def scenario(T):
        x = T.tensor(np.linspace(-2, 2, 48).reshape(2, 4, 3, 2), dtype=T.float64)
        x = x.contiguous(memory_format=T.channels_last).requires_grad_()
        y = T.nn.functional.glu(x, dim)
        u = (y.detach() * 3).requires_grad_()
        g, = T.autograd.grad(y, x, u, create_graph=True)
        gu, gx = T.autograd.grad((g * g.detach().cos()).sum(), (u, x), create_graph=True)
        return g.grad_fn.name(), g.stride(), g, gu, gx, T.autograd.grad(gx.sum(), x)

    same(scenario)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_nll_losss_gradient_is_its_backward_op_as_torchs(reduction):
    """nll_loss's gradient is torch's nll_loss_backward: under create_graph it requires grad
    when the input does (NllLossBackwardBackward0, NllLoss2D... for images), even of a
    leaf's loss, row-major; its gradients: nll_loss of the incoming one, zeros for self."""
    from torch_twin import same

    def scenario(T):
        out = []
        for x, t in ((T.tensor(np.linspace(-1, 1, 12).reshape(4, 3)).t(), T.tensor([0, 2, 1])),
                     (T.tensor(np.linspace(-1, 1, 24).reshape(2, 3, 2, 2)), T.tensor(
                         [[[0, 1], [2, 1]], [[1, 1], [0, 2]]]))):
            x = x.requires_grad_()
            y = T.nn.functional.nll_loss(x, t, reduction=reduction, ignore_index=2)
            u = T.full(y.shape, 1.5, dtype=y.dtype, requires_grad=True)
            g, = T.autograd.grad(y, x, u, create_graph=True)
            out += [g.grad_fn.name(), g.stride(), g,
                    T.autograd.grad((g * g).sum(), (u, x), allow_unused=True)]
        return out

    same(scenario)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_nll_loss_skips_an_ignored_sample_whatever_its_input(reduction):
    # torch's kernel gives an ignored sample 0 and leaves it out of the sum, even where its
    # log-probabilities are inf or nan (program fuzzer, seed 22754243); a class weight of 0
    # is no skip: -inf times it is nan
    from torch_twin import same

    def scenario(T):
        x = T.tensor([[float("-inf"), 1.0], [2.0, float("nan")], [float("-inf"), -0.5]],
                     dtype=T.float64)
        t = T.tensor([0, 1, 0])
        w = T.tensor([0.0, 2.0], dtype=T.float64)
        return [T.nn.functional.nll_loss(x, t, ignore_index=i, reduction=reduction)
                for i in (0, 1)] + [T.nn.functional.nll_loss(x, t, w, reduction=reduction),
                                    T.nn.functional.cross_entropy(x[1:], t[1:], ignore_index=1,
                                                                  reduction=reduction)]

    same(scenario)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_second_order_gradients_are_torchs_formulas(reduction):
    """torch differentiates BCE's gradient by its own formulas, with eps added to x and
    1 - x: near a probability of 1 they differ from the exact derivative by parts in 1e6,
    which a float64 comparison sees (fuzzer seed 22299471). Input, target and the incoming
    gradient, with a weight."""
    from torch_twin import same

    def scenario(T):
        p = T.tensor([[0.999994, 0.2, 1e-5], [0.7, 0.99, 0.5]], dtype=T.float64,
                     requires_grad=True)
        y = T.tensor([[0.3, 0.9, 0.1], [0.0, 1.0, 0.5]], dtype=T.float64, requires_grad=True)
        w = T.tensor([0.5, 2.0, 1.5], dtype=T.float64)
        loss = T.nn.functional.binary_cross_entropy(p, y, weight=w, reduction=reduction)
        g_out = T.ones_like(loss).mul(1.5).requires_grad_()
        gp, gy = T.autograd.grad(loss, (p, y), g_out, create_graph=True)
        return gp, gy, T.autograd.grad((gp * gp).sum() + (gy * gp).sum(), (p, y, g_out))

    same(scenario, rtol=1e-12, atol=0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits_target_gradient_is_torchs_to_the_bit(reduction, weighted):
    """torch's target gradient is -input * grad, then the weight and 1/N in place: for a
    float32 input and a float64 target, all in float32 (a 0-dim float64 grad keeps the
    input's dtype), then cast (fuzzer seed 22328329: parts in 1e8 in a float64 program)."""
    rng = np.random.default_rng(2)
    values = rng.normal(size=(4, 3)), rng.random((4, 3)), rng.random(3) + 0.5
    grads = []
    for T in (torch, distgrad):
        x = T.tensor(values[0], dtype=T.float32)
        y = T.tensor(values[1], dtype=T.float64, requires_grad=True)
        w = T.tensor(values[2], dtype=T.float64) if weighted else None
        loss = T.nn.functional.binary_cross_entropy_with_logits(x, y, weight=w,
                                                                reduction=reduction)
        (g,) = T.autograd.grad((loss * 1.37).sum(), y)
        grads.append(np.asarray(g.tolist()))
    np.testing.assert_array_equal(grads[1], grads[0])


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_multihead_attention_projects_one_tensor_once_as_torch(batch_first, bias):
    """Query, key and value that are one tensor: one packed in-projection; key and value
    that are one: the query's projection, then one of the two at once (torch's
    _in_projection_packed): its nodes and what they save, as torch's."""
    from torch_twin import graph, same

    def f(T):
        T.manual_seed(0)
        m = T.nn.MultiheadAttention(4, 2, bias=bias, batch_first=batch_first)
        x = T.rand(3, 2, 4, requires_grad=True)
        k = T.rand(3, 2, 4)
        out = []
        for q_, k_, v_ in ((x, x, x), (x, k, k)):
            seen = []
            with T.autograd.graph.saved_tensors_hooks(
                    lambda t: seen.append(tuple(t.shape)) or t, lambda t: t):
                y = m(q_, k_, v_, need_weights=False)[0]
            out += [graph(y), seen, T.autograd.grad(y.sum(), (x, m.in_proj_weight))]
        return out

    same(f, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("affine", [False, True])
def test_eval_batch_norm_gradients_made_with_a_graph_are_one_node(affine):
    """Eval batch norm's gradients under create_graph: torch's node
    NativeBatchNormBackwardBackward0, with edges to the incoming gradient, the input and
    the weight, so the input's gradient requires grad even when nothing in it reads the
    input (distgrad's did not); second and third orders through it in float64."""
    from torch_twin import attempt, same

    def scenario(T):
        bn = T.nn.BatchNorm2d(2, affine=affine).double().eval()
        with T.no_grad():
            bn.running_mean.copy_(T.tensor([0.5, -1.0]))
            bn.running_var.copy_(T.tensor([2.0, 0.5]))
        x = T.tensor(arr(2, 2, 2, 2, seed=7), dtype=T.float64, requires_grad=True)
        gx, = T.autograd.grad(bn(x).sum(), x, create_graph=True)
        unused = attempt(T.autograd.grad, gx.sum(), x, retain_graph=True)
        y = bn(x)
        wanted = (x, bn.weight) if affine else (x,)
        first = T.autograd.grad((y ** 3).sum(), wanted, create_graph=True)
        second = T.autograd.grad(sum((g ** 2).sum() for g in first), wanted, create_graph=True)
        third = T.autograd.grad(sum((g * g).sum() for g in second), wanted)
        return [gx, gx.grad_fn.name(), len(gx.grad_fn.next_functions), unused,
                [g.grad_fn.name() for g in first], first, second, third]

    same(scenario)


_NORMS_WITH_A_GRAPH = {
    "batch_norm_2d": lambda T, dt, affine: T.nn.BatchNorm2d(2, affine=affine).to(dt),
    "batch_norm_1d_batch_stats": lambda T, dt, affine: T.nn.BatchNorm1d(
        3, affine=affine, track_running_stats=False).to(dt),
    "layer_norm_2d_shape": lambda T, dt, affine: T.nn.LayerNorm((2, 3), elementwise_affine=affine).to(dt),
    "layer_norm_last_dim": lambda T, dt, affine: T.nn.LayerNorm(3, elementwise_affine=affine).to(dt),
    "functional_batch_norm": lambda T, dt, affine: (lambda x, w, b: T.nn.functional.batch_norm(
        x, None, None, w, b, training=True)),
    "functional_layer_norm": lambda T, dt, affine: (lambda x, w, b: T.nn.functional.layer_norm(
        x, (2, 3), w, b)),
    "group_norm": lambda T, dt, affine: T.nn.GroupNorm(2, 4, affine=affine).to(dt),
    "functional_group_norm": lambda T, dt, affine: (lambda x, w, b: T.nn.functional.group_norm(
        x, 2, w, b)),
}
_NORM_INPUTS = {"batch_norm_2d": (3, 2, 2, 2), "batch_norm_1d_batch_stats": (4, 3),
                "layer_norm_2d_shape": (2, 2, 3), "layer_norm_last_dim": (2, 2, 3),
                "functional_batch_norm": (4, 2, 3), "functional_layer_norm": (2, 2, 3),
                "group_norm": (2, 4, 3), "functional_group_norm": (2, 4, 2, 2)}


@pytest.mark.parametrize("kind, affine, dtype", [
    ("batch_norm_2d", True, "float64"), ("batch_norm_2d", False, "float32"),
    ("batch_norm_1d_batch_stats", True, "float32"), ("batch_norm_1d_batch_stats", False, "float64"),
    ("layer_norm_2d_shape", True, "float64"), ("layer_norm_2d_shape", False, "float32"),
    ("layer_norm_last_dim", True, "float32"), ("layer_norm_last_dim", False, "float64"),
    ("functional_batch_norm", True, "float64"), ("functional_layer_norm", True, "float64"),
    ("group_norm", True, "float32"), ("functional_group_norm", True, "float64"),
    ("functional_group_norm", False, "float32")])
def test_training_norm_gradients_made_with_a_graph_are_torch_node(kind, affine, dtype):
    """Training batch norm's and layer norm's gradients under create_graph: torch's one node
    (NativeBatchNormBackwardBackward0, NativeLayerNormBackwardBackward0) with its edges, and
    the third order is that of torch's double backward formula with the statistics held
    constant, not the exact one distgrad's composite gave (it differed by a factor). Group
    norm's are torch's composite (ViewBackward0 of its sums), as torch writes them."""
    from torch_twin import graph, same

    def scenario(T):
        dt = getattr(T, dtype)
        shape = _NORM_INPUTS[kind]
        norm = _NORMS_WITH_A_GRAPH[kind](T, dt, affine)
        x = T.tensor(np.random.default_rng(3).standard_normal(shape), dtype=dt,
                     requires_grad=True)
        if isinstance(norm, T.nn.Module):
            params = tuple(norm.parameters())
            with T.no_grad():
                for k, p in enumerate(params):
                    p.copy_(T.linspace(0.5, 1.5 + k, p.numel(), dtype=dt).reshape(p.shape))
            f = norm
        else:
            size = (2, 3) if "layer" in kind else (shape[1],)
            params = tuple(T.linspace(0.5, 1.5 + k, math.prod(size), dtype=dt).reshape(
                size).requires_grad_() for k in range(2)) if affine else ()
            f = lambda x: norm(x, *(params or (None, None)))  # noqa: E731
        wanted = (x,) + params
        first = T.autograd.grad((f(x) ** 3).sum(), wanted, create_graph=True)
        second = T.autograd.grad(sum((g ** 2).sum() for g in first), wanted, create_graph=True)
        third = T.autograd.grad(sum((g * g).sum() for g in second), wanted)
        return [graph(first[0], 2), [g.grad_fn.name() for g in first + second],
                first, second, third]

    # (float32's third orders, in the thousands, carry cancellation: an absolute slack)
    same(scenario, **(dict(rtol=1e-4, atol=1e-3) if dtype == "float32" else dict(rtol=1e-7)))


@pytest.mark.parametrize("weight_dtype", ["bfloat16", "float32"])
def test_bfloat16_group_norm_gradients_made_with_a_graph_are_torch_nodes(weight_dtype):
    """A bfloat16 group norm's gradients under create_graph: torch's composite computes in
    the operands' dtypes (a float32 weight's statistics in float32), so no ToCopyBackward0
    where its results already have their inputs' dtypes."""
    from torch_twin import same

    def scenario(T):
        x = T.tensor(np.random.default_rng(1).standard_normal((2, 4, 3)), dtype=T.bfloat16,
                     requires_grad=True)
        norm = T.nn.GroupNorm(2, 4).to(getattr(T, weight_dtype))
        first = T.autograd.grad((norm(x).float() ** 3).sum(), (x, *norm.parameters()),
                                create_graph=True)
        return [[g.grad_fn.name() for g in first], first]

    same(scenario)


@pytest.mark.parametrize("shape,channels", [((8, 3), 3), ((16, 1, 33), 1), ((6, 4, 9, 5), 4),
                                            ((5, 7, 40), 1)])
def test_prelu_weight_gradient_is_torchs_float32_sum_to_the_bit(shape, channels):
    """The weight's gradient sums x·g (where x ≤ 0) down to the weight in torch's sum
    kernel's order: numpy's pairwise order leaves some float32 sums a last bit off."""
    x, g = arr(*shape, seed=3, lo=-2, hi=1), arr(*shape, seed=4)
    grads = []
    for lib in (torch, distgrad):
        w = lib.full((channels,), 0.25, requires_grad=True)
        lib.nn.functional.prelu(lib.tensor(x), w).backward(lib.tensor(g))
        grads.append(w.grad.numpy())
    np.testing.assert_array_equal(grads[1], grads[0])
