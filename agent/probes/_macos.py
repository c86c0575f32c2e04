"""macOS facts: who is signed in, how long each terminal has been idle, the desktop's idle.

Where each figure comes from:
- Sessions: `/usr/bin/who -u`, which lists the login records (utmpx) whose terminal still
  exists: `console` is the graphical login, `ttys00N` a terminal window or an SSH login,
  and the remote host, when there is one, stands last in parentheses. `-u` adds the pid
  of the login process, so that a record whose process has ended is left out (the
  contract of `sessions`). Two implementations of `who` have shipped with macOS (the
  FreeBSD one, columns padded with spaces, and the NetBSD one, pid and host after tabs);
  the parser reads the fields in order and does not count columns, so both parse.
- Login times: `who` prints local time without a year ("Nov 21 09:14"). It runs with
  LC_ALL=C, so month names are English, and in this process's time zone; the year is
  the latest one that does not put the login in the future. A login more than a year old
  therefore reads as less than a year old: `who` gives nothing better.
- Terminal idle: the access time of the terminal device, which reading typed input
  updates; this is what `w` shows (`who -u` itself shows the modification time, which
  output updates as well, so it is not used).
- Console idle and `desktop_idle`: HIDIdleTime of IOHIDSystem, in nanoseconds, from
  `ioreg -c IOHIDSystem -d 4 -r -k HIDIdleTime`: the time since the last keyboard, mouse
  or trackpad input anywhere. It belongs to whoever has the console, so a console
  session switched out by fast user switching gets no idle time.
- Locked: `ioreg -n Root -d1 -a` describes each graphical session in IOConsoleUsers. A
  session whose screen is locked carries CGSSessionScreenIsLocked = true; an unlocked
  one does not carry the key at all. A session that is not on the console (another
  user switched in, or the displays asleep) cannot be told apart, so it is "unknown".
  This reads the same record that CGSessionCopyCurrentDictionary returns, without
  linking a framework.

Failures: when `who` cannot run or fails, `sessions` raises ProbeUnavailable (an empty
list would read as "nobody is signed in"); when `ioreg` cannot answer, a console session
has no idle time and the lock state is unknown. `desktop_idle` raises ProbeUnavailable
when ioreg cannot run, and returns None when the output has no HIDIdleTime or when this
user has no graphical session. A line that cannot be parsed is skipped.
"""

from __future__ import annotations

import os
import plistlib
import re
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from xml.parsers.expat import ExpatError

import psutil

from agent.errors import ProbeUnavailable
from agent.probes import DesktopIdle, Session
from agent.probes.hosts import remote_host

__all__ = ["desktop_idle", "sessions"]

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]

WHO = ("/usr/bin/who", "-u")
IOREG_IDLE = ("/usr/sbin/ioreg", "-c", "IOHIDSystem", "-d", "4", "-r", "-k", "HIDIdleTime")
IOREG_ROOT = ("/usr/sbin/ioreg", "-n", "Root", "-d1", "-a")
TIMEOUT_SECONDS = 5
# How far in the future a login time may fall and still count as this year's: clocks that
# were stepped back after a login must not turn it into one from a year ago.
_FUTURE_SLACK = timedelta(days=1)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_WHO_LINE = re.compile(
    r"^(?P<user>\S+)\s+(?P<line>\S+)\s+"
    r"(?P<month>[A-Z][a-z]{2})\s+(?P<day>\d{1,2})\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?:\s+(?:\.|old|\d{1,2}:\d{2})\s+(?P<pid>\d+|\?))?"
    r"\s*(?:\((?P<host>.*)\))?\s*$"
)
_HID_IDLE = re.compile(r'"HIDIdleTime"\s*=\s*(\d+)')


def sessions(now: datetime) -> list[Session]:
    """Who is signed in, from `who -u`, with each terminal's idle time."""
    return read_sessions(now, _run, _access_time, psutil.pid_exists)


def desktop_idle(env: Mapping[str, str]) -> DesktopIdle | None:
    """Time since the last input, and whether this user's screen is locked.

    `env` is not needed here: macOS has one console, and the session is found by user id.
    """
    del env
    return read_desktop_idle(_run, os.getuid())


# Reading the machine, through a runner and a stat function that tests replace.


def read_sessions(
    now: datetime,
    run: Runner,
    access_time: Callable[[str], float],
    alive: Callable[[int], bool],
    tz: tzinfo | None = None,
) -> list[Session]:
    """`sessions` with the command runner, the device stat and the pid check passed in."""
    found = [s for s in parse_who(_output(run, WHO), now, tz) if s.pid is None or alive(s.pid)]
    consoles = [s for s in found if s.terminal == "console"]
    hid_idle: timedelta | None = None
    on_console: set[str] | None = None  # None: ioreg could not say who has the console
    if consoles:
        try:
            hid_idle = parse_ioreg_idle(_output(run, IOREG_IDLE))
        except ProbeUnavailable:
            hid_idle = None
        users = _console_users(run)
        if users is not None:
            on_console = {u.name for u in users if u.on_console}
    result = []
    for session in found:
        if session.terminal == "console":
            has_console = len(consoles) == 1 if on_console is None else session.user in on_console
            idle = hid_idle if has_console else None
        else:
            idle = _tty_idle(session.terminal, now, access_time)
        result.append(replace(session, idle=idle))
    return result


