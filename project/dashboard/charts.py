"""Server-drawn SVG charts: data in (the limiter's history, job timelines), geometry out.

No JavaScript and no charting library: each chart is a :class:`Chart` of lines, marks, bands
and rules already in pixels, which ``_chart.html`` writes as SVG, and htmx swaps the fragment
in place on every poll. The numbers stay in ``data-*`` attributes for tests and curious people.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from project.monitoring.humane import count, duration, si
from project.monitoring.limiter import LimiterView
from project.monitoring.timeline import JobTimeline
from ratelimit import Bucket

__all__ = ["Chart", "limiter_charts", "progress_chart"]

WIDTH, HEIGHT = 640, 170  # a chart in half a card (the limit's two)
WIDE = 1200  # a chart across a whole card (progress)
LEFT, RIGHT, TOP, BOTTOM = 56, 30, 12, 22  # margins for the axis labels
HEADROOM = 1.15  # the y axis reaches this much above the highest point
LIMIT_IN_RANGE = 3.0  # the limit is drawn when it is at most this many times the highest point


@dataclass(frozen=True)
class Line:
    css: str
    points: str  # "x,y x,y ..." for <polyline>
    count: int
    label: str


@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    css: str
    title: str


@dataclass(frozen=True)
class Band:
    x: float
    width: float
    title: str


@dataclass(frozen=True)
class Rule:
    y: float
    label: str
    css: str = "limit"


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    stamp: str  # changes whenever the data does: data-at
    lines: tuple[Line, ...] = ()
    marks: tuple[Mark, ...] = ()
    bands: tuple[Band, ...] = ()
    rules: tuple[Rule, ...] = ()
    x_labels: tuple[tuple[float, str], ...] = ()
    y_labels: tuple[tuple[float, str], ...] = ()
    note: str = ""  # said in words under the chart: the limit when it is off the scale
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP

    @property
    def right(self) -> int:
        return self.width - RIGHT

    @property
    def bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def points(self) -> int:
        return sum(line.count for line in self.lines)

    @property
    def plot_width(self) -> int:
        return self.right - self.left

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top

    @property
    def label_x(self) -> int:
        return self.left - 4

    @property
    def label_y(self) -> int:
        return self.height - 6


class Frame:
    """Maps (x, y) in the data's units onto a chart's plot area of ``width`` × ``height``; y grows upwards."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float, *, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1
        self.width, self.height = width, height

    def x(self, value: float) -> float:
        return round(LEFT + (value - self.x0) / (self.x1 - self.x0) * (self.width - LEFT - RIGHT), 1)

    def y(self, value: float) -> float:
        span = self.height - TOP - BOTTOM
        return round(self.height - BOTTOM - (value - self.y0) / (self.y1 - self.y0) * span, 1)

    def line(self, css: str, points: Sequence[tuple[float, float]], label: str) -> Line:
        return Line(css, " ".join(f"{self.x(x)},{self.y(y)}" for x, y in points), len(points), label)


def _nice(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × a power of ten) at least ``value``: an axis' top."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10) if step * power >= value)


def _ago(seconds: float) -> str:
    """An x label on a chart that ends now: ``now``, ``−30 s``, ``−2 min``."""
    return "now" if round(seconds) == 0 else f"−{duration(seconds)}"


def _cooldown(frame: Frame, bucket: Bucket, end: float) -> Band:
    left = frame.x(bucket.start)
    width = max(1.0, frame.x(min(bucket.cooldown_until, end)) - left)
    return Band(left, width, f"cooldown after a 429, until {bucket.cooldown_until - end:+.1f} s")


def _clock(frame: Frame, at: float, now: datetime) -> tuple[float, str]:
    return frame.x(at), datetime.fromtimestamp(at, now.tzinfo).strftime("%H:%M:%S")


def _since(history, window: float) -> float:
    """Where the time axis starts: a window before the first admission kept (at least two windows back).

    A short job on a quiet limit is then the width of the chart, not a spike at its right edge.
    """
    busy = [b.start for b in history.buckets if b.requests or b.tokens or b.throttled]
    start = history.buckets[0].start
    if not busy:
        return start
    return max(start, min(busy[0] - window, history.at - 2 * window))


