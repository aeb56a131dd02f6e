"""The daily token budget of each owner: new work past it is refused before any provider call.

``TOLLGATE_DAILY_TOKEN_BUDGET`` tokens per owner per UTC day (0: no budget), counted from the
database, the truth: the tokens planned for the owner's jobs created today, a cancelled job
counting only what it embedded, and the tokens of the owner's asks today (``project/ask``). The caller holds the owner's row locked (see
``jobs/submit.py``), so two submissions at once cannot both take the last of it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, F, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from project.ask.selectors import ask_tokens
from project.embeddings.models import EmbeddingJob, Status
from project.errors import TollgateError

__all__ = ["BudgetExceeded", "BudgetNeverFits", "budget_check", "tokens_today"]


class BudgetExceeded(TollgateError):
    """Today's budget has not room for this work; ``retry_after`` seconds from now it has (a new day)."""

    def __init__(self, *, requested: int, used: int, budget: int, retry_after: float) -> None:
        self.requested, self.used, self.budget, self.retry_after = requested, used, budget, retry_after
        super().__init__(
            f"this work needs {requested:,} tokens, but {used:,} of today's {budget:,} (TOLLGATE_DAILY_TOKEN_BUDGET) "
            f"are taken: try again in {math.ceil(retry_after)} s, when the UTC day ends"
        )


class BudgetNeverFits(TollgateError):
    """One submission needs more tokens than a whole day's budget: no wait would help."""

    field = "text"

    def __init__(self, *, requested: int, budget: int) -> None:
        self.requested, self.budget = requested, budget
        super().__init__(
            f"this work needs {requested:,} tokens, more than the daily budget of {budget:,} "
            "(TOLLGATE_DAILY_TOKEN_BUDGET): submit it in smaller parts over several days"
        )


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def tokens_today(*, owner: AbstractBaseUser, now: datetime, exclude_job: int | None = None) -> int:
    """Tokens the owner's jobs and asks of today's UTC day take from the budget."""

    spent = Case(When(status=Status.CANCELLED, then=F("embedded_tokens")), default=F("total_tokens"))
    jobs = EmbeddingJob.objects.filter(owner=owner, created_at__gte=day_start(now))
    if exclude_job is not None:
        jobs = jobs.exclude(pk=exclude_job)
    asked = ask_tokens(owner=owner, since=day_start(now))
    return int(jobs.aggregate(tokens=Coalesce(Sum(spent), 0))["tokens"]) + asked


def budget_check(*, owner: AbstractBaseUser, tokens: int, exclude_job: int | None = None) -> None:
    """Raise :class:`BudgetExceeded` (or :class:`BudgetNeverFits`) unless ``tokens`` more fit today."""
    budget = settings.TOLLGATE_DAILY_TOKEN_BUDGET
    if budget <= 0 or tokens <= 0:
        return
    if tokens > budget:
        raise BudgetNeverFits(requested=tokens, budget=budget)
    now = timezone.now()
    used = tokens_today(owner=owner, now=now, exclude_job=exclude_job)
    if used + tokens > budget:
        retry_after = (day_start(now) + timedelta(days=1) - now).total_seconds()
        raise BudgetExceeded(requested=tokens, used=used, budget=budget, retry_after=retry_after)
