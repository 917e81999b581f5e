"""nn.utils.rnn's PackedSequence helpers and RNN/LSTM/GRU on a PackedSequence, against torch:
packed data, batch_sizes, sorted/unsorted indices, padded outputs and lengths, the gradients
flowing back through packing and padding (and the names of their nodes), torch's errors; and for the recurrent layers (torch's
state_dict loaded) the packed output, each sequence's final states and the gradients of the
input, the initial states and every parameter."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import distgrad

from module_twin import arr, as_np, assert_match, run_pair

LENGTHS = {"sorted": ([5, 3, 3, 1], True), "unsorted": ([2, 5, 1, 4], False),
           "unsorted_ties": ([3, 5, 3, 1], False)}


def _rnn_utils(lib):
    return lib.nn.utils.rnn


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("case", sorted(LENGTHS))
def test_pack_and_pad_against_torch(case, batch_first):
    lengths, enforce_sorted = LENGTHS[case]
    shape = (4, 5, 3) if batch_first else (5, 4, 3)
    got = {}
    for lib in (torch, distgrad):
        x = lib.tensor(arr(*shape, seed=1), requires_grad=True)
        as_lengths = lengths if lib is torch else distgrad.tensor(lengths)
        packed = _rnn_utils(lib).pack_padded_sequence(x, as_lengths, batch_first=batch_first,
                                                      enforce_sorted=enforce_sorted)
        padded, lens = _rnn_utils(lib).pad_packed_sequence(
            packed, batch_first=batch_first, padding_value=-2.0, total_length=7)
        (padded * lib.tensor(arr(*padded.shape, seed=2))).sum().backward()
        got[lib] = [as_np(t) for t in (packed.data, packed.batch_sizes, packed.sorted_indices,
                                       packed.unsorted_indices, padded, lens, x.grad)]
        got[lib].append([packed.data.grad_fn.name(), padded.grad_fn.name()])
        assert packed.batch_sizes.device.type == "cpu"
        assert str(lens.dtype) == "torch.int64" and str(packed.batch_sizes.dtype) == "torch.int64"
    assert got[distgrad].pop() == got[torch].pop()  # the nodes' names
    for mine, theirs in zip(got[distgrad], got[torch]):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            np.testing.assert_array_equal(mine, theirs)


def test_pack_sequence_unpack_and_unpad():
    seqs = [arr(n, 2, seed=n) for n in (2, 4, 3)]
    got = {}
    for lib in (torch, distgrad):
        ts = [lib.tensor(s, requires_grad=True) for s in seqs]
        packed = _rnn_utils(lib).pack_sequence(ts, enforce_sorted=False)
        back = _rnn_utils(lib).unpack_sequence(packed)
        padded = _rnn_utils(lib).pad_sequence(ts)
        cut = _rnn_utils(lib).unpad_sequence(padded, lib.tensor([2, 4, 3]))
        sum((b * (k + 1)).sum() + (c * (k + 2) ** 2).sum()
            for k, (b, c) in enumerate(zip(back, cut))).backward()
        got[lib] = [as_np(t) for t in [packed.data, *back, *cut] + [t.grad for t in ts]]
    for mine, theirs in zip(got[distgrad], got[torch]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)


def test_packed_sequence_object():
    for lib in (torch, distgrad):
        packed = _rnn_utils(lib).pack_sequence([lib.tensor(arr(3, 2)), lib.tensor(arr(1, 2))])
        assert isinstance(packed, tuple) and len(packed) == 4
        assert packed.sorted_indices is None and packed.unsorted_indices is None
        assert packed.is_cuda is False and packed.is_pinned() is False
        assert packed.to(lib.float32) is packed
        doubled = packed.double()
        assert str(doubled.data.dtype) == "torch.float64"
        assert doubled.batch_sizes is packed.batch_sizes
        data, batch_sizes, _, _ = packed
        rebuilt = type(packed)(data, batch_sizes)
        assert rebuilt.batch_sizes is batch_sizes and rebuilt.unsorted_indices is None
        pair = type(packed)((data, batch_sizes))
        assert pair.data is data
    perm = distgrad.tensor([2, 0, 1])
    np.testing.assert_array_equal(
        as_np(distgrad.nn.utils.rnn.invert_permutation(perm)),
        as_np(torch.nn.utils.rnn.invert_permutation(torch.tensor([2, 0, 1]))))


def _error(lib, fn):
    with pytest.raises(Exception) as info:
        fn(lib)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("name", ["unsorted", "zero_length", "wrong_count", "total_length"])
def test_errors_are_torchs(name):
    x = arr(4, 3, 2)

    def unsorted(lib):
        _rnn_utils(lib).pack_padded_sequence(lib.tensor(x), [1, 4, 2])

    def zero_length(lib):
        _rnn_utils(lib).pack_padded_sequence(lib.tensor(x), [4, 2, 0])

    def wrong_count(lib):
        _rnn_utils(lib).pack_padded_sequence(lib.tensor(x), [4, 2])

    def total_length(lib):
        packed = _rnn_utils(lib).pack_padded_sequence(lib.tensor(x), [4, 2, 1])
        _rnn_utils(lib).pad_packed_sequence(packed, total_length=3)

    fn = locals()[name]
    assert _error(distgrad, fn) == _error(torch, fn)


# ---- recurrent layers on a PackedSequence ---------------------------------------------------
T, B, IN, H = 5, 4, 3, 5

LAYERS = {
    "rnn_tanh": (lambda nn: nn.RNN(IN, H), 1),
    "rnn_relu_2layers_bidirectional": (lambda nn: nn.RNN(IN, H, 2, nonlinearity="relu",
                                                         bidirectional=True), 1),
    "lstm_2layers_bidirectional": (lambda nn: nn.LSTM(IN, H, 2, bidirectional=True), 2),
    "lstm_proj_batch_first": (lambda nn: nn.LSTM(IN, H, proj_size=2, batch_first=True), 2),
    "gru_2layers_bidirectional_batch_first": (
        lambda nn: nn.GRU(IN, H, 2, bidirectional=True, batch_first=True), 1),
    "gru_no_bias": (lambda nn: nn.GRU(IN, H, bias=False), 1),
}


@pytest.mark.parametrize("given_state", [False, True])
@pytest.mark.parametrize("lengths", sorted(LENGTHS))
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_recurrent_layer_on_packed_sequence(layer, lengths, given_state):
    make, n_states = LAYERS[layer]
    lens, enforce_sorted = LENGTHS[lengths]
    probe = make(torch.nn)
    directions = 2 if probe.bidirectional else 1
    widths = [probe.proj_size or H, H][:n_states]
    arrays = {"x": arr(T, B, IN, seed=3)}
    if given_state:
        arrays.update({f"h{k}": arr(probe.num_layers * directions, B, w, seed=4 + k)
                       for k, w in enumerate(widths)})

    def call(mod, lib, t):
        x = t["x"].transpose(0, 1) if mod.batch_first else t["x"]
        packed = lib.nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=mod.batch_first,
                                                       enforce_sorted=enforce_sorted)
        states = [t[f"h{k}"] for k in range(n_states)] if given_state else []
        hx = None if not states else states[0] if n_states == 1 else tuple(states)
        out, finals = mod(packed, hx)
        assert type(out).__name__ == "PackedSequence"
        assert out.batch_sizes is packed.batch_sizes
        assert out.unsorted_indices is packed.unsorted_indices
        padded, _ = lib.nn.utils.rnn.pad_packed_sequence(out, batch_first=mod.batch_first)
        return out.data, padded, finals

    assert_match(run_pair(make, arrays, call), rtol=1e-5, atol=2e-6)


def test_packed_input_checks_are_torchs():
    def wrong_width(lib):
        mod = lib.nn.RNN(IN, H)
        mod(_rnn_utils(lib).pack_sequence([lib.tensor(arr(3, IN + 1))]))

    def wrong_state(lib):
        mod = lib.nn.GRU(IN, H)
        packed = _rnn_utils(lib).pack_sequence([lib.tensor(arr(3, IN)), lib.tensor(arr(2, IN))])
        mod(packed, lib.zeros(1, 3, H))

    for fn in (wrong_width, wrong_state):
        assert _error(distgrad, fn) == _error(torch, fn)


def test_packed_gru_finite_differences_and_second_order():
    """Through packing, a bidirectional GRU and padding: gradients and gradients of gradients
    against finite differences (float64)."""
    distgrad.manual_seed(0)
    gru = distgrad.nn.GRU(2, 3, bidirectional=True).double()
    rnn_utils = distgrad.nn.utils.rnn
    x = distgrad.tensor(arr(3, 2, 2, seed=8).astype(np.float64), requires_grad=True)
    h0 = distgrad.tensor(arr(2, 2, 3, seed=9).astype(np.float64), requires_grad=True)

    def f(x, h0):
        out, h = gru(rnn_utils.pack_padded_sequence(x, [1, 3], enforce_sorted=False), h0)
        return rnn_utils.pad_packed_sequence(out, padding_value=0.3)[0], h

    assert distgrad.autograd.gradcheck(f, (x, h0))
    assert distgrad.autograd.gradgradcheck(f, (x, h0))


def test_unsorted_batch_of_many_equal_lengths_is_ordered_as_torch():
    """torch sorts the lengths with its (unstable) sort: past 16 sequences, equal lengths
    come in std::sort's order, and so do the packed rows."""
    lens = [3, 5, 3, 2, 5, 3, 1, 3, 5, 2, 2, 3, 4, 4, 1, 3, 5, 2, 3, 3, 1]
    packed = []
    for T in (distgrad, torch):
        x = T.arange(5 * 21 * 2.).reshape(5, 21, 2)
        packed.append(T.nn.utils.rnn.pack_padded_sequence(x, T.tensor(lens),
                                                          enforce_sorted=False))
    ours, theirs = packed
    assert ours.sorted_indices.tolist() == theirs.sorted_indices.tolist()
    np.testing.assert_array_equal(ours.data.numpy(), theirs.data.numpy())
