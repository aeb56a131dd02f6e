"""The Batch API through the real openai SDK, at a time scale where a batch takes half a second.

``--time-scale 43200`` makes the 24h window two seconds; ``--batch-seconds 21600`` (six
hours, unscaled) makes a batch take 0.5 s: validating, in_progress, finalizing, completed.
"""

from __future__ import annotations

import json
import time

import openai
import pytest
import tiktoken

from project.launch import start_simulator
from simulator.batch_input import BatchInputError, read_batch_input

SMALL = "text-embedding-3-small"
DEFAULTS = dict(batch_seconds=21600, batch_line_error_rate=0, batch_expire_rate=0, batch_validation_failure_rate=0,
                file_error_rate=0, batch_queue_tokens=3_000_000)


@pytest.fixture(scope="module")
def sim():
    with start_simulator("--tier", "1", "--time-scale", "43200", "--batch-seconds", "21600", "--seed", "5") as process:
        yield process


@pytest.fixture
def client(sim):
    sim.configure(**DEFAULTS)
    sim.reset_stats()
    with openai.OpenAI(base_url=sim.base_url, api_key="sk-batch", max_retries=0) as client:
        yield client


def request_line(custom_id: str, text, *, model: str = SMALL, url: str = "/v1/embeddings") -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": {"model": model, "input": text}}


def upload(client, lines: list[dict]):
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return client.files.create(file=("requests.jsonl", content), purpose="batch")


def submit(client, lines: list[dict]):
    uploaded = upload(client, lines)
    return client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")


def wait(client, batch_id: str, *, until=("completed", "failed", "expired", "cancelled"), timeout: float = 15.0):
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if not seen or seen[-1] != batch.status:
            seen.append(batch.status)
        if batch.status in until:
            return batch, seen
        time.sleep(0.03)
    raise AssertionError(f"batch {batch_id} still {seen[-1]} after {timeout}s (seen {seen})")


def jsonl(client, file_id: str) -> list[dict]:
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines() if line]


def texts(n: int) -> list[str]:
    return [f"document {i} about workers sharing a rate limit number {i * 7}" for i in range(n)]


def test_a_batch_completes_and_every_line_matches_by_custom_id(client):
    inputs = texts(40)
    lines = [request_line(f"doc-{i}", text) for i, text in enumerate(inputs)]
    lines.append(request_line("pair", ["first of two", "second of two"]))
    created = submit(client, lines)
    assert created.status == "validating" and created.endpoint == "/v1/embeddings"
    batch, seen = wait(client, created.id)
    assert "in_progress" in seen and seen[-1] == "completed"  # validating lasts 25 ms: the create showed it
    assert batch.request_counts.model_dump() == {"total": 41, "completed": 41, "failed": 0}
    assert batch.error_file_id is None and batch.completed_at and batch.in_progress_at and batch.finalizing_at
    outputs = jsonl(client, batch.output_file_id)
    by_id = {line["custom_id"]: line for line in outputs}
    assert sorted(by_id) == sorted(line["custom_id"] for line in lines)
    assert [line["custom_id"] for line in outputs] != [line["custom_id"] for line in lines]  # any order
    sync = client.embeddings.create(model=SMALL, input=inputs, encoding_format="float").data
    for i, item in enumerate(sync):
        response = by_id[f"doc-{i}"]["response"]
        assert response["status_code"] == 200 and response["request_id"].startswith("req_")
        assert response["body"]["data"][0]["embedding"] == item.embedding  # the same vectors as /v1/embeddings
        assert by_id[f"doc-{i}"]["error"] is None
    assert len(by_id["pair"]["response"]["body"]["data"]) == 2
    encoding = tiktoken.encoding_for_model(SMALL)
    every_input = [*inputs, "first of two", "second of two"]
    assert batch.usage.input_tokens == sum(len(encoding.encode_ordinary(t)) for t in every_input)


