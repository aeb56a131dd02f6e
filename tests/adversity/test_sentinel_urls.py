"""One Sentinel URL for everything that talks to Redis: the limiter, the broker, the web app's cache.

Parsed without a server; then against a real master, replica and three sentinels (with
passwords): the limiter and Django's cache reach the master through the sentinels, and the
settings give Celery its own form of the URL. No password shows in a repr, a description or an
error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache.backends.redis import RedisCache

from project.celery import sentinel_broker
from ratelimit import Limiter, LimiterUnavailable, Limits, SentinelUrl, is_sentinel_url
from tests.adversity.sentinel import SERVICE, SentinelCluster
from tests.deploy.hosts import Processes

URL = "sentinel://app:s3cret@10.0.0.1,10.0.0.2:26380,[fd00::3]:26381/mymaster/2?sentinel_password=sent1nel"


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_database() -> None:
    parsed = SentinelUrl.parse(URL)

    assert is_sentinel_url(URL) and not is_sentinel_url("redis://h:6379/0")
    assert parsed.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("fd00::3", 26381))
    assert (parsed.service, parsed.db, parsed.username) == ("mymaster", 2, "app")
    assert (parsed.password, parsed.sentinel_password) == ("s3cret", "sent1nel")
    for shown in (repr(parsed), parsed.describe()):
        assert "s3cret" not in shown and "sent1nel" not in shown
    assert parsed.describe() == "mymaster@10.0.0.1:26379,10.0.0.2:26380,fd00::3:26381"
    assert SentinelUrl.parse("sentinel://h/m").sentinels == (("h", 26379),)


@pytest.mark.parametrize(
    "url", ["sentinel://:s3cret@h1/", "sentinel://:s3cret@/m", "sentinel://:s3cret@h:port/m", "sentinel://:s3cret@h/m/x"]
)
def test_a_bad_sentinel_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        SentinelUrl.parse(url)
    assert "s3cret" not in str(caught.value) and "sentinel://" in str(caught.value)


def test_celery_gets_one_url_per_sentinel_and_the_masters_name_in_its_options() -> None:
    broker, options = sentinel_broker(URL)

    assert broker.split(";") == [
        "sentinel://app:s3cret@10.0.0.1:26379/2",
        "sentinel://app:s3cret@10.0.0.2:26380/2",
        "sentinel://app:s3cret@[fd00::3]:26381/2",
    ]
    assert options == {"master_name": "mymaster", "sentinel_kwargs": {"password": "sent1nel"}}


def test_settings_turn_one_sentinel_redis_url_into_the_broker_and_the_cache(tmp_path: Path) -> None:
    probe = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.CELERY_BROKER_URL, s.CELERY_BROKER_TRANSPORT_OPTIONS, s.CACHES['default']]))"
    )
    env = {name: value for name, value in os.environ.items() if name != "CELERY_BROKER_URL"}
    env |= {"REDIS_URL": URL, "TOLLGATE_HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "project.settings"}
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr[-2000:]
    broker, options, cache = json.loads(result.stdout)
    assert broker == sentinel_broker(URL)[0]
    assert options == {"visibility_timeout": 3600, "master_name": "mymaster", "sentinel_kwargs": {"password": "sent1nel"}}
    assert cache["LOCATION"] == [URL] and cache["OPTIONS"] == {"pool_class": "ratelimit.sentinel.SentinelPool"}


def test_the_limiter_and_the_cache_reach_the_master_through_the_sentinels(tmp_path: Path) -> None:
    procs = Processes(tmp_path / "logs")
    try:
        cluster = SentinelCluster.start(procs, tmp_path / "redis")
        limits = Limits(requests=10, tokens=100, window_seconds=30)
        with Limiter.from_url(cluster.url, account="through-sentinels", model="m", limits=limits) as limiter:
            assert limiter.acquire(tokens=60).admitted
            assert not limiter.acquire(tokens=60).admitted
            assert f"sentinel {SERVICE}@" in limiter.storage.address and cluster.password not in limiter.storage.address
            with cluster.node(cluster.master_port()) as master:
                assert master.exists(limiter.keys.log)
                master.script_flush()  # a server that never saw the scripts (a promoted replica)
            assert limiter.usage().tokens_used == 60

        cache = RedisCache([cluster.url], {"OPTIONS": {"pool_class": "ratelimit.sentinel.SentinelPool"}})
        cache.set("greeting", "hello", 30)
        assert cache.get("greeting") == "hello"

        wrong = cluster.url.replace(cluster.password, "not-the-password")
        with Limiter.from_url(wrong, account="through-sentinels", model="m", limits=limits) as limiter:
            with pytest.raises(LimiterUnavailable) as caught:
                limiter.acquire(tokens=1)
        for secret in (cluster.password, cluster.sentinel_password, "not-the-password"):
            assert secret not in str(caught.value)
    finally:
        procs.stop()
