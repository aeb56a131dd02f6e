"""Redis key names of one limiter, built in Python and passed to the scripts as KEYS.

All keys of an (account, model) share the ``{account:model}`` hash tag, so one script can touch
them on Redis Cluster. The limit's numbers are part of the counters' names: a changed limit
starts fresh counters instead of reusing stale ones. The cooldown after a 429 belongs to the
account itself, whatever limits a client was configured with, and so does the history (the
charts' buckets, ``lua/_history.lua``), which only the window's length divides.

The batch queue's keys (:class:`QueueKeys`) share the same tag but name no limit: they hold
which batches are in flight, a fact about the account that a changed limit must not forget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .limits import Limits

__all__ = ["KEY_PREFIX", "KeySpace", "QueueKeys"]

KEY_PREFIX = "tollgate:rl"  # shared by every tollgate process; change only to isolate deployments
_NAME = re.compile(r"[A-Za-z0-9._:/@+=-]{1,128}")


def _check(what: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"{what} must be 1-128 characters of [A-Za-z0-9._:/@+=-], got {value!r}"[:200])
    return value


def _tag(prefix: str, account: str, model: str) -> str:
    """The ``{account:model}`` hash tag every key of one (account, model) starts with."""
    if account.startswith(("sk-", "sess-")):
        raise ValueError("account looks like an API key; pass fingerprint(api_key, base_url) instead")
    return f"{prefix}:{{{_check('account', account)}:{_check('model', model)}}}"


@dataclass(frozen=True)
class KeySpace:
    log: str
    state: str
    cooldown: str
    day: str
    history: str

    @classmethod
    def build(cls, *, account: str, model: str, limits: Limits, prefix: str = KEY_PREFIX) -> KeySpace:
        tag = _tag(prefix, account, model)
        config = f"r{limits.requests}:t{limits.tokens}:w{limits.window_us}"
        return cls(
            log=f"{tag}:{config}:log",
            state=f"{tag}:{config}:state",
            cooldown=f"{tag}:cooldown",
            day=f"{tag}:d{limits.requests_per_day or 0}:day",
            history=f"{tag}:w{limits.window_us}:history",
        )

    @property
    def all(self) -> list[str]:
        """The keys of the window itself; the history (kept for many windows) is apart."""
        return [self.log, self.state, self.cooldown, self.day]


@dataclass(frozen=True)
class QueueKeys:
    """The Batch API queue of one (account, model): ``admitted`` (hash batch key -> tokens) and
    ``lowered`` (the belief after a refusal, expiring when its hold ends)."""

    admitted: str
    lowered: str

    @classmethod
    def build(cls, *, account: str, model: str, prefix: str = KEY_PREFIX) -> QueueKeys:
        tag = _tag(prefix, account, model)
        return cls(admitted=f"{tag}:batch:admitted", lowered=f"{tag}:batch:lowered")

    @property
    def all(self) -> list[str]:
        return [self.admitted, self.lowered]
