"""torch's deprecated matrix functions warn once per process (TORCH_WARN_ONCE), not at
every call: a test or program that calls them after another did sees no warning, under
torch and distgrad alike. Each library in a process of its own, so that no earlier test's
call counts."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLS = {
    "cholesky": "m.cholesky(a); a.cholesky(); m.cholesky(a)",
    "qr": "m.qr(a); a.qr(); m.qr(a)",
    "triangular_solve": "m.triangular_solve(a, a); a.triangular_solve(a)",
}


def _warnings_seen(module: str, calls: str) -> list:
    code = ("import warnings\n"
            f"import {module} as m\n"
            "a = m.eye(2) * 2\n"
            "with warnings.catch_warnings(record=True) as seen:\n"
            "    warnings.simplefilter('always')\n"
            f"    {calls}\n"
            "print(len(seen), str(seen[0].message)[:40] if seen else '')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    return done.stdout.split()


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_deprecated_matrix_function_warns_once(name):
    assert _warnings_seen("distgrad", CALLS[name]) == _warnings_seen("torch", CALLS[name])
