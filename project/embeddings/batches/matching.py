"""A batch line's vectors matched to the chunks that sent them by identity, never by position.

A line's ``index``-th vector belongs to the ``index``-th text of its request, as the uploaded
input file holds it. The rows the line was built from can change while the batch runs (a
document deleted meanwhile takes its chunks with it), so the group's inputs read back now may be
fewer than the line sent: each is found by the hash of its text among the texts sent
(``content_hash``, the input address of a chunk sent as it is). A vector whose input is gone
is dropped (its tokens were paid and are counted); no chunk ever gets a neighbour's vector.

Example::

    sent = sent_digests(client, config, batch.file_id, custom_ids={"17", "18"})
    todo, vectors = line_inputs(job, group, sent.get("17") if sent else None, line.vectors)
"""

from __future__ import annotations

import logging
from collections.abc import Collection

import numpy as np

from project.embeddings.batches.steps import Client
from project.embeddings.groups.inputs import Send, group_inputs
from project.embeddings.ingest.documents import content_hash
from project.embeddings.models import EmbeddingGroup, EmbeddingJob
from providers import InvalidInput, ProviderConfig
from providers import batch as remote

__all__ = ["line_inputs", "sent_digests"]

logger = logging.getLogger(__name__)

NO_VECTOR = np.empty(0, dtype=np.float32)  # store_paid fails an input given this, with the reason


def sent_digests(
    client: Client, config: ProviderConfig, file_id: str, custom_ids: Collection[str]
) -> dict[str, list[str]] | None:
    """``custom_id`` → the hash of each text its request sent, for these lines; None if the file is gone."""
    try:
        return {
            custom_id: [content_hash(text) for text in texts]
            for custom_id, texts in remote.request_inputs(client, config, file_id)
            if custom_id in custom_ids
        }
    except InvalidInput as exc:  # deleted by someone else: only lines whose inputs still add up are stored
        logger.warning("batch input file %s cannot be read (%s): results are matched to the rows as they are", file_id,
                       exc)  # fmt: skip
        return None


def line_inputs(
    job: EmbeddingJob, group: EmbeddingGroup, sent: list[str] | None, vectors: list[np.ndarray]
) -> tuple[list[Send], list[np.ndarray]] | None:
    """The group's inputs that still exist and, in their order, the vector the line returned for each.

    ``sent``: the hashes of the texts the line sent (``sent_digests``). An input found nowhere in
    it gets no vector (``store_paid`` fails it with the reason). Without ``sent`` (the input file
    is gone) the rows as they are now stand for the line only if they add up to its vectors;
    otherwise None: the line cannot be told apart, and its group is sent again.
    """
    todo = group_inputs(job, group.chunk_ids, pending_only=False)
    digests = [content_hash(text) for send in todo for text in send.inputs.texts]
    if sent is None:
        if len(digests) != len(vectors):
            return None
        sent = digests
    by_digest = dict(zip(sent, vectors))  # a text sent twice has one vector: either is its own
    return todo, [by_digest.get(digest, NO_VECTOR) for digest in digests]
