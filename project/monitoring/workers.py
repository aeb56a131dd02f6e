"""Workers online, tasks running and tasks per second, from Celery's remote control.

``inspect()`` broadcasts and waits for replies, so every call here has a short timeout: a page
or a status line that lists workers never hangs on a broker or a worker that does not answer.
Tasks per second come from the difference of each worker's processed-task count between two
looks from this process (a first look: the average since the worker started).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from kombu.exceptions import OperationalError

from project.celery import app
from project.errors import BrokerUnavailable

__all__ = ["INSPECT_TIMEOUT", "WorkerInfo", "WorkersStatus", "workers_status"]

INSPECT_TIMEOUT = 0.5  # seconds to wait for the workers' replies

_last_look: dict[str, tuple[float, int]] = {}  # worker -> (monotonic time, tasks processed)
_lock = threading.Lock()


@dataclass(frozen=True)
class WorkerInfo:
    name: str
    running: int  # tasks executing now
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
    def tasks_per_second(self) -> float:
        return round(sum(w.tasks_per_second or 0.0 for w in self.workers), 2)


def workers_status(*, timeout: float = INSPECT_TIMEOUT) -> WorkersStatus:
    """Ask every worker at once; those that do not answer within ``timeout`` are not online.

    Raises :class:`~project.errors.BrokerUnavailable` when the broker cannot be reached.
    """
    inspect = app.control.inspect(timeout=timeout)
    try:
        stats = inspect.stats() or {}
        active = inspect.active() or {}
    except (OperationalError, OSError) as exc:
        raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
    now = time.monotonic()
    return WorkersStatus(tuple(_worker(name, stats[name], active.get(name) or [], now) for name in sorted(stats)))


def _worker(name: str, stats: dict, active: list, now: float) -> WorkerInfo:
    processed = sum((stats.get("total") or {}).values())
    with _lock:
        before = _last_look.get(name)
        _last_look[name] = (now, processed)
    if before is not None and now > before[0] and processed >= before[1]:
        rate = (processed - before[1]) / (now - before[0])
    else:
        uptime = stats.get("uptime") or 0
        rate = processed / uptime if uptime else None
    concurrency = (stats.get("pool") or {}).get("max-concurrency")
    return WorkerInfo(name, len(active), processed, concurrency, None if rate is None else round(rate, 2))
