"""Ray's auth token kept private (distgrad/distributed/credentials.py), in a HOME of the
test's own; no Ray here (tests/cluster/test_token_file_on_a_new_runtime.py starts a real runtime)."""
from __future__ import annotations

import os
import stat
import warnings

import pytest

from distgrad.distributed import credentials


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    old = os.umask(0o022)
    yield tmp_path
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_token_ray_creates_is_private_from_the_start(home):
    made = credentials.prepare_for_new_runtime()
    token = home / ".ray" / "auth_token"
    assert made == token
    assert _mode(home / ".ray") == 0o700 and _mode(token) == 0o600
    with open(token, "w") as f:  # what Ray's generate_and_save_token does
        f.write("ab" * 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        credentials.settle(made)
    assert _mode(token) == 0o600 and token.read_text() == "ab" * 32


def test_a_placeholder_ray_did_not_fill_is_removed(home):
    made = credentials.prepare_for_new_runtime()
    credentials.settle(made)
    assert not made.exists()


@pytest.mark.parametrize("env", [{"RAY_AUTH_MODE": "disabled"}, {"RAY_AUTH_TOKEN": "x" * 64}])
def test_nothing_is_made_when_ray_makes_no_token_file(home, monkeypatch, env):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert credentials.prepare_for_new_runtime() is None
    assert not (home / ".ray").exists()


def test_an_existing_token_is_left_as_it_is(home):
    (home / ".ray").mkdir()
    token = home / ".ray" / "auth_token"
    token.write_text("cd" * 32)
    os.chmod(token, 0o600)
    assert credentials.prepare_for_new_runtime() is None
    assert token.read_text() == "cd" * 32


@pytest.mark.parametrize("named", [False, True], ids=["default", "RAY_AUTH_TOKEN_PATH"])
def test_a_token_others_can_read_is_warned_about_with_the_fix(home, monkeypatch, named):
    token = home / ("my_token" if named else ".ray/auth_token")
    token.parent.mkdir(exist_ok=True)
    token.write_text("ef" * 32)
    os.chmod(token, 0o644)
    if named:
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
    with pytest.warns(UserWarning, match=rf"token {token} can be read by other users.*mode 644.*"
                                         rf"chmod 600 {token}"):
        credentials.settle(None)
    os.chmod(token, 0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        credentials.settle(None)
    assert _mode(token) == 0o600
