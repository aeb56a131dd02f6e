"""A broker that is down after the commit: the answer is the job that exists, and the sweep sends its work.

The web app runs as its own process (uvicorn, as ``tollgate up`` and the compose file run it)
with a broker nobody listens on, beside PostgreSQL, Redis (its cache and the limiter), the
simulator and workers that use the real broker. Nothing sends the job's tasks but the sweep.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from rest_framework.authtoken.models import Token

from project.embedded.process import free_port, port_is_open
from project.embeddings.models import EmbeddingJob
from project.launch import start_web
from project.pipeline import watch_job

DEAD_BROKER = "redis://127.0.0.1:9/0"  # the discard port: connection refused


def _call(port: int, method: str, path: str, token: str, body: object = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"authorization": f"Token {token}", "content-type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"body": error.read().decode(errors="replace")[:500]}


def test_a_submission_and_a_resume_the_broker_missed_answer_with_the_job_and_the_sweep_sends_its_work(rig, user):
    rig.start(rpm=600, tpm=60_000, window=1.0, workers=1, TOLLGATE_GROUP_TOKENS=120)
    token = Token.objects.create(user=user).key
    port = free_port()
    web = start_web(address="127.0.0.1", port=port, env={"CELERY_BROKER_URL": DEAD_BROKER}, log_dir=rig.log_dir)
    rig.stack.callback(web.stop)
    deadline = time.monotonic() + 60
    while not port_is_open(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    documents = [{"text": f"Document {i} about the toll gate, its road and the cars that wait. " * 3} for i in range(6)]

    status, body = _call(port, "POST", "/api/documents", token, documents)
    assert status == 202, body  # the job exists: a 500 would make a client's retry a second job
    job = EmbeddingJob.objects.get(owner=user)
    assert body["job"] == job.pk and job.total_groups > 1 and job.status == EmbeddingJob.Status.RUNNING

    assert _call(port, "POST", f"/api/jobs/{job.pk}/pause", token)[0] == 200
    status, body = _call(port, "POST", f"/api/jobs/{job.pk}/resume", token)
    assert status == 200 and body["status"] == "running", body  # resumed: its tasks wait for the sweep
    job = watch_job(job.pk, progress=False)  # the sweep, as beat runs it
    assert job.status == EmbeddingJob.Status.COMPLETED and job.embedded_chunks == 6, job.last_error
    assert EmbeddingJob.objects.filter(owner=user).count() == 1
