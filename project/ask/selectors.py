"""Reads of the asks: the tokens an owner's asks took since a moment (for the daily budget)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Sum
from django.db.models.functions import Coalesce

from project.ask.models import Ask

__all__ = ["ask_tokens"]


def ask_tokens(*, owner: AbstractBaseUser, since: datetime) -> int:
    """The question embeddings', prompts' and answers' tokens of the owner's asks since ``since``."""
    tokens = F("embedding_tokens") + F("prompt_tokens") + F("completion_tokens")
    asks = Ask.objects.filter(owner=owner, created_at__gte=since)
    return int(asks.aggregate(tokens=Coalesce(Sum(tokens), 0))["tokens"])
