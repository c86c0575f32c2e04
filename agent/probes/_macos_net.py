"""The network this Mac is on, and the sockets waiting for connections. Facts only.

Every fact comes from a command of the base system, run with a fixed argument list (an
address or device name in it is one this module read from another command and checked), a
2-second timeout, LC_ALL=C and no shell. A command that is missing, refused, too slow or
that fails counts as "that fact is not known": `network` never raises.

Interfaces (`/sbin/ifconfig -a`):

- kind: LOOPBACK, or a name starting with lo, is "loopback"; utun and tun are "tun" (every
  VPN app on macOS, WireGuard included, gets a utun device from the kernel; tun is the old
  tuntaposx driver), tap is "tap", ipsec is "ipsec" (IKEv2 and Cisco IPSec of the system),
  ppp is "ppp" (L2TP, PPTP); the device `networksetup -listallhardwareports` names as the
  Wi-Fi (or AirPort, or WLAN) port is "wifi"; any other device with an `ether` line is
  "ethernet" (Thunderbolt ports, bridges, awdl too: they carry Ethernet frames); the rest is
  "other" (gif0, stf0).
- up: UP and RUNNING in the flags, and `status: active` where the device reports a status
  (a Thunderbolt port without a cable is UP and RUNNING but "inactive"). A point-to-point
  tunnel (tun, ipsec, ppp) must also hold an address beyond IPv6 link-local: macOS keeps
  utun0..utun3 (and more) up for its own services (iCloud, Continuity) with nothing but an
  fe80:: address; they carry nobody's traffic, and would otherwise read as a VPN that is up
  and does not carry the default route. A VPN's utun holds its tunnel address.

Default routes, in `default_routes`, the one the traffic takes first:

- `route -n get 1.1.1.1` and `route -n get -inet6 2606:4700:4700::1111`: the interface the
  kernel picks for a public address (nothing is sent), as the Linux probe asks rtnetlink.
  This honours more specific routes, which is how VPNs take the traffic without replacing
  the default route: OpenVPN's redirect-gateway def1 and wg-quick add 0/1 and 128.0/1,
  Cloudflare WARP a set of smaller prefixes.
- `netstat -rn`: the unscoped default routes ("default" without the I flag), and the
  interfaces holding both halves (0/1 and 128.0/1, ::/1 and 8000::/1), which win over the
  default. A scoped default route (flag I) is not listed: it serves only sockets bound to
  its interface. When a Network Extension VPN is up, the Wi-Fi's default turns scoped;
  Tailscale without an exit node adds a scoped default through its utun; macOS adds scoped
  IPv6 defaults through utun0..utun3. None of them carries the traffic.

Gateway: the default route through a device that is not a tunnel (scoped or not, unscoped
first, IPv4 before IPv6) whose gateway is an address: the local network's router, even while
a VPN carries the traffic. Its hardware address is the link-layer entry netstat lists for
it (IPv4 ARP and IPv6 neighbour entries are routes on BSD), else `arp -n ADDRESS` (IPv4).
macOS prints hardware addresses without leading zeros ("0:1a:2b:3:4:5"); they are returned
padded and in lower case, as an admin would write them.

Wi-Fi name: only when that router is reached over the Wi-Fi device (wired, there is no
SSID even if Wi-Fi is also associated). `ipconfig getsummary DEVICE` (its top-level
"SSID : name"; the DHCP packet it embeds is not read), then `networksetup
-getairportnetwork DEVICE` ("Current Wi-Fi Network: name"). Recent macOS treats the name as
location data: from 15.0 networksetup says "You are not associated with an AirPort network."
even when it is, and from 15.6 ipconfig prints "<redacted>" unless root ran `ipconfig
setverbose 1` (some reports see both withheld on 14 already, for processes without Location
Services permission). Then the SSID is None and the network is known by its gateway's
hardware address alone.

VPN connections: the services `scutil --nc list` shows "(Connected)": the VPNs configured in
System Settings, built-in (IKEv2, L2TP, Cisco IPSec) and Network Extension apps (WireGuard,
Tailscale, most commercial VPNs), by the name the person gave them.

Listening sockets: `netstat -an -p tcp` and `-p udp` list every socket of every user (TCP
in LISTEN; UDP with no remote end), with no owner. `lsof -nP -iTCP -sTCP:LISTEN -iUDP` (field
output, -F) names the owner of the ones this user may see; a socket of another user (root's
sshd started by launchd for Remote Login, screen sharing) is kept with no pid and no
program. psutil cannot list sockets on macOS without root. `listeners` raises
ProbeUnavailable only when neither netstat nor lsof answered: an empty list would say that
nothing listens.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agent.errors import ProbeUnavailable
from agent.probes import Interface, Listener, Network
from agent.probes._macos_console import Answer, Runner, ask, run_command

__all__ = ["listeners", "network"]

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2
# Addresses whose route is "the route to the internet" (as in the Linux probe). Nothing is sent.
PUBLIC_V4 = "1.1.1.1"
PUBLIC_V6 = "2606:4700:4700::1111"

IFCONFIG = ("/sbin/ifconfig", "-a")
HARDWARE_PORTS = ("/usr/sbin/networksetup", "-listallhardwareports")
ROUTES = ("/usr/sbin/netstat", "-rn")
ROUTE_V4 = ("/sbin/route", "-n", "get", PUBLIC_V4)
ROUTE_V6 = ("/sbin/route", "-n", "get", "-inet6", PUBLIC_V6)
VPN_SERVICES = ("/usr/sbin/scutil", "--nc", "list")
SOCKETS_TCP = ("/usr/sbin/netstat", "-an", "-p", "tcp")
SOCKETS_UDP = ("/usr/sbin/netstat", "-an", "-p", "udp")
LSOF = ("/usr/sbin/lsof", "-nP", "-iTCP", "-sTCP:LISTEN", "-iUDP", "-FpcPtnT")


def arp(address: str) -> tuple[str, ...]:
    return ("/usr/sbin/arp", "-n", address)


def wifi_summary(device: str) -> tuple[str, ...]:
    return ("/usr/sbin/ipconfig", "getsummary", device)


def wifi_network(device: str) -> tuple[str, ...]:
    return ("/usr/sbin/networksetup", "-getairportnetwork", device)


_TUNNEL_KINDS = frozenset({"tun", "tap", "wireguard", "ppp", "ipsec", "loopback"})
_POINT_TO_POINT = frozenset({"tun", "ppp", "ipsec"})
_DEVICE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,14}$")
_IF_HEADER = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9]*): flags=[0-9A-Fa-f]+<(?P<flags>[^>]*)>")
_WIFI_PORT = re.compile(r"wi-?fi|airport|wlan", re.IGNORECASE)
_MAC = re.compile(r"^[0-9A-Fa-f]{1,2}([:-])(?:[0-9A-Fa-f]{1,2}\1){4}[0-9A-Fa-f]{1,2}$")
_ARP_ENTRY = re.compile(r"\((?P<address>[^)]+)\) at (?P<mac>\S+)")
_NC_STATUS = re.compile(r"^[* ]\s*\((?P<status>[^)]*)\)\s")
_REDACTED = "<redacted>"
_AIRPORT_PREFIXES = ("Current Wi-Fi Network: ", "Current AirPort Network: ")
_V4_HALVES = (ipaddress.ip_network("0.0.0.0/1"), ipaddress.ip_network("128.0.0.0/1"))
_V6_HALVES = (ipaddress.ip_network("::/1"), ipaddress.ip_network("8000::/1"))


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return run_command(argv, TIMEOUT_SECONDS)


def network(env: Mapping[str, str], run: Runner = _run) -> Network:
    """The interfaces, default routes, gateway and Wi-Fi/VPN state this Mac sees now.

    `env` is not needed: every fact comes from the system, not from the session.
    """
    del env
    return read_network(run)


def listeners(run: Runner = _run) -> list[Listener]:
    """TCP sockets in LISTEN and UDP sockets with no remote end, one per address and port."""
    return read_listeners(run)


# -- running the commands --------------------------------------------------------------------


def _ask(run: Runner, argv: Sequence[str]) -> Answer | None:
    """What a command printed, or None when it could not run or did not finish in time."""
    answer = ask(run, argv, TIMEOUT_SECONDS)
    if isinstance(answer, str):
        log.debug("%s", answer)
        return None
    return answer


def _stdout(run: Runner, argv: Sequence[str]) -> str | None:
    """A command's output when it succeeded; None otherwise (its output is never logged)."""
    answer = _ask(run, argv)
    if answer is None:
        return None
    if answer.code != 0:
        log.debug("%s failed with exit status %s", argv[0], answer.code)
        return None
    return answer.out


