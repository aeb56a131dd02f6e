"""Searches by source, over and over in a thread, while a migration builds and cuts over.

Each search is what ``GET /api/search?source=NAME`` runs (``source_search``: the query embedded
through the gate on the interactive lane, the current version's nearest rows); each is recorded
with its wall-clock start and end, the versions its hits came from, their count and any error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.utils import timezone

from bench.sources_table import WORDS

__all__ = ["Searches"]

PAUSE = 0.2  # seconds between one search's end and the next


@dataclass
class Search:
    started: datetime
    ended: datetime
    seconds: float
    versions: list[int]
    hits: int
    error: str = ""


@dataclass
class Searches:
    """``with Searches(source): ...`` searches ``source`` until the block ends."""

    source: object
    k: int = 5
    done: list[Search] = field(default_factory=list)

    def __enter__(self) -> Searches:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="searches", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from project.embeddings.sources.search import source_search

        n = 0
        try:
            while not self._stop.is_set():
                query = "Article " + " ".join(WORDS[(n * 5 + i * 3) % len(WORDS)] for i in range(12))
                started, clock = timezone.now(), time.monotonic()
                try:
                    hits = source_search(query, source=self.source, viewer=None, k=self.k)
                    self.done.append(Search(started, timezone.now(), time.monotonic() - clock,
                                            sorted({hit.version for hit in hits}), len(hits)))  # fmt: skip
                except Exception as exc:  # noqa: BLE001 (a failed search is what the bench counts)
                    self.done.append(Search(started, timezone.now(), time.monotonic() - clock, [], 0, repr(exc)))
                n += 1
                self._stop.wait(PAUSE)
        finally:
            connection.close()
