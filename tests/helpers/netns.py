"""Test hosts on one machine: network namespaces joined by veth pairs (iproute2's `ip netns`, as root).

A hub namespace (the API and PostgreSQL) gets one link per host, each its own /24, so cutting one
host's link cuts off that host alone. The test process itself stays in the root namespace and reaches
the hub over a link of its own, like an operator's laptop.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass


def ip(*args: str) -> None:
    if shutil.which("ip") is None:
        raise RuntimeError("iproute2's `ip` is missing: install Debian's iproute2 (scripts/test does as root)")
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass(frozen=True)
class Link:
    hub_address: str      # what the host dials to reach the hub
    host_address: str     # what the hub sees the host as
    host_interface: str
    host_namespace: str | None  # None: the root namespace (the test process)

    def set(self, state: str) -> None:
        where = ["-n", self.host_namespace] if self.host_namespace else []
        ip(*where, "link", "set", self.host_interface, state)


class Lab:
    def __init__(self) -> None:
        if os.geteuid() != 0:
            raise RuntimeError("network namespaces need root (CI runs the tests as root)")
        self.tag = f"{os.getpid() % 100_000:05d}"
        # A subnet of this run's own, so a lab left behind by a killed run cannot answer in its place.
        self.subnet = f"10.{100 + os.getpid() % 150}"
        self.namespaces: list[str] = []
        self.root_interfaces: list[str] = []
        self.links = 0

    def namespace(self, role: str) -> str:
        name = f"mnl{self.tag}-{role}"
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")
        return name

    def link(self, hub: str, host: str | None) -> Link:
        """A veth pair between the hub and a host namespace (or the root namespace for host=None)."""
        index = self.links
        self.links += 1
        hub_side, host_side = f"m{self.tag}h{index}", f"m{self.tag}x{index}"
        ip("link", "add", hub_side, "type", "veth", "peer", "name", host_side)
        ip("link", "set", hub_side, "netns", hub)
        if host is not None:
            ip("link", "set", host_side, "netns", host)
        else:
            self.root_interfaces.append(host_side)
        hub_address, host_address = f"{self.subnet}.{index}.1", f"{self.subnet}.{index}.2"
        ip("-n", hub, "addr", "add", f"{hub_address}/24", "dev", hub_side)
        ip("-n", hub, "link", "set", hub_side, "up")
        host_ns = ["-n", host] if host is not None else []
        ip(*host_ns, "addr", "add", f"{host_address}/24", "dev", host_side)
        ip(*host_ns, "link", "set", host_side, "up")
        return Link(hub_address, host_address, host_side, host)

    @staticmethod
    def run_in(namespace: str) -> list[str]:
        """The prefix that runs a command inside a namespace."""
        return ["ip", "netns", "exec", namespace]

    @property
    def network(self) -> str:
        return f"{self.subnet}.0.0/16"

    def close(self) -> None:
        # A namespace lives on while a process is in it: end any that are left, then delete it, which
        # destroys the veth ends inside it and with them their peers.
        for name in self.namespaces:
            found = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
            for pid in map(int, found):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
        for interface in self.root_interfaces:  # the kernel may free a namespace's devices late: not these
            subprocess.run(["ip", "link", "delete", interface], capture_output=True)