# -- network ---------------------------------------------------------------------------------


def read_network(run: Runner) -> Network:
    """`network` with the command runner passed in."""
    ports = _stdout(run, HARDWARE_PORTS)
    wifi = parse_hardware_ports(ports) if ports is not None else frozenset()
    devices = parse_ifconfig(_stdout(run, IFCONFIG) or "", wifi)
    kinds = {device.name: device.kind for device in devices}
    routes = parse_netstat_routes(_stdout(run, ROUTES) or "")

    names: list[str] = []
    for argv in (ROUTE_V4, ROUTE_V6):
        chosen = parse_route_get(_stdout(run, argv) or "")
        if chosen:
            names.append(chosen)
    names += default_interfaces(routes)
    default_routes = tuple(
        name for name in dict.fromkeys(names) if _kind(name, kinds) != "loopback"
    )

    router = local_gateway(routes, kinds)
    gateway = mac = ssid = None
    if router is not None:
        gateway = _unscoped(router.gateway)
        mac = link_address(routes, router)
        if mac is None and ":" not in gateway:
            mac = _arp(run, gateway)
        if router.interface in wifi or ports is None:  # unknown ports: ipconfig says
            ssid = _ssid(run, router.interface)
    vpn = _stdout(run, VPN_SERVICES)
    return Network(
        interfaces=tuple(Interface(device.name, device.kind, device.up) for device in devices),
        default_routes=default_routes,
        gateway=gateway,
        gateway_mac=mac,
        ssid=ssid,
        vpn_connections=parse_vpn_services(vpn) if vpn is not None else (),
    )


