"""Scale-out rehearsal: worker hosts (network namespaces) share one limit kept on a services host.

One namespace runs PostgreSQL, Redis and the simulator; three others run Celery workers, one of
them with its clock five minutes fast (libfaketime). The limiter reads Redis's clock, so the
fast host must keep to the same window; the simulator, the provider's side, judges.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.deploy import hosts
from tests.deploy.netns import ROOT_IP, SERVICES_IP, SUBNET, Network, unavailable

RPM, TPM, WINDOW = 60, 6_000, 1.0  # per one-second window: the simulator runs a minute in a second
PG_PORT, REDIS_PORT, SIM_PORT = 5432, 6379, 8000
WORKERS = ("w1", "w2", "w3")
SHIFTED = "w3"
SHIFT = 300.0  # seconds: faketime -f "+5m"


@pytest.fixture
def network() -> Network:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    if shutil.which("faketime") is None:
        pytest.skip("faketime (Debian package faketime) is not installed; CI's .ci/run installs it")
    with Network.build(WORKERS) as net:
        yield net


def test_three_worker_hosts_one_with_a_fast_clock_keep_one_limit(network: Network, procs: hosts.Processes,
                                                                 tmp_path: Path) -> None:  # fmt: skip
    with ExitStack() as stack:
        in_svc = lambda argv: network.command("svc", argv)  # noqa: E731
        pg_dir = Path(tempfile.mkdtemp(prefix="tollgate-deploy-pg-")) / "data"  # reachable by the PostgreSQL system user
        stack.callback(shutil.rmtree, pg_dir.parent, ignore_errors=True)
        hosts.init_postgres(pg_dir, trusted_subnet=f"{SUBNET}.0/24")
        hosts.start_postgres(procs, pg_dir, host=SERVICES_IP, port=PG_PORT, wrap=in_svc)
        hosts.start_redis(procs, tmp_path / "redis", host=SERVICES_IP, port=REDIS_PORT, wrap=in_svc)
        hosts.start_simulator(procs, host=SERVICES_IP, port=SIM_PORT, rpm=RPM, tpm=TPM, window=WINDOW, wrap=in_svc)

        redis_url = f"redis://{SERVICES_IP}:{REDIS_PORT}/0"
        env = hosts.deploy_env(
            DATABASE_URL=f"postgres://postgres@{SERVICES_IP}:{PG_PORT}/{hosts.DATABASE}",
            REDIS_URL=redis_url,
            OPENAI_BASE_URL=f"http://{SERVICES_IP}:{SIM_PORT}/v1",
            OPENAI_API_KEY="deploy-key",
            TOLLGATE_RPM=RPM, TOLLGATE_TPM=TPM, TOLLGATE_WINDOW_SECONDS=WINDOW,
            TOLLGATE_GROUP_TOKENS=1_000, TOLLGATE_STALL_SECONDS=4,
        )  # fmt: skip
        for name in WORKERS:
            argv = hosts.worker_argv(name)
            if name == SHIFTED:
                argv = ["faketime", "-f", "+5m", *argv]
            procs.start(name, network.command(name, argv), env=env)
        control = hosts.control_app(redis_url)
        stack.callback(control.close)
        hosts.wait_for_workers(control, WORKERS)
        clocks = hosts.worker_clocks(control, WORKERS)

        report = hosts.Driver.start(env, texts=1200, words=30, timeout=50, log_dir=procs.log_dir).result()
        stats = hosts.simulator_stats(SERVICES_IP, SIM_PORT)

    by_host = {name: report["inserted_by_client"].get(address, 0) for name, address in network.hosts.items()}
    print(f"\nscale-out: clocks {clocks}; chunks per host {by_host}; max tokens in a window "
          f"{stats['max_tokens_in_window']}/{TPM}, max requests {stats['max_requests_in_window']}/{RPM}, "
          f"429s {stats['rate_limited']}; job {report}")  # fmt: skip
    assert abs(clocks[SHIFTED] - SHIFT) < 5, clocks  # the fast host really runs five minutes ahead
    assert all(abs(clocks[name]) < 5 for name in WORKERS if name != SHIFTED), clocks
    assert report["status"] == "completed", report
    assert report["embedded_chunks"] == report["total_chunks"] == report["distinct_chunks"] == 1200
    assert report["embedding_rows"] == report["inserted_rows"] == 1200  # nothing written twice
    assert ROOT_IP not in report["inserted_by_client"]  # only the worker hosts embed
    assert all(by_host[name] > 0 for name in WORKERS), by_host  # the fast host took its share too
    assert stats["max_tokens_in_window"] <= TPM and stats["max_requests_in_window"] <= RPM, stats
    assert sum(stats["rate_limited"].values()) == 0, stats["rate_limited"]
    # Retries are timed on Redis's clock: the others never hold the fast host's retries for five
    # minutes, so tasks are not stranded waiting for a sweep (with host clocks: 3 sweeps, 25 s).
    assert report["sweeps"] <= 1, report
