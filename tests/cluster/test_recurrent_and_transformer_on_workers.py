"""An LSTM and a TransformerEncoderLayer placed on worker:0, on both backends, against torch:
outputs, final states and the gradients of the inputs, initial states and every parameter,
all computed (and the gradients accumulated) where the module lives
(tests/unit/module_twin.py)."""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "unit"))
from module_twin import arr, assert_match, run_pair  # noqa: E402

DEVICE = "worker:0"


def test_lstm_on_a_worker(backend):
    def make(nn):
        return nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=True)

    arrays = {"x": arr(3, 5, 4, seed=1), "h0": arr(4, 3, 6, seed=2), "c0": arr(4, 3, 6, seed=3)}
    pairs = run_pair(make, arrays, lambda mod, lib, t: mod(t["x"], (t["h0"], t["c0"])),
                     device=DEVICE)
    assert_match(pairs)


def test_transformer_encoder_layer_on_a_worker(backend):
    def make(nn):
        return nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", norm_first=True,
                                          batch_first=True)

    causal = np.triu(np.ones((5, 5), bool), 1)
    padding = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 1]], bool)

    def call(mod, lib, t):
        dev = t["src"].device
        return mod(t["src"], src_mask=lib.tensor(causal, device=dev),
                   src_key_padding_mask=lib.tensor(padding, device=dev))

    assert_match(run_pair(make, {"src": arr(3, 5, 8, seed=4)}, call, device=DEVICE))
