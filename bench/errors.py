"""The benches' own errors, under one root; each carries what it is about.

Errors of the code a bench measures (``project.errors``, ``openai``'s) pass through as they are.
"""

from __future__ import annotations


class BenchError(Exception):
    """Root of the errors a bench raises itself."""


class Deadline(BenchError):
    """A configuration ran past its ``seconds`` and is abandoned (the throughput bench's SIGALRM)."""

    def __init__(self, seconds: float):
        super().__init__(f"the configuration ran out of time ({seconds:g} s)")
        self.seconds = seconds


class LoaderFailed(BenchError):
    """The search bench's loader process failed: ``error`` is its exception's repr, or why no word came."""

    def __init__(self, error: str):
        super().__init__(f"backfill loader: {error}")
        self.error = error


class PeerFailed(BenchError):
    """A peer's own command failed before its run (``pgai install``, say): ``output`` is its last lines."""

    def __init__(self, command: str, output: str):
        super().__init__(f"{command} failed: {output}")
        self.command = command
        self.output = output
