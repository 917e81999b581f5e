"""`Generator`: a random stream of its own, as torch.Generator, for code that passes
`generator=` (random_split, samplers, randperm, rand, randn, randint, the in-place fills).

Its numbers are torch's: the same 32-bit Mersenne Twister, seeded the same way, turned into
floats, normals, integers and permutations as torch's CPU kernels do (mersenne.py). A seed
gives torch's numbers on every run and placement.

>>> g = distgrad.Generator().manual_seed(42)
>>> distgrad.randperm(4, generator=g).tolist()
[2, 3, 0, 1]
"""
from __future__ import annotations

from .mersenne import DEFAULT_SEED, MersenneStream, nondeterministic_seed
from .tensor import device as _Device


class Generator:
    def __init__(self, device="cpu") -> None:
        self.device = _Device(device)
        self._rng = MersenneStream(DEFAULT_SEED)

    def manual_seed(self, seed: int) -> "Generator":
        from .creation import reseeding
        reseeding()
        self._rng.manual_seed(seed)
        return self

    def initial_seed(self) -> int:
        return self._rng.seed

    def seed(self) -> int:
        """Re-seed from the operating system's entropy; returns the new seed."""
        seed = nondeterministic_seed()
        self.manual_seed(seed)
        return seed

    def get_state(self):
        """torch's state bytes (a uint8 tensor)."""
        from .creation import state_tensor
        return state_tensor(self._rng)

    def set_state(self, state) -> "Generator":
        from .creation import load_state
        load_state(self._rng, state)
        return self

    def __repr__(self) -> str:
        return f"<distgrad.Generator object at {hex(id(self))}>"
