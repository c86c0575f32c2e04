"""The Linux network probe against the real kernel: tun devices, routes, a veth gateway, servers.

Each test builds what it needs in a network namespace of its own (tests/netns.py) and runs the
probe inside it, in a child process under `ip netns exec`, which sees that namespace's /sys,
/proc/net and rtnetlink. A few tests read a made-up /sys and /proc instead, for the cases no
namespace here can make (Wi-Fi, a tap, a PPP link, an IPsec device).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from jeepney import (  # type: ignore[import-untyped]
    HeaderFields,
    MessageType,
    new_error,
    new_method_return,
)
from jeepney.bus_messages import message_bus  # type: ignore[import-untyped]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped]
from jeepney.wrappers import unwrap_msg  # type: ignore[import-untyped]

from agent.probes import Interface, Network, network
from agent.probes._linux_net import listeners
from tests.conftest import Machine, Outcome, require_tool
from tests.netns import GATEWAY, GATEWAY6, Netns
from tests.test_privacy import kept_on_disk

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux probe")

_NETWORK = (
    "import dataclasses, json, os; from agent.probes import network; "
    "print(json.dumps(dataclasses.asdict(network(os.environ))))"
)
_LISTENERS = (
    "import dataclasses, json; from agent.probes import listeners; "
    "print(json.dumps([dataclasses.asdict(entry) for entry in listeners()]))"
)
ANY = "0.0.0.0"
NO_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/system_bus_socket"}


def probe(ns: Netns, code: str = _NETWORK) -> Any:
    done = ns.run(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def interface(found: dict[str, Any], name: str) -> dict[str, Any]:
    (entry,) = [i for i in found["interfaces"] if i["name"] == name]
    return dict(entry)


# -- VPN interfaces and the default route ----------------------------------------------------


@pytest.mark.parametrize("name", ["wg9", "tun9", "ppp9", "utun3"])
def test_tun_carrying_the_default_route(netns: Netns, name: str) -> None:
    netns.tun(name)
    netns.default_via(name)
    found = probe(netns)
    assert interface(found, name) == {"name": name, "kind": "tun", "up": True}
    assert interface(found, "lo") == {"name": "lo", "kind": "loopback", "up": False}
    assert found["default_routes"] == [name]
    assert found["gateway"] is None
    assert found["gateway_mac"] is None
    assert found["ssid"] is None
    assert found["vpn_connections"] == []


def test_tun_held_by_no_process_is_not_up(netns: Netns) -> None:
    netns.tun("wg9", attach=False)
    assert interface(probe(netns), "wg9") == {"name": "wg9", "kind": "tun", "up": False}


def test_tun_is_down_once_its_process_exits(netns: Netns) -> None:
    netns.tun("wg9")
    assert interface(probe(netns), "wg9")["up"] is True
    holder = netns.processes[-1]
    holder.kill()
    holder.wait(timeout=15)
    assert interface(probe(netns), "wg9")["up"] is False


def test_tun_set_down_is_not_up(netns: Netns) -> None:
    netns.tun("tun9")
    netns.ip("link", "set", "tun9", "down")
    assert interface(probe(netns), "tun9")["up"] is False


def test_split_tunnel_tun_up_default_route_via_gateway(netns: Netns) -> None:
    mac = netns.gateway()
    netns.tun("wg9")
    found = probe(netns)
    assert interface(found, "wg9")["up"] is True
    assert found["default_routes"] == ["veth0"]
    assert (found["gateway"], found["gateway_mac"]) == (GATEWAY, mac)


def test_gateway_and_its_real_hardware_address(netns: Netns) -> None:
    mac = netns.gateway()
    found = probe(netns)
    assert interface(found, "veth0") == {"name": "veth0", "kind": "ethernet", "up": True}
    assert interface(found, "lo")["up"] is True
    assert found["default_routes"] == ["veth0"]
    assert found["gateway"] == GATEWAY
    assert found["gateway_mac"] == mac
    assert mac == mac.lower() and mac != "00:00:00:00:00:00"


def test_default_route_moved_to_the_tun(netns: Netns) -> None:
    netns.gateway()
    netns.tun("wg9")
    netns.default_via("wg9")
    found = probe(netns)
    assert found["default_routes"] == ["wg9"]
    # The route via the gateway was replaced: no IPv4 route has a gateway any more.
    assert (found["gateway"], found["gateway_mac"]) == (None, None)


def test_policy_routed_vpn_as_wg_quick_sets_it_up(netns: Netns) -> None:
    """wg-quick: the default route in a table of its own behind ip rules, main table untouched."""
    mac = netns.gateway()
    netns.tun("wg9")
    netns.ip("route", "add", "default", "dev", "wg9", "table", "51820")
    netns.ip("rule", "add", "not", "fwmark", "51820", "table", "51820")
    netns.ip("rule", "add", "table", "main", "suppress_prefixlength", "0")
    found = probe(netns)
    assert found["default_routes"] == ["wg9", "veth0"]
    # The local network is still the one the gateway identifies.
    assert (found["gateway"], found["gateway_mac"]) == (GATEWAY, mac)


def test_openvpn_def1_routes(netns: Netns) -> None:
    """OpenVPN's redirect-gateway def1: 0.0.0.0/1 and 128.0.0.0/1 beat the default route."""
    netns.gateway()
    netns.tun("tun9")
    netns.ip("route", "add", "0.0.0.0/1", "dev", "tun9")
    netns.ip("route", "add", "128.0.0.0/1", "dev", "tun9")
    assert probe(netns)["default_routes"] == ["tun9", "veth0"]


