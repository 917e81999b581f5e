"""nn.TransformerEncoderLayer, TransformerDecoderLayer, their stacks and nn.Transformer against
torch's: torch's state_dict loaded into distgrad's module, then in eval mode the output and
the gradients of the inputs and of every parameter compared, with no mask, a causal boolean
mask, a float mask, key padding masks and is_causal; dropout in train mode; and the errors
and warnings of torch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import distgrad
import distgrad.nn as dnn
from module_twin import arr, as_np, assert_match, load_torch_state, run_pair

E, HEADS, FF, L, S, N = 8, 2, 16, 5, 4, 3
CAUSAL = np.triu(np.ones((L, L), bool), 1)  # True: may not attend
PAD_L = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1]], bool)
PAD_S = np.array([[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 1]], bool)


def _masks(lib, masks: dict) -> dict:
    """Mask arrays as lib tensors; the string "causal" as lib's generated causal float mask."""
    out = {}
    for k, v in masks.items():
        if isinstance(v, str):
            out[k] = lib.nn.Transformer.generate_square_subsequent_mask(L)
        elif isinstance(v, np.ndarray):
            out[k] = lib.tensor(v)
        else:
            out[k] = v
    return out


def _seq(shape_lne, batch_first):
    """An (L, N, E) array, as (N, L, E) with batch_first, or unbatched (L, E) with None."""
    x = arr(*shape_lne, seed=shape_lne[0])
    if batch_first is None:
        return x[:, 0]
    return x.transpose(1, 0, 2).copy() if batch_first else x


# ---- encoder layer -----------------------------------------------------------------------

ENCODER_CASES = {
    "post_norm_relu": ({}, False, {}),
    "post_norm_causal_bool_mask": ({}, False, {"src_mask": CAUSAL}),
    "norm_first_gelu_batch_first_causal_bool": (
        {"norm_first": True, "activation": "gelu", "batch_first": True}, True,
        {"src_mask": CAUSAL}),
    "float_mask_callable_activation": (
        {"activation": lambda nn: nn.functional.silu}, False, {"src_mask": arr(L, L, seed=9)}),
    "key_padding_norm_first_batch_first": (
        {"norm_first": True, "batch_first": True}, True, {"src_key_padding_mask": PAD_L}),
    "key_padding_and_causal_bool": ({"activation": "gelu"}, False,
                                    {"src_mask": CAUSAL, "src_key_padding_mask": PAD_L}),
    "is_causal_with_generated_mask": ({"norm_first": True}, False,
                                      {"src_mask": "causal", "is_causal": True}),
    "unbatched_causal": ({"batch_first": True}, None, {"src_mask": CAUSAL}),
    "no_bias_eps_module_activation": (
        {"bias": False, "layer_norm_eps": 1e-3, "activation": lambda nn: nn.GELU("tanh")},
        False, {}),
}


def _layer_kwargs(nn, kw: dict) -> dict:
    kw = dict(kw)
    if callable(kw.get("activation")):
        kw["activation"] = kw["activation"](nn)
    return kw


@pytest.mark.parametrize("name", list(ENCODER_CASES))
def test_encoder_layer_matches_torch(name):
    kw, batch_first, masks = ENCODER_CASES[name]
    make = (lambda nn: nn.TransformerEncoderLayer(E, HEADS, FF, **_layer_kwargs(nn, kw)))
    pairs = run_pair(make, {"src": _seq((L, N, E), batch_first)},
                     lambda mod, lib, t: mod(t["src"], **_masks(lib, masks)))
    assert_match(pairs)


# ---- decoder layer -----------------------------------------------------------------------

DECODER_CASES = {
    "post_norm": ({}, False, {}),
    "post_norm_causal_bool_memory_padding": (
        {"activation": "gelu"}, False,
        {"tgt_mask": CAUSAL, "memory_key_padding_mask": PAD_S}),
    "norm_first_batch_first_tgt_is_causal_float_memory_mask": (
        {"norm_first": True, "batch_first": True}, True,
        {"tgt_mask": "causal", "tgt_is_causal": True, "memory_mask": arr(L, S, seed=8)}),
    "norm_first_tgt_padding": ({"norm_first": True}, False,
                               {"tgt_key_padding_mask": PAD_L, "tgt_mask": CAUSAL}),
    "unbatched": ({"batch_first": True}, None, {"tgt_mask": CAUSAL}),
}


@pytest.mark.parametrize("name", list(DECODER_CASES))
def test_decoder_layer_matches_torch(name):
    kw, batch_first, masks = DECODER_CASES[name]
    make = (lambda nn: nn.TransformerDecoderLayer(E, HEADS, FF, **_layer_kwargs(nn, kw)))
    arrays = {"tgt": _seq((L, N, E), batch_first), "memory": _seq((S, N, E), batch_first)}
    assert_match(run_pair(make, arrays, lambda mod, lib, t: mod(t["tgt"], t["memory"],
                                                                **_masks(lib, masks))))


