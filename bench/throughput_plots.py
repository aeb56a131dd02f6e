"""The throughput bench's two PNGs (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def timeline_png(path: Path, runs: dict[str, list[dict]], *, window_seconds: float, tpm: int) -> None:
    """Tokens admitted per second, and the mean over the trailing window, against the limit's rate."""
    limit = tpm / window_seconds
    span = max(1, int(window_seconds))
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 3.2 * len(runs)), sharex=True, squeeze=False)
    for ax, (title, timeline) in zip(axes[:, 0], runs.items()):
        seconds = [e["second"] for e in timeline]
        tokens = [e["tokens"] for e in timeline]
        trailing = [sum(tokens[max(0, i - span + 1) : i + 1]) / span for i in range(len(tokens))]
        ax.bar(seconds, tokens, width=1.0, align="edge", color="tab:blue", alpha=0.35, label="tokens admitted per second")
        ax.step([s + 1 for s in seconds], trailing, where="pre", color="tab:blue",
                label=f"mean over the trailing {window_seconds:g} s window")  # fmt: skip
        ax.axhline(limit, color="tab:red", linestyle="--", label=f"limit: {tpm:,} tokens per {window_seconds:g} s")
        ax.set_ylabel("tokens / s")
        ax.set_title(title, fontsize=10)
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel("seconds since the run started (simulator clock)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def workers_png(path: Path, sweep: list[dict], *, tpm: int, window_seconds: float, goal: float) -> None:
    """Steady-state tokens per window and utilization against the number of worker processes."""
    workers = [point["workers"] for point in sweep]
    per_window = [point["steady_tokens_per_window"] or 0 for point in sweep]
    utilization = [point["steady_utilization"] or 0 for point in sweep]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(workers, per_window, marker="o", label="tollgate, steady state")
    left.axhline(tpm, color="tab:red", linestyle="--", label=f"limit: {tpm:,} tokens / window")
    left.set_ylabel(f"tokens per {window_seconds:g} s window")
    left.set_ylim(0, tpm * 1.05)
    right.plot(workers, utilization, marker="o", label="steady-state utilization")
    right.axhline(goal, color="tab:green", linestyle=":", label=f"goal {goal}")
    right.axhline(1.0, color="tab:red", linestyle="--", label="limit")
    right.set_ylabel("utilization of TPM")
    right.set_ylim(0, 1.05)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(workers, [str(w) for w in workers])
        ax.set_xlabel("worker processes")
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
