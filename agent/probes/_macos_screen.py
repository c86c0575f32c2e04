"""When this Mac's screen locks by itself, and the settings a policy names. Facts only.

Every fact comes from a program of the base system, run from its absolute path with a fixed
argument list (a domain or key in it is one the policy names, checked not to look like an
option), LC_ALL=C, a timeout of a few seconds and no shell.

Screen lock (`screen_lock`) joins three settings, as Lock Screen in System Settings shows them:

- Whether a password is asked, and how soon: `sysadminctl -screenLock status`, which writes
  one NSLog line to stderr ("2024-05-02 09:14:03.118 sysadminctl[812:9921] screenLock delay
  is immediate"): "delay is immediate", "delay is N seconds", or "screenLock is off". A
  negative delay ("-1 seconds", as some report for off) counts as off. This is "Require
  password after screen saver begins or display is turned off"; macOS asks for it on waking
  from sleep by the same setting, so `on_resume` is `enabled`.
- When the screen saver starts: `defaults -currentHost read com.apple.screensaver idleTime`
  (seconds, 0 = never). A configuration profile's value (`defaults read "/Library/Managed
  Preferences/com.apple.screensaver" idleTime`) wins over the person's. Neither set: 1200
  seconds, the default macOS gives new accounts (as the CIS benchmarks and SCAP on Apple
  CCE-28385-3 record it).
- When the display sleeps: `pmset -g custom`, `displaysleep` in minutes (0 = never) for each
  power source the Mac has ("Battery Power", "AC Power", "UPS Power"). The larger is taken,
  never when any is 0: the figure then holds on whichever source the Mac runs, now or after
  the charger is pulled. `detail` names each.

`locks_after` is the sooner of the screen saver and display sleep, plus the password delay;
None when the password is off or neither ever starts.

Settings (`read_settings`): store "defaults" only, path (domain, key), `defaults read` (with
-currentHost for `current_host`). Booleans print as 1/0 and are returned as whole numbers;
numbers as int or float; arrays ("(\\n    a,\\n    \\"b c\\"\\n)") as a tuple of strings,
quoted items unescaped; anything else (text, dates, data, dictionaries) as the text defaults
printed. An absent domain or key ("Domain X does not exist", "The domain/default pair of (X,
Y) does not exist", exit status 1) is SettingRead(None). defaults says the same for a file it
may not read (/var/db/locationd's, which only _locationd and root may read), so when the
domain is a file path the file is looked at: one this user may not read gives a problem, not
"not set".

Failures: `screen_lock` raises ProbeUnavailable with one sentence when sysadminctl, defaults
or pmset is missing, refused, slower than its timeout, or answers in a form this module does
not know; the tools' output is never put in the sentence. `read_settings` never raises: a
setting that cannot be read carries the reason as its problem.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from agent.durations import spoken
from agent.errors import ProbeUnavailable
from agent.probes import Desktop, ScreenLock, Setting, SettingRead, SettingValue
from agent.probes._macos_console import Answer, Runner, ask, run_command

__all__ = ["desktop", "read_settings", "screen_lock"]

# Says why this user may not read a preferences file ("only root may read ..."); None when
# it may, or when the file is not there.
Inspector = Callable[[str], str | None]

MACOS = Desktop("macos", "macOS")
SCREEN_LOCK_STATUS = ("/usr/sbin/sysadminctl", "-screenLock", "status")
SAVER_IDLE = ("/usr/bin/defaults", "-currentHost", "read", "com.apple.screensaver", "idleTime")
MANAGED_SAVER_IDLE = (
    "/usr/bin/defaults",
    "read",
    "/Library/Managed Preferences/com.apple.screensaver",
    "idleTime",
)
POWER_SETTINGS = ("/usr/bin/pmset", "-g", "custom")
# New accounts start the screen saver after 20 minutes (CIS macOS benchmarks; SCAP on Apple).
DEFAULT_SAVER_SECONDS = 1200
TIMEOUTS = {"/usr/sbin/sysadminctl": 5, "/usr/bin/defaults": 3, "/usr/bin/pmset": 3}

_OFF = re.compile(r"screenLock\s+is\s+off", re.IGNORECASE)
_ON = re.compile(r"screenLock\s+is\s+on\b", re.IGNORECASE)
_IMMEDIATE = re.compile(r"screenLock\s+delay\s+is\s+immediate", re.IGNORECASE)
_DELAY = re.compile(r"screenLock\s+delay\s+is\s+(-?\d+(?:\.\d+)?)\s+seconds?", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+")
_DECIMAL = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")
_SOURCES = {"battery power": "on battery", "ac power": "on power adapter", "ups power": "on UPS"}
_ABSENT = "does not exist"


def defaults_read(domain: str, key: str, current_host: bool = False) -> tuple[str, ...]:
    host = ("-currentHost",) if current_host else ()
    return ("/usr/bin/defaults", *host, "read", domain, key)


def _runner(env: Mapping[str, str]) -> Runner:
    home = env.get("HOME", "")

    def run(argv: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
        return run_command(argv, TIMEOUTS.get(argv[0], 3), home)

    return run


def _ask(run: Runner, argv: Sequence[str]) -> Answer | str:
    return ask(run, argv, TIMEOUTS.get(argv[0], 3))


def desktop(env: Mapping[str, str]) -> Desktop:
    """Every Mac the agent runs on has its one desktop."""
    del env
    return MACOS


def screen_lock(env: Mapping[str, str], run: Runner | None = None) -> ScreenLock:
    """Whether and when the screen locks by itself, and whether it locks on waking."""
    return read_screen_lock(run or _runner(env))


def read_settings(
    settings: Iterable[Setting],
    env: Mapping[str, str],
    run: Runner | None = None,
    inspect: Inspector | None = None,
) -> dict[Setting, SettingRead]:
    """Each named setting's value, or why it could not be read."""
    run = run or _runner(env)
    inspect = inspect or _unreadable
    home = env.get("HOME", "")
    return {s: _read_setting(s, run, inspect, home) for s in dict.fromkeys(settings)}


