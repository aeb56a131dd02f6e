"""Template filters that format figures for people (``{% load people %}``): see ``monitoring/humane.py``."""

from __future__ import annotations

from django import template

from project.monitoring import humane

register = template.Library()


@register.filter
def count(value: float | int | None) -> str:
    """``{{ job.embedded_tokens|count }}``: 1,234,567."""
    return humane.count(value)


@register.filter
def duration(value: float | None) -> str:
    """``{{ eta.seconds|duration }}``: 2 min 5 s."""
    return humane.duration(value)
