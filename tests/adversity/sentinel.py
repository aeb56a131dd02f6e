"""A Redis master, its replica and three sentinels on loopback, from Debian's redis-server and redis-sentinel.

Each server is a process of its own (``tests/deploy/hosts.Processes``), configured as in
production: the data nodes and the sentinels each require a password, so a test can check that
neither ends up anywhere it should not. The sentinels declare a master down after a second of
silence; a failover then takes a few seconds. .ci/run installs the two Debian packages.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from project.embedded.process import HOST, free_port
from tests.deploy.hosts import Processes, wait_for_port

SERVICE = "tollgate"
DOWN_AFTER_MS = 1000  # a master silent this long is down
FAILOVER_TIMEOUT_MS = 4000
START_TIMEOUT = 20.0


def binaries() -> tuple[str, str]:
    server, sentinel = shutil.which("redis-server"), shutil.which("redis-sentinel")
    if not (server and sentinel):
        pytest.fail("redis-server and redis-sentinel are needed: apt-get install redis-server redis-sentinel (.ci/run)")
    return server, sentinel


@dataclass
class SentinelCluster:
    procs: Processes
    folder: Path
    password: str = field(default_factory=lambda: secrets.token_hex(12), repr=False)
    sentinel_password: str = field(default_factory=lambda: secrets.token_hex(12), repr=False)
    nodes: dict[int, subprocess.Popen] = field(default_factory=dict)  # data nodes by port
    sentinels: list[int] = field(default_factory=list)  # their ports

    @classmethod
    def start(cls, procs: Processes, folder: Path) -> SentinelCluster:
        """A master, a replica in sync with it, and three sentinels that agree on both."""
        server, sentinel = binaries()
        cluster = cls(procs, folder)
        master = cluster._node(server, free_port())
        cluster._node(server, free_port(), replica_of=master)
        for _ in range(3):
            cluster._sentinel(sentinel, free_port(), master)
        cluster._settled(master)
        return cluster

    @property
    def url(self) -> str:
        """tollgate's Sentinel URL of this cluster (ratelimit/sentinel.py)."""
        hosts = ",".join(f"{HOST}:{port}" for port in self.sentinels)
        return f"sentinel://:{self.password}@{hosts}/{SERVICE}/0?sentinel_password={self.sentinel_password}"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(HOST, port, password=self.password, socket_timeout=2)

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers says."""
        for port in self.sentinels:
            with redis.Redis(HOST, port, password=self.sentinel_password, socket_timeout=2) as client:
                try:
                    return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])
                except redis.RedisError:
                    continue
        raise RuntimeError("no sentinel answered")

    def kill_master(self) -> int:
        """SIGKILL the master (no shutdown, no last write to anyone); its port."""
        port = self.master_port()
        self.procs._signal_group(self.nodes[port], signal.SIGKILL)
        self.nodes[port].wait(10)
        return port

    def wait_for_new_master(self, old: int, *, timeout: float) -> int:
        """The port of the replica the sentinels promoted, once it takes writes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = self.master_port()
            if port != old:
                with self.node(port) as client:
                    if client.info("replication")["role"] == "master":
                        return port
            time.sleep(0.1)
        raise TimeoutError(f"no failover within {timeout} s")

    def _node(self, server: str, port: int, *, replica_of: int | None = None) -> int:
        data = self.folder / f"node-{port}"
        data.mkdir(parents=True)
        config = [
            f"port {port}",
            f"bind {HOST}",
            f"dir {data}",
            'save ""',
            "appendonly no",  # a cache-only Redis: a failover keeps what the replica had, nothing more
            f"requirepass {self.password}",
            f"masterauth {self.password}",
            "repl-diskless-sync yes",
            "repl-diskless-sync-delay 0",
        ]
        if replica_of is not None:
            config.append(f"replicaof {HOST} {replica_of}")
        (data / "redis.conf").write_text("\n".join(config) + "\n")
        process = self.procs.start(f"redis-{port}", [server, str(data / "redis.conf")])
        wait_for_port(HOST, port, timeout=START_TIMEOUT, process=process)
        self.nodes[port] = process
        return port

    def _sentinel(self, binary: str, port: int, master: int) -> None:
        data = self.folder / f"sentinel-{port}"
        data.mkdir(parents=True)
        config = [
            f"port {port}",
            f"bind {HOST}",
            f"dir {data}",
            f"sentinel monitor {SERVICE} {HOST} {master} 2",
            f"sentinel auth-pass {SERVICE} {self.password}",
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}",
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}",
            f"sentinel parallel-syncs {SERVICE} 1",
            f"requirepass {self.sentinel_password}",
            f"sentinel sentinel-pass {self.sentinel_password}",
        ]
        (data / "sentinel.conf").write_text("\n".join(config) + "\n")  # a sentinel rewrites its own file
        process = self.procs.start(f"sentinel-{port}", [binary, str(data / "sentinel.conf")])
        wait_for_port(HOST, port, timeout=START_TIMEOUT, process=process)
        self.sentinels.append(port)

    def _settled(self, master: int) -> None:
        """The replica in sync, and every sentinel knowing the replica and the two other sentinels."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with self.node(master) as client:
                synced = client.info("replication").get("connected_slaves") == 1
            known = []
            for port in self.sentinels:
                with redis.Redis(HOST, port, password=self.sentinel_password, socket_timeout=2) as client:
                    state = client.sentinel_master(SERVICE)
                known.append(state["num-slaves"] == 1 and state["num-other-sentinels"] == 2)
            if synced and all(known):
                return
            time.sleep(0.2)
        raise TimeoutError("the sentinels did not settle on the master and its replica")