# -- screen lock -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordDelay:
    """What sysadminctl says of the password after the saver or display sleep."""

    enabled: bool
    seconds: int | None  # None when on but the delay was not said


def read_screen_lock(run: Runner) -> ScreenLock:
    """`screen_lock` with the command runner passed in."""
    answer = _ask(run, SCREEN_LOCK_STATUS)
    if isinstance(answer, str):
        raise ProbeUnavailable(f"The screen lock setting cannot be read: {answer}.")
    password = parse_screen_lock_status(answer.err + "\n" + answer.out)
    if password is None:
        status = f" (exit status {answer.code})" if answer.code else ""
        raise ProbeUnavailable(
            "The screen lock setting cannot be read: sysadminctl answered in a form this "
            f"agent does not know{status}."
        )
    saver, saver_words = _saver_seconds(run)
    display = _display_minutes(run)

    display_never = not display or any(minutes == 0 for minutes in display.values())
    display_seconds = None if display_never else max(display.values()) * 60
    starts = [s for s in (saver or None, display_seconds) if s]
    locks_after = None
    if password.enabled and starts and password.seconds is not None:
        locks_after = timedelta(seconds=min(starts) + password.seconds)
    return ScreenLock(
        desktop=MACOS,
        source="sysadminctl -screenLock, com.apple.screensaver and pmset",
        enabled=password.enabled,
        locks_after=locks_after,
        on_resume=password.enabled,
        delay_known=password.seconds is not None or not password.enabled,
        detail="; ".join((_password_words(password), saver_words, _display_words(display))),
    )


