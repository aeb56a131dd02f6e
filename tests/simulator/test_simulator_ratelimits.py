"""429s as the real API sends them, and the server's own proof of what it admitted.

Time-scaled: ``--time-scale 60`` makes a "minute" last one second, so windows pass in about a
second. A test that needs its requests inside one window gets a longer one (``--time-scale 6``:
ten seconds), or sends until it is refused: on a busy machine (load 5-15) a burst of a hundred
requests took longer than a second, the window slid, and the limit was never reached.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2
import openai
import pytest

from project.launch import start_simulator

SMALL = "text-embedding-3-small"


def client_for(sim, **kwargs):
    return openai.OpenAI(base_url=sim.base_url, api_key="sk-any", max_retries=0, **kwargs)


def body(error: openai.APIStatusError) -> dict:
    assert isinstance(error.body, dict)
    return error.body


@pytest.fixture(scope="module")
def free_tier():
    with start_simulator("--tier", "free", "--time-scale", "60") as sim:
        yield sim


@pytest.fixture(scope="module")
def free_tier_slow():
    """The free tier with a ten-second window: a burst fits in it however busy the machine is."""
    with start_simulator("--tier", "free", "--time-scale", "6") as sim:
        yield sim


def burst(client, count: int, threads: int = 4) -> list[object]:
    def one(i):
        try:
            return client.embeddings.create(model=SMALL, input=f"burst {i}")
        except openai.RateLimitError as error:
            return error

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def test_a_burst_gets_exactly_rpm_and_the_stats_prove_it(free_tier_slow):
    with client_for(free_tier_slow) as client:
        results = burst(client, 140)
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    stats = free_tier_slow.stats()
    assert stats["window_seconds"] == 10.0 and stats["day_seconds"] == 14400.0
    assert stats["limits"] == {"rpm": 100, "tpm": 40000, "rpd": 2000}
    assert stats["max_requests_in_window"] == 100  # never more, and the burst filled it
    assert stats["utilization"]["requests"] == 1.0
    assert stats["successes"] == 140 - len(refused) >= 100
    assert stats["rate_limited"]["requests"] == len(refused) > 0
    assert sum(second["requests"] for second in stats["timeline"]) == stats["successes"]
    error = refused[0]
    assert error.code == "rate_limit_exceeded" and error.type == "requests"
    message = body(error)["message"]
    assert message.startswith(f"Rate limit reached for {SMALL} in organization org-simulator on requests per min (RPM): Limit 100, Used 100, Requested 1. Please try again in ")
    headers = error.response.headers
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert 0 < int(headers["retry-after-ms"]) <= 10_000
    assert int(headers["retry-after"]) == math.ceil(int(headers["retry-after-ms"]) / 1000)
    assert headers["x-ratelimit-limit-tokens"] == "40000"


def until_refused(client, *, threads: int = 4, most: int = 2000) -> openai.RateLimitError:
    """Send until the server refuses (however far the window slid meanwhile); the first refusal."""
    for _ in range(0, most, 10 * threads):
        refused = [r for r in burst(client, 10 * threads, threads) if isinstance(r, openai.RateLimitError)]
        if refused:
            return refused[0]
    raise AssertionError(f"{most} requests and not one refused")


def test_the_window_slides_back_open(free_tier):
    free_tier.reset_limits()
    with client_for(free_tier) as client:
        refused = until_refused(client)
        time.sleep(int(refused.response.headers["retry-after-ms"]) / 1000 + 0.05)
        assert client.embeddings.create(model=SMALL, input="x").data


@pytest.fixture(scope="module")
def small_tpm():
    with start_simulator("--rpm", "1000", "--tpm", "50", "--time-scale", "6") as sim:  # its 3 calls in one window
        yield sim


def test_tokens_429_and_request_too_large(small_tpm):
    words = "one two three four five six seven eight nine ten"  # 10 tokens
    text = " ".join([words] * 3)
    with client_for(small_tpm) as client:
        assert client.embeddings.create(model=SMALL, input=text).usage.total_tokens == 30
        with pytest.raises(openai.RateLimitError) as caught:
            client.embeddings.create(model=SMALL, input=text)
        error = caught.value
        assert error.type == "tokens" and error.code == "rate_limit_exceeded"
        assert "on tokens per min (TPM): Limit 50, Used 30, Requested 30. Please try again in " in body(error)["message"]
        assert error.response.headers["x-ratelimit-remaining-tokens"] == "20"
        assert "retry-after" in error.response.headers
        with pytest.raises(openai.RateLimitError) as caught:
            client.embeddings.create(model=SMALL, input=" ".join([words] * 6))
        too_large = caught.value
        assert body(too_large)["message"].startswith(
            f"Request too large for {SMALL} in organization org-simulator on tokens per min (TPM): Limit 50, Requested 60."
        )
        assert too_large.type == "tokens" and "retry-after" not in too_large.response.headers
    stats = small_tpm.stats()
    assert stats["max_tokens_in_window"] <= 50
    assert stats["rate_limited"]["tokens"] == 2


def test_the_chars_estimator_charges_the_limit_not_the_usage():
    with start_simulator("--rpm", "1000", "--tpm", "1000", "--token-estimator", "chars") as sim:
        with client_for(sim) as client:
            raw = client.embeddings.with_raw_response.create(model=SMALL, input="a" * 400)
            usage = raw.parse().usage.total_tokens
            assert raw.headers["x-ratelimit-remaining-tokens"] == "900"  # 400 chars / 4
            assert usage != 100
        stats = sim.stats()
        assert stats["tokens_admitted"] == 100 and stats["usage_tokens"] == usage
        assert stats["token_estimator"] == "chars"


def test_the_bucket_refills_instead_of_sliding():
    # A ten-second "minute": one request refills every second, far slower than any client sends.
    with start_simulator("--rpm", "10", "--tpm", "0", "--time-scale", "6", "--algorithm", "bucket") as sim:
        with client_for(sim) as client:
            refused = until_refused(client, threads=1)
            wait = int(refused.response.headers["retry-after-ms"]) / 1000
            assert wait <= 1.0  # one refill away; a sliding window would say ~10 s
            time.sleep(wait + 0.05)
            assert client.embeddings.create(model=SMALL, input="again").data
        assert sim.stats()["algorithm"] == "bucket"


def test_requests_per_day():
    with start_simulator("--rpm", "100", "--tpm", "0", "--rpd", "3", "--time-scale", "8640") as sim:
        with client_for(sim) as client:
            results = burst(client, 4, threads=1)
        error = results[-1]
        assert isinstance(error, openai.RateLimitError)
        assert "on requests per day (RPD): Limit 3, Used 3, Requested 1." in body(error)["message"]
        assert sim.stats()["max_requests_in_day"] == 3


def test_tier_presets_show_in_the_headers():
    with start_simulator("--tier", "3") as sim:
        with httpx2.Client() as http:
            response = http.post(sim.base_url + "/embeddings", json={"model": SMALL, "input": "x"})
        assert response.headers["x-ratelimit-limit-requests"] == "5000"
        assert response.headers["x-ratelimit-limit-tokens"] == "5000000"
        assert response.headers["x-ratelimit-remaining-requests"] == "4999"
        assert sim.stats()["limits"] == {"rpm": 5000, "tpm": 5000000, "rpd": None}


def test_failed_requests_take_a_request_slot():
    with start_simulator("--rpm", "2", "--tpm", "0", "--time-scale", "6") as sim:
        with client_for(sim) as client:
            with pytest.raises(openai.BadRequestError):
                client.embeddings.create(model=SMALL, input="")
            client.embeddings.create(model=SMALL, input="ok")
            with pytest.raises(openai.RateLimitError):
                client.embeddings.create(model=SMALL, input="third")


def test_limits_change_at_run_time():
    with start_simulator("--tier", "5") as sim:
        config = sim.configure(rpm=1, time_scale=6)
        assert (config["rpm"], config["window_seconds"]) == (1, 10.0)
        with client_for(sim) as client:
            client.embeddings.create(model=SMALL, input="one")
            with pytest.raises(openai.RateLimitError) as caught:
                client.embeddings.create(model=SMALL, input="two")
        assert caught.value.response.headers["x-ratelimit-limit-requests"] == "1"
        assert sim.stats()["window_seconds"] == 10.0
