"""Generated passwords for the embedded servers, kept under ``TOLLGATE_HOME`` for the owner alone.

The embedded PostgreSQL and Redis listen on loopback, but loopback is shared by every user and
container of the machine: without a password any of them could read and change the data, or the
shared limit. Each server gets a random password on first use, in a file only its owner can read
(0600), and the URLs settings compute carry it; nothing else holds it.

Example::

    password = password_file(home / "redis" / "password")  # the same string on every call
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["OWNER_ONLY", "password_copy", "password_file"]

OWNER_ONLY = 0o600
PASSWORD_BYTES = 32  # 43 URL-safe characters: nothing to escape in a URL or a config file


def password_file(path: Path) -> str:
    """The password kept in ``path``, created at random (mode 0600) the first time it is asked for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    except FileExistsError:
        pass  # made earlier, or by a process racing this one: theirs is the password
    else:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(PASSWORD_BYTES))
    if path.stat().st_mode & 0o077:
        path.chmod(OWNER_ONLY)  # someone loosened it: tighten it again
    return path.read_text().strip()


@contextmanager
def password_copy(path: Path, *, owner: str | None = None) -> Iterator[Path]:
    """A 0600 copy of the password file for a program run as ``owner`` (initdb as pgserver's user), removed after."""
    copy = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY)
    with os.fdopen(descriptor, "w") as file:
        file.write(password_file(path) + "\n")
    try:
        if owner is not None:
            shutil.chown(copy, owner, owner)
        yield copy
    finally:
        copy.unlink(missing_ok=True)
