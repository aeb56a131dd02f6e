"""The embedded default: PostgreSQL+pgvector and Redis under ``TOLLGATE_HOME``.

Every tollgate process that finds ``DATABASE_URL`` / ``REDIS_URL`` unset calls
:func:`ensure_running`; the first one starts the servers, the others find them running (a
file lock keeps two processes from starting twin copies) and share them.

Example::

    urls = ensure_running(Path(".tollgate"))
    urls.database_url  # 'postgres://postgres@127.0.0.1:41234/tollgate'
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import DataDirectoryError, PortInUseError, ServiceError
from .postgres import EmbeddedPostgres, PostgresStatus
from .redis import EmbeddedRedis, RedisStatus

__all__ = [
    "DataDirectoryError",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "PortInUseError",
    "ServiceError",
    "ServiceUrls",
    "ensure_running",
    "home_dir",
    "status",
    "stop",
]

DEFAULT_HOME = ".tollgate"


@dataclass(frozen=True)
class ServiceUrls:
    database_url: str
    redis_url: str


def home_dir() -> Path:
    """``TOLLGATE_HOME``, default ``./.tollgate``, as an absolute path."""
    return Path(os.environ.get("TOLLGATE_HOME") or DEFAULT_HOME).resolve()


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_running(home: Path, *, postgres: bool = True, redis: bool = True) -> ServiceUrls:
    """Start whichever embedded server is wanted and not yet running; return both URLs."""
    pg, rd = EmbeddedPostgres(home), EmbeddedRedis(home)
    if (not postgres or pg.is_running()) and (not redis or rd.is_running()):
        return ServiceUrls(pg.url, rd.url)
    with _locked(home):
        if postgres:
            pg.start()
        if redis:
            rd.start()
    return ServiceUrls(pg.url, rd.url)


def status(home: Path) -> tuple[PostgresStatus, RedisStatus]:
    return EmbeddedPostgres(home).status(), EmbeddedRedis(home).status()


def stop(home: Path) -> None:
    with _locked(home):
        EmbeddedRedis(home).stop()
        EmbeddedPostgres(home).stop()
