"""Throughput on every workload shape users have, as the provider sees it: chunk size × limits × workers × job length.

Each cell is what a user runs, ``tollgate run DIR --workers W --json``, on a corpus of
documents of one size (``bench/shapes_corpus.py``: real English, ~50, ~250, ~1,000 or ~8,000
tokens each, one chunk each), at the model's own 1,536 dimensions, against the simulator with
120 ms of latency at one of these limits:

- ``tier1``: Tier 1 in real time, 3,000 RPM and 1,000,000 TPM per 60 s window (16,667 tokens/s);
- ``scaled``: 120 RPM and 150,000 TPM per 6 s window (25,000 tokens/s): a rate per second like a
  large account's, in a window ten times shorter, so the pool must work to fill it;

and two job lengths: **short**, just under two windows' tokens (``SHORT_FILL``: the largest job
sent unpaced, the first window at once),
and **long**, twenty windows' (paced). A long job at the real 60 s window takes 20 minutes a
cell, so it runs only with ``--long-tier1``. Every cell starts from empty tables and a fresh
simulator; its figures come from the simulator's own ``/stats`` (``bench/shapes_measure.py``
says how utilization is read), the database (chunks left without a vector: lost) and the
simulator's count of each distinct input it served (paid twice: any counted more than once).
Beside each cell, the machine's CPU busy share over the job's busy span, and the best this
machine allows it: each shape's ceiling is measured first in the same run (the same pipeline
against a simulator with no limit and no latency: tokens a second from the job's first batch to
its last vector stored), and a cell whose limit asks for more than that is marked so.

    uv run python bench/shapes.py [--sizes 50,250,1000,8000] [--workers 1,2,4,8,16]
                                  [--limits tier1,scaled] [--lengths short,long] [--peer]

``--peer`` also runs pgai's vectorizer worker (``bench/peer_pgai.py``, in a throwaway
virtualenv) on the short documents at the scaled limits, beside tollgate's cell of the same
shape. Prints one JSON object on stdout; writes bench/out/shapes.json and
bench/out/shapes_heatmap.png.

Goals (issue 26): every cell with W ≥ 2 at utilization ≥ 0.95 with 0 × 429, 0 lost and 0 paid
twice; W = 8 at least as full as W = 4 on every shape; the short documents at the scaled
limits ahead of pgai.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from bench.common import ROOT, say  # noqa: E402
from bench.embedded_home import embedded_django, reset_state  # noqa: E402
from bench.fresh import corpus_for  # noqa: E402
from bench.shapes_measure import busy_span, long_utilization, short_utilization, window_fill  # noqa: E402

OUT = ROOT / "bench" / "out"
LATENCY_MS = 120
SHORT_WINDOWS, LONG_WINDOWS = 2, 20
SHORT_FILL = 0.95  # a short job just under two windows' tokens (groups leave part of a window unfilled)
GOAL_UTILIZATION = 0.95
CELL_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Limits:
    name: str
    rpm: int
    tpm: int
    window: float

    @property
    def per_second(self) -> float:
        return self.tpm / self.window


LIMITS = {
    "tier1": Limits("tier1", 3_000, 1_000_000, 60.0),
    "scaled": Limits("scaled", 120, 150_000, 6.0),
}


class CpuTrace:
    """The machine's CPU times every half second, to read its busy share over any span afterwards."""

    def __init__(self) -> None:
        from bench.sampler import Sampler

        self.sampler = Sampler(lambda _: (time.monotonic(), psutil.cpu_times()), period=0.5, at_start=True)

    def __enter__(self) -> CpuTrace:
        self.sampler.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sampler.__exit__(*exc_info)

    def busy_share(self, start: float, end: float) -> float | None:
        """Share of both cores busy between two monotonic times (the nearest samples inside)."""
        inside = [(t, c) for t, c in self.sampler.samples if start <= t <= end]
        if len(inside) < 2:
            return None
        (_, first), (_, last) = inside[0], inside[-1]
        idle = (last.idle + last.iowait) - (first.idle + first.iowait)
        total = sum(last) - sum(first)
        return round(1 - idle / total, 3) if total > 0 else None


