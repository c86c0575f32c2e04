"""The network this Linux machine is on, and the sockets waiting for connections. Facts only.

Interfaces come from /sys/class/net/<name>/:

- kind, first rule that matches: ARPHRD_LOOPBACK (type 772) is "loopback"; DEVTYPE=wireguard
  in `uevent` is "wireguard"; a name starting with ipsec, vti or xfrm is "ipsec" (strongSwan's
  kernel-libipsec makes a tun device called ipsec0); a device with `tun_flags` is "tap" when
  IFF_TAP is set, else "tun" (ZeroTier is a tap, Tailscale and OpenVPN a tun); ARPHRD_PPP
  (512) is "ppp"; DEVTYPE=wlan, `wireless/` or `phy80211` is "wifi"; any other ARPHRD_ETHER
  (1) is "ethernet" (veths, bridges and VLANs too: they carry Ethernet frames); the rest is
  "other". The kind says what the device is, not what it is called: a tun device named wg0
  is "tun" (checks match names themselves).
- up: IFF_UP in `flags`, `carrier` reads 1, and `operstate` is "up" or "unknown" (loopback
  and tun devices say "unknown" or "up"; a Wi-Fi card not associated says "dormant"). A tun
  device has a carrier only while a process holds it open (TUNSETIFF): one made by
  `ip tuntap add` and set up but held by nobody is IFF_UP with operstate "down" and no
  carrier, so it is not up, and when its process exits the carrier drops at once while
  operstate can still read "up" for a moment, so the carrier is what decides. An interface
  that is administratively down has no readable carrier at all (EINVAL).

Default routes:

- /proc/net/route: IPv4 routes of the main table with destination and mask 0, RTF_UP and not
  RTF_REJECT. /proc/net/ipv6_route: routes to ::/0 of every table (the kernel lists them
  all), RTF_UP and not RTF_REJECT (the kernel keeps an "unreachable" ::/0 on lo).
- The interface the kernel actually picks for a public address (1.1.1.1 and
  2606:4700:4700::1111; nothing is sent), asked over rtnetlink as `ip route get` does. This
  honours policy routing and more specific routes, which is how most VPNs take the
  traffic without touching the main table's default route: wg-quick, Tailscale exit nodes,
  Mullvad and NetworkManager's WireGuard put their default route in a table of their own
  behind an `ip rule`, and OpenVPN's redirect-gateway def1 adds 0.0.0.0/1 and 128.0.0.0/1.
  That interface is listed first in `default_routes`; the ones from the files follow, by
  metric, IPv4 before IPv6. Without it a VPN set up by wg-quick would look like a split
  tunnel.

The gateway is the lowest-metric IPv4 default route's that has one, else the IPv6 one's
(the main table's default route is the local network's, even while a VPN carries the traffic
through another table). A default route through a point-to-point device (`ip route add
default dev tun0`) has no gateway: None. Its hardware address comes from the neighbour table
on the route's interface, only from a complete entry: /proc/net/arp for IPv4 (ATF_COM), an
rtnetlink neighbour dump for IPv6 (no process is started; an entry that is reachable, stale,
delayed, being probed or permanent). An all-zero address is none.

Wi-Fi name and VPN connections: NetworkManager on the system bus (DBUS_SYSTEM_BUS_ADDRESS in
`env`, else /run/dbus/system_bus_socket), asked only after NameHasOwner says it runs, with
0.5 s timeouts; no bus or no NetworkManager gives None and (). The SSID is that of the access
point of the wireless device of the primary connection (the one holding the default route).
When the primary connection is a VPN or tunnel (or there is none), it is that of the active
Wi-Fi connection underneath, if any; when it is wired, None even if Wi-Fi is also associated:
the traffic does not go there. SSIDs are bytes: invalid UTF-8 is kept as \\xNN escapes so two
different names never read the same. `vpn_connections` are the Ids of the activated
connections of type "vpn" or "wireguard". Wi-Fi without NetworkManager (iwd alone,
wpa_supplicant alone) gives no SSID.

Every read is a small file, a netlink request or a bus call when NetworkManager runs, and
nothing is kept between calls. `root` lets tests read a made-up /sys and /proc; with another
root than "/" the kernel is not asked (no route lookup, no IPv6 neighbours).

Listening sockets come from psutil: TCP in LISTEN and UDP with no remote address, one entry
per (address, port, protocol), with the program when the system says who owns it.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from jeepney.wrappers import DBusAddress, DBusErrorResponse  # type: ignore[import-untyped]

from agent.probes import Interface, Listener, Network, one_per_socket
from agent.probes._dbus import BUS_ERRORS, TIMEOUT, call, connect, has_owner, system_bus_addresses

# Each netlink request waits as long as a bus call (TIMEOUT).
# Addresses whose route is "the route to the internet". Nothing is sent to them.
PUBLIC_V4 = "1.1.1.1"
PUBLIC_V6 = "2606:4700:4700::1111"

_ARPHRD_ETHER = 1
_ARPHRD_PPP = 512
_ARPHRD_LOOPBACK = 772
_IFF_UP = 0x1
_IFF_TAP = 0x2
_RTF_UP = 0x1
_RTF_GATEWAY = 0x2
_RTF_REJECT = 0x200
_ATF_COM = 0x2
_UP_STATES = frozenset({"up", "unknown"})
_IPSEC_NAMES = ("ipsec", "vti", "xfrm")
_NO_MAC = "00:00:00:00:00:00"

# rtnetlink (linux/netlink.h, linux/rtnetlink.h, linux/neighbour.h)
_NETLINK_ROUTE = 0
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_RTM_NEWROUTE = 24
_RTM_GETROUTE = 26
_RTM_NEWNEIGH = 28
_RTM_GETNEIGH = 30
_RTA_DST = 1
_RTA_OIF = 4
_NDA_DST = 1
_NDA_LLADDR = 2
_NUD_VALID = 0x02 | 0x04 | 0x08 | 0x10 | 0x80  # reachable, stale, delay, probe, permanent
_NLA_TYPE_MASK = 0x3FFF
_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BBHiHBB")

_NM = "org.freedesktop.NetworkManager"
_NM_ACTIVE = "org.freedesktop.NetworkManager.Connection.Active"
_NM_WIRELESS = "org.freedesktop.NetworkManager.Device.Wireless"
_NM_ACCESS_POINT = "org.freedesktop.NetworkManager.AccessPoint"
_NM_ACTIVATED = 2
_WIFI_TYPE = "802-11-wireless"
_VPN_TYPES = frozenset({"vpn", "wireguard"})
# A primary connection of these types runs over another one: look for the Wi-Fi beneath.
_OVERLAY_TYPES = frozenset({"vpn", "wireguard", "tun", "ip-tunnel"})

# What jeepney raises for an address it cannot use, a bus that is not there or does not let
# us in, and a connection that breaks or answers what cannot be parsed.
_BUS_ERRORS = (*BUS_ERRORS, DBusErrorResponse)


def network(env: Mapping[str, str], *, root: Path = Path("/")) -> Network:
    """The interfaces, default routes, gateway and Wi-Fi/VPN state this machine sees now."""
    live = root == Path("/")
    interfaces = _interfaces(root / "sys" / "class" / "net")
    routes = sorted(_routes_v4(root), key=lambda r: r.metric) + sorted(
        _routes_v6(root), key=lambda r: r.metric
    )
    names: list[str] = []
    if live:
        names += [n for n in (_route_to(PUBLIC_V4), _route_to(PUBLIC_V6)) if n and n != "lo"]
    names += [route.interface for route in routes]
    gateway = next((route for route in routes if route.gateway), None)
    mac = None
    if gateway is not None and gateway.gateway is not None:
        if ":" in gateway.gateway:
            mac = _neighbour_v6(gateway.gateway, gateway.interface) if live else None
        else:
            mac = _neighbour_v4(root, gateway.gateway, gateway.interface)
    ssid, vpn = _network_manager(env)
    return Network(
        interfaces=interfaces,
        default_routes=tuple(dict.fromkeys(names)),
        gateway=None if gateway is None else gateway.gateway,
        gateway_mac=mac,
        ssid=ssid,
        vpn_connections=vpn,
    )


def listeners() -> list[Listener]:
    """TCP sockets in LISTEN and UDP sockets with no remote end, one per address and port."""
    found: list[Listener] = []
    programs: dict[int, str | None] = {}
    for connection in psutil.net_connections(kind="inet"):
        if connection.type == socket.SOCK_STREAM:
            if connection.status != psutil.CONN_LISTEN:
                continue
            protocol = "tcp"
        elif connection.type == socket.SOCK_DGRAM:
            if connection.raddr:
                continue
            protocol = "udp"
        else:
            continue
        if not connection.laddr or not connection.laddr.port:
            continue
        pid = connection.pid
        program = None
        if pid is not None:
            if pid not in programs:
                programs[pid] = _program(pid)
            program = programs[pid]
        address, port = str(connection.laddr.ip), int(connection.laddr.port)
        found.append(Listener(address, port, protocol, pid, program))
    return one_per_socket(found)


def _program(pid: int) -> str | None:
    try:
        return psutil.Process(pid).name() or None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


# -- interfaces ------------------------------------------------------------------------------


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:  # gone meanwhile, or EINVAL (the carrier of a device that is down)
        return None


def _number(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


def _interfaces(net: Path) -> tuple[Interface, ...]:
    try:
        names = sorted(entry.name for entry in net.iterdir())
    except OSError:
        return ()
    found = []
    for name in names:
        path = net / name
        arptype = _number(_read(path / "type"))
        if arptype is None:  # not a device (or removed meanwhile)
            continue
        flags = _number(_read(path / "flags"), 16) or 0
        up = (
            bool(flags & _IFF_UP)
            and _read(path / "carrier") == "1"
            and _read(path / "operstate") in _UP_STATES
        )
        found.append(Interface(name, _kind(name, path, arptype), up))
    return tuple(found)


def _kind(name: str, path: Path, arptype: int) -> str:
    if arptype == _ARPHRD_LOOPBACK:
        return "loopback"
    devtype = _devtype(_read(path / "uevent") or "")
    if devtype == "wireguard":
        return "wireguard"
    if name.startswith(_IPSEC_NAMES):
        return "ipsec"
    tun_flags = _number(_read(path / "tun_flags"), 16)
    if tun_flags is not None:
        return "tap" if tun_flags & _IFF_TAP else "tun"
    if arptype == _ARPHRD_PPP:
        return "ppp"
    if devtype == "wlan" or (path / "wireless").exists() or (path / "phy80211").exists():
        return "wifi"
    if arptype == _ARPHRD_ETHER:
        return "ethernet"
    return "other"


def _devtype(uevent: str) -> str:
    for line in uevent.splitlines():
        key, _, value = line.partition("=")
        if key == "DEVTYPE":
            return value.strip()
    return ""


# -- routes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    interface: str
    gateway: str | None
    metric: int


def _lines(path: Path) -> list[list[str]]:
    text = _read(path)
    return [] if text is None else [line.split() for line in text.splitlines()]


def _routes_v4(root: Path) -> Iterator[_Route]:
    # Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT; the addresses
    # are the kernel's 32-bit words printed in hex, so in this machine's byte order.
    for fields in _lines(root / "proc" / "net" / "route")[1:]:
        if len(fields) < 8:
            continue
        flags = _number(fields[3], 16)
        metric = _number(fields[6])
        if flags is None or metric is None or fields[1] != "00000000" or fields[7] != "00000000":
            continue
        if not flags & _RTF_UP or flags & _RTF_REJECT:
            continue
        gateway = None
        word = _number(fields[2], 16)
        if flags & _RTF_GATEWAY and word:
            gateway = socket.inet_ntoa(struct.pack("=I", word & 0xFFFFFFFF))
        yield _Route(fields[0], gateway, metric)


def _routes_v6(root: Path) -> Iterator[_Route]:
    # destination, its prefix length, source, its prefix length, next hop, metric, refcount,
    # use, flags, interface; all hex.
    for fields in _lines(root / "proc" / "net" / "ipv6_route"):
        if len(fields) < 10 or fields[0] != "0" * 32 or fields[1] != "00":
            continue
        flags = _number(fields[8], 16)
        metric = _number(fields[5], 16)
        if flags is None or metric is None or not flags & _RTF_UP or flags & _RTF_REJECT:
            continue
        gateway = None
        if flags & _RTF_GATEWAY and fields[4].strip("0"):
            try:
                gateway = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(fields[4]))
            except ValueError:
                continue
        yield _Route(fields[9], gateway, metric)


def _neighbour_v4(root: Path, address: str, interface: str) -> str | None:
    # IP address, HW type, Flags, HW address, Mask, Device
    for fields in _lines(root / "proc" / "net" / "arp")[1:]:
        if len(fields) < 6 or fields[0] != address or fields[5] != interface:
            continue
        flags = _number(fields[2], 16) or 0
        mac = fields[3].lower()
        if flags & _ATF_COM and mac != _NO_MAC:
            return mac
    return None


# -- rtnetlink -------------------------------------------------------------------------------


def _netlink(kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
    """The reply messages (type, payload) to one request; OSError for an error reply."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((0, 0))
        sock.send(_HEADER.pack(_HEADER.size + len(body), kind, _NLM_F_REQUEST | flags, 1, 0) + body)
        messages: list[tuple[int, bytes]] = []
        while True:
            data = sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, message_type, _, _, _ = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    return messages
                payload = data[offset + _HEADER.size : offset + length]
                offset += (length + 3) & ~3
                if message_type == _NLMSG_DONE:
                    return messages
                if message_type == _NLMSG_ERROR:
                    (error,) = struct.unpack_from("=i", payload) if len(payload) >= 4 else (0,)
                    if error:
                        raise OSError(-error, "netlink request refused")
                    return messages
                messages.append((message_type, payload))
            if not flags & _NLM_F_DUMP and messages:
                return messages
            if not data:
                return messages


