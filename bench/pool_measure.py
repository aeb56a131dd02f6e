"""How full a pool's deployments stayed, read from what each simulator admitted (``/stats?admissions=1``).

Each deployment's utilization is its own window's mean fill over its steady state
(``shapes_measure.long_utilization``: from one of its windows after its first admission to its
last). The pool's is measured against the sum of the limits: at every moment of the common
steady span (one longest window after the first admission anywhere, to the last anywhere), the
tokens each deployment's window holds, over its window's length, summed, over the sum of the
limits' rates; its mean. 1.0: every deployment's window exactly full all along.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

from bench.shapes_measure import STEP

__all__ = ["deployment_utilization", "pool_utilization"]


def deployment_utilization(
    admissions: Sequence[Sequence[float]], *, window: float, tpm: int, since: float | None = None
) -> float | None:
    """The deployment's mean window fill, over TPM, from one window after its first admission (or after ``since``)
    to its last admission."""
    if not admissions:
        return None
    start = (admissions[0][0] if since is None else since) + window
    fill = _fills(admissions, window=window, start=start, end=admissions[-1][0])
    return round(sum(fill) / len(fill) / tpm, 4) if fill else None


def pool_utilization(admissions: Mapping[str, Sequence[Sequence[float]]], limits: Mapping[str, tuple[int, float]],
                     *, since: float | None = None, until: float | None = None) -> float | None:  # fmt: skip
    """The pool's mean fill against the sum of the limits (module docstring); ``limits``: name -> (TPM, window)."""
    used = {name: list(rows) for name, rows in admissions.items() if rows}
    if not used:
        return None
    longest = max(window for _, window in limits.values())
    first = min(rows[0][0] for rows in used.values())
    last = max(rows[-1][0] for rows in used.values())
    start = (first if since is None else since) + longest
    end = last if until is None else min(until, last)
    if end <= start:
        return None
    capacity = sum(tpm / window for tpm, window in limits.values())
    series = [
        [value / limits[name][1] for value in _fills(rows, window=limits[name][1], start=start, end=end)]
        for name, rows in used.items()
    ]
    moments = min(len(values) for values in series)
    total = [sum(values[i] for values in series) for i in range(moments)]
    return round(sum(total) / len(total) / capacity, 4) if total else None


def _fills(admissions: Sequence[Sequence[float]], *, window: float, start: float, end: float) -> list[int]:
    """Tokens admitted in ``(t - window, t]`` every ``STEP`` seconds from ``start`` to ``end``."""
    times = [at for at, _ in admissions]
    cumulative = [0]
    for _, tokens in admissions:
        cumulative.append(cumulative[-1] + int(tokens))
    fills, t = [], start
    while t <= end + 1e-9:
        fills.append(cumulative[bisect.bisect_right(times, t)] - cumulative[bisect.bisect_right(times, t - window)])
        t += STEP
    return fills
