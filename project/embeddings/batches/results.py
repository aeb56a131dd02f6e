"""A finished batch's results stored through the sync lane's write path; what never ran is sent on.

Lines are matched by ``custom_id`` (the group's id), a line's vectors to its inputs by what the
input file sent (``matching.py``: never by position, so a document deleted meanwhile shifts
nothing), and stored exactly once (``store/write.py``: reuse, bulk mode, counters); failed lines
fail their chunks (those still there) with the API's message; lines an expired or cancelled
batch never ran go into a new batch or onto the sync lane (``TOLLGATE_BATCH_FALLBACK``).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from project.embeddings.batches.driver import DriveReport, step
from project.embeddings.batches.matching import line_inputs, sent_digests
from project.embeddings.batches.steps import Client, chunks_present, record
from project.embeddings.groups import life
from project.embeddings.groups.queue import groups_resend
from project.embeddings.jobs.counters import count, fail_chunks
from project.embeddings.locks import advisory_lock
from project.embeddings.models import Batch, BatchState, EmbeddingGroup, EmbeddingJob, GroupState, Lane, Status
from project.embeddings.store.write import store_paid
from project.provider import batch_fallback
from providers import ProviderConfig
from providers import batch as remote

__all__ = ["batch_store"]

STORE_LOCK = 0x7467_6201  # an int, with a batch's id: one task storing each batch
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled"})


def batch_store(batch_id: int) -> bool:
    """Store a finished batch's results (``finished`` → ``done``); False if another task is storing it.

    A task lost with its worker is sent again by a later poll (``STORE_RESEND_SECONDS``); one
    that dies midway leaves the batch ``finished``, and the next stores only what is not stored
    yet (each stored line's group is done).
    """
    with advisory_lock(STORE_LOCK, batch_id) as held:
        if not held:
            return False
        batch = Batch.objects.select_related("job").filter(pk=batch_id, state=BatchState.FINISHED).first()
        if batch is not None:
            step(batch, DriveReport(), results_store)
        return True


def results_store(batch: Batch, client: Client, config: ProviderConfig) -> None:
    """Store each line's vectors (matched by ``custom_id``, then by input), fail failed lines, send on what never ran."""
    state = remote.retrieve(client, config, batch.batch_id)
    job = EmbeddingJob.objects.get(pk=batch.job_id)
    waiting = {str(group.pk): group for group in batch.groups.filter(state=GroupState.CLAIMED)}
    sent = sent_digests(client, config, batch.file_id, waiting) if waiting else {}
    not_run: list[EmbeddingGroup] = []
    for line in remote.results(client, config, state):
        group = waiting.pop(line.custom_id, None)
        if group is None:  # stored by an earlier driver that died midway, or not ours
            continue
        if line.vectors is not None:  # the sync lane's write path; paid on the batch lane
            matched = line_inputs(job, group, None if sent is None else sent.get(line.custom_id), line.vectors)
            if matched is None:  # its input file is gone and its rows changed: which vector is whose is unknown
                count(job.pk, requests=1, embedded_tokens=line.total_tokens, batch_tokens=line.total_tokens)
                not_run.append(group)  # paid, but sent again rather than stored to the wrong chunks
                continue
            todo, vectors = matched
            store_paid(job, group, todo, vectors, line.total_tokens, batch=True)
        elif line.code in NOT_RUN_CODES:
            not_run.append(group)
        else:
            reason = line.error or f"the Batch API answered {line.status_code} for this request"
            fail_chunks(job.pk, chunks_present(group.chunk_ids), reason)
            life.fail(group)
    not_run += waiting.values()  # in neither file: it never ran
    send_on(batch, job, not_run)
    record(batch, state=BatchState.DONE, finished_at=timezone.now(), last_error="")
    for file_id in (batch.file_id, state.output_file_id, state.error_file_id):  # the account's storage
        if file_id:
            remote.delete_file(client, config, file_id)


def send_on(batch: Batch, job: EmbeddingJob, not_run: list[EmbeddingGroup]) -> None:
    """Lines an expired or cancelled batch never ran: into the next batch, or onto the sync lane."""
    if not not_run:
        return
    ids = [group.pk for group in not_run]
    if job.status != Status.CANCELLED and batch_fallback() == "sync":
        with transaction.atomic():
            life.batch_return(batch.pk, group_ids=ids, lane=Lane.SYNC)
            groups_resend(EmbeddingJob.objects.get(pk=job.pk))
        return
    life.batch_return(batch.pk, group_ids=ids)
