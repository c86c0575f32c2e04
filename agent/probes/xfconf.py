"""Xfce settings (xfconf channels), read from the XML files xfconfd keeps them in.

`read("xfce4-screensaver", env)` reads xfce4/xfconf/xfce-perchannel-xml/CHANNEL.xml in
each system folder, then the person's own, and merges them as xfconfd 4.18 does:

- the system folders are those of $XDG_CONFIG_DIRS (default /etc/xdg) followed by
  /etc/xdg, which libxfce4util always adds last; they are read last first, so the first
  one wins among them. The person's file is $XDG_CONFIG_HOME (default ~/.config)/...,
  read after them: its values win over theirs;
- a property is a <property name=.. type=.. value=..> element; nested ones make paths such
  as /saver/idle-activation/delay. Types: bool, int, uint, uint64, int64, double, float,
  string, uchar, char, int16, uint16 and array (of <value type=.. value=../> items);
  "empty" sets no value: in a system file it clears what a lower one set, in the person's
  file it leaves the system value in force;
- `locked="LIST"` on a property in a system file locks it for the users named there
  (a semicolon-separated list of user names and @groups, where a group counts its listed
  members, not those who have it as their primary group): the person's value for it is
  ignored. `unlocked="LIST"` locks it for everyone else. "*" is not a wildcard to
  xfconfd: it locks nobody. The same on <channel> locks the whole channel: the person's
  file is then not read at all, and a lock on it drops what lower system files set;
- xfconfd stops reading a file at the first thing it cannot use (an unknown element,
  attribute or type, a value that does not parse, a version other than 1.x, a lock in
  the person's file) and keeps what came before; so does this reader. A value that does
  not parse is kept as its type's zero ("True" for a bool reads as false), as xfconfd
  keeps it.

A missing file is simply empty. A file that is not well-formed XML, declares a document
type, or cannot be read as text (larger than 1 MiB, not a regular file, unreadable,
binary, not UTF-8) raises ProbeUnavailable naming it: where a broken file stops being
read depends on the parser, so this reader does not guess.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from xml.parsers import expat

from agent.credentials.families._xml import DoctypeRefused, Element, parse
from agent.errors import ProbeUnavailable
from agent.probes import SettingValue
from agent.probes.kconfig import config_dirs, config_home, home_folder, read_settings_file
from agent.text import printable, shown_path

if sys.platform != "win32":
    import grp
    import pwd

_FOLDER = Path("xfce4") / "xfconf" / "xfce-perchannel-xml"
_WHAT = "xfconf settings file"
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
# libxfce4util appends SYSCONFDIR/xdg to $XDG_CONFIG_DIRS; SYSCONFDIR is /etc on every
# distribution that ships Xfce.
_ALWAYS_READ = Path("/etc/xdg")

_CHANNEL_ATTRIBUTES = frozenset({"name", "version", "locked", "unlocked"})
_PROPERTY_ATTRIBUTES = frozenset({"name", "type", "value", "locked", "unlocked"})
_VALUE_ATTRIBUTES = frozenset({"type", "value"})
# Whole-number types: (smallest, largest, clamps), clamps when xfconfd's conversion
# (g_ascii_strtoll/strtoull) saturates on overflow instead of failing.
_WHOLE: Mapping[str, tuple[int, int, bool]] = MappingProxyType(
    {
        "int": (-(2**31), 2**31 - 1, False),
        "uint": (0, 2**32 - 1, False),
        "int64": (-(2**63), 2**63 - 1, True),
        "uint64": (0, 2**64 - 1, True),
        "char": (-128, 127, False),
        "uchar": (0, 255, False),
        "int16": (-(2**15), 2**15 - 1, False),
        "uint16": (0, 2**16 - 1, False),
    }
)
_TYPES = frozenset({"empty", "string", "bool", "double", "float", "array", *_WHOLE})
_C_WHITESPACE = "[ \t\n\v\f\r]*"
# strtol with base 0: 0x1f is hexadecimal, 017 octal, anything after the number fails.
_C_INTEGER = re.compile(
    _C_WHITESPACE
    + r"(?P<sign>[+-]?)(?:0[xX](?P<hex>[0-9a-fA-F]+)|(?P<oct>0[0-7]*)|(?P<dec>[1-9][0-9]*))",
    re.ASCII,
)
_C_FLOAT = re.compile(
    _C_WHITESPACE + r"[+-]?(?:(?P<mantissa>[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    r"|(?P<hex>0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)"
    r"|inf(?:inity)?|nan)",
    re.ASCII | re.IGNORECASE,
)
_FLOAT_MIN = 1.1754943508222875e-38  # G_MINFLOAT: the smallest normal float, not the lowest
_FLOAT_MAX = 3.4028234663852886e38

# What the parser holds while reading: arrays stay lists until the channel is complete.
_Value = bool | int | float | str | list[str]


# eq=False: a Channel compares as the mapping it is, equal to a dict of the same values.
@dataclass(frozen=True, eq=False)
class Channel(Mapping[str, SettingValue]):
    """One xfconf channel, its files merged: a mapping of property path
    ("/saver/idle-activation/delay") to value, with what locks it and where it came from."""

    name: str
    settings: Mapping[str, SettingValue] = field(repr=False)
    locked: frozenset[str]  # properties a system file locks for this person
    channel_locked: bool  # a system file locks the whole channel for this person
    sources: tuple[str, ...]  # the files read, lowest priority first, as shown to a person

    def __getitem__(self, path: str) -> SettingValue:
        return self.settings[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self.settings)

    def __len__(self) -> int:
        return len(self.settings)

    def is_locked(self, path: str) -> bool:
        """Whether the person cannot change this property (xfconfd refuses to set it)."""
        return self.channel_locked or path in self.locked


def read(channel: str, env: Mapping[str, str]) -> Channel:
    """The channel's properties as xfconfd would serve them, without asking xfconfd."""
    if not _CHANNEL_NAME.fullmatch(channel):
        raise ProbeUnavailable(f"{printable(channel)!r} is not the name of an xfconf channel.")
    home = home_folder(env)
    user_file = config_home(env) / _FOLDER / f"{channel}.xml"
    folders: list[Path] = []
    for folder in [*config_dirs(env), _ALWAYS_READ]:
        if folder not in folders:
            folders.append(folder)
    # Last folder first; a system folder that is the person's own is read as theirs, last.
    files = [(folder / _FOLDER / f"{channel}.xml", True) for folder in reversed(folders)]
    files = [(path, system) for path, system in files if path != user_file]
    files.append((user_file, False))
    merged = _Merged()
    sources: list[str] = []
    for path, system in files:
        if not system and merged.channel_locked:
            break  # xfconfd does not open the person's file of a locked channel
        found, root = _load(path, home)
        if not found:
            continue
        sources.append(shown_path(path, home))
        if root is not None:
            merged.add(root, system=system)
    values: dict[str, SettingValue] = {}
    for name, prop in merged.properties.items():
        value = prop.value if prop.value is not None else prop.system
        if value is not None:
            values[name] = tuple(value) if isinstance(value, list) else value
    return Channel(
        name=channel,
        settings=values,
        locked=frozenset(name for name, prop in merged.properties.items() if prop.locked),
        channel_locked=merged.channel_locked,
        sources=tuple(sources),
    )