def test_stats_count_batch_work_apart_from_sync_requests(sim, client):
    batch, _ = wait(client, submit(client, [request_line(f"s{i}", ["one", "two", "three"]) for i in range(5)]).id)
    stats = sim.stats()
    served = stats["batch"].pop("inputs_served")
    assert stats["batch"] == {"batches": {"completed": 1, "failed": 0, "expired": 0, "cancelled": 0},
                              "requests_completed": 5, "requests_failed": 0, "inputs": 15, "usage_tokens": 15,
                              "created": 1, "files_uploaded": 1, "max_enqueued_tokens": 15}
    # per input, like /v1/embeddings' count: each of the three texts was billed in all five lines
    assert served["served"] == 15 and served["distinct"] == 3 and served["most_per_input"] == 5
    assert stats["inputs"]["served"] == 0
    assert stats["requests"] == 0 and stats["usage_tokens"] == 0  # nothing went through /v1/embeddings
    assert batch.usage.total_tokens == 15


def test_the_enqueued_token_limit(sim, client):
    sim.configure(batch_queue_tokens=1000)
    long_text = "tokens " * 300
    first = submit(client, [request_line("a", long_text), request_line("b", long_text)])
    second = submit(client, [request_line("c", long_text), request_line("d", long_text)])
    refused, _ = wait(client, second.id)
    assert refused.status == "failed" and refused.failed_at
    [error] = refused.errors.data
    assert error.code == "token_limit_exceeded"
    assert error.message == (
        f"Enqueued token limit reached for {SMALL} in organization org-simulator. Limit: 1,000 enqueued tokens. "
        "Please try again once some in_progress batches have been completed."
    )
    assert wait(client, first.id)[0].status == "completed"
    assert wait(client, submit(client, [request_line("e", long_text)]).id)[0].status == "completed"  # room again


def test_failed_lines_go_to_the_error_file(sim, client):
    sim.configure(batch_line_error_rate=0.4)
    lines = [request_line(f"ok-{i}", text) for i, text in enumerate(texts(30))] + [request_line("empty", "")]
    batch, _ = wait(client, submit(client, lines).id)
    assert batch.status == "completed"
    counts = batch.request_counts
    assert counts.total == 31 and counts.completed + counts.failed == 31 and 1 < counts.failed < 31
    failures = jsonl(client, batch.error_file_id)
    outputs = jsonl(client, batch.output_file_id)
    assert len(failures) == counts.failed and len(outputs) == counts.completed
    assert sorted(f["custom_id"] for f in failures + outputs) == sorted(line["custom_id"] for line in lines)
    for failure in failures:
        assert failure["response"]["status_code"] == 400 and failure["error"] is None
        assert set(failure["response"]["body"]["error"]) == {"message", "type", "param", "code"}
    empty = next(f for f in failures if f["custom_id"] == "empty")
    assert empty["response"]["body"]["error"]["message"].startswith("'$.input' is invalid.")


def test_a_batch_expires_part_done(sim, client):
    sim.configure(batch_expire_rate=1.0)
    lines = [request_line(f"e{i}", text) for i, text in enumerate(texts(40))]
    batch, seen = wait(client, submit(client, lines).id)
    assert batch.status == "expired" and "in_progress" in seen and batch.expired_at
    done = jsonl(client, batch.output_file_id)
    assert 10 <= len(done) <= 30  # the fault stalls it between 25% and 75%
    assert batch.request_counts.completed == len(done)
    not_run = jsonl(client, batch.error_file_id)
    assert {line["error"]["code"] for line in not_run} == {"batch_expired"}
    assert len(done) + len(not_run) == 40


