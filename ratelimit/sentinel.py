"""Redis Sentinel: the limiter asks the sentinels where the master is, and follows it through a failover.

A Sentinel URL names the sentinels, the master's service name and the database::

    sentinel://[[username]:password@]host1:26379[,host2:26379,...]/service_name[/db][?sentinel_password=...]

``password`` (and ``username``) are the data nodes' (``requirepass``/ACL); ``sentinel_password``
is the sentinels' own ``requirepass``, when they have one. Example:
``sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster/0``.

The client (:meth:`SentinelUrl.client`) asks a sentinel for the master's address on every new
connection; a connection that breaks, or that finds its server demoted to a replica, is dropped
and the next command asks again, so after a failover the limiter talks to the new master. Its
scripts are loaded there on first use (redis-py's ``Script`` reloads a script the server answers
NOSCRIPT for). Nothing here holds a password in a ``repr``, a message or :meth:`describe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.sentinel import Sentinel, SentinelConnectionPool

__all__ = ["SCHEME", "SentinelPool", "SentinelUrl", "is_sentinel_url"]

SCHEME = "sentinel"
DEFAULT_PORT = 26379  # the sentinels' port
FORM = f"{SCHEME}://[[user]:password@]host[:port][,host[:port]...]/service_name[/db][?sentinel_password=...]"


def is_sentinel_url(url: str) -> bool:
    return url.strip().lower().startswith(f"{SCHEME}://")


@dataclass(frozen=True)
class SentinelUrl:
    """A parsed Sentinel URL (see the module's docstring); its passwords are never in its ``repr``.

    Example
    -------
    >>> SentinelUrl.parse("sentinel://:pw@10.0.0.1,10.0.0.2:26380/mymaster/1")
    SentinelUrl(sentinels=(('10.0.0.1', 26379), ('10.0.0.2', 26380)), service='mymaster', db=1, username=None)
    """

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> SentinelUrl:
        """Raises ``ValueError`` (never quoting the URL, which may hold a password) when it is not one."""
        parts = urlsplit(url.strip())
        if parts.scheme.lower() != SCHEME:
            raise ValueError(f"a Sentinel URL is {FORM}")
        userinfo, _, hosts = parts.netloc.rpartition("@")
        username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
        sentinels = tuple(_host_port(item) for item in hosts.split(",") if item)
        path = [unquote(piece) for piece in parts.path.split("/") if piece]
        if not sentinels or not 1 <= len(path) <= 2 or (len(path) == 2 and not path[1].isdigit()):
            raise ValueError(f"a Sentinel URL is {FORM}")
        query = parse_qs(parts.query)
        return cls(
            sentinels=sentinels,
            service=path[0],
            db=int(path[1]) if len(path) == 2 else 0,
            username=unquote(username) or None,
            password=unquote(password) or None,
            sentinel_password=query.get("sentinel_password", [None])[0],
        )

    def describe(self) -> str:
        """``service@host:port,host:port``: where to look, for messages and logs; no credentials."""
        return f"{self.service}@" + ",".join(f"{host}:{port}" for host, port in self.sentinels)

    def sentinel(self, **options: Any) -> Sentinel:
        """The sentinels, reached with ``options``' socket settings (timeouts) and their own password."""
        sockets = {name: value for name, value in options.items() if name.startswith("socket_")}
        own = {**sockets, "password": self.sentinel_password} if self.sentinel_password else sockets
        return Sentinel(list(self.sentinels), sentinel_kwargs=own, **sockets)

    def client(self, **options: Any) -> redis.Redis:
        """A client of the current master; ``options`` go to its connections (timeouts, ``retry``)."""
        return self.sentinel(**options).master_for(self.service, **self._credentials(), **options)

    def _credentials(self) -> dict[str, Any]:
        found: dict[str, Any] = {"db": self.db}
        if self.username:
            found["username"] = self.username
        if self.password:
            found["password"] = self.password
        return found


class SentinelPool(SentinelConnectionPool):
    """A connection pool of the current master built from a Sentinel URL, for code that takes a pool class.

    Django's Redis cache builds its pools with ``pool_class.from_url(location, **options)``::

        CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                              "LOCATION": [url], "OPTIONS": {"pool_class": "ratelimit.sentinel.SentinelPool"}}}

    (a list, since Django splits a LOCATION string at commas).
    """

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SentinelPool:
        parsed = SentinelUrl.parse(url)
        return cls(parsed.service, parsed.sentinel(**options), **parsed._credentials(), **options)


def _host_port(item: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port``."""
    item = item.strip()
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = item.partition(":")
    if not host or (port and not port.isdigit()):
        raise ValueError(f"each sentinel is host[:port] in a Sentinel URL: {FORM}")
    return host, int(port) if port else DEFAULT_PORT
