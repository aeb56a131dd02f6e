"""API views: parse, call a service or selector, serialize. No business logic here."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from project.ask.answer import ask_start
from project.ask.events import ask_events, streaming_response
from project.embeddings.ingest.documents import TextInput
from project.embeddings.ingest.uploads import SKIPPED, UploadReading, uploads_read
from project.embeddings.jobs.lifecycle import job_cancel_unfinished, job_pause_active, job_resume_paused
from project.embeddings.jobs.selectors import job_failures, job_get, job_list
from project.embeddings.jobs.submit import documents_submit
from project.embeddings.models import EmbeddingJob
from project.embeddings.search.query import search
from project.embeddings.sources.registry import source_named
from project.embeddings.sources.search import source_search
from project.monitoring.figures import job_figures, jobs_figures
from project.monitoring.limiter import limiter_view
from project.monitoring.pool import pool_views

from . import serializers as s
from .errors import ApiError, error_data, upload_too_large
from .parsers import DepthLimitedJSONParser
from .renderers import EventStreamRenderer
from .throttles import ApiRateThrottle, WorkRateThrottle

IDEMPOTENCY_KEY_LENGTH = 200  # EmbeddingJob.idempotency_key's size


class DocumentsView(APIView):
    parser_classes = [DepthLimitedJSONParser, MultiPartParser]
    throttle_classes = [ApiRateThrottle, WorkRateThrottle]

    @extend_schema(
        request={
            "application/json": s.DocumentsInSerializer,  # or a bare list of documents (the sync lane)
            "multipart/form-data": s.FilesInSerializer,
        },
        responses={202: s.SubmissionSerializer},
        summary="Store documents (a JSON list or uploaded files) and start a job embedding them",
    )
    def post(self, request: Request) -> Response:
        message = upload_too_large(request)
        if message:
            raise ApiError("payload_too_large", message)
        reading = None
        if request.content_type.startswith("multipart/"):
            texts, lane, reading = self._files(request)
        else:
            texts, lane = self._json(request)
        key = request.headers.get("Idempotency-Key", "").strip()[:IDEMPOTENCY_KEY_LENGTH]
        submission = documents_submit(texts=texts, owner=request.user, idempotency_key=key, lane=lane)
        url = reverse("api:job-detail", args=[submission.job.pk])
        report = submission.report
        if reading is not None:  # each file's outcome, as the dashboard lists them
            report.skipped += [f.line for f in reading.files if f.outcome == SKIPPED]
            report.warnings += [f.line for f in reading.files if f.outcome != SKIPPED and f.notes]
        body = s.SubmissionSerializer({"job": submission.job, "report": report, "plan": submission.plan, "url": url,
                                       "documents": len(report.documents),
                                       "files": reading.files if reading else []}).data  # fmt: skip
        headers = {"Location": url, **({"Idempotent-Replayed": "true"} if submission.replayed else {})}
        return Response(body, status=status.HTTP_200_OK if submission.replayed else status.HTTP_202_ACCEPTED,
                        headers=headers)  # fmt: skip

    def _json(self, request: Request) -> tuple[list[tuple[str, TextInput]], str]:
        if isinstance(request.data, dict):  # {"documents": [...], "lane": "batch"}
            serializer = s.DocumentsInSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            documents, lane = serializer.validated_data["documents"], serializer.validated_data["lane"]
        else:
            serializer = s.DocumentInSerializer(data=request.data, many=True, allow_empty=False)
            serializer.is_valid(raise_exception=True)
            documents, lane = serializer.validated_data, "sync"
        texts = [
            (item["collection"], TextInput(item["text"], source=item["source"], metadata=item["metadata"]))
            for item in documents
        ]
        return texts, lane

    def _files(self, request: Request) -> tuple[list[tuple[str, TextInput]], str, UploadReading]:
        """The files as texts, all or nothing: one that is not text refuses the whole upload (a 400 naming each)."""
        data = {
            "files": request.FILES.getlist("files"),
            "collection": request.data.get("collection", "default"),
            "lane": request.data.get("lane", "sync"),
        }
        serializer = s.FilesInSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        collection = serializer.validated_data["collection"]
        uploads = [(upload.name, upload.read()) for upload in serializer.validated_data["files"]]
        reading = uploads_read(files=uploads, owner=request.user, collection=collection)
        if reading.refused:
            refused = "; ".join(f.line for f in reading.refused)
            message = f"{len(reading.refused)} of {len(reading.files)} files are not text, so nothing was stored: {refused}"
            raise ValidationError({"files": [message]})
        return [(collection, text) for text in reading.texts], serializer.validated_data["lane"], reading


class JobListView(ListAPIView):
    serializer_class = s.JobSerializer
    queryset = EmbeddingJob.objects.none()  # for the schema; list() reads the selector

    def get_queryset(self):
        return job_list(viewer=self.request.user)

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.JobSerializer(jobs_figures(page), many=True).data)


class JobDetailView(APIView):
    @extend_schema(responses=s.JobSerializer)
    def get(self, request: Request, pk: int) -> Response:
        job = job_get(job_id=pk, viewer=request.user)
        body = s.JobSerializer(job_figures(job)).data
        body["failures_url"] = reverse("api:job-failures", args=[pk])
        return Response(body)


class JobFailuresView(ListAPIView):
    serializer_class = s.FailedChunkSerializer

    def get_queryset(self):
        return job_failures(job_id=self.kwargs["pk"], viewer=self.request.user)


class _JobActionView(APIView):
    service = staticmethod(job_pause_active)

    @extend_schema(request=None, responses={200: s.JobSerializer, 404: None, 409: None})
    def post(self, request: Request, pk: int) -> Response:
        job = self.service(job_id=pk, viewer=request.user)
        return Response(s.JobSerializer(job_figures(job)).data)


class JobPauseView(_JobActionView):
    service = staticmethod(job_pause_active)


class JobResumeView(_JobActionView):
    service = staticmethod(job_resume_paused)


class JobCancelView(_JobActionView):
    service = staticmethod(job_cancel_unfinished)


class SearchView(APIView):
    throttle_classes = [ApiRateThrottle, WorkRateThrottle]

    @extend_schema(
        parameters=[s.SearchQuerySerializer],
        responses=PolymorphicProxySerializer(
            "SearchHits", serializers=[s.SearchHitSerializer, s.SourceHitSerializer],
            resource_type_field_name=None, many=True,
        ),
    )  # fmt: skip
    def get(self, request: Request) -> Response:
        query = s.SearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        threshold = settings.TOLLGATE_MIN_SIMILARITY if params["threshold"] is None else params["threshold"]
        if params["source"]:  # the rows of a table kept embedded
            source = source_named(params["source"], viewer=request.user)
            rows = source_search(params["q"], source=source, viewer=request.user, k=params["k"], threshold=threshold)
            return Response(s.SourceHitSerializer(rows, many=True).data)
        hits = search(
            params["q"], viewer=request.user, k=params["k"], threshold=threshold, collection=params["collection"] or None
        )
        return Response(s.SearchHitSerializer(hits, many=True).data)


class LimitsView(APIView):
    @extend_schema(
        responses=s.LimitsSerializer,
        parameters=[OpenApiParameter("model", str, description="default: TOLLGATE_MODEL")],
    )
    def get(self, request: Request) -> Response:
        view = limiter_view(model=request.query_params.get("model") or None, windows=1)
        context = {"totals": view.history.totals, "deployments": pool_views()}
        return Response(s.LimitsSerializer(view.usage, context=context).data)


class AskView(APIView):
    """An answer from the user's stored chunks with numbered sources: JSON, or streamed with ``Accept: text/event-stream``."""

    throttle_classes = [ApiRateThrottle, WorkRateThrottle]
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        request=s.AskInSerializer,
        responses={200: s.AskResultSerializer},
        summary="Ask a question of your stored chunks (Accept: text/event-stream streams it: sources, delta…, done)",
    )
    def post(self, request: Request):
        serializer = s.AskInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        params = serializer.validated_data
        asking = ask_start(
            params["question"], owner=request.user, collection=params["collection"] or None, k=params["k"],
            threshold=params["threshold"], model=params["model"] or None,
        )  # fmt: skip
        if request.accepted_renderer.media_type == EventStreamRenderer.media_type:
            return streaming_response(request._request, ask_events(asking, error=error_data))
        for _ in asking:
            pass
        return Response(s.AskResultSerializer(asking.result()).data)
