"""Realism knobs turned into decisions: how long to take, which fault (if any) to inject."""

from __future__ import annotations

import random

from simulator.config import Knobs

__all__ = ["choose_fault", "latency_seconds", "FAULTS"]

FAULTS = ("drop", "hang", "500", "503")


def choose_fault(knobs: Knobs, rng: random.Random) -> str | None:
    """One draw per request: "drop", "hang", "500", "503" with the knobs' probabilities, or None."""
    rates = (knobs.drop_rate, knobs.hang_rate, knobs.error_500_rate, knobs.error_503_rate)
    if not any(rates):
        return None
    draw = rng.random()
    for fault, rate in zip(FAULTS, rates):
        if draw < rate:
            return fault
        draw -= rate
    return None


def latency_seconds(knobs: Knobs, tokens: int, rng: random.Random) -> float:
    """Base + per-token latency plus up to ``latency_jitter_ms`` of uniform jitter, in seconds."""
    ms = knobs.latency_ms + knobs.latency_per_token_ms * tokens
    if knobs.latency_jitter_ms:
        ms += rng.uniform(0.0, knobs.latency_jitter_ms)
    return ms / 1000.0
