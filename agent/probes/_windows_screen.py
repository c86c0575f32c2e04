"""When this Windows computer's screen locks by itself, and the settings a policy names.

Facts only; checks judge. Every command runs from System32 with a fixed argument list (a
registry key or value name in it is one the policy names, checked: a key starts with a hive
and holds no quote or control character, a name no wildcard and no option-like start), a
timeout of a few seconds, no shell and no console window.
Console programs write in the OEM code page; what they print is decoded from it with unknown
bytes replaced.

The registry is read with reg.exe, always in the 64-bit view (/reg:64, the one Windows
itself uses, even from a 32-bit Python). Values are the lines "    Name    REG_TYPE    data"
(REG_DWORD and REG_QWORD as 0x..., REG_MULTI_SZ joined by a literal \\0).

- The screen lock lists each key it needs whole (`reg query KEY`): one run gives all of
  the values it weighs.
- A setting named in a policy is read alone: `reg query KEY /f NAME /v /e`, a search for a
  value of exactly that name, so no other value of the key is read.
- reg's messages ("ERROR: The system was unable to find the specified registry key or
  value.", "ERROR: Access is denied.") are translated and both come with exit status 1, so
  their words are never read; the shape is. A query that fails prints nothing on stdout
  (the message goes to stderr), while a search that ran and found nothing prints its
  closing line ("End of search: 0 match(es) found.", in the reader's language) on stdout:
  the key is there and the value is not. When the key itself cannot be opened, its nearest
  ancestor that answers is asked whether it has a subkey of that name (`reg query PARENT
  /f NAME /k /e`, names only): yes means the key exists and this user may not read it; no
  means it is absent.

Screen lock (`screen_lock`):

- The screen saver, from HKCU\\Control Panel\\Desktop: ScreenSaveActive ("1"),
  SCRNSAVE.EXE (the saver chosen; Windows deletes it when the person picks "(None)", and no
  saver runs without it), ScreenSaverIsSecure ("1": "On resume, display logon screen") and
  ScreenSaveTimeOut (seconds, REG_SZ). The Group Policy copies of each under
  HKCU\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop win over the person's.
  Absent values take Windows' defaults: active, not secure, 900 seconds.
- The machine inactivity limit, HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\
  System InactivityTimeoutSecs (REG_DWORD; 0 or absent = none): Windows locks the session
  after that many seconds without input, whatever the screen saver says.
- enabled: a saver that runs and asks for the password, or an inactivity limit.
  locks_after: the smaller of the two that apply. The grace Windows allows after a secure
  saver starts (ScreenSaverGracePeriod, 5 seconds by default) is not added.
- on_resume, from the power setting "Require a password on wakeup": `powercfg /qh
  SCHEME_CURRENT SUB_NONE CONSOLELOCK`, read by shape (its labels are translated): the lines
  ending in ": 0x0000000N" are the AC then the battery (DC) index, 1 = ask. The Group Policy
  copies (HKLM\\SOFTWARE\\Policies\\Microsoft\\Power\\PowerSettings\\
  0e796bdb-100d-47d6-a2d5-f7d2daa51f51, ACSettingIndex and DCSettingIndex) win. On a Modern
  Standby PC, Settings > Accounts > Sign-in options "Never" is DelayLockInterval = 0xFFFFFFFF
  in HKCU\\Control Panel\\Desktop. on_resume is False when any of these says no, True when
  the power setting says yes, None when nothing answered.

Settings (`read_settings`): store "registry", path (key, value name). REG_DWORD and
REG_QWORD give int, REG_SZ and REG_EXPAND_SZ (unexpanded) str, REG_MULTI_SZ a tuple of str,
anything else (REG_BINARY's hex) str. An absent key or value is SettingRead(None); a key
this user may not read, or reg not answering, gives a problem.

Failures: `screen_lock` raises ProbeUnavailable with one sentence when reg is missing,
refused, too slow, or when HKCU\\Control Panel\\Desktop or the policy key cannot be read;
powercfg not answering leaves on_resume None. `read_settings` never raises.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import PureWindowsPath

from agent.durations import spoken
from agent.errors import ProbeUnavailable
from agent.probes import Desktop, ScreenLock, Setting, SettingRead, SettingValue
from agent.probes._windows_console import CONSOLE_ENCODING, Answer, Runner, ask, run_command

__all__ = ["desktop", "read_settings", "screen_lock"]

TIMEOUT_SECONDS = 3

WINDOWS = Desktop("windows", "Windows")
_SYSTEM32 = PureWindowsPath(os.environ.get("SYSTEMROOT", "C:\\Windows"), "System32")
REG = str(_SYSTEM32 / "reg.exe")
POWERCFG_CONSOLELOCK = (
    str(_SYSTEM32 / "powercfg.exe"),
    "/qh",
    "SCHEME_CURRENT",
    "SUB_NONE",
    "CONSOLELOCK",
)
DESKTOP_KEY = "HKCU\\Control Panel\\Desktop"
POLICY_DESKTOP_KEY = "HKCU\\Software\\Policies\\Microsoft\\Windows\\Control Panel\\Desktop"
SYSTEM_POLICY_KEY = "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System"
POWER_POLICY_KEY = (
    "HKLM\\SOFTWARE\\Policies\\Microsoft\\Power\\PowerSettings\\"
    "0e796bdb-100d-47d6-a2d5-f7d2daa51f51"
)
DEFAULT_SAVER_SECONDS = 900
NEVER_ASK = 0xFFFFFFFF  # DelayLockInterval for "Require sign-in: Never"

_HIVES = {
    "HKLM": "HKEY_LOCAL_MACHINE",
    "HKCU": "HKEY_CURRENT_USER",
    "HKCR": "HKEY_CLASSES_ROOT",
    "HKU": "HKEY_USERS",
    "HKCC": "HKEY_CURRENT_CONFIG",
}
_KEY = re.compile(
    r"^(?:"
    + "|".join([*_HIVES, *_HIVES.values()])
    + r")(?:\\[^\\/\"\x00-\x1f][^\\\"\x00-\x1f]*)*$",
    re.IGNORECASE,
)
_VALUE = re.compile(r"^ {4}(?P<name>.*?) {4}(?P<kind>REG_[A-Z0-9_]+)(?: {4}(?P<data>.*))?$")
# A value name passed to reg's search: no option-like start, quote, wildcard or control.
_NAME = re.compile(r"^[^-/\"*?\x00-\x1f][^\"*?\x00-\x1f]*$")
_INDEX = re.compile(r":\s*0x([0-9A-Fa-f]+)\s*$")


def reg_query(key: str) -> tuple[str, ...]:
    """Every value of a key, and the names of its subkeys."""
    return (REG, "query", key, "/reg:64")


def reg_value(key: str, name: str) -> tuple[str, ...]:
    """One value of a key: a search for a value of exactly that name."""
    return (REG, "query", key, "/f", name, "/v", "/e", "/reg:64")


def reg_subkey(key: str, name: str) -> tuple[str, ...]:
    """Whether a key has a subkey of exactly that name (and nothing else of it)."""
    return (REG, "query", key, "/f", name, "/k", "/e", "/reg:64")


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    return run_command(argv, TIMEOUT_SECONDS)


def _ask(run: Runner, argv: Sequence[str], encoding: str) -> Answer | str:
    return ask(run, argv, encoding, TIMEOUT_SECONDS)


def desktop(env: Mapping[str, str]) -> Desktop:
    """Every Windows session the agent runs in has the one Windows desktop."""
    del env
    return WINDOWS


def screen_lock(
    env: Mapping[str, str], run: Runner = _run, encoding: str = CONSOLE_ENCODING
) -> ScreenLock:
    """Whether and when the screen locks by itself, and whether it locks on waking.

    `env` is not needed: the settings are the registry's and the power scheme's.
    """
    del env
    return read_screen_lock(Registry(run, encoding), run, encoding)


def read_settings(
    settings: Iterable[Setting],
    env: Mapping[str, str],
    run: Runner = _run,
    encoding: str = CONSOLE_ENCODING,
) -> dict[Setting, SettingRead]:
    """Each named setting's value, or why it could not be read."""
    del env
    registry = Registry(run, encoding)
    return {s: _read_setting(s, registry) for s in dict.fromkeys(settings)}