# ---- stacks and the whole Transformer ------------------------------------------------------

def _encoder(nn, norm_first=False):
    layer = nn.TransformerEncoderLayer(E, HEADS, FF, norm_first=norm_first, batch_first=True)
    return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E), enable_nested_tensor=False)


@pytest.mark.parametrize("masks", [
    {"mask": CAUSAL, "src_key_padding_mask": PAD_L},
    {"mask": "causal"},  # detected as causal (is_causal=None)
    {"mask": arr(L, L, seed=3), "is_causal": False},
], ids=["bool_and_padding", "detected_causal", "float"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_stack_matches_torch(masks, norm_first):
    pairs = run_pair(lambda nn: _encoder(nn, norm_first), {"src": _seq((L, N, E), True)},
                     lambda mod, lib, t: mod(t["src"], **_masks(lib, masks)))
    assert_match(pairs)


def test_decoder_stack_matches_torch():
    def make(nn):
        return nn.TransformerDecoder(nn.TransformerDecoderLayer(E, HEADS, FF), 2, nn.LayerNorm(E))

    arrays = {"tgt": _seq((L, N, E), False), "memory": _seq((S, N, E), False)}
    masks = {"tgt_mask": CAUSAL, "memory_key_padding_mask": PAD_S}
    assert_match(run_pair(make, arrays, lambda mod, lib, t: mod(t["tgt"], t["memory"],
                                                                **_masks(lib, masks))))


def test_stack_layers_are_deep_copies_with_torchs_names():
    tmod, dmod = _encoder(torch.nn), _encoder(dnn)
    assert list(dmod.state_dict()) == list(tmod.state_dict())
    assert repr(dmod) == repr(tmod)
    assert dmod.layers[0].linear1.weight is not dmod.layers[1].linear1.weight
    # built as copies of one layer: equal values until trained apart
    np.testing.assert_array_equal(as_np(dmod.layers[0].linear1.weight),
                                  as_np(dmod.layers[1].linear1.weight))


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first):
    def make(nn):
        return nn.Transformer(E, HEADS, 2, 2, FF, batch_first=batch_first)

    arrays = {"src": _seq((S, N, E), batch_first), "tgt": _seq((L, N, E), batch_first)}
    masks = {"tgt_mask": "causal", "src_key_padding_mask": PAD_S,
             "memory_key_padding_mask": PAD_S}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # enable_nested_tensor's, in both libraries
        pairs = run_pair(make, arrays, lambda mod, lib, t: mod(t["src"], t["tgt"],
                                                               **_masks(lib, masks)))
    assert_match(pairs)


def test_transformer_parameters_and_init_as_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmod, dmod = torch.nn.Transformer(E, HEADS, 1, 2, FF), dnn.Transformer(E, HEADS, 1, 2, FF)
    assert [(n, tuple(p.shape)) for n, p in dmod.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tmod.named_parameters()]
    assert repr(dmod) == repr(tmod)
    w = as_np(dmod.encoder.layers[0].linear1.weight)  # xavier uniform: ±sqrt(6 / (E + FF))
    assert np.abs(w).max() <= np.sqrt(6 / (E + FF)) and w.std() > 0.1


@pytest.mark.parametrize("make", [
    lambda nn: nn.TransformerEncoderLayer(E, HEADS, FF, activation=nn.GELU("tanh"), bias=False),
    lambda nn: nn.TransformerDecoderLayer(E, HEADS, FF, activation="gelu", norm_first=True),
], ids=["encoder_layer_module_activation", "decoder_layer"])
def test_layer_submodules_as_torch(make):
    tmod, dmod = make(torch.nn), make(dnn)
    assert list(dmod.state_dict()) == list(tmod.state_dict())
    assert repr(dmod) == repr(tmod)
    assert getattr(dmod, "activation_relu_or_gelu", None) == \
        getattr(tmod, "activation_relu_or_gelu", None)


def test_generate_square_subsequent_mask_as_torch():
    got = dnn.Transformer.generate_square_subsequent_mask(4, dtype=distgrad.float64)
    expected = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    np.testing.assert_array_equal(as_np(got), expected.numpy())
    assert got.dtype is distgrad.float64


# ---- dropout ---------------------------------------------------------------------------------

def test_train_mode_without_dropout_matches_torch():
    def make(nn):
        return nn.TransformerDecoderLayer(E, HEADS, FF, dropout=0.0, norm_first=True)

    arrays = {"tgt": _seq((L, N, E), False), "memory": _seq((S, N, E), False)}
    assert_match(run_pair(make, arrays, lambda mod, lib, t: mod(t["tgt"], t["memory"]),
                          train=True))


def test_dropout_only_in_train_mode_and_seeded():
    layer = dnn.TransformerEncoderLayer(E, HEADS, FF, dropout=0.5)
    x = distgrad.tensor(_seq((L, N, E), False))
    layer.eval()
    plain = as_np(layer(x))
    np.testing.assert_array_equal(as_np(layer(x)), plain)
    layer.train()
    distgrad.manual_seed(5)
    first = as_np(layer(x))
    distgrad.manual_seed(5)
    np.testing.assert_array_equal(as_np(layer(x)), first)  # masks from manual_seed's stream
    assert np.abs(first - plain).max() > 0.1


# ---- errors and warnings in torch's words ------------------------------------------------------

def _both_raise(fn):
    caught = []
    for lib in (torch, distgrad):
        with pytest.raises((RuntimeError, AssertionError, ValueError)) as info:
            fn(lib)
        caught.append((type(info.value), str(info.value)))
    assert caught[1] == caught[0]


ERRORS = {
    "activation": lambda lib: lib.nn.TransformerEncoderLayer(E, HEADS, activation="tanh"),
    "batch": lambda lib: lib.nn.Transformer(E, HEADS, 1, 1, FF, batch_first=True)(
        lib.zeros(2, 4, E), lib.zeros(3, 5, E)),
    "features": lambda lib: lib.nn.Transformer(E, HEADS, 1, 1, FF, batch_first=True)(
        lib.zeros(2, 4, E), lib.zeros(2, 5, E + 1)),
    "int_mask": lambda lib: lib.nn.TransformerEncoderLayer(E, HEADS, FF)(
        lib.zeros(L, N, E), src_mask=lib.zeros(L, L, dtype=lib.int64)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_as_torch(name):
    _both_raise(ERRORS[name])


WARNINGS = {
    "nested_tensor": lambda lib: lib.nn.TransformerEncoder(
        lib.nn.TransformerEncoderLayer(E, HEADS, FF), 2),
    "nested_tensor_odd_heads": lambda lib: lib.nn.TransformerEncoder(
        lib.nn.TransformerEncoderLayer(E, 1, FF, batch_first=True), 1),
    "mismatched_masks": lambda lib: lib.nn.TransformerEncoderLayer(E, HEADS, FF)(
        lib.zeros(L, N, E), src_mask=lib.zeros(L, L),
        src_key_padding_mask=lib.zeros(N, L, dtype=lib.bool)),
}


@pytest.mark.parametrize("name", list(WARNINGS))
def test_warnings_as_torch(name):
    seen = []
    for lib in (torch, distgrad):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            WARNINGS[name](lib)
        seen.append(sorted({(w.category, str(w.message)) for w in caught}))
    assert seen[1] == seen[0] and seen[0]


def test_mask_and_padding_change_the_result():
    """The masks reach the attention: each changes distgrad's output, as torch's."""
    torch.manual_seed(0)
    tm = torch.nn.TransformerEncoderLayer(E, HEADS, FF).eval()
    dm = dnn.TransformerEncoderLayer(E, HEADS, FF).eval()
    load_torch_state(tm, dm)
    x = _seq((L, N, E), False)
    outs = []
    for kw in ({}, {"src_mask": CAUSAL}, {"src_key_padding_mask": PAD_L}):
        with torch.no_grad():
            expected = tm(torch.tensor(x), **_masks(torch, kw)).numpy()
        got = as_np(dm(distgrad.tensor(x), **_masks(distgrad, kw)))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
        outs.append(got)
    assert not np.allclose(outs[0], outs[1]) and not np.allclose(outs[0], outs[2])


@pytest.mark.parametrize("padding, mask_check", [
    ([[0, 0, 0, 1, 1], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], True),  # left-aligned: nested
    ([[0, 0, 0, 1, 1], [1, 1, 1, 1, 1], [0, 1, 1, 1, 1]], True),  # a sequence all padding
    ([[1, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], True),  # not left-aligned: not nested
    ([[1, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], False),  # nested all the same
], ids=["left_aligned", "all_padding", "not_left_aligned", "unchecked"])
def test_encoder_inference_with_padding_is_torchs_nested_path(padding, mask_check):
    # eval, no grad, a key padding mask: torch runs the layers on a nested tensor (each
    # sequence as long as its unmasked keys count) and pads the result back with zeros,
    # before the final norm
    torch.manual_seed(0)
    outs = []
    for nn in (torch.nn, dnn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = nn.TransformerEncoderLayer(E, HEADS, FF, batch_first=True)
            outs.append(nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E),
                                              mask_check=mask_check).eval())
    load_torch_state(*outs)
    x = _seq((3, 5, E), False)
    got = []
    for lib, mod in zip((torch, distgrad), outs):
        with lib.no_grad():
            got.append(as_np(mod(lib.tensor(x), src_key_padding_mask=lib.tensor(
                np.array(padding, bool)))))
    np.testing.assert_allclose(got[1], got[0], rtol=1e-5, atol=1e-5)
