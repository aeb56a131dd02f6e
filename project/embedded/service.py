"""What the embedded servers share: a folder under ``TOLLGATE_HOME`` keeping their port and password."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from .passwords import password_file
from .process import free_port, port_is_open, read_pid

__all__ = ["EmbeddedService", "ServiceStatus"]


@dataclass(frozen=True)
class ServiceStatus:
    running: bool
    url: str
    pid: int | None
    version: str
    data_dir: Path


class EmbeddedService(ABC):
    """A bundled server under ``root``: its port, password and URL, its pid.

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
        if not self._port_file.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self._port_file.write_text(str(free_port()))
        return int(self._port_file.read_text())

    @property
    def password(self) -> str:
        return password_file(self._password_file)

    @property
    def url(self) -> str:
        return self._url(password=self.password, port=self.port)

    def pid(self) -> int | None:
        return read_pid(self._pid_file)

    def is_running(self) -> bool:
        return self._serving()

    def start(self) -> None:
        """Start the server unless it already runs."""
        if self.is_running():
            return
        self._launch()

    def _serving(self) -> bool:
        """A server of this home runs and listens (whatever its version)."""
        return self.pid() is not None and port_is_open(self.port)

    @abstractmethod
    def _url(self, *, password: str, port: int) -> str: ...

    @abstractmethod
    def _launch(self) -> None:
        """Start the server, which does not run; raise a one-line :class:`ServiceError` when it cannot."""
