"""Prometheus metrics, computed at scrape time from the truth: PostgreSQL and Redis.

Workers are many processes on many hosts, so per-process counters would each hold a sliver;
instead a custom collector reads, on every scrape, the shared limiter's window and its history
totals in Redis (every worker's admissions, waits, 429s and cooldowns, counted by the limiter's
own scripts), the jobs table, and the broker's queue lengths. A part that cannot be read is
left out and ``tollgate_source_up{source=...}`` says so; the rest is still served.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from project.embeddings.sources.status import sources_statuses
from project.errors import expected

from .jobs import job_counter_sums, jobs_by_status
from .limiter import LimiterView, limiter_models, limiter_view
from .pool import DeploymentView, pool_views
from .queues import queue_depths

__all__ = ["TollgateCollector", "render"]

logger = logging.getLogger(__name__)

LIMITER_LABELS = ["model", "account", "window_seconds"]
JOB_COUNTER_METRICS = {
    "embedded_chunks": ("tollgate_chunks_embedded", "Chunks embedded, over every job"),
    "failed_chunks": ("tollgate_chunks_failed", "Chunks the provider rejected, over every job"),
    "embedded_tokens": ("tollgate_tokens_embedded", "Tokens embedded, over every job"),
    "requests": ("tollgate_job_requests", "Requests the jobs sent, retries included"),
    "http_429": ("tollgate_job_http_429", "429 responses the jobs met"),
    "limiter_waits": ("tollgate_job_limiter_waits", "Times a job's task waited for the shared limit"),
}


class TollgateCollector(Collector):
    """Reads everything on each :meth:`collect`; holds no state between scrapes."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tollgate_source_up", "Whether a source could be read for this scrape", labels=["source"])
        try:
            views = [limiter_view(model=model, windows=None) for model in limiter_models()]
        except expected() as exc:
            logger.warning("metrics: the shared limiter could not be read: %s", exc)
            views = None
        up.add_metric(["limiter"], 1 if views is not None else 0)
        yield from _limiter_metrics(views or [])
        try:
            deployments = pool_views()
        except expected() as exc:
            logger.warning("metrics: the pool's deployments could not be read: %s", exc)
            deployments = []
        yield from _deployment_metrics(deployments)

        try:
            job_metrics = list(_job_metrics())
        except DatabaseError as exc:
            logger.warning("metrics: the jobs could not be read: %s", exc)
            job_metrics = []
        yield from job_metrics
        up.add_metric(["database"], 1 if job_metrics else 0)
        if job_metrics:
            try:
                yield from list(_sources_metrics())
            except DatabaseError as exc:  # the rest is still served
                logger.warning("metrics: the sources could not be read: %s", exc)

        try:
            depths = queue_depths()
        except expected() as exc:
            logger.warning("metrics: the broker's queues could not be read: %s", exc)
            depths = None
        if depths is not None:
            queue = GaugeMetricFamily("tollgate_queue_depth", "Tasks waiting in the broker per lane", labels=["lane"])
            for lane, depth in depths.items():
                queue.add_metric([lane], depth)
            yield queue
        up.add_metric(["broker"], 1 if depths is not None else 0)
        yield up


def _limiter_metrics(views: list[LimiterView]) -> Iterator[Metric]:
    def gauge(name: str, doc: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=LIMITER_LABELS)

    def counter(name: str, doc: str) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, labels=LIMITER_LABELS)

    families = {
        "requests_used": gauge("tollgate_limiter_requests_used", "Requests admitted in the sliding window now"),
        "requests_limit": gauge("tollgate_limiter_requests_limit", "Requests the window admits (effective limit)"),
        "tokens_used": gauge("tollgate_limiter_tokens_used", "Tokens admitted in the sliding window now"),
        "tokens_limit": gauge("tollgate_limiter_tokens_limit", "Tokens the window admits (effective limit)"),
        "cooldown": gauge("tollgate_limiter_cooldown_seconds", "Seconds of cooldown left after a 429 (0: open)"),
        "admitted": counter("tollgate_limiter_admitted_requests", "Requests the limiter admitted"),
        "admitted_tokens": counter("tollgate_limiter_admitted_tokens", "Tokens admitted, as estimated then"),
        "tokens_added": counter("tollgate_limiter_tokens_added", "Tokens responses used beyond their estimate"),
        "tokens_returned": counter("tollgate_limiter_tokens_returned", "Tokens responses used less than estimated"),
        "waits": counter("tollgate_limiter_waits", "Times the limiter answered 'not now'"),
        "throttled": counter("tollgate_limiter_http_429", "429 responses reported to the limiter"),
        "cooldowns": counter("tollgate_limiter_cooldowns", "Cooldowns started or lengthened by a 429"),
    }
    served = SummaryMetricFamily(
        "tollgate_provider_processing_seconds",
        "The provider's own processing time per request (openai-processing-ms), as responses reported it",
        labels=LIMITER_LABELS,
    )
    for view in views:
        usage, totals = view.usage, view.history.totals
        labels = [usage.model, view.account, f"{usage.window_seconds:g}"]
        values = {
            "requests_used": usage.requests_used,
            "requests_limit": usage.requests_limit,
            "tokens_used": usage.tokens_used,
            "tokens_limit": usage.tokens_limit,
            "cooldown": usage.cooldown_seconds,
            "admitted": totals.requests,
            "admitted_tokens": totals.tokens,
            "tokens_added": totals.tokens_added,
            "tokens_returned": totals.tokens_returned,
            "waits": totals.refusals,
            "throttled": totals.throttled,
            "cooldowns": totals.cooldowns,
        }
        for key, family in families.items():
            family.add_metric(labels, values[key])
        served.add_metric(labels, count_value=totals.served, sum_value=totals.served_seconds)
    yield from families.values()
    yield served


