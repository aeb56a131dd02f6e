"""What the sweep does to jobs: re-enqueue lost groups, re-plan orphaned jobs, end ingests whose process died."""

from __future__ import annotations

from project.embeddings.groups import fairshare
from project.embeddings.groups.sweep import groups_sweep
from project.embeddings.jobs import tally
from project.embeddings.jobs.ingesting import ingests_gone
from project.embeddings.jobs.status import finish_if_done, pending_chunks
from project.embeddings.models import UNFINISHED_GROUP_STATES, EmbeddingJob
from project.embeddings.plan.enqueue import job_enqueue

__all__ = ["sweep_stalled"]


def sweep_stalled(stall_seconds: float = 0.0, *, job_id: int | None = None) -> list[int]:
    """Re-enqueue the groups whose lease ran out (a worker killed with its task, a broker that lost it).

    The database is the truth: a group waiting its turn, a cooldown or a retry's ETA holds a
    lease covering the wait and is left alone (``groups/sweep.py``). A running job left with
    pending chunks and no live group (rows from before groups existed) is planned again. A job
    whose streaming ingest died with its process is failed, resumable (``jobs/ingesting.py``). Tallies
    no worker folded (its job ended, its worker stopped) are folded.
    Returns the ids of the swept groups. ``stall_seconds`` is kept for callers; leases decide.
    """
    ingests_gone()
    tally.fold_stale()
    swept = groups_sweep(job_id=job_id)
    fairshare.dispatch()  # held groups whose owner's turn came while no worker finished one (groups/fairshare.py)
    orphans = EmbeddingJob.objects.filter(status=EmbeddingJob.Status.RUNNING).exclude(
        groups__state__in=UNFINISHED_GROUP_STATES
    )
    if job_id is not None:
        orphans = orphans.filter(pk=job_id)
    for job in orphans:
        # A job whose last group just committed looks orphaned until its last task marks it
        # complete. Re-planning it would hold its row lock over a scan of every chunk (seconds
        # for a large backfill) while that task waits to complete it; the check is cheap.
        if pending_chunks(job).exists():
            job_enqueue(job, statuses=frozenset({EmbeddingJob.Status.RUNNING}))  # never un-pauses
        else:
            finish_if_done(job.pk, exact=True)
    return swept
