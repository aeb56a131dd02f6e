"""Inputs in flight: a group claims the addresses it sends, so another group of the owner waits instead of paying.

Reuse (``reuse.py``) copies a vector already stored; it cannot see one still on its way. Two
groups holding the same new input (two ingest batches of one streaming job, two jobs of one
owner at once) would both pay for it. So before its call a group claims its inputs' addresses
(:class:`~project.embeddings.models.InputClaim`, one statement): it sends those it got, and for
the others, claimed by a group already sending them, it comes back a moment later, when reuse
finds their vectors stored. A claim holds for the group's call and goes with its next change
(``groups/life.py``); a claim whose group died runs out with its lease and may be taken.

Example::

    mine, waiting = claim_inputs(job, group, todo)
    if not mine:
        return later(group, WAIT_FOR_ANOTHER)
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from project.embeddings.groups.inputs import Send
from project.embeddings.models import EmbeddingGroup, EmbeddingJob, InputClaim
from project.provider import lease_seconds

__all__ = ["WAIT_FOR_ANOTHER", "claim_inputs"]

WAIT_FOR_ANOTHER = 1.0  # seconds a group waits for inputs another group is sending: about one request

CLAIM_SQL = """
    INSERT INTO {claims} (owner_id, model, dimensions, address, group_id, lease_until)
    SELECT %(owner)s, %(model)s, %(dimensions)s, address, %(group)s, now() + %(lease)s * interval '1 second'
    FROM unnest(%(addresses)s::text[]) AS address
    ON CONFLICT (owner_id, model, dimensions, address) DO UPDATE
        SET group_id = EXCLUDED.group_id, lease_until = EXCLUDED.lease_until
        WHERE {claims}.lease_until < now() OR {claims}.group_id = EXCLUDED.group_id
    RETURNING address
"""


def claim_inputs(job: EmbeddingJob, group: EmbeddingGroup, todo: Sequence[Send]) -> tuple[list[Send], list[Send]]:
    """Claim the addresses of ``todo`` for ``group``: (the sends it may make, those another group is sending)."""
    if not todo:
        return [], []
    params = {
        "owner": job.owner_id,
        "model": job.model,
        "dimensions": job.dimensions,
        "group": group.pk,
        "lease": lease_seconds(),
        "addresses": [send.address for send in todo],
    }
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL.format(claims=InputClaim._meta.db_table), params)
        claimed = {address for (address,) in cursor.fetchall()}
    return [s for s in todo if s.address in claimed], [s for s in todo if s.address not in claimed]
