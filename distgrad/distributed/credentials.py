"""Ray's authentication token kept private to its user.

A Ray runtime that `init()` starts turns on token authentication and, when there is no
token yet, writes one to ~/.ray/auth_token with plain `open(path, "w")`: mode 0644 and a
0755 directory under umask 022, so every user of the machine could read the token that
lets anyone run code on the cluster. Here the directory (when it is made here) is made
0700 and the file 0600 before Ray writes into it (Ray keeps the mode of a file it
truncates), so it is never readable by others, not even for a moment.

A token that already exists is not changed; if others can read it, `init()` warns,
naming the file and the fix.
"""
from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path


def default_token_path() -> Path:
    """Where Ray writes a token it generates (ray/_private/authentication/
    authentication_token_setup.py: _get_default_token_path)."""
    return Path.home() / ".ray" / "auth_token"


def token_in_use() -> Path | None:
    """The token file Ray reads, as its loader looks for it; None when the token comes
    from the RAY_AUTH_TOKEN variable."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return None
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(named).expanduser() if named else default_token_path()


def _auth_may_create_token() -> bool:
    # Ray turns token auth on for a new local cluster unless RAY_AUTH_MODE says otherwise.
    mode = os.environ.get("RAY_AUTH_MODE")
    return mode is None or mode.lower() == "token"


def prepare_for_new_runtime() -> Path | None:
    """Before ray.init starts a runtime: when Ray would create the token, make its
    directory (0700) and an empty 0600 file for it to fill. Returns that file (to be
    removed by `settle` if Ray left it empty), or None when nothing was made."""
    path = default_token_path()
    if not _auth_may_create_token() or token_in_use() != path or path.exists():
        return None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None  # (Ray writes it then, as it would without distgrad)
    os.close(fd)
    return path


def settle(made: Path | None) -> None:
    """After ray.init: drop the placeholder Ray did not fill; warn about a token in use
    that others can read."""
    if made is not None:
        try:
            if made.stat().st_size == 0:
                made.unlink()  # Ray did not need a token (auth off)
        except OSError:
            pass
    warn_if_readable(token_in_use())


def warn_if_readable(path: Path | None) -> None:
    if path is None:
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.warn(f"Ray's authentication token {path} can be read by other users of this "
                      f"machine (mode {stat.S_IMODE(mode):o}); anyone holding it can run code on "
                      f"the cluster. Make it private: chmod 600 {path}", stacklevel=4)
