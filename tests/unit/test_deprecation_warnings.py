"""torch's deprecated functions warn once per process (TORCH_WARN_ONCE), not at every
call: a test or program that calls them after another did sees no warning, under torch and
distgrad alike. Each library in a process of its own, so that no earlier test's call counts
(one process for every function: each warns once for itself)."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CALLS = {
    "cholesky": "m.cholesky(a); a.cholesky(); m.cholesky(a)",
    "qr": "m.qr(a); a.qr(); m.qr(a)",
    "triangular_solve": "m.triangular_solve(a, a); a.triangular_solve(a)",
    "scatter_reduce": "a.clone().scatter_(0, i, a, reduce='add'); "
                      "m.scatter(a, 0, i, a, reduce='multiply'); a.scatter(0, i, a, reduce='add')",
}


@functools.lru_cache(maxsize=None)
def _warnings_seen(module: str) -> dict:
    """{name: [count, first message's start]} of CALLS, run by `module` in a new process."""
    code = ["import json, warnings", f"import {module} as m",
            "a, i, out = m.eye(2) * 2, m.tensor([[1, 0], [0, 1]]), {}"]
    for name, calls in CALLS.items():
        code += ["with warnings.catch_warnings(record=True) as seen:",
                 "    warnings.simplefilter('always')",
                 f"    {calls}",
                 f"out[{name!r}] = [len(seen), str(seen[0].message)[:40] if seen else '']"]
    code.append("print(json.dumps(out))")
    done = subprocess.run([sys.executable, "-c", "\n".join(code)], capture_output=True,
                          text=True, timeout=300, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_deprecated_function_warns_once(name):
    assert _warnings_seen("distgrad")[name] == _warnings_seen("torch")[name]
