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


def test_all_keys_share_one_hash_tag_and_name_the_limits() -> None:
    keys = KeySpace.build(account="acct", model="m", limits=Limits(requests=3000, tokens=1_000_000))
    for key in keys.all:
        assert key.count("{") == 1 and "{acct:m}" in key
    assert "r3000" in keys.log and "t1000000" in keys.log and "w60000000" in keys.log


def test_different_limits_use_different_counters() -> None:
    a = KeySpace.build(account="acct", model="m", limits=Limits(requests=10, tokens=100))
    b = KeySpace.build(account="acct", model="m", limits=Limits(requests=10, tokens=200))
    c = KeySpace.build(account="acct", model="m", limits=Limits(requests=10, tokens=100, window_seconds=1))
    assert len({a.log, b.log, c.log}) == 3 and len({a.state, b.state, c.state}) == 3
    assert a.cooldown == b.cooldown == c.cooldown  # a 429 is about the account, whatever our config


def test_changed_limits_do_not_reuse_stale_counters(make_limiter) -> None:
    small = make_limiter(requests=10, tokens=100, window_seconds=10)
    assert small.acquire(tokens=100).admitted
    assert not small.acquire(tokens=1).admitted
    bigger = make_limiter(requests=10, tokens=200, window_seconds=10)
    assert bigger.usage().tokens_used == 0
    assert bigger.acquire(tokens=200).admitted


@pytest.mark.parametrize("account", ["sk-proj-abc", "has{brace}", "", "with space"])
def test_bad_accounts_are_refused(client, account: str) -> None:
    with pytest.raises(ValueError):
        Limiter(client, account=account, model="m", limits=Limits(requests=1, tokens=1))
