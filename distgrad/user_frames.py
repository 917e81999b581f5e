"""Where a warning distgrad gives is shown: at the user's line that called into distgrad,
as torch's warnings raised in C++ are shown at the Python line that called the op."""
from __future__ import annotations

import os
import sys

PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # (distgrad's own files)


def user_stacklevel() -> int:
    """The stacklevel, for a warning its caller gives, of the innermost frame outside
    distgrad (the user's call of the op, module or backward)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