def _kind(name: str, kinds: Mapping[str, str]) -> str:
    """An interface's kind; by its name alone when ifconfig did not list it."""
    if name in kinds:
        return kinds[name]
    return _kind_by_name(name) or "other"


def _kind_by_name(name: str) -> str | None:
    for prefix, kind in (
        ("lo", "loopback"),
        ("utun", "tun"),
        ("tun", "tun"),
        ("tap", "tap"),
        ("ipsec", "ipsec"),
        ("ppp", "ppp"),
    ):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return kind
    return None


def _arp(run: Runner, address: str) -> str | None:
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        return None
    answer = _ask(run, arp(address))  # "-- no entry" comes with exit status 1
    return parse_arp(answer.out, address) if answer is not None else None


def _ssid(run: Runner, device: str) -> str | None:
    if not _DEVICE.match(device):
        return None
    summary = _stdout(run, wifi_summary(device))
    if summary is not None:
        facts = parse_wifi_summary(summary)
        if facts.ssid is not None:
            return facts.ssid
        if facts.wifi is False or facts.active is False:
            return None  # not a Wi-Fi device, or not associated: nothing to ask networksetup
    answer = _stdout(run, wifi_network(device))
    return parse_airport_network(answer) if answer is not None else None


# -- parsers: text in, facts out; what they do not understand is skipped, never raised --------


@dataclass
class Device:
    """One interface as ifconfig lists it."""

    name: str
    flags: frozenset[str]
    wifi: bool = False
    ether: bool = False
    status: str | None = None
    addresses: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if "LOOPBACK" in self.flags:
            return "loopback"
        by_name = _kind_by_name(self.name)
        if by_name is not None:
            return by_name
        if self.wifi:
            return "wifi"
        return "ethernet" if self.ether else "other"

    @property
    def up(self) -> bool:
        if "UP" not in self.flags or "RUNNING" not in self.flags:
            return False
        if self.status is not None and self.status != "active":
            return False
        if self.kind in _POINT_TO_POINT:
            return any(_routable(address) for address in self.addresses)
        return True


def _routable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (isinstance(ip, ipaddress.IPv6Address) and ip.is_link_local)


def parse_ifconfig(text: str, wifi: Iterable[str] = ()) -> list[Device]:
    """The interfaces in `ifconfig -a`'s output, in its order."""
    wifi = frozenset(wifi)
    devices: list[Device] = []
    current: Device | None = None
    for line in text.splitlines():
        header = _IF_HEADER.match(line)
        if header is not None:
            name = header["name"]
            flags = frozenset(f for f in header["flags"].split(",") if f)
            current = Device(name, flags, wifi=name in wifi)
            devices.append(current)
            continue
        if current is None or not line[:1].isspace():
            continue
        words = line.split()
        if len(words) < 2:
            continue
        if words[0] in ("inet", "inet6"):
            current.addresses.append(words[1])
        elif words[0] == "ether":
            current.ether = True
        elif words[0] == "status:":
            current.status = words[1]
    return devices


