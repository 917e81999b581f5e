"""The GPT's text: the standard library's source, split by file, in a fixed vocabulary."""
from __future__ import annotations

import numpy as np

from distgrad.cli import text_data


def test_vocabulary_is_fixed_and_round_trips():
    assert len(text_data.VOCAB) == 96 and text_data.VOCAB[0] == "\n"
    ids = text_data.encode("def f(x):\n\treturn x  # é")
    assert ids.dtype == np.int64 and ids.max() < 96
    assert text_data.decode(ids) == "def f(x):\n    return x  # "


def test_split_is_by_file_and_both_sides_have_text():
    files = text_data.stdlib_files()
    val = [f for f in files if text_data.is_validation(f, 0.1)]
    assert 0 < len(val) < len(files) / 4
    train, held, n_train, n_val = text_data.load_stdlib_text(0.1)
    assert (n_train, n_val) == (len(files) - len(val), len(val))
    assert len(train) > 5 * len(held) > 0


def test_random_windows_are_next_character_pairs():
    data = np.arange(100)
    x, y = text_data.random_windows(data, 4, 8, np.random.default_rng(0))
    assert x.shape == y.shape == (4, 8)
    np.testing.assert_array_equal(y, x + 1)
