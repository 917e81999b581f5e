"""torch.nn.common_types: every alias torch's has, standing for the same types (module
code copied from torch's layers annotates with them)."""
from __future__ import annotations

import typing

import torch.nn.common_types as theirs

import distgrad
import distgrad.nn.common_types as ours

NAMES = [n for n in dir(theirs) if n.startswith("_") and n.endswith("_t")]


def _shape_of(alias, tensor_type):
    """An alias as nested tuples of plain names, the tensor class and None named alike."""
    if alias is tensor_type:
        return "Tensor"
    if alias is type(None):
        return "None"
    args = typing.get_args(alias)
    if not args:
        return getattr(alias, "__name__", repr(alias))
    origin = typing.get_origin(alias)
    return (getattr(origin, "__name__", repr(origin)),
            tuple(_shape_of(a, tensor_type) for a in args))


def test_the_aliases_are_torchs():
    import torch

    assert len(NAMES) >= 20
    for name in NAMES:
        assert _shape_of(getattr(ours, name), distgrad.Tensor) == \
            _shape_of(getattr(theirs, name), torch.Tensor), name
