"""One row per ask that reached the provider: whose, which model, the tokens it took and cost."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Ask(models.Model):
    """An ask's tokens (the question's embedding and the chat's prompt and answer) and cost, for budgets."""

    class Outcome(models.TextChoices):
        ANSWERED = "answered"
        REFUSED = "refused"  # the model declined, or the content filter stopped it (billed all the same)
        FAILED = "failed"  # the answer broke off

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="asks")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    model = models.CharField(max_length=100)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.ANSWERED)
    embedding_tokens = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.FloatField(default=0.0)
    sources = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["owner", "created_at"], name="ask_owner_day")]

    @property
    def tokens(self) -> int:
        return self.embedding_tokens + self.prompt_tokens + self.completion_tokens
