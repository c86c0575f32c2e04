"""firewalld, asked over the system bus. Facts only.

firewalld's polkit policy lets every user call the methods under its `info` action
(org.fedoraproject.FirewallD1.info: allow_any yes, in both the server and the desktop policy
it ships): getDefaultZone, zone.getActiveZones and the `state` property. A zone's settings
(zone.getZoneSettings2, which hold its target) are under `config.info`, which the desktop
policy allows everyone and the server policy (Debian's, RHEL's) only administrators. Without
polkit on the bus firewalld answers root alone (its decorators fall back to the caller's uid).
When the settings are refused, a zone's target is read from its file, as firewalld itself
would: /etc/firewalld/zones/NAME.xml when it can be read, else firewalld's shipped
/usr/lib/firewalld/zones/NAME.xml when /etc has none (firewalld keeps /etc/firewalld 0750, so
a user often cannot tell; the shipped file is then read and a note says so).

Every call: 0.5 s (agent.probes._dbus), `no_auto_start` (firewalld can be started by the bus
on Debian; asking must not start it), at most 16 zones. A call that times out ends the
questions: a service that does not answer one will not answer the next.
"""

from __future__ import annotations

import contextlib
import errno
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jeepney.wrappers import DBusAddress, DBusErrorResponse  # type: ignore[import-untyped]

from agent.files import read_small_file
from agent.probes._dbus import BUS_ERRORS, call, connect, has_owner, system_bus_addresses

NAME = "org.fedoraproject.FirewallD1"
PATH = "/org/fedoraproject/FirewallD1"
ZONE = "org.fedoraproject.FirewallD1.zone"
MAX_ZONES = 16
MAX_INTERFACES = 64
IFNAME_LENGTH = 15  # the kernel's IFNAMSIZ less its NUL
ZONE_FILE_LIMIT = 256 * 1024
# firewalld's own rule for a zone's name (firewall/core/io/zone.py: check_name), and short.
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+-]{1,17}$")
# The zones firewalld ships; only these names are ever shown (a name of one's own is text
# from a setting, and is not).
BUILT_IN = frozenset(
    {"block", "dmz", "drop", "external", "home", "internal", "nm-shared", "public", "trusted",
     "work", "FedoraServer", "FedoraWorkstation", "libvirt", "libvirt-routed", "docker"}
)  # fmt: skip


@dataclass(frozen=True)
class Zone:
    name: str
    target: str | None  # "default", "ACCEPT", "DROP", "%%REJECT%%"; None: not known
    interfaces: tuple[str, ...]  # the active interfaces in it
    default: bool  # the default zone (interfaces in no zone are in it)
    from_file: str = ""  # "" when firewalld said; else which file it was read from
    sources: int = 0  # how many source addresses bind connections to it
    every_port: bool = False  # it opens every TCP or UDP port (1-65535)


@dataclass(frozen=True)
class Firewalld:
    bus: bool  # a system bus answered
    running: bool
    failed: bool  # firewalld says its state is FAILED: it could not load its rules
    zones: tuple[Zone, ...]
    problem: str = ""  # why something could not be read, one clause


def ask_firewalld(env: dict[str, str] | Any, root: Path) -> Firewalld:
    connection = connect(system_bus_addresses(env))
    if connection is None:
        return Firewalld(bus=False, running=False, failed=False, zones=())
    with connection:
        try:
            if not has_owner(connection, NAME):
                return Firewalld(bus=True, running=False, failed=False, zones=())
        except BUS_ERRORS:
            return Firewalld(False, False, False, (), "the system bus did not answer")
        return _ask(connection, root)


