"""The network this Windows computer is on, and the sockets waiting for connections. Facts only.

Every command runs from System32 with a fixed argument list (an address in it is one this
module read from `route print` and checked), a 2-second timeout, no shell and no console
window. Console programs write in the OEM code page; what they print is decoded from it with
unknown bytes replaced, so a German or Russian Windows reads as well as an English one and a
byte that fits no code page breaks nothing. A command that is missing, refused, too slow or
that fails counts as "that fact is not known": `network` never raises.

Interfaces: the ones Windows lists (psutil, from GetAdaptersAddresses: the friendly names
people see, whether each is up, its addresses and hardware address), described by
`Get-NetAdapter` (PowerShell, as JSON: InterfaceDescription, ifIndex, Status and
PhysicalMediaType). When PowerShell does not answer in time (its start can take longer than
2 seconds on a cold, slow machine), the descriptions come from `route print`'s interface
list, matched by hardware address or, for an adapter without one (WireGuard, Wintun), by
the IPv6 address `route print` lists for its index. A built-in VPN connection (IKEv2, SSTP,
L2TP) is no adapter Get-NetAdapter lists: psutil shows it under the connection's name.

- kind, from the description and the name: loopback; "wireguard" (WireGuardNT's "WireGuard
  Tunnel", NordLynx); "tap" for ZeroTier's virtual port (a virtual LAN, as on Linux); "tun"
  for the adapters VPN clients carry traffic through: Wintun (OpenVPN, Tailscale,
  ProtonVPN, Mullvad), OpenVPN's data channel offload, TAP-Windows and the copies VPN
  vendors ship renamed (TAP-NordVPN, TAP-ProtonVPN: OpenVPN drives this driver as a tun in
  its usual `dev tun` mode, so it is a tunnel whatever the driver is called), Cisco
  AnyConnect / Secure Client, GlobalProtect, FortiClient's SSL VPN adapter, Pulse Secure,
  and any adapter whose description says VPN;
  "ppp" for a connection rasdial reports or a WAN Miniport; "wifi" for PhysicalMediaType
  "Native 802.11" or a Wi-Fi/wireless/WLAN adapter; "other" for Teredo, ISATAP, 6to4 and
  IP-HTTPS; then "ethernet" for the rest that has a hardware address, else "other".
- up: Get-NetAdapter's Status "Up", else psutil's isup.

Default routes (`route print`: both families, active routes only, with the metric Windows
compares, route plus interface): the interface holding both halves of the address space
(0.0.0.0/1 and 128.0.0.0/1, as OpenVPN's redirect-gateway def1 adds them; ::/1 and 8000::/1),
else the lowest-metric default route, comes first; every other default route follows by
metric, IPv4 before IPv6. An IPv4 route names its interface by address (found among psutil's
addresses), an IPv6 route by index. Headers are translated ("Aktive Routen", "Auf
Verbindung" for On-link), so rows are read by their shape, never by a header.

Gateway: the lowest-metric default route through an adapter that is not a tunnel with an
address for a gateway (IPv4, else IPv6): the local network's router, even while a VPN carries
the traffic. Its hardware address comes from `arp -a ADDRESS` (IPv4), returned as
aa:bb:cc:dd:ee:ff.

Wi-Fi name: only when that router is reached over a Wi-Fi adapter: the SSID line (not
"BSSID" nor "AP BSSID") of that adapter's block in `netsh wlan show interfaces`. Windows 11
24H2 refuses it to desktop programs while Location services are off ("Network shell commands
need location permission..."): then the SSID is None and the network is known by its
gateway's hardware address alone.

VPN connections: the connections `rasdial` lists as connected (built-in VPNs, by the name
the person gave them). Its words are translated; its shape is not: a heading line, one line
per connection, a closing line ("Command completed successfully.").

Listening sockets: psutil (no administrator rights needed; a pid is given for every socket,
a program name where Windows tells it); `netstat -ano` when psutil fails, read by shape:
TCP rows whose remote end is 0.0.0.0:0 or [::]:0 (the state word is translated: LISTENING,
ABHÖREN, ...), UDP rows with *:* as remote end. `listeners` raises ProbeUnavailable only when
neither answered: an empty list would say that nothing listens.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PureWindowsPath

import psutil

from agent.errors import ProbeUnavailable
from agent.probes import Interface, Listener, Network, one_per_socket
from agent.probes._windows_console import CONSOLE_ENCODING, Answer, Runner, ask, run_command

__all__ = ["listeners", "network"]

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2

_SYSTEM32 = PureWindowsPath(os.environ.get("SYSTEMROOT", "C:\\Windows"), "System32")
ROUTE_PRINT = (str(_SYSTEM32 / "ROUTE.EXE"), "print")
WLAN_INTERFACES = (str(_SYSTEM32 / "netsh.exe"), "wlan", "show", "interfaces")
RASDIAL = (str(_SYSTEM32 / "rasdial.exe"),)
NETSTAT = (str(_SYSTEM32 / "NETSTAT.EXE"), "-ano")
GET_NETADAPTER = (
    str(_SYSTEM32 / "WindowsPowerShell" / "v1.0" / "powershell.exe"),
    "-NoLogo",
    "-NoProfile",
    "-NonInteractive",
    "-Command",
    "Get-NetAdapter | Select-Object Name, InterfaceDescription, ifIndex, Status, MacAddress, "
    "PhysicalMediaType | ConvertTo-Json",
)


def arp(address: str) -> tuple[str, ...]:
    return (str(_SYSTEM32 / "ARP.EXE"), "-a", address)


_TUNNEL_KINDS = frozenset({"tun", "tap", "wireguard", "ppp", "ipsec", "loopback"})
# (kind, words in the description or name), first match wins; compared in lower case.
_KIND_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loopback", ("loopback",)),
    ("wireguard", ("wireguard", "nordlynx")),
    ("tap", ("zerotier",)),
    (
        "tun",
        (
            "tap-windows",
            "tap-win32",
            "tap-",
            "openvpn",
            "wintun",
            "tailscale",
            "openvpn data channel offload",
            "ovpn-dco",
            "cisco anyconnect",
            "cisco secure client",
            "pangp",
            "globalprotect",
            "fortinet ssl vpn",
            "juniper networks virtual adapter",
            "pulse secure",
            "protonvpn",
            "mullvad",
            "vpn",
        ),
    ),
    ("ppp", ("wan miniport",)),
    ("other", ("teredo", "isatap", "6to4", "ip-https")),
    ("wifi", ("wi-fi", "wifi", "wireless", "wlan", "802.11")),
)
_WIFI_MEDIA = frozenset({"native 802.11", "wireless lan"})
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_LISTED = re.compile(
    r"^\s*(?P<index>\d+)\.\.\.(?P<mac>(?:[0-9A-Fa-f]{2} )*)\.*(?P<description>.*?)\s*$"
)
_SEPARATOR = re.compile(r"^\s*=+\s*$")
_MAC = re.compile(r"^[0-9A-Fa-f]{1,2}([:-])(?:[0-9A-Fa-f]{1,2}\1){4}[0-9A-Fa-f]{1,2}$")
_V4_DEFAULT = ("0.0.0.0", "0.0.0.0")  # noqa: S104 - a route's destination and mask
_V4_HALVES = (("0.0.0.0", "128.0.0.0"), ("128.0.0.0", "128.0.0.0"))  # noqa: S104
_V6_HALVES = (ipaddress.ip_network("::/1"), ipaddress.ip_network("8000::/1"))
_V6_DEFAULT = ipaddress.ip_network("::/0")


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return run_command(argv, TIMEOUT_SECONDS)


@dataclass(frozen=True)
class Nic:
    """One interface as psutil (GetAdaptersAddresses) lists it."""

    name: str
    up: bool
    addresses: tuple[str, ...] = ()
    mac: str | None = None  # aa:bb:cc:dd:ee:ff


def _nics() -> list[Nic]:
    try:
        stats = psutil.net_if_stats()
        addresses = psutil.net_if_addrs()
    except (OSError, psutil.Error) as err:
        log.debug("psutil did not list the interfaces: %s", err)
        return []
    found = []
    for name in dict.fromkeys([*stats, *addresses]):
        entries = addresses.get(name, [])
        mac = next((normal_mac(a.address) for a in entries if a.family == psutil.AF_LINK), None)
        found.append(
            Nic(
                name=name,
                up=bool(stats[name].isup) if name in stats else False,
                addresses=tuple(
                    a.address for a in entries if a.family in (socket.AF_INET, socket.AF_INET6)
                ),
                mac=mac,
            )
        )
    return found


def network(
    env: Mapping[str, str],
    run: Runner = _run,
    nics: Callable[[], list[Nic]] = _nics,
    encoding: str = CONSOLE_ENCODING,
) -> Network:
    """The interfaces, default routes, gateway and Wi-Fi/VPN state Windows reports now.

    `env` is not needed: every fact comes from the system, not from the session.
    """
    del env
    return read_network(run, nics(), encoding)


# -- running the commands --------------------------------------------------------------------


def _ask(run: Runner, argv: Sequence[str], encoding: str) -> Answer | None:
    """What a command printed, or None when it could not run or did not finish in time."""
    answer = ask(run, argv, encoding, TIMEOUT_SECONDS)
    if isinstance(answer, str):
        log.debug("%s", answer)
        return None
    return answer


def _stdout(run: Runner, argv: Sequence[str], encoding: str) -> str | None:
    """A command's output when it succeeded; None otherwise (its output is never logged)."""
    answer = _ask(run, argv, encoding)
    if answer is None:
        return None
    if answer.code != 0:
        log.debug("%s failed with exit status %s", PureWindowsPath(argv[0]).name, answer.code)
        return None
    return answer.out


