"""Workers online, tasks running and tasks per second: one broadcast, every worker's reply from one moment.

Each worker answers the ``tollgate_load`` remote-control command (``workers/control.py``) with
its running tasks and its counts together, so a worker is never online with its tasks missing
(``inspect stats`` then ``inspect active`` are two broadcasts, and a busy worker's second reply
can miss its timeout). The timeout is Flower's own (a second, and a half for a loaded machine):
a page or a status line never hangs on a broker or a worker that does not answer, and what a
busy worker runs is still counted. Tasks per second come from the difference of each worker's
processed-task count between two looks from this process (a first look: the average since the
worker started).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from kombu.exceptions import OperationalError

from project.celery import EMBED_GROUP, app
from project.errors import BrokerUnavailable

__all__ = ["INSPECT_TIMEOUT", "WorkerInfo", "WorkersStatus", "workers_status"]

INSPECT_TIMEOUT = 1.5  # seconds to wait for the workers' replies
COMMAND = "tollgate_load"

_last_look: dict[str, tuple[float, int]] = {}  # worker -> (monotonic time, tasks processed)
_lock = threading.Lock()


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    running: int  # tasks executing now
    embedding: int  # of those, embed_group tasks: a group each, claimed (in flight)
    processed: int  # tasks received since the worker started
    concurrency: int | None
    tasks_per_second: float | None


@dataclass(frozen=True)
class WorkersStatus:
    workers: tuple[WorkerInfo, ...]

    @property
    def running(self) -> int:
        return sum(w.running for w in self.workers)

    @property
    def embedding(self) -> int:
        return sum(w.embedding for w in self.workers)

    @property
    def tasks_per_second(self) -> float:
        return round(sum(w.tasks_per_second or 0.0 for w in self.workers), 2)


def workers_status(*, timeout: float = INSPECT_TIMEOUT) -> WorkersStatus:
    """Ask every worker at once; those that do not answer within ``timeout`` are not online.

    Raises :class:`~project.errors.BrokerUnavailable` when the broker cannot be reached.
    """
    try:
        replies = app.control.broadcast(COMMAND, reply=True, timeout=timeout)
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
    now = time.monotonic()
    loads = {name: load for reply in replies or [] for name, load in reply.items()}
    return WorkersStatus(tuple(_worker(name, loads[name], now) for name in sorted(loads)))


def _worker(name: str, load: dict, now: float) -> WorkerInfo:
    active = load.get("active") or []
    processed = sum((load.get("total") or {}).values())
    with _lock:
        before = _last_look.get(name)
        _last_look[name] = (now, processed)
    if before is not None and now > before[0] and processed >= before[1]:
        rate = (processed - before[1]) / (now - before[0])
    else:
        uptime = load.get("uptime") or 0
        rate = processed / uptime if uptime else None
    embedding = sum(1 for task in active if task.get("name") == EMBED_GROUP)
    return WorkerInfo(
        name, len(active), embedding, processed, load.get("concurrency"), None if rate is None else round(rate, 2)
    )
