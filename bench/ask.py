"""Asks during a backfill that keeps the embedding limit full: time to the first piece and to the whole answer.

A backfill (bulk ``embed_group`` tasks on W worker processes, reserve ``TOLLGATE_BULK_RESERVE``)
fills the embedding model's tokens-per-window limit against the simulator; meanwhile this
process asks N questions of a small stored corpus (the stdlib docstrings the demo uses), the
path ``tollgate ask`` and ``POST /api/ask`` take: the question's embedding through the
embeddings' gate, the nearest chunks, the answer streamed through the chat model's gate.

The provider's own latency is measured first, with the SDK straight at the simulator and nothing
else running: the question's embedding plus the chat stream's first piece (and its whole
answer), so ``first piece - provider`` is what tollgate adds (the gates, the search, the
prompt). Goal: p50 of the first piece within the provider's latency + 100 ms during the
backfill, while the backfill keeps the embedding window ≥ 90% full over the asks (the
simulator's own admissions, ``bench/shapes_measure.py``) and no window of either model exceeds
its limit (the simulator's maxima).

    uv run python bench/ask.py [--asks 30] [--workers 2] [--latency-ms 80]

Prints one JSON object on stdout; writes bench/out/ask.json and bench/out/ask.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench.common import ROOT, percentile, say
from bench.embedded_home import embedded_django
from bench.shapes_measure import long_utilization, window_fill

RPM, TPM = 600, 30_000  # the embedding model's, per window: a small account a 2-core machine saturates
CHAT_RPM, CHAT_TPM = 100, 40_000  # the chat model's, per window
WINDOW = 6.0  # seconds: a "minute" at ten times speed, like the demo
EMBEDDING, CHAT = "text-embedding-3-small", "gpt-4o-mini"
PIECE_MS = 10  # the simulator's pause between an answer's words
GOAL_MS = 100  # p50 of the first piece within the provider's latency + this
UTILIZATION_GOAL = 0.90
QUESTIONS = [
    "how do I parse the options and arguments given on a command line",
    "how do I encode and decode JSON documents",
    "how can I compute a secure hash or message digest of some bytes",
    "how do I compare two sequences and show their differences",
    "how do I run a function in a pool of worker threads",
    "what formats dates and times as strings",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asks", type=int, default=30, help="asks timed during the backfill (default 30)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--chunks", type=int, default=6000, help="backfill chunks (default 6,000: outlasts the asks)")
    parser.add_argument("--reserve", type=float, default=0.01, help="TOLLGATE_BULK_RESERVE of the backfill (default 0.01)")
    parser.add_argument("--latency-ms", type=float, default=80.0, help="the simulator's latency per request (default 80)")
    parser.add_argument("--modules", type=int, default=120, help="stdlib modules in the asked corpus (default 120)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    env = dict(
        TOLLGATE_DIMENSIONS="256", TOLLGATE_RPM=str(RPM), TOLLGATE_TPM=str(TPM),
        TOLLGATE_WINDOW_SECONDS=repr(WINDOW), TOLLGATE_CHAT_RPM=str(CHAT_RPM), TOLLGATE_CHAT_TPM=str(CHAT_TPM),
        TOLLGATE_CHUNK_SIZE="256", TOLLGATE_CHUNK_OVERLAP="0", TOLLGATE_GROUP_TOKENS="300",
    )  # fmt: skip
    with embedded_django("tollgate-bench-ask-", **env):
        return run(args)


def run(args: argparse.Namespace) -> int:
    from django.conf import settings

    from project.launch import simulator_args, start_simulator

    limits = simulator_args(rpm=RPM, tpm=TPM, window_seconds=WINDOW, chat_rpm=CHAT_RPM, chat_tpm=CHAT_TPM)
    with start_simulator(*limits, "--latency-ms", repr(args.latency_ms), "--chat-piece-ms", str(PIECE_MS),
                         "--log-level", "warning") as sim:  # fmt: skip
        os.environ.update(OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY="bench-ask")
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = sim.base_url, "bench-ask"
        owner = corpus(args)
        provider = provider_latency(sim.base_url, owner)
        unloaded = [timed_ask(owner, QUESTIONS[i % len(QUESTIONS)]) for i in range(len(QUESTIONS))]
        loaded, backfill = during_backfill(args, owner, sim)
    first = [a["first_piece_seconds"] for a in loaded]
    whole = [a["whole_seconds"] for a in loaded]
    goal = provider["first_piece_p50_seconds"] + GOAL_MS / 1000
    result = {
        "limits": {"embedding": {"model": EMBEDDING, "rpm": RPM, "tpm": TPM}, "chat": {"model": CHAT, "rpm": CHAT_RPM,
                   "tpm": CHAT_TPM}, "window_seconds": WINDOW},  # fmt: skip
        "simulator": {"latency_ms": args.latency_ms, "chat_piece_ms": PIECE_MS},
        "workers": args.workers, "concurrency": args.concurrency, "bulk_reserve": args.reserve, "asks": len(loaded),
        "provider": provider,
        "unloaded": summary([a["first_piece_seconds"] for a in unloaded], [a["whole_seconds"] for a in unloaded]),
        "during_backfill": summary(first, whole),
        "backfill": backfill,
        "goals": {
            "first_piece_p50_within_seconds": round(goal, 4),
            "first_piece_p50_met": percentile(first, 0.5) <= goal,
            "embedding_utilization_met": (backfill["embedding_utilization"] or 0) >= UTILIZATION_GOAL,
            "no_window_over_its_limit": backfill["windows_within_limits"],
            "no_429": backfill["http_429"] == 0,
        },
        "asks_detail": loaded,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ask.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, backfill.pop("fill"), args.out / "ask.png")
    (args.out / "ask.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "asks_detail"}))
    return 0


def summary(first: list[float], whole: list[float]) -> dict:
    return {
        "first_piece_p50_seconds": round(percentile(first, 0.5), 4),
        "first_piece_p95_seconds": round(percentile(first, 0.95), 4),
        "whole_p50_seconds": round(percentile(whole, 0.5), 4),
        "whole_p95_seconds": round(percentile(whole, 0.95), 4),
    }


def corpus(args: argparse.Namespace):
    """The stdlib docstrings, embedded by one worker, in the owner's collection ``docs``."""
    from django.conf import settings

    from project.celery import app as celery_app
    from project.demo_corpus import stdlib_docstrings
    from project.embeddings.ingest.documents import document_ingest
    from project.embeddings.jobs.lifecycle import job_create, job_start
    from project.embeddings.owners import system_owner
    from project.launch import start_workers, wait_for_workers
    from project.pipeline import watch_job

    owner = system_owner()
    documents = document_ingest(texts=list(stdlib_docstrings(args.modules)), collection="docs", owner=owner).documents
    pool = start_workers(args.workers, concurrency=args.concurrency, log_dir=Path(settings.TOLLGATE_HOME) / "logs")
    try:
        wait_for_workers(celery_app, args.workers, pool=pool)
        job = job_create(documents=documents, owner=owner)
        job_start(job=job)
        job = watch_job(job.pk, progress=False)
        say(f"asked corpus: {job.embedded_chunks} chunks of {len(documents)} stdlib modules embedded")
    finally:
        pool.stop()
    time.sleep(WINDOW)  # its admissions leave the window before anything is timed
    return owner


