"""Who is signed in on macOS and Windows, read from what `who`, `ioreg` and `quser` print.

Neither system exists here, so the commands are replaced by a recorder that answers with
their recorded outputs (tests/data/sessions/, README there says where each format comes
from), and the Windows API by the records it would return. What is asserted is what a
person would see: who, where, from where, since when, and idle for how long.
"""

from __future__ import annotations

import ctypes
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent.errors import ProbeUnavailable
from agent.probes import DesktopIdle, Session, _macos, _windows

DATA = Path(__file__).parent / "data" / "sessions"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
STOCKHOLM = ZoneInfo("Europe/Stockholm")
HID_IDLE = timedelta(minutes=45, seconds=12, microseconds=840750)  # ioreg-hididletime.txt


def recorded(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


Answer = tuple[int, str, str] | OSError | subprocess.TimeoutExpired


@dataclass
class Recorder:
    """Stands in for subprocess: answers each command line with a recorded output."""

    answers: dict[tuple[str, ...], Answer]
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        key = tuple(argv)
        self.calls.append(key)
        answer = self.answers[key]
        if isinstance(answer, BaseException):
            raise answer
        code, out, err = answer
        return subprocess.CompletedProcess(list(argv), code, out, err)


def ok(name: str) -> Answer:
    return (0, recorded(name), "")


def row(s: Session) -> tuple[str, str, str, datetime, int | None, timedelta | None]:
    return (s.user, s.terminal, s.host, s.started, s.pid, s.idle)


# macOS: who -u, the terminals' access times, ioreg.

MAC_NOW = datetime(2026, 11, 21, 12, 0, tzinfo=BERLIN)


def mac(
    who: str, root: str = "ioreg-root-unlocked.xml", idle: str = "ioreg-hididletime.txt"
) -> Recorder:
    return Recorder({_macos.WHO: ok(who), _macos.IOREG_IDLE: ok(idle), _macos.IOREG_ROOT: ok(root)})


def typed_at(ago: dict[str, timedelta]) -> Callable[[str], float]:
    def access_time(path: str) -> float:
        if path not in ago:
            raise FileNotFoundError(path)
        return (MAC_NOW - ago[path]).timestamp()

    return access_time


def test_a_mac_with_its_console_and_terminals_reads_as_who_and_w_show_it() -> None:
    run = mac("who-u-macos-freebsd.txt")
    found = _macos.read_sessions(
        MAC_NOW,
        run,
        typed_at(
            {
                "/dev/ttys000": timedelta(hours=3),
                "/dev/ttys001": timedelta(seconds=20),
                "/dev/ttys003": timedelta(minutes=29),
            }
        ),
        alive=lambda pid: pid != 59001,
        tz=BERLIN,
    )
    assert [row(s) for s in found] == [
        ("alice", "console", "", datetime(2026, 11, 14, 8, 57, tzinfo=BERLIN), 147, HID_IDLE),
        (
            "alice",
            "ttys000",
            "",
            datetime(2026, 11, 20, 9, 14, tzinfo=BERLIN),
            61203,
            timedelta(hours=3),
        ),
        (
            "alice",
            "ttys001",
            "",
            datetime(2026, 11, 21, 10, 2, tzinfo=BERLIN),
            61877,
            timedelta(seconds=20),
        ),
        (
            "alice",
            "ttys003",
            "192.168.1.20",
            datetime(2026, 11, 21, 11, 30, tzinfo=BERLIN),
            62990,
            timedelta(minutes=29),
        ),
    ]  # ttys002's login process (59001) has ended: the record is stale
    assert run.calls == [_macos.WHO, _macos.IOREG_IDLE, _macos.IOREG_ROOT]
    assert all(s.started.utcoffset() == timedelta(hours=1) for s in found)


def test_fast_user_switching_gives_the_idle_time_to_whoever_has_the_console() -> None:
    found = _macos.read_sessions(
        MAC_NOW,
        mac("who-u-macos-netbsd.txt", root="ioreg-root-switched.xml"),
        typed_at({"/dev/ttys000": timedelta(minutes=3), "/dev/ttys004": timedelta(0)}),
        alive=lambda pid: True,
        tz=BERLIN,
    )
    assert [row(s) for s in found] == [
        ("alice", "console", "", datetime(2026, 11, 14, 8, 57, tzinfo=BERLIN), 147, None),
        (
            "christopher.lee",
            "console",
            "",
            datetime(2026, 11, 21, 7, 45, tzinfo=BERLIN),
            23110,
            HID_IDLE,
        ),
        (
            "christopher.lee",
            "ttys000",
            "",
            datetime(2026, 11, 21, 7, 50, tzinfo=BERLIN),
            23542,
            timedelta(minutes=3),
        ),
        (
            "alice",
            "ttys004",
            "bobs-mbp.lan",
            datetime(2026, 11, 21, 11, 58, tzinfo=BERLIN),
            64001,
            timedelta(0),
        ),
    ]


def test_a_console_session_switched_out_has_no_idle_time_of_its_own() -> None:
    run = mac("who-u-macos-freebsd.txt", root="ioreg-root-switched.xml")
    found = _macos.read_sessions(MAC_NOW, run, typed_at({}), lambda pid: True, BERLIN)
    assert [(s.user, s.terminal, s.idle) for s in found if s.terminal == "console"] == [
        ("alice", "console", None)
    ]


def test_a_login_from_last_december_read_in_january_is_from_last_year() -> None:
    new_year = datetime(2027, 1, 2, 12, 0, tzinfo=BERLIN)
    found = _macos.parse_who(recorded("who-u-new-year.txt"), new_year, BERLIN)
    assert [(s.terminal, s.started) for s in found] == [
        ("console", datetime(2026, 12, 28, 22, 10, tzinfo=BERLIN)),
        ("ttys000", datetime(2027, 1, 2, 8, 5, tzinfo=BERLIN)),
    ]


def test_plain_who_output_parses_and_a_date_ahead_of_today_is_last_year() -> None:
    found = _macos.parse_who(recorded("who-plain.txt"), MAC_NOW, BERLIN)
    assert [row(s) for s in found] == [
        ("alice", "console", "", datetime(2025, 11, 29, 7, 0, tzinfo=BERLIN), None, None),
        ("alice", "ttys000", "", datetime(2025, 12, 7, 7, 48, tzinfo=BERLIN), None, None),
        ("alice", "ttys002", "10.0.0.7", datetime(2025, 12, 9, 22, 39, tzinfo=BERLIN), None, None),
    ]


def test_lines_who_would_never_print_are_skipped_and_the_rest_still_read() -> None:
    text = "garbage\nalice    ttys009  Foo 99 99:99\n\n" + recorded("who-plain.txt") + "\x00\n"
    found = _macos.parse_who(text, MAC_NOW, BERLIN)
    assert [s.terminal for s in found] == ["console", "ttys000", "ttys002"]


def test_nobody_signed_in_is_an_empty_list_and_ioreg_is_not_asked() -> None:
    run = mac("who-empty.txt")
    assert _macos.read_sessions(MAC_NOW, run, typed_at({}), lambda pid: True, BERLIN) == []
    assert run.calls == [_macos.WHO]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (FileNotFoundError(2, "No such file or directory"), "/usr/bin/who is not on this Mac."),
        (subprocess.TimeoutExpired("who", 5), "who did not answer within 5 seconds."),
        (
            (1, "", "who: /var/run/utmpx: Permission denied\n"),
            "who failed with exit status 1: who: /var/run/utmpx: Permission denied.",
        ),
    ],
)
def test_when_who_cannot_answer_the_check_is_told_why(answer: Answer, said: str) -> None:
    run = Recorder({_macos.WHO: answer})
    with pytest.raises(ProbeUnavailable) as raised:
        _macos.read_sessions(MAC_NOW, run, typed_at({}), lambda pid: True, BERLIN)
    assert str(raised.value) == said