def parse_hardware_ports(text: str) -> frozenset[str]:
    """The devices `networksetup -listallhardwareports` names as Wi-Fi ports."""
    found = set()
    port = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Hardware Port":
            port = value.strip()
        elif key.strip() == "Device" and port is not None:
            if _WIFI_PORT.search(port) and _DEVICE.match(value.strip()):
                found.add(value.strip())
            port = None
    return frozenset(found)


@dataclass(frozen=True)
class Route:
    """One line of `netstat -rn`."""

    family: int  # 4 or 6
    destination: str
    gateway: str
    flags: str
    interface: str

    @property
    def default(self) -> bool:
        return self.destination == "default"

    @property
    def scoped(self) -> bool:
        return "I" in self.flags  # RTF_IFSCOPE

    @property
    def usable(self) -> bool:
        # U: up; R: reject; B: blackhole.
        return "U" in self.flags and "R" not in self.flags and "B" not in self.flags


def parse_netstat_routes(text: str) -> list[Route]:
    """The routes of `netstat -rn`, IPv4 ("Internet:") and IPv6 ("Internet6:").

    Columns are found by the header, which changed over the years (Refs and Use went away
    in macOS 11; `-v` adds RT_IFA and Mtu); Expire, the last, is often empty.
    """
    routes = []
    family = 0
    flags_at = netif_at = -1
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] in ("Internet:", "Internet6:"):
            family = 4 if words[0] == "Internet:" else 6
            flags_at = netif_at = -1
            continue
        if words[0] == "Destination":
            flags_at = words.index("Flags") if "Flags" in words else -1
            netif_at = words.index("Netif") if "Netif" in words else -1
            continue
        if not family or min(flags_at, netif_at) < 0 or len(words) <= max(flags_at, netif_at):
            continue
        routes.append(Route(family, words[0], words[1], words[flags_at], words[netif_at]))
    return routes


def default_interfaces(routes: Iterable[Route]) -> list[str]:
    """The interfaces taking the traffic by the routing table: both halves first, then the
    unscoped default routes; IPv4 before IPv6."""
    routes = [r for r in routes if r.usable]
    found: list[str] = []
    for family, halves in ((4, _V4_HALVES), (6, _V6_HALVES)):
        held: dict[str, set[int]] = {}
        for route in routes:
            prefix = _prefix(route)
            if route.family == family and prefix in halves:
                held.setdefault(route.interface, set()).add(halves.index(prefix))
        found += [name for name, which in held.items() if which == {0, 1}]
        found += [r.interface for r in routes if r.family == family and r.default and not r.scoped]
    return found


def _prefix(route: Route) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A destination written with a prefix length, as a network ("128.0/1" is 128.0.0.0/1)."""
    address, slash, bits = route.destination.partition("/")
    if not slash or not bits.isdigit():
        return None
    if route.family == 4:
        parts = address.split(".")
        address = ".".join(parts + ["0"] * (4 - len(parts)))
    try:
        return ipaddress.ip_network(f"{address.split('%', 1)[0]}/{bits}", strict=False)
    except ValueError:
        return None


def local_gateway(routes: Iterable[Route], kinds: Mapping[str, str]) -> Route | None:
    """The default route to the local network's router: through a device that is not a
    tunnel, with an address for a gateway; unscoped first, IPv4 before IPv6."""
    candidates = [
        route
        for route in routes
        if route.default
        and route.usable
        and _kind(route.interface, kinds) not in _TUNNEL_KINDS
        and _is_address(route.gateway)
    ]
    candidates.sort(key=lambda route: (route.family, route.scoped))  # stable: table order
    return candidates[0] if candidates else None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _unscoped(address: str) -> str:
    return address.split("%", 1)[0]


def link_address(routes: Iterable[Route], router: Route) -> str | None:
    """The router's hardware address from the link-layer entry the routing table keeps."""
    wanted = _unscoped(router.gateway)
    for route in routes:
        if (
            route.family == router.family
            and _unscoped(route.destination) == wanted
            and route.interface == router.interface
        ):
            mac = normal_mac(route.gateway)
            if mac is not None:
                return mac
    return None


