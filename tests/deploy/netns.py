"""Network namespaces joined by veth pairs: hosts on one machine, for a scale-out rehearsal.

One namespace plays the services host (PostgreSQL, Redis, the simulator) at ``SERVICES_IP``;
every other host, and the root namespace (where the test and its driver run), gets a veth pair
into it and an address of its own in the private test subnet. Nothing here routes anywhere
else, and :meth:`Network.close` deletes every namespace and veth it made, even after a failure.

Example::

    with Network.build(["w1", "w2"]) as net:
        net.popen("svc", ["redis-server", "--bind", SERVICES_IP])
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

SUBNET = "10.77.0"  # private, used only inside the namespaces and veths made here
SERVICES_IP = f"{SUBNET}.1"
ROOT_IP = f"{SUBNET}.2"
FIRST_HOST = 11  # hosts get .11, .12, ...


def ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CI runs this test as root)"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed"
    probe = f"tgprobe{os.getpid()}"
    try:
        ip("netns", "add", probe)
        ip("netns", "del", probe)
    except RuntimeError as exc:
        return f"`ip netns` is unavailable: {exc}"
    return None


@dataclass
class Network:
    tag: str
    hosts: dict[str, str] = field(default_factory=dict)  # host name -> its address
    namespaces: dict[str, str] = field(default_factory=dict)  # host name -> namespace
    root_links: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, hosts: Sequence[str]) -> Network:
        net = cls(tag=f"tg{os.getpid() % 100000}")
        try:
            svc = net._namespace("svc")
            ip("-n", svc, "addr", "add", f"{SERVICES_IP}/32", "dev", "lo")
            net._link(0, None, ROOT_IP)
            for number, host in enumerate(hosts, start=1):
                net._link(number, net._namespace(host), f"{SUBNET}.{FIRST_HOST + number - 1}")
                net.hosts[host] = f"{SUBNET}.{FIRST_HOST + number - 1}"
        except BaseException:
            net.close()
            raise
        return net

    def _namespace(self, host: str) -> str:
        name = f"{self.tag}-{host}"
        ip("netns", "add", name)
        self.namespaces[host] = name
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def _link(self, number: int, namespace: str | None, address: str) -> None:
        """A veth pair from the services host to ``namespace`` (None: the root namespace)."""
        svc_end, far_end = f"{self.tag}s{number}", f"{self.tag}p{number}"
        ip("link", "add", svc_end, "type", "veth", "peer", "name", far_end)
        if namespace is None:
            self.root_links.append(far_end)
        ip("link", "set", svc_end, "netns", self.namespaces["svc"])
        ip("-n", self.namespaces["svc"], "link", "set", svc_end, "up")
        ip("-n", self.namespaces["svc"], "route", "add", f"{address}/32", "dev", svc_end)
        far = ["-n", namespace] if namespace else []
        if namespace:
            ip("link", "set", far_end, "netns", namespace)
        ip(*far, "addr", "add", f"{address}/32", "dev", far_end)
        ip(*far, "link", "set", far_end, "up")
        ip(*far, "route", "add", f"{SERVICES_IP}/32", "dev", far_end)

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside ``host``'s namespace (``ip netns exec`` execs it: same pid)."""
        return ["ip", "netns", "exec", self.namespaces[host], *argv]

    def close(self) -> None:
        """Delete the namespaces (their veths go with them) and any root-side veth left behind."""
        errors = []
        for name in reversed(list(self.namespaces.values())):
            try:
                ip("netns", "del", name)
            except RuntimeError as exc:
                errors.append(str(exc))
        self.namespaces.clear()
        for link in self.root_links:
            if subprocess.run(["ip", "link", "show", link], capture_output=True, check=False).returncode == 0:
                try:
                    ip("link", "del", link)
                except RuntimeError as exc:  # its namespace's deletion took the pair meanwhile (asynchronous)
                    if "Cannot find device" not in str(exc):
                        raise
        self.root_links.clear()
        if errors:
            raise RuntimeError("; ".join(errors))

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
