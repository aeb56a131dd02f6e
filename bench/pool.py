"""A pool of deployments with different limits: how full tollgate keeps it, a deployment killed mid-run,
fair share between two owners, and LiteLLM's Router on the same deployments.

Three simulators stand for three deployments of one model (120 ms of latency each):

- ``east``: 600 RPM and 60,000 TPM per 6 s window (10,000 tokens/s), an OpenAI key;
- ``west``: 300 RPM and 30,000 TPM per 6 s window (5,000 tokens/s), another OpenAI key;
- ``north``: 600 RPM and 300,000 TPM per real 60 s window (5,000 tokens/s), an Azure deployment
  (its own path, ``api-key``, Azure's 429 bodies).

Scenarios (each from empty tables, a flushed Redis and fresh simulator windows):

- ``steady``: ``tollgate run DIR --workers 4 --json`` with ``TOLLGATE_DEPLOYMENTS`` naming the
  three, on documents of ~250 tokens worth ``--minutes`` at the pool's rate. The pool's
  utilization is measured against the sum of the limits (``bench/pool_measure.py``); each
  deployment's from its simulator's ``/stats``: 429s, the most tokens and requests any of its
  windows held, its own utilization.
- ``kill``: the same, with ``west`` killed (SIGKILL) a third of the way in: the job completes,
  nothing is lost or paid twice (counted over every simulator, the dead one's as it stood when
  it could serve nothing more), and the survivors stay full after the kill.
- ``fair``: ``east`` and ``west`` only (one 6 s window: 90,000 tokens); owner alice's backfill of 20
  windows' tokens runs (``tollgate run --owner alice``); once it holds the pool, owner bob's job
  of one window's tokens starts: the windows bob's job takes from start to completion, and the
  pool's utilization over alice's run. ``--fifo`` also runs it with fair share off
  (``TOLLGATE_FAIR_SHARE_WINDOWS=0``), as every release before it.
- ``litellm``: LiteLLM's Router (``usage-based-routing-v2``, in a throwaway virtualenv, four
  processes sharing the run's Redis, two threads each, the same group size) on the same three
  deployments (told their limits per minute, its only unit) and documents: 429s and utilization.

    uv run python bench/pool.py [--scenarios steady,kill,fair,litellm] [--minutes 2.5] [--fifo]

Prints one JSON object on stdout; writes bench/out/pool.json and bench/out/pool.png.
Goals (issue 30): pool utilization >= 0.95 of the sum of the limits with 0 x 429 on every
deployment and no window over its limit; killed: completes, 0 lost, 0 paid twice, survivors
>= 0.95; fair share: bob within 2.5 windows and the pool >= 0.95 full over alice's run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, say  # noqa: E402
from bench.embedded_home import embedded_django, reset_state  # noqa: E402
from bench.fresh import corpus_for  # noqa: E402
from bench.pool_measure import deployment_utilization, pool_utilization  # noqa: E402
from bench.shapes_measure import window_fill  # noqa: E402

OUT = ROOT / "bench" / "out"
LATENCY_MS = 120
WORKERS = 4
DOCUMENT_TOKENS = 250
FAIR_WINDOWS, FAIR_SMALL = 20, 1  # alice's backfill and bob's job, in windows of the pool's tokens
GOAL_UTILIZATION, GOAL_FAIR_WINDOWS = 0.95, 2.5
RUN_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Deployment:
    name: str
    rpm: int
    tpm: int
    window: float
    azure: bool = False

    @property
    def rate(self) -> float:
        return self.tpm / self.window


POOL = (
    Deployment("east", 600, 60_000, 6.0),
    Deployment("west", 300, 30_000, 6.0),
    Deployment("north", 600, 300_000, 60.0, azure=True),
)
REFERENCE_WINDOW = 6.0  # TOLLGATE_WINDOW_SECONDS: the pool's sum is read per this window


class Fleet:
    """The simulators of a scenario, the pool file naming them, and the environment a ``tollgate run`` gets."""

    def __init__(self, deployments: tuple[Deployment, ...], home: Path, database_url: str, redis_url: str, tag: str):
        from project.launch import simulator_args, start_simulator

        self.deployments = {d.name: d for d in deployments}
        self.sims, self.keys, self.dead = {}, {}, {}
        for d in deployments:
            args = [*simulator_args(rpm=d.rpm, tpm=d.tpm, window_seconds=d.window), "--latency-ms", str(LATENCY_MS)]
            self.sims[d.name] = start_simulator(*args).__enter__()
            self.keys[d.name] = f"sk-bench-{tag}-{d.name}"
        tables = []
        for d in deployments:
            sim = self.sims[d.name]
            azure = f'kind = "azure"\ndeployment = "{d.name}"\napi_version = "2024-10-21"\n' if d.azure else ""
            tables.append(
                f'[[deployments]]\nname = "{d.name}"\nbase_url = "{sim.root_url if d.azure else sim.base_url}"\n'
                f'api_key_env = "BENCH_KEY_{d.name.upper()}"\n{azure}model = "text-embedding-3-small"\n'
                f"rpm = {d.rpm}\ntpm = {d.tpm}\nwindow_seconds = {d.window}\n"
            )
        self.pool_file = home / f"pool-{tag}.toml"
        self.pool_file.write_text("\n".join(tables))
        self.env = {
            **os.environ, "TOLLGATE_HOME": str(home), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "TOLLGATE_DEPLOYMENTS": str(self.pool_file), "TOLLGATE_WINDOW_SECONDS": str(REFERENCE_WINDOW),
            "TOLLGATE_CHUNK_SIZE": "512", "TOLLGATE_CHUNK_OVERLAP": "0",
            **{f"BENCH_KEY_{name.upper()}": key for name, key in self.keys.items()},
        }  # fmt: skip
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TOLLGATE_RPM", "TOLLGATE_TPM", "TOLLGATE_MODEL"):
            self.env.pop(name, None)

    def reset(self) -> float:
        for sim in self.sims.values():
            sim.reset_limits()
            sim.reset_stats()
        return time.monotonic()

    def kill(self, name: str) -> None:
        """Die mid-run: from now it serves nothing (what it was sending finishes), then SIGKILL with requests in flight."""
        sim = self.sims[name]
        sim.configure(latency_ms=600_000)
        time.sleep(1.0)
        self.dead[name] = sim.stats(admissions=True)
        os.kill(sim.process.pid, signal.SIGKILL)
        sim.process.wait(10)

    def stats(self) -> dict[str, dict]:
        return {name: self.dead.get(name) or sim.stats(admissions=True) for name, sim in self.sims.items()}

    def close(self) -> None:
        for name, sim in self.sims.items():
            if name not in self.dead:
                sim.stop()


def tollgate_run(corpus: Path, env: dict, *, owner: str | None = None) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "tollgate"), "run", str(corpus), "--workers", str(WORKERS), "--json"]
    if owner:
        command += ["--owner", owner]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    line = next((text for text in reversed(out.strip().splitlines()) if text.startswith("{")), None)
    summary = json.loads(line) if line else {}
    if process.returncode != 0 or not summary:
        summary["error"] = (err or out).strip().splitlines()[-3:]
    return summary


def measured(fleet: Fleet, stats: dict[str, dict], *, since: float | None = None, skip: tuple[str, ...] = ()) -> dict:
    """Each deployment's figures and the pool's utilization against the sum of the limits."""
    per = {}
    for name, st in stats.items():
        d = fleet.deployments[name]
        per[name] = {
            "rpm": d.rpm, "tpm": d.tpm, "window_seconds": d.window, "azure": d.azure,
            "utilization": deployment_utilization(st.get("admissions", []), window=d.window, tpm=d.tpm),
            "http_429": st["rate_limited"]["requests"] + st["rate_limited"]["tokens"],
            "max_tokens_in_window": st["max_tokens_in_window"], "max_requests_in_window": st["max_requests_in_window"],
            "limits_held": st["max_tokens_in_window"] <= d.tpm and st["max_requests_in_window"] <= d.rpm,
            "tokens_admitted": st["tokens_admitted"], "requests": st["requests"], "errors": st["errors"],
        }  # fmt: skip
        if since is not None and name not in skip:
            per[name]["utilization_after_kill"] = deployment_utilization(
                st.get("admissions", []), window=d.window, tpm=d.tpm, since=since
            )
    live = {name: st.get("admissions", []) for name, st in stats.items() if name not in skip}
    limits = {name: (fleet.deployments[name].tpm, fleet.deployments[name].window) for name in live}
    return {
        "deployments": per,
        "pool_utilization": pool_utilization(
            {name: st.get("admissions", []) for name, st in stats.items()},
            {name: (d.tpm, d.window) for name, d in fleet.deployments.items()},
        ),
        "survivors_utilization": pool_utilization(live, limits, since=since) if since is not None else None,
    }


def paid_twice(stats: dict[str, dict]) -> tuple[int, int]:
    """(inputs served more than once over every simulator, distinct inputs served)."""
    served: Counter[str] = Counter()
    for st in stats.values():
        served.update(st["inputs"]["per_input"])
    return sum(1 for n in served.values() if n > 1), len(served)


def pool_run(home, database_url, redis_url, corpus: Path, *, tag: str, kill_after: float | None = None) -> dict:
    """``steady`` (or ``kill``): one ``tollgate run`` over the three deployments."""
    reset_state(redis_url)
    fleet = Fleet(POOL, home, database_url, redis_url, tag)
    try:
        reset_at = fleet.reset()
        process = tollgate_run(corpus, fleet.env)
        killed_at = None
        if kill_after is not None:
            first = _first_admission(fleet, reset_at)
            time.sleep(max(0.0, first + kill_after - time.monotonic()))
            killed_at = time.monotonic() - reset_at
            say(f"  killing west at {killed_at:.1f} s")
            fleet.kill("west")
        summary = finish(process)
        stats = fleet.stats()
    finally:
        fleet.close()
    twice, distinct = paid_twice(stats)
    result = {
        **measured(fleet, stats, since=killed_at, skip=("west",) if killed_at is not None else ()),
        "status": summary.get("status"), "chunks": summary.get("chunks"), "embedded": summary.get("embedded"),
        "reused": summary.get("reused_chunks"), "failed": summary.get("failed"),
        "lost": (summary.get("chunks") or 0) - (summary.get("embedded") or 0) - (summary.get("failed") or 0),
        "paid_twice": twice, "inputs_served": distinct, "killed_at_seconds": killed_at,
        "fills": {name: _fill(st, fleet.deployments[name]) for name, st in stats.items()},
    }  # fmt: skip
    if "error" in summary:
        result["error"] = summary["error"]
    return result


def _first_admission(fleet: Fleet, reset_at: float, timeout: float = 300.0) -> float:
    while time.monotonic() - reset_at < timeout:
        if any(sim.stats(per_input=False)["requests"] for sim in fleet.sims.values()):
            return time.monotonic()
        time.sleep(0.2)
    raise RuntimeError("no request reached the pool")


def _fill(stats: dict, d: Deployment) -> list[list[float]]:
    """(seconds, window fill / TPM) every second: the plot's line."""
    admissions = stats.get("admissions", [])
    if not admissions:
        return []
    base = admissions[0][0]
    return [[round(t + base, 1), round(tokens / d.tpm, 3)] for t, tokens in window_fill(admissions, window=d.window, step=1.0)]