# -- network ---------------------------------------------------------------------------------


def read_network(run: Runner, nics: Sequence[Nic], encoding: str = CONSOLE_ENCODING) -> Network:
    """`network` with the command runner, psutil's interfaces and the code page passed in."""
    adapters = {a.name: a for a in parse_adapters(_stdout(run, GET_NETADAPTER, encoding) or "")}
    table = parse_route_print(_stdout(run, ROUTE_PRINT, encoding) or "")
    rasdial = _stdout(run, RASDIAL, encoding)
    vpn = parse_rasdial(rasdial) if rasdial is not None else ()
    interfaces = describe(nics, adapters, table, vpn)
    kinds = {i.name: i.kind for i in interfaces}
    by_address = {_unscoped(address): nic.name for nic in nics for address in nic.addresses}
    by_index = interface_indexes(nics, adapters.values(), table)

    routes = default_routes(table, by_address, by_index)
    default_names = [r.interface for r in routes if r.interface is not None]
    router = next(
        (
            r
            for r in sorted(routes, key=lambda r: (r.family, r.metric))
            if r.gateway is not None
            and r.interface is not None
            and not r.half
            and kinds.get(r.interface) not in _TUNNEL_KINDS
        ),
        None,
    )
    gateway = mac = ssid = None
    if router is not None and router.gateway is not None and router.interface is not None:
        gateway = router.gateway
        if router.family == 4:
            answer = _ask(run, arp(gateway), encoding)
            mac = parse_arp(answer.out, gateway) if answer is not None else None
        if kinds.get(router.interface) == "wifi":
            answer = _ask(run, WLAN_INTERFACES, encoding)  # exit status 1 when refused
            if answer is not None:
                ssid = parse_wlan_interfaces(answer.out, router.interface)
    return Network(
        interfaces=tuple(interfaces),
        default_routes=tuple(dict.fromkeys(default_names)),
        gateway=gateway,
        gateway_mac=mac,
        ssid=ssid,
        vpn_connections=vpn,
    )


