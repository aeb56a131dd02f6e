"""A table kept embedded through inserts, updates and deletes, each changed text paid once.

Real workers, Redis, PostgreSQL and the simulator over HTTP; "paid once" is read from the
simulator's own count of each distinct input it served (the sha256 of its text).
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.management import call_command
from django.db import DatabaseError, transaction

from project.embeddings.ingest.documents import content_hash
from project.embeddings.models import Chunk, Document, Embedding, Source, SourceRow
from project.embeddings.sources.registry import source_add
from project.embeddings.sources.search import source_search
from project.embeddings.sources.status import source_status
from project.sources_run import catch_up

WORDS = "limit window token request worker queue vector search gate road car speed".split()


def words(seed: int, count: int = 30) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(count))


def served(rig) -> Counter[str]:
    return Counter(rig.simulator.stats()["inputs"]["per_input"])


def embedded_texts(source: Source) -> dict[str, str]:
    """Row id -> the text its current version holds, for rows whose every chunk has a vector."""
    status = source_status(source)
    assert status.pending == 0, status
    rows = SourceRow.objects.filter(version__source=source).select_related("document")
    found = {}
    for row in rows:
        chunks = Chunk.objects.filter(document=row.document)
        assert Embedding.objects.filter(chunk__in=chunks).count() == chunks.count() > 0
        found[row.row_id] = row.document.text
    return found


def test_inserts_updates_and_deletes_are_followed_and_each_new_text_is_paid_once(rig, table, settings, capsys):
    rig.start(rpm=600, tpm=200_000, window=1.0, workers=2, TOLLGATE_SOURCES_POLL_SECONDS=0)
    long_body = " ".join(f"Paragraph {i}. " + words(i, 60) for i in range(40))  # several chunks
    ids = table.insert(
        *[(f"Article {i}", f"About {words(i)}.") for i in range(12)],
        ("Twin", "Same text."), ("Twin", "Same text."),  # two rows, one text: one document, paid once
        ("No body", None), (None, None),  # a NULL is skipped; a row with no text at all holds nothing
        ("Long", long_body),
    )  # fmt: skip
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"])

    first = catch_up(source)

    texts = {str(row_id): table.text(row_id) for row_id in ids if table.text(row_id)}
    assert embedded_texts(source) == texts and first.status == "caught up"
    assert Chunk.objects.filter(document__text=texts[str(ids[-1])]).count() > 1  # the long text, chunked
    paid_once = Counter(Chunk.objects.values_list("content_hash", flat=True).distinct())
    assert served(rig) == paid_once  # every distinct chunk once: the twins' text too
    status = source_status(source)
    assert (status.rows, status.embedded, status.pending, status.lag_seconds) == (17, 16, 0, 0.0)

    # Every kind of change, some of them several times over, before the next sync.
    before = served(rig)
    (new,) = table.insert(("Fresh", "A row inserted after the backfill."))
    table.sql("UPDATE {t} SET body = 'Rewritten: ' || body WHERE id = %s", [ids[0]])
    table.sql("UPDATE {t} SET title = title, price = 10 WHERE id = %s", [ids[1]])  # the text unchanged: free
    table.sql("UPDATE {t} SET body = 'bulk ' || id WHERE id = ANY(%s)", [ids[2:5]])  # one statement, three rows
    for draft in range(5):  # a burst of edits to one row: its last text is sent, once
        table.sql("UPDATE {t} SET body = %s WHERE id = %s", [f"Draft {draft} of {words(99)}.", ids[5]])
    table.sql("DELETE FROM {t} WHERE id = %s", [ids[6]])
    doomed = SourceRow.objects.get(version__source=source, row_id=str(ids[6])).document_id
    with pytest.raises(DatabaseError), transaction.atomic():  # rolled back: never seen
        table.sql("UPDATE {t} SET body = 'never committed' WHERE id = %s", [ids[7]])
        table.sql("SELECT 1/0")

    second = catch_up(source)

    remaining = [row_id for row_id in [*ids, new] if row_id != ids[6]]
    texts = {str(row_id): table.text(row_id) for row_id in remaining if table.text(row_id)}
    assert embedded_texts(source) == texts
    paid = served(rig) - before
    changed = [new, ids[0], *ids[2:6]]
    assert paid == Counter({content_hash(table.text(row_id)): 1 for row_id in changed})
    assert second.changed_rows == len(changed) and second.unchanged_rows == 0  # the burst: one read
    assert not Document.objects.filter(pk=doomed).exists()  # the deleted row's text and vectors are gone
    assert not Embedding.objects.filter(chunk__document_id=doomed).exists()

    hits = source_search("Rewritten About " + words(0), source=source, viewer=None, k=3)
    assert hits[0].id == str(ids[0]) and hits[0].chunk.text.startswith("Article 0")
    assert str(ids[6]) not in {hit.id for hit in source_search("Article 6", source=source, viewer=None, k=17)}
    call_command("search", f"Draft 4 of {words(99)}", "--source", "articles", "-k", "1", "--json")
    assert f'"id": "{ids[5]}"' in capsys.readouterr().out


def test_a_search_by_source_through_the_api_names_the_rows(rig, table, client, django_user_model):
    rig.start(rpm=600, tpm=200_000, window=1.0, workers=1, TOLLGATE_SOURCES_POLL_SECONDS=0)
    ids = table.insert(("Roads", "Cars on a road at speed."), ("Queues", "Workers take requests from a queue."))
    owner = django_user_model.objects.create_user(username="team", password="x")
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"], owner=owner)
    catch_up(source)
    other = django_user_model.objects.create_user(username="other", password="x")

    client.force_login(owner)
    found = client.get("/api/search", {"q": "workers and a queue", "source": "articles", "k": 1}).json()
    assert [hit["id"] for hit in found] == [str(ids[1])] and found[0]["version"] == 1
    assert set(found[0]) == {"id", "similarity", "chunk", "seq", "text", "version"}

    client.force_login(other)  # another user's source is not there
    refused = client.get("/api/search", {"q": "roads", "source": "articles"})
    assert refused.status_code == 400 and refused.json()["field"] == "source"