def test_when_ioreg_cannot_answer_the_console_has_no_idle_time_but_is_still_listed() -> None:
    run = mac("who-u-macos-freebsd.txt")
    run.answers[_macos.IOREG_IDLE] = FileNotFoundError(2, "No such file or directory")
    run.answers[_macos.IOREG_ROOT] = (1, "", "ioreg: something went wrong\n")
    found = _macos.read_sessions(MAC_NOW, run, typed_at({}), lambda pid: True, BERLIN)
    assert [(s.terminal, s.idle) for s in found] == [
        ("console", None),
        ("ttys000", None),
        ("ttys001", None),
        ("ttys002", None),
        ("ttys003", None),
    ]


def test_hid_idle_time_is_nanoseconds_and_the_shortest_of_several_wins() -> None:
    assert _macos.parse_ioreg_idle(recorded("ioreg-hididletime.txt")) == HID_IDLE
    two = '  |   "HIDIdleTime" = 5000000000\n  |   "HIDIdleTime" = 1000000\n'
    assert _macos.parse_ioreg_idle(two) == timedelta(milliseconds=1)
    assert _macos.parse_ioreg_idle("") is None
    assert _macos.parse_ioreg_idle('"HIDIdleTime" = "soon"') is None


@pytest.mark.parametrize(
    ("root", "uid", "expected"),
    [
        ("ioreg-root-unlocked.xml", 501, DesktopIdle(HID_IDLE, False, "HIDIdleTime")),
        ("ioreg-root-locked.xml", 501, DesktopIdle(HID_IDLE, True, "HIDIdleTime")),
        # switched out: the console is someone else's, nothing says whether ours is locked
        ("ioreg-root-switched.xml", 501, DesktopIdle(HID_IDLE, None, "HIDIdleTime")),
        ("ioreg-root-switched.xml", 502, DesktopIdle(HID_IDLE, False, "HIDIdleTime")),
        # signed in over SSH only: no desktop of ours
        ("ioreg-root-unlocked.xml", 503, None),
    ],
)
def test_the_desktop_is_idle_and_locked_as_ioreg_says(
    root: str, uid: int, expected: DesktopIdle | None
) -> None:
    assert _macos.read_desktop_idle(mac("who-empty.txt", root=root), uid) == expected