def parse_screen_lock_status(text: str) -> PasswordDelay | None:
    """sysadminctl's line, wherever its NSLog prefix ends; None for any other answer."""
    if _OFF.search(text):
        return PasswordDelay(False, None)
    if _IMMEDIATE.search(text):
        return PasswordDelay(True, 0)
    delay = _DELAY.search(text)
    if delay:
        seconds = float(delay.group(1))
        return PasswordDelay(False, None) if seconds < 0 else PasswordDelay(True, round(seconds))
    if _ON.search(text):
        return PasswordDelay(True, None)
    return None


def _saver_seconds(run: Runner) -> tuple[int, str]:
    """The screen saver's idle time in seconds (0 = never), and where it comes from in words."""
    managed = _ask(run, MANAGED_SAVER_IDLE)
    if isinstance(managed, Answer) and managed.code == 0:
        seconds = _whole_number(managed.out)
        if seconds is not None:
            return seconds, _saver_words(seconds, "set by a configuration profile")
    answer = _ask(run, SAVER_IDLE)
    if isinstance(answer, str):
        raise ProbeUnavailable(f"The screen saver's start time cannot be read: {answer}.")
    if answer.code != 0:
        if _ABSENT in answer.err:
            return DEFAULT_SAVER_SECONDS, _saver_words(DEFAULT_SAVER_SECONDS, "macOS default")
        raise ProbeUnavailable(
            "The screen saver's start time cannot be read: defaults failed with exit status "
            f"{answer.code}."
        )
    seconds = _whole_number(answer.out)
    if seconds is None:
        raise ProbeUnavailable(
            "The screen saver's start time cannot be read: defaults gave no number of seconds."
        )
    return seconds, _saver_words(seconds, "")


def _whole_number(text: str) -> int | None:
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return max(int(text), 0)
    if _DECIMAL.fullmatch(text):
        return max(round(float(text)), 0)
    return None


def _display_minutes(run: Runner) -> dict[str, int]:
    answer = _ask(run, POWER_SETTINGS)
    if isinstance(answer, str):
        raise ProbeUnavailable(f"The display sleep time cannot be read: {answer}.")
    if answer.code != 0:
        raise ProbeUnavailable(
            f"The display sleep time cannot be read: pmset failed with exit status {answer.code}."
        )
    found = parse_pmset_display_sleep(answer.out)
    if not found:
        raise ProbeUnavailable(
            "The display sleep time cannot be read: pmset listed no displaysleep setting."
        )
    return found


def parse_pmset_display_sleep(text: str) -> dict[str, int]:
    """displaysleep (minutes) for each power source `pmset -g custom` lists, by its heading
    ("AC Power", "Battery Power"); "" for settings listed under no heading (`pmset -g`)."""
    found: dict[str, int] = {}
    source = ""
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            source = line.strip().rstrip(":")
            continue
        words = line.split()
        if len(words) >= 2 and words[0] == "displaysleep" and words[1].isdigit():
            found[source] = int(words[1])
    return found


def _password_words(password: PasswordDelay) -> str:
    if not password.enabled:
        return "no password is asked after the screen saver starts or the display sleeps"
    if password.seconds is None:
        return "a password is asked after the screen saver or display sleep, delay not stated"
    if password.seconds == 0:
        return "the password is asked at once when the screen saver starts or the display sleeps"
    return (
        f"the password is asked {spoken(timedelta(seconds=password.seconds))} after the "
        "screen saver starts or the display sleeps"
    )


def _saver_words(seconds: int, origin: str) -> str:
    where = f" ({origin})" if origin else ""
    if seconds == 0:
        return f"the screen saver never starts by itself{where}"
    return f"the screen saver starts after {spoken(timedelta(seconds=seconds))}{where}"


def _display_words(display: Mapping[str, int]) -> str:
    parts = []
    for source, minutes in display.items():
        when = "never" if minutes == 0 else f"after {spoken(timedelta(minutes=minutes))}"
        on = _SOURCES.get(source.lower(), f"on {source}" if source else "")
        parts.append(f"{when} {on}".strip())
    return "the display sleeps " + ", ".join(parts)


# -- settings --------------------------------------------------------------------------------