def _load(path: Path, home: Path) -> tuple[bool, Element | None]:
    """Whether the file is there, and its root element (None when it holds nothing)."""
    data = read_settings_file(path, home, _WHAT)
    if data is None:
        return False, None
    text = data.decode("utf-8")
    if not text.strip():
        return True, None  # xfconfd finds nothing in it either
    shown = shown_path(path, home)
    try:
        root = parse(text)
    except DoctypeRefused as err:
        raise ProbeUnavailable(f"{shown} was not read: {err}.") from None
    # _xml keeps what came before a break; here a break means the file is reported. The
    # second pass cannot meet a document type: parse() refused any before the break.
    checker = expat.ParserCreate(encoding="UTF-8")
    try:
        checker.Parse(data, True)
    except expat.ExpatError as err:
        problem = expat.ErrorString(err.code)
        raise ProbeUnavailable(
            f"{shown} is not well-formed XML ({problem} at line {err.lineno})."
        ) from None
    return True, root


class _Stop(Exception):
    """xfconfd stops reading the file here; what it read before stays."""


@dataclass
class _Property:
    value: _Value | None = None  # from the person's file
    system: _Value | None = None  # from the system files
    locked: bool = False


@dataclass
class _Merged:
    properties: dict[str, _Property] = field(default_factory=dict)
    channel_locked: bool = False
    # xfconfd keeps one "array being filled" for the whole file, not one per level: it is
    # forgotten whenever any property ends, and a <value> after that is an error.
    _array: list[str] | None = None
    _user: str | None = None

    def add(self, root: Element, *, system: bool) -> None:
        self._array = None
        with contextlib.suppress(_Stop):
            self._channel(root, system)

    def _channel(self, root: Element, system: bool) -> None:
        attributes = root.attributes
        if root.tag != "channel" or not attributes.keys() <= _CHANNEL_ATTRIBUTES:
            raise _Stop
        if not attributes.get("name") or not attributes.get("version"):
            raise _Stop
        if attributes["version"].partition(".")[0] != "1":
            raise _Stop
        lock = self._lock(attributes)
        if lock is not None:
            if not system or (self.channel_locked and not lock):
                raise _Stop
            if lock and not self.channel_locked:
                self.properties.clear()
                self.channel_locked = True
        self._children(root, "", system, in_property=False)

    def _children(self, element: Element, path: str, system: bool, *, in_property: bool) -> None:
        for child in element.children:
            if child.tag == "property":
                self._property(child, path, system)
            elif child.tag == "value" and in_property and self._array is not None:
                self._value(child, self._array)
            else:
                raise _Stop

    def _property(self, element: Element, parent: str, system: bool) -> None:
        attributes = element.attributes
        if not attributes.keys() <= _PROPERTY_ATTRIBUTES:
            raise _Stop
        name, kind = attributes.get("name"), attributes.get("type")
        if not name or not kind:
            raise _Stop
        path = f"{parent}/{name}"
        prop = self.properties.get(path)
        if prop is not None and prop.locked and not system and not self.channel_locked:
            # The person's value of a locked property is passed over; what is inside is not.
            self._children(element, path, system, in_property=True)
            self._array = None
            return
        if prop is None:
            prop = self.properties[path] = _Property(locked=self.channel_locked)
        prop.value = None
        if system:
            prop.system = None
        lock = self._lock(attributes)
        if lock is not None:
            if not system:
                raise _Stop
            prop.locked = True if self.channel_locked else lock
        if kind not in _TYPES:
            raise _Stop
        if kind != "empty":
            value, ok = _convert(kind, attributes.get("value"))
            if system:
                prop.system = value
            else:
                prop.value = value
            if not ok:
                raise _Stop
            if isinstance(value, list):
                self._array = value
        self._children(element, path, system, in_property=True)
        self._array = None

    def _value(self, element: Element, array: list[str]) -> None:
        attributes = element.attributes
        kind = attributes.get("type")
        if not attributes.keys() <= _VALUE_ATTRIBUTES or kind in (None, "empty", "array"):
            raise _Stop
        if kind not in _TYPES:
            raise _Stop
        value, ok = _convert(kind, attributes.get("value"))
        if not ok:
            raise _Stop
        array.append(_item_text(value))
        if element.children:
            raise _Stop  # the item counts: xfconfd added it when the <value> started

    def _lock(self, attributes: Mapping[str, str]) -> bool | None:
        """Whether a locked/unlocked attribute locks this person out; None when neither."""
        unlocked, locked = attributes.get("unlocked"), attributes.get("locked")
        if unlocked:
            return not self._in_list(unlocked)
        if locked:
            return self._in_list(locked)
        return None

    def _in_list(self, entries: str) -> bool:
        if self._user is None:
            self._user = _user_name()
        for entry in entries.split(";"):
            if entry.startswith("@"):
                if self._user in _members(entry[1:]):
                    return True
            elif entry and entry == self._user:
                return True
        return False


