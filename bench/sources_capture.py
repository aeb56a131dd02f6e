"""What the capture costs the writer: statement triggers (tollgate's) beside row triggers and none.

The same writes to a team's table, timed from the client, each in its own transaction, under
three captures:

- ``none``: no trigger (what the writer paid before the table was a source);
- ``statement``: the source's own capture (``tollgate sources add``: one ``INSERT … SELECT`` per
  statement from its transition tables, ``capture.py``);
- ``row``: a row trigger writing the same queue row per row (the design of pgai's vectorizer and
  pg_vectorize), with the same text-changed check.

Writes: one ``INSERT … SELECT`` of ``--rows`` rows; one ``UPDATE`` of their text; one ``UPDATE`` of
a column outside the text (queues nothing under either capture); ``--singles`` single-row
updates in their own transactions (an ORM's ``save()``). Median of ``--repeat`` runs.

    uv run python bench/sources_capture.py [--rows 10000] [--singles 1000]

Prints one JSON object on stdout; writes bench/out/sources_capture.json and .png.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, say  # noqa: E402
from bench.embedded_home import embedded_django  # noqa: E402

TABLE = "bench_capture"
CAPTURES = ("none", "statement", "row")
ROW_TRIGGER = """
CREATE FUNCTION bench_capture_row() RETURNS trigger LANGUAGE plpgsql AS $row$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.title::text IS NOT DISTINCT FROM OLD.title::text
            AND NEW.body::text IS NOT DISTINCT FROM OLD.body::text THEN
        RETURN NULL;
    END IF;
    INSERT INTO embeddings_sourcechange (source_id, row_id, op, created_at)
    VALUES (%(source)s, coalesce(NEW.id, OLD.id)::text, left(TG_OP, 1), clock_timestamp());
    RETURN NULL;
END $row$;
CREATE TRIGGER bench_capture_row AFTER INSERT OR UPDATE OR DELETE ON bench_capture
    FOR EACH ROW EXECUTE FUNCTION bench_capture_row();
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows a bulk statement writes (default 10,000)")
    parser.add_argument("--singles", type=int, default=1_000, help="single-row updates (default 1,000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    with embedded_django("tollgate-capture-bench-"):
        from django.db import connection

        results = {capture: measure(capture, args) for capture in CAPTURES}
        connection.close()
    result = {"bench": "sources_capture", "rows": args.rows, "singles": args.singles, "repeat": args.repeat,
              "seconds": results,
              "statement_over_none": {k: round(results["statement"][k] / results["none"][k], 2) for k in results["none"]},
              "row_over_none": {k: round(results["row"][k] / results["none"][k], 2) for k in results["none"]}}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sources_capture.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out / "sources_capture.png")
    print(json.dumps(result))
    return 0


def measure(capture: str, args: argparse.Namespace) -> dict[str, float]:
    from django.db import connection

    from project.embeddings.models import Source
    from project.embeddings.sources.capture import capture_drop
    from project.embeddings.sources.registry import source_add, source_remove

    runs: dict[str, list[float]] = {"bulk_insert": [], "bulk_update_text": [], "bulk_update_other": [], "single_updates": []}
    for _ in range(args.repeat):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TABLE} CASCADE")
            cursor.execute("DROP FUNCTION IF EXISTS bench_capture_row() CASCADE")
            cursor.execute(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, title text, body text, price numeric)")
        if Source.objects.filter(name=TABLE).exists():
            source_remove(name=TABLE)
        source = source_add(name=TABLE, table=TABLE, text_columns=["title", "body"]) if capture != "none" else None
        if capture == "row":  # the same queue, written per row instead of per statement
            capture_drop(source)
            with connection.cursor() as cursor:
                cursor.execute(ROW_TRIGGER % {"source": source.pk})
        timed = lambda statement, params=(): _timed(connection, statement, params)  # noqa: E731
        runs["bulk_insert"].append(timed(
            f"INSERT INTO {TABLE} (title, body) SELECT 'Article ' || i, 'Body of article ' || i "
            "FROM generate_series(1, %s) i", [args.rows]))  # fmt: skip
        runs["bulk_update_text"].append(timed(f"UPDATE {TABLE} SET body = body || ' edited'"))
        runs["bulk_update_other"].append(timed(f"UPDATE {TABLE} SET price = id"))
        clock = time.perf_counter()
        with connection.cursor() as cursor:
            for i in range(1, args.singles + 1):
                cursor.execute(f"UPDATE {TABLE} SET body = %s WHERE id = %s", [f"Single edit {i}", i])
        runs["single_updates"].append(time.perf_counter() - clock)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE embeddings_sourcechange")
    if Source.objects.filter(name=TABLE).exists():
        source_remove(name=TABLE)
    medians = {name: round(statistics.median(values), 4) for name, values in runs.items()}
    say(f"{capture}: {medians}")
    return medians


def _timed(connection, statement: str, params) -> float:
    clock = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(statement, params)  # autocommit: the statement and its commit
    return time.perf_counter() - clock


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    writes = list(result["seconds"]["none"])
    figure, axis = plt.subplots(figsize=(9, 4))
    width = 0.27
    for i, capture in enumerate(CAPTURES):
        values = [result["seconds"][capture][w] * 1000 for w in writes]
        axis.bar([x + (i - 1) * width for x in range(len(writes))], values, width, label=capture)
    axis.set_xticks(range(len(writes)), [w.replace("_", " ") for w in writes])
    axis.set_ylabel("ms (median)")
    axis.set_title(f"the writer's cost of the capture: {result['rows']:,}-row statements, {result['singles']:,} single updates")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
