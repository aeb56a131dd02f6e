"""Redis key names of one limiter, built in Python and passed to the scripts as KEYS.

All keys of an (account, model) share the ``{account:model}`` hash tag, so one script can touch
them on Redis Cluster.

No key names a limit. The provider keeps one window per account and model, whatever each of
our processes is configured with: during a rolling change of ``TOLLGATE_TPM``, on a host with
another ``.env``, or in the web app beside the workers, two configurations are two opinions of
ONE window. Keys that named the limit (``limits`` does that, for limits that are its own) gave
each opinion a log of its own, and a 1,000-TPM and a 999-TPM limiter then admitted 1,999 tokens
in one window. So there is one log, one state, one day log and one cooldown per (account,
model), and the limit is an argument of each call: every caller counts everything every caller
admitted against its own limit, over its own window's length. The log keeps its entries for the
longest window any caller has used (the state's ``span``), so a shorter window's caller never
drops what a longer one still counts (``lua/_common.lua``). A window longer than any used
before can only count, in its first window, what the log still held.

Only the history (the charts' buckets, ``lua/_history.lua``) names the window's length: its
buckets are a fraction of a window, so two lengths cannot share them. It counts, it never limits.

The batch queue's keys (:class:`QueueKeys`) share the same tag but name no limit: they hold
which batches are in flight, a fact about the account that a changed limit must not forget.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["KEY_PREFIX", "KeySpace", "QueueKeys", "breaker_key"]

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
    def build(cls, *, account: str, model: str, window_us: int, prefix: str = KEY_PREFIX) -> KeySpace:
        """The keys of (account, model); ``window_us`` names only the history's buckets."""
        tag = _tag(prefix, account, model)
        return cls(
            log=f"{tag}:log",
            state=f"{tag}:state",
            cooldown=f"{tag}:cooldown",
            day=f"{tag}:day",
            history=f"{tag}:w{window_us}:history",
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


def breaker_key(*, account: str, model: str, prefix: str = KEY_PREFIX) -> str:
    """The circuit breaker's state of (account, model) (``breaker.py``): a fact about the deployment, no limit."""
    return f"{_tag(prefix, account, model)}:breaker"
