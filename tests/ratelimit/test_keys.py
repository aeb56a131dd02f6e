import pytest

from ratelimit import Limiter, Limits, fingerprint
from ratelimit.keys import KeySpace


def test_fingerprint_is_short_stable_and_hides_the_key() -> None:
    key = "sk-proj-" + "abcdefghijklmnopqrstuvwxyz0123456789"  # shaped like a key, split so no scan mistakes it for one
    fp = fingerprint(key, "https://api.openai.com/v1/")
    assert fp == fingerprint(key, "https://API.openai.com/v1")
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert key not in fp and "abcdef" not in fp
    assert fp != fingerprint(key, "http://localhost:8000/v1")
    assert fp != fingerprint(key + "x", "https://api.openai.com/v1")


def test_all_keys_share_one_hash_tag_and_name_no_limit() -> None:
    keys = KeySpace.build(account="acct", model="m", window_us=60_000_000)
    for key in [*keys.all, keys.history]:
        assert key.count("{") == 1 and "{acct:m}" in key
    assert keys.log == "tollgate:rl:{acct:m}:log" and keys.state == "tollgate:rl:{acct:m}:state"
    assert keys.day == "tollgate:rl:{acct:m}:day" and keys.cooldown == "tollgate:rl:{acct:m}:cooldown"
    assert keys.history == "tollgate:rl:{acct:m}:w60000000:history"  # buckets are a fraction of the window


def test_limiters_of_other_limits_use_the_same_window(client) -> None:
    """The provider keeps one window per account and model, whatever each process is configured with."""
    a = Limiter(client, account="acct", model="m", limits=Limits(requests=10, tokens=100))
    b = Limiter(client, account="acct", model="m", limits=Limits(requests=10, tokens=200, requests_per_day=5))
    c = Limiter(client, account="acct", model="m", limits=Limits(requests=10, tokens=100, window_seconds=1))
    assert a.keys.all == b.keys.all == c.keys.all
    assert a.keys.history == b.keys.history != c.keys.history


def test_a_changed_limit_applies_to_the_same_window(make_limiter) -> None:
    small = make_limiter(requests=10, tokens=100, window_seconds=10)
    assert small.acquire(tokens=100).admitted
    assert not small.acquire(tokens=1).admitted
    bigger = make_limiter(requests=10, tokens=200, window_seconds=10)  # the same account, TOLLGATE_TPM raised
    assert bigger.usage().tokens_used == 100
    assert not bigger.acquire(tokens=101).admitted
    assert bigger.acquire(tokens=100).admitted


@pytest.mark.parametrize("account", ["sk-proj-abc", "has{brace}", "", "with space"])
def test_bad_accounts_are_refused(client, account: str) -> None:
    with pytest.raises(ValueError):
        Limiter(client, account=account, model="m", limits=Limits(requests=1, tokens=1))
