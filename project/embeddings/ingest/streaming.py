"""A job that embeds while it ingests: each ingest batch's groups are sent as the batch commits.

The job is made first, marked ``ingesting``; every batch of documents that commits joins it
with its chunks' groups (``plan/enqueue.py``: ``batch_enqueue``), so workers start on the first batch
while the files after it are still being read. The job cannot complete while ``ingesting``
holds (``jobs/status.py``: ``finish_if_done``), so its totals only grow until the ingest has ended.

An error midway leaves the batches before it committed and consistent (documents, chunks,
totals and sent groups commit together), the job failed with a one-line reason, and nothing
paid for lost: running the same command again reuses the stored documents and embeddings,
and ``tollgate resume JOB`` embeds what the failed job holds.

Example::

    job = job_create(documents=[], ingesting=True)
    report = job_ingest(job=job, paths=[Path("notes/")])  # workers embed as it goes
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Unpack

from project.embeddings.ingest.documents import IngestOptions, IngestReport, TextInput, document_ingest, files_ingest
from project.embeddings.jobs.ingesting import INGEST_LOCK, ingest_end
from project.embeddings.locks import advisory_lock
from project.embeddings.models import Document, EmbeddingJob
from project.embeddings.plan.enqueue import batch_enqueue, plan_held
from project.errors import IngestStopped, TollgateError

__all__ = ["job_ingest"]

INTERRUPTED = "ingest interrupted"


class Interrupted(TollgateError):
    """The caller asked the ingest to stop (``stop`` set): the batch in hand is rolled back."""


def job_ingest(
    *,
    job: EmbeddingJob,
    paths: Sequence[Path] = (),
    texts: Iterable[TextInput] = (),
    stop: threading.Event | None = None,
    **options: Unpack[IngestOptions],
) -> IngestReport:
    """Ingest files and texts into ``job`` (made with ``ingesting=True``), enqueuing each batch as it commits.

    Returns the ingest's report once its last batch has committed and the job may complete.
    Raises :class:`IngestStopped` (the cause chained) when ingest fails midway, or when ``stop``
    is set (checked before each batch commits).
    """

    held = []

    def on_batch(documents: list[Document]) -> None:
        if stop is not None and stop.is_set():
            raise Interrupted("the run was interrupted")
        held.append(batch_enqueue(job, documents).held)

    error = INTERRUPTED  # unless the ingest ends, or fails with a reason
    # Held for the ingest's whole run: if this process dies, PostgreSQL frees it with the
    # session, and the sweep ends the job's ingest (ingests_gone) instead of it waiting forever.
    with advisory_lock(INGEST_LOCK, job.pk):
        try:
            report = files_ingest(paths=paths, on_batch=on_batch, **options) if paths else IngestReport()
            if texts:
                report.merge(document_ingest(texts=texts, on_batch=on_batch, **options))
            if any(held):  # a short job: its groups formed whole, now that all of it is stored
                plan_held(job)
            error = ""
            return report
        except Exception as exc:  # any cause: the job must not wait for an ingest that is gone
            reason = " ".join(str(exc).split()) or type(exc).__name__
            committed = job.documents.count()  # the batches before the failing one
            error = f"ingest stopped after {committed} documents: {reason}"
            raise IngestStopped(job.pk, committed, reason) from exc
        finally:
            ingest_end(job.pk, error=error)