def provider_latency(base_url: str, owner, rounds: int = 12) -> dict:
    """The simulator's own time for an ask's two calls, with the SDK straight at it: the question's
    embedding, then the chat stream's first piece and its end (the prompt of a real ask)."""
    import openai

    from project.ask.answer import ask_start

    client = openai.OpenAI(base_url=base_url, api_key="bench-ask-raw", max_retries=0)
    first, whole = [], []
    for index in range(rounds):
        question = QUESTIONS[index % len(QUESTIONS)]
        asking = ask_start(question, owner=owner, collection="docs", k=4)
        for _ in asking:  # a real ask's prompt, then the same two calls straight at the simulator
            pass
        messages = asking.fitted.messages
        started = time.monotonic()
        client.embeddings.create(model=EMBEDDING, input=[question], dimensions=256)
        stream = client.chat.completions.create(model=CHAT, messages=messages, max_tokens=600, stream=True)
        got = None
        for chunk in stream:
            if got is None and chunk.choices and chunk.choices[0].delta.content:
                got = time.monotonic() - started
        first.append(got)
        whole.append(time.monotonic() - started)
        time.sleep(0.2)
    return {"first_piece_p50_seconds": round(percentile(first, 0.5), 4),
            "whole_p50_seconds": round(percentile(whole, 0.5), 4)}  # fmt: skip


PHASES: dict[str, float] = {}


def phase(name: str, function):
    """``function`` timed into :data:`PHASES` (the bench's own wrapper of an ask's steps, to say where time goes)."""

    def timed(*args, **kwargs):
        started = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            PHASES[name] = PHASES.get(name, 0.0) + time.monotonic() - started

    return timed


def timed_ask(owner, question: str) -> dict:
    import project.ask.answer as answer

    for name in ("embed_query", "chunk_search", "pass_within"):
        function = getattr(answer, name)
        setattr(answer, name, phase(name, getattr(function, "__wrapped_by_bench__", function)))
        getattr(answer, name).__wrapped_by_bench__ = getattr(function, "__wrapped_by_bench__", function)
    PHASES.clear()
    started = time.monotonic()
    asking = answer.ask_start(question, owner=owner, collection="docs", k=4)
    first = None
    for _ in asking:
        if first is None:
            first = time.monotonic() - started
    result = asking.result()
    steps = {f"{name}_seconds": round(seconds, 4) for name, seconds in PHASES.items()}
    return {"question": question, "at": round(time.monotonic(), 3), "first_piece_seconds": round(first or 0.0, 4),
            "whole_seconds": round(time.monotonic() - started, 4), **steps, "sources": len(result.sources),
            "cited": sum(s["cited"] for s in result.sources), "completion_tokens": result.usage["completion_tokens"]}  # fmt: skip


