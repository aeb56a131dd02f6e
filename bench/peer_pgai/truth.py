"""The simulator's side of a peer's run: what it admitted, refused and was paid, read from ``/stats``.

An input "paid more than once" is one the simulator served (answered 200) more often than the
corpus holds it: the corpus's exact duplicates are sent once per copy by a peer that does not
deduplicate, which is a choice, not a retry, so they are counted apart.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections import Counter
from collections.abc import Sequence


def stats_url(base_url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port/stats``."""
    return base_url.rstrip("/").removesuffix("/v1") + "/stats"


def reset_stats(base_url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(stats_url(base_url) + "/reset", method="POST"), timeout=30).close()


def read_stats(base_url: str, query: str = "") -> dict:
    with urllib.request.urlopen(stats_url(base_url) + query, timeout=60) as response:
        return json.load(response)


def simulator_truth(stats: dict, texts: Sequence[str]) -> dict:
    """Tokens, 429s, the fullest window, inputs paid beyond the corpus, and the busy span (first to last admission).

    ``stats`` is ``/stats?admissions=1`` with ``per_input``. A simulator without ``admissions``
    gives the span from its per-second timeline instead, to the whole second.
    """
    in_corpus = Counter(hashlib.sha256(text.encode()).hexdigest() for text in texts)
    served = stats["inputs"]["per_input"]
    beyond = {digest: times - in_corpus[digest] for digest, times in served.items() if times > in_corpus[digest]}
    limited = stats["rate_limited"]
    if "admissions" in stats:
        times, span_from = [at for at, _ in stats["admissions"]], "admissions"
    else:
        busy = [entry["second"] for entry in stats["timeline"] if entry["requests"]]
        times, span_from = (busy[:1] + [busy[-1] + 1] if busy else []), "timeline"
    return {
        "requests": stats["requests"],
        "requests_admitted": stats["requests_admitted"],
        "tokens_admitted": stats["tokens_admitted"],
        "http_429": limited["requests"] + limited["tokens"],
        "http_429_by_limit": {"requests": limited["requests"], "tokens": limited["tokens"]},
        "other_errors": stats["errors"],
        "max_tokens_in_window": stats["max_tokens_in_window"],
        "max_requests_in_window": stats["max_requests_in_window"],
        "limits": stats["limits"],
        "window_seconds": stats["window_seconds"],
        "inputs_served": stats["inputs"]["served"],
        "inputs_distinct": stats["inputs"]["distinct"],
        "inputs_served_more_than_once": sum(times > 1 for times in served.values()),
        "corpus_duplicates_served": sum(1 for d, n in in_corpus.items() if n > 1 and served.get(d, 0) > 1),
        "inputs_paid_beyond_corpus": len(beyond),
        "payments_beyond_corpus": sum(beyond.values()),
        "corpus_inputs_never_served": sum(1 for digest in in_corpus if digest not in served),
        "busy_seconds": round(times[-1] - times[0], 2) if times else 0.0,
        "first_admission": times[0] if times else None,
        "last_admission": times[-1] if times else None,
        "busy_span_from": span_from,
    }
