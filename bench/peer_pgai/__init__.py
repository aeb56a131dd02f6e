"""A peer on the same corpus, simulator and PostgreSQL: Timescale's pgai vectorizer worker (0.12.1).

:func:`run_pgai` loads a folder of ``.txt`` files (one document each) into a table of its own,
``peer_pgai.documents (id, text)``; installs pgai's catalog (``pgai install``: the ``ai``
schema, and the ``vector`` extension if missing); creates a vectorizer over the table; runs
``python -m pgai vectorizer worker`` until every row has its embedding; stops it. pgai lives in a
virtualenv of its own outside the project (:func:`ensure_venv`, made on first use) and runs as a
subprocess: nothing of it is imported here. Nothing of tollgate's is touched: the source
table, pgai's embeddings table (``documents_embedding_store``) and its queue tables live in the
``peer_pgai`` schema, dropped with the vectorizer before each run (and after it unless
``keep``); only pgai's catalog, the ``ai`` schema, stays.

The vectorizer is pgai's defaults except where the comparison needs a choice:
``ai.loading_column('text')``; ``ai.chunking_none()`` (the whole document is one chunk);
``ai.formatting_python_template('$chunk')`` (the text alone, as tollgate sends it);
``ai.embedding_openai(model, dimensions, base_url => ...)``, the key from ``OPENAI_API_KEY`` in
the worker's environment. pgai's batches stay its own: 50 rows per transaction, one request each. pgai does not deduplicate:
a corpus's exact duplicates are embedded, and paid, once per row (``truth`` counts them apart).
``wall_seconds`` starts with the worker's process, so it holds its start-up (imports: a few
seconds, ``first_row_seconds``); the simulator's busy span (first to last admission) does not.
``ai.indexing_default()`` resolves to ``indexing_none`` without TimescaleDB's scheduler (it must,
with ``scheduling_none``): pgai builds no HNSW index here (``PeerRun.indexing`` says what it
chose). The worker polls every second (``--poll-interval 1``) instead of every 5 minutes,
because it also waits that long after a failed batch before it looks at the queue again.

What pgai does on a 429 (read in 0.12.1, seen against the simulator): it has no limiter of its
own and sends as fast as its executors go, so it fills a window at once and is refused. The
openai SDK client it makes (``max_retries=3``) waits what ``retry-after-ms`` / ``retry-after``
say when at most 60 s (else 0.5 s doubling up to 8 s) and sends the same request again, three
times at most. At a limit pgai's pace only grazes, every 429 went through on a retry; at a
limit well below its pace, a fourth 429 fails the batch: its transaction rolls back (the rows
stay queued, so nothing is lost or stored twice), that executor stops for the rest of the pass
(fewer requests in flight), the error goes to ``ai.vectorizer_errors`` (``PeerRun.errors``),
the other executors take the rows again, and once they have drained the queue the worker
sleeps ``--poll-interval`` and starts a new pass with all of them. A 429 is never paid (the
simulator admits nothing for it); no input was paid twice in any run.

Example::

    run = run_pgai(database_url=url, base_url=simulator_url, api_key="sk-peer",
                   model="text-embedding-3-small", dimensions=1536, corpus=Path("/tmp/short70"),
                   concurrency=4, timeout=900)
    run.wall_seconds, run.embedded, run.errors

``uv run python -m bench.peer_pgai --help`` runs it alone and adds the simulator's ``/stats``.
"""

from bench.peer_pgai.run import PeerRun, run_pgai
from bench.peer_pgai.venv import PGAI_VERSION, PeerVenv, ensure_venv

__all__ = ["PGAI_VERSION", "PeerRun", "PeerVenv", "ensure_venv", "run_pgai"]
