"""A transaction whose tasks go out after it commits, where a broker that refuses them is no failure of the caller's.

The rows are the truth: a group whose task never reached the broker holds a lease that runs
out like a lost task's, and the sweep (``groups/sweep.py``, run by beat) sends it then. So once
the transaction has committed, a broker that is down must not turn the answer into an error: a
client told "500" for a job that exists retries, and makes a second one. An error before the
commit is still an error, and nothing was stored. The first refused send ends the sending
(Django drops the callbacks after one that raises), which is what we want: each would wait for
the broker's retries in turn.

Example::

    with committed_then_sent("a resume") as sending:
        sending.what = f"job {job_resume(job_id=7).pk}'s resume"
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction
from kombu.exceptions import OperationalError

__all__ = ["BROKER_DOWN", "Sending", "committed_then_sent"]

logger = logging.getLogger(__name__)

BROKER_DOWN: tuple[type[Exception], ...] = (OperationalError,)  # what Celery raises once its publish retries are spent


@dataclass
class Sending:
    what: str  # the work, as the warning names it; the body may set it once it knows ("job 7")
    body_ended: bool = False  # a broker error after this comes from a send once the rows are committed


@contextmanager
def committed_then_sent(what: str) -> Iterator[Sending]:
    """One transaction (the outermost: its ``on_commit`` sends run as it ends); a broker down after the commit is logged.

    Used inside another transaction, the sends run when that one commits, outside this guard.
    """
    sending = Sending(what)
    try:
        with transaction.atomic():
            yield sending
            sending.body_ended = True
    except BROKER_DOWN as exc:
        if not sending.body_ended:
            raise
        logger.warning("%s is stored, but the broker refused its tasks (%s); the sweep sends them when their "
                       "leases run out", sending.what, exc)  # fmt: skip
