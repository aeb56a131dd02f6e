"""Figures for people: counts with thousands separators, durations in the units a person reads.

One definition for the dashboard (its template filters), ``tollgate status`` and the charts'
labels, so a figure reads the same wherever it is shown.

Example::

    count(1234567)  # "1,234,567"
    duration(125.4)  # "2 min 5 s"
    si(3_000_000)  # "3M"
"""

from __future__ import annotations

__all__ = ["count", "duration", "si"]


def count(value: float | int | None) -> str:
    """An integer with thousands separators (a float is rounded); None is a dash."""
    if value is None:
        return "–"
    return f"{round(value):,}"


def duration(seconds: float | None) -> str:
    """``"0 s"``, ``"45 s"``, ``"2 min 5 s"``, ``"3 h 20 min"``; None is a dash. Never a negative zero."""
    if seconds is None:
        return "–"
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    minutes = rest // 60
    return f"{hours:,} h {minutes} min" if minutes else f"{hours:,} h"


def si(value: float) -> str:
    """A short axis label: 950, 3k, 1.5M, 2G (three significant digits at most)."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"