def describe(
    nics: Sequence[Nic],
    adapters: Mapping[str, Adapter],
    table: RouteTable,
    connected: Sequence[str] = (),
) -> list[Interface]:
    """psutil's interfaces (then any adapter psutil did not list) with their kind and state."""
    by_mac = {entry.mac: entry.description for entry in table.interfaces if entry.mac}
    by_index = {entry.index: entry.description for entry in table.interfaces}
    index_of = {name: index for index, name in interface_indexes(nics, (), table).items()}
    found = []
    for nic in nics:
        adapter = adapters.get(nic.name)
        if adapter is not None:
            description, media, up = adapter.description, adapter.media, adapter.up
        else:
            description = (by_mac.get(nic.mac) if nic.mac else None) or by_index.get(
                index_of.get(nic.name, -1), ""
            )
            media, up = "", nic.up
        kind = kind_of(nic.name, description, media, nic.mac is not None, nic.name in connected)
        found.append(Interface(nic.name, kind, up))
    listed = {nic.name for nic in nics}
    for adapter in adapters.values():
        if adapter.name not in listed:
            kind = kind_of(
                adapter.name, adapter.description, adapter.media, adapter.mac is not None
            )
            found.append(Interface(adapter.name, kind, adapter.up))
    return found


def kind_of(
    name: str, description: str, media: str = "", has_mac: bool = False, dialled: bool = False
) -> str:
    """What an adapter is, from its description, its name and its physical medium."""
    if dialled:
        return "ppp"
    text = f"{description}\n{name}".lower()
    for kind, words in _KIND_WORDS:
        if kind == "wifi" and media.strip().lower() in _WIFI_MEDIA:
            return "wifi"
        if any(word in text for word in words):
            return kind
    if media.strip() == "802.3" or has_mac:
        return "ethernet"
    return "other"


