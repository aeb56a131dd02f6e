"""Generated passwords for the embedded servers, kept under ``TOLLGATE_HOME`` for the owner alone.

The embedded PostgreSQL and Redis listen on loopback, but loopback is shared by every user and
container of the machine: without a password any of them could read and change the data, or the
shared limit. Each server gets a random password, written when it is first started into a file
only its owner can read (0600), and the URLs settings compute carry it; nothing else holds it.

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

from .process import write_once

__all__ = ["OWNER_ONLY", "new_password", "password_copy", "password_file"]

OWNER_ONLY = 0o600
PASSWORD_BYTES = 32  # 43 URL-safe characters: nothing to escape in a URL or a config file


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def password_file(path: Path, *, password: str | None = None) -> str:
    """The password kept in ``path``, written (mode 0600) the first time: ``password``, or a random one."""
    write_once(path, password or new_password(), mode=OWNER_ONLY)
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
