"""The table bench/sources.py keeps embedded: a team's ``bench_articles``, made in SQL, and the same text as files.

Each row is ``title`` ("Article N") and ``body`` (thirty words drawn from a small vocabulary by
a hash of the row and the word's place), about 45 tokens of text once a source joins them; no
two rows share a text. The files hold exactly the text a source of (title, body) embeds, so
``tollgate run`` on them and a source's backfill send the same inputs.
"""

from __future__ import annotations

from pathlib import Path

from django.db import connection

__all__ = ["TABLE", "edit_text", "table_create", "table_files", "table_titles"]

TABLE = "bench_articles"
WORDS = (
    "limit window token request worker queue vector search gate road car speed lane toll ticket article "
    "product price order invoice customer shipment warehouse refund review rating answer question model "
    "index segment batch budget account tier minute second retry backoff jitter cooldown lease claim"
).split()
BODY_WORDS = 30


def table_create(rows: int) -> None:
    """``bench_articles`` with ``rows`` rows, made in one statement (a few seconds for 100,000)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE} CASCADE")
        cursor.execute(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, title text NOT NULL, body text, price numeric)")
        cursor.execute(
            f"""INSERT INTO {TABLE} (title, body)
            SELECT 'Article ' || i, (
                SELECT string_agg(w.words[1 + abs(hashint4(i * 131 + j)) %% cardinality(w.words)], ' ' ORDER BY j)
                FROM generate_series(1, %s) j
            )
            FROM generate_series(1, %s) i, (SELECT %s::text[] AS words) w""",
            [BODY_WORDS, rows, WORDS],
        )
        cursor.execute(f"ANALYZE {TABLE}")


def table_files(folder: Path) -> int:
    """Each row's text (title, a blank line, body: what the source embeds) as a file of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, title, body FROM {TABLE} ORDER BY id")
        while batch := cursor.fetchmany(5000):
            for row_id, title, body in batch:
                (folder / f"{row_id:07d}.txt").write_text(f"{title}\n\n{body}")
                written += 1
    return written


def table_titles(ids: list[int]) -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, title FROM {TABLE} WHERE id = ANY(%s)", [ids])
        return dict(cursor.fetchall())


def edit_text(n: int) -> str:
    """The ``n``-th edit's new body: a text no row held before."""
    return f"Edited {n}: " + " ".join(WORDS[(n * 7 + i * 11) % len(WORDS)] for i in range(BODY_WORDS))
