"""The producer: a job's pending chunks, packed into groups, one ``embed_group`` task each.

Each group is a row (``groups.py``); only its id travels in a task and the worker re-reads the
rows. Tasks are sent by name through the Celery app after the transaction commits, so a worker
never looks for a job or chunk that is not yet visible, and this room never imports the
workers'. Inputs already stored are reused first (``reuse.py``) and each distinct input is
planned once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from project.errors import GroupNeverFits
from project.provider import group_budget, interactive_max_tokens, limits
from providers import encoding_for_model, model_info
from providers.inputs import chunk_inputs
from providers.packing import Item, pack

from . import groups, indexing, jobs
from .groups import BULK, INTERACTIVE
from .models import UNFINISHED_GROUP_STATES, EmbeddingJob
from .preflight import dimensions_check
from .reuse import input_hash, reuse_stored

# A job of at most this many windows' tokens has no steady state: it goes unpaced, using the
# window's free capacity at once (two windows' tokens then take one window, not two).
SHORT_JOB_WINDOWS = 2


@dataclass(frozen=True)
class Plan:
    groups: list[list[int]]  # chunk ids, those sharing an input together
    chunks: int  # pending chunks planned (copies of an input included)
    tokens: int  # tokens to send: each distinct input once
    inputs: int  # inputs to send
    group_tokens: list[int] = field(default_factory=list)
    reused_chunks: int = 0  # given a stored vector at planning, and copies of an input planned once
    reused_tokens: int = 0


def job_plan(job: EmbeddingJob, *, covered: frozenset[int] = frozenset()) -> Plan:
    """The groups the job's pending chunks make, each distinct input once, without enqueuing anything.

    Chunks sharing an input (``reuse.input_hash``) travel in one group, which sends the input
    once and stores its vector for all of them. ``covered`` chunks already belong to a live group.
    """
    max_tokens = model_info(job.model).max_input_tokens
    encoding = encoding_for_model(job.model)
    by_input: dict[str, tuple[Item, list[int]]] = {}
    copies = copy_tokens = 0
    rows = jobs.pending_chunks(job).values_list("pk", "token_count", "content_hash")
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
            text = jobs.pending_chunks(job).filter(pk=pk).values_list("text", flat=True).get()
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
    groups = pack(items, budget=group_budget())
    return Plan(
        groups=[[pk for item in group for pk in members[item.chunk_id]] for group in groups],
        chunks=sum(len(chunk_ids) for chunk_ids in members.values()),
        tokens=sum(item.tokens for item in items),
        inputs=sum(item.inputs for item in items),
        group_tokens=[sum(item.tokens for item in group) for group in groups],
        reused_chunks=copies,
        reused_tokens=copy_tokens,
    )


def job_enqueue(job: EmbeddingJob) -> Plan:
    """Reuse what is stored, plan the rest, record the job's totals, mark it running, enqueue after commit.

    Under the job's row lock, so two resumes at once take turns: the second finds the first's
    groups live and plans nothing twice. Pending groups are sent again (a task of one still
    queued finds it claimed or done); claimed ones are left to their holder.
    A small job goes to the interactive lane: its own queue, and the share of the limit that
    bulk work leaves free, so a running backfill cannot starve it. A large one loads in bulk
    mode, outside the live index (``indexing.py``).
    """
    dimensions_check(job.dimensions)
    with transaction.atomic():
        job = EmbeddingJob.objects.select_for_update().get(pk=job.pk)
        _load_segment_choose(job)  # first: the copies reuse writes go where the job's rows go
        reused = reuse_stored(job)
        live = groups.groups_unfinished(job)
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
        paced = plan.tokens > SHORT_JOB_WINDOWS * limits().tokens
        groups.groups_resend(job)
        groups.groups_create(
            job, list(zip(plan.groups, plan.group_tokens, strict=True)), interactive=interactive, paced=paced
        )
    if not plan.groups and not live:
        jobs.finish_if_done(job.pk, exact=True)
    return replace(plan, reused_chunks=plan.reused_chunks + reused.chunks, reused_tokens=plan.reused_tokens + reused.tokens)


def _load_segment_choose(job: EmbeddingJob) -> None:
    """Bulk mode for a job with many rows still to write (copies included), else the live index."""
    pending = jobs.pending_chunks(job).aggregate(chunks=Count("pk"), tokens=Sum("token_count"))
    interactive = (pending["tokens"] or 0) <= interactive_max_tokens()
    if indexing.bulk_wanted(pending["chunks"], interactive=interactive):
        indexing.job_segment_open(job.pk)
    else:
        indexing.job_segment_live(job.pk)


def lane(interactive: bool) -> str:
    return INTERACTIVE if interactive else BULK


def sweep_stalled(stall_seconds: float = 0.0, *, job_id: int | None = None) -> list[int]:
    """Re-enqueue the groups whose lease ran out (a worker killed with its task, a broker that lost it).

    The database is the truth: a group waiting its turn, a cooldown or a retry's ETA holds a
    lease covering the wait and is left alone (``groups.groups_sweep``). A running job left with
    pending chunks and no live group (rows from before groups existed) is planned again.
    Returns the ids of the swept groups. ``stall_seconds`` is kept for callers; leases decide.
    """
    swept = groups.groups_sweep(job_id=job_id)
    orphans = EmbeddingJob.objects.filter(status=EmbeddingJob.Status.RUNNING).exclude(
        groups__state__in=UNFINISHED_GROUP_STATES
    )
    if job_id is not None:
        orphans = orphans.filter(pk=job_id)
    for job in orphans:
        job_enqueue(job)
    return swept
