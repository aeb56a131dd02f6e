"""One run of pgai's vectorizer worker, as a subprocess of its own virtualenv, watched from the database."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.errors import PeerFailed
from bench.peer_pgai.database import create_vectorizer, drop_run, embedded, load_documents, vectorizer_errors
from bench.peer_pgai.venv import PEERS, PGAI_VERSION, PeerVenv, ensure_venv

POLL_INTERVAL = 1  # the worker's --poll-interval, seconds (pgai's default: 5 min)
WATCH_SECONDS = 0.25  # how often the bench counts pgai's embeddings table
STOP_SECONDS = 15.0  # a stopped worker's grace before SIGKILL
LOG_TAIL_LINES = 40
_RESPONSE = re.compile(r'HTTP Request: POST \S+ "HTTP/[\d.]+ (\d{3})')
_KEPT_ENV = ("PATH", "HOME", "LANG", "TMPDIR")  # nothing else of ours reaches the worker


@dataclass(frozen=True)
class PeerRun:
    """What pgai's worker did; the simulator's ``/stats`` says what it sent and paid."""

    finished: bool  # every document has its embedding
    wall_seconds: float  # worker started to the last document embedded (or to the timeout)
    first_row_seconds: float | None  # worker started to its first document embedded: its start-up
    worker_cpu_seconds: float | None  # the worker's user + system CPU until the bench stopped it
    documents: int
    embedded: int  # documents with an embedding
    embedding_rows: int  # rows in pgai's embeddings table: == embedded unless one was stored twice
    responses: dict[str, int]  # HTTP statuses the worker got, from the SDK's "HTTP Request" log lines
    retries: int  # requests the openai SDK sent again (its "Retrying request" log lines)
    errors: list[str]  # the worker's error lines, then ai.vectorizer_errors
    log_tail: str  # the log's last lines, leaving out the "200 OK" of each request
    exit_code: int | None  # after the bench's SIGTERM: 0 is pgai's clean stop
    load_seconds: float  # the corpus into its table
    setup_seconds: float  # pgai install + create_vectorizer
    concurrency: int
    poll_interval: int
    indexing: str  # what pgai resolved ai.indexing_default() to: "none" is no vector index
    venv: PeerVenv
    pgai_version: str = PGAI_VERSION


def run_pgai(
    *,
    database_url: str,
    base_url: str,
    api_key: str,
    model: str,
    dimensions: int,
    corpus: Path,
    concurrency: int = 4,
    timeout: float,
    poll_interval: int = POLL_INTERVAL,
    keep: bool = False,
    peers: Path = PEERS,
) -> PeerRun:
    """Embed ``corpus`` (its ``*.txt``, one document each) with pgai's worker; returns when all are embedded or at ``timeout``.

    ``keep`` leaves the run's schema and vectorizer in the database to look at; otherwise they
    are dropped. ``api_key`` reaches the worker in its environment only.
    """
    venv = ensure_venv(peers)
    texts = [path.read_text(encoding="utf-8") for path in sorted(corpus.glob("*.txt"))]
    env = _worker_env(venv, database_url=database_url, api_key=api_key)
    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as conn:
        drop_run(conn)
        load_documents(conn, texts)
        loaded = time.monotonic()
        _pgai(venv, env, "install")
        vectorizer_id, indexing = create_vectorizer(conn, base_url=base_url, model=model, dimensions=dimensions)
        ready = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="peer-pgai-") as scratch:
            log_path = Path(scratch) / "worker.log"
            worker = ["vectorizer", "worker", "--vectorizer-id", str(vectorizer_id)]
            worker += ["--concurrency", str(concurrency), "--poll-interval", str(poll_interval)]
            watched = _watch(conn, venv, env, worker, log_path, documents=len(texts), timeout=timeout)
            log = log_path.read_text(errors="replace").splitlines()
        errors = [line for line in log if "[error" in line] + vectorizer_errors(conn, vectorizer_id)
        if not keep:
            drop_run(conn)
    return PeerRun(
        **watched,
        documents=len(texts),
        responses=dict(Counter(match[1] for match in map(_RESPONSE.search, log) if match)),
        retries=sum("Retrying request" in line for line in log),
        errors=errors,
        log_tail="\n".join([line for line in log if '"HTTP/1.1 200 OK"' not in line][-LOG_TAIL_LINES:]),
        load_seconds=round(loaded - started, 2),
        setup_seconds=round(ready - loaded, 2),
        concurrency=concurrency,
        poll_interval=poll_interval,
        indexing=indexing,
        venv=venv,
    )


def _worker_env(venv: PeerVenv, *, database_url: str, api_key: str) -> dict[str, str]:
    """The worker's whole environment: secrets here, never on its command line (``ps``) or in its log."""
    params = conninfo_to_dict(database_url)
    password = params.pop("password", None)
    conninfo = make_conninfo(**params)
    env = {name: os.environ[name] for name in _KEPT_ENV if name in os.environ}
    env.update(
        PGAI_INSTALL_DB_URL=conninfo,  # `python -m pgai` reads every option as PGAI_<COMMAND>_<OPTION>
        PGAI_VECTORIZER_WORKER_DB_URL=conninfo,
        OPENAI_API_KEY=api_key,
        OPENAI_LOG="info",  # the SDK logs each request and each "Retrying request to ... in N seconds"
        TIKTOKEN_CACHE_DIR=str(venv.site_packages / "pgai" / "vectorizer" / "tiktoken_cache"),  # pgai ships it
        PYTHONUNBUFFERED="1",
    )
    if password is not None:
        env["PGPASSWORD"] = password
    return env


def _pgai(venv: PeerVenv, env: dict[str, str], *args: str) -> None:
    # cwd: pgai loads a .env from its working directory upwards; the virtualenv's holds none
    command = [str(venv.python), "-m", "pgai", *args]
    done = subprocess.run(command, check=False, env=env, cwd=venv.python.parent, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stdout + done.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
        raise PeerFailed(f"pgai {' '.join(args)}", "\n".join(tail))


def _watch(
    conn, venv: PeerVenv, env: dict[str, str], args: list[str], log_path: Path, *, documents: int, timeout: float
) -> dict:
    """Run ``python -m pgai *args`` until ``documents`` are embedded, it exits, or ``timeout``; then stop it."""
    done = rows = 0
    first = None
    with open(log_path, "w") as log:
        started = time.monotonic()
        worker = subprocess.Popen(
            [str(venv.python), "-m", "pgai", *args],
            env=env,
            cwd=venv.python.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while done < documents and time.monotonic() - started < timeout and worker.poll() is None:
                time.sleep(WATCH_SECONDS)
                done, rows = embedded(conn)
                if done and first is None:
                    first = time.monotonic() - started
            wall = time.monotonic() - started
            cpu = _cpu_seconds(worker.pid)
        finally:
            _stop(worker)
    done, rows = embedded(conn)
    return {
        "finished": done >= documents,
        "wall_seconds": round(wall, 2),
        "first_row_seconds": None if first is None else round(first, 2),
        "worker_cpu_seconds": cpu,
        "embedded": done,
        "embedding_rows": rows,
        "exit_code": worker.returncode,
    }


def _cpu_seconds(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:  # it has exited already
        return None
    return round(times.user + times.system, 2)


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)  # pgai's handler: "received SIGTERM, exiting", exit 0
    try:
        worker.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