def during_backfill(args: argparse.Namespace, owner, sim) -> tuple[list[dict], dict]:
    """Fill the embedding limit with a backfill on fresh workers, then time the asks while it runs."""
    from django.conf import settings

    from project.celery import app as celery_app
    from project.embeddings.ingest.documents import TextInput, document_ingest
    from project.embeddings.jobs.lifecycle import job_cancel, job_create, job_start
    from project.launch import start_workers, wait_for_workers
    from project.provider import shared_limiter

    celery_app.control.purge()
    words = "limit window token request worker queue vector search gate road car speed lane toll".split()
    texts = [
        TextInput(f"backfill chunk {i}. " + " ".join(words[(i * 5 + j * 3) % len(words)] for j in range(90)))
        for i in range(args.chunks)
    ]
    documents = document_ingest(texts=texts, collection="backfill", owner=owner).documents
    pool = start_workers(args.workers, concurrency=args.concurrency, env={"TOLLGATE_BULK_RESERVE": repr(args.reserve)},
                         log_dir=Path(settings.TOLLGATE_HOME) / "logs")  # fmt: skip
    job = None
    try:
        wait_for_workers(celery_app, args.workers, pool=pool)
        job = job_create(documents=documents, owner=owner)
        job_start(job=job)
        limiter = shared_limiter(EMBEDDING)
        deadline = time.monotonic() + 60
        while limiter.usage().tokens_used < 0.9 * TPM and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(WINDOW)  # a window of steady state before the first ask
        sim.reset_stats()
        reset_at = time.monotonic()
        asks = []
        for index in range(args.asks):
            asks.append(timed_ask(owner, QUESTIONS[index % len(QUESTIONS)]))
            time.sleep(0.3)
        span = time.monotonic() - reset_at
        job.refresh_from_db()
        stats = sim.stats(per_input=False)
        embedding = sim.stats(per_input=False, admissions=True, model=EMBEDDING)["admissions"]
        chat = sim.stats(per_input=False, admissions=True, model=CHAT)["admissions"]
        for a in asks:
            a["at"] = round(a["at"] - reset_at, 3)
        groups = {name.split(":", 1)[1]: group for name, group in stats["groups"].items()}
        windows_ok = (
            groups[EMBEDDING]["max_tokens_in_window"] <= TPM and groups[EMBEDDING]["max_requests_in_window"] <= RPM
            and groups[CHAT]["max_tokens_in_window"] <= CHAT_TPM and groups[CHAT]["max_requests_in_window"] <= CHAT_RPM
        )  # fmt: skip
        backfill = {
            "still_running_at_the_end": job.status == "running",
            "chunks_embedded": job.embedded_chunks,
            "span_seconds": round(span, 2),
            "embedding_utilization": long_utilization(embedding, window=WINDOW, tpm=TPM),
            "embedding_max_in_window": {"tokens": groups[EMBEDDING]["max_tokens_in_window"],
                                        "requests": groups[EMBEDDING]["max_requests_in_window"]},  # fmt: skip
            "chat_max_in_window": {"tokens": groups[CHAT]["max_tokens_in_window"],
                                   "requests": groups[CHAT]["max_requests_in_window"]},  # fmt: skip
            "windows_within_limits": windows_ok,
            "http_429": sum(stats["rate_limited"].values()),
            "fill": {"embedding": window_fill(embedding, window=WINDOW), "chat": window_fill(chat, window=WINDOW)},
        }
        say(f"during the backfill: first piece p50 {percentile([a['first_piece_seconds'] for a in asks], 0.5):.3f} s, "
            f"embedding window {backfill['embedding_utilization']} full, 429s {backfill['http_429']}")  # fmt: skip
        return asks, backfill
    finally:
        if job is not None:
            job_cancel(job_id=job.pk)
        pool.stop()
        celery_app.control.purge()


def plot(result: dict, fill: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    asks = result["asks_detail"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8))
    at = [a["at"] for a in asks]
    top.plot(at, [a["first_piece_seconds"] * 1000 for a in asks], "o", label="first piece")
    top.plot(at, [a["whole_seconds"] * 1000 for a in asks], "x", label="whole answer")
    provider = result["provider"]["first_piece_p50_seconds"] * 1000
    top.axhline(provider, color="grey", linestyle=":", label="provider's own first piece (p50)")
    top.axhline(provider + GOAL_MS, color="red", linestyle="--", label=f"goal: provider + {GOAL_MS} ms")
    top.set_ylabel("ms after the ask")
    top.set_title("asks during a backfill that keeps the embedding limit full")
    top.legend(loc="upper right", fontsize=8)
    for name, limit, style in (("embedding", TPM, "-"), ("chat", CHAT_TPM, "--")):
        points = fill[name]
        if points:
            bottom.plot([t for t, _ in points], [v / limit for _, v in points], style, label=f"{name}: tokens in the window / TPM")
    bottom.axhline(1.0, color="red", linestyle="--", label="the limit")
    bottom.axhline(UTILIZATION_GOAL, color="grey", linestyle=":", label=f"{UTILIZATION_GOAL:.0%}")
    bottom.set_ylim(0, 1.1)
    bottom.set_xlabel("seconds from each model's first admission after the reset")
    bottom.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
