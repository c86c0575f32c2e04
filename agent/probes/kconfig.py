"""KDE settings files (KConfig's INI format), layered the way KConfig itself layers them.

`read("kscreenlockerrc", env)` looks for that name in every folder of $XDG_CONFIG_DIRS
(default /etc/xdg) and in $XDG_CONFIG_HOME (default $HOME/.config). The files are read
lowest priority first: the last system folder, then the ones before it, then the
person's own file; each overrides what the earlier ones set, unless an earlier one
said `[$i]` (immutable, KDE's "kiosk" lock):

- `[$i]` alone on a line makes the whole file immutable: no later file is read at all;
- `[Group][$i]` makes the group immutable: the person's file cannot change any entry of
  it, and no later file can add one (KConfig lets a higher system file still change an
  entry a lower one set without `$i`, and so does this reader);
- `Key[$i]=value` makes that one entry immutable, within its own file too: of two copies
  of such a key the first wins, of an ordinary key the last one.

Also as KConfig reads them: nested groups `[Outer][Inner]` (asked for as "Outer][Inner"),
`Key[$d]` (deleted: what lower files set is gone), comments (`#` first on a line; `;` is
not a comment), keys and values trimmed, the escapes `\\s \\t \\n \\r \\\\ \\xNN` undone
(`\\;` and `\\,` stay as written, as KDE leaves them for its list reader), and a broken
line or group header skipped with the rest of the file still read.

Left out on purpose:
- localized entries `Key[de]=...` are skipped; the plain `Key` is what is read. KDE would
  use a localized entry matching the reading program's language, which is not the
  agent's to guess, and nothing about locking the screen is translated.
- `Key[$e]=...` values are returned as written, `$VARIABLE`s and all. KDE expands them
  from the environment of the program reading, which the agent does not share.
- kdeglobals is not merged in (as with `kreadconfig5 --file NAME`).

The values mean what KDE makes of them: `boolean()` is False only for "false", "no",
"off" or "0" (any case) and True for anything else set, even an empty value, as
KConfigGroup::readEntry decides; `integer()` reads a decimal number as Qt does,
keeping only its low 32 bits as Qt's int conversion does.

A missing file is simply empty. A file that cannot be read as text (larger than 1 MiB,
not a regular file, unreadable, binary, not UTF-8) raises ProbeUnavailable naming it.
`read_settings_file`, `home_folder`, `config_home` and `config_dirs` are shared with
the xfconf reader.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from agent.errors import ProbeUnavailable
from agent.files import FileTooLarge, NotRegularFile, read_small_file
from agent.text import printable, shown_path

MAX_BYTES = 1024 * 1024

_DEFAULT_GROUP = "<default>"
_NESTING = "\x1d"  # how KConfig joins nested group names internally
_FALSE = frozenset({"false", "no", "off", "0"})
_DECIMAL = re.compile(r"[ \t\n\r\f\v]*[+-]?[0-9]+[ \t\n\r\f\v]*", re.ASCII)
_ESCAPES: Mapping[int, bytes] = MappingProxyType(
    {
        ord("s"): b" ",
        ord("t"): b"\t",
        ord("n"): b"\n",
        ord("r"): b"\r",
        ord("\\"): b"\\",
        ord(";"): b"\\;",
        ord(","): b"\\,",
    }
)
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")


# --- shared with the xfconf reader ------------------------------------------------------


def home_folder(env: Mapping[str, str]) -> Path:
    value = env.get("HOME", "")
    return Path(value) if value else Path.home()


def config_home(env: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME, or $HOME/.config when it is unset, empty or relative."""
    value = env.get("XDG_CONFIG_HOME", "")
    if value and Path(value).is_absolute():
        return Path(value)
    return home_folder(env) / ".config"


def config_dirs(env: Mapping[str, str]) -> list[Path]:
    """$XDG_CONFIG_DIRS, highest priority first; /etc/xdg when it names no folder.

    Relative entries are dropped, as the XDG specification says: relative to the agent's
    working folder they would name nothing the desktop reads.
    """
    value = env.get("XDG_CONFIG_DIRS", "")
    found = [Path(part) for part in value.split(":") if part and Path(part).is_absolute()]
    return found or [Path("/etc/xdg")]


