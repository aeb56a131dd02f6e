"""Every worker follows the sources: a thread that sends ``tollgate.sources_follow`` while none waits.

Started when the worker is ready, in its main process, whatever the pool; it touches no
database (a forked pool child must not inherit a connection), only the cache's marker and the
broker (``project.embeddings.sources.wake.follow_tick``). The task itself runs in the pool like
any other. ``TOLLGATE_SOURCES_POLL_SECONDS=0`` turns it off.
"""

from __future__ import annotations

import threading

from celery import signals

__all__ = ["Ticker"]


class Ticker(threading.Thread):
    """Sends the follow task every ``seconds`` while no copy of it is waiting."""

    def __init__(self, seconds: float) -> None:
        super().__init__(name="sources-follow", daemon=True)
        self.seconds = seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        from project.embeddings.sources.wake import follow_tick

        while not self.stopped.wait(self.seconds):
            follow_tick()


_ticker: Ticker | None = None


@signals.worker_ready.connect
def _start(**_: object) -> None:
    from project.embeddings.sources.wake import poll_seconds  # the models load once Django is set up

    global _ticker
    if poll_seconds() > 0 and _ticker is None:
        _ticker = Ticker(poll_seconds())
        _ticker.start()


@signals.worker_shutdown.connect
def _stop(**_: object) -> None:
    if _ticker is not None:
        _ticker.stopped.set()
