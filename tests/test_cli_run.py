"""`tollgate demo` and `tollgate run` as a user types them: subprocesses, real everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from project.demo_corpus import SAMPLE_ANSWER, SAMPLE_QUERY

# A rehearsal that finishes in seconds: a 1-second "minute" on the built-in simulator.
FAST = {"TOLLGATE_RPM": "100", "TOLLGATE_TPM": "40000", "TOLLGATE_WINDOW_SECONDS": "1"}
SUMMARY_KEYS = {"documents", "chunks", "embedded", "failed", "tokens", "requests", "http_429", "limiter_waits",
                "wall_seconds", "tokens_per_minute", "tpm_utilization", "reused_chunks", "reused_tokens",
                "paid_tokens", "cost_usd", "saved_usd", "lane", "batch_tokens", "batches"}  # fmt: skip


def tollgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "project.cli", *args],
        env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_demo_embeds_the_stdlib_corpus_and_its_plain_words_search_finds_the_right_module():
    result = tollgate("demo", "--modules", "15", "--workers", "2", "--json", env=FAST)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["status"] == "completed" and summary["documents"] == 15
    assert summary["embedded"] == summary["chunks"] > 0 and summary["failed"] == 0
    assert summary["http_429"] == 0
    assert f"sample search: {SAMPLE_QUERY!r}" in result.stderr
    first_hit, second_hit = result.stderr.split("sample search:")[1].splitlines()[1:3]
    similarity, source = first_hit.split()[:2]
    assert source == SAMPLE_ANSWER, result.stderr.split("sample search:")[1]  # a paraphrase found its module
    assert 0.1 < float(similarity) < 0.999 and float(second_hit.split()[0]) <= float(similarity)
    asked = result.stderr.split(f"sample ask: {SAMPLE_QUERY!r}")[1]  # the demo ends with an answer citing its sources
    answer, *sources = [line.strip() for line in asked.splitlines() if line.strip()][:4]
    first_source = next(line for line in sources if line.startswith("[1] "))
    assert first_source.startswith(f"[1] {SAMPLE_ANSWER}") and first_source.endswith(", cited)")
    assert "[1]" in answer and "gpt-4o-mini:" in asked


def test_run_reports_bad_files_and_embeds_the_rest(tmp_path: Path):
    (tmp_path / "good.md").write_text("# Notes\n\nThe gate holds the road to its limit. " * 50)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "photo.jpg").write_bytes(bytes(range(128, 256)) * 40)
    result = tollgate("run", str(tmp_path), "--workers", "1", "--json", "--collection", "cli-run", env=FAST)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["documents"] == 1 and summary["embedded"] == summary["chunks"] >= 1
    assert "photo.jpg: not UTF-8 text" in result.stderr and "empty.txt: empty, skipped" in result.stderr

    again = tollgate("run", str(tmp_path), "--workers", "1", "--json", "--collection", "cli-run", env=FAST)
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["requests"] == 0 and summary["chunks"] == 0  # nothing new: no API call

    # The same file in another collection: new chunks, every one reused, nothing paid.
    other = tollgate("run", str(tmp_path), "--workers", "1", "--json", "--collection", "cli-run-2", env=FAST)
    summary = json.loads(other.stdout.strip().splitlines()[-1])
    assert summary["requests"] == 0 and summary["paid_tokens"] == 0 and summary["cost_usd"] == 0
    assert summary["reused_chunks"] == summary["chunks"] >= 1 and summary["saved_usd"] > 0
    dry = tollgate("run", str(tmp_path), "--dry-run", "--json", "--collection", "cli-run-3", env=FAST)
    estimate = json.loads(dry.stdout.strip().splitlines()[-1])
    assert estimate["tokens"] == 0 and estimate["requests"] == 0 and estimate["reused_chunks"] == estimate["chunks"]


def test_an_ingest_error_midway_is_one_line(tmp_path: Path):
    for i in range(1000):  # the first batch (BATCH_DOCUMENTS) commits and is sent
        (tmp_path / f"a-{i:04d}.txt").write_text(f"Note {i}: the gate holds the road.")
    (tmp_path / "z-big.txt").write_text("word " * 6000)  # one input of 6,000 tokens, above a 5,000 TPM limit
    env = {**FAST, "TOLLGATE_TPM": "5000"}
    result = tollgate("run", str(tmp_path), "--workers", "1", "--whole-documents", "--collection", "midway", env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tollgate: ingest stopped after 1000 documents: chunk") and "limit of 5000" in last


def test_dry_run_estimates_without_calling_anything(tmp_path: Path):
    (tmp_path / "a.txt").write_text("A sentence to count. " * 400)
    result = tollgate("run", str(tmp_path), "--dry-run", "--json", env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert result.returncode == 0, result.stderr[-2000:]
    estimate = json.loads(result.stdout.strip().splitlines()[-1])
    assert estimate["tokens"] > 1000 and estimate["requests"] >= 1 and estimate["usd"] >= 0
    assert estimate["batch_usd"] == round(estimate["usd"] / 2, 4)  # the cost on both lanes


def test_run_on_the_batch_lane_pays_half_through_batches_that_beat_follows(tmp_path: Path):
    for i in range(30):
        (tmp_path / f"note-{i}.txt").write_text(f"Note {i}: a backfill that can wait for the Batch API. " * 20)
    result = tollgate("run", str(tmp_path), "--workers", "1", "--lane", "batch", "--json", "--collection", "batch-lane",
                      env={**FAST, "TOLLGATE_BATCH_POLL_SECONDS": "0.5"})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["lane"] == "batch" and summary["embedded"] == 30
    assert summary["batch_tokens"] == summary["paid_tokens"] > 0 and summary["batches"] == {"done": 1}
    assert summary["saved_usd"] == summary["cost_usd"] > 0  # half the price: the other half saved


def test_an_unknown_model_is_one_clear_line(tmp_path: Path):
    (tmp_path / "a.txt").write_text("text")
    result = tollgate("run", str(tmp_path), env={"TOLLGATE_MODEL": "no-such-model"})
    assert result.returncode == 2
    assert "unknown model 'no-such-model'" in result.stderr and "Traceback" not in result.stderr


def test_simulate_serves_the_openai_sdk():
    import re

    import openai

    server = subprocess.Popen(
        [sys.executable, "-m", "project.cli", "simulate", "--tier", "1", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()
        base_url = re.search(r"http://\S+/v1", line).group(0)
        with openai.OpenAI(base_url=base_url, api_key="any", max_retries=0) as client:
            response = client.embeddings.create(input=["hello", "world"], model="text-embedding-3-small")
        assert [len(item.embedding) for item in response.data] == [1536, 1536]
        assert response.usage.total_tokens == 2
    finally:
        server.terminate()
        server.wait(timeout=20)
        server.stdout.close()


def test_run_replaces_a_worker_that_dies_and_says_so(tmp_path: Path):
    import psutil

    (tmp_path / "long.md").write_text(" ".join(f"Sentence {i} about the gate and the road it guards." for i in range(3000)))
    slow = {**FAST, "TOLLGATE_TPM": "6000", "TOLLGATE_RPM": "60"}  # several seconds of work
    process = subprocess.Popen(
        [sys.executable, "-m", "project.cli", "run", str(tmp_path), "--workers", "2", "--json", "--collection", "replace"],
        env={**os.environ, **slow}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    said = []
    for line in process.stderr:
        said.append(line)
        if line.startswith("started 2 workers"):
            break
    workers = [p for p in psutil.Process(process.pid).children() if "celery" in " ".join(p.cmdline())]
    workers[0].kill()
    out, rest = process.communicate(timeout=240)
    stderr = "".join(said) + rest
    assert process.returncode == 0, stderr[-2000:]
    assert "started a replacement" in stderr and "exited with code" in stderr
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "completed" and summary["embedded"] == summary["chunks"] > 0
    assert summary["workers_replaced"] == 1
