"""The memory bench's PNG: each process's RSS against the job's chunks done."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def memory_png(path: Path, report: dict) -> None:
    samples = report["samples"]
    chunks = [s["chunks"] for s in samples]
    rss = report["rss"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    ax.plot(chunks, [s["producer_mb"] for s in samples], label=_label("producer", rss["producer"]), linewidth=2)
    for i in range(report["workers"]):
        ax.plot(chunks, [s["workers_mb"][i] for s in samples], label=_label(f"worker {i}", rss[f"worker_{i}"]))
    ax.set_xlabel("chunks embedded (the job's counter, sampled each second)")
    ax.set_ylabel("RSS, MB")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="lower right")
    job = report["job"]
    ax.set_title(f"{job['chunks']:,}-chunk job, {report['dimensions']}-d, {report['workers']} workers "
                 f"({report['worker_pool']}), simulator {report['simulator']}; {job['chunks_per_s']} chunks/s; "
                 f"load {report['machine']['loadavg_1_5_15']['start'][0]} on {report['machine']['cpus']} cores",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _label(name: str, fit: dict) -> str:
    slope = fit.get("slope_mb_per_10k_chunks")
    return f"{name}: {fit['first_mb']:.0f} → {fit['last_mb']:.0f} MB, slope {slope} MB / 10k chunks"