def run_cell(*, home: Path, redis_url: str, database_url: str, limits: Limits, size: int, workers: int,
             length: str, corpus: Path, latency_ms: int = LATENCY_MS) -> dict:  # fmt: skip
    """One ``tollgate run`` against a fresh simulator; the provider's, the database's and the machine's figures."""
    from project.launch import simulator_args, start_simulator

    reset_state(redis_url)
    chunk_size = max(512, size + size // 4)
    with start_simulator(*simulator_args(rpm=limits.rpm, tpm=limits.tpm, window_seconds=limits.window),
                         "--latency-ms", str(latency_ms)) as sim:  # fmt: skip
        env = {
            **os.environ,
            "TOLLGATE_HOME": str(home), "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "OPENAI_BASE_URL": sim.base_url, "OPENAI_API_KEY": "sk-bench-shapes",
            "TOLLGATE_RPM": str(limits.rpm), "TOLLGATE_TPM": str(limits.tpm),
            "TOLLGATE_WINDOW_SECONDS": str(limits.window),
            "TOLLGATE_CHUNK_SIZE": str(min(chunk_size, 8191)), "TOLLGATE_CHUNK_OVERLAP": "0",
        }  # fmt: skip
        command = [str(Path(sys.executable).parent / "tollgate"), "run", str(corpus), "--workers", str(workers), "--json"]
        sim.reset_stats()
        reset_at = time.monotonic()
        with CpuTrace() as cpu:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=CELL_TIMEOUT)
        stats = sim.stats(admissions=True)
    summary = _last_json(done.stdout)
    admissions = stats.get("admissions", [])
    utilization = (short_utilization if length == "short" else long_utilization)(
        admissions, window=limits.window, tpm=limits.tpm
    )
    per_input = stats["inputs"]["per_input"]
    first = reset_at + admissions[0][0] if admissions else reset_at
    cell = {
        "limits": limits.name, "size": size, "workers": workers, "length": length,
        "utilization": utilization,
        "http_429": stats["rate_limited"]["requests"] + stats["rate_limited"]["tokens"],
        "max_tokens_in_window": stats["max_tokens_in_window"], "max_requests_in_window": stats["max_requests_in_window"],
        "limits_held": stats["max_tokens_in_window"] <= limits.tpm and stats["max_requests_in_window"] <= limits.rpm,
        "tokens_admitted": stats["tokens_admitted"], "requests": stats["requests"],
        "busy_seconds": round(busy_span(admissions), 2),
        "cpu_busy_share": cpu.busy_share(first, first + busy_span(admissions)),
        "paid_twice": sum(1 for times in per_input.values() if times > 1),
        "inputs_served": len(per_input),
        "lost": (summary or {}).get("chunks", 0) - (summary or {}).get("embedded", 0) - (summary or {}).get("failed", 0),
        "failed": (summary or {}).get("failed"), "status": (summary or {}).get("status"),
        "exit_code": done.returncode,
        # the provider's window fill every half second (thousands of tokens): where a cell lost its share
        "fill_k": [round(tokens / 1000) for _, tokens in window_fill(admissions, window=limits.window, step=0.5)],
        "admission_times": [round(at - admissions[0][0], 3) for at, _ in admissions][:400],
    }  # fmt: skip
    if done.returncode != 0 or summary is None:
        cell["error"] = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return cell


