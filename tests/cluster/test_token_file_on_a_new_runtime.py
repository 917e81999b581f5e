"""A plain `dist.init()` that starts a Ray runtime, which creates Ray's auth token, leaves
it private: the file 0600 and its directory 0700 under umask 022. In a driver process of
its own, with a HOME of the test's own (so the machine's token is not touched)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.cluster

DRIVER = """
import json, os, stat, sys, warnings
os.umask(0o022)
import distgrad as dg, distgrad.distributed as dist
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for attempt in range(3):  # (Ray's node may not come up in its 30 s on a busy machine)
        try:
            dist.init(1, timeout_s=120)
            break
        except Exception as e:
            if "timed out during startup" not in str(e) or attempt == 2:
                raise
    value = dg.ones(2, device="worker:0").sum().item()
    dist.shutdown()
token = os.path.expanduser("~/.ray/auth_token")
mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)
print(json.dumps({"value": value, "file": mode(token), "dir": mode(os.path.dirname(token)),
                  "warnings": [str(w.message) for w in caught if "token" in str(w.message)]}))
"""


def _run_driver(home):
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")}
    env.update(HOME=str(home), RAY_USAGE_STATS_ENABLED="0")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        out, _ = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


def test_the_token_a_new_runtime_creates_is_private(tmp_path):
    got = _run_driver(tmp_path)
    assert got["value"] == 2.0
    assert (oct(got["file"]), oct(got["dir"])) == (oct(0o600), oct(0o700))
    assert got["warnings"] == []
    # a token others can read, from before: warned about, with the fix, and left alone
    token = tmp_path / ".ray" / "auth_token"
    os.chmod(token, 0o644)
    got = _run_driver(tmp_path)
    assert oct(got["file"]) == oct(0o644)
    assert len(got["warnings"]) == 1 and f"chmod 600 {token}" in got["warnings"][0]
