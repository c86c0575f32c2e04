"""Windows facts: who is signed in (Remote Desktop Services sessions) and the desktop's idle.

Sessions come from the Remote Desktop Services API (wtsapi32: WTSEnumerateSessionsW, then
WTSQuerySessionInformationW for WTSSessionInfoEx, WTSClientProtocolType and WTSClientName).
`quser` is the fallback, run only when that API cannot be loaded or answers with an error.
The API comes first because:
- it answers in numbers and UTC, where `quser` translates its headers, states and idle
  words ("Disc" is "Getr." in German, "none" is "Kein") and prints LOGON TIME in the
  user's date format, which cannot always be read back ("3/02/2023" is 2 March in the
  US and 3 February in Australia);
- it says where an RDP session comes from (the client's computer name), which quser
  does not, and the exact logon time;
- it costs a library call instead of starting a process every few seconds;
- quser.exe comes with the Remote Desktop tools and is reported missing on Home editions.

What a Session holds here:
- terminal: the session's WinStation name in lower case ("console", "rdp-tcp#3"), as
  quser prints it; a session without one (a disconnected session has none) is
  "session N (disconnected)", or "session N" when it is not disconnected.
- host: "" for the console; for a session over RDP or ICA, the computer name the client
  reported, or "unknown client" when it reported none: such a session is a login from
  elsewhere, and an empty host would say it was local. quser names no client, so there
  every RDP session is from "unknown client".
- started: the logon time. quser prints it in the signed-in user's date format: the US
  ("11/21/2026 9:14 AM"), day-first ("21/11/2026 09:14", "21.11.2026 09:14",
  "21-11-2026 09:14", Australia's "21/11/2026 9:14 am") and year-first
  ("2026-11-21 09:14") forms are read; when a date fits two forms, the one that is not
  in the future wins. A session whose logon time cannot be read is kept with `started`
  = now: who is signed in matters more than since when, and "now" can never make a
  session look older than it is.
- idle: from the session's last input time; None where Windows keeps none (quser prints
  "none", typically for the console), and `desktop_idle` covers the session this agent
  runs in. A disconnected session with no input time is idle since it was disconnected.
- pid: None; a Windows session has no login process to name.

`desktop_idle` reads GetLastInputInfo (the tick count of the last input in this
session) against GetTickCount64. The difference is taken modulo 2**32, so it survives
the 32-bit count wrapping every 49.7 days (an idle longer than that would read short).
Locked comes from WTSSessionInfoEx's SessionFlags for this session (WTS_SESSIONSTATE_LOCK
or _UNLOCK; None when Windows says unknown). Windows 7 swaps the two flags, but Python
3.11 does not run there. Checking for LogonUI.exe was rejected: it also runs for the
sign-in screen of another session; so was OpenInputDesktop, which fails as well on the
UAC secure desktop. In session 0 (a service) there is no desktop: None.

Failures: `sessions` raises ProbeUnavailable when neither the API nor quser can answer;
quser's "No User exists for *" is an empty list. `desktop_idle` raises ProbeUnavailable
when Windows does not answer. Everything that calls into Windows is defined only on
Windows; the parsers and converters below run, and are tested, anywhere.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from ctypes import wintypes
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import PureWindowsPath

from agent.errors import ProbeUnavailable
from agent.probes import DesktopIdle, Session

__all__ = ["desktop_idle", "sessions"]

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]

TIMEOUT_SECONDS = 5
UNKNOWN_CLIENT = "unknown client"
# How far in the future a logon time may fall and still be believed (clock changes).
_FUTURE_SLACK = timedelta(days=1)
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

# wtsapi32.h
WTS_DISCONNECTED = 4  # WTS_CONNECTSTATE_CLASS
WTS_SESSIONSTATE_LOCK = 0
WTS_SESSIONSTATE_UNLOCK = 1
WTS_CURRENT_SESSION = 0xFFFFFFFF
_WTS_CLIENT_NAME = 10  # WTS_INFO_CLASS
_WTS_CLIENT_PROTOCOL_TYPE = 16
_WTS_SESSION_INFO_EX = 25
_REMOTE_PROTOCOLS = (1, 2)  # WTSClientProtocolType: 0 console, 1 ICA, 2 RDP


class WtsInfoExLevel1(ctypes.Structure):
    """WTSINFOEX_LEVEL1_W. Names are UTF-16 code units, so the layout is the same anywhere."""

    _fields_ = (
        ("SessionId", ctypes.c_uint32),
        ("SessionState", ctypes.c_int32),
        ("SessionFlags", ctypes.c_int32),
        ("WinStationName", ctypes.c_uint16 * 33),
        ("UserName", ctypes.c_uint16 * 21),
        ("DomainName", ctypes.c_uint16 * 18),
        ("LogonTime", ctypes.c_int64),
        ("ConnectTime", ctypes.c_int64),
        ("DisconnectTime", ctypes.c_int64),
        ("LastInputTime", ctypes.c_int64),
        ("CurrentTime", ctypes.c_int64),
        ("IncomingBytes", ctypes.c_uint32),
        ("OutgoingBytes", ctypes.c_uint32),
        ("IncomingFrames", ctypes.c_uint32),
        ("OutgoingFrames", ctypes.c_uint32),
        ("IncomingCompressedBytes", ctypes.c_uint32),
        ("OutgoingCompressedBytes", ctypes.c_uint32),
    )


class WtsInfoEx(ctypes.Structure):
    """WTSINFOEXW: a level number, then (for level 1, the only one) WTSINFOEX_LEVEL1_W."""

    _fields_ = (("Level", ctypes.c_uint32), ("Data", WtsInfoExLevel1))


@dataclass(frozen=True)
class WtsRecord:
    """What the Remote Desktop Services API says about one session."""

    session_id: int
    state: int  # WTS_CONNECTSTATE_CLASS
    flags: int  # WTS_SESSIONSTATE_LOCK, _UNLOCK or -1 (unknown)
    station: str
    user: str
    domain: str
    logon_time: int  # FILETIME: 100 ns ticks since 1601 (UTC); 0 when unknown
    disconnect_time: int
    last_input_time: int
    current_time: int
    protocol: int | None  # WTSClientProtocolType, None when it could not be read
    client_name: str


@dataclass(frozen=True)
class InputFacts:
    """What Windows says about input in the session this process runs in."""

    session_id: int
    tick_count: int  # GetTickCount64, milliseconds since boot
    last_input_tick: int  # GetLastInputInfo's dwTime: the low 32 bits of the tick count
    lock_flags: int | None  # WTSINFOEX SessionFlags; None when it could not be read


def sessions(now: datetime) -> list[Session]:
    """Who is signed in: Remote Desktop Services sessions, or quser's list."""
    return read_sessions(now, _wts_records, _run)


