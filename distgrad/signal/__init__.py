"""torch.signal: its windows (signal/windows.py)."""
from . import windows

__all__ = ["windows"]
