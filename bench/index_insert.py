"""What one embedding row costs PostgreSQL to insert, with and without the HNSW cosine index.

Prints JSON: milliseconds per row at 1,536 and 256 dimensions, without an index and with the
index tollgate creates (m=16, ef_construction=64). Runs on its own embedded PostgreSQL.

    uv run python bench/index_insert.py [--rows 500]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path

import psycopg

from project.embedded import EmbeddedPostgres

WARM_ROWS = 100  # the first rows of an empty index are cheaper; measure after them


def unit_vector(rng: random.Random, dimensions: int) -> str:
    values = [rng.gauss(0, 1) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values))
    return "[" + ",".join(f"{v / norm:.7f}" for v in values) + "]"


def ms_per_row(conn: psycopg.Connection, dimensions: int, rows: int, index: bool) -> float:
    rng = random.Random(dimensions)
    vectors = [(unit_vector(rng, dimensions),) for _ in range(WARM_ROWS + rows)]
    conn.execute("DROP TABLE IF EXISTS bench_rows")
    conn.execute(f"CREATE TABLE bench_rows (id bigserial PRIMARY KEY, v vector({dimensions}))")
    if index:
        conn.execute("CREATE INDEX ON bench_rows USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)")
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO bench_rows (v) VALUES (%s)", vectors[:WARM_ROWS])
        started = time.perf_counter()
        cursor.executemany("INSERT INTO bench_rows (v) VALUES (%s)", vectors[WARM_ROWS:])
        elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE bench_rows")
    return round(elapsed / rows * 1000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as home:
        server = EmbeddedPostgres(Path(home))
        server.start()
        try:
            with psycopg.connect(server.url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                result = {
                    f"{dims}d": {
                        "ms_per_row_no_index": ms_per_row(conn, dims, args.rows, index=False),
                        "ms_per_row_hnsw": ms_per_row(conn, dims, args.rows, index=True),
                    }
                    for dims in (1536, 256)
                }
        finally:
            server.stop()
    print(json.dumps({"bench": "index_insert", "rows": args.rows, "hnsw": {"m": 16, "ef_construction": 64}, **result}))


if __name__ == "__main__":
    main()
