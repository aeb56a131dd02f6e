"""providers.batch against the real simulator over HTTP, through the openai SDK.

``--time-scale 43200`` makes the 24 h window two seconds and ``--batch-seconds 21600`` a batch
half a second. Each test calls with an API key of its own: the simulator keeps every key's
files, batches and enqueued tokens apart, as it does an organization's.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import numpy as np
import openai
import pytest

from project.launch import Simulator, start_simulator
from providers import AccountBlocked, InvalidInput, ProviderConfig, ProviderError, Transient, batch, embed
from providers.batch import BatchState, LineResult
from providers.client import request_body

MODEL = "text-embedding-3-small"
DIMENSIONS = 256
DEFAULTS = dict(batch_seconds=21600, batch_line_error_rate=0, batch_expire_rate=0, batch_validation_failure_rate=0,
                file_error_rate=0, batch_queue_tokens=3_000_000)


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with start_simulator("--tier", "1", "--time-scale", "43200", "--batch-seconds", "21600", "--seed", "11") as process:
        yield process


@pytest.fixture
def config(sim: Simulator) -> ProviderConfig:
    sim.configure(**DEFAULTS)
    secret = f"tollgate-secret-{uuid.uuid4().hex}"  # not sk-shaped: only the exact redaction can hide it
    return ProviderConfig(model=MODEL, dimensions=DIMENSIONS, api_key=secret, base_url=sim.base_url, timeout=10)


@pytest.fixture
def client(config: ProviderConfig) -> Iterator[openai.OpenAI]:
    with config.client() as sdk:
        yield sdk


def texts(n: int) -> list[str]:
    return [f"chunk {i} of a backfill that shares one rate limit, number {i * 13}" for i in range(n)]


def submit(client: openai.OpenAI, config: ProviderConfig, requests: dict[str, list[str]], *, key: str) -> BatchState:
    content = b"".join(batch.request_line(custom_id, config, inputs) for custom_id, inputs in requests.items())
    file_id = batch.upload(client, config, name=f"{key}.jsonl", content=content)
    return batch.create(client, config, file_id=file_id, key=key)


def wait(client: openai.OpenAI, config: ProviderConfig, state: BatchState, timeout: float = 15.0) -> BatchState:
    deadline = time.monotonic() + timeout
    while not state.final:
        assert time.monotonic() < deadline, f"batch {state.id} still {state.status} after {timeout}s"
        time.sleep(0.05)
        state = batch.retrieve(client, config, state.id)
    return state


def by_id(lines: Iterator[LineResult]) -> dict[str, LineResult]:
    found: dict[str, LineResult] = {}
    for line in lines:
        assert line.custom_id not in found, f"{line.custom_id} came back twice"
        found[line.custom_id] = line
    return found


def test_a_line_is_the_request_the_sync_lane_sends() -> None:
    config = ProviderConfig(model=MODEL, dimensions=DIMENSIONS, api_key="k")
    line = batch.request_line("group-7", config, ["héllo", "world"])
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {"custom_id": "group-7", "method": "POST", "url": "/v1/embeddings",
                                "body": request_body(config, ["héllo", "world"])}
    assert json.loads(line)["body"] == {"model": MODEL, "input": ["héllo", "world"], "dimensions": DIMENSIONS,
                                        "encoding_format": "base64"}
    ada = ProviderConfig(model="text-embedding-ada-002", dimensions=1536, api_key="k")
    assert "dimensions" not in json.loads(batch.request_line("a", ada, ["x"]))["body"]
    with pytest.raises(ValueError):
        batch.request_line("", config, ["x"])


def test_a_round_trip_gives_the_vectors_of_the_sync_endpoint(client, config) -> None:
    requests = {f"group-{i}": texts(40)[i * 4:(i + 1) * 4] for i in range(10)}
    created = submit(client, config, requests, key="round-trip")
    assert created.status == "validating" and not created.final and created.input_file_id
    done = wait(client, config, created)
    assert (done.status, done.completed, done.failed, done.total) == ("completed", 10, 0, 10)
    assert done.output_file_id and done.error_file_id is None and not done.queue_full
    lines = by_id(batch.results(client, config, done))
    assert sorted(lines) == sorted(requests)
    for custom_id, inputs in requests.items():
        line = lines[custom_id]
        assert line.error is None and line.status_code == 200 and line.vectors is not None
        assert line.total_tokens > 0
        expected = embed(client, config, inputs).vectors  # the same inputs through /v1/embeddings
        assert len(line.vectors) == len(expected) == 4
        for got, want in zip(line.vectors, expected, strict=True):
            assert got.dtype == np.float32 and got.shape == (DIMENSIONS,)
            np.testing.assert_array_equal(got, want)


def test_an_upload_and_a_batch_are_found_again_after_a_lost_record(client, config) -> None:
    content = batch.request_line("only", config, ["find me"])
    file_id = batch.upload(client, config, name="job-3-part-1.jsonl", content=content)
    batch.upload(client, config, name="job-3-part-2.jsonl", content=content)
    assert batch.find_upload(client, config, name="job-3-part-1.jsonl") == file_id
    assert batch.find_upload(client, config, name="job-3-part-9.jsonl") is None
    started = int(time.time())
    created = batch.create(client, config, file_id=file_id, key="job-3-part-1")
    batch.create(client, config, file_id=file_id, key="job-3-part-other")
    found = batch.find_batch(client, config, key="job-3-part-1")
    assert found is not None and found.id == created.id and found.input_file_id == file_id
    assert batch.find_batch(client, config, key="job-3-part-1", since=started - 5) is not None
    assert batch.find_batch(client, config, key="never-made") is None
    assert batch.find_batch(client, config, key="job-3-part-1", since=started + 3600) is None  # older: not read


def test_find_batch_pages_through_many_batches(client, config) -> None:
    file_id = batch.upload(client, config, name="pages.jsonl", content=batch.request_line("x", config, ["y"]))
    first = batch.create(client, config, file_id=file_id, key="the-oldest")
    for n in range(105):  # more than one page of 100
        batch.create(client, config, file_id=file_id, key=f"later-{n}")
    found = batch.find_batch(client, config, key="the-oldest")
    assert found is not None and found.id == first.id


def test_a_failed_line_comes_back_with_the_apis_message(client, config) -> None:
    too_long = "tokens " * 9000  # past the model's 8,192-token context
    requests = {"fine": ["a short text"], "too-long": [too_long]}
    done = wait(client, config, submit(client, config, requests, key="line-error"))
    assert (done.status, done.completed, done.failed) == ("completed", 1, 1)
    lines = by_id(batch.results(client, config, done))
    assert lines["fine"].vectors is not None and lines["fine"].error is None
    failed = lines["too-long"]
    assert failed.vectors is None and failed.status_code == 400 and failed.total_tokens == 0
    with pytest.raises(InvalidInput) as sync:
        embed(client, config, [too_long])
    assert failed.error == str(sync.value)  # the very message the endpoint gives
    assert "maximum context length" in failed.error


def test_an_expired_batch_gives_what_ran_and_batch_expired_for_the_rest(sim, client, config) -> None:
    sim.configure(batch_expire_rate=1.0)
    requests = {f"g{i}": [text] for i, text in enumerate(texts(40))}
    done = wait(client, config, submit(client, config, requests, key="expiring"))
    assert done.status == "expired" and done.final
    assert 0 < done.completed < 40 and done.failed == 0  # it stalls a quarter to three quarters done
    lines = by_id(batch.results(client, config, done))
    assert sorted(lines) == sorted(requests)
    ran = [line for line in lines.values() if line.vectors is not None]
    not_run = [line for line in lines.values() if line.vectors is None]
    assert len(ran) == done.completed and len(not_run) == 40 - done.completed
    for line in not_run:
        assert line.code == "batch_expired" and line.status_code is None and line.error
    for line in ran:
        np.testing.assert_array_equal(line.vectors[0], embed(client, config, requests[line.custom_id]).vectors[0])


def test_a_cancelled_batch_keeps_what_ran(sim, client, config) -> None:
    sim.configure(batch_seconds=86_400 * 1.5)  # 3 s here, longer than the 2 s window: cancelled midway, or else expired
    requests = {f"g{i}": [text] for i, text in enumerate(texts(40))}
    created = submit(client, config, requests, key="cancelled")
    time.sleep(0.6)
    cancelling = batch.cancel(client, config, created.id)
    assert cancelling.status == "cancelling" and not cancelling.final
    done = wait(client, config, cancelling)
    assert done.status == "cancelled"
    lines = by_id(batch.results(client, config, done))
    assert sorted(lines) == sorted(requests)
    not_run = [line for line in lines.values() if line.vectors is None]
    assert {line.code for line in not_run} == {"batch_cancelled"}
    assert len(not_run) == 40 - done.completed and 0 < done.completed < 40
    with pytest.raises(InvalidInput, match="Cannot cancel"):
        batch.cancel(client, config, done.id)


def test_a_full_queue_fails_the_batch_and_says_so(sim, client, config) -> None:
    sim.configure(batch_queue_tokens=100, batch_seconds=86_400 * 0.9)  # the first holds the queue for 1.8 s
    first = submit(client, config, {"a": ["tokens " * 80]}, key="fills-the-queue")
    refused = wait(client, config, submit(client, config, {"b": ["tokens " * 40]}, key="over-the-limit"))
    assert refused.status == "failed" and refused.queue_full
    [(code, message)] = refused.errors
    assert code == "token_limit_exceeded" and "Enqueued token limit reached" in message
    assert list(batch.results(client, config, refused)) == []  # nothing ran
    assert not wait(client, config, first).queue_full


def test_file_endpoint_5xx_are_transient(sim, client, config) -> None:
    done = wait(client, config, submit(client, config, {"a": ["before the fault"]}, key="before-fault"))
    sim.configure(file_error_rate=1.0)
    content = batch.request_line("a", config, ["x"])
    with pytest.raises(Transient, match="500"):
        batch.upload(client, config, name="faulty.jsonl", content=content)
    with pytest.raises(Transient):
        batch.find_upload(client, config, name="faulty.jsonl")
    with pytest.raises(Transient):
        list(batch.results(client, config, done))
    batch.delete_file(client, config, done.input_file_id)  # best effort: logged, not raised
    sim.configure(file_error_rate=0.0)
    assert batch.find_upload(client, config, name="before-fault.jsonl") == done.input_file_id  # still there


def test_a_file_that_breaks_off_mid_stream_is_transient(config) -> None:
    """The simulator never drops a file download, so a socket that does: one good line, then gone."""
    good = json.dumps({"custom_id": "a", "response": {"status_code": 200, "body": {
        "data": [{"index": 0, "embedding": [0.5, 0.25]}], "usage": {"total_tokens": 3}}}, "error": None})
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            body = good.encode() + b"\n"
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                               b"content-length: 100000\r\n\r\n" + body)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    broken = ProviderConfig(model=MODEL, dimensions=2, api_key=config.api_key,
                            base_url=f"http://127.0.0.1:{listener.getsockname()[1]}/v1", timeout=5)
    state = BatchState("batch_x", "completed", "file-in", "file-out", None, 2, 0, 2)
    seen: list[LineResult] = []
    with broken.client() as sdk, pytest.raises(Transient, match="broke off") as caught:
        for line in batch.results(sdk, broken, state):
            seen.append(line)
    server.join(5)
    listener.close()
    assert [line.custom_id for line in seen] == ["a"] and seen[0].total_tokens == 3
    np.testing.assert_array_equal(seen[0].vectors[0], np.array([0.5, 0.25], np.float32))
    assert config.api_key not in str(caught.value)


def test_unreachable_provider_is_transient(config) -> None:
    gone = ProviderConfig(model=MODEL, dimensions=DIMENSIONS, api_key=config.api_key, base_url="http://127.0.0.1:9/v1",
                          timeout=2)
    with gone.client() as sdk, pytest.raises(Transient) as caught:
        batch.retrieve(sdk, gone, "batch_x")
    assert config.api_key not in str(caught.value)


def test_unknown_ids_are_invalid_input_not_a_blocked_account(client, config) -> None:
    with pytest.raises(InvalidInput, match="not found"):
        batch.retrieve(client, config, "batch_does_not_exist")
    with pytest.raises(InvalidInput, match="not found"):
        batch.create(client, config, file_id="file-does-not-exist", key="k")


def test_delete_file_removes_it_and_a_second_delete_is_quiet(client, config) -> None:
    file_id = batch.upload(client, config, name="to-delete.jsonl", content=batch.request_line("a", config, ["x"]))
    batch.delete_file(client, config, file_id)
    assert batch.find_upload(client, config, name="to-delete.jsonl") is None
    batch.delete_file(client, config, file_id)


def test_a_wrong_key_is_a_blocked_account_and_never_shown() -> None:
    wrong = f"wrong-secret-{uuid.uuid4().hex}"
    with start_simulator("--api-key", "the-right-key", "--time-scale", "43200") as sim:
        config = ProviderConfig(model=MODEL, dimensions=DIMENSIONS, api_key=wrong, base_url=sim.base_url, timeout=10)
        calls = [
            lambda sdk: batch.upload(sdk, config, name="a.jsonl", content=batch.request_line("a", config, ["x"])),
            lambda sdk: batch.find_upload(sdk, config, name="a.jsonl"),
            lambda sdk: batch.create(sdk, config, file_id="file-x", key="k"),
            lambda sdk: batch.find_batch(sdk, config, key="k"),
            lambda sdk: batch.retrieve(sdk, config, "batch_x"),
            lambda sdk: batch.cancel(sdk, config, "batch_x"),
        ]
        with config.client() as sdk:
            for call in calls:
                with pytest.raises(AccountBlocked, match="401") as caught:
                    call(sdk)
                assert wrong not in str(caught.value) and wrong not in repr(caught.value)


def test_no_message_or_repr_holds_the_api_key(sim, client, config) -> None:
    sim.configure(batch_line_error_rate=1.0)
    done = wait(client, config, submit(client, config, {"a": ["x"], "b": [""]}, key="secretive"))
    lines = list(batch.results(client, config, done))
    assert len(lines) == 2 and all(line.error for line in lines)
    errors: list[ProviderError] = []
    for call in (lambda: batch.retrieve(client, config, "batch_missing"),
                 lambda: batch.cancel(client, config, done.id)):
        with pytest.raises(ProviderError) as caught:
            call()
        errors.append(caught.value)
    shown = " ".join([repr(config), repr(done), *map(repr, lines), *map(str, errors), *map(repr, errors)])
    assert config.api_key not in shown
