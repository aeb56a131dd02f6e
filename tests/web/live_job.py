"""A job long enough to be watched while it runs: several windows of a small limit."""

from __future__ import annotations

from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import EmbeddingJob

WORDS = "gate toll road limit worker window token request queue lane vector index chart point".split()


def start_long_job(documents: int = 40, words: int = 300, *, owner=None) -> EmbeddingJob:
    """Ingest ``documents`` distinct texts of about ``words`` tokens each as ``owner``'s and start embedding them."""
    texts = [
        TextInput(" ".join(f"{WORDS[(d * 7 + i) % len(WORDS)]}{d}" for i in range(words)), source=f"doc{d}.txt")
        for d in range(documents)
    ]
    job = job_create(documents=document_ingest(texts=texts, owner=owner).documents, owner=owner)
    job_start(job=job)
    return EmbeddingJob.objects.get(pk=job.pk)
