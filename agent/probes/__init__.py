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

Screen lock, settings and disks (Step 7), from _<platform>_screen and _<platform>_disk:
- `desktop(env)`: which desktop the person uses (GNOME, KDE Plasma, Xfce, ...); None
  when there is no graphical desktop at all (a server, a container).
- `screen_lock(env)`: whether the screen locks by itself, after how long, and whether it
  locks on waking from sleep, as the desktop's own settings say.
- `read_settings(settings, env)`: the values of settings named in a policy, from the
  places each platform keeps them (GSettings, KDE and Xfce config files, macOS defaults,
  the Windows registry). Only the named values are read.
- `disk_encryption(home)`: whether the file systems holding / and the home folder are
  encrypted, and how.

Firewall (Step 15), from _<platform>_firewall:
- `firewalls(env)`: each inbound firewall this machine has set up, as far as the person
  running the agent can see it: whether it is on now, whether it starts with the computer,
  and whether it refuses by default what was not allowed; with what was looked at and what
  could not be read.
Updates (Step 15), from _<platform>_updates:
- `updates(env, timeout)`: what the system's package manager or update service would install now,
  from what it already knows (never a network call, never a refresh), which of it fixes
  security problems, when it last learnt what is available, whether updates install by
  themselves, and whether a restart is waiting for updates already installed.
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


@dataclass(frozen=True)
class Desktop:
    kind: str  # "gnome", "cinnamon", "kde", "xfce", "other"; "macos", "windows"
    name: str  # as the person knows it: "GNOME", "KDE Plasma", "Xfce", "sway"


@dataclass(frozen=True)
class ScreenLock:
    desktop: Desktop
    source: str  # what the facts were read from, for the person: "GSettings", "~/.xscreensaver"
    enabled: bool  # the screen can lock at all (by itself or when asked)
    # Idle time until the screen locks by itself (blank or saver delay + lock delay);
    # None when it never locks by itself.
    locks_after: timedelta | None
    on_resume: bool | None = None  # locks when the computer wakes from sleep; None: not known
    # False when a locker runs but its delay cannot be read (locks_after is then None).
    delay_known: bool = True
    # An administrator's setting turned the lock off (GNOME's lockdown), not the person.
    disabled_by_admin: bool = False
    detail: str = ""  # the settings behind the figure, in words: "blank after 5 minutes, ..."


# A setting's value as the platform keeps it: GSettings and xfconf are typed; KDE files,
# macOS defaults and the registry are read as text or whole numbers and compared by the check.
SettingValue = bool | int | float | str | tuple[str, ...]


@dataclass(frozen=True)
class Setting:
    """Where one setting lives. `path` by store:
    gsettings: (schema, key); kconfig: (file, group, key), a nested group written
    "Outer][Inner" as in the file; xfconf: (channel, "/property/path"); defaults: (domain,
    key), `current_host` for -currentHost; registry: ("HKCU\\Software\\...", value name).
    """

    store: str  # "gsettings", "kconfig", "xfconf", "defaults", "registry"
    path: tuple[str, ...]
    current_host: bool = False


@dataclass(frozen=True)
class SettingRead:
    value: SettingValue | None  # None: not set anywhere (and no default), or not readable
    problem: str | None = None  # why it could not be read, in one sentence; None when it was


@dataclass(frozen=True)
class Volume:
    holds: tuple[str, ...]  # what the person cares about on it: "/", "~" (both when shared)
    mount: str  # its mount point ("/", "/home"), drive ("C:") or volume ("Macintosh HD")
    device: str  # what it lives on: "nvme0n1p3", "dm-1 (luks-2f9c...)", "C:"
    encrypted: bool | None  # None: this machine cannot tell (the reason is in `how`)
    how: str  # "LUKS2 (dm-crypt) under LVM", "fscrypt", "eCryptfs", "FileVault", "BitLocker";
    # when not encrypted, what it is ("ext4 on vda"); when not known, why


@dataclass(frozen=True)
class Firewall:
    """One firewall as its own settings (or the kernel's rules) describe it."""

    # What it is, for the person: "the kernel's rules", "firewalld", "ufw", "nftables",
    # "iptables", "the Application Firewall", "Windows Firewall (Public profile)".
    name: str
    on: bool | None  # on now (running, loaded, turned on); None: cannot tell from here
    at_boot: bool | None  # set to start with the computer; None: not known or not applicable
    # Whether what was not allowed is refused by default (a drop or reject policy, a zone
    # whose target is not ACCEPT); None: cannot tell
    blocks: bool | None
    # The facts behind it in words the agent wrote itself (never text read from a setting):
    # "the default for incoming is ACCEPT", "not running".
    how: str = ""
    # Whether its systemd unit is enabled, where that differs from at_boot (ufw loads its
    # rules at start only when both the unit and ENABLED say so); None: the same or unknown.
    service: bool | None = None
    # What in its settings lets things in, when it is not the default policy: "ipv6".
    opening: str = ""