def interface_indexes(
    nics: Iterable[Nic], adapters: Iterable[Adapter], table: RouteTable
) -> dict[int, str]:
    """Interface index to name: Get-NetAdapter's ifIndex, else the interface's own IPv6
    addresses, which `route print` lists as /128 on-link routes of that index."""
    found = {a.index: a.name for a in adapters if a.index is not None}
    owner = {_unscoped(address): nic.name for nic in nics for address in nic.addresses}
    for route in table.v6:
        address, _, bits = route.destination.partition("/")
        if bits == "128" and route.gateway is None and route.index not in found:
            name = owner.get(_canonical(address))
            if name is not None:
                found[route.index] = name
    return found


@dataclass(frozen=True)
class DefaultRoute:
    family: int
    interface: str | None
    gateway: str | None
    metric: int
    half: bool  # one of the two halves that together cover the address space


def default_routes(
    table: RouteTable, by_address: Mapping[str, str], by_index: Mapping[int, str]
) -> list[DefaultRoute]:
    """The default routes, the one the traffic takes first (per family, IPv4 first), then the
    rest by metric."""
    found: list[DefaultRoute] = []
    for family in (4, 6):
        routes: list[DefaultRoute] = []
        halves: dict[str | None, set[int]] = {}
        if family == 4:
            for v4 in table.v4:
                name = by_address.get(v4.interface)
                spot = (v4.destination, v4.mask)
                if spot == _V4_DEFAULT or spot in _V4_HALVES:
                    half = spot in _V4_HALVES
                    routes.append(DefaultRoute(4, name, v4.gateway, v4.metric, half))
                    if half:
                        halves.setdefault(name, set()).add(_V4_HALVES.index(spot))
        else:
            for v6 in table.v6:
                try:
                    prefix = ipaddress.ip_network(v6.destination, strict=False)
                except ValueError:
                    continue
                if prefix == _V6_DEFAULT or prefix in _V6_HALVES:
                    half = prefix in _V6_HALVES
                    name = by_index.get(v6.index)
                    routes.append(DefaultRoute(6, name, v6.gateway, v6.metric, half))
                    if half:
                        halves.setdefault(name, set()).add(_V6_HALVES.index(prefix))
        covering = {name for name, which in halves.items() if which == {0, 1}}
        # One half alone takes half of the addresses: not a default route.
        routes = [r for r in routes if not r.half or r.interface in covering]
        routes.sort(key=lambda r: (not r.half, r.metric))
        found += routes
    return found


# -- parsers: text in, facts out; what they do not understand is skipped, never raised --------


@dataclass(frozen=True)
class Adapter:
    """One adapter as Get-NetAdapter describes it."""

    name: str
    description: str
    index: int | None
    status: str  # "Up", "Disconnected", "Disabled", "Not Present"
    mac: str | None
    media: str  # PhysicalMediaType: "Native 802.11", "802.3", "Unspecified", ...

    @property
    def up(self) -> bool:
        return self.status == "Up"


def parse_adapters(text: str) -> list[Adapter]:
    """The adapters in ConvertTo-Json's output: a list, or one object when there is one."""
    text = text.strip().lstrip("\ufeff")
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    found = []
    for entry in data if isinstance(data, list) else [data]:
        if not isinstance(entry, dict) or not isinstance(entry.get("Name"), str):
            continue
        index = entry.get("ifIndex")
        mac = entry.get("MacAddress")
        found.append(
            Adapter(
                name=entry["Name"],
                description=str(entry.get("InterfaceDescription") or ""),
                index=index if isinstance(index, int) and not isinstance(index, bool) else None,
                status=str(entry.get("Status") or ""),
                mac=normal_mac(mac) if isinstance(mac, str) else None,
                media=str(entry.get("PhysicalMediaType") or ""),
            )
        )
    return found


