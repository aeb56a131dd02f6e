"""Freshness: a steady stream of edits to a source's table, each timed from its commit to searchable.

An editor thread updates ``rate`` distinct rows a second (one statement, autocommit: its return
is its commit), each with a text no row held before; a watcher thread reads the source's view
every ``POLL`` seconds for the rows still outstanding, and a row is **searchable** once the view
(the current version's rows joined with their stored vectors) holds its new text. The lag is
the watcher's first sight less the commit; the watcher's period bounds its error.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from django.db import DatabaseError, connection

from bench.sources_table import TABLE, edit_text

__all__ = ["Edit", "edits_stream"]

POLL = 0.05  # seconds between the watcher's reads


@dataclass
class Edit:
    n: int
    row_id: int
    text: str  # the row's new text, as the source joins it
    committed: float = 0.0  # monotonic
    seen: float | None = None

    @property
    def lag(self) -> float | None:
        return None if self.seen is None else self.seen - self.committed


@dataclass
class Stream:
    edits: list[Edit] = field(default_factory=list)
    behind: int = 0  # edits the editor sent late (its schedule slipped by more than one period)
    view_errors: list[str] = field(default_factory=list)  # the watcher's reads of the view that failed


def edits_stream(*, view: str, rows: list[int], titles: dict[int, str], rate: float, seconds: float,
                 drain_seconds: float = 60.0) -> Stream:  # fmt: skip
    """Edit ``rate`` rows a second for ``seconds`` (each row once, in ``rows``' order), and time each to searchable."""
    stream = Stream()
    outstanding: dict[int, Edit] = {}
    lock = threading.Lock()
    editing_done = threading.Event()

    def edit() -> None:
        try:
            start = time.monotonic()
            count = min(len(rows), int(rate * seconds))
            with connection.cursor() as cursor:
                for n in range(count):
                    due = start + n / rate
                    pause = due - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    elif pause < -1 / rate:
                        stream.behind += 1
                    row_id = rows[n]
                    body = edit_text(n)
                    change = Edit(n=n, row_id=row_id, text=f"{titles[row_id]}\n\n{body}")
                    cursor.execute(f"UPDATE {TABLE} SET body = %s WHERE id = %s", [body, row_id])
                    change.committed = time.monotonic()
                    with lock:
                        stream.edits.append(change)
                        outstanding[row_id] = change
        finally:
            connection.close()
            editing_done.set()

    def watch() -> None:
        try:
            deadline = None
            with connection.cursor() as cursor:
                while True:
                    with lock:
                        waiting = dict(outstanding)
                    if editing_done.is_set():
                        deadline = deadline or time.monotonic() + drain_seconds
                        if not waiting or time.monotonic() > deadline:
                            return
                    if waiting:
                        try:
                            cursor.execute(f"SELECT id, chunk FROM {view} WHERE id = ANY(%s)", [list(waiting)])
                        except DatabaseError as exc:  # what a user's query of the view would have met
                            stream.view_errors.append(" ".join(str(exc).split()))
                            time.sleep(POLL)
                            continue
                        now = time.monotonic()
                        with lock:
                            for row_id, chunk in cursor.fetchall():
                                change = outstanding.get(row_id)
                                if change is not None and chunk == change.text:
                                    change.seen = now
                                    del outstanding[row_id]
                    time.sleep(POLL)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, name="editor"), threading.Thread(target=watch, name="watcher")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stream
