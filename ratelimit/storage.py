"""Runs the limiter's Lua scripts on Redis; turns Redis failures into :class:`LimiterUnavailable`.

The algorithm lives in the scripts (``lua/<operation>.lua``, each prefixed with
``lua/_common.lua`` and ``lua/_history.lua``) and in :mod:`ratelimit.limiter`, which builds their arguments and reads
their answers; this module only loads and runs them. The batch queue (:mod:`ratelimit.queue`) runs its own
operations and prelude through the same class.

A script is registered once (its SHA kept by redis-py's ``Script``) and sent by SHA; a server
that does not know it (a restart, or a replica promoted by a Sentinel failover) answers NOSCRIPT,
and the script is loaded there and run again in the same call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .errors import LimiterUnavailable
from .sentinel import SentinelUrl, is_sentinel_url

__all__ = ["CONNECT_TIMEOUT", "OPERATIONS", "READ_TIMEOUT", "RedisStorage", "script_source"]

SCRIPTS = Path(__file__).with_name("lua")
OPERATIONS = ("acquire", "reconcile", "cooldown", "observe", "usage", "history")
PRELUDES = ("_common.lua", "_history.lua")  # prepended to every operation's script
CONNECT_TIMEOUT = 0.5  # seconds: a worker must learn quickly that Redis is gone, not hang
READ_TIMEOUT = 0.5  # seconds: every script is O(expired) and answers in well under a millisecond
_SERVER_NOT_READY = ("OOM", "LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "NOAUTH", "WRONGPASS")
RETRIES = 1  # one immediate retry, so a pooled connection broken by a Redis restart heals at once


@functools.cache
def script_source(operation: str, preludes: tuple[str, ...] = PRELUDES) -> str:
    return "".join((SCRIPTS / name).read_text() for name in (*preludes, f"{operation}.lua"))


def address_of(client: Any) -> str:
    """``host:port`` (or the socket path) of a client, without credentials."""
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", {}) or {}
    if kwargs.get("path"):
        return str(kwargs["path"])
    if kwargs.get("host"):
        return f"{kwargs['host']}:{kwargs.get('port', 6379)}"
    return type(client).__name__


class RedisStorage:
    """The scripts of one limiter, registered once on a redis-py client.

    Parameters
    ----------
    client:
        A ``redis.Redis`` (or cluster) client; give it short timeouts, see :meth:`from_url`.
    owns_client:
        Close the client in :meth:`close` (true when built by :meth:`from_url`).
    operations, preludes:
        Which scripts to register and what to prepend to each: the limiter's by default.
    address:
        How errors name the server (never with credentials); read from the client when omitted.
    """

    def __init__(
        self,
        client: Any,
        *,
        owns_client: bool = False,
        operations: Sequence[str] = OPERATIONS,
        preludes: tuple[str, ...] = PRELUDES,
        address: str = "",
    ) -> None:
        self.client = client
        self.address = address or address_of(client)
        self._owns_client = owns_client
        self._scripts = {name: client.register_script(script_source(name, preludes)) for name in operations}

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = READ_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT, **options: Any
    ) -> RedisStorage:
        """A client of ``url``: ``redis://``, ``rediss://``, ``unix://``, or a Sentinel URL (``ratelimit.sentinel``)."""
        sockets = {"socket_connect_timeout": connect_timeout, "socket_timeout": timeout}
        sockets["retry"] = Retry(NoBackoff(), RETRIES)
        if is_sentinel_url(url):
            sentinel = SentinelUrl.parse(url)
            client = sentinel.client(**sockets)
            return cls(client, owns_client=True, address=f"sentinel {sentinel.describe()}", **options)
        return cls(redis.Redis.from_url(url, **sockets), owns_client=True, **options)

    def run(self, operation: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run one operation's script; a Redis that cannot answer raises :class:`LimiterUnavailable`.

        Any other Redis error (a bug in a script) propagates unchanged.
        """
        try:
            return self._scripts[operation](keys=list(keys), args=list(args))
        except redis.ResponseError as exc:
            if not str(exc).startswith(_SERVER_NOT_READY):
                raise
            raise LimiterUnavailable(self.address, f"{type(exc).__name__}: {exc}") from exc
        except redis.RedisError as exc:  # connection refused or lost, timeouts, authentication
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise LimiterUnavailable(self.address, reason) from exc

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
