"""Small process and port helpers shared by the embedded servers."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from .errors import PortInUseError

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_open(port: int, host: str = HOST) -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def require_free_port(port: int, what: str) -> None:
    if port_is_open(port):
        raise PortInUseError(f"cannot start {what}: port {HOST}:{port} is already in use by another program")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user (postgres runs as its own user)
        return True
    return True


def read_pid(pid_file: Path) -> int | None:
    """The pid in the first line of a pid file, if the file exists and the process lives."""
    try:
        first = pid_file.read_text().splitlines()[0].strip()
        pid = int(first)
    except (FileNotFoundError, IndexError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def write_once(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write ``text`` into ``path`` unless the file exists (made earlier, or by a process racing this one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return  # theirs stays
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def wait_until(predicate, *, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
