"""A cycle's steps: a followed change goes out as its step commits, while the cycle is still draining.

A follower's cycle drains for up to ``FOLLOW_SECONDS`` while changes keep coming; had its
changes waited for the cycle's end, each edit under a steady stream would wait that long to be
searchable (bench/sources.py measured a p95 of 10.5 s at 50 edits/s). A backfill's batches of a
short job are still planned whole at the end, as ``tollgate run``'s ingest plans them.
"""

from __future__ import annotations

from project.embeddings.models import EmbeddingGroup, EmbeddingJob, SourceJob
from project.embeddings.sources.drain import _Cycle, source_drain
from project.embeddings.sources.registry import source_add


def test_a_change_is_planned_as_its_step_commits_and_a_short_backfill_when_the_cycle_ends(table):
    ids = table.insert(*[(f"Article {i}", f"About {i}.") for i in range(3)])
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"])

    cycle = _Cycle(source)
    try:
        assert cycle.step()  # the backfill reads the three rows
        backfill = SourceJob.objects.get(version__source=source, backfill=True).job
        assert not EmbeddingGroup.objects.filter(job=backfill).exists()  # a short job: planned whole at the end
    finally:
        cycle.close()
    assert EmbeddingGroup.objects.filter(job=backfill).exists()

    cycle = _Cycle(source)
    try:
        table.sql("UPDATE {t} SET body = 'Edited while a cycle drains.' WHERE id = %s", [ids[0]])
        assert cycle.step()
        changes = SourceJob.objects.get(version__source=source, backfill=False).job
        groups = EmbeddingGroup.objects.filter(job=changes)
        assert groups.count() == 1 and EmbeddingJob.objects.get(pk=changes.pk).total_groups == 1  # sent now
        assert not cycle.step()  # nothing more: the cycle would end here
    finally:
        cycle.close()
    assert source_drain(source).changes == 0
