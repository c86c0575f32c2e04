"""The vpn and exposed_services checks and `hygiene network`, run inside a private network
namespace with real tun devices, a real gateway (a veth pair to a second namespace) and real
listening servers (tests/netns.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conftest import Machine
from tests.netns import Netns
from tests.test_privacy import kept_on_disk

HYGIENE = str(Path(sys.executable).with_name("hygiene"))


def hygiene_in(ns: Netns, machine: Machine, *argv: str) -> tuple[int, str, str]:
    done = ns.run(HYGIENE, *argv, env=machine.env())
    return done.returncode, done.stdout, done.stderr


def audit(ns: Netns, machine: Machine, check: str) -> dict[str, Any]:
    code, out, err = hygiene_in(ns, machine, "check", "--json", "--only", check)
    assert code in (0, 1), err
    (result,) = json.loads(out)["results"]
    assert result["status"] in ("pass", "fail"), result
    return dict(result)


def settings(machine: Machine, check: str, **values: object) -> None:
    machine.keep_only(check)
    (machine.user_policies / f"10-{check}.yaml").write_text(
        f"schema: 1\nchecks:\n  {check}: {json.dumps(values)}\n"
    )


def test_an_untrusted_network_without_vpn_then_trusted(netns: Netns, machine: Machine) -> None:
    mac = netns.gateway()
    machine.keep_only("vpn")
    result = audit(netns, machine, "vpn")
    (finding,) = result["findings"]
    assert finding["evidence"]["reason"] == "no VPN"
    assert finding["message"].startswith(
        "You are on a network you have not marked as trusted, and no VPN is carrying your "
        "traffic (it leaves through "
    )
    assert "hygiene network trust --label NAME" in finding["advice"]
    code, out, _ = hygiene_in(netns, machine, "network", "trust", "--label", "home")
    assert code == 0 and "as 'home'" in out
    trusted = audit(netns, machine, "vpn")
    assert trusted["status"] == "pass"
    # No VPN carries anything here, and the pass says why that is fine.
    assert trusted["title"] == "You are on a network you trust, where no VPN is asked for"
    code, out, _ = hygiene_in(netns, machine, "check", "--only", "vpn")
    assert "You are on a network you trust" in out and "A VPN carries" not in out
    code, out, _ = hygiene_in(netns, machine, "network", "list")
    assert out.startswith("home  [wired, since ") and out.rstrip().endswith("(you are on it)")
    kept = "\n".join(kept_on_disk(machine.state)).lower()
    assert "home" in kept  # the label is kept, the address is not
    for form in (mac, mac.replace(":", ""), mac.replace(":", "-")):
        assert form.lower() not in kept + out.lower()
    settings(machine, "vpn", require="always")
    always = audit(netns, machine, "vpn")
    assert always["status"] == "fail"
    # Trusting the network cannot help under `require: always`: not offered.
    (finding,) = always["findings"]
    assert finding["advice"] == "Connect your VPN now."
    assert "network trust" not in finding["message"] + finding["advice"]
    _, table, _ = hygiene_in(netns, machine, "check", "--only", "vpn")
    assert "vpn" in table and "network trust" not in table  # nor in "why vpn matters"
    settings(machine, "vpn")
    code, out, _ = hygiene_in(netns, machine, "network", "untrust", "--label", "home")
    assert code == 0 and out == "No longer trusting the networks labelled 'home'.\n"
    assert audit(netns, machine, "vpn")["status"] == "fail"
    # A label that names nothing is a usage error: one sentence on stderr, exit 2.
    code, out, err = hygiene_in(netns, machine, "network", "untrust", "--label", "home")
    assert (code, out) == (2, "")
    assert err == (
        "hygiene: no trusted network is labelled 'home'; `hygiene network list` shows the labels\n"
    )
    code, out, _ = hygiene_in(netns, machine, "network", "untrust")
    assert (code, out) == (0, "This network was not trusted; nothing changed.\n")


def test_an_admin_may_trust_a_gateway_by_its_address(netns: Netns, machine: Machine) -> None:
    mac = netns.gateway()
    settings(machine, "vpn", trusted_networks=[mac.upper()])
    result = audit(netns, machine, "vpn")
    assert result["status"] == "pass"


def test_a_vpn_carrying_the_default_route_passes(netns: Netns, machine: Machine) -> None:
    netns.gateway()
    netns.tun("wg9")
    netns.default_via("wg9")
    machine.keep_only("vpn")
    assert audit(netns, machine, "vpn")["status"] == "pass"


def test_a_vpn_that_does_not_carry_the_default_route_is_a_split_tunnel(
    netns: Netns, machine: Machine
) -> None:
    netns.gateway()
    netns.tun("tun9")
    machine.keep_only("vpn")
    (finding,) = audit(netns, machine, "vpn")["findings"]
    assert finding["evidence"]["reason"] == "split tunnel"
    assert "your VPN (tun9) is connected but does not carry your traffic" in finding["message"]


def test_a_vpn_interface_named_by_the_policy(netns: Netns, machine: Machine) -> None:
    # A VPN whose device looks like any other (a corporate client's virtual Ethernet).
    netns.gateway()
    netns.ip("link", "add", "corp0", "type", "veth", "peer", "name", "corp1")
    for device in ("corp0", "corp1"):
        netns.ip("link", "set", device, "up")
    netns.default_via("corp0")
    settings(machine, "vpn", require="always")
    assert audit(netns, machine, "vpn")["status"] == "fail"
    settings(machine, "vpn", require="always", vpn_interfaces=["corp*"])
    assert audit(netns, machine, "vpn")["status"] == "pass"


def test_a_server_on_every_address_is_exposed_and_one_on_localhost_is_not(
    netns: Netns, machine: Machine
) -> None:
    netns.gateway()
    netns.serve("0.0.0.0", 8000)
    netns.serve("127.0.0.1", 8001)
    machine.keep_only("exposed_services")
    (finding,) = audit(netns, machine, "exposed_services")["findings"]
    assert finding["evidence"]["port"] == 8000
    assert finding["message"].endswith(
        "answers anyone on the network on port 8000/tcp (it listens on every address of this "
        "computer)."
    )
    assert finding["evidence"]["program"].startswith("python")
    settings(machine, "exposed_services", allow=[8000])
    assert audit(netns, machine, "exposed_services")["findings"] == []
