"""A private network namespace per test, with real tun devices, a real gateway and servers.

The `netns` fixture makes an empty namespace (only lo, down) and gives a `Netns` that adds
to it what a test needs:

- `tun(name)`: a tun device made by `ip tuntap`, held open by a process inside the namespace
  (TUNSETIFF) so the link has a carrier, set up, with an address 10.99.N.2/24. Any name:
  wg9, tun9, ppp9, utun3 (real WireGuard does not exist in this kernel). `attach=False`
  leaves it held by nobody: set up, but with no carrier.
- `gateway()`: a second namespace acting as the router, joined by a veth pair (10.77.0.1/24
  and 2001:db8:77::1/64 on its end, 10.77.0.2/24 and 2001:db8:77::2/64 on ours), with our
  default route via 10.77.0.1 and a real, complete neighbour entry for it; returns the
  gateway end's hardware address. `ipv6=True` also adds the IPv6 default route via
  2001:db8:77::1 and resolves that neighbour.
- `default_via(dev)`: `ip route replace default dev DEV`. It replaces the default route of
  the main table (the one via the gateway, if any): afterwards the only IPv4 default route is
  the one through DEV, with no gateway. IPv6 default routes are left as they are.
- `serve(address, port)`: a TCP server listening there until the test ends; returns its pid.
- `uplink(host_address, address)`: a veth pair to the machine's own (root) namespace,
  `address`/24 on this end (eth0) and `host_address`/24 on the root's, so that a program on
  the machine (a Prometheus server) reaches a server in here at `address`.
- `spawn(*argv, env=..., log=...)`: a long-running command inside the namespace, its output
  into `log`, killed when the test ends if it is still running.
- `run(*argv)`: a command inside the namespace (`ip netns exec`), output captured as text;
  `ip(*args)`: `ip -n NAME args`, which must succeed.

`make_netns` gives as many namespaces as a test asks for, each one such a `Netns`.

Namespace names carry the pid and a counter, so parallel runs do not collide; interface
names are private to each namespace (an uplink's root end is named after its namespace).
Everything is torn down when the test ends, failed or not: the processes held for it are
killed, then the namespaces are deleted (which removes their devices, an uplink's root end
with them). It needs root and `ip`; without them it skips, or fails when
HYGIENE_REQUIRE_REAL=1.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require_root, require_tool

START_TIMEOUT = 15.0
GATEWAY = "10.77.0.1"
CLIENT = "10.77.0.2"
GATEWAY6 = "2001:db8:77::1"
CLIENT6 = "2001:db8:77::2"

_names = itertools.count(1)

# Opens /dev/net/tun and attaches to the device named in argv[1] with TUNSETIFF (struct ifreq:
# 16-byte name, short flags IFF_TUN | IFF_NO_PI), says so, and holds it until stdin closes or
# it is killed. Run inside the namespace: the device is looked up in the opener's namespace.
_HOLDER = """
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", sys.argv[1].encode(), 0x0001 | 0x1000))
print("attached", flush=True)
sys.stdin.read()
"""

_SERVER = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
server = socket.socket(family, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen()
print("listening", flush=True)
sys.stdin.read()
"""

# Sends one datagram so the kernel resolves the neighbour (the gateway answers the ARP or
# neighbour solicitation, then an ICMP port unreachable; nothing listens on port 9).
_POKE = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
with socket.socket(family, socket.SOCK_DGRAM) as sock:
    sock.sendto(b"hello", (sys.argv[1], 9))
