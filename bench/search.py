"""Search over a backfill loaded in bulk: recall@10 against an exact scan, latency, plans, and the same while loading.

100,000 clustered vectors of 1,536 dimensions (``bench/search_data.py``) are written the way
workers write them (``store.vectors_store``: binary COPY, then one INSERT): a few thousand into
the live index row by row, the rest into bulk segments sized as a backfill's
(``indexing.segment_filled``: 5,000, 5,000, 10,000, 20,000, …), each closed segment indexed by
``indexing.maintain()`` while the next loads, and what is left in the open segment, which no
index covers yet. Then, for a few hundred held-out queries, ``selectors.chunk_search`` against
numpy's exact answer over the same rows:

1. ``segments``: a backfill midway, each closed segment its own index and the open one found
   by its rows' sign bits (timed beside reading those rows whole, ``exact_unindexed``);
2. ``backfill``: while another process COPYs more rows at a Tier-5 rate into the open segment,
   closes it when full and builds it while the next loads; probes made from just-loaded rows
   check that rows no index covers yet are found;
3. ``merged``: the job ended, ``maintain()`` built its last segment and merged the indexes;
4. ``second_job``: a second backfill's first segment (5,000 rows), indexed beside the merged
   index, too small to merge into it.

Each state: recall@10 (goal >= 0.95) at the candidate list ``selectors.ef_search`` gives it and
up a ladder of others, p50/p95 latency (goal p50 <= 20 ms), the indexes EXPLAIN shows, and a
query filtered to a collection of ~1% of the rows (it must return k). Midway, also a search of another model, which must read none
of the backfill's indexes (``other_model``, beside the same query reading every one).
Beside them, measured in the same run: an exact scan's latency over the same rows, and the
rows/s of COPY, of row-by-row index inserts and of each bulk build.

    uv run python bench/search.py [--rows 100000] [--segments 0] [--queries 200]

Writes bench/out/search.json and bench/out/search.png; prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows before the backfill (default 100,000)")
    parser.add_argument("--live-rows", type=int, default=2_000, help="of them, rows in the live index (default 2,000)")
    parser.add_argument("--segments", type=int, default=0,
                        help="0 (default): segments sized as a backfill's, the rest left open; N: N equal ones")  # fmt: skip
    parser.add_argument("--backfill-rows", type=int, default=10_000, help="rows loaded while searching (default 10,000)")
    parser.add_argument("--backfill-rate", type=float, default=330.0,
                        help="their rows/s (default 330: a Tier-5 account at 512-token chunks)")  # fmt: skip
    parser.add_argument("--second-job-rows", type=int, default=5_000,
                        help="after the merge, a second backfill's one segment beside it (default 5,000)")  # fmt: skip
    parser.add_argument("--queries", type=int, default=200, help="held-out queries (default 200)")
    parser.add_argument("--dimensions", type=int, default=1536)
    parser.add_argument("--exact-queries", type=int, default=20, help="queries timed as an exact scan (default 20)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    home = Path(tempfile.mkdtemp(prefix="tollgate-search-"))
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        os.environ.pop(name, None)
    os.environ.update(TOLLGATE_HOME=str(home), TOLLGATE_DIMENSIONS=str(args.dimensions),
                      DJANGO_SETTINGS_MODULE="project.settings")  # fmt: skip
    import django

    from project import embedded

    try:
        with embedded.started(home, redis=False):
            django.setup()
            from bench.search_run import SearchBench

            report = SearchBench(args).run()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    from bench.search_plots import search_png

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search.json").write_text(json.dumps(report, indent=2) + "\n")
    search_png(args.out / "search.png", report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