def test_a_desktop_whose_lock_cannot_be_read_is_idle_with_the_lock_unknown() -> None:
    run = mac("who-empty.txt")
    run.answers[_macos.IOREG_ROOT] = (0, "not a property list", "")
    assert _macos.read_desktop_idle(run, 501) == DesktopIdle(HID_IDLE, None, "HIDIdleTime")


def test_no_hid_idle_time_means_nothing_here_can_tell() -> None:
    run = mac("who-empty.txt", idle="who-empty.txt")
    assert _macos.read_desktop_idle(run, 501) is None


def test_ioreg_missing_is_said_in_one_sentence() -> None:
    run = Recorder({_macos.IOREG_IDLE: FileNotFoundError(2, "No such file or directory")})
    with pytest.raises(ProbeUnavailable, match=r"^/usr/sbin/ioreg is not on this Mac\.$"):
        _macos.read_desktop_idle(run, 501)


# Windows: quser, in the languages and date formats Windows prints it in.

QUSER = (_windows.quser_path(),)


def quser(name: str, tz: ZoneInfo) -> list[Session]:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=tz)
    return _windows.read_quser(now, Recorder({QUSER: ok(name)}), tz)


def test_quser_rdp_console_and_disconnected_sessions() -> None:
    found = quser("quser-rdp-and-disconnected.txt", NEW_YORK)
    assert [row(s) for s in found] == [
        (
            "administrator",
            "rdp-tcp#6",
            "unknown client",
            datetime(2026, 11, 21, 9, 14, tzinfo=NEW_YORK),
            None,
            timedelta(0),
        ),
        (
            "luke",
            "session 3 (disconnected)",
            "",
            datetime(2026, 11, 20, 18, 51, tzinfo=NEW_YORK),
            None,
            timedelta(hours=1, minutes=5),
        ),
        ("maria", "console", "", datetime(2026, 11, 19, 8, 2, tzinfo=NEW_YORK), None, None),
    ]


def test_quser_user_names_with_spaces_and_idle_in_days() -> None:
    found = quser("quser-names-with-spaces.txt", NEW_YORK)
    assert [row(s) for s in found] == [
        (
            "ben bolen",
            "session 2 (disconnected)",
            "",
            datetime(2026, 11, 16, 9, 33, tzinfo=NEW_YORK),
            None,
            timedelta(days=1, minutes=53),
        ),
        (
            "mary ann jones",
            "console",
            "",
            datetime(2026, 11, 21, 8, 5, tzinfo=NEW_YORK),
            None,
            None,
        ),
    ]


