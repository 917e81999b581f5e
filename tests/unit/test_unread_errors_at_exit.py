"""An op that fails on a worker raises where its value is read, or at synchronize(); a
program that does neither and ends is told at exit, on stderr, instead of losing the error
(runtime._report_unread_errors). In-process workers here, each program a process of its
own."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START = """
import distgrad as torch
import distgrad.distributed as dist
dist.init(num_workers=2, backend="local")
nan = torch.tensor([1.0, float("nan"), 3.0]).to("worker:1")
"""
ENDINGS = {
    "never_read": ("torch.histc(nan, bins=4)\nprint('ended')", True),
    "read": ("try:\n    torch.histc(nan, bins=4).tolist()\nexcept RuntimeError as e:\n"
             "    print('read:', e)", False),
    "synchronized": ("torch.histc(nan, bins=4)\ntry:\n    dist.synchronize()\n"
                     "except RuntimeError as e:\n    print('synchronize:', e)", False),
    "shut_down": ("torch.histc(nan, bins=4)\ndist.shutdown()", False),
    "nothing_failed": ("print((nan * 2).isnan().tolist())", False),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_an_error_no_read_raised_is_told_at_exit(ending):
    code, told = ENDINGS[ending]
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(START) + code], cwd=ROOT,
                          text=True, capture_output=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=ROOT, RAY_USAGE_STATS_ENABLED="0"))
    assert done.returncode == 0, done.stderr[-2000:]
    message = ("distgrad: an error of work on the workers that no read raised and no "
               "synchronize() reported: RuntimeError: torch.histc: range of [-nan, -nan] is "
               "not finite (op 'histc' on worker:1)")
    assert (message in done.stderr) is told, done.stderr[-2000:]
    if ending in ("read", "synchronized"):  # (raised there, once)
        assert "is not finite (op 'histc' on worker:1)" in done.stdout