# -- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RegValue:
    name: str
    kind: str  # "REG_SZ", "REG_DWORD", ...
    data: str  # as reg prints it


@dataclass(frozen=True)
class RegKey:
    values: Mapping[str, RegValue]  # by lower-case name
    subkeys: frozenset[str]  # the last part of each subkey's name, lower case

    def get(self, name: str) -> SettingValue | None:
        value = self.values.get(name.lower())
        return None if value is None else registry_value(value)


@dataclass(frozen=True)
class Unreadable:
    reason: str  # one clause: "Windows does not let this user read HKLM\\..."


@dataclass
class Registry:
    """Reads keys and values with reg.exe, each once; stops asking once reg has not answered.

    A query that fails prints nothing on stdout (its message goes to stderr, in the
    reader's language); a search (/f) that runs and finds nothing prints its closing line
    ("End of search: 0 match(es) found.") on stdout. That shape, never the words, tells a
    key that is there from one that is not.
    """

    run: Runner
    encoding: str
    _keys: dict[str, RegKey | Unreadable | None] = field(default_factory=dict, init=False)
    _walks: dict[str, Unreadable | None] = field(default_factory=dict, init=False)
    _silent: str | None = field(default=None, init=False)  # why reg gave no answer

    def key(self, key: str) -> RegKey | Unreadable | None:
        """The key's values and subkeys; None when it does not exist."""
        if key.lower() not in self._keys:
            answer = self._ask(reg_query(key))
            if isinstance(answer, Unreadable):
                self._keys[key.lower()] = answer
            elif answer.code == 0:
                self._keys[key.lower()] = parse_reg_query(answer.out)
            else:
                self._keys[key.lower()] = self._missing(key)
        return self._keys[key.lower()]

    def value(self, key: str, name: str) -> SettingValue | Unreadable | None:
        """One value of a key, nothing else of it; None when the key or the value is absent."""
        if key.lower() in self._walks:
            return self._walks[key.lower()]
        answer = self._ask(reg_value(key, name))
        if isinstance(answer, Unreadable):
            return answer
        if answer.code == 0:
            return parse_reg_query(answer.out).get(name)
        if answer.out.strip():
            return None  # the search ran in the key and found no such value
        return self._missing(key)

    def _missing(self, key: str) -> Unreadable | None:
        """After a query of the key failed: None when it does not exist, Unreadable when it
        exists and this user may not read it. The nearest ancestor that answers tells,
        asked only whether it has a subkey of that name."""
        if key.lower() not in self._walks:
            self._walks[key.lower()] = self._walk(key)
        return self._walks[key.lower()]

    def _walk(self, key: str) -> Unreadable | None:
        child, parent = key, _parent(key)
        while parent is not None:
            answer = self._ask(reg_subkey(parent, _last(child)))
            if isinstance(answer, Unreadable):
                return answer
            if answer.code == 0:
                if _last(child).lower() in parse_reg_query(answer.out, listing=False).subkeys:
                    return Unreadable(f"Windows does not let this user read {key}")
                return None
            if answer.out.strip():
                return None  # the parent has no such subkey
            child, parent = parent, _parent(parent)
        return Unreadable(f"Windows does not let this user read {_hive(key)}")

    def _ask(self, argv: Sequence[str]) -> Answer | Unreadable:
        if self._silent is None:
            answer = _ask(self.run, argv, self.encoding)
            if isinstance(answer, Answer):
                return answer
            self._silent = answer
        return Unreadable(self._silent)