@dataclass(frozen=True)
class ListedInterface:
    index: int
    mac: str | None
    description: str


@dataclass(frozen=True)
class V4Route:
    destination: str
    mask: str
    gateway: str | None  # None for On-link (in any language)
    interface: str  # the interface's own address
    metric: int


@dataclass(frozen=True)
class V6Route:
    index: int
    metric: int
    destination: str
    gateway: str | None


@dataclass(frozen=True)
class RouteTable:
    interfaces: tuple[ListedInterface, ...] = ()
    v4: tuple[V4Route, ...] = ()
    v6: tuple[V6Route, ...] = ()


def parse_route_print(text: str) -> RouteTable:
    """`route print`: the interface list, and the active IPv4 and IPv6 routes.

    The tables sit between lines of "=" signs. Active IPv4 rows are destination, mask,
    gateway (an address, or On-link in the reader's language: "Auf Verbindung" is two
    words), interface address, metric; persistent ones have four columns and are skipped.
    Active IPv6 rows are interface index, metric, destination, gateway; a destination too
    long for its column pushes the gateway onto the next line. Only the first section with
    IPv6 rows is read: the persistent IPv6 routes that may follow have the same columns.
    """
    listed: list[ListedInterface] = []
    v4: list[V4Route] = []
    v6: list[V6Route] = []
    v4_done = v6_done = False
    in_v4 = in_v6 = False
    pending: tuple[int, int, str] | None = None
    for line in text.splitlines():
        if _SEPARATOR.match(line):
            v4_done, v6_done = v4_done or in_v4, v6_done or in_v6
            in_v4 = in_v6 = False
            pending = None
            continue
        entry = _LISTED.match(line)
        if entry is not None:
            mac_bytes = entry["mac"].split()
            mac = normal_mac(":".join(mac_bytes)) if len(mac_bytes) == 6 else None
            listed.append(ListedInterface(int(entry["index"]), mac, entry["description"]))
            continue
        words = line.split()
        if pending is not None:
            if len(words) >= 1 and not words[0].isdigit():
                v6.append(V6Route(*pending, _v6_gateway(" ".join(words))))
                pending = None
                continue
            pending = None
        if not v4_done and _v4_row(words):
            in_v4 = True
            gateway = words[2] if len(words) == 5 and _is_ipv4(words[2]) else None
            v4.append(V4Route(words[0], words[1], gateway, words[-2], int(words[-1])))
            continue
        if not v6_done and _v6_row(words):
            in_v6 = True
            index, metric, destination = int(words[0]), int(words[1]), words[2]
            if len(words) == 3:
                pending = (index, metric, destination)
            else:
                v6.append(V6Route(index, metric, destination, _v6_gateway(" ".join(words[3:]))))
    return RouteTable(tuple(listed), tuple(v4), tuple(v6))


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _v4_row(words: Sequence[str]) -> bool:
    return (
        len(words) >= 5
        and bool(_IPV4.match(words[0]))
        and bool(_IPV4.match(words[1]))
        and bool(_IPV4.match(words[-2]))
        and words[-1].isdigit()
    )


def _v6_row(words: Sequence[str]) -> bool:
    return (
        len(words) >= 3
        and words[0].isdigit()
        and words[1].isdigit()
        and ":" in words[2]
        and "/" in words[2]
    )


def _v6_gateway(text: str) -> str | None:
    try:
        return str(ipaddress.IPv6Address(text.split("%", 1)[0]))
    except ValueError:
        return None  # On-link, Auf Verbindung, ...


def _unscoped(address: str) -> str:
    return _canonical(address.split("%", 1)[0])


