"""The search bench's PNG: latency and recall per state, and recall against ef_search."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench.search_common import P50_GOAL_MS, RECALL_GOAL  # noqa: E402


def search_png(path: Path, report: dict) -> None:
    states = report["states"]
    midway = f"{len(states['segments']['plan']['hnsw_indexes_used'])} indexes + open segment"
    bars = {
        midway: states["segments"]["at_default_ef"],
        **({f"{midway}, read whole": states["segments"]["exact_unindexed"]} if states["segments"]["exact_unindexed"] else {}),
        "while loading": states["backfill"],
        "while loading, read whole": states["backfill"]["exact_unindexed"],
        f"merged ({len(states['merged']['plan']['hnsw_indexes_used'])} indexes)": states["merged"]["at_default_ef"],
        "filtered 1%, merged": states["merged"]["filtered"],
        "merged + a second job's segment": states["second_job"]["at_default_ef"],
        "another model, midway": states["segments"]["other_model"],
        "exact scan": report["physical"]["exact_scan"],
    }
    # Horizontal bars, the first state on top: the states' names read in full, not slanted over each other.
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(18, 5.5), gridspec_kw={"width_ratios": [1.3, 0.8, 1]})
    names = list(bars)
    y = range(len(names))
    left.barh([i - 0.2 for i in y], [bars[n]["p50_ms"] for n in names], height=0.4, label="p50")
    left.barh([i + 0.2 for i in y], [bars[n]["p95_ms"] for n in names], height=0.4, label="p95")
    left.axvline(P50_GOAL_MS, color="tab:red", linestyle="--", label=f"goal: p50 ≤ {P50_GOAL_MS:g} ms")
    for i, name in enumerate(names):
        left.annotate(f"{bars[name]['p50_ms']:.1f}", (bars[name]["p50_ms"], i - 0.2), xytext=(3, 0),
                      textcoords="offset points", va="center", fontsize=7)  # fmt: skip
    left.set_xscale("log")
    left.set_yticks(list(y), names, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("chunk_search latency, ms (log; labels: p50)")
    left.legend(fontsize=8, loc="upper right")
    recalls = {n: b["recall_at_10"] for n, b in bars.items() if "recall_at_10" in b}
    middle.barh(list(recalls), list(recalls.values()), color="tab:green")
    middle.axvline(RECALL_GOAL, color="tab:red", linestyle="--", label=f"goal ≥ {RECALL_GOAL}")
    for name, value in recalls.items():
        middle.annotate(f"{value:.3f}", (value, name), xytext=(-3, 0), textcoords="offset points",
                        ha="right", va="center", fontsize=7, color="white")  # fmt: skip
    middle.set_xlim(min(0.8, *recalls.values()) - 0.02, 1.0)
    middle.tick_params(axis="y", labelsize=8)
    middle.invert_yaxis()
    middle.set_xlabel("recall@10 at the default candidate lists")
    middle.legend(fontsize=8, loc="lower left")
    for name in ("segments", "merged", "second_job"):
        sweep = states[name]["ef_sweep"]
        right.plot([r["ef_search"] for r in sweep], [r["recall_at_10"] for r in sweep], marker="o", label=name)
        for r in sweep:
            right.annotate(f"{r['p50_ms']:.0f} ms", (r["ef_search"], r["recall_at_10"]), xytext=(4, -10),
                           textcoords="offset points", fontsize=7)  # fmt: skip
    right.axhline(RECALL_GOAL, color="tab:red", linestyle="--")
    right.set_xscale("log")
    right.set_xlabel("hnsw.ef_search per index (log; labels: p50)")
    right.set_ylabel("recall@10")
    right.legend(fontsize=8)
    data = report["data"]
    fig.suptitle(f"{report['states']['segments']['rows']:,} clustered {report['dimensions']}-d vectors, "
                 f"{report['k']} nearest; machine load {report['machine']['loadavg_1_5_15']['start'][0]} on "
                 f"{report['machine']['cpus']} cores; 10th neighbour cosine {data['mean_cosine_10th_neighbour']}",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
