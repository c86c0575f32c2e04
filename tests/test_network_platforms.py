"""The network this Mac or Windows computer is on, read from what their tools print.

Neither system exists here, so the commands are replaced by a recorder that answers with
their recorded outputs (tests/data/network/, README there says where each format comes from
and that none was captured by us), and psutil's view of Windows' interfaces and sockets by
the values it would return. What is asserted is what the vpn and exposed_services checks
are given: interfaces, which of them carry the traffic, the router and its hardware address,
the Wi-Fi name, the connected VPNs, and who listens where.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest

from agent.errors import ProbeUnavailable
from agent.probes import Interface, Listener, Network, _macos_net, _windows_net
from agent.probes._windows_net import Nic, Socket
from tests.recorded import Answer, Recorder
from tests.recorded import recorded as recorded_in

DATA = Path(__file__).parent / "data" / "network"


def recorded(name: str) -> bytes:
    return recorded_in(DATA, name)


def ok(name: str) -> Answer:
    return (0, recorded(name), b"")


def failed(stderr: str = "", code: int = 1) -> Answer:
    return (code, b"", (DATA / stderr).read_bytes() if stderr else b"")


def timeout(argv: Sequence[str]) -> subprocess.TimeoutExpired:
    return subprocess.TimeoutExpired(list(argv), 2)


def up_vpns(net: Network) -> list[str]:
    """What the vpn check counts as a VPN that is up (its kinds; its names only by kind here)."""
    return [
        i.name for i in net.interfaces if i.up and i.kind in ("tun", "wireguard", "ppp", "ipsec")
    ]


# macOS ---------------------------------------------------------------------------------------

NOT_IN_TABLE = failed("macos-route-get-not-in-table.stderr")

SYSTEM_UTUNS = tuple(Interface(f"utun{n}", "tun", False) for n in range(4))
AWDL = (Interface("awdl0", "ethernet", True), Interface("llw0", "ethernet", False))
HEAD = (
    Interface("lo0", "loopback", True),
    Interface("gif0", "other", False),
    Interface("stf0", "other", False),
)


def test_wireguard_on_wifi_carries_the_traffic_and_the_router_is_the_wifi_one() -> None:
    run = Recorder(
        {
            _macos_net.HARDWARE_PORTS: ok("macos-networksetup-listallhardwareports.txt"),
            _macos_net.IFCONFIG: ok("macos-ifconfig-wireguard.txt"),
            _macos_net.ROUTES: ok("macos-netstat-rn-wireguard.txt"),
            _macos_net.ROUTE_V4: ok("macos-route-get-utun.txt"),
            _macos_net.ROUTE_V6: NOT_IN_TABLE,
            _macos_net.wifi_summary("en0"): ok("macos-ipconfig-getsummary-associated.txt"),
            _macos_net.VPN_SERVICES: ok("macos-scutil-nc-list-wireguard.txt"),
        }
    )
    net = _macos_net.read_network(run)
    assert net.interfaces == (
        *HEAD,
        Interface("anpi0", "ethernet", False),
        Interface("en3", "ethernet", False),
        Interface("en1", "ethernet", False),
        Interface("bridge0", "ethernet", False),
        Interface("ap1", "ethernet", False),
        Interface("en0", "wifi", True),
        *AWDL,
        *SYSTEM_UTUNS,  # up for iCloud and Continuity, link-local only: they carry nothing
        Interface("utun4", "tun", True),
    )
    # The Network Extension took the unscoped default; en0's and the utuns' are scoped.
    assert net.default_routes == ("utun4",)
    assert up_vpns(net) == ["utun4"]
    assert net.gateway == "192.168.1.1"
    assert net.gateway_mac == "a4:2b:b0:12:34:05"  # netstat printed a4:2b:b0:12:34:5
    assert net.ssid == "Café Lumière"
    assert net.vpn_connections == ("Home tunnel",)
    assert _macos_net.arp("192.168.1.1") not in run.calls  # the routing table had it


def test_tailscale_without_an_exit_node_is_a_split_tunnel() -> None:
    run = Recorder(
        {
            _macos_net.HARDWARE_PORTS: ok("macos-networksetup-listallhardwareports.txt"),
            _macos_net.IFCONFIG: ok("macos-ifconfig-tailscale.txt"),
            _macos_net.ROUTES: ok("macos-netstat-rn-tailscale.txt"),
            _macos_net.ROUTE_V4: ok("macos-route-get-en0.txt"),
            _macos_net.ROUTE_V6: NOT_IN_TABLE,
            _macos_net.wifi_summary("en0"): failed(),
            _macos_net.wifi_network("en0"): ok(
                "macos-networksetup-getairportnetwork-associated.txt"
            ),
            _macos_net.VPN_SERVICES: ok("macos-scutil-nc-list-tailscale.txt"),
        }
    )
    net = _macos_net.read_network(run)
    assert net.interfaces == (
        *HEAD,
        Interface("en0", "wifi", True),
        *AWDL,
        *SYSTEM_UTUNS,
        Interface("utun4", "tun", True),
    )
    # Tailscale's default through utun4 is scoped (flag I): it serves only its own sockets.
    assert net.default_routes == ("en0",)
    assert up_vpns(net) == ["utun4"] and "utun4" not in net.default_routes
    assert net.gateway == "10.20.30.1"  # not Tailscale's 100.100.100.100: that is a tunnel
    assert net.gateway_mac == "00:1b:63:0a:0b:0c"
    assert net.ssid == "Office Guest"  # ipconfig failed; networksetup named it
    assert net.vpn_connections == ("Tailscale",)


def test_no_vpn_on_wifi_where_macos_withholds_the_name() -> None:
    run = Recorder(
        {
            _macos_net.HARDWARE_PORTS: ok("macos-networksetup-listallhardwareports.txt"),
            _macos_net.IFCONFIG: ok("macos-ifconfig-wifi.txt"),
            _macos_net.ROUTES: ok("macos-netstat-rn-wifi.txt"),
            _macos_net.ROUTE_V4: ok("macos-route-get-en0-wifi.txt"),
            _macos_net.ROUTE_V6: ok("macos-route-get-inet6-en0.txt"),
            _macos_net.arp("192.168.178.1"): ok("macos-arp-gateway.txt"),
            _macos_net.wifi_summary("en0"): ok("macos-ipconfig-getsummary-redacted.txt"),
            _macos_net.wifi_network("en0"): ok(
                "macos-networksetup-getairportnetwork-not-associated.txt"
            ),
            _macos_net.VPN_SERVICES: ok("macos-scutil-nc-list-disconnected.txt"),
        }
    )
    net = _macos_net.read_network(run)
    assert net == Network(
        interfaces=(*HEAD, Interface("en0", "wifi", True), *AWDL, *SYSTEM_UTUNS),
        default_routes=("en0",),
        gateway="192.168.178.1",
        gateway_mac="2c:91:ab:05:06:07",  # from arp: netstat had no entry for it
        ssid=None,  # "<redacted>", then "You are not associated" while it is
        vpn_connections=(),
    )
    assert up_vpns(net) == []


def test_wifi_on_but_associated_with_nothing_gives_no_route_and_no_network() -> None:
    run = Recorder(
        {
            _macos_net.HARDWARE_PORTS: ok("macos-networksetup-listallhardwareports.txt"),
            _macos_net.IFCONFIG: ok("macos-ifconfig-offline.txt"),
            _macos_net.ROUTES: ok("macos-netstat-rn-offline.txt"),
            _macos_net.ROUTE_V4: NOT_IN_TABLE,
            _macos_net.ROUTE_V6: NOT_IN_TABLE,
            _macos_net.VPN_SERVICES: ok("macos-scutil-nc-list-disconnected.txt"),
        }
    )
    net = _macos_net.read_network(run)
    assert net == Network(
        interfaces=(*HEAD, Interface("en0", "wifi", False), *AWDL, *SYSTEM_UTUNS),
        default_routes=(),
        gateway=None,
        gateway_mac=None,
        ssid=None,
        vpn_connections=(),
    )


def test_tools_missing_slow_or_refused_leave_the_rest_standing() -> None:
    """Catalina with Tunnelblick (OpenVPN, redirect-gateway def1); route and ipconfig are
    missing, networksetup hangs, scutil is refused: the routing table still tells."""
    run = Recorder(
        {
            _macos_net.HARDWARE_PORTS: timeout(_macos_net.HARDWARE_PORTS),
            _macos_net.IFCONFIG: ok("macos-ifconfig-openvpn.txt"),
            _macos_net.ROUTES: ok("macos-netstat-rn-openvpn-def1.txt"),
            _macos_net.ROUTE_V4: FileNotFoundError(2, "No such file or directory"),
            _macos_net.ROUTE_V6: FileNotFoundError(2, "No such file or directory"),
            _macos_net.wifi_summary("en0"): FileNotFoundError(2, "No such file or directory"),
            _macos_net.wifi_network("en0"): timeout(_macos_net.wifi_network("en0")),
            _macos_net.VPN_SERVICES: PermissionError(13, "Operation not permitted"),
        }
    )
    net = _macos_net.read_network(run)
    assert net == Network(
        interfaces=(
            *HEAD,
            Interface("en0", "ethernet", True),  # which port is Wi-Fi is not known
            Interface("utun0", "tun", False),
            Interface("utun1", "tun", False),
            Interface("utun2", "tun", True),
        ),
        default_routes=("utun2", "en0"),  # 0/1 and 128.0/1 win over the default
        gateway="192.168.0.1",
        gateway_mac="c8:3a:35:09:01:ff",
        ssid=None,
        vpn_connections=(),
    )


def test_every_macos_command_is_absent() -> None:
    def missing(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        raise FileNotFoundError(2, "No such file or directory", argv[0])

    assert _macos_net.read_network(missing) == Network((), (), None, None, None, ())
    with pytest.raises(ProbeUnavailable, match="Neither netstat nor lsof"):
        _macos_net.read_listeners(missing)


def test_a_line_of_the_dhcp_packet_in_the_summary_is_not_the_wifi_name() -> None:
    text = recorded("macos-ipconfig-getsummary-associated.txt").decode()
    text = text.replace("  SSID : Café Lumière\n", "").replace(
        "htype = 1\n", "htype = 1\nSSID : decoy\n  SSID : decoy too\n"
    )
    assert _macos_net.parse_wifi_summary(text) == _macos_net.WifiSummary(True, True, None)
    summary = recorded("macos-ipconfig-getsummary-not-associated.txt").decode()
    assert _macos_net.parse_wifi_summary(summary) == _macos_net.WifiSummary(True, False, None)


def test_wifi_names_networksetup_gives_and_does_not_give() -> None:
    parse = _macos_net.parse_airport_network
    assert parse("Current Wi-Fi Network: Office Guest\n") == "Office Guest"
    assert parse("Current AirPort Network: Home\n") == "Home"  # Mac OS X 10.6
    assert (
        parse(recorded("macos-networksetup-getairportnetwork-not-associated.txt").decode()) is None
    )
    assert (
        parse("en5 is not a Wi-Fi interface.\n** Error: Error obtaining wireless information.\n")
        is None
    )


def test_arp_answers() -> None:
    assert _macos_net.parse_arp(recorded("macos-arp-gateway.txt").decode(), "192.168.178.1") == (
        "2c:91:ab:05:06:07"
    )
    assert (
        _macos_net.parse_arp(recorded("macos-arp-incomplete.txt").decode(), "192.168.178.1") is None
    )
    assert (
        _macos_net.parse_arp(recorded("macos-arp-no-entry.txt").decode(), "192.168.178.1") is None
    )


def test_scutil_lists_only_connected_services_and_long_names_lose_their_quote() -> None:
    text = recorded("macos-scutil-nc-list-disconnected.txt").decode()
    assert _macos_net.parse_vpn_services(text) == ()
    connected = text.replace("(Disconnected)", "(Connected)   ")
    assert _macos_net.parse_vpn_services(connected) == ("Corporate VPN (Frankfurt data centre",)
    both = recorded("macos-scutil-nc-list-wireguard.txt").decode()
    assert _macos_net.parse_vpn_services(both) == ("Home tunnel",)


def test_hardware_ports_and_mac_addresses() -> None:
    ports = recorded("macos-networksetup-listallhardwareports.txt").decode()
    assert _macos_net.parse_hardware_ports(ports) == {"en0"}
    assert _macos_net.parse_hardware_ports("Hardware Port: WLAN\nDevice: en1\n") == {"en1"}
    assert _macos_net.normal_mac("0:1b:63:a:b:c") == "00:1b:63:0a:0b:0c"
    assert _macos_net.normal_mac("A4-2B-B0-12-34-56") == "a4:2b:b0:12:34:56"
    assert _macos_net.normal_mac("ff:ff:ff:ff:ff:ff") is None
    assert _macos_net.normal_mac("link#11") is None


MAC_SOCKETS = {
    _macos_net.SOCKETS_TCP: ok("macos-netstat-an-tcp.txt"),
    _macos_net.SOCKETS_UDP: ok("macos-netstat-an-udp.txt"),
    _macos_net.LSOF: ok("macos-lsof-listen.txt"),
}


def test_macos_listeners_every_user_from_netstat_named_by_lsof_where_it_may() -> None:
    found = _macos_net.read_listeners(Recorder(dict(MAC_SOCKETS)))
    assert found == [
        Listener("0.0.0.0", 22, "tcp", None, None),  # launchd's sshd: root's, not ours to see
        Listener("::", 22, "tcp", None, None),
        Listener("127.0.0.1", 631, "tcp", None, None),
        Listener("::1", 631, "tcp", None, None),
        Listener("::", 3000, "tcp", 4102, "node"),
        Listener("0.0.0.0", 5000, "tcp", 612, "ControlCenter"),
        Listener("::", 5000, "tcp", 612, "ControlCenter"),
        Listener("127.0.0.1", 5432, "tcp", 1874, "postgres"),
        Listener("::1", 5432, "tcp", 1874, "postgres"),
        Listener("0.0.0.0", 7000, "tcp", 612, "ControlCenter"),
        Listener("::", 7000, "tcp", 612, "ControlCenter"),
        Listener("0.0.0.0", 49152, "tcp", 645, "rapportd"),
        Listener("::", 49152, "tcp", 645, "rapportd"),
        Listener("0.0.0.0", 137, "udp", None, None),
        Listener("0.0.0.0", 138, "udp", None, None),
        Listener("0.0.0.0", 5353, "udp", None, None),
        Listener("::", 5353, "udp", None, None),
        Listener("fe80::1%lo0", 5353, "udp", None, None),
        Listener("0.0.0.0", 57621, "udp", 2210, "Spotify"),
    ]


def test_macos_listeners_without_lsof_or_without_netstat() -> None:
    without_lsof = _macos_net.read_listeners(
        Recorder({**MAC_SOCKETS, _macos_net.LSOF: FileNotFoundError(2, "lsof")})
    )
    assert len(without_lsof) == 19 and all(e.program is None for e in without_lsof)
    nothing_of_ours = _macos_net.read_listeners(
        Recorder({**MAC_SOCKETS, _macos_net.LSOF: failed()})
    )
    assert nothing_of_ours == without_lsof
    only_lsof = _macos_net.read_listeners(
        Recorder(
            {
                _macos_net.SOCKETS_TCP: timeout(_macos_net.SOCKETS_TCP),
                _macos_net.SOCKETS_UDP: FileNotFoundError(2, "netstat"),
                _macos_net.LSOF: ok("macos-lsof-listen.txt"),
            }
        )
    )
    assert [(e.port, e.protocol, e.program) for e in only_lsof] == [
        (3000, "tcp", "node"),
        (5000, "tcp", "ControlCenter"),
        (5000, "tcp", "ControlCenter"),
        (5432, "tcp", "postgres"),
        (5432, "tcp", "postgres"),
        (7000, "tcp", "ControlCenter"),
        (7000, "tcp", "ControlCenter"),
        (49152, "tcp", "rapportd"),
        (49152, "tcp", "rapportd"),
        (57621, "udp", "Spotify"),
    ]


# Windows -------------------------------------------------------------------------------------

LOOPBACK = Nic("Loopback Pseudo-Interface 1", True, ("127.0.0.1", "::1"))


def test_wireguard_for_windows_carries_the_traffic_on_wifi() -> None:
    run = Recorder(
        {
            _windows_net.GET_NETADAPTER: ok("windows-get-netadapter-wireguard.json"),
            _windows_net.ROUTE_PRINT: ok("windows-route-print-wireguard.txt"),
            _windows_net.RASDIAL: ok("windows-rasdial-no-connections.txt"),
            _windows_net.arp("192.168.1.1"): ok("windows-arp-a-gateway.txt"),
            _windows_net.WLAN_INTERFACES: ok("windows-netsh-wlan-show-interfaces-connected.txt"),
        }
    )
    nics = [
        Nic("Wi-Fi", True, ("192.168.1.23", "fe80::8f2c:1a44:1c0e:4a1b"), "a4:83:e7:12:34:56"),
        Nic("home", True, ("10.66.66.2", "fd42:42:42::2")),
        Nic("Bluetooth Network Connection", False, (), "a4:83:e7:12:34:5a"),
        Nic("Local Area Connection* 1", False, (), "a4:83:e7:12:34:57"),
        Nic("Local Area Connection* 2", False, (), "a6:83:e7:12:34:56"),
        LOOPBACK,
    ]
    net = _windows_net.read_network(run, nics, "cp437")
    assert net == Network(
        interfaces=(
            Interface("Wi-Fi", "wifi", True),
            Interface("home", "wireguard", True),
            Interface("Bluetooth Network Connection", "ethernet", False),
            # Hidden from Get-NetAdapter; route print's list names them by hardware address.
            Interface("Local Area Connection* 1", "wifi", False),
            Interface("Local Area Connection* 2", "wifi", False),
            Interface("Loopback Pseudo-Interface 1", "loopback", True),
        ),
        default_routes=("home", "Wi-Fi"),  # metric 5 before 35; IPv6 only through home
        gateway="192.168.1.1",
        gateway_mac="a4:2b:b0:12:34:56",
        ssid="CoffeeShop Guest",
        vpn_connections=(),
    )


def test_openvpn_def1_on_ethernet_when_powershell_is_too_slow_and_rasdial_missing() -> None:
    run = Recorder(
        {
            _windows_net.GET_NETADAPTER: timeout(_windows_net.GET_NETADAPTER),
            _windows_net.ROUTE_PRINT: ok("windows-route-print-openvpn-def1.txt"),
            _windows_net.RASDIAL: FileNotFoundError(2, "The system cannot find the file"),
            _windows_net.arp("192.168.0.1"): ok("windows-arp-a-gateway-openvpn.txt"),
        }
    )
    nics = [
        Nic("Ethernet", True, ("192.168.0.42", "fe80::3a5c:9d2e:1b4f:6a70"), "54:e1:ad:9d:8a:71"),
        Nic("Ethernet 2", True, ("10.8.0.6", "fe80::c4d5:1a2b:3c4d:5e6f"), "00:ff:5c:2e:91:07"),
        LOOPBACK,
    ]
    net = _windows_net.read_network(run, nics, "cp437")
    assert net == Network(
        interfaces=(
            Interface("Ethernet", "ethernet", True),
            # "TAP-Windows Adapter V9", found by its hardware address in route print's list
            Interface("Ethernet 2", "tun", True),
            Interface("Loopback Pseudo-Interface 1", "loopback", True),
        ),
        default_routes=("Ethernet 2", "Ethernet"),  # both halves win over the default
        gateway="192.168.0.1",
        gateway_mac="c8:3a:35:09:01:ff",
        ssid=None,  # wired: netsh is not asked
        vpn_connections=(),
    )
    assert _windows_net.WLAN_INTERFACES not in run.calls


def test_a_builtin_vpn_as_split_tunnel_on_wifi_with_location_services_off() -> None:
    run = Recorder(
        {
            _windows_net.GET_NETADAPTER: ok("windows-get-netadapter-single.json"),
            _windows_net.ROUTE_PRINT: ok("windows-route-print-ikev2-split.txt"),
            _windows_net.RASDIAL: ok("windows-rasdial-connected.txt"),
            _windows_net.arp("192.168.178.1"): ok("windows-arp-a-gateway-ikev2.txt"),
            _windows_net.WLAN_INTERFACES: (
                1,
                recorded("windows-netsh-wlan-location-denied.txt"),
                b"",
            ),
        }
    )
    nics = [
        Nic(
            "Wi-Fi",
            True,
            (
                "192.168.178.23",
                "2001:db8:7f3a:0:8d2e:51f0:3a7b:c912",
                "fe80::61b2:9d4e:a3c0:11f7",
            ),
            "f8:34:41:b3:db:de",
        ),
        Nic("Work VPN", True, ("10.10.10.5",)),
        LOOPBACK,
    ]
    net = _windows_net.read_network(run, nics, "cp437")
    assert net == Network(
        interfaces=(
            Interface("Wi-Fi", "wifi", True),
            Interface("Work VPN", "ppp", True),  # not an adapter: rasdial says it is dialled
            Interface("Loopback Pseudo-Interface 1", "loopback", True),
        ),
        default_routes=("Wi-Fi",),  # the VPN carries 10.10.0.0/16 only
        gateway="192.168.178.1",
        gateway_mac="2c:91:ab:05:06:07",
        ssid=None,  # "Network shell commands need location permission..."
        vpn_connections=("Work VPN",),
    )
    assert up_vpns(net) == ["Work VPN"]


def test_no_vpn_on_wifi_in_german_read_from_code_page_850() -> None:
    answers: dict[tuple[str, ...], Answer] = {
        _windows_net.GET_NETADAPTER: ok("windows-get-netadapter-german.json"),
        _windows_net.ROUTE_PRINT: ok("windows-route-print-wifi-german.txt"),
        _windows_net.RASDIAL: ok("windows-rasdial-german.txt"),
        _windows_net.arp("192.168.2.1"): ok("windows-arp-a-german.txt"),
        _windows_net.WLAN_INTERFACES: ok("windows-netsh-wlan-show-interfaces-german.txt"),
    }
    nics = [
        Nic("WLAN", True, ("192.168.2.57", "fe80::d1c2:4b3a:98e7:6f50"), "3c:58:c2:11:22:33"),
        Nic("Ethernet", False, (), "3c:58:c2:11:22:34"),
        LOOPBACK,
    ]
    expected = Network(
        interfaces=(
            Interface("WLAN", "wifi", True),
            Interface("Ethernet", "ethernet", False),
            Interface("Loopback Pseudo-Interface 1", "loopback", True),
        ),
        default_routes=("WLAN",),
        gateway="192.168.2.1",
        gateway_mac="e0:28:6d:4f:1a:2b",
        ssid="Büro-Gäste",
        vpn_connections=(),
    )
    assert _windows_net.read_network(Recorder(dict(answers)), nics, "cp850") == expected
    # "oem" exists only on Windows; elsewhere the bytes are read as code page 437.
    assert _windows_net.read_network(Recorder(dict(answers)), nics, "oem") == expected
    # A wrong code page mangles the name but breaks nothing.
    wrong = _windows_net.read_network(Recorder(dict(answers)), nics, "cp1252")
    assert wrong.ssid is not None and wrong.ssid != "Büro-Gäste"
    assert wrong.gateway_mac == expected.gateway_mac


def test_every_windows_command_is_absent() -> None:
    def missing(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        raise FileNotFoundError(2, "The system cannot find the file specified", argv[0])

    net = _windows_net.read_network(missing, [LOOPBACK], "cp437")
    assert net == Network(
        (Interface("Loopback Pseudo-Interface 1", "loopback", True),), (), None, None, None, ()
    )


def test_route_print_rows_by_their_shape() -> None:
    table = _windows_net.parse_route_print(
        recorded("windows-route-print-openvpn-def1.txt").decode("cp437")
    )
    defaults = [r for r in table.v4 if r.destination == "0.0.0.0"]
    assert [(r.mask, r.gateway, r.interface, r.metric) for r in defaults] == [
        ("0.0.0.0", "192.168.0.1", "192.168.0.42", 25),
        ("128.0.0.0", "10.8.0.5", "10.8.0.6", 281),
    ]  # the persistent "0.0.0.0 0.0.0.0 192.168.0.1 Default" is not an active route
    wrapped = [r for r in table.v6 if r.destination == "fe80::c4d5:1a2b:3c4d:5e6f/128"]
    assert wrapped == [_windows_net.V6Route(14, 281, "fe80::c4d5:1a2b:3c4d:5e6f/128", None)]
    assert table.interfaces[0] == _windows_net.ListedInterface(
        14, "00:ff:5c:2e:91:07", "TAP-Windows Adapter V9"
    )
    german = _windows_net.parse_route_print(
        recorded("windows-route-print-wifi-german.txt").decode("cp850")
    )
    assert german.v4[0] == _windows_net.V4Route(
        "0.0.0.0", "0.0.0.0", "192.168.2.1", "192.168.2.57", 45
    )
    assert german.v4[1].gateway is None  # "Auf Verbindung"
    isatap = _windows_net.parse_route_print(
        " 11...00 00 00 00 00 00 00 e0 Microsoft ISATAP Adapter\n"
    )
    assert isatap.interfaces == (
        _windows_net.ListedInterface(11, None, "Microsoft ISATAP Adapter"),
    )
    ipv6 = _windows_net.parse_route_print(
        recorded("windows-route-print-ikev2-split.txt").decode("cp437")
    )
    assert ipv6.v6[0] == _windows_net.V6Route(18, 296, "::/0", "fe80::5a2b:3c4d:5e6f:7081")


@pytest.mark.parametrize(
    ("name", "description", "media", "has_mac", "kind"),
    [
        ("home", "WireGuard Tunnel", "Unspecified", False, "wireguard"),
        ("NordLynx", "NordLynx Tunnel", "", False, "wireguard"),
        ("Tailscale", "Tailscale Tunnel", "", False, "tun"),
        ("OpenVPN Wintun", "Wintun Userspace Tunnel", "", False, "tun"),
        ("OpenVPN Data Channel Offload", "OpenVPN Data Channel Offload", "", False, "tun"),
        ("Ethernet 3", "TAP-NordVPN Windows Adapter V9", "802.3", True, "tun"),
        (
            "Ethernet 4",
            "Cisco AnyConnect Secure Mobility Client Virtual Miniport Adapter for Windows x64",
            "802.3",
            True,
            "tun",
        ),
        ("Ethernet 5", "PANGP Virtual Ethernet Adapter Secure", "802.3", True, "tun"),
        ("ZeroTier One [8056c2e21c000001]", "ZeroTier Virtual Port", "802.3", True, "tap"),
        (
            "Teredo Tunneling Pseudo-Interface",
            "Teredo Tunneling Pseudo-Interface",
            "",
            True,
            "other",
        ),
        ("Wi-Fi", "Realtek RTL8822CE 802.11ac PCIe Adapter", "Native 802.11", True, "wifi"),
        ("WLAN", "Killer(R) Wi-Fi 6E AX1675i 160MHz Wireless Network Adapter", "", True, "wifi"),
        ("Ethernet", "Realtek PCIe GbE Family Controller", "802.3", True, "ethernet"),
        ("vEthernet (WSL)", "Hyper-V Virtual Ethernet Adapter", "", True, "ethernet"),
        ("Loopback Pseudo-Interface 1", "", "", False, "loopback"),
        ("Some tunnel", "", "", False, "other"),
    ],
)
def test_what_an_adapter_is(
    name: str, description: str, media: str, has_mac: bool, kind: str
) -> None:
    assert _windows_net.kind_of(name, description, media, has_mac) == kind


def test_netsh_rasdial_arp_and_adapters_parsers() -> None:
    wlan = _windows_net.parse_wlan_interfaces
    connected = recorded("windows-netsh-wlan-show-interfaces-connected.txt").decode("cp437")
    assert wlan(connected, "Wi-Fi") == "CoffeeShop Guest"  # not the BSSID, not the profile
    assert wlan(connected, "Wi-Fi 2") == "CoffeeShop Guest"  # the only one associated
    disconnected = recorded("windows-netsh-wlan-show-interfaces-disconnected.txt").decode("cp437")
    assert wlan(disconnected, "Wi-Fi") is None
    for refusal in ("windows-netsh-wlan-location-denied.txt", "windows-netsh-wlan-no-service.txt"):
        assert wlan(recorded(refusal).decode("cp437"), "Wi-Fi") is None

    assert _windows_net.parse_rasdial(recorded("windows-rasdial-connected.txt").decode()) == (
        "Work VPN",
    )
    assert _windows_net.parse_rasdial(recorded("windows-rasdial-german.txt").decode("cp850")) == ()
    assert _windows_net.parse_rasdial(
        "Connected to\r\nWork VPN\r\nHome L2TP\r\nCommand completed successfully.\r\n"
    ) == ("Work VPN", "Home L2TP")

    no_entry = recorded("windows-arp-a-no-entry.txt").decode("cp437")
    assert _windows_net.parse_arp(no_entry, "192.168.1.1") is None

    assert _windows_net.parse_adapters("") == []
    assert _windows_net.parse_adapters("Get-NetAdapter : Access denied") == []
    (single,) = _windows_net.parse_adapters(
        recorded("windows-get-netadapter-single.json").decode("cp437")
    )
    assert single == _windows_net.Adapter(
        "Wi-Fi", "Intel(R) Wi-Fi 6E AX211 160MHz", 18, "Up", "f8:34:41:b3:db:de", "Native 802.11"
    )


PROGRAMS = {
    4: "System",
    1044: "svchost.exe",
    1276: "svchost.exe",
    2944: "svchost.exe",
    3640: "svchost.exe",
    5120: "postgres.exe",
    9876: "chrome.exe",
}
WINDOWS_LISTENERS = [
    Listener("0.0.0.0", 135, "tcp", 1044, "svchost.exe"),
    Listener("::", 135, "tcp", 1044, "svchost.exe"),
    Listener("192.168.1.23", 139, "tcp", 4, "System"),
    Listener("0.0.0.0", 445, "tcp", 4, "System"),
    Listener("::", 445, "tcp", 4, "System"),
    Listener("0.0.0.0", 3389, "tcp", 1276, "svchost.exe"),
    Listener("127.0.0.1", 5432, "tcp", 5120, "postgres.exe"),
    Listener("::1", 5432, "tcp", 5120, "postgres.exe"),
    Listener("192.168.1.23", 137, "udp", 4, "System"),
    Listener("fe80::8f2c:1a44:1c0e:4a1b%12", 1900, "udp", 3640, "svchost.exe"),
    Listener("0.0.0.0", 5353, "udp", 2944, "svchost.exe"),
    Listener("::", 5353, "udp", 2944, "svchost.exe"),
    Listener("0.0.0.0", 5355, "udp", 2944, "svchost.exe"),
]


def test_windows_listeners_from_psutil() -> None:
    sockets = [
        Socket("tcp", "0.0.0.0", 445, 4, True),
        Socket("tcp", "0.0.0.0", 445, 4, True),
        Socket("tcp", "0.0.0.0", 8080, 7310, True),  # a user's server, then its worker
        Socket("tcp", "0.0.0.0", 8080, 7302, True),
        Socket("tcp", "192.168.1.23", 51544, 9876, False),
        Socket("udp", "0.0.0.0", 5353, 2944, True),
        Socket("udp", "192.168.1.23", 62401, 9876, False),
    ]
    names = {**PROGRAMS, 7302: "node.exe", 7310: "node.exe"}

    def fail(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        raise AssertionError("netstat is not needed when psutil answers")

    assert _windows_net.listeners(fail, lambda: sockets, names.get) == [
        Listener("0.0.0.0", 445, "tcp", 4, "System"),
        Listener("0.0.0.0", 8080, "tcp", 7302, "node.exe"),
        Listener("0.0.0.0", 5353, "udp", 2944, "svchost.exe"),
    ]


@pytest.mark.parametrize(
    ("recording", "encoding"),
    [("windows-netstat-ano.txt", "cp437"), ("windows-netstat-ano-german.txt", "cp850")],
)
def test_windows_listeners_from_netstat_when_psutil_fails(recording: str, encoding: str) -> None:
    def refused() -> list[Socket]:
        raise psutil.AccessDenied()

    run = Recorder({_windows_net.NETSTAT: ok(recording)})
    found = _windows_net.listeners(run, refused, PROGRAMS.get, encoding)
    assert found == WINDOWS_LISTENERS


def test_windows_listeners_when_nothing_answers() -> None:
    def refused() -> list[Socket]:
        raise psutil.AccessDenied()

    run = Recorder({_windows_net.NETSTAT: FileNotFoundError(2, "netstat")})
    with pytest.raises(ProbeUnavailable, match="Neither psutil nor netstat"):
        _windows_net.listeners(run, refused, PROGRAMS.get)
