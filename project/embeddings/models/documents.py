"""Documents, split into chunks: the text as ingested, and the exact pieces sent to the provider."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ..owners import system_owner_id


class Document(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents", default=system_owner_id
    )
    collection = models.CharField(max_length=200, default="default", db_index=True)
    source = models.CharField(max_length=1000, blank=True, help_text="Path or URL the text came from.")
    text = models.TextField()
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, help_text="sha256 of the text.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # per owner: an upload never learns whether someone else holds the same text
            models.UniqueConstraint(fields=["owner", "collection", "content_hash"], name="document_unique_owner_content"),
        ]

    def __str__(self) -> str:
        return self.source or f"document {self.pk}"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField(help_text="Position of the chunk in its document.")
    text = models.TextField()
    start = models.PositiveIntegerField(help_text="Character offset of the chunk in the document.")
    token_count = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64, db_index=True, help_text="sha256 of the text.")

    class Meta:
        ordering = ["document_id", "seq"]
        constraints = [models.UniqueConstraint(fields=["document", "seq"], name="chunk_unique_seq")]

    def __str__(self) -> str:
        return f"{self.document_id}:{self.seq}"
