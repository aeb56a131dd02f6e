"""What embedding rows cost PostgreSQL to insert, with and without the HNSW cosine index.

Prints JSON, for the index tollgate creates (m=16, ef_construction=64):

- ``insert``: milliseconds per row of single-row INSERTs at 1,536 and 256 dimensions, without
  an index and with it (``--rows`` rows after 100 warm-up rows);
- ``copy_1536d``: rows per second of a binary COPY of ``--build-rows`` rows into the table
  without an index; of one bulk HNSW build over them (``maintenance_work_mem`` and
  ``max_parallel_maintenance_workers`` as given); and of a binary COPY of ``--copy-rows`` more
  rows with that index present.

Runs on its own embedded PostgreSQL, with random unit vectors.

    uv run python bench/index_insert.py [--rows 500] [--copy-rows 2000] [--build-rows 20000]
        [--maintenance-work-mem 1GB] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from project.embedded import EmbeddedPostgres
from project.embedded.postgres import bundled_major_version

WARM_ROWS = 100  # the first rows of an empty index are cheaper; measure after them
HNSW = "USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64)"


def unit_vector(rng: random.Random, dimensions: int) -> str:
    values = [rng.gauss(0, 1) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values))
    return "[" + ",".join(f"{v / norm:.7f}" for v in values) + "]"


def unit_vectors(rows: int, dimensions: int, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal((rows, dimensions), dtype=np.float32)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def ms_per_row(conn: psycopg.Connection, dimensions: int, rows: int, index: bool) -> float:
    rng = random.Random(dimensions)
    vectors = [(unit_vector(rng, dimensions),) for _ in range(WARM_ROWS + rows)]
    conn.execute("DROP TABLE IF EXISTS bench_rows")
    conn.execute(f"CREATE TABLE bench_rows (id bigserial PRIMARY KEY, v vector({dimensions}))")
    if index:
        conn.execute(f"CREATE INDEX ON bench_rows {HNSW}")
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO bench_rows (v) VALUES (%s)", vectors[:WARM_ROWS])
        started = time.perf_counter()
        cursor.executemany("INSERT INTO bench_rows (v) VALUES (%s)", vectors[WARM_ROWS:])
        elapsed = time.perf_counter() - started
    conn.execute("DROP TABLE bench_rows")
    return round(elapsed / rows * 1000, 3)


def copy_rows_per_s(conn: psycopg.Connection, vectors: np.ndarray) -> float:
    """One binary COPY of ``vectors`` into ``bench_rows`` (in its own transaction)."""
    started = time.perf_counter()
    with conn.cursor() as cursor, cursor.copy("COPY bench_rows (v) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(["vector"])
        for vector in vectors:
            copy.write_row((vector,))
    return round(len(vectors) / (time.perf_counter() - started), 1)


def copy_and_build(conn: psycopg.Connection, args: argparse.Namespace, dimensions: int = 1536) -> dict:
    conn.execute("DROP TABLE IF EXISTS bench_rows")
    conn.execute(f"CREATE TABLE bench_rows (id bigserial PRIMARY KEY, v vector({dimensions}))")
    no_index = copy_rows_per_s(conn, unit_vectors(args.build_rows, dimensions, seed=1))
    conn.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
    conn.execute(f"SET max_parallel_maintenance_workers = {args.workers}")
    # The vectors live in TOAST, so the heap looks too small for the planner to ask for workers.
    conn.execute(f"ALTER TABLE bench_rows SET (parallel_workers = {args.workers})")
    notices: list[str] = []  # pgvector's word on the build: its parallel workers, whether the graph fit in memory
    conn.add_notice_handler(lambda diagnostic: notices.append(diagnostic.message_primary))
    conn.execute("SET client_min_messages = debug1")
    started = time.perf_counter()
    conn.execute(f"CREATE INDEX ON bench_rows {HNSW}")
    build = round(args.build_rows / (time.perf_counter() - started), 1)
    conn.execute("RESET client_min_messages")
    with_index = copy_rows_per_s(conn, unit_vectors(args.copy_rows, dimensions, seed=2))
    conn.execute("DROP TABLE bench_rows")
    return {
        "copy_rows_per_s_no_index": no_index,
        "build_rows_per_s": build,
        "copy_rows_per_s_hnsw": with_index,
        "build_rows": args.build_rows,
        "copy_rows_into_index": args.copy_rows,
        "maintenance_work_mem": args.maintenance_work_mem,
        "max_parallel_maintenance_workers": args.workers,
        "build_messages": notices,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--copy-rows", type=int, default=2000)
    parser.add_argument("--build-rows", type=int, default=20000)
    parser.add_argument("--maintenance-work-mem", default="1GB")
    parser.add_argument("--workers", type=int, default=1, help="parallel maintenance workers besides the leader")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as home:
        server = EmbeddedPostgres(Path(home))
        server.start()
        try:
            with psycopg.connect(server.url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                register_vector(conn)
                (pgvector,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
                insert = {
                    f"{dims}d": {
                        "ms_per_row_no_index": ms_per_row(conn, dims, args.rows, index=False),
                        "ms_per_row_hnsw": ms_per_row(conn, dims, args.rows, index=True),
                    }
                    for dims in (1536, 256)
                }
                copy = copy_and_build(conn, args)
        finally:
            server.stop()
    versions = {"postgresql": bundled_major_version(), "pgvector": pgvector}
    hnsw = {"m": 16, "ef_construction": 64}
    print(json.dumps({"bench": "index_insert", **versions, "rows": args.rows, "hnsw": hnsw, "insert": insert,
                      "copy_1536d": copy}))


if __name__ == "__main__":
    main()