def test_quser_in_german_with_a_name_that_fills_its_column() -> None:
    found = quser("quser-german.txt", BERLIN)
    assert [row(s) for s in found] == [
        ("manfred", "console", "", datetime(2026, 11, 21, 7, 58, tzinfo=BERLIN), None, None),
        (
            "leo",
            "session 3 (disconnected)",
            "",
            datetime(2026, 11, 20, 18, 26, tzinfo=BERLIN),
            None,
            timedelta(hours=2, minutes=10),
        ),
        (
            "verylongusername0123",
            "rdp-tcp#0",
            "unknown client",
            datetime(2026, 11, 21, 11, 2, tzinfo=BERLIN),
            None,
            timedelta(minutes=28),
        ),
    ]


def test_quser_with_australian_dates_reads_day_first_in_twelve_hour_time() -> None:
    found = quser("quser-australia.txt", SYDNEY)
    assert [(s.user, s.started, s.idle) for s in found] == [
        ("leon", datetime(2026, 2, 9, 19, 36, tzinfo=SYDNEY), timedelta(minutes=28)),
        ("kim", datetime(2026, 11, 21, 8, 15, tzinfo=SYDNEY), None),
    ]


def test_quser_with_year_first_dates() -> None:
    found = quser("quser-iso-dates.txt", STOCKHOLM)
    assert [(s.user, s.terminal, s.host, s.started, s.idle) for s in found] == [
        ("sven", "console", "", datetime(2026, 11, 21, 7, 30, tzinfo=STOCKHOLM), None),
        (
            "sven.admin",
            "rdp-tcp#2",
            "unknown client",
            datetime(2026, 11, 21, 10, 47, tzinfo=STOCKHOLM),
            timedelta(minutes=5),
        ),
    ]


def test_a_session_whose_logon_time_cannot_be_read_is_kept_since_now() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    header = recorded("quser-rdp-and-disconnected.txt").splitlines()[0]
    hungarian = (
        " anna                  console             1  Active      none   2026. 11. 21. 9:14"
    )
    (found,) = _windows.parse_quser(f"{header}\n{hungarian}\n", now, UTC)
    assert (found.user, found.terminal, found.started) == ("anna", "console", now)


def test_quser_rows_without_their_header_and_odd_session_names() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    rows = recorded("quser-rdp-and-disconnected.txt").splitlines()[1:]
    hyper_v = (
        " maria                 31c5ce94259d4006a9e4#0   2  Active          .  11/21/2026 9:14 AM"
    )
    found = _windows.parse_quser("\n".join([*rows, hyper_v]), now, UTC)
    assert [(s.user, s.terminal, s.host) for s in found] == [
        ("administrator", "rdp-tcp#6", "unknown client"),
        ("luke", "session 3 (disconnected)", ""),
        ("maria", "console", ""),
        ("maria", "31c5ce94259d4006a9e4#0", "unknown client"),
    ]


def test_a_disconnected_user_whose_name_ends_like_a_session_name_keeps_it() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    header = recorded("quser-rdp-and-disconnected.txt").splitlines()[0]
    line = " ops console                               4  Disc         3:00  11/21/2026 6:00 AM"
    (found,) = _windows.parse_quser(f"{header}\n{line}\n", now, UTC)
    assert (found.user, found.terminal) == ("ops console", "session 4 (disconnected)")


def test_nobody_signed_in_is_an_empty_list() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    run = Recorder({QUSER: (1, "", recorded("quser-no-user.stderr"))})
    assert _windows.read_quser(now, run, UTC) == []