def _canonical(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def normal_mac(text: str) -> str | None:
    """A hardware address as aa:bb:cc:dd:ee:ff; None for anything else, or all zeros/ones."""
    if not _MAC.match(text):
        return None
    mac = ":".join(part.rjust(2, "0") for part in re.split(r"[:-]", text.lower()))
    return None if mac in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") else mac


def parse_arp(text: str, address: str) -> str | None:
    """The hardware address `arp -a ADDRESS` lists for it ("  192.168.1.1   a4-2b-b0-12-34-56
    dynamic"); None for "No ARP Entries Found." in any language."""
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == address:
            mac = normal_mac(words[1])
            if mac is not None:
                return mac
    return None


def parse_wlan_interfaces(text: str, name: str) -> str | None:
    """The SSID of the interface called `name` in `netsh wlan show interfaces`.

    Each interface is a block of "key : value" lines; its first is the name ("Name", "Nom",
    "Имя": the label is translated, its place is not). The SSID line is "SSID" in every
    language. A disconnected interface has none; a refusal ("Network shell commands need
    location permission...") has no block at all.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if not separator or not line.startswith((" ", "\t")) or not key.strip():
            if not line.strip():
                current = None
            continue
        if current is None:
            current = {"": value.strip()}  # the first line: the interface's name
            blocks.append(current)
        current.setdefault(key.strip(), value[1:] if value.startswith(" ") else value)
    for block in blocks:
        if block[""] == name:
            return block.get("SSID", "").strip() or None
    associated = [block for block in blocks if "SSID" in block]
    if len(associated) == 1:  # named differently (a name the code page could not hold)
        return associated[0]["SSID"].strip() or None
    return None


def parse_rasdial(text: str) -> tuple[str, ...]:
    """The connections `rasdial` lists: the lines between its heading ("Connected to") and
    its closing line; none when it prints only two lines ("No connections", closing)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        return ()
    return tuple(dict.fromkeys(lines[1:-1]))


# -- listening sockets -----------------------------------------------------------------------


@dataclass(frozen=True)
class Socket:
    """A socket as psutil or netstat shows it."""

    protocol: str  # "tcp" or "udp"
    address: str
    port: int
    pid: int | None
    waiting: bool  # TCP in LISTEN, or UDP with no remote end


def _sockets() -> list[Socket]:
    found = []
    for connection in psutil.net_connections(kind="inet"):
        if not connection.laddr:
            continue
        if connection.type == socket.SOCK_STREAM:
            protocol, waiting = "tcp", connection.status == psutil.CONN_LISTEN
        elif connection.type == socket.SOCK_DGRAM:
            protocol, waiting = "udp", not connection.raddr
        else:
            continue
        found.append(
            Socket(
                protocol,
                str(connection.laddr.ip),
                int(connection.laddr.port),
                connection.pid or None,
                waiting,
            )
        )
    return found


def _program(pid: int) -> str | None:
    try:
        return psutil.Process(pid).name() or None
    except (psutil.Error, OSError):
        return None


def listeners(
    run: Runner = _run,
    sockets: Callable[[], list[Socket]] = _sockets,
    program: Callable[[int], str | None] = _program,
    encoding: str = CONSOLE_ENCODING,
) -> list[Listener]:
    """TCP sockets in LISTEN and UDP sockets with no remote end, one per address and port."""
    try:
        found = sockets()
    except (OSError, psutil.Error) as err:
        log.debug("psutil did not list the sockets (%s); asking netstat", err)
        table = _stdout(run, NETSTAT, encoding)
        if table is None:
            raise ProbeUnavailable(
                "Neither psutil nor netstat could list the sockets waiting for connections."
            ) from err
        found = parse_netstat(table)
    return listeners_from(found, program)


def listeners_from(
    sockets: Iterable[Socket], program: Callable[[int], str | None]
) -> list[Listener]:
    """One Listener per (address, port, protocol): the lowest pid whose program is known."""
    found: list[Listener] = []
    names: dict[int, str | None] = {}
    for entry in sockets:
        if not entry.waiting or not entry.port:
            continue
        name = None
        if entry.pid is not None:
            if entry.pid not in names:
                names[entry.pid] = program(entry.pid)
            name = names[entry.pid]
        found.append(Listener(entry.address, entry.port, entry.protocol, entry.pid, name))
    return one_per_socket(found)


def parse_netstat(text: str) -> list[Socket]:
    """The sockets in `netstat -ano`: "TCP local remote STATE pid", "UDP local *:* pid"."""
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 4 or words[0].upper() not in ("TCP", "UDP") or not words[-1].isdigit():
            continue
        protocol = words[0].lower()
        if protocol == "tcp":
            waiting = len(words) >= 5 and words[2] in ("0.0.0.0:0", "[::]:0", "*:*")
        else:
            waiting = words[2] == "*:*"
        host, colon, port = words[1].rpartition(":")
        if not colon or not port.isdigit():
            continue
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        pid = int(words[-1])
        found.append(Socket(protocol, host, int(port), pid or None, waiting))
    return found
