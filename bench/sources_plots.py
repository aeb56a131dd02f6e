"""bench/sources.py's figure: the two backfills' window fill, each edit's lag, the searches across a migration."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot"]


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (fill, lag, searches) = plt.subplots(3, 1, figsize=(10, 11))
    tpm = result["limits"]["tpm"]
    for side, style, name in (("run", "-", "tollgate run (the rows as files)"), ("sync", "--", "tollgate sources sync")):
        backfill = result["backfill"][side]
        if backfill is None:
            continue
        points = backfill["fill"]
        fill.plot([t for t, _ in points], [v / tpm for _, v in points], style,
                  label=f"{name}: utilization {backfill['utilization']}")  # fmt: skip
    fill.axhline(0.99, color="grey", linestyle=":", label="the most a backfill takes (1% left for searches)")
    fill.set_ylim(0, 1.1)
    fill.set_ylabel("tokens in the window / TPM")
    fill.set_xlabel("seconds from the first admission")
    fill.set_title(f"(a) backfill of {result['rows']:,} rows: the provider's window, run vs sources sync")
    fill.legend(loc="lower right", fontsize=8)

    fresh = result["freshness"]
    lag.plot([t for t, _ in fresh["lags"]], [v for _, v in fresh["lags"]], ".", markersize=3, label="an edit")
    lag.axhline(fresh["goal_p95_seconds"], color="red", linestyle="--", label="goal: p95 ≤ 2 s + a round trip")
    lag.axhline(fresh["lag_p95_seconds"], color="black", linestyle=":", label=f"p95 {fresh['lag_p95_seconds']} s")
    lag.set_ylabel("commit → searchable (s)")
    lag.set_xlabel("seconds from the first edit")
    lag.set_title(f"(b) {fresh['rate']:g} edits/s with workers following: {fresh['missed']} missed, "
                  f"{fresh['paid_more_than_once']} paid twice")  # fmt: skip
    lag.legend(loc="upper right", fontsize=8)

    migration = result["migration"]
    if migration is None:
        searches.set_title("(c) migration: not run (--skip-migration)")
        figure.tight_layout()
        figure.savefig(path, dpi=110)
        plt.close(figure)
        return
    for version, colour in ((1, "tab:blue"), (2, "tab:orange")):
        points = [(t, s) for t, s, versions, hits, failed in migration["searches_detail"] if versions == [version]]
        searches.plot([t for t, _ in points], [s * 1000 for _, s in points], ".", color=colour, markersize=3,
                      label=f"read version {version}")  # fmt: skip
    bad = [(t, s) for t, s, versions, hits, failed in migration["searches_detail"] if failed or not hits]
    if bad:
        searches.plot([t for t, _ in bad], [s * 1000 for _, s in bad], "x", color="red", label="failed or empty")
    if migration["cutover_at_seconds"] is not None:
        searches.axvline(migration["cutover_at_seconds"], color="black", linestyle="--", label="cutover")
    searches.set_ylabel("search (ms)")
    searches.set_xlabel("seconds from the first search")
    searches.set_title(f"(c) migration to text-embedding-3-large: {migration['searches']} searches, "
                       f"{migration['failed']} failed, {migration['empty']} empty")  # fmt: skip
    searches.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