def _ask(connection: Any, root: Path) -> Firewalld:
    main = DBusAddress(PATH, bus_name=NAME, interface=NAME)
    zones = DBusAddress(PATH, bus_name=NAME, interface=ZONE)
    try:
        state = _property(connection, "state")
        default = call(connection, main, "getDefaultZone")[0]
        active = call(connection, zones, "getActiveZones")[0]
    except DBusErrorResponse as err:
        return Firewalld(True, True, False, (), _refused(err))
    except BUS_ERRORS:
        return Firewalld(True, True, False, (), "firewalld did not answer in time")
    failed = state == "FAILED"
    problem = ""
    if state not in ("RUNNING", "FAILED"):
        problem = "firewalld says it is not running normally"
    if not isinstance(default, str) or not isinstance(active, dict):
        return Firewalld(True, True, failed, (), "firewalld answered in a form not understood")
    names: dict[str, tuple[tuple[str, ...], int]] = {default: ((), 0)} if default else {}
    if len(active) > MAX_ZONES:
        problem = f"firewalld has more than {MAX_ZONES} active zones"
    for name, given in list(active.items())[:MAX_ZONES]:
        bound = given if isinstance(given, dict) else {}
        interfaces = bound.get("interfaces", [])
        sources = bound.get("sources", [])
        interfaces = interfaces if isinstance(interfaces, list) else []
        names[str(name)] = (
            tuple(str(i)[:IFNAME_LENGTH] for i in interfaces[:MAX_INTERFACES]),
            len(sources) if isinstance(sources, list) else 1,
        )
    found = []
    refused = False
    for name, (interfaces, sources) in list(names.items())[:MAX_ZONES]:
        target: str | None = None
        every_port = False
        source = ""
        if not refused:
            try:
                target, every_port = _target(connection, zones, name)
            except DBusErrorResponse:
                refused = True
            except BUS_ERRORS:
                problem = "firewalld did not answer in time"
                break
        if target is None and refused:
            target, source = zone_file_target(root, name)
        found.append(Zone(name, target, interfaces, name == default, source, sources, every_port))
    return Firewalld(True, True, failed, tuple(found), problem)


def _property(connection: Any, name: str) -> Any:
    properties = DBusAddress(PATH, bus_name=NAME, interface="org.freedesktop.DBus.Properties")
    value = call(connection, properties, "Get", "ss", NAME, name)[0]
    # a variant: (signature, value)
    return value[1] if isinstance(value, tuple) and len(value) == 2 else value


def _target(connection: Any, zones: DBusAddress, name: str) -> tuple[str | None, bool]:
    """The zone's target (None when not understood), and whether it opens every port."""
    settings = call(connection, zones, "getZoneSettings2", "s", name)[0]
    if not isinstance(settings, dict):
        return None, False
    target = _unwrap(settings.get("target"))
    ports = _unwrap(settings.get("ports"))
    every_port = isinstance(ports, list) and any(
        isinstance(p, list | tuple) and len(p) == 2 and _every_port(p[0]) for p in ports
    )
    # A zone left at firewalld's default does not list a target at all.
    if target is None:
        return "default", every_port
    return (target if isinstance(target, str) else None), every_port


def _unwrap(value: Any) -> Any:
    """A variant's value: jeepney gives (signature, value)."""
    return value[1] if isinstance(value, tuple) and len(value) == 2 else value


def _every_port(port: Any) -> bool:
    low, _, high = str(port).partition("-")
    return low.strip() in ("0", "1") and high.strip() == "65535"


def _refused(err: DBusErrorResponse) -> str:
    name = str(getattr(err, "name", ""))
    if "NotAuthorized" in name or "AccessDenied" in name:
        return "firewalld answers only administrators on this computer"
    return "firewalld refused to say which zones are active"


def zone_file_target(root: Path, name: str) -> tuple[str | None, str]:
    """(target, which file said it) from the zone's XML file; (None, "") when none can be
    read. The shipped file is read only when /etc holds no file of that name, or when
    whether it does cannot be told (firewalld keeps /etc/firewalld from other users)."""
    if not _ZONE_NAME.match(name):
        return None, ""
    local = root / "etc/firewalld/zones" / f"{name}.xml"
    shipped = root / "usr/lib/firewalld/zones" / f"{name}.xml"
    try:
        return _xml_target(read_small_file(local, ZONE_FILE_LIMIT)), "/etc/firewalld"
    except FileNotFoundError:
        pass
    except PermissionError:
        # Not even whether it exists is known: the shipped file may be overridden.
        target = _shipped(shipped)
        return target, "/usr/lib/firewalld (shipped; /etc/firewalld cannot be read)"
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.ENOTDIR):
            return None, ""
    return _shipped(shipped), "/usr/lib/firewalld"


def _shipped(path: Path) -> str | None:
    try:
        return _xml_target(read_small_file(path, ZONE_FILE_LIMIT))
    except OSError:
        return None


def _xml_target(data: bytes) -> str | None:
    """The `target` of the <zone> root element; "default" when it has none; None when the
    document is not a zone (or declares a document type, which is never expanded)."""
    # Imported here: only a computer with firewalld refusing its zones pays for expat.
    from xml.parsers import expat  # noqa: PLC0415

    found: list[str | None] = []
    parser = expat.ParserCreate()

    def start(tag: str, attributes: dict[str, str]) -> None:
        if not found:
            found.append(attributes.get("target", "default") if tag == "zone" else None)
            raise StopIteration

    def doctype(*_: object) -> None:
        raise ValueError("a document type declaration")

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    with contextlib.suppress(StopIteration, ValueError, expat.ExpatError):
        parser.Parse(data, True)
    return found[0] if found else None