def desktop_idle(env: Mapping[str, str]) -> DesktopIdle | None:
    """Time since the last input in this session, and whether it is locked.

    `env` is not needed here: the session is the one this process runs in.
    """
    del env
    try:
        facts = _input_facts()
    except OSError as err:
        raise ProbeUnavailable(f"Windows did not say when the last input was: {err}.") from err
    return desktop_idle_from(facts)


# Deciding, from what Windows or quser said; tests call these with recorded answers.


def read_sessions(
    now: datetime,
    wts: Callable[[], list[WtsRecord]],
    run: Runner,
    tz: tzinfo | None = None,
) -> list[Session]:
    """`sessions` with the API and the command runner passed in."""
    try:
        records = wts()
    except OSError as err:
        log.debug("Remote Desktop Services did not answer (%s); asking quser", err)
        return read_quser(now, run, tz)
    return [s for s in (session_from_wts(r, now) for r in records) if s is not None]


def read_quser(now: datetime, run: Runner, tz: tzinfo | None = None) -> list[Session]:
    """The sessions quser lists; [] when it says nobody is signed in."""
    argv = [quser_path()]
    try:
        done = run(argv)
    except FileNotFoundError as err:
        raise ProbeUnavailable(
            "Windows did not list its sessions: the Remote Desktop Services API did not "
            "answer and quser.exe is not on this computer."
        ) from err
    except subprocess.TimeoutExpired as err:
        raise ProbeUnavailable(f"quser did not answer within {TIMEOUT_SECONDS} seconds.") from err
    except OSError as err:
        raise ProbeUnavailable(f"quser could not be run: {err.strerror or err}.") from err
    found = parse_quser(done.stdout, now, tz)
    if done.returncode != 0 and not found:
        said = f"{done.stderr}\n{done.stdout}".strip()
        if "No User exists" in said:
            return []
        words = " ".join(line.strip() for line in said.splitlines() if line.strip())
        reason = f": {words.rstrip('.')}" if words else ""
        raise ProbeUnavailable(f"quser failed with exit status {done.returncode}{reason}.")
    return found