def _parent(key: str) -> str | None:
    head, sep, _ = key.rstrip("\\").rpartition("\\")
    return head if sep else None


def _last(key: str) -> str:
    return key.rstrip("\\").rpartition("\\")[2]


def _hive(key: str) -> str:
    return key.partition("\\")[0]


def parse_reg_query(text: str, listing: bool = True) -> RegKey:
    """The values and subkeys `reg query` lists. In a listing of a key its first line naming
    a key (HKEY_...) is the key itself and later ones its subkeys; in a search for subkeys
    (listing False) every such line is a subkey found."""
    values: dict[str, RegValue] = {}
    subkeys: set[str] = set()
    seen_key = not listing
    for line in text.splitlines():
        if line.upper().startswith("HKEY_"):
            if seen_key:
                subkeys.add(_last(line.strip()).lower())
            seen_key = True
            continue
        found = _VALUE.match(line)
        if found is not None:
            value = RegValue(found["name"], found["kind"], found["data"] or "")
            values.setdefault(value.name.lower(), value)
    return RegKey(values, frozenset(subkeys))


def registry_value(value: RegValue) -> SettingValue:
    """A value as the setting's type: numbers for DWORD and QWORD, a tuple for MULTI_SZ."""
    if value.kind in ("REG_DWORD", "REG_QWORD", "REG_DWORD_BIG_ENDIAN"):
        try:
            return int(value.data.strip(), 16)
        except ValueError:
            return value.data
    if value.kind == "REG_MULTI_SZ":
        items = value.data.split("\\0")
        while items and not items[-1]:
            items.pop()
        return tuple(items)
    return value.data


def _read_setting(setting: Setting, registry: Registry) -> SettingRead:
    if setting.store != "registry":
        return SettingRead(None, f"{setting.store} settings are not kept on Windows")
    if len(setting.path) != 2:
        return SettingRead(None, "a registry setting is named by a key and a value name")
    key, name = setting.path
    key = key.rstrip("\\")
    if not _KEY.match(key):
        return SettingRead(None, f"{key} is not a registry key of this computer")
    if not _NAME.match(name):
        return SettingRead(None, f"{name!r} is not a registry value name this agent reads")
    found = registry.value(key, name)
    if isinstance(found, Unreadable):
        return SettingRead(None, f"{key} cannot be read: {found.reason}")
    return SettingRead(found)


# -- screen lock -----------------------------------------------------------------------------


