"""Forming batches: a job's pending batch-lane groups cut into batches within the API's caps.

Each group is narrowed to what is still unpaid (stored vectors of the same input are reused
first) and becomes one line of the batch's JSONL file, its ``custom_id`` the group's id.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from project.embeddings.groups import life
from project.embeddings.groups.inputs import group_inputs
from project.embeddings.jobs.status import finish_if_done
from project.embeddings.models import ACTIVE_STATUSES, Batch, BatchState, EmbeddingGroup, EmbeddingJob, GroupState, Lane
from project.embeddings.store.reuse import reuse_stored
from project.provider import BATCH_SHARE_OF_QUEUE, batch_tokens, provider_config
from providers import ProviderConfig
from providers import batch as remote

__all__ = ["FORM_AHEAD", "UPLOAD_AHEAD", "batch_content", "batch_file_name", "batches_form"]

# Batches uploaded and waiting for room, at most: a full queue's worth, so when the batches in
# flight end together their room is filled at once; the rest are not yet built.
UPLOAD_AHEAD = BATCH_SHARE_OF_QUEUE
FORM_AHEAD = UPLOAD_AHEAD + 2  # a job's batches formed and not yet submitted, at most


def batches_form(job: EmbeddingJob) -> list[Batch]:
    """Cut the job's pending batch-lane groups into batches within the caps; returns the new ones.

    While the job still ingests, only full batches are formed (the rest waits for more groups or
    the end of the ingest), so a streaming backfill does not turn into many small batches. At
    most ``FORM_AHEAD`` of the job's batches wait unsubmitted: a huge backfill is cut as it goes,
    and each poll stays short.
    """
    config = provider_config(job.model, job.dimensions)
    budget = batch_tokens()
    formed: list[Batch] = []
    while True:
        with transaction.atomic():
            job = EmbeddingJob.objects.select_for_update(no_key=True).get(pk=job.pk)
            unsubmitted = job.batches.filter(state__in=(BatchState.PREPARING, BatchState.UPLOADING, BatchState.UPLOADED))
            if job.status not in ACTIVE_STATUSES or unsubmitted.count() >= FORM_AHEAD:
                return formed
            pending = job.groups.filter(lane=Lane.BATCH, state=GroupState.PENDING, batch__isnull=True)
            chosen, tokens, full = [], 0, False
            for group in pending.order_by("pk").iterator(chunk_size=500):
                if chosen and (
                    tokens + group.tokens > budget
                    or len(chosen) >= remote.MAX_BATCH_REQUESTS
                ):
                    full = True
                    break
                chosen.append(group)
                tokens += group.tokens
            if not chosen or (job.ingesting and not full and tokens < budget):
                return formed
            batch = _batch_make(job, chosen, config)
            if batch is not None:
                formed.append(batch)


def _batch_make(job: EmbeddingJob, chosen: list[EmbeddingGroup], config: ProviderConfig) -> Batch | None:
    """A ``preparing`` batch of ``chosen``: each group narrowed to what is still unpaid, its line measured.

    Groups whose inputs were all stored meanwhile are done at once. Lines that would take the
    batch past the API's input or byte caps are left pending for the next batch.
    """
    batch = Batch.objects.create(job=job, key=uuid.uuid4().hex)
    requests = inputs = tokens = size = 0
    for group in chosen:
        reuse_stored(job, chunk_ids=group.chunk_ids)
        todo = group_inputs(job, group.chunk_ids)
        if not todo:
            life.finish_pending(group)
            continue
        texts = [text for send in todo for text in send.inputs.texts]
        line = len(remote.request_line(str(group.pk), config, texts))
        if requests and (inputs + len(texts) > remote.MAX_BATCH_INPUTS or size + line > remote.MAX_BATCH_BYTES):
            break
        sent = sum(t for send in todo for t in send.inputs.tokens)
        chunk_ids = [pk for send in todo for pk in send.chunk_ids]
        if not life.batch_take(group, batch_id=batch.pk, key=batch.key, chunk_ids=chunk_ids, tokens=sent):
            continue  # not pending any more (its job was resumed onto the sync lane, say)
        requests, inputs, tokens, size = requests + 1, inputs + len(texts), tokens + sent, size + line
    if not requests:
        batch.delete()
        finish_if_done(job.pk, exact=True)
        return None
    Batch.objects.filter(pk=batch.pk).update(requests=requests, inputs=inputs, tokens=tokens)
    batch.refresh_from_db()
    return batch


def batch_content(batch: Batch, config: ProviderConfig) -> bytes:
    """The batch's JSONL: one line per group, rebuilt from its rows the same way every time."""
    lines = []
    for group in batch.groups.order_by("pk"):
        todo = group_inputs(batch.job, group.chunk_ids, pending_only=False)
        lines.append(remote.request_line(str(group.pk), config, [t for send in todo for t in send.inputs.texts]))
    return b"".join(lines)


def batch_file_name(batch: Batch) -> str:
    return f"tollgate-{batch.key}.jsonl"
