"""What a group sends: each distinct input of its chunks once, after the job's long-input policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from project.embeddings.jobs.status import pending_chunks
from project.embeddings.models import Chunk, EmbeddingJob
from project.embeddings.store.reuse import input_hash
from providers import encoding_for_model, model_info
from providers.inputs import ChunkInputs, chunk_inputs

__all__ = ["Send", "group_inputs", "sends_of"]


@dataclass(frozen=True)
class Send:
    """One distinct input of a group: what it sends (for its first chunk) and every chunk that shares it."""

    address: str  # store.reuse.input_hash
    inputs: ChunkInputs
    chunk_ids: list[int]  # the first is ``inputs.chunk_id``; the others are copies


def group_inputs(job: EmbeddingJob, chunk_ids: list[int], *, pending_only: bool = True) -> list[Send]:
    """What the group's chunks not yet embedded send to the API, each distinct input once, after the job's policy.

    ``pending_only=False`` reads every chunk of the group, embedded or not (the batch lane's
    line, whatever was stored meanwhile; its results are matched to them by identity,
    ``batches/matching.py``).
    """
    chosen = pending_chunks(job) if pending_only else Chunk.objects.order_by("document_id", "seq")
    return sends_of(job, chosen.filter(pk__in=chunk_ids).values_list("pk", "text", "token_count", "content_hash"))


def sends_of(job: EmbeddingJob, rows: Iterable[tuple[int, str, int, str]]) -> list[Send]:
    """``(id, text, token_count, content_hash)`` rows as the group's sends: each distinct input once."""
    encoding = encoding_for_model(job.model)
    max_tokens = model_info(job.model).max_input_tokens
    sends: dict[str, Send] = {}
    for pk, text, count, digest in rows:
        address = input_hash(digest, count, policy=job.long_input_policy, max_tokens=max_tokens)
        if address in sends:
            sends[address].chunk_ids.append(pk)
            continue
        inputs = chunk_inputs(pk, text, count, policy=job.long_input_policy, max_tokens=max_tokens, encoding=encoding)
        sends[address] = Send(address, inputs, [pk])
    return list(sends.values())
