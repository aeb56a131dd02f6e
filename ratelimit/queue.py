"""The Batch API's enqueued-token limit of one (account, model), shared by every worker and host.

The provider counts the tokens of every batch from its creation until it finishes, per model,
and fails a batch that would pass its limit (``token_limit_exceeded``). Every process that
submits batches asks this queue first: one atomic Lua call admits a batch only while the
tokens of the batches in flight plus its own fit, so the pool never submits a batch the
server must refuse. Unlike the sliding window, nothing here expires with time: a batch holds
its tokens until it is released, and the database (which records every batch) is the truth
that :meth:`BatchQueue.sync` restores after Redis lost its data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import NeverFits
from .keys import KEY_PREFIX, QueueKeys
from .storage import RedisStorage

__all__ = ["QUEUE_OPERATIONS", "BatchQueue", "QueueDecision", "QueueUsage"]

QUEUE_OPERATIONS = ("queue_admit", "queue_release", "queue_refused", "queue_sync", "queue_usage")
QUEUE_PRELUDES = ("_queue.lua",)
IDLE_MS = 3 * 86_400_000  # a queue untouched this long holds nothing: a batch lives at most its 24 h window
MAX_BATCH_KEY = 256  # characters of a batch key (a hash field, so any text; bounded to keep Redis small)


@dataclass(frozen=True)
class QueueDecision:
    """The answer of :meth:`BatchQueue.admit`.

    ``in_use`` is the tokens of admitted, unreleased batches after this decision (this one's
    included when admitted); ``limit`` the effective limit now: the configured one, or the
    lower belief that follows a refusal by the server.
    """

    admitted: bool
    in_use: int
    limit: int


@dataclass(frozen=True)
class QueueUsage:
    """A snapshot of the queue, for the dashboard and the caller's logs.

    ``lowered_until_ms`` is when a lower belief ends (milliseconds since the epoch on Redis's
    clock), or ``None`` when the configured limit applies.
    """

    in_use: int
    limit: int
    configured: int
    batches: int
    lowered_until_ms: int | None


def _check_key(batch_key: str) -> str:
    if not isinstance(batch_key, str) or not 0 < len(batch_key) <= MAX_BATCH_KEY:
        raise ValueError(f"batch_key must be a string of 1-{MAX_BATCH_KEY} characters, got {batch_key!r}"[:200])
    return batch_key


def _check_tokens(tokens: int) -> int:
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        raise ValueError(f"tokens must be a non-negative int, got {tokens!r}")
    return tokens


class BatchQueue:
    """Admit Batch API batches of one account's model without passing its enqueued-token limit.

    Parameters
    ----------
    client:
        A redis-py client shared by the process (short timeouts, see :meth:`from_url`).
    account:
        The account's fingerprint (:func:`ratelimit.fingerprint`), never the API key.
    model:
        The model: the provider limits each model's queue separately.
    limit_tokens:
        The configured enqueued-token limit (Tier 1: 3,000,000 for text-embedding-3-small).
    key_prefix:
        Prefix of every Redis key.
    storage:
        A :class:`RedisStorage` registered with :data:`QUEUE_OPERATIONS` (built on ``client``
        when omitted).

    Example
    -------
    ::

        queue = BatchQueue.from_url(redis_url, account=fingerprint(key, url),
                                    model="text-embedding-3-small", limit_tokens=3_000_000)
        if queue.admit(f"batch-{row.id}", tokens=row.tokens).admitted:
            state = create(...)            # a refusal here: queue.refused(key, hold_seconds=600)
        ...
        queue.release(f"batch-{row.id}")   # when the batch reached any final status
    """

    def __init__(
        self,
        client: Any,
        *,
        account: str,
        model: str,
        limit_tokens: int,
        key_prefix: str = KEY_PREFIX,
        storage: RedisStorage | None = None,
    ) -> None:
        if not isinstance(limit_tokens, int) or isinstance(limit_tokens, bool) or limit_tokens < 1:
            raise ValueError(f"limit_tokens must be a positive int, got {limit_tokens!r}")
        self.account = account
        self.model = model
        self.limit_tokens = limit_tokens
        self.keys = QueueKeys.build(account=account, model=model, prefix=key_prefix)
        self.storage = storage or RedisStorage(client, operations=QUEUE_OPERATIONS, preludes=QUEUE_PRELUDES)

    @classmethod
    def from_url(cls, url: str, *, account: str, model: str, limit_tokens: int, **options: Any) -> BatchQueue:
        """A queue with its own client, which fails within a second when Redis is unreachable."""
        storage = RedisStorage.from_url(url, operations=QUEUE_OPERATIONS, preludes=QUEUE_PRELUDES)
        return cls(storage.client, account=account, model=model, limit_tokens=limit_tokens, storage=storage, **options)

    def close(self) -> None:
        """Close the client if this queue built it (:meth:`from_url`)."""
        self.storage.close()

    def __enter__(self) -> BatchQueue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def admit(self, batch_key: str, tokens: int) -> QueueDecision:
        """Admit the batch ``batch_key`` of ``tokens`` now, or refuse it (nothing is counted then).

        Admitted iff the tokens in use plus ``tokens`` fit the effective limit, decided in one
        atomic call, so processes on any number of hosts never overfill the queue together.
        Idempotent: a key already admitted is admitted again without counting twice, so a task
        redelivered after a crash between admit and submit does not hold the tokens twice.
        Raises :class:`NeverFits` when ``tokens`` exceed the configured limit: such a batch
        must be split, never retried.
        """
        _check_key(batch_key)
        if _check_tokens(tokens) > self.limit_tokens:
            raise NeverFits(self.limit_tokens, tokens, "enqueued tokens")
        reply = self.storage.run("queue_admit", self.keys.all, [batch_key, tokens, self.limit_tokens, IDLE_MS])
        admitted, in_use, limit = (int(v) for v in reply)
        return QueueDecision(admitted=admitted == 1, in_use=in_use, limit=limit)

    def release(self, batch_key: str) -> None:
        """The batch finished, whatever its final status: its tokens leave the queue. Idempotent."""
        self.storage.run("queue_release", [self.keys.admitted], [_check_key(batch_key)])

    def refused(self, batch_key: str, *, hold_seconds: float) -> QueueUsage:
        """The server failed this batch with ``token_limit_exceeded``: believe the queue is full.

        The batch's admission is dropped, and for ``hold_seconds`` (on Redis's clock) the
        effective limit is the tokens the other batches still hold: the server knows of
        batches we do not (another client, a lost release), so nobody submits more until
        something is released. A lower belief or a longer hold already in force is kept. After
        the hold the configured limit applies again. ``hold_seconds=0`` only drops the admission.
        """
        _check_key(batch_key)
        if not (math.isfinite(hold_seconds) and hold_seconds >= 0):
            raise ValueError(f"hold_seconds must be finite and non-negative, got {hold_seconds!r}")
        hold_ms = math.ceil(hold_seconds * 1000)
        reply = self.storage.run("queue_refused", self.keys.all, [batch_key, hold_ms, self.limit_tokens])
        return self._usage(reply)

    def sync(self, batches: Mapping[str, int]) -> None:
        """Replace the admitted batches with the database's truth (batch key -> tokens), at once.

        For a Redis that lost its data (a restart without persistence) or releases that were
        lost (a worker died after its batch finished). The lower belief, which is about the
        server, is kept.
        """
        args: list[Any] = [IDLE_MS]
        for batch_key, tokens in batches.items():
            args += [_check_key(batch_key), _check_tokens(tokens)]
        self.storage.run("queue_sync", [self.keys.admitted], args)

    def usage(self) -> QueueUsage:
        """What the queue holds now (read-only)."""
        return self._usage(self.storage.run("queue_usage", self.keys.all, [self.limit_tokens]))

    @staticmethod
    def _usage(reply: list[Any]) -> QueueUsage:
        in_use, limit, configured, batches, until_ms = (int(v) for v in reply)
        return QueueUsage(
            in_use=in_use,
            limit=limit,
            configured=configured,
            batches=batches,
            lowered_until_ms=until_ms if until_ms >= 0 else None,
        )
