"""pad_sequence: a list of (L_i, *) tensors padded to the longest and stacked (as
torch.nn.utils.rnn)."""
from __future__ import annotations

from typing import Sequence

from ...tensor import Tensor


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """(L_max, B, *) or with batch_first (B, L_max, *); each sequence padded with
    padding_value after (padding_side="right") or before ("left") its elements."""
    from ...ops.functions import stack
    from .. import functional as F

    if padding_side not in ("left", "right"):
        raise ValueError(f"Expected padding_side to be one of left or right, but got "
                         f"{padding_side}.")
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = longest - s.shape[0]
        pad = [0, 0] * (s.ndim - 1) + ([0, extra] if padding_side == "right" else [extra, 0])
        padded.append(F.pad(s, pad, value=padding_value) if extra else s)
    return stack(padded, 0 if batch_first else 1)
