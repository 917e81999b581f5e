"""torch.nn.utils.rnn: PackedSequence, pack_padded_sequence, pad_packed_sequence,
pack_sequence, unpack_sequence, pad_sequence and unpad_sequence.

A PackedSequence holds the time steps of a batch of sequences sorted by decreasing length,
step after step: `data` is (sum of batch_sizes, *) and `batch_sizes[t]` is how many sequences
are still running at step t (a driver int64 tensor, as torch keeps it on the CPU). Packing
and padding are each one `index_select` of the rows where the data lives, so the gradient
flows back through them and a packed sequence on a worker stays on its worker.
"""
from __future__ import annotations

from collections import namedtuple
from typing import List, Optional, Sequence, Union

import numpy as np

from ...autograd.record import call
from ...ops import stdsort
from ...tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence",
           "pad_packed_sequence", "pad_sequence", "unpad_sequence", "pack_sequence",
           "unpack_sequence"]


def _index(values, device) -> Tensor:
    from ...creation import tensor
    from ...dtypes import int64

    return tensor(np.asarray(values, dtype=np.int64), dtype=int64, device=device)


def _ints(t) -> np.ndarray:
    """A driver int64 array of a tensor's (or a list's) values."""
    if isinstance(t, Tensor):
        return np.asarray(t.detach().cpu().numpy()).astype(np.int64)
    return np.asarray(t, dtype=np.int64)


class PackedSequence(namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices",
                                                    "unsorted_indices"])):
    """(data, batch_sizes, sorted_indices, unsorted_indices), as torch's; make one with
    pack_padded_sequence or pack_sequence."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        elif batch_sizes.device.type != "cpu":
            raise ValueError(
                "batch_sizes should always be on CPU. Instances of PackedSequence should never "
                "be created manually. They should be instantiated by functions like "
                "pack_sequence and pack_padded_sequences in nn.utils.rnn. "
                "https://pytorch.org/docs/stable/nn.html#torch.nn.utils.rnn.pack_sequence")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> "PackedSequence":
        """data moved or cast as `Tensor.to`; the indices follow data's device, batch_sizes
        stays on the driver."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self

        def follow(t):
            return None if t is None else t.to(data.device)

        return type(self)(data, self.batch_sizes, follow(self.sorted_indices),
                          follow(self.unsorted_indices))

    def cpu(self) -> "PackedSequence":
        return self.to("cpu")

    def double(self) -> "PackedSequence":
        from ...dtypes import float64
        return self.to(dtype=float64)

    def float(self) -> "PackedSequence":
        from ...dtypes import float32
        return self.to(dtype=float32)

    def half(self) -> "PackedSequence":
        from ...dtypes import float16
        return self.to(dtype=float16)

    def long(self) -> "PackedSequence":
        from ...dtypes import int64
        return self.to(dtype=int64)

    def int(self) -> "PackedSequence":
        from ...dtypes import int32
        return self.to(dtype=int32)

    @property
    def is_cuda(self) -> bool:
        return self.data.device.type == "cuda"

    def is_pinned(self) -> bool:
        return False


def invert_permutation(permutation: Optional[Tensor]) -> Optional[Tensor]:
    """The permutation's inverse (on its device), None for None."""
    if permutation is None:
        return None
    perm = _ints(permutation)
    inverse = np.empty_like(perm)
    inverse[perm] = np.arange(perm.size)
    return _index(inverse, permutation.device)


def pack_padded_sequence(input: Tensor, lengths: Union[Tensor, List[int]],
                         batch_first: bool = False, enforce_sorted: bool = True
                         ) -> PackedSequence:
    """Pack a padded (T, B, *) batch (or (B, T, *) with batch_first) whose sequences have
    the given lengths; with enforce_sorted, lengths must be decreasing, otherwise the batch
    is sorted and the permutation kept in the PackedSequence."""
    lens = _ints(lengths)
    sorted_indices = None
    batch_dim = 0 if batch_first else 1
    if not enforce_sorted:
        # (torch.sort(lengths, descending=True): std::sort's order of equal lengths)
        order = np.array(stdsort.argsort(stdsort.ordering_keys(lens, True)[0]), np.int64)
        lens = lens[order]
        sorted_indices = _index(order, input.device)
        input = input.index_select(batch_dim, sorted_indices)
    if lens.ndim != 1:
        raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got "
                           f"{lens.ndim}D cpu Long tensor")
    if input.numel() == 0:
        raise RuntimeError("Cannot pack empty tensors.")
    steps, batch = input.shape[1 - batch_dim], input.shape[batch_dim]
    if lens.size != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{lens.size} (batch_size={batch})")
    if lens[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an "
                           "element in 'lengths' that is <= 0")
    if np.any(lens[1:] > lens[:-1]):
        raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                           "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                           "pack_padded_sequence and/or pack_sequence to sidestep this "
                           "requirement if you do not need ONNX exportability.")
    batch_sizes = (lens[None, :] > np.arange(lens[0])[:, None]).sum(1)
    rows = [(b * steps + t) if batch_first else (t * batch + b)
            for t, n in enumerate(batch_sizes) for b in range(n)]
    data = call("_pack_padded_sequence", input, _index(rows, input.device),
                batch_sizes=[int(n) for n in batch_sizes], batch_first=batch_first)
    return PackedSequence(data, _index(batch_sizes, "cpu"), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: Optional[int] = None):
    """The inverse of pack_padded_sequence: (padded, lengths), the padded batch (T, B, *) or
    (B, T, *), in the original order, and each sequence's length (a driver int64 tensor)."""
    data, batch_sizes = sequence.data, _ints(sequence.batch_sizes)
    steps = batch_sizes.size
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {steps}")
        steps = total_length
    batch = int(batch_sizes[0])
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(1)
    padded = _padded_runs(data, batch_sizes, steps, padding_value)
    if batch_first:
        padded = padded.transpose(0, 1)
    if sequence.unsorted_indices is not None:
        unsorted = sequence.unsorted_indices
        padded = padded.index_select(0 if batch_first else 1, unsorted)
        lengths = lengths[_ints(unsorted)]
    return padded, _index(lengths, "cpu")


def _padded_runs(data: Tensor, batch_sizes, steps: int, padding_value: float) -> Tensor:
    """A (steps, B, *) tensor of the padding value with each run of time steps of one batch
    size copied in from the packed rows, as torch's _pad_packed_sequence writes it (its
    history is the copies', CopySlices)."""
    padded = data.new_full((steps, int(batch_sizes[0]), *data.shape[1:]), padding_value)
    offset, start = 0, 0
    sizes = [int(n) for n in batch_sizes] + [0]
    for t in range(1, len(sizes)):
        if sizes[t] != sizes[t - 1]:
            n, rows = sizes[t - 1], sizes[t - 1] * (t - start)
            padded[start:t, :n].copy_(data[offset:offset + rows].view(t - start, n, *data.shape[1:]))
            offset, start = offset + rows, t
    return padded


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


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor,
                   batch_first: bool = False) -> List[Tensor]:
    """The list of sequences, each cut to its length, from a padded batch."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq[:int(n)] for seq, n in zip(padded_sequences.unbind(0), _ints(lengths))]


def pack_sequence(sequences: List[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) tensors (decreasing lengths unless not enforce_sorted)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> List[Tensor]:
    """The list of sequences a PackedSequence holds, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
