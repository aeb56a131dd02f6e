"""A source's SQL face: the view joins the user's table, the nearest function orders by distance, a refresh never hides them.

The face is rewritten whenever the current version or the indexes change (a follower's cycle,
a cutover); a user's query running meanwhile must wait for the new definition, never find the
view or the function missing (bench/sources.py's reader met "relation does not exist" when it
was dropped and made again).
"""

from __future__ import annotations

import threading

from django.db import DatabaseError, connection

from project.embeddings.sources.registry import source_add
from project.embeddings.sources.view import views_refresh
from project.sources_run import catch_up
from tests.sources.test_sync import words


def test_the_view_joins_the_table_and_the_nearest_function_finds_a_row_by_its_own_vector(rig, table):
    rig.start(rpm=600, tpm=200_000, window=1.0, workers=1, TOLLGATE_SOURCES_POLL_SECONDS=0)
    ids = table.insert(*[(f"Article {i}", f"About {words(i)}.") for i in range(8)])
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"])
    catch_up(source)

    joined = table.sql("SELECT a.id, v.chunk FROM {t} a JOIN tollgate_source_articles v USING (id) ORDER BY a.id")
    assert joined == [(row_id, table.text(row_id)) for row_id in ids]
    (vector,) = table.sql("SELECT embedding::text FROM tollgate_source_articles WHERE id = %s", [ids[3]])[0]
    nearest = table.sql(
        "SELECT a.id, n.distance FROM tollgate_source_articles_nearest(%s::vector, 3) n JOIN {t} a USING (id) "
        "ORDER BY n.distance",
        [vector],
    )
    assert nearest[0][0] == ids[3] and nearest[0][1] < 1e-6 and len(nearest) == 3

    errors: list[str] = []
    reads = 0
    stop = threading.Event()

    def read() -> None:
        nonlocal reads
        try:
            with connection.cursor() as cursor:
                while not stop.is_set():
                    try:
                        cursor.execute("SELECT count(*) FROM tollgate_source_articles")
                        cursor.execute("SELECT count(*) FROM tollgate_source_articles_nearest(%s::vector, 3)", [vector])
                        reads += 1
                    except DatabaseError as exc:
                        errors.append(str(exc))
        finally:
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(40):
            assert views_refresh(source, force=True)
    finally:
        stop.set()
        reader.join()
    assert errors == [] and reads > 0