def fair_run(home, database_url, redis_url, cache: Path, *, fifo: bool) -> dict:
    """alice's backfill, then bob's window of tokens, on east and west (6 s windows)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from project.embeddings.ingest.documents import TextInput, document_ingest
    from project.embeddings.jobs.lifecycle import job_create, job_start
    from project.embeddings.models import EmbeddingJob
    from project.pool_file import pool_settings, read_deployments

    reset_state(redis_url)
    deployments = POOL[:2]
    window_tokens = round(sum(d.rate for d in deployments) * REFERENCE_WINDOW)
    fleet = Fleet(deployments, home, database_url, redis_url, "fair-fifo" if fifo else "fair")
    if fifo:
        fleet.env["TOLLGATE_FAIR_SHARE_WINDOWS"] = "0"
    try:
        os.environ.update({f"BENCH_KEY_{n.upper()}": k for n, k in fleet.keys.items()})
        specs = read_deployments(fleet.pool_file, environ=os.environ, dimensions=1536, window_seconds=REFERENCE_WINDOW)
        settings.TOLLGATE_POOL = specs
        settings.TOLLGATE_MODEL, settings.TOLLGATE_DIMENSIONS, settings.TOLLGATE_RPM, settings.TOLLGATE_TPM = (
            pool_settings(specs, model="", window_seconds=REFERENCE_WINDOW)
        )
        settings.TOLLGATE_WINDOW_SECONDS = REFERENCE_WINDOW
        backfill = corpus_for(DOCUMENT_TOKENS, FAIR_WINDOWS * window_tokens, cache)
        small = corpus_for(DOCUMENT_TOKENS - 7, FAIR_SMALL * window_tokens, cache)  # other texts than alice's
        for owner in ("alice", "bob"):  # a fresh install has neither
            get_user_model().objects.get_or_create(username=owner)
        bob = get_user_model().objects.get(username="bob")
        texts = [TextInput(path.read_text(), source=path.name) for path in sorted(small.glob("*.txt"))]
        documents = document_ingest(texts=texts, owner=bob, collection=f"bob-{time.time()}").documents
        reset_at = fleet.reset()
        alice_run = tollgate_run(backfill, fleet.env, owner="alice")
        alice_job = _wait_for_job("alice", lambda job: job.embedded_tokens >= 2 * window_tokens, alice_run)
        job = job_create(documents=documents, owner=bob)
        job_start(job=job)
        bob_started = time.monotonic()
        while EmbeddingJob.objects.get(pk=job.pk).status not in ("completed", "failed", "paused", "cancelled"):
            time.sleep(0.1)
        bob_seconds = time.monotonic() - bob_started
        bob_job = EmbeddingJob.objects.get(pk=job.pk)
        at_bob_end = EmbeddingJob.objects.get(pk=alice_job.pk)
        summary = finish(alice_run)
        stats = fleet.stats()
    finally:
        fleet.close()
    result = {
        "fair_share": not fifo, "window_seconds": REFERENCE_WINDOW, "window_tokens": window_tokens,
        "bob": {"tokens": bob_job.total_tokens, "status": bob_job.status, "seconds": round(bob_seconds, 2),
                "windows": round(bob_seconds / REFERENCE_WINDOW, 2), "started_at_seconds": round(bob_started - reset_at, 1)},
        "alice": {"tokens": summary.get("tokens") or at_bob_end.total_tokens, "status": summary.get("status"),
                  "embedded_tokens_while_bob_ran": at_bob_end.embedded_tokens - alice_job.embedded_tokens,
                  "lost": (summary.get("chunks") or 0) - (summary.get("embedded") or 0) - (summary.get("failed") or 0)},
        **measured(fleet, stats),
    }  # fmt: skip
    if "error" in summary:
        result["error"] = summary["error"]
    return result


def _wait_for_job(owner: str, ready, run: subprocess.Popen, timeout: float = 600.0):
    from django.db import connection

    from project.embeddings.models import EmbeddingJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if run.poll() is not None:
            raise RuntimeError(f"{owner}'s run ended first: {finish(run).get('error')}")
        job = EmbeddingJob.objects.filter(owner__username=owner).order_by("-pk").first()
        if job is not None and ready(job):
            return job
        connection.close()
        time.sleep(0.2)
    raise RuntimeError(f"{owner}'s job did not get going")


def litellm_run(home, database_url, redis_url, corpus: Path) -> dict:
    """LiteLLM's Router on the same deployments and documents: four processes sharing the run's Redis."""
    from bench.peer_litellm.run import PeerDeployment, run_litellm

    reset_state(redis_url)
    fleet = Fleet(POOL, home, database_url, redis_url, "litellm")
    try:
        peers = [
            PeerDeployment(d.name, fleet.sims[d.name].root_url if d.azure else fleet.sims[d.name].base_url,
                           fleet.keys[d.name], rpm=round(d.rpm * 60 / d.window), tpm=round(d.tpm * 60 / d.window),
                           azure=d.azure)  # fmt: skip
            for d in POOL
        ]
        texts = [path.read_text() for path in sorted(corpus.glob("*.txt"))]
        fleet.reset()
        report = run_litellm(
            deployments=peers, redis_url=redis_url, texts=texts, processes=WORKERS, concurrency=2,
            group_inputs=max(1, _pool_group_tokens() // DOCUMENT_TOKENS),
        )  # fmt: skip
        stats = fleet.stats()
    finally:
        fleet.close()
    return {**report, **measured(fleet, stats), "fills": {n: _fill(st, fleet.deployments[n]) for n, st in stats.items()}}


def _pool_group_tokens() -> int:
    """What tollgate's planner makes a long job's group on this pool (providers/planning.py: a quarter second of
    the pool's rate, at most half the smallest deployment's window): the same request size for LiteLLM."""
    rate = sum(d.rate for d in POOL)
    return min(max(round(0.25 * rate), 1), min(d.tpm for d in POOL) // 2)


def goals(result: dict) -> dict:
    out = {}
    steady = result.get("steady")
    if steady:
        per = steady["deployments"].values()
        out["steady"] = {
            "met": (steady["pool_utilization"] or 0) >= GOAL_UTILIZATION
            and all(d["http_429"] == 0 and d["limits_held"] for d in per) and steady["lost"] == 0 and steady["paid_twice"] == 0,
            "pool_utilization": steady["pool_utilization"], "http_429": {n: d["http_429"] for n, d in steady["deployments"].items()},
        }  # fmt: skip
    kill = result.get("kill")
    if kill:
        out["kill"] = {
            "met": kill["status"] == "completed" and kill["lost"] == 0 and kill["paid_twice"] == 0
            and (kill["survivors_utilization"] or 0) >= GOAL_UTILIZATION,
            "survivors_utilization": kill["survivors_utilization"], "lost": kill["lost"], "paid_twice": kill["paid_twice"],
        }  # fmt: skip
    fair = result.get("fair")
    if fair:
        out["fair"] = {
            "met": fair["bob"]["windows"] <= GOAL_FAIR_WINDOWS and (fair["pool_utilization"] or 0) >= GOAL_UTILIZATION,
            "bob_windows": fair["bob"]["windows"], "pool_utilization": fair["pool_utilization"],
            "bob_windows_first_come_first_served": (result.get("fair_fifo") or {}).get("bob", {}).get("windows"),
        }  # fmt: skip
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(key, title) for key, title in (
        ("steady", "tollgate: each deployment's window fill"), ("litellm", "LiteLLM Router (4 processes, Redis)"),
        ("kill", "tollgate, west killed mid-run"),
    ) if result.get(key)]  # fmt: skip
    fig, axes = plt.subplots(1, len(panels) + (1 if result.get("fair") else 0), figsize=(4.6 * (len(panels) + 1), 3.6),
                             squeeze=False)  # fmt: skip
    for ax, (key, title) in zip(axes[0], panels):
        run = result[key]
        for name, fill in run["fills"].items():
            if fill:
                ax.plot([t for t, _ in fill], [f for _, f in fill], label=f"{name} ({run['deployments'][name]['http_429']} x 429)")
        if run.get("killed_at_seconds"):
            ax.axvline(run["killed_at_seconds"], color="black", linestyle=":", label="west killed")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_ylim(0, 1.6)
        ax.set_title(f"{title}\npool utilization {run['pool_utilization']}", fontsize=9)
        ax.set_xlabel("seconds")
        ax.set_ylabel("window fill / limit")
        ax.legend(fontsize=7)
    if result.get("fair"):
        ax = axes[0][-1]
        bars = [("fair share", result["fair"]["bob"]["windows"])]
        if result.get("fair_fifo"):
            bars.append(("first come,\nfirst served", result["fair_fifo"]["bob"]["windows"]))
        ax.bar([b for b, _ in bars], [v for _, v in bars], color=["tab:green", "tab:red"][: len(bars)])
        ax.axhline(GOAL_FAIR_WINDOWS, color="black", linestyle=":", label=f"goal {GOAL_FAIR_WINDOWS} windows")
        ax.set_title("bob's window of tokens behind alice's\n20-window backfill: windows to complete", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="steady,kill,fair,litellm")
    parser.add_argument("--minutes", type=float, default=2.5, help="the steady, kill and LiteLLM jobs' length at the pool's rate")
    parser.add_argument("--fifo", action="store_true", help="also the fair-share scenario with fair share off")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"bench": "pool", "latency_ms": LATENCY_MS, "workers": WORKERS,
                    "deployments": [vars(d) for d in POOL], "minutes": args.minutes}  # fmt: skip
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tollgate-pool-corpora-") as cache, \
            embedded_django("tollgate-pool-bench-") as home:  # fmt: skip
        from django.db import connection

        from project import embedded

        urls = embedded.urls(home)
        tokens = round(sum(d.rate for d in POOL) * args.minutes * 60)
        corpus = corpus_for(DOCUMENT_TOKENS, tokens, Path(cache)) if {"steady", "kill", "litellm"} & set(scenarios) else None
        for scenario in scenarios:
            say(f"{scenario} …")
            if scenario in ("steady", "kill"):
                run = pool_run(home, urls.database_url, urls.redis_url, corpus, tag=scenario,
                               kill_after=args.minutes * 60 / 3 if scenario == "kill" else None)  # fmt: skip
            elif scenario == "fair":
                run = fair_run(home, urls.database_url, urls.redis_url, Path(cache), fifo=False)
                if args.fifo:
                    say("fair, first come first served …")
                    result["fair_fifo"] = fair_run(home, urls.database_url, urls.redis_url, Path(cache), fifo=True)
            elif scenario == "litellm":
                run = litellm_run(home, urls.database_url, urls.redis_url, corpus)
            else:
                raise SystemExit(f"unknown scenario {scenario!r}")
            result[scenario] = run
            (args.out / "pool.json").write_text(json.dumps(result, indent=2))  # what a later scenario cannot lose
            brief = {k: v for k, v in run.items() if k in ("pool_utilization", "survivors_utilization", "status", "lost",
                                                            "paid_twice", "bob", "answered", "errors", "error")}  # fmt: skip
            brief["http_429"] = {n: d["http_429"] for n, d in run["deployments"].items()}
            say(f"  {json.dumps(brief)}")
            connection.close()
    result["goals"] = goals(result)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["machine"] = {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()}
    (args.out / "pool.json").write_text(json.dumps(result, indent=2))
    plot(result, args.out / "pool.png")
    print(json.dumps({k: v for k, v in result.items() if k not in ("steady", "kill", "litellm")} | {
        key: {k: v for k, v in result[key].items() if k != "fills"} for key in ("steady", "kill", "litellm") if key in result
    }))  # fmt: skip


if __name__ == "__main__":
    main()
