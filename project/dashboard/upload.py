"""The dashboard's upload: what can be stored is stored, and each file's outcome is listed.

Sent by htmx (the page stays, and so does the file picker's selection when nothing was stored:
change it and send again), the answer is ``_upload_result.html`` in place; a browser without
JavaScript posts the form and reads the same outcomes as messages on the page it is sent back to.
Files that are not text are refused one by one (the API, a script's all-or-nothing submission,
refuses the whole upload instead); empty files are skipped; NUL bytes are removed and said.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from project.api.errors import upload_too_large
from project.embeddings.ingest.uploads import REFUSED, SKIPPED, STORED, FileOutcome, UploadReading, uploads_read
from project.embeddings.jobs.submit import Submission, documents_submit

from .errors import expected, user_message
from .work import Refusal, work_refusal

logger = logging.getLogger(__name__)

STORED_HEADER = "X-Upload-Stored"  # "yes": the page clears the form; otherwise it keeps the selection


@login_required
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    too_large = upload_too_large(request)
    if too_large:
        return _refused(request, Refusal(too_large, 413))
    files = request.FILES.getlist("files")
    if not files:
        return _refused(request, Refusal("Choose at least one text file to upload.", 400))
    refusal = work_refusal(request)
    if refusal:
        return _refused(request, refusal)
    collection = request.POST.get("collection") or "default"
    reading = uploads_read(files=[(f.name, f.read()) for f in files], owner=request.user, collection=collection)
    for line in reading.warnings:
        logger.warning(line)
    submission, error = None, ""
    if reading.texts:
        texts = [(collection, text) for text in reading.texts]
        try:
            submission = documents_submit(texts=texts, owner=request.user, lane=request.POST.get("lane") or "sync")
        except expected() as exc:
            error = user_message(exc)
    if request.headers.get("HX-Request"):
        context = {
            "reading": reading,
            "files": _worst_first(reading),
            "counts": _counts(reading),
            "submission": submission,
            "error": error,
        }
        response = render(request, "dashboard/_upload_result.html", context)
        response[STORED_HEADER] = "yes" if submission else "no"
        return response
    _as_messages(request, reading, submission, error)
    return redirect("dashboard:home")


def _worst_first(reading: UploadReading) -> list[FileOutcome]:
    """The files a person must look at first: refused, skipped, changed (NUL bytes removed), then the rest."""
    rank = {REFUSED: 0, SKIPPED: 1}
    return sorted(reading.files, key=lambda f: rank.get(f.outcome, 2 if f.notes else 3))


def _counts(reading: UploadReading) -> list[tuple[str, int]]:
    """How many files had each outcome, in the order outcomes first appear: [("stored", 33), ("refused", 1)]."""
    counts: dict[str, int] = {}
    for f in reading.files:
        counts[f.outcome] = counts.get(f.outcome, 0) + 1
    return list(counts.items())


def _refused(request: HttpRequest, refusal: Refusal) -> HttpResponse:
    template = "dashboard/_upload_result.html" if request.headers.get("HX-Request") else "dashboard/error.html"
    response = render(request, template, {"error": refusal.message, "message": refusal.message}, status=refusal.status)
    return refusal.headers(response)


def _as_messages(request: HttpRequest, reading: UploadReading, submission: Submission | None, error: str) -> None:
    """Without JavaScript: the same outcomes as messages on the dashboard it is sent back to."""
    if submission:
        messages.success(request, submitted(submission))
    if error:
        messages.error(request, error)
    for f in reading.files:
        if f.outcome != STORED or f.notes:
            messages.warning(request, f.line)
    if not reading.texts:
        messages.error(request, "Nothing was stored: no file held text.")


def submitted(submission: Submission) -> str:
    """``"Job 7 (sync lane): 3 new documents, 12 chunks to embed."``"""
    job, created, chunks = submission.job, submission.report.created, submission.plan.chunks
    return (
        f"Job {job.pk} ({job.lane} lane): {created:,} new document{'' if created == 1 else 's'}, "
        f"{chunks:,} chunk{'' if chunks == 1 else 's'} to embed."
    )
