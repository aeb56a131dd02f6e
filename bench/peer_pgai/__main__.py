"""``python -m bench.peer_pgai CORPUS --base-url URL``: pgai's worker alone on a corpus, and the simulator's truth.

Prints one JSON object on stdout (``run``: :class:`~bench.peer_pgai.PeerRun`; ``simulator``:
:func:`~bench.peer_pgai.truth.simulator_truth`), progress on stderr. The database is
``DATABASE_URL`` if set, else the embedded PostgreSQL of ``TOLLGATE_HOME`` (``uv run tollgate
services start`` first). The key is ``OPENAI_API_KEY`` if set, else a new one, so the
simulator's window for it starts empty.

    TOLLGATE_HOME=/tmp/pgai-home uv run tollgate services start
    uv run tollgate simulate --rpm 120 --tpm 150000 --time-scale 10 --latency-ms 120 --port 0
    TOLLGATE_HOME=/tmp/pgai-home uv run python -m bench.peer_pgai /tmp/short70 --base-url http://127.0.0.1:PORT/v1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import sys
from pathlib import Path

from bench.common import say
from bench.peer_pgai import PGAI_VERSION, run_pgai
from bench.peer_pgai.run import POLL_INTERVAL
from bench.peer_pgai.truth import read_stats, reset_stats, simulator_truth
from bench.peer_pgai.venv import PEERS


def _database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    from project.embedded import home_dir, require_running, urls

    require_running(home_dir(), redis=False)
    return urls(home_dir()).database_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_pgai", description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="a folder of .txt files, one document each")
    parser.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"), help="the simulator's /v1 URL")
    parser.add_argument("--model", default="text-embedding-3-small")
    parser.add_argument("--dimensions", type=int, default=1536)
    parser.add_argument("--concurrency", type=int, default=4, help="the worker's --concurrency (default: 4)")
    parser.add_argument("--poll-interval", type=int, default=POLL_INTERVAL, help="the worker's, in seconds")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before the run is abandoned")
    parser.add_argument("--keep", action="store_true", help="leave the peer_pgai schema and vectorizer to look at")
    parser.add_argument("--no-reset", action="store_true", help="do not reset the simulator's /stats first")
    parser.add_argument("--peers", type=Path, default=PEERS, help="where pgai's virtualenv is (made if missing)")
    args = parser.parse_args(argv)
    if not args.base_url:
        parser.error("--base-url (or OPENAI_BASE_URL) is required")
    texts = [path.read_text(encoding="utf-8") for path in sorted(args.corpus.glob("*.txt"))]
    if not args.no_reset:
        reset_stats(args.base_url)
    say(f"pgai {PGAI_VERSION}: {len(texts)} documents from {args.corpus}, concurrency {args.concurrency}")
    run = run_pgai(
        database_url=_database_url(),
        base_url=args.base_url,
        api_key=os.environ.get("OPENAI_API_KEY") or f"sk-peer-pgai-{secrets.token_hex(8)}",
        model=args.model,
        dimensions=args.dimensions,
        corpus=args.corpus,
        concurrency=args.concurrency,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        keep=args.keep,
        peers=args.peers,
    )
    truth = simulator_truth(read_stats(args.base_url, "?admissions=1"), texts)
    say(f"{run.embedded}/{run.documents} embedded in {run.wall_seconds} s, {len(run.errors)} error line(s)")
    print(json.dumps({"run": dataclasses.asdict(run), "simulator": truth}, indent=2, default=str))
    return 0 if run.finished else 1


if __name__ == "__main__":
    sys.exit(main())
