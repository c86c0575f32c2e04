"""The inbound firewalls of this Linux machine, as far as the person running the agent can see
them. Facts only.

The kernel's ruleset is root's to read, and the agent runs as the person. So:

1. The ruleset itself, from `nft -j list ruleset` (agent.probes._nft_ruleset), only when this
   process may read it: root, or CAP_NET_ADMIN in its effective set (/proc/self/status). Run
   from /usr/sbin or /sbin with no shell, LC_ALL=C, a 2-second timeout, at most 8 MiB of
   output. When it answers, it is the truth of now.
2. firewalld over the system bus (agent.probes._firewalld): running or not, its state, the
   default zone and the zones of the active interfaces with their targets.
3. ufw: ENABLED in /etc/ufw/ufw.conf, read as ufw-init reads it (sourced by sh: exactly
   `yes` or `YES`, a carriage return kept); only then does ufw.service load its rules at
   start. DEFAULT_INPUT_POLICY and IPV6 in /etc/default/ufw (IPV6 other than yes: IPv6 is
   not filtered at all).
4. nftables: /etc/nftables.conf (what nftables.service loads at start), and
5. iptables-persistent: /etc/iptables/rules.v4 and rules.v6 (what netfilter-persistent loads
   at start): each loaded by the program itself (`nft -f`, iptables-nft-restore) into a
   network namespace of our own (as a user: inside a user namespace of their own), then
   listed and judged as the kernel's rules are. Reading the text would guess at includes,
   definitions, comments, a later flush; nft cannot check a file without CAP_NET_ADMIN
   (`nft -c` is refused). When the namespace cannot be made or the rules do not load there,
   the file is "cannot tell".

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

import dataclasses
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from agent.files import FileTooLarge, NotRegularFile, read_small_file
from agent.probes import Firewall, Firewalls
from agent.probes._firewalld import BUILT_IN, IFNAME_LENGTH, Firewalld, Zone, ask_firewalld
from agent.probes._nft_ruleset import Ruleset, read_ruleset

__all__ = ["firewalls"]

CONFIG_LIMIT = 64 * 1024
NFT_TIMEOUT = 2.0
NFT_OUTPUT_LIMIT = 8 * 1024 * 1024
NFT_PLACES = "/usr/sbin:/sbin:/usr/bin:/bin"
_CAP_NET_ADMIN = 12
_SYSTEMD_UNITS = ("etc/systemd/system", "usr/lib/systemd/system", "lib/systemd/system")

_ASSIGNMENT = re.compile(r"^[ \t]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


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
        done = _quiet_run([program, "-j", "list", "ruleset"])
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


def _quiet_run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv,
        capture_output=True,
        timeout=NFT_TIMEOUT,
        check=False,
        env={"LC_ALL": "C", "PATH": NFT_PLACES},
        stdin=subprocess.DEVNULL,
    )


def _from_ruleset(ruleset: Ruleset, name: str = "the kernel's rules") -> Firewall:
    both = (ruleset.ipv4, ruleset.ipv6)
    blocks: bool | None = ruleset.closed
    if not ruleset.input_chains:
        how = "no rule filters incoming connections"
    elif both == ("open", "open"):
        how = "the rules let every incoming connection in (no drop policy or final drop)"
    elif "open" in both:
        opened = "IPv6" if ruleset.ipv6 == "open" else "IPv4"
        how = f"the rules let every incoming {opened} connection in"
    elif ruleset.open_interfaces:
        how = "every connection arriving on " + ", ".join(ruleset.open_interfaces) + " is let in"
    elif "unsure" in both:
        blocks = None
        how = "a rule this agent cannot judge may let incoming connections in"
    else:
        how = "the rules refuse incoming connections that were not allowed"
    on = True if name == "the kernel's rules" else None
    return Firewall(name, on=on, at_boot=None, blocks=blocks, how=how)


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
    # Docker makes and keeps its own `docker` zone (target ACCEPT, its bridges): that is how
    # containers reach each other, not a door to this computer. Loopback in `trusted` is
    # firewalld's own advice.
    zones = [z for z in daemon.zones if z.default or z.name != "docker"]
    open_zones = [
        z
        for z in zones
        if z.target == "ACCEPT" and (z.default or z.sources or set(z.interfaces) - {"lo"})
    ]
    every_port = [z for z in zones if z.every_port and z not in open_zones]
    unknown = [z for z in zones if z.target is None]
    for zone in daemon.zones:
        if zone.from_file.startswith("/usr/lib/firewalld (shipped"):
            notes.append(
                "firewalld lets only administrators read its zones' settings here, so the "
                "targets firewalld ships were read; an administrator may have changed them."
            )
            break
    if open_zones or every_port:
        said = [f"{_zone_words(z)} lets everything in" for z in open_zones]
        said += [f"{_zone_words(z)} opens every port" for z in every_port]
        return Firewall("firewalld", on=True, at_boot=unit, blocks=False, how="; ".join(said))
    if not daemon.zones or unknown or daemon.problem:
        if not daemon.problem:
            notes.append("firewalld runs, but what its zones let in could not be read.")
        return Firewall("firewalld", on=True, at_boot=unit, blocks=None, how="running")
    return Firewall("firewalld", on=True, at_boot=unit, blocks=True, how="running")


def _zone_words(zone: Zone) -> str:
    what = f"the zone {zone.name}" if zone.name in BUILT_IN else "a zone of your own"
    if zone.default:
        what = f"the default zone ({what.removeprefix('the zone ')})"
    shown = [i[:IFNAME_LENGTH] for i in zone.interfaces[:4]]
    if len(zone.interfaces) > 4:
        shown.append(f"and {len(zone.interfaces) - 4} more")
    if shown:
        what += " (" + ", ".join(shown) + ")"
    return what


# -- ufw, nftables, iptables ------------------------------------------------------------------


def _ufw(root: Path, notes: list[str]) -> Firewall | None:
    conf = _read(root / "etc/ufw/ufw.conf", "/etc/ufw/ufw.conf", notes)
    if conf is None:
        return None
    # ufw-init sources the file with sh and loads the rules only for exactly yes or YES.
    enabled = _assignments(conf).get("ENABLED", "") in ("yes", "YES")
    default = _read(root / "etc/default/ufw", "/etc/default/ufw", notes)
    settings = _assignments(default) if default else {}
    policy = settings.get("DEFAULT_INPUT_POLICY", "")
    blocks = {"DROP": True, "REJECT": True, "ACCEPT": False}.get(policy)
    how = "turned on" if enabled else "turned off"
    opening = ""
    if blocks is False:
        how += "; its default for incoming connections is ACCEPT"
    elif default is not None and settings.get("IPV6", "") not in ("yes", "YES"):
        # ufw then writes no IPv6 rules at all: IPv6 is not filtered.
        blocks, opening = False, "ipv6"
        how += "; IPV6 is not yes in /etc/default/ufw, so IPv6 connections are not filtered"
    unit = _unit(root, "ufw.service")
    at_boot = unit if enabled else False
    return Firewall(
        "ufw", on=enabled, at_boot=at_boot, blocks=blocks, how=how, service=unit, opening=opening
    )


def _nftables(root: Path, notes: list[str]) -> Firewall | None:
    shown = "/etc/nftables.conf"
    conf = _read(root / shown.lstrip("/"), shown, notes)
    if conf is None:
        return None
    at_boot = _unit(root, "nftables.service")
    # A oneshot service: whether its rules are loaded now only the kernel can say.
    script = 'nft -f "$1" || exit 3; exec nft -j list ruleset'
    ruleset = _saved_ruleset(script, [str(root / shown.lstrip("/"))], shown, notes)
    if ruleset is None:
        return Firewall("nftables", on=None, at_boot=at_boot, blocks=None, how="")
    return dataclasses.replace(_from_ruleset(ruleset, "nftables"), at_boot=at_boot)


def _iptables(root: Path, notes: list[str]) -> Firewall | None:
    files = []
    for version in ("v4", "v6"):
        shown = f"/etc/iptables/rules.{version}"
        files.append("" if _read(root / shown.lstrip("/"), shown, notes) is None else shown)
    if not any(files):
        return None
    at_boot = _unit(root, "netfilter-persistent.service")
    script = (
        'if [ -n "$1" ]; then iptables-nft-restore < "$1" || exit 3; fi; '
        'if [ -n "$2" ]; then ip6tables-nft-restore < "$2" || exit 3; fi; '
        "exec nft -j list ruleset"
    )
    paths = [str(root / f.lstrip("/")) if f else "" for f in files]
    shown = " and ".join(f for f in files if f)
    ruleset = _saved_ruleset(script, paths, shown, notes)
    if ruleset is None:
        return Firewall("iptables", on=None, at_boot=at_boot, blocks=None, how="")
    return dataclasses.replace(_from_ruleset(ruleset, "iptables"), at_boot=at_boot)


def _saved_ruleset(script: str, paths: list[str], shown: str, notes: list[str]) -> Ruleset | None:
    """What the saved rules would do once loaded, loaded by nft (or iptables-nft) itself into
    the empty ruleset of a network namespace of our own, so that what they mean (includes,
    definitions, a later flush, a chain defined twice) is the program's reading, not a guess.
    A user makes the namespace inside a user namespace of their own; without either, the
    file cannot be judged from here."""
    unshare = shutil.which("unshare", path=NFT_PLACES)
    shell = shutil.which("sh", path=NFT_PLACES)
    if unshare is None or shell is None or shutil.which("nft", path=NFT_PLACES) is None:
        notes.append(f"{shown} was not judged: nft or unshare is not installed.")
        return None
    private = ["--net"] if os.geteuid() == 0 else ["--user", "--map-root-user", "--net"]
    try:
        done = _quiet_run([unshare, *private, shell, "-c", script, "sh", *paths])
    except subprocess.TimeoutExpired:
        notes.append(f"{shown} was not judged: loading it took more than {NFT_TIMEOUT:g} s.")
        return None
    except OSError as err:
        notes.append(f"{shown} was not judged ({(err.strerror or str(err)).lower()}).")
        return None
    if done.returncode == 3:
        notes.append(
            f"{shown} was not judged: its rules do not load as they are here (an interface "
            "they name may be missing, or a file they include cannot be read)."
        )
        return None
    if done.returncode != 0 or len(done.stdout) > NFT_OUTPUT_LIMIT:
        notes.append(
            f"{shown} was not judged: this account may not load rules into a network "
            "namespace of its own."
        )
        return None
    try:
        found = read_ruleset(json.loads(done.stdout or b'{"nftables": []}'))
    except (ValueError, RecursionError):
        found = None
    if found is None:
        notes.append(f"{shown} was not judged: nft answered in a form this agent does not read.")
    return found


def _assignments(text: str) -> dict[str, str]:
    """NAME=value lines as sh reads them when it sources the file: the value up to a blank,
    quotes removed, a carriage return kept; the last one counts."""
    found = {}
    for line in text.split("\n"):
        match = _ASSIGNMENT.match(line)
        if match is not None:
            found[match[1]] = _sh_word(match[2])
    return found


def _sh_word(text: str) -> str:
    word = []
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            else:
                word.append(char)
        elif char in "\"'":
            quote = char
        elif char in " \t;#":
            break
        else:
            word.append(char)
    return "".join(word)


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
