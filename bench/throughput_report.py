"""The throughput bench's report: the goals judged, the JSON, the table on stderr and the two PNGs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.common import ROOT, say
from bench.throughput_common import GOAL, RPM, SEARCHABLE_GOAL, TPM


def report(bench, *, corpus, cost, groups, comparison, sweep, short, short_scaled, ceiling, seconds) -> dict:
    """Everything the run measured, with the goals judged on the first configuration (tollgate at W)."""
    main = comparison[0]
    goals = {
        "steady_utilization_at_least_0_95": main["steady_utilization"] is not None
        and main["steady_utilization"] >= GOAL,
        "http_429_is_0": main["http_429"] == 0,
        "lost_is_0": main["lost"] == 0,
        "duplicates_is_0": main["duplicates"] == 0,
        "limits_held": main["limits_held"],
        "chunks_at_least_20000": corpus["chunks"] >= 20_000,
        "searchable_within_1_2_of_tokens_over_rate": main["searchable_seconds"] is not None
        and main["searchable_seconds"] <= SEARCHABLE_GOAL * main["job_tokens"] / (TPM / bench.window),
    }
    table = [
        {key: run[key] for key in ("name", "workers", "wall_seconds", "steady_utilization", "overall_utilization",
                                   "http_429", "lost", "duplicates", "max_tokens_in_window")}
        for run in comparison
    ]  # fmt: skip
    result = {
        "bench": "throughput",
        "command": "uv run python bench/throughput.py " + " ".join(sys.argv[1:]),
        "code": _git_state(),
        "limits": {"rpm": RPM, "tpm": TPM, "tier": 1, "time_scale": bench.args.time_scale,
                   "window_seconds": bench.window, "safety_seconds": bench.settings.TOLLGATE_SAFETY_SECONDS,
                   "burst": bench.settings.TOLLGATE_BURST, "bulk_reserve": bench.settings.TOLLGATE_BULK_RESERVE,
                   "simulator_latency_ms": bench.args.latency_ms, "simulator_vectors": bench.args.vectors},
        "model": bench.model,
        "dimensions": bench.dimensions,
        "corpus": {k: v for k, v in corpus.items() if k != "document_ids"},
        "groups": {"count": len(groups), "mean_chunks": round(sum(map(len, groups)) / max(len(groups), 1), 1)},
        "insert_cost": cost,
        "utilization_definition": "steady: mean tokens over every whole window starting >= 1 window after the "
        "first admission and ending by the last admission's second (simulator timeline), / TPM; overall: "
        "tokens admitted / (wall seconds / window * TPM)",
        "goals": goals,
        "table": table,
        "comparison": comparison,
        "sweep": {
            "chunks_per_point": next((p["chunks"] for p in sweep if "chunks" in p), 0),
            "note": "the sweep embeds a slice of the corpus per point (fewer chunks than the comparison); "
            "W >= 16 run with --concurrency 1, smaller W with the default concurrency",
            "points": sweep,
        },
        "bench_seconds": round(seconds, 1),
    }  # fmt: skip
    result |= {"short_job": short, "short_job_scaled": short_scaled, "ceiling": ceiling}
    result["goals"] |= _limit_goals(short, ceiling)
    return result


def write(bench, report: dict, comparison: list[dict], sweep: list[dict]) -> None:
    """bench/out/throughput.json and the PNGs; the table on stderr, the JSON without timelines on stdout."""
    from bench.throughput_plots import timeline_png, workers_png

    out = bench.args.out
    out.mkdir(parents=True, exist_ok=True)
    timelines = {
        f"{run['name']}: steady utilization {run['steady_utilization']}, 429s {run['http_429']}":
        [{"second": s, "tokens": t} for s, t in run["timeline"]]
        for run in comparison
    }  # fmt: skip
    timeline_png(out / "throughput_timeline.png", timelines, window_seconds=bench.window, tpm=TPM)
    measured = [point for point in sweep if "error" not in point]
    if measured:
        workers_png(out / "throughput_vs_workers.png", measured, tpm=TPM, window_seconds=bench.window, goal=GOAL)
    (out / "throughput.json").write_text(json.dumps(report, indent=2) + "\n")
    say("")
    say(f"{'configuration':32} {'W':>3} {'wall s':>8} {'steady util':>11} {'overall util':>12} {'429s':>6} "
        f"{'lost':>6} {'dups':>5} {'max tokens/window':>18}")  # fmt: skip
    for row in report["table"]:
        say(f"{row['name']:32} {row['workers']:>3} {row['wall_seconds']:>8} {str(row['steady_utilization']):>11} "
            f"{row['overall_utilization']:>12} {row['http_429']:>6} {row['lost']:>6} {row['duplicates']:>5} "
            f"{row['max_tokens_in_window']:>18,}")  # fmt: skip
    for point in sweep:
        if "error" in point:
            say(f"sweep W={point['workers']:>2}: {point['error']}")
            continue
        say(f"sweep W={point['workers']:>2}: steady {point['steady_utilization']}, overall "
            f"{point['overall_utilization']}, 429s {point['http_429']}, lost {point['lost']}, "
            f"wall {point['wall_seconds']} s, boot {point['boot_seconds']} s")  # fmt: skip
    say(f"goals: {report['goals']}")
    compact = {**report, "comparison": [brief(r) for r in comparison],
               "sweep": {**report["sweep"], "points": [brief(r) for r in sweep]}}  # fmt: skip
    print(json.dumps(compact, indent=2))


def brief(run: dict) -> dict:
    """A run without its per-second timeline (kept in the file, too long for the terminal)."""
    return {k: v for k, v in run.items() if k != "timeline"}


def _limit_goals(short: dict | None, ceiling: dict | None) -> dict:
    goals = {}
    if short is not None:
        ratio = short["wall_over_ideal"]
        goals["short_job_wall_at_most_1_15_ideal"] = ratio is not None and ratio <= short["goal"]
    if ceiling is not None:
        goals["ceiling_at_least_0_6_of_physical"] = ceiling["of_physical"] >= ceiling["goal"]
    return goals


def _git_state() -> dict:
    """The commit the bench ran on, and the files changed since (the product is what these say)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD") or os.environ.get("THROUGHPUT_COMMIT", "")  # a `git archive` copy has no .git
    return {"root": str(ROOT), "commit": commit, "changed": git("status", "--short").splitlines()}
