"""Asks on real parts: workers embed two owners' documents, the simulator answers, over the API (JSON and
SSE, through Django's ASGI handler), the CLI and the monitoring; each owner's ask reads only its own chunks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from project.ask.models import Ask
from project.embeddings.budget import tokens_today
from project.monitoring.metrics import render
from project.pipeline import watch_job

QUESTION = "What does the toll gate admit every request against?"
ADA = [
    ("gate.txt", "The toll gate admits every request against one limit shared by the whole pool. "
     "Workers on many hosts ask it before they call the provider."),
    ("cooldown.txt", "After a 429 the gate starts a cooldown, and every worker waits until it ends."),
    ("garden.txt", "Tomatoes grow best in full sun with regular watering."),
]  # fmt: skip
BOB = [("bob-gate.txt", "Bob's toll gate admits every request against the secret limit of Bob's own pool.")]


def client_of(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def store(client: APIClient, documents) -> None:
    response = client.post("/api/documents", [{"text": text, "source": source} for source, text in documents], format="json")
    assert response.status_code == 202, response.content
    assert watch_job(response.json()["job"], progress=False).status == "completed"


def sse(token: str, body: dict) -> list[tuple[str, dict]]:
    """POST /api/ask through Django's ASGI handler (as uvicorn serves it), read as the events arrive."""

    async def read() -> list[tuple[str, dict]]:
        response = await AsyncClient().post("/api/ask", body, content_type="application/json",
                                            headers={"Authorization": f"Token {token}", "Accept": "text/event-stream"})  # fmt: skip
        assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
        text = "".join([part.decode() async for part in response.streaming_content])
        events = []
        for block in filter(None, text.split("\n\n")):
            name, data = block.split("\n")
            events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
        return events

    return async_to_sync(read)()


def test_an_ask_answers_from_its_owner_s_chunks_with_numbered_sources_on_every_face(rig, user, django_user_model):
    rig.start(rpm=600, tpm=60_000, window=1.0, workers=1, concurrency=2)
    bob = django_user_model.objects.create_user(username="bob")
    ada_api, bob_api = client_of(user), client_of(bob)
    store(ada_api, ADA)
    store(bob_api, BOB)
    served = rig.simulator.stats()["requests"]

    # JSON: the answer cites its numbered sources, all of them ada's
    body = ada_api.post("/api/ask", {"question": QUESTION}, format="json").json()
    assert body["asked"] and body["model"] == "gpt-4o-mini" and body["finish_reason"] == "stop"
    names = [source["source"] for source in body["sources"]]
    assert names[0] == "gate.txt" and "bob-gate.txt" not in names and set(names) <= {name for name, _ in ADA}
    assert "one limit shared by the whole pool. [1]" in body["answer"]
    assert body["sources"][0]["cited"] and body["sources"][0]["n"] == 1 and body["sources"][0]["text"] == ADA[0][1]
    usage = body["usage"]
    assert usage["prompt_tokens"] > 50 and 0 < usage["completion_tokens"] < 600 and usage["embedding_tokens"] > 5
    assert body["cost_usd"] > 0
    bob_body = bob_api.post("/api/ask", {"question": QUESTION}, format="json").json()
    assert [source["source"] for source in bob_body["sources"]] == ["bob-gate.txt"]

    # SSE through the ASGI handler: sources, the answer's pieces, then the whole result
    events = sse(Token.objects.get(user=user).key, {"question": QUESTION})
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done" and names.count("delta") > 5
    assert set(names[1:-1]) == {"delta"}
    assert "".join(data["text"] for name, data in events if name == "delta") == events[-1][1]["answer"] == body["answer"]
    assert [s["chunk"] for s in events[0][1]["sources"]] == [s["chunk"] for s in body["sources"]]

    # the CLI: the answer as it arrives, then one JSON object
    result = subprocess.run([sys.executable, "-m", "project.cli", "ask", QUESTION, "--json", "--owner", "ada", "-k", "2"],
                            env=dict(os.environ), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed["answer"] == body["answer"] and len(printed["sources"]) == 2
    assert printed["sources"][0]["source"] == "gate.txt" and printed["model"] == "gpt-4o-mini"
    assert body["answer"] in result.stderr and "[1] gate.txt" in result.stderr

    # a refusal: a clear 400 naming the question, or an error event after the sources; recorded, as it was billed
    rig.simulator.configure(chat_refusal=True)
    refused = ada_api.post("/api/ask", {"question": QUESTION}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "question"
    assert refused.json()["detail"].startswith("the model declined to answer")
    events = sse(Token.objects.get(user=user).key, {"question": QUESTION})
    assert [name for name, _ in events] == ["sources", "error"] and events[1][1]["field"] == "question"
    rig.simulator.configure(chat_refusal=False)

    # budgets and monitoring count the asks' tokens and admissions beside the embeddings'
    asks = Ask.objects.filter(owner=user)
    assert [a.outcome for a in asks.order_by("pk")] == ["answered", "answered", "answered", "refused", "refused"]
    asked = sum(a.tokens for a in asks)
    jobs = sum(job.total_tokens for job in user.embedding_jobs.all())
    assert tokens_today(owner=user, now=timezone.now()) == jobs + asked
    metrics = render().decode()
    chat_admitted = [line for line in metrics.splitlines()
                     if line.startswith("tollgate_limiter_admitted_requests_total{") and 'model="gpt-4o-mini"' in line]  # fmt: skip
    assert chat_admitted and float(chat_admitted[0].split()[-1]) == 6  # ada's 5 and bob's 1
    server = rig.simulator.stats()
    assert server["requests"] - served == 6 * 2  # each ask: the question's embedding and one chat request
    assert server["rate_limited"]["requests"] == server["rate_limited"]["tokens"] == 0
