"""Carry the embedded cluster of tollgate's old bundle (PostgreSQL 16, ``pgserver``) over.

A data directory belongs to one PostgreSQL major version. This moves ``<home>/postgres``
aside to ``<home>/postgres-16``, starts it with the old bundle's binaries on a spare loopback
port, dumps the ``tollgate`` database with the new bundle's ``pg_dump`` and restores it into
a fresh PostgreSQL 18 cluster at ``<home>/postgres`` (same port, same URL). The old cluster
and the dump stay until you remove them. Run it with the old bundle beside the new one::

    uv run tollgate services stop
    uv run --with pgserver==0.1.4 python -m project.embedded.upgrade
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
import sys
from pathlib import Path

from . import ensure_running, home_dir
from .errors import ServiceError
from .postgres import BIN, DATABASE, EmbeddedPostgres, bundled_major_version
from .process import HOST, free_port, read_pid
from .system_user import last_line, open_parents_to_others

OLD_VERSION = "16"
OLD_BUNDLE = "pgserver==0.1.4"
CTL_TIMEOUT = 60  # starting or stopping; the dump and the restore take as long as the data needs


def old_bin() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None:
        command = f"uv run --with {OLD_BUNDLE} python -m {__spec__.name}"
        raise ServiceError(f"the old bundle is not installed: run `{command}`")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def run(
    command: list[str], what: str, *, user: str | None = None, timeout: float | None = None, password: str = ""
) -> None:
    """``password`` reaches the client in its environment (PGPASSWORD), never on its command line."""
    env = {**os.environ, "PGPASSWORD": password} if password else None
    result = subprocess.run(command, capture_output=True, text=True, check=False, user=user, timeout=timeout, env=env)
    if result.returncode != 0:
        raise ServiceError(f"{what} failed: {last_line(result)}")


def is_old(data_dir: Path) -> bool:
    version = data_dir / "PG_VERSION"
    return version.exists() and version.read_text().strip() == OLD_VERSION


def set_aside(server: EmbeddedPostgres, old_root: Path) -> None:
    """Move a PostgreSQL 16 ``<home>/postgres`` to ``old_root``, or find it there from an earlier try."""
    if is_old(server.data_dir):
        if read_pid(server.data_dir / "postmaster.pid") is not None:
            raise ServiceError(f"PostgreSQL {OLD_VERSION} still runs on {server.data_dir}: stop it first")
        if old_root.exists():
            raise ServiceError(f"both {server.root} and {old_root} exist: keep only the one with the data")
        server.root.rename(old_root)
    if not is_old(old_root / "data"):
        raise ServiceError(f"no PostgreSQL {OLD_VERSION} data to carry over in {server.root} or {old_root}")
    old_port = old_root / "port"
    if old_port.exists() and not (server.root / "port").exists():  # same port, so the URL stays the same
        server.root.mkdir(parents=True, exist_ok=True)
        (server.root / "port").write_text(old_port.read_text())


def carry_over(home: Path) -> str:
    server = EmbeddedPostgres(home)
    old_root = home / f"postgres-{OLD_VERSION}"
    set_aside(server, old_root)
    binaries, old_data = old_bin(), old_root / "data"
    owner = pwd.getpwuid(old_data.stat().st_uid).pw_name if os.geteuid() == 0 else None
    if owner:
        open_parents_to_others(binaries)
    old_port = free_port()
    options = f"-p {old_port} -h {HOST} -c unix_socket_directories=''"
    old_ctl = [str(binaries / "pg_ctl"), "-D", str(old_data), "-w", "-t", str(CTL_TIMEOUT)]
    start = [*old_ctl, "-l", str(old_root / "postgres.log"), "-o", options, "start"]
    run(start, f"starting PostgreSQL {OLD_VERSION}", user=owner, timeout=CTL_TIMEOUT + 5)
    dump = home / f"{DATABASE}-pg{OLD_VERSION}.dump"
    try:
        ensure_running(home, redis=False)
        with server._connect(DATABASE) as conn:
            (tables,) = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        if tables:
            again = f"remove {server.root} (not {old_root}) and run this again"
            new = f"PostgreSQL {bundled_major_version()} database at {server.url}"
            raise ServiceError(f"the {new} already has tables: {again}")
        source = ["-h", HOST, "-p", str(old_port), "-U", "postgres", "-d", DATABASE]
        run([str(BIN / "pg_dump"), *source, "--format=custom", "--file", str(dump)], "pg_dump")
        target = ["-h", HOST, "-p", str(server.port), "-U", "postgres", "-d", DATABASE]
        restore = [str(BIN / "pg_restore"), *target, "--no-owner", "--exit-on-error", str(dump)]
        run(restore, "pg_restore", password=server.password)
    finally:
        run([*old_ctl, "-m", "fast", "stop"], f"stopping PostgreSQL {OLD_VERSION}", user=owner, timeout=CTL_TIMEOUT + 5)
    new = f"PostgreSQL {bundled_major_version()} at {server.url}"
    return f"carried {old_root} over to {new}; once tollgate works on it, remove {old_root} and {dump}"


def main() -> int:
    try:
        print(carry_over(home_dir()))
    except (ServiceError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"tollgate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
