"""Facts about this machine. Probes gather; checks judge.

Platform-specific probes live in _linux, _macos and _windows, which define the same
names; this package picks one (the way psutil does). Probes that read only files the
same way everywhere live in their own modules.

Sessions (Step 4):
- `sessions(now)`: who is signed in at a terminal or over the network, with each
  session's idle time where the system keeps one; entries whose process is gone are left
  out (utmp keeps them; `who` does not show them).
- `desktop_idle(env)`: how long the graphical session this agent runs in has had no
  input, and whether its screen is locked; None when there is no graphical session or
  nothing here can tell.

Network (Step 6), from _linux_net, _macos_net and _windows_net:
- `network(env)`: the interfaces, which of them carry a default route, the default
  gateway and its hardware address, the Wi-Fi network's name, and the VPN connections the
  network manager says are active. SSID and MAC are returned raw: the check turns them
  into keyed fingerprints at once and never stores or shows them.
- `listeners()`: the sockets waiting for connections (TCP LISTEN, bound UDP), with the
  program that owns each where the system says.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import ModuleType


@dataclass(frozen=True)
class Session:
    user: str
    terminal: str  # "pts/3", "tty1", ":0", "console", "rdp-tcp#0"
    host: str  # "" for a local login; else as the system recorded it: a name or an address
    started: datetime  # timezone-aware
    pid: int | None
    idle: timedelta | None  # since the last input at this terminal; None when not known


@dataclass(frozen=True)
class DesktopIdle:
    idle: timedelta  # since the last keyboard or mouse input in the graphical session
    locked: bool | None  # None when nothing here can tell
    source: str  # where the figure came from: "XScreenSaver", "Mutter", "logind", ...


@dataclass(frozen=True)
class Interface:
    name: str
    # "tun", "tap", "wireguard", "ppp", "ipsec", "loopback", "wifi", "ethernet", "other"
    kind: str
    up: bool  # administratively up and able to carry traffic (tun: a process attached)


@dataclass(frozen=True)
class Network:
    interfaces: tuple[Interface, ...]
    # The interfaces with a default route, v4 or v6; the first is the one the internet's
    # traffic takes now (a VPN's policy-routed or split default counts).
    default_routes: tuple[str, ...]
    gateway: str | None  # the default gateway's address, when there is one
    gateway_mac: str | None  # its hardware address from the neighbour table, lower case
    ssid: str | None  # the Wi-Fi network this machine is on, when it is on one
    vpn_connections: tuple[str, ...] = ()  # active VPN/WireGuard connections a manager reports


@dataclass(frozen=True)
class Listener:
    address: str  # "0.0.0.0", "::", "192.168.1.5", "127.0.0.1"
    port: int
    protocol: str  # "tcp" or "udp"
    pid: int | None
    program: str | None  # None when the system does not say (another user's process)


def one_per_socket(found: Iterable[Listener]) -> list[Listener]:
    """One Listener per (address, port, protocol), sorted. Several processes share a socket
    after fork (a server's workers): the one the system names is kept, then the lowest pid
    (usually the parent), so that the answer does not wobble from run to run."""
    best: dict[tuple[str, int, str], Listener] = {}
    for entry in found:
        key = (entry.address, entry.port, entry.protocol)
        seen = best.get(key)
        if seen is None or _better(entry, seen):
            best[key] = entry
    return sorted(best.values(), key=lambda e: (e.protocol, e.port, e.address))


def _better(entry: Listener, seen: Listener) -> bool:
    if (entry.program is not None) != (seen.program is not None):
        return entry.program is not None
    if entry.pid is None:
        return False
    return seen.pid is None or entry.pid < seen.pid


def network(env: Mapping[str, str]) -> Network:
    found: Network = _platform("net").network(env)
    return found


def listeners() -> list[Listener]:
    found: list[Listener] = _platform("net").listeners()
    return found


def sessions(now: datetime) -> list[Session]:
    found: list[Session] = _platform().sessions(now)
    return found


def desktop_idle(env: Mapping[str, str]) -> DesktopIdle | None:
    idle: DesktopIdle | None = _platform().desktop_idle(env)
    return idle


def _platform(part: str = "") -> ModuleType:
    # Imported on first use: `hygiene check --only ssh_keys` need not load the bus and X11
    # code the session probes use (bench/startup.py).
    name = {"darwin": "_macos", "win32": "_windows"}.get(sys.platform, "_linux")
    return importlib.import_module(f"agent.probes.{name}{'_' + part if part else ''}")


__all__ = [
    "DesktopIdle",
    "Interface",
    "Listener",
    "Network",
    "Session",
    "desktop_idle",
    "listeners",
    "network",
    "sessions",
]
