"""Fair share among owners: how much of the work in flight each active owner may hold. Pure.

Work reaches the workers as tasks in FIFO queues, so a backfill enqueued first would make every
later owner's job wait behind all of it. Instead each owner with work (an *active* owner) may
have at most its share of ``depth`` tokens in flight (taken by a worker at least once, or sent
for its turn, and not finished; a task still in the queue's backlog is *queued*, not in flight):
``depth * weight / (sum of the active owners' weights)``. A worker that claims a group of an
owner already at its share without that group gives the group back, held (:func:`should_yield`),
and a dispatcher sends held groups of the owners under their share (:func:`to_send`). An owner
always keeps one group in flight, however large; a single active owner never yields, so it has
the whole pool, and nothing changes for it.

Example::

    loads = [OwnerLoad("alice", in_flight=900_000, held=0), OwnerLoad("bob", in_flight=0, held=50_000)]
    should_yield(loads, "alice", tokens=6_250, depth=150_000)  # True: alice holds far more than half
    to_send(loads, depth=150_000)  # {"bob": 75_000}: bob may send up to his half
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["OwnerLoad", "shares", "should_yield", "to_send"]


@dataclass(frozen=True)
class OwnerLoad:
    """One owner's work on the shared lane, in tokens: in flight, held back, and queued.

    In flight: with a worker, or waiting for a retry or its turn in the queue's front. Queued:
    waiting in the queue's backlog, never taken by a worker; it makes the owner active (it has
    work, so it takes a share) but does not fill its share.
    """

    owner: Hashable
    in_flight: int
    held: int
    weight: float = 1.0
    queued: int = 0

    @property
    def active(self) -> bool:
        return self.in_flight > 0 or self.held > 0 or self.queued > 0


def shares(loads: Sequence[OwnerLoad], depth: int) -> Mapping[Hashable, float]:
    """Each active owner's share of ``depth`` tokens in flight, by weight."""
    active = [load for load in loads if load.active]
    total = sum(load.weight for load in active)
    return {load.owner: depth * load.weight / total for load in active} if total > 0 else {}


def should_yield(loads: Sequence[OwnerLoad], owner: Hashable, *, tokens: int, depth: int) -> bool:
    """Whether ``owner``'s claimed group of ``tokens`` (counted in its ``in_flight``) waits for its turn.

    Only when another owner has work too, and the owner would still hold its share without it.
    """
    if depth <= 0 or not any(load.active and load.owner != owner for load in loads):
        return False
    mine = next((load for load in loads if load.owner == owner), None)
    if mine is None:
        return False
    return mine.in_flight - tokens >= shares(loads, depth).get(owner, 0.0)


def to_send(loads: Sequence[OwnerLoad], *, depth: int) -> dict[Hashable, int]:
    """Tokens of held groups each owner under its share may send now (it may overshoot by one group)."""
    share = shares(loads, depth) if depth > 0 else {load.owner: float("inf") for load in loads}
    return {
        load.owner: max(0, int(min(share[load.owner], 2**62)) - load.in_flight) or 1
        for load in loads
        if load.held > 0 and load.in_flight < share[load.owner]
    }