def test_ipv6_default_route_and_gateway(netns: Netns) -> None:
    mac = netns.gateway(ipv6=True)
    netns.ip("route", "delete", "default")
    found = probe(netns)
    assert found["default_routes"] == ["veth0"]
    assert found["gateway"] == GATEWAY6
    assert found["gateway_mac"] == mac


def test_ipv6_default_route_through_a_tun(netns: Netns) -> None:
    netns.tun("wg9")
    netns.ip("-6", "route", "add", "default", "dev", "wg9")
    found = probe(netns)
    assert found["default_routes"] == ["wg9"]
    assert found["gateway"] is None


def test_no_network_at_all(netns: Netns) -> None:
    found = probe(netns)
    assert found == {
        "interfaces": [{"name": "lo", "kind": "loopback", "up": False}],
        "default_routes": [],
        "gateway": None,
        "gateway_mac": None,
        "ssid": None,
        "vpn_connections": [],
    }


# -- listening sockets -----------------------------------------------------------------------


def test_listeners_with_program_and_address(netns: Netns) -> None:
    netns.ip("link", "set", "lo", "up")
    anyone = netns.serve(ANY, 8080)
    local = netns.serve("127.0.0.1", 8081)
    everywhere6 = netns.serve("::", 8082)
    found = probe(netns, _LISTENERS)
    tcp = {(e["address"], e["port"]): e for e in found if e["protocol"] == "tcp"}
    assert set(tcp) == {(ANY, 8080), ("127.0.0.1", 8081), ("::", 8082)}
    for port, pid in ((8080, anyone), (8081, local), (8082, everywhere6)):
        (entry,) = [e for e in tcp.values() if e["port"] == port]
        assert entry["pid"] == pid
        assert str(entry["program"]).startswith("python")


def test_udp_bound_socket_is_a_listener_and_a_connected_one_is_not(netns: Netns) -> None:
    netns.ip("link", "set", "lo", "up")
    code = (
        "import socket, dataclasses, json; from agent.probes import listeners\n"
        "bound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); bound.bind(('0.0.0.0', 5353))\n"
        "peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); peer.bind(('127.0.0.1', 0))\n"
        "peer.connect(('127.0.0.1', 5353))\n"
        "print(json.dumps([dataclasses.asdict(e) for e in listeners()]))"
    )
    found = probe(netns, code)
    assert [(e["address"], e["port"], e["protocol"]) for e in found] == [(ANY, 5353, "udp")]
    assert found[0]["pid"] is not None


# -- this machine ----------------------------------------------------------------------------


def test_this_machine() -> None:
    found = network(os.environ)
    assert isinstance(found, Network)
    kinds = {i.name: i.kind for i in found.interfaces}
    assert kinds.get("lo") == "loopback"
    assert all(name in kinds for name in found.default_routes)
    for entry in listeners():
        assert entry.protocol in ("tcp", "udp") and 0 < entry.port < 65536


def test_this_machine_is_quick_without_network_manager() -> None:
    """No timing assertion (bench/ measures); this only shows no bus call waits for a timeout."""
    start = time.perf_counter()
    for _ in range(10):
        network(NO_BUS)
    assert time.perf_counter() - start < 5