def test_cancel_keeps_the_completed_part(sim, client):
    sim.configure(batch_seconds=64800)  # 1.5 s: long enough to cancel half-way
    lines = [request_line(f"c{i}", text) for i, text in enumerate(texts(60))]
    created = submit(client, lines)
    running = created
    while running.request_counts is None or running.request_counts.completed == 0:
        time.sleep(0.02)
        running = client.batches.retrieve(created.id)
    cancelling = client.batches.cancel(created.id)
    assert cancelling.status == "cancelling" and cancelling.cancelling_at
    batch, _ = wait(client, created.id)
    assert batch.status == "cancelled" and batch.cancelled_at
    done = jsonl(client, batch.output_file_id)
    assert 0 < len(done) < 60 and batch.request_counts.completed == len(done)
    assert {line["error"]["code"] for line in jsonl(client, batch.error_file_id)} == {"batch_cancelled"}
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.cancel(created.id)
    assert "Cannot cancel a batch with status 'cancelled'" in caught.value.body["message"]


def test_an_invalid_file_fails_validation_with_every_error(client):
    lines = [
        request_line("same", "one"),
        request_line("same", "two"),
        request_line("url", "three", url="/v1/chat/completions"),
        request_line("model", "four", model="text-embedding-3-large"),
    ]
    created = submit(client, lines)
    assert created.status == "validating" and created.errors is None
    batch, _ = wait(client, created.id)
    assert batch.status == "failed" and batch.output_file_id is None
    assert [(e.code, e.line) for e in batch.errors.data] == [
        ("duplicate_custom_id", 2), ("invalid_url", 3), ("mismatched_model", 4)
    ]


def test_an_injected_validation_failure(sim, client):
    sim.configure(batch_validation_failure_rate=1.0)
    batch, _ = wait(client, submit(client, [request_line("x", "fine")]).id)
    assert batch.status == "failed" and batch.errors.data[0].code == "validation_failed"
    assert sim.stats()["batch"]["batches"]["failed"] == 1


def test_the_size_limits_of_a_batch_file():
    def check(lines):
        content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
        with pytest.raises(BatchInputError) as caught:
            read_batch_input(content, endpoint="/v1/embeddings", estimator="tiktoken", chars_per_token=4)
        return caught.value.errors[0]["code"]

    assert check([request_line(f"r{i}", "x") for i in range(50_001)]) == "too_many_requests"
    assert check([request_line(f"r{i}", ["x"] * 2048) for i in range(25)]) == "too_many_inputs"
    assert check([]) == "empty_file"


def test_files_5xx_at_a_rate(sim, client):
    uploaded = upload(client, [request_line("x", "fine")])
    sim.configure(file_error_rate=1.0)
    with pytest.raises(openai.InternalServerError) as caught:
        upload(client, [request_line("y", "fine")])
    assert caught.value.status_code == 500
    with pytest.raises(openai.InternalServerError):
        client.files.retrieve(uploaded.id)
    assert sim.stats()["errors"]["500"] == 2
    sim.configure(file_error_rate=0.0)
    assert client.files.retrieve(uploaded.id).id == uploaded.id


def test_files_are_per_key_and_can_be_deleted(sim, client):
    uploaded = upload(client, [request_line("x", "fine")])
    assert uploaded.purpose == "batch" and uploaded.bytes > 0 and uploaded.filename == "requests.jsonl"
    assert json.loads(client.files.content(uploaded.id).text)["custom_id"] == "x"
    with openai.OpenAI(base_url=sim.base_url, api_key="sk-someone-else", max_retries=0) as other:
        with pytest.raises(openai.NotFoundError):
            other.files.retrieve(uploaded.id)
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError) as caught:
        client.files.retrieve(uploaded.id)
    assert caught.value.body["message"] == f"No such File object: {uploaded.id}"
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("notes.txt", b"hello"), purpose="batch")


def test_list_batches_newest_first_with_limit_and_after(client):
    ids = [submit(client, [request_line("x", f"text {i}")]).id for i in range(3)]
    page = client.batches.list(limit=2)
    assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
    rest = client.batches.list(limit=2, after=page.data[-1].id)
    assert rest.data[0].id == ids[0]
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")
