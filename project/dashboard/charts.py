"""Server-drawn SVG charts: data in (the limiter's history, job timelines), geometry out.

No JavaScript and no charting library: each chart is a :class:`Chart` of lines, marks, bands
and rules already in pixels, which ``_chart.html`` writes as SVG, and htmx swaps the fragment
in place on every poll. The numbers stay in ``data-*`` attributes for tests and curious people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from project.monitoring.limiter import LimiterView
from project.monitoring.timeline import JobTimeline
from ratelimit import Bucket

__all__ = ["Chart", "limiter_charts", "progress_chart"]

WIDTH, HEIGHT = 640, 170
LEFT, RIGHT, TOP, BOTTOM = 56, 30, 12, 22  # margins for the axis labels


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
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    top: int = TOP
    right: int = WIDTH - RIGHT
    bottom: int = HEIGHT - BOTTOM

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
    """Maps (x, y) in the data's units onto the plot area; y grows upwards."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1
        self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1

    def x(self, value: float) -> float:
        return round(LEFT + (value - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT), 1)

    def y(self, value: float) -> float:
        return round(HEIGHT - BOTTOM - (value - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM), 1)

    def line(self, css: str, points: Sequence[tuple[float, float]], label: str) -> Line:
        return Line(css, " ".join(f"{self.x(x)},{self.y(y)}" for x, y in points), len(points), label)


def _si(value: float) -> str:
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _cooldown(frame: Frame, bucket: Bucket, end: float) -> Band:
    left = frame.x(bucket.start)
    width = max(1.0, frame.x(min(bucket.cooldown_until, end)) - left)
    return Band(left, width, f"cooldown after a 429, until {bucket.cooldown_until - end:+.1f} s")


def _clock(frame: Frame, at: float, now: datetime) -> tuple[float, str]:
    return frame.x(at), datetime.fromtimestamp(at, now.tzinfo).strftime("%H:%M:%S")


def limiter_charts(view: LimiterView) -> tuple[Chart, Chart]:
    """Requests and tokens admitted per window (rolling) against the limit; 429s and cooldowns marked.

    One point per bucket: the sum over the window that ends there, which the limiter keeps at
    or under the limit. The x axis is seconds before the latest read, on Redis's clock.
    """
    history, usage = view.history, view.usage
    windows = history.per_window
    begin, end = history.buckets[0].start, history.at
    charts = []
    for name, limit, values in (
        ("requests", usage.requests_limit, [p.requests for p in windows]),
        ("tokens", usage.tokens_limit, [p.tokens for p in windows]),
    ):
        frame = Frame(begin, end, 0, max(limit, *values) * 1.1)
        points = [(min(p.end, end), v) for p, v in zip(windows, values, strict=True)]
        bands = tuple(_cooldown(frame, b, end) for b in history.buckets if b.cooldown_until > b.start)
        marks = tuple(
            Mark(frame.x(b.start + history.bucket_seconds / 2), frame.y(0), "throttled", f"{b.throttled} × 429")
            for b in history.buckets
            if b.throttled
        )
        span = end - begin
        charts.append(
            Chart(
                id=f"chart-{name}",
                title=f"{name} admitted per {usage.window_seconds:g} s window, last {span:.0f} s",
                stamp=f"{history.at:.3f}",
                lines=(frame.line("admitted", points, f"{name} per window"),),
                marks=marks,
                bands=bands,
                rules=(Rule(frame.y(limit), f"limit {_si(limit)}"),),
                x_labels=tuple((frame.x(end - s), f"-{s:.0f}s") for s in (span, span / 2, 0)),
                y_labels=((frame.y(0), "0"), (frame.y(limit), _si(limit))),
            )
        )
    return charts[0], charts[1]


def progress_chart(timelines: Sequence[JobTimeline], *, now: datetime, id: str = "chart-progress") -> Chart:
    """Each job's share done over time (one line per job), and a dashed line on to its ETA."""
    points = [p.at for t in timelines for p in t.points]
    etas = [t.eta_at for t in timelines if t.eta_at is not None]
    if not points:
        return Chart(id=id, title="no progress recorded yet", stamp=now.isoformat())
    begin, end = min(points).timestamp(), max([now, *etas, max(points)]).timestamp()
    frame = Frame(begin, end, 0, 100)
    lines, marks = [], []
    for timeline in timelines:
        job = timeline.job
        series = [(p.at.timestamp(), timeline.percent(p)) for p in timeline.points]
        if not series:
            continue
        lines.append(frame.line(f"job job-{job.pk}", series, f"job {job.pk}"))
        if timeline.eta_at is not None:
            ahead = [series[-1], (now.timestamp(), series[-1][1]), (timeline.eta_at.timestamp(), 100.0)]
            lines.append(frame.line(f"eta job-{job.pk}", ahead, "ETA"))
            title = f"job {job.pk}: ETA {timeline.eta_at:%H:%M:%S}"
            marks.append(Mark(frame.x(timeline.eta_at.timestamp()), frame.y(100), "eta", title))
    span = end - begin
    return Chart(
        id=id,
        title=f"share of chunks done, {span:.0f} s",
        stamp=f"{now.timestamp():.3f}:{len(points)}",
        lines=tuple(lines),
        marks=tuple(marks),
        rules=(Rule(frame.y(100), "100%", "done"),),
        x_labels=tuple(_clock(frame, begin + share * span, now) for share in (0, 0.5, 1)),
        y_labels=((frame.y(0), "0%"), (frame.y(50), "50%"), (frame.y(100), "100%")),
    )
