"""The producer: a job's pending chunks, packed into groups, one ``embed_group`` task each.

Each group is a row, written and sent by ``groups/queue.py``. Inputs already stored are reused
first (``store/reuse.py``) and each distinct input is planned once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from django.db import transaction
from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from project.embeddings.groups.queue import (
    BULK,
    INTERACTIVE,
    groups_create,
    groups_resend,
    groups_unfinished,
    shared_with_another,
)
from project.embeddings.index import segments
from project.embeddings.jobs import tally
from project.embeddings.jobs.status import finish_if_done, pending_chunks
from project.embeddings.models import ACTIVE_STATUSES, Chunk, Document, EmbeddingJob, Lane, Status
from project.embeddings.plan.preflight import dimensions_check
from project.embeddings.store.reuse import input_hash, reuse_stored
from project.errors import GroupNeverFits
from project.provider import group_budget, interactive_max_tokens, limits
from providers import encoding_for_model, model_info
from providers.inputs import chunk_inputs
from providers.packing import Item, pack
from providers.planning import is_short

__all__ = ["PLANNABLE", "Plan", "batch_enqueue", "plan_held", "job_enqueue", "job_plan", "lane"]


@dataclass(frozen=True)
class Plan:
    groups: list[list[int]]  # chunk ids, those sharing an input together
    chunks: int  # pending chunks planned (copies of an input included)
    tokens: int  # tokens to send: each distinct input once
    inputs: int  # inputs to send
    group_tokens: list[int] = field(default_factory=list)
    reused_chunks: int = 0  # given a stored vector at planning, and copies of an input planned once
    reused_tokens: int = 0
    held: bool = False  # a short streaming job's batch: counted, its groups formed once its ingest ends


def short_job(job: EmbeddingJob, tokens: int) -> bool:
    """Whether the job goes out short: unpaced, in groups that fill a window (``providers.planning.is_short``).

    Never while another owner has work on the pool (``queue.shared_with_another``): the job has its
    fair share of the pool then, not a window of its own, and groups sized for a window (an eighth
    of it each) wait at the limiter for room that the other owner's smaller groups, paced,
    keep taking first; measured, such a job was refused for minutes.
    """
    return is_short(limits(), tokens) and not shared_with_another(job)


def job_plan(
    job: EmbeddingJob,
    *,
    covered: frozenset[int] = frozenset(),
    chunks: QuerySet[Chunk] | None = None,
    short: bool | None = None,
) -> Plan:
    """The groups the job's pending chunks make, each distinct input once, without enqueuing anything.

    Chunks sharing an input (``store.reuse.input_hash``) travel in one group, which sends the input
    once and stores its vector for all of them. ``covered`` chunks already belong to a live group;
    ``chunks`` narrows the pending chunks (a streaming ingest's latest batch). ``short``: the job
    goes out unpaced, in larger groups (``providers.planning.group_budget``); None decides it from
    what is planned (:func:`short_job`).
    """
    pending = pending_chunks(job) if chunks is None else chunks
    max_tokens = model_info(job.model).max_input_tokens
    encoding = encoding_for_model(job.model)
    by_input: dict[str, tuple[Item, list[int]]] = {}
    copies = copy_tokens = 0
    rows = pending.values_list("pk", "token_count", "content_hash")
    for pk, token_count, digest in rows.iterator(chunk_size=2000):
        if pk in covered:
            continue
        address = input_hash(digest, token_count, policy=job.long_input_policy, max_tokens=max_tokens)
        if address in by_input:
            by_input[address][1].append(pk)
            copies, copy_tokens = copies + 1, copy_tokens + token_count
            continue
        if token_count <= max_tokens:
            item = Item(pk, 1, token_count)
        else:
            text = pending.filter(pk=pk).values_list("text", flat=True).get()
            inputs = chunk_inputs(
                pk, text, token_count, policy=job.long_input_policy, max_tokens=max_tokens, encoding=encoding
            )
            item = Item(pk, len(inputs.texts), sum(inputs.tokens))
        by_input[address] = (item, [pk])
    items = [item for item, _ in by_input.values()]
    members = {item.chunk_id: chunk_ids for item, chunk_ids in by_input.values()}
    tpm = limits().tokens
    too_big = [item for item in items if item.tokens > tpm]
    if too_big:
        raise GroupNeverFits(too_big[0].chunk_id, too_big[0].tokens, tpm)
    if short is None:
        short = short_job(job, sum(item.tokens for item in items))
    groups = pack(items, budget=group_budget(short=short))
    return Plan(
        groups=[[pk for item in group for pk in members[item.chunk_id]] for group in groups],
        chunks=sum(len(chunk_ids) for chunk_ids in members.values()),
        tokens=sum(item.tokens for item in items),
        inputs=sum(item.inputs for item in items),
        group_tokens=[sum(item.tokens for item in group) for group in groups],
        reused_chunks=copies,
        reused_tokens=copy_tokens,
    )


# The statuses a job may be planned from: every one a person does not choose (a cancel is final)
PLANNABLE = frozenset({Status.QUEUED, Status.RUNNING, Status.PAUSED, Status.FAILED})
NOTHING = Plan(groups=[], chunks=0, tokens=0, inputs=0)


def job_enqueue(job: EmbeddingJob, *, statuses: frozenset[str] = PLANNABLE) -> Plan:
    """Reuse what is stored, plan the rest, record the job's totals, mark it running, enqueue after commit.

    Under the job's row lock, so two resumes at once take turns: the second finds the first's
    groups live and plans nothing twice. Pending groups are sent again (a task of one still
    queued finds it claimed or done); claimed ones are left to their holder. The status is
    checked under the lock: a job no longer in ``statuses`` (cancelled, or paused since a sweep
    read it as running) is left as it is and nothing is planned.
    A small job goes to the interactive lane: its own queue, and the share of the limit that
    bulk work leaves free, so a running backfill cannot starve it. A large one loads in bulk
    mode, outside the live index (``index/``).
    """
    dimensions_check(job.dimensions)
    with transaction.atomic():
        job = EmbeddingJob.objects.select_for_update(no_key=True).get(pk=job.pk)
        if job.status not in statuses:  # a person cancelled or paused it since the caller read it
            return NOTHING
        _load_segment_choose(job)  # first: the copies reuse writes go where the job's rows go
        reused = reuse_stored(job)
        tally.fold(job.pk)  # the totals below build on the job's counters: every tally counted first
        live = groups_unfinished(job)
        plan = job_plan(job, covered=frozenset(pk for group in live for pk in group.chunk_ids))
        totals = {}
        if job.status == EmbeddingJob.Status.QUEUED:  # the first enqueue; a resume keeps the job's totals
            totals = {
                "total_chunks": F("embedded_chunks") + plan.chunks,  # embedded so far: reused just now
                "total_tokens": reused.tokens + plan.tokens + plan.reused_tokens,
            }
        EmbeddingJob.objects.filter(pk=job.pk).update(
            status=EmbeddingJob.Status.RUNNING,
            total_groups=F("groups_done") + len(live) + len(plan.groups),
            started_at=job.started_at or timezone.now(),
            last_error="",
            **totals,
        )
        interactive = plan.tokens <= interactive_max_tokens()  # a few documents from the web, say
        paced = not short_job(job, plan.tokens)
        groups_resend(job)
        groups_create(
            job, list(zip(plan.groups, plan.group_tokens, strict=True)), interactive=interactive, paced=paced
        )
    if not plan.groups and not live:
        finish_if_done(job.pk, exact=True)
    return replace(plan, reused_chunks=plan.reused_chunks + reused.chunks, reused_tokens=plan.reused_tokens + reused.tokens)


def _load_segment_choose(job: EmbeddingJob) -> None:
    """Bulk mode for a job with many rows still to write (copies included), else the live index.

    A job still loading into an open segment keeps it (a sweep re-enqueues the last few groups).
    """
    if segments.segment_open(job.load_segment):
        return
    pending = pending_chunks(job).aggregate(chunks=Count("pk"), tokens=Sum("token_count"))
    interactive = (pending["tokens"] or 0) <= interactive_max_tokens()
    if segments.bulk_wanted(pending["chunks"], interactive=interactive):
        segments.job_segment_open(job.pk)
    else:
        segments.job_segment_live(job.pk)


def batch_enqueue(job: EmbeddingJob, documents: Sequence[Document], *, hold: bool = True) -> Plan:
    """Add documents a streaming job's ingest just stored: their chunks' groups go out when the batch commits.

    Runs inside the ingest batch's transaction (``document_ingest(on_batch=...)``), so the
    documents, the grown totals and the group rows commit together or not at all. Documents the
    job already holds add nothing (each chunk is counted once); stored vectors of the same input
    are reused, each new input is sent once; a job a person paused or cancelled meanwhile
    records its new work but sends none. The lane, pacing and bulk mode follow the job's size so
    far, or the size its ingest expects when that is more (``expected_tokens``): a job of at most
    two windows goes out unpaced, a longer one at the limit's rate from its first batch, and a
    backfill's rows load outside the live index. ``hold=False`` sends a short job's batches as
    they commit instead of planning them whole at the end: a source's followed changes, whose
    cycle may stream for seconds, are each searchable a round trip after their step.
    """
    held = set(job.documents.filter(pk__in=[document.pk for document in documents]).values_list("pk", flat=True))
    fresh = list({document.pk: document for document in documents if document.pk not in held}.values())
    member = EmbeddingJob.documents.through  # add() would look up what `held` already says
    member.objects.bulk_create([member(embeddingjob_id=job.pk, document_id=document.pk) for document in fresh])
    job = EmbeddingJob.objects.select_for_update(no_key=True).get(pk=job.pk)
    new_chunks = pending_chunks(job).filter(document__in=fresh)
    counted = new_chunks.aggregate(chunks=Count("pk"), tokens=Sum("token_count"))
    so_far = job.total_tokens + (counted["tokens"] or 0)
    chunks = job.total_chunks + counted["chunks"]
    # The job is as large as its ingest expects (file sizes), or as it has grown, whichever is more:
    # a backfill's first batches are paced and loaded in bulk like the rest of it.
    expected = max(so_far, job.expected_tokens)
    if so_far and expected > so_far:
        chunks = max(chunks, round(chunks * expected / so_far))
    interactive = expected <= interactive_max_tokens()
    if job.load_segment == 0 and segments.bulk_wanted(chunks, interactive=interactive):
        segments.job_segment_open(job.pk)  # rows stored so far stay in the live index
    reused = reuse_stored(job, chunk_ids=list(new_chunks.values_list("pk", flat=True)))
    paced = not short_job(job, expected)
    plan = job_plan(job, chunks=pending_chunks(job).filter(document__in=fresh), short=not paced)
    active = job.status in ACTIVE_STATUSES
    # A short job's batches are counted but planned whole at the end (``plan_held``): packed per
    # batch, each batch would leave a part-filled group, and one too many spills into a third window.
    held = hold and not paced and job.ingesting and job.lane == Lane.SYNC
    EmbeddingJob.objects.filter(pk=job.pk).update(
        status=EmbeddingJob.Status.RUNNING if active else job.status,
        total_chunks=F("total_chunks") + reused.chunks + plan.chunks,
        total_tokens=F("total_tokens") + reused.tokens + plan.tokens + plan.reused_tokens,
        total_groups=F("total_groups") + (0 if held else len(plan.groups)),
        started_at=Coalesce(F("started_at"), Now()),
    )
    if not held:
        sent = plan
        if job.total_groups == 0 and job.total_chunks and job.lane == Lane.SYNC:  # it grew past short: the
            sent = job_plan(job, short=False)  # batches held back so far go out with this one
            EmbeddingJob.objects.filter(pk=job.pk).update(total_groups=len(sent.groups))
        groups_create(
            job, list(zip(sent.groups, sent.group_tokens, strict=True)), interactive=interactive, paced=paced,
            send=active,
        )  # fmt: skip
    return replace(
        plan, reused_chunks=plan.reused_chunks + reused.chunks, reused_tokens=plan.reused_tokens + reused.tokens,
        held=held,
    )  # fmt: skip


def plan_held(job: EmbeddingJob) -> Plan:
    """A short streaming job's ingest has ended: plan what its batches held back, whole (``batch_enqueue``)."""
    return job_enqueue(job, statuses=frozenset({Status.QUEUED, Status.RUNNING}))


def lane(interactive: bool) -> str:
    return INTERACTIVE if interactive else BULK
