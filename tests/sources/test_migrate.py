"""A source migrated to another model without downtime: built beside, cut over when complete, rolled back.

Searches run in a thread throughout: none fails or comes back empty, and they read the new
version only from its cutover on. A change made during the migration reaches both versions.
"""

from __future__ import annotations

import threading
from collections import Counter

from django.db import connection
from django.utils import timezone

from project.embeddings.ingest.documents import content_hash
from project.embeddings.models import Embedding, SourceRow, SourceState, SourceVersion
from project.embeddings.sources.errors import SourceError
from project.embeddings.sources.registry import source_add
from project.embeddings.sources.search import source_search
from project.embeddings.sources.status import source_status
from project.embeddings.sources.versions import version_create, version_cutover, version_drop
from project.sources_run import catch_up
from tests.sources.test_sync import words

SMALL, LARGE = "text-embedding-3-small", "text-embedding-3-large"
QUERY = "Article 3 About " + words(3)


class Searches(threading.Thread):
    """Searches the source over and over: (started, ended, versions read, hits, error) each."""

    def __init__(self, source) -> None:
        super().__init__(daemon=True)
        self.source, self.stop, self.seen = source, threading.Event(), []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                started = timezone.now()
                try:
                    hits = source_search(QUERY, source=self.source, viewer=None, k=3)
                    self.seen.append((started, timezone.now(), {hit.version for hit in hits}, len(hits), None))
                except Exception as exc:  # noqa: BLE001 (a failed search is what this test looks for)
                    self.seen.append((started, timezone.now(), set(), 0, repr(exc)))
        finally:
            connection.close()


def test_a_migration_cuts_over_when_complete_searches_never_fail_and_a_rollback_is_exact(rig, table):
    rig.start(rpm=600, tpm=400_000, window=1.0, workers=2, TOLLGATE_SOURCES_POLL_SECONDS=0)
    ids = table.insert(*[(f"Article {i}", f"About {words(i)}.") for i in range(30)])
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"], model=SMALL)
    catch_up(source)
    original = table.text(ids[0])
    searches = Searches(source)
    searches.start()

    new = version_create(source, model=LARGE, dimensions=1536)
    table.sql("UPDATE {t} SET body = 'Changed while migrating.' WHERE id = %s", [ids[0]])  # reaches both versions
    summary = catch_up(source)
    searches.stop.set()
    searches.join()

    new.refresh_from_db()
    assert summary.made_current == [2] and new.state == SourceState.CURRENT
    assert SourceVersion.objects.get(source=source, number=1).state == SourceState.RETIRED
    assert searches.seen and all(error is None and hits == 3 for *_, hits, error in searches.seen), searches.seen
    read = [versions for _, _, versions, *_ in searches.seen]  # in the order they started
    switch = read.index({2})
    assert switch > 0 and all(v == {1} for v in read[:switch]) and all(v == {2} for v in read[switch:])  # once
    assert all(versions == {1} for _, ended, versions, *_ in searches.seen if ended < new.current_at)  # never early
    assert source_search("Changed while migrating", source=source, viewer=None, k=1)[0].version == 2
    for number in (1, 2):  # the change went to both
        row = SourceRow.objects.get(version__source=source, version__number=number, row_id=str(ids[0]))
        assert row.document.text == table.text(ids[0])
    served = Counter(rig.simulator.stats()["inputs"]["per_input"])  # both models' inputs, by text
    for query in (QUERY, "Changed while migrating"):  # the searches' own inputs
        del served[content_hash(query)]
    expected = Counter({content_hash(table.text(row_id)): 2 for row_id in ids})  # once per model
    expected[content_hash(original)] = 1  # v1 only: it changed before v2 read it
    assert served == expected

    back = version_cutover(source, number=1)  # the way back: v1 followed every change meanwhile
    assert back.state == SourceState.CURRENT
    assert source_search("Changed while migrating", source=source, viewer=None, k=1)[0].version == 1
    version_drop(source, number=2)
    assert not Embedding.objects.filter(model=LARGE).exists()
    try:
        version_drop(source, number=1)
    except SourceError as exc:
        assert "current" in str(exc)
    else:
        raise AssertionError("the current version was dropped")

    held = version_create(source, model=LARGE, dimensions=1536, hold=True)  # complete, it waits to be told
    assert catch_up(source).made_current == []
    status = source_status(source)
    assert [(v.number, v.state, v.complete) for v in status.versions] == [(1, "current", True), (3, "building", True)]
    assert version_cutover(source).number == held.number == 3
