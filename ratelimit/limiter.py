"""The shared sliding-window limiter of one (account, model).

Every limit is checked in one atomic Lua call on Redis, with Redis's clock, so any number of
processes on hosts whose clocks disagree share one exact window: over any interval of the
window's length, admitted requests <= ``Limits.requests`` and admitted tokens <= ``Limits.tokens``.

Memory: one sorted-set entry per admission in the window plus a small hash, all expiring one
window after the last write. Measured with ``MEMORY USAGE`` after filling a 60 s window at
Tier-5 rates (10,000 RPM, 10,000,000 TPM, 1,000-token requests; Redis 6.2): 1.14-1.17 MB
per (account, model) over two runs (1,136,252 and 1,171,756 bytes; the state hash is 180 of
them, and the skiplist's random levels cause the spread), about 114-117 bytes per admission.
``bench/limiter.py`` measures and prints it. The history (:meth:`Limiter.history`) adds one
small hash per (account, model, window): at most ``HISTORY_SLICES * history_windows`` buckets
of up to eight counters each (120 buckets by default: 57,608 bytes with all of them filled,
Redis 6.2), expiring after as many idle windows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from .errors import NeverFits
from .headers import ServerLimits, parse_rate_limit_headers
from .history import History, parse_history
from .keys import KEY_PREFIX, KeySpace
from .limits import Decision, Limits, Usage
from .storage import RedisStorage

__all__ = ["Limiter"]

logger = logging.getLogger(__name__)

WALK_LIMIT = 1000  # most window entries one script reads (a refusal's wait, a give-back); beyond, a bound
IDLE_SLACK_MS = 100  # keys outlive the last write by a window plus this, so no live admission expires early
US = 1_000_000
HISTORY_SLICES = 4  # history buckets per window: a chart point every quarter of a window
HISTORY_WINDOWS = 30  # windows of history kept in Redis


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _us(seconds: float) -> int:
    return max(0, math.ceil(seconds * US))


class Limiter:
    """Admit requests to one provider account's model without exceeding its limits.

    Parameters
    ----------
    client:
        A redis-py client shared by the process (use short timeouts, see :meth:`from_url`).
    account:
        The account's fingerprint (:func:`ratelimit.fingerprint`), never the API key.
    model:
        The model name; providers limit each model separately.
    limits:
        The configured limits: the starting belief, lowered by what the server's headers say.
        Not part of any key: limiters of one (account, model) configured with other limits (or
        another window length) share one window, and each admits only while everything all of
        them admitted fits its own limits (``keys.py``).
    key_prefix:
        Prefix of every Redis key.
    burst:
        Pace admissions: at most this fraction of each limit at once, then the limit's own rate
        (0.03 with a 60 s window: 1.8 s worth at once). ``None`` admits a whole window at once.
        Pacing keeps providers that check a minute's limit over shorter periods (Azure checks
        RPM over 1 s or 10 s) from refusing a burst, and spreads a backfill over the window.
    history_windows:
        How many windows of per-bucket history (:meth:`history`) Redis keeps.

    Example
    -------
    ::

        limiter = Limiter.from_url("redis://localhost:6379/0", account=fingerprint(key, url),
                                   model="text-embedding-3-small",
                                   limits=Limits(requests=3000, tokens=1_000_000))
        decision = limiter.acquire(tokens=812)
        if not decision.admitted:
            raise task.retry(countdown=decision.retry_after)
        response = call_provider()
        limiter.reconcile(estimated=812, actual=response.usage.total_tokens, admission=decision)
        limiter.observe(response.headers)
    """

    def __init__(
        self,
        client: Any,
        *,
        account: str,
        model: str,
        limits: Limits,
        key_prefix: str = KEY_PREFIX,
        storage: RedisStorage | None = None,
        burst: float | None = None,
        history_windows: int = HISTORY_WINDOWS,
    ) -> None:
        if burst is not None and not 0.0 < burst <= 1.0:
            raise ValueError(f"burst must be in (0, 1] or None, got {burst!r}")
        self.account = account
        self.model = model
        self.limits = limits
        self.keys = KeySpace.build(account=account, model=model, window_us=limits.window_us, prefix=key_prefix)
        self.storage = storage or RedisStorage(client)
        self._ttl_ms = math.ceil(limits.window_seconds * 1000) + IDLE_SLACK_MS
        self._seen_us = 0  # Redis time of this client's latest acquire: its memory of a live window
        if not isinstance(history_windows, int) or history_windows < 1:
            raise ValueError(f"history_windows must be a positive int, got {history_windows!r}")
        self._bucket_us = max(1, limits.window_us // HISTORY_SLICES)
        self._history_buckets = HISTORY_SLICES * history_windows
        self._history_config = f"{self._bucket_us} {self._history_buckets}"
        self._acquire_config = " ".join(
            str(n) for n in (limits.requests, limits.tokens, limits.window_us, limits.requests_per_day or 0,
                             self._ttl_ms, WALK_LIMIT, round((burst or 0) * US))
        )  # fmt: skip

    @classmethod
    def from_url(cls, url: str, *, account: str, model: str, limits: Limits, **options: Any) -> Limiter:
        """A limiter with its own client, which fails within a second when Redis is unreachable."""
        storage = RedisStorage.from_url(url)
        return cls(storage.client, account=account, model=model, limits=limits, storage=storage, **options)

    def close(self) -> None:
        """Close the client if this limiter built it (:meth:`from_url`)."""
        self.storage.close()

    def __enter__(self) -> Limiter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def acquire(self, tokens: int, *, reserve: float = 0.0, pace: bool = True, book_within: float = 0.0) -> Decision:
        """Admit one request of ``tokens`` now, or say in how many seconds it would fit.

        ``book_within``: a wait of at most that many seconds that only the pace or the window's
        own log imposes is booked instead of refused: the request is admitted for the moment it
        fits (``Decision.delay`` from now), and the caller sleeps until then and sends. Callers
        waiting for the next slots then queue in order, instead of all asking again at once.
        A cooldown (a real 429) and the daily limit are never booked through.

        ``reserve`` keeps that fraction of every limit free for other callers: a bulk backfill
        passing ``reserve=0.1`` is admitted only while 10% of each limit stays free after it,
        so an interactive caller passing 0 always finds room. A refusal consumes nothing.
        ``pace=False`` lets the request use the window's free capacity at once, whatever the
        limiter's ``burst``: for a job too short to reach a steady state, where pacing would only
        stretch it (two windows' tokens take one window unpaced, two paced).
        Raises :class:`NeverFits` when the request exceeds what a limit can ever admit.

        Starting again after Redis lost its data (a restart without persistence) is
        conservative: this client remembers when it last saw the window alive, and if that was
        less than a window ago the window is assumed full for one window from now (reason
        ``"restart"``), because the provider still counts what was sent before. A brand-new
        key, or one idle for a window, starts at full speed. See ``lua/acquire.lua``.
        """
        if not isinstance(tokens, int) or tokens < 0:
            raise ValueError(f"tokens must be a non-negative int, got {tokens!r}")
        if not 0.0 <= reserve < 1.0:
            raise ValueError(f"reserve must be in [0, 1), got {reserve!r}")
        if tokens > self.limits.tokens:
            raise NeverFits(self.limits.tokens, tokens)
        lim = self.limits
        if not (math.isfinite(book_within) and book_within >= 0):
            raise ValueError(f"book_within must be finite and non-negative, got {book_within!r}")
        args = [
            self._acquire_config, tokens, repr(float(reserve)), self._seen_us, int(pace), self._history_config,
            _us(book_within),
        ]  # fmt: skip
        reply = _text(self.storage.run("acquire", [*self.keys.all, self.keys.history], args))
        *numbers, reason, admission = reply.split(" ")
        status, wait_us, now_us, used_r, used_t, cap_r, cap_t = map(int, numbers)
        self._seen_us = max(self._seen_us, now_us)
        if reason == "restart":
            logger.warning(
                "rate limit of %s for account %s: Redis lost the window this client saw %.3gs ago "
                "(restarted without its data); assuming it full for %gs",
                self.model, self.account, (now_us - args[3]) / US, wait_us / US,
            )  # fmt: skip
        if status < 0:
            limit = {"tokens": cap_t, "requests": cap_r}.get(reason, math.floor((lim.requests_per_day or 0) * (1 - reserve)))
            raise NeverFits(limit, tokens if reason == "tokens" else 1, reason)
        admitted = status == 1
        return Decision(
            admitted=admitted,
            retry_after=0.0 if admitted else wait_us / US,
            delay=wait_us / US if admitted else 0.0,
            at=(now_us + (wait_us if admitted else 0)) / US,
            reason=reason,
            requests_used=used_r,
            tokens_used=used_t,
            requests_limit=cap_r,
            tokens_limit=cap_t,
            admission=admission,
        )

    def reconcile(
        self, estimated: int, actual: int, *, admission: Decision | str | None = None, served: float = 0.0
    ) -> int:
        """Replace an admission's estimated tokens with the response's actual usage.

        Pass the admission's :class:`Decision` to correct exactly that admission and to count it
        from now on (the response is here, so the server saw the request no later than now; a
        request that reached the server late cannot then overlap one we admit later). Without it,
        extra tokens are recorded now and tokens given back come off the oldest admissions in
        the window, which is safe as long as the request was admitted within the last window.

        ``served`` is how long the server says it worked on the request (OpenAI's
        ``openai-processing-ms``, in seconds). A server that checks its limits when a request
        arrives counted it at least that long before now, so the admission is counted from
        then (never earlier than it was admitted): a slow response then holds the window for
        no longer than the server does.
        Returns the tokens used in the window after the correction.
        """
        if min(estimated, actual) < 0:
            raise ValueError("estimated and actual tokens must be non-negative")
        if not (math.isfinite(served) and served >= 0):
            raise ValueError(f"served seconds must be finite and non-negative, got {served!r}")
        member = admission.admission if isinstance(admission, Decision) else (admission or "")
        args = [self.limits.window_us, estimated, actual, member, self._ttl_ms, int(served * US), WALK_LIMIT]
        keys = [self.keys.log, self.keys.state, self.keys.history]
        used_t, _moved = self.storage.run("reconcile", keys, [*args, self._history_config])
        return int(used_t)

    def cooldown(self, seconds: float) -> float:
        """After a real 429: every client's acquire refuses for ``seconds`` (never shortened).

        Returns the seconds of cooldown now remaining.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"cooldown seconds must be finite and non-negative, got {seconds!r}")
        if seconds == 0:
            return self.usage().cooldown_seconds
        keys = [self.keys.cooldown, self.keys.state, self.keys.history]
        left = self.storage.run("cooldown", keys, [_us(seconds), self._history_config])
        return int(left) / US

    def observe(self, headers: Mapping[str, str], *, at: float | None = None) -> ServerLimits:
        """Let a response's ``x-ratelimit-*`` headers correct the shared belief.

        A server limit smaller than configured is adopted by every client; fewer remaining
        requests or tokens than we believed are consumed until the server's reset. ``at`` is
        the admission (``Decision.at``) of the request that carried them: the server counted
        about then, so admissions that have left our window since still count in the belief
        compared. Returns what was read from the headers.
        """
        server = parse_rate_limit_headers(headers)
        if server.is_empty():
            return server

        def number(value: int | None) -> int:
            return -1 if value is None else value

        def reset(value: float | None) -> int:
            return -1 if value is None else _us(value)

        lim = self.limits
        args = [lim.requests, lim.tokens, lim.window_us, self._ttl_ms,
                number(server.requests_limit), number(server.tokens_limit),
                number(server.requests_remaining), number(server.tokens_remaining),
                reset(server.requests_reset), reset(server.tokens_reset),
                -1 if at is None else round(at * US)]  # fmt: skip
        reply = [int(v) for v in self.storage.run("observe", [self.keys.log, self.keys.state], args)]
        for name, before, after in (("requests", reply[0], reply[1]), ("tokens", reply[2], reply[3])):
            if before != after:
                logger.warning(
                    "rate limit of %s for account %s: the server allows %d %s per %gs window "
                    "(was %d, configured %d); all clients now use %d",
                    self.model, self.account, after, name, lim.window_seconds, before,
                    getattr(lim, name), after,
                )  # fmt: skip
        return server

    def usage(self) -> Usage:
        """What the window holds now, for the dashboard (read-only)."""
        lim = self.limits
        args = [lim.requests, lim.tokens, lim.window_us, lim.requests_per_day or 0]
        reply = [int(v) for v in self.storage.run("usage", self.keys.all, args)]
        now_us, used_r, used_t, limit_r, limit_t, cooldown_us, used_d = reply
        daily = lim.requests_per_day is not None
        return Usage(
            requests_used=used_r,
            requests_limit=limit_r,
            tokens_used=used_t,
            tokens_limit=limit_t,
            cooldown_seconds=cooldown_us / US,
            window_seconds=lim.window_seconds,
            requests_per_day_used=used_d if daily else None,
            requests_per_day_limit=lim.requests_per_day,
            at=now_us / US,
        )

    def history(self, *, windows: int | None = None) -> History:
        """The last ``windows`` windows (all that is kept, by default) bucket by bucket, read-only.

        Admissions, tokens (corrected by the responses' usage), refusals, 429s and cooldowns of
        every client, counted by the scripts that decided them, on Redis's clock; plus totals
        that only grow, for metrics. Data, not a picture: the dashboard draws it.
        """
        count = self._history_buckets if windows is None else min(self._history_buckets, HISTORY_SLICES * windows)
        if count < 1:
            raise ValueError(f"windows must be a positive int, got {windows!r}")
        reply = self.storage.run("history", [self.keys.history, self.keys.state], [])
        return parse_history(reply, window_us=self.limits.window_us, bucket_us=self._bucket_us, count=count)
