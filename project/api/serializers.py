"""Request and response shapes; the OpenAPI schema is generated from these."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

MAX_QUERY_CHARS = 8000
# JSON can carry what PostgreSQL cannot store: NUL (in jsonb) and lone UTF-16 surrogates (in any text).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """Refuse (400) strings PostgreSQL would reject, anywhere in ``value`` (keys of objects too)."""
    if isinstance(value, str) and _UNSTORABLE.search(value):
        raise serializers.ValidationError("Must not contain NUL characters or lone surrogates.")
    if isinstance(value, dict):
        for key, item in value.items():
            storable(key)
            storable(item)
    elif isinstance(value, list):
        for item in value:
            storable(item)
    return value


class DocumentInSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=False, validators=[storable])
    source = serializers.CharField(max_length=1000, required=False, default="", allow_blank=True, validators=[storable])
    metadata = serializers.JSONField(required=False, default=dict)
    collection = serializers.CharField(max_length=200, required=False, default="default", validators=[storable])

    def validate_metadata(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return storable(value)


LANE_HELP = (
    "sync: embedded now under the shared limit; batch: through the OpenAI Batch API, at half the price, "
    "within its 24 h window; auto: batch for a large job (TOLLGATE_BATCH_AUTO_TOKENS), else sync."
)


class FilesInSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), allow_empty=False)
    collection = serializers.CharField(max_length=200, required=False, default="default", validators=[storable])
    lane = serializers.ChoiceField(choices=["sync", "batch", "auto"], required=False, default="sync", help_text=LANE_HELP)


class DocumentsInSerializer(serializers.Serializer):
    """The JSON body as an object: the documents and the job's lane (a bare list takes the sync lane)."""

    documents = DocumentInSerializer(many=True, allow_empty=False)
    lane = serializers.ChoiceField(choices=["sync", "batch", "auto"], required=False, default="sync", help_text=LANE_HELP)


class FileOutcomeSerializer(serializers.Serializer):
    name = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=["stored", "already stored", "skipped", "refused"],
        help_text="stored; already stored (the same text is one of your documents already); skipped (empty); "
        "refused (not text: an upload with a refused file stores nothing).",
    )
    notes = serializers.ListField(child=serializers.CharField(), help_text='Why: "empty", "removed 2 NUL byte(s)".')


class SubmissionSerializer(serializers.Serializer):
    job = serializers.IntegerField(source="job.pk")
    status = serializers.CharField(source="job.status")
    lane = serializers.CharField(source="job.lane")
    url = serializers.CharField()
    documents = serializers.IntegerField(help_text="Documents in the job, new and already known.")
    created = serializers.IntegerField(source="report.created")
    duplicates = serializers.IntegerField(source="report.duplicates")
    chunks = serializers.IntegerField(source="plan.chunks")
    tokens = serializers.IntegerField(source="plan.tokens")
    skipped = serializers.ListField(child=serializers.CharField(), source="report.skipped")
    warnings = serializers.ListField(child=serializers.CharField(), source="report.warnings")
    files = FileOutcomeSerializer(many=True, help_text="A multipart upload's files, each with its outcome.")


class ChunkCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(source="job.total_chunks")
    done = serializers.IntegerField(source="done_chunks")
    embedded = serializers.IntegerField(source="job.embedded_chunks")
    failed = serializers.IntegerField(source="job.failed_chunks")


class TokenCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(source="job.total_tokens")
    done = serializers.IntegerField(source="job.embedded_tokens")


class ReuseSerializer(serializers.Serializer):
    reused_chunks = serializers.IntegerField(source="job.reused_chunks", help_text="Chunks given a stored vector: no call.")
    reused_tokens = serializers.IntegerField(source="job.reused_tokens")
    paid_tokens = serializers.IntegerField(help_text="Tokens the provider billed.")
    cost_usd = serializers.FloatField(help_text="Paid tokens at the model's price; the batch lane's at half of it.")
    saved_usd = serializers.FloatField(help_text="What the reused tokens would have cost, and the batch lane's discount.")
    batch_tokens = serializers.IntegerField(source="job.batch_tokens", help_text="Of paid_tokens, those on the batch lane.")


class RequestCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField(source="job.total_groups", help_text="Request groups the job was packed into.")
    groups_done = serializers.IntegerField(source="job.groups_done")
    done = serializers.IntegerField(source="job.requests", help_text="Requests answered, retries included.")
    in_flight = serializers.IntegerField(help_text="Requests being sent now: groups a worker holds.")