def normal_mac(text: str) -> str | None:
    """A hardware address as aa:bb:cc:dd:ee:ff; None for anything else, or all zeros/ones."""
    if not _MAC.match(text):
        return None
    mac = ":".join(part.rjust(2, "0") for part in re.split(r"[:-]", text.lower()))
    return None if mac in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") else mac


def parse_route_get(text: str) -> str | None:
    """The interface `route -n get ADDRESS` names ("  interface: utun4")."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "interface" and value.strip():
            name = value.strip()
            return name if _DEVICE.match(name) else None
    return None


def parse_arp(text: str, address: str) -> str | None:
    """The hardware address `arp -n ADDRESS` shows for it; None for "(incomplete)" or
    "-- no entry"."""
    for line in text.splitlines():
        match = _ARP_ENTRY.search(line)
        if match is not None and match["address"] == address:
            return normal_mac(match["mac"])
    return None


@dataclass(frozen=True)
class WifiSummary:
    wifi: bool | None  # InterfaceType is WiFi; None when not said
    active: bool | None  # LinkStatusActive
    ssid: str | None  # None when absent, empty or "<redacted>"


def parse_wifi_summary(text: str) -> WifiSummary:
    """The top-level keys of `ipconfig getsummary DEVICE`.

    Only lines two spaces deep inside the outer `<dictionary> {` count: the DHCP packet the
    summary embeds is printed without indentation and may hold anything, "SSID : x" too.
    """
    depth = 0
    keys: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == "}":
            depth = max(0, depth - 1)
            continue
        if depth == 1 and line.startswith("  ") and not line.startswith("   "):
            key, separator, value = line[2:].partition(" : ")
            if separator and key and " " not in key:
                keys.setdefault(key, value)
        if stripped.endswith("{"):
            depth += 1
    interface_type = keys.get("InterfaceType")
    active = keys.get("LinkStatusActive")
    ssid = keys.get("SSID")
    return WifiSummary(
        wifi=None if interface_type is None else interface_type.strip() == "WiFi",
        active=None if active is None else active.strip() == "TRUE",
        ssid=None if not ssid or ssid.strip() == _REDACTED else ssid,
    )


def parse_airport_network(text: str) -> str | None:
    """The name in "Current Wi-Fi Network: NAME"; None for "You are not associated...", for
    "en5 is not a Wi-Fi interface." and for anything else."""
    for line in text.splitlines():
        for prefix in _AIRPORT_PREFIXES:
            if line.startswith(prefix) and line[len(prefix) :]:
                return line[len(prefix) :]
    return None


def parse_vpn_services(text: str) -> tuple[str, ...]:
    """The names of the services `scutil --nc list` shows as "(Connected)".

    A line is: enabled mark, (status), service id, interface, "name", [type]. scutil pads
    the quoted name to the name's own length or 32, whichever is more, and so cuts the
    closing quote (and, from 32 characters on, the last character) of a long name: the
    name runs from the first quote to the last " [" then, less a closing quote if any.
    """
    found = []
    for line in text.splitlines():
        match = _NC_STATUS.match(line)
        if match is None or match["status"] != "Connected":
            continue
        _, quote, rest = line.partition('"')
        name, bracket, _ = rest.rpartition(" [")
        if not quote or not bracket:
            continue
        name = name.rstrip(" ")
        name = name.removesuffix('"')
        if name:
            found.append(name)
    return tuple(dict.fromkeys(found))


# -- listening sockets -----------------------------------------------------------------------


@dataclass(frozen=True)
class Socket:
    """A socket waiting for connections, as netstat or lsof shows it."""

    protocol: str  # "tcp" or "udp"
    address: str
    port: int
    pid: int | None = None
    program: str | None = None


def read_listeners(run: Runner) -> list[Listener]:
    """`listeners` with the command runner passed in."""
    tables = [_stdout(run, argv) for argv in (SOCKETS_TCP, SOCKETS_UDP)]
    owners = _ask(run, LSOF)  # exit status 1 with no output: nothing of ours matched
    if all(table is None for table in tables) and owners is None:
        raise ProbeUnavailable(
            "Neither netstat nor lsof could list the sockets waiting for connections."
        )
    sockets = [s for table in tables for s in parse_netstat_sockets(table or "")]
    owned = parse_lsof(owners.out) if owners is not None else []
    return merge_sockets(sockets, owned)


def parse_netstat_sockets(text: str) -> list[Socket]:
    """TCP sockets in LISTEN and UDP sockets with no remote end in `netstat -an`'s output.

    The local address ends with the port after a dot ("127.0.0.1.631", "*.5000", "::1.5432",
    "fe80::1%lo0.5353"); the protocol's suffix (tcp4, tcp6, tcp46) says the family of "*".
    """
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 5 or not words[0].startswith(("tcp", "udp")):
            continue
        protocol = words[0][:3]
        if protocol == "tcp" and (len(words) < 6 or words[5] != "LISTEN"):
            continue
        if protocol == "udp" and words[4] != "*.*":
            continue  # connected: it talks to one peer, it does not wait for anyone
        host, dot, port = words[3].rpartition(".")
        if not dot or not port.isdigit() or not host:
            continue
        if host == "*":
            host = "0.0.0.0" if words[0].endswith("4") else "::"  # noqa: S104 - read, not bound
        found.append(Socket(protocol, host, int(port)))
    return found


def parse_lsof(text: str) -> list[Socket]:
    """The sockets in lsof's field output (-F pcPtnT): a "p" line starts a process (then "c",
    its command), an "f" line a file (then "t" IPv4/IPv6, "P" TCP/UDP, "n" the address,
    "T" lines such as "TST=LISTEN")."""
    found: list[Socket] = []
    pid: int | None = None
    command: str | None = None
    current: dict[str, str] = {}

    def flush() -> None:
        socket = _lsof_socket(current, pid, command)
        if socket is not None:
            found.append(socket)
        current.clear()

    for line in text.splitlines():
        if not line:
            continue
        tag, value = line[0], line[1:]
        if tag == "p":
            flush()
            pid = int(value) if value.isdigit() else None
            command = None
        elif tag == "c":
            command = value or None
        elif tag == "f":
            flush()
            current["f"] = value
        elif tag == "T":
            key, _, state = value.partition("=")
            if key == "ST":
                current["state"] = state
        elif tag in "tPn":
            current[tag] = value
    flush()
    return found


def _lsof_socket(fields: Mapping[str, str], pid: int | None, command: str | None) -> Socket | None:
    protocol = fields.get("P", "").lower()
    name = fields.get("n", "")
    if protocol not in ("tcp", "udp") or not name or "->" in name:
        return None
    if protocol == "tcp" and fields.get("state", "LISTEN") != "LISTEN":
        return None
    host, colon, port = name.rpartition(":")
    if not colon or not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "*":
        host = "::" if fields.get("t") == "IPv6" else "0.0.0.0"  # noqa: S104 - read, not bound
    return Socket(protocol, host, int(port), pid, command)


def merge_sockets(sockets: Iterable[Socket], owned: Iterable[Socket]) -> list[Listener]:
    """netstat's sockets (all users) named by lsof's (ours): first by protocol, address and
    port; else by protocol and port when lsof shows a single owner for it (lsof writes
    addresses a little differently, link-local ones especially)."""
    owned = list(owned)
    exact: dict[tuple[str, str, int], Socket] = {}
    by_port: dict[tuple[str, int], set[tuple[int | None, str | None]]] = {}
    for socket in sorted(owned, key=lambda s: (s.pid is None, s.pid or 0)):
        exact.setdefault((socket.protocol, socket.address, socket.port), socket)
        by_port.setdefault((socket.protocol, socket.port), set()).add((socket.pid, socket.program))
    found: dict[tuple[str, int, str], Listener] = {}
    for socket in [*sockets, *owned]:
        key = (socket.address, socket.port, socket.protocol)
        if key in found:
            continue
        pid, program = socket.pid, socket.program
        if pid is None and program is None:
            twin = exact.get((socket.protocol, socket.address, socket.port))
            owners = by_port.get((socket.protocol, socket.port), set())
            if twin is not None:
                pid, program = twin.pid, twin.program
            elif len(owners) == 1:
                ((pid, program),) = owners
        found[key] = Listener(socket.address, socket.port, socket.protocol, pid, program)
    return sorted(found.values(), key=lambda entry: (entry.protocol, entry.port, entry.address))