def read_desktop_idle(run: Runner, uid: int) -> DesktopIdle | None:
    """`desktop_idle` with the command runner and the user id passed in."""
    idle = parse_ioreg_idle(_output(run, IOREG_IDLE))
    if idle is None:
        return None
    users = _console_users(run)
    if users is None:
        return DesktopIdle(idle=idle, locked=None, source="HIDIdleTime")
    mine = [u for u in users if u.uid == uid]
    if not mine:
        return None  # signed in only at a terminal or over SSH: no desktop of ours
    return DesktopIdle(idle=idle, locked=mine[0].lock_state(), source="HIDIdleTime")


def _console_users(run: Runner) -> list[ConsoleUser] | None:
    try:
        return parse_console_users(_output(run, IOREG_ROOT))
    except ProbeUnavailable:
        return None


def _tty_idle(
    terminal: str, now: datetime, access_time: Callable[[str], float]
) -> timedelta | None:
    if not terminal.startswith("tty") or "/" in terminal:
        return None
    try:
        accessed = access_time(f"/dev/{terminal}")
    except OSError:
        return None
    return max(timedelta(0), now - datetime.fromtimestamp(accessed, now.tzinfo))


def _access_time(path: str) -> float:
    return Path(path).stat().st_atime


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
    if "TZ" in os.environ:
        env["TZ"] = os.environ["TZ"]  # `who` must print times in the zone they are read in
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT_SECONDS,
        check=False,
        env=env,
    )


def _output(run: Runner, argv: Sequence[str]) -> str:
    name = Path(argv[0]).name
    try:
        done = run(argv)
    except FileNotFoundError as err:
        raise ProbeUnavailable(f"{argv[0]} is not on this Mac.") from err
    except subprocess.TimeoutExpired as err:
        raise ProbeUnavailable(f"{name} did not answer within {TIMEOUT_SECONDS} seconds.") from err
    except OSError as err:
        raise ProbeUnavailable(f"{name} could not be run: {err.strerror or err}.") from err
    if done.returncode != 0:
        said = (done.stderr or "").strip().splitlines()
        reason = f": {said[0].rstrip('.')}" if said else ""
        raise ProbeUnavailable(f"{name} failed with exit status {done.returncode}{reason}.")
    return done.stdout


# Parsers: text in, facts out; a line they do not understand is skipped, never raised.


def parse_who(text: str, now: datetime, tz: tzinfo | None = None) -> list[Session]:
    """The sessions `who` or `who -u` lists, without idle times.

    `tz` is the zone `who` printed its times in; None means this machine's local zone,
    with its daylight-saving rules.
    """
    found = []
    for line in text.splitlines():
        match = _WHO_LINE.match(line)
        if match is None:
            continue
        started = _login_time(match, now, tz)
        if started is None:
            continue
        pid = match["pid"]
        found.append(
            Session(
                user=match["user"],
                terminal=match["line"],
                host=remote_host(match["host"] or ""),
                started=started,
                pid=int(pid) if pid and pid.isdigit() and int(pid) > 0 else None,
                idle=None,
            )
        )
    return found


def _login_time(match: re.Match[str], now: datetime, tz: tzinfo | None) -> datetime | None:
    month = _MONTHS.get(match["month"])
    if month is None:
        return None
    day, hour, minute = int(match["day"]), int(match["hour"]), int(match["minute"])
    year = now.astimezone(tz).year
    # Eight years back reaches a 29 February from any date.
    for candidate in range(year, year - 8, -1):
        try:
            when = _localize(datetime(candidate, month, day, hour, minute), tz)
        except ValueError:
            continue
        if when <= now + _FUTURE_SLACK:
            return when
    return None


def _localize(naive: datetime, tz: tzinfo | None) -> datetime:
    """A wall-clock time read from a command, made aware in `tz` (None: this machine's)."""
    return naive.astimezone() if tz is None else naive.replace(tzinfo=tz)


def parse_ioreg_idle(text: str) -> timedelta | None:
    """HIDIdleTime (nanoseconds) as a duration; the shortest when several objects carry it."""
    values = [int(v) for v in _HID_IDLE.findall(text)]
    if not values:
        return None
    return timedelta(microseconds=min(values) // 1000)


@dataclass(frozen=True)
class ConsoleUser:
    """One graphical session, as IOConsoleUsers describes it."""

    name: str
    uid: int | None
    on_console: bool | None
    screen_locked: bool

    def lock_state(self) -> bool | None:
        if self.screen_locked:
            return True
        return False if self.on_console else None


def parse_console_users(text: str) -> list[ConsoleUser] | None:
    """The graphical sessions in `ioreg -n Root -d1 -a`; None when the output is not one."""
    try:
        root = plistlib.loads(text.encode("utf-8"))
    except (ValueError, ExpatError):
        return None
    if isinstance(root, list):  # one entry per match; `-n Root` matches one
        root = root[0] if root else None
    if not isinstance(root, dict) or not isinstance(root.get("IOConsoleUsers"), list):
        return None
    users = []
    for entry in root["IOConsoleUsers"]:
        if not isinstance(entry, dict):
            continue
        uid = entry.get("kCGSSessionUserIDKey")
        on_console = entry.get("kCGSSessionOnConsoleKey")
        users.append(
            ConsoleUser(
                name=str(entry.get("kCGSSessionUserNameKey", "")),
                uid=uid if isinstance(uid, int) and not isinstance(uid, bool) else None,
                on_console=on_console if isinstance(on_console, bool) else None,
                screen_locked=entry.get("CGSSessionScreenIsLocked") is True,
            )
        )
    return users