class IndexBuildSerializer(serializers.Serializer):
    name = serializers.CharField()
    segments = serializers.SerializerMethodField()
    rows = serializers.IntegerField()
    phase = serializers.CharField(help_text="pg_stat_progress_create_index's phase.")
    tuples_done = serializers.IntegerField()
    tuples_total = serializers.IntegerField()
    percent = serializers.FloatField(allow_null=True)

    def get_segments(self, build) -> list[int]:
        return [build.lo, build.hi]


class JobIndexSerializer(serializers.Serializer):
    state = serializers.CharField(
        help_text="live: searchable through the live index as stored; loading, building, indexed: a backfill "
        "in bulk mode (its rows are found by exact scan until their bulk index build ends)."
    )
    unindexed_rows = serializers.IntegerField()
    builds = IndexBuildSerializer(many=True)


class JobSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="job.pk")
    status = serializers.CharField(source="job.status")
    lane = serializers.CharField(source="job.lane", help_text="sync, or batch (the OpenAI Batch API).")
    model = serializers.CharField(source="job.model")
    percent = serializers.FloatField()
    eta_seconds = serializers.FloatField(allow_null=True, help_text="Null when the job is not running.")
    eta_basis = serializers.ChoiceField(
        source="eta.basis",
        choices=["measured", "limit", ""],
        help_text="measured: the job's own pace so far; limit: nothing measured yet, the shared limit's rate "
        "(a floor: the job takes at least this long).",
    )
    chunks = ChunkCountsSerializer(source="*")
    tokens = TokenCountsSerializer(source="*")
    requests = RequestCountsSerializer(source="*")
    reuse = ReuseSerializer(source="*")
    http_429 = serializers.IntegerField(source="job.http_429")
    limiter_waits = serializers.IntegerField(source="job.limiter_waits")
    last_error = serializers.CharField(source="job.last_error")
    index = JobIndexSerializer()
    batches = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="The batch lane's batches by state: preparing, uploaded (waiting for room in the enqueued-token "
        "limit), the provider's status while it runs them (validating, in_progress, finalizing), done, failed.",
    )
    deployments = serializers.SerializerMethodField(
        help_text="The pool's deployments that served the job (TOLLGATE_DEPLOYMENTS): groups and tokens each."
    )
    created_at = serializers.DateTimeField(source="job.created_at")
    started_at = serializers.DateTimeField(source="job.started_at", allow_null=True)
    finished_at = serializers.DateTimeField(source="job.finished_at", allow_null=True)

    @extend_schema_field(serializers.DictField(child=serializers.DictField(child=serializers.IntegerField())))
    def get_deployments(self, figures) -> dict:
        from project.monitoring.pool import job_deployments

        return job_deployments(figures.job.pk)


class FailedChunkSerializer(serializers.Serializer):
    chunk = serializers.IntegerField(source="chunk_id")
    document = serializers.IntegerField(source="chunk.document_id")
    source = serializers.CharField(source="chunk.document.source")
    seq = serializers.IntegerField(source="chunk.seq")
    reason = serializers.CharField()
    text = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_text(self, failure) -> str:
        return failure.chunk.text[:200]


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=MAX_QUERY_CHARS, trim_whitespace=False, validators=[storable])
    k = serializers.IntegerField(min_value=1, max_value=100, default=5)
    collection = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", validators=[storable])
    threshold = serializers.FloatField(
        min_value=-1.0,
        max_value=1.0,
        required=False,
        allow_null=True,
        default=None,
        help_text="The least similarity a hit may have; default TOLLGATE_MIN_SIMILARITY (0.1), -1 for every hit.",
    )
    source = serializers.CharField(
        max_length=40, required=False, allow_blank=True, default="",
        help_text="A source's name: its rows nearest the query (SourceHit: the row's id), from its current version.",
    )  # fmt: skip


class SearchHitSerializer(serializers.Serializer):
    similarity = serializers.FloatField()
    chunk = serializers.IntegerField(source="chunk.pk")
    document = serializers.IntegerField(source="chunk.document_id")
    source = serializers.CharField(source="chunk.document.source")
    collection = serializers.CharField(source="chunk.document.collection")
    seq = serializers.IntegerField(source="chunk.seq")
    text = serializers.CharField(source="chunk.text")


class SourceHitSerializer(serializers.Serializer):
    """A row of a source's table (``?source=NAME``), with its chunk nearest the query."""

    id = serializers.CharField(help_text="The row's id, as text.")
    similarity = serializers.FloatField()
    chunk = serializers.IntegerField(source="chunk.pk")
    seq = serializers.IntegerField(source="chunk.seq")
    text = serializers.CharField(source="chunk.text")
    version = serializers.IntegerField(help_text="The source's version searched (its current one).")