def _user_name() -> str:
    if sys.platform == "win32":
        return ""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "somebody"  # what GLib's g_get_user_name() answers then


def _members(group: str) -> list[str]:
    if sys.platform == "win32":
        return []
    try:
        return list(grp.getgrnam(group).gr_mem)
    except KeyError:
        return []


def _convert(kind: str, text: str | None) -> tuple[_Value, bool]:
    """The value of `text` as xfconfd converts it, and whether it converted; when it did
    not, the type's zero, which xfconfd keeps."""
    if kind == "string":
        return text or "", True  # no value attribute: xfconfd keeps a null string
    if kind == "array":
        return [], True  # the items follow as <value> elements
    if kind == "bool":
        return text == "true", text in ("true", "false")
    if kind in ("double", "float"):
        number = _c_float(text)
        if number is None:
            return 0.0, False
        if kind == "float" and not _FLOAT_MIN <= number <= _FLOAT_MAX:
            return 0.0, False  # xfconfd's range check refuses 0 and all negative floats
        return number, True
    low, high, clamps = _WHOLE[kind]
    whole = _c_integer(text)
    if whole is None:
        return 0, False
    if kind == "uint64" and -high <= whole < 0:
        whole %= 2**64  # strtoull negates in unsigned arithmetic
    if clamps:
        return min(max(whole, low), high), True
    if not low <= whole <= high:
        return 0, False
    return whole, True


def _c_integer(text: str | None) -> int | None:
    match = _C_INTEGER.fullmatch(text or "")
    if match is None:
        return None
    if match["hex"] is not None:
        magnitude = int(match["hex"], 16)
    elif match["oct"] is not None:
        magnitude = int(match["oct"], 8)
    else:
        magnitude = int(match["dec"])
    return -magnitude if match["sign"] == "-" else magnitude


def _c_float(text: str | None) -> float | None:
    match = _C_FLOAT.fullmatch(text or "")
    if match is None:
        return None
    body = match[0].lstrip(" \t\n\v\f\r")
    if match["hex"] is None:
        number = float(body)  # overflow gives infinity, as strtod does
        significand = match["mantissa"] or ""
    else:
        try:
            number = float.fromhex(body)
        except OverflowError:
            number = -math.inf if body.startswith("-") else math.inf
        significand = re.split("[pP]", match["hex"])[0][2:]
    if number == 0.0 and significand.strip("0."):
        return None  # underflow: g_ascii_strtod reports ERANGE with 0, which xfconfd refuses
    return number


def _item_text(value: _Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
