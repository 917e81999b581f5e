"""`Generator`: a random stream of its own, as torch.Generator, for code that passes
`generator=` (random_split, samplers, randperm, rand, randn, randint).

Its numbers are numpy's (PCG64), not torch's: a seed gives the same numbers on every run
and placement, but not torch's numbers.

>>> g = distgrad.Generator().manual_seed(42)
>>> distgrad.randperm(4, generator=g).tolist() == distgrad.randperm(
...     4, generator=distgrad.Generator().manual_seed(42)).tolist()
True
"""
from __future__ import annotations

import numpy as np

from .tensor import device as _Device

# torch.Generator()'s seed before manual_seed is called (default_rng_seed_val in c10)
_DEFAULT_SEED = 67280421310721


class Generator:
    def __init__(self, device="cpu") -> None:
        self.device = _Device(device)
        self.manual_seed(_DEFAULT_SEED)

    def manual_seed(self, seed: int) -> "Generator":
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        """Re-seed from the operating system's entropy; returns the new seed."""
        seed = int(np.random.SeedSequence().entropy % 2 ** 63)
        self.manual_seed(seed)
        return seed

    def __repr__(self) -> str:
        return f"<distgrad.Generator object at {hex(id(self))}>"