@dataclass(frozen=True)
class Firewalls:
    found: tuple[Firewall, ...]
    looked_at: tuple[str, ...]  # what was looked at, for "cannot tell"
    notes: tuple[str, ...] = ()  # what could not be read, one sentence each
    # Every one must be on (Windows' profiles: any of them can be the one in force), rather
    # than any one of them (Linux's firewalls, which stack).
    every_one: bool = False


@dataclass(frozen=True)
class PendingUpdate:
    name: str  # the package (or update, on macOS and Windows) as its manager names it
    installed: str  # the version installed now; "" when the manager does not say
    available: str  # the version it would install; "" when not said
    security: bool  # it comes from a security source or fixes a security advisory


@dataclass(frozen=True)
class Updates:
    manager: str  # who was asked, as the person knows it: "apt", "dnf", "Software Update"
    pending: tuple[PendingUpdate, ...]  # what it would install now (all, security or not)
    # False when what waits could not be told (the tool failed): `pending` is then empty,
    # not known to be.
    listed: bool = True
    # When it last learnt what is available (its package lists, its last successful check);
    # None when it does not say.
    checked: datetime | None = None
    # Security updates install by themselves; None when that cannot be told here.
    automatic: bool | None = None
    automatic_how: str = ""  # why automatic is what it is, in words the agent wrote
    # A restart is waiting for updates already installed; None when that cannot be told.
    restart: bool | None = None
    restart_for: tuple[str, ...] = ()  # the packages that asked for it, where said
    restart_since: datetime | None = None  # since when, where the system says
    # Updates already downloaded that wait for a restart to be installed (PackageKit's
    # offline updates), and since when.
    prepared: int = 0
    prepared_since: datetime | None = None
    problems: tuple[str, ...] = ()  # what could not be told, one clause each
    # The files whose change can change this answer (lists, status, configuration): a
    # caller may keep the answer while none of them changed.
    sources: tuple[str, ...] = ()


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


def desktop(env: Mapping[str, str]) -> Desktop | None:
    found: Desktop | None = _platform("screen").desktop(env)
    return found


def screen_lock(env: Mapping[str, str]) -> ScreenLock | None:
    """None when there is no desktop; ProbeUnavailable when its settings cannot be read."""
    found: ScreenLock | None = _platform("screen").screen_lock(env)
    return found


def read_settings(
    settings: Iterable[Setting], env: Mapping[str, str]
) -> dict[Setting, SettingRead]:
    found: dict[Setting, SettingRead] = _platform("screen").read_settings(settings, env)
    return found


def disk_encryption(home: str) -> list[Volume]:
    found: list[Volume] = _platform("disk").disk_encryption(home)
    return found


def firewalls(env: Mapping[str, str]) -> Firewalls:
    found: Firewalls = _platform("firewall").firewalls(env)
    return found


def updates(env: Mapping[str, str], timeout: float = 50.0) -> Updates:
    """ProbeUnavailable when no package manager or update service this agent knows is here.
    `timeout`: the most any one command it runs may take, in seconds."""
    found: Updates = _platform("updates").updates(env, timeout)
    return found


def _platform(part: str = "") -> ModuleType:
    # Imported on first use: `hygiene check --only ssh_keys` need not load the bus and X11
    # code the session probes use (bench/startup.py).
    name = {"darwin": "_macos", "win32": "_windows"}.get(sys.platform, "_linux")
    return importlib.import_module(f"agent.probes.{name}{'_' + part if part else ''}")


__all__ = [
    "Desktop",
    "DesktopIdle",
    "Firewall",
    "Firewalls",
    "Interface",
    "Listener",
    "Network",
    "PendingUpdate",
    "ScreenLock",
    "Session",
    "Setting",
    "SettingRead",
    "SettingValue",
    "Updates",
    "Volume",
    "desktop",
    "desktop_idle",
    "disk_encryption",
    "firewalls",
    "listeners",
    "network",
    "read_settings",
    "screen_lock",
    "sessions",
    "updates",
]