def _deployment_metrics(deployments: list[DeploymentView]) -> Iterator[Metric]:
    """Each deployment of a pool (TOLLGATE_DEPLOYMENTS): its window, cooldown, breaker and share; none without a pool."""
    if not deployments:
        return
    labels = ["deployment", "kind", "window_seconds"]
    families = {
        "tokens_used": GaugeMetricFamily("tollgate_deployment_tokens_used", "Tokens admitted in the deployment's window now", labels=labels),
        "tokens_limit": GaugeMetricFamily("tollgate_deployment_tokens_limit", "Tokens the deployment's window admits", labels=labels),
        "requests_used": GaugeMetricFamily("tollgate_deployment_requests_used", "Requests admitted in its window now", labels=labels),
        "requests_limit": GaugeMetricFamily("tollgate_deployment_requests_limit", "Requests its window admits", labels=labels),
        "cooldown_seconds": GaugeMetricFamily("tollgate_deployment_cooldown_seconds", "Cooldown left after a 429", labels=labels),
        "breaker_open": GaugeMetricFamily("tollgate_deployment_breaker_open", "1 while its breaker is open or half-open", labels=labels),
        "blocked": GaugeMetricFamily("tollgate_deployment_blocked", "1 while it is out for its credentials or quota", labels=labels),
        "share": GaugeMetricFamily("tollgate_deployment_share", "Its share of the tokens the pool admitted over the last window", labels=labels),
    }  # fmt: skip
    for view in deployments:
        values = {**view.as_dict(), "breaker_open": int(view.breaker != "closed"), "blocked": int(view.blocked)}
        for key, family in families.items():
            family.add_metric([view.name, view.kind, f"{view.window_seconds:g}"], values[key])
    yield from families.values()


def _job_metrics() -> Iterator[Metric]:
    jobs = GaugeMetricFamily("tollgate_jobs", "Jobs by status", labels=["status"])
    for status, count in jobs_by_status().items():
        jobs.add_metric([status], count)
    yield jobs
    for name, value in job_counter_sums().items():
        metric, doc = JOB_COUNTER_METRICS[name]
        yield CounterMetricFamily(metric, doc, value=value)


def _sources_metrics() -> Iterator[Metric]:
    """Each source (a table kept embedded): rows, embedded, pending, the lag, and its versions' progress."""
    docs = {
        "rows": "Rows of the source's table",
        "embedded": "Rows embedded in the current version",
        "pending": "Rows changed and not yet searchable (queued, or waiting for their vectors)",
        "lag_seconds": "Age of the oldest change not yet searchable (0: caught up)",
    }
    families = {key: GaugeMetricFamily(f"tollgate_sources_{key}", doc, labels=["name"]) for key, doc in docs.items()}
    progress = GaugeMetricFamily(
        "tollgate_sources_version_progress",
        "Share of the rows each version has embedded",
        labels=["name", "version", "model", "state"],
    )
    for status in sources_statuses():
        for key, family in families.items():
            family.add_metric([status.name], getattr(status, key))
        for version in status.versions:
            progress.add_metric([status.name, str(version.number), version.model, version.state], version.progress)
    yield from families.values()
    yield progress


def render() -> bytes:
    """One scrape's text exposition, from a registry of this collector alone (no process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TollgateCollector())
    return generate_latest(registry)
