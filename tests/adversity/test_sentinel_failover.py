"""Redis Sentinel fails over mid-job: the job completes, nothing is lost or paid twice, the overshoot bounded.

A master, its replica and three sentinels (``sentinel.py``), with passwords; ``REDIS_URL`` is
their Sentinel URL, for the limiter and (in Celery's form, ``project/celery.py``) the broker.
Three worker processes and the driver (``tests/deploy/driver.py``: the producer and its sweep)
run a job; once a third of it is embedded the master is killed with SIGKILL, and the sentinels
promote the replica. The simulator's limits are twice the limiter's, so it serves whatever the
limiter lets through and its ``/stats`` measure any window's overshoot of the limiter's limits.
That overshoot can only be what the lost master admitted and never passed on to its replica
(Redis replicates asynchronously), so it is bounded by what the simulator saw admitted in the
window before the kill.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections import deque
from pathlib import Path

import psycopg

from project.embedded.process import HOST, free_port
from project.embeddings.models import EmbeddingJob
from tests.adversity.sentinel import SentinelCluster
from tests.deploy import hosts

RPM, TPM, WINDOW = 60, 6_000, 1.0  # the limiter's; the simulator allows twice as much
TEXTS = 1200
WORKERS = ("f1", "f2", "f3")


def embedded_chunks(database_url: str) -> int:
    try:
        with psycopg.connect(database_url, connect_timeout=2) as conn:
            row = conn.execute(f"SELECT max(embedded_chunks) FROM {EmbeddingJob._meta.db_table}").fetchone()
    except psycopg.Error:  # not migrated yet
        return 0
    return row[0] or 0


def admitted(port: int) -> tuple[float, int, int]:
    """(now, tokens, requests) the simulator has admitted so far."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/stats?per_input=0", timeout=5) as response:
        stats = json.loads(response.read())
    return time.monotonic(), stats["tokens_admitted"], stats["requests_admitted"]


def test_a_sentinel_failover_mid_job_loses_nothing_pays_nothing_twice_and_bounds_the_overshoot(
    tmp_path: Path, own_database: str, procs: hosts.Processes  # the processes stop before their database goes
) -> None:
    cluster = SentinelCluster.start(procs, tmp_path / "redis")
    sim_port = free_port()
    hosts.start_simulator(procs, host=HOST, port=sim_port, rpm=2 * RPM, tpm=2 * TPM, window=WINDOW)
    env = hosts.deploy_env(
        DATABASE_URL=own_database,
        REDIS_URL=cluster.url,
        OPENAI_BASE_URL=f"http://{HOST}:{sim_port}/v1",
        OPENAI_API_KEY="failover-key",
        TOLLGATE_RPM=RPM,
        TOLLGATE_TPM=TPM,
        TOLLGATE_WINDOW_SECONDS=WINDOW,
        TOLLGATE_GROUP_TOKENS=1_000,
        TOLLGATE_STALL_SECONDS=3,
    )
    for name in WORKERS:
        procs.start(name, hosts.worker_argv(name), env=env)
    driver = hosts.Driver.start(env, texts=TEXTS, words=30, timeout=55, log_dir=procs.log_dir)
    recent = deque([admitted(sim_port)], maxlen=100)  # the simulator's totals, 10 a second
    try:
        deadline = time.monotonic() + 45
        while embedded_chunks(own_database) < TEXTS // 3:
            assert time.monotonic() < deadline and driver.process.poll() is None, "the job never got a third done"
            recent.append(admitted(sim_port))
            time.sleep(0.1)
        old = cluster.kill_master()
        killed = admitted(sim_port)
        new = cluster.wait_for_new_master(old, timeout=20)
        outage = time.monotonic() - killed[0]
        report = driver.result()
    finally:
        driver.stop()
    stats = hosts.simulator_stats(HOST, sim_port)

    # What the lost master may have admitted without its replica knowing: at most its last window's.
    before = min((sample for sample in recent if sample[0] >= killed[0] - WINDOW - 0.2), default=recent[0])
    last_tokens, last_requests = killed[1] - before[1], killed[2] - before[2]
    over_tokens = max(0, stats["max_tokens_in_window"] - TPM)
    over_requests = max(0, stats["max_requests_in_window"] - RPM)
    print(
        f"\nsentinel failover: master {old} -> {new} in {outage:.1f} s; max in a window "
        f"{stats['max_tokens_in_window']}/{TPM} tokens, {stats['max_requests_in_window']}/{RPM} requests "
        f"(overshoot {over_tokens} tokens, {over_requests} requests; the lost master's last window held "
        f"{last_tokens} tokens, {last_requests} requests); 429s {stats['rate_limited']}; job {report}"
    )

    assert report["status"] == "completed", report
    assert report["embedded_chunks"] == report["total_chunks"] == report["distinct_chunks"] == TEXTS, report
    assert report["embedding_rows"] == report["inserted_rows"] == TEXTS, report  # no row written twice
    assert report["failed_chunks"] == 0, report
    served = stats["inputs"]["per_input"]
    assert len(served) == TEXTS and set(served.values()) == {1}, stats["inputs"]["most_per_input"]  # paid once each
    assert over_tokens <= last_tokens and over_requests <= last_requests
    assert sum(stats["rate_limited"].values()) == 0, stats["rate_limited"]

    said = "".join(path.read_text(errors="replace") for path in procs.log_dir.glob("*.log"))
    with cluster.node(new) as client:
        keys = b" ".join(client.scan_iter(count=1000)).decode(errors="replace")
    for secret in (cluster.password, cluster.sentinel_password):
        assert secret not in said and secret not in keys
