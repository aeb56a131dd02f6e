"""The admin, for staff only: every owner's objects, with the owner shown and filterable."""

from django.contrib import admin

from project.embeddings.models import Batch, Chunk, Document, Embedding, EmbeddingJob, FailedChunk


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "collection", "source", "created_at"]
    list_filter = ["collection", "owner"]
    search_fields = ["source", "content_hash", "owner__username"]
    raw_id_fields = ["owner"]


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["id", "document", "seq", "token_count"]
    raw_id_fields = ["document"]
    search_fields = ["content_hash"]


@admin.register(Embedding)
class EmbeddingAdmin(admin.ModelAdmin):
    list_display = ["id", "chunk", "model", "dimensions", "created_at"]
    list_filter = ["model"]
    raw_id_fields = ["chunk"]
    exclude = ["vector"]


@admin.register(EmbeddingJob)
class EmbeddingJobAdmin(admin.ModelAdmin):
    list_display = [
        "id", "owner", "status", "lane", "model", "total_chunks", "embedded_chunks", "failed_chunks", "http_429",
        "created_at",
    ]
    list_filter = ["status", "lane", "model", "owner"]
    raw_id_fields = ["documents", "owner"]


@admin.register(FailedChunk)
class FailedChunkAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "chunk", "reason", "created_at"]
    raw_id_fields = ["job", "chunk"]


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "state", "remote_status", "requests", "tokens", "completed", "failed", "created_at"]
    list_filter = ["state", "remote_status"]
    raw_id_fields = ["job"]
    search_fields = ["key", "batch_id", "file_id"]