def read_settings_file(path: Path, home: Path, what: str) -> bytes | None:
    """The bytes of a settings file, checked to be UTF-8 text; None when there is no file.

    `what` names the kind of file in the one-sentence ProbeUnavailable raised otherwise
    ("KDE settings file").
    """
    shown = shown_path(path, home)
    try:
        data = read_small_file(path, MAX_BYTES)
    except IsADirectoryError:
        raise ProbeUnavailable(f"{shown} is a folder, not a {what}.") from None
    except NotRegularFile:
        raise ProbeUnavailable(f"{shown} is not a regular file, so it was not read.") from None
    except FileTooLarge:
        raise ProbeUnavailable(f"{shown} is larger than 1 MiB, too large for a {what}.") from None
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        if err.errno == errno.ELOOP:
            raise ProbeUnavailable(f"{shown} is a symbolic link loop.") from None
        if err.errno in (errno.EACCES, errno.EPERM):
            raise ProbeUnavailable(f"{shown} could not be read: permission denied.") from None
        reason = (err.strerror or type(err).__name__).lower()
        raise ProbeUnavailable(f"{shown} could not be read: {reason}.") from None
    if b"\x00" in data:
        raise ProbeUnavailable(f"{shown} is a binary file, not a {what}.")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ProbeUnavailable(
            f"{shown} is not UTF-8 text (byte {err.start} cannot be decoded)."
        ) from None
    return data


# --- the reader ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KConfig:
    """One KDE settings name, all its files merged."""

    name: str
    sources: tuple[str, ...]  # the files read, lowest priority first, as shown to a person
    # (group, key) -> value; nested group names joined by "\x1d" as KConfig does
    entries: Mapping[tuple[str, str], str] = field(repr=False)

    def get(self, group: str, key: str) -> str | None:
        """The value as text; None when no file sets it. A nested group is "Outer][Inner";
        the entries before any group header are in "" (or "<default>")."""
        return self.entries.get((_group_id(group), key))

    def boolean(self, group: str, key: str) -> bool | None:
        """None when not set; else False for "false", "no", "off", "0" (any case) and True
        for anything else, as KDE reads a flag."""
        value = self.get(group, key)
        if value is None:
            return None
        return value.lower() not in _FALSE

    def integer(self, group: str, key: str) -> int | None:
        """The whole number KDE reads, or None when not set or not a decimal number (where
        KDE falls back to its built-in default)."""
        value = self.get(group, key)
        if value is None or not _DECIMAL.fullmatch(value):
            return None
        number = int(value)
        if not -(2**63) <= number < 2**63:
            return None  # QString::toLongLong fails
        # Qt converts through a 64-bit number and keeps its low 32 bits.
        return (number + 2**31) % 2**32 - 2**31


def read(name: str, env: Mapping[str, str]) -> KConfig:
    """Every file named `name` (such as "kscreenlockerrc"), merged as KDE merges them."""
    if not name or PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
        raise ProbeUnavailable(f"{printable(name)!r} is not the name of a KDE settings file.")
    home = home_folder(env)
    user_file = config_home(env) / name
    candidates = [folder / name for folder in reversed(config_dirs(env))]
    candidates.append(user_file)
    merged = _Merged()
    sources: list[str] = []
    seen: set[Path] = set()
    for path in candidates:
        if path in seen:
            continue
        seen.add(path)
        data = read_settings_file(path, home, "KDE settings file")
        if data is None:
            continue
        sources.append(shown_path(path, home))
        if merged.add(data, system=path != user_file):
            break  # `[$i]` on a line of its own: KDE reads no file after this one
    values = {
        place: entry.value for place, entry in merged.entries.items() if entry.value is not None
    }
    return KConfig(name=name, sources=tuple(sources), entries=values)


def _group_id(group: str) -> str:
    if group in ("", _DEFAULT_GROUP):
        return _DEFAULT_GROUP
    return group.replace("][", _NESTING)


