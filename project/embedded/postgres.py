"""PostgreSQL 16 + pgvector from the ``pgserver`` package, on a loopback TCP port.

pgserver bundles the binaries and knows how to run them as root (PostgreSQL refuses to): it
creates a ``pgserver`` system user. Its own launcher listens on a unix socket only; tollgate
wants a plain ``postgres://127.0.0.1:PORT`` URL that any process can share, so we drive the
bundled ``initdb``/``pg_ctl`` ourselves and remember the port under ``TOLLGATE_HOME``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import warnings

import psycopg

with warnings.catch_warnings():  # pgserver asks platformdirs for a runtime dir it never uses here
    warnings.simplefilter("ignore")
    from pgserver import _commands as pg_commands
    from pgserver import utils as pg_utils

from .errors import DataDirectoryError, ServiceError
from .passwords import password_copy, password_file
from .process import HOST, free_port, port_is_open, read_pid, require_free_port, wait_until

BIN = pg_commands.POSTGRES_BIN_PATH
DATABASE = "tollgate"
SYSTEM_USER = "pgserver"  # PostgreSQL will not run as root; pgserver's convention
START_TIMEOUT = 60


@functools.cache
def bundled_major_version() -> str:
    out = subprocess.run([str(BIN / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[-1].split(".")[0]


@dataclass(frozen=True)
class PostgresStatus:
    running: bool
    url: str
    pid: int | None
    version: str
    vector_version: str | None
    data_dir: Path


class EmbeddedPostgres:
    """The bundled PostgreSQL whose cluster lives in ``<home>/postgres/data``."""

    def __init__(self, home: Path) -> None:
        self.root = home / "postgres"
        self.data_dir = self.root / "data"
        self.log_file = self.root / "postgres.log"
        self._port_file = self.root / "port"
        self._password_file = self.root / "password"  # outside the data directory: initdb wants it empty

    @property
    def port(self) -> int:
        if not self._port_file.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self._port_file.write_text(str(free_port()))
        return int(self._port_file.read_text())

    @property
    def password(self) -> str:
        return password_file(self._password_file)

    @property
    def url(self) -> str:
        return f"postgres://postgres:{self.password}@{HOST}:{self.port}/{DATABASE}"

    def pid(self) -> int | None:
        return read_pid(self.data_dir / "postmaster.pid")

    def is_running(self) -> bool:
        return self.pid() is not None and port_is_open(self.port)

    def status(self) -> PostgresStatus:
        running = self.is_running()
        vector = self._vector_version() if running else None
        return PostgresStatus(running, self.url, self.pid(), bundled_major_version(), vector, self.data_dir)

    def start(self) -> None:
        """Initialise the cluster on first use, then start it unless it already runs."""
        if self.is_running():
            return
        self._init_cluster()
        require_free_port(self.port, f"PostgreSQL for {self.data_dir}")
        options = f"-p {self.port} -h {HOST} -c unix_socket_directories=''"
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", str(START_TIMEOUT), "-l", str(self.log_file),
                      "-o", options, "start")  # fmt: skip
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
                raise DataDirectoryError(
                    f"{self.data_dir} was created by PostgreSQL {found}, "
                    f"but tollgate bundles PostgreSQL {bundled_major_version()}"
                )
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise DataDirectoryError(f"{self.data_dir} is not empty and is not a PostgreSQL data directory")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._hand_to_system_user()
        # scram-sha-256 for every connection: loopback is shared by every user of the machine.
        with password_copy(self._password_file, owner=SYSTEM_USER if os.geteuid() == 0 else None) as pwfile:
            auth = ["--auth=scram-sha-256", f"--pwfile={pwfile}"]
            self._run("initdb", "-D", str(self.data_dir), *auth, "--encoding=utf8", "-U", "postgres")

    def _hand_to_system_user(self) -> None:
        """As root, let pgserver's unprivileged user own the cluster and reach the binaries."""
        if os.geteuid() != 0:
            return
        pg_utils.ensure_user_exists(SYSTEM_USER)
        pg_utils.ensure_prefix_permissions(self.data_dir)
        pg_utils.ensure_prefix_permissions(BIN)
        shutil.chown(self.root, SYSTEM_USER, SYSTEM_USER)
        shutil.chown(self.data_dir, SYSTEM_USER, SYSTEM_USER)

    def _run(self, program: str, *args: str) -> None:
        user = SYSTEM_USER if os.geteuid() == 0 else None
        result = subprocess.run(
            [str(BIN / program), *args], capture_output=True, text=True, check=False, user=user, timeout=START_TIMEOUT + 5
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()
            raise ServiceError(f"{program} failed for {self.data_dir}: {last[-1] if last else result.returncode}")

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
