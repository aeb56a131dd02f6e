"""``tollgate status`` in a terminal: the snapshot (:func:`status_snapshot`) drawn with rich."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .eta import LIMIT, eta_label
from .humane import count
from .status import status_snapshot

__all__ = ["show", "watch"]

WATCH_SECONDS = 1.0  # how often --watch redraws
PIPE_WIDTH = 200  # columns when the output is a file or a pipe: wide enough that no line is cut or wrapped


def _gauge(name: str, part: dict[str, Any], window: float) -> Table:
    row = Table.grid(padding=(0, 1))
    row.add_row(
        Text(f"{name:>8}"),
        ProgressBar(total=max(1, part["limit"]), completed=part["used"], width=30),
        Text(f"{count(part['used'])} / {count(part['limit'])} per {window:g} s ({part['percent']:.1f}%)"),
    )
    return row


def _limiter(part: dict[str, Any]) -> RenderableType:
    if "error" in part:
        return Text(f"shared limit: {part['error']}", style="yellow")
    cooldown = part["cooldown_seconds"]
    state = Text(f"cooling down after a 429: {cooldown:.1f} s", style="bold red") if cooldown else Text("open", style="green")
    totals = part["totals"]
    summary = Text(
        f"  since the history began: {count(totals['requests'])} requests, {count(totals['tokens'])} tokens, "
        f"{count(totals['waits'])} waits, {count(totals['http_429'])} 429s, {count(totals['cooldowns'])} cooldowns",
        style="dim",
    )
    title = Text(f"shared limit ({part['model']}): ", style="bold") + state
    window = part["window_seconds"]
    if part.get("deployments"):
        title = Text(f"pool of {len(part['deployments'])} deployments ({part['model']})", style="bold")
        return Group(title, _deployments(part["deployments"]), summary)
    return Group(title, _gauge("requests", part["requests"], window), _gauge("tokens", part["tokens"], window), summary)


def _deployments(deployments: list[dict[str, Any]]) -> RenderableType:
    """Each deployment of the pool: its window's tokens and requests, cooldown, breaker, share of the traffic."""
    table = Table(expand=False)
    for column in ("deployment", "tokens in window", "requests", "cooldown", "breaker", "share"):
        table.add_column(column, justify="left" if column in ("deployment", "breaker") else "right")
    for d in deployments:
        breaker = Text(d["breaker"], style="green" if d["breaker"] == "closed" else "bold red")
        if d["breaker"] != "closed":
            breaker += Text(f" {d['breaker_seconds']:.0f} s: {d['breaker_reason'][:80]}", style="red")
        table.add_row(
            f"{d['name']} ({d['kind']}, {d['window_seconds']:g} s)",
            f"{count(d['tokens_used'])} / {count(d['tokens_limit'])} ({d['tokens_percent']:.0f}%)",
            f"{count(d['requests_used'])} / {count(d['requests_limit'])}",
            f"{d['cooldown_seconds']:.1f} s" if d["cooldown_seconds"] else "–",
            breaker,
            f"{100 * d['share']:.0f}% (of {100 * d['capacity_share']:.0f}%)",
        )
    return table


def _jobs(jobs: list[dict[str, Any]]) -> RenderableType:
    if not jobs:
        return Text("no jobs yet", style="dim")
    table = Table(title="jobs", title_justify="left", expand=False)
    for column in ("job", "status", "lane", "done", "chunks", "tokens", "requests", "429s", "waits", "ETA"):
        table.add_column(column, justify="left" if column in ("status", "lane") else "right")
    for job in jobs:
        chunks, tokens = job["chunks"], job["tokens"]
        failed = f" ({count(chunks['failed'])} failed)" if chunks["failed"] else ""
        flying = job.get("requests_in_flight") or 0
        table.add_row(
            str(job["id"]),
            job["status"],
            _lane(job),
            f"{job['percent']:.1f}%",
            f"{count(chunks['done'])}/{count(chunks['total'])}{failed}",
            f"{count(tokens['done'])}/{count(tokens['total'])}",
            count(job["requests"]) + (f" +{count(flying)} in flight" if flying else ""),
            count(job["http_429"]),
            count(job["limiter_waits"]),
            _eta(job),
        )
    return table


def _eta(job: dict[str, Any]) -> str:
    """``≈ 2 min 5 s`` at the job's measured pace, ``≥ 13 s (limit)`` before it has one, ``–`` when not running."""
    label = eta_label(job["eta_seconds"], job.get("eta_basis", ""))
    return f"{label} (limit)" if job.get("eta_basis") == LIMIT and job["eta_seconds"] is not None else label


def _lane(job: dict[str, Any]) -> str:
    """``sync``, or ``batch`` with its batches by state: ``batch 2 in_progress, 1 uploaded``."""
    batches = ", ".join(f"{count} {state}" for state, count in job.get("batches", {}).items())
    return f"{job['lane']} {batches}".strip() if job.get("lane") else ""


def _workers(part: dict[str, Any], queues: Any) -> RenderableType:
    if "error" in part:
        return Text(f"workers: {part['error']}", style="yellow")
    embedding = f" ({count(part['embedding'])} embedding a group)" if part.get("running") else ""
    line = Text(
        f"workers: {count(part['online'])} online, {count(part['running'])} tasks running{embedding}, "
        f"{part['tasks_per_second']} tasks/s",
        style="bold",
    )
    if isinstance(queues, dict) and "error" not in queues:
        line += Text("   waiting: " + ", ".join(f"{lane} {count(depth)}" for lane, depth in queues.items()))
    elif isinstance(queues, dict):
        line += Text(f"   queues: {queues['error']}", style="yellow")
    return line


def render(snapshot: dict[str, Any]) -> RenderableType:
    return Group(
        _jobs(snapshot["jobs"]),
        Text(""),
        _limiter(snapshot["limiter"]),
        Text(""),
        _workers(snapshot["workers"], snapshot["queues"]),
        Text(f"as of {snapshot['at']}", style="dim"),
    )


def _console() -> Console:
    """The terminal's own width; to a file or a pipe, wide enough that nothing is cut at 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=PIPE_WIDTH)


def show(console: Console | None = None) -> None:
    (console or _console()).print(render(status_snapshot()))


def watch(console: Console | None = None, *, seconds: float = WATCH_SECONDS) -> None:
    """Redraw in place until Ctrl-C (which the CLI turns into exit code 130)."""
    with Live(render(status_snapshot()), console=console or _console(), auto_refresh=False) as live:
        while True:
            time.sleep(seconds)
            live.update(render(status_snapshot()), refresh=True)