def _attributes(data: bytes, offset: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        found.setdefault(kind & _NLA_TYPE_MASK, data[offset + 4 : offset + length])
        offset += (length + 3) & ~3
    return found


def _route_to(address: str) -> str | None:
    """The interface the kernel would send `address`'s traffic through, as `ip route get`."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    body = _RTMSG.pack(family, len(packed) * 8, 0, 0, 0, 0, 0, 0, 0)
    body += struct.pack("=HH", 4 + len(packed), _RTA_DST) + packed
    try:
        replies = _netlink(_RTM_GETROUTE, 0, body)
        for message_type, payload in replies:
            if message_type != _RTM_NEWROUTE:
                continue
            oif = _attributes(payload, _RTMSG.size).get(_RTA_OIF)
            if oif is not None and len(oif) == 4:
                return socket.if_indextoname(struct.unpack("=I", oif)[0])
    except (OSError, struct.error):  # no route (ENETUNREACH), no netlink, a device gone
        return None
    return None


def _neighbour_v6(address: str, interface: str) -> str | None:
    """The hardware address of a complete IPv6 neighbour entry on `interface`, lower case."""
    try:
        index = socket.if_nametoindex(interface)
        wanted = socket.inet_pton(socket.AF_INET6, address)
        replies = _netlink(
            _RTM_GETNEIGH, _NLM_F_DUMP, _NDMSG.pack(socket.AF_INET6, 0, 0, 0, 0, 0, 0)
        )
        for message_type, payload in replies:
            if message_type != _RTM_NEWNEIGH or len(payload) < _NDMSG.size:
                continue
            family, _, _, ifindex, state, _, _ = _NDMSG.unpack_from(payload)
            if family != socket.AF_INET6 or ifindex != index or not state & _NUD_VALID:
                continue
            attributes = _attributes(payload, _NDMSG.size)
            lladdr = attributes.get(_NDA_LLADDR)
            if attributes.get(_NDA_DST) != wanted or not lladdr:
                continue
            mac = ":".join(f"{byte:02x}" for byte in lladdr)
            return None if mac == _NO_MAC else mac
    except (OSError, struct.error):
        return None
    return None


# -- NetworkManager --------------------------------------------------------------------------


def _network_manager(env: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """(SSID, active VPN connection names) from NetworkManager; (None, ()) without it."""
    connection = connect(system_bus_addresses(env))
    if connection is None:
        return None, ()
    with connection:
        try:
            if not has_owner(connection, _NM):
                return None, ()
            return _ask_network_manager(connection)
        except _BUS_ERRORS:
            return None, ()


def _ask_network_manager(connection: Any) -> tuple[str | None, tuple[str, ...]]:
    primary = _get(connection, "/org/freedesktop/NetworkManager", _NM, "PrimaryConnection")
    paths = _get(connection, "/org/freedesktop/NetworkManager", _NM, "ActiveConnections")
    if not isinstance(paths, list):
        paths = []
    ordered = [p for p in [primary, *paths] if isinstance(p, str) and p != "/"]
    active: dict[str, dict[str, Any]] = {}
    for path in dict.fromkeys(ordered):
        values = _call(
            connection, path, "org.freedesktop.DBus.Properties", "GetAll", "s", _NM_ACTIVE
        )
        if isinstance(values, dict):
            active[path] = {str(key): value[1] for key, value in values.items()}
    vpn = tuple(
        str(properties.get("Id", ""))
        for properties in active.values()
        if properties.get("Type") in _VPN_TYPES
        and properties.get("State", _NM_ACTIVATED) == _NM_ACTIVATED
    )
    first = active.get(primary) if isinstance(primary, str) else None
    if first is not None and first.get("Type") not in _OVERLAY_TYPES:
        candidates = [first]  # wired or Wi-Fi: that is the network, whatever else is up
    else:
        candidates = [p for p in active.values() if p.get("Type") == _WIFI_TYPE]
    for properties in candidates:
        ssid = _ssid(connection, properties.get("Devices"))
        if ssid is not None:
            return ssid, vpn
    return None, vpn


def _ssid(connection: Any, devices: object) -> str | None:
    if not isinstance(devices, list):
        return None
    for device in devices:
        if not isinstance(device, str):
            continue
        point = _get(connection, device, _NM_WIRELESS, "ActiveAccessPoint")
        if not isinstance(point, str) or point == "/":
            continue
        ssid = _get(connection, point, _NM_ACCESS_POINT, "Ssid")
        if isinstance(ssid, bytes | bytearray | list) and ssid:
            return bytes(ssid).decode("utf-8", errors="backslashreplace")
    return None


def _get(connection: Any, path: str, interface: str, name: str) -> Any:
    """A property's value, or None for an error reply (no such object or interface)."""
    value = _call(connection, path, "org.freedesktop.DBus.Properties", "Get", "ss", interface, name)
    return value[1] if isinstance(value, tuple) and len(value) == 2 else None


def _call(
    connection: Any, path: str, interface: str, method: str, signature: str, *args: Any
) -> Any:
    """The reply's one value, or None for an error reply."""
    address = DBusAddress(path, bus_name=_NM, interface=interface)
    try:
        (value,) = call(connection, address, method, signature, *args)
    except DBusErrorResponse:
        return None
    return value
