"""How full the provider's window stayed, read from what the simulator admitted (``/stats?admissions=1``).

Two measures, the ones the throughput bench has always used, now to the millisecond:

- a **long job** (many windows) is judged by its steady state: the mean fill of the provider's
  sliding window, ``tokens admitted in (t - window, t] / TPM``, over every moment ``t`` from one
  window after its first admission to its last one (the first window only ramps up, whatever
  the sender does, since a paced sender starts with an empty window);
- a **short job** (at most two windows' tokens, sent unpaced) by its wall time against the
  sliding window's own schedule: the first window's worth at once and the rest as it frees,
  ``window × (tokens / limit − 1)``, over the time from its first to its last admission.

Both are 1.0 for a sender that keeps the window exactly full. The limit is the full TPM: a
backfill leaves ``TOLLGATE_BULK_RESERVE`` of it for searches, so its best is 1 − reserve.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

__all__ = ["busy_span", "long_utilization", "short_utilization", "window_fill"]

STEP = 0.05  # seconds between the moments a long job's window fill is read


def busy_span(admissions: Sequence[Sequence[float]]) -> float:
    """Seconds from the first admission to the last."""
    return admissions[-1][0] - admissions[0][0] if admissions else 0.0


def window_fill(admissions: Sequence[Sequence[float]], *, window: float, step: float = STEP) -> list[tuple[float, int]]:
    """``(t, tokens admitted in (t - window, t])`` every ``step`` seconds from the first admission to the last."""
    if not admissions:
        return []
    times = [at for at, _ in admissions]
    cumulative = [0]
    for _, tokens in admissions:
        cumulative.append(cumulative[-1] + int(tokens))
    fill, t = [], times[0]
    while t <= times[-1] + 1e-9:
        upto = bisect.bisect_right(times, t)
        since = bisect.bisect_right(times, t - window)
        fill.append((round(t - times[0], 3), cumulative[upto] - cumulative[since]))
        t += step
    return fill


def long_utilization(admissions: Sequence[Sequence[float]], *, window: float, tpm: int) -> float | None:
    """The mean window fill over the steady state (a window after the first admission to the last), over TPM."""
    steady = [tokens for t, tokens in window_fill(admissions, window=window) if t >= window]
    return round(sum(steady) / len(steady) / tpm, 4) if steady else None


def short_utilization(admissions: Sequence[Sequence[float]], *, window: float, tpm: int) -> float | None:
    """The sliding window's ideal time for these tokens over the time they took (first to last admission)."""
    tokens = sum(int(tokens) for _, tokens in admissions)
    ideal = window * max(0.0, tokens / tpm - 1)
    span = busy_span(admissions)
    if span <= 0:
        return None
    return round(ideal / span, 4)