def test_quser_failing_or_missing_is_said_in_one_sentence() -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    failing = Recorder({QUSER: (1, "", recorded("quser-rpc-unavailable.stderr"))})
    with pytest.raises(ProbeUnavailable) as raised:
        _windows.read_quser(now, failing, UTC)
    assert str(raised.value) == (
        "quser failed with exit status 1: Error 0x000006BA enumerating sessionnames "
        "Error [1722]:The RPC server is unavailable."
    )
    missing = Recorder({QUSER: FileNotFoundError(2, "The system cannot find the file specified")})
    with pytest.raises(ProbeUnavailable, match=r"quser\.exe is not on this computer"):
        _windows.read_quser(now, missing, UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("11/21/2026 9:14 AM", datetime(2026, 11, 21, 9, 14)),
        ("11/20/2026 12:05 AM", datetime(2026, 11, 20, 0, 5)),
        ("11/20/2026 12:05 PM", datetime(2026, 11, 20, 12, 5)),
        ("21/11/2026 09:14", datetime(2026, 11, 21, 9, 14)),
        ("03/02/2026 09:14", datetime(2026, 2, 3, 9, 14)),
        ("21.11.2026 09:14", datetime(2026, 11, 21, 9, 14)),
        ("21-11-2026 09:14", datetime(2026, 11, 21, 9, 14)),
        ("2026-11-21 09:14", datetime(2026, 11, 21, 9, 14)),
        ("2026/11/21 9:14", datetime(2026, 11, 21, 9, 14)),
        ("2026-11-21 오후 9:14", datetime(2026, 11, 21, 21, 14)),
        ("3/02/2026 7:36 PM", datetime(2026, 2, 3, 19, 36)),
        ("3/5/2026 7:36 PM", datetime(2026, 3, 5, 19, 36)),
        ("3/5/2026 19:36", datetime(2026, 5, 3, 19, 36)),
        ("21/11/26 09:14", datetime(2026, 11, 21, 9, 14)),
        # read the US way this would be 11 December, which has not come yet
        ("12/11/2026 9:00 AM", datetime(2026, 11, 12, 9, 0)),
        ("yesterday 9:14", None),
        ("21.11.2026", None),
        ("31.02.2026 09:14", None),
    ],
)
def test_logon_times_in_the_date_formats_windows_prints(
    text: str, expected: datetime | None
) -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    wanted = expected.replace(tzinfo=UTC) if expected else None
    assert _windows.parse_logon_time(text, now, UTC) == wanted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (".", timedelta(0)),
        ("5", timedelta(minutes=5)),
        ("1:05", timedelta(hours=1, minutes=5)),
        ("2+03:10", timedelta(days=2, hours=3, minutes=10)),
        ("none", None),
        ("Kein", None),
    ],
)
def test_quser_idle_times(text: str, expected: timedelta | None) -> None:
    assert _windows.parse_idle(text) == expected


# Windows: the Remote Desktop Services API, and quser only when it does not answer.