def quser_path() -> str:
    root = os.environ.get("SYSTEMROOT", "C:\\Windows")
    return str(PureWindowsPath(root, "System32", "quser.exe"))


def session_from_wts(record: WtsRecord, now: datetime) -> Session | None:
    """One signed-in session; None for the services session and listeners (no user)."""
    if not record.user:
        return None
    current = filetime(record.current_time) or now
    last_input = filetime(record.last_input_time)
    if last_input is None and record.state == WTS_DISCONNECTED:
        last_input = filetime(record.disconnect_time)
    station = record.station.strip().lower()
    if record.protocol is None:
        remote = _is_remote_station(station)
    else:
        remote = record.protocol in _REMOTE_PROTOCOLS
    return Session(
        user=record.user,
        terminal=station or _unnamed(record.session_id, record.state == WTS_DISCONNECTED),
        host=(record.client_name or UNKNOWN_CLIENT) if remote else "",
        started=filetime(record.logon_time) or now,
        pid=None,
        idle=max(timedelta(0), current - last_input) if last_input else None,
    )


def record_from_wts(
    session_info_ex: bytes, protocol: bytes | None, client_name: bytes | None
) -> WtsRecord | None:
    """A WtsRecord from the buffers WTSQuerySessionInformationW returned for one session."""
    if len(session_info_ex) < ctypes.sizeof(WtsInfoEx):
        return None
    info = WtsInfoEx.from_buffer_copy(session_info_ex)
    if info.Level != 1:
        return None
    data = info.Data
    return WtsRecord(
        session_id=data.SessionId,
        state=data.SessionState,
        flags=data.SessionFlags,
        station=_utf16(bytes(data.WinStationName)),
        user=_utf16(bytes(data.UserName)),
        domain=_utf16(bytes(data.DomainName)),
        logon_time=data.LogonTime,
        disconnect_time=data.DisconnectTime,
        last_input_time=data.LastInputTime,
        current_time=data.CurrentTime,
        protocol=int.from_bytes(protocol[:2], "little")
        if protocol and len(protocol) >= 2
        else None,
        client_name=_utf16(client_name) if client_name else "",
    )


def desktop_idle_from(facts: InputFacts) -> DesktopIdle | None:
    if facts.session_id == 0:
        return None  # a service: session 0 has no desktop anyone works at
    idle_ms = (facts.tick_count - facts.last_input_tick) & 0xFFFFFFFF
    return DesktopIdle(
        idle=timedelta(milliseconds=idle_ms),
        locked=lock_state(facts.lock_flags),
        source="GetLastInputInfo",
    )


def lock_state(flags: int | None) -> bool | None:
    if flags == WTS_SESSIONSTATE_LOCK:
        return True
    if flags == WTS_SESSIONSTATE_UNLOCK:
        return False
    return None


def filetime(value: int) -> datetime | None:
    """A FILETIME (100 ns ticks since 1601, UTC) as a datetime; None for 0 (never)."""
    if value <= 0:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=value // 10)


def _utf16(raw: bytes) -> str:
    return raw.decode("utf-16-le", "replace").split("\0", 1)[0]


def _unnamed(session_id: int, disconnected: bool) -> str:
    return f"session {session_id} (disconnected)" if disconnected else f"session {session_id}"


# A protocol listener's sessions: rdp-tcp#3, ica-tcp#0, 31c5ce94259d4006a9e4#0 (Hyper-V's
# enhanced session, which is RDP over the VM bus). The console's name has no "#".
_REMOTE_STATION = re.compile(r"^\S+#\d+$")


def _is_remote_station(station: str) -> bool:
    return bool(_REMOTE_STATION.match(station))


# quser: text in, sessions out; a line it does not understand is skipped.

# From the right: ID, STATE, IDLE TIME, then LOGON TIME, which starts with its date. What is
# left of ID is USERNAME and SESSIONNAME, either of which may hold spaces or be empty.
_QUSER_ROW = re.compile(
    r"^(?P<mark>>)?(?P<names>.*?\S)\s+(?P<id>\d+)\s+(?P<state>\S+)\s+(?P<idle>\S+)\s+"
    r"(?P<logon>\d.*?)\s*$"
)
_IDLE = re.compile(r"^(?:(?P<days>\d+)\+)?(?:(?P<hours>\d+):)?(?P<minutes>\d+)$")
_DISCONNECTED_STATES = ("disc", "getr.")  # English, German


