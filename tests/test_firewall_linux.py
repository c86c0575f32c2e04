"""The firewall check on Linux against real firewalls.

- The kernel's rules: a real nftables ruleset loaded with `nft -f` inside a network namespace
  of the test's own (tests/netns.py), the probe run inside it as root (who may read it).
- firewalld: the real daemon (Debian's firewalld) in a network namespace, on a private
  dbus-daemon with a system bus's configuration (firewalld's own bus policy included), asked
  by root and by nobody. No polkit runs there, so firewalld answers root alone: nobody is the
  server whose policy refuses.
- ufw: the real package's shipped files, copied into a made-up /etc, then changed by ufw's
  own code (its backend with --rootdir/--datadir, as its test suite runs it).
- Bad input: a huge or binary ufw.conf, a FIFO, a bus that never answers, nft missing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.checks.base import CheckContext
from agent.checks.firewall import FirewallCheck, FirewallParams
from agent.errors import CheckSkipped
from agent.fingerprint import Fingerprinter
from agent.models import Finding
from agent.paths import Paths
from agent.probes import Firewall, Firewalls, _firewalld
from agent.probes import _linux_firewall as linux
from agent.probes._firewalld import ask_firewalld, zone_file_target
from agent.probes._linux_firewall import firewalls
from tests.conftest import as_nobody, missing_component, require_root, require_tool
from tests.netns import Netns

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux probe")

DATA = Path(__file__).parent / "data" / "firewall"
NO_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/system_bus_socket"}
_PROBE = (
    "import dataclasses, json, os, sys; from pathlib import Path; "
    "from agent.probes._linux_firewall import firewalls; "
    "print(json.dumps(dataclasses.asdict(firewalls(os.environ, root=Path(sys.argv[1])))))"
)

INPUT_DROP = """
table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname "lo" accept
    tcp dport 22 accept
  }
}
"""
INPUT_ACCEPT = """
table inet filter {
  chain input {
    type filter hook input priority filter; policy accept;
    ct state established,related accept
    tcp dport 22 accept
  }
}
"""
ENDS_IN_REJECT = """
table inet filter {
  chain allowed { tcp dport 443 accept; }
  chain input {
    type filter hook input priority filter; policy accept;
    iif lo accept
    jump allowed
    counter reject with icmpx type admin-prohibited
  }
}
"""
FORWARD_AND_OUTPUT_ONLY = """
table inet filter {
  chain forward { type filter hook forward priority filter; policy drop; }
  chain output { type filter hook output priority filter; policy drop; }
}
"""
IPV4_ONLY = """
table ip filter {
  chain INPUT { type filter hook input priority filter; policy drop; }
}
"""
ZONE_ACCEPTS_ALL = """
table inet filter {
  chain trusted { counter accept; }
  chain input {
    type filter hook input priority filter; policy drop;
    iifname "veth7" goto trusted
  }
}
"""


def context(tmp_path: Path) -> CheckContext:
    paths = Paths.from_environment({"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)})
    return CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(tmp_path / "state"))


def rebuilt(data: dict[str, Any]) -> Firewalls:
    return Firewalls(
        found=tuple(Firewall(**f) for f in data["found"]),
        looked_at=tuple(data["looked_at"]),
        notes=tuple(data["notes"]),
        every_one=data["every_one"],
    )


def judged(tmp_path: Path, found: Firewalls) -> tuple[FirewallCheck, list[Finding]]:
    check = FirewallCheck(FirewallParams())
    return check, check.judge(context(tmp_path), found)


def in_namespace(ns: Netns, root: Path) -> Firewalls:
    env = {**os.environ, **NO_BUS}
    done = ns.run(sys.executable, "-c", _PROBE, str(root), env=env)
    assert done.returncode == 0, done.stderr
    return rebuilt(json.loads(done.stdout))


def load(ns: Netns, tmp_path: Path, rules: str) -> None:
    path = tmp_path / "rules.nft"
    path.write_text(rules)
    done = ns.run(require_tool("nft"), "-f", str(path))
    assert done.returncode == 0, done.stderr


# -- the kernel's rules, read as root in a namespace ------------------------------------------


@pytest.mark.parametrize(
    ("rules", "blocks", "says"),
    [
        (INPUT_DROP, True, "refuse incoming connections that were not allowed"),
        (ENDS_IN_REJECT, True, "refuse incoming connections that were not allowed"),
        (INPUT_ACCEPT, False, "let every incoming connection in"),
        ("", False, "no rule filters incoming connections"),
        (FORWARD_AND_OUTPUT_ONLY, False, "no rule filters incoming connections"),
        (IPV4_ONLY, False, "let every incoming IPv6 connection in"),
        (ZONE_ACCEPTS_ALL, False, "every connection arriving on veth7 is let in"),
    ],
    ids=["policy-drop", "ends-in-reject", "policy-accept", "empty", "forward-output", "ipv4-only",
         "interface-accepts-all"],
)  # fmt: skip
def test_a_real_ruleset_in_a_namespace(
    netns: Netns, tmp_path: Path, rules: str, blocks: bool, says: str
) -> None:
    if rules:
        load(netns, tmp_path, rules)
    found = in_namespace(netns, tmp_path)
    (kernel,) = [f for f in found.found if f.name == "the kernel's rules"]
    assert (kernel.blocks, kernel.on) == (blocks, True)
    assert says in kernel.how
    check, findings = judged(tmp_path, found)
    if blocks:
        assert findings == []
        assert check.passed == "The kernel's rules refuse incoming connections you have not allowed"
    else:
        (finding,) = findings
        assert finding.message.startswith("No firewall refuses incoming connections now: ")
        assert says in finding.message
        assert "sudo ufw enable" in finding.advice  # nothing else here to turn on


def test_the_kernel_open_while_ufw_is_set_up_but_off_points_at_ufw(
    netns: Netns, tmp_path: Path
) -> None:
    root = ufw_root(tmp_path)
    found = in_namespace(netns, root)
    _, (finding,) = judged(tmp_path, found)
    assert finding.advice.startswith("ufw is set up but off. Turn it on: sudo ufw enable")


def test_nft_missing_is_a_note_and_the_files_still_answer(tmp_path: Path) -> None:
    require_root("the kernel's rules are read only as root")
    root = ufw_root(tmp_path, enable=True)
    found = firewalls(NO_BUS, root=root, nft=str(tmp_path / "no-such-nft"))
    assert found.notes == ("nft is not installed, so the kernel's rules were not read.",)
    assert [f.name for f in found.found] == ["ufw"]
    check, findings = judged(tmp_path, found)
    assert findings == []
    assert check.passed == "ufw refuses incoming connections you have not allowed"
    assert check.notes == list(found.notes)


def test_an_nft_that_hangs_costs_its_timeout(tmp_path: Path) -> None:
    require_root("the kernel's rules are read only as root")
    hanging = tmp_path / "nft"
    hanging.write_text(f"#!{require_tool('sh')}\nexec {require_tool('sleep')} 30\n")
    hanging.chmod(0o755)
    started = time.monotonic()
    found = firewalls(NO_BUS, root=tmp_path, nft=str(hanging))
    assert time.monotonic() - started < 4
    assert found.notes == ("nft did not answer within 2 seconds.",)


# -- ufw: its shipped files, turned on by its own code ---------------------------------------


def ufw_root(tmp_path: Path, *, enable: bool = False) -> Path:
    """A made-up / holding ufw's real files as the package installs them (and, with
    `enable`, as `ufw enable` leaves them), with ufw.service enabled as Debian's postinst
    enables it."""
    require_tool("ufw")
    root = tmp_path / "root"
    (root / "etc/default").mkdir(parents=True)
    shutil.copytree("/etc/ufw", root / "etc/ufw")
    shutil.copy("/etc/default/ufw", root / "etc/default/ufw")
    shutil.copytree("/usr/lib/ufw", root / "lib/ufw")  # ufw-init, which its backend looks for
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True)
    (root / "lib/systemd/system").mkdir(parents=True)
    shutil.copy("/lib/systemd/system/ufw.service", root / "lib/systemd/system/ufw.service")
    (wants / "ufw.service").symlink_to("/lib/systemd/system/ufw.service")
    if enable:
        ufw_set(root, "enable")
    return root


def ufw_set(root: Path, *what: str) -> None:
    """ufw's own code writes its settings under `root` (tests/data/firewall/ufw_set.py)."""
    ufw = Path(require_tool("ufw"))
    interpreter = ufw.read_text(errors="replace").splitlines()[0].removeprefix("#!").split()
    done = subprocess.run(
        [*interpreter, str(DATA / "ufw_set.py"), str(root), *what],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_ufw_as_installed_is_off(tmp_path: Path) -> None:
    found = firewalls(NO_BUS, root=ufw_root(tmp_path), kernel=False)
    (ufw,) = found.found
    assert (ufw.on, ufw.at_boot, ufw.blocks, ufw.service) == (False, False, True, True)
    _, (finding,) = judged(tmp_path, found)
    assert finding.subject == "ufw"
    assert finding.message == (
        "ufw is set up but not on (turned off), so nothing refuses incoming connections."
    )
    assert finding.advice.startswith("Turn it on: sudo ufw enable")
    assert finding.evidence == {"reason": "off", "on": False, "at_boot": False, "blocks": True}


def test_ufw_enabled_passes_and_without_its_service_does_not(tmp_path: Path) -> None:
    root = ufw_root(tmp_path, enable=True)
    found = firewalls(NO_BUS, root=root, kernel=False)
    check, findings = judged(tmp_path, found)
    assert check.passed == "ufw refuses incoming connections you have not allowed"
    assert findings == []
    (root / "etc/systemd/system/multi-user.target.wants/ufw.service").unlink()
    found = firewalls(NO_BUS, root=root, kernel=False)
    _, (finding,) = judged(tmp_path, found)
    assert finding.evidence["reason"] == "not at boot"
    assert "does not start with the computer" in finding.message
    assert finding.advice == "Let it start with the computer: sudo systemctl enable ufw"


def test_ufw_enabled_with_an_accept_default_lets_everything_in(tmp_path: Path) -> None:
    root = ufw_root(tmp_path, enable=True)
    ufw_set(root, "allow")
    _, (finding,) = judged(tmp_path, firewalls(NO_BUS, root=root, kernel=False))
    assert finding.evidence["reason"] == "open"
    assert "sudo ufw default deny incoming" in finding.advice


@pytest.mark.parametrize("bad", ["huge", "binary", "fifo", "latin-1"])
def test_a_broken_ufw_conf_is_one_note(tmp_path: Path, bad: str) -> None:
    root = ufw_root(tmp_path, enable=True)
    conf = root / "etc/ufw/ufw.conf"
    conf.unlink()
    if bad == "huge":
        conf.write_bytes(b"ENABLED=yes\n" + b"#" * (1 << 20))
        said = "/etc/ufw/ufw.conf is larger than 64 KiB and was not read."
    elif bad == "binary":
        conf.write_bytes(b"ENABLED=yes\n\0\x7fELF")
        said = "/etc/ufw/ufw.conf is not a text file and was not read."
    elif bad == "fifo":
        os.mkfifo(conf)
        said = "/etc/ufw/ufw.conf is not a regular file and was not opened."
    else:
        conf.write_bytes("ENABLED=yes # café\n".encode("latin-1"))
        said = "/etc/ufw/ufw.conf is not UTF-8 text and was not read."
    found = firewalls(NO_BUS, root=root, kernel=False)
    assert found.notes == (said,)
    check = FirewallCheck(FirewallParams())
    with pytest.raises(CheckSkipped, match="cannot be told from this account"):
        check.judge(context(tmp_path), found)
    assert check.notes == [said]


def test_nothing_set_up_is_cannot_tell(tmp_path: Path) -> None:
    found = firewalls(NO_BUS, root=tmp_path, kernel=False)
    with pytest.raises(CheckSkipped) as skipped:
        judged(tmp_path, found)
    assert str(skipped.value) == (
        "whether a firewall is on cannot be told from this account: looked at the kernel's "
        "rules (nft, when allowed), firewalld (system bus), /etc/ufw/ufw.conf, "
        "/etc/nftables.conf, /etc/iptables/rules.v4, and none of them is set up"
    )


def test_debian_nftables_conf_as_installed_is_no_firewall(tmp_path: Path) -> None:
    require_tool("nft")
    (tmp_path / "etc").mkdir()
    shutil.copy("/etc/nftables.conf", tmp_path / "etc/nftables.conf")
    (tmp_path / "lib/systemd/system").mkdir(parents=True)
    found = firewalls(NO_BUS, root=tmp_path, kernel=False)
    _, (finding,) = judged(tmp_path, found)
    assert finding.evidence["reason"] == "none"
    assert finding.message.startswith("No firewall is on: nftables is there, but the rules let")


# -- firewalld, the real daemon on a private system bus ---------------------------------------

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
</busconfig>
"""


@dataclasses.dataclass
class Firewalld:
    address: str
    netns: Netns
    env: dict[str, str]

    def cmd(self, *args: str) -> None:
        done = subprocess.run(
            [require_tool("firewall-cmd"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr


@pytest.fixture
def firewalld(netns: Netns) -> Iterator[Firewalld]:
    require_root("firewalld runs as root")
    daemon_bin = require_tool("firewalld")
    require_tool("nft")
    # World-readable, so that nobody can reach the socket too.
    folder = Path(tempfile.mkdtemp(prefix="hyg-fw-"))
    folder.chmod(0o755)
    config = folder / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=folder / "bus"))
    bus = subprocess.Popen(
        [require_tool("dbus-daemon"), "--config-file", str(config), "--nofork"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"unix:path={folder / 'bus'}"
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}
    try:
        deadline = time.monotonic() + 10
        while not (folder / "bus").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        (folder / "bus").chmod(0o777)
        (folder / "etc").mkdir()
        netns.ip("link", "set", "lo", "up")
        netns.spawn(
            daemon_bin, "--nofork", "--nopid", "--system-config", str(folder / "etc"),
            "--log-target", "file", "--log-file", str(folder / "firewalld.log"),
            env=env, log=folder / "firewalld.out",
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = ask_firewalld(env, Path("/"))
            if state.zones:
                break
            time.sleep(0.2)
        else:
            missing_component("firewalld did not come up on the private bus")
        yield Firewalld(address, netns, env)
    finally:
        for process in netns.processes:
            process.terminate()
        bus.terminate()
        bus.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def test_real_firewalld_with_its_public_zone_passes(firewalld: Firewalld, tmp_path: Path) -> None:
    found = firewalls(firewalld.env, root=tmp_path, kernel=False)
    (daemon,) = found.found
    assert (daemon.name, daemon.on, daemon.blocks) == ("firewalld", True, True)
    check, findings = judged(tmp_path, found)
    assert findings == []
    assert check.passed == "firewalld refuses incoming connections you have not allowed"


def test_real_firewalld_with_the_trusted_zone_lets_everything_in(
    firewalld: Firewalld, tmp_path: Path
) -> None:
    firewalld.cmd("--set-default-zone=trusted")
    found = firewalls(firewalld.env, root=tmp_path, kernel=False)
    _, (finding,) = judged(tmp_path, found)
    assert finding.subject == "firewalld"
    assert finding.message == (
        "firewalld is on but lets every incoming connection in (the default zone (trusted) "
        "lets everything in)."
    )
    assert "firewall-cmd --set-default-zone=public" in finding.advice
    # The kernel's rules firewalld made, read as root inside its namespace, say the same.
    kernel = in_namespace(firewalld.netns, tmp_path).found[0]
    assert (kernel.name, kernel.blocks) == ("the kernel's rules", False)


def test_real_firewalld_rules_read_from_the_kernel(firewalld: Firewalld, tmp_path: Path) -> None:
    (kernel,) = [f for f in in_namespace(firewalld.netns, tmp_path).found if f.on]
    assert (kernel.name, kernel.blocks) == ("the kernel's rules", True)


def test_real_firewalld_refusing_nobody_cannot_tell(firewalld: Firewalld, tmp_path: Path) -> None:
    said = as_nobody(
        lambda: json.dumps(
            dataclasses.asdict(firewalls(firewalld.env, root=Path("/nonexistent"), kernel=False))
        )
    )
    found = rebuilt(json.loads(said))
    (daemon,) = found.found
    assert (daemon.on, daemon.blocks) == (True, None)
    assert found.notes == (
        "firewalld could not be asked everything: firewalld answers only administrators on "
        "this computer.",
    )
    check = FirewallCheck(FirewallParams())
    with pytest.raises(CheckSkipped, match="cannot be told"):
        check.judge(context(tmp_path), found)
    assert check.notes == list(found.notes)


def test_firewalld_installed_but_not_running(tmp_path: Path) -> None:
    require_tool("dbus-daemon")
    folder = tmp_path / "bus"
    folder.mkdir()
    config = folder / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=folder / "socket"))
    bus = subprocess.Popen(
        [require_tool("dbus-daemon"), "--config-file", str(config), "--nofork"],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not (folder / "socket").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        units = tmp_path / "lib/systemd/system"
        units.mkdir(parents=True)
        (units / "firewalld.service").write_text("[Unit]\n")
        env = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={folder / 'socket'}"}
        found = firewalls(env, root=tmp_path, kernel=False)
        _, (finding,) = judged(tmp_path, found)
        assert finding.evidence == {"reason": "off", "on": False, "at_boot": False, "blocks": None}
        assert finding.advice == (
            "Start it, and let it start with the computer: sudo systemctl enable --now firewalld"
        )
    finally:
        bus.terminate()
        bus.wait(timeout=10)


def test_a_bus_that_never_answers_costs_one_timeout(tmp_path: Path) -> None:
    path = tmp_path / "hung-bus"
    units = tmp_path / "lib/systemd/system"
    units.mkdir(parents=True)
    (units / "firewalld.service").write_text("[Unit]\n")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        started = time.monotonic()
        found = firewalls(
            {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={path}"}, root=tmp_path, kernel=False
        )
        took = time.monotonic() - started
    assert took < 1.5
    assert "The system bus did not answer, so whether firewalld runs is not known." in found.notes
    with pytest.raises(CheckSkipped):
        judged(tmp_path, found)


# -- firewalld's zone files, when its settings are refused -----------------------------------


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder every user can read (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="hyg-fw-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_zone_targets_from_firewalld_s_shipped_files(open_folder: Path) -> None:
    require_tool("firewalld")
    tmp_path = open_folder
    shutil.copytree("/usr/lib/firewalld/zones", tmp_path / "usr/lib/firewalld/zones")
    assert zone_file_target(tmp_path, "trusted") == ("ACCEPT", "/usr/lib/firewalld")
    assert zone_file_target(tmp_path, "public") == ("default", "/usr/lib/firewalld")
    assert zone_file_target(tmp_path, "drop") == ("DROP", "/usr/lib/firewalld")
    assert zone_file_target(tmp_path, "../../etc/passwd") == (None, "")
    local = tmp_path / "etc/firewalld/zones"
    local.mkdir(parents=True)
    (local / "public.xml").write_text('<?xml version="1.0"?>\n<zone target="ACCEPT"/>\n')
    assert zone_file_target(tmp_path, "public") == ("ACCEPT", "/etc/firewalld")
    (local / "public.xml").write_text('<!DOCTYPE zone [<!ENTITY a "b">]><zone target="&a;"/>')
    assert zone_file_target(tmp_path, "public") == (None, "/etc/firewalld")
    (tmp_path / "etc/firewalld").chmod(0o750)
    said = as_nobody(lambda: json.dumps(zone_file_target(tmp_path, "trusted")))
    if os.geteuid() == 0:
        assert json.loads(said) == [
            "ACCEPT",
            "/usr/lib/firewalld (shipped; /etc/firewalld cannot be read)",
        ]


# -- the reviewer's rulesets: a pass only when the rules really refuse ----------------------

RULESETS = DATA / "rulesets"  # each loads with `nft -f`; F*: as /etc/nftables.conf is written
CLOSED = {"R01_closed", "R22_netdev_ingress_none", "R23_reject_last"}


@pytest.mark.parametrize("name", sorted(p.stem for p in RULESETS.glob("R*.nft")))
def test_a_ruleset_in_the_kernel_passes_only_when_closed(
    netns: Netns, tmp_path: Path, name: str
) -> None:
    done = netns.run(require_tool("nft"), "-f", str(RULESETS / f"{name}.nft"))
    assert done.returncode == 0, done.stderr
    check, findings = judged(tmp_path, in_namespace(netns, tmp_path))
    if name in CLOSED:
        assert findings == []
        assert check.passed == "The kernel's rules refuse incoming connections you have not allowed"
    else:
        (finding,) = findings
        assert finding.evidence["reason"] == "open"


def as_user(root: Path, unit: str) -> Firewalls:
    """The probe as nobody, who may not read the kernel's rules, on a made-up /etc where
    `unit` starts with the computer."""
    enabled(root, unit)
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755)
    said = as_nobody(
        lambda: json.dumps(dataclasses.asdict(firewalls(NO_BUS, root=root, kernel=False)))
    )
    return rebuilt(json.loads(said))


def enabled(root: Path, unit: str) -> None:
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (root / "lib/systemd/system").mkdir(parents=True, exist_ok=True)
    (root / "lib/systemd/system" / unit).write_text("[Unit]\n")
    (wants / unit).symlink_to(f"/lib/systemd/system/{unit}")


def never_passes(tmp_path: Path, found: Firewalls) -> list[Finding]:
    check = FirewallCheck(FirewallParams())
    try:
        findings = check.judge(context(tmp_path), found)
    except CheckSkipped:
        return []
    assert findings, check.passed
    return findings


@pytest.mark.parametrize("name", sorted(p.stem for p in RULESETS.glob("*.nft")))
def test_a_saved_nftables_conf_is_loaded_by_nft_in_a_private_namespace(
    open_folder: Path, tmp_path: Path, name: str
) -> None:
    require_tool("nft")
    require_tool("unshare")
    root = open_folder
    (root / "etc").mkdir()
    shutil.copy(RULESETS / f"{name}.nft", root / "etc/nftables.conf")
    found = as_user(root, "nftables.service")
    (nftables,) = found.found
    assert nftables.at_boot is True
    if name in CLOSED:
        assert nftables.blocks is True, found
        check, findings = judged(tmp_path, found)
        assert findings == []
        assert check.passed == "nftables refuses incoming connections you have not allowed"
    else:
        assert nftables.blocks is not True, found
        never_passes(tmp_path, found)


@pytest.mark.parametrize(
    ("case", "blocks"),
    [("closed", True), ("v6_missing", False), ("accept_last", False), ("second_table", False),
     ("user_chain", False), ("raw_drop", False)],
)  # fmt: skip
def test_iptables_persistent_rules_are_loaded_by_iptables_nft(
    open_folder: Path, tmp_path: Path, case: str, blocks: bool
) -> None:
    require_tool("iptables-nft-restore")
    root = open_folder
    shutil.copytree(DATA / "iptables" / case, root / "etc/iptables")
    found = as_user(root, "netfilter-persistent.service")
    (saved,) = found.found
    assert (saved.name, saved.blocks, saved.at_boot) == ("iptables", blocks, True), found
    if blocks:
        check, findings = judged(tmp_path, found)
        assert findings == []
        assert check.passed == "iptables refuses incoming connections you have not allowed"
    else:
        (finding,) = never_passes(tmp_path, found)
        assert finding.evidence["reason"] == "open"


# -- ufw's settings read as its start script reads them ---------------------------------------


@pytest.mark.parametrize(
    "conf",
    ["ENABLED=yes\r\n", "ENABLED=Yes\n", "ENABLED=yes\nENABLED=no\n", "ENABLED = yes\n",
     "#ENABLED=yes\n"],
    ids=["crlf", "capitalised", "twice", "spaces", "comment"],
)  # fmt: skip
def test_ufw_conf_read_as_sh_reads_it(tmp_path: Path, conf: str) -> None:
    root = ufw_root(tmp_path, enable=True)
    (root / "etc/ufw/ufw.conf").write_bytes(conf.encode())
    found = firewalls(NO_BUS, root=root, kernel=False)
    (ufw,) = found.found
    assert (ufw.on, ufw.at_boot) == (False, False)
    _, (finding,) = judged(tmp_path, found)
    assert finding.evidence["reason"] == "off"
    assert finding.advice.startswith("Turn it on: sudo ufw enable")


def test_ufw_quoted_yes_is_on(tmp_path: Path) -> None:
    root = ufw_root(tmp_path, enable=True)
    (root / "etc/ufw/ufw.conf").write_text('ENABLED="yes" # set by ufw enable\n')
    check, findings = judged(tmp_path, firewalls(NO_BUS, root=root, kernel=False))
    assert findings == []
    assert check.passed == "ufw refuses incoming connections you have not allowed"


def test_ufw_without_ipv6_lets_ipv6_in(tmp_path: Path) -> None:
    root = ufw_root(tmp_path, enable=True)
    default = root / "etc/default/ufw"
    default.write_text(default.read_text().replace("IPV6=yes", "IPV6=no"))
    _, (finding,) = judged(tmp_path, firewalls(NO_BUS, root=root, kernel=False))
    assert finding.evidence["reason"] == "open"
    assert "IPv6 connections are not filtered" in finding.message
    assert "IPV6=yes" in finding.advice


@pytest.mark.parametrize("service", [True, False])
def test_rules_loaded_by_hand_with_ufw_off_do_not_survive_a_restart(
    netns: Netns, tmp_path: Path, service: bool
) -> None:
    root = ufw_root(tmp_path)  # ENABLED=no: ufw-init loads nothing at start
    if not service:
        (root / "etc/systemd/system/multi-user.target.wants/ufw.service").unlink()
    load(netns, tmp_path, INPUT_DROP)
    _, (finding,) = judged(tmp_path, in_namespace(netns, root))
    assert finding.evidence["reason"] == "not at boot"
    if service:
        assert finding.advice.startswith("Turn it on: sudo ufw enable")
    else:
        assert finding.advice.endswith("sudo ufw enable, then sudo systemctl enable ufw")


# -- firewalld: what it does not say is not a pass --------------------------------------------


def test_real_firewalld_that_stops_answering_cannot_tell(
    firewalld: Firewalld, tmp_path: Path
) -> None:
    (daemon,) = [p for p in firewalld.netns.processes if p.poll() is None]
    os.kill(daemon.pid, signal.SIGSTOP)
    try:
        found = firewalls(firewalld.env, root=tmp_path, kernel=False)
    finally:
        os.kill(daemon.pid, signal.SIGCONT)
    (walled,) = found.found
    assert (walled.on, walled.blocks) == (True, None)
    assert "firewalld could not be asked everything: firewalld did not answer in time." in (
        found.notes
    )
    with pytest.raises(CheckSkipped):
        judged(tmp_path, found)


def test_real_firewalld_with_every_port_open_lets_everything_in(
    firewalld: Firewalld, tmp_path: Path
) -> None:
    firewalld.cmd("--zone=public", "--add-port=1-65535/tcp")
    _, (finding,) = judged(tmp_path, firewalls(firewalld.env, root=tmp_path, kernel=False))
    assert finding.evidence["reason"] == "open"
    assert "opens every port" in finding.message


def test_real_firewalld_loopback_trusted_and_docker_zone_pass(
    firewalld: Firewalld, tmp_path: Path
) -> None:
    firewalld.netns.ip("link", "add", "docker0", "type", "veth", "peer", "name", "docker9")
    firewalld.cmd("--zone=trusted", "--add-interface=lo")
    firewalld.cmd("--permanent", "--new-zone=docker")
    firewalld.cmd("--permanent", "--zone=docker", "--set-target=ACCEPT")
    firewalld.cmd("--permanent", "--zone=docker", "--add-interface=docker0")
    firewalld.cmd("--reload")
    found = firewalls(firewalld.env, root=tmp_path, kernel=False)
    check, findings = judged(tmp_path, found)
    assert findings == []
    assert check.passed == "firewalld refuses incoming connections you have not allowed"
    firewalld.cmd("--zone=trusted", "--add-interface=docker9")
    _, (finding,) = judged(tmp_path, firewalls(firewalld.env, root=tmp_path, kernel=False))
    assert "the zone trusted (docker9) lets everything in" in finding.message


def test_zone_answers_not_understood_cannot_tell_and_names_are_clipped(tmp_path: Path) -> None:
    notes: list[str] = []
    odd = _firewalld.Firewalld(
        True, True, False, (_firewalld.Zone("public", None, ("eth0",), True),)
    )
    unknown = linux._from_firewalld(odd, tmp_path, notes)
    assert unknown is not None
    assert unknown.blocks is None
    long = _firewalld.Firewalld(
        True, True, False, (_firewalld.Zone("trusted", "ACCEPT", ("x" * 100_000,) * 64, False),)
    )
    said = linux._from_firewalld(long, tmp_path, notes)
    assert said is not None
    assert said.blocks is False
    assert len(said.how) < 200


def test_real_firewalld_not_at_boot_is_the_one_finding(
    firewalld: Firewalld, tmp_path: Path
) -> None:
    root = ufw_root(tmp_path)  # ufw installed, off
    shutil.copy("/etc/nftables.conf", root / "etc/nftables.conf")  # Debian's, as installed
    (root / "lib/systemd/system/firewalld.service").write_text("[Unit]\n")
    found = firewalls(firewalld.env, root=root, kernel=False)
    _, findings = judged(tmp_path, found)
    assert len(findings) == 1, (found, findings)
    (finding,) = findings
    assert (finding.subject, finding.evidence["reason"]) == ("firewalld", "not at boot")
    assert finding.advice == "Let it start with the computer: sudo systemctl enable firewalld"


def test_no_firewall_points_at_the_ufw_installed(tmp_path: Path) -> None:
    root = ufw_root(tmp_path)
    (root / "etc/systemd/system/multi-user.target.wants/ufw.service").unlink()
    default = root / "etc/default/ufw"
    default.write_text(default.read_text().replace('INPUT_POLICY="DROP"', 'INPUT_POLICY="ACCEPT"'))
    shutil.copy("/etc/nftables.conf", root / "etc/nftables.conf")
    _, (finding,) = judged(tmp_path, firewalls(NO_BUS, root=root, kernel=False))
    assert finding.evidence["reason"] == "none"
    assert finding.advice == (
        "Turn on ufw, which is installed: sudo ufw default deny incoming, then sudo ufw "
        "enable, then sudo systemctl enable ufw."
    )
