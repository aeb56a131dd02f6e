"""The web app's submissions: texts stored and a job started over them, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from project.embeddings.budget import budget_check
from project.embeddings.ingest.documents import IngestReport, TextInput, document_ingest
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.jobs.sending import committed_then_sent
from project.embeddings.models import EmbeddingJob, Lane
from project.embeddings.plan.enqueue import NOTHING, Plan

__all__ = ["Submission", "documents_submit"]


@dataclass(frozen=True)
class Submission:
    job: EmbeddingJob
    report: IngestReport
    plan: Plan
    replayed: bool = False  # the same Idempotency-Key came before: this is the job it made


def documents_submit(
    *,
    texts: Sequence[tuple[str, TextInput]],
    owner: AbstractBaseUser,
    model: str | None = None,
    idempotency_key: str = "",
    lane: str = Lane.SYNC,
) -> Submission:
    """Store (collection, text) pairs of ``owner`` and start one job over them, all or nothing.

    Everything is written in one transaction; the job's tasks are sent after it commits (the
    producer uses ``delay_on_commit``), so a worker never looks for a row that is not there and
    a failure (a chunk larger than the limit, a spent daily budget) leaves nothing behind and
    calls no provider. A broker that is down once it has committed does not undo the answer:
    the job exists, and the sweep sends its tasks (``sending.py``). The owner's row is locked first: one owner's submissions take turns, so
    two identical uploads at once store the text once, and two cannot share the last of a budget.
    An ``idempotency_key`` seen before for this owner returns the job it made, and nothing new
    is stored or sent (a client retrying a POST whose answer it lost).

    Example::

        submission = documents_submit(texts=[("default", TextInput("Hello.", source="hello.txt"))], owner=user)
        submission.job.status  # "running"
    """
    by_collection: dict[str, list[TextInput]] = {}
    for collection, item in texts:
        by_collection.setdefault(collection, []).append(item)
    report = IngestReport()
    with committed_then_sent(f"a submission of user {owner.pk}") as sending:
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        if idempotency_key:
            earlier = EmbeddingJob.objects.filter(owner=owner, idempotency_key=idempotency_key).first()
            if earlier is not None:
                report = IngestReport(documents=list(earlier.documents.all()), duplicates=earlier.documents.count())
                return Submission(job=earlier, report=report, plan=NOTHING,
                                  replayed=True)  # fmt: skip
        for collection, items in by_collection.items():
            report.merge(document_ingest(texts=items, collection=collection, model=model, owner=owner))
        job = job_create(
            documents=report.documents, model=model, owner=owner, idempotency_key=idempotency_key, lane=lane
        )
        sending.what = f"job {job.pk}"
        plan = job_start(job=job)
        budget_check(owner=owner, tokens=plan.tokens, exclude_job=job.pk)  # a refusal rolls back the enqueue too
    job.refresh_from_db()
    return Submission(job=job, report=report, plan=plan)