@dataclass
class _Entry:
    value: str | None  # None: deleted with [$d]
    immutable: bool


@dataclass
class _Merged:
    entries: dict[tuple[str, str], _Entry] = field(default_factory=dict)
    immutable_groups: set[str] = field(default_factory=set)

    def add(self, data: bytes, *, system: bool) -> bool:
        """Merge one file over what is there; True when the file makes itself immutable."""
        file_immutable = False
        group = _DEFAULT_GROUP
        group_immutable = False
        newly_immutable: list[str] = []
        for raw in data.split(b"\n"):
            line = raw.strip()
            if not line or line.startswith(b"#"):
                continue
            if line.startswith(b"["):
                group_immutable = file_immutable
                header = _header(line)
                if header is None:
                    continue  # a broken header: KConfig stays in the group it was in
                name, locks = header
                if locks and not name:
                    file_immutable = True
                elif locks:
                    group_immutable = True
                group = name
                if group_immutable:
                    newly_immutable.append(group)
                continue
            if not system and group in self.immutable_groups:
                continue
            self._entry(line, group, group_immutable)
        # A group's lock holds against the files after this one, not within it.
        self.immutable_groups.update(newly_immutable)
        return file_immutable

    def _entry(self, line: bytes, group: str, immutable: bool) -> None:
        equals = line.find(b"=")
        key, value = (line, b"") if equals < 0 else (line[:equals].strip(), line[equals + 1 :])
        if not key:
            return
        localized = False
        # Options and a locale are bracketed after the key, read from the right: Key[de][$i]
        while (start := key.rfind(b"[")) >= 0:
            end = key.find(b"]", start)
            if end < 0:
                return
            if end > start + 1 and key[start + 1] == ord("$"):
                for option in key[start + 2 : end]:
                    if option == ord("i"):
                        immutable = True
                    elif option == ord("d"):
                        self._set(group, _text(key[:start]), None, immutable)
                        return
            elif localized:
                return  # two locales: KConfig skips the line
            else:
                localized = True
            key = key[:start]
        if equals < 0 or localized:
            return
        self._set(group, _text(key), _text(value.strip()), immutable)

    def _set(self, group: str, key: str, value: str | None, immutable: bool) -> None:
        current = self.entries.get((group, key))
        if current is not None:
            if current.immutable:
                return
        elif group in self.immutable_groups:
            return
        self.entries[(group, key)] = _Entry(value, immutable)


def _header(line: bytes) -> tuple[str, bool] | None:
    """The group a header line names, and whether it ends in `[$i]`; None when broken."""
    name = b""
    locks = False
    start = 1
    while True:
        end = line.find(b"]", start)
        if end < 0:
            return None
        if end + 1 == len(line) and line[start:end] == b"$i":
            locks = True
        else:
            if name:
                name += _NESTING.encode()
            name += _unescape(line[start:end])
        start = end + 2
        if start > len(line) or line[end + 1 : end + 2] != b"[":
            return name.decode("utf-8", "replace"), locks


def _text(raw: bytes) -> str:
    # A \xNN escape may spell bytes that are not UTF-8; Qt decodes them to U+FFFD too.
    return _unescape(raw).decode("utf-8", "replace")


def _unescape(raw: bytes) -> bytes:
    """KConfig's escapes undone, its quirks kept: an unknown `\\q` leaves a backslash and
    drops the letter, a bad `\\xNN` gives "x", a backslash at the very end is dropped."""
    if b"\\" not in raw:
        return raw
    raw = raw.strip()
    out = bytearray()
    i = 0
    while i < len(raw):
        char = raw[i]
        i += 1
        if char != ord("\\"):
            out.append(char)
            continue
        if i >= len(raw):
            break
        code = raw[i]
        if code in _ESCAPES:
            out += _ESCAPES[code]
        elif code == ord("x"):
            if i + 2 >= len(raw):
                out.append(ord("x"))
                break
            digits = raw[i + 1 : i + 3]
            out.append(int(digits, 16) if set(digits) <= _HEX_DIGITS else ord("x"))
            i += 2
        else:
            out.append(ord("\\"))
        i += 1
    return bytes(out)