def parse_quser(text: str, now: datetime, tz: tzinfo | None = None) -> list[Session]:
    """The sessions in quser's (or `query user`'s) output, in any language.

    `tz` is the zone quser printed LOGON TIME in; None means this machine's.
    """
    session_column: int | None = None
    found = []
    for line in text.splitlines():
        match = _QUSER_ROW.match(line)
        if match is None:
            words = list(re.finditer(r"\S+", line))
            if session_column is None and len(words) >= 2:
                session_column = words[1].start()  # the header: SESSIONNAME, SITZUNGSNAME, ...
            continue
        user, station = _split_names(line, match, session_column)
        if not user:
            continue
        session_id = int(match["id"])
        disconnected = match["state"].lower() in _DISCONNECTED_STATES
        station = station.lower()
        found.append(
            Session(
                user=user,
                terminal=station or _unnamed(session_id, disconnected),
                host=UNKNOWN_CLIENT if _is_remote_station(station) else "",
                started=parse_logon_time(match["logon"], now, tz) or now,
                pid=None,
                idle=parse_idle(match["idle"]),
            )
        )
    return found


def _split_names(line: str, match: re.Match[str], column: int | None) -> tuple[str, str]:
    start, end = match.start("names"), match.end("names")
    if column is not None and start < column and (column >= end or line[column - 1].isspace()):
        return line[start : min(column, end)].strip(), line[column:end].strip()
    # No header, or a user name running into the SESSIONNAME column.
    names = line[start:end].strip()
    head, _, last = names.rpartition(" ")
    if head.strip() and (last.lower() in ("console", "services") or _is_remote_station(last)):
        return head.strip(), last
    return names, ""


def parse_idle(text: str) -> timedelta | None:
    """quser's IDLE TIME: "." (under a minute), "5", "1:05", "2+03:10"; else None ("none")."""
    if text == ".":
        return timedelta(0)
    match = _IDLE.match(text)
    if match is None:
        return None
    return timedelta(
        days=int(match["days"] or 0), hours=int(match["hours"] or 0), minutes=int(match["minutes"])
    )


_YEAR_FIRST = re.compile(r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})\.?$")
_YEAR_LAST = re.compile(r"^(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})$")
_CLOCK = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})(?::\d{2})?$")
_MORNING = ("am", "a.m.", "오전", "午前", "上午")
_AFTERNOON = ("pm", "p.m.", "오후", "午後", "下午")


def parse_logon_time(text: str, now: datetime, tz: tzinfo | None = None) -> datetime | None:
    """quser's LOGON TIME in the forms listed in the module docstring; None when unreadable."""
    words = text.split()
    if len(words) < 2:
        return None
    clock: tuple[int, int] | None = None
    half = ""
    for word in words[1:]:
        lowered = word.lower()
        if lowered in _MORNING:
            half = "am"
        elif lowered in _AFTERNOON:
            half = "pm"
        elif (found := _CLOCK.match(word)) is not None:
            clock = int(found["h"]), int(found["m"])
    if clock is None:
        return None
    hour, minute = clock
    if half == "pm" and hour < 12:
        hour += 12
    elif half == "am" and hour == 12:
        hour = 0
    for year, month, day in _date_readings(words[0], twelve_hour=bool(half)):
        try:
            naive = datetime(year, month, day, hour, minute)
        except ValueError:
            continue
        when = naive.astimezone() if tz is None else naive.replace(tzinfo=tz)
        if when <= now + _FUTURE_SLACK:
            return when
    return None


def _date_readings(word: str, twelve_hour: bool) -> list[tuple[int, int, int]]:
    """(year, month, day) readings of a date, the likeliest first."""
    if (found := _YEAR_FIRST.match(word)) is not None:
        return [(int(found["y"]), int(found["m"]), int(found["d"]))]
    found = _YEAR_LAST.match(word)
    if found is None:
        return []
    year = int(found["y"])
    year += 2000 if year < 100 else 0
    a, b = int(found["a"]), int(found["b"])
    day_first = (year, b, a)
    month_first = (year, a, b)
    if found["sep"] != "/":
        return [day_first]  # 21.11.2026, 21-11-2026: no locale puts the month first here
    if a > 12 or (found["b"].startswith("0") and not found["a"].startswith("0")):
        first = day_first  # 21/11/2026; Australia's 3/02/2023 pads only the month
    elif b > 12 or twelve_hour:
        first = month_first  # 11/21/2026; the US writes M/d/yyyy h:mm AM
    else:
        first = day_first  # 03/02/2023 without AM/PM: Britain, France, Spain, ...
    second = month_first if first == day_first else day_first
    return [first] if first == second else [first, second]