WIN_NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def ticks(when: datetime) -> int:
    """A FILETIME: 100 ns ticks since 1601 (UTC)."""
    return (when - datetime(1601, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10


def record(**changes: object) -> _windows.WtsRecord:
    base: dict[str, object] = {
        "session_id": 1,
        "state": 0,
        "flags": _windows.WTS_SESSIONSTATE_UNLOCK,
        "station": "Console",
        "user": "maria",
        "domain": "DESKTOP-4F2K",
        "logon_time": ticks(datetime(2026, 11, 19, 13, 2, tzinfo=UTC)),
        "disconnect_time": 0,
        "last_input_time": 0,
        "current_time": ticks(WIN_NOW),
        "protocol": 0,
        "client_name": "",
    }
    base.update(changes)
    return _windows.WtsRecord(**base)  # type: ignore[arg-type]


def test_api_sessions_say_where_an_rdp_login_comes_from_and_how_long_it_is_idle() -> None:
    records = [
        record(session_id=0, station="Services", user=""),
        record(),
        record(
            session_id=2,
            station="RDP-Tcp#6",
            user="administrator",
            protocol=2,
            client_name="LAPTOP-7Q",
            logon_time=ticks(datetime(2026, 11, 21, 14, 14, tzinfo=UTC)),
            last_input_time=ticks(WIN_NOW - timedelta(minutes=12)),
        ),
        record(
            session_id=3,
            state=_windows.WTS_DISCONNECTED,
            station="",
            user="luke",
            protocol=2,
            client_name="",
            disconnect_time=ticks(WIN_NOW - timedelta(hours=1, minutes=5)),
        ),
        record(session_id=65536, station="RDP-Tcp", user="", state=6),
    ]
    quser_must_not_run = Recorder({})
    found = _windows.read_sessions(WIN_NOW, lambda: records, quser_must_not_run)
    assert [row(s) for s in found] == [
        ("maria", "console", "", datetime(2026, 11, 19, 13, 2, tzinfo=UTC), None, None),
        (
            "administrator",
            "rdp-tcp#6",
            "LAPTOP-7Q",
            datetime(2026, 11, 21, 14, 14, tzinfo=UTC),
            None,
            timedelta(minutes=12),
        ),
        (
            "luke",
            "session 3 (disconnected)",
            "unknown client",
            datetime(2026, 11, 19, 13, 2, tzinfo=UTC),
            None,
            timedelta(hours=1, minutes=5),
        ),
    ]
    assert quser_must_not_run.calls == []


def test_without_the_api_quser_answers() -> None:
    def no_api() -> list[_windows.WtsRecord]:
        raise OSError(1722, "The RPC server is unavailable")

    run = Recorder({QUSER: ok("quser-rdp-and-disconnected.txt")})
    found = _windows.read_sessions(WIN_NOW, no_api, run, NEW_YORK)
    assert [s.user for s in found] == ["administrator", "luke", "maria"]
    assert run.calls == [QUSER]


def utf16(text: str, size: int) -> ctypes.Array[ctypes.c_uint16]:
    units = (ctypes.c_uint16 * size)()
    for i, unit in enumerate(text.encode("utf-16-le")[::2]):
        units[i] = unit
    return units


def test_the_api_buffers_are_read_field_by_field() -> None:
    info = _windows.WtsInfoEx()
    info.Level = 1
    info.Data.SessionId = 2
    info.Data.SessionState = 0
    info.Data.SessionFlags = _windows.WTS_SESSIONSTATE_LOCK
    info.Data.WinStationName = utf16("RDP-Tcp#6", 33)
    info.Data.UserName = utf16("administrator", 21)
    info.Data.DomainName = utf16("WORKGROUP", 18)
    info.Data.LogonTime = ticks(datetime(2026, 11, 21, 14, 14, tzinfo=UTC))
    info.Data.LastInputTime = ticks(WIN_NOW - timedelta(minutes=12))
    info.Data.CurrentTime = ticks(WIN_NOW)
    got = _windows.record_from_wts(bytes(info), b"\x02\x00", "LAPTOP-7Q\0".encode("utf-16-le"))
    assert got is not None
    assert (got.session_id, got.station, got.user, got.domain, got.flags) == (
        2,
        "RDP-Tcp#6",
        "administrator",
        "WORKGROUP",
        _windows.WTS_SESSIONSTATE_LOCK,
    )
    assert (got.protocol, got.client_name) == (2, "LAPTOP-7Q")
    session = _windows.session_from_wts(got, WIN_NOW)
    assert session is not None
    assert (session.terminal, session.host, session.idle) == (
        "rdp-tcp#6",
        "LAPTOP-7Q",
        timedelta(minutes=12),
    )

    info.Level = 2
    assert _windows.record_from_wts(bytes(info), None, None) is None
    assert _windows.record_from_wts(b"\x01\x00\x00\x00", None, None) is None


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (
            _windows.InputFacts(
                1, 90_000_000, 90_000_000 - 125_000, _windows.WTS_SESSIONSTATE_UNLOCK
            ),
            DesktopIdle(timedelta(seconds=125), False, "GetLastInputInfo"),
        ),
        (
            _windows.InputFacts(1, 90_000_000, 89_990_000, _windows.WTS_SESSIONSTATE_LOCK),
            DesktopIdle(timedelta(seconds=10), True, "GetLastInputInfo"),
        ),
        # up for more than 49.7 days: the 32-bit last-input tick has wrapped, the 64-bit one not
        (
            _windows.InputFacts(2, 2**32 + 5_000, 1_000, -1),
            DesktopIdle(timedelta(seconds=4), None, "GetLastInputInfo"),
        ),
        # the last input came just before the 32-bit count wrapped
        (
            _windows.InputFacts(2, 2**32 + 5_000, 2**32 - 1_000, -1),
            DesktopIdle(timedelta(seconds=6), None, "GetLastInputInfo"),
        ),
        (
            _windows.InputFacts(3, 90_000_000, 89_000_000, None),
            DesktopIdle(timedelta(seconds=1000), None, "GetLastInputInfo"),
        ),
        # a service in session 0 has no desktop
        (_windows.InputFacts(0, 90_000_000, 89_000_000, 1), None),
    ],
)
def test_the_windows_desktop_idle_and_lock(
    facts: _windows.InputFacts, expected: DesktopIdle | None
) -> None:
    assert _windows.desktop_idle_from(facts) == expected


def test_the_windows_probe_imports_here_and_says_windows_is_not_here() -> None:
    with pytest.raises(ProbeUnavailable, match=r"quser\.exe is not on this computer"):
        _windows.sessions(WIN_NOW)
    with pytest.raises(ProbeUnavailable, match="exists only on Windows"):
        _windows.desktop_idle({})
