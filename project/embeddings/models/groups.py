"""Request groups: the unit of claiming, sweeping and retrying (changed only by ``groups/life.py``)."""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from .jobs import EmbeddingJob, Lane


class EmbeddingGroup(models.Model):
    """One request's worth of a job's chunks: the unit of claiming, sweeping and retrying.

    A task claims the row with one conditional UPDATE before it calls the provider
    (``groups/life.py``: ``claim``); ``lease_until`` is on the database's clock and covers whatever the
    holder is doing or has scheduled (a call, a retry's wait, a place in the queue), so the
    sweep re-enqueues only a group whose lease expired. ``expirations`` counts the leases that
    ran out while claimed (the holder died or hung): a group that keeps doing so pauses its job.
    """

    class State(models.TextChoices):
        PENDING = "pending"
        CLAIMED = "claimed"
        DONE = "done"
        FAILED = "failed"

    job = models.ForeignKey(EmbeddingJob, on_delete=models.CASCADE, related_name="groups")
    lane = models.CharField(max_length=10, choices=Lane.choices, default=Lane.SYNC)
    batch = models.ForeignKey(
        "Batch", null=True, blank=True, on_delete=models.SET_NULL, related_name="groups",
        help_text="The batch lane's batch that carries it (its line's custom_id is the group's id).",
    )
    chunk_ids = ArrayField(models.BigIntegerField())
    tokens = models.PositiveIntegerField(help_text="Tokens sent: each distinct input once.")
    interactive = models.BooleanField(default=False)
    paced = models.BooleanField(default=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Times claimed.")
    expirations = models.PositiveIntegerField(default=0, help_text="Leases that ran out while claimed.")
    lease_until = models.DateTimeField(null=True, blank=True)
    holder = models.CharField(max_length=64, blank=True, default="", help_text="The claiming task's id.")
    deployment = models.CharField(
        max_length=40, blank=True, default="", help_text="The pool's deployment that served it (TOLLGATE_DEPLOYMENTS)."
    )
    held = models.BooleanField(
        default=False, help_text="Not sent to the workers yet: it waits for its owner's turn (groups/fairshare.py)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "lease_until"], name="group_state_lease"),
            models.Index(fields=["job", "id"], name="group_held", condition=models.Q(held=True)),
            models.Index(
                fields=["job"], name="group_sent", condition=models.Q(held=False, state__in=["pending", "claimed"])
            ),
        ]

    def __str__(self) -> str:
        return f"group {self.pk} of job {self.job_id} ({self.state})"


GroupState = EmbeddingGroup.State
UNFINISHED_GROUP_STATES = frozenset({GroupState.PENDING, GroupState.CLAIMED})
