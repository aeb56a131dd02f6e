"""An input on its way in one group's request is paid once: another group holding it waits for its vector.

Two jobs of one owner (or two ingest batches of one streaming job) can plan the same new text
into two groups before either has stored it. The first group to claim the text's address
sends it; the other sends only the rest, comes back a moment later, and copies the vector.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from django.db import connection

from project.celery import app as celery_app
from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import Embedding, EmbeddingGroup, GroupState, InputClaim
from tests.providers.scripted import Answer, ScriptedProvider
from workers.embedding import embed_group_once

SHARED = "A header every ticket of this account carries: the same long paragraph, sent once."


def _job(collection: str, texts: list[str]):
    documents = document_ingest(
        texts=[TextInput(t, source=f"{collection}-{i}") for i, t in enumerate(texts)], collection=collection
    ).documents
    job = job_create(documents=documents)
    job_start(job=job)
    celery_app.control.purge()
    return job, EmbeddingGroup.objects.get(job=job)


def test_a_new_input_two_groups_hold_at_once_is_sent_by_one_and_copied_by_the_other(provider):
    with ScriptedProvider(lambda attempt, now: Answer(delay=1.0)) as server:
        provider.settings.OPENAI_BASE_URL = server.base_url
        first, first_group = _job("a", [SHARED, "Only in the first job."])
        second, second_group = _job("b", [SHARED, "Only in the second job."])

        def send_first() -> None:
            try:
                embed_group_once(first_group.pk, holder="task-1")
            finally:
                connection.close()

        sending = threading.Thread(target=send_first)
        sending.start()
        time.sleep(0.4)  # the first group's request is on its way
        outcome = embed_group_once(second_group.pk, holder="task-2")
        sending.join()
        assert outcome.retry_in is not None  # it came back later for the shared input
        again = embed_group_once(second_group.pk, holder="task-2")

    assert again.retry_in is None
    sent = Counter(text for visit_texts in server.inputs for text in visit_texts)
    assert sent[SHARED] == 1, sent  # paid once
    assert sent["Only in the second job."] == 1 and sent["Only in the first job."] == 1
    assert Embedding.objects.filter(chunk__document__jobs__in=[first, second]).count() == 4
    assert EmbeddingGroup.objects.get(pk=second_group.pk).state == GroupState.DONE
    assert not InputClaim.objects.exists()  # every claim went with its group's store
