"""Ingest throughput (tokens/s) on many small files and on a few large ones, beside the machine's limits.

On each corpus, in one run, on the same files (generated under a temporary directory):

1. the physical limits measured right then: reading the files; tiktoken's raw encode of their
   text (``encode_ordinary`` in one thread, and ``encode_ordinary_batch`` over every core);
   a binary COPY of the very rows ingest wrote (documents and chunks) into unindexed tables;
2. the old path: a transaction, a lookup and ORM INSERTs per file, with the splitter of that
   time (``bench/ingest_baseline.py``), on a slice of the corpus (its rate is per file);
3. the new path: ``files_ingest`` (batches, COPY).

Then the time from start until the first embedding is stored, and until the last, with real workers and the
simulator at Tier 5's limits (which it never reaches): streaming (``job_ingest``: groups sent as each batch commits) against
ingest-then-enqueue (``files_ingest``, then ``job_start``), on 8,000 of the small files.
A Tier-5 account admits 10,000,000 tokens a minute: ingest must sustain ~166,667 tokens/s.

    uv run python bench/ingest.py [--small 27000] [--large 8] [--large-chars 1000000] [--old-files 3000]
                                  [--first-files 8000] [--workers 2]

Prints one JSON object on stdout, a table on stderr; writes bench/out/ingest.json and
bench/out/ingest.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import say  # noqa: E402  (after the path)
from bench.embedded_home import embedded_django  # noqa: E402  (after the path)

TIER5_TOKENS_PER_SECOND = 10_000_000 / 60
OUT = ROOT / "bench" / "out"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=27_000, help="small files (default 27,000, ~60 tokens each)")
    parser.add_argument("--large", type=int, default=8, help="large files (default 8)")
    parser.add_argument("--large-chars", type=int, default=1_000_000, help="characters per large file (default 1M)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the first-embedding runs")
    parser.add_argument("--old-files", type=int, default=3000, help="files the old (per-file) path ingests (default 3,000)")
    parser.add_argument("--first-files", type=int, default=8000, help="small files for the first-embedding runs (default 8,000)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    with embedded_django("tollgate-ingest-bench-") as home:
        report = run(args, home)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ingest.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, OUT / "ingest.png")
    print(json.dumps(report))
    return 0


def run(args: argparse.Namespace, home: Path) -> dict:
    from bench.ingest_corpus import large_files, small_files

    corpora = home / "corpora"
    started = time.monotonic()
    small = small_files(corpora / "small", args.small)
    large = large_files(corpora / "large", args.large, args.large_chars)
    say(f"corpora written in {time.monotonic() - started:.1f} s under {corpora}")
    results = {}
    for name, path in (("small_files", small), ("large_files", large)):
        results[name] = corpus_bench(name, path, old_files=args.old_files)
    folders = sorted(small.iterdir())[: max(1, args.first_files // 1000)]  # small_files writes 1,000 a folder
    first = first_embedding(folders, workers=args.workers) if args.first_files else None
    return {
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()},
        "goal_tokens_per_second": round(TIER5_TOKENS_PER_SECOND),
        "corpora": results,
        "first_embedding": first,
        "git": _git_state(),
        "command": " ".join(["uv run python bench/ingest.py", *sys.argv[1:]]),
    }


def corpus_bench(name: str, path: Path, *, old_files: int) -> dict:
    from django.conf import settings

    from bench.ingest_baseline import files_ingest_per_file
    from project.embeddings.ingest.documents import files_ingest

    files = sorted(p for p in path.rglob("*") if p.is_file())
    row: dict = {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    started = time.perf_counter()
    texts = [p.read_text() for p in files]
    row["read_seconds"] = round(time.perf_counter() - started, 3)

    def new_path(collection: str) -> tuple[dict, object]:
        started = time.perf_counter()
        report = files_ingest(paths=[path], collection=collection)
        return {**_rate(report.tokens, time.perf_counter() - started), "load_average": _load()}, report

    first, report = new_path(f"{name}-new")
    tokens = report.tokens
    row["tokens"], row["chunks"] = tokens, report.chunks
    say(f"{name}: {len(files)} files, {tokens:,} tokens; new path {first['tokens_per_second']:,} tokens/s")

    row["encode_one_thread"], row["encode_all_cores"] = encode_limits(texts)
    row["copy_rows"] = copy_limit(f"{name}-new", tokens)
    say(
        f"{name}: encode {row['encode_one_thread']['tokens_per_second']:,} (1 thread) / "
        f"{row['encode_all_cores']['tokens_per_second']:,} (all cores) tokens/s; "
        f"COPY {row['copy_rows']['tokens_per_second']:,} tokens/s"
    )
    if old_files:  # its rate is per file: a slice of the corpus tells it
        started = time.perf_counter()
        old = files_ingest_per_file(
            paths=files[:old_files],
            collection=f"{name}-old",
            model=settings.TOLLGATE_MODEL,
            size=settings.TOLLGATE_CHUNK_SIZE,
            overlap=settings.TOLLGATE_CHUNK_OVERLAP,
        )
        row["old_path"] = {
            **_rate(old["tokens"], time.perf_counter() - started),
            "files": min(old_files, len(files)),
            "load_average": _load(),
        }
        say(f"{name}: old path {row['old_path']['tokens_per_second']:,} tokens/s")
    second, _ = new_path(f"{name}-new-again")  # after the old path too: the order favours neither
    say(f"{name}: new path again {second['tokens_per_second']:,} tokens/s")
    row["new_path_runs"] = [first, second]
    row["new_path"] = max(first, second, key=lambda run: run["tokens_per_second"])
    return row


def encode_limits(texts: list[str]) -> tuple[dict, dict]:
    """tiktoken alone on the same text: one thread, then its own batch encode over every core."""
    from django.conf import settings

    from providers import encoding_for_model

    encoding = encoding_for_model(settings.TOLLGATE_MODEL)
    started = time.perf_counter()
    tokens = sum(len(encoding.encode_ordinary(text)) for text in texts)
    one = _rate(tokens, time.perf_counter() - started)
    started = time.perf_counter()
    encoded = encoding.encode_ordinary_batch(texts, num_threads=os.cpu_count() or 1)
    every = _rate(sum(map(len, encoded)), time.perf_counter() - started)
    return one, every


def copy_limit(collection: str, tokens: int) -> dict:
    """A binary COPY of the rows ingest wrote for ``collection`` into unindexed tables of the same shape."""
    from django.db import connection, transaction

    from project.embeddings.models import Chunk, Document

    documents, chunks = Document._meta.db_table, Chunk._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        selects = {
            "documents": f"SELECT d.* FROM {documents} d WHERE d.collection = '{collection}'",
            "chunks": f"SELECT c.* FROM {chunks} c JOIN {documents} d ON d.id = c.document_id "
            f"WHERE d.collection = '{collection}'",
        }
        data = {}
        for name, select in selects.items():
            buffer = bytearray()
            with raw.copy(f"COPY ({select}) TO STDOUT (FORMAT BINARY)") as copy:
                for block in copy:
                    buffer += block
            data[name] = bytes(buffer)
        raw.execute(f"CREATE TEMPORARY TABLE bench_documents (LIKE {documents}) ON COMMIT DROP")
        raw.execute(f"CREATE TEMPORARY TABLE bench_chunks (LIKE {chunks}) ON COMMIT DROP")
        started = time.perf_counter()
        for name in ("documents", "chunks"):
            with raw.copy(f"COPY bench_{name} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(data[name])
        seconds = time.perf_counter() - started
    return {**_rate(tokens, seconds), "bytes": sum(map(len, data.values()))}


def first_embedding(corpus: list[Path], *, workers: int) -> dict:
    """Seconds from start until the first embedding is stored, and until the last: streaming against ingest-then-enqueue."""
    from django.conf import settings
    from django.db import connection

    from project.celery import app as celery_app
    from project.embeddings.ingest.documents import files_ingest
    from project.embeddings.ingest.streaming import job_ingest
    from project.embeddings.jobs.lifecycle import job_create, job_start
    from project.embeddings.models import Embedding, EmbeddingJob, vector_indexes
    from project.launch import simulator_args, start_simulator, start_workers, wait_for_workers
    from project.pipeline import watch_job

    # Tier 5's limits (groups of 1% of TPM, up to 2,048 inputs), which this job never reaches; no
    # HNSW index maintained row by row (bulk mode loads first): what is timed is ingest and streaming.
    limits = {"rpm": 10_000, "tpm": 10_000_000, "window_seconds": 60.0}
    with connection.schema_editor() as editor:
        for index in vector_indexes():
            editor.remove_index(Embedding, index)
    with start_simulator(*simulator_args(**limits)) as simulator:
        os.environ.update(
            OPENAI_BASE_URL=simulator.base_url,
            OPENAI_API_KEY="bench",
            TOLLGATE_RPM=str(limits["rpm"]),
            TOLLGATE_TPM=str(limits["tpm"]),
        )
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = simulator.base_url, "bench"
        settings.TOLLGATE_RPM, settings.TOLLGATE_TPM = limits["rpm"], limits["tpm"]
        pool = start_workers(workers, log_dir=Path(settings.TOLLGATE_HOME) / "logs")
        try:
            wait_for_workers(celery_app, workers, pool=pool)
            results = {}
            for mode in ("ingest_then_enqueue", "streaming"):
                celery_app.control.purge()
                started = time.monotonic()
                if mode == "streaming":
                    job = job_create(documents=[], ingesting=True)
                    thread = threading.Thread(target=_in_thread, args=(job_ingest,), kwargs={"job": job, "paths": corpus, "collection": mode})
                    thread.start()
                else:
                    report = files_ingest(paths=corpus, collection=mode)
                    ingested = time.monotonic() - started
                    job = job_create(documents=report.documents)
                    job_start(job=job)
                while not Embedding.objects.filter(chunk__document__jobs=job).exists():
                    time.sleep(0.02)
                first = time.monotonic() - started
                embedded = 0  # ingest, then enqueue: nothing is sent before the ingest ends
                if mode == "streaming":
                    thread.join()
                    ingested = time.monotonic() - started
                    embedded = EmbeddingJob.objects.get(pk=job.pk).embedded_chunks
                job = watch_job(job.pk, progress=False)
                done = time.monotonic() - started
                results[mode] = {
                    "first_embedding_seconds": round(first, 3),
                    "ingest_seconds": round(ingested, 3),
                    "embedded_when_ingest_ended": embedded,
                    "all_embedded_seconds": round(done, 3),
                    "status": job.status,
                    "chunks": job.embedded_chunks,
                    "load_average": _load(),
                }
                say(f"{mode}: first embedding {first:.2f} s, ingest {ingested:.2f} s, all embedded {done:.2f} s")
            celery_app.control.purge()
        finally:
            pool.stop()
    return {"files": sum(len(list(folder.rglob("*.txt"))) for folder in corpus), "workers": workers, **results}


def _in_thread(function, **kwargs):
    from django.db import connection

    try:
        function(**kwargs)
    finally:
        connection.close()


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _rate(tokens: int, seconds: float) -> dict:
    return {"seconds": round(seconds, 3), "tokens_per_second": round(tokens / max(seconds, 1e-9))}


def _git_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "changed": git("status", "--short").splitlines()}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = [
        ("old path", "old_path", "tab:gray"),
        ("new path", "new_path", "tab:blue"),
        ("tiktoken, 1 thread", "encode_one_thread", "tab:orange"),
        ("tiktoken, all cores", "encode_all_cores", "tab:red"),
        ("binary COPY", "copy_rows", "tab:green"),
    ]
    fig, (rates, first) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.16
    for i, (label, key, color) in enumerate(bars):
        values = [row.get(key, {}).get("tokens_per_second", 0) / 1000 for row in report["corpora"].values()]
        positions = [c + (i - 2) * width for c in range(len(values))]
        rates.bar(positions, values, width, label=label, color=color)
        for x, v in zip(positions, values):
            if v:
                rates.text(x, v, f"{v:,.0f}", ha="center", va="bottom", fontsize=7)
    rates.axhline(report["goal_tokens_per_second"] / 1000, color="black", linestyle="--", label="Tier 5: 10M tokens/min")
    rates.set_xticks(range(len(report["corpora"])))
    rates.set_xticklabels(
        [f"{name.replace('_', ' ')}\n{row['files']:,} files, {row['tokens']:,} tokens" for name, row in report["corpora"].items()]
    )
    rates.set_yscale("log")
    rates.set_ylabel("thousand tokens / s (log)")
    rates.set_title(f"ingest on {report['machine']['cpus']} cores, beside the machine's limits", fontsize=10)
    rates.legend(fontsize=7, loc="upper left")
    if report["first_embedding"]:
        modes = ["ingest_then_enqueue", "streaming"]
        data = report["first_embedding"]
        firsts = [data[m]["first_embedding_seconds"] for m in modes]
        ingests = [data[m]["ingest_seconds"] for m in modes]
        dones = [data[m]["all_embedded_seconds"] for m in modes]
        first.bar([-0.25, 0.75], ingests, 0.25, color="tab:gray", label="ingest ends")
        first.bar([0, 1], firsts, 0.25, color="tab:blue", label="first embedding stored")
        first.bar([0.25, 1.25], dones, 0.25, color="tab:green", label="every chunk embedded")
        for xs, values in (([-0.25, 0.75], ingests), ([0, 1], firsts), ([0.25, 1.25], dones)):
            for x, v in zip(xs, values):
                first.text(x, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
        first.set_xticks([0, 1])
        first.set_xticklabels(["ingest, then enqueue", "streaming"])
        first.set_ylabel("seconds from start")
        first.set_title(f"{data['files']:,} small files, {data['workers']} workers, Tier 5 limits", fontsize=10)
        first.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
