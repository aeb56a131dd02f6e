"""The pgai peer's own arithmetic and secrecy, without pgai: what counts as paid twice, what reaches the worker.

The run itself needs pgai's 6 GB virtualenv and is exercised by ``python -m bench.peer_pgai``,
not here.
"""

from __future__ import annotations

from pathlib import Path

from bench.peer_pgai.run import _worker_env
from bench.peer_pgai.truth import simulator_truth
from bench.peer_pgai.venv import PeerVenv
from simulator.stats import Stats

TEXTS = ["#1. alpha", "#2. beta", "#1. alpha", "#3. gamma"]  # the corpus holds "#1. alpha" twice


def _served(*batches: list[str]) -> dict:
    stats = Stats(window_seconds=6.0, day_seconds=8640.0, track_day=False)
    for batch in batches:
        stats.record_inputs(text.encode() for text in batch)
        stats.record_admission("key:model", 10 * len(batch))
    return {**stats.snapshot(), "limits": {"rpm": 120, "tpm": 150_000}, "window_seconds": 6.0}


def test_a_corpus_duplicate_sent_once_per_copy_is_not_paid_beyond_the_corpus():
    truth = simulator_truth(_served(TEXTS[:2], TEXTS[2:]), TEXTS)
    assert truth["inputs_served_more_than_once"] == 1
    assert truth["corpus_duplicates_served"] == 1
    assert truth["inputs_paid_beyond_corpus"] == 0
    assert truth["corpus_inputs_never_served"] == 0


def test_an_input_sent_again_after_a_200_is_paid_beyond_the_corpus_and_a_missing_one_is_counted():
    truth = simulator_truth(_served(TEXTS[:2], ["#2. beta", "#2. beta"], TEXTS[2:3]), TEXTS)
    assert truth["inputs_paid_beyond_corpus"] == 1
    assert truth["payments_beyond_corpus"] == 2
    assert truth["corpus_inputs_never_served"] == 1  # "#3. gamma"


def test_the_busy_span_comes_from_the_admissions_when_the_simulator_lists_them():
    stats = {**_served(TEXTS), "admissions": [[1.25, 40], [3.5, 40], [7.75, 40]]}
    truth = simulator_truth(stats, TEXTS)
    assert (truth["busy_seconds"], truth["busy_span_from"]) == (6.5, "admissions")


def test_the_worker_gets_the_password_and_the_key_in_its_environment_only(tmp_path: Path):
    (tmp_path / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    venv = PeerVenv(python=tmp_path / "bin" / "python", python_version="3.11.7", install_seconds=None)
    env = _worker_env(venv, database_url="postgres://postgres:s3cret@127.0.0.1:5432/tollgate", api_key="sk-x")
    assert env["PGPASSWORD"] == "s3cret" and env["OPENAI_API_KEY"] == "sk-x"
    for name in ("PGAI_INSTALL_DB_URL", "PGAI_VECTORIZER_WORKER_DB_URL"):
        assert "s3cret" not in env[name] and "dbname=tollgate" in env[name]
