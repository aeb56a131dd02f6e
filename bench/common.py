"""What every bench shares: the repository's root, and a progress line on stderr.

A bench prints its result (one JSON object) on stdout and everything else on stderr, so
``uv run python bench/x.py > x.json`` keeps the result alone.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def say(line: str) -> None:
    """One line of progress on stderr, at once (a bench's stdout is its JSON)."""
    print(line, file=sys.stderr, flush=True)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0.5 for the median) of a list of measurements."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]