# Calling into Windows. Defined only there; elsewhere they say Windows is not here.

if sys.platform == "win32":

    def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            encoding="oem",  # console programs write the OEM code page into a pipe
            errors="replace",
            timeout=TIMEOUT_SECONDS,
            check=False,
            creationflags=subprocess.CREATE_NO_WINDOW,
        )

    def _wtsapi() -> ctypes.WinDLL:
        wtsapi = ctypes.WinDLL("wtsapi32", use_last_error=True)
        wtsapi.WTSEnumerateSessionsW.argtypes = (
            wintypes.HANDLE,
            wintypes.DWORD,
            wintypes.DWORD,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(wintypes.DWORD),
        )
        wtsapi.WTSEnumerateSessionsW.restype = wintypes.BOOL
        wtsapi.WTSQuerySessionInformationW.argtypes = (
            wintypes.HANDLE,
            wintypes.DWORD,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(wintypes.DWORD),
        )
        wtsapi.WTSQuerySessionInformationW.restype = wintypes.BOOL
        wtsapi.WTSFreeMemory.argtypes = (ctypes.c_void_p,)
        wtsapi.WTSFreeMemory.restype = None
        return wtsapi

    class _WtsSessionInfo(ctypes.Structure):
        _fields_ = (
            ("SessionId", wintypes.DWORD),
            ("pWinStationName", wintypes.LPWSTR),
            ("State", ctypes.c_int),
        )

    def _query(wtsapi: ctypes.WinDLL, session_id: int, info_class: int) -> bytes | None:
        buffer = ctypes.c_void_p()
        size = wintypes.DWORD()
        if not wtsapi.WTSQuerySessionInformationW(
            None, session_id, info_class, ctypes.byref(buffer), ctypes.byref(size)
        ):
            return None
        try:
            return ctypes.string_at(buffer, size.value) if buffer.value else None
        finally:
            wtsapi.WTSFreeMemory(buffer)

    def _wts_records() -> list[WtsRecord]:
        wtsapi = _wtsapi()
        buffer = ctypes.c_void_p()
        count = wintypes.DWORD()
        if not wtsapi.WTSEnumerateSessionsW(None, 0, 1, ctypes.byref(buffer), ctypes.byref(count)):
            raise ctypes.WinError(ctypes.get_last_error())
        try:
            infos = ctypes.cast(buffer, ctypes.POINTER(_WtsSessionInfo))
            ids = [int(infos[i].SessionId) for i in range(count.value)]
        finally:
            wtsapi.WTSFreeMemory(buffer)
        records = []
        for session_id in ids:
            info = _query(wtsapi, session_id, _WTS_SESSION_INFO_EX)
            if info is None:
                continue  # ended between the list and the question, or not ours to see
            record = record_from_wts(
                info,
                _query(wtsapi, session_id, _WTS_CLIENT_PROTOCOL_TYPE),
                _query(wtsapi, session_id, _WTS_CLIENT_NAME),
            )
            if record is not None:
                records.append(record)
        return records

    class _LastInputInfo(ctypes.Structure):
        _fields_ = (("cbSize", wintypes.UINT), ("dwTime", wintypes.DWORD))

    def _input_facts() -> InputFacts:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        user32 = ctypes.WinDLL("user32", use_last_error=True)
        kernel32.GetTickCount64.restype = ctypes.c_uint64
        session_id = wintypes.DWORD()
        if not kernel32.ProcessIdToSessionId(os.getpid(), ctypes.byref(session_id)):
            raise ctypes.WinError(ctypes.get_last_error())
        last = _LastInputInfo(cbSize=ctypes.sizeof(_LastInputInfo))
        if not user32.GetLastInputInfo(ctypes.byref(last)):
            raise ctypes.WinError(ctypes.get_last_error())
        ticks = int(kernel32.GetTickCount64())
        info = _query(_wtsapi(), WTS_CURRENT_SESSION, _WTS_SESSION_INFO_EX)
        record = record_from_wts(info, None, None) if info is not None else None
        return InputFacts(
            session_id=int(session_id.value),
            tick_count=ticks,
            last_input_tick=int(last.dwTime),
            lock_flags=record.flags if record is not None else None,
        )

else:

    def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(f"{argv[0]} exists only on Windows")

    def _wts_records() -> list[WtsRecord]:
        raise OSError("the Remote Desktop Services API exists only on Windows")

    def _input_facts() -> InputFacts:
        raise OSError("GetLastInputInfo exists only on Windows")
