"""torch.random: the default generator's seed and state, and fork_rng."""
from __future__ import annotations

import contextlib

from .creation import initial_seed, manual_seed, seed  # noqa: F401
from .generator import Generator  # noqa: F401
from .sampling import default_generator, get_rng_state, set_rng_state  # noqa: F401


@contextlib.contextmanager
def fork_rng(devices=None, enabled=True, _caller="fork_rng", _devices_kw="devices",
             device_type=None):
    """The default generator's state after the block is the one it had before it (torch
    forks the CPU's and each accelerator's; distgrad draws every random number in the
    driver, from that one generator)."""
    if device_type == "meta" or not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