def test_a_system_bus_without_network_manager(tmp_path: Path) -> None:
    daemon = require_tool("dbus-daemon")
    socket_path = tmp_path / "system_bus_socket"
    process = subprocess.Popen(
        [daemon, "--session", "--nofork", f"--address=unix:path={socket_path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        found = network({"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={socket_path}"})
        assert (found.ssid, found.vpn_connections) == (None, ())
    finally:
        process.kill()
        process.wait(timeout=15)


# -- a made-up /sys and /proc ----------------------------------------------------------------


def _device(root: Path, name: str, arptype: int, flags: int, **files: str) -> None:
    path = root / "sys" / "class" / "net" / name
    path.mkdir(parents=True)
    (path / "type").write_text(f"{arptype}\n")
    (path / "flags").write_text(f"{flags:#x}\n")
    (path / "operstate").write_text(files.pop("operstate", "up") + "\n")
    (path / "uevent").write_text(f"INTERFACE={name}\n" + files.pop("uevent", ""))
    for key, value in files.items():
        if value == "/":
            (path / key).mkdir()
        else:
            (path / key).write_text(value + "\n")


def _made_up(root: Path) -> None:
    _device(root, "lo", 772, 0x9, operstate="unknown", carrier="1")
    _device(root, "wlp2s0", 1, 0x1003, carrier="1", uevent="DEVTYPE=wlan\n", phy80211="/")
    _device(root, "wlan1", 1, 0x1002, operstate="dormant", wireless="/")
    _device(root, "enp0s31f6", 1, 0x1003, operstate="down", carrier="0")
    _device(root, "zt0", 1, 0x1003, carrier="1", tun_flags="0x1002")
    _device(root, "tailscale0", 65534, 0x1091, operstate="unknown", carrier="1", tun_flags="0x1001")
    _device(root, "ppp0", 512, 0x1091, operstate="unknown", carrier="1")
    _device(
        root, "wg0", 65534, 0x91, operstate="unknown", carrier="1", uevent="DEVTYPE=wireguard\n"
    )
    _device(root, "ipsec0", 65534, 0x1091, carrier="1", tun_flags="0x1001")
    _device(root, "gre0", 778, 0x80, operstate="unknown")
    proc = root / "proc" / "net"
    proc.mkdir(parents=True)
    header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    (proc / "route").write_text(
        header
        + "wlp2s0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
        + "ppp0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0\n"
        + "wlp2s0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n"
        + "wg0\t00000000\t00000000\t0201\t0\t0\t10\t00000000\t0\t0\t0\n"  # unreachable
    )
    zero = "0" * 32
    (proc / "ipv6_route").write_text(
        f"{zero} 00 {zero} 00 fe800000000000000000000000000001 00000258 00000001 00000000 "
        "00450003  wlp2s0\n"
        f"{zero} 00 {zero} 00 {zero} ffffffff 00000001 00000000 00200200       lo\n"
    )
    (proc / "arp").write_text(
        "IP address       HW type     Flags       HW address            Mask     Device\n"
        "192.168.1.1      0x1         0x2         AA:BB:CC:00:11:22     *        wlp2s0\n"
        "192.168.1.9      0x1         0x0         00:00:00:00:00:00     *        wlp2s0\n"
    )


def test_made_up_tree(tmp_path: Path) -> None:
    _made_up(tmp_path)
    from agent.probes._linux_net import network as linux_network

    found = linux_network(NO_BUS, root=tmp_path)
    assert found.interfaces == (
        Interface("enp0s31f6", "ethernet", False),
        Interface("gre0", "other", False),
        Interface("ipsec0", "ipsec", True),
        Interface("lo", "loopback", True),
        Interface("ppp0", "ppp", True),
        Interface("tailscale0", "tun", True),
        Interface("wg0", "wireguard", True),
        Interface("wlan1", "wifi", False),
        Interface("wlp2s0", "wifi", True),
        Interface("zt0", "tap", True),
    )
    # By metric, IPv4 before IPv6; the unreachable routes are not routes.
    assert found.default_routes == ("ppp0", "wlp2s0")
    # The lowest-metric route with a gateway; ppp0's has none.
    assert (found.gateway, found.gateway_mac) == ("192.168.1.1", "aa:bb:cc:00:11:22")
    assert (found.ssid, found.vpn_connections) == (None, ())


def test_made_up_tree_incomplete_neighbour_and_ipv6_only(tmp_path: Path) -> None:
    _made_up(tmp_path)
    from agent.probes._linux_net import network as linux_network

    route = tmp_path / "proc" / "net" / "route"
    route.write_text(route.read_text().splitlines()[0] + "\n")
    found = linux_network(NO_BUS, root=tmp_path)
    assert found.default_routes == ("wlp2s0",)
    assert found.gateway == "fe80::1"
    assert found.gateway_mac is None  # IPv6 neighbours come from the kernel, not from files

    arp = tmp_path / "proc" / "net" / "arp"
    arp.write_text(arp.read_text().replace("0x2 ", "0x0 "))
    route.write_text(
        route.read_text() + "wlp2s0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
    )
    found = linux_network(NO_BUS, root=tmp_path)
    assert (found.gateway, found.gateway_mac) == ("192.168.1.1", None)


def test_nothing_to_read(tmp_path: Path) -> None:
    from agent.probes._linux_net import network as linux_network

    assert linux_network(NO_BUS, root=tmp_path) == Network((), (), None, None, None, ())


# -- NetworkManager's answers ----------------------------------------------------------------
#
# No real NetworkManager can hold a Wi-Fi or VPN connection here: there is no Wi-Fi hardware,
# no WireGuard module and no VPN plugin, and NetworkManager 1.42 started in a namespace keeps
# every device unmanaged ("platform-init": it waits for udev). So these tests put a stand-in
# on a real private bus (dbus-daemon) that answers the properties the probe reads, with the
# types NetworkManager gives them, to check how the probe walks them.

_NM_PATH = "/org/freedesktop/NetworkManager"
Serve = Callable[[dict[str, Any]], dict[str, str]]
_ACTIVE = "org.freedesktop.NetworkManager.Connection.Active"


def _active(kind: str, name: str, devices: list[str], state: int = 2) -> dict[str, Any]:
    return {
        _ACTIVE: {
            "Type": ("s", kind),
            "Id": ("s", name),
            "Devices": ("ao", devices),
            "State": ("u", state),
            "Vpn": ("b", kind == "vpn"),
        }
    }


def _wifi_device(access_point: str) -> dict[str, Any]:
    return {
        "org.freedesktop.NetworkManager.Device.Wireless": {"ActiveAccessPoint": ("o", access_point)}
    }


def _access_point(ssid: bytes) -> dict[str, Any]:
    return {"org.freedesktop.NetworkManager.AccessPoint": {"Ssid": ("ay", ssid)}}


def _network_manager(primary: str, objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    actives = [path for path in objects if "/ActiveConnection/" in path]
    root = {
        "org.freedesktop.NetworkManager": {
            "PrimaryConnection": ("o", primary),
            "ActiveConnections": ("ao", actives),
        }
    }
    return {_NM_PATH: root, **objects}


def _serve_properties(address: str, objects: dict[str, Any], stop: threading.Event) -> None:
    with open_dbus_connection(bus=address) as connection:
        connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.NetworkManager"))
        while not stop.is_set():
            try:
                message = connection.receive(timeout=0.05)
            except TimeoutError:
                continue
            if message.header.message_type != MessageType.method_call:
                continue
            path = message.header.fields[HeaderFields.path]
            member = message.header.fields[HeaderFields.member]
            interfaces = objects.get(path, {})
            if member == "Get" and message.body[1] in interfaces.get(message.body[0], {}):
                value = interfaces[message.body[0]][message.body[1]]
                connection.send(new_method_return(message, "v", (value,)))
            elif member == "GetAll" and message.body[0] in interfaces:
                connection.send(new_method_return(message, "a{sv}", (interfaces[message.body[0]],)))
            else:
                error = "org.freedesktop.DBus.Error.UnknownObject"
                connection.send(new_error(message, error, "s", ("no such thing",)))


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[Serve]:
    """A private bus; yields a function that serves NetworkManager's objects on it."""
    daemon = require_tool("dbus-daemon")
    socket_path = tmp_path / "system_bus_socket"
    address = f"unix:path={socket_path}"
    bus = subprocess.Popen(
        [daemon, "--session", "--nofork", f"--address={address}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(objects: dict[str, Any]) -> dict[str, str]:
        deadline = time.monotonic() + 15
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        thread = threading.Thread(target=_serve_properties, args=(address, objects, stop))
        thread.start()
        threads.append(thread)
        while time.monotonic() < deadline:  # until the stand-in owns its name
            if _network_manager_owned(address):
                return {"DBUS_SYSTEM_BUS_ADDRESS": address}
            time.sleep(0.01)
        raise AssertionError("the stand-in NetworkManager did not start")

    try:
        yield start
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        bus.kill()
        bus.wait(timeout=15)


def _network_manager_owned(address: str) -> bool:
    with open_dbus_connection(bus=address) as connection:
        reply = connection.send_and_get_reply(
            message_bus.NameHasOwner("org.freedesktop.NetworkManager")
        )
        return bool(unwrap_msg(reply)[0])


_CONN = "/org/freedesktop/NetworkManager/ActiveConnection/"
_DEV = "/org/freedesktop/NetworkManager/Devices/"
_AP = "/org/freedesktop/NetworkManager/AccessPoint/"


def test_network_manager_wifi_and_vpns(stand_in: Serve) -> None:
    env = stand_in(
        _network_manager(
            _CONN + "3",
            {
                _CONN + "1": _active("802-11-wireless", "Home", [_DEV + "2"]),
                _CONN + "2": _active("vpn", "Office VPN", [_DEV + "2"]),
                _CONN + "3": _active("wireguard", "wg-home", [_DEV + "5"]),
                _CONN + "4": _active("vpn", "Still connecting", [_DEV + "2"], state=1),
                _DEV + "2": _wifi_device(_AP + "7"),
                _AP + "7": _access_point(b"Caf\xc3\xa9 \xff"),
            },
        )
    )
    found = network(env)
    # The primary connection is the WireGuard one: the Wi-Fi beneath it names the network.
    assert found.ssid == "Caf\u00e9 \\xff"
    assert found.vpn_connections == ("wg-home", "Office VPN")


def test_network_manager_wired_primary_has_no_ssid(stand_in: Serve) -> None:
    env = stand_in(
        _network_manager(
            _CONN + "1",
            {
                _CONN + "1": _active("802-3-ethernet", "Wired", [_DEV + "1"]),
                _CONN + "2": _active("802-11-wireless", "Home", [_DEV + "2"]),
                _DEV + "2": _wifi_device(_AP + "7"),
                _AP + "7": _access_point(b"Home"),
            },
        )
    )
    assert (network(env).ssid, network(env).vpn_connections) == (None, ())


def test_network_manager_wifi_primary(stand_in: Serve) -> None:
    env = stand_in(
        _network_manager(
            _CONN + "2",
            {
                _CONN + "2": _active("802-11-wireless", "Home", [_DEV + "2"]),
                _DEV + "2": _wifi_device(_AP + "7"),
                _AP + "7": _access_point(b"Home"),
            },
        )
    )
    assert network(env).ssid == "Home"


def test_network_manager_without_connections(stand_in: Serve) -> None:
    env = stand_in(_network_manager("/", {}))
    assert (network(env).ssid, network(env).vpn_connections) == (None, ())


def test_trusting_a_wi_fi_network_keeps_no_name(
    stand_in: Serve,
    machine: Machine,
    hygiene: Callable[..., Outcome],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ssid = "CanaryCafeNet-5f1e"
    env = stand_in(
        _network_manager(
            _CONN + "2",
            {
                _CONN + "2": _active("802-11-wireless", "Cafe", [_DEV + "2"]),
                _DEV + "2": _wifi_device(_AP + "7"),
                _AP + "7": _access_point(ssid.encode()),
            },
        )
    )
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if not network(env).default_routes:
        pytest.skip("this machine has no default route to be on a network with")
    machine.keep_only("vpn")
    outputs = [hygiene("network", "trust", "--label", "cafe").out]
    checked = hygiene("check", "--json", "--only", "vpn")
    outputs += [checked.out, checked.err, hygiene("network", "list", "--json").out]
    (result,) = json.loads(checked.out)["results"]
    assert result["status"] == "pass"  # trusted by its Wi-Fi name's fingerprint
    listed = json.loads(outputs[-1])
    assert listed[0]["label"] == "cafe" and "Wi-Fi" in listed[0]["kinds"]
    everything = "\n".join(outputs + kept_on_disk(machine.state))
    assert ssid not in everything and ssid.encode().hex() not in everything