def _read_setting(setting: Setting, run: Runner, inspect: Inspector, home: str) -> SettingRead:
    if setting.store != "defaults":
        return SettingRead(None, f"{setting.store} settings are not kept on macOS")
    if len(setting.path) != 2 or not all(setting.path):
        return SettingRead(None, "a defaults setting is named by a domain and a key")
    domain, key = setting.path
    if domain.startswith("-") or key.startswith("-"):
        return SettingRead(None, f"{domain} {key} is not a defaults domain and key")
    if domain.startswith("~/") and home:
        domain = home.rstrip("/") + domain[1:]
    answer = _ask(run, defaults_read(domain, key, setting.current_host))
    if isinstance(answer, str):
        return SettingRead(None, f"{domain} {key} cannot be read: {answer}")
    if answer.code == 0:
        return SettingRead(parse_defaults_value(answer.out))
    if domain.startswith("/"):
        problem = inspect(domain)
        if problem is not None:
            return SettingRead(None, problem)
    if _ABSENT in answer.err:
        return SettingRead(None)
    return SettingRead(
        None, f"{domain} {key} cannot be read: defaults failed with exit status {answer.code}"
    )


def _unreadable(domain: str) -> str | None:
    """Why this user may not read the file behind a domain given as a path; None when it may
    or when there is no such file."""
    path = Path(domain if domain.endswith(".plist") else domain + ".plist")
    try:
        path.stat()
    except PermissionError:
        return f"only an administrator (root) may read {path}, so the setting cannot be read"
    except OSError:
        return None  # not there: defaults was right, it is not set
    if not os.access(path, os.R_OK):
        return f"only its owner may read {path}, so the setting cannot be read"
    return None


def parse_defaults_value(text: str) -> SettingValue:
    """A value as `defaults read DOMAIN KEY` prints it (old-style property list text)."""
    text = text[:-1] if text.endswith("\n") else text
    bare = text.strip()
    if _NUMBER.fullmatch(bare):
        return int(bare)
    if _DECIMAL.fullmatch(bare):
        return float(bare)
    # defaults starts an array's items on a new line; "(text)" on one line is text.
    if bare.startswith("(\n") and bare.endswith(")"):
        items = _array_items(bare[1:-1])
        if items is not None:
            return items
    return text


def _array_items(inner: str) -> tuple[str, ...] | None:
    """The items between an array's parentheses; nested arrays and dictionaries are kept as
    their text. None when the text is not an array after all."""
    items: list[str] = []
    i, size = 0, len(inner)
    while True:
        while i < size and inner[i].isspace():
            i += 1
        if i >= size:
            return tuple(items)
        if inner[i] == '"':
            end = _closing_quote(inner, i)
            if end is None:
                return None
            items.append(_unescape(inner[i + 1 : end]))
            i = end + 1
        elif inner[i] in "({":
            end = _closing_bracket(inner, i)
            if end is None:
                return None
            items.append(inner[i : end + 1])
            i = end + 1
        else:
            end = i
            while end < size and inner[end] not in ",\n":
                end += 1
            items.append(inner[i:end].strip())
            i = end
        while i < size and inner[i].isspace():
            i += 1
        if i < size:
            if inner[i] != ",":
                return None
            i += 1


def _closing_quote(text: str, start: int) -> int | None:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    return None


def _closing_bracket(text: str, start: int) -> int | None:
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == '"':
            end = _closing_quote(text, i)
            if end is None:
                return None
            i = end
        elif char in "({":
            depth += 1
        elif char in ")}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


_ESCAPE = re.compile(r"\\(U[0-9A-Fa-f]{4}|[0-7]{1,3}|.)", re.DOTALL)
_ESCAPED = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unescape(text: str) -> str:
    """A quoted item's text: \\" and \\\\, \\n and friends, \\U00e9 (defaults writes every
    character beyond ASCII so) and octal escapes."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "U" and len(code) == 5:
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _ESCAPED.get(code, code)

    return _ESCAPE.sub(one, text)
