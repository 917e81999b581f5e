"""`distgrad.accelerator`: torch's device-agnostic accelerator API, as torch answers it on a
machine without one. Workers are not accelerators: code that asks for one takes its CPU path.

>>> import distgrad as torch
>>> device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
"""
from __future__ import annotations


def is_available() -> bool:
    return False


def current_accelerator(check_available: bool = False):
    """The accelerator's device type, or None: there is none."""
    return None


def device_count() -> int:
    return 0


def _none_available():
    return RuntimeError("Cannot access accelerator device when none is available.")


def current_device_index() -> int:
    raise _none_available()


current_device_idx = current_device_index


def set_device_index(device) -> None:
    raise _none_available()


set_device_idx = set_device_index


def synchronize(device=None) -> None:
    raise _none_available()
