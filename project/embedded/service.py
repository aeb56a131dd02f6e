"""What the embedded servers share: a folder under ``TOLLGATE_HOME`` keeping their port and password.

Settings compute the URLs in every process, so reading the port and the password writes
nothing. Until a server is first started, a process uses a port and a password it picks once
and holds in memory; ``start`` first writes exactly those (:meth:`EmbeddedService.keep`), so
the URL a process computed before the start is the one every process reads after it.

Example::

    server = EmbeddedRedis(home)
    url = server.url  # nothing written yet
    server.start()    # writes redis/port and redis/password, then starts it
    assert server.url == url
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .passwords import new_password, password_file
from .process import free_port, port_is_open, read_pid, write_once

__all__ = ["EmbeddedService", "ServiceStatus"]

# What this process uses for a port or password file not written yet, by the file's path.
_PICKED: dict[Path, str] = {}


def _kept_or_picked(path: Path, pick: Callable[[], str]) -> str:
    """The value kept in ``path``; before it is written, the one this process picked (the same on every call)."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = path.resolve()
        if key not in _PICKED:
            _PICKED[key] = pick()
        return _PICKED[key]


@dataclass(frozen=True)
class ServiceStatus:
    running: bool
    url: str
    pid: int | None
    version: str
    data_dir: Path


class EmbeddedService(ABC):
    """A bundled server under ``root``: its port, password and URL, its pid, and a start that keeps them.

    Subclasses say where the pid file is (``_pid_file``), how the URL reads (:meth:`_url`) and how
    the server is launched (:meth:`_launch`).
    """

    _pid_file: Path

    def __init__(self, root: Path) -> None:
        self.root = root
        self._port_file = root / "port"
        self._password_file = root / "password"

    @property
    def port(self) -> int:
        return int(_kept_or_picked(self._port_file, lambda: str(free_port())))

    @property
    def password(self) -> str:
        return _kept_or_picked(self._password_file, new_password)

    @property
    def url(self) -> str:
        return self._url(password=self.password, port=self.port)

    def pid(self) -> int | None:
        return read_pid(self._pid_file)

    def is_running(self) -> bool:
        return self._serving()

    def start(self) -> None:
        """Keep the port and password, then start the server unless it already runs."""
        self.keep()
        if self.is_running():
            return
        self._launch()

    def keep(self) -> None:
        """Write the port and password this process uses, unless they are kept already (the password 0600)."""
        write_once(self._port_file, str(self.port))
        password_file(self._password_file, password=self.password)
        for path in (self._port_file, self._password_file):
            _PICKED.pop(path.resolve(), None)

    def _serving(self) -> bool:
        """A server of this home runs and listens (whatever its version)."""
        return self.pid() is not None and port_is_open(self.port)

    @abstractmethod
    def _url(self, *, password: str, port: int) -> str: ...

    @abstractmethod
    def _launch(self) -> None:
        """Start the server, which does not run; raise a one-line :class:`ServiceError` when it cannot."""
