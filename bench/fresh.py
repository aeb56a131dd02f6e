"""A corpus of one shape, written once per run (a fresh install's state is ``embedded_home.reset_state``).

Shared by ``bench/shapes.py`` and ``bench/pool.py`` (benches run as scripts import each other's
helpers from here, never from one another).
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import say
from bench.shapes_corpus import write_corpus

__all__ = ["corpus_for"]


def corpus_for(size: int, tokens: int, cache: Path) -> Path:
    """A folder of documents of about ``size`` tokens, ``tokens`` in all (written once per run)."""
    folder = cache / f"docs-{size}-{tokens}"
    if not folder.exists():
        started = time.monotonic()
        corpus = write_corpus(folder, tokens=size, total_tokens=tokens)
        say(f"  corpus: {corpus.files} documents of ~{size} tokens, {corpus.tokens:,} tokens "
            f"({corpus.duplicates} exact duplicates) in {time.monotonic() - started:.1f} s")  # fmt: skip
    return folder

