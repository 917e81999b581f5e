"""An LSTM on a PackedSequence and weight-normed Linears placed on worker:0, on both backends,
against torch: the packed output, padded output, final states and the gradients of the
input, initial states and every parameter (the parametrization's originals included), all
computed where the module lives (tests/unit/module_twin.py)."""
from __future__ import annotations

import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit"))
from module_twin import arr, assert_match, run_pair  # noqa: E402

DEVICE = "worker:0"


def test_lstm_on_a_packed_sequence_on_a_worker(backend):
    def make(nn):
        return nn.LSTM(3, 5, num_layers=2, bidirectional=True)

    arrays = {"x": arr(5, 4, 3, seed=1), "h0": arr(4, 4, 5, seed=2), "c0": arr(4, 4, 5, seed=3)}

    def call(mod, lib, t):
        packed = lib.nn.utils.rnn.pack_padded_sequence(t["x"], [2, 5, 1, 4],
                                                       enforce_sorted=False)
        out, (h, c) = mod(packed, (t["h0"], t["c0"]))
        padded, _ = lib.nn.utils.rnn.pad_packed_sequence(out, padding_value=0.5)
        return out.data, padded, h, c

    assert_match(run_pair(make, arrays, call, device=DEVICE), atol=2e-6)


def test_weight_normed_linears_on_a_worker(backend):
    def make(nn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(3, 4)),
                                 nn.Tanh(), nn.utils.weight_norm(nn.Linear(4, 2), dim=None))

    assert_match(run_pair(make, {"x": arr(6, 3, seed=4)}, lambda mod, lib, t: mod(t["x"]),
                          device=DEVICE))
