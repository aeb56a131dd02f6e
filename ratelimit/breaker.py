"""A circuit breaker of one (account, model), shared through Redis by every process that calls it.

A deployment that keeps failing (timeouts, 5xx, dropped connections) is opened for a while, so
no process sends it work meanwhile; then exactly one request probes it (half-open), and its
answer closes the breaker or opens it again for twice as long. A deployment that refused the
credentials or the quota is blocked: open for a long time at once, with the reason. Time is
Redis's, as for the limiter, so hosts whose clocks disagree share one breaker.

Which failure is which is the caller's to say (``providers/breaker.py``); this module keeps the
state. Reading it costs one script call; :meth:`Breaker.may_send` skips even that while this
process saw it closed less than ``CLOSED_CACHE`` seconds ago.

Example::

    breaker = Breaker(client, account=fingerprint(key, url), model="text-embedding-3-small")
    if breaker.may_send().allowed:
        ...  # send, then breaker.report("ok") or breaker.report("fail", reason="HTTP 503")
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from .keys import KEY_PREFIX, breaker_key
from .storage import RedisStorage

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Breaker", "BreakerPolicy", "BreakerState"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
OPERATIONS = ("breaker_probe", "breaker_report", "breaker_read")
PRELUDES = ("_breaker.lua",)
CLOSED_CACHE = 0.5  # seconds a process trusts its last sight of a closed breaker before asking again
IDLE_EXPIRY = 86_400.0  # seconds a breaker's state outlives its last report
US = 1_000_000


@dataclass(frozen=True)
class BreakerPolicy:
    """When the breaker opens and for how long.

    ``failures``: failures in a row that open it. ``open_seconds``: the first open time, doubled
    at each opening in a row, up to ``max_open_seconds``. ``blocked_seconds``: how long a refusal of
    the credentials or the quota keeps it open before one probe. ``probe_seconds``: how long the
    probe's slot holds if its process dies before answering.
    """

    failures: int = 3
    open_seconds: float = 5.0
    max_open_seconds: float = 300.0
    blocked_seconds: float = 600.0
    probe_seconds: float = 90.0


@dataclass(frozen=True)
class BreakerState:
    """What the breaker says now: ``state`` is closed, open or half-open (waiting for a probe's answer)."""

    state: str
    failures: int  # in a row, while closed
    opens: int  # openings in a row
    open_seconds_left: float
    reason: str
    blocked: bool
    allowed: bool = False  # (may_send) this caller may send now
    probing: bool = False  # (may_send) ... as the one probe

    @property
    def wait(self) -> float:
        """Seconds until it may be tried again (0 when closed)."""
        return self.open_seconds_left


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _state(reply: list[Any], *, allowed: bool = False, probing: bool = False) -> BreakerState:
    fails, opens, until, probe, reason, blocked, now = reply
    fails, opens, until, probe, now = int(fails), int(opens), int(until), int(probe), int(now)
    if opens == 0:
        name, left = CLOSED, 0.0
    elif until > now:
        name, left = OPEN, (until - now) / US
    else:
        name, left = HALF_OPEN, max(0, probe - now) / US
    return BreakerState(name, fails, opens, left, _text(reason), bool(int(blocked)), allowed, probing)


class Breaker:
    """The breaker of one (account, model); see the module's docstring.

    Parameters
    ----------
    client:
        A redis-py client (the limiter's is fine).
    account, model:
        As for :class:`ratelimit.Limiter`: the account's fingerprint, never the key.
    policy:
        When it opens and for how long (:class:`BreakerPolicy`).
    """

    def __init__(
        self,
        client: Any,
        *,
        account: str,
        model: str,
        policy: BreakerPolicy = BreakerPolicy(),
        key_prefix: str = KEY_PREFIX,
        storage: RedisStorage | None = None,
    ) -> None:
        self.key = breaker_key(account=account, model=model, prefix=key_prefix)
        self.policy = policy
        self.storage = storage or RedisStorage(client, operations=OPERATIONS, preludes=PRELUDES)
        self._closed_seen = -math.inf  # monotonic time this process last saw it closed

    def may_send(self) -> BreakerState:
        """Whether a request may go now: closed, or open long enough that this caller is the one probe."""
        if time.monotonic() - self._closed_seen < CLOSED_CACHE:
            return BreakerState(CLOSED, 0, 0, 0.0, "", False, allowed=True)
        verdict, *reply = self.storage.run("breaker_probe", [self.key], [round(self.policy.probe_seconds * US)])
        verdict = int(verdict)
        state = _state(reply, allowed=verdict > 0, probing=verdict == 2)
        self._remember(state)
        return state

    def report(self, outcome: str, *, reason: str = "") -> BreakerState:
        """``"ok"`` (closes it), ``"fail"`` (one more in a row), ``"block"`` (open for ``blocked_seconds``),
        or ``"release"`` (a probe's slot given back unused)."""
        if outcome not in ("ok", "fail", "block", "release"):
            raise ValueError(f"outcome must be ok, fail, block or release, got {outcome!r}")
        policy = self.policy
        args = [outcome, policy.failures, round(policy.open_seconds * US), round(policy.max_open_seconds * US),
                round(policy.blocked_seconds * US), reason[:500], round(IDLE_EXPIRY * 1000)]  # fmt: skip
        state = _state(self.storage.run("breaker_report", [self.key], args))
        self._remember(state)
        return state

    def _remember(self, state: BreakerState) -> None:
        """Trust a closed breaker without failures for ``CLOSED_CACHE``; one that has any is asked every time."""
        healthy = state.state == CLOSED and state.failures == 0
        self._closed_seen = time.monotonic() if healthy else -math.inf

    def state(self) -> BreakerState:
        """The state now, read-only (for pages)."""
        return _state(self.storage.run("breaker_read", [self.key], []))
