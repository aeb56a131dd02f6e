"""The embedded default: PostgreSQL+pgvector and Redis as local daemons under ``TOLLGATE_HOME``.

Used when ``DATABASE_URL`` / ``REDIS_URL`` are not set. Settings only read where the servers
listen (:func:`urls`); the commands that need them start them (``tollgate demo|run|up|services
start``, the test fixtures), with :func:`started`, which stops again what it started. Any other
process that finds them stopped fails at once with :func:`require_running`'s one line. A file
lock keeps two processes from starting twin copies.

Example::

    with started(Path(".tollgate")) as urls:
        urls.database_url  # 'postgres://postgres:<generated password>@127.0.0.1:41234/tollgate'
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .errors import DataDirectoryError, PortInUseError, ServiceError, ServicesStopped
from .postgres import EmbeddedPostgres, PostgresStatus
from .redis import EmbeddedRedis
from .service import ServiceStatus

__all__ = [
    "DataDirectoryError",
    "EmbeddedPostgres",
    "EmbeddedRedis",
    "PortInUseError",
    "ServiceError",
    "ServiceStatus",
    "ServiceUrls",
    "ServicesStopped",
    "ensure_running",
    "home_dir",
    "require_configured",
    "require_running",
    "started",
    "status",
    "stop",
    "urls",
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


def urls(home: Path) -> ServiceUrls:
    """Where the embedded servers of ``home`` listen (or will, once started); writes nothing, starts nothing."""
    return ServiceUrls(EmbeddedPostgres(home).url, EmbeddedRedis(home).url)


def ensure_running(home: Path, *, postgres: bool = True, redis: bool = True) -> tuple[str, ...]:
    """Start whichever embedded server is wanted and not yet running; return the names of those started."""
    servers = _servers(home, postgres=postgres, redis=redis)
    if all(server.is_running() for server in servers.values()):
        return ()
    begun = []
    with _locked(home):
        for name, server in servers.items():
            if not server.is_running():
                server.start()
                begun.append(name)
    return tuple(begun)


def _servers(home: Path, *, postgres: bool, redis: bool) -> dict[str, EmbeddedPostgres | EmbeddedRedis]:
    servers: dict[str, EmbeddedPostgres | EmbeddedRedis] = {}
    if postgres:
        servers["PostgreSQL"] = EmbeddedPostgres(home)
    if redis:
        servers["Redis"] = EmbeddedRedis(home)
    return servers


@contextmanager
def started(home: Path, *, postgres: bool = True, redis: bool = True) -> Iterator[ServiceUrls]:
    """The wanted servers running for the ``with`` block; those this call started are stopped after."""
    begun = ensure_running(home, postgres=postgres, redis=redis)
    try:
        yield urls(home)
    finally:
        if begun:
            with _locked(home):
                for name, server in reversed(_servers(home, postgres=postgres, redis=redis).items()):
                    if name in begun:
                        server.stop()


def require_running(home: Path, *, postgres: bool = True, redis: bool = True) -> None:
    """Raise :class:`ServicesStopped`, naming the command that starts them, unless the wanted servers run."""
    stopped = [name for name, server in _servers(home, postgres=postgres, redis=redis).items() if not server.is_running()]
    if stopped:
        verb = "is" if len(stopped) == 1 else "are"
        raise ServicesStopped(
            f"the embedded {' and '.join(stopped)} under {home} {verb} not running: start "
            f"{'it' if len(stopped) == 1 else 'them'} with `uv run tollgate services start` "
            "(or set DATABASE_URL and REDIS_URL)"
        )


def require_configured() -> None:
    """:func:`require_running` for this process's settings: the servers it relies on (no URL set)."""
    require_running(
        settings.TOLLGATE_HOME, postgres=settings.TOLLGATE_EMBEDDED_POSTGRES, redis=settings.TOLLGATE_EMBEDDED_REDIS
    )


def status(home: Path) -> tuple[PostgresStatus, ServiceStatus]:
    return EmbeddedPostgres(home).status(), EmbeddedRedis(home).status()


def stop(home: Path) -> None:
    with _locked(home):
        EmbeddedRedis(home).stop()
        EmbeddedPostgres(home).stop()
