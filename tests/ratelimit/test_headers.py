import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratelimit import ServerLimits, parse_duration, parse_rate_limit_headers


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20ms", 0.020),
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("14.981s", 14.981),
        ("6m0s", 360.0),
        ("1h2m3s", 3723.0),
        ("1m30.5s", 90.5),
        ("2h", 7200.0),
        ("0s", 0.0),
        ("0", 0.0),
        ("500us", 0.0005),
        ("500µs", 0.0005),
        ("250ns", 2.5e-7),
        (".5s", 0.5),
        ("2", 2.0),
        ("0.75", 0.75),
        (" 7s ", 7.0),
    ],
)
def test_parse_duration_reads_openai_forms(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "-1s", "1x", "1m s", "abc", "1s2", "1.2.3s", "m5"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@given(h=st.integers(0, 99), m=st.integers(0, 59), ms=st.integers(0, 59_999))
def test_parse_duration_reads_what_go_prints(h: int, m: int, ms: int) -> None:
    text = (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{ms / 1000:g}s"
    assert parse_duration(text) == pytest.approx(h * 3600 + m * 60 + ms / 1000)


def test_headers_are_read_case_insensitively() -> None:
    headers = {
        "X-RateLimit-Limit-Requests": "3000",
        "x-ratelimit-limit-tokens": "1000000",
        "X-RATELIMIT-REMAINING-REQUESTS": "2999",
        "x-ratelimit-remaining-tokens": "999190",
        "x-ratelimit-reset-requests": "20ms",
        "x-ratelimit-reset-tokens": "6m0s",
        "content-type": "application/json",
    }
    assert parse_rate_limit_headers(headers) == ServerLimits(3000, 1_000_000, 2999, 999_190, 0.02, 360.0)


def test_unreadable_or_missing_headers_are_none() -> None:
    parsed = parse_rate_limit_headers({"x-ratelimit-limit-tokens": "lots", "x-ratelimit-reset-tokens": "soon"})
    assert parsed == ServerLimits()
    assert parsed.is_empty()