class UsedLimitSerializer(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    percent = serializers.FloatField()


class LimiterTotalsSerializer(serializers.Serializer):
    """What the limiter counted since its history began (every worker's), as /metrics reports it."""

    requests = serializers.IntegerField(help_text="Requests admitted.")
    tokens = serializers.IntegerField(help_text="Tokens admitted, as estimated when admitted.")
    tokens_added = serializers.IntegerField(help_text="Tokens responses used beyond their estimate.")
    tokens_returned = serializers.IntegerField(help_text="Tokens responses used less than estimated.")
    waits = serializers.IntegerField(source="refusals", help_text="Times the limiter answered 'not now'.")
    http_429 = serializers.IntegerField(source="throttled")
    cooldowns = serializers.IntegerField()


class LimitsSerializer(serializers.Serializer):
    model = serializers.CharField()
    window_seconds = serializers.FloatField()
    requests = serializers.SerializerMethodField()
    tokens = serializers.SerializerMethodField()
    cooldown_seconds = serializers.FloatField()
    cooling_down = serializers.SerializerMethodField()
    bulk_reserve = serializers.FloatField(help_text="Share of each limit a backfill leaves free for searches.")
    requests_per_day_used = serializers.IntegerField(allow_null=True)
    requests_per_day_limit = serializers.IntegerField(allow_null=True)
    totals = serializers.SerializerMethodField(help_text="Counted since the limiter's history began.")
    deployments = serializers.SerializerMethodField(
        help_text="With a pool (TOLLGATE_DEPLOYMENTS): each deployment's window, cooldown, circuit breaker and share "
        "of the tokens admitted over the last window (capacity_share: of the pool's limits); empty otherwise. The "
        "figures above are then the first deployment's."
    )

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_deployments(self, usage) -> list:
        return [view.as_dict() for view in self.context.get("deployments", [])]

    @extend_schema_field(LimiterTotalsSerializer(allow_null=True))
    def get_totals(self, usage) -> dict | None:
        totals = self.context.get("totals")
        return None if totals is None else LimiterTotalsSerializer(totals).data

    @extend_schema_field(UsedLimitSerializer)
    def get_requests(self, usage) -> dict:
        return {"used": usage.requests_used, "limit": usage.requests_limit, "percent": usage.requests_percent}

    @extend_schema_field(UsedLimitSerializer)
    def get_tokens(self, usage) -> dict:
        return {"used": usage.tokens_used, "limit": usage.tokens_limit, "percent": usage.tokens_percent}

    def get_cooling_down(self, usage) -> bool:
        return usage.cooldown_seconds > 0


class AskInSerializer(serializers.Serializer):
    question = serializers.CharField(allow_blank=True, trim_whitespace=False, validators=[storable],
                                     help_text="At most 8,000 characters.")  # fmt: skip
    collection = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", validators=[storable])
    k = serializers.IntegerField(min_value=1, max_value=20, required=False, allow_null=True, default=None,
                                 help_text="Sources given to the model at most; default TOLLGATE_ASK_K (6).")  # fmt: skip
    threshold = serializers.FloatField(min_value=-1.0, max_value=1.0, required=False, allow_null=True, default=None,
                                       help_text="The least similarity a source may have; default TOLLGATE_MIN_SIMILARITY.")  # fmt: skip
    model = serializers.CharField(max_length=100, required=False, allow_blank=True, default="",
                                  help_text="The chat model; default TOLLGATE_CHAT_MODEL (gpt-4o-mini).")  # fmt: skip


class AskSourceSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="The number the answer cites it by: [n].")
    document = serializers.IntegerField()
    chunk = serializers.IntegerField()
    seq = serializers.IntegerField()
    source = serializers.CharField(help_text="The document's source name.")
    collection = serializers.CharField()
    similarity = serializers.FloatField()
    text = serializers.CharField(help_text="The chunk's text, as given to the model.")
    cited = serializers.BooleanField()


class AskUnusedSerializer(serializers.Serializer):
    document = serializers.IntegerField()
    chunk = serializers.IntegerField()
    source = serializers.CharField()
    similarity = serializers.FloatField()
    reason = serializers.CharField()


class AskResultSerializer(serializers.Serializer):
    question = serializers.CharField()
    answer = serializers.CharField()
    model = serializers.CharField()
    sources = AskSourceSerializer(many=True)
    not_used = AskUnusedSerializer(many=True, help_text="Near chunks left out, and why.")
    usage = serializers.DictField(child=serializers.IntegerField(),
                                  help_text="prompt_tokens, completion_tokens, total_tokens (chat); embedding_tokens (the question).")  # fmt: skip
    cost_usd = serializers.FloatField(help_text="The chat's tokens at the model's prices.")
    finish_reason = serializers.CharField()
    asked = serializers.BooleanField(help_text="False when no chunk was near enough: no model was asked.")
