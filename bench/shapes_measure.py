"""How full the provider's window stayed, read from what the simulator admitted (``/stats?admissions=1``).

Utilization is the mean fill of the provider's sliding window, ``tokens admitted in
(t - window, t] / TPM``, read every ``STEP`` seconds (to the millisecond of each admission):

- for a **short job** (at most two windows' tokens, sent unpaced: the first window's worth at
  once, the rest as the window frees), over its whole busy span, first admission to last: how
  fast the pool fills the empty window at the start counts;
- for a **long job** (paced), over its steady state, from one window after its first admission
  to its last: a paced sender starts with an empty window and needs one window to fill it
  whatever its speed (bursting it instead only brings the gap back every window), so the first
  window says nothing about keeping the limit full.

Both are 1.0 for a sender that keeps the window exactly full. The limit is the full TPM: a
backfill leaves ``TOLLGATE_BULK_RESERVE`` (1%) of it free for searches, so its best is 0.99.
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
    return _mean_fill(admissions, window=window, tpm=tpm, skip=window)


def short_utilization(admissions: Sequence[Sequence[float]], *, window: float, tpm: int) -> float | None:
    """The mean window fill over the whole busy span (first admission to last), over TPM."""
    return _mean_fill(admissions, window=window, tpm=tpm, skip=0.0)


def _mean_fill(admissions: Sequence[Sequence[float]], *, window: float, tpm: int, skip: float) -> float | None:
    fill = [tokens for t, tokens in window_fill(admissions, window=window) if t >= skip]
    return round(sum(fill) / len(fill) / tpm, 4) if fill else None