def ceiling(*, home: Path, redis_url: str, database_url: str, size: int, corpus: Path, workers: int) -> dict:
    """The machine's own limit for this shape: the pipeline against a simulator with no limit and no latency.

    The same ``tollgate run`` (W workers), limits far above what it can reach: its tokens per
    second over its busy span is what this machine can do with documents of this size.
    """
    from project.embeddings.models import EmbeddingJob

    unlimited = Limits("unlimited", 10_000_000, 1_000_000_000, 60.0)
    cell = run_cell(home=home, redis_url=redis_url, database_url=database_url, limits=unlimited, size=size,
                    workers=workers, length="long", corpus=corpus, latency_ms=0)  # fmt: skip
    job = EmbeddingJob.objects.get()
    span = (job.finished_at - job.started_at).total_seconds()  # its first batch to its last vector stored
    return {"size": size, "workers": workers, "tokens": cell["tokens_admitted"], "seconds": round(span, 2),
            "tokens_per_second": round(cell["tokens_admitted"] / max(span, 1e-9)),
            "chunks_per_second": round(job.embedded_chunks / max(span, 1e-9))}  # fmt: skip


def bound(cell: dict, limits: Limits, tokens_per_second: float) -> float:
    """The best utilization this machine allows the cell, at its ceiling's pace.

    A long job needs the limit's rate (less the 1% reserve): at most ceiling / rate. A short job
    sends a window's tokens at once and again as they leave: each takes at least
    ``window_tokens / ceiling`` seconds, during which the window is half full on average.
    """
    rate = limits.per_second * 0.99
    if cell["length"] == "long":
        return round(min(0.99, 0.99 * tokens_per_second / rate), 3)
    ramp = limits.tpm * 0.99 / tokens_per_second
    return round(min(0.99, 0.99 * (1 - ramp / (limits.window + ramp))), 3)


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def goals(cells: list[dict]) -> dict:
    pooled = [c for c in cells if c["workers"] >= 2 and "error" not in c]
    below = [c for c in pooled if (c["utilization"] or 0) < GOAL_UTILIZATION]
    machine = [c for c in below if c.get("machine_bound", 1) < GOAL_UTILIZATION]
    clean = all(c["http_429"] == 0 and c["lost"] == 0 and c["paid_twice"] == 0 and c["limits_held"] for c in cells)
    by_shape: dict[tuple, dict[int, float]] = {}
    for c in cells:
        by_shape.setdefault((c["limits"], c["length"], c["size"]), {})[c["workers"]] = c["utilization"] or 0
    slower = [
        {"shape": list(shape), "w4": ws[4], "w8": ws[8]}
        for shape, ws in by_shape.items() if 4 in ws and 8 in ws and ws[8] < ws[4] - 0.01
    ]  # fmt: skip
    return {
        "every_cell_w2_plus_at_least_0.95": {
            "met": not below, "below": [_name(c) for c in below],
            "of_those_beyond_this_machine": [f"{_name(c)} (bound {c['machine_bound']})" for c in machine],
        },  # fmt: skip
        "no_429_lost_or_paid_twice_and_limits_held": {"met": clean},
        "w8_at_least_w4": {"met": not slower, "slower": slower, "tolerance": 0.01},
    }


def _name(cell: dict) -> str:
    return f"{cell['limits']}/{cell['length']}/{cell['size']}t/W{cell['workers']}={cell['utilization']}"