def limiter_charts(view: LimiterView, *, kind: str = "") -> tuple[Chart, Chart]:
    """Requests and tokens admitted per window (rolling), scaled to what was admitted; 429s and cooldowns marked.

    One point per bucket: the sum over the window that ends there, which the limiter keeps at
    or under the limit. The y axis reaches a little above the highest point, so a job far
    smaller than the limit is still a shape, not a flat line at the bottom; the limit is drawn
    when it is within :data:`LIMIT_IN_RANGE` times that, and said in words when it is not.
    The x axis is seconds before the latest read, on Redis's clock. ``kind`` names another
    limit's charts (the chat model's, ``"chat"``), beside the embeddings'.
    """
    history, usage = view.history, view.usage
    end = history.at
    begin = _since(history, usage.window_seconds)
    windows = [p for p in history.per_window if p.end > begin]
    charts = []
    for name, limit, values in (
        ("requests", usage.requests_limit, [p.requests for p in windows]),
        ("tokens", usage.tokens_limit, [p.tokens for p in windows]),
    ):
        peak = max(values, default=0)
        in_range = limit <= LIMIT_IN_RANGE * max(peak, 1) and peak > 0 or limit <= 1
        top = _nice(HEADROOM * (max(limit, peak) if in_range else peak))
        top = top if top >= 10 else max(2, math.ceil(top / 2) * 2)  # a few requests: whole numbers on the axis
        frame = Frame(begin, end, 0, top)
        points = [(min(p.end, end), v) for p, v in zip(windows, values, strict=True)]
        bands = tuple(_cooldown(frame, b, end) for b in history.buckets if b.cooldown_until > b.start)
        marks = tuple(
            Mark(frame.x(b.start + history.bucket_seconds / 2), frame.y(0), "throttled", f"{b.throttled} × 429")
            for b in history.buckets
            if b.throttled
        )
        span = end - begin
        per = f"per {usage.window_seconds:g} s window"
        if in_range:
            rules, note = (Rule(frame.y(limit), f"limit {count(limit)} {per}"),), ""
        elif peak:
            note = f"The limit, {count(limit)} {per}, is {limit / peak:,.0f}× the highest point: above this chart."
            rules = ()
        else:
            note, rules = f"Nothing admitted in the last {duration(span)}; the limit is {count(limit)} {per}.", ()
        y_labels = [(frame.y(0), "0"), (frame.y(top / 2), si(top / 2)), (frame.y(top), si(top))]
        charts.append(
            Chart(
                id=f"chart-{kind}-{name}" if kind else f"chart-{name}",
                title=f"{f'{usage.model} ({kind}): ' if kind else ''}{name} admitted {per}, last {duration(span)}",
                stamp=f"{history.at:.3f}",
                lines=(frame.line("admitted", points, f"{name} {per}"),),
                marks=marks,
                bands=bands,
                rules=rules,
                x_labels=tuple((frame.x(end - s), _ago(s)) for s in (span, span / 2, 0)),
                y_labels=tuple(y_labels),
                note=note,
            )
        )
    return charts[0], charts[1]


def progress_chart(timelines: Sequence[JobTimeline], *, now: datetime, id: str = "chart-progress") -> Chart:
    """Each job's share done from its start to its end (one line per job), a dashed line on to a running job's ETA.

    The time axis runs from the earliest start to the latest end: a finished job's last sample,
    a running one's ETA (or now). It never stretches on after the jobs it shows ended, so a
    finished job stays the whole width of the chart.
    """
    shown = [t for t in timelines if t.points]
    if not shown:
        return Chart(id=id, title="no progress recorded yet", stamp=now.isoformat(), width=WIDE)
    begin = min(t.points[0].at for t in shown).timestamp()
    end = max(_end(t, now) for t in shown).timestamp()
    frame = Frame(begin, end, 0, 100, width=WIDE)
    lines, marks = [], []
    for timeline in shown:
        job = timeline.job
        series = [(p.at.timestamp(), timeline.percent(p)) for p in timeline.points]
        lines.append(frame.line(f"job job-{job.pk}", series, f"job {job.pk}"))
        if timeline.eta_at is not None:
            ahead = [series[-1], (now.timestamp(), series[-1][1]), (timeline.eta_at.timestamp(), 100.0)]
            lines.append(frame.line(f"eta job-{job.pk}", ahead, "ETA"))
            title = f"job {job.pk}: ETA {timeline.eta_at:%H:%M:%S} ({timeline.progress.eta.words})"
            marks.append(Mark(frame.x(timeline.eta_at.timestamp()), frame.y(100), "eta", title))
    span = end - begin
    names = ", ".join(f"job {t.job.pk}" for t in shown)
    running = any(t.progress.active for t in shown)
    return Chart(
        id=id,
        title=f"share of chunks done: {names}, {'running for' if running else 'over'} {duration(span)}",
        stamp=f"{now.timestamp():.3f}:{sum(len(t.points) for t in shown)}",
        lines=tuple(lines),
        marks=tuple(marks),
        rules=(Rule(frame.y(100), "100%", "done"),),
        x_labels=tuple(_clock(frame, begin + share * span, now) for share in (0, 0.5, 1)),
        y_labels=((frame.y(0), "0%"), (frame.y(50), "50%"), (frame.y(100), "100%")),
        width=WIDE,
    )


def _end(timeline: JobTimeline, now: datetime) -> datetime:
    """Where a job's part of the time axis ends: its ETA or now while it runs, its last sample once it ended."""
    if timeline.progress.active:
        return max(now, timeline.eta_at or now, timeline.points[-1].at)
    return timeline.points[-1].at
