"""The inbound firewalls of this Linux machine, as far as the person running the agent can see
them. Facts only.

The kernel's ruleset is root's to read, and the agent runs as the person. So:

1. The ruleset itself, from `nft -j list ruleset` (agent.probes._nft_ruleset), only when this
   process may read it: root, or CAP_NET_ADMIN in its effective set (/proc/self/status). Run
   from /usr/sbin or /sbin with no shell, LC_ALL=C, a 2-second timeout, at most 8 MiB of
   output. When it answers, it is the truth of now.
2. firewalld over the system bus (agent.probes._firewalld): running or not, its state, the
   default zone and the zones of the active interfaces with their targets.
3. ufw: ENABLED in /etc/ufw/ufw.conf (whether `ufw enable` was run: its rules are then loaded
   at start), DEFAULT_INPUT_POLICY in /etc/default/ufw.
4. nftables: /etc/nftables.conf (what nftables.service loads at start), read as text: a
   chain on the input hook with `policy drop`. An `include` is not followed: such a file
   cannot be judged from here.
5. iptables-persistent: /etc/iptables/rules.v4 and rules.v6 (what netfilter-persistent loads
   at start): the INPUT chain's policy in the filter table, or a last rule that drops all.

Whether a service starts with the computer is read from systemd's files, never by asking
systemd: a unit is enabled when a link to it sits in /etc/systemd/system/*.wants/ (or
/usr/lib/systemd/system/*.wants/, where distributions enable some), masked when
/etc/systemd/system/UNIT is a link to /dev/null; on a machine without systemd's folders it
is not known.

Each file: a regular file of at most 64 KiB (agent.files.read_small_file: FIFOs and devices
refused unopened), read as UTF-8; a file that is not is a note. `root` lets tests give a
made-up /etc (and /usr/lib, /proc/self/status is always the real one). Nothing is kept
between calls.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from agent.files import FileTooLarge, NotRegularFile, read_small_file
from agent.probes import Firewall, Firewalls
from agent.probes._firewalld import BUILT_IN, Firewalld, Zone, ask_firewalld
from agent.probes._nft_ruleset import Ruleset, read_ruleset

__all__ = ["firewalls"]

CONFIG_LIMIT = 64 * 1024
NFT_TIMEOUT = 2.0
NFT_OUTPUT_LIMIT = 8 * 1024 * 1024
NFT_PLACES = "/usr/sbin:/sbin:/usr/bin:/bin"
_CAP_NET_ADMIN = 12
_SYSTEMD_UNITS = ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system")

_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
_INPUT_DROP = re.compile(
    r"\bhook\s+input\b[^}]*?\bpolicy\s+drop\b|\bpolicy\s+drop\b[^}]*?\bhook\s+input\b", re.S
)
_INPUT_HOOK = re.compile(r"\bhook\s+input\b")
_INCLUDE = re.compile(r"^\s*include\s", re.M)


def firewalls(
    env: Mapping[str, str],
    *,
    root: Path = Path("/"),
    nft: str | None = None,
    kernel: bool = True,
) -> Firewalls:
    """Every firewall found, with what was looked at and what could not be read. `nft`: the
    program to ask for the ruleset (found in the system's folders when None); `kernel`:
    False to leave the kernel's rules out (tests of the other sources, run as root)."""
    notes: list[str] = []
    found: list[Firewall] = []
    looked_at = ["the kernel's rules (nft, when allowed)", "firewalld (system bus)"]
    ruleset = _kernel(nft, notes) if kernel else None
    if ruleset is not None:
        found.append(_from_ruleset(ruleset))
    daemon = ask_firewalld(dict(env), root)
    if daemon.problem:
        notes.append(f"firewalld could not be asked everything: {daemon.problem}.")
    walled = _from_firewalld(daemon, root, notes)
    if walled is not None:
        found.append(walled)
    for name, reader in (("ufw", _ufw), ("nftables", _nftables), ("iptables", _iptables)):
        looked_at.append(_LOOKED_AT[name])
        state = reader(root, notes)
        if state is not None:
            found.append(state)
    return Firewalls(tuple(found), tuple(looked_at), tuple(notes))


_LOOKED_AT = {
    "ufw": "/etc/ufw/ufw.conf",
    "nftables": "/etc/nftables.conf",
    "iptables": "/etc/iptables/rules.v4",
}


# -- the kernel's ruleset ------------------------------------------------------------------


def may_read_ruleset(status: Path = Path("/proc/self/status")) -> bool:
    """Root, or CAP_NET_ADMIN in the effective set: nft would be refused otherwise."""
    if os.geteuid() == 0:
        return True
    try:
        text = status.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("CapEff:"):
            try:
                return bool(int(line.split()[1], 16) >> _CAP_NET_ADMIN & 1)
            except (IndexError, ValueError):
                return False
    return False


def _kernel(nft: str | None, notes: list[str]) -> Ruleset | None:
    if not may_read_ruleset():
        return None  # the usual case: not a problem worth a note
    program = nft if nft is not None else shutil.which("nft", path=NFT_PLACES)
    if program is None:
        notes.append("nft is not installed, so the kernel's rules were not read.")
        return None
    try:
        done = subprocess.run(
            [program, "-j", "list", "ruleset"],
            capture_output=True,
            timeout=NFT_TIMEOUT,
            check=False,
            env={"LC_ALL": "C", "PATH": NFT_PLACES},
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        notes.append(f"nft did not answer within {NFT_TIMEOUT:g} seconds.")
        return None
    except FileNotFoundError:
        notes.append("nft is not installed, so the kernel's rules were not read.")
        return None
    except OSError as err:
        notes.append(f"nft could not be run ({(err.strerror or str(err)).lower()}).")
        return None
    if done.returncode != 0:
        notes.append(f"nft could not list the kernel's rules (exit status {done.returncode}).")
        return None
    if len(done.stdout) > NFT_OUTPUT_LIMIT:
        notes.append("nft's answer was too large to read.")
        return None
    if not done.stdout.strip():
        return read_ruleset({"nftables": []})  # an empty ruleset prints nothing
    try:
        found = read_ruleset(json.loads(done.stdout))
    except (ValueError, RecursionError):
        found = None
    if found is None:
        notes.append("nft answered in a form this agent does not read.")
    return found


def _from_ruleset(ruleset: Ruleset) -> Firewall:
    closed = ruleset.ipv4_closed and ruleset.ipv6_closed and not ruleset.open_interfaces
    if not ruleset.input_chains:
        how = "no rule filters incoming connections"
    elif not (ruleset.ipv4_closed or ruleset.ipv6_closed):
        how = "the rules let every incoming connection in (no drop policy or final drop)"
    elif not ruleset.ipv6_closed:
        how = "the rules refuse incoming IPv4 connections but let every IPv6 one in"
    elif not ruleset.ipv4_closed:
        how = "the rules refuse incoming IPv6 connections but let every IPv4 one in"
    elif ruleset.open_interfaces:
        how = "every connection arriving on " + ", ".join(ruleset.open_interfaces) + " is let in"
    else:
        how = "the rules refuse incoming connections that were not allowed"
    return Firewall("the kernel's rules", on=True, at_boot=None, blocks=closed, how=how)


# -- firewalld -------------------------------------------------------------------------------


def _from_firewalld(daemon: Firewalld, root: Path, notes: list[str]) -> Firewall | None:
    unit = _unit(root, "firewalld.service")
    if not daemon.running:
        if unit is None:
            return None  # not installed (or not with systemd)
        if not daemon.bus:
            notes.append("The system bus did not answer, so whether firewalld runs is not known.")
            return Firewall("firewalld", on=None, at_boot=unit, blocks=None, how="")
        return Firewall("firewalld", on=False, at_boot=unit, blocks=None, how="not running")
    if daemon.failed:
        return Firewall(
            "firewalld", on=False, at_boot=unit, blocks=None, how="running, but its rules failed"
        )
    open_zones = [z for z in daemon.zones if z.target == "ACCEPT"]
    unknown = [z for z in daemon.zones if z.target is None]
    for zone in daemon.zones:
        if zone.from_file.startswith("/usr/lib/firewalld (shipped"):
            notes.append(
                "firewalld lets only administrators read its zones' settings here, so the "
                "targets firewalld ships were read; an administrator may have changed them."
            )
            break
    if open_zones:
        names = ", ".join(_zone_words(z) for z in open_zones)
        return Firewall(
            "firewalld", on=True, at_boot=unit, blocks=False, how=f"{names} lets everything in"
        )
    if not daemon.zones or unknown:
        if not daemon.problem:
            notes.append("firewalld runs, but what its zones let in could not be read.")
        return Firewall("firewalld", on=True, at_boot=unit, blocks=None, how="running")
    return Firewall("firewalld", on=True, at_boot=unit, blocks=True, how="running")


def _zone_words(zone: Zone) -> str:
    what = f"the zone {zone.name}" if zone.name in BUILT_IN else "a zone of your own"
    if zone.default:
        what = f"the default zone ({what.removeprefix('the zone ')})"
    if zone.interfaces:
        what += " (" + ", ".join(zone.interfaces[:4]) + ")"
    return what


# -- ufw, nftables, iptables ------------------------------------------------------------------


def _ufw(root: Path, notes: list[str]) -> Firewall | None:
    conf = _read(root / "etc/ufw/ufw.conf", "/etc/ufw/ufw.conf", notes)
    if conf is None:
        return None
    enabled = _assignments(conf).get("ENABLED", "").lower() == "yes"
    default = _read(root / "etc/default/ufw", "/etc/default/ufw", notes)
    policy = _assignments(default).get("DEFAULT_INPUT_POLICY", "").upper() if default else ""
    blocks = {"DROP": True, "REJECT": True, "ACCEPT": False}.get(policy)
    how = "turned on" if enabled else "turned off"
    if blocks is False:
        how += "; its default for incoming connections is ACCEPT"
    return Firewall("ufw", on=enabled, at_boot=_unit(root, "ufw.service"), blocks=blocks, how=how)


def _nftables(root: Path, notes: list[str]) -> Firewall | None:
    conf = _read(root / "etc/nftables.conf", "/etc/nftables.conf", notes)
    if conf is None:
        return None
    text = re.sub(r"#[^\n]*", "", conf)
    at_boot = _unit(root, "nftables.service")
    if _INPUT_DROP.search(text):
        blocks: bool | None = True
        how = "its rules refuse incoming connections that were not allowed"
    elif _INCLUDE.search(text):
        blocks = None
        how = "its rules are in other files it includes"
    else:
        blocks = False
        how = (
            "its rules let every incoming connection in"
            if _INPUT_HOOK.search(text)
            else "its rules do not filter incoming connections"
        )
    # A oneshot service: whether its rules are loaded now only the kernel can say.
    return Firewall("nftables", on=None, at_boot=at_boot, blocks=blocks, how=how)


def _iptables(root: Path, notes: list[str]) -> Firewall | None:
    found = []
    for version in ("v4", "v6"):
        shown = f"/etc/iptables/rules.{version}"
        rules = _read(root / shown.lstrip("/"), shown, notes)
        if rules is not None:
            found.append(_iptables_closed(rules))
    if not found:
        return None
    blocks = all(found)
    how = (
        "its saved rules refuse incoming connections that were not allowed"
        if blocks
        else "its saved rules let incoming connections in"
    )
    at_boot = _unit(root, "netfilter-persistent.service")
    return Firewall("iptables", on=None, at_boot=at_boot, blocks=blocks, how=how)


def _iptables_closed(text: str) -> bool:
    """Whether iptables-save's filter table drops what reaches the end of INPUT."""
    table = ""
    policy = ""
    last = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif table == "filter" and line.startswith(":INPUT "):
            policy = line.split()[1].upper()
        elif table == "filter" and line.startswith("-A INPUT "):
            last = line
    final = re.fullmatch(r"-A INPUT( -m comment --comment (\"[^\"]*\"|\S+))? -j (\w+)", last)
    if final is not None and final.group(3).upper() in ("DROP", "REJECT"):
        return True
    if final is not None and final.group(3).upper() == "ACCEPT":
        return False
    return policy == "DROP"


def _assignments(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match is not None and not line.lstrip().startswith("#"):
            found[match[1]] = match[2].strip("\"'")
    return found


def _read(path: Path, shown: str, notes: list[str]) -> str | None:
    """The text of a config file; None when it is missing (silently) or unusable (a note)."""
    try:
        data = read_small_file(path, CONFIG_LIMIT)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except FileTooLarge:
        notes.append(f"{shown} is larger than {CONFIG_LIMIT // 1024} KiB and was not read.")
        return None
    except NotRegularFile:
        notes.append(f"{shown} is not a regular file and was not opened.")
        return None
    except OSError as err:
        notes.append(f"{shown} could not be read ({(err.strerror or str(err)).lower()}).")
        return None
    if b"\0" in data:
        notes.append(f"{shown} is not a text file and was not read.")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        notes.append(f"{shown} is not UTF-8 text and was not read.")
        return None


def _unit(root: Path, unit: str) -> bool | None:
    """Whether systemd starts `unit` with the computer: True, False (installed but not
    enabled, or masked), None (not installed, or no systemd here)."""
    folders = [root / f for f in _SYSTEMD_UNITS]
    if not any(f.is_dir() for f in folders):
        return None
    local = folders[0] / unit
    if local.is_symlink():
        try:
            if str(local.readlink()) == "/dev/null":
                return False  # masked
        except OSError:
            pass
    for folder in folders:
        try:
            for wants in folder.glob("*.wants"):
                if os.path.lexists(wants / unit):
                    return True
        except OSError:
            continue
    if any(os.path.lexists(f / unit) for f in folders):
        return False
    return None