def read_screen_lock(registry: Registry, run: Runner, encoding: str) -> ScreenLock:
    """`screen_lock` with the registry reader, runner and code page passed in."""
    user = _required(registry, DESKTOP_KEY, "the screen saver settings")
    policy = _optional(registry, POLICY_DESKTOP_KEY, "the Group Policy screen saver settings")
    system = _optional(registry, SYSTEM_POLICY_KEY, "the machine inactivity limit")

    def pick(name: str) -> tuple[SettingValue | None, bool]:
        value = policy.get(name) if policy is not None else None
        return (value, True) if value is not None else (user.get(name), False)

    active, active_policy = pick("ScreenSaveActive")
    program, program_policy = pick("SCRNSAVE.EXE")
    secure, secure_policy = pick("ScreenSaverIsSecure")
    timeout, timeout_policy = pick("ScreenSaveTimeOut")
    by_policy = any((active_policy, program_policy, secure_policy, timeout_policy))

    saver_on = _flag(active, True) and bool(str(program or "").strip())
    seconds = _number(timeout, DEFAULT_SAVER_SECONDS)
    saver_locks = saver_on and seconds > 0 and _flag(secure, False)
    limit = _number(system.get("InactivityTimeoutSecs") if system is not None else None, 0)

    candidates = ([seconds] if saver_locks else []) + ([limit] if limit > 0 else [])
    resume, resume_words = _on_resume(registry, user, run, encoding)
    words = [_saver_words(_flag(active, True), program, seconds, _flag(secure, False))]
    if by_policy:
        words[0] += " (set by Group Policy)"
    if limit > 0:
        words.append(
            f"Windows locks after {spoken(timedelta(seconds=limit))} without input "
            "(machine inactivity limit)"
        )
    words.append(resume_words)
    return ScreenLock(
        desktop=WINDOWS,
        source="the registry (screen saver, Group Policy) and powercfg",
        enabled=bool(candidates),
        locks_after=timedelta(seconds=min(candidates)) if candidates else None,
        on_resume=resume,
        detail="; ".join(words),
    )


def _required(registry: Registry, key: str, what: str) -> RegKey:
    found = registry.key(key)
    if isinstance(found, Unreadable):
        raise ProbeUnavailable(f"{what[0].upper()}{what[1:]} cannot be read: {found.reason}.")
    if found is None:
        raise ProbeUnavailable(f"{what[0].upper()}{what[1:]} cannot be read: {key} is missing.")
    return found


def _optional(registry: Registry, key: str, what: str) -> RegKey | None:
    found = registry.key(key)
    if isinstance(found, Unreadable):
        raise ProbeUnavailable(f"{what[0].upper()}{what[1:]} cannot be read: {found.reason}.")
    return found


def _flag(value: SettingValue | None, default: bool) -> bool:
    number = _number(value, -1)
    return default if number < 0 else number != 0


def _number(value: SettingValue | None, default: int) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


def _saver_words(active: bool, program: SettingValue | None, seconds: int, secure: bool) -> str:
    if not active:
        return "the screen saver is turned off"
    if not str(program or "").strip():
        return "no screen saver is chosen"
    if seconds <= 0:
        return "the screen saver never starts by itself"
    after = spoken(timedelta(seconds=seconds))
    if secure:
        return f"the screen saver starts after {after} and asks for the password on resume"
    return f"the screen saver starts after {after} but does not ask for the password on resume"


def _on_resume(
    registry: Registry, user: RegKey, run: Runner, encoding: str
) -> tuple[bool | None, str]:
    if _number(user.get("DelayLockInterval"), 0) == NEVER_ASK:
        return False, "Windows never asks to sign in again after the screen turns off"
    ac = dc = None
    answer = _ask(run, POWERCFG_CONSOLELOCK, encoding)
    if isinstance(answer, Answer) and answer.code == 0:
        ac, dc = parse_powercfg_indexes(answer.out)
    policy = registry.key(POWER_POLICY_KEY)
    if isinstance(policy, RegKey):
        forced_ac, forced_dc = policy.get("ACSettingIndex"), policy.get("DCSettingIndex")
        ac = ac if forced_ac is None else _number(forced_ac, 1)
        dc = dc if forced_dc is None else _number(forced_dc, 1)
    if ac is None and dc is None:
        return None, "whether waking from sleep asks for the password is not known"
    if ac == 0 and dc == 0:
        return False, "waking from sleep does not ask for the password"
    if ac == 0:
        return False, "waking from sleep asks for the password on battery only"
    if dc == 0:
        return False, "waking from sleep asks for the password when plugged in only"
    return True, "waking from sleep asks for the password"


def parse_powercfg_indexes(text: str) -> tuple[int | None, int | None]:
    """The AC and DC setting index of `powercfg /qh ... CONSOLELOCK`: the lines ending in
    ": 0x...", in that order, in any language."""
    found = [int(m.group(1), 16) for m in map(_INDEX.search, text.splitlines()) if m]
    if not found:
        return None, None
    return found[0], found[1] if len(found) > 1 else None
