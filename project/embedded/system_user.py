"""Running the bundled PostgreSQL as root: it refuses to, so an unprivileged system user runs it.

Example::

    ensure_system_user("embedded_postgres")   # as root; creates it once
    open_parents_to_others(Path("/root/app/.tollgate/postgres/data"))
"""

from __future__ import annotations

import pwd
import stat
import subprocess
from pathlib import Path

from .errors import ServiceError

TRAVERSE = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def last_line(result: subprocess.CompletedProcess) -> str:
    """The line of a failed command's output that says why (PostgreSQL's tools end with it)."""
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def ensure_system_user(name: str) -> None:
    """Create the system user ``name`` (no home, no login shell) unless it exists."""
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    command = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ServiceError(f"cannot create the system user {name!r} that runs PostgreSQL: useradd is missing") from None
    if result.returncode != 0:
        raise ServiceError(f"cannot create the system user {name!r} that runs PostgreSQL: {last_line(result)}")


def open_parents_to_others(path: Path) -> None:
    """Let other users traverse every folder above ``path`` (g+rx, o+rx), up to ``/``.

    The system user must reach the binaries inside the virtual environment and the data
    directory inside ``TOLLGATE_HOME``, wherever root keeps them (``/root`` is 0700).
    """
    for folder in path.resolve().parents:
        mode = folder.stat().st_mode
        if mode & TRAVERSE != TRAVERSE:
            folder.chmod(mode | TRAVERSE)
