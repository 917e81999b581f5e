"""dtypes against torch: the names torch prints for each dtype, and the dtype (and value)
of results when bool, int64 and float tensors and Python numbers meet in one op."""
from __future__ import annotations

import pytest

import distgrad
from distgrad import dtypes
from torch_twin import attempt, same

DTYPES = ("bool", "int64", "float32", "float64")


# ---- the names on the dtype objects ------------------------------------------------------------

@pytest.mark.parametrize("name", DTYPES)
def test_type_name_is_torchs(name):
    same(lambda t: t.tensor([1], dtype=getattr(t, name)).type())


@pytest.mark.parametrize("name", ("int64", "float32", "float64"))
def test_names_in_mask_messages_are_torchs(name):
    """where prints the long name ('Float'), masked_fill the C name ('float')."""
    def scenario(t):
        mask = t.tensor([1, 0], dtype=getattr(t, name))
        return (attempt(t.where, mask, t.ones(2), t.zeros(2)),
                attempt(lambda: t.ones(2).masked_fill(mask, 1.0)))

    same(scenario)


def test_random_bound_is_the_largest_exact_integer():
    assert [dtypes.from_name(n).random_to for n in DTYPES] == [2, 2 ** 63 - 1, 2 ** 24 + 1,
                                                               2 ** 53 + 1]
    assert distgrad.float32.c_name == "float" and distgrad.int64.long_name == "Long"
