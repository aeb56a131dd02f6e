"""What a job paid and saved, at the model's prices (``providers/catalog.py``)."""

from __future__ import annotations

from project.embeddings.models import EmbeddingJob
from providers import model_info

__all__ = ["job_cost_usd", "job_saved_usd", "job_usd"]


def job_usd(model: str, tokens: int, *, batch: bool = False) -> float:
    """What ``tokens`` cost at the model's price (providers/catalog.py), rounded to a millionth of a dollar.

    ``batch``: at the Batch API's price, half the synchronous one.
    """
    info = model_info(model)
    price = info.batch_usd_per_million_tokens if batch else info.usd_per_million_tokens
    return round(tokens / 1e6 * price, 6)


def job_cost_usd(job: EmbeddingJob) -> float:
    """What the job paid: tokens on the sync lane at the price, on the batch lane at half of it."""
    info = model_info(job.model)
    sync = job.embedded_tokens - job.batch_tokens
    return round((sync * info.usd_per_million_tokens + job.batch_tokens * info.batch_usd_per_million_tokens) / 1e6, 6)


def job_saved_usd(job: EmbeddingJob) -> float:
    """What the job did not pay: reused inputs at the price, and the batch lane's discount."""
    info = model_info(job.model)
    discount = info.usd_per_million_tokens - info.batch_usd_per_million_tokens
    return round((job.reused_tokens * info.usd_per_million_tokens + job.batch_tokens * discount) / 1e6, 6)