def heatmap(cells: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(c["limits"], c["length"]) for c in cells})
    sizes = sorted({c["size"] for c in cells})
    workers = sorted({c["workers"] for c in cells})
    fig, axes = plt.subplots(1, len(panels), figsize=(max(7.0, 5.0 * len(panels)), 1.6 + 0.9 * len(sizes)),
                             squeeze=False)  # fmt: skip
    for ax, (limits, length) in zip(axes[0], panels):
        grid = [[None] * len(workers) for _ in sizes]
        for c in cells:
            if (c["limits"], c["length"]) == (limits, length):
                grid[sizes.index(c["size"])][workers.index(c["workers"])] = c
        values = [[(c or {}).get("utilization") or 0 for c in row] for row in grid]
        ax.imshow(values, cmap="RdYlGn", vmin=0.6, vmax=1.0, aspect="auto")
        for i, row in enumerate(grid):
            for j, c in enumerate(row):
                if c is None:
                    continue
                cpu = c.get("cpu_busy_share")
                text = f"{c.get('utilization') or 0:.3f}"
                if cpu is not None:
                    text += f"\ncpu {cpu * 100:.0f}%"
                if c.get("machine_bound", 1) < GOAL_UTILIZATION:  # this machine cannot do better
                    text += f"\n≤ {c['machine_bound']:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(workers)), [f"W={w}" for w in workers])
        ax.set_yticks(range(len(sizes)), [f"~{s} tokens" for s in sizes])
        limit = LIMITS[limits]
        ax.set_title(f"{limits} ({limit.tpm:,} TPM / {limit.window:g} s), {length} job", fontsize=9)
    fig.suptitle("Utilization of the provider's token limit (simulator's /stats), the CPU's busy share beside;\n"
                 "'≤ x' where this machine's own ceiling allows no more than x", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,250,1000,8000")
    parser.add_argument("--workers", default="1,2,4,8,16")
    parser.add_argument("--limits", default="tier1,scaled")
    parser.add_argument("--lengths", default="short,long")
    parser.add_argument("--long-tier1", action="store_true", help="also the 20-window job at the real 60 s window")
    parser.add_argument("--peer", action="store_true", help="pgai's vectorizer worker beside the short documents")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    cells: list[dict] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tollgate-shapes-corpora-") as cache, \
            embedded_django("tollgate-shapes-bench-") as home:  # fmt: skip
        from django.db import connection

        from project import embedded

        urls = embedded.urls(home)
        database_url, redis_url = urls.database_url, urls.redis_url
        ceilings = {}
        for size in sizes:  # the machine's own limit for each shape, measured in this run
            corpus = corpus_for(size, LONG_WINDOWS * LIMITS["scaled"].tpm, Path(cache))
            ceilings[size] = ceiling(home=home, redis_url=redis_url, database_url=database_url, size=size,
                                     corpus=corpus, workers=min(max(workers), 8))  # fmt: skip
            say(f"ceiling ~{size} tokens: {ceilings[size]['tokens_per_second']:,} tokens/s "
                f"(W={min(max(workers), 8)}, no limit, no latency)")  # fmt: skip
        for name in args.limits.split(","):
            limits = LIMITS[name]
            for length in args.lengths.split(","):
                if length == "long" and name == "tier1" and not args.long_tier1:
                    continue
                windows = SHORT_WINDOWS if length == "short" else LONG_WINDOWS
                for size in sizes:
                    corpus = corpus_for(size, round(windows * limits.tpm * SHORT_FILL if length == "short"
                                                    else windows * limits.tpm), Path(cache))  # fmt: skip
                    for w in workers:
                        say(f"{name} {length} ~{size} tokens, W={w} …")
                        cell = run_cell(home=home, redis_url=redis_url, database_url=database_url, limits=limits,
                                        size=size, workers=w, length=length, corpus=corpus)  # fmt: skip
                        say(f"  utilization {cell['utilization']}, {cell['http_429']} × 429, lost {cell['lost']}, "
                            f"paid twice {cell['paid_twice']}, busy {cell['busy_seconds']} s, "
                            f"cpu {cell['cpu_busy_share']}" + (f"  ERROR {cell['error']}" if "error" in cell else ""))  # fmt: skip
                        cell["machine_bound"] = bound(cell, limits, ceilings[size]["tokens_per_second"])
                        cells.append(cell)
                        connection.close()
        peer = None
        if args.peer:
            from bench.shapes_peer import peer_beside

            peer = peer_beside(home=home, database_url=database_url, redis_url=redis_url, cache=Path(cache),
                               cells=cells, run_cell=run_cell, limits=LIMITS["scaled"])  # fmt: skip
    result = {
        "bench": "shapes",
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "latency_ms": LATENCY_MS,
        "limits": {name: vars(limits) for name, limits in LIMITS.items()},
        "ceilings": list(ceilings.values()),
        "cells": cells,
        "peer": peer,
        "goals": goals(cells),
        "seconds": round(time.monotonic() - started, 1),
    }
    (args.out / "shapes.json").write_text(json.dumps(result, indent=2))
    heatmap(cells, args.out / "shapes_heatmap.png")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