"""


@dataclass
class Netns:
    name: str
    ip_tool: str
    peers: list[str] = field(default_factory=list)  # other namespaces made for this test
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    uplinks: list[str] = field(default_factory=list)  # their ends in the root namespace
    tuns: int = 0

    def run(
        self, *argv: str, env: Mapping[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """A command inside the namespace, its output captured as text; not checked."""
        return subprocess.run(
            [self.ip_tool, "netns", "exec", self.name, *argv],
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ip(self, *args: str) -> str:
        """`ip -n NAME args`, which must succeed; its output."""
        return _ip(self.ip_tool, "-n", self.name, *args)

    def tun(self, name: str, *, attach: bool = True) -> None:
        """A tun device, held open by a process inside the namespace (unless attach=False)."""
        self.ip("tuntap", "add", "dev", name, "mode", "tun")
        if attach:
            self._start("attached", sys.executable, "-c", _HOLDER, name)
        self.ip("link", "set", name, "up")
        self.tuns += 1
        self.ip("address", "add", f"10.99.{self.tuns}.2/24", "dev", name)

    def gateway(self, *, ipv6: bool = False) -> str:
        """A second namespace routing for this one; the hardware address of its end, lower case."""
        peer = f"{self.name}gw"
        _ip(self.ip_tool, "netns", "add", peer)
        self.peers.append(peer)
        self.ip("link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", peer)
        for namespace, device, address, address6 in (
            (peer, "veth1", GATEWAY, GATEWAY6),
            (self.name, "veth0", CLIENT, CLIENT6),
        ):
            ip = (self.ip_tool, "-n", namespace)
            _ip(*ip, "link", "set", "lo", "up")
            _ip(*ip, "address", "add", f"{address}/24", "dev", device)
            _ip(*ip, "-6", "address", "add", f"{address6}/64", "dev", device, "nodad")
            _ip(*ip, "link", "set", device, "up")
        self.ip("route", "replace", "default", "via", GATEWAY)
        self._resolve(GATEWAY)
        if ipv6:
            self.ip("-6", "route", "replace", "default", "via", GATEWAY6)
            self._resolve(GATEWAY6)
        (link,) = json.loads(_ip(self.ip_tool, "-n", peer, "-j", "link", "show", "veth1"))
        return str(link["address"]).lower()

    def default_via(self, dev: str) -> None:
        """The main table's default route through `dev`, replacing the one there was."""
        self.ip("route", "replace", "default", "dev", dev)

    def serve(self, address: str, port: int) -> int:
        """A TCP server listening on address:port inside the namespace until the test ends."""
        return self._start("listening", sys.executable, "-c", _SERVER, address, str(port)).pid

    def uplink(self, host_address: str, address: str) -> None:
        """A veth pair to the root namespace: `address`/24 on eth0 here, `host_address`/24
        on the root's end."""
        host_end = f"{self.name}u"
        pair = ("type", "veth", "peer", "name", "eth0", "netns", self.name)
        _ip(self.ip_tool, "link", "add", host_end, *pair)
        self.uplinks.append(host_end)
        _ip(self.ip_tool, "address", "add", f"{host_address}/24", "dev", host_end)
        _ip(self.ip_tool, "link", "set", host_end, "up")
        self.ip("link", "set", "lo", "up")
        self.ip("address", "add", f"{address}/24", "dev", "eth0")
        self.ip("link", "set", "eth0", "up")

    def spawn(
        self, *argv: str, env: Mapping[str, str] | None = None, log: Path
    ) -> subprocess.Popen[str]:
        """A long-running command inside the namespace, its output into `log`; killed when
        the test ends if it is still running."""
        with log.open("w") as out:
            process = subprocess.Popen(
                [self.ip_tool, "netns", "exec", self.name, *argv],
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        self.processes.append(process)
        return process

    def _start(self, ready: str, *argv: str) -> subprocess.Popen[str]:
        # `ip netns exec` execs the command: the pid is the command's own.
        process = subprocess.Popen(
            [self.ip_tool, "netns", "exec", self.name, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
        line = process.stdout.readline() if readable else ""
        if line.strip() != ready:
            process.kill()
            _, err = process.communicate(timeout=START_TIMEOUT)
            raise AssertionError(f"{argv[0]} in {self.name} did not start: {err.strip()}")
        return process

    def _resolve(self, address: str) -> None:
        """Make the neighbour entry for `address` real and complete, or fail."""
        done = self.run(sys.executable, "-c", _POKE, address)
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            entries = json.loads(self.ip("-j", "neigh", "show", address))
            if any("lladdr" in e and "REACHABLE" in e.get("state", []) for e in entries):
                return
            time.sleep(0.02)
        raise AssertionError(f"no complete neighbour entry for {address} in {self.name}")

    def close(self) -> None:
        for process in self.processes:
            with contextlib.suppress(OSError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.communicate(timeout=START_TIMEOUT)
        # Deleting one end of a veth pair removes both at once; a namespace's devices go
        # some moments after `ip netns delete`, too late for a test that follows at once.
        for device in self.uplinks:
            subprocess.run(
                [self.ip_tool, "link", "delete", device],
                capture_output=True,
                timeout=60,
                check=False,
            )
        for namespace in [self.name, *self.peers]:
            subprocess.run(
                [self.ip_tool, "netns", "delete", namespace],
                capture_output=True,
                timeout=60,
                check=False,
            )


def free_subnets(count: int, prefix: str = "10.213") -> list[str]:
    """`count` networks PREFIX.N (N from 0 up) that no route of the root namespace uses,
    so that a run beside another, or after one that was killed, takes others."""
    routes = json.loads(_ip(require_tool("ip"), "-j", "-4", "route", "show"))
    used = {str(route.get("dst", "")).split("/")[0] for route in routes}
    free = [f"{prefix}.{n}" for n in range(256) if f"{prefix}.{n}.0" not in used]
    assert len(free) >= count, f"no {count} free networks in {prefix}.0.0/16"
    return free[:count]


def _ip(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def _namespaces() -> Iterator[Callable[[], Netns]]:
    ip_tool = require_tool("ip")
    require_root("network namespaces need root (ip netns add, ip tuntap)")
    made: list[Netns] = []

    def make() -> Netns:
        namespace = Netns(f"hyg{os.getpid()}n{next(_names)}", ip_tool)
        _ip(ip_tool, "netns", "add", namespace.name)
        made.append(namespace)
        return namespace

    try:
        yield make
    finally:
        for namespace in made:
            namespace.close()


@pytest.fixture
def netns() -> Iterator[Netns]:
    """An empty network namespace for this test, deleted with all it holds afterwards."""
    with _namespaces() as make:
        yield make()


@pytest.fixture
def make_netns() -> Iterator[Callable[[], Netns]]:
    """Empty network namespaces, as many as the test makes, deleted with all they hold."""
    with _namespaces() as make:
        yield make
