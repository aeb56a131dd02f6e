"""The producer: a job's pending chunks, packed into groups, one ``embed_group`` task each.

Only ids travel in a task; the worker re-reads the rows. Tasks are sent by name through the
Celery app after the transaction commits, so a worker never looks for a job or chunk that is
not yet visible, and this room never imports the workers'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from project.celery import EMBED_GROUP, app
from project.errors import GroupNeverFits
from project.provider import group_budget, interactive_max_tokens, limits
from providers import encoding_for_model, model_info
from providers.inputs import chunk_inputs
from providers.packing import Item, pack

from . import jobs
from .models import ACTIVE_STATUSES, Chunk, Document, EmbeddingJob

BULK, INTERACTIVE = "bulk", "interactive"  # the lanes' queues
# A job of at most this many windows' tokens has no steady state: it goes unpaced, using the
# window's free capacity at once (two windows' tokens then take one window, not two).
SHORT_JOB_WINDOWS = 2


@dataclass(frozen=True)
class Plan:
    groups: list[list[int]]
    chunks: int
    tokens: int
    inputs: int


def job_plan(job: EmbeddingJob) -> Plan:
    """The groups the job's pending chunks make, without enqueuing anything (``--dry-run``)."""
    return _plan(job, jobs.pending_chunks(job))


def _plan(job: EmbeddingJob, chunks: QuerySet[Chunk]) -> Plan:
    max_tokens = model_info(job.model).max_input_tokens
    encoding = encoding_for_model(job.model)
    items = []
    for pk, token_count in chunks.values_list("pk", "token_count").iterator(chunk_size=2000):
        if token_count <= max_tokens:
            items.append(Item(pk, 1, token_count))
            continue
        text = chunks.filter(pk=pk).values_list("text", flat=True).get()
        inputs = chunk_inputs(
            pk, text, token_count, policy=job.long_input_policy, max_tokens=max_tokens, encoding=encoding
        )
        items.append(Item(pk, len(inputs.texts), sum(inputs.tokens)))
    tpm = limits().tokens
    too_big = [item for item in items if item.tokens > tpm]
    if too_big:
        raise GroupNeverFits(too_big[0].chunk_id, too_big[0].tokens, tpm)
    groups = pack(items, budget=group_budget())
    return Plan(
        groups=[[item.chunk_id for item in group] for group in groups],
        chunks=len(items),
        tokens=sum(item.tokens for item in items),
        inputs=sum(item.inputs for item in items),
    )


def job_enqueue(job: EmbeddingJob) -> Plan:
    """Plan the job, record its totals, mark it running and enqueue its groups after commit.

    A small job goes to the interactive lane: its own queue, and the share of the limit that
    bulk work leaves free, so a running backfill cannot starve it.
    """
    plan = job_plan(job)
    totals = {}
    if job.status == EmbeddingJob.Status.QUEUED:  # the first enqueue; a resume keeps the job's totals
        totals = {"total_chunks": plan.chunks, "total_tokens": plan.tokens}
    with transaction.atomic():
        EmbeddingJob.objects.filter(pk=job.pk).update(
            status=EmbeddingJob.Status.RUNNING,
            total_groups=F("groups_done") + len(plan.groups),
            started_at=job.started_at or timezone.now(),
            last_error="",
            **totals,
        )
        interactive = plan.tokens <= interactive_max_tokens()  # a few documents from the web, say
        paced = plan.tokens > SHORT_JOB_WINDOWS * limits().tokens
        for group in plan.groups:
            transaction.on_commit(
                lambda group=group: group_send(job.pk, group, interactive=interactive, paced=paced)
            )
    if not plan.groups:
        jobs.finish_if_done(job.pk, exact=True)
    return plan


def batch_enqueue(job: EmbeddingJob, documents: Sequence[Document]) -> Plan:
    """Add documents a streaming job's ingest just stored: their chunks' groups go out when the batch commits.

    Runs inside the ingest batch's transaction (``document_ingest(on_batch=...)``), so the
    documents, the grown totals and the groups commit together or not at all. Documents the
    job already holds add nothing (each chunk is counted once); a job a person paused or
    cancelled meanwhile records its new work but sends none. The lane and pacing follow the
    job's tokens so far: its first window's worth goes out unpaced, the rest at the limit's rate.
    """
    held = set(job.documents.filter(pk__in=[document.pk for document in documents]).values_list("pk", flat=True))
    fresh = list({document.pk: document for document in documents if document.pk not in held}.values())
    member = EmbeddingJob.documents.through  # add() would look up what `held` already says
    member.objects.bulk_create([member(embeddingjob_id=job.pk, document_id=document.pk) for document in fresh])
    plan = _plan(job, jobs.pending_chunks(job).filter(document__in=fresh))
    row = EmbeddingJob.objects.select_for_update().filter(pk=job.pk).values("status", "total_tokens").get()
    active = row["status"] in ACTIVE_STATUSES
    EmbeddingJob.objects.filter(pk=job.pk).update(
        status=EmbeddingJob.Status.RUNNING if active else row["status"],
        total_chunks=F("total_chunks") + plan.chunks,
        total_tokens=F("total_tokens") + plan.tokens,
        total_groups=F("total_groups") + len(plan.groups),
        started_at=Coalesce(F("started_at"), Now()),
    )
    so_far = row["total_tokens"] + plan.tokens
    interactive = so_far <= interactive_max_tokens()
    paced = so_far > SHORT_JOB_WINDOWS * limits().tokens
    for group in plan.groups if active else ():
        transaction.on_commit(lambda group=group: group_send(job.pk, group, interactive=interactive, paced=paced))
    return plan


def lane(interactive: bool) -> str:
    return INTERACTIVE if interactive else BULK


def group_send(job_id: int, chunk_ids: list[int], *, interactive: bool, paced: bool = True) -> None:
    """Enqueue one group on its lane's queue (also how a task sends the halves of a split group)."""
    kwargs = {"interactive": interactive, "paced": paced}
    app.send_task(EMBED_GROUP, (job_id, chunk_ids), kwargs, queue=lane(interactive))


def sweep_stalled(stall_seconds: float, *, job_id: int | None = None) -> list[int]:
    """Re-enqueue the pending work of running jobs that made no progress for ``stall_seconds``.

    A worker killed with its tasks, or a broker that lost its queue, leaves chunks that no
    task will ever embed; the database still knows them. Returns the ids of the swept jobs.
    """
    stalled = jobs.stalled(stall_seconds)
    if job_id is not None:
        stalled = stalled.filter(pk=job_id)
    swept = []
    for job in stalled:
        EmbeddingJob.objects.filter(pk=job.pk).update(progressed_at=timezone.now())
        job_enqueue(job)
        swept.append(job.pk)
    return swept
